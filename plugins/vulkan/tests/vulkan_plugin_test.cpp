// The Vulkan plugin, loaded from the build tree and run through sy::Engine,
// compared with the reference interpreter. Skips (with one line) where this
// machine has no Vulkan device. Every test fails when the validation layer
// (on with SY_VULKAN_VALIDATION=1, as the ".validation" ctest variants run)
// reports anything during it.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <list>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>
#include <unistd.h>
#include <atomic>

#include "switchyard/engine.h"
#include "switchyard/interpreter.h"
#include "switchyard/plugin_host.h"
#include "switchyard/text.h"
#include "test_util.h"
#include "vulkan_stats.h"

namespace sy {
namespace {

const std::string kPluginDir = SY_VULKAN_PLUGIN_DIR;
const std::string kPluginPath = kPluginDir + "/libsy_plugin_vulkan.so";

/// The plugin's counters (sy_vulkan_get_stats, found with dlsym).
sy_vulkan_stats pluginStats() {
  sy_vulkan_stats s{};
  s.struct_size = sizeof s;
  static void* handle = dlopen(kPluginPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) return s;
  auto get = reinterpret_cast<sy_vulkan_get_stats_fn>(dlsym(handle, SY_VULKAN_STATS_SYMBOL));
  if (get != nullptr) get(&s);
  return s;
}

/// Why the tests cannot run here ("" when they can).
std::string noDeviceReason() {
  static const std::string reason = [] {
    auto plugin = PluginHost::load(kPluginPath);
    if (!plugin.ok()) return "the vulkan plugin did not load: " + plugin.status().toString();
    if ((*plugin)->devices().empty()) return std::string("no Vulkan device (no ICD, or none with a compute queue)");
    return std::string();
  }();
  return reason;
}

#define SKIP_WITHOUT_VULKAN()                  \
  do {                                         \
    const std::string why = noDeviceReason();  \
    if (!why.empty()) GTEST_SKIP() << why;     \
  } while (0)

/// Fails the test on any validation message that appeared during it.
class VulkanTest : public ::testing::Test {
 protected:
  void SetUp() override { before_ = pluginStats().validation_messages; }
  void TearDown() override {
    const sy_vulkan_stats s = pluginStats();
    EXPECT_EQ(s.validation_messages, before_) << "validation layer: " << s.last_validation_message;
  }

 private:
  uint64_t before_ = 0;
};

std::unique_ptr<Engine> vulkanEngine(bool fallbackError = false, std::map<std::string, std::string> options = {}) {
  Config c = defaultConfig();
  if (fallbackError) c.fallback = FallbackPolicy::Error;
  c.pluginPaths = {kPluginDir};
  BackendConfig b;
  b.name = "vulkan";
  b.options = std::move(options);
  c.backends = {b};
  auto engine = Engine::create(c);
  EXPECT_TRUE(engine.ok()) << engine.status().toString();
  return engine.ok() ? std::move(*engine) : nullptr;
}

std::shared_ptr<const Graph> parse(const std::string& text) {
  auto g = parseGraph(text);
  EXPECT_TRUE(g.ok()) << g.status().toString() << "\n" << text;
  return g.ok() ? std::shared_ptr<const Graph>(std::move(*g)) : nullptr;
}

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

/// Compiles `text` with vulkan only (no fallback), checks every region went
/// to vulkan, runs it, compares with the reference. Returns the number of
/// queue submissions the run made.
uint64_t checkGraph(const std::string& text, const std::vector<Tensor>& inputs,
                    std::map<std::string, std::string> options = {}, double tol = 1e-4) {
  auto engine = vulkanEngine(true, std::move(options));
  EXPECT_NE(engine, nullptr);
  if (engine == nullptr) return 0;
  auto g = parse(text);
  EXPECT_NE(g, nullptr);
  if (g == nullptr) return 0;
  auto model = engine->compile(g);
  EXPECT_TRUE(model.ok()) << model.status().toString();
  if (!model.ok()) return 0;
  for (const auto& r : (*model)->plan().regions) EXPECT_EQ(r.backend, "vulkan") << (*model)->plan().toTable(true);
  EXPECT_TRUE((*model)->compileLog().empty()) << (*model)->compileLog()[0];
  const uint64_t before = pluginStats().submits;
  auto outs = (*model)->run(inputs);
  const uint64_t submits = pluginStats().submits - before;
  EXPECT_TRUE(outs.ok()) << outs.status().toString();
  if (!outs.ok()) return submits;
  auto interp = Interpreter::create(g);
  EXPECT_TRUE(interp.ok()) << interp.status().toString();
  auto want = (*interp)->run(inputs);
  EXPECT_TRUE(want.ok()) << want.status().toString();
  if (want.ok()) expectClose(*outs, *want, tol);
  return submits;
}

std::string unaryGraph(const std::string& op, const std::string& attrs = "") {
  return "graph @g(%x: f32[3, 5]) {\n  %y = " + op + "(%x)" + (attrs.empty() ? "" : " {" + attrs + "}") +
         " : f32[3, 5]\n  return %y\n}\n";
}

TEST_F(VulkanTest, ListsDevicesTruthfully) {
  auto plugin = PluginHost::load(kPluginPath);
  ASSERT_TRUE(plugin.ok()) << plugin.status().toString();
  EXPECT_EQ((*plugin)->name(), "vulkan");
  if ((*plugin)->devices().empty()) GTEST_SKIP() << "no Vulkan device on this machine";
  for (const auto& d : (*plugin)->devices()) {
    EXPECT_NE(d.name.find("(Vulkan 1."), std::string::npos) << d.name;
    EXPECT_GT(d.memoryBytes, 0u) << d.name;
    EXPECT_GT(d.score, 0);
    if (d.name.find("llvmpipe") != std::string::npos) {  // Mesa lavapipe: a CPU device with unified memory
      EXPECT_EQ(d.type, SY_DEVICE_CPU);
      EXPECT_TRUE(d.hostVisibleMemory);
    }
  }
}

TEST_F(VulkanTest, UnaryOps) {
  SKIP_WITHOUT_VULKAN();
  const std::vector<std::pair<std::string, std::string>> ops = {
      {"neg", ""},  {"abs", ""},     {"exp", ""},  {"sin", ""},  {"cos", ""},  {"tanh", ""},  {"sigmoid", ""},
      {"relu", ""}, {"leaky_relu", "alpha = 0.2"}, {"gelu", ""}, {"gelu", "approximate = \"tanh\""},
      {"erf", ""},  {"silu", ""},    {"floor", ""}, {"ceil", ""}, {"round", ""}, {"sign", ""},
      {"clip", "max = 0.5, min = -0.25"}, {"clip", ""}};
  for (const auto& [op, attrs] : ops) {
    SCOPED_TRACE(op + " " + attrs);
    checkGraph(unaryGraph(op, attrs), {randomF({3, 5})});
  }
  for (const char* op : {"log", "sqrt", "rsqrt", "reciprocal"}) {
    SCOPED_TRACE(op);
    checkGraph(unaryGraph(op), {randomF({3, 5}, 0.1, 3)});
  }
}

TEST_F(VulkanTest, BinaryOpsWithBroadcasting) {
  SKIP_WITHOUT_VULKAN();
  for (const char* op : {"add", "sub", "mul", "div", "pow", "maximum", "minimum"}) {
    SCOPED_TRACE(op);
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

TEST_F(VulkanTest, ComparisonsLogicalAndWhere) {
  SKIP_WITHOUT_VULKAN();
  // Bool results (bytes) with an odd element count, a mask chain as in the transformer.
  checkGraph(R"(graph @g(%a: f32[3, 5], %b: f32[5], %m: bool[3, 1]) {
  %gt = greater(%a, %b) : bool[3, 5]
  %n = logical_not(%m) : bool[3, 1]
  %c = cast(%n) {to = "bool"} : bool[3, 1]
  %o = logical_or(%gt, %c) : bool[3, 5]
  %k = constant() {value = tensor<f32[]>[-100.0]} : f32[]
  %w = where(%o, %k, %a) : f32[3, 5]
  %f = cast(%o) {to = "f32"} : f32[3, 5]
  return %w, %o, %f
})",
             {randomF({3, 5}), randomF({5}, -1, 1, 2), testing::B({3, 1}, {1, 0, 1})});
}

TEST_F(VulkanTest, FusedChainIsOneSubmission) {
  SKIP_WITHOUT_VULKAN();
  // Eleven elementwise nodes (broadcast operands, an output in the middle)
  // run as fused interpreter passes recorded in ONE command buffer.
  const uint64_t submits = checkGraph(R"(graph @g(%x: f32[N, 6], %w: f32[N, 6], %b: f32[6]) {
  %a = relu(%x) : f32[N, 6]
  %e = exp(%a) : f32[N, 6]
  %c = mul(%w, %e) : f32[N, 6]
  %d = add(%c, %b) : f32[N, 6]
  %t = tanh(%d) : f32[N, 6]
  %k = constant() {value = tensor<f32[]>[0.5]} : f32[]
  %h = mul(%t, %k) : f32[N, 6]
  %n = neg(%h) : f32[N, 6]
  %s = sigmoid(%n) : f32[N, 6]
  %q = sub(%s, %x) : f32[N, 6]
  %r = div(%q, %k) : f32[N, 6]
  %z = erf(%r) : f32[N, 6]
  return %z, %t
})",
                                      {randomF({5, 6}, -2, 2, 1), randomF({5, 6}, -1, 1, 2), randomF({6}, -1, 1, 3)});
  EXPECT_EQ(submits, 1u);
}

TEST_F(VulkanTest, MatmulOddSizesAndBatchBroadcast) {
  SKIP_WITHOUT_VULKAN();
  checkGraph("graph @g(%a: f32[37, 53], %b: f32[53, 29]) {\n  %y = matmul(%a, %b) : f32[37, 29]\n  return %y\n}\n",
             {randomF({37, 53}, -1, 1, 1), randomF({53, 29}, -1, 1, 2)});
  checkGraph(
      "graph @g(%a: f32[2, 1, 5, 7], %b: f32[3, 7, 4]) {\n  %y = matmul(%a, %b) : f32[2, 3, 5, 4]\n  return %y\n}\n",
      {randomF({2, 1, 5, 7}, -1, 1, 3), randomF({3, 7, 4}, -1, 1, 4)});
  checkGraph("graph @g(%a: f32[7], %b: f32[2, 7, 3]) {\n  %y = matmul(%a, %b) : f32[2, 3]\n  return %y\n}\n",
             {randomF({7}, -1, 1, 5), randomF({2, 7, 3}, -1, 1, 6)});
  checkGraph(R"(graph @g(%a: f32[6, 5], %b: f32[4, 6], %c: f32[4]) {
  %y = gemm(%a, %b, %c) {alpha = 0.5, beta = 2.0, transA = 1, transB = 1} : f32[5, 4]
  return %y
})",
             {randomF({6, 5}, -1, 1, 1), randomF({4, 6}, -1, 1, 2), randomF({4}, -1, 1, 3)});
}

TEST_F(VulkanTest, ConvWithStridesPadsDilationsGroups) {
  SKIP_WITHOUT_VULKAN();
  checkGraph(R"(graph @g(%x: f32[2, 4, 9, 8], %w: f32[6, 2, 3, 3], %b: f32[6]) {
  %y = conv(%x, %w, %b) {dilations = [2, 1], group = 2, pads = [1, 2, 2, 0], strides = [2, 1]} : f32[2, 6, 4, 8]
  return %y
})",
             {randomF({2, 4, 9, 8}, -1, 1, 1), randomF({6, 2, 3, 3}, -1, 1, 2), randomF({6}, -1, 1, 3)});
  checkGraph(R"(graph @g(%x: f32[1, 3, 7], %w: f32[2, 3, 3]) {
  %y = conv(%x, %w) {auto_pad = "SAME_UPPER", strides = [2]} : f32[1, 2, 4]
  return %y
})",
             {randomF({1, 3, 7}, -1, 1, 4), randomF({2, 3, 3}, -1, 1, 5)});
}

TEST_F(VulkanTest, PoolingAndBatchNorm) {
  SKIP_WITHOUT_VULKAN();
  checkGraph(R"(graph @g(%x: f32[2, 3, 7, 6], %s: f32[3], %b: f32[3], %m: f32[3], %v: f32[3]) {
  %n = batch_norm(%x, %s, %b, %m, %v) {epsilon = 0.001} : f32[2, 3, 7, 6]
  %r = relu(%n) : f32[2, 3, 7, 6]
  %p = max_pool(%r) {ceil_mode = 1, kernel_shape = [3, 2], pads = [1, 0, 1, 0], strides = [2, 2]} : f32[2, 3, 4, 3]
  %a = avg_pool(%r) {count_include_pad = 1, kernel_shape = [3, 3], pads = [1, 1, 1, 1]} : f32[2, 3, 7, 6]
  %q = avg_pool(%r) {kernel_shape = [2, 2], pads = [1, 1, 1, 1], strides = [2, 2]} : f32[2, 3, 4, 4]
  %g = global_avg_pool(%r) : f32[2, 3, 1, 1]
  %h = global_max_pool(%r) : f32[2, 3, 1, 1]
  return %p, %a, %q, %g, %h
})",
             {randomF({2, 3, 7, 6}, -2, 2, 1), randomF({3}, 0.5, 1.5, 2), randomF({3}, -1, 1, 3),
              randomF({3}, -1, 1, 4), randomF({3}, 0.5, 2, 5)});
}

TEST_F(VulkanTest, SoftmaxLayerNormAndReductions) {
  SKIP_WITHOUT_VULKAN();
  const std::string x = "graph @g(%x: f32[2, 3, 300]) {\n";
  checkGraph(x + "  %y = softmax(%x) {axis = 1} : f32[2, 3, 300]\n  return %y\n}\n", {randomF({2, 3, 300})});
  checkGraph(x + "  %y = log_softmax(%x) {axis = -1} : f32[2, 3, 300]\n  return %y\n}\n", {randomF({2, 3, 300})});
  checkGraph(x + "  %y = reduce_sum(%x) {axes = [0, 2]} : f32[1, 3, 1]\n  return %y\n}\n", {randomF({2, 3, 300})});
  checkGraph(x + "  %y = reduce_mean(%x) {axes = [-1], keepdims = 0} : f32[2, 3]\n  return %y\n}\n",
             {randomF({2, 3, 300})});
  checkGraph(x + "  %y = reduce_max(%x) {keepdims = 0} : f32[]\n  return %y\n}\n", {randomF({2, 3, 300})});
  checkGraph(x + "  %y = reduce_min(%x) {axes = [1]} : f32[2, 1, 300]\n  return %y\n}\n", {randomF({2, 3, 300})});
  checkGraph(R"(graph @g(%x: f32[4, 5, 96], %s: f32[96], %b: f32[96]) {
  %y = layer_norm(%x, %s, %b) {axis = -1, epsilon = 0.00001} : f32[4, 5, 96]
  %z = layer_norm(%x, %s) {axis = 1} : f32[4, 5, 96]
  return %y, %z
})",
             {randomF({4, 5, 96}, -3, 3, 1), randomF({96}, 0.5, 1.5, 2), randomF({96}, -1, 1, 3)});
}

TEST_F(VulkanTest, DataMovement) {
  SKIP_WITHOUT_VULKAN();
  checkGraph(R"(graph @g(%x: f32[2, 3, 4], %y: f32[2, 5, 4], %i: i64[2, 2]) {
  %t = transpose(%x) {perm = [2, 0, 1]} : f32[4, 2, 3]
  %c = concat(%x, %y) {axis = 1} : f32[2, 8, 4]
  %s0 = constant() {value = tensor<i64[2]>[-1, 1]} : i64[2]
  %s1 = constant() {value = tensor<i64[2]>[-100, 4]} : i64[2]
  %s2 = constant() {value = tensor<i64[2]>[1, 2]} : i64[2]
  %s3 = constant() {value = tensor<i64[2]>[-2, 2]} : i64[2]
  %sl = slice(%c, %s0, %s1, %s2, %s3) : f32[2, 4, 2]
  %g = gather(%x, %i) {axis = 1} : f32[2, 2, 2, 4]
  %e0 = constant() {value = tensor<i64[4]>[3, 2, 1, 4]} : i64[4]
  %u = unsqueeze(%x) {axes = [1]} : f32[2, 1, 3, 4]
  %r = reshape(%u, %e0) : f32[3, 2, 1, 4]
  %sh = constant() {value = tensor<i64[4]>[3, 2, 2, 4]} : i64[4]
  %ex = expand(%r, %sh) : f32[3, 2, 2, 4]
  return %t, %c, %sl, %g, %ex
})",
             {randomF({2, 3, 4}, -1, 1, 1), randomF({2, 5, 4}, -1, 1, 2),
              testing::I({2, 2}, {0, -1, 2, 1})});
}

TEST_F(VulkanTest, StagingPathMatchesMappedPath) {
  SKIP_WITHOUT_VULKAN();
  // staging = true never maps device memory: uploads and downloads go through
  // the staging buffer and one-shot command buffers.
  checkGraph(R"(graph @g(%a: f32[17, 33], %b: f32[33, 9]) {
  %y = matmul(%a, %b) : f32[17, 9]
  %z = softmax(%y) : f32[17, 9]
  return %z
})",
             {randomF({17, 33}, -1, 1, 1), randomF({33, 9}, -1, 1, 2)}, {{"staging", "true"}});
}

TEST_F(VulkanTest, SymbolicBatchDims) {
  SKIP_WITHOUT_VULKAN();
  auto engine = vulkanEngine(true);
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

TEST_F(VulkanTest, DeclinesWithReasons) {
  SKIP_WITHOUT_VULKAN();
  auto engine = vulkanEngine();
  ASSERT_NE(engine, nullptr);
  auto g = parse(R"(graph @g(%a: i32[3], %b: i32[3], %x: f32[3]) {
  %c = add(%a, %b) : i32[3]
  %s = argmax(%x) : i64[1]
  return %c, %s
})");
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  const std::string table = (*model)->plan().toTable(true);
  EXPECT_NE(table.find("only f32 is implemented"), std::string::npos) << table;
  EXPECT_NE(table.find("op 'argmax' is not implemented by vulkan"), std::string::npos) << table;
  for (const auto& r : (*model)->plan().regions) EXPECT_EQ(r.backend, "reference");
}

TEST_F(VulkanTest, RunTimeErrorsAreReturned) {
  SKIP_WITHOUT_VULKAN();
  auto engine = vulkanEngine(true);
  ASSERT_NE(engine, nullptr);
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
  EXPECT_NE(bad.status().message().find("squeeze"), std::string::npos) << bad.status().message();

  auto g2 = parse(R"(graph @g(%x: f32[5, 2], %i: i64[2]) {
  %y = gather(%x, %i) : f32[2, 2]
  return %y
})");
  auto m2 = engine->compile(g2);
  ASSERT_TRUE(m2.ok()) << m2.status().toString();
  auto bad2 = (*m2)->run({randomF({5, 2}), testing::I({2}, {1, 7})});
  ASSERT_FALSE(bad2.ok());
  EXPECT_NE(bad2.status().message().find("out of range"), std::string::npos) << bad2.status().message();
  // The engine still works after errors.
  EXPECT_TRUE((*m2)->run({randomF({5, 2}), testing::I({2}, {1, -5})}).ok());
}

TEST_F(VulkanTest, UnknownOptionIsAnError) {
  SKIP_WITHOUT_VULKAN();
  Config c = defaultConfig();
  c.pluginPaths = {kPluginDir};
  c.fallback = FallbackPolicy::Error;
  BackendConfig b;
  b.name = "vulkan";
  b.options = {{"no_such_option", "1"}};
  c.backends = {b};
  auto engine = Engine::create(c);
  const std::string message = engine.ok() ? std::string() : engine.status().toString();
  if (engine.ok()) {
    // Some hosts report a backend that failed to create as a warning: the
    // model then cannot run on vulkan.
    auto model = (*engine)->compile(parse("graph @g(%x: f32[3]) {\n  %y = exp(%x) : f32[3]\n  return %y\n}\n"));
    EXPECT_FALSE(model.ok() && (*model)->plan().regions.size() == 1 && (*model)->plan().regions[0].backend == "vulkan");
  } else {
    EXPECT_NE(message.find("no_such_option"), std::string::npos) << message;
  }
}

TEST_F(VulkanTest, PipelineCacheFileIsWrittenAndReused) {
  SKIP_WITHOUT_VULKAN();
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("sy-vk-cache-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const std::string file = (dir / "sub" / "pipelines.bin").string();
  const std::string text = "graph @g(%a: f32[8, 8], %b: f32[8, 8]) {\n  %y = matmul(%a, %b) : f32[8, 8]\n"
                           "  %z = relu(%y) : f32[8, 8]\n  return %z\n}\n";
  {
    auto engine = vulkanEngine(true, {{"pipeline_cache", file}});
    ASSERT_NE(engine, nullptr);
    auto model = engine->compile(parse(text));
    ASSERT_TRUE(model.ok()) << model.status().toString();
  }  // the backend is destroyed: the cache is saved
  ASSERT_TRUE(std::filesystem::exists(file)) << file;
  EXPECT_GT(std::filesystem::file_size(file), 16u);
  const uint64_t loadedBefore = pluginStats().pipeline_cache_bytes_loaded;
  {
    auto engine = vulkanEngine(true, {{"pipeline_cache", file}});
    ASSERT_NE(engine, nullptr);
    auto model = engine->compile(parse(text));
    ASSERT_TRUE(model.ok()) << model.status().toString();
    ASSERT_TRUE((*model)->run({randomF({8, 8}), randomF({8, 8})}).ok());
  }
  EXPECT_GE(pluginStats().pipeline_cache_bytes_loaded - loadedBefore, std::filesystem::file_size(file) / 2);
  // An unwritable place is not an error.
  {
    auto engine = vulkanEngine(true, {{"pipeline_cache", "/proc/no-such-dir/pipelines.bin"}});
    ASSERT_NE(engine, nullptr);
    auto model = engine->compile(parse(text));
    ASSERT_TRUE(model.ok()) << model.status().toString();
    EXPECT_TRUE((*model)->run({randomF({8, 8}), randomF({8, 8})}).ok());
  }
  std::filesystem::remove_all(dir);
}

TEST_F(VulkanTest, ConcurrentCallersShareOneCompiledRegion) {
  SKIP_WITHOUT_VULKAN();
  auto engine = vulkanEngine(true);
  ASSERT_NE(engine, nullptr);
  auto g = parse(R"(graph @g(%x: f32[N, 16], %w: f32[16, 16]) {
  %a = matmul(%x, %w) : f32[N, 16]
  %b = tanh(%a) : f32[N, 16]
  %c = softmax(%b) : f32[N, 16]
  return %c
})");
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  auto interp = Interpreter::create(g);
  ASSERT_TRUE(interp.ok());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 10; ++k) {
        const std::vector<Tensor> inputs = {randomF({3 + t + k, 16}, -1, 1, static_cast<unsigned>(t * 100 + k)),
                                            randomF({16, 16}, -1, 1, 7)};
        auto outs = (*model)->run(inputs);
        auto want = (*interp)->run(inputs);
        if (!outs.ok() || !want.ok()) {
          ++failures;
          continue;
        }
        for (int64_t j = 0; j < want->at(0).numel(); ++j) {
          if (std::fabs(outs->at(0).getDouble(j) - want->at(0).getDouble(j)) > 1e-4) {
            ++failures;
            break;
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(VulkanTest, ValidationLayerReportsNothing) {
  SKIP_WITHOUT_VULKAN();
  // validation = true: this backend runs on an instance with
  // VK_LAYER_KHRONOS_validation (when installed) and a debug messenger.
  checkGraph(R"(graph @g(%x: f32[2, 3, 8, 8], %w: f32[4, 3, 3, 3], %m: bool[2, 1, 1, 1]) {
  %c = conv(%x, %w) {pads = [1, 1, 1, 1]} : f32[2, 4, 8, 8]
  %r = relu(%c) : f32[2, 4, 8, 8]
  %k = constant() {value = tensor<f32[]>[0.0]} : f32[]
  %y = where(%m, %r, %k) : f32[2, 4, 8, 8]
  %p = global_avg_pool(%y) : f32[2, 4, 1, 1]
  %f = flatten(%p) : f32[2, 4]
  %s = softmax(%f) : f32[2, 4]
  %t = transpose(%s) : f32[4, 2]
  return %t, %r
})",
             {randomF({2, 3, 8, 8}), randomF({4, 3, 3, 3}, -1, 1, 2), testing::B({2, 1, 1, 1}, {1, 0})},
             {{"validation", "true"}});
  const sy_vulkan_stats s = pluginStats();
  if (!s.validation_active) GTEST_SKIP() << "VK_LAYER_KHRONOS_validation is not installed";
  EXPECT_EQ(s.validation_errors, 0u) << s.last_validation_message;
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
TEST_F(VulkanTest, ReviewMalformedConstantLiteralIsAnError) {
  SKIP_WITHOUT_VULKAN();
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
TEST_F(VulkanTest, ReviewDeclaredTypesThatDisagreeAreAnError) {
  SKIP_WITHOUT_VULKAN();
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
TEST_F(VulkanTest, ReviewHugeBufferAllocIsAnError) {
  SKIP_WITHOUT_VULKAN();
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
TEST_F(VulkanTest, ReviewSliceWithExtremeStepsAndStarts) {
  SKIP_WITHOUT_VULKAN();
  auto engine = vulkanEngine(true);
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

// A backend whose creation fails after its VkDevice was made (a bad
// work_group_size) destroys what it made: with its own validation instance,
// a leaked VkDevice is reported when that instance goes (TearDown checks).
TEST_F(VulkanTest, ReviewFailedBackendCreateLeaksNothing) {
  SKIP_WITHOUT_VULKAN();
  auto plugin = PluginHost::load(kPluginPath);
  ASSERT_TRUE(plugin.ok());
  const sy_plugin_api& api = (*plugin)->api();
  for (const char* validation : {"true", "false"}) {
    const sy_option options[] = {{sizeof(sy_option), "validation", validation},
                                 {sizeof(sy_option), "work_group_size", "3"}};
    sy_backend* backend = nullptr;
    const std::string e = takeError(api, api.backend_create(0, options, 2, &backend));
    EXPECT_NE(e.find("work_group_size"), std::string::npos) << e;
    EXPECT_EQ(backend, nullptr);
  }
}

// Gather indices that the host cannot read before the run (staging: device
// memory is not mapped) are checked by the shader: out of range (an i64 one
// beyond 32 bits too) is an error, as in the reference, not zeros or an
// aliased row.
TEST_F(VulkanTest, ReviewGatherOutOfRangeIsAnErrorOnTheStagingPath) {
  SKIP_WITHOUT_VULKAN();
  auto engine = vulkanEngine(true, {{"staging", "true"}});
  ASSERT_NE(engine, nullptr);
  auto g = parse(R"(graph @g(%x: f32[5, 2], %i: i64[2]) {
  %y = gather(%x, %i) : f32[2, 2]
  return %y
})");
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  ASSERT_TRUE((*model)->run({randomF({5, 2}), testing::I({2}, {1, -5})}).ok());
  for (int64_t bad : {int64_t{7}, int64_t{-6}, (int64_t{1} << 32) + 1, -(int64_t{1} << 32)}) {
    auto out = (*model)->run({randomF({5, 2}), testing::I({2}, {1, bad})});
    ASSERT_FALSE(out.ok()) << bad;
    EXPECT_NE(out.status().message().find("out of range"), std::string::npos) << out.status().message();
  }
  EXPECT_TRUE((*model)->run({randomF({5, 2}), testing::I({2}, {4, 0})}).ok());
}

// A tensor larger than maxStorageBufferRange cannot be bound to a dispatch:
// declined with that reason (4 GiB is above any device's uint32 limit).
TEST_F(VulkanTest, ReviewTensorsBeyondMaxStorageBufferRangeAreDeclined) {
  SKIP_WITHOUT_VULKAN();
  auto engine = vulkanEngine();
  ASSERT_NE(engine, nullptr);
  auto g = parse(R"(graph @g(%x: f32[1073741824]) {
  %y = exp(%x) : f32[1073741824]
  return %y
})");
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  const std::string table = (*model)->plan().toTable(true);
  EXPECT_NE(table.find("maxStorageBufferRange"), std::string::npos) << table;
  for (const auto& r : (*model)->plan().regions) EXPECT_NE(r.backend, "vulkan");
}

}  // namespace
}  // namespace sy
