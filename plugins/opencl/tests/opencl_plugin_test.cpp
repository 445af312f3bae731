// The OpenCL plugin, loaded from the build tree and run through sy::Engine,
// compared with the reference interpreter. Skips (with one line) where this
// machine has no OpenCL device.
#include <gtest/gtest.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <list>
#include <cmath>
#include <random>
#include <thread>

#include "switchyard/engine.h"
#include "switchyard/interpreter.h"
#include "switchyard/plugin_host.h"
#include "switchyard/text.h"
#include "test_util.h"

namespace sy {
namespace {

const std::string kPluginDir = SY_OPENCL_PLUGIN_DIR;
const std::string kPluginPath = kPluginDir + "/libsy_plugin_opencl.so";

/// Why the tests cannot run here ("" when they can).
std::string noDeviceReason() {
  auto plugin = PluginHost::load(kPluginPath);
  if (!plugin.ok()) return "the opencl plugin did not load: " + plugin.status().toString();
  if ((*plugin)->devices().empty()) return "no OpenCL platform/device on this machine";
  return "";
}

#define SKIP_WITHOUT_OPENCL()                              \
  do {                                                     \
    const std::string why = noDeviceReason();              \
    if (!why.empty()) GTEST_SKIP() << why;                 \
  } while (0)

/// An engine with opencl first; with `fallbackError`, no reference fallback,
/// so tiny test graphs are not given back to the reference for being cheap there.
Result<std::unique_ptr<Engine>> makeEngine(bool fallbackError, std::map<std::string, std::string> options,
                                           std::string device = "") {
  Config c = defaultConfig();
  if (fallbackError) c.fallback = FallbackPolicy::Error;
  c.pluginPaths = {kPluginDir};
  BackendConfig b;
  b.name = "opencl";
  b.device = std::move(device);
  b.options = std::move(options);
  c.backends = {b};
  return Engine::create(c);
}

std::unique_ptr<Engine> openclEngine(bool fallbackError = false, std::map<std::string, std::string> options = {}) {
  auto engine = makeEngine(fallbackError, std::move(options));
  EXPECT_TRUE(engine.ok()) << engine.status().toString();
  return engine.ok() ? std::move(*engine) : nullptr;
}

std::shared_ptr<const Graph> parse(const std::string& text) {
  auto g = parseGraph(text);
  EXPECT_TRUE(g.ok()) << g.status().toString() << "\n" << text;
  return g.ok() ? std::shared_ptr<const Graph>(std::move(*g)) : nullptr;
}

/// Deterministic f32 values in [lo, hi).
Tensor randomF(Shape shape, double lo = -2, double hi = 2, unsigned seed = 1) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = dist(gen);
  return testing::F(std::move(shape), v);
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

/// Compiles `text` with opencl first, checks that every compute node went to
/// opencl (when `allOnOpenCl`), runs it and compares with the reference.
void checkGraph(const std::string& text, const std::vector<Tensor>& inputs, bool allOnOpenCl = true,
                double tol = 1e-4, std::map<std::string, std::string> options = {}) {
  auto engine = openclEngine(allOnOpenCl, std::move(options));
  ASSERT_NE(engine, nullptr);
  auto g = parse(text);
  ASSERT_NE(g, nullptr);
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  if (allOnOpenCl) {
    for (const auto& r : (*model)->plan().regions) {
      EXPECT_EQ(r.backend, "opencl") << (*model)->plan().toTable(true);
    }
    EXPECT_TRUE((*model)->compileLog().empty()) << (*model)->compileLog()[0];
  }
  auto outs = (*model)->run(inputs);
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  auto interp = Interpreter::create(g);
  ASSERT_TRUE(interp.ok()) << interp.status().toString();
  auto want = (*interp)->run(inputs);
  ASSERT_TRUE(want.ok()) << want.status().toString();
  expectClose(*outs, *want, tol);
}

std::string unaryGraph(const std::string& op, const std::string& attrs = "") {
  return "graph @g(%x: f32[3, 5]) {\n  %y = " + op + "(%x)" + (attrs.empty() ? "" : " {" + attrs + "}") +
         " : f32[3, 5]\n  return %y\n}\n";
}

TEST(OpenClPlugin, ListsDevices) {
  auto plugin = PluginHost::load(kPluginPath);
  ASSERT_TRUE(plugin.ok()) << plugin.status().toString();
  EXPECT_EQ((*plugin)->name(), "opencl");
  if ((*plugin)->devices().empty()) GTEST_SKIP() << "no OpenCL platform/device on this machine";
  for (const auto& d : (*plugin)->devices()) {
    EXPECT_NE(d.name.find(" ("), std::string::npos) << d.name;  // "<device> (<platform>)"
    EXPECT_FALSE(d.hostVisibleMemory);
    EXPECT_GT(d.score, 0);
  }
}

TEST(OpenClPlugin, UnaryOps) {
  SKIP_WITHOUT_OPENCL();
  const std::vector<std::pair<std::string, std::string>> ops = {
      {"neg", ""},       {"abs", ""},     {"exp", ""},   {"sin", ""},         {"cos", ""},
      {"tanh", ""},      {"sigmoid", ""}, {"relu", ""},  {"leaky_relu", "alpha = 0.2"},
      {"gelu", ""},      {"gelu", "approximate = \"tanh\""}, {"erf", ""}, {"silu", ""},
      {"floor", ""},     {"ceil", ""},    {"clip", "max = 0.5, min = -0.25"}, {"clip", ""}};
  for (const auto& [op, attrs] : ops) {
    SCOPED_TRACE(op + " " + attrs);
    checkGraph(unaryGraph(op, attrs), {randomF({3, 5})});
  }
  for (const char* op : {"log", "sqrt", "rsqrt", "reciprocal"}) {  // positive inputs
    SCOPED_TRACE(op);
    checkGraph(unaryGraph(op), {randomF({3, 5}, 0.1, 3)});
  }
}

TEST(OpenClPlugin, BinaryOpsWithBroadcasting) {
  SKIP_WITHOUT_OPENCL();
  for (const char* op : {"add", "sub", "mul", "div", "pow", "maximum", "minimum"}) {
    SCOPED_TRACE(op);
    // Same shapes (fused kernel), then NumPy broadcasting (strided kernel).
    checkGraph(std::string("graph @g(%a: f32[3, 4], %b: f32[3, 4]) {\n  %y = ") + op +
                   "(%a, %b) : f32[3, 4]\n  return %y\n}\n",
               {randomF({3, 4}, 0.5, 2, 1), randomF({3, 4}, 0.5, 2, 2)});
    checkGraph(std::string("graph @g(%a: f32[2, 1, 4], %b: f32[3, 1]) {\n  %y = ") + op +
                   "(%a, %b) : f32[2, 3, 4]\n  return %y\n}\n",
               {randomF({2, 1, 4}, 0.5, 2, 3), randomF({3, 1}, 0.5, 2, 4)});
    checkGraph(std::string("graph @g(%a: f32[], %b: f32[2, 3]) {\n  %y = ") + op +
                   "(%a, %b) : f32[2, 3]\n  return %y\n}\n",
               {randomF({}, 0.5, 2, 5), randomF({2, 3}, 0.5, 2, 6)});
  }
}

TEST(OpenClPlugin, Where) {
  SKIP_WITHOUT_OPENCL();
  checkGraph(R"(graph @g(%c: bool[3, 1], %x: f32[3, 4], %y: f32[4]) {
  %z = where(%c, %x, %y) : f32[3, 4]
  return %z
})",
             {testing::B({3, 1}, {1, 0, 1}), randomF({3, 4}), randomF({4}, -1, 1, 7)});
}

TEST(OpenClPlugin, FusedChainOfElementwiseOps) {
  SKIP_WITHOUT_OPENCL();
  // relu -> exp -> mul(same shape) -> add(same shape) -> tanh is one generated kernel;
  // %e is also an output, so the chain is cut after it.
  checkGraph(R"(graph @g(%x: f32[N, 6], %w: f32[N, 6]) {
  %a = relu(%x) : f32[N, 6]
  %b = exp(%a) : f32[N, 6]
  %c = mul(%w, %b) : f32[N, 6]
  %d = add(%c, %x) : f32[N, 6]
  %e = tanh(%d) : f32[N, 6]
  %f = neg(%e) : f32[N, 6]
  %g = sigmoid(%f) : f32[N, 6]
  return %g, %e
})",
             {randomF({5, 6}, -2, 2, 1), randomF({5, 6}, -1, 1, 2)});
}

TEST(OpenClPlugin, MatmulOddSizesAndBatchBroadcast) {
  SKIP_WITHOUT_OPENCL();
  checkGraph(R"(graph @g(%a: f32[37, 53], %b: f32[53, 29]) {
  %y = matmul(%a, %b) : f32[37, 29]
  return %y
})",
             {randomF({37, 53}, -1, 1, 1), randomF({53, 29}, -1, 1, 2)});
  checkGraph(R"(graph @g(%a: f32[2, 1, 5, 7], %b: f32[3, 7, 4]) {
  %y = matmul(%a, %b) : f32[2, 3, 5, 4]
  return %y
})",
             {randomF({2, 1, 5, 7}, -1, 1, 3), randomF({3, 7, 4}, -1, 1, 4)});
  checkGraph(R"(graph @g(%a: f32[7], %b: f32[2, 7, 3]) {
  %y = matmul(%a, %b) : f32[2, 3]
  return %y
})",
             {randomF({7}, -1, 1, 5), randomF({2, 7, 3}, -1, 1, 6)});
}

TEST(OpenClPlugin, Gemm) {
  SKIP_WITHOUT_OPENCL();
  checkGraph(R"(graph @g(%a: f32[6, 5], %b: f32[4, 6], %c: f32[4]) {
  %y = gemm(%a, %b, %c) {alpha = 0.5, beta = 2.0, transA = 1, transB = 1} : f32[5, 4]
  return %y
})",
             {randomF({6, 5}, -1, 1, 1), randomF({4, 6}, -1, 1, 2), randomF({4}, -1, 1, 3)});
  checkGraph(R"(graph @g(%a: f32[3, 5], %b: f32[5, 4]) {
  %y = gemm(%a, %b) : f32[3, 4]
  return %y
})",
             {randomF({3, 5}, -1, 1, 4), randomF({5, 4}, -1, 1, 5)});
}

TEST(OpenClPlugin, SoftmaxAndReductions) {
  SKIP_WITHOUT_OPENCL();
  const std::string x = "graph @g(%x: f32[2, 3, 4]) {\n";
  checkGraph(x + "  %y = softmax(%x) {axis = 1} : f32[2, 3, 4]\n  return %y\n}\n", {randomF({2, 3, 4})});
  checkGraph(x + "  %y = log_softmax(%x) {axis = -1} : f32[2, 3, 4]\n  return %y\n}\n", {randomF({2, 3, 4})});
  checkGraph(x + "  %y = reduce_sum(%x) {axes = [0, 2]} : f32[1, 3, 1]\n  return %y\n}\n", {randomF({2, 3, 4})});
  checkGraph(x + "  %y = reduce_mean(%x) {axes = [-1], keepdims = 0} : f32[2, 3]\n  return %y\n}\n",
             {randomF({2, 3, 4})});
  checkGraph(x + "  %y = reduce_max(%x) {keepdims = 0} : f32[]\n  return %y\n}\n", {randomF({2, 3, 4})});
  checkGraph(x + "  %y = reduce_min(%x) {axes = [1]} : f32[2, 1, 4]\n  return %y\n}\n", {randomF({2, 3, 4})});
}

TEST(OpenClPlugin, ShapeOpsAndConstants) {
  SKIP_WITHOUT_OPENCL();
  checkGraph(R"(graph @g(%x: f32[2, 3, 4]) {
  %s = constant() {value = tensor<i64[2]>[4, -1]} : i64[2]
  %r = reshape(%x, %s) : f32[4, 6]
  %t = transpose(%r) {perm = [1, 0]} : f32[6, 4]
  %u = unsqueeze(%t) {axes = [0]} : f32[1, 6, 4]
  %q = squeeze(%u) : f32[6, 4]
  %f = flatten(%x) {axis = 2} : f32[6, 4]
  %k = constant() {value = tensor<f32[4]>[1.0, -2.0, 0.5, 3.0]} : f32[4]
  %a = add(%q, %f) : f32[6, 4]
  %b = mul(%a, %k) : f32[6, 4]
  %i = identity(%x) : f32[2, 3, 4]
  return %b, %i, %t
})",
             {randomF({2, 3, 4})});
}

TEST(OpenClPlugin, SymbolicBatchDims) {
  SKIP_WITHOUT_OPENCL();
  auto engine = openclEngine(true);
  ASSERT_NE(engine, nullptr);
  auto g = parse(R"(graph @g(%x: f32[N, 4], %w: f32[4, 3]) {
  %a = matmul(%x, %w) : f32[N, 3]
  %b = relu(%a) : f32[N, 3]
  %c = softmax(%b) {axis = -1} : f32[N, 3]
  %d = reduce_sum(%c) {axes = [0]} : f32[1, 3]
  return %c, %d
})");
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  auto interp = Interpreter::create(g);
  ASSERT_TRUE(interp.ok());
  for (int64_t n : {1, 3, 17, 0}) {
    SCOPED_TRACE(n);
    const std::vector<Tensor> inputs = {randomF({n, 4}, -1, 1, static_cast<unsigned>(n) + 1), randomF({4, 3})};
    auto outs = (*model)->run(inputs);
    ASSERT_TRUE(outs.ok()) << outs.status().toString();
    auto want = (*interp)->run(inputs);
    ASSERT_TRUE(want.ok());
    expectClose(*outs, *want);
  }
}

TEST(OpenClPlugin, DeclinesWithReasons) {
  SKIP_WITHOUT_OPENCL();
  auto engine = openclEngine();
  ASSERT_NE(engine, nullptr);
  auto g = parse(R"(graph @g(%a: i32[3], %b: i32[3], %x: f32[3]) {
  %c = div(%a, %b) : i32[3]
  %s = argmax(%x) : i64[1]
  return %c, %s
})");
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  const std::string table = (*model)->plan().toTable(true);
  EXPECT_NE(table.find("integer div is not implemented by opencl"), std::string::npos) << table;
  EXPECT_NE(table.find("op 'argmax' is not implemented by opencl"), std::string::npos) << table;
  for (const auto& r : (*model)->plan().regions) EXPECT_EQ(r.backend, "reference");
}

TEST(OpenClPlugin, RunTimeShapeErrorIsReturned) {
  SKIP_WITHOUT_OPENCL();
  auto engine = openclEngine(true);
  ASSERT_NE(engine, nullptr);
  // The squeeze axis has size N: fine at compile time, an error when N != 1.
  auto g = parse(R"(graph @g(%x: f32[N, 3]) {
  %e = exp(%x) : f32[N, 3]
  %y = squeeze(%e) {axes = [0]} : f32[3]
  return %y
})");
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  ASSERT_TRUE((*model)->run({randomF({1, 3})}).ok());
  auto bad = (*model)->run({randomF({2, 3})});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("opencl"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("squeeze"), std::string::npos) << bad.status().message();
}

TEST(OpenClPlugin, SecondCompileUsesProgramCache) {
  SKIP_WITHOUT_OPENCL();
  auto engine = openclEngine(true);
  ASSERT_NE(engine, nullptr);
  // A chain no other test generates, so the first compile builds its program.
  auto g = parse(R"(graph @g(%x: f32[8]) {
  %a = sin(%x) : f32[8]
  %b = cos(%a) : f32[8]
  %c = floor(%b) : f32[8]
  %d = ceil(%c) : f32[8]
  return %d
})");
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  auto first = engine->compile(g);
  const auto t1 = Clock::now();
  auto second = engine->compile(g);
  const auto t2 = Clock::now();
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_LT(t2 - t1, t1 - t0) << "second compile was not faster";
  EXPECT_LT(std::chrono::duration<double>(t2 - t1).count(), 0.5);
}


// ---------------------------------------------------------------------------
// conv, pooling, normalisation

TEST(OpenClPlugin, Conv2dStridesPadsDilationsGroups) {
  SKIP_WITHOUT_OPENCL();
  // Plain 3x3 with bias and pads.
  checkGraph(R"(graph @g(%x: f32[2, 3, 7, 6], %w: f32[4, 3, 3, 3], %b: f32[4]) {
  %y = conv(%x, %w, %b) {pads = [1, 1, 1, 1]} : f32[2, 4, 7, 6]
  return %y
})",
             {randomF({2, 3, 7, 6}, -1, 1, 1), randomF({4, 3, 3, 3}, -1, 1, 2), randomF({4}, -1, 1, 3)});
  // Strides, asymmetric pads, dilations, groups (2), no bias.
  checkGraph(R"(graph @g(%x: f32[1, 4, 9, 8], %w: f32[6, 2, 3, 2]) {
  %y = conv(%x, %w) {dilations = [2, 1], group = 2, pads = [2, 0, 1, 1], strides = [2, 3]} : f32[1, 6, 4, 3]
  return %y
})",
             {randomF({1, 4, 9, 8}, -1, 1, 4), randomF({6, 2, 3, 2}, -1, 1, 5)});
  // Depthwise (group = C), auto_pad SAME_UPPER with stride 2.
  checkGraph(R"(graph @g(%x: f32[2, 3, 5, 5], %w: f32[3, 1, 3, 3], %b: f32[3]) {
  %y = conv(%x, %w, %b) {auto_pad = "SAME_UPPER", group = 3, strides = [2, 2]} : f32[2, 3, 3, 3]
  return %y
})",
             {randomF({2, 3, 5, 5}, -1, 1, 6), randomF({3, 1, 3, 3}, -1, 1, 7), randomF({3}, -1, 1, 8)});
  // 1-D.
  checkGraph(R"(graph @g(%x: f32[2, 2, 10], %w: f32[3, 2, 4]) {
  %y = conv(%x, %w) {dilations = [2], pads = [1, 2], strides = [2]} : f32[2, 3, 4]
  return %y
})",
             {randomF({2, 2, 10}, -1, 1, 9), randomF({3, 2, 4}, -1, 1, 10)});
}

TEST(OpenClPlugin, Pooling) {
  SKIP_WITHOUT_OPENCL();
  const std::vector<Tensor> x = {randomF({2, 3, 7, 8}, -2, 2, 11)};
  const std::string head = "graph @g(%x: f32[2, 3, 7, 8]) {\n  %y = ";
  checkGraph(head + "max_pool(%x) {kernel_shape = [3, 3], pads = [1, 1, 1, 1], strides = [2, 2]} : "
                    "f32[2, 3, 4, 4]\n  return %y\n}\n", x);
  checkGraph(head + "max_pool(%x) {ceil_mode = 1, dilations = [2, 1], kernel_shape = [2, 3], strides = [2, 2]} : "
                    "f32[2, 3, 3, 4]\n  return %y\n}\n", x);
  for (int cip : {0, 1}) {
    SCOPED_TRACE(cip);
    const std::string c = std::to_string(cip);
    checkGraph(head + "avg_pool(%x) {count_include_pad = " + c +
                   ", kernel_shape = [3, 3], pads = [1, 1, 1, 1], strides = [2, 2]} : f32[2, 3, 4, 4]\n  return %y\n}\n",
               x);
    // ceil_mode: the last window overhangs the end padding.
    checkGraph(head + "avg_pool(%x) {ceil_mode = 1, count_include_pad = " + c +
                   ", kernel_shape = [2, 3], pads = [1, 0, 0, 0], strides = [2, 2]} : f32[2, 3, 4, 4]\n  return %y\n}\n",
               x);
  }
  checkGraph(head + "avg_pool(%x) {auto_pad = \"SAME_LOWER\", kernel_shape = [3, 2], strides = [1, 2]} : "
                    "f32[2, 3, 7, 4]\n  return %y\n}\n", x);
  checkGraph(head + "global_avg_pool(%x) : f32[2, 3, 1, 1]\n  return %y\n}\n", x);
  checkGraph(head + "global_max_pool(%x) : f32[2, 3, 1, 1]\n  return %y\n}\n", x);
  // 1-D max pool.
  checkGraph(R"(graph @g(%x: f32[1, 2, 9]) {
  %y = max_pool(%x) {kernel_shape = [3], strides = [2]} : f32[1, 2, 4]
  return %y
})",
             {randomF({1, 2, 9}, -2, 2, 12)});
}

TEST(OpenClPlugin, BatchLayerAndInstanceNorm) {
  SKIP_WITHOUT_OPENCL();
  checkGraph(R"(graph @g(%x: f32[2, 3, 4, 5], %s: f32[3], %b: f32[3], %m: f32[3], %v: f32[3]) {
  %y = batch_norm(%x, %s, %b, %m, %v) {epsilon = 0.001} : f32[2, 3, 4, 5]
  return %y
})",
             {randomF({2, 3, 4, 5}, -2, 2, 1), randomF({3}, 0.5, 2, 2), randomF({3}, -1, 1, 3),
              randomF({3}, -1, 1, 4), randomF({3}, 0.1, 2, 5)});
  // Rows longer than the work group, and a row shorter than it.
  checkGraph(R"(graph @g(%x: f32[3, 700], %s: f32[700], %b: f32[700]) {
  %y = layer_norm(%x, %s, %b) : f32[3, 700]
  return %y
})",
             {randomF({3, 700}, -2, 2, 6), randomF({700}, 0.5, 2, 7), randomF({700}, -1, 1, 8)});
  // axis 1 over [4, 5] with a broadcast scale [5] and no bias.
  checkGraph(R"(graph @g(%x: f32[2, 4, 5], %s: f32[5]) {
  %y = layer_norm(%x, %s) {axis = 1, epsilon = 0.01} : f32[2, 4, 5]
  return %y
})",
             {randomF({2, 4, 5}, -2, 2, 9), randomF({5}, 0.5, 2, 10)});
  checkGraph(R"(graph @g(%x: f32[2, 3, 6, 5], %s: f32[3], %b: f32[3]) {
  %y = instance_norm(%x, %s, %b) : f32[2, 3, 6, 5]
  return %y
})",
             {randomF({2, 3, 6, 5}, -2, 2, 11), randomF({3}, 0.5, 2, 12), randomF({3}, -1, 1, 13)});
  // work_group_size option: the row kernels run with 16-item groups.
  checkGraph(R"(graph @g(%x: f32[3, 100], %s: f32[100]) {
  %y = layer_norm(%x, %s) : f32[3, 100]
  return %y
})",
             {randomF({3, 100}, -2, 2, 14), randomF({100}, 0.5, 2, 15)}, true, 1e-4, {{"work_group_size", "16"}});
}

// ---------------------------------------------------------------------------
// data movement, comparisons, casts

TEST(OpenClPlugin, ConcatSliceGatherExpandPad) {
  SKIP_WITHOUT_OPENCL();
  checkGraph(R"(graph @g(%a: f32[2, 3, 4], %b: f32[2, 1, 4], %c: f32[2, 2, 4]) {
  %y = concat(%a, %b, %c) {axis = 1} : f32[2, 6, 4]
  return %y
})",
             {randomF({2, 3, 4}, -1, 1, 1), randomF({2, 1, 4}, -1, 1, 2), randomF({2, 2, 4}, -1, 1, 3)});
  checkGraph(R"(graph @g(%x: f32[5, 6, 7]) {
  %st = constant() {value = tensor<i64[3]>[1, -1, 0]} : i64[3]
  %en = constant() {value = tensor<i64[3]>[100, -7, 7]} : i64[3]
  %ax = constant() {value = tensor<i64[3]>[0, 1, 2]} : i64[3]
  %sp = constant() {value = tensor<i64[3]>[2, -2, 3]} : i64[3]
  %y = slice(%x, %st, %en, %ax, %sp) : f32[2, 3, 3]
  return %y
})",
             {randomF({5, 6, 7}, -1, 1, 4)});
  // gather with constant indices (negative one too) and with run-time i32 indices.
  checkGraph(R"(graph @g(%x: f32[4, 5, 3]) {
  %i = constant() {value = tensor<i64[2, 2]>[0, -1, 3, 2]} : i64[2, 2]
  %y = gather(%x, %i) {axis = 1} : f32[4, 2, 2, 3]
  return %y
})",
             {randomF({4, 5, 3}, -1, 1, 5)});
  checkGraph(R"(graph @g(%x: f32[6, 3], %i: i32[4]) {
  %y = gather(%x, %i) : f32[4, 3]
  return %y
})",
             {randomF({6, 3}, -1, 1, 6), testing::T(DType::I32, {4}, {5, 0, -2, 1})});
  checkGraph(R"(graph @g(%x: f32[3, 1]) {
  %s = constant() {value = tensor<i64[3]>[2, 3, 4]} : i64[3]
  %y = expand(%x, %s) : f32[2, 3, 4]
  return %y
})",
             {randomF({3, 1}, -1, 1, 7)});
  for (const char* mode : {"constant", "reflect", "edge"}) {
    SCOPED_TRACE(mode);
    checkGraph(std::string(R"(graph @g(%x: f32[3, 5], %v: f32[]) {
  %p = constant() {value = tensor<i64[4]>[1, -1, 2, 2]} : i64[4]
  %y = pad(%x, %p, %v) {mode = ")") + mode + R"("} : f32[6, 6]
  return %y
})",
               {randomF({3, 5}, -1, 1, 8), testing::F({}, {7.5})});
  }
}

TEST(OpenClPlugin, GatherIndexOutOfRangeIsAnError) {
  SKIP_WITHOUT_OPENCL();
  auto engine = openclEngine(true);
  ASSERT_NE(engine, nullptr);
  auto g = parse(R"(graph @g(%x: f32[4, 3], %i: i64[2]) {
  %y = gather(%x, %i) : f32[2, 3]
  %z = relu(%y) : f32[2, 3]
  return %z
})");
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  ASSERT_TRUE((*model)->run({randomF({4, 3}), testing::I({2}, {3, -4})}).ok());
  auto bad = (*model)->run({randomF({4, 3}), testing::I({2}, {1, 4})});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("out of range"), std::string::npos) << bad.status().message();
}

TEST(OpenClPlugin, ComparisonsLogicalCastsAndIntegers) {
  SKIP_WITHOUT_OPENCL();
  for (const char* op : {"equal", "greater", "greater_equal", "less", "less_equal"}) {
    SCOPED_TRACE(op);
    checkGraph(std::string("graph @g(%a: f32[3, 4], %b: f32[4]) {\n  %y = ") + op +
                   "(%a, %b) : bool[3, 4]\n  return %y\n}\n",
               {testing::F({3, 4}, {0, 1, 2, 3, 3, 2, 1, 0, NAN, 1, 1, -1}), testing::F({4}, {1, 1, 1, NAN})});
    checkGraph(std::string("graph @g(%a: i64[4], %b: i64[]) {\n  %y = ") + op + "(%a, %b) : bool[4]\n  return %y\n}\n",
               {testing::I({4}, {-3, 0, 5, 9}), testing::I({}, {5})});
  }
  checkGraph(R"(graph @g(%a: bool[2, 3], %b: bool[3]) {
  %x = logical_xor(%a, %b) : bool[2, 3]
  %o = logical_or(%x, %b) : bool[2, 3]
  %n = logical_not(%o) : bool[2, 3]
  %y = logical_and(%n, %a) : bool[2, 3]
  return %x, %o, %n, %y
})",
             {testing::B({2, 3}, {1, 0, 1, 0, 0, 1}), testing::B({3}, {0, 1, 1})});
  checkGraph(R"(graph @g(%x: f32[6]) {
  %i = cast(%x) {to = "i32"} : i32[6]
  %l = cast(%x) {to = "i64"} : i64[6]
  %b = cast(%x) {to = "bool"} : bool[6]
  %f = cast(%l) {to = "f32"} : f32[6]
  %k = cast(%b) {to = "i8"} : i8[6]
  return %i, %l, %b, %f, %k
})",
             {testing::F({6}, {-2.7, -0.5, 0, 0.25, 3.9, NAN})});
  checkGraph(R"(graph @g(%a: i64[2, 3], %b: i64[3], %c: bool[2, 1]) {
  %s = add(%a, %b) : i64[2, 3]
  %d = sub(%s, %b) : i64[2, 3]
  %m = mul(%d, %b) : i64[2, 3]
  %x = maximum(%m, %a) : i64[2, 3]
  %n = neg(%x) : i64[2, 3]
  %w = where(%c, %n, %a) : i64[2, 3]
  return %w
})",
             {testing::I({2, 3}, {1, -2, 3, 40, 5, -6}), testing::I({3}, {7, 8, -9}), testing::B({2, 1}, {1, 0})});
}

// ---------------------------------------------------------------------------
// options: device selection, build options, work-group size

TEST(OpenClPlugin, SelectsDeviceByNamePattern) {
  SKIP_WITHOUT_OPENCL();
  auto plugin = PluginHost::load(kPluginPath);
  ASSERT_TRUE(plugin.ok());
  const std::string name = (*plugin)->devices()[0].name;
  // A case-insensitive substring of the device name (the platform is part of it).
  std::string upper = name.substr(0, std::min<size_t>(name.size(), 6));
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  for (const std::string& pattern : {upper, std::string(".*"), std::string("(gpu|cpu|pthread|portable|[a-z])")}) {
    SCOPED_TRACE(pattern);
    checkGraph(unaryGraph("exp"), {randomF({3, 5})}, true, 1e-4, {{"device_name", pattern}});
  }
  // The host's own selection: a glob on the name.
  auto globbed = makeEngine(true, {}, "*");
  EXPECT_TRUE(globbed.ok()) << globbed.status().toString();

  auto none = makeEngine(true, {{"device_name", "no-such-opencl-device"}});
  ASSERT_FALSE(none.ok());
  const std::string message = none.status().message();
  EXPECT_NE(message.find("device_name"), std::string::npos) << message;
  EXPECT_NE(message.find("no OpenCL device matches 'no-such-opencl-device'"), std::string::npos) << message;
  EXPECT_NE(message.find(name), std::string::npos) << "the error lists the devices: " << message;

  auto badRegex = makeEngine(true, {{"device_name", "(unclosed"}});
  ASSERT_FALSE(badRegex.ok());
  EXPECT_NE(badRegex.status().message().find("not a valid regular expression"), std::string::npos)
      << badRegex.status().message();

  auto badGroup = makeEngine(true, {{"work_group_size", "3"}});
  ASSERT_FALSE(badGroup.ok());
  EXPECT_NE(badGroup.status().message().find("work_group_size"), std::string::npos) << badGroup.status().message();
  // 0 is not a power of two either (it used to be taken as "unset").
  auto zeroGroup = makeEngine(true, {{"work_group_size", "0"}});
  ASSERT_FALSE(zeroGroup.ok());
  EXPECT_NE(zeroGroup.status().message().find("expected a power of two"), std::string::npos)
      << zeroGroup.status().message();
}

TEST(OpenClPlugin, BuildFailureReturnsTheBuildLog) {
  SKIP_WITHOUT_OPENCL();
  // A define that breaks every kernel source: the build fails on the device
  // compiler and the error carries its log.
  auto engine = openclEngine(true, {{"build_options", "-Dfloat=sy_no_such_type"}});
  ASSERT_NE(engine, nullptr);
  auto g = parse(unaryGraph("exp"));
  auto model = engine->compile(g);
  std::string message;
  if (!model.ok()) {
    message = model.status().message();
  } else {
    for (const std::string& line : (*model)->compileLog()) message += line + "\n";
  }
  EXPECT_NE(message.find("clBuildProgram: CL_BUILD_PROGRAM_FAILURE; build log:"), std::string::npos) << message;
  EXPECT_NE(message.find("sy_no_such_type"), std::string::npos) << message;
}

TEST(OpenClPlugin, ConcurrentExecuteOfOneRegion) {
  SKIP_WITHOUT_OPENCL();
  auto engine = openclEngine(true);
  ASSERT_NE(engine, nullptr);
  auto g = parse(R"(graph @g(%x: f32[N, 16], %w: f32[16, 8], %s: f32[8]) {
  %a = matmul(%x, %w) : f32[N, 8]
  %b = tanh(%a) : f32[N, 8]
  %c = layer_norm(%b, %s) : f32[N, 8]
  return %c
})");
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  auto interp = Interpreter::create(g);
  ASSERT_TRUE(interp.ok());
  std::vector<std::thread> threads;
  std::vector<std::string> failures(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        const std::vector<Tensor> in = {randomF({t + 1 + i, 16}, -1, 1, static_cast<unsigned>(t * 100 + i)),
                                        randomF({16, 8}, -1, 1, 7), randomF({8}, 0.5, 2, 8)};
        auto got = (*model)->run(in);
        auto want = (*interp)->run(in);
        if (!got.ok() || !want.ok()) {
          failures[t] = got.ok() ? want.status().toString() : got.status().toString();
          return;
        }
        for (int64_t j = 0; j < (*want)[0].numel(); ++j) {
          if (std::fabs((*got)[0].getDouble(j) - (*want)[0].getDouble(j)) > 1e-3) {
            failures[t] = "mismatch at element " + std::to_string(j);
            return;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const std::string& f : failures) EXPECT_TRUE(f.empty()) << f;
}


// ============================================================================
// Review regressions: the raw C ABI with hand-made (also malformed) views.

/// Frees an sy_error and returns its message ("" for NULL).
std::string takeError(const sy_plugin_api& api, sy_error* e) {
  if (e == nullptr) return "";
  std::string m = api.error_message(e);
  if (m.empty()) m = "(empty message)";
  api.error_destroy(e);
  return m;
}

/// A hand-built region: values, nodes (in body order) and the body.
struct RawRegion {
  std::vector<std::unique_ptr<int64_t[]>> dimStore;
  std::vector<sy_value_info> values;
  std::vector<sy_node_view> nodes;
  std::list<std::vector<int32_t>> lists;  // stable: the node views point into it
  std::vector<int32_t> bodyNodes, params, returns;

  int32_t value(const char* name, int32_t dtype, std::vector<int64_t> dims) {
    auto d = std::make_unique<int64_t[]>(std::max<size_t>(dims.size(), 1));
    std::copy(dims.begin(), dims.end(), d.get());
    sy_value_info v{};
    v.struct_size = sizeof v;
    v.name = name;
    v.dtype = dtype;
    v.rank = static_cast<int32_t>(dims.size());
    v.dims = d.get();
    dimStore.push_back(std::move(d));
    values.push_back(v);
    return static_cast<int32_t>(values.size() - 1);
  }
  void node(const char* op, std::vector<int32_t> in, std::vector<int32_t> out, const sy_attr* attrs = nullptr,
            size_t numAttrs = 0) {
    lists.push_back(std::move(in));
    const std::vector<int32_t>& i = lists.back();
    lists.push_back(std::move(out));
    const std::vector<int32_t>& o = lists.back();
    sy_node_view n{};
    n.struct_size = sizeof n;
    n.op = op;
    n.name = op;
    n.num_inputs = i.size();
    n.inputs = i.data();
    n.num_outputs = o.size();
    n.outputs = o.data();
    n.num_attrs = numAttrs;
    n.attrs = attrs;
    bodyNodes.push_back(static_cast<int32_t>(nodes.size()));
    nodes.push_back(n);
  }
  sy_graph_view view() const {
    sy_graph_view g{};
    g.struct_size = sizeof g;
    g.num_values = values.size();
    g.values = values.data();
    g.num_nodes = nodes.size();
    g.nodes = nodes.data();
    g.body.struct_size = sizeof(sy_block_view);
    g.body.label = "body";
    g.body.num_params = params.size();
    g.body.params = params.data();
    g.body.num_nodes = bodyNodes.size();
    g.body.nodes = bodyNodes.data();
    g.body.num_returns = returns.size();
    g.body.returns = returns.data();
    return g;
  }
};

sy_attr tensorAttr(const char* name, const sy_tensor_literal* t) {
  sy_attr a{};
  a.struct_size = sizeof a;
  a.name = name;
  a.kind = SY_ATTR_TENSOR;
  a.tensor = t;
  return a;
}

sy_attr intsAttr(const char* name, const int64_t* v, size_t n) {
  sy_attr a{};
  a.struct_size = sizeof a;
  a.name = name;
  a.kind = SY_ATTR_INTS;
  a.count = n;
  a.ints = v;
  return a;
}

/// Compiles `region` on device 0 and runs it once with f32 `input` (rank 1).
/// Returns the first error's message ("" when everything succeeded).
std::string compileAndRunRaw(const LoadedPlugin& plugin, const RawRegion& region, const std::vector<float>& input,
                             std::vector<sy_option> options = {}) {
  const sy_plugin_api& api = plugin.api();
  sy_backend* backend = nullptr;
  std::string e = takeError(api, api.backend_create(0, options.data(), options.size(), &backend));
  if (!e.empty()) return e;
  const sy_graph_view view = region.view();
  sy_compiled* compiled = nullptr;
  e = takeError(api, api.compile(backend, &view, &compiled));
  if (e.empty()) {
    sy_buffer* in = nullptr;
    e = takeError(api, api.buffer_alloc(backend, input.size() * 4, &in));
    if (e.empty()) e = takeError(api, api.buffer_write(in, 0, input.data(), input.size() * 4));
    if (e.empty()) {
      sy_tensor t{};
      t.struct_size = sizeof t;
      t.buffer = in;
      t.dtype = SY_DTYPE_F32;
      t.rank = 1;
      t.dims[0] = static_cast<int64_t>(input.size());
      std::vector<sy_tensor> outs(region.returns.size());
      for (auto& o : outs) o.struct_size = sizeof o;
      e = takeError(api, api.execute(compiled, &t, 1, outs.data(), outs.size()));
      for (auto& o : outs) api.buffer_free(o.buffer);
    }
    api.buffer_free(in);
    api.compiled_destroy(compiled);
  }
  api.backend_destroy(backend);
  return e;
}

// A literal with rank 2 but no dims array (a malformed view) is an error, not
// a read through NULL.
TEST(OpenClPlugin, ReviewMalformedConstantLiteralIsAnError) {
  SKIP_WITHOUT_OPENCL();
  auto plugin = PluginHost::load(kPluginPath);
  ASSERT_TRUE(plugin.ok());
  RawRegion r;
  const int32_t x = r.value("x", SY_DTYPE_F32, {4});
  const int32_t c = r.value("c", SY_DTYPE_F32, {2, 2});
  const int32_t y = r.value("y", SY_DTYPE_F32, {2, 2});
  float data[4] = {1, 2, 3, 4};
  sy_tensor_literal lit{};
  lit.struct_size = sizeof lit;
  lit.dtype = SY_DTYPE_F32;
  lit.rank = 2;
  lit.dims = nullptr;  // malformed
  lit.data = data;
  lit.bytes = sizeof data;
  const sy_attr value = tensorAttr("value", &lit);
  r.node("constant", {}, {c}, &value, 1);
  const int64_t shape[] = {2, 2};
  (void)shape;
  r.node("exp", {c}, {y});
  r.params = {x};
  r.returns = {y};
  const std::string e = compileAndRunRaw(**plugin, r, {1, 2, 3, 4});
  EXPECT_NE(e.find("malformed tensor literal"), std::string::npos) << e;
}

// A region whose declared types disagree with what its ops compute (reshape
// to [6] declared as [2, 3], then transpose with perm [1, 0]) fails cleanly
// instead of indexing the computed shape by the declared rank.
TEST(OpenClPlugin, ReviewDeclaredTypesThatDisagreeAreAnError) {
  SKIP_WITHOUT_OPENCL();
  auto plugin = PluginHost::load(kPluginPath);
  ASSERT_TRUE(plugin.ok());
  RawRegion r;
  const int32_t x = r.value("x", SY_DTYPE_F32, {6});
  const int32_t s = r.value("s", SY_DTYPE_I64, {1});
  const int32_t y = r.value("y", SY_DTYPE_F32, {2, 3});  // wrong: the reshape gives [6]
  const int32_t t = r.value("t", SY_DTYPE_F32, {3, 2});
  int64_t shapeData[1] = {6};
  int64_t shapeDims[1] = {1};
  sy_tensor_literal lit{};
  lit.struct_size = sizeof lit;
  lit.dtype = SY_DTYPE_I64;
  lit.rank = 1;
  lit.dims = shapeDims;
  lit.data = shapeData;
  lit.bytes = sizeof shapeData;
  const sy_attr value = tensorAttr("value", &lit);
  const int64_t perm[] = {1, 0};
  const sy_attr permAttr = intsAttr("perm", perm, 2);
  r.node("constant", {}, {s}, &value, 1);
  r.node("reshape", {x, s}, {y});
  r.node("transpose", {y}, {t}, &permAttr, 1);
  r.params = {x};
  r.returns = {t};
  const std::string e = compileAndRunRaw(**plugin, r, {1, 2, 3, 4, 5, 6});
  EXPECT_FALSE(e.empty());
  EXPECT_NE(e.find("declares"), std::string::npos) << e;
}

// buffer_alloc of sizes near SIZE_MAX is an error (no wrap-around to a tiny
// allocation that later writes would overrun).
TEST(OpenClPlugin, ReviewHugeBufferAllocIsAnError) {
  SKIP_WITHOUT_OPENCL();
  auto plugin = PluginHost::load(kPluginPath);
  ASSERT_TRUE(plugin.ok());
  const sy_plugin_api& api = (*plugin)->api();
  sy_backend* backend = nullptr;
  ASSERT_EQ(takeError(api, api.backend_create(0, nullptr, 0, &backend)), "");
  for (size_t bytes : {SIZE_MAX, SIZE_MAX - 100, SIZE_MAX / 2 + 1, size_t{1} << 50}) {
    sy_buffer* b = nullptr;
    const std::string e = takeError(api, api.buffer_alloc(backend, bytes, &b));
    EXPECT_FALSE(e.empty()) << bytes;
    EXPECT_EQ(b, nullptr);
    api.buffer_free(b);
  }
  api.backend_destroy(backend);
}

// Slice steps of INT64_MAX / INT64_MIN and starts far below -dim, with ONNX
// clamping. Checked against values written here: the reference interpreter
// itself overflows (step * stride, core/src/ops/shape.cpp) on such steps.
TEST(OpenClPlugin, ReviewSliceWithExtremeStepsAndStarts) {
  SKIP_WITHOUT_OPENCL();
  auto engine = openclEngine(true);
  ASSERT_NE(engine, nullptr);
  const Tensor x = randomF({5, 6}, -1, 1, 11);
  auto run = [&](const std::string& text) -> std::vector<double> {
    auto model = engine->compile(parse(text));
    EXPECT_TRUE(model.ok()) << model.status().toString();
    if (!model.ok()) return {};
    auto out = (*model)->run({x});
    EXPECT_TRUE(out.ok()) << out.status().toString();
    if (!out.ok()) return {};
    std::vector<double> v;
    for (int64_t i = 0; i < (*out)[0].numel(); ++i) v.push_back((*out)[0].getDouble(i));
    return v;
  };
  // Rows: start 0, step INT64_MAX: row 0. Columns: start -100 clamps to 0, step -1: column 0.
  EXPECT_EQ(run(R"(graph @g(%x: f32[5, 6]) {
  %st = constant() {value = tensor<i64[2]>[0, -100]} : i64[2]
  %en = constant() {value = tensor<i64[2]>[9223372036854775807, -9223372036854775807]} : i64[2]
  %ax = constant() {value = tensor<i64[2]>[0, 1]} : i64[2]
  %sp = constant() {value = tensor<i64[2]>[9223372036854775807, -1]} : i64[2]
  %y = slice(%x, %st, %en, %ax, %sp) : f32[1, 1]
  return %y
})"),
            (std::vector<double>{x.getDouble(0)}));
  // Rows: start 4, step -INT64_MAX: row 4. Columns: 3 down to -7 (clamped) by -2: columns 3, 1.
  EXPECT_EQ(run(R"(graph @g(%x: f32[5, 6]) {
  %st = constant() {value = tensor<i64[2]>[4, 3]} : i64[2]
  %en = constant() {value = tensor<i64[2]>[-9223372036854775807, -7]} : i64[2]
  %ax = constant() {value = tensor<i64[2]>[0, 1]} : i64[2]
  %sp = constant() {value = tensor<i64[2]>[-9223372036854775807, -2]} : i64[2]
  %y = slice(%x, %st, %en, %ax, %sp) : f32[1, 2]
  return %y
})"),
            (std::vector<double>{x.getDouble(4 * 6 + 3), x.getDouble(4 * 6 + 1)}));
}

}  // namespace
}  // namespace sy
