// Shared declarations of the Switchyard Vulkan compute shaders.
//
// Every pipeline uses one descriptor set layout: bindings 0..11 are data
// "slots" (storage buffers viewed as 32-bit words), binding 12 is the step's
// metadata (shapes, strides, programs; 32-bit words), plus 16 bytes of push
// constants. Unused slots are bound to a small dummy buffer. f32 values are
// read with uintBitsToFloat; bool/i8 values are bytes inside the words.
#extension GL_GOOGLE_include_directive : enable

#define SLOT(n) layout(std430, set = 0, binding = n) buffer Slot##n { uint w[]; } s##n;
SLOT(0) SLOT(1) SLOT(2) SLOT(3) SLOT(4) SLOT(5) SLOT(6) SLOT(7) SLOT(8) SLOT(9) SLOT(10) SLOT(11)
layout(std430, set = 0, binding = 12) readonly buffer Meta { uint m[]; } meta;

layout(push_constant) uniform Push {
  uint n;      // invocations that do work (the rest return)
  uint a;      // shader-specific
  uint b;
  uint c;
} pc;

uint ldw(uint slot, uint i) {
  switch (slot) {
    case 0: return s0.w[i];
    case 1: return s1.w[i];
    case 2: return s2.w[i];
    case 3: return s3.w[i];
    case 4: return s4.w[i];
    case 5: return s5.w[i];
    case 6: return s6.w[i];
    case 7: return s7.w[i];
    case 8: return s8.w[i];
    case 9: return s9.w[i];
    case 10: return s10.w[i];
    default: return s11.w[i];
  }
}

void stw(uint slot, uint i, uint v) {
  switch (slot) {
    case 0: s0.w[i] = v; break;
    case 1: s1.w[i] = v; break;
    case 2: s2.w[i] = v; break;
    case 3: s3.w[i] = v; break;
    case 4: s4.w[i] = v; break;
    case 5: s5.w[i] = v; break;
    case 6: s6.w[i] = v; break;
    case 7: s7.w[i] = v; break;
    case 8: s8.w[i] = v; break;
    case 9: s9.w[i] = v; break;
    case 10: s10.w[i] = v; break;
    default: s11.w[i] = v; break;
  }
}

float ldf(uint slot, uint i) { return uintBitsToFloat(ldw(slot, i)); }
void stf(uint slot, uint i, float v) { stw(slot, i, floatBitsToUint(v)); }
/// Byte i of a slot (bool / i8 data).
uint ldb(uint slot, uint i) { return (ldw(slot, i >> 2) >> ((i & 3u) * 8u)) & 0xffu; }

int mi(uint i) { return int(meta.m[i]); }
uint mu(uint i) { return meta.m[i]; }
float mf(uint i) { return uintBitsToFloat(meta.m[i]); }

/// The flat invocation index over a 2-D dispatch grid (x * 65535-wide rows).
uint flatId() { return gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x; }
