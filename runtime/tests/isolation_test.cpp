// `isolation: process` (docs/isolation.md): plugins in a helper process, with
// the in-tree test plugins: buggy (neg crashes with SIGSEGV, exp hangs),
// memdev (device memory that is not host visible) and init_fails. Also the
// fatal-signal line of an in-process plugin crash.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "switchyard/builder.h"
#include "switchyard/engine.h"
#include "switchyard/fatal_signal.h"
#include "switchyard/interpreter.h"
#include "switchyard/isolation.h"
#include "switchyard/text.h"
#include "test_util.h"

namespace sy {
namespace {

const std::string kPluginDir = SY_TEST_PLUGIN_DIR;

Config testConfig(std::vector<BackendConfig> backends, bool retry = false) {
  Config c = defaultConfig();
  c.pluginPaths = {kPluginDir};
  c.defaultPluginPaths = false;
  c.backends = std::move(backends);
  c.retryOnReference = retry;
  return c;
}

BackendConfig isolated(const std::string& name, int64_t timeoutMs = 0, std::map<std::string, std::string> options = {}) {
  BackendConfig b;
  b.name = name;
  b.isolateProcess = true;
  b.timeoutMs = timeoutMs;
  b.options = std::move(options);
  return b;
}

std::shared_ptr<const Graph> parse(const std::string& text) {
  auto g = parseGraph(text);
  EXPECT_TRUE(g.ok()) << g.status().toString();
  return g.ok() ? std::shared_ptr<const Graph>(std::move(*g)) : nullptr;
}

std::shared_ptr<const Graph> unary(const std::string& op) {
  return parse("graph @g(%x: f32[3]) {\n  %y = " + op + "(%x) : f32[3]\n  return %y\n}\n");
}

const std::shared_ptr<LoadedPlugin>& pluginOf(const Engine& e, const std::string& name) {
  for (const EngineBackend& b : e.backends())
    if (b.name == name) return b.instance->pluginPtr();
  static std::shared_ptr<LoadedPlugin> none;
  return none;
}

bool helperBuilt() { return !findPluginHostExecutable().empty(); }

#define SKIP_WITHOUT_HELPER()                                                                   \
  if (!helperBuilt()) GTEST_SKIP() << "switchyard-plugin-host is not next to this test binary " \
                                      "(build the switchyard-plugin-host target)"

TEST(Isolation, IsolatedPluginRunsLikeInProcess) {
  SKIP_WITHOUT_HELPER();
  // memdev's memory is not host visible: inputs are written and outputs read
  // through the helper; the weight crosses as constant data of the region.
  GraphBuilder b("w");
  Value* x = b.input("x", Type::tensor(DType::F32, {Dim::symbol("N"), 3}));
  Value* w = b.weight("w", testing::F({3, 2}, {1, 2, 3, 4, 5, 6}));
  b.output(b.op("relu", {b.op("matmul", {x, w})}));
  auto g = b.finish();
  ASSERT_TRUE(g.ok()) << g.status().toString();
  std::shared_ptr<const Graph> graph = std::move(*g);
  auto engine = Engine::create(testConfig({isolated("memdev")}));
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  const auto& plugin = pluginOf(**engine, "memdev");
  ASSERT_TRUE(plugin);
  EXPECT_GT(isolatedHelperPid(*plugin), 0);
  EXPECT_EQ(plugin->devices().size(), 2u);
  EXPECT_EQ(plugin->devices()[0].name, "memdev0");
  auto model = (*engine)->compile(graph);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  ASSERT_EQ((*model)->plan().regions.size(), 1u) << (*model)->plan().toTable(true);
  EXPECT_EQ((*model)->plan().regions[0].backend, "memdev");
  auto outs = (*model)->run({testing::F({2, 3}, {1, 0, -1, 2, 1, 0})});
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  EXPECT_TENSOR((*outs)[0], DType::F32, (Shape{2, 2}), {0, 0, 5, 8});
  // An empty batch crosses too (zero-byte shared memory).
  outs = (*model)->run({testing::F({0, 3}, {})});
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  EXPECT_EQ((*outs)[0].shape(), (Shape{0, 2}));
}

TEST(Isolation, BadOptionIsTheUsersErrorAsInProcess) {
  SKIP_WITHOUT_HELPER();
  auto engine = Engine::create(testConfig({isolated("buggy", 0, {{"colour", "red"}})}));
  ASSERT_FALSE(engine.ok());
  EXPECT_NE(engine.status().message().find("unknown backend option 'colour'"), std::string::npos)
      << engine.status().message();
}

TEST(Isolation, PluginThatFailsToLoadInTheHelperIsAnErrorNamingTheFile) {
  SKIP_WITHOUT_HELPER();
  auto engine = Engine::create(testConfig({isolated("init_fails")}));
  ASSERT_FALSE(engine.ok());
  const std::string msg = engine.status().message();
  EXPECT_NE(msg.find("libsy_plugin_init_fails.so"), std::string::npos) << msg;
  EXPECT_NE(msg.find("init"), std::string::npos) << msg;
  EXPECT_NE(msg.find("isolation: process"), std::string::npos) << msg;
  auto missing = Engine::create(testConfig({isolated("no_such_plugin")}));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no plugin file libsy_plugin_no_such_plugin.so"), std::string::npos)
      << missing.status().message();
}

TEST(Isolation, CrashFailsTheRegionNamingPluginRegionAndSignal) {
  SKIP_WITHOUT_HELPER();
  auto engine = Engine::create(testConfig({isolated("buggy")}));
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto model = (*engine)->compile(unary("neg"));
  ASSERT_TRUE(model.ok()) << model.status().toString();
  ASSERT_EQ((*model)->plan().regions[0].backend, "buggy");
  Tensor x = testing::F({3}, {1, -2, 3});
  Tensor copy = *x.clone();
  auto outs = (*model)->run({x});
  ASSERT_FALSE(outs.ok());
  const std::string msg = outs.status().message();
  EXPECT_NE(msg.find("region 0 on backend 'buggy'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("plugin 'buggy'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("SIGSEGV"), std::string::npos) << msg;
  EXPECT_TRUE(x.bitwiseEqual(copy));
  // The dead helper was reaped: no zombie child is left.
  int status = 0;
  EXPECT_LE(::waitpid(-1, &status, WNOHANG), 0);
}

TEST(Isolation, CrashedRegionIsAnsweredByTheReferenceWithRetry) {
  SKIP_WITHOUT_HELPER();
  auto engine = Engine::create(testConfig({isolated("buggy")}, /*retry=*/true));
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto model = (*engine)->compile(unary("neg"));
  ASSERT_TRUE(model.ok()) << model.status().toString();
  std::vector<std::string> retries;
  RunOptions options;
  options.retries = &retries;
  auto outs = (*model)->run({testing::F({3}, {1, -2, 3})}, options);
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  EXPECT_TENSOR((*outs)[0], DType::F32, (Shape{3}), {-1, 2, -3});
  ASSERT_EQ(retries.size(), 1u);
  EXPECT_NE(retries[0].find("region 0 on backend 'buggy'"), std::string::npos) << retries[0];
  EXPECT_NE(retries[0].find("SIGSEGV"), std::string::npos) << retries[0];
  EXPECT_NE(retries[0].find("retried on the reference interpreter"), std::string::npos) << retries[0];
}

TEST(Isolation, HelperRestartsForTheNextCall) {
  SKIP_WITHOUT_HELPER();
  auto engine = Engine::create(testConfig({isolated("buggy")}));
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  const auto& plugin = pluginOf(**engine, "buggy");
  auto crashing = (*engine)->compile(unary("neg"));
  auto working = (*engine)->compile(unary("relu"));
  ASSERT_TRUE(crashing.ok() && working.ok());
  auto outs = (*working)->run({testing::F({3}, {1, -2, 3})});
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  const int firstPid = isolatedHelperPid(*plugin);
  ASSERT_GT(firstPid, 0);
  ASSERT_FALSE((*crashing)->run({testing::F({3}, {1, -2, 3})}).ok());
  EXPECT_EQ(isolatedHelperPid(*plugin), 0);  // dead and reaped
  // The next call starts a new helper, where the backend and the region are made again.
  outs = (*working)->run({testing::F({3}, {4, -5, 6})});
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  EXPECT_TENSOR((*outs)[0], DType::F32, (Shape{3}), {4, 0, 6});
  const int secondPid = isolatedHelperPid(*plugin);
  EXPECT_GT(secondPid, 0);
  EXPECT_NE(secondPid, firstPid);
  // And a region compiled after the restart works too.
  auto later = (*engine)->compile(unary("sigmoid"));
  ASSERT_TRUE(later.ok()) << later.status().toString();
  EXPECT_TRUE((*later)->run({testing::F({3}, {0, 0, 0})}).ok());
}

TEST(Isolation, HangHitsTheTimeoutAndTheHelperIsKilled) {
  SKIP_WITHOUT_HELPER();
  auto engine = Engine::create(testConfig({isolated("buggy", /*timeoutMs=*/1000)}));
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  const auto& plugin = pluginOf(**engine, "buggy");
  auto hanging = (*engine)->compile(unary("exp"));
  ASSERT_TRUE(hanging.ok()) << hanging.status().toString();
  const auto t0 = std::chrono::steady_clock::now();
  auto outs = (*hanging)->run({testing::F({3}, {1, 2, 3})});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(outs.ok());
  const std::string msg = outs.status().message();
  EXPECT_NE(msg.find("region 0 on backend 'buggy'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did not answer within 1000 ms"), std::string::npos) << msg;
  EXPECT_NE(msg.find("killed"), std::string::npos) << msg;
  EXPECT_LT(seconds, 5.0);
  EXPECT_EQ(isolatedHelperPid(*plugin), 0);
  auto working = (*engine)->compile(unary("relu"));
  ASSERT_TRUE(working.ok()) << working.status().toString();
  outs = (*working)->run({testing::F({3}, {-1, 2, -3})});
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  EXPECT_TENSOR((*outs)[0], DType::F32, (Shape{3}), {0, 2, 0});
}

TEST(Isolation, ConcurrentRunsFromSeveralThreads) {
  SKIP_WITHOUT_HELPER();
  auto engine = Engine::create(testConfig({isolated("memdev")}));
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto model = (*engine)->compile(parse(R"(
graph @g(%x: f32[4], %y: f32[4]) {
  %s = add(%x, %y) : f32[4]
  %r = relu(%s) : f32[4]
  return %r
}
)"));
  ASSERT_TRUE(model.ok()) << model.status().toString();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const double v = t * 100 + i;
        auto outs = (*model)->run({testing::F({4}, {v, -v, 1, 2}), testing::F({4}, {1, 1, -5, 0})});
        if (!outs.ok() || (*outs)[0].getDouble(0) != v + 1 || (*outs)[0].getDouble(2) != 0 ||
            (*outs)[0].getDouble(3) != 2)
          ++failures;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(Isolation, ConfigKeys) {
  auto c = parseConfig(R"(
backends:
  - name: buggy
    isolation: process
    timeout_ms: 250
  - name: cpu
    isolation: none
)",
                       "iso.yaml");
  ASSERT_TRUE(c.ok()) << c.status().toString();
  EXPECT_TRUE(c->backends[0].isolateProcess);
  EXPECT_EQ(c->backends[0].timeoutMs, 250);
  EXPECT_FALSE(c->backends[1].isolateProcess);
  auto bad = parseConfig("backends:\n  - name: cpu\n    isolation: thread\n", "iso.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("iso.yaml:3:"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("process"), std::string::npos) << bad.status().message();
  auto noIsolation = parseConfig("backends:\n  - name: cpu\n    timeout_ms: 100\n", "iso.yaml");
  ASSERT_FALSE(noIsolation.ok());
  EXPECT_NE(noIsolation.status().message().find("timeout_ms applies only"), std::string::npos)
      << noIsolation.status().message();
  auto zero = parseConfig("backends:\n  - name: cpu\n    isolation: process\n    timeout_ms: 0\n", "iso.yaml");
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("iso.yaml:4:"), std::string::npos) << zero.status().message();
}

// Without isolation, the crash still kills the process (same signal), but
// one line names the plugin, the call and the region first.
TEST(IsolationDeathTest, InProcessCrashPrintsThePluginAndRegion) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto crash = [] {
    BackendConfig b;
    b.name = "buggy";
    auto engine = Engine::create(testConfig({b}));
    if (!engine.ok()) std::_Exit(3);
    auto model = (*engine)->compile(unary("neg"));
    if (!model.ok()) std::_Exit(4);
    (void)(*model)->run({testing::F({3}, {1, 2, 3})});
    std::_Exit(5);
  };
  EXPECT_DEATH(crash(), "switchyard: fatal signal SIGSEGV in plugin 'buggy' during execute of region 0");
#if !defined(__SANITIZE_ADDRESS__)
  // Same death as without the handler (a sanitizer's own handler exits instead).
  EXPECT_EXIT(crash(), ::testing::KilledBySignal(SIGSEGV), "fatal signal SIGSEGV in plugin 'buggy'");
#endif
}

}  // namespace
}  // namespace sy
