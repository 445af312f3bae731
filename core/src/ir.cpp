#include "switchyard/ir.h"

#include <algorithm>
#include <cassert>
#include <unordered_map>

#include "switchyard/op_registry.h"

namespace sy {

// ---------------------------------------------------------------------------
// Value

Block* Value::definingBlock() const { return node_ ? node_->owningBlock() : paramOf_; }

void Value::removeUse(const Use& u) {
  auto it = std::find(uses_.begin(), uses_.end(), u);
  if (it != uses_.end()) uses_.erase(it);
}

void Value::replaceAllUsesWith(Value* other) {
  if (other == this) return;
  std::vector<Use> uses = std::move(uses_);
  uses_.clear();
  for (const Use& u : uses) {
    if (u.node) u.node->inputs_[u.index] = other;
    else u.block->returns_[u.index] = other;
    other->addUse(u);
  }
}

// ---------------------------------------------------------------------------
// Node

void Node::setInput(size_t i, Value* v) {
  Value* old = inputs_[i];
  if (old == v) return;
  if (old) old->removeUse(Use{this, nullptr, i});
  inputs_[i] = v;
  if (v) v->addUse(Use{this, nullptr, i});
}

void Node::addInput(Value* v) {
  inputs_.push_back(v);
  if (v) v->addUse(Use{this, nullptr, inputs_.size() - 1});
}

void Node::clearInputs() {
  for (size_t i = 0; i < inputs_.size(); ++i)
    if (inputs_[i]) inputs_[i]->removeUse(Use{this, nullptr, i});
  inputs_.clear();
}

Value* Node::addOutput(Type type, std::string_view nameHint) {
  Value* v = graph_->newValue(std::move(type), nameHint);
  v->node_ = this;
  v->index_ = outputs_.size();
  outputs_.push_back(v);
  return v;
}

Block* Node::addBlock(std::string label) {
  Block* b = graph_->newBlock(this, std::move(label));
  blocks_.push_back(b);
  return b;
}

const Attribute* Node::attr(std::string_view name) const {
  auto it = attrs_.find(name);
  return it == attrs_.end() ? nullptr : &it->second;
}

void Node::removeAttr(std::string_view name) {
  auto it = attrs_.find(name);
  if (it != attrs_.end()) attrs_.erase(it);
}

std::string Node::describe() const {
  std::string s = "'" + op_ + "' node";
  if (!outputs_.empty()) {
    s += " ";
    for (size_t i = 0; i < outputs_.size(); ++i) s += (i ? ", %" : "%") + outputs_[i]->name();
  }
  if (!name_.empty()) s += " \"" + name_ + "\"";
  return s;
}

// ---------------------------------------------------------------------------
// Block

Value* Block::addParam(Type type, std::string_view nameHint) {
  Value* v = graph_->newValue(std::move(type), nameHint);
  v->paramOf_ = this;
  v->index_ = params_.size();
  params_.push_back(v);
  return v;
}

void Block::appendNode(Node* node) {
  assert(node->block_ == nullptr && "node is already in a block");
  node->block_ = this;
  nodes_.push_back(node);
}

void Block::insertNodeBefore(Node* position, Node* node) {
  assert(node->block_ == nullptr && "node is already in a block");
  auto it = std::find(nodes_.begin(), nodes_.end(), position);
  node->block_ = this;
  nodes_.insert(it, node);
}

void Block::addReturn(Value* v) {
  returns_.push_back(v);
  v->addUse(Use{nullptr, this, returns_.size() - 1});
}

void Block::setReturn(size_t i, Value* v) {
  if (returns_[i] == v) return;
  returns_[i]->removeUse(Use{nullptr, this, i});
  returns_[i] = v;
  v->addUse(Use{nullptr, this, i});
}

void Block::setReturns(const std::vector<Value*>& values) {
  for (size_t i = 0; i < returns_.size(); ++i) returns_[i]->removeUse(Use{nullptr, this, i});
  returns_.clear();
  for (Value* v : values) addReturn(v);
}

// ---------------------------------------------------------------------------
// Graph

Graph::Graph(std::string name) : name_(std::move(name)) { body_ = newBlock(nullptr, "body"); }

Graph::~Graph() = default;

Value* Graph::newValue(Type type, std::string_view nameHint) {
  std::string name = uniqueName(nameHint);
  values_.push_back(std::unique_ptr<Value>(new Value(this, name, std::move(type))));
  Value* v = values_.back().get();
  valuesByName_.emplace(std::move(name), v);
  return v;
}

Block* Graph::newBlock(Node* owner, std::string label) {
  blocks_.push_back(std::unique_ptr<Block>(new Block(this, owner, std::move(label))));
  return blocks_.back().get();
}

std::string Graph::uniqueName(std::string_view hint) {
  if (hint.empty()) {
    for (;;) {
      std::string candidate = std::to_string(nextNumber_++);
      if (!valuesByName_.count(candidate)) return candidate;
    }
  }
  std::string base(hint);
  if (!valuesByName_.count(base)) return base;
  size_t& next = nextSuffix_[base];
  for (size_t i = std::max<size_t>(next, 1);; ++i) {
    std::string candidate = base + "." + std::to_string(i);
    if (!valuesByName_.count(candidate)) {
      next = i + 1;
      return candidate;
    }
  }
}

void Graph::renameValue(Value* v, std::string_view name) {
  if (v->name_ == name) return;
  valuesByName_.erase(v->name_);
  v->name_ = uniqueName(name);
  valuesByName_.emplace(v->name_, v);
}

Value* Graph::findValue(std::string_view name) const {
  auto it = valuesByName_.find(std::string(name));
  return it == valuesByName_.end() ? nullptr : it->second;
}

Node* Graph::createNode(std::string op, const std::vector<Value*>& inputs) {
  const OpSchema* schema = OpRegistry::global().find(op);
  nodes_.push_back(std::unique_ptr<Node>(new Node(this, std::move(op), schema)));
  Node* n = nodes_.back().get();
  n->slot_ = nodes_.size() - 1;
  ++liveNodes_;
  for (Value* v : inputs) n->addInput(v);
  return n;
}

void Graph::destroyNode(Node* node) {
  for (Block* b : node->blocks_) {
    // Destroy nested nodes back to front, so uses inside the block go first.
    b->setReturns({});
    while (!b->nodes_.empty()) destroyNode(b->nodes_.back());
    // The block's parameters go with it: free their names.
    for (Value* p : b->params_) {
      assert(!p->hasUses() && "destroying a block whose parameters are still used");
      valuesByName_.erase(p->name_);
    }
  }
  node->clearInputs();
  for (Value* out : node->outputs_) {
    assert(!out->hasUses() && "destroying a node whose outputs are still used");
    valuesByName_.erase(out->name_);
    out->node_ = nullptr;
  }
  if (Block* b = node->block_) {
    auto it = std::find(b->nodes_.begin(), b->nodes_.end(), node);
    if (it != b->nodes_.end()) b->nodes_.erase(it);
  }
  --liveNodes_;
  nodes_[node->slot_].reset();
}

void Graph::eraseNodesIf(Block* block, const std::function<bool(Node*)>& dead) {
  std::vector<Node*> keep, drop;
  for (Node* n : block->nodes_) (dead(n) ? drop : keep).push_back(n);
  if (drop.empty()) return;
  block->nodes_ = std::move(keep);
  // Detach first so destroyNode does not search the block; destroy users before producers.
  for (Node* n : drop) n->block_ = nullptr;
  for (auto it = drop.rbegin(); it != drop.rend(); ++it) destroyNode(*it);
}

void Graph::moveNodesBefore(Block* from, Node* before) {
  Block* target = before->block_;
  auto pos = std::find(target->nodes_.begin(), target->nodes_.end(), before);
  for (Node* n : from->nodes_) n->block_ = target;
  target->nodes_.insert(pos, from->nodes_.begin(), from->nodes_.end());
  from->nodes_.clear();
}

namespace {
void cloneBlockInto(const Block* src, Block* dst, Graph& g, std::unordered_map<const Value*, Value*>& map);

Node* cloneNode(const Node* n, Graph& g, std::unordered_map<const Value*, Value*>& map) {
  std::vector<Value*> ins;
  ins.reserve(n->numInputs());
  for (Value* v : n->inputs()) {
    auto it = map.find(v);
    ins.push_back(it == map.end() ? nullptr : it->second);
  }
  Node* c = g.createNode(n->op(), ins);
  for (const auto& [k, a] : n->attrs()) c->setAttr(k, a);
  c->setName(n->name());
  for (Value* o : n->outputs()) map[o] = c->addOutput(o->type(), o->name());
  for (Block* b : n->blocks()) cloneBlockInto(b, c->addBlock(b->label()), g, map);
  return c;
}

void cloneBlockInto(const Block* src, Block* dst, Graph& g, std::unordered_map<const Value*, Value*>& map) {
  for (Value* p : src->params()) map[p] = dst->addParam(p->type(), p->name());
  for (Node* n : src->nodes()) dst->appendNode(cloneNode(n, g, map));
  for (Value* r : src->returns()) {
    auto it = map.find(r);
    if (it != map.end()) dst->addReturn(it->second);
  }
}
}  // namespace

std::unique_ptr<Graph> Graph::clone() const {
  auto g = std::make_unique<Graph>(name_);
  std::unordered_map<const Value*, Value*> map;
  cloneBlockInto(body_, g->body(), *g, map);
  g->weights_ = weights_;
  return g;
}

void forEachNode(const Block* block, const std::function<void(Node*)>& fn) {
  for (Node* n : block->nodes()) {
    fn(n);
    for (Block* b : n->blocks()) forEachNode(b, fn);
  }
}

Node* cloneNodeInto(const Node& node, Block* dst, std::unordered_map<const Value*, Value*>& map) {
  Node* c = cloneNode(&node, *dst->graph(), map);
  dst->appendNode(c);
  return c;
}

}  // namespace sy
