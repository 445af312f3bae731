// The portable kernels (sdk/kernels, Switchyard::kernels) in their two homes:
//
//   BM_Interpreter/<model>   the reference interpreter (Interpreter::run) on the
//                            example models and, when present, the real-size
//                            models in build/bench-models (make_bench_models.py)
//   BM_ReferenceOp/<case>    the reference interpreter on one op
//   BM_CpuGenericOp/<case>   the cpu plugin (threads: 1) on one op that its
//                            generic path runs (no oneDNN or fused fast path)
//
// The same source builds against an older tree (only public core, runtime and
// ONNX-importer API is used), so "before" and "after" are the same invocation:
// see docs/benchmarks.md ("Portable kernels") for the recipe and the figures.
//
// Environment: SY_BENCH_MODELS_DIR (default <build>/bench-models) and
// SY_EXAMPLES_DIR (default <source>/examples/models) say where the models are;
// SY_BENCH_PLUGIN_DIR (default <build>/plugins) where libsy_plugin_cpu.so is.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "switchyard/engine.h"
#include "switchyard/interpreter.h"
#include "switchyard/npy.h"
#include "switchyard/onnx_import.h"
#include "switchyard/text.h"

namespace {

namespace fs = std::filesystem;

std::string envOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// ---------------------------------------------------------------------------
// Whole models on the reference interpreter

struct ModelCase {
  std::shared_ptr<const sy::Interpreter> interp;
  std::vector<sy::Tensor> inputs;
};

/// The model in `dir` (model.onnx + input_<name>.npy), or an error text.
std::string loadModel(const fs::path& dir, ModelCase& out) {
  auto g = sy::importOnnxFile((dir / "model.onnx").string());
  if (!g.ok()) return g.status().toString();
  std::shared_ptr<const sy::Graph> graph(std::move(*g));
  for (const sy::Value* in : graph->inputs()) {
    auto t = sy::readNpyFile((dir / ("input_" + in->name() + ".npy")).string());
    if (!t.ok()) return t.status().toString();
    out.inputs.push_back(*t);
  }
  auto interp = sy::Interpreter::create(graph);
  if (!interp.ok()) return interp.status().toString();
  out.interp = *interp;
  return "";
}

void runModel(benchmark::State& state, const fs::path& dir) {
  ModelCase m;
  if (std::string err = loadModel(dir, m); !err.empty()) {
    state.SkipWithError(err.c_str());
    return;
  }
  for (auto _ : state) {
    auto outs = m.interp->run(m.inputs);
    if (!outs.ok()) {
      state.SkipWithError(outs.status().toString().c_str());
      return;
    }
    benchmark::DoNotOptimize(outs);
  }
}

// ---------------------------------------------------------------------------
// One op: reference interpreter vs the cpu plugin's generic path

struct OpCase {
  const char* name;
  const char* text;  ///< a one-op graph in the text IR
};

// Sizes of a transformer layer or a CNN feature map; each op here is one the
// cpu plugin runs with its generic kernel (not oneDNN, not a fused f32 chain).
const OpCase kOpCases[] = {
    {"add_i32_bcast",
     "graph @g(%a: i32[256, 1024], %b: i32[1024]) {\n %y = add(%a, %b) : i32[256, 1024]\n return %y\n}"},
    {"add_f16", "graph @g(%a: f16[256, 1024], %b: f16[256, 1024]) {\n %y = add(%a, %b) : f16[256, 1024]\n return %y\n}"},
    {"less_f32", "graph @g(%a: f32[256, 1024], %b: f32[1024]) {\n %y = less(%a, %b) : bool[256, 1024]\n return %y\n}"},
    {"where_f32",
     "graph @g(%c: bool[256, 1024], %a: f32[256, 1024], %b: f32[1]) {\n %y = where(%c, %a, %b) : f32[256, 1024]\n "
     "return %y\n}"},
    {"cast_f32_i32", "graph @g(%a: f32[256, 1024]) {\n %y = cast(%a) {to = \"i32\"} : i32[256, 1024]\n return %y\n}"},
    {"reduce_sum_last",
     "graph @g(%a: f32[256, 1024]) {\n %y = reduce_sum(%a) {axes = [-1]} : f32[256, 1]\n return %y\n}"},
    {"reduce_mean_first",
     "graph @g(%a: f32[256, 1024]) {\n %y = reduce_mean(%a) {axes = [0]} : f32[1, 1024]\n return %y\n}"},
    {"argmax_last", "graph @g(%a: f32[256, 1024]) {\n %y = argmax(%a) {axis = -1} : i64[256, 1]\n return %y\n}"},
    {"transpose_2d", "graph @g(%a: f32[512, 512]) {\n %y = transpose(%a) {perm = [1, 0]} : f32[512, 512]\n return %y\n}"},
    {"transpose_heads",
     "graph @g(%a: f32[8, 128, 12, 64]) {\n %y = transpose(%a) {perm = [0, 2, 1, 3]} : f32[8, 12, 128, 64]\n "
     "return %y\n}"},
    {"concat_last",
     "graph @g(%a: f32[256, 512], %b: f32[256, 512]) {\n %y = concat(%a, %b) {axis = -1} : f32[256, 1024]\n "
     "return %y\n}"},
    {"gather_rows",
     "graph @g(%a: f32[4096, 256], %i: i64[512]) {\n %y = gather(%a, %i) {axis = 0} : f32[512, 256]\n return %y\n}"},
    {"expand_rows", "graph @g(%a: f32[1, 1024], %s: i64[2]) {\n %y = expand(%a, %s) : f32[?, ?]\n return %y\n}"},
    {"layer_norm",
     "graph @g(%a: f32[512, 768], %s: f32[768], %b: f32[768]) {\n %y = layer_norm(%a, %s, %b) : f32[512, 768]\n "
     "return %y\n}"},
    {"instance_norm",
     "graph @g(%a: f32[8, 64, 32, 32], %s: f32[64], %b: f32[64]) {\n %y = instance_norm(%a, %s, %b) : f32[8, 64, "
     "32, 32]\n return %y\n}"},
};

/// Deterministic inputs for `graph`: floats in [-2, 2), ints in [0, 100)
/// (gather's indices in range), bools alternating; an i64[2] `%s` input is
/// expand's shape [256, 1024].
std::vector<sy::Tensor> makeInputs(const sy::Graph& graph) {
  std::mt19937 rng(42);
  std::vector<sy::Tensor> out;
  for (const sy::Value* v : graph.inputs()) {
    sy::Shape shape;
    for (const sy::Dim& d : v->type().dims()) shape.push_back(d.value());
    sy::Tensor t = sy::Tensor::allocate(v->type().dtype(), shape).value();
    std::vector<double> values(static_cast<size_t>(t.numel()));
    std::uniform_real_distribution<double> real(-2, 2);
    std::uniform_int_distribution<int> integer(0, 99);
    for (size_t i = 0; i < values.size(); ++i) {
      if (sy::isFloat(t.dtype())) values[i] = real(rng);
      else if (t.dtype() == sy::DType::Bool) values[i] = static_cast<double>(i % 2);
      else values[i] = integer(rng);
    }
    if (v->name() == "s" && t.dtype() == sy::DType::I64 && values.size() == 2) values = {256, 1024};
    out.push_back(sy::Tensor::fromDoubles(t.dtype(), shape, values).value());
  }
  return out;
}

std::shared_ptr<const sy::Graph> parseCase(benchmark::State& state, const OpCase& c) {
  auto g = sy::parseGraph(c.text);
  if (!g.ok()) {
    state.SkipWithError(g.status().toString().c_str());
    return nullptr;
  }
  return std::shared_ptr<const sy::Graph>(std::move(*g));
}

void referenceOp(benchmark::State& state, const OpCase& c) {
  auto graph = parseCase(state, c);
  if (!graph) return;
  auto interp = sy::Interpreter::create(graph);
  if (!interp.ok()) {
    state.SkipWithError(interp.status().toString().c_str());
    return;
  }
  const std::vector<sy::Tensor> inputs = makeInputs(*graph);
  for (auto _ : state) {
    auto outs = (*interp)->run(inputs);
    if (!outs.ok()) {
      state.SkipWithError(outs.status().toString().c_str());
      return;
    }
    benchmark::DoNotOptimize(outs);
  }
}

void cpuGenericOp(benchmark::State& state, const OpCase& c) {
  auto graph = parseCase(state, c);
  if (!graph) return;
  sy::Config config = sy::defaultConfig();
  config.pluginPaths = {envOr("SY_BENCH_PLUGIN_DIR", SY_PLUGIN_DIR)};
  sy::BackendConfig cpu;
  cpu.name = "cpu";
  cpu.options["threads"] = "1";
  config.backends = {cpu};
  auto engine = sy::Engine::create(config);
  if (!engine.ok()) {
    state.SkipWithError(("cpu plugin: " + engine.status().toString()).c_str());
    return;
  }
  auto model = (*engine)->compile(graph);
  if (!model.ok()) {
    state.SkipWithError(model.status().toString().c_str());
    return;
  }
  const std::vector<sy::Tensor> inputs = makeInputs(*graph);
  for (auto _ : state) {
    auto outs = (*model)->run(inputs);
    if (!outs.ok()) {
      state.SkipWithError(outs.status().toString().c_str());
      return;
    }
    benchmark::DoNotOptimize(outs);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const fs::path examples = envOr("SY_EXAMPLES_DIR", SY_EXAMPLES_DIR);
  const fs::path real = envOr("SY_BENCH_MODELS_DIR", SY_BENCH_MODELS_DIR);
  for (const char* name : {"mlp", "cnn", "transformer", "control_flow"}) {
    const fs::path dir = examples / name;
    benchmark::RegisterBenchmark((std::string("BM_Interpreter/") + name).c_str(),
                                 [dir](benchmark::State& s) { runModel(s, dir); })
        ->Unit(benchmark::kMicrosecond);
  }
  // Real-size models where make_bench_models.py made them (a few seconds a
  // run on the reference interpreter: a few iterations are enough).
  for (const char* name : {"resnet18", "gpt2_small_t128", "bert_base_t128"}) {
    const fs::path dir = real / name;
    if (!fs::exists(dir / "model.onnx")) continue;
    benchmark::RegisterBenchmark((std::string("BM_Interpreter/") + name).c_str(),
                                 [dir](benchmark::State& s) { runModel(s, dir); })
        ->Unit(benchmark::kMillisecond)
        ->Iterations(1);
  }
  for (const OpCase& c : kOpCases) {
    benchmark::RegisterBenchmark((std::string("BM_ReferenceOp/") + c.name).c_str(),
                                 [&c](benchmark::State& s) { referenceOp(s, c); })
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark((std::string("BM_CpuGenericOp/") + c.name).c_str(),
                                 [&c](benchmark::State& s) { cpuGenericOp(s, c); })
        ->Unit(benchmark::kMicrosecond);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
