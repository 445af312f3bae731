// Shared by the cpu plugin's tests: an engine with the cpu plugin alone (no
// fallback, so a declined node is an error), random and non-finite inputs,
// constants written as graph text, and running a graph on the cpu and on the
// reference.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <cmath>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "switchyard/engine.h"
#include "switchyard/interpreter.h"
#include "switchyard/profile.h"
#include "switchyard/text.h"
#include "test_util.h"

namespace sy::cpu_test {

/// Whether this CPU has AVX-512F (the plugin's own AVX-512 kernels: the
/// fused attention, the SiLU pass), and avx512_core (F, BW, VL, DQ: where
/// oneDNN 2.6 has its Winograd convolutions).
inline bool cpuHasAvx512f() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") != 0;
#else
  return false;
#endif
}
inline bool cpuHasAvx512Core() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

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

/// `n` values uniform in [lo, hi), the same for the same seed.
inline std::vector<double> randomValues(int64_t n, double lo, double hi, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = dist(gen);
  return v;
}

/// An f32 tensor of `shape` with randomValues.
inline Tensor randomF(Shape shape, double lo, double hi, unsigned seed) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return testing::F(std::move(shape), randomValues(n, lo, hi, seed));
}

/// Random values in [-2, 2) with NaN, +inf and -inf among them (one in eight each).
inline Tensor nonFiniteF(Shape shape, unsigned seed) {
  Tensor t = randomF(std::move(shape), -2, 2, seed);
  std::mt19937 gen(seed + 1000);
  for (int64_t i = 0; i < t.numel(); ++i) {
    switch (gen() % 8) {
      case 0: t.setDouble(i, std::nan("")); break;
      case 1: t.setDouble(i, INFINITY); break;
      case 2: t.setDouble(i, -INFINITY); break;
      default: break;
    }
  }
  return t;
}

/// `%name = constant() {value = tensor<f32[dims]>[...]} : f32[dims]` with
/// randomValues in [lo, hi).
inline std::string constantLine(const std::string& name, const std::vector<int64_t>& dims, double lo, double hi,
                                unsigned seed) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  const std::string shape = shapeOf(dims);
  std::ostringstream os;
  os.precision(9);
  os << "  %" << name << " = constant() {value = tensor<f32[" << shape << "]>[";
  const std::vector<double> v = randomValues(n, lo, hi, seed);
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << std::showpoint << static_cast<float>(v[i]);
  os << "]} : f32[" << shape << "]\n";
  return os.str();
}

/// `text` run once on the cpu-only engine (per-step profile on) and once on
/// the reference interpreter, with the same inputs.
struct CpuAndReference {
  std::vector<Tensor> cpu, reference;
  std::vector<std::string> steps;  ///< the cpu's step names (the ops each step fused)
};

/// Parses, compiles and runs `text` on both; nothing (and a test failure)
/// when any of that fails. The callers compare the outputs their own way.
inline std::optional<CpuAndReference> runOnCpuAndReference(const std::string& text, const std::vector<Tensor>& inputs) {
  auto engine = cpuEngine();
  EXPECT_NE(engine, nullptr);
  if (engine == nullptr) return std::nullopt;
  auto parsed = parseGraph(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status().toString() << "\n" << text;
  if (!parsed.ok()) return std::nullopt;
  std::shared_ptr<const Graph> g(std::move(*parsed));
  auto model = engine->compile(g);
  EXPECT_TRUE(model.ok()) << model.status().toString();
  if (!model.ok()) return std::nullopt;
  std::vector<TraceEvent> events;
  RunOptions options;
  options.trace = &events;
  options.profileSteps = true;
  auto got = (*model)->run(inputs, options);
  EXPECT_TRUE(got.ok()) << got.status().toString();
  auto interp = Interpreter::create(g);
  EXPECT_TRUE(interp.ok());
  if (!interp.ok()) return std::nullopt;
  auto want = (*interp)->run(inputs);
  EXPECT_TRUE(want.ok()) << want.status().toString();
  if (!got.ok() || !want.ok()) return std::nullopt;
  CpuAndReference r{std::move(*got), std::move(*want), {}};
  for (const ProfileRow& row : summarizeProfile(events, 1).rows) {
    if (row.kind == ProfileRow::Kind::Step) r.steps.push_back(row.what);
  }
  return r;
}

}  // namespace sy::cpu_test
