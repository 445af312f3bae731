// The cpu plugin's CNN path at one thread (issue #15): a residual addend that
// dies at its conv is the conv's destination (Note [In-place residual sum] in
// region.cpp), and bounds recorded by convs, pooling and batch_norm replace
// the relu guard's scan of the input (Note [Known bounds] in dnnl_steps.cpp).
// Every case is compared with the reference interpreter, NaN and infinities
// included, and the cases that must not share memory check that they don't.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string_view>

#include "cpu_step_test_util.h"
#include "test_util.h"

namespace sy {
namespace {

using cpu_test::constantLine;
using cpu_test::cpuEngine;
using cpu_test::nonFiniteF;
using cpu_test::randomF;

/// cpu against the reference: NaN where the reference has NaN, the same
/// infinities, finite values within a relative `tol`.
void expectSame(const std::vector<Tensor>& got, const std::vector<Tensor>& want, double tol = 1e-4) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(got[i].shape(), want[i].shape()) << "output " << i;
    for (int64_t j = 0; j < want[i].numel(); ++j) {
      const double g = got[i].getDouble(j), w = want[i].getDouble(j);
      if (std::isnan(w)) {
        ASSERT_TRUE(std::isnan(g)) << "output " << i << " element " << j << ": got " << g << ", want NaN";
      } else if (std::isinf(w)) {
        ASSERT_EQ(g, w) << "output " << i << " element " << j;
      } else {
        ASSERT_NEAR(g, w, tol * (1 + std::fabs(w))) << "output " << i << " element " << j;
      }
    }
  }
}

bool anyNaN(const Tensor& t) {
  for (int64_t j = 0; j < t.numel(); ++j) {
    if (std::isnan(t.getDouble(j))) return true;
  }
  return false;
}

/// Runs `text` on cpu and on the reference with each input set, on one
/// compiled model (so a later call reuses what an earlier one cached).
void checkCalls(const std::string& text, const std::vector<std::vector<Tensor>>& calls, double tol = 1e-4) {
  auto engine = cpuEngine();
  ASSERT_NE(engine, nullptr);
  auto parsed = parseGraph(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().toString() << "\n" << text;
  std::shared_ptr<const Graph> g(std::move(*parsed));
  auto model = engine->compile(g);
  ASSERT_TRUE(model.ok()) << model.status().toString();
  auto interp = Interpreter::create(g);
  ASSERT_TRUE(interp.ok()) << interp.status().toString();
  for (size_t c = 0; c < calls.size(); ++c) {
    SCOPED_TRACE("call " + std::to_string(c));
    const std::vector<Tensor> inputs = calls[c];
    auto got = (*model)->run(inputs);
    ASSERT_TRUE(got.ok()) << got.status().toString();
    auto want = (*interp)->run(inputs);
    ASSERT_TRUE(want.ok()) << want.status().toString();
    expectSame(*got, *want, tol);
    // The caller's inputs are never written (an addend that is a region input is not a destination).
    for (size_t i = 0; i < inputs.size(); ++i) {
      for (int64_t j = 0; j < inputs[i].numel(); ++j) {
        const double a = inputs[i].getDouble(j), b = calls[c][i].getDouble(j);
        ASSERT_TRUE((std::isnan(a) && std::isnan(b)) || a == b) << "input " << i << " element " << j << " changed";
      }
    }
  }
}

/// The `values=V` of the plan the model's first planned run logs.
int plannedValues(const std::string& text, const std::vector<Tensor>& inputs) {
  const std::string log = ::testing::TempDir() + "/sy_cpu_cnn_plan_log.txt";
  std::remove(log.c_str());
  EXPECT_EQ(setenv("SY_CPU_PLAN_LOG", log.c_str(), 1), 0);
  auto r = cpu_test::runOnCpuAndReference(text, inputs);
  unsetenv("SY_CPU_PLAN_LOG");
  EXPECT_TRUE(r.has_value());
  if (r) expectSame(r->cpu, r->reference);
  std::ifstream in(log);
  std::string line;
  if (!std::getline(in, line)) {
    ADD_FAILURE() << "no plan was logged to " << log;
    return -1;
  }
  size_t arena = 0, sum = 0;
  int values = -1;
  EXPECT_EQ(std::sscanf(line.c_str(), "plan arena_bytes=%zu sum_bytes=%zu values=%d", &arena, &sum, &values), 3)
      << line;
  return values;
}

/// conv + relu, conv + relu, then conv + add(first relu) + relu and a last
/// conv: the skip value %ra dies at the add (a ResNet basic block).
/// `tail` is appended before the return (a later reader of %ra, say).
std::string residualBlock(const std::string& tail, const std::string& returns) {
  std::string t = "graph @g(%x: f32[1, 8, 6, 6]) {\n";
  t += constantLine("k1", {8, 8, 3, 3}, -0.3, 0.3, 201);
  t += constantLine("k2", {8, 8, 3, 3}, -0.3, 0.3, 202);
  t += constantLine("k3", {8, 8, 1, 1}, -0.5, 0.5, 203);
  t += constantLine("k4", {8, 8, 1, 1}, -0.5, 0.5, 204);
  t += "  %a = conv(%x, %k1) {pads = [1, 1, 1, 1]} : f32[1, 8, 6, 6]\n";
  t += "  %ra = relu(%a) : f32[1, 8, 6, 6]\n";
  t += "  %b = conv(%ra, %k2) {pads = [1, 1, 1, 1]} : f32[1, 8, 6, 6]\n";
  t += "  %rb = relu(%b) : f32[1, 8, 6, 6]\n";
  t += "  %c = conv(%rb, %k3) : f32[1, 8, 6, 6]\n";
  t += "  %s = add(%c, %ra) : f32[1, 8, 6, 6]\n";
  t += "  %y = relu(%s) : f32[1, 8, 6, 6]\n";
  t += "  %z = conv(%y, %k4) : f32[1, 8, 6, 6]\n";
  t += tail;
  t += "  return " + returns + "\n}\n";
  return t;
}

TEST(CpuCnn, ResidualAddendThatDiesIsTheConvsDestination) {
  const std::string text = residualBlock("", "%z");
  // Planned: %ra (with %y in its memory) and %rb; without the sharing %y
  // would be a third value.
  EXPECT_EQ(plannedValues(text, {randomF({1, 8, 6, 6}, -2, 2, 205)}), 2);
  checkCalls(text, {{randomF({1, 8, 6, 6}, -2, 2, 206)},
                    {nonFiniteF({1, 8, 6, 6}, 207)},
                    {randomF({1, 8, 6, 6}, -1e30, 1e30, 208)},
                    {randomF({1, 8, 6, 6}, -2, 2, 209)}},
             1e-3);
}

TEST(CpuCnn, ResidualAddendReadLaterKeepsItsMemory) {
  // %ra is also read after the first add (by a second residual add), or
  // returned: the first add must not write over it.
  const std::string later = residualBlock("  %w = conv(%z, %k4) : f32[1, 8, 6, 6]\n"
                                          "  %v = add(%w, %ra) : f32[1, 8, 6, 6]\n"
                                          "  %u = conv(%v, %k3) : f32[1, 8, 6, 6]\n",
                                          "%u");
  checkCalls(later, {{randomF({1, 8, 6, 6}, -2, 2, 211)}, {nonFiniteF({1, 8, 6, 6}, 212)}});
  const std::string returned = residualBlock("", "%z, %ra");
  EXPECT_EQ(plannedValues(returned, {randomF({1, 8, 6, 6}, -2, 2, 213)}), 2);  // %rb, %y
  checkCalls(returned, {{randomF({1, 8, 6, 6}, -2, 2, 214)}});
}

TEST(CpuCnn, AddendThatIsTheConvsOwnInputOrARegionInputIsNotADestination) {
  // conv(r) + r: the conv still reads r while it writes; and x + conv(...)
  // with x the caller's tensor (checkCalls checks the inputs are unchanged).
  std::string t = "graph @g(%x: f32[1, 8, 6, 6], %skip: f32[1, 8, 6, 6]) {\n";
  t += constantLine("k1", {8, 8, 3, 3}, -0.3, 0.3, 221);
  t += constantLine("k2", {8, 8, 3, 3}, -0.3, 0.3, 222);
  t += "  %a = conv(%x, %k1) {pads = [1, 1, 1, 1]} : f32[1, 8, 6, 6]\n";
  t += "  %r = relu(%a) : f32[1, 8, 6, 6]\n";
  t += "  %b = conv(%r, %k2) {pads = [1, 1, 1, 1]} : f32[1, 8, 6, 6]\n";
  t += "  %s = add(%b, %r) : f32[1, 8, 6, 6]\n";
  t += "  %c = conv(%s, %k2) {pads = [1, 1, 1, 1]} : f32[1, 8, 6, 6]\n";
  t += "  %d = add(%skip, %c) : f32[1, 8, 6, 6]\n";
  t += "  %e = conv(%d, %k1) {pads = [1, 1, 1, 1]} : f32[1, 8, 6, 6]\n";
  t += "  return %e\n}\n";
  checkCalls(t, {{randomF({1, 8, 6, 6}, -2, 2, 223), randomF({1, 8, 6, 6}, -2, 2, 224)},
                 {randomF({1, 8, 6, 6}, -2, 2, 225), nonFiniteF({1, 8, 6, 6}, 226)}});
}

/// A squeeze-and-excitation block: the gate sigmoid(conv(mean of %ra))
/// scales %ra per channel (BinaryStep), then a 1x1 conv.
std::string squeezeExcite(const std::string& returns) {
  std::string t = "graph @g(%x: f32[1, 8, 6, 6]) {\n";
  t += constantLine("k1", {16, 8, 3, 3}, -0.3, 0.3, 281);
  t += constantLine("k2", {16, 16, 1, 1}, -0.5, 0.5, 282);
  t += constantLine("k3", {8, 16, 1, 1}, -0.5, 0.5, 283);
  t += "  %a = conv(%x, %k1) {pads = [1, 1, 1, 1]} : f32[1, 16, 6, 6]\n";
  t += "  %ra = relu(%a) : f32[1, 16, 6, 6]\n";
  t += "  %p = global_avg_pool(%ra) : f32[1, 16, 1, 1]\n";
  t += "  %q = conv(%p, %k2) : f32[1, 16, 1, 1]\n";
  t += "  %g = sigmoid(%q) : f32[1, 16, 1, 1]\n";
  t += "  %m = mul(%ra, %g) : f32[1, 16, 6, 6]\n";
  t += "  %z = conv(%m, %k3) : f32[1, 8, 6, 6]\n";
  t += "  return " + returns + "\n}\n";
  return t;
}

TEST(CpuCnn, SqueezeExcitationScalesInPlace) {
  // %ra dies at the mul: %m takes its memory (planned: %ra, %p, %g; without
  // the sharing %m would be a fourth value). Returned, %ra keeps its own.
  const std::string text = squeezeExcite("%z");
  EXPECT_EQ(plannedValues(text, {randomF({1, 8, 6, 6}, -2, 2, 284)}), 3);
  checkCalls(text, {{randomF({1, 8, 6, 6}, -2, 2, 285)}, {nonFiniteF({1, 8, 6, 6}, 286)}});
  const std::string returned = squeezeExcite("%z, %ra");
  checkCalls(returned, {{randomF({1, 8, 6, 6}, -2, 2, 287)}, {nonFiniteF({1, 8, 6, 6}, 288)}});
}

/// `depth` blocks of conv + relu (and a max pooling halfway) with weights of
/// sum |w| up to `wScale` * 72 per output channel: the recorded bounds grow
/// by that factor per conv, so a deep enough chain passes the guard's limit
/// and has to scan again.
std::string deepChain(int depth, double wScale) {
  std::string t = "graph @g(%x: f32[1, 8, 8, 8]) {\n";
  for (int i = 0; i < 4; ++i) {
    t += constantLine("k" + std::to_string(i), {8, 8, 3, 3}, -wScale, wScale, 231 + static_cast<unsigned>(i));
  }
  t += constantLine("bias", {8}, -0.5, 0.5, 239);
  std::string prev = "x";
  for (int i = 0; i < depth; ++i) {
    const std::string c = "c" + std::to_string(i), r = "r" + std::to_string(i);
    t += "  %" + c + " = conv(%" + prev + ", %k" + std::to_string(i % 4) +
         ", %bias) {pads = [1, 1, 1, 1]} : f32[1, 8, 8, 8]\n";
    t += "  %" + r + " = relu(%" + c + ") : f32[1, 8, 8, 8]\n";
    prev = r;
    if (i == depth / 2) {
      t += "  %p = max_pool(%" + prev + ") {kernel_shape = [3, 3], pads = [1, 1, 1, 1]} : f32[1, 8, 8, 8]\n";
      prev = "p";
    }
  }
  t += "  return %" + prev + "\n}\n";
  return t;
}

TEST(CpuCnn, RecordedBoundsKeepNaNAndInfinities) {
  // Finite, NaN/inf and huge inputs alternating on one compiled model: a
  // bound recorded by one call never stands for another call's data.
  const std::string text = deepChain(8, 0.4);
  checkCalls(text, {{randomF({1, 8, 8, 8}, -2, 2, 241)},
                    {nonFiniteF({1, 8, 8, 8}, 242)},
                    {randomF({1, 8, 8, 8}, -2, 2, 243)},
                    {randomF({1, 8, 8, 8}, -1e30, 1e30, 244)},
                    {nonFiniteF({1, 8, 8, 8}, 245)}},
             1e-3);
}

TEST(CpuCnn, BoundsPastTheGuardsLimitScanAgain) {
  // sum |w| ~ 500 per conv: after about a dozen convs the recorded bound
  // passes 1e36 while the values (relu of sums of both signs) stay far
  // smaller; the steps must then scan, not give up on the fast path wrongly
  // nor take it wrongly. Huge inputs do reach overflow: inf - inf is NaN.
  const std::string text = deepChain(24, 7);
  auto r = cpu_test::runOnCpuAndReference(text, {randomF({1, 8, 8, 8}, -1, 1, 251)});
  ASSERT_TRUE(r.has_value());
  expectSame(r->cpu, r->reference, 1e-3);
  checkCalls(text, {{randomF({1, 8, 8, 8}, -1e20, 1e20, 252)}, {randomF({1, 8, 8, 8}, -1, 1, 253)}}, 1e-3);
}

TEST(CpuCnn, ValuesFromStepsWithoutBoundsAreScanned) {
  // An elementwise step (exp) between two convs overflows to inf: it records
  // no bound, so the second conv's guard scans and keeps the NaN that
  // inf - inf gives (the reference has it too).
  std::string t = "graph @g(%x: f32[1, 8, 6, 6]) {\n";
  t += constantLine("k1", {8, 8, 1, 1}, -0.5, 0.5, 261);
  t += constantLine("k2", {8, 8, 1, 1}, -0.5, 0.5, 262);
  t += "  %a = conv(%x, %k1) : f32[1, 8, 6, 6]\n";
  t += "  %ra = relu(%a) : f32[1, 8, 6, 6]\n";
  t += "  %e = exp(%ra) : f32[1, 8, 6, 6]\n";
  t += "  %b = conv(%e, %k2) : f32[1, 8, 6, 6]\n";
  t += "  %y = relu(%b) : f32[1, 8, 6, 6]\n";
  t += "  return %y\n}\n";
  Tensor big = randomF({1, 8, 6, 6}, -2, 2, 263);
  for (int64_t i = 0; i < big.numel(); i += 3) big.setDouble(i, 400.0);
  auto engine = cpuEngine();
  ASSERT_NE(engine, nullptr);
  auto r = cpu_test::runOnCpuAndReference(t, {big});
  ASSERT_TRUE(r.has_value());
  expectSame(r->cpu, r->reference);
  EXPECT_TRUE(anyNaN(r->reference[0])) << "the case should make inf - inf";
  checkCalls(t, {{randomF({1, 8, 6, 6}, -2, 2, 264)}, {big}, {randomF({1, 8, 6, 6}, -2, 2, 265)}});
}

TEST(CpuCnn, BatchNormReluBoundFeedsTheNextConv) {
  // Pre-activation blocks (the cnn example): batch_norm + relu records its
  // bound, the conv + relu after it and the max pooling use it.
  std::string t = "graph @g(%x: f32[2, 8, 6, 6]) {\n";
  t += constantLine("gamma", {8}, 0.5, 1.5, 271);
  t += constantLine("beta", {8}, -0.5, 0.5, 272);
  t += constantLine("mean", {8}, -0.3, 0.3, 273);
  t += constantLine("var", {8}, 0.2, 1.5, 274);
  t += constantLine("k", {8, 8, 3, 3}, -0.3, 0.3, 275);
  t += "  %n = batch_norm(%x, %gamma, %beta, %mean, %var) {epsilon = 0.001} : f32[2, 8, 6, 6]\n";
  t += "  %r = relu(%n) : f32[2, 8, 6, 6]\n";
  t += "  %c = conv(%r, %k) {pads = [1, 1, 1, 1]} : f32[2, 8, 6, 6]\n";
  t += "  %y = relu(%c) : f32[2, 8, 6, 6]\n";
  t += "  %p = max_pool(%y) {kernel_shape = [2, 2], strides = [2, 2]} : f32[2, 8, 3, 3]\n";
  t += "  return %p\n}\n";
  checkCalls(t, {{randomF({2, 8, 6, 6}, -2, 2, 276)},
                 {nonFiniteF({2, 8, 6, 6}, 277)},
                 {randomF({2, 8, 6, 6}, -1e36, 1e36, 278)},
                 {randomF({2, 8, 6, 6}, -2, 2, 279)}},
             1e-3);
}

/// `text` compiled on a cpu engine of `threads` threads (Note [Winograd
/// convolutions] in dnnl_steps.cpp) and on the reference.
struct OneThreadModel {
  std::unique_ptr<Engine> engine;
  std::shared_ptr<const CompiledModel> model;
  std::shared_ptr<const Interpreter> interp;
};
std::optional<OneThreadModel> compileOneThread(const std::string& text, const std::string& threads = "1") {
  OneThreadModel m;
  m.engine = cpuEngine({{"threads", threads}});
  if (m.engine == nullptr) return std::nullopt;
  auto parsed = parseGraph(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status().toString();
  if (!parsed.ok()) return std::nullopt;
  std::shared_ptr<const Graph> g(std::move(*parsed));
  auto model = m.engine->compile(g);
  EXPECT_TRUE(model.ok()) << model.status().toString();
  auto interp = Interpreter::create(g);
  EXPECT_TRUE(interp.ok()) << interp.status().toString();
  if (!model.ok() || !interp.ok()) return std::nullopt;
  m.model = std::move(*model);
  m.interp = std::move(*interp);
  return m;
}

/// NaN where `want` has NaN, the same infinities, finite values within
/// tol * (1 + max finite |want|) (normwise: where a sum cancels to far below
/// its terms, another summation order differs by more than tol of that sum).
void expectNormwise(const Tensor& got, const Tensor& want, double tol) {
  ASSERT_EQ(got.shape(), want.shape());
  double scale = 0;
  for (int64_t j = 0; j < want.numel(); ++j) {
    if (std::isfinite(want.getDouble(j))) scale = std::max(scale, std::fabs(want.getDouble(j)));
  }
  for (int64_t j = 0; j < want.numel(); ++j) {
    const double a = got.getDouble(j), b = want.getDouble(j);
    if (std::isnan(b)) {
      ASSERT_TRUE(std::isnan(a)) << "element " << j << ": got " << a << ", want NaN";
    } else if (std::isinf(b)) {
      ASSERT_EQ(a, b) << "element " << j;
    } else {
      ASSERT_NEAR(a, b, tol * (1 + scale)) << "element " << j;
    }
  }
}

/// Two 3x3 convs + relu on 64 channels (Note [Winograd convolutions] in
/// dnnl_steps.cpp): at 28x28 (oneDNN's F(4x4, 3x3)) and, after a stride-2
/// pooling, at 14x14 (F(2x2, 3x3)); a 1x1 conv + relu in between reads the
/// first one's blocked output.
std::string winogradChain() {
  std::string t = "graph @g(%x: f32[1, 64, 28, 28]) {\n";
  t += constantLine("k1", {64, 64, 3, 3}, -0.06, 0.06, 281);
  t += constantLine("k2", {64, 64, 1, 1}, -0.2, 0.2, 282);
  t += constantLine("k3", {64, 64, 3, 3}, -0.06, 0.06, 283);
  t += constantLine("b1", {64}, -0.5, 0.5, 284);
  t += "  %a = conv(%x, %k1, %b1) {pads = [1, 1, 1, 1]} : f32[1, 64, 28, 28]\n";
  t += "  %ra = relu(%a) : f32[1, 64, 28, 28]\n";
  t += "  %b = conv(%ra, %k2) : f32[1, 64, 28, 28]\n";
  t += "  %rb = relu(%b) : f32[1, 64, 28, 28]\n";
  t += "  %p = max_pool(%rb) {kernel_shape = [2, 2], strides = [2, 2]} : f32[1, 64, 14, 14]\n";
  t += "  %c = conv(%p, %k3) {pads = [1, 1, 1, 1]} : f32[1, 64, 14, 14]\n";
  t += "  %y = relu(%c) : f32[1, 64, 14, 14]\n";
  t += "  return %y\n}\n";
  return t;
}

/// `text` compiled at 2 threads with the thread choice `choice` (split, one
/// or team: Note [Threads on shared cores] in region.cpp), fixed through
/// SY_CPU_THREAD_CHOICE, which is read at compile; "" leaves the choice to
/// the region's measurements.
std::optional<OneThreadModel> compileTwoThreads(const std::string& text, const std::string& choice) {
  if (!choice.empty()) {
    EXPECT_EQ(setenv("SY_CPU_THREAD_CHOICE", choice.c_str(), 1), 0);
  }
  auto m = compileOneThread(text, "2");
  unsetenv("SY_CPU_THREAD_CHOICE");
  return m;
}

/// Where the Winograd tests run (Note [Winograd convolutions] in
/// dnnl_steps.cpp): one thread, and each thread choice at 2 threads, where
/// every choice has its Winograd primitive (on the OpenMP team in a run on
/// teams, whole on the calling thread otherwise).
struct WinogradConfig {
  const char* threads;
  const char* choice;
};
const WinogradConfig kWinogradConfigs[] = {{"1", ""}, {"2", "split"}, {"2", "one"}, {"2", "team"}, {"2", ""}};

std::optional<OneThreadModel> compileFor(const std::string& text, const WinogradConfig& c) {
  return std::string_view(c.threads) == "1" ? compileOneThread(text) : compileTwoThreads(text, c.choice);
}

/// Each call of `calls` on `m`'s model and reference, `rounds` times over,
/// compared normwise (expectNormwise, 1e-3). Three rounds let the measuring
/// choice (no fixed one) run each of split, one thread and teams more than
/// once.
void expectCallsMatchTheReference(const OneThreadModel& m, const std::vector<std::vector<Tensor>>& calls, int rounds) {
  for (int round = 0; round < rounds; ++round) {
    for (size_t c = 0; c < calls.size(); ++c) {
      SCOPED_TRACE("round " + std::to_string(round) + ", call " + std::to_string(c));
      auto got = m.model->run(calls[c]);
      ASSERT_TRUE(got.ok()) << got.status().toString();
      auto want = m.interp->run(calls[c]);
      ASSERT_TRUE(want.ok()) << want.status().toString();
      expectNormwise((*got)[0], (*want)[0], 1e-3);
    }
  }
}

TEST(CpuCnn, WinogradConvsMatchTheReferenceAndKeepNaN) {
  // Finite inputs take the Winograd primitives; NaN/inf and inputs whose
  // bound passes the Winograd limit (1e30) take the direct NaN-keeping ones,
  // so NaN lands exactly where the reference puts it (a Winograd tile would
  // spread it over its neighbours). Finite values are compared normwise
  // (|got - want| <= 1e-3 max|want|): where a sum cancels to far below its
  // terms, any other summation order differs from the reference by more
  // than 1e-3 of that small sum.
  const std::vector<std::vector<Tensor>> calls{
      {randomF({1, 64, 28, 28}, -2, 2, 285)},       {nonFiniteF({1, 64, 28, 28}, 286)},
      {randomF({1, 64, 28, 28}, -1e29, 1e29, 287)}, {randomF({1, 64, 28, 28}, -1e20, 1e20, 288)},
      {randomF({1, 64, 28, 28}, -2, 2, 289)}};
  for (const WinogradConfig& config : kWinogradConfigs) {
    SCOPED_TRACE(std::string("threads ") + config.threads + ", choice '" + config.choice + "'");
    auto m = compileFor(winogradChain(), config);
    ASSERT_TRUE(m.has_value());
    expectCallsMatchTheReference(*m, calls, 3);
  }
}

TEST(CpuCnn, WinogradResidualSumKeepsTheAddendsNaN) {
  // A ResNet basic block's second conv: 3x3 + add(residual) + relu, a
  // Winograd conv with a sum post-op. The guard reads the addend too: NaN
  // or inf in it alone sends the call to the direct NaN-keeping primitive.
  std::string t = "graph @g(%x: f32[1, 64, 14, 14], %r: f32[1, 64, 14, 14]) {\n";
  t += constantLine("k", {64, 64, 3, 3}, -0.06, 0.06, 295);
  t += "  %c = conv(%x, %k) {pads = [1, 1, 1, 1]} : f32[1, 64, 14, 14]\n";
  t += "  %s = add(%c, %r) : f32[1, 64, 14, 14]\n";
  t += "  %y = relu(%s) : f32[1, 64, 14, 14]\n";
  t += "  return %y\n}\n";
  const Tensor fx = randomF({1, 64, 14, 14}, -2, 2, 296), fr = randomF({1, 64, 14, 14}, -2, 2, 297);
  const Tensor nx = nonFiniteF({1, 64, 14, 14}, 298), nr = nonFiniteF({1, 64, 14, 14}, 299);
  const std::vector<std::vector<Tensor>> calls{{fx, fr}, {fx, nr}, {nx, fr}, {fx, fr}};
  for (const WinogradConfig& config : kWinogradConfigs) {
    SCOPED_TRACE(std::string("threads ") + config.threads + ", choice '" + config.choice + "'");
    auto m = compileFor(t, config);
    ASSERT_TRUE(m.has_value());
    expectCallsMatchTheReference(*m, calls, 3);
  }
}

TEST(CpuCnn, WinogradIsUsedAndOffWithTheSwitch) {
  // The Winograd result differs from the direct one in its last bits (it is
  // another summation): with SY_CPU_WINOGRAD=0 (read at compile) the convs
  // are direct (split into chunks in a split run), with it on they are
  // Winograd ones, not bit for bit the direct ones; both stay within rounding
  // of the reference. At 1 thread and for each fixed choice at 2 threads.
  // oneDNN 2.6 has Winograd convolutions for avx512_core only; elsewhere the
  // step keeps the direct conv (the other Winograd tests still check results).
  if (!cpu_test::cpuHasAvx512Core()) GTEST_SKIP() << "this CPU has no avx512_core, where oneDNN 2.6 has its Winograd convolutions";
  const std::vector<Tensor> in{randomF({1, 64, 28, 28}, -2, 2, 290)};
  for (const WinogradConfig& config : kWinogradConfigs) {
    if (std::string_view(config.threads) == "2" && *config.choice == '\0') continue;  // (not a fixed choice)
    SCOPED_TRACE(std::string("threads ") + config.threads + ", choice '" + config.choice + "'");
    ASSERT_EQ(setenv("SY_CPU_WINOGRAD", "0", 1), 0);
    auto off = compileFor(winogradChain(), config);
    unsetenv("SY_CPU_WINOGRAD");
    auto on = compileFor(winogradChain(), config);
    ASSERT_TRUE(off.has_value() && on.has_value());
    for (int run = 0; run < 2; ++run) {  // (the first run of a choice other than split makes its primitives)
      auto direct = off->model->run(in), wino = on->model->run(in), want = on->interp->run(in);
      ASSERT_TRUE(direct.ok() && wino.ok() && want.ok());
      expectSame(*direct, *want, 1e-4);
      expectSame(*wino, *want, 1e-3);
      int64_t differ = 0;
      for (int64_t j = 0; j < (*direct)[0].numel(); ++j) differ += (*direct)[0].getDouble(j) != (*wino)[0].getDouble(j);
      EXPECT_GT(differ, 0) << "run " << run << ": the Winograd and direct outputs are bit-identical: was Winograd used?";
    }
  }
}

/// conv 1x1 + bias -> SiLU (exported, x first) -> depthwise 3x3 -> SiLU
/// (gate first) -> dense 3x3 stride 2 -> SiLU: each SiLU is the conv's last
/// post-op, which at one thread runs as the plugin's own pass over the
/// destination (Note [SiLU after the conv] in dnnl_steps.cpp). 13 channels of
/// 9x9 and 5x5: sizes that leave a tail of fewer than 16 floats.
std::string siluChain() {
  std::string t = "graph @g(%x: f32[1, 5, 9, 9]) {\n";
  t += constantLine("k1", {13, 5, 1, 1}, -1.5, 1.5, 301);
  t += constantLine("b1", {13}, -1, 1, 302);
  t += constantLine("k2", {13, 1, 3, 3}, -1, 1, 303);
  t += constantLine("k3", {6, 13, 3, 3}, -0.5, 0.5, 304);
  t += "  %a = conv(%x, %k1, %b1) : f32[1, 13, 9, 9]\n";
  t += "  %sa = sigmoid(%a) : f32[1, 13, 9, 9]\n";
  t += "  %ya = mul(%a, %sa) : f32[1, 13, 9, 9]\n";
  t += "  %d = conv(%ya, %k2) {group = 13, pads = [1, 1, 1, 1]} : f32[1, 13, 9, 9]\n";
  t += "  %sd = sigmoid(%d) : f32[1, 13, 9, 9]\n";
  t += "  %yd = mul(%sd, %d) : f32[1, 13, 9, 9]\n";
  t += "  %e = conv(%yd, %k3) {pads = [1, 1, 1, 1], strides = [2, 2]} : f32[1, 6, 5, 5]\n";
  t += "  %se = sigmoid(%e) : f32[1, 6, 5, 5]\n";
  t += "  %ye = mul(%e, %se) : f32[1, 6, 5, 5]\n";
  t += "  return %ye, %ya\n}\n";
  return t;
}

TEST(CpuCnn, SiluAfterTheConvMatchesTheReference) {
  const std::string text = siluChain();
  auto fused = cpu_test::runOnCpuAndReference(text, {randomF({1, 5, 9, 9}, -2, 2, 305)});
  ASSERT_TRUE(fused.has_value());
  EXPECT_EQ(std::count(fused->steps.begin(), fused->steps.end(), "conv + sigmoid + mul"), 3)
      << "each SiLU should be its conv's post-op";
  auto m = compileOneThread(text);
  ASSERT_TRUE(m.has_value());
  // Small values; large ones, where sigmoid saturates and, for x below about
  // -87.3, the pass takes sigmoid as 0 (y = -0 where the reference has a
  // value under 1e-36); NaN and infinities (+inf stays +inf, -inf *
  // sigmoid(-inf) = -inf * 0 is NaN).
  Tensor huge = randomF({1, 5, 9, 9}, -2, 2, 306);
  for (int64_t j = 0; j < huge.numel(); j += 7) huge.setDouble(j, j % 2 == 0 ? 150.0 : -150.0);
  for (const Tensor& in : {randomF({1, 5, 9, 9}, -0.5, 0.5, 307), randomF({1, 5, 9, 9}, -40, 40, 308), huge,
                           nonFiniteF({1, 5, 9, 9}, 309)}) {
    auto got = m->model->run({in});
    auto want = m->interp->run({in});
    ASSERT_TRUE(got.ok() && want.ok());
    expectSame(*got, *want, 1e-5);
  }
  // A conv whose output is -inf (all-positive weights, one -inf input): SiLU
  // gives NaN there, as the exported x * sigmoid(x) does.
  std::string t = "graph @g(%x: f32[1, 4, 3, 3]) {\n";
  t += constantLine("k", {7, 4, 1, 1}, 0.1, 0.9, 310);
  t += "  %c = conv(%x, %k) : f32[1, 7, 3, 3]\n";
  t += "  %s = sigmoid(%c) : f32[1, 7, 3, 3]\n";
  t += "  %y = mul(%c, %s) : f32[1, 7, 3, 3]\n";
  t += "  return %y\n}\n";
  auto one = compileOneThread(t);
  ASSERT_TRUE(one.has_value());
  Tensor in = randomF({1, 4, 3, 3}, -1, 1, 311);
  in.setDouble(4, -INFINITY);
  in.setDouble(9 + 1, INFINITY);
  auto got = one->model->run({in});
  auto want = one->interp->run({in});
  ASSERT_TRUE(got.ok() && want.ok());
  EXPECT_TRUE(std::isnan((*want)[0].getDouble(4))) << "the case should reach -inf * 0";
  EXPECT_EQ((*want)[0].getDouble(1), INFINITY) << "the case should reach +inf";
  expectSame(*got, *want, 1e-5);
}

TEST(CpuCnn, SiluThatIsNotTheLastPostOpOrHasOtherReaders) {
  // conv -> SiLU -> residual add: the sum comes after the swish, so the
  // swish stays a oneDNN post-op; a conv whose output is also returned is
  // not fused with its SiLU at all; a SiLU whose gate is also returned
  // neither. Each at one thread against the reference, NaN included.
  std::string t = "graph @g(%x: f32[1, 8, 7, 7], %r: f32[1, 8, 7, 7]) {\n";
  t += constantLine("k1", {8, 8, 3, 3}, -0.4, 0.4, 321);
  t += constantLine("k2", {8, 8, 1, 1}, -0.6, 0.6, 322);
  t += constantLine("k3", {8, 8, 1, 1}, -0.6, 0.6, 323);
  t += "  %a = conv(%x, %k1) {pads = [1, 1, 1, 1]} : f32[1, 8, 7, 7]\n";
  t += "  %sa = sigmoid(%a) : f32[1, 8, 7, 7]\n";
  t += "  %ya = mul(%a, %sa) : f32[1, 8, 7, 7]\n";
  t += "  %s = add(%ya, %r) : f32[1, 8, 7, 7]\n";
  t += "  %b = conv(%s, %k2) : f32[1, 8, 7, 7]\n";
  t += "  %sb = sigmoid(%b) : f32[1, 8, 7, 7]\n";
  t += "  %yb = mul(%b, %sb) : f32[1, 8, 7, 7]\n";
  t += "  %c = conv(%yb, %k3) : f32[1, 8, 7, 7]\n";
  t += "  %sc = sigmoid(%c) : f32[1, 8, 7, 7]\n";
  t += "  %yc = mul(%c, %sc) : f32[1, 8, 7, 7]\n";
  t += "  return %yc, %b, %sc\n}\n";
  auto fused = cpu_test::runOnCpuAndReference(t, {randomF({1, 8, 7, 7}, -2, 2, 324), randomF({1, 8, 7, 7}, -2, 2, 325)});
  ASSERT_TRUE(fused.has_value());
  EXPECT_EQ(std::count(fused->steps.begin(), fused->steps.end(), "conv + sigmoid + mul + add"), 1);
  std::string all;
  for (const std::string& st : fused->steps) all += st + "; ";
  EXPECT_EQ(std::count(fused->steps.begin(), fused->steps.end(), "conv + sigmoid + mul"), 0)
      << "%b and %sc are read elsewhere: " << all;
  auto m = compileOneThread(t);
  ASSERT_TRUE(m.has_value());
  for (const std::vector<Tensor>& in :
       {std::vector<Tensor>{randomF({1, 8, 7, 7}, -3, 3, 326), randomF({1, 8, 7, 7}, -3, 3, 327)},
        std::vector<Tensor>{nonFiniteF({1, 8, 7, 7}, 328), randomF({1, 8, 7, 7}, -3, 3, 329)}}) {
    auto got = m->model->run(in);
    auto want = m->interp->run(in);
    ASSERT_TRUE(got.ok() && want.ok());
    expectSame(*got, *want, 1e-5);
  }
}

TEST(CpuCnn, PerChannelLoopsMatchTheReference) {
  // Note [per-channel binary]'s direct loop at one thread: channels-last x
  // (a conv's acdb output) scaled in place and out of place (%ra returned),
  // row-major x (a region input) scaled into a new value and then shifted
  // per channel in place (add); NaN and infinities pass through.
  auto check = [](const std::string& text, const std::vector<Tensor>& in) {
    auto m = compileOneThread(text);
    ASSERT_TRUE(m.has_value());
    auto got = m->model->run(in);
    auto want = m->interp->run(in);
    ASSERT_TRUE(got.ok() && want.ok());
    expectSame(*got, *want, 1e-4);
  };
  for (const char* returns : {"%z", "%z, %ra"}) {
    SCOPED_TRACE(returns);
    check(squeezeExcite(returns), {randomF({1, 8, 6, 6}, -2, 2, 291)});
    check(squeezeExcite(returns), {nonFiniteF({1, 8, 6, 6}, 292)});
  }
  std::string t = "graph @g(%x: f32[2, 24, 5, 7]) {\n";
  t += "  %p = global_avg_pool(%x) : f32[2, 24, 1, 1]\n";
  t += "  %g = sigmoid(%p) : f32[2, 24, 1, 1]\n";
  t += "  %m = mul(%x, %g) : f32[2, 24, 5, 7]\n";
  t += "  %y = add(%m, %p) : f32[2, 24, 5, 7]\n";
  t += "  return %y\n}\n";
  check(t, {randomF({2, 24, 5, 7}, -3, 3, 293)});
  Tensor odd = randomF({2, 24, 5, 7}, -3, 3, 294);
  odd.setDouble(5, std::nan(""));
  odd.setDouble(300, INFINITY);
  check(t, {odd});
}

}  // namespace
}  // namespace sy
