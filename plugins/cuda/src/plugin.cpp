// The plugin: finds the CUDA devices at init and makes backends.
#include "cuda_backend.h"

namespace sy_cuda {
namespace {

class CudaPlugin : public sdk::Plugin {
 public:
  CudaPlugin() : Plugin("cuda", "0.1.0", "Switchyard") {}

  // Note [No device]
  // Without a driver (libcuda.so.1 missing) or without a device, init fails
  // with the reason (SY_ERROR_DEVICE); the host then lists the plugin as not
  // loaded with that line, and every other plugin works as before. The
  // plugin itself always loads: the CUDA runtime is linked statically and
  // opens the driver only here.
  void init(const sdk::HostInfo&) override {
    std::lock_guard<std::mutex> lock(mutex_);
    int count = 0;
    const std::string why = probeDevices(count);
    if (!why.empty()) sdk::fail(SY_ERROR_DEVICE, why);
    devices_.clear();
    for (int i = 0; i < count; ++i) {
      cudaDeviceProp prop{};
      checkCuda(cudaGetDeviceProperties(&prop, i), "cudaGetDeviceProperties");
      DeviceInfo d;
      d.ordinal = i;
      d.name = prop.name;
      d.memoryBytes = prop.totalGlobalMem;
      d.major = prop.major;
      d.minor = prop.minor;
      d.smCount = prop.multiProcessorCount > 0 ? prop.multiProcessorCount : 1;
      int pools = 0;
      if (cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, i) == cudaSuccess) d.memoryPools = pools != 0;
      cudaGetLastError();
      devices_.push_back(std::move(d));
    }
  }

  size_t deviceCount() override {
    std::lock_guard<std::mutex> lock(mutex_);
    return devices_.size();
  }

  sdk::DeviceInfo deviceInfo(size_t device) override {
    std::lock_guard<std::mutex> lock(mutex_);
    const DeviceInfo& d = devices_.at(device);
    sdk::DeviceInfo info;
    info.name = d.name;
    info.type = SY_DEVICE_GPU;
    info.memoryBytes = d.memoryBytes;
    info.score = 300;
    info.hostVisibleMemory = false;
    return info;
  }

  // Options (README "Options"): cuda_graphs, allow_tf32, workspace_mb.
  std::unique_ptr<sdk::Backend> createBackend(size_t device, const sdk::Options& options) override {
    DeviceInfo d;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      d = devices_.at(device);
    }
    BackendOptions o;
    o.cudaGraphs = options.getBool("cuda_graphs", true);
    o.tf32 = options.getBool("allow_tf32", false);
    const int64_t mb = options.getInt("workspace_mb", 32);
    sdk::require(mb >= 0 && mb <= 4096, SY_ERROR_INVALID_ARGUMENT, "option 'workspace_mb': expected 0 to 4096, got ",
                 mb);
    o.workspaceBytes = static_cast<size_t>(mb) << 20;
    return std::make_unique<CudaBackend>(d, o);
  }

 private:
  std::mutex mutex_;
  std::vector<DeviceInfo> devices_;
};

}  // namespace
}  // namespace sy_cuda

SY_DEFINE_PLUGIN(sy_cuda::CudaPlugin)
