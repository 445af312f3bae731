#version 450
// Direct 2-D convolution (1-D runs as H = 1): one invocation per output
// element of y [N, M, OH, OW]; groups, strides, pads, dilations, optional bias.
// slots: 0 x, 1 w, 2 bias, 3 y.
// meta: N, C, H, W, M, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw, group, has_bias.
#include "common.glsl"
layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;

void main() {
  const uint i = flatId();
  if (i >= pc.n) return;
  const uint C = mu(1), H = mu(2), W = mu(3), M = mu(4), OH = mu(5), OW = mu(6);
  const uint KH = mu(7), KW = mu(8);
  const int sh = mi(9), sw = mi(10), ph = mi(11), pw = mi(12), dh = mi(13), dw = mi(14);
  const uint G = mu(15);
  const uint ow = i % OW, oh = (i / OW) % OH, m = (i / (OW * OH)) % M, n = i / (OW * OH * M);
  const uint cg = C / G, mg = M / G, g = m / mg;
  float acc = mu(16) != 0u ? ldf(2u, m) : 0.0;
  for (uint c = 0u; c < cg; ++c) {
    const uint xc = (n * C + g * cg + c) * H;
    const uint wc = (m * cg + c) * KH;
    for (uint kh = 0u; kh < KH; ++kh) {
      const int y = int(oh) * sh - ph + int(kh) * dh;
      if (y < 0 || y >= int(H)) continue;
      for (uint kw = 0u; kw < KW; ++kw) {
        const int x = int(ow) * sw - pw + int(kw) * dw;
        if (x < 0 || x >= int(W)) continue;
        acc += ldf(0u, (xc + uint(y)) * W + uint(x)) * ldf(1u, (wc + kh) * KW + kw);
      }
    }
  }
  stf(3u, i, acc);
}
