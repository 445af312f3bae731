// Internals of the conformance suite shared by its source files.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "switchyard/conformance.h"
#include "switchyard/ir.h"
#include "switchyard/plugin.h"
#include "switchyard/plugin_host.h"
#include "switchyard/tensor.h"

namespace sy {
class Engine;
struct PartitionPlan;
}  // namespace sy

namespace sy::conformance {

// ---------------------------------------------------------------------------
// The plugin under test, seen through its raw ABI table.

/// The in-process ABI table of the reference interpreter (reference_backend.cpp).
const sy_plugin_api* referencePluginApi();

/// Finds the shared library for `plugin` (a path, or a name on the default
/// search path). "reference" gives "".
Result<std::string> resolvePluginPath(const std::string& plugin);

/// The plugin under test, loaded in this process. For a real plugin the host
/// loads it (PluginHost::load: ABI checks, init, devices); for "reference"
/// it is the in-process table. Counts every handle the suite obtains and
/// releases, so a case can check that it left nothing behind.
class Target {
 public:
  static Result<std::unique_ptr<Target>> open(const RunOptions& options);
  ~Target();

  const sy_plugin_api& api() const { return api_; }
  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }  ///< "" for the reference
  bool isReference() const { return path_.empty(); }
  size_t device() const { return device_; }
  const std::vector<std::pair<std::string, std::string>>& backendOptions() const { return options_; }

  /// The shared backend (created on first use, destroyed with the Target).
  Result<sy_backend*> backend();

  /// Turns a plugin error into a Status (destroying it); also checks the
  /// error's contract (a non-empty message, a known code) and notes breaches.
  Status take(sy_error* error, const std::string& context);
  /// Breaches of the error contract seen by take() since the last call.
  std::vector<std::string> drainContractBreaches();

  // Handle accounting (every handle the suite got from the plugin).
  struct Counts {
    int64_t backends = 0, buffers = 0, compiled = 0;
  };
  Counts live() const { return live_; }
  Status createBackend(size_t device, const std::vector<sy_option>& options, sy_backend** out);
  void destroyBackend(sy_backend* b);
  Status allocBuffer(sy_backend* b, size_t bytes, sy_buffer** out);
  void freeBuffer(sy_buffer* b);
  Status compile(sy_backend* b, const sy_graph_view* view, sy_compiled** out);
  void destroyCompiled(sy_compiled* c);
  /// Records a buffer the plugin allocated as an execute output.
  void adoptBuffer() { ++live_.buffers; }

 private:
  Target() = default;
  std::shared_ptr<LoadedPlugin> loaded_;
  sy_plugin_api api_{};
  std::string name_, path_;
  size_t device_ = 0;
  std::vector<std::pair<std::string, std::string>> options_;
  sy_backend* backend_ = nullptr;
  Counts live_;
  std::vector<std::string> breaches_;
};

/// Picks a device of `target` as the engine does ("" best score, digits an
/// index, else a glob on names).
Result<size_t> chooseDevice(const sy_plugin_api& api, const std::string& selector, const std::string& pluginName);

// ---------------------------------------------------------------------------
// Running a graph on the plugin through the ABI.

/// Output of running a graph on the plugin.
struct PluginRun {
  enum class Stage { Ok, Declined, CompileFailed, ExecuteFailed, BadOutput } stage = Stage::Ok;
  std::string message;
  std::vector<Tensor> outputs;
};

/// Queries, compiles and executes `graph` (all nodes, as one region) on the
/// target's backend with `inputs`. Declined when any node is declined.
PluginRun runOnPlugin(Target& target, const Graph& graph, const std::vector<Tensor>& inputs);

// ---------------------------------------------------------------------------
// Comparison

struct Tolerance {
  double rtol = 0, atol = 0, nmse = 0;  ///< all 0: exact
};
/// The tolerance for outputs of `dtype` (the table in docs/conformance.md).
Tolerance toleranceFor(DType dtype);

/// Compares outputs with the reference; fills result.outcome (Passed/Failed),
/// message, worst element and nmse. `names` names the outputs (may be short).
void compareOutputs(const std::vector<Tensor>& got, const std::vector<Tensor>& expected,
                    const std::vector<std::string>& names, CaseResult& result, double toleranceScale = 1.0);

// ---------------------------------------------------------------------------
// Cases

/// A case: its identity and how to run it in a child process.
struct Case {
  CaseResult info;  ///< id, scope, group, op filled
  std::function<void(Target&, CaseResult&)> run;
};

std::vector<Case> apiCases();
std::vector<Case> opCases();
std::vector<Case> modelCases(const std::string& examplesDir);
/// Empty with `skipReason` set when the scope cannot run here.
std::vector<Case> onnxCases(const std::string& nodeDir, std::string& skipReason);
/// The engine scope: every examples/*.sy and, with the ONNX importer,
/// examples/models/*/model.onnx. Notes what it cannot run into `notes`.
std::vector<Case> engineCases(const std::string& examplesDir, std::vector<std::string>& notes);

// ---------------------------------------------------------------------------
// Engine runs (models, onnx and engine scopes; model_cases.cpp)

/// The child's engine: the plugin under test first, the reference interpreter
/// as the fallback, priority placement, no retry on the reference at run time.
/// Created on first use, one per child process.
Result<Engine*> engineFor(Target& t);

/// Not a `constant` or `weight` node (those are data, not work to claim).
bool isComputeNode(const Node& n);

/// Compute nodes of one op that `backend` did not take, for one reason.
struct DeclineGroup {
  std::string op;
  std::string reason;  ///< the plugin's own reason, or the partitioner's (e.g. "placed here first, but its region was given back")
  size_t nodes = 0;
};
/// Every compute node of the plan that `backend` does not run, grouped by op
/// and reason in plan order.
std::vector<DeclineGroup> declinedBy(const PartitionPlan& plan, const std::string& backend);
/// "relu: <reason>; add (x2): <reason>; and 3 more".
std::string declineSummary(const std::vector<DeclineGroup>& groups, size_t maxEntries = 8);

/// A one-node graph for the basic case of every registry op (for the
/// capability query of the api scope). Ops without a basic case are absent.
std::vector<std::pair<std::string, std::shared_ptr<Graph>>> basicOpGraphs();
/// The graph of every op case that builds (the differential fuzzer's seeds).
struct OpCaseGraph {
  std::string id;  ///< "ops.add.f32.broadcast"
  std::string op;
  std::shared_ptr<Graph> graph;
};
std::vector<OpCaseGraph> opCaseGraphs();

/// Deterministic inputs for `graph`'s inputs, seeded by `seed`: symbols bound
/// to `symbolSize`, f32 in [-1, 1], ints in [0, 3], bools alternating.
Result<std::vector<Tensor>> makeGraphInputs(const Graph& graph, uint64_t seed, int64_t symbolSize = 3);

/// FNV-1a of a string (case seeds).
uint64_t hashString(const std::string& s);

// ---------------------------------------------------------------------------
// Declarations

struct Declaration {
  enum class Kind { Unsupported, ExpectedFailure } kind;
  std::string pattern, reason;
  int line = 0;
};
Result<std::vector<Declaration>> loadDeclarations(const std::string& path);
const Declaration* findDeclaration(const std::vector<Declaration>& decls, const std::string& id);

/// Glob match (fnmatch without special handling of '/').
bool globMatch(const std::string& pattern, const std::string& text);

/// Where the suite's data (`installedName`: "examples",
/// "conformance/declarations") is: <prefix>/share/switchyard/<installedName>
/// beside an installed runner (<prefix>/bin, cmake/SwitchyardInstall.cmake),
/// else `compiledIn`, the source tree the runner was built from.
std::string suiteDataDir(const std::string& compiledIn, const char* installedName);

// ---------------------------------------------------------------------------
// Process isolation

/// Runs every group in child processes (`jobs` at a time). `runCase(i, result)`
/// runs case `i` inside a child. A child that dies or overruns `timeout`
/// seconds on a case marks that case crashed / timed out, and a new child
/// continues with the rest of the group. `onResult` is called in the parent
/// for every result, in arrival order.
void runIsolated(std::vector<CaseResult>& cases, const std::vector<std::vector<size_t>>& groups, int jobs,
                 double timeoutSeconds, bool quietChildren,
                 const std::function<void(const std::vector<size_t>& group, size_t from, int fd)>& childMain,
                 const std::function<void(size_t index)>& onResult);

/// Child side: announce the start of case `index`, and send its result.
void sendBegin(int fd, size_t index);
void sendResult(int fd, size_t index, const CaseResult& r);

}  // namespace sy::conformance
