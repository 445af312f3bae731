// Elementwise ops: unary math, binary arithmetic and comparisons with NumPy
// broadcasting, logical ops, where, and cast.
//
// Schemas only: the kernels are the SDK's portable kernels
// (sdk/kernels/src/elementwise.cpp, Note [one kernel library] in
// core/src/portable_kernels.cpp), which implement these semantic choices
// (documented in the op docs as well):
// - NaN propagates through relu, clip (x), maximum and minimum (like numpy.maximum
//   and torch); comparisons with NaN follow IEEE (all false except not-equal).
// - Integer div truncates toward zero; INT_MIN / -1 wraps to INT_MIN.
// - Integer pow with a negative exponent gives 0, except base 1 (-> 1) and base
//   -1 (-> +-1 by parity); 0 to a negative power is therefore 0, not an error.
// - mod fmod=0 takes the divisor's sign (Python / numpy.mod), fmod=1 the
//   dividend's (C fmod); both are accepted for every numeric dtype.
// - Integer division or modulo by zero is an error.
// - clip: min > max gives max everywhere (ONNX); NaN bounds are rejected.
//   For integer dtypes the bounds are rounded inward (ceil(min), floor(max))
//   and clamped to the dtype's range.
// - silu(-inf) and gelu(-inf) give -0 (the limit) rather than -inf * 0 = NaN.

#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>
#include <optional>
#include <string>
#include <vector>

#include "ops/op_util.h"

namespace sy {
namespace {

using ops::checkDType;
using ops::kAllTypes;
using ops::kFloatTypes;
using ops::kIntTypes;
using ops::kNumericTypes;
using ops::kWideNumericTypes;
using ops::kFloat64Types;
const std::vector<DType> kBoolTypes = {DType::Bool};

// ---------------------------------------------------------------------------
// Inference helpers.

/// Output = input type (dtype and shape), after checking the dtype.
Status inferSameAsInput(InferContext& ctx) {
  const OpSchema& s = ctx.schema();
  SY_RETURN_IF_ERROR(checkDType(s, 0, ctx.inputType(0).dtype(), s.dtypes));
  ctx.setOutputType(0, ctx.inputType(0));
  return Status::OK();
}

Status checkSameDType(const OpSchema& s, const Type& a, const Type& b, size_t ia, size_t ib) {
  if (a.dtype() == b.dtype()) return Status::OK();
  return invalidArgument("op '", s.name, "': ", s.inputNames[ia], " has dtype ", dtypeName(a.dtype()), " but ",
                         s.inputNames[ib], " has dtype ", dtypeName(b.dtype()),
                         "; they must match (no implicit promotion)");
}

/// Broadcast inference for binary ops; `boolOut` selects a bool result.
InferFn binaryInfer(bool boolOut) {
  return [boolOut](InferContext& ctx) -> Status {
    const OpSchema& s = ctx.schema();
    const Type& a = ctx.inputType(0);
    const Type& b = ctx.inputType(1);
    SY_RETURN_IF_ERROR(checkDType(s, 0, a.dtype(), s.dtypes));
    SY_RETURN_IF_ERROR(checkSameDType(s, a, b, 0, 1));
    auto t = ops::broadcastTypes(a, b, boolOut ? DType::Bool : a.dtype());
    if (!t.ok()) return t.status().withContext("op '" + s.name + "'");
    ctx.setOutputType(0, *t);
    return Status::OK();
  };
}

// ---------------------------------------------------------------------------
// Schema builders.

OpSchema unarySchema(std::string name, std::string doc, std::vector<DType> dtypes,
                     std::vector<AttrSpec> attrs = {}, InferFn infer = inferSameAsInput) {
  OpSchema s;
  s.name = std::move(name);
  s.category = "unary";
  s.doc = std::move(doc);
  s.inputNames = {"x"};
  s.minInputs = s.maxInputs = 1;
  s.outputNames = {"y"};
  s.minOutputs = s.maxOutputs = 1;
  s.attrs = std::move(attrs);
  s.dtypes = std::move(dtypes);
  s.infer = std::move(infer);
  return s;
}

OpSchema binarySchema(std::string name, std::string doc, std::vector<DType> dtypes, bool boolOut,
                      std::vector<AttrSpec> attrs = {}, InferFn extraCheck = nullptr) {
  OpSchema s;
  s.name = std::move(name);
  s.category = "binary";
  s.doc = std::move(doc);
  s.inputNames = {"a", "b"};
  s.minInputs = s.maxInputs = 2;
  s.outputNames = {"y"};
  s.minOutputs = s.maxOutputs = 1;
  s.attrs = std::move(attrs);
  s.dtypes = std::move(dtypes);
  InferFn base = binaryInfer(boolOut);
  if (extraCheck) {
    s.infer = [base, extraCheck](InferContext& ctx) -> Status {
      SY_RETURN_IF_ERROR(extraCheck(ctx));
      return base(ctx);
    };
  } else {
    s.infer = base;
  }
  return s;
}

// ---------------------------------------------------------------------------
// Tables.

struct OpDoc {
  const char* name;
  const char* doc;
};

const OpDoc kFloatUnary[] = {
    {"exp", "Elementwise e^x."},
    {"log", "Elementwise natural logarithm (log 0 = -inf, negative x gives NaN)."},
    {"sqrt", "Elementwise square root (negative x gives NaN)."},
    {"rsqrt", "Elementwise reciprocal square root 1/sqrt(x)."},
    {"reciprocal", "Elementwise 1/x (1/0 = inf)."},
    {"sin", "Elementwise sine (radians)."},
    {"cos", "Elementwise cosine (radians)."},
    {"tan", "Elementwise tangent (radians)."},
    {"asin", "Elementwise arcsine in [-pi/2, pi/2]; |x| > 1 gives NaN."},
    {"acos", "Elementwise arccosine in [0, pi]; |x| > 1 gives NaN."},
    {"atan", "Elementwise arctangent in [-pi/2, pi/2]."},
    {"sinh", "Elementwise hyperbolic sine."},
    {"cosh", "Elementwise hyperbolic cosine."},
    {"asinh", "Elementwise inverse hyperbolic sine."},
    {"acosh", "Elementwise inverse hyperbolic cosine; x < 1 gives NaN."},
    {"atanh", "Elementwise inverse hyperbolic tangent; atanh(+-1) = +-inf, |x| > 1 gives NaN."},
    {"tanh", "Elementwise hyperbolic tangent."},
    {"sigmoid", "Elementwise logistic function 1/(1+e^-x), computed without overflow for large |x|."},
    {"erf", "Elementwise Gauss error function."},
    {"floor", "Elementwise largest integer not greater than x."},
    {"ceil", "Elementwise smallest integer not less than x."},
    {"round", "Elementwise rounding to the nearest integer, halves to even (like ONNX Round and numpy.round)."},
    {"silu", "Elementwise x * sigmoid(x) (SiLU / swish); silu(-inf) = -0."},
};

const OpDoc kNumericUnary[] = {
    {"neg", "Elementwise -x; integers wrap (neg of the minimum value is itself)."},
    {"abs", "Elementwise |x|; integers wrap (abs of the minimum value is itself)."},
    {"sign", "Elementwise sign: -1, 0 or 1 (NaN stays NaN)."},
    {"relu", "Elementwise max(x, 0); NaN propagates."},
};

const OpDoc kArith[] = {
    {"add", "Elementwise a + b with NumPy broadcasting; integers wrap on overflow."},
    {"sub", "Elementwise a - b with NumPy broadcasting; integers wrap on overflow."},
    {"mul", "Elementwise a * b with NumPy broadcasting; integers wrap on overflow."},
    {"div",
     "Elementwise a / b with NumPy broadcasting. Integer division truncates toward zero (C semantics), "
     "division by zero is an error, and MIN / -1 wraps to MIN."},
    {"pow",
     "Elementwise a^b with NumPy broadcasting. Integer pow is exact with wraparound; a negative exponent "
     "gives 0 unless the base is 1 (-> 1) or -1 (-> 1 or -1 by the exponent's parity)."},
    {"maximum", "Elementwise max(a, b) with NumPy broadcasting; NaN in either input propagates."},
    {"minimum", "Elementwise min(a, b) with NumPy broadcasting; NaN in either input propagates."},
};

struct Compare {
  const char* name;
  const char* doc;
  const std::vector<DType>* dtypes;
};

const Compare kCompare[] = {
    {"equal", "Elementwise a == b with NumPy broadcasting, as bool (NaN is not equal to anything).", &ops::kAnyTypes},
    {"less", "Elementwise a < b with NumPy broadcasting, as bool.", &kWideNumericTypes},
    {"less_equal", "Elementwise a <= b with NumPy broadcasting, as bool.", &kWideNumericTypes},
    {"greater", "Elementwise a > b with NumPy broadcasting, as bool.", &kWideNumericTypes},
    {"greater_equal", "Elementwise a >= b with NumPy broadcasting, as bool.", &kWideNumericTypes},
    {"logical_and", "Elementwise a AND b on bools with NumPy broadcasting.", &kBoolTypes},
    {"logical_or", "Elementwise a OR b on bools with NumPy broadcasting.", &kBoolTypes},
    {"logical_xor", "Elementwise a XOR b on bools with NumPy broadcasting.", &kBoolTypes},
};

// ---------------------------------------------------------------------------
// Individual ops with attributes.

void registerClip(OpRegistry& r) {
  const double inf = std::numeric_limits<double>::infinity();
  r.add(unarySchema(
      "clip",
      "Elementwise min(max(x, min), max), so min > max gives max (as in ONNX); NaN in x propagates. For "
      "integer dtypes the bounds are rounded inward and clamped to the dtype's range.",
      kWideNumericTypes,
      {AttrSpec{"min", AttrKind::Float, Attribute(-inf), false, "lower bound (default -inf)"},
       AttrSpec{"max", AttrKind::Float, Attribute(inf), false, "upper bound (default +inf)"}},
      [](InferContext& ctx) -> Status {
        if (std::isnan(ctx.getFloat("min")) || std::isnan(ctx.getFloat("max")))
          return invalidArgument("op 'clip': min and max must not be NaN");
        return inferSameAsInput(ctx);
      }));
}

void registerFloatUnaryWithAttrs(OpRegistry& r) {
  r.add(unarySchema(
      "leaky_relu", "Elementwise x if x >= 0, else alpha * x.", kFloat64Types,
      {AttrSpec{"alpha", AttrKind::Float, Attribute(0.01), false, "slope for negative x"}}));

  r.add(unarySchema(
      "gelu",
      "Elementwise GELU: approximate=\"none\" gives 0.5x(1+erf(x/sqrt 2)), approximate=\"tanh\" gives "
      "0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))).",
      kFloat64Types,
      {AttrSpec{"approximate", AttrKind::String, Attribute(std::string("none")), false,
                "\"none\" (exact, erf) or \"tanh\""}},
      [](InferContext& ctx) -> Status {
        const std::string& mode = ctx.getString("approximate");
        if (mode != "none" && mode != "tanh")
          return invalidArgument("op 'gelu': attribute 'approximate' must be \"none\" or \"tanh\", got \"", mode,
                                 "\"");
        return inferSameAsInput(ctx);
      }));
}

void registerBitShift(OpRegistry& r) {
  r.add(binarySchema(
      "bit_shift",
      "Elementwise a << b (direction \"left\") or a >> b (\"right\") on unsigned integers with NumPy "
      "broadcasting (ONNX BitShift); bits shifted out are lost, and a shift by the bit width or more gives 0.",
      {DType::U8, DType::U16, DType::U32, DType::U64}, false,
      {AttrSpec{"direction", AttrKind::String, Attribute(std::string("left")), false, "\"left\" or \"right\""}},
      [](InferContext& ctx) -> Status {
        const std::string& dir = ctx.getString("direction");
        if (dir != "left" && dir != "right")
          return invalidArgument("op 'bit_shift': attribute 'direction' must be \"left\" or \"right\", got \"", dir,
                                 "\"");
        return Status::OK();
      }));
}

void registerMod(OpRegistry& r) {
  r.add(binarySchema(
      "mod",
      "Elementwise remainder with NumPy broadcasting: fmod=0 takes the sign of the divisor (Python %, "
      "numpy.mod), fmod=1 the sign of the dividend (C fmod). Integer modulo by zero is an error.",
      kWideNumericTypes, false,
      {AttrSpec{"fmod", AttrKind::Int, Attribute(int64_t{0}), false,
                "0: result has the sign of the divisor; 1: sign of the dividend (C fmod)"}},
      [](InferContext& ctx) -> Status {
        const int64_t f = ctx.getInt("fmod");
        if (f != 0 && f != 1) return invalidArgument("op 'mod': attribute 'fmod' must be 0 or 1, got ", f);
        return Status::OK();
      }));
}

void registerWhere(OpRegistry& r) {
  OpSchema s;
  s.name = "where";
  s.category = "ternary";
  s.doc = "Elementwise condition ? x : y with three-way NumPy broadcasting; x and y must have the same dtype.";
  s.inputNames = {"condition", "x", "y"};
  s.minInputs = s.maxInputs = 3;
  s.outputNames = {"out"};
  s.minOutputs = s.maxOutputs = 1;
  s.dtypes = kBoolTypes;
  s.infer = [](InferContext& ctx) -> Status {
    const OpSchema& sc = ctx.schema();
    const Type& c = ctx.inputType(0);
    const Type& x = ctx.inputType(1);
    const Type& y = ctx.inputType(2);
    SY_RETURN_IF_ERROR(checkDType(sc, 0, c.dtype(), kBoolTypes));
    SY_RETURN_IF_ERROR(checkSameDType(sc, x, y, 1, 2));
    auto cx = ops::broadcastTypes(c, x, x.dtype());
    if (!cx.ok()) return cx.status().withContext("op 'where'");
    auto out = ops::broadcastTypes(*cx, y, x.dtype());
    if (!out.ok()) return out.status().withContext("op 'where'");
    ctx.setOutputType(0, *out);
    return Status::OK();
  };
  r.add(std::move(s));
}

void registerCast(OpRegistry& r) {
  r.add(unarySchema(
      "cast",
      "Converts x to the dtype named by 'to'. Float to integer truncates toward zero (NaN -> 0, out-of-range "
      "values saturate to int64 (u64 for u64) then wrap to the target width), integer narrowing wraps, and to bool is "
      "x != 0.",
      ops::kAnyTypes,
      {AttrSpec{"to", AttrKind::String, std::nullopt, true,
                "target dtype name: f32, f64, f16, bf16, i8, i16, i32, i64, u8, u16, u32, u64 or bool"}},
      [](InferContext& ctx) -> Status {
        const std::string& name = ctx.getString("to");
        const std::optional<DType> to = parseDType(name);
        if (!to)
          return invalidArgument("op 'cast': attribute 'to' is '", name,
                                 "', not a dtype (expected one of f32, f64, f16, bf16, i8, i16, i32, i64, u8, u16, u32, u64, bool)");
        ctx.setOutputType(0, ctx.inputType(0).withDType(*to));
        return Status::OK();
      }));
}

}  // namespace

void registerElementwiseOps(OpRegistry& r) {
  for (const OpDoc& u : kFloatUnary) r.add(unarySchema(u.name, u.doc, kFloat64Types));
  for (const OpDoc& u : kNumericUnary) r.add(unarySchema(u.name, u.doc, kWideNumericTypes));
  registerClip(r);
  registerFloatUnaryWithAttrs(r);
  r.add(unarySchema("logical_not", "Elementwise NOT of a bool tensor.", kBoolTypes));
  for (const OpDoc& op : kArith) r.add(binarySchema(op.name, op.doc, kWideNumericTypes, false));
  registerMod(r);
  registerBitShift(r);
  for (const Compare& op : kCompare) r.add(binarySchema(op.name, op.doc, *op.dtypes, true));
  registerWhere(r);
  registerCast(r);
}

}  // namespace sy
