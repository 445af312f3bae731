// Elementwise ops: unary math, binary arithmetic and comparisons with NumPy
// broadcasting, logical ops, where, and cast.
//
// The kernels are the reference oracle: plain loops that compute floating
// dtypes in double and integer dtypes in int64 (wrapping on overflow, done in
// uint64 so that no signed overflow ever happens), then store with the output
// tensor's conversion (round to nearest even for f16/bf16, wrap for ints).
//
// Semantic choices (documented in the op docs as well):
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
const std::vector<DType> kBoolTypes = {DType::Bool};

// ---------------------------------------------------------------------------
// Wrapping int64 arithmetic (no signed overflow).

int64_t wrapAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
int64_t wrapSub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
int64_t wrapMul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}
int64_t wrapNeg(int64_t a) { return static_cast<int64_t>(uint64_t{0} - static_cast<uint64_t>(a)); }

/// Truncating division; nullopt for division by zero.
std::optional<int64_t> intDiv(int64_t a, int64_t b) {
  if (b == 0) return std::nullopt;
  if (b == -1) return wrapNeg(a);  // INT64_MIN / -1 would be UB
  return a / b;
}

/// Remainder with the sign of the dividend (C fmod) or of the divisor (Python %).
std::optional<int64_t> intMod(int64_t a, int64_t b, bool cFmod) {
  if (b == 0) return std::nullopt;
  if (b == -1) return 0;  // INT64_MIN % -1 would be UB
  int64_t r = a % b;
  if (!cFmod && r != 0 && ((r < 0) != (b < 0))) r += b;  // opposite signs: cannot overflow
  return r;
}

int64_t intPow(int64_t base, int64_t exp) {
  if (exp < 0) {
    if (base == 1) return 1;
    if (base == -1) return (exp % 2 == 0) ? 1 : -1;
    return 0;
  }
  uint64_t result = 1;
  uint64_t b = static_cast<uint64_t>(base);
  uint64_t e = static_cast<uint64_t>(exp);
  while (e != 0) {
    if (e & 1) result *= b;
    b *= b;
    e >>= 1;
  }
  return static_cast<int64_t>(result);
}

double floatMod(double a, double b, bool cFmod) {
  double r = std::fmod(a, b);
  if (cFmod || std::isnan(r)) return r;
  if (r == 0) return std::copysign(0.0, b);
  if ((r < 0) != (b < 0)) r += b;
  return r;
}

// ---------------------------------------------------------------------------
// Scalar float functions.

double sigmoidD(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);  // x < 0 (or NaN, which propagates through e)
  return e / (1.0 + e);
}

double roundHalfEven(double x) {
  if (!std::isfinite(x)) return x;
  const double f = std::floor(x);
  const double diff = x - f;
  double r;
  if (diff < 0.5) r = f;
  else if (diff > 0.5) r = f + 1;
  else r = (std::fmod(f, 2.0) == 0) ? f : f + 1;
  return r == 0 ? std::copysign(0.0, x) : r;
}

double siluD(double x) {
  if (x == -std::numeric_limits<double>::infinity()) return -0.0;
  return x * sigmoidD(x);
}

double geluErf(double x) {
  if (x == -std::numeric_limits<double>::infinity()) return -0.0;
  return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
}

double geluTanh(double x) {
  if (x == -std::numeric_limits<double>::infinity()) return -0.0;
  const double k = std::sqrt(2.0 / std::numbers::pi);
  return 0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x)));
}

// ---------------------------------------------------------------------------
// Kernel loops.

/// Unary map: floats through `ff` in double, ints (and bool) through `fi` in int64.
template <typename FF, typename FI>
Status unaryLoop(KernelContext& ctx, DType outDType, FF ff, FI fi) {
  const Tensor& x = ctx.input(0);
  SY_ASSIGN_OR_RETURN(Tensor y, ctx.allocateOutput(0, outDType, x.shape()));
  if (isFloat(x.dtype())) {
    for (int64_t i = 0; i < x.numel(); ++i) y.setDouble(i, ff(x.getDouble(i)));
  } else {
    for (int64_t i = 0; i < x.numel(); ++i) y.setInt(i, fi(x.getInt(i)));
  }
  return Status::OK();
}

/// Binary map with broadcasting: floats through `ff(double, double) -> double`,
/// ints and bool through `fi(int64, int64) -> optional<int64>` (nullopt: division by zero).
template <typename FF, typename FI>
Status binaryLoop(KernelContext& ctx, DType outDType, FF ff, FI fi) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  SY_ASSIGN_OR_RETURN(Shape shape, ops::broadcastShapes(a.shape(), b.shape()));
  SY_ASSIGN_OR_RETURN(Tensor y, ctx.allocateOutput(0, outDType, shape));
  const ops::BroadcastIndexer ia(a.shape(), shape), ib(b.shape(), shape);
  if (isFloat(a.dtype())) {
    for (int64_t i = 0; i < y.numel(); ++i) y.setDouble(i, ff(a.getDouble(ia(i)), b.getDouble(ib(i))));
  } else {
    for (int64_t i = 0; i < y.numel(); ++i) {
      const std::optional<int64_t> v = fi(a.getInt(ia(i)), b.getInt(ib(i)));
      if (!v) return invalidArgument("op '", ctx.schema().name, "': integer division by zero");
      y.setInt(i, *v);
    }
  }
  return Status::OK();
}

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

OpSchema unarySchema(std::string name, std::string doc, std::vector<DType> dtypes, KernelFn kernel,
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
  s.kernel = std::move(kernel);
  return s;
}

OpSchema binarySchema(std::string name, std::string doc, std::vector<DType> dtypes, bool boolOut,
                      KernelFn kernel, std::vector<AttrSpec> attrs = {}, InferFn extraCheck = nullptr) {
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
  s.kernel = std::move(kernel);
  return s;
}

// ---------------------------------------------------------------------------
// Tables.

struct FloatUnary {
  const char* name;
  const char* doc;
  double (*fn)(double);
};

const FloatUnary kFloatUnary[] = {
    {"exp", "Elementwise e^x.", [](double x) { return std::exp(x); }},
    {"log", "Elementwise natural logarithm (log 0 = -inf, negative x gives NaN).",
     [](double x) { return std::log(x); }},
    {"sqrt", "Elementwise square root (negative x gives NaN).", [](double x) { return std::sqrt(x); }},
    {"rsqrt", "Elementwise reciprocal square root 1/sqrt(x).", [](double x) { return 1.0 / std::sqrt(x); }},
    {"reciprocal", "Elementwise 1/x (1/0 = inf).", [](double x) { return 1.0 / x; }},
    {"sin", "Elementwise sine (radians).", [](double x) { return std::sin(x); }},
    {"cos", "Elementwise cosine (radians).", [](double x) { return std::cos(x); }},
    {"tanh", "Elementwise hyperbolic tangent.", [](double x) { return std::tanh(x); }},
    {"sigmoid", "Elementwise logistic function 1/(1+e^-x), computed without overflow for large |x|.",
     sigmoidD},
    {"erf", "Elementwise Gauss error function.", [](double x) { return std::erf(x); }},
    {"floor", "Elementwise largest integer not greater than x.", [](double x) { return std::floor(x); }},
    {"ceil", "Elementwise smallest integer not less than x.", [](double x) { return std::ceil(x); }},
    {"round", "Elementwise rounding to the nearest integer, halves to even (like ONNX Round and numpy.round).",
     roundHalfEven},
    {"silu", "Elementwise x * sigmoid(x) (SiLU / swish); silu(-inf) = -0.", siluD},
};

struct NumericUnary {
  const char* name;
  const char* doc;
  double (*ff)(double);
  int64_t (*fi)(int64_t);
};

const NumericUnary kNumericUnary[] = {
    {"neg", "Elementwise -x; integers wrap (neg of the minimum value is itself).", [](double x) { return -x; },
     wrapNeg},
    {"abs", "Elementwise |x|; integers wrap (abs of the minimum value is itself).",
     [](double x) { return std::fabs(x); }, [](int64_t x) { return x < 0 ? wrapNeg(x) : x; }},
    {"sign", "Elementwise sign: -1, 0 or 1 (NaN stays NaN).",
     [](double x) { return std::isnan(x) ? x : (x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0)); },
     [](int64_t x) -> int64_t { return x > 0 ? 1 : (x < 0 ? -1 : 0); }},
    {"relu", "Elementwise max(x, 0); NaN propagates.", [](double x) { return std::isnan(x) ? x : (x > 0 ? x : 0.0); },
     [](int64_t x) -> int64_t { return x > 0 ? x : 0; }},
};

struct Arith {
  const char* name;
  const char* doc;
  double (*ff)(double, double);
  std::optional<int64_t> (*fi)(int64_t, int64_t);
};

const Arith kArith[] = {
    {"add", "Elementwise a + b with NumPy broadcasting; integers wrap on overflow.",
     [](double a, double b) { return a + b; },
     [](int64_t a, int64_t b) -> std::optional<int64_t> { return wrapAdd(a, b); }},
    {"sub", "Elementwise a - b with NumPy broadcasting; integers wrap on overflow.",
     [](double a, double b) { return a - b; },
     [](int64_t a, int64_t b) -> std::optional<int64_t> { return wrapSub(a, b); }},
    {"mul", "Elementwise a * b with NumPy broadcasting; integers wrap on overflow.",
     [](double a, double b) { return a * b; },
     [](int64_t a, int64_t b) -> std::optional<int64_t> { return wrapMul(a, b); }},
    {"div",
     "Elementwise a / b with NumPy broadcasting. Integer division truncates toward zero (C semantics), "
     "division by zero is an error, and MIN / -1 wraps to MIN.",
     [](double a, double b) { return a / b; }, intDiv},
    {"pow",
     "Elementwise a^b with NumPy broadcasting. Integer pow is exact with wraparound; a negative exponent "
     "gives 0 unless the base is 1 (-> 1) or -1 (-> 1 or -1 by the exponent's parity).",
     [](double a, double b) { return std::pow(a, b); },
     [](int64_t a, int64_t b) -> std::optional<int64_t> { return intPow(a, b); }},
    {"maximum", "Elementwise max(a, b) with NumPy broadcasting; NaN in either input propagates.",
     [](double a, double b) { return (std::isnan(a) || std::isnan(b)) ? std::nan("") : (a > b ? a : b); },
     [](int64_t a, int64_t b) -> std::optional<int64_t> { return a > b ? a : b; }},
    {"minimum", "Elementwise min(a, b) with NumPy broadcasting; NaN in either input propagates.",
     [](double a, double b) { return (std::isnan(a) || std::isnan(b)) ? std::nan("") : (a < b ? a : b); },
     [](int64_t a, int64_t b) -> std::optional<int64_t> { return a < b ? a : b; }},
};

struct Compare {
  const char* name;
  const char* doc;
  const std::vector<DType>* dtypes;
  bool (*ff)(double, double);
  bool (*fi)(int64_t, int64_t);
};

const Compare kCompare[] = {
    {"equal", "Elementwise a == b with NumPy broadcasting, as bool (NaN is not equal to anything).", &kAllTypes,
     [](double a, double b) { return a == b; }, [](int64_t a, int64_t b) { return a == b; }},
    {"less", "Elementwise a < b with NumPy broadcasting, as bool.", &kNumericTypes,
     [](double a, double b) { return a < b; }, [](int64_t a, int64_t b) { return a < b; }},
    {"less_equal", "Elementwise a <= b with NumPy broadcasting, as bool.", &kNumericTypes,
     [](double a, double b) { return a <= b; }, [](int64_t a, int64_t b) { return a <= b; }},
    {"greater", "Elementwise a > b with NumPy broadcasting, as bool.", &kNumericTypes,
     [](double a, double b) { return a > b; }, [](int64_t a, int64_t b) { return a > b; }},
    {"greater_equal", "Elementwise a >= b with NumPy broadcasting, as bool.", &kNumericTypes,
     [](double a, double b) { return a >= b; }, [](int64_t a, int64_t b) { return a >= b; }},
    {"logical_and", "Elementwise a AND b on bools with NumPy broadcasting.", &kBoolTypes, nullptr,
     [](int64_t a, int64_t b) { return a != 0 && b != 0; }},
    {"logical_or", "Elementwise a OR b on bools with NumPy broadcasting.", &kBoolTypes, nullptr,
     [](int64_t a, int64_t b) { return a != 0 || b != 0; }},
    {"logical_xor", "Elementwise a XOR b on bools with NumPy broadcasting.", &kBoolTypes, nullptr,
     [](int64_t a, int64_t b) { return (a != 0) != (b != 0); }},
};

// ---------------------------------------------------------------------------
// Individual ops with attributes.

/// Integer clip bound: rounded toward the inside and clamped to the dtype's range.
int64_t intBound(double v, bool isMin, DType d) {
  int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  if (d == DType::I8) lo = -128, hi = 127;
  else if (d == DType::I32) lo = std::numeric_limits<int32_t>::min(), hi = std::numeric_limits<int32_t>::max();
  const double r = isMin ? std::ceil(v) : std::floor(v);
  if (r <= static_cast<double>(lo)) return lo;
  if (r >= static_cast<double>(hi)) return hi;  // 2^63 as a double: also caught here
  return static_cast<int64_t>(r);
}

void registerClip(OpRegistry& r) {
  const double inf = std::numeric_limits<double>::infinity();
  r.add(unarySchema(
      "clip",
      "Elementwise min(max(x, min), max), so min > max gives max (as in ONNX); NaN in x propagates. For "
      "integer dtypes the bounds are rounded inward and clamped to the dtype's range.",
      kNumericTypes,
      [](KernelContext& ctx) -> Status {
        const double lo = ctx.getFloat("min"), hi = ctx.getFloat("max");
        const DType d = ctx.input(0).dtype();
        const int64_t ilo = intBound(lo, true, d), ihi = intBound(hi, false, d);
        return unaryLoop(
            ctx, d,
            [lo, hi](double x) {
              if (std::isnan(x)) return x;
              const double m = x < lo ? lo : x;
              return m > hi ? hi : m;
            },
            [ilo, ihi](int64_t x) {
              const int64_t m = x < ilo ? ilo : x;
              return m > ihi ? ihi : m;
            });
      },
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
      "leaky_relu", "Elementwise x if x >= 0, else alpha * x.", kFloatTypes,
      [](KernelContext& ctx) -> Status {
        const double alpha = ctx.getFloat("alpha");
        return unaryLoop(
            ctx, ctx.input(0).dtype(), [alpha](double x) { return x >= 0 ? x : alpha * x; },
            [](int64_t x) { return x; });
      },
      {AttrSpec{"alpha", AttrKind::Float, Attribute(0.01), false, "slope for negative x"}}));

  r.add(unarySchema(
      "gelu",
      "Elementwise GELU: approximate=\"none\" gives 0.5x(1+erf(x/sqrt 2)), approximate=\"tanh\" gives "
      "0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))).",
      kFloatTypes,
      [](KernelContext& ctx) -> Status {
        const bool useTanh = ctx.getString("approximate") == "tanh";
        return unaryLoop(
            ctx, ctx.input(0).dtype(), [useTanh](double x) { return useTanh ? geluTanh(x) : geluErf(x); },
            [](int64_t x) { return x; });
      },
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

void registerMod(OpRegistry& r) {
  r.add(binarySchema(
      "mod",
      "Elementwise remainder with NumPy broadcasting: fmod=0 takes the sign of the divisor (Python %, "
      "numpy.mod), fmod=1 the sign of the dividend (C fmod). Integer modulo by zero is an error.",
      kNumericTypes, false,
      [](KernelContext& ctx) -> Status {
        const bool cFmod = ctx.getInt("fmod") != 0;
        return binaryLoop(
            ctx, ctx.input(0).dtype(), [cFmod](double a, double b) { return floatMod(a, b, cFmod); },
            [cFmod](int64_t a, int64_t b) { return intMod(a, b, cFmod); });
      },
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
  s.kernel = [](KernelContext& ctx) -> Status {
    const Tensor& c = ctx.input(0);
    const Tensor& x = ctx.input(1);
    const Tensor& y = ctx.input(2);
    SY_ASSIGN_OR_RETURN(Shape cx, ops::broadcastShapes(c.shape(), x.shape()));
    SY_ASSIGN_OR_RETURN(Shape shape, ops::broadcastShapes(cx, y.shape()));
    SY_ASSIGN_OR_RETURN(Tensor out, ctx.allocateOutput(0, x.dtype(), shape));
    const ops::BroadcastIndexer ic(c.shape(), shape), ix(x.shape(), shape), iy(y.shape(), shape);
    const size_t esize = dtypeSize(x.dtype());
    auto* dst = static_cast<unsigned char*>(out.mutableData());
    const auto* xs = static_cast<const unsigned char*>(x.data());
    const auto* ys = static_cast<const unsigned char*>(y.data());
    for (int64_t i = 0; i < out.numel(); ++i) {
      // Copy the chosen element's bytes: exact for every dtype.
      const unsigned char* src = c.getInt(ic(i)) != 0 ? xs + static_cast<size_t>(ix(i)) * esize
                                                      : ys + static_cast<size_t>(iy(i)) * esize;
      std::memcpy(dst + static_cast<size_t>(i) * esize, src, esize);
    }
    return Status::OK();
  };
  r.add(std::move(s));
}

void registerCast(OpRegistry& r) {
  r.add(unarySchema(
      "cast",
      "Converts x to the dtype named by 'to'. Float to integer truncates toward zero (NaN -> 0, out-of-range "
      "values saturate to int64 then wrap to the target width), integer narrowing wraps, and to bool is x != 0.",
      kAllTypes,
      [](KernelContext& ctx) -> Status {
        const std::optional<DType> to = parseDType(ctx.getString("to"));
        if (!to) return invalidArgument("op 'cast': unknown dtype '", ctx.getString("to"), "'");
        const Tensor& x = ctx.input(0);
        SY_ASSIGN_OR_RETURN(Tensor y, ctx.allocateOutput(0, *to, x.shape()));
        if (isFloat(x.dtype())) {
          for (int64_t i = 0; i < x.numel(); ++i) y.setDouble(i, x.getDouble(i));
        } else {
          for (int64_t i = 0; i < x.numel(); ++i) y.setInt(i, x.getInt(i));
        }
        return Status::OK();
      },
      {AttrSpec{"to", AttrKind::String, std::nullopt, true,
                "target dtype name: f32, f16, bf16, i8, i32, i64 or bool"}},
      [](InferContext& ctx) -> Status {
        const std::string& name = ctx.getString("to");
        const std::optional<DType> to = parseDType(name);
        if (!to)
          return invalidArgument("op 'cast': attribute 'to' is '", name,
                                 "', not a dtype (expected one of f32, f16, bf16, i8, i32, i64, bool)");
        ctx.setOutputType(0, ctx.inputType(0).withDType(*to));
        return Status::OK();
      }));
}

}  // namespace

void registerElementwiseOps(OpRegistry& r) {
  for (const FloatUnary& u : kFloatUnary) {
    double (*fn)(double) = u.fn;
    r.add(unarySchema(u.name, u.doc, kFloatTypes, [fn](KernelContext& ctx) -> Status {
      return unaryLoop(ctx, ctx.input(0).dtype(), fn, [](int64_t x) { return x; });
    }));
  }
  for (const NumericUnary& u : kNumericUnary) {
    double (*ff)(double) = u.ff;
    int64_t (*fi)(int64_t) = u.fi;
    r.add(unarySchema(u.name, u.doc, kNumericTypes, [ff, fi](KernelContext& ctx) -> Status {
      return unaryLoop(ctx, ctx.input(0).dtype(), ff, fi);
    }));
  }
  registerClip(r);
  registerFloatUnaryWithAttrs(r);
  r.add(unarySchema("logical_not", "Elementwise NOT of a bool tensor.", kBoolTypes, [](KernelContext& ctx) -> Status {
    return unaryLoop(
        ctx, DType::Bool, [](double x) { return x == 0 ? 1.0 : 0.0; },
        [](int64_t x) -> int64_t { return x == 0 ? 1 : 0; });
  }));

  for (const Arith& op : kArith) {
    double (*ff)(double, double) = op.ff;
    std::optional<int64_t> (*fi)(int64_t, int64_t) = op.fi;
    r.add(binarySchema(op.name, op.doc, kNumericTypes, false, [ff, fi](KernelContext& ctx) -> Status {
      return binaryLoop(ctx, ctx.input(0).dtype(), ff, fi);
    }));
  }
  registerMod(r);

  for (const Compare& op : kCompare) {
    bool (*ff)(double, double) = op.ff;
    bool (*fi)(int64_t, int64_t) = op.fi;
    r.add(binarySchema(op.name, op.doc, *op.dtypes, true, [ff, fi](KernelContext& ctx) -> Status {
      return binaryLoop(
          ctx, DType::Bool, [ff](double a, double b) { return ff != nullptr && ff(a, b) ? 1.0 : 0.0; },
          [fi](int64_t a, int64_t b) -> std::optional<int64_t> { return fi(a, b) ? 1 : 0; });
    }));
  }

  registerWhere(r);
  registerCast(r);
}

}  // namespace sy
