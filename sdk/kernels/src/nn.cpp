// Neural-network kernels: matmul, gemm, conv, conv_transpose, max_pool,
// avg_pool and the global pools. These are the generic fallback for what the
// oneDNN fast paths do not take (integer matmul, odd configurations): f32 goes
// through a cache-blocked sgemm (conv as im2col + sgemm, conv_transpose as
// sgemm + col2im); window arithmetic matches the reference (nn.cpp in core).
#include "common.h"

namespace sy::kernels::detail {

// ============================================================================
// sgemm

namespace {

constexpr int64_t kMB = 64, kNB = 256, kKB = 256;

void sgemmTile(int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t K, const float* A, int64_t lda,
               const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  const int64_t nb = j1 - j0;
  if (!accumulate)
    for (int64_t i = i0; i < i1; ++i) std::fill(C + i * ldc + j0, C + i * ldc + j1, 0.0f);
  for (int64_t k0 = 0; k0 < K; k0 += kKB) {
    const int64_t k1 = std::min(K, k0 + kKB);
    int64_t i = i0;
    for (; i + 4 <= i1; i += 4) {
      float* __restrict c0 = C + i * ldc + j0;
      float* __restrict c1 = c0 + ldc;
      float* __restrict c2 = c1 + ldc;
      float* __restrict c3 = c2 + ldc;
      const float* a = A + i * lda;
      for (int64_t k = k0; k < k1; ++k) {
        const float a0 = a[k], a1 = a[lda + k], a2 = a[2 * lda + k], a3 = a[3 * lda + k];
        const float* __restrict b = B + k * ldb + j0;
        for (int64_t j = 0; j < nb; ++j) {
          const float bj = b[j];
          c0[j] += a0 * bj;
          c1[j] += a1 * bj;
          c2[j] += a2 * bj;
          c3[j] += a3 * bj;
        }
      }
    }
    for (; i < i1; ++i) {
      float* __restrict c0 = C + i * ldc + j0;
      const float* a = A + i * lda;
      for (int64_t k = k0; k < k1; ++k) {
        const float a0 = a[k];
        const float* __restrict b = B + k * ldb + j0;
        for (int64_t j = 0; j < nb; ++j) c0[j] += a0 * b[j];
      }
    }
  }
}

}  // namespace

void sgemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
           int64_t ldc, bool accumulate, const Exec* exec) {
  if (M <= 0 || N <= 0) return;
  const int64_t mt = (M + kMB - 1) / kMB, nt = (N + kNB - 1) / kNB;
  auto tile = [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t ti = t / nt, tj = t % nt;
      sgemmTile(ti * kMB, std::min(M, (ti + 1) * kMB), tj * kNB, std::min(N, (tj + 1) * kNB), K, A, lda, B, ldb, C,
                ldc, accumulate);
    }
  };
  if (exec == nullptr || mt * nt == 1 || M * N * K < 32768) {
    tile(0, mt * nt);
    return;
  }
  exec->parallelFor(mt * nt, 1, tile);
}

namespace {

/// Plain wrapping integer matmul of rows [i0, i1): C[M, N] = A[M, K] * B[K, N].
/// f64 (T = double) is computed in double, the same i-k-j loops.
template <class T>
void igemmRows(int64_t i0, int64_t i1, int64_t N, int64_t K, const T* A, const T* B, T* C) {
  if constexpr (std::is_floating_point_v<T>) {
    for (int64_t i = i0; i < i1; ++i) {
      T* c = C + i * N;
      std::fill(c, c + N, T{0});
      for (int64_t k = 0; k < K; ++k) {
        const T a = A[i * K + k];
        const T* b = B + k * N;
        for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
      }
    }
  } else {
    using U = std::make_unsigned_t<T>;
    // Products of 8/16-bit operands in uint32 (uint16 * uint16 would overflow int).
    using W = std::conditional_t<(sizeof(T) < 4), uint32_t, U>;
    for (int64_t i = i0; i < i1; ++i) {
      U* c = reinterpret_cast<U*>(C + i * N);
      std::fill(c, c + N, U{0});
      for (int64_t k = 0; k < K; ++k) {
        const W a = static_cast<U>(A[i * K + k]);
        const U* b = reinterpret_cast<const U*>(B + k * N);
        for (int64_t j = 0; j < N; ++j) c[j] = static_cast<U>(static_cast<W>(c[j]) + static_cast<W>(a * static_cast<W>(b[j])));
      }
    }
  }
}

// ============================================================================
// matmul

struct MatmulShape {
  Dims batch, aBatch, bBatch;
  int64_t M = 1, K = 1, N = 1;
  Dims out;
};

class MatmulKernel final : public KernelBase {
 public:
  MatmulKernel(const OpDesc& d) : KernelBase(d), dtype_(d.in[0]) {}

  MatmulShape shape(const Dims& a, const Dims& b) const {
    SY_KCHECK(a.rank >= 1 && b.rank >= 1, who_, "operands must have rank >= 1, got ", dimsStr(a), " and ", dimsStr(b));
    MatmulShape s;
    const int64_t Ka = a.d[a.rank - 1];
    s.M = a.rank >= 2 ? a.d[a.rank - 2] : 1;
    s.K = Ka;
    const int64_t Kb = b.rank >= 2 ? b.d[b.rank - 2] : b.d[0];
    s.N = b.rank >= 2 ? b.d[b.rank - 1] : 1;
    SY_KCHECK(Ka == Kb, who_, "contraction dims differ: a is ", dimsStr(a), ", b is ", dimsStr(b));
    s.aBatch.rank = std::max(0, a.rank - 2);
    for (int i = 0; i < s.aBatch.rank; ++i) s.aBatch.d[i] = a.d[i];
    s.bBatch.rank = std::max(0, b.rank - 2);
    for (int i = 0; i < s.bBatch.rank; ++i) s.bBatch.d[i] = b.d[i];
    s.batch = broadcast(s.aBatch, s.bBatch, who_);
    s.out = s.batch;
    if (a.rank > 1) s.out.d[s.out.rank++] = s.M;
    if (b.rank > 1) s.out.d[s.out.rank++] = s.N;
    return s;
  }
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 2, no, 1);
    out[0] = shape(in[0].dims, in[1].dims).out;
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    const MatmulShape s = shape(in[0].dims, in[1].dims);
    if (out[0].numElements() == 0) return;
    const int64_t batch = s.batch.numElements();
    const int64_t M = s.M, N = s.N, K = s.K;
    // Batch offsets of a and b (in matrices).
    std::vector<int64_t> aOff(static_cast<size_t>(batch)), bOff(static_cast<size_t>(batch));
    {
      int64_t sa[SY_MAX_RANK], sb[SY_MAX_RANK];
      broadcastStrides(s.aBatch, s.batch, sa);
      broadcastStrides(s.bBatch, s.batch, sb);
      int64_t coord[SY_MAX_RANK] = {};
      for (int64_t t = 0; t < batch; ++t) {
        int64_t oa = 0, ob = 0;
        for (int i = 0; i < s.batch.rank; ++i) {
          oa += coord[i] * sa[i];
          ob += coord[i] * sb[i];
        }
        aOff[t] = oa;
        bOff[t] = ob;
        for (int i = s.batch.rank - 1; i >= 0; --i) {
          if (++coord[i] < s.batch.d[i]) break;
          coord[i] = 0;
        }
      }
    }
    if (dtype_ == SY_DTYPE_F32) {
      const float* A = in[0].as<const float>();
      const float* B = in[1].as<const float>();
      float* C = out[0].as<float>();
      if (K == 0) {
        std::fill(C, C + out[0].numElements(), 0.0f);
        return;
      }
      // b shared by every batch and a dense over the batch: one [batch * M, K] x [K, N] product.
      if (s.bBatch.numElements() == 1 && s.aBatch.numElements() == batch) {
        sgemm(batch * M, N, K, A, K, B, N, C, N, false, &exec);
        return;
      }
      if (batch >= 2 * exec.threads() && M * N * K < (int64_t{1} << 22)) {
        parallelFor(exec, batch, 1, [&](int64_t b0, int64_t e0) {
          for (int64_t t = b0; t < e0; ++t)
            sgemm(M, N, K, A + aOff[t] * M * K, K, B + bOff[t] * K * N, N, C + t * M * N, N, false, nullptr);
        });
        return;
      }
      for (int64_t t = 0; t < batch; ++t)
        sgemm(M, N, K, A + aOff[t] * M * K, K, B + bOff[t] * K * N, N, C + t * M * N, N, false, &exec);
      return;
    }
    auto go = [&](auto tag) {
      using T = decltype(tag);
      const T* A = in[0].as<const T>();
      const T* B = in[1].as<const T>();
      T* C = out[0].as<T>();
      // One task per output row (of every batch).
      parallelFor(exec, batch * M, std::max<int64_t>(1, 16384 / std::max<int64_t>(N * std::max<int64_t>(K, 1), 1)),
                       [&](int64_t b0, int64_t e0) {
                         for (int64_t r = b0; r < e0; ++r) {
                           const int64_t t = r / M, i = r % M;
                           igemmRows<T>(i, i + 1, N, K, A + aOff[t] * M * K, B + bOff[t] * K * N, C + t * M * N);
                         }
                       });
    };
    if (dtype_ == SY_DTYPE_I32) go(int32_t{});
    else if (dtype_ == SY_DTYPE_I64) go(int64_t{});
    else if (dtype_ == SY_DTYPE_I8) go(int8_t{});
    else if (dtype_ == SY_DTYPE_F64) go(double{});
    else if (!dispatchNewInt(dtype_, go)) failArg(who_, "unsupported dtype ", dtName(dtype_));
  }

 private:
  int32_t dtype_;
};

// ============================================================================
// gemm

class GemmKernel final : public KernelBase {
 public:
  GemmKernel(const OpDesc& d)
      : KernelBase(d), transA_(d.node.attrInt("transA", 0)), transB_(d.node.attrInt("transB", 0)),
        alpha_(d.node.attrFloat("alpha", 1.0)), beta_(d.node.attrFloat("beta", 1.0)), hasC_(d.has(2)) {
    SY_KCHECK(transA_ == 0 || transA_ == 1, who_, "transA must be 0 or 1");
    SY_KCHECK(transB_ == 0 || transB_ == 1, who_, "transB must be 0 or 1");
  }
  void dims(const Tensor* in, size_t ni, int64_t& M, int64_t& N, int64_t& K) const {
    const Dims &a = in[0].dims, &b = in[1].dims;
    SY_KCHECK(a.rank == 2 && b.rank == 2, who_, "a and b must be 2-D, got ", dimsStr(a), " and ", dimsStr(b));
    M = transA_ ? a.d[1] : a.d[0];
    K = transA_ ? a.d[0] : a.d[1];
    const int64_t Kb = transB_ ? b.d[1] : b.d[0];
    N = transB_ ? b.d[0] : b.d[1];
    SY_KCHECK(K == Kb, who_, "contraction dims differ: a is ", dimsStr(a), ", b is ", dimsStr(b));
    if (hasC_ && ni > 2 && in[2].data != nullptr) {
      const Dims& c = in[2].dims;
      SY_KCHECK(c.rank <= 2, who_, "c must have rank <= 2, got ", dimsStr(c));
      const int64_t target[2] = {M, N};
      for (int i = 0; i < c.rank; ++i)
        SY_KCHECK(c.d[i] == 1 || c.d[i] == target[2 - c.rank + i], who_, "c ", dimsStr(c), " does not broadcast to [", M,
              ", ", N, "]");
    }
  }
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 2, no, 1);
    int64_t M, N, K;
    dims(in, ni, M, N, K);
    out[0].rank = 2;
    out[0].d[0] = M;
    out[0].d[1] = N;
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    int64_t M, N, K;
    dims(in, ni, M, N, K);
    if (M * N == 0) return;
    const float* A = in[0].as<const float>();
    const float* B = in[1].as<const float>();
    float* Y = out[0].as<float>();
    std::vector<float> at, bt;
    if (transA_) {
      at.resize(static_cast<size_t>(M * K));
      for (int64_t k = 0; k < K; ++k)
        for (int64_t m = 0; m < M; ++m) at[m * K + k] = A[k * M + m];
      A = at.data();
    }
    if (transB_) {
      bt.resize(static_cast<size_t>(K * N));
      for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k) bt[k * N + n] = B[n * K + k];
      B = bt.data();
    }
    sgemm(M, N, K, A, K, B, N, Y, N, false, &exec);
    const bool hasC = hasC_ && ni > 2 && in[2].data != nullptr;
    const float alpha = static_cast<float>(alpha_);
    const double beta = beta_;
    if (!hasC && alpha_ == 1.0) return;
    const float* Cp = hasC ? in[2].as<const float>() : nullptr;
    const int64_t cRows = hasC && in[2].dims.rank == 2 ? in[2].dims.d[0] : 1;
    const int64_t cCols = hasC && in[2].dims.rank >= 1 ? in[2].dims.d[in[2].dims.rank - 1] : 1;
    parallelFor(exec, M, std::max<int64_t>(1, 16384 / N), [=](int64_t b0, int64_t e0) {
      for (int64_t m = b0; m < e0; ++m) {
        float* y = Y + m * N;
        if (Cp == nullptr) {
          for (int64_t n = 0; n < N; ++n) y[n] *= alpha;
          continue;
        }
        const float* c = Cp + (cRows == 1 ? 0 : m) * cCols;
        for (int64_t n = 0; n < N; ++n)
          y[n] = static_cast<float>(alpha * static_cast<double>(y[n]) + beta * c[cCols == 1 ? 0 : n]);
      }
    });
  }

 private:
  int64_t transA_, transB_;
  double alpha_, beta_;
  bool hasC_;
};

// ============================================================================
// Window arithmetic (conv, conv_transpose, pools)

enum class AutoPad { NotSet, SameUpper, SameLower, Valid };

struct WindowAttrs {
  AutoPad autoPad = AutoPad::NotSet;
  std::vector<int64_t> strides, dilations, pads, kernel;  // as given ([] = default)
  bool ceilMode = false;
};

WindowAttrs readWindowAttrs(const OpDesc& d, bool hasCeil) {
  WindowAttrs w;
  const std::string ap = d.node.attrString("auto_pad", "NOTSET");
  if (ap == "NOTSET" || ap.empty()) w.autoPad = AutoPad::NotSet;
  else if (ap == "SAME_UPPER") w.autoPad = AutoPad::SameUpper;
  else if (ap == "SAME_LOWER") w.autoPad = AutoPad::SameLower;
  else if (ap == "VALID") w.autoPad = AutoPad::Valid;
  else failArg(d.describe(), "auto_pad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID, got '", ap, "'");
  w.strides = d.node.attrInts("strides");
  w.dilations = d.node.attrInts("dilations");
  w.pads = d.node.attrInts("pads");
  w.kernel = d.node.attrInts("kernel_shape");
  if (hasCeil) {
    const int64_t c = d.node.attrInt("ceil_mode", 0);
    SY_KCHECK(c == 0 || c == 1, d.describe(), "ceil_mode must be 0 or 1, got ", c);
    w.ceilMode = c == 1;
  }
  return w;
}

constexpr int64_t kMaxExtent = int64_t{1} << 60;

/// Resolved window for `r` spatial dims.
struct Window {
  std::vector<int64_t> strides, dilations, pads;
};

Window resolveWindow(const WindowAttrs& a, size_t r, const std::string& who) {
  Window w;
  auto list = [&](const std::vector<int64_t>& v, const char* name, size_t n, int64_t def, int64_t minValue,
                  std::vector<int64_t>& out) {
    if (v.empty()) {
      out.assign(n, def);
      return;
    }
    SY_KCHECK(v.size() == n, who, name, " has ", v.size(), " values, expected ", n, " for ", r, " spatial dims");
    for (int64_t x : v) SY_KCHECK(x >= minValue && x <= kMaxExtent, who, name, " has an invalid value ", x);
    out = v;
  };
  list(a.strides, "strides", r, 1, 1, w.strides);
  list(a.dilations, "dilations", r, 1, 1, w.dilations);
  list(a.pads, "pads", 2 * r, 0, 0, w.pads);
  if (a.autoPad != AutoPad::NotSet)
    for (int64_t p : w.pads) SY_KCHECK(p == 0, who, "pads cannot be combined with auto_pad");
  return w;
}

struct AxisOut {
  int64_t out = 0, padBegin = 0, padEnd = 0;
};

AxisOut forwardAxis(const WindowAttrs& a, const Window& w, size_t i, int64_t in, int64_t k, const std::string& who) {
  const int64_t s = w.strides[i], d = w.dilations[i];
  const __int128 ek128 = static_cast<__int128>(k - 1) * d + 1;
  SY_KCHECK(ek128 <= kMaxExtent, who, "dilated kernel along spatial dim ", i, " is too large");
  const auto eff = static_cast<int64_t>(ek128);
  AxisOut o;
  if (a.autoPad == AutoPad::SameUpper || a.autoPad == AutoPad::SameLower) {
    o.out = in == 0 ? 0 : (in - 1) / s + 1;
    const int64_t total = std::max<int64_t>(0, (o.out - 1) * s + eff - in);
    o.padBegin = a.autoPad == AutoPad::SameUpper ? total / 2 : total - total / 2;
    o.padEnd = total - o.padBegin;
    return o;
  }
  if (a.autoPad == AutoPad::NotSet) {
    o.padBegin = w.pads[i];
    o.padEnd = w.pads[i + w.strides.size()];
  }
  const int64_t padded = in + o.padBegin + o.padEnd;
  SY_KCHECK(padded >= eff, who, "kernel of size ", eff, " is larger than the padded input (", padded,
        ") along spatial dim ", i);
  const int64_t span = padded - eff;
  o.out = span / s + 1;
  if (a.ceilMode && span % s != 0) {
    ++o.out;
    if ((o.out - 1) * s >= in + o.padBegin) --o.out;
  }
  return o;
}

int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && (a < 0)) --q;
  return q;
}
int64_t ceilDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && (a > 0)) ++q;
  return q;
}

/// Taps t in [0, k) with start + t * d in [lo, hi].
std::pair<int64_t, int64_t> tapRange(int64_t start, int64_t d, int64_t k, int64_t lo, int64_t hi) {
  return {std::max<int64_t>(0, ceilDiv(lo - start, d)), std::min<int64_t>(k - 1, floorDiv(hi - start, d))};
}

// ============================================================================
// conv

class ConvKernel final : public KernelBase {
 public:
  ConvKernel(const OpDesc& d)
      : KernelBase(d), a_(readWindowAttrs(d, false)), group_(d.node.attrInt("group", 1)), hasBias_(d.has(2)) {
    SY_KCHECK(group_ >= 1, who_, "group must be positive, got ", group_);
  }

  struct Geometry {
    int64_t N, C, M, G, Cg, Mg, r;
    std::vector<int64_t> in, k, out, padBegin;
    Window w;
  };

  Geometry geometry(const Tensor* in, size_t ni) const {
    const Dims &x = in[0].dims, &w = in[1].dims;
    SY_KCHECK(x.rank >= 3 && w.rank == x.rank, who_, "x must be [N, C, D1, ...] and w [M, C / group, k1, ...], got ",
          dimsStr(x), " and ", dimsStr(w));
    Geometry g;
    g.r = x.rank - 2;
    g.N = x.d[0];
    g.C = x.d[1];
    g.M = w.d[0];
    g.G = group_;
    SY_KCHECK(g.C % g.G == 0 && g.M % g.G == 0, who_, "group ", g.G, " must divide the channels of x ", dimsStr(x),
          " and w ", dimsStr(w));
    g.Cg = g.C / g.G;
    g.Mg = g.M / g.G;
    SY_KCHECK(w.d[1] == g.Cg, who_, "x ", dimsStr(x), " has ", g.C, " channels but w ", dimsStr(w), " expects ", w.d[1],
          " * group ", g.G);
    if (hasBias_ && ni > 2 && in[2].data != nullptr)
      SY_KCHECK(in[2].dims.rank == 1 && in[2].dims.d[0] == g.M, who_, "b must be [", g.M, "], got ", dimsStr(in[2].dims));
    const size_t r = static_cast<size_t>(g.r);
    if (!a_.kernel.empty()) {
      SY_KCHECK(a_.kernel.size() == r, who_, "kernel_shape has ", a_.kernel.size(), " values, expected ", r);
      for (size_t i = 0; i < r; ++i) SY_KCHECK(a_.kernel[i] == w.d[i + 2], who_, "kernel_shape does not match w ", dimsStr(w));
    }
    g.w = resolveWindow(a_, r, who_);
    for (size_t i = 0; i < r; ++i) {
      g.in.push_back(x.d[i + 2]);
      g.k.push_back(w.d[i + 2]);
      SY_KCHECK(w.d[i + 2] >= 1, who_, "w ", dimsStr(w), " has an empty kernel");
      const AxisOut o = forwardAxis(a_, g.w, i, x.d[i + 2], w.d[i + 2], who_);
      g.out.push_back(o.out);
      g.padBegin.push_back(o.padBegin);
    }
    return g;
  }

  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 2, no, 1);
    const Geometry g = geometry(in, ni);
    Dims o;
    o.rank = static_cast<int32_t>(g.r + 2);
    o.d[0] = g.N;
    o.d[1] = g.M;
    for (int64_t i = 0; i < g.r; ++i) o.d[i + 2] = g.out[i];
    out[0] = o;
  }

  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    const Geometry g = geometry(in, ni);
    if (out[0].numElements() == 0) return;
    const float* x = in[0].as<const float>();
    const float* w = in[1].as<const float>();
    const float* bias = hasBias_ && ni > 2 && in[2].data != nullptr ? in[2].as<const float>() : nullptr;
    float* y = out[0].as<float>();
    const int64_t r = g.r;
    const int64_t inSize = product(g.in.data(), 0, r), kSize = product(g.k.data(), 0, r);
    const int64_t outSize = product(g.out.data(), 0, r);
    const int64_t rowsK = g.Cg * kSize;
    if (rowsK == 0) {
      for (int64_t nm = 0; nm < g.N * g.M; ++nm)
        std::fill(y + nm * outSize, y + (nm + 1) * outSize, bias ? bias[nm % g.M] : 0.0f);
      return;
    }
    bool pointwise = kSize == 1;
    for (int64_t i = 0; i < r; ++i) pointwise = pointwise && g.w.strides[i] == 1 && g.padBegin[i] == 0 && g.out[i] == g.in[i];
    // Output positions per task: the im2col buffer stays around 1 MiB, and
    // there are enough tasks for the pool.
    const int64_t tasksPerImage = g.N * g.G;
    int64_t P = std::max<int64_t>(64, (int64_t{1} << 18) / rowsK);
    const int64_t want = std::max<int64_t>(1, (2 * exec.threads() + tasksPerImage - 1) / tasksPerImage);
    P = std::min(P, std::max<int64_t>(64, (outSize + want - 1) / want));
    P = std::min(P, outSize);
    const int64_t chunks = (outSize + P - 1) / P;
    const Geometry* gp = &g;
    auto task = [&, gp](int64_t t, std::vector<float>& col) {
      const Geometry& gg = *gp;
      int64_t kc[SY_MAX_RANK], oc[SY_MAX_RANK];
      const int64_t chunk = t % chunks, ng = t / chunks, n = ng / gg.G, grp = ng % gg.G;
      const int64_t p0 = chunk * P, pn = std::min(P, outSize - p0);
      const float* xg = x + (n * gg.C + grp * gg.Cg) * inSize;
      const float* wg = w + grp * gg.Mg * rowsK;
      float* yg = y + (n * gg.M + grp * gg.Mg) * outSize + p0;
      if (pointwise) {
        sgemm(gg.Mg, pn, gg.Cg, wg, rowsK, xg + p0, inSize, yg, outSize, false, nullptr);
      } else if (r == 2) {
        im2col2D(gg, xg, kSize, p0, pn, col.data());
        sgemm(gg.Mg, pn, rowsK, wg, rowsK, col.data(), pn, yg, outSize, false, nullptr);
      } else {
        for (int64_t row = 0; row < rowsK; ++row) {
          const int64_t ci = row / kSize;
          int64_t tt = row % kSize;
          for (int64_t i = r - 1; i >= 0; --i) {
            kc[i] = tt % gg.k[i];
            tt /= gg.k[i];
          }
          const float* xc = xg + ci * inSize;
          float* dst = col.data() + row * pn;
          // Output coordinate of p0.
          int64_t rem = p0;
          for (int64_t i = r - 1; i >= 0; --i) {
            oc[i] = rem % gg.out[i];
            rem /= gg.out[i];
          }
          for (int64_t p = 0; p < pn; ++p) {
            int64_t off = 0;
            bool inside = true;
            for (int64_t i = 0; i < r; ++i) {
              const int64_t pos = oc[i] * gg.w.strides[i] - gg.padBegin[i] + kc[i] * gg.w.dilations[i];
              inside = inside && pos >= 0 && pos < gg.in[i];
              off = off * gg.in[i] + pos;
            }
            dst[p] = inside ? xc[off] : 0.0f;
            for (int64_t i = r - 1; i >= 0; --i) {
              if (++oc[i] < gg.out[i]) break;
              oc[i] = 0;
            }
          }
        }
        sgemm(gg.Mg, pn, rowsK, wg, rowsK, col.data(), pn, yg, outSize, false, nullptr);
      }
      if (bias != nullptr)
        for (int64_t m = 0; m < gg.Mg; ++m) {
          const float bv = bias[grp * gg.Mg + m];
          float* yr = yg + m * outSize;
          for (int64_t p = 0; p < pn; ++p) yr[p] += bv;
        }
    };
    // One im2col buffer per worker, allocated here: parallelFor's function must not throw.
    const int64_t tasks = g.N * g.G * chunks;
    const int64_t workers = std::min<int64_t>(tasks, exec.threads());
    std::vector<std::vector<float>> cols(static_cast<size_t>(workers));
    if (!pointwise)
      for (auto& c : cols) c.resize(static_cast<size_t>(rowsK * P));
    parallelFor(exec, workers, 1, [&](int64_t w0, int64_t w1) {
      for (int64_t worker = w0; worker < w1; ++worker)
        for (int64_t t = worker; t < tasks; t += workers) task(t, cols[static_cast<size_t>(worker)]);
    });
  }

 private:
  /// col[row, p] for rows (ci, kh, kw) and output positions [p0, p0 + pn) of a 2-D conv: each output
  /// row segment is a zero run, a (strided) copy of an input row, and a zero run.
  static void im2col2D(const Geometry& g, const float* xg, int64_t kSize, int64_t p0, int64_t pn, float* col) {
    const int64_t IH = g.in[0], IW = g.in[1], OW = g.out[1], KW = g.k[1];
    const int64_t sh = g.w.strides[0], sw = g.w.strides[1], dh = g.w.dilations[0], dw = g.w.dilations[1];
    const int64_t ph = g.padBegin[0], pw = g.padBegin[1];
    const int64_t rows = g.Cg * kSize;
    for (int64_t row = 0; row < rows; ++row) {
      const int64_t ci = row / kSize, kh = (row % kSize) / KW, kw = row % KW;
      const float* xc = xg + ci * IH * IW;
      float* dst = col + row * pn;
      int64_t oh = p0 / OW, ow = p0 % OW;
      for (int64_t p = 0; p < pn;) {
        const int64_t seg = std::min(OW - ow, pn - p);
        const int64_t ih = oh * sh - ph + kh * dh;
        float* d = dst + p;
        if (ih < 0 || ih >= IH) {
          std::fill(d, d + seg, 0.0f);
        } else {
          const float* xr = xc + ih * IW;
          const int64_t iw0 = ow * sw - pw + kw * dw;
          // Positions j in [jLo, jHi) read inside the row: 0 <= iw0 + j * sw < IW.
          const int64_t jLo = std::clamp<int64_t>(iw0 >= 0 ? 0 : (-iw0 + sw - 1) / sw, 0, seg);
          const int64_t jHi = std::clamp<int64_t>(iw0 >= IW ? 0 : (IW - iw0 + sw - 1) / sw, jLo, seg);
          std::fill(d, d + jLo, 0.0f);
          if (sw == 1) {
            std::memcpy(d + jLo, xr + iw0 + jLo, static_cast<size_t>(jHi - jLo) * sizeof(float));
          } else {
            for (int64_t j = jLo; j < jHi; ++j) d[j] = xr[iw0 + j * sw];
          }
          std::fill(d + jHi, d + seg, 0.0f);
        }
        p += seg;
        ow = 0;
        ++oh;
      }
    }
  }

  WindowAttrs a_;
  int64_t group_;
  bool hasBias_;
};

// ============================================================================
// conv_transpose

class ConvTransposeKernel final : public KernelBase {
 public:
  ConvTransposeKernel(const OpDesc& d)
      : KernelBase(d), a_(readWindowAttrs(d, false)), group_(d.node.attrInt("group", 1)), hasBias_(d.has(2)),
        outputPadding_(d.node.attrInts("output_padding")), outputShape_(d.node.attrInts("output_shape")) {
    SY_KCHECK(group_ >= 1, who_, "group must be positive, got ", group_);
  }

  struct Geometry {
    int64_t N, C, M, G, Cg, Mg, r;
    std::vector<int64_t> in, k, out, padBegin;
    Window w;
  };

  Geometry geometry(const Tensor* in, size_t ni) const {
    const Dims &x = in[0].dims, &w = in[1].dims;
    SY_KCHECK(x.rank >= 3 && w.rank == x.rank, who_, "x must be [N, C, D1, ...] and w [C, M / group, k1, ...], got ",
          dimsStr(x), " and ", dimsStr(w));
    Geometry g;
    g.r = x.rank - 2;
    const size_t r = static_cast<size_t>(g.r);
    g.N = x.d[0];
    g.C = x.d[1];
    g.G = group_;
    SY_KCHECK(g.C % g.G == 0 && w.d[0] == g.C, who_, "x ", dimsStr(x), " and w ", dimsStr(w), " do not match with group ",
          g.G);
    g.Cg = g.C / g.G;
    g.Mg = w.d[1];
    g.M = g.Mg * g.G;
    if (hasBias_ && ni > 2 && in[2].data != nullptr)
      SY_KCHECK(in[2].dims.rank == 1 && in[2].dims.d[0] == g.M, who_, "b must be [", g.M, "], got ", dimsStr(in[2].dims));
    if (!a_.kernel.empty()) {
      SY_KCHECK(a_.kernel.size() == r, who_, "kernel_shape has ", a_.kernel.size(), " values, expected ", r);
      for (size_t i = 0; i < r; ++i) SY_KCHECK(a_.kernel[i] == w.d[i + 2], who_, "kernel_shape does not match w ", dimsStr(w));
    }
    g.w = resolveWindow(a_, r, who_);
    std::vector<int64_t> outPad(r, 0);
    if (!outputPadding_.empty()) {
      SY_KCHECK(outputPadding_.size() == r, who_, "output_padding has ", outputPadding_.size(), " values, expected ", r);
      for (int64_t v : outputPadding_) SY_KCHECK(v >= 0 && v <= kMaxExtent, who_, "output_padding must be non-negative");
      outPad = outputPadding_;
    }
    std::vector<int64_t> os;
    if (!outputShape_.empty()) {
      SY_KCHECK(outputShape_.size() == r || outputShape_.size() == r + 2, who_, "output_shape has ", outputShape_.size(),
            " values, expected ", r, " or ", r + 2);
      os.assign(outputShape_.end() - static_cast<std::ptrdiff_t>(r), outputShape_.end());
      for (int64_t v : os) SY_KCHECK(v >= 0 && v <= kMaxExtent, who_, "output_shape must be non-negative");
      for (int64_t p : g.w.pads) SY_KCHECK(p == 0, who_, "pads cannot be combined with output_shape");
    }
    for (size_t i = 0; i < r; ++i) {
      const int64_t k = w.d[i + 2], in_ = x.d[i + 2], s = g.w.strides[i], d = g.w.dilations[i];
      SY_KCHECK(k >= 1, who_, "w ", dimsStr(w), " has an empty kernel");
      const int64_t ek = (k - 1) * d + 1;
      const int64_t full = s * (in_ - 1) + outPad[i] + ek;
      int64_t out, pb;
      const bool same = a_.autoPad == AutoPad::SameUpper || a_.autoPad == AutoPad::SameLower;
      if (!os.empty() || same) {
        const int64_t target = !os.empty() ? os[i] : in_ * s;
        out = target;
        const int64_t total = std::max<int64_t>(0, full - target);
        pb = a_.autoPad == AutoPad::SameUpper ? total / 2 : total - total / 2;
      } else {
        int64_t pe = 0;
        pb = 0;
        if (a_.autoPad == AutoPad::NotSet) {
          pb = g.w.pads[i];
          pe = g.w.pads[i + r];
        }
        out = full - pb - pe;
        SY_KCHECK(out >= 0, who_, "output size along spatial dim ", i, " would be negative");
      }
      g.in.push_back(in_);
      g.k.push_back(k);
      g.out.push_back(out);
      g.padBegin.push_back(pb);
    }
    return g;
  }

  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 2, no, 1);
    const Geometry g = geometry(in, ni);
    Dims o;
    o.rank = static_cast<int32_t>(g.r + 2);
    o.d[0] = g.N;
    o.d[1] = g.M;
    for (int64_t i = 0; i < g.r; ++i) o.d[i + 2] = g.out[i];
    out[0] = o;
  }

  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    const Geometry g = geometry(in, ni);
    if (out[0].numElements() == 0) return;
    const float* x = in[0].as<const float>();
    const float* w = in[1].as<const float>();
    const float* bias = hasBias_ && ni > 2 && in[2].data != nullptr ? in[2].as<const float>() : nullptr;
    float* y = out[0].as<float>();
    const int64_t r = g.r;
    const int64_t inSize = product(g.in.data(), 0, r), kSize = product(g.k.data(), 0, r);
    const int64_t outSize = product(g.out.data(), 0, r);
    const int64_t rowsW = g.Mg * kSize;
    for (int64_t nm = 0; nm < g.N * g.M; ++nm)
      std::fill(y + nm * outSize, y + (nm + 1) * outSize, bias ? bias[nm % g.M] : 0.0f);
    if (inSize == 0 || g.Cg == 0) return;
    std::vector<float> wt(static_cast<size_t>(rowsW * g.Cg));
    std::vector<float> col(static_cast<size_t>(rowsW * inSize));
    for (int64_t n = 0; n < g.N; ++n) {
      for (int64_t grp = 0; grp < g.G; ++grp) {
        // wt[Mg * kSize, Cg] = (w[grp * Cg .., Mg * kSize])^T
        const float* wg = w + grp * g.Cg * rowsW;
        for (int64_t c = 0; c < g.Cg; ++c)
          for (int64_t j = 0; j < rowsW; ++j) wt[j * g.Cg + c] = wg[c * rowsW + j];
        const float* xg = x + (n * g.C + grp * g.Cg) * inSize;
        sgemm(rowsW, inSize, g.Cg, wt.data(), g.Cg, xg, inSize, col.data(), inSize, false, &exec);
        float* yg = y + (n * g.M + grp * g.Mg) * outSize;
        const Geometry* gp = &g;
        const float* cp = col.data();
        parallelFor(exec, g.Mg, 1, [=](int64_t b0, int64_t e0) {
          const Geometry& gg = *gp;
          int64_t kc[SY_MAX_RANK], ic[SY_MAX_RANK];
          for (int64_t m = b0; m < e0; ++m) {
            float* ym = yg + m * outSize;
            for (int64_t t = 0; t < kSize; ++t) {
              int64_t tt = t;
              for (int64_t i = r - 1; i >= 0; --i) {
                kc[i] = tt % gg.k[i];
                tt /= gg.k[i];
              }
              const float* src = cp + (m * kSize + t) * inSize;
              for (int64_t i = 0; i < r; ++i) ic[i] = 0;
              for (int64_t p = 0; p < inSize; ++p) {
                int64_t off = 0;
                bool inside = true;
                for (int64_t i = 0; i < r; ++i) {
                  const int64_t pos = ic[i] * gg.w.strides[i] - gg.padBegin[i] + kc[i] * gg.w.dilations[i];
                  inside = inside && pos >= 0 && pos < gg.out[i];
                  off = off * gg.out[i] + pos;
                }
                if (inside) ym[off] += src[p];
                for (int64_t i = r - 1; i >= 0; --i) {
                  if (++ic[i] < gg.in[i]) break;
                  ic[i] = 0;
                }
              }
            }
          }
        });
      }
    }
  }

 private:
  WindowAttrs a_;
  int64_t group_;
  bool hasBias_;
  std::vector<int64_t> outputPadding_, outputShape_;
};

// ============================================================================
// max_pool / avg_pool

class PoolKernel final : public KernelBase {
 public:
  PoolKernel(const OpDesc& d, bool isMax)
      : KernelBase(d), isMax_(isMax), dtype_(d.in[0]), a_(readWindowAttrs(d, true)),
        includePad_(!isMax && d.node.attrInt("count_include_pad", 0) == 1) {
    SY_KCHECK(!a_.kernel.empty(), who_, "kernel_shape must have one value per spatial dim");
    for (int64_t k : a_.kernel) SY_KCHECK(k >= 1 && k <= kMaxExtent, who_, "kernel_shape must be positive");
    if (!isMax) {
      const int64_t c = d.node.attrInt("count_include_pad", 0);
      SY_KCHECK(c == 0 || c == 1, who_, "count_include_pad must be 0 or 1, got ", c);
    }
  }

  struct Geometry {
    Window w;
    std::vector<AxisOut> axes;
    std::vector<int64_t> in;
  };

  Geometry geometry(const Dims& x) const {
    const size_t r = a_.kernel.size();
    SY_KCHECK(x.rank >= 3 && static_cast<size_t>(x.rank) == r + 2, who_, "x ", dimsStr(x), " must be [N, C, D1, ...] with ",
          r, " spatial dims");
    Geometry g;
    g.w = resolveWindow(a_, r, who_);
    for (size_t i = 0; i < r; ++i) {
      g.in.push_back(x.d[i + 2]);
      g.axes.push_back(forwardAxis(a_, g.w, i, x.d[i + 2], a_.kernel[i], who_));
    }
    return g;
  }

  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 1, no, 1);
    const Geometry g = geometry(in[0].dims);
    Dims o = in[0].dims;
    for (size_t i = 0; i < g.axes.size(); ++i) o.d[i + 2] = g.axes[i].out;
    out[0] = o;
  }

  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    if (dtype_ == SY_DTYPE_I8) runT<int8_t>(in[0], out[0], exec);
    else if (dtype_ == SY_DTYPE_U8) runT<uint8_t>(in[0], out[0], exec);
    else runT<float>(in[0], out[0], exec);
  }

 private:
  template <class T>
  void runT(const Tensor& xt, const Tensor& yt, const Exec& exec) const {
    const Geometry g = geometry(xt.dims);
    if (yt.numElements() == 0) return;
    const int64_t r = static_cast<int64_t>(g.axes.size());
    const int64_t NC = xt.dims.d[0] * xt.dims.d[1];
    std::vector<int64_t> outSp(r);
    for (int64_t i = 0; i < r; ++i) outSp[i] = g.axes[i].out;
    const int64_t inSize = product(g.in.data(), 0, r), outSize = product(outSp.data(), 0, r);
    // Per axis and output coordinate: the first and last valid tap, the window start, and the
    // count_include_pad taps.
    std::vector<std::vector<int64_t>> first(r), last(r), start(r), padTaps(r);
    for (int64_t i = 0; i < r; ++i) {
      const int64_t s = g.w.strides[i], d = g.w.dilations[i], k = a_.kernel[i];
      for (int64_t o = 0; o < outSp[i]; ++o) {
        const int64_t st = o * s - g.axes[i].padBegin;
        const auto [f, l] = tapRange(st, d, k, 0, g.in[i] - 1);
        const auto [pf, pl] = tapRange(st, d, k, -g.axes[i].padBegin, g.in[i] + g.axes[i].padEnd - 1);
        first[i].push_back(f);
        last[i].push_back(l);
        start[i].push_back(st);
        padTaps[i].push_back(std::max<int64_t>(0, pl - pf + 1));
      }
    }
    const T* x = xt.as<const T>();
    T* y = yt.as<T>();
    const bool isMax = isMax_, includePad = includePad_;
    const T lowest = std::is_floating_point_v<T> ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
    int64_t taps = 1;
    for (int64_t k : a_.kernel) taps *= k;
    if (r == 2) {
      // 2-D windows: one task per output row, the tap ranges read from the per-axis tables.
      const int64_t OH = outSp[0], OW = outSp[1], IH = g.in[0], IW = g.in[1];
      const int64_t dh = g.w.dilations[0], dw = g.w.dilations[1];
      parallelFor(exec, NC * OH, std::max<int64_t>(1, 4096 / std::max<int64_t>(OW * taps, 1)), [&](int64_t b0, int64_t e0) {
        for (int64_t t = b0; t < e0; ++t) {
          const int64_t nc = t / OH, oh = t % OH;
          const T* xs = x + nc * IH * IW;
          T* yr = y + t * OW;
          const int64_t h0 = first[0][oh], h1 = last[0][oh], hs = start[0][oh];
          for (int64_t ow = 0; ow < OW; ++ow) {
            const int64_t w0 = first[1][ow], w1 = last[1][ow], ws = start[1][ow];
            if (h0 > h1 || w0 > w1) {
              const double padCount = static_cast<double>(padTaps[0][oh]) * static_cast<double>(padTaps[1][ow]);
              yr[ow] = isMax ? lowest : ((includePad && padCount > 0) ? T(0) : std::numeric_limits<T>::quiet_NaN());
              continue;
            }
            if (isMax) {
              T best = lowest;
              for (int64_t h = h0; h <= h1; ++h) {
                const T* row = xs + (hs + h * dh) * IW + ws;
                for (int64_t w = w0; w <= w1; ++w) {
                  const T v = row[w * dw];
                  best = (v > best || v != v) ? v : best;
                }
              }
              yr[ow] = best;
            } else {
              double sum = 0;
              for (int64_t h = h0; h <= h1; ++h) {
                const T* row = xs + (hs + h * dh) * IW + ws;
                for (int64_t w = w0; w <= w1; ++w) sum += static_cast<double>(row[w * dw]);
              }
              const double count = includePad ? static_cast<double>(padTaps[0][oh]) * static_cast<double>(padTaps[1][ow])
                                              : static_cast<double>((h1 - h0 + 1) * (w1 - w0 + 1));
              yr[ow] = static_cast<T>(sum / count);
            }
          }
        }
      });
      return;
    }
    parallelFor(exec, NC * outSize, std::max<int64_t>(1, 8192 / std::max<int64_t>(taps, 1)), [&](int64_t b0, int64_t e0) {
      int64_t oc[SY_MAX_RANK], t[SY_MAX_RANK];
      for (int64_t q = b0; q < e0; ++q) {
        const int64_t nc = q / outSize;
        int64_t rem = q % outSize;
        for (int64_t i = r - 1; i >= 0; --i) {
          oc[i] = rem % outSp[i];
          rem /= outSp[i];
        }
        bool empty = false;
        double padCount = 1;
        for (int64_t i = 0; i < r; ++i) {
          empty = empty || first[i][oc[i]] > last[i][oc[i]];
          padCount *= static_cast<double>(padTaps[i][oc[i]]);
        }
        const T* xs = x + nc * inSize;
        if (empty) {
          if (isMax) y[q] = lowest;
          else y[q] = (includePad && padCount > 0) ? T(0) : std::numeric_limits<T>::quiet_NaN();
          continue;
        }
        T best = lowest;
        double sum = 0;
        int64_t count = 0;
        for (int64_t i = 0; i < r; ++i) t[i] = first[i][oc[i]];
        const int64_t innerFirst = first[r - 1][oc[r - 1]], innerLast = last[r - 1][oc[r - 1]];
        const int64_t innerStart = start[r - 1][oc[r - 1]], innerDil = g.w.dilations[r - 1];
        for (bool done = false; !done;) {
          int64_t base = 0;
          for (int64_t i = 0; i < r - 1; ++i) base = (base + start[i][oc[i]] + t[i] * g.w.dilations[i]) * g.in[i + 1];
          const T* row = xs + base + innerStart;
          if (isMax) {
            for (int64_t k = innerFirst; k <= innerLast; ++k) {
              const T v = row[k * innerDil];
              if (v > best || v != v) best = v;
            }
          } else {
            for (int64_t k = innerFirst; k <= innerLast; ++k) sum += static_cast<double>(row[k * innerDil]);
          }
          count += innerLast - innerFirst + 1;
          done = true;
          for (int64_t i = r - 2; i >= 0; --i) {
            if (t[i] < last[i][oc[i]]) {
              ++t[i];
              done = false;
              break;
            }
            t[i] = first[i][oc[i]];
          }
        }
        if (isMax) y[q] = best;
        else y[q] = static_cast<T>(sum / (includePad ? padCount : static_cast<double>(count)));
      }
    });
  }

  bool isMax_;
  int32_t dtype_;
  WindowAttrs a_;
  bool includePad_;
};

// ============================================================================
// global pools

class GlobalPoolKernel final : public KernelBase {
 public:
  GlobalPoolKernel(const OpDesc& d, bool isMax) : KernelBase(d), isMax_(isMax), dtype_(d.in[0]) {}
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 1, no, 1);
    const Dims& x = in[0].dims;
    SY_KCHECK(x.rank >= 3, who_, "x must have rank >= 3 ([N, C, D1, ...]), got ", dimsStr(x));
    Dims o = x;
    for (int i = 2; i < o.rank; ++i) o.d[i] = 1;
    out[0] = o;
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    if (dtype_ == SY_DTYPE_I8) runT<int8_t>(in[0], out[0], exec);
    else if (dtype_ == SY_DTYPE_U8) runT<uint8_t>(in[0], out[0], exec);
    else runT<float>(in[0], out[0], exec);
  }

 private:
  template <class T>
  void runT(const Tensor& xt, const Tensor& yt, const Exec& exec) const {
    const Dims& x = xt.dims;
    const int64_t NC = x.d[0] * x.d[1], inner = product(x.d, 2, x.rank);
    if (NC == 0) return;
    const T* xs = xt.as<const T>();
    T* y = yt.as<T>();
    const bool isMax = isMax_;
    parallelFor(exec, NC, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)), [=](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) {
        const T* s = xs + p * inner;
        if (isMax) {
          T best = std::is_floating_point_v<T> ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
          for (int64_t k = 0; k < inner; ++k)
            if (s[k] > best || s[k] != s[k]) best = s[k];
          y[p] = best;
        } else {
          double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
          int64_t k = 0;
          for (; k + 4 <= inner; k += 4) {
            a0 += s[k];
            a1 += s[k + 1];
            a2 += s[k + 2];
            a3 += s[k + 3];
          }
          for (; k < inner; ++k) a0 += s[k];
          y[p] = inner == 0 ? std::numeric_limits<T>::quiet_NaN()
                            : static_cast<T>(((a0 + a1) + (a2 + a3)) / static_cast<double>(inner));
        }
      }
    });
  }

  bool isMax_;
  int32_t dtype_;
};

bool allDtype(const OpDesc& d, int32_t dt) {
  for (int32_t x : d.in)
    if (x >= 0 && x != dt) return false;
  return true;
}

}  // namespace

SY_CPU_FACTORY(makeMatmul) {
  const int32_t dt = d.in[0];
  if (d.numInputs() != 2 || d.in[1] != dt) return decline(whyNot, d, "a and b must have one dtype");
  if (dt != SY_DTYPE_F32 && dt != SY_DTYPE_F64 && !isInt(dt)) return decline(whyNot, d, "not implemented for ", dtName(dt));
  return std::make_unique<MatmulKernel>(d);
}

SY_CPU_FACTORY(makeGemm) {
  if (!allDtype(d, SY_DTYPE_F32)) return decline(whyNot, d, "only float dtypes, got ", dtName(d.in[0]));
  return std::make_unique<GemmKernel>(d);
}

SY_CPU_FACTORY(makeConv) {
  if (!allDtype(d, SY_DTYPE_F32)) return decline(whyNot, d, "only float dtypes, got ", dtName(d.in[0]));
  return std::make_unique<ConvKernel>(d);
}

SY_CPU_FACTORY(makeConvTranspose) {
  if (!allDtype(d, SY_DTYPE_F32)) return decline(whyNot, d, "only float dtypes, got ", dtName(d.in[0]));
  return std::make_unique<ConvTransposeKernel>(d);
}

SY_CPU_FACTORY(makePool) {
  const bool isMax = d.op() == "max_pool";
  const int32_t dt = d.in[0];
  if (dt != SY_DTYPE_F32 && !(isMax && (dt == SY_DTYPE_I8 || dt == SY_DTYPE_U8)))
    return decline(whyNot, d, "not implemented for ", dtName(dt));
  return std::make_unique<PoolKernel>(d, isMax);
}

SY_CPU_FACTORY(makeGlobalPool) {
  const bool isMax = d.op() == "global_max_pool";
  const int32_t dt = d.in[0];
  if (dt != SY_DTYPE_F32 && !(isMax && (dt == SY_DTYPE_I8 || dt == SY_DTYPE_U8)))
    return decline(whyNot, d, "not implemented for ", dtName(dt));
  return std::make_unique<GlobalPoolKernel>(d, isMax);
}

}  // namespace sy::kernels::detail
