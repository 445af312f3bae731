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

/// Owns a sy_graph_view of `graph` and all the memory it points to. Nodes
/// appear in pre-order (forEachNode order); nodeAt(i) maps view index i back to
/// the IR node. Compile-time constants (outputs of `constant` and `weight`
/// nodes) carry their data; the view keeps those tensors alive, so the data
/// stays valid for as long as the GraphView lives (the ABI asks for "until every
/// region compiled from it is destroyed": keep the view that long).
class GraphView {
 public:
  explicit GraphView(const Graph& graph);
  GraphView(const GraphView&) = delete;
  GraphView& operator=(const GraphView&) = delete;

  const sy_graph_view* view() const { return &view_; }
  size_t numNodes() const { return nodes_.size(); }
  const Node* nodeAt(size_t i) const { return nodes_[i]; }

 private:
  const char* keep(std::string s);
  template <typename T>
  const T* keepArray(std::vector<T> v);

  sy_graph_view view_{};
  std::vector<const Node*> nodes_;
  std::vector<const Value*> values_;
  std::vector<sy_value_info> valueInfos_;
  std::vector<sy_node_view> nodeViews_;
  std::vector<Tensor> keepalive_;
  // Stable storage for strings and arrays the views point into.
  std::deque<std::string> strings_;
  std::deque<std::shared_ptr<void>> arrays_;
};

/// sy_dtype of a DType (the enums share their numbering).
inline int32_t toAbiDType(DType d) { return static_cast<int32_t>(d); }
/// DType of a sy_dtype; false when out of range.
bool fromAbiDType(int32_t abi, DType& out);

}  // namespace sy
