#include "switchyard/verifier.h"

#include <unordered_set>

#include "switchyard/op_registry.h"

namespace sy {

const Tensor* knownConstant(const Value* v) {
  const Node* n = v ? v->definingNode() : nullptr;
  if (!n) return nullptr;
  if (n->op() == "constant") {
    const Attribute* a = n->attr("value");
    return a ? std::get_if<Tensor>(a) : nullptr;
  }
  if (n->op() == "weight") {
    const Attribute* a = n->attr("name");
    const auto* name = a ? std::get_if<std::string>(a) : nullptr;
    if (!name) return nullptr;
    auto it = n->graph()->weights().find(*name);
    return it == n->graph()->weights().end() ? nullptr : &it->second;
  }
  return nullptr;
}

Result<Type> mergeTypes(const Type& a, const Type& b) {
  if (a.dtype() != b.dtype())
    return invalidArgument("dtype ", dtypeName(a.dtype()), " does not match ", dtypeName(b.dtype()));
  if (!a.rankKnown()) return b;
  if (!b.rankKnown()) return a;
  if (a.rank() != b.rank()) return invalidArgument("rank ", a.rank(), " does not match rank ", b.rank());
  std::vector<Dim> dims(static_cast<size_t>(a.rank()));
  for (size_t i = 0; i < dims.size(); ++i) {
    const Dim& x = a.dims().size() > i ? a.dims()[i] : Dim();
    const Dim& y = b.dims().size() > i ? b.dims()[i] : Dim();
    if (x.isStatic() && y.isStatic() && x.value() != y.value())
      return invalidArgument("dimension ", i, " is ", x.value(), " in one and ", y.value(), " in the other");
    dims[i] = x.isStatic() ? x : y.isStatic() ? y : x.isSymbol() ? x : y;
  }
  if (a.isScalar() && b.isScalar()) return a;
  if (a.isScalar()) return b;  // keep the tensor form when one side is a rank-0 tensor
  return Type::tensor(a.dtype(), std::move(dims));
}

Result<Type> joinTypes(const Type& a, const Type& b) {
  if (a.dtype() != b.dtype())
    return invalidArgument("dtype ", dtypeName(a.dtype()), " does not match ", dtypeName(b.dtype()));
  if (!a.rankKnown() || !b.rankKnown() || a.rank() != b.rank()) return Type::tensorUnranked(a.dtype());
  if (a.isScalar() && b.isScalar()) return a;
  std::vector<Dim> dims(static_cast<size_t>(a.rank()));
  for (size_t i = 0; i < dims.size(); ++i) dims[i] = a.dims()[i] == b.dims()[i] ? a.dims()[i] : Dim::unknown();
  return Type::tensor(a.dtype(), std::move(dims));
}

namespace {

/// True when the type allows exactly one element (scalar, [], [1], [1, 1], unknown dims...).
bool isOneElementLike(const Type& t) {
  if (!t.rankKnown()) return true;
  for (const Dim& d : t.dims())
    if (d.isStatic() && d.value() != 1) return false;
  return true;
}

bool isBoolScalarLike(const Type& t) {
  if (t.dtype() != DType::Bool) return false;
  if (!t.rankKnown()) return true;
  for (const Dim& d : t.dims())
    if (d.isStatic() && d.value() != 1) return false;
  return true;
}

Result<std::vector<Type>> inferIf(const Node& n) {
  if (n.numInputs() != 1) return invalidArgument("takes 1 input (the condition), got ", n.numInputs());
  if (!isBoolScalarLike(n.input(0)->type()))
    return invalidArgument("condition must be a bool with one element, got ", n.input(0)->type().toString());
  if (n.numBlocks() != 2) return invalidArgument("needs 2 blocks (then, else), got ", n.numBlocks());
  const Block* thenB = n.block(0);
  const Block* elseB = n.block(1);
  if (!thenB->params().empty() || !elseB->params().empty())
    return invalidArgument("blocks of 'if' take no parameters");
  if (thenB->returns().size() != n.numOutputs() || elseB->returns().size() != n.numOutputs())
    return invalidArgument("has ", n.numOutputs(), " outputs but its blocks yield ", thenB->returns().size(),
                           " and ", elseB->returns().size(), " values");
  std::vector<Type> out;
  for (size_t i = 0; i < n.numOutputs(); ++i) {
    auto t = joinTypes(thenB->returns()[i]->type(), elseB->returns()[i]->type());
    if (!t.ok()) return t.status().withContext("output " + std::to_string(i) + ": the two blocks disagree");
    out.push_back(*t);
  }
  return out;
}

Result<std::vector<Type>> inferLoop(const Node& n) {
  if (n.numInputs() < 2) return invalidArgument("needs at least 2 inputs (max trip count, condition)");
  const Type& trip = n.input(0)->type();
  if (trip.dtype() != DType::I64 || !isOneElementLike(trip))
    return invalidArgument("max trip count must be an i64 scalar, got ", trip.toString());
  if (!isBoolScalarLike(n.input(1)->type()))
    return invalidArgument("condition must be a bool scalar, got ", n.input(1)->type().toString());
  if (n.numBlocks() != 1) return invalidArgument("needs 1 block (body), got ", n.numBlocks());
  const Block* body = n.block(0);
  const size_t carried = n.numInputs() - 2;
  if (body->params().size() != carried + 2)
    return invalidArgument("body must take ", carried + 2, " parameters (iteration, condition, ", carried,
                           " carried), got ", body->params().size());
  if (body->params()[0]->type().dtype() != DType::I64)
    return invalidArgument("body parameter 0 (iteration) must be i64");
  if (body->params()[1]->type().dtype() != DType::Bool)
    return invalidArgument("body parameter 1 (condition) must be bool");
  if (body->returns().size() < carried + 1)
    return invalidArgument("body must yield the condition and ", carried, " carried values, got ",
                           body->returns().size(), " values");
  if (!isBoolScalarLike(body->returns()[0]->type()))
    return invalidArgument("body must yield a bool condition first, got ", body->returns()[0]->type().toString());
  const size_t scans = body->returns().size() - 1 - carried;
  if (n.numOutputs() != carried + scans)
    return invalidArgument("has ", n.numOutputs(), " outputs but ", carried, " carried and ", scans,
                           " scan values");
  std::vector<Type> out;
  for (size_t i = 0; i < carried; ++i) {
    const Type& init = n.input(2 + i)->type();
    const Type& param = body->params()[2 + i]->type();
    const Type& next = body->returns()[1 + i]->type();
    if (!typesCompatible(param, init))
      return invalidArgument("carried value ", i, ": initial value ", init.toString(),
                             " does not fit body parameter ", param.toString());
    auto t = joinTypes(init, next);
    if (!t.ok()) return t.status().withContext("carried value " + std::to_string(i));
    // The next iteration receives the yielded value through the same parameter.
    if (!typesCompatible(param, next))
      return invalidArgument("carried value ", i, ": the body yields ", next.toString(),
                             ", which does not fit body parameter ", param.toString());
    out.push_back(*t);
  }
  for (size_t i = 0; i < scans; ++i) {
    const Type& e = body->returns()[1 + carried + i]->type();
    if (!e.rankKnown()) {
      out.push_back(Type::tensorUnranked(e.dtype()));
      continue;
    }
    std::vector<Dim> dims{Dim::unknown()};
    for (const Dim& d : e.dims()) dims.push_back(d);
    out.push_back(Type::tensor(e.dtype(), std::move(dims)));
  }
  return out;
}

}  // namespace

Result<std::vector<Type>> inferNodeTypes(const Node& n) {
  if (n.op() == "if") return inferIf(n);
  if (n.op() == "loop") return inferLoop(n);
  const OpSchema* schema = n.schema();
  if (!schema) return notFound("unknown op '", n.op(), "'");
  if (n.op() == "weight") {
    SY_RETURN_IF_ERROR(checkAttributes(*schema, n.attrs()));
    if (n.numInputs() != 0 || n.numOutputs() != 1) return invalidArgument("'weight' takes no inputs and has 1 output");
    const Tensor* t = knownConstant(n.output(0));
    if (!t) {
      // Without the tensor, the declared type stands.
      return std::vector<Type>{n.output(0)->type()};
    }
    return std::vector<Type>{typeOf(*t)};
  }
  std::vector<Type> inTypes;
  std::vector<const Tensor*> constants;
  for (const Value* v : n.inputs()) {
    if (!v) return invalidArgument("has a missing input");
    inTypes.push_back(v->type());
    constants.push_back(knownConstant(v));
  }
  return inferOp(*schema, n.attrs(), inTypes, constants, n.numOutputs());
}

namespace {

class Verifier {
 public:
  Status run(const Graph& g) {
    if (g.body()->owningNode() != nullptr) return internalError("graph body has an owner");
    return verifyBlock(g.body());
  }

 private:
  Status verifyBlock(const Block* b) {
    std::vector<const Value*> added;
    auto define = [&](const Value* v) -> Status {
      if (!defined_.insert(v).second) return invalidArgument("value %", v->name(), " is defined twice");
      added.push_back(v);
      return Status::OK();
    };
    Status st;
    for (const Value* p : b->params()) {
      st = define(p);
      if (!st.ok()) break;
    }
    if (st.ok()) {
      for (const Node* n : b->nodes()) {
        st = verifyNode(n).withContext(n->describe());
        if (!st.ok()) break;
        for (const Value* o : n->outputs()) {
          st = define(o);
          if (!st.ok()) break;
        }
        if (!st.ok()) break;
      }
    }
    if (st.ok()) {
      for (size_t i = 0; i < b->returns().size(); ++i) {
        const Value* r = b->returns()[i];
        if (!r || !inScope(r)) {
          st = invalidArgument(b->owningNode() ? "block '" + b->label() + "' of " + b->owningNode()->describe()
                                               : std::string("graph"),
                               " returns %", r ? r->name() : "<null>", ", which is not defined before it");
          break;
        }
      }
    }
    // Leave the scope of this block.
    for (const Value* v : added) {
      defined_.erase(v);
      retired_.insert(v);
    }
    return st;
  }

  bool inScope(const Value* v) const { return defined_.count(v) != 0; }

  Status verifyNode(const Node* n) {
    if (n->graph() == nullptr) return internalError("node without a graph");
    const OpSchema* schema = n->schema();
    if (!schema) return notFound("unknown op '", n->op(), "'");
    for (size_t i = 0; i < n->numInputs(); ++i) {
      const Value* v = n->input(i);
      if (!v) return invalidArgument("input ", i, " is missing");
      if (!inScope(v)) {
        if (retired_.count(v))
          return invalidArgument("input ", i, " %", v->name(), " is used outside the block that defines it");
        if (v->definingNode() == n) return invalidArgument("input ", i, " %", v->name(), " is its own output (a cycle)");
        return invalidArgument("input ", i, " %", v->name(), " is used before its definition");
      }
    }
    if (static_cast<int>(n->numBlocks()) != schema->numBlocks)
      return invalidArgument("op '", n->op(), "' takes ", schema->numBlocks, " blocks, got ", n->numBlocks());
    SY_RETURN_IF_ERROR(checkAttributes(*schema, n->attrs()));
    // Nested blocks see everything defined so far (outer-scope capture).
    for (const Block* b : n->blocks()) SY_RETURN_IF_ERROR(verifyBlock(b));
    SY_ASSIGN_OR_RETURN(std::vector<Type> inferred, inferNodeTypes(*n));
    if (inferred.size() != n->numOutputs())
      return internalError("inference gave ", inferred.size(), " types for ", n->numOutputs(), " outputs");
    for (size_t i = 0; i < inferred.size(); ++i) {
      const Type& declared = n->output(i)->type();
      if (!typesCompatible(declared, inferred[i]))
        return invalidArgument("output %", n->output(i)->name(), " is declared ", declared.toString(),
                               " but the op gives ", inferred[i].toString());
    }
    if (n->op() == "weight" && n->graph()->weights().size() > 0 && !knownConstant(n->output(0))) {
      const Attribute* a = n->attr("name");
      return notFound("weight \"", a ? std::get<std::string>(*a) : std::string("?"),
                      "\" is not in the program's weights");
    }
    return Status::OK();
  }

  std::unordered_set<const Value*> defined_;
  std::unordered_set<const Value*> retired_;
};

}  // namespace

Status verify(const Graph& graph) { return Verifier().run(graph); }

}  // namespace sy
