#include "cuda_util.h"

#include <dlfcn.h>

namespace sy_cuda {

int32_t errorCodeOf(cudaError_t error) {
  switch (error) {
    case cudaErrorMemoryAllocation:
      return SY_ERROR_OUT_OF_MEMORY;
    case cudaErrorInvalidValue:
      return SY_ERROR_INVALID_ARGUMENT;
    default:
      return SY_ERROR_DEVICE;
  }
}

void checkCuda(cudaError_t error, const char* call) {
  if (error == cudaSuccess) return;
  cudaGetLastError();  // a non-sticky error must not leak into the next check
  sdk::fail(errorCodeOf(error), call, ": ", cudaGetErrorName(error), ": ", cudaGetErrorString(error));
}

std::string probeDevices(int& out_count) {
  out_count = 0;
  // The static runtime opens the driver itself; look first so that its
  // absence gets the name of the missing library instead of "insufficient
  // driver". RTLD_NOLOAD would miss a driver not loaded yet: open and keep it
  // (the runtime opens the same library a moment later).
  if (void* driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL); driver == nullptr) {
    const char* why = dlerror();
    return sdk::format("no CUDA driver: libcuda.so.1 not found (", why != nullptr ? why : "dlopen failed", ")");
  }
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e == cudaErrorNoDevice || (e == cudaSuccess && count == 0)) {
    cudaGetLastError();
    return "cudaGetDeviceCount: no CUDA-capable device";
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    return sdk::format("cudaGetDeviceCount: ", cudaGetErrorName(e), ": ", cudaGetErrorString(e));
  }
  out_count = count;
  return "";
}

uint64_t hashText(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace sy_cuda
