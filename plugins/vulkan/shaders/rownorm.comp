#version 450
// Row-wise ops, one work group per row (WG threads, a specialization
// constant chosen per device), partial results combined in shared memory:
// softmax, log_softmax (mode 0, 1) and layer_norm (mode 2). A row is the
// `len` elements base + k*inner of x viewed as [outer, len, inner]; row id
// r = o*inner + i. layer_norm has inner = 1 and scale/bias indexed k % count.
// slots: 0 x, 1 y, 2 scale, 3 bias.
// meta: mode, len, inner, rows, scale_count, has_bias, bias_count, epsilon.
#include "common.glsl"
layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;

shared float red[WG];

float reduceSum(float v) {
  red[gl_LocalInvocationID.x] = v;
  barrier();
  for (uint s = WG / 2u; s > 0u; s >>= 1u) {
    if (gl_LocalInvocationID.x < s) red[gl_LocalInvocationID.x] += red[gl_LocalInvocationID.x + s];
    barrier();
  }
  const float r = red[0];
  barrier();
  return r;
}

float reduceMax(float v) {
  red[gl_LocalInvocationID.x] = v;
  barrier();
  for (uint s = WG / 2u; s > 0u; s >>= 1u) {
    if (gl_LocalInvocationID.x < s) {
      const float a = red[gl_LocalInvocationID.x], b = red[gl_LocalInvocationID.x + s];
      red[gl_LocalInvocationID.x] = (isnan(a) || isnan(b)) ? uintBitsToFloat(0x7fc00000u) : max(a, b);
    }
    barrier();
  }
  const float r = red[0];
  barrier();
  return r;
}

void main() {
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  const uint mode = mu(0), len = mu(1), inner = mu(2), rows = mu(3);
  if (row >= rows) return;  // uniform per work group
  const uint t = gl_LocalInvocationID.x;
  const uint base = (row / inner) * len * inner + row % inner;
  if (mode <= 1u) {
    float m = -uintBitsToFloat(0x7f800000u);
    for (uint k = t; k < len; k += WG) {
      const float v = ldf(0u, base + k * inner);
      m = (isnan(m) || isnan(v)) ? uintBitsToFloat(0x7fc00000u) : max(m, v);
    }
    m = reduceMax(m);
    float s = 0.0;
    for (uint k = t; k < len; k += WG) s += exp(ldf(0u, base + k * inner) - m);
    s = reduceSum(s);
    const float ls = log(s);
    for (uint k = t; k < len; k += WG) {
      const float v = ldf(0u, base + k * inner) - m;
      stf(1u, base + k * inner, mode == 1u ? v - ls : exp(v) / s);
    }
  } else {
    const uint scaleCount = mu(4), biasCount = mu(6);
    const bool hasBias = mu(5) != 0u;
    const float eps = mf(7);
    float s = 0.0;
    for (uint k = t; k < len; k += WG) s += ldf(0u, base + k);
    const float mean = reduceSum(s) / float(len);
    float q = 0.0;
    for (uint k = t; k < len; k += WG) {
      const float d = ldf(0u, base + k) - mean;
      q += d * d;
    }
    const float inv = 1.0 / sqrt(reduceSum(q) / float(len) + eps);
    for (uint k = t; k < len; k += WG) {
      float v = (ldf(0u, base + k) - mean) * inv * ldf(2u, k % scaleCount);
      if (hasBias) v += ldf(3u, k % biasCount);
      stf(1u, base + k, v);
    }
  }
}
