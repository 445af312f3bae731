// Private helpers shared by the portable kernels (sdk/kernels/src/*.cpp): the
// node description the op factories read, error helpers, dtype utilities,
// shape arithmetic (broadcasting, axes) and the strided loop machinery that
// the elementwise and data-movement kernels are built on.
//
// Note [Kernel factories and OpDesc]
// Every op has a factory `make<Op>(const OpDesc&, std::string& whyNot)`. The
// factory reads dtypes from the OpDesc, not from the node: for f16/bf16
// arithmetic, makeKernel (registry.cpp) describes the node with its 16-bit
// float inputs and outputs as f32, builds the f32 kernel, and wraps it in a
// kernel that converts on the way in and out. Data-movement ops work on any
// dtype by element size and see the real dtypes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <switchyard/kernels.hpp>

namespace sy::kernels::detail {

/// parallelFor(exec, n, grain, fn), except that work Exec would run inline
/// anyway (n <= grain, or one thread: Exec's contract) is run here without
/// making a std::function, whose captures (more than two pointers) cost a heap
/// allocation on every call of every small kernel.
template <class Fn>
void parallelFor(const Exec& exec, int64_t n, int64_t grain, Fn&& fn) {
  if (n <= 0) return;
  if (n <= std::max<int64_t>(grain, 1) || exec.threads() <= 1) {
    fn(int64_t{0}, n);
    return;
  }
  exec.parallelFor(n, grain, std::forward<Fn>(fn));
}

// ============================================================================
// The node as a factory sees it

struct OpDesc {
  const sdk::NodeView& node;
  std::vector<int32_t> in;   ///< dtype of each input, -1 for an absent optional input
  std::vector<int32_t> out;  ///< dtype of each output

  std::string_view op() const { return node.op(); }
  std::string describe() const { return node.describe(); }
  size_t numInputs() const { return in.size(); }
  size_t numOutputs() const { return out.size(); }
  bool has(size_t i) const { return i < in.size() && in[i] >= 0; }
  /// The input's static info (rank, dims, constant data); dtype from `in`.
  sdk::ValueView input(size_t i) const { return node.input(i); }
};

using Factory = std::unique_ptr<Kernel> (*)(const OpDesc&, std::string& whyNot);

/// Throws sdk::Error(SY_ERROR_INVALID_ARGUMENT) "<node>: <message>".
template <class... Args>
[[noreturn]] void failArg(const std::string& who, const Args&... args) {
  sdk::fail(SY_ERROR_INVALID_ARGUMENT, who, ": ", args...);
}
/// SY_KCHECK(ok, who, message...): failArg(who, message...) unless ok. A macro
/// so that the message arguments (dimsStr(...), describe()) are evaluated only
/// when the check fails: outputShapes and run call these on every execute.
#define SY_KCHECK(ok, ...)                                  \
  do {                                                      \
    if (!(ok)) ::sy::kernels::detail::failArg(__VA_ARGS__);     \
  } while (0)

/// Sets whyNot and returns nullptr: "op: reason".
template <class... Args>
std::unique_ptr<Kernel> decline(std::string& whyNot, const OpDesc& d, const Args&... args) {
  whyNot = sdk::format(d.op(), ": ", args...);
  return nullptr;
}

inline bool isFloat(int32_t dt) {
  return dt == SY_DTYPE_F32 || dt == SY_DTYPE_F16 || dt == SY_DTYPE_BF16 || dt == SY_DTYPE_F64;
}
inline bool isUnsignedInt(int32_t dt) {
  return dt == SY_DTYPE_U8 || dt == SY_DTYPE_U16 || dt == SY_DTYPE_U32 || dt == SY_DTYPE_U64;
}
inline bool isInt(int32_t dt) {
  return dt == SY_DTYPE_I8 || dt == SY_DTYPE_I16 || dt == SY_DTYPE_I32 || dt == SY_DTYPE_I64 || isUnsignedInt(dt);
}
inline const char* dtName(int32_t dt) { return sdk::dtypeName(dt); }

/// "Dims" as text: [2, 3].
inline std::string dimsStr(const Dims& d) { return sdk::formatDims(d.ref()); }

/// Element count with an overflow check.
inline int64_t checkedCount(const Dims& d, const std::string& who) {
  int64_t n = 1;
  for (int32_t i = 0; i < d.rank; ++i) {
    SY_KCHECK(d.d[i] >= 0, who, "negative dim in ", dimsStr(d));
    // Too large to address is a resource limit (as the core's Tensor says),
    // not a malformed input.
    if (d.d[i] != 0 && n > std::numeric_limits<int64_t>::max() / d.d[i])
      sdk::fail(SY_ERROR_OUT_OF_MEMORY, who, ": shape ", dimsStr(d), " has too many elements");
    n *= d.d[i];
  }
  return n;
}

/// Normalises an axis in [-rank, rank).
inline int64_t normAxis(int64_t axis, int64_t rank, const std::string& who, const char* what = "axis") {
  SY_KCHECK(axis >= -rank && axis < rank, who, what, " ", axis, " is out of range for rank ", rank);
  return axis < 0 ? axis + rank : axis;
}

/// Reads a 1-D/scalar integer (or bool/float) tensor as int64.
std::vector<int64_t> readInts(const Tensor& t);
/// Reads one element as double (any dtype).
double readDouble(const Tensor& t, int64_t i);

/// NumPy broadcast of a and b; throws naming `who` on mismatch.
Dims broadcast(const Dims& a, const Dims& b, const std::string& who);

/// Row-major strides.
inline void rowStrides(const Dims& d, int64_t* s) {
  int64_t acc = 1;
  for (int32_t i = d.rank - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= d.d[i];
  }
}

inline int64_t product(const int64_t* d, int64_t begin, int64_t end) {
  int64_t p = 1;
  for (int64_t i = begin; i < end; ++i) p *= d[i];
  return p;
}

// ============================================================================
// 16-bit floats (round to nearest even; NaN stays NaN)

float halfToFloat(uint16_t h);
uint16_t floatToHalf(float f);
inline float bf16ToFloat(uint16_t b) {
  const uint32_t x = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}
inline uint16_t floatToBf16(float v) {
  uint32_t x;
  std::memcpy(&x, &v, 4);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  x += 0x7FFFu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

/// Converts n elements of a 16-bit float dtype to f32 and back.
void toF32(int32_t dtype, const void* src, float* dst, int64_t n);
void fromF32(int32_t dtype, const float* src, void* dst, int64_t n);

// ============================================================================
// Vectorised f32 math
//
// GCC does not if-convert the range checks of these functions (NaN and
// trapping-math rules), so they are written on GCC/Clang vector types (four
// floats; SSE2 on baseline x86-64, NEON on ARM) instead of relying on
// auto-vectorisation. Absolute error below 2e-7 for erf and a few ulp
// relative for exp, well inside the conformance tolerances for f32.

typedef float V4f __attribute__((vector_size(16)));
typedef int32_t V4i __attribute__((vector_size(16)));

inline V4f splat(float v) { return V4f{v, v, v, v}; }
inline V4f vload(const float* p) {
  V4f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void vstore(float* p, V4f v) { std::memcpy(p, &v, sizeof v); }
inline V4f vselect(V4i mask, V4f a, V4f b) { return reinterpret_cast<V4f>((mask & reinterpret_cast<V4i>(a)) | (~mask & reinterpret_cast<V4i>(b))); }
inline V4f vabs(V4f x) { return reinterpret_cast<V4f>(reinterpret_cast<V4i>(x) & 0x7FFFFFFF); }
/// |r| with the sign of s.
inline V4f vcopysign(V4f r, V4f s) {
  return reinterpret_cast<V4f>((reinterpret_cast<V4i>(r) & 0x7FFFFFFF) | (reinterpret_cast<V4i>(s) & static_cast<int32_t>(0x80000000u)));
}

/// e^x: overflow gives inf, results below 1.2e-38 flush to 0, NaN stays NaN.
inline V4f vexp(V4f x) {
  const float hi = 88.7228317f, lo = -87.3365479f;
  V4f xc = vselect(x < lo, splat(lo), x);
  xc = vselect(xc > hi, splat(hi), xc);
  // n = round(x / ln 2) by the 1.5 * 2^23 trick; r = x - n ln 2 in two steps (Cody-Waite).
  const V4f n = (xc * 1.44269504f + 12582912.0f) - 12582912.0f;
  V4f r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  V4f y = splat(1.9875691500e-4f);
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  // 2^n as 2^(n-1) * 2 so that n = 128 (x just below ln FLT_MAX) stays finite.
  const V4i e = __builtin_convertvector(n, V4i) + 126;
  V4f res = (y * reinterpret_cast<V4f>(e << 23)) * 2.0f;
  res = vselect(x > hi, splat(std::numeric_limits<float>::infinity()), res);
  res = vselect(x < lo, splat(0.0f), res);
  return vselect(x != x, x, res);
}

/// 1 / (1 + e^-x) without overflow.
inline V4f vsigmoid(V4f x) {
  const V4f e = vexp(-vabs(x));
  const V4f s = 1.0f / (1.0f + e);
  return vselect(x >= 0.0f, s, e * s);
}

inline V4f vtanh(V4f x) {
  const V4f t = vexp(-2.0f * vabs(x));
  return vselect(x != x, x, vcopysign((1.0f - t) / (1.0f + t), x));
}

/// erf (Abramowitz & Stegun 7.1.26, absolute error < 1.5e-7).
inline V4f verf(V4f x) {
  const V4f a = vabs(x);
  const V4f t = 1.0f / (1.0f + 0.3275911f * a);
  V4f p = splat(1.061405429f);
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const V4f r = 1.0f - p * t * vexp(-a * a);
  return vselect(x != x, x, vcopysign(r, x));
}

/// y[i] = f(x[i]) four at a time (the tail through a padded block). x and y may be equal.
template <class F>
inline void mapV4(const float* x, float* y, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vstore(y + i, f(vload(x + i)));
  if (i < n) {
    float in[4] = {0, 0, 0, 0}, out[4];
    std::memcpy(in, x + i, static_cast<size_t>(n - i) * sizeof(float));
    vstore(out, f(vload(in)));
    std::memcpy(y + i, out, static_cast<size_t>(n - i) * sizeof(float));
  }
}

inline float fastExp(float x) { return vexp(splat(x))[0]; }

/// Largest (IsMax) or smallest of n floats (-inf / +inf for n = 0); NaN when any is NaN.
template <bool IsMax = true>
inline float rowExtreme(const float* x, int64_t n) {
  constexpr float init = IsMax ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
  V4f m = splat(init);
  V4i nan = V4i{0, 0, 0, 0};
  int64_t k = 0;
  for (; k + 4 <= n; k += 4) {
    const V4f v = vload(x + k);
    if constexpr (IsMax) m = vselect(v > m, v, m);
    else m = vselect(v < m, v, m);
    nan |= v != v;
  }
  float r = init;
  bool anyNan = (nan[0] | nan[1] | nan[2] | nan[3]) != 0;
  for (int j = 0; j < 4; ++j) r = IsMax ? (m[j] > r ? m[j] : r) : (m[j] < r ? m[j] : r);
  for (; k < n; ++k) {
    r = IsMax ? (x[k] > r ? x[k] : r) : (x[k] < r ? x[k] : r);
    anyNan = anyNan || x[k] != x[k];
  }
  return anyNan ? std::numeric_limits<float>::quiet_NaN() : r;
}
inline float rowMax(const float* x, int64_t n) { return rowExtreme<true>(x, n); }

/// Sum of n floats of one sign (no cancellation): f32 lanes over blocks of 256, blocks in double.
inline double rowSumPositive(const float* x, int64_t n) {
  const int64_t n4 = n & ~int64_t{3};
  double s = 0;
  int64_t k = 0;
  while (k < n4) {
    V4f acc = splat(0.0f);
    for (const int64_t end = std::min(n4, k + 256); k < end; k += 4) acc += vload(x + k);
    s += (static_cast<double>(acc[0]) + acc[1]) + (static_cast<double>(acc[2]) + acc[3]);
  }
  for (; k < n; ++k) s += x[k];
  return s;
}

// ============================================================================
// Strided loops
//
// A LoopPlan describes K operands (operand 0 is usually the output) walked
// together over one index space, each with its own element strides (0 for a
// broadcast dim, negative for a reversed slice). Adjacent dims that are
// contiguous for every operand are merged, so the innermost dim is as long
// as possible; the kernels then specialise the innermost loop on its strides.

constexpr int kMaxLoopRank = 2 * SY_MAX_RANK;

template <int K>
struct LoopPlan {
  int rank = 0;
  int64_t dims[kMaxLoopRank] = {};
  int64_t strides[K][kMaxLoopRank] = {};

  int64_t count() const {
    int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= dims[i];
    return n;
  }
  /// Appends a dim (outermost first).
  void push(int64_t d, const int64_t* s) {
    dims[rank] = d;
    for (int k = 0; k < K; ++k) strides[k][rank] = s[k];
    ++rank;
  }
  /// Drops size-1 dims and merges contiguous neighbours; a rank-0 plan gets one dim of 1.
  void simplify() {
    for (int i = 0; i < rank; ++i)
      if (dims[i] == 0) {  // an empty dim makes the whole loop empty
        dims[0] = 0;
        for (int k = 0; k < K; ++k) strides[k][0] = 0;
        rank = 1;
        return;
      }
    int r = 0;
    for (int i = 0; i < rank; ++i) {
      if (dims[i] == 1) continue;
      if (r > 0) {
        bool merge = true;
        for (int k = 0; k < K; ++k) merge = merge && strides[k][r - 1] == strides[k][i] * dims[i];
        if (merge) {
          dims[r - 1] *= dims[i];
          for (int k = 0; k < K; ++k) strides[k][r - 1] = strides[k][i];
          continue;
        }
      }
      dims[r] = dims[i];
      for (int k = 0; k < K; ++k) strides[k][r] = strides[k][i];
      ++r;
    }
    if (r == 0) {
      dims[0] = 1;
      for (int k = 0; k < K; ++k) strides[k][0] = 0;
      r = 1;
    }
    rank = r;
  }
};

/// Strides of `in` (right-aligned, broadcast dims get 0) against the output dims.
inline void broadcastStrides(const Dims& in, const Dims& out, int64_t* s) {
  int64_t dense[SY_MAX_RANK];
  rowStrides(in, dense);
  const int off = out.rank - in.rank;
  for (int i = 0; i < out.rank; ++i) {
    const int j = i - off;
    s[i] = (j < 0 || in.d[j] == 1) ? 0 : dense[j];
  }
}

/// Builds a plan for an output of `out` dims (dense) and K-1 inputs broadcast to it.
template <int K>
LoopPlan<K> broadcastPlan(const Dims& out, const Dims* const* ins) {
  LoopPlan<K> p;
  int64_t st[K][SY_MAX_RANK];
  rowStrides(out, st[0]);
  for (int k = 1; k < K; ++k) broadcastStrides(*ins[k - 1], out, st[k]);
  for (int i = 0; i < out.rank; ++i) {
    int64_t s[K];
    for (int k = 0; k < K; ++k) s[k] = st[k][i];
    p.push(out.d[i], s);
  }
  p.simplify();
  return p;
}

/// Calls row(offsets[K], n) for every innermost row of the plan (offsets in
/// elements, n = the innermost extent), rows split across the pool.
template <int K, class Row>
void forEachRow(const LoopPlan<K>& p, const Exec& exec, Row row, int64_t grainElements = 16384) {
  const int64_t inner = p.dims[p.rank - 1];
  if (inner == 0) return;
  int64_t rows = 1;
  for (int i = 0; i < p.rank - 1; ++i) rows *= p.dims[i];
  if (rows == 0) return;
  if (rows < 2 * exec.threads() && inner >= 2 * grainElements) {
    // Few long rows: split each row into pieces so that every thread gets work.
    const int64_t pieces = std::min<int64_t>((inner + grainElements - 1) / grainElements, 4 * exec.threads());
    const int64_t len = (inner + pieces - 1) / pieces;
    parallelFor(exec, rows * pieces, 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        int64_t rem = t / pieces;
        const int64_t from = (t % pieces) * len, n = std::min(inner, from + len) - from;
        if (n <= 0) continue;
        int64_t off[K];
        for (int k = 0; k < K; ++k) off[k] = from * p.strides[k][p.rank - 1];
        for (int i = p.rank - 2; i >= 0; --i) {
          const int64_t c = rem % p.dims[i];
          rem /= p.dims[i];
          for (int k = 0; k < K; ++k) off[k] += c * p.strides[k][i];
        }
        row(off, n);
      }
    });
    return;
  }
  const int64_t grain = std::max<int64_t>(1, grainElements / std::max<int64_t>(inner, 1));
  parallelFor(exec, rows, grain, [&](int64_t begin, int64_t end) {
    int64_t coord[kMaxLoopRank];
    int64_t off[K];
    // Unravel `begin` over the outer dims.
    int64_t rem = begin;
    for (int k = 0; k < K; ++k) off[k] = 0;
    for (int i = p.rank - 2; i >= 0; --i) {
      coord[i] = rem % p.dims[i];
      rem /= p.dims[i];
      for (int k = 0; k < K; ++k) off[k] += coord[i] * p.strides[k][i];
    }
    for (int64_t r = begin; r < end; ++r) {
      row(off, inner);
      for (int i = p.rank - 2; i >= 0; --i) {
        for (int k = 0; k < K; ++k) off[k] += p.strides[k][i];
        if (++coord[i] < p.dims[i]) break;
        for (int k = 0; k < K; ++k) off[k] -= p.strides[k][i] * p.dims[i];
        coord[i] = 0;
      }
    }
  });
}

/// Copies elements of `esize` bytes: dst is dense over the plan's dims
/// (operand 0 strides) and src is read at operand 1 strides, from base pointers.
void stridedCopy(const LoopPlan<2>& p, char* dst, const char* src, size_t esize, const Exec& exec);

/// Copies n bytes, split across the pool when large.
void parallelCopy(void* dst, const void* src, size_t bytes, const Exec& exec);

/// A dense tensor's element `i` pointer.
inline char* bytePtr(const Tensor& t, int64_t i) {
  return static_cast<char*>(t.data) + i * static_cast<int64_t>(sdk::dtypeSize(t.dtype));
}

// ============================================================================
// Typed dispatch

/// Calls f(T{}) with T the C++ type of `dtype` among f32, i8, i32, i64 and
/// bool (as uint8_t); returns false for another dtype.
template <class F>
bool dispatchStd(int32_t dtype, F&& f) {
  switch (dtype) {
    case SY_DTYPE_F32: f(float{}); return true;
    case SY_DTYPE_I8: f(int8_t{}); return true;
    case SY_DTYPE_I32: f(int32_t{}); return true;
    case SY_DTYPE_I64: f(int64_t{}); return true;
    case SY_DTYPE_BOOL: f(uint8_t{}); return true;
    default: return false;
  }
}

/// Calls f(T{}) for f32, i8, i32 or i64.
template <class F>
bool dispatchNumeric(int32_t dtype, F&& f) {
  switch (dtype) {
    case SY_DTYPE_F32: f(float{}); return true;
    case SY_DTYPE_I8: f(int8_t{}); return true;
    case SY_DTYPE_I32: f(int32_t{}); return true;
    case SY_DTYPE_I64: f(int64_t{}); return true;
    default: return false;
  }
}

/// Calls f(T{}) for the integer dtypes of ABI 1.2 (u8, i16, u16, u32, u64).
template <class F>
bool dispatchNewInt(int32_t dtype, F&& f) {
  switch (dtype) {
    case SY_DTYPE_U8: f(uint8_t{}); return true;
    case SY_DTYPE_I16: f(int16_t{}); return true;
    case SY_DTYPE_U16: f(uint16_t{}); return true;
    case SY_DTYPE_U32: f(uint32_t{}); return true;
    case SY_DTYPE_U64: f(uint64_t{}); return true;
    default: return false;
  }
}

/// Calls f(T{}) for every numeric dtype but the 16-bit floats: f32, f64 and
/// all integers (not bool).
template <class F>
bool dispatchAllNumeric(int32_t dtype, F&& f) {
  if (dtype == SY_DTYPE_F64) {
    f(double{});
    return true;
  }
  return dispatchNumeric(dtype, f) || dispatchNewInt(dtype, f);
}

/// Wrapping integer arithmetic in T (no signed overflow).
template <class T>
inline T wrapAdd(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
}
template <class T>
inline T wrapSub(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(static_cast<U>(a) - static_cast<U>(b)));
}
template <class T>
inline T wrapMul(T a, T b) {
  using U = std::conditional_t<(sizeof(T) < 4), uint32_t, std::make_unsigned_t<T>>;
  return static_cast<T>(static_cast<U>(static_cast<U>(a) * static_cast<U>(b)));
}
template <class T>
inline T wrapNeg(T a) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(U{0} - static_cast<U>(a)));
}

/// A kernel whose output shapes are fixed at compile time is rare; most
/// kernels implement outputShapes themselves. This base stores the node's
/// description for messages.
class KernelBase : public Kernel {
 public:
  explicit KernelBase(const OpDesc& d) : who_(d.describe()) {}

 protected:
  /// Checks the number of inputs/outputs a call passes.
  void checkArity(size_t numInputs, size_t minInputs, size_t numOutputs, size_t wantOutputs) const {
    SY_KCHECK(numInputs >= minInputs, who_, "got ", numInputs, " inputs, expected at least ", minInputs);
    SY_KCHECK(numOutputs == wantOutputs, who_, "got ", numOutputs, " outputs, expected ", wantOutputs);
  }
  std::string who_;
};

// ============================================================================
// Factories (one per op), defined in the kernels/*.cpp files.

#define SY_CPU_FACTORY(name) std::unique_ptr<Kernel> name(const OpDesc& d, std::string& whyNot)

// elementwise.cpp
SY_CPU_FACTORY(makeUnary);     // abs ceil cos erf exp floor gelu leaky_relu log neg reciprocal relu round rsqrt
                               // sigmoid sign silu sin sqrt tanh clip logical_not
SY_CPU_FACTORY(makeBinary);    // add sub mul div pow mod maximum minimum, comparisons, logical_*
SY_CPU_FACTORY(makeWhere);
SY_CPU_FACTORY(makeCast);
// reduce.cpp
SY_CPU_FACTORY(makeReduce);    // reduce_*
SY_CPU_FACTORY(makeArg);       // argmax argmin
SY_CPU_FACTORY(makeSoftmax);   // softmax log_softmax
// indexing.cpp
SY_CPU_FACTORY(makeCumSum);
SY_CPU_FACTORY(makeGatherElements);
SY_CPU_FACTORY(makeScatterElements);
SY_CPU_FACTORY(makeGatherND);
SY_CPU_FACTORY(makeScatterND);
// dynamic.cpp
SY_CPU_FACTORY(makeTopK);
SY_CPU_FACTORY(makeNonZero);
SY_CPU_FACTORY(makeCompress);
SY_CPU_FACTORY(makeUnique);
SY_CPU_FACTORY(makeNonMaxSuppression);
SY_CPU_FACTORY(makeRoiAlign);
// norm.cpp
SY_CPU_FACTORY(makeBatchNorm);
SY_CPU_FACTORY(makeLayerNorm);
SY_CPU_FACTORY(makeInstanceNorm);
// shape.cpp
SY_CPU_FACTORY(makeReshapeLike);  // reshape flatten squeeze unsqueeze identity
SY_CPU_FACTORY(makeTranspose);
SY_CPU_FACTORY(makeConcat);
SY_CPU_FACTORY(makeSplit);
SY_CPU_FACTORY(makeSlice);
SY_CPU_FACTORY(makeGather);
SY_CPU_FACTORY(makeExpand);
SY_CPU_FACTORY(makeTile);
SY_CPU_FACTORY(makePad);
SY_CPU_FACTORY(makeShape);
SY_CPU_FACTORY(makeRange);
SY_CPU_FACTORY(makeConstantOfShape);
SY_CPU_FACTORY(makeResize);
// grid_sample.cpp
SY_CPU_FACTORY(makeGridSample);
// nn.cpp
SY_CPU_FACTORY(makeMatmul);
SY_CPU_FACTORY(makeGemm);
SY_CPU_FACTORY(makeConv);
SY_CPU_FACTORY(makeConvTranspose);
SY_CPU_FACTORY(makePool);        // max_pool avg_pool
SY_CPU_FACTORY(makeGlobalPool);  // global_max_pool global_avg_pool
// recurrent.cpp
SY_CPU_FACTORY(makeRecurrent);  // lstm gru rnn
// quant.cpp
SY_CPU_FACTORY(makeQuant);  // quantize_linear dequantize_linear dynamic_quantize_linear matmul_integer conv_integer

/// C[M, N] (+)= A[M, K] * B[K, N] in f32 with leading dimensions; when
/// `accumulate` is false C is overwritten. Parallel over tiles when exec is given.
void sgemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
           int64_t ldc, bool accumulate, const Exec* exec);

}  // namespace sy::kernels::detail
