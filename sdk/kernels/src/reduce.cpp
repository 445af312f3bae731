// Reductions (reduce_sum/mean/max/min/prod), argmax/argmin, softmax and
// log_softmax.
//
// Every reduction is done as passes over a [O, R, I] view (R reduced, I kept
// and innermost): after merging adjacent dims of the same kind, the innermost
// reduced group is reduced first, into an accumulator buffer, until none is
// left. Floats accumulate sum/mean/prod in double (like the reference), ints
// (unsigned too) in uint64 (wrapping), max/min in the element type with NaN
// propagating; f64 is computed in double throughout.
#include <array>

#include "common.h"

namespace sy::kernels::detail {
namespace {

enum class RK { Sum, Mean, Max, Min, Prod };

template <class Acc, class Src, RK K>
struct RedOp {
  static Acc init() {
    if constexpr (K == RK::Prod) return Acc(1);
    else if constexpr (K == RK::Max)
      return std::is_floating_point_v<Acc> ? -std::numeric_limits<Acc>::infinity() : std::numeric_limits<Acc>::lowest();
    else if constexpr (K == RK::Min)
      return std::is_floating_point_v<Acc> ? std::numeric_limits<Acc>::infinity() : std::numeric_limits<Acc>::max();
    else return Acc(0);
  }
  static Acc apply(Acc a, Src v) {
    if constexpr (K == RK::Sum || K == RK::Mean) return a + static_cast<Acc>(v);
    else if constexpr (K == RK::Prod) return a * static_cast<Acc>(v);
    else if constexpr (K == RK::Max) {
      if constexpr (std::is_floating_point_v<Acc>) return (v > a || v != v) ? static_cast<Acc>(v) : a;
      else return v > a ? static_cast<Acc>(v) : a;
    } else {
      if constexpr (std::is_floating_point_v<Acc>) return (v < a || v != v) ? static_cast<Acc>(v) : a;
      else return v < a ? static_cast<Acc>(v) : a;
    }
  }
};

/// dst[o, i] = reduce_r src[o, r, i].
template <class Acc, class Src, RK K>
void reduceORI(const Src* src, Acc* dst, int64_t O, int64_t R, int64_t I, const Exec& exec) {
  using Op = RedOp<Acc, Src, K>;
  if (I == 1) {
    parallelFor(exec, O, std::max<int64_t>(1, 16384 / std::max<int64_t>(R, 1)), [=](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const Src* s = src + o * R;
        if constexpr ((K == RK::Max || K == RK::Min) && std::is_same_v<Src, float> && std::is_same_v<Acc, float>) {
          dst[o] = rowExtreme<K == RK::Max>(s, R);
        } else if constexpr (K == RK::Sum || K == RK::Mean) {
          // Four partial sums: lets the loop pipeline without changing Acc's precision.
          Acc a0 = 0, a1 = 0, a2 = 0, a3 = 0;
          int64_t r = 0;
          for (; r + 4 <= R; r += 4) {
            a0 += static_cast<Acc>(s[r]);
            a1 += static_cast<Acc>(s[r + 1]);
            a2 += static_cast<Acc>(s[r + 2]);
            a3 += static_cast<Acc>(s[r + 3]);
          }
          for (; r < R; ++r) a0 += static_cast<Acc>(s[r]);
          dst[o] = (a0 + a1) + (a2 + a3);
        } else {
          Acc a = Op::init();
          for (int64_t r = 0; r < R; ++r) a = Op::apply(a, s[r]);
          dst[o] = a;
        }
      }
    });
    return;
  }
  constexpr int64_t TI = 512;
  const int64_t tiles = (I + TI - 1) / TI;
  parallelFor(exec, O * tiles, std::max<int64_t>(1, 16384 / std::max<int64_t>(R * std::min(I, TI), 1)),
                   [=](int64_t b, int64_t e) {
                     for (int64_t t = b; t < e; ++t) {
                       const int64_t o = t / tiles, i0 = (t % tiles) * TI, i1 = std::min(I, i0 + TI);
                       Acc* a = dst + o * I;
                       for (int64_t i = i0; i < i1; ++i) a[i] = Op::init();
                       for (int64_t r = 0; r < R; ++r) {
                         const Src* s = src + (o * R + r) * I;
                         for (int64_t i = i0; i < i1; ++i) a[i] = Op::apply(a[i], s[i]);
                       }
                     }
                   });
}

/// Which dims a reduction reduces (the first `rank` entries).
using AxisMask = std::array<bool, SY_MAX_RANK>;

/// Runs of adjacent dims of one kind (size, reduced), at most one a dim:
/// on the stack, as this is made on every call.
struct ReduceGroups {
  std::array<std::pair<int64_t, bool>, SY_MAX_RANK> g{};
  size_t n = 0;
  size_t size() const { return n; }
  bool empty() const { return n == 0; }
  std::pair<int64_t, bool>& back() { return g[n - 1]; }
  std::pair<int64_t, bool>& operator[](size_t i) { return g[i]; }
  void emplace_back(int64_t size, bool reduced) { g[n++] = {size, reduced}; }
  void erase(size_t j) {
    for (size_t k = j; k + 1 < n; ++k) g[k] = g[k + 1];
    --n;
  }
};

struct ReducePlanAttrs {
  RK kind;
  std::vector<int64_t> axes;
  bool keepdims = true;
  bool noop = false;
};

class ReduceKernel final : public KernelBase {
 public:
  ReduceKernel(const OpDesc& d, ReducePlanAttrs a) : KernelBase(d), a_(std::move(a)), dtype_(d.in[0]) {}

  /// The axes of this call: the optional run-time input 1 (i32/i64, 1-D) when
  /// given (read into `storage`), else the attribute (no copy: this runs on
  /// every call).
  const std::vector<int64_t>& axesOf(const Tensor* in, size_t ni, std::vector<int64_t>& storage) const {
    if (ni < 2 || in[1].dtype < 0) return a_.axes;  // absent: dtype -1
    SY_KCHECK(in[1].dtype == SY_DTYPE_I64 || in[1].dtype == SY_DTYPE_I32, who_, "axes must be i32 or i64, got ",
              dtName(in[1].dtype));
    SY_KCHECK(in[1].dims.rank <= 1, who_, "axes must be 1-D, got ", dimsStr(in[1].dims));
    storage = readInts(in[1]);
    return storage;
  }
  /// Reduced-axis mask for this rank (all when axes is empty).
  AxisMask mask(int32_t rank, const std::vector<int64_t>& axes) const {
    AxisMask m{};
    for (int32_t i = 0; i < rank; ++i) m[static_cast<size_t>(i)] = axes.empty();
    for (int64_t ax : axes) {
      const int64_t n = normAxis(ax, rank, who_);
      SY_KCHECK(!m[static_cast<size_t>(n)], who_, "axis ", ax, " is repeated");
      m[static_cast<size_t>(n)] = true;
    }
    return m;
  }
  bool identity(const std::vector<int64_t>& axes) const { return axes.empty() && a_.noop; }

  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 1, no, 1);
    const Dims& x = in[0].dims;
    std::vector<int64_t> storage;
    const std::vector<int64_t>& axes = axesOf(in, ni, storage);
    if (identity(axes)) {
      out[0] = x;
      return;
    }
    const AxisMask m = mask(x.rank, axes);
    Dims o;
    bool outEmpty = false;
    int64_t count = 1;
    for (int i = 0; i < x.rank; ++i) {
      if (m[i]) {
        count *= x.d[i];
        if (a_.keepdims) o.d[o.rank++] = 1;
      } else {
        outEmpty = outEmpty || x.d[i] == 0;
        o.d[o.rank++] = x.d[i];
      }
    }
    if (count == 0 && !outEmpty && !isFloat(dtype_) && a_.kind != RK::Sum && a_.kind != RK::Prod)
      failArg(who_, "cannot reduce zero elements of integer type ", dtName(dtype_), " (input ", dimsStr(x), ")");
    out[0] = o;
  }

  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    std::vector<int64_t> storage;
    const std::vector<int64_t>& axes = axesOf(in, ni, storage);
    if (identity(axes)) {
      parallelCopy(out[0].data, in[0].data, static_cast<size_t>(in[0].numElements()) * sdk::dtypeSize(dtype_), exec);
      return;
    }
    const AxisMask m = mask(in[0].dims.rank, axes);
    switch (dtype_) {
      case SY_DTYPE_F32: runKind<float, double, float>(in[0], out[0], m, exec); break;
      case SY_DTYPE_I8: runKind<int8_t, uint64_t, int8_t>(in[0], out[0], m, exec); break;
      case SY_DTYPE_I32: runKind<int32_t, uint64_t, int32_t>(in[0], out[0], m, exec); break;
      case SY_DTYPE_I64: runKind<int64_t, uint64_t, int64_t>(in[0], out[0], m, exec); break;
      case SY_DTYPE_F64: runKind<double, double, double>(in[0], out[0], m, exec); break;
      default:
        if (!dispatchNewInt(dtype_, [&](auto tag) {
              using T = decltype(tag);
              runKind<T, uint64_t, T>(in[0], out[0], m, exec);
            }))
          failArg(who_, "unsupported dtype ", dtName(dtype_));
    }
  }

 private:
  template <class T, class SumAcc, class MaxAcc>
  void runKind(const Tensor& x, const Tensor& y, const AxisMask& m, const Exec& exec) const {
    switch (a_.kind) {
      case RK::Sum: runT<T, SumAcc, RK::Sum>(x, y, m, exec); break;
      case RK::Mean: runT<T, SumAcc, RK::Mean>(x, y, m, exec); break;
      case RK::Prod: runT<T, SumAcc, RK::Prod>(x, y, m, exec); break;
      case RK::Max: runT<T, MaxAcc, RK::Max>(x, y, m, exec); break;
      case RK::Min: runT<T, MaxAcc, RK::Min>(x, y, m, exec); break;
    }
  }

  template <class T, class Acc, RK K>
  void runT(const Tensor& x, const Tensor& y, const AxisMask& m, const Exec& exec) const {
    const int64_t nOut = y.numElements();
    if (nOut == 0) return;
    // Groups of adjacent dims of one kind (size-1 dims dropped).
    ReduceGroups groups;
    int64_t count = 1;
    for (int i = 0; i < x.dims.rank; ++i) {
      const int64_t d = x.dims.d[i];
      if (m[i]) count *= d;
      if (d == 1) continue;
      if (!groups.empty() && groups.back().second == m[i]) groups.back().first *= d;
      else groups.emplace_back(d, m[i]);
    }
    T* out = y.as<T>();
    auto finish = [&](const Acc* acc) {
      parallelFor(exec, nOut, 16384, [=](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          if constexpr (std::is_floating_point_v<T>) {
            if constexpr (K == RK::Mean)
              out[i] = count == 0 ? std::numeric_limits<T>::quiet_NaN()
                                  : static_cast<T>(static_cast<double>(acc[i]) / static_cast<double>(count));
            else out[i] = static_cast<T>(acc[i]);
          } else {
            if constexpr (K == RK::Mean && std::is_unsigned_v<T>)
              out[i] = static_cast<T>(static_cast<T>(acc[i]) / static_cast<uint64_t>(count));
            else if constexpr (K == RK::Mean) out[i] = static_cast<T>(static_cast<int64_t>(acc[i]) / count);
            else out[i] = static_cast<T>(static_cast<int64_t>(acc[i]));
          }
        }
      });
    };
    if (count == 0) {
      SY_KCHECK(isFloat(dtype_) || K == RK::Sum || K == RK::Prod, who_, "cannot reduce zero elements of integer type ",
            dtName(dtype_));
      std::vector<Acc> acc(static_cast<size_t>(nOut), RedOp<Acc, T, K>::init());
      finish(acc.data());
      return;
    }
    // First pass reads T, later passes read Acc.
    std::vector<Acc> cur, next;
    bool first = true;
    auto innermostReduced = [&]() {
      for (size_t j = groups.size(); j-- > 0;)
        if (groups[j].second) return static_cast<int64_t>(j);
      return int64_t{-1};
    };
    int64_t j = innermostReduced();
    if (j < 0) {  // nothing to reduce (all reduced dims have size 1)
      cur.resize(static_cast<size_t>(nOut));
      const T* src = x.as<const T>();
      for (int64_t i = 0; i < nOut; ++i) cur[i] = RedOp<Acc, T, K>::apply(RedOp<Acc, T, K>::init(), src[i]);
      finish(cur.data());
      return;
    }
    while (j >= 0) {
      int64_t O = 1, I = 1;
      for (int64_t k = 0; k < j; ++k) O *= groups[k].first;
      for (size_t k = j + 1; k < groups.size(); ++k) I *= groups[k].first;
      const int64_t R = groups[j].first;
      next.resize(static_cast<size_t>(O * I));
      if (first) reduceORI<Acc, T, K>(x.as<const T>(), next.data(), O, R, I, exec);
      else reduceORI<Acc, Acc, K>(cur.data(), next.data(), O, R, I, exec);
      first = false;
      std::swap(cur, next);
      groups.erase(static_cast<size_t>(j));
      // Merge kept neighbours that became adjacent.
      if (j > 0 && static_cast<size_t>(j) < groups.size() && !groups[j - 1].second && !groups[j].second) {
        groups[j - 1].first *= groups[j].first;
        groups.erase(static_cast<size_t>(j));
      }
      j = innermostReduced();
    }
    finish(cur.data());
  }

  ReducePlanAttrs a_;
  int32_t dtype_;
};

// ============================================================================
// argmax / argmin

template <class T>
bool better(T v, T b, bool isMax, bool last) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(b)) return last && std::isnan(v);
    if (std::isnan(v)) return true;
  }
  if (v == b) return last;
  return isMax ? v > b : v < b;
}

class ArgKernel final : public KernelBase {
 public:
  ArgKernel(const OpDesc& d, bool isMax) : KernelBase(d), isMax_(isMax), dtype_(d.in[0]) {
    axis_ = d.node.attrInt("axis", 0);
    keepdims_ = d.node.attrInt("keepdims", 1);
    last_ = d.node.attrInt("select_last_index", 0);
    SY_KCHECK(keepdims_ == 0 || keepdims_ == 1, who_, "keepdims must be 0 or 1");
    SY_KCHECK(last_ == 0 || last_ == 1, who_, "select_last_index must be 0 or 1");
  }
  int64_t axisFor(int32_t rank) const {
    if (rank == 0 && (axis_ == 0 || axis_ == -1)) return 0;
    return normAxis(axis_, rank, who_);
  }
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 1, no, 1);
    const Dims& x = in[0].dims;
    const int64_t axis = axisFor(x.rank);
    Dims o;
    for (int i = 0; i < x.rank; ++i) {
      if (i != axis) o.d[o.rank++] = x.d[i];
      else {
        SY_KCHECK(x.d[i] != 0, who_, "axis ", axis, " of ", dimsStr(x), " is empty");
        if (keepdims_) o.d[o.rank++] = 1;
      }
    }
    out[0] = o;
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    dispatchAllNumeric(dtype_, [&](auto tag) { runT<decltype(tag)>(in[0], out[0], exec); });
  }

 private:
  template <class T>
  void runT(const Tensor& x, const Tensor& y, const Exec& exec) const {
    const int rank = x.dims.rank;
    const int64_t axis = axisFor(rank);
    const int64_t L = rank == 0 ? 1 : x.dims.d[axis];
    const int64_t O = rank == 0 ? 1 : product(x.dims.d, 0, axis);
    const int64_t I = rank == 0 ? 1 : product(x.dims.d, axis + 1, rank);
    if (O * I == 0) return;
    const T* src = x.as<const T>();
    int64_t* dst = y.as<int64_t>();
    const bool isMax = isMax_, last = last_ != 0;
    if (I == 1) {
      // Contiguous rows: find the extreme value (vectorised), then its first / last index.
      parallelFor(exec, O, std::max<int64_t>(1, 16384 / std::max<int64_t>(L, 1)), [=](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) {
          const T* s = src + o * L;
          T ext;
          if constexpr (std::is_same_v<T, float>) {
            ext = isMax ? rowExtreme<true>(s, L) : rowExtreme<false>(s, L);
          } else {
            ext = s[0];
            for (int64_t k = 1; k < L; ++k) ext = isMax ? (s[k] > ext ? s[k] : ext) : (s[k] < ext ? s[k] : ext);
          }
          // NaN (floats) wins and compares unequal to itself: look for a NaN then.
          const bool nan = ext != ext;
          int64_t best = 0;
          if (last) {
            for (int64_t k = L; k-- > 0;)
              if (nan ? s[k] != s[k] : s[k] == ext) {
                best = k;
                break;
              }
          } else {
            for (int64_t k = 0; k < L; ++k)
              if (nan ? s[k] != s[k] : s[k] == ext) {
                best = k;
                break;
              }
          }
          dst[o] = best;
        }
      });
      return;
    }
    parallelFor(exec, O * I, std::max<int64_t>(1, 16384 / std::max<int64_t>(L, 1)), [=](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t o = t / I, i = t % I;
        const T* s = src + o * L * I + i;
        int64_t best = 0;
        T bv = s[0];
        for (int64_t k = 1; k < L; ++k) {
          const T v = s[k * I];
          if (better(v, bv, isMax, last)) {
            best = k;
            bv = v;
          }
        }
        dst[t] = best;
      }
    });
  }

  bool isMax_;
  int32_t dtype_;
  int64_t axis_, keepdims_, last_;
};

// ============================================================================
// softmax / log_softmax

/// What softmax and log_softmax share whatever the dtype: the axis (rank 0
/// takes axis 0 or -1) and the output shape (the input's).
class SoftmaxBase : public KernelBase {
 public:
  SoftmaxBase(const OpDesc& d, bool isLog) : KernelBase(d), isLog_(isLog), axis_(d.node.attrInt("axis", -1)) {}
  int64_t axisFor(int32_t rank) const {
    if (rank == 0 && (axis_ == 0 || axis_ == -1)) return 0;
    return normAxis(axis_, rank, who_);
  }
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 1, no, 1);
    axisFor(in[0].dims.rank);
    out[0] = in[0].dims;
  }

 protected:
  bool isLog_;
  int64_t axis_;
};

class SoftmaxKernel final : public SoftmaxBase {
 public:
  using SoftmaxBase::SoftmaxBase;
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    const Dims& xd = in[0].dims;
    const int rank = xd.rank;
    const int64_t axis = axisFor(rank);
    const int64_t L = rank == 0 ? 1 : xd.d[axis];
    const int64_t O = rank == 0 ? 1 : product(xd.d, 0, axis);
    const int64_t I = rank == 0 ? 1 : product(xd.d, axis + 1, rank);
    if (O * I * L == 0) return;
    const float* x = in[0].as<const float>();
    float* y = out[0].as<float>();
    const bool isLog = isLog_;
    if (I == 1) {
      parallelFor(exec, O, std::max<int64_t>(1, 8192 / L), [=](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) row(x + o * L, y + o * L, L, isLog);
      });
      return;
    }
    constexpr int64_t TI = 256;
    const int64_t tiles = (I + TI - 1) / TI;
    parallelFor(exec, O * tiles, std::max<int64_t>(1, 8192 / (L * std::min(I, TI))), [=](int64_t b, int64_t e) {
      float m[TI], ev[TI];
      double sum[TI];
      for (int64_t t = b; t < e; ++t) {
        const int64_t o = t / tiles, i0 = (t % tiles) * TI, n = std::min(I, i0 + TI) - i0;
        const float* xs = x + o * L * I + i0;
        float* ys = y + o * L * I + i0;
        for (int64_t i = 0; i < n; ++i) {
          m[i] = -std::numeric_limits<float>::infinity();
          sum[i] = 0;
        }
        for (int64_t k = 0; k < L; ++k)
          for (int64_t i = 0; i < n; ++i) {
            const float v = xs[k * I + i];
            const float cm = m[i];
            if (cm == cm && (v > cm || v != v)) m[i] = v;  // NaN, once seen, stays
          }
        for (int64_t k = 0; k < L; ++k) {
          for (int64_t i = 0; i < n; ++i) ev[i] = xs[k * I + i] - m[i];
          mapV4(ev, ev, n, [](V4f v) { return vexp(v); });
          for (int64_t i = 0; i < n; ++i) sum[i] += ev[i];
          if (!isLog)
            for (int64_t i = 0; i < n; ++i) ys[k * I + i] = ev[i];
        }
        if (isLog) {
          for (int64_t i = 0; i < n; ++i) sum[i] = std::log(sum[i]);
          for (int64_t k = 0; k < L; ++k)
            for (int64_t i = 0; i < n; ++i)
              ys[k * I + i] = static_cast<float>(static_cast<double>(xs[k * I + i]) - m[i] - sum[i]);
        } else {
          for (int64_t i = 0; i < n; ++i) sum[i] = 1.0 / sum[i];
          for (int64_t k = 0; k < L; ++k)
            for (int64_t i = 0; i < n; ++i) ys[k * I + i] = static_cast<float>(ys[k * I + i] * sum[i]);
        }
      }
    });
  }

 private:
  static void row(const float* x, float* y, int64_t L, bool isLog) {
    const float m = rowMax(x, L);
    mapV4(x, y, L, [m](V4f v) { return vexp(v - m); });
    const double sum = rowSumPositive(y, L);
    if (isLog) {
      const double shift = static_cast<double>(m) + std::log(sum);
      for (int64_t j = 0; j < L; ++j) y[j] = static_cast<float>(static_cast<double>(x[j]) - shift);
    } else {
      const auto inv = static_cast<float>(1.0 / sum);
      for (int64_t j = 0; j < L; ++j) y[j] *= inv;
    }
  }
};

/// f64 softmax / log_softmax, in double with libm's exp: plain loops over the
/// [O, L, I] view (f64 models are small; accuracy is what matters).
class SoftmaxF64Kernel final : public SoftmaxBase {
 public:
  using SoftmaxBase::SoftmaxBase;
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    const Dims& xd = in[0].dims;
    const int rank = xd.rank;
    const int64_t axis = axisFor(rank);
    const int64_t L = rank == 0 ? 1 : xd.d[axis];
    const int64_t O = rank == 0 ? 1 : product(xd.d, 0, axis);
    const int64_t I = rank == 0 ? 1 : product(xd.d, axis + 1, rank);
    if (O * I * L == 0) return;
    const double* x = in[0].as<const double>();
    double* y = out[0].as<double>();
    const bool isLog = isLog_;
    parallelFor(exec, O * I, std::max<int64_t>(1, 4096 / L), [=](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t o = t / I, i = t % I;
        const double* xs = x + o * L * I + i;
        double* ys = y + o * L * I + i;
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t k = 0; k < L; ++k) {
          const double v = xs[k * I];
          if (m == m && (v > m || v != v)) m = v;  // NaN, once seen, stays
        }
        double sum = 0;
        for (int64_t k = 0; k < L; ++k) {
          const double ev = std::exp(xs[k * I] - m);
          sum += ev;
          if (!isLog) ys[k * I] = ev;
        }
        if (isLog) {
          const double shift = m + std::log(sum);
          for (int64_t k = 0; k < L; ++k) ys[k * I] = xs[k * I] - shift;
        } else {
          for (int64_t k = 0; k < L; ++k) ys[k * I] /= sum;
        }
      }
    });
  }
};

}  // namespace

SY_CPU_FACTORY(makeReduce) {
  const std::string_view op = d.op();
  ReducePlanAttrs a;
  if (op == "reduce_sum") a.kind = RK::Sum;
  else if (op == "reduce_mean") a.kind = RK::Mean;
  else if (op == "reduce_max") a.kind = RK::Max;
  else if (op == "reduce_min") a.kind = RK::Min;
  else a.kind = RK::Prod;
  const int64_t keep = d.node.attrInt("keepdims", 1), noop = d.node.attrInt("noop_with_empty_axes", 0);
  SY_KCHECK(keep == 0 || keep == 1, d.describe(), "keepdims must be 0 or 1, got ", keep);
  SY_KCHECK(noop == 0 || noop == 1, d.describe(), "noop_with_empty_axes must be 0 or 1, got ", noop);
  a.keepdims = keep == 1;
  a.noop = noop == 1;
  a.axes = d.node.attrInts("axes");
  const int32_t dt = d.in[0];
  if (dt != SY_DTYPE_F32 && dt != SY_DTYPE_F64 && !isInt(dt)) return decline(whyNot, d, "not implemented for ", dtName(dt));
  return std::make_unique<ReduceKernel>(d, std::move(a));
}

SY_CPU_FACTORY(makeArg) {
  const int32_t dt = d.in[0];
  if (dt != SY_DTYPE_F32 && dt != SY_DTYPE_F64 && !isInt(dt)) return decline(whyNot, d, "not implemented for ", dtName(dt));
  return std::make_unique<ArgKernel>(d, d.op() == "argmax");
}

SY_CPU_FACTORY(makeSoftmax) {
  if (d.in[0] == SY_DTYPE_F64) return std::make_unique<SoftmaxF64Kernel>(d, d.op() == "log_softmax");
  if (d.in[0] != SY_DTYPE_F32) return decline(whyNot, d, "only float dtypes, input is ", dtName(d.in[0]));
  return std::make_unique<SoftmaxKernel>(d, d.op() == "log_softmax");
}

}  // namespace sy::kernels::detail
