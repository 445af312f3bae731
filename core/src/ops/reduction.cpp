// Reductions (reduce_sum/mean/max/min/prod), argmax/argmin, softmax/log_softmax.
//
// Schemas only (arity, attributes, dtypes, inference): the kernels are the
// SDK's portable kernels (sdk/kernels, Note [one kernel library] in
// core/src/portable_kernels.cpp).
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "ops/op_util.h"

namespace sy {
namespace {

// ---------------------------------------------------------------------------
// Shared helpers

std::string opPrefix(const OpSchema& schema) { return "op '" + schema.name + "'"; }

/// ops::normalizeAxis, except that a rank-0 input accepts axis 0 or -1 (treated as
/// one element). (ops::normalizeAxis rejects every axis for rank 0.)
Result<int64_t> normalizeAxisOrScalar(int64_t axis, int64_t rank) {
  if (rank == 0 && (axis == 0 || axis == -1)) return int64_t{0};
  return ops::normalizeAxis(axis, rank);
}

/// A 0/1 attribute (keepdims, select_last_index, ...).
Result<bool> readFlag(const AttrReader& ctx, std::string_view name) {
  const int64_t v = ctx.getInt(name);
  if (v != 0 && v != 1)
    return invalidArgument("op '", ctx.schema().name, "': attribute '", name, "' must be 0 or 1, got ", v);
  return v == 1;
}

/// Builds the output type from dims; a scalar input with a rank-0 result stays a scalar.
Type makeType(const Type& in, DType dtype, std::vector<Dim> dims) {
  if (in.isScalar() && dims.empty()) return Type::scalar(dtype);
  return Type::tensor(dtype, std::move(dims));
}

// ---------------------------------------------------------------------------
// reduce_*

enum class ReduceKind { Sum, Mean, Max, Min, Prod };

/// True when reducing zero elements has no defined value for `dtype`.
bool emptyReductionIsError(ReduceKind kind, DType dtype) {
  // Sum and prod have identities (0, 1); for floats mean is NaN, max -inf, min +inf.
  return kind != ReduceKind::Sum && kind != ReduceKind::Prod && !isFloat(dtype);
}

/// Resolved reduction: which axes, whether to keep them. `all` without a known
/// rank means every axis.
struct ReducePlan {
  bool identity = false;       ///< noop_with_empty_axes with empty axes
  bool all = false;            ///< axes empty: reduce every axis
  bool keepdims = true;
  std::vector<int64_t> axes;   ///< as written (possibly negative)
};

/// `axes` replaces the attribute when given (an axes input known at compile time).
Result<ReducePlan> readReducePlan(const AttrReader& ctx, const std::vector<int64_t>* axes = nullptr) {
  ReducePlan p;
  SY_ASSIGN_OR_RETURN(p.keepdims, readFlag(ctx, "keepdims"));
  SY_ASSIGN_OR_RETURN(const bool noop, readFlag(ctx, "noop_with_empty_axes"));
  p.axes = axes ? *axes : ctx.getInts("axes");
  if (p.axes.empty()) {
    if (noop) p.identity = true;
    else p.all = true;
  }
  return p;
}

/// Mask of reduced axes for a known rank, validating the axes.
Result<std::vector<bool>> reducedMask(const OpSchema& schema, const ReducePlan& p, int64_t rank) {
  std::vector<bool> mask(static_cast<size_t>(rank), p.all);
  if (p.all) return mask;
  auto axes = ops::normalizeAxes(p.axes, rank);
  if (!axes.ok()) return axes.status().withContext(opPrefix(schema));
  for (int64_t a : *axes) mask[static_cast<size_t>(a)] = true;
  return mask;
}

/// Note [run-time axes]: reduce_*, squeeze and unsqueeze take their axes from an
/// optional i32/i64 1-D input instead of the attribute (ONNX opset 13+ makes
/// them inputs). When that input is a compile-time constant, inference uses its
/// values as the attribute's; otherwise only what the axes cannot change is
/// known (the rank with keepdims, or from the axes' static length), every
/// other dim is unknown, and the kernel reads the axes when it runs.
Status checkAxesInput(InferContext& ctx) {
  const OpSchema& schema = ctx.schema();
  const Type& a = ctx.inputType(1);
  if (a.dtype() != DType::I64 && a.dtype() != DType::I32)
    return invalidArgument(opPrefix(schema), ": axes must be i32 or i64, got ", dtypeName(a.dtype()));
  if (a.rankKnown() && a.rank() > 1)
    return invalidArgument(opPrefix(schema), ": axes must be 1-D, got ", a.toString());
  if (!ctx.getInts("axes").empty())
    return invalidArgument(opPrefix(schema), ": axes given both as attribute and as input");
  return Status::OK();
}

/// The axes input's element count when static (-1 otherwise).
int64_t axesInputLength(const InferContext& ctx) {
  const Type& a = ctx.inputType(1);
  if (!a.rankKnown()) return -1;
  if (a.rank() == 0) return 1;
  return a.dim(0).isStatic() ? a.dim(0).value() : -1;
}

Status inferReduce(InferContext& ctx, ReduceKind kind) {
  const OpSchema& schema = ctx.schema();
  const Type& x = ctx.inputType(0);
  SY_RETURN_IF_ERROR(ops::checkDType(schema, 0, x.dtype(), schema.dtypes));
  std::vector<int64_t> constAxes;
  if (ctx.numInputs() >= 2) {
    SY_RETURN_IF_ERROR(checkAxesInput(ctx));
    const Tensor* t = ctx.constantInput(1);
    if (t) {
      constAxes = ops::tensorToInts(*t);
    } else {
      // Values known only at run time (Note [run-time axes]).
      SY_ASSIGN_OR_RETURN(const bool keepdims, readFlag(ctx, "keepdims"));
      SY_ASSIGN_OR_RETURN(const bool noop, readFlag(ctx, "noop_with_empty_axes"));
      const int64_t n = axesInputLength(ctx);
      if (!x.rankKnown()) {
        ctx.setOutputType(0, Type::tensorUnranked(x.dtype()));
      } else if (keepdims || (n == 0 && noop)) {
        std::vector<Dim> out;
        for (const Dim& d : x.dims()) out.push_back(d.isStatic() && d.value() == 1 ? d : Dim::unknown());
        if (n == 0 && noop) out = x.dims();
        ctx.setOutputType(0, makeType(x, x.dtype(), std::move(out)));
      } else if (n == 0) {
        ctx.setOutputType(0, Type::tensor(x.dtype(), {}));
      } else if (n > 0 && n <= x.rank()) {
        ctx.setOutputType(0, Type::tensor(x.dtype(), std::vector<Dim>(static_cast<size_t>(x.rank() - n))));
      } else if (n > x.rank()) {
        return invalidArgument(opPrefix(schema), ": ", n, " axes for an input of rank ", x.rank());
      } else {
        ctx.setOutputType(0, Type::tensorUnranked(x.dtype()));
      }
      return Status::OK();
    }
  }
  SY_ASSIGN_OR_RETURN(const ReducePlan p, readReducePlan(ctx, ctx.numInputs() >= 2 ? &constAxes : nullptr));
  if (p.identity) {
    ctx.setOutputType(0, x);
    return Status::OK();
  }
  if (!x.rankKnown()) {
    // Only literal duplicates can be detected without the rank.
    for (size_t i = 0; i < p.axes.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if (p.axes[i] == p.axes[j])
          return invalidArgument(opPrefix(schema), ": axis ", p.axes[i], " is repeated");
    if (p.all && !p.keepdims) ctx.setOutputType(0, Type::tensor(x.dtype(), {}));
    else ctx.setOutputType(0, Type::tensorUnranked(x.dtype()));
    return Status::OK();
  }
  SY_ASSIGN_OR_RETURN(const std::vector<bool> mask, reducedMask(schema, p, x.rank()));
  std::vector<Dim> out;
  bool reducedStaticZero = false;  // some reduced dim is known to be 0
  bool outputStaticNonEmpty = true;  // every kept dim is a known non-zero number
  for (int64_t d = 0; d < x.rank(); ++d) {
    const Dim& dim = x.dim(d);
    if (mask[static_cast<size_t>(d)]) {
      if (dim.isStatic() && dim.value() == 0) reducedStaticZero = true;
      if (p.keepdims) out.emplace_back(1);
    } else {
      if (!dim.isStatic() || dim.value() == 0) outputStaticNonEmpty = false;
      out.push_back(dim);
    }
  }
  if (reducedStaticZero && outputStaticNonEmpty && emptyReductionIsError(kind, x.dtype()))
    return invalidArgument(opPrefix(schema), ": cannot reduce zero elements of integer type ",
                           dtypeName(x.dtype()), " (input ", x.toString(), ")");
  ctx.setOutputType(0, makeType(x, x.dtype(), std::move(out)));
  return Status::OK();
}

std::vector<AttrSpec> reduceAttrs() {
  return {
      AttrSpec{"axes", AttrKind::Ints, Attribute(std::vector<int64_t>{}), false,
               "Axes to reduce (negative counts from the end; no repeats). Empty: all axes, "
               "unless noop_with_empty_axes is 1. The optional input `axes` (i32/i64, 1-D, read when the op "
               "runs) replaces it."},
      AttrSpec{"keepdims", AttrKind::Int, Attribute(int64_t{1}), false,
               "1: keep reduced axes as size-1 dims; 0: remove them."},
      AttrSpec{"noop_with_empty_axes", AttrKind::Int, Attribute(int64_t{0}), false,
               "1: empty axes means the identity instead of reducing every axis."},
  };
}

// ---------------------------------------------------------------------------
// argmax / argmin

Status inferArg(InferContext& ctx) {
  const OpSchema& schema = ctx.schema();
  const Type& x = ctx.inputType(0);
  SY_RETURN_IF_ERROR(ops::checkDType(schema, 0, x.dtype(), schema.dtypes));
  SY_ASSIGN_OR_RETURN(const bool keepdims, readFlag(ctx, "keepdims"));
  SY_ASSIGN_OR_RETURN(const bool selectLast, readFlag(ctx, "select_last_index"));
  (void)selectLast;
  if (!x.rankKnown()) {
    ctx.setOutputType(0, Type::tensorUnranked(DType::I64));
    return Status::OK();
  }
  auto axis = normalizeAxisOrScalar(ctx.getInt("axis"), x.rank());
  if (!axis.ok()) return axis.status().withContext(opPrefix(schema));
  std::vector<Dim> out;
  for (int64_t d = 0; d < x.rank(); ++d) {
    if (d == *axis) {
      const Dim& dim = x.dim(d);
      if (dim.isStatic() && dim.value() == 0)
        return invalidArgument(opPrefix(schema), ": axis ", d, " of ", x.toString(), " is empty");
      if (keepdims) out.emplace_back(1);
    } else {
      out.push_back(x.dim(d));
    }
  }
  ctx.setOutputType(0, makeType(x, DType::I64, std::move(out)));
  return Status::OK();
}

std::vector<AttrSpec> argAttrs() {
  return {
      AttrSpec{"axis", AttrKind::Int, Attribute(int64_t{0}), false, "Axis to search (negative counts from the end)."},
      AttrSpec{"keepdims", AttrKind::Int, Attribute(int64_t{1}), false,
               "1: keep the axis as a size-1 dim; 0: remove it."},
      AttrSpec{"select_last_index", AttrKind::Int, Attribute(int64_t{0}), false,
               "1: on ties return the last index instead of the first."},
  };
}

// ---------------------------------------------------------------------------
// softmax / log_softmax

Status inferSoftmax(InferContext& ctx) {
  const OpSchema& schema = ctx.schema();
  const Type& x = ctx.inputType(0);
  SY_RETURN_IF_ERROR(ops::checkDType(schema, 0, x.dtype(), schema.dtypes));
  if (x.rankKnown()) {
    auto axis = normalizeAxisOrScalar(ctx.getInt("axis"), x.rank());
    if (!axis.ok()) return axis.status().withContext(opPrefix(schema));
  }
  ctx.setOutputType(0, x);
  return Status::OK();
}

}  // namespace

void registerReductionOps(OpRegistry& r) {
  struct ReduceDef {
    const char* name;
    ReduceKind kind;
    const char* doc;
  };
  const ReduceDef reduces[] = {
      {"reduce_sum", ReduceKind::Sum, "Sum of x over the given axes; 0 over zero elements."},
      {"reduce_mean", ReduceKind::Mean,
       "Mean of x over the given axes; NaN over zero elements for floats (an error for ints, whose mean "
       "truncates toward zero)."},
      {"reduce_max", ReduceKind::Max,
       "Maximum of x over the given axes; NaN propagates; -inf over zero elements for floats (an error "
       "for ints)."},
      {"reduce_min", ReduceKind::Min,
       "Minimum of x over the given axes; NaN propagates; +inf over zero elements for floats (an error "
       "for ints)."},
      {"reduce_prod", ReduceKind::Prod, "Product of x over the given axes; 1 over zero elements."},
  };
  for (const ReduceDef& def : reduces) {
    const ReduceKind kind = def.kind;
    OpSchema s;
    s.name = def.name;
    s.category = "reduce";
    s.doc = def.doc;
    s.inputNames = {"x", "axes"};
    s.minInputs = 1;
    s.maxInputs = 2;
    s.outputNames = {"y"};
    s.attrs = reduceAttrs();
    s.dtypes = ops::kWideNumericTypes;
    s.infer = [kind](InferContext& ctx) { return inferReduce(ctx, kind); };
    r.add(std::move(s));
  }

  for (const bool isMax : {true, false}) {
    OpSchema s;
    s.name = isMax ? "argmax" : "argmin";
    s.category = "reduce";
    s.doc = isMax ? "Index (i64) of the largest element of x along axis; NaN counts as largest; first index on "
                    "ties unless select_last_index."
                  : "Index (i64) of the smallest element of x along axis; NaN counts as smallest; first index "
                    "on ties unless select_last_index.";
    s.inputNames = {"x"};
    s.minInputs = s.maxInputs = 1;
    s.outputNames = {"indices"};
    s.attrs = argAttrs();
    s.dtypes = ops::kWideNumericTypes;
    s.infer = inferArg;
    r.add(std::move(s));
  }

  for (const bool isLog : {false, true}) {
    OpSchema s;
    s.name = isLog ? "log_softmax" : "softmax";
    s.category = "reduce";
    s.doc = isLog ? "log(softmax(x)) along one axis, computed stably as x - max - log(sum(exp(x - max)))."
                  : "exp(x - max) / sum(exp(x - max)) along one axis (ONNX opset 13 semantics).";
    s.inputNames = {"x"};
    s.minInputs = s.maxInputs = 1;
    s.outputNames = {"y"};
    s.attrs = {AttrSpec{"axis", AttrKind::Int, Attribute(int64_t{-1}), false,
                        "Axis to normalise along (negative counts from the end)."}};
    s.dtypes = ops::kFloat64Types;
    s.infer = inferSoftmax;
    r.add(std::move(s));
  }
}

}  // namespace sy
