#include "dnn.h"

#include "kernels.h"

#include <memory>

namespace sy_cuda {
namespace {

cudaDataType_t cudaType(int32_t dtype) {
  switch (dtype) {
    case SY_DTYPE_F16: return CUDA_R_16F;
    case SY_DTYPE_BF16: return CUDA_R_16BF;
    default: return CUDA_R_32F;
  }
}

/// RAII for the cuBLASLt descriptors.
struct LtLayout {
  const CublasLt& lib;
  cublasLtMatrixLayout_t h = nullptr;
  LtLayout(const CublasLt& l, cudaDataType_t t, int64_t rows, int64_t cols, int64_t ld, int64_t batch, int64_t stride)
      : lib(l) {
    lib.check(lib.cublasLtMatrixLayoutCreate(&h, t, static_cast<uint64_t>(rows), static_cast<uint64_t>(cols), ld),
              "cublasLtMatrixLayoutCreate");
    if (batch > 1) {
      const int32_t count = static_cast<int32_t>(batch);
      lib.check(lib.cublasLtMatrixLayoutSetAttribute(h, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count),
                "cublasLtMatrixLayoutSetAttribute(BATCH_COUNT)");
      lib.check(lib.cublasLtMatrixLayoutSetAttribute(h, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                                     sizeof stride),
                "cublasLtMatrixLayoutSetAttribute(STRIDED_BATCH_OFFSET)");
    }
  }
  ~LtLayout() {
    if (h != nullptr) lib.cublasLtMatrixLayoutDestroy(h);
  }
};

}  // namespace

// Note [Row-major GEMM]
// cuBLASLt is column-major. A row-major [r, c] matrix is a column-major
// [c, r] one, so D = op(A) op(B) (row-major) is computed as
// D^T = op(B)^T op(A)^T: cuBLASLt's A is our B and its B is our A, with the
// same transpose flags. The bias epilogue adds a vector along cuBLASLt's
// rows, which are our columns: exactly a [n] bias of a row-major result.
void runGemm(ExecContext& ctx, const GemmCall& g, size_t workspaceBytes, bool tf32) {
  const CublasLt& lib = cublasLt();
  requireLibrary(lib, "cuBLASLt");
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  if (g.k == 0) {
    // An empty inner dim: the product is zeros (cuBLASLt rejects k = 0).
    const size_t bytes = static_cast<size_t>(g.m * g.n * g.batch) * sdk::dtypeSize(g.dtype);
    checkCuda(cudaMemsetAsync(g.d, 0, bytes, ctx.stream), "cudaMemsetAsync (k = 0)");
    sdk::require((g.c == nullptr || g.beta == 0.0f) && g.activation != 2, SY_ERROR_UNIMPLEMENTED,
                 "a GEMM with k = 0 and a c term or a gelu epilogue is not implemented by cuda");
    if (g.bias != nullptr || g.activation == 1)
      checkCuda(launchBiasActivation(static_cast<float*>(g.d), g.bias, g.m * g.batch, g.n, 1, g.activation == 1,
                                     ctx.device.smCount, ctx.stream),
                "bias/activation kernel (k = 0)");
    return;
  }
  const cudaDataType_t t = cudaType(g.dtype);
  const cublasComputeType_t compute =
      g.dtype == SY_DTYPE_F32 && tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;

  cublasLtMatmulDesc_t desc = nullptr;
  lib.check(lib.cublasLtMatmulDescCreate(&desc, compute, CUDA_R_32F), "cublasLtMatmulDescCreate");
  std::unique_ptr<void, void (*)(void*)> descGuard(desc, [](void* d) {
    cublasLt().cublasLtMatmulDescDestroy(static_cast<cublasLtMatmulDesc_t>(d));
  });
  const cublasOperation_t opA = g.transB ? CUBLAS_OP_T : CUBLAS_OP_N;  // cuBLASLt's A is our B
  const cublasOperation_t opB = g.transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  lib.check(lib.cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof opA),
            "cublasLtMatmulDescSetAttribute(TRANSA)");
  lib.check(lib.cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof opB),
            "cublasLtMatmulDescSetAttribute(TRANSB)");
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  if (g.bias != nullptr) {
    epilogue = g.activation == 1 ? CUBLASLT_EPILOGUE_RELU_BIAS
               : g.activation == 2 ? CUBLASLT_EPILOGUE_GELU_BIAS
                                   : CUBLASLT_EPILOGUE_BIAS;
    lib.check(lib.cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias, sizeof g.bias),
              "cublasLtMatmulDescSetAttribute(BIAS_POINTER)");
    const cudaDataType_t biasType = CUDA_R_32F;
    lib.check(lib.cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &biasType, sizeof biasType),
              "cublasLtMatmulDescSetAttribute(BIAS_DATA_TYPE)");
  } else if (g.activation != 0) {
    epilogue = g.activation == 1 ? CUBLASLT_EPILOGUE_RELU : CUBLASLT_EPILOGUE_GELU;
  }
  lib.check(lib.cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue),
            "cublasLtMatmulDescSetAttribute(EPILOGUE)");

  // Stored (column-major) shapes; see Note [Row-major GEMM].
  const int64_t aRows = g.transB ? g.k : g.n, aCols = g.transB ? g.n : g.k;  // our B
  const int64_t bRows = g.transA ? g.m : g.k, bCols = g.transA ? g.k : g.m;  // our A
  LtLayout la(lib, t, aRows, aCols, aRows, g.batch, g.strideB);
  LtLayout lb(lib, t, bRows, bCols, bRows, g.batch, g.strideA);
  LtLayout ld(lib, t, g.n, g.m, g.n, g.batch, g.strideD);

  cublasLtMatmulPreference_t pref = nullptr;
  lib.check(lib.cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate");
  std::unique_ptr<void, void (*)(void*)> prefGuard(pref, [](void* p) {
    cublasLt().cublasLtMatmulPreferenceDestroy(static_cast<cublasLtMatmulPreference_t>(p));
  });
  const uint64_t ws = workspaceBytes;
  lib.check(lib.cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws),
            "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)");
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  lib.check(lib.cublasLtMatmulAlgoGetHeuristic(ctx.lt, desc, la.h, lb.h, ld.h, ld.h, pref, 1, &result, &found),
            "cublasLtMatmulAlgoGetHeuristic");
  if (found == 0)
    sdk::fail(SY_ERROR_UNIMPLEMENTED, "cublasLtMatmulAlgoGetHeuristic: no algorithm for ", sdk::dtypeName(g.dtype),
              " [", g.m, ", ", g.k, "] x [", g.k, ", ", g.n, "] (batch ", g.batch, ")");
  void* workspace = ctx.workspace(std::max<size_t>(result.workspaceSize, 1));
  const float beta = g.c != nullptr ? g.beta : 0.0f;
  lib.check(lib.cublasLtMatmul(ctx.lt, desc, &g.alpha, g.b, la.h, g.a, lb.h, &beta, g.c != nullptr ? g.c : g.d, ld.h,
                               g.d, ld.h, &result.algo, workspace, result.workspaceSize, ctx.stream),
            "cublasLtMatmul");
}

namespace {

template <class H, class Destroy>
struct DnnHandle {
  H h = nullptr;
  Destroy destroy;
  explicit DnnHandle(Destroy d) : destroy(d) {}
  ~DnnHandle() {
    if (h != nullptr) destroy(h);
  }
};

std::vector<int> toInts(const std::vector<int64_t>& v) { return std::vector<int>(v.begin(), v.end()); }

std::vector<int> packedStrides(const std::vector<int>& dims) {
  std::vector<int> s(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
  return s;
}

/// cuDNN takes 4-D and 5-D tensors: a 1-D spatial shape gets a trailing 1.
std::vector<int> atLeast4(std::vector<int64_t> d) {
  while (d.size() < 4) d.push_back(1);
  return toInts(d);
}

}  // namespace

void runConv(ExecContext& ctx, const ConvCall& c, bool tf32) {
  const Cudnn& lib = cudnn();
  requireLibrary(lib, "cuDNN");
  cudnnHandle_t h = ctx.dnn();
  const std::vector<int> xd = atLeast4(c.x), wd = atLeast4(c.w), yd = atLeast4(c.y);
  std::vector<int> pads = toInts(c.pads), strides = toInts(c.strides), dil = toInts(c.dilations);
  while (pads.size() + 2 < xd.size()) {
    pads.push_back(0);
    strides.push_back(1);
    dil.push_back(1);
  }
  for (int v : xd) if (v == 0) return;  // empty input: nothing to compute (output is empty too)

  DnnHandle<cudnnTensorDescriptor_t, decltype(lib.cudnnDestroyTensorDescriptor)> xDesc(lib.cudnnDestroyTensorDescriptor),
      yDesc(lib.cudnnDestroyTensorDescriptor);
  DnnHandle<cudnnFilterDescriptor_t, decltype(lib.cudnnDestroyFilterDescriptor)> wDesc(lib.cudnnDestroyFilterDescriptor);
  DnnHandle<cudnnConvolutionDescriptor_t, decltype(lib.cudnnDestroyConvolutionDescriptor)> convDesc(
      lib.cudnnDestroyConvolutionDescriptor);
  lib.check(lib.cudnnCreateTensorDescriptor(&xDesc.h), "cudnnCreateTensorDescriptor");
  lib.check(lib.cudnnCreateTensorDescriptor(&yDesc.h), "cudnnCreateTensorDescriptor");
  lib.check(lib.cudnnCreateFilterDescriptor(&wDesc.h), "cudnnCreateFilterDescriptor");
  lib.check(lib.cudnnCreateConvolutionDescriptor(&convDesc.h), "cudnnCreateConvolutionDescriptor");
  const std::vector<int> xs = packedStrides(xd), ys = packedStrides(yd);
  lib.check(lib.cudnnSetTensorNdDescriptor(xDesc.h, CUDNN_DATA_FLOAT, static_cast<int>(xd.size()), xd.data(), xs.data()),
            "cudnnSetTensorNdDescriptor(x)");
  lib.check(lib.cudnnSetTensorNdDescriptor(yDesc.h, CUDNN_DATA_FLOAT, static_cast<int>(yd.size()), yd.data(), ys.data()),
            "cudnnSetTensorNdDescriptor(y)");
  lib.check(lib.cudnnSetFilterNdDescriptor(wDesc.h, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, static_cast<int>(wd.size()),
                                           wd.data()),
            "cudnnSetFilterNdDescriptor");
  lib.check(lib.cudnnSetConvolutionNdDescriptor(convDesc.h, static_cast<int>(pads.size()), pads.data(), strides.data(),
                                                dil.data(), CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
            "cudnnSetConvolutionNdDescriptor");
  lib.check(lib.cudnnSetConvolutionGroupCount(convDesc.h, static_cast<int>(c.group)), "cudnnSetConvolutionGroupCount");
  // FMA math keeps f32 exact (no TF32) unless allow_tf32 is set.
  lib.check(lib.cudnnSetConvolutionMathType(convDesc.h, tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH),
            "cudnnSetConvolutionMathType");

  cudnnConvolutionFwdAlgoPerf_t perf[8];
  int returned = 0;
  lib.check(lib.cudnnGetConvolutionForwardAlgorithm_v7(h, xDesc.h, wDesc.h, convDesc.h, yDesc.h, 8, &returned, perf),
            "cudnnGetConvolutionForwardAlgorithm_v7");
  constexpr size_t kMaxWorkspace = size_t{512} << 20;
  for (int i = 0; i < returned; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > kMaxWorkspace) continue;
    size_t bytes = 0;
    if (lib.cudnnGetConvolutionForwardWorkspaceSize(h, xDesc.h, wDesc.h, convDesc.h, yDesc.h, perf[i].algo, &bytes) !=
        CUDNN_STATUS_SUCCESS)
      continue;
    void* ws = ctx.workspace(std::max<size_t>(bytes, 1));
    const float one = 1.0f, zero = 0.0f;
    lib.check(lib.cudnnConvolutionForward(h, &one, xDesc.h, c.xData, wDesc.h, c.wData, convDesc.h, perf[i].algo, ws,
                                          bytes, &zero, yDesc.h, c.yData),
              "cudnnConvolutionForward");
    return;
  }
  sdk::fail(SY_ERROR_UNIMPLEMENTED, "cudnnGetConvolutionForwardAlgorithm_v7: no usable algorithm (", returned,
            " returned)");
}

void runPool(ExecContext& ctx, const PoolCall& p) {
  const Cudnn& lib = cudnn();
  requireLibrary(lib, "cuDNN");
  cudnnHandle_t h = ctx.dnn();
  const std::vector<int> xd = atLeast4(p.x), yd = atLeast4(p.y);
  for (int v : yd) if (v == 0) return;
  std::vector<int> window = toInts(p.kernel), pads = toInts(p.pads), strides = toInts(p.strides);
  while (window.size() + 2 < xd.size()) {
    window.push_back(1);
    pads.push_back(0);
    strides.push_back(1);
  }
  DnnHandle<cudnnTensorDescriptor_t, decltype(lib.cudnnDestroyTensorDescriptor)> xDesc(lib.cudnnDestroyTensorDescriptor),
      yDesc(lib.cudnnDestroyTensorDescriptor);
  DnnHandle<cudnnPoolingDescriptor_t, decltype(lib.cudnnDestroyPoolingDescriptor)> poolDesc(
      lib.cudnnDestroyPoolingDescriptor);
  lib.check(lib.cudnnCreateTensorDescriptor(&xDesc.h), "cudnnCreateTensorDescriptor");
  lib.check(lib.cudnnCreateTensorDescriptor(&yDesc.h), "cudnnCreateTensorDescriptor");
  lib.check(lib.cudnnCreatePoolingDescriptor(&poolDesc.h), "cudnnCreatePoolingDescriptor");
  const std::vector<int> xs = packedStrides(xd), ys = packedStrides(yd);
  lib.check(lib.cudnnSetTensorNdDescriptor(xDesc.h, CUDNN_DATA_FLOAT, static_cast<int>(xd.size()), xd.data(), xs.data()),
            "cudnnSetTensorNdDescriptor(x)");
  lib.check(lib.cudnnSetTensorNdDescriptor(yDesc.h, CUDNN_DATA_FLOAT, static_cast<int>(yd.size()), yd.data(), ys.data()),
            "cudnnSetTensorNdDescriptor(y)");
  const cudnnPoolingMode_t mode = p.mode == 2   ? CUDNN_POOLING_MAX
                                  : p.mode == 1 ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING
                                                : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING;
  lib.check(lib.cudnnSetPoolingNdDescriptor(poolDesc.h, mode, CUDNN_PROPAGATE_NAN, static_cast<int>(window.size()),
                                            window.data(), pads.data(), strides.data()),
            "cudnnSetPoolingNdDescriptor");
  const float one = 1.0f, zero = 0.0f;
  lib.check(lib.cudnnPoolingForward(h, poolDesc.h, &one, xDesc.h, p.xData, &zero, yDesc.h, p.yData),
            "cudnnPoolingForward");
}

}  // namespace sy_cuda
