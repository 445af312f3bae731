#version 450
// The elementwise interpreter: runs a small register program (a fused chain
// of elementwise ops, built by the plugin at compile time) over every element
// of the output shape, in ONE pass over memory. Each invocation computes 4
// consecutive elements, so a bool output (bytes) is written as whole words.
//
// meta: rank R, leaves L, outputs O, instructions I, out dims[R], then
//   per leaf:   slot, dtype (0 f32, 1 byte), mode (0 dense, 1 scalar, 2 strided), strides[R]
//   per output: slot, dtype, register
//   per instr:  op, dst, a, b, c, imm0, imm1
// Leaves load into registers 0..L-1. pc.n = output elements.
#include "common.glsl"
layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;

#define MAX_REGS 32
#define MAX_RANK 8

float erf_(float x) {
  // Abramowitz & Stegun 7.1.26 is 1.5e-7 absolute; use the more accurate
  // erfc-based rational form (W. J. Cody style) via exp, |error| < 1.2e-7.
  float ax = abs(x);
  float t = 1.0 / (1.0 + 0.5 * ax);
  float y = t * exp(-ax * ax - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
            t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
            t * (-0.82215223 + t * 0.17087277)))))))));
  float r = 1.0 - y;
  if (ax < 0.5) {
    // Near zero the series is more accurate: erf x = 2/sqrt(pi) (x - x^3/3 + x^5/10 - x^7/42 + x^9/216)
    float x2 = ax * ax;
    r = 1.1283791670955126 * ax * (1.0 - x2 * (1.0 / 3.0 - x2 * (0.1 - x2 * (1.0 / 42.0 - x2 * (1.0 / 216.0 - x2 / 1320.0)))));
  }
  return x < 0.0 ? -r : r;
}

float tanh_(float x) {
  if (isnan(x)) return x;
  if (abs(x) > 15.0) return sign(x);
  if (abs(x) < 0.55) {
    float e = exp(2.0 * x);  // fine near 0 via expm1-free form below
    float x2 = x * x;
    // odd Taylor/Pade: tanh x = x (1 + x2/15*...) ; use the rational 7/6 Pade.
    return x * (135135.0 + x2 * (17325.0 + x2 * (378.0 + x2))) / (135135.0 + x2 * (62370.0 + x2 * (3150.0 + 28.0 * x2)));
  }
  float e = exp(-2.0 * abs(x));
  float r = (1.0 - e) / (1.0 + e);
  return x < 0.0 ? -r : r;
}

float sigmoid_(float x) {
  if (x >= 0.0) return 1.0 / (1.0 + exp(-x));
  float e = exp(x);
  return e / (1.0 + e);
}

float pow_(float a, float b) {
  if (b == 0.0) return 1.0;
  if (isnan(a) || isnan(b)) return a + b;
  if (a == 1.0) return 1.0;
  if (a == 0.0) return b > 0.0 ? 0.0 : (b < 0.0 ? (fract(b * 0.5) == 0.5 ? 1.0 / a : uintBitsToFloat(0x7f800000u)) : 1.0);
  if (isinf(b)) {
    float aa = abs(a);
    if (aa == 1.0) return 1.0;
    return (aa > 1.0) == (b > 0.0) ? uintBitsToFloat(0x7f800000u) : 0.0;
  }
  if (isinf(a)) {
    // IEEE pow(+-inf, b): inf for b > 0, 0 for b < 0; negative only for an odd integer b.
    const bool oddInteger = floor(b) == b && abs(mod(b, 2.0)) == 1.0;
    const float mag = b > 0.0 ? uintBitsToFloat(0x7f800000u) : 0.0;
    return a < 0.0 && oddInteger ? -mag : mag;
  }
  float mag = exp2(b * log2(abs(a)));
  if (a < 0.0) {
    if (floor(b) != b) return uintBitsToFloat(0x7fc00000u);
    bool odd = abs(mod(b, 2.0)) == 1.0;
    return odd ? -mag : mag;
  }
  return mag;
}

float nan_() { return uintBitsToFloat(0x7fc00000u); }

void main() {
  const uint g = flatId();
  const uint n = pc.n;
  if (g * 4u >= n) return;
  const uint R = mu(0), L = mu(1), O = mu(2), I = mu(3);
  const uint leafBase = 4u + R;
  const uint leafSize = 3u + R;
  const uint outBase = leafBase + L * leafSize;
  const uint insBase = outBase + 3u * O;
  uint packed[4];  // per output: bool bytes of this word
  for (uint o = 0u; o < O && o < 4u; ++o) packed[o] = 0u;
  float r[MAX_REGS];
  for (uint e = 0u; e < 4u; ++e) {
    const uint idx = g * 4u + e;
    if (idx >= n) break;
    uint coord[MAX_RANK];
    uint rem = idx;
    for (int d = int(R) - 1; d >= 0; --d) {
      const uint dim = mu(4u + uint(d));
      coord[d] = rem % dim;
      rem /= dim;
    }
    for (uint l = 0u; l < L; ++l) {
      const uint base = leafBase + l * leafSize;
      const uint slot = mu(base), dtype = mu(base + 1u), mode = mu(base + 2u);
      uint off = idx;
      if (mode == 1u) {
        off = 0u;
      } else if (mode == 2u) {
        off = 0u;
        for (uint d = 0u; d < R; ++d) off += coord[d] * mu(base + 3u + d);
      }
      r[l] = dtype == 0u ? ldf(slot, off) : (ldb(slot, off) != 0u ? 1.0 : 0.0);
    }
    for (uint k = 0u; k < I; ++k) {
      const uint p = insBase + k * 7u;
      const uint op = mu(p);
      const float a = r[mu(p + 2u)], b = r[mu(p + 3u)], c = r[mu(p + 4u)];
      const float i0 = mf(p + 5u), i1 = mf(p + 6u);
      float v;
      switch (op) {
        case 0u: v = -a; break;                                   // neg
        case 1u: v = abs(a); break;                               // abs
        case 2u: v = exp(a); break;                               // exp
        case 3u: v = a < 0.0 ? nan_() : (a == 0.0 ? -uintBitsToFloat(0x7f800000u) : log(a)); break;  // log
        case 4u: v = a < 0.0 ? nan_() : sqrt(a); break;           // sqrt
        case 5u: v = a < 0.0 ? nan_() : 1.0 / sqrt(a); break;     // rsqrt
        case 6u: v = 1.0 / a; break;                              // reciprocal
        case 7u: v = sin(a); break;
        case 8u: v = cos(a); break;
        case 9u: v = tanh_(a); break;
        case 10u: v = sigmoid_(a); break;
        case 11u: v = a < 0.0 ? 0.0 : a; break;                   // relu (NaN propagates)
        case 12u: v = a >= 0.0 ? a : i0 * a; break;               // leaky_relu
        // gelu(-inf) is -0 (the limit, as the reference has it), not -inf * 0 = NaN.
        case 13u: v = isinf(a) && a < 0.0 ? -0.0 : 0.5 * a * (1.0 + erf_(a * 0.7071067811865476)); break;  // gelu
        case 14u:
          v = isinf(a) && a < 0.0 ? -0.0 : 0.5 * a * (1.0 + tanh_(0.7978845608028654 * (a + 0.044715 * a * a * a)));
          break;
        case 15u: v = erf_(a); break;
        case 16u: v = isinf(a) && a < 0.0 ? -0.0 : a * sigmoid_(a); break;  // silu
        case 17u: v = floor(a); break;
        case 18u: v = ceil(a); break;
        case 19u: v = roundEven(a); break;
        case 20u: v = isnan(a) ? a : sign(a); break;
        case 21u: v = isnan(a) ? a : min(max(a, i0), i1); break;  // clip
        case 22u: v = a + i0; break;                              // add immediate
        case 23u: v = a * i0; break;                              // mul immediate
        case 32u: v = a + b; break;
        case 33u: v = a - b; break;
        case 34u: v = a * b; break;
        case 35u: v = a / b; break;
        case 36u: v = pow_(a, b); break;
        case 37u: v = isnan(a) || isnan(b) ? nan_() : max(a, b); break;
        case 38u: v = isnan(a) || isnan(b) ? nan_() : min(a, b); break;
        case 40u: v = a == b ? 1.0 : 0.0; break;
        case 41u: v = a > b ? 1.0 : 0.0; break;
        case 42u: v = a >= b ? 1.0 : 0.0; break;
        case 43u: v = a < b ? 1.0 : 0.0; break;
        case 44u: v = a <= b ? 1.0 : 0.0; break;
        case 48u: v = a != 0.0 ? 0.0 : 1.0; break;                // logical_not
        case 49u: v = (a != 0.0 && b != 0.0) ? 1.0 : 0.0; break;
        case 50u: v = (a != 0.0 || b != 0.0) ? 1.0 : 0.0; break;
        case 51u: v = ((a != 0.0) != (b != 0.0)) ? 1.0 : 0.0; break;
        case 52u: v = (a != 0.0 || isnan(a)) ? 1.0 : 0.0; break;  // cast to bool
        case 56u: v = a != 0.0 ? b : c; break;                    // where
        default: v = a; break;                                    // copy / cast to f32
      }
      r[mu(p + 1u)] = v;
    }
    for (uint o = 0u; o < O; ++o) {
      const uint base = outBase + o * 3u;
      const uint slot = mu(base), dtype = mu(base + 1u);
      const float v = r[mu(base + 2u)];
      if (dtype == 0u) {
        stf(slot, idx, v);
      } else if (o < 4u) {
        packed[o] |= (v != 0.0 ? 1u : 0u) << (8u * e);
      }
    }
  }
  for (uint o = 0u; o < O; ++o) {
    const uint base = outBase + o * 3u;
    if (mu(base + 1u) != 0u && o < 4u) stw(mu(base), g, packed[o]);
  }
}
