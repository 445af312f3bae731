// Normalisation ops: batch_norm (inference mode), layer_norm, instance_norm.
//
// Schemas only (arity, attributes, dtypes, inference): the kernels are the
// SDK's portable kernels (sdk/kernels, Note [one kernel library] in
// core/src/portable_kernels.cpp).
// A mismatch the static types could not see (symbolic dims) is an error of the
// kernel at run time.
#include <cmath>
#include <string>
#include <vector>

#include "ops/op_util.h"

namespace sy {
namespace {

std::string opPrefix(const OpSchema& schema) { return "op '" + schema.name + "'"; }

/// ops::normalizeAxis, except that a rank-0 input accepts axis 0 or -1 (treated as
/// one element). (ops::normalizeAxis rejects every axis for rank 0.)
Result<int64_t> normalizeAxisOrScalar(int64_t axis, int64_t rank) {
  if (rank == 0 && (axis == 0 || axis == -1)) return int64_t{0};
  return ops::normalizeAxis(axis, rank);
}

std::string inputName(const OpSchema& schema, size_t i) {
  return i < schema.inputNames.size() ? schema.inputNames[i] : "input " + std::to_string(i);
}

/// x must be a float type; every other input must have x's dtype.
Status checkDTypes(const OpSchema& schema, const std::vector<Type>& types) {
  SY_RETURN_IF_ERROR(ops::checkDType(schema, 0, types[0].dtype(), schema.dtypes));
  for (size_t i = 1; i < types.size(); ++i)
    if (types[i].dtype() != types[0].dtype())
      return invalidArgument(opPrefix(schema), ": ", inputName(schema, i), " has dtype ",
                             dtypeName(types[i].dtype()), ", expected ", dtypeName(types[0].dtype()),
                             " (the dtype of x)");
  return Status::OK();
}

Result<double> readEpsilon(const AttrReader& ctx) {
  const double eps = ctx.getFloat("epsilon");
  if (!(eps >= 0) || std::isinf(eps))
    return invalidArgument(opPrefix(ctx.schema()), ": epsilon must be a finite number >= 0, got ", eps);
  return eps;
}

/// Shared by batch_norm and instance_norm: x is [N, C, ...] (rank >= 2) and
/// inputs 1.. are [C].
Status checkChannelParams(const OpSchema& schema, const std::vector<Type>& types) {
  SY_RETURN_IF_ERROR(checkDTypes(schema, types));
  const Type& x = types[0];
  if (x.rankKnown() && x.rank() < 2)
    return invalidArgument(opPrefix(schema), ": x must have rank >= 2 ([N, C, ...]), got ", x.toString());
  // The channel count, once some input fixes it to a number, and who fixed it.
  Dim channels = x.rankKnown() ? x.dim(1) : Dim::unknown();
  std::string channelsFrom = "x";
  for (size_t i = 1; i < types.size(); ++i) {
    const Type& p = types[i];
    if (!p.rankKnown()) continue;
    if (p.rank() != 1)
      return invalidArgument(opPrefix(schema), ": ", inputName(schema, i), " must have rank 1 ([C]), got ",
                             p.toString(), " for x ", x.toString());
    const Dim& c = p.dim(0);
    if (!c.isStatic()) continue;
    if (channels.isStatic() && channels.value() != c.value())
      return invalidArgument(opPrefix(schema), ": ", inputName(schema, i), " has ", c.value(),
                             " channels but ", channelsFrom, " has ", channels.value(), " (x is ", x.toString(),
                             ", ", inputName(schema, i), " is ", p.toString(), ")");
    if (!channels.isStatic()) {
      channels = c;
      channelsFrom = inputName(schema, i);
    }
  }
  return Status::OK();
}

/// layer_norm: scale (and bias) must broadcast unidirectionally to x.shape[axis:].
Status checkLayerNorm(const AttrReader& ctx, const std::vector<Type>& types) {
  const OpSchema& schema = ctx.schema();
  SY_RETURN_IF_ERROR(checkDTypes(schema, types));
  const Type& x = types[0];
  if (!x.rankKnown()) return Status::OK();
  auto axisR = normalizeAxisOrScalar(ctx.getInt("axis"), x.rank());
  if (!axisR.ok()) return axisR.status().withContext(opPrefix(schema));
  const std::vector<Dim> norm(x.dims().begin() + *axisR, x.dims().end());
  for (size_t i = 1; i < types.size(); ++i) {
    const Type& p = types[i];
    if (!p.rankKnown()) continue;
    const size_t pr = p.dims().size();
    bool ok = pr <= norm.size();
    for (size_t j = 0; ok && j < pr; ++j) {
      const Dim& pd = p.dims()[j];
      const Dim& nd = norm[norm.size() - pr + j];
      if (pd.isStatic() && nd.isStatic()) ok = pd.value() == 1 || pd.value() == nd.value();
      // A symbol or unknown may still match at run time.
    }
    if (!ok) {
      std::string normStr = "[";
      for (size_t j = 0; j < norm.size(); ++j) normStr += (j ? ", " : "") + norm[j].toString();
      normStr += "]";
      return invalidArgument(opPrefix(schema), ": ", inputName(schema, i), " ", p.toString(),
                             " does not broadcast to the normalised dims ", normStr, " of x ", x.toString(),
                             " (axis ", *axisR, ")");
    }
  }
  return Status::OK();
}

std::vector<Type> inputTypes(const InferContext& ctx) {
  std::vector<Type> types;
  for (size_t i = 0; i < ctx.numInputs(); ++i) types.push_back(ctx.inputType(i));
  return types;
}

AttrSpec epsilonAttr() {
  return AttrSpec{"epsilon", AttrKind::Float, Attribute(1e-5), false,
                  "Added to the variance before the square root (>= 0)."};
}

}  // namespace

void registerNormalizationOps(OpRegistry& r) {
  {
    OpSchema s;
    s.name = "batch_norm";
    s.category = "normalization";
    s.doc = "Inference-mode batch normalisation of x [N, C, ...] with per-channel parameters: "
            "y = scale * (x - mean) / sqrt(var + epsilon) + bias.";
    s.inputNames = {"x", "scale", "bias", "mean", "var"};
    s.minInputs = s.maxInputs = 5;
    s.outputNames = {"y"};
    s.attrs = {epsilonAttr()};
    s.dtypes = ops::kFloatTypes;
    s.infer = [](InferContext& ctx) {
      SY_RETURN_IF_ERROR(checkChannelParams(ctx.schema(), inputTypes(ctx)));
      SY_RETURN_IF_ERROR(readEpsilon(ctx).status());
      ctx.setOutputType(0, ctx.inputType(0));
      return Status::OK();
    };
    r.add(std::move(s));
  }
  {
    OpSchema s;
    s.name = "layer_norm";
    s.category = "normalization";
    s.doc = "Normalises x over dims [axis, rank) to zero mean and unit (population) variance, then "
            "multiplies by scale and adds the optional bias, both broadcast to x.shape[axis:].";
    s.inputNames = {"x", "scale", "bias"};
    s.minInputs = 2;
    s.maxInputs = 3;
    s.outputNames = {"y"};
    s.attrs = {AttrSpec{"axis", AttrKind::Int, Attribute(int64_t{-1}), false,
                        "First normalised dim (negative counts from the end)."},
               epsilonAttr()};
    s.dtypes = ops::kFloatTypes;
    s.infer = [](InferContext& ctx) {
      SY_RETURN_IF_ERROR(checkLayerNorm(ctx, inputTypes(ctx)));
      SY_RETURN_IF_ERROR(readEpsilon(ctx).status());
      ctx.setOutputType(0, ctx.inputType(0));
      return Status::OK();
    };
    r.add(std::move(s));
  }
  {
    OpSchema s;
    s.name = "instance_norm";
    s.category = "normalization";
    s.doc = "Normalises each (n, c) slice of x [N, C, ...] over its spatial dims, then applies the "
            "per-channel scale and bias: y = scale * (x - mean) / sqrt(var + epsilon) + bias.";
    s.inputNames = {"x", "scale", "bias"};
    s.minInputs = s.maxInputs = 3;
    s.outputNames = {"y"};
    s.attrs = {epsilonAttr()};
    s.dtypes = ops::kFloatTypes;
    s.infer = [](InferContext& ctx) {
      SY_RETURN_IF_ERROR(checkChannelParams(ctx.schema(), inputTypes(ctx)));
      SY_RETURN_IF_ERROR(readEpsilon(ctx).status());
      ctx.setOutputType(0, ctx.inputType(0));
      return Status::OK();
    };
    r.add(std::move(s));
  }
}

}  // namespace sy
