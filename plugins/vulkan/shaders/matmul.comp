#version 450
// Tiled f32 matrix multiply for matmul and gemm. Work groups are TILE x TILE
// (specialization constants, chosen per device), one per output tile; z is
// the batch. Both operand tiles go through shared memory. Element (m, k) of a
// is a[aoff + m*sam + k*sak], so transposed operands are just other strides.
// Epilogue: y = alpha * acc + beta * c[m*scm + n*scn] when has_c.
//
// slots: 0 a, 1 b, 2 c, 3 y.
// meta: M, N, K, BR, sam, sak, sbk, sbn, has_c, scm, scn, alpha, beta,
//       batch dims[BR], a batch strides[BR], b batch strides[BR].
#include "common.glsl"
layout(constant_id = 0) const uint TILE = 16;
layout(constant_id = 1) const uint TILE_Y = 16;
layout(local_size_x_id = 0, local_size_y_id = 1) in;

shared float ta[TILE_Y][TILE + 1];
shared float tb[TILE_Y][TILE + 1];

void main() {
  const uint M = mu(0), N = mu(1), K = mu(2), BR = mu(3);
  const uint sam = mu(4), sak = mu(5), sbk = mu(6), sbn = mu(7);
  const bool hasC = mu(8) != 0u;
  const uint scm = mu(9), scn = mu(10);
  const float alpha = mf(11), beta = mf(12);
  const uint col = gl_GlobalInvocationID.x, row = gl_GlobalInvocationID.y, batch = gl_WorkGroupID.z;
  const uint lc = gl_LocalInvocationID.x, lr = gl_LocalInvocationID.y;
  uint aoff = 0u, boff = 0u, rem = batch;
  for (int d = int(BR) - 1; d >= 0; --d) {
    const uint dim = mu(13u + uint(d));
    const uint c = rem % dim;
    rem /= dim;
    aoff += c * mu(13u + BR + uint(d));
    boff += c * mu(13u + 2u * BR + uint(d));
  }
  float acc = 0.0;
  for (uint k0 = 0u; k0 < K; k0 += TILE) {
    // TILE == TILE_Y (the plugin sets both): thread (lr, lc) loads one element of each tile.
    const uint ka = k0 + lc, kb = k0 + lr;
    ta[lr][lc] = (row < M && ka < K) ? ldf(0u, aoff + row * sam + ka * sak) : 0.0;
    tb[lr][lc] = (kb < K && col < N) ? ldf(1u, boff + kb * sbk + col * sbn) : 0.0;
    barrier();
    for (uint k = 0u; k < TILE; ++k) acc += ta[lr][k] * tb[k][lc];
    barrier();
  }
  if (row < M && col < N) {
    float r = alpha * acc;
    if (hasC) r += beta * ldf(2u, row * scm + col * scn);
    stf(3u, batch * M * N + row * N + col, r);
  }
}
