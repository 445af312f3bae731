// Normalisation kernels (f32; 16-bit floats through the registry's wrapper):
// batch_norm (inference), layer_norm and instance_norm. Statistics are two
// passes in double (mean, then population variance), as in the reference;
// the per-element work is f32.
#include "common.h"

namespace sy::kernels::detail {
namespace {

double readEpsilon(const OpDesc& d) {
  const double eps = d.node.attrFloat("epsilon", 1e-5);
  SY_KCHECK(eps >= 0 && std::isfinite(eps), d.describe(), "epsilon must be a finite number >= 0, got ", eps);
  return eps;
}

/// Mean and 1/sqrt(var + eps) of n > 0 contiguous floats: two passes, each
/// summed in f32 vector lanes over blocks of 256 elements and the blocks in
/// double. The first pass sums x - x[0], so a large common offset costs no
/// precision; the second sums (x - mean)^2, whose differences are exact
/// (Sterbenz) wherever the offset dominates.
inline void moments(const float* x, int64_t n, double eps, float& mean, float& meanLo, float& rstd) {
  const int64_t n4 = n & ~int64_t{3};
  const float x0 = x[0];
  double s = 0;
  int64_t k = 0;
  while (k < n4) {
    V4f acc = splat(0.0f);
    for (const int64_t end = std::min(n4, k + 256); k < end; k += 4) acc += vload(x + k) - x0;
    s += (static_cast<double>(acc[0]) + acc[1]) + (static_cast<double>(acc[2]) + acc[3]);
  }
  for (; k < n; ++k) s += x[k] - x0;
  const double m = x0 + s / static_cast<double>(n);
  // The mean as mf + mlo: x - mf is exact where it matters, and mlo keeps the rest.
  const auto mf = static_cast<float>(m);
  const auto mlo = static_cast<float>(m - mf);
  double q = 0;
  k = 0;
  while (k < n4) {
    V4f acc = splat(0.0f);
    for (const int64_t end = std::min(n4, k + 256); k < end; k += 4) {
      const V4f dlt = (vload(x + k) - mf) - mlo;
      acc += dlt * dlt;
    }
    q += (static_cast<double>(acc[0]) + acc[1]) + (static_cast<double>(acc[2]) + acc[3]);
  }
  for (; k < n; ++k) {
    const double dlt = static_cast<double>(x[k]) - m;
    q += dlt * dlt;
  }
  mean = mf;
  meanLo = mlo;
  rstd = static_cast<float>(1.0 / std::sqrt(q / static_cast<double>(n) + eps));
}

/// x [N, C, ...] with per-channel params [C].
void checkChannelParams(const std::string& who, const Tensor* in, size_t first, size_t last) {
  const Dims& x = in[0].dims;
  SY_KCHECK(x.rank >= 2, who, "x must have rank >= 2 ([N, C, ...]), got ", dimsStr(x));
  for (size_t i = first; i < last; ++i)
    SY_KCHECK(in[i].dims.rank == 1 && in[i].dims.d[0] == x.d[1], who, "input ", i, " must be [", x.d[1], "], got ",
          dimsStr(in[i].dims));
}

class BatchNormKernel final : public KernelBase {
 public:
  BatchNormKernel(const OpDesc& d) : KernelBase(d), eps_(readEpsilon(d)) {}
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 5, no, 1);
    checkChannelParams(who_, in, 1, 5);
    out[0] = in[0].dims;
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    const Dims& xd = in[0].dims;
    const int64_t N = xd.d[0], C = xd.d[1], inner = product(xd.d, 2, xd.rank);
    if (N * C * inner == 0) return;
    std::vector<float> mul(static_cast<size_t>(C)), mean(static_cast<size_t>(C)), add(static_cast<size_t>(C));
    const float *s = in[1].as<const float>(), *b = in[2].as<const float>(), *m = in[3].as<const float>(),
                *v = in[4].as<const float>();
    for (int64_t c = 0; c < C; ++c) {
      mul[c] = static_cast<float>(static_cast<double>(s[c]) / std::sqrt(static_cast<double>(v[c]) + eps_));
      mean[c] = m[c];
      add[c] = b[c];
    }
    const float* x = in[0].as<const float>();
    float* y = out[0].as<float>();
    const float *pm = mul.data(), *pmean = mean.data(), *padd = add.data();
    parallelFor(exec, N * C, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)), [=](int64_t b0, int64_t e0) {
      for (int64_t p = b0; p < e0; ++p) {
        const int64_t c = p % C;
        const float a = pm[c], mu = pmean[c], bb = padd[c];
        const float* xs = x + p * inner;
        float* ys = y + p * inner;
        for (int64_t k = 0; k < inner; ++k) ys[k] = (xs[k] - mu) * a + bb;
      }
    });
  }

 private:
  double eps_;
};

class InstanceNormKernel final : public KernelBase {
 public:
  InstanceNormKernel(const OpDesc& d) : KernelBase(d), eps_(readEpsilon(d)) {}
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 3, no, 1);
    checkChannelParams(who_, in, 1, 3);
    out[0] = in[0].dims;
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    const Dims& xd = in[0].dims;
    const int64_t N = xd.d[0], C = xd.d[1], inner = product(xd.d, 2, xd.rank);
    if (N * C * inner == 0) return;
    const float* x = in[0].as<const float>();
    const float* s = in[1].as<const float>();
    const float* b = in[2].as<const float>();
    float* y = out[0].as<float>();
    const double eps = eps_;
    parallelFor(exec, N * C, std::max<int64_t>(1, 8192 / inner), [=](int64_t b0, int64_t e0) {
      for (int64_t p = b0; p < e0; ++p) {
        const int64_t c = p % C;
        const float* xs = x + p * inner;
        float* ys = y + p * inner;
        float mean, meanLo, rstd;
        moments(xs, inner, eps, mean, meanLo, rstd);
        const float a = rstd * s[c], bb = b[c];
        for (int64_t k = 0; k < inner; ++k) ys[k] = ((xs[k] - mean) - meanLo) * a + bb;
      }
    });
  }

 private:
  double eps_;
};

class LayerNormKernel final : public KernelBase {
 public:
  LayerNormKernel(const OpDesc& d)
      : KernelBase(d), eps_(readEpsilon(d)), axis_(d.node.attrInt("axis", -1)), hasBias_(d.has(2)) {}

  int64_t axisFor(int32_t rank) const {
    if (rank == 0 && (axis_ == 0 || axis_ == -1)) return 0;
    return normAxis(axis_, rank, who_);
  }
  void checkParam(const Dims& x, int64_t axis, const Dims& p, const char* what) const {
    const int64_t normRank = x.rank - axis;
    bool ok = p.rank <= normRank;
    for (int j = 0; ok && j < p.rank; ++j) {
      const int64_t nd = x.d[x.rank - p.rank + j];
      ok = p.d[j] == 1 || p.d[j] == nd;
    }
    SY_KCHECK(ok, who_, what, " ", dimsStr(p), " does not broadcast to the normalised dims of x ", dimsStr(x), " (axis ",
          axis, ")");
  }
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 2, no, 1);
    const int64_t axis = axisFor(in[0].dims.rank);
    checkParam(in[0].dims, axis, in[1].dims, "scale");
    if (hasBias_ && ni > 2) checkParam(in[0].dims, axis, in[2].dims, "bias");
    out[0] = in[0].dims;
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    const Dims& xd = in[0].dims;
    const int64_t axis = axisFor(xd.rank);
    const int64_t outer = product(xd.d, 0, axis), group = product(xd.d, axis, xd.rank);
    if (outer * group == 0) return;
    const bool hasBias = hasBias_ && ni > 2 && in[2].data != nullptr;
    // Scale and bias expanded to the normalised dims.
    Dims norm;
    for (int i = static_cast<int>(axis); i < xd.rank; ++i) norm.d[norm.rank++] = xd.d[i];
    std::vector<float> scale, bias;
    auto expand = [&](const Tensor& t, std::vector<float>& dst) -> const float* {
      if (t.numElements() == group) return t.as<const float>();
      dst.resize(static_cast<size_t>(group));
      int64_t st[SY_MAX_RANK];
      broadcastStrides(t.dims, norm, st);
      int64_t coord[SY_MAX_RANK] = {};
      const float* src = t.as<const float>();
      for (int64_t k = 0; k < group; ++k) {
        int64_t off = 0;
        for (int i = 0; i < norm.rank; ++i) off += coord[i] * st[i];
        dst[k] = src[off];
        for (int i = norm.rank - 1; i >= 0; --i) {
          if (++coord[i] < norm.d[i]) break;
          coord[i] = 0;
        }
      }
      return dst.data();
    };
    const float* s = expand(in[1], scale);
    const float* b = hasBias ? expand(in[2], bias) : nullptr;
    const float* x = in[0].as<const float>();
    float* y = out[0].as<float>();
    const double eps = eps_;
    parallelFor(exec, outer, std::max<int64_t>(1, 8192 / group), [=](int64_t b0, int64_t e0) {
      for (int64_t o = b0; o < e0; ++o) {
        const float* xs = x + o * group;
        float* ys = y + o * group;
        float mean, meanLo, rstd;
        moments(xs, group, eps, mean, meanLo, rstd);
        if (b != nullptr) {
          for (int64_t k = 0; k < group; ++k) ys[k] = ((xs[k] - mean) - meanLo) * rstd * s[k] + b[k];
        } else {
          for (int64_t k = 0; k < group; ++k) ys[k] = ((xs[k] - mean) - meanLo) * rstd * s[k];
        }
      }
    });
  }

 private:
  double eps_;
  int64_t axis_;
  bool hasBias_;
};

bool allF32(const OpDesc& d) {
  for (int32_t dt : d.in)
    if (dt >= 0 && dt != SY_DTYPE_F32) return false;
  return true;
}

}  // namespace

SY_CPU_FACTORY(makeBatchNorm) {
  if (!allF32(d) || d.numInputs() != 5) return decline(whyNot, d, "needs 5 float inputs of one dtype");
  return std::make_unique<BatchNormKernel>(d);
}

SY_CPU_FACTORY(makeInstanceNorm) {
  if (!allF32(d) || d.numInputs() != 3) return decline(whyNot, d, "needs 3 float inputs of one dtype");
  return std::make_unique<InstanceNormKernel>(d);
}

SY_CPU_FACTORY(makeLayerNorm) {
  if (!allF32(d)) return decline(whyNot, d, "needs float inputs of one dtype");
  return std::make_unique<LayerNormKernel>(d);
}

}  // namespace sy::kernels::detail
