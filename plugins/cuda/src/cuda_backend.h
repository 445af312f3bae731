// The CUDA plugin's device-side objects: devices, buffers, per-stream
// execution contexts, the backend, and the NVRTC kernel cache. See
// ../README.md for the design.
#pragma once

#include <cuda_runtime_api.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cuda_util.h"
#include "libraries.h"

namespace sy_cuda {

/// What the plugin learned about one device at init.
struct DeviceInfo {
  int ordinal = 0;
  std::string name;        ///< cudaDeviceProp::name, as the driver names it
  uint64_t memoryBytes = 0;
  int major = 0, minor = 0;
  int smCount = 1;
  bool memoryPools = false;  ///< cudaDevAttrMemoryPoolsSupported
};

/// Makes `ordinal` the calling thread's current device for a scope.
class DeviceScope {
 public:
  explicit DeviceScope(int ordinal);
  ~DeviceScope();
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = -1;
};

class CudaBackend;

/// Device memory from the stream-ordered pool (cudaMallocAsync). Size 0
/// holds no memory.
class CudaBuffer final : public sdk::Buffer {
 public:
  /// `bytes` from the pool, allocated on the backend's buffer stream and
  /// synchronised (usable on any stream at once).
  CudaBuffer(CudaBackend& backend, size_t bytes);
  /// `bytes` allocated stream-ordered on `stream` (an execute's outputs: the
  /// call synchronises that stream before the host sees the buffer).
  CudaBuffer(CudaBackend& backend, size_t bytes, cudaStream_t stream);
  ~CudaBuffer() override;
  size_t size() const override { return size_; }
  void write(size_t offset, const void* src, size_t bytes) override;
  void read(size_t offset, void* dst, size_t bytes) const override;
  void* data() const { return data_; }

 private:
  CudaBackend& backend_;
  size_t size_;
  void* data_ = nullptr;
};

/// One CUDA stream with what a call running on it needs: a cuBLASLt handle,
/// a cuDNN handle (made on first use), a workspace, a pinned staging buffer
/// for host transfers, the memory-plan arena, the device error flag, and the
/// CUDA graphs captured on this stream (Note [Execute] in region.cpp).
/// Used by one thread at a time (leased from the backend's pool).
struct ExecContext {
  explicit ExecContext(const DeviceInfo& device);
  ~ExecContext();
  ExecContext(const ExecContext&) = delete;
  ExecContext& operator=(const ExecContext&) = delete;

  /// Synchronises the stream; throws with the call's name on a failure.
  void synchronize(const char* what);
  /// At least `bytes` of workspace (grows; the old block is freed stream-ordered).
  void* workspace(size_t bytes);
  /// The arena of at least `bytes`; growing it drops every captured graph
  /// (they point into the old arena).
  void* arena(size_t bytes);
  cudnnHandle_t dnn();

  const DeviceInfo& device;
  cudaStream_t stream = nullptr;
  cublasLtHandle_t lt = nullptr;
  cudnnHandle_t dnn_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspaceBytes_ = 0;
  void* arena_ = nullptr;
  size_t arenaBytes_ = 0;
  void* pinned = nullptr;  ///< kStagingBytes of page-locked host memory
  int32_t* errorFlag = nullptr;  ///< one int of device memory, zeroed before each run that uses it
  /// Captured graphs: (region id, shape key) -> executable graph.
  std::mutex graphsMutex;
  std::map<std::pair<uint64_t, std::string>, cudaGraphExec_t> graphs;
  void dropGraphs(uint64_t regionId);  ///< all of one region (region destroyed)
  void dropAllGraphs();

  static constexpr size_t kStagingBytes = size_t{4} << 20;

 private:
  void release();
};

/// Backend options (README "Options"), validated.
struct BackendOptions {
  bool cudaGraphs = true;       ///< cuda_graphs
  bool tf32 = false;            ///< allow_tf32: f32 GEMMs/convs on TF32 tensor cores
  size_t workspaceBytes = size_t{32} << 20;  ///< cublaslt_workspace_mb
};

/// A backend: one device, a pool of execution contexts (one stream each;
/// concurrent callers each lease their own), and the device's memory pool.
class CudaBackend final : public sdk::Backend {
 public:
  CudaBackend(const DeviceInfo& device, BackendOptions options);
  ~CudaBackend() override;
  void querySupport(const sdk::GraphView& graph, std::vector<sdk::NodeSupport>& support) override;
  std::unique_ptr<sdk::CompiledRegion> compile(const sdk::GraphView& region) override;
  std::unique_ptr<sdk::Buffer> allocate(size_t bytes) override;

  const DeviceInfo& device() const { return device_; }
  const BackendOptions& options() const { return options_; }

  /// An execution context for the calling thread; returned on destruction.
  class Lease {
   public:
    explicit Lease(CudaBackend& backend);
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ExecContext& operator*() const { return *context_; }
    ExecContext* operator->() const { return context_.get(); }

   private:
    CudaBackend& backend_;
    std::unique_ptr<ExecContext> context_;
  };

  /// Drops one region's graphs from every idle context (region destroyed;
  /// no execute of it is in flight then).
  void dropGraphs(uint64_t regionId);
  /// A device pointer from the pool, freed with release (both stream-ordered
  /// on `stream`).
  void* acquire(size_t bytes, cudaStream_t stream);
  void release(void* p, cudaStream_t stream);
  /// The stream that allocates and frees the buffers the host owns (never
  /// used for kernels; allocations on it are synchronised before use).
  cudaStream_t bufferStream() const { return bufferStream_; }

 private:
  friend class Lease;
  DeviceInfo device_;
  BackendOptions options_;
  cudaStream_t bufferStream_ = nullptr;
  std::mutex mutex_;
  std::vector<std::unique_ptr<ExecContext>> idle_;
};

/// A kernel built by NVRTC and loaded (cudaLibraryLoadData); process-wide,
/// keyed by the hash of (target, source) (Note [Kernel cache] in backend.cpp).
struct FusedKernel {
  cudaKernel_t flat = nullptr;
  cudaKernel_t strided = nullptr;
  std::string target;
};
const FusedKernel& fusedKernel(const DeviceInfo& device, const std::string& source);
/// Number of NVRTC compiles so far (a test hook, also in the README).
size_t nvrtcCompileCount();

/// Compiles a region (region.cpp).
std::unique_ptr<sdk::CompiledRegion> compileRegion(CudaBackend& backend, const sdk::GraphView& region);

}  // namespace sy_cuda
