// The cost of `isolation: process` per region call (docs/isolation.md): the
// same one-region model run in-process and with the plugin in a helper
// process, in the same invocation. A region call under isolation adds a
// socket round trip, a memfd per input and per output, and one copy of each
// tensor each way; the cases separate the fixed part (a 16-element relu) from
// the part that grows with the data (relu on 1 Mi elements) and show both
// beside real work (a 256x256 matmul on the cpu plugin).
//
//   build/bin/isolation_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include "switchyard/builder.h"
#include "switchyard/engine.h"
#include "switchyard/isolation.h"

namespace {

struct Case {
  std::unique_ptr<sy::Engine> engine;
  std::shared_ptr<const sy::CompiledModel> model;
  std::vector<sy::Tensor> inputs;
};

std::shared_ptr<const sy::Graph> unaryGraph(int64_t n) {
  sy::GraphBuilder b("relu");
  b.output(b.op("relu", {b.input("x", sy::Type::tensor(sy::DType::F32, {n}))}));
  return std::shared_ptr<const sy::Graph>(std::move(b.finish().value()));
}

std::shared_ptr<const sy::Graph> matmulGraph(int64_t n) {
  sy::GraphBuilder b("matmul");
  sy::Value* x = b.input("x", sy::Type::tensor(sy::DType::F32, {n, n}));
  sy::Value* y = b.input("y", sy::Type::tensor(sy::DType::F32, {n, n}));
  b.output(b.op("matmul", {x, y}));
  return std::shared_ptr<const sy::Graph>(std::move(b.finish().value()));
}

/// Compiles `graph` on `backend` alone (no fallback), isolated or not.
std::string prepare(Case& c, const std::string& backend, bool isolate, std::shared_ptr<const sy::Graph> graph) {
  sy::Config config = sy::defaultConfig();
  config.pluginPaths = {SY_TEST_PLUGIN_DIR, SY_PLUGIN_DIR};
  config.defaultPluginPaths = false;
  config.fallback = sy::FallbackPolicy::Error;
  sy::BackendConfig b;
  b.name = backend;
  b.isolateProcess = isolate;
  config.backends = {b};
  auto engine = sy::Engine::create(config);
  if (!engine.ok()) return engine.status().message();
  auto model = (*engine)->compile(graph);
  if (!model.ok()) return model.status().message();
  if ((*model)->plan().regions.size() != 1) return "expected one region";
  c.engine = std::move(*engine);
  c.model = *model;
  for (const sy::Value* v : graph->inputs()) {
    std::vector<int64_t> shape;
    for (const sy::Dim& d : v->type().dims()) shape.push_back(d.value());
    auto t = sy::Tensor::allocate(sy::DType::F32, shape).value();
    float* p = static_cast<float*>(t.mutableData());
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>((i % 7) - 3);
    c.inputs.push_back(t);
  }
  return "";
}

void run(benchmark::State& state, const std::string& backend, bool isolate, std::shared_ptr<const sy::Graph> graph) {
  Case c;
  if (isolate && sy::findPluginHostExecutable().empty()) {
    state.SkipWithError("switchyard-plugin-host is not built next to this program");
    return;
  }
  const std::string problem = prepare(c, backend, isolate, std::move(graph));
  if (!problem.empty()) {
    state.SkipWithError(problem.c_str());
    return;
  }
  for (auto _ : state) {
    auto outs = c.model->run(c.inputs);
    if (!outs.ok()) {
      state.SkipWithError(outs.status().message().c_str());
      return;
    }
    benchmark::DoNotOptimize(outs);
  }
}

void BM_Relu16_memdev_InProcess(benchmark::State& s) { run(s, "memdev", false, unaryGraph(16)); }
void BM_Relu16_memdev_Isolated(benchmark::State& s) { run(s, "memdev", true, unaryGraph(16)); }
void BM_Relu16_cpu_InProcess(benchmark::State& s) { run(s, "cpu", false, unaryGraph(16)); }
void BM_Relu16_cpu_Isolated(benchmark::State& s) { run(s, "cpu", true, unaryGraph(16)); }
void BM_Relu1M_memdev_InProcess(benchmark::State& s) { run(s, "memdev", false, unaryGraph(1 << 20)); }
void BM_Relu1M_memdev_Isolated(benchmark::State& s) { run(s, "memdev", true, unaryGraph(1 << 20)); }
void BM_Relu1M_cpu_InProcess(benchmark::State& s) { run(s, "cpu", false, unaryGraph(1 << 20)); }
void BM_Relu1M_cpu_Isolated(benchmark::State& s) { run(s, "cpu", true, unaryGraph(1 << 20)); }
void BM_Matmul256_memdev_InProcess(benchmark::State& s) { run(s, "memdev", false, matmulGraph(256)); }
void BM_Matmul256_memdev_Isolated(benchmark::State& s) { run(s, "memdev", true, matmulGraph(256)); }
void BM_Matmul256_cpu_InProcess(benchmark::State& s) { run(s, "cpu", false, matmulGraph(256)); }
void BM_Matmul256_cpu_Isolated(benchmark::State& s) { run(s, "cpu", true, matmulGraph(256)); }

BENCHMARK(BM_Relu16_memdev_InProcess)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Relu16_memdev_Isolated)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Relu16_cpu_InProcess)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Relu16_cpu_Isolated)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Relu1M_memdev_InProcess)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Relu1M_memdev_Isolated)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Relu1M_cpu_InProcess)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Relu1M_cpu_Isolated)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Matmul256_memdev_InProcess)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Matmul256_memdev_Isolated)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Matmul256_cpu_InProcess)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Matmul256_cpu_Isolated)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
