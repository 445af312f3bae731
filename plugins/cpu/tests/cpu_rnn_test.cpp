// The cpu plugin's oneDNN path for lstm, gru and rnn (issue #14), compared
// with the reference interpreter (the SDK's portable kernel): every
// direction, initial states given or not, both GRU variants, layout 1, RNN
// with tanh and relu; the profile names the oneDNN step ("lstm (oneDNN)"),
// and the cases oneDNN does not compute as ONNX (clip, sequence_lens) stay
// on the portable kernel's step. At 2 threads the steps split over batch
// chunks or directions give the 1-thread bits (Note [Split recurrent steps]).
// SY_BENCH_RNN=1 also times one LSTM on both.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "switchyard/engine.h"
#include "switchyard/interpreter.h"
#include "switchyard/profile.h"
#include "switchyard/text.h"
#include "cpu_step_test_util.h"
#include "test_util.h"

namespace sy {
namespace {

using cpu_test::constantLine;
using cpu_test::cpuEngine;
using cpu_test::randomValues;
using cpu_test::shapeOf;
using cpu_test::CpuAndReference;
using cpu_test::runOnCpuAndReference;
using cpu_test::has;
Tensor randomF(std::vector<int64_t> shape, unsigned seed) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return testing::F(Shape(shape.begin(), shape.end()), randomValues(n, -1, 1, seed));
}

struct Case {
  std::string op = "lstm";
  std::string direction = "forward";
  int64_t layout = 0;
  bool bias = true;
  bool states = false;           // initial_h (and initial_c) as graph inputs
  int64_t lbr = 0;               // gru linear_before_reset
  std::string activation;        // rnn: "Tanh" / "Relu"; "" default
  std::string extraAttrs;        // e.g. "clip = 5.0"
  bool seqLens = false;          // sequence_lens given (all = T)
  bool peepholes = false;        // lstm: a constant p
  int64_t T = 5, B = 3, I = 4, H = 6;
  double wScale = 0.6;  // w and r uniform in [-wScale, wScale]
};

int64_t dirsOf(const Case& c) { return c.direction == "bidirectional" ? 2 : 1; }

std::string graphText(const Case& c) {
  const int64_t G = c.op == "lstm" ? 4 : c.op == "gru" ? 3 : 1, D = dirsOf(c);
  const std::vector<int64_t> x = c.layout ? std::vector<int64_t>{c.B, c.T, c.I} : std::vector<int64_t>{c.T, c.B, c.I};
  const std::vector<int64_t> st = c.layout ? std::vector<int64_t>{c.B, D, c.H} : std::vector<int64_t>{D, c.B, c.H};
  const std::vector<int64_t> y =
      c.layout ? std::vector<int64_t>{c.B, c.T, D, c.H} : std::vector<int64_t>{c.T, D, c.B, c.H};
  std::string t = "graph @g(%x: f32[" + shapeOf(x) + "]";
  if (c.states) {
    t += ", %h0: f32[" + shapeOf(st) + "]";
    if (c.op == "lstm") t += ", %c0: f32[" + shapeOf(st) + "]";
  }
  t += ") {\n";
  t += constantLine("w", {D, G * c.H, c.I}, -c.wScale, c.wScale, 21);
  t += constantLine("r", {D, G * c.H, c.H}, -c.wScale, c.wScale, 22);
  if (c.bias) {
    t += constantLine("b", {D, 2 * G * c.H}, -0.5, 0.5, 23);
  } else {
    t += "  %b = constant() {value = tensor<f32[0]>[]} : f32[0]\n";
  }
  if (c.seqLens) {
    std::string lens;
    for (int64_t i = 0; i < c.B; ++i) lens += (i ? ", " : "") + std::to_string(c.T);
    t += "  %sl = constant() {value = tensor<i32[" + std::to_string(c.B) + "]>[" + lens + "]} : i32[" +
         std::to_string(c.B) + "]\n";
  } else {
    t += "  %sl = constant() {value = tensor<i32[0]>[]} : i32[0]\n";
  }
  std::string args = "%x, %w, %r, %b";
  if (c.states || c.seqLens || c.peepholes) args += ", %sl";
  if (c.states) args += c.op == "lstm" ? ", %h0, %c0" : ", %h0";
  if (c.peepholes) {
    if (!c.states) {
      t += "  %e = constant() {value = tensor<f32[0]>[]} : f32[0]\n";
      args += ", %e, %e";
    }
    t += constantLine("p", {D, 3 * c.H}, -0.8, 0.8, 24);
    args += ", %p";
  }
  std::string attrs = "direction = \"" + c.direction + "\", layout = " + std::to_string(c.layout);
  if (c.op == "gru") attrs += ", linear_before_reset = " + std::to_string(c.lbr);
  if (!c.activation.empty()) {
    attrs += ", activations = [\"" + c.activation + "\"";
    if (D == 2) attrs += ", \"" + c.activation + "\"";
    attrs += "]";
  }
  if (!c.extraAttrs.empty()) attrs += ", " + c.extraAttrs;
  const std::string yt = "f32[" + shapeOf(y) + "]", stt = "f32[" + shapeOf(st) + "]";
  const bool lstm = c.op == "lstm";
  t += std::string("  %y, %yh") + (lstm ? ", %yc" : "") + " = " + c.op + "(" + args + ") {" + attrs + "} : " + yt +
       ", " + stt + (lstm ? ", " + stt : "") + "\n";
  t += std::string("  return %y, %yh") + (lstm ? ", %yc" : "") + "\n}\n";
  return t;
}

std::vector<Tensor> inputsOf(const Case& c) {
  const int64_t D = dirsOf(c);
  const std::vector<int64_t> x =
      c.layout ? std::vector<int64_t>{c.B, c.T, c.I} : std::vector<int64_t>{c.T, c.B, c.I};
  std::vector<Tensor> in = {randomF(x, 31)};
  if (c.states) {
    const std::vector<int64_t> st = c.layout ? std::vector<int64_t>{c.B, D, c.H} : std::vector<int64_t>{D, c.B, c.H};
    in.push_back(randomF(st, 32));
    if (c.op == "lstm") in.push_back(randomF(st, 33));
  }
  return in;
}

std::string describe(const Case& c) {
  return c.op + " " + c.direction + " layout " + std::to_string(c.layout) + (c.states ? " states" : "") +
         (c.bias ? "" : " no-bias") + (c.op == "gru" ? " lbr " + std::to_string(c.lbr) : "") + " " + c.activation +
         " " + c.extraAttrs + (c.seqLens ? " seq_lens" : "") + (c.peepholes ? " peepholes" : "");
}

/// Runs `c` on cpu (profiled) and the reference; returns the cpu step names.
std::vector<std::string> runAndCompare(const Case& c, double tol = 1e-5) {
  SCOPED_TRACE(describe(c));
  const std::vector<Tensor> inputs = inputsOf(c);
  const std::optional<CpuAndReference> r = runOnCpuAndReference(graphText(c), inputs);
  if (!r) return {};
  EXPECT_EQ(r->cpu.size(), r->reference.size());
  for (size_t o = 0; o < std::min(r->cpu.size(), r->reference.size()); ++o) {
    const Tensor &a = r->cpu[o], &b = r->reference[o];
    EXPECT_EQ(a.shape(), b.shape()) << "output " << o;
    if (a.shape() != b.shape()) continue;
    for (int64_t j = 0; j < a.numel(); ++j) {
      const double x = a.getDouble(j), y = b.getDouble(j);
      if (std::fabs(x - y) > tol * (1 + std::fabs(y))) {
        ADD_FAILURE() << "output " << o << " element " << j << ": cpu " << x << ", reference " << y;
        return {};
      }
    }
  }
  return r->steps;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += "'" + x + "' ";
  return s;
}

TEST(CpuRnn, LstmEveryDirectionStatesAndLayoutOnOneDnn) {
  for (const char* dir : {"forward", "reverse", "bidirectional"}) {
    for (int64_t layout : {0, 1}) {
      for (bool states : {false, true}) {
        Case c;
        c.direction = dir;
        c.layout = layout;
        c.states = states;
        c.bias = !(states && layout == 1);  // one case with an absent bias
        const std::vector<std::string> steps = runAndCompare(c);
        EXPECT_TRUE(has(steps, "lstm (oneDNN)")) << describe(c) << ": steps " << joined(steps);
      }
    }
  }
}

TEST(CpuRnn, LstmPeepholesOnOneDnn) {
  for (const char* dir : {"forward", "reverse", "bidirectional"}) {
    for (bool states : {false, true}) {
      Case c;
      c.direction = dir;
      c.states = states;
      c.layout = states ? 1 : 0;
      c.peepholes = true;
      const std::vector<std::string> steps = runAndCompare(c);
      EXPECT_TRUE(has(steps, "lstm (oneDNN)")) << describe(c) << ": steps " << joined(steps);
    }
  }
}

TEST(CpuRnn, GruBothVariantsOnOneDnn) {
  for (const char* dir : {"forward", "reverse", "bidirectional"}) {
    for (int64_t lbr : {0, 1}) {
      for (int64_t layout : {0, 1}) {
        Case c;
        c.op = "gru";
        c.direction = dir;
        c.lbr = lbr;
        c.layout = layout;
        c.states = layout == 1 || lbr == 1;
        const std::vector<std::string> steps = runAndCompare(c);
        EXPECT_TRUE(has(steps, "gru (oneDNN)")) << describe(c) << ": steps " << joined(steps);
      }
    }
  }
}

TEST(CpuRnn, RnnTanhAndReluOnOneDnn) {
  for (const char* dir : {"forward", "reverse", "bidirectional"}) {
    for (const char* act : {"", "Tanh", "Relu"}) {
      Case c;
      c.op = "rnn";
      c.direction = dir;
      c.activation = act;
      c.states = std::string(act) == "Relu";
      c.layout = std::string(act) == "Tanh" ? 1 : 0;
      const std::vector<std::string> steps = runAndCompare(c);
      EXPECT_TRUE(has(steps, "rnn (oneDNN)")) << describe(c) << ": steps " << joined(steps);
    }
  }
}

TEST(CpuRnn, CasesOneDnnDoesNotComputeStayOnThePortableKernel) {
  std::vector<Case> cases(4);
  cases[0].extraAttrs = "clip = 0.5";
  cases[1].seqLens = true;
  cases[2].op = "gru";
  cases[2].activation = "";
  cases[2].extraAttrs = "activations = [\"HardSigmoid\", \"Tanh\"]";
  cases[3].op = "rnn";
  cases[3].activation = "Sigmoid";
  for (const Case& c : cases) {
    const std::vector<std::string> steps = runAndCompare(c);
    EXPECT_TRUE(has(steps, c.op)) << describe(c) << ": steps " << joined(steps);
    EXPECT_FALSE(has(steps, c.op + " (oneDNN)")) << describe(c);
  }
}

TEST(CpuRnn, LongerSequenceAndWiderStates) {
  Case c;
  c.direction = "bidirectional";
  c.T = 17;
  c.B = 5;
  c.I = 33;
  c.H = 40;
  c.states = true;
  EXPECT_TRUE(has(runAndCompare(c), "lstm (oneDNN)"));
  c.op = "gru";
  c.lbr = 1;
  c.layout = 1;
  EXPECT_TRUE(has(runAndCompare(c), "gru (oneDNN)"));
}

// SY_BENCH_RNN=1: one LSTM (T=64, B=8, I=H=256, bidirectional) at 1 thread on
// the oneDNN step and on the portable kernel's step (the same LSTM with a
// sequence_lens of all T, which oneDNN declines), medians of 9 runs each.
TEST(CpuRnn, BenchLstmOneDnnVsPortable) {
  const char* env = std::getenv("SY_BENCH_RNN");
  if (env == nullptr || std::string(env) != "1") GTEST_SKIP() << "timing only with SY_BENCH_RNN=1";
  auto engine = cpuEngine({{"threads", "1"}});
  ASSERT_NE(engine, nullptr);
  Case c;
  c.direction = "bidirectional";
  c.T = 64;
  c.B = 8;
  c.I = 256;
  c.H = 256;
  c.wScale = 0.0625;  // ~1/sqrt(H): gates not saturated, f32 sums of both paths agree
  const std::vector<Tensor> inputs = inputsOf(c);
  double med[2] = {0, 0};
  std::vector<Tensor> outs[2];
  for (int generic = 0; generic < 2; ++generic) {
    c.seqLens = generic == 1;
    auto g = parseGraph(graphText(c));
    ASSERT_TRUE(g.ok()) << g.status().toString();
    auto model = engine->compile(std::shared_ptr<const Graph>(std::move(*g)));
    ASSERT_TRUE(model.ok()) << model.status().toString();
    std::vector<double> ms;
    for (int i = 0; i < 10; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      auto o = (*model)->run(inputs);
      const auto t1 = std::chrono::steady_clock::now();
      ASSERT_TRUE(o.ok()) << o.status().toString();
      if (i == 0) {
        outs[generic] = *o;
        continue;  // warm-up
      }
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    med[generic] = ms[ms.size() / 2];
  }
  for (size_t o = 0; o < outs[0].size(); ++o) {
    for (int64_t j = 0; j < outs[0][o].numel(); ++j)
      ASSERT_NEAR(outs[0][o].getDouble(j), outs[1][o].getDouble(j), 1e-4) << "output " << o << " element " << j;
  }
  std::printf("lstm T=64 B=8 I=H=256 bidirectional, 1 thread: oneDNN %.2f ms, portable kernel %.2f ms"
              " (median of 9)\n",
              med[0], med[1]);
}

// ---------------------------------------------------------------------------
// Note [Split recurrent steps] (dnnl_steps.cpp): at 2 threads a step with a
// batch is cut into chunks of sequences, a bidirectional one of batch 1 into
// its two directions; the outputs are the same bits as at 1 thread. The step
// says how it was cut on stderr under SY_CPU_SPLIT_DEBUG.

struct ThreadsRun {
  std::vector<Tensor> outs;
  std::string log;  // stderr while compiling and running (SY_CPU_SPLIT_DEBUG)
};

std::optional<ThreadsRun> runAtThreads(const Case& c, const std::string& threads) {
  auto engine = cpuEngine({{"threads", threads}});
  if (engine == nullptr) return std::nullopt;
  auto g = parseGraph(graphText(c));
  EXPECT_TRUE(g.ok()) << g.status().toString();
  if (!g.ok()) return std::nullopt;
  // The step makes its primitives (and says how it cut them) when the
  // compiled region warms up or on the first run.
  setenv("SY_CPU_SPLIT_DEBUG", "1", 1);
  ::testing::internal::CaptureStderr();
  auto model = engine->compile(std::shared_ptr<const Graph>(std::move(*g)));
  const std::vector<Tensor> inputs = inputsOf(c);
  ThreadsRun r;
  for (int rep = 0; rep < 3 && model.ok(); ++rep) {
    auto o = (*model)->run(inputs);
    EXPECT_TRUE(o.ok()) << o.status().toString();
    if (!o.ok()) break;
    if (rep == 0) {
      r.outs = std::move(*o);
      continue;
    }
    // Every run (split or not) gives the first run's bits.
    for (size_t i = 0; i < o->size() && i < r.outs.size(); ++i) {
      for (int64_t j = 0; j < (*o)[i].numel(); ++j) {
        if ((*o)[i].getDouble(j) != r.outs[i].getDouble(j)) {
          ADD_FAILURE() << "run " << rep << " output " << i << " element " << j << " differs from run 0";
          break;
        }
      }
    }
  }
  r.log = ::testing::internal::GetCapturedStderr();
  unsetenv("SY_CPU_SPLIT_DEBUG");
  EXPECT_TRUE(model.ok()) << model.status().toString();
  if (!model.ok()) return std::nullopt;
  return r;
}

/// `c` at 1 and 2 threads: bitwise equal outputs; the 2-thread log holds `cut`.
void checkSplit(const Case& c, const std::string& cut) {
  SCOPED_TRACE(describe(c) + " T " + std::to_string(c.T) + " B " + std::to_string(c.B) + " H " +
               std::to_string(c.H));
  const std::optional<ThreadsRun> one = runAtThreads(c, "1"), two = runAtThreads(c, "2");
  ASSERT_TRUE(one && two);
  EXPECT_NE(two->log.find("rnn split at 2 threads: T " + std::to_string(c.T) + " B " + std::to_string(c.B)),
            std::string::npos)
      << two->log;
  EXPECT_NE(two->log.find(cut), std::string::npos) << "want '" << cut << "' in\n" << two->log;
  ASSERT_EQ(one->outs.size(), two->outs.size());
  size_t differ = 0;
  for (size_t o = 0; o < one->outs.size(); ++o) {
    ASSERT_EQ(one->outs[o].shape(), two->outs[o].shape());
    for (int64_t j = 0; j < one->outs[o].numel(); ++j) differ += one->outs[o].getDouble(j) != two->outs[o].getDouble(j);
  }
  EXPECT_EQ(differ, 0u) << "elements differing between 1 and 2 threads";
  std::printf("%s T %lld B %lld H %lld: %s at 2 threads, %zu elements differ from 1 thread\n", describe(c).c_str(),
              static_cast<long long>(c.T), static_cast<long long>(c.B), static_cast<long long>(c.H), cut.c_str(),
              differ);
}

TEST(CpuRnn, SplitAtTwoThreadsEqualsOneThreadBitForBit) {
  Case c;
  c.T = 16;
  c.B = 4;
  c.I = 48;
  c.H = 64;
  c.wScale = 0.15;
  checkSplit(c, "batch, 2 chunks");  // lstm forward
  c.direction = "bidirectional";
  c.B = 3;  // chunks of 2 and 1 sequences
  c.layout = 1;
  c.states = true;
  c.peepholes = true;
  checkSplit(c, "batch, 2 chunks");
  c.direction = "reverse";
  c.op = "rnn";
  c.activation = "Relu";
  c.peepholes = false;
  c.layout = 0;
  c.B = 5;
  c.T = 40;
  checkSplit(c, "batch, 2 chunks");
  // Batch 1, bidirectional: the two directions.
  Case d;
  d.direction = "bidirectional";
  d.T = 32;
  d.B = 1;
  d.I = 48;
  d.H = 64;
  d.wScale = 0.15;
  d.peepholes = true;
  checkSplit(d, "directions, 2 chunks");
  d.peepholes = false;
  d.op = "gru";
  for (int64_t lbr : {0, 1}) {
    d.lbr = lbr;
    d.states = lbr == 1;
    d.layout = lbr;
    checkSplit(d, "directions, 2 chunks");
  }
}

// Several callers at once on one model compiled for 2 threads: split steps
// (batch chunks, directions) share the pool and the primitive caches, and
// every caller gets the 1-thread bits.
TEST(CpuRnn, SplitStepsWithConcurrentCallersGiveTheOneThreadBits) {
  Case c;
  c.direction = "bidirectional";
  c.T = 24;
  c.B = 4;
  c.I = 48;
  c.H = 64;
  c.wScale = 0.15;
  c.states = true;
  const std::optional<ThreadsRun> want = runAtThreads(c, "1");
  ASSERT_TRUE(want);
  auto engine = cpuEngine({{"threads", "2"}});
  ASSERT_NE(engine, nullptr);
  auto g = parseGraph(graphText(c));
  ASSERT_TRUE(g.ok()) << g.status().toString();
  auto model = engine->compile(std::shared_ptr<const Graph>(std::move(*g)));
  ASSERT_TRUE(model.ok()) << model.status().toString();
  const std::vector<Tensor> inputs = inputsOf(c);
  std::atomic<int> bad{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t) {
    callers.emplace_back([&] {
      for (int rep = 0; rep < 4; ++rep) {
        auto got = (*model)->run(inputs);
        if (!got.ok() || got->size() != want->outs.size()) {
          bad.fetch_add(1);
          continue;
        }
        for (size_t o = 0; o < got->size(); ++o) {
          for (int64_t j = 0; j < (*got)[o].numel(); ++j) {
            if ((*got)[o].getDouble(j) != want->outs[o].getDouble(j)) {
              bad.fetch_add(1);
              break;
            }
          }
        }
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(bad.load(), 0) << "runs that failed or differed from 1 thread";
}

TEST(CpuRnn, OneDirectionOfBatchOneAndSmallStepsStayWhole) {
  Case c;
  c.T = 32;
  c.B = 1;
  c.I = 48;
  c.H = 64;
  c.wScale = 0.15;
  checkSplit(c, "whole, 0 chunks");  // one direction, one sequence: nothing independent to cut
  // Batch 1 runs on oneDNN's gemm-based RNN (Note [Recurrent weights at batch 1]).
  EXPECT_TRUE(has(runAndCompare(c), "lstm (oneDNN)"));
  c.direction = "reverse";
  c.op = "gru";
  checkSplit(c, "whole, 0 chunks");
  EXPECT_TRUE(has(runAndCompare(c), "gru (oneDNN)"));
  Case small;  // T 5, B 3, H 6: far below a chunk's work
  small.direction = "bidirectional";
  checkSplit(small, "batch, 0 chunks");
}

}  // namespace
}  // namespace sy
