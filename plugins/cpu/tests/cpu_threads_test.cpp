// The cpu plugin's threads (issue #15, Note [Split primitives] in
// src/dnnl_split.cpp): the pool hands out chunks dynamically and a worker held
// busy does not stall another job; an idle pool sleeps; oneDNN primitives cut
// into chunks compute what the whole primitive computes (conv over output
// channels, depthwise conv over channels, matmul over prepacked weight
// columns and over rows, pooling, softmax rows); and whole models give the
// same results at 1 and 2 threads with several callers at once.
#include <gtest/gtest.h>

#include <dnnl.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "cpu_step_test_util.h"
#include "dnnl_split.h"
#include "switchyard/engine.h"
#include "switchyard/text.h"
#include "test_util.h"

namespace {

using sy_cpu::SliceSpec;
using sy_cpu::SplitPrimitive;
using sy_cpu::ThreadPool;
using Md = dnnl::memory::desc;
using dnnl::memory;

// ---------------------------------------------------------------------------
// The pool

TEST(CpuThreads, PoolRunsEveryChunkOnce) {
  ThreadPool pool(3);
  for (int64_t n : {1, 2, 7, 64, 1000}) {
    std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
    pool.parallelFor(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) seen[static_cast<size_t>(i)].fetch_add(1);
    }, 4);
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)].load(), 1) << "n " << n << " i " << i;
  }
}

// A worker held inside a chunk of one job (a preempted thread) does not hold
// up another caller's job: the caller claims every chunk itself.
TEST(CpuThreads, HeldWorkerDoesNotStallAnotherJob) {
  ThreadPool pool(1);
  std::mutex m;
  std::condition_variable cv;
  bool workerIn = false, release = false;
  std::thread::id holder;
  std::thread first([&] {
    holder = std::this_thread::get_id();
    const std::thread::id me = std::this_thread::get_id();
    pool.parallelFor(2, 1, [&](int64_t, int64_t) {
      std::unique_lock<std::mutex> lock(m);
      if (std::this_thread::get_id() == me) {
        // the caller's chunk: wait until the worker holds the other one
        cv.wait_for(lock, std::chrono::seconds(20), [&] { return workerIn; });
      } else {
        workerIn = true;
        cv.notify_all();
        cv.wait_for(lock, std::chrono::seconds(20), [&] { return release; });
      }
    }, 2);
  });
  {
    std::unique_lock<std::mutex> lock(m);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return workerIn; }));
  }
  const auto start = std::chrono::steady_clock::now();
  std::atomic<int64_t> sum{0};
  std::atomic<int> onOtherThreads{0};
  const std::thread::id me = std::this_thread::get_id();
  pool.parallelFor(100, 1, [&](int64_t b, int64_t e) {
    if (std::this_thread::get_id() != me) onOtherThreads.fetch_add(1);
    for (int64_t i = b; i < e; ++i) sum.fetch_add(i);
  }, 2);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  bool stillHeld;
  {
    std::lock_guard<std::mutex> lock(m);
    stillHeld = !release;
    release = true;
  }
  cv.notify_all();
  first.join();
  EXPECT_TRUE(stillHeld);
  EXPECT_EQ(sum.load(), 99 * 100 / 2);
  EXPECT_EQ(onOtherThreads.load(), 0);  // the only worker was held
  EXPECT_LT(s, 5.0);
}

TEST(CpuThreads, ConcurrentCallersShareThePool) {
  ThreadPool pool(2);
  std::vector<std::thread> callers;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      for (int rep = 0; rep < 200; ++rep) {
        const int64_t n = 50 + t * 13 + rep % 7;
        std::atomic<int64_t> sum{0};
        pool.parallelFor(n, 1, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) sum.fetch_add(i + 1);
        }, 3);
        if (sum.load() != n * (n + 1) / 2) bad.fetch_add(1);
      }
    });
  }
  for (std::thread& c : callers) c.join();
  EXPECT_EQ(bad.load(), 0);
}

double processCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Workers spin briefly after a job, then block: an idle pool costs no CPU.
TEST(CpuThreads, IdleWorkersBlock) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  pool.parallelFor(64, 1, [&](int64_t b, int64_t e) { sum.fetch_add(e - b); }, 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // past the spin
  const double before = processCpuSeconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const double used = processCpuSeconds() - before;
  EXPECT_EQ(sum.load(), 64);
  EXPECT_LT(used, 0.05) << "idle workers used " << used << " s of CPU in 0.3 s";
}

// ---------------------------------------------------------------------------
// Split primitives against whole ones

std::vector<float> randomFloats(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = d(gen);
  return v;
}

dnnl::primitive_attr userPad() {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

/// Runs `p` whole on the calling thread with `args` (+ scratchpad).
void runWhole(const dnnl::primitive& p, std::unordered_map<int, memory> args) {
  const dnnl_memory_desc_t* smd = dnnl_primitive_desc_query_md(p.get_primitive_desc(), dnnl_query_scratchpad_md, 0);
  sy_cpu::AlignedBlock pad;
  if (smd != nullptr && smd->ndims > 0 && Md(*smd).get_size() > 0) {
    pad = sy_cpu::AlignedBlock(Md(*smd).get_size());
    args[DNNL_ARG_SCRATCHPAD] = memory(Md(*smd), sy_cpu::dnnlEngine(), pad.data());
  }
  dnnl::stream s(sy_cpu::dnnlEngine());
  p.execute(s, args);
  s.wait();
}

struct Diff {
  double max = 0;
  bool bitwise = true;
};
Diff compare(const memory& a, const memory& b) {
  const size_t n = a.get_desc().get_size() / sizeof(float);
  const float* x = static_cast<const float*>(a.get_data_handle());
  const float* y = static_cast<const float*>(b.get_data_handle());
  Diff d;
  for (size_t i = 0; i < n; ++i) {
    d.max = std::max(d.max, static_cast<double>(std::fabs(x[i] - y[i])));
    if (std::memcmp(&x[i], &y[i], sizeof(float)) != 0) d.bitwise = false;
  }
  return d;
}

memory filled(const Md& md, unsigned seed) {
  memory m(md, sy_cpu::dnnlEngine());
  const std::vector<float> v = randomFloats(md.get_size() / sizeof(float), seed);
  std::memcpy(m.get_data_handle(), v.data(), md.get_size());
  return m;
}

memory zeros(const Md& md) {
  memory m(md, sy_cpu::dnnlEngine());
  std::memset(m.get_data_handle(), 0, md.get_size());
  return m;
}

/// Convolution [1, ic, 15, 13] -> oc, kernel k, stride s, pad p, in the
/// layouts oneDNN picks (channels-last), bias, relu and a residual sum
/// post-op, cut over output rows; depthwise when `depthwise`.
void checkConv(int64_t ic, int64_t oc, int64_t k, int64_t s, int64_t p, bool depthwise) {
  const std::string what = "conv ic " + std::to_string(ic) + " oc " + std::to_string(oc) + " k " +
                           std::to_string(k) + " s " + std::to_string(s) + " p " + std::to_string(p) +
                           (depthwise ? " depthwise" : "");
  SCOPED_TRACE(what);
  sy_cpu::setOmpThreads(1);
  const auto f32 = memory::data_type::f32;
  const auto any = memory::format_tag::any;
  const int64_t ih = 15, iw = 13, oh = (ih + 2 * p - k) / s + 1, ow = (iw + 2 * p - k) / s + 1;
  const memory::dims x{1, ic, ih, iw}, y{1, oc, oh, ow};
  const memory::dims w = depthwise ? memory::dims{ic, 1, 1, k, k} : memory::dims{oc, ic, k, k};
  const Md bias({oc}, f32, memory::format_tag::a);
  dnnl::post_ops po;
  po.append_sum(1.f);
  po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  dnnl::primitive_attr at = userPad();
  at.set_post_ops(po);
  const memory::dims st{s, s}, dil{0, 0}, pad{p, p};
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                    Md(x, f32, any), Md(w, f32, any), bias, Md(y, f32, any), st, dil, pad, pad);
  dnnl::convolution_forward::primitive_desc pd(d, at, sy_cpu::dnnlEngine());
  dnnl::convolution_forward whole(pd);
  auto split = sy_cpu::splitRows(
      pd.src_desc(), pd.dst_desc(), s, k, p, 2, 1e9, 1, sy_cpu::implOf(whole),
      [&](const Md& src, const Md& dst, int64_t padT, int64_t padB) {
        dnnl::convolution_forward::desc cd(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                           src, pd.weights_desc(), bias, dst, st, dil, {padT, p}, {padB, p});
        return dnnl::primitive(
            dnnl::convolution_forward(dnnl::convolution_forward::primitive_desc(cd, at, sy_cpu::dnnlEngine())));
      });
  ASSERT_NE(split, nullptr);
  EXPECT_GE(split->numChunks(), 2u);
  const memory src = filled(pd.src_desc(), 1), wt = filled(pd.weights_desc(), 2), b = filled(bias, 3);
  const memory addend = filled(pd.dst_desc(), 4);
  memory d1 = zeros(pd.dst_desc()), d2 = zeros(pd.dst_desc());
  std::memcpy(d1.get_data_handle(), addend.get_data_handle(), pd.dst_desc().get_size());
  std::memcpy(d2.get_data_handle(), addend.get_data_handle(), pd.dst_desc().get_size());
  runWhole(whole, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wt}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, d1}});
  split->execute({{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wt}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, d2}}, 2);
  const Diff diff = compare(d1, d2);
  std::printf("%s (%s): %zu chunks, max |split - whole| %g (%s)\n", what.c_str(), sy_cpu::implOf(whole).c_str(),
              split->numChunks(), diff.max, diff.bitwise ? "bitwise equal" : "not bitwise");
  EXPECT_TRUE(diff.bitwise);
}

TEST(CpuThreads, SplitConvEqualsWhole) {
  checkConv(32, 64, 3, 1, 1, false);
  checkConv(24, 40, 3, 2, 1, false);  // stride 2: each chunk's rows start on the stride
  checkConv(3, 64, 7, 2, 3, false);   // a stem conv: pads wider than a chunk's rows
  checkConv(64, 96, 1, 1, 0, false);  // 1x1
  checkConv(48, 48, 3, 1, 1, true);
  checkConv(40, 40, 5, 2, 2, true);
}

void checkMatmul(int64_t M, int64_t K, int64_t N, bool packed) {
  SCOPED_TRACE("matmul " + std::to_string(M) + "x" + std::to_string(K) + "x" + std::to_string(N));
  sy_cpu::setOmpThreads(1);
  const auto f32 = memory::data_type::f32;
  const Md a({M, K}, f32, memory::format_tag::ab), dst({M, N}, f32, memory::format_tag::ab);
  const Md bias({1, N}, f32, memory::format_tag::ab);
  const Md w = packed ? Md({K, N}, f32, memory::format_tag::any) : Md({K, N}, f32, memory::format_tag::ab);
  dnnl::post_ops po;
  po.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f);
  dnnl::primitive_attr at = userPad();
  at.set_post_ops(po);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, w, bias, dst), at, sy_cpu::dnnlEngine());
  dnnl::matmul whole(pd);
  const Md wd = pd.weights_desc();
  auto split = SplitPrimitive::make(
      {{DNNL_ARG_SRC, a, 0}, {DNNL_ARG_DST, dst, 0}}, M, 2, 1e9, 1,
      [&](const std::vector<Md>& sl, int64_t, int64_t) {
        return dnnl::primitive(dnnl::matmul(
            dnnl::matmul::primitive_desc(dnnl::matmul::desc(sl[0], wd, bias, sl[1]), at, sy_cpu::dnnlEngine())));
      },
      sy_cpu::implOf(whole));
  ASSERT_NE(split, nullptr);
  EXPECT_GE(split->numChunks(), 2u);
  const memory src = filled(a, 5), wt = filled(wd, 6), b = filled(bias, 7);
  memory d1 = zeros(dst), d2 = zeros(dst);
  runWhole(whole, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wt}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, d1}});
  split->execute({{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wt}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, d2}}, 2);
  const Diff diff = compare(d1, d2);
  std::printf("matmul %lldx%lldx%lld by rows (%s): %zu chunks, max |split - whole| %g (%s)\n",
              static_cast<long long>(M), static_cast<long long>(K), static_cast<long long>(N),
              sy_cpu::implOf(whole).c_str(), split->numChunks(), diff.max,
              diff.bitwise ? "bitwise equal" : "not bitwise");
  EXPECT_TRUE(diff.bitwise);
}

TEST(CpuThreads, SplitMatmulEqualsWhole) {
  checkMatmul(128, 256, 768, true);  // prepacked weights (BA16a64b)
  checkMatmul(33, 100, 200, true);
  checkMatmul(128, 256, 192, false);
  checkMatmul(37, 64, 50, false);
}

// A product with one row (a classifier's gemv) cut along its columns: the
// prepacked weights' N blocks, dst and bias slices are contiguous.
void checkMatmulColumns(int64_t K, int64_t N, bool withBias) {
  SCOPED_TRACE("matmul 1x" + std::to_string(K) + "x" + std::to_string(N));
  sy_cpu::setOmpThreads(1);
  const auto f32 = memory::data_type::f32;
  const Md a({1, K}, f32, memory::format_tag::ab), dst({1, N}, f32, memory::format_tag::ab);
  const Md bias = withBias ? Md({1, N}, f32, memory::format_tag::ab) : Md();
  dnnl::post_ops po;
  po.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f);
  dnnl::primitive_attr at = userPad();
  at.set_post_ops(po);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, Md({K, N}, f32, memory::format_tag::any), bias, dst), at,
                                  sy_cpu::dnnlEngine());
  dnnl::matmul whole(pd);
  const Md wd = pd.weights_desc();
  auto split = sy_cpu::splitColumns(wd, bias, dst, 2, 1e9, 1, sy_cpu::implOf(whole),
                                    [&](const Md& w, const Md& b, const Md& d) {
                                      return dnnl::primitive(dnnl::matmul(dnnl::matmul::primitive_desc(
                                          dnnl::matmul::desc(a, w, b, d), at, sy_cpu::dnnlEngine())));
                                    });
  ASSERT_NE(split, nullptr);
  EXPECT_GE(split->numChunks(), 2u);
  const memory src = filled(a, 8), wt = filled(wd, 9);
  memory d1 = zeros(dst), d2 = zeros(dst);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wt}, {DNNL_ARG_DST, d1}};
  std::vector<std::pair<int, memory>> splitArgs{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wt}, {DNNL_ARG_DST, d2}};
  if (withBias) {
    const memory b = filled(bias, 10);
    args.emplace(DNNL_ARG_BIAS, b);
    splitArgs.emplace_back(DNNL_ARG_BIAS, b);
  }
  runWhole(whole, args);
  split->execute(splitArgs, 2);
  const Diff diff = compare(d1, d2);
  std::printf("matmul 1x%lldx%lld by columns (%s, weights %s): %zu chunks, max |split - whole| %g (%s)\n",
              static_cast<long long>(K), static_cast<long long>(N), sy_cpu::implOf(whole).c_str(),
              wd.data.format_desc.blocking.inner_nblks > 0 ? "blocked" : "plain", split->numChunks(), diff.max,
              diff.bitwise ? "bitwise equal" : "not bitwise");
  EXPECT_TRUE(diff.bitwise);
}

TEST(CpuThreads, SplitGemvColumnsEqualsWhole) {
  checkMatmulColumns(1280, 1000, true);  // MobileNetV3's classifier (BA16a64b)
  checkMatmulColumns(512, 300, false);
}

TEST(CpuThreads, SplitGemvColumnsOnlyWhereSlicesAreContiguous) {
  const auto f32 = memory::data_type::f32;
  const Md bias({1, 1000}, f32, memory::format_tag::ab);
  auto make = [](const Md&, const Md&, const Md&) -> dnnl::primitive {
    ADD_FAILURE() << "no chunk should be made";
    return {};
  };
  // Row-major weights: a chunk's columns are strided rows.
  EXPECT_EQ(sy_cpu::splitColumns(Md({1280, 1000}, f32, memory::format_tag::ab), bias,
                                 Md({1, 1000}, f32, memory::format_tag::ab), 2, 1e9, 1, "brg:avx512_core", make),
            nullptr);
  // Two rows: column chunks of dst are strided.
  EXPECT_EQ(sy_cpu::splitColumns(Md({1280, 1000}, f32, memory::format_tag::ba), bias,
                                 Md({2, 1000}, f32, memory::format_tag::ab), 2, 1e9, 1, "brg:avx512_core", make),
            nullptr);
  // A strided dst (every other element).
  EXPECT_EQ(sy_cpu::splitColumns(Md({1280, 1000}, f32, memory::format_tag::ba), bias,
                                 Md({1, 1000}, f32, memory::dims{2000, 2}), 2, 1e9, 1, "brg:avx512_core", make),
            nullptr);
}

// Attention's batched products cut along the heads; a batch of images of a
// convolution cut into images.
TEST(CpuThreads, SplitBatchesEqualWhole) {
  sy_cpu::setOmpThreads(1);
  const auto f32 = memory::data_type::f32;
  {
    const Md a({1, 12, 32, 64}, f32, memory::format_tag::abcd), b({1, 12, 64, 32}, f32, memory::format_tag::abcd);
    const Md dst({1, 12, 32, 32}, f32, memory::format_tag::abcd);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, dst), userPad(), sy_cpu::dnnlEngine());
    dnnl::matmul whole(pd);
    auto split = SplitPrimitive::make(
        {{DNNL_ARG_SRC, a, 1}, {DNNL_ARG_WEIGHTS, b, 1}, {DNNL_ARG_DST, dst, 1}}, 12, 2, 1e9, 1,
        [&](const std::vector<Md>& sl, int64_t, int64_t) {
          return dnnl::primitive(dnnl::matmul(
              dnnl::matmul::primitive_desc(dnnl::matmul::desc(sl[0], sl[1], sl[2]), userPad(), sy_cpu::dnnlEngine())));
        },
        sy_cpu::implOf(whole));
    ASSERT_NE(split, nullptr);
    const memory x = filled(a, 10), y = filled(b, 11);
    memory d1 = zeros(dst), d2 = zeros(dst);
    runWhole(whole, {{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, y}, {DNNL_ARG_DST, d1}});
    split->execute({{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, y}, {DNNL_ARG_DST, d2}}, 2);
    const Diff diff = compare(d1, d2);
    std::printf("batched matmul by heads (%s): %zu chunks, max |split - whole| %g (%s)\n",
                sy_cpu::implOf(whole).c_str(), split->numChunks(), diff.max,
                diff.bitwise ? "bitwise equal" : "not bitwise");
    EXPECT_TRUE(diff.bitwise);
  }
  {
    const auto any = memory::format_tag::any;
    const memory::dims st{1, 1}, dil{0, 0}, pad{1, 1};
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                      Md({5, 16, 10, 10}, f32, any), Md({32, 16, 3, 3}, f32, any), Md(),
                                      Md({5, 32, 10, 10}, f32, any), st, dil, pad, pad);
    dnnl::convolution_forward::primitive_desc pd(d, userPad(), sy_cpu::dnnlEngine());
    dnnl::convolution_forward whole(pd);
    auto split = SplitPrimitive::make(
        {{DNNL_ARG_SRC, pd.src_desc(), 0}, {DNNL_ARG_DST, pd.dst_desc(), 0}}, 5, 2, 1e9, 1,
        [&](const std::vector<Md>& sl, int64_t, int64_t) {
          dnnl::convolution_forward::desc cd(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                             sl[0], pd.weights_desc(), Md(), sl[1], st, dil, pad, pad);
          return dnnl::primitive(dnnl::convolution_forward(
              dnnl::convolution_forward::primitive_desc(cd, userPad(), sy_cpu::dnnlEngine())));
        },
        sy_cpu::implOf(whole));
    ASSERT_NE(split, nullptr);
    EXPECT_EQ(split->numChunks(), 5u);
    const memory x = filled(pd.src_desc(), 12), w = filled(pd.weights_desc(), 13);
    memory d1 = zeros(pd.dst_desc()), d2 = zeros(pd.dst_desc());
    runWhole(whole, {{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, d1}});
    split->execute({{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, d2}}, 2);
    const Diff diff = compare(d1, d2);
    std::printf("conv batch 5 by images (%s): %zu chunks, max |split - whole| %g (%s)\n",
                sy_cpu::implOf(whole).c_str(), split->numChunks(), diff.max,
                diff.bitwise ? "bitwise equal" : "not bitwise");
    EXPECT_TRUE(diff.bitwise);
  }
}

// matmul_integer's primitive (u8 x s8 -> s32, prepacked weights) cut into rows.
TEST(CpuThreads, SplitInt8MatmulEqualsWhole) {
  sy_cpu::setOmpThreads(1);
  const Md a({1, 96, 256}, memory::data_type::u8, memory::format_tag::abc);
  const Md dst({1, 96, 192}, memory::data_type::s32, memory::format_tag::abc);
  const Md wAny({1, 256, 192}, memory::data_type::s8, memory::format_tag::any);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, wAny, dst), userPad(), sy_cpu::dnnlEngine());
  dnnl::matmul whole(pd);
  const Md w = pd.weights_desc();
  auto split = SplitPrimitive::make(
      {{DNNL_ARG_SRC, a, 1}, {DNNL_ARG_DST, dst, 1}}, 96, 2, 1e9, 1,
      [&](const std::vector<Md>& sl, int64_t, int64_t) {
        return dnnl::primitive(dnnl::matmul(
            dnnl::matmul::primitive_desc(dnnl::matmul::desc(sl[0], w, sl[1]), userPad(), sy_cpu::dnnlEngine())));
      },
      sy_cpu::implOf(whole));
  ASSERT_NE(split, nullptr);
  memory x(a, sy_cpu::dnnlEngine()), y(w, sy_cpu::dnnlEngine());
  std::mt19937 gen(14);
  for (size_t i = 0; i < a.get_size(); ++i) static_cast<uint8_t*>(x.get_data_handle())[i] = static_cast<uint8_t>(gen());
  for (size_t i = 0; i < w.get_size(); ++i) static_cast<int8_t*>(y.get_data_handle())[i] = static_cast<int8_t>(gen() % 64);
  memory d1 = zeros(dst), d2 = zeros(dst);
  runWhole(whole, {{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, y}, {DNNL_ARG_DST, d1}});
  split->execute({{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, y}, {DNNL_ARG_DST, d2}}, 2);
  EXPECT_EQ(std::memcmp(d1.get_data_handle(), d2.get_data_handle(), dst.get_size()), 0);
  std::printf("int8 matmul by rows (%s): %zu chunks, %s\n", sy_cpu::implOf(whole).c_str(), split->numChunks(),
              std::memcmp(d1.get_data_handle(), d2.get_data_handle(), dst.get_size()) == 0 ? "bitwise equal"
                                                                                            : "different");
}

TEST(CpuThreads, SplitSoftmaxAndPoolingEqualWhole) {
  sy_cpu::setOmpThreads(1);
  const auto f32 = memory::data_type::f32;
  {
    const Md md({96, 200}, f32, memory::format_tag::ab);
    dnnl::softmax_forward::primitive_desc pd(dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, md, 1),
                                             userPad(), sy_cpu::dnnlEngine());
    dnnl::softmax_forward whole(pd);
    auto split = SplitPrimitive::make({{DNNL_ARG_SRC, md, 0}, {DNNL_ARG_DST, md, 0}}, 96, 2, 1e9, 1,
                                      [&](const std::vector<Md>& sl, int64_t, int64_t) {
                                        return dnnl::primitive(dnnl::softmax_forward(dnnl::softmax_forward::primitive_desc(
                                            dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, sl[0], 1),
                                            userPad(), sy_cpu::dnnlEngine())));
                                      },
                                      sy_cpu::implOf(whole));
    ASSERT_NE(split, nullptr);
    const memory x = filled(md, 8);
    memory d1 = zeros(md), d2 = zeros(md);
    runWhole(whole, {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, d1}});
    split->execute({{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, d2}}, 2);
    const Diff diff = compare(d1, d2);
    std::printf("softmax: %zu chunks, max |split - whole| %g (%s)\n", split->numChunks(), diff.max,
                diff.bitwise ? "bitwise equal" : "not bitwise");
    EXPECT_TRUE(diff.bitwise);
  }
  {
    const Md src({1, 64, 17, 16}, f32, memory::format_tag::acdb);
    const Md dstAny({1, 64, 9, 8}, f32, memory::format_tag::any);
    const memory::dims st{2, 2}, k{3, 3}, dil{0, 0}, pl{1, 1}, pr{1, 0};
    dnnl::pooling_v2_forward::primitive_desc pd(
        dnnl::pooling_v2_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max, src, dstAny,
                                       st, k, dil, pl, pr),
        userPad(), sy_cpu::dnnlEngine());
    dnnl::pooling_v2_forward whole(pd);
    const Md dst = pd.dst_desc();
    auto split = sy_cpu::splitRows(
        src, dst, 2, 3, 1, 2, 1e9, 1, sy_cpu::implOf(whole),
        [&](const Md& s1, const Md& d1, int64_t padT, int64_t padB) {
          return dnnl::primitive(dnnl::pooling_v2_forward(dnnl::pooling_v2_forward::primitive_desc(
              dnnl::pooling_v2_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max, s1,
                                             d1, st, k, dil, {padT, 1}, {padB, 0}),
              userPad(), sy_cpu::dnnlEngine())));
        });
    ASSERT_NE(split, nullptr);
    const memory x = filled(src, 9);
    memory d1 = zeros(dst), d2 = zeros(dst);
    runWhole(whole, {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, d1}});
    split->execute({{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, d2}}, 2);
    const Diff diff = compare(d1, d2);
    std::printf("max pool (%s): %zu chunks, max |split - whole| %g (%s)\n", sy_cpu::implOf(whole).c_str(),
                split->numChunks(), diff.max, diff.bitwise ? "bitwise equal" : "not bitwise");
    EXPECT_TRUE(diff.bitwise);
  }
}

TEST(CpuThreads, SliceOfABlockedLayoutIsItsChannelBlock) {
  const Md md({1, 40, 5, 7}, memory::data_type::f32, memory::format_tag::nChw16c);
  EXPECT_EQ(sy_cpu::blockOf(md, 1), 16);
  EXPECT_EQ(sy_cpu::blockOf(md, 2), 1);
  EXPECT_FALSE(sy_cpu::sliceMd(md, 1, 8, 16).has_value());  // not at a block boundary
  const auto s = sy_cpu::sliceMd(md, 1, 32, 8);             // the part-filled last block
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->second, size_t{2} * 16 * 5 * 7 * sizeof(float));
  EXPECT_EQ(s->first, Md({1, 8, 5, 7}, memory::data_type::f32, memory::format_tag::nChw16c));
}

}  // namespace

// ---------------------------------------------------------------------------
// Whole models through the plugin: 2 threads (split steps) against 1.

namespace sy {
namespace {

std::string constantLine(const std::string& name, const std::vector<int64_t>& dims, unsigned seed) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  std::ostringstream os;
  os.precision(9);
  os << "  %" << name << " = constant() {value = tensor<f32[" << cpu_test::shapeOf(dims) << "]>[";
  const std::vector<float> v = randomFloats(static_cast<size_t>(n), seed);
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << std::showpoint << 0.2f * v[i];
  os << "]} : f32[" << cpu_test::shapeOf(dims) << "]\n";
  return os.str();
}

// conv -> relu -> depthwise conv (+ residual) -> max pool -> flatten ->
// matmul (+ bias, gelu) -> softmax; every step is split at 2 threads.
std::string modelText() {
  std::string t = "graph @g(%x: f32[1, 16, 24, 24]) {\n";
  t += constantLine("w1", {64, 16, 3, 3}, 11);
  t += constantLine("b1", {64}, 12);
  t += constantLine("w2", {64, 1, 3, 3}, 13);
  t += constantLine("w3", {2304, 256}, 14);
  t += constantLine("b3", {256}, 15);
  t += "  %c = conv(%x, %w1, %b1) {pads = [1, 1, 1, 1]} : f32[1, 64, 24, 24]\n";
  t += "  %r = relu(%c) : f32[1, 64, 24, 24]\n";
  t += "  %d = conv(%r, %w2) {group = 64, pads = [1, 1, 1, 1]} : f32[1, 64, 24, 24]\n";
  t += "  %s = add(%d, %r) : f32[1, 64, 24, 24]\n";
  t += "  %p = max_pool(%s) {kernel_shape = [2, 2], strides = [2, 2]} : f32[1, 64, 12, 12]\n";
  t += "  %shp = constant() {value = tensor<i64[2]>[4, 2304]} : i64[2]\n";
  t += "  %v = reshape(%p, %shp) : f32[4, 2304]\n";
  t += "  %m = matmul(%v, %w3) : f32[4, 256]\n";
  t += "  %mb = add(%m, %b3) : f32[4, 256]\n";
  t += "  %o = softmax(%mb) {axis = -1} : f32[4, 256]\n";
  t += "  return %o, %s\n}\n";
  return t;
}

/// `text` compiled on cpu-only engines of 1 and 2 threads, with the
/// 1-thread outputs for `x`: what every 2-thread run must give. Null (and a
/// test failure) when parsing, compiling or the 1-thread run fails.
struct OneAndTwoThreads {
  std::unique_ptr<Engine> one, two;
  std::shared_ptr<const CompiledModel> m2;
  std::vector<Tensor> want;
};

std::optional<OneAndTwoThreads> compileAtOneAndTwoThreads(const std::string& text, const Tensor& x) {
  auto parsed = parseGraph(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status().toString();
  if (!parsed.ok()) return std::nullopt;
  std::shared_ptr<const Graph> g(std::move(*parsed));
  OneAndTwoThreads r;
  r.one = cpu_test::cpuEngine({{"threads", "1"}});
  r.two = cpu_test::cpuEngine({{"threads", "2"}});
  if (r.one == nullptr || r.two == nullptr) return std::nullopt;
  auto m1 = r.one->compile(g);
  auto m2 = r.two->compile(g);
  EXPECT_TRUE(m1.ok()) << m1.status().toString();
  EXPECT_TRUE(m2.ok()) << m2.status().toString();
  if (!m1.ok() || !m2.ok()) return std::nullopt;
  auto want = (*m1)->run({x});
  EXPECT_TRUE(want.ok()) << want.status().toString();
  if (!want.ok()) return std::nullopt;
  r.m2 = std::move(*m2);
  r.want = std::move(*want);
  return r;
}

/// An f32 tensor of `shape` with randomFloats.
Tensor randomTensor(Shape shape, unsigned seed) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<double> v;
  for (float f : randomFloats(static_cast<size_t>(n), seed)) v.push_back(f);
  return testing::F(std::move(shape), std::move(v));
}

TEST(CpuThreads, ModelAtTwoThreadsMatchesOneThreadWithConcurrentCallers) {
  const Tensor x = randomTensor(Shape{1, 16, 24, 24}, 21);
  auto models = compileAtOneAndTwoThreads(modelText(), x);
  ASSERT_TRUE(models.has_value());
  const auto& m2 = models->m2;
  const std::vector<Tensor>& want = models->want;
  std::atomic<int> bad{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t) {
    callers.emplace_back([&] {
      for (int rep = 0; rep < 5; ++rep) {
        auto got = m2->run({x});
        if (!got.ok() || got->size() != want.size()) {
          bad.fetch_add(1);
          continue;
        }
        for (size_t o = 0; o < got->size(); ++o) {
          const Tensor &a = (*got)[o], &b = want[o];
          for (int64_t j = 0; j < a.numel(); ++j) {
            if (std::fabs(a.getDouble(j) - b.getDouble(j)) > 1e-4 * (1 + std::fabs(b.getDouble(j)))) {
              bad.fetch_add(1);
              break;
            }
          }
        }
      }
    });
  }
  for (std::thread& c : callers) c.join();
  EXPECT_EQ(bad.load(), 0);
}

/// Sets the environment variable `name` to `value` while it lives (none:
/// unset), restoring what it was.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// Every way a region may run at 2 threads (Note [Threads on shared cores] in
// src/region.cpp: split chunks, the calling thread alone, OpenMP teams) gives
// what 1 thread gives, bit for bit: a region tries each choice four times in
// its first runs (one caller: split, one, split, one, team, split, one,
// team, split, one, team, team), then keeps the
// fastest and tries the others now and then (never small here:
// SY_CPU_SMALL_RUN_MS=0). Conv, depthwise conv and pooling keep each output's
// sums in one thread whichever way they run.
TEST(CpuThreads, EveryThreadChoiceMatchesOneThreadBitForBit) {
  if (const char* fixed = std::getenv("SY_CPU_THREAD_CHOICE"); fixed != nullptr && *fixed != '\0')
    GTEST_SKIP() << "SY_CPU_THREAD_CHOICE=" << fixed << " fixes the choice";
  const ScopedEnv neverSmall("SY_CPU_SMALL_RUN_MS", "0");
  std::string t = "graph @g(%x: f32[1, 16, 28, 28]) {\n";
  t += constantLine("w1", {96, 16, 1, 1}, 31);
  t += constantLine("b1", {96}, 32);
  t += constantLine("w2", {96, 1, 3, 3}, 33);
  t += constantLine("w3", {64, 96, 3, 3}, 34);
  t += "  %c = conv(%x, %w1, %b1) : f32[1, 96, 28, 28]\n";
  t += "  %r = relu(%c) : f32[1, 96, 28, 28]\n";
  t += "  %d = conv(%r, %w2) {group = 96, pads = [1, 1, 1, 1], strides = [2, 2]} : f32[1, 96, 14, 14]\n";
  t += "  %e = conv(%d, %w3) {pads = [1, 1, 1, 1]} : f32[1, 64, 14, 14]\n";
  t += "  %p = max_pool(%e) {kernel_shape = [2, 2], strides = [2, 2]} : f32[1, 64, 7, 7]\n";
  t += "  return %p, %d\n}\n";
  const Tensor x = randomTensor(Shape{1, 16, 28, 28}, 35);
  auto models = compileAtOneAndTwoThreads(t, x);
  ASSERT_TRUE(models.has_value());
  const std::vector<Tensor>& want = models->want;
  for (int rep = 0; rep < 14; ++rep) {
    auto got = models->m2->run({x});
    ASSERT_TRUE(got.ok()) << got.status().toString();
    ASSERT_EQ(got->size(), want.size());
    for (size_t o = 0; o < got->size(); ++o) {
      const Tensor &a = (*got)[o], &b = want[o];
      ASSERT_EQ(a.numel(), b.numel());
      int64_t differ = 0;
      for (int64_t j = 0; j < a.numel(); ++j) differ += a.getDouble(j) != b.getDouble(j) ? 1 : 0;
      EXPECT_EQ(differ, 0) << "run " << rep << ", output " << o;
    }
  }
}

// A small region (Note [Threads on shared cores]): once a run on one thread
// takes under SY_CPU_SMALL_RUN_MS (default 0.1 ms), the region runs on the
// calling thread alone at any `threads`, bit for bit what 1 thread gives,
// until its runs on one thread average over twice that (here: the same
// region with a batch of 1024 rows). Says so on stderr under
// SY_CPU_SPLIT_DEBUG.
constexpr char kSmallLine[] = "threads: region small, runs on one thread";
constexpr char kNoLongerSmallLine[] = "threads: region no longer small";

std::string rowsModelText() {
  std::string t = "graph @g(%x: f32[B, 256]) {\n";
  t += constantLine("w", {256, 256}, 41);
  t += constantLine("b", {256}, 42);
  t += "  %m = matmul(%x, %w) : f32[B, 256]\n";
  t += "  %a = add(%m, %b) : f32[B, 256]\n";
  t += "  %o = softmax(%a) {axis = -1} : f32[B, 256]\n";
  t += "  return %o\n}\n";
  return t;
}

/// Runs `model` `runs` times on `x`, each time expecting `want` bit for bit;
/// returns how many runs differed or failed.
int runsDiffering(const CompiledModel& model, const Tensor& x, const std::vector<Tensor>& want, int runs) {
  int bad = 0;
  for (int rep = 0; rep < runs; ++rep) {
    auto got = model.run({x});
    if (!got.ok() || got->size() != want.size()) {
      ++bad;
      continue;
    }
    for (size_t o = 0; o < got->size(); ++o) {
      const Tensor &a = (*got)[o], &b = want[o];
      bool same = a.numel() == b.numel();
      for (int64_t j = 0; same && j < a.numel(); ++j) same = a.getDouble(j) == b.getDouble(j);
      if (!same) {
        ++bad;
        break;
      }
    }
  }
  return bad;
}

/// rowsModelText at 1 and 2 threads with `choice` (SY_CPU_THREAD_CHOICE) and
/// `smallMs` (SY_CPU_SMALL_RUN_MS, null: the default) set while compiling:
/// 40 runs of one row at 2 threads, each checked against 1 thread bit for bit,
/// then `bigRuns` of 1024 rows; returns the 2-thread model's stderr.
std::string smallRegionLog(const char* choice, const char* smallMs, int bigRuns = 0) {
  const Tensor x = randomTensor(Shape{1, 256}, 43);
  const ScopedEnv fixed("SY_CPU_THREAD_CHOICE", choice);
  const ScopedEnv small("SY_CPU_SMALL_RUN_MS", smallMs);
  const ScopedEnv debug("SY_CPU_SPLIT_DEBUG", "1");
  ::testing::internal::CaptureStderr();
  auto models = compileAtOneAndTwoThreads(rowsModelText(), x);
  if (models) {
    EXPECT_EQ(runsDiffering(*models->m2, x, models->want, 40), 0) << "runs of one row at 2 threads differ from 1 thread";
    const Tensor big = randomTensor(Shape{1024, 256}, 44);
    for (int rep = 0; rep < bigRuns; ++rep) {
      auto got = models->m2->run({big});
      EXPECT_TRUE(got.ok()) << got.status().toString();
    }
  }
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(models.has_value());
  return log;
}

TEST(CpuThreads, SmallRegionRunsOnOneThreadBitForBit) {
  if (const char* fixed = std::getenv("SY_CPU_THREAD_CHOICE"); fixed != nullptr && *fixed != '\0')
    GTEST_SKIP() << "SY_CPU_THREAD_CHOICE=" << fixed << " fixes the choice";
  // One row (a 256 x 256 product, microseconds) is small with the default
  // 0.1 ms; 1024 rows (~0.27 GFLOP, a millisecond or more) are not.
  const std::string log = smallRegionLog(nullptr, nullptr, 3);
  const size_t small = log.find(kSmallLine);
  EXPECT_NE(small, std::string::npos) << log;
  EXPECT_NE(log.find(kNoLongerSmallLine, small == std::string::npos ? 0 : small), std::string::npos) << log;
}

// Once every choice has its timed runs, SY_CPU_SPLIT_DEBUG prints the one
// the region keeps, with the medians it ranked them by (never small here).
TEST(CpuThreads, ChoiceIsPrintedUnderSplitDebug) {
  if (const char* fixed = std::getenv("SY_CPU_THREAD_CHOICE"); fixed != nullptr && *fixed != '\0')
    GTEST_SKIP() << "SY_CPU_THREAD_CHOICE=" << fixed << " fixes the choice";
  const std::string log = smallRegionLog(nullptr, "0");
  EXPECT_NE(log.find("threads: region runs "), std::string::npos) << log;
  EXPECT_NE(log.find("median ms of the last runs: split "), std::string::npos) << log;
}

TEST(CpuThreads, SmallRegionRuleYieldsToAFixedChoiceAndToItsSetting) {
  // SY_CPU_THREAD_CHOICE still decides (never small) ...
  std::string log = smallRegionLog("split", "1000");
  EXPECT_EQ(log.find(kSmallLine), std::string::npos) << log;
  log = smallRegionLog("one", "1000");
  EXPECT_EQ(log.find(kSmallLine), std::string::npos) << log;
  // ... and with SY_CPU_SMALL_RUN_MS=0 no region is small.
  log = smallRegionLog(nullptr, "0");
  EXPECT_EQ(log.find(kSmallLine), std::string::npos) << log;
  // A region is small with a generous setting.
  log = smallRegionLog(nullptr, "1000");
  EXPECT_NE(log.find(kSmallLine), std::string::npos) << log;
}

}  // namespace
}  // namespace sy
