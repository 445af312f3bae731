// Memory: the block sub-allocator (Arena), buffers (VkBuf), staging copies
// for memory that is not mapped, and the backend's buffer entries.
#include <algorithm>
#include <cstring>
#include <limits>

#include "vk_backend.h"

namespace sy_vulkan {

/// One VkDeviceMemory with one VkBuffer over all of it, and its free ranges.
struct Block {
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkBuffer buffer = VK_NULL_HANDLE;
  std::byte* mapped = nullptr;
  VkDeviceSize size = 0;
  bool dedicated = false;                    // made for one large request
  std::map<VkDeviceSize, VkDeviceSize> free;  // offset -> size
  size_t live = 0;                           // allocations handed out
};

namespace {

VkDeviceSize roundUp(VkDeviceSize v, VkDeviceSize a) { return (v + a - 1) / a * a; }

}  // namespace

Arena::Arena(DeviceContext& context, uint32_t memoryType, bool map, VkDeviceSize blockBytes, VkDeviceSize alignment,
             const char* what)
    : context_(context), memoryType_(memoryType), map_(map), blockBytes_(blockBytes), alignment_(alignment),
      what_(what) {}

Arena::~Arena() {
  VkDevice device = context_.device();
  for (auto& b : blocks_) {
    if (b->mapped != nullptr) vkUnmapMemory(device, b->memory);
    vkDestroyBuffer(device, b->buffer, nullptr);
    vkFreeMemory(device, b->memory, nullptr);
  }
}

size_t Arena::blockCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return blocks_.size();
}

Allocation Arena::allocate(VkDeviceSize bytes) {
  // Rounding a size near 2^64 up to the alignment would wrap to a tiny one.
  sdk::require(bytes <= std::numeric_limits<VkDeviceSize>::max() / 2, SY_ERROR_OUT_OF_MEMORY, "cannot allocate ",
               bytes, " bytes of ", what_, " memory");
  const VkDeviceSize size = roundUp(std::max<VkDeviceSize>(bytes, 4), alignment_);
  std::lock_guard<std::mutex> lock(mutex_);
  auto take = [&](Block& b) -> std::optional<Allocation> {
    for (auto it = b.free.begin(); it != b.free.end(); ++it) {
      if (it->second < size) continue;
      const VkDeviceSize offset = it->first, left = it->second - size;
      b.free.erase(it);
      if (left > 0) b.free[offset + size] = left;
      ++b.live;
      return Allocation{&b, b.buffer, offset, size, b.mapped != nullptr ? b.mapped + offset : nullptr};
    }
    return std::nullopt;
  };
  const bool large = size > blockBytes_ / 2;
  if (!large) {
    for (auto& b : blocks_) {
      if (b->dedicated) continue;
      if (auto a = take(*b)) return *a;
    }
  }
  // A new block: the usual size, or exactly the request for a large one.
  VkDevice device = context_.device();
  auto block = std::make_unique<Block>();
  block->size = large ? size : blockBytes_;
  block->dedicated = large;
  VkBufferCreateInfo bufferInfo{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bufferInfo.size = block->size;
  bufferInfo.usage =
      VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  bufferInfo.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  checkVk(vkCreateBuffer(device, &bufferInfo, nullptr, &block->buffer), "vkCreateBuffer");
  VkMemoryRequirements req{};
  vkGetBufferMemoryRequirements(device, block->buffer, &req);
  if (!(req.memoryTypeBits & (1u << memoryType_))) {
    vkDestroyBuffer(device, block->buffer, nullptr);
    sdk::fail(SY_ERROR_DEVICE, "the ", what_, " memory type cannot hold storage buffers");
  }
  VkMemoryAllocateInfo allocInfo{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  allocInfo.allocationSize = req.size;
  allocInfo.memoryTypeIndex = memoryType_;
  VkResult r = vkAllocateMemory(device, &allocInfo, nullptr, &block->memory);
  if (r != VK_SUCCESS) {
    vkDestroyBuffer(device, block->buffer, nullptr);
    sdk::fail(SY_ERROR_OUT_OF_MEMORY, "vkAllocateMemory (", req.size, " bytes of ", what_, " memory): ",
              vkResultName(r));
  }
  ++stats().deviceAllocations;
  r = vkBindBufferMemory(device, block->buffer, block->memory, 0);
  if (r == VK_SUCCESS && map_) {
    void* p = nullptr;
    r = vkMapMemory(device, block->memory, 0, VK_WHOLE_SIZE, 0, &p);
    block->mapped = static_cast<std::byte*>(p);
  }
  if (r != VK_SUCCESS) {
    vkDestroyBuffer(device, block->buffer, nullptr);
    vkFreeMemory(device, block->memory, nullptr);
    checkVk(r, map_ ? "vkMapMemory" : "vkBindBufferMemory");
  }
  block->free[0] = block->size;
  Block& b = *block;
  blocks_.push_back(std::move(block));
  return *take(b);
}

void Arena::free(const Allocation& a) {
  if (!a.valid()) return;
  std::lock_guard<std::mutex> lock(mutex_);
  Block& b = *a.block;
  auto it = b.free.emplace(a.offset, a.size).first;
  // Merge with the following and the preceding free range.
  if (auto next = std::next(it); next != b.free.end() && it->first + it->second == next->first) {
    it->second += next->second;
    b.free.erase(next);
  }
  if (it != b.free.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second == it->first) {
      prev->second += it->second;
      b.free.erase(it);
    }
  }
  --b.live;
  // Give back empty dedicated blocks, and empty regular ones beyond the first.
  if (b.live == 0) {
    size_t regular = 0;
    for (auto& x : blocks_) regular += x->dedicated ? 0 : 1;
    if (b.dedicated || regular > 1) {
      VkDevice device = context_.device();
      if (b.mapped != nullptr) vkUnmapMemory(device, b.memory);
      vkDestroyBuffer(device, b.buffer, nullptr);
      vkFreeMemory(device, b.memory, nullptr);
      blocks_.erase(std::find_if(blocks_.begin(), blocks_.end(), [&](const auto& x) { return x.get() == &b; }));
    }
  }
}

// ============================================================================
// Staging

void DeviceContext::discardExec(std::unique_ptr<ExecContext> exec) {
  if (exec == nullptr) return;
  vkDeviceWaitIdle(device_);
  if (exec->descriptors != VK_NULL_HANDLE) vkDestroyDescriptorPool(device_, exec->descriptors, nullptr);
  if (exec->fence != VK_NULL_HANDLE) vkDestroyFence(device_, exec->fence, nullptr);
  if (exec->pool != VK_NULL_HANDLE) vkDestroyCommandPool(device_, exec->pool, nullptr);
}

namespace {
constexpr VkDeviceSize kStagingBytes = 8ull << 20;
}

// Note [Staging]: memory that is not mapped is reached through one staging
// buffer per device context (8 MiB, host visible), in chunks: copy into it,
// record one vkCmdCopyBuffer, submit and wait. Serialised by stagingMutex_.
void DeviceContext::upload(const Allocation& dst, VkDeviceSize offset, const void* src, size_t bytes) {
  std::lock_guard<std::mutex> lock(stagingMutex_);
  if (staging_.pool == VK_NULL_HANDLE) {
    auto e = acquireExec();
    staging_ = *e;
    e.reset();
  }
  if (!stagingBuffer_.valid()) stagingBuffer_ = hostArena_->allocate(kStagingBytes);
  for (size_t done = 0; done < bytes;) {
    const size_t n = std::min<size_t>(bytes - done, kStagingBytes);
    std::memcpy(stagingBuffer_.mapped, static_cast<const std::byte*>(src) + done, n);
    VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    checkVk(vkBeginCommandBuffer(staging_.cmd, &begin), "vkBeginCommandBuffer");
    VkBufferCopy region{stagingBuffer_.offset, dst.offset + offset + done, n};
    vkCmdCopyBuffer(staging_.cmd, stagingBuffer_.buffer, dst.buffer, 1, &region);
    checkVk(vkEndCommandBuffer(staging_.cmd), "vkEndCommandBuffer");
    submitAndWait(staging_.cmd, staging_.fence, "vkWaitForFences (upload)");
    done += n;
  }
}

void DeviceContext::download(const Allocation& src, VkDeviceSize offset, void* dst, size_t bytes) {
  std::lock_guard<std::mutex> lock(stagingMutex_);
  if (staging_.pool == VK_NULL_HANDLE) {
    auto e = acquireExec();
    staging_ = *e;
    e.reset();
  }
  if (!stagingBuffer_.valid()) stagingBuffer_ = hostArena_->allocate(kStagingBytes);
  for (size_t done = 0; done < bytes;) {
    const size_t n = std::min<size_t>(bytes - done, kStagingBytes);
    VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    checkVk(vkBeginCommandBuffer(staging_.cmd, &begin), "vkBeginCommandBuffer");
    VkBufferCopy region{src.offset + offset + done, stagingBuffer_.offset, n};
    vkCmdCopyBuffer(staging_.cmd, src.buffer, stagingBuffer_.buffer, 1, &region);
    VkMemoryBarrier toHost{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    toHost.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    toHost.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(staging_.cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &toHost, 0,
                         nullptr, 0, nullptr);
    checkVk(vkEndCommandBuffer(staging_.cmd), "vkEndCommandBuffer");
    submitAndWait(staging_.cmd, staging_.fence, "vkWaitForFences (download)");
    std::memcpy(static_cast<std::byte*>(dst) + done, stagingBuffer_.mapped, n);
    done += n;
  }
}

// ============================================================================
// Buffers

VkBuf::VkBuf(DeviceContext& context, size_t bytes) : context_(context), size_(bytes) {
  if (bytes == 0) return;
  alloc_ = context.deviceArena().allocate(bytes);
}

VkBuf::~VkBuf() { context_.deviceArena().free(alloc_); }

void VkBuf::write(size_t offset, const void* src, size_t bytes) {
  if (alloc_.mapped != nullptr) {
    std::memcpy(alloc_.mapped + offset, src, bytes);
  } else {
    context_.upload(alloc_, offset, src, bytes);
  }
}

void VkBuf::read(size_t offset, void* dst, size_t bytes) const {
  if (alloc_.mapped != nullptr) {
    std::memcpy(dst, alloc_.mapped + offset, bytes);
  } else {
    context_.download(alloc_, offset, dst, bytes);
  }
}

// ============================================================================
// Backend

VulkanBackend::VulkanBackend(std::shared_ptr<Instance> instance, VkPhysicalDevice physical,
                             const BackendOptions& options)
    : context_(std::make_unique<DeviceContext>(std::move(instance), physical, options)) {}

VulkanBackend::~VulkanBackend() = default;

std::unique_ptr<VkBuf> VulkanBackend::allocateVk(size_t bytes) {
  sdk::require(bytes <= context_->maxAllocation(), SY_ERROR_OUT_OF_MEMORY, "cannot allocate ", bytes,
               " bytes: the device's largest allocation (maxMemoryAllocationSize) is ", context_->maxAllocation());
  return std::make_unique<VkBuf>(*context_, bytes);
}

std::unique_ptr<sdk::Buffer> VulkanBackend::allocate(size_t bytes) { return allocateVk(bytes); }

namespace {

/// Why a node's tensors cannot be bound to a dispatch: a static tensor larger
/// than maxStorageBufferRange (shaders index 32-bit words through one
/// binding). "" when all fit (dims that are not static are checked at run time).
std::string tooLargeToBind(const sdk::NodeView& node, VkDeviceSize limit) {
  const std::string_view op = node.op();
  if (op == "constant" || op == "weight" || isView(op)) return "";  // never bound themselves
  auto check = [&](const sdk::ValueView& v) -> std::string {
    if (!v.isStatic() || sdk::dtypeSize(v.dtype()) == 0) return "";
    const double bytes = static_cast<double>(sdk::dtypeSize(v.dtype())) *
                         std::max<double>(1.0, [&] {
                           double n = 1;
                           for (int64_t d : v.dims()) n *= static_cast<double>(d);
                           return n;
                         }());
    if (bytes <= static_cast<double>(limit)) return "";
    return sdk::format("tensor ", v.typeString(), " is larger than the device's maxStorageBufferRange (", limit,
                       " bytes)");
  };
  for (size_t i = 0; i < node.numInputs(); ++i) {
    if (!node.hasInput(i)) continue;
    if (std::string r = check(node.input(i)); !r.empty()) return r;
  }
  for (size_t i = 0; i < node.numOutputs(); ++i) {
    if (std::string r = check(node.output(i)); !r.empty()) return r;
  }
  return "";
}

}  // namespace

void VulkanBackend::querySupport(const sdk::GraphView& graph, std::vector<sdk::NodeSupport>& support) {
  for (const sdk::NodeView node : graph.nodes()) {
    std::string reason = whyNot(graph, node);
    if (reason.empty()) reason = tooLargeToBind(node, context_->maxBinding());
    support[node.index()] =
        reason.empty() ? sdk::NodeSupport::yes(estimateCost(node, *context_)) : sdk::NodeSupport::no(reason);
  }
}

std::unique_ptr<sdk::CompiledRegion> VulkanBackend::compile(const sdk::GraphView& region) {
  return compileRegion(*this, region);
}

}  // namespace sy_vulkan
