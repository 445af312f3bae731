// GEMMs through cuBLASLt, convolutions and pooling through cuDNN (legacy
// API). Host code that enqueues on an execution context's stream.
#pragma once

#include <cstdint>
#include <vector>

#include "cuda_backend.h"

namespace sy_cuda {

/// D[b] = act(alpha * op(A[b]) op(B[b]) + beta * C[b] + bias), row-major,
/// op(A) [m, k], op(B) [k, n]; batch strides in elements (0: shared).
struct GemmCall {
  int64_t m = 0, n = 0, k = 0, batch = 1;
  int64_t strideA = 0, strideB = 0, strideD = 0;
  bool transA = false, transB = false;
  int32_t dtype = SY_DTYPE_F32;
  float alpha = 1.0f, beta = 0.0f;
  int activation = 0;        ///< 0 none, 1 relu, 2 gelu (tanh)
  const float* bias = nullptr;  ///< [n] (f32), or NULL
  const void* a = nullptr;
  const void* b = nullptr;
  const void* c = nullptr;   ///< [m, n] per batch (stride strideD) when beta != 0
  void* d = nullptr;
};
void runGemm(ExecContext& ctx, const GemmCall& g, size_t workspaceBytes, bool tf32);

/// One convolution (f32, NC + 1..3 spatial dims, symmetric pads).
struct ConvCall {
  std::vector<int64_t> x, w, y;  ///< dims
  std::vector<int64_t> pads, strides, dilations;  ///< one per spatial dim
  int64_t group = 1;
  const float* xData = nullptr;
  const float* wData = nullptr;
  float* yData = nullptr;
};
void runConv(ExecContext& ctx, const ConvCall& c, bool tf32);

/// One pooling (f32; mode 0 average excluding padding, 1 average including
/// padding, 2 max).
struct PoolCall {
  std::vector<int64_t> x, y, kernel, pads, strides;
  int mode = 2;
  const float* xData = nullptr;
  float* yData = nullptr;
};
void runPool(ExecContext& ctx, const PoolCall& p);

}  // namespace sy_cuda
