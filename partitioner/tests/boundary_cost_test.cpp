// Boundary cost (Note [Boundary cost] in partitioner.cpp): a region whose
// call and crossings cost more than it saves joins its neighbour's backend,
// in both placement policies; PartitionOptions::boundaryCost turns it off.
#include <gtest/gtest.h>

#include <set>

#include "plan_checks.h"
#include "switchyard/partitioner.h"
#include "switchyard/text.h"
#include "switchyard/verifier.h"

namespace sy {
namespace {

using testing::checkPlan;
using testing::makeBackend;
using testing::referenceBackend;

std::unique_ptr<Graph> parse(const std::string& text) {
  auto g = parseGraph(text);
  EXPECT_TRUE(g.ok()) << g.status().toString();
  if (!g.ok()) return std::make_unique<Graph>();
  Status s = verify(**g);
  EXPECT_TRUE(s.ok()) << s.toString();
  return std::move(*g);
}

// The trial's MLP (issue #13, item 8): three layers and a softmax. A backend
// that takes matmul and add but not relu or softmax, listed before one that
// takes everything, cuts it into six alternating regions.
const char* kMlp = R"(
graph @mlp(%x: f32[1, 64], %w1: f32[64, 64], %b1: f32[64], %w2: f32[64, 64], %b2: f32[64], %w3: f32[64, 10], %b3: f32[10]) {
  %m1 = matmul(%x, %w1) : f32[1, 64]
  %a1 = add(%m1, %b1) : f32[1, 64]
  %r1 = relu(%a1) : f32[1, 64]
  %m2 = matmul(%r1, %w2) : f32[1, 64]
  %a2 = add(%m2, %b2) : f32[1, 64]
  %r2 = relu(%a2) : f32[1, 64]
  %m3 = matmul(%r2, %w3) : f32[1, 10]
  %a3 = add(%m3, %b3) : f32[1, 10]
  %p = softmax(%a3) {axis = -1} : f32[1, 10]
  return %p
}
)";

/// Supports `ops` (all ops when empty) at `cost` seconds per node.
BackendCapability backend(const Graph& g, const std::string& name, bool hostVisible, std::set<std::string> ops,
                          double cost) {
  return makeBackend(g, name, hostVisible, [=](const Node* n) {
    if (ops.empty() || ops.count(n->op())) return NodeSupport{true, "", cost};
    return NodeSupport{false, "no kernel for '" + n->op() + "'", 0};
  });
}

PartitionPlan partitionOk(const Graph& g, const std::vector<BackendCapability>& backends,
                          const PartitionOptions& options) {
  auto plan = partition(g, backends, options);
  EXPECT_TRUE(plan.ok()) << plan.status().toString();
  if (!plan.ok()) return {};
  checkPlan(g, backends, *plan);
  return std::move(*plan);
}

std::string backendsOf(const PartitionPlan& plan) {
  std::string out;
  for (const Region& r : plan.regions) out += (out.empty() ? "" : " ") + r.backend;
  return out;
}

const NodePlacement& placementOf(const PartitionPlan& plan, const Graph& g, const std::string& output) {
  const Node* n = g.findValue(output)->definingNode();
  for (const NodePlacement& p : plan.placements)
    if (p.node == n) return p;
  static NodePlacement none;
  ADD_FAILURE() << "no placement for %" << output;
  return none;
}

TEST(BoundaryCost, PriorityMlpBecomesOneRegion) {
  auto g = parse(kMlp);
  // "blas" is first and a little faster on what it takes; "cpu" takes everything.
  std::vector<BackendCapability> backends{backend(*g, "blas", true, {"matmul", "add"}, 1e-6),
                                          backend(*g, "cpu", true, {}, 1.2e-6), referenceBackend(*g, 1e-4)};
  PartitionOptions options;
  options.boundaryCost = false;
  PartitionPlan split = partitionOk(*g, backends, options);
  EXPECT_EQ(backendsOf(split), "blas cpu blas cpu blas cpu");

  options.boundaryCost = true;
  PartitionPlan merged = partitionOk(*g, backends, options);
  EXPECT_EQ(backendsOf(merged), "cpu");
  ASSERT_EQ(merged.regions.size(), 1u);
  EXPECT_EQ(merged.regions[0].nodes.size(), 9u);
  const NodePlacement& m1 = placementOf(merged, *g, "m1");
  EXPECT_NE(m1.reason.find("on blas (2 compute nodes) joins its neighbour on cpu"), std::string::npos) << m1.reason;
  EXPECT_NE(m1.reason.find("costs more than it saves over cpu (4e-07 s)"), std::string::npos) << m1.reason;
  ASSERT_FALSE(m1.declined.empty());
  EXPECT_EQ(m1.declined[0], (std::pair<std::string, std::string>{
                                "blas", "placed here first, but crossing to it costs more than it saves (boundary cost)"}));
  // relu stayed where priority put it.
  EXPECT_EQ(placementOf(merged, *g, "r1").reason, "first backend in priority order that supports it");
}

TEST(BoundaryCost, PriorityKeepsRegionsThatPayForTheirBoundary) {
  auto g = parse(kMlp);
  // blas saves 100 us per node: far more than a region call.
  std::vector<BackendCapability> backends{backend(*g, "blas", true, {"matmul", "add"}, 1e-7),
                                          backend(*g, "cpu", true, {}, 1e-4), referenceBackend(*g, 1e-3)};
  PartitionPlan plan = partitionOk(*g, backends, PartitionOptions{});
  EXPECT_EQ(backendsOf(plan), "blas cpu blas cpu blas cpu");
}

TEST(BoundaryCost, CostPolicyMlpBecomesOneRegion) {
  auto g = parse(kMlp);
  // Per node, "fast" is the cheapest for matmul and add, so the greedy
  // placement alternates; the boundary makes one region of "all".
  std::vector<BackendCapability> backends{backend(*g, "all", true, {}, 1.5e-6),
                                          backend(*g, "fast", true, {"matmul", "add"}, 1e-6),
                                          referenceBackend(*g, 1e-4)};
  PartitionOptions options;
  options.policy = PlacementPolicy::Cost;
  options.boundaryCost = false;
  PartitionPlan split = partitionOk(*g, backends, options);
  EXPECT_EQ(backendsOf(split), "fast all fast all fast all");

  options.boundaryCost = true;
  PartitionPlan merged = partitionOk(*g, backends, options);
  EXPECT_EQ(backendsOf(merged), "all");
  const NodePlacement& a2 = placementOf(merged, *g, "a2");
  EXPECT_NE(a2.reason.find("joins its neighbours on all"), std::string::npos) << a2.reason;

  // Without the per-call cost, and with host memory on both sides, nothing
  // pays for the merge: the cheaper per-node placement stays.
  options.regionCallCost = 0;
  EXPECT_EQ(backendsOf(partitionOk(*g, backends, options)), "fast all fast all fast all");
}

TEST(BoundaryCost, BytesMovedCountOnADevice) {
  // A device that is not host visible saves a little per node, but every
  // crossing moves a 1 MiB activation: with no per-call cost at all, the bytes
  // alone keep its lone node out of the host-memory backend's chain.
  auto g = parse(R"(
graph @chain(%x: f32[512, 512]) {
  %a = relu(%x) : f32[512, 512]
  %b = tanh(%a) : f32[512, 512]
  %c = relu(%b) : f32[512, 512]
  return %c
}
)");
  std::vector<BackendCapability> backends{backend(*g, "gpu", false, {"tanh"}, 1e-4),
                                          backend(*g, "cpu", true, {}, 2e-4), referenceBackend(*g, 1e-2)};
  PartitionOptions options;
  options.regionCallCost = 0;
  options.boundaryCost = false;
  EXPECT_EQ(backendsOf(partitionOk(*g, backends, options)), "cpu gpu cpu");
  options.boundaryCost = true;
  PartitionPlan plan = partitionOk(*g, backends, options);
  EXPECT_EQ(backendsOf(plan), "cpu");
  EXPECT_TRUE(plan.transfers.empty());
  EXPECT_NE(placementOf(plan, *g, "b").reason.find("2097152 bytes moved"), std::string::npos)
      << placementOf(plan, *g, "b").reason;
  // 1 ns per byte is the default; make moving free and the device keeps it.
  options.transferCostPerByte = 0;
  EXPECT_EQ(backendsOf(partitionOk(*g, backends, options)), "cpu gpu cpu");
}

TEST(BoundaryCost, NeverMovesPinnedNodesNorToTheFallback) {
  auto g = parse(kMlp);
  std::vector<BackendCapability> backends{backend(*g, "blas", true, {"matmul", "add"}, 1e-6),
                                          backend(*g, "cpu", true, {}, 1.2e-6), referenceBackend(*g, 1e-4)};
  PartitionOptions options;
  options.pins = {PinRule{"matmul", "", "blas"}};
  PartitionPlan plan = partitionOk(*g, backends, options);
  for (const char* v : {"m1", "m2", "m3"}) EXPECT_EQ(placementOf(plan, *g, v).backend, "blas") << v;

  // Only the fallback takes relu and softmax: blas keeps its regions (giving
  // work back to the fallback is the give-back rule's business).
  backends = {backend(*g, "blas", true, {"matmul", "add"}, 1e-6), referenceBackend(*g, 1.2e-6)};
  EXPECT_EQ(backendsOf(partitionOk(*g, backends, PartitionOptions{})), "blas reference blas reference blas reference");
}

TEST(BoundaryCost, NoEstimatesNothingToWeigh) {
  auto g = parse(kMlp);
  std::vector<BackendCapability> backends{backend(*g, "blas", true, {"matmul", "add"}, 0),
                                          backend(*g, "cpu", true, {}, 0), referenceBackend(*g, 0)};
  EXPECT_EQ(backendsOf(partitionOk(*g, backends, PartitionOptions{})), "blas cpu blas cpu blas cpu");
}

TEST(BoundaryCost, BadRegionCallCost) {
  auto g = parse(kMlp);
  std::vector<BackendCapability> backends{referenceBackend(*g)};
  PartitionOptions options;
  options.regionCallCost = -1;
  auto plan = partition(*g, backends, options);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("region call cost must be a number of seconds >= 0, got -1"),
            std::string::npos)
      << plan.status().message();
}

}  // namespace
}  // namespace sy
