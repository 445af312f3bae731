// `if` and `loop` inside a cpu region (Note [Control flow in a region] in
// src/control_flow.cpp): the plugin takes them whole, so each of these graphs
// is one cpu region, and its results match the reference interpreter: loops
// of 0, 1 and many iterations, scan outputs, captured values, nested
// if-in-loop, loop-in-if and loop-in-loop, carried values whose shape changes,
// oneDNN steps (blocked layouts) inside a loop body, errors, and several
// threads running one compiled region.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>
#include <thread>

#include "cpu_step_test_util.h"
#include "switchyard/engine.h"
#include "switchyard/interpreter.h"
#include "switchyard/npy.h"
#include "switchyard/text.h"
#include "test_util.h"
#ifdef SY_CPU_TEST_HAVE_ONNX
#include "switchyard/onnx_import.h"
#endif

namespace sy {
namespace {

using cpu_test::cpuEngine;

std::shared_ptr<const Graph> parse(const std::string& text) {
  auto g = parseGraph(text);
  EXPECT_TRUE(g.ok()) << g.status().toString() << "\n" << text;
  return g.ok() ? std::shared_ptr<const Graph>(std::move(*g)) : nullptr;
}

Tensor randomF(Shape shape, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(-1, 1);
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = dist(gen);
  return testing::F(std::move(shape), v);
}

std::vector<Tensor> reference(const std::shared_ptr<const Graph>& g, const std::vector<Tensor>& inputs) {
  auto interp = Interpreter::create(g);
  EXPECT_TRUE(interp.ok()) << interp.status().toString();
  if (!interp.ok()) return {};
  auto want = (*interp)->run(inputs);
  EXPECT_TRUE(want.ok()) << want.status().toString();
  return want.ok() ? *want : std::vector<Tensor>{};
}

/// "" when `got` matches `want` (same shapes and dtypes, values within tol).
std::string compare(const std::vector<Tensor>& got, const std::vector<Tensor>& want, double tol = 1e-5) {
  if (got.size() != want.size()) return "output count " + std::to_string(got.size()) + " vs " + std::to_string(want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].shape() != want[i].shape() || got[i].dtype() != want[i].dtype())
      return "output " + std::to_string(i) + ": " + got[i].typeString() + " vs " + want[i].typeString();
    for (int64_t j = 0; j < got[i].numel(); ++j) {
      const double g = got[i].getDouble(j), w = want[i].getDouble(j);
      if (std::fabs(g - w) > tol * (1 + std::fabs(w)))
        return "output " + std::to_string(i) + " element " + std::to_string(j) + ": " + std::to_string(g) + " vs " +
               std::to_string(w);
    }
  }
  return "";
}

/// Compiles `text` on cpu alone (no fallback), checks that it is ONE cpu region.
std::shared_ptr<const CompiledModel> compileOneRegion(const Engine& engine, const std::shared_ptr<const Graph>& g) {
  auto model = engine.compile(g);
  EXPECT_TRUE(model.ok()) << model.status().toString();
  if (!model.ok()) return nullptr;
  const PartitionPlan& plan = (*model)->plan();
  EXPECT_EQ(plan.regions.size(), 1u) << plan.toTable(true);
  for (const auto& r : plan.regions) EXPECT_EQ(r.backend, "cpu") << plan.toTable(true);
  return *model;
}

/// Runs `text` as one cpu region on each input set and compares with the reference.
void check(const std::string& text, const std::vector<std::vector<Tensor>>& inputSets, double tol = 1e-5) {
  auto engine = cpuEngine();
  ASSERT_NE(engine, nullptr);
  auto g = parse(text);
  ASSERT_NE(g, nullptr);
  auto model = compileOneRegion(*engine, g);
  ASSERT_NE(model, nullptr);
  // Twice each, so that the second run of a set uses the pooled memory.
  for (int round = 0; round < 2; ++round) {
    for (size_t s = 0; s < inputSets.size(); ++s) {
      auto outs = model->run(inputSets[s]);
      ASSERT_TRUE(outs.ok()) << "input set " << s << ": " << outs.status().toString();
      EXPECT_EQ(compare(*outs, reference(g, inputSets[s]), tol), "") << "input set " << s << ", round " << round;
    }
  }
}

// A loop with a carried value, a scan output, values captured from outside
// (in the body and in an `if` nested in it) and a trip count from the input.
constexpr const char* kIfInLoop = R"(
graph @g(%n: i64, %x: f32[2, 3], %w: f32[2, 3]) {
  %true = constant() {value = tensor<bool[]>[true]} : bool[]
  %two = constant() {value = tensor<i64[]>[2]} : i64[]
  %zero = constant() {value = tensor<i64[]>[0]} : i64[]
  %scale = constant() {value = tensor<f32[]>[0.5]} : f32[]
  %wx = mul(%w, %scale) : f32[2, 3]
  %out, %seen = loop(%n, %true, %x) : f32[2, 3], f32[?, 2, 3] {
  ^body(%i: i64, %c: bool, %s: f32[2, 3]):
    %r = mod(%i, %two) : i64[]
    %even = equal(%r, %zero) : bool[]
    %next = if(%even) : f32[2, 3] {
    ^then:
      %t = sub(%s, %x) : f32[2, 3]
      %tt = tanh(%t) : f32[2, 3]
      yield %tt
    ^else:
      %e = add(%s, %wx) : f32[2, 3]
      yield %e
    }
    %fi = cast(%i) {to = "f32"} : f32[]
    %sw = mul(%next, %fi) : f32[2, 3]
    %sq = exp(%sw) : f32[2, 3]
    yield %c, %next, %sq
  }
  return %out, %seen
}
)";

TEST(CpuControlFlow, IfInsideLoopWithScanAndCapturesZeroOneAndManyIterations) {
  const Tensor x = randomF({2, 3}, 1), w = randomF({2, 3}, 2);
  check(kIfInLoop, {{Tensor::scalarI64(0), x, w},
                    {Tensor::scalarI64(1), x, w},
                    {Tensor::scalarI64(7), x, w},
                    {Tensor::scalarI64(300), x, w}});
}

// The body decides when to stop; the trip count is unlimited (negative).
TEST(CpuControlFlow, LoopStopsOnTheBodysCondition) {
  check(R"(
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
)",
        {{Tensor::scalarI64(-1), Tensor::scalarI64(5)},
         {Tensor::scalarI64(3), Tensor::scalarI64(5)},
         {Tensor::scalarI64(-1), Tensor::scalarI64(1000)}});
}

// An initial condition of false runs no iteration: carried values come out
// as given and scans are empty with the declared element shape.
TEST(CpuControlFlow, FalseInitialConditionRunsNoIteration) {
  check(R"(
graph @g(%c0: bool, %x: f32[4]) {
  %trip = constant() {value = tensor<i64[]>[5]} : i64[]
  %y, %ys = loop(%trip, %c0, %x) : f32[4], f32[?, 4] {
  ^body(%i: i64, %c: bool, %s: f32[4]):
    %d = add(%s, %s) : f32[4]
    yield %c, %d, %d
  }
  return %y, %ys
}
)",
        {{Tensor::scalarBool(false), randomF({4}, 3)}, {Tensor::scalarBool(true), randomF({4}, 4)}});
  // A symbolic element dim of an empty scan takes the size the inputs bind.
  check(R"(
graph @g(%c0: bool, %x: f32[B, 4]) {
  %trip = constant() {value = tensor<i64[]>[5]} : i64[]
  %y, %ys = loop(%trip, %c0, %x) : f32[B, 4], f32[?, B, 4] {
  ^body(%i: i64, %c: bool, %s: f32[B, 4]):
    %d = add(%s, %s) : f32[B, 4]
    yield %c, %d, %d
  }
  return %y, %ys
}
)",
        {{Tensor::scalarBool(false), randomF({3, 4}, 3)}, {Tensor::scalarBool(true), randomF({2, 4}, 4)}});
}

// loop in loop (the inner trip count captured from outside) and loop in if.
TEST(CpuControlFlow, NestedLoopsAndLoopInsideIf) {
  check(R"(
graph @g(%n: i64, %m: i64, %flag: bool, %x: f32[3]) {
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
  %y = if(%flag) : f32[3] {
  ^then:
    %l, %ls = loop(%m, %true, %x) : f32[3], f32[?, 3] {
    ^body(%k: i64, %c3: bool, %s: f32[3]):
      %s1 = sin(%s) : f32[3]
      %s2 = add(%s1, %x) : f32[3]
      yield %c3, %s2, %s1
    }
    %red = reduce_sum(%ls) {axes = [0], keepdims = 0} : f32[3]
    %both = add(%l, %red) : f32[3]
    yield %both
  ^else:
    yield %x
  }
  return %total, %y
}
)",
        {{Tensor::scalarI64(4), Tensor::scalarI64(6), Tensor::scalarBool(true), randomF({3}, 5)},
         {Tensor::scalarI64(0), Tensor::scalarI64(2), Tensor::scalarBool(false), randomF({3}, 6)},
         {Tensor::scalarI64(3), Tensor::scalarI64(0), Tensor::scalarBool(true), randomF({3}, 7)}});
}

// A carried value that grows every iteration (its slot is regrown, the
// ping-pong copies follow the new size).
TEST(CpuControlFlow, CarriedValueWhoseShapeChangesEveryIteration) {
  check(R"(
graph @g(%n: i64, %x: f32[1, 2]) {
  %true = constant() {value = tensor<bool[]>[true]} : bool[]
  %acc = loop(%n, %true, %x) : f32[?, 2] {
  ^body(%i: i64, %c: bool, %s: f32[?, 2]):
    %t = tanh(%s) : f32[?, 2]
    %g = concat(%s, %t) {axis = 0} : f32[?, 2]
    yield %c, %g
  }
  return %acc
}
)",
        {{Tensor::scalarI64(0), randomF({1, 2}, 8)},
         {Tensor::scalarI64(1), randomF({1, 2}, 9)},
         {Tensor::scalarI64(9), randomF({1, 2}, 10)}});
}

/// `%name = constant() {value = tensor<f32[dims]>[...]} : f32[dims]` with values in [-0.5, 0.5).
std::string constantLine(const std::string& name, const std::vector<int64_t>& dims, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(-0.5, 0.5);
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  std::ostringstream os;
  os.precision(9);
  os << "  %" << name << " = constant() {value = tensor<f32[" << cpu_test::shapeOf(dims) << "]>[";
  for (int64_t i = 0; i < n; ++i) os << (i ? ", " : "") << dist(gen);
  os << "]} : f32[" << cpu_test::shapeOf(dims) << "]\n";
  return os.str();
}

// oneDNN convolutions inside a loop body: conv -> relu -> conv keeps the
// blocked layout between the convs, and the body's return is row-major again
// (layouts never cross the block boundary).
TEST(CpuControlFlow, ConvolutionsInsideALoopBody) {
  std::string t = "graph @g(%n: i64, %x: f32[1, 16, 8, 8]) {\n";
  t += "  %true = constant() {value = tensor<bool[]>[true]} : bool[]\n";
  t += constantLine("w1", {16, 16, 3, 3}, 11) + constantLine("w2", {16, 16, 3, 3}, 12);
  t += R"(  %y, %ys = loop(%n, %true, %x) : f32[1, 16, 8, 8], f32[?, 1, 16, 8, 8] {
  ^body(%i: i64, %c: bool, %s: f32[1, 16, 8, 8]):
    %a = conv(%s, %w1) {pads = [1, 1, 1, 1]} : f32[1, 16, 8, 8]
    %r = relu(%a) : f32[1, 16, 8, 8]
    %b = conv(%r, %w2) {pads = [1, 1, 1, 1]} : f32[1, 16, 8, 8]
    %th = tanh(%b) : f32[1, 16, 8, 8]
    yield %c, %th, %a
  }
  return %y, %ys
}
)";
  const Tensor x = randomF({1, 16, 8, 8}, 13);
  check(t, {{Tensor::scalarI64(0), x}, {Tensor::scalarI64(1), x}, {Tensor::scalarI64(5), x}}, 1e-4);
}

// A value that a top-level conv reads (which could keep it blocked) and a
// loop body captures: the capture keeps it row-major.
TEST(CpuControlFlow, ValueCapturedFromAConvChainStaysRowMajor) {
  std::string t = "graph @g(%n: i64, %x: f32[1, 16, 8, 8]) {\n";
  t += "  %true = constant() {value = tensor<bool[]>[true]} : bool[]\n";
  t += constantLine("w1", {16, 16, 3, 3}, 21) + constantLine("w2", {16, 16, 3, 3}, 22);
  t += R"(  %a = conv(%x, %w1) {pads = [1, 1, 1, 1]} : f32[1, 16, 8, 8]
  %r = relu(%a) : f32[1, 16, 8, 8]
  %b = conv(%r, %w2) {pads = [1, 1, 1, 1]} : f32[1, 16, 8, 8]
  %y = loop(%n, %true, %b) : f32[1, 16, 8, 8] {
  ^body(%i: i64, %c: bool, %s: f32[1, 16, 8, 8]):
    %m = mul(%s, %r) : f32[1, 16, 8, 8]
    %th = tanh(%m) : f32[1, 16, 8, 8]
    yield %c, %th
  }
  return %y, %b
}
)";
  const Tensor x = randomF({1, 16, 8, 8}, 23);
  check(t, {{Tensor::scalarI64(0), x}, {Tensor::scalarI64(3), x}}, 1e-4);
}

// Fusion inside a block: the tanh GELU that GPT-2 exports, on a body value
// and on a value captured from outside that outer nodes read too (three
// uses outside, as many as the pattern has: the matchers must see only this
// block's uses of it; they indexed the body's nodes with the outer positions).
TEST(CpuControlFlow, FusionPatternsInsideALoopBody) {
  auto gelu = [](const std::string& x, const std::string& p) {
    std::string t;
    const std::string ty = " : f32[4, 8]\n";
    t += "    %" + p + "c = constant() {value = tensor<f32[]>[3.0]} : f32[]\n";
    t += "    %" + p + "p = pow(%" + x + ", %" + p + "c)" + ty;
    t += "    %" + p + "k = constant() {value = tensor<f32[]>[0.044715]} : f32[]\n";
    t += "    %" + p + "m = mul(%" + p + "p, %" + p + "k)" + ty;
    t += "    %" + p + "a = add(%" + x + ", %" + p + "m)" + ty;
    t += "    %" + p + "s = constant() {value = tensor<f32[]>[0.7978845608]} : f32[]\n";
    t += "    %" + p + "b = mul(%" + p + "a, %" + p + "s)" + ty;
    t += "    %" + p + "t = tanh(%" + p + "b)" + ty;
    t += "    %" + p + "o = constant() {value = tensor<f32[]>[1.0]} : f32[]\n";
    t += "    %" + p + "d = add(%" + p + "t, %" + p + "o)" + ty;
    t += "    %" + p + "e = mul(%" + x + ", %" + p + "d)" + ty;
    t += "    %" + p + "h = constant() {value = tensor<f32[]>[0.5]} : f32[]\n";
    t += "    %" + p + "y = mul(%" + p + "e, %" + p + "h)" + ty;
    return t;
  };
  std::string t = R"(graph @g(%n: i64, %x: f32[4, 8]) {
  %true = constant() {value = tensor<bool[]>[true]} : bool[]
  %u = neg(%x) : f32[4, 8]
  %v = exp(%x) : f32[4, 8]
  %y = loop(%n, %true, %u) : f32[4, 8] {
  ^body(%i: i64, %c: bool, %s: f32[4, 8]):
    %s2 = add(%s, %v) : f32[4, 8]
)";
  t += gelu("s2", "g") + gelu("x", "q");
  t += R"(    %r = add(%gy, %qy) : f32[4, 8]
    %r2 = mul(%r, %v) : f32[4, 8]
    yield %c, %r2
  }
  return %y
}
)";
  const Tensor x = randomF({4, 8}, 31);
  check(t, {{Tensor::scalarI64(0), x}, {Tensor::scalarI64(4), x}}, 1e-4);
}

// The control_flow example (4 `if`s and a `loop` with an `if` in its body) is
// one cpu region and gives the shipped outputs.
TEST(CpuControlFlow, ExampleModelIsOneRegionAndMatchesTheShippedOutput) {
#ifndef SY_CPU_TEST_HAVE_ONNX
  GTEST_SKIP() << "built without the ONNX importer (libonnx-dev)";
#else
  const std::string dir = std::string(SY_SOURCE_DIR) + "/examples/models/control_flow/";
  auto imported = importOnnxFile(dir + "model.onnx");
  ASSERT_TRUE(imported.ok()) << imported.status().toString();
  std::shared_ptr<const Graph> g(std::move(*imported));
  auto x = readNpyFile(dir + "input_x.npy");
  auto y = readNpyFile(dir + "output_y.npy");
  ASSERT_TRUE(x.ok() && y.ok());
  auto engine = cpuEngine();
  ASSERT_NE(engine, nullptr);
  auto model = compileOneRegion(*engine, g);
  ASSERT_NE(model, nullptr);
  for (int i = 0; i < 3; ++i) {
    auto outs = model->run({*x});
    ASSERT_TRUE(outs.ok()) << outs.status().toString();
    EXPECT_EQ(compare(*outs, {*y}, 1e-4), "");
    EXPECT_EQ(compare(*outs, reference(g, {*x}), 1e-5), "");
  }
#endif
}

TEST(CpuControlFlow, ErrorsNameTheLoopTheIterationAndTheStep) {
  auto engine = cpuEngine();
  ASSERT_NE(engine, nullptr);
  // A scan value whose shape changes between iterations.
  auto g = parse(R"(
graph @g(%n: i64, %x: f32[1, 2]) {
  %true = constant() {value = tensor<bool[]>[true]} : bool[]
  %acc, %trace = loop(%n, %true, %x) : f32[?, 2], f32[?, ?, 2] @"grow" {
  ^body(%i: i64, %c: bool, %s: f32[?, 2]):
    %g = concat(%s, %s) {axis = 0} : f32[?, 2]
    yield %c, %g, %g
  }
  return %acc, %trace
}
)");
  ASSERT_NE(g, nullptr);
  auto model = compileOneRegion(*engine, g);
  ASSERT_NE(model, nullptr);
  auto one = model->run({Tensor::scalarI64(1), randomF({1, 2}, 14)});
  EXPECT_TRUE(one.ok()) << one.status().toString();
  auto bad = model->run({Tensor::scalarI64(3), randomF({1, 2}, 14)});
  ASSERT_FALSE(bad.ok());
  const std::string m = bad.status().message();
  EXPECT_NE(m.find("'loop' node 'grow'"), std::string::npos) << m;
  EXPECT_NE(m.find("iteration 1"), std::string::npos) << m;
  EXPECT_NE(m.find("scan output 0 is f32[4, 2]"), std::string::npos) << m;

  // A failing step inside the body: named, with the iteration.
  auto g2 = parse(R"(
graph @g(%n: i64, %x: f32[3], %y: f32[?]) {
  %true = constant() {value = tensor<bool[]>[true]} : bool[]
  %acc = loop(%n, %true, %x) : f32[3] @"L" {
  ^body(%i: i64, %c: bool, %s: f32[3]):
    %z = add(%s, %y) : f32[3] @"adder"
    yield %c, %z
  }
  return %acc
}
)");
  ASSERT_NE(g2, nullptr);
  auto model2 = compileOneRegion(*engine, g2);
  ASSERT_NE(model2, nullptr);
  auto bad2 = model2->run({Tensor::scalarI64(2), randomF({3}, 15), randomF({2}, 16)});
  ASSERT_FALSE(bad2.ok());
  const std::string m2 = bad2.status().message();
  EXPECT_NE(m2.find("'loop' node 'L'"), std::string::npos) << m2;
  EXPECT_NE(m2.find("iteration 0"), std::string::npos) << m2;
  EXPECT_NE(m2.find("'add' node 'adder'"), std::string::npos) << m2;
}

TEST(CpuControlFlow, BadTripCountAndConditionTypesAreClearErrors) {
  // Declared with the wrong dtype: the verifier or the capability query says so.
  auto engine = cpuEngine();
  ASSERT_NE(engine, nullptr);
  const std::vector<Tensor> trips = {testing::F({}, {2}), testing::T(DType::I64, {2}, {2, 3})};
  size_t which = 0;
  for (const char* text : {R"(
graph @g(%n: f32, %x: f32[3]) {
  %true = constant() {value = tensor<bool[]>[true]} : bool[]
  %acc = loop(%n, %true, %x) : f32[3] {
  ^body(%i: i64, %c: bool, %s: f32[3]):
    yield %c, %s
  }
  return %acc
}
)",
                           R"(
graph @g(%n: i64[2], %x: f32[3]) {
  %true = constant() {value = tensor<bool[]>[true]} : bool[]
  %acc = loop(%n, %true, %x) : f32[3] {
  ^body(%i: i64, %c: bool, %s: f32[3]):
    yield %c, %s
  }
  return %acc
}
)"}) {
    const Tensor trip = trips[which++];
    auto g = parseGraph(text);
    if (!g.ok()) {
      EXPECT_NE(g.status().message().find("trip count"), std::string::npos) << g.status().toString();
      continue;
    }
    std::shared_ptr<const Graph> graph(std::move(*g));
    auto model = engine->compile(graph);
    std::string message;
    if (!model.ok()) {
      message = model.status().message();
    } else {
      auto outs = (*model)->run({trip, randomF({3}, 17)});
      ASSERT_FALSE(outs.ok());
      message = outs.status().message();
    }
    EXPECT_NE(message.find("trip count"), std::string::npos) << message;
  }
}

TEST(CpuControlFlow, SeveralThreadsRunOneCompiledRegion) {
  auto engine = cpuEngine();
  ASSERT_NE(engine, nullptr);
  auto g = parse(kIfInLoop);
  ASSERT_NE(g, nullptr);
  auto model = compileOneRegion(*engine, g);
  ASSERT_NE(model, nullptr);
  constexpr int kThreads = 4, kRuns = 30;
  std::vector<std::vector<Tensor>> inputs, want;
  for (int t = 0; t < kThreads; ++t) {
    inputs.push_back({Tensor::scalarI64(3 + 5 * t), randomF({2, 3}, 20 + t), randomF({2, 3}, 30 + t)});
    want.push_back(reference(g, inputs.back()));
  }
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRuns && errors[static_cast<size_t>(t)].empty(); ++i) {
        auto outs = model->run(inputs[static_cast<size_t>(t)]);
        errors[static_cast<size_t>(t)] =
            outs.ok() ? compare(*outs, want[static_cast<size_t>(t)]) : outs.status().toString();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors[static_cast<size_t>(t)], "") << "thread " << t;
}

}  // namespace
}  // namespace sy
