// Switchyard OpenCL backend: data movement for every dtype (OpenCL C 1.2).
// Built once per element size with -DELEM=uchar|ushort|uint|ulong: these
// kernels only move bits, so one build serves every dtype of that size.
// Shapes arrive at run time in a small `meta` buffer of longs; each work item
// writes one output element.

// y[ybase + sum(c[d] * ys[d])] = x[xbase + sum(c[d] * xs[d])] for each
// coordinate c of `dims` (the i-th in row-major order). meta: dims[rank],
// xs[rank], ys[rank]. Transpose, slice (steps, negative ones too), expand
// (stride 0) and each input of a concat are this one kernel.
__kernel void sy_copy(__global const ELEM* x, __global ELEM* y, __global const long* meta, int rank, long n,
                      long xbase, long ybase) {
  const long i = get_global_id(0);
  if (i >= n) return;
  long r = i, xo = xbase, yo = ybase;
  for (int d = rank - 1; d >= 0; --d) {
    const long size = meta[d];
    const long c = r % size;
    r /= size;
    xo += c * meta[rank + d];
    yo += c * meta[2 * rank + d];
  }
  y[yo] = x[xo];
}

// gather along one axis: x is [outer, axis_len, inner], y is [outer, nidx,
// inner]. A negative index counts from the end; one out of range sets
// err[0] = 1 (the host turns it into an error after the run) and writes 0.
#define SY_GATHER(NAME, IT)                                                                          \
  __kernel void NAME(__global const ELEM* x, __global const IT* idx, __global ELEM* y, long nidx,     \
                     long axis_len, long inner, long n, __global int* err) {                          \
    const long i = get_global_id(0);                                                                  \
    if (i >= n) return;                                                                               \
    const long k = i % inner, j = (i / inner) % nidx, o = i / (inner * nidx);                         \
    long t = (long)idx[j];                                                                            \
    if (t < 0) t += axis_len;                                                                         \
    if (t < 0 || t >= axis_len) {                                                                     \
      err[0] = 1;                                                                                     \
      y[i] = (ELEM)0;                                                                                 \
      return;                                                                                         \
    }                                                                                                 \
    y[i] = x[(o * axis_len + t) * inner + k];                                                         \
  }
SY_GATHER(sy_gather_i32, int)
SY_GATHER(sy_gather_i64, long)

// pad: per dim d, meta holds out[d], kept[d] (size after cropping),
// crop[d] (elements cropped at the start), begin[d] (padding at the start),
// in_stride[d]. mode: 0 constant (value[0] when has_value, else 0),
// 1 reflect (pads are smaller than kept, so one bounce), 2 edge.
__kernel void sy_pad(__global const ELEM* x, __global ELEM* y, __global const long* meta, int rank, long n,
                     int mode, __global const ELEM* value, int has_value) {
  const long i = get_global_id(0);
  if (i >= n) return;
  long r = i, xo = 0;
  for (int d = rank - 1; d >= 0; --d) {
    const long out = meta[d], kept = meta[rank + d];
    const long c = r % out;
    r /= out;
    long p = c - meta[3 * rank + d];
    if (p < 0 || p >= kept) {
      if (mode == 0) {
        y[i] = has_value ? value[0] : (ELEM)0;
        return;
      }
      if (mode == 2) p = p < 0 ? 0 : kept - 1;
      else p = p < 0 ? -p : 2 * (kept - 1) - p;
    }
    xo += (meta[2 * rank + d] + p) * meta[4 * rank + d];
  }
  y[i] = x[xo];
}
