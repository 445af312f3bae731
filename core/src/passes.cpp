#include "switchyard/passes.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "switchyard/op_registry.h"
#include "switchyard/verifier.h"

namespace sy {

namespace {

bool isSourceOp(const Node* n) { return n->op() == "constant" || n->op() == "weight"; }

bool isFoldable(const Node* n) {
  const OpSchema* s = n->schema();
  return s && s->pure && hasKernel(*s) && n->numBlocks() == 0 && !isSourceOp(n) && n->numInputs() > 0;
}

}  // namespace

Result<size_t> foldConstants(Graph& graph, const FoldOptions& options) {
  size_t folded = 0;
  std::vector<Node*> order;
  forEachNode(graph.body(), [&](Node* n) { order.push_back(n); });
  for (Node* n : order) {
    if (n->op() == "if" && n->numBlocks() == 2) {
      const Tensor* cond = knownConstant(n->input(0));
      if (cond && !options.foldWeights && n->input(0)->definingNode()->op() == "weight") cond = nullptr;
      if (cond && cond->numel() == 1) {
        // Inline the taken block in place of the `if`.
        Block* taken = n->block(cond->getInt(0) != 0 ? 0 : 1);
        std::vector<Value*> rets = taken->returns();
        const std::unordered_set<const Node*> moved(taken->nodes().begin(), taken->nodes().end());
        graph.moveNodesBefore(taken, n);
        for (size_t i = 0; i < n->numOutputs(); ++i) {
          Value* out = n->output(i);
          out->replaceAllUsesWith(rets[i]);
          // A value computed in the taken block takes over the `if` output's
          // name, so that names seen from outside (graph outputs) stay.
          if (moved.count(rets[i]->definingNode()) &&
              std::find(rets.begin(), rets.begin() + static_cast<std::ptrdiff_t>(i), rets[i]) ==
                  rets.begin() + static_cast<std::ptrdiff_t>(i)) {
            const std::string name = out->name();
            graph.renameValue(out, name + ".dead");
            graph.renameValue(rets[i], name);
          }
        }
        ++folded;
      }
      continue;
    }
    if (!isFoldable(n)) continue;
    std::vector<Tensor> inputs;
    bool allKnown = true;
    for (Value* v : n->inputs()) {
      const Tensor* t = knownConstant(v);
      if (!t || (!options.foldWeights && v->definingNode()->op() == "weight")) {
        allKnown = false;
        break;
      }
      inputs.push_back(*t);
    }
    if (!allKnown) continue;
    // Check the result size before computing it: folding must never attempt a
    // huge allocation (e.g. constant_of_shape of [2^33]). With all inputs
    // known, inference gives static shapes; anything else is left alone.
    auto types = inferNodeTypes(*n);
    if (!types.ok()) continue;
    bool fits = true;
    for (const Type& t : *types) {
      const auto shape = t.staticShape();
      const auto numel = shape ? checkedNumel(*shape) : Result<int64_t>(invalidArgument("not static"));
      fits = fits && numel.ok() && *numel <= options.maxElements;
    }
    if (!fits) continue;
    auto outs = evalOp(n->op(), inputs, n->attrs(), static_cast<int>(n->numOutputs()));
    if (!outs.ok()) continue;  // leave it to fail (or not) at run time, with the node's context
    bool small = true;
    for (const Tensor& t : *outs) small = small && t.numel() <= options.maxElements;
    if (!small) continue;
    for (size_t i = 0; i < n->numOutputs(); ++i) {
      Value* old = n->output(i);
      Node* c = graph.createNode("constant");
      c->setAttr("value", (*outs)[i]);
      n->owningBlock()->insertNodeBefore(n, c);
      // The constant takes over the folded value's name (the dead node, removed
      // below, gets another one), so the printed program keeps its names.
      const std::string name = old->name();
      graph.renameValue(old, name + ".dead");
      Value* nv = c->addOutput(old->type(), name);
      auto merged = mergeTypes(old->type(), typeOf((*outs)[i]));
      if (merged.ok() && !old->type().isScalar()) nv->setType(*merged);
      old->replaceAllUsesWith(nv);
    }
    ++folded;
  }
  if (folded) SY_RETURN_IF_ERROR(eliminateDeadCode(graph).status());
  return folded;
}

Result<size_t> eliminateDeadCode(Graph& graph) {
  const size_t liveBefore = graph.numNodes();
  // Blocks bottom-up (nested blocks first). Within a block, one backward walk
  // finds every dead node: users come after their producers, so by the time a
  // node is looked at, all its users in this block have been decided. A use
  // inside a nested block counts only when the node owning that block (at
  // this block's level) is live.
  std::function<void(Block*)> sweep = [&](Block* b) {
    for (Node* n : b->nodes())
      for (Block* nb : n->blocks()) sweep(nb);
    std::unordered_set<const Node*> dead;
    // The node of `b` that contains `user` (itself, or the owner of its block, ...).
    auto atThisLevel = [b](const Node* user) -> const Node* {
      while (user && user->owningBlock() != b) {
        const Block* ub = user->owningBlock();
        user = ub ? ub->owningNode() : nullptr;
      }
      return user;
    };
    auto liveUse = [&](const Use& u) {
      const Node* user = u.node ? u.node : u.block->owningNode();
      if (!user) return true;  // a return of the graph body
      if (!u.node && u.block == b) return true;  // yielded by this block
      const Node* top = atThisLevel(user);
      return !top || !dead.count(top);
    };
    const auto& nodes = b->nodes();
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
      Node* n = *it;
      const OpSchema* s = n->schema();
      if (s && !s->pure) continue;
      bool used = false;
      for (Value* o : n->outputs()) {
        for (const Use& u : o->uses())
          if (liveUse(u)) {
            used = true;
            break;
          }
        if (used) break;
      }
      if (!used) dead.insert(n);
    }
    if (!dead.empty()) graph.eraseNodesIf(b, [&](Node* n) { return dead.count(n) != 0; });
  };
  sweep(graph.body());
  // Counts the nested nodes of removed control flow too.
  return liveBefore - graph.numNodes();
}

namespace {

size_t hashNode(const Node* n) {
  size_t h = std::hash<std::string>()(n->op());
  auto mix = [&h](size_t v) { h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); };
  for (Value* v : n->inputs()) mix(std::hash<const void*>()(v));
  for (const auto& [k, a] : n->attrs()) {
    mix(std::hash<std::string>()(k));
    mix(hashAttribute(a));
  }
  mix(n->numOutputs());
  return h;
}

bool sameComputation(const Node* a, const Node* b) {
  if (a->op() != b->op() || a->inputs() != b->inputs() || a->numOutputs() != b->numOutputs()) return false;
  if (a->attrs().size() != b->attrs().size()) return false;
  for (auto ia = a->attrs().begin(), ib = b->attrs().begin(); ia != a->attrs().end(); ++ia, ++ib)
    if (ia->first != ib->first || !attributesEqual(ia->second, ib->second)) return false;
  // Weight nodes are equal when they name the same weight (covered by attrs).
  return true;
}

class Cse {
 public:
  explicit Cse(Graph& g) : graph_(g) {}

  size_t run() {
    visit(graph_.body());
    return merged_;
  }

 private:
  void visit(Block* b) {
    std::vector<std::pair<size_t, Node*>> added;  // scope entries to pop
    for (Node* n : b->nodes()) {
      for (Block* nb : n->blocks()) visit(nb);
      const OpSchema* s = n->schema();
      if (!s || !s->pure || n->numBlocks() > 0) continue;
      const size_t h = hashNode(n);
      Node* existing = nullptr;
      auto range = table_.equal_range(h);
      for (auto it = range.first; it != range.second; ++it)
        if (sameComputation(it->second, n)) {
          existing = it->second;
          break;
        }
      if (existing) {
        for (size_t i = 0; i < n->numOutputs(); ++i) n->output(i)->replaceAllUsesWith(existing->output(i));
        ++merged_;
        continue;
      }
      table_.emplace(h, n);
      added.emplace_back(h, n);
    }
    // Leave this block's scope: its nodes cannot be reused outside it.
    for (const auto& [h, n] : added) {
      auto range = table_.equal_range(h);
      for (auto it = range.first; it != range.second; ++it)
        if (it->second == n) {
          table_.erase(it);
          break;
        }
    }
  }

  Graph& graph_;
  std::unordered_multimap<size_t, Node*> table_;
  size_t merged_ = 0;
};

}  // namespace

Result<size_t> eliminateCommonSubexpressions(Graph& graph) {
  const size_t merged = Cse(graph).run();
  if (merged) SY_RETURN_IF_ERROR(eliminateDeadCode(graph).status());
  return merged;
}

Result<size_t> propagateShapes(Graph& graph) {
  size_t changed = 0;
  std::function<Status(Block*)> visit = [&](Block* b) -> Status {
    for (Node* n : b->nodes()) {
      for (Block* nb : n->blocks()) SY_RETURN_IF_ERROR(visit(nb));
      auto inferred = inferNodeTypes(*n);
      if (!inferred.ok()) return inferred.status().withContext(n->describe());
      for (size_t i = 0; i < n->numOutputs(); ++i) {
        Value* o = n->output(i);
        auto merged = mergeTypes(o->type(), (*inferred)[i]);
        if (!merged.ok())
          return invalidArgument(n->describe(), ": output %", o->name(), " is declared ", o->type().toString(),
                                 " but the op gives ", (*inferred)[i].toString(), " (", merged.status().message(), ")");
        if (*merged != o->type()) {
          o->setType(*merged);
          ++changed;
        }
      }
    }
    return Status::OK();
  };
  SY_RETURN_IF_ERROR(visit(graph.body()));
  return changed;
}

Status runStandardPasses(Graph& graph) {
  SY_RETURN_IF_ERROR(propagateShapes(graph).status());
  SY_RETURN_IF_ERROR(foldConstants(graph).status());
  SY_RETURN_IF_ERROR(eliminateCommonSubexpressions(graph).status());
  SY_RETURN_IF_ERROR(eliminateDeadCode(graph).status());
  return verify(graph);
}

}  // namespace sy
