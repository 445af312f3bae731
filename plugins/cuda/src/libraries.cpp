#include "libraries.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

namespace sy_cuda {
namespace {

#define SY_CUDA_STR2(x) #x
#define SY_CUDA_STR(x) SY_CUDA_STR2(x)

std::string ownFolder() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<const void*>(&ownFolder), &info) == 0 || info.dli_fname == nullptr) return "";
  std::string path = info.dli_fname;
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

/// Opens `soname` (Note [Lazy libraries]) into `lib`, then resolves every
/// entry with `resolve`; a missing entry is an error naming it.
template <class Lib, class Resolve>
void open(Lib& lib, const char* soname, Resolve resolve) {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("SY_CUDA_LIBRARY_PATH"); env != nullptr && *env != '\0') {
    std::string s = env;
    size_t start = 0;
    while (start <= s.size()) {
      const size_t colon = s.find(':', start);
      const std::string dir = s.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      if (!dir.empty()) candidates.push_back(dir + "/" + soname);
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  candidates.push_back(soname);
  for (const std::string& dir : librarySearchFolders()) candidates.push_back(dir + "/" + soname);
  std::string tried;
  for (const std::string& c : candidates) {
    dlerror();
    void* h = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h != nullptr) {
      lib.handle = h;
      lib.path = c;
      std::string missing;
      resolve(h, missing);
      if (!missing.empty()) lib.error = sdk::format(c, " lacks ", missing);
      return;
    }
    const char* e = dlerror();
    if (tried.empty() && e != nullptr) tried = e;
  }
  std::string where;
  for (const std::string& c : candidates) where += (where.empty() ? "" : ", ") + c;
  lib.error = sdk::format(soname, " not found (tried ", where, ")");
}

#define SY_CUDA_RESOLVE_ENTRY(name)                                                      \
  t.name = reinterpret_cast<decltype(t.name)>(dlsym(h, #name));                          \
  if (t.name == nullptr && missing.empty()) missing = #name;

}  // namespace

const char* cublasLtSoname() { return "libcublasLt.so." SY_CUDA_STR(CUBLAS_VER_MAJOR); }
const char* cudnnSoname() { return "libcudnn.so." SY_CUDA_STR(CUDNN_MAJOR); }
const char* nvrtcSoname() {
  static const std::string name = "libnvrtc.so." + std::to_string(CUDART_VERSION / 1000);
  return name.c_str();
}

std::vector<std::string> librarySearchFolders() {
  std::vector<std::string> dirs = {"/usr/local/cuda/lib64"};
  const std::string own = ownFolder();
  if (!own.empty()) {
    dirs.push_back(own);
    dirs.push_back(own + "/cuda-libs");
  }
  return dirs;
}

const CublasLt& cublasLt() {
  static CublasLt t;
  static std::once_flag once;
  std::call_once(once, [] {
    open(t, cublasLtSoname(), [](void* h, std::string& missing) { SY_CUDA_CUBLASLT_ENTRIES(SY_CUDA_RESOLVE_ENTRY) });
  });
  return t;
}

const Cudnn& cudnn() {
  static Cudnn t;
  static std::once_flag once;
  std::call_once(once, [] {
    open(t, cudnnSoname(), [](void* h, std::string& missing) { SY_CUDA_CUDNN_ENTRIES(SY_CUDA_RESOLVE_ENTRY) });
  });
  return t;
}

const Nvrtc& nvrtc() {
  static Nvrtc t;
  static std::once_flag once;
  std::call_once(once, [] {
    open(t, nvrtcSoname(), [](void* h, std::string& missing) { SY_CUDA_NVRTC_ENTRIES(SY_CUDA_RESOLVE_ENTRY) });
  });
  return t;
}

void requireLibrary(const LazyLibrary& lib, const char* what) {
  if (!lib.ok()) sdk::fail(SY_ERROR_UNIMPLEMENTED, what, " is not available: ", lib.error);
}

void CublasLt::check(cublasStatus_t s, const char* call) const {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  const int32_t code = s == CUBLAS_STATUS_ALLOC_FAILED ? SY_ERROR_OUT_OF_MEMORY
                       : s == CUBLAS_STATUS_NOT_SUPPORTED ? SY_ERROR_UNIMPLEMENTED
                       : s == CUBLAS_STATUS_INVALID_VALUE ? SY_ERROR_INVALID_ARGUMENT
                                                          : SY_ERROR_DEVICE;
  sdk::fail(code, call, ": ", cublasLtGetStatusName ? cublasLtGetStatusName(s) : "CUBLAS_STATUS_?", ": ",
            cublasLtGetStatusString ? cublasLtGetStatusString(s) : "");
}

void Cudnn::check(cudnnStatus_t s, const char* call) const {
  if (s == CUDNN_STATUS_SUCCESS) return;
  const int32_t code = s == CUDNN_STATUS_ALLOC_FAILED ? SY_ERROR_OUT_OF_MEMORY
                       : s == CUDNN_STATUS_NOT_SUPPORTED ? SY_ERROR_UNIMPLEMENTED
                       : s == CUDNN_STATUS_BAD_PARAM ? SY_ERROR_INVALID_ARGUMENT
                                                     : SY_ERROR_DEVICE;
  sdk::fail(code, call, ": ", cudnnGetErrorString ? cudnnGetErrorString(s) : "CUDNN_STATUS_?");
}

void Nvrtc::check(nvrtcResult r, const char* call) const {
  if (r == NVRTC_SUCCESS) return;
  sdk::fail(r == NVRTC_ERROR_OUT_OF_MEMORY ? SY_ERROR_OUT_OF_MEMORY : SY_ERROR_INTERNAL, call, ": ",
            nvrtcGetErrorString ? nvrtcGetErrorString(r) : "NVRTC_ERROR_?");
}

}  // namespace sy_cuda
