// The capability query's rules: which nodes the cuda backend runs, and why
// not the others. Host code only (unit-tested without a GPU).
#include <cmath>
#include <cstring>

#include "ops.h"

namespace sy_cuda {
namespace {

const char* const kUnaryFloat[] = {"neg",  "abs",  "exp",   "log",     "sqrt", "rsqrt",      "reciprocal",
                                   "sin",  "cos",  "tanh",  "sigmoid", "relu", "leaky_relu", "gelu",
                                   "erf",  "silu", "floor", "ceil",    "clip", "sign",       "round"};
const char* const kBinaryArith[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum"};
const char* const kComparisons[] = {"equal", "greater", "greater_equal", "less", "less_equal"};
const char* const kLogical[] = {"logical_and", "logical_or", "logical_xor", "logical_not"};
const char* const kViewOps[] = {"reshape", "flatten", "squeeze", "unsqueeze", "identity"};
const char* const kReduceOps[] = {"reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod"};
const char* const kIntArith[] = {"add", "sub", "mul", "maximum", "minimum", "neg", "abs"};

template <size_t N>
int indexIn(const char* const (&list)[N], std::string_view op) {
  for (size_t i = 0; i < N; ++i) {
    if (op == list[i]) return static_cast<int>(i);
  }
  return -1;
}

bool knownDtype(int32_t t) { return t >= SY_DTYPE_F32 && t <= SY_DTYPE_BOOL; }

std::string needInputs(const sdk::NodeView& node, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    if (!node.hasInput(i)) return sdk::format("input ", i, " is missing");
    const sdk::ValueView v = node.input(i);
    if (!v.hasRank()) return sdk::format("input ", i, " has an unknown rank");
    if (v.rank() > kMaxRank) return sdk::format("rank ", v.rank(), " of input ", i, " is above ", kMaxRank);
    if (!knownDtype(v.dtype())) return sdk::format("input ", i, " has an unknown dtype");
  }
  return "";
}

/// Every input f32 (or, with `halfToo`, f16/bf16 as well).
std::string needFloat(const sdk::NodeView& node, size_t count, bool halfToo) {
  std::string r = needInputs(node, count);
  if (!r.empty()) return r;
  for (size_t i = 0; i < count; ++i) {
    const int32_t t = node.input(i).dtype();
    if (t == SY_DTYPE_F32 || (halfToo && (t == SY_DTYPE_F16 || t == SY_DTYPE_BF16))) continue;
    return sdk::format(halfToo ? "f32, f16 and bf16 are implemented" : "only f32 is implemented", " by cuda for '",
                       node.op(), "', input ", i, " is ", node.input(i).typeString());
  }
  return "";
}

// Conv and pooling go to cuDNN: 1-3 spatial dims, symmetric explicit pads
// (cuDNN has one pad per dim), no ceil_mode.
std::string windowRule(const sdk::NodeView& node, bool pool) {
  const int64_t rank = node.input(0).rank();
  if (rank < 3) return sdk::format("x must be [N, C, D1, ...], got ", node.input(0).typeString());
  if (rank - 2 > 3) return sdk::format(rank - 2, " spatial dims: cuDNN takes 1 to 3");
  const std::string autoPad = node.attrString("auto_pad", "NOTSET");
  if (autoPad != "NOTSET" && autoPad != "VALID" && !autoPad.empty())
    return sdk::format("auto_pad '", autoPad, "' is not implemented by cuda (NOTSET and VALID are)");
  const size_t r = static_cast<size_t>(rank - 2);
  for (const char* list : {"strides", "dilations"}) {
    const Dims v = node.attrInts(list);
    if (!v.empty() && v.size() != r) return sdk::format(list, " does not have one value per spatial dim");
    for (int64_t x : v) {
      if (x < 1) return sdk::format(list, " must be positive");
    }
  }
  const Dims pads = node.attrInts("pads");
  if (!pads.empty() && pads.size() != 2 * r) return "pads does not have two values per spatial dim";
  for (size_t i = 0; i < pads.size(); ++i) {
    if (pads[i] < 0) return "negative pads";
    if (i < r && pads[i] != pads[i + r])
      return "asymmetric pads are not implemented by cuda (cuDNN takes one pad per spatial dim)";
  }
  const Dims ks = node.attrInts("kernel_shape");
  if (pool && ks.size() != r) return "kernel_shape does not have one value per spatial dim";
  if (!ks.empty() && ks.size() != r) return "kernel_shape does not have one value per spatial dim";
  for (int64_t k : ks) {
    if (k < 1) return "kernel_shape must be positive";
  }
  if (pool) {
    if (node.attrInt("ceil_mode", 0) != 0) return "ceil_mode=1 is not implemented by cuda (cuDNN pooling floors)";
    for (int64_t d : node.attrInts("dilations")) {
      if (d != 1) return "dilated pooling is not implemented by cuda";
    }
  }
  return "";
}

}  // namespace

bool isUnaryFloat(std::string_view op) { return indexIn(kUnaryFloat, op) >= 0; }
bool isBinaryArith(std::string_view op) { return indexIn(kBinaryArith, op) >= 0; }
bool isComparison(std::string_view op) { return indexIn(kComparisons, op) >= 0; }
bool isLogical(std::string_view op) { return indexIn(kLogical, op) >= 0; }
bool isViewOp(std::string_view op) { return indexIn(kViewOps, op) >= 0; }
int reduceCode(std::string_view op) { return indexIn(kReduceOps, op); }
bool isFloat(int32_t t) { return t == SY_DTYPE_F32 || t == SY_DTYPE_F16 || t == SY_DTYPE_BF16; }
bool isInt(int32_t t) { return t == SY_DTYPE_I8 || t == SY_DTYPE_I32 || t == SY_DTYPE_I64; }

bool isElementwise(const sdk::NodeView& node) {
  const std::string_view op = node.op();
  return isUnaryFloat(op) || isBinaryArith(op) || isComparison(op) || isLogical(op) || op == "cast" || op == "where";
}

std::optional<sdk::NodeView> producer(const sdk::GraphView& graph, int32_t index) {
  for (const sdk::NodeView n : graph.nodes()) {
    for (size_t i = 0; i < n.numOutputs(); ++i) {
      if (n.output(i).index() == index) return n;
    }
  }
  return std::nullopt;
}

namespace {
/// The bytes of a constant value: its constant_data, or a `constant` node's literal.
std::optional<std::pair<const void*, std::pair<size_t, int32_t>>> constantBytes(const sdk::GraphView& graph,
                                                                               const sdk::ValueView& v) {
  if (v.constantData() != nullptr) return std::make_pair(v.constantData(), std::make_pair(v.constantBytes(), v.dtype()));
  const std::optional<sdk::NodeView> p = producer(graph, v.index());
  if (!p || p->op() != "constant") return std::nullopt;
  const std::optional<sdk::AttrView> a = p->findAttr("value");
  if (!a || a->kind() != SY_ATTR_TENSOR) return std::nullopt;
  const sy_tensor_literal& t = a->asTensor();
  if (t.bytes > 0 && t.data == nullptr) return std::nullopt;
  return std::make_pair(t.data, std::make_pair(t.bytes, t.dtype));
}
}  // namespace

std::optional<Dims> constantInts(const sdk::GraphView& graph, const sdk::ValueView& v) {
  const auto c = constantBytes(graph, v);
  if (!c) return std::nullopt;
  const auto [data, rest] = *c;
  const auto [bytes, dtype] = rest;
  Dims out;
  if (dtype == SY_DTYPE_I64) {
    out.resize(bytes / 8);
    if (!out.empty()) std::memcpy(out.data(), data, out.size() * 8);
  } else if (dtype == SY_DTYPE_I32) {
    std::vector<int32_t> tmp(bytes / 4);
    if (!tmp.empty()) std::memcpy(tmp.data(), data, tmp.size() * 4);
    out.assign(tmp.begin(), tmp.end());
  } else {
    return std::nullopt;
  }
  return out;
}

std::optional<std::vector<float>> constantFloats(const sdk::GraphView& graph, const sdk::ValueView& v) {
  const auto c = constantBytes(graph, v);
  if (!c || c->second.second != SY_DTYPE_F32) return std::nullopt;
  std::vector<float> out(c->second.first / 4);
  if (!out.empty()) std::memcpy(out.data(), c->first, out.size() * 4);
  return out;
}

bool sameShape(const sdk::ValueView& a, const sdk::ValueView& b) {
  if (!a.hasRank() || a.rank() != b.rank()) return false;
  for (size_t i = 0; i < a.dims().size(); ++i) {
    if (a.dim(i) >= 0 || b.dim(i) >= 0) {
      if (a.dim(i) != b.dim(i)) return false;
    } else if (a.dimSymbol(i) == nullptr || b.dimSymbol(i) == nullptr ||
               std::strcmp(a.dimSymbol(i), b.dimSymbol(i)) != 0) {
      return false;
    }
  }
  return true;
}

// ============================================================================
// The rules.

/// The dtypes of ABI 1.2 (u8, i16, u16, u32, u64, f64) are not implemented by
/// cuda: a node that reads or writes one is declined, whatever the op.
std::string newDtypeWhyNot(const sdk::NodeView& node) {
  for (size_t i = 0; i < node.numInputs(); ++i)
    if (node.hasInput(i) && node.input(i).dtype() > SY_DTYPE_BOOL)
      return sdk::format("dtype ", sdk::dtypeName(node.input(i).dtype()), " of input ", i, " is not implemented by cuda");
  for (size_t i = 0; i < node.numOutputs(); ++i)
    if (node.output(i).dtype() > SY_DTYPE_BOOL)
      return sdk::format("dtype ", sdk::dtypeName(node.output(i).dtype()), " of output ", i,
                         " is not implemented by cuda");
  return "";
}

std::string whyNot(const sdk::GraphView& graph, const sdk::NodeView& node) {
  const std::string_view op = node.op();
  if (node.numBlocks() > 0) return sdk::format("control flow ('", op, "') is not implemented by cuda");
  if (std::string r = newDtypeWhyNot(node); !r.empty()) return r;
  if (op == "constant") {
    const std::optional<sdk::AttrView> a = node.findAttr("value");
    if (!a || a->kind() != SY_ATTR_TENSOR) return "constant without a tensor 'value'";
    return "";
  }
  if (op == "weight") {
    if (node.numOutputs() != 1 || !node.output(0).isConstant() || !node.output(0).isStatic())
      return "the weight's data was not given at compile time";
    return "";
  }
  if (node.numOutputs() != 1) return "more than one output is not implemented by cuda";
  const sdk::ValueView out = node.output(0);
  if (!out.hasRank()) return "the output's rank is unknown";
  if (out.rank() > kMaxRank) return sdk::format("output rank ", out.rank(), " is above ", kMaxRank);

  if (isElementwise(node)) {
    const size_t arity = op == "where" ? 3 : (isUnaryFloat(op) || op == "cast" || op == "logical_not") ? 1 : 2;
    if (node.numInputs() != arity) return "unexpected number of inputs";
    std::string r = needInputs(node, arity);
    if (!r.empty()) return r;
    const int32_t t0 = node.input(arity == 3 ? 1 : 0).dtype();
    if (op == "cast") return "";  // between every pair of dtypes
    if (op == "where") {
      if (node.input(0).dtype() != SY_DTYPE_BOOL) return "where needs a bool condition";
      if (node.input(2).dtype() != t0) return "where's x and y differ in dtype";
      return "";
    }
    if (isLogical(op)) {
      for (size_t i = 0; i < arity; ++i) {
        if (node.input(i).dtype() != SY_DTYPE_BOOL) return sdk::format(op, " needs bool inputs");
      }
      return "";
    }
    if (arity == 2 && node.input(1).dtype() != t0) return "the inputs differ in dtype";
    if (isComparison(op)) return t0 == SY_DTYPE_BOOL && op != "equal" ? "ordering bools is not implemented by cuda" : "";
    if (isFloat(t0)) {
      if (op == "gelu") {
        const std::string approx = node.attrString("approximate", "none");
        if (approx != "none" && approx != "tanh") return sdk::format("gelu approximate='", approx, "' is unknown");
      }
      return "";
    }
    if (isInt(t0) && indexIn(kIntArith, op) >= 0) return "";
    return sdk::format("'", op, "' on ", sdk::dtypeName(t0),
                       " is not implemented by cuda (integers: add, sub, mul, maximum, minimum, neg, abs)");
  }
  if (op == "matmul") {
    if (node.numInputs() != 2) return "unexpected number of inputs";
    std::string r = needFloat(node, 2, true);
    if (!r.empty()) return r;
    if (node.input(0).dtype() != node.input(1).dtype()) return "a and b differ in dtype";
    if (node.input(0).rank() < 1 || node.input(1).rank() < 1) return "matmul of a rank-0 operand";
    // Batch dims: b without any (a's batch folds into rows), equal ones, or a
    // without any (a reused for every batch). Other broadcasts are declined.
    const int64_t ra = node.input(0).rank(), rb = node.input(1).rank();
    if (ra > 2 && rb > 2) {
      if (ra != rb) return "batch dims of different ranks are not implemented by cuda";
      for (int64_t i = 0; i + 2 < ra; ++i) {
        const int64_t x = node.input(0).dim(static_cast<size_t>(i)), y = node.input(1).dim(static_cast<size_t>(i));
        if (x < 0 || y < 0) {
          const char* sx = node.input(0).dimSymbol(static_cast<size_t>(i));
          const char* sy = node.input(1).dimSymbol(static_cast<size_t>(i));
          if (x != y || sx == nullptr || sy == nullptr || std::strcmp(sx, sy) != 0)
            return "batch dims that may differ are not implemented by cuda";
        } else if (x != y) {
          return "broadcast batch dims are not implemented by cuda";
        }
      }
    }
    return "";
  }
  if (op == "gemm") {
    if (node.numInputs() < 2 || node.numInputs() > 3) return "unexpected number of inputs";
    const bool hasC = node.numInputs() == 3 && node.hasInput(2);
    std::string r = needFloat(node, hasC ? 3 : 2, true);
    if (!r.empty()) return r;
    if (node.input(0).dtype() != node.input(1).dtype() || (hasC && node.input(2).dtype() != node.input(0).dtype()))
      return "a, b and c differ in dtype";
    if (node.input(0).rank() != 2 || node.input(1).rank() != 2) return "gemm needs 2-D a and b";
    if (hasC) {
      const sdk::ValueView c = node.input(2);
      // c as a row vector (a bias: the epilogue) or the whole [M, N] matrix.
      const bool row = c.rank() == 1 || (c.rank() == 2 && c.dim(0) == 1);
      if (!row && !sameShape(c, out) && c.rank() != 0)
        return sdk::format("gemm's c ", c.typeString(), " is neither [N], [1, N] nor [M, N]: not implemented by cuda");
    }
    return "";
  }
  if (op == "softmax" || op == "log_softmax") {
    if (node.numInputs() != 1) return "unexpected number of inputs";
    std::string r = needFloat(node, 1, false);
    if (!r.empty()) return r;
    const int64_t rank = node.input(0).rank(), axis = node.attrInt("axis", -1);
    if (rank == 0) return "softmax of a rank-0 tensor";
    if (axis < -rank || axis >= rank) return sdk::format("axis ", axis, " is out of range for rank ", rank);
    return "";
  }
  if (reduceCode(op) >= 0) {
    if (node.numInputs() != 1) return sdk::format("axes as an input is not implemented by cuda (", node.numInputs(), " inputs)");
    std::string r = needFloat(node, 1, false);
    if (!r.empty()) return r;
    if (!axesValid(node.attrInts("axes"), node.input(0).rank())) return "axes out of range or repeated";
    return "";
  }
  if (op == "global_avg_pool" || op == "global_max_pool") {
    if (node.numInputs() != 1) return "unexpected number of inputs";
    std::string r = needFloat(node, 1, false);
    if (!r.empty()) return r;
    if (node.input(0).rank() < 3) return sdk::format("x must be [N, C, D1, ...], got ", node.input(0).typeString());
    return "";
  }
  if (op == "conv") {
    if (node.numInputs() < 2 || node.numInputs() > 3) return "unexpected number of inputs";
    const bool hasB = node.numInputs() == 3 && node.hasInput(2);
    std::string r = needFloat(node, hasB ? 3 : 2, false);
    if (!r.empty()) return r;
    if (node.input(1).rank() != node.input(0).rank()) return "w and x have different ranks";
    if (hasB && node.input(2).rank() != 1) return "b must be 1-D";
    if (node.attrInt("group", 1) < 1) return "group must be positive";
    return windowRule(node, false);
  }
  if (op == "max_pool" || op == "avg_pool") {
    if (node.numInputs() != 1) return "unexpected number of inputs";
    if (node.numOutputs() != 1) return "max_pool's indices output is not implemented by cuda";
    std::string r = needFloat(node, 1, false);
    if (!r.empty()) return r;
    const int64_t p = node.attrInt("count_include_pad", 0);
    if (p != 0 && p != 1) return "count_include_pad must be 0 or 1";
    return windowRule(node, true);
  }
  if (op == "batch_norm") {
    if (node.numInputs() != 5) return "unexpected number of inputs";
    std::string r = needFloat(node, 5, false);
    if (!r.empty()) return r;
    if (node.input(0).rank() < 2) return sdk::format("x must be [N, C, ...], got ", node.input(0).typeString());
    for (size_t i = 1; i < 5; ++i) {
      if (node.input(i).rank() != 1) return sdk::format("input ", i, " must be 1-D [C]");
    }
    return "";
  }
  if (op == "layer_norm") {
    if (node.numInputs() < 2 || node.numInputs() > 3) return "unexpected number of inputs";
    const bool hasB = node.numInputs() == 3 && node.hasInput(2);
    std::string r = needFloat(node, hasB ? 3 : 2, false);
    if (!r.empty()) return r;
    const int64_t rank = node.input(0).rank(), axis = node.attrInt("axis", -1);
    if (rank == 0) return "layer_norm of a rank-0 tensor is not implemented by cuda";
    if (axis < -rank || axis >= rank) return sdk::format("axis ", axis, " is out of range for rank ", rank);
    if (node.input(0).isStatic()) {
      const Dims x = node.input(0).dims().vec();
      const int64_t len = product(x, normAxis(axis, x.size()), x.size());
      for (size_t i = 1; i < (hasB ? 3u : 2u); ++i) {
        const int64_t n = node.input(i).numElements();
        if (n >= 0 && n != len && n != 1)
          return sdk::format("scale/bias of ", n, " elements (not the ", len,
                             " normalised ones, nor 1) is not implemented by cuda");
      }
    }
    return "";
  }
  if (op == "transpose") {
    if (node.numInputs() != 1) return "unexpected number of inputs";
    std::string r = needInputs(node, 1);
    if (!r.empty()) return r;
    const Dims perm = node.attrInts("perm");
    const int64_t rank = node.input(0).rank();
    if (!perm.empty()) {
      if (static_cast<int64_t>(perm.size()) != rank) return "perm does not match the rank";
      if (!axesValid(perm, rank)) return "perm is not a permutation";
      for (int64_t p : perm) {
        if (p < 0) return "perm is not a permutation";
      }
    }
    return "";
  }
  if (op == "concat") {
    if (node.numInputs() < 1) return "unexpected number of inputs";
    std::string r = needInputs(node, node.numInputs());
    if (!r.empty()) return r;
    const int64_t rank = node.input(0).rank(), axis = node.attrInt("axis", 0);
    for (size_t i = 1; i < node.numInputs(); ++i) {
      if (node.input(i).rank() != rank || node.input(i).dtype() != node.input(0).dtype())
        return "inputs differ in rank or dtype";
    }
    if (rank == 0 || axis < -rank || axis >= rank) return sdk::format("axis ", axis, " is out of range for rank ", rank);
    return "";
  }
  if (op == "slice") {
    if (node.numInputs() < 3 || node.numInputs() > 5) return "unexpected number of inputs";
    std::string r = needInputs(node, 1);
    if (!r.empty()) return r;
    for (size_t i = 1; i < node.numInputs(); ++i) {
      if (node.hasInput(i) && !constantInts(graph, node.input(i)))
        return "slice's starts, ends, axes and steps must be compile-time i64/i32 constants";
    }
    const Dims starts = *constantInts(graph, node.input(1)), ends = *constantInts(graph, node.input(2));
    if (starts.size() != ends.size()) return "starts and ends differ in length";
    const int64_t rank = node.input(0).rank();
    if (node.numInputs() > 3 && node.hasInput(3)) {
      const Dims axes = *constantInts(graph, node.input(3));
      if (axes.size() != starts.size() || !axesValid(axes, rank)) return "axes out of range, repeated or of the wrong length";
    } else if (static_cast<int64_t>(starts.size()) > rank) {
      return "more starts than dims";
    }
    if (node.numInputs() > 4 && node.hasInput(4)) {
      const Dims steps = *constantInts(graph, node.input(4));
      if (steps.size() != starts.size()) return "steps of the wrong length";
      for (int64_t s : steps) {
        if (s == 0) return "a step of 0";
      }
    }
    return "";
  }
  if (op == "gather") {
    if (node.numInputs() != 2) return "unexpected number of inputs";
    std::string r = needInputs(node, 2);
    if (!r.empty()) return r;
    const int32_t it = node.input(1).dtype();
    if (it != SY_DTYPE_I32 && it != SY_DTYPE_I64) return "gather indices must be i32 or i64";
    const int64_t rank = node.input(0).rank(), axis = node.attrInt("axis", 0);
    if (rank == 0 || axis < -rank || axis >= rank) return sdk::format("axis ", axis, " is out of range for rank ", rank);
    if (out.rank() > kMaxRank) return "output rank above 8";
    return "";
  }
  if (op == "expand") {
    if (node.numInputs() != 2) return "unexpected number of inputs";
    std::string r = needInputs(node, 1);
    if (!r.empty()) return r;
    if (!node.hasInput(1) || !constantInts(graph, node.input(1))) return "expand's shape must be a compile-time i64/i32 constant";
    return "";
  }
  if (op == "pad") {
    if (node.numInputs() < 2 || node.numInputs() > 3) return "unexpected number of inputs";
    std::string r = needInputs(node, 1);
    if (!r.empty()) return r;
    if (!node.hasInput(1) || !constantInts(graph, node.input(1))) return "pad's pads must be a compile-time i64 constant";
    const std::string mode = node.attrString("mode", "constant");
    if (mode != "constant" && mode != "reflect" && mode != "edge") return sdk::format("pad mode '", mode, "' is unknown");
    if (constantInts(graph, node.input(1))->size() != 2 * static_cast<size_t>(node.input(0).rank()))
      return "pads does not have 2 * rank entries";
    const Dims pads = *constantInts(graph, node.input(1));  // a local: a temporary's contents would dangle in range-for
    for (int64_t p : pads) {
      if (p < 0) return "negative pads (cropping) are not implemented by cuda";
    }
    if (node.numInputs() > 2 && node.hasInput(2) && node.input(2).dtype() != node.input(0).dtype())
      return "constant_value differs in dtype from x";
    return "";  // constant_value is read at run time
  }
  if (isViewOp(op)) {
    const size_t arity = op == "reshape" ? 2 : 1;
    if (node.numInputs() != arity || !node.hasInput(0)) return "unexpected number of inputs";
    if (!node.input(0).hasRank()) return "input has an unknown rank";
    if (op == "reshape" && !constantInts(graph, node.input(1))) return "reshape's shape must be a compile-time i64/i32 constant";
    if (op == "squeeze" && !axesValid(node.attrInts("axes"), node.input(0).rank())) return "axes out of range";
    if (op == "unsqueeze") {
      if (!node.hasAttr("axes")) return "unsqueeze without axes";
      if (!axesValid(node.attrInts("axes"), node.input(0).rank() + static_cast<int64_t>(node.attrInts("axes").size())))
        return "axes out of range or repeated";
    }
    return "";
  }
  return sdk::format("op '", op, "' is not implemented by cuda");
}

}  // namespace sy_cuda
