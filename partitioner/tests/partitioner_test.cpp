// Hand-written graphs and capability sets: placement, regions, transfers,
// control flow, give-back, pins, errors, and the printed forms of the plan.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "plan_checks.h"
#include "switchyard/partitioner.h"
#include "switchyard/text.h"
#include "switchyard/verifier.h"

namespace sy {
namespace {

using testing::checkPlan;
using testing::makeBackend;
using testing::referenceBackend;
using testing::supportOps;

std::unique_ptr<Graph> parse(const std::string& text) {
  auto g = parseGraph(text);
  EXPECT_TRUE(g.ok()) << g.status().toString();
  if (!g.ok()) return std::make_unique<Graph>();
  Status s = verify(**g);
  EXPECT_TRUE(s.ok()) << s.toString();
  return std::move(*g);
}

const Node* node(const Graph& g, const std::string& output) {
  const Value* v = g.findValue(output);
  EXPECT_NE(v, nullptr) << output;
  return v ? v->definingNode() : nullptr;
}

const NodePlacement& placementOf(const PartitionPlan& plan, const Node* n) {
  for (const NodePlacement& p : plan.placements)
    if (p.node == n) return p;
  static NodePlacement none;
  ADD_FAILURE() << "no placement for " << (n ? n->describe() : "null");
  return none;
}

std::vector<std::string> regionNodes(const Region& r) {
  std::vector<std::string> out;
  for (const Node* n : r.nodes) out.push_back(n->outputs().empty() ? n->op() : n->output()->name());
  return out;
}

PartitionPlan partitionOk(const Graph& g, const std::vector<BackendCapability>& backends,
                          const PartitionOptions& options = {}) {
  auto plan = partition(g, backends, options);
  EXPECT_TRUE(plan.ok()) << plan.status().toString();
  if (!plan.ok()) return {};
  checkPlan(g, backends, *plan);
  return std::move(*plan);
}

// a = add(x, y); b = relu(a); c = matmul(b, y); d = tanh(c)
const char* kChain = R"(
graph @chain(%x: f32[4, 4], %y: f32[4, 4]) {
  %a = add(%x, %y) : f32[4, 4]
  %b = relu(%a) : f32[4, 4]
  %c = matmul(%b, %y) : f32[4, 4]
  %d = tanh(%c) : f32[4, 4]
  return %d
}
)";

TEST(Partitioner, SingleBackendTakesAll) {
  auto g = parse(kChain);
  std::vector<BackendCapability> backends{supportOps(*g, "cpu", true, {"add", "relu", "matmul", "tanh"}),
                                          referenceBackend(*g)};
  PartitionPlan plan = partitionOk(*g, backends);
  ASSERT_EQ(plan.regions.size(), 1u);
  EXPECT_EQ(plan.regions[0].backend, "cpu");
  EXPECT_EQ(regionNodes(plan.regions[0]), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(plan.regions[0].inputs, (std::vector<const Value*>{g->findValue("x"), g->findValue("y")}));
  EXPECT_EQ(plan.regions[0].outputs, (std::vector<const Value*>{g->findValue("d")}));
  EXPECT_TRUE(plan.transfers.empty());  // cpu is host memory
  ASSERT_EQ(plan.top.steps.size(), 1u);
  for (const NodePlacement& p : plan.placements) {
    EXPECT_EQ(p.backend, "cpu");
    EXPECT_EQ(p.reason, "first backend in priority order that supports it");
    ASSERT_EQ(p.declined.size(), 1u);
    EXPECT_EQ(p.declined[0], (std::pair<std::string, std::string>{"reference", "supported, but ranked lower"}));
  }
}

TEST(Partitioner, DeviceBackendGetsTransfers) {
  auto g = parse(kChain);
  std::vector<BackendCapability> backends{supportOps(*g, "gpu", false, {"add", "relu", "matmul", "tanh"}, 0),
                                          referenceBackend(*g, 1.0)};
  PartitionPlan plan = partitionOk(*g, backends);
  ASSERT_EQ(plan.regions.size(), 1u);
  ASSERT_EQ(plan.transfers.size(), 3u);  // x, y in; d out to the caller
  EXPECT_EQ(plan.transfers[0].value, g->findValue("x"));
  EXPECT_EQ(plan.transfers[0].fromBackend, "host");
  EXPECT_EQ(plan.transfers[0].toBackend, "gpu");
  EXPECT_EQ(plan.transfers[0].toRegion, 0);
  EXPECT_EQ(plan.transfers[0].bytes, 64);
  EXPECT_EQ(plan.transfers[2].value, g->findValue("d"));
  EXPECT_EQ(plan.transfers[2].toBackend, "host");
  EXPECT_EQ(plan.transfers[2].toRegion, -1);
  EXPECT_EQ(plan.transfers[2].toNode, nullptr);
  EXPECT_EQ(plan.transfers[2].block, g->body());
}

TEST(Partitioner, AlternatingSupport) {
  auto g = parse(kChain);
  std::vector<BackendCapability> backends{supportOps(*g, "gpu", false, {"add", "matmul"}, 0),
                                          referenceBackend(*g, 1.0)};
  PartitionPlan plan = partitionOk(*g, backends);
  ASSERT_EQ(plan.regions.size(), 4u);
  const std::vector<std::string> expectBackend{"gpu", "reference", "gpu", "reference"};
  const std::vector<std::string> expectNode{"a", "b", "c", "d"};
  for (size_t r = 0; r < 4; ++r) {
    EXPECT_EQ(plan.regions[r].backend, expectBackend[r]);
    EXPECT_EQ(regionNodes(plan.regions[r]), std::vector<std::string>{expectNode[r]});
  }
  EXPECT_EQ(plan.regions[2].inputs, (std::vector<const Value*>{g->findValue("b"), g->findValue("y")}));
  // x and y go to the gpu once (region 2 reuses y), a and c come back, b goes over.
  std::vector<std::string> moved;
  for (const TransferStep& t : plan.transfers) moved.push_back(t.value->name() + ":" + t.fromBackend + ">" + t.toBackend);
  EXPECT_EQ(moved, (std::vector<std::string>{"x:host>gpu", "y:host>gpu", "a:gpu>reference", "b:reference>gpu",
                                             "c:gpu>reference"}));
  const NodePlacement& b = placementOf(plan, node(*g, "b"));
  EXPECT_EQ(b.backend, "reference");
  ASSERT_EQ(b.declined.size(), 1u);
  EXPECT_EQ(b.declined[0].first, "gpu");
  EXPECT_EQ(b.declined[0].second, "no kernel for 'relu'");
}

TEST(Partitioner, RegionsGrowAcrossIndependentNodes) {
  // Two independent chains interleaved in program order: each backend's nodes
  // form one region, since the ready queue keeps taking ready nodes of one backend.
  auto g = parse(R"(
graph @two(%x: f32[4], %y: f32[4]) {
  %a1 = relu(%x) : f32[4]
  %b1 = tanh(%y) : f32[4]
  %a2 = relu(%a1) : f32[4]
  %b2 = tanh(%b1) : f32[4]
  %s = add(%a2, %b2) : f32[4]
  return %s
}
)");
  std::vector<BackendCapability> backends{supportOps(*g, "xdev", true, {"relu", "add"}),
                                          supportOps(*g, "ydev", true, {"tanh"}), referenceBackend(*g)};
  PartitionPlan plan = partitionOk(*g, backends);
  ASSERT_EQ(plan.regions.size(), 3u);
  EXPECT_EQ(regionNodes(plan.regions[0]), (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(regionNodes(plan.regions[1]), (std::vector<std::string>{"b1", "b2"}));
  EXPECT_EQ(regionNodes(plan.regions[2]), (std::vector<std::string>{"s"}));
}

TEST(Partitioner, DiamondDoesNotMergeIntoACycle) {
  // A on X, B on Y uses A, C on X uses A and B. Putting C into A's region would
  // make X -> Y -> X a cycle. E on X is independent and may join A's region.
  auto g = parse(R"(
graph @diamond(%x: f32[4]) {
  %a = relu(%x) : f32[4]
  %b = tanh(%a) : f32[4]
  %c = add(%a, %b) : f32[4]
  %e = neg(%x) : f32[4]
  return %c, %e
}
)");
  std::vector<BackendCapability> backends{supportOps(*g, "X", true, {"relu", "add", "neg"}),
                                          supportOps(*g, "Y", true, {"tanh"}), referenceBackend(*g)};
  PartitionPlan plan = partitionOk(*g, backends);
  ASSERT_EQ(plan.regions.size(), 3u);
  EXPECT_EQ(regionNodes(plan.regions[0]), (std::vector<std::string>{"a", "e"}));
  EXPECT_EQ(plan.regions[0].backend, "X");
  EXPECT_EQ(regionNodes(plan.regions[1]), (std::vector<std::string>{"b"}));
  EXPECT_EQ(regionNodes(plan.regions[2]), (std::vector<std::string>{"c"}));
  EXPECT_EQ(plan.regions[2].backend, "X");
  EXPECT_NE(placementOf(plan, node(*g, "a")).region, placementOf(plan, node(*g, "c")).region);
  // Outputs: a is used by b (Y) and c (another region); e is returned.
  EXPECT_EQ(plan.regions[0].outputs, (std::vector<const Value*>{g->findValue("a"), g->findValue("e")}));
  EXPECT_EQ(plan.regions[2].inputs, (std::vector<const Value*>{g->findValue("a"), g->findValue("b")}));
}

TEST(Partitioner, PriorityVersusCost) {
  auto g = parse(R"(
graph @p(%x: f32[4]) {
  %a = relu(%x) : f32[4]
  %b = tanh(%a) : f32[4]
  return %b
}
)");
  auto costs = [&](const std::string& name, bool hostVisible, double cost) {
    return makeBackend(*g, name, hostVisible, [=](const Node*) { return NodeSupport{true, "", cost}; });
  };
  std::vector<BackendCapability> backends{costs("slow", true, 5e-6), costs("fast", true, 1e-6),
                                          referenceBackend(*g, 1e-5)};
  PartitionOptions options;
  PartitionPlan byPriority = partitionOk(*g, backends, options);
  ASSERT_EQ(byPriority.regions.size(), 1u);
  EXPECT_EQ(byPriority.regions[0].backend, "slow");

  options.policy = PlacementPolicy::Cost;
  PartitionPlan byCost = partitionOk(*g, backends, options);
  ASSERT_EQ(byCost.regions.size(), 1u);
  EXPECT_EQ(byCost.regions[0].backend, "fast");
  const NodePlacement& a = placementOf(byCost, node(*g, "a"));
  EXPECT_NE(a.reason.find("lowest estimated cost"), std::string::npos) << a.reason;
  EXPECT_NE(a.reason.find("slow 5e-06 s"), std::string::npos) << a.reason;
  ASSERT_EQ(a.declined.size(), 2u);
  EXPECT_EQ(a.declined[0].second, "supported, but costlier (5e-06 s)");
}

TEST(Partitioner, CostCountsTransfers) {
  // A device that is faster per node but must receive a 4 MB input loses to
  // the host-visible backend once the transfer is counted.
  auto g = parse(R"(
graph @t(%x: f32[1024, 1024]) {
  %a = relu(%x) : f32[1024, 1024]
  return %a
}
)");
  std::vector<BackendCapability> backends{supportOps(*g, "gpu", false, {"relu"}, 1e-6),
                                          supportOps(*g, "cpu", true, {"relu"}, 1e-4), referenceBackend(*g, 1e-2)};
  PartitionOptions options;
  options.policy = PlacementPolicy::Cost;
  PartitionPlan plan = partitionOk(*g, backends, options);
  EXPECT_EQ(placementOf(plan, node(*g, "a")).backend, "cpu");
  options.transferCostPerByte = 0;
  plan = partitionOk(*g, backends, options);
  EXPECT_EQ(placementOf(plan, node(*g, "a")).backend, "gpu");
}

TEST(Partitioner, PinsByOpAndNode) {
  auto g = parse(R"(
graph @pins(%x: f32[4]) {
  %a = relu(%x) : f32[4]
  %b = relu(%a) : f32[4] @second
  %c = tanh(%b) : f32[4]
  return %c
}
)");
  std::vector<BackendCapability> backends{supportOps(*g, "cpu", true, {"relu", "tanh"}), referenceBackend(*g)};
  PartitionOptions options;
  options.pins = {PinRule{"relu", "", "reference"}, PinRule{"", "second", "cpu"}};
  PartitionPlan plan = partitionOk(*g, backends, options);
  EXPECT_EQ(placementOf(plan, node(*g, "a")).backend, "reference");
  EXPECT_EQ(placementOf(plan, node(*g, "a")).reason, "pinned by op 'relu'");
  EXPECT_EQ(placementOf(plan, node(*g, "a")).declined[0].second, "supported, but the node is pinned to reference");
  EXPECT_EQ(placementOf(plan, node(*g, "b")).backend, "cpu");  // the node pin beats the op pin
  EXPECT_EQ(placementOf(plan, node(*g, "b")).reason, "pinned by node 'second'");
  EXPECT_EQ(placementOf(plan, node(*g, "c")).backend, "cpu");
  ASSERT_EQ(plan.regions.size(), 2u);
  EXPECT_EQ(regionNodes(plan.regions[1]), (std::vector<std::string>{"b", "c"}));
}

TEST(Partitioner, BadPins) {
  auto g = parse(kChain);
  std::vector<BackendCapability> backends{supportOps(*g, "gpu", false, {"add", "matmul"}), referenceBackend(*g)};
  PartitionOptions options;
  options.pins = {PinRule{"tanh", "", "gpu"}};
  auto plan = partition(*g, backends, options);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("pin op 'tanh' -> gpu"), std::string::npos) << plan.status().message();
  EXPECT_NE(plan.status().message().find("'tanh' node %d"), std::string::npos) << plan.status().message();
  EXPECT_NE(plan.status().message().find("no kernel for 'tanh'"), std::string::npos) << plan.status().message();

  options.pins = {PinRule{"tanh", "", "vulkan"}};
  plan = partition(*g, backends, options);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("no backend named 'vulkan'"), std::string::npos) << plan.status().message();

  options.pins = {PinRule{"", "nosuchnode", "gpu"}};
  plan = partition(*g, backends, options);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("no node has that name"), std::string::npos) << plan.status().message();

  options.pins = {PinRule{"tanh", "d", "gpu"}};
  plan = partition(*g, backends, options);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("exactly one of op and node"), std::string::npos);
}

TEST(Partitioner, MinRegionNodesGivesBack) {
  auto g = parse(R"(
graph @m(%x: f32[4]) {
  %k = constant() {value = tensor<f32[4]>[1.0, 2.0, 3.0, 4.0]} : f32[4]
  %a = add(%x, %k) : f32[4]
  %b = relu(%a) : f32[4]
  %c = tanh(%b) : f32[4]
  %d = neg(%c) : f32[4]
  return %d
}
)");
  std::vector<BackendCapability> backends{supportOps(*g, "cpu", true, {"constant", "add", "tanh", "neg"}),
                                          referenceBackend(*g)};
  PartitionOptions options;
  options.minRegionNodes = 2;
  PartitionPlan plan = partitionOk(*g, backends, options);
  // {a} has one compute node (the constant is in no region): given back; {c, d} stays.
  ASSERT_EQ(plan.regions.size(), 2u);
  EXPECT_EQ(plan.regions[0].backend, "reference");
  EXPECT_EQ(regionNodes(plan.regions[0]), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(plan.regions[0].constants, (std::vector<const Value*>{node(*g, "k")->output(0)}));
  EXPECT_EQ(plan.regions[1].backend, "cpu");
  EXPECT_EQ(regionNodes(plan.regions[1]), (std::vector<std::string>{"c", "d"}));
  const NodePlacement& a = placementOf(plan, node(*g, "a"));
  EXPECT_EQ(a.reason, "region 0 on cpu has 1 compute node, below min_region_nodes 2: given back to reference");
  EXPECT_EQ(a.declined[0], (std::pair<std::string, std::string>{"cpu", "placed here first, but its region was given back"}));

  options.minRegionNodes = 3;
  plan = partitionOk(*g, backends, options);
  ASSERT_EQ(plan.regions.size(), 1u);
  EXPECT_EQ(plan.regions[0].backend, "reference");

  options.fallback = "";  // no fallback: nothing is given back
  plan = partitionOk(*g, backends, options);
  EXPECT_EQ(plan.regions.size(), 3u);
}

TEST(Partitioner, TransferOutweighsGainGivesBack) {
  auto g = parse(R"(
graph @t(%x: f32[1024, 1024]) {
  %a = relu(%x) : f32[1024, 1024]
  %b = tanh(%a) : f32[1024, 1024]
  return %b
}
)");
  // 4 MiB in and 4 MiB out at 1 ns/byte = 8.4 ms of transfers.
  std::vector<BackendCapability> backends{supportOps(*g, "gpu", false, {"relu", "tanh"}, 1e-5),
                                          referenceBackend(*g, 1e-3)};
  PartitionPlan plan = partitionOk(*g, backends);
  ASSERT_EQ(plan.regions.size(), 1u);
  EXPECT_EQ(plan.regions[0].backend, "reference");
  EXPECT_TRUE(plan.transfers.empty());
  const std::string& reason = placementOf(plan, node(*g, "a")).reason;
  EXPECT_NE(reason.find("moving 8388608 bytes in and out of region 0 on gpu"), std::string::npos) << reason;
  EXPECT_NE(reason.find("given back to reference"), std::string::npos) << reason;

  // No cost estimates at all (every cost 0): nothing to weigh, the gpu keeps it.
  backends = {supportOps(*g, "gpu", false, {"relu", "tanh"}, 0), referenceBackend(*g, 0)};
  plan = partitionOk(*g, backends);
  ASSERT_EQ(plan.regions.size(), 1u);
  EXPECT_EQ(plan.regions[0].backend, "gpu");

  backends[1] = referenceBackend(*g, 1.0);  // now the gpu gains 2 s
  plan = partitionOk(*g, backends);
  ASSERT_EQ(plan.regions.size(), 1u);
  EXPECT_EQ(plan.regions[0].backend, "gpu");
  EXPECT_EQ(plan.transfers.size(), 2u);
}

const char* kIf = R"(
graph @branch(%x: f32[4], %c: bool) {
  %a = relu(%x) : f32[4]
  %z = if(%c) : f32[4] {
  ^then:
    %r = tanh(%a) : f32[4]
    yield %r
  ^else:
    %n = neg(%x) : f32[4]
    yield %n
  }
  %o = add(%z, %a) : f32[4]
  return %o
}
)";

TEST(Partitioner, IfTakenWhole) {
  auto g = parse(kIf);
  std::vector<BackendCapability> backends{supportOps(*g, "gpu", false, {"relu", "if", "tanh", "neg", "add"}, 0),
                                          referenceBackend(*g, 1)};
  PartitionPlan plan = partitionOk(*g, backends);
  ASSERT_EQ(plan.regions.size(), 1u);
  EXPECT_EQ(regionNodes(plan.regions[0]), (std::vector<std::string>{"a", "z", "o"}));
  const NodePlacement& ifNode = placementOf(plan, node(*g, "z"));
  EXPECT_EQ(ifNode.backend, "gpu");
  EXPECT_NE(ifNode.reason.find("the whole 'if' (the node and its 2 nested nodes)"), std::string::npos)
      << ifNode.reason;
  const NodePlacement& r = placementOf(plan, node(*g, "r"));
  EXPECT_EQ(r.backend, "gpu");
  EXPECT_EQ(r.region, 0);
  EXPECT_NE(r.reason.find("which runs whole on gpu"), std::string::npos) << r.reason;
  EXPECT_EQ(plan.regions[0].inputs, (std::vector<const Value*>{g->findValue("x"), g->findValue("c")}));
}

TEST(Partitioner, IfRecursesIntoBlocks) {
  auto g = parse(kIf);
  // The gpu cannot run the `if` itself (nor `neg`), so the host runs it and
  // the blocks are partitioned: then -> gpu, else -> reference.
  std::vector<BackendCapability> backends{supportOps(*g, "gpu", false, {"relu", "tanh", "add"}, 0),
                                          referenceBackend(*g, 1)};
  PartitionPlan plan = partitionOk(*g, backends);
  ASSERT_EQ(plan.top.steps.size(), 3u);
  EXPECT_EQ(plan.top.steps[0].kind, Step::Kind::Region);
  ASSERT_EQ(plan.top.steps[1].kind, Step::Kind::ControlFlow);
  EXPECT_EQ(plan.top.steps[1].node, node(*g, "z"));
  ASSERT_EQ(plan.top.steps[1].blocks.size(), 2u);
  const BlockPlan& thenPlan = plan.top.steps[1].blocks[0];
  ASSERT_EQ(thenPlan.steps.size(), 1u);
  const Region& thenRegion = plan.regions[static_cast<size_t>(thenPlan.steps[0].region)];
  EXPECT_EQ(thenRegion.backend, "gpu");
  EXPECT_EQ(thenRegion.outputs, (std::vector<const Value*>{g->findValue("r")}));  // the yield
  EXPECT_EQ(plan.regions[static_cast<size_t>(plan.top.steps[1].blocks[1].steps[0].region)].backend, "reference");
  EXPECT_EQ(placementOf(plan, node(*g, "z")).backend, "host");
  EXPECT_EQ(placementOf(plan, node(*g, "z")).region, -1);
  EXPECT_NE(placementOf(plan, node(*g, "z")).declined[0].second.find("no kernel for 'if'"), std::string::npos);
  // Region ids: a's region, then the blocks' regions, then o's.
  EXPECT_EQ(plan.top.steps[0].region, 0);
  EXPECT_EQ(plan.top.steps[2].region, 3);
  // %a (gpu) is captured by the host-run `if`: copied to the host for it; inside
  // the then block it counts as a host value and goes to the gpu again.
  bool aToHost = false, aIntoThen = false, rOut = false;
  for (const TransferStep& t : plan.transfers) {
    aToHost |= t.value == g->findValue("a") && t.toBackend == "host" && t.toNode == node(*g, "z");
    aIntoThen |= t.value == g->findValue("a") && t.toBackend == "gpu" && t.block == thenPlan.block;
    rOut |= t.value == g->findValue("r") && t.toBackend == "host" && t.block == thenPlan.block;
  }
  EXPECT_TRUE(aToHost);
  EXPECT_TRUE(aIntoThen);
  EXPECT_TRUE(rOut);
}

TEST(Partitioner, LoopWholeAndRecursion) {
  auto g = parse(R"(
graph @rnn(%x: f32[4, 4], %w: f32[4, 4], %steps: i64, %go: bool) {
  %h = loop(%steps, %go, %x) : f32[4, 4] {
  ^body(%i: i64, %cc: bool, %s: f32[4, 4]):
    %m = matmul(%s, %w) : f32[4, 4]
    %t = tanh(%m) : f32[4, 4]
    yield %cc, %t
  }
  %y = relu(%h) : f32[4, 4]
  return %y
}
)");
  std::vector<BackendCapability> backends{supportOps(*g, "gpu", false, {"loop", "matmul", "tanh", "relu"}, 0),
                                          referenceBackend(*g, 1)};
  PartitionPlan whole = partitionOk(*g, backends);
  ASSERT_EQ(whole.regions.size(), 1u);
  EXPECT_EQ(regionNodes(whole.regions[0]), (std::vector<std::string>{"h", "y"}));
  EXPECT_EQ(placementOf(whole, node(*g, "m")).region, 0);

  backends[0] = supportOps(*g, "gpu", false, {"matmul", "tanh", "relu"}, 0);
  PartitionPlan split = partitionOk(*g, backends);
  ASSERT_EQ(split.top.steps.size(), 2u);
  ASSERT_EQ(split.top.steps[0].kind, Step::Kind::ControlFlow);
  const BlockPlan& body = split.top.steps[0].blocks[0];
  ASSERT_EQ(body.steps.size(), 1u);
  const Region& bodyRegion = split.regions[static_cast<size_t>(body.steps[0].region)];
  EXPECT_EQ(bodyRegion.backend, "gpu");
  EXPECT_EQ(regionNodes(bodyRegion), (std::vector<std::string>{"m", "t"}));
  EXPECT_EQ(bodyRegion.inputs, (std::vector<const Value*>{g->findValue("s"), g->findValue("w")}));
  EXPECT_EQ(bodyRegion.outputs, (std::vector<const Value*>{g->findValue("t")}));

  // Only the fallback could take it whole, and nothing inside runs elsewhere:
  // the fallback runs it whole rather than the host stepping through it.
  backends[0] = supportOps(*g, "gpu", false, {"relu"}, 0);
  PartitionPlan fallbackWhole = partitionOk(*g, backends);
  EXPECT_EQ(placementOf(fallbackWhole, node(*g, "h")).backend, "reference");
  EXPECT_NE(placementOf(fallbackWhole, node(*g, "h")).reason.find("the fallback runs it whole"), std::string::npos);
}

TEST(Partitioner, NoFallbackListsEveryUnsupportedNode) {
  auto g = parse(kChain);
  std::vector<BackendCapability> backends{supportOps(*g, "gpu", false, {"add", "matmul"}),
                                          makeBackend(*g, "cpu", true, [](const Node* n) {
                                            return NodeSupport{n->op() == "add", "only add", 1};
                                          })};
  backends[1].nodes.erase(node(*g, "d"));  // "not asked"
  PartitionOptions options;
  options.fallback = "";
  auto plan = partition(*g, backends, options);
  ASSERT_FALSE(plan.ok());
  const std::string m = plan.status().message();
  EXPECT_NE(m.find("2 nodes have no backend (no fallback)"), std::string::npos) << m;
  EXPECT_NE(m.find("'relu' node %b: gpu: no kernel for 'relu'; cpu: only add"), std::string::npos) << m;
  EXPECT_NE(m.find("'tanh' node %d: gpu: no kernel for 'tanh'; cpu: not asked"), std::string::npos) << m;
  EXPECT_EQ(m.find("'add' node"), std::string::npos) << m;

  options.fallback = "reference";  // named, but not in the list
  plan = partition(*g, backends, options);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("fallback backend 'reference' is not among the backends (gpu, cpu)"),
            std::string::npos);
}

TEST(Partitioner, Deterministic) {
  auto g1 = parse(kIf);
  auto g2 = parse(kIf);
  auto backendsFor = [](const Graph& g) {
    return std::vector<BackendCapability>{supportOps(g, "gpu", false, {"relu", "tanh", "add"}, 0),
                                          supportOps(g, "cpu", true, {"neg", "add"}, 0.5), referenceBackend(g, 1)};
  };
  auto b1 = backendsFor(*g1);
  auto b2 = backendsFor(*g2);
  const std::string first = partitionOk(*g1, b1).toJson();
  EXPECT_EQ(first, partitionOk(*g1, b1).toJson());
  EXPECT_EQ(first, partitionOk(*g2, b2).toJson());  // another copy of the graph, other pointers
}

// Issue #13 item 1: constants and weights are data, never nodes a backend must
// claim. A device backend that supports only the compute ops (not 'constant',
// not 'weight') takes the whole graph in one region; the constants are listed
// per region, and are neither its inputs nor transfers (the runtime gives their
// data at compile), also in the printed plan.
TEST(Partitioner, ConstantsAreNotPlacedNorTransferred) {
  auto g = parse(R"(
graph @m(%x: f32[2, 4]) {
  %w = constant() {value = tensor<f32[4, 3]>[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]} : f32[4, 3]
  %b = constant() {value = tensor<f32[3]>[1.0, 2.0, 3.0]} : f32[3]
  %h = matmul(%x, %w) : f32[2, 3]
  %y = add(%h, %b) : f32[2, 3]
  %z = relu(%y) : f32[2, 3]
  return %z, %b
}
)");
  std::vector<BackendCapability> backends{supportOps(*g, "gpu", false, {"matmul", "add", "relu"}),
                                          referenceBackend(*g)};
  for (PlacementPolicy policy : {PlacementPolicy::Priority, PlacementPolicy::Cost}) {
    PartitionOptions options;
    options.policy = policy;
    PartitionPlan plan = partitionOk(*g, backends, options);
    ASSERT_EQ(plan.regions.size(), 1u);
    const Region& r = plan.regions[0];
    EXPECT_EQ(r.backend, "gpu");
    EXPECT_EQ(regionNodes(r), (std::vector<std::string>{"h", "y", "z"}));
    EXPECT_EQ(r.inputs, (std::vector<const Value*>{g->inputs()[0]}));
    EXPECT_EQ(r.outputs, (std::vector<const Value*>{node(*g, "z")->output(0)}));
    EXPECT_EQ(r.constants, (std::vector<const Value*>{node(*g, "w")->output(0), node(*g, "b")->output(0)}));
    // x to the device, z back; the graph output %b is host data already.
    ASSERT_EQ(plan.transfers.size(), 2u);
    EXPECT_EQ(plan.transfers[0].value->name(), "x");
    EXPECT_EQ(plan.transfers[1].value->name(), "z");
    const NodePlacement& w = placementOf(plan, node(*g, "w"));
    EXPECT_EQ(w.backend, "host");
    EXPECT_EQ(w.region, -1);
    EXPECT_TRUE(w.declined.empty());

    const std::string table = plan.toTable(true);
    EXPECT_NE(table.find("2 (60 B)"), std::string::npos) << table;
    EXPECT_NE(table.find("transfers (2)"), std::string::npos) << table;
    EXPECT_EQ(table.find("not gpu: no kernel for 'constant'"), std::string::npos) << table;
    const nlohmann::json j = nlohmann::json::parse(plan.toJson());
    EXPECT_EQ(j["regions"][0]["constants"]["count"], 2);
    EXPECT_EQ(j["regions"][0]["constants"]["bytes"], 60);
    EXPECT_EQ(j["regions"][0]["inputs"], nlohmann::json::array({"x"}));
    EXPECT_EQ(j["transfers"].size(), 2u);
  }
}

TEST(Partitioner, PrintedForms) {
  auto g = parse(kIf);
  std::vector<BackendCapability> backends{supportOps(*g, "gpu", false, {"relu", "tanh", "add"}, 0),
                                          referenceBackend(*g, 1)};
  PartitionPlan plan = partitionOk(*g, backends);

  const std::string table = plan.toTable();
  EXPECT_NE(table.find("regions (4)"), std::string::npos) << table;
  EXPECT_NE(table.find("then of 'if' node %z"), std::string::npos) << table;
  EXPECT_NE(table.find("transfers ("), std::string::npos) << table;
  EXPECT_NE(table.find("host runs 'if' node %z"), std::string::npos) << table;
  EXPECT_EQ(table.find("not gpu"), std::string::npos);
  const std::string explained = plan.toTable(true);
  EXPECT_NE(explained.find("'neg' node %n -> reference (region 2): first backend in priority order that supports it"),
            std::string::npos)
      << explained;
  EXPECT_NE(explained.find("not gpu: no kernel for 'neg'"), std::string::npos) << explained;

  const nlohmann::json j = nlohmann::json::parse(plan.toJson());
  ASSERT_EQ(j["regions"].size(), plan.regions.size());
  EXPECT_EQ(j["regions"][0]["backend"], "gpu");
  EXPECT_EQ(j["regions"][0]["nodes"][0], "'relu' node %a");
  EXPECT_EQ(j["transfers"].size(), plan.transfers.size());
  EXPECT_EQ(j["placements"].size(), g->numNodes());
  EXPECT_EQ(j["steps"]["steps"][1]["kind"], "control_flow");
  EXPECT_EQ(j["steps"]["steps"][1]["blocks"].size(), 2u);

  const std::string dot = plan.toDot();
  EXPECT_EQ(dot.rfind("digraph partition {", 0), 0u) << dot;
  for (const char* needle : {"subgraph cluster_r0", "region 0: gpu", "region 2: reference", "shape=diamond",
                             "host -> gpu", "color=red", "\"in:x\""})
    EXPECT_NE(dot.find(needle), std::string::npos) << needle << "\n" << dot;
}

}  // namespace
}  // namespace sy
