// The plugin: one Vulkan instance (with the validation layer when
// SY_VULKAN_VALIDATION=1), one Switchyard device per physical device with a
// compute queue, and backends with their options. Also exports the
// plugin-specific `sy_vulkan_get_stats` (vulkan_stats.h).
#include <cstdlib>
#include <cstring>

#include "vk_backend.h"

namespace sy_vulkan {
namespace {

bool envFlag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && (std::strcmp(v, "1") == 0 || std::strcmp(v, "true") == 0 || std::strcmp(v, "on") == 0 ||
                          std::strcmp(v, "yes") == 0);
}

class VulkanPlugin : public sdk::Plugin {
 public:
  VulkanPlugin() : Plugin("vulkan", "0.1.0", "Switchyard") {}

  // No loader or no driver is zero devices, not a failure: the host lists
  // the plugin and the tests skip.
  size_t deviceCount() override { return devices().size(); }

  sdk::DeviceInfo deviceInfo(size_t device) override {
    const Device& d = devices().at(device);
    sdk::DeviceInfo info;
    info.name = d.info.name;
    info.type = d.info.type;
    info.memoryBytes = d.info.memoryBytes;
    info.score = d.info.score;
    info.hostVisibleMemory = d.info.unifiedMemory;
    return info;
  }

  std::unique_ptr<sdk::Backend> createBackend(size_t device, const sdk::Options& options) override {
    BackendOptions o;
    o.validation = options.getBool("validation", false) || envFlag("SY_VULKAN_VALIDATION");
    o.forceStaging = options.getBool("staging", false);
    o.pipelineCachePath = options.getString("pipeline_cache", "");
    const int64_t blockMb = options.getInt("block_mb", 64);
    sdk::require(blockMb >= 1 && blockMb <= 4096, SY_ERROR_INVALID_ARGUMENT, "option 'block_mb': ", blockMb,
                 " is not in [1, 4096]");
    o.blockBytes = static_cast<uint64_t>(blockMb) << 20;
    o.workGroupSize = options.getInt("work_group_size", 0);
    o.matmulTile = options.getInt("matmul_tile", 0);
    sdk::require(o.workGroupSize >= 0 && o.matmulTile >= 0, SY_ERROR_INVALID_ARGUMENT,
                 "work_group_size and matmul_tile must not be negative");

    const Device& d = devices().at(device);
    std::shared_ptr<Instance> instance = instance_;
    VkPhysicalDevice physical = d.physical;
    if (o.validation && !instance_->validationActive()) {
      // The validation layer is an instance layer: this backend gets its own
      // instance with it, and finds the same device there by UUID.
      instance = std::make_shared<Instance>(true);
      physical = VK_NULL_HANDLE;
      for (VkPhysicalDevice p : instance->devices()) {
        if (std::memcmp(describe(p).uuid, d.info.uuid, VK_UUID_SIZE) == 0) physical = p;
      }
      sdk::require(physical != VK_NULL_HANDLE, SY_ERROR_DEVICE, "device '", d.info.name,
                   "' is not listed by the instance with the validation layer");
    }
    return std::make_unique<VulkanBackend>(std::move(instance), physical, o);
  }

  void shutdown() override {
    std::lock_guard<std::mutex> lock(mutex_);
    devices_.clear();
    instance_.reset();
    enumerated_ = false;
  }

 private:
  struct Device {
    VkPhysicalDevice physical;
    PhysicalInfo info;
  };

  std::vector<Device>& devices() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (enumerated_) return devices_;
    try {
      instance_ = std::make_shared<Instance>(envFlag("SY_VULKAN_VALIDATION"));
    } catch (const sdk::Error&) {
      // VK_ERROR_INCOMPATIBLE_DRIVER (no ICD) and friends: no devices.
      instance_.reset();
      enumerated_ = true;
      return devices_;
    }
    for (VkPhysicalDevice p : instance_->devices()) devices_.push_back(Device{p, describe(p)});
    enumerated_ = true;
    return devices_;
  }

  std::mutex mutex_;
  bool enumerated_ = false;
  std::shared_ptr<Instance> instance_;
  std::vector<Device> devices_;
};

}  // namespace
}  // namespace sy_vulkan

SY_DEFINE_PLUGIN(sy_vulkan::VulkanPlugin)

extern "C" SY_PLUGIN_EXPORT void sy_vulkan_get_stats(sy_vulkan_stats* out) {
  if (out == nullptr || out->struct_size < sizeof(sy_vulkan_stats)) return;
  sy_vulkan::GlobalStats& s = sy_vulkan::stats();
  out->validation_messages = s.validationMessages;
  out->validation_errors = s.validationErrors;
  out->pipelines_created = s.pipelinesCreated;
  out->pipeline_cache_hits = s.pipelineCacheHits;
  out->pipeline_cache_bytes_loaded = s.pipelineCacheBytesLoaded;
  out->pipeline_cache_bytes_saved = s.pipelineCacheBytesSaved;
  out->submits = s.submits;
  out->device_allocations = s.deviceAllocations;
  out->validation_active = s.validationActive;
  std::lock_guard<std::mutex> lock(s.mutex);
  std::strncpy(out->last_validation_message, s.lastValidationMessage.c_str(), sizeof(out->last_validation_message) - 1);
  out->last_validation_message[sizeof(out->last_validation_message) - 1] = '\0';
}
