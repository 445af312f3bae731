// The partitioned runtime: Engine (plugins + config) -> compile(graph) ->
// CompiledModel (immutable; run from many threads at once) -> run(inputs).
//
// Note [Why the runtime is not in core/]. DESIGN.md lists the runtime under
// core/, but the runtime needs the partitioner, which itself builds on core;
// keeping Engine in core would make core and partitioner depend on each other.
// So it is its own library, sy_runtime, on top of both.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "switchyard/config.h"
#include "switchyard/ir.h"
#include "switchyard/partitioner.h"
#include "switchyard/plugin_host.h"
#include "switchyard/tensor.h"

namespace sy {

class CompiledModel;

/// One timed slice of a run (a region on a backend, a transfer, or a step
/// inside a region), for traces and profiles (switchyard/profile.h).
struct TraceEvent {
  std::string name;     ///< "region 2 (5 nodes)", "upload %x to memdev", "download %y from memdev"; a step: its op(s), "conv + relu"
  std::string lane;     ///< the backend, "transfer", or for a step "<backend> steps"
  double startUs = 0;   ///< microseconds since the run started
  double durationUs = 0;
  int region = -1;      ///< the region (regions and their steps), else -1
  bool step = false;    ///< a step a plugin reported inside region `region` (RunOptions::profileSteps)
  std::string detail;   ///< a step's shapes as the plugin gives them ("f32[1,64,56,56] -> f32[1,64,56,56]"), may be empty
};

/// Per-call options of CompiledModel::run.
struct RunOptions {
  /// When set, the run appends one event per region and per transfer.
  std::vector<TraceEvent>* trace = nullptr;
  /// With `trace`: regions on a plugin that reports per-step timings (the
  /// optional ABI 1.2 entry execute_profiled) also append one event per step
  /// (TraceEvent::step). Other regions are traced as a whole, as without it.
  bool profileSteps = false;
  /// When set, one line per region that failed on its backend and was run
  /// again on the reference interpreter (retry_on_reference), with the error:
  /// "region 2 on backend 'x': plugin 'x': execute: ...; retried on the reference interpreter".
  std::vector<std::string>* retries = nullptr;
};

/// One backend the engine will use, in priority order.
struct EngineBackend {
  std::string name;  ///< backend name ("reference" for the interpreter)
  std::shared_ptr<BackendInstance> instance;  ///< null for "reference"
  std::vector<std::pair<std::string, std::string>> options;
};

/// Plugins, devices and policies, ready to compile graphs. Thread-safe to use
/// from several threads once created.
class Engine {
 public:
  /// Loads the plugins the config asks for (or all found when it lists none),
  /// creates one backend per listed entry on the chosen device, and keeps
  /// one line per problem in warnings(). With config.strict, problems are errors.
  static Result<std::unique_ptr<Engine>> create(const Config& config);

  /// Partitions and compiles `graph`. A region whose compile fails moves to the
  /// next backend that supports all of it, and finally to the reference
  /// interpreter (unless the fallback is `error`); the plan records why.
  Result<std::shared_ptr<const CompiledModel>> compile(std::shared_ptr<const Graph> graph) const;

  /// What every backend answers for every node of `graph` (nested nodes
  /// included), in backends() order, with the costs as the plugins estimate
  /// them: what compile() partitions with (which, under the cost policy, first
  /// scales them by the calibration cache: switchyard/calibrate.h).
  Result<std::vector<BackendCapability>> capabilities(const Graph& graph) const;

  /// Backends in priority order; the reference interpreter is last unless the
  /// fallback is `error`.
  const std::vector<EngineBackend>& backends() const { return backends_; }
  /// Every plugin that was found and loaded.
  const std::vector<std::shared_ptr<LoadedPlugin>>& plugins() const { return host_.plugins(); }
  /// Plugins that could not be loaded, and why.
  const std::vector<PluginLoadFailure>& loadFailures() const { return host_.failures(); }
  /// One line per skipped backend or plugin.
  const std::vector<std::string>& warnings() const { return warnings_; }
  const Config& config() const { return config_; }
  /// The folders that were searched for plugins.
  const std::vector<std::string>& searchPaths() const { return searchPaths_; }

 private:
  Engine() = default;
  Config config_;
  PluginHost host_;
  std::vector<EngineBackend> backends_;
  std::vector<std::string> warnings_;
  std::vector<std::string> searchPaths_;
};

/// A compiled graph. Immutable: run() may be called from any number of
/// threads at once; there is no global lock (a region on a plugin that does
/// not allow concurrent execution is serialised on its own).
class CompiledModel {
 public:
  ~CompiledModel();

  /// Runs the model. Inputs are checked against the graph's declared types
  /// (symbolic dims bound). A region that fails returns an error naming the
  /// region and its backend, unless the config allows retrying it on the
  /// reference interpreter. The inputs are never modified.
  Result<std::vector<Tensor>> run(const std::vector<Tensor>& inputs) const;
  Result<std::vector<Tensor>> run(const std::vector<Tensor>& inputs, const RunOptions& options) const;

  /// The partition plan, with placements updated by compile fallbacks.
  const PartitionPlan& plan() const;
  /// One line per compile fallback ("region 2: compile on 'memdev' failed: ...; moved to reference").
  const std::vector<std::string>& compileLog() const;
  const Graph& graph() const;

  struct Impl;

 private:
  friend class Engine;
  explicit CompiledModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sy
