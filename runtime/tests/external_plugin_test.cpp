// Loads a plugin built out of tree (CI builds sdk/examples/hello_backend
// against the installed SDK and passes its path in SY_EXTERNAL_PLUGIN), runs
// examples/elementwise.sy with it first, and compares with the reference;
// for hello, also the ONNX example models, each of which must compile on
// hello whole (issue #13: hello's region used to move to the reference).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "switchyard/engine.h"
#include "switchyard/interpreter.h"
#include "switchyard/npy.h"
#include "switchyard/program.h"
#include "test_util.h"
#ifdef SY_HAVE_ONNX
#include "switchyard/onnx_import.h"
#endif

namespace sy {
namespace {

TEST(ExternalPlugin, RunsExampleAgainstReference) {
  const char* path = std::getenv("SY_EXTERNAL_PLUGIN");
  if (!path || !*path) GTEST_SKIP() << "SY_EXTERNAL_PLUGIN is not set (CI sets it after building sdk/examples/hello_backend)";
  auto plugin = PluginHost::load(path);
  ASSERT_TRUE(plugin.ok()) << plugin.status().toString();
  const std::string name = (*plugin)->name();

  Config c = defaultConfig();
  c.pluginPaths = {std::filesystem::path(path).parent_path().string()};
  BackendConfig b;
  b.name = name;
  c.backends = {b};
  c.strict = false;
  auto engine = Engine::create(c);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  ASSERT_EQ((*engine)->backends()[0].name, name);

  auto g = loadProgram(std::string(SY_SOURCE_DIR) + "/examples/elementwise.sy");
  ASSERT_TRUE(g.ok()) << g.status().toString();
  std::shared_ptr<const Graph> graph = std::move(*g);
  auto model = (*engine)->compile(graph);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  size_t taken = 0;
  for (const NodePlacement& p : (*model)->plan().placements) taken += p.backend == name;
  EXPECT_GT(taken, 0u) << (*model)->plan().toTable(true);
  std::printf("%s took %zu of %zu nodes\n", name.c_str(), taken, (*model)->plan().placements.size());

  std::vector<Tensor> inputs = {testing::F({2, 4}, {1, -2, 3, 0.5, -1, 2, 0, 1}),
                                testing::F({2, 4}, {0.5, 0.5, -1, 2, 3, -3, 1, 0})};
  auto outs = (*model)->run(inputs);
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  auto interp = Interpreter::create(graph);
  ASSERT_TRUE(interp.ok());
  auto ref = (*interp)->run(inputs);
  ASSERT_TRUE(ref.ok());
  for (int64_t i = 0; i < (*ref)[0].numel(); ++i)
    EXPECT_NEAR((*outs)[0].getDouble(i), (*ref)[0].getDouble(i), 1e-5);
}

// hello runs its five ops with its own kernels and every other op on the
// SDK's portable kernels inside its own region (the SDK's region executor):
// each ONNX example compiles on hello with no compile fallback, every node
// outside control flow runs on hello, and the outputs match the files
// PyTorch wrote.
TEST(ExternalPlugin, HelloRunsTheOnnxExamplesWithoutFallback) {
  const char* path = std::getenv("SY_EXTERNAL_PLUGIN");
  if (!path || !*path) GTEST_SKIP() << "SY_EXTERNAL_PLUGIN is not set (CI sets it after building sdk/examples/hello_backend)";
#ifndef SY_HAVE_ONNX
  GTEST_SKIP() << "built without the ONNX importer";
#else
  auto plugin = PluginHost::load(path);
  ASSERT_TRUE(plugin.ok()) << plugin.status().toString();
  if ((*plugin)->name() != "hello") GTEST_SKIP() << "the plugin is '" << (*plugin)->name() << "', not hello";
  Config c = defaultConfig();
  c.pluginPaths = {std::filesystem::path(path).parent_path().string()};
  c.defaultPluginPaths = false;
  c.strict = true;
  BackendConfig b;
  b.name = "hello";
  c.backends = {b};
  auto engine = Engine::create(c);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();

  const std::string models = std::string(SY_SOURCE_DIR) + "/examples/models/";
  for (const std::string name : {"mlp", "cnn", "transformer", "control_flow"}) {
    SCOPED_TRACE(name);
    auto g = importOnnxFile(models + name + "/model.onnx");
    ASSERT_TRUE(g.ok()) << g.status().toString();
    std::shared_ptr<const Graph> graph = std::move(*g);
    auto model = (*engine)->compile(graph);
    ASSERT_TRUE(model.ok()) << model.status().toString();
    const PartitionPlan& plan = (*model)->plan();
    EXPECT_TRUE((*model)->compileLog().empty()) << (*model)->compileLog()[0];
    ASSERT_FALSE(plan.regions.empty()) << plan.toTable(true);
    for (const Region& r : plan.regions) EXPECT_EQ(r.backend, "hello") << plan.toTable(true);
    size_t onHello = 0;
    for (const NodePlacement& p : plan.placements) {
      const std::string_view op = p.node->op();
      if (op == "constant" || op == "weight" || op == "if" || op == "loop") continue;
      EXPECT_EQ(p.backend, "hello") << p.node->describe() << ": " << p.reason;
      onHello += p.backend == "hello";
    }
    std::printf("%s: hello took %zu nodes in %zu region(s)\n", name.c_str(), onHello, plan.regions.size());

    std::vector<Tensor> inputs;
    for (const Value* in : graph->inputs()) {
      auto t = readNpyFile(models + name + "/input_" + in->name() + ".npy");
      ASSERT_TRUE(t.ok()) << t.status().toString();
      inputs.push_back(*t);
    }
    auto outs = (*model)->run(inputs);
    ASSERT_TRUE(outs.ok()) << outs.status().toString();
    ASSERT_EQ(outs->size(), graph->outputs().size());
    for (size_t i = 0; i < outs->size(); ++i) {
      auto want = readNpyFile(models + name + "/output_" + graph->outputs()[i]->name() + ".npy");
      ASSERT_TRUE(want.ok()) << want.status().toString();
      ASSERT_EQ((*outs)[i].shape(), want->shape());
      for (int64_t e = 0; e < want->numel(); ++e) {
        EXPECT_NEAR((*outs)[i].getDouble(e), want->getDouble(e), 1e-4 + 1e-4 * std::abs(want->getDouble(e)))
            << "output " << i << " element " << e;
      }
    }
  }
#endif
}

}  // namespace
}  // namespace sy
