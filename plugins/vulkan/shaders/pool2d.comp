#version 450
// 2-D max / average pooling (1-D runs as H = 1): one invocation per output
// element of y [N, C, OH, OW]. Padded positions never win the max; the
// average divides by the valid elements, or (count_include_pad) by the window
// clipped to the padded input.
// slots: 0 x, 1 y.
// meta: NC, H, W, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw, is_max, count_include_pad, ph_end, pw_end.
#include "common.glsl"
layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;

void main() {
  const uint i = flatId();
  if (i >= pc.n) return;
  const uint H = mu(1), W = mu(2), OH = mu(3), OW = mu(4), KH = mu(5), KW = mu(6);
  const int sh = mi(7), sw = mi(8), ph = mi(9), pw = mi(10), dh = mi(11), dw = mi(12);
  const bool isMax = mu(13) != 0u, includePad = mu(14) != 0u;
  const int phEnd = mi(15), pwEnd = mi(16);
  const uint ow = i % OW, oh = (i / OW) % OH, nc = i / (OW * OH);
  float acc = isMax ? -uintBitsToFloat(0x7f800000u) : 0.0;
  bool nan = false;
  uint count = 0u, padded = 0u;
  for (uint kh = 0u; kh < KH; ++kh) {
    const int y = int(oh) * sh - ph + int(kh) * dh;
    for (uint kw = 0u; kw < KW; ++kw) {
      const int x = int(ow) * sw - pw + int(kw) * dw;
      if (y >= -ph && y < int(H) + phEnd && x >= -pw && x < int(W) + pwEnd) ++padded;
      if (y < 0 || y >= int(H) || x < 0 || x >= int(W)) continue;
      const float v = ldf(0u, (nc * H + uint(y)) * W + uint(x));
      ++count;
      if (isMax) {
        if (isnan(v)) nan = true;
        acc = max(acc, v);
      } else {
        acc += v;
      }
    }
  }
  float r;
  if (isMax) r = nan ? uintBitsToFloat(0x7fc00000u) : acc;
  else r = acc / float(includePad ? padded : count);
  stf(1u, i, r);
}
