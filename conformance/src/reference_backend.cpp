// The reference interpreter behind the plugin ABI, in process. Running the
// suite with `--plugin reference` drives this table exactly as it drives a
// plugin: the graph view is turned back into IR, verified and run by the
// interpreter. It must pass everything, which is how the suite checks itself
// (its case specs, its graph views, its comparisons).
//
// One device ("reference"), host memory, every registry op supported
// (control flow included), concurrent execute allowed.
#include <atomic>
#include <cstring>
#include <mutex>

#include "internal.h"
#include "switchyard/graph_view.h"
#include "switchyard/interpreter.h"
#include "switchyard/op_registry.h"
#include "switchyard/verifier.h"

struct sy_error {
  int32_t code;
  std::string message;
};
struct sy_backend {
  size_t device = 0;
};
struct sy_buffer {
  std::vector<uint8_t> bytes;
};
struct sy_compiled {
  std::shared_ptr<const sy::Interpreter> interpreter;
};

namespace sy::conformance {
namespace {

sy_error* makeError(int32_t code, std::string msg) { return new sy_error{code, "reference: " + std::move(msg)}; }
sy_error* fromStatus(const Status& s) {
  return makeError(s.code() == StatusCode::kUnimplemented ? SY_ERROR_UNIMPLEMENTED : SY_ERROR_INVALID_ARGUMENT,
                   s.message());
}

const char* errMessage(const sy_error* e) { return e ? e->message.c_str() : "(no error)"; }
int32_t errCode(const sy_error* e) { return e ? e->code : SY_ERROR_INTERNAL; }
void errDestroy(sy_error* e) { delete e; }

sy_error* deviceCount(size_t* out) {
  if (!out) return makeError(SY_ERROR_INVALID_ARGUMENT, "device_count: out_count is NULL");
  *out = 1;
  return nullptr;
}

sy_error* deviceInfo(size_t device, sy_device_info* out) {
  if (!out) return makeError(SY_ERROR_INVALID_ARGUMENT, "device_info: out_info is NULL");
  if (device != 0) return makeError(SY_ERROR_INVALID_ARGUMENT, "device " + std::to_string(device) + " does not exist (there is 1)");
  if (SY_STRUCT_HAS(sy_device_info, out, name)) out->name = "reference";
  if (SY_STRUCT_HAS(sy_device_info, out, type)) out->type = SY_DEVICE_CPU;
  if (SY_STRUCT_HAS(sy_device_info, out, memory_bytes)) out->memory_bytes = 0;
  if (SY_STRUCT_HAS(sy_device_info, out, score)) out->score = 0;
  if (SY_STRUCT_HAS(sy_device_info, out, host_visible_memory)) out->host_visible_memory = 1;
  return nullptr;
}

sy_error* backendCreate(size_t device, const sy_option* options, size_t numOptions, sy_backend** out) {
  if (!out) return makeError(SY_ERROR_INVALID_ARGUMENT, "backend_create: out_backend is NULL");
  *out = nullptr;
  if (device != 0) return makeError(SY_ERROR_INVALID_ARGUMENT, "device " + std::to_string(device) + " does not exist");
  if (numOptions)
    return makeError(SY_ERROR_INVALID_ARGUMENT,
                     std::string("unknown backend option '") + (options && options[0].key ? options[0].key : "?") +
                         "' (the reference takes none)");
  *out = new sy_backend{device};
  return nullptr;
}
void backendDestroy(sy_backend* b) { delete b; }

// --- graph view -> IR --------------------------------------------------------

Type typeFromInfo(const sy_value_info& v) {
  DType dt = DType::F32;
  fromAbiDType(v.dtype, dt);
  if (v.rank < 0) return Type::tensorUnranked(dt);
  std::vector<Dim> dims;
  for (int32_t i = 0; i < v.rank; ++i) {
    if (v.dims[i] >= 0) dims.push_back(Dim(v.dims[i]));
    else if (v.dim_symbols && v.dim_symbols[i]) dims.push_back(Dim::symbol(v.dim_symbols[i]));
    else dims.push_back(Dim::unknown());
  }
  return Type::tensor(dt, std::move(dims));
}

Result<Tensor> tensorFromBytes(int32_t abiDType, const Shape& shape, const void* data, size_t bytes) {
  DType dt;
  if (!fromAbiDType(abiDType, dt)) return invalidArgument("bad dtype ", abiDType);
  SY_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dt, shape));
  if (t.nbytes() != bytes) return invalidArgument("constant of ", t.typeString(), " has ", bytes, " bytes");
  if (bytes) std::memcpy(t.mutableData(), data, bytes);
  return t;
}

Result<Attribute> attrFromView(const sy_attr& a) {
  switch (a.kind) {
    case SY_ATTR_INT: return Attribute(a.i);
    case SY_ATTR_FLOAT: return Attribute(a.f);
    case SY_ATTR_STRING: return Attribute(std::string(a.s ? a.s : ""));
    case SY_ATTR_INTS: return Attribute(std::vector<int64_t>(a.ints, a.ints + a.count));
    case SY_ATTR_FLOATS: return Attribute(std::vector<double>(a.floats, a.floats + a.count));
    case SY_ATTR_STRINGS: {
      std::vector<std::string> v;
      for (size_t i = 0; i < a.count; ++i) v.push_back(a.strings[i] ? a.strings[i] : "");
      return Attribute(std::move(v));
    }
    case SY_ATTR_TENSOR: {
      if (!a.tensor) return invalidArgument("tensor attribute '", a.name, "' without a tensor");
      const sy_tensor_literal& l = *a.tensor;
      SY_ASSIGN_OR_RETURN(Tensor t, tensorFromBytes(l.dtype, Shape(l.dims, l.dims + l.rank), l.data, l.bytes));
      return Attribute(std::move(t));
    }
    default: return invalidArgument("attribute '", a.name, "' has kind ", a.kind);
  }
}

/// Rebuilds the region as a graph. A `weight` node becomes a `constant`
/// holding the data the view carries (the reference has no weights file).
class ViewImporter {
 public:
  explicit ViewImporter(const sy_graph_view* v) : v_(v), map_(v->num_values, nullptr) {}

  Result<std::unique_ptr<Graph>> run() {
    auto g = std::make_unique<Graph>("region");
    g_ = g.get();
    for (size_t i = 0; i < v_->body.num_params; ++i) {
      const int32_t p = v_->body.params[i];
      map_[p] = g->addInput(typeFromInfo(v_->values[p]), name(p));
    }
    SY_RETURN_IF_ERROR(importNodes(v_->body, g->body()));
    for (size_t i = 0; i < v_->body.num_returns; ++i) {
      SY_ASSIGN_OR_RETURN(Value * r, use(v_->body.returns[i], g->body()));
      g->addOutput(r);
    }
    return g;
  }

 private:
  std::string name(int32_t vi) const { return v_->values[vi].name ? v_->values[vi].name : ""; }

  Result<Value*> use(int32_t vi, Block* block) {
    if (map_[vi]) return map_[vi];
    const sy_value_info& info = v_->values[vi];
    if (!info.constant_data) {
      // Only an empty constant (static shape with a 0 dim) may come without data.
      bool emptyStatic = info.rank > 0;
      int64_t n = 1;
      for (int32_t d = 0; emptyStatic && d < info.rank; ++d) {
        if (info.dims[d] < 0) emptyStatic = false;
        else n *= info.dims[d];
      }
      if (!emptyStatic || n != 0) return invalidArgument("value '", name(vi), "' is used but not defined in the region");
    }
    SY_ASSIGN_OR_RETURN(Tensor t, tensorFromBytes(info.dtype, Shape(info.dims, info.dims + info.rank),
                                                  info.constant_data, info.constant_bytes));
    Node* n = g_->createNode("constant");
    n->setAttr("value", std::move(t));
    block->appendNode(n);
    map_[vi] = n->addOutput(typeFromInfo(info), name(vi));
    return map_[vi];
  }

  Status importNodes(const sy_block_view& bv, Block* block) {
    for (size_t k = 0; k < bv.num_nodes; ++k) {
      const sy_node_view& nv = v_->nodes[bv.nodes[k]];
      const std::string op = nv.op;
      if (op == "weight") {
        for (size_t o = 0; o < nv.num_outputs; ++o) SY_RETURN_IF_ERROR(use(nv.outputs[o], block).status());
        continue;
      }
      std::vector<Value*> ins;
      for (size_t i = 0; i < nv.num_inputs; ++i) {
        SY_ASSIGN_OR_RETURN(Value * in, use(nv.inputs[i], block));
        ins.push_back(in);
      }
      Node* n = g_->createNode(op, ins);
      if (nv.name && *nv.name) n->setName(nv.name);
      for (size_t a = 0; a < nv.num_attrs; ++a) {
        SY_ASSIGN_OR_RETURN(Attribute attr, attrFromView(nv.attrs[a]));
        n->setAttr(nv.attrs[a].name, std::move(attr));
      }
      block->appendNode(n);
      for (size_t o = 0; o < nv.num_outputs; ++o)
        map_[nv.outputs[o]] = n->addOutput(typeFromInfo(v_->values[nv.outputs[o]]), name(nv.outputs[o]));
      for (size_t b = 0; b < nv.num_blocks; ++b) {
        const sy_block_view& nb = nv.blocks[b];
        Block* inner = n->addBlock(nb.label ? nb.label : "body");
        for (size_t p = 0; p < nb.num_params; ++p)
          map_[nb.params[p]] = inner->addParam(typeFromInfo(v_->values[nb.params[p]]), name(nb.params[p]));
        SY_RETURN_IF_ERROR(importNodes(nb, inner));
        std::vector<Value*> rets;
        for (size_t r = 0; r < nb.num_returns; ++r) {
          SY_ASSIGN_OR_RETURN(Value * rv, use(nb.returns[r], inner));
          rets.push_back(rv);
        }
        inner->setReturns(rets);
      }
    }
    return Status::OK();
  }

  const sy_graph_view* v_;
  Graph* g_ = nullptr;
  std::vector<Value*> map_;
};

// --- capability, compile, execute -------------------------------------------

std::string nodeReason(const sy_node_view& n) {
  const OpSchema* s = OpRegistry::global().find(n.op);
  if (!s) return std::string("op '") + n.op + "' is not in the op registry";
  AttrMap attrs;
  for (size_t a = 0; a < n.num_attrs; ++a) {
    auto attr = attrFromView(n.attrs[a]);
    if (!attr.ok()) return attr.status().message();
    attrs.emplace(n.attrs[a].name, *attr);
  }
  Status st = checkAttributes(*s, attrs);
  return st.ok() ? "" : st.message();
}

sy_error* querySupport(sy_backend* b, const sy_graph_view* g, sy_node_support* out, size_t n) {
  if (!b || !g || (n && !out)) return makeError(SY_ERROR_INVALID_ARGUMENT, "query_support: NULL argument");
  if (n != g->num_nodes)
    return makeError(SY_ERROR_INVALID_ARGUMENT, "query_support: " + std::to_string(g->num_nodes) + " nodes, room for " +
                                                    std::to_string(n));
  for (size_t i = 0; i < n; ++i) {
    const std::string why = nodeReason(g->nodes[i]);
    out[i].supported = why.empty() ? 1 : 0;
    out[i].cost = why.empty() ? 1e-6 : 0;
    const size_t len = std::min(why.size(), static_cast<size_t>(SY_REASON_SIZE - 1));
    std::memcpy(out[i].reason, why.data(), len);
    out[i].reason[len] = '\0';
  }
  return nullptr;
}

sy_error* compile(sy_backend* b, const sy_graph_view* g, sy_compiled** out) {
  if (!out) return makeError(SY_ERROR_INVALID_ARGUMENT, "compile: out_compiled is NULL");
  *out = nullptr;
  if (!b || !g) return makeError(SY_ERROR_INVALID_ARGUMENT, "compile: NULL argument");
  for (size_t i = 0; i < g->num_nodes; ++i) {
    const std::string why = nodeReason(g->nodes[i]);
    if (!why.empty()) return makeError(SY_ERROR_UNIMPLEMENTED, std::string("cannot compile '") + g->nodes[i].op + "': " + why);
  }
  auto graph = ViewImporter(g).run();
  if (!graph.ok()) return fromStatus(graph.status());
  auto interp = Interpreter::create(std::shared_ptr<const Graph>(std::move(*graph)));
  if (!interp.ok()) return fromStatus(interp.status());
  *out = new sy_compiled{*interp};
  return nullptr;
}

void compiledDestroy(sy_compiled* c) { delete c; }

sy_error* compiledInfo(const sy_compiled* c, sy_compiled_info* out) {
  if (!c || !out) return makeError(SY_ERROR_INVALID_ARGUMENT, "compiled_info: NULL argument");
  if (SY_STRUCT_HAS(sy_compiled_info, out, concurrent_execute)) out->concurrent_execute = 1;
  return nullptr;
}

sy_error* bufferAlloc(sy_backend* b, size_t bytes, sy_buffer** out) {
  if (!out) return makeError(SY_ERROR_INVALID_ARGUMENT, "buffer_alloc: out_buffer is NULL");
  *out = nullptr;
  if (!b) return makeError(SY_ERROR_INVALID_ARGUMENT, "buffer_alloc: backend is NULL");
  try {
    *out = new sy_buffer{std::vector<uint8_t>(bytes)};
  } catch (...) {
    return makeError(SY_ERROR_OUT_OF_MEMORY, "cannot allocate " + std::to_string(bytes) + " bytes");
  }
  return nullptr;
}
void bufferFree(sy_buffer* b) { delete b; }
size_t bufferSize(const sy_buffer* b) { return b ? b->bytes.size() : 0; }

sy_error* checkRange(const sy_buffer* b, size_t offset, size_t bytes, const char* what) {
  if (!b) return makeError(SY_ERROR_INVALID_ARGUMENT, std::string(what) + ": buffer is NULL");
  if (offset > b->bytes.size() || bytes > b->bytes.size() - offset)
    return makeError(SY_ERROR_INVALID_ARGUMENT, std::string(what) + ": " + std::to_string(bytes) + " bytes at offset " +
                                                    std::to_string(offset) + " do not fit a " +
                                                    std::to_string(b->bytes.size()) + "-byte buffer");
  return nullptr;
}
sy_error* bufferWrite(sy_buffer* b, size_t offset, const void* src, size_t bytes) {
  if (sy_error* e = checkRange(b, offset, bytes, "buffer_write")) return e;
  if (bytes) std::memcpy(b->bytes.data() + offset, src, bytes);
  return nullptr;
}
sy_error* bufferRead(const sy_buffer* b, size_t offset, void* dst, size_t bytes) {
  if (sy_error* e = checkRange(b, offset, bytes, "buffer_read")) return e;
  if (bytes) std::memcpy(dst, b->bytes.data() + offset, bytes);
  return nullptr;
}

sy_error* execute(sy_compiled* c, const sy_tensor* inputs, size_t numInputs, sy_tensor* outputs, size_t numOutputs) {
  for (size_t i = 0; i < numOutputs; ++i) {
    outputs[i].buffer = nullptr;
    outputs[i].offset = 0;
    outputs[i].rank = 0;
  }
  if (!c) return makeError(SY_ERROR_INVALID_ARGUMENT, "execute: compiled is NULL");
  const Graph& g = c->interpreter->graph();
  if (numInputs != g.inputs().size())
    return makeError(SY_ERROR_INVALID_ARGUMENT, "execute got " + std::to_string(numInputs) + " inputs, the region takes " +
                                                    std::to_string(g.inputs().size()));
  if (numOutputs != g.outputs().size())
    return makeError(SY_ERROR_INVALID_ARGUMENT, "execute got " + std::to_string(numOutputs) +
                                                    " outputs, the region has " + std::to_string(g.outputs().size()));
  std::vector<Tensor> ins;
  for (size_t i = 0; i < numInputs; ++i) {
    const sy_tensor& t = inputs[i];
    if (!t.buffer || t.rank < 0 || t.rank > SY_MAX_RANK)
      return makeError(SY_ERROR_INVALID_ARGUMENT, "input " + std::to_string(i) + " is malformed");
    DType dt;
    if (!fromAbiDType(t.dtype, dt)) return makeError(SY_ERROR_INVALID_ARGUMENT, "input " + std::to_string(i) + ": bad dtype");
    auto tensor = Tensor::allocate(dt, Shape(t.dims, t.dims + t.rank));
    if (!tensor.ok()) return fromStatus(tensor.status());
    if (sy_error* e = bufferRead(t.buffer, t.offset, tensor->mutableData(), tensor->nbytes())) return e;
    ins.push_back(*tensor);
  }
  auto result = c->interpreter->run(ins);
  if (!result.ok()) return fromStatus(result.status());
  for (size_t i = 0; i < numOutputs; ++i) {
    const Tensor& t = (*result)[i];
    sy_buffer* b = new sy_buffer{std::vector<uint8_t>(t.nbytes())};
    if (t.nbytes()) std::memcpy(b->bytes.data(), t.data(), t.nbytes());
    outputs[i].buffer = b;
    outputs[i].dtype = toAbiDType(t.dtype());
    outputs[i].rank = static_cast<int32_t>(t.rank());
    for (int64_t d = 0; d < t.rank(); ++d) outputs[i].dims[d] = t.dim(d);
  }
  return nullptr;
}

sy_plugin_api makeApi() {
  sy_plugin_api a{};
  a.struct_size = sizeof(sy_plugin_api);
  a.abi_major = SY_ABI_VERSION_MAJOR;
  a.abi_minor = SY_ABI_VERSION_MINOR;
  a.name = "reference";
  a.version = "0.1.0";
  a.vendor = "Switchyard";
  a.error_message = errMessage;
  a.error_code = errCode;
  a.error_destroy = errDestroy;
  a.device_count = deviceCount;
  a.device_info = deviceInfo;
  a.backend_create = backendCreate;
  a.backend_destroy = backendDestroy;
  a.query_support = querySupport;
  a.compile = compile;
  a.compiled_destroy = compiledDestroy;
  a.compiled_info = compiledInfo;
  a.execute = execute;
  a.buffer_alloc = bufferAlloc;
  a.buffer_free = bufferFree;
  a.buffer_size = bufferSize;
  a.buffer_write = bufferWrite;
  a.buffer_read = bufferRead;
  return a;
}

}  // namespace

const sy_plugin_api* referencePluginApi() {
  static const sy_plugin_api api = makeApi();
  return &api;
}

}  // namespace sy::conformance
