// The author helpers of switchyard/plugin_helpers.hpp: the broadcast
// iterator against a plain per-element index computation, the matmul shape
// rules against NumPy's, and attrOr on nodes parsed by the core (test only).
#include <gtest/gtest.h>

#include <random>

#include <switchyard/plugin_helpers.hpp>
#include "switchyard/graph_view.h"
#include "switchyard/text.h"

namespace {

namespace sdk = sy::sdk;
using Dims = std::vector<int64_t>;

/// The element of operand `in` (broadcast to `out`) that output element `flat` reads.
int64_t naiveOffset(const Dims& out, const Dims& in, int64_t flat) {
  int64_t offset = 0, stride = 1;
  for (size_t d = out.size(); d-- > 0;) {
    const int64_t coord = flat % out[d];
    flat /= out[d];
    const size_t shift = out.size() - in.size();
    if (d >= shift) {
      const int64_t e = in[d - shift];
      if (e != 1) offset += coord * stride;
      stride *= e;
    }
  }
  return offset;
}

/// Every element the iterator visits, as (out, a, b) offsets, in order.
std::vector<std::array<int64_t, 3>> visit(const Dims& out, const Dims& a, const Dims& b, int64_t* runs = nullptr) {
  std::vector<std::array<int64_t, 3>> seen;
  int64_t n = 0;
  for (sdk::BroadcastIterator<2> it(out, {sdk::ArrayRef<int64_t>(a), sdk::ArrayRef<int64_t>(b)}); !it.done();
       it.next()) {
    ++n;
    EXPECT_TRUE(it.stride(0) == 0 || it.stride(0) == 1);
    EXPECT_TRUE(it.stride(1) == 0 || it.stride(1) == 1);
    for (int64_t i = 0; i < it.length(); ++i) {
      seen.push_back({it.outOffset() + i, it.offset(0) + i * it.stride(0), it.offset(1) + i * it.stride(1)});
    }
  }
  if (runs) *runs = n;
  return seen;
}

void expectMatchesNaive(const Dims& a, const Dims& b) {
  const Dims out = sdk::shapes::broadcastShape(a, b);
  const auto seen = visit(out, a, b);
  int64_t total = 1;
  for (int64_t d : out) total *= d;
  ASSERT_EQ(static_cast<int64_t>(seen.size()), total) << sdk::formatDims(a) << " + " << sdk::formatDims(b);
  for (int64_t i = 0; i < total; ++i) {
    const auto& s = seen[static_cast<size_t>(i)];
    ASSERT_EQ(s[0], i);
    ASSERT_EQ(s[1], naiveOffset(out, a, i)) << sdk::formatDims(a) << " + " << sdk::formatDims(b) << " at " << i;
    ASSERT_EQ(s[2], naiveOffset(out, b, i)) << sdk::formatDims(a) << " + " << sdk::formatDims(b) << " at " << i;
  }
}

TEST(BroadcastIterator, RunsAreAsLongAsTheShapesAllow) {
  int64_t runs = 0;
  visit({4, 5, 6}, {4, 5, 6}, {4, 5, 6}, &runs);
  EXPECT_EQ(runs, 1);  // equal shapes: one run of 120
  visit({7, 8}, {7, 8}, {8}, &runs);
  EXPECT_EQ(runs, 7);  // a row broadcast over 7 rows
  visit({7, 8}, {7, 8}, {}, &runs);
  EXPECT_EQ(runs, 1);  // a scalar: one run, stride 0
  visit({7, 8}, {7, 1}, {7, 8}, &runs);
  EXPECT_EQ(runs, 7);  // a column: 7 runs of 8, the column repeating its element
  visit({2, 1, 3}, {2, 1, 3}, {1, 1, 3}, &runs);
  EXPECT_EQ(runs, 2);  // dims of size 1 do not split runs
  visit({0, 3}, {0, 3}, {3}, &runs);
  EXPECT_EQ(runs, 0);  // nothing to visit
}

TEST(BroadcastIterator, EveryElementMatchesThePlainIndexComputation) {
  expectMatchesNaive({}, {});
  expectMatchesNaive({3}, {});
  expectMatchesNaive({2, 3, 4}, {3, 1});
  expectMatchesNaive({2, 1, 4}, {1, 3, 1});
  expectMatchesNaive({5, 1, 1, 2}, {3, 1, 2});
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const size_t rank = rng() % 5;
    Dims out(rank), a, b;
    for (size_t d = 0; d < rank; ++d) out[d] = 1 + static_cast<int64_t>(rng() % 4);
    const size_t ra = rng() % (rank + 1), rb = rng() % (rank + 1);
    for (size_t d = rank - ra; d < rank; ++d) a.push_back(rng() % 3 == 0 ? 1 : out[d]);
    for (size_t d = rank - rb; d < rank; ++d) b.push_back(rng() % 3 == 0 ? 1 : out[d]);
    expectMatchesNaive(a, b);
  }
}

TEST(BroadcastIterator, ThreeOperands) {
  const Dims out = {2, 3}, a = {2, 1}, b = {3}, c = {2, 3};
  int64_t count = 0;
  for (sdk::BroadcastIterator<3> it(out, {sdk::ArrayRef<int64_t>(a), sdk::ArrayRef<int64_t>(b),
                                          sdk::ArrayRef<int64_t>(c)});
       !it.done(); it.next()) {
    for (int64_t i = 0; i < it.length(); ++i, ++count) {
      EXPECT_EQ(it.offset(0) + i * it.stride(0), naiveOffset(out, a, it.outOffset() + i));
      EXPECT_EQ(it.offset(1) + i * it.stride(1), naiveOffset(out, b, it.outOffset() + i));
      EXPECT_EQ(it.offset(2) + i * it.stride(2), it.outOffset() + i);
    }
  }
  EXPECT_EQ(count, 6);
}

TEST(BroadcastIterator, RejectsShapesThatDoNotBroadcast) {
  const Dims out = {2, 3}, bad = {4}, tooLong = {1, 2, 3};
  EXPECT_THROW((sdk::BroadcastIterator<1>(out, {sdk::ArrayRef<int64_t>(bad)})), sdk::Error);
  EXPECT_THROW((sdk::BroadcastIterator<1>(out, {sdk::ArrayRef<int64_t>(tooLong)})), sdk::Error);
}

TEST(MatmulShape, NumPyRules) {
  sdk::MatmulShape s = sdk::matmulShape(Dims{2, 3}, Dims{3, 4});
  EXPECT_EQ(s.out, (Dims{2, 4}));
  EXPECT_EQ(s.m, 2);
  EXPECT_EQ(s.k, 3);
  EXPECT_EQ(s.n, 4);
  EXPECT_EQ(s.batchCount, 1);

  s = sdk::matmulShape(Dims{3}, Dims{3, 4});  // 1-D a: [1, 3], the 1 dropped
  EXPECT_EQ(s.out, (Dims{4}));
  EXPECT_EQ(s.m, 1);
  s = sdk::matmulShape(Dims{2, 3}, Dims{3});  // 1-D b: [3, 1], the 1 dropped
  EXPECT_EQ(s.out, (Dims{2}));
  EXPECT_EQ(s.n, 1);
  s = sdk::matmulShape(Dims{3}, Dims{3});  // a dot product: a scalar
  EXPECT_EQ(s.out, Dims{});

  // Batch dims broadcast; each side steps through its own matrices.
  s = sdk::matmulShape(Dims{5, 1, 2, 3}, Dims{4, 3, 6});
  EXPECT_EQ(s.out, (Dims{5, 4, 2, 6}));
  EXPECT_EQ(s.batch, (Dims{5, 4}));
  EXPECT_EQ(s.batchCount, 20);
  for (int64_t i = 0; i < 20; ++i) {
    EXPECT_EQ(s.aMatrix(i), i / 4) << i;  // a: [5, 1] -> repeats along the 4
    EXPECT_EQ(s.bMatrix(i), i % 4) << i;  // b: [4] -> repeats along the 5
  }
  s = sdk::matmulShape(Dims{3}, Dims{7, 3, 2});  // 1-D a against a batch
  EXPECT_EQ(s.out, (Dims{7, 2}));
}

TEST(MatmulShape, Errors) {
  EXPECT_THROW(sdk::matmulShape(Dims{2, 3}, Dims{4, 5}), sdk::Error);      // inner dims
  EXPECT_THROW(sdk::matmulShape(Dims{}, Dims{3}), sdk::Error);             // a scalar
  EXPECT_THROW(sdk::matmulShape(Dims{2, 2, 3}, Dims{3, 3, 4}), sdk::Error);  // batch 2 vs 3
  try {
    sdk::matmulShape(Dims{2, 3}, Dims{4, 5});
  } catch (const sdk::Error& e) {
    EXPECT_EQ(e.code(), SY_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos) << e.what();
  }
}

TEST(AttrOr, TypedByTheDefault) {
  auto g = sy::parseGraph(R"(graph @g(%x: f32[2, 3]) {
  %y = leaky_relu(%x) {alpha = 0.25} : f32[2, 3]
  %t = transpose(%y) {perm = [1, 0]} : f32[3, 2]
  %s = softmax(%t) {axis = -1} : f32[3, 2]
  return %s
}
)");
  ASSERT_TRUE(g.ok()) << g.status().toString();
  const sy::GraphView core(**g);
  const sdk::GraphView view(core.view());
  const sdk::NodeView leaky = view.node(0), transpose = view.node(1), softmax = view.node(2);
  EXPECT_FLOAT_EQ(sdk::attrOr(leaky, "alpha", 1.0f), 0.25f);
  EXPECT_DOUBLE_EQ(sdk::attrOr(leaky, "beta", 2.0), 2.0);  // absent: the default
  EXPECT_EQ(sdk::attrOr(transpose, "perm", Dims{}), (Dims{1, 0}));
  EXPECT_EQ(sdk::attrOr(transpose, "missing", Dims{9}), (Dims{9}));
  EXPECT_EQ(sdk::attrOr<int64_t>(softmax, "axis", 1), -1);
  EXPECT_EQ(sdk::attrOr<int32_t>(softmax, "axis", 1), -1);
  EXPECT_EQ(sdk::attrOr(softmax, "mode", "constant"), "constant");
  EXPECT_EQ(sdk::attrOr(softmax, "axis", false), true);
  EXPECT_THROW(sdk::attrOr(leaky, "alpha", std::vector<float>{}), sdk::Error);  // a float is not a list
}

TEST(AttrOr, WrongKindOrRangeNamesTheNode) {
  auto g = sy::parseGraph(R"(graph @g(%x: f32[2, 3]) {
  %s = softmax(%x) {axis = -1} : f32[2, 3] @"sm"
  return %s
}
)");
  ASSERT_TRUE(g.ok()) << g.status().toString();
  const sy::GraphView core(**g);
  const sdk::GraphView view(core.view());
  const sdk::NodeView softmax = view.node(0);
  try {
    sdk::attrOr(softmax, "axis", std::string("x"));
    FAIL() << "expected an error";
  } catch (const sdk::Error& e) {
    EXPECT_NE(std::string(e.what()).find("sm"), std::string::npos) << e.what();
  }
  EXPECT_THROW(sdk::attrOr<uint8_t>(softmax, "axis", 0), sdk::Error);  // -1 does not fit
}

}  // namespace
