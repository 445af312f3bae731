// grid_sample: ONNX GridSample (opset 16) on 4-D inputs, with PyTorch's
// grid_sample semantics (the ONNX operator was defined from it):
//
// Note [grid_sample coordinates]
// A grid value g in [-1, 1] maps to the input coordinate
//   align_corners: (g + 1) / 2 * (size - 1)   (-1 and 1 are the centres of the corner pixels)
//   otherwise:     ((g + 1) * size - 1) / 2   (-1 and 1 are the outer edges of the corner pixels).
// bilinear and nearest first apply the padding mode to that coordinate
// (border: clamp to [0, size - 1]; reflection: reflect about the border
// pixels' centres, or about their outer edges without align_corners, then
// clamp) and read taps outside the input as 0. bicubic takes the 4 x 4 taps
// around the unpadded coordinate and applies the padding mode to each tap
// (Keys' cubic, a = -0.75). nearest rounds half to even.
#include "common.h"

namespace sy::kernels::detail {
namespace {

enum class GsMode { Bilinear, Nearest, Bicubic };
enum class GsPad { Zeros, Border, Reflection };

class GridSampleKernel final : public KernelBase {
 public:
  explicit GridSampleKernel(const OpDesc& d) : KernelBase(d) {
    const std::string mode = d.node.attrString("mode", "bilinear");
    if (mode == "bilinear") mode_ = GsMode::Bilinear;
    else if (mode == "nearest") mode_ = GsMode::Nearest;
    else if (mode == "bicubic") mode_ = GsMode::Bicubic;
    else failArg(who_, "unknown mode '", mode, "' (bilinear, nearest or bicubic)");
    const std::string pad = d.node.attrString("padding_mode", "zeros");
    if (pad == "zeros") pad_ = GsPad::Zeros;
    else if (pad == "border") pad_ = GsPad::Border;
    else if (pad == "reflection") pad_ = GsPad::Reflection;
    else failArg(who_, "unknown padding_mode '", pad, "' (zeros, border or reflection)");
    const int64_t ac = d.node.attrInt("align_corners", 0);
    SY_KCHECK(ac == 0 || ac == 1, who_, "align_corners must be 0 or 1, got ", ac);
    alignCorners_ = ac == 1;
  }

  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 2, no, 1);
    const Dims& x = in[0].dims;
    const Dims& g = in[1].dims;
    SY_KCHECK(x.rank == 4, who_, "x must be 4-D [N, C, H, W], got ", dimsStr(x));
    SY_KCHECK(g.rank == 4 && g.d[3] == 2, who_, "grid must be [N, H_out, W_out, 2], got ", dimsStr(g));
    SY_KCHECK(g.d[0] == x.d[0], who_, "grid's batch ", g.d[0], " differs from x's ", x.d[0]);
    SY_KCHECK(in[0].dtype == SY_DTYPE_F32 && in[1].dtype == SY_DTYPE_F32, who_, "x and grid must be float tensors");
    Dims o;
    o.rank = 4;
    o.d[0] = x.d[0];
    o.d[1] = x.d[1];
    o.d[2] = g.d[1];
    o.d[3] = g.d[2];
    out[0] = o;
  }

  void run(const Tensor* in, size_t, Tensor* out, size_t, const Exec& exec) const override {
    const Dims& x = in[0].dims;
    const int64_t N = x.d[0], C = x.d[1], H = x.d[2], W = x.d[3];
    const int64_t Ho = out[0].dims.d[2], Wo = out[0].dims.d[3];
    if (out[0].numElements() == 0) return;
    const float* src = in[0].as<const float>();
    const float* grid = in[1].as<const float>();
    float* dst = out[0].as<float>();
    const int64_t plane = H * W, outPlane = Ho * Wo;
    // One task per (n, output pixel): the taps and weights are found once and applied to every channel.
    parallelFor(exec, N * outPlane, std::max<int64_t>(1, 4096 / std::max<int64_t>(C, 1)), [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t n = t / outPlane, p = t % outPlane;
        const double gx = grid[t * 2], gy = grid[t * 2 + 1];
        const float* xs = src + n * C * plane;
        float* ys = dst + n * C * outPlane + p;
        int64_t idx[16];
        double w[16];
        const int taps = taps2d(gx, gy, W, H, idx, w);
        for (int64_t ch = 0; ch < C; ++ch) {
          const float* xp = xs + ch * plane;
          double acc = 0;
          for (int k = 0; k < taps; ++k) acc += w[k] * static_cast<double>(xp[idx[k]]);
          ys[ch * outPlane] = static_cast<float>(acc);
        }
      }
    });
  }

 private:
  double unnormalize(double g, int64_t size) const {
    return alignCorners_ ? (g + 1) / 2 * static_cast<double>(size - 1)
                         : ((g + 1) * static_cast<double>(size) - 1) / 2;
  }
  /// Reflects x into [lo2 / 2, hi2 / 2] (bounds given doubled, as PyTorch does).
  static double reflect(double x, double lo2, double hi2) {
    if (lo2 == hi2) return 0;
    const double mn = lo2 / 2, span = (hi2 - lo2) / 2;
    x = std::fabs(x - mn);
    const double extra = std::fmod(x, span);
    const double flips = std::floor(x / span);
    return std::fmod(flips, 2.0) == 0 ? extra + mn : span - extra + mn;
  }
  /// The padding mode applied to a coordinate (zeros leaves it as it is).
  double pad(double x, int64_t size) const {
    if (pad_ == GsPad::Zeros) return x;
    if (pad_ == GsPad::Reflection) {
      x = alignCorners_ ? reflect(x, 0, 2 * static_cast<double>(size - 1))
                        : reflect(x, -1, 2 * static_cast<double>(size) - 1);
    }
    return std::clamp(x, 0.0, static_cast<double>(size - 1));
  }
  static double cubic1(double x) { return ((1.25 * x - 2.25) * x) * x + 1; }          // |x| <= 1, a = -0.75
  static double cubic2(double x) { return ((-0.75 * x + 3.75) * x - 6) * x + 3; }     // 1 < |x| < 2

  /// Taps (flat offsets into one H x W plane) and weights for grid point (gx, gy);
  /// taps outside the input are left out (they read 0), and so is a NaN grid point.
  int taps2d(double gx, double gy, int64_t W, int64_t H, int64_t* idx, double* w) const {
    if (std::isnan(gx) || std::isnan(gy)) return 0;
    double ix = unnormalize(gx, W), iy = unnormalize(gy, H);
    int n = 0;
    auto add = [&](double xi, double yi, double weight) {
      // Written so that NaN (an infinite grid value reflected) is outside too.
      if (weight == 0 || !(xi >= 0 && yi >= 0 && xi <= static_cast<double>(W - 1) && yi <= static_cast<double>(H - 1)))
        return;
      idx[n] = static_cast<int64_t>(yi) * W + static_cast<int64_t>(xi);
      w[n] = weight;
      ++n;
    };
    if (mode_ == GsMode::Bicubic) {
      const double x0 = std::floor(ix), y0 = std::floor(iy), tx = ix - x0, ty = iy - y0;
      const double wx[4] = {cubic2(tx + 1), cubic1(tx), cubic1(1 - tx), cubic2(2 - tx)};
      const double wy[4] = {cubic2(ty + 1), cubic1(ty), cubic1(1 - ty), cubic2(2 - ty)};
      for (int j = 0; j < 4; ++j)
        for (int i = 0; i < 4; ++i) {
          const double xi = pad(x0 - 1 + i, W), yi = pad(y0 - 1 + j, H);
          // Padded taps are whole numbers again, except reflection without align_corners can give .5: floor
          // them as PyTorch's integer conversion does.
          add(std::floor(xi), std::floor(yi), wx[i] * wy[j]);
        }
      return n;
    }
    ix = pad(ix, W);
    iy = pad(iy, H);
    if (mode_ == GsMode::Nearest) {
      add(std::nearbyint(ix), std::nearbyint(iy), 1.0);
      return n;
    }
    const double x0 = std::floor(ix), y0 = std::floor(iy), tx = ix - x0, ty = iy - y0;
    add(x0, y0, (1 - tx) * (1 - ty));
    add(x0 + 1, y0, tx * (1 - ty));
    add(x0, y0 + 1, (1 - tx) * ty);
    add(x0 + 1, y0 + 1, tx * ty);
    return n;
  }

  GsMode mode_ = GsMode::Bilinear;
  GsPad pad_ = GsPad::Zeros;
  bool alignCorners_ = false;
};

}  // namespace

SY_CPU_FACTORY(makeGridSample) {
  if (d.in.size() < 2 || d.in[0] != SY_DTYPE_F32 || d.in[1] != SY_DTYPE_F32)
    return decline(whyNot, d, "only float x and grid are implemented");
  return std::make_unique<GridSampleKernel>(d);
}

}  // namespace sy::kernels::detail
