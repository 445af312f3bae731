// Switchyard OpenCL backend: convolution, pooling and normalisation (OpenCL C
// 1.2, f32). Built with the per-device defines of Device::buildOptions():
// SY_WG (the work-group size of the row kernels, a power of two) and
// SY_VEC (elements per work item in the elementwise kernels).
//
// Window ops get per spatial dim d (r of them, at most SY_MAX_SPATIAL) in
// `meta`: in[d], out[d], kernel[d], stride[d], dilation[d], pad_begin[d],
// pad_end[d] (7 * r longs), computed on the host with the reference's
// output-size rules (auto_pad, ceil_mode).
#define SY_MAX_SPATIAL 4

// The taps t in [0, k) of a window starting at `start` (dilation dil) that
// land in [lo, hi]: [*first, *last], empty when *first > *last.
inline void sy_taps(long start, long dil, long k, long lo, long hi, long* first, long* last) {
  const long a = lo - start, b = hi - start;
  *first = a <= 0 ? 0 : (a + dil - 1) / dil;
  long l = b < 0 ? -1 : b / dil;
  *last = l < k - 1 ? l : k - 1;
}

// y [N, M, O...] = conv(x [N, C, I...], w [M, C / group, K...]) + b[m]; one
// work item per output element.
__kernel void sy_conv(__global const float* x, __global const float* w, __global const float* b,
                      __global float* y, __global const long* meta, int r, long C, long M, long group, int has_b,
                      long n) {
  const long i = get_global_id(0);
  if (i >= n) return;
  __global const long* in = meta;
  __global const long* out = meta + r;
  __global const long* ks = meta + 2 * r;
  __global const long* st = meta + 3 * r;
  __global const long* dl = meta + 4 * r;
  __global const long* pb = meta + 5 * r;
  long osz = 1, isz = 1, ksz = 1;
  for (int d = 0; d < r; ++d) {
    osz *= out[d];
    isz *= in[d];
    ksz *= ks[d];
  }
  const long m = (i / osz) % M, nb = i / (osz * M);
  long o = i % osz;
  long start[SY_MAX_SPATIAL], first[SY_MAX_SPATIAL], last[SY_MAX_SPATIAL], t[SY_MAX_SPATIAL];
  bool empty = false;
  for (int d = r - 1; d >= 0; --d) {
    const long oc = o % out[d];
    o /= out[d];
    start[d] = oc * st[d] - pb[d];
    sy_taps(start[d], dl[d], ks[d], 0, in[d] - 1, &first[d], &last[d]);
    if (first[d] > last[d]) empty = true;
  }
  float acc = has_b ? b[m] : 0.0f;
  if (!empty) {
    const long cg = C / group, mg = M / group, g = m / mg;
    for (long c = 0; c < cg; ++c) {
      __global const float* xc = x + (nb * C + g * cg + c) * isz;
      __global const float* wc = w + (m * cg + c) * ksz;
      for (int d = 0; d < r; ++d) t[d] = first[d];
      for (;;) {
        long xo = 0, wo = 0;
        for (int d = 0; d < r; ++d) {
          xo = xo * in[d] + start[d] + t[d] * dl[d];
          wo = wo * ks[d] + t[d];
        }
        acc += xc[xo] * wc[wo];
        int d = r - 1;
        while (d >= 0 && t[d] == last[d]) {
          t[d] = first[d];
          --d;
        }
        if (d < 0) break;
        ++t[d];
      }
    }
  }
  y[i] = acc;
}

// max_pool (is_max) / avg_pool over x [N, C, I...]; one work item per output
// element. avg divides by the taps inside the input, or with include_pad by
// the taps inside the padded input; a window with no input tap gives -inf
// (max), NaN (avg), or 0 (avg with include_pad and a padded tap). NaN
// propagates in max.
__kernel void sy_pool(__global const float* x, __global float* y, __global const long* meta, int r, int is_max,
                      int include_pad, long n) {
  const long i = get_global_id(0);
  if (i >= n) return;
  __global const long* in = meta;
  __global const long* out = meta + r;
  __global const long* ks = meta + 2 * r;
  __global const long* st = meta + 3 * r;
  __global const long* dl = meta + 4 * r;
  __global const long* pb = meta + 5 * r;
  __global const long* pe = meta + 6 * r;
  long osz = 1, isz = 1;
  for (int d = 0; d < r; ++d) {
    osz *= out[d];
    isz *= in[d];
  }
  long o = i % osz;
  __global const float* xc = x + (i / osz) * isz;
  long start[SY_MAX_SPATIAL], first[SY_MAX_SPATIAL], last[SY_MAX_SPATIAL], t[SY_MAX_SPATIAL];
  bool empty = false;
  float pad_count = 1.0f;
  for (int d = r - 1; d >= 0; --d) {
    const long oc = o % out[d];
    o /= out[d];
    start[d] = oc * st[d] - pb[d];
    sy_taps(start[d], dl[d], ks[d], 0, in[d] - 1, &first[d], &last[d]);
    if (first[d] > last[d]) empty = true;
    long pf, pl;
    sy_taps(start[d], dl[d], ks[d], -pb[d], in[d] + pe[d] - 1, &pf, &pl);
    pad_count *= (float)(pl >= pf ? pl - pf + 1 : 0);
  }
  if (empty) {
    y[i] = is_max ? -INFINITY : (include_pad && pad_count > 0.0f ? 0.0f : NAN);
    return;
  }
  float best = -INFINITY, sum = 0.0f;
  long count = 0;
  for (int d = 0; d < r; ++d) t[d] = first[d];
  for (;;) {
    long xo = 0;
    for (int d = 0; d < r; ++d) xo = xo * in[d] + start[d] + t[d] * dl[d];
    const float v = xc[xo];
    if (v > best || isnan(v)) best = v;  // as the reference: NaN sticks
    sum += v;
    ++count;
    int d = r - 1;
    while (d >= 0 && t[d] == last[d]) {
      t[d] = first[d];
      --d;
    }
    if (d < 0) break;
    ++t[d];
  }
  y[i] = is_max ? best : sum / (include_pad ? pad_count : (float)count);
}

// Inference batch_norm over x [N, C, inner]: SY_VEC elements per work item.
__kernel void sy_batch_norm(__global const float* x, __global const float* scale, __global const float* bias,
                            __global const float* mean, __global const float* var, __global float* y, long C,
                            long inner, float eps, long n) {
  const long first = get_global_id(0) * SY_VEC;
  for (long i = first; i < first + SY_VEC && i < n; ++i) {
    const long c = (i / inner) % C;
    y[i] = scale[c] * (x[i] - mean[c]) / sqrt(var[c] + eps) + bias[c];
  }
}

// Sum of v over the work group (SY_WG items, a power of two), in part[0..SY_WG).
inline float sy_group_sum(float v, __local float* part) {
  const int lid = get_local_id(0);
  part[lid] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = SY_WG / 2; s > 0; s >>= 1) {
    if (lid < s) part[lid] += part[lid + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  const float total = part[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return total;
}

// layer_norm (mode 0) and instance_norm (mode 1): one work group of SY_WG
// items per row of `len` contiguous elements; two-pass mean and population
// variance in local memory. layer_norm reads scale/bias through broadcast
// strides over the normalised dims (meta: dims[prank], scale_strides[prank],
// bias_strides[prank]); instance_norm reads them at the row's channel
// (row % channels).
__kernel void sy_row_norm(__global const float* x, __global const float* scale, __global const float* bias,
                          __global float* y, __global const long* meta, int prank, long len, float eps, int mode,
                          long channels, int has_bias) {
  __local float part[SY_WG];
  const long row = get_group_id(0);
  const int lid = get_local_id(0);
  __global const float* xr = x + row * len;
  __global float* yr = y + row * len;
  float s = 0.0f;
  for (long k = lid; k < len; k += SY_WG) s += xr[k];
  const float mean = sy_group_sum(s, part) / (float)len;
  float q = 0.0f;
  for (long k = lid; k < len; k += SY_WG) {
    const float d = xr[k] - mean;
    q += d * d;
  }
  const float denom = sqrt(sy_group_sum(q, part) / (float)len + eps);
  for (long k = lid; k < len; k += SY_WG) {
    long si, bi;
    if (mode == 0) {
      si = 0;
      bi = 0;
      long r = k;
      for (int d = prank - 1; d >= 0; --d) {
        const long c = r % meta[d];
        r /= meta[d];
        si += c * meta[prank + d];
        bi += c * meta[2 * prank + d];
      }
    } else {
      si = bi = row % channels;
    }
    float v = (xr[k] - mean) / denom * scale[si];
    if (has_bias) v += bias[bi];
    yr[k] = v;
  }
}
