// partition(): placement, control flow, region forming, give-back, transfers.
//
// Note [Partitioner]
// ~~~~~~~~~~~~~~~~~~
// Every node gets a dense index in graph pre-order (forEachNode order), so a
// node's nested nodes are the index range (g, end[g]). All per-node state is
// kept in flat vectors indexed that way; the only hashing is Node* -> index.
//
// Labels. A node's label is the backend index that runs it, or kHost for an
// `if`/`loop` that the host runs (its blocks are partitioned on their own).
// Nodes nested in an `if`/`loop` taken whole carry the same label as it.
//
// Control flow. An `if`/`loop` can go whole to backend b when b supports the
// node and every node nested in it, and no nested node is pinned elsewhere.
// The fallback (normally the reference interpreter) supports everything, so it
// could always take control flow whole; it only does so when no other backend
// supports any nested node, otherwise the host runs the node and the blocks
// are partitioned, so that e.g. the body of a loop can still run on a device.
//
// Region forming (per block) uses ready queues, one per label, ordered by the
// node's position in the block: take the label of the earliest ready node,
// open a region, and keep taking ready nodes of that label (each one may make
// more nodes ready) until none is left; close it. Every node is taken only once
// all its producers are in earlier steps or earlier in the same region, so the
// step order is a topological order of the region graph: no cycle is possible.
// Dependencies of an `if`/`loop` include the values its nested blocks capture
// from the block being formed. Cost: O(N log N) (the heaps), plus O(labels)
// per region.
//
// Give-back. A region on a backend other than the fallback is given back (its
// nodes relabelled to the fallback) when it has fewer compute nodes than
// minRegionNodes, or, for a backend that is not host visible, when the bytes it
// must move in and out (inputs from, and outputs to, another memory) cost more
// than it gains over the fallback (sum of fallback costs - sum of its costs);
// when neither side reported a cost (both sums 0) that rule does not apply.
// Regions are formed again after each round. A node only ever moves to the
// fallback, so this ends; it is also bounded by kMaxGiveBackRounds. Pinned
// nodes are never given back.
//
// Constants (Note [constants are values] in core/src/graph_view.cpp).
// `constant` and `weight` nodes are not placed: their label is kConstant, they
// belong to no region and no step, and the plugins are never asked about them
// (such a node counts as supported everywhere, so an `if`/`loop` holding one
// can still go whole to a backend). A region lists the constants it uses in
// Region::constants instead of its inputs; the runtime hands their data to the
// region at compile, so they are never transfers.
//
// Boundary cost (Note [Boundary cost] below, PartitionOptions::boundaryCost).
//
// Transfers. Per block, in step order: each region input whose producer sits
// in another memory (values from outside the block, block parameters and
// outputs of host control flow are "host"), unless both sides are host
// visible; each value a host `if`/`loop` needs from a device; each block return
// that lives on a device. A value is copied once per (block, target backend):
// later regions of the same backend reuse the copy.
#include "switchyard/partitioner.h"

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <functional>
#include <queue>
#include <sstream>

#include "switchyard/dtype.h"

namespace sy {

namespace {

constexpr int kHost = -1;      // an `if`/`loop` the host runs
constexpr int kUnplaced = -2;  // no backend supports it
constexpr int kConstant = -3;  // a constant or weight: not placed (Note [Partitioner], Constants)
constexpr int kMaxGiveBackRounds = 32;
constexpr int kMaxBoundaryRounds = 64;

/// Why a node has its label; the text is made at the end (see reasonText).
enum class Why : uint8_t {
  Priority,         // first backend in priority order that supports it
  Cost,             // lowest estimated cost
  PinOp,            // pinned by op (whyArg: pin index)
  PinNode,          // pinned by node name (whyArg: pin index)
  InsideWhole,      // nested in an if/loop taken whole (whyArg: that node's index)
  WholePriority,    // if/loop taken whole, first backend that supports all of it
  WholeCost,        // if/loop taken whole, lowest cost
  WholeFallback,    // if/loop taken whole by the fallback: nothing inside runs elsewhere
  HostControlFlow,  // if/loop run by the host (whyArg: 1 when the fallback was cheapest whole)
  GivenBack,        // region given back to the fallback (whyArg: index in giveBackReasons_)
  Boundary,         // region joined an adjacent region's backend (whyArg: index in boundaryReasons_)
  Constant,         // a constant or weight: not placed in a region
  Unsupported,      // no backend (an error is returned)
};

bool isComputeNode(const Node* n) { return n->op() != "constant" && n->op() != "weight"; }

/// Exact size of a value of type `t`, or -1 when its shape is not static.
int64_t exactBytes(const Type& t) {
  if (t.isScalar()) return static_cast<int64_t>(dtypeSize(t.dtype()));
  if (!t.rankKnown()) return -1;
  int64_t n = 1;
  for (const Dim& d : t.dims()) {
    if (!d.isStatic()) return -1;
    n *= d.value();
  }
  return n * static_cast<int64_t>(dtypeSize(t.dtype()));
}

/// Size used for cost estimates: dims that are not numbers count as 1.
double assumedBytes(const Type& t) {
  double n = 1;
  if (t.isTensor() && t.rankKnown())
    for (const Dim& d : t.dims()) n *= d.isStatic() ? static_cast<double>(d.value()) : 1.0;
  return n * static_cast<double>(dtypeSize(t.dtype()));
}

/// Calls fn(v) for every value `n` uses: its inputs, and for control flow the
/// inputs of every nested node and the returns of every nested block.
template <typename F>
void forEachUsedValue(const Node* n, F&& fn) {
  for (const Value* v : n->inputs()) fn(v);
  for (const Block* b : n->blocks()) {
    for (const Node* m : b->nodes()) forEachUsedValue(m, fn);
    for (const Value* v : b->returns()) fn(v);
  }
}

std::string seconds(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g s", s);
  return text;
}

/// Pointer -> dense index, open addressing with linear probing. The value and
/// node maps hold a million entries on big graphs; a node-based hash map spends
/// most of partition()'s time allocating and chasing its nodes.
class PointerIndex {
 public:
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    keys_.assign(cap, nullptr);
    values_.assign(cap, -1);
    mask_ = cap - 1;
  }
  void insert(const void* key, int value) {
    if (2 * (size_ + 1) > keys_.size()) grow();
    size_t i = slot(key);
    while (keys_[i] && keys_[i] != key) i = (i + 1) & mask_;
    if (!keys_[i]) ++size_;
    keys_[i] = key;
    values_[i] = value;
  }
  /// The index of `key`, or -1.
  int find(const void* key) const {
    if (keys_.empty()) return -1;
    for (size_t i = slot(key);; i = (i + 1) & mask_) {
      if (keys_[i] == key) return values_[i];
      if (!keys_[i]) return -1;
    }
  }

 private:
  size_t slot(const void* key) const {
    return static_cast<size_t>((reinterpret_cast<uintptr_t>(key) >> 3) * 0x9E3779B97F4A7C15ull >> 17) & mask_;
  }
  void grow() {
    std::vector<const void*> keys = std::move(keys_);
    std::vector<int> values = std::move(values_);
    reserve(std::max<size_t>(size_, 8) * 2);
    size_ = 0;
    for (size_t i = 0; i < keys.size(); ++i)
      if (keys[i]) insert(keys[i], values[i]);
  }
  std::vector<const void*> keys_;
  std::vector<int> values_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

/// Per-block dependency graph, computed once.
struct BlockInfo {
  const Block* block = nullptr;
  std::vector<int> nodes;        // global indices, program order
  std::vector<int> succOffsets;  // CSR over local positions
  std::vector<int> succ;
  std::vector<int> indegree;
};

/// A region while partitioning (labels instead of names).
struct RegionInfo {
  int label = 0;
  int blockId = 0;
  std::vector<int> nodes;  // global indices, execution order
  std::vector<int> inputs;   // value ids
  std::vector<int> outputs;  // value ids
  std::vector<int> constants;  // value ids of the constants it uses (Note [Partitioner], Constants)
};

class Partitioner {
 public:
  Partitioner(const Graph& graph, const std::vector<BackendCapability>& backends, const PartitionOptions& options)
      : graph_(graph), backends_(backends), options_(options), numBackends_(static_cast<int>(backends.size())) {}

  Result<PartitionPlan> run() {
    SY_RETURN_IF_ERROR(checkBackends());
    index_.reserve(graph_.numNodes());
    valueIds_.reserve(graph_.numNodes() + graph_.inputs().size() + 16);
    indexBlock(graph_.body(), -1);
    buildDependencies();
    collectSupport();
    SY_RETURN_IF_ERROR(applyPins());
    placeBlock(0);
    SY_RETURN_IF_ERROR(reportUnsupported());
    formAll();
    for (int giveBacks = 0, merges = 0;;) {
      if (giveBacks < kMaxGiveBackRounds && giveBack()) {
        ++giveBacks;
        formAll();
        continue;
      }
      // (mergeAcrossBoundaries leaves the regions formed.)
      if (options_.boundaryCost && merges < kMaxBoundaryRounds && mergeAcrossBoundaries()) {
        ++merges;
        continue;
      }
      break;
    }
    return makePlan();
  }

 private:
  // ---------------------------------------------------------------- setup

  Status checkBackends() {
    if (backends_.empty()) return invalidArgument("partition: no backends");
    for (int b = 0; b < numBackends_; ++b) {
      if (backends_[b].name.empty()) return invalidArgument("partition: backend ", b, " has no name");
      if (backends_[b].name == "host")
        return invalidArgument("partition: 'host' is reserved for control flow the host runs; rename the backend");
      for (int c = 0; c < b; ++c)
        if (backends_[c].name == backends_[b].name)
          return invalidArgument("partition: backend '", backends_[b].name, "' is listed twice");
    }
    if (!options_.fallback.empty()) {
      fallback_ = backendIndex(options_.fallback);
      if (fallback_ < 0) return invalidArgument("partition: fallback backend '", options_.fallback, "' is not among the backends (", backendList(), ")");
    }
    if (!(options_.transferCostPerByte >= 0))
      return invalidArgument("partition: transfer cost per byte must be >= 0, got ", options_.transferCostPerByte);
    if (!(options_.regionCallCost >= 0) || std::isinf(options_.regionCallCost))
      return invalidArgument("partition: region call cost must be a number of seconds >= 0, got ",
                             options_.regionCallCost);
    return Status::OK();
  }

  int backendIndex(const std::string& name) const {
    for (int b = 0; b < numBackends_; ++b)
      if (backends_[b].name == name) return b;
    return -1;
  }

  std::string backendList() const {
    std::string s;
    for (int b = 0; b < numBackends_; ++b) s += (b ? ", " : "") + backends_[b].name;
    return s;
  }

  /// Numbers the blocks, nodes (pre-order) and values; `owner` is the index
  /// of the node that owns `block`, -1 for the graph body.
  void indexBlock(const Block* block, int owner) {
    const int blockId = static_cast<int>(blocks_.size());
    blocks_.push_back(BlockInfo{});
    blocks_[blockId].block = block;
    blockIds_[block] = blockId;
    for (const Value* p : block->params()) addValue(p, -1, owner, blockId);
    for (const Node* n : block->nodes()) {
      const int g = static_cast<int>(nodes_.size());
      nodes_.push_back(n);
      index_.insert(n, g);
      parent_.push_back(owner);
      blockOf_.push_back(blockId);
      position_.push_back(static_cast<int>(blocks_[blockId].nodes.size()));
      constant_.push_back(!isComputeNode(n));
      end_.push_back(g + 1);
      firstOutput_.push_back(static_cast<int>(values_.size()));
      blocks_[blockId].nodes.push_back(g);
      for (const Value* v : n->outputs()) addValue(v, g, -1, blockId);
      for (const Block* nested : n->blocks()) indexBlock(nested, g);
      end_[g] = static_cast<int>(nodes_.size());
    }
  }

  void addValue(const Value* v, int def, int owner, int blockId) {
    valueIds_.insert(v, static_cast<int>(values_.size()));
    values_.push_back(v);
    valueDef_.push_back(def);
    valueOwner_.push_back(owner);
    valueBlock_.push_back(blockId);
  }

  int indexOf(const Node* n) const { return index_.find(n); }
  int valueId(const Value* v) const { return valueIds_.find(v); }

  /// True when value `id` is made inside node g (not by g itself): by a nested
  /// node, or as a parameter of one of its blocks.
  bool isDefinedWithin(int id, int g) const {
    const int def = valueDef_[id];
    if (def >= 0) return def > g && def < end_[g];
    const int owner = valueOwner_[id];
    return owner >= g && owner < end_[g];
  }

  /// The node of block `blockId` that is, or contains, node h.
  int ancestorIn(int h, int blockId) const {
    while (h >= 0 && blockOf_[h] != blockId) h = parent_[h];
    return h;
  }

  /// Per node, the values it uses from outside itself (control flow: nested
  /// uses included); per value, the nodes of its own block that consume it
  /// (-1: returned by the block); per block, the dependency graph. All the
  /// hashing happens here, once; region forming then works on arrays.
  void buildDependencies() {
    const int n = static_cast<int>(nodes_.size());
    useOffsets_.assign(n + 1, 0);
    uses_.clear();
    for (int g = 0; g < n; ++g) {
      const Node* node = nodes_[g];
      if (node->numBlocks() == 0) {
        for (const Value* v : node->inputs()) uses_.push_back(valueId(v));
      } else {
        forEachUsedValue(node, [&](const Value* v) {
          const int id = valueId(v);
          if (!isDefinedWithin(id, g)) uses_.push_back(id);
        });
      }
      useOffsets_[g + 1] = static_cast<int>(uses_.size());
    }
    // Consumers, from the use lists (a value used deep inside an if/loop is
    // consumed by the if/loop, seen from the value's block) and block returns.
    std::vector<std::pair<int, int>> consumed;  // (value id, consumer or -1)
    consumed.reserve(uses_.size());
    for (int g = 0; g < n; ++g)
      for (int e = useOffsets_[g]; e < useOffsets_[g + 1]; ++e)
        consumed.emplace_back(uses_[e], ancestorIn(g, valueBlock_[uses_[e]]));
    for (int blockId = 0; blockId < static_cast<int>(blocks_.size()); ++blockId) {
      const Node* owner = blocks_[blockId].block->owningNode();
      for (const Value* v : blocks_[blockId].block->returns()) {
        const int id = valueId(v);
        const int home = valueBlock_[id];
        consumed.emplace_back(id, home == blockId ? -1 : ancestorIn(indexOf(owner), home));
      }
    }
    const int numValues = static_cast<int>(values_.size());
    consumerOffsets_.assign(numValues + 1, 0);
    for (auto [id, c] : consumed) ++consumerOffsets_[id + 1];
    for (int id = 0; id < numValues; ++id) consumerOffsets_[id + 1] += consumerOffsets_[id];
    consumers_.resize(consumed.size());
    {
      std::vector<int> fill(consumerOffsets_.begin(), consumerOffsets_.end() - 1);
      for (auto [id, c] : consumed) consumers_[fill[id]++] = c;
    }
    std::vector<std::pair<int, int>> edges;
    for (int blockId = 0; blockId < static_cast<int>(blocks_.size()); ++blockId) {
      BlockInfo& info = blocks_[blockId];
      const int m = static_cast<int>(info.nodes.size());
      edges.clear();
      for (int i = 0; i < m; ++i) {
        const int g = info.nodes[i];
        for (int e = useOffsets_[g]; e < useOffsets_[g + 1]; ++e) {
          const int def = valueDef_[uses_[e]];
          if (def >= 0 && blockOf_[def] == blockId) edges.emplace_back(position_[def], i);
        }
      }
      info.succOffsets.assign(m + 1, 0);
      info.indegree.assign(m, 0);
      for (auto [from, to] : edges) {
        ++info.succOffsets[from + 1];
        ++info.indegree[to];
      }
      for (int i = 0; i < m; ++i) info.succOffsets[i + 1] += info.succOffsets[i];
      info.succ.resize(edges.size());
      std::vector<int> fill(info.succOffsets.begin(), info.succOffsets.end() - 1);
      for (auto [from, to] : edges) info.succ[fill[from]++] = to;
    }
  }

  void collectSupport() {
    const size_t n = nodes_.size();
    support_.assign(n * numBackends_, nullptr);
    for (int b = 0; b < numBackends_; ++b) {
      const auto& answers = backends_[b].nodes;
      if (answers.empty()) continue;
      for (size_t g = 0; g < n; ++g) {
        auto it = answers.find(nodes_[g]);
        if (it != answers.end()) support_[g * numBackends_ + b] = &it->second;
      }
    }
    label_.assign(n, kUnplaced);
    why_.assign(n, Why::Unsupported);
    whyArg_.assign(n, -1);
    originalLabel_.assign(n, kUnplaced);
    originalWhy_.assign(n, Why::Unsupported);
    pin_.assign(n, -1);
    region_.assign(n, -1);
    if (options_.policy == PlacementPolicy::Cost) cost_.assign(n * numBackends_, NAN);
  }

  const NodeSupport* answer(int g, int b) const { return support_[static_cast<size_t>(g) * numBackends_ + b]; }
  bool supports(int g, int b) const {
    if (constant_[g]) return true;  // never asked: every backend takes constants as data
    const NodeSupport* s = answer(g, b);
    return s && s->supported;
  }
  double nodeCost(int g, int b) const {
    const NodeSupport* s = answer(g, b);
    return s ? s->cost : 0.0;
  }
  std::string declineReason(int g, int b) const {
    const NodeSupport* s = answer(g, b);
    if (!s) return "not asked";
    if (s->supported) return "supported";
    return s->reason.empty() ? "not supported" : s->reason;
  }
  const std::string& labelName(int label) const {
    static const std::string host = "host", none = "none";
    return label >= 0 ? backends_[label].name : label == kHost || label == kConstant ? host : none;
  }
  bool hostVisible(int label) const { return label == kHost || (label >= 0 && backends_[label].hostVisible); }
  bool needsTransfer(int from, int to) const {
    return from != kConstant && from != to && (!hostVisible(from) || !hostVisible(to));
  }

  // ---------------------------------------------------------------- pins

  Status applyPins() {
    std::unordered_map<std::string, int> byOp, byName;
    std::vector<bool> matched(options_.pins.size(), false);
    for (size_t i = 0; i < options_.pins.size(); ++i) {
      const PinRule& p = options_.pins[i];
      if (p.op.empty() == p.node.empty())
        return invalidArgument("pin ", i, ": set exactly one of op and node (got op '", p.op, "', node '", p.node, "')");
      if (backendIndex(p.backend) < 0)
        return invalidArgument(pinName(static_cast<int>(i)), ": no backend named '", p.backend, "' (backends: ", backendList(), ")");
      (p.op.empty() ? byName : byOp).emplace(p.op.empty() ? p.node : p.op, static_cast<int>(i));
    }
    if (options_.pins.empty()) return Status::OK();
    for (size_t g = 0; g < nodes_.size(); ++g) {
      const Node* n = nodes_[g];
      if (constant_[g]) continue;  // constants are not placed
      int pin = -1;
      if (!n->name().empty()) {
        auto it = byName.find(n->name());
        if (it != byName.end()) pin = it->second;
      }
      if (pin < 0) {
        auto it = byOp.find(n->op());
        if (it != byOp.end()) pin = it->second;
      }
      if (pin >= 0) {
        pin_[g] = pin;
        matched[pin] = true;
      }
    }
    for (size_t i = 0; i < options_.pins.size(); ++i)
      if (!matched[i] && !options_.pins[i].node.empty())
        return notFound(pinName(static_cast<int>(i)), ": no node has that name");
    // Each pinned node must be supported by its backend (control flow: whole).
    for (int g = 0; g < static_cast<int>(nodes_.size()); ++g) {
      if (pin_[g] < 0) continue;
      const int b = backendIndex(options_.pins[pin_[g]].backend);
      if (!supports(g, b))
        return invalidArgument(pinName(pin_[g]), ": ", b >= 0 ? backends_[b].name : "?", " does not support ",
                               nodes_[g]->describe(), ": ", declineReason(g, b));
      for (int h = g + 1; h < end_[g]; ++h) {
        if (!supports(h, b))
          return invalidArgument(pinName(pin_[g]), ": ", backends_[b].name, " must run ", nodes_[g]->describe(),
                                 " whole, but does not support the nested ", nodes_[h]->describe(), ": ",
                                 declineReason(h, b));
        if (pin_[h] >= 0 && options_.pins[pin_[h]].backend != backends_[b].name)
          return invalidArgument(pinName(pin_[g]), " conflicts with ", pinName(pin_[h]), ": ",
                                 nodes_[h]->describe(), " is nested in ", nodes_[g]->describe());
      }
    }
    return Status::OK();
  }

  std::string pinName(int i) const {
    const PinRule& p = options_.pins[i];
    return p.op.empty() ? "pin node '" + p.node + "' -> " + p.backend : "pin op '" + p.op + "' -> " + p.backend;
  }

  // ---------------------------------------------------------------- placement

  /// The label a value comes from, as seen by a consumer in `block`: values
  /// from outside the block and block parameters come from the host.
  int producerLabel(int id, int blockId) const {
    const int def = valueDef_[id];
    if (def >= 0 && constant_[def]) return kConstant;
    if (def < 0 || valueBlock_[id] != blockId) return kHost;
    return label_[def];
  }

  /// Cost of the values `g` (and, for control flow, everything nested) reads
  /// from other memories if it ran on `b`.
  double inputTransferCost(int g, int b) const {
    double bytes = 0;
    for (int e = useOffsets_[g]; e < useOffsets_[g + 1]; ++e)
      if (needsTransfer(producerLabel(uses_[e], blockOf_[g]), b)) bytes += assumedBytes(values_[uses_[e]]->type());
    return bytes * options_.transferCostPerByte;
  }

  /// Whether backend b can run control-flow node g whole.
  bool takesWhole(int g, int b) const {
    if (!supports(g, b)) return false;
    for (int h = g + 1; h < end_[g]; ++h) {
      if (!supports(h, b)) return false;
      if (pin_[h] >= 0 && options_.pins[pin_[h]].backend != backends_[b].name) return false;
    }
    return true;
  }

  double wholeCost(int g, int b) const {
    double c = 0;
    for (int h = g; h < end_[g]; ++h) c += nodeCost(h, b);
    return c;
  }

  void setLabel(int g, int label, Why why, int arg = -1) {
    label_[g] = label;
    why_[g] = why;
    whyArg_[g] = arg;
  }

  void placeBlock(int blockId) {
    for (int g : blocks_[blockId].nodes) {
      if (constant_[g])
        setLabel(g, kConstant, Why::Constant);
      else if (nodes_[g]->numBlocks() > 0)
        placeControlFlow(g);
      else
        placeNode(g);
    }
  }

  void placeNode(int g) {
    if (pin_[g] >= 0) {
      const PinRule& p = options_.pins[pin_[g]];
      setLabel(g, backendIndex(p.backend), p.op.empty() ? Why::PinNode : Why::PinOp, pin_[g]);
      return;
    }
    if (options_.policy == PlacementPolicy::Priority) {
      for (int b = 0; b < numBackends_; ++b)
        if (supports(g, b)) return setLabel(g, b, Why::Priority);
      unsupported_.push_back(g);
      return;
    }
    int best = -1;
    double bestCost = 0;
    for (int b = 0; b < numBackends_; ++b) {
      if (!supports(g, b)) continue;
      const double c = nodeCost(g, b) + inputTransferCost(g, b);
      cost_[static_cast<size_t>(g) * numBackends_ + b] = c;
      if (best < 0 || c < bestCost) best = b, bestCost = c;
    }
    if (best < 0) {
      unsupported_.push_back(g);
      return;
    }
    setLabel(g, best, Why::Cost);
  }

  void placeControlFlow(int g) {
    int chosen = -1;
    Why why = Why::WholePriority;
    if (pin_[g] >= 0) {
      const PinRule& p = options_.pins[pin_[g]];
      chosen = backendIndex(p.backend);
      why = p.op.empty() ? Why::PinNode : Why::PinOp;
    } else {
      // Can anything nested run somewhere other than the fallback?
      bool nestedElsewhere = false;
      for (int h = g + 1; h < end_[g] && !nestedElsewhere; ++h) {
        if (constant_[h]) continue;  // data, not work
        if (pin_[h] >= 0 && backendIndex(options_.pins[pin_[h]].backend) != fallback_) nestedElsewhere = true;
        for (int b = 0; b < numBackends_ && !nestedElsewhere; ++b)
          if (b != fallback_ && supports(h, b)) nestedElsewhere = true;
      }
      int fallbackWhole = -1;
      if (options_.policy == PlacementPolicy::Priority) {
        for (int b = 0; b < numBackends_ && chosen < 0; ++b) {
          if (!takesWhole(g, b)) continue;
          if (b == fallback_)
            fallbackWhole = b;
          else
            chosen = b;
        }
      } else {
        why = Why::WholeCost;
        double bestCost = 0;
        for (int b = 0; b < numBackends_; ++b) {
          if (!takesWhole(g, b)) continue;
          const double c = wholeCost(g, b) + inputTransferCost(g, b);
          cost_[static_cast<size_t>(g) * numBackends_ + b] = c;
          if (chosen < 0 || c < bestCost) chosen = b, bestCost = c;
        }
        if (chosen == fallback_ && chosen >= 0 && nestedElsewhere) {
          setLabel(g, kHost, Why::HostControlFlow, 1);
          for (const Block* nested : nodes_[g]->blocks()) placeBlock(blockIds_.at(nested));
          return;
        }
        if (chosen == fallback_ && chosen >= 0) why = Why::WholeFallback;
      }
      if (chosen < 0 && fallbackWhole >= 0 && !nestedElsewhere) {
        chosen = fallbackWhole;
        why = Why::WholeFallback;
      }
    }
    if (chosen < 0) {
      setLabel(g, kHost, Why::HostControlFlow, 0);
      for (const Block* nested : nodes_[g]->blocks()) placeBlock(blockIds_.at(nested));
      return;
    }
    setLabel(g, chosen, why, pin_[g]);
    for (int h = g + 1; h < end_[g]; ++h) setLabel(h, chosen, Why::InsideWhole, g);
  }

  Status reportUnsupported() const {
    if (unsupported_.empty()) return Status::OK();
    std::ostringstream os;
    os << unsupported_.size() << (unsupported_.size() == 1 ? " node has" : " nodes have") << " no backend ("
       << (options_.fallback.empty() ? "no fallback" : "the fallback '" + options_.fallback + "' declines too")
       << "):";
    for (int g : unsupported_) {
      os << "\n  " << nodes_[g]->describe() << ":";
      for (int b = 0; b < numBackends_; ++b) os << (b ? "; " : " ") << backends_[b].name << ": " << declineReason(g, b);
    }
    return unimplemented(os.str());
  }

  // ---------------------------------------------------------------- regions

  void formAll() {
    regions_.clear();
    inputOf_.assign(values_.size(), -1);
    std::fill(region_.begin(), region_.end(), -1);
    top_ = formBlock(0);
    for (size_t r = 0; r < regions_.size(); ++r) computeRegionIO(static_cast<int>(r));
  }

  BlockPlan formBlock(int blockId) {
    const BlockInfo& info = blocks_[blockId];
    BlockPlan plan;
    plan.block = info.block;
    const int m = static_cast<int>(info.nodes.size());
    if (m == 0) return plan;
    std::vector<int> indegree = info.indegree;
    // One min-heap of local positions per label; slot numBackends_ is the host.
    using MinHeap = std::priority_queue<int, std::vector<int>, std::greater<int>>;
    std::vector<MinHeap> ready(numBackends_ + 1);
    auto slot = [&](int pos) {
      const int label = label_[info.nodes[pos]];
      return label == kHost ? numBackends_ : label;
    };
    // Constants take no step: they release their consumers up front.
    for (int i = 0; i < m; ++i)
      if (label_[info.nodes[i]] == kConstant)
        for (int e = info.succOffsets[i]; e < info.succOffsets[i + 1]; ++e) --indegree[info.succ[e]];
    for (int i = 0; i < m; ++i)
      if (indegree[i] == 0 && label_[info.nodes[i]] != kConstant) ready[slot(i)].push(i);
    auto release = [&](int pos) {
      for (int e = info.succOffsets[pos]; e < info.succOffsets[pos + 1]; ++e)
        if (--indegree[info.succ[e]] == 0) ready[slot(info.succ[e])].push(info.succ[e]);
    };
    for (;;) {
      int best = -1;
      for (int s = 0; s <= numBackends_; ++s)
        if (!ready[s].empty() && (best < 0 || ready[s].top() < ready[best].top())) best = s;
      if (best < 0) break;
      if (best == numBackends_) {
        const int pos = ready[best].top();
        ready[best].pop();
        const int g = info.nodes[pos];
        Step step;
        step.kind = Step::Kind::ControlFlow;
        step.node = nodes_[g];
        for (const Block* nested : nodes_[g]->blocks()) step.blocks.push_back(formBlock(blockIds_.at(nested)));
        plan.steps.push_back(std::move(step));
        release(pos);
        continue;
      }
      const int r = static_cast<int>(regions_.size());
      regions_.push_back(RegionInfo{});
      regions_[r].label = best;
      regions_[r].blockId = blockId;
      while (!ready[best].empty()) {
        const int pos = ready[best].top();
        ready[best].pop();
        const int g = info.nodes[pos];
        regions_[r].nodes.push_back(g);
        for (int h = g; h < end_[g]; ++h) region_[h] = r;
        release(pos);
      }
      Step step;
      step.kind = Step::Kind::Region;
      step.region = r;
      plan.steps.push_back(std::move(step));
    }
    return plan;
  }

  /// The region a value is defined in; -1 for graph inputs, parameters of
  /// blocks the host runs, and outputs of host control flow.
  int valueRegion(int id) const {
    const int def = valueDef_[id];
    if (def >= 0) return region_[def];
    const int owner = valueOwner_[id];
    return owner >= 0 ? region_[owner] : -1;
  }

  void computeRegionIO(int r) {
    RegionInfo& region = regions_[r];
    region.inputs.clear();
    region.outputs.clear();
    region.constants.clear();
    for (int g : region.nodes) {
      for (int e = useOffsets_[g]; e < useOffsets_[g + 1]; ++e) {
        const int id = uses_[e];
        if (inputOf_[id] != r && valueRegion(id) != r) {
          inputOf_[id] = r;
          (valueDef_[id] >= 0 && constant_[valueDef_[id]] ? region.constants : region.inputs).push_back(id);
        }
      }
      // Constants nested in an if/loop the region runs whole reach it as data too.
      for (int h = g + 1; h < end_[g]; ++h)
        if (constant_[h])
          for (int id = firstOutput_[h]; id < firstOutput_[h] + static_cast<int>(nodes_[h]->numOutputs()); ++id)
            region.constants.push_back(id);
    }
    for (int g : region.nodes) {
      const int first = firstOutput_[g];
      for (int id = first; id < first + static_cast<int>(nodes_[g]->numOutputs()); ++id)
        for (int e = consumerOffsets_[id]; e < consumerOffsets_[id + 1]; ++e)
          if (consumers_[e] < 0 || region_[consumers_[e]] != r) {
            region.outputs.push_back(id);
            break;
          }
    }
  }

  /// Label of consumer `c` (an entry of consumers_): the host for a block return.
  int consumerLabel(int c) const { return c < 0 ? kHost : label_[c]; }

  // ---------------------------------------------------------------- give-back

  bool giveBack() {
    if (fallback_ < 0) return false;
    bool changed = false;
    for (int r = 0; r < static_cast<int>(regions_.size()); ++r) {
      const RegionInfo& region = regions_[r];
      if (region.label == fallback_) continue;
      bool fallbackTakesAll = true;
      int64_t computeNodes = 0;
      double ownCost = 0, fallbackCost = 0;
      for (int g : region.nodes)
        for (int h = g; h < end_[g]; ++h) {
          if (pin_[h] >= 0 || !supports(h, fallback_)) fallbackTakesAll = false;
          if (isComputeNode(nodes_[h])) ++computeNodes;
          ownCost += nodeCost(h, region.label);
          fallbackCost += nodeCost(h, fallback_);
        }
      if (!fallbackTakesAll) continue;
      const std::string& name = backends_[region.label].name;
      std::string reason;
      if (computeNodes < options_.minRegionNodes) {
        reason = "region " + std::to_string(r) + " on " + name + " has " + std::to_string(computeNodes) +
                 " compute node" + (computeNodes == 1 ? "" : "s") + ", below min_region_nodes " +
                 std::to_string(options_.minRegionNodes) + ": given back to " + options_.fallback;
      } else if (!backends_[region.label].hostVisible && (ownCost > 0 || fallbackCost > 0)) {
        // (With no cost estimates at all, i.e. both sums 0, there is nothing to weigh.)
        const double bytes = crossingBytes(r);
        const double transfer = bytes * options_.transferCostPerByte;
        const double gain = fallbackCost - ownCost;
        if (transfer > gain) {
          std::ostringstream os;
          os << "moving " << static_cast<int64_t>(bytes) << " bytes in and out of region " << r << " on " << name
             << " (" << seconds(transfer) << ") costs more than it gains over " << options_.fallback << " ("
             << seconds(gain) << "): given back to " << options_.fallback;
          reason = os.str();
        }
      }
      if (reason.empty()) continue;
      const int reasonIndex = static_cast<int>(giveBackReasons_.size());
      giveBackReasons_.push_back(std::move(reason));
      for (int g : region.nodes)
        for (int h = g; h < end_[g]; ++h) {
          originalLabel_[h] = label_[h];
          originalWhy_[h] = why_[h];
          setLabel(h, fallback_, Why::GivenBack, reasonIndex);
        }
      changed = true;
    }
    return changed;
  }

  /// Bytes region r reads from, and writes to, other memories.
  double crossingBytes(int r) const {
    const RegionInfo& region = regions_[r];
    double bytes = 0;
    for (int id : region.inputs)
      if (needsTransfer(producerLabel(id, region.blockId), region.label)) bytes += assumedBytes(values_[id]->type());
    for (int id : region.outputs)
      for (int e = consumerOffsets_[id]; e < consumerOffsets_[id + 1]; ++e)
        if (needsTransfer(region.label, consumerLabel(consumers_[e]))) {
          bytes += assumedBytes(values_[id]->type());
          break;
        }
    return bytes;
  }

  // ---------------------------------------------------------------- boundary cost

  // Note [Boundary cost]
  // ~~~~~~~~~~~~~~~~~~~~
  // Placement is per node, so a backend that supports every other op of a
  // chain gets every other node: an MLP over two plugins became six
  // alternating regions, 4x slower than one plugin alone (issue #13, item 8).
  // A region boundary is not free: each region is one more plugin call (the
  // runtime's dispatch, measured by bench/runtime_bench: regionCallCost), and
  // each crossing between memories moves bytes (transferCostPerByte).
  //
  // After regions are formed, every region R on backend b that holds no
  // pinned or given-back node is weighed against the backend c of each
  // adjacent region (a producer of its inputs or a consumer of its outputs
  // in the same block) that supports all of R, except the fallback (giving
  // work back to the fallback is the give-back rule's job, with its own
  // thresholds). Moving R to c changes the plan's estimated cost by
  //   sum over R's nodes of (cost on c - cost on b)          (what b saved)
  //   + bytes R would move as c - bytes it moves as b        (its crossings)
  //   - regionCallCost * (adjacent regions of c it joins)    (calls saved)
  // and R moves when that is negative. As in the give-back rule, a pair
  // where neither side reported any cost (both sums 0) is not weighed.
  // The moves of one round go to regions not adjacent to each other, most
  // profitable first; then the regions are formed again and the whole plan's
  // estimated cost (planCost) must have dropped, else the round is undone and
  // only its best move is tried; if that does not help either, merging
  // stops. The plan's cost drops with every round, so this ends (and is
  // bounded by kMaxBoundaryRounds). Both policies get the same pass: under
  // `priority` it is what keeps a backend from taking lone nodes whose
  // crossings cost more than it saves; under `cost` it corrects the greedy
  // per-node choice, which sees only the transfers into one node.

  /// One possible move of a region to another backend.
  struct BoundaryMove {
    int region = -1;
    int to = -1;
    double delta = 0;     // change of the plan's estimated cost (negative: cheaper)
    double saved = 0;     // what the region's own backend saved over `to`
    double bytes = 0;     // bytes the region moves now
    int joins = 0;        // adjacent regions of `to`
  };

  /// Regions next to r in its block: producers of its inputs and consumers of its outputs.
  std::vector<int> adjacentRegions(int r) const {
    const RegionInfo& region = regions_[r];
    std::vector<int> out;
    auto add = [&](int other) {
      if (other >= 0 && other != r && std::find(out.begin(), out.end(), other) == out.end()) out.push_back(other);
    };
    for (int id : region.inputs)
      if (valueBlock_[id] == region.blockId && valueDef_[id] >= 0) add(region_[valueDef_[id]]);
    for (int id : region.outputs)
      for (int e = consumerOffsets_[id]; e < consumerOffsets_[id + 1]; ++e)
        if (consumers_[e] >= 0) add(region_[consumers_[e]]);
    return out;
  }

  /// Bytes region r moves between memories if it ran on `label`: inputs from
  /// another memory, and outputs some consumer in another memory needs.
  double boundaryBytes(int r, int label) const {
    const RegionInfo& region = regions_[r];
    double bytes = 0;
    for (int id : region.inputs)
      if (needsTransfer(producerLabel(id, region.blockId), label)) bytes += assumedBytes(values_[id]->type());
    for (int id : region.outputs)
      for (int e = consumerOffsets_[id]; e < consumerOffsets_[id + 1]; ++e) {
        const int c = consumers_[e];
        if ((c < 0 || region_[c] != r) && needsTransfer(label, consumerLabel(c))) {
          bytes += assumedBytes(values_[id]->type());
          break;
        }
      }
    return bytes;
  }

  /// The plan's estimated cost: every placed node on its backend, one call
  /// per region, and the bytes every region moves in (and out to the host).
  double planCost() const {
    double total = options_.regionCallCost * static_cast<double>(regions_.size());
    for (int g = 0; g < static_cast<int>(nodes_.size()); ++g)
      if (label_[g] >= 0) total += nodeCost(g, label_[g]);
    double bytes = 0;
    for (const RegionInfo& region : regions_) {
      for (int id : region.inputs)
        if (needsTransfer(producerLabel(id, region.blockId), region.label)) bytes += assumedBytes(values_[id]->type());
      for (int id : region.outputs)
        for (int e = consumerOffsets_[id]; e < consumerOffsets_[id + 1]; ++e)
          if (consumerLabel(consumers_[e]) == kHost && needsTransfer(region.label, kHost)) {
            bytes += assumedBytes(values_[id]->type());
            break;
          }
    }
    return total + bytes * options_.transferCostPerByte;
  }

  /// The best move of region r, or one with region -1 when no move pays.
  BoundaryMove bestMove(int r) const {
    BoundaryMove best;
    const RegionInfo& region = regions_[r];
    for (int g : region.nodes)
      for (int h = g; h < end_[g]; ++h)
        if (pin_[h] >= 0 || why_[h] == Why::GivenBack) return best;
    const std::vector<int> adjacent = adjacentRegions(r);
    std::vector<int> tried;
    const double bytesNow = boundaryBytes(r, region.label);
    for (int other : adjacent) {
      const int c = regions_[other].label;
      if (c == region.label || c == fallback_ || std::find(tried.begin(), tried.end(), c) != tried.end()) continue;
      tried.push_back(c);
      bool all = true;
      double own = 0, alt = 0;
      for (int g : region.nodes)
        for (int h = g; h < end_[g] && all; ++h) {
          if (!supports(h, c)) all = false;
          own += nodeCost(h, region.label);
          alt += nodeCost(h, c);
        }
      if (!all || (own == 0 && alt == 0)) continue;
      int joins = 0;
      for (int o : adjacent) joins += regions_[o].label == c;
      const double delta = (alt - own) + (boundaryBytes(r, c) - bytesNow) * options_.transferCostPerByte -
                           options_.regionCallCost * joins;
      if (delta < 0 && (best.region < 0 || delta < best.delta)) {
        best.region = r;
        best.to = c;
        best.delta = delta;
        best.saved = alt - own;
        best.bytes = bytesNow;
        best.joins = joins;
      }
    }
    return best;
  }

  void applyMove(const BoundaryMove& m) {
    const RegionInfo& region = regions_[m.region];
    int64_t computeNodes = 0;
    for (int g : region.nodes)
      for (int h = g; h < end_[g]; ++h) computeNodes += isComputeNode(nodes_[h]);
    std::ostringstream os;
    os << "region " << m.region << " on " << backends_[region.label].name << " (" << computeNodes << " compute node"
       << (computeNodes == 1 ? "" : "s") << ") joins " << (m.joins == 1 ? "its neighbour" : "its neighbours") << " on "
       << backends_[m.to].name << ": its boundary (" << seconds(options_.regionCallCost) << " per region call, "
       << static_cast<int64_t>(m.bytes) << " bytes moved) costs more than it saves over " << backends_[m.to].name
       << " (" << seconds(m.saved) << ")";
    const int reasonIndex = static_cast<int>(boundaryReasons_.size());
    boundaryReasons_.push_back(os.str());
    for (int g : region.nodes)
      for (int h = g; h < end_[g]; ++h) {
        originalLabel_[h] = label_[h];
        originalWhy_[h] = why_[h];
        setLabel(h, m.to, Why::Boundary, reasonIndex);
      }
  }

  /// One round of Note [Boundary cost]; true when the plan changed (and the
  /// regions are formed again), false when nothing pays (regions as they were).
  bool mergeAcrossBoundaries() {
    std::vector<BoundaryMove> moves;
    for (int r = 0; r < static_cast<int>(regions_.size()); ++r) {
      BoundaryMove m = bestMove(r);
      if (m.region >= 0) moves.push_back(m);
    }
    if (moves.empty()) return false;
    std::stable_sort(moves.begin(), moves.end(),
                     [](const BoundaryMove& a, const BoundaryMove& b) { return a.delta < b.delta; });
    const double before = planCost();
    const std::vector<int> labels = label_, whyArgs = whyArg_, originalLabels = originalLabel_;
    const std::vector<Why> whys = why_, originalWhys = originalWhy_;
    const size_t reasons = boundaryReasons_.size();
    auto undo = [&] {
      label_ = labels;
      whyArg_ = whyArgs;
      originalLabel_ = originalLabels;
      why_ = whys;
      originalWhy_ = originalWhys;
      boundaryReasons_.resize(reasons);
    };
    // Moves of regions that are not adjacent to each other, best first.
    std::vector<char> touched(regions_.size(), 0);
    std::vector<BoundaryMove> chosen;
    for (const BoundaryMove& m : moves) {
      const std::vector<int> adjacent = adjacentRegions(m.region);
      bool free = !touched[m.region];
      for (int o : adjacent) free = free && !touched[o];
      if (!free) continue;
      chosen.push_back(m);
      touched[m.region] = 1;
      for (int o : adjacent) touched[o] = 1;
    }
    for (const BoundaryMove& m : chosen) applyMove(m);
    formAll();
    const double tolerance = 1e-9 * std::abs(before);
    if (planCost() < before - tolerance) return true;
    if (chosen.size() > 1) {
      // The moves interfered: try the best one alone.
      undo();
      formAll();
      applyMove(chosen.front());
      formAll();
      if (planCost() < before - tolerance) return true;
    }
    undo();
    formAll();
    return false;
  }

  // ---------------------------------------------------------------- the plan

  PartitionPlan makePlan() {
    PartitionPlan plan;
    plan.regions.reserve(regions_.size());
    for (size_t r = 0; r < regions_.size(); ++r) {
      RegionInfo& info = regions_[r];
      Region region;
      region.id = static_cast<int>(r);
      region.backend = backends_[info.label].name;
      region.block = blocks_[info.blockId].block;
      region.nodes.reserve(info.nodes.size());
      for (int g : info.nodes) region.nodes.push_back(nodes_[g]);
      region.inputs.reserve(info.inputs.size());
      for (int id : info.inputs) region.inputs.push_back(values_[id]);
      region.outputs.reserve(info.outputs.size());
      for (int id : info.outputs) region.outputs.push_back(values_[id]);
      region.constants.reserve(info.constants.size());
      for (int id : info.constants) region.constants.push_back(values_[id]);
      plan.regions.push_back(std::move(region));
    }
    plan.top = std::move(top_);
    doneBlock_.assign(values_.size(), -1);
    doneTargets_.resize(values_.size());
    addTransfers(plan.top, plan);
    plan.placements.reserve(nodes_.size());
    for (int g = 0; g < static_cast<int>(nodes_.size()); ++g) {
      NodePlacement p;
      p.node = nodes_[g];
      p.backend = labelName(label_[g]);
      p.region = region_[g];
      p.reason = reasonText(g);
      p.declined = declinedList(g);
      plan.placements.push_back(std::move(p));
    }
    return plan;
  }

  void addTransfers(const BlockPlan& blockPlan, PartitionPlan& plan) {
    const Block* block = blockPlan.block;
    const int blockId = blockIds_.at(block);
    // A value is copied once per (block, target): a per-value stamp says which
    // block the targets in doneTargets_ belong to.
    auto add = [&](int id, int to, int toRegion, const Node* toNode) {
      const int from = producerLabel(id, blockId);
      if (!needsTransfer(from, to)) return;
      if (doneBlock_[id] != blockId) {
        doneBlock_[id] = blockId;
        doneTargets_[id].clear();
      }
      auto& targets = doneTargets_[id];
      if (std::find(targets.begin(), targets.end(), to) != targets.end()) return;
      targets.push_back(to);
      const Value* v = values_[id];
      TransferStep t;
      t.value = v;
      t.fromBackend = labelName(from);
      t.toBackend = labelName(to);
      t.toRegion = toRegion;
      t.bytes = exactBytes(v->type());
      t.toNode = toNode;
      t.block = block;
      plan.transfers.push_back(std::move(t));
    };
    for (const Step& step : blockPlan.steps) {
      if (step.kind == Step::Kind::Region) {
        const RegionInfo& region = regions_[step.region];
        for (int id : region.inputs) add(id, region.label, step.region, nullptr);
        continue;
      }
      const int g = indexOf(step.node);
      for (int e = useOffsets_[g]; e < useOffsets_[g + 1]; ++e) add(uses_[e], kHost, -1, step.node);
    }
    for (const Value* v : block->returns()) add(valueId(v), kHost, -1, nullptr);
    // Nested blocks after this block's own copies (their stamps would clash otherwise).
    for (const Step& step : blockPlan.steps)
      for (const BlockPlan& nested : step.blocks) addTransfers(nested, plan);
  }

  std::string costList(int g, int except) const {
    std::string out;
    for (int b = 0; b < numBackends_; ++b) {
      const double c = cost_[static_cast<size_t>(g) * numBackends_ + b];
      if (b == except || std::isnan(c)) continue;
      out += (out.empty() ? "vs " : ", ") + backends_[b].name + " " + seconds(c);
    }
    return out.empty() ? "no other backend supports it" : out;
  }

  double storedCost(int g, int b) const {
    return cost_.empty() ? NAN : cost_[static_cast<size_t>(g) * numBackends_ + b];
  }

  std::string wholeWhat(int g) const {
    const int nested = end_[g] - g - 1;
    return "the whole '" + nodes_[g]->op() + "' (the node and its " + std::to_string(nested) + " nested node" +
           (nested == 1 ? ")" : "s)");
  }

  std::string reasonText(int g) const {
    const int label = label_[g];
    switch (why_[g]) {
      case Why::Priority: return "first backend in priority order that supports it";
      case Why::Cost:
        return "lowest estimated cost (" + seconds(storedCost(g, label)) + "; " + costList(g, label) + ")";
      case Why::PinOp: return "pinned by op '" + options_.pins[whyArg_[g]].op + "'";
      case Why::PinNode: return "pinned by node '" + options_.pins[whyArg_[g]].node + "'";
      case Why::InsideWhole:
        return "inside " + nodes_[whyArg_[g]]->describe() + ", which runs whole on " + labelName(label);
      case Why::WholePriority: return "first backend in priority order that supports " + wholeWhat(g);
      case Why::WholeCost:
        return "lowest estimated cost for " + wholeWhat(g) + " (" + seconds(storedCost(g, label)) + "; " +
               costList(g, label) + ")";
      case Why::WholeFallback:
        return "no backend but the fallback supports " + wholeWhat(g) +
               ", and nothing inside it runs elsewhere: the fallback runs it whole";
      case Why::HostControlFlow:
        return whyArg_[g] == 1
                   ? "the fallback is the cheapest for " + wholeWhat(g) +
                         ", but nested nodes can run on other backends: the host runs it and its blocks are partitioned"
                   : "no backend but the fallback supports " + wholeWhat(g) +
                         ": the host runs it and its blocks are partitioned";
      case Why::GivenBack: return giveBackReasons_[whyArg_[g]];
      case Why::Boundary: return boundaryReasons_[whyArg_[g]];
      case Why::Constant:
        return "constant data: not placed in a region; the host keeps it and every region that uses it receives "
               "it at compile";
      case Why::Unsupported: return "no backend supports it";
    }
    return "";
  }

  /// Why control-flow node g cannot go whole to b, or "" when it can.
  std::string notWholeReason(int g, int b) const {
    if (!supports(g, b)) return declineReason(g, b);
    for (int h = g + 1; h < end_[g]; ++h) {
      if (!supports(h, b)) return "does not support the nested " + nodes_[h]->describe() + ": " + declineReason(h, b);
      if (pin_[h] >= 0 && options_.pins[pin_[h]].backend != backends_[b].name)
        return "the nested " + nodes_[h]->describe() + " is pinned to " + options_.pins[pin_[h]].backend;
    }
    return "";
  }

  std::vector<std::pair<std::string, std::string>> declinedList(int g) const {
    std::vector<std::pair<std::string, std::string>> out;
    const int label = label_[g];
    if (label == kConstant) return out;  // no backend was asked
    const bool controlFlow = nodes_[g]->numBlocks() > 0;
    Why why = why_[g];
    if (why == Why::GivenBack || why == Why::Boundary) why = originalWhy_[g];
    out.reserve(numBackends_);
    for (int b = 0; b < numBackends_; ++b) {
      if (b == label) continue;
      std::string text;
      if (why_[g] == Why::GivenBack && b == originalLabel_[g]) {
        text = "placed here first, but its region was given back";
      } else if (why_[g] == Why::Boundary && b == originalLabel_[g]) {
        text = "placed here first, but crossing to it costs more than it saves (boundary cost)";
      } else if (controlFlow && why != Why::InsideWhole) {
        text = notWholeReason(g, b);
        if (text.empty()) {
          switch (why) {
            case Why::PinOp:
            case Why::PinNode: text = "supports it whole, but the node is pinned to " + labelName(label); break;
            case Why::WholeCost: text = "supports it whole, but costlier (" + seconds(storedCost(g, b)) + ")"; break;
            case Why::HostControlFlow:
              text = "supports it whole, but nested nodes can run on other backends: its blocks are partitioned instead";
              break;
            default: text = "supports it whole, but ranked lower"; break;
          }
        }
      } else if (!supports(g, b)) {
        text = declineReason(g, b);
      } else {
        switch (why) {
          case Why::PinOp:
          case Why::PinNode: text = "supported, but the node is pinned to " + labelName(label); break;
          case Why::Cost: text = "supported, but costlier (" + seconds(storedCost(g, b)) + ")"; break;
          case Why::InsideWhole:
            text = "supported, but the enclosing " + nodes_[whyArg_[g]]->describe() + " runs whole on " +
                   labelName(label_[whyArg_[g]]);
            break;
          default: text = "supported, but ranked lower"; break;
        }
      }
      out.emplace_back(backends_[b].name, std::move(text));
    }
    return out;
  }

  const Graph& graph_;
  const std::vector<BackendCapability>& backends_;
  const PartitionOptions& options_;
  const int numBackends_;
  int fallback_ = -1;

  // Indexing (Note [Partitioner]).
  std::vector<const Node*> nodes_;  // pre-order
  PointerIndex index_;
  std::vector<int> end_;       // one past the last nested node
  std::vector<int> parent_;    // the if/loop whose block holds the node; -1 at top level
  std::vector<int> firstOutput_;  // value id of output 0
  std::vector<const Value*> values_;  // by value id: node outputs and block parameters
  PointerIndex valueIds_;
  std::vector<int> valueDef_;    // defining node, -1 for a parameter
  std::vector<int> valueOwner_;  // parameter: the node owning its block (-1: graph body)
  std::vector<int> valueBlock_;  // block id where defined
  std::vector<int> useOffsets_, uses_;            // per node: external uses (value ids)
  std::vector<int> consumerOffsets_, consumers_;  // per value: consuming node of its block, -1 = returned
  std::vector<int> blockOf_;   // index in blocks_
  std::vector<int> position_;  // position in its block
  std::vector<char> constant_;  // a constant or weight node (not placed)
  std::vector<BlockInfo> blocks_;
  std::unordered_map<const Block*, int> blockIds_;

  // Capabilities and placement.
  std::vector<const NodeSupport*> support_;  // [node * numBackends_ + backend]
  std::vector<double> cost_;                 // Cost policy: estimated cost per [node, backend]
  std::vector<int> pin_;
  std::vector<int> label_;
  std::vector<Why> why_;
  std::vector<int> whyArg_;
  std::vector<int> originalLabel_;  // before a give-back
  std::vector<Why> originalWhy_;
  std::vector<int> unsupported_;
  std::vector<std::string> giveBackReasons_;
  std::vector<std::string> boundaryReasons_;

  // Regions (rebuilt each give-back round).
  std::vector<RegionInfo> regions_;
  std::vector<int> region_;
  BlockPlan top_;
  std::vector<int> inputOf_;  // per value: the last region that took it as input
  std::vector<int> doneBlock_;  // per value: the block whose copies doneTargets_ lists
  std::vector<std::vector<int>> doneTargets_;
};

}  // namespace

Result<PartitionPlan> partition(const Graph& graph, const std::vector<BackendCapability>& backends,
                                const PartitionOptions& options) {
  Partitioner p(graph, backends, options);
  return p.run();
}

}  // namespace sy
