// Error handling shared by every file of the CUDA plugin: a failed CUDA,
// cuBLASLt, cuDNN or NVRTC call becomes sdk::Error naming the call and the
// library's own error name and text, and an out-of-memory is always
// SY_ERROR_OUT_OF_MEMORY. Nothing here aborts.
#pragma once

#include <cuda_runtime_api.h>

#include <switchyard/plugin.hpp>

#include <cstdint>
#include <string>

namespace sy_cuda {

namespace sdk = sy::sdk;

/// The sy_error_code of a CUDA runtime error (memory errors -> OUT_OF_MEMORY,
/// everything else -> DEVICE).
int32_t errorCodeOf(cudaError_t error);

/// Throws sdk::Error("<call>: <cudaErrorName>: <text>") unless error is
/// cudaSuccess. Clears the runtime's sticky last error first.
void checkCuda(cudaError_t error, const char* call);

/// Why this process cannot use CUDA devices, or "" when it can and
/// `out_count` holds the number of devices. The wording is the one the
/// README promises: "no CUDA driver: libcuda.so.1 not found (...)",
/// "cudaGetDeviceCount: no CUDA-capable device", or the call's error.
std::string probeDevices(int& out_count);

/// 64-bit FNV-1a of `text` (the NVRTC program cache key).
uint64_t hashText(const std::string& text);

}  // namespace sy_cuda
