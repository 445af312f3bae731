// The capability query: which nodes the backend runs, and why not the others.
// Also the op helpers shared with the region compiler (ops.h).
#include <cmath>
#include <cstring>

#include "ops.h"

namespace sy_opencl {
namespace {

const char* const kUnaryOps[] = {"neg",  "abs",  "exp",   "log",     "sqrt", "rsqrt",      "reciprocal",
                                 "sin",  "cos",  "tanh",  "sigmoid", "relu", "leaky_relu", "gelu",
                                 "erf",  "silu", "floor", "ceil",    "clip", "sign",       "round"};
const char* const kBinaryOps[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum"};
const char* const kReduceOps[] = {"reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod"};
const char* const kViewOps[] = {"reshape", "flatten", "squeeze", "unsqueeze", "identity"};
const char* const kComparisons[] = {"equal", "greater", "greater_equal", "less", "less_equal"};
const char* const kLogical[] = {"logical_and", "logical_or", "logical_xor", "logical_not"};
const char* const kIntArithmetic[] = {"add", "sub", "mul", "maximum", "minimum", "neg", "abs"};

template <size_t N>
int indexIn(const char* const (&list)[N], std::string_view op) {
  for (size_t i = 0; i < N; ++i) {
    if (op == list[i]) return static_cast<int>(i);
  }
  return -1;
}

bool isInt(int32_t dtype) { return dtype == SY_DTYPE_I8 || dtype == SY_DTYPE_I32 || dtype == SY_DTYPE_I64; }

/// The node whose output is value `index`, if any.
std::optional<sdk::NodeView> producer(const sdk::GraphView& graph, int32_t index) {
  for (const sdk::NodeView n : graph.nodes()) {
    for (size_t i = 0; i < n.numOutputs(); ++i) {
      if (n.output(i).index() == index) return n;
    }
  }
  return std::nullopt;
}

std::string needInputs(const sdk::NodeView& node, size_t numInputs) {
  for (size_t i = 0; i < numInputs; ++i) {
    if (!node.hasInput(i)) return sdk::format("input ", i, " is missing");
    if (!node.input(i).hasRank()) return sdk::format("input ", i, " has an unknown rank");
  }
  return "";
}

std::string needF32(const sdk::NodeView& node, size_t numInputs) {
  for (size_t i = 0; i < numInputs; ++i) {
    if (!node.hasInput(i)) return sdk::format("input ", i, " is missing");
    if (node.input(i).dtype() != SY_DTYPE_F32) {
      return sdk::format("only f32 is implemented, input ", i, " is ", node.input(i).typeString());
    }
    if (!node.input(i).hasRank()) return sdk::format("input ", i, " has an unknown rank");
  }
  return "";
}

std::string windowRule(const sdk::NodeView& node, bool pool) {
  const int64_t rank = node.input(0).rank();
  if (rank < 3) return sdk::format("x must be [N, C, D1, ...], got ", node.input(0).typeString());
  if (rank - 2 > 4) return sdk::format("more than 4 spatial dims (", rank - 2, ") is not implemented by opencl");
  const std::string autoPad = node.attrString("auto_pad", "NOTSET");
  if (autoPad != "NOTSET" && autoPad != "VALID" && autoPad != "SAME_UPPER" && autoPad != "SAME_LOWER" &&
      !autoPad.empty()) {
    return sdk::format("auto_pad '", autoPad, "' is unknown");
  }
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
  for (int64_t p : pads) {
    if (p < 0) return "negative pads";
  }
  const Dims ks = node.attrInts("kernel_shape");
  if (pool && ks.size() != r) return "kernel_shape does not have one value per spatial dim";
  if (!ks.empty() && ks.size() != r) return "kernel_shape does not have one value per spatial dim";
  for (int64_t k : ks) {
    if (k < 1) return "kernel_shape must be positive";
  }
  return "";
}

}  // namespace

bool isUnary(std::string_view op) { return indexIn(kUnaryOps, op) >= 0; }
bool isBinary(std::string_view op) { return indexIn(kBinaryOps, op) >= 0; }
int binaryCode(std::string_view op) { return indexIn(kBinaryOps, op); }
int reduceCode(std::string_view op) { return indexIn(kReduceOps, op); }
bool isViewOp(std::string_view op) { return indexIn(kViewOps, op) >= 0; }
bool isComparison(std::string_view op) { return indexIn(kComparisons, op) >= 0; }
bool isLogical(std::string_view op) { return indexIn(kLogical, op) >= 0; }

bool usesGenericKernel(const sdk::NodeView& node) {
  const std::string_view op = node.op();
  if (isComparison(op) || isLogical(op) || op == "cast" || op == "where") return true;
  return indexIn(kIntArithmetic, op) >= 0 && node.numInputs() >= 1 && node.hasInput(0) &&
         isInt(node.input(0).dtype());
}

const char* clType(int32_t dtype) {
  switch (dtype) {
    case SY_DTYPE_F32: return "float";
    case SY_DTYPE_I8: return "char";
    case SY_DTYPE_I32: return "int";
    case SY_DTYPE_I64: return "long";
    case SY_DTYPE_BOOL: return "uchar";
    default: return nullptr;
  }
}

std::string floatLiteral(double value) {
  const float f = static_cast<float>(value);
  uint32_t bits = 0;
  std::memcpy(&bits, &f, sizeof bits);
  return sdk::format("as_float(0x", std::hex, bits, "u)");
}

std::string unaryExpr(const sdk::NodeView& node, const std::string& x) {
  const std::string_view op = node.op();
  if (op == "neg") return "(-" + x + ")";
  if (op == "abs") return "fabs(" + x + ")";
  if (op == "exp") return "exp(" + x + ")";
  if (op == "log") return "log(" + x + ")";
  if (op == "sqrt") return "sqrt(" + x + ")";
  if (op == "rsqrt") return "(1.0f / sqrt(" + x + "))";
  if (op == "reciprocal") return "(1.0f / " + x + ")";
  if (op == "sin") return "sin(" + x + ")";
  if (op == "cos") return "cos(" + x + ")";
  if (op == "tanh") return "tanh(" + x + ")";
  if (op == "sigmoid") return "(1.0f / (1.0f + exp(-" + x + ")))";
  if (op == "relu") return "(" + x + " < 0.0f ? 0.0f : " + x + ")";
  if (op == "leaky_relu") {
    return "(" + x + " >= 0.0f ? " + x + " : " + floatLiteral(node.attrFloat("alpha", 0.01)) + " * " + x + ")";
  }
  // gelu(-inf) and silu(-inf) are -0 (the limit, as the reference has it), not -inf * 0 or -inf / inf = NaN.
  const std::string minusInf = "(" + x + " == -INFINITY) ? -0.0f : ";
  if (op == "gelu") {
    if (node.attrString("approximate", "none") == "tanh") {
      return "(" + minusInf + "(0.5f * " + x + " * (1.0f + tanh(0.7978845608028654f * (" + x + " + 0.044715f * " + x +
             " * " + x + " * " + x + ")))))";
    }
    return "(" + minusInf + "(0.5f * " + x + " * (1.0f + erf(" + x + " * 0.7071067811865476f))))";
  }
  if (op == "erf") return "erf(" + x + ")";
  if (op == "silu") return "(" + minusInf + "(" + x + " / (1.0f + exp(-" + x + "))))";
  if (op == "floor") return "floor(" + x + ")";
  if (op == "ceil") return "ceil(" + x + ")";
  if (op == "round") return "rint(" + x + ")";  // halves to even (default rounding mode)
  if (op == "sign") return "(" + x + " > 0.0f ? 1.0f : " + x + " < 0.0f ? -1.0f : " + x + " == 0.0f ? 0.0f : " + x + ")";
  if (op == "clip") {
    const double lo = node.attrFloat("min", -INFINITY), hi = node.attrFloat("max", INFINITY);
    return "(isnan(" + x + ") ? " + x + " : fmin(fmax(" + x + ", " + floatLiteral(lo) + "), " + floatLiteral(hi) +
           "))";
  }
  sdk::fail(SY_ERROR_INTERNAL, "no expression for unary op '", op, "'");
}

std::string binaryExpr(std::string_view op, const std::string& a, const std::string& b) {
  if (op == "add") return "(" + a + " + " + b + ")";
  if (op == "sub") return "(" + a + " - " + b + ")";
  if (op == "mul") return "(" + a + " * " + b + ")";
  if (op == "div") return "(" + a + " / " + b + ")";
  if (op == "pow") return "pow(" + a + ", " + b + ")";
  if (op == "maximum") return "sy_max(" + a + ", " + b + ")";
  return "sy_min(" + a + ", " + b + ")";
}

std::string genericExpr(const sdk::NodeView& node) {
  const std::string_view op = node.op();
  const int32_t outType = node.output(0).dtype();
  const std::string T = clType(outType);
  auto wrap = [&](const std::string& e) { return "(" + T + ")(" + e + ")"; };
  auto u = [](const char* a) { return std::string("(ulong)(long)") + a; };
  if (op == "equal") return wrap("a0 == a1");
  if (op == "greater") return wrap("a0 > a1");
  if (op == "greater_equal") return wrap("a0 >= a1");
  if (op == "less") return wrap("a0 < a1");
  if (op == "less_equal") return wrap("a0 <= a1");
  if (op == "logical_and") return wrap("a0 != 0 && a1 != 0");
  if (op == "logical_or") return wrap("a0 != 0 || a1 != 0");
  if (op == "logical_xor") return wrap("(a0 != 0) != (a1 != 0)");
  if (op == "logical_not") return wrap("a0 == 0");
  if (op == "where") return "(a0 ? a1 : a2)";
  // Integers: computed in 64 bits, wrapping, then narrowed (as the reference).
  if (op == "add") return wrap(u("a0") + " + " + u("a1"));
  if (op == "sub") return wrap(u("a0") + " - " + u("a1"));
  if (op == "mul") return wrap(u("a0") + " * " + u("a1"));
  if (op == "maximum") return "(a0 > a1 ? a0 : a1)";
  if (op == "minimum") return "(a0 < a1 ? a0 : a1)";
  if (op == "neg") return wrap("0UL - " + u("a0"));
  if (op == "abs") return "(a0 < 0 ? " + wrap("0UL - " + u("a0")) + " : a0)";
  if (op == "cast") {
    const int32_t from = node.input(0).dtype();
    if (outType == SY_DTYPE_BOOL) return wrap("a0 != 0");
    if (from == outType) return "a0";
    if (outType == SY_DTYPE_F32) return "(float)a0";
    // Float to integer: toward zero, NaN -> 0, saturating to int64, then
    // wrapping to the target width.
    if (from == SY_DTYPE_F32) return wrap("isnan(a0) ? 0L : convert_long_sat_rtz(a0)");
    return wrap("(long)a0");
  }
  sdk::fail(SY_ERROR_INTERNAL, "no generic expression for op '", op, "'");
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

std::optional<Dims> constantInts(const sdk::GraphView& graph, const sdk::ValueView& v) {
  const void* data = v.constantData();
  size_t bytes = v.constantBytes();
  int32_t dtype = v.dtype();
  if (data == nullptr) {
    const std::optional<sdk::NodeView> p = producer(graph, v.index());
    if (!p || p->op() != "constant") return std::nullopt;
    const std::optional<sdk::AttrView> a = p->findAttr("value");
    if (!a || a->kind() != SY_ATTR_TENSOR) return std::nullopt;
    const sy_tensor_literal& t = a->asTensor();
    if (t.bytes > 0 && t.data == nullptr) return std::nullopt;  // malformed literal: declined
    data = t.data;
    bytes = t.bytes;
    dtype = t.dtype;
  }
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


// ============================================================================
// The rules. Every kernel takes f32 unless it says otherwise; data movement
// and views take every dtype; the generic elementwise kernel takes f32, i8,
// i32, i64 and bool.

/// The dtypes of ABI 1.2 (u8, i16, u16, u32, u64, f64) are not implemented by
/// opencl: a node that reads or writes one is declined, whatever the op.
std::string newDtypeWhyNot(const sdk::NodeView& node) {
  for (size_t i = 0; i < node.numInputs(); ++i)
    if (node.hasInput(i) && node.input(i).dtype() > SY_DTYPE_BOOL)
      return sdk::format("dtype ", sdk::dtypeName(node.input(i).dtype()), " of input ", i, " is not implemented by opencl");
  for (size_t i = 0; i < node.numOutputs(); ++i)
    if (node.output(i).dtype() > SY_DTYPE_BOOL)
      return sdk::format("dtype ", sdk::dtypeName(node.output(i).dtype()), " of output ", i,
                         " is not implemented by opencl");
  return "";
}

std::string whyNot(const sdk::GraphView& graph, const sdk::NodeView& node) {
  const std::string_view op = node.op();
  if (node.numBlocks() > 0) return sdk::format("control flow ('", op, "') is not implemented by opencl");
  if (std::string r = newDtypeWhyNot(node); !r.empty()) return r;
  if (op == "constant") {
    const std::optional<sdk::AttrView> a = node.findAttr("value");
    if (!a || a->kind() != SY_ATTR_TENSOR) return "constant without a tensor 'value'";
    return "";
  }
  if (op == "weight") {
    if (node.numOutputs() != 1 || !node.output(0).isConstant() || !node.output(0).isStatic()) {
      return "the weight's data was not given at compile time";
    }
    return "";
  }
  if (node.numOutputs() != 1) return "more than one output is not implemented by opencl";
  if (usesGenericKernel(node)) {
    const size_t arity = op == "where" ? 3 : (op == "cast" || op == "logical_not" || op == "neg" || op == "abs") ? 1 : 2;
    if (node.numInputs() != arity) return "unexpected number of inputs";
    std::string r = needInputs(node, arity);
    if (!r.empty()) return r;
    for (size_t i = 0; i < arity; ++i) {
      if (clType(node.input(i).dtype()) == nullptr) {
        return sdk::format("dtype ", sdk::dtypeName(node.input(i).dtype()), " of input ", i,
                           " is not implemented by opencl (f32, i8, i32, i64, bool are)");
      }
    }
    if (clType(node.output(0).dtype()) == nullptr) {
      return sdk::format("output dtype ", sdk::dtypeName(node.output(0).dtype()), " is not implemented by opencl");
    }
    if (op == "where" && node.input(0).dtype() != SY_DTYPE_BOOL) return "where needs a bool condition";
    return "";
  }
  if (isUnary(op)) {
    if (node.numInputs() != 1) return "unexpected number of inputs";
    if (op == "gelu") {
      const std::string approx = node.attrString("approximate", "none");
      if (approx != "none" && approx != "tanh") return sdk::format("gelu approximate='", approx, "' is unknown");
    }
    return needF32(node, 1);
  }
  if (isBinary(op)) {
    if (node.numInputs() != 2) return "unexpected number of inputs";
    if (node.hasInput(0) && isInt(node.input(0).dtype())) {
      return sdk::format("integer ", op, " is not implemented by opencl (integer add, sub, mul, maximum, minimum are)");
    }
    return needF32(node, 2);
  }
  if (op == "matmul") {
    if (node.numInputs() != 2) return "unexpected number of inputs";
    std::string r = needF32(node, 2);
    if (!r.empty()) return r;
    if (node.input(0).rank() < 1 || node.input(1).rank() < 1) return "matmul of a rank-0 operand";
    return "";
  }
  if (op == "gemm") {
    if (node.numInputs() < 2 || node.numInputs() > 3) return "unexpected number of inputs";
    const bool hasC = node.numInputs() == 3 && node.hasInput(2);
    std::string r = needF32(node, hasC ? 3 : 2);
    if (!r.empty()) return r;
    if (node.input(0).rank() != 2 || node.input(1).rank() != 2) return "gemm needs 2-D a and b";
    if (hasC && node.input(2).rank() > 2) return "gemm's c has rank above 2";
    return "";
  }
  if (op == "softmax" || op == "log_softmax") {
    if (node.numInputs() != 1) return "unexpected number of inputs";
    std::string r = needF32(node, 1);
    if (!r.empty()) return r;
    const int64_t rank = node.input(0).rank(), axis = node.attrInt("axis", -1);
    if (rank == 0) return "softmax of a rank-0 tensor";
    if (axis < -rank || axis >= rank) return sdk::format("axis ", axis, " is out of range for rank ", rank);
    return "";
  }
  if (reduceCode(op) >= 0) {
    if (node.numInputs() != 1) return sdk::format("axes as an input is not implemented (", node.numInputs(), " inputs)");
    std::string r = needF32(node, 1);
    if (!r.empty()) return r;
    if (!axesValid(node.attrInts("axes"), node.input(0).rank())) return "axes out of range or repeated";
    return "";
  }
  if (op == "global_avg_pool" || op == "global_max_pool") {
    if (node.numInputs() != 1) return "unexpected number of inputs";
    std::string r = needF32(node, 1);
    if (!r.empty()) return r;
    if (node.input(0).rank() < 3) return sdk::format("x must be [N, C, D1, ...], got ", node.input(0).typeString());
    return "";
  }
  if (op == "conv") {
    if (node.numInputs() < 2 || node.numInputs() > 3) return "unexpected number of inputs";
    const bool hasB = node.numInputs() == 3 && node.hasInput(2);
    std::string r = needF32(node, hasB ? 3 : 2);
    if (!r.empty()) return r;
    if (node.input(1).rank() != node.input(0).rank()) return "w and x have different ranks";
    if (hasB && node.input(2).rank() != 1) return "b must be 1-D";
    if (node.attrInt("group", 1) < 1) return "group must be positive";
    return windowRule(node, false);
  }
  if (op == "max_pool" || op == "avg_pool") {
    if (node.numInputs() != 1) return "unexpected number of inputs";
    std::string r = needF32(node, 1);
    if (!r.empty()) return r;
    const int64_t c = node.attrInt("ceil_mode", 0), p = node.attrInt("count_include_pad", 0);
    if ((c != 0 && c != 1) || (p != 0 && p != 1)) return "ceil_mode and count_include_pad must be 0 or 1";
    return windowRule(node, true);
  }
  if (op == "batch_norm" || op == "instance_norm") {
    const size_t arity = op == "batch_norm" ? 5 : 3;
    if (node.numInputs() != arity) return "unexpected number of inputs";
    std::string r = needF32(node, arity);
    if (!r.empty()) return r;
    if (node.input(0).rank() < 2) return sdk::format("x must be [N, C, ...], got ", node.input(0).typeString());
    for (size_t i = 1; i < arity; ++i) {
      if (node.input(i).rank() != 1) return sdk::format("input ", i, " must be 1-D [C]");
    }
    return "";
  }
  if (op == "layer_norm") {
    if (node.numInputs() < 2 || node.numInputs() > 3) return "unexpected number of inputs";
    const bool hasB = node.numInputs() == 3 && node.hasInput(2);
    std::string r = needF32(node, hasB ? 3 : 2);
    if (!r.empty()) return r;
    const int64_t rank = node.input(0).rank(), axis = node.attrInt("axis", -1);
    if (rank == 0) return "layer_norm of a rank-0 tensor is not implemented by opencl";
    if (axis < -rank || axis >= rank) return sdk::format("axis ", axis, " is out of range for rank ", rank);
    return "";
  }
  if (op == "transpose") {
    if (node.numInputs() != 1) return "unexpected number of inputs";
    std::string r = needInputs(node, 1);
    if (!r.empty()) return r;
    Dims perm = node.attrInts("perm");
    const int64_t rank = node.input(0).rank();
    if (!perm.empty()) {
      if (static_cast<int64_t>(perm.size()) != rank) return "perm does not match the rank";
      std::vector<bool> seen(static_cast<size_t>(rank), false);
      for (int64_t p : perm) {
        if (p < 0 || p >= rank || seen[static_cast<size_t>(p)]) return "perm is not a permutation";
        seen[static_cast<size_t>(p)] = true;
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
      if (node.input(i).rank() != rank || node.input(i).dtype() != node.input(0).dtype()) {
        return "inputs differ in rank or dtype";
      }
    }
    if (rank == 0 || axis < -rank || axis >= rank) return sdk::format("axis ", axis, " is out of range for rank ", rank);
    return "";
  }
  if (op == "slice") {
    if (node.numInputs() < 3 || node.numInputs() > 5) return "unexpected number of inputs";
    std::string r = needInputs(node, 1);
    if (!r.empty()) return r;
    for (size_t i = 1; i < node.numInputs(); ++i) {
      if (node.hasInput(i) && !constantInts(graph, node.input(i))) {
        return "slice's starts, ends, axes and steps must be compile-time i64/i32 constants";
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
    return "";
  }
  if (op == "expand") {
    if (node.numInputs() != 2) return "unexpected number of inputs";
    std::string r = needInputs(node, 1);
    if (!r.empty()) return r;
    if (!node.hasInput(1) || !constantInts(graph, node.input(1))) {
      return "expand's shape must be a compile-time i64/i32 constant";
    }
    return "";
  }
  if (op == "pad") {
    if (node.numInputs() < 2 || node.numInputs() > 3) return "unexpected number of inputs";
    std::string r = needInputs(node, 1);
    if (!r.empty()) return r;
    if (!node.hasInput(1) || !constantInts(graph, node.input(1))) {
      return "pad's pads must be a compile-time i64 constant";
    }
    const std::string mode = node.attrString("mode", "constant");
    if (mode != "constant" && mode != "reflect" && mode != "edge") return sdk::format("pad mode '", mode, "' is unknown");
    if (constantInts(graph, node.input(1))->size() != 2 * static_cast<size_t>(node.input(0).rank())) {
      return "pads does not have 2 * rank entries";
    }
    return "";
  }
  if (isViewOp(op)) {
    const size_t arity = op == "reshape" ? 2 : 1;
    if (node.numInputs() != arity || !node.hasInput(0)) return "unexpected number of inputs";
    if (!node.input(0).hasRank()) return "input has an unknown rank";
    if (op == "reshape" && !constantInts(graph, node.input(1))) {
      return "reshape's shape must be a compile-time i64/i32 constant";
    }
    if (op == "squeeze" && !axesValid(node.attrInts("axes"), node.input(0).rank())) return "axes out of range";
    if (op == "unsqueeze") {
      if (!node.hasAttr("axes")) return "unsqueeze without axes";
      if (!axesValid(node.attrInts("axes"), node.input(0).rank() + static_cast<int64_t>(node.attrInts("axes").size()))) {
        return "axes out of range or repeated";
      }
    }
    return "";
  }
  return sdk::format("op '", op, "' is not implemented by opencl");
}

}  // namespace sy_opencl
