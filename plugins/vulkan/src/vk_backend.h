// Shared declarations of the Vulkan backend plugin: errors, the instance, a
// backend's device context (queue, pipelines and their cache, execution
// contexts), memory (block sub-allocator, buffers, staging) and the backend.
// See ../README.md for the design.
#pragma once

#include <vulkan/vulkan.h>

#include <switchyard/plugin.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "vulkan_stats.h"

namespace sy_vulkan {

namespace sdk = sy::sdk;
using Dims = std::vector<int64_t>;

/// "VK_ERROR_DEVICE_LOST" for a VkResult.
const char* vkResultName(VkResult result);
/// Throws sdk::Error("<call>: <VkResult name>") unless result is VK_SUCCESS
/// (out-of-memory results as SY_ERROR_OUT_OF_MEMORY, the rest SY_ERROR_DEVICE).
void checkVk(VkResult result, const char* call);

/// Process-wide counters, read by tests through sy_vulkan_get_stats.
struct GlobalStats {
  std::atomic<uint64_t> validationMessages{0};
  std::atomic<uint64_t> validationErrors{0};
  std::atomic<uint64_t> pipelinesCreated{0};
  std::atomic<uint64_t> pipelineCacheHits{0};
  std::atomic<uint64_t> pipelineCacheBytesLoaded{0};
  std::atomic<uint64_t> pipelineCacheBytesSaved{0};
  std::atomic<uint64_t> submits{0};
  std::atomic<uint64_t> deviceAllocations{0};
  std::atomic<int32_t> validationActive{0};
  std::mutex mutex;
  std::string lastValidationMessage;
};
GlobalStats& stats();

/// A VkInstance, optionally with VK_LAYER_KHRONOS_validation and a
/// debug-utils messenger that counts (and prints) every message.
class Instance {
 public:
  /// Throws when vkCreateInstance fails. `validation` is honoured only when
  /// the layer is installed (validationActive() says whether it is on).
  explicit Instance(bool validation);
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  VkInstance get() const { return instance_; }
  bool validationActive() const { return messenger_ != VK_NULL_HANDLE; }
  /// Physical devices with a compute queue, in enumeration order.
  const std::vector<VkPhysicalDevice>& devices() const { return devices_; }

 private:
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  std::vector<VkPhysicalDevice> devices_;
};

/// What the plugin reports for one physical device.
struct PhysicalInfo {
  std::string name;
  int32_t type = SY_DEVICE_GPU;
  uint64_t memoryBytes = 0;
  int32_t score = 0;
  bool unifiedMemory = false;  ///< a device-local heap that is also host visible and coherent
  uint8_t uuid[VK_UUID_SIZE] = {};
};
PhysicalInfo describe(VkPhysicalDevice device);
/// Why the plugin cannot use this device ("" when it can).
std::string whyUnusable(VkPhysicalDevice device);

/// Backend options (see README "Options").
struct BackendOptions {
  bool validation = false;
  bool forceStaging = false;        ///< never map device memory (tests the staging path)
  std::string pipelineCachePath;    ///< "" = the default file, "off" = no file
  uint64_t blockBytes = 64ull << 20;
  int64_t workGroupSize = 0;        ///< 0 = chosen per device
  int64_t matmulTile = 0;           ///< 0 = chosen per device
};

class DeviceContext;
struct Block;

/// One sub-allocation: a range of a block's VkBuffer.
struct Allocation {
  Block* block = nullptr;
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceSize offset = 0;
  VkDeviceSize size = 0;   ///< bytes reserved (rounded up to the alignment)
  std::byte* mapped = nullptr;  ///< host address of offset, when the memory is mapped
  bool valid() const { return block != nullptr; }
};

/// A few large VkDeviceMemory blocks, each with one VkBuffer over all of it,
/// handed out in aligned ranges (first fit, neighbours merged on free).
/// Requests above half a block get a block of their own. Thread-safe.
class Arena {
 public:
  Arena(DeviceContext& context, uint32_t memoryType, bool map, VkDeviceSize blockBytes, VkDeviceSize alignment,
        const char* what);
  ~Arena();
  Allocation allocate(VkDeviceSize bytes);
  void free(const Allocation& a);
  bool mapped() const { return map_; }
  size_t blockCount() const;

 private:
  DeviceContext& context_;
  uint32_t memoryType_;
  bool map_;
  VkDeviceSize blockBytes_, alignment_;
  const char* what_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Block>> blocks_;
};

/// Shader ids (one SPIR-V module each).
enum class Shader { Eltwise, Matmul, Conv2d, Pool2d, Reduce, RowNorm, Copy, Gather, Count };

/// Number of data slots (descriptor bindings 0..11) and the metadata binding.
constexpr uint32_t kSlots = 12;
constexpr uint32_t kMetaBinding = 12;

/// Per-call command buffer, fence and descriptor pool, reused from a pool.
struct ExecContext {
  VkCommandPool pool = VK_NULL_HANDLE;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  VkFence fence = VK_NULL_HANDLE;
  VkDescriptorPool descriptors = VK_NULL_HANDLE;
  uint32_t descriptorCapacity = 0;  ///< sets the pool holds
};

/// A backend's logical device: queue, memory, pipelines, pipeline cache.
class DeviceContext {
 public:
  DeviceContext(std::shared_ptr<Instance> instance, VkPhysicalDevice physical, const BackendOptions& options);
  ~DeviceContext();
  DeviceContext(const DeviceContext&) = delete;
  DeviceContext& operator=(const DeviceContext&) = delete;

  VkDevice device() const { return device_; }
  VkPhysicalDevice physical() const { return physical_; }
  const VkPhysicalDeviceProperties& properties() const { return properties_; }
  const PhysicalInfo& info() const { return info_; }
  bool hostVisible() const { return deviceArena_->mapped(); }
  Arena& deviceArena() { return *deviceArena_; }
  Arena& hostArena() { return *hostArena_; }
  VkPipelineLayout pipelineLayout() const { return pipelineLayout_; }
  VkDescriptorSetLayout setLayout() const { return setLayout_; }
  /// A tiny buffer bound to the slots a dispatch leaves unused.
  const Allocation& dummy() const { return dummy_; }
  uint32_t workGroupSize() const { return workGroupSize_; }
  uint32_t matmulTile() const { return matmulTile_; }
  const std::string& pipelineCachePath() const { return cachePath_; }
  /// maxMemoryAllocationSize (VkPhysicalDeviceMaintenance3Properties): the
  /// largest buffer this context hands out.
  VkDeviceSize maxAllocation() const { return maxAllocation_; }
  /// maxStorageBufferRange: the largest tensor a dispatch can bind.
  VkDeviceSize maxBinding() const { return properties_.limits.maxStorageBufferRange; }

  /// The compute pipeline of `shader` with its specialization constants
  /// (from this context's map, else created through the VkPipelineCache).
  VkPipeline pipeline(Shader shader, const std::vector<uint32_t>& spec);

  /// Submits `cmd` under the queue mutex and waits for `fence`.
  void submitAndWait(VkCommandBuffer cmd, VkFence fence, const char* what);

  /// An execution context from the pool (made when the pool is empty).
  std::unique_ptr<ExecContext> acquireExec();
  void releaseExec(std::unique_ptr<ExecContext> exec);
  /// Destroys a context whose last use failed (its state is unknown).
  void discardExec(std::unique_ptr<ExecContext> exec);

  /// Copies between host memory and an allocation through a staging buffer
  /// (for memory that is not mapped).
  void upload(const Allocation& dst, VkDeviceSize offset, const void* src, size_t bytes);
  void download(const Allocation& src, VkDeviceSize offset, void* dst, size_t bytes);

  /// Writes the pipeline cache file (atomically; failures are ignored).
  void savePipelineCache();

 private:
  void create(const BackendOptions& options);
  void destroy(bool saveCache) noexcept;

  std::shared_ptr<Instance> instance_;
  VkPhysicalDevice physical_;
  VkDeviceSize maxAllocation_ = VkDeviceSize{1} << 31;
  VkPhysicalDeviceProperties properties_{};
  PhysicalInfo info_;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queueFamily_ = 0;
  bool creationFeedback_ = false;
  std::mutex queueMutex_;
  VkDescriptorSetLayout setLayout_ = VK_NULL_HANDLE;
  VkPipelineLayout pipelineLayout_ = VK_NULL_HANDLE;
  VkPipelineCache cache_ = VK_NULL_HANDLE;
  std::string cachePath_;
  std::mutex pipelineMutex_;
  std::map<std::pair<int, std::vector<uint32_t>>, VkPipeline> pipelines_;
  VkShaderModule modules_[static_cast<int>(Shader::Count)] = {};
  std::unique_ptr<Arena> deviceArena_, hostArena_;
  Allocation dummy_;
  uint32_t workGroupSize_ = 64, matmulTile_ = 16;
  std::mutex execMutex_;
  std::vector<std::unique_ptr<ExecContext>> execPool_;
  std::mutex stagingMutex_;
  ExecContext staging_;
  Allocation stagingBuffer_;
};

/// Device memory of a backend: one sub-allocation. Size 0 reserves nothing.
class VkBuf final : public sdk::Buffer {
 public:
  VkBuf(DeviceContext& context, size_t bytes);
  /// Takes over `allocation` (made by context.deviceArena()).
  VkBuf(DeviceContext& context, size_t bytes, Allocation allocation)
      : context_(context), size_(bytes), alloc_(allocation) {}
  ~VkBuf() override;
  size_t size() const override { return size_; }
  void write(size_t offset, const void* src, size_t bytes) override;
  void read(size_t offset, void* dst, size_t bytes) const override;
  void* hostPointer() const override { return alloc_.mapped; }
  const Allocation& allocation() const { return alloc_; }

 private:
  DeviceContext& context_;
  size_t size_;
  Allocation alloc_;
};

/// A backend on one device.
class VulkanBackend final : public sdk::Backend {
 public:
  VulkanBackend(std::shared_ptr<Instance> instance, VkPhysicalDevice physical, const BackendOptions& options);
  ~VulkanBackend() override;
  void querySupport(const sdk::GraphView& graph, std::vector<sdk::NodeSupport>& support) override;
  std::unique_ptr<sdk::CompiledRegion> compile(const sdk::GraphView& region) override;
  std::unique_ptr<sdk::Buffer> allocate(size_t bytes) override;
  std::unique_ptr<VkBuf> allocateVk(size_t bytes);
  DeviceContext& context() { return *context_; }

 private:
  std::unique_ptr<DeviceContext> context_;
};

/// Why the backend cannot run `node` ("" when it can). ops.cpp.
std::string whyNot(const sdk::GraphView& graph, const sdk::NodeView& node);
/// Estimated seconds for one run of a supported node. ops.cpp.
double estimateCost(const sdk::NodeView& node, const DeviceContext& context);
/// Compiles a region. region.cpp.
std::unique_ptr<sdk::CompiledRegion> compileRegion(VulkanBackend& backend, const sdk::GraphView& region);

// Helpers shared by ops.cpp and region.cpp.
bool isEltwise(std::string_view op);
bool isView(std::string_view op);
/// The constant integer data of `v` (a shape / axes / starts input), if known at compile time.
std::optional<Dims> constantInts(const sdk::GraphView& graph, const sdk::ValueView& v);
/// The op's eltwise opcode (eltwise.comp), or -1.
int eltwiseOpcode(std::string_view op);

}  // namespace sy_vulkan
