// The CPU plugin, loaded from the build tree and run through sy::Engine,
// compared with the reference interpreter: device info, the oneDNN fast paths
// and their fusions, fused elementwise chains, dynamic shapes, concurrent
// execute, option validation and memory planning.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "switchyard/engine.h"
#include "switchyard/interpreter.h"
#include "switchyard/plugin_host.h"
#include "switchyard/profile.h"
#include "switchyard/text.h"
#include "switchyard/verifier.h"
#include "cpu_step_test_util.h"
#include "test_util.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr double kSanitizerSlowdown = 10;  // time bounds stretch under ASan/TSan builds
#else
constexpr double kSanitizerSlowdown = 1;
#endif

namespace sy {
namespace {

using cpu_test::constantLine;
using cpu_test::nonFiniteF;
using cpu_test::randomValues;

const std::string kPluginDir = SY_CPU_PLUGIN_DIR;
const std::string kPluginPath = kPluginDir + "/libsy_plugin_cpu.so";

Config cpuConfig(bool fallbackError, std::map<std::string, std::string> options = {}) {
  Config c = defaultConfig();
  if (fallbackError) c.fallback = FallbackPolicy::Error;
  c.pluginPaths = {kPluginDir};
  BackendConfig b;
  b.name = "cpu";
  b.options = std::move(options);
  c.backends = {b};
  return c;
}

/// An engine with cpu only; with `fallbackError`, no reference fallback, so
/// tiny test graphs are not given back to the reference for being cheap there.
std::unique_ptr<Engine> cpuEngine(bool fallbackError = true, std::map<std::string, std::string> options = {}) {
  auto engine = Engine::create(cpuConfig(fallbackError, std::move(options)));
  EXPECT_TRUE(engine.ok()) << engine.status().toString();
  return engine.ok() ? std::move(*engine) : nullptr;
}

std::shared_ptr<const Graph> parse(const std::string& text) {
  auto g = parseGraph(text);
  EXPECT_TRUE(g.ok()) << g.status().toString() << "\n" << text;
  return g.ok() ? std::shared_ptr<const Graph>(std::move(*g)) : nullptr;
}

Tensor randomF(Shape shape, double lo = -2, double hi = 2, unsigned seed = 1) {
  return cpu_test::randomF(std::move(shape), lo, hi, seed);
}

void expectClose(const std::vector<Tensor>& got, const std::vector<Tensor>& want, double tol = 1e-4) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].shape(), want[i].shape()) << "output " << i;
    ASSERT_EQ(got[i].dtype(), want[i].dtype()) << "output " << i;
    for (int64_t j = 0; j < got[i].numel(); ++j) {
      const double g = got[i].getDouble(j), w = want[i].getDouble(j);
      if (std::isnan(w)) {
        EXPECT_TRUE(std::isnan(g)) << "output " << i << " element " << j;
        continue;
      }
      ASSERT_NEAR(g, w, tol * (1 + std::fabs(w))) << "output " << i << " element " << j;
    }
  }
}

std::vector<Tensor> reference(const std::shared_ptr<const Graph>& g, const std::vector<Tensor>& inputs) {
  auto interp = Interpreter::create(g);
  EXPECT_TRUE(interp.ok()) << interp.status().toString();
  if (!interp.ok()) return {};
  auto want = (*interp)->run(inputs);
  EXPECT_TRUE(want.ok()) << want.status().toString();
  return want.ok() ? *want : std::vector<Tensor>{};
}

/// Compiles `text` on cpu only, checks every region is on cpu, runs it and
/// compares with the reference interpreter.
void checkGraph(const std::string& text, const std::vector<Tensor>& inputs, double tol = 1e-4) {
  auto engine = cpuEngine();
  ASSERT_NE(engine, nullptr);
  auto g = parse(text);
  ASSERT_NE(g, nullptr);
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  for (const auto& r : (*model)->plan().regions) EXPECT_EQ(r.backend, "cpu") << (*model)->plan().toTable(true);
  EXPECT_TRUE((*model)->compileLog().empty()) << (*model)->compileLog()[0];
  auto outs = (*model)->run(inputs);
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  expectClose(*outs, reference(g, inputs), tol);
}

std::string convBnReluGraph(const std::string& batch) {
  std::string t = "graph @g(%x: f32[" + batch + ", 4, 9, 9]) {\n";
  t += constantLine("w", {8, 4, 3, 3}, -0.5, 0.5, 11);
  t += constantLine("b", {8}, -0.5, 0.5, 12);
  t += constantLine("gamma", {8}, 0.5, 1.5, 13);
  t += constantLine("beta", {8}, -0.5, 0.5, 14);
  t += constantLine("mean", {8}, -0.3, 0.3, 15);
  t += constantLine("var", {8}, 0.2, 1.5, 16);
  t += constantLine("w2", {8, 4, 1, 1}, -0.5, 0.5, 17);  // grouped 1x1 conv, group 2
  t += "  %c = conv(%x, %w, %b) {pads = [1, 1, 1, 1], strides = [2, 2]} : f32[" + batch + ", 8, 5, 5]\n";
  t += "  %n = batch_norm(%c, %gamma, %beta, %mean, %var) {epsilon = 0.001} : f32[" + batch + ", 8, 5, 5]\n";
  t += "  %r = relu(%n) : f32[" + batch + ", 8, 5, 5]\n";
  t += "  %c2 = conv(%r, %w2) {group = 2} : f32[" + batch + ", 8, 5, 5]\n";
  t += "  %s = add(%c2, %r) : f32[" + batch + ", 8, 5, 5]\n";
  t += "  %p = max_pool(%s) {kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1]} : f32[" + batch +
       ", 8, 3, 3]\n";
  t += "  %q = global_avg_pool(%p) : f32[" + batch + ", 8, 1, 1]\n";
  t += "  return %q, %s\n}\n";
  return t;
}

// ============================================================================

TEST(CpuPlugin, DeviceInfo) {
  auto plugin = PluginHost::load(kPluginPath);
  ASSERT_TRUE(plugin.ok()) << plugin.status().toString();
  EXPECT_EQ((*plugin)->name(), "cpu");
  ASSERT_EQ((*plugin)->devices().size(), 1u);
  const auto& d = (*plugin)->devices()[0];
  EXPECT_FALSE(d.name.empty());
  EXPECT_NE(d.name.find("threads)"), std::string::npos) << d.name;
  EXPECT_TRUE(d.hostVisibleMemory);
  EXPECT_GT(d.memoryBytes, 0u);
  EXPECT_GT(d.score, 0);
}

TEST(CpuPlugin, ConvBatchNormReluFoldMatchesReference) {
  checkGraph(convBnReluGraph("2"), {randomF({2, 4, 9, 9}, -1, 1, 3)});
}

TEST(CpuPlugin, GeluAndSiluOpsAfterAProductOfMinusInfinityAreMinusZero) {
  // The IR's gelu and silu ops are -0 at -inf (docs/ir.md; the reference's
  // limit), where x * gate(x) is -inf * 0 = NaN: a product whose output is
  // -inf (a -inf input times positive weights) must not turn them into NaN,
  // fused or not.
  Tensor x = randomF({4, 6}, 0.5, 1, 31);
  x.setDouble(0, -INFINITY);  // row 0 of the product: -inf everywhere
  Tensor c = randomF({1, 3, 4, 4}, 0.5, 1, 32);
  c.setDouble(5, -INFINITY);
  for (const char* op : {"gelu", "silu"}) {
    SCOPED_TRACE(op);
    std::string t = "graph @g(%x: f32[4, 6], %c: f32[1, 3, 4, 4]) {\n";
    t += constantLine("w", {6, 8}, 0.5, 1, 33);
    t += constantLine("k", {5, 3, 3, 3}, 0.5, 1, 34);
    t += "  %m = matmul(%x, %w) : f32[4, 8]\n";
    t += std::string("  %g = ") + op + "(%m) : f32[4, 8]\n";
    t += "  %y = conv(%c, %k) {pads = [1, 1, 1, 1]} : f32[1, 5, 4, 4]\n";
    t += std::string("  %s = ") + op + "(%y) : f32[1, 5, 4, 4]\n";
    t += "  return %g, %s\n}\n";
    checkGraph(t, {x, c});
  }
}

TEST(CpuPlugin, MatmulBiasGelu) {
  std::string t = "graph @g(%x: f32[3, 5, 16]) {\n";
  t += constantLine("w", {16, 24}, -0.5, 0.5, 21);
  t += constantLine("bias", {24}, -0.5, 0.5, 22);
  t += constantLine("w2", {24, 16}, -0.5, 0.5, 23);
  t += constantLine("c", {16}, -0.5, 0.5, 24);
  t += "  %shape = constant() {value = tensor<i64[2]>[15, 24]} : i64[2]\n";
  t += "  %m = matmul(%x, %w) : f32[3, 5, 24]\n";
  t += "  %a = add(%bias, %m) : f32[3, 5, 24]\n";
  t += "  %g = gelu(%a) : f32[3, 5, 24]\n";
  t += "  %x2 = reshape(%g, %shape) : f32[15, 24]\n";
  t += "  %m2 = gemm(%x2, %w2, %c) {alpha = 0.5, beta = 2.0} : f32[15, 16]\n";
  t += "  return %g, %m2\n}\n";
  checkGraph(t, {randomF({3, 5, 16}, -1, 1, 4)});
  // gelu tanh and a runtime weight: matmul(x, w) + bias -> gelu(tanh) -> tanh
  // Two scalar post-ops around a relu (oneDNN 2.6 miscomputes two eltwise_linear
  // post-ops in one primitive: the second one must not be fused), and a conv
  // with a scalar scale, shift and clip.
  checkGraph(R"(graph @g(%x: f32[4, 6], %w: f32[6, 8], %c: f32[2, 3, 5, 5], %k: f32[4, 3, 3, 3]) {
  %two = constant() {value = tensor<f32[]>[2.0]} : f32[]
  %one = constant() {value = tensor<f32[]>[1.0]} : f32[]
  %m = matmul(%x, %w) : f32[4, 8]
  %s = mul(%m, %two) : f32[4, 8]
  %t = relu(%s) : f32[4, 8]
  %u = add(%t, %one) : f32[4, 8]
  %v = sub(%one, %u) : f32[4, 8]
  %y = conv(%c, %k) {pads = [1, 1, 1, 1]} : f32[2, 4, 5, 5]
  %y2 = div(%y, %two) : f32[2, 4, 5, 5]
  %y3 = sub(%y2, %one) : f32[2, 4, 5, 5]
  %y4 = clip(%y3) {min = -1.0, max = 0.5} : f32[2, 4, 5, 5]
  return %v, %y4
})",
             {randomF({4, 6}, -1, 1, 11), randomF({6, 8}, -1, 1, 12), randomF({2, 3, 5, 5}, -1, 1, 13),
              randomF({4, 3, 3, 3}, -1, 1, 14)});
  checkGraph(R"(graph @g(%x: f32[7, 9], %w: f32[9, 5], %b: f32[5]) {
  %m = matmul(%x, %w) : f32[7, 5]
  %a = add(%m, %b) : f32[7, 5]
  %g = gelu(%a) {approximate = "tanh"} : f32[7, 5]
  %t = tanh(%g) : f32[7, 5]
  return %t
})",
             {randomF({7, 9}, -1, 1, 5), randomF({9, 5}, -1, 1, 6), randomF({5}, -1, 1, 7)});
}

TEST(CpuPlugin, ExportedGeluScalarOpsAndSoftmaxFuseIntoMatmul) {
  // matmul + bias + the GELU PyTorch exports (div/erf/add/mul/mul, reading the
  // matmul output twice) -> one step with a gelu post-op; then a matmul whose
  // output is divided by a scalar and shifted (linear post-ops), and softmax.
  std::string t = "graph @g(%x: f32[N, 16]) {\n";
  t += constantLine("w", {16, 32}, -0.5, 0.5, 41);
  t += constantLine("bias", {32}, -0.5, 0.5, 42);
  t += constantLine("w2", {32, 8}, -0.5, 0.5, 43);
  t += "  %sq = constant() {value = tensor<f32[]>[1.4142135]} : f32[]\n";
  t += "  %one = constant() {value = tensor<f32[]>[1.0]} : f32[]\n";
  t += "  %half = constant() {value = tensor<f32[]>[0.5]} : f32[]\n";
  t += "  %scale = constant() {value = tensor<f32[]>[2.828427]} : f32[]\n";
  t += "  %m = matmul(%x, %w) : f32[N, 32]\n";
  t += "  %a = add(%m, %bias) : f32[N, 32]\n";
  t += "  %d = div(%a, %sq) : f32[N, 32]\n";
  t += "  %e = erf(%d) : f32[N, 32]\n";
  t += "  %p = add(%one, %e) : f32[N, 32]\n";
  t += "  %q = mul(%a, %p) : f32[N, 32]\n";
  t += "  %g = mul(%half, %q) : f32[N, 32]\n";
  t += "  %m2 = matmul(%g, %w2) : f32[N, 8]\n";
  t += "  %s = div(%m2, %scale) : f32[N, 8]\n";
  t += "  %u = sub(%one, %s) : f32[N, 8]\n";
  t += "  %y = softmax(%u) {axis = -1} : f32[N, 8]\n";
  t += "  %z = log_softmax(%u) {axis = 0} : f32[N, 8]\n";
  t += "  return %y, %z\n}\n";
  auto engine = cpuEngine();
  ASSERT_NE(engine, nullptr);
  auto g = parse(t);
  ASSERT_NE(g, nullptr);
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  for (int64_t n : {5, 64}) {
    const std::vector<Tensor> inputs = {randomF({n, 16}, -2, 2, static_cast<unsigned>(n))};
    auto outs = (*model)->run(inputs);
    ASSERT_TRUE(outs.ok()) << outs.status().toString();
    expectClose(*outs, reference(g, inputs));
  }
}

TEST(CpuPlugin, ElementwiseChainWithBroadcasting) {
  // One chain: same shape, scalar, a row [6], a column [4, 1] and a general
  // broadcast [2, 1, 6] widening the result to [2, 4, 6]; %e is also an
  // output, so the chain is cut there.
  checkGraph(R"(graph @g(%x: f32[4, 6], %row: f32[6], %col: f32[4, 1], %s: f32[], %big: f32[2, 1, 6]) {
  %a = relu(%x) : f32[4, 6]
  %b = mul(%a, %row) : f32[4, 6]
  %c = sub(%col, %b) : f32[4, 6]
  %d = div(%c, %s) : f32[4, 6]
  %e = tanh(%d) : f32[4, 6]
  %f = add(%e, %big) : f32[2, 4, 6]
  %g = sigmoid(%f) : f32[2, 4, 6]
  %h = maximum(%g, %s) : f32[2, 4, 6]
  %i = silu(%h) : f32[2, 4, 6]
  %j = exp(%i) : f32[2, 4, 6]
  %k = erf(%j) : f32[2, 4, 6]
  %l = clip(%k) {min = 0.1, max = 0.9} : f32[2, 4, 6]
  %m = leaky_relu(%l) {alpha = 0.2} : f32[2, 4, 6]
  %n = pow(%m, %s) : f32[2, 4, 6]
  %o = round(%n) : f32[2, 4, 6]
  return %o, %e, %n
})",
             {randomF({4, 6}, -2, 2, 1), randomF({6}, -1, 1, 2), randomF({4, 1}, -1, 1, 3),
              randomF({}, 0.5, 1.5, 4), randomF({2, 1, 6}, -1, 1, 5)});
  for (const char* op : {"neg", "abs", "exp", "sin", "cos", "tanh", "sigmoid", "relu", "gelu", "erf", "silu", "floor",
                         "ceil", "round", "sign"}) {
    SCOPED_TRACE(op);
    checkGraph(std::string("graph @g(%x: f32[3, 700]) {\n  %y = ") + op + "(%x) : f32[3, 700]\n  return %y\n}\n",
               {randomF({3, 700}, -6, 6, 9)});
  }
  for (const char* op : {"log", "sqrt", "rsqrt", "reciprocal"}) {
    SCOPED_TRACE(op);
    checkGraph(std::string("graph @g(%x: f32[3, 700]) {\n  %y = ") + op + "(%x) : f32[3, 700]\n  return %y\n}\n",
               {randomF({3, 700}, 0.1, 6, 9)});
  }
}

TEST(CpuPlugin, DynamicBatchDim) {
  auto engine = cpuEngine();
  ASSERT_NE(engine, nullptr);
  auto g = parse(convBnReluGraph("N"));
  ASSERT_NE(g, nullptr);
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  // Repeated sizes reuse their plan; more sizes than a step caches (32) make
  // uncached primitives whose blocked outputs must stay valid for the run.
  std::vector<int64_t> batches = {1, 3, 1, 5, 3};
  for (int64_t n = 6; n < 42; ++n) batches.push_back(n);
  batches.push_back(2);
  for (int64_t n : batches) {
    SCOPED_TRACE(n);
    const std::vector<Tensor> inputs = {randomF({n, 4, 9, 9}, -1, 1, static_cast<unsigned>(n) + 1)};
    auto outs = (*model)->run(inputs);
    ASSERT_TRUE(outs.ok()) << outs.status().toString();
    expectClose(*outs, reference(g, inputs));
  }
  auto mlp = parse(R"(graph @g(%x: f32[N, 6], %w: f32[6, 3]) {
  %a = matmul(%x, %w) : f32[N, 3]
  %b = relu(%a) : f32[N, 3]
  %c = mul(%b, %b) : f32[N, 3]
  return %c
})");
  auto m2 = engine->compile(mlp);
  ASSERT_TRUE(m2.ok()) << m2.status().toString();
  // More sizes than the per-step primitive cache (32) and the plan cache (16) hold.
  std::vector<int64_t> sizes = {1, 4, 17, 0};
  for (int64_t n = 2; n < 60; n += 1) sizes.push_back(n);
  sizes.push_back(4);
  for (int64_t n : sizes) {
    SCOPED_TRACE(n);
    const std::vector<Tensor> inputs = {randomF({n, 6}, -1, 1, 3), randomF({6, 3}, -1, 1, 4)};
    auto outs = (*m2)->run(inputs);
    ASSERT_TRUE(outs.ok()) << outs.status().toString();
    expectClose(*outs, reference(mlp, inputs));
  }
}

/// A block with a matmul + bias + exported GELU, an elementwise chain large
/// enough to use the pool, softmax and a transpose (generic kernel).
std::string attentionLikeGraph() {
  std::string t = "graph @g(%x: f32[N, 64, 32]) {\n";
  t += constantLine("w", {32, 96}, -0.3, 0.3, 51);
  t += constantLine("bias", {96}, -0.3, 0.3, 52);
  t += "  %sq = constant() {value = tensor<f32[]>[1.4142135]} : f32[]\n";
  t += "  %one = constant() {value = tensor<f32[]>[1.0]} : f32[]\n";
  t += "  %half = constant() {value = tensor<f32[]>[0.5]} : f32[]\n";
  t += "  %m = matmul(%x, %w) : f32[N, 64, 96]\n";
  t += "  %a = add(%bias, %m) : f32[N, 64, 96]\n";
  t += "  %d = div(%a, %sq) : f32[N, 64, 96]\n";
  t += "  %e = erf(%d) : f32[N, 64, 96]\n";
  t += "  %p = add(%e, %one) : f32[N, 64, 96]\n";
  t += "  %q = mul(%a, %p) : f32[N, 64, 96]\n";
  t += "  %g = mul(%q, %half) : f32[N, 64, 96]\n";
  t += "  %t = transpose(%g) {perm = [0, 2, 1]} : f32[N, 96, 64]\n";
  t += "  %s = softmax(%t) {axis = -1} : f32[N, 96, 64]\n";
  t += "  %u = sigmoid(%s) : f32[N, 96, 64]\n";
  t += "  %v = mul(%u, %t) : f32[N, 96, 64]\n";
  t += "  %r = reduce_sum(%v) {axes = [2], keepdims = 0} : f32[N, 96]\n";
  t += "  return %r, %v\n}\n";
  return t;
}

TEST(CpuPlugin, ConcurrentExecuteFromFourThreads) {
  for (const auto& [text, shape] : std::vector<std::pair<std::string, Shape>>{
           {convBnReluGraph("N"), Shape{4, 9, 9}}, {attentionLikeGraph(), Shape{64, 32}}}) {
    auto engine = cpuEngine();
    ASSERT_NE(engine, nullptr);
    auto g = parse(text);
    ASSERT_NE(g, nullptr);
    auto model = engine->compile(g);
    ASSERT_TRUE(model.ok()) << model.status().toString();
    constexpr int kThreads = 4, kRuns = 25;
    std::vector<std::vector<Tensor>> inputs, want;
    for (int t = 0; t < kThreads; ++t) {
      Shape full = {1 + t % 2};
      full.insert(full.end(), shape.begin(), shape.end());
      inputs.push_back({randomF(full, -1, 1, 100 + static_cast<unsigned>(t))});
      want.push_back(reference(g, inputs.back()));
    }
    std::vector<std::string> errors(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kRuns; ++i) {
          auto outs = (*model)->run(inputs[static_cast<size_t>(t)]);
          if (!outs.ok()) {
            errors[static_cast<size_t>(t)] = outs.status().toString();
            return;
          }
          const auto& w = want[static_cast<size_t>(t)];
          for (size_t o = 0; o < w.size(); ++o) {
            for (int64_t j = 0; j < w[o].numel(); ++j) {
              if (std::fabs((*outs)[o].getDouble(j) - w[o].getDouble(j)) > 1e-4 * (1 + std::fabs(w[o].getDouble(j)))) {
                errors[static_cast<size_t>(t)] = "run " + std::to_string(i) + " output " + std::to_string(o) +
                                                  " element " + std::to_string(j) + " differs";
                return;
              }
            }
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors[static_cast<size_t>(t)], "") << "thread " << t;
  }
}

TEST(CpuPlugin, ThreadsOption) {
  for (const char* bad : {"abc", "-1", "2.5", "100000"}) {
    SCOPED_TRACE(bad);
    Config c = cpuConfig(true, {{"threads", bad}});
    c.strict = true;
    auto engine = Engine::create(c);
    ASSERT_FALSE(engine.ok());
    const std::string msg = engine.status().message();
    EXPECT_NE(msg.find("threads"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::string("'") + bad + "'"), std::string::npos) << msg;
  }
  Config c = cpuConfig(true, {{"threads", "bogus_key_test"}});
  c.backends[0].options = {{"treads", "2"}};
  c.strict = true;
  auto unknown = Engine::create(c);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("treads"), std::string::npos) << unknown.status().message();
  for (const char* good : {"1", "2", "auto"}) {
    SCOPED_TRACE(good);
    auto engine = cpuEngine(true, {{"threads", good}});
    ASSERT_NE(engine, nullptr);
    auto g = parse(convBnReluGraph("2"));
    auto model = engine->compile(g);
    ASSERT_TRUE(model.ok()) << model.status().toString();
    const std::vector<Tensor> inputs = {randomF({2, 4, 9, 9}, -1, 1, 8)};
    auto outs = (*model)->run(inputs);
    ASSERT_TRUE(outs.ok()) << outs.status().toString();
    expectClose(*outs, reference(g, inputs));
  }
}

TEST(CpuPlugin, MemoryPlanReusesIntermediates) {
  const std::string log = ::testing::TempDir() + "/sy_cpu_plan_log.txt";
  std::remove(log.c_str());
  ASSERT_EQ(setenv("SY_CPU_PLAN_LOG", log.c_str(), 1), 0);
  // A chain of matmuls (not fusable with each other): 5 intermediates of
  // 64x64 floats, at most 2 alive at once.
  std::string t = "graph @g(%x: f32[64, 64]) {\n";
  for (int i = 0; i < 6; ++i) t += constantLine("w" + std::to_string(i), {64, 64}, -0.2, 0.2, 30 + i);
  std::string prev = "x";
  for (int i = 0; i < 6; ++i) {
    const std::string y = "m" + std::to_string(i);
    t += "  %" + y + " = matmul(%" + prev + ", %w" + std::to_string(i) + ") : f32[64, 64]\n";
    prev = y;
  }
  t += "  return %" + prev + "\n}\n";
  checkGraph(t, {randomF({64, 64}, -1, 1, 2)}, 1e-3);
  unsetenv("SY_CPU_PLAN_LOG");
  std::ifstream in(log);
  std::string line;
  ASSERT_TRUE(std::getline(in, line)) << "no plan was logged to " << log;
  size_t arena = 0, sum = 0;
  ASSERT_EQ(std::sscanf(line.c_str(), "plan arena_bytes=%zu sum_bytes=%zu", &arena, &sum), 2) << line;
  EXPECT_EQ(sum, 5u * 64 * 64 * 4) << line;
  EXPECT_EQ(arena, 2u * 64 * 64 * 4) << line;
  EXPECT_LT(arena, sum) << line;
}

TEST(CpuPlugin, RunTimeErrorsNameTheNode) {
  auto engine = cpuEngine();
  ASSERT_NE(engine, nullptr);
  auto g = parse(R"(graph @g(%a: f32[N, 3], %b: f32[M, 3]) {
  %c = add(%a, %b) : f32[N, 3]
  %d = exp(%c) : f32[N, 3]
  return %d
})");
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  auto bad = (*model)->run({randomF({2, 3}), randomF({3, 3})});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'add' node"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("broadcast"), std::string::npos) << bad.status().message();
}

// (More in cpu_control_flow_test.)
TEST(CpuPlugin, TakesControlFlowWhole) {
  auto engine = cpuEngine(false);
  ASSERT_NE(engine, nullptr);
  auto g = parse(R"(graph @g(%c: bool, %x: f32[3]) {
  %y = if(%c) : f32[3] {
  ^then:
    %a = exp(%x) : f32[3]
    yield %a
  ^else:
    yield %x
  }
  return %y
})");
  ASSERT_NE(g, nullptr);
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  const std::string table = (*model)->plan().toTable(true);
  ASSERT_EQ((*model)->plan().regions.size(), 1u) << table;
  EXPECT_EQ((*model)->plan().regions[0].backend, "cpu") << table;
}


// ---------------------------------------------------------------------------
// Issue #12: NaN and infinities as the reference has them, long chains,
// declared types, reshape of empty tensors.

/// Same as checkGraph, with NaN matching NaN and an infinity the same infinity
/// (and, unless !wantNaN, at least one NaN expected in each output).
void checkGraphIeee(const std::string& text, const std::vector<Tensor>& inputs, bool wantNaN = true) {
  auto engine = cpuEngine();
  ASSERT_NE(engine, nullptr);
  auto g = parse(text);
  ASSERT_NE(g, nullptr);
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  for (const auto& r : (*model)->plan().regions) EXPECT_EQ(r.backend, "cpu");
  auto outs = (*model)->run(inputs);
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  const std::vector<Tensor> want = reference(g, inputs);
  ASSERT_EQ(outs->size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ((*outs)[i].shape(), want[i].shape());
    int64_t nans = 0;
    for (int64_t j = 0; j < want[i].numel(); ++j) {
      const double gv = (*outs)[i].getDouble(j), wv = want[i].getDouble(j);
      if (std::isnan(wv)) {
        ++nans;
        EXPECT_TRUE(std::isnan(gv)) << "output " << i << " element " << j << ": got " << gv << ", want NaN";
      } else if (std::isinf(wv)) {
        EXPECT_EQ(gv, wv) << "output " << i << " element " << j;
      } else {
        EXPECT_NEAR(gv, wv, 1e-4 * (1 + std::fabs(wv))) << "output " << i << " element " << j;
      }
    }
    if (wantNaN) {
      EXPECT_GT(nans, 0) << "output " << i << ": the case should exercise NaN";
    }
  }
}

/// conv -> SiLU as PyTorch exports it (x * sigmoid(x)) -> depthwise conv ->
/// HardSwish as the ONNX importer lowers it (x * clip(x / 6 + 0.5, 0, 1)),
/// operands in both orders: the cpu plugin fuses each gate into its conv as
/// a oneDNN post-op (eltwise_swish, eltwise_hardswish).
std::string gatedActivationGraph(bool swapOperands) {
  std::string t = "graph @g(%x: f32[2, 8, 12, 12]) {\n";
  t += constantLine("k1", {16, 8, 3, 3}, -0.3, 0.3, 61);
  t += constantLine("b1", {16}, -0.5, 0.5, 62);
  t += constantLine("k2", {16, 1, 3, 3}, -0.5, 0.5, 63);
  t += "  %sixth = constant() {value = tensor<f32[]>[0.16666667]} : f32[]\n";
  t += "  %half = constant() {value = tensor<f32[]>[0.5]} : f32[]\n";
  t += "  %c = conv(%x, %k1, %b1) {pads = [1, 1, 1, 1]} : f32[2, 16, 12, 12]\n";
  t += "  %s = sigmoid(%c) : f32[2, 16, 12, 12]\n";
  t += swapOperands ? "  %y = mul(%s, %c) : f32[2, 16, 12, 12]\n" : "  %y = mul(%c, %s) : f32[2, 16, 12, 12]\n";
  t += "  %d = conv(%y, %k2) {group = 16, pads = [1, 1, 1, 1], strides = [2, 2]} : f32[2, 16, 6, 6]\n";
  t += swapOperands ? "  %m = mul(%sixth, %d) : f32[2, 16, 6, 6]\n" : "  %m = mul(%d, %sixth) : f32[2, 16, 6, 6]\n";
  t += "  %a = add(%m, %half) : f32[2, 16, 6, 6]\n";
  t += "  %l = clip(%a) {min = 0.0, max = 1.0} : f32[2, 16, 6, 6]\n";
  t += swapOperands ? "  %z = mul(%l, %d) : f32[2, 16, 6, 6]\n" : "  %z = mul(%d, %l) : f32[2, 16, 6, 6]\n";
  t += "  return %z\n}\n";
  return t;
}

TEST(CpuPlugin, ExportedSiluAndHardSwishFuseIntoConv) {
  for (bool swap : {false, true}) {
    SCOPED_TRACE(swap ? "gate operand first" : "x operand first");
    checkGraph(gatedActivationGraph(swap), {randomF({2, 8, 12, 12}, -3, 3, 64)});
    // The fused gates keep NaN (the last step multiplies by x).
    checkGraphIeee(gatedActivationGraph(swap), {nonFiniteF({2, 8, 12, 12}, 65)});
  }
}

TEST(CpuPlugin, SqueezeExcitationScalesInTheConvLayout) {
  // conv -> SiLU -> squeeze-and-excitation (global pool, two 1x1 convs, a
  // sigmoid gate) -> x * gate [1, C, 1, 1] -> conv: the per-channel mul is a
  // oneDNN binary step that keeps the convs' blocked layout; the gate on
  // either side, and an add of a per-channel [2, C, 1, 1] operand too.
  for (bool gateFirst : {false, true}) {
    SCOPED_TRACE(gateFirst ? "mul(gate, x)" : "mul(x, gate)");
    std::string t = "graph @g(%x: f32[2, 8, 10, 10], %bias: f32[2, 16, 1, 1]) {\n";
    t += constantLine("k1", {16, 8, 3, 3}, -0.3, 0.3, 71);
    t += constantLine("r1", {4, 16, 1, 1}, -0.5, 0.5, 72);
    t += constantLine("r2", {16, 4, 1, 1}, -0.5, 0.5, 73);
    t += constantLine("k2", {8, 16, 1, 1}, -0.5, 0.5, 74);
    t += "  %c = conv(%x, %k1) {pads = [1, 1, 1, 1]} : f32[2, 16, 10, 10]\n";
    t += "  %sg = sigmoid(%c) : f32[2, 16, 10, 10]\n";
    t += "  %y = mul(%c, %sg) : f32[2, 16, 10, 10]\n";
    t += "  %p = global_avg_pool(%y) : f32[2, 16, 1, 1]\n";
    t += "  %q = conv(%p, %r1) : f32[2, 4, 1, 1]\n";
    t += "  %u = conv(%q, %r2) : f32[2, 16, 1, 1]\n";
    t += "  %gate = sigmoid(%u) : f32[2, 16, 1, 1]\n";
    t += gateFirst ? "  %s = mul(%gate, %y) : f32[2, 16, 10, 10]\n" : "  %s = mul(%y, %gate) : f32[2, 16, 10, 10]\n";
    t += "  %b = add(%s, %bias) : f32[2, 16, 10, 10]\n";
    t += "  %z = conv(%b, %k2) : f32[2, 8, 10, 10]\n";
    t += "  return %z, %s\n}\n";
    checkGraph(t, {randomF({2, 8, 10, 10}, -3, 3, 75), randomF({2, 16, 1, 1}, -1, 1, 76)});
    checkGraphIeee(t, {nonFiniteF({2, 8, 10, 10}, 77), randomF({2, 16, 1, 1}, -1, 1, 78)});
  }
}

TEST(CpuPlugin, RunsAgreeWhateverTeamSizeTheRegionPicks) {
  // With threads > 1 a region alternates between all threads and the calling
  // thread alone while it measures which is faster (Note [Threads on shared
  // cores]); each team size has its own primitives. Every run must agree.
  std::string t = "graph @g(%x: f32[1, 16, 24, 24]) {\n";
  t += constantLine("k", {32, 16, 3, 3}, -0.3, 0.3, 91);
  t += constantLine("k2", {32, 1, 3, 3}, -0.3, 0.3, 92);
  t += "  %c = conv(%x, %k) {pads = [1, 1, 1, 1]} : f32[1, 32, 24, 24]\n";
  t += "  %s = sigmoid(%c) : f32[1, 32, 24, 24]\n";
  t += "  %y = mul(%c, %s) : f32[1, 32, 24, 24]\n";
  t += "  %d = conv(%y, %k2) {group = 32, pads = [1, 1, 1, 1]} : f32[1, 32, 24, 24]\n";
  t += "  %p = max_pool(%d) {kernel_shape = [2, 2], strides = [2, 2]} : f32[1, 32, 12, 12]\n";
  t += "  %z = softmax(%p) {axis = 1} : f32[1, 32, 12, 12]\n";
  t += "  return %z, %d\n}\n";
  auto engine = cpuEngine(true, {{"threads", "2"}});
  ASSERT_NE(engine, nullptr);
  auto g = parse(t);
  ASSERT_NE(g, nullptr);
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  const std::vector<Tensor> inputs = {randomF({1, 16, 24, 24}, -2, 2, 93)};
  const std::vector<Tensor> want = reference(g, inputs);
  for (int i = 0; i < 40; ++i) {
    auto outs = (*model)->run(inputs);
    ASSERT_TRUE(outs.ok()) << outs.status().toString();
    expectClose(*outs, want);
  }
}

TEST(CpuPlugin, ProfileReportsEachFusedStepWithItsShapes) {
  // execute_profiled (ABI 1.2): one event per step, named by the ops it
  // fused, with the run's shapes; the steps cover most of the region's time.
  std::string t = "graph @g(%x: f32[1, 16, 32, 32]) {\n";
  t += constantLine("k", {32, 16, 3, 3}, -0.3, 0.3, 81);
  t += constantLine("w", {32, 10}, -0.3, 0.3, 82);
  t += "  %c = conv(%x, %k) {pads = [1, 1, 1, 1]} : f32[1, 32, 32, 32]\n";
  t += "  %s = sigmoid(%c) : f32[1, 32, 32, 32]\n";
  t += "  %y = mul(%c, %s) : f32[1, 32, 32, 32]\n";
  t += "  %p = global_avg_pool(%y) : f32[1, 32, 1, 1]\n";
  t += "  %f = flatten(%p) {axis = 1} : f32[1, 32]\n";
  t += "  %m = matmul(%f, %w) : f32[1, 10]\n";
  t += "  %z = softmax(%m) {axis = -1} : f32[1, 10]\n";
  t += "  return %z\n}\n";
  auto engine = cpuEngine();
  ASSERT_NE(engine, nullptr);
  auto g = parse(t);
  ASSERT_NE(g, nullptr);
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  const std::vector<Tensor> inputs = {randomF({1, 16, 32, 32}, -2, 2, 83)};
  std::vector<TraceEvent> events;
  RunOptions options;
  options.trace = &events;
  options.profileSteps = true;
  constexpr int kRuns = 5;
  for (int i = 0; i < kRuns; ++i) {
    auto outs = (*model)->run(inputs, options);
    ASSERT_TRUE(outs.ok()) << outs.status().toString();
    if (i == 0) expectClose(*outs, reference(g, inputs));
  }
  const Profile p = summarizeProfile(events, kRuns);
  EXPECT_EQ(p.regionsWithSteps, 1);
  EXPECT_EQ(p.regionsWithoutSteps, 0);
  std::map<std::string, const ProfileRow*> byOps;
  double sum = 0;
  for (const ProfileRow& r : p.rows) {
    sum += r.sharePercent;
    if (r.kind == ProfileRow::Kind::Step) byOps[r.what] = &r;
  }
  EXPECT_NEAR(sum, 100.0, 0.01);
  const std::string text = formatProfile(p, 0);
  for (const char* ops : {"conv + sigmoid + mul", "global_avg_pool", "flatten", "matmul", "softmax"}) {
    ASSERT_TRUE(byOps.count(ops)) << "no step '" << ops << "' in\n" << text;
    EXPECT_EQ(byOps[ops]->count, kRuns) << ops;
    EXPECT_EQ(byOps[ops]->backend, "cpu");
  }
  EXPECT_EQ(byOps["conv + sigmoid + mul"]->detail, "f32[1,16,32,32] -> f32[1,32,32,32]") << text;
  // The steps are where the time goes: the conv dominates, and what lies
  // outside the steps (binding inputs and outputs) is the smaller part.
  EXPECT_GT(byOps["conv + sigmoid + mul"]->totalUs, byOps["softmax"]->totalUs) << text;
  EXPECT_GT(p.stepUs, 0.5 * p.regionUs) << text;
  // Without profileSteps the trace has the region only.
  events.clear();
  options.profileSteps = false;
  ASSERT_TRUE((*model)->run(inputs, options).ok());
  for (const TraceEvent& e : events) EXPECT_FALSE(e.step) << e.name;
}

TEST(CpuPlugin, FusedReluAndClipKeepNaN) {
  // matmul + relu turned NaN into 0, + clip into the minimum (oneDNN post-ops).
  const std::string w = constantLine("w", {16, 8}, -1, 1, 21);
  checkGraphIeee("graph @g(%x: f32[6, 16]) {\n" + w +
                     "  %m = matmul(%x, %w) : f32[6, 8]\n"
                     "  %r = relu(%m) : f32[6, 8]\n"
                     "  %n = matmul(%x, %w) : f32[6, 8]\n"
                     "  %c = clip(%n) {min = -0.5, max = 0.5} : f32[6, 8]\n"
                     "  return %r, %c\n}\n",
                 {nonFiniteF({6, 16}, 3)});
  const std::string k = constantLine("k", {8, 4, 3, 3}, -0.5, 0.5, 22);
  checkGraphIeee("graph @g(%x: f32[1, 4, 9, 9]) {\n" + k +
                     "  %c = conv(%x, %k) {pads = [1, 1, 1, 1]} : f32[1, 8, 9, 9]\n"
                     "  %r = relu(%c) : f32[1, 8, 9, 9]\n"
                     "  return %r\n}\n",
                 {nonFiniteF({1, 4, 9, 9}, 4)});
}

TEST(CpuPlugin, SoftmaxRowsWithNaNAndInfinities) {
  for (const char* op : {"softmax", "log_softmax"}) {
    checkGraphIeee(std::string("graph @g(%x: f32[12, 9]) {\n  %y = ") + op +
                       "(%x) {axis = 1} : f32[12, 9]\n  %z = " + op + "(%x) {axis = 0} : f32[12, 9]\n  return %y, %z\n}\n",
                   {nonFiniteF({12, 9}, 5)});
  }
}

TEST(CpuPlugin, MaxPoolingKeepsNaN) {
  // Plain input, and a conv's (blocked layout) output into the pool.
  checkGraphIeee(R"(graph @g(%x: f32[2, 3, 9, 9]) {
  %p = max_pool(%x) {kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1]} : f32[2, 3, 5, 5]
  %q = global_max_pool(%x) : f32[2, 3, 1, 1]
  return %p, %q
})",
                 {nonFiniteF({2, 3, 9, 9}, 6)});
  const std::string k = constantLine("k", {16, 16, 3, 3}, -0.5, 0.5, 23);
  checkGraphIeee("graph @g(%x: f32[1, 16, 12, 12]) {\n" + k +
                     "  %c = conv(%x, %k) {pads = [1, 1, 1, 1]} : f32[1, 16, 12, 12]\n"
                     "  %p = max_pool(%c) {kernel_shape = [2, 2], strides = [2, 2]} : f32[1, 16, 6, 6]\n"
                     "  return %p\n}\n",
                 {nonFiniteF({1, 16, 12, 12}, 7)});
}

TEST(CpuPlugin, VeryLongElementwiseChain) {
  // Register numbers were int16_t: a 32768-node chain failed to compile (with
  // a 677 KB message), and operand lookup was quadratic in the chain's length.
  constexpr int kNodes = 40000;
  std::string t = "graph @g(%x: f32[64]) {\n  %v0 = relu(%x) : f32[64]\n";
  for (int i = 1; i < kNodes; ++i)
    t += "  %v" + std::to_string(i) + (i % 2 ? " = add(%v" + std::to_string(i - 1) + ", %x)" : " = neg(%v" + std::to_string(i - 1) + ")") +
         " : f32[64]\n";
  t += "  return %v" + std::to_string(kNodes - 1) + "\n}\n";
  const auto t0 = std::chrono::steady_clock::now();
  checkGraph(t, {randomF({64}, -1, 1, 9)}, 1e-3);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 30.0 * kSanitizerSlowdown) << "a " << kNodes << "-node chain took " << s << " s";
}

TEST(CpuPlugin, ManyInputsAndOutputsLikeTheReference) {
  // Up to 8 inputs of a fused chain and 8 inputs or outputs of a plugin call
  // are kept on the stack (no heap allocation per call); past that they go
  // to the heap. 11 inputs: one chain of 10 adds, relu and mul; then the
  // same region returning 10 values (each add its own step).
  constexpr int kInputs = 11;
  std::string params, body;
  std::vector<Tensor> inputs;
  for (int i = 0; i < kInputs; ++i) {
    params += (i ? ", %x" : "%x") + std::to_string(i) + ": f32[3, 5]";
    inputs.push_back(randomF({3, 5}, -2, 2, 40 + static_cast<unsigned>(i)));
  }
  std::string prev = "%x0", all;
  for (int i = 1; i < kInputs; ++i) {
    body += "  %s" + std::to_string(i) + " = add(" + prev + ", %x" + std::to_string(i) + ") : f32[3, 5]\n";
    prev = "%s" + std::to_string(i);
    if (i >= 2) all += ", " + prev;
  }
  body += "  %r = relu(" + prev + ") : f32[3, 5]\n  %m = mul(%r, %x3) : f32[3, 5]\n";
  const std::string head = "graph @g(" + params + ") {\n" + body;
  checkGraph(head + "  return %m\n}\n", inputs);
  checkGraph(head + "  return %m, %r" + all + "\n}\n", inputs);
}

TEST(CpuPlugin, ReshapeOfAnEmptyTensorLikeTheReference) {
  // [0, 3] to [0, -1]: the copied 0 cancels (the reference kernel's rule);
  // cpu refused it ("cannot infer -1").
  auto engine = cpuEngine();
  ASSERT_NE(engine, nullptr);
  auto g = parse(R"(graph @g(%x: f32[N, 3]) {
  %s = constant() {value = tensor<i64[2]>[0, -1]} : i64[2]
  %y = reshape(%x, %s) : f32[N, ?]
  %z = relu(%y) : f32[N, ?]
  return %z
})");
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  const std::vector<Tensor> in = {testing::F({0, 3}, {})};
  auto outs = (*model)->run(in);
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  EXPECT_EQ((*outs)[0].shape(), reference(g, in)[0].shape());
  EXPECT_EQ((*outs)[0].shape(), (Shape{0, 3}));
}

TEST(CpuPlugin, MisDeclaredTypesAreTheModelsErrorOnEveryBackend) {
  // An output declared [5, 4] that is [2, 4] at run time: the reference said
  // "does not match", cpu blamed "a bug in the plugin". One rule, one kind of error.
  const std::string text = R"(graph @g(%x: f32[N, 4]) {
  %y = relu(%x) : f32[5, 4]
  %z = exp(%y) : f32[5, 4]
  return %z
})";
  auto g = parse(text);
  ASSERT_NE(g, nullptr);
  for (bool onCpu : {true, false}) {
    Config c = cpuConfig(!onCpu);
    if (!onCpu) c.backends.clear(), c.backends.push_back(BackendConfig{"reference", "", {}, {}});
    auto engine = Engine::create(c);
    ASSERT_TRUE(engine.ok()) << engine.status().toString();
    auto model = (*engine)->compile(g);
    ASSERT_TRUE(model.ok()) << model.status().toString();
    auto r = (*model)->run({randomF({2, 4})});
    ASSERT_FALSE(r.ok()) << (onCpu ? "cpu" : "reference");
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().toString();
    EXPECT_NE(r.status().message().find("the model declares"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("[2, 4]"), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().message().find("bug in the plugin"), std::string::npos) << r.status().message();
  }
}

TEST(CpuPlugin, AvgPoolWithPadsAsWideAsTheKernelIsRefusedEverywhere) {
  // Reference gave NaN (a window of only padding), cpu an error.
  auto g = parseGraph(R"(graph @g(%x: f32[1, 1, 4, 4]) {
  %y = avg_pool(%x) {kernel_shape = [2, 2], pads = [2, 2, 2, 2]} : f32[1, 1, 7, 7]
  return %y
})");
  const Status st = g.ok() ? verify(**g) : g.status();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("must be smaller than the kernel window"), std::string::npos) << st.message();
}


TEST(CpuPlugin, ReluAndClipBetweenConvsRunOnTheBlockedLayout) {
  // Note [blocked chains]: relu/clip are no longer oneDNN post-ops; between
  // two convs they run on the conv's blocked output as it is (padding kept 0).
  const std::string k1 = constantLine("k1", {16, 8, 3, 3}, -0.5, 0.5, 31);
  const std::string k2 = constantLine("k2", {16, 16, 3, 3}, -0.5, 0.5, 32);
  const std::string text = "graph @g(%x: f32[2, 8, 10, 10]) {\n" + k1 + k2 +
                           "  %a = conv(%x, %k1) {pads = [1, 1, 1, 1]} : f32[2, 16, 10, 10]\n"
                           "  %r = relu(%a) : f32[2, 16, 10, 10]\n"
                           "  %b = conv(%r, %k2) {pads = [1, 1, 1, 1]} : f32[2, 16, 10, 10]\n"
                           "  %c = clip(%b) {min = -0.25, max = 0.5} : f32[2, 16, 10, 10]\n"
                           "  %p = max_pool(%c) {kernel_shape = [2, 2], strides = [2, 2]} : f32[2, 16, 5, 5]\n"
                           "  return %p\n}\n";
  checkGraph(text, {randomF({2, 8, 10, 10}, -1, 1, 33)});
  checkGraphIeee(text, {nonFiniteF({2, 8, 10, 10}, 34)});
}

// ---------------------------------------------------------------------------
// Issue #15: a conv's relu as a oneDNN post-op, guarded so that NaN still
// propagates (Note [NaN-safe relu post-op] in dnnl_steps.cpp).

/// The `ops` of every step of the model's cpu regions, from a profiled run.
std::set<std::string> stepOps(const CompiledModel& model, const std::vector<Tensor>& inputs) {
  std::vector<TraceEvent> events;
  RunOptions options;
  options.trace = &events;
  options.profileSteps = true;
  auto outs = model.run(inputs, options);
  EXPECT_TRUE(outs.ok()) << outs.status().toString();
  std::set<std::string> ops;
  for (const ProfileRow& r : summarizeProfile(events, 1).rows) {
    if (r.kind == ProfileRow::Kind::Step) ops.insert(r.what);
  }
  return ops;
}

/// pointwise conv + relu, depthwise conv + relu, conv + residual add + relu:
/// ResNet's and MobileNet's blocks.
std::string convReluGraph(double wScale) {
  std::string t = "graph @g(%x: f32[2, 8, 10, 10]) {\n";
  t += constantLine("k1", {16, 8, 1, 1}, -wScale, wScale, 101);
  t += constantLine("b1", {16}, -0.5, 0.5, 102);
  t += constantLine("k2", {16, 1, 3, 3}, -wScale, wScale, 103);
  t += constantLine("k3", {8, 16, 3, 3}, -wScale, wScale, 104);
  t += "  %a = conv(%x, %k1, %b1) : f32[2, 16, 10, 10]\n";
  t += "  %ra = relu(%a) : f32[2, 16, 10, 10]\n";
  t += "  %d = conv(%ra, %k2) {group = 16, pads = [1, 1, 1, 1]} : f32[2, 16, 10, 10]\n";
  t += "  %rd = relu(%d) : f32[2, 16, 10, 10]\n";
  t += "  %c = conv(%rd, %k3) {pads = [1, 1, 1, 1]} : f32[2, 8, 10, 10]\n";
  t += "  %s = add(%c, %x) : f32[2, 8, 10, 10]\n";
  t += "  %y = relu(%s) : f32[2, 8, 10, 10]\n";
  t += "  return %y\n}\n";
  return t;
}

TEST(CpuPlugin, ConvReluFusionMatchesReference) {
  auto engine = cpuEngine();
  ASSERT_NE(engine, nullptr);
  auto g = parse(convReluGraph(0.5));
  ASSERT_NE(g, nullptr);
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  const std::vector<Tensor> inputs = {randomF({2, 8, 10, 10}, -2, 2, 105)};
  const std::set<std::string> ops = stepOps(**model, inputs);
  EXPECT_EQ(ops, (std::set<std::string>{"conv + relu", "conv + add + relu"}));
  auto outs = (*model)->run(inputs);
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  expectClose(*outs, reference(g, inputs));
}

TEST(CpuPlugin, ConvReluFusionKeepsNaNAndInfinities) {
  // NaN and infinities in x: the step runs its NaN-keeping primitive.
  checkGraphIeee(convReluGraph(0.5), {nonFiniteF({2, 8, 10, 10}, 106)});
  // NaN only in the residual addend (x finite for the first two convs would
  // not do: the addend is x itself here), and -inf / +inf only: relu(-inf) is 0.
  const std::string k = constantLine("k", {8, 8, 1, 1}, -0.5, 0.5, 107);
  const std::string text = "graph @g(%x: f32[1, 8, 6, 6], %r: f32[1, 8, 6, 6]) {\n" + k +
                           "  %c = conv(%x, %k) : f32[1, 8, 6, 6]\n"
                           "  %s = add(%r, %c) : f32[1, 8, 6, 6]\n"
                           "  %y = relu(%s) : f32[1, 8, 6, 6]\n"
                           "  return %y\n}\n";
  checkGraphIeee(text, {randomF({1, 8, 6, 6}, -2, 2, 108), nonFiniteF({1, 8, 6, 6}, 109)});
  Tensor infs = randomF({1, 8, 6, 6}, -2, 2, 110);
  for (int64_t i = 0; i < infs.numel(); i += 5) infs.setDouble(i, i % 2 ? INFINITY : -INFINITY);
  checkGraphIeee(text, {randomF({1, 8, 6, 6}, -2, 2, 111), infs}, /*wantNaN=*/false);
}

TEST(CpuPlugin, ConvReluFusionWithHugeInputsTakesTheSafePrimitive) {
  // max|x| * sum|w| above the bound: the NaN-keeping primitive, same values
  // (up to cancellation in sums of terms near 1e30: the tolerance is relative).
  Tensor x = randomF({2, 8, 10, 10}, -1e30, 1e30, 112);
  checkGraph(convReluGraph(0.5), {x}, 1e-2);
  // Both primitives on one compiled model, alternately.
  auto engine = cpuEngine();
  ASSERT_NE(engine, nullptr);
  auto g = parse(convReluGraph(0.5));
  ASSERT_NE(g, nullptr);
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  for (int i = 0; i < 6; ++i) {
    const std::vector<Tensor> inputs = {i % 3 == 0 ? nonFiniteF({2, 8, 10, 10}, 113 + i)
                                                   : randomF({2, 8, 10, 10}, i % 3 == 1 ? -2 : -1e30, i % 3 == 1 ? 2 : 1e30, 120 + i)};
    auto outs = (*model)->run(inputs);
    ASSERT_TRUE(outs.ok()) << outs.status().toString();
    expectClose(*outs, reference(g, inputs), 1e-2);
  }
}

TEST(CpuPlugin, ConvReluThatMustNotFuse) {
  // The conv's output read twice, a scalar mul between conv and relu (a linear
  // post-op: the NaN-keeping form of relu would repeat it), a runtime weight:
  // the first two keep relu a step of its own, the last fuses but always runs
  // the NaN-keeping primitive (no bound on unknown weights).
  const std::string k = constantLine("k", {8, 8, 1, 1}, -0.5, 0.5, 131);
  const std::string text = "graph @g(%x: f32[1, 8, 6, 6], %w: f32[8, 8, 1, 1]) {\n" + k +
                           "  %two = constant() {value = tensor<f32[]>[2.0]} : f32[]\n"
                           "  %c = conv(%x, %k) : f32[1, 8, 6, 6]\n"
                           "  %r = relu(%c) : f32[1, 8, 6, 6]\n"
                           "  %u = add(%c, %r) : f32[1, 8, 6, 6]\n"
                           "  %d = conv(%u, %k) : f32[1, 8, 6, 6]\n"
                           "  %m = mul(%d, %two) : f32[1, 8, 6, 6]\n"
                           "  %e = relu(%m) : f32[1, 8, 6, 6]\n"
                           "  %f = conv(%e, %w) : f32[1, 8, 6, 6]\n"
                           "  %y = relu(%f) : f32[1, 8, 6, 6]\n"
                           "  return %y\n}\n";
  auto engine = cpuEngine();
  ASSERT_NE(engine, nullptr);
  auto g = parse(text);
  ASSERT_NE(g, nullptr);
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  const std::vector<Tensor> inputs = {randomF({1, 8, 6, 6}, -2, 2, 132), randomF({8, 8, 1, 1}, -0.5, 0.5, 133)};
  const std::set<std::string> ops = stepOps(**model, inputs);
  EXPECT_TRUE(ops.count("conv")) << ::testing::PrintToString(ops);
  EXPECT_TRUE(ops.count("conv + mul")) << ::testing::PrintToString(ops);
  EXPECT_TRUE(ops.count("conv + relu")) << ::testing::PrintToString(ops);
  auto outs = (*model)->run(inputs);
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  expectClose(*outs, reference(g, inputs));
  checkGraphIeee(text, {nonFiniteF({1, 8, 6, 6}, 134), randomF({8, 8, 1, 1}, -0.5, 0.5, 135)});
  // A conv over zero input channels (its output is the bias) keeps its
  // portable kernel: the relu after it is not fused.
  checkGraph("graph @g(%x: f32[1, 0, 4, 4]) {\n"
             "  %w = constant() {value = tensor<f32[3, 0, 1, 1]>[]} : f32[3, 0, 1, 1]\n"
             "  %b = constant() {value = tensor<f32[3]>[-1.0, 0.5, 2.0]} : f32[3]\n"
             "  %c = conv(%x, %w, %b) : f32[1, 3, 4, 4]\n"
             "  %y = relu(%c) : f32[1, 3, 4, 4]\n"
             "  return %y\n}\n",
             {testing::F({1, 0, 4, 4}, {})});
}

TEST(CpuPlugin, BatchNormReluFusionKeepsNaN) {
  // Pre-activation blocks (the cnn example): batch_norm -> relu as one step
  // (fuse_norm_relu), its NaN-keeping form for NaN / inf in x, and a zero
  // variance with epsilon 0 (x / 0: inf or NaN). The second batch_norm's
  // output is also returned: its relu must stay a step of its own.
  std::string t = "graph @g(%x: f32[2, 8, 6, 6], %var: f32[8]) {\n";
  t += constantLine("gamma", {8}, 0.5, 1.5, 141);
  t += constantLine("beta", {8}, -0.5, 0.5, 142);
  t += constantLine("mean", {8}, -0.3, 0.3, 143);
  t += "  %n = batch_norm(%x, %gamma, %beta, %mean, %var) {epsilon = 0.0} : f32[2, 8, 6, 6]\n";
  t += "  %r = relu(%n) : f32[2, 8, 6, 6]\n";
  t += "  %m = batch_norm(%r, %gamma, %beta, %mean, %var) {epsilon = 0.0} : f32[2, 8, 6, 6]\n";
  t += "  %s = relu(%m) : f32[2, 8, 6, 6]\n";
  t += "  return %s, %m\n}\n";
  auto engine = cpuEngine();
  ASSERT_NE(engine, nullptr);
  auto g = parse(t);
  ASSERT_NE(g, nullptr);
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  const Tensor var = randomF({8}, 0.2, 1.5, 144);
  const std::vector<Tensor> inputs = {randomF({2, 8, 6, 6}, -2, 2, 145), var};
  EXPECT_EQ(stepOps(**model, inputs), (std::set<std::string>{"batch_norm + relu", "batch_norm", "relu"}));
  auto outs = (*model)->run(inputs);
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  expectClose(*outs, reference(g, inputs));
  checkGraphIeee(t, {nonFiniteF({2, 8, 6, 6}, 146), var});
  Tensor zeroVar = var;
  zeroVar.setDouble(3, 0.0);
  checkGraphIeee(t, {randomF({2, 8, 6, 6}, -2, 2, 147), zeroVar}, /*wantNaN=*/false);
}

TEST(CpuPlugin, ConvReluFusionFromFourThreadsWithAndWithoutNaN) {
  // Four callers on one compiled model, half of the runs with NaN/inf in x:
  // the NaN-keeping primitives are made on first need while other calls run
  // the fast ones.
  auto engine = cpuEngine();
  ASSERT_NE(engine, nullptr);
  auto g = parse(convReluGraph(0.5));
  ASSERT_NE(g, nullptr);
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  constexpr int kThreads = 4, kRuns = 12;
  std::vector<std::vector<Tensor>> inputs, want;
  for (int k = 0; k < 2; ++k) {
    inputs.push_back({k == 0 ? randomF({2, 8, 10, 10}, -2, 2, 150) : nonFiniteF({2, 8, 10, 10}, 151)});
    want.push_back(reference(g, inputs.back()));
  }
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRuns; ++i) {
        const size_t k = static_cast<size_t>((t + i) % 2);
        auto outs = (*model)->run(inputs[k]);
        if (!outs.ok()) {
          errors[static_cast<size_t>(t)] = outs.status().toString();
          return;
        }
        const Tensor& w = want[k][0];
        for (int64_t j = 0; j < w.numel(); ++j) {
          const double gv = (*outs)[0].getDouble(j), wv = w.getDouble(j);
          const bool same = std::isnan(wv) ? std::isnan(gv)
                            : std::isinf(wv) ? gv == wv
                                             : std::fabs(gv - wv) <= 1e-4 * (1 + std::fabs(wv));
          if (!same) {
            errors[static_cast<size_t>(t)] = "run " + std::to_string(i) + " element " + std::to_string(j) + ": got " +
                                              std::to_string(gv) + ", want " + std::to_string(wv);
            return;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors[static_cast<size_t>(t)], "") << "thread " << t;
}

/// A classifier's gemv (one row, constant weights: oneDNN's brgemm matmul
/// on weights packed in blocks of 32 columns, Note [Gemv weights in blocks of
/// 32 columns]) with N not a multiple of the block: bias + hardswish as the
/// importer lowers it, then a second gemm with transB; a NaN in x reaches
/// every output.
std::string classifierGraph() {
  std::string t = "graph @g(%x: f32[1, 96]) {\n";
  t += constantLine("w1", {96, 1000}, -0.2, 0.2, 81);
  t += constantLine("b1", {1000}, -0.5, 0.5, 82);
  t += constantLine("w2", {40, 1000}, -0.1, 0.1, 83);
  t += constantLine("b2", {40}, -0.5, 0.5, 84);
  t += "  %sixth = constant() {value = tensor<f32[]>[0.16666667]} : f32[]\n";
  t += "  %half = constant() {value = tensor<f32[]>[0.5]} : f32[]\n";
  t += "  %g = gemm(%x, %w1, %b1) : f32[1, 1000]\n";
  t += "  %d = mul(%g, %sixth) : f32[1, 1000]\n";
  t += "  %e = add(%d, %half) : f32[1, 1000]\n";
  t += "  %c = clip(%e) {min = 0.0, max = 1.0} : f32[1, 1000]\n";
  t += "  %h = mul(%g, %c) : f32[1, 1000]\n";
  t += "  %y = gemm(%h, %w2, %b2) {transB = 1} : f32[1, 40]\n";
  t += "  return %y, %h\n}\n";
  return t;
}

TEST(CpuPlugin, ClassifierGemvMatchesReference) {
  checkGraph(classifierGraph(), {randomF({1, 96}, -3, 3, 85)});
  Tensor x = randomF({1, 96}, -3, 3, 86);
  x.setDouble(17, std::nan(""));
  checkGraphIeee(classifierGraph(), {x});
}

}  // namespace
}  // namespace sy
