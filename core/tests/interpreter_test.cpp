// The reference interpreter on whole graphs: straight-line code, `if`, `loop`
// (carried values, scans, outer-scope capture), symbolic dims, input checks,
// runtime errors that name their node, and inputs left untouched.
#include "switchyard/interpreter.h"

#include <gtest/gtest.h>

#include <string>

#include "switchyard/program.h"
#include "switchyard/text.h"
#include "switchyard/verifier.h"
#include "test_util.h"

#define EXPECT_HAS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "\"" << (text) << "\" lacks \"" << (part) << "\""

namespace sy {
namespace {

using ::sy::testing::B;
using ::sy::testing::F;
using ::sy::testing::I;

/// Parses, verifies and prepares `text`; nullptr (with a test failure) on error.
std::shared_ptr<const Interpreter> makeInterp(std::string_view text) {
  auto g = parseGraph(text);
  EXPECT_TRUE(g.ok()) << g.status().toString();
  if (!g.ok()) return nullptr;
  Status st = verify(**g);
  EXPECT_TRUE(st.ok()) << st.toString();
  if (!st.ok()) return nullptr;
  auto in = Interpreter::create(std::shared_ptr<const Graph>(std::move(*g)));
  EXPECT_TRUE(in.ok()) << in.status().toString();
  return in.ok() ? *in : nullptr;
}

/// Runs and expects success.
std::vector<Tensor> runOk(const Interpreter& in, const std::vector<Tensor>& inputs) {
  auto r = in.run(inputs);
  EXPECT_TRUE(r.ok()) << r.status().toString();
  return r.ok() ? *r : std::vector<Tensor>{};
}

/// Runs and expects failure; returns the message.
std::string runErr(const Interpreter& in, const std::vector<Tensor>& inputs) {
  auto r = in.run(inputs);
  EXPECT_FALSE(r.ok()) << "expected the run to fail";
  return r.ok() ? std::string() : r.status().message();
}

std::vector<Tensor> clones(const std::vector<Tensor>& ts) {
  std::vector<Tensor> out;
  for (const Tensor& t : ts) {
    auto c = t.clone();
    EXPECT_TRUE(c.ok());
    out.push_back(*c);
  }
  return out;
}

void expectBitwiseSame(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i].bitwiseEqual(b[i])) << "input " << i << " changed";
}

// ---------------------------------------------------------------------------
// Straight-line graphs

TEST(InterpreterTest, StraightLineArithmetic) {
  auto in = makeInterp(R"(
graph @g(%x: f32[2, 3], %y: f32[3]) {
  %two = constant() {value = tensor<f32[]>[2.0]} : f32[]
  %s = add(%x, %y) : f32[2, 3]
  %m = mul(%s, %two) : f32[2, 3]
  %r = relu(%m) : f32[2, 3]
  %t = reduce_sum(%r) {axes = [1], keepdims = 0} : f32[2]
  return %r, %t
}
)");
  ASSERT_NE(in, nullptr);
  auto outs = runOk(*in, {F({2, 3}, {1, -2, 3, -4, 5, -6}), F({3}, {1, 1, -1})});
  ASSERT_EQ(outs.size(), 2u);
  // s = [[2, -1, 2], [-3, 6, -7]]; m = 2s; relu
  EXPECT_TENSOR(outs[0], DType::F32, Shape({2, 3}), {4, 0, 4, 0, 12, 0});
  EXPECT_TENSOR(outs[1], DType::F32, Shape({2}), {8, 12});
}

TEST(InterpreterTest, MatmulAndMultipleOutputs) {
  auto in = makeInterp(R"(
graph @g(%a: f32[2, 2], %b: f32[2, 2]) {
  %p = matmul(%a, %b) : f32[2, 2]
  %l, %r = split(%p) {axis = 1} : f32[2, 1], f32[2, 1]
  %d = sub(%l, %r) : f32[2, 1]
  return %d, %p
}
)");
  ASSERT_NE(in, nullptr);
  auto outs = runOk(*in, {F({2, 2}, {1, 2, 3, 4}), F({2, 2}, {5, 6, 7, 8})});
  ASSERT_EQ(outs.size(), 2u);
  // p = [[19, 22], [43, 50]]
  EXPECT_TENSOR(outs[1], DType::F32, Shape({2, 2}), {19, 22, 43, 50});
  EXPECT_TENSOR(outs[0], DType::F32, Shape({2, 1}), {-3, -7});
}

TEST(InterpreterTest, InputReturnedDirectlyAndUnusedInput) {
  auto in = makeInterp(R"(
graph @g(%x: f32[2], %unused: i64) {
  %n = neg(%x) : f32[2]
  return %x, %n, %x
}
)");
  ASSERT_NE(in, nullptr);
  auto outs = runOk(*in, {F({2}, {1.5, -2}), Tensor::scalarI64(7)});
  ASSERT_EQ(outs.size(), 3u);
  EXPECT_TENSOR(outs[0], DType::F32, Shape({2}), {1.5, -2});
  EXPECT_TENSOR(outs[1], DType::F32, Shape({2}), {-1.5, 2});
  EXPECT_TENSOR(outs[2], DType::F32, Shape({2}), {1.5, -2});
}

// ---------------------------------------------------------------------------
// if

constexpr const char* kIfGraph = R"(
graph @g(%c: bool, %x: f32[3]) {
  %one = constant() {value = tensor<f32[]>[1.0]} : f32[]
  %y = if(%c) : f32[3] {
  ^then:
    %a = add(%x, %one) : f32[3]
    yield %a
  ^else:
    %n = neg(%x) : f32[3]
    yield %n
  }
  %z = mul(%y, %x) : f32[3]
  return %y, %z
}
)";

TEST(InterpreterTest, IfTakesThenBranch) {
  auto in = makeInterp(kIfGraph);
  ASSERT_NE(in, nullptr);
  auto outs = runOk(*in, {Tensor::scalarBool(true), F({3}, {1, 2, -3})});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TENSOR(outs[0], DType::F32, Shape({3}), {2, 3, -2});
  EXPECT_TENSOR(outs[1], DType::F32, Shape({3}), {2, 6, 6});
}

TEST(InterpreterTest, IfTakesElseBranch) {
  auto in = makeInterp(kIfGraph);
  ASSERT_NE(in, nullptr);
  auto outs = runOk(*in, {Tensor::scalarBool(false), F({3}, {1, 2, -3})});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TENSOR(outs[0], DType::F32, Shape({3}), {-1, -2, 3});
  EXPECT_TENSOR(outs[1], DType::F32, Shape({3}), {-1, -4, -9});
}

TEST(InterpreterTest, IfYieldingOuterValuesDirectly) {
  auto in = makeInterp(R"(
graph @g(%c: bool, %x: f32[2], %y: f32[2]) {
  %r = if(%c) : f32[2] {
  ^then:
    yield %x
  ^else:
    yield %y
  }
  return %r
}
)");
  ASSERT_NE(in, nullptr);
  EXPECT_TENSOR(runOk(*in, {Tensor::scalarBool(true), F({2}, {1, 2}), F({2}, {3, 4})})[0], DType::F32, Shape({2}),
                {1, 2});
  EXPECT_TENSOR(runOk(*in, {Tensor::scalarBool(false), F({2}, {1, 2}), F({2}, {3, 4})})[0], DType::F32, Shape({2}),
                {3, 4});
}

// ---------------------------------------------------------------------------
// loop

// Sums 1 + 2 + ... + n into %acc (carried) and scans each partial sum.
constexpr const char* kCountLoop = R"(
graph @g(%n: i64, %init: f32[2]) {
  %true = constant() {value = tensor<bool[]>[true]} : bool[]
  %acc, %trace = loop(%n, %true, %init) : f32[2], f32[?, 2] {
  ^body(%i: i64, %c: bool, %s: f32[2]):
    %one = constant() {value = tensor<i64[]>[1]} : i64[]
    %k = add(%i, %one) : i64[]
    %kf = cast(%k) {to = "f32"} : f32[]
    %next = add(%s, %kf) : f32[2]
    yield %c, %next, %next
  }
  return %acc, %trace
}
)";

TEST(InterpreterTest, LoopZeroIterations) {
  auto in = makeInterp(kCountLoop);
  ASSERT_NE(in, nullptr);
  auto outs = runOk(*in, {Tensor::scalarI64(0), F({2}, {10, 20})});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TENSOR(outs[0], DType::F32, Shape({2}), {10, 20});
  EXPECT_TENSOR(outs[1], DType::F32, Shape({0, 2}), {});
}

TEST(InterpreterTest, LoopOneIteration) {
  auto in = makeInterp(kCountLoop);
  ASSERT_NE(in, nullptr);
  auto outs = runOk(*in, {Tensor::scalarI64(1), F({2}, {10, 20})});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TENSOR(outs[0], DType::F32, Shape({2}), {11, 21});
  EXPECT_TENSOR(outs[1], DType::F32, Shape({1, 2}), {11, 21});
}

TEST(InterpreterTest, LoopManyIterationsStacksScans) {
  auto in = makeInterp(kCountLoop);
  ASSERT_NE(in, nullptr);
  auto outs = runOk(*in, {Tensor::scalarI64(4), F({2}, {0, 100})});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TENSOR(outs[0], DType::F32, Shape({2}), {10, 110});
  EXPECT_TENSOR(outs[1], DType::F32, Shape({4, 2}), {1, 101, 3, 103, 6, 106, 10, 110});
}

// Runs while i + 1 < limit; the trip count is an input.
constexpr const char* kWhileLoop = R"(
graph @g(%trip: i64, %limit: i64) {
  %true = constant() {value = tensor<bool[]>[true]} : bool[]
  %zero = constant() {value = tensor<i64[]>[0]} : i64[]
  %count, %is = loop(%trip, %true, %zero) : i64[], i64[?] {
  ^body(%i: i64, %c: bool, %n: i64[]):
    %one = constant() {value = tensor<i64[]>[1]} : i64[]
    %n1 = add(%n, %one) : i64[]
    %i1 = add(%i, %one) : i64[]
    %go = less(%i1, %limit) : bool[]
    yield %go, %n1, %i
  }
  return %count, %is
}
)";

TEST(InterpreterTest, LoopConditionTurnsFalse) {
  auto in = makeInterp(kWhileLoop);
  ASSERT_NE(in, nullptr);
  // The trip count (10) is not reached: the condition stops it after 3 iterations.
  auto outs = runOk(*in, {Tensor::scalarI64(10), Tensor::scalarI64(3)});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TENSOR(outs[0], DType::I64, Shape({}), {3});
  EXPECT_TENSOR(outs[1], DType::I64, Shape({3}), {0, 1, 2});
  // The trip count stops it first.
  outs = runOk(*in, {Tensor::scalarI64(2), Tensor::scalarI64(3)});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TENSOR(outs[0], DType::I64, Shape({}), {2});
  EXPECT_TENSOR(outs[1], DType::I64, Shape({2}), {0, 1});
}

TEST(InterpreterTest, LoopNegativeTripCountRunsUntilConditionFalse) {
  auto in = makeInterp(kWhileLoop);
  ASSERT_NE(in, nullptr);
  auto outs = runOk(*in, {Tensor::scalarI64(-1), Tensor::scalarI64(7)});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TENSOR(outs[0], DType::I64, Shape({}), {7});
  EXPECT_TENSOR(outs[1], DType::I64, Shape({7}), {0, 1, 2, 3, 4, 5, 6});
}

TEST(InterpreterTest, LoopInitialConditionFalseRunsNothing) {
  auto in = makeInterp(R"(
graph @g(%c0: bool, %x: f32[2]) {
  %trip = constant() {value = tensor<i64[]>[5]} : i64[]
  %y, %ys = loop(%trip, %c0, %x) : f32[2], f32[?, 2] {
  ^body(%i: i64, %c: bool, %s: f32[2]):
    %d = add(%s, %s) : f32[2]
    yield %c, %d, %d
  }
  return %y, %ys
}
)");
  ASSERT_NE(in, nullptr);
  auto outs = runOk(*in, {Tensor::scalarBool(false), F({2}, {1, 2})});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TENSOR(outs[0], DType::F32, Shape({2}), {1, 2});
  EXPECT_TENSOR(outs[1], DType::F32, Shape({0, 2}), {});
  outs = runOk(*in, {Tensor::scalarBool(true), F({2}, {1, 2})});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TENSOR(outs[0], DType::F32, Shape({2}), {32, 64});
  EXPECT_TENSOR(outs[1], DType::F32, Shape({5, 2}), {2, 4, 4, 8, 8, 16, 16, 32, 32, 64});
}

TEST(InterpreterTest, LoopSeveralCarriedValues) {
  // Fibonacci: (a, b) -> (b, a + b).
  auto in = makeInterp(R"(
graph @g(%n: i64) {
  %true = constant() {value = tensor<bool[]>[true]} : bool[]
  %a0 = constant() {value = tensor<i64[]>[0]} : i64[]
  %b0 = constant() {value = tensor<i64[]>[1]} : i64[]
  %a, %b = loop(%n, %true, %a0, %b0) : i64[], i64[] {
  ^body(%i: i64, %c: bool, %x: i64[], %y: i64[]):
    %s = add(%x, %y) : i64[]
    yield %c, %y, %s
  }
  return %a, %b
}
)");
  ASSERT_NE(in, nullptr);
  auto outs = runOk(*in, {Tensor::scalarI64(10)});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TENSOR(outs[0], DType::I64, Shape({}), {55});
  EXPECT_TENSOR(outs[1], DType::I64, Shape({}), {89});
}

TEST(InterpreterTest, OuterScopeCaptureInLoopAndInIfInsideLoop) {
  // %w and %x are defined outside the loop and used inside its body and inside
  // an `if` nested in the body. Odd iterations add %w, even ones subtract %x.
  auto in = makeInterp(R"(
graph @g(%n: i64, %x: f32[2], %w: f32[2]) {
  %true = constant() {value = tensor<bool[]>[true]} : bool[]
  %two = constant() {value = tensor<i64[]>[2]} : i64[]
  %zero = constant() {value = tensor<i64[]>[0]} : i64[]
  %scale = constant() {value = tensor<f32[]>[10.0]} : f32[]
  %wx = mul(%w, %scale) : f32[2]
  %out, %seen = loop(%n, %true, %x) : f32[2], f32[?, 2] {
  ^body(%i: i64, %c: bool, %s: f32[2]):
    %r = mod(%i, %two) : i64[]
    %even = equal(%r, %zero) : bool[]
    %next = if(%even) : f32[2] {
    ^then:
      %t = sub(%s, %x) : f32[2]
      yield %t
    ^else:
      %e = add(%s, %wx) : f32[2]
      yield %e
    }
    %sw = add(%next, %w) : f32[2]
    yield %c, %next, %sw
  }
  return %out, %seen
}
)");
  ASSERT_NE(in, nullptr);
  auto outs = runOk(*in, {Tensor::scalarI64(3), F({2}, {1, 2}), F({2}, {0.5, -1})});
  ASSERT_EQ(outs.size(), 2u);
  // i=0: s = [1,2] - [1,2] = [0,0]; i=1: s = [0,0] + [5,-10] = [5,-10]; i=2: s = [5,-10] - [1,2] = [4,-12]
  EXPECT_TENSOR(outs[0], DType::F32, Shape({2}), {4, -12});
  EXPECT_TENSOR(outs[1], DType::F32, Shape({3, 2}), {0.5, -1, 5.5, -11, 4.5, -13});
}

TEST(InterpreterTest, NestedLoops) {
  // sum over i < n, j < m of 1 = n * m, with the inner trip count captured from outside.
  auto in = makeInterp(R"(
graph @g(%n: i64, %m: i64) {
  %true = constant() {value = tensor<bool[]>[true]} : bool[]
  %zero = constant() {value = tensor<i64[]>[0]} : i64[]
  %one = constant() {value = tensor<i64[]>[1]} : i64[]
  %total = loop(%n, %true, %zero) : i64[] {
  ^body(%i: i64, %c: bool, %acc: i64[]):
    %inner = loop(%m, %true, %acc) : i64[] {
    ^body(%j: i64, %c2: bool, %a: i64[]):
      %a1 = add(%a, %one) : i64[]
      yield %c2, %a1
    }
    yield %c, %inner
  }
  return %total
}
)");
  ASSERT_NE(in, nullptr);
  EXPECT_TENSOR(runOk(*in, {Tensor::scalarI64(3), Tensor::scalarI64(4)})[0], DType::I64, Shape({}), {12});
  EXPECT_TENSOR(runOk(*in, {Tensor::scalarI64(0), Tensor::scalarI64(4)})[0], DType::I64, Shape({}), {0});
  EXPECT_TENSOR(runOk(*in, {Tensor::scalarI64(5), Tensor::scalarI64(0)})[0], DType::I64, Shape({}), {0});
}

TEST(InterpreterTest, ZeroIterationScanUsesBoundSymbolicDims) {
  // The scan element is f32[B, 4]; with no iterations the stacked result must
  // still be [0, B, 4] with B as bound by the inputs.
  auto g = loadProgram(std::string(SY_SOURCE_DIR) + "/examples/recurrent.sy");
  ASSERT_TRUE(g.ok()) << g.status().toString();
  auto in = Interpreter::create(std::shared_ptr<const Graph>(std::move(*g)));
  ASSERT_TRUE(in.ok()) << in.status().toString();
  auto x = F({3, 4}, {1, -1, 2, 0, 0.5, 0.25, -2, 1, 0, 0, 0, 1});
  auto outs = runOk(**in, {x, Tensor::scalarI64(0)});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[1].shape(), Shape({0, 3, 4}));
  // h = x; sum(x) = 3.5 > 0 -> relu(x).
  EXPECT_TENSOR(outs[0], DType::F32, Shape({3, 4}), {1, 0, 2, 0, 0.5, 0.25, 0, 1, 0, 0, 0, 1});
  outs = runOk(**in, {x, Tensor::scalarI64(3)});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[1].shape(), Shape({3, 3, 4}));
}

TEST(InterpreterTest, ZeroIterationScanShapeFromTheBodyWhenDeclaredOpen) {
  // The scan output is declared f32[*] and the body's value f32[?, ?]: the
  // element shape [B, 3] still follows from the body's ops (exp of the
  // carried f32[B, 3]), so zero iterations give [0, B, 3].
  auto in = makeInterp(R"(
graph @g(%n: i64, %x: f32[B, 3]) {
  %true = constant() {value = tensor<bool[]>[true]} : bool[]
  %last, %all = loop(%n, %true, %x) : f32[B, 3], f32[*] {
  ^body(%i: i64, %c: bool, %s: f32[B, 3]):
    %e = exp(%s) : f32[?, ?]
    yield %c, %s, %e
  }
  return %last, %all
}
)");
  ASSERT_NE(in, nullptr);
  auto outs = runOk(*in, {Tensor::scalarI64(0), F({2, 3}, {0, 0, 0, 0, 0, 0})});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[1].shape(), Shape({0, 2, 3}));
  outs = runOk(*in, {Tensor::scalarI64(2), F({2, 3}, {0, 0, 0, 0, 0, 0})});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TENSOR(outs[1], DType::F32, Shape({2, 2, 3}), std::vector<double>(12, 1.0));
}

TEST(InterpreterTest, ScanOfScalarsAndOfValuesDefinedOutside) {
  // Scans may yield a scalar (stacked to rank 1) or a value captured from outside.
  auto in = makeInterp(R"(
graph @g(%n: i64, %k: f32[2]) {
  %true = constant() {value = tensor<bool[]>[true]} : bool[]
  %is, %ks = loop(%n, %true) : i64[?], f32[?, 2] {
  ^body(%i: i64, %c: bool):
    yield %c, %i, %k
  }
  return %is, %ks
}
)");
  ASSERT_NE(in, nullptr);
  auto outs = runOk(*in, {Tensor::scalarI64(3), F({2}, {7, 8})});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TENSOR(outs[0], DType::I64, Shape({3}), {0, 1, 2});
  EXPECT_TENSOR(outs[1], DType::F32, Shape({3, 2}), {7, 8, 7, 8, 7, 8});
  outs = runOk(*in, {Tensor::scalarI64(0), F({2}, {7, 8})});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TENSOR(outs[0], DType::I64, Shape({0}), {});
  EXPECT_TENSOR(outs[1], DType::F32, Shape({0, 2}), {});
}

// ---------------------------------------------------------------------------
// Symbolic dims

TEST(InterpreterTest, SymbolicDimsBoundPerRun) {
  auto in = makeInterp(R"(
graph @g(%x: f32[N, 2], %b: f32[2]) {
  %y = add(%x, %b) : f32[N, 2]
  %s = reduce_sum(%y) {axes = [0], keepdims = 0} : f32[2]
  return %y, %s
}
)");
  ASSERT_NE(in, nullptr);
  auto outs = runOk(*in, {F({1, 2}, {1, 2}), F({2}, {10, 20})});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TENSOR(outs[0], DType::F32, Shape({1, 2}), {11, 22});
  EXPECT_TENSOR(outs[1], DType::F32, Shape({2}), {11, 22});
  outs = runOk(*in, {F({5, 2}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}), F({2}, {10, 20})});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TENSOR(outs[0], DType::F32, Shape({5, 2}), {11, 22, 13, 24, 15, 26, 17, 28, 19, 30});
  EXPECT_TENSOR(outs[1], DType::F32, Shape({2}), {75, 130});
  // And N = 1 again after N = 5: nothing is remembered between runs.
  outs = runOk(*in, {F({1, 2}, {0, 0}), F({2}, {1, 1})});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TENSOR(outs[0], DType::F32, Shape({1, 2}), {1, 1});
}

TEST(InterpreterTest, MlpExampleOnBatchOneAndFive) {
  auto g = loadProgram(std::string(SY_SOURCE_DIR) + "/examples/mlp.sy");
  ASSERT_TRUE(g.ok()) << g.status().toString();
  auto in = Interpreter::create(std::shared_ptr<const Graph>(std::move(*g)));
  ASSERT_TRUE(in.ok()) << in.status().toString();
  std::vector<double> row{0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8};
  auto one = runOk(**in, {F({1, 8}, row)});
  ASSERT_EQ(one.size(), 1u);
  ASSERT_EQ(one[0].shape(), Shape({1, 4}));
  std::vector<double> five;
  for (int r = 0; r < 5; ++r) five.insert(five.end(), row.begin(), row.end());
  auto outs = runOk(**in, {F({5, 8}, five)});
  ASSERT_EQ(outs.size(), 1u);
  ASSERT_EQ(outs[0].shape(), Shape({5, 4}));
  for (int r = 0; r < 5; ++r) {
    double sum = 0;
    for (int c = 0; c < 4; ++c) {
      // Every row is the same input: same output as the batch of one.
      EXPECT_FLOAT_EQ(outs[0].getDouble(r * 4 + c), one[0].getDouble(c));
      sum += outs[0].getDouble(r * 4 + c);
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);  // softmax rows
  }
}

// ---------------------------------------------------------------------------
// Input errors

constexpr const char* kTwoInputs = R"(
graph @two(%x: f32[N, 3], %y: f32[N, 3]) {
  %z = add(%x, %y) : f32[N, 3]
  return %z
}
)";

TEST(InterpreterTest, WrongInputCount) {
  auto in = makeInterp(kTwoInputs);
  ASSERT_NE(in, nullptr);
  const std::string msg = runErr(*in, {F({1, 3}, {1, 2, 3})});
  EXPECT_HAS(msg, ("takes 2 inputs, got 1"));
  EXPECT_HAS(msg, ("two"));
}

TEST(InterpreterTest, WrongDtype) {
  auto in = makeInterp(kTwoInputs);
  ASSERT_NE(in, nullptr);
  const std::string msg = runErr(*in, {F({1, 3}, {1, 2, 3}), I({1, 3}, {1, 2, 3})});
  EXPECT_HAS(msg, ("%y"));
  EXPECT_HAS(msg, ("dtype i64, expected f32"));
}

TEST(InterpreterTest, WrongRank) {
  auto in = makeInterp(kTwoInputs);
  ASSERT_NE(in, nullptr);
  const std::string msg = runErr(*in, {F({3}, {1, 2, 3}), F({1, 3}, {1, 2, 3})});
  EXPECT_HAS(msg, ("%x"));
  EXPECT_HAS(msg, ("rank 1"));
  EXPECT_HAS(msg, ("rank 2"));
}

TEST(InterpreterTest, StaticDimMismatch) {
  auto in = makeInterp(kTwoInputs);
  ASSERT_NE(in, nullptr);
  const std::string msg = runErr(*in, {F({1, 2}, {1, 2}), F({1, 3}, {1, 2, 3})});
  EXPECT_HAS(msg, ("%x"));
  EXPECT_HAS(msg, ("[1, 2]"));
  EXPECT_HAS(msg, ("dimension 1 must be 3"));
}

TEST(InterpreterTest, SymbolBoundToTwoSizes) {
  auto in = makeInterp(kTwoInputs);
  ASSERT_NE(in, nullptr);
  const std::string msg = runErr(*in, {F({2, 3}, {1, 2, 3, 4, 5, 6}), F({1, 3}, {1, 2, 3})});
  EXPECT_HAS(msg, ("%y"));
  EXPECT_HAS(msg, ("N is 2 elsewhere"));
}

TEST(InterpreterTest, InvalidInputTensor) {
  auto in = makeInterp(kTwoInputs);
  ASSERT_NE(in, nullptr);
  const std::string msg = runErr(*in, {F({1, 3}, {1, 2, 3}), Tensor()});
  EXPECT_HAS(msg, ("%y"));
  EXPECT_HAS(msg, ("missing"));
}

TEST(InterpreterTest, ScalarInputAcceptsRankZeroOnly) {
  auto in = makeInterp(kWhileLoop);
  ASSERT_NE(in, nullptr);
  const std::string msg = runErr(*in, {I({1}, {3}), Tensor::scalarI64(3)});
  EXPECT_HAS(msg, ("%trip"));
}

// ---------------------------------------------------------------------------
// Runtime errors name the node

TEST(InterpreterTest, IntegerDivisionByZeroNamesNode) {
  auto in = makeInterp(R"(
graph @g(%a: i64[2], %b: i64[2]) {
  %q = div(%a, %b) : i64[2]
  return %q
}
)");
  ASSERT_NE(in, nullptr);
  EXPECT_TENSOR(runOk(*in, {I({2}, {7, -7}), I({2}, {2, 2})})[0], DType::I64, Shape({2}), {3, -3});
  const std::string msg = runErr(*in, {I({2}, {7, 1}), I({2}, {2, 0})});
  EXPECT_HAS(msg, ("'div' node %q"));
  EXPECT_HAS(msg, ("division by zero"));
}

TEST(InterpreterTest, GatherIndexOutOfRangeNamesNode) {
  auto in = makeInterp(R"(
graph @g(%d: f32[3], %i: i64[2]) {
  %picked = gather(%d, %i) {axis = 0} : f32[2]
  return %picked
}
)");
  ASSERT_NE(in, nullptr);
  EXPECT_TENSOR(runOk(*in, {F({3}, {10, 20, 30}), I({2}, {2, -3})})[0], DType::F32, Shape({2}), {30, 10});
  const std::string msg = runErr(*in, {F({3}, {10, 20, 30}), I({2}, {0, 3})});
  EXPECT_HAS(msg, ("'gather' node %picked"));
  EXPECT_HAS(msg, ("out of range"));
}

TEST(InterpreterTest, ReshapeToImpossibleRuntimeShapeNamesNode) {
  auto in = makeInterp(R"(
graph @g(%x: f32[2, 3], %s: i64[2]) {
  %r = reshape(%x, %s) : f32[?, ?]
  return %r
}
)");
  ASSERT_NE(in, nullptr);
  EXPECT_EQ(runOk(*in, {F({2, 3}, {1, 2, 3, 4, 5, 6}), I({2}, {3, 2})})[0].shape(), Shape({3, 2}));
  const std::string msg = runErr(*in, {F({2, 3}, {1, 2, 3, 4, 5, 6}), I({2}, {4, 2})});
  EXPECT_HAS(msg, ("'reshape' node %r"));
}

TEST(InterpreterTest, ErrorInsideLoopBodyNamesNodeLoopAndIteration) {
  auto in = makeInterp(R"(
graph @g(%n: i64, %x: i64[2]) {
  %true = constant() {value = tensor<bool[]>[true]} : bool[]
  %one = constant() {value = tensor<i64[]>[1]} : i64[]
  %out = loop(%n, %true, %x) : i64[2] {
  ^body(%i: i64, %c: bool, %s: i64[2]):
    %d = sub(%s, %one) : i64[2]
    %q = div(%x, %d) : i64[2]
    yield %c, %d
  }
  return %out
}
)");
  ASSERT_NE(in, nullptr);
  // x = [3, 5]: d = [2, 4], [1, 3], [0, 2] -> division by zero in iteration 2.
  const std::string msg = runErr(*in, {Tensor::scalarI64(5), I({2}, {3, 5})});
  EXPECT_HAS(msg, ("'div' node %q"));
  EXPECT_HAS(msg, ("'loop' node %out"));
  EXPECT_HAS(msg, ("iteration 2"));
  EXPECT_HAS(msg, ("division by zero"));
}

TEST(InterpreterTest, LoopConditionWithSeveralElementsIsAnError) {
  auto in = makeInterp(R"(
graph @g(%x: f32[?]) {
  %trip = constant() {value = tensor<i64[]>[4]} : i64[]
  %true = constant() {value = tensor<bool[]>[true]} : bool[]
  %zero = constant() {value = tensor<f32[]>[0.0]} : f32[]
  %out = loop(%trip, %true, %x) : f32[?] {
  ^body(%i: i64, %c: bool, %s: f32[?]):
    %go = greater(%s, %zero) : bool[?]
    yield %go, %s
  }
  return %out
}
)");
  ASSERT_NE(in, nullptr);
  // One element: fine (runs until the trip count).
  EXPECT_TENSOR(runOk(*in, {F({1}, {1})})[0], DType::F32, Shape({1}), {1});
  const std::string msg = runErr(*in, {F({2}, {1, 2})});
  EXPECT_HAS(msg, ("'loop' node %out"));
  EXPECT_HAS(msg, ("condition"));
  EXPECT_HAS(msg, ("one element"));
}

TEST(InterpreterTest, IfConditionWithSeveralElementsIsAnError) {
  auto in = makeInterp(R"(
graph @g(%c: bool[?], %x: f32[2]) {
  %y = if(%c) : f32[2] {
  ^then:
    yield %x
  ^else:
    %n = neg(%x) : f32[2]
    yield %n
  }
  return %y
}
)");
  ASSERT_NE(in, nullptr);
  const std::string msg = runErr(*in, {B({2}, {1, 0}), F({2}, {1, 2})});
  EXPECT_HAS(msg, ("'if' node %y"));
  EXPECT_HAS(msg, ("one element"));
}

// ---------------------------------------------------------------------------
// Inputs are never modified

TEST(InterpreterTest, InputsUnchangedAfterSuccessAndFailure) {
  auto in = makeInterp(R"(
graph @g(%x: f32[2, 3], %s: i64[2], %n: i64) {
  %true = constant() {value = tensor<bool[]>[true]} : bool[]
  %r = reshape(%x, %s) : f32[?, ?]
  %e = exp(%x) : f32[2, 3]
  %acc, %tr = loop(%n, %true, %x) : f32[2, 3], f32[?, 2, 3] {
  ^body(%i: i64, %c: bool, %v: f32[2, 3]):
    %d = add(%v, %v) : f32[2, 3]
    yield %c, %d, %v
  }
  %flat = reshape(%acc, %s) : f32[?, ?]
  return %r, %e, %acc, %tr, %flat, %x
}
)");
  ASSERT_NE(in, nullptr);
  std::vector<Tensor> inputs{F({2, 3}, {1, 2, 3, 4, 5, 6}), I({2}, {3, 2}), Tensor::scalarI64(3)};
  const std::vector<Tensor> before = clones(inputs);
  auto outs = runOk(*in, inputs);
  ASSERT_EQ(outs.size(), 6u);
  EXPECT_TENSOR(outs[2], DType::F32, Shape({2, 3}), {8, 16, 24, 32, 40, 48});
  expectBitwiseSame(inputs, before);
  // The outputs may share storage with the inputs (%x, reshapes), but writing
  // is never done to them: run again and compare.
  auto again = runOk(*in, inputs);
  ASSERT_EQ(again.size(), 6u);
  for (size_t i = 0; i < outs.size(); ++i) EXPECT_TRUE(outs[i].bitwiseEqual(again[i])) << "output " << i;
  expectBitwiseSame(inputs, before);

  // A failing run (bad reshape) leaves them unchanged too.
  std::vector<Tensor> bad{inputs[0], I({2}, {4, 4}), inputs[2]};
  const std::vector<Tensor> badBefore = clones(bad);
  runErr(*in, bad);
  expectBitwiseSame(bad, badBefore);
  expectBitwiseSame(inputs, before);
}

// ---------------------------------------------------------------------------
// Run by name

TEST(InterpreterTest, RunByName) {
  auto in = makeInterp(kTwoInputs);
  ASSERT_NE(in, nullptr);
  std::map<std::string, Tensor> named{{"y", F({1, 3}, {10, 20, 30})}, {"x", F({1, 3}, {1, 2, 3})}};
  auto r = in->run(named);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_TENSOR((*r)[0], DType::F32, Shape({1, 3}), {11, 22, 33});
}

TEST(InterpreterTest, RunByNameMissingInput) {
  auto in = makeInterp(kTwoInputs);
  ASSERT_NE(in, nullptr);
  auto r = in->run(std::map<std::string, Tensor>{{"x", F({1, 3}, {1, 2, 3})}});
  ASSERT_FALSE(r.ok());
  EXPECT_HAS(r.status().message(), ("missing input 'y'"));
}

TEST(InterpreterTest, RunByNameUnknownInput) {
  auto in = makeInterp(kTwoInputs);
  ASSERT_NE(in, nullptr);
  auto r = in->run(std::map<std::string, Tensor>{
      {"x", F({1, 3}, {1, 2, 3})}, {"y", F({1, 3}, {1, 2, 3})}, {"bogus", F({1}, {0})}});
  ASSERT_FALSE(r.ok());
  EXPECT_HAS(r.status().message(), ("no input named 'bogus'"));
  // A name that exists in the graph but is not an input is unknown too.
  r = in->run(std::map<std::string, Tensor>{{"x", F({1, 3}, {1, 2, 3})}, {"y", F({1, 3}, {1, 2, 3})},
                                            {"z", F({1, 3}, {1, 2, 3})}});
  ASSERT_FALSE(r.ok());
  EXPECT_HAS(r.status().message(), ("no input named 'z'"));
}

// ---------------------------------------------------------------------------
// create

TEST(InterpreterTest, CreateFailsWhenWeightsAreNotAttached) {
  auto g = parseGraph(R"(
graph @g(%x: f32[2]) {
  %w = weight() {name = "layer.w"} : f32[2]
  %y = add(%x, %w) : f32[2]
  return %y
}
)");
  ASSERT_TRUE(g.ok()) << g.status().toString();
  auto in = Interpreter::create(std::shared_ptr<const Graph>(std::move(*g)));
  ASSERT_FALSE(in.ok());
  EXPECT_HAS(in.status().message(), ("layer.w"));
  EXPECT_HAS(in.status().message(), ("not loaded"));
}

TEST(InterpreterTest, CreateRejectsNullAndInvalidGraphs) {
  auto none = Interpreter::create(nullptr);
  EXPECT_FALSE(none.ok());
  auto g = parseGraph(R"(
graph @g(%x: f32[2]) {
  %y = relu(%x) : f32[3]
  return %y
}
)");
  ASSERT_TRUE(g.ok()) << g.status().toString();
  auto in = Interpreter::create(std::shared_ptr<const Graph>(std::move(*g)));
  ASSERT_FALSE(in.ok());
  EXPECT_HAS(in.status().message(), ("'relu' node %y"));
}


// ---------------------------------------------------------------------------
// Memory budget (issue #12): scan outputs grow in one buffer charged to the
// run's budget; exceeding it is an error naming the loop, never an abort.

// Scans i64[4] per iteration until the trip count (negative = no limit).
constexpr const char* kScanLoop = R"(
graph @g(%trip: i64) {
  %true = constant() {value = tensor<bool[]>[true]} : bool[]
  %row = constant() {value = tensor<i64[4]>[1, 2, 3, 4]} : i64[4]
  %last, %rows = loop(%trip, %true, %row) : i64[4], i64[?, 4] {
  ^body(%i: i64, %c: bool, %r: i64[4]):
    %r1 = add(%r, %i) : i64[4]
    yield %c, %r1, %r1
  }
  return %last, %rows
}
)";

std::shared_ptr<const Interpreter> scanInterp(uint64_t budget) {
  auto g = parseGraph(kScanLoop);
  EXPECT_TRUE(g.ok()) << g.status().toString();
  if (!g.ok()) return nullptr;
  auto in = Interpreter::create(std::shared_ptr<const Graph>(std::move(*g)), budget);
  EXPECT_TRUE(in.ok()) << in.status().toString();
  return in.ok() ? *in : nullptr;
}

TEST(InterpreterTest, UnboundedLoopWithAScanStopsAtTheMemoryBudget) {
  // No trip limit and a condition that stays true: before, this grew one heap
  // tensor per iteration until the process aborted.
  auto in = scanInterp(1u << 20);
  ASSERT_NE(in, nullptr);
  auto r = in->run(std::vector<Tensor>{Tensor::scalarI64(-1)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << r.status().toString();
  EXPECT_HAS(r.status().message(), "'loop' node %last");
  EXPECT_HAS(r.status().message(), "scan output 0");
  EXPECT_HAS(r.status().message(), "memory budget (1048576 bytes");
  EXPECT_HAS(r.status().message(), "memory_budget");
}

TEST(InterpreterTest, ScanOutputIsOneBufferWithinTheBudget) {
  // 50000 iterations of i64[4] = 1.6 MB of results. One heap tensor per
  // iteration (plus the final copy) needed several times that; the growing
  // buffer fits a budget of 1.5x the result and is handed over without a copy.
  constexpr int64_t kIters = 50000;
  constexpr uint64_t kResult = kIters * 4 * sizeof(int64_t);
  auto in = scanInterp(kResult + kResult / 2);
  ASSERT_NE(in, nullptr);
  auto r = in->run(std::vector<Tensor>{Tensor::scalarI64(kIters)});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  const Tensor& rows = (*r)[1];
  ASSERT_EQ(rows.shape(), Shape({kIters, 4}));
  // Row k is [1, 2, 3, 4] + (0 + 1 + ... + k).
  for (int64_t k : {int64_t{0}, int64_t{1}, int64_t{1000}, kIters - 1})
    EXPECT_EQ(rows.getInt(4 * k + 3), 4 + k * (k + 1) / 2) << k;
  // Half the result does not fit.
  in = scanInterp(kResult / 2);
  ASSERT_NE(in, nullptr);
  const std::string msg = runErr(*in, {Tensor::scalarI64(kIters)});
  EXPECT_HAS(msg, "exceeds the run's memory budget");
  // Each run has a budget of its own: the same interpreter runs the loop again
  // and again although the results of earlier runs are still alive.
  in = scanInterp(kResult + kResult / 2);
  std::vector<std::vector<Tensor>> kept;
  for (int round = 0; round < 3; ++round) {
    auto again = in->run(std::vector<Tensor>{Tensor::scalarI64(kIters)});
    ASSERT_TRUE(again.ok()) << round << ": " << again.status().toString();
    kept.push_back(*again);
  }
}

}  // namespace
}  // namespace sy
