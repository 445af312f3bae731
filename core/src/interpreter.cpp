#include "switchyard/interpreter.h"

#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <unordered_map>

#include "switchyard/control_flow.h"
#include "switchyard/op_registry.h"
#include "switchyard/passes.h"
#include "switchyard/verifier.h"
#include "portable_kernels.h"

namespace sy {

struct ExecBlock;

struct ExecNode {
  const Node* node = nullptr;
  std::vector<size_t> in, out;
  std::vector<ExecBlock> blocks;
  const Tensor* constant = nullptr;  // for `constant` and `weight`
  std::vector<size_t> freeAfter;     // slots whose last use is this node
  std::vector<Type> outTypes;        // `loop`: output types, refined by shape propagation
  const kernels::Kernel* kernel = nullptr;  // the node's portable kernel (Plan::kernels), if any
  std::vector<DType> outDtypes;             // with `kernel`: the outputs' dtypes
  bool view = false;                        // with `kernel`: output 0 shares input 0's storage
};

struct ExecBlock {
  std::vector<size_t> params;
  std::vector<ExecNode> nodes;
  std::vector<size_t> returns;
};

struct Interpreter::Plan {
  ExecBlock body;
  size_t numSlots = 0;
  // Every node's portable kernel, made once here (Note [one kernel library]
  // in portable_kernels.cpp); immutable, shared by all runs.
  std::unique_ptr<PortableKernels> kernels;
};

Status checkAgainstDeclaredType(const Value* v, DType dtype, const Shape& shape, std::map<std::string, int64_t>& bindings,
                                bool bind) {
  const Type& type = v->type();
  const int64_t rank = static_cast<int64_t>(shape.size());
  if (dtype != type.dtype())
    return invalidArgument("%", v->name(), " has dtype ", dtypeName(dtype), ", expected ",
                           dtypeName(type.dtype()));
  if (!type.rankKnown()) return Status::OK();
  if (rank != type.rank())
    return invalidArgument("%", v->name(), " has shape ", shapeToString(shape), " (rank ", rank,
                           "), expected ", type.toString(), " (rank ", type.rank(), ")");
  for (int64_t i = 0; i < rank; ++i) {
    const Dim& d = type.dim(i);
    const int64_t actual = shape[static_cast<size_t>(i)];
    if (d.isStatic() && d.value() != actual)
      return invalidArgument("%", v->name(), " has shape ", shapeToString(shape), ", expected ",
                             type.toString(), " (dimension ", i, " must be ", d.value(), ")");
    if (d.isSymbol()) {
      auto it = bindings.find(d.symbolName());
      if (it == bindings.end()) {
        if (bind) bindings.emplace(d.symbolName(), actual);
      } else if (it->second != actual) {
        return invalidArgument("%", v->name(), " has shape ", shapeToString(shape), ", but ", d.symbolName(),
                               " is ", it->second, " elsewhere (dimension ", i, " of ", type.toString(), ")");
      }
    }
  }
  return Status::OK();
}

namespace {

using Bindings = std::map<std::string, int64_t>;

class Planner {
 public:
  /// `refined`: per `loop` node, its output types as shape propagation on a
  /// copy of the graph sees them (used to shape scans of zero iterations).
  explicit Planner(std::unordered_map<const Node*, std::vector<Type>> refined, const PortableKernels& kernels)
      : refined_(std::move(refined)), kernels_(kernels) {}

  Status planBlock(const Block* b, ExecBlock& plan) {
    for (const Value* p : b->params()) plan.params.push_back(slotFor(p));
    for (const Node* n : b->nodes()) {
      ExecNode np;
      np.node = n;
      for (const Value* v : n->inputs()) np.in.push_back(slotFor(v));
      for (const Value* v : n->outputs()) np.out.push_back(slotFor(v));
      np.kernel = kernels_.kernelFor(n);
      if (np.kernel) {
        for (const Value* v : n->outputs()) np.outDtypes.push_back(v->type().dtype());
        np.view = PortableKernels::isView(n->op());
      }
      if (n->op() == "constant" || n->op() == "weight") {
        np.constant = knownConstant(n->output(0));
        if (!np.constant) {
          const Attribute* a = n->attr("name");
          return notFound(n->describe(), ": weight \"", a ? std::get<std::string>(*a) : std::string("?"),
                          "\" is not loaded (no weights file attached to the graph?)");
        }
      }
      if (n->op() == "loop") {
        auto it = refined_.find(n);
        if (it != refined_.end() && it->second.size() == n->numOutputs()) {
          np.outTypes = it->second;
        } else {
          for (const Value* o : n->outputs()) np.outTypes.push_back(o->type());
        }
      }
      for (const Block* nb : n->blocks()) {
        np.blocks.emplace_back();
        SY_RETURN_IF_ERROR(planBlock(nb, np.blocks.back()));
      }
      plan.nodes.push_back(std::move(np));
    }
    for (const Value* v : b->returns()) plan.returns.push_back(slotFor(v));
    computeFrees(b, plan);
    return Status::OK();
  }

  size_t numSlots() const { return slots_.size(); }

 private:
  size_t slotFor(const Value* v) {
    auto [it, inserted] = slots_.emplace(v, slots_.size());
    return it->second;
  }

  /// For values defined in `b`, frees each after the last node of `b` that uses
  /// it (directly or inside a nested block). Returned values are kept.
  void computeFrees(const Block* b, ExecBlock& plan) {
    std::unordered_map<const Value*, size_t> lastUse;
    std::unordered_map<const Node*, size_t> position;
    for (size_t i = 0; i < b->nodes().size(); ++i) position[b->nodes()[i]] = i;
    auto topLevelPosition = [&](const Node* user) -> std::optional<size_t> {
      while (user) {
        auto it = position.find(user);
        if (it != position.end()) return it->second;
        const Block* ub = user->owningBlock();
        user = ub ? ub->owningNode() : nullptr;
      }
      return std::nullopt;
    };
    std::vector<const Value*> defined(b->params().begin(), b->params().end());
    for (size_t i = 0; i < b->nodes().size(); ++i)
      for (const Value* o : b->nodes()[i]->outputs()) {
        defined.push_back(o);
        lastUse[o] = i;  // unused outputs are freed right after their node
      }
    for (const Value* v : defined) {
      bool keep = false;
      for (const Use& u : v->uses()) {
        if (!u.node) {
          if (u.block == b) keep = true;
          else if (auto p = u.block->owningNode() ? topLevelPosition(u.block->owningNode()) : std::nullopt) {
            lastUse[v] = std::max(lastUse.count(v) ? lastUse[v] : 0, *p);
          } else {
            keep = true;
          }
          continue;
        }
        auto p = topLevelPosition(u.node);
        if (!p) {
          keep = true;
          continue;
        }
        lastUse[v] = std::max(lastUse.count(v) ? lastUse[v] : 0, *p);
      }
      if (keep || !lastUse.count(v)) continue;
      plan.nodes[lastUse[v]].freeAfter.push_back(slots_.at(v));
    }
  }

  std::unordered_map<const Value*, size_t> slots_;
  std::unordered_map<const Node*, std::vector<Type>> refined_;
  const PortableKernels& kernels_;
};

/// Output types of every `loop` node of `graph` after shape propagation on a
/// copy of it: a scan whose element type the program leaves open (`f32[*]`)
/// may be known from the body's ops. Empty when there is no loop or the
/// propagation fails (the declared types are used then).
std::unordered_map<const Node*, std::vector<Type>> refinedLoopTypes(const Graph& graph) {
  std::unordered_map<const Node*, std::vector<Type>> out;
  std::vector<const Node*> original;
  forEachNode(graph.body(), [&](Node* n) { original.push_back(n); });
  bool anyLoop = false;
  for (const Node* n : original) anyLoop = anyLoop || n->op() == "loop";
  if (!anyLoop) return out;
  std::unique_ptr<Graph> copy = graph.clone();
  if (!propagateShapes(*copy).ok()) return out;
  std::vector<const Node*> copied;
  forEachNode(copy->body(), [&](Node* n) { copied.push_back(n); });
  if (copied.size() != original.size()) return out;
  for (size_t i = 0; i < original.size(); ++i) {
    if (original[i]->op() != "loop") continue;
    std::vector<Type> types;
    for (const Value* o : copied[i]->outputs()) types.push_back(o->type());
    out.emplace(original[i], std::move(types));
  }
  return out;
}

Status checkAgainstDeclared(const Value* v, const Tensor& t, Bindings& bindings, bool bind) {
  return checkAgainstDeclaredType(v, t.dtype(), t.shape(), bindings, bind);
}

class Runner {
 public:
  Runner(size_t numSlots, Bindings bindings, std::shared_ptr<MemoryBudget> budget)
      : slots_(numSlots), bindings_(std::move(bindings)), budget_(std::move(budget)) {}

  Status runBlock(const ExecBlock& b) {
    for (const ExecNode& np : b.nodes) {
      Status st;
      try {
        st = runNode(np);
      } catch (const std::bad_alloc&) {
        // Kernels allocate through std containers too: out of memory is an
        // error of this node, never an abort of the process.
        st = resourceExhausted("out of memory");
      }
      if (!st.ok()) {
        // Errors from nested blocks already name their node; add this one for context.
        return st.withContext(np.node->describe());
      }
      for (size_t s : np.freeAfter) slots_[s] = Tensor();
    }
    return Status::OK();
  }

  std::vector<Tensor>& slots() { return slots_; }

 private:
  Status runNode(const ExecNode& np) {
    const Node& n = *np.node;
    if (np.constant) {
      slots_[np.out[0]] = *np.constant;
      return Status::OK();
    }
    if (n.op() == "if") return runIf(np);
    if (n.op() == "loop") return runLoop(np);
    std::vector<Tensor> inputs;
    inputs.reserve(np.in.size());
    for (size_t s : np.in) inputs.push_back(slots_[s]);
    if (np.kernel) {
      SY_ASSIGN_OR_RETURN(std::vector<Tensor> outs, runPortableKernel(*np.kernel, inputs, np.outDtypes, np.view));
      return storeOutputs(np, std::move(outs));
    }
    SY_ASSIGN_OR_RETURN(std::vector<Tensor> outs,
                        evalOp(n.op(), inputs, n.attrs(), static_cast<int>(np.out.size())));
    return storeOutputs(np, std::move(outs));
  }

  Status storeOutputs(const ExecNode& np, std::vector<Tensor> outs) {
    for (size_t i = 0; i < np.out.size(); ++i) {
      Status st = checkAgainstDeclared(np.node->output(i), outs[i], bindings_, false);
      // The model's declared type is wrong (one rule for every backend: the
      // runtime checks region outputs the same way).
      if (!st.ok()) return invalidArgument("the model declares a type that its computation does not have: ", st.message());
      slots_[np.out[i]] = std::move(outs[i]);
    }
    return Status::OK();
  }

  Status runIf(const ExecNode& np) {
    SY_ASSIGN_OR_RETURN(bool cond, conditionValue(slots_[np.in[0]], "the condition"));
    const ExecBlock& b = np.blocks[cond ? 0 : 1];
    SY_RETURN_IF_ERROR(runBlock(b));
    std::vector<Tensor> outs;
    for (size_t s : b.returns) outs.push_back(slots_[s]);
    return storeOutputs(np, std::move(outs));
  }

  Status runLoop(const ExecNode& np) {
    SY_ASSIGN_OR_RETURN(const int64_t maxTrip, loopTripCount(slots_[np.in[0]]));
    SY_ASSIGN_OR_RETURN(bool cond, conditionValue(slots_[np.in[1]], "the loop condition"));
    const size_t carried = np.in.size() - 2;
    const ExecBlock& body = np.blocks[0];
    const size_t scans = body.returns.size() - 1 - carried;
    std::vector<Tensor> state;
    for (size_t i = 0; i < carried; ++i) state.push_back(slots_[np.in[2 + i]]);
    std::vector<ScanCollector> scanned;
    for (size_t i = 0; i < scans; ++i) scanned.emplace_back(i, budget_);
    for (int64_t iter = 0; iter < maxTrip && cond; ++iter) {
      slots_[body.params[0]] = Tensor::scalarI64(iter);
      slots_[body.params[1]] = Tensor::scalarBool(cond);
      for (size_t i = 0; i < carried; ++i) slots_[body.params[2 + i]] = state[i];
      SY_RETURN_IF_ERROR(runBlock(body).withContext("iteration " + std::to_string(iter)));
      SY_ASSIGN_OR_RETURN(cond, conditionValue(slots_[body.returns[0]], "the condition yielded by the loop body"));
      for (size_t i = 0; i < carried; ++i) state[i] = slots_[body.returns[1 + i]];
      for (size_t i = 0; i < scans; ++i) SY_RETURN_IF_ERROR(scanned[i].add(slots_[body.returns[1 + carried + i]], iter));
    }
    std::vector<Tensor> outs = std::move(state);
    auto resolve = [this](const Dim& d) { return this->resolve(d); };
    for (size_t i = 0; i < scans; ++i) {
      SY_ASSIGN_OR_RETURN(Tensor stacked, scanned[i].stack(np.outTypes[carried + i],
                                                           np.node->block(0)->returns()[1 + carried + i]->type(), resolve));
      outs.push_back(std::move(stacked));
    }
    return storeOutputs(np, std::move(outs));
  }

  /// The size of `d` as far as this run knows it: a number, or a symbol bound
  /// by the inputs; nullopt otherwise.
  std::optional<int64_t> resolve(const Dim& d) const {
    if (d.isStatic()) return d.value();
    if (d.isSymbol()) {
      auto it = bindings_.find(d.symbolName());
      if (it != bindings_.end()) return it->second;
    }
    return std::nullopt;
  }

  std::vector<Tensor> slots_;
  Bindings bindings_;
  std::shared_ptr<MemoryBudget> budget_;
};

}  // namespace

Result<std::map<std::string, int64_t>> bindInputs(const Graph& graph, const std::vector<Tensor>& inputs) {
  const auto& params = graph.inputs();
  if (inputs.size() != params.size())
    return invalidArgument("graph '", graph.name(), "' takes ", params.size(), " inputs, got ", inputs.size());
  Bindings bindings;
  for (size_t i = 0; i < params.size(); ++i) {
    if (!inputs[i].valid()) return invalidArgument("input ", i, " (%", params[i]->name(), ") is missing");
    Status st = checkAgainstDeclared(params[i], inputs[i], bindings, true);
    if (!st.ok()) return st.withContext("input " + std::to_string(i));
  }
  return bindings;
}

Interpreter::~Interpreter() = default;

Result<std::shared_ptr<const Interpreter>> Interpreter::create(std::shared_ptr<const Graph> graph) {
  return create(std::move(graph), 0);
}

Result<std::shared_ptr<const Interpreter>> Interpreter::create(std::shared_ptr<const Graph> graph,
                                                                uint64_t memoryBudget) {
  if (!graph) return invalidArgument("Interpreter::create: no graph");
  SY_RETURN_IF_ERROR(verify(*graph));
  auto plan = std::make_unique<Plan>();
  plan->kernels = std::make_unique<PortableKernels>(*graph);
  Planner planner(refinedLoopTypes(*graph), *plan->kernels);
  SY_RETURN_IF_ERROR(planner.planBlock(graph->body(), plan->body));
  plan->numSlots = planner.numSlots();
  std::shared_ptr<Interpreter> interp(new Interpreter());
  interp->graph_ = std::move(graph);
  interp->plan_ = std::move(plan);
  interp->memoryBudget_ = memoryBudget ? memoryBudget : defaultMemoryBudget();
  return std::shared_ptr<const Interpreter>(std::move(interp));
}

Result<std::vector<Tensor>> Interpreter::run(const std::vector<Tensor>& inputs) const {
  SY_ASSIGN_OR_RETURN(Bindings bindings, bindInputs(*graph_, inputs));
  Runner runner(plan_->numSlots, std::move(bindings), std::make_shared<MemoryBudget>(memoryBudget_));
  for (size_t i = 0; i < inputs.size(); ++i) runner.slots()[plan_->body.params[i]] = inputs[i];
  SY_RETURN_IF_ERROR(runner.runBlock(plan_->body));
  std::vector<Tensor> outs;
  outs.reserve(plan_->body.returns.size());
  for (size_t s : plan_->body.returns) outs.push_back(runner.slots()[s]);
  return outs;
}

Result<std::vector<Tensor>> Interpreter::run(const std::map<std::string, Tensor>& inputs) const {
  std::vector<Tensor> ordered;
  for (const Value* p : graph_->inputs()) {
    auto it = inputs.find(p->name());
    if (it == inputs.end()) return invalidArgument("missing input '", p->name(), "'");
    ordered.push_back(it->second);
  }
  if (inputs.size() != ordered.size()) {
    for (const auto& [name, t] : inputs)
      if (!graph_->findValue(name) || graph_->findValue(name)->definingNode() ||
          graph_->findValue(name)->definingBlock() != graph_->body())
        return invalidArgument("graph '", graph_->name(), "' has no input named '", name, "'");
  }
  return run(ordered);
}

}  // namespace sy
