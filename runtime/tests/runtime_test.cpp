// The partitioned runtime, with the in-tree test plugins (tests/plugins/):
// memdev (a fake accelerator with its own memory) and the faulty ones.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include "switchyard/builder.h"
#include "switchyard/engine.h"
#include "switchyard/interpreter.h"
#include "switchyard/program.h"
#include "switchyard/text.h"
#include "test_util.h"

namespace sy {
namespace {

const std::string kPluginDir = SY_TEST_PLUGIN_DIR;

/// A config that loads only the test plugins, with the given backends.
Config testConfig(std::vector<BackendConfig> backends) {
  Config c = defaultConfig();
  c.pluginPaths = {kPluginDir};
  c.defaultPluginPaths = false;  // only the test plugins, whatever else is built
  c.backends = std::move(backends);
  return c;
}

BackendConfig memdev(std::string ops = "", std::map<std::string, std::string> extra = {}) {
  BackendConfig b;
  b.name = "memdev";
  if (!ops.empty()) b.options["ops"] = ops;
  for (auto& [k, v] : extra) b.options[k] = v;
  return b;
}

std::shared_ptr<const Graph> parse(const std::string& text) {
  auto g = parseGraph(text);
  EXPECT_TRUE(g.ok()) << g.status().toString();
  return g.ok() ? std::shared_ptr<const Graph>(std::move(*g)) : nullptr;
}

std::vector<Tensor> reference(const std::shared_ptr<const Graph>& g, const std::vector<Tensor>& inputs) {
  auto interp = Interpreter::create(g);
  EXPECT_TRUE(interp.ok()) << interp.status().toString();
  auto outs = (*interp)->run(inputs);
  EXPECT_TRUE(outs.ok()) << outs.status().toString();
  return outs.ok() ? *outs : std::vector<Tensor>{};
}

void expectSame(const std::vector<Tensor>& a, const std::vector<Tensor>& b, double tol = 1e-5) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].shape(), b[i].shape()) << "output " << i;
    ASSERT_EQ(a[i].dtype(), b[i].dtype()) << "output " << i;
    for (int64_t j = 0; j < a[i].numel(); ++j)
      ASSERT_NEAR(a[i].getDouble(j), b[i].getDouble(j), tol * (1 + std::fabs(b[i].getDouble(j)))) << "output " << i << " element " << j;
  }
}

const char* kMixed = R"(
graph @mixed(%x: f32[N, 4], %w: f32[4, 4]) {
  %a = matmul(%x, %w) : f32[N, 4]
  %b = relu(%a) : f32[N, 4]
  %c = exp(%b) : f32[N, 4]
  %d = softmax(%c) {axis = -1} : f32[N, 4]
  %e = add(%d, %b) : f32[N, 4]
  %f = tanh(%e) : f32[N, 4]
  return %f, %d
}
)";

TEST(Runtime, SplitsAcrossMemdevAndReference) {
  auto engine = Engine::create(testConfig({memdev()}));
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  ASSERT_EQ((*engine)->backends().size(), 2u);
  EXPECT_EQ((*engine)->backends()[0].name, "memdev");
  EXPECT_EQ((*engine)->backends()[1].name, "reference");
  auto g = parse(kMixed);
  auto model = (*engine)->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  const PartitionPlan& plan = (*model)->plan();
  // softmax is not in memdev's default op list: three regions memdev / reference / memdev.
  ASSERT_EQ(plan.regions.size(), 3u) << plan.toTable(true);
  EXPECT_EQ(plan.regions[0].backend, "memdev");
  EXPECT_EQ(plan.regions[1].backend, "reference");
  EXPECT_EQ(plan.regions[2].backend, "memdev");
  EXPECT_FALSE(plan.transfers.empty());
  std::vector<Tensor> inputs = {testing::F({2, 4}, {1, -2, 3, 0.5, -1, 2, 0, 1}),
                                testing::F({4, 4}, {0.1, 0.2, 0.3, 0.4, -0.5, 0.6, -0.7, 0.8, 0.9, -1, 1.1, 1.2, 0, 0.1, -0.2, 0.3})};
  auto outs = (*model)->run(inputs);
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  expectSame(*outs, reference(g, inputs));
}

TEST(Runtime, TraceHasOneSlicePerRegionAndTransfer) {
  auto engine = Engine::create(testConfig({memdev()}));
  ASSERT_TRUE(engine.ok());
  auto model = (*engine)->compile(parse(kMixed));
  ASSERT_TRUE(model.ok());
  std::vector<TraceEvent> trace;
  RunOptions options;
  options.trace = &trace;
  auto outs = (*model)->run({testing::F({1, 4}, {1, 2, 3, 4}), testing::F({4, 4}, std::vector<double>(16, 0.5))}, options);
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  int regions = 0, uploads = 0, downloads = 0;
  for (const TraceEvent& e : trace) {
    EXPECT_GE(e.durationUs, 0);
    if (e.name.rfind("region ", 0) == 0) {
      ++regions;
      EXPECT_TRUE(e.lane == "memdev" || e.lane == "reference") << e.lane;
    }
    if (e.name.rfind("upload ", 0) == 0) ++uploads;
    if (e.name.rfind("download ", 0) == 0) ++downloads;
  }
  EXPECT_EQ(regions, 3);
  EXPECT_GE(uploads, 2);    // %x and %w into the first memdev region
  EXPECT_GE(downloads, 1);  // back for the reference region and the outputs
}

TEST(Runtime, EverythingOnReferenceWithoutPlugins) {
  // No plugin folder: only the reference interpreter remains (the environment may not add any).
  unsetenv("SWITCHYARD_PLUGIN_PATH");
  Config c = defaultConfig();
  c.pluginPaths = {"/nonexistent-switchyard-plugins"};
  c.defaultPluginPaths = false;  // not build/plugins either
  auto engine = Engine::create(c);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto g = parse(kMixed);
  auto model = (*engine)->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  ASSERT_EQ((*model)->plan().regions.size(), 1u);
  EXPECT_EQ((*model)->plan().regions[0].backend, "reference");
  std::vector<Tensor> inputs = {testing::F({1, 4}, {1, 2, 3, 4}), testing::F({4, 4}, std::vector<double>(16, 0.5))};
  auto outs = (*model)->run(inputs);
  ASSERT_TRUE(outs.ok());
  expectSame(*outs, reference(g, inputs));
}

TEST(Runtime, HermeticPluginSearchSeesOnlyTheListedFolders) {
  // No backends listed and default paths off: every plugin of the test folder
  // that loads (memdev) and nothing from build/plugins or the environment.
  setenv("SWITCHYARD_PLUGIN_PATH", "/nonexistent-env-plugins", 1);
  Config c = testConfig({});
  auto engine = Engine::create(c);
  unsetenv("SWITCHYARD_PLUGIN_PATH");
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  std::vector<std::string> names;
  for (const auto& b : (*engine)->backends()) names.push_back(b.name);
  EXPECT_EQ((*engine)->searchPaths(), (std::vector<std::string>{kPluginDir}));
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names.front(), "memdev");  // the best device score of the folder (10)
  EXPECT_EQ(names.back(), "reference");
  for (const auto& p : (*engine)->plugins())
    EXPECT_EQ(p->path().rfind(kPluginDir, 0), 0u) << p->name() << " loaded from " << p->path();
  // With default paths on, the environment's folder is searched after the listed one.
  c.defaultPluginPaths = true;
  setenv("SWITCHYARD_PLUGIN_PATH", "/nonexistent-env-plugins", 1);
  auto open = Engine::create(c);
  unsetenv("SWITCHYARD_PLUGIN_PATH");
  ASSERT_TRUE(open.ok()) << open.status().toString();
  const auto& paths = (*open)->searchPaths();
  ASSERT_GE(paths.size(), 2u);
  EXPECT_EQ(paths[0], kPluginDir);
  EXPECT_EQ(paths[1], "/nonexistent-env-plugins");
}

TEST(Runtime, CallerInputsUnchangedAndErrorsNameTheInput) {
  auto engine = Engine::create(testConfig({memdev()}));
  ASSERT_TRUE(engine.ok());
  auto g = parse(kMixed);
  auto model = (*engine)->compile(g);
  ASSERT_TRUE(model.ok());
  Tensor x = testing::F({1, 4}, {1, 2, 3, 4});
  Tensor w = testing::F({4, 4}, std::vector<double>(16, 0.25));
  Tensor xc = *x.clone(), wc = *w.clone();
  ASSERT_TRUE((*model)->run({x, w}).ok());
  EXPECT_TRUE(x.bitwiseEqual(xc));
  EXPECT_TRUE(w.bitwiseEqual(wc));
  auto bad = (*model)->run({x, testing::F({3, 4}, std::vector<double>(12, 1))});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("input 1"), std::string::npos) << bad.status().message();
  EXPECT_TRUE(x.bitwiseEqual(xc));
}

TEST(Runtime, CompileFailureMovesRegionToReference) {
  auto engine = Engine::create(testConfig({memdev("", {{"fail_compile_ops", "relu"}})}));
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto g = parse(kMixed);
  auto model = (*engine)->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  ASSERT_FALSE((*model)->compileLog().empty());
  EXPECT_NE((*model)->compileLog()[0].find("relu"), std::string::npos) << (*model)->compileLog()[0];
  EXPECT_NE((*model)->compileLog()[0].find("moved to 'reference'"), std::string::npos) << (*model)->compileLog()[0];
  EXPECT_EQ((*model)->plan().regions[0].backend, "reference");
  std::vector<Tensor> inputs = {testing::F({1, 4}, {1, 2, 3, 4}), testing::F({4, 4}, std::vector<double>(16, 0.5))};
  auto outs = (*model)->run(inputs);
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  expectSame(*outs, reference(g, inputs));
}

TEST(Runtime, ExecuteFailureNamesRegionAndBackend) {
  auto engine = Engine::create(testConfig({memdev("", {{"fail_execute_ops", "tanh"}})}));
  ASSERT_TRUE(engine.ok());
  auto g = parse(kMixed);
  auto model = (*engine)->compile(g);
  ASSERT_TRUE(model.ok());
  Tensor x = testing::F({1, 4}, {1, 2, 3, 4});
  Tensor w = testing::F({4, 4}, std::vector<double>(16, 0.5));
  auto outs = (*model)->run({x, w});
  ASSERT_FALSE(outs.ok());
  const std::string msg = outs.status().message();
  EXPECT_NE(msg.find("region 2 on backend 'memdev'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tanh"), std::string::npos) << msg;
}

TEST(Runtime, ExecuteFailureRetriedOnReferenceWhenAllowed) {
  Config c = testConfig({memdev("", {{"fail_execute_ops", "tanh"}})});
  c.retryOnReference = true;
  auto engine = Engine::create(c);
  ASSERT_TRUE(engine.ok());
  auto g = parse(kMixed);
  auto model = (*engine)->compile(g);
  ASSERT_TRUE(model.ok());
  std::vector<Tensor> inputs = {testing::F({1, 4}, {1, 2, 3, 4}), testing::F({4, 4}, std::vector<double>(16, 0.5))};
  auto outs = (*model)->run(inputs);
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  expectSame(*outs, reference(g, inputs));
}

TEST(Runtime, WeightsAreConstantsOfTheRegion) {
  // The weight lives in the graph; the region that uses it gets it as constant data at compile time.
  GraphBuilder b("w");
  Value* x = b.input("x", Type::tensor(DType::F32, {Dim::symbol("N"), 3}));
  Value* w = b.weight("w", testing::F({3, 2}, {1, 2, 3, 4, 5, 6}));
  b.output(b.op("relu", {b.op("matmul", {x, w})}));
  auto g = b.finish();
  ASSERT_TRUE(g.ok()) << g.status().toString();
  std::shared_ptr<const Graph> graph = std::move(*g);
  auto engine = Engine::create(testConfig({memdev()}));
  ASSERT_TRUE(engine.ok());
  auto model = (*engine)->compile(graph);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  // One memdev region; the weight is not a per-run transfer.
  ASSERT_EQ((*model)->plan().regions.size(), 1u) << (*model)->plan().toTable(true);
  std::vector<Tensor> inputs = {testing::F({2, 3}, {1, 0, -1, 2, 1, 0})};
  auto outs = (*model)->run(inputs);
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  EXPECT_TENSOR((*outs)[0], DType::F32, (Shape{2, 2}), {0, 0, 5, 8});
}

TEST(Runtime, ControlFlowRecursesIntoBlocks) {
  auto g = parse(R"(
graph @cf(%x: f32[2, 2], %n: i64) {
  %t = constant() {value = tensor<bool[]>[true]} : bool[]
  %h = loop(%n, %t, %x) : f32[2, 2] {
  ^body(%i: i64, %c: bool, %s: f32[2, 2]):
    %a = add(%s, %x) : f32[2, 2]
    %r = tanh(%a) : f32[2, 2]
    %m = reduce_max(%r) {keepdims = 0} : f32[]
    %z = constant() {value = tensor<f32[]>[0.5]} : f32[]
    %k = less(%m, %z) : bool[]
    yield %k, %r
  }
  return %h
}
)");
  auto engine = Engine::create(testConfig({memdev()}));
  ASSERT_TRUE(engine.ok());
  auto model = (*engine)->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  bool hostLoop = false;
  for (const Step& s : (*model)->plan().top.steps) hostLoop = hostLoop || s.kind == Step::Kind::ControlFlow;
  EXPECT_TRUE(hostLoop) << (*model)->plan().toTable(true);
  std::vector<Tensor> inputs = {testing::F({2, 2}, {0.1, -0.2, 0.05, 0.0}), Tensor::scalarI64(10)};
  auto outs = (*model)->run(inputs);
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  expectSame(*outs, reference(g, inputs));
}

TEST(Runtime, ZeroTripScanKeepsTheDimsTheInputsBound) {
  // The loop runs on the host (its body on memdev). With no iteration, the
  // scan output still has the body's dims, symbols bound by the inputs
  // included: [0, B, 4], as on the reference (found by switchyard-difffuzz).
  auto g = parse(R"(
graph @scan(%x: f32[B, 4], %n: i64) {
  %t = constant() {value = tensor<bool[]>[true]} : bool[]
  %last, %all = loop(%n, %t, %x) : f32[B, 4], f32[?, B, 4] {
  ^body(%i: i64, %c: bool, %s: f32[B, 4]):
    %a = add(%s, %x) : f32[B, 4]
    yield %c, %a, %a
  }
  return %last, %all
}
)");
  auto engine = Engine::create(testConfig({memdev()}));
  ASSERT_TRUE(engine.ok());
  auto model = (*engine)->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  bool hostLoop = false;
  for (const Step& s : (*model)->plan().top.steps) hostLoop = hostLoop || s.kind == Step::Kind::ControlFlow;
  ASSERT_TRUE(hostLoop) << (*model)->plan().toTable(true);
  const std::vector<Tensor> inputs = {testing::F({3, 4}, std::vector<double>(12, 1.0)), Tensor::scalarI64(0)};
  auto outs = (*model)->run(inputs);
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  EXPECT_EQ((*outs)[1].shape(), (Shape{0, 3, 4}));
  expectSame(*outs, reference(g, inputs));
}

TEST(Runtime, UnboundedScanStopsAtTheConfiguredMemoryBudget) {
  // The body runs on memdev, the loop on the host: its scan output grows in
  // one buffer charged to the run's budget (config key memory_budget).
  auto g = parse(R"(
graph @scan(%x: f32[4], %n: i64) {
  %t = constant() {value = tensor<bool[]>[true]} : bool[]
  %last, %all = loop(%n, %t, %x) : f32[4], f32[?, 4] {
  ^body(%i: i64, %c: bool, %s: f32[4]):
    %a = add(%s, %x) : f32[4]
    yield %c, %a, %a
  }
  return %last, %all
}
)");
  Config config = testConfig({memdev()});
  config.memoryBudget = 1u << 20;
  auto engine = Engine::create(config);
  ASSERT_TRUE(engine.ok());
  auto model = (*engine)->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  const Tensor x = testing::F({4}, {1, 2, 3, 4});
  auto fits = (*model)->run({x, Tensor::scalarI64(1000)});  // 16 KB of scan output
  ASSERT_TRUE(fits.ok()) << fits.status().toString();
  expectSame(*fits, reference(g, {x, Tensor::scalarI64(1000)}));
  auto unbounded = (*model)->run({x, Tensor::scalarI64(-1)});
  ASSERT_FALSE(unbounded.ok());
  EXPECT_EQ(unbounded.status().code(), StatusCode::kResourceExhausted) << unbounded.status().toString();
  EXPECT_NE(unbounded.status().message().find("'loop' node %last"), std::string::npos) << unbounded.status().message();
  EXPECT_NE(unbounded.status().message().find("memory budget (1048576 bytes"), std::string::npos)
      << unbounded.status().message();
}

TEST(Runtime, PinsMustApplyOrFail) {
  // A pin to a backend that is not in use used to be dropped without a word.
  auto g = parse(R"(
graph @g(%x: f32[3]) {
  %y = relu(%x) : f32[3]
  return %y
}
)");
  Config config = testConfig({memdev()});
  PinConfig pin;
  pin.op = "relu";
  pin.backend = "vulkan";
  pin.where = SourceLocation{"pins.yaml", 4, 5};
  config.pins = {pin};
  auto engine = Engine::create(config);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto model = (*engine)->compile(g);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("pins.yaml:4:5: pin of op 'relu' to backend 'vulkan' cannot apply"),
            std::string::npos)
      << model.status().message();
  EXPECT_NE(model.status().message().find("active: memdev, reference"), std::string::npos) << model.status().message();
  // The same pin to an active backend applies.
  config.pins[0].backend = "reference";
  engine = Engine::create(config);
  ASSERT_TRUE(engine.ok());
  model = (*engine)->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  for (const NodePlacement& p : (*model)->plan().placements) EXPECT_EQ(p.backend, "reference");
}

TEST(Runtime, MissingPluginPathWarnsOrFailsWhenStrict) {
  Config config = testConfig({memdev()});
  config.pluginPaths.push_back("/nonexistent/sy-plugins");
  auto lenient = Engine::create(config);
  ASSERT_TRUE(lenient.ok()) << lenient.status().toString();
  bool warned = false;
  for (const std::string& w : (*lenient)->warnings())
    warned = warned || w.find("plugin path '/nonexistent/sy-plugins' does not exist") != std::string::npos;
  EXPECT_TRUE(warned);
  config.strict = true;
  auto strict = Engine::create(config);
  ASSERT_FALSE(strict.ok());
  EXPECT_NE(strict.status().message().find("plugin path '/nonexistent/sy-plugins' does not exist"), std::string::npos)
      << strict.status().message();
}

TEST(Runtime, ConcurrentRunsGiveIdenticalResults) {
  auto engine = Engine::create(testConfig({memdev()}));
  ASSERT_TRUE(engine.ok());
  auto g = parse(kMixed);
  auto model = (*engine)->compile(g);
  ASSERT_TRUE(model.ok());
  constexpr int kThreads = 8, kRuns = 25;
  std::vector<std::vector<Tensor>> inputs, expected;
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> uni(-1, 1);
  for (int t = 0; t < kThreads; ++t) {
    std::vector<double> xv(3 * 4), wv(16);
    for (auto& v : xv) v = uni(rng);
    for (auto& v : wv) v = uni(rng);
    inputs.push_back({testing::F({3, 4}, xv), testing::F({4, 4}, wv)});
    auto outs = (*model)->run(inputs.back());
    ASSERT_TRUE(outs.ok());
    expected.push_back(*outs);
  }
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRuns; ++r) {
        auto outs = (*model)->run(inputs[static_cast<size_t>(t)]);
        if (!outs.ok() || outs->size() != expected[static_cast<size_t>(t)].size()) {
          ++mismatches[static_cast<size_t>(t)];
          continue;
        }
        for (size_t i = 0; i < outs->size(); ++i)
          if (!(*outs)[i].bitwiseEqual(expected[static_cast<size_t>(t)][i])) ++mismatches[static_cast<size_t>(t)];
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[static_cast<size_t>(t)], 0) << "thread " << t;
}

TEST(Runtime, ListedBackendThatCannotBeFoundIsAnError) {
  // Issue #13 item 5: a listed backend used to be skipped with a warning, and the run exited 0.
  BackendConfig ghost;
  ghost.name = "ghost";
  ghost.where = SourceLocation{"my.yaml", 3, 5};
  Config c = testConfig({ghost, memdev()});
  auto engine = Engine::create(c);
  ASSERT_FALSE(engine.ok());
  const std::string msg = engine.status().message();
  EXPECT_NE(msg.find("my.yaml:3:5: backend 'ghost' cannot be used"), std::string::npos) << msg;
  EXPECT_NE(msg.find("no plugin file libsy_plugin_ghost.so in " + kPluginDir), std::string::npos) << msg;
  EXPECT_NE(msg.find("optional: true"), std::string::npos) << msg;
  // optional: true turns it into a warning that says the same, and the other backends run.
  c.backends[0].optional = true;
  engine = Engine::create(c);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  bool found = false;
  for (const auto& w : (*engine)->warnings())
    found = found || (w.find("my.yaml:3:5: backend 'ghost' cannot be used") != std::string::npos &&
                      w.find(kPluginDir) != std::string::npos && w.find("skipped (optional)") != std::string::npos);
  EXPECT_TRUE(found);
  ASSERT_EQ((*engine)->backends().size(), 2u);
  EXPECT_EQ((*engine)->backends()[0].name, "memdev");
  // Strict: even an optional backend that cannot be used is an error.
  c.strict = true;
  auto strict = Engine::create(c);
  ASSERT_FALSE(strict.ok());
  EXPECT_NE(strict.status().message().find("my.yaml:3:5: backend 'ghost'"), std::string::npos)
      << strict.status().message();
}

TEST(Runtime, OptionalIsolatedBackendThatCannotStartIsSkipped) {
  BackendConfig ghost;
  ghost.name = "ghost";
  ghost.isolateProcess = true;
  ghost.where = SourceLocation{"iso.yaml", 2, 5};
  auto engine = Engine::create(testConfig({ghost, memdev()}));
  ASSERT_FALSE(engine.ok());
  EXPECT_NE(engine.status().message().find("no plugin file libsy_plugin_ghost.so"), std::string::npos)
      << engine.status().message();
  ghost.optional = true;
  engine = Engine::create(testConfig({ghost, memdev()}));
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  bool warned = false;
  for (const auto& w : (*engine)->warnings())
    warned = warned || (w.find("iso.yaml:2:5: backend 'ghost' cannot be used: no plugin file") != std::string::npos &&
                        w.find("(isolation: process); skipped (optional)") != std::string::npos);
  EXPECT_TRUE(warned);
  EXPECT_EQ((*engine)->backends()[0].name, "memdev");
}

TEST(Runtime, ListedBackendThatFailsToLoadIsAnErrorWithTheReason) {
  // bad_major exists but has another ABI major: the error says so, not just "not found".
  BackendConfig bad;
  bad.name = "bad_major";
  bad.where.file = "--backends";
  Config c = testConfig({bad});
  auto engine = Engine::create(c);
  ASSERT_FALSE(engine.ok());
  const std::string msg = engine.status().message();
  EXPECT_NE(msg.find("--backends: backend 'bad_major' cannot be used: " + kPluginDir + "/libsy_plugin_bad_major.so"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("not compatible"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(searched " + kPluginDir), std::string::npos) << msg;
  c.backends[0].optional = true;
  engine = Engine::create(c);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  // One line for it, not a second "plugin not loaded" line about the same file.
  int lines = 0;
  for (const auto& w : (*engine)->warnings()) lines += w.find("libsy_plugin_bad_major.so") != std::string::npos;
  EXPECT_EQ(lines, 1);
}

TEST(Runtime, ListedBackendWithoutAMatchingDeviceIsAnError) {
  BackendConfig b = memdev();
  b.device = "*no such device*";
  b.where = SourceLocation{"dev.yaml", 2, 3};
  auto engine = Engine::create(testConfig({b}));
  ASSERT_FALSE(engine.ok());
  EXPECT_NE(engine.status().message().find("dev.yaml:2:3: backend 'memdev' cannot be used: no device of plugin"),
            std::string::npos)
      << engine.status().message();
  b.optional = true;
  engine = Engine::create(testConfig({b}));
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  EXPECT_EQ((*engine)->backends()[0].name, "reference");
}

TEST(Runtime, AutomaticSearchStaysLenient) {
  // No list: a broken plugin in the folder is a warning, the others are used.
  Config c = testConfig({});
  auto engine = Engine::create(c);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  bool badMajorWarned = false;
  for (const auto& w : (*engine)->warnings()) badMajorWarned = badMajorWarned || w.find("bad_major") != std::string::npos;
  EXPECT_TRUE(badMajorWarned);
}

TEST(Runtime, PluginWhoseTableNameDiffersFromItsFileNameWarns) {
  // A copy of memdev named libsy_plugin_othername.so loads as 'memdev', with a warning.
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("sy-name-mismatch-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(kPluginDir + "/libsy_plugin_memdev.so", dir / "libsy_plugin_othername.so",
                             std::filesystem::copy_options::overwrite_existing);
  Config c = defaultConfig();
  c.pluginPaths = {dir.string()};
  c.defaultPluginPaths = false;
  auto engine = Engine::create(c);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  bool warned = false;
  for (const auto& w : (*engine)->warnings())
    warned = warned || (w.find("libsy_plugin_othername.so: loaded as plugin 'memdev'") != std::string::npos &&
                        w.find("not 'othername'") != std::string::npos);
  EXPECT_TRUE(warned);
  ASSERT_FALSE((*engine)->backends().empty());
  EXPECT_EQ((*engine)->backends()[0].name, "memdev");
  // Listed under its file's name, it is an error that says what the file really is.
  BackendConfig other;
  other.name = "othername";
  c.backends = {other};
  engine = Engine::create(c);
  ASSERT_FALSE(engine.ok());
  EXPECT_NE(engine.status().message().find("loaded as plugin 'memdev'"), std::string::npos)
      << engine.status().message();
  std::filesystem::remove_all(dir);
}

TEST(Runtime, BadOptionErrorPointsAtTheOptionsLine) {
  // Issue #13 item 7: the error used to point at the backend's line.
  BackendConfig b = memdev("", {{"colour", "1"}, {"ops", "add"}});
  b.where = SourceLocation{"opt.yaml", 2, 5};
  b.optionWhere["colour"] = SourceLocation{"opt.yaml", 5, 9};
  b.optionWhere["ops"] = SourceLocation{"opt.yaml", 4, 9};
  auto engine = Engine::create(testConfig({b}));
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().message().rfind("opt.yaml:5:9: backend 'memdev': ", 0), 0u) << engine.status().message();
  EXPECT_NE(engine.status().message().find("colour"), std::string::npos) << engine.status().message();
}

TEST(Runtime, FaultyCompilePluginFallsBackToTheNextBackend) {
  // compile_fails supports relu/add but every compile fails: its region moves to memdev (next in
  // priority order that supports it all), and the compile log says why.
  BackendConfig bad;
  bad.name = "compile_fails";
  auto engine = Engine::create(testConfig({bad, memdev()}));
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto g = parse(R"(
graph @g(%x: f32[3], %y: f32[3]) {
  %a = add(%x, %y) : f32[3]
  %r = relu(%a) : f32[3]
  return %r
}
)");
  auto model = (*engine)->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  ASSERT_EQ((*model)->compileLog().size(), 1u);
  EXPECT_NE((*model)->compileLog()[0].find("out of device registers"), std::string::npos) << (*model)->compileLog()[0];
  EXPECT_NE((*model)->compileLog()[0].find("moved to 'memdev'"), std::string::npos) << (*model)->compileLog()[0];
  EXPECT_EQ((*model)->plan().regions[0].backend, "memdev");
  auto outs = (*model)->run({testing::F({3}, {1, -5, 2}), testing::F({3}, {1, 1, -3})});
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  EXPECT_TENSOR((*outs)[0], DType::F32, (Shape{3}), {2, 0, 0});
}

TEST(Runtime, FaultyExecutePluginErrorNamesRegionAndBackend) {
  BackendConfig bad;
  bad.name = "execute_fails";
  auto engine = Engine::create(testConfig({bad}));
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto g = parse(R"(
graph @g(%x: f32[3]) {
  %r = relu(%x) : f32[3]
  return %r
}
)");
  auto model = (*engine)->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  Tensor x = testing::F({3}, {1, -5, 2});
  Tensor copy = *x.clone();
  auto outs = (*model)->run({x});
  ASSERT_FALSE(outs.ok());
  const std::string msg = outs.status().message();
  EXPECT_NE(msg.find("region 0 on backend 'execute_fails'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("device lost"), std::string::npos) << msg;
  EXPECT_TRUE(x.bitwiseEqual(copy));
}

TEST(Runtime, ReferenceListedExplicitlyWorksWithFallbackError) {
  // configs/reference-only.yaml: backends [reference], fallback error.
  auto config = loadConfig(std::string(SY_SOURCE_DIR) + "/configs/reference-only.yaml");
  ASSERT_TRUE(config.ok()) << config.status().toString();
  config->pluginPaths = {SY_TEST_PLUGIN_DIR};
  auto engine = Engine::create(*config);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  ASSERT_EQ((*engine)->backends().size(), 1u);
  EXPECT_EQ((*engine)->backends()[0].name, "reference");
  auto model = (*engine)->compile(parse(kMixed));
  ASSERT_TRUE(model.ok()) << model.status().toString();
  for (const Region& r : (*model)->plan().regions) EXPECT_EQ(r.backend, "reference");
}

TEST(Runtime, BadBackendOptionIsAnError) {
  auto engine = Engine::create(testConfig({memdev("", {{"no_such_option", "1"}})}));
  ASSERT_FALSE(engine.ok());
  EXPECT_NE(engine.status().message().find("no_such_option"), std::string::npos) << engine.status().message();
}

}  // namespace
}  // namespace sy
