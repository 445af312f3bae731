// partition() on synthetic graphs of 10k, 100k and 1M nodes: a long chain with
// side branches that rejoin it, and random support across two backends (a
// host-visible "cpu" and a device "gpu") plus the reference fallback. The
// graph and the capability answers are built once per size, outside the timed
// loop.
//
//   cmake -S . -B build-pbench -G Ninja -DCMAKE_BUILD_TYPE=Release
//   ninja -C build-pbench partitioner_bench && build-pbench/bin/partitioner_bench
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <random>

#include "switchyard/builder.h"
#include "switchyard/partitioner.h"

namespace {

struct Fixture {
  std::unique_ptr<sy::Graph> graph;
  std::vector<sy::BackendCapability> backends;
};

std::unique_ptr<sy::Graph> chainWithBranches(int64_t numNodes, std::mt19937& rng) {
  static const char* kUnary[] = {"relu", "tanh", "neg", "sigmoid"};
  sy::GraphBuilder b("chain");
  sy::Value* main = b.input("x", sy::Type::tensor(sy::DType::F32, {64, 64}));
  std::vector<sy::Value*> branches;
  for (int64_t i = 1; i < numNodes;) {
    const uint32_t r = rng() % 10;
    if (r == 0 && branches.size() < 16) {  // start a side branch
      branches.push_back(b.op(kUnary[rng() % 4], {main}));
      ++i;
    } else if (r == 1 && !branches.empty()) {  // extend or rejoin a branch
      sy::Value*& br = branches[rng() % branches.size()];
      if (rng() % 2) {
        br = b.op(kUnary[rng() % 4], {br});
      } else {
        main = b.op("add", {main, br});
        br = branches.back();
        branches.pop_back();
      }
      ++i;
    } else {
      main = rng() % 4 == 0 ? b.op("matmul", {main, main}) : b.op(kUnary[rng() % 4], {main});
      ++i;
    }
  }
  for (sy::Value* br : branches) main = b.op("add", {main, br});
  b.output(main);
  auto g = b.finish();
  if (!g.ok()) {
    fprintf(stderr, "graph: %s\n", g.status().toString().c_str());
    std::abort();
  }
  return std::move(*g);
}

const Fixture& fixture(int64_t numNodes) {
  static std::map<int64_t, Fixture> cache;
  auto it = cache.find(numNodes);
  if (it != cache.end()) return it->second;
  std::mt19937 rng(42);
  Fixture f;
  f.graph = chainWithBranches(numNodes, rng);
  const char* names[] = {"gpu", "cpu"};
  for (int d = 0; d < 2; ++d) {
    sy::BackendCapability cap;
    cap.name = names[d];
    cap.hostVisible = d == 1;
    cap.nodes.reserve(f.graph->numNodes());
    sy::forEachNode(f.graph->body(), [&](sy::Node* n) {
      const bool yes = rng() % 10 < 8;
      cap.nodes[n] = yes ? sy::NodeSupport{true, "", 1e-6 * (1 + rng() % 4)} : sy::NodeSupport{false, "no kernel", 0};
    });
    f.backends.push_back(std::move(cap));
  }
  sy::BackendCapability ref;
  ref.name = "reference";
  ref.hostVisible = true;
  ref.nodes.reserve(f.graph->numNodes());
  sy::forEachNode(f.graph->body(), [&](sy::Node* n) { ref.nodes[n] = sy::NodeSupport{true, "", 1e-4}; });
  f.backends.push_back(std::move(ref));
  return cache.emplace(numNodes, std::move(f)).first->second;
}

void run(benchmark::State& state, sy::PlacementPolicy policy, bool boundaryCost = true) {
  const Fixture& f = fixture(state.range(0));
  sy::PartitionOptions options;
  options.policy = policy;
  options.minRegionNodes = 2;
  options.boundaryCost = boundaryCost;
  size_t regions = 0, transfers = 0;
  for (auto _ : state) {
    auto plan = sy::partition(*f.graph, f.backends, options);
    if (!plan.ok()) {
      state.SkipWithError(plan.status().toString().c_str());
      return;
    }
    regions = plan->regions.size();
    transfers = plan->transfers.size();
    benchmark::DoNotOptimize(plan);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(f.graph->numNodes()));
  state.counters["nodes"] = static_cast<double>(f.graph->numNodes());
  state.counters["regions"] = static_cast<double>(regions);
  state.counters["transfers"] = static_cast<double>(transfers);
}

void BM_PartitionPriority(benchmark::State& state) { run(state, sy::PlacementPolicy::Priority); }
void BM_PartitionCost(benchmark::State& state) { run(state, sy::PlacementPolicy::Cost); }
// What the boundary-cost pass (Note [Boundary cost]) adds: the same without it.
void BM_PartitionPriorityNoBoundary(benchmark::State& state) { run(state, sy::PlacementPolicy::Priority, false); }

BENCHMARK(BM_PartitionPriority)->Arg(10'000)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PartitionCost)->Arg(10'000)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PartitionPriorityNoBoundary)->Arg(10'000)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
