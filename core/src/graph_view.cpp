#include "switchyard/graph_view.h"

#include <functional>
#include <optional>
#include <unordered_map>

#include "switchyard/verifier.h"

namespace sy {

static_assert(static_cast<int>(DType::F32) == SY_DTYPE_F32 && static_cast<int>(DType::F16) == SY_DTYPE_F16 &&
                  static_cast<int>(DType::BF16) == SY_DTYPE_BF16 && static_cast<int>(DType::I8) == SY_DTYPE_I8 &&
                  static_cast<int>(DType::I32) == SY_DTYPE_I32 && static_cast<int>(DType::I64) == SY_DTYPE_I64 &&
                  static_cast<int>(DType::Bool) == SY_DTYPE_BOOL && static_cast<int>(DType::U8) == SY_DTYPE_U8 &&
                  static_cast<int>(DType::I16) == SY_DTYPE_I16 && static_cast<int>(DType::U16) == SY_DTYPE_U16 &&
                  static_cast<int>(DType::U32) == SY_DTYPE_U32 && static_cast<int>(DType::U64) == SY_DTYPE_U64 &&
                  static_cast<int>(DType::F64) == SY_DTYPE_F64,
              "DType and sy_dtype must share their numbering");
static_assert(static_cast<int>(AttrKind::Int) == SY_ATTR_INT && static_cast<int>(AttrKind::Tensor) == SY_ATTR_TENSOR &&
                  static_cast<int>(AttrKind::Strings) == SY_ATTR_STRINGS,
              "AttrKind and sy_attr_kind must share their numbering");

bool fromAbiDType(int32_t abi, DType& out) {
  if (abi < 0 || abi > SY_DTYPE_F64) return false;
  out = static_cast<DType>(abi);
  return true;
}

std::string dtypeTooNewFor(const Node* node, uint32_t abiMinor) {
  std::optional<DType> newest;
  auto see = [&](const Value* v) {
    if (!v || !v->type().isTensor()) return;
    const DType d = v->type().dtype();
    if (abiMinorOf(d) > abiMinor && !newest) newest = d;
  };
  std::function<void(const Node*)> walk = [&](const Node* n) {
    for (const Value* v : n->inputs()) see(v);
    for (const Value* v : n->outputs()) see(v);
    for (const Block* b : n->blocks()) {
      for (const Value* v : b->params()) see(v);
      for (const Node* inner : b->nodes()) walk(inner);
    }
  };
  walk(node);
  if (!newest) return "";
  return "dtype " + std::string(dtypeName(*newest)) + " needs a plugin built against ABI 1." +
         std::to_string(abiMinorOf(*newest)) + " or later (this one: 1." + std::to_string(abiMinor) + ")";
}

const char* GraphView::keep(std::string s) {
  strings_.push_back(std::move(s));
  return strings_.back().c_str();
}

template <typename T>
const T* GraphView::keepArray(std::vector<T> v) {
  if (v.empty()) return nullptr;
  auto p = std::make_shared<std::vector<T>>(std::move(v));
  const T* data = p->data();
  arrays_.push_back(std::move(p));
  return data;
}

// Note [constants are values]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Since ABI 1.1 a plugin never sees a `constant` or `weight` node: not in the
// capability query (so it is never asked to claim one) and not in a region it
// compiles. Each constant a graph uses is a value of the view with
// constant_data/constant_bytes set that is neither a parameter of any block
// nor an output of any node; a plugin uploads or packs it at compile, once,
// and execute never receives it. The partitioner does not place constant nodes
// in regions either; a region lists the constants it uses (Region::constants)
// and the runtime keeps them in host memory for whoever needs them. Plugins
// built against ABI 1.0 get the old view (ConstantsIn::Nodes): constant nodes
// inside, as they were written for.
GraphView::GraphView(const Graph& graph, ConstantsIn constants) : constants_(constants) {
  const bool skipConstants = constants == ConstantsIn::Values;
  auto isConstantNode = [](const Node* n) { return n->op() == "constant" || n->op() == "weight"; };
  // Number nodes (pre-order) and values (params first, then outputs, in program order).
  std::unordered_map<const Value*, int32_t> index;
  auto addValue = [&](const Value* v) {
    if (index.emplace(v, static_cast<int32_t>(values_.size())).second) values_.push_back(v);
  };
  std::function<void(const Block*)> number = [&](const Block* b) {
    for (const Value* p : b->params()) addValue(p);
    for (const Node* n : b->nodes()) {
      if (skipConstants && isConstantNode(n)) {
        for (const Value* o : n->outputs()) addValue(o);
        continue;
      }
      nodes_.push_back(n);
      for (const Value* o : n->outputs()) addValue(o);
      for (const Block* nb : n->blocks()) number(nb);
    }
  };
  number(graph.body());
  // A value used but not defined in the graph (never in a verified graph) still gets an entry.
  forEachNode(graph.body(), [&](Node* n) {
    for (const Value* v : n->inputs()) addValue(v);
  });

  valueInfos_.resize(values_.size());
  for (size_t i = 0; i < values_.size(); ++i) {
    const Value* v = values_[i];
    sy_value_info& info = valueInfos_[i];
    info.struct_size = sizeof(sy_value_info);
    info.name = keep(v->name());
    const Type& t = v->type();
    info.dtype = toAbiDType(t.dtype());
    info.rank = static_cast<int32_t>(t.rank());
    if (t.rankKnown()) {
      std::vector<int64_t> dims;
      std::vector<const char*> symbols;
      for (const Dim& d : t.dims()) {
        dims.push_back(d.isStatic() ? d.value() : -1);
        symbols.push_back(d.isSymbol() ? keep(d.symbolName()) : nullptr);
      }
      info.dims = keepArray(std::move(dims));
      info.dim_symbols = keepArray(std::move(symbols));
    }
    if (const Tensor* c = knownConstant(v)) {
      keepalive_.push_back(*c);
      info.constant_data = c->data();
      info.constant_bytes = c->nbytes();
      // An empty constant still says it is one (the data pointer is the mark).
      static const unsigned char kEmpty = 0;
      if (skipConstants && !info.constant_data && info.constant_bytes == 0) info.constant_data = &kEmpty;
    }
  }

  auto idx = [&](const Value* v) { return index.at(v); };
  nodeViews_.resize(nodes_.size());
  // Blocks of each node are built after all node views exist (they refer to node indices).
  std::unordered_map<const Node*, int32_t> nodeIndex;
  for (size_t i = 0; i < nodes_.size(); ++i) nodeIndex[nodes_[i]] = static_cast<int32_t>(i);
  std::function<void(const Block*, sy_block_view&)> buildBlockView = [&](const Block* b, sy_block_view& out) {
    out.struct_size = sizeof(sy_block_view);
    out.label = keep(b->label());
    std::vector<int32_t> params, nodeIdx, rets;
    for (const Value* p : b->params()) params.push_back(idx(p));
    for (const Node* n : b->nodes())
      if (!skipConstants || !isConstantNode(n)) nodeIdx.push_back(nodeIndex.at(n));
    for (const Value* r : b->returns()) rets.push_back(idx(r));
    out.num_params = params.size();
    out.params = keepArray(std::move(params));
    out.num_nodes = nodeIdx.size();
    out.nodes = keepArray(std::move(nodeIdx));
    out.num_returns = rets.size();
    out.returns = keepArray(std::move(rets));
  };
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node* n = nodes_[i];
    sy_node_view& nv = nodeViews_[i];
    nv.struct_size = sizeof(sy_node_view);
    nv.op = keep(n->op());
    nv.name = keep(n->name());
    std::vector<int32_t> ins, outs;
    for (const Value* v : n->inputs()) ins.push_back(idx(v));
    for (const Value* v : n->outputs()) outs.push_back(idx(v));
    nv.num_inputs = ins.size();
    nv.inputs = keepArray(std::move(ins));
    nv.num_outputs = outs.size();
    nv.outputs = keepArray(std::move(outs));
    std::vector<sy_attr> attrs;
    for (const auto& [name, a] : n->attrs()) {
      sy_attr at{};
      at.struct_size = sizeof(sy_attr);
      at.name = keep(name);
      at.kind = static_cast<int32_t>(attrKind(a));
      std::visit(
          [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, int64_t>) {
              at.i = v;
            } else if constexpr (std::is_same_v<T, double>) {
              at.f = v;
            } else if constexpr (std::is_same_v<T, std::string>) {
              at.s = keep(v);
            } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
              at.count = v.size();
              at.ints = keepArray(v);
            } else if constexpr (std::is_same_v<T, std::vector<double>>) {
              at.count = v.size();
              at.floats = keepArray(v);
            } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
              std::vector<const char*> ptrs;
              for (const auto& s : v) ptrs.push_back(keep(s));
              at.count = v.size();
              at.strings = keepArray(std::move(ptrs));
            } else if constexpr (std::is_same_v<T, Tensor>) {
              keepalive_.push_back(v);
              sy_tensor_literal lit{};
              lit.struct_size = sizeof(sy_tensor_literal);
              lit.dtype = toAbiDType(v.dtype());
              lit.rank = static_cast<int32_t>(v.rank());
              lit.dims = keepArray(std::vector<int64_t>(v.shape()));
              lit.data = v.data();
              lit.bytes = v.nbytes();
              at.tensor = keepArray(std::vector<sy_tensor_literal>{lit});
            }
          },
          a);
      attrs.push_back(at);
    }
    nv.num_attrs = attrs.size();
    nv.attrs = keepArray(std::move(attrs));
    std::vector<sy_block_view> blocks(n->numBlocks());
    for (size_t b = 0; b < n->numBlocks(); ++b) buildBlockView(n->block(b), blocks[b]);
    nv.num_blocks = blocks.size();
    nv.blocks = keepArray(std::move(blocks));
  }

  view_.struct_size = sizeof(sy_graph_view);
  view_.num_values = valueInfos_.size();
  view_.values = valueInfos_.data();
  view_.num_nodes = nodeViews_.size();
  view_.nodes = nodeViews_.data();
  buildBlockView(graph.body(), view_.body);
}

}  // namespace sy
