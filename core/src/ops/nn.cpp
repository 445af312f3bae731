// Neural-network ops: matmul, gemm, conv, conv_transpose and the pools.
//
// Schemas only (arity, attributes, dtypes, inference): the kernels are the
// SDK's portable kernels (sdk/kernels, Note [one kernel library] in
// core/src/portable_kernels.cpp).
// The window arithmetic (spatial rank, strides/dilations/pads, auto_pad,
// ceil_mode, output sizes) is shared by conv, conv_transpose and the pools, and
// is done in 128-bit integers with range checks so that no attribute value can
// overflow it.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "ops/op_util.h"

namespace sy {
namespace {

using i128 = __int128;

/// Attribute values and computed extents must stay within +-2^60, so that
/// index arithmetic in the kernels (a few such terms added) never overflows.
constexpr int64_t kMaxExtent = int64_t{1} << 60;
bool fits(i128 v) { return v >= -static_cast<i128>(kMaxExtent) && v <= static_cast<i128>(kMaxExtent); }

template <typename... Args>
Status opError(std::string_view op, Args&&... args) {
  return invalidArgument("op '", op, "': ", std::forward<Args>(args)...);
}

std::string intsToString(const std::vector<int64_t>& v) { return shapeToString(v); }

// ===========================================================================
// matmul

const std::vector<DType> kMatmulTypes = {DType::F32, DType::F16, DType::BF16, DType::F64, DType::I16,
                                         DType::I32, DType::I64, DType::U8,   DType::U16,  DType::U32, DType::U64};

Status matmulInfer(InferContext& ctx) {
  const OpSchema& s = ctx.schema();
  const Type& a = ctx.inputType(0);
  const Type& b = ctx.inputType(1);
  SY_RETURN_IF_ERROR(ops::checkDType(s, 0, a.dtype(), kMatmulTypes));
  SY_RETURN_IF_ERROR(ops::checkDType(s, 1, b.dtype(), kMatmulTypes));
  if (a.dtype() != b.dtype())
    return opError(s.name, "a and b must have the same dtype, got ", a.toString(), " and ", b.toString());
  if (a.rankKnown() && a.rank() == 0) return opError(s.name, "a must have rank >= 1, got ", a.toString());
  if (b.rankKnown() && b.rank() == 0) return opError(s.name, "b must have rank >= 1, got ", b.toString());
  if (!a.rankKnown() || !b.rankKnown()) {
    ctx.setOutputType(0, Type::tensorUnranked(a.dtype()));
    return Status::OK();
  }
  std::vector<Dim> ad = a.dims(), bd = b.dims();
  if (ad.size() == 1) ad.insert(ad.begin(), Dim(1));
  if (bd.size() == 1) bd.push_back(Dim(1));
  const Dim& ka = ad[ad.size() - 1];
  const Dim& kb = bd[bd.size() - 2];
  if (ka.isStatic() && kb.isStatic() && ka.value() != kb.value())
    return opError(s.name, "contraction dims differ: a is ", a.toString(), ", b is ", b.toString(), " (",
                   ka.value(), " vs ", kb.value(), ")");
  const Type aBatch = Type::tensor(a.dtype(), std::vector<Dim>(ad.begin(), ad.end() - 2));
  const Type bBatch = Type::tensor(a.dtype(), std::vector<Dim>(bd.begin(), bd.end() - 2));
  auto batch = ops::broadcastTypes(aBatch, bBatch, a.dtype());
  if (!batch.ok())
    return opError(s.name, "batch dims of ", a.toString(), " and ", b.toString(),
                   " do not broadcast: ", batch.status().message());
  std::vector<Dim> out = batch->dims();
  if (a.rank() > 1) out.push_back(ad[ad.size() - 2]);
  if (b.rank() > 1) out.push_back(bd[bd.size() - 1]);
  ctx.setOutputType(0, Type::tensor(a.dtype(), std::move(out)));
  return Status::OK();
}

// ===========================================================================
// gemm

Status gemmInfer(InferContext& ctx) {
  const OpSchema& s = ctx.schema();
  const Type& a = ctx.inputType(0);
  const Type& b = ctx.inputType(1);
  SY_RETURN_IF_ERROR(ops::checkDType(s, 0, a.dtype(), ops::kFloatTypes));
  for (size_t i = 1; i < ctx.numInputs(); ++i)
    if (ctx.inputType(i).dtype() != a.dtype())
      return opError(s.name, s.inputNames[i], " has dtype ", dtypeName(ctx.inputType(i).dtype()), " but a has ",
                     dtypeName(a.dtype()));
  const int64_t transA = ctx.getInt("transA"), transB = ctx.getInt("transB");
  if (transA != 0 && transA != 1) return opError(s.name, "transA must be 0 or 1, got ", transA);
  if (transB != 0 && transB != 1) return opError(s.name, "transB must be 0 or 1, got ", transB);
  if (a.rankKnown() && a.rank() != 2) return opError(s.name, "a must be 2-D, got ", a.toString());
  if (b.rankKnown() && b.rank() != 2) return opError(s.name, "b must be 2-D, got ", b.toString());
  const Dim M = a.rankKnown() ? a.dim(transA ? 1 : 0) : Dim();
  const Dim Ka = a.rankKnown() ? a.dim(transA ? 0 : 1) : Dim();
  const Dim Kb = b.rankKnown() ? b.dim(transB ? 1 : 0) : Dim();
  const Dim N = b.rankKnown() ? b.dim(transB ? 0 : 1) : Dim();
  if (Ka.isStatic() && Kb.isStatic() && Ka.value() != Kb.value())
    return opError(s.name, "contraction dims differ: a is ", a.toString(), (transA ? " (transposed)" : ""),
                   ", b is ", b.toString(), (transB ? " (transposed)" : ""), " (", Ka.value(), " vs ",
                   Kb.value(), ")");
  if (ctx.numInputs() > 2) {
    const Type& c = ctx.inputType(2);
    if (c.rankKnown()) {
      if (c.rank() > 2) return opError(s.name, "c must have rank <= 2, got ", c.toString());
      const Dim target[2] = {M, N};
      for (int64_t i = 0; i < c.rank(); ++i) {
        const Dim& cd = c.dim(i);
        const Dim& td = target[2 - c.rank() + i];
        if (cd.isStatic() && cd.value() != 1 && td.isStatic() && cd.value() != td.value())
          return opError(s.name, "c ", c.toString(), " does not broadcast to [M, N] = [", M.toString(),
                         ", ", N.toString(), "]");
      }
    }
  }
  ctx.setOutputType(0, Type::tensor(a.dtype(), {M, N}));
  return Status::OK();
}

// ===========================================================================
// Window arithmetic shared by conv, conv_transpose and the pools

enum class AutoPad { NotSet, SameUpper, SameLower, Valid };

Result<AutoPad> readAutoPad(const AttrReader& ctx, std::string_view op) {
  const std::string& v = ctx.getString("auto_pad");
  if (v == "NOTSET" || v.empty()) return AutoPad::NotSet;
  if (v == "SAME_UPPER") return AutoPad::SameUpper;
  if (v == "SAME_LOWER") return AutoPad::SameLower;
  if (v == "VALID") return AutoPad::Valid;
  return opError(op, "auto_pad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID, got '", v, "'");
}

/// The spatial rank implied by the inputs and the list attributes, which must
/// all agree; nullopt when nothing tells it.
Result<std::optional<int64_t>> spatialRank(const AttrReader& ctx, std::string_view op,
                                           const std::vector<std::pair<std::string, const Type*>>& inputs,
                                           const std::vector<std::string>& listAttrs) {
  std::optional<int64_t> rank;
  std::string source;
  auto offer = [&](int64_t r, const std::string& what) -> Status {
    if (!rank) {
      rank = r;
      source = what;
      return Status::OK();
    }
    if (*rank != r)
      return opError(op, what, " implies ", r, " spatial dims, but ", source, " implies ", *rank);
    return Status::OK();
  };
  for (const auto& [name, t] : inputs) {
    if (!t->rankKnown()) continue;
    if (t->rank() < 3)
      return opError(op, name, " must have rank >= 3 ([N, C, D1, ...]), got ", t->toString());
    SY_RETURN_IF_ERROR(offer(t->rank() - 2, name + " " + t->toString()));
  }
  for (const std::string& a : listAttrs) {
    const std::vector<int64_t>& v = ctx.getInts(a);
    if (v.empty()) continue;
    if (a == "pads") {
      if (v.size() % 2 != 0)
        return opError(op, "pads must have 2 values per spatial dim ([begin..., end...]), got ", v.size(),
                       " values");
      SY_RETURN_IF_ERROR(offer(static_cast<int64_t>(v.size() / 2), "pads " + intsToString(v)));
    } else {
      SY_RETURN_IF_ERROR(offer(static_cast<int64_t>(v.size()), a + " " + intsToString(v)));
    }
  }
  return rank;
}

struct Window {
  AutoPad autoPad = AutoPad::NotSet;
  std::vector<int64_t> strides, dilations, pads;  // resolved: rank, rank, 2 * rank values
  bool ceilMode = false;
};

/// Reads strides, dilations, pads, auto_pad (and ceil_mode where declared) for
/// `rank` spatial dims, applying the defaults and validating the values.
Result<Window> readWindow(const AttrReader& ctx, std::string_view op, int64_t rank) {
  Window w;
  const size_t r = static_cast<size_t>(rank);
  SY_ASSIGN_OR_RETURN(w.autoPad, readAutoPad(ctx, op));
  auto list = [&](const char* name, size_t n, int64_t def, int64_t minValue,
                  std::vector<int64_t>& out) -> Status {
    const std::vector<int64_t>& v = ctx.getInts(name);
    if (v.empty()) {
      out.assign(n, def);
      return Status::OK();
    }
    if (v.size() != n)
      return opError(op, name, " has ", v.size(), " values, expected ", n, " for ", rank, " spatial dims");
    for (int64_t x : v) {
      if (x < minValue)
        return opError(op, name, " must be ", minValue == 0 ? "non-negative" : "positive", ", got ",
                       intsToString(v));
      if (x > kMaxExtent) return opError(op, name, " value ", x, " is too large");
    }
    out = v;
    return Status::OK();
  };
  SY_RETURN_IF_ERROR(list("strides", r, 1, 1, w.strides));
  SY_RETURN_IF_ERROR(list("dilations", r, 1, 1, w.dilations));
  SY_RETURN_IF_ERROR(list("pads", 2 * r, 0, 0, w.pads));
  if (w.autoPad != AutoPad::NotSet)
    for (int64_t p : w.pads)
      if (p != 0)
        return opError(op, "pads ", intsToString(ctx.getInts("pads")), " cannot be combined with auto_pad ",
                       ctx.getString("auto_pad"));
  if (ctx.schema().findAttr("ceil_mode")) {
    const int64_t c = ctx.getInt("ceil_mode");
    if (c != 0 && c != 1) return opError(op, "ceil_mode must be 0 or 1, got ", c);
    w.ceilMode = c == 1;
  }
  return w;
}

/// One spatial axis of a window op: output size and the resolved pads.
struct Axis {
  int64_t out = 0;
  int64_t padBegin = 0;
  int64_t padEnd = 0;
};

/// Output size of a convolution / pooling along spatial axis `i` for input size
/// `in` and kernel size `k` (ONNX Conv/MaxPool/AveragePool, PyTorch ceil_mode).
Result<Axis> forwardAxis(std::string_view op, const Window& w, size_t i, int64_t in, int64_t k) {
  const int64_t s = w.strides[i], d = w.dilations[i];
  const i128 ek = static_cast<i128>(k - 1) * d + 1;  // effective (dilated) kernel size
  if (!fits(ek)) return opError(op, "dilated kernel along spatial dim ", i, " is too large");
  const int64_t eff = static_cast<int64_t>(ek);
  Axis a;
  if (w.autoPad == AutoPad::SameUpper || w.autoPad == AutoPad::SameLower) {
    a.out = in == 0 ? 0 : (in - 1) / s + 1;  // ceil(in / s)
    const i128 total = std::max<i128>(0, static_cast<i128>(a.out - 1) * s + eff - in);
    const int64_t t = static_cast<int64_t>(total);
    a.padBegin = w.autoPad == AutoPad::SameUpper ? t / 2 : t - t / 2;
    a.padEnd = t - a.padBegin;
    return a;
  }
  if (w.autoPad == AutoPad::NotSet) {
    a.padBegin = w.pads[i];
    a.padEnd = w.pads[i + w.strides.size()];
  }
  const i128 padded = static_cast<i128>(in) + a.padBegin + a.padEnd;
  if (!fits(padded)) return opError(op, "padded input along spatial dim ", i, " is too large");
  if (padded < ek)
    return opError(op, "kernel of size ", eff, (d > 1 ? " (dilated)" : ""), " is larger than the padded input (",
                   static_cast<int64_t>(padded), ") along spatial dim ", i);
  const int64_t span = static_cast<int64_t>(padded - ek);
  a.out = span / s + 1;
  if (w.ceilMode && span % s != 0) {
    ++a.out;
    // A window that would start entirely in the end padding is dropped.
    if (static_cast<i128>(a.out - 1) * s >= static_cast<i128>(in) + a.padBegin) --a.out;
  }
  return a;
}

/// Output dim of a convolution / pooling for a possibly symbolic input dim.
Result<Dim> forwardDim(std::string_view op, const Window& w, size_t i, const Dim& in, std::optional<int64_t> k) {
  if (in.isStatic() && k) {
    SY_ASSIGN_OR_RETURN(Axis a, forwardAxis(op, w, i, in.value(), *k));
    return Dim(a.out);
  }
  // A stride-1 window that keeps the size keeps the symbol.
  if (w.strides[i] == 1 && !in.isStatic()) {
    if (w.autoPad == AutoPad::SameUpper || w.autoPad == AutoPad::SameLower) return in;
    if (k) {
      const i128 ek = static_cast<i128>(*k - 1) * w.dilations[i] + 1;
      const i128 pads = w.autoPad == AutoPad::Valid
                            ? 0
                            : static_cast<i128>(w.pads[i]) + w.pads[i + w.strides.size()];
      if (ek - 1 == pads) return in;
    }
  }
  return Dim::unknown();
}

/// Output size and pads of a transposed convolution along axis `i` (ONNX ConvTranspose).
/// Total padding that would be negative (an output_shape beyond what the input
/// reaches) is clamped to 0: the extra outputs receive only the bias.
Result<Axis> transposeAxis(std::string_view op, const Window& w, size_t i, int64_t in, int64_t k, int64_t outPad,
                           std::optional<int64_t> outShape) {
  const int64_t s = w.strides[i], d = w.dilations[i];
  const i128 ek = static_cast<i128>(k - 1) * d + 1;
  const i128 full = static_cast<i128>(s) * (in - 1) + outPad + ek;
  if (!fits(ek) || !fits(full)) return opError(op, "output along spatial dim ", i, " is too large");
  Axis a;
  const bool same = w.autoPad == AutoPad::SameUpper || w.autoPad == AutoPad::SameLower;
  if (outShape || same) {
    const i128 target = outShape ? static_cast<i128>(*outShape) : static_cast<i128>(in) * s;
    if (!fits(target)) return opError(op, "output along spatial dim ", i, " is too large");
    a.out = static_cast<int64_t>(target);
    const int64_t total = static_cast<int64_t>(std::max<i128>(0, full - target));
    // ONNX: SAME_UPPER puts the odd element at the end, otherwise at the beginning.
    a.padBegin = w.autoPad == AutoPad::SameUpper ? total / 2 : total - total / 2;
    a.padEnd = total - a.padBegin;
    return a;
  }
  if (w.autoPad == AutoPad::NotSet) {
    a.padBegin = w.pads[i];
    a.padEnd = w.pads[i + w.strides.size()];
  }
  const i128 out = full - a.padBegin - a.padEnd;
  if (out < 0)
    return opError(op, "output size along spatial dim ", i, " would be negative (full size ",
                   static_cast<int64_t>(full), " minus pads ", a.padBegin, " + ", a.padEnd, ")");
  a.out = static_cast<int64_t>(out);
  return a;
}

// ===========================================================================
// conv and conv_transpose

struct ConvAttrs {
  Window win;
  int64_t group = 1;
  std::vector<int64_t> outputPadding;             // conv_transpose: rank values
  std::optional<std::vector<int64_t>> outputShape;  // conv_transpose: spatial dims only
};

Result<ConvAttrs> readConvAttrs(const AttrReader& ctx, std::string_view op, int64_t rank, bool transposed) {
  ConvAttrs c;
  SY_ASSIGN_OR_RETURN(c.win, readWindow(ctx, op, rank));
  c.group = ctx.getInt("group");
  if (c.group < 1) return opError(op, "group must be positive, got ", c.group);
  const std::vector<int64_t>& ks = ctx.getInts("kernel_shape");
  if (!ks.empty()) {
    if (static_cast<int64_t>(ks.size()) != rank)
      return opError(op, "kernel_shape has ", ks.size(), " values, expected ", rank);
    for (int64_t k : ks)
      if (k < 1 || k > kMaxExtent) return opError(op, "kernel_shape must be positive, got ", intsToString(ks));
  }
  if (!transposed) return c;
  const std::vector<int64_t>& op_ = ctx.getInts("output_padding");
  if (op_.empty()) {
    c.outputPadding.assign(static_cast<size_t>(rank), 0);
  } else {
    if (static_cast<int64_t>(op_.size()) != rank)
      return opError(op, "output_padding has ", op_.size(), " values, expected ", rank);
    for (int64_t v : op_)
      if (v < 0 || v > kMaxExtent)
        return opError(op, "output_padding must be non-negative, got ", intsToString(op_));
    c.outputPadding = op_;
  }
  const std::vector<int64_t>& os = ctx.getInts("output_shape");
  if (!os.empty()) {
    const int64_t n = static_cast<int64_t>(os.size());
    if (n != rank && n != rank + 2)
      return opError(op, "output_shape has ", n, " values, expected ", rank, " (spatial dims) or ", rank + 2);
    std::vector<int64_t> sp(os.end() - rank, os.end());
    for (int64_t v : sp)
      if (v < 0 || v > kMaxExtent) return opError(op, "output_shape must be non-negative, got ", intsToString(os));
    for (int64_t p : c.win.pads)
      if (p != 0)
        return opError(op, "pads ", intsToString(ctx.getInts("pads")),
                       " cannot be combined with output_shape (the pads are computed from it)");
    c.outputShape = std::move(sp);
  }
  return c;
}

Status convInferImpl(InferContext& ctx, bool transposed) {
  const OpSchema& s = ctx.schema();
  const std::string& op = s.name;
  const Type& x = ctx.inputType(0);
  const Type& w = ctx.inputType(1);
  SY_RETURN_IF_ERROR(ops::checkDType(s, 0, x.dtype(), ops::kFloatTypes));
  for (size_t i = 1; i < ctx.numInputs(); ++i)
    if (ctx.inputType(i).dtype() != x.dtype())
      return opError(op, s.inputNames[i], " has dtype ", dtypeName(ctx.inputType(i).dtype()), " but x has ",
                     dtypeName(x.dtype()));
  const bool hasBias = ctx.numInputs() > 2;
  if (hasBias && ctx.inputType(2).rankKnown() && ctx.inputType(2).rank() != 1)
    return opError(op, "b must be 1-D, got ", ctx.inputType(2).toString());
  std::vector<std::string> lists = {"kernel_shape", "strides", "dilations", "pads"};
  if (transposed) lists.push_back("output_padding");
  SY_ASSIGN_OR_RETURN(std::optional<int64_t> rank, spatialRank(ctx, op, {{"x", &x}, {"w", &w}}, lists));
  const int64_t group = ctx.getInt("group");
  if (group < 1) return opError(op, "group must be positive, got ", group);
  if (!rank) {
    ctx.setOutputType(0, Type::tensorUnranked(x.dtype()));
    return Status::OK();
  }
  const size_t r = static_cast<size_t>(*rank);
  SY_ASSIGN_OR_RETURN(ConvAttrs c, readConvAttrs(ctx, op, *rank, transposed));

  // Kernel sizes: kernel_shape, else the weight's spatial dims.
  const std::vector<int64_t>& ks = ctx.getInts("kernel_shape");
  std::vector<std::optional<int64_t>> kernel(r);
  for (size_t i = 0; i < r; ++i) {
    if (!ks.empty()) kernel[i] = ks[i];
    if (w.rankKnown()) {
      const Dim& wd = w.dim(static_cast<int64_t>(i) + 2);
      if (wd.isStatic()) {
        if (wd.value() < 1) return opError(op, "w ", w.toString(), " has an empty kernel");
        if (kernel[i] && *kernel[i] != wd.value())
          return opError(op, "kernel_shape ", intsToString(ks), " does not match w ", w.toString());
        kernel[i] = wd.value();
      }
    }
  }

  // Channels.
  const Dim C = x.rankKnown() ? x.dim(1) : Dim();
  const Dim w0 = w.rankKnown() ? w.dim(0) : Dim();
  const Dim w1 = w.rankKnown() ? w.dim(1) : Dim();
  Dim M;
  if (!transposed) {
    // x [N, C, ...], w [M, C / group, ...]
    if (C.isStatic() && C.value() % group != 0)
      return opError(op, "group ", group, " does not divide the ", C.value(), " input channels of x ", x.toString());
    if (w0.isStatic() && w0.value() % group != 0)
      return opError(op, "group ", group, " does not divide the ", w0.value(), " output channels of w ",
                     w.toString());
    if (C.isStatic() && w1.isStatic() && C.value() != w1.value() * group)
      return opError(op, "x ", x.toString(), " has ", C.value(), " channels but w ", w.toString(), " expects ",
                     w1.value(), " * group ", group, " = ", w1.value() * group);
    M = w0;
  } else {
    // x [N, C, ...], w [C, M / group, ...]
    if (w0.isStatic() && w0.value() % group != 0)
      return opError(op, "group ", group, " does not divide the ", w0.value(), " input channels of w ",
                     w.toString());
    if (C.isStatic() && C.value() % group != 0)
      return opError(op, "group ", group, " does not divide the ", C.value(), " input channels of x ", x.toString());
    if (C.isStatic() && w0.isStatic() && C.value() != w0.value())
      return opError(op, "x ", x.toString(), " has ", C.value(), " channels but w ", w.toString(), " expects ",
                     w0.value());
    if (w1.isStatic()) {
      const i128 m = static_cast<i128>(w1.value()) * group;
      if (!fits(m)) return opError(op, "output channels overflow");
      M = Dim(static_cast<int64_t>(m));
    } else if (group == 1) {
      M = w1;
    }
  }
  if (hasBias) {
    const Type& b = ctx.inputType(2);
    if (b.rankKnown() && b.dim(0).isStatic()) {
      if (M.isStatic() && b.dim(0).value() != M.value())
        return opError(op, "b ", b.toString(), " must have one value per output channel (", M.value(), ")");
      if (!M.isStatic()) M = b.dim(0);
    }
  }

  std::vector<Dim> out = {x.rankKnown() ? x.dim(0) : Dim(), M};
  for (size_t i = 0; i < r; ++i) {
    const Dim in = x.rankKnown() ? x.dim(static_cast<int64_t>(i) + 2) : Dim();
    if (!transposed) {
      SY_ASSIGN_OR_RETURN(Dim d, forwardDim(op, c.win, i, in, kernel[i]));
      out.push_back(d);
    } else if (in.isStatic() && kernel[i]) {
      SY_ASSIGN_OR_RETURN(Axis a, transposeAxis(op, c.win, i, in.value(), *kernel[i], c.outputPadding[i],
                                                c.outputShape ? std::optional<int64_t>((*c.outputShape)[i])
                                                              : std::nullopt));
      out.push_back(Dim(a.out));
    } else if (c.outputShape) {
      out.push_back(Dim((*c.outputShape)[i]));
    } else {
      out.push_back(Dim::unknown());
    }
  }
  ctx.setOutputType(0, Type::tensor(x.dtype(), std::move(out)));
  return Status::OK();
}

Status convInfer(InferContext& ctx) { return convInferImpl(ctx, false); }
Status convTransposeInfer(InferContext& ctx) { return convInferImpl(ctx, true); }

// ===========================================================================
// max_pool, avg_pool

const std::vector<DType> kMaxPoolTypes = {DType::F32, DType::F16, DType::BF16, DType::I8, DType::U8};

Status poolInferImpl(InferContext& ctx, bool isMax) {
  const OpSchema& s = ctx.schema();
  const std::string& op = s.name;
  const Type& x = ctx.inputType(0);
  SY_RETURN_IF_ERROR(ops::checkDType(s, 0, x.dtype(), isMax ? kMaxPoolTypes : ops::kFloatTypes));
  const std::vector<int64_t>& ks = ctx.getInts("kernel_shape");
  if (ks.empty()) return opError(op, "kernel_shape must have one value per spatial dim, got []");
  for (int64_t k : ks)
    if (k < 1 || k > kMaxExtent) return opError(op, "kernel_shape must be positive, got ", intsToString(ks));
  SY_ASSIGN_OR_RETURN(std::optional<int64_t> rank,
                      spatialRank(ctx, op, {{"x", &x}}, {"kernel_shape", "strides", "dilations", "pads"}));
  SY_ASSIGN_OR_RETURN(Window win, readWindow(ctx, op, *rank));
  if (!isMax) {
    const int64_t cip = ctx.getInt("count_include_pad");
    if (cip != 0 && cip != 1) return opError(op, "count_include_pad must be 0 or 1, got ", cip);
    // A pad as wide as the window makes windows that hold only padding: the
    // average of nothing (NaN on one backend, an error on another). One rule
    // for every backend: refused here, before any backend sees the node.
    const size_t r = ks.size();
    for (size_t i = 0; i < r && win.pads.size() == 2 * r; ++i) {
      const int64_t extent = (ks[i] - 1) * win.dilations[i] + 1;
      if (win.pads[i] >= extent || win.pads[i + r] >= extent)
        return opError(op, "pads ", intsToString(win.pads), " must be smaller than the kernel window (",
                       intsToString(ks), "): a window of only padding has no average");
    }
  }
  std::vector<Dim> out = {x.rankKnown() ? x.dim(0) : Dim(), x.rankKnown() ? x.dim(1) : Dim()};
  for (size_t i = 0; i < ks.size(); ++i) {
    const Dim in = x.rankKnown() ? x.dim(static_cast<int64_t>(i) + 2) : Dim();
    SY_ASSIGN_OR_RETURN(Dim d, forwardDim(op, win, i, in, ks[i]));
    out.push_back(d);
  }
  ctx.setOutputType(0, Type::tensor(x.dtype(), std::move(out)));
  return Status::OK();
}

Status maxPoolInfer(InferContext& ctx) { return poolInferImpl(ctx, true); }
Status avgPoolInfer(InferContext& ctx) { return poolInferImpl(ctx, false); }

// ===========================================================================
// global_avg_pool, global_max_pool

Status globalPoolInferImpl(InferContext& ctx, bool isMax) {
  const OpSchema& s = ctx.schema();
  const Type& x = ctx.inputType(0);
  SY_RETURN_IF_ERROR(ops::checkDType(s, 0, x.dtype(), isMax ? kMaxPoolTypes : ops::kFloatTypes));
  if (!x.rankKnown()) {
    ctx.setOutputType(0, Type::tensorUnranked(x.dtype()));
    return Status::OK();
  }
  if (x.rank() < 3) return opError(s.name, "x must have rank >= 3 ([N, C, D1, ...]), got ", x.toString());
  std::vector<Dim> out = {x.dim(0), x.dim(1)};
  out.resize(x.dims().size(), Dim(1));
  ctx.setOutputType(0, Type::tensor(x.dtype(), std::move(out)));
  return Status::OK();
}

Status globalMaxPoolInfer(InferContext& ctx) { return globalPoolInferImpl(ctx, true); }
Status globalAvgPoolInfer(InferContext& ctx) { return globalPoolInferImpl(ctx, false); }

// ===========================================================================
// Schemas

AttrSpec intAttr(std::string name, int64_t def, std::string doc) {
  return AttrSpec{std::move(name), AttrKind::Int, Attribute(def), false, std::move(doc)};
}
AttrSpec floatAttr(std::string name, double def, std::string doc) {
  return AttrSpec{std::move(name), AttrKind::Float, Attribute(def), false, std::move(doc)};
}
AttrSpec intsAttr(std::string name, std::string doc, bool required = false) {
  return AttrSpec{std::move(name), AttrKind::Ints,
                  required ? std::optional<Attribute>() : std::optional<Attribute>(std::vector<int64_t>{}),
                  required, std::move(doc)};
}
AttrSpec autoPadAttr() {
  return AttrSpec{"auto_pad", AttrKind::String, Attribute(std::string("NOTSET")), false,
                  "NOTSET (use pads), SAME_UPPER / SAME_LOWER (output = ceil(input / stride); an odd total "
                  "padding puts the extra element at the end / beginning), or VALID (no padding)"};
}
AttrSpec dilationsAttr() { return intsAttr("dilations", "dilation per spatial dim; [] means all 1"); }
AttrSpec padsAttr() {
  return intsAttr("pads", "padding [x1_begin, x2_begin, ..., x1_end, x2_end]; [] means all 0");
}
AttrSpec stridesAttr() { return intsAttr("strides", "stride per spatial dim; [] means all 1"); }

}  // namespace

// core/src/ops/recurrent.cpp and quant.cpp (registered with the nn family, so that op_registry.h stays unchanged).
void registerRecurrentOps(OpRegistry& r);
void registerQuantOps(OpRegistry& r);

void registerNnOps(OpRegistry& r) {
  registerRecurrentOps(r);
  registerQuantOps(r);
  {
    OpSchema s;
    s.name = "matmul";
    s.category = "nn";
    s.doc = "Matrix product with numpy.matmul semantics: 1-D operands are promoted to matrices (and the added "
            "dim removed from the result), leading batch dims broadcast.";
    s.inputNames = {"a", "b"};
    s.minInputs = s.maxInputs = 2;
    s.outputNames = {"y"};
    s.dtypes = kMatmulTypes;
    s.infer = matmulInfer;
    r.add(std::move(s));
  }
  {
    OpSchema s;
    s.name = "gemm";
    s.category = "nn";
    s.doc = "General matrix multiply y = alpha * op(a) @ op(b) + beta * c for 2-D a and b, where op transposes "
            "when transA / transB is set and c broadcasts to [M, N].";
    s.inputNames = {"a", "b", "c"};
    s.minInputs = 2;
    s.maxInputs = 3;
    s.outputNames = {"y"};
    s.attrs = {floatAttr("alpha", 1.0, "scale of the product a @ b"),
               floatAttr("beta", 1.0, "scale of c"),
               intAttr("transA", 0, "1: use a transposed ([K, M])"),
               intAttr("transB", 0, "1: use b transposed ([N, K])")};
    s.dtypes = ops::kFloatTypes;
    s.infer = gemmInfer;
    r.add(std::move(s));
  }
  {
    OpSchema s;
    s.name = "conv";
    s.category = "nn";
    s.doc = "N-D convolution (ONNX Conv, cross-correlation): x [N, C, D1, ...], w [M, C / group, k1, ...], "
            "optional bias b [M]; gives [N, M, O1, ...].";
    s.inputNames = {"x", "w", "b"};
    s.minInputs = 2;
    s.maxInputs = 3;
    s.outputNames = {"y"};
    s.attrs = {autoPadAttr(),
               dilationsAttr(),
               intAttr("group", 1, "number of channel groups; must divide C and M"),
               intsAttr("kernel_shape", "kernel spatial dims; [] means take them from w"),
               padsAttr(),
               stridesAttr()};
    s.dtypes = ops::kFloatTypes;
    s.infer = convInfer;
    r.add(std::move(s));
  }
  {
    OpSchema s;
    s.name = "conv_transpose";
    s.category = "nn";
    s.doc = "N-D transposed convolution (ONNX ConvTranspose): x [N, C, D1, ...], w [C, M / group, k1, ...], "
            "optional bias b [M]; output size stride * (D - 1) + output_padding + dilated kernel - pads, or "
            "output_shape when given (pads then derived from it).";
    s.inputNames = {"x", "w", "b"};
    s.minInputs = 2;
    s.maxInputs = 3;
    s.outputNames = {"y"};
    s.attrs = {autoPadAttr(),
               dilationsAttr(),
               intAttr("group", 1, "number of channel groups; must divide C"),
               intsAttr("kernel_shape", "kernel spatial dims; [] means take them from w"),
               intsAttr("output_padding", "extra output elements at the end of each spatial dim; [] means 0"),
               intsAttr("output_shape",
                        "output spatial dims (optionally with N and C in front); pads are computed from it"),
               padsAttr(),
               stridesAttr()};
    s.dtypes = ops::kFloatTypes;
    s.infer = convTransposeInfer;
    r.add(std::move(s));
  }
  {
    OpSchema s;
    s.name = "max_pool";
    s.category = "nn";
    s.doc = "N-D max pooling over windows of x [N, C, D1, ...]; padded positions never win the max.";
    s.inputNames = {"x"};
    s.minInputs = s.maxInputs = 1;
    s.outputNames = {"y"};
    s.attrs = {autoPadAttr(),
               intAttr("ceil_mode", 0,
                       "1: round the output size up (a window starting in the end padding is dropped)"),
               dilationsAttr(),
               intsAttr("kernel_shape", "window spatial dims", true),
               padsAttr(),
               stridesAttr()};
    s.dtypes = kMaxPoolTypes;
    s.infer = maxPoolInfer;
    r.add(std::move(s));
  }
  {
    OpSchema s;
    s.name = "avg_pool";
    s.category = "nn";
    s.doc = "N-D average pooling over windows of x [N, C, D1, ...]; the divisor counts only input elements, or "
            "also the padding when count_include_pad is 1.";
    s.inputNames = {"x"};
    s.minInputs = s.maxInputs = 1;
    s.outputNames = {"y"};
    s.attrs = {autoPadAttr(),
               intAttr("ceil_mode", 0,
                       "1: round the output size up (a window starting in the end padding is dropped)"),
               intAttr("count_include_pad", 0,
                       "1: divide by the window size clipped to the padded input (not the ceil_mode overhang)"),
               dilationsAttr(),
               intsAttr("kernel_shape", "window spatial dims", true),
               padsAttr(),
               stridesAttr()};
    s.dtypes = ops::kFloatTypes;
    s.infer = avgPoolInfer;
    r.add(std::move(s));
  }
  {
    OpSchema s;
    s.name = "global_avg_pool";
    s.category = "nn";
    s.doc = "Mean over all spatial dims: [N, C, D1, ...] -> [N, C, 1, ...].";
    s.inputNames = {"x"};
    s.minInputs = s.maxInputs = 1;
    s.outputNames = {"y"};
    s.dtypes = ops::kFloatTypes;
    s.infer = globalAvgPoolInfer;
    r.add(std::move(s));
  }
  {
    OpSchema s;
    s.name = "global_max_pool";
    s.category = "nn";
    s.doc = "Max over all spatial dims: [N, C, D1, ...] -> [N, C, 1, ...].";
    s.inputNames = {"x"};
    s.minInputs = s.maxInputs = 1;
    s.outputNames = {"y"};
    s.dtypes = kMaxPoolTypes;
    s.infer = globalMaxPoolInfer;
    r.add(std::move(s));
  }
}

}  // namespace sy
