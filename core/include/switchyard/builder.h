// GraphBuilder: build IR from C++ (tests, importers) with types inferred.
//
//   GraphBuilder b("mlp");
//   Value* x = b.input("x", Type::tensor(DType::F32, {Dim::symbol("N"), 4}));
//   Value* w = b.weight("fc.weight", weightTensor);
//   Value* y = b.op("relu", {b.op("matmul", {x, w})});
//   b.output(y);
//   auto graph = b.finish();  // verifies; returns the first error if any
//
// Calls never fail on the spot: a bad call records an error (returned by
// status() and finish()) and yields a placeholder value, so building code
// stays linear. Control flow:
//
//   Node* n = b.beginIf(cond);
//   b.enter(n->block(0)); b.yield({b.op("relu", {x})}); b.exit();
//   b.enter(n->block(1)); b.yield({x}); b.exit();
//   std::vector<Value*> outs = b.endIf(n);
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/ir.h"
#include "switchyard/status.h"

namespace sy {

class GraphBuilder {
 public:
  explicit GraphBuilder(std::string graphName = "main");

  Graph& graph() { return *graph_; }

  /// Adds a graph input.
  Value* input(std::string_view name, Type type);
  /// Adds a graph output.
  void output(Value* v);
  /// Registers `value` as weight `name` and returns a `weight` node's output.
  Value* weight(const std::string& name, Tensor value);
  /// A `constant` node holding `value`.
  Value* constant(Tensor value, std::string_view nameHint = {});

  /// Appends a node with one output; its type comes from shape inference.
  Value* op(std::string_view op, const std::vector<Value*>& inputs, AttrMap attrs = {},
            std::string_view nodeName = {});
  /// Appends a node with `numOutputs` outputs.
  std::vector<Value*> ops(std::string_view op, const std::vector<Value*>& inputs, AttrMap attrs,
                          size_t numOutputs, std::string_view nodeName = {});

  /// Starts an `if`; fill its blocks with enter()/yield()/exit(), then endIf().
  Node* beginIf(Value* cond);
  std::vector<Value*> endIf(Node* ifNode);
  /// Starts a `loop`; its body has parameters (iteration, cond, carried...).
  Node* beginLoop(Value* maxTripCount, Value* cond, const std::vector<Value*>& carried);
  std::vector<Value*> endLoop(Node* loopNode);

  /// Makes `block` the insertion point (nested; exit() returns to the previous one).
  void enter(Block* block);
  void exit();
  /// Sets the current block's returns.
  void yield(const std::vector<Value*>& values);
  Block* current() const { return stack_.back(); }

  /// The first error recorded, or OK.
  Status status() const { return status_; }
  /// Verifies and hands over the graph, or returns the first error.
  Result<std::unique_ptr<Graph>> finish();

 private:
  Value* placeholder();
  void fail(Status s);
  Node* appendNode(std::string_view op, const std::vector<Value*>& inputs, AttrMap attrs, std::string_view name);

  std::unique_ptr<Graph> graph_;
  std::vector<Block*> stack_;
  Status status_;
};

}  // namespace sy
