#include "switchyard/builder.h"

#include "switchyard/op_registry.h"
#include "switchyard/verifier.h"

namespace sy {

GraphBuilder::GraphBuilder(std::string graphName) : graph_(std::make_unique<Graph>(std::move(graphName))) {
  stack_.push_back(graph_->body());
}

void GraphBuilder::fail(Status s) {
  if (status_.ok()) status_ = std::move(s);
}

Value* GraphBuilder::placeholder() {
  // An unranked value that keeps later calls well-formed after an error.
  Node* n = graph_->createNode("constant");
  n->setAttr("value", Tensor::scalarF32(0));
  current()->appendNode(n);
  return n->addOutput(Type::tensor(DType::F32, {}), "error");
}

Value* GraphBuilder::input(std::string_view name, Type type) {
  if (stack_.size() != 1) fail(invalidArgument("graph inputs can only be added at the top level"));
  return graph_->addInput(std::move(type), name);
}

void GraphBuilder::output(Value* v) {
  if (!v) return fail(invalidArgument("output(): null value"));
  graph_->addOutput(v);
}

Value* GraphBuilder::weight(const std::string& name, Tensor value) {
  if (!value.valid()) {
    fail(invalidArgument("weight \"", name, "\": no tensor"));
    return placeholder();
  }
  if (graph_->weights().count(name)) fail(invalidArgument("weight \"", name, "\" added twice"));
  Type t = typeOf(value);
  graph_->setWeight(name, std::move(value));
  Node* n = graph_->createNode("weight");
  n->setAttr("name", name);
  current()->appendNode(n);
  return n->addOutput(std::move(t), name);
}

Value* GraphBuilder::constant(Tensor value, std::string_view nameHint) {
  if (!value.valid()) {
    fail(invalidArgument("constant(): no tensor"));
    return placeholder();
  }
  Type t = typeOf(value);
  Node* n = graph_->createNode("constant");
  n->setAttr("value", std::move(value));
  current()->appendNode(n);
  return n->addOutput(std::move(t), nameHint);
}

Node* GraphBuilder::appendNode(std::string_view op, const std::vector<Value*>& inputs, AttrMap attrs,
                               std::string_view name) {
  for (Value* v : inputs)
    if (!v) {
      fail(invalidArgument("'", op, "': null input"));
      return nullptr;
    }
  Node* n = graph_->createNode(std::string(op), inputs);
  for (auto& [k, a] : attrs) n->setAttr(k, std::move(a));
  n->setName(std::string(name));
  current()->appendNode(n);
  return n;
}

Value* GraphBuilder::op(std::string_view op, const std::vector<Value*>& inputs, AttrMap attrs,
                        std::string_view nodeName) {
  auto outs = ops(op, inputs, std::move(attrs), 1, nodeName);
  return outs.empty() ? placeholder() : outs[0];
}

std::vector<Value*> GraphBuilder::ops(std::string_view op, const std::vector<Value*>& inputs, AttrMap attrs,
                                      size_t numOutputs, std::string_view nodeName) {
  std::vector<Value*> outs;
  Node* n = appendNode(op, inputs, std::move(attrs), nodeName);
  if (!n) {
    for (size_t i = 0; i < numOutputs; ++i) outs.push_back(placeholder());
    return outs;
  }
  for (size_t i = 0; i < numOutputs; ++i) outs.push_back(n->addOutput(Type::tensorUnranked(DType::F32)));
  auto types = inferNodeTypes(*n);
  if (!types.ok()) {
    fail(types.status().withContext(n->describe()));
    return outs;
  }
  for (size_t i = 0; i < numOutputs; ++i) outs[i]->setType((*types)[i]);
  return outs;
}

Node* GraphBuilder::beginIf(Value* cond) {
  Node* n = appendNode("if", {cond}, {}, {});
  if (!n) n = appendNode("if", {placeholder()}, {}, {});
  n->addBlock("then");
  n->addBlock("else");
  return n;
}

std::vector<Value*> GraphBuilder::endIf(Node* n) {
  std::vector<Value*> outs;
  const size_t count = n->block(0)->returns().size();
  for (size_t i = 0; i < count; ++i) outs.push_back(n->addOutput(Type::tensorUnranked(DType::F32)));
  auto types = inferNodeTypes(*n);
  if (!types.ok()) {
    fail(types.status().withContext(n->describe()));
    return outs;
  }
  for (size_t i = 0; i < count; ++i) outs[i]->setType((*types)[i]);
  return outs;
}

Node* GraphBuilder::beginLoop(Value* maxTripCount, Value* cond, const std::vector<Value*>& carried) {
  std::vector<Value*> inputs{maxTripCount, cond};
  inputs.insert(inputs.end(), carried.begin(), carried.end());
  Node* n = appendNode("loop", inputs, {}, {});
  if (!n) n = appendNode("loop", {placeholder(), placeholder()}, {}, {});
  Block* body = n->addBlock("body");
  body->addParam(Type::scalar(DType::I64), "iter");
  body->addParam(Type::scalar(DType::Bool), "cond");
  for (Value* c : carried)
    if (c) body->addParam(c->type(), c->name());
  return n;
}

std::vector<Value*> GraphBuilder::endLoop(Node* n) {
  std::vector<Value*> outs;
  const size_t carried = n->numInputs() - 2;
  const size_t yields = n->block(0)->returns().size();
  const size_t count = yields >= 1 + carried ? yields - 1 : carried;
  for (size_t i = 0; i < count; ++i) outs.push_back(n->addOutput(Type::tensorUnranked(DType::F32)));
  auto types = inferNodeTypes(*n);
  if (!types.ok()) {
    fail(types.status().withContext(n->describe()));
    return outs;
  }
  for (size_t i = 0; i < count; ++i) outs[i]->setType((*types)[i]);
  return outs;
}

void GraphBuilder::enter(Block* block) { stack_.push_back(block); }

void GraphBuilder::exit() {
  if (stack_.size() <= 1) return fail(invalidArgument("exit() without enter()"));
  stack_.pop_back();
}

void GraphBuilder::yield(const std::vector<Value*>& values) {
  for (Value* v : values)
    if (!v) return fail(invalidArgument("yield(): null value"));
  current()->setReturns(values);
}

Result<std::unique_ptr<Graph>> GraphBuilder::finish() {
  if (!status_.ok()) return status_;
  if (stack_.size() != 1) return invalidArgument("finish(): ", stack_.size() - 1, " blocks still entered");
  SY_RETURN_IF_ERROR(verify(*graph_));
  return std::move(graph_);
}

}  // namespace sy
