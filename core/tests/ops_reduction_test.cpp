// Tests of reduce_*, argmax/argmin and softmax/log_softmax. Expected values are
// hand-computed or come from direct formulas in the test, never from the ops.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "switchyard/builder.h"
#include "switchyard/interpreter.h"
#include "switchyard/op_registry.h"
#include "test_util.h"

namespace sy {
namespace {

using testing::F;
using testing::I;
using testing::run1;
using testing::runError;
using testing::T;

/// Expects `op` to fail (the error text is checked elsewhere).
void fails(std::string_view op, const std::vector<Tensor>& inputs, const AttrMap& attrs = {}) {
  (void)runError(op, inputs, attrs);
}

const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

AttrMap axes(std::vector<int64_t> a, int64_t keepdims = 1) {
  return AttrMap{{"axes", a}, {"keepdims", keepdims}};
}

/// Inferred output type (as text) of `op` for `types`, or "error: ..." on failure.
std::string inferStr(std::string_view op, const AttrMap& attrs, const std::vector<Type>& types) {
  const OpSchema* schema = OpRegistry::global().find(op);
  if (!schema) return "no such op";
  std::vector<const Tensor*> constants(types.size(), nullptr);
  auto r = inferOp(*schema, attrs, types, constants, 1);
  if (!r.ok()) return "error: " + r.status().message();
  return (*r)[0].toString();
}

Type f32(std::vector<Dim> dims) { return Type::tensor(DType::F32, std::move(dims)); }

// x = [[1, 2, 3], [4, 5, 6]]
Tensor x23() { return F({2, 3}, {1, 2, 3, 4, 5, 6}); }

// ---------------------------------------------------------------------------
// reduce_*

TEST(ReduceSum, SingleAxisKeepdims) {
  EXPECT_TENSOR(run1("reduce_sum", {x23()}, axes({1})), DType::F32, (Shape{2, 1}), {6, 15});
  EXPECT_TENSOR(run1("reduce_sum", {x23()}, axes({0})), DType::F32, (Shape{1, 3}), {5, 7, 9});
}

TEST(ReduceSum, NoKeepdimsAndNegativeAxis) {
  EXPECT_TENSOR(run1("reduce_sum", {x23()}, axes({-1}, 0)), DType::F32, (Shape{2}), {6, 15});
  EXPECT_TENSOR(run1("reduce_sum", {x23()}, axes({-2}, 0)), DType::F32, (Shape{3}), {5, 7, 9});
}

TEST(ReduceSum, DefaultReducesAllAxes) {
  EXPECT_TENSOR(run1("reduce_sum", {x23()}), DType::F32, (Shape{1, 1}), {21});
  EXPECT_TENSOR(run1("reduce_sum", {x23()}, {{"keepdims", int64_t{0}}}), DType::F32, (Shape{}), {21});
}

TEST(ReduceSum, NoopWithEmptyAxes) {
  Tensor y = run1("reduce_sum", {x23()}, {{"noop_with_empty_axes", int64_t{1}}});
  EXPECT_TENSOR(y, DType::F32, (Shape{2, 3}), {1, 2, 3, 4, 5, 6});
  // Non-empty axes still reduce.
  EXPECT_TENSOR(run1("reduce_sum", {x23()}, {{"axes", std::vector<int64_t>{1}}, {"noop_with_empty_axes", int64_t{1}}}),
                DType::F32, (Shape{2, 1}), {6, 15});
}

TEST(ReduceSum, MultipleAxesRank3) {
  // x[i][j][k] = i*100 + j*10 + k, shape [2, 3, 4].
  std::vector<double> v;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) v.push_back(i * 100 + j * 10 + k);
  Tensor x = F({2, 3, 4}, v);
  // Over axes 0 and 2 -> [3]: sum_i sum_k (100i + 10j + k) = 4*100 + 8*10j + 2*6 = 412 + 80j.
  EXPECT_TENSOR(run1("reduce_sum", {x}, axes({0, 2}, 0)), DType::F32, (Shape{3}), {412, 492, 572});
  // Same with negative axes given in another order, keepdims.
  EXPECT_TENSOR(run1("reduce_sum", {x}, axes({-1, 0})), DType::F32, (Shape{1, 3, 1}), {412, 492, 572});
  // Over axes 1 and 2 -> [2]: sum_j sum_k = 12*100i + 4*30 + 3*6 = 1200i + 138.
  EXPECT_TENSOR(run1("reduce_sum", {x}, axes({1, 2}, 0)), DType::F32, (Shape{2}), {138, 1338});
}

TEST(ReduceSum, IntDtypes) {
  Tensor x = T(DType::I32, {2, 3}, {1, -2, 3, 40, 50, 60});
  EXPECT_TENSOR(run1("reduce_sum", {x}, axes({1}, 0)), DType::I32, (Shape{2}), {2, 150});
  Tensor x64 = I({3}, {int64_t{1} << 40, 5, -7});
  EXPECT_TENSOR(run1("reduce_sum", {x64}, axes({0}, 0)), DType::I64, (Shape{}),
                {static_cast<double>((int64_t{1} << 40) - 2)});
  Tensor x8 = T(DType::I8, {2}, {100, 100});
  EXPECT_TENSOR(run1("reduce_sum", {x8}), DType::I8, (Shape{1}), {-56});  // wraps like a cast
}

TEST(ReduceSum, EmptyTensors) {
  Tensor e = F({0, 3}, {});
  EXPECT_TENSOR(run1("reduce_sum", {e}, axes({0}, 0)), DType::F32, (Shape{3}), {0, 0, 0});
  EXPECT_TENSOR(run1("reduce_sum", {e}, axes({1}, 0)), DType::F32, (Shape{0}), {});
  EXPECT_TENSOR(run1("reduce_sum", {e}), DType::F32, (Shape{1, 1}), {0});
  EXPECT_TENSOR(run1("reduce_prod", {e}, axes({0}, 0)), DType::F32, (Shape{3}), {1, 1, 1});
  EXPECT_TENSOR(run1("reduce_mean", {e}, axes({0}, 0)), DType::F32, (Shape{3}), {kNaN, kNaN, kNaN});
  EXPECT_TENSOR(run1("reduce_max", {e}, axes({0}, 0)), DType::F32, (Shape{3}), {-kInf, -kInf, -kInf});
  EXPECT_TENSOR(run1("reduce_min", {e}, axes({0}, 0)), DType::F32, (Shape{3}), {kInf, kInf, kInf});
  Tensor ei = T(DType::I32, {0, 3}, {});
  EXPECT_TENSOR(run1("reduce_sum", {ei}, axes({0}, 0)), DType::I32, (Shape{3}), {0, 0, 0});
  EXPECT_TENSOR(run1("reduce_prod", {ei}, axes({0}, 0)), DType::I32, (Shape{3}), {1, 1, 1});
  // An empty output needs no value, even for ints.
  EXPECT_TENSOR(run1("reduce_max", {ei}, axes({1}, 0)), DType::I32, (Shape{0}), {});
}

TEST(ReduceSum, EmptyIntReductionsWithoutIdentityAreErrors) {
  Tensor ei = T(DType::I32, {0, 3}, {});
  for (const char* op : {"reduce_mean", "reduce_max", "reduce_min"}) {
    Status s = runError(op, {ei}, axes({0}, 0));
    EXPECT_NE(s.message().find("zero elements"), std::string::npos) << op << ": " << s.toString();
    EXPECT_NE(s.message().find(op), std::string::npos) << s.toString();
  }
}

TEST(Reduce, Rank0Input) {
  Tensor s = Tensor::scalarF32(2.5f);
  for (const char* op : {"reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod"})
    EXPECT_TENSOR(run1(op, {s}), DType::F32, (Shape{}), {2.5}) << op;
  EXPECT_TENSOR(run1("reduce_sum", {Tensor::scalarI64(-4)}, {{"keepdims", int64_t{0}}}), DType::I64, (Shape{}), {-4});
  // A rank-0 tensor has no axis 0.
  fails("reduce_sum", {s}, axes({0}));
}

TEST(ReduceMean, Values) {
  EXPECT_TENSOR(run1("reduce_mean", {x23()}, axes({1}, 0)), DType::F32, (Shape{2}), {2, 5});
  EXPECT_TENSOR(run1("reduce_mean", {x23()}), DType::F32, (Shape{1, 1}), {3.5});
  // Ints: truncation toward zero.
  Tensor xi = T(DType::I32, {2, 2}, {1, 2, -1, -2});
  EXPECT_TENSOR(run1("reduce_mean", {xi}, axes({1}, 0)), DType::I32, (Shape{2}), {1, -1});
}

TEST(ReduceMaxMin, Values) {
  Tensor x = F({2, 3}, {3, -1, 7, -5, 0, 2});
  EXPECT_TENSOR(run1("reduce_max", {x}, axes({1}, 0)), DType::F32, (Shape{2}), {7, 2});
  EXPECT_TENSOR(run1("reduce_min", {x}, axes({1}, 0)), DType::F32, (Shape{2}), {-1, -5});
  EXPECT_TENSOR(run1("reduce_max", {x}, axes({0}, 0)), DType::F32, (Shape{3}), {3, 0, 7});
  EXPECT_TENSOR(run1("reduce_min", {x}, {{"keepdims", int64_t{0}}}), DType::F32, (Shape{}), {-5});
  Tensor xi = I({4}, {-3, 9, 9, -10});
  EXPECT_TENSOR(run1("reduce_max", {xi}, axes({0}, 0)), DType::I64, (Shape{}), {9});
  EXPECT_TENSOR(run1("reduce_min", {xi}, axes({0}, 0)), DType::I64, (Shape{}), {-10});
}

TEST(ReduceMaxMin, NaNPropagates) {
  Tensor x = F({2, 3}, {1, kNaN, 3, 4, 5, 6});
  EXPECT_TENSOR(run1("reduce_max", {x}, axes({1}, 0)), DType::F32, (Shape{2}), {kNaN, 6});
  EXPECT_TENSOR(run1("reduce_min", {x}, axes({1}, 0)), DType::F32, (Shape{2}), {kNaN, 4});
  Tensor y = F({3}, {kNaN, 1, 2});  // NaN first
  EXPECT_TENSOR(run1("reduce_max", {y}, axes({0}, 0)), DType::F32, (Shape{}), {kNaN});
  EXPECT_TENSOR(run1("reduce_min", {y}, axes({0}, 0)), DType::F32, (Shape{}), {kNaN});
}

TEST(ReduceProd, Values) {
  EXPECT_TENSOR(run1("reduce_prod", {x23()}, axes({1}, 0)), DType::F32, (Shape{2}), {6, 120});
  EXPECT_TENSOR(run1("reduce_prod", {x23()}, axes({0})), DType::F32, (Shape{1, 3}), {4, 10, 18});
  EXPECT_TENSOR(run1("reduce_prod", {T(DType::I32, {3}, {-2, 3, 4})}), DType::I32, (Shape{1}), {-24});
}

TEST(Reduce, HalfPrecision) {
  Tensor x = T(DType::F16, {4}, {0.5, 1.5, 2.0, 4.0});
  EXPECT_TENSOR(run1("reduce_sum", {x}), DType::F16, (Shape{1}), {8.0});
  Tensor b = T(DType::BF16, {2, 2}, {1, 2, 3, 4});
  EXPECT_TENSOR(run1("reduce_mean", {b}, axes({0}, 0)), DType::BF16, (Shape{2}), {2, 3});
}

TEST(Reduce, Errors) {
  Status s = runError("reduce_sum", {x23()}, axes({2}));
  EXPECT_NE(s.message().find("out of range"), std::string::npos) << s.toString();
  EXPECT_NE(s.message().find("reduce_sum"), std::string::npos) << s.toString();
  fails("reduce_sum", {x23()}, axes({-3}));
  s = runError("reduce_max", {x23()}, axes({1, -1}));
  EXPECT_NE(s.message().find("repeated"), std::string::npos) << s.toString();
  fails("reduce_min", {x23()}, axes({0, 0}));
  s = runError("reduce_sum", {testing::B({2}, {1, 0})});
  EXPECT_NE(s.message().find("dtype"), std::string::npos) << s.toString();
  s = runError("reduce_sum", {x23()}, {{"keepdims", int64_t{2}}});
  EXPECT_NE(s.message().find("keepdims"), std::string::npos) << s.toString();
  fails("reduce_sum", {x23()}, {{"noop_with_empty_axes", int64_t{-1}}});
  fails("reduce_sum", {x23()}, {{"axis", int64_t{1}}});  // unknown attribute
}

TEST(Reduce, InferenceKeepsSymbols) {
  const Type n4 = f32({Dim::symbol("N"), 4});
  EXPECT_EQ(inferStr("reduce_sum", axes({1}, 0), {n4}), "f32[N]");
  EXPECT_EQ(inferStr("reduce_sum", axes({1}, 1), {n4}), "f32[N, 1]");
  EXPECT_EQ(inferStr("reduce_max", axes({0}, 1), {n4}), "f32[1, 4]");
  EXPECT_EQ(inferStr("reduce_mean", {}, {n4}), "f32[1, 1]");
  EXPECT_EQ(inferStr("reduce_mean", {{"keepdims", int64_t{0}}}, {n4}), "f32[]");
  EXPECT_EQ(inferStr("reduce_sum", {{"noop_with_empty_axes", int64_t{1}}}, {n4}), "f32[N, 4]");
  EXPECT_EQ(inferStr("reduce_sum", axes({-1}, 0), {f32({Dim::symbol("B"), Dim::unknown(), Dim::symbol("S")})}),
            "f32[B, ?]");
  // Unknown rank.
  EXPECT_EQ(inferStr("reduce_sum", axes({1}, 0), {Type::tensorUnranked(DType::F32)}), "f32[*]");
  EXPECT_EQ(inferStr("reduce_sum", {{"keepdims", int64_t{0}}}, {Type::tensorUnranked(DType::F32)}), "f32[]");
  EXPECT_EQ(inferStr("reduce_sum", {}, {Type::tensorUnranked(DType::F32)}), "f32[*]");
  EXPECT_EQ(inferStr("reduce_sum", axes({1, 1}), {Type::tensorUnranked(DType::F32)}).rfind("error", 0), 0u);
  // Scalars behave as rank 0.
  EXPECT_EQ(inferStr("reduce_sum", {}, {Type::scalar(DType::I64)}), "i64");
  // Static errors.
  EXPECT_EQ(inferStr("reduce_sum", axes({2}), {n4}).rfind("error", 0), 0u);
  EXPECT_EQ(inferStr("reduce_max", axes({0}), {Type::tensor(DType::I32, {0, 3})}).rfind("error", 0), 0u);
  EXPECT_EQ(inferStr("reduce_max", axes({0}), {Type::tensor(DType::I32, {0, Dim::symbol("N")})}), "i32[1, N]");
}

// Axes as the optional input (Note [run-time axes] in core/src/ops/reduction.cpp).
TEST(Reduce, AxesInputKnownAtCompileTime) {
  // evalOp hands every input over as a constant: inference sees the values.
  EXPECT_TENSOR(run1("reduce_sum", {x23(), I({1}, {1})}), DType::F32, (Shape{2, 1}), {6, 15});
  EXPECT_TENSOR(run1("reduce_max", {x23(), I({1}, {-2})}, {{"keepdims", int64_t{0}}}), DType::F32, (Shape{3}),
                {4, 5, 6});
  EXPECT_TENSOR(run1("reduce_sum", {x23(), I({0}, {})}, {{"keepdims", int64_t{0}}}), DType::F32, (Shape{}), {21});
  EXPECT_TENSOR(run1("reduce_sum", {x23(), I({0}, {})}, {{"noop_with_empty_axes", int64_t{1}}}), DType::F32,
                (Shape{2, 3}), {1, 2, 3, 4, 5, 6});
  fails("reduce_sum", {x23(), I({1}, {2})});                          // out of range
  fails("reduce_sum", {x23(), I({2}, {1, -1})});                      // repeated
  fails("reduce_sum", {x23(), F({1}, {1})});                          // not an integer tensor
  fails("reduce_sum", {x23(), I({1}, {1})}, {{"axes", std::vector<int64_t>{0}}});  // both
}

/// Runs `op` with x and the axes as graph inputs of static shape (the axes'
/// values unknown until it runs); the inferred output type goes to `type`.
Result<Tensor> runAxesInput(std::string_view op, const Tensor& x, const Tensor& ax, const AttrMap& attrs,
                            std::string& type) {
  GraphBuilder b("g");
  Value* xv = b.input("x", typeOf(x));
  Value* av = b.input("axes", typeOf(ax));
  Value* y = b.op(op, {xv, av}, attrs);
  type = y->type().toString();
  b.output(y);
  SY_ASSIGN_OR_RETURN(auto g, b.finish());
  SY_ASSIGN_OR_RETURN(auto interp, Interpreter::create(std::shared_ptr<const Graph>(std::move(g))));
  SY_ASSIGN_OR_RETURN(auto outs, interp->run(std::vector<Tensor>{x, ax}));
  return outs.at(0);
}

TEST(Reduce, AxesInputKnownOnlyAtRunTime) {
  std::string type;
  auto r = runAxesInput("reduce_sum", x23(), I({1}, {1}), {}, type);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(type, "f32[?, ?]");  // the rank is kept; which dims become 1 is not known
  EXPECT_TENSOR(*r, DType::F32, (Shape{2, 1}), {6, 15});
  r = runAxesInput("reduce_mean", x23(), I({1}, {0}), {{"keepdims", int64_t{0}}}, type);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(type, "f32[?]");  // one axis goes
  EXPECT_TENSOR(*r, DType::F32, (Shape{3}), {2.5, 3.5, 4.5});
  r = runAxesInput("reduce_sum", x23(), I({0}, {}), {{"noop_with_empty_axes", int64_t{1}}}, type);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(type, "f32[2, 3]");
  EXPECT_TENSOR(*r, DType::F32, (Shape{2, 3}), {1, 2, 3, 4, 5, 6});
  r = runAxesInput("reduce_prod", x23(), I({0}, {}), {{"keepdims", int64_t{0}}}, type);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(type, "f32[]");
  EXPECT_TENSOR(*r, DType::F32, (Shape{}), {720});
  // Bad values are caught when the op runs.
  r = runAxesInput("reduce_sum", x23(), I({1}, {5}), {}, type);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("axis"), std::string::npos) << r.status().message();
  r = runAxesInput("reduce_sum", x23(), I({2}, {0, -2}), {}, type);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("repeated"), std::string::npos) << r.status().message();
  // More axes than dims is a compile-time error.
  EXPECT_FALSE(runAxesInput("reduce_sum", x23(), I({3}, {0, 1, 0}), {{"keepdims", int64_t{0}}}, type).ok());
}

// ---------------------------------------------------------------------------
// argmax / argmin

TEST(ArgMax, Basic) {
  Tensor x = F({2, 3}, {1, 9, 3, 7, 5, 6});
  EXPECT_TENSOR(run1("argmax", {x}), DType::I64, (Shape{1, 3}), {1, 0, 1});
  EXPECT_TENSOR(run1("argmax", {x}, {{"axis", int64_t{1}}}), DType::I64, (Shape{2, 1}), {1, 0});
  EXPECT_TENSOR(run1("argmax", {x}, {{"axis", int64_t{-1}}, {"keepdims", int64_t{0}}}), DType::I64, (Shape{2}),
                {1, 0});
  EXPECT_TENSOR(run1("argmin", {x}, {{"axis", int64_t{1}}, {"keepdims", int64_t{0}}}), DType::I64, (Shape{2}),
                {0, 1});
  EXPECT_TENSOR(run1("argmin", {x}, {{"keepdims", int64_t{0}}}), DType::I64, (Shape{3}), {0, 1, 0});
}

TEST(ArgMax, Rank3MiddleAxis) {
  // x[i][j][k]; argmax over j.
  Tensor x = F({2, 3, 2}, {0, 5, 9, 1, 2, 1,  //
                           4, 4, 4, 8, 3, 8});
  EXPECT_TENSOR(run1("argmax", {x}, {{"axis", int64_t{1}}, {"keepdims", int64_t{0}}}), DType::I64, (Shape{2, 2}),
                {1, 0, 0, 1});
  EXPECT_TENSOR(run1("argmin", {x}, {{"axis", int64_t{1}}, {"keepdims", int64_t{0}}}), DType::I64, (Shape{2, 2}),
                {0, 1, 2, 0});
}

TEST(ArgMax, TiesAndSelectLastIndex) {
  Tensor x = I({5}, {2, 7, 1, 7, 1});
  EXPECT_TENSOR(run1("argmax", {x}, {{"keepdims", int64_t{0}}}), DType::I64, (Shape{}), {1});
  EXPECT_TENSOR(run1("argmax", {x}, {{"keepdims", int64_t{0}}, {"select_last_index", int64_t{1}}}), DType::I64,
                (Shape{}), {3});
  EXPECT_TENSOR(run1("argmin", {x}, {{"keepdims", int64_t{0}}}), DType::I64, (Shape{}), {2});
  EXPECT_TENSOR(run1("argmin", {x}, {{"keepdims", int64_t{0}}, {"select_last_index", int64_t{1}}}), DType::I64,
                (Shape{}), {4});
  // Large i64 values that collide as doubles are still told apart.
  const int64_t big = int64_t{1} << 60;
  EXPECT_TENSOR(run1("argmax", {I({2}, {big + 1, big})}, {{"keepdims", int64_t{0}}}), DType::I64, (Shape{}), {0});
}

TEST(ArgMax, NaNWins) {
  Tensor x = F({4}, {1, kNaN, 5, kNaN});
  EXPECT_TENSOR(run1("argmax", {x}, {{"keepdims", int64_t{0}}}), DType::I64, (Shape{}), {1});
  EXPECT_TENSOR(run1("argmin", {x}, {{"keepdims", int64_t{0}}}), DType::I64, (Shape{}), {1});
  EXPECT_TENSOR(run1("argmax", {x}, {{"keepdims", int64_t{0}}, {"select_last_index", int64_t{1}}}), DType::I64,
                (Shape{}), {3});
}

TEST(ArgMax, IntDtypesAndRank0) {
  EXPECT_TENSOR(run1("argmax", {T(DType::I8, {3}, {-5, -1, -3})}), DType::I64, (Shape{1}), {1});
  EXPECT_TENSOR(run1("argmax", {T(DType::F16, {2, 2}, {1, 2, 4, 3})}, {{"axis", int64_t{1}}}), DType::I64,
                (Shape{2, 1}), {1, 0});
  EXPECT_TENSOR(run1("argmax", {Tensor::scalarF32(3)}), DType::I64, (Shape{}), {0});
  EXPECT_TENSOR(run1("argmin", {Tensor::scalarI64(3)}, {{"axis", int64_t{-1}}}), DType::I64, (Shape{}), {0});
  // Empty outer dims are fine.
  EXPECT_TENSOR(run1("argmax", {F({0, 3}, {})}, {{"axis", int64_t{1}}}), DType::I64, (Shape{0, 1}), {});
}

TEST(ArgMax, Errors) {
  Status s = runError("argmax", {x23()}, {{"axis", int64_t{2}}});
  EXPECT_NE(s.message().find("out of range"), std::string::npos) << s.toString();
  EXPECT_NE(s.message().find("argmax"), std::string::npos) << s.toString();
  fails("argmin", {x23()}, {{"axis", int64_t{-3}}});
  s = runError("argmax", {F({0, 3}, {})});
  EXPECT_NE(s.message().find("empty"), std::string::npos) << s.toString();
  fails("argmax", {testing::B({2}, {0, 1})});
  fails("argmax", {x23()}, {{"select_last_index", int64_t{3}}});
  fails("argmax", {Tensor::scalarF32(1)}, {{"axis", int64_t{1}}});
}

TEST(ArgMax, Inference) {
  const Type t = f32({Dim::symbol("N"), 4, Dim::symbol("S")});
  EXPECT_EQ(inferStr("argmax", {{"axis", int64_t{1}}}, {t}), "i64[N, 1, S]");
  EXPECT_EQ(inferStr("argmin", {{"axis", int64_t{-1}}, {"keepdims", int64_t{0}}}, {t}), "i64[N, 4]");
  EXPECT_EQ(inferStr("argmax", {}, {Type::tensorUnranked(DType::F32)}), "i64[*]");
  EXPECT_EQ(inferStr("argmax", {}, {Type::scalar(DType::F32)}), "i64");
  EXPECT_EQ(inferStr("argmax", {{"axis", int64_t{3}}}, {t}).rfind("error", 0), 0u);
}

// ---------------------------------------------------------------------------
// softmax / log_softmax

TEST(Softmax, LastAxis) {
  Tensor x = F({2, 3}, {1, 2, 3, 0, 0, 0});
  const double s = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_TENSOR(run1("softmax", {x}), DType::F32, (Shape{2, 3}),
                {std::exp(1.0) / s, std::exp(2.0) / s, std::exp(3.0) / s, 1.0 / 3, 1.0 / 3, 1.0 / 3});
  EXPECT_TENSOR(run1("log_softmax", {x}), DType::F32, (Shape{2, 3}),
                {1 - std::log(s), 2 - std::log(s), 3 - std::log(s), -std::log(3.0), -std::log(3.0),
                 -std::log(3.0)});
}

TEST(Softmax, FirstAxis) {
  Tensor x = F({2, 2}, {0, 1, std::log(3.0), 1});
  EXPECT_TENSOR(run1("softmax", {x}, {{"axis", int64_t{0}}}), DType::F32, (Shape{2, 2}), {0.25, 0.5, 0.75, 0.5});
  EXPECT_TENSOR(run1("softmax", {x}, {{"axis", int64_t{-2}}}), DType::F32, (Shape{2, 2}), {0.25, 0.5, 0.75, 0.5});
  EXPECT_TENSOR(run1("log_softmax", {x}, {{"axis", int64_t{0}}}), DType::F32, (Shape{2, 2}),
                {std::log(0.25), std::log(0.5), std::log(0.75), std::log(0.5)});
}

TEST(Softmax, MiddleAxisRank3) {
  // [1, 2, 2]: softmax over axis 1 pairs x[0][0][k] with x[0][1][k].
  Tensor x = F({1, 2, 2}, {0, 5, 0, 5});
  EXPECT_TENSOR(run1("softmax", {x}, {{"axis", int64_t{1}}}), DType::F32, (Shape{1, 2, 2}), {0.5, 0.5, 0.5, 0.5});
  Tensor y = F({1, 2, 2}, {std::log(1.0), 0, std::log(4.0), 0});
  EXPECT_TENSOR(run1("softmax", {y}, {{"axis", int64_t{1}}}), DType::F32, (Shape{1, 2, 2}), {0.2, 0.5, 0.8, 0.5});
}

TEST(Softmax, LargeValuesDoNotOverflow) {
  Tensor x = F({2}, {1000, 1001});
  const double e = std::exp(1.0);
  EXPECT_TENSOR(run1("softmax", {x}), DType::F32, (Shape{2}), {1 / (1 + e), e / (1 + e)});
  EXPECT_TENSOR(run1("log_softmax", {x}), DType::F32, (Shape{2}), {-std::log(1 + e), 1 - std::log(1 + e)});
  Tensor neg = F({2}, {-1000, -1001});
  EXPECT_TENSOR(run1("softmax", {neg}), DType::F32, (Shape{2}), {e / (1 + e), 1 / (1 + e)});
}

TEST(Softmax, Rank0AndEmptyAndHalf) {
  EXPECT_TENSOR(run1("softmax", {Tensor::scalarF32(42)}), DType::F32, (Shape{}), {1});
  EXPECT_TENSOR(run1("log_softmax", {Tensor::scalarF32(42)}), DType::F32, (Shape{}), {0});
  EXPECT_TENSOR(run1("softmax", {F({2, 0}, {})}), DType::F32, (Shape{2, 0}), {});
  EXPECT_TENSOR(run1("softmax", {T(DType::F16, {2}, {0, 0})}), DType::F16, (Shape{2}), {0.5, 0.5});
}

TEST(Softmax, Errors) {
  Status s = runError("softmax", {x23()}, {{"axis", int64_t{2}}});
  EXPECT_NE(s.message().find("softmax"), std::string::npos) << s.toString();
  fails("log_softmax", {x23()}, {{"axis", int64_t{-3}}});
  s = runError("softmax", {I({2}, {1, 2})});
  EXPECT_NE(s.message().find("dtype"), std::string::npos) << s.toString();
}

TEST(Softmax, Inference) {
  const Type t = f32({Dim::symbol("B"), Dim::unknown()});
  EXPECT_EQ(inferStr("softmax", {}, {t}), "f32[B, ?]");
  EXPECT_EQ(inferStr("log_softmax", {{"axis", int64_t{0}}}, {t}), "f32[B, ?]");
  EXPECT_EQ(inferStr("softmax", {{"axis", int64_t{5}}}, {Type::tensorUnranked(DType::F16)}), "f16[*]");
  EXPECT_EQ(inferStr("softmax", {{"axis", int64_t{2}}}, {t}).rfind("error", 0), 0u);
}

TEST(Reduction, SchemasAreDocumented) {
  for (const char* op : {"reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "argmax", "argmin",
                         "softmax", "log_softmax"}) {
    const OpSchema* s = OpRegistry::global().find(op);
    ASSERT_NE(s, nullptr) << op;
    EXPECT_FALSE(s->doc.empty()) << op;
    EXPECT_FALSE(s->dtypes.empty()) << op;
    for (const AttrSpec& a : s->attrs) EXPECT_FALSE(a.doc.empty()) << op << "." << a.name;
  }
}

}  // namespace
}  // namespace sy
