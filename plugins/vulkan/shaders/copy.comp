#version 450
// Strided copy of 4- or 8-byte elements (transpose, slice, expand, concat):
// for each coordinate c of the iteration shape,
//   dst[dst_base + sum c_d * dst_stride_d] = src[src_base + sum c_d * src_stride_d].
// Offsets and strides are in elements; pc.a = words per element (1 or 2).
// slots: 0 src, 1 dst. meta: rank R, src_base, dst_base, dims[R], src strides[R], dst strides[R].
#include "common.glsl"
layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;

void main() {
  const uint i = flatId();
  if (i >= pc.n) return;
  const uint R = mu(0);
  int src = mi(1), dst = mi(2);
  uint rem = i;
  for (int d = int(R) - 1; d >= 0; --d) {
    const uint dim = mu(3u + uint(d));
    const int c = int(rem % dim);
    rem /= dim;
    src += c * mi(3u + R + uint(d));
    dst += c * mi(3u + 2u * R + uint(d));
  }
  const uint words = pc.a;
  for (uint k = 0u; k < words; ++k) stw(1u, uint(dst) * words + k, ldw(0u, uint(src) * words + k));
}
