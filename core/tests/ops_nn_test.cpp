// Tests of the nn ops: matmul, gemm, conv, conv_transpose and the pools.
//
// Expected values are literal numbers worked out by hand, or computed here by
// separately written naive formulas (matmul by a triple loop, conv by
// im2col + matmul, conv_transpose by scattering each input element).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "switchyard/op_registry.h"
#include "test_util.h"

namespace sy {
namespace {

using testing::F;
using testing::I;
using testing::run1;
using testing::runError;
using testing::T;

using Ints = std::vector<int64_t>;

/// Deterministic test data, exactly representable in f32 (multiples of 1/8).
std::vector<double> data(int64_t n, int64_t seed = 0) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<double>(((i + seed) * 7919 + 13 * seed) % 23 - 11) / 8.0;
  return v;
}

int64_t numel(const Shape& s) {
  int64_t p = 1;
  for (int64_t d : s) p *= d;
  return p;
}

/// Flat index of `coords` in a row-major `shape`.
int64_t flat(const Shape& shape, const Ints& coords) {
  int64_t f = 0;
  for (size_t i = 0; i < shape.size(); ++i) f = f * shape[i] + coords[i];
  return f;
}

/// Coordinates of flat index `f` in `shape`.
Ints coordsOf(int64_t f, const Shape& shape) {
  Ints c(shape.size());
  for (size_t i = shape.size(); i-- > 0;) {
    c[i] = f % shape[i];
    f /= shape[i];
  }
  return c;
}

bool hasSubstr(const Status& s, const std::string& what) {
  return s.message().find(what) != std::string::npos;
}

std::string inferred(const std::string& op, const AttrMap& attrs, const std::vector<Type>& types) {
  auto r = inferOp(*OpRegistry::global().find(op), attrs, types, std::vector<const Tensor*>(types.size(), nullptr), 1);
  if (!r.ok()) return "error: " + r.status().message();
  return (*r)[0].toString();
}

Type ty(std::vector<Dim> dims) { return Type::tensor(DType::F32, std::move(dims)); }

// ===========================================================================
// matmul

TEST(Matmul, VectorTimesMatrix) {
  // [3] x [3, 2] -> [2]
  Tensor y = run1("matmul", {F({3}, {1, 2, 3}), F({3, 2}, {1, 2, 3, 4, 5, 6})});
  EXPECT_TENSOR(y, DType::F32, Shape({2}), {1 * 1 + 2 * 3 + 3 * 5, 1 * 2 + 2 * 4 + 3 * 6});
}

TEST(Matmul, MatrixTimesVector) {
  // [2, 3] x [3] -> [2]
  Tensor y = run1("matmul", {F({2, 3}, {1, 2, 3, 4, 5, 6}), F({3}, {1, 0, -1})});
  EXPECT_TENSOR(y, DType::F32, Shape({2}), {-2, -2});
}

TEST(Matmul, VectorTimesVectorIsRank0) {
  Tensor y = run1("matmul", {F({3}, {1, 2, 3}), F({3}, {4, 5, 6})});
  EXPECT_TENSOR(y, DType::F32, Shape({}), {32});
}

TEST(Matmul, Plain2D) {
  Tensor y = run1("matmul", {F({2, 2}, {1, 2, 3, 4}), F({2, 3}, {5, 6, 7, 8, 9, 10})});
  EXPECT_TENSOR(y, DType::F32, Shape({2, 3}), {21, 24, 27, 47, 54, 61});
}

TEST(Matmul, BatchBroadcast) {
  // [2, 1, 2, 3] x [3, 3, 4] -> [2, 3, 2, 4]
  const std::vector<double> av = data(12, 1), bv = data(36, 2);
  Tensor y = run1("matmul", {F({2, 1, 2, 3}, av), F({3, 3, 4}, bv)});
  std::vector<double> expected;
  for (int i = 0; i < 2; ++i)        // a batch 0
    for (int j = 0; j < 3; ++j)      // b batch 0 (a's is 1)
      for (int m = 0; m < 2; ++m)
        for (int n = 0; n < 4; ++n) {
          double acc = 0;
          for (int k = 0; k < 3; ++k) acc += av[i * 6 + m * 3 + k] * bv[j * 12 + k * 4 + n];
          expected.push_back(acc);
        }
  EXPECT_TENSOR(y, DType::F32, Shape({2, 3, 2, 4}), expected);
}

TEST(Matmul, VectorWithBatchedMatrix) {
  // [3] x [2, 3, 2] -> [2, 2]
  Tensor y = run1("matmul", {F({3}, {1, 1, 1}), F({2, 3, 2}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})});
  EXPECT_TENSOR(y, DType::F32, Shape({2, 2}), {9, 12, 27, 30});
}

TEST(Matmul, Integers) {
  Tensor y = run1("matmul", {I({2, 2}, {1, -2, 3, 4}), I({2, 1}, {5, 6})});
  EXPECT_TENSOR(y, DType::I64, Shape({2, 1}), {-7, 39});
  Tensor a32 = T(DType::I32, {1, 2}, {100000, 100000});
  Tensor b32 = T(DType::I32, {2, 1}, {100000, 1});
  // 1e10 + 1e5 wraps in i32: (10000100000 mod 2^32) as signed.
  Tensor y32 = run1("matmul", {a32, b32});
  const int64_t wrapped = static_cast<int32_t>(static_cast<uint32_t>(int64_t{10000100000} & 0xffffffff));
  EXPECT_TENSOR(y32, DType::I32, Shape({1, 1}), {static_cast<double>(wrapped)});
}

TEST(Matmul, HalfPrecision) {
  Tensor y = run1("matmul", {T(DType::F16, {1, 2}, {0.5, 2}), T(DType::F16, {2, 1}, {4, 0.25})});
  EXPECT_TENSOR(y, DType::F16, Shape({1, 1}), {2.5});
  Tensor z = run1("matmul", {T(DType::BF16, {2}, {1, 2}), T(DType::BF16, {2}, {3, 4})});
  EXPECT_TENSOR(z, DType::BF16, Shape({}), {11});
}

TEST(Matmul, EmptyDims) {
  Tensor y = run1("matmul", {F({0, 2, 3}, {}), F({3, 4}, data(12))});
  EXPECT_TENSOR(y, DType::F32, Shape({0, 2, 4}), {});
  Tensor z = run1("matmul", {F({2, 0}, {}), F({0, 3}, {})});  // K = 0: zeros
  EXPECT_TENSOR(z, DType::F32, Shape({2, 3}), {0, 0, 0, 0, 0, 0});
}

TEST(Matmul, Errors) {
  Status s = runError("matmul", {F({2, 3}, data(6)), F({4, 2}, data(8))});
  EXPECT_TRUE(hasSubstr(s, "matmul")) << s.message();
  EXPECT_TRUE(hasSubstr(s, "3 vs 4")) << s.message();
  s = runError("matmul", {F({2, 2, 3}, data(12)), F({3, 3, 1}, data(9))});
  EXPECT_TRUE(hasSubstr(s, "broadcast")) << s.message();
  s = runError("matmul", {Tensor::scalarF32(1), F({1}, {1})});
  EXPECT_TRUE(hasSubstr(s, "rank")) << s.message();
  s = runError("matmul", {F({1}, {1}), I({1}, {1})});
  EXPECT_TRUE(hasSubstr(s, "same dtype")) << s.message();
  s = runError("matmul", {T(DType::I8, {1}, {1}), T(DType::I8, {1}, {1})});
  EXPECT_TRUE(hasSubstr(s, "dtype")) << s.message();
}

TEST(Matmul, SymbolicInference) {
  EXPECT_EQ(inferred("matmul", {}, {ty({Dim::symbol("N"), 2, 3}), ty({3, 4})}), "f32[N, 2, 4]");
  EXPECT_EQ(inferred("matmul", {}, {ty({Dim::symbol("B"), Dim::symbol("S"), 8}), ty({8})}), "f32[B, S]");
  EXPECT_EQ(inferred("matmul", {}, {ty({1, 2, Dim::symbol("K")}), ty({5, 7, 4})}), "f32[5, 2, 4]");
  EXPECT_EQ(inferred("matmul", {}, {Type::tensorUnranked(DType::F32), ty({3, 4})}), "f32[*]");
}

// ===========================================================================
// gemm

std::vector<double> naiveGemm(const std::vector<double>& a, const std::vector<double>& b, const std::vector<double>* c,
                              const Shape& cShape, int64_t M, int64_t N, int64_t K, bool ta, bool tb, double alpha,
                              double beta) {
  std::vector<double> y;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += (ta ? a[k * M + m] : a[m * K + k]) * (tb ? b[n * K + k] : b[k * N + n]);
      double cv = 0;
      if (c) {
        if (cShape.size() == 2) cv = (*c)[(cShape[0] == 1 ? 0 : m) * cShape[1] + (cShape[1] == 1 ? 0 : n)];
        else if (cShape.size() == 1) cv = (*c)[cShape[0] == 1 ? 0 : n];
        else cv = (*c)[0];
      }
      y.push_back(alpha * acc + beta * cv);
    }
  return y;
}

TEST(Gemm, Literal) {
  // [[1,2],[3,4]] @ [[1,0],[0,1]] * 2 + 1 * [10, 20]
  Tensor y = run1("gemm", {F({2, 2}, {1, 2, 3, 4}), F({2, 2}, {1, 0, 0, 1}), F({2}, {10, 20})},
                  {{"alpha", 2.0}});
  EXPECT_TENSOR(y, DType::F32, Shape({2, 2}), {12, 24, 16, 28});
  Tensor z = run1("gemm", {F({2, 2}, {1, 2, 3, 4}), F({2, 2}, {5, 6, 7, 8})});
  EXPECT_TENSOR(z, DType::F32, Shape({2, 2}), {19, 22, 43, 50});
}

TEST(Gemm, TransposesAndBiasShapes) {
  const int64_t M = 3, N = 4, K = 2;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (const Shape& cs : {Shape{N}, Shape{1}, Shape{M, N}, Shape{M, 1}, Shape{1, N}, Shape{}}) {
        const std::vector<double> a = data(M * K, 3), b = data(K * N, 4), c = data(numel(cs), 5);
        const Shape aShape = ta ? Shape{K, M} : Shape{M, K};
        const Shape bShape = tb ? Shape{N, K} : Shape{K, N};
        AttrMap attrs = {{"alpha", 0.5}, {"beta", -2.0}, {"transA", int64_t{ta}}, {"transB", int64_t{tb}}};
        Tensor y = run1("gemm", {F(aShape, a), F(bShape, b), F(cs, c)}, attrs);
        EXPECT_TENSOR(y, DType::F32, Shape({M, N}), naiveGemm(a, b, &c, cs, M, N, K, ta, tb, 0.5, -2.0))
            << "transA " << ta << " transB " << tb << " c " << shapeToString(cs);
      }
}

TEST(Gemm, NoBias) {
  const std::vector<double> a = data(6, 1), b = data(6, 2);
  Tensor y = run1("gemm", {F({3, 2}, a), F({3, 2}, b)}, {{"transA", int64_t{1}}, {"alpha", 3.0}});
  EXPECT_TENSOR(y, DType::F32, Shape({2, 2}), naiveGemm(a, b, nullptr, {}, 2, 2, 3, true, false, 3.0, 1.0));
}

TEST(Gemm, Errors) {
  Status s = runError("gemm", {F({2, 3}, data(6)), F({2, 3}, data(6))});
  EXPECT_TRUE(hasSubstr(s, "gemm") && hasSubstr(s, "3 vs 2")) << s.message();
  s = runError("gemm", {F({2, 3}, data(6)), F({3, 4}, data(12)), F({3}, data(3))});
  EXPECT_TRUE(hasSubstr(s, "broadcast")) << s.message();
  s = runError("gemm", {F({2, 3}, data(6)), F({3, 4}, data(12)), F({2, 1, 4}, data(8))});
  EXPECT_TRUE(hasSubstr(s, "rank")) << s.message();
  s = runError("gemm", {F({1, 2, 3}, data(6)), F({3, 4}, data(12))});
  EXPECT_TRUE(hasSubstr(s, "2-D")) << s.message();
  s = runError("gemm", {I({2, 2}, {1, 2, 3, 4}), I({2, 2}, {1, 2, 3, 4})});
  EXPECT_TRUE(hasSubstr(s, "dtype")) << s.message();
  s = runError("gemm", {F({2, 2}, data(4)), F({2, 2}, data(4))}, {{"transA", int64_t{2}}});
  EXPECT_TRUE(hasSubstr(s, "transA")) << s.message();
}

TEST(Gemm, SymbolicInference) {
  EXPECT_EQ(inferred("gemm", {{"transB", int64_t{1}}}, {ty({Dim::symbol("N"), 16}), ty({8, 16}), ty({8})}),
            "f32[N, 8]");
}

// ===========================================================================
// conv: reference by im2col + matmul

struct ConvSpec {
  Shape x, w;
  bool bias = false;
  Ints strides, pads, dilations;  // empty: defaults
  int64_t group = 1;
};

AttrMap convAttrs(const ConvSpec& c) {
  AttrMap a;
  if (!c.strides.empty()) a["strides"] = c.strides;
  if (!c.pads.empty()) a["pads"] = c.pads;
  if (!c.dilations.empty()) a["dilations"] = c.dilations;
  if (c.group != 1) a["group"] = c.group;
  return a;
}

/// Conv via im2col: for each image and group, columns[Cg * K][O] of input values
/// (0 in the padding), then y = W[Mg][Cg * K] @ columns + b.
std::vector<double> im2colConv(const ConvSpec& c, const std::vector<double>& x, const std::vector<double>& w,
                               const std::vector<double>& b, Shape& outShape) {
  const size_t r = c.x.size() - 2;
  const Ints s = c.strides.empty() ? Ints(r, 1) : c.strides;
  const Ints d = c.dilations.empty() ? Ints(r, 1) : c.dilations;
  const Ints p = c.pads.empty() ? Ints(2 * r, 0) : c.pads;
  const int64_t N = c.x[0], C = c.x[1], M = c.w[0], G = c.group, Cg = C / G, Mg = M / G;
  Shape inSp(c.x.begin() + 2, c.x.end()), kSp(c.w.begin() + 2, c.w.end()), outSp;
  for (size_t i = 0; i < r; ++i) outSp.push_back((inSp[i] + p[i] + p[i + r] - d[i] * (kSp[i] - 1) - 1) / s[i] + 1);
  outShape = {N, M};
  outShape.insert(outShape.end(), outSp.begin(), outSp.end());
  const int64_t K = numel(kSp), O = numel(outSp), X = numel(inSp);
  std::vector<double> y(static_cast<size_t>(numel(outShape)));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < G; ++g) {
      std::vector<double> cols(static_cast<size_t>(Cg * K * O), 0.0);
      for (int64_t ci = 0; ci < Cg; ++ci)
        for (int64_t k = 0; k < K; ++k)
          for (int64_t o = 0; o < O; ++o) {
            const Ints kc = coordsOf(k, kSp), oc = coordsOf(o, outSp);
            Ints pos(r);
            bool ok = true;
            for (size_t i = 0; i < r; ++i) {
              pos[i] = oc[i] * s[i] + kc[i] * d[i] - p[i];
              ok = ok && pos[i] >= 0 && pos[i] < inSp[i];
            }
            if (ok) cols[(ci * K + k) * O + o] = x[(n * C + g * Cg + ci) * X + flat(inSp, pos)];
          }
      for (int64_t mg = 0; mg < Mg; ++mg) {
        const int64_t m = g * Mg + mg;
        for (int64_t o = 0; o < O; ++o) {
          double acc = b.empty() ? 0.0 : b[m];
          for (int64_t row = 0; row < Cg * K; ++row) acc += w[m * Cg * K + row] * cols[row * O + o];
          y[(n * M + m) * O + o] = acc;
        }
      }
    }
  return y;
}

void checkConv(const ConvSpec& c) {
  const std::vector<double> x = data(numel(c.x), 1), w = data(numel(c.w), 2), b = c.bias ? data(c.w[0], 3) : std::vector<double>{};
  Shape outShape;
  const std::vector<double> expected = im2colConv(c, x, w, b, outShape);
  std::vector<Tensor> inputs = {F(c.x, x), F(c.w, w)};
  if (c.bias) inputs.push_back(F({c.w[0]}, b));
  Tensor y = run1("conv", inputs, convAttrs(c));
  EXPECT_TENSOR(y, DType::F32, outShape, expected);
}

TEST(Conv, Literal1D) {
  // padded x = [0, 1, 2, 3, 4, 5, 0], w = [1, 0, -1], stride 2: windows at 0, 2, 4.
  Tensor y = run1("conv", {F({1, 1, 5}, {1, 2, 3, 4, 5}), F({1, 1, 3}, {1, 0, -1}), F({1}, {10})},
                  {{"pads", Ints{1, 1}}, {"strides", Ints{2}}});
  EXPECT_TENSOR(y, DType::F32, Shape({1, 1, 3}), {8, 8, 14});
}

TEST(Conv, Literal2D) {
  Tensor y = run1("conv", {F({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}), F({1, 1, 2, 2}, {1, 1, 1, 1})});
  EXPECT_TENSOR(y, DType::F32, Shape({1, 1, 2, 2}), {12, 16, 24, 28});
  // Two output channels, asymmetric pads [top=1, left=0, bottom=0, right=1].
  Tensor z = run1("conv", {F({1, 1, 2, 2}, {1, 2, 3, 4}), F({2, 1, 1, 1}, {1, -1})},
                  {{"pads", Ints{1, 0, 0, 1}}});
  EXPECT_TENSOR(z, DType::F32, Shape({1, 2, 3, 3}),
                {0, 0, 0, 1, 2, 0, 3, 4, 0, 0, 0, 0, -1, -2, 0, -3, -4, 0});
}

TEST(Conv, Dilation1DLiteral) {
  // x = [1, 2, 3, 4, 5], w = [1, 1] with dilation 3: x[i] + x[i + 3].
  Tensor y = run1("conv", {F({1, 1, 5}, {1, 2, 3, 4, 5}), F({1, 1, 2}, {1, 1})}, {{"dilations", Ints{3}}});
  EXPECT_TENSOR(y, DType::F32, Shape({1, 1, 2}), {5, 7});
}

TEST(Conv, AgainstIm2col1D) {
  checkConv({{2, 3, 9}, {4, 3, 3}, true, {2}, {1, 2}, {2}, 1});
  checkConv({{1, 4, 7}, {6, 2, 2}, false, {1}, {0, 1}, {}, 2});
}

TEST(Conv, AgainstIm2col2D) {
  checkConv({{2, 3, 6, 5}, {4, 3, 3, 2}, true, {2, 1}, {1, 0, 2, 1}, {1, 2}, 1});
  checkConv({{1, 4, 5, 5}, {6, 2, 3, 3}, true, {1, 2}, {1, 1, 1, 1}, {}, 2});  // groups
  checkConv({{1, 3, 5, 4}, {3, 1, 3, 3}, true, {}, {1, 1, 1, 1}, {}, 3});      // depthwise
  checkConv({{1, 2, 4, 4}, {6, 1, 2, 2}, false, {2, 2}, {}, {}, 2});           // depthwise, multiplier 3
}

TEST(Conv, AgainstIm2col3D) {
  checkConv({{1, 2, 4, 5, 3}, {3, 2, 2, 3, 2}, true, {1, 2, 1}, {0, 1, 1, 1, 0, 0}, {1, 1, 2}, 1});
  checkConv({{2, 4, 3, 3, 3}, {4, 2, 2, 2, 2}, false, {2, 1, 1}, {1, 0, 0, 0, 1, 1}, {}, 2});
}

TEST(Conv, AutoPad) {
  // x = [1..5], w = [1, 10], stride 2: out = ceil(5 / 2) = 3, total pad 1.
  Tensor x = F({1, 1, 5}, {1, 2, 3, 4, 5});
  Tensor w = F({1, 1, 2}, {1, 10});
  Tensor upper = run1("conv", {x, w}, {{"auto_pad", std::string("SAME_UPPER")}, {"strides", Ints{2}}});
  EXPECT_TENSOR(upper, DType::F32, Shape({1, 1, 3}), {21, 43, 5});  // pad at the end
  Tensor lower = run1("conv", {x, w}, {{"auto_pad", std::string("SAME_LOWER")}, {"strides", Ints{2}}});
  EXPECT_TENSOR(lower, DType::F32, Shape({1, 1, 3}), {10, 32, 54});  // pad at the beginning
  Tensor valid = run1("conv", {x, w}, {{"auto_pad", std::string("VALID")}, {"strides", Ints{2}}});
  EXPECT_TENSOR(valid, DType::F32, Shape({1, 1, 2}), {21, 43});

  // 2-D SAME_UPPER with a 3x3 kernel and stride 1 equals pads of 1 all round.
  const std::vector<double> xv = data(2 * 5 * 6, 4), wv = data(3 * 2 * 9, 5);
  Tensor x2 = F({1, 2, 5, 6}, xv), w2 = F({3, 2, 3, 3}, wv);
  Tensor same = run1("conv", {x2, w2}, {{"auto_pad", std::string("SAME_UPPER")}});
  Tensor padded = run1("conv", {x2, w2}, {{"pads", Ints{1, 1, 1, 1}}});
  ASSERT_EQ(same.shape(), Shape({1, 3, 5, 6}));
  EXPECT_TRUE(same.bitwiseEqual(padded));
  // SAME_LOWER with a 2x2 kernel pads the top/left.
  Tensor same2 = run1("conv", {x2, F({3, 2, 2, 2}, data(24, 6))}, {{"auto_pad", std::string("SAME_LOWER")}});
  Tensor padded2 = run1("conv", {x2, F({3, 2, 2, 2}, data(24, 6))}, {{"pads", Ints{1, 1, 0, 0}}});
  EXPECT_TRUE(same2.bitwiseEqual(padded2));
}

TEST(Conv, KernelShapeAttributeMatchingWeight) {
  Tensor y = run1("conv", {F({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}), F({1, 1, 2, 2}, {1, 1, 1, 1})},
                  {{"kernel_shape", Ints{2, 2}}});
  EXPECT_TENSOR(y, DType::F32, Shape({1, 1, 2, 2}), {12, 16, 24, 28});
}

TEST(Conv, HalfPrecision) {
  Tensor y = run1("conv", {T(DType::F16, {1, 1, 3}, {1, 2, 3}), T(DType::F16, {1, 1, 2}, {0.5, 0.25}),
                           T(DType::F16, {1}, {1})});
  EXPECT_TENSOR(y, DType::F16, Shape({1, 1, 2}), {2, 2.75});
}

TEST(Conv, EmptyBatch) {
  Tensor y = run1("conv", {F({0, 3, 5, 5}, {}), F({4, 3, 3, 3}, data(108)), F({4}, data(4))});
  EXPECT_TENSOR(y, DType::F32, Shape({0, 4, 3, 3}), {});
}

TEST(Conv, Errors) {
  Tensor x = F({1, 4, 5, 5}, data(100));
  Status s = runError("conv", {x, F({2, 3, 3, 3}, data(54))});
  EXPECT_TRUE(hasSubstr(s, "conv") && hasSubstr(s, "channels")) << s.message();
  s = runError("conv", {x, F({2, 2, 3, 3}, data(36))}, {{"group", int64_t{3}}});
  EXPECT_TRUE(hasSubstr(s, "group")) << s.message();
  s = runError("conv", {x, F({3, 2, 3, 3}, data(54))}, {{"group", int64_t{2}}});  // M = 3 not divisible
  EXPECT_TRUE(hasSubstr(s, "group")) << s.message();
  s = runError("conv", {x, F({2, 4, 3, 3}, data(72))}, {{"group", int64_t{0}}});
  EXPECT_TRUE(hasSubstr(s, "group")) << s.message();
  s = runError("conv", {x, F({2, 4, 3, 3}, data(72))}, {{"strides", Ints{1, 1, 1}}});
  EXPECT_TRUE(hasSubstr(s, "strides")) << s.message();
  s = runError("conv", {x, F({2, 4, 3, 3}, data(72))}, {{"strides", Ints{1, 0}}});
  EXPECT_TRUE(hasSubstr(s, "strides") && hasSubstr(s, "positive")) << s.message();
  s = runError("conv", {x, F({2, 4, 3, 3}, data(72))}, {{"dilations", Ints{-1, 1}}});
  EXPECT_TRUE(hasSubstr(s, "dilations")) << s.message();
  s = runError("conv", {x, F({2, 4, 3, 3}, data(72))}, {{"pads", Ints{1, 1, 1}}});
  EXPECT_TRUE(hasSubstr(s, "pads")) << s.message();
  s = runError("conv", {x, F({2, 4, 3, 3}, data(72))}, {{"pads", Ints{1, -1, 1, 1}}});
  EXPECT_TRUE(hasSubstr(s, "pads") && hasSubstr(s, "non-negative")) << s.message();
  s = runError("conv", {x, F({2, 4, 3, 3}, data(72))}, {{"kernel_shape", Ints{2, 2}}});
  EXPECT_TRUE(hasSubstr(s, "kernel_shape")) << s.message();
  s = runError("conv", {x, F({2, 4, 3, 3}, data(72)), F({3}, data(3))});
  EXPECT_TRUE(hasSubstr(s, "b ")) << s.message();
  s = runError("conv", {x, F({2, 4, 3, 3}, data(72))}, {{"auto_pad", std::string("SAME")}});
  EXPECT_TRUE(hasSubstr(s, "auto_pad")) << s.message();
  s = runError("conv", {x, F({2, 4, 3, 3}, data(72))},
               {{"auto_pad", std::string("SAME_UPPER")}, {"pads", Ints{1, 1, 1, 1}}});
  EXPECT_TRUE(hasSubstr(s, "auto_pad")) << s.message();
  s = runError("conv", {x, F({2, 4, 6, 6}, data(288))});
  EXPECT_TRUE(hasSubstr(s, "larger than the padded input")) << s.message();
  s = runError("conv", {T(DType::I32, {1, 1, 3}, {1, 2, 3}), T(DType::I32, {1, 1, 1}, {1})});
  EXPECT_TRUE(hasSubstr(s, "dtype")) << s.message();
  s = runError("conv", {x, T(DType::F16, {2, 4, 3, 3}, data(72))});
  EXPECT_TRUE(hasSubstr(s, "dtype")) << s.message();
  s = runError("conv", {F({4, 5}, data(20)), F({2, 4, 3}, data(24))});
  EXPECT_TRUE(hasSubstr(s, "rank")) << s.message();
  s = runError("conv", {x, F({2, 4, 3}, data(24))});
  EXPECT_TRUE(hasSubstr(s, "spatial")) << s.message();
}

TEST(Conv, AbsurdAttributesAreErrors) {
  Tensor x = F({1, 1, 4}, data(4)), w = F({1, 1, 2}, data(2));
  Status s = runError("conv", {x, w}, {{"strides", Ints{int64_t{1} << 62}}});
  EXPECT_FALSE(s.ok());
  s = runError("conv", {x, w}, {{"dilations", Ints{int64_t{1} << 59}}});
  EXPECT_FALSE(s.ok());
  s = runError("conv", {x, w}, {{"pads", Ints{int64_t{1} << 58, int64_t{1} << 58}}});
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.toString();
  s = runError("conv", {x, w}, {{"pads", Ints{std::numeric_limits<int64_t>::max(), 0}}});
  EXPECT_FALSE(s.ok());
}

TEST(Conv, SymbolicInference) {
  const Dim N = Dim::symbol("N"), H = Dim::symbol("H");
  EXPECT_EQ(inferred("conv", {}, {ty({N, 3, 8, 8}), ty({4, 3, 3, 3})}), "f32[N, 4, 6, 6]");
  auto r = sy::inferOp(*OpRegistry::global().find("conv"), {}, {ty({N, 3, 8, 8}), ty({4, 3, 3, 3})},
                       {nullptr, nullptr}, 1);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ((*r)[0].toString(), "f32[N, 4, 6, 6]");
  EXPECT_EQ(inferred("conv", {{"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}},
                     {ty({N, 3, H, 8}), ty({4, 3, 3, 3}), ty({4})}),
            "f32[N, 4, ?, 4]");
  // A size-preserving window keeps the symbol.
  EXPECT_EQ(inferred("conv", {{"pads", Ints{1, 1, 1, 1}}}, {ty({N, 3, H, Dim()}), ty({4, 3, 3, 3})}),
            "f32[N, 4, H, ?]");
  EXPECT_EQ(inferred("conv", {{"auto_pad", std::string("SAME_UPPER")}}, {ty({N, 3, H, 7}), ty({4, 3, 2, 2})}),
            "f32[N, 4, H, 7]");
  // Unknown rank of x: the weight still gives the rank and channels.
  EXPECT_EQ(inferred("conv", {}, {Type::tensorUnranked(DType::F32), ty({4, 3, 3, 3})}), "f32[?, 4, ?, ?]");
  EXPECT_EQ(inferred("conv", {}, {Type::tensorUnranked(DType::F32), Type::tensorUnranked(DType::F32)}), "f32[*]");
  // Symbolic kernel dims with kernel_shape given.
  EXPECT_EQ(inferred("conv", {{"kernel_shape", Ints{3}}}, {ty({N, 3, 10}), ty({4, 3, Dim::symbol("K")})}),
            "f32[N, 4, 8]");
  // Errors on static parts are found even with symbolic dims.
  EXPECT_TRUE(inferred("conv", {}, {ty({N, 5, H, H}), ty({4, 3, 3, 3})}).rfind("error", 0) == 0);
}

// ===========================================================================
// conv_transpose: reference by scattering each input element

struct ConvTSpec {
  Shape x, w;
  bool bias = false;
  Ints strides, pads, dilations, outputPadding;
  int64_t group = 1;
};

std::vector<double> scatterConvTranspose(const ConvTSpec& c, const std::vector<double>& x,
                                         const std::vector<double>& w, const std::vector<double>& b,
                                         Shape& outShape) {
  const size_t r = c.x.size() - 2;
  const Ints s = c.strides.empty() ? Ints(r, 1) : c.strides;
  const Ints d = c.dilations.empty() ? Ints(r, 1) : c.dilations;
  const Ints p = c.pads.empty() ? Ints(2 * r, 0) : c.pads;
  const Ints op = c.outputPadding.empty() ? Ints(r, 0) : c.outputPadding;
  const int64_t N = c.x[0], C = c.x[1], G = c.group, Cg = C / G, Mg = c.w[1], M = Mg * G;
  Shape inSp(c.x.begin() + 2, c.x.end()), kSp(c.w.begin() + 2, c.w.end()), outSp;
  for (size_t i = 0; i < r; ++i)
    outSp.push_back(s[i] * (inSp[i] - 1) + op[i] + (kSp[i] - 1) * d[i] + 1 - p[i] - p[i + r]);
  outShape = {N, M};
  outShape.insert(outShape.end(), outSp.begin(), outSp.end());
  const int64_t O = numel(outSp), X = numel(inSp), K = numel(kSp);
  std::vector<double> y(static_cast<size_t>(numel(outShape)), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t o = 0; o < O; ++o) y[(n * M + m) * O + o] = b.empty() ? 0.0 : b[m];
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ic = 0; ic < C; ++ic) {
      const int64_t g = ic / Cg;
      for (int64_t xi = 0; xi < X; ++xi) {
        const Ints xc = coordsOf(xi, inSp);
        for (int64_t mg = 0; mg < Mg; ++mg)
          for (int64_t k = 0; k < K; ++k) {
            const Ints kc = coordsOf(k, kSp);
            Ints pos(r);
            bool ok = true;
            for (size_t i = 0; i < r; ++i) {
              pos[i] = xc[i] * s[i] + kc[i] * d[i] - p[i];
              ok = ok && pos[i] >= 0 && pos[i] < outSp[i];
            }
            if (!ok) continue;
            const int64_t m = g * Mg + mg;
            y[(n * M + m) * O + flat(outSp, pos)] += x[(n * C + ic) * X + xi] * w[(ic * Mg + mg) * K + k];
          }
      }
    }
  return y;
}

void checkConvTranspose(const ConvTSpec& c) {
  const std::vector<double> x = data(numel(c.x), 1), w = data(numel(c.w), 2);
  const std::vector<double> b = c.bias ? data(c.w[1] * c.group, 3) : std::vector<double>{};
  Shape outShape;
  const std::vector<double> expected = scatterConvTranspose(c, x, w, b, outShape);
  std::vector<Tensor> inputs = {F(c.x, x), F(c.w, w)};
  if (c.bias) inputs.push_back(F({c.w[1] * c.group}, b));
  AttrMap a;
  if (!c.strides.empty()) a["strides"] = c.strides;
  if (!c.pads.empty()) a["pads"] = c.pads;
  if (!c.dilations.empty()) a["dilations"] = c.dilations;
  if (!c.outputPadding.empty()) a["output_padding"] = c.outputPadding;
  if (c.group != 1) a["group"] = c.group;
  Tensor y = run1("conv_transpose", inputs, a);
  EXPECT_TENSOR(y, DType::F32, outShape, expected);
}

TEST(ConvTranspose, Literal1D) {
  // x = [1, 2, 3], w = [1, 1, 1], stride 2: full output [1, 1, 3, 2, 5, 3, 3].
  Tensor x = F({1, 1, 3}, {1, 2, 3}), w = F({1, 1, 3}, {1, 1, 1});
  EXPECT_TENSOR(run1("conv_transpose", {x, w}, {{"strides", Ints{2}}}), DType::F32, Shape({1, 1, 7}),
                {1, 1, 3, 2, 5, 3, 3});
  EXPECT_TENSOR(run1("conv_transpose", {x, w}, {{"strides", Ints{2}}, {"pads", Ints{1, 1}}}), DType::F32,
                Shape({1, 1, 5}), {1, 3, 2, 5, 3});
  EXPECT_TENSOR(run1("conv_transpose", {x, w, F({1}, {10})}, {{"strides", Ints{2}}, {"output_padding", Ints{1}}}),
                DType::F32, Shape({1, 1, 8}), {11, 11, 13, 12, 15, 13, 13, 10});
  // output_shape: total padding = 7 - 6 = 1, ONNX puts the odd one at the beginning (NOTSET) ...
  EXPECT_TENSOR(run1("conv_transpose", {x, w}, {{"strides", Ints{2}}, {"output_shape", Ints{6}}}), DType::F32,
                Shape({1, 1, 6}), {1, 3, 2, 5, 3, 3});
  // ... or at the end (SAME_UPPER).
  EXPECT_TENSOR(run1("conv_transpose", {x, w},
                     {{"strides", Ints{2}}, {"output_shape", Ints{6}}, {"auto_pad", std::string("SAME_UPPER")}}),
                DType::F32, Shape({1, 1, 6}), {1, 1, 3, 2, 5, 3});
  // SAME_UPPER without output_shape: output = input * stride = 6.
  EXPECT_TENSOR(run1("conv_transpose", {x, w}, {{"strides", Ints{2}}, {"auto_pad", std::string("SAME_UPPER")}}),
                DType::F32, Shape({1, 1, 6}), {1, 1, 3, 2, 5, 3});
  EXPECT_TENSOR(run1("conv_transpose", {x, w}, {{"strides", Ints{2}}, {"auto_pad", std::string("SAME_LOWER")}}),
                DType::F32, Shape({1, 1, 6}), {1, 3, 2, 5, 3, 3});
  // output_shape given as the full shape [N, C, L]; beyond the reachable 7 the
  // total padding is clamped to 0 and the extra output gets only the bias.
  EXPECT_TENSOR(run1("conv_transpose", {x, w}, {{"strides", Ints{2}}, {"output_shape", Ints{1, 1, 8}}}),
                DType::F32, Shape({1, 1, 8}), {1, 1, 3, 2, 5, 3, 3, 0});
  // output_shape together with output_padding (total = 7 + 1 - 7 = 1, at the beginning).
  EXPECT_TENSOR(run1("conv_transpose", {x, w},
                     {{"strides", Ints{2}}, {"output_shape", Ints{7}}, {"output_padding", Ints{1}}}),
                DType::F32, Shape({1, 1, 7}), {1, 3, 2, 5, 3, 3, 0});
}

TEST(ConvTranspose, Literal2D) {
  // 2x2 input, 2x2 ones kernel, stride 1: each output sums the inputs covering it.
  Tensor y = run1("conv_transpose", {F({1, 1, 2, 2}, {1, 2, 3, 4}), F({1, 2, 2, 2}, {1, 1, 1, 1, 1, 0, 0, 0})});
  EXPECT_TENSOR(y, DType::F32, Shape({1, 2, 3, 3}),
                {1, 3, 2, 4, 10, 6, 3, 7, 4,  // ones kernel
                 1, 2, 0, 3, 4, 0, 0, 0, 0});  // kernel with only its top-left tap
}

TEST(ConvTranspose, AgainstScatter) {
  checkConvTranspose({{2, 3, 4}, {3, 2, 3}, true, {2}, {1, 0}, {}, {1}, 1});
  checkConvTranspose({{1, 4, 5}, {4, 3, 2}, false, {3}, {0, 2}, {2}, {2}, 2});
  checkConvTranspose({{1, 2, 3, 4}, {2, 3, 3, 2}, true, {2, 3}, {1, 0, 0, 2}, {1, 2}, {1, 2}, 1});
  checkConvTranspose({{2, 4, 3, 3}, {4, 1, 2, 2}, true, {2, 2}, {}, {}, {}, 4});  // depthwise
  checkConvTranspose({{1, 2, 2, 3, 2}, {2, 2, 2, 2, 2}, true, {2, 1, 2}, {0, 1, 0, 0, 0, 1}, {}, {1, 0, 0}, 1});
}

TEST(ConvTranspose, OutputShape2D) {
  // output_shape equal to the explicit-pad output gives the same tensor.
  const std::vector<double> xv = data(2 * 3 * 3, 1), wv = data(2 * 2 * 9, 2);
  Tensor x = F({1, 2, 3, 3}, xv), w = F({2, 2, 3, 3}, wv);
  // Full size 2 * 2 + 3 = 7; output_shape [5, 6] means total pads 2 and 1.
  Tensor a = run1("conv_transpose", {x, w}, {{"strides", Ints{2, 2}}, {"output_shape", Ints{5, 6}}});
  Tensor b = run1("conv_transpose", {x, w}, {{"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 0}}});
  ASSERT_EQ(a.shape(), Shape({1, 2, 5, 6}));
  EXPECT_TRUE(a.bitwiseEqual(b));
  Tensor c = run1("conv_transpose", {x, w},
                  {{"strides", Ints{2, 2}}, {"output_shape", Ints{5, 6}}, {"auto_pad", std::string("SAME_UPPER")}});
  Tensor d = run1("conv_transpose", {x, w}, {{"strides", Ints{2, 2}}, {"pads", Ints{1, 0, 1, 1}}});
  EXPECT_TRUE(c.bitwiseEqual(d));
}

TEST(ConvTranspose, EmptyBatch) {
  Tensor y = run1("conv_transpose", {F({0, 2, 3, 3}, {}), F({2, 3, 2, 2}, data(24))}, {{"strides", Ints{2, 2}}});
  EXPECT_TENSOR(y, DType::F32, Shape({0, 3, 6, 6}), {});
}

TEST(ConvTranspose, Errors) {
  Tensor x = F({1, 4, 3}, data(12));
  Status s = runError("conv_transpose", {x, F({3, 2, 2}, data(12))});
  EXPECT_TRUE(hasSubstr(s, "conv_transpose") && hasSubstr(s, "channels")) << s.message();
  s = runError("conv_transpose", {x, F({4, 2, 2}, data(16))}, {{"group", int64_t{3}}});
  EXPECT_TRUE(hasSubstr(s, "group")) << s.message();
  s = runError("conv_transpose", {x, F({4, 2, 2}, data(16))}, {{"output_padding", Ints{1, 1}}});
  EXPECT_TRUE(hasSubstr(s, "output_padding")) << s.message();
  s = runError("conv_transpose", {x, F({4, 2, 2}, data(16))}, {{"output_padding", Ints{-1}}});
  EXPECT_TRUE(hasSubstr(s, "output_padding")) << s.message();
  s = runError("conv_transpose", {x, F({4, 2, 2}, data(16))}, {{"output_shape", Ints{4, 5}}});
  EXPECT_TRUE(hasSubstr(s, "output_shape")) << s.message();
  s = runError("conv_transpose", {x, F({4, 2, 2}, data(16))}, {{"pads", Ints{3, 2}}});
  EXPECT_TRUE(hasSubstr(s, "pads")) << s.message();
  s = runError("conv_transpose", {x, F({4, 2, 2}, data(16))}, {{"strides", Ints{0}}});
  EXPECT_TRUE(hasSubstr(s, "strides")) << s.message();
  s = runError("conv_transpose", {x, F({4, 2, 2}, data(16)), F({3}, data(3))});
  EXPECT_TRUE(hasSubstr(s, "b ")) << s.message();
}

TEST(ConvTranspose, SymbolicInference) {
  const Dim N = Dim::symbol("N"), H = Dim::symbol("H");
  EXPECT_EQ(inferred("conv_transpose", {{"strides", Ints{2, 2}}}, {ty({N, 4, 5, H}), ty({4, 3, 3, 3})}),
            "f32[N, 3, 11, ?]");
  EXPECT_EQ(inferred("conv_transpose", {{"strides", Ints{2, 2}}, {"output_shape", Ints{10, 12}}, {"group", int64_t{2}}},
                     {ty({N, 4, H, H}), ty({4, 3, 3, 3})}),
            "f32[N, 6, 10, 12]");
}

// ===========================================================================
// max_pool, avg_pool

TEST(MaxPool, Literal2D) {
  std::vector<double> xv(16);
  for (int i = 0; i < 16; ++i) xv[i] = i + 1;
  Tensor y = run1("max_pool", {F({1, 1, 4, 4}, xv)}, {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}});
  EXPECT_TENSOR(y, DType::F32, Shape({1, 1, 2, 2}), {6, 8, 14, 16});
  Tensor z = run1("max_pool", {F({1, 1, 4, 4}, xv)}, {{"kernel_shape", Ints{3, 2}}});
  EXPECT_TENSOR(z, DType::F32, Shape({1, 1, 2, 3}), {10, 11, 12, 14, 15, 16});
}

TEST(MaxPool, PaddingNeverWins) {
  Tensor y = run1("max_pool", {F({1, 1, 2, 2}, {-1, -2, -3, -4})},
                  {{"kernel_shape", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}});
  EXPECT_TENSOR(y, DType::F32, Shape({1, 1, 3, 3}), {-1, -1, -2, -1, -1, -2, -3, -3, -4});
}

TEST(MaxPool, CeilMode) {
  Tensor x = F({1, 1, 5}, {1, 2, 3, 4, 5});
  EXPECT_TENSOR(run1("max_pool", {x}, {{"kernel_shape", Ints{2}}, {"strides", Ints{2}}}), DType::F32,
                Shape({1, 1, 2}), {2, 4});
  EXPECT_TENSOR(run1("max_pool", {x}, {{"kernel_shape", Ints{2}}, {"strides", Ints{2}}, {"ceil_mode", int64_t{1}}}),
                DType::F32, Shape({1, 1, 3}), {2, 4, 5});
  // With pads 1: ceil would give 4 windows, but the 4th starts in the end padding and is dropped.
  EXPECT_TENSOR(run1("max_pool", {x},
                     {{"kernel_shape", Ints{2}}, {"strides", Ints{2}}, {"pads", Ints{1, 1}}, {"ceil_mode", int64_t{1}}}),
                DType::F32, Shape({1, 1, 3}), {1, 3, 5});
  // 2-D: 5x5 input, 2x2 window, stride 2: 3x3 with ceil_mode (2x2 without).
  std::vector<double> xv(25);
  for (int i = 0; i < 25; ++i) xv[i] = i;
  EXPECT_TENSOR(run1("max_pool", {F({1, 1, 5, 5}, xv)},
                     {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}, {"ceil_mode", int64_t{1}}}),
                DType::F32, Shape({1, 1, 3, 3}), {6, 8, 9, 16, 18, 19, 21, 23, 24});
}

TEST(MaxPool, Dilations) {
  Tensor y = run1("max_pool", {F({1, 1, 5}, {1, 5, 2, 4, 3})}, {{"kernel_shape", Ints{2}}, {"dilations", Ints{2}}});
  EXPECT_TENSOR(y, DType::F32, Shape({1, 1, 3}), {2, 5, 3});
}

TEST(MaxPool, AutoPadAndDTypes) {
  Tensor y = run1("max_pool", {T(DType::I8, {1, 2, 3}, {-5, -7, -6, 1, 9, -128})},
                  {{"kernel_shape", Ints{2}}, {"auto_pad", std::string("SAME_UPPER")}});
  EXPECT_TENSOR(y, DType::I8, Shape({1, 2, 3}), {-5, -6, -6, 9, 9, -128});
  Tensor z = run1("max_pool", {T(DType::F16, {1, 1, 4}, {0.5, -1, 2.25, 2})},
                  {{"kernel_shape", Ints{2}}, {"strides", Ints{2}}, {"auto_pad", std::string("VALID")}});
  EXPECT_TENSOR(z, DType::F16, Shape({1, 1, 2}), {0.5, 2.25});
  Tensor b = run1("max_pool", {T(DType::BF16, {1, 1, 3}, {1, 3, 2})},
                  {{"kernel_shape", Ints{2}}, {"auto_pad", std::string("SAME_LOWER")}});
  EXPECT_TENSOR(b, DType::BF16, Shape({1, 1, 3}), {1, 3, 3});
}

TEST(MaxPool, ThreeD) {
  std::vector<double> xv(27);
  for (int i = 0; i < 27; ++i) xv[i] = (i * 5) % 27;  // a permutation of 0..26
  Tensor y = run1("max_pool", {F({1, 1, 3, 3, 3}, xv)}, {{"kernel_shape", Ints{2, 2, 2}}});
  std::vector<double> expected;
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b)
      for (int c = 0; c < 2; ++c) {
        double m = -1;
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 2; ++j)
            for (int k = 0; k < 2; ++k) m = std::max(m, xv[(a + i) * 9 + (b + j) * 3 + (c + k)]);
        expected.push_back(m);
      }
  EXPECT_TENSOR(y, DType::F32, Shape({1, 1, 2, 2, 2}), expected);
}

TEST(MaxPool, EmptyBatchAndErrors) {
  EXPECT_TENSOR(run1("max_pool", {F({0, 2, 4, 4}, {})}, {{"kernel_shape", Ints{2, 2}}}), DType::F32,
                Shape({0, 2, 3, 3}), {});
  Status s = runError("max_pool", {F({1, 1, 4, 4}, data(16))});
  EXPECT_TRUE(hasSubstr(s, "kernel_shape")) << s.message();
  s = runError("max_pool", {F({1, 1, 4, 4}, data(16))}, {{"kernel_shape", Ints{2}}});
  EXPECT_TRUE(hasSubstr(s, "max_pool") && hasSubstr(s, "spatial")) << s.message();
  s = runError("max_pool", {F({1, 1, 4, 4}, data(16))}, {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{0, 1}}});
  EXPECT_TRUE(hasSubstr(s, "strides")) << s.message();
  s = runError("max_pool", {F({1, 1, 4, 4}, data(16))}, {{"kernel_shape", Ints{2, 0}}});
  EXPECT_TRUE(hasSubstr(s, "kernel_shape")) << s.message();
  s = runError("max_pool", {F({1, 1, 4, 4}, data(16))}, {{"kernel_shape", Ints{5, 2}}});
  EXPECT_TRUE(hasSubstr(s, "larger")) << s.message();
  s = runError("max_pool", {F({1, 1, 4, 4}, data(16))}, {{"kernel_shape", Ints{2, 2}}, {"ceil_mode", int64_t{2}}});
  EXPECT_TRUE(hasSubstr(s, "ceil_mode")) << s.message();
  s = runError("max_pool", {I({1, 1, 4}, {1, 2, 3, 4})}, {{"kernel_shape", Ints{2}}});
  EXPECT_TRUE(hasSubstr(s, "dtype")) << s.message();
}

TEST(AvgPool, PadsAndCountIncludePad) {
  Tensor x = F({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  AttrMap a = {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}};
  EXPECT_TENSOR(run1("avg_pool", {x}, a), DType::F32, Shape({1, 1, 2, 2}), {1, 2.5, 5.5, 7});
  a["count_include_pad"] = int64_t{1};
  EXPECT_TENSOR(run1("avg_pool", {x}, a), DType::F32, Shape({1, 1, 2, 2}), {0.25, 1.25, 2.75, 7});
}

TEST(AvgPool, CeilMode) {
  Tensor x = F({1, 1, 6}, {1, 2, 3, 4, 5, 6});
  AttrMap a = {{"kernel_shape", Ints{3}}, {"strides", Ints{2}}, {"ceil_mode", int64_t{1}}};
  // Windows [0..2], [2..4], [4..6]: the last overhangs by one (not counted either way).
  EXPECT_TENSOR(run1("avg_pool", {x}, a), DType::F32, Shape({1, 1, 3}), {2, 4, 5.5});
  a["count_include_pad"] = int64_t{1};
  EXPECT_TENSOR(run1("avg_pool", {x}, a), DType::F32, Shape({1, 1, 3}), {2, 4, 5.5});
  // With pads 1 (PyTorch AvgPool1d(3, 2, padding=1, ceil_mode=True)): windows start at -1, 1, 3, 5.
  a["pads"] = Ints{1, 1};
  EXPECT_TENSOR(run1("avg_pool", {x}, a), DType::F32, Shape({1, 1, 4}), {1, 3, 5, 3});
  a["count_include_pad"] = int64_t{0};
  EXPECT_TENSOR(run1("avg_pool", {x}, a), DType::F32, Shape({1, 1, 4}), {1.5, 3, 5, 6});
}

TEST(AvgPool, DilationsAndAutoPad) {
  Tensor x = F({1, 1, 5}, {1, 2, 3, 4, 5});
  EXPECT_TENSOR(run1("avg_pool", {x}, {{"kernel_shape", Ints{2}}, {"dilations", Ints{2}}}), DType::F32,
                Shape({1, 1, 3}), {2, 3, 4});
  // SAME_UPPER, kernel 2, stride 1: the last window is [5, pad].
  EXPECT_TENSOR(run1("avg_pool", {x}, {{"kernel_shape", Ints{2}}, {"auto_pad", std::string("SAME_UPPER")}}),
                DType::F32, Shape({1, 1, 5}), {1.5, 2.5, 3.5, 4.5, 5});
  EXPECT_TENSOR(run1("avg_pool", {x},
                     {{"kernel_shape", Ints{2}}, {"auto_pad", std::string("SAME_UPPER")}, {"count_include_pad", int64_t{1}}}),
                DType::F32, Shape({1, 1, 5}), {1.5, 2.5, 3.5, 4.5, 2.5});
  EXPECT_TENSOR(run1("avg_pool", {x}, {{"kernel_shape", Ints{2}}, {"auto_pad", std::string("SAME_LOWER")}}),
                DType::F32, Shape({1, 1, 5}), {1, 1.5, 2.5, 3.5, 4.5});
}

TEST(AvgPool, TwoDAgainstNaive) {
  const std::vector<double> xv = data(2 * 3 * 5 * 4, 7);
  Tensor y = run1("avg_pool", {F({2, 3, 5, 4}, xv)}, {{"kernel_shape", Ints{3, 2}}, {"strides", Ints{2, 1}}});
  std::vector<double> expected;
  for (int nc = 0; nc < 6; ++nc)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) {
        double s = 0;
        for (int a = 0; a < 3; ++a)
          for (int b = 0; b < 2; ++b) s += xv[nc * 20 + (2 * i + a) * 4 + (j + b)];
        expected.push_back(s / 6);
      }
  EXPECT_TENSOR(y, DType::F32, Shape({2, 3, 2, 3}), expected);
}

TEST(AvgPool, EmptyBatchAndErrors) {
  EXPECT_TENSOR(run1("avg_pool", {F({0, 1, 3}, {})}, {{"kernel_shape", Ints{2}}}), DType::F32, Shape({0, 1, 2}), {});
  Status s = runError("avg_pool", {F({1, 1, 4}, data(4))}, {{"kernel_shape", Ints{2}}, {"count_include_pad", int64_t{3}}});
  EXPECT_TRUE(hasSubstr(s, "count_include_pad")) << s.message();
  s = runError("avg_pool", {T(DType::I8, {1, 1, 4}, {1, 2, 3, 4})}, {{"kernel_shape", Ints{2}}});
  EXPECT_TRUE(hasSubstr(s, "dtype")) << s.message();
  s = runError("avg_pool", {F({1, 1, 4}, data(4))}, {{"kernel_shape", Ints{2}}, {"pads", Ints{1}}});
  EXPECT_TRUE(hasSubstr(s, "pads")) << s.message();
}

TEST(Pool, EmptyWindowsAndAbsurdPads) {
  // Dilation 2 over a padded length-1 input: the only window hits positions -1 and 1, both padding.
  AttrMap a = {{"kernel_shape", Ints{2}}, {"dilations", Ints{2}}, {"pads", Ints{1, 1}}};
  Tensor m = run1("max_pool", {F({1, 1, 1}, {3})}, a);
  EXPECT_TENSOR(m, DType::F32, Shape({1, 1, 1}), {-std::numeric_limits<double>::infinity()});
  Tensor v = run1("avg_pool", {F({1, 1, 1}, {3})}, a);
  EXPECT_TENSOR(v, DType::F32, Shape({1, 1, 1}), {std::nan("")});
  Status s = runError("max_pool", {F({1, 1, 2}, {1, 2})}, {{"kernel_shape", Ints{1}}, {"pads", Ints{int64_t{1} << 50, 0}}});
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.toString();
  s = runError("max_pool", {F({1, 1, 2}, {1, 2})}, {{"kernel_shape", Ints{int64_t{1} << 61}}});
  EXPECT_FALSE(s.ok());
}

TEST(Pool, SymbolicInference) {
  const Dim N = Dim::symbol("N"), H = Dim::symbol("H");
  EXPECT_EQ(inferred("max_pool", {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}}, {ty({N, 3, 8, H})}),
            "f32[N, 3, 4, ?]");
  EXPECT_EQ(inferred("avg_pool", {{"kernel_shape", Ints{3}}, {"pads", Ints{1, 1}}}, {ty({N, 3, H})}), "f32[N, 3, H]");
  EXPECT_EQ(inferred("max_pool", {{"kernel_shape", Ints{3, 3}}}, {Type::tensorUnranked(DType::F32)}), "f32[?, ?, ?, ?]");
  EXPECT_EQ(inferred("global_avg_pool", {}, {ty({N, 3, H, 4})}), "f32[N, 3, 1, 1]");
}

// ===========================================================================
// global pools

TEST(GlobalPool, AvgAndMax) {
  Tensor x = F({1, 2, 2, 2}, {1, 2, 3, 4, -1, -5, -2, -3});
  EXPECT_TENSOR(run1("global_avg_pool", {x}), DType::F32, Shape({1, 2, 1, 1}), {2.5, -2.75});
  EXPECT_TENSOR(run1("global_max_pool", {x}), DType::F32, Shape({1, 2, 1, 1}), {4, -1});
  Tensor x1 = F({2, 1, 3}, {1, 2, 6, 0, -3, 0});
  EXPECT_TENSOR(run1("global_avg_pool", {x1}), DType::F32, Shape({2, 1, 1}), {3, -1});
  EXPECT_TENSOR(run1("global_max_pool", {x1}), DType::F32, Shape({2, 1, 1}), {6, 0});
  EXPECT_TENSOR(run1("global_max_pool", {T(DType::I8, {1, 1, 1, 1, 3}, {-3, -2, -9})}), DType::I8,
                Shape({1, 1, 1, 1, 1}), {-2});
  EXPECT_TENSOR(run1("global_avg_pool", {F({0, 3, 2, 2}, {})}), DType::F32, Shape({0, 3, 1, 1}), {});
  EXPECT_TENSOR(run1("global_max_pool", {F({0, 3, 2}, {})}), DType::F32, Shape({0, 3, 1}), {});
  Status s = runError("global_avg_pool", {F({2, 3}, data(6))});
  EXPECT_TRUE(hasSubstr(s, "global_avg_pool") && hasSubstr(s, "rank")) << s.message();
  s = runError("global_avg_pool", {T(DType::I8, {1, 1, 2}, {1, 2})});
  EXPECT_TRUE(hasSubstr(s, "dtype")) << s.message();
}

TEST(NnOps, SchemasAreDocumented) {
  for (const char* name : {"matmul", "gemm", "conv", "conv_transpose", "max_pool", "avg_pool", "global_avg_pool",
                           "global_max_pool"}) {
    const OpSchema* s = OpRegistry::global().find(name);
    ASSERT_NE(s, nullptr) << name;
    EXPECT_EQ(s->category, "nn") << name;
    EXPECT_FALSE(s->doc.empty()) << name;
    EXPECT_FALSE(s->dtypes.empty()) << name;
    for (const AttrSpec& a : s->attrs) EXPECT_FALSE(a.doc.empty()) << name << "." << a.name;
  }
}

}  // namespace
}  // namespace sy
