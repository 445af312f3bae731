// Shape and data-movement ops: reshape, transpose, concat, split, slice, gather,
// squeeze, unsqueeze, expand, flatten, pad, tile, shape, range, constant,
// constant_of_shape, identity and resize.
//
// Schemas only (arity, attributes, dtypes, inference): the kernels are the
// SDK's portable kernels (sdk/kernels, Note [one kernel library] in
// core/src/portable_kernels.cpp).
// `constant` keeps a core kernel (OpSchema::kernel): it is not a kernel of the
// portable library (constants are values of the ABI view).

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ops/op_util.h"

namespace sy {
namespace {

using ops::checkDType;
using ops::normalizeAxes;
using ops::normalizeAxis;
using ops::tensorToInts;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
/// Largest rank built from a non-constant shape tensor's static length.
constexpr int64_t kMaxRank = 4096;

// ---------------------------------------------------------------------------
// Small helpers

template <typename... Args>
Status opError(std::string_view op, Args&&... args) {
  return invalidArgument("op '", op, "': ", std::forward<Args>(args)...);
}

template <typename... Args>
Status opOutOfRange(std::string_view op, Args&&... args) {
  return outOfRange("op '", op, "': ", std::forward<Args>(args)...);
}

std::string inputLabel(const OpSchema& s, size_t i) {
  return i < s.inputNames.size() ? s.inputNames[i] : "input " + std::to_string(i);
}

bool checkedMul(int64_t a, int64_t b, int64_t& out) { return !__builtin_mul_overflow(a, b, &out); }
bool checkedAdd(int64_t a, int64_t b, int64_t& out) { return !__builtin_add_overflow(a, b, &out); }

std::vector<Dim> toDims(const Shape& s) {
  std::vector<Dim> d;
  d.reserve(s.size());
  for (int64_t v : s) d.emplace_back(v);
  return d;
}

/// A tensor type of `len` unknown dims (len < 0: unknown rank).
Result<Type> unknownDimsType(std::string_view op, DType dtype, int64_t len) {
  if (len < 0) return Type::tensorUnranked(dtype);
  if (len > kMaxRank) return opError(op, "output rank ", len, " is larger than the supported maximum ", kMaxRank);
  return Type::tensor(dtype, std::vector<Dim>(static_cast<size_t>(len)));
}

/// Checks that input `i` is a 1-D tensor with one of `allowed` dtypes. Returns its
/// length when known (from the constant or the static type), else -1.
Result<int64_t> vectorInput(const InferContext& ctx, size_t i, const std::vector<DType>& allowed) {
  const Type& t = ctx.inputType(i);
  SY_RETURN_IF_ERROR(checkDType(ctx.schema(), i, t.dtype(), allowed));
  if (t.rankKnown() && t.rank() != 1)
    return opError(ctx.schema().name, inputLabel(ctx.schema(), i), " must be a 1-D tensor, got ", t.toString());
  if (const Tensor* c = ctx.constantInput(i)) return c->numel();
  if (t.rankKnown() && t.dim(0).isStatic()) return t.dim(0).value();
  return -1;
}

/// Error unless input `i` is rank 0 (a scalar).
Status scalarInput(const InferContext& ctx, size_t i) {
  const Type& t = ctx.inputType(i);
  if (t.rankKnown() && t.rank() != 0)
    return opError(ctx.schema().name, inputLabel(ctx.schema(), i), " must be a scalar (rank 0), got ",
                   t.toString());
  return Status::OK();
}

OpSchema makeSchema(std::string name, std::string doc, std::vector<std::string> inputs, int minIn, int maxIn,
                    std::vector<std::string> outputs = {"output"}, int minOut = 1, int maxOut = 1) {
  OpSchema s;
  s.name = std::move(name);
  s.category = "shape";
  s.doc = std::move(doc);
  s.inputNames = std::move(inputs);
  s.minInputs = minIn;
  s.maxInputs = maxIn;
  s.outputNames = std::move(outputs);
  s.minOutputs = minOut;
  s.maxOutputs = maxOut;
  s.dtypes = ops::kAnyTypes;
  return s;
}

AttrSpec attr(std::string name, AttrKind kind, std::optional<Attribute> def, bool required, std::string doc) {
  AttrSpec a;
  a.name = std::move(name);
  a.kind = kind;
  a.defaultValue = std::move(def);
  a.required = required;
  a.doc = std::move(doc);
  return a;
}

// ---------------------------------------------------------------------------
// reshape

Result<std::vector<Dim>> reshapeDims(std::string_view op, const Type& in, const std::vector<int64_t>& shape,
                                     bool allowZero) {
  std::vector<Dim> out(shape.size());
  int64_t inferIndex = -1;
  bool hasZero = false;
  std::vector<bool> copied(in.rankKnown() ? static_cast<size_t>(in.rank()) : 0, false);
  for (size_t i = 0; i < shape.size(); ++i) {
    const int64_t s = shape[i];
    if (s == -1) {
      if (inferIndex >= 0) return opError(op, "shape ", shapeToString(shape), " has more than one -1");
      inferIndex = static_cast<int64_t>(i);
    } else if (s < -1) {
      return opError(op, "shape ", shapeToString(shape), " has invalid value ", s, " at position ", i);
    } else if (s == 0 && !allowZero) {
      if (!in.rankKnown()) continue;  // unknown dim
      if (static_cast<int64_t>(i) >= in.rank())
        return opError(op, "shape ", shapeToString(shape), " has 0 (copy the input dim) at position ", i,
                       " but the input ", in.toString(), " has rank ", in.rank());
      out[i] = in.dim(static_cast<int64_t>(i));
      copied[i] = true;
    } else {
      hasZero = hasZero || s == 0;
      out[i] = Dim(s);
    }
  }
  if (hasZero && inferIndex >= 0)
    return opError(op, "shape ", shapeToString(shape), " has both 0 (with allowzero) and -1");
  if (!in.rankKnown()) return out;
  // Copied dims appear on both sides and cancel; compare the rest.
  int64_t inRest = 1, outRest = 1;
  bool inStatic = true;
  for (size_t j = 0; j < copied.size(); ++j) {
    if (copied[j]) continue;
    const Dim& d = in.dim(static_cast<int64_t>(j));
    if (!d.isStatic()) {
      inStatic = false;
      continue;
    }
    if (!checkedMul(inRest, d.value(), inRest))
      return opError(op, "input ", in.toString(), " has more elements than fit in 64 bits");
  }
  for (size_t i = 0; i < shape.size(); ++i) {
    if (static_cast<int64_t>(i) == inferIndex || (i < copied.size() && copied[i])) continue;
    if (!checkedMul(outRest, shape[i], outRest))
      return opError(op, "shape ", shapeToString(shape), " has more elements than fit in 64 bits");
  }
  if (inferIndex >= 0) {
    if (!inStatic) {
      out[static_cast<size_t>(inferIndex)] = Dim::unknown();
    } else if (outRest == 0 || inRest % outRest != 0) {
      return opError(op, "cannot reshape ", in.toString(), " to ", shapeToString(shape),
                     ": the -1 dim cannot be inferred");
    } else {
      out[static_cast<size_t>(inferIndex)] = Dim(inRest / outRest);
    }
  } else if (inStatic && inRest != outRest) {
    return opError(op, "cannot reshape ", in.toString(), " to ", shapeToString(shape),
                   ": the element counts differ");
  }
  return out;
}

Status inferReshape(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  const Type& in = ctx.inputType(0);
  SY_ASSIGN_OR_RETURN(int64_t len, vectorInput(ctx, 1, {DType::I64}));
  const int64_t allowZero = ctx.getInt("allowzero");
  if (allowZero != 0 && allowZero != 1) return opError(op, "allowzero must be 0 or 1, got ", allowZero);
  if (const Tensor* s = ctx.constantInput(1)) {
    SY_ASSIGN_OR_RETURN(std::vector<Dim> dims, reshapeDims(op, in, tensorToInts(*s), allowZero != 0));
    ctx.setOutputType(0, Type::tensor(in.dtype(), std::move(dims)));
    return Status::OK();
  }
  SY_ASSIGN_OR_RETURN(Type t, unknownDimsType(op, in.dtype(), len));
  ctx.setOutputType(0, std::move(t));
  return Status::OK();
}

// ---------------------------------------------------------------------------
// transpose

Result<std::vector<int64_t>> transposePerm(std::string_view op, const std::vector<int64_t>& perm, int64_t rank) {
  if (perm.empty()) {
    std::vector<int64_t> p(static_cast<size_t>(rank));
    for (int64_t i = 0; i < rank; ++i) p[static_cast<size_t>(i)] = rank - 1 - i;
    return p;
  }
  if (static_cast<int64_t>(perm.size()) != rank)
    return opError(op, "perm ", shapeToString(perm), " has ", perm.size(), " entries for an input of rank ", rank);
  auto p = normalizeAxes(perm, rank);
  if (!p.ok()) return p.status().withContext(detail::concat("op '", op, "': perm ", shapeToString(perm)));
  return p;
}

Status inferTranspose(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  const Type& in = ctx.inputType(0);
  const std::vector<int64_t>& perm = ctx.getInts("perm");
  if (!in.rankKnown()) {
    if (perm.empty()) {
      ctx.setOutputType(0, Type::tensorUnranked(in.dtype()));
      return Status::OK();
    }
    SY_RETURN_IF_ERROR(transposePerm(op, perm, static_cast<int64_t>(perm.size())).status());
    ctx.setOutputType(0, Type::tensor(in.dtype(), std::vector<Dim>(perm.size())));
    return Status::OK();
  }
  SY_ASSIGN_OR_RETURN(std::vector<int64_t> p, transposePerm(op, perm, in.rank()));
  std::vector<Dim> dims;
  for (int64_t a : p) dims.push_back(in.dim(a));
  ctx.setOutputType(0, Type::tensor(in.dtype(), std::move(dims)));
  return Status::OK();
}

// ---------------------------------------------------------------------------
// concat

Status inferConcat(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  const DType dtype = ctx.inputType(0).dtype();
  int64_t rank = -1;
  for (size_t i = 0; i < ctx.numInputs(); ++i) {
    const Type& t = ctx.inputType(i);
    if (t.dtype() != dtype)
      return opError(op, "input ", i, " has dtype ", dtypeName(t.dtype()), ", expected ", dtypeName(dtype),
                     " (the dtype of input 0)");
    if (!t.rankKnown()) continue;
    if (rank < 0) rank = t.rank();
    if (t.rank() != rank)
      return opError(op, "input ", i, " ", t.toString(), " has rank ", t.rank(), ", expected ", rank);
  }
  if (rank < 0) {
    ctx.setOutputType(0, Type::tensorUnranked(dtype));
    return Status::OK();
  }
  if (rank == 0) return opError(op, "cannot concatenate rank-0 tensors");
  auto axisR = normalizeAxis(ctx.getInt("axis"), rank);
  if (!axisR.ok()) return axisR.status().withContext(detail::concat("op '", op, "'"));
  const int64_t axis = *axisR;
  std::vector<Dim> out(static_cast<size_t>(rank));
  bool first = true, sumStatic = true;
  int64_t sum = 0;
  for (size_t i = 0; i < ctx.numInputs(); ++i) {
    const Type& t = ctx.inputType(i);
    if (!t.rankKnown()) {
      sumStatic = false;
      continue;
    }
    for (int64_t d = 0; d < rank; ++d) {
      const Dim& dim = t.dim(d);
      Dim& o = out[static_cast<size_t>(d)];
      if (d == axis) {
        if (!dim.isStatic()) sumStatic = false;
        else if (!checkedAdd(sum, dim.value(), sum))
          return opError(op, "concatenated dim ", axis, " overflows 64 bits");
        continue;
      }
      if (first) o = dim;
      else if (o.isStatic() && dim.isStatic() && o.value() != dim.value())
        return opError(op, "input ", i, " ", t.toString(), " has dim ", d, " = ", dim.value(), ", expected ",
                       o.value(), " (only dim ", axis, " may differ)");
      else if (!o.isStatic() && dim.isStatic())
        o = dim;
    }
    first = false;
  }
  if (sumStatic) out[static_cast<size_t>(axis)] = Dim(sum);
  else if (ctx.numInputs() == 1) out[static_cast<size_t>(axis)] = ctx.inputType(0).dim(axis);
  ctx.setOutputType(0, Type::tensor(dtype, std::move(out)));
  return Status::OK();
}

// ---------------------------------------------------------------------------
// split

/// Sizes of the outputs along the split dim of size `dim`.
Result<std::vector<int64_t>> splitSizes(std::string_view op, int64_t dim, size_t n, const Tensor* split) {
  if (split) {
    std::vector<int64_t> sizes = tensorToInts(*split);
    if (sizes.size() != n)
      return opError(op, "split ", shapeToString(sizes), " has ", sizes.size(), " entries for ", n, " outputs");
    int64_t sum = 0;
    for (int64_t s : sizes) {
      if (s < 0) return opError(op, "split ", shapeToString(sizes), " has a negative size");
      if (!checkedAdd(sum, s, sum)) return opError(op, "split ", shapeToString(sizes), " overflows 64 bits");
    }
    if (dim >= 0 && sum != dim)
      return opError(op, "split ", shapeToString(sizes), " sums to ", sum, " but the dim has size ", dim);
    return sizes;
  }
  const int64_t count = static_cast<int64_t>(n);
  const int64_t chunk = dim / count + (dim % count != 0 ? 1 : 0);
  const int64_t last = dim - chunk * (count - 1);
  if (last < 0)
    return opError(op, "cannot split a dim of size ", dim, " into ", n, " chunks of ", chunk,
                   " (the last chunk would be negative)");
  std::vector<int64_t> sizes(n, chunk);
  sizes.back() = last;
  return sizes;
}

Status inferSplit(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  const Type& in = ctx.inputType(0);
  const size_t n = ctx.numOutputs();
  const bool hasSplit = ctx.numInputs() > 1;
  int64_t splitLen = -1;
  if (hasSplit) {
    SY_ASSIGN_OR_RETURN(splitLen, vectorInput(ctx, 1, {DType::I64}));
    if (splitLen >= 0 && static_cast<size_t>(splitLen) != n)
      return opError(op, "split has ", splitLen, " entries for ", n, " outputs");
  }
  if (!in.rankKnown()) {
    for (size_t i = 0; i < n; ++i) ctx.setOutputType(i, Type::tensorUnranked(in.dtype()));
    return Status::OK();
  }
  auto axisR = normalizeAxis(ctx.getInt("axis"), in.rank());
  if (!axisR.ok()) return axisR.status().withContext(detail::concat("op '", op, "'"));
  if (in.rank() == 0) return opError(op, "cannot split a rank-0 tensor");
  const int64_t axis = *axisR;
  const Dim& d = in.dim(axis);
  std::vector<Dim> sizes(n);
  const Tensor* split = hasSplit ? ctx.constantInput(1) : nullptr;
  if (split || (!hasSplit && d.isStatic())) {
    SY_ASSIGN_OR_RETURN(std::vector<int64_t> s, splitSizes(op, d.isStatic() ? d.value() : -1, n, split));
    for (size_t i = 0; i < n; ++i) sizes[i] = Dim(s[i]);
  } else if (n == 1) {
    sizes[0] = d;
  }
  for (size_t i = 0; i < n; ++i) {
    std::vector<Dim> dims = in.dims();
    dims[static_cast<size_t>(axis)] = sizes[i];
    ctx.setOutputType(i, Type::tensor(in.dtype(), std::move(dims)));
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------
// slice

struct SliceSpec {
  std::vector<int64_t> axes, starts, ends, steps;
};

Result<SliceSpec> sliceSpec(std::string_view op, int64_t rank, const Tensor& starts, const Tensor& ends,
                            const Tensor* axes, const Tensor* steps) {
  SliceSpec s;
  s.starts = tensorToInts(starts);
  s.ends = tensorToInts(ends);
  const size_t n = s.starts.size();
  if (s.ends.size() != n) return opError(op, "starts has ", n, " entries but ends has ", s.ends.size());
  if (axes) {
    std::vector<int64_t> a = tensorToInts(*axes);
    if (a.size() != n) return opError(op, "starts has ", n, " entries but axes has ", a.size());
    auto norm = normalizeAxes(a, rank);
    if (!norm.ok()) return norm.status().withContext(detail::concat("op '", op, "': axes ", shapeToString(a)));
    s.axes = *norm;
  } else {
    if (static_cast<int64_t>(n) > rank)
      return opError(op, "starts has ", n, " entries but the input has rank ", rank);
    for (size_t i = 0; i < n; ++i) s.axes.push_back(static_cast<int64_t>(i));
  }
  if (steps) {
    s.steps = tensorToInts(*steps);
    if (s.steps.size() != n) return opError(op, "starts has ", n, " entries but steps has ", s.steps.size());
    for (int64_t st : s.steps)
      if (st == 0) return opError(op, "steps ", shapeToString(s.steps), " contains 0");
  } else {
    s.steps.assign(n, 1);
  }
  return s;
}

struct AxisSlice {
  int64_t start = 0, step = 1, count = 0;
};

/// ONNX Slice clamping for one axis of size `d`.
AxisSlice clampSlice(int64_t d, int64_t start, int64_t end, int64_t step) {
  AxisSlice r;
  r.step = step;
  if (d == 0) return r;
  if (start < 0) start += d;
  if (end < 0) end += d;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, d);
    end = std::clamp<int64_t>(end, 0, d);
    r.start = start;
    r.count = end > start ? (end - start - 1) / step + 1 : 0;
  } else {
    start = std::clamp<int64_t>(start, 0, d - 1);
    end = std::clamp<int64_t>(end, -1, d - 1);
    r.start = start;
    const uint64_t absStep = uint64_t{0} - static_cast<uint64_t>(step);
    r.count = start > end ? static_cast<int64_t>((static_cast<uint64_t>(start - end) - 1) / absStep + 1) : 0;
  }
  return r;
}

Status inferSlice(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  const Type& in = ctx.inputType(0);
  int64_t len = -1;
  for (size_t i = 1; i < ctx.numInputs(); ++i) {
    SY_ASSIGN_OR_RETURN(int64_t l, vectorInput(ctx, i, {DType::I32, DType::I64}));
    if (l >= 0 && len >= 0 && l != len)
      return opError(op, inputLabel(ctx.schema(), i), " has ", l, " entries, expected ", len, " (like starts)");
    if (l >= 0) len = l;
  }
  if (!in.rankKnown()) {
    ctx.setOutputType(0, Type::tensorUnranked(in.dtype()));
    return Status::OK();
  }
  const int64_t rank = in.rank();
  const Tensor* starts = ctx.constantInput(1);
  const Tensor* ends = ctx.constantInput(2);
  const bool hasAxes = ctx.numInputs() > 3, hasSteps = ctx.numInputs() > 4;
  const Tensor* axes = hasAxes ? ctx.constantInput(3) : nullptr;
  const Tensor* steps = hasSteps ? ctx.constantInput(4) : nullptr;
  std::vector<Dim> dims = in.dims();
  if (starts && ends && (!hasAxes || axes) && (!hasSteps || steps)) {
    SY_ASSIGN_OR_RETURN(SliceSpec s, sliceSpec(op, rank, *starts, *ends, axes, steps));
    const bool i32Ends = ctx.inputType(2).dtype() == DType::I32;
    for (size_t k = 0; k < s.axes.size(); ++k) {
      Dim& d = dims[static_cast<size_t>(s.axes[k])];
      if (d.isStatic()) {
        d = Dim(clampSlice(d.value(), s.starts[k], s.ends[k], s.steps[k]).count);
      } else {
        const bool whole = s.starts[k] == 0 && s.steps[k] == 1 &&
                           (s.ends[k] == kInt64Max || (i32Ends && s.ends[k] == kInt32Max));
        if (!whole) d = Dim::unknown();
      }
    }
  } else if (hasAxes && axes) {
    std::vector<int64_t> a = tensorToInts(*axes);
    auto norm = normalizeAxes(a, rank);
    if (!norm.ok()) return norm.status().withContext(detail::concat("op '", op, "': axes ", shapeToString(a)));
    for (int64_t ax : *norm) dims[static_cast<size_t>(ax)] = Dim::unknown();
  } else if (!hasAxes && len >= 0) {
    if (len > rank) return opError(op, "starts has ", len, " entries but the input has rank ", rank);
    for (int64_t ax = 0; ax < len; ++ax) dims[static_cast<size_t>(ax)] = Dim::unknown();
  } else {
    for (Dim& d : dims) d = Dim::unknown();
  }
  ctx.setOutputType(0, Type::tensor(in.dtype(), std::move(dims)));
  return Status::OK();
}

// ---------------------------------------------------------------------------
// gather

Status checkGatherIndices(std::string_view op, const Tensor& indices, int64_t n, int64_t axis) {
  for (int64_t j = 0; j < indices.numel(); ++j) {
    const int64_t v = indices.getInt(j);
    if (v < -n || v >= n)
      return opOutOfRange(op, "index ", v, " is out of range for axis ", axis, " of size ", n, " (valid: ", -n,
                          " to ", n - 1, ")");
  }
  return Status::OK();
}

Status inferGather(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  const Type& x = ctx.inputType(0);
  const Type& ind = ctx.inputType(1);
  SY_RETURN_IF_ERROR(checkDType(ctx.schema(), 1, ind.dtype(), {DType::I32, DType::I64}));
  if (!x.rankKnown() || !ind.rankKnown()) {
    ctx.setOutputType(0, Type::tensorUnranked(x.dtype()));
    return Status::OK();
  }
  if (x.rank() == 0) return opError(op, "data must have rank >= 1, got ", x.toString());
  auto axisR = normalizeAxis(ctx.getInt("axis"), x.rank());
  if (!axisR.ok()) return axisR.status().withContext(detail::concat("op '", op, "'"));
  const int64_t axis = *axisR;
  if (const Tensor* c = ctx.constantInput(1); c && x.dim(axis).isStatic())
    SY_RETURN_IF_ERROR(checkGatherIndices(op, *c, x.dim(axis).value(), axis));
  std::vector<Dim> dims(x.dims().begin(), x.dims().begin() + axis);
  dims.insert(dims.end(), ind.dims().begin(), ind.dims().end());
  dims.insert(dims.end(), x.dims().begin() + axis + 1, x.dims().end());
  ctx.setOutputType(0, Type::tensor(x.dtype(), std::move(dims)));
  return Status::OK();
}

// ---------------------------------------------------------------------------
// gather_elements / scatter_elements / gather_nd / scatter_nd
// (index ranges are checked by the kernel, which names the node)

Status checkReduction(InferContext& ctx) {
  const std::string& red = ctx.getString("reduction");
  if (red != "none" && red != "add" && red != "mul" && red != "max" && red != "min")
    return opError(ctx.schema().name, "reduction '", red, "' is not one of none, add, mul, max, min");
  if (red != "none" && ctx.inputType(0).dtype() == DType::Bool)
    return opError(ctx.schema().name, "reduction '", red, "' needs a numeric dtype, data is bool");
  return Status::OK();
}

Status inferGatherElements(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  const Type& x = ctx.inputType(0);
  const Type& ind = ctx.inputType(1);
  SY_RETURN_IF_ERROR(checkDType(ctx.schema(), 1, ind.dtype(), {DType::I32, DType::I64}));
  if (x.rankKnown()) {
    if (x.rank() == 0) return opError(op, "data must have rank >= 1, got ", x.toString());
    auto axisR = normalizeAxis(ctx.getInt("axis"), x.rank());
    if (!axisR.ok()) return axisR.status().withContext(detail::concat("op '", op, "'"));
    if (ind.rankKnown() && ind.rank() != x.rank())
      return opError(op, "indices ", ind.toString(), " must have the rank of data ", x.toString());
  }
  if (!ind.rankKnown()) {
    ctx.setOutputType(0, Type::tensorUnranked(x.dtype()));
    return Status::OK();
  }
  ctx.setOutputType(0, Type::tensor(x.dtype(), std::vector<Dim>(ind.dims().begin(), ind.dims().end())));
  return Status::OK();
}

Status inferScatterCommon(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  const Type& x = ctx.inputType(0);
  SY_RETURN_IF_ERROR(checkDType(ctx.schema(), 1, ctx.inputType(1).dtype(), {DType::I32, DType::I64}));
  if (ctx.inputType(2).dtype() != x.dtype())
    return opError(op, "updates ", ctx.inputType(2).toString(), " must have the dtype of data ", x.toString());
  SY_RETURN_IF_ERROR(checkReduction(ctx));
  ctx.setOutputType(0, x);
  return Status::OK();
}

Status inferScatterElements(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  const Type& x = ctx.inputType(0);
  if (x.rankKnown()) {
    if (x.rank() == 0) return opError(op, "data must have rank >= 1, got ", x.toString());
    auto axisR = normalizeAxis(ctx.getInt("axis"), x.rank());
    if (!axisR.ok()) return axisR.status().withContext(detail::concat("op '", op, "'"));
    for (int i : {1, 2})
      if (ctx.inputType(i).rankKnown() && ctx.inputType(i).rank() != x.rank())
        return opError(op, inputLabel(ctx.schema(), i), " ", ctx.inputType(i).toString(),
                       " must have the rank of data ", x.toString());
  }
  return inferScatterCommon(ctx);
}

Status inferGatherND(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  const Type& x = ctx.inputType(0);
  const Type& ind = ctx.inputType(1);
  SY_RETURN_IF_ERROR(checkDType(ctx.schema(), 1, ind.dtype(), {DType::I32, DType::I64}));
  const int64_t b = ctx.getInt("batch_dims");
  if (b < 0) return opError(op, "batch_dims must be >= 0, got ", b);
  if (!x.rankKnown() || !ind.rankKnown() || ind.rank() == 0 || !ind.dim(ind.rank() - 1).isStatic()) {
    if (ind.rankKnown() && ind.rank() == 0) return opError(op, "indices must have rank >= 1");
    ctx.setOutputType(0, Type::tensorUnranked(x.dtype()));
    return Status::OK();
  }
  const int64_t r = x.rank(), q = ind.rank(), last = ind.dim(q - 1).value();
  if (r == 0) return opError(op, "data must have rank >= 1, got ", x.toString());
  if (b >= std::min(r, q)) return opError(op, "batch_dims ", b, " must be less than the ranks of data and indices");
  if (last < 1 || last > r - b)
    return opError(op, "indices' last dim ", last, " must be in [1, ", r - b, "] for data ", x.toString());
  std::vector<Dim> dims(ind.dims().begin(), ind.dims().end() - 1);
  dims.insert(dims.end(), x.dims().begin() + b + last, x.dims().end());
  ctx.setOutputType(0, Type::tensor(x.dtype(), std::move(dims)));
  return Status::OK();
}

Status inferCumSum(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  const Type& x = ctx.inputType(0);
  const Type& axis = ctx.inputType(1);
  SY_RETURN_IF_ERROR(checkDType(ctx.schema(), 1, axis.dtype(), {DType::I32, DType::I64}));
  if (axis.rankKnown() && axis.rank() > 1) return opError(op, "axis must be a scalar or 1-D, got ", axis.toString());
  if (x.rankKnown()) {
    if (x.rank() == 0) return opError(op, "x must have rank >= 1, got ", x.toString());
    if (const Tensor* c = ctx.constantInput(1)) {
      if (c->numel() != 1) return opError(op, "axis must hold one value, got ", c->numel());
      auto axisR = normalizeAxis(c->getInt(0), x.rank());
      if (!axisR.ok()) return axisR.status().withContext(detail::concat("op '", op, "'"));
    }
  }
  ctx.setOutputType(0, x);
  return Status::OK();
}

Status inferScatterND(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  const Type& x = ctx.inputType(0);
  const Type& ind = ctx.inputType(1);
  if (x.rankKnown() && x.rank() == 0) return opError(op, "data must have rank >= 1, got ", x.toString());
  if (ind.rankKnown() && ind.rank() == 0) return opError(op, "indices must have rank >= 1");
  if (x.rankKnown() && ind.rankKnown() && ind.dim(ind.rank() - 1).isStatic()) {
    const int64_t last = ind.dim(ind.rank() - 1).value();
    if (last < 1 || last > x.rank())
      return opError(op, "indices' last dim ", last, " must be in [1, ", x.rank(), "] for data ", x.toString());
    const Type& u = ctx.inputType(2);
    if (u.rankKnown() && u.rank() != ind.rank() - 1 + x.rank() - last)
      return opError(op, "updates ", u.toString(), " must have rank ", ind.rank() - 1 + x.rank() - last);
  }
  return inferScatterCommon(ctx);
}

// ---------------------------------------------------------------------------
// squeeze / unsqueeze / flatten / identity

/// Output dims of squeeze; nullopt when even the rank is unknown.
Result<std::optional<std::vector<Dim>>> squeezeDims(std::string_view op, const Type& in,
                                                    const std::vector<int64_t>& axes) {
  if (!in.rankKnown()) return std::optional<std::vector<Dim>>();
  std::vector<Dim> out;
  if (axes.empty()) {
    for (const Dim& d : in.dims()) {
      if (!d.isStatic()) return std::optional<std::vector<Dim>>();  // may or may not be 1
      if (d.value() != 1) out.push_back(d);
    }
    return std::optional<std::vector<Dim>>(std::move(out));
  }
  auto norm = normalizeAxes(axes, in.rank());
  if (!norm.ok()) return norm.status().withContext(detail::concat("op '", op, "': axes ", shapeToString(axes)));
  for (int64_t a : *norm) {
    const Dim& d = in.dim(a);
    if (d.isStatic() && d.value() != 1)
      return opError(op, "cannot squeeze axis ", a, " of ", in.toString(), ": its size is ", d.value(), ", not 1");
  }
  for (int64_t i = 0; i < in.rank(); ++i)
    if (std::find(norm->begin(), norm->end(), i) == norm->end()) out.push_back(in.dim(i));
  return std::optional<std::vector<Dim>>(std::move(out));
}

/// The optional axes input of squeeze / unsqueeze (Note [run-time axes] in
/// reduction.cpp): checks it; sets `values` when it is a compile-time
/// constant, `length` to its static element count (-1 when unknown).
Status readAxesInput(InferContext& ctx, std::optional<std::vector<int64_t>>& values, int64_t& length) {
  const std::string& op = ctx.schema().name;
  const Type& a = ctx.inputType(1);
  if (a.dtype() != DType::I64 && a.dtype() != DType::I32)
    return opError(op, "axes must be i32 or i64, got ", dtypeName(a.dtype()));
  if (a.rankKnown() && a.rank() > 1) return opError(op, "axes must be 1-D, got ", a.toString());
  if (ctx.has("axes") && !ctx.getInts("axes").empty())
    return opError(op, "axes given both as attribute and as input");
  length = !a.rankKnown() ? -1 : a.rank() == 0 ? 1 : a.dim(0).isStatic() ? a.dim(0).value() : -1;
  if (const Tensor* t = ctx.constantInput(1)) {
    values = tensorToInts(*t);
    length = static_cast<int64_t>(values->size());
  }
  return Status::OK();
}

Status inferSqueeze(InferContext& ctx) {
  const Type& in = ctx.inputType(0);
  if (ctx.numInputs() >= 2) {
    std::optional<std::vector<int64_t>> axes;
    int64_t n = -1;
    SY_RETURN_IF_ERROR(readAxesInput(ctx, axes, n));
    if (!axes) {  // known when it runs: the rank follows from the axes' count
      if (in.rankKnown() && n > in.rank())
        return opError(ctx.schema().name, n, " axes for an input of rank ", in.rank());
      if (in.rankKnown() && n > 0)
        ctx.setOutputType(0, Type::tensor(in.dtype(), std::vector<Dim>(static_cast<size_t>(in.rank() - n))));
      else ctx.setOutputType(0, Type::tensorUnranked(in.dtype()));
      return Status::OK();
    }
    SY_ASSIGN_OR_RETURN(auto dims, squeezeDims(ctx.schema().name, in, *axes));
    ctx.setOutputType(0, dims ? Type::tensor(in.dtype(), std::move(*dims)) : Type::tensorUnranked(in.dtype()));
    return Status::OK();
  }
  SY_ASSIGN_OR_RETURN(auto dims, squeezeDims(ctx.schema().name, in, ctx.getInts("axes")));
  ctx.setOutputType(0, dims ? Type::tensor(in.dtype(), std::move(*dims)) : Type::tensorUnranked(in.dtype()));
  return Status::OK();
}

Result<std::vector<Dim>> unsqueezeDims(std::string_view op, const std::vector<Dim>& in,
                                       const std::vector<int64_t>& axes) {
  const int64_t outRank = static_cast<int64_t>(in.size() + axes.size());
  auto norm = normalizeAxes(axes, outRank);
  if (!norm.ok()) return norm.status().withContext(detail::concat("op '", op, "': axes ", shapeToString(axes)));
  std::vector<Dim> out;
  size_t next = 0;
  for (int64_t i = 0; i < outRank; ++i) {
    if (std::find(norm->begin(), norm->end(), i) != norm->end()) out.emplace_back(1);
    else out.push_back(in[next++]);
  }
  return out;
}

Status inferUnsqueeze(InferContext& ctx) {
  const Type& in = ctx.inputType(0);
  std::optional<std::vector<int64_t>> axes;
  if (ctx.numInputs() >= 2) {
    int64_t n = -1;
    SY_RETURN_IF_ERROR(readAxesInput(ctx, axes, n));
    if (!axes) {  // known when it runs: the rank follows from the axes' count
      if (in.rankKnown() && n >= 0)
        ctx.setOutputType(0, Type::tensor(in.dtype(), std::vector<Dim>(static_cast<size_t>(in.rank() + n))));
      else ctx.setOutputType(0, Type::tensorUnranked(in.dtype()));
      return Status::OK();
    }
  } else if (!ctx.has("axes")) {
    return opError(ctx.schema().name, "needs axes (the attribute or the input)");
  }
  if (!in.rankKnown()) {
    ctx.setOutputType(0, Type::tensorUnranked(in.dtype()));
    return Status::OK();
  }
  SY_ASSIGN_OR_RETURN(std::vector<Dim> dims,
                      unsqueezeDims(ctx.schema().name, in.dims(), axes ? *axes : ctx.getInts("axes")));
  ctx.setOutputType(0, Type::tensor(in.dtype(), std::move(dims)));
  return Status::OK();
}

Result<std::vector<Dim>> flattenDims(std::string_view op, const Type& in, int64_t axis) {
  if (!in.rankKnown()) return std::vector<Dim>(2);
  const int64_t r = in.rank();
  if (axis < -r || axis > r)
    return opError(op, "axis ", axis, " is out of range for rank ", r, " (valid: ", -r, " to ", r, ")");
  if (axis < 0) axis += r;
  auto part = [&](int64_t b, int64_t e) -> Result<Dim> {
    if (e - b == 1) return in.dim(b);
    int64_t p = 1;
    for (int64_t i = b; i < e; ++i) {
      if (!in.dim(i).isStatic()) return Dim::unknown();
      if (!checkedMul(p, in.dim(i).value(), p)) return opError(op, in.toString(), " has too many elements");
    }
    return Dim(p);
  };
  SY_ASSIGN_OR_RETURN(Dim a, part(0, axis));
  SY_ASSIGN_OR_RETURN(Dim b, part(axis, r));
  return std::vector<Dim>{a, b};
}

Status inferFlatten(InferContext& ctx) {
  const Type& in = ctx.inputType(0);
  SY_ASSIGN_OR_RETURN(std::vector<Dim> dims, flattenDims(ctx.schema().name, in, ctx.getInt("axis")));
  ctx.setOutputType(0, Type::tensor(in.dtype(), std::move(dims)));
  return Status::OK();
}

Status inferIdentity(InferContext& ctx) {
  ctx.setOutputType(0, ctx.inputType(0));
  return Status::OK();
}

// ---------------------------------------------------------------------------
// expand

Result<std::vector<int64_t>> expandShape(std::string_view op, const Tensor& shape) {
  std::vector<int64_t> s = tensorToInts(shape);
  for (int64_t v : s)
    if (v < 0) return opError(op, "shape ", shapeToString(s), " has a negative value");
  return s;
}

Status inferExpand(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  const Type& x = ctx.inputType(0);
  SY_ASSIGN_OR_RETURN(int64_t len, vectorInput(ctx, 1, {DType::I64}));
  if (const Tensor* c = ctx.constantInput(1)) {
    SY_ASSIGN_OR_RETURN(std::vector<int64_t> s, expandShape(op, *c));
    auto t = ops::broadcastTypes(x, Type::tensor(x.dtype(), toDims(s)), x.dtype());
    if (!t.ok()) return t.status().withContext(detail::concat("op '", op, "'"));
    Type out = *t;
    if (out.isScalar()) out = Type::tensor(x.dtype(), {});
    ctx.setOutputType(0, std::move(out));
    return Status::OK();
  }
  if (!x.rankKnown() || len < 0) {
    ctx.setOutputType(0, Type::tensorUnranked(x.dtype()));
    return Status::OK();
  }
  if (len > kMaxRank) return opError(op, "shape has ", len, " entries, more than the supported maximum ", kMaxRank);
  const int64_t rank = std::max(x.rank(), len);
  std::vector<Dim> dims(static_cast<size_t>(rank));
  for (int64_t i = 0; i < x.rank(); ++i) {
    const Dim& d = x.dim(i);
    if (d.isStatic() && d.value() != 1) dims[static_cast<size_t>(rank - x.rank() + i)] = d;
  }
  ctx.setOutputType(0, Type::tensor(x.dtype(), std::move(dims)));
  return Status::OK();
}

// ---------------------------------------------------------------------------
// pad

enum class PadMode { Constant, Reflect, Edge };

Result<PadMode> padMode(std::string_view op, const std::string& mode) {
  if (mode == "constant") return PadMode::Constant;
  if (mode == "reflect") return PadMode::Reflect;
  if (mode == "edge") return PadMode::Edge;
  return opError(op, "unknown mode '", mode, "' (expected constant, reflect or edge)");
}

/// One axis of a pad: negative pads crop first, then the kept region of size
/// `kept` (starting at `cropBegin`) is padded by `padBegin` and `padEnd`.
struct PadAxis {
  int64_t cropBegin = 0, kept = 0, padBegin = 0, padEnd = 0, out = 0;
};

Result<PadAxis> padAxis(std::string_view op, PadMode mode, int64_t axis, int64_t d, int64_t begin, int64_t end) {
  PadAxis p;
  if (begin < -d || end < -d)
    return opError(op, "pads ", begin, ", ", end, " on axis ", axis, " remove more than its size ", d);
  p.cropBegin = begin < 0 ? -begin : 0;
  const int64_t cropEnd = end < 0 ? -end : 0;
  p.kept = d - p.cropBegin - cropEnd;
  if (p.kept < 0)
    return opError(op, "pads ", begin, ", ", end, " on axis ", axis, " remove more than its size ", d);
  p.padBegin = std::max<int64_t>(begin, 0);
  p.padEnd = std::max<int64_t>(end, 0);
  if (!checkedAdd(p.kept, p.padBegin, p.out) || !checkedAdd(p.out, p.padEnd, p.out))
    return opError(op, "pads ", begin, ", ", end, " on axis ", axis, " overflow 64 bits");
  if (mode == PadMode::Reflect && (p.padBegin > 0 || p.padEnd > 0) &&
      (p.padBegin >= p.kept || p.padEnd >= p.kept))
    return opError(op, "reflect pads ", begin, ", ", end, " on axis ", axis,
                   " must be smaller than the (cropped) size ", p.kept);
  if (mode == PadMode::Edge && p.kept == 0 && p.out > 0)
    return opError(op, "edge padding of axis ", axis, " which has no elements");
  return p;
}

Result<std::vector<int64_t>> padValues(std::string_view op, const Tensor& pads, int64_t rank) {
  std::vector<int64_t> p = tensorToInts(pads);
  if (static_cast<int64_t>(p.size()) != 2 * rank)
    return opError(op, "pads ", shapeToString(p), " has ", p.size(), " entries, expected ", 2 * rank,
                   " (2 * rank)");
  return p;
}

Status inferPad(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  const Type& x = ctx.inputType(0);
  SY_ASSIGN_OR_RETURN(PadMode mode, padMode(op, ctx.getString("mode")));
  SY_ASSIGN_OR_RETURN(int64_t len, vectorInput(ctx, 1, {DType::I64}));
  if (ctx.numInputs() > 2) {
    const Type& cv = ctx.inputType(2);
    if (cv.dtype() != x.dtype())
      return opError(op, "constant_value has dtype ", dtypeName(cv.dtype()), ", expected ", dtypeName(x.dtype()));
    const bool ok = !cv.rankKnown() || cv.rank() == 0 ||
                    (cv.rank() == 1 && (!cv.dim(0).isStatic() || cv.dim(0).value() == 1));
    if (!ok) return opError(op, "constant_value must be a scalar, got ", cv.toString());
  }
  if (!x.rankKnown()) {
    ctx.setOutputType(0, Type::tensorUnranked(x.dtype()));
    return Status::OK();
  }
  const int64_t r = x.rank();
  if (len >= 0 && len != 2 * r)
    return opError(op, "pads has ", len, " entries, expected ", 2 * r, " (2 * rank)");
  std::vector<Dim> dims(static_cast<size_t>(r));
  if (const Tensor* c = ctx.constantInput(1)) {
    SY_ASSIGN_OR_RETURN(std::vector<int64_t> pads, padValues(op, *c, r));
    for (int64_t i = 0; i < r; ++i) {
      const int64_t b = pads[static_cast<size_t>(i)], e = pads[static_cast<size_t>(i + r)];
      const Dim& d = x.dim(i);
      if (d.isStatic()) {
        SY_ASSIGN_OR_RETURN(PadAxis p, padAxis(op, mode, i, d.value(), b, e));
        dims[static_cast<size_t>(i)] = Dim(p.out);
      } else if (b == 0 && e == 0) {
        dims[static_cast<size_t>(i)] = d;
      }
    }
  }
  ctx.setOutputType(0, Type::tensor(x.dtype(), std::move(dims)));
  return Status::OK();
}

// ---------------------------------------------------------------------------
// tile

Result<std::vector<int64_t>> tileRepeats(std::string_view op, const Tensor& repeats, int64_t rank) {
  std::vector<int64_t> reps = tensorToInts(repeats);
  if (static_cast<int64_t>(reps.size()) != rank)
    return opError(op, "repeats ", shapeToString(reps), " has ", reps.size(), " entries for an input of rank ", rank);
  for (int64_t v : reps)
    if (v < 0) return opError(op, "repeats ", shapeToString(reps), " has a negative value");
  return reps;
}

Status inferTile(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  const Type& x = ctx.inputType(0);
  SY_ASSIGN_OR_RETURN(int64_t len, vectorInput(ctx, 1, {DType::I64}));
  if (!x.rankKnown()) {
    SY_ASSIGN_OR_RETURN(Type t, unknownDimsType(op, x.dtype(), len));
    ctx.setOutputType(0, std::move(t));
    return Status::OK();
  }
  const int64_t r = x.rank();
  if (len >= 0 && len != r) return opError(op, "repeats has ", len, " entries for an input of rank ", r);
  std::vector<Dim> dims(static_cast<size_t>(r));
  if (const Tensor* c = ctx.constantInput(1)) {
    SY_ASSIGN_OR_RETURN(std::vector<int64_t> reps, tileRepeats(op, *c, r));
    for (int64_t i = 0; i < r; ++i) {
      const Dim& d = x.dim(i);
      const int64_t rep = reps[static_cast<size_t>(i)];
      Dim& o = dims[static_cast<size_t>(i)];
      if (d.isStatic()) {
        int64_t v;
        if (!checkedMul(d.value(), rep, v))
          return resourceExhausted("op '", op, "': dim ", i, " of size ", d.value(), " repeated ", rep,
                                   " times overflows 64 bits");
        o = Dim(v);
      } else if (rep == 1) {
        o = d;
      } else if (rep == 0) {
        o = Dim(0);
      }
    }
  }
  ctx.setOutputType(0, Type::tensor(x.dtype(), std::move(dims)));
  return Status::OK();
}

// ---------------------------------------------------------------------------
// shape

std::pair<int64_t, int64_t> shapeBounds(const AttrReader& ctx, int64_t rank) {
  auto clampIndex = [rank](int64_t v) {
    if (v < 0) v = v < -rank ? 0 : v + rank;
    return std::min(v, rank);
  };
  const int64_t start = clampIndex(ctx.getInt("start"));
  const int64_t end = ctx.has("end") ? clampIndex(ctx.getInt("end")) : rank;
  return {start, std::max(end, start)};
}

Status inferShape(InferContext& ctx) {
  const Type& x = ctx.inputType(0);
  if (!x.rankKnown()) {
    ctx.setOutputType(0, Type::tensor(DType::I64, {Dim::unknown()}));
    return Status::OK();
  }
  const auto [start, end] = shapeBounds(ctx, x.rank());
  ctx.setOutputType(0, Type::tensor(DType::I64, {Dim(end - start)}));
  return Status::OK();
}

// ---------------------------------------------------------------------------
// range

Result<int64_t> rangeCount(std::string_view op, const Tensor& start, const Tensor& limit, const Tensor& delta) {
  const DType dt = start.dtype();
  if (start.numel() != 1 || limit.numel() != 1 || delta.numel() != 1 || limit.dtype() != dt || delta.dtype() != dt)
    return opError(op, "start, limit and delta must be scalars of one dtype, got ", start.typeString(), ", ",
                   limit.typeString(), ", ", delta.typeString());
  const double maxCount = static_cast<double>(kMaxTensorBytes / dtypeSize(dt));
  double count;
  if (isFloat(dt)) {
    // In the input precision, as ONNX defines it.
    const float s = static_cast<float>(start.getDouble(0)), l = static_cast<float>(limit.getDouble(0)),
                d = static_cast<float>(delta.getDouble(0));
    if (d == 0.0f) return opError(op, "delta is 0");
    const float q = std::ceil((l - s) / d);
    if (std::isnan(q)) return opError(op, "start ", s, ", limit ", l, ", delta ", d, " give no element count");
    count = static_cast<double>(q);
    if (count > maxCount)
      return resourceExhausted("op '", op, "': start ", s, ", limit ", l, ", delta ", d, " give ", count,
                               " elements, more than the limit of ", maxCount);
  } else {
    const int64_t s = start.getInt(0), l = limit.getInt(0), d = delta.getInt(0);
    if (d == 0) return opError(op, "delta is 0");
    __extension__ typedef __int128 i128;
    const i128 diff = static_cast<i128>(l) - static_cast<i128>(s);
    i128 q = diff / d;
    if (diff % d != 0 && ((diff > 0) == (d > 0))) q += 1;
    count = static_cast<double>(q);
    if (count > maxCount)
      return resourceExhausted("op '", op, "': start ", s, ", limit ", l, ", delta ", d, " give ", count,
                               " elements, more than the limit of ", maxCount);
    if (q <= 0) return int64_t{0};
    return static_cast<int64_t>(q);
  }
  return count <= 0 ? int64_t{0} : static_cast<int64_t>(count);
}

Status inferRange(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  const DType dt = ctx.inputType(0).dtype();
  SY_RETURN_IF_ERROR(checkDType(ctx.schema(), 0, dt, {DType::F32, DType::I32, DType::I64}));
  for (size_t i = 0; i < 3; ++i) {
    if (ctx.inputType(i).dtype() != dt)
      return opError(op, inputLabel(ctx.schema(), i), " has dtype ", dtypeName(ctx.inputType(i).dtype()),
                     ", expected ", dtypeName(dt), " (the dtype of start)");
    SY_RETURN_IF_ERROR(scalarInput(ctx, i));
  }
  Dim len;
  if (ctx.constantInput(0) && ctx.constantInput(1) && ctx.constantInput(2)) {
    SY_ASSIGN_OR_RETURN(int64_t n, rangeCount(op, *ctx.constantInput(0), *ctx.constantInput(1), *ctx.constantInput(2)));
    len = Dim(n);
  }
  ctx.setOutputType(0, Type::tensor(dt, {len}));
  return Status::OK();
}

Status inferGridSample(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  const Type& x = ctx.inputType(0);
  const Type& g = ctx.inputType(1);
  SY_RETURN_IF_ERROR(checkDType(ctx.schema(), 0, x.dtype(), ctx.schema().dtypes));
  if (g.dtype() != x.dtype()) return opError(op, "grid is ", dtypeName(g.dtype()), " but x is ", dtypeName(x.dtype()));
  const std::string& mode = ctx.getString("mode");
  if (mode != "bilinear" && mode != "nearest" && mode != "bicubic")
    return opError(op, "mode '", mode, "' is not bilinear, nearest or bicubic");
  const std::string& pad = ctx.getString("padding_mode");
  if (pad != "zeros" && pad != "border" && pad != "reflection")
    return opError(op, "padding_mode '", pad, "' is not zeros, border or reflection");
  const int64_t ac = ctx.getInt("align_corners");
  if (ac != 0 && ac != 1) return opError(op, "align_corners must be 0 or 1, got ", ac);
  if (x.rankKnown() && x.rank() != 4) return opError(op, "x must be 4-D [N, C, H, W], got ", x.toString());
  if (g.rankKnown() && g.rank() != 4) return opError(op, "grid must be 4-D [N, H_out, W_out, 2], got ", g.toString());
  if (g.rankKnown() && g.dim(3).isStatic() && g.dim(3).value() != 2)
    return opError(op, "grid's last dim must be 2, got ", g.toString());
  std::vector<Dim> out(4);
  if (x.rankKnown()) {
    out[0] = x.dim(0);
    out[1] = x.dim(1);
  }
  if (g.rankKnown()) {
    if (!x.rankKnown() || !out[0].isStatic()) out[0] = g.dim(0);
    else if (g.dim(0).isStatic() && g.dim(0).value() != out[0].value())
      return opError(op, "grid's batch ", g.dim(0).value(), " differs from x's ", out[0].value());
    out[2] = g.dim(1);
    out[3] = g.dim(2);
  }
  ctx.setOutputType(0, Type::tensor(x.dtype(), std::move(out)));
  return Status::OK();
}

// ---------------------------------------------------------------------------
// constant / constant_of_shape

Status inferConstant(InferContext& ctx) {
  const Tensor* v = ctx.getTensor("value");
  if (!v || !v->valid()) return opError(ctx.schema().name, "attribute 'value' is not a valid tensor");
  ctx.setOutputType(0, typeOf(*v));
  return Status::OK();
}

Status kernelConstant(KernelContext& ctx) {
  const Tensor* v = ctx.getTensor("value");
  if (!v || !v->valid()) return opError(ctx.schema().name, "attribute 'value' is not a valid tensor");
  ctx.setOutput(0, *v);
  return Status::OK();
}

Result<Tensor> fillValue(std::string_view op, const AttrReader& ctx) {
  const Tensor* v = ctx.getTensor("value");
  if (!v || !v->valid()) return opError(op, "attribute 'value' is not a valid tensor");
  if (v->numel() != 1) return opError(op, "attribute 'value' must have exactly one element, got ", v->typeString());
  return *v;
}

Result<Shape> constantShape(std::string_view op, const Tensor& shape) {
  Shape s = tensorToInts(shape);
  for (int64_t v : s)
    if (v < 0) return opError(op, "shape ", shapeToString(s), " has a negative value");
  return s;
}

Status inferConstantOfShape(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  SY_ASSIGN_OR_RETURN(Tensor value, fillValue(op, ctx));
  SY_ASSIGN_OR_RETURN(int64_t len, vectorInput(ctx, 0, {DType::I64}));
  if (const Tensor* c = ctx.constantInput(0)) {
    SY_ASSIGN_OR_RETURN(Shape s, constantShape(op, *c));
    ctx.setOutputType(0, Type::tensor(value.dtype(), toDims(s)));
    return Status::OK();
  }
  SY_ASSIGN_OR_RETURN(Type t, unknownDimsType(op, value.dtype(), len));
  ctx.setOutputType(0, std::move(t));
  return Status::OK();
}

// ---------------------------------------------------------------------------
// resize

enum class Ctm { HalfPixel, PytorchHalfPixel, Asymmetric, AlignCorners, TfHalfPixelForNn, TfCropAndResize };
enum class NearestMode { RoundPreferFloor, RoundPreferCeil, Floor, Ceil };

struct ResizeConfig {
  bool linear = false;
  Ctm ctm = Ctm::HalfPixel;
  NearestMode nearest = NearestMode::RoundPreferFloor;
};

Result<ResizeConfig> resizeConfig(std::string_view op, const AttrReader& ctx, DType dtype) {
  ResizeConfig c;
  const std::string& mode = ctx.getString("mode");
  if (mode == "linear" || mode == "cubic") c.linear = true;  // both interpolate: float only
  else if (mode != "nearest") return opError(op, "unknown mode '", mode, "' (expected nearest, linear or cubic)");
  if (c.linear && !isFloat(dtype))
    return opError(op, mode, " mode needs a float input, got ", dtypeName(dtype));
  if (ctx.getInt("exclude_outside") != 0 && ctx.getInt("exclude_outside") != 1)
    return opError(op, "exclude_outside must be 0 or 1, got ", ctx.getInt("exclude_outside"));
  const std::string& ctm = ctx.getString("coordinate_transformation_mode");
  if (ctm == "half_pixel") c.ctm = Ctm::HalfPixel;
  else if (ctm == "pytorch_half_pixel") c.ctm = Ctm::PytorchHalfPixel;
  else if (ctm == "asymmetric") c.ctm = Ctm::Asymmetric;
  else if (ctm == "align_corners") c.ctm = Ctm::AlignCorners;
  else if (ctm == "tf_half_pixel_for_nn") c.ctm = Ctm::TfHalfPixelForNn;
  else if (ctm == "tf_crop_and_resize") c.ctm = Ctm::TfCropAndResize;
  else
    return opError(op, "unknown coordinate_transformation_mode '", ctm,
                   "' (expected half_pixel, pytorch_half_pixel, asymmetric, align_corners, tf_half_pixel_for_nn or "
                   "tf_crop_and_resize)");
  if (c.ctm == Ctm::TfCropAndResize && dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16)
    return opError(op, "tf_crop_and_resize needs a float input, got ", dtypeName(dtype));
  const std::string& nm = ctx.getString("nearest_mode");
  if (nm == "round_prefer_floor") c.nearest = NearestMode::RoundPreferFloor;
  else if (nm == "round_prefer_ceil") c.nearest = NearestMode::RoundPreferCeil;
  else if (nm == "floor") c.nearest = NearestMode::Floor;
  else if (nm == "ceil") c.nearest = NearestMode::Ceil;
  else
    return opError(op, "unknown nearest_mode '", nm, "' (expected round_prefer_floor, round_prefer_ceil, floor or ceil)");
  return c;
}

/// Output size of one dim (-1 when `d` is unknown) and the scale used by the
/// coordinate transformation.
struct ResizeAxis {
  int64_t out = -1;
  double scale = 1;
};

Result<ResizeAxis> resizeAxis(std::string_view op, int64_t axis, int64_t d, const Tensor& param) {
  ResizeAxis a;
  if (param.dtype() == DType::I64) {
    a.out = param.getInt(axis);
    if (a.out < 0) return opError(op, "sizes[", axis, "] is negative (", a.out, ")");
    if (d == 0 && a.out > 0) return opError(op, "cannot resize axis ", axis, " of size 0 to ", a.out);
    a.scale = d > 0 ? static_cast<double>(a.out) / static_cast<double>(d) : 1.0;
    return a;
  }
  a.scale = param.getDouble(axis);
  if (!(a.scale > 0) || !std::isfinite(a.scale))
    return opError(op, "scales[", axis, "] must be a positive finite number, got ", a.scale);
  if (d < 0) return a;
  const double o = std::floor(static_cast<double>(d) * a.scale);
  if (o > static_cast<double>(int64_t{1} << 62))
    return resourceExhausted("op '", op, "': axis ", axis, " of size ", d, " scaled by ", a.scale, " is too large");
  a.out = static_cast<int64_t>(o);
  return a;
}

Status checkResizeParam(InferContext& ctx, const Type& x) {
  const std::string& op = ctx.schema().name;
  SY_ASSIGN_OR_RETURN(int64_t len, vectorInput(ctx, 1, {DType::F32, DType::I64}));
  if (x.rankKnown() && len >= 0 && len != x.rank())
    return opError(op, ctx.inputType(1).dtype() == DType::I64 ? "sizes" : "scales", " has ", len,
                   " entries for an input of rank ", x.rank());
  return Status::OK();
}

Status inferResize(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  const Type& x = ctx.inputType(0);
  SY_RETURN_IF_ERROR(resizeConfig(op, ctx, x.dtype()).status());
  SY_RETURN_IF_ERROR(checkResizeParam(ctx, x));
  if (!x.rankKnown()) {
    ctx.setOutputType(0, Type::tensorUnranked(x.dtype()));
    return Status::OK();
  }
  if (x.rank() == 0) return opError(op, "cannot resize a rank-0 tensor");
  if (ctx.numInputs() >= 3) {  // roi as an input (read when the op runs)
    const Type& r = ctx.inputType(2);
    if (!isFloat(r.dtype())) return opError(op, "roi must be a float tensor, got ", dtypeName(r.dtype()));
    if (r.rankKnown() && r.rank() != 1) return opError(op, "roi must be 1-D, got ", r.toString());
    if (!ctx.getFloats("roi").empty()) return opError(op, "roi given both as attribute and as input");
    if (r.rankKnown() && r.dim(0).isStatic() && r.dim(0).value() != 2 * x.rank())
      return opError(op, "roi has ", r.dim(0).value(), " entries, expected 2 * rank = ", 2 * x.rank());
  } else if (ctx.getString("coordinate_transformation_mode") == "tf_crop_and_resize" &&
             ctx.getFloats("roi").size() != 2 * static_cast<size_t>(x.rank())) {
    return opError(op, "tf_crop_and_resize needs roi with 2 * rank = ", 2 * x.rank(), " entries, got ",
                   ctx.getFloats("roi").size());
  }
  std::vector<Dim> dims(static_cast<size_t>(x.rank()));
  if (const Tensor* p = ctx.constantInput(1)) {
    for (int64_t i = 0; i < x.rank(); ++i) {
      const Dim& d = x.dim(i);
      SY_ASSIGN_OR_RETURN(ResizeAxis a, resizeAxis(op, i, d.isStatic() ? d.value() : -1, *p));
      if (a.out >= 0) dims[static_cast<size_t>(i)] = Dim(a.out);
      else if (a.scale == 1.0) dims[static_cast<size_t>(i)] = d;
    }
  }
  ctx.setOutputType(0, Type::tensor(x.dtype(), std::move(dims)));
  return Status::OK();
}

}  // namespace

// ---------------------------------------------------------------------------

void registerShapeOps(OpRegistry& r) {
  {
    OpSchema s = makeSchema("reshape",
                            "Gives the input a new shape with the same element count. In `shape`, 0 copies the "
                            "input dim (unless allowzero) and one -1 is inferred.",
                            {"data", "shape"}, 2, 2);
    s.attrs = {attr("allowzero", AttrKind::Int, Attribute(int64_t{0}), false,
                    "1: a 0 in shape means a dim of size 0 instead of copying the input dim")};
    s.infer = inferReshape;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("transpose", "Permutes the dims: output dim i is input dim perm[i].", {"data"}, 1, 1);
    s.attrs = {attr("perm", AttrKind::Ints, Attribute(std::vector<int64_t>{}), false,
                    "permutation of the dims; empty reverses them")};
    s.infer = inferTranspose;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("concat",
                            "Joins tensors of the same dtype and rank along `axis`; the other dims must match.",
                            {"inputs"}, 1, -1);
    s.attrs = {attr("axis", AttrKind::Int, std::nullopt, true, "dim to join along (negative counts from the end)")};
    s.infer = inferConcat;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("split",
                            "Splits the input along `axis` into one piece per output: sizes from `split`, else "
                            "equal chunks of ceil(dim / outputs) with a smaller last chunk.",
                            {"input", "split"}, 1, 2, {"outputs"}, 1, -1);
    s.attrs = {attr("axis", AttrKind::Int, Attribute(int64_t{0}), false, "dim to split")};
    s.infer = inferSplit;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("slice",
                            "ONNX Slice: takes elements start, start + step, ... before end along each listed axis; "
                            "negative indices count from the end and out-of-range ones are clamped.",
                            {"data", "starts", "ends", "axes", "steps"}, 3, 5);
    s.infer = inferSlice;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("gather",
                            "Picks entries of `data` along `axis` by `indices` (negative ones count from the end); "
                            "the output shape is data[:axis] + indices + data[axis+1:].",
                            {"data", "indices"}, 2, 2);
    s.attrs = {attr("axis", AttrKind::Int, Attribute(int64_t{0}), false, "dim to index")};
    s.infer = inferGather;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("squeeze", "Removes dims of size 1: the listed axes, or every one when none are listed.",
                            {"data", "axes"}, 1, 2);
    s.attrs = {attr("axes", AttrKind::Ints, Attribute(std::vector<int64_t>{}), false,
                    "dims to remove (each must have size 1); empty: all dims of size 1. The optional input `axes` "
                    "(i32/i64, 1-D, read when the op runs) replaces it")};
    s.infer = inferSqueeze;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("unsqueeze", "Inserts dims of size 1 at the given positions of the output.",
                            {"data", "axes"}, 1, 2);
    s.attrs = {attr("axes", AttrKind::Ints, std::nullopt, false,
                    "positions of the new dims in the output (negative counts from the end); required unless the "
                    "optional input `axes` (i32/i64, 1-D, read when the op runs) gives them")};
    s.infer = inferUnsqueeze;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("expand",
                            "Broadcasts the input against `shape` (bidirectionally, as NumPy): dims of size 1 are "
                            "repeated.",
                            {"input", "shape"}, 2, 2);
    s.infer = inferExpand;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("flatten",
                            "Reshapes to 2-D: the dims before `axis` make the first dim, the rest the second.",
                            {"input"}, 1, 1);
    s.attrs = {attr("axis", AttrKind::Int, Attribute(int64_t{1}), false, "split point, in [-rank, rank]")};
    s.infer = inferFlatten;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("pad",
                            "ONNX Pad: pads = [begin_0, ..., begin_n, end_0, ..., end_n]; negative pads crop. Fills "
                            "with constant_value (default 0), a reflection, or the edge value.",
                            {"data", "pads", "constant_value"}, 2, 3);
    s.attrs = {attr("mode", AttrKind::String, Attribute(std::string("constant")), false,
                    "constant, reflect or edge")};
    s.infer = inferPad;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("tile", "Repeats the input repeats[i] times along each dim i.", {"input", "repeats"}, 2, 2);
    s.infer = inferTile;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("shape",
                            "The input's shape as a 1-D i64 tensor, optionally only dims [start, end) (clamped, "
                            "negative counts from the end).",
                            {"data"}, 1, 1, {"shape"});
    s.attrs = {attr("start", AttrKind::Int, Attribute(int64_t{0}), false, "first dim"),
               attr("end", AttrKind::Int, std::nullopt, false, "one past the last dim; absent: the rank")};
    s.infer = inferShape;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("range",
                            "1-D tensor start, start + delta, ... up to (excluding) limit: max(ceil((limit - start) "
                            "/ delta), 0) elements.",
                            {"start", "limit", "delta"}, 3, 3);
    s.dtypes = {DType::F32, DType::I32, DType::I64};
    s.infer = inferRange;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("constant", "The tensor held by the `value` attribute.", {}, 0, 0);
    s.attrs = {attr("value", AttrKind::Tensor, std::nullopt, true, "the tensor to produce")};
    s.infer = inferConstant;
    s.kernel = kernelConstant;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("constant_of_shape",
                            "A tensor of the given shape filled with the one element of `value` (whose dtype is "
                            "the output dtype).",
                            {"shape"}, 1, 1);
    s.dtypes = {DType::I64};
    s.attrs = {attr("value", AttrKind::Tensor, Attribute(Tensor::scalarF32(0.0f)), false,
                    "one-element tensor giving the fill value and dtype; default f32 0")};
    s.infer = inferConstantOfShape;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("identity", "The input, unchanged.", {"input"}, 1, 1);
    s.infer = inferIdentity;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("resize",
                            "ONNX Resize: nearest or (multi)linear resampling to sizes, or to floor(dim * scale); "
                            "the second input is f32 scales or i64 sizes, one per dim.",
                            {"input", "scales_or_sizes", "roi"}, 2, 3);
    s.attrs = {attr("mode", AttrKind::String, Attribute(std::string("nearest")), false,
                    "nearest, linear or cubic (separable cubic convolution over the 4 nearest inputs per axis)"),
               attr("coordinate_transformation_mode", AttrKind::String, Attribute(std::string("half_pixel")), false,
                    "half_pixel, pytorch_half_pixel, asymmetric, align_corners, tf_half_pixel_for_nn or "
                    "tf_crop_and_resize (float inputs: samples the roi window)"),
               attr("nearest_mode", AttrKind::String, Attribute(std::string("round_prefer_floor")), false,
                    "round_prefer_floor, round_prefer_ceil, floor or ceil"),
               attr("cubic_coeff_a", AttrKind::Float, Attribute(-0.75), false,
                    "cubic mode: the coefficient a of the cubic convolution kernel"),
               attr("exclude_outside", AttrKind::Int, Attribute(int64_t{0}), false,
                    "cubic mode, 1: taps outside the input get weight 0 and the others are renormalised (0: "
                    "they read the edge)"),
               attr("roi", AttrKind::Floats, Attribute(std::vector<double>{}), false,
                    "tf_crop_and_resize: the window as starts then ends per dim, fractions of dim - 1 (the optional "
                    "input `roi`, a float 1-D tensor read when the op runs, replaces it)"),
               attr("extrapolation_value", AttrKind::Float, Attribute(0.0), false,
                    "tf_crop_and_resize: the value of outputs whose source lies outside the input")};
    s.infer = inferResize;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("grid_sample",
                            "ONNX GridSample (PyTorch's grid_sample): samples x [N, C, H, W] at grid [N, H_out, W_out, "
                            "2] (x, y in [-1, 1]) into [N, C, H_out, W_out]; Note [grid_sample coordinates] in "
                            "sdk/kernels/src/grid_sample.cpp.",
                            {"x", "grid"}, 2, 2);
    s.dtypes = ops::kFloatTypes;
    s.attrs = {attr("mode", AttrKind::String, Attribute(std::string("bilinear")), false, "bilinear, nearest or bicubic"),
               attr("padding_mode", AttrKind::String, Attribute(std::string("zeros")), false,
                    "outside the input: zeros, border (clamp) or reflection"),
               attr("align_corners", AttrKind::Int, Attribute(int64_t{0}), false,
                    "1: -1 and 1 are the centres of the corner pixels; 0: their outer edges")};
    s.infer = inferGridSample;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("cumsum",
                            "ONNX CumSum: running sums of `x` along `axis` (a run-time i32/i64 scalar or "
                            "one-element tensor; negative counts from the end); exclusive leaves out the element "
                            "itself, reverse sums from the end.",
                            {"x", "axis"}, 2, 2);
    s.dtypes = {DType::F32, DType::F16, DType::BF16, DType::F64, DType::I32, DType::I64, DType::U32, DType::U64};
    s.attrs = {attr("exclusive", AttrKind::Int, Attribute(int64_t{0}), false, "1: y[i] sums x[j] for j < i only"),
               attr("reverse", AttrKind::Int, Attribute(int64_t{0}), false, "1: sum from the end of the axis")};
    s.infer = inferCumSum;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("gather_elements",
                            "ONNX GatherElements: output[i][j][k] = data[index][j][k] for axis 0 (likewise for "
                            "other axes), index = indices[i][j][k] (negative ones count from the end); the output "
                            "has the shape of indices, whose rank is data's and whose other dims are no larger.",
                            {"data", "indices"}, 2, 2);
    s.attrs = {attr("axis", AttrKind::Int, Attribute(int64_t{0}), false, "dim to index")};
    s.infer = inferGatherElements;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("scatter_elements",
                            "ONNX ScatterElements: a copy of `data` where, for each position of `indices`, the "
                            "element that position addresses along `axis` becomes the update there (or is "
                            "combined with it by `reduction`), in index order.",
                            {"data", "indices", "updates"}, 3, 3);
    s.attrs = {attr("axis", AttrKind::Int, Attribute(int64_t{0}), false, "dim to index"),
               attr("reduction", AttrKind::String, Attribute(std::string("none")), false,
                    "none, add, mul, max or min")};
    s.infer = inferScatterElements;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("gather_nd",
                            "ONNX GatherND: each tuple in the last dim of `indices` addresses a slice of `data` "
                            "(after the first batch_dims dims, which data and indices share); the output shape "
                            "is indices[:-1] + data[batch_dims + indices[-1]:].",
                            {"data", "indices"}, 2, 2);
    s.attrs = {attr("batch_dims", AttrKind::Int, Attribute(int64_t{0}), false, "leading dims shared by both")};
    s.infer = inferGatherND;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("scatter_nd",
                            "ONNX ScatterND: a copy of `data` where the slice each index tuple (last dim of "
                            "`indices`) addresses becomes the matching slice of `updates` (or is combined with it "
                            "by `reduction`), in index order.",
                            {"data", "indices", "updates"}, 3, 3);
    s.attrs = {attr("reduction", AttrKind::String, Attribute(std::string("none")), false,
                    "none, add, mul, max or min")};
    s.infer = inferScatterND;
    r.add(std::move(s));
  }
}

}  // namespace sy
