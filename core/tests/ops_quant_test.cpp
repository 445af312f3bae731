// Tests of the quantization ops (quantize_linear, dequantize_linear,
// dynamic_quantize_linear, matmul_integer, conv_integer) in the interpreter
// (the SDK's portable kernels): literal values for rounding (ties to even)
// and saturation, per-axis scales, and the integer products against naive
// loops written here.
#include <gtest/gtest.h>

#include <cmath>

#include "switchyard/op_registry.h"
#include "test_util.h"

namespace sy {
namespace {

using testing::run;
using testing::run1;
using testing::runError;

Tensor Q(DType dt, Shape s, const std::vector<double>& v) { return *Tensor::fromDoubles(dt, std::move(s), v); }
Tensor F(Shape s, const std::vector<double>& v) { return Q(DType::F32, std::move(s), v); }

std::vector<double> values(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.getDouble(i));
  return v;
}

TEST(Quant, QuantizeRoundsHalfToEvenAndSaturates) {
  const Tensor x = F({8}, {0.5, 1.5, 2.5, -0.5, -1.5, 300, -300, 1.0 / 0.0});
  const Tensor y = run1("quantize_linear", {x, F({}, {1.0}), Q(DType::U8, {}, {0})});
  EXPECT_EQ(y.dtype(), DType::U8);
  EXPECT_EQ(values(y), (std::vector<double>{0, 2, 2, 0, 0, 255, 0, 255}));
  const Tensor z = run1("quantize_linear", {x, F({}, {1.0}), Q(DType::I8, {}, {1})});
  EXPECT_EQ(z.dtype(), DType::I8);
  EXPECT_EQ(values(z), (std::vector<double>{1, 3, 3, 1, -1, 127, -128, 127}));
  // NaN quantizes to the zero point.
  EXPECT_EQ(values(run1("quantize_linear", {F({1}, {std::nan("")}), F({}, {2.0}), Q(DType::U8, {}, {7})})),
            (std::vector<double>{7}));
}

TEST(Quant, PerAxis) {
  // x [2, 3], axis 1: scales 1, 2, 4 and zero points 0, 10, 20.
  const Tensor x = F({2, 3}, {1, 2, 4, -1, 6, 8});
  const Tensor scale = F({3}, {1, 2, 4}), zp = Q(DType::U8, {3}, {0, 10, 20});
  const Tensor y = run1("quantize_linear", {x, scale, zp});
  EXPECT_EQ(values(y), (std::vector<double>{1, 11, 21, 0, 13, 22}));
  EXPECT_EQ(values(run1("dequantize_linear", {y, scale, zp})), (std::vector<double>{1, 2, 4, 0, 6, 8}));
  // axis 0 of a [2, 3]: one scale per row.
  EXPECT_EQ(values(run1("dequantize_linear", {Q(DType::I8, {2, 3}, {1, 2, 3, -1, -2, -3}), F({2}, {0.5, 2}),
                                              Q(DType::I8, {2}, {1, -1})},
                        {{"axis", int64_t{0}}})),
            (std::vector<double>{0, 0.5, 1, 0, -2, -4}));
  // i32 without a zero point (a bias).
  EXPECT_EQ(values(run1("dequantize_linear", {Q(DType::I32, {2}, {-100000, 7}), F({}, {0.5})})),
            (std::vector<double>{-50000, 3.5}));
}

TEST(Quant, DynamicQuantize) {
  // ONNX's example: x = [0, 2, -3, -2.5, 1.34, 0.5] -> scale 5/255, zero point 153.
  const auto outs = run("dynamic_quantize_linear", {F({6}, {0, 2, -3, -2.5, 1.34, 0.5})});
  ASSERT_EQ(outs.size(), 3u);
  EXPECT_FLOAT_EQ(static_cast<float>(outs[1].getDouble(0)), 5.0f / 255.0f);
  EXPECT_EQ(outs[2].getDouble(0), 153);
  EXPECT_EQ(values(outs[0]), (std::vector<double>{153, 255, 0, 26, 221, 179}));
  const auto zeros = run("dynamic_quantize_linear", {F({3}, {0, 0, 0})});
  EXPECT_EQ(values(zeros[0]), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(zeros[1].getDouble(0), 0);
}

TEST(Quant, MatmulIntegerAgainstNaiveLoop) {
  const int64_t B = 2, M = 3, K = 5, N = 4;
  std::vector<double> a, b;
  for (int64_t i = 0; i < B * M * K; ++i) a.push_back(static_cast<double>((i * 37) % 256));
  for (int64_t i = 0; i < K * N; ++i) b.push_back(static_cast<double>((i * 53) % 256) - 128);
  const std::vector<double> azp = {3, 200, 128}, bzp = {-5, 0, 7, 127};
  const Tensor y = run1("matmul_integer", {Q(DType::U8, {B, M, K}, a), Q(DType::I8, {K, N}, b), Q(DType::U8, {M}, azp),
                                           Q(DType::I8, {N}, bzp)});
  ASSERT_EQ(y.dtype(), DType::I32);
  ASSERT_EQ(y.shape(), (Shape{B, M, N}));
  for (int64_t bb = 0; bb < B; ++bb)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        int64_t acc = 0;
        for (int64_t k = 0; k < K; ++k)
          acc += (static_cast<int64_t>(a[static_cast<size_t>((bb * M + i) * K + k)]) - static_cast<int64_t>(azp[static_cast<size_t>(i)])) *
                 (static_cast<int64_t>(b[static_cast<size_t>(k * N + j)]) - static_cast<int64_t>(bzp[static_cast<size_t>(j)]));
        EXPECT_EQ(y.getDouble((bb * M + i) * N + j), static_cast<double>(acc));
      }
}

TEST(Quant, ConvIntegerAgainstNaiveLoop) {
  // x [1, 4, 5, 6] u8, w [4, 2, 3, 3] u8 (group 2), pads 1, stride 2, per-channel w zero points.
  const int64_t C = 4, H = 5, W = 6, M = 4, G = 2, Cg = C / G, Mg = M / G, KH = 3, KW = 3;
  std::vector<double> x, w;
  for (int64_t i = 0; i < C * H * W; ++i) x.push_back(static_cast<double>((i * 29) % 256));
  for (int64_t i = 0; i < M * Cg * KH * KW; ++i) w.push_back(static_cast<double>((i * 71) % 256));
  const double xzp = 17;
  const std::vector<double> wzp = {1, 128, 255, 0};
  const Tensor y = run1("conv_integer", {Q(DType::U8, {1, C, H, W}, x), Q(DType::U8, {M, Cg, KH, KW}, w),
                                         Q(DType::U8, {}, {xzp}), Q(DType::U8, {M}, wzp)},
                        {{"group", G}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}, {"strides", std::vector<int64_t>{2, 2}}});
  const int64_t OH = (H + 2 - KH) / 2 + 1, OW = (W + 2 - KW) / 2 + 1;
  ASSERT_EQ(y.shape(), (Shape{1, M, OH, OW}));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        int64_t acc = 0;
        const int64_t g = m / Mg;
        for (int64_t c = 0; c < Cg; ++c)
          for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw) {
              const int64_t ih = oh * 2 - 1 + kh, iw = ow * 2 - 1 + kw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              const double xv = x[static_cast<size_t>(((g * Cg + c) * H + ih) * W + iw)] - xzp;
              const double wv = w[static_cast<size_t>(((m * Cg + c) * KH + kh) * KW + kw)] - wzp[static_cast<size_t>(m)];
              acc += static_cast<int64_t>(xv * wv);
            }
        EXPECT_EQ(y.getDouble((m * OH + oh) * OW + ow), static_cast<double>(acc)) << m << " " << oh << " " << ow;
      }
}

TEST(Quant, Errors) {
  const Tensor x = F({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_FALSE(runError("quantize_linear", {x, F({2}, {1, 2}), Q(DType::U8, {2}, {0, 0})}).ok());  // 2 vs dim 1 = 3
  EXPECT_FALSE(runError("quantize_linear", {x, F({}, {1}), Q(DType::I32, {}, {0})}).ok());         // zp dtype
  EXPECT_FALSE(runError("quantize_linear", {x, F({3}, {1, 2, 3}), Q(DType::U8, {2}, {0, 0})}).ok());  // zp shape
  EXPECT_FALSE(runError("dequantize_linear", {Q(DType::U8, {2}, {1, 2}), F({}, {1}), Q(DType::I8, {}, {0})}).ok());
  EXPECT_FALSE(runError("matmul_integer", {Q(DType::U8, {2, 3}, {1, 2, 3, 4, 5, 6}), Q(DType::U8, {2, 2}, {1, 2, 3, 4})}).ok());
  EXPECT_FALSE(runError("matmul_integer", {Q(DType::U8, {2, 2}, {1, 2, 3, 4}), Q(DType::I32, {2, 2}, {1, 2, 3, 4})}).ok());
  EXPECT_FALSE(testing::runWithUnknownDims(
                   "quantize_linear", {x, F({2}, {1, 2}), Q(DType::U8, {2}, {0, 0})})
                   .ok());
  EXPECT_FALSE(testing::runWithUnknownDims("matmul_integer", {Q(DType::U8, {2, 3}, {1, 2, 3, 4, 5, 6}),
                                                               Q(DType::U8, {2, 2}, {1, 2, 3, 4})})
                   .ok());
}

}  // namespace
}  // namespace sy
