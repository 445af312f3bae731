// The Switchyard IR: a TorchScript-like SSA graph with structured control flow.
//
// A Graph owns every Node, Value and Block in it. A Block is an ordered list of
// nodes with parameters (values it receives) and returns (values it yields).
// The graph's body is its top-level block: its parameters are the graph inputs
// and its returns are the graph outputs. A node has an op name, input values,
// output values, attributes, and nested blocks (`if` has two, `loop` one).
// Every value has exactly one definition: a node output or a block parameter.
// A node may use any value defined earlier in its own block or in an enclosing
// block (outer-scope capture); the verifier checks this.
//
// Handles (Node*, Value*, Block*) stay valid until the object is destroyed or
// the graph is. A Graph is not thread-safe for mutation; a finished graph may
// be read from many threads at once.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "switchyard/attribute.h"
#include "switchyard/type.h"

namespace sy {

class Block;
class Graph;
class Node;
struct OpSchema;

/// One use of a value: input `index` of `node`, or return `index` of `block`.
struct Use {
  Node* node = nullptr;
  Block* block = nullptr;
  size_t index = 0;
  bool operator==(const Use& o) const { return node == o.node && block == o.block && index == o.index; }
};

/// An SSA value.
class Value {
 public:
  /// Unique name within the graph (printed as %name).
  const std::string& name() const { return name_; }
  const Type& type() const { return type_; }
  void setType(Type type) { type_ = std::move(type); }

  /// The node that defines this value, or nullptr for a block parameter.
  Node* definingNode() const { return node_; }
  /// The block where the value is defined (the param's block, or the defining node's block).
  Block* definingBlock() const;
  bool isBlockParam() const { return node_ == nullptr; }
  /// Output index in the defining node, or parameter index in the block.
  size_t index() const { return index_; }

  const std::vector<Use>& uses() const { return uses_; }
  bool hasUses() const { return !uses_.empty(); }
  /// Redirects every use of this value to `other`.
  void replaceAllUsesWith(Value* other);

  Graph* graph() const { return graph_; }

 private:
  friend class Graph;
  friend class Node;
  friend class Block;
  Value(Graph* g, std::string name, Type type) : graph_(g), name_(std::move(name)), type_(std::move(type)) {}
  void addUse(const Use& u) { uses_.push_back(u); }
  void removeUse(const Use& u);

  Graph* graph_;
  std::string name_;
  Type type_;
  Node* node_ = nullptr;
  Block* paramOf_ = nullptr;
  size_t index_ = 0;
  std::vector<Use> uses_;
};

/// An operation.
class Node {
 public:
  const std::string& op() const { return op_; }
  /// The op's schema; nullptr for an op unknown to the registry (the verifier rejects it).
  const OpSchema* schema() const { return schema_; }

  const std::vector<Value*>& inputs() const { return inputs_; }
  Value* input(size_t i) const { return inputs_[i]; }
  size_t numInputs() const { return inputs_.size(); }
  void setInput(size_t i, Value* v);
  void addInput(Value* v);
  /// Removes every input (and their uses).
  void clearInputs();

  const std::vector<Value*>& outputs() const { return outputs_; }
  Value* output(size_t i = 0) const { return outputs_[i]; }
  size_t numOutputs() const { return outputs_.size(); }
  /// Adds an output value; `nameHint` is made unique in the graph.
  Value* addOutput(Type type, std::string_view nameHint = {});

  const std::vector<Block*>& blocks() const { return blocks_; }
  Block* block(size_t i) const { return blocks_[i]; }
  size_t numBlocks() const { return blocks_.size(); }
  /// Adds a nested block with a label ("then", "else", "body").
  Block* addBlock(std::string label);

  const AttrMap& attrs() const { return attrs_; }
  const Attribute* attr(std::string_view name) const;
  void setAttr(std::string name, Attribute value) { attrs_[std::move(name)] = std::move(value); }
  void removeAttr(std::string_view name);

  /// Optional node name (e.g. from ONNX); used by pins and in messages.
  const std::string& name() const { return name_; }
  void setName(std::string name) { name_ = std::move(name); }

  /// The block that contains this node (nullptr while detached).
  Block* owningBlock() const { return block_; }
  Graph* graph() const { return graph_; }

  /// Short description for messages: `'relu' node %y` or `'split' node %a, %b "name"`.
  std::string describe() const;

 private:
  friend class Graph;
  friend class Block;
  friend class Value;
  Node(Graph* g, std::string op, const OpSchema* schema) : graph_(g), op_(std::move(op)), schema_(schema) {}

  Graph* graph_;
  std::string op_;
  const OpSchema* schema_;
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  std::vector<Block*> blocks_;
  AttrMap attrs_;
  std::string name_;
  Block* block_ = nullptr;
  size_t slot_ = 0;  // index in Graph::nodes_
};

/// An ordered list of nodes with parameters and returns.
class Block {
 public:
  /// Label: "body" for the graph body, "then"/"else" for `if`, "body" for `loop`.
  const std::string& label() const { return label_; }

  const std::vector<Value*>& params() const { return params_; }
  Value* param(size_t i) const { return params_[i]; }
  Value* addParam(Type type, std::string_view nameHint = {});

  const std::vector<Node*>& nodes() const { return nodes_; }
  /// Appends a detached node.
  void appendNode(Node* node);
  /// Inserts a detached node before `position` (which must be in this block).
  void insertNodeBefore(Node* position, Node* node);

  const std::vector<Value*>& returns() const { return returns_; }
  void addReturn(Value* v);
  void setReturn(size_t i, Value* v);
  void setReturns(const std::vector<Value*>& values);

  /// The node this block belongs to; nullptr for the graph body.
  Node* owningNode() const { return owner_; }
  Graph* graph() const { return graph_; }

 private:
  friend class Graph;
  friend class Node;
  friend class Value;
  Block(Graph* g, Node* owner, std::string label) : graph_(g), owner_(owner), label_(std::move(label)) {}

  Graph* graph_;
  Node* owner_;
  std::string label_;
  std::vector<Value*> params_;
  std::vector<Node*> nodes_;
  std::vector<Value*> returns_;
};

/// A whole program.
class Graph {
 public:
  explicit Graph(std::string name = "main");
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  const std::string& name() const { return name_; }
  void setName(std::string name) { name_ = std::move(name); }

  /// The top-level block.
  Block* body() const { return body_; }
  const std::vector<Value*>& inputs() const { return body_->params(); }
  const std::vector<Value*>& outputs() const { return body_->returns(); }
  Value* addInput(Type type, std::string_view nameHint = {}) { return body_->addParam(std::move(type), nameHint); }
  void addOutput(Value* v) { body_->addReturn(v); }

  /// Creates a detached node with the given inputs and no outputs; the op's
  /// schema is looked up in the registry. Insert it with Block::appendNode.
  Node* createNode(std::string op, const std::vector<Value*>& inputs = {});
  /// Removes a node and its nested blocks. Its outputs must have no uses left.
  void destroyNode(Node* node);
  /// Removes, in one pass, every node of `block` (not nested) for which `dead` is true.
  /// Their outputs must have no uses outside the removed set.
  void eraseNodesIf(Block* block, const std::function<bool(Node*)>& dead);

  /// Moves every node of `from` (in order) in front of `before`, into before's
  /// block. `from`'s returns are left as they are.
  void moveNodesBefore(Block* from, Node* before);

  /// `hint` if no value has that name yet, otherwise `hint.1`, `hint.2`, ...;
  /// an empty hint gives a number.
  std::string uniqueName(std::string_view hint);
  /// Renames a value (the new name is made unique).
  void renameValue(Value* v, std::string_view name);
  /// Finds a value by name; nullptr if none.
  Value* findValue(std::string_view name) const;

  /// Weights referenced by `weight` nodes (by their `name` attribute). The
  /// tensors usually borrow a memory-mapped safetensors file.
  const std::map<std::string, Tensor>& weights() const { return weights_; }
  void setWeight(const std::string& name, Tensor t) { weights_[name] = std::move(t); }
  void setWeights(std::map<std::string, Tensor> w) { weights_ = std::move(w); }

  /// Number of live nodes, including nested ones.
  size_t numNodes() const { return liveNodes_; }

  /// Deep copy (weights are shared, not copied).
  std::unique_ptr<Graph> clone() const;

 private:
  friend class Node;
  friend class Block;
  Value* newValue(Type type, std::string_view nameHint);
  Block* newBlock(Node* owner, std::string label);

  std::string name_;
  Block* body_ = nullptr;
  std::vector<std::unique_ptr<Node>> nodes_;  // slots; destroyed nodes leave nullptr
  std::vector<std::unique_ptr<Value>> values_;
  std::vector<std::unique_ptr<Block>> blocks_;
  std::unordered_map<std::string, Value*> valuesByName_;
  std::map<std::string, Tensor> weights_;
  size_t liveNodes_ = 0;
  size_t nextNumber_ = 0;
  /// Per name hint, the next ".k" suffix to try: many values with one hint
  /// (the outputs of one big node) would otherwise make naming quadratic.
  std::unordered_map<std::string, size_t> nextSuffix_;
};

/// Copies `node` (with its attributes, name and nested blocks) into the end of
/// `dst`, which may belong to another graph. Inputs are looked up in `map`
/// (old value -> new value; a missing one becomes a null input); the copies of
/// the node's outputs and nested values are added to `map`.
Node* cloneNodeInto(const Node& node, Block* dst, std::unordered_map<const Value*, Value*>& map);

/// Calls `fn` for every node of `block` and of its nested blocks, in program order.
void forEachNode(const Block* block, const std::function<void(Node*)>& fn);

}  // namespace sy
