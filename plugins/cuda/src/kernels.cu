// Hand-written kernels of the CUDA plugin (see kernels.h). Kept to one small
// file: everything elementwise is generated per region and built by NVRTC
// (fusion.cpp); GEMMs, convolutions and pooling go to cuBLASLt and cuDNN.
#include <cfloat>
#include <cstdint>

#include "kernels.h"
#include "launch.h"

namespace sy_cuda {
namespace {

template <int Bytes>
struct Element;
template <> struct Element<1> { using type = uint8_t; };
template <> struct Element<2> { using type = uint16_t; };
template <> struct Element<4> { using type = uint32_t; };
template <> struct Element<8> { using type = uint64_t; };

#define SY_GRID_STRIDE(i, n) \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += static_cast<int64_t>(gridDim.x) * blockDim.x)

template <class T>
__global__ void stridedCopyKernel(const T* __restrict__ in, T* __restrict__ out, StridedCopy p, int64_t n) {
  SY_GRID_STRIDE(i, n) {
    int64_t r = i, src = p.inBase, dst = p.outBase;
    for (int d = p.rank - 1; d >= 0; --d) {
      const int64_t c = r % p.dims[d];
      r /= p.dims[d];
      src += c * p.inStrides[d];
      dst += c * p.outStrides[d];
    }
    out[dst] = in[src];
  }
}

template <class T>
__global__ void padKernel(const T* __restrict__ in, T* __restrict__ out, PadParams p, const T* value, int64_t n) {
  const T fill = value != nullptr ? *value : T(0);
  SY_GRID_STRIDE(i, n) {
    int64_t r = i, src = 0, stride = 1;
    bool inside = true;
    for (int d = p.rank - 1; d >= 0; --d) {
      int64_t c = r % p.outDims[d] - p.begin[d];
      r /= p.outDims[d];
      const int64_t len = p.inDims[d];
      if (c < 0 || c >= len) {
        if (p.mode == 0 || len == 0) {
          inside = false;
        } else if (p.mode == 2) {
          c = c < 0 ? 0 : len - 1;
        } else if (len == 1) {
          c = 0;
        } else {  // reflect, possibly several times
          const int64_t period = 2 * (len - 1);
          c %= period;
          if (c < 0) c += period;
          if (c >= len) c = period - c;
        }
      }
      src += c * stride;
      stride *= len;
    }
    out[i] = inside ? in[src] : fill;
  }
}

template <class T, class I>
__global__ void gatherKernel(const T* __restrict__ data, const I* __restrict__ idx, T* __restrict__ out, int64_t axisLen,
                             int64_t inner, int64_t numIndices, int32_t* errorFlag, int64_t n) {
  SY_GRID_STRIDE(i, n) {
    const int64_t in = i % inner;
    const int64_t k = (i / inner) % numIndices;
    const int64_t o = i / (inner * numIndices);
    int64_t j = static_cast<int64_t>(idx[k]);
    if (j < 0) j += axisLen;
    if (j < 0 || j >= axisLen) {
      *errorFlag = 1;
      out[i] = T(0);
    } else {
      out[i] = data[(o * axisLen + j) * inner + in];
    }
  }
}

// Block-wide reductions over blockDim.x threads (a power of two >= 32).
__device__ float blockSum(float v, float* shared) {
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = threadIdx.x < warps ? shared[threadIdx.x] : 0.0f;
  if (warp == 0) {
    for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
    if (lane == 0) shared[0] = v;
  }
  __syncthreads();
  return shared[0];
}

__device__ float combine(int op, float a, float b) {
  switch (op) {
    case 2: return (a != a || b != b) ? a + b : fmaxf(a, b);
    case 3: return (a != a || b != b) ? a + b : fminf(a, b);
    case 4: return a * b;
    default: return a + b;
  }
}

__device__ float identityOf(int op) {
  switch (op) {
    case 2: return -INFINITY;
    case 3: return INFINITY;
    case 4: return 1.0f;
    default: return 0.0f;
  }
}

__device__ float blockReduce(int op, float v, float* shared) {
  for (int off = 16; off > 0; off /= 2) v = combine(op, v, __shfl_xor_sync(0xffffffffu, v, off));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = threadIdx.x < warps ? shared[threadIdx.x] : identityOf(op);
  if (warp == 0) {
    for (int off = 16; off > 0; off /= 2) v = combine(op, v, __shfl_xor_sync(0xffffffffu, v, off));
    if (lane == 0) shared[0] = v;
  }
  __syncthreads();
  return shared[0];
}

// One block per (outer, inner) row of length len, stride inner.
__global__ void softmaxKernel(const float* __restrict__ x, float* __restrict__ y, int64_t rows, int64_t len,
                              int64_t inner, bool logSoftmax) {
  __shared__ float shared[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t base = (row / inner) * len * inner + row % inner;
    float m = -INFINITY;
    for (int64_t k = threadIdx.x; k < len; k += blockDim.x) {
      const float v = x[base + k * inner];
      m = (v != v || m != m) ? v + m : fmaxf(m, v);
    }
    m = blockReduce(2, m, shared);
    float s = 0.0f;
    for (int64_t k = threadIdx.x; k < len; k += blockDim.x) s += expf(x[base + k * inner] - m);
    s = blockSum(s, shared);
    const float logS = logf(s);
    for (int64_t k = threadIdx.x; k < len; k += blockDim.x) {
      const float v = x[base + k * inner] - m;
      y[base + k * inner] = logSoftmax ? v - logS : expf(v) / s;
    }
  }
}

__global__ void layerNormKernel(const float* __restrict__ x, const float* __restrict__ scale, int64_t scaleCount,
                                const float* __restrict__ bias, int64_t biasCount, float* __restrict__ y,
                                int64_t rows, int64_t len, float epsilon) {
  __shared__ float shared[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* xr = x + row * len;
    float s = 0.0f;
    for (int64_t k = threadIdx.x; k < len; k += blockDim.x) s += xr[k];
    const float mean = blockSum(s, shared) / static_cast<float>(len);
    float q = 0.0f;
    for (int64_t k = threadIdx.x; k < len; k += blockDim.x) {
      const float d = xr[k] - mean;
      q += d * d;
    }
    const float inv = rsqrtf(blockSum(q, shared) / static_cast<float>(len) + epsilon);
    for (int64_t k = threadIdx.x; k < len; k += blockDim.x) {
      float v = (xr[k] - mean) * inv * scale[scaleCount == 1 ? 0 : k];
      if (bias != nullptr) v += bias[biasCount == 1 ? 0 : k];
      y[row * len + k] = v;
    }
  }
}

__global__ void batchNormKernel(const float* __restrict__ x, const float* __restrict__ scale,
                                const float* __restrict__ bias, const float* __restrict__ mean,
                                const float* __restrict__ var, float* __restrict__ y, int64_t c, int64_t inner,
                                float epsilon, int64_t n) {
  SY_GRID_STRIDE(i, n) {
    const int64_t ch = (i / inner) % c;
    y[i] = (x[i] - mean[ch]) * rsqrtf(var[ch] + epsilon) * scale[ch] + bias[ch];
  }
}

__global__ void reduceKernel(const float* __restrict__ x, float* __restrict__ y, ReduceParams p, int op) {
  __shared__ float shared[32];
  for (int64_t o = blockIdx.x; o < p.outputs; o += gridDim.x) {
    int64_t base = 0, r = o;
    for (int d = p.keptRank - 1; d >= 0; --d) {
      base += (r % p.keptDims[d]) * p.keptStrides[d];
      r /= p.keptDims[d];
    }
    float acc = identityOf(op == 1 ? 0 : op);
    for (int64_t k = threadIdx.x; k < p.reducedCount; k += blockDim.x) {
      int64_t off = base, q = k;
      for (int d = p.reducedRank - 1; d >= 0; --d) {
        off += (q % p.reducedDims[d]) * p.reducedStrides[d];
        q /= p.reducedDims[d];
      }
      acc = combine(op == 1 ? 0 : op, acc, x[off]);
    }
    acc = blockReduce(op == 1 ? 0 : op, acc, shared);
    if (threadIdx.x == 0) y[o] = op == 1 ? acc / static_cast<float>(p.reducedCount) : acc;
  }
}

__global__ void biasActivationKernel(float* __restrict__ y, const float* __restrict__ bias, int64_t c, int64_t inner,
                                     bool relu, int64_t n) {
  SY_GRID_STRIDE(i, n) {
    float v = y[i];
    if (bias != nullptr) v += bias[(i / inner) % c];
    y[i] = relu && v < 0.0f ? 0.0f : v;
  }
}

int64_t count(const int64_t* dims, int rank) {
  int64_t n = 1;
  for (int d = 0; d < rank; ++d) n *= dims[d];
  return n;
}

}  // namespace

cudaError_t launchStridedCopy(const void* in, void* out, size_t elementSize, const StridedCopy& p, int smCount,
                              cudaStream_t stream) {
  const int64_t n = count(p.dims, p.rank);
  const Launch1D l = elementwiseLaunch(n, smCount);
  if (l.grid == 0) return cudaSuccess;
  switch (elementSize) {
    case 1: stridedCopyKernel<<<l.grid, l.block, 0, stream>>>(static_cast<const uint8_t*>(in), static_cast<uint8_t*>(out), p, n); break;
    case 2: stridedCopyKernel<<<l.grid, l.block, 0, stream>>>(static_cast<const uint16_t*>(in), static_cast<uint16_t*>(out), p, n); break;
    case 4: stridedCopyKernel<<<l.grid, l.block, 0, stream>>>(static_cast<const uint32_t*>(in), static_cast<uint32_t*>(out), p, n); break;
    case 8: stridedCopyKernel<<<l.grid, l.block, 0, stream>>>(static_cast<const uint64_t*>(in), static_cast<uint64_t*>(out), p, n); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launchPad(const void* in, void* out, size_t elementSize, const PadParams& p, const void* value,
                      int smCount, cudaStream_t stream) {
  const int64_t n = count(p.outDims, p.rank);
  const Launch1D l = elementwiseLaunch(n, smCount);
  if (l.grid == 0) return cudaSuccess;
  switch (elementSize) {
    case 1: padKernel<<<l.grid, l.block, 0, stream>>>(static_cast<const uint8_t*>(in), static_cast<uint8_t*>(out), p, static_cast<const uint8_t*>(value), n); break;
    case 2: padKernel<<<l.grid, l.block, 0, stream>>>(static_cast<const uint16_t*>(in), static_cast<uint16_t*>(out), p, static_cast<const uint16_t*>(value), n); break;
    case 4: padKernel<<<l.grid, l.block, 0, stream>>>(static_cast<const uint32_t*>(in), static_cast<uint32_t*>(out), p, static_cast<const uint32_t*>(value), n); break;
    case 8: padKernel<<<l.grid, l.block, 0, stream>>>(static_cast<const uint64_t*>(in), static_cast<uint64_t*>(out), p, static_cast<const uint64_t*>(value), n); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launchGather(const void* data, const void* indices, bool indices64, void* out, size_t elementSize,
                         int64_t outer, int64_t axisLen, int64_t inner, int64_t numIndices, int32_t* errorFlag,
                         int smCount, cudaStream_t stream) {
  const int64_t n = outer * numIndices * inner;
  const Launch1D l = elementwiseLaunch(n, smCount);
  if (l.grid == 0) return cudaSuccess;
#define SY_GATHER(T)                                                                                          \
  if (indices64)                                                                                             \
    gatherKernel<<<l.grid, l.block, 0, stream>>>(static_cast<const T*>(data), static_cast<const int64_t*>(indices), \
                                                 static_cast<T*>(out), axisLen, inner, numIndices, errorFlag, n);   \
  else                                                                                                       \
    gatherKernel<<<l.grid, l.block, 0, stream>>>(static_cast<const T*>(data), static_cast<const int32_t*>(indices), \
                                                 static_cast<T*>(out), axisLen, inner, numIndices, errorFlag, n);
  switch (elementSize) {
    case 1: SY_GATHER(uint8_t) break;
    case 2: SY_GATHER(uint16_t) break;
    case 4: SY_GATHER(uint32_t) break;
    case 8: SY_GATHER(uint64_t) break;
    default: return cudaErrorInvalidValue;
  }
#undef SY_GATHER
  return cudaGetLastError();
}

cudaError_t launchSoftmax(const float* x, float* y, int64_t outer, int64_t len, int64_t inner, bool logSoftmax,
                          cudaStream_t stream) {
  const int64_t rows = outer * inner;
  if (rows == 0 || len == 0) return cudaSuccess;
  softmaxKernel<<<rowGrid(rows), rowBlock(len), 0, stream>>>(x, y, rows, len, inner, logSoftmax);
  return cudaGetLastError();
}

cudaError_t launchLayerNorm(const float* x, const float* scale, int64_t scaleCount, const float* bias,
                            int64_t biasCount, float* y, int64_t rows, int64_t len, float epsilon, cudaStream_t stream) {
  if (rows == 0 || len == 0) return cudaSuccess;
  layerNormKernel<<<rowGrid(rows), rowBlock(len), 0, stream>>>(x, scale, scaleCount, bias, biasCount, y, rows, len,
                                                               epsilon);
  return cudaGetLastError();
}

cudaError_t launchBatchNorm(const float* x, const float* scale, const float* bias, const float* mean,
                            const float* var, float* y, int64_t n, int64_t c, int64_t inner, float epsilon,
                            int smCount, cudaStream_t stream) {
  const int64_t total = n * c * inner;
  const Launch1D l = elementwiseLaunch(total, smCount);
  if (l.grid == 0) return cudaSuccess;
  batchNormKernel<<<l.grid, l.block, 0, stream>>>(x, scale, bias, mean, var, y, c, inner, epsilon, total);
  return cudaGetLastError();
}

cudaError_t launchReduce(const float* x, float* y, const ReduceParams& p, int op, cudaStream_t stream) {
  if (p.outputs == 0) return cudaSuccess;
  reduceKernel<<<rowGrid(p.outputs), rowBlock(p.reducedCount), 0, stream>>>(x, y, p, op);
  return cudaGetLastError();
}

cudaError_t launchBiasActivation(float* y, const float* bias, int64_t n, int64_t c, int64_t inner, bool relu,
                                 int smCount, cudaStream_t stream) {
  const int64_t total = n * c * inner;
  const Launch1D l = elementwiseLaunch(total, smCount);
  if (l.grid == 0) return cudaSuccess;
  biasActivationKernel<<<l.grid, l.block, 0, stream>>>(y, bias, c, inner, relu, total);
  return cudaGetLastError();
}

}  // namespace sy_cuda
