// The plugin's hand-written kernels (kernels.cu): data movement, softmax,
// layer and batch norm, reductions, the conv bias epilogue. Each launcher
// enqueues on `stream` and returns cudaGetLastError() of the launch; a
// launcher with nothing to do (zero elements) launches nothing.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace sy_cuda {

constexpr int kKernelMaxRank = 8;

/// out[outBase + sum_d c_d * outStrides[d]] = in[inBase + sum_d c_d * inStrides[d]]
/// for every coordinate c of `dims` (transpose, expand, slice, concat parts).
/// Strides and bases are in elements; in strides may be 0 or negative.
struct StridedCopy {
  int32_t rank = 0;
  int64_t dims[kKernelMaxRank] = {};
  int64_t inStrides[kKernelMaxRank] = {};
  int64_t outStrides[kKernelMaxRank] = {};
  int64_t inBase = 0;
  int64_t outBase = 0;
};
cudaError_t launchStridedCopy(const void* in, void* out, size_t elementSize, const StridedCopy& p, int smCount,
                              cudaStream_t stream);

/// Pad (mode 0 constant, 1 reflect, 2 edge); `value` is one element of the
/// constant (device memory) or NULL for zeros.
struct PadParams {
  int32_t rank = 0;
  int32_t mode = 0;
  int64_t outDims[kKernelMaxRank] = {};
  int64_t inDims[kKernelMaxRank] = {};
  int64_t begin[kKernelMaxRank] = {};
};
cudaError_t launchPad(const void* in, void* out, size_t elementSize, const PadParams& p, const void* value,
                      int smCount, cudaStream_t stream);

/// Gather along an axis: data [outer, axisLen, inner], indices (i32 or i64,
/// negative from the end) -> out [outer, numIndices, inner]. An index out of
/// range sets *errorFlag to 1 (device memory) and writes zeros.
cudaError_t launchGather(const void* data, const void* indices, bool indices64, void* out, size_t elementSize,
                         int64_t outer, int64_t axisLen, int64_t inner, int64_t numIndices, int32_t* errorFlag,
                         int smCount, cudaStream_t stream);

/// Softmax or log-softmax of x viewed as [outer, len, inner] along len.
cudaError_t launchSoftmax(const float* x, float* y, int64_t outer, int64_t len, int64_t inner, bool logSoftmax,
                          cudaStream_t stream);

/// Layer norm over the last `len` elements of each of `rows` rows; scale and
/// bias have `len` elements or 1 (broadcast); bias may be NULL.
cudaError_t launchLayerNorm(const float* x, const float* scale, int64_t scaleCount, const float* bias,
                            int64_t biasCount, float* y, int64_t rows, int64_t len, float epsilon, cudaStream_t stream);

/// Inference batch norm of x [n, c, inner].
cudaError_t launchBatchNorm(const float* x, const float* scale, const float* bias, const float* mean,
                            const float* var, float* y, int64_t n, int64_t c, int64_t inner, float epsilon,
                            int smCount, cudaStream_t stream);

/// Reductions (op: 0 sum, 1 mean, 2 max, 3 min, 4 prod): one output per
/// coordinate of the kept dims, over every coordinate of the reduced dims.
struct ReduceParams {
  int32_t keptRank = 0;
  int32_t reducedRank = 0;
  int64_t keptDims[kKernelMaxRank] = {};
  int64_t keptStrides[kKernelMaxRank] = {};
  int64_t reducedDims[kKernelMaxRank] = {};
  int64_t reducedStrides[kKernelMaxRank] = {};
  int64_t outputs = 0;
  int64_t reducedCount = 0;
};
cudaError_t launchReduce(const float* x, float* y, const ReduceParams& p, int op, cudaStream_t stream);

/// y[n, c, inner] += bias[c] (bias may be NULL), then relu when `relu`.
cudaError_t launchBiasActivation(float* y, const float* bias, int64_t n, int64_t c, int64_t inner, bool relu,
                                 int smCount, cudaStream_t stream);

}  // namespace sy_cuda
