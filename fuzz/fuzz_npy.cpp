// libFuzzer target: the .npy reader (and writer, on what it accepts).
//
// Contract checked: parseNpy never crashes or over-reads; a tensor it accepts
// encodes again, and the encoding parses back to the same dtype, shape and bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_common.h"
#include "switchyard/npy.h"

SY_FUZZ_TARGET(fuzz_npy) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto tensor = sy::parseNpy(bytes, "fuzz.npy");
  if (!tensor.ok()) return 0;
  auto encoded = sy::encodeNpy(*tensor);
  SY_FUZZ_CHECK(encoded.ok(), "an accepted tensor (%s) does not encode: %s", tensor->typeString().c_str(),
                encoded.status().toString().c_str());
  auto back = sy::parseNpy(*encoded, "encoded.npy");
  SY_FUZZ_CHECK(back.ok(), "the encoding does not parse: %s", back.status().toString().c_str());
  SY_FUZZ_CHECK(back->bitwiseEqual(*tensor), "round trip changed %s into %s", tensor->typeString().c_str(),
                back->typeString().c_str());
  return 0;
}
