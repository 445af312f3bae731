// Quantization kernels: quantize_linear, dequantize_linear,
// dynamic_quantize_linear, matmul_integer, conv_integer.
//
// Rounding is to nearest, ties to even (std::nearbyint in the default
// rounding mode), as ONNX specifies; results saturate to the target dtype's
// range, and NaN quantizes to the zero point. The integer ops subtract the
// zero points while widening to i32 and accumulate in i32 with wrap-around
// (no signed overflow), in vectorisable row loops: rows of the right operand
// times one element of the left (matmul), and im2col then the same product
// (conv).
#include "common.h"

namespace sy::kernels::detail {
namespace {

bool isQuant(int32_t dt) { return dt == SY_DTYPE_U8 || dt == SY_DTYPE_I8; }

/// Reads element i of a u8/i8/i32 tensor as int32.
inline int32_t intAt(const Tensor& t, int64_t i) {
  switch (t.dtype) {
    case SY_DTYPE_U8: return t.as<const uint8_t>()[i];
    case SY_DTYPE_I8: return t.as<const int8_t>()[i];
    case SY_DTYPE_I32: return t.as<const int32_t>()[i];
    default: return 0;
  }
}

/// Scale / zero-point layout against x: per tensor (one element) or per axis.
struct QuantAxis {
  int64_t outer = 1, channels = 1, inner = 1;
  bool perAxis = false;
};

QuantAxis quantAxis(const Dims& x, const Tensor& scale, const Tensor* zp, int64_t axisAttr, const std::string& who) {
  QuantAxis q;
  q.inner = x.numElements();
  SY_KCHECK(scale.dims.rank <= 1, who, "the scale must be a scalar or 1-D, got ", dimsStr(scale.dims));
  if (zp != nullptr) {
    SY_KCHECK(zp->numElements() == scale.numElements() && zp->dims.rank <= 1, who, "the zero point ",
              dimsStr(zp->dims), " must have the scale's shape ", dimsStr(scale.dims));
  }
  if (scale.numElements() == 1) return q;
  SY_KCHECK(x.rank >= 1, who, "a per-axis scale needs x of rank >= 1");
  const int64_t axis = normAxis(axisAttr, x.rank, who);
  SY_KCHECK(scale.numElements() == x.d[axis], who, "per-axis scale ", dimsStr(scale.dims), " must have x's dim ",
            axis, " (", x.d[axis], ") elements");
  q.perAxis = true;
  q.outer = product(x.d, 0, axis);
  q.channels = x.d[axis];
  q.inner = product(x.d, axis + 1, x.rank);
  return q;
}

template <class Q>
void quantizeRow(const float* x, Q* y, int64_t n, float scale, int32_t zp) {
  constexpr float lo = static_cast<float>(std::numeric_limits<Q>::min());
  constexpr float hi = static_cast<float>(std::numeric_limits<Q>::max());
  const float z = static_cast<float>(zp);
  for (int64_t i = 0; i < n; ++i) {
    float v = std::nearbyint(x[i] / scale);
    v = v == v ? v + z : z;
    y[i] = static_cast<Q>(std::min(hi, std::max(lo, v)));
  }
}

class QuantizeKernel final : public KernelBase {
 public:
  explicit QuantizeKernel(const OpDesc& d) : KernelBase(d), axis_(d.node.attrInt("axis", 1)) {}
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 3, no, 1);
    quantAxis(in[0].dims, in[1], &in[2], axis_, who_);
    out[0] = in[0].dims;
  }
  void run(const Tensor* in, size_t, Tensor* out, size_t, const Exec& exec) const override {
    const QuantAxis q = quantAxis(in[0].dims, in[1], &in[2], axis_, who_);
    const float* x = in[0].as<const float>();
    const float* scale = in[1].as<const float>();
    parallelFor(exec, q.outer * q.channels, std::max<int64_t>(1, 16384 / std::max<int64_t>(q.inner, 1)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t c = q.perAxis ? r % q.channels : 0;
        const int32_t zp = intAt(in[2], c);
        if (out[0].dtype == SY_DTYPE_U8)
          quantizeRow(x + r * q.inner, out[0].as<uint8_t>() + r * q.inner, q.inner, scale[c], zp);
        else
          quantizeRow(x + r * q.inner, out[0].as<int8_t>() + r * q.inner, q.inner, scale[c], zp);
      }
    });
  }

 private:
  int64_t axis_;
};

template <class T>
void dequantizeRow(const T* x, float* y, int64_t n, float scale, int32_t zp) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(static_cast<int64_t>(x[i]) - zp) * scale;
}

class DequantizeKernel final : public KernelBase {
 public:
  explicit DequantizeKernel(const OpDesc& d) : KernelBase(d), axis_(d.node.attrInt("axis", 1)) {}
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 2, no, 1);
    quantAxis(in[0].dims, in[1], ni > 2 ? &in[2] : nullptr, axis_, who_);
    out[0] = in[0].dims;
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t, const Exec& exec) const override {
    const QuantAxis q = quantAxis(in[0].dims, in[1], ni > 2 ? &in[2] : nullptr, axis_, who_);
    const float* scale = in[1].as<const float>();
    float* y = out[0].as<float>();
    parallelFor(exec, q.outer * q.channels, std::max<int64_t>(1, 16384 / std::max<int64_t>(q.inner, 1)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t c = q.perAxis ? r % q.channels : 0;
        const int32_t zp = ni > 2 ? intAt(in[2], c) : 0;
        const int64_t off = r * q.inner;
        switch (in[0].dtype) {
          case SY_DTYPE_U8: dequantizeRow(in[0].as<const uint8_t>() + off, y + off, q.inner, scale[c], zp); break;
          case SY_DTYPE_I8: dequantizeRow(in[0].as<const int8_t>() + off, y + off, q.inner, scale[c], zp); break;
          default: dequantizeRow(in[0].as<const int32_t>() + off, y + off, q.inner, scale[c], zp); break;
        }
      }
    });
  }

 private:
  int64_t axis_;
};

class DynamicQuantizeKernel final : public KernelBase {
 public:
  explicit DynamicQuantizeKernel(const OpDesc& d) : KernelBase(d) {}
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 1, no, 3);
    out[0] = in[0].dims;
    out[1] = Dims{};
    out[2] = Dims{};
  }
  void run(const Tensor* in, size_t, Tensor* out, size_t, const Exec&) const override {
    const float* x = in[0].as<const float>();
    const int64_t n = in[0].numElements();
    // The range always includes 0, so that 0 is exactly representable.
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      lo = std::min(lo, x[i]);
      hi = std::max(hi, x[i]);
    }
    SY_KCHECK(std::isfinite(lo) && std::isfinite(hi), who_, "x holds an infinite value: no finite scale");
    const float scale = (hi - lo) / 255.0f;
    uint8_t zp = 0;
    if (scale > 0.0f) zp = static_cast<uint8_t>(std::min(255.0f, std::max(0.0f, std::nearbyint(0.0f - lo / scale))));
    *out[1].as<float>() = scale;
    *out[2].as<uint8_t>() = zp;
    uint8_t* y = out[0].as<uint8_t>();
    if (scale > 0.0f) quantizeRow(x, y, n, scale, zp);
    else std::fill_n(y, n, uint8_t{0});
  }
};

// ============================================================================
// matmul_integer

/// C[M, N] (wrapping i32) = A[M, K] * B[K, N], A and B already widened.
void igemm32(int64_t M, int64_t N, int64_t K, const int32_t* A, const int32_t* B, int32_t* C, const Exec& exec) {
  parallelFor(exec, M, std::max<int64_t>(1, 4096 / std::max<int64_t>(N * K, 1)), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      uint32_t* c = reinterpret_cast<uint32_t*>(C + i * N);
      std::fill(c, c + N, 0u);
      for (int64_t k = 0; k < K; ++k) {
        const uint32_t a = static_cast<uint32_t>(A[i * K + k]);
        if (a == 0) continue;
        const uint32_t* bk = reinterpret_cast<const uint32_t*>(B + k * N);
        for (int64_t j = 0; j < N; ++j) c[j] += a * bk[j];
      }
    }
  });
}

/// Widens `n` elements of a u8/i8 tensor from element `from`, minus the zero point.
void widen(const Tensor& t, int64_t from, int64_t n, int32_t zp, int32_t* dst) {
  if (t.dtype == SY_DTYPE_U8) {
    const uint8_t* p = t.as<const uint8_t>() + from;
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<int32_t>(p[i]) - zp;
  } else {
    const int8_t* p = t.as<const int8_t>() + from;
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<int32_t>(p[i]) - zp;
  }
}

class MatmulIntegerKernel final : public KernelBase {
 public:
  explicit MatmulIntegerKernel(const OpDesc& d) : KernelBase(d) {}

  struct Shape {
    Dims batch, aBatch, bBatch, out;
    int64_t M = 1, K = 1, N = 1;
  };

  Shape shape(const Tensor* in, size_t ni) const {
    const Dims &a = in[0].dims, &b = in[1].dims;
    SY_KCHECK(a.rank >= 1 && b.rank >= 1, who_, "operands must have rank >= 1, got ", dimsStr(a), " and ", dimsStr(b));
    Shape s;
    s.M = a.rank >= 2 ? a.d[a.rank - 2] : 1;
    s.K = a.d[a.rank - 1];
    const int64_t Kb = b.rank >= 2 ? b.d[b.rank - 2] : b.d[0];
    s.N = b.rank >= 2 ? b.d[b.rank - 1] : 1;
    SY_KCHECK(s.K == Kb, who_, "contraction dims differ: a is ", dimsStr(a), ", b is ", dimsStr(b));
    s.aBatch.rank = std::max(0, a.rank - 2);
    for (int i = 0; i < s.aBatch.rank; ++i) s.aBatch.d[i] = a.d[i];
    s.bBatch.rank = std::max(0, b.rank - 2);
    for (int i = 0; i < s.bBatch.rank; ++i) s.bBatch.d[i] = b.d[i];
    s.batch = broadcast(s.aBatch, s.bBatch, who_);
    s.out = s.batch;
    if (a.rank > 1) s.out.d[s.out.rank++] = s.M;
    if (b.rank > 1) s.out.d[s.out.rank++] = s.N;
    if (ni > 2) {
      const int64_t n = in[2].numElements();
      SY_KCHECK(in[2].dims.rank <= 1 && (n == 1 || n == s.M), who_, "a_zero_point must be one element or one per row (",
                s.M, "), got ", dimsStr(in[2].dims));
    }
    if (ni > 3) {
      const int64_t n = in[3].numElements();
      SY_KCHECK(in[3].dims.rank <= 1 && (n == 1 || n == s.N), who_,
                "b_zero_point must be one element or one per column (", s.N, "), got ", dimsStr(in[3].dims));
    }
    return s;
  }

  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 2, no, 1);
    out[0] = shape(in, ni).out;
  }

  void run(const Tensor* in, size_t ni, Tensor* out, size_t, const Exec& exec) const override {
    const Shape s = shape(in, ni);
    const int64_t M = s.M, K = s.K, N = s.N;
    std::vector<int32_t> a(static_cast<size_t>(M * K)), b(static_cast<size_t>(K * N));
    int64_t aStr[SY_MAX_RANK], bStr[SY_MAX_RANK];
    broadcastStrides(s.aBatch, s.batch, aStr);
    broadcastStrides(s.bBatch, s.batch, bStr);
    const int64_t batches = s.batch.numElements();
    int64_t lastA = -1, lastB = -1;
    for (int64_t bi = 0; bi < batches; ++bi) {
      int64_t ia = 0, ib = 0, rem = bi;
      for (int i = s.batch.rank - 1; i >= 0; --i) {
        const int64_t c = rem % s.batch.d[i];
        rem /= s.batch.d[i];
        ia += c * aStr[i];
        ib += c * bStr[i];
      }
      if (ia != lastA) {
        for (int64_t i = 0; i < M; ++i)
          widen(in[0], ia * M * K + i * K, K, ni > 2 ? intAt(in[2], in[2].numElements() == 1 ? 0 : i) : 0,
                a.data() + i * K);
        lastA = ia;
      }
      if (ib != lastB) {
        widen(in[1], ib * K * N, K * N, 0, b.data());
        if (ni > 3)
          for (int64_t k = 0; k < K; ++k)
            for (int64_t j = 0; j < N; ++j) b[static_cast<size_t>(k * N + j)] -= intAt(in[3], in[3].numElements() == 1 ? 0 : j);
        lastB = ib;
      }
      igemm32(M, N, K, a.data(), b.data(), out[0].as<int32_t>() + bi * M * N, exec);
    }
  }
};

// ============================================================================
// conv_integer

class ConvIntegerKernel final : public KernelBase {
 public:
  explicit ConvIntegerKernel(const OpDesc& d)
      : KernelBase(d),
        autoPad_(d.node.attrString("auto_pad", "NOTSET")),
        strides_(d.node.attrInts("strides")),
        dilations_(d.node.attrInts("dilations")),
        pads_(d.node.attrInts("pads")),
        kernel_(d.node.attrInts("kernel_shape")),
        group_(d.node.attrInt("group", 1)) {
    if (autoPad_.empty()) autoPad_ = "NOTSET";
    SY_KCHECK(autoPad_ == "NOTSET" || autoPad_ == "SAME_UPPER" || autoPad_ == "SAME_LOWER" || autoPad_ == "VALID", who_,
              "auto_pad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID, got '", autoPad_, "'");
    SY_KCHECK(group_ >= 1, who_, "group must be positive, got ", group_);
  }

  struct Geometry {
    int64_t N = 0, C = 0, M = 0, Cg = 0, Mg = 0, r = 0;
    std::vector<int64_t> in, k, out, stride, dilation, padBegin;
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
    SY_KCHECK(g.C % group_ == 0 && g.M % group_ == 0 && w.d[1] * group_ == g.C, who_, "group ", group_,
              " does not fit x ", dimsStr(x), " and w ", dimsStr(w));
    g.Cg = g.C / group_;
    g.Mg = g.M / group_;
    const size_t r = static_cast<size_t>(g.r);
    auto list = [&](const std::vector<int64_t>& v, size_t n, int64_t def, int64_t minValue, const char* name) {
      if (v.empty()) return std::vector<int64_t>(n, def);
      SY_KCHECK(v.size() == n, who_, name, " has ", v.size(), " values, expected ", n);
      for (int64_t e : v) SY_KCHECK(e >= minValue && e <= (int64_t{1} << 40), who_, name, " has an invalid value ", e);
      return v;
    };
    g.stride = list(strides_, r, 1, 1, "strides");
    g.dilation = list(dilations_, r, 1, 1, "dilations");
    const std::vector<int64_t> pads = list(pads_, 2 * r, 0, 0, "pads");
    if (!kernel_.empty()) {
      SY_KCHECK(kernel_.size() == r, who_, "kernel_shape has ", kernel_.size(), " values, expected ", r);
      for (size_t i = 0; i < r; ++i) SY_KCHECK(kernel_[i] == w.d[i + 2], who_, "kernel_shape does not match w ", dimsStr(w));
    }
    for (size_t i = 0; i < r; ++i) {
      const int64_t in_ = x.d[i + 2], k = w.d[i + 2], s = g.stride[i];
      SY_KCHECK(k >= 1, who_, "w ", dimsStr(w), " has an empty kernel");
      const int64_t eff = (k - 1) * g.dilation[i] + 1;
      int64_t out = 0, pb = 0;
      if (autoPad_ == "SAME_UPPER" || autoPad_ == "SAME_LOWER") {
        out = in_ == 0 ? 0 : (in_ - 1) / s + 1;
        const int64_t total = std::max<int64_t>(0, (out - 1) * s + eff - in_);
        pb = autoPad_ == "SAME_UPPER" ? total / 2 : total - total / 2;
      } else {
        const int64_t pe = autoPad_ == "VALID" ? 0 : pads[i + r];
        pb = autoPad_ == "VALID" ? 0 : pads[i];
        const int64_t padded = in_ + pb + pe;
        SY_KCHECK(padded >= eff, who_, "kernel of size ", eff, " is larger than the padded input (", padded,
                  ") along spatial dim ", i);
        out = (padded - eff) / s + 1;
      }
      g.in.push_back(in_);
      g.k.push_back(k);
      g.out.push_back(out);
      g.padBegin.push_back(pb);
    }
    if (ni > 2)
      SY_KCHECK(in[2].numElements() == 1 && in[2].dims.rank <= 1, who_, "x_zero_point must be one element, got ",
                dimsStr(in[2].dims));
    if (ni > 3) {
      const int64_t n = in[3].numElements();
      SY_KCHECK(in[3].dims.rank <= 1 && (n == 1 || n == g.M), who_,
                "w_zero_point must be one element or one per output channel (", g.M, "), got ", dimsStr(in[3].dims));
    }
    return g;
  }

  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 2, no, 1);
    const Geometry g = geometry(in, ni);
    out[0].rank = static_cast<int32_t>(g.r + 2);
    out[0].d[0] = g.N;
    out[0].d[1] = g.M;
    for (int64_t i = 0; i < g.r; ++i) out[0].d[i + 2] = g.out[static_cast<size_t>(i)];
  }

  void run(const Tensor* in, size_t ni, Tensor* out, size_t, const Exec& exec) const override {
    const Geometry g = geometry(in, ni);
    if (out[0].numElements() == 0) return;
    const int64_t r = g.r;
    const int64_t inSize = product(g.in.data(), 0, r), kSize = product(g.k.data(), 0, r);
    const int64_t outSize = product(g.out.data(), 0, r), rowsK = g.Cg * kSize;
    const int32_t xzp = ni > 2 ? intAt(in[2], 0) : 0;
    // Weights widened once: [M, Cg * kSize] minus each output channel's zero point.
    std::vector<int32_t> w(static_cast<size_t>(g.M * rowsK));
    for (int64_t m = 0; m < g.M; ++m)
      widen(in[1], m * rowsK, rowsK, ni > 3 ? intAt(in[3], in[3].numElements() == 1 ? 0 : m) : 0,
            w.data() + m * rowsK);
    std::vector<int32_t> col(static_cast<size_t>(rowsK * outSize)), xrow(static_cast<size_t>(inSize));
    int32_t* y = out[0].as<int32_t>();
    for (int64_t n = 0; n < g.N; ++n)
      for (int64_t grp = 0; grp < group_; ++grp) {
        // im2col of (x - x_zero_point); padding reads as zero.
        for (int64_t ci = 0; ci < g.Cg; ++ci) {
          widen(in[0], (n * g.C + grp * g.Cg + ci) * inSize, inSize, xzp, xrow.data());
          for (int64_t t = 0; t < kSize; ++t) {
            int64_t kc[SY_MAX_RANK], oc[SY_MAX_RANK];
            int64_t rem = t;
            for (int64_t i = r - 1; i >= 0; --i) {
              kc[i] = rem % g.k[static_cast<size_t>(i)];
              rem /= g.k[static_cast<size_t>(i)];
              oc[i] = 0;
            }
            int32_t* dst = col.data() + (ci * kSize + t) * outSize;
            for (int64_t p = 0; p < outSize; ++p) {
              int64_t off = 0;
              bool inside = true;
              for (int64_t i = 0; i < r; ++i) {
                const size_t u = static_cast<size_t>(i);
                const int64_t pos = oc[i] * g.stride[u] - g.padBegin[u] + kc[i] * g.dilation[u];
                inside = inside && pos >= 0 && pos < g.in[u];
                off = off * g.in[u] + pos;
              }
              dst[p] = inside ? xrow[static_cast<size_t>(off)] : 0;
              for (int64_t i = r - 1; i >= 0; --i) {
                if (++oc[i] < g.out[static_cast<size_t>(i)]) break;
                oc[i] = 0;
              }
            }
          }
        }
        igemm32(g.Mg, outSize, rowsK, w.data() + grp * g.Mg * rowsK, col.data(),
                y + (n * g.M + grp * g.Mg) * outSize, exec);
      }
  }

 private:
  std::string autoPad_;
  std::vector<int64_t> strides_, dilations_, pads_, kernel_;
  int64_t group_;
};

}  // namespace

SY_CPU_FACTORY(makeQuant) {
  const std::string_view op = d.op();
  if (op == "quantize_linear") {
    if (d.numInputs() < 3 || d.in[0] != SY_DTYPE_F32 || d.in[1] != SY_DTYPE_F32 || !isQuant(d.in[2]))
      return decline(whyNot, d, "x and y_scale must be f32 (or 16-bit floats) and y_zero_point u8 or i8");
    return std::make_unique<QuantizeKernel>(d);
  }
  if (op == "dequantize_linear") {
    if (!(isQuant(d.in[0]) || d.in[0] == SY_DTYPE_I32) || d.numInputs() < 2 || d.in[1] != SY_DTYPE_F32 ||
        (d.numInputs() > 2 && d.in[2] != d.in[0]))
      return decline(whyNot, d, "x must be u8, i8 or i32, x_scale f32 (or a 16-bit float), x_zero_point x's dtype");
    return std::make_unique<DequantizeKernel>(d);
  }
  if (op == "dynamic_quantize_linear") {
    if (d.in[0] != SY_DTYPE_F32) return decline(whyNot, d, "x must be f32");
    return std::make_unique<DynamicQuantizeKernel>(d);
  }
  for (size_t i = 0; i < d.numInputs(); ++i)
    if (!isQuant(d.in[i])) return decline(whyNot, d, "operands and zero points must be u8 or i8, input ", i, " is ", dtName(d.in[i]));
  if (op == "matmul_integer") return std::make_unique<MatmulIntegerKernel>(d);
  return std::make_unique<ConvIntegerKernel>(d);
}

}  // namespace sy::kernels::detail
