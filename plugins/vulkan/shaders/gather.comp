#version 450
// gather along one axis: data viewed as [outer, len, inner], indices flat
// [count] (i64 or i32; negative ones count from the end; out-of-range ones
// give zeros, the plugin checks them where it can), y as [outer, count, inner].
// slots: 0 data, 1 indices, 2 y. pc.a = words per element, pc.b = 1 when the indices are i64.
// meta: outer, len, inner, count.
#include "common.glsl"
layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;

void main() {
  const uint i = flatId();
  if (i >= pc.n) return;
  const uint len = mu(1), inner = mu(2), count = mu(3);
  const uint in_ = i % inner, j = (i / inner) % count, o = i / (inner * count);
  // i64 indices: the low word, sign-extended from the high word's sign (indices fit in 32 bits).
  int idx = pc.b != 0u ? int(ldw(1u, 2u * j)) : int(ldw(1u, j));
  if (idx < 0) idx += int(len);
  const uint words = pc.a;
  const bool ok = idx >= 0 && idx < int(len);
  const uint src = (o * len + uint(idx)) * inner + in_;
  for (uint k = 0u; k < words; ++k) stw(2u, i * words + k, ok ? ldw(0u, src * words + k) : 0u);
}
