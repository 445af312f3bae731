// Elementwise kernels: unary math, binary arithmetic / comparisons / logic
// with NumPy broadcasting, where and cast.
//
// Semantics follow the reference (core/src/ops/elementwise.cpp): integers
// wrap, integer div truncates (MIN / -1 = MIN), integer div/mod by zero is an
// error, mod fmod=0 takes the divisor's sign, NaN propagates through relu,
// clip, maximum and minimum, round is half-to-even, silu/gelu(-inf) = -0,
// cast float->int truncates (NaN -> 0, saturating to int64, then wrapping).
// f32 is computed in f32, which the conformance tolerances allow: exp,
// sigmoid, silu, tanh, erf and gelu through the four-lane approximations of
// common.h, log/pow and the trigonometric and hyperbolic functions through
// libm. Elementwise f32 is normally taken by the region compiler's fused
// chains; these kernels matter for the other dtypes (16-bit floats come here
// as f32, see registry.cpp) and for whatever the chains decline.
#include <cmath>
#include <numbers>

#include "common.h"

namespace sy::kernels::detail {
namespace {

constexpr int64_t kGrain = 16384;
constexpr int64_t kGrainHeavy = 4096;  // transcendental functions

// ============================================================================
// Unary

template <class T, class F>
class UnaryKernel final : public KernelBase {
 public:
  UnaryKernel(const OpDesc& d, F f, int64_t grain) : KernelBase(d), f_(f), grain_(grain) {}
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 1, no, 1);
    out[0] = in[0].dims;
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    const T* x = in[0].as<const T>();
    T* y = out[0].as<T>();
    const F f = f_;
    parallelFor(exec, in[0].numElements(), grain_, [=](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) y[i] = f(x[i]);
    });
  }

 private:
  F f_;
  int64_t grain_;
};

template <class T, class F>
std::unique_ptr<Kernel> unary(const OpDesc& d, F f, int64_t grain = kGrain) {
  return std::make_unique<UnaryKernel<T, F>>(d, f, grain);
}

/// An f32 unary op computed four lanes at a time (the transcendental functions).
template <class F>
class VecUnaryKernel final : public KernelBase {
 public:
  VecUnaryKernel(const OpDesc& d, F f) : KernelBase(d), f_(f) {}
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 1, no, 1);
    out[0] = in[0].dims;
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    const float* x = in[0].as<const float>();
    float* y = out[0].as<float>();
    const F f = f_;
    parallelFor(exec, in[0].numElements(), kGrain, [=](int64_t b, int64_t e) { mapV4(x + b, y + b, e - b, f); });
  }

 private:
  F f_;
};

template <class F>
std::unique_ptr<Kernel> vunary(const OpDesc& d, F f) {
  return std::make_unique<VecUnaryKernel<F>>(d, f);
}

/// Integer clip bound: rounded inward, clamped to T's range.
template <class T>
T intBound(double v, bool isMin) {
  const double r = isMin ? std::ceil(v) : std::floor(v);
  if constexpr (std::is_same_v<T, uint64_t>) {
    if (r <= 0) return 0;
    if (r >= 1.8446744073709552e19) return std::numeric_limits<uint64_t>::max();
    return static_cast<uint64_t>(r);
  }
  const auto lo = static_cast<int64_t>(std::numeric_limits<T>::min());
  const auto hi = static_cast<int64_t>(std::numeric_limits<T>::max());
  if (r <= static_cast<double>(lo)) return static_cast<T>(lo);
  if (r >= static_cast<double>(hi)) return static_cast<T>(hi);
  return static_cast<T>(static_cast<int64_t>(r));
}

std::unique_ptr<Kernel> makeFloatUnary(const OpDesc& d, std::string_view op, std::string& whyNot) {
  using T = float;
  constexpr float kInf = std::numeric_limits<float>::infinity();
  if (op == "abs") return unary<T>(d, [](float x) { return std::fabs(x); });
  if (op == "neg") return unary<T>(d, [](float x) { return -x; });
  if (op == "ceil") return unary<T>(d, [](float x) { return std::ceil(x); });
  if (op == "floor") return unary<T>(d, [](float x) { return std::floor(x); });
  if (op == "round") return unary<T>(d, [](float x) { return std::nearbyint(x); });
  if (op == "cos") return unary<T>(d, [](float x) { return std::cos(x); }, kGrainHeavy);
  if (op == "sin") return unary<T>(d, [](float x) { return std::sin(x); }, kGrainHeavy);
  if (op == "tan") return unary<T>(d, [](float x) { return std::tan(x); }, kGrainHeavy);
  if (op == "asin") return unary<T>(d, [](float x) { return std::asin(x); }, kGrainHeavy);
  if (op == "acos") return unary<T>(d, [](float x) { return std::acos(x); }, kGrainHeavy);
  if (op == "atan") return unary<T>(d, [](float x) { return std::atan(x); }, kGrainHeavy);
  if (op == "sinh") return unary<T>(d, [](float x) { return std::sinh(x); }, kGrainHeavy);
  if (op == "cosh") return unary<T>(d, [](float x) { return std::cosh(x); }, kGrainHeavy);
  if (op == "asinh") return unary<T>(d, [](float x) { return std::asinh(x); }, kGrainHeavy);
  if (op == "acosh") return unary<T>(d, [](float x) { return std::acosh(x); }, kGrainHeavy);
  if (op == "atanh") return unary<T>(d, [](float x) { return std::atanh(x); }, kGrainHeavy);
  if (op == "erf") return vunary(d, [](V4f x) { return verf(x); });
  if (op == "exp") return vunary(d, [](V4f x) { return vexp(x); });
  if (op == "log") return unary<T>(d, [](float x) { return std::log(x); }, kGrainHeavy);
  if (op == "tanh") return vunary(d, [](V4f x) { return vtanh(x); });
  if (op == "sqrt") return unary<T>(d, [](float x) { return std::sqrt(x); });
  if (op == "rsqrt") return unary<T>(d, [](float x) { return 1.0f / std::sqrt(x); });
  if (op == "reciprocal") return unary<T>(d, [](float x) { return 1.0f / x; });
  if (op == "sigmoid") return vunary(d, [](V4f x) { return vsigmoid(x); });
  if (op == "silu")
    return vunary(d, [](V4f x) { return vselect(x == -kInf, splat(-0.0f), x * vsigmoid(x)); });
  if (op == "relu") return unary<T>(d, [](float x) { return std::isnan(x) ? x : (x > 0 ? x : 0.0f); });
  if (op == "sign")
    return unary<T>(d, [](float x) { return std::isnan(x) ? x : (x > 0 ? 1.0f : (x < 0 ? -1.0f : 0.0f)); });
  if (op == "leaky_relu") {
    const double alpha = d.node.attrFloat("alpha", 0.01);
    return unary<T>(d, [alpha](float x) { return x >= 0 ? x : static_cast<float>(alpha * x); });
  }
  if (op == "gelu") {
    const std::string mode = d.node.attrString("approximate", "none");
    if (mode == "tanh") {
      return vunary(d, [](V4f x) {
        const float k = static_cast<float>(0.79788456080286535588);  // sqrt(2 / pi)
        const V4f y = 0.5f * x * (1.0f + vtanh(k * (x + 0.044715f * x * x * x)));
        return vselect(x == -kInf, splat(-0.0f), y);
      });
    }
    SY_KCHECK(mode == "none", d.describe(), "attribute 'approximate' must be \"none\" or \"tanh\", got \"", mode, "\"");
    return vunary(d, [](V4f x) {
      const V4f y = 0.5f * x * (1.0f + verf(x * static_cast<float>(std::numbers::sqrt2 / 2)));
      return vselect(x == -kInf, splat(-0.0f), y);
    });
  }
  if (op == "clip") {
    const double lo = d.node.attrFloat("min", -std::numeric_limits<double>::infinity());
    const double hi = d.node.attrFloat("max", std::numeric_limits<double>::infinity());
    SY_KCHECK(!std::isnan(lo) && !std::isnan(hi), d.describe(), "min and max must not be NaN");
    return unary<T>(d, [lo, hi](float x) {
      if (std::isnan(x)) return x;
      double v = x;
      v = v < lo ? lo : v;
      v = v > hi ? hi : v;
      return static_cast<float>(v);
    });
  }
  return decline(whyNot, d, "not implemented for ", dtName(d.in[0]));
}

/// f64: every float unary op computed in double through libm (no four-lane
/// approximations: the ONNX DOUBLE tests compare tightly).
std::unique_ptr<Kernel> makeDoubleUnary(const OpDesc& d, std::string_view op, std::string& whyNot) {
  using T = double;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  auto sigmoid = [](double x) { return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x)); };
  if (op == "abs") return unary<T>(d, [](T x) { return std::fabs(x); });
  if (op == "neg") return unary<T>(d, [](T x) { return -x; });
  if (op == "ceil") return unary<T>(d, [](T x) { return std::ceil(x); });
  if (op == "floor") return unary<T>(d, [](T x) { return std::floor(x); });
  if (op == "round") return unary<T>(d, [](T x) { return std::nearbyint(x); });
  if (op == "cos") return unary<T>(d, [](T x) { return std::cos(x); }, kGrainHeavy);
  if (op == "sin") return unary<T>(d, [](T x) { return std::sin(x); }, kGrainHeavy);
  if (op == "tan") return unary<T>(d, [](T x) { return std::tan(x); }, kGrainHeavy);
  if (op == "asin") return unary<T>(d, [](T x) { return std::asin(x); }, kGrainHeavy);
  if (op == "acos") return unary<T>(d, [](T x) { return std::acos(x); }, kGrainHeavy);
  if (op == "atan") return unary<T>(d, [](T x) { return std::atan(x); }, kGrainHeavy);
  if (op == "sinh") return unary<T>(d, [](T x) { return std::sinh(x); }, kGrainHeavy);
  if (op == "cosh") return unary<T>(d, [](T x) { return std::cosh(x); }, kGrainHeavy);
  if (op == "asinh") return unary<T>(d, [](T x) { return std::asinh(x); }, kGrainHeavy);
  if (op == "acosh") return unary<T>(d, [](T x) { return std::acosh(x); }, kGrainHeavy);
  if (op == "atanh") return unary<T>(d, [](T x) { return std::atanh(x); }, kGrainHeavy);
  if (op == "erf") return unary<T>(d, [](T x) { return std::erf(x); }, kGrainHeavy);
  if (op == "exp") return unary<T>(d, [](T x) { return std::exp(x); }, kGrainHeavy);
  if (op == "log") return unary<T>(d, [](T x) { return std::log(x); }, kGrainHeavy);
  if (op == "tanh") return unary<T>(d, [](T x) { return std::tanh(x); }, kGrainHeavy);
  if (op == "sqrt") return unary<T>(d, [](T x) { return std::sqrt(x); });
  if (op == "rsqrt") return unary<T>(d, [](T x) { return 1.0 / std::sqrt(x); });
  if (op == "reciprocal") return unary<T>(d, [](T x) { return 1.0 / x; });
  if (op == "sigmoid") return unary<T>(d, sigmoid, kGrainHeavy);
  if (op == "silu") return unary<T>(d, [sigmoid](T x) { return x == -kInf ? -0.0 : x * sigmoid(x); }, kGrainHeavy);
  if (op == "relu") return unary<T>(d, [](T x) { return std::isnan(x) ? x : (x > 0 ? x : 0.0); });
  if (op == "sign") return unary<T>(d, [](T x) { return std::isnan(x) ? x : (x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0)); });
  if (op == "leaky_relu") {
    const double alpha = d.node.attrFloat("alpha", 0.01);
    return unary<T>(d, [alpha](T x) { return x >= 0 ? x : alpha * x; });
  }
  if (op == "gelu") {
    const std::string mode = d.node.attrString("approximate", "none");
    if (mode == "tanh") {
      return unary<T>(d, [](T x) {
        const double k = 0.79788456080286535588;  // sqrt(2 / pi)
        return x == -kInf ? -0.0 : 0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x)));
      }, kGrainHeavy);
    }
    SY_KCHECK(mode == "none", d.describe(), "attribute 'approximate' must be \"none\" or \"tanh\", got \"", mode, "\"");
    return unary<T>(d, [](T x) { return x == -kInf ? -0.0 : 0.5 * x * (1.0 + std::erf(x * (std::numbers::sqrt2 / 2))); },
                    kGrainHeavy);
  }
  if (op == "clip") {
    const double lo = d.node.attrFloat("min", -kInf);
    const double hi = d.node.attrFloat("max", kInf);
    SY_KCHECK(!std::isnan(lo) && !std::isnan(hi), d.describe(), "min and max must not be NaN");
    return unary<T>(d, [lo, hi](T x) {
      if (std::isnan(x)) return x;
      T v = x < lo ? lo : x;
      return v > hi ? hi : v;
    });
  }
  return decline(whyNot, d, "not implemented for ", dtName(d.in[0]));
}

template <class T>
std::unique_ptr<Kernel> makeIntUnary(const OpDesc& d, std::string_view op, std::string& whyNot) {
  if (op == "neg") return unary<T>(d, [](T x) { return wrapNeg(x); });
  if constexpr (std::is_unsigned_v<T>) {
    if (op == "abs") return unary<T>(d, [](T x) { return x; });
    if (op == "sign") return unary<T>(d, [](T x) { return static_cast<T>(x > 0 ? 1 : 0); });
  } else {
    if (op == "abs") return unary<T>(d, [](T x) { return x < 0 ? wrapNeg(x) : x; });
    if (op == "sign") return unary<T>(d, [](T x) { return static_cast<T>(x > 0 ? 1 : (x < 0 ? -1 : 0)); });
  }
  if (op == "relu") return unary<T>(d, [](T x) { return x > 0 ? x : T{0}; });
  if (op == "clip") {
    const double lo = d.node.attrFloat("min", -std::numeric_limits<double>::infinity());
    const double hi = d.node.attrFloat("max", std::numeric_limits<double>::infinity());
    SY_KCHECK(!std::isnan(lo) && !std::isnan(hi), d.describe(), "min and max must not be NaN");
    const T ilo = intBound<T>(lo, true), ihi = intBound<T>(hi, false);
    return unary<T>(d, [ilo, ihi](T x) {
      const T m = x < ilo ? ilo : x;
      return m > ihi ? ihi : m;
    });
  }
  return decline(whyNot, d, "only float dtypes are implemented (the op is float-only), input is ", dtName(d.in[0]));
}

// ============================================================================
// Binary

template <class T, class R, class F>
class BinaryKernel final : public KernelBase {
 public:
  BinaryKernel(const OpDesc& d, F f, bool checkZero, int64_t grain)
      : KernelBase(d), f_(f), checkZero_(checkZero), grain_(grain) {}
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 2, no, 1);
    out[0] = broadcast(in[0].dims, in[1].dims, who_);
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    const Dims& od = out[0].dims;
    if (out[0].numElements() == 0) return;
    const T* a = in[0].as<const T>();
    const T* b = in[1].as<const T>();
    R* y = out[0].as<R>();
    if constexpr (std::is_integral_v<T>) {
      if (checkZero_) {
        const int64_t nb = in[1].numElements();
        for (int64_t i = 0; i < nb; ++i)
          SY_KCHECK(b[i] != 0, who_, "integer division by zero");
      }
    }
    const int64_t na = in[0].numElements(), nb = in[1].numElements();
    const F f = f_;
    if (na == nb && in[0].dims == in[1].dims) {
      parallelFor(exec, na, grain_, [=](int64_t s, int64_t e) {
        for (int64_t i = s; i < e; ++i) y[i] = f(a[i], b[i]);
      });
      return;
    }
    if (nb == 1) {
      const T vb = b[0];
      parallelFor(exec, na, grain_, [=](int64_t s, int64_t e) {
        for (int64_t i = s; i < e; ++i) y[i] = f(a[i], vb);
      });
      return;  // one b element: the output has a's elements in a's order
    }
    if (na == 1) {
      const T va = a[0];
      parallelFor(exec, nb, grain_, [=](int64_t s, int64_t e) {
        for (int64_t i = s; i < e; ++i) y[i] = f(va, b[i]);
      });
      return;
    }
    const Dims* ins[2] = {&in[0].dims, &in[1].dims};
    const LoopPlan<3> p = broadcastPlan<3>(od, ins);
    const int last = p.rank - 1;
    const int64_t sa = p.strides[1][last], sb = p.strides[2][last];
    forEachRow<3>(
        p, exec,
        [=](const int64_t* off, int64_t n) {
          R* o = y + off[0];
          const T* pa = a + off[1];
          const T* pb = b + off[2];
          if (sa == 1 && sb == 1) {
            for (int64_t i = 0; i < n; ++i) o[i] = f(pa[i], pb[i]);
          } else if (sa == 1 && sb == 0) {
            const T vb = *pb;
            for (int64_t i = 0; i < n; ++i) o[i] = f(pa[i], vb);
          } else if (sa == 0 && sb == 1) {
            const T va = *pa;
            for (int64_t i = 0; i < n; ++i) o[i] = f(va, pb[i]);
          } else {
            for (int64_t i = 0; i < n; ++i) o[i] = f(pa[i * sa], pb[i * sb]);
          }
        },
        grain_);
  }

 private:
  F f_;
  bool checkZero_;
  int64_t grain_;
};

template <class T, class R = T, class F>
std::unique_ptr<Kernel> binary(const OpDesc& d, F f, bool checkZero = false, int64_t grain = kGrain) {
  return std::make_unique<BinaryKernel<T, R, F>>(d, f, checkZero, grain);
}

template <class T>
T floatMod(T a, T b, bool cFmod) {
  T r = std::fmod(a, b);
  if (cFmod || std::isnan(r)) return r;
  if (r == 0) return std::copysign(T{0}, b);
  if ((r < 0) != (b < 0)) r += b;
  return r;
}

template <class T>
T intPow(T base, T exp) {
  if constexpr (std::is_signed_v<T>) {
    if (exp < 0) {
      if (base == 1) return 1;
      if (base == -1) return (exp % 2 == 0) ? 1 : -1;
      return 0;
    }
  }
  uint64_t result = 1;
  auto b = static_cast<uint64_t>(static_cast<int64_t>(base));
  auto e = static_cast<uint64_t>(static_cast<int64_t>(exp));
  while (e != 0) {
    if (e & 1) result *= b;
    b *= b;
    e >>= 1;
  }
  return static_cast<T>(static_cast<int64_t>(result));
}

/// Comparisons (bool output) for any numeric T; NaN compares false (equal) as IEEE.
template <class T>
std::unique_ptr<Kernel> makeCompare(const OpDesc& d, std::string_view op) {
  using B = uint8_t;
  if (op == "equal") return binary<T, B>(d, [](T a, T b) { return static_cast<B>(a == b); });
  if (op == "less") return binary<T, B>(d, [](T a, T b) { return static_cast<B>(a < b); });
  if (op == "less_equal") return binary<T, B>(d, [](T a, T b) { return static_cast<B>(a <= b); });
  if (op == "greater") return binary<T, B>(d, [](T a, T b) { return static_cast<B>(a > b); });
  if (op == "greater_equal") return binary<T, B>(d, [](T a, T b) { return static_cast<B>(a >= b); });
  return nullptr;
}

/// f32 (T = float) or f64 (T = double), computed in T (pow in double).
template <class T>
std::unique_ptr<Kernel> makeFloatBinary(const OpDesc& d, std::string_view op) {
  if (op == "add") return binary<T>(d, [](T a, T b) { return a + b; });
  if (op == "sub") return binary<T>(d, [](T a, T b) { return a - b; });
  if (op == "mul") return binary<T>(d, [](T a, T b) { return a * b; });
  if (op == "div") return binary<T>(d, [](T a, T b) { return a / b; });
  if (op == "pow")
    return binary<T>(
        d,
        [](T a, T b) {
          if (b == T{2}) return a * a;
          return static_cast<T>(std::pow(static_cast<double>(a), static_cast<double>(b)));
        },
        false, kGrainHeavy);
  if (op == "maximum")
    return binary<T>(d, [](T a, T b) {
      return (std::isnan(a) || std::isnan(b)) ? std::numeric_limits<T>::quiet_NaN() : (a > b ? a : b);
    });
  if (op == "minimum")
    return binary<T>(d, [](T a, T b) {
      return (std::isnan(a) || std::isnan(b)) ? std::numeric_limits<T>::quiet_NaN() : (a < b ? a : b);
    });
  if (op == "mod") {
    const bool cFmod = d.node.attrInt("fmod", 0) != 0;
    return binary<T>(d, [cFmod](T a, T b) { return floatMod(a, b, cFmod); }, false, kGrainHeavy);
  }
  return makeCompare<T>(d, op);
}

template <class T>
std::unique_ptr<Kernel> makeIntBinary(const OpDesc& d, std::string_view op) {
  if (op == "add") return binary<T>(d, [](T a, T b) { return wrapAdd(a, b); });
  if (op == "sub") return binary<T>(d, [](T a, T b) { return wrapSub(a, b); });
  if (op == "mul") return binary<T>(d, [](T a, T b) { return wrapMul(a, b); });
  if constexpr (std::is_unsigned_v<T>) {
    if (op == "bit_shift") {
      constexpr T kBits = static_cast<T>(sizeof(T) * 8);
      const std::string dir = d.node.attrString("direction", "left");
      SY_KCHECK(dir == "left" || dir == "right", d.describe(), "attribute 'direction' must be \"left\" or \"right\", got \"",
                dir, "\"");
      // Shifts in range only (a shift by the width or more is 0, and UB in C++).
      if (dir == "left") return binary<T>(d, [](T a, T b) { return b >= kBits ? T{0} : static_cast<T>(a << b); });
      return binary<T>(d, [](T a, T b) { return b >= kBits ? T{0} : static_cast<T>(a >> b); });
    }
    if (op == "div") return binary<T>(d, [](T a, T b) { return static_cast<T>(b == 0 ? 0 : a / b); }, true);
    if (op == "mod") return binary<T>(d, [](T a, T b) { return static_cast<T>(b == 0 ? 0 : a % b); }, true);
  }
  if (op == "div")
    return binary<T>(d, [](T a, T b) { return b == T(-1) ? wrapNeg(a) : static_cast<T>(b == 0 ? 0 : a / b); }, true);
  if (op == "pow") return binary<T>(d, [](T a, T b) { return intPow(a, b); });
  if (op == "maximum") return binary<T>(d, [](T a, T b) { return a > b ? a : b; });
  if (op == "minimum") return binary<T>(d, [](T a, T b) { return a < b ? a : b; });
  if (op == "mod") {
    const bool cFmod = d.node.attrInt("fmod", 0) != 0;
    return binary<T>(
        d,
        [cFmod](T a, T b) -> T {
          if (b == 0 || b == T(-1)) return 0;
          T r = static_cast<T>(a % b);
          if constexpr (std::is_signed_v<T>)
            if (!cFmod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
          return r;
        },
        true);
  }
  return makeCompare<T>(d, op);
}

std::unique_ptr<Kernel> makeBoolBinary(const OpDesc& d, std::string_view op) {
  using T = uint8_t;
  if (op == "logical_and") return binary<T>(d, [](T a, T b) { return static_cast<T>((a != 0) & (b != 0)); });
  if (op == "logical_or") return binary<T>(d, [](T a, T b) { return static_cast<T>((a != 0) | (b != 0)); });
  if (op == "logical_xor") return binary<T>(d, [](T a, T b) { return static_cast<T>((a != 0) != (b != 0)); });
  if (op == "equal") return binary<T>(d, [](T a, T b) { return static_cast<T>((a != 0) == (b != 0)); });
  return nullptr;
}

// ============================================================================
// where

template <class E>
void whereRows(const LoopPlan<4>& p, E* y, const uint8_t* c, const E* x, const E* z, const Exec& exec) {
  const int last = p.rank - 1;
  const int64_t sc = p.strides[1][last], sx = p.strides[2][last], sz = p.strides[3][last];
  forEachRow<4>(p, exec, [=](const int64_t* off, int64_t n) {
    E* o = y + off[0];
    const uint8_t* pc = c + off[1];
    const E* px = x + off[2];
    const E* pz = z + off[3];
    // Branch-free selects (a random condition would defeat the branch predictor); the
    // contiguous / splatted cases vectorise.
    auto pick = [](uint8_t c, E a, E b) {
      const E m = static_cast<E>(E{0} - static_cast<E>(c != 0));
      return static_cast<E>((a & m) | (b & static_cast<E>(~m)));
    };
    if (sc == 1 && sx == 1 && sz == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = pick(pc[i], px[i], pz[i]);
    } else if (sc == 1 && sx == 1 && sz == 0) {
      const E vz = *pz;
      for (int64_t i = 0; i < n; ++i) o[i] = pick(pc[i], px[i], vz);
    } else if (sc == 1 && sx == 0 && sz == 1) {
      const E vx = *px;
      for (int64_t i = 0; i < n; ++i) o[i] = pick(pc[i], vx, pz[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i] = pick(pc[i * sc], px[i * sx], pz[i * sz]);
    }
  });
}

class WhereKernel final : public KernelBase {
 public:
  explicit WhereKernel(const OpDesc& d) : KernelBase(d) {}
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 3, no, 1);
    SY_KCHECK(in[1].dtype == in[2].dtype, who_, "x and y have different dtypes");
    out[0] = broadcast(broadcast(in[0].dims, in[1].dims, who_), in[2].dims, who_);
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    if (out[0].numElements() == 0) return;
    const Dims* ins[3] = {&in[0].dims, &in[1].dims, &in[2].dims};
    const LoopPlan<4> p = broadcastPlan<4>(out[0].dims, ins);
    const auto* c = in[0].as<const uint8_t>();
    switch (sdk::dtypeSize(in[1].dtype)) {
      case 1: whereRows(p, out[0].as<uint8_t>(), c, in[1].as<const uint8_t>(), in[2].as<const uint8_t>(), exec); break;
      case 2: whereRows(p, out[0].as<uint16_t>(), c, in[1].as<const uint16_t>(), in[2].as<const uint16_t>(), exec); break;
      case 4: whereRows(p, out[0].as<uint32_t>(), c, in[1].as<const uint32_t>(), in[2].as<const uint32_t>(), exec); break;
      default: whereRows(p, out[0].as<uint64_t>(), c, in[1].as<const uint64_t>(), in[2].as<const uint64_t>(), exec); break;
    }
  }
};

// ============================================================================
// cast

struct F16Tag {};
struct BF16Tag {};

int64_t doubleToInt64(double v) {
  if (std::isnan(v)) return 0;
  if (v >= 9.2233720368547758e18) return std::numeric_limits<int64_t>::max();
  if (v <= -9.2233720368547758e18) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

/// Storage type of a cast tag.
template <class T> struct Storage { using type = T; };
template <> struct Storage<F16Tag> { using type = uint16_t; };
template <> struct Storage<BF16Tag> { using type = uint16_t; };
struct BoolTag {};
template <> struct Storage<BoolTag> { using type = uint8_t; };

template <class S>
constexpr bool isFloatTag = std::is_same_v<S, float> || std::is_same_v<S, double> || std::is_same_v<S, F16Tag> ||
                            std::is_same_v<S, BF16Tag>;

template <class S>
inline double loadF(typename Storage<S>::type v) {
  if constexpr (std::is_same_v<S, float> || std::is_same_v<S, double>) return v;
  else if constexpr (std::is_same_v<S, F16Tag>) return halfToFloat(v);
  else return bf16ToFloat(v);
}

template <class S>
inline int64_t loadI(typename Storage<S>::type v) {
  if constexpr (std::is_same_v<S, BoolTag>) return v != 0 ? 1 : 0;
  else return static_cast<int64_t>(v);  // u64: its bits
}

/// Float to integer: truncation toward zero, NaN -> 0, saturating to int64
/// (to u64 for a u64 target), then wrapping to the target's width.
template <class DS>
inline DS floatToInt(double f) {
  if constexpr (std::is_same_v<DS, uint64_t>) {
    if (f >= 9.2233720368547758e18) return f >= 1.8446744073709552e19 ? UINT64_MAX : static_cast<uint64_t>(f);
  }
  return static_cast<DS>(doubleToInt64(f));
}

template <class S, class D>
inline typename Storage<D>::type convert(typename Storage<S>::type v) {
  using DS = typename Storage<D>::type;
  if constexpr (isFloatTag<S>) {
    const double f = loadF<S>(v);
    if constexpr (std::is_same_v<D, float>) return static_cast<float>(f);
    else if constexpr (std::is_same_v<D, double>) return f;
    else if constexpr (std::is_same_v<D, F16Tag>) return floatToHalf(static_cast<float>(f));
    else if constexpr (std::is_same_v<D, BF16Tag>) return floatToBf16(static_cast<float>(f));
    else if constexpr (std::is_same_v<D, BoolTag>) return static_cast<DS>(f != 0.0 ? 1 : 0);
    else return floatToInt<DS>(f);
  } else if constexpr (std::is_same_v<S, uint64_t>) {
    if constexpr (std::is_same_v<D, double>) return static_cast<double>(v);
    else if constexpr (std::is_same_v<D, float>) return static_cast<float>(v);
    else if constexpr (std::is_same_v<D, F16Tag>) return floatToHalf(static_cast<float>(v));
    else if constexpr (std::is_same_v<D, BF16Tag>) return floatToBf16(static_cast<float>(v));
    else if constexpr (std::is_same_v<D, BoolTag>) return static_cast<DS>(v != 0 ? 1 : 0);
    else return static_cast<DS>(v);
  } else {
    const int64_t i = loadI<S>(v);
    if constexpr (std::is_same_v<D, double>) {
      return static_cast<double>(i);
    } else if constexpr (isFloatTag<D>) {
      const auto f = static_cast<float>(static_cast<double>(i));
      if constexpr (std::is_same_v<D, float>) return f;
      else if constexpr (std::is_same_v<D, F16Tag>) return floatToHalf(f);
      else return floatToBf16(f);
    } else if constexpr (std::is_same_v<D, BoolTag>) {
      return static_cast<DS>(i != 0 ? 1 : 0);
    } else {
      return static_cast<DS>(i);
    }
  }
}

template <class F>
bool dispatchTag(int32_t dtype, F&& f) {
  switch (dtype) {
    case SY_DTYPE_F32: f(float{}); return true;
    case SY_DTYPE_F16: f(F16Tag{}); return true;
    case SY_DTYPE_BF16: f(BF16Tag{}); return true;
    case SY_DTYPE_I8: f(int8_t{}); return true;
    case SY_DTYPE_I32: f(int32_t{}); return true;
    case SY_DTYPE_I64: f(int64_t{}); return true;
    case SY_DTYPE_BOOL: f(BoolTag{}); return true;
    case SY_DTYPE_F64: f(double{}); return true;
    default: return dispatchNewInt(dtype, f);
  }
}

using CastFn = void (*)(const void*, void*, int64_t, int64_t);

template <class S, class D>
void castRange(const void* src, void* dst, int64_t b, int64_t e) {
  const auto* s = static_cast<const typename Storage<S>::type*>(src);
  auto* d = static_cast<typename Storage<D>::type*>(dst);
  for (int64_t i = b; i < e; ++i) d[i] = convert<S, D>(s[i]);
}

/// f16/bf16 <-> f32 through the four-lane converters (same results as convert<>).
template <int32_t DT>
void castHalfToF32(const void* src, void* dst, int64_t b, int64_t e) {
  toF32(DT, static_cast<const uint16_t*>(src) + b, static_cast<float*>(dst) + b, e - b);
}
template <int32_t DT>
void castF32ToHalf(const void* src, void* dst, int64_t b, int64_t e) {
  fromF32(DT, static_cast<const float*>(src) + b, static_cast<uint16_t*>(dst) + b, e - b);
}

class CastKernel final : public KernelBase {
 public:
  CastKernel(const OpDesc& d, CastFn fn, bool same) : KernelBase(d), fn_(fn), same_(same) {}
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 1, no, 1);
    out[0] = in[0].dims;
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    const int64_t n = in[0].numElements();
    if (same_ && in[0].dtype != SY_DTYPE_BOOL) {
      parallelCopy(out[0].data, in[0].data, static_cast<size_t>(n) * sdk::dtypeSize(in[0].dtype), exec);
      return;
    }
    const void* s = in[0].data;
    void* d = out[0].data;
    const CastFn fn = fn_;
    parallelFor(exec, n, kGrain, [=](int64_t b, int64_t e) { fn(s, d, b, e); });
  }

 private:
  CastFn fn_;
  bool same_;
};

}  // namespace

// ============================================================================
// Factories

SY_CPU_FACTORY(makeUnary) {
  const std::string_view op = d.op();
  const int32_t dt = d.in[0];
  if (op == "logical_not") {
    if (dt != SY_DTYPE_BOOL) return decline(whyNot, d, "input must be bool, got ", dtName(dt));
    return unary<uint8_t>(d, [](uint8_t x) { return static_cast<uint8_t>(x == 0 ? 1 : 0); });
  }
  switch (dt) {
    case SY_DTYPE_F32: return makeFloatUnary(d, op, whyNot);
    case SY_DTYPE_I8: return makeIntUnary<int8_t>(d, op, whyNot);
    case SY_DTYPE_I32: return makeIntUnary<int32_t>(d, op, whyNot);
    case SY_DTYPE_I64: return makeIntUnary<int64_t>(d, op, whyNot);
    case SY_DTYPE_F64: return makeDoubleUnary(d, op, whyNot);
    default: {
      std::unique_ptr<Kernel> k;
      if (dispatchNewInt(dt, [&](auto tag) { k = makeIntUnary<decltype(tag)>(d, op, whyNot); })) return k;
      return decline(whyNot, d, "not implemented for ", dtName(dt));
    }
  }
}

SY_CPU_FACTORY(makeBinary) {
  const std::string_view op = d.op();
  const int32_t dt = d.in[0];
  if (d.in.size() != 2 || d.in[1] != dt)
    return decline(whyNot, d, "needs two inputs of one dtype");
  std::unique_ptr<Kernel> k;
  switch (dt) {
    case SY_DTYPE_F32: k = makeFloatBinary<float>(d, op); break;
    case SY_DTYPE_F64: k = makeFloatBinary<double>(d, op); break;
    case SY_DTYPE_I8: k = makeIntBinary<int8_t>(d, op); break;
    case SY_DTYPE_I32: k = makeIntBinary<int32_t>(d, op); break;
    case SY_DTYPE_I64: k = makeIntBinary<int64_t>(d, op); break;
    case SY_DTYPE_BOOL: k = makeBoolBinary(d, op); break;
    default: dispatchNewInt(dt, [&](auto tag) { k = makeIntBinary<decltype(tag)>(d, op); }); break;
  }
  if (!k) return decline(whyNot, d, "not implemented for ", dtName(dt));
  return k;
}

SY_CPU_FACTORY(makeWhere) {
  if (d.in.size() != 3 || d.in[0] != SY_DTYPE_BOOL) return decline(whyNot, d, "condition must be bool");
  if (d.in[1] != d.in[2]) return decline(whyNot, d, "x and y must have one dtype");
  return std::make_unique<WhereKernel>(d);
}

SY_CPU_FACTORY(makeCast) {
  const int32_t from = d.in[0], to = d.out[0];
  CastFn fn = nullptr;
  dispatchTag(from, [&](auto s) {
    dispatchTag(to, [&](auto t) { fn = &castRange<decltype(s), decltype(t)>; });
  });
  if (fn == nullptr) return decline(whyNot, d, "cannot cast ", dtName(from), " to ", dtName(to));
  if (from == SY_DTYPE_F16 && to == SY_DTYPE_F32) fn = castHalfToF32<SY_DTYPE_F16>;
  if (from == SY_DTYPE_BF16 && to == SY_DTYPE_F32) fn = castHalfToF32<SY_DTYPE_BF16>;
  if (from == SY_DTYPE_F32 && to == SY_DTYPE_F16) fn = castF32ToHalf<SY_DTYPE_F16>;
  if (from == SY_DTYPE_F32 && to == SY_DTYPE_BF16) fn = castF32ToHalf<SY_DTYPE_BF16>;
  return std::make_unique<CastKernel>(d, fn, from == to);
}

}  // namespace sy::kernels::detail
