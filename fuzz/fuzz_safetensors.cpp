// libFuzzer target: the safetensors reader (and writer, on what it accepts).
//
// Contract checked: parseSafetensors never crashes or reads outside the
// buffer (the input is copied into a buffer of exactly its size, so ASan sees
// any over-read); a weight set it accepts serialises, and parses back to the
// same tensors and metadata.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "fuzz_common.h"
#include "switchyard/safetensors.h"

SY_FUZZ_TARGET(fuzz_safetensors) {
  // An exact-size heap copy: libFuzzer's own buffer is exact too, but the
  // tensors must be able to outlive this call through the keepalive.
  std::shared_ptr<uint8_t[]> copy(new uint8_t[size ? size : 1]);
  if (size) std::memcpy(copy.get(), data, size);
  auto weights = sy::parseSafetensors(copy.get(), size, copy, "fuzz.safetensors");
  if (!weights.ok()) return 0;
  auto bytes = sy::serializeSafetensors(*weights);
  SY_FUZZ_CHECK(bytes.ok(), "an accepted weight set does not serialise: %s", bytes.status().toString().c_str());
  auto back = sy::parseSafetensors(bytes->data(), bytes->size(), nullptr, "serialised.safetensors");
  SY_FUZZ_CHECK(back.ok(), "the serialised weights do not parse: %s", back.status().toString().c_str());
  SY_FUZZ_CHECK(back->tensors.size() == weights->tensors.size(), "round trip changed the tensor count");
  SY_FUZZ_CHECK(back->metadata == weights->metadata, "round trip changed the metadata");
  for (const auto& [name, tensor] : weights->tensors) {
    auto it = back->tensors.find(name);
    SY_FUZZ_CHECK(it != back->tensors.end(), "round trip lost tensor '%s'", name.c_str());
    SY_FUZZ_CHECK(it->second.bitwiseEqual(tensor), "round trip changed tensor '%s'", name.c_str());
  }
  return 0;
}
