// The CPU plugin's kernels against a peer measured in the same run.
//
//   matmul   [M,K] x [K,N], both operands graph inputs   vs  cblas_sgemm (OpenBLAS)
//   conv     NCHW, weights and bias as graph weights     vs  im2col (one thread) + cblas_sgemm
//   chain    y = sigmoid(x * a + b) * x, a and b scalars vs  the same loop written by hand, and a
//                                                            plain copy of the same bytes (memory bandwidth)
//
// Each Switchyard case is a one-op (or one-chain) graph compiled by the Engine
// for the `cpu` backend alone (fallback `error`, so nothing runs on the
// reference interpreter unnoticed) with `threads: T`, then run with
// CompiledModel::run: the time includes what any caller pays (dispatch,
// output allocation), not just the kernel. Before timing, each case checks its
// output against the peer's; a wrong result is an error, not a number.
//
// The peers use the same T threads (openblas_set_num_threads, a small
// fork-join pool for the loops). Read the ratio of a Switchyard row to its
// peer row of the same invocation, not absolute numbers (docs/benchmarks.md).
//
//   ninja -C build-bench cpu_kernels_bench sy_plugin_cpu
//   build-bench/bin/cpu_kernels_bench --benchmark_min_time=0.2 [--threads=T] [--plugin_dir=DIR]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <unistd.h>

#include "switchyard/builder.h"
#include "switchyard/engine.h"

#if SY_BENCH_HAVE_CBLAS
#include <cblas.h>
#endif

namespace sy_bench {
/// y = sigmoid(x * a + b) * x, vectorised (cpu_kernels_bench_loop.cpp).
void chainLoop(const float* x, float* y, int64_t n, float a, float b);
}  // namespace sy_bench

namespace {

// ---------------------------------------------------------------------------
// Settings (from our own flags, taken out of argv before Google Benchmark's)

int gThreads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
std::string gPluginDir = SY_PLUGIN_DIR;

// ---------------------------------------------------------------------------
// The engine and compiled one-op models

/// "; libsy_plugin_cpu.so: <reason>" for every plugin of `c`'s folders that did
/// not load (the engine's own error only says that no backend is available).
std::string whyPluginsFailed(sy::Config c) {
  c.backends.clear();
  c.fallback = sy::FallbackPolicy::Reference;
  auto probe = sy::Engine::create(c);
  std::string why;
  if (probe.ok()) {
    for (const sy::PluginLoadFailure& f : (*probe)->loadFailures()) {
      why += "; " + f.path.substr(f.path.find_last_of('/') + 1) + ": " + f.reason;
    }
  }
  return why;
}

/// One Engine for the whole run: the `cpu` plugin with `threads: T`, nothing
/// else (no reference fallback, no other plugin folder). Null with `error`
/// set when the plugin cannot be loaded.
const sy::Engine* cpuEngine(std::string& error) {
  static std::string sError;
  static std::unique_ptr<sy::Engine> sEngine = [] {
    sy::Config c = sy::defaultConfig();
    c.pluginPaths = {gPluginDir};
    c.defaultPluginPaths = false;
    c.fallback = sy::FallbackPolicy::Error;
    sy::BackendConfig cpu;
    cpu.name = "cpu";
    cpu.options["threads"] = std::to_string(gThreads);
    c.backends = {cpu};
    auto engine = sy::Engine::create(c);
    if (!engine.ok()) {
      sError = "cpu plugin not built (or not loadable): " + engine.status().message() + " (searched " + gPluginDir +
               "; build it with: ninja sy_plugin_cpu)" + whyPluginsFailed(c);
      return std::unique_ptr<sy::Engine>();
    }
    return std::move(*engine);
  }();
  error = sError;
  return sEngine.get();
}

/// Compiles `graph` for the cpu backend; null with `error` set when the plugin
/// is missing, declines a node, or fails to compile.
std::shared_ptr<const sy::CompiledModel> compileOnCpu(sy::Result<std::unique_ptr<sy::Graph>> graph,
                                                      std::string& error) {
  if (!graph.ok()) {
    error = "graph: " + graph.status().message();
    return nullptr;
  }
  const sy::Engine* engine = cpuEngine(error);
  if (!engine) return nullptr;
  auto model = engine->compile(std::shared_ptr<const sy::Graph>(std::move(*graph)));
  if (!model.ok()) {
    error = "cpu plugin could not compile it: " + model.status().message();
    return nullptr;
  }
  for (const sy::Region& r : (*model)->plan().regions) {
    if (r.backend != "cpu") {
      error = "a region was placed on '" + r.backend + "', not on cpu";
      return nullptr;
    }
  }
  return *model;
}

sy::Tensor randomTensor(sy::Shape shape, uint32_t seed, float scale = 1.0f) {
  sy::Tensor t = sy::Tensor::allocate(sy::DType::F32, std::move(shape)).value();
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  float* p = t.mutableData<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

/// max |got - want| / (max |want| + tiny): one normalised error for a whole tensor.
double normalisedError(const float* got, const float* want, int64_t n) {
  double maxDiff = 0, maxRef = 0;
  for (int64_t i = 0; i < n; ++i) {
    maxDiff = std::max(maxDiff, std::fabs(static_cast<double>(got[i]) - want[i]));
    maxRef = std::max(maxRef, std::fabs(static_cast<double>(want[i])));
  }
  return maxDiff / (maxRef + 1e-30);
}

/// Runs `model` once and compares its only output with `want` (n floats).
bool checkOutput(benchmark::State& state, const sy::CompiledModel& model, const std::vector<sy::Tensor>& inputs,
                 const float* want, int64_t n, double tolerance) {
  auto outs = model.run(inputs);
  if (!outs.ok()) {
    state.SkipWithError(("run failed: " + outs.status().message()).c_str());
    return false;
  }
  if (outs->size() != 1 || (*outs)[0].numel() != n || (*outs)[0].dtype() != sy::DType::F32) {
    state.SkipWithError("unexpected output count, size or dtype");
    return false;
  }
  const double err = normalisedError((*outs)[0].data<float>(), want, n);
  if (!(err <= tolerance)) {
    state.SkipWithError(("wrong result: normalised error " + std::to_string(err) + " > " +
                         std::to_string(tolerance)).c_str());
    return false;
  }
  return true;
}

void runModelLoop(benchmark::State& state, const sy::CompiledModel& model, const std::vector<sy::Tensor>& inputs) {
  for (auto _ : state) {
    auto outs = model.run(inputs);
    if (!outs.ok()) {
      state.SkipWithError(("run failed: " + outs.status().message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(outs);
  }
}

// Rates in units of 1e9: the console shows "GFLOP=12.3/s" and "GB=4.5/s" (it
// appends "/s" to every rate counter); JSON output has the plain numbers.
void setGflops(benchmark::State& state, double flopsPerIteration) {
  state.counters["GFLOP"] = benchmark::Counter(flopsPerIteration * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void setGbytes(benchmark::State& state, double bytesPerIteration) {
  state.counters["GB"] = benchmark::Counter(bytesPerIteration * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// ---------------------------------------------------------------------------
// A fork-join pool for the hand-written peers: T-1 workers that sleep on a
// condition variable (they never spin, so they cost nothing while another
// benchmark runs) plus the calling thread.

class ForkJoinPool {
 public:
  explicit ForkJoinPool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { work(i); });
  }
  ~ForkJoinPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  /// Calls fn(begin, end) on `threads()` equal slices of [0, n) and waits for all.
  void parallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      fn_ = &fn;
      n_ = n;
      pending_ = static_cast<int>(workers_.size());
      ++generation_;
    }
    wake_.notify_all();
    slice(0, fn, n);
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return pending_ == 0; });
  }

 private:
  void slice(int i, const std::function<void(int64_t, int64_t)>& fn, int64_t n) const {
    const int64_t t = threads();
    const int64_t begin = n * i / t, end = n * (i + 1) / t;
    if (begin < end) fn(begin, end);
  }
  void work(int i) {
    uint64_t seen = 0;
    while (true) {
      const std::function<void(int64_t, int64_t)>* fn;
      int64_t n;
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        fn = fn_;
        n = n_;
      }
      slice(i, *fn, n);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (--pending_ == 0) done_.notify_one();
      }
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

// ---------------------------------------------------------------------------
// matmul: [M,K] x [K,N]

struct MatmulCase {
  sy::Tensor a, b;
  std::vector<float> want;  // from cblas_sgemm, when built with it
};

MatmulCase& matmulCase(int64_t m, int64_t k, int64_t n) {
  static std::map<std::tuple<int64_t, int64_t, int64_t>, MatmulCase> cache;
  auto it = cache.find({m, k, n});
  if (it != cache.end()) return it->second;
  MatmulCase c{randomTensor({m, k}, 1), randomTensor({k, n}, 2), {}};
  return cache.emplace(std::make_tuple(m, k, n), std::move(c)).first->second;
}

#if SY_BENCH_HAVE_CBLAS
void sgemm(int64_t m, int64_t k, int64_t n, const float* a, const float* b, float* c) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), 1.0f, a, static_cast<int>(k), b, static_cast<int>(n), 0.0f, c,
              static_cast<int>(n));
}
#endif

/// The expected product, computed once (with OpenBLAS, or a plain loop without it).
const std::vector<float>& matmulWant(int64_t m, int64_t k, int64_t n) {
  MatmulCase& c = matmulCase(m, k, n);
  if (c.want.empty()) {
    c.want.assign(static_cast<size_t>(m * n), 0.0f);
    const float* a = c.a.data<float>();
    const float* b = c.b.data<float>();
#if SY_BENCH_HAVE_CBLAS
    sgemm(m, k, n, a, b, c.want.data());
#else
    for (int64_t i = 0; i < m; ++i)
      for (int64_t p = 0; p < k; ++p)
        for (int64_t j = 0; j < n; ++j) c.want[i * n + j] += a[i * k + p] * b[p * n + j];
#endif
  }
  return c.want;
}

void BM_MatmulSwitchyardCpu(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  std::string error;
  sy::GraphBuilder g("matmul");
  sy::Value* a = g.input("a", sy::Type::tensor(sy::DType::F32, {m, k}));
  sy::Value* b = g.input("b", sy::Type::tensor(sy::DType::F32, {k, n}));
  g.output(g.op("matmul", {a, b}));
  auto model = compileOnCpu(g.finish(), error);
  if (!model) {
    state.SkipWithError(error.c_str());
    return;
  }
  const MatmulCase& c = matmulCase(m, k, n);
  const std::vector<sy::Tensor> inputs = {c.a, c.b};
  if (!checkOutput(state, *model, inputs, matmulWant(m, k, n).data(), m * n, 1e-4)) return;
  runModelLoop(state, *model, inputs);
  setGflops(state, 2.0 * m * k * n);
}

#if SY_BENCH_HAVE_CBLAS
void BM_MatmulOpenBlas(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  openblas_set_num_threads(gThreads);
  const MatmulCase& c = matmulCase(m, k, n);
  std::vector<float> out(static_cast<size_t>(m * n));
  for (auto _ : state) {
    sgemm(m, k, n, c.a.data<float>(), c.b.data<float>(), out.data());
    benchmark::ClobberMemory();
  }
  setGflops(state, 2.0 * m * k * n);
}
#endif


// ---------------------------------------------------------------------------
// conv: x [1, C, H, W], w [M, C, KH, KW], bias [M]; square kernel, stride and padding

struct ConvShape {
  int64_t c, h, w, m, k, stride, pad;
  int64_t oh() const { return (h + 2 * pad - k) / stride + 1; }
  int64_t ow() const { return (w + 2 * pad - k) / stride + 1; }
  double flops() const { return 2.0 * static_cast<double>(m * oh() * ow()) * static_cast<double>(c * k * k); }
};

ConvShape convShape(const benchmark::State& state) {
  return ConvShape{state.range(0), state.range(1), state.range(1), state.range(2), state.range(3),
                   state.range(4), state.range(5)};
}

struct ConvCase {
  sy::Tensor x, w, bias;
};

const ConvCase& convCase(const ConvShape& s) {
  static std::map<std::tuple<int64_t, int64_t, int64_t, int64_t>, ConvCase> cache;
  const auto key = std::make_tuple(s.c, s.h, s.m, s.k);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  ConvCase c{randomTensor({1, s.c, s.h, s.w}, 3), randomTensor({s.m, s.c, s.k, s.k}, 4, 0.1f),
             randomTensor({s.m}, 5)};
  return cache.emplace(key, std::move(c)).first->second;
}

/// col [C*K*K, OH*OW] from x [C, H, W] (zero padding).
void im2col(const ConvShape& s, const float* x, float* col) {
  const int64_t oh = s.oh(), ow = s.ow();
  for (int64_t ci = 0; ci < s.c; ++ci)
    for (int64_t ky = 0; ky < s.k; ++ky)
      for (int64_t kx = 0; kx < s.k; ++kx) {
        float* row = col + ((ci * s.k + ky) * s.k + kx) * oh * ow;
        for (int64_t oy = 0; oy < oh; ++oy) {
          const int64_t iy = oy * s.stride - s.pad + ky;
          for (int64_t ox = 0; ox < ow; ++ox) {
            const int64_t ix = ox * s.stride - s.pad + kx;
            row[oy * ow + ox] = (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w) ? x[(ci * s.h + iy) * s.w + ix] : 0.0f;
          }
        }
      }
}

/// The peer: im2col, then out [M, OH*OW] = w [M, C*K*K] x col, plus the bias.
void convIm2col(const ConvShape& s, const ConvCase& c, std::vector<float>& col, float* out) {
  const int64_t plane = s.oh() * s.ow(), ckk = s.c * s.k * s.k;
  im2col(s, c.x.data<float>(), col.data());
  const float* bias = c.bias.data<float>();
  for (int64_t mi = 0; mi < s.m; ++mi) std::fill(out + mi * plane, out + (mi + 1) * plane, bias[mi]);
#if SY_BENCH_HAVE_CBLAS
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(s.m), static_cast<int>(plane),
              static_cast<int>(ckk), 1.0f, c.w.data<float>(), static_cast<int>(ckk), col.data(),
              static_cast<int>(plane), 1.0f, out, static_cast<int>(plane));
#else
  const float* w = c.w.data<float>();
  for (int64_t mi = 0; mi < s.m; ++mi)
    for (int64_t p = 0; p < ckk; ++p)
      for (int64_t j = 0; j < plane; ++j) out[mi * plane + j] += w[mi * ckk + p] * col[p * plane + j];
#endif
}

void BM_ConvSwitchyardCpu(benchmark::State& state) {
  const ConvShape s = convShape(state);
  const ConvCase& c = convCase(s);
  std::string error;
  sy::GraphBuilder g("conv");
  sy::Value* x = g.input("x", sy::Type::tensor(sy::DType::F32, {1, s.c, s.h, s.w}));
  sy::Value* w = g.weight("w", c.w);
  sy::Value* b = g.weight("b", c.bias);
  g.output(g.op("conv", {x, w, b},
                {{"strides", std::vector<int64_t>{s.stride, s.stride}},
                 {"pads", std::vector<int64_t>{s.pad, s.pad, s.pad, s.pad}}}));
  auto model = compileOnCpu(g.finish(), error);
  if (!model) {
    state.SkipWithError(error.c_str());
    return;
  }
  const std::vector<sy::Tensor> inputs = {c.x};
  std::vector<float> col(static_cast<size_t>(s.c * s.k * s.k * s.oh() * s.ow()));
  std::vector<float> want(static_cast<size_t>(s.m * s.oh() * s.ow()));
  convIm2col(s, c, col, want.data());
  if (!checkOutput(state, *model, inputs, want.data(), static_cast<int64_t>(want.size()), 1e-4)) return;
  runModelLoop(state, *model, inputs);
  setGflops(state, s.flops());
}

#if SY_BENCH_HAVE_CBLAS
void BM_ConvIm2colOpenBlas(benchmark::State& state) {
  const ConvShape s = convShape(state);
  const ConvCase& c = convCase(s);
  openblas_set_num_threads(gThreads);
  std::vector<float> col(static_cast<size_t>(s.c * s.k * s.k * s.oh() * s.ow()));
  std::vector<float> out(static_cast<size_t>(s.m * s.oh() * s.ow()));
  for (auto _ : state) {
    convIm2col(s, c, col, out.data());
    benchmark::ClobberMemory();
  }
  setGflops(state, s.flops());
}
#endif


// ---------------------------------------------------------------------------
// chain: y = sigmoid(x * a + b) * x over n floats. Bytes counted: n floats read
// and n written (what a fused kernel must move); an unfused one moves more and
// shows a lower GB/s.

constexpr float kScaleA = 0.75f, kShiftB = -0.25f;

inline float chainOf(float x) { return x / (1.0f + std::exp(-(x * kScaleA + kShiftB))); }

const sy::Tensor& chainInput(int64_t n) {
  static std::map<int64_t, sy::Tensor> cache;
  auto it = cache.find(n);
  if (it == cache.end()) it = cache.emplace(n, randomTensor({n}, 6)).first;
  return it->second;
}

void BM_ChainSwitchyardCpu(benchmark::State& state) {
  const int64_t n = state.range(0);
  std::string error;
  sy::GraphBuilder g("chain");
  sy::Value* x = g.input("x", sy::Type::tensor(sy::DType::F32, {n}));
  sy::Value* a = g.constant(sy::Tensor::scalarF32(kScaleA), "a");
  sy::Value* b = g.constant(sy::Tensor::scalarF32(kShiftB), "b");
  sy::Value* t = g.op("add", {g.op("mul", {x, a}), b});
  g.output(g.op("mul", {g.op("sigmoid", {t}), x}));
  auto model = compileOnCpu(g.finish(), error);
  if (!model) {
    state.SkipWithError(error.c_str());
    return;
  }
  const sy::Tensor& in = chainInput(n);
  std::vector<float> want(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) want[i] = chainOf(in.data<float>()[i]);
  if (!checkOutput(state, *model, {in}, want.data(), n, 1e-5)) return;
  runModelLoop(state, *model, {in});
  setGbytes(state, 8.0 * static_cast<double>(n));
}

void BM_ChainHandWrittenLoop(benchmark::State& state) {
  const int64_t n = state.range(0);
  const float* x = chainInput(n).data<float>();
  std::vector<float> y(static_cast<size_t>(n));
  ForkJoinPool pool(gThreads);
  const std::function<void(int64_t, int64_t)> body = [&](int64_t begin, int64_t end) {
    sy_bench::chainLoop(x + begin, y.data() + begin, end - begin, kScaleA, kShiftB);
  };
  body(0, n);
  for (int64_t i = 0; i < n; ++i) {
    if (std::fabs(y[i] - chainOf(x[i])) > 1e-5f * (1.0f + std::fabs(y[i]))) {
      state.SkipWithError("the hand-written loop disagrees with the scalar formula");
      return;
    }
  }
  for (auto _ : state) {
    pool.parallelFor(n, body);
    benchmark::ClobberMemory();
  }
  setGbytes(state, 8.0 * static_cast<double>(n));
}

void BM_ChainMemcpySameBytes(benchmark::State& state) {
  const int64_t n = state.range(0);
  const float* x = chainInput(n).data<float>();
  std::vector<float> y(static_cast<size_t>(n));
  ForkJoinPool pool(gThreads);
  const std::function<void(int64_t, int64_t)> body = [&](int64_t begin, int64_t end) {
    std::memcpy(y.data() + begin, x + begin, static_cast<size_t>(end - begin) * sizeof(float));
  };
  for (auto _ : state) {
    pool.parallelFor(n, body);
    benchmark::ClobberMemory();
  }
  setGbytes(state, 8.0 * static_cast<double>(n));
}

// ---------------------------------------------------------------------------
// Registration. Each size's Switchyard case and its peers are registered one
// after the other, so they run back to back under the same load (the
// BENCHMARK macro would run every size of one family before the next family).

using BenchFn = void (*)(benchmark::State&);

void registerGroup(const std::vector<std::pair<const char*, BenchFn>>& group, const std::vector<int64_t>& args,
                   const std::vector<std::string>& argNames) {
  for (const auto& [name, fn] : group) {
    benchmark::RegisterBenchmark(name, fn)->Args(args)->ArgNames(argNames)->Unit(benchmark::kMicrosecond)->UseRealTime();
  }
}

void registerBenchmarks() {
  std::vector<std::pair<const char*, BenchFn>> matmul = {{"BM_MatmulSwitchyardCpu", BM_MatmulSwitchyardCpu}};
  std::vector<std::pair<const char*, BenchFn>> conv = {{"BM_ConvSwitchyardCpu", BM_ConvSwitchyardCpu}};
#if SY_BENCH_HAVE_CBLAS
  matmul.push_back({"BM_MatmulOpenBlas", BM_MatmulOpenBlas});
  conv.push_back({"BM_ConvIm2colOpenBlas", BM_ConvIm2colOpenBlas});
#endif
  for (int64_t s : {64, 256, 512, 1024}) registerGroup(matmul, {s, s, s}, {"M", "K", "N"});
  registerGroup(matmul, {128, 768, 768}, {"M", "K", "N"});  // a transformer projection: 128 tokens, d_model 768

  const std::vector<std::string> convArgs = {"C", "HW", "M", "K", "stride", "pad"};
  registerGroup(conv, {64, 56, 64, 3, 1, 1}, convArgs);  // a ResNet stage-1 3x3 conv
  registerGroup(conv, {3, 224, 64, 7, 2, 3}, convArgs);  // the ResNet stem

  const std::vector<std::pair<const char*, BenchFn>> chain = {{"BM_ChainSwitchyardCpu", BM_ChainSwitchyardCpu},
                                                              {"BM_ChainHandWrittenLoop", BM_ChainHandWrittenLoop},
                                                              {"BM_ChainMemcpySameBytes", BM_ChainMemcpySameBytes}};
  for (int64_t n : {int64_t{1} << 20, int64_t{1} << 24}) registerGroup(chain, {n}, {"n"});
}

#if SY_BENCH_HAVE_CBLAS
// Note [OpenBLAS on CPUs it does not know]. OpenBLAS picks its kernels from
// the CPU model at load time; a DYNAMIC_ARCH build older than the CPU (Debian
// 12's 0.3.21 on an Emerald Rapids, model 207) falls back to "Prescott", SSE3
// kernels at a fifth of the speed, which would make a straw-man peer. When
// OPENBLAS_CORETYPE is not set and that happened on a CPU with AVX2, we run
// ourselves again with the core type the CPU can take. Setting
// OPENBLAS_CORETYPE (to anything) turns this off.
const char* betterOpenBlasCore() {
  if (std::getenv("OPENBLAS_CORETYPE")) return nullptr;
  if (std::string(openblas_get_corename()) != "Prescott") return nullptr;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return "SkylakeX";
  if (__builtin_cpu_supports("avx2")) return "Haswell";
  return nullptr;
}
#endif

/// Takes --threads=T and --plugin_dir=DIR out of argv (Google Benchmark
/// refuses flags it does not know).
void takeOwnFlags(int& argc, char** argv) {
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--threads=", 0) == 0) {
      gThreads = std::max(1, std::atoi(arg.c_str() + 10));
    } else if (arg.rfind("--plugin_dir=", 0) == 0) {
      gPluginDir = arg.substr(13);
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  argv[argc] = nullptr;
}

}  // namespace

int main(int argc, char** argv) {
#if SY_BENCH_HAVE_CBLAS
  if (const char* core = betterOpenBlasCore()) {
    std::fprintf(stderr, "cpu_kernels_bench: OpenBLAS took this CPU for a Prescott; running again with "
                         "OPENBLAS_CORETYPE=%s (see Note [OpenBLAS on CPUs it does not know])\n", core);
    setenv("OPENBLAS_CORETYPE", core, 1);
    execv("/proc/self/exe", argv);
    std::perror("cpu_kernels_bench: execv /proc/self/exe");  // go on with the slow kernels
  }
#endif
  takeOwnFlags(argc, argv);
  registerBenchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("threads (cpu plugin, OpenBLAS, hand-written peers)", std::to_string(gThreads));
  benchmark::AddCustomContext("cpu plugin folder", gPluginDir);
#if SY_BENCH_HAVE_CBLAS
  benchmark::AddCustomContext("BLAS", std::string(openblas_get_config()) + ", core " + openblas_get_corename());
#else
  benchmark::AddCustomContext("BLAS", "none (built without OpenBLAS: peers are plain loops)");
#endif
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
