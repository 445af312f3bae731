// A plugin-specific extension entry of the Vulkan plugin, for tests and
// tools: `sy_vulkan_get_stats` (exported next to sy_plugin_get_api) fills
// process-wide counters. Not part of the Switchyard ABI; find it with dlsym.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sy_vulkan_stats {
  size_t struct_size;
  uint64_t validation_messages;        /* warnings and errors from VK_LAYER_KHRONOS_validation */
  uint64_t validation_errors;          /* of which errors */
  uint64_t pipelines_created;          /* vkCreateComputePipelines calls */
  uint64_t pipeline_cache_hits;        /* of which the driver reported as cache hits (creation feedback) */
  uint64_t pipeline_cache_bytes_loaded;/* read from cache files */
  uint64_t pipeline_cache_bytes_saved; /* written to cache files */
  uint64_t submits;                    /* vkQueueSubmit calls */
  uint64_t device_allocations;         /* vkAllocateMemory calls */
  int32_t validation_active;           /* 1 when some instance runs with the validation layer */
  char last_validation_message[512];
} sy_vulkan_stats;

typedef void (*sy_vulkan_get_stats_fn)(sy_vulkan_stats* out);
#define SY_VULKAN_STATS_SYMBOL "sy_vulkan_get_stats"

#ifdef __cplusplus
}
#endif
