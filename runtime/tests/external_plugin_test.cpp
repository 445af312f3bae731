// Loads a plugin built out of tree (CI builds sdk/examples/hello_backend
// against the installed SDK and passes its path in SY_EXTERNAL_PLUGIN), runs
// examples/elementwise.sy with it first, and compares with the reference.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "switchyard/engine.h"
#include "switchyard/interpreter.h"
#include "switchyard/program.h"
#include "test_util.h"

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

}  // namespace
}  // namespace sy
