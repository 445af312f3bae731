// Issue #13 item 1: constants and weights are never nodes a plugin must claim.
// A region's constants reach compile as values with constant_data (Note
// [constants are values] in core/src/graph_view.cpp); the plan lists them per
// region, never as inputs, outputs or transfers.
#include <gtest/gtest.h>

#include <cmath>

#include "switchyard/engine.h"
#include "switchyard/graph_view.h"
#include "switchyard/interpreter.h"
#include "switchyard/npy.h"
#include "switchyard/text.h"
#include "test_util.h"
#ifdef SY_HAVE_ONNX
#include "switchyard/onnx_import.h"
#endif

namespace sy {
namespace {

const std::string kPluginDir = SY_TEST_PLUGIN_DIR;
const std::string kMlp = std::string(SY_SOURCE_DIR) + "/examples/models/mlp";
// Every compute op of examples/models/mlp, and nothing else: not `constant`,
// not `weight` (memdev claims those only when listed, and only an ABI 1.0 host
// would ask).
const char* kMlpComputeOps = "gemm,relu,div,erf,add,mul,softmax";

Config memdevOnly(const std::string& ops, std::map<std::string, std::string> extra = {}) {
  Config c = defaultConfig();
  c.pluginPaths = {kPluginDir};
  c.defaultPluginPaths = false;
  BackendConfig b;
  b.name = "memdev";
  b.options["ops"] = ops;
  for (auto& [k, v] : extra) b.options[k] = v;
  c.backends = {b};
  return c;
}

bool isConstantNode(const Node* n) { return n->op() == "constant" || n->op() == "weight"; }

void expectClose(const Tensor& got, const Tensor& want, double tol) {
  ASSERT_EQ(got.shape(), want.shape());
  for (int64_t i = 0; i < want.numel(); ++i) EXPECT_NEAR(got.getDouble(i), want.getDouble(i), tol) << "element " << i;
}

#ifdef SY_HAVE_ONNX
std::shared_ptr<const Graph> loadMlp() {
  auto g = importOnnxFile(kMlp + "/model.onnx");
  EXPECT_TRUE(g.ok()) << g.status().toString();
  return g.ok() ? std::shared_ptr<const Graph>(std::move(*g)) : nullptr;
}
#endif

// The shipped hello_backend case: a plugin that claims only compute ops
// compiles the ONNX MLP with no fallback. Before, the weights were placed on
// the reference, cloned into memdev's region as nodes memdev had declined, and
// compile failed (the region moved to the reference).
TEST(Constants, ComputeOnlyPluginRunsTheOnnxMlpWithoutFallback) {
#ifndef SY_HAVE_ONNX
  GTEST_SKIP() << "built without the ONNX importer";
#else
  auto graph = loadMlp();
  ASSERT_NE(graph, nullptr);
  Config config = memdevOnly(kMlpComputeOps);
  config.fallback = FallbackPolicy::Error;  // nothing may go to the reference
  config.strict = true;
  auto engine = Engine::create(config);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto model = (*engine)->compile(graph);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  const PartitionPlan& plan = (*model)->plan();
  EXPECT_TRUE((*model)->compileLog().empty()) << (*model)->compileLog()[0];
  ASSERT_EQ(plan.regions.size(), 1u) << plan.toTable(true);
  const Region& r = plan.regions[0];
  EXPECT_EQ(r.backend, "memdev");
  size_t compute = 0, constants = 0;
  for (const NodePlacement& p : plan.placements) {
    if (isConstantNode(p.node)) {
      ++constants;
      EXPECT_EQ(p.backend, "host") << p.node->describe();
      EXPECT_EQ(p.region, -1) << p.node->describe();
    } else {
      ++compute;
      EXPECT_EQ(p.backend, "memdev") << p.node->describe() << ": " << p.reason;
    }
  }
  EXPECT_EQ(compute, r.nodes.size());
  EXPECT_EQ(constants, 9u);  // 6 weights, 3 literals
  EXPECT_EQ(r.constants.size(), 9u);
  ASSERT_EQ(r.inputs.size(), 1u);
  EXPECT_EQ(r.inputs[0]->name(), "x");
  // The plan shows what happens: x goes to memdev, y comes back; no weight moves.
  ASSERT_EQ(plan.transfers.size(), 2u) << plan.toTable();
  EXPECT_EQ(plan.transfers[0].value->name(), "x");
  EXPECT_EQ(plan.transfers[1].value->name(), "y");

  auto x = readNpyFile(kMlp + "/input_x.npy");
  auto y = readNpyFile(kMlp + "/output_y.npy");
  ASSERT_TRUE(x.ok() && y.ok());
  auto outs = (*model)->run({*x});
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  expectClose((*outs)[0], *y, 1e-5);
#endif
}

// A plugin built against ABI 1.0 keeps working: it gets the 1.0 view (the
// constants as nodes it may claim or not), and compiles the same region.
TEST(Constants, AbiMinor0PluginGetsConstantNodesAndStillWorks) {
#ifndef SY_HAVE_ONNX
  GTEST_SKIP() << "built without the ONNX importer";
#else
  auto graph = loadMlp();
  ASSERT_NE(graph, nullptr);
  Config config = memdevOnly(kMlpComputeOps);
  config.pluginPaths = {SY_TEST_PLUGIN_ABI10_DIR};
  config.backends[0].name = "memdev_abi10";
  config.fallback = FallbackPolicy::Error;
  auto engine = Engine::create(config);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto plugin = (*engine)->backends()[0].instance;
  ASSERT_NE(plugin, nullptr);
  EXPECT_EQ(plugin->plugin().api().abi_minor, 0u);
  EXPECT_EQ(constantsInFor(plugin->plugin().api().abi_minor), ConstantsIn::Nodes);
  auto model = (*engine)->compile(graph);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  EXPECT_TRUE((*model)->compileLog().empty()) << (*model)->compileLog()[0];
  ASSERT_EQ((*model)->plan().regions.size(), 1u);
  EXPECT_EQ((*model)->plan().regions[0].backend, "memdev_abi10");
  auto x = readNpyFile(kMlp + "/input_x.npy");
  auto y = readNpyFile(kMlp + "/output_y.npy");
  ASSERT_TRUE(x.ok() && y.ok());
  auto outs = (*model)->run({*x});
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  expectClose((*outs)[0], *y, 1e-5);
#endif
}

// ABI 1.2's dtypes never reach a plugin built against an older minor: the
// host declines every node that touches one (whatever the plugin answered),
// with a reason naming the dtype and the minors; the rest is asked as before.
TEST(Constants, OlderMinorPluginIsNeverGivenNewDtypes) {
  auto g = parseGraph(R"(
graph @g(%x: u8[4]) {
  %f = cast(%x) {to = "f32"} : f32[4]
  %y = relu(%f) : f32[4]
  return %y
}
)");
  ASSERT_TRUE(g.ok()) << g.status().toString();
  std::shared_ptr<const Graph> graph = std::move(*g);
  Config config = memdevOnly("relu");
  config.pluginPaths = {SY_TEST_PLUGIN_ABI10_DIR};
  config.backends[0].name = "memdev_abi10";
  auto engine = Engine::create(config);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto caps = (*engine)->capabilities(*graph);
  ASSERT_TRUE(caps.ok()) << caps.status().toString();
  const BackendCapability* cap = nullptr;
  for (const BackendCapability& c : *caps)
    if (c.name == "memdev_abi10") cap = &c;
  ASSERT_NE(cap, nullptr);
  bool sawCast = false, sawRelu = false;
  for (const auto& [node, support] : cap->nodes) {
    if (node->op() == "cast") {
      sawCast = true;
      EXPECT_FALSE(support.supported);
      EXPECT_NE(support.reason.find("dtype u8 needs a plugin built against ABI 1.2"), std::string::npos) << support.reason;
      EXPECT_NE(support.reason.find("1.0"), std::string::npos) << support.reason;
    }
    if (node->op() == "relu") {
      sawRelu = true;
      EXPECT_TRUE(support.supported) << support.reason;
    }
  }
  EXPECT_TRUE(sawCast && sawRelu);
  EXPECT_EQ(dtypeTooNewFor(graph->body()->nodes()[0], SY_ABI_VERSION_MINOR), "");
  auto model = (*engine)->compile(graph);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  auto x = Tensor::fromInts(DType::U8, {4}, {0, 7, 200, 255});
  ASSERT_TRUE(x.ok());
  auto outs = (*model)->run({*x});
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  expectClose((*outs)[0], testing::F({4}, {0, 7, 200, 255}), 0);
}

// A failing execute retried on the reference (retry_on_reference) still gets
// the constants: the reference runs the region graph with them inside.
TEST(Constants, RetryOnReferenceKeepsTheConstants) {
#ifndef SY_HAVE_ONNX
  GTEST_SKIP() << "built without the ONNX importer";
#else
  auto graph = loadMlp();
  ASSERT_NE(graph, nullptr);
  Config config = memdevOnly(kMlpComputeOps, {{"fail_execute_ops", "softmax"}});
  config.retryOnReference = true;
  auto engine = Engine::create(config);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto model = (*engine)->compile(graph);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  EXPECT_EQ((*model)->plan().regions[0].backend, "memdev");
  auto x = readNpyFile(kMlp + "/input_x.npy");
  auto y = readNpyFile(kMlp + "/output_y.npy");
  ASSERT_TRUE(x.ok() && y.ok());
  auto outs = (*model)->run({*x});
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  expectClose((*outs)[0], *y, 1e-5);
#endif
}

// Constants that no region uses reach the host: a graph output that is a
// constant, a loop's trip count and carried start value, a constant returned by
// a host-run block.
TEST(Constants, HostReadsConstantsNoRegionHolds) {
  auto g = parseGraph(R"(
graph @g(%x: f32[2]) {
  %k = constant() {value = tensor<f32[2]>[1.0, 2.0]} : f32[2]
  %n = constant() {value = tensor<i64[]>[3]} : i64[]
  %t = constant() {value = tensor<bool[]>[true]} : bool[]
  %y = add(%x, %k) : f32[2]
  %s = loop(%n, %t, %k) : f32[2] {
  ^body(%i: i64, %c: bool, %acc: f32[2]):
    %one = constant() {value = tensor<f32[2]>[1.0, 1.0]} : f32[2]
    %z = add(%acc, %one) : f32[2]
    yield %c, %z
  }
  return %y, %k, %s
}
)");
  ASSERT_TRUE(g.ok()) << g.status().toString();
  std::shared_ptr<const Graph> graph = std::move(*g);
  auto engine = Engine::create(memdevOnly("add,exp"));
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto model = (*engine)->compile(graph);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  const PartitionPlan& plan = (*model)->plan();
  for (const Region& r : plan.regions) {
    EXPECT_EQ(r.backend, "memdev") << plan.toTable(true);
    for (const Value* v : r.inputs)
      EXPECT_FALSE(v->definingNode() && isConstantNode(v->definingNode())) << "constant %" << v->name() << " is an input";
  }
  for (const TransferStep& t : plan.transfers)
    EXPECT_FALSE(t.value->definingNode() && isConstantNode(t.value->definingNode())) << "%" << t.value->name();
  auto outs = (*model)->run({testing::F({2}, {10, 20})});
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  expectClose((*outs)[0], testing::F({2}, {11, 22}), 0);
  expectClose((*outs)[1], testing::F({2}, {1, 2}), 0);
  expectClose((*outs)[2], testing::F({2}, {4, 5}), 0);
}

// The view a plugin gets: ABI 1.1 has no constant node, each constant is a
// value with data that no node makes; an ABI 1.0 plugin gets the nodes.
TEST(Constants, ViewsByAbiMinor) {
  auto g = parseGraph(R"(
graph @g(%x: f32[2]) {
  %k = constant() {value = tensor<f32[2]>[1.0, 2.0]} : f32[2]
  %e = constant() {value = tensor<f32[0]>[]} : f32[0]
  %y = add(%x, %k) : f32[2]
  return %y, %e
}
)");
  ASSERT_TRUE(g.ok()) << g.status().toString();
  EXPECT_EQ(constantsInFor(0), ConstantsIn::Nodes);
  EXPECT_EQ(constantsInFor(1), ConstantsIn::Values);

  GraphView old(**g, ConstantsIn::Nodes);
  EXPECT_EQ(old.view()->num_nodes, 3u);
  GraphView now(**g, ConstantsIn::Values);
  const sy_graph_view* v = now.view();
  ASSERT_EQ(v->num_nodes, 1u);
  EXPECT_STREQ(v->nodes[0].op, "add");
  EXPECT_EQ(now.nodeAt(0)->op(), "add");
  EXPECT_EQ(v->body.num_nodes, 1u);
  EXPECT_EQ(v->body.num_params, 1u);
  size_t constants = 0;
  for (size_t i = 0; i < v->num_values; ++i) {
    const sy_value_info& info = v->values[i];
    const std::string name = info.name;
    if (name != "k" && name != "e") continue;
    ++constants;
    EXPECT_NE(info.constant_data, nullptr) << name << ": even an empty constant says it is one";
    EXPECT_EQ(info.constant_bytes, name == "k" ? 8u : 0u);
    if (name == "k") EXPECT_EQ(static_cast<const float*>(info.constant_data)[1], 2.0f);
  }
  EXPECT_EQ(constants, 2u);
}

}  // namespace
}  // namespace sy
