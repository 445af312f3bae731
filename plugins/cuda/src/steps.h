// The steps of a compiled region and their shape rules (host code only;
// unit-tested without a GPU). region.cpp builds and runs them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ops.h"

namespace sy_cuda {

class CudaBuffer;
struct FusedKernel;

enum class Kind { Fused, Gemm, Conv, Pool, GlobalPool, Softmax, LayerNorm, BatchNorm, Reduce, Transpose, Expand,
                  Slice, Concat, Pad, Gather, View };

struct Window {
  Dims kernel, strides, dilations, pads;  // pads: begin values (symmetric)
  bool valid = false;                     // auto_pad VALID
};

/// One step of a compiled region: everything execute needs, copied out of
/// the graph view at compile.
struct Step {
  Kind kind = Kind::View;
  std::string describe;
  std::vector<int32_t> inputs;  // value indices (kernel/argument order)
  int32_t output = -1;
  int32_t outDtype = SY_DTYPE_F32;
  std::string op;
  // Fused
  const FusedKernel* kernel = nullptr;
  // Gemm
  bool gemm = false, transA = false, transB = false;
  float alpha = 1.0f, beta = 1.0f;
  int activation = 0;           // 1 relu, 2 gelu(tanh)
  std::shared_ptr<CudaBuffer> bias;  // folded / constant bias (f32)
  int32_t cValue = -1;          // gemm's c, when present
  bool cAsBias = false;         // c is a [N] / [1, N] row and beta == 1: the bias epilogue
  // Conv / pools
  std::shared_ptr<CudaBuffer> weights;  // set when folded (bn), else inputs[1] is read
  bool relu = false;
  int64_t group = 1;
  Window window;
  int poolMode = 2;
  // Others
  int code = 0;                 // reduce op / log_softmax / pad mode / global pool kind
  int64_t axis = 0;
  float epsilon = 1e-5f;
  Dims ints;                    // axes / perm / shape / pads
  Dims starts, ends, steps;     // slice
  bool keepdims = true, noopWithEmptyAxes = false, allowzero = false, hasAxes = false;
};

/// The output dims of step `s` given every value's dims so far (`dims` is
/// indexed by value). Throws SY_ERROR_INVALID_ARGUMENT when the inputs do not
/// fit together (mismatched inner dims, a window larger than its input...).
Dims outputShape(const Step& s, const std::vector<Dims>& dims);

}  // namespace sy_cuda
