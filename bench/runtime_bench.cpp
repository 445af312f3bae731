// Per-region dispatch overhead of the partitioned runtime.
//
// A chain of K tiny ops on a 16-element tensor alternates between an op the
// memdev test plugin takes (relu) and one it declines (abs), so the plan has
// K regions with a host<->device transfer between each. The same chain on the
// reference interpreter alone is one region. Compare per-op times of the two in
// the same run: the difference is the cost of a region boundary (dispatch,
// transfer of a tiny tensor, plugin call).
#include <benchmark/benchmark.h>

#include "switchyard/builder.h"
#include "switchyard/engine.h"

namespace {

std::shared_ptr<const sy::Graph> chain(int k) {
  sy::GraphBuilder b("chain");
  sy::Value* v = b.input("x", sy::Type::tensor(sy::DType::F32, {16}));
  for (int i = 0; i < k; ++i) v = b.op(i % 2 ? "abs" : "relu", {v});
  b.output(v);
  return std::shared_ptr<const sy::Graph>(std::move(b.finish().value()));
}

std::shared_ptr<const sy::CompiledModel> compile(int k, bool withMemdev) {
  sy::Config c = sy::defaultConfig();
  c.pluginPaths = {SY_TEST_PLUGIN_DIR};
  if (withMemdev) {
    sy::BackendConfig m;
    m.name = "memdev";
    m.options["ops"] = "relu";
    c.backends = {m};
  } else {
    c.backends = {};
    c.pluginPaths = {"/nonexistent"};
  }
  auto engine = sy::Engine::create(c);
  if (!engine.ok()) return nullptr;
  auto model = (*engine)->compile(chain(k));
  return model.ok() ? *model : nullptr;
}

void run(benchmark::State& state, bool withMemdev) {
  const int k = static_cast<int>(state.range(0));
  auto model = compile(k, withMemdev);
  if (!model) {
    state.SkipWithError("could not compile (is the memdev test plugin built?)");
    return;
  }
  auto x = sy::Tensor::allocate(sy::DType::F32, {16}).value();
  for (auto _ : state) {
    auto outs = model->run({x});
    benchmark::DoNotOptimize(outs);
  }
  state.counters["regions"] = static_cast<double>(model->plan().regions.size());
  state.counters["per_op_us"] =
      benchmark::Counter(static_cast<double>(k) * 1e-6, benchmark::Counter::kIsIterationInvariantRate |
                                                          benchmark::Counter::kInvert);
}

void BM_ChainReferenceOnly(benchmark::State& state) { run(state, false); }
void BM_ChainAlternatingMemdev(benchmark::State& state) { run(state, true); }

BENCHMARK(BM_ChainReferenceOnly)->Arg(64)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ChainAlternatingMemdev)->Arg(64)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
