#version 450
// gather along one axis: data viewed as [outer, len, inner], indices flat
// [count] (i64 or i32; negative ones count from the end), y as [outer,
// count, inner]. An out-of-range index (an i64 one beyond 32 bits included)
// writes zeros, never reads outside the data, and sets the error word (slot
// 3) that the plugin checks after the run.
// slots: 0 data, 1 indices, 2 y, 3 error word. pc.a = words per element, pc.b = 1 when the indices are i64.
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
  // An i64 index fits in 32 bits when its high word is the sign of the low one.
  bool fits = pc.b == 0u || ldw(1u, 2u * j + 1u) == (idx < 0 ? 0xffffffffu : 0u);
  if (idx < 0) idx += int(len);
  const uint words = pc.a;
  const bool ok = fits && idx >= 0 && idx < int(len);
  if (!ok) stw(3u, 0u, 1u);
  const uint src = (o * len + uint(idx)) * inner + in_;
  for (uint k = 0u; k < words; ++k) stw(2u, i * words + k, ok ? ldw(0u, src * words + k) : 0u);
}
