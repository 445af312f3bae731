// Shared by the cpu plugin's oneDNN-step tests (cpu_rnn_test, cpu_int8_test):
// an engine with the cpu plugin alone (no fallback, so a declined node is an
// error) and small helpers for reading profiles and writing graph text.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "switchyard/engine.h"

namespace sy::cpu_test {

/// An engine whose only backend is the cpu plugin (SY_CPU_PLUGIN_DIR), with
/// `options` for it; null (and a test failure) when it cannot be made.
inline std::unique_ptr<Engine> cpuEngine(std::map<std::string, std::string> options = {}) {
  Config c = defaultConfig();
  c.fallback = FallbackPolicy::Error;
  c.pluginPaths = {SY_CPU_PLUGIN_DIR};
  BackendConfig b;
  b.name = "cpu";
  b.options = std::move(options);
  c.backends = {b};
  auto engine = Engine::create(c);
  EXPECT_TRUE(engine.ok()) << engine.status().toString();
  return engine.ok() ? std::move(*engine) : nullptr;
}

/// "2, 3, 4": dims as the text format writes them inside brackets.
inline std::string shapeOf(const std::vector<int64_t>& dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s;
}

inline bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace sy::cpu_test
