// Tests of the elementwise ops (core/src/ops/elementwise.cpp). Expected values
// are literals or computed here with <cmath>, never by the kernels under test.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "switchyard/op_registry.h"
#include "test_util.h"

namespace sy {
namespace {

using testing::B;
using testing::F;
using testing::I;
using testing::run1;
using testing::runError;
using testing::T;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();

std::vector<int64_t> ints(const Tensor& t) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.getInt(i));
  return v;
}

bool contains(const Status& s, const std::string& what) { return s.message().find(what) != std::string::npos; }

/// Expects `op` to fail, with a message that names the op.
void expectFails(std::string_view op, const std::vector<Tensor>& inputs, const AttrMap& attrs = {},
                 int numOutputs = -1) {
  const Status s = runError(op, inputs, attrs, numOutputs);
  EXPECT_NE(s.message().find(std::string(op)), std::string::npos) << s.toString();
}

Tensor I8(Shape s, std::vector<double> v) { return T(DType::I8, std::move(s), std::move(v)); }
Tensor I32(Shape s, std::vector<double> v) { return T(DType::I32, std::move(s), std::move(v)); }

/// Applies `f` to each value (the independent oracle for the float unary ops).
template <typename Fn>
std::vector<double> mapv(const std::vector<double>& xs, Fn f) {
  std::vector<double> out;
  for (double x : xs) out.push_back(f(x));
  return out;
}

// ---------------------------------------------------------------------------
// Registry

TEST(ElementwiseRegistry, EveryOpIsRegisteredWithDocs) {
  const char* names[] = {"neg", "abs", "sign", "relu", "clip", "exp", "log", "sqrt", "rsqrt", "reciprocal", "sin",
                         "cos", "tanh", "sigmoid", "erf", "floor", "ceil", "round", "silu", "leaky_relu", "gelu",
                         "logical_not", "add", "sub", "mul", "div", "pow", "maximum", "minimum", "mod", "equal",
                         "less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or",
                         "logical_xor", "where", "cast"};
  for (const char* n : names) {
    const OpSchema* s = OpRegistry::global().find(n);
    ASSERT_NE(s, nullptr) << n;
    EXPECT_FALSE(s->doc.empty()) << n;
    EXPECT_FALSE(s->category.empty()) << n;
    EXPECT_FALSE(s->dtypes.empty()) << n;
    EXPECT_EQ(static_cast<int>(s->inputNames.size()), s->maxInputs) << n;
    EXPECT_EQ(s->outputNames.size(), 1u) << n;
    EXPECT_TRUE(s->infer) << n;
    EXPECT_TRUE(hasKernel(*s)) << n;
    for (const AttrSpec& a : s->attrs) EXPECT_FALSE(a.doc.empty()) << n << "." << a.name;
  }
}

// ---------------------------------------------------------------------------
// Float unary ops

TEST(ElementwiseUnary, FloatMathMatchesCmath) {
  const std::vector<double> xs = {-2.0, -0.5, 0.0, 0.25, 1.0, 3.0};
  const std::vector<double> pos = {0.25, 1.0, 2.0, 9.0};
  EXPECT_TENSOR(run1("exp", {F({6}, xs)}), DType::F32, Shape{6}, mapv(xs, [](double x) { return std::exp(x); }));
  EXPECT_TENSOR(run1("sin", {F({6}, xs)}), DType::F32, Shape{6}, mapv(xs, [](double x) { return std::sin(x); }));
  EXPECT_TENSOR(run1("cos", {F({6}, xs)}), DType::F32, Shape{6}, mapv(xs, [](double x) { return std::cos(x); }));
  EXPECT_TENSOR(run1("tanh", {F({6}, xs)}), DType::F32, Shape{6}, mapv(xs, [](double x) { return std::tanh(x); }));
  EXPECT_TENSOR(run1("erf", {F({6}, xs)}), DType::F32, Shape{6}, mapv(xs, [](double x) { return std::erf(x); }));
  EXPECT_TENSOR(run1("log", {F({4}, pos)}), DType::F32, Shape{4}, mapv(pos, [](double x) { return std::log(x); }));
  EXPECT_TENSOR(run1("sqrt", {F({4}, pos)}), DType::F32, Shape{4}, {0.5, 1.0, std::sqrt(2.0), 3.0});
  EXPECT_TENSOR(run1("rsqrt", {F({4}, pos)}), DType::F32, Shape{4}, {2.0, 1.0, 1.0 / std::sqrt(2.0), 1.0 / 3});
  EXPECT_TENSOR(run1("reciprocal", {F({4}, pos)}), DType::F32, Shape{4}, {4.0, 1.0, 0.5, 1.0 / 9});
}

TEST(ElementwiseUnary, FloatSpecialValues) {
  EXPECT_TENSOR(run1("log", {F({3}, {0.0, -1.0, kInf})}), DType::F32, Shape{3}, {-kInf, kNaN, kInf});
  EXPECT_TENSOR(run1("sqrt", {F({2}, {-4.0, kInf})}), DType::F32, Shape{2}, {kNaN, kInf});
  EXPECT_TENSOR(run1("reciprocal", {F({2}, {0.0, -kInf})}), DType::F32, Shape{2}, {kInf, 0.0});
  EXPECT_TENSOR(run1("exp", {F({3}, {-kInf, kInf, kNaN})}), DType::F32, Shape{3}, {0.0, kInf, kNaN});
  // exp overflows f32 to inf.
  EXPECT_TENSOR(run1("exp", {F({1}, {100.0})}), DType::F32, Shape{1}, {kInf});
}

TEST(ElementwiseUnary, SigmoidIsStable) {
  const std::vector<double> xs = {-1000.0, -30.0, -1.0, 0.0, 1.0, 30.0, 1000.0, -kInf, kInf};
  EXPECT_TENSOR(run1("sigmoid", {F({9}, xs)}), DType::F32, Shape{9},
                {0.0, 1.0 / (1.0 + std::exp(30.0)), 1.0 / (1.0 + std::exp(1.0)), 0.5, 1.0 / (1.0 + std::exp(-1.0)),
                 1.0 / (1.0 + std::exp(-30.0)), 1.0, 0.0, 1.0},
                1e-7, 1e-5);
  Tensor y = run1("sigmoid", {F({2}, {-1000.0, 1000.0})});
  EXPECT_FALSE(std::isnan(y.getDouble(0)));
  EXPECT_FALSE(std::isnan(y.getDouble(1)));
}

TEST(ElementwiseUnary, FloorCeilRound) {
  const std::vector<double> xs = {-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4, -2.6, 3.0};
  EXPECT_TENSOR(run1("floor", {F({9}, xs)}), DType::F32, Shape{9}, {-3, -2, -1, 0, 1, 2, 2, -3, 3});
  EXPECT_TENSOR(run1("ceil", {F({9}, xs)}), DType::F32, Shape{9}, {-2, -1, -0.0, 1, 2, 3, 3, -2, 3});
  // Halves go to the even neighbour.
  EXPECT_TENSOR(run1("round", {F({9}, xs)}), DType::F32, Shape{9}, {-2, -2, -0.0, 0, 2, 2, 2, -3, 3});
  EXPECT_TENSOR(run1("round", {F({3}, {kInf, -kInf, kNaN})}), DType::F32, Shape{3}, {kInf, -kInf, kNaN});
  // -0.4 rounds to -0.
  Tensor r = run1("round", {F({1}, {-0.4})});
  EXPECT_EQ(r.getDouble(0), 0.0);
  EXPECT_TRUE(std::signbit(r.getDouble(0)));
  // Large values that are already integers stay.
  EXPECT_TENSOR(run1("round", {F({1}, {16777216.0})}), DType::F32, Shape{1}, {16777216.0});
}

TEST(ElementwiseUnary, Activations) {
  const std::vector<double> xs = {-3.0, -1.0, 0.0, 0.5, 2.0};
  auto sig = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  EXPECT_TENSOR(run1("silu", {F({5}, xs)}), DType::F32, Shape{5}, mapv(xs, [&](double x) { return x * sig(x); }));
  EXPECT_TENSOR(run1("silu", {F({2}, {-kInf, kInf})}), DType::F32, Shape{2}, {0.0, kInf});

  EXPECT_TENSOR(run1("leaky_relu", {F({5}, xs)}), DType::F32, Shape{5}, {-0.03, -0.01, 0.0, 0.5, 2.0});
  EXPECT_TENSOR(run1("leaky_relu", {F({5}, xs)}, {{"alpha", 0.5}}), DType::F32, Shape{5},
                {-1.5, -0.5, 0.0, 0.5, 2.0});
  // An int attribute value is accepted where a float is declared.
  EXPECT_TENSOR(run1("leaky_relu", {F({2}, {-2.0, 2.0})}, {{"alpha", int64_t{2}}}), DType::F32, Shape{2},
                {-4.0, 2.0});

  auto geluErf = [](double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); };
  auto geluTanh = [](double x) {
    return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
  };
  EXPECT_TENSOR(run1("gelu", {F({5}, xs)}), DType::F32, Shape{5}, mapv(xs, geluErf));
  EXPECT_TENSOR(run1("gelu", {F({5}, xs)}, {{"approximate", std::string("none")}}), DType::F32, Shape{5},
                mapv(xs, geluErf));
  EXPECT_TENSOR(run1("gelu", {F({5}, xs)}, {{"approximate", std::string("tanh")}}), DType::F32, Shape{5},
                mapv(xs, geluTanh));
  // Known value: gelu(1) = 0.8413447...
  EXPECT_TENSOR(run1("gelu", {F({1}, {1.0})}), DType::F32, Shape{1}, {0.8413447460685429});
  EXPECT_TENSOR(run1("gelu", {F({2}, {-kInf, kInf})}), DType::F32, Shape{2}, {0.0, kInf});

  Status s = runError("gelu", {F({1}, {1.0})}, {{"approximate", std::string("fast")}});
  EXPECT_TRUE(contains(s, "gelu")) << s.toString();
  EXPECT_TRUE(contains(s, "fast")) << s.toString();
}

TEST(ElementwiseUnary, HalfAndBfloat16) {
  Tensor h = T(DType::F16, {3}, {0.0, 1.0, -1.0});
  EXPECT_TENSOR(run1("exp", {h}), DType::F16, Shape{3}, {1.0, std::exp(1.0), std::exp(-1.0)}, 1e-3, 1e-3);
  Tensor b = T(DType::BF16, {2}, {4.0, 2.0});
  EXPECT_TENSOR(run1("sqrt", {b}), DType::BF16, Shape{2}, {2.0, std::sqrt(2.0)}, 1e-2, 1e-2);
  EXPECT_TENSOR(run1("round", {T(DType::F16, {3}, {2.5, 3.5, -0.5})}), DType::F16, Shape{3}, {2.0, 4.0, 0.0});
  EXPECT_TENSOR(run1("sigmoid", {T(DType::BF16, {1}, {0.0})}), DType::BF16, Shape{1}, {0.5});
  EXPECT_TENSOR(run1("neg", {T(DType::F16, {2}, {1.5, -2.0})}), DType::F16, Shape{2}, {-1.5, 2.0});
  EXPECT_TENSOR(run1("relu", {T(DType::BF16, {2}, {-1.5, 2.0})}), DType::BF16, Shape{2}, {0.0, 2.0});
  // exp(12) = 162754 overflows f16 (max 65504) to inf.
  EXPECT_TENSOR(run1("exp", {T(DType::F16, {1}, {12.0})}), DType::F16, Shape{1}, {kInf});
}

TEST(ElementwiseUnary, FloatOnlyOpsRejectIntegers) {
  for (const char* op : {"exp", "log", "sqrt", "sigmoid", "gelu", "silu", "round", "leaky_relu"}) {
    Status s = runError(op, {I({2}, {1, 2})});
    EXPECT_TRUE(contains(s, op)) << s.toString();
    EXPECT_TRUE(contains(s, "i64")) << s.toString();
  }
  expectFails("exp", {B({1}, {1})});
}

TEST(ElementwiseUnary, ScalarAndEmpty) {
  Tensor y = run1("exp", {Tensor::scalarF32(1.0f)});
  EXPECT_TENSOR(y, DType::F32, Shape{}, {std::exp(1.0)});
  EXPECT_TENSOR(run1("tanh", {F({0, 3}, {})}), DType::F32, (Shape{0, 3}), {});
  EXPECT_TENSOR(run1("neg", {I({0}, {})}), DType::I64, Shape{0}, {});
  EXPECT_TENSOR(run1("cast", {F({0, 3}, {})}, {{"to", std::string("i8")}}), DType::I8, (Shape{0, 3}), {});
}

// ---------------------------------------------------------------------------
// Numeric unary ops

TEST(ElementwiseUnary, NegAbsSignReluFloat) {
  const std::vector<double> xs = {-2.5, -0.0, 0.0, 3.0, -kInf, kNaN};
  EXPECT_TENSOR(run1("neg", {F({6}, xs)}), DType::F32, Shape{6}, {2.5, 0.0, -0.0, -3.0, kInf, kNaN});
  EXPECT_TENSOR(run1("abs", {F({6}, xs)}), DType::F32, Shape{6}, {2.5, 0.0, 0.0, 3.0, kInf, kNaN});
  EXPECT_TENSOR(run1("sign", {F({6}, xs)}), DType::F32, Shape{6}, {-1.0, 0.0, 0.0, 1.0, -1.0, kNaN});
  // relu propagates NaN (like torch.relu / numpy.maximum(x, 0)).
  EXPECT_TENSOR(run1("relu", {F({6}, xs)}), DType::F32, Shape{6}, {0.0, 0.0, 0.0, 3.0, 0.0, kNaN});
}

TEST(ElementwiseUnary, NegAbsSignReluIntegersWrap) {
  EXPECT_TENSOR(run1("neg", {I8({4}, {-128, -5, 0, 127})}), DType::I8, Shape{4}, {-128, 5, 0, -127});
  EXPECT_TENSOR(run1("abs", {I8({4}, {-128, -5, 0, 127})}), DType::I8, Shape{4}, {-128, 5, 0, 127});
  EXPECT_TENSOR(run1("sign", {I32({3}, {-7, 0, 9})}), DType::I32, Shape{3}, {-1, 0, 1});
  EXPECT_TENSOR(run1("relu", {I32({3}, {-7, 0, 9})}), DType::I32, Shape{3}, {0, 0, 9});
  EXPECT_EQ(ints(run1("neg", {I({3}, {kI64Min, kI64Max, -1})})), (std::vector<int64_t>{kI64Min, -kI64Max, 1}));
  EXPECT_EQ(ints(run1("abs", {I({2}, {kI64Min, -kI64Max})})), (std::vector<int64_t>{kI64Min, kI64Max}));
  Tensor m = run1("neg", {I32({1}, {-2147483648.0})});
  EXPECT_EQ(m.getInt(0), -2147483648LL);
  expectFails("neg", {B({1}, {1})});
}

TEST(ElementwiseUnary, Clip) {
  const std::vector<double> xs = {-5.0, -1.0, 0.0, 1.0, 5.0};
  // Defaults: no bounds.
  EXPECT_TENSOR(run1("clip", {F({5}, xs)}), DType::F32, Shape{5}, xs);
  EXPECT_TENSOR(run1("clip", {F({5}, xs)}, {{"min", -2.0}, {"max", 2.0}}), DType::F32, Shape{5},
                {-2.0, -1.0, 0.0, 1.0, 2.0});
  EXPECT_TENSOR(run1("clip", {F({5}, xs)}, {{"min", 0.5}}), DType::F32, Shape{5}, {0.5, 0.5, 0.5, 1.0, 5.0});
  // min > max: everything becomes max (ONNX: min(max(x, min), max)).
  EXPECT_TENSOR(run1("clip", {F({3}, {-1.0, 0.0, 9.0})}, {{"min", 3.0}, {"max", 1.0}}), DType::F32, Shape{3},
                {1.0, 1.0, 1.0});
  // NaN in x propagates; infinities are clipped.
  EXPECT_TENSOR(run1("clip", {F({3}, {kNaN, kInf, -kInf})}, {{"min", -1.0}, {"max", 1.0}}), DType::F32, Shape{3},
                {kNaN, 1.0, -1.0});
  // Integers: bounds round toward the inside.
  EXPECT_TENSOR(run1("clip", {I32({5}, xs)}, {{"min", -2.5}, {"max", 2.5}}), DType::I32, Shape{5},
                {-2, -1, 0, 1, 2});
  EXPECT_TENSOR(run1("clip", {I({3}, {-3, 0, 3})}, {{"min", int64_t{-1}}, {"max", int64_t{1}}}), DType::I64,
                Shape{3}, {-1, 0, 1});
  // Bounds outside the dtype's range saturate instead of wrapping.
  EXPECT_TENSOR(run1("clip", {I8({3}, {-128, 0, 127})}, {{"min", 1000.0}}), DType::I8, Shape{3}, {127, 127, 127});
  EXPECT_TENSOR(run1("clip", {I8({3}, {-128, 0, 127})}, {{"max", -1000.0}}), DType::I8, Shape{3},
                {-128, -128, -128});
  EXPECT_EQ(ints(run1("clip", {I({2}, {kI64Min, kI64Max})})), (std::vector<int64_t>{kI64Min, kI64Max}));
  EXPECT_TENSOR(run1("clip", {T(DType::F16, {2}, {-3.0, 3.0})}, {{"min", -1.0}, {"max", 1.0}}), DType::F16,
                Shape{2}, {-1.0, 1.0});
  Status s = runError("clip", {F({1}, {0.0})}, {{"min", kNaN}});
  EXPECT_TRUE(contains(s, "clip")) << s.toString();
  expectFails("clip", {B({1}, {1})});
}

TEST(ElementwiseUnary, LogicalNot) {
  EXPECT_TENSOR(run1("logical_not", {B({3}, {1, 0, 1})}), DType::Bool, Shape{3}, {0, 1, 0});
  EXPECT_TENSOR(run1("logical_not", {Tensor::scalarBool(false)}), DType::Bool, Shape{}, {1});
  expectFails("logical_not", {F({1}, {1.0})});
}

// ---------------------------------------------------------------------------
// Binary arithmetic

TEST(ElementwiseBinary, Broadcasting) {
  Tensor a = F({2, 1}, {10, 20});
  Tensor b = F({3}, {1, 2, 3});
  EXPECT_TENSOR(run1("add", {a, b}), DType::F32, (Shape{2, 3}), {11, 12, 13, 21, 22, 23});
  EXPECT_TENSOR(run1("sub", {b, a}), DType::F32, (Shape{2, 3}), {-9, -8, -7, -19, -18, -17});
  // Rank 0 with rank 2, both ways.
  Tensor s = Tensor::scalarF32(2.0f);
  Tensor m = F({2, 2}, {1, 2, 3, 4});
  EXPECT_TENSOR(run1("mul", {s, m}), DType::F32, (Shape{2, 2}), {2, 4, 6, 8});
  EXPECT_TENSOR(run1("div", {m, s}), DType::F32, (Shape{2, 2}), {0.5, 1, 1.5, 2});
  // Rank 0 with rank 0 stays rank 0.
  EXPECT_TENSOR(run1("add", {s, s}), DType::F32, Shape{}, {4});
  // [2,1,3] with [4,1] -> [2,4,3].
  Tensor c = F({2, 1, 3}, {0, 1, 2, 3, 4, 5});
  Tensor d = F({4, 1}, {0, 10, 20, 30});
  EXPECT_TENSOR(run1("add", {c, d}), DType::F32, (Shape{2, 4, 3}),
                {0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32, 3, 4, 5, 13, 14, 15, 23, 24, 25, 33, 34, 35});
}

TEST(ElementwiseBinary, EmptyTensors) {
  EXPECT_TENSOR(run1("add", {F({0, 3}, {}), F({3}, {1, 2, 3})}), DType::F32, (Shape{0, 3}), {});
  EXPECT_TENSOR(run1("mul", {F({0, 3}, {}), F({1, 1}, {2})}), DType::F32, (Shape{0, 3}), {});
  EXPECT_TENSOR(run1("less", {F({0, 3}, {}), Tensor::scalarF32(1.0f)}), DType::Bool, (Shape{0, 3}), {});
  // 0 broadcasts against 1 but not against 2.
  expectFails("add", {F({0}, {}), F({2}, {1, 2})});
  // Integer division of empty tensors is fine (no element divides by zero).
  EXPECT_TENSOR(run1("div", {I({0}, {}), I({1}, {0})}), DType::I64, Shape{0}, {});
}

TEST(ElementwiseBinary, FloatArithmetic) {
  Tensor a = F({4}, {1.5, -2.0, 0.0, 7.0});
  Tensor b = F({4}, {0.5, 4.0, 0.0, -2.0});
  EXPECT_TENSOR(run1("add", {a, b}), DType::F32, Shape{4}, {2.0, 2.0, 0.0, 5.0});
  EXPECT_TENSOR(run1("sub", {a, b}), DType::F32, Shape{4}, {1.0, -6.0, 0.0, 9.0});
  EXPECT_TENSOR(run1("mul", {a, b}), DType::F32, Shape{4}, {0.75, -8.0, 0.0, -14.0});
  EXPECT_TENSOR(run1("div", {a, b}), DType::F32, Shape{4}, {3.0, -0.5, kNaN, -3.5});
  EXPECT_TENSOR(run1("div", {F({2}, {1, -1}), F({1}, {0})}), DType::F32, Shape{2}, {kInf, -kInf});
  EXPECT_TENSOR(run1("pow", {F({4}, {2.0, 9.0, -2.0, 0.0}), F({4}, {0.5, 0.5, 3.0, 0.0})}), DType::F32, Shape{4},
                {std::sqrt(2.0), 3.0, -8.0, 1.0});
  EXPECT_TENSOR(run1("pow", {F({1}, {-8.0}), F({1}, {1.0 / 3})}), DType::F32, Shape{1}, {kNaN});
  EXPECT_TENSOR(run1("add", {T(DType::F16, {2}, {1.0, 2.0}), T(DType::F16, {2}, {0.5, 0.25})}), DType::F16,
                Shape{2}, {1.5, 2.25});
  EXPECT_TENSOR(run1("mul", {T(DType::BF16, {2}, {3.0, -2.0}), T(DType::BF16, {1}, {0.5})}), DType::BF16, Shape{2},
                {1.5, -1.0});
  // f16 overflow goes to inf.
  EXPECT_TENSOR(run1("mul", {T(DType::F16, {1}, {60000.0}), T(DType::F16, {1}, {2.0})}), DType::F16, Shape{1},
                {kInf});
}

TEST(ElementwiseBinary, IntegerArithmeticWraps) {
  EXPECT_TENSOR(run1("add", {I8({3}, {100, -100, 1}), I8({3}, {100, -100, 2})}), DType::I8, Shape{3},
                {-56, 56, 3});
  EXPECT_TENSOR(run1("sub", {I8({1}, {-128}), I8({1}, {1})}), DType::I8, Shape{1}, {127});
  EXPECT_TENSOR(run1("mul", {I32({2}, {65536, -3}), I32({2}, {65536, 7})}), DType::I32, Shape{2}, {0, -21});
  EXPECT_EQ(ints(run1("add", {I({2}, {kI64Max, kI64Min}), I({2}, {1, -1})})),
            (std::vector<int64_t>{kI64Min, kI64Max}));
  EXPECT_EQ(ints(run1("sub", {I({1}, {kI64Min}), I({1}, {1})})), (std::vector<int64_t>{kI64Max}));
  EXPECT_EQ(ints(run1("mul", {I({2}, {kI64Max, int64_t{1} << 32}), I({2}, {2, int64_t{1} << 32})})),
            (std::vector<int64_t>{-2, 0}));
  // Exactness beyond 2^53 (a double computation would lose the +1).
  EXPECT_EQ(ints(run1("add", {I({1}, {(int64_t{1} << 53)}), I({1}, {1})})),
            (std::vector<int64_t>{(int64_t{1} << 53) + 1}));
}

TEST(ElementwiseBinary, IntegerDivisionTruncatesTowardZero) {
  Tensor a = I({6}, {7, -7, 7, -7, 6, 0});
  Tensor b = I({6}, {2, 2, -2, -2, 3, 5});
  EXPECT_TENSOR(run1("div", {a, b}), DType::I64, Shape{6}, {3, -3, -3, 3, 2, 0});
  EXPECT_TENSOR(run1("div", {I32({2}, {-1, 1}), I32({1}, {3})}), DType::I32, Shape{2}, {0, 0});
  // MIN / -1 wraps to MIN.
  EXPECT_TENSOR(run1("div", {I8({1}, {-128}), I8({1}, {-1})}), DType::I8, Shape{1}, {-128});
  EXPECT_EQ(ints(run1("div", {I({1}, {kI64Min}), I({1}, {-1})})), (std::vector<int64_t>{kI64Min}));
  Status s = runError("div", {I({3}, {1, 2, 3}), I({3}, {1, 0, 1})});
  EXPECT_TRUE(contains(s, "integer division by zero")) << s.toString();
  EXPECT_TRUE(contains(s, "div")) << s.toString();
  expectFails("div", {I8({2}, {1, 2}), I8({}, {0})});
}

TEST(ElementwiseBinary, ModSignRules) {
  Tensor a = I({4}, {7, -7, 7, -7});
  Tensor b = I({4}, {2, 2, -2, -2});
  // fmod=0 (default): sign of the divisor, like Python %.
  EXPECT_TENSOR(run1("mod", {a, b}), DType::I64, Shape{4}, {1, 1, -1, -1});
  EXPECT_TENSOR(run1("mod", {I({4}, {6, -6, 5, -5}), I({4}, {3, 3, -3, 3})}), DType::I64, Shape{4}, {0, 0, -1, 1});
  // fmod=1: sign of the dividend, like C fmod.
  EXPECT_TENSOR(run1("mod", {a, b}, {{"fmod", int64_t{1}}}), DType::I64, Shape{4}, {1, -1, 1, -1});
  // MIN % -1 is 0 (no UB).
  EXPECT_EQ(ints(run1("mod", {I({1}, {kI64Min}), I({1}, {-1})})), (std::vector<int64_t>{0}));
  EXPECT_TENSOR(run1("mod", {I8({1}, {-128}), I8({1}, {-1})}, {{"fmod", int64_t{1}}}), DType::I8, Shape{1}, {0});
  EXPECT_TENSOR(run1("mod", {I32({2}, {-1, 10}), I32({1}, {7})}), DType::I32, Shape{2}, {6, 3});
  Status s = runError("mod", {I({1}, {5}), I({1}, {0})});
  EXPECT_TRUE(contains(s, "integer division by zero")) << s.toString();
  expectFails("mod", {I({1}, {5}), I({1}, {0})}, {{"fmod", int64_t{1}}});

  // Floats: fmod=0 behaves like numpy.mod, fmod=1 like std::fmod.
  Tensor fa = F({4}, {7.5, -7.5, 7.5, -7.5});
  Tensor fb = F({4}, {2.0, 2.0, -2.0, -2.0});
  EXPECT_TENSOR(run1("mod", {fa, fb}), DType::F32, Shape{4}, {1.5, 0.5, -0.5, -1.5});
  EXPECT_TENSOR(run1("mod", {fa, fb}, {{"fmod", int64_t{1}}}), DType::F32, Shape{4}, {1.5, -1.5, 1.5, -1.5});
  EXPECT_TENSOR(run1("mod", {F({2}, {1.0, 1.0}), F({2}, {0.0, kInf})}), DType::F32, Shape{2}, {kNaN, 1.0});
  // numpy.mod(-4, 2) == 0.0 and numpy.mod(4, -2) == -0.0: zero takes the divisor's sign.
  Tensor z = run1("mod", {F({2}, {-4.0, 4.0}), F({2}, {2.0, -2.0})});
  EXPECT_FALSE(std::signbit(z.getDouble(0)));
  EXPECT_TRUE(std::signbit(z.getDouble(1)));

  Status bad = runError("mod", {I({1}, {5}), I({1}, {2})}, {{"fmod", int64_t{2}}});
  EXPECT_TRUE(contains(bad, "fmod")) << bad.toString();
}

/// Naive repeated multiplication with wraparound (independent of the kernel's squaring).
int64_t naivePow(int64_t base, int64_t exp) {
  uint64_t r = 1;
  for (int64_t i = 0; i < exp; ++i) r *= static_cast<uint64_t>(base);
  return static_cast<int64_t>(r);
}

TEST(ElementwiseBinary, IntegerPow) {
  EXPECT_TENSOR(run1("pow", {I({6}, {3, 2, -2, 0, 5, 0}), I({6}, {4, 10, 3, 0, 1, 5})}), DType::I64, Shape{6},
                {81, 1024, -8, 1, 5, 0});
  // Negative exponents: 0 unless the base is 1 or -1.
  EXPECT_TENSOR(run1("pow", {I({6}, {2, 1, -1, -1, 0, -3}), I({6}, {-1, -5, -3, -2, -1, -2})}), DType::I64,
                Shape{6}, {0, 1, -1, 1, 0, 0});
  // Wraparound.
  EXPECT_EQ(ints(run1("pow", {I({3}, {2, 3, -3}), I({3}, {63, 40, 41})})),
            (std::vector<int64_t>{kI64Min, naivePow(3, 40), naivePow(-3, 41)}));
  EXPECT_EQ(ints(run1("pow", {I({1}, {2}), I({1}, {64})})), (std::vector<int64_t>{0}));
  EXPECT_TENSOR(run1("pow", {I8({2}, {2, 3}), I8({2}, {7, 5})}), DType::I8, Shape{2}, {-128, -13});  // 243-256
  EXPECT_TENSOR(run1("pow", {I32({1}, {7}), I32({1}, {12})}), DType::I32, Shape{1},
                {static_cast<double>(static_cast<int32_t>(naivePow(7, 12)))});
  // A huge exponent terminates quickly.
  EXPECT_EQ(ints(run1("pow", {I({2}, {-1, 3}), I({2}, {kI64Max, kI64Max})})).at(0), -1);
}

TEST(ElementwiseBinary, MaximumMinimum) {
  Tensor a = F({4}, {1.0, -2.0, kNaN, 3.0});
  Tensor b = F({4}, {2.0, -3.0, 1.0, kNaN});
  // NaN propagates (numpy.maximum / torch.maximum semantics).
  EXPECT_TENSOR(run1("maximum", {a, b}), DType::F32, Shape{4}, {2.0, -2.0, kNaN, kNaN});
  EXPECT_TENSOR(run1("minimum", {a, b}), DType::F32, Shape{4}, {1.0, -3.0, kNaN, kNaN});
  EXPECT_TENSOR(run1("maximum", {F({2}, {-kInf, kInf}), F({1}, {0.0})}), DType::F32, Shape{2}, {0.0, kInf});
  EXPECT_TENSOR(run1("maximum", {I8({3}, {-128, 5, 127}), I8({1}, {0})}), DType::I8, Shape{3}, {0, 5, 127});
  EXPECT_TENSOR(run1("minimum", {I8({3}, {-128, 5, 127}), I8({1}, {0})}), DType::I8, Shape{3}, {-128, 0, 0});
  EXPECT_EQ(ints(run1("maximum", {I({1}, {kI64Max}), I({1}, {kI64Max - 1})})), (std::vector<int64_t>{kI64Max}));
  EXPECT_TENSOR(run1("minimum", {T(DType::F16, {2}, {1, 5}), T(DType::F16, {2}, {3, 2})}), DType::F16, Shape{2},
                {1, 2});
}

// ---------------------------------------------------------------------------
// Comparisons and logical ops

TEST(ElementwiseCompare, FloatComparisons) {
  Tensor a = F({4}, {1.0, 2.0, 3.0, kNaN});
  Tensor b = F({4}, {2.0, 2.0, 2.0, kNaN});
  EXPECT_TENSOR(run1("equal", {a, b}), DType::Bool, Shape{4}, {0, 1, 0, 0});
  EXPECT_TENSOR(run1("less", {a, b}), DType::Bool, Shape{4}, {1, 0, 0, 0});
  EXPECT_TENSOR(run1("less_equal", {a, b}), DType::Bool, Shape{4}, {1, 1, 0, 0});
  EXPECT_TENSOR(run1("greater", {a, b}), DType::Bool, Shape{4}, {0, 0, 1, 0});
  EXPECT_TENSOR(run1("greater_equal", {a, b}), DType::Bool, Shape{4}, {0, 1, 1, 0});
  // -0 == 0.
  EXPECT_TENSOR(run1("equal", {F({1}, {-0.0}), F({1}, {0.0})}), DType::Bool, Shape{1}, {1});
  EXPECT_TENSOR(run1("less", {T(DType::BF16, {2}, {1, 3}), T(DType::BF16, {}, {2})}), DType::Bool, Shape{2},
                {1, 0});
}

TEST(ElementwiseCompare, IntAndBoolComparisons) {
  Tensor a = I({2, 1}, {1, 5});
  Tensor b = I({3}, {0, 1, 5});
  EXPECT_TENSOR(run1("greater", {a, b}), DType::Bool, (Shape{2, 3}), {1, 0, 0, 1, 1, 0});
  EXPECT_TENSOR(run1("equal", {a, b}), DType::Bool, (Shape{2, 3}), {0, 1, 0, 0, 0, 1});
  // Exact for int64 values that doubles cannot tell apart.
  const int64_t big = int64_t{1} << 53;
  EXPECT_TENSOR(run1("equal", {I({1}, {big}), I({1}, {big + 1})}), DType::Bool, Shape{1}, {0});
  EXPECT_TENSOR(run1("less", {I({1}, {big}), I({1}, {big + 1})}), DType::Bool, Shape{1}, {1});
  EXPECT_TENSOR(run1("less", {I8({2}, {-128, 127}), I8({}, {0})}), DType::Bool, Shape{2}, {1, 0});
  EXPECT_TENSOR(run1("equal", {B({3}, {1, 0, 1}), B({3}, {1, 1, 0})}), DType::Bool, Shape{3}, {1, 0, 0});
  expectFails("less", {B({1}, {1}), B({1}, {0})});
}

TEST(ElementwiseCompare, Logical) {
  Tensor a = B({2, 1}, {0, 1});
  Tensor b = B({2}, {0, 1});
  EXPECT_TENSOR(run1("logical_and", {a, b}), DType::Bool, (Shape{2, 2}), {0, 0, 0, 1});
  EXPECT_TENSOR(run1("logical_or", {a, b}), DType::Bool, (Shape{2, 2}), {0, 1, 1, 1});
  EXPECT_TENSOR(run1("logical_xor", {a, b}), DType::Bool, (Shape{2, 2}), {0, 1, 1, 0});
  EXPECT_TENSOR(run1("logical_and", {Tensor::scalarBool(true), Tensor::scalarBool(true)}), DType::Bool, Shape{},
                {1});
  Status s = runError("logical_or", {F({1}, {1}), F({1}, {0})});
  EXPECT_TRUE(contains(s, "logical_or")) << s.toString();
}

// ---------------------------------------------------------------------------
// where

TEST(ElementwiseWhere, ThreeWayBroadcasting) {
  Tensor c = B({2, 1}, {1, 0});
  Tensor x = F({3}, {1, 2, 3});
  Tensor y = Tensor::scalarF32(-1.0f);
  EXPECT_TENSOR(run1("where", {c, x, y}), DType::F32, (Shape{2, 3}), {1, 2, 3, -1, -1, -1});
  // Condition [3], x [2,1], y [1,3] -> [2,3].
  EXPECT_TENSOR(run1("where", {B({3}, {1, 0, 1}), I({2, 1}, {10, 20}), I({1, 3}, {-1, -2, -3})}), DType::I64,
                (Shape{2, 3}), {10, -2, 10, 20, -2, 20});
  // All rank 0.
  EXPECT_TENSOR(run1("where", {Tensor::scalarBool(false), Tensor::scalarI64(1), Tensor::scalarI64(2)}), DType::I64,
                Shape{}, {2});
  // Any dtype for x/y, copied exactly.
  EXPECT_EQ(ints(run1("where", {B({2}, {1, 0}), I({2}, {kI64Max, 0}), I({2}, {0, kI64Min})})),
            (std::vector<int64_t>{kI64Max, kI64Min}));
  EXPECT_TENSOR(run1("where", {B({2}, {0, 1}), T(DType::F16, {2}, {0.5, 1.5}), T(DType::F16, {2}, {2.5, 3.5})}),
                DType::F16, Shape{2}, {2.5, 1.5});
  EXPECT_TENSOR(run1("where", {B({2}, {0, 1}), B({2}, {1, 1}), B({2}, {0, 0})}), DType::Bool, Shape{2}, {0, 1});
  EXPECT_TENSOR(run1("where", {B({0, 1}, {}), F({3}, {1, 2, 3}), F({1}, {0})}), DType::F32, (Shape{0, 3}), {});
}

TEST(ElementwiseWhere, Errors) {
  Status s = runError("where", {F({2}, {1, 0}), F({2}, {1, 2}), F({2}, {3, 4})});
  EXPECT_TRUE(contains(s, "condition")) << s.toString();
  s = runError("where", {B({2}, {1, 0}), F({2}, {1, 2}), I({2}, {3, 4})});
  EXPECT_TRUE(contains(s, "where")) << s.toString();
  s = runError("where", {B({2}, {1, 0}), F({3}, {1, 2, 3}), F({1}, {0})});
  EXPECT_TRUE(contains(s, "broadcast")) << s.toString();
  expectFails("where", {B({2}, {1, 0}), F({2}, {1, 2}), F({3}, {1, 2, 3})});
  expectFails("where", {B({2}, {1, 0}), F({2}, {1, 2})});
}

// ---------------------------------------------------------------------------
// cast

TEST(ElementwiseCast, FloatToInt) {
  Tensor x = F({6}, {-1.7, 1.7, kNaN, 3e9, 1e30, -0.5});
  // Truncate toward zero; NaN -> 0; out of range saturates to int64 then wraps to 32 bits.
  Tensor y = run1("cast", {x}, {{"to", std::string("i32")}});
  ASSERT_EQ(y.dtype(), DType::I32);
  EXPECT_EQ(ints(y), (std::vector<int64_t>{-1, 1, 0, 3000000000LL - 4294967296LL, -1, 0}));
  Tensor z = run1("cast", {x}, {{"to", std::string("i64")}});
  EXPECT_EQ(ints(z), (std::vector<int64_t>{-1, 1, 0, 3000000000LL, kI64Max, 0}));
  EXPECT_TENSOR(run1("cast", {F({3}, {127.9, 128.0, -129.0})}, {{"to", std::string("i8")}}), DType::I8, Shape{3},
                {127, -128, 127});
  EXPECT_EQ(ints(run1("cast", {F({1}, {-kInf})}, {{"to", std::string("i64")}})), (std::vector<int64_t>{kI64Min}));
}

TEST(ElementwiseCast, IntAndBool) {
  Tensor x = I({4}, {(int64_t{1} << 32) + 5, int64_t{1} << 31, -1, 300});
  EXPECT_EQ(ints(run1("cast", {x}, {{"to", std::string("i32")}})),
            (std::vector<int64_t>{5, -2147483648LL, -1, 300}));
  EXPECT_TENSOR(run1("cast", {x}, {{"to", std::string("i8")}}), DType::I8, Shape{4}, {5, 0, -1, 44});
  EXPECT_TENSOR(run1("cast", {x}, {{"to", std::string("bool")}}), DType::Bool, Shape{4}, {1, 1, 1, 1});
  EXPECT_TENSOR(run1("cast", {I({2}, {0, -3})}, {{"to", std::string("bool")}}), DType::Bool, Shape{2}, {0, 1});
  EXPECT_TENSOR(run1("cast", {F({4}, {0.0, -0.0, 0.25, kNaN})}, {{"to", std::string("bool")}}), DType::Bool,
                Shape{4}, {0, 0, 1, 1});
  EXPECT_TENSOR(run1("cast", {B({2}, {1, 0})}, {{"to", std::string("f32")}}), DType::F32, Shape{2}, {1.0, 0.0});
  EXPECT_TENSOR(run1("cast", {B({2}, {1, 0})}, {{"to", std::string("i64")}}), DType::I64, Shape{2}, {1, 0});
  EXPECT_TENSOR(run1("cast", {I32({2}, {-7, 100000})}, {{"to", std::string("f16")}}), DType::F16, Shape{2},
                {-7.0, kInf});
  EXPECT_TENSOR(run1("cast", {F({2}, {1.0009765625, 3.0})}, {{"to", std::string("bf16")}}), DType::BF16, Shape{2},
                {1.0, 3.0});
  EXPECT_TENSOR(run1("cast", {T(DType::F16, {1}, {2.5})}, {{"to", std::string("f32")}}), DType::F32, Shape{1},
                {2.5});
  // Same dtype is a copy; rank 0 stays rank 0.
  EXPECT_TENSOR(run1("cast", {Tensor::scalarI64(9)}, {{"to", std::string("i64")}}), DType::I64, Shape{}, {9});
}

TEST(ElementwiseNewDTypes, UnsignedAndI16ArithmeticWraps) {
  Tensor a = Tensor::fromInts(DType::U8, {3}, {250, 3, 0}).value();
  Tensor b = Tensor::fromInts(DType::U8, {3}, {10, 5, 1}).value();
  EXPECT_TENSOR(run1("add", {a, b}), DType::U8, Shape{3}, {4, 8, 1});
  EXPECT_TENSOR(run1("sub", {a, b}), DType::U8, Shape{3}, {240, 254, 255});
  EXPECT_TENSOR(run1("mul", {a, b}), DType::U8, Shape{3}, {196, 15, 0});
  EXPECT_TENSOR(run1("div", {a, b}), DType::U8, Shape{3}, {25, 0, 0});
  EXPECT_TENSOR(run1("mod", {a, b}), DType::U8, Shape{3}, {0, 3, 0});
  EXPECT_TENSOR(run1("greater", {a, b}), DType::Bool, Shape{3}, {1, 0, 0});
  EXPECT_TENSOR(run1("neg", {b}), DType::U8, Shape{3}, {246, 251, 255});
  EXPECT_TENSOR(run1("abs", {a}), DType::U8, Shape{3}, {250, 3, 0});
  Tensor u16 = Tensor::fromInts(DType::U16, {2}, {65535, 2}).value();
  EXPECT_TENSOR(run1("mul", {u16, u16}), DType::U16, Shape{2}, {1, 4});  // no signed-int overflow on the way
  Tensor i16 = Tensor::fromInts(DType::I16, {3}, {-32768, -5, 7}).value();
  EXPECT_TENSOR(run1("abs", {i16}), DType::I16, Shape{3}, {-32768, 5, 7});
  EXPECT_TENSOR(run1("neg", {i16}), DType::I16, Shape{3}, {-32768, 5, -7});
  Tensor u64 = Tensor::allocate(DType::U64, {2}).value();
  u64.mutableData<uint64_t>()[0] = UINT64_MAX;
  u64.mutableData<uint64_t>()[1] = 10;
  Tensor three = Tensor::allocate(DType::U64, {}).value();
  three.mutableData<uint64_t>()[0] = 3;
  Tensor q = run1("div", {u64, three});
  EXPECT_EQ(q.data<uint64_t>()[0], UINT64_MAX / 3);  // unsigned division, not of -1
  EXPECT_EQ(q.data<uint64_t>()[1], 3u);
  Tensor m = run1("maximum", {u64, three});
  EXPECT_EQ(m.data<uint64_t>()[0], UINT64_MAX);
  Status s = runError("div", {a, Tensor::fromInts(DType::U8, {3}, {1, 0, 1}).value()});
  EXPECT_TRUE(contains(s, "division by zero")) << s.toString();
}

TEST(ElementwiseNewDTypes, F64IsComputedInDouble) {
  Tensor x = T(DType::F64, {3}, {1e-10, 0.5, 700.0});
  Tensor e = run1("exp", {x});
  ASSERT_EQ(e.dtype(), DType::F64);
  EXPECT_EQ(e.data<double>()[0], std::exp(1e-10));
  EXPECT_EQ(e.data<double>()[1], std::exp(0.5));
  EXPECT_EQ(e.data<double>()[2], std::exp(700.0));  // beyond f32's range
  Tensor y = T(DType::F64, {3}, {3.0, 3.0, 3.0});
  Tensor d = run1("div", {T(DType::F64, {3}, {1, 2, 1e300}), y});
  EXPECT_EQ(d.data<double>()[0], 1.0 / 3.0);
  EXPECT_EQ(d.data<double>()[2], 1e300 / 3.0);
  Tensor sg = run1("sigmoid", {T(DType::F64, {2}, {-800, 0.25})});
  EXPECT_EQ(sg.data<double>()[1], 1.0 / (1.0 + std::exp(-0.25)));
  EXPECT_GE(sg.data<double>()[0], 0.0);
}

TEST(ReduceNewDTypes, SumsMeansArgmaxAndMatmul) {
  Tensor u8 = Tensor::fromInts(DType::U8, {2, 3}, {200, 100, 1, 5, 6, 7}).value();
  EXPECT_TENSOR(run1("reduce_sum", {u8}, {{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{0}}}), DType::U8,
                Shape{2}, {45, 18});  // 301 wraps to 45
  EXPECT_TENSOR(run1("reduce_max", {u8}, {{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{0}}}), DType::U8,
                Shape{2}, {200, 7});
  Tensor u64 = Tensor::allocate(DType::U64, {2}).value();
  u64.mutableData<uint64_t>()[0] = uint64_t{1} << 63;  // above INT64_MAX: the mean divides unsigned
  u64.mutableData<uint64_t>()[1] = 2;
  Tensor mean = run1("reduce_mean", {u64}, {{"keepdims", int64_t{0}}});
  EXPECT_EQ(mean.data<uint64_t>()[0], (uint64_t{1} << 62) + 1);
  Tensor f64 = T(DType::F64, {4}, {0.1, 0.2, 0.3, -1});
  Tensor sum = run1("reduce_sum", {f64}, {{"keepdims", int64_t{0}}});
  EXPECT_EQ(sum.data<double>()[0], ((0.1 + 0.2) + (0.3 + -1.0)));
  EXPECT_TENSOR(run1("argmax", {f64}), DType::I64, Shape{1}, {2});
  Tensor i16 = Tensor::fromInts(DType::I16, {2, 2}, {300, 2, 3, 4}).value();
  EXPECT_TENSOR(run1("matmul", {i16, i16}), DType::I16, (Shape{2, 2}), {static_cast<int16_t>(90006), 608, 912, 22});
  Tensor a = T(DType::F64, {1, 2}, {0.1, 0.2});
  Tensor b = T(DType::F64, {2, 1}, {0.3, 0.7});
  Tensor c = run1("matmul", {a, b});
  EXPECT_EQ(c.data<double>()[0], 0.1 * 0.3 + 0.2 * 0.7);
  Tensor sm = run1("softmax", {T(DType::F64, {2}, {0, 1})});
  EXPECT_NEAR(sm.data<double>()[1], 0.7310585786300049, 1e-15);  // f32 would be off by ~1e-8
}

TEST(ElementwiseBitShift, LeftRightAndShiftsOfTheWidthOrMore) {
  Tensor x = Tensor::fromInts(DType::U8, {4}, {16, 4, 1, 255}).value();
  Tensor n = Tensor::fromInts(DType::U8, {4}, {1, 2, 8, 7}).value();
  EXPECT_TENSOR(run1("bit_shift", {x, n}, {{"direction", std::string("right")}}), DType::U8, Shape{4}, {8, 1, 0, 1});
  EXPECT_TENSOR(run1("bit_shift", {x, n}, {{"direction", std::string("left")}}), DType::U8, Shape{4}, {32, 16, 0, 128});
  Tensor x64 = Tensor::allocate(DType::U64, {2}).value();
  x64.mutableData<uint64_t>()[0] = 1;
  x64.mutableData<uint64_t>()[1] = UINT64_MAX;
  Tensor n64 = Tensor::allocate(DType::U64, {2}).value();
  n64.mutableData<uint64_t>()[0] = 63;
  n64.mutableData<uint64_t>()[1] = 64;
  Tensor l = run1("bit_shift", {x64, n64});  // direction defaults to left
  EXPECT_EQ(l.data<uint64_t>()[0], uint64_t{1} << 63);
  EXPECT_EQ(l.data<uint64_t>()[1], 0u);
  Tensor u32 = Tensor::fromInts(DType::U32, {1}, {4294967295}).value();
  Tensor by = Tensor::fromInts(DType::U32, {}, {31}).value();
  EXPECT_TENSOR(run1("bit_shift", {u32, by}, {{"direction", std::string("right")}}), DType::U32, Shape{1}, {1});
  expectFails("bit_shift", {x, n}, {{"direction", std::string("up")}});
  expectFails("bit_shift", {Tensor::fromInts(DType::I32, {1}, {1}).value(), Tensor::fromInts(DType::I32, {1}, {1}).value()});
}

TEST(ElementwiseCast, NewDTypes) {
  // f64 keeps what f32 cannot; float -> unsigned truncates, then wraps.
  Tensor f64 = run1("cast", {I({2}, {16777217, -3})}, {{"to", std::string("f64")}});
  ASSERT_EQ(f64.dtype(), DType::F64);
  EXPECT_EQ(f64.data<double>()[0], 16777217.0);  // f32 would round it to 16777216
  EXPECT_EQ(f64.data<double>()[1], -3.0);
  Tensor u8 = run1("cast", {F({4}, {255.9f, 256.0f, -1.0f, 7.5f})}, {{"to", std::string("u8")}});
  ASSERT_EQ(u8.dtype(), DType::U8);
  EXPECT_EQ(u8.data<uint8_t>()[0], 255);
  EXPECT_EQ(u8.data<uint8_t>()[1], 0);
  EXPECT_EQ(u8.data<uint8_t>()[2], 255);
  EXPECT_EQ(u8.data<uint8_t>()[3], 7);
  Tensor back = run1("cast", {u8}, {{"to", std::string("f32")}});
  EXPECT_TENSOR(back, DType::F32, Shape{4}, {255, 0, 255, 7});
  Tensor u64 = run1("cast", {T(DType::F64, {2}, {1.8e19, 2.0})}, {{"to", std::string("u64")}});
  EXPECT_EQ(u64.data<uint64_t>()[0], 18000000000000000000ull);
  Tensor big = run1("cast", {u64}, {{"to", std::string("f64")}});
  EXPECT_EQ(big.data<double>()[0], 1.8e19);  // read unsigned, not as a negative i64
  Tensor i16 = run1("cast", {I32({2}, {40000, -5})}, {{"to", std::string("i16")}});
  EXPECT_EQ(i16.data<int16_t>()[0], static_cast<int16_t>(40000 - 65536));
  EXPECT_EQ(i16.data<int16_t>()[1], -5);
}

TEST(ElementwiseCast, Errors) {
  Status s = runError("cast", {F({1}, {1})}, {{"to", std::string("f128")}});
  EXPECT_TRUE(contains(s, "f128")) << s.toString();
  EXPECT_TRUE(contains(s, "cast")) << s.toString();
  s = runError("cast", {F({1}, {1})});  // 'to' is required
  EXPECT_TRUE(contains(s, "to")) << s.toString();
  expectFails("cast", {F({1}, {1})}, {{"to", int64_t{1}}});
}

// ---------------------------------------------------------------------------
// Errors common to the binary ops

TEST(ElementwiseErrors, MismatchedDTypes) {
  Status s = runError("add", {F({2}, {1, 2}), I({2}, {1, 2})});
  EXPECT_TRUE(contains(s, "add")) << s.toString();
  EXPECT_TRUE(contains(s, "f32")) << s.toString();
  EXPECT_TRUE(contains(s, "i64")) << s.toString();
  expectFails("equal", {B({1}, {1}), I({1}, {1})});
  expectFails("mul", {T(DType::F16, {1}, {1}), T(DType::BF16, {1}, {1})});
  expectFails("add", {B({1}, {1}), B({1}, {1})});  // bool is not numeric
}

TEST(ElementwiseErrors, NonBroadcastableShapes) {
  Status s = runError("add", {F({2, 3}, {1, 2, 3, 4, 5, 6}), F({4}, {1, 2, 3, 4})});
  EXPECT_TRUE(contains(s, "add")) << s.toString();
  EXPECT_TRUE(contains(s, "broadcast")) << s.toString();
  expectFails("less", {F({2}, {1, 2}), F({3}, {1, 2, 3})});
}

TEST(ElementwiseErrors, WrongArity) {
  Status s = runError("add", {F({1}, {1})});
  EXPECT_TRUE(contains(s, "add")) << s.toString();
  expectFails("add", {F({1}, {1}), F({1}, {1}), F({1}, {1})});
  expectFails("neg", {F({1}, {1}), F({1}, {1})});
  expectFails("exp", {});
  expectFails("where", {B({1}, {1})});
  expectFails("relu", {F({1}, {1})}, {}, 2);
}

TEST(ElementwiseErrors, UnknownAttribute) {
  Status s = runError("relu", {F({1}, {1})}, {{"alpha", 0.5}});
  EXPECT_TRUE(contains(s, "alpha")) << s.toString();
}

// ---------------------------------------------------------------------------
// Inference with symbolic and unknown dims

std::string inferOne(const std::string& op, std::vector<Type> types, const AttrMap& attrs = {}) {
  const OpSchema* s = OpRegistry::global().find(op);
  EXPECT_NE(s, nullptr) << op;
  if (!s) return "";
  std::vector<const Tensor*> consts(types.size(), nullptr);
  auto r = inferOp(*s, attrs, types, consts, 1);
  if (!r.ok()) return "error: " + r.status().toString();
  return (*r)[0].toString();
}

TEST(ElementwiseInfer, SymbolicBroadcast) {
  const OpSchema* add = OpRegistry::global().find("add");
  ASSERT_NE(add, nullptr);
  auto r = inferOp(*add, {}, {Type::tensor(DType::F32, {Dim::symbol("N"), Dim(1)}), Type::tensor(DType::F32, {Dim(3)})},
                   {nullptr, nullptr}, 1);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ((*r)[0].toString(), "f32[N, 3]");

  const Type n1 = Type::tensor(DType::F32, {Dim::symbol("N"), Dim(1)});
  const Type m3 = Type::tensor(DType::F32, {Dim::symbol("M"), Dim(3)});
  EXPECT_EQ(inferOne("mul", {n1, m3}), "f32[?, 3]");
  EXPECT_EQ(inferOne("mul", {n1, n1}), "f32[N, 1]");
  EXPECT_EQ(inferOne("sub", {Type::tensor(DType::F32, {Dim(), Dim(4)}), Type::tensor(DType::F32, {Dim(5), Dim(1)})}),
            "f32[5, 4]");
  EXPECT_EQ(inferOne("add", {Type::tensorUnranked(DType::F32), m3}), "f32[*]");
  EXPECT_EQ(inferOne("less", {n1, m3}), "bool[?, 3]");
  EXPECT_EQ(inferOne("equal", {Type::tensorUnranked(DType::I64), Type::scalar(DType::I64)}), "bool[*]");
  // Scalars behave as rank 0.
  EXPECT_EQ(inferOne("add", {Type::scalar(DType::I64), Type::scalar(DType::I64)}), "i64");
  EXPECT_EQ(inferOne("add", {Type::scalar(DType::F32), n1}), "f32[N, 1]");
  EXPECT_EQ(inferOne("mod", {Type::scalar(DType::I32), Type::tensor(DType::I32, {Dim(2)})}), "i32[2]");
  // Static mismatch is still an error with symbols around.
  const std::string err =
      inferOne("add", {Type::tensor(DType::F32, {Dim::symbol("N"), Dim(2)}), Type::tensor(DType::F32, {Dim(3)})});
  EXPECT_NE(err.find("error"), std::string::npos) << err;
  EXPECT_NE(err.find("add"), std::string::npos) << err;
  EXPECT_NE(inferOne("add", {n1, Type::tensor(DType::I64, {Dim(3)})}).find("error"), std::string::npos);
}

TEST(ElementwiseInfer, UnaryWhereCast) {
  const Type n1 = Type::tensor(DType::F32, {Dim::symbol("N"), Dim(1)});
  EXPECT_EQ(inferOne("exp", {n1}), "f32[N, 1]");
  EXPECT_EQ(inferOne("exp", {Type::scalar(DType::F16)}), "f16");
  EXPECT_EQ(inferOne("relu", {Type::tensorUnranked(DType::I8)}), "i8[*]");
  EXPECT_EQ(inferOne("logical_not", {Type::tensor(DType::Bool, {Dim()})}), "bool[?]");
  EXPECT_EQ(inferOne("cast", {n1}, {{"to", std::string("i64")}}), "i64[N, 1]");
  EXPECT_EQ(inferOne("cast", {Type::scalar(DType::F32)}, {{"to", std::string("bool")}}), "bool");
  EXPECT_NE(inferOne("cast", {n1}, {{"to", std::string("int")}}).find("error"), std::string::npos);
  EXPECT_NE(inferOne("gelu", {n1}, {{"approximate", std::string("erf")}}).find("error"), std::string::npos);
  EXPECT_EQ(inferOne("gelu", {n1}, {{"approximate", std::string("tanh")}}), "f32[N, 1]");
  EXPECT_NE(inferOne("sqrt", {Type::tensor(DType::I32, {Dim(2)})}).find("error"), std::string::npos);
  EXPECT_EQ(inferOne("where", {Type::tensor(DType::Bool, {Dim::symbol("B"), Dim(1)}),
                               Type::tensor(DType::I32, {Dim(4)}), Type::scalar(DType::I32)}),
            "i32[B, 4]");
  EXPECT_EQ(inferOne("where", {Type::scalar(DType::Bool), Type::scalar(DType::F32), Type::scalar(DType::F32)}),
            "f32");
  EXPECT_EQ(inferOne("where", {Type::tensorUnranked(DType::Bool), n1, n1}), "f32[*]");
}

}  // namespace
}  // namespace sy
