#version 450
// Reductions (sum, mean, max, min, prod) over any set of axes, and the global
// pools: one invocation per output element (in the keepdims shape).
// slots: 0 x, 1 y. pc.a = op (0 sum, 1 mean, 2 max, 3 min, 4 prod), pc.b = reduced count.
// meta: rank R, out dims[R] (1 on reduced dims), in strides[R], reduced dims[R] (1 elsewhere).
#include "common.glsl"
layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;

void main() {
  const uint i = flatId();
  if (i >= pc.n) return;
  const uint R = mu(0), op = pc.a, count = pc.b;
  uint base = 0u, rem = i;
  for (int d = int(R) - 1; d >= 0; --d) {
    const uint dim = mu(1u + uint(d));
    base += (rem % dim) * mu(1u + R + uint(d));
    rem /= dim;
  }
  float acc = op == 2u ? -uintBitsToFloat(0x7f800000u) : op == 3u ? uintBitsToFloat(0x7f800000u) : op == 4u ? 1.0 : 0.0;
  bool nan = false;
  for (uint r = 0u; r < count; ++r) {
    uint off = base, q = r;
    for (int d = int(R) - 1; d >= 0; --d) {
      const uint dim = mu(1u + 2u * R + uint(d));
      off += (q % dim) * mu(1u + R + uint(d));
      q /= dim;
    }
    const float v = ldf(0u, off);
    if (op <= 1u) acc += v;
    else if (op == 4u) acc *= v;
    else {
      if (isnan(v)) nan = true;
      acc = op == 2u ? max(acc, v) : min(acc, v);
    }
  }
  if (nan) acc = uintBitsToFloat(0x7fc00000u);
  if (op == 1u) acc = count > 0u ? acc / float(count) : uintBitsToFloat(0x7fc00000u);
  stf(1u, i, acc);
}
