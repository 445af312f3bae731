// Errors, the instance (validation layer, debug messenger), physical device
// descriptions, and a backend's device context: logical device and queue,
// the universal descriptor set / pipeline layout, pipelines through a
// VkPipelineCache that is saved to and reloaded from a file, and the pool of
// execution contexts.
#include <cstdio>
#include <dlfcn.h>
#include <link.h>
#include <set>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "conv2d_spv.h"
#include "copy_spv.h"
#include "eltwise_spv.h"
#include "gather_spv.h"
#include "matmul_spv.h"
#include "pool2d_spv.h"
#include "reduce_spv.h"
#include "rownorm_spv.h"
#include "vk_backend.h"

namespace sy_vulkan {

// Never destroyed: the debug messenger callback (also called from
// vkDestroyInstance) and the exported sy_vulkan_get_stats may run during
// static destruction, after a function-local static would be gone.
GlobalStats& stats() {
  static GlobalStats* s = new GlobalStats;
  return *s;
}

const char* vkResultName(VkResult r) {
  switch (r) {
#define SY_VK_NAME(x) case x: return #x;
    SY_VK_NAME(VK_SUCCESS)
    SY_VK_NAME(VK_NOT_READY)
    SY_VK_NAME(VK_TIMEOUT)
    SY_VK_NAME(VK_EVENT_SET)
    SY_VK_NAME(VK_EVENT_RESET)
    SY_VK_NAME(VK_INCOMPLETE)
    SY_VK_NAME(VK_ERROR_OUT_OF_HOST_MEMORY)
    SY_VK_NAME(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    SY_VK_NAME(VK_ERROR_INITIALIZATION_FAILED)
    SY_VK_NAME(VK_ERROR_DEVICE_LOST)
    SY_VK_NAME(VK_ERROR_MEMORY_MAP_FAILED)
    SY_VK_NAME(VK_ERROR_LAYER_NOT_PRESENT)
    SY_VK_NAME(VK_ERROR_EXTENSION_NOT_PRESENT)
    SY_VK_NAME(VK_ERROR_FEATURE_NOT_PRESENT)
    SY_VK_NAME(VK_ERROR_INCOMPATIBLE_DRIVER)
    SY_VK_NAME(VK_ERROR_TOO_MANY_OBJECTS)
    SY_VK_NAME(VK_ERROR_FORMAT_NOT_SUPPORTED)
    SY_VK_NAME(VK_ERROR_FRAGMENTED_POOL)
    SY_VK_NAME(VK_ERROR_UNKNOWN)
    SY_VK_NAME(VK_ERROR_OUT_OF_POOL_MEMORY)
    SY_VK_NAME(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    SY_VK_NAME(VK_ERROR_FRAGMENTATION)
    SY_VK_NAME(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS)
    SY_VK_NAME(VK_PIPELINE_COMPILE_REQUIRED)
#undef SY_VK_NAME
    default: return "VK_RESULT_UNKNOWN";
  }
}

void checkVk(VkResult r, const char* call) {
  if (r == VK_SUCCESS) return;
  const int32_t code = (r == VK_ERROR_OUT_OF_HOST_MEMORY || r == VK_ERROR_OUT_OF_DEVICE_MEMORY ||
                        r == VK_ERROR_OUT_OF_POOL_MEMORY || r == VK_ERROR_FRAGMENTATION)
                           ? SY_ERROR_OUT_OF_MEMORY
                           : SY_ERROR_DEVICE;
  sdk::fail(code, call, ": ", vkResultName(r), r == VK_ERROR_UNKNOWN || std::strcmp(vkResultName(r), "VK_RESULT_UNKNOWN") == 0
                                                   ? sdk::format(" (", static_cast<int>(r), ")")
                                                   : std::string());
}

// ============================================================================
// Instance

namespace {

VKAPI_ATTR VkBool32 VKAPI_CALL onDebugMessage(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                              VkDebugUtilsMessageTypeFlagsEXT /*types*/,
                                              const VkDebugUtilsMessengerCallbackDataEXT* data, void* /*user*/) {
  GlobalStats& s = stats();
  ++s.validationMessages;
  if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) ++s.validationErrors;
  const char* text = data != nullptr && data->pMessage != nullptr ? data->pMessage : "(no message)";
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.lastValidationMessage = text;
  }
  std::fprintf(stderr, "[vulkan validation] %s\n", text);
  return VK_FALSE;  // never abort the call
}

bool layerInstalled(const char* name) {
  uint32_t count = 0;
  if (vkEnumerateInstanceLayerProperties(&count, nullptr) != VK_SUCCESS) return false;
  std::vector<VkLayerProperties> layers(count);
  if (vkEnumerateInstanceLayerProperties(&count, layers.data()) != VK_SUCCESS) return false;
  for (const auto& l : layers) {
    if (std::strcmp(l.layerName, name) == 0) return true;
  }
  return false;
}

bool instanceExtension(const char* name, const char* layer = nullptr) {
  uint32_t count = 0;
  if (vkEnumerateInstanceExtensionProperties(layer, &count, nullptr) != VK_SUCCESS) return false;
  std::vector<VkExtensionProperties> ext(count);
  if (vkEnumerateInstanceExtensionProperties(layer, &count, ext.data()) != VK_SUCCESS) return false;
  for (const auto& e : ext) {
    if (std::strcmp(e.extensionName, name) == 0) return true;
  }
  return false;
}

int32_t computeQueueFamily(VkPhysicalDevice device) {
  uint32_t count = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(device, &count, nullptr);
  std::vector<VkQueueFamilyProperties> families(count);
  vkGetPhysicalDeviceQueueFamilyProperties(device, &count, families.data());
  int32_t best = -1;
  for (uint32_t i = 0; i < count; ++i) {
    if (!(families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) || families[i].queueCount == 0) continue;
    // Prefer a compute-only family (an async compute queue) when there is one.
    if (best < 0 || !(families[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) best = static_cast<int32_t>(i);
  }
  return best;
}

/// The shared objects mapped in this process now (their paths).
std::set<std::string> loadedObjects() {
  std::set<std::string> names;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) -> int {
        if (info->dlpi_name != nullptr && info->dlpi_name[0] != '\0')
          static_cast<std::set<std::string>*>(data)->insert(info->dlpi_name);
        return 0;
      },
      &names);
  return names;
}

// Note [drivers stay mapped]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The Vulkan loader dlopens the ICDs (lavapipe, a vendor driver) and their
// libraries (LLVM) in vkCreateInstance and dlcloses them in vkDestroyInstance.
// Drivers keep process-wide state from one-time initialisation (lavapipe
// allocates it in a pthread_once) that only their own data segment points to:
// once unmapped, that memory is a leak LeakSanitizer blames on "<unknown
// module>" in every program that loaded the plugin, and a later instance pays
// the driver's start-up again. So every object the instance brought in is
// promoted to RTLD_NODELETE (the same rule as the plugin's own -z nodelete).
void pinObjectsLoadedSince(const std::set<std::string>& before) {
  for (const std::string& name : loadedObjects()) {
    if (before.count(name) != 0) continue;
    if (void* handle = dlopen(name.c_str(), RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE)) dlclose(handle);
  }
}

}  // namespace

Instance::Instance(bool validation) {
  const std::set<std::string> mappedBefore = loadedObjects();
  const bool layer = validation && layerInstalled("VK_LAYER_KHRONOS_validation");
  if (validation && !layer) {
    std::fprintf(stderr, "[vulkan] validation requested but VK_LAYER_KHRONOS_validation is not installed\n");
  }
  std::vector<const char*> layers, extensions;
  const bool debugUtils = layer && (instanceExtension(VK_EXT_DEBUG_UTILS_EXTENSION_NAME) ||
                                    instanceExtension(VK_EXT_DEBUG_UTILS_EXTENSION_NAME, "VK_LAYER_KHRONOS_validation"));
  if (layer) layers.push_back("VK_LAYER_KHRONOS_validation");
  if (debugUtils) extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  VkInstanceCreateFlags flags = 0;
  if (instanceExtension(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
    extensions.push_back(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME);
    flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
  }

  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "switchyard";
  app.pEngineName = "switchyard-vulkan";
  app.apiVersion = VK_API_VERSION_1_1;
  VkDebugUtilsMessengerCreateInfoEXT messengerInfo{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
  messengerInfo.messageSeverity =
      VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  messengerInfo.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                              VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
  messengerInfo.pfnUserCallback = &onDebugMessage;

  VkInstanceCreateInfo info{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  info.flags = flags;
  info.pApplicationInfo = &app;
  info.enabledLayerCount = static_cast<uint32_t>(layers.size());
  info.ppEnabledLayerNames = layers.data();
  info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  info.ppEnabledExtensionNames = extensions.data();
  if (debugUtils) info.pNext = &messengerInfo;  // also covers vkCreateInstance itself
  checkVk(vkCreateInstance(&info, nullptr, &instance_), "vkCreateInstance");

  if (debugUtils) {
    auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
    if (create != nullptr && create(instance_, &messengerInfo, nullptr, &messenger_) == VK_SUCCESS) {
      stats().validationActive = 1;
    } else {
      messenger_ = VK_NULL_HANDLE;
    }
  }

  uint32_t count = 0;
  VkResult r = vkEnumeratePhysicalDevices(instance_, &count, nullptr);
  if (r == VK_SUCCESS && count > 0) {
    std::vector<VkPhysicalDevice> all(count);
    r = vkEnumeratePhysicalDevices(instance_, &count, all.data());
    if (r == VK_SUCCESS || r == VK_INCOMPLETE) {
      for (VkPhysicalDevice d : all) {
        if (whyUnusable(d).empty()) devices_.push_back(d);
      }
    }
  }
  pinObjectsLoadedSince(mappedBefore);  // Note [drivers stay mapped]
}

Instance::~Instance() {
  if (messenger_ != VK_NULL_HANDLE) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy != nullptr) destroy(instance_, messenger_, nullptr);
  }
  if (instance_ != VK_NULL_HANDLE) vkDestroyInstance(instance_, nullptr);
}

std::string whyUnusable(VkPhysicalDevice device) {
  VkPhysicalDeviceProperties p{};
  vkGetPhysicalDeviceProperties(device, &p);
  if (VK_API_VERSION_MAJOR(p.apiVersion) == 1 && VK_API_VERSION_MINOR(p.apiVersion) < 1) return "needs Vulkan 1.1";
  if (computeQueueFamily(device) < 0) return "no compute queue";
  if (p.limits.maxPerStageDescriptorStorageBuffers < kSlots + 1) return "fewer than 13 storage buffers per stage";
  if (p.limits.maxComputeWorkGroupInvocations < 64) return "work groups below 64 invocations";
  return "";
}

PhysicalInfo describe(VkPhysicalDevice device) {
  VkPhysicalDeviceProperties p{};
  vkGetPhysicalDeviceProperties(device, &p);
  VkPhysicalDeviceIDProperties id{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
  VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  p2.pNext = &id;
  vkGetPhysicalDeviceProperties2(device, &p2);
  VkPhysicalDeviceMemoryProperties mem{};
  vkGetPhysicalDeviceMemoryProperties(device, &mem);

  PhysicalInfo info;
  const char* kind = "other";
  switch (p.deviceType) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: info.type = SY_DEVICE_GPU; info.score = 400; kind = "discrete GPU"; break;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: info.type = SY_DEVICE_GPU; info.score = 300; kind = "integrated GPU"; break;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: info.type = SY_DEVICE_GPU; info.score = 200; kind = "virtual GPU"; break;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: info.type = SY_DEVICE_CPU; info.score = 100; kind = "CPU"; break;
    default: info.type = SY_DEVICE_ACCELERATOR; info.score = 150; break;
  }
  info.name = sdk::format(p.deviceName, " (Vulkan ", VK_API_VERSION_MAJOR(p.apiVersion), ".",
                          VK_API_VERSION_MINOR(p.apiVersion), ", ", kind, ")");
  // Memory: the largest device-local heap; unified when a device-local,
  // host-visible, coherent type lives on that heap.
  int32_t bestHeap = -1;
  for (uint32_t h = 0; h < mem.memoryHeapCount; ++h) {
    if (!(mem.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)) continue;
    if (bestHeap < 0 || mem.memoryHeaps[h].size > mem.memoryHeaps[bestHeap].size) bestHeap = static_cast<int32_t>(h);
  }
  if (bestHeap >= 0) {
    info.memoryBytes = mem.memoryHeaps[bestHeap].size;
    const VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                       VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    for (uint32_t t = 0; t < mem.memoryTypeCount; ++t) {
      if (static_cast<int32_t>(mem.memoryTypes[t].heapIndex) == bestHeap &&
          (mem.memoryTypes[t].propertyFlags & want) == want) {
        info.unifiedMemory = true;
      }
    }
  }
  std::memcpy(info.uuid, id.deviceUUID, VK_UUID_SIZE);
  return info;
}

// ============================================================================
// Device context

namespace {

/// The pipeline cache file: the `pipeline_cache` option, else
/// $XDG_CACHE_HOME/switchyard (or ~/.cache/switchyard)/vulkan-<vendor>-<device>-<uuid>.bin.
std::string defaultCachePath(const VkPhysicalDeviceProperties& p) {
  std::string dir;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x != '\0') {
    dir = x;
  } else if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') {
    dir = std::string(h) + "/.cache";
  } else {
    return "";
  }
  dir += "/switchyard";
  char uuid[2 * VK_UUID_SIZE + 1] = {};
  for (unsigned i = 0; i < VK_UUID_SIZE; ++i) std::snprintf(uuid + 2 * i, 3, "%02x", p.pipelineCacheUUID[i]);
  char name[128];
  std::snprintf(name, sizeof name, "/vulkan-%04x-%04x-%s.bin", p.vendorID, p.deviceID, uuid);
  return dir + name;
}

void makeDirs(const std::string& path) {
  for (size_t i = 1; i < path.size(); ++i) {
    if (path[i] == '/') ::mkdir(path.substr(0, i).c_str(), 0755);  // errors: the write fails later, ignored
  }
}

std::vector<char> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool deviceExtension(VkPhysicalDevice d, const char* name) {
  uint32_t count = 0;
  if (vkEnumerateDeviceExtensionProperties(d, nullptr, &count, nullptr) != VK_SUCCESS) return false;
  std::vector<VkExtensionProperties> ext(count);
  if (vkEnumerateDeviceExtensionProperties(d, nullptr, &count, ext.data()) != VK_SUCCESS) return false;
  for (const auto& e : ext) {
    if (std::strcmp(e.extensionName, name) == 0) return true;
  }
  return false;
}

int32_t findMemoryType(const VkPhysicalDeviceMemoryProperties& mem, VkMemoryPropertyFlags want,
                       VkMemoryPropertyFlags avoid = 0) {
  for (uint32_t t = 0; t < mem.memoryTypeCount; ++t) {
    const VkMemoryPropertyFlags f = mem.memoryTypes[t].propertyFlags;
    if ((f & want) == want && !(f & avoid)) return static_cast<int32_t>(t);
  }
  return -1;
}

uint32_t floorPow2(uint32_t v) {
  uint32_t p = 1;
  while (p * 2 <= v) p *= 2;
  return p;
}

}  // namespace

// A constructor that throws never runs the destructor: whatever create()
// made before the failure (the VkDevice, layouts, the pipeline cache, memory)
// is released by destroy() here, so a bad option or a failed call leaks
// nothing (and leaves no live VkDevice behind the instance).
DeviceContext::DeviceContext(std::shared_ptr<Instance> instance, VkPhysicalDevice physical,
                             const BackendOptions& options)
    : instance_(std::move(instance)), physical_(physical) {
  try {
    create(options);
  } catch (...) {
    destroy(/*saveCache=*/false);
    throw;
  }
}

void DeviceContext::create(const BackendOptions& options) {
  vkGetPhysicalDeviceProperties(physical_, &properties_);
  info_ = describe(physical_);
  queueFamily_ = static_cast<uint32_t>(computeQueueFamily(physical_));

  const float priority = 1.0f;
  VkDeviceQueueCreateInfo queueInfo{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  queueInfo.queueFamilyIndex = queueFamily_;
  queueInfo.queueCount = 1;
  queueInfo.pQueuePriorities = &priority;
  std::vector<const char*> extensions;
  // The instance asks for Vulkan 1.1, so creation feedback (core in 1.3) is
  // used through its extension only.
  creationFeedback_ = deviceExtension(physical_, VK_EXT_PIPELINE_CREATION_FEEDBACK_EXTENSION_NAME);
  if (creationFeedback_) extensions.push_back(VK_EXT_PIPELINE_CREATION_FEEDBACK_EXTENSION_NAME);
  if (deviceExtension(physical_, "VK_KHR_portability_subset")) extensions.push_back("VK_KHR_portability_subset");
  VkDeviceCreateInfo deviceInfo{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  deviceInfo.queueCreateInfoCount = 1;
  deviceInfo.pQueueCreateInfos = &queueInfo;
  deviceInfo.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  deviceInfo.ppEnabledExtensionNames = extensions.data();
  checkVk(vkCreateDevice(physical_, &deviceInfo, nullptr, &device_), "vkCreateDevice");
  vkGetDeviceQueue(device_, queueFamily_, 0, &queue_);

  // Tuning from the limits: work groups of 64..256 invocations, a multiple
  // of the subgroup size; matmul tiles of 16x16 when shared memory and
  // invocations allow, else 8x8.
  VkPhysicalDeviceSubgroupProperties subgroup{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  p2.pNext = &subgroup;
  vkGetPhysicalDeviceProperties2(physical_, &p2);
  const VkPhysicalDeviceLimits& limits = properties_.limits;
  {
    VkPhysicalDeviceMaintenance3Properties m3{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 q{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    q.pNext = &m3;
    vkGetPhysicalDeviceProperties2(physical_, &q);
    maxAllocation_ = m3.maxMemoryAllocationSize > 0 ? m3.maxMemoryAllocationSize : (VkDeviceSize{1} << 31);
  }
  const uint32_t maxWg = std::min(limits.maxComputeWorkGroupInvocations, limits.maxComputeWorkGroupSize[0]);
  const uint32_t sg = std::max<uint32_t>(subgroup.subgroupSize, 1);
  workGroupSize_ = floorPow2(std::min<uint32_t>(maxWg, std::max<uint32_t>(4 * sg, 64)));
  workGroupSize_ = std::min<uint32_t>(std::max<uint32_t>(workGroupSize_, 32), 256);
  if (options.workGroupSize > 0) {
    sdk::require(static_cast<uint64_t>(options.workGroupSize) <= maxWg &&
                     (options.workGroupSize & (options.workGroupSize - 1)) == 0,
                 SY_ERROR_INVALID_ARGUMENT, "option 'work_group_size': ", options.workGroupSize,
                 " is not a power of two up to ", maxWg);
    workGroupSize_ = static_cast<uint32_t>(options.workGroupSize);
  }
  matmulTile_ = 16;
  auto tileFits = [&](uint32_t t) {
    return t * t <= limits.maxComputeWorkGroupInvocations && t <= limits.maxComputeWorkGroupSize[0] &&
           t <= limits.maxComputeWorkGroupSize[1] && 2 * t * (t + 1) * 4 <= limits.maxComputeSharedMemorySize;
  };
  while (matmulTile_ > 4 && !tileFits(matmulTile_)) matmulTile_ /= 2;
  if (options.matmulTile > 0) {
    sdk::require(tileFits(static_cast<uint32_t>(options.matmulTile)), SY_ERROR_INVALID_ARGUMENT,
                 "option 'matmul_tile': ", options.matmulTile, " does not fit this device's work-group limits");
    matmulTile_ = static_cast<uint32_t>(options.matmulTile);
  }

  // Layouts: 12 data slots + metadata, 16 bytes of push constants.
  VkDescriptorSetLayoutBinding bindings[kSlots + 1];
  for (uint32_t b = 0; b <= kSlots; ++b) {
    bindings[b] = VkDescriptorSetLayoutBinding{b, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT,
                                               nullptr};
  }
  VkDescriptorSetLayoutCreateInfo setInfo{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  setInfo.bindingCount = kSlots + 1;
  setInfo.pBindings = bindings;
  checkVk(vkCreateDescriptorSetLayout(device_, &setInfo, nullptr, &setLayout_), "vkCreateDescriptorSetLayout");
  VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, 16};
  VkPipelineLayoutCreateInfo layoutInfo{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  layoutInfo.setLayoutCount = 1;
  layoutInfo.pSetLayouts = &setLayout_;
  layoutInfo.pushConstantRangeCount = 1;
  layoutInfo.pPushConstantRanges = &push;
  checkVk(vkCreatePipelineLayout(device_, &layoutInfo, nullptr, &pipelineLayout_), "vkCreatePipelineLayout");

  // Pipeline cache, seeded from the file. The driver checks the header
  // (vendor, device, pipelineCacheUUID) and ignores data that does not match.
  cachePath_ = options.pipelineCachePath == "off" ? ""
               : options.pipelineCachePath.empty() ? defaultCachePath(properties_)
                                                   : options.pipelineCachePath;
  std::vector<char> seed = cachePath_.empty() ? std::vector<char>() : readFile(cachePath_);
  VkPipelineCacheCreateInfo cacheInfo{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  cacheInfo.initialDataSize = seed.size();
  cacheInfo.pInitialData = seed.empty() ? nullptr : seed.data();
  if (vkCreatePipelineCache(device_, &cacheInfo, nullptr, &cache_) != VK_SUCCESS) {
    cacheInfo.initialDataSize = 0;  // a corrupt file: start empty
    cacheInfo.pInitialData = nullptr;
    checkVk(vkCreatePipelineCache(device_, &cacheInfo, nullptr, &cache_), "vkCreatePipelineCache");
  } else {
    stats().pipelineCacheBytesLoaded += seed.size();
  }

  // Memory: device-local blocks (mapped directly on unified memory unless
  // staging is forced) and host-visible blocks for metadata and staging.
  VkPhysicalDeviceMemoryProperties mem{};
  vkGetPhysicalDeviceMemoryProperties(physical_, &mem);
  const VkMemoryPropertyFlags hostFlags = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  int32_t deviceType = -1;
  bool mapDevice = false;
  if (info_.unifiedMemory && !options.forceStaging) {
    deviceType = findMemoryType(mem, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | hostFlags);
    mapDevice = deviceType >= 0;
  }
  if (deviceType < 0) deviceType = findMemoryType(mem, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  if (deviceType < 0) deviceType = findMemoryType(mem, 0);
  int32_t hostType = findMemoryType(mem, hostFlags | VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
  if (hostType < 0) hostType = findMemoryType(mem, hostFlags);
  sdk::require(deviceType >= 0 && hostType >= 0, SY_ERROR_DEVICE, "no usable memory type on ", info_.name);
  const VkDeviceSize alignment = std::max<VkDeviceSize>({limits.minStorageBufferOffsetAlignment, 64,
                                                         limits.nonCoherentAtomSize});
  const VkDeviceSize block = std::min<VkDeviceSize>(options.blockBytes, limits.maxStorageBufferRange);
  deviceArena_ = std::make_unique<Arena>(*this, static_cast<uint32_t>(deviceType), mapDevice, block, alignment,
                                         "device");
  hostArena_ = std::make_unique<Arena>(*this, static_cast<uint32_t>(hostType), true,
                                       std::min<VkDeviceSize>(block, 16ull << 20), alignment, "host");
  dummy_ = deviceArena_->allocate(64);
}

DeviceContext::~DeviceContext() { destroy(/*saveCache=*/true); }

void DeviceContext::destroy(bool saveCache) noexcept {
  if (device_ == VK_NULL_HANDLE) return;
  vkDeviceWaitIdle(device_);
  if (saveCache) {
    try {
      savePipelineCache();
    } catch (...) {  // out of memory: the cache file is not written
    }
  }
  for (auto& e : execPool_) {
    if (e->descriptors != VK_NULL_HANDLE) vkDestroyDescriptorPool(device_, e->descriptors, nullptr);
    vkDestroyFence(device_, e->fence, nullptr);
    vkDestroyCommandPool(device_, e->pool, nullptr);
  }
  if (staging_.pool != VK_NULL_HANDLE) {
    vkDestroyFence(device_, staging_.fence, nullptr);
    vkDestroyCommandPool(device_, staging_.pool, nullptr);
  }
  if (stagingBuffer_.valid()) hostArena_->free(stagingBuffer_);
  if (dummy_.valid()) deviceArena_->free(dummy_);
  deviceArena_.reset();
  hostArena_.reset();
  for (auto& [key, p] : pipelines_) vkDestroyPipeline(device_, p, nullptr);
  for (VkShaderModule m : modules_) {
    if (m != VK_NULL_HANDLE) vkDestroyShaderModule(device_, m, nullptr);
  }
  if (cache_ != VK_NULL_HANDLE) vkDestroyPipelineCache(device_, cache_, nullptr);
  if (pipelineLayout_ != VK_NULL_HANDLE) vkDestroyPipelineLayout(device_, pipelineLayout_, nullptr);
  if (setLayout_ != VK_NULL_HANDLE) vkDestroyDescriptorSetLayout(device_, setLayout_, nullptr);
  vkDestroyDevice(device_, nullptr);
  device_ = VK_NULL_HANDLE;
}

void DeviceContext::savePipelineCache() {
  if (cachePath_.empty() || cache_ == VK_NULL_HANDLE) return;
  std::lock_guard<std::mutex> lock(pipelineMutex_);
  size_t size = 0;
  if (vkGetPipelineCacheData(device_, cache_, &size, nullptr) != VK_SUCCESS || size == 0) return;
  std::vector<char> data(size);
  if (vkGetPipelineCacheData(device_, cache_, &size, data.data()) != VK_SUCCESS) return;
  makeDirs(cachePath_);
  // Write a temporary file and rename it, so a concurrent reader never sees
  // half a file; any failure (read-only folder, full disk) is ignored.
  const std::string tmp = sdk::format(cachePath_, ".tmp.", ::getpid(), ".", reinterpret_cast<uintptr_t>(this));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return;
    out.write(data.data(), static_cast<std::streamsize>(size));
    if (!out) {
      out.close();
      std::remove(tmp.c_str());
      return;
    }
  }
  if (std::rename(tmp.c_str(), cachePath_.c_str()) != 0) {
    std::remove(tmp.c_str());
    return;
  }
  stats().pipelineCacheBytesSaved += size;
}

VkPipeline DeviceContext::pipeline(Shader shader, const std::vector<uint32_t>& spec) {
  std::lock_guard<std::mutex> lock(pipelineMutex_);
  const auto key = std::make_pair(static_cast<int>(shader), spec);
  if (auto it = pipelines_.find(key); it != pipelines_.end()) return it->second;
  VkShaderModule& module = modules_[static_cast<int>(shader)];
  if (module == VK_NULL_HANDLE) {
    const uint32_t* code = nullptr;
    size_t bytes = 0;
    switch (shader) {
#define SY_SHADER(id, arr) case Shader::id: code = sy_vulkan_shaders::arr; bytes = sizeof(sy_vulkan_shaders::arr); break;
      SY_SHADER(Eltwise, eltwise)
      SY_SHADER(Matmul, matmul)
      SY_SHADER(Conv2d, conv2d)
      SY_SHADER(Pool2d, pool2d)
      SY_SHADER(Reduce, reduce)
      SY_SHADER(RowNorm, rownorm)
      SY_SHADER(Copy, copy)
      SY_SHADER(Gather, gather)
#undef SY_SHADER
      default: sdk::fail(SY_ERROR_INTERNAL, "unknown shader");
    }
    VkShaderModuleCreateInfo info{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    info.codeSize = bytes;
    info.pCode = code;
    checkVk(vkCreateShaderModule(device_, &info, nullptr, &module), "vkCreateShaderModule");
  }
  std::vector<VkSpecializationMapEntry> entries;
  for (uint32_t i = 0; i < spec.size(); ++i) entries.push_back({i, i * 4u, 4});
  VkSpecializationInfo specInfo{static_cast<uint32_t>(entries.size()), entries.data(), spec.size() * 4, spec.data()};
  VkComputePipelineCreateInfo info{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  info.stage = VkPipelineShaderStageCreateInfo{VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
  info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  info.stage.module = module;
  info.stage.pName = "main";
  info.stage.pSpecializationInfo = spec.empty() ? nullptr : &specInfo;
  info.layout = pipelineLayout_;
  VkPipelineCreationFeedbackEXT feedback{}, stageFeedback{};
  VkPipelineCreationFeedbackCreateInfoEXT feedbackInfo{VK_STRUCTURE_TYPE_PIPELINE_CREATION_FEEDBACK_CREATE_INFO_EXT};
  feedbackInfo.pPipelineCreationFeedback = &feedback;
  feedbackInfo.pipelineStageCreationFeedbackCount = 1;
  feedbackInfo.pPipelineStageCreationFeedbacks = &stageFeedback;
  if (creationFeedback_) info.pNext = &feedbackInfo;
  VkPipeline p = VK_NULL_HANDLE;
  checkVk(vkCreateComputePipelines(device_, cache_, 1, &info, nullptr, &p), "vkCreateComputePipelines");
  ++stats().pipelinesCreated;
  if (creationFeedback_ && (feedback.flags & VK_PIPELINE_CREATION_FEEDBACK_VALID_BIT_EXT) &&
      (feedback.flags & VK_PIPELINE_CREATION_FEEDBACK_APPLICATION_PIPELINE_CACHE_HIT_BIT_EXT)) {
    ++stats().pipelineCacheHits;
  }
  pipelines_[key] = p;
  return p;
}

void DeviceContext::submitAndWait(VkCommandBuffer cmd, VkFence fence, const char* what) {
  VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  submit.commandBufferCount = 1;
  submit.pCommandBuffers = &cmd;
  {
    std::lock_guard<std::mutex> lock(queueMutex_);  // a VkQueue is externally synchronised
    checkVk(vkQueueSubmit(queue_, 1, &submit, fence), "vkQueueSubmit");
  }
  ++stats().submits;
  VkResult r;
  do {
    r = vkWaitForFences(device_, 1, &fence, VK_TRUE, 10'000'000'000ull);
  } while (r == VK_TIMEOUT);
  checkVk(r, what);
  checkVk(vkResetFences(device_, 1, &fence), "vkResetFences");
}

std::unique_ptr<ExecContext> DeviceContext::acquireExec() {
  {
    std::lock_guard<std::mutex> lock(execMutex_);
    if (!execPool_.empty()) {
      auto e = std::move(execPool_.back());
      execPool_.pop_back();
      return e;
    }
  }
  auto e = std::make_unique<ExecContext>();
  VkCommandPoolCreateInfo poolInfo{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  poolInfo.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT | VK_COMMAND_POOL_CREATE_TRANSIENT_BIT;
  poolInfo.queueFamilyIndex = queueFamily_;
  checkVk(vkCreateCommandPool(device_, &poolInfo, nullptr, &e->pool), "vkCreateCommandPool");
  auto cleanup = [&] {
    if (e->fence != VK_NULL_HANDLE) vkDestroyFence(device_, e->fence, nullptr);
    vkDestroyCommandPool(device_, e->pool, nullptr);
  };
  try {
    VkCommandBufferAllocateInfo alloc{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    alloc.commandPool = e->pool;
    alloc.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    alloc.commandBufferCount = 1;
    checkVk(vkAllocateCommandBuffers(device_, &alloc, &e->cmd), "vkAllocateCommandBuffers");
    VkFenceCreateInfo fenceInfo{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    checkVk(vkCreateFence(device_, &fenceInfo, nullptr, &e->fence), "vkCreateFence");
  } catch (...) {
    cleanup();
    throw;
  }
  return e;
}

void DeviceContext::releaseExec(std::unique_ptr<ExecContext> exec) {
  if (exec == nullptr) return;
  std::lock_guard<std::mutex> lock(execMutex_);
  execPool_.push_back(std::move(exec));
}

}  // namespace sy_vulkan
