// Property test: random graphs (DAGs with fan-in and fan-out, shape ops, and
// `if`/`loop` nodes that capture outer values) under random capability sets,
// policies, thresholds and pins. Every plan must satisfy checkPlan's
// invariants: each node placed once, regions on one backend, steps in a valid
// topological order (so the region graph is acyclic), exact region inputs and
// outputs, and transfers where memories differ.
#include <gtest/gtest.h>

#include <random>

#include "plan_checks.h"
#include "switchyard/builder.h"
#include "switchyard/partitioner.h"
#include "switchyard/text.h"

namespace sy {
namespace {

constexpr int kGraphs = 300;

class RandomGraph {
 public:
  explicit RandomGraph(uint32_t seed) : rng_(seed) {}

  std::unique_ptr<Graph> build() {
    const Type square = Type::tensor(DType::F32, {4, 4});
    const int numInputs = 1 + pick(3);
    for (int i = 0; i < numInputs; ++i) pool_.push_back(b_.input("x" + std::to_string(i), square));
    cond_ = b_.input("cond", Type::scalar(DType::Bool));
    trips_ = b_.input("trips", Type::scalar(DType::I64));
    const int numNodes = 3 + pick(40);
    for (int i = 0; i < numNodes; ++i) addRandom(0);
    // Outputs: the last value and a few random ones.
    b_.output(pool_.back());
    for (int i = pick(3); i > 0; --i) b_.output(any());
    auto g = b_.finish();
    EXPECT_TRUE(g.ok()) << g.status().toString();
    return g.ok() ? std::move(*g) : nullptr;
  }

 private:
  int pick(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)); }
  /// A random value of the pool; recent values are likelier (long chains).
  Value* any() {
    const int n = static_cast<int>(pool_.size());
    if (pick(3) == 0) return pool_[static_cast<size_t>(pick(n))];
    return pool_[static_cast<size_t>(std::max(0, n - 1 - pick(4)))];
  }

  void addRandom(int depth) {
    static const char* kUnary[] = {"relu", "tanh", "neg", "exp", "sigmoid"};
    static const char* kBinary[] = {"add", "mul", "sub", "maximum"};
    const int kind = pick(depth < 2 ? 10 : 8);
    switch (kind) {
      case 0:
      case 1:
      case 2: pool_.push_back(b_.op(kUnary[pick(5)], {any()})); break;
      case 3:
      case 4: pool_.push_back(b_.op(kBinary[pick(4)], {any(), any()})); break;
      case 5: pool_.push_back(b_.op("matmul", {any(), any()})); break;
      case 6: {  // reshape there and back
        Value* flat = b_.op("reshape", {any(), b_.constant(*Tensor::fromInts(DType::I64, {2}, {2, 8}))});
        pool_.push_back(b_.op("reshape", {flat, b_.constant(*Tensor::fromInts(DType::I64, {2}, {4, 4}))}));
        break;
      }
      case 7: {  // concat then split: fan-in then fan-out
        Value* joined = b_.op("concat", {any(), any()}, {{"axis", Attribute(int64_t{0})}});
        for (Value* v : b_.ops("split", {joined}, {{"axis", Attribute(int64_t{0})}}, 2)) pool_.push_back(v);
        break;
      }
      case 8: {  // if: both blocks compute from captured values
        Node* n = b_.beginIf(cond_);
        for (int blk = 0; blk < 2; ++blk) {
          b_.enter(n->block(static_cast<size_t>(blk)));
          const size_t mark = pool_.size();
          for (int i = pick(3); i >= 0; --i) addRandom(depth + 1);
          Value* result = pool_.back();
          pool_.resize(mark);  // nested values are not visible outside
          b_.yield({pick(5) == 0 ? any() : result});
          b_.exit();
        }
        pool_.push_back(b_.endIf(n)[0]);
        break;
      }
      default: {  // loop carrying one value; the body captures outer values
        Node* n = b_.beginLoop(trips_, cond_, {any()});
        b_.enter(n->block(0));
        const size_t mark = pool_.size();
        pool_.push_back(n->block(0)->param(2));
        for (int i = pick(3); i >= 0; --i) addRandom(depth + 1);
        Value* result = pool_.back();
        pool_.resize(mark);
        b_.yield({n->block(0)->param(1), result});
        b_.exit();
        pool_.push_back(b_.endLoop(n)[0]);
        break;
      }
    }
  }

  std::mt19937 rng_;
  GraphBuilder b_{"random"};
  std::vector<Value*> pool_;
  Value* cond_ = nullptr;
  Value* trips_ = nullptr;
};

struct RandomSetup {
  std::vector<BackendCapability> backends;
  PartitionOptions options;
};

RandomSetup randomSetup(const Graph& g, uint32_t seed) {
  std::mt19937 rng(seed * 7919u + 1);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
  RandomSetup s;
  const int numDevices = 1 + pick(3);
  for (int d = 0; d < numDevices; ++d) {
    // Support by op kind (so regions form), with random exceptions per node.
    std::map<std::string, bool> byOp;
    const double scale = 1e-8 * (1 + pick(100));
    s.backends.push_back(testing::makeBackend(g, "dev" + std::to_string(d), pick(2) == 0, [&](const Node* n) {
      auto [it, inserted] = byOp.emplace(n->op(), pick(3) != 0);
      const bool yes = pick(10) == 0 ? !it->second : it->second;
      return yes ? NodeSupport{true, "", scale * (1 + pick(10))} : NodeSupport{false, "declined " + n->op(), 0};
    }));
    if (pick(8) == 0) s.backends.back().nodes.clear();  // answers nothing: "not asked"
  }
  s.backends.push_back(testing::referenceBackend(g, 1e-5));
  s.options.policy = pick(2) ? PlacementPolicy::Cost : PlacementPolicy::Priority;
  s.options.minRegionNodes = 1 + pick(3);
  const double perByte[] = {0, 1e-9, 1e-7};
  s.options.transferCostPerByte = perByte[pick(3)];
  if (pick(4) == 0) {
    static const char* kOps[] = {"relu", "add", "matmul", "split", "if", "loop"};
    s.options.pins.push_back(PinRule{kOps[pick(6)], "", "reference"});  // the reference supports everything
  }
  return s;
}

TEST(PartitionerProperty, RandomGraphsKeepEveryInvariant) {
  int withControlFlow = 0, hostControlFlow = 0, wholeControlFlow = 0, multiRegion = 0, transfers = 0;
  for (uint32_t seed = 1; seed <= kGraphs; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    auto g = RandomGraph(seed).build();
    ASSERT_NE(g, nullptr);
    RandomSetup setup = randomSetup(*g, seed);
    auto plan = partition(*g, setup.backends, setup.options);
    ASSERT_TRUE(plan.ok()) << plan.status().toString() << "\n" << printGraph(*g);
    testing::checkPlan(*g, setup.backends, *plan);
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << printGraph(*g) << "\n" << plan->toTable(true);
      return;
    }
    bool cf = false, host = false, whole = false;
    forEachNode(g->body(), [&](Node* n) { cf |= n->numBlocks() > 0; });
    for (const NodePlacement& p : plan->placements) {
      host |= p.backend == "host";
      whole |= p.node->numBlocks() > 0 && p.backend != "host";
    }
    wholeControlFlow += whole;
    withControlFlow += cf;
    hostControlFlow += host;
    multiRegion += plan->regions.size() > 1;
    transfers += !plan->transfers.empty();
    if (seed % 25 == 0) {
      // Deterministic: the same input gives the same plan, byte for byte.
      auto again = partition(*g, setup.backends, setup.options);
      ASSERT_TRUE(again.ok());
      EXPECT_EQ(plan->toJson(), again->toJson());
      EXPECT_FALSE(plan->toDot().empty());
    }
  }
  // The generator exercises what it is meant to.
  EXPECT_GT(withControlFlow, kGraphs / 4);
  EXPECT_GT(hostControlFlow, 10);
  EXPECT_GT(wholeControlFlow, 10);
  EXPECT_GT(multiRegion, kGraphs / 2);
  EXPECT_GT(transfers, kGraphs / 4);
  std::cout << withControlFlow << " graphs with control flow, " << hostControlFlow << " with host control flow, "
            << wholeControlFlow << " with control flow taken whole, "
            << multiRegion << " with several regions, " << transfers << " with transfers\n";
}

TEST(PartitionerProperty, NoFallbackEitherSucceedsOrNamesEveryUnsupportedNode) {
  for (uint32_t seed = 1; seed <= 100; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    auto g = RandomGraph(seed).build();
    ASSERT_NE(g, nullptr);
    RandomSetup setup = randomSetup(*g, seed);
    setup.backends.pop_back();  // no reference
    setup.options.fallback = "";
    setup.options.pins.clear();
    auto plan = partition(*g, setup.backends, setup.options);
    if (plan.ok()) {
      testing::checkPlan(*g, setup.backends, *plan);
      continue;
    }
    // Every node named is supported nowhere; every such plain node is named.
    forEachNode(g->body(), [&](Node* n) {
      if (n->numBlocks() > 0) return;
      const bool named = plan.status().message().find(n->describe() + ":") != std::string::npos;
      if (testing::isConstantNode(n)) {  // never asked, never placed: never named
        EXPECT_FALSE(named) << n->describe() << "\n" << plan.status().message();
        return;
      }
      bool anywhere = false;
      for (const auto& b : setup.backends) {
        auto it = b.nodes.find(n);
        anywhere |= it != b.nodes.end() && it->second.supported;
      }
      EXPECT_EQ(named, !anywhere) << n->describe() << "\n" << plan.status().message();
    });
  }
}

}  // namespace
}  // namespace sy
