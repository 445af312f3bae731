// Property test of the whole pipeline: random graphs (with control flow) and
// random capability sets (memdev claiming a random subset of ops, with random
// policies and thresholds). For each: every node is placed exactly once, the
// regions of each block form a valid step order, and the results equal the
// reference interpreter's.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "switchyard/builder.h"
#include "switchyard/engine.h"
#include "switchyard/interpreter.h"
#include "test_util.h"

namespace sy {
namespace {

const char* kUnary[] = {"relu", "neg", "exp", "tanh", "sigmoid", "abs"};
const char* kBinary[] = {"add", "sub", "mul", "maximum"};
const char* kMemdevOps[] = {"add", "sub", "mul", "relu", "neg", "exp", "tanh", "sigmoid", "matmul"};

/// Builds a random graph over f32[2, 3] values; `depth` limits nesting.
void randomBody(GraphBuilder& b, std::mt19937& rng, std::vector<Value*>& pool, int nodes, int depth) {
  auto pick = [&]() { return pool[std::uniform_int_distribution<size_t>(0, pool.size() - 1)(rng)]; };
  for (int i = 0; i < nodes; ++i) {
    const int kind = std::uniform_int_distribution<int>(0, 9)(rng);
    if (kind < 4) {
      pool.push_back(b.op(kUnary[rng() % 6], {pick()}));
    } else if (kind < 8) {
      pool.push_back(b.op(kBinary[rng() % 4], {pick(), pick()}));
    } else if (kind == 8) {
      // [2,3] x [3,3] -> [2,3], with a weight-like constant.
      std::vector<double> w(9);
      for (auto& v : w) v = std::uniform_real_distribution<double>(-0.5, 0.5)(rng);
      pool.push_back(b.op("matmul", {pick(), b.constant(testing::F({3, 3}, w))}));
    } else if (depth > 0) {
      // An if on the sign of a sum, both arms using captured values.
      Value* s = b.op("reduce_sum", {pick()}, {{"keepdims", int64_t{0}}});
      Value* zero = b.constant(Tensor::scalarF32(0));
      Value* cond = b.op("greater", {s, zero});
      Node* n = b.beginIf(cond);
      for (int arm = 0; arm < 2; ++arm) {
        b.enter(n->block(static_cast<size_t>(arm)));
        std::vector<Value*> inner = pool;
        randomBody(b, rng, inner, 3, depth - 1);
        b.yield({inner.back()});
        b.exit();
      }
      pool.push_back(b.endIf(n)[0]);
    }
  }
}

std::shared_ptr<const Graph> randomGraph(uint32_t seed) {
  std::mt19937 rng(seed);
  GraphBuilder b("random" + std::to_string(seed));
  std::vector<Value*> pool = {b.input("x", Type::tensor(DType::F32, {2, 3})), b.input("y", Type::tensor(DType::F32, {2, 3}))};
  randomBody(b, rng, pool, 6 + static_cast<int>(rng() % 10), 1);
  b.output(pool.back());
  b.output(pool[pool.size() / 2]);
  auto g = b.finish();
  EXPECT_TRUE(g.ok()) << g.status().toString();
  return g.ok() ? std::shared_ptr<const Graph>(std::move(*g)) : nullptr;
}

TEST(RuntimeProperty, RandomGraphsAndCapabilitiesMatchTheReference) {
  int checked = 0;
  for (uint32_t seed = 1; seed <= 60; ++seed) {
    std::mt19937 rng(seed * 7919);
    auto g = randomGraph(seed);
    ASSERT_NE(g, nullptr);
    std::string ops;
    for (const char* op : kMemdevOps)
      if (rng() % 2) ops += (ops.empty() ? "" : ",") + std::string(op);
    if (ops.empty()) ops = "add";
    Config c = defaultConfig();
    c.pluginPaths = {SY_TEST_PLUGIN_DIR};
    BackendConfig m;
    m.name = "memdev";
    m.options["ops"] = ops;
    c.backends = {m};
    c.partition.policy = rng() % 2 ? PartitionPolicy::Cost : PartitionPolicy::Priority;
    c.partition.minRegionNodes = 1 + static_cast<int64_t>(rng() % 3);
    auto engine = Engine::create(c);
    ASSERT_TRUE(engine.ok()) << engine.status().toString();
    auto model = (*engine)->compile(g);
    ASSERT_TRUE(model.ok()) << "seed " << seed << ": " << model.status().toString();
    const PartitionPlan& plan = (*model)->plan();

    // Every node placed exactly once.
    std::set<const Node*> all, placed;
    forEachNode(g->body(), [&](Node* n) { all.insert(n); });
    for (const NodePlacement& p : plan.placements) EXPECT_TRUE(placed.insert(p.node).second) << "seed " << seed;
    EXPECT_EQ(all, placed) << "seed " << seed;

    // Steps form a valid order: every region input is available when the region runs.
    std::function<void(const BlockPlan&, std::set<const Value*>)> checkOrder = [&](const BlockPlan& bp,
                                                                                  std::set<const Value*> avail) {
      for (const Value* p : bp.block->params()) avail.insert(p);
      for (const Step& s : bp.steps) {
        if (s.kind == Step::Kind::Region) {
          const Region& r = plan.regions[static_cast<size_t>(s.region)];
          for (const Value* v : r.inputs) {
            const bool inside = v->definingBlock() == bp.block;
            EXPECT_TRUE(!inside || avail.count(v)) << "seed " << seed << ": region " << r.id << " input %" << v->name()
                                                   << " is produced later";
          }
          for (const Node* n : r.nodes)
            for (const Value* o : n->outputs()) avail.insert(o);
        } else {
          for (const BlockPlan& inner : s.blocks) checkOrder(inner, avail);
          for (const Value* o : s.node->outputs()) avail.insert(o);
        }
      }
    };
    checkOrder(plan.top, {});

    std::vector<double> xv(6), yv(6);
    for (auto& v : xv) v = std::uniform_real_distribution<double>(-1, 1)(rng);
    for (auto& v : yv) v = std::uniform_real_distribution<double>(-1, 1)(rng);
    std::vector<Tensor> inputs = {testing::F({2, 3}, xv), testing::F({2, 3}, yv)};
    auto outs = (*model)->run(inputs);
    ASSERT_TRUE(outs.ok()) << "seed " << seed << ": " << outs.status().toString();
    auto interp = Interpreter::create(g);
    ASSERT_TRUE(interp.ok());
    auto ref = (*interp)->run(inputs);
    ASSERT_TRUE(ref.ok());
    ASSERT_EQ(outs->size(), ref->size());
    for (size_t i = 0; i < ref->size(); ++i)
      for (int64_t j = 0; j < (*ref)[i].numel(); ++j) {
        const double e = (*ref)[i].getDouble(j), a = (*outs)[i].getDouble(j);
        if (std::isnan(e) && std::isnan(a)) continue;
        ASSERT_NEAR(a, e, 1e-4 * (1 + std::fabs(e))) << "seed " << seed << " output " << i << " element " << j << "\n"
                                                      << plan.toTable(true);
      }
    ++checked;
  }
  EXPECT_EQ(checked, 60);
}

}  // namespace
}  // namespace sy
