// Tests of batch_norm, layer_norm and instance_norm. Expected values are
// hand-computed or come from a direct mean/variance formula in the test.
#include <gtest/gtest.h>

#include <cmath>

#include "switchyard/op_registry.h"
#include "test_util.h"

namespace sy {
namespace {

using testing::F;
using testing::run1;
using testing::runError;
using testing::runWithUnknownDims;
using testing::T;

/// Expects `op` to fail (the error text is checked elsewhere).
void fails(std::string_view op, const std::vector<Tensor>& inputs, const AttrMap& attrs = {}) {
  (void)runError(op, inputs, attrs);
}

/// (v - mean) / sqrt(popvar + eps) for one group of values.
std::vector<double> standardize(const std::vector<double>& v, double eps) {
  double mean = 0;
  for (double a : v) mean += a;
  mean /= static_cast<double>(v.size());
  double var = 0;
  for (double a : v) var += (a - mean) * (a - mean);
  var /= static_cast<double>(v.size());
  std::vector<double> out;
  for (double a : v) out.push_back((a - mean) / std::sqrt(var + eps));
  return out;
}

std::string inferStr(std::string_view op, const AttrMap& attrs, const std::vector<Type>& types) {
  const OpSchema* schema = OpRegistry::global().find(op);
  if (!schema) return "no such op";
  std::vector<const Tensor*> constants(types.size(), nullptr);
  auto r = inferOp(*schema, attrs, types, constants, 1);
  if (!r.ok()) return "error: " + r.status().message();
  return (*r)[0].toString();
}

Type f32(std::vector<Dim> dims) { return Type::tensor(DType::F32, std::move(dims)); }
Dim sym(const char* s) { return Dim::symbol(s); }

bool isError(const std::string& s) { return s.rfind("error", 0) == 0; }

// ---------------------------------------------------------------------------
// batch_norm

TEST(BatchNorm, HandComputed) {
  // scale [2, 0.5], bias [1, -1], mean [1, 2], var [4, 0.25], eps 0 -> denominators [2, 0.5].
  Tensor x = F({1, 2, 2}, {3, 5, 2, 3});
  Tensor y = run1("batch_norm", {x, F({2}, {2, 0.5}), F({2}, {1, -1}), F({2}, {1, 2}), F({2}, {4, 0.25})},
                  {{"epsilon", 0.0}});
  // ch0: 2*(3-1)/2+1 = 3, 2*(5-1)/2+1 = 5; ch1: 0.5*0/0.5-1 = -1, 0.5*1/0.5-1 = 0.
  EXPECT_TENSOR(y, DType::F32, (Shape{1, 2, 2}), {3, 5, -1, 0});
}

TEST(BatchNorm, Rank2AndBatchAndDefaultEpsilon) {
  // x [N=2, C=2]; var 0 so the default epsilon (1e-5) is what keeps it finite.
  Tensor x = F({2, 2}, {2, 10, 0, 12});
  Tensor y = run1("batch_norm", {x, F({2}, {1, 3}), F({2}, {0, 0.5}), F({2}, {1, 11}), F({2}, {0, 0})});
  const double k = 1 / std::sqrt(1e-5);
  EXPECT_TENSOR(y, DType::F32, (Shape{2, 2}), {k, -3 * k + 0.5, -k, 3 * k + 0.5}, 1e-3);
}

TEST(BatchNorm, Rank4MatchesFormula) {
  const int n = 2, c = 3, hw = 4;
  std::vector<double> xv, ref;
  const std::vector<double> s = {0.5, -1, 2}, b = {0, 1, -2}, m = {0.1, -0.2, 0.3}, v = {1, 2, 0.5};
  for (int i = 0; i < n * c * hw; ++i) xv.push_back(std::sin(i * 0.7) * 3);
  for (int i = 0; i < n * c * hw; ++i) {
    const int ch = (i / hw) % c;
    ref.push_back(s[ch] * (xv[i] - m[ch]) / std::sqrt(v[ch] + 1e-3) + b[ch]);
  }
  Tensor y = run1("batch_norm", {F({n, c, 2, 2}, xv), F({3}, s), F({3}, b), F({3}, m), F({3}, v)},
                  {{"epsilon", 1e-3}});
  EXPECT_TENSOR(y, DType::F32, (Shape{n, c, 2, 2}), ref, 1e-5);
}

TEST(BatchNorm, HalfAndEmpty) {
  Tensor y = run1("batch_norm", {T(DType::F16, {1, 1, 2}, {1, 3}), T(DType::F16, {1}, {1}), T(DType::F16, {1}, {0}),
                                 T(DType::F16, {1}, {2}), T(DType::F16, {1}, {1})},
                  {{"epsilon", int64_t{0}}});
  EXPECT_TENSOR(y, DType::F16, (Shape{1, 1, 2}), {-1, 1});
  Tensor e = run1("batch_norm", {F({0, 2, 3}, {}), F({2}, {1, 1}), F({2}, {0, 0}), F({2}, {0, 0}), F({2}, {1, 1})});
  EXPECT_TENSOR(e, DType::F32, (Shape{0, 2, 3}), {});
}

TEST(BatchNorm, Errors) {
  Tensor x = F({1, 2, 2}, {1, 2, 3, 4});
  Tensor p2 = F({2}, {1, 1});
  Status s = runError("batch_norm", {x, F({3}, {1, 1, 1}), p2, p2, p2});
  EXPECT_NE(s.message().find("batch_norm"), std::string::npos) << s.toString();
  EXPECT_NE(s.message().find("scale"), std::string::npos) << s.toString();
  s = runError("batch_norm", {x, p2, p2, F({1, 2}, {0, 0}), p2});
  EXPECT_NE(s.message().find("rank 1"), std::string::npos) << s.toString();
  fails("batch_norm", {x, p2, p2, p2, F({1}, {1})});
  s = runError("batch_norm", {F({2}, {1, 2}), p2, p2, p2, p2});
  EXPECT_NE(s.message().find("rank >= 2"), std::string::npos) << s.toString();
  fails("batch_norm", {Tensor::scalarF32(1), p2, p2, p2, p2});
  s = runError("batch_norm", {x, p2, T(DType::F16, {2}, {0, 0}), p2, p2});
  EXPECT_NE(s.message().find("dtype"), std::string::npos) << s.toString();
  fails("batch_norm", {T(DType::I32, {1, 2}, {1, 2}), T(DType::I32, {2}, {1, 1}), T(DType::I32, {2}, {1, 1}),
                          T(DType::I32, {2}, {1, 1}), T(DType::I32, {2}, {1, 1})});
  fails("batch_norm", {x, p2, p2, p2});  // arity
  s = runError("batch_norm", {x, p2, p2, p2, p2}, {{"epsilon", -1.0}});
  EXPECT_NE(s.message().find("epsilon"), std::string::npos) << s.toString();
}

TEST(BatchNorm, Inference) {
  const Type x = f32({sym("N"), sym("C"), sym("H"), 7});
  const Type c = f32({sym("C")});
  EXPECT_EQ(inferStr("batch_norm", {}, {x, c, c, c, c}), "f32[N, C, H, 7]");
  EXPECT_EQ(inferStr("batch_norm", {}, {Type::tensorUnranked(DType::F32), c, c, c, c}), "f32[*]");
  // Static mismatches: against x, and between parameters when x's C is symbolic.
  EXPECT_TRUE(isError(inferStr("batch_norm", {}, {f32({sym("N"), 3}), c, f32({4}), c, c})));
  EXPECT_TRUE(isError(inferStr("batch_norm", {}, {x, f32({3}), f32({4}), c, c})));
  EXPECT_EQ(inferStr("batch_norm", {}, {x, f32({3}), f32({3}), c, f32({Dim::unknown()})}), "f32[N, C, H, 7]");
}

// ---------------------------------------------------------------------------
// layer_norm

TEST(LayerNorm, LastAxisHandComputed) {
  // Row [1, 2, 3, 4]: mean 2.5, variance 1.25. Row [5, 5, 5, 5]: variance 0 -> bias.
  Tensor x = F({2, 4}, {1, 2, 3, 4, 5, 5, 5, 5});
  Tensor scale = F({4}, {1, 1, 2, 2});
  Tensor bias = F({4}, {0, 0, 0, 1});
  Tensor y = run1("layer_norm", {x, scale, bias}, {{"epsilon", 1e-3}});
  const double d = std::sqrt(1.25 + 1e-3);
  EXPECT_TENSOR(y, DType::F32, (Shape{2, 4}), {-1.5 / d, -0.5 / d, 2 * 0.5 / d, 2 * 1.5 / d + 1, 0, 0, 0, 1});
}

TEST(LayerNorm, NoBiasAndAxisZero) {
  Tensor x = F({2, 2}, {1, 3, 5, 7});  // all four: mean 4, variance 5
  Tensor y = run1("layer_norm", {x, F({2, 2}, {1, 1, 1, 1})}, {{"axis", int64_t{0}}});
  const std::vector<double> ref = standardize({1, 3, 5, 7}, 1e-5);
  EXPECT_TENSOR(y, DType::F32, (Shape{2, 2}), ref);
}

TEST(LayerNorm, NegativeAxisOverTwoDimsWithBroadcastParams) {
  // x [2, 2, 3], normalise over the last two dims; scale [3] broadcasts to [2, 3], bias [1, 3] too.
  std::vector<double> xv;
  for (int i = 0; i < 12; ++i) xv.push_back(i * i * 0.25 - i);
  const std::vector<double> s = {1, 2, 3}, b = {-1, 0, 1};
  std::vector<double> ref;
  for (int g = 0; g < 2; ++g) {
    const std::vector<double> z = standardize(std::vector<double>(xv.begin() + g * 6, xv.begin() + g * 6 + 6), 1e-4);
    for (int k = 0; k < 6; ++k) ref.push_back(z[static_cast<size_t>(k)] * s[k % 3] + b[k % 3]);
  }
  Tensor y = run1("layer_norm", {F({2, 2, 3}, xv), F({3}, s), F({1, 3}, b)}, {{"axis", int64_t{-2}}, {"epsilon", 1e-4}});
  EXPECT_TENSOR(y, DType::F32, (Shape{2, 2, 3}), ref, 1e-5);
  // A rank-0 scale broadcasts to everything.
  Tensor y2 = run1("layer_norm", {F({2, 2, 3}, xv), Tensor::scalarF32(1)}, {{"axis", int64_t{1}}, {"epsilon", 1e-4}});
  std::vector<double> ref2;
  for (int g = 0; g < 2; ++g) {
    const std::vector<double> z = standardize(std::vector<double>(xv.begin() + g * 6, xv.begin() + g * 6 + 6), 1e-4);
    ref2.insert(ref2.end(), z.begin(), z.end());
  }
  EXPECT_TENSOR(y2, DType::F32, (Shape{2, 2, 3}), ref2, 1e-5);
}

TEST(LayerNorm, Rank0BF16AndEmpty) {
  // One element: normalised value 0, so y = bias.
  EXPECT_TENSOR(run1("layer_norm", {Tensor::scalarF32(7), Tensor::scalarF32(2), Tensor::scalarF32(0.5)}), DType::F32,
                (Shape{}), {0.5});
  Tensor y = run1("layer_norm", {T(DType::BF16, {2}, {1, 3}), T(DType::BF16, {2}, {1, 1})}, {{"epsilon", 0.0}});
  EXPECT_TENSOR(y, DType::BF16, (Shape{2}), {-1, 1});
  EXPECT_TENSOR(run1("layer_norm", {F({0, 4}, {}), F({4}, {1, 1, 1, 1})}), DType::F32, (Shape{0, 4}), {});
  EXPECT_TENSOR(run1("layer_norm", {F({2, 0}, {}), F({0}, {})}), DType::F32, (Shape{2, 0}), {});
}

TEST(LayerNorm, Errors) {
  Tensor x = F({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  Status s = runError("layer_norm", {x, F({3}, {1, 1, 1})});
  EXPECT_NE(s.message().find("layer_norm"), std::string::npos) << s.toString();
  EXPECT_NE(s.message().find("broadcast"), std::string::npos) << s.toString();
  fails("layer_norm", {x, F({2, 4}, std::vector<double>(8, 1))});  // rank above the normalised dims
  fails("layer_norm", {x, F({4}, {1, 1, 1, 1}), F({2}, {0, 0})});
  s = runError("layer_norm", {x, F({4}, {1, 1, 1, 1})}, {{"axis", int64_t{2}}});
  EXPECT_NE(s.message().find("out of range"), std::string::npos) << s.toString();
  fails("layer_norm", {x, F({4}, {1, 1, 1, 1})}, {{"axis", int64_t{-3}}});
  s = runError("layer_norm", {x, T(DType::F16, {4}, {1, 1, 1, 1})});
  EXPECT_NE(s.message().find("dtype"), std::string::npos) << s.toString();
  fails("layer_norm", {testing::I({4}, {1, 2, 3, 4}), testing::I({4}, {1, 1, 1, 1})});
  fails("layer_norm", {x});  // arity
}

TEST(LayerNorm, Inference) {
  const Type x = f32({sym("B"), sym("S"), 768});
  EXPECT_EQ(inferStr("layer_norm", {}, {x, f32({768}), f32({768})}), "f32[B, S, 768]");
  EXPECT_EQ(inferStr("layer_norm", {}, {x, f32({sym("D")})}), "f32[B, S, 768]");
  EXPECT_EQ(inferStr("layer_norm", {{"axis", int64_t{1}}}, {x, f32({sym("S"), 768})}), "f32[B, S, 768]");
  EXPECT_TRUE(isError(inferStr("layer_norm", {}, {x, f32({512})})));
  EXPECT_TRUE(isError(inferStr("layer_norm", {}, {x, f32({sym("S"), 768})})));  // rank 2 > 1 normalised dim
  EXPECT_EQ(inferStr("layer_norm", {{"axis", int64_t{9}}}, {Type::tensorUnranked(DType::F32), f32({4})}), "f32[*]");
}

// ---------------------------------------------------------------------------
// instance_norm

TEST(InstanceNorm, HandComputed) {
  // n0: c0 [0, 2] (mean 1, var 1), c1 [4, 4] (var 0 -> bias). eps 0 would divide by zero for c1, so eps 1e-5.
  Tensor x = F({1, 2, 2}, {0, 2, 4, 4});
  Tensor y = run1("instance_norm", {x, F({2}, {3, 5}), F({2}, {1, -2})});
  const double d = std::sqrt(1 + 1e-5);
  EXPECT_TENSOR(y, DType::F32, (Shape{1, 2, 2}), {-3 / d + 1, 3 / d + 1, -2, -2});
}

TEST(InstanceNorm, Rank4MatchesFormula) {
  const int n = 2, c = 2, hw = 6;
  std::vector<double> xv, ref;
  const std::vector<double> s = {1.5, -0.5}, b = {0.25, 2};
  for (int i = 0; i < n * c * hw; ++i) xv.push_back(std::cos(i * 1.3) * 2 + i % 5);
  for (int g = 0; g < n * c; ++g) {
    const std::vector<double> z = standardize(std::vector<double>(xv.begin() + g * hw, xv.begin() + g * hw + hw), 1e-2);
    for (double v : z) ref.push_back(v * s[g % c] + b[g % c]);
  }
  Tensor y = run1("instance_norm", {F({n, c, 2, 3}, xv), F({2}, s), F({2}, b)}, {{"epsilon", 1e-2}});
  EXPECT_TENSOR(y, DType::F32, (Shape{n, c, 2, 3}), ref, 1e-5);
}

TEST(InstanceNorm, EmptySpatial) {
  EXPECT_TENSOR(run1("instance_norm", {F({1, 2, 0}, {}), F({2}, {1, 1}), F({2}, {0, 0})}), DType::F32,
                (Shape{1, 2, 0}), {});
}

TEST(InstanceNorm, Errors) {
  Tensor x = F({1, 2, 2}, {0, 2, 4, 4});
  Status s = runError("instance_norm", {x, F({2}, {1, 1}), F({3}, {0, 0, 0})});
  EXPECT_NE(s.message().find("instance_norm"), std::string::npos) << s.toString();
  EXPECT_NE(s.message().find("bias"), std::string::npos) << s.toString();
  fails("instance_norm", {x, Tensor::scalarF32(1), F({2}, {0, 0})});
  fails("instance_norm", {F({4}, {1, 2, 3, 4}), F({4}, {1, 1, 1, 1}), F({4}, {0, 0, 0, 0})});
  fails("instance_norm", {x, T(DType::BF16, {2}, {1, 1}), F({2}, {0, 0})});
}

TEST(InstanceNorm, Inference) {
  EXPECT_EQ(inferStr("instance_norm", {}, {f32({sym("N"), 3, sym("L")}), f32({3}), f32({3})}), "f32[N, 3, L]");
  EXPECT_TRUE(isError(inferStr("instance_norm", {}, {f32({sym("N"), 3, sym("L")}), f32({3}), f32({2})})));
}

// The kernels re-check shapes themselves: inference on symbolic types cannot
// see every mismatch, and the interpreter may call a kernel directly.
TEST(Normalization, KernelsRejectMismatchedShapesDirectly) {
  EXPECT_FALSE(runWithUnknownDims("batch_norm", {F({1, 2, 2}, {1, 2, 3, 4}), F({3}, {1, 1, 1}), F({2}, {0, 0}),
                                                 F({2}, {0, 0}), F({2}, {1, 1})})
                   .ok());
  EXPECT_FALSE(
      runWithUnknownDims("instance_norm", {F({1, 2, 2}, {1, 2, 3, 4}), F({2}, {1, 1}), F({1}, {0})}).ok());
  EXPECT_FALSE(runWithUnknownDims("layer_norm", {F({2, 2}, {1, 2, 3, 4}), F({5}, {1, 1, 1, 1, 1})}).ok());
}

TEST(Normalization, SchemasAreDocumented) {
  for (const char* op : {"batch_norm", "layer_norm", "instance_norm"}) {
    const OpSchema* s = OpRegistry::global().find(op);
    ASSERT_NE(s, nullptr) << op;
    EXPECT_FALSE(s->doc.empty()) << op;
    EXPECT_EQ(s->dtypes.size(), 3u) << op;
    for (const AttrSpec& a : s->attrs) EXPECT_FALSE(a.doc.empty()) << op << "." << a.name;
  }
}

}  // namespace
}  // namespace sy
