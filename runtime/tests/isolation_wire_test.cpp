// The isolation wire (runtime/src/isolation/wire.h): a graph view survives the
// trip to the helper field by field, and a malformed payload is refused, never
// read out of bounds.
#include <gtest/gtest.h>

#include "../src/isolation/wire.h"
#include "switchyard/graph_view.h"
#include "switchyard/text.h"

namespace sy::isolation {
namespace {

std::string flatten(const sy_graph_view& v) {
  Writer w;
  writeGraphView(w, v);
  return w.buffer();
}

std::unique_ptr<Graph> sample() {
  auto g = parseGraph(R"(
graph @cf(%x: f32[N, 2], %n: i64) {
  %t = constant() {value = tensor<bool[]>[true]} : bool[]
  %p = transpose(%x) {perm = [1, 0]} : f32[2, N]
  %h = loop(%n, %t, %x) : f32[N, 2] {
  ^body(%i: i64, %c: bool, %s: f32[N, 2]):
    %a = add(%s, %x) : f32[N, 2]
    %r = tanh(%a) : f32[N, 2]
    %m = reduce_max(%r) {keepdims = 0} : f32[]
    %z = constant() {value = tensor<f32[]>[0.5]} : f32[]
    %k = less(%m, %z) : bool[]
    yield %k, %r
  }
  return %h, %p
}
)");
  EXPECT_TRUE(g.ok()) << g.status().toString();
  return g.ok() ? std::move(*g) : nullptr;
}

TEST(IsolationWire, GraphViewRoundTrips) {
  auto g = sample();
  ASSERT_TRUE(g);
  GraphView original(*g);
  const std::string bytes = flatten(*original.view());
  Reader r(bytes);
  DecodedView decoded;
  std::string error;
  ASSERT_TRUE(decoded.decode(r, error)) << error;
  // Flattening the decoded view gives the same bytes: every field crossed.
  EXPECT_EQ(flatten(*decoded.view()), bytes);
  const sy_graph_view& a = *original.view();
  const sy_graph_view& b = *decoded.view();
  ASSERT_EQ(a.num_values, b.num_values);
  ASSERT_EQ(a.num_nodes, b.num_nodes);
  size_t constants = 0;
  for (size_t i = 0; i < a.num_values; ++i) {
    EXPECT_STREQ(a.values[i].name, b.values[i].name);
    EXPECT_EQ(a.values[i].rank, b.values[i].rank);
    EXPECT_EQ(a.values[i].constant_bytes, b.values[i].constant_bytes);
    if (a.values[i].constant_data) {
      ++constants;
      ASSERT_NE(b.values[i].constant_data, nullptr);
      EXPECT_EQ(std::memcmp(a.values[i].constant_data, b.values[i].constant_data, a.values[i].constant_bytes), 0);
    }
  }
  EXPECT_GE(constants, 2u);  // the two literals, as values or as node outputs
  for (size_t i = 0; i < a.num_nodes; ++i) {
    EXPECT_STREQ(a.nodes[i].op, b.nodes[i].op);
    EXPECT_EQ(a.nodes[i].num_attrs, b.nodes[i].num_attrs);
    EXPECT_EQ(a.nodes[i].num_blocks, b.nodes[i].num_blocks);
  }
}

TEST(IsolationWire, EveryTruncationIsRefused) {
  auto g = sample();
  ASSERT_TRUE(g);
  GraphView original(*g);
  const std::string bytes = flatten(*original.view());
  for (size_t n = 0; n < bytes.size(); ++n) {
    const std::string cut = bytes.substr(0, n);
    Reader r(cut);
    DecodedView decoded;
    std::string error;
    EXPECT_FALSE(decoded.decode(r, error)) << "a prefix of " << n << " of " << bytes.size() << " bytes";
  }
}

TEST(IsolationWire, HugeCountsAreRefusedWithoutAllocating) {
  Writer w;
  w.u64(uint64_t{1} << 60);  // values
  Reader r(w.buffer());
  DecodedView decoded;
  std::string error;
  EXPECT_FALSE(decoded.decode(r, error));
  EXPECT_NE(error.find("value count"), std::string::npos) << error;
}

}  // namespace
}  // namespace sy::isolation
