// Switchyard OpenCL backend: broadcasting binary ops, reductions and softmax (OpenCL C 1.2, f32). Shapes arrive at run time in a
// small `meta` buffer of longs; each work item computes one output element.

// Offset of flat output index i in a tensor with the given strides (0 on a
// broadcast dim), for output dims `dims`.
inline long sy_offset(long i, int rank, __global const long* dims, __global const long* strides) {
  long off = 0;
  for (int d = rank - 1; d >= 0; --d) {
    const long n = dims[d];
    const long c = i % n;
    i /= n;
    off += c * strides[d];
  }
  return off;
}

inline float sy_max(float a, float b) { return (isnan(a) || isnan(b)) ? NAN : fmax(a, b); }
inline float sy_min(float a, float b) { return (isnan(a) || isnan(b)) ? NAN : fmin(a, b); }

// op: 0 add, 1 sub, 2 mul, 3 div, 4 pow, 5 maximum, 6 minimum.
// meta: dims[rank], a_strides[rank], b_strides[rank].
__kernel void sy_binary(__global const float* a, __global const float* b, __global float* y,
                        __global const long* meta, int rank, int op, long n) {
  const long i = get_global_id(0);
  if (i >= n) return;
  const float x = a[sy_offset(i, rank, meta, meta + rank)];
  const float z = b[sy_offset(i, rank, meta, meta + 2 * rank)];
  float r;
  switch (op) {
    case 0: r = x + z; break;
    case 1: r = x - z; break;
    case 2: r = x * z; break;
    case 3: r = x / z; break;
    case 4: r = pow(x, z); break;
    case 5: r = sy_max(x, z); break;
    default: r = sy_min(x, z); break;
  }
  y[i] = r;
}

// One work item per output element (in the keepdims shape). meta:
// out_dims[rank] (reduced dims are 1), in_strides[rank], red_dims[rank]
// (the reduced dims' sizes, 1 elsewhere). op: 0 sum, 1 mean, 2 max, 3 min, 4 prod.
__kernel void sy_reduce(__global const float* x, __global float* y, __global const long* meta, int rank, int op,
                        long n, long count) {
  const long i = get_global_id(0);
  if (i >= n) return;
  __global const long* strides = meta + rank;
  __global const long* red = meta + 2 * rank;
  const long base = sy_offset(i, rank, meta, strides);
  float acc = op == 2 ? -INFINITY : op == 3 ? INFINITY : op == 4 ? 1.0f : 0.0f;
  for (long r = 0; r < count; ++r) {
    const float v = x[base + sy_offset(r, rank, red, strides)];
    if (op <= 1) acc += v;
    else if (op == 2) acc = sy_max(acc, v);
    else if (op == 3) acc = sy_min(acc, v);
    else acc *= v;
  }
  if (op == 1) acc = count > 0 ? acc / (float)count : NAN;
  y[i] = acc;
}

// softmax / log_softmax over the middle dim of [outer, len, inner]; one work
// item per (outer, inner) pair. log: 1 for log_softmax.
__kernel void sy_softmax(__global const float* x, __global float* y, long len, long inner, long n, int log_) {
  const long i = get_global_id(0);
  if (i >= n) return;
  const long o = i / inner, in = i % inner;
  const long base = o * len * inner + in;
  float m = -INFINITY;
  for (long k = 0; k < len; ++k) m = fmax(m, x[base + k * inner]);
  float s = 0.0f;
  for (long k = 0; k < len; ++k) s += exp(x[base + k * inner] - m);
  if (log_) {
    const float ls = log(s);
    for (long k = 0; k < len; ++k) y[base + k * inner] = x[base + k * inner] - m - ls;
  } else {
    for (long k = 0; k < len; ++k) y[base + k * inner] = exp(x[base + k * inner] - m) / s;
  }
}
