// The capability rules (what each op needs, with a one-line reason for every
// decline) and the cost model.
#include <cmath>
#include <cstring>

#include <switchyard/plugin_shapes.hpp>

#include "vk_backend.h"

namespace sy_vulkan {
namespace {

using sy::sdk::shapes::axesValid;

struct EltOp {
  const char* name;
  int opcode;
  enum Arity { Unary, Binary, Compare, Logical, LogicalNot, Where, Cast, BatchNorm } arity;
};
// Opcodes are those of shaders/eltwise.comp.
const EltOp kEltOps[] = {
    {"neg", 0, EltOp::Unary},        {"abs", 1, EltOp::Unary},         {"exp", 2, EltOp::Unary},
    {"log", 3, EltOp::Unary},        {"sqrt", 4, EltOp::Unary},        {"rsqrt", 5, EltOp::Unary},
    {"reciprocal", 6, EltOp::Unary}, {"sin", 7, EltOp::Unary},         {"cos", 8, EltOp::Unary},
    {"tanh", 9, EltOp::Unary},       {"sigmoid", 10, EltOp::Unary},    {"relu", 11, EltOp::Unary},
    {"leaky_relu", 12, EltOp::Unary}, {"gelu", 13, EltOp::Unary},      {"erf", 15, EltOp::Unary},
    {"silu", 16, EltOp::Unary},      {"floor", 17, EltOp::Unary},      {"ceil", 18, EltOp::Unary},
    {"round", 19, EltOp::Unary},     {"sign", 20, EltOp::Unary},       {"clip", 21, EltOp::Unary},
    {"add", 32, EltOp::Binary},      {"sub", 33, EltOp::Binary},       {"mul", 34, EltOp::Binary},
    {"div", 35, EltOp::Binary},      {"pow", 36, EltOp::Binary},       {"maximum", 37, EltOp::Binary},
    {"minimum", 38, EltOp::Binary},  {"equal", 40, EltOp::Compare},    {"greater", 41, EltOp::Compare},
    {"greater_equal", 42, EltOp::Compare}, {"less", 43, EltOp::Compare}, {"less_equal", 44, EltOp::Compare},
    {"logical_not", 48, EltOp::LogicalNot}, {"logical_and", 49, EltOp::Logical},
    {"logical_or", 50, EltOp::Logical}, {"logical_xor", 51, EltOp::Logical}, {"where", 56, EltOp::Where},
    {"cast", 60, EltOp::Cast},       {"batch_norm", 64, EltOp::BatchNorm}};

const EltOp* findElt(std::string_view op) {
  for (const EltOp& e : kEltOps) {
    if (op == e.name) return &e;
  }
  return nullptr;
}

const char* const kViewOps[] = {"reshape", "flatten", "squeeze", "unsqueeze", "identity"};
const char* const kReduceOps[] = {"reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod"};
constexpr int kMaxRank = 8;  // shaders' MAX_RANK

bool in(const char* const* list, size_t n, std::string_view op) {
  for (size_t i = 0; i < n; ++i) {
    if (op == list[i]) return true;
  }
  return false;
}

std::string needInputs(const sdk::NodeView& node, size_t lo, size_t hi) {
  if (node.numInputs() < lo || node.numInputs() > hi) return sdk::format("unexpected number of inputs (", node.numInputs(), ")");
  for (size_t i = 0; i < lo; ++i) {
    if (!node.hasInput(i)) return sdk::format("input ", i, " is missing");
  }
  for (size_t i = 0; i < node.numInputs(); ++i) {
    if (node.hasInput(i) && !node.input(i).hasRank()) return sdk::format("input ", i, " has an unknown rank");
    if (node.hasInput(i) && node.input(i).rank() > kMaxRank) {
      return sdk::format("input ", i, " has rank ", node.input(i).rank(), " (at most ", kMaxRank, ")");
    }
  }
  return "";
}

std::string needDtype(const sdk::NodeView& node, size_t i, int32_t dtype, const char* what = "f32") {
  if (!node.hasInput(i)) return "";
  if (node.input(i).dtype() != dtype) {
    return sdk::format("only ", what, " is implemented, input ", i, " is ", node.input(i).typeString());
  }
  return "";
}

std::string needF32(const sdk::NodeView& node) {
  for (size_t i = 0; i < node.numInputs(); ++i) {
    if (std::string r = needDtype(node, i, SY_DTYPE_F32); !r.empty()) return r;
  }
  return "";
}

/// Data movement works on 4- and 8-byte elements.
std::string needWordDtype(const sdk::NodeView& node, size_t i) {
  const int32_t dt = node.input(i).dtype();
  if (dt == SY_DTYPE_F32 || dt == SY_DTYPE_I32 || dt == SY_DTYPE_I64) return "";
  return sdk::format("data movement is implemented for f32, i32 and i64, input ", i, " is ", node.input(i).typeString());
}

std::string spatialRules(const sdk::NodeView& node, int64_t spatial, bool pool) {
  if (spatial < 1 || spatial > 2) return sdk::format("only 1-D and 2-D windows are implemented (", spatial, "-D)");
  const std::string autoPad = node.attrString("auto_pad", "NOTSET");
  if (autoPad != "NOTSET" && autoPad != "SAME_UPPER" && autoPad != "SAME_LOWER" && autoPad != "VALID") {
    return sdk::format("auto_pad '", autoPad, "' is unknown");
  }
  auto listOk = [&](const char* name, size_t n) {
    const Dims v = node.attrInts(name);
    return v.empty() || v.size() == n;
  };
  if (!listOk("strides", spatial) || !listOk("dilations", spatial) || !listOk("pads", 2 * spatial) ||
      !listOk("kernel_shape", spatial)) {
    return "strides, dilations, pads or kernel_shape do not match the spatial rank";
  }
  for (int64_t s : node.attrInts("strides")) {
    if (s < 1) return "strides must be positive";
  }
  for (int64_t d : node.attrInts("dilations")) {
    if (d < 1) return "dilations must be positive";
  }
  for (int64_t p : node.attrInts("pads")) {
    if (p < 0) return "pads must not be negative";
  }
  if (pool) {
    const Dims k = node.attrInts("kernel_shape");
    if (k.size() != static_cast<size_t>(spatial)) return "kernel_shape is required";
    for (int64_t v : k) {
      if (v < 1) return "kernel_shape must be positive";
    }
  }
  return "";
}

}  // namespace

bool isEltwise(std::string_view op) { return findElt(op) != nullptr; }
bool isView(std::string_view op) { return in(kViewOps, std::size(kViewOps), op); }
int eltwiseOpcode(std::string_view op) {
  const EltOp* e = findElt(op);
  return e != nullptr ? e->opcode : -1;
}

std::optional<Dims> constantInts(const sdk::GraphView& graph, const sdk::ValueView& v) {
  const void* data = v.constantData();
  size_t bytes = v.constantBytes();
  int32_t dtype = v.dtype();
  if (data == nullptr) {
    std::optional<sdk::NodeView> producer;
    for (const sdk::NodeView n : graph.nodes()) {
      for (size_t i = 0; i < n.numOutputs(); ++i) {
        if (n.output(i).index() == v.index()) producer = n;
      }
    }
    if (!producer || producer->op() != "constant") return std::nullopt;
    const std::optional<sdk::AttrView> a = producer->findAttr("value");
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

/// The dtypes of ABI 1.2 (u8, i16, u16, u32, u64, f64) are not implemented by
/// vulkan: a node that reads or writes one is declined, whatever the op.
std::string newDtypeWhyNot(const sdk::NodeView& node) {
  for (size_t i = 0; i < node.numInputs(); ++i)
    if (node.hasInput(i) && node.input(i).dtype() > SY_DTYPE_BOOL)
      return sdk::format("dtype ", sdk::dtypeName(node.input(i).dtype()), " of input ", i, " is not implemented by vulkan");
  for (size_t i = 0; i < node.numOutputs(); ++i)
    if (node.output(i).dtype() > SY_DTYPE_BOOL)
      return sdk::format("dtype ", sdk::dtypeName(node.output(i).dtype()), " of output ", i,
                         " is not implemented by vulkan");
  return "";
}

std::string whyNot(const sdk::GraphView& graph, const sdk::NodeView& node) {
  const std::string_view op = node.op();
  if (node.numBlocks() > 0) return sdk::format("control flow ('", op, "') is not implemented by vulkan");
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
  if (node.numOutputs() != 1) return "unexpected number of outputs";
  if (!node.output(0).hasRank()) return "the output has an unknown rank";
  if (node.output(0).rank() > kMaxRank) return sdk::format("rank above ", kMaxRank, " is not implemented");

  if (const EltOp* e = findElt(op)) {
    switch (e->arity) {
      case EltOp::Unary: {
        if (std::string r = needInputs(node, 1, 1); !r.empty()) return r;
        if (op == "gelu") {
          const std::string approx = node.attrString("approximate", "none");
          if (approx != "none" && approx != "tanh") return sdk::format("gelu approximate='", approx, "' is unknown");
        }
        return needF32(node);
      }
      case EltOp::Binary: {
        if (std::string r = needInputs(node, 2, 2); !r.empty()) return r;
        return needF32(node);
      }
      case EltOp::Compare: {
        if (std::string r = needInputs(node, 2, 2); !r.empty()) return r;
        const int32_t a = node.input(0).dtype(), b = node.input(1).dtype();
        if (a != b) return "operand dtypes differ";
        if (a == SY_DTYPE_F32 || (a == SY_DTYPE_BOOL && op == "equal")) return "";
        return sdk::format("only f32 is implemented, input 0 is ", node.input(0).typeString());
      }
      case EltOp::Logical:
      case EltOp::LogicalNot: {
        if (std::string r = needInputs(node, e->arity == EltOp::Logical ? 2 : 1, e->arity == EltOp::Logical ? 2 : 1);
            !r.empty()) {
          return r;
        }
        for (size_t i = 0; i < node.numInputs(); ++i) {
          if (std::string r = needDtype(node, i, SY_DTYPE_BOOL, "bool"); !r.empty()) return r;
        }
        return "";
      }
      case EltOp::Where: {
        if (std::string r = needInputs(node, 3, 3); !r.empty()) return r;
        if (std::string r = needDtype(node, 0, SY_DTYPE_BOOL, "a bool condition"); !r.empty()) return r;
        if (std::string r = needDtype(node, 1, SY_DTYPE_F32); !r.empty()) return r;
        return needDtype(node, 2, SY_DTYPE_F32);
      }
      case EltOp::Cast: {
        if (std::string r = needInputs(node, 1, 1); !r.empty()) return r;
        const int32_t from = node.input(0).dtype(), to = node.output(0).dtype();
        auto ok = [](int32_t d) { return d == SY_DTYPE_F32 || d == SY_DTYPE_BOOL; };
        if (!ok(from) || !ok(to)) {
          return sdk::format("cast is implemented between f32 and bool only (", sdk::dtypeName(from), " to ",
                             sdk::dtypeName(to), ")");
        }
        return "";
      }
      case EltOp::BatchNorm: {
        if (std::string r = needInputs(node, 5, 5); !r.empty()) return r;
        if (std::string r = needF32(node); !r.empty()) return r;
        if (node.input(0).rank() < 2) return "batch_norm needs x of rank 2 or more";
        for (size_t i = 1; i < 5; ++i) {
          if (node.input(i).rank() != 1) return sdk::format("batch_norm parameter ", i, " is not 1-D");
        }
        return "";
      }
    }
  }
  if (op == "matmul") {
    if (std::string r = needInputs(node, 2, 2); !r.empty()) return r;
    if (std::string r = needF32(node); !r.empty()) return r;
    if (node.input(0).rank() < 1 || node.input(1).rank() < 1) return "matmul of a rank-0 operand";
    return "";
  }
  if (op == "gemm") {
    if (std::string r = needInputs(node, 2, 3); !r.empty()) return r;
    if (std::string r = needF32(node); !r.empty()) return r;
    if (node.input(0).rank() != 2 || node.input(1).rank() != 2) return "gemm needs 2-D a and b";
    if (node.numInputs() == 3 && node.hasInput(2) && node.input(2).rank() > 2) return "gemm's c has rank above 2";
    return "";
  }
  if (op == "conv") {
    if (std::string r = needInputs(node, 2, 3); !r.empty()) return r;
    if (std::string r = needF32(node); !r.empty()) return r;
    const int64_t rank = node.input(0).rank();
    if (node.input(1).rank() != rank) return "w and x ranks differ";
    if (node.attrInt("group", 1) < 1) return "group must be positive";
    if (node.numInputs() == 3 && node.hasInput(2) && node.input(2).rank() != 1) return "bias is not 1-D";
    return spatialRules(node, rank - 2, false);
  }
  if (op == "max_pool" || op == "avg_pool") {
    if (std::string r = needInputs(node, 1, 1); !r.empty()) return r;
    if (std::string r = needF32(node); !r.empty()) return r;
    return spatialRules(node, node.input(0).rank() - 2, true);
  }
  if (op == "global_avg_pool" || op == "global_max_pool") {
    if (std::string r = needInputs(node, 1, 1); !r.empty()) return r;
    if (std::string r = needF32(node); !r.empty()) return r;
    if (node.input(0).rank() < 2) return "global pooling needs x of rank 2 or more";
    return "";
  }
  if (op == "softmax" || op == "log_softmax") {
    if (std::string r = needInputs(node, 1, 1); !r.empty()) return r;
    if (std::string r = needF32(node); !r.empty()) return r;
    const int64_t rank = node.input(0).rank(), axis = node.attrInt("axis", -1);
    if (rank == 0) return "softmax of a rank-0 tensor";
    if (axis < -rank || axis >= rank) return sdk::format("axis ", axis, " is out of range for rank ", rank);
    return "";
  }
  if (op == "layer_norm") {
    if (std::string r = needInputs(node, 2, 3); !r.empty()) return r;
    if (std::string r = needF32(node); !r.empty()) return r;
    const sdk::ValueView x = node.input(0);
    const int64_t rank = x.rank(), axis = node.attrInt("axis", -1);
    if (axis < -rank || axis >= rank) return sdk::format("axis ", axis, " is out of range for rank ", rank);
    const size_t first = static_cast<size_t>(axis < 0 ? axis + rank : axis);
    // scale / bias: their dims without leading 1s must be the trailing dims of x.shape[axis:].
    for (size_t i = 1; i < node.numInputs(); ++i) {
      if (!node.hasInput(i)) continue;
      const sdk::ValueView p = node.input(i);
      if (!p.isStatic()) return "layer_norm scale/bias must have static shapes";
      Dims d = p.dims().vec();
      while (!d.empty() && d.front() == 1) d.erase(d.begin());
      if (d.size() > static_cast<size_t>(rank) - first) return "layer_norm scale/bias rank exceeds the normalised dims";
      for (size_t k = 0; k < d.size(); ++k) {
        const int64_t xd = x.dim(static_cast<size_t>(rank) - d.size() + k);
        if (xd != d[k]) return "layer_norm scale/bias must match the trailing normalised dims (static)";
      }
    }
    return "";
  }
  if (in(kReduceOps, std::size(kReduceOps), op)) {
    if (node.numInputs() != 1) return sdk::format("axes as an input is not implemented (", node.numInputs(), " inputs)");
    if (std::string r = needInputs(node, 1, 1); !r.empty()) return r;
    if (std::string r = needF32(node); !r.empty()) return r;
    if (!axesValid(node.attrInts("axes"), node.input(0).rank())) return "axes out of range or repeated";
    return "";
  }
  if (op == "transpose") {
    if (std::string r = needInputs(node, 1, 1); !r.empty()) return r;
    if (std::string r = needWordDtype(node, 0); !r.empty()) return r;
    const Dims perm = node.attrInts("perm");
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
    if (node.numInputs() < 1) return "concat without inputs";
    if (node.numInputs() > 64) return "concat of more than 64 inputs";
    if (std::string r = needInputs(node, node.numInputs(), node.numInputs()); !r.empty()) return r;
    for (size_t i = 0; i < node.numInputs(); ++i) {
      if (std::string r = needWordDtype(node, i); !r.empty()) return r;
      if (node.input(i).dtype() != node.input(0).dtype()) return "concat inputs of different dtypes";
    }
    const int64_t rank = node.input(0).rank(), axis = node.attrInt("axis", 0);
    if (rank == 0 || axis < -rank || axis >= rank) return "concat axis out of range";
    return "";
  }
  if (op == "slice") {
    if (std::string r = needInputs(node, 3, 5); !r.empty()) return r;
    if (std::string r = needWordDtype(node, 0); !r.empty()) return r;
    for (size_t i = 1; i < node.numInputs(); ++i) {
      if (node.hasInput(i) && !constantInts(graph, node.input(i))) {
        return "slice starts/ends/axes/steps must be compile-time i64/i32 constants";
      }
    }
    return "";
  }
  if (op == "expand") {
    if (std::string r = needInputs(node, 2, 2); !r.empty()) return r;
    if (std::string r = needWordDtype(node, 0); !r.empty()) return r;
    if (!constantInts(graph, node.input(1))) return "expand's shape must be a compile-time i64/i32 constant";
    return "";
  }
  if (op == "gather") {
    if (std::string r = needInputs(node, 2, 2); !r.empty()) return r;
    if (std::string r = needWordDtype(node, 0); !r.empty()) return r;
    const int32_t it = node.input(1).dtype();
    if (it != SY_DTYPE_I64 && it != SY_DTYPE_I32) return "gather indices must be i64 or i32";
    const int64_t rank = node.input(0).rank(), axis = node.attrInt("axis", 0);
    if (rank == 0 || axis < -rank || axis >= rank) return "gather axis out of range";
    return "";
  }
  if (isView(op)) {
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
  return sdk::format("op '", op, "' is not implemented by vulkan");
}

// Cost model (seconds, only compared with other estimates): a dispatch
// overhead plus a per-element time, times the inner length for matmul/gemm
// and the window for conv/pools; dims that are not static numbers count as 1
// (like the reference's own estimate). Views and constants cost nothing;
// an elementwise op that fuses into its neighbours still pays its overhead
// here (the query sees nodes, not fusion), which errs on the safe side.
double estimateCost(const sdk::NodeView& node, const DeviceContext& context) {
  const bool gpu = context.info().type == SY_DEVICE_GPU;
  const double perElement = gpu ? 2e-11 : 1e-9, dispatch = gpu ? 4e-6 : 3e-6;
  const std::string_view op = node.op();
  if (op == "constant" || op == "weight" || isView(op)) return 0.0;
  auto elements = [](const sdk::ValueView& v) {
    double e = 1;
    for (int64_t d : v.dims()) e *= d >= 0 ? static_cast<double>(d) : 1.0;
    return e;
  };
  double n = elements(node.output(0));
  if (op == "matmul" || op == "gemm") {
    const sdk::ValueView a = node.input(0);
    const bool transA = op == "gemm" && node.attrInt("transA", 0) != 0;
    const int64_t k = a.rank() > 0 ? a.dims()[transA ? 0 : a.rank() - 1] : 1;
    n *= k >= 0 ? static_cast<double>(k) : 64.0;
  } else if (op == "conv") {
    const sdk::ValueView w = node.input(1);
    double window = 1;
    for (size_t i = 1; i < w.dims().size(); ++i) window *= w.dims()[i] >= 0 ? static_cast<double>(w.dims()[i]) : 3.0;
    n *= window;
  } else if (op == "max_pool" || op == "avg_pool") {
    for (int64_t k : node.attrInts("kernel_shape")) n *= static_cast<double>(k);
  } else if (op.rfind("reduce_", 0) == 0 || op.rfind("global_", 0) == 0 || op == "softmax" ||
             op == "log_softmax" || op == "layer_norm") {
    n = elements(node.input(0)) * 2;
  }
  return dispatch + n * perElement;
}

}  // namespace sy_vulkan
