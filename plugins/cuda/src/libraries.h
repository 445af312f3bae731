// cuBLASLt, cuDNN and NVRTC, opened with dlopen on first use (Note [Lazy
// libraries]). Each table holds the entry points the plugin calls, typed
// from the toolkit's own headers, and a `check` that turns a status into an
// sdk::Error naming the call and the library's status name.
#pragma once

#include <cublasLt.h>
#include <cudnn.h>
#include <nvrtc.h>

#include <string>
#include <vector>

#include "cuda_util.h"

namespace sy_cuda {

// Note [Lazy libraries]
// Linking libcublasLt/libcudnn/libnvrtc would make the plugin fail to dlopen
// on a machine without them (and they are not in the default library path
// even here). Instead each is opened the first time it is needed, by its
// soname of the toolkit the plugin was built with (libcublasLt.so.13,
// libcudnn.so.9, libnvrtc.so.13), from, in order: the folders in
// SY_CUDA_LIBRARY_PATH (colon-separated), the normal dlopen search
// (LD_LIBRARY_PATH, ld.so.cache), /usr/local/cuda/lib64, and the plugin's own
// folder. A library that is missing makes the op that needs it fail to
// compile with "cuDNN is not available: libcudnn.so.9 not found (searched
// ...)"; the plugin itself keeps working for everything else.

#define SY_CUDA_CUBLASLT_ENTRIES(X)                                                                       \
  X(cublasLtCreate) X(cublasLtDestroy) X(cublasLtGetStatusName) X(cublasLtGetStatusString)                \
  X(cublasLtMatmulDescCreate) X(cublasLtMatmulDescDestroy) X(cublasLtMatmulDescSetAttribute)              \
  X(cublasLtMatrixLayoutCreate) X(cublasLtMatrixLayoutDestroy) X(cublasLtMatrixLayoutSetAttribute)        \
  X(cublasLtMatmulPreferenceCreate) X(cublasLtMatmulPreferenceDestroy)                                    \
  X(cublasLtMatmulPreferenceSetAttribute) X(cublasLtMatmulAlgoGetHeuristic) X(cublasLtMatmul)

#define SY_CUDA_CUDNN_ENTRIES(X)                                                                          \
  X(cudnnGetErrorString) X(cudnnCreate) X(cudnnDestroy) X(cudnnSetStream) X(cudnnGetVersion)              \
  X(cudnnCreateTensorDescriptor) X(cudnnSetTensorNdDescriptor) X(cudnnDestroyTensorDescriptor)            \
  X(cudnnCreateFilterDescriptor) X(cudnnSetFilterNdDescriptor) X(cudnnDestroyFilterDescriptor)            \
  X(cudnnCreateConvolutionDescriptor) X(cudnnSetConvolutionNdDescriptor)                                  \
  X(cudnnSetConvolutionGroupCount) X(cudnnSetConvolutionMathType) X(cudnnDestroyConvolutionDescriptor)   \
  X(cudnnGetConvolutionForwardAlgorithm_v7) X(cudnnGetConvolutionForwardWorkspaceSize)                    \
  X(cudnnConvolutionForward) X(cudnnCreatePoolingDescriptor) X(cudnnSetPoolingNdDescriptor)              \
  X(cudnnDestroyPoolingDescriptor) X(cudnnPoolingForward)

#define SY_CUDA_NVRTC_ENTRIES(X)                                                                          \
  X(nvrtcGetErrorString) X(nvrtcVersion) X(nvrtcCreateProgram) X(nvrtcDestroyProgram)                    \
  X(nvrtcCompileProgram) X(nvrtcGetProgramLogSize) X(nvrtcGetProgramLog) X(nvrtcGetPTXSize)              \
  X(nvrtcGetPTX) X(nvrtcGetCUBINSize) X(nvrtcGetCUBIN) X(nvrtcGetNumSupportedArchs)                      \
  X(nvrtcGetSupportedArchs)

#define SY_CUDA_DECLARE_ENTRY(name) decltype(&::name) name = nullptr;

/// A dlopen'ed library; `error` says why it is not there.
struct LazyLibrary {
  void* handle = nullptr;
  std::string path;   ///< where it was found
  std::string error;  ///< "" when loaded
  bool ok() const { return handle != nullptr && error.empty(); }
};

struct CublasLt : LazyLibrary {
  SY_CUDA_CUBLASLT_ENTRIES(SY_CUDA_DECLARE_ENTRY)
  /// Throws "<call>: CUBLAS_STATUS_...: <text>" unless s is success.
  void check(cublasStatus_t s, const char* call) const;
};

struct Cudnn : LazyLibrary {
  SY_CUDA_CUDNN_ENTRIES(SY_CUDA_DECLARE_ENTRY)
  void check(cudnnStatus_t s, const char* call) const;
};

struct Nvrtc : LazyLibrary {
  SY_CUDA_NVRTC_ENTRIES(SY_CUDA_DECLARE_ENTRY)
  void check(nvrtcResult r, const char* call) const;
};

/// The process-wide tables, loaded on the first call (thread-safe). They
/// never throw; check ok() / error.
const CublasLt& cublasLt();
const Cudnn& cudnn();
const Nvrtc& nvrtc();

/// Throws SY_ERROR_UNIMPLEMENTED "<what> is not available: <error>" unless lib.ok().
void requireLibrary(const LazyLibrary& lib, const char* what);

/// The sonames searched for (tests print them).
const char* cublasLtSoname();
const char* cudnnSoname();
const char* nvrtcSoname();

/// The folders tried after the normal dlopen search, in order.
std::vector<std::string> librarySearchFolders();

}  // namespace sy_cuda
