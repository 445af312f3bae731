// Tests of the shape / data-movement ops (core/src/ops/shape.cpp).
// Expected values are hand-computed.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "switchyard/op_registry.h"
#include "test_util.h"

namespace sy {
namespace {

using testing::B;
using testing::F;
using testing::I;
using testing::run;
using testing::run1;
using testing::runError;
using testing::runWithUnknownDims;
using testing::T;

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

Attribute Ai(int64_t v) { return Attribute(v); }
Attribute Ais(std::vector<int64_t> v) { return Attribute(std::move(v)); }
Attribute As(const char* s) { return Attribute(std::string(s)); }

Dim N() { return Dim::symbol("N"); }

/// Shape inference of one op; returns the output types as strings, or the error.
std::vector<std::string> inferStrings(std::string_view op, const AttrMap& attrs, const std::vector<Type>& types,
                                      const std::vector<const Tensor*>& consts, size_t numOutputs = 1) {
  const OpSchema* schema = OpRegistry::global().find(op);
  EXPECT_NE(schema, nullptr) << op;
  if (!schema) return {};
  auto r = inferOp(*schema, attrs, types, consts, numOutputs);
  if (!r.ok()) return {"error: " + r.status().toString()};
  std::vector<std::string> out;
  for (const Type& t : *r) out.push_back(t.toString());
  return out;
}

bool contains(const Status& s, const std::string& text) { return s.message().find(text) != std::string::npos; }

// ---------------------------------------------------------------------------

TEST(ShapeOps, AllRegisteredWithDocs) {
  for (const char* name : {"reshape", "transpose", "concat", "split", "slice", "gather", "squeeze", "unsqueeze",
                           "expand", "flatten", "pad", "tile", "shape", "range", "constant", "constant_of_shape",
                           "identity", "resize"}) {
    const OpSchema* s = OpRegistry::global().find(name);
    ASSERT_NE(s, nullptr) << name;
    EXPECT_EQ(s->category, "shape") << name;
    EXPECT_FALSE(s->doc.empty()) << name;
    EXPECT_TRUE(s->infer && hasKernel(*s)) << name;
    EXPECT_FALSE(s->dtypes.empty()) << name;
  }
}

// --- reshape ----------------------------------------------------------------

TEST(Reshape, ZeroCopiesAndMinusOneInfers) {
  Tensor x = F({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor y = run1("reshape", {x, I({3}, {0, -1, 1})});
  EXPECT_TENSOR(y, DType::F32, Shape({2, 3, 1}), {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(y.data(), x.data());  // shares storage
  EXPECT_TENSOR(run1("reshape", {x, I({1}, {-1})}), DType::F32, Shape({6}), {1, 2, 3, 4, 5, 6});
  EXPECT_TENSOR(run1("reshape", {x, I({2}, {-1, 2})}), DType::F32, Shape({3, 2}), {1, 2, 3, 4, 5, 6});
}

TEST(Reshape, I64AndEmptyAndAllowZero) {
  EXPECT_TENSOR(run1("reshape", {I({4}, {7, 8, 9, 10}), I({2}, {2, 2})}), DType::I64, Shape({2, 2}), {7, 8, 9, 10});
  Tensor empty = F({0, 3}, {});
  EXPECT_TENSOR(run1("reshape", {empty, I({2}, {-1, 3})}), DType::F32, Shape({0, 3}), {});
  EXPECT_TENSOR(run1("reshape", {empty, I({2}, {3, 0})}, {{"allowzero", Ai(1)}}), DType::F32, Shape({3, 0}), {});
  // Without allowzero the 0 copies dim 1 (= 3): [3, 3] has 9 elements, not 0.
  EXPECT_FALSE(runError("reshape", {empty, I({2}, {3, 0})}).ok());
  EXPECT_TENSOR(run1("reshape", {empty, I({2}, {0, 0})}), DType::F32, Shape({0, 3}), {});
  // Scalar <-> [1].
  EXPECT_TENSOR(run1("reshape", {F({1}, {5}), I({0}, {})}), DType::F32, Shape({}), {5});
}

TEST(Reshape, Errors) {
  Tensor x = F({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_TRUE(contains(runError("reshape", {x, I({2}, {-1, -1})}), "more than one -1"));
  EXPECT_TRUE(contains(runError("reshape", {x, I({2}, {4, 2})}), "reshape"));
  EXPECT_TRUE(contains(runError("reshape", {x, I({2}, {4, -1})}), "cannot be inferred"));
  EXPECT_FALSE(runError("reshape", {x, I({3}, {1, 1, 0})}).ok());  // 0 past the input rank
  EXPECT_FALSE(runError("reshape", {x, I({2}, {-2, -3})}).ok());
  EXPECT_FALSE(runError("reshape", {x, I({2}, {0, -1})}, {{"allowzero", Ai(1)}}).ok());
  EXPECT_FALSE(runError("reshape", {x, F({1}, {6})}).ok());          // f32 shape
  EXPECT_FALSE(runError("reshape", {x, I({2}, {kMax, 2})}).ok());    // overflow, no crash
}

TEST(Reshape, Inference) {
  const Type x = Type::tensor(DType::F32, {N(), 3, 4});
  const Type shape3 = Type::tensor(DType::I64, {3});
  EXPECT_EQ(inferStrings("reshape", {}, {x, shape3}, {nullptr, nullptr}),
            std::vector<std::string>{"f32[?, ?, ?]"});
  EXPECT_EQ(inferStrings("reshape", {}, {x, Type::tensor(DType::I64, {Dim()})}, {nullptr, nullptr}),
            std::vector<std::string>{"f32[*]"});
  Tensor s = I({2}, {0, -1});
  EXPECT_EQ(inferStrings("reshape", {}, {x, typeOf(s)}, {nullptr, &s}), std::vector<std::string>{"f32[N, 12]"});
  Tensor s2 = I({2}, {-1, 4});
  EXPECT_EQ(inferStrings("reshape", {}, {x, typeOf(s2)}, {nullptr, &s2}), std::vector<std::string>{"f32[?, 4]"});
}

// Kernels run by an interpreter after compile-time inference on symbolic types
// must not trust that inference: they see the run-time shapes first.
TEST(ShapeOps, KernelsValidateWithoutInference) {
  EXPECT_FALSE(runWithUnknownDims("concat", {F({1, 2}, {1, 2}), F({1, 3}, {1, 2, 3})}, {{"axis", Ai(0)}}).ok());
  EXPECT_FALSE(runWithUnknownDims("concat", {F({2}, {1, 2}), I({2}, {1, 2})}, {{"axis", Ai(0)}}).ok());
  EXPECT_FALSE(runWithUnknownDims("concat", {F({}, {1})}, {{"axis", Ai(0)}}).ok());
  EXPECT_FALSE(runWithUnknownDims("split", {F({2}, {1, 2})}, {{"axis", Ai(3)}}, 2).ok());
  EXPECT_FALSE(runWithUnknownDims("gather", {F({}, {1}), I({}, {0})}, {{"axis", Ai(0)}}).ok());
  EXPECT_FALSE(runWithUnknownDims("gather", {F({2}, {1, 2}), I({1}, {2})}, {{"axis", Ai(0)}}).ok());
  EXPECT_FALSE(
      runWithUnknownDims("pad", {F({2}, {1, 2}), I({2}, {1, 1}), B({}, {1})}, {{"mode", As("constant")}}).ok());
  EXPECT_FALSE(runWithUnknownDims("range", {I({0}, {}), I({}, {3}), I({}, {1})}, {}).ok());
  EXPECT_FALSE(runWithUnknownDims("reshape", {F({2}, {1, 2}), I({1}, {3})}, {{"allowzero", Ai(0)}}).ok());
}

// --- transpose ----------------------------------------------------------------

TEST(Transpose, DefaultReverses) {
  EXPECT_TENSOR(run1("transpose", {F({2, 3}, {1, 2, 3, 4, 5, 6})}), DType::F32, Shape({3, 2}), {1, 4, 2, 5, 3, 6});
}

TEST(Transpose, ExplicitPerm) {
  std::vector<double> v;
  for (int i = 0; i < 12; ++i) v.push_back(i);
  Tensor x = F({2, 2, 3}, v);
  // out[k][i][j] = x[i][j][k]
  EXPECT_TENSOR(run1("transpose", {x}, {{"perm", Ais({2, 0, 1})}}), DType::F32, Shape({3, 2, 2}),
                {0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11});
  EXPECT_TENSOR(run1("transpose", {x}, {{"perm", Ais({0, 1, 2})}}), DType::F32, Shape({2, 2, 3}), v);
}

TEST(Transpose, BoolEmptyAndErrors) {
  EXPECT_TENSOR(run1("transpose", {B({2, 2}, {1, 0, 0, 1})}, {{"perm", Ais({1, 0})}}), DType::Bool, Shape({2, 2}),
                {1, 0, 0, 1});
  EXPECT_TENSOR(run1("transpose", {B({1, 2}, {1, 0})}), DType::Bool, Shape({2, 1}), {1, 0});
  EXPECT_TENSOR(run1("transpose", {F({0, 3}, {})}), DType::F32, Shape({3, 0}), {});
  EXPECT_TENSOR(run1("transpose", {F({}, {4})}), DType::F32, Shape({}), {4});
  EXPECT_TRUE(contains(runError("transpose", {F({2, 3}, {1, 2, 3, 4, 5, 6})}, {{"perm", Ais({0, 0})}}), "transpose"));
  EXPECT_FALSE(runError("transpose", {F({2, 3}, {1, 2, 3, 4, 5, 6})}, {{"perm", Ais({0})}}).ok());
  EXPECT_FALSE(runError("transpose", {F({2, 3}, {1, 2, 3, 4, 5, 6})}, {{"perm", Ais({0, 2})}}).ok());
}

TEST(Transpose, Inference) {
  const Type x = Type::tensor(DType::F32, {N(), 3});
  EXPECT_EQ(inferStrings("transpose", {}, {x}, {nullptr}), std::vector<std::string>{"f32[3, N]"});
  EXPECT_EQ(inferStrings("transpose", {}, {Type::tensorUnranked(DType::F16)}, {nullptr}),
            std::vector<std::string>{"f16[*]"});
  EXPECT_EQ(inferStrings("transpose", {{"perm", Ais({1, 0, 2})}}, {Type::tensorUnranked(DType::F16)}, {nullptr}),
            std::vector<std::string>{"f16[?, ?, ?]"});
}

// --- concat -------------------------------------------------------------------

TEST(Concat, Axes) {
  EXPECT_TENSOR(run1("concat", {F({1, 2}, {1, 2}), F({2, 2}, {3, 4, 5, 6})}, {{"axis", Ai(0)}}), DType::F32,
                Shape({3, 2}), {1, 2, 3, 4, 5, 6});
  EXPECT_TENSOR(run1("concat", {F({2, 1}, {1, 2}), F({2, 2}, {3, 4, 5, 6})}, {{"axis", Ai(-1)}}), DType::F32,
                Shape({2, 3}), {1, 3, 4, 2, 5, 6});
  EXPECT_TENSOR(run1("concat", {I({2}, {1, 2}), I({1}, {3}), I({2}, {4, 5})}, {{"axis", Ai(0)}}), DType::I64,
                Shape({5}), {1, 2, 3, 4, 5});
  EXPECT_TENSOR(run1("concat", {I({2}, {1, 2})}, {{"axis", Ai(0)}}), DType::I64, Shape({2}), {1, 2});
}

TEST(Concat, EmptyInputs) {
  EXPECT_TENSOR(run1("concat", {F({2, 0}, {}), F({2, 1}, {7, 8})}, {{"axis", Ai(1)}}), DType::F32, Shape({2, 1}),
                {7, 8});
  EXPECT_TENSOR(run1("concat", {F({0, 2}, {}), F({0, 2}, {})}, {{"axis", Ai(0)}}), DType::F32, Shape({0, 2}), {});
  EXPECT_TENSOR(run1("concat", {F({0, 2}, {}), F({0, 3}, {})}, {{"axis", Ai(1)}}), DType::F32, Shape({0, 5}), {});
}

TEST(Concat, Errors) {
  EXPECT_TRUE(contains(runError("concat", {F({2, 2}, {1, 2, 3, 4}), F({2, 3}, {1, 2, 3, 4, 5, 6})}, {{"axis", Ai(0)}}),
                       "concat"));
  EXPECT_FALSE(runError("concat", {F({2}, {1, 2}), I({2}, {1, 2})}, {{"axis", Ai(0)}}).ok());
  EXPECT_FALSE(runError("concat", {F({2}, {1, 2}), F({1, 2}, {1, 2})}, {{"axis", Ai(0)}}).ok());
  EXPECT_FALSE(runError("concat", {F({2}, {1, 2})}, {{"axis", Ai(1)}}).ok());
  EXPECT_FALSE(runError("concat", {F({}, {1}), F({}, {2})}, {{"axis", Ai(0)}}).ok());
  EXPECT_FALSE(runError("concat", {F({2}, {1, 2})}).ok());  // axis is required
}

TEST(Concat, Inference) {
  const Type a = Type::tensor(DType::F32, {N(), 2});
  const Type b = Type::tensor(DType::F32, {N(), 3});
  EXPECT_EQ(inferStrings("concat", {{"axis", Ai(1)}}, {a, b}, {nullptr, nullptr}),
            std::vector<std::string>{"f32[N, 5]"});
  EXPECT_EQ(inferStrings("concat", {{"axis", Ai(0)}}, {a, a}, {nullptr, nullptr}),
            std::vector<std::string>{"f32[?, 2]"});
  EXPECT_EQ(inferStrings("concat", {{"axis", Ai(0)}}, {a, Type::tensor(DType::F32, {4, 2})}, {nullptr, nullptr}),
            std::vector<std::string>{"f32[?, 2]"});
}

// --- split --------------------------------------------------------------------

TEST(Split, EqualChunks) {
  auto outs = run("split", {F({6}, {1, 2, 3, 4, 5, 6})}, {}, 3);
  ASSERT_EQ(outs.size(), 3u);
  EXPECT_TENSOR(outs[0], DType::F32, Shape({2}), {1, 2});
  EXPECT_TENSOR(outs[1], DType::F32, Shape({2}), {3, 4});
  EXPECT_TENSOR(outs[2], DType::F32, Shape({2}), {5, 6});
}

TEST(Split, UnevenChunksLastSmaller) {
  auto outs = run("split", {I({5}, {1, 2, 3, 4, 5})}, {}, 3);  // ceil(5 / 3) = 2
  ASSERT_EQ(outs.size(), 3u);
  EXPECT_TENSOR(outs[0], DType::I64, Shape({2}), {1, 2});
  EXPECT_TENSOR(outs[1], DType::I64, Shape({2}), {3, 4});
  EXPECT_TENSOR(outs[2], DType::I64, Shape({1}), {5});
  EXPECT_FALSE(runError("split", {I({5}, {1, 2, 3, 4, 5})}, {}, 4).ok());  // 2 + 2 + 2 > 5
}

TEST(Split, ExplicitSizesOnAxis1) {
  auto outs = run("split", {T(DType::F16, {2, 3}, {1, 2, 3, 4, 5, 6}), I({2}, {2, 1})}, {{"axis", Ai(1)}}, 2);
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TENSOR(outs[0], DType::F16, Shape({2, 2}), {1, 2, 4, 5});
  EXPECT_TENSOR(outs[1], DType::F16, Shape({2, 1}), {3, 6});
  auto withEmpty = run("split", {F({3}, {1, 2, 3}), I({3}, {0, 3, 0})}, {}, 3);
  ASSERT_EQ(withEmpty.size(), 3u);
  EXPECT_TENSOR(withEmpty[0], DType::F32, Shape({0}), {});
  EXPECT_TENSOR(withEmpty[1], DType::F32, Shape({3}), {1, 2, 3});
  EXPECT_TENSOR(withEmpty[2], DType::F32, Shape({0}), {});
}

TEST(Split, Errors) {
  EXPECT_TRUE(contains(runError("split", {F({3}, {1, 2, 3}), I({2}, {1, 1})}, {}, 2), "sums to 2"));
  EXPECT_FALSE(runError("split", {F({3}, {1, 2, 3}), I({2}, {1, 2})}, {}, 3).ok());
  EXPECT_FALSE(runError("split", {F({3}, {1, 2, 3}), I({2}, {-1, 4})}, {}, 2).ok());
  EXPECT_FALSE(runError("split", {F({3}, {1, 2, 3})}, {{"axis", Ai(1)}}, 1).ok());
}

TEST(Split, Inference) {
  const Type x = Type::tensor(DType::F32, {N(), 6});
  EXPECT_EQ(inferStrings("split", {{"axis", Ai(1)}}, {x}, {nullptr}, 2),
            (std::vector<std::string>{"f32[N, 3]", "f32[N, 3]"}));
  EXPECT_EQ(inferStrings("split", {}, {x}, {nullptr}, 2), (std::vector<std::string>{"f32[?, 6]", "f32[?, 6]"}));
}

// --- slice --------------------------------------------------------------------

Tensor iota10() { return I({10}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}); }

TEST(Slice, StepsAndClamping) {
  EXPECT_TENSOR(run1("slice", {iota10(), I({1}, {1}), I({1}, {8}), I({1}, {0}), I({1}, {3})}), DType::I64,
                Shape({3}), {1, 4, 7});
  EXPECT_TENSOR(run1("slice", {iota10(), I({1}, {-100}), I({1}, {kMax})}), DType::I64, Shape({10}),
                {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  EXPECT_TENSOR(run1("slice", {iota10(), I({1}, {-3}), I({1}, {100})}), DType::I64, Shape({3}), {7, 8, 9});
  EXPECT_TENSOR(run1("slice", {iota10(), I({1}, {5}), I({1}, {2})}), DType::I64, Shape({0}), {});
}

TEST(Slice, NegativeSteps) {
  EXPECT_TENSOR(run1("slice", {iota10(), I({1}, {-1}), I({1}, {kMin}), I({1}, {0}), I({1}, {-1})}), DType::I64,
                Shape({10}), {9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
  EXPECT_TENSOR(run1("slice", {iota10(), I({1}, {8}), I({1}, {1}), I({1}, {0}), I({1}, {-3})}), DType::I64,
                Shape({3}), {8, 5, 2});
  EXPECT_TENSOR(run1("slice", {iota10(), I({1}, {100}), I({1}, {-100}), I({1}, {0}), I({1}, {-4})}), DType::I64,
                Shape({3}), {9, 5, 1});
  EXPECT_TENSOR(run1("slice", {iota10(), I({1}, {2}), I({1}, {5}), I({1}, {0}), I({1}, {-1})}), DType::I64,
                Shape({0}), {});
  EXPECT_TENSOR(run1("slice", {iota10(), I({1}, {9}), I({1}, {0}), I({1}, {0}), I({1}, {kMin})}), DType::I64,
                Shape({1}), {9});
  // A huge step on an outer axis: one element, and no overflow of step * stride (UBSan checks).
  Tensor m = I({2, 5}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  EXPECT_TENSOR(run1("slice", {m, I({1}, {0}), I({1}, {kMax}), I({1}, {0}), I({1}, {kMax})}), DType::I64,
                Shape({1, 5}), {0, 1, 2, 3, 4});
  EXPECT_TENSOR(run1("slice", {m, I({1}, {-1}), I({1}, {kMin}), I({1}, {0}), I({1}, {kMin})}), DType::I64,
                Shape({1, 5}), {5, 6, 7, 8, 9});
}

TEST(Slice, OmittedAndNegativeAxes) {
  std::vector<double> v;
  for (int i = 0; i < 12; ++i) v.push_back(i);
  Tensor x = F({3, 4}, v);
  EXPECT_TENSOR(run1("slice", {x, I({2}, {1, 1}), I({2}, {3, 3})}), DType::F32, Shape({2, 2}), {5, 6, 9, 10});
  EXPECT_TENSOR(run1("slice", {x, I({1}, {2}), I({1}, {4}), I({1}, {-1})}), DType::F32, Shape({3, 2}),
                {2, 3, 6, 7, 10, 11});
  // i32 index tensors, reversed rows.
  Tensor s32 = T(DType::I32, {1}, {-1}), e32 = T(DType::I32, {1}, {-4}), a32 = T(DType::I32, {1}, {0}),
         st32 = T(DType::I32, {1}, {-1});
  EXPECT_TENSOR(run1("slice", {x, s32, e32, a32, st32}), DType::F32, Shape({3, 4}),
                {8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3});
}

TEST(Slice, BoolEmptyAndErrors) {
  EXPECT_TENSOR(run1("slice", {B({4}, {1, 0, 1, 1}), I({1}, {1}), I({1}, {3})}), DType::Bool, Shape({2}), {0, 1});
  EXPECT_TENSOR(run1("slice", {F({0, 2}, {}), I({1}, {0}), I({1}, {5}), I({1}, {1})}), DType::F32, Shape({0, 2}), {});
  EXPECT_TENSOR(run1("slice", {F({0}, {}), I({1}, {-1}), I({1}, {kMin}), I({1}, {0}), I({1}, {-1})}), DType::F32,
                Shape({0}), {});
  EXPECT_TRUE(contains(runError("slice", {iota10(), I({1}, {0}), I({1}, {5}), I({1}, {0}), I({1}, {0})}), "0"));
  EXPECT_FALSE(runError("slice", {iota10(), I({1}, {0}), I({2}, {5, 6})}).ok());
  EXPECT_FALSE(runError("slice", {iota10(), I({1}, {0}), I({1}, {5}), I({1}, {1})}).ok());  // axis out of range
  EXPECT_FALSE(runError("slice", {iota10(), I({2}, {0, 0}), I({2}, {5, 5}), I({2}, {0, -1})}).ok());  // repeated
}

TEST(Slice, Inference) {
  const Type x = Type::tensor(DType::F32, {N(), 8});
  const Type idx1 = Type::tensor(DType::I64, {1});
  Tensor axes1 = I({1}, {1});
  EXPECT_EQ(inferStrings("slice", {}, {x, idx1, idx1, typeOf(axes1)}, {nullptr, nullptr, nullptr, &axes1}),
            std::vector<std::string>{"f32[N, ?]"});
  Tensor s = I({1}, {2}), e = I({1}, {kMax});
  EXPECT_EQ(inferStrings("slice", {}, {x, idx1, idx1, typeOf(axes1)}, {nullptr, &s, &e, &axes1}),
            std::vector<std::string>{"f32[N, 6]"});
  Tensor s0 = I({1}, {0});
  EXPECT_EQ(inferStrings("slice", {}, {x, idx1, idx1}, {nullptr, &s0, &e}), std::vector<std::string>{"f32[N, 8]"});
  EXPECT_EQ(inferStrings("slice", {}, {x, idx1, idx1}, {nullptr, nullptr, nullptr}),
            std::vector<std::string>{"f32[?, 8]"});
}

// --- gather -------------------------------------------------------------------

TEST(Gather, Basic) {
  Tensor x = F({3, 2}, {1, 2, 3, 4, 5, 6});
  EXPECT_TENSOR(run1("gather", {x, I({2, 2}, {0, 1, 1, 2})}), DType::F32, Shape({2, 2, 2}), {1, 2, 3, 4, 3, 4, 5, 6});
  EXPECT_TENSOR(run1("gather", {x, T(DType::I32, {2}, {1, 0})}, {{"axis", Ai(1)}}), DType::F32, Shape({3, 2}),
                {2, 1, 4, 3, 6, 5});
  EXPECT_TENSOR(run1("gather", {x, I({2}, {1, 0})}, {{"axis", Ai(-1)}}), DType::F32, Shape({3, 2}),
                {2, 1, 4, 3, 6, 5});
}

TEST(Gather, NegativeAndRank0Indices) {
  Tensor x = F({3, 2}, {1, 2, 3, 4, 5, 6});
  EXPECT_TENSOR(run1("gather", {x, I({1}, {-1})}), DType::F32, Shape({1, 2}), {5, 6});
  EXPECT_TENSOR(run1("gather", {x, I({}, {1})}), DType::F32, Shape({2}), {3, 4});
  EXPECT_TENSOR(run1("gather", {x, I({}, {-2})}, {{"axis", Ai(1)}}), DType::F32, Shape({3}), {1, 3, 5});
  EXPECT_TENSOR(run1("gather", {B({3}, {1, 0, 1}), I({3}, {2, 1, -2})}), DType::Bool, Shape({3}), {1, 0, 0});
  EXPECT_TENSOR(run1("gather", {x, I({0}, {})}), DType::F32, Shape({0, 2}), {});
}

TEST(Gather, OutOfRangeIsAnError) {
  Tensor x = F({3, 2}, {1, 2, 3, 4, 5, 6});
  Status s = runError("gather", {x, I({2}, {0, 3})});
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_TRUE(contains(s, "index 3")) << s.toString();
  EXPECT_TRUE(contains(s, "size 3")) << s.toString();
  EXPECT_TRUE(contains(runError("gather", {x, I({1}, {-4})}), "index -4"));
  EXPECT_TRUE(contains(runError("gather", {x, T(DType::I32, {1}, {2})}, {{"axis", Ai(1)}}), "size 2"));
  EXPECT_FALSE(runError("gather", {F({0}, {}), I({1}, {0})}).ok());
  EXPECT_FALSE(runError("gather", {x, F({1}, {0})}).ok());  // float indices
  EXPECT_FALSE(runError("gather", {F({}, {1}), I({}, {0})}).ok());
}

// --- gather_elements / scatter_elements / gather_nd / scatter_nd ---------------

TEST(CumSum, AxesExclusiveReverse) {
  Tensor x = F({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_TENSOR(run1("cumsum", {x, I({}, {1})}), DType::F32, Shape({2, 3}), {1, 3, 6, 4, 9, 15});
  EXPECT_TENSOR(run1("cumsum", {x, T(DType::I32, {1}, {0})}), DType::F32, Shape({2, 3}), {1, 2, 3, 5, 7, 9});
  EXPECT_TENSOR(run1("cumsum", {x, I({}, {-1})}, {{"exclusive", Ai(1)}}), DType::F32, Shape({2, 3}),
                {0, 1, 3, 0, 4, 9});
  EXPECT_TENSOR(run1("cumsum", {x, I({}, {1})}, {{"reverse", Ai(1)}}), DType::F32, Shape({2, 3}),
                {6, 5, 3, 15, 11, 6});
  EXPECT_TENSOR(run1("cumsum", {I({4}, {1, 2, 3, 4}), I({}, {0})}, {{"reverse", Ai(1)}, {"exclusive", Ai(1)}}),
                DType::I64, Shape({4}), {9, 7, 4, 0});
  EXPECT_TENSOR(run1("cumsum", {F({0, 3}, {}), I({}, {1})}), DType::F32, Shape({0, 3}), {});
}

TEST(CumSum, Errors) {
  Tensor x = F({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_FALSE(runError("cumsum", {x, I({}, {2})}).ok());          // axis out of range
  EXPECT_FALSE(runError("cumsum", {x, I({2}, {0, 1})}).ok());      // two axes
  EXPECT_FALSE(runError("cumsum", {x, F({}, {0})}).ok());          // float axis
  EXPECT_FALSE(runError("cumsum", {F({}, {1}), I({}, {0})}).ok());  // scalar x
  EXPECT_FALSE(runWithUnknownDims("cumsum", {x, I({}, {-3})}).ok());
}

TEST(GatherElements, AxesAndNegativeIndices) {
  Tensor x = F({3, 2}, {1, 2, 3, 4, 5, 6});
  EXPECT_TENSOR(run1("gather_elements", {x, I({2, 2}, {0, 2, -1, 1})}), DType::F32, Shape({2, 2}), {1, 6, 5, 4});
  EXPECT_TENSOR(run1("gather_elements", {x, T(DType::I32, {3, 1}, {1, -2, 1})}, {{"axis", Ai(1)}}), DType::F32,
                Shape({3, 1}), {2, 3, 6});
  EXPECT_TENSOR(run1("gather_elements", {B({2, 2}, {1, 0, 0, 1}), I({1, 2}, {1, 0})}), DType::Bool, Shape({1, 2}),
                {0, 0});
  EXPECT_TENSOR(run1("gather_elements", {x, I({0, 2}, {})}), DType::F32, Shape({0, 2}), {});
}

TEST(GatherElements, Errors) {
  Tensor x = F({3, 2}, {1, 2, 3, 4, 5, 6});
  Status s = runError("gather_elements", {x, I({1, 2}, {0, 3})});
  EXPECT_TRUE(contains(s, "index 3")) << s.toString();
  EXPECT_TRUE(contains(s, "gather_elements")) << s.toString();
  EXPECT_TRUE(contains(runError("gather_elements", {x, I({1, 1}, {-4})}), "index -4"));
  EXPECT_FALSE(runError("gather_elements", {x, I({2}, {0, 1})}).ok());         // rank differs
  EXPECT_FALSE(runError("gather_elements", {x, I({1, 3}, {0, 1, 0})}).ok());   // dim 1 larger than data's
  EXPECT_FALSE(runError("gather_elements", {x, F({1, 1}, {0})}).ok());         // float indices
  EXPECT_FALSE(runWithUnknownDims("gather_elements", {x, I({1, 3}, {0, 1, 0})}).ok());
}

TEST(ScatterElements, ReductionsInIndexOrder) {
  Tensor x = F({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_TENSOR(run1("scatter_elements", {x, I({1, 2}, {1, -2}), F({1, 2}, {10, 20})}), DType::F32, Shape({2, 3}),
                {1, 20, 3, 10, 5, 6});
  // Repeated indices: none keeps the last, add/mul combine every one.
  Tensor idx = I({1, 3}, {0, 0, 2});
  Tensor upd = F({1, 3}, {10, 20, 30});
  EXPECT_TENSOR(run1("scatter_elements", {x, idx, upd}, {{"axis", Ai(1)}}), DType::F32, Shape({2, 3}),
                {20, 2, 30, 4, 5, 6});
  EXPECT_TENSOR(run1("scatter_elements", {x, idx, upd}, {{"axis", Ai(1)}, {"reduction", As("add")}}), DType::F32,
                Shape({2, 3}), {31, 2, 33, 4, 5, 6});
  EXPECT_TENSOR(run1("scatter_elements", {x, idx, upd}, {{"axis", Ai(1)}, {"reduction", As("mul")}}), DType::F32,
                Shape({2, 3}), {200, 2, 90, 4, 5, 6});
  EXPECT_TENSOR(run1("scatter_elements", {I({3}, {5, 5, 5}), I({2}, {1, 2}), I({2}, {9, 1})},
                     {{"reduction", As("max")}}),
                DType::I64, Shape({3}), {5, 9, 5});
  EXPECT_TENSOR(run1("scatter_elements", {I({3}, {5, 5, 5}), I({2}, {1, 2}), I({2}, {9, 1})},
                     {{"reduction", As("min")}}),
                DType::I64, Shape({3}), {5, 5, 1});
}

TEST(ScatterElements, Errors) {
  Tensor x = F({2, 3}, {1, 2, 3, 4, 5, 6});
  Status s = runError("scatter_elements", {x, I({1, 1}, {2}), F({1, 1}, {0})});
  EXPECT_TRUE(contains(s, "index 2")) << s.toString();
  EXPECT_TRUE(contains(s, "size 2")) << s.toString();
  EXPECT_FALSE(runError("scatter_elements", {x, I({1, 1}, {0}), F({1, 2}, {0, 0})}).ok());  // updates shape
  EXPECT_FALSE(runError("scatter_elements", {x, I({1, 1}, {0}), I({1, 1}, {0})}).ok());     // updates dtype
  EXPECT_FALSE(runError("scatter_elements", {x, I({1, 1}, {0}), F({1, 1}, {0})}, {{"reduction", As("sum")}}).ok());
  EXPECT_FALSE(runWithUnknownDims("scatter_elements", {x, I({1, 1}, {0}), F({1, 2}, {0, 0})}).ok());
}

TEST(GatherND, TuplesSlicesAndBatchDims) {
  Tensor x = F({2, 2}, {0, 1, 2, 3});
  EXPECT_TENSOR(run1("gather_nd", {x, I({2, 2}, {0, 0, -1, 1})}), DType::F32, Shape({2}), {0, 3});
  EXPECT_TENSOR(run1("gather_nd", {x, T(DType::I32, {2, 1}, {1, 0})}), DType::F32, Shape({2, 2}), {2, 3, 0, 1});
  Tensor y = F({2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  EXPECT_TENSOR(run1("gather_nd", {y, I({2, 1}, {1, 0})}, {{"batch_dims", Ai(1)}}), DType::F32, Shape({2, 2}),
                {2, 3, 4, 5});
  EXPECT_TENSOR(run1("gather_nd", {x, I({0, 2}, {})}), DType::F32, Shape({0}), {});
}

TEST(GatherND, Errors) {
  Tensor x = F({2, 2}, {0, 1, 2, 3});
  Status s = runError("gather_nd", {x, I({1, 2}, {0, 2})});
  EXPECT_TRUE(contains(s, "index 2")) << s.toString();
  EXPECT_TRUE(contains(s, "axis 1")) << s.toString();
  EXPECT_FALSE(runError("gather_nd", {x, I({1, 3}, {0, 0, 0})}).ok());                      // tuple too long
  EXPECT_FALSE(runError("gather_nd", {x, I({2, 1}, {0, 0})}, {{"batch_dims", Ai(2)}}).ok());  // batch_dims
  EXPECT_FALSE(runWithUnknownDims("gather_nd", {x, I({1, 3}, {0, 0, 0})}).ok());
}

TEST(ScatterND, SlicesAndReductions) {
  Tensor x = F({3, 2}, {1, 2, 3, 4, 5, 6});
  EXPECT_TENSOR(run1("scatter_nd", {x, I({1, 1}, {-1}), F({1, 2}, {10, 20})}), DType::F32, Shape({3, 2}),
                {1, 2, 3, 4, 10, 20});
  Tensor idx = I({2, 2}, {0, 1, 0, 1});
  Tensor upd = F({2}, {10, 20});
  EXPECT_TENSOR(run1("scatter_nd", {x, idx, upd}), DType::F32, Shape({3, 2}), {1, 20, 3, 4, 5, 6});
  EXPECT_TENSOR(run1("scatter_nd", {x, idx, upd}, {{"reduction", As("add")}}), DType::F32, Shape({3, 2}),
                {1, 32, 3, 4, 5, 6});
  EXPECT_TENSOR(run1("scatter_nd", {x, idx, upd}, {{"reduction", As("mul")}}), DType::F32, Shape({3, 2}),
                {1, 400, 3, 4, 5, 6});
}

TEST(ScatterND, Errors) {
  Tensor x = F({3, 2}, {1, 2, 3, 4, 5, 6});
  Status s = runError("scatter_nd", {x, I({1, 1}, {3}), F({1, 2}, {0, 0})});
  EXPECT_TRUE(contains(s, "index 3")) << s.toString();
  EXPECT_FALSE(runError("scatter_nd", {x, I({1, 1}, {0}), F({1, 3}, {0, 0, 0})}).ok());  // updates shape
  EXPECT_FALSE(runWithUnknownDims("scatter_nd", {x, I({1, 1}, {0}), F({1, 3}, {0, 0, 0})}).ok());
}

// --- squeeze / unsqueeze -------------------------------------------------------

TEST(Squeeze, AllAndExplicit) {
  Tensor x = F({1, 3, 1, 2}, {1, 2, 3, 4, 5, 6});
  Tensor all = run1("squeeze", {x});
  EXPECT_TENSOR(all, DType::F32, Shape({3, 2}), {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(all.data(), x.data());
  EXPECT_TENSOR(run1("squeeze", {x}, {{"axes", Ais({2})}}), DType::F32, Shape({1, 3, 2}), {1, 2, 3, 4, 5, 6});
  EXPECT_TENSOR(run1("squeeze", {x}, {{"axes", Ais({-4, -2})}}), DType::F32, Shape({3, 2}), {1, 2, 3, 4, 5, 6});
  EXPECT_TENSOR(run1("squeeze", {I({1, 1}, {7})}), DType::I64, Shape({}), {7});
  EXPECT_TENSOR(run1("squeeze", {F({1, 0}, {})}), DType::F32, Shape({0}), {});
}

TEST(Squeeze, ErrorsAndInference) {
  Tensor x = F({1, 3, 1, 2}, {1, 2, 3, 4, 5, 6});
  EXPECT_TRUE(contains(runError("squeeze", {x}, {{"axes", Ais({1})}}), "not 1"));
  EXPECT_FALSE(runError("squeeze", {x}, {{"axes", Ais({4})}}).ok());
  EXPECT_EQ(inferStrings("squeeze", {{"axes", Ais({0})}}, {Type::tensor(DType::F32, {1, N()})}, {nullptr}),
            std::vector<std::string>{"f32[N]"});
  EXPECT_EQ(inferStrings("squeeze", {}, {Type::tensor(DType::F32, {1, N()})}, {nullptr}),
            std::vector<std::string>{"f32[*]"});
}

TEST(Unsqueeze, PositiveAndNegativeAxes) {
  Tensor x = T(DType::F16, {3}, {1, 2, 3});
  EXPECT_TENSOR(run1("unsqueeze", {x}, {{"axes", Ais({0})}}), DType::F16, Shape({1, 3}), {1, 2, 3});
  EXPECT_TENSOR(run1("unsqueeze", {x}, {{"axes", Ais({-1})}}), DType::F16, Shape({3, 1}), {1, 2, 3});
  EXPECT_TENSOR(run1("unsqueeze", {x}, {{"axes", Ais({1, 0})}}), DType::F16, Shape({1, 1, 3}), {1, 2, 3});
  EXPECT_TENSOR(run1("unsqueeze", {F({2, 3}, {1, 2, 3, 4, 5, 6})}, {{"axes", Ais({0, -1})}}), DType::F32,
                Shape({1, 2, 3, 1}), {1, 2, 3, 4, 5, 6});
  EXPECT_TENSOR(run1("unsqueeze", {F({}, {4})}, {{"axes", Ais({0})}}), DType::F32, Shape({1}), {4});
  EXPECT_FALSE(runError("unsqueeze", {x}, {{"axes", Ais({0, 0})}}).ok());
  EXPECT_FALSE(runError("unsqueeze", {x}, {{"axes", Ais({2})}}).ok());
  EXPECT_FALSE(runError("unsqueeze", {x}).ok());  // axes required
  EXPECT_EQ(inferStrings("unsqueeze", {{"axes", Ais({-1})}}, {Type::tensor(DType::F32, {N(), 3})}, {nullptr}),
            std::vector<std::string>{"f32[N, 3, 1]"});
}

// Axes as the optional input (Note [run-time axes] in core/src/ops/reduction.cpp).
TEST(SqueezeUnsqueeze, AxesInput) {
  Tensor x = F({1, 3, 1, 2}, {1, 2, 3, 4, 5, 6});
  // Constant axes (evalOp): as the attribute.
  EXPECT_TENSOR(run1("squeeze", {x, I({2}, {-2, 0})}), DType::F32, Shape({3, 2}), {1, 2, 3, 4, 5, 6});
  EXPECT_TENSOR(run1("unsqueeze", {F({3}, {1, 2, 3}), I({2}, {2, 0})}), DType::F32, Shape({1, 3, 1}), {1, 2, 3});
  EXPECT_TRUE(contains(runError("squeeze", {x, I({1}, {1})}), "not 1"));
  EXPECT_FALSE(runError("unsqueeze", {x, I({1}, {0})}, {{"axes", Ais({0})}}).ok());  // both
  EXPECT_FALSE(runError("unsqueeze", {x, F({1}, {0})}).ok());                        // not integers
  // Values known only at run time: the rank follows from the axes' length.
  const Type a2 = Type::tensor(DType::I64, {2});
  EXPECT_EQ(inferStrings("squeeze", {}, {Type::tensor(DType::F32, {1, 3, 1, 2}), a2}, {nullptr, nullptr}),
            std::vector<std::string>{"f32[?, ?]"});
  EXPECT_EQ(inferStrings("unsqueeze", {}, {Type::tensor(DType::F32, {3}), a2}, {nullptr, nullptr}),
            std::vector<std::string>{"f32[?, ?, ?]"});
  EXPECT_EQ(inferStrings("squeeze", {}, {Type::tensor(DType::F32, {3}), Type::tensor(DType::I64, {Dim()})},
                         {nullptr, nullptr}),
            std::vector<std::string>{"f32[*]"});
  EXPECT_FALSE(inferOp(*OpRegistry::global().find("squeeze"), {}, {Type::tensor(DType::F32, {3}), a2},
                       {nullptr, nullptr}, 1)
                   .ok());  // two axes for rank 1
  // The interpreter runs them with the axes as a graph input (every dim unknown).
  EXPECT_TRUE(runWithUnknownDims("squeeze", {x, I({2}, {0, 2})}).ok());
  EXPECT_TRUE(runWithUnknownDims("unsqueeze", {x, I({1}, {4})}).ok());
  EXPECT_TRUE(contains(runWithUnknownDims("squeeze", {x, I({1}, {1})}), "not 1"));
  EXPECT_FALSE(runWithUnknownDims("unsqueeze", {x, I({2}, {0, 0})}).ok());
}

// --- expand -------------------------------------------------------------------

TEST(Expand, BothDirections) {
  // Input [3, 1] against shape [1, 4]: the input's 3 stays, the 1 grows to 4.
  EXPECT_TENSOR(run1("expand", {F({3, 1}, {1, 2, 3}), I({2}, {1, 4})}), DType::F32, Shape({3, 4}),
                {1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3});
  EXPECT_TENSOR(run1("expand", {F({1, 3}, {1, 2, 3}), I({2}, {2, 1})}), DType::F32, Shape({2, 3}),
                {1, 2, 3, 1, 2, 3});
  EXPECT_TENSOR(run1("expand", {I({2}, {5, 6}), I({2}, {2, 2})}), DType::I64, Shape({2, 2}), {5, 6, 5, 6});
  // A shorter shape keeps the input rank.
  EXPECT_TENSOR(run1("expand", {B({2, 1}, {1, 0}), I({1}, {3})}), DType::Bool, Shape({2, 3}), {1, 1, 1, 0, 0, 0});
  EXPECT_TENSOR(run1("expand", {F({}, {7}), I({1}, {0})}), DType::F32, Shape({0}), {});
}

TEST(Expand, ErrorsAndAbsurdSizes) {
  EXPECT_TRUE(contains(runError("expand", {F({3}, {1, 2, 3}), I({1}, {2})}), "expand"));
  EXPECT_FALSE(runError("expand", {F({1}, {1}), I({1}, {-2})}).ok());
  Status big = runError("expand", {F({1}, {1}), I({2}, {int64_t{1} << 40, int64_t{1} << 40})});
  EXPECT_EQ(big.code(), StatusCode::kResourceExhausted) << big.toString();
  EXPECT_FALSE(runError("expand", {F({1}, {1}), I({3}, {kMax, kMax, kMax})}).ok());
}

TEST(Expand, Inference) {
  const Type x = Type::tensor(DType::F32, {N(), 1});
  Tensor s = I({3}, {2, 1, 5});
  EXPECT_EQ(inferStrings("expand", {}, {x, typeOf(s)}, {nullptr, &s}), std::vector<std::string>{"f32[2, N, 5]"});
  EXPECT_EQ(inferStrings("expand", {}, {Type::tensor(DType::F32, {3, 1}), Type::tensor(DType::I64, {3})},
                         {nullptr, nullptr}),
            std::vector<std::string>{"f32[?, 3, ?]"});
}

// --- flatten ------------------------------------------------------------------

TEST(Flatten, Axes) {
  std::vector<double> v;
  for (int i = 0; i < 24; ++i) v.push_back(i);
  Tensor x = T(DType::F16, {2, 3, 4}, v);
  EXPECT_TENSOR(run1("flatten", {x}), DType::F16, Shape({2, 12}), v);
  EXPECT_TENSOR(run1("flatten", {x}, {{"axis", Ai(0)}}), DType::F16, Shape({1, 24}), v);
  EXPECT_TENSOR(run1("flatten", {x}, {{"axis", Ai(-1)}}), DType::F16, Shape({6, 4}), v);
  EXPECT_TENSOR(run1("flatten", {x}, {{"axis", Ai(3)}}), DType::F16, Shape({24, 1}), v);
  EXPECT_TENSOR(run1("flatten", {x}, {{"axis", Ai(-3)}}), DType::F16, Shape({1, 24}), v);
  EXPECT_TENSOR(run1("flatten", {F({2, 0, 3}, {})}), DType::F32, Shape({2, 0}), {});
  EXPECT_FALSE(runError("flatten", {x}, {{"axis", Ai(4)}}).ok());
  EXPECT_FALSE(runError("flatten", {x}, {{"axis", Ai(-4)}}).ok());
  EXPECT_EQ(inferStrings("flatten", {}, {Type::tensor(DType::F32, {N(), 3, 4})}, {nullptr}),
            std::vector<std::string>{"f32[N, 12]"});
  EXPECT_EQ(inferStrings("flatten", {{"axis", Ai(2)}}, {Type::tensor(DType::F32, {N(), 3, 4})}, {nullptr}),
            std::vector<std::string>{"f32[?, 4]"});
}

// --- pad ----------------------------------------------------------------------

TEST(Pad, Constant) {
  Tensor x = F({2, 2}, {1, 2, 3, 4});
  // pads = [begin0, begin1, end0, end1]
  EXPECT_TENSOR(run1("pad", {x, I({4}, {1, 0, 0, 1})}), DType::F32, Shape({3, 3}), {0, 0, 0, 1, 2, 0, 3, 4, 0});
  EXPECT_TENSOR(run1("pad", {x, I({4}, {0, 1, 1, 0}), F({}, {9})}), DType::F32, Shape({3, 3}),
                {9, 1, 2, 9, 3, 4, 9, 9, 9});
  EXPECT_TENSOR(run1("pad", {I({2}, {1, 2}), I({2}, {1, 2}), I({}, {-7})}), DType::I64, Shape({5}),
                {-7, 1, 2, -7, -7});
  EXPECT_TENSOR(run1("pad", {F({0}, {}), I({2}, {1, 1})}), DType::F32, Shape({2}), {0, 0});
}

TEST(Pad, Reflect) {
  EXPECT_TENSOR(run1("pad", {F({4}, {1, 2, 3, 4}), I({2}, {2, 2})}, {{"mode", As("reflect")}}), DType::F32,
                Shape({8}), {3, 2, 1, 2, 3, 4, 3, 2});
  EXPECT_TENSOR(run1("pad", {F({2, 3}, {1, 2, 3, 4, 5, 6}), I({4}, {1, 1, 1, 1})}, {{"mode", As("reflect")}}),
                DType::F32, Shape({4, 5}),
                {5, 4, 5, 6, 5, 2, 1, 2, 3, 2, 5, 4, 5, 6, 5, 2, 1, 2, 3, 2});
  EXPECT_TRUE(contains(runError("pad", {F({2}, {1, 2}), I({2}, {2, 0})}, {{"mode", As("reflect")}}), "reflect"));
}

TEST(Pad, Edge) {
  EXPECT_TENSOR(run1("pad", {F({3}, {1, 2, 3}), I({2}, {2, 1})}, {{"mode", As("edge")}}), DType::F32, Shape({6}),
                {1, 1, 1, 2, 3, 3});
  EXPECT_TENSOR(run1("pad", {T(DType::F16, {2, 2}, {1, 2, 3, 4}), I({4}, {0, 1, 1, 0})}, {{"mode", As("edge")}}),
                DType::F16, Shape({3, 3}), {1, 1, 2, 3, 3, 4, 3, 3, 4});
  EXPECT_FALSE(runError("pad", {F({0}, {}), I({2}, {1, 0})}, {{"mode", As("edge")}}).ok());
}

TEST(Pad, NegativePadsCrop) {
  Tensor x = F({5}, {1, 2, 3, 4, 5});
  EXPECT_TENSOR(run1("pad", {x, I({2}, {-1, 2})}), DType::F32, Shape({6}), {2, 3, 4, 5, 0, 0});
  EXPECT_TENSOR(run1("pad", {x, I({2}, {-2, -1})}), DType::F32, Shape({2}), {3, 4});
  EXPECT_TENSOR(run1("pad", {x, I({2}, {-5, 0})}), DType::F32, Shape({0}), {});
  // Crop first, then reflect within what is left: [2, 3, 4, 5] -> [2, 3, 4, 5, 4, 3].
  EXPECT_TENSOR(run1("pad", {x, I({2}, {-1, 2})}, {{"mode", As("reflect")}}), DType::F32, Shape({6}),
                {2, 3, 4, 5, 4, 3});
  EXPECT_TENSOR(run1("pad", {x, I({2}, {1, -3})}, {{"mode", As("edge")}}), DType::F32, Shape({3}), {1, 1, 2});
  EXPECT_FALSE(runError("pad", {x, I({2}, {-3, -3})}).ok());
  EXPECT_FALSE(runError("pad", {x, I({2}, {kMin, 0})}).ok());
}

TEST(Pad, Errors) {
  Tensor x = F({2}, {1, 2});
  EXPECT_FALSE(runError("pad", {x, I({1}, {1})}).ok());
  EXPECT_FALSE(runError("pad", {x, I({2}, {1, 1})}, {{"mode", As("wrap")}}).ok());
  EXPECT_FALSE(runError("pad", {x, I({2}, {1, 1}), I({}, {0})}).ok());  // value dtype
  EXPECT_FALSE(runError("pad", {x, I({2}, {1, kMax})}).ok());
  EXPECT_EQ(inferStrings("pad", {}, {Type::tensor(DType::F32, {N(), 3}), Type::tensor(DType::I64, {4})},
                         {nullptr, nullptr}),
            std::vector<std::string>{"f32[?, ?]"});
  Tensor pads = I({4}, {0, 1, 0, 1});
  EXPECT_EQ(inferStrings("pad", {}, {Type::tensor(DType::F32, {N(), 3}), typeOf(pads)}, {nullptr, &pads}),
            std::vector<std::string>{"f32[N, 5]"});
}

// --- tile ---------------------------------------------------------------------

TEST(Tile, Basic) {
  Tensor x = F({2, 2}, {1, 2, 3, 4});
  EXPECT_TENSOR(run1("tile", {x, I({2}, {1, 2})}), DType::F32, Shape({2, 4}), {1, 2, 1, 2, 3, 4, 3, 4});
  EXPECT_TENSOR(run1("tile", {x, I({2}, {2, 1})}), DType::F32, Shape({4, 2}), {1, 2, 3, 4, 1, 2, 3, 4});
  EXPECT_TENSOR(run1("tile", {B({2}, {1, 0}), I({1}, {3})}), DType::Bool, Shape({6}), {1, 0, 1, 0, 1, 0});
  EXPECT_TENSOR(run1("tile", {x, I({2}, {0, 3})}), DType::F32, Shape({0, 6}), {});
  EXPECT_TENSOR(run1("tile", {F({}, {3}), I({0}, {})}), DType::F32, Shape({}), {3});
}

TEST(Tile, ErrorsAndAbsurdSizes) {
  Tensor x = F({2}, {1, 2});
  EXPECT_FALSE(runError("tile", {x, I({1}, {-1})}).ok());
  EXPECT_FALSE(runError("tile", {x, I({2}, {1, 1})}).ok());
  Status big = runError("tile", {x, I({1}, {int64_t{1} << 40})});
  EXPECT_EQ(big.code(), StatusCode::kResourceExhausted) << big.toString();
  EXPECT_FALSE(runError("tile", {x, I({1}, {kMax})}).ok());
  Tensor reps = I({2}, {1, 2});
  EXPECT_EQ(inferStrings("tile", {}, {Type::tensor(DType::F32, {N(), 3}), typeOf(reps)}, {nullptr, &reps}),
            std::vector<std::string>{"f32[N, 6]"});
}

// --- shape --------------------------------------------------------------------

TEST(ShapeOp, StartEnd) {
  Tensor x = T(DType::Bool, {2, 3, 4}, std::vector<double>(24, 1));
  EXPECT_TENSOR(run1("shape", {x}), DType::I64, Shape({3}), {2, 3, 4});
  EXPECT_TENSOR(run1("shape", {x}, {{"start", Ai(1)}}), DType::I64, Shape({2}), {3, 4});
  EXPECT_TENSOR(run1("shape", {x}, {{"end", Ai(-1)}}), DType::I64, Shape({2}), {2, 3});
  EXPECT_TENSOR(run1("shape", {x}, {{"start", Ai(-10)}, {"end", Ai(10)}}), DType::I64, Shape({3}), {2, 3, 4});
  EXPECT_TENSOR(run1("shape", {x}, {{"start", Ai(2)}, {"end", Ai(1)}}), DType::I64, Shape({0}), {});
  EXPECT_TENSOR(run1("shape", {F({}, {1})}), DType::I64, Shape({0}), {});
  EXPECT_TENSOR(run1("shape", {F({0, 5}, {})}), DType::I64, Shape({2}), {0, 5});
}

TEST(ShapeOp, Inference) {
  EXPECT_EQ(inferStrings("shape", {}, {Type::tensor(DType::F32, {N(), 3})}, {nullptr}),
            std::vector<std::string>{"i64[2]"});
  EXPECT_EQ(inferStrings("shape", {{"start", Ai(-1)}}, {Type::tensor(DType::F32, {N(), Dim()})}, {nullptr}),
            std::vector<std::string>{"i64[1]"});
  EXPECT_EQ(inferStrings("shape", {}, {Type::tensorUnranked(DType::F32)}, {nullptr}),
            std::vector<std::string>{"i64[?]"});
}

// --- range --------------------------------------------------------------------

TEST(Range, Integers) {
  EXPECT_TENSOR(run1("range", {I({}, {0}), I({}, {5}), I({}, {2})}), DType::I64, Shape({3}), {0, 2, 4});
  EXPECT_TENSOR(run1("range", {I({}, {10}), I({}, {4}), I({}, {-3})}), DType::I64, Shape({2}), {10, 7});
  EXPECT_TENSOR(run1("range", {I({}, {5}), I({}, {0}), I({}, {1})}), DType::I64, Shape({0}), {});
  EXPECT_TENSOR(run1("range", {T(DType::I32, {}, {-2}), T(DType::I32, {}, {2}), T(DType::I32, {}, {1})}), DType::I32,
                Shape({4}), {-2, -1, 0, 1});
  EXPECT_TENSOR(run1("range", {I({}, {kMin}), I({}, {kMax}), I({}, {int64_t{1} << 62})}), DType::I64, Shape({4}),
                {-9223372036854775808.0, -4611686018427387904.0, 0, 4611686018427387904.0});
}

TEST(Range, Floats) {
  EXPECT_TENSOR(run1("range", {F({}, {1}), F({}, {2}), F({}, {0.25})}), DType::F32, Shape({4}), {1, 1.25, 1.5, 1.75});
  EXPECT_TENSOR(run1("range", {F({}, {1}), F({}, {-1}), F({}, {-0.5})}), DType::F32, Shape({4}), {1, 0.5, 0, -0.5});
  EXPECT_TENSOR(run1("range", {F({}, {0}), F({}, {1}), F({}, {0.3})}), DType::F32, Shape({4}), {0, 0.3, 0.6, 0.9});
}

TEST(Range, Errors) {
  EXPECT_TRUE(contains(runError("range", {I({}, {0}), I({}, {5}), I({}, {0})}), "delta is 0"));
  EXPECT_FALSE(runError("range", {F({}, {0}), F({}, {1}), F({}, {0})}).ok());
  EXPECT_FALSE(runError("range", {I({}, {0}), I({}, {kMax}), I({}, {1})}).ok());
  EXPECT_FALSE(runError("range", {F({}, {0}), F({}, {1}), F({}, {1e-30})}).ok());
  EXPECT_FALSE(runError("range", {F({}, {0}), F({}, {NAN}), F({}, {1})}).ok());
  EXPECT_FALSE(runError("range", {I({}, {0}), F({}, {5}), I({}, {1})}).ok());
  EXPECT_FALSE(runError("range", {I({1}, {0}), I({}, {5}), I({}, {1})}).ok());
  EXPECT_FALSE(runError("range", {B({}, {0}), B({}, {1}), B({}, {1})}).ok());
  EXPECT_EQ(inferStrings("range", {}, {Type::scalar(DType::I64), Type::scalar(DType::I64), Type::scalar(DType::I64)},
                         {nullptr, nullptr, nullptr}),
            std::vector<std::string>{"i64[?]"});
}

// --- constant / constant_of_shape / identity ----------------------------------

TEST(Constant, ProducesTheAttribute) {
  Tensor v = I({2}, {3, -4});
  Tensor y = run1("constant", {}, {{"value", Attribute(v)}});
  EXPECT_TENSOR(y, DType::I64, Shape({2}), {3, -4});
  EXPECT_TENSOR(run1("constant", {}, {{"value", Attribute(T(DType::BF16, {}, {1.5}))}}), DType::BF16, Shape({}),
                {1.5});
  EXPECT_FALSE(runError("constant", {}).ok());
}

TEST(ConstantOfShape, FillsWithValue) {
  EXPECT_TENSOR(run1("constant_of_shape", {I({2}, {2, 3})}), DType::F32, Shape({2, 3}), {0, 0, 0, 0, 0, 0});
  EXPECT_TENSOR(run1("constant_of_shape", {I({2}, {2, 2})}, {{"value", Attribute(I({1}, {7}))}}), DType::I64,
                Shape({2, 2}), {7, 7, 7, 7});
  EXPECT_TENSOR(run1("constant_of_shape", {I({1}, {3})}, {{"value", Attribute(B({1}, {1}))}}), DType::Bool,
                Shape({3}), {1, 1, 1});
  EXPECT_TENSOR(run1("constant_of_shape", {I({1}, {2})}, {{"value", Attribute(T(DType::F16, {}, {1.5}))}}),
                DType::F16, Shape({2}), {1.5, 1.5});
  EXPECT_TENSOR(run1("constant_of_shape", {I({0}, {})}, {{"value", Attribute(F({1}, {4}))}}), DType::F32, Shape({}),
                {4});
  EXPECT_TENSOR(run1("constant_of_shape", {I({2}, {0, 3})}), DType::F32, Shape({0, 3}), {});
}

TEST(ConstantOfShape, Errors) {
  EXPECT_FALSE(runError("constant_of_shape", {I({1}, {-1})}).ok());
  EXPECT_FALSE(runError("constant_of_shape", {I({1}, {2})}, {{"value", Attribute(F({2}, {1, 2}))}}).ok());
  EXPECT_FALSE(runError("constant_of_shape", {F({1}, {2})}).ok());
  Status big = runError("constant_of_shape", {I({2}, {int64_t{1} << 40, int64_t{1} << 40})});
  EXPECT_EQ(big.code(), StatusCode::kResourceExhausted) << big.toString();
  EXPECT_EQ(inferStrings("constant_of_shape", {}, {Type::tensor(DType::I64, {2})}, {nullptr}),
            std::vector<std::string>{"f32[?, ?]"});
}

TEST(Identity, PassesThrough) {
  Tensor x = I({3}, {1, 2, 3});
  Tensor y = run1("identity", {x});
  EXPECT_TENSOR(y, DType::I64, Shape({3}), {1, 2, 3});
  EXPECT_EQ(y.data(), x.data());
  EXPECT_TENSOR(run1("identity", {B({0}, {})}), DType::Bool, Shape({0}), {});
  EXPECT_EQ(inferStrings("identity", {}, {Type::tensor(DType::F32, {N(), 3})}, {nullptr}),
            std::vector<std::string>{"f32[N, 3]"});
}

// --- resize -------------------------------------------------------------------

TEST(Resize, NearestUpsample) {
  Tensor x = F({2, 2}, {1, 2, 3, 4});
  // half_pixel: source coords -0.25, 0.25, 0.75, 1.25 -> 0, 0, 1, 1.
  EXPECT_TENSOR(run1("resize", {x, F({2}, {2, 2})}), DType::F32, Shape({4, 4}),
                {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  EXPECT_TENSOR(run1("resize", {I({2, 2}, {1, 2, 3, 4}), I({2}, {4, 4})}), DType::I64, Shape({4, 4}),
                {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
}

TEST(Resize, NearestModes) {
  Tensor x = F({4}, {1, 2, 3, 4});
  const AttrMap asym = {{"coordinate_transformation_mode", As("asymmetric")}};
  // asymmetric 2x: source coords 0, .5, 1, 1.5, 2, 2.5, 3, 3.5.
  EXPECT_TENSOR(run1("resize", {x, F({1}, {2})}, asym), DType::F32, Shape({8}), {1, 1, 2, 2, 3, 3, 4, 4});
  AttrMap ceilPref = asym;
  ceilPref["nearest_mode"] = As("round_prefer_ceil");
  EXPECT_TENSOR(run1("resize", {x, F({1}, {2})}, ceilPref), DType::F32, Shape({8}), {1, 2, 2, 3, 3, 4, 4, 4});
  // asymmetric 1.5x: source coords 0, 0.667, 1.333, 2, 2.667, 3.333.
  AttrMap fl = asym;
  fl["nearest_mode"] = As("floor");
  EXPECT_TENSOR(run1("resize", {x, F({1}, {1.5})}, fl), DType::F32, Shape({6}), {1, 1, 2, 3, 3, 4});
  AttrMap ce = asym;
  ce["nearest_mode"] = As("ceil");
  EXPECT_TENSOR(run1("resize", {x, F({1}, {1.5})}, ce), DType::F32, Shape({6}), {1, 2, 3, 3, 4, 4});
  // Downsample to sizes [2]: scale 0.5, source coords 0, 2.
  EXPECT_TENSOR(run1("resize", {B({1, 4}, {1, 0, 0, 1}), I({2}, {1, 2})}, asym), DType::Bool, Shape({1, 2}), {1, 0});
}

TEST(Resize, LinearHalfPixel) {
  EXPECT_TENSOR(run1("resize", {F({2, 2}, {1, 2, 3, 4}), F({2}, {2, 2})}, {{"mode", As("linear")}}), DType::F32,
                Shape({4, 4}),
                {1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4});
  // Only the last dim resized; NCHW-like rank 4.
  EXPECT_TENSOR(run1("resize", {F({1, 1, 1, 2}, {1, 3}), I({4}, {1, 1, 1, 4})}, {{"mode", As("linear")}}),
                DType::F32, Shape({1, 1, 1, 4}), {1, 1.5, 2.5, 3});
  EXPECT_TENSOR(run1("resize", {T(DType::F16, {2}, {1, 3}), F({1}, {2})}, {{"mode", As("linear")}}), DType::F16,
                Shape({4}), {1, 1.5, 2.5, 3});
}

TEST(Resize, LinearAlignCornersAndPytorch) {
  const double t = 1.0 / 3;
  EXPECT_TENSOR(run1("resize", {F({2, 2}, {1, 2, 3, 4}), F({2}, {2, 2})},
                     {{"mode", As("linear")}, {"coordinate_transformation_mode", As("align_corners")}}),
                DType::F32, Shape({4, 4}),
                {1, 1 + t, 1 + 2 * t, 2, 1 + 2 * t, 2, 2 + t, 2 + 2 * t, 2 + t, 2 + 2 * t, 3, 3 + t, 3, 3 + t,
                 3 + 2 * t, 4});
  Tensor x = F({4}, {1, 2, 3, 4});
  // To one element: pytorch_half_pixel samples coordinate 0, half_pixel samples 1.5.
  EXPECT_TENSOR(run1("resize", {x, I({1}, {1})},
                     {{"mode", As("linear")}, {"coordinate_transformation_mode", As("pytorch_half_pixel")}}),
                DType::F32, Shape({1}), {1});
  EXPECT_TENSOR(run1("resize", {x, I({1}, {1})}, {{"mode", As("linear")}}), DType::F32, Shape({1}), {2.5});
  // Downsample 4 -> 2 with half_pixel: coords 0.5, 2.5.
  EXPECT_TENSOR(run1("resize", {x, F({1}, {0.5})}, {{"mode", As("linear")}}), DType::F32, Shape({2}), {1.5, 3.5});
}

// Cubic: Keys' kernel (a = -0.75) on the 4 taps around (k + 0.5) / 2 - 0.5, clamped to the edge or (exclude_outside)
// dropped and renormalised; values worked out by hand from the kernel's formula.
TEST(Resize, Cubic) {
  EXPECT_TENSOR(run1("resize", {F({2}, {1, 2}), F({1}, {2})}, {{"mode", As("cubic")}}), DType::F32, Shape({4}),
                {0.89453125, 1.2265625, 1.7734375, 2.10546875});
  EXPECT_TENSOR(run1("resize", {F({2}, {1, 2}), F({1}, {2})}, {{"mode", As("cubic")}, {"exclude_outside", int64_t{1}}}),
                DType::F32, Shape({4}), {0.8636363636, 1.2294520548, 1.7705479452, 2.1363636364});
  // Output coordinates on the input's own: the identity.
  EXPECT_TENSOR(run1("resize", {F({1, 3}, {1, 5, 2}), I({2}, {1, 3})}, {{"mode", As("cubic")}}), DType::F32,
                Shape({1, 3}), {1, 5, 2});
}

TEST(Resize, TfHalfPixelForNn) {
  // x_orig = (k + 0.5) / scale: 0.75, 2.25 for 2 -> ... with scale 2/3 from [3] to [2]: round_prefer_floor.
  EXPECT_TENSOR(run1("resize", {F({3}, {10, 20, 30}), I({1}, {2})}, {{"coordinate_transformation_mode", As("tf_half_pixel_for_nn")}}),
                DType::F32, Shape({2}), {20, 30});
}

// grid_sample on x = [[1, 2], [3, 4]]: grid (0, 0) is the centre (input coordinate 0.5, 0.5 without
// align_corners); (-1, -1) is the outer corner (-0.5, -0.5), where only the padding mode decides.
TEST(GridSample, PointsWorkedByHand) {
  const Tensor x = F({1, 1, 2, 2}, {1, 2, 3, 4});
  const Tensor g = F({1, 1, 2, 2}, {0, 0, -1, -1});
  auto at = [&](const char* mode, const char* pad, int64_t ac) {
    return run1("grid_sample", {x, g}, {{"mode", As(mode)}, {"padding_mode", As(pad)}, {"align_corners", ac}});
  };
  EXPECT_TENSOR(at("bilinear", "zeros", 0), DType::F32, Shape({1, 1, 1, 2}), {2.5, 0.25});
  EXPECT_TENSOR(at("bilinear", "border", 0), DType::F32, Shape({1, 1, 1, 2}), {2.5, 1});
  EXPECT_TENSOR(at("bilinear", "reflection", 0), DType::F32, Shape({1, 1, 1, 2}), {2.5, 1});
  // 0.5 and -0.5 round to even: pixel (0, 0) both times.
  EXPECT_TENSOR(at("nearest", "zeros", 0), DType::F32, Shape({1, 1, 1, 2}), {1, 1});
  EXPECT_TENSOR(at("bilinear", "zeros", 1), DType::F32, Shape({1, 1, 1, 2}), {2.5, 1});  // (-1, -1) is pixel (0, 0)
  // NaN and infinite grid points read nothing (0) in every mode, never an index made from NaN.
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor odd = F({1, 1, 2, 2}, {std::nan(""), 0, inf, -inf});
  for (const char* mode : {"bilinear", "nearest", "bicubic"})
    for (const char* pad : {"zeros", "reflection"}) {
      const Tensor y = run1("grid_sample", {x, odd}, {{"mode", As(mode)}, {"padding_mode", As(pad)}});
      ASSERT_EQ(y.numel(), 2) << mode << " " << pad;
      EXPECT_EQ(y.getDouble(0), 0) << mode << " " << pad;
      EXPECT_EQ(y.getDouble(1), 0) << mode << " " << pad;
    }
  EXPECT_FALSE(runError("grid_sample", {x, g}, {{"mode", As("area")}}).ok());
  EXPECT_FALSE(runError("grid_sample", {x, F({1, 1, 1, 3}, {0, 0, 0})}).ok());  // last dim must be 2
  EXPECT_FALSE(runError("grid_sample", {x, F({2, 1, 1, 2}, {0, 0, 0, 0})}).ok());  // batch differs
  EXPECT_EQ(inferStrings("grid_sample", {}, {Type::tensor(DType::F32, {N(), 3, 8, 8}), Type::tensor(DType::F32, {N(), 5, 6, 2})},
                         {nullptr, nullptr}),
            std::vector<std::string>{"f32[N, 3, 5, 6]"});
}

// tf_crop_and_resize over [10, 20, 30, 40, 50] with roi [0.25, 1.5]: source coordinates 0.25 * 4 = 1, then
// steps of (1.5 - 0.25) * 4 / 2 = 2.5: 1 (20), 3.5 (45), 6 (outside: the extrapolation value).
TEST(Resize, TfCropAndResize) {
  const AttrMap a{{"mode", As("linear")},
                  {"coordinate_transformation_mode", As("tf_crop_and_resize")},
                  {"roi", std::vector<double>{0.25, 1.5}},
                  {"extrapolation_value", -1.0}};
  EXPECT_TENSOR(run1("resize", {F({5}, {10, 20, 30, 40, 50}), I({1}, {3})}, a), DType::F32, Shape({3}), {20, 45, -1});
  AttrMap nearest = a;
  nearest["mode"] = As("nearest");
  EXPECT_TENSOR(run1("resize", {F({5}, {10, 20, 30, 40, 50}), I({1}, {3})}, nearest), DType::F32, Shape({3}),
                {20, 40, -1});  // 3.5 rounds down (round_prefer_floor)
  AttrMap noRoi = a;
  noRoi.erase("roi");
  EXPECT_FALSE(runError("resize", {F({5}, {10, 20, 30, 40, 50}), I({1}, {3})}, noRoi).ok());
  // The roi as the optional input (read when the op runs), in the interpreter with every dim unknown too.
  EXPECT_TENSOR(run1("resize", {F({5}, {10, 20, 30, 40, 50}), I({1}, {3}), F({2}, {0.25, 1.5})}, noRoi), DType::F32,
                Shape({3}), {20, 45, -1});
  EXPECT_TRUE(runWithUnknownDims("resize", {F({5}, {10, 20, 30, 40, 50}), I({1}, {3}), F({2}, {0.25, 1.5})}, noRoi).ok());
  EXPECT_FALSE(runWithUnknownDims("resize", {F({5}, {10, 20, 30, 40, 50}), I({1}, {3}), F({3}, {0, 1, 1})}, noRoi).ok());
  EXPECT_FALSE(runError("resize", {F({5}, {10, 20, 30, 40, 50}), I({1}, {3}), F({2}, {0.25, 1.5})}, a).ok());  // both
  EXPECT_FALSE(runError("resize", {I({5}, {10, 20, 30, 40, 50}), I({1}, {3})}, nearest).ok());  // float only
}

TEST(Resize, EmptyErrorsAndInference) {
  EXPECT_TENSOR(run1("resize", {F({0, 2}, {}), F({2}, {2, 2})}), DType::F32, Shape({0, 4}), {});
  EXPECT_TENSOR(run1("resize", {F({2}, {1, 2}), I({1}, {0})}), DType::F32, Shape({0}), {});
  EXPECT_FALSE(runError("resize", {I({2}, {1, 2}), F({1}, {2})}, {{"mode", As("linear")}}).ok());
  EXPECT_FALSE(runError("resize", {F({2}, {1, 2}), F({1}, {0})}).ok());
  EXPECT_FALSE(runError("resize", {F({2}, {1, 2}), F({2}, {1, 1})}).ok());
  EXPECT_FALSE(runError("resize", {F({2}, {1, 2}), I({1}, {-1})}).ok());
  EXPECT_FALSE(runError("resize", {F({0}, {}), I({1}, {3})}).ok());
  EXPECT_FALSE(runError("resize", {F({2}, {1, 2}), F({1}, {2})}, {{"mode", As("area")}}).ok());
  EXPECT_FALSE(runError("resize", {I({2}, {1, 2}), F({1}, {2})}, {{"mode", As("cubic")}}).ok());
  EXPECT_FALSE(runError("resize", {F({2}, {1, 2}), F({1}, {2})}, {{"exclude_outside", int64_t{2}}}).ok());
  EXPECT_FALSE(runError("resize", {F({2}, {1, 2}), F({1}, {2})}, {{"coordinate_transformation_mode", As("tf")}}).ok());
  EXPECT_FALSE(runError("resize", {F({2}, {1, 2}), F({1}, {2})}, {{"nearest_mode", As("round")}}).ok());
  EXPECT_FALSE(runError("resize", {F({2}, {1, 2}), F({1}, {1e30})}).ok());
  Tensor scales = F({4}, {1, 1, 2, 2});
  EXPECT_EQ(inferStrings("resize", {}, {Type::tensor(DType::F32, {N(), Dim::symbol("C"), 2, 3}), typeOf(scales)},
                         {nullptr, &scales}),
            std::vector<std::string>{"f32[N, C, 4, 6]"});
}

}  // namespace
}  // namespace sy
