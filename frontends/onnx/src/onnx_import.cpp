// The ONNX importer. See switchyard/onnx_import.h.
//
// Structure: the model is parsed with the protobuf classes of libonnx-dev; a
// pre-scan lists every op of the model that has no lowering (so that one
// error names them all); then the graph is converted node by node into a
// Switchyard Graph. Each ONNX op has one handler that emits core ops; types
// are inferred as nodes are emitted, and (with foldConstants) nodes whose
// inputs are all known are evaluated on the spot, so that ONNX shape
// arithmetic (Shape -> Gather -> Concat -> Reshape) folds into constants.
//
// Errors inside the converter are thrown as ImportError (internal only) and
// returned as a Status by the public functions.
#include "switchyard/onnx_import.h"
#include "switchyard/file_io.h"

#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>
#include <onnx/version_converter/convert.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "switchyard/op_registry.h"
#include "switchyard/passes.h"
#include "switchyard/verifier.h"

namespace sy {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kMinOpset = 7;
constexpr int64_t kMaxOpset = 18;
constexpr int kMaxRank = 64;
constexpr int64_t kFoldMaxElements = int64_t{1} << 16;
constexpr int64_t kFoldMaxInputElements = int64_t{1} << 20;

struct ImportError {
  Status status;
};

[[noreturn]] void fail(Status s) { throw ImportError{std::move(s)}; }

template <typename... Args>
[[noreturn]] void failArg(Args&&... args) {
  fail(invalidArgument(std::forward<Args>(args)...));
}
template <typename... Args>
[[noreturn]] void failUnimpl(Args&&... args) {
  fail(unimplemented(std::forward<Args>(args)...));
}

template <typename T>
T check(Result<T> r) {
  if (!r.ok()) fail(r.status());
  return std::move(r).value();
}

const char* onnxTypeName(int t) {
  switch (t) {
    case onnx::TensorProto::FLOAT: return "FLOAT";
    case onnx::TensorProto::UINT8: return "UINT8";
    case onnx::TensorProto::INT8: return "INT8";
    case onnx::TensorProto::UINT16: return "UINT16";
    case onnx::TensorProto::INT16: return "INT16";
    case onnx::TensorProto::INT32: return "INT32";
    case onnx::TensorProto::INT64: return "INT64";
    case onnx::TensorProto::STRING: return "STRING";
    case onnx::TensorProto::BOOL: return "BOOL";
    case onnx::TensorProto::FLOAT16: return "FLOAT16";
    case onnx::TensorProto::DOUBLE: return "DOUBLE";
    case onnx::TensorProto::UINT32: return "UINT32";
    case onnx::TensorProto::UINT64: return "UINT64";
    case onnx::TensorProto::COMPLEX64: return "COMPLEX64";
    case onnx::TensorProto::COMPLEX128: return "COMPLEX128";
    case onnx::TensorProto::BFLOAT16: return "BFLOAT16";
    default: return "UNDEFINED";
  }
}

std::optional<DType> mapElemType(int t) {
  switch (t) {
    case onnx::TensorProto::FLOAT: return DType::F32;
    case onnx::TensorProto::FLOAT16: return DType::F16;
    case onnx::TensorProto::BFLOAT16: return DType::BF16;
    case onnx::TensorProto::INT8: return DType::I8;
    case onnx::TensorProto::INT32: return DType::I32;
    case onnx::TensorProto::INT64: return DType::I64;
    case onnx::TensorProto::BOOL: return DType::Bool;
    case onnx::TensorProto::UINT8: return DType::U8;
    case onnx::TensorProto::INT16: return DType::I16;
    case onnx::TensorProto::UINT16: return DType::U16;
    case onnx::TensorProto::UINT32: return DType::U32;
    case onnx::TensorProto::UINT64: return DType::U64;
    case onnx::TensorProto::DOUBLE: return DType::F64;
    default: return std::nullopt;
  }
}

/// The dtype of an ONNX element type, or an Unimplemented error naming `what`.
DType requireElemType(int t, const std::string& what) {
  auto d = mapElemType(t);
  if (!d) {
    if (t == onnx::TensorProto::UNDEFINED || !onnx::TensorProto_DataType_IsValid(t))
      failArg(what, " has no valid element type (", t, ")");
    failUnimpl(what, " has element type ", onnxTypeName(t),
               ", which Switchyard does not support (f32, f64, f16, bf16, i8, i16, i32, i64, u8, u16, u32, u64, "
               "bool)");
  }
  return *d;
}

std::string quote(const std::string& s) { return "\"" + s + "\""; }

/// Value names: printable ASCII kept (the text format quotes odd names); others replaced.
std::string sanitizeValueName(const std::string& name) {
  std::string out;
  for (unsigned char c : name) out += (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? static_cast<char>(c) : '_';
  if (out.empty()) out = "v";
  return out;
}

/// Symbol names: [A-Za-z0-9_], not starting with a digit.
std::string sanitizeSymbol(const std::string& name) {
  std::string out;
  for (unsigned char c : name) out += std::isalnum(c) || c == '_' ? static_cast<char>(c) : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) out = "_" + out;
  return out;
}

// ---------------------------------------------------------------------------
// Tensors

/// Joins `location` to `baseDir`, refusing anything that leaves the folder.
std::string externalPath(const std::string& baseDir, const std::string& location, const std::string& tensorName) {
  if (baseDir.empty())
    failArg("tensor ", quote(tensorName), " uses external data (", quote(location),
            "), which is not allowed here (no model folder)");
  if (location.empty()) failArg("tensor ", quote(tensorName), ": external data without a location");
  if (location.find('\0') != std::string::npos) failArg("tensor ", quote(tensorName), ": bad external data location");
  fs::path loc(location);
  if (loc.is_absolute() || location[0] == '/' || location[0] == '\\')
    failArg("tensor ", quote(tensorName), ": external data location ", quote(location),
            " is an absolute path (it must be relative to the model's folder)");
  for (const auto& part : loc)
    if (part == "..")
      failArg("tensor ", quote(tensorName), ": external data location ", quote(location),
              " leaves the model's folder ('..')");
  std::error_code ec;
  fs::path base = fs::canonical(fs::path(baseDir), ec);
  if (ec) failArg("tensor ", quote(tensorName), ": model folder ", quote(baseDir), ": ", ec.message());
  fs::path full = fs::canonical(base / loc, ec);
  if (ec)
    fail(notFound("tensor ", quote(tensorName), ": external data file ", quote((base / loc).string()), ": ",
                  ec.message()));
  // Symlinks: the resolved file must still lie inside the folder.
  auto b = base.begin();
  auto f = full.begin();
  for (; b != base.end(); ++b, ++f)
    if (f == full.end() || *f != *b)
      failArg("tensor ", quote(tensorName), ": external data location ", quote(location),
              " resolves to ", quote(full.string()), ", outside the model's folder");
  if (!fs::is_regular_file(full, ec))
    failArg("tensor ", quote(tensorName), ": external data ", quote(full.string()), " is not a regular file");
  return full.string();
}

Tensor readExternal(const onnx::TensorProto& tp, DType dtype, const Shape& shape, const std::string& baseDir) {
  const std::string& name = tp.name();
  std::string location;
  int64_t offset = 0, length = -1;
  auto parseInt = [&](const std::string& key, const std::string& v) {
    char* end = nullptr;
    errno = 0;
    long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno != 0 || x < 0)
      failArg("tensor ", quote(name), ": external data ", key, " ", quote(v), " is not a non-negative integer");
    return static_cast<int64_t>(x);
  };
  for (const auto& kv : tp.external_data()) {
    if (kv.key() == "location") location = kv.value();
    else if (kv.key() == "offset") offset = parseInt("offset", kv.value());
    else if (kv.key() == "length") length = parseInt("length", kv.value());
  }
  const std::string path = externalPath(baseDir, location, name);
  // Every size is checked against the file before the tensor is allocated:
  // a small model must not be able to make the importer zero-fill gigabytes.
  const uint64_t nbytes = static_cast<uint64_t>(check(checkedNumel(shape))) * dtypeSize(dtype);
  if (length >= 0 && static_cast<uint64_t>(length) != nbytes)
    failArg("tensor ", quote(name), ": external data length ", length, " does not match ", nbytes, " bytes of ",
            dtypeName(dtype), shapeToString(shape));
  std::error_code ec;
  const uint64_t fileSize = fs::file_size(path, ec);
  if (ec) failArg("tensor ", quote(name), ": ", quote(path), ": ", ec.message());
  if (static_cast<uint64_t>(offset) > fileSize || nbytes > fileSize - static_cast<uint64_t>(offset))
    fail(outOfRange("tensor ", quote(name), ": external data [", offset, ", +", nbytes, ") is beyond the end of ",
                    quote(path), " (", fileSize, " bytes)"));
  Tensor t = check(Tensor::allocate(dtype, shape));
  std::ifstream in(path, std::ios::binary);
  if (!in) failArg("tensor ", quote(name), ": cannot open ", quote(path));
  in.seekg(offset);
  if (nbytes > 0) in.read(static_cast<char*>(t.mutableData()), static_cast<std::streamsize>(nbytes));
  if (!in) failArg("tensor ", quote(name), ": cannot read ", nbytes, " bytes from ", quote(path));
  return t;
}

Tensor convertTensor(const onnx::TensorProto& tp, const std::string& baseDir, const std::string& what) {
  const std::string label = what.empty() ? "tensor " + quote(tp.name()) : what;
  if (tp.has_segment()) failUnimpl(label, " is segmented, which is not supported");
  const DType dtype = requireElemType(tp.data_type(), label);
  if (tp.dims_size() > kMaxRank) failArg(label, " has rank ", tp.dims_size(), " (at most ", kMaxRank, ")");
  Shape shape;
  for (int64_t d : tp.dims()) {
    if (d < 0) failArg(label, " has a negative dim ", d);
    shape.push_back(d);
  }
  auto numelR = checkedNumel(shape);
  if (!numelR.ok()) fail(numelR.status().withContext(label));
  const int64_t numel = *numelR;
  if (static_cast<uint64_t>(numel) > kMaxTensorBytes / dtypeSize(dtype))
    fail(resourceExhausted(label, " ", shapeToString(shape), " is too large"));
  const uint64_t nbytes = static_cast<uint64_t>(numel) * dtypeSize(dtype);
  if (tp.data_location() == onnx::TensorProto::EXTERNAL) return readExternal(tp, dtype, shape, baseDir);
  if (tp.has_raw_data()) {
    if (tp.raw_data().size() != nbytes)
      failArg(label, ": raw_data has ", tp.raw_data().size(), " bytes, but ", dtypeName(dtype), shapeToString(shape),
              " needs ", nbytes);
    Tensor t = check(Tensor::allocate(dtype, shape));
    if (nbytes) std::memcpy(t.mutableData(), tp.raw_data().data(), nbytes);
    if (dtype == DType::Bool) {
      auto* p = t.mutableData<uint8_t>();
      for (int64_t i = 0; i < numel; ++i) p[i] = p[i] != 0;
    }
    return t;
  }
  auto expectCount = [&](int count, const char* field) {
    if (count != numel)
      failArg(label, ": ", field, " has ", count, " values, but ", dtypeName(dtype), shapeToString(shape), " has ",
              numel, " elements");
  };
  // The element count is checked before allocating (a 65-byte model may
  // declare f32[2^30] with no data).
  switch (dtype) {
    case DType::F32: expectCount(tp.float_data_size(), "float_data"); break;
    case DType::I64: expectCount(tp.int64_data_size(), "int64_data"); break;
    case DType::F64: expectCount(tp.double_data_size(), "double_data"); break;
    case DType::U32:
    case DType::U64: expectCount(tp.uint64_data_size(), "uint64_data"); break;
    default: expectCount(tp.int32_data_size(), "int32_data"); break;
  }
  Tensor t = check(Tensor::allocate(dtype, shape));
  switch (dtype) {
    case DType::F32:
      for (int64_t i = 0; i < numel; ++i) t.mutableData<float>()[i] = tp.float_data(static_cast<int>(i));
      break;
    case DType::F16:
    case DType::BF16:
      for (int64_t i = 0; i < numel; ++i)
        t.mutableData<uint16_t>()[i] = static_cast<uint16_t>(tp.int32_data(static_cast<int>(i)));
      break;
    case DType::I8:
    case DType::I32:
    case DType::Bool:
    case DType::U8:
    case DType::I16:
    case DType::U16:
      for (int64_t i = 0; i < numel; ++i) t.setInt(i, tp.int32_data(static_cast<int>(i)));
      break;
    case DType::U32:
    case DType::U64:
      for (int64_t i = 0; i < numel; ++i) t.setInt(i, static_cast<int64_t>(tp.uint64_data(static_cast<int>(i))));
      break;
    case DType::F64:
      for (int64_t i = 0; i < numel; ++i) t.mutableData<double>()[i] = tp.double_data(static_cast<int>(i));
      break;
    case DType::I64:
      for (int64_t i = 0; i < numel; ++i) t.mutableData<int64_t>()[i] = tp.int64_data(static_cast<int>(i));
      break;
  }
  return t;
}

Tensor scalarOf(DType dtype, double value) {
  Tensor t = check(Tensor::allocate(dtype, {}));
  t.setDouble(0, value);
  return t;
}

Tensor i64Vector(const std::vector<int64_t>& v) {
  return check(Tensor::fromInts(DType::I64, {static_cast<int64_t>(v.size())}, v));
}

std::vector<int64_t> toInts(const Tensor& t) {
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.getInt(i);
  return v;
}

// ---------------------------------------------------------------------------
// The converter

class Importer;

/// One ONNX node being converted: its inputs, attributes (tracked, so that an
/// attribute no handler read is reported), and the opset.
struct NodeCtx {
  Importer& im;
  const onnx::NodeProto& node;
  int64_t opset;
  std::vector<Value*> inputs;  // nullptr for an absent optional input
  std::set<std::string> used;

  const onnx::AttributeProto* attr(const std::string& name) {
    used.insert(name);
    for (const auto& a : node.attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  bool hasAttr(const std::string& name) { return attr(name) != nullptr; }
  int64_t getInt(const std::string& name, int64_t def);
  double getFloat(const std::string& name, double def);
  std::string getString(const std::string& name, const std::string& def);
  std::vector<int64_t> getInts(const std::string& name, const std::vector<int64_t>& def = {});
  std::optional<std::vector<int64_t>> getIntsOpt(const std::string& name);
  std::vector<double> getFloats(const std::string& name);
  /// Marks attributes as read without using them (ignored in inference).
  void ignore(std::initializer_list<const char*> names) {
    for (const char* n : names) used.insert(n);
  }

  /// Every input the handler looked at (numInputs() counts as all): an input
  /// past them is one the op does not take, which is an error, not dropped.
  mutable size_t inputsRead = 0;
  size_t numInputs() const {
    inputsRead = inputs.size();
    return inputs.size();
  }
  Value* in(size_t i) const {
    inputsRead = std::max(inputsRead, i + 1);
    return i < inputs.size() ? inputs[i] : nullptr;
  }
  Value* req(size_t i);
  size_t numOutputs() const { return static_cast<size_t>(node.output_size()); }
  /// True when output `i` exists and something reads it.
  bool outputUsed(size_t i) const;
  const std::string& op() const { return node.op_type(); }
  std::string where() const;
};

using Handler = std::function<std::vector<Value*>(NodeCtx&)>;
const std::map<std::string, Handler, std::less<>>& handlers();

class Importer {
 public:
  Importer(const onnx::ModelProto& model, std::string origin, std::string baseDir, OnnxImportOptions opts)
      : model_(model), origin_(std::move(origin)), baseDir_(std::move(baseDir)), opts_(opts) {}

  std::unique_ptr<Graph> run();

  // --- emission helpers used by the handlers ---
  std::vector<Value*> emitN(const std::string& op, const std::vector<Value*>& ins, AttrMap attrs, size_t nOut);
  Value* emit(const std::string& op, const std::vector<Value*>& ins, AttrMap attrs = {}) {
    return emitN(op, ins, std::move(attrs), 1)[0];
  }
  Value* constant(Tensor t, const std::string& hint = {});
  Value* scalar(DType d, double v) { return constant(scalarOf(d, v)); }
  Value* ints(const std::vector<int64_t>& v) { return constant(i64Vector(v)); }

  NodeCtx* cur = nullptr;
  int64_t opset = 0;
  /// How many loop bodies being converted again (Note [loop refit]) enclose the current node.
  int loopRetryDepth = 0;

  /// Converts a subgraph into `block` (whose params are bound to the subgraph's
  /// inputs by the caller through `params`). Returns the subgraph's outputs.
  std::vector<Value*> convertSubgraph(const onnx::GraphProto& g, Block* block, const std::vector<Value*>& params);
  Graph& graph() { return *graph_; }
  Block* block() { return block_; }
  void setBlock(Block* b) { block_ = b; }

  Node* newNode(const std::string& op, const std::vector<Value*>& ins) {
    Node* n = graph_->createNode(op, ins);
    if (cur) n->setName(cur->node.name());
    block_->appendNode(n);
    return n;
  }
  void created(Value* v) { created_.insert(v); }

 private:
  friend struct NodeCtx;
  void prescan();
  void checkOldOpset(const onnx::GraphProto& g);
  void collectUses(const onnx::GraphProto& g);
  void scanUnsupported(const onnx::GraphProto& g, std::map<std::string, std::vector<std::string>>& bad,
                       std::string& firstNode);
  Type convertValueType(const onnx::ValueInfoProto& vi, bool isInput);
  void addInitializers(const onnx::GraphProto& g);
  void convertNodes(const onnx::GraphProto& g);
  void convertNode(const onnx::NodeProto& n);
  void bind(const std::string& onnxName, Value* v);
  Value* lookup(const std::string& name) const;
  std::string nodeLabel(const onnx::NodeProto& n) const;

  const onnx::ModelProto& model_;
  std::string origin_;
  std::string baseDir_;
  OnnxImportOptions opts_;
  std::unique_ptr<Graph> graph_;
  Block* block_ = nullptr;
  std::vector<std::unordered_map<std::string, Value*>> scopes_;
  std::unordered_set<std::string> usedNames_;  // every ONNX value name read anywhere
  std::unordered_set<Value*> created_;         // values created for the current node
  std::unordered_set<Value*> named_;           // values that carry an ONNX name
};

int64_t NodeCtx::getInt(const std::string& name, int64_t def) {
  const auto* a = attr(name);
  if (!a) return def;
  if (a->type() != onnx::AttributeProto::INT && !a->has_i())
    failArg(where(), ": attribute '", name, "' must be an int");
  return a->i();
}
double NodeCtx::getFloat(const std::string& name, double def) {
  const auto* a = attr(name);
  if (!a) return def;
  if (a->type() == onnx::AttributeProto::INT) return static_cast<double>(a->i());
  if (a->type() != onnx::AttributeProto::FLOAT && !a->has_f())
    failArg(where(), ": attribute '", name, "' must be a float");
  return a->f();
}
std::string NodeCtx::getString(const std::string& name, const std::string& def) {
  const auto* a = attr(name);
  if (!a) return def;
  if (a->type() != onnx::AttributeProto::STRING && !a->has_s())
    failArg(where(), ": attribute '", name, "' must be a string");
  return a->s();
}
std::vector<int64_t> NodeCtx::getInts(const std::string& name, const std::vector<int64_t>& def) {
  auto v = getIntsOpt(name);
  return v ? *v : def;
}
std::optional<std::vector<int64_t>> NodeCtx::getIntsOpt(const std::string& name) {
  const auto* a = attr(name);
  if (!a) return std::nullopt;
  if (a->type() != onnx::AttributeProto::INTS && a->ints_size() == 0 && a->type() != onnx::AttributeProto::UNDEFINED)
    failArg(where(), ": attribute '", name, "' must be a list of ints");
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}
std::vector<double> NodeCtx::getFloats(const std::string& name) {
  const auto* a = attr(name);
  if (!a) return {};
  return std::vector<double>(a->floats().begin(), a->floats().end());
}
Value* NodeCtx::req(size_t i) {
  Value* v = in(i);
  if (!v) failArg(where(), ": input ", i, " is required");
  return v;
}
bool NodeCtx::outputUsed(size_t i) const {
  if (i >= numOutputs()) return false;
  const std::string& n = node.output(static_cast<int>(i));
  return !n.empty() && im.usedNames_.count(n) != 0;
}
std::string NodeCtx::where() const { return im.nodeLabel(node); }

std::string Importer::nodeLabel(const onnx::NodeProto& n) const {
  std::string name = n.name().empty() ? (n.output_size() > 0 ? "->" + n.output(0) : std::string("?")) : n.name();
  std::string domain = n.domain().empty() || n.domain() == "ai.onnx" ? "" : n.domain() + ".";
  return "node " + quote(name) + " (" + domain + n.op_type() + ", opset " + std::to_string(opset) + ")";
}

Value* Importer::constant(Tensor t, const std::string& hint) {
  Type ty = typeOf(t);
  Node* n = newNode("constant", {});
  n->setAttr("value", std::move(t));
  Value* v = n->addOutput(std::move(ty), hint.empty() ? (cur && cur->numOutputs() ? sanitizeValueName(cur->node.output(0)) + "/c" : "c") : hint);
  created(v);
  return v;
}

std::vector<Value*> Importer::emitN(const std::string& op, const std::vector<Value*>& ins, AttrMap attrs,
                                    size_t nOut) {
  for (Value* v : ins)
    if (!v) fail(internalError("emit '", op, "': null input"));
  const OpSchema* schema = OpRegistry::global().find(op);
  if (!schema) fail(internalError("emit: unknown core op '", op, "'"));
  const std::string hintBase = cur && cur->numOutputs() ? sanitizeValueName(cur->node.output(0)) + "/" + op : op;
  if (opts_.foldConstants) {
    // shape() of a value with a static shape is a constant.
    if (op == "shape" && ins.size() == 1 && ins[0]->type().isStaticShape() && ins[0]->type().isTensor()) {
      const auto shape = *ins[0]->type().staticShape();
      const int64_t r = static_cast<int64_t>(shape.size());
      auto clampDim = [&](int64_t x) { return std::clamp(x < 0 ? x + r : x, int64_t{0}, r); };
      int64_t s = 0, e = r;
      if (auto it = attrs.find("start"); it != attrs.end()) s = clampDim(std::get<int64_t>(it->second));
      if (auto it = attrs.find("end"); it != attrs.end()) e = clampDim(std::get<int64_t>(it->second));
      std::vector<int64_t> dims;
      for (int64_t i = s; i < e; ++i) dims.push_back(shape[static_cast<size_t>(i)]);
      return {constant(i64Vector(dims), hintBase)};
    }
  }
  Node* n = newNode(op, ins);
  for (auto& [k, a] : attrs) n->setAttr(k, std::move(a));
  std::vector<Value*> outs;
  for (size_t i = 0; i < nOut; ++i) {
    outs.push_back(n->addOutput(Type::tensorUnranked(DType::F32), hintBase));
    created(outs.back());
  }
  auto types = inferNodeTypes(*n);
  if (!types.ok()) fail(types.status().withContext("core op '" + op + "'"));
  for (size_t i = 0; i < nOut; ++i) outs[i]->setType((*types)[i]);
  if (opts_.foldConstants) {
    // Evaluate now when every input is known and the (inferred) results are small.
    bool foldable = !ins.empty() && schema->pure && hasKernel(*schema) && schema->numBlocks == 0;
    int64_t inElems = 0;
    std::vector<Tensor> tensors;
    for (Value* v : ins) {
      const Tensor* t = foldable ? knownConstant(v) : nullptr;
      if (!t) {
        foldable = false;
        break;
      }
      inElems += t->numel();
      tensors.push_back(*t);
    }
    for (Value* o : outs) {
      auto shape = o->type().staticShape();
      auto numel = shape ? checkedNumel(*shape) : Result<int64_t>(invalidArgument("dynamic"));
      foldable = foldable && numel.ok() && *numel <= kFoldMaxElements;
    }
    if (foldable && inElems <= kFoldMaxInputElements) {
      auto r = evalOp(op, tensors, n->attrs(), static_cast<int>(nOut));
      if (r.ok()) {
        for (Value* o : outs) created_.erase(o);
        graph_->destroyNode(n);
        std::vector<Value*> folded;
        for (Tensor& t : *r) folded.push_back(constant(std::move(t), hintBase));
        return folded;
      }
    }
  }
  return outs;
}

Value* Importer::lookup(const std::string& name) const {
  for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
    auto f = it->find(name);
    if (f != it->end()) return f->second;
  }
  return nullptr;
}

void Importer::bind(const std::string& onnxName, Value* v) {
  if (onnxName.empty()) return;
  if (created_.count(v) && !named_.count(v)) {
    graph_->renameValue(v, sanitizeValueName(onnxName));
  } else {
    // The value already carries another name (an input passed through): copy it.
    Node* n = newNode("identity", {v});
    v = n->addOutput(v->type(), sanitizeValueName(onnxName));
  }
  named_.insert(v);
  scopes_.back()[onnxName] = v;
}

void Importer::collectUses(const onnx::GraphProto& g) {
  for (const auto& n : g.node()) {
    for (const auto& i : n.input()) usedNames_.insert(i);
    for (const auto& a : n.attribute()) {
      if (a.has_g()) collectUses(a.g());
      for (const auto& sg : a.graphs()) collectUses(sg);
    }
  }
  for (const auto& o : g.output()) usedNames_.insert(o.name());
}

void Importer::scanUnsupported(const onnx::GraphProto& g, std::map<std::string, std::vector<std::string>>& bad,
                               std::string& firstNode) {
  const auto& table = handlers();
  for (const auto& n : g.node()) {
    const bool defaultDomain = n.domain().empty() || n.domain() == "ai.onnx";
    if (!defaultDomain || !table.count(n.op_type())) {
      std::string key = (defaultDomain ? "" : n.domain() + ".") + n.op_type();
      bad[key].push_back(n.name().empty() ? (n.output_size() ? "->" + n.output(0) : "?") : n.name());
      if (firstNode.empty()) firstNode = nodeLabel(n);
    }
    for (const auto& a : n.attribute()) {
      if (a.has_g()) scanUnsupported(a.g(), bad, firstNode);
      for (const auto& sg : a.graphs()) scanUnsupported(sg, bad, firstNode);
    }
  }
}

/// Models of opsets 1 to 6 are accepted when every op in them kept its meaning
/// up to opset 7 (attributes that went away, such as consumed_inputs or
/// broadcast, are still refused by the per-node attribute check).
void Importer::checkOldOpset(const onnx::GraphProto& g) {
  static const std::set<std::string> stable = {
      "Abs", "ArgMax", "ArgMin", "Ceil", "Constant", "Elu", "Exp", "Flatten", "Floor", "GlobalAveragePool",
      "GlobalMaxPool", "HardSigmoid", "Hardmax", "Identity", "InstanceNormalization", "LeakyRelu", "Log",
      "LogSoftmax", "MatMul", "Max", "Mean", "Min", "Neg", "Not", "Reciprocal", "ReduceL1", "ReduceL2",
      "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum",
      "ReduceSumSquare", "Relu", "Selu", "Shape", "Sigmoid", "Size", "Softmax", "Softplus", "Softsign", "Sqrt",
      "Sum", "Tanh", "Transpose"};
  for (const auto& n : g.node())
    if (!stable.count(n.op_type()))
      failUnimpl(nodeLabel(n), ": the model uses opset ", opset, "; the importer supports opsets ", kMinOpset, " to ",
                 kMaxOpset, " (and older ones only for ops unchanged since)");
}

void Importer::prescan() {
  std::map<std::string, std::vector<std::string>> bad;
  std::string first;
  scanUnsupported(model_.graph(), bad, first);
  if (bad.empty()) return;
  std::ostringstream os;
  os << first << ": op is not supported by the Switchyard ONNX importer. Unsupported ops in this model (opset "
     << opset << "): ";
  bool firstOp = true;
  for (const auto& [op, nodes] : bad) {
    if (!firstOp) os << ", ";
    firstOp = false;
    os << op << " (" << nodes.size() << (nodes.size() == 1 ? " node: " : " nodes: ");
    for (size_t i = 0; i < nodes.size() && i < 3; ++i) os << (i ? ", " : "") << quote(nodes[i]);
    if (nodes.size() > 3) os << ", ...";
    os << ")";
  }
  fail(unimplemented(os.str()));
}

Type Importer::convertValueType(const onnx::ValueInfoProto& vi, bool isInput) {
  const std::string what = std::string(isInput ? "graph input " : "graph output ") + quote(vi.name());
  if (!vi.has_type()) failArg(what, " has no type");
  const auto& t = vi.type();
  if (!t.has_tensor_type()) {
    const char* kind = t.has_sequence_type() ? "a sequence"
                       : t.has_map_type()    ? "a map"
                       : t.has_optional_type() ? "an optional"
                       : t.has_sparse_tensor_type() ? "a sparse tensor"
                                                    : "not a tensor";
    failUnimpl(what, " is ", kind, ", which Switchyard does not support");
  }
  const DType dtype = requireElemType(t.tensor_type().elem_type(), what);
  if (!t.tensor_type().has_shape()) return Type::tensorUnranked(dtype);
  const auto& shape = t.tensor_type().shape();
  if (shape.dim_size() > kMaxRank) failArg(what, " has rank ", shape.dim_size(), " (at most ", kMaxRank, ")");
  std::vector<Dim> dims;
  for (int i = 0; i < shape.dim_size(); ++i) {
    const auto& d = shape.dim(i);
    if (d.has_dim_value()) {
      if (d.dim_value() < 0) failArg(what, " has a negative dim ", d.dim_value());
      dims.push_back(Dim(d.dim_value()));
    } else if (d.has_dim_param() && !d.dim_param().empty()) {
      dims.push_back(Dim::symbol(sanitizeSymbol(d.dim_param())));
    } else {
      dims.push_back(isInput ? Dim::symbol(sanitizeSymbol(vi.name() + "_d" + std::to_string(i))) : Dim::unknown());
    }
  }
  return Type::tensor(dtype, std::move(dims));
}

void Importer::addInitializers(const onnx::GraphProto& g) {
  if (g.sparse_initializer_size() > 0)
    failUnimpl("sparse initializer ", quote(g.sparse_initializer(0).values().name()), " is not supported");
  for (const auto& init : g.initializer()) {
    Tensor t = convertTensor(init, baseDir_, "initializer " + quote(init.name()));
    std::string wname = init.name().empty() ? "weight" : init.name();
    if (graph_->weights().count(wname)) {
      int k = 1;
      while (graph_->weights().count(wname + "." + std::to_string(k))) ++k;
      wname += "." + std::to_string(k);
    }
    Type ty = typeOf(t);
    graph_->setWeight(wname, std::move(t));
    Node* n = graph_->createNode("weight");
    n->setAttr("name", wname);
    block_->appendNode(n);
    Value* v = n->addOutput(std::move(ty), sanitizeValueName(init.name()));
    named_.insert(v);
    scopes_.back()[init.name()] = v;
  }
}

void Importer::convertNodes(const onnx::GraphProto& g) {
  for (const auto& n : g.node()) convertNode(n);
}

std::vector<Value*> Importer::convertSubgraph(const onnx::GraphProto& g, Block* block,
                                              const std::vector<Value*>& params) {
  Block* saved = block_;
  NodeCtx* savedCur = cur;
  auto savedCreated = std::move(created_);
  created_.clear();
  block_ = block;
  scopes_.emplace_back();
  for (size_t i = 0; i < params.size() && i < static_cast<size_t>(g.input_size()); ++i) {
    scopes_.back()[g.input(static_cast<int>(i)).name()] = params[i];
    named_.insert(params[i]);
  }
  addInitializers(g);
  cur = nullptr;
  convertNodes(g);
  std::vector<Value*> outs;
  for (const auto& o : g.output()) {
    Value* v = lookup(o.name());
    if (!v) failArg("subgraph ", quote(g.name()), " output ", quote(o.name()), " is not defined");
    outs.push_back(v);
  }
  scopes_.pop_back();
  block_ = saved;
  cur = savedCur;
  created_ = std::move(savedCreated);
  return outs;
}

void Importer::convertNode(const onnx::NodeProto& n) {
  auto it = handlers().find(n.op_type());
  if (it == handlers().end()) failUnimpl(nodeLabel(n), ": op is not supported");
  NodeCtx ctx{*this, n, opset, {}, {}};
  for (const auto& name : n.input()) {
    if (name.empty()) {
      ctx.inputs.push_back(nullptr);
      continue;
    }
    Value* v = lookup(name);
    if (!v) failArg(nodeLabel(n), ": input ", quote(name), " is not defined before the node");
    ctx.inputs.push_back(v);
  }
  NodeCtx* saved = cur;
  cur = &ctx;
  created_.clear();
  std::vector<Value*> outs;
  try {
    outs = it->second(ctx);
    for (const auto& a : n.attribute())
      if (!ctx.used.count(a.name()))
        failUnimpl("attribute '", a.name(), "' is not supported");
    for (size_t i = ctx.inputsRead; i < ctx.inputs.size(); ++i)
      if (ctx.inputs[i])
        failArg("has ", ctx.inputs.size(), " inputs, but ", n.op_type(), " takes at most ", ctx.inputsRead,
                " (input ", i, ", ", quote(n.input(static_cast<int>(i))), ", would be ignored)");
    // ONNX values are defined once: a second definition is an invalid model.
    std::unordered_map<std::string_view, int> outputIndex;
    for (int i = 0; i < n.output_size(); ++i) {
      const std::string& name = n.output(i);
      if (name.empty()) continue;
      if (scopes_.back().count(name))
        failArg("output ", i, " ", quote(name), " is already defined (by an earlier node, an input or an initializer)");
      auto [at, fresh] = outputIndex.emplace(name, i);
      if (!fresh) failArg("outputs ", at->second, " and ", i, " are both named ", quote(name));
    }
  } catch (ImportError& e) {
    cur = saved;
    const std::string label = nodeLabel(n);
    if (e.status.message().rfind(label, 0) == 0) throw;
    throw ImportError{e.status.withContext(label)};
  }
  for (size_t i = 0; i < outs.size() && i < static_cast<size_t>(n.output_size()); ++i)
    if (outs[i]) bind(n.output(static_cast<int>(i)), outs[i]);
  for (size_t i = outs.size(); i < static_cast<size_t>(n.output_size()); ++i)
    if (ctx.outputUsed(i)) {
      cur = saved;
      failUnimpl(nodeLabel(n), ": output ", i, " (", quote(n.output(static_cast<int>(i))),
                 ") is not supported, but the model uses it");
    }
  cur = saved;
  created_.clear();
}

std::unique_ptr<Graph> Importer::run() {
  // Opset of the default domain.
  bool found = false;
  for (const auto& o : model_.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") {
      opset = o.version();
      found = true;
    }
  if (!model_.has_graph()) failArg("the model has no graph");
  const auto& g = model_.graph();
  collectUses(g);
  prescan();
  if (!found) {
    if (model_.opset_import_size() == 0) opset = 1;  // IR version 1/2 models
    else failArg("the model imports no opset of the default ONNX domain");
  }
  if (opset >= 1 && opset < kMinOpset) checkOldOpset(g);
  else if (opset < kMinOpset || opset > kMaxOpset)
    failUnimpl("the model uses opset ", opset, " of the default domain; the importer supports opsets ", kMinOpset,
               " to ", kMaxOpset);

  graph_ = std::make_unique<Graph>(g.name().empty() ? "main" : sanitizeSymbol(g.name()));
  block_ = graph_->body();
  scopes_.emplace_back();
  std::unordered_set<std::string> initNames;
  for (const auto& i : g.initializer()) initNames.insert(i.name());
  addInitializers(g);
  for (const auto& in : g.input()) {
    if (initNames.count(in.name())) continue;
    if (in.name().empty()) failArg("a graph input has no name");
    Value* v = graph_->addInput(convertValueType(in, true), sanitizeValueName(in.name()));
    named_.insert(v);
    scopes_.back()[in.name()] = v;
  }
  convertNodes(g);
  for (const auto& o : g.output()) {
    Value* v = lookup(o.name());
    if (!v) failArg("graph output ", quote(o.name()), " is not computed by any node");
    if (o.has_type() && o.type().has_tensor_type()) {
      auto d = mapElemType(o.type().tensor_type().elem_type());
      if (d && *d != v->type().dtype())
        failArg("graph output ", quote(o.name()), " is declared ", dtypeName(*d), " but computes ",
                dtypeName(v->type().dtype()));
    }
    graph_->addOutput(v);
  }
  if (opts_.foldConstants) {
    // Nodes were folded as they were emitted (with the size of each result
    // checked before evaluating it); what is left unused goes.
    check(eliminateDeadCode(*graph_));
    // Drop weights no node refers to any more.
    std::set<std::string> referenced;
    forEachNode(graph_->body(), [&](Node* n) {
      if (n->op() == "weight")
        if (const auto* s = std::get_if<std::string>(n->attr("name"))) referenced.insert(*s);
    });
    std::map<std::string, Tensor> kept;
    for (const auto& [k, t] : graph_->weights())
      if (referenced.count(k)) kept[k] = t;
    graph_->setWeights(std::move(kept));
  }
  check(propagateShapes(*graph_));
  Status st = verify(*graph_);
  if (!st.ok()) fail(st.withContext("the imported graph does not verify"));
  return std::move(graph_);
}

// ---------------------------------------------------------------------------
// Handlers

DType dtypeOf(Value* v) { return v->type().dtype(); }

/// A constant input as ints; error naming the node when it is not a constant.
std::vector<int64_t> constInts(NodeCtx& c, size_t i, const char* what) {
  Value* v = c.req(i);
  const Tensor* t = knownConstant(v);
  if (!t)
    failUnimpl("input ", i, " (", what, ") must be a constant or an initializer for Switchyard, but ",
               quote(c.node.input(static_cast<int>(i))), " is computed at run time");
  if (!isInteger(t->dtype())) failArg("input ", i, " (", what, ") must be an integer tensor");
  return toInts(*t);
}

/// A constant (optional) input; absent or empty-tensor inputs give nullptr.
const Tensor* constOpt(NodeCtx& c, size_t i) {
  Value* v = c.in(i);
  if (!v) return nullptr;
  return knownConstant(v);
}

bool inputGivenNonEmpty(NodeCtx& c, size_t i) {
  Value* v = c.in(i);
  if (!v) return false;
  if (const Tensor* t = knownConstant(v)) return t->numel() > 0;
  const Type& ty = v->type();
  if (ty.rankKnown() && ty.rank() == 1 && ty.dim(0).isStatic() && ty.dim(0).value() == 0) return false;
  return true;
}

int64_t knownRank(NodeCtx& c, Value* v) {
  if (!v->type().rankKnown()) failUnimpl("needs the rank of ", quote(v->name()), ", which is unknown");
  return v->type().rank();
}

Handler unaryOp(const char* op) {
  return [op](NodeCtx& c) { return std::vector<Value*>{c.im.emit(op, {c.req(0)})}; };
}

Handler binaryOp(const char* op) {
  return [op](NodeCtx& c) { return std::vector<Value*>{c.im.emit(op, {c.req(0), c.req(1)})}; };
}

Handler variadic(const char* op, bool mean = false) {
  return [op, mean](NodeCtx& c) {
    if (c.numInputs() == 0) failArg("needs at least one input");
    Value* acc = c.req(0);
    for (size_t i = 1; i < c.numInputs(); ++i) acc = c.im.emit(op, {acc, c.req(i)});
    if (mean && c.numInputs() > 1)
      acc = c.im.emit("div", {acc, c.im.scalar(dtypeOf(acc), static_cast<double>(c.numInputs()))});
    if (c.numInputs() == 1) acc = c.im.emit("identity", {acc});
    return std::vector<Value*>{acc};
  };
}

AttrMap poolAttrs(NodeCtx& c, bool countIncludePad, bool ceil, bool dilations) {
  AttrMap a;
  std::string autoPad = c.getString("auto_pad", "NOTSET");
  if (autoPad.empty()) autoPad = "NOTSET";
  if (autoPad != "NOTSET" && autoPad != "SAME_UPPER" && autoPad != "SAME_LOWER" && autoPad != "VALID")
    failArg("auto_pad ", quote(autoPad), " is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
  a["auto_pad"] = autoPad;
  if (auto v = c.getIntsOpt("kernel_shape")) a["kernel_shape"] = *v;
  if (auto v = c.getIntsOpt("pads")) a["pads"] = *v;
  if (auto v = c.getIntsOpt("strides")) a["strides"] = *v;
  if (dilations)
    if (auto v = c.getIntsOpt("dilations")) a["dilations"] = *v;
  if (ceil) a["ceil_mode"] = c.getInt("ceil_mode", 0);
  if (countIncludePad) a["count_include_pad"] = c.getInt("count_include_pad", 0);
  return a;
}

/// Axes of a Reduce* node: attribute before `inputSince`, optional input from it.
std::vector<int64_t> reduceAxes(NodeCtx& c, int64_t inputSince) {
  if (c.opset < inputSince) return c.getInts("axes");
  if (!c.in(1)) return {};
  return constInts(c, 1, "axes");
}

/// The node's reduction (axes, keepdims, noop_with_empty_axes) as core op `op`
/// on x; keepdims >= 0 overrides the node's.
Value* reduce(NodeCtx& c, const char* op, Value* x, int64_t inputSince, int64_t keepdims = -1) {
  AttrMap a;
  std::vector<Value*> ins{x};
  // Axes computed at run time are the core op's optional input.
  if (c.opset >= inputSince && c.in(1) && !knownConstant(c.in(1))) ins.push_back(c.in(1));
  else a["axes"] = reduceAxes(c, inputSince);
  a["keepdims"] = keepdims >= 0 ? keepdims : c.getInt("keepdims", 1);
  if (c.opset >= inputSince) a["noop_with_empty_axes"] = c.getInt("noop_with_empty_axes", 0);
  return c.im.emit(op, ins, std::move(a));
}

Handler reduceOp(const char* op, int64_t inputSince) {
  return [op, inputSince](NodeCtx& c) { return std::vector<Value*>{reduce(c, op, c.req(0), inputSince)}; };
}

/// y = x reshaped to 2-D at `axis` (ONNX < 13 softmax semantics), f applied on the last axis, reshaped back.
Value* coerced2d(NodeCtx& c, Value* x, int64_t axis, const std::function<Value*(Value*)>& f) {
  Importer& im = c.im;
  if (x->type().rankKnown()) {
    const int64_t r = x->type().rank();
    if (axis < 0) axis += r;
    if (axis == r - 1) return f(x);
  }
  Value* flat = im.emit("flatten", {x}, {{"axis", axis}});
  Value* y = f(flat);
  return im.emit("reshape", {y, im.emit("shape", {x})});
}

Handler softmaxLike(const char* op) {
  return [op](NodeCtx& c) {
    Value* x = c.req(0);
    if (c.opset >= 13) return std::vector<Value*>{c.im.emit(op, {x}, {{"axis", c.getInt("axis", -1)}})};
    const int64_t axis = c.getInt("axis", 1);
    return std::vector<Value*>{
        coerced2d(c, x, axis, [&](Value* v) { return c.im.emit(op, {v}, {{"axis", int64_t{-1}}}); })};
  };
}

Value* hardmaxAt(NodeCtx& c, Value* x, int64_t axis) {
  Importer& im = c.im;
  const int64_t r = knownRank(c, x);
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) failArg("axis out of range for rank ", r);
  Value* idx = im.emit("argmax", {x}, {{"axis", axis}, {"keepdims", int64_t{1}}});
  Value* n = im.emit("shape", {x}, {{"start", axis}, {"end", axis + 1}});
  n = im.emit("squeeze", {n}, {{"axes", std::vector<int64_t>{0}}});
  Value* range = im.emit("range", {im.scalar(DType::I64, 0), n, im.scalar(DType::I64, 1)});
  std::vector<int64_t> shape{-1};
  for (int64_t i = axis + 1; i < r; ++i) shape.push_back(1);
  range = im.emit("reshape", {range, im.ints(shape)});
  Value* eq = im.emit("equal", {range, idx});
  return im.emit("cast", {eq}, {{"to", std::string(dtypeName(dtypeOf(x)))}});
}

std::vector<Value*> one(Value* v) { return {v}; }

std::string dtypeNameOfOnnx(NodeCtx& c, int64_t to) {
  const DType d = requireElemType(static_cast<int>(to), "target type of " + c.where());
  return std::string(dtypeName(d));
}

Value* resizeTo(NodeCtx& c, Value* x, Value* param, AttrMap a) {
  return c.im.emit("resize", {x, param}, std::move(a));
}

std::vector<Value*> convertResize(NodeCtx& c) {
  Importer& im = c.im;
  Value* x = c.req(0);
  AttrMap a;
  Value* runtimeRoi = nullptr;  // tf_crop_and_resize's roi when it is computed at run time
  std::string mode = c.getString("mode", "nearest");
  if (mode != "nearest" && mode != "linear" && mode != "cubic")
    failUnimpl("Resize mode ", quote(mode), " is not supported (nearest, linear, cubic)");
  a["mode"] = mode;
  Value* param = nullptr;
  if (c.op() == "Upsample" || c.opset < 11) {
    a["coordinate_transformation_mode"] = std::string("asymmetric");
    a["nearest_mode"] = std::string("floor");
    if (c.op() == "Upsample" && c.opset < 9) {
      std::vector<double> s = c.getFloats("scales");
      param = im.constant(check(Tensor::fromDoubles(DType::F32, {static_cast<int64_t>(s.size())}, s)));
    } else {
      param = c.req(1);
    }
  } else {
    std::string ctm = c.getString("coordinate_transformation_mode", "half_pixel");
    if (ctm != "half_pixel" && ctm != "pytorch_half_pixel" && ctm != "asymmetric" && ctm != "align_corners" &&
        ctm != "tf_half_pixel_for_nn" && ctm != "tf_crop_and_resize")
      failUnimpl("coordinate_transformation_mode ", quote(ctm), " is not supported");
    a["coordinate_transformation_mode"] = ctm;
    a["nearest_mode"] = c.getString("nearest_mode", "round_prefer_floor");
    if (ctm == "tf_crop_and_resize") {
      if (!c.in(1)) failArg("tf_crop_and_resize needs roi (input 1)");
      if (const Tensor* roi = constOpt(c, 1)) {
        std::vector<double> r;
        for (int64_t i = 0; i < roi->numel(); ++i) r.push_back(roi->getDouble(i));
        a["roi"] = r;
      } else {
        runtimeRoi = c.in(1);  // read when the op runs
      }
      a["extrapolation_value"] = c.getFloat("extrapolation_value", 0.0);
    } else {
      c.ignore({"extrapolation_value"});  // only tf_crop_and_resize reads it
    }
    if (mode == "cubic") {
      a["cubic_coeff_a"] = c.getFloat("cubic_coeff_a", -0.75);
      a["exclude_outside"] = c.getInt("exclude_outside", 0);
    } else {
      c.ignore({"cubic_coeff_a", "exclude_outside"});  // cubic only
    }
    if (c.getInt("antialias", 0) != 0) failUnimpl("antialias is not supported");
    std::string policy = c.getString("keep_aspect_ratio_policy", "stretch");
    if (policy != "stretch") failUnimpl("keep_aspect_ratio_policy ", quote(policy), " is not supported");
    if (c.opset >= 18 && c.hasAttr("axes")) {
      auto axes = c.getInts("axes");
      const int64_t r = knownRank(c, x);
      std::vector<int64_t> full(axes.size());
      for (size_t i = 0; i < axes.size(); ++i) full[i] = axes[i] < 0 ? axes[i] + r : axes[i];
      // Expand scales / sizes to every dim (requires constants).
      const bool useSizes = inputGivenNonEmpty(c, 3);
      const Tensor* t = constOpt(c, useSizes ? 3 : 2);
      if (!t) failUnimpl("Resize with axes needs constant scales / sizes");
      if (t->numel() != static_cast<int64_t>(axes.size())) failArg("scales/sizes do not match axes");
      if (useSizes) {
        std::vector<int64_t> s(static_cast<size_t>(r));
        for (int64_t i = 0; i < r; ++i) {
          const Dim& d = x->type().dim(i);
          s[static_cast<size_t>(i)] = d.isStatic() ? d.value() : -1;
        }
        for (size_t i = 0; i < full.size(); ++i) s[static_cast<size_t>(full[i])] = t->getInt(static_cast<int64_t>(i));
        for (int64_t v : s)
          if (v < 0) failUnimpl("Resize with axes needs static sizes of the other dims");
        param = im.ints(s);
      } else {
        std::vector<double> s(static_cast<size_t>(r), 1.0);
        for (size_t i = 0; i < full.size(); ++i) s[static_cast<size_t>(full[i])] = t->getDouble(static_cast<int64_t>(i));
        param = im.constant(check(Tensor::fromDoubles(DType::F32, {r}, s)));
      }
    } else if (inputGivenNonEmpty(c, 3)) {
      param = c.req(3);
    } else if (inputGivenNonEmpty(c, 2)) {
      param = c.req(2);
    } else {
      failArg("Resize needs scales or sizes");
    }
    // roi (input 1) only matters for tf_crop_and_resize, which reads it above.
  }
  if (runtimeRoi && (dtypeOf(param) == DType::F32 || dtypeOf(param) == DType::I64))
    return one(c.im.emit("resize", {x, param, runtimeRoi}, std::move(a)));
  if (dtypeOf(param) == DType::F32 || dtypeOf(param) == DType::I64) return one(resizeTo(c, x, param, a));
  failArg("scales must be f32 and sizes i64, got ", dtypeName(dtypeOf(param)));
}

std::vector<Value*> convertIf(NodeCtx& c) {
  Importer& im = c.im;
  const auto* thenA = c.attr("then_branch");
  const auto* elseA = c.attr("else_branch");
  if (!thenA || !thenA->has_g() || !elseA || !elseA->has_g()) failArg("needs then_branch and else_branch graphs");
  Value* cond = c.req(0);
  Node* n = im.newNode("if", {cond});
  Block* tb = n->addBlock("then");
  Block* eb = n->addBlock("else");
  auto touts = im.convertSubgraph(thenA->g(), tb, {});
  auto eouts = im.convertSubgraph(elseA->g(), eb, {});
  if (touts.size() != eouts.size())
    failArg("then_branch yields ", touts.size(), " values but else_branch ", eouts.size());
  tb->setReturns(touts);
  eb->setReturns(eouts);
  std::vector<Value*> outs;
  for (size_t i = 0; i < touts.size(); ++i) {
    outs.push_back(n->addOutput(Type::tensorUnranked(DType::F32),
                                i < c.numOutputs() ? sanitizeValueName(c.node.output(static_cast<int>(i))) : "if"));
    im.created(outs.back());
  }
  auto types = inferNodeTypes(*n);
  if (!types.ok()) fail(types.status().withContext("If"));
  for (size_t i = 0; i < outs.size(); ++i) outs[i]->setType((*types)[i]);
  return outs;
}

std::vector<Value*> convertLoop(NodeCtx& c) {
  Importer& im = c.im;
  const auto* bodyA = c.attr("body");
  if (!bodyA || !bodyA->has_g()) failArg("needs a body graph");
  const auto& body = bodyA->g();
  // ONNX runs `for (i = 0; i < M && cond; ++i)`, so a negative M means no
  // iteration; the IR's negative trip count means "no limit" (ONNX spells
  // that as an absent M), so a given M is clamped at 0.
  Value* trip = c.in(0) ? im.emit("maximum", {c.in(0), im.constant(Tensor::scalarI64(0))})
                        : im.constant(Tensor::scalarI64(-1));
  Value* cond = c.in(1) ? c.in(1) : im.constant(Tensor::scalarBool(true));
  const size_t k = c.numInputs() >= 2 ? c.numInputs() - 2 : 0;
  std::vector<Value*> carried;
  for (size_t i = 0; i < k; ++i) carried.push_back(c.req(2 + i));
  if (static_cast<size_t>(body.input_size()) != k + 2)
    failArg("body takes ", body.input_size(), " inputs, expected ", k + 2, " (iteration, condition, ", k,
            " carried)");
  // Note [loop refit]: a carried parameter's type must cover every iteration.
  // The body is converted with the initial values' types; when a yielded type
  // is not as general, the body is converted again with the join (then with
  // any shape of the dtype). Converting again inside an outer conversion that
  // is already a retry would make nested loops exponential in their depth, so
  // loops converted during a retry take "any shape" for every carried value at
  // once and are converted exactly once: import stays linear per nesting level.
  const bool generalize = im.loopRetryDepth > 0;
  std::vector<Type> paramTypes;
  for (Value* v : carried)
    paramTypes.push_back(generalize ? Type::tensorUnranked(v->type().dtype()) : v->type());
  for (int attempt = 0;; ++attempt) {
    std::vector<Value*> ins{trip, cond};
    ins.insert(ins.end(), carried.begin(), carried.end());
    Node* n = im.newNode("loop", ins);
    Block* b = n->addBlock("body");
    std::vector<Value*> params;
    params.push_back(b->addParam(Type::scalar(DType::I64), sanitizeValueName(body.input(0).name())));
    params.push_back(b->addParam(Type::scalar(DType::Bool), sanitizeValueName(body.input(1).name())));
    for (size_t i = 0; i < k; ++i)
      params.push_back(b->addParam(paramTypes[i], sanitizeValueName(body.input(static_cast<int>(2 + i)).name())));
    if (attempt > 0) ++im.loopRetryDepth;
    std::vector<Value*> outs;
    try {
      outs = im.convertSubgraph(body, b, params);
    } catch (...) {
      if (attempt > 0) --im.loopRetryDepth;
      throw;
    }
    if (attempt > 0) --im.loopRetryDepth;
    if (outs.size() < k + 1) failArg("body yields ", outs.size(), " values, expected at least ", k + 1);
    b->setReturns(outs);
    bool refit = false;
    for (size_t i = 0; i < k; ++i) {
      const Type& next = outs[1 + i]->type();
      auto j = joinTypes(paramTypes[i], next);
      if (!j.ok()) fail(j.status().withContext("Loop carried value " + std::to_string(i)));
      if (*j != paramTypes[i]) {
        paramTypes[i] = attempt >= 1 ? Type::tensorUnranked(next.dtype()) : *j;
        refit = true;
      }
    }
    if (refit && attempt < 2) {
      im.graph().destroyNode(n);
      continue;
    }
    if (refit) fail(internalError("Loop: the carried types did not settle after widening them to any shape"));
    const size_t nOut = outs.size() - 1;
    std::vector<Value*> results;
    for (size_t i = 0; i < nOut; ++i) {
      results.push_back(n->addOutput(Type::tensorUnranked(DType::F32),
                                     i < c.numOutputs() ? sanitizeValueName(c.node.output(static_cast<int>(i))) : "loop"));
      im.created(results.back());
    }
    auto types = inferNodeTypes(*n);
    if (!types.ok()) fail(types.status().withContext("Loop"));
    for (size_t i = 0; i < nOut; ++i) results[i]->setType((*types)[i]);
    return results;
  }
}

std::vector<Value*> convertConstant(NodeCtx& c) {
  Importer& im = c.im;
  if (const auto* a = c.attr("value")) {
    if (!a->has_t()) failArg("attribute 'value' holds no tensor");
    return one(im.constant(convertTensor(a->t(), "", "the value of " + c.where())));
  }
  if (const auto* a = c.attr("value_float")) return one(im.constant(Tensor::scalarF32(a->f())));
  if (const auto* a = c.attr("value_int")) return one(im.constant(Tensor::scalarI64(a->i())));
  if (const auto* a = c.attr("value_floats")) {
    std::vector<double> v(a->floats().begin(), a->floats().end());
    return one(im.constant(check(Tensor::fromDoubles(DType::F32, {static_cast<int64_t>(v.size())}, v))));
  }
  if (const auto* a = c.attr("value_ints")) return one(im.ints(std::vector<int64_t>(a->ints().begin(), a->ints().end())));
  c.ignore({"sparse_value", "value_string", "value_strings"});
  if (c.hasAttr("sparse_value")) failUnimpl("sparse constants are not supported");
  if (c.hasAttr("value_string") || c.hasAttr("value_strings")) failUnimpl("string constants are not supported");
  failArg("Constant has no value attribute");
}

std::vector<Value*> convertPad(NodeCtx& c) {
  Importer& im = c.im;
  Value* x = c.req(0);
  std::string mode = c.getString("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge") failUnimpl("Pad mode ", quote(mode), " is not supported");
  Value* pads;
  Value* cv = nullptr;
  if (c.opset < 11) {
    pads = im.ints(c.getInts("pads"));
    const double value = c.getFloat("value", 0.0);
    cv = im.scalar(dtypeOf(x), value);
  } else {
    pads = c.req(1);
    if (c.in(2)) {
      cv = c.in(2);
      if (cv->type().rankKnown() && cv->type().rank() == 1) cv = im.emit("squeeze", {cv}, {{"axes", std::vector<int64_t>{0}}});
    }
    if (c.in(3)) {
      auto axes = constInts(c, 3, "axes");
      auto p = constInts(c, 1, "pads");
      const int64_t r = knownRank(c, x);
      if (p.size() != 2 * axes.size()) failArg("pads has ", p.size(), " entries for ", axes.size(), " axes");
      std::vector<int64_t> full(static_cast<size_t>(2 * r), 0);
      for (size_t i = 0; i < axes.size(); ++i) {
        int64_t ax = axes[i] < 0 ? axes[i] + r : axes[i];
        if (ax < 0 || ax >= r) failArg("axis ", axes[i], " out of range");
        full[static_cast<size_t>(ax)] = p[i];
        full[static_cast<size_t>(ax + r)] = p[i + axes.size()];
      }
      pads = im.ints(full);
    }
  }
  std::vector<Value*> ins{x, pads};
  if (cv) ins.push_back(cv);
  return one(im.emit("pad", ins, {{"mode", mode}}));
}

std::vector<Value*> convertClip(NodeCtx& c) {
  Importer& im = c.im;
  Value* x = c.req(0);
  if (c.opset < 11) {
    AttrMap a;
    a["min"] = c.getFloat("min", -std::numeric_limits<double>::infinity());
    a["max"] = c.getFloat("max", std::numeric_limits<double>::infinity());
    return one(im.emit("clip", {x}, std::move(a)));
  }
  Value* lo = c.in(1);
  Value* hi = c.in(2);
  const Tensor* loT = lo ? knownConstant(lo) : nullptr;
  const Tensor* hiT = hi ? knownConstant(hi) : nullptr;
  if ((!lo || (loT && loT->numel() == 1)) && (!hi || (hiT && hiT->numel() == 1))) {
    AttrMap a;
    a["min"] = loT ? loT->getDouble(0) : -std::numeric_limits<double>::infinity();
    a["max"] = hiT ? hiT->getDouble(0) : std::numeric_limits<double>::infinity();
    return one(im.emit("clip", {x}, std::move(a)));
  }
  Value* y = x;
  if (lo) y = im.emit("maximum", {y, lo});
  if (hi) y = im.emit("minimum", {y, hi});
  if (y == x) y = im.emit("identity", {x});
  return one(y);
}

std::vector<Value*> convertSlice(NodeCtx& c) {
  Importer& im = c.im;
  Value* x = c.req(0);
  if (c.opset < 10) {
    auto starts = c.getInts("starts");
    auto ends = c.getInts("ends");
    std::vector<Value*> ins{x, im.ints(starts), im.ints(ends)};
    if (auto axes = c.getIntsOpt("axes")) ins.push_back(im.ints(*axes));
    return one(im.emit("slice", ins));
  }
  std::vector<Value*> ins{x, c.req(1), c.req(2)};
  Value* axes = c.in(3);
  Value* steps = c.in(4);
  if (!axes && steps) {
    const Type& st = c.in(1)->type();
    if (!(st.rankKnown() && st.rank() == 1 && st.dim(0).isStatic()))
      failUnimpl("Slice with steps but no axes needs starts of a known length");
    std::vector<int64_t> a(static_cast<size_t>(st.dim(0).value()));
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<int64_t>(i);
    axes = im.ints(a);
  }
  if (axes) ins.push_back(axes);
  if (steps) ins.push_back(steps);
  return one(im.emit("slice", ins));
}

std::vector<Value*> convertSplit(NodeCtx& c) {
  Importer& im = c.im;
  Value* x = c.req(0);
  const int64_t axis = c.getInt("axis", 0);
  std::vector<Value*> ins{x};
  size_t n = c.numOutputs();
  if (c.opset < 13) {
    if (auto s = c.getIntsOpt("split"); s && !s->empty()) ins.push_back(im.ints(*s));
  } else {
    if (inputGivenNonEmpty(c, 1)) ins.push_back(c.req(1));
    if (c.opset >= 18) {
      const int64_t no = c.getInt("num_outputs", 0);
      if (no > 0 && static_cast<size_t>(no) != n) failArg("num_outputs is ", no, " but the node has ", n, " outputs");
    }
  }
  if (n == 0) failArg("Split has no outputs");
  return im.emitN("split", ins, {{"axis", axis}}, n);
}

std::vector<Value*> convertSqueeze(NodeCtx& c, bool unsqueeze) {
  Importer& im = c.im;
  Value* x = c.req(0);
  std::vector<int64_t> axes;
  if (c.opset < 13) {
    axes = c.getInts("axes");
  } else if (c.in(1)) {
    // Axes computed at run time are the core op's optional input.
    if (!knownConstant(c.in(1))) return one(im.emit(unsqueeze ? "unsqueeze" : "squeeze", {x, c.in(1)}));
    axes = constInts(c, 1, "axes");
  }
  return one(im.emit(unsqueeze ? "unsqueeze" : "squeeze", {x}, {{"axes", axes}}));
}

/// MaxPool's Indices output (2-D pooling, static shapes, explicit pads, no
/// ceil_mode): for each kernel tap, the strided slice of x padded with NaN (a
/// tap in the padding never matches) is compared with y; the first tap in
/// row-major window order that holds the maximum gives the index, flattened
/// over x as [N, C, H, W] (storage_order 0) or [N, C, W, H] (storage_order 1).
Value* maxPoolIndices(NodeCtx& c, Value* x, Value* y) {
  Importer& im = c.im;
  const Type& t = x->type();
  const Type& yt = y->type();
  auto allStatic = [](const Type& ty) {
    if (!ty.rankKnown() || ty.rank() != 4) return false;
    for (int64_t i = 0; i < 4; ++i)
      if (!ty.dim(i).isStatic()) return false;
    return true;
  };
  if (!allStatic(t) || !allStatic(yt)) failUnimpl("output 1 (Indices) needs 2-D pooling with static shapes");
  const std::string autoPad = c.getString("auto_pad", "NOTSET");
  if (!(autoPad.empty() || autoPad == "NOTSET") || c.getInt("ceil_mode", 0) != 0)
    failUnimpl("output 1 (Indices) needs explicit pads and ceil_mode 0");
  const auto k = c.getInts("kernel_shape");
  const auto st = c.getInts("strides", {1, 1});
  const auto dl = c.getInts("dilations", {1, 1});
  const auto pd = c.getInts("pads", {0, 0, 0, 0});
  if (k.size() != 2 || st.size() != 2 || dl.size() != 2 || pd.size() != 4)
    failArg("kernel_shape, strides, dilations and pads must have 2, 2, 2 and 4 entries");
  const int64_t N = t.dim(0).value(), C = t.dim(1).value(), H = t.dim(2).value(), W = t.dim(3).value();
  const int64_t OH = yt.dim(2).value(), OW = yt.dim(3).value();
  const bool colMajor = c.getInt("storage_order", 0) != 0;
  Value* nan = im.scalar(dtypeOf(x), std::numeric_limits<double>::quiet_NaN());
  Value* xp = im.emit("pad", {x, im.ints({0, 0, pd[0], pd[1], 0, 0, pd[2], pd[3]}), nan}, {{"mode", std::string("constant")}});
  Value* idx = nullptr;
  for (int64_t tap = k[0] * k[1] - 1; tap >= 0; --tap) {
    const int64_t kh = tap / k[1], kw = tap % k[1];
    const int64_t h0 = kh * dl[0], w0 = kw * dl[1];
    Value* s = im.emit("slice", {xp, im.ints({h0, w0}), im.ints({h0 + (OH - 1) * st[0] + 1, w0 + (OW - 1) * st[1] + 1}),
                                 im.ints({2, 3}), im.ints({st[0], st[1]})});
    std::vector<int64_t> pos(static_cast<size_t>(OH * OW));
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t ih = oh * st[0] - pd[0] + h0, iw = ow * st[1] - pd[1] + w0;
        pos[static_cast<size_t>(oh * OW + ow)] = colMajor ? iw * H + ih : ih * W + iw;
      }
    Value* p = im.constant(check(Tensor::fromInts(DType::I64, {OH, OW}, pos)));
    idx = idx ? im.emit("where", {im.emit("equal", {s, y}), p, idx}) : im.emit("expand", {p, im.ints({N, C, OH, OW})});
  }
  std::vector<int64_t> base(static_cast<size_t>(N * C));
  for (int64_t i = 0; i < N * C; ++i) base[static_cast<size_t>(i)] = i * H * W;
  return im.emit("add", {idx, im.constant(check(Tensor::fromInts(DType::I64, {N, C, 1, 1}, base)))});
}

std::vector<Value*> convertBatchNorm(NodeCtx& c) {
  Importer& im = c.im;
  if (c.opset < 9 && c.getInt("spatial", 1) != 1) failUnimpl("spatial=0 is not supported");
  if (c.getInt("training_mode", 0) != 0) {
    // BatchNormalization-14/15 training_mode: normalise with the batch's own
    // mean and (population) variance; outputs 1 and 2 are the running
    // statistics updated with them: input * momentum + batch * (1 - momentum).
    Value* x = c.req(0);
    const int64_t r = knownRank(c, x);
    if (r < 2) failArg("BatchNormalization needs rank >= 2, got ", r);
    const double momentum = c.getFloat("momentum", 0.9);
    const double eps = c.getFloat("epsilon", 1e-5);
    std::vector<int64_t> axes{0}, expand;
    for (int64_t i = 2; i < r; ++i) {
      axes.push_back(i);
      expand.push_back(i - 1);
    }
    auto k = [&](double v) { return im.scalar(dtypeOf(x), v); };
    auto perChannel = [&](Value* v) {  // [C] -> [C, 1, ...] against [N, C, ...]
      return expand.empty() ? v : im.emit("unsqueeze", {v}, {{"axes", expand}});
    };
    Value* mean = im.emit("reduce_mean", {x}, {{"axes", axes}, {"keepdims", int64_t{1}}});
    Value* d = im.emit("sub", {x, mean});
    Value* var = im.emit("reduce_mean", {im.emit("mul", {d, d})}, {{"axes", axes}, {"keepdims", int64_t{1}}});
    Value* y = im.emit("div", {d, im.emit("sqrt", {im.emit("add", {var, k(eps)})})});
    y = im.emit("add", {im.emit("mul", {y, perChannel(c.req(1))}), perChannel(c.req(2))});
    std::vector<Value*> outs{y};
    const std::vector<int64_t> flat{-1};
    for (auto [batch, running] : {std::pair{mean, 3}, std::pair{var, 4}}) {
      if (c.numOutputs() <= outs.size()) break;
      Value* b = im.emit("reshape", {batch, im.ints(flat)});
      outs.push_back(im.emit("add", {im.emit("mul", {c.req(running), k(momentum)}), im.emit("mul", {b, k(1 - momentum)})}));
    }
    return outs;
  }
  c.ignore({"momentum"});
  for (size_t i = 1; i < c.numOutputs(); ++i)
    if (c.outputUsed(i))
      failUnimpl("output ", i, " (", quote(c.node.output(static_cast<int>(i))),
                 ") is a training output, which Switchyard does not compute");
  return one(im.emit("batch_norm", {c.req(0), c.req(1), c.req(2), c.req(3), c.req(4)},
                     {{"epsilon", c.getFloat("epsilon", 1e-5)}}));
}

std::vector<Value*> convertDropout(NodeCtx& c) {
  Importer& im = c.im;
  c.ignore({"ratio", "seed", "is_test"});
  Value* x = c.req(0);
  if (c.opset >= 12 && c.in(2)) {
    const Tensor* t = knownConstant(c.in(2));
    if (!t) failUnimpl("training_mode must be a constant");
    // Training mode with a ratio of 0 drops nothing: the identity (torchvision's Swin blocks export their
    // attention dropout so, p = 0 with training=True).
    const Tensor* ratio = c.in(1) ? knownConstant(c.in(1)) : nullptr;
    const bool dropsNothing = ratio && ratio->numel() == 1 && ratio->getDouble(0) == 0.0;
    if (t->numel() > 0 && t->getInt(0) != 0 && !dropsNothing)
      failUnimpl("training_mode=true is not supported (inference only) unless ratio is a constant 0");
  }
  std::vector<Value*> outs{im.emit("identity", {x})};
  if (c.outputUsed(1)) {
    Tensor one = Tensor::scalarBool(true);
    Tensor v = check(one.reshaped({1}));
    outs.push_back(im.emit("constant_of_shape", {im.emit("shape", {x})}, {{"value", v}}));
  }
  return outs;
}

std::vector<Value*> convertDepthSpace(NodeCtx& c, bool toSpace) {
  Importer& im = c.im;
  Value* x = c.req(0);
  const int64_t b = c.getInt("blocksize", 0);
  if (b <= 0) failArg("blocksize must be positive");
  const Type& t = x->type();
  if (!t.rankKnown() || t.rank() != 4 || !t.dim(1).isStatic() || !t.dim(2).isStatic() || !t.dim(3).isStatic())
    failUnimpl("needs a rank-4 input with static C, H, W");
  const int64_t C = t.dim(1).value(), H = t.dim(2).value(), W = t.dim(3).value();
  if (toSpace) {
    const std::string mode = c.getString("mode", "DCR");
    if (C % (b * b)) failArg("channels ", C, " not divisible by blocksize^2");
    Value* r;
    std::vector<int64_t> perm;
    if (mode == "DCR") {
      r = im.emit("reshape", {x, im.ints({0, b, b, C / (b * b), H, W})});
      perm = {0, 3, 4, 1, 5, 2};
    } else if (mode == "CRD") {
      r = im.emit("reshape", {x, im.ints({0, C / (b * b), b, b, H, W})});
      perm = {0, 1, 4, 2, 5, 3};
    } else {
      failArg("mode ", quote(mode), " is not DCR or CRD");
    }
    Value* tr = im.emit("transpose", {r}, {{"perm", perm}});
    return one(im.emit("reshape", {tr, im.ints({0, C / (b * b), H * b, W * b})}));
  }
  if (H % b || W % b) failArg("spatial dims not divisible by blocksize");
  Value* r = im.emit("reshape", {x, im.ints({0, C, H / b, b, W / b, b})});
  Value* tr = im.emit("transpose", {r}, {{"perm", std::vector<int64_t>{0, 3, 5, 1, 2, 4}}});
  return one(im.emit("reshape", {tr, im.ints({0, C * b * b, H / b, W / b})}));
}

std::vector<Value*> convertMvn(NodeCtx& c) {
  Importer& im = c.im;
  Value* x = c.req(0);
  auto axes = c.getInts("axes", {0, 2, 3});
  AttrMap ra{{"axes", axes}, {"keepdims", int64_t{1}}};
  const DType d = dtypeOf(x);
  Value* mean = im.emit("reduce_mean", {x}, ra);
  Value* meanSq = im.emit("mul", {mean, mean});
  Value* sqMean = im.emit("reduce_mean", {im.emit("mul", {x, x})}, ra);
  Value* std = im.emit("sqrt", {im.emit("sub", {sqMean, meanSq})});
  Value* den = im.emit("add", {std, im.scalar(d, 1e-9)});
  return one(im.emit("div", {im.emit("sub", {x, mean}), den}));
}

std::vector<Value*> convertLpNorm(NodeCtx& c) {
  Importer& im = c.im;
  Value* x = c.req(0);
  const int64_t axis = c.getInt("axis", -1);
  const int64_t p = c.getInt("p", 2);
  AttrMap ra{{"axes", std::vector<int64_t>{axis}}, {"keepdims", int64_t{1}}};
  Value* norm;
  if (p == 1) norm = im.emit("reduce_sum", {im.emit("abs", {x})}, ra);
  else if (p == 2) norm = im.emit("sqrt", {im.emit("reduce_sum", {im.emit("mul", {x, x})}, ra)});
  else failArg("p must be 1 or 2, got ", p);
  return one(im.emit("div", {x, norm}));
}

std::vector<Value*> convertPow(NodeCtx& c) {
  Importer& im = c.im;
  Value* a = c.req(0);
  Value* b = c.req(1);
  if (dtypeOf(b) != dtypeOf(a)) b = im.emit("cast", {b}, {{"to", std::string(dtypeName(dtypeOf(a)))}});
  return one(im.emit("pow", {a, b}));
}

/// where(x < 0, neg(x), pos(x)) helper with a scalar of x's dtype.
Value* sc(NodeCtx& c, Value* like, double v) { return c.im.scalar(dtypeOf(like), v); }

/// NegativeLogLikelihoodLoss on log-probabilities `logp` [N, C, d...] and class
/// indices `target` [N, d...] (inputs 1 and 2 of the node: target, optional
/// weight [C]), lowered exactly: loss = -logp[n, t, d...] * w[t], 0 where
/// t == ignore_index; mean divides by the sum of the weights used (the count of
/// targets not ignored when there is no weight). Any float dtype.
Value* nllLoss(NodeCtx& c, Value* logp) {
  Importer& im = c.im;
  Value* target = c.req(1);
  Value* weight = c.in(2);
  const std::string reduction = c.getString("reduction", "mean");
  if (reduction != "none" && reduction != "sum" && reduction != "mean")
    failArg("reduction ", quote(reduction), " is not one of none, sum, mean");
  if (!isFloat(dtypeOf(logp))) failArg("input 0 must be a float tensor, not ", dtypeName(dtypeOf(logp)));
  if (!isInteger(dtypeOf(target))) failArg("target must be an integer tensor, not ", dtypeName(dtypeOf(target)));
  if (weight && dtypeOf(weight) != dtypeOf(logp))
    failArg("weight is ", dtypeName(dtypeOf(weight)), " but input 0 is ", dtypeName(dtypeOf(logp)));
  const int64_t r = knownRank(c, logp);
  if (r < 2) failArg("input 0 must have rank >= 2 ([N, C, ...]), not ", r);
  if (target->type().rankKnown() && target->type().rank() != r - 1)
    failArg("target has rank ", target->type().rank(), ", expected ", r - 1, " (input 0 without its class axis)");
  Value* t = dtypeOf(target) == DType::I64 ? target : im.emit("cast", {target}, {{"to", std::string("i64")}});
  // Ignored targets read class 0 (any valid index) and are then zeroed.
  Value* ignored = nullptr;
  if (c.hasAttr("ignore_index")) {
    ignored = im.emit("equal", {t, im.scalar(DType::I64, static_cast<double>(c.getInt("ignore_index", 0)))});
    t = im.emit("where", {ignored, im.scalar(DType::I64, 0), t});
  }
  Value* picked = im.emit("gather_elements", {logp, im.emit("unsqueeze", {t}, {{"axes", std::vector<int64_t>{1}}})},
                          {{"axis", int64_t{1}}});
  Value* loss = im.emit("neg", {im.emit("squeeze", {picked}, {{"axes", std::vector<int64_t>{1}}})});
  Value* zero = sc(c, logp, 0.0);
  Value* w = nullptr;  // per-element weight, when not all ones
  if (weight) {
    w = im.emit("gather", {weight, t}, {{"axis", int64_t{0}}});
    if (ignored) w = im.emit("where", {ignored, zero, w});
  } else if (ignored) {
    w = im.emit("where", {ignored, zero, sc(c, logp, 1.0)});
  }
  if (w) loss = im.emit("mul", {loss, w});
  if (reduction == "none") return loss;
  const AttrMap all{{"keepdims", int64_t{0}}};
  Value* sum = im.emit("reduce_sum", {loss}, all);
  if (reduction == "sum") return sum;
  if (!w) return im.emit("reduce_mean", {loss}, all);
  // w has the target's shape (gathered or selected per target element).
  return im.emit("div", {sum, im.emit("reduce_sum", {w}, all)});
}

/// ONNX LSTM / GRU / RNN as the core's lstm / gru / rnn. An optional input
/// left out before a given one becomes an empty constant (Note [absent
/// optional inputs of the recurrent ops] in core/src/ops/recurrent.cpp);
/// activation names are matched without regard to case.
std::vector<Value*> convertRecurrent(NodeCtx& c, const std::string& op) {
  Importer& im = c.im;
  const size_t maxIn = op == "lstm" ? 8 : 6;
  std::vector<Value*> ins = {c.req(0), c.req(1), c.req(2)};
  size_t last = 2;
  for (size_t i = 3; i < maxIn; ++i)
    if (c.in(i)) last = i;
  if (c.numInputs() > maxIn) failArg(c.where(), ": takes at most ", maxIn, " inputs, got ", c.numInputs());
  for (size_t i = 3; i <= last; ++i) {
    Value* v = c.in(i);
    if (!v) v = im.constant(*Tensor::allocate(i == 4 ? DType::I32 : dtypeOf(ins[0]), Shape{0}));
    ins.push_back(v);
  }
  AttrMap a;
  a["direction"] = c.getString("direction", "forward");
  a["hidden_size"] = c.getInt("hidden_size", 0);
  a["layout"] = c.getInt("layout", 0);
  if (const auto* acts = c.attr("activations")) {
    static const char* const kNames[] = {"Relu",       "Tanh",        "Sigmoid", "Affine",   "LeakyRelu", "ThresholdedRelu",
                                         "ScaledTanh", "HardSigmoid", "Elu",     "Softsign", "Softplus"};
    std::vector<std::string> names;
    for (const std::string& given : acts->strings()) {
      std::string canonical;
      for (const char* k : kNames) {
        const std::string_view kv(k);
        if (kv.size() == given.size() &&
            std::equal(kv.begin(), kv.end(), given.begin(), [](char x, char y) { return std::tolower(x) == std::tolower(y); }))
          canonical = k;
      }
      if (canonical.empty()) failUnimpl(c.where(), ": activation ", quote(given), " is not supported");
      names.push_back(canonical);
    }
    a["activations"] = names;
  }
  if (c.hasAttr("activation_alpha")) a["activation_alpha"] = c.getFloats("activation_alpha");
  if (c.hasAttr("activation_beta")) a["activation_beta"] = c.getFloats("activation_beta");
  if (c.hasAttr("clip")) a["clip"] = c.getFloat("clip", 0);
  if (op == "lstm") a["input_forget"] = c.getInt("input_forget", 0);
  if (op == "gru") a["linear_before_reset"] = c.getInt("linear_before_reset", 0);
  c.ignore({"output_sequence"});  // opset 1: y is always computed
  return im.emitN(op, ins, std::move(a), op == "lstm" ? 3 : 2);
}

/// ONNX Einsum, lowered (any number of operands, ellipsis, repeated labels):
/// a label repeated in one operand takes the diagonal (multiply by an identity
/// mask, sum one of the axes); a label found in one operand only and not in
/// the output is summed at once; operands are then contracted left to right,
/// each pair as one batched matmul ([batch, left, k] x [batch, k, right]) when
/// their dims are static, else as a broadcast multiply and a sum; the result
/// is transposed to the output's label order.
std::vector<Value*> convertEinsum(NodeCtx& c) {
  Importer& im = c.im;
  std::string eq;
  for (char ch : c.getString("equation", "")) if (ch != ' ') eq += ch;
  if (eq.empty()) failArg("attribute 'equation' is required");
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  std::vector<std::string> terms(1);
  for (char ch : lhs) {
    if (ch == ',') terms.emplace_back();
    else terms.back() += ch;
  }
  if (terms.size() != c.numInputs())
    failArg("equation ", quote(eq), " has ", terms.size(), " operands but the node has ", c.numInputs(), " inputs");
  // Labels: letters as themselves, ellipsis dims as 1000 + position (right-aligned across operands).
  constexpr int kEllipsis = 1000;
  std::vector<std::vector<int>> labels(terms.size());
  std::vector<Value*> ops;
  int ellipsisRank = 0;
  auto letters = [&](const std::string& s, bool allowEllipsis, int& dots) {
    std::vector<int> out;
    dots = -1;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s.compare(i, 3, "...") == 0 && allowEllipsis && dots < 0) {
        dots = static_cast<int>(out.size());
        i += 2;
      } else if (std::isalpha(static_cast<unsigned char>(s[i]))) {
        out.push_back(static_cast<unsigned char>(s[i]));
      } else {
        failArg("equation ", quote(eq), ": unexpected ", quote(std::string(1, s[i])));
      }
    }
    return out;
  };
  std::vector<std::pair<std::vector<int>, int>> parsed;  // letters, ellipsis position
  for (size_t k = 0; k < terms.size(); ++k) {
    int dots = -1;
    auto l = letters(terms[k], true, dots);
    Value* v = c.req(k);
    const int64_t r = knownRank(c, v);
    const int64_t e = r - static_cast<int64_t>(l.size());
    if (e < 0 || (dots < 0 && e != 0))
      failArg("operand ", k, " has rank ", r, " but its term ", quote(terms[k]), " has ", l.size(), " labels");
    if (dots >= 0) ellipsisRank = std::max(ellipsisRank, static_cast<int>(e));
    parsed.emplace_back(std::move(l), dots);
    ops.push_back(v);
  }
  for (size_t k = 0; k < terms.size(); ++k) {
    const auto& [l, dots] = parsed[k];
    const int e = static_cast<int>(knownRank(c, ops[k]) - static_cast<int64_t>(l.size()));
    for (int i = 0; i < static_cast<int>(l.size()); ++i) {
      if (i == dots)
        for (int j = 0; j < e; ++j) labels[k].push_back(kEllipsis + ellipsisRank - e + j);
      labels[k].push_back(l[i]);
    }
    if (dots == static_cast<int>(l.size()))
      for (int j = 0; j < e; ++j) labels[k].push_back(kEllipsis + ellipsisRank - e + j);
  }
  std::vector<int> out;
  if (arrow != std::string::npos) {
    int dots = -1;
    auto l = letters(eq.substr(arrow + 2), true, dots);
    for (int i = 0; i <= static_cast<int>(l.size()); ++i) {
      if (i == dots)
        for (int j = 0; j < ellipsisRank; ++j) out.push_back(kEllipsis + j);
      if (i < static_cast<int>(l.size())) out.push_back(l[i]);
    }
    for (size_t i = 0; i < out.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if (out[i] == out[j]) failArg("equation ", quote(eq), ": output label repeated");
  } else {
    for (int j = 0; j < ellipsisRank; ++j) out.push_back(kEllipsis + j);
    std::map<int, int> count;
    for (const auto& l : labels)
      for (int x : l)
        if (x < kEllipsis) ++count[x];
    for (const auto& [x, n] : count)
      if (n == 1) out.push_back(x);
  }
  for (int x : out) {
    bool found = false;
    for (const auto& l : labels) found = found || std::find(l.begin(), l.end(), x) != l.end();
    if (!found) failArg("equation ", quote(eq), ": output label not found in any operand");
  }
  auto staticDim = [&](Value* v, size_t axis) -> std::optional<int64_t> {
    const Dim& d = v->type().dim(static_cast<int64_t>(axis));
    if (d.isStatic()) return d.value();
    return std::nullopt;
  };
  auto sumAxes = [&](Value* v, std::vector<int>& l, const std::vector<size_t>& axes) {
    if (axes.empty()) return v;
    std::vector<int64_t> a(axes.begin(), axes.end());
    v = im.emit("reduce_sum", {v}, {{"axes", a}, {"keepdims", int64_t{0}}});
    std::vector<int> kept;
    for (size_t i = 0; i < l.size(); ++i)
      if (std::find(axes.begin(), axes.end(), i) == axes.end()) kept.push_back(l[i]);
    l = kept;
    return v;
  };
  // 1. Diagonals.
  for (size_t k = 0; k < ops.size(); ++k) {
    auto& l = labels[k];
    for (size_t q = 1; q < l.size(); ++q) {
      const auto p = static_cast<size_t>(std::find(l.begin(), l.begin() + static_cast<int64_t>(q), l[q]) - l.begin());
      if (p == q) continue;
      const auto n = staticDim(ops[k], p);
      if (!n || staticDim(ops[k], q) != n)
        failUnimpl("the repeated label of operand ", k, " needs equal static dims");
      Shape s(l.size(), 1);
      s[p] = s[q] = *n;
      Tensor eye = check(Tensor::allocate(dtypeOf(ops[k]), s));
      // Only dims p < q are not 1: element (i, i) is at i * n + i.
      for (int64_t i = 0; i < *n; ++i) eye.setDouble(i * *n + i, 1.0);
      ops[k] = im.emit("mul", {ops[k], im.constant(std::move(eye))});
      ops[k] = sumAxes(ops[k], l, {q});
      --q;
    }
  }
  auto neededAfter = [&](size_t k) {  // labels used by operands after k or by the output
    std::set<int> s(out.begin(), out.end());
    for (size_t j = k + 1; j < labels.size(); ++j) s.insert(labels[j].begin(), labels[j].end());
    return s;
  };
  // 2. Labels of one operand only.
  for (size_t k = 0; k < ops.size(); ++k) {
    std::set<int> elsewhere(out.begin(), out.end());
    for (size_t j = 0; j < labels.size(); ++j)
      if (j != k) elsewhere.insert(labels[j].begin(), labels[j].end());
    std::vector<size_t> axes;
    for (size_t i = 0; i < labels[k].size(); ++i)
      if (!elsewhere.count(labels[k][i])) axes.push_back(i);
    ops[k] = sumAxes(ops[k], labels[k], axes);
  }
  auto transposeTo = [&](Value* v, std::vector<int>& l, const std::vector<int>& order) {
    std::vector<int64_t> perm;
    for (int x : order) perm.push_back(std::find(l.begin(), l.end(), x) - l.begin());
    bool identity = true;
    for (size_t i = 0; i < perm.size(); ++i) identity = identity && perm[i] == static_cast<int64_t>(i);
    l = order;
    return identity ? v : im.emit("transpose", {v}, {{"perm", perm}});
  };
  // 3. Contract left to right.
  Value* acc = ops[0];
  std::vector<int> accL = labels[0];
  for (size_t k = 1; k < ops.size(); ++k) {
    Value* b = ops[k];
    std::vector<int> bL = labels[k];
    const std::set<int> need = neededAfter(k);
    std::vector<int> batch, left, right, contracted;
    for (int x : accL) {
      const bool inB = std::find(bL.begin(), bL.end(), x) != bL.end();
      if (inB) (need.count(x) ? batch : contracted).push_back(x);
      else left.push_back(x);
    }
    for (int x : bL)
      if (std::find(accL.begin(), accL.end(), x) == accL.end()) right.push_back(x);
    auto cat = [](std::initializer_list<const std::vector<int>*> parts) {
      std::vector<int> r;
      for (const auto* p : parts) r.insert(r.end(), p->begin(), p->end());
      return r;
    };
    Value* a = transposeTo(acc, accL, cat({&batch, &left, &contracted}));
    b = transposeTo(b, bL, cat({&batch, &contracted, &right}));
    // Static sizes of every group, or nullopt.
    auto dimsOfGroup = [&](Value* v, size_t from, size_t n) -> std::optional<std::vector<int64_t>> {
      std::vector<int64_t> d;
      for (size_t i = from; i < from + n; ++i) {
        auto s = staticDim(v, i);
        if (!s) return std::nullopt;
        d.push_back(*s);
      }
      return d;
    };
    const auto aBatch = dimsOfGroup(a, 0, batch.size()), bBatch = dimsOfGroup(b, 0, batch.size());
    const auto aLeft = dimsOfGroup(a, batch.size(), left.size());
    const auto aK = dimsOfGroup(a, batch.size() + left.size(), contracted.size());
    const auto bK = dimsOfGroup(b, batch.size(), contracted.size());
    const auto bRight = dimsOfGroup(b, batch.size() + contracted.size(), right.size());
    auto prod = [](const std::vector<int64_t>& v) {
      int64_t p = 1;
      for (int64_t x : v) p *= x;
      return p;
    };
    if (aBatch && bBatch && aLeft && aK && bK && bRight && *aK == *bK) {
      std::vector<int64_t> outBatch;
      for (size_t i = 0; i < batch.size(); ++i) {
        const int64_t x = (*aBatch)[i], y = (*bBatch)[i];
        if (x != y && x != 1 && y != 1) failArg("dims of label batch ", i, " do not broadcast (", x, " vs ", y, ")");
        outBatch.push_back(x == 1 ? y : x);
      }
      std::vector<int64_t> as(*aBatch), bs(*bBatch);
      as.push_back(prod(*aLeft));
      as.push_back(prod(*aK));
      bs.push_back(prod(*bK));
      bs.push_back(prod(*bRight));
      Value* m = im.emit("matmul", {im.emit("reshape", {a, im.ints(as)}), im.emit("reshape", {b, im.ints(bs)})});
      std::vector<int64_t> os = outBatch;
      os.insert(os.end(), aLeft->begin(), aLeft->end());
      os.insert(os.end(), bRight->begin(), bRight->end());
      acc = im.emit("reshape", {m, im.ints(os)});
    } else {
      // Broadcast: both as [batch, left, right, contracted] with size-1 dims for what they lack.
      std::vector<int64_t> aNew, bNew;
      for (size_t i = 0; i < right.size(); ++i) aNew.push_back(static_cast<int64_t>(batch.size() + left.size() + i));
      for (size_t i = 0; i < left.size(); ++i) bNew.push_back(static_cast<int64_t>(batch.size() + i));
      // a: [batch, left, contracted] -> insert right dims before contracted.
      Value* a2 = aNew.empty() ? a : im.emit("unsqueeze", {a}, {{"axes", aNew}});
      // b: [batch, contracted, right] -> [batch, right, contracted], then insert left dims.
      std::vector<int> bOrder = cat({&batch, &right, &contracted});
      Value* b2 = transposeTo(b, bL, bOrder);
      if (!bNew.empty()) b2 = im.emit("unsqueeze", {b2}, {{"axes", bNew}});
      Value* prodv = im.emit("mul", {a2, b2});
      std::vector<int64_t> axes;
      for (size_t i = 0; i < contracted.size(); ++i)
        axes.push_back(static_cast<int64_t>(batch.size() + left.size() + right.size() + i));
      acc = axes.empty() ? prodv : im.emit("reduce_sum", {prodv}, {{"axes", axes}, {"keepdims", int64_t{0}}});
    }
    accL = cat({&batch, &left, &right});
  }
  // A single operand with nothing to do still gives a new value.
  Value* result = transposeTo(acc, accL, out);
  if (result == c.in(0)) result = im.emit("identity", {result});
  return one(result);
}

/// ONNX quantization ops onto the core's quantize_linear, dequantize_linear,
/// dynamic_quantize_linear, matmul_integer and conv_integer. QLinearMatMul and
/// QLinearConv become the integer product (exact, i32), then one
/// dequantize_linear by the multiplier a_scale * b_scale / y_scale (per
/// tensor, or per column / output channel) and a quantize_linear with scale 1
/// and y's zero point: round(acc * multiplier) + y_zero_point, saturated.
Value* quantZeroPoint(NodeCtx& c, size_t i, DType dtype) {
  if (Value* v = c.in(i)) return v;
  return c.im.scalar(dtype, 0);
}

void checkNoBlockSize(NodeCtx& c) {
  if (c.getInt("block_size", 0) != 0) failUnimpl(c.where(), ": blocked quantization (block_size) is not supported");
}

std::vector<Value*> convertQuantizeLinear(NodeCtx& c) {
  checkNoBlockSize(c);
  c.ignore({"saturate"});  // only affects float8 targets
  DType zpType = DType::U8;
  if (c.hasAttr("output_dtype") && c.getInt("output_dtype", 0) != 0)
    zpType = requireElemType(static_cast<int>(c.getInt("output_dtype", 0)), "output_dtype of " + c.where());
  Value* zp = quantZeroPoint(c, 2, zpType);
  return one(c.im.emit("quantize_linear", {c.req(0), c.req(1), zp}, {{"axis", c.getInt("axis", 1)}}));
}

std::vector<Value*> convertDequantizeLinear(NodeCtx& c) {
  checkNoBlockSize(c);
  std::vector<Value*> ins = {c.req(0), c.req(1)};
  if (Value* zp = c.in(2)) ins.push_back(zp);
  return one(c.im.emit("dequantize_linear", ins, {{"axis", c.getInt("axis", 1)}}));
}

/// matmul_integer / conv_integer inputs: an absent zero point before a given one is 0.
std::vector<Value*> integerOperands(NodeCtx& c, Value* a, Value* b, size_t azp, size_t bzp) {
  std::vector<Value*> ins = {a, b};
  if (c.in(azp) || c.in(bzp)) ins.push_back(quantZeroPoint(c, azp, dtypeOf(a)));
  if (c.in(bzp)) ins.push_back(c.in(bzp));
  return ins;
}

/// round(acc * scaleA * scaleB / scaleY) + zpY in zpY's dtype; `axis` is the
/// dim of acc that a per-channel multiplier runs along.
Value* requantize(NodeCtx& c, Value* acc, Value* scaleA, Value* scaleB, Value* scaleY, Value* zpY, int64_t axis) {
  Importer& im = c.im;
  Value* multiplier = im.emit("div", {im.emit("mul", {scaleA, scaleB}), scaleY});
  if (multiplier->type().rankKnown() && multiplier->type().rank() > 1)
    failUnimpl(c.where(), ": the scales must be scalars or 1-D, got ", multiplier->type().toString());
  Value* real = im.emit("dequantize_linear", {acc, multiplier}, {{"axis", axis}});
  return im.emit("quantize_linear", {real, im.scalar(DType::F32, 1.0), zpY}, {{"axis", axis}});
}

std::vector<Value*> convertQLinearMatMul(NodeCtx& c) {
  Value* a = c.req(0);
  Value* b = c.req(3);
  Value* acc = c.im.emit("matmul_integer", integerOperands(c, a, b, 2, 5));
  return one(requantize(c, acc, c.req(1), c.req(4), c.req(6), c.req(7), -1));
}

std::vector<Value*> convertQLinearConv(NodeCtx& c) {
  Importer& im = c.im;
  AttrMap a = poolAttrs(c, false, false, true);
  a["group"] = c.getInt("group", 1);
  Value* x = c.req(0);
  Value* acc = im.emit("conv_integer", integerOperands(c, x, c.req(3), 2, 5), std::move(a));
  if (Value* bias = c.in(8)) {
    const int64_t r = knownRank(c, x);
    std::vector<int64_t> axes;
    for (int64_t i = 1; i < r - 1; ++i) axes.push_back(i);
    acc = im.emit("add", {acc, axes.empty() ? bias : im.emit("unsqueeze", {bias}, {{"axes", axes}})});
  }
  return one(requantize(c, acc, c.req(1), c.req(4), c.req(6), c.req(7), 1));
}

const std::map<std::string, Handler, std::less<>>& handlers() {
  static const auto* table = [] {
    auto* t = new std::map<std::string, Handler, std::less<>>();
    auto& m = *t;
    // Elementwise, direct.
    for (auto [onnxOp, op] : std::initializer_list<std::pair<const char*, const char*>>{
             {"Abs", "abs"},         {"Neg", "neg"},         {"Exp", "exp"},         {"Log", "log"},
             {"Ceil", "ceil"},       {"Floor", "floor"},     {"Round", "round"},     {"Sqrt", "sqrt"},
             {"Reciprocal", "reciprocal"}, {"Sigmoid", "sigmoid"}, {"Tanh", "tanh"}, {"Relu", "relu"},
             {"Erf", "erf"},         {"Sin", "sin"},         {"Cos", "cos"},         {"Sign", "sign"},
             {"Tan", "tan"},         {"Asin", "asin"},       {"Acos", "acos"},       {"Atan", "atan"},
             {"Sinh", "sinh"},       {"Cosh", "cosh"},       {"Asinh", "asinh"},     {"Acosh", "acosh"},
             {"Atanh", "atanh"},     {"Not", "logical_not"}, {"Identity", "identity"}})
      m[onnxOp] = unaryOp(op);
    for (auto [onnxOp, op] : std::initializer_list<std::pair<const char*, const char*>>{
             {"Add", "add"},         {"Sub", "sub"},           {"Mul", "mul"},   {"Div", "div"},
             {"Equal", "equal"},     {"Greater", "greater"},   {"Less", "less"}, {"GreaterOrEqual", "greater_equal"},
             {"LessOrEqual", "less_equal"}, {"And", "logical_and"}, {"Or", "logical_or"}, {"Xor", "logical_xor"},
             {"MatMul", "matmul"},   {"Expand", "expand"},     {"Tile", "tile"}})
      m[onnxOp] = binaryOp(op);
    m["Pow"] = convertPow;
    m["Mod"] = [](NodeCtx& c) { return one(c.im.emit("mod", {c.req(0), c.req(1)}, {{"fmod", c.getInt("fmod", 0)}})); };
    m["BitShift"] = [](NodeCtx& c) {
      const std::string dir = c.getString("direction", "");
      if (dir != "LEFT" && dir != "RIGHT") failArg("attribute 'direction' must be \"LEFT\" or \"RIGHT\", got ", quote(dir));
      return one(c.im.emit("bit_shift", {c.req(0), c.req(1)}, {{"direction", std::string(dir == "LEFT" ? "left" : "right")}}));
    };
    m["Where"] = [](NodeCtx& c) { return one(c.im.emit("where", {c.req(0), c.req(1), c.req(2)})); };
    m["Sum"] = variadic("add");
    m["Max"] = variadic("maximum");
    m["Min"] = variadic("minimum");
    m["Mean"] = variadic("add", true);
    // Activations.
    m["LeakyRelu"] = [](NodeCtx& c) {
      return one(c.im.emit("leaky_relu", {c.req(0)}, {{"alpha", c.getFloat("alpha", 0.01)}}));
    };
    m["Gelu"] = [](NodeCtx& c) {
      return one(c.im.emit("gelu", {c.req(0)}, {{"approximate", c.getString("approximate", "none")}}));
    };
    m["Softplus"] = [](NodeCtx& c) {  // log(exp(x) + 1)
      Value* x = c.req(0);
      return one(c.im.emit("log", {c.im.emit("add", {c.im.emit("exp", {x}), sc(c, x, 1)})}));
    };
    m["Softsign"] = [](NodeCtx& c) {  // x / (1 + |x|)
      Value* x = c.req(0);
      return one(c.im.emit("div", {x, c.im.emit("add", {c.im.emit("abs", {x}), sc(c, x, 1)})}));
    };
    auto hardSigmoid = [](NodeCtx& c, Value* x, double alpha, double beta) {
      Value* y = c.im.emit("add", {c.im.emit("mul", {x, sc(c, x, alpha)}), sc(c, x, beta)});
      return c.im.emit("clip", {y}, {{"min", 0.0}, {"max", 1.0}});
    };
    m["HardSigmoid"] = [hardSigmoid](NodeCtx& c) {
      return one(hardSigmoid(c, c.req(0), c.getFloat("alpha", 0.2), c.getFloat("beta", 0.5)));
    };
    m["HardSwish"] = [hardSigmoid](NodeCtx& c) {
      Value* x = c.req(0);
      return one(c.im.emit("mul", {x, hardSigmoid(c, x, 1.0 / 6.0, 0.5)}));
    };
    m["Elu"] = [](NodeCtx& c) {  // x < 0 ? alpha * (exp(x) - 1) : x
      Value* x = c.req(0);
      const double alpha = c.getFloat("alpha", 1.0);
      Value* neg = c.im.emit("mul", {c.im.emit("sub", {c.im.emit("exp", {x}), sc(c, x, 1)}), sc(c, x, alpha)});
      return one(c.im.emit("where", {c.im.emit("less", {x, sc(c, x, 0)}), neg, x}));
    };
    m["Selu"] = [](NodeCtx& c) {  // gamma * (x <= 0 ? alpha * exp(x) - alpha : x)
      Value* x = c.req(0);
      const double alpha = c.getFloat("alpha", 1.67326319217681884765625);
      const double gamma = c.getFloat("gamma", 1.05070102214813232421875);
      Value* neg = c.im.emit("sub", {c.im.emit("mul", {c.im.emit("exp", {x}), sc(c, x, alpha)}), sc(c, x, alpha)});
      Value* y = c.im.emit("where", {c.im.emit("less_equal", {x, sc(c, x, 0)}), neg, x});
      return one(c.im.emit("mul", {y, sc(c, x, gamma)}));
    };
    m["Celu"] = [](NodeCtx& c) {  // max(0, x) + min(0, alpha * (exp(x / alpha) - 1))
      Value* x = c.req(0);
      const double alpha = c.getFloat("alpha", 1.0);
      Value* e = c.im.emit("exp", {c.im.emit("div", {x, sc(c, x, alpha)})});
      Value* neg = c.im.emit("mul", {c.im.emit("sub", {e, sc(c, x, 1)}), sc(c, x, alpha)});
      return one(c.im.emit("add", {c.im.emit("maximum", {x, sc(c, x, 0)}), c.im.emit("minimum", {neg, sc(c, x, 0)})}));
    };
    m["PRelu"] = [](NodeCtx& c) {  // x < 0 ? slope * x : x
      Value* x = c.req(0);
      Value* slope = c.req(1);
      // Before opset 7 a 1-D slope of C values is per channel (dim 1); models upgraded from those keep that
      // shape, which does not broadcast against x from the right: give it x's rank as [C, 1, ...].
      const Type& xt = x->type();
      const Type& st = slope->type();
      if (xt.rankKnown() && xt.rank() > 2 && st.rankKnown() && st.rank() == 1 && st.dim(0).isStatic() &&
          st.dim(0).value() > 1 && xt.dim(1).isStatic() && xt.dim(1).value() == st.dim(0).value() &&
          !(xt.dim(xt.rank() - 1).isStatic() && xt.dim(xt.rank() - 1).value() == st.dim(0).value())) {
        std::vector<int64_t> perChannel(static_cast<size_t>(xt.rank() - 1), 1);
        perChannel[0] = st.dim(0).value();
        slope = c.im.emit("reshape", {slope, c.im.ints(perChannel)});
      }
      return one(c.im.emit("where", {c.im.emit("less", {x, sc(c, x, 0)}), c.im.emit("mul", {x, slope}), x}));
    };
    m["ThresholdedRelu"] = [](NodeCtx& c) {
      Value* x = c.req(0);
      const double alpha = c.getFloat("alpha", 1.0);
      return one(c.im.emit("where", {c.im.emit("greater", {x, sc(c, x, alpha)}), x, sc(c, x, 0)}));
    };
    m["Shrink"] = [](NodeCtx& c) {
      Value* x = c.req(0);
      const double lambd = c.getFloat("lambd", 0.5), bias = c.getFloat("bias", 0.0);
      Value* lo = c.im.emit("less", {x, sc(c, x, -lambd)});
      Value* hi = c.im.emit("greater", {x, sc(c, x, lambd)});
      Value* inner = c.im.emit("where", {hi, c.im.emit("sub", {x, sc(c, x, bias)}), sc(c, x, 0)});
      return one(c.im.emit("where", {lo, c.im.emit("add", {x, sc(c, x, bias)}), inner}));
    };
    m["Mish"] = [](NodeCtx& c) {  // x * tanh(log(1 + exp(x)))
      Value* x = c.req(0);
      Value* sp = c.im.emit("log", {c.im.emit("add", {c.im.emit("exp", {x}), sc(c, x, 1)})});
      return one(c.im.emit("mul", {x, c.im.emit("tanh", {sp})}));
    };
    m["IsNaN"] = [](NodeCtx& c) {
      Value* x = c.req(0);
      return one(c.im.emit("logical_not", {c.im.emit("equal", {x, x})}));
    };
    m["IsInf"] = [](NodeCtx& c) {
      Value* x = c.req(0);
      const bool pos = c.getInt("detect_positive", 1) != 0, neg = c.getInt("detect_negative", 1) != 0;
      const double inf = std::numeric_limits<double>::infinity();
      Value* p = c.im.emit("equal", {x, sc(c, x, inf)});
      Value* n = c.im.emit("equal", {x, sc(c, x, -inf)});
      if (pos && neg) return one(c.im.emit("logical_or", {p, n}));
      if (pos) return one(p);
      if (neg) return one(n);
      return one(c.im.emit("logical_and", {p, n}));
    };
    m["Clip"] = convertClip;
    m["Cast"] = [](NodeCtx& c) {
      if (!c.hasAttr("to")) failArg("Cast needs 'to'");
      c.ignore({"saturate"});
      return one(c.im.emit("cast", {c.req(0)}, {{"to", dtypeNameOfOnnx(c, c.getInt("to", 0))}}));
    };
    m["CastLike"] = [](NodeCtx& c) {
      return one(c.im.emit("cast", {c.req(0)}, {{"to", std::string(dtypeName(dtypeOf(c.req(1))))}}));
    };
    // Softmax family.
    m["Softmax"] = softmaxLike("softmax");
    m["LogSoftmax"] = softmaxLike("log_softmax");
    m["Hardmax"] = [](NodeCtx& c) {
      Value* x = c.req(0);
      if (c.opset >= 13) return one(hardmaxAt(c, x, c.getInt("axis", -1)));
      return one(coerced2d(c, x, c.getInt("axis", 1), [&](Value* v) { return hardmaxAt(c, v, -1); }));
    };
    m["Einsum"] = convertEinsum;
    m["GridSample"] = [](NodeCtx& c) {
      return one(c.im.emit("grid_sample", {c.req(0), c.req(1)},
                           {{"mode", c.getString("mode", "bilinear")},
                            {"padding_mode", c.getString("padding_mode", "zeros")},
                            {"align_corners", c.getInt("align_corners", 0)}}));
    };
    m["LRN"] = [](NodeCtx& c) {
      // y = x / (bias + alpha / size * sum of x^2 over the channel window [c - floor((size-1)/2),
      // c + ceil((size-1)/2)])^beta. The window sum is an average pool (count_include_pad, so the divisor is
      // always size) of x^2 viewed as [N, 1, C, rest]: alpha * avg == alpha / size * sum.
      Importer& im = c.im;
      Value* x = c.req(0);
      const int64_t size = c.getInt("size", 0);
      if (size <= 0) failArg("size must be a positive integer, got ", size);
      if (!isFloat(dtypeOf(x))) failArg("input must be a float tensor, not ", dtypeName(dtypeOf(x)));
      if (knownRank(c, x) < 2) failArg("input must have rank >= 2 ([N, C, ...])");
      Value* sq = im.emit("unsqueeze", {im.emit("mul", {x, x})}, {{"axes", std::vector<int64_t>{1}}});
      sq = im.emit("reshape", {sq, im.ints({0, 0, 0, -1})});
      AttrMap pool{{"kernel_shape", std::vector<int64_t>{size, 1}},
                   {"pads", std::vector<int64_t>{(size - 1) / 2, 0, size / 2, 0}},
                   {"count_include_pad", int64_t{1}}};
      Value* avg = im.emit("reshape", {im.emit("avg_pool", {sq}, std::move(pool)), im.emit("shape", {x})});
      Value* base = im.emit("add", {sc(c, x, c.getFloat("bias", 1.0)), im.emit("mul", {sc(c, x, c.getFloat("alpha", 1e-4)), avg})});
      return one(im.emit("div", {x, im.emit("pow", {base, sc(c, x, c.getFloat("beta", 0.75))})}));
    };
    // Losses (inference form), lowered: see nllLoss.
    m["NegativeLogLikelihoodLoss"] = [](NodeCtx& c) { return one(nllLoss(c, c.req(0))); };
    m["SoftmaxCrossEntropyLoss"] = [](NodeCtx& c) {
      Value* logp = c.im.emit("log_softmax", {c.req(0)}, {{"axis", int64_t{1}}});
      return std::vector<Value*>{nllLoss(c, logp), logp};
    };
    // Reductions.
    m["ReduceSum"] = reduceOp("reduce_sum", 13);
    m["ReduceMean"] = reduceOp("reduce_mean", 18);
    m["ReduceMax"] = reduceOp("reduce_max", 18);
    m["ReduceMin"] = reduceOp("reduce_min", 18);
    m["ReduceProd"] = reduceOp("reduce_prod", 18);
    m["ReduceL1"] = [](NodeCtx& c) { return one(reduce(c, "reduce_sum", c.im.emit("abs", {c.req(0)}), 18)); };
    m["ReduceL2"] = [](NodeCtx& c) {
      Value* x = c.req(0);
      return one(c.im.emit("sqrt", {reduce(c, "reduce_sum", c.im.emit("mul", {x, x}), 18)}));
    };
    m["ReduceSumSquare"] = [](NodeCtx& c) {
      Value* x = c.req(0);
      return one(reduce(c, "reduce_sum", c.im.emit("mul", {x, x}), 18));
    };
    m["ReduceLogSum"] = [](NodeCtx& c) { return one(c.im.emit("log", {reduce(c, "reduce_sum", c.req(0), 18)})); };
    m["ReduceLogSumExp"] = [](NodeCtx& c) {
      // Shifted by the (finite) max so that large x does not overflow: log(sum(exp(x - m))) + m.
      Value* x = c.req(0);
      Value* mk = reduce(c, "reduce_max", x, 18, 1);
      Value* finite = c.im.emit("equal", {c.im.emit("sub", {mk, mk}), sc(c, mk, 0)});
      Value* shift = c.im.emit("where", {finite, mk, sc(c, mk, 0)});
      Value* s = reduce(c, "reduce_sum", c.im.emit("exp", {c.im.emit("sub", {x, shift})}), 18);
      Value* shiftOut = c.getInt("keepdims", 1) != 0 ? shift : reduce(c, "reduce_max", shift, 18);
      return one(c.im.emit("add", {c.im.emit("log", {s}), shiftOut}));
    };
    for (auto [onnxOp, op] : std::initializer_list<std::pair<const char*, const char*>>{{"ArgMax", "argmax"},
                                                                                        {"ArgMin", "argmin"}})
      m[onnxOp] = [op = op](NodeCtx& c) {
        AttrMap a{{"axis", c.getInt("axis", 0)}, {"keepdims", c.getInt("keepdims", 1)}};
        a["select_last_index"] = c.getInt("select_last_index", 0);
        return one(c.im.emit(op, {c.req(0)}, std::move(a)));
      };
    // NN.
    m["Gemm"] = [](NodeCtx& c) {
      AttrMap a{{"alpha", c.getFloat("alpha", 1.0)}, {"beta", c.getFloat("beta", 1.0)},
                {"transA", c.getInt("transA", 0)}, {"transB", c.getInt("transB", 0)}};
      std::vector<Value*> ins{c.req(0), c.req(1)};
      if (c.in(2)) ins.push_back(c.in(2));
      return one(c.im.emit("gemm", ins, std::move(a)));
    };
    auto convLike = [](const char* op, bool transpose) {
      return [op, transpose](NodeCtx& c) {
        AttrMap a = poolAttrs(c, false, false, true);
        a["group"] = c.getInt("group", 1);
        if (transpose) {
          if (auto v = c.getIntsOpt("output_padding")) a["output_padding"] = *v;
          if (auto v = c.getIntsOpt("output_shape")) a["output_shape"] = *v;
        }
        std::vector<Value*> ins{c.req(0), c.req(1)};
        if (c.in(2)) ins.push_back(c.in(2));
        return one(c.im.emit(op, ins, std::move(a)));
      };
    };
    m["Conv"] = convLike("conv", false);
    m["ConvTranspose"] = convLike("conv_transpose", true);
    m["MaxPool"] = [](NodeCtx& c) {
      c.ignore({"storage_order"});
      Value* y = c.im.emit("max_pool", {c.req(0)}, poolAttrs(c, false, true, true));
      if (!c.outputUsed(1)) return one(y);
      return std::vector<Value*>{y, maxPoolIndices(c, c.req(0), y)};
    };
    m["AveragePool"] = [](NodeCtx& c) {
      return one(c.im.emit("avg_pool", {c.req(0)}, poolAttrs(c, true, true, true)));
    };
    m["GlobalAveragePool"] = unaryOp("global_avg_pool");
    m["GlobalMaxPool"] = unaryOp("global_max_pool");
    m["BatchNormalization"] = convertBatchNorm;
    m["InstanceNormalization"] = [](NodeCtx& c) {
      return one(c.im.emit("instance_norm", {c.req(0), c.req(1), c.req(2)}, {{"epsilon", c.getFloat("epsilon", 1e-5)}}));
    };
    m["LayerNormalization"] = [](NodeCtx& c) {
      Importer& im = c.im;
      const int64_t stash = c.getInt("stash_type", 1);
      const int64_t axis = c.getInt("axis", -1);
      const double eps = c.getFloat("epsilon", 1e-5);
      Value* x = c.req(0);
      std::vector<Value*> ins{x, c.req(1)};
      if (c.in(2)) ins.push_back(c.in(2));
      std::vector<Value*> outs{im.emit("layer_norm", ins, {{"axis", axis}, {"epsilon", eps}})};
      if (c.outputUsed(1) || c.outputUsed(2)) {
        // Mean and InvStdDev over dims [axis, rank), in the stash type.
        const int64_t r = knownRank(c, x);
        const int64_t a = axis < 0 ? axis + r : axis;
        if (a < 0 || a >= r) failArg("axis ", axis, " out of range for rank ", r);
        std::vector<int64_t> axes;
        for (int64_t i = a; i < r; ++i) axes.push_back(i);
        Value* xs = x;
        if (stash == 1 && dtypeOf(x) != DType::F32) xs = im.emit("cast", {x}, {{"to", std::string("f32")}});
        AttrMap ra{{"axes", axes}, {"keepdims", int64_t{1}}};
        Value* mean = im.emit("reduce_mean", {xs}, ra);
        Value* d = im.emit("sub", {xs, mean});
        Value* var = im.emit("reduce_mean", {im.emit("mul", {d, d})}, ra);
        Value* inv = im.emit("reciprocal", {im.emit("sqrt", {im.emit("add", {var, sc(c, var, eps)})})});
        outs.push_back(mean);
        outs.push_back(inv);
      }
      return outs;
    };
    m["Trilu"] = [](NodeCtx& c) {
      Importer& im = c.im;
      Value* x = c.req(0);
      const bool upper = c.getInt("upper", 1) != 0;
      const int64_t r = knownRank(c, x);
      if (r < 2) failArg("Trilu needs rank >= 2");
      auto dimRange = [&](int64_t d) {
        Value* n = im.emit("squeeze", {im.emit("shape", {x}, {{"start", d}, {"end", d + 1}})},
                           {{"axes", std::vector<int64_t>{0}}});
        return im.emit("range", {im.scalar(DType::I64, 0), n, im.scalar(DType::I64, 1)});
      };
      Value* rows = im.emit("unsqueeze", {dimRange(r - 2)}, {{"axes", std::vector<int64_t>{1}}});
      Value* cols = dimRange(r - 1);
      Value* diff = im.emit("sub", {cols, rows});  // [H, W]: j - i
      Value* k = c.in(1) ? c.in(1) : im.scalar(DType::I64, 0);
      if (k->type().rankKnown() && k->type().rank() == 1) k = im.emit("squeeze", {k}, {{"axes", std::vector<int64_t>{0}}});
      Value* mask = im.emit(upper ? "greater_equal" : "less_equal", {diff, k});
      return one(im.emit("where", {mask, x, sc(c, x, 0)}));
    };
    m["QuantizeLinear"] = convertQuantizeLinear;
    m["DequantizeLinear"] = convertDequantizeLinear;
    m["DynamicQuantizeLinear"] = [](NodeCtx& c) { return c.im.emitN("dynamic_quantize_linear", {c.req(0)}, {}, 3); };
    m["MatMulInteger"] = [](NodeCtx& c) {
      return one(c.im.emit("matmul_integer", integerOperands(c, c.req(0), c.req(1), 2, 3)));
    };
    m["ConvInteger"] = [](NodeCtx& c) {
      AttrMap a = poolAttrs(c, false, false, true);
      a["group"] = c.getInt("group", 1);
      return one(c.im.emit("conv_integer", integerOperands(c, c.req(0), c.req(1), 2, 3), std::move(a)));
    };
    m["QLinearMatMul"] = convertQLinearMatMul;
    m["QLinearConv"] = convertQLinearConv;
    m["LSTM"] = [](NodeCtx& c) { return convertRecurrent(c, "lstm"); };
    m["GRU"] = [](NodeCtx& c) { return convertRecurrent(c, "gru"); };
    m["RNN"] = [](NodeCtx& c) { return convertRecurrent(c, "rnn"); };
    m["CumSum"] = [](NodeCtx& c) {
      return one(c.im.emit("cumsum", {c.req(0), c.req(1)},
                           {{"exclusive", c.getInt("exclusive", 0)}, {"reverse", c.getInt("reverse", 0)}}));
    };
    // Output sizes that depend on values (Note [data-dependent output sizes] in core/src/ops/dynamic.cpp).
    m["TopK"] = [](NodeCtx& c) {
      // Opset 1-9: k is an attribute; 10+: a run-time input.
      Value* k = c.opset < 10 ? c.im.constant(*Tensor::fromInts(DType::I64, Shape{1}, {c.getInt("k", 1)}))
                              : c.req(1);
      return c.im.emitN("top_k", {c.req(0), k},
                        {{"axis", c.getInt("axis", -1)}, {"largest", c.getInt("largest", 1)},
                         {"sorted", c.getInt("sorted", 1)}},
                        2);
    };
    m["NonZero"] = [](NodeCtx& c) { return one(c.im.emit("non_zero", {c.req(0)})); };
    m["Compress"] = [](NodeCtx& c) {
      AttrMap attrs;
      if (c.hasAttr("axis")) attrs["axis"] = c.getInt("axis", 0);
      return one(c.im.emit("compress", {c.req(0), c.req(1)}, std::move(attrs)));
    };
    m["Unique"] = [](NodeCtx& c) {
      AttrMap attrs{{"sorted", c.getInt("sorted", 1)}};
      if (c.hasAttr("axis")) attrs["axis"] = c.getInt("axis", 0);
      size_t n = 1;  // up to the last output something reads
      for (size_t i = 1; i < std::min<size_t>(c.numOutputs(), 4); ++i)
        if (c.outputUsed(i)) n = i + 1;
      return c.im.emitN("unique", {c.req(0)}, std::move(attrs), n);
    };
    m["NonMaxSuppression"] = [](NodeCtx& c) {
      std::vector<Value*> ins{c.req(0), c.req(1)};
      // Absent optional inputs before a present one take their ONNX defaults (0 boxes, IoU 0).
      const size_t last = c.in(4) ? 5 : c.in(3) ? 4 : c.in(2) ? 3 : 2;
      if (last > 2) ins.push_back(c.in(2) ? c.in(2) : c.im.constant(*Tensor::fromInts(DType::I64, Shape{1}, {0})));
      if (last > 3) ins.push_back(c.in(3) ? c.in(3) : c.im.constant(*Tensor::fromDoubles(DType::F32, Shape{1}, {0.0})));
      if (last > 4) ins.push_back(c.in(4));
      return one(c.im.emit("non_max_suppression", ins, {{"center_point_box", c.getInt("center_point_box", 0)}}));
    };
    m["RoiAlign"] = [](NodeCtx& c) {
      // Opset 10 had no coordinate_transformation_mode: it computed output_half_pixel.
      const std::string ctm =
          c.opset < 16 ? std::string("output_half_pixel") : c.getString("coordinate_transformation_mode", "half_pixel");
      return one(c.im.emit("roi_align", {c.req(0), c.req(1), c.req(2)},
                           {{"mode", c.getString("mode", "avg")},
                            {"output_height", c.getInt("output_height", 1)},
                            {"output_width", c.getInt("output_width", 1)},
                            {"sampling_ratio", c.getInt("sampling_ratio", 0)},
                            {"spatial_scale", c.getFloat("spatial_scale", 1.0)},
                            {"coordinate_transformation_mode", ctm}}));
    };
    m["EyeLike"] = [](NodeCtx& c) {
      Value* x = c.req(0);
      const int64_t k = c.getInt("k", 0);
      DType d = dtypeOf(x);
      if (c.hasAttr("dtype")) d = requireElemType(static_cast<int>(c.getInt("dtype", 1)), "dtype of " + c.where());
      auto shape = x->type().staticShape();
      if (!shape || shape->size() != 2) failUnimpl("EyeLike needs a 2-D input of static shape");
      Tensor t = check(Tensor::allocate(d, *shape));
      for (int64_t i = 0; i < (*shape)[0]; ++i)
        if (i + k >= 0 && i + k < (*shape)[1]) t.setDouble(i * (*shape)[1] + i + k, 1.0);
      return one(c.im.constant(t));
    };
    m["OneHot"] = [](NodeCtx& c) {
      // where(unsqueeze(indices, axis) == range(depth), on, off), negative indices counted from depth.
      Importer& im = c.im;
      Value* indices = c.req(0);
      Value* depth = c.req(1);
      Value* values = c.req(2);
      const int64_t r = knownRank(c, indices);
      int64_t axis = c.getInt("axis", -1);
      if (axis < 0) axis += r + 1;
      if (axis < 0 || axis > r) failArg("axis out of range");
      if (dtypeOf(depth) != DType::I64) depth = im.emit("cast", {depth}, {{"to", std::string("i64")}});
      if (depth->type().rankKnown() && depth->type().rank() == 1)
        depth = im.emit("squeeze", {depth}, {{"axes", std::vector<int64_t>{0}}});
      Value* idx = dtypeOf(indices) == DType::I64 ? indices : im.emit("cast", {indices}, {{"to", std::string("i64")}});
      idx = im.emit("where", {im.emit("less", {idx, im.scalar(DType::I64, 0)}), im.emit("add", {idx, depth}), idx});
      idx = im.emit("unsqueeze", {idx}, {{"axes", std::vector<int64_t>{axis}}});
      Value* range = im.emit("range", {im.scalar(DType::I64, 0), depth, im.scalar(DType::I64, 1)});
      std::vector<int64_t> shape{-1};
      for (int64_t i = axis + 1; i <= r; ++i) shape.push_back(1);
      range = im.emit("reshape", {range, im.ints(shape)});
      Value* mask = im.emit("equal", {idx, range});
      Value* off = im.emit("gather", {values, im.scalar(DType::I64, 0)});
      Value* on = im.emit("gather", {values, im.scalar(DType::I64, 1)});
      return one(im.emit("where", {mask, on, off}));
    };
    m["LpNormalization"] = convertLpNorm;
    m["MeanVarianceNormalization"] = convertMvn;
    m["Dropout"] = convertDropout;
    // Shape ops.
    m["Reshape"] = [](NodeCtx& c) {
      return one(c.im.emit("reshape", {c.req(0), c.req(1)}, {{"allowzero", c.getInt("allowzero", 0)}}));
    };
    m["Transpose"] = [](NodeCtx& c) {
      AttrMap a;
      if (auto p = c.getIntsOpt("perm")) a["perm"] = *p;
      return one(c.im.emit("transpose", {c.req(0)}, std::move(a)));
    };
    m["Concat"] = [](NodeCtx& c) {
      std::vector<Value*> ins;
      for (size_t i = 0; i < c.numInputs(); ++i) ins.push_back(c.req(i));
      if (!c.hasAttr("axis")) failArg("Concat needs 'axis'");
      return one(c.im.emit("concat", ins, {{"axis", c.getInt("axis", 0)}}));
    };
    m["Split"] = convertSplit;
    m["Slice"] = convertSlice;
    m["Gather"] = [](NodeCtx& c) { return one(c.im.emit("gather", {c.req(0), c.req(1)}, {{"axis", c.getInt("axis", 0)}})); };
    m["GatherElements"] = [](NodeCtx& c) {
      return one(c.im.emit("gather_elements", {c.req(0), c.req(1)}, {{"axis", c.getInt("axis", 0)}}));
    };
    // Det of a static n x n (n <= 4) trailing matrix: the Leibniz sum over the
    // n! permutations of signed products of elements (exact arithmetic, no
    // pivoting needed); larger matrices are refused.
    m["Det"] = [](NodeCtx& c) {
      Importer& im = c.im;
      Value* x = c.req(0);
      const Type& t = x->type();
      if (!t.rankKnown() || t.rank() < 2) failArg("Det needs an input of known rank >= 2");
      const int64_t r = t.rank();
      if (!t.dim(r - 1).isStatic() || !t.dim(r - 2).isStatic() || t.dim(r - 1).value() != t.dim(r - 2).value())
        failUnimpl("needs static square trailing dims, got ", t.toString());
      const int64_t n = t.dim(r - 1).value();
      if (n < 1 || n > 4) failUnimpl("matrices of ", n, " x ", n, " (supported: 1 to 4)");
      std::vector<std::vector<Value*>> e(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        Value* row = im.emit("gather", {x, im.scalar(DType::I64, static_cast<double>(i))}, {{"axis", r - 2}});
        for (int64_t j = 0; j < n; ++j)
          e[static_cast<size_t>(i)].push_back(
              im.emit("gather", {row, im.scalar(DType::I64, static_cast<double>(j))}, {{"axis", r - 2}}));
      }
      std::vector<int64_t> perm(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = i;
      Value* det = nullptr;
      do {
        int64_t inversions = 0;
        for (size_t i = 0; i < perm.size(); ++i)
          for (size_t j = i + 1; j < perm.size(); ++j) inversions += perm[i] > perm[j];
        Value* term = e[0][static_cast<size_t>(perm[0])];
        for (size_t i = 1; i < perm.size(); ++i) term = im.emit("mul", {term, e[i][static_cast<size_t>(perm[i])]});
        det = !det ? (inversions % 2 ? im.emit("neg", {term}) : term)
                   : im.emit(inversions % 2 ? "sub" : "add", {det, term});
      } while (std::next_permutation(perm.begin(), perm.end()));
      return one(n == 1 ? im.emit("identity", {det}) : det);
    };
    // DFT (opset 17-19) of a static length n along `axis`: real and imaginary
    // parts as matmuls with the cos/sin matrices of angle 2*pi*j*k/n (scaled by
    // 1/n for the inverse), the last dim holding [real, imag]; onesided keeps
    // the n/2 + 1 first frequencies.
    m["DFT"] = [](NodeCtx& c) {
      Importer& im = c.im;
      if (c.opset >= 20) failUnimpl("DFT-20 (axis as an input)");
      Value* x = c.req(0);
      const Type& t = x->type();
      if (!t.rankKnown() || t.rank() < 2) failArg("DFT needs an input of known rank >= 2");
      const int64_t r = t.rank();
      if (!t.dim(r - 1).isStatic() || (t.dim(r - 1).value() != 1 && t.dim(r - 1).value() != 2))
        failArg("the last dim of the input must be 1 (real) or 2 (complex), got ", t.toString());
      const bool complexIn = t.dim(r - 1).value() == 2;
      int64_t axis = c.getInt("axis", 1);
      if (axis < 0) axis += r;
      if (axis < 0 || axis > r - 2) failArg("axis ", c.getInt("axis", 1), " is out of range for rank ", r);
      if (!t.dim(axis).isStatic()) failUnimpl("needs a static signal length, got ", t.toString());
      const int64_t n = t.dim(axis).value();
      if (c.in(1)) {
        const Tensor* len = knownConstant(c.in(1));
        if (!len || len->numel() != 1 || len->getInt(0) != n)
          failUnimpl("dft_length must be a constant equal to the signal length ", n);
      }
      const bool inverse = c.getInt("inverse", 0) != 0;
      const int64_t m2 = c.getInt("onesided", 0) != 0 ? n / 2 + 1 : n;
      const double scale = inverse ? 1.0 / static_cast<double>(n) : 1.0, sigma = inverse ? -1.0 : 1.0;
      std::vector<double> cosM(static_cast<size_t>(n * m2)), sinM(cosM.size()), negSinM(cosM.size());
      for (int64_t j = 0; j < n; ++j)
        for (int64_t k = 0; k < m2; ++k) {
          const double a = 2.0 * 3.14159265358979323846 * static_cast<double>((j * k) % n) / static_cast<double>(n);
          const auto i = static_cast<size_t>(j * m2 + k);
          cosM[i] = scale * std::cos(a);
          sinM[i] = sigma * scale * std::sin(a);
          negSinM[i] = -sinM[i];
        }
      auto mat = [&](const std::vector<double>& v) { return im.constant(check(Tensor::fromDoubles(dtypeOf(x), {n, m2}, v))); };
      // Signal axis last for the matmuls, then back.
      std::vector<int64_t> perm, back(static_cast<size_t>(r - 1));
      for (int64_t i = 0; i < r - 1; ++i)
        if (i != axis) perm.push_back(i);
      perm.push_back(axis);
      for (size_t i = 0; i < perm.size(); ++i) back[static_cast<size_t>(perm[i])] = static_cast<int64_t>(i);
      auto part = [&](int64_t p) {
        Value* v = im.emit("gather", {x, im.scalar(DType::I64, static_cast<double>(p))}, {{"axis", r - 1}});
        return axis == r - 2 ? v : im.emit("transpose", {v}, {{"perm", perm}});
      };
      Value* xr = part(0);
      Value* re = im.emit("matmul", {xr, mat(cosM)});
      Value* imag = im.emit("matmul", {xr, mat(negSinM)});
      if (complexIn) {
        Value* xi = part(1);
        re = im.emit("add", {re, im.emit("matmul", {xi, mat(sinM)})});
        imag = im.emit("add", {imag, im.emit("matmul", {xi, mat(cosM)})});
      }
      auto finish = [&](Value* v) {
        if (axis != r - 2) v = im.emit("transpose", {v}, {{"perm", back}});
        return im.emit("unsqueeze", {v}, {{"axes", std::vector<int64_t>{r - 1}}});
      };
      return one(im.emit("concat", {finish(re), finish(imag)}, {{"axis", r - 1}}));
    };
    // STFT (opset 17): frames gathered at run-time offsets (frame_step and
    // frame_length may be graph inputs), times the window, then a DFT along the
    // frame as matmuls with cos/sin matrices built at run time for length n.
    m["STFT"] = [](NodeCtx& c) {
      Importer& im = c.im;
      Value* x = c.req(0);
      const Type& t = x->type();
      if (!t.rankKnown() || t.rank() != 3 || !t.dim(2).isStatic() || (t.dim(2).value() != 1 && t.dim(2).value() != 2))
        failArg("STFT needs a signal [batch, length, 1 or 2], got ", t.toString());
      const bool complexIn = t.dim(2).value() == 2;
      auto scalarI64 = [&](Value* v) {
        v = im.emit("cast", {v}, {{"to", std::string("i64")}});
        if (v->type().rankKnown() && v->type().rank() == 1) v = im.emit("squeeze", {v}, {{"axes", std::vector<int64_t>{0}}});
        return v;
      };
      auto dimOf = [&](Value* v, int64_t d) {
        return im.emit("squeeze", {im.emit("shape", {v}, {{"start", d}, {"end", d + 1}})}, {{"axes", std::vector<int64_t>{0}}});
      };
      Value* step = scalarI64(c.req(1));
      Value* window = c.in(2);
      Value* n = c.in(3) ? scalarI64(c.in(3)) : nullptr;
      if (!n && !window) failArg("STFT needs frame_length or a window");
      if (!n) n = dimOf(window, 0);
      Value* zero = im.scalar(DType::I64, 0);
      Value* oneI = im.scalar(DType::I64, 1);
      Value* frames = im.emit("add", {im.emit("div", {im.emit("sub", {dimOf(x, 1), n}), step}), oneI});
      Value* starts = im.emit("mul", {im.emit("range", {zero, frames, oneI}), step});
      Value* idx = im.emit("add", {im.emit("unsqueeze", {starts}, {{"axes", std::vector<int64_t>{1}}}),
                                   im.emit("range", {zero, n, oneI})});
      Value* f = im.emit("gather", {x, idx}, {{"axis", int64_t{1}}});  // [B, frames, n, 1|2]
      if (window) f = im.emit("mul", {f, im.emit("unsqueeze", {window}, {{"axes", std::vector<int64_t>{1}}})});
      Value* bins = c.getInt("onesided", 1) != 0
                        ? im.emit("add", {im.emit("div", {n, im.scalar(DType::I64, 2)}), oneI})
                        : n;
      Value* jk = im.emit("mod", {im.emit("mul", {im.emit("unsqueeze", {im.emit("range", {zero, n, oneI})},
                                                           {{"axes", std::vector<int64_t>{1}}}),
                                               im.emit("range", {zero, bins, oneI})}),
                                  n},
                          {{"fmod", int64_t{0}}});
      const std::string dt(dtypeName(dtypeOf(x)));
      Value* angle = im.emit("mul", {im.emit("cast", {jk}, {{"to", dt}}),
                                     im.emit("div", {im.scalar(dtypeOf(x), 6.283185307179586),
                                                     im.emit("cast", {n}, {{"to", dt}})})});
      Value* cosM = im.emit("cos", {angle});
      Value* sinM = im.emit("sin", {angle});
      Value* xr = im.emit("gather", {f, im.scalar(DType::I64, 0)}, {{"axis", int64_t{3}}});
      Value* re = im.emit("matmul", {xr, cosM});
      Value* imag = im.emit("neg", {im.emit("matmul", {xr, sinM})});
      if (complexIn) {
        Value* xi = im.emit("gather", {f, im.scalar(DType::I64, 1)}, {{"axis", int64_t{3}}});
        re = im.emit("add", {re, im.emit("matmul", {xi, sinM})});
        imag = im.emit("add", {imag, im.emit("matmul", {xi, cosM})});
      }
      auto last = [&](Value* v) { return im.emit("unsqueeze", {v}, {{"axes", std::vector<int64_t>{3}}}); };
      return one(im.emit("concat", {last(re), last(imag)}, {{"axis", int64_t{3}}}));
    };
    // MaxUnpool: X's values scattered into zeros at I, MaxPool's indices into
    // the flattened unpooled tensor [N, C, (in - 1) * stride + kernel - pads].
    // With output_shape, each index is moved to the same coordinates in that
    // (larger) shape, as ONNX's test data and ONNX Runtime place them.
    m["MaxUnpool"] = [](NodeCtx& c) {
      Importer& im = c.im;
      Value* x = c.req(0);
      Value* ind = c.req(1);
      const Type& t = x->type();
      if (!t.rankKnown() || t.rank() < 3) failUnimpl("needs an input of known rank >= 3");
      const int64_t r = t.rank(), k = r - 2;
      for (int64_t i = 0; i < r; ++i)
        if (!t.dim(i).isStatic()) failUnimpl("needs an input with static dims");
      const auto kernel = c.getInts("kernel_shape");
      const auto strides = c.getInts("strides", std::vector<int64_t>(static_cast<size_t>(k), 1));
      const auto pads = c.getInts("pads", std::vector<int64_t>(static_cast<size_t>(2 * k), 0));
      if (static_cast<int64_t>(kernel.size()) != k || static_cast<int64_t>(strides.size()) != k ||
          static_cast<int64_t>(pads.size()) != 2 * k)
        failArg("kernel_shape, strides and pads must have ", k, ", ", k, " and ", 2 * k, " entries");
      std::vector<int64_t> dims{t.dim(0).value(), t.dim(1).value()};
      for (int64_t i = 0; i < k; ++i) {
        const auto u = static_cast<size_t>(i);
        dims.push_back((t.dim(i + 2).value() - 1) * strides[u] + kernel[u] - pads[u] - pads[u + static_cast<size_t>(k)]);
        if (dims.back() <= 0) failArg("the unpooled dim ", i + 2, " is ", dims.back());
      }
      Value* flatIdx = im.emit("reshape", {im.emit("cast", {ind}, {{"to", std::string("i64")}}), im.ints({-1})});
      Value* shape = im.ints(dims);
      if (Value* os = c.in(2)) {
        // Coordinates in the default shape, re-flattened over output_shape.
        shape = im.emit("cast", {os}, {{"to", std::string("i64")}});
        Value* rem = flatIdx;
        Value* moved = nullptr;
        Value* stride = im.scalar(DType::I64, 1);
        for (int64_t i = r - 1; i >= 0; --i) {
          Value* d = im.scalar(DType::I64, dims[static_cast<size_t>(i)]);
          Value* coord = im.emit("mod", {rem, d}, {{"fmod", int64_t{0}}});
          rem = im.emit("div", {rem, d});
          Value* term = im.emit("mul", {coord, stride});
          moved = moved ? im.emit("add", {moved, term}) : term;
          stride = im.emit("mul", {stride, im.emit("gather", {shape, im.scalar(DType::I64, i)})});
        }
        flatIdx = moved;
      }
      Value* total = im.emit("reduce_prod", {shape}, {{"keepdims", int64_t{1}}});
      Tensor zero = check(Tensor::fromDoubles(dtypeOf(x), {1}, {0.0}));
      Value* zeros = im.emit("constant_of_shape", {total}, {{"value", zero}});
      Value* flatX = im.emit("reshape", {x, im.ints({-1})});
      Value* y = im.emit("scatter_elements", {zeros, flatIdx, flatX}, {{"axis", int64_t{0}}});
      return one(im.emit("reshape", {y, shape}));
    };
    // Scatter (opsets 9-10) is ScatterElements without reduction.
    m["Scatter"] = m["ScatterElements"] = [](NodeCtx& c) {
      return one(c.im.emit("scatter_elements", {c.req(0), c.req(1), c.req(2)},
                           {{"axis", c.getInt("axis", 0)}, {"reduction", c.getString("reduction", "none")}}));
    };
    m["GatherND"] = [](NodeCtx& c) {
      return one(c.im.emit("gather_nd", {c.req(0), c.req(1)}, {{"batch_dims", c.getInt("batch_dims", 0)}}));
    };
    m["ScatterND"] = [](NodeCtx& c) {
      return one(c.im.emit("scatter_nd", {c.req(0), c.req(1), c.req(2)},
                           {{"reduction", c.getString("reduction", "none")}}));
    };
    m["Squeeze"] = [](NodeCtx& c) { return convertSqueeze(c, false); };
    m["Unsqueeze"] = [](NodeCtx& c) {
      if (c.opset < 13 && !c.hasAttr("axes")) failArg("Unsqueeze needs 'axes'");
      if (c.opset >= 13 && !c.in(1)) failArg("Unsqueeze needs the axes input");
      return convertSqueeze(c, true);
    };
    m["Flatten"] = [](NodeCtx& c) { return one(c.im.emit("flatten", {c.req(0)}, {{"axis", c.getInt("axis", 1)}})); };
    m["Pad"] = convertPad;
    m["Shape"] = [](NodeCtx& c) {
      AttrMap a;
      if (c.hasAttr("start")) a["start"] = c.getInt("start", 0);
      if (c.hasAttr("end")) a["end"] = c.getInt("end", 0);
      return one(c.im.emit("shape", {c.req(0)}, std::move(a)));
    };
    m["Size"] = [](NodeCtx& c) {
      Value* s = c.im.emit("shape", {c.req(0)});
      return one(c.im.emit("reduce_prod", {s}, {{"keepdims", int64_t{0}}}));
    };
    // HannWindow, HammingWindow, BlackmanWindow (opset 17), as ONNX's function
    // bodies compute them: n = 0 .. size-1, a = 2*pi*n / (periodic ? size : size - 1),
    // w = a0 - a1*cos(a) + a2*cos(2a), in f32, then cast to output_datatype.
    for (const auto& [name, coef] : std::vector<std::pair<std::string, std::array<double, 3>>>{
             {"HannWindow", {0.5, 0.5, 0.0}},
             {"HammingWindow", {25.0 / 46.0, 21.0 / 46.0, 0.0}},
             {"BlackmanWindow", {0.42, 0.5, 0.08}}}) {
      // A copy: clang before 16 cannot capture a structured binding.
      m[name] = [coef = std::array<double, 3>(coef)](NodeCtx& c) {
        Importer& im = c.im;
        Value* size = c.req(0);
        if (size->type().rankKnown() && size->type().rank() == 1)
          size = im.emit("squeeze", {size}, {{"axes", std::vector<int64_t>{0}}});
        Value* n = im.emit("cast", {size}, {{"to", std::string("f32")}});
        Value* denom = c.getInt("periodic", 1) != 0 ? n : im.emit("sub", {n, im.scalar(DType::F32, 1)});
        Value* step = im.emit("div", {im.scalar(DType::F32, 6.283185307179586), denom});
        Value* a = im.emit("mul", {im.emit("range", {im.scalar(DType::F32, 0), n, im.scalar(DType::F32, 1)}), step});
        Value* w = im.emit("sub", {im.scalar(DType::F32, coef[0]),
                                   im.emit("mul", {im.scalar(DType::F32, coef[1]), im.emit("cos", {a})})});
        if (coef[2] != 0.0) {
          Value* a2 = im.emit("mul", {a, im.scalar(DType::F32, 2)});
          w = im.emit("add", {w, im.emit("mul", {im.scalar(DType::F32, coef[2]), im.emit("cos", {a2})})});
        }
        const std::string to = dtypeNameOfOnnx(c, c.getInt("output_datatype", 1));
        return one(to == "f32" ? w : im.emit("cast", {w}, {{"to", to}}));
      };
    }
    // ReverseSequence: gather_elements along the time axis with index
    // t < len[b] ? len[b] - 1 - t : t, broadcast to the input's shape.
    m["ReverseSequence"] = [](NodeCtx& c) {
      Importer& im = c.im;
      Value* x = c.req(0);
      const int64_t r = knownRank(c, x);
      if (r < 2) failArg("ReverseSequence needs rank >= 2, got ", r);
      const int64_t timeAxis = c.getInt("time_axis", 0), batchAxis = c.getInt("batch_axis", 1);
      if (!((timeAxis == 0 && batchAxis == 1) || (timeAxis == 1 && batchAxis == 0)))
        failArg("time_axis and batch_axis must be 0 and 1 (either way round), got ", timeAxis, " and ", batchAxis);
      auto along = [&](Value* v, int64_t axis) {  // [n] -> n at `axis`, 1 elsewhere
        std::vector<int64_t> axes;
        for (int64_t i = 0; i < r; ++i)
          if (i != axis) axes.push_back(i);
        return im.emit("unsqueeze", {v}, {{"axes", axes}});
      };
      Value* steps = im.emit("squeeze", {im.emit("shape", {x}, {{"start", timeAxis}, {"end", timeAxis + 1}})},
                             {{"axes", std::vector<int64_t>{0}}});
      Value* t = along(im.emit("range", {im.scalar(DType::I64, 0), steps, im.scalar(DType::I64, 1)}), timeAxis);
      Value* lens = along(im.emit("cast", {c.req(1)}, {{"to", std::string("i64")}}), batchAxis);
      Value* rev = im.emit("sub", {im.emit("sub", {lens, im.scalar(DType::I64, 1)}), t});
      Value* idx = im.emit("where", {im.emit("less", {t, lens}), rev, t});
      idx = im.emit("expand", {idx, im.emit("shape", {x})});
      return one(im.emit("gather_elements", {x, idx}, {{"axis", timeAxis}}));
    };
    m["Range"] = [](NodeCtx& c) { return one(c.im.emit("range", {c.req(0), c.req(1), c.req(2)})); };
    m["ConstantOfShape"] = [](NodeCtx& c) {
      AttrMap a;
      if (const auto* v = c.attr("value")) {
        if (!v->has_t()) failArg("attribute 'value' holds no tensor");
        a["value"] = convertTensor(v->t(), "", "the value of " + c.where());
      }
      return one(c.im.emit("constant_of_shape", {c.req(0)}, std::move(a)));
    };
    m["Constant"] = convertConstant;
    m["Resize"] = convertResize;
    m["Upsample"] = convertResize;
    m["DepthToSpace"] = [](NodeCtx& c) { return convertDepthSpace(c, true); };
    m["SpaceToDepth"] = [](NodeCtx& c) { return convertDepthSpace(c, false); };
    // Control flow.
    m["If"] = convertIf;
    m["Loop"] = convertLoop;
    return t;
  }();
  return *table;
}

Result<std::unique_ptr<Graph>> importProto(const onnx::ModelProto& model, const std::string& origin,
                                           const std::string& baseDir, const OnnxImportOptions& opts) {
  try {
    Importer im(model, origin, baseDir, opts);
    return im.run();
  } catch (ImportError& e) {
    return e.status.withContext(origin);
  } catch (std::bad_alloc&) {
    return resourceExhausted(origin, ": out of memory while importing");
  } catch (std::exception& e) {
    return internalError(origin, ": ", e.what());
  }
}

/// The model's opset of the default domain: 1 when it imports no opset at
/// all (IR version 1/2 models), 0 when it imports other domains only.
int64_t defaultOpset(const onnx::ModelProto& model) {
  if (model.opset_import_size() == 0) return 1;
  for (const auto& o : model.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") return o.version();
  return 0;
}

/// Note [converter input is checked first]
/// libonnx's version converter (onnx::ImportModelProto) assumes a
/// well-formed graph: a graph output or node input that nothing defines is
/// dereferenced as a null pointer (found by fuzz_onnx_import: an opset-6
/// model whose output 'y' no node makes crashed the process). So before a
/// model is handed to it, every name a node reads and every graph output must
/// be defined earlier (graph input, initializer, an earlier node's output, or
/// an enclosing graph's name for a subgraph) and no name is defined twice. (The
/// ONNX checker is stricter than the importer, e.g. it wants every graph
/// output typed, so it is not the gate.) A model that fails is imported as it
/// is, and our importer reports what is wrong with it.
bool definesBeforeUse(const onnx::GraphProto& g, std::unordered_set<std::string> scope, std::string& why, int depth = 0) {
  if (depth > 64) {
    why = "subgraphs nested more than 64 deep";
    return false;
  }
  auto define = [&](const std::string& name) {
    if (name.empty()) return true;
    if (!scope.insert(name).second) {
      why = "'" + name + "' is defined twice";
      return false;
    }
    return true;
  };
  std::unordered_set<std::string> seen;
  for (const auto& i : g.initializer())
    if (seen.insert(i.name()).second) scope.insert(i.name());
  for (const auto& i : g.input())
    if (seen.insert(i.name()).second) scope.insert(i.name());
  for (const auto& n : g.node()) {
    for (const auto& in : n.input()) {
      if (!in.empty() && !scope.count(in)) {
        why = "node '" + n.name() + "' (" + n.op_type() + ") reads '" + in + "', which nothing defines before it";
        return false;
      }
    }
    for (const auto& a : n.attribute()) {
      if (a.has_g() && !definesBeforeUse(a.g(), scope, why, depth + 1)) return false;
      for (const auto& sub : a.graphs())
        if (!definesBeforeUse(sub, scope, why, depth + 1)) return false;
    }
    for (const auto& out : n.output())
      if (!define(out)) return false;
  }
  for (const auto& o : g.output()) {
    if (!scope.count(o.name())) {
      why = "graph output '" + o.name() + "' is defined by nothing";
      return false;
    }
  }
  return true;
}

/// The converter's Gemm adapter (opset 6 -> 7) reads dims 0 and 1 of Gemm's
/// A and B without checking their rank: a 1-D or unshaped A reads past the
/// end of a vector, and the garbage dimension it copies made a 100-TB
/// allocation (found by fuzz_onnx_import). ONNX shape inference, which runs
/// first to give the adapters their shapes, does the same in the old Gemm's
/// inference function (a 1-D A crashed it). So every Gemm, in every graph,
/// must have A and B declared 2-D in the model as given (graph input,
/// value_info, graph output or initializer), and no declaration of another
/// rank, before shape inference and the converter see the model; otherwise
/// it is imported as it is.
bool gemmInputsAre2d(const onnx::GraphProto& g, std::unordered_map<std::string, std::vector<int>> ranks,
                     std::string& why, int depth = 0) {
  if (depth > 64) {
    why = "subgraphs nested more than 64 deep";
    return false;
  }
  auto declare = [&](const onnx::ValueInfoProto& v) {
    if (v.type().has_tensor_type() && v.type().tensor_type().has_shape())
      ranks[v.name()].push_back(v.type().tensor_type().shape().dim_size());
  };
  for (const auto& v : g.input()) declare(v);
  for (const auto& v : g.value_info()) declare(v);
  for (const auto& v : g.output()) declare(v);
  for (const auto& t : g.initializer()) ranks[t.name()].push_back(t.dims_size());
  for (const auto& n : g.node()) {
    if (n.op_type() == "Gemm" && (n.domain().empty() || n.domain() == "ai.onnx")) {
      for (int i = 0; i < 2; ++i) {
        const std::string name = i < n.input_size() ? n.input(i) : std::string();
        auto it = ranks.find(name);
        bool ok = !name.empty() && it != ranks.end() && !it->second.empty();
        if (ok) {
          for (int r : it->second) ok = ok && r == 2;
        }
        if (!ok) {
          why = "Gemm node '" + n.name() + "' input " + (i == 0 ? "A" : "B") + " ('" + name +
                "') is not declared 2-D (the converter's Gemm adapter needs its shape)";
          return false;
        }
      }
    }
    for (const auto& a : n.attribute()) {
      if (a.has_g() && !gemmInputsAre2d(a.g(), ranks, why, depth + 1)) return false;
      for (const auto& sub : a.graphs())
        if (!gemmInputsAre2d(sub, ranks, why, depth + 1)) return false;
    }
  }
  return true;
}

/// A model below opset 7 is first upgraded to opset 7 by the ONNX library's
/// own version converter, which rewrites the ops whose meaning changed
/// (consumed_inputs, broadcast attributes, ...); the upgrade is reported in
/// one line. When the converter cannot upgrade it, the model is imported as
/// it is (ops unchanged since opset 7 still import) and the converter's
/// reason is added to the error.
Result<std::unique_ptr<Graph>> importModel(const onnx::ModelProto& model, const std::string& origin,
                                           const std::string& baseDir, const OnnxImportOptions& opts) {
  const int64_t opset = defaultOpset(model);
  if (opset < 1 || opset >= kMinOpset) return importProto(model, origin, baseDir, opts);
  std::string why;
  try {
    onnx::ModelProto in = model;
    if (in.opset_import_size() == 0) {
      auto* o = in.add_opset_import();
      o->set_domain("");
      o->set_version(1);
    }
    // The converter trusts its input (Note [converter input is checked first]).
    std::string bad;
    if (!definesBeforeUse(in.graph(), {}, bad)) throw std::invalid_argument("the model is malformed: " + bad);
    // The converter's adapters for Add, Gemm, ... read the shapes of their
    // inputs: ONNX shape inference fills value_info first (best effort).
    if (!gemmInputsAre2d(in.graph(), {}, bad)) throw std::invalid_argument(bad);
    try {
      onnx::shape_inference::InferShapes(in);
    } catch (std::exception&) {
    }
    const onnx::ModelProto upgraded = onnx::version_conversion::ConvertVersion(in, static_cast<int>(kMinOpset));
    auto g = importProto(upgraded, origin, baseDir, opts);
    if (g.ok()) {
      const std::string line =
          detail::concat(origin, ": opset ", opset, " model upgraded to opset ", kMinOpset, " by the ONNX version converter");
      if (opts.notes) opts.notes->push_back(line);
      else std::fprintf(stderr, "switchyard: note: %s\n", line.c_str());
    }
    return g;
  } catch (std::bad_alloc&) {
    return resourceExhausted(origin, ": out of memory while upgrading the opset ", opset, " model");
  } catch (std::exception& e) {
    why = e.what();
  }
  auto g = importProto(model, origin, baseDir, opts);
  if (g.ok()) return g;
  return Status(g.status().code(), detail::concat(g.status().message(), "; the ONNX version converter cannot upgrade it to opset ",
                                                  kMinOpset, ": ", why));
}

/// The file's bytes, checked first (regular file, under protobuf's 2 GiB
/// limit): a 3 GiB model or /dev/zero is refused before anything is read.
Result<std::string> readFile(const std::string& path) {
  return readRegularFile(path, static_cast<uint64_t>(INT_MAX), "ONNX file",
                         "protobuf models must be under 2 GiB; use external data");
}

}  // namespace

Result<std::unique_ptr<Graph>> importOnnxBytes(std::string_view bytes, const std::string& origin,
                                               const std::string& baseDir, const OnnxImportOptions& opts) {
  if (bytes.size() > static_cast<size_t>(INT_MAX))
    return invalidArgument(origin, ": the model is ", bytes.size(),
                           " bytes; protobuf models must be under 2 GiB (use external data)");
  onnx::ModelProto model;
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return invalidArgument(origin, ": not a valid ONNX model (protobuf parsing failed: truncated or corrupted)");
  return importModel(model, origin, baseDir, opts);
}

Result<std::unique_ptr<Graph>> importOnnxFile(const std::string& path, const OnnxImportOptions& opts) {
  SY_ASSIGN_OR_RETURN(std::string bytes, readFile(path));
  std::string dir = fs::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  return importOnnxBytes(bytes, path, dir, opts);
}

Result<Tensor> readOnnxTensorFile(const std::string& path) {
  SY_ASSIGN_OR_RETURN(std::string bytes, readFile(path));
  if (bytes.size() > static_cast<size_t>(INT_MAX)) return invalidArgument(path, ": tensor file too large");
  onnx::TensorProto tp;
  if (!tp.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return invalidArgument(path, ": not a valid ONNX TensorProto (protobuf parsing failed)");
  try {
    std::string dir = fs::path(path).parent_path().string();
    return convertTensor(tp, dir.empty() ? "." : dir, "");
  } catch (ImportError& e) {
    return e.status.withContext(path);
  }
}

}  // namespace sy
