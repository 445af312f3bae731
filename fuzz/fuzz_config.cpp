// libFuzzer target: the YAML device-config reader.
//
// Contract checked: parseConfig never crashes and never lets a yaml-cpp
// exception escape; every error it returns carries a message.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_common.h"
#include "switchyard/config.h"

SY_FUZZ_TARGET(fuzz_config) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = sy::parseConfig(text, "fuzz.yaml", "/nonexistent-fuzz-base");
  if (!config.ok()) {
    SY_FUZZ_CHECK(!config.status().message().empty(), "config error without a message");
    return 0;
  }
  for (const auto& backend : config->backends)
    SY_FUZZ_CHECK(sy::isValidConfigName(backend.name), "accepted a bad backend name '%s'", backend.name.c_str());
  return 0;
}
