// One Interpreter shared by many threads: every run must give bitwise the same
// results as the same run done alone. Run this file under ThreadSanitizer too
// (-DSY_SANITIZE=thread).
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "switchyard/interpreter.h"
#include "switchyard/program.h"
#include "test_util.h"

namespace sy {
namespace {

constexpr int kThreads = 8;
constexpr int kRunsPerThread = 50;

std::shared_ptr<const Interpreter> loadExample(const char* name) {
  auto g = loadProgram(std::string(SY_SOURCE_DIR) + "/examples/" + name);
  EXPECT_TRUE(g.ok()) << g.status().toString();
  if (!g.ok()) return nullptr;
  auto in = Interpreter::create(std::shared_ptr<const Graph>(std::move(*g)));
  EXPECT_TRUE(in.ok()) << in.status().toString();
  return in.ok() ? *in : nullptr;
}

/// Deterministic pseudo-random values in [-1, 1).
std::vector<double> values(int64_t n, uint32_t seed) {
  std::vector<double> v(static_cast<size_t>(n));
  uint32_t s = seed * 2654435761u + 12345u;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<double>(s >> 8) / static_cast<double>(1u << 24) * 2.0 - 1.0;
  }
  return v;
}

struct Case {
  std::vector<Tensor> inputs;
  std::vector<Tensor> expected;
};

/// Inputs for run `k` of thread `t`: batch sizes and step counts vary.
std::vector<Tensor> mlpInputs(int t, int k) {
  const int64_t n = 1 + (t * 7 + k) % 6;
  return {::sy::testing::F({n, 8}, values(n * 8, static_cast<uint32_t>(t * 1000 + k)))};
}
std::vector<Tensor> recurrentInputs(int t, int k) {
  const int64_t b = 1 + (t + k) % 4;
  const int64_t steps = (t * 3 + k) % 5;  // 0..4, zero included
  return {::sy::testing::F({b, 4}, values(b * 4, static_cast<uint32_t>(t * 7919 + k * 31 + 1))),
          Tensor::scalarI64(steps)};
}

void runShared(const Interpreter& in, std::vector<Tensor> (*makeInputs)(int, int)) {
  // Expected results, computed one at a time before any thread starts.
  std::vector<std::vector<Case>> cases(kThreads);
  for (int t = 0; t < kThreads; ++t)
    for (int k = 0; k < kRunsPerThread; ++k) {
      Case c;
      c.inputs = makeInputs(t, k);
      auto r = in.run(c.inputs);
      ASSERT_TRUE(r.ok()) << r.status().toString();
      c.expected = *r;
      cases[static_cast<size_t>(t)].push_back(std::move(c));
    }

  std::atomic<int> mismatches{0}, failures{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (const Case& c : cases[static_cast<size_t>(t)]) {
        auto r = in.run(c.inputs);
        if (!r.ok()) {
          ++failures;
          continue;
        }
        if (r->size() != c.expected.size()) {
          ++mismatches;
          continue;
        }
        for (size_t i = 0; i < r->size(); ++i)
          if (!(*r)[i].bitwiseEqual(c.expected[i])) ++mismatches;
      }
    });
  go = true;
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(ConcurrencyTest, MlpSharedInterpreter) {
  auto in = loadExample("mlp.sy");
  ASSERT_NE(in, nullptr);
  runShared(*in, mlpInputs);
}

TEST(ConcurrencyTest, RecurrentSharedInterpreter) {
  auto in = loadExample("recurrent.sy");
  ASSERT_NE(in, nullptr);
  runShared(*in, recurrentInputs);
}

TEST(ConcurrencyTest, MixedProgramsAndErrorsAtOnce) {
  // Both interpreters at once, half the threads on each, with failing runs
  // (a wrong input) interleaved: errors in one run never disturb another.
  auto mlp = loadExample("mlp.sy");
  auto rec = loadExample("recurrent.sy");
  ASSERT_NE(mlp, nullptr);
  ASSERT_NE(rec, nullptr);
  std::vector<std::vector<Case>> cases(kThreads);
  for (int t = 0; t < kThreads; ++t)
    for (int k = 0; k < kRunsPerThread / 2; ++k) {
      const Interpreter& in = t % 2 ? *rec : *mlp;
      Case c;
      c.inputs = t % 2 ? recurrentInputs(t, k) : mlpInputs(t, k);
      auto r = in.run(c.inputs);
      ASSERT_TRUE(r.ok()) << r.status().toString();
      c.expected = *r;
      cases[static_cast<size_t>(t)].push_back(std::move(c));
    }
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      const Interpreter& in = t % 2 ? *rec : *mlp;
      for (const Case& c : cases[static_cast<size_t>(t)]) {
        // A failing run first: wrong dtype for the first input.
        std::vector<Tensor> wrong = c.inputs;
        wrong[0] = Tensor::scalarI64(1);
        if (in.run(wrong).ok()) ++bad;
        auto r = in.run(c.inputs);
        if (!r.ok() || r->size() != c.expected.size()) {
          ++bad;
          continue;
        }
        for (size_t i = 0; i < r->size(); ++i)
          if (!(*r)[i].bitwiseEqual(c.expected[i])) ++bad;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(ConcurrencyTest, InterpreterOutlivesCallersAndGraphHandles) {
  // Threads hold only the shared_ptr; the interpreter (and its graph and
  // memory-mapped weights) stays alive until the last one lets go.
  auto in = loadExample("mlp.sy");
  ASSERT_NE(in, nullptr);
  const auto inputs = mlpInputs(0, 0);
  auto expected = in->run(inputs);
  ASSERT_TRUE(expected.ok());
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([held = in, &inputs, &expected, &bad] {
      for (int k = 0; k < 10; ++k) {
        auto r = held->run(inputs);
        if (!r.ok() || !(*r)[0].bitwiseEqual((*expected)[0])) ++bad;
      }
    });
  in.reset();
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace sy
