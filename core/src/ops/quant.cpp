// Quantization ops: quantize_linear, dequantize_linear,
// dynamic_quantize_linear, matmul_integer, conv_integer (ONNX QuantizeLinear,
// DequantizeLinear, DynamicQuantizeLinear, MatMulInteger, ConvInteger; the
// ONNX importer lowers QLinearMatMul and QLinearConv onto these).
//
// Schemas only (arity, attributes, dtypes, inference): the kernels are the
// SDK's portable kernels (sdk/kernels/src/quant.cpp). The shape rules of
// matmul_integer and conv_integer are matmul's and conv's: inference asks
// those schemas on f32 stand-ins of the operands.
#include <string>
#include <vector>

#include "ops/op_util.h"

namespace sy {
namespace {

using ops::opError;

using ops::attr;

const std::vector<DType> kQuantTypes = {DType::U8, DType::I8};

/// Checks a scale (and its zero point, input `zp` when present) against x:
/// one element (per tensor) or 1-D of x's dim `axis` (per axis).
Status checkScale(const InferContext& ctx, const Type& x, size_t scale, size_t zp) {
  const OpSchema& s = ctx.schema();
  const Type& sc = ctx.inputType(scale);
  if (!sc.rankKnown() || !x.rankKnown()) return Status::OK();
  if (sc.rank() > 1) return opError(s.name, s.inputNames[scale], " must be a scalar or 1-D, got ", sc.toString());
  if (zp < ctx.numInputs()) {
    const Type& z = ctx.inputType(zp);
    if (z.rankKnown() && z.rank() > 1) return opError(s.name, s.inputNames[zp], " must be a scalar or 1-D, got ", z.toString());
    if (z.rankKnown() && z.rank() == sc.rank() && sc.rank() == 1 && z.dim(0).isStatic() && sc.dim(0).isStatic() &&
        z.dim(0).value() != sc.dim(0).value())
      return opError(s.name, s.inputNames[zp], " ", z.toString(), " does not match ", s.inputNames[scale], " ", sc.toString());
  }
  if (sc.rank() == 1 && sc.dim(0).isStatic() && sc.dim(0).value() != 1) {
    SY_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(ctx.getInt("axis"), std::max<int64_t>(x.rank(), 1)));
    if (x.rank() == 0) return opError(s.name, "a per-axis scale needs x of rank >= 1");
    const Dim& d = x.dim(axis);
    if (d.isStatic() && d.value() != sc.dim(0).value())
      return opError(s.name, s.inputNames[scale], " ", sc.toString(), " must have x's dim ", axis, " (", d.value(),
                     ") elements for a per-axis scale");
  }
  return Status::OK();
}

Status inferQuantize(InferContext& ctx) {
  const OpSchema& s = ctx.schema();
  const Type& x = ctx.inputType(0);
  SY_RETURN_IF_ERROR(ops::checkDType(s, 0, x.dtype(), {DType::F32, DType::F16, DType::BF16, DType::I32}));
  SY_RETURN_IF_ERROR(ops::checkDType(s, 1, ctx.inputType(1).dtype(), ops::kFloatTypes));
  SY_RETURN_IF_ERROR(ops::checkDType(s, 2, ctx.inputType(2).dtype(), kQuantTypes));
  SY_RETURN_IF_ERROR(checkScale(ctx, x, 1, 2));
  ctx.setOutputType(0, x.withDType(ctx.inputType(2).dtype()));
  return Status::OK();
}

Status inferDequantize(InferContext& ctx) {
  const OpSchema& s = ctx.schema();
  const Type& x = ctx.inputType(0);
  SY_RETURN_IF_ERROR(ops::checkDType(s, 0, x.dtype(), {DType::U8, DType::I8, DType::I32}));
  SY_RETURN_IF_ERROR(ops::checkDType(s, 1, ctx.inputType(1).dtype(), ops::kFloatTypes));
  if (ctx.numInputs() > 2 && ctx.inputType(2).dtype() != x.dtype())
    return opError(s.name, "x_zero_point must have x's dtype ", dtypeName(x.dtype()), ", got ", ctx.inputType(2).toString());
  SY_RETURN_IF_ERROR(checkScale(ctx, x, 1, 2));
  ctx.setOutputType(0, x.withDType(ctx.inputType(1).dtype()));
  return Status::OK();
}

Status inferDynamicQuantize(InferContext& ctx) {
  const Type& x = ctx.inputType(0);
  SY_RETURN_IF_ERROR(ops::checkDType(ctx.schema(), 0, x.dtype(), {DType::F32}));
  ctx.setOutputType(0, x.withDType(DType::U8));
  ctx.setOutputType(1, Type::tensor(DType::F32, {}));
  ctx.setOutputType(2, Type::tensor(DType::U8, {}));
  return Status::OK();
}

/// matmul_integer / conv_integer: i8/u8 operands, zero points of the operand's
/// dtype; the shape comes from `asOp` (matmul, conv) on f32 stand-ins.
Status inferInteger(InferContext& ctx, const char* asOp) {
  const OpSchema& s = ctx.schema();
  for (size_t i = 0; i < ctx.numInputs(); ++i) {
    SY_RETURN_IF_ERROR(ops::checkDType(s, i, ctx.inputType(i).dtype(), kQuantTypes));
    if (i >= 2 && ctx.inputType(i).dtype() != ctx.inputType(i - 2).dtype())
      return opError(s.name, s.inputNames[i], " must have ", s.inputNames[i - 2], "'s dtype ",
                     dtypeName(ctx.inputType(i - 2).dtype()), ", got ", ctx.inputType(i).toString());
    const Type& t = ctx.inputType(i);
    if (i >= 2 && t.rankKnown() && t.rank() > (asOp == std::string("matmul") ? 2 : 1))
      return opError(s.name, s.inputNames[i], " has too many dims: ", t.toString());
  }
  const std::vector<Type> floats = {ctx.inputType(0).withDType(DType::F32), ctx.inputType(1).withDType(DType::F32)};
  auto r = inferOp(*OpRegistry::global().find(asOp), ctx.raw(), floats, {nullptr, nullptr}, 1);
  if (!r.ok()) return invalidArgument("op '", s.name, "': ", r.status().message());
  ctx.setOutputType(0, (*r)[0].withDType(DType::I32));
  return Status::OK();
}

OpSchema schema(std::string name, std::string doc, std::vector<std::string> ins, int minIn, std::vector<std::string> outs) {
  OpSchema s;
  s.name = std::move(name);
  s.category = "quant";
  s.doc = std::move(doc);
  s.inputNames = std::move(ins);
  s.minInputs = minIn;
  s.maxInputs = static_cast<int>(s.inputNames.size());
  s.outputNames = std::move(outs);
  s.minOutputs = s.maxOutputs = static_cast<int>(s.outputNames.size());
  return s;
}

}  // namespace

void registerQuantOps(OpRegistry& r) {
  {
    OpSchema s = schema("quantize_linear",
                        "ONNX QuantizeLinear: y = saturate(round_half_to_even(x / y_scale) + y_zero_point) in the zero "
                        "point's dtype (u8 or i8); the scale and zero point are one element (per tensor) or 1-D along "
                        "`axis` (per axis).",
                        {"x", "y_scale", "y_zero_point"}, 3, {"y"});
    s.dtypes = {DType::F32, DType::F16, DType::BF16};
    s.attrs = {attr("axis", AttrKind::Int, Attribute(int64_t{1}), "dim of a per-axis scale (negative counts from the end)")};
    s.infer = inferQuantize;
    r.add(std::move(s));
  }
  {
    OpSchema s = schema("dequantize_linear",
                        "ONNX DequantizeLinear: y = (x - x_zero_point) * x_scale in the scale's dtype; x is u8, i8 or "
                        "i32 (i32 without a zero point); per tensor or per axis as quantize_linear.",
                        {"x", "x_scale", "x_zero_point"}, 2, {"y"});
    s.dtypes = {DType::U8, DType::I8, DType::I32};
    s.attrs = {attr("axis", AttrKind::Int, Attribute(int64_t{1}), "dim of a per-axis scale (negative counts from the end)")};
    s.infer = inferDequantize;
    r.add(std::move(s));
  }
  {
    OpSchema s = schema("dynamic_quantize_linear",
                        "ONNX DynamicQuantizeLinear: u8 quantization of x with the range [min(0, min x), max(0, max x)] "
                        "mapped onto [0, 255]: y_scale = range / 255, y_zero_point = saturate(round(-min / y_scale)), "
                        "y = saturate(round(x / y_scale) + y_zero_point) (all zero when x is all zero).",
                        {"x"}, 1, {"y", "y_scale", "y_zero_point"});
    s.dtypes = {DType::F32};
    s.infer = inferDynamicQuantize;
    r.add(std::move(s));
  }
  {
    OpSchema s = schema("matmul_integer",
                        "ONNX MatMulInteger: (a - a_zero_point) @ (b - b_zero_point) in i32 with matmul's broadcasting; "
                        "a_zero_point is one element or one per row of a, b_zero_point one element or one per column of b.",
                        {"a", "b", "a_zero_point", "b_zero_point"}, 2, {"y"});
    s.dtypes = kQuantTypes;
    s.infer = [](InferContext& ctx) { return inferInteger(ctx, "matmul"); };
    r.add(std::move(s));
  }
  {
    OpSchema s = schema("conv_integer",
                        "ONNX ConvInteger: conv of (x - x_zero_point) and (w - w_zero_point) accumulated in i32 (padding "
                        "contributes zero); w_zero_point is one element or one per output channel; conv's attributes.",
                        {"x", "w", "x_zero_point", "w_zero_point"}, 2, {"y"});
    s.dtypes = kQuantTypes;
    s.attrs = {attr("auto_pad", AttrKind::String, Attribute(std::string("NOTSET")), "NOTSET, SAME_UPPER, SAME_LOWER or VALID (as conv)"),
               attr("dilations", AttrKind::Ints, Attribute(std::vector<int64_t>{}), "dilation per spatial dim; [] means all 1"),
               attr("group", AttrKind::Int, Attribute(int64_t{1}), "number of channel groups"),
               attr("kernel_shape", AttrKind::Ints, Attribute(std::vector<int64_t>{}), "kernel spatial dims; [] means take them from w"),
               attr("pads", AttrKind::Ints, Attribute(std::vector<int64_t>{}), "padding [x1_begin, ..., x1_end, ...]; [] means all 0"),
               attr("strides", AttrKind::Ints, Attribute(std::vector<int64_t>{}), "stride per spatial dim; [] means all 1")};
    s.infer = [](InferContext& ctx) { return inferInteger(ctx, "conv"); };
    r.add(std::move(s));
  }
}

}  // namespace sy
