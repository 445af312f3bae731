// Weights in the safetensors format (https://huggingface.co/docs/safetensors):
// an 8-byte little-endian header length, a JSON header mapping each tensor name
// to {dtype, shape, data_offsets}, then the raw little-endian data.
//
// Loading memory-maps the file and returns tensors that borrow from the mapping
// (zero-copy); the mapping lives as long as any tensor from it. Every length,
// offset, shape and dtype in the header is checked before any data is touched,
// so a truncated or lying file gives an error, never an out-of-bounds read.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "switchyard/status.h"
#include "switchyard/tensor.h"

namespace sy {

/// Tensors by name, plus the file's free-form `__metadata__` strings.
struct WeightSet {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

/// Memory-maps `path` and returns views of its tensors. Errors name the file
/// and, where it applies, the tensor.
Result<WeightSet> loadSafetensors(const std::string& path);

/// Parses a safetensors image already in memory. The returned tensors borrow
/// `data`, and hold `keepalive` to keep it valid. `origin` names the source in errors.
Result<WeightSet> parseSafetensors(const void* data, size_t size, std::shared_ptr<const void> keepalive,
                                   const std::string& origin = "<memory>");

/// Writes `weights` to `path` (tensors sorted by name, data 8-byte aligned).
/// Writes to a temporary file and renames it, so a failed save never leaves a
/// half-written file behind.
Status saveSafetensors(const std::string& path, const WeightSet& weights);

/// Serialises to bytes (what saveSafetensors writes).
Result<std::string> serializeSafetensors(const WeightSet& weights);

}  // namespace sy
