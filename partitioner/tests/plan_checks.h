// Helpers shared by the partitioner tests: capability sets and the plan
// invariants every partition must satisfy.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "switchyard/partitioner.h"

namespace sy::testing {

/// A backend that answers `decide(node)` for every node of `graph` (nested too).
inline BackendCapability makeBackend(const Graph& graph, std::string name, bool hostVisible,
                                     const std::function<NodeSupport(const Node*)>& decide) {
  BackendCapability cap;
  cap.name = std::move(name);
  cap.hostVisible = hostVisible;
  forEachNode(graph.body(), [&](Node* n) { cap.nodes[n] = decide(n); });
  return cap;
}

/// Supports the nodes whose op is in `ops`, each at `cost`; declines the others
/// with the reason "no kernel for '<op>'".
inline BackendCapability supportOps(const Graph& graph, std::string name, bool hostVisible,
                                    const std::set<std::string>& ops, double cost = 1e-6) {
  return makeBackend(graph, std::move(name), hostVisible, [&](const Node* n) {
    if (ops.count(n->op())) return NodeSupport{true, "", cost};
    return NodeSupport{false, "no kernel for '" + n->op() + "'", 0};
  });
}

/// The reference backend: host visible, supports everything at `cost`.
inline BackendCapability referenceBackend(const Graph& graph, double cost = 1e-5) {
  return makeBackend(graph, "reference", true, [&](const Node*) { return NodeSupport{true, "", cost}; });
}

/// True when `v` is defined by `n` or anything nested in it.
inline bool definedWithin(const Value* v, const Node* n) {
  const Node* at = v->definingNode();
  if (!at) at = v->definingBlock()->owningNode();
  else if (at == n) return false;  // n's own outputs are not internal to n
  for (; at; at = at->owningBlock()->owningNode())
    if (at == n) return true;
  return false;
}

/// A `constant` or `weight` node: never placed in a region.
inline bool isConstantNode(const Node* n) { return n->op() == "constant" || n->op() == "weight"; }
/// A value made by a constant or weight node.
inline bool isConstantValue(const Value* v) { return v->definingNode() && isConstantNode(v->definingNode()); }

/// Values `n` uses (its inputs, and nested inputs and yields) that come from outside it.
inline std::vector<const Value*> externalUses(const Node* n) {
  std::vector<const Value*> out;
  std::function<void(const Node*)> visit = [&](const Node* m) {
    for (const Value* v : m->inputs())
      if (!definedWithin(v, n)) out.push_back(v);
    for (const Block* b : m->blocks()) {
      for (const Node* k : b->nodes()) visit(k);
      for (const Value* v : b->returns())
        if (!definedWithin(v, n)) out.push_back(v);
    }
  };
  visit(n);
  return out;
}

/// Checks every invariant of a plan; reports failures through gtest.
inline void checkPlan(const Graph& graph, const std::vector<BackendCapability>& backends, const PartitionPlan& plan) {
  // Placements: one per node, in forEachNode order.
  std::vector<const Node*> order;
  forEachNode(graph.body(), [&](Node* n) { order.push_back(n); });
  ASSERT_EQ(plan.placements.size(), order.size());
  std::unordered_map<const Node*, const NodePlacement*> placementOf;
  for (size_t i = 0; i < order.size(); ++i) {
    ASSERT_EQ(plan.placements[i].node, order[i]) << "placement " << i;
    placementOf[order[i]] = &plan.placements[i];
    EXPECT_FALSE(plan.placements[i].reason.empty()) << order[i]->describe();
  }
  std::map<std::string, bool> hostVisible{{"host", true}};
  for (const auto& b : backends) hostVisible[b.name] = b.hostVisible;

  // Regions: ids, backends, blocks.
  std::unordered_map<const Node*, int> covered;  // node -> times covered by a step
  for (size_t r = 0; r < plan.regions.size(); ++r) {
    const Region& region = plan.regions[r];
    EXPECT_EQ(region.id, static_cast<int>(r));
    EXPECT_FALSE(region.nodes.empty()) << "region " << r << " is empty";
    for (const Node* n : region.nodes) {
      EXPECT_FALSE(isConstantNode(n)) << n->describe() << " is a constant placed in region " << r;
      EXPECT_EQ(n->owningBlock(), region.block) << n->describe();
      std::function<void(const Node*)> mark = [&](const Node* m) {
        ++covered[m];
        EXPECT_EQ(placementOf[m]->backend, region.backend) << m->describe() << " in region " << r;
        EXPECT_EQ(placementOf[m]->region, region.id) << m->describe();
        for (const Block* b : m->blocks())
          for (const Node* k : b->nodes()) mark(k);
      };
      mark(n);
    }
  }

  // Steps: every node of every block exactly once; a valid topological order.
  std::unordered_map<const Node*, int> regionOfNode;
  for (const Region& region : plan.regions)
    for (const Node* n : region.nodes) regionOfNode[n] = region.id;
  int regionsSeen = 0;
  std::function<void(const BlockPlan&)> checkBlock = [&](const BlockPlan& bp) {
    ASSERT_NE(bp.block, nullptr);
    std::unordered_set<const Value*> available;  // values made by earlier steps of this block
    for (const Node* n : bp.block->nodes())  // and its constants, there from the start
      if (isConstantNode(n))
        for (const Value* v : n->outputs()) available.insert(v);
    std::set<const Node*> inSteps;
    auto isLocal = [&](const Value* v) {
      return v->definingNode() && v->definingNode()->owningBlock() == bp.block;
    };
    for (const Step& s : bp.steps) {
      if (s.kind == Step::Kind::Region) {
        ASSERT_GE(s.region, 0);
        ASSERT_LT(s.region, static_cast<int>(plan.regions.size()));
        ++regionsSeen;
        const Region& region = plan.regions[static_cast<size_t>(s.region)];
        EXPECT_EQ(region.block, bp.block);
        // Region inputs come from earlier steps or from outside the block.
        for (const Value* v : region.inputs)
          EXPECT_TRUE(!isLocal(v) || available.count(v))
              << "region " << region.id << " input %" << v->name() << " not produced by an earlier step";
        // Exact inputs and outputs.
        std::set<const Node*> members(region.nodes.begin(), region.nodes.end());
        std::vector<const Value*> expectInputs;
        std::set<const Value*> seenIn;
        std::unordered_set<const Value*> madeInside;
        for (const Node* n : region.nodes)
          for (const Value* v : n->outputs()) madeInside.insert(v);
        std::set<const Value*> expectConstants;
        for (const Node* n : region.nodes) {
          for (const Value* v : externalUses(n)) {
            if (isConstantValue(v)) {
              expectConstants.insert(v);
              continue;
            }
            EXPECT_TRUE(!isLocal(v) || available.count(v) || madeInside.count(v))
                << n->describe() << " uses %" << v->name() << " before it is made";
            if (!madeInside.count(v) && seenIn.insert(v).second) expectInputs.push_back(v);
          }
          for (const Block* b : n->blocks())
            forEachNode(b, [&](Node* m) {
              if (isConstantNode(m))
                for (const Value* v : m->outputs()) expectConstants.insert(v);
            });
        }
        EXPECT_EQ(std::set<const Value*>(region.constants.begin(), region.constants.end()), expectConstants)
            << "constants of region " << region.id;
        EXPECT_EQ(region.constants.size(), expectConstants.size()) << "duplicate constants in region " << region.id;
        EXPECT_EQ(std::set<const Value*>(region.inputs.begin(), region.inputs.end()), seenIn)
            << "inputs of region " << region.id;
        EXPECT_EQ(region.inputs.size(), seenIn.size()) << "duplicate inputs in region " << region.id;
        std::set<const Value*> expectOutputs;
        for (const Node* n : region.nodes)
          for (const Value* v : n->outputs())
            for (const Use& u : v->uses()) {
              bool outside;
              if (u.node) {
                outside = placementOf[u.node]->region != region.id;
              } else {
                outside = u.block == region.block || placementOf[u.block->owningNode()]->region != region.id;
              }
              if (outside) expectOutputs.insert(v);
            }
        EXPECT_EQ(std::set<const Value*>(region.outputs.begin(), region.outputs.end()), expectOutputs)
            << "outputs of region " << region.id;
        EXPECT_EQ(region.outputs.size(), expectOutputs.size());
        for (const Node* n : region.nodes) {
          inSteps.insert(n);
          for (const Value* v : n->outputs()) available.insert(v);
        }
      } else {
        ASSERT_NE(s.node, nullptr);
        EXPECT_EQ(s.node->owningBlock(), bp.block);
        EXPECT_EQ(placementOf[s.node]->backend, "host");
        EXPECT_EQ(placementOf[s.node]->region, -1);
        EXPECT_EQ(regionOfNode.count(s.node), 0u);
        ++covered[s.node];
        inSteps.insert(s.node);
        for (const Value* v : externalUses(s.node))
          EXPECT_TRUE(!isLocal(v) || available.count(v)) << s.node->describe() << " uses %" << v->name() << " early";
        ASSERT_EQ(s.blocks.size(), s.node->numBlocks());
        for (size_t i = 0; i < s.blocks.size(); ++i) {
          EXPECT_EQ(s.blocks[i].block, s.node->block(i));
          checkBlock(s.blocks[i]);
        }
        for (const Value* v : s.node->outputs()) available.insert(v);
      }
    }
    // Every node but the constants has a step; constants have none.
    size_t constants = 0;
    for (const Node* n : bp.block->nodes()) {
      if (isConstantNode(n)) {
        ++constants;
        EXPECT_FALSE(inSteps.count(n)) << n->describe() << " is a constant with a step";
        EXPECT_EQ(placementOf[n]->backend, "host") << n->describe();
        EXPECT_EQ(placementOf[n]->region, -1) << n->describe();
        EXPECT_TRUE(placementOf[n]->declined.empty()) << n->describe() << ": no backend is asked about a constant";
        continue;
      }
      EXPECT_TRUE(inSteps.count(n)) << n->describe() << " has no step";
    }
    EXPECT_EQ(inSteps.size() + constants, bp.block->nodes().size()) << "block " << bp.block->label();
  };
  ASSERT_EQ(plan.top.block, graph.body());
  checkBlock(plan.top);
  EXPECT_EQ(regionsSeen, static_cast<int>(plan.regions.size())) << "every region is a step exactly once";
  for (const Node* n : order) {
    // A constant of a block is covered by no step; one nested in an if/loop
    // taken whole comes with it.
    const bool nestedInWhole = isConstantNode(n) && n->owningBlock()->owningNode() &&
                               placementOf[n->owningBlock()->owningNode()]->region >= 0;
    EXPECT_EQ(covered[n], isConstantNode(n) && !nestedInWhole ? 0 : 1)
        << n->describe() << " covered " << covered[n] << " times";
  }

  // Transfers cross memories that are not both host memory.
  for (const TransferStep& t : plan.transfers) {
    EXPECT_FALSE(isConstantValue(t.value)) << "constant %" << t.value->name() << " is a transfer";
    EXPECT_NE(t.fromBackend, t.toBackend);
    EXPECT_FALSE(hostVisible[t.fromBackend] && hostVisible[t.toBackend])
        << "%" << t.value->name() << " " << t.fromBackend << " -> " << t.toBackend;
    if (t.toRegion >= 0) {
      const Region& r = plan.regions[static_cast<size_t>(t.toRegion)];
      EXPECT_EQ(r.backend, t.toBackend);
      EXPECT_NE(std::find(r.inputs.begin(), r.inputs.end(), t.value), r.inputs.end());
    } else {
      EXPECT_EQ(t.toBackend, "host");
    }
  }
  // Every region input that crosses memories has a transfer to that backend in its block.
  for (const Region& r : plan.regions)
    for (const Value* v : r.inputs) {
      std::string from = "host";
      const Node* def = v->definingNode();
      if (def && def->owningBlock() == r.block) from = placementOf[def]->backend;
      if (from == r.backend || (hostVisible[from] && hostVisible[r.backend])) continue;
      bool found = false;
      for (const TransferStep& t : plan.transfers)
        found |= t.value == v && t.toBackend == r.backend && t.block == r.block;
      EXPECT_TRUE(found) << "no transfer of %" << v->name() << " " << from << " -> " << r.backend;
    }
}

}  // namespace sy::testing
