#include "switchyard/passes.h"

#include <unordered_map>
#include <unordered_set>

#include "switchyard/op_registry.h"
#include "switchyard/verifier.h"

namespace sy {

namespace {

bool isSourceOp(const Node* n) { return n->op() == "constant" || n->op() == "weight"; }

bool isFoldable(const Node* n) {
  const OpSchema* s = n->schema();
  return s && s->pure && s->kernel && n->numBlocks() == 0 && !isSourceOp(n) && n->numInputs() > 0;
}

}  // namespace

Result<size_t> foldConstants(Graph& graph, const FoldOptions& options) {
  size_t folded = 0;
  std::vector<Node*> order;
  forEachNode(graph.body(), [&](Node* n) { order.push_back(n); });
  for (Node* n : order) {
    if (n->op() == "if" && n->numBlocks() == 2) {
      const Tensor* cond = knownConstant(n->input(0));
      if (cond && cond->numel() == 1) {
        // Inline the taken block in place of the `if`.
        Block* taken = n->block(cond->getInt(0) != 0 ? 0 : 1);
        std::vector<Value*> rets = taken->returns();
        graph.moveNodesBefore(taken, n);
        for (size_t i = 0; i < n->numOutputs(); ++i) n->output(i)->replaceAllUsesWith(rets[i]);
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
      Value* nv = c->addOutput(old->type(), old->name() + ".folded");
      auto merged = mergeTypes(old->type(), typeOf((*outs)[i]));
      if (merged.ok()) nv->setType(*merged);
      old->replaceAllUsesWith(nv);
    }
    ++folded;
  }
  if (folded) SY_RETURN_IF_ERROR(eliminateDeadCode(graph).status());
  return folded;
}

Result<size_t> eliminateDeadCode(Graph& graph) {
  size_t removed = 0;
  // Walk blocks bottom-up; repeat until nothing changes, since removing a user
  // can make its producers dead.
  std::function<void(Block*)> sweep = [&](Block* b) {
    for (Node* n : b->nodes())
      for (Block* nb : n->blocks()) sweep(nb);
    bool changed = true;
    while (changed) {
      changed = false;
      size_t before = b->nodes().size();
      graph.eraseNodesIf(b, [](Node* n) {
        const OpSchema* s = n->schema();
        if (s && !s->pure) return false;
        for (Value* o : n->outputs())
          if (o->hasUses()) return false;
        return true;
      });
      if (b->nodes().size() != before) {
        removed += before - b->nodes().size();
        changed = true;
      }
    }
  };
  sweep(graph.body());
  return removed;
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
