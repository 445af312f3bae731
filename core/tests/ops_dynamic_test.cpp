// Tests of the ops whose output size depends on values (core/src/ops/dynamic.cpp:
// top_k, non_zero, unique, compress, non_max_suppression) and roi_align, and
// of a data-dependent size flowing through inference, the verifier and the
// interpreter (Note [data-dependent output sizes]). Expected values are
// hand-computed.

#include <gtest/gtest.h>

#include <switchyard/plugin_shapes.hpp>

#include "switchyard/graph_view.h"
#include "switchyard/interpreter.h"
#include "switchyard/op_registry.h"
#include "switchyard/passes.h"
#include "switchyard/text.h"
#include "switchyard/verifier.h"
#include "test_util.h"

namespace sy {
namespace {

using testing::B;
using testing::F;
using testing::I;
using testing::run;
using testing::run1;
using testing::runError;
using testing::T;

Attribute Ai(int64_t v) { return Attribute(v); }
Attribute As(const char* s) { return Attribute(std::string(s)); }

std::vector<std::string> inferStrings(std::string_view op, const AttrMap& attrs, const std::vector<Type>& types,
                                      const std::vector<const Tensor*>& consts, size_t numOutputs) {
  const OpSchema* schema = OpRegistry::global().find(op);
  EXPECT_NE(schema, nullptr) << op;
  if (!schema) return {};
  auto r = inferOp(*schema, attrs, types, consts, numOutputs);
  if (!r.ok()) return {"error: " + r.status().toString()};
  std::vector<std::string> out;
  for (const Type& t : *r) out.push_back(t.toString());
  return out;
}

Type f32(std::vector<Dim> d) { return Type::tensor(DType::F32, std::move(d)); }

// --- inference: `?` where the size depends on values -------------------------

TEST(DataDependentInference, UnknownDimsWhereValuesDecide) {
  const Type i64one = Type::tensor(DType::I64, {Dim(1)});
  EXPECT_EQ(inferStrings("non_zero", {}, {f32({2, 3})}, {nullptr}, 1), std::vector<std::string>{"i64[2, ?]"});
  EXPECT_EQ(inferStrings("top_k", {}, {f32({Dim::symbol("N"), 5}), i64one}, {nullptr, nullptr}, 2),
            (std::vector<std::string>{"f32[N, ?]", "i64[N, ?]"}));
  const Tensor k = I({1}, {3});
  EXPECT_EQ(inferStrings("top_k", {{"axis", Ai(0)}}, {f32({4, 5}), i64one}, {nullptr, &k}, 2),
            (std::vector<std::string>{"f32[3, 5]", "i64[3, 5]"}));
  const Tensor big = I({1}, {6});
  EXPECT_NE(inferStrings("top_k", {}, {f32({4, 5}), i64one}, {nullptr, &big}, 2)[0].find("error"),
            std::string::npos);
  EXPECT_EQ(inferStrings("unique", {}, {f32({2, 3})}, {nullptr}, 4),
            (std::vector<std::string>{"f32[?]", "i64[?]", "i64[6]", "i64[?]"}));
  EXPECT_EQ(inferStrings("unique", {{"axis", Ai(1)}}, {f32({2, 3})}, {nullptr}, 3),
            (std::vector<std::string>{"f32[2, ?]", "i64[?]", "i64[3]"}));
  const Type cond = Type::tensor(DType::Bool, {Dim(3)});
  EXPECT_EQ(inferStrings("compress", {{"axis", Ai(-1)}}, {f32({2, 3}), cond}, {nullptr, nullptr}, 1),
            std::vector<std::string>{"f32[2, ?]"});
  EXPECT_EQ(inferStrings("compress", {}, {f32({2, 3}), cond}, {nullptr, nullptr}, 1),
            std::vector<std::string>{"f32[?]"});
  EXPECT_EQ(inferStrings("non_max_suppression", {}, {f32({1, 6, 4}), f32({1, 2, 6})}, {nullptr, nullptr}, 1),
            std::vector<std::string>{"i64[?, 3]"});
  EXPECT_EQ(inferStrings("roi_align", {{"output_height", Ai(2)}, {"output_width", Ai(3)}},
                         {f32({1, 4, 8, 8}), f32({Dim::symbol("R"), 4}), Type::tensor(DType::I64, {Dim::symbol("R")})},
                         {nullptr, nullptr, nullptr}, 1),
            std::vector<std::string>{"f32[R, 4, 2, 3]"});
}

// A non_zero count flows through inference, the verifier and the interpreter:
// the graph declares `?` where the size is known only at run time.
TEST(DataDependentInference, FlowsThroughVerifierAndInterpreter) {
  auto g = parseGraph(R"(
graph @g(%x: f32[2, 3]) {
  %zero = constant() {value = tensor<f32[]>[0.0]} : f32[]
  %mask = greater(%x, %zero) : bool[2, 3]
  %idx = non_zero(%mask) : i64[2, ?]
  %t = transpose(%idx) {perm = [1, 0]} : i64[?, 2]
  %v = gather_nd(%x, %t) : f32[?]
  %k = shape(%v) : i64[1]
  %top, %at = top_k(%v, %k) : f32[?], i64[?]
  return %top, %at
}
)");
  ASSERT_TRUE(g.ok()) << g.status().toString();
  ASSERT_TRUE(verify(**g).ok()) << verify(**g).toString();
  std::shared_ptr<const Graph> shared(std::move(*g));
  auto interp = Interpreter::create(shared);
  ASSERT_TRUE(interp.ok()) << interp.status().toString();
  auto outs = (*interp)->run(std::vector<Tensor>{F({2, 3}, {1, -2, 5, 0, 3, -1})});
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  EXPECT_TENSOR((*outs)[0], DType::F32, Shape({3}), {5, 3, 1});
  EXPECT_TENSOR((*outs)[1], DType::I64, Shape({3}), {1, 2, 0});
  auto none = (*interp)->run(std::vector<Tensor>{F({2, 3}, {-1, -2, -5, 0, -3, -1})});
  ASSERT_TRUE(none.ok()) << none.status().toString();
  EXPECT_EQ((*none)[0].shape(), Shape({0}));
}

// Shape propagation on a graph that leaves the types open fills in `?`.
TEST(DataDependentInference, PropagateShapesGivesUnknown) {
  auto g = parseGraph(R"(
graph @g(%x: f32[4]) {
  %idx = non_zero(%x) : i64[*]
  %s = squeeze(%idx) {axes = [0]} : i64[*]
  return %s
}
)");
  ASSERT_TRUE(g.ok()) << g.status().toString();
  ASSERT_TRUE(propagateShapes(**g).ok());
  EXPECT_EQ((*g)->outputs()[0]->type().toString(), "i64[?]");
}

// What a plugin sees: the SDK helper names the nodes whose output size depends on values.
TEST(DataDependentInference, PluginHelperNamesTheNodes) {
  auto g = parseGraph(R"(
graph @g(%x: f32[6], %kr: i64[1], %c: bool[6]) {
  %k = constant() {value = tensor<i64[1]>[2]} : i64[1]
  %a, %ai = top_k(%x, %k) : f32[2], i64[2]
  %b, %bi = top_k(%x, %kr) : f32[?], i64[?]
  %nz = non_zero(%x) : i64[1, ?]
  %u = unique(%x) : f32[?]
  %s = compress(%x, %c) : f32[?]
  %r = relu(%x) : f32[6]
  return %a, %b, %nz, %u, %s, %r
}
)");
  ASSERT_TRUE(g.ok()) << g.status().toString();
  ASSERT_TRUE(verify(**g).ok());
  const GraphView view(**g);
  const sdk::GraphView sv(view.view());
  std::map<std::string, bool> depends;
  for (size_t i = 0; i < view.numNodes(); ++i)
    depends[view.nodeAt(i)->output(0)->name()] = sdk::shapes::outputSizeDependsOnValues(sv.node(i));
  EXPECT_EQ(depends, (std::map<std::string, bool>{
                         {"a", false}, {"b", true}, {"nz", true}, {"u", true}, {"s", true}, {"r", false}}));
  // The unknown dim reaches the plugin as -1.
  for (size_t i = 0; i < view.numNodes(); ++i)
    if (view.nodeAt(i)->op() == "non_zero") EXPECT_EQ(sv.node(i).output(0).dim(1), -1);
}

// --- top_k ------------------------------------------------------------------

TEST(TopK, LargestSmallestAxisAndTies) {
  Tensor x = F({2, 4}, {1, 3, 3, 2, 4, 0, 4, 4});
  auto r = run("top_k", {x, I({1}, {2})}, {}, 2);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_TENSOR(r[0], DType::F32, Shape({2, 2}), {3, 3, 4, 4});
  EXPECT_TENSOR(r[1], DType::I64, Shape({2, 2}), {1, 2, 0, 2});  // ties: lower index first
  r = run("top_k", {x, I({}, {3})}, {{"largest", Ai(0)}}, 2);
  EXPECT_TENSOR(r[0], DType::F32, Shape({2, 3}), {1, 2, 3, 0, 4, 4});
  EXPECT_TENSOR(r[1], DType::I64, Shape({2, 3}), {0, 3, 1, 1, 0, 2});
  r = run("top_k", {x, T(DType::I32, {1}, {1})}, {{"axis", Ai(0)}}, 2);
  EXPECT_TENSOR(r[0], DType::F32, Shape({1, 4}), {4, 3, 4, 4});
  EXPECT_TENSOR(r[1], DType::I64, Shape({1, 4}), {1, 0, 1, 1});
  r = run("top_k", {I({3}, {5, -1, 7}), I({1}, {0})}, {}, 2);
  EXPECT_EQ(r[0].shape(), Shape({0}));
  r = run("top_k", {F({3}, {1, std::nan(""), 2}), I({1}, {2})}, {}, 2);  // NaN counts as largest
  EXPECT_TENSOR(r[1], DType::I64, Shape({2}), {1, 2});
}

TEST(TopK, Errors) {
  EXPECT_FALSE(runError("top_k", {F({3}, {1, 2, 3}), I({1}, {4})}, {}, 2).ok());
  EXPECT_FALSE(runError("top_k", {F({3}, {1, 2, 3}), I({1}, {-1})}, {}, 2).ok());
  EXPECT_FALSE(runError("top_k", {F({3}, {1, 2, 3}), I({2}, {1, 1})}, {}, 2).ok());
  EXPECT_FALSE(runError("top_k", {F({}, {1}), I({1}, {1})}, {}, 2).ok());
}

// --- non_zero / compress ------------------------------------------------------

TEST(NonZero, CoordinatesInRowMajorOrder) {
  EXPECT_TENSOR(run1("non_zero", {F({2, 3}, {0, 1, 0, -0.0, 2, 3})}), DType::I64, Shape({2, 3}), {0, 1, 1, 1, 1, 2});
  EXPECT_TENSOR(run1("non_zero", {B({4}, {1, 0, 0, 1})}), DType::I64, Shape({1, 2}), {0, 3});
  EXPECT_TENSOR(run1("non_zero", {I({2}, {0, 0})}), DType::I64, Shape({1, 0}), {});
  EXPECT_TENSOR(run1("non_zero", {T(DType::F16, {3}, {0, 1.5, -2})}), DType::I64, Shape({1, 2}), {1, 2});
}

TEST(Compress, AxisFlattenedAndShortCondition) {
  Tensor x = F({3, 2}, {1, 2, 3, 4, 5, 6});
  EXPECT_TENSOR(run1("compress", {x, B({2}, {0, 1})}, {{"axis", Ai(0)}}), DType::F32, Shape({1, 2}), {3, 4});
  EXPECT_TENSOR(run1("compress", {x, B({2}, {1, 1})}, {{"axis", Ai(-1)}}), DType::F32, Shape({3, 2}),
                {1, 2, 3, 4, 5, 6});
  EXPECT_TENSOR(run1("compress", {x, B({5}, {0, 1, 0, 0, 1})}), DType::F32, Shape({2}), {2, 5});
  EXPECT_FALSE(runError("compress", {x, B({4}, {1, 1, 1, 1})}, {{"axis", Ai(0)}}).ok());  // longer than the axis
  EXPECT_FALSE(runError("compress", {x, I({2}, {1, 1})}).ok());                           // not bool
}

// --- unique -----------------------------------------------------------------

TEST(Unique, SortedAndFirstOccurrenceAllOutputs) {
  Tensor x = F({6}, {2, 1, 1, 3, 4, 3});
  auto r = run("unique", {x}, {}, 4);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_TENSOR(r[0], DType::F32, Shape({4}), {1, 2, 3, 4});
  EXPECT_TENSOR(r[1], DType::I64, Shape({4}), {1, 0, 3, 4});
  EXPECT_TENSOR(r[2], DType::I64, Shape({6}), {1, 0, 0, 2, 3, 2});
  EXPECT_TENSOR(r[3], DType::I64, Shape({4}), {2, 1, 2, 1});
  r = run("unique", {x}, {{"sorted", Ai(0)}}, 4);
  EXPECT_TENSOR(r[0], DType::F32, Shape({4}), {2, 1, 3, 4});
  EXPECT_TENSOR(r[1], DType::I64, Shape({4}), {0, 1, 3, 4});
  EXPECT_TENSOR(r[2], DType::I64, Shape({6}), {0, 1, 1, 2, 3, 2});
  EXPECT_TENSOR(r[3], DType::I64, Shape({4}), {1, 2, 2, 1});
}

TEST(Unique, AlongAxis) {
  // Rows [1, 0], [0, 1], [1, 0]: sorted rows [0, 1], [1, 0].
  Tensor x = I({3, 2}, {1, 0, 0, 1, 1, 0});
  auto r = run("unique", {x}, {{"axis", Ai(0)}}, 4);
  EXPECT_TENSOR(r[0], DType::I64, Shape({2, 2}), {0, 1, 1, 0});
  EXPECT_TENSOR(r[1], DType::I64, Shape({2}), {1, 0});
  EXPECT_TENSOR(r[2], DType::I64, Shape({3}), {1, 0, 1});
  EXPECT_TENSOR(r[3], DType::I64, Shape({2}), {1, 2});
  // Columns of [[1, 1, 0], [2, 2, 5]]: (1,2), (1,2), (0,5) -> (0,5), (1,2).
  r = run("unique", {I({2, 3}, {1, 1, 0, 2, 2, 5})}, {{"axis", Ai(-1)}}, 1);
  EXPECT_TENSOR(r[0], DType::I64, Shape({2, 2}), {0, 1, 5, 2});
}

// --- non_max_suppression ------------------------------------------------------

TEST(NonMaxSuppression, SuppressesByIouPerClassWithLimits) {
  // Three boxes: 0 and 1 overlap (IoU 0.9 / 1.1 = 0.82), 2 is apart.
  Tensor boxes = F({1, 3, 4}, {0, 0, 1, 1, 0, 0.1f, 1, 1.1f, 0, 10, 1, 11});
  Tensor scores = F({1, 2, 3}, {0.9f, 0.8f, 0.7f, 0.1f, 0.2f, 0.95f});
  Tensor maxOut = I({1}, {3}), iou = F({1}, {0.5}), thr = F({1}, {0.15f});
  EXPECT_TENSOR(run1("non_max_suppression", {boxes, scores, maxOut, iou}), DType::I64, Shape({4, 3}),
                {0, 0, 0, 0, 0, 2, 0, 1, 2, 0, 1, 1});
  // A score threshold drops class 1's box 0; a limit of one box per class.
  EXPECT_TENSOR(run1("non_max_suppression", {boxes, scores, I({1}, {1}), iou, thr}), DType::I64, Shape({2, 3}),
                {0, 0, 0, 0, 1, 2});
  // No max_output_boxes_per_class: nothing is selected.
  EXPECT_TENSOR(run1("non_max_suppression", {boxes, scores}), DType::I64, Shape({0, 3}), {});
  // IoU threshold 0.85: the overlapping pair both stay.
  EXPECT_TENSOR(run1("non_max_suppression", {boxes, F({1, 1, 3}, {0.9f, 0.8f, 0.7f}), maxOut, F({1}, {0.85f})}),
                DType::I64, Shape({3, 3}), {0, 0, 0, 0, 0, 1, 0, 0, 2});
  // Center format: box 1 is box 0 shifted by half its width.
  EXPECT_TENSOR(run1("non_max_suppression",
                     {F({1, 2, 4}, {0.5f, 0.5f, 1, 1, 1, 0.5f, 1, 1}), F({1, 1, 2}, {0.5f, 0.6f}), maxOut, iou},
                     {{"center_point_box", Ai(1)}}),
                DType::I64, Shape({2, 3}), {0, 0, 1, 0, 0, 0});  // IoU 1/3
  EXPECT_FALSE(runError("non_max_suppression", {boxes, F({1, 1, 2}, {1, 2})}).ok());
}

// --- roi_align ----------------------------------------------------------------

TEST(RoiAlign, AverageAndMaxModes) {
  // x = 0..15 on a 4x4 plane: bilinear samples are exact (the plane is linear: v = 4y + x).
  std::vector<double> v(16);
  for (int i = 0; i < 16; ++i) v[static_cast<size_t>(i)] = i;
  Tensor x = F({1, 1, 4, 4}, v);
  Tensor rois = F({1, 4}, {0, 0, 2, 2});
  Tensor idx = I({1}, {0});
  // output_half_pixel, one bin of 2x2 from (0,0): samples at 0.5 and 1.5 on each axis, average at (1, 1) -> 5.
  EXPECT_TENSOR(run1("roi_align", {x, rois, idx}, {{"coordinate_transformation_mode", As("output_half_pixel")}}),
                DType::F32, Shape({1, 1, 1, 1}), {5});
  // half_pixel shifts by -0.5: centre (0.5, 0.5) -> 2.5.
  EXPECT_TENSOR(run1("roi_align", {x, rois, idx}), DType::F32, Shape({1, 1, 1, 1}), {2.5});
  // 2x2 bins, one sample each (sampling_ratio 1), output_half_pixel: centres 0.5 and 1.5.
  EXPECT_TENSOR(run1("roi_align", {x, rois, idx},
                     {{"output_height", Ai(2)}, {"output_width", Ai(2)}, {"sampling_ratio", Ai(1)},
                      {"coordinate_transformation_mode", As("output_half_pixel")}}),
                DType::F32, Shape({1, 1, 2, 2}), {2.5, 3.5, 6.5, 7.5});
  // max mode: the largest weighted corner; at (1.5, 1.5) the corners are 5, 6, 9, 10 weighted 1/4 -> 2.5.
  EXPECT_TENSOR(run1("roi_align", {x, F({1, 4}, {1, 1, 2, 2}), idx},
                     {{"mode", As("max")}, {"sampling_ratio", Ai(1)},
                      {"coordinate_transformation_mode", As("output_half_pixel")}}),
                DType::F32, Shape({1, 1, 1, 1}), {2.5});
  EXPECT_FALSE(runError("roi_align", {x, rois, I({1}, {1})}).ok());  // batch index out of range
  // A NaN region samples nothing (0): no undefined float-to-int casts.
  EXPECT_TENSOR(run1("roi_align", {x, F({1, 4}, {std::nan(""), 0, 2, 2}), idx}), DType::F32, Shape({1, 1, 1, 1}), {0});
}

}  // namespace
}  // namespace sy
