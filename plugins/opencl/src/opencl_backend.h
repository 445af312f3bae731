// Shared declarations of the OpenCL backend plugin: error handling, RAII
// handles, the per-device context with its program cache, buffers, and the
// backend. See ../README.md for the design.
#pragma once

#include <CL/cl.h>

#include <switchyard/plugin.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace sy_opencl {

namespace sdk = sy::sdk;

/// "CL_OUT_OF_RESOURCES" for an OpenCL error code.
const char* clErrorName(cl_int code);

/// Throws sdk::Error(SY_ERROR_DEVICE, "<call>: <CL error name>") unless code is CL_SUCCESS.
void checkCl(cl_int code, const char* call);

/// Owns one reference to a cl_mem / cl_kernel / cl_program / ... (RAII).
template <class T, cl_int (*Release)(T)>
class ClHandle {
 public:
  ClHandle() = default;
  explicit ClHandle(T h) : h_(h) {}
  ClHandle(const ClHandle&) = delete;
  ClHandle& operator=(const ClHandle&) = delete;
  ClHandle(ClHandle&& o) noexcept : h_(o.h_) { o.h_ = nullptr; }
  ClHandle& operator=(ClHandle&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = o.h_;
      o.h_ = nullptr;
    }
    return *this;
  }
  ~ClHandle() { reset(); }
  void reset() {
    if (h_ != nullptr) Release(h_);
    h_ = nullptr;
  }
  T get() const { return h_; }

 private:
  T h_ = nullptr;
};
using Mem = ClHandle<cl_mem, clReleaseMemObject>;
using Kernel = ClHandle<cl_kernel, clReleaseKernel>;
using Program = ClHandle<cl_program, clReleaseProgram>;
using Queue = ClHandle<cl_command_queue, clReleaseCommandQueue>;
using Context = ClHandle<cl_context, clReleaseContext>;

/// One OpenCL device with its context and its program cache. Shared by every
/// backend on the device (Note [Program cache] in cl_util.cpp).
class Device {
 public:
  Device(cl_platform_id platform, cl_device_id device);
  cl_device_id id() const { return device_; }
  cl_context context();  ///< made on first use
  /// A built program for `source` with `options`, from the cache when this
  /// (device, source, options) was built before. A build failure throws with the log.
  cl_program program(const std::string& source, const std::string& options);
  /// Work-group edge for the tiled matmul (16, or less on small devices).
  int matmulTile() const { return matmulTile_; }
  /// CL_DEVICE_MAX_WORK_GROUP_SIZE.
  size_t maxWorkGroup() const { return maxWorkGroup_; }
  /// CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT (at least 1).
  int preferredVectorFloat() const { return preferredVectorFloat_; }
  /// CL_DEVICE_LOCAL_MEM_SIZE in bytes.
  uint64_t localMemBytes() const { return localMemBytes_; }
  /// The default work-group size of the row kernels (layer/instance norm):
  /// the largest power of two <= min(256, max work-group size) whose local
  /// scratch fits the device's local memory.
  size_t defaultRowWorkGroup() const;
  /// Releases the context and every cached program (plugin shutdown).
  void releaseAll();

  std::string name;
  int32_t type = SY_DEVICE_CPU;
  uint64_t memoryBytes = 0;
  int32_t score = 0;

 private:
  cl_platform_id platform_;
  cl_device_id device_;
  int matmulTile_ = 16;
  size_t maxWorkGroup_ = 1;
  int preferredVectorFloat_ = 1;
  uint64_t localMemBytes_ = 0;
  std::mutex mutex_;
  Context context_;
  std::map<std::tuple<size_t, std::string, std::string>, std::pair<std::string, Program>> programs_;
};

/// Device memory (a cl_mem). size 0 has no cl_mem.
class ClBuffer final : public sdk::Buffer {
 public:
  ClBuffer(cl_context context, cl_command_queue queue, size_t bytes);
  size_t size() const override { return size_; }
  void write(size_t offset, const void* src, size_t bytes) override;
  void read(size_t offset, void* dst, size_t bytes) const override;
  cl_mem mem() const { return mem_.get(); }

 private:
  cl_command_queue queue_;
  size_t size_;
  Mem mem_;
};

/// Backend options (README "Options"), already validated.
struct BackendOptions {
  size_t workGroupSize = 0;       ///< work_group_size; 0 = per device default
  std::string extraBuildOptions;  ///< build_options, appended to every clBuildProgram
};

/// A backend: one device and one in-order command queue.
class OpenClBackend final : public sdk::Backend {
 public:
  OpenClBackend(Device& device, BackendOptions options);
  void querySupport(const sdk::GraphView& graph, std::vector<sdk::NodeSupport>& support) override;
  std::unique_ptr<sdk::CompiledRegion> compile(const sdk::GraphView& region) override;
  std::unique_ptr<sdk::Buffer> allocate(size_t bytes) override;
  std::unique_ptr<ClBuffer> allocateCl(size_t bytes);

  Device& device() { return device_; }
  cl_command_queue queue() const { return queue_.get(); }
  /// The device's context (taken once: Device::context() shares a mutex with
  /// program builds, which take about a second).
  cl_context context() const { return context_; }
  /// Work-group size of the row kernels (SY_WG), a power of two.
  size_t rowWorkGroup() const { return rowWorkGroup_; }
  /// Local size of 1-D launches: work_group_size when given, else 0 (the driver picks).
  size_t launchWorkGroup() const { return options_.workGroupSize; }
  /// clBuildProgram options for this backend's programs: the per-device
  /// defines (Note [Build options] in cl_util.cpp), then build_options.
  const std::string& buildOptions() const { return buildOptions_; }

 private:
  Device& device_;
  BackendOptions options_;
  size_t rowWorkGroup_ = 1;
  std::string buildOptions_;
  cl_context context_ = nullptr;  // owned by device_
  Queue queue_;
};

/// Why the backend cannot run `node` (its inputs' types and attributes
/// considered), or "" when it can. Defined in region.cpp.
std::string whyNot(const sdk::GraphView& graph, const sdk::NodeView& node);
/// Compiles a region (region.cpp).
std::unique_ptr<sdk::CompiledRegion> compileRegion(OpenClBackend& backend, const sdk::GraphView& region);

}  // namespace sy_opencl
