// A C view (sy_graph_view, from the plugin ABI) of an IR graph, built by the
// host to ask plugins what they support and to hand them regions to compile.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "switchyard/ir.h"
#include "switchyard/plugin.h"

namespace sy {

/// How `constant` and `weight` nodes appear in a view (Note [constants are
/// values] in graph_view.cpp).
enum class ConstantsIn {
  /// ABI 1.1 and later: no constant/weight node is in the view; each of their
  /// outputs the graph uses is a value with constant_data that is neither a
  /// parameter nor produced by a node.
  Values,
  /// ABI 1.0: constant/weight nodes are nodes of the view (their outputs carry
  /// constant_data too). Only for plugins built against minor 0.
  Nodes,
};

/// The view to give a plugin built against ABI minor `abiMinor`.
inline ConstantsIn constantsInFor(uint32_t abiMinor) {
  return abiMinor >= 1 ? ConstantsIn::Values : ConstantsIn::Nodes;
}

/// Owns a sy_graph_view of `graph` and all the memory it points to. Nodes
/// appear in pre-order (forEachNode order); nodeAt(i) maps view index i back to
/// the IR node. Compile-time constants (outputs of `constant` and `weight`
/// nodes) carry their data; the view keeps those tensors alive, so the data
/// stays valid for as long as the GraphView lives (the ABI asks for "until every
/// region compiled from it is destroyed": keep the view that long).
class GraphView {
 public:
  explicit GraphView(const Graph& graph, ConstantsIn constants = ConstantsIn::Values);
  GraphView(const GraphView&) = delete;
  GraphView& operator=(const GraphView&) = delete;

  const sy_graph_view* view() const { return &view_; }
  size_t numNodes() const { return nodes_.size(); }
  const Node* nodeAt(size_t i) const { return nodes_[i]; }
  /// How constants appear in this view.
  ConstantsIn constantsIn() const { return constants_; }

 private:
  const char* keep(std::string s);
  template <typename T>
  const T* keepArray(std::vector<T> v);

  sy_graph_view view_{};
  ConstantsIn constants_ = ConstantsIn::Values;
  std::vector<const Node*> nodes_;
  std::vector<const Value*> values_;
  std::vector<sy_value_info> valueInfos_;
  std::vector<sy_node_view> nodeViews_;
  std::vector<Tensor> keepalive_;
  // Stable storage for strings and arrays the views point into.
  std::deque<std::string> strings_;
  std::deque<std::shared_ptr<void>> arrays_;
};

/// The ABI minor that introduced `d` (u8, i16, u16, u32, u64, f64: 2; the rest: 0).
inline uint32_t abiMinorOf(DType d) { return static_cast<int>(d) > SY_DTYPE_BOOL ? 2u : 0u; }
/// Empty when a plugin built against ABI minor `abiMinor` knows every dtype
/// `node` (and any block it holds) reads or writes; else why the host declines
/// the node for it ("dtype u8 needs a plugin of ABI 1.2 or later ..."). The host
/// never hands such a plugin a dtype newer than its minor: see plugin.h.
std::string dtypeTooNewFor(const Node* node, uint32_t abiMinor);

/// sy_dtype of a DType (the enums share their numbering).
inline int32_t toAbiDType(DType d) { return static_cast<int32_t>(d); }
/// DType of a sy_dtype; false when out of range.
bool fromAbiDType(int32_t abi, DType& out);

}  // namespace sy
