// Switchyard OpenCL backend: tiled f32 matrix multiply (matmul and gemm).
// Built with -DTILE=<edge>; work groups are TILE x TILE, one per output tile,
// dim 2 is the batch. Element (m, k) of a is at a[aoff + m*sam + k*sak], so a
// transposed operand (gemm transA/transB) is just other strides. `offs`
// holds each batch's (a, b) element offsets (batch dims broadcast). The
// epilogue is y = alpha * acc + beta * c[m*scm + n*scn] when has_c.
__kernel void sy_matmul(__global const float* a, __global const float* b, __global float* y,
                        __global const float* c, __global const long* offs, int M, int N, int K,
                        long sam, long sak, long sbk, long sbn, float alpha, float beta, long scm, long scn,
                        int has_c) {
  __local float ta[TILE][TILE + 1];
  __local float tb[TILE][TILE + 1];
  const int col = get_global_id(0), row = get_global_id(1), batch = get_global_id(2);
  const int lc = get_local_id(0), lr = get_local_id(1);
  const long aoff = offs[2 * batch], boff = offs[2 * batch + 1];
  float acc = 0.0f;
  for (int k0 = 0; k0 < K; k0 += TILE) {
    const int ka = k0 + lc, kb = k0 + lr;
    ta[lr][lc] = (row < M && ka < K) ? a[aoff + row * sam + ka * sak] : 0.0f;
    tb[lr][lc] = (kb < K && col < N) ? b[boff + kb * sbk + col * sbn] : 0.0f;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int k = 0; k < TILE; ++k) acc += ta[lr][k] * tb[k][lc];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (row < M && col < N) {
    float r = alpha * acc;
    if (has_c) r += beta * c[row * scm + col * scn];
    y[(long)batch * M * N + (long)row * N + col] = r;
  }
}
