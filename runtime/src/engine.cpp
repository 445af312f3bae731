#include "switchyard/engine.h"
#include "switchyard/calibrate.h"

#include <fnmatch.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <new>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "switchyard/control_flow.h"
#include "switchyard/fatal_signal.h"
#include "switchyard/graph_view.h"
#include "switchyard/interpreter.h"
#include "switchyard/isolation.h"
#include "switchyard/op_registry.h"
#include "switchyard/verifier.h"

namespace sy {

namespace {

constexpr const char* kReference = "reference";

/// Picks a device: "" = the highest score (first on ties), a number = that
/// index, anything else = a glob over device names (highest score among matches).
Result<size_t> chooseDevice(const LoadedPlugin& plugin, const std::string& selector) {
  const auto& devices = plugin.devices();
  if (devices.empty()) return notFound("plugin '", plugin.name(), "' has no device: ", plugin.noDeviceReason());
  if (!selector.empty() && std::all_of(selector.begin(), selector.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    const size_t index = std::stoul(selector);
    if (index >= devices.size())
      return notFound("plugin '", plugin.name(), "' has ", devices.size(), " devices; device ", index, " does not exist");
    return index;
  }
  std::optional<size_t> best;
  for (const DeviceDescription& d : devices) {
    if (!selector.empty() && fnmatch(selector.c_str(), d.name.c_str(), 0) != 0) continue;
    if (!best || d.score > devices[*best].score) best = d.index;
  }
  if (!best) {
    std::string names;
    for (const auto& d : devices) names += (names.empty() ? "" : ", ") + d.name;
    return notFound("no device of plugin '", plugin.name(), "' matches '", selector, "' (devices: ", names, ")");
  }
  return *best;
}

/// Rough cost of running a node on the reference interpreter: output elements
/// times a per-element time (unknown dims count as 1). Only compared with other estimates.
}  // namespace

/// Starts the helper process of a backend configured with `isolation:
/// process`: its plugin file (libsy_plugin_<name>.so, first in the search
/// paths) is loaded there, never in this process.
Result<std::shared_ptr<LoadedPlugin>> loadIsolatedBackend(const std::vector<std::string>& searchPaths,
                                                          const BackendConfig& bc) {
  const std::string fileName = "libsy_plugin_" + bc.name + ".so";
  std::string path, searched;
  for (const std::string& dir : searchPaths) {
    std::error_code ec;
    const std::filesystem::path candidate = std::filesystem::path(dir) / fileName;
    if (std::filesystem::is_regular_file(candidate, ec)) {
      path = candidate.string();
      break;
    }
    searched += (searched.empty() ? "" : ", ") + dir;
  }
  if (path.empty())
    return notFound("no plugin file ", fileName, " in ", searched.empty() ? std::string("(no search paths)") : searched);
  IsolationOptions options;
  if (bc.timeoutMs > 0) options.callTimeoutMs = static_cast<int>(bc.timeoutMs);
  SY_ASSIGN_OR_RETURN(std::shared_ptr<LoadedPlugin> plugin, loadIsolatedPlugin(path, options));
  if (plugin->name() != bc.name)
    return invalidArgument(path, ": loaded as plugin '", plugin->name(), "' (the name in its function table), not '",
                           bc.name, "'");
  return plugin;
}

namespace {

double referenceCost(const Node* n) {
  double elements = 0;
  for (const Value* o : n->outputs()) {
    double e = 1;
    if (o->type().rankKnown())
      for (const Dim& d : o->type().dims()) e *= d.isStatic() ? static_cast<double>(d.value()) : 1.0;
    elements += e;
  }
  if (n->op() == "matmul" || n->op() == "gemm" || n->op() == "conv" || n->op() == "conv_transpose") elements *= 64;
  return elements * 2e-8;
}

}  // namespace

// ---------------------------------------------------------------------------
// Engine

Result<std::unique_ptr<Engine>> Engine::create(const Config& config) {
  installFatalSignalHandler();  // a plugin crash in this process names the plugin and region first
  std::unique_ptr<Engine> engine(new Engine());
  engine->config_ = config;
  engine->searchPaths_ = config.pluginPaths;
  if (config.defaultPluginPaths)
    for (const std::string& p : defaultPluginSearchPaths()) engine->searchPaths_.push_back(p);
  if (config.backends.empty()) {
    engine->host_.discover(engine->searchPaths_);
  } else {
    // The config names its backends: only their plugin files are opened (a
    // broken unrelated library on the search path cannot take the run down).
    std::vector<std::string> names;
    for (const BackendConfig& b : config.backends)
      if (b.name != kReference && !b.isolateProcess) names.push_back(b.name);
    if (!names.empty()) engine->host_.discover(engine->searchPaths_, names);
  }

  auto problem = [&](const std::string& line) -> Status {
    if (config.strict) return invalidArgument(line);
    engine->warnings_.push_back(line);
    return Status::OK();
  };
  for (const std::string& dir : config.pluginPaths) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
      SY_RETURN_IF_ERROR(problem("plugin path '" + dir + "' " +
                                 (std::filesystem::exists(dir, ec) ? "is not a folder" : "does not exist") +
                                 (config.sourcePath.empty() ? "" : " (plugin_paths in " + config.sourcePath + ")")));
  }
  for (const PluginLoadFailure& w : engine->host_.warnings()) engine->warnings_.push_back(w.reason);

  std::vector<BackendConfig> wanted = config.backends;
  if (wanted.empty()) {
    // No list: every plugin found, best device first (a discrete GPU before a
    // CPU runtime, the native CPU plugin before a CPU OpenCL/Vulkan driver);
    // equal scores keep the discovery (file name) order.
    std::vector<std::pair<int32_t, std::string>> found;
    for (const auto& p : engine->host_.plugins()) {
      int32_t best = std::numeric_limits<int32_t>::min();
      for (const DeviceDescription& d : p->devices()) best = std::max(best, d.score);
      found.emplace_back(best, p->name());
    }
    std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (const auto& f : found) wanted.push_back(BackendConfig{f.second, "", {}, {}});
  }

  std::set<std::string> reportedFiles;  // plugin files whose failure a skipped backend already named
  for (const BackendConfig& bc : wanted) {
    const std::string where = bc.where.file.empty() ? std::string() : bc.where.toString() + ": ";
    if (bc.name == kReference) {
      // Listed explicitly: the interpreter takes that place in the priority order.
      if (std::none_of(engine->backends_.begin(), engine->backends_.end(),
                       [](const EngineBackend& b) { return b.name == kReference; }))
        engine->backends_.push_back(EngineBackend{kReference, nullptr, {}});
      continue;
    }
    // Note [listed backends must load]: a backend the user named (config,
    // --backends, SWITCHYARD_BACKENDS) that cannot be used is an error, so it
    // cannot vanish from a run that then exits 0; `optional: true` makes it a
    // warning (an error under strict), as is everything the automatic search
    // (no list) finds broken.
    auto unusable = [&](const std::string& why) -> Status {
      const std::string line = where + "backend '" + bc.name + "' cannot be used: " + why;
      if (config.backends.empty() || bc.optional) {
        reportedFiles.insert("libsy_plugin_" + bc.name + ".so");
        return problem(line + "; skipped" + (bc.optional ? " (optional)" : ""));
      }
      return invalidArgument(line, "; mark it 'optional: true' in the config to run without it");
    };
    std::shared_ptr<LoadedPlugin> plugin;
    if (bc.isolateProcess) {
      // isolation: process (docs/isolation.md): a helper process loads the
      // plugin; one that cannot start is an error, as a bad option is.
      auto isolated = loadIsolatedBackend(engine->searchPaths_, bc);
      if (!isolated.ok() && bc.optional) {  // Note [listed backends must load]
        SY_RETURN_IF_ERROR(unusable(isolated.status().message() + " (isolation: process)"));
        continue;
      }
      if (!isolated.ok())
        return isolated.status().withContext(where + "backend '" + bc.name + "' (isolation: process)");
      plugin = *isolated;
    } else {
      plugin = engine->host_.find(bc.name);
    }
    if (!plugin) {
      std::string searched;
      for (const auto& p : engine->searchPaths_) searched += (searched.empty() ? "" : ", ") + p;
      if (searched.empty()) searched = "(no search paths)";
      // The files of that name that were found but did not load, and why.
      const std::string fileName = "libsy_plugin_" + bc.name + ".so";
      std::string why;
      for (const PluginLoadFailure& f : engine->host_.failures())
        if (std::filesystem::path(f.path).filename() == fileName) why += (why.empty() ? "" : "; ") + f.reason;
      for (const PluginLoadFailure& w : engine->host_.warnings())
        if (std::filesystem::path(w.path).filename() == fileName) why += (why.empty() ? "" : "; ") + w.reason;
      SY_RETURN_IF_ERROR(unusable(why.empty() ? "no plugin file " + fileName + " in " + searched
                                              : why + " (searched " + searched + ")"));
      continue;
    }
    auto device = chooseDevice(*plugin, bc.device);
    if (!device.ok()) {
      SY_RETURN_IF_ERROR(unusable(device.status().message()));
      continue;
    }
    std::vector<std::pair<std::string, std::string>> options(bc.options.begin(), bc.options.end());
    auto instance = BackendInstance::create(plugin, *device, options);
    if (!instance.ok()) {
      // Bad options are the user's error, not a missing device: always fail.
      // An error about one option points at that option's line when the
      // config says where it is (the plugin's message names it "option 'k'").
      std::string at = where;
      size_t firstMention = std::string::npos;
      const std::string message = instance.status().message();  // a copy: status() returns a temporary
      for (const auto& [key, loc] : bc.optionWhere) {
        const size_t pos = message.find("option '" + key + "'");
        if (pos < firstMention && loc.line > 0) {
          firstMention = pos;
          at = loc.toString() + ": ";
        }
      }
      return instance.status().withContext(at + "backend '" + bc.name + "'");
    }
    engine->backends_.push_back(EngineBackend{bc.name, std::move(*instance), std::move(options)});
  }
  // Plugins that did not load and that no backend above already reported.
  for (const PluginLoadFailure& f : engine->host_.failures())
    if (!reportedFiles.count(std::filesystem::path(f.path).filename().string()))
      SY_RETURN_IF_ERROR(problem("plugin not loaded: " + f.reason));
  const bool referenceListed = std::any_of(engine->backends_.begin(), engine->backends_.end(),
                                           [](const EngineBackend& b) { return b.name == kReference; });
  if (config.fallback == FallbackPolicy::Reference && !referenceListed)
    engine->backends_.push_back(EngineBackend{kReference, nullptr, {}});
  if (engine->backends_.empty())
    return invalidArgument("no backend is available and the fallback is 'error'",
                           config.sourcePath.empty() ? "" : " (config " + config.sourcePath + ")");
  return engine;
}

// ---------------------------------------------------------------------------
// CompiledModel internals

namespace {

/// One compiled region.
struct RegionExec {
  int regionId = -1;
  std::string backend;                 // who runs it
  std::unique_ptr<Graph> graph;        // the region as a standalone graph
  std::vector<const Value*> inputs;    // original values fed to the region's graph inputs
  std::vector<const Value*> outputs;   // original values produced, in region-graph output order
  std::shared_ptr<const Interpreter> interpreter;  // reference regions, and the retry path
  std::shared_ptr<BackendInstance> instance;       // plugin regions
  std::unique_ptr<GraphView> view;                 // keeps constant data alive for the plugin
  sy_compiled* compiled = nullptr;
  bool concurrent = true;
  std::unique_ptr<std::mutex> serial;  // when the plugin does not allow concurrent execute

  ~RegionExec() {
    if (compiled) instance->plugin().api().compiled_destroy(compiled);
  }
};

/// Builds the region's standalone graph: its inputs become graph inputs, and
/// the constants it uses (Region::constants) are re-created inside, so the
/// reference interpreter runs them and the plugin's view carries their data
/// (as values, or as nodes for an ABI 1.0 plugin); nothing is transferred per
/// run (Note [constants are values] in core/src/graph_view.cpp).
Result<std::unique_ptr<Graph>> extractRegion(const Graph& source, const Region& region,
                                             std::vector<const Value*>& actualInputs) {
  auto g = std::make_unique<Graph>(source.name() + ".region" + std::to_string(region.id));
  g->setWeights(source.weights());
  std::unordered_map<const Value*, Value*> map;
  std::unordered_set<const Node*> members(region.nodes.begin(), region.nodes.end());
  for (const Value* v : region.constants) {
    // Constants nested in a member if/loop come along with it.
    bool nested = false;
    for (const Node* at = v->definingNode(); at && !nested; at = at->owningBlock()->owningNode())
      nested = members.count(at) > 0;
    if (!nested && !map.count(v)) cloneNodeInto(*v->definingNode(), g->body(), map);
  }
  for (const Value* v : region.inputs) {
    map[v] = g->addInput(v->type(), v->name());
    actualInputs.push_back(v);
  }
  for (const Node* n : region.nodes) cloneNodeInto(*n, g->body(), map);
  for (const Value* v : region.outputs) {
    auto it = map.find(v);
    if (it == map.end()) return internalError("region ", region.id, ": output %", v->name(), " is not produced inside it");
    g->addOutput(it->second);
  }
  SY_RETURN_IF_ERROR(verify(*g).withContext("region " + std::to_string(region.id) + " as a graph"));
  return g;
}

/// Where a value is during one run: on the host, and/or on one device.
struct Slot {
  Tensor host;
  std::shared_ptr<DeviceBuffer> device;
  DType dtype = DType::F32;
  Shape shape;
};

/// `n` elements, on the stack when n <= N, else on the heap: the per-region
/// arrays of a plugin call (ABI tensors, input buffers, outputs adopted),
/// which a microsecond model paid a heap allocation each for on every call.
template <class T, size_t N>
class InlineArray {
 public:
  explicit InlineArray(size_t n) : size_(n), heap_(n > N ? n : 0) {}
  InlineArray(const InlineArray&) = delete;
  InlineArray& operator=(const InlineArray&) = delete;
  T* data() { return size_ > N ? heap_.data() : local_.data(); }
  size_t size() const { return size_; }
  T& operator[](size_t i) { return data()[i]; }
  T* begin() { return data(); }
  T* end() { return data() + size_; }

 private:
  size_t size_;
  std::array<T, N> local_{};
  std::vector<T> heap_;
};
constexpr size_t kInlineRegionValues = 8;

}  // namespace

struct CompiledModel::Impl {
  std::shared_ptr<const Graph> graph;
  PartitionPlan plan;
  std::vector<std::string> compileLog;
  std::vector<std::unique_ptr<RegionExec>> regions;  // by region id
  bool retryOnReference = false;
  uint64_t memoryBudget = 0;  // bytes per run (Note [memory budget])
};

CompiledModel::CompiledModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CompiledModel::~CompiledModel() = default;
const PartitionPlan& CompiledModel::plan() const { return impl_->plan; }
const std::vector<std::string>& CompiledModel::compileLog() const { return impl_->compileLog; }
const Graph& CompiledModel::graph() const { return *impl_->graph; }

namespace {

Status compileOnPlugin(RegionExec& exec, const std::shared_ptr<BackendInstance>& instance) {
  auto view = std::make_unique<GraphView>(*exec.graph, constantsInFor(instance->plugin().api().abi_minor));
  const sy_plugin_api& api = instance->plugin().api();
  PluginCallScope scope(instance->plugin().name().c_str(), "compile", exec.regionId);
  sy_compiled* compiled = nullptr;
  if (sy_error* err = api.compile(instance->handle(), view->view(), &compiled))
    return instance->plugin().toStatus(err, "compile");
  if (!compiled) return internalError("plugin '", instance->plugin().name(), "': compile returned nothing");
  sy_compiled_info info{};
  info.struct_size = sizeof(info);
  if (sy_error* err = api.compiled_info(compiled, &info)) {
    api.compiled_destroy(compiled);
    return instance->plugin().toStatus(err, "compiled_info");
  }
  exec.instance = instance;
  exec.view = std::move(view);
  exec.compiled = compiled;
  exec.concurrent = info.concurrent_execute != 0;
  if (!exec.concurrent) exec.serial = std::make_unique<std::mutex>();
  return Status::OK();
}

bool supportsAll(const BackendCapability& cap, const Region& r) {
  bool all = true;
  for (const Node* n : r.nodes) {
    auto check = [&](const Node* x) {
      if (x->op() == "constant" || x->op() == "weight") return;  // data, never asked
      auto it = cap.nodes.find(x);
      if (it == cap.nodes.end() || !it->second.supported) all = false;
    };
    check(n);
    for (const Block* b : n->blocks()) forEachNode(b, [&](Node* x) { check(x); });
  }
  return all;
}

}  // namespace

Result<std::vector<BackendCapability>> Engine::capabilities(const Graph& graph) const {
  std::vector<BackendCapability> caps;
  // Plugins are never asked about constants (ABI 1.1); one built against 1.0
  // gets the view it knows, and its answers for constant nodes are ignored.
  std::optional<GraphView> wholeValues, wholeNodes;
  for (const EngineBackend& b : backends_) {
    BackendCapability cap;
    cap.name = b.name;
    if (!b.instance) {
      cap.hostVisible = true;
      forEachNode(graph.body(), [&](Node* n) { cap.nodes[n] = NodeSupport{true, "", referenceCost(n)}; });
      caps.push_back(std::move(cap));
      continue;
    }
    cap.hostVisible = b.instance->device().hostVisibleMemory;
    std::optional<GraphView>& slot =
        constantsInFor(b.instance->plugin().api().abi_minor) == ConstantsIn::Values ? wholeValues : wholeNodes;
    if (!slot) slot.emplace(graph, constantsInFor(b.instance->plugin().api().abi_minor));
    const GraphView& whole = *slot;
    std::vector<sy_node_support> answers(whole.numNodes());
    for (auto& a : answers) {
      std::memset(&a, 0, sizeof(a));
      a.struct_size = sizeof(a);
    }
    const sy_plugin_api& api = b.instance->plugin().api();
    PluginCallScope scope(b.instance->plugin().name().c_str(), "query_support", -1);
    if (sy_error* err = api.query_support(b.instance->handle(), whole.view(), answers.data(), answers.size())) {
      // A backend that cannot answer takes nothing; say why on every node.
      const std::string why = b.instance->plugin().toStatus(err, "query_support").message();
      for (size_t i = 0; i < whole.numNodes(); ++i) cap.nodes[whole.nodeAt(i)] = NodeSupport{false, why, 0};
    } else {
      for (size_t i = 0; i < whole.numNodes(); ++i) {
        const sy_node_support& a = answers[i];
        std::string reason(a.reason, strnlen(a.reason, SY_REASON_SIZE));
        if (!a.supported && reason.empty()) reason = "declined (no reason given)";
        bool supported = a.supported != 0;
        // A plugin never gets a dtype newer than its ABI minor (plugin.h).
        if (api.abi_minor < SY_ABI_VERSION_MINOR) {
          std::string tooNew = dtypeTooNewFor(whole.nodeAt(i), api.abi_minor);
          if (!tooNew.empty()) supported = false, reason = std::move(tooNew);
        }
        cap.nodes[whole.nodeAt(i)] = NodeSupport{supported, reason, a.cost};
      }
    }
    caps.push_back(std::move(cap));
  }
  return caps;
}

Result<std::shared_ptr<const CompiledModel>> Engine::compile(std::shared_ptr<const Graph> graph) const {
  if (!graph) return invalidArgument("compile: no graph");
  SY_RETURN_IF_ERROR(verify(*graph));

  // 1. Ask every backend what it supports (costs scaled by `switchyard
  // calibrate`'s factors under the cost policy: switchyard/calibrate.h).
  SY_ASSIGN_OR_RETURN(std::vector<BackendCapability> caps, capabilities(*graph));
  if (config_.partition.policy == PartitionPolicy::Cost)
    SY_RETURN_IF_ERROR(applyCalibrationCache(config_, backends_, caps));

  // 2. Partition.
  PartitionOptions options;
  options.policy = config_.partition.policy == PartitionPolicy::Cost ? PlacementPolicy::Cost : PlacementPolicy::Priority;
  options.minRegionNodes = config_.partition.minRegionNodes;
  options.transferCostPerByte = config_.partition.transferCostPerByte;
  options.boundaryCost = config_.partition.boundaryCost;
  options.regionCallCost = config_.partition.regionCallCost;
  options.fallback = config_.fallback == FallbackPolicy::Reference ? kReference : "";
  for (const PinConfig& p : config_.pins) {
    bool known = false;
    for (const auto& b : backends_) known = known || b.name == p.backend;
    if (!known) {
      // A pin is a requirement: one that cannot apply fails the compile (it
      // used to be dropped silently unless strict).
      std::string active;
      for (const auto& b : backends_) active += (active.empty() ? "" : ", ") + b.name;
      return invalidArgument(p.where.toString(), ": pin of ", p.op.empty() ? "node '" + p.node : "op '" + p.op,
                             "' to backend '", p.backend, "' cannot apply: that backend is not in use (active: ",
                             active, ")");
    }
    options.pins.push_back(PinRule{p.op, p.node, p.backend});
  }
  SY_ASSIGN_OR_RETURN(PartitionPlan plan, partition(*graph, caps, options));

  // 3. Compile each region, falling back on failure.
  auto impl = std::make_unique<CompiledModel::Impl>();
  impl->graph = graph;
  impl->retryOnReference = config_.retryOnReference;
  impl->memoryBudget = config_.memoryBudget ? config_.memoryBudget : defaultMemoryBudget();
  impl->regions.resize(plan.regions.size());
  for (const Region& region : plan.regions) {
    auto exec = std::make_unique<RegionExec>();
    exec->regionId = region.id;
    SY_ASSIGN_OR_RETURN(exec->graph, extractRegion(*graph, region, exec->inputs));
    exec->outputs = region.outputs;
    std::string backend = region.backend;
    // Candidates: the planned backend, then later backends in priority order that support the whole region.
    std::vector<size_t> order;
    size_t planned = 0;
    for (size_t i = 0; i < backends_.size(); ++i)
      if (backends_[i].name == backend) planned = i;
    order.push_back(planned);
    for (size_t i = planned + 1; i < backends_.size(); ++i)
      if (supportsAll(caps[i], region)) order.push_back(i);
    Status last;
    bool done = false;
    for (size_t i : order) {
      const EngineBackend& b = backends_[i];
      if (!b.instance) {
        auto interp = Interpreter::create(std::shared_ptr<const Graph>(exec->graph.get(), [](const Graph*) {}),
                                          impl->memoryBudget);
        if (!interp.ok()) return interp.status().withContext("region " + std::to_string(region.id));
        exec->interpreter = *interp;
        exec->backend = b.name;
        done = true;
        break;
      }
      Status st = compileOnPlugin(*exec, b.instance);
      if (st.ok()) {
        exec->backend = b.name;
        done = true;
        break;
      }
      impl->compileLog.push_back("region " + std::to_string(region.id) + ": compile on '" + b.name +
                                 "' failed: " + st.message());
      last = st;
    }
    if (!done)
      return last.withContext("region " + std::to_string(region.id) + " could not be compiled on any backend");
    if (exec->backend != region.backend) {
      impl->compileLog.back() += "; moved to '" + exec->backend + "'";
      plan.regions[static_cast<size_t>(region.id)].backend = exec->backend;
      for (NodePlacement& p : plan.placements)
        if (p.region == region.id) {
          p.reason = "compile on '" + p.backend + "' failed (see the compile log): moved to '" + exec->backend + "'";
          p.backend = exec->backend;
        }
    }
    if (impl->retryOnReference && !exec->interpreter) {
      auto interp = Interpreter::create(std::shared_ptr<const Graph>(exec->graph.get(), [](const Graph*) {}),
                                        impl->memoryBudget);
      if (interp.ok()) exec->interpreter = *interp;
    }
    impl->regions[static_cast<size_t>(region.id)] = std::move(exec);
  }
  impl->plan = std::move(plan);
  return std::shared_ptr<const CompiledModel>(new CompiledModel(std::move(impl)));
}

// ---------------------------------------------------------------------------
// Running

namespace {

class RunState {
 public:
  RunState(const CompiledModel::Impl& m, std::vector<TraceEvent>* trace, std::map<std::string, int64_t> bindings)
      : m_(m), trace_(trace), start_(std::chrono::steady_clock::now()), bindings_(std::move(bindings)) {}

  double nowUs() const {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start_).count();
  }
  void record(std::string name, std::string lane, double startUs) {
    if (trace_) trace_->push_back(TraceEvent{std::move(name), std::move(lane), startUs, nowUs() - startUs});
  }

  std::vector<std::string>* retries = nullptr;  // RunOptions::retries
  bool profileSteps = false;                     // RunOptions::profileSteps

  Slot& slot(const Value* v) { return slots_[v]; }

  void setHost(const Value* v, Tensor t) {
    Slot& s = slots_[v];
    s.dtype = t.dtype();
    s.shape = t.shape();
    s.device.reset();
    s.host = std::move(t);
  }

  /// The slot of `v`; a constant's is filled on first use from the graph (its
  /// data is not copied): constants belong to no region (Note [constants are
  /// values] in core/src/graph_view.cpp), so graph outputs, host control flow
  /// and block returns read them here.
  Slot& slotFor(const Value* v) {
    auto it = slots_.find(v);
    if (it != slots_.end()) return it->second;
    Slot& s = slots_[v];
    if (const Tensor* c = knownConstant(v)) {
      s.dtype = c->dtype();
      s.shape = c->shape();
      s.host = *c;
    }
    return s;
  }

  /// The value as a host tensor (downloading it if it lives on a device).
  Result<Tensor> host(const Value* v) {
    if (!slots_.count(v)) slotFor(v);
    auto it = slots_.find(v);
    if (it == slots_.end()) return internalError("value %", v->name(), " was never computed");
    Slot& s = it->second;
    if (s.host.valid()) return s.host;
    if (!s.device) return internalError("value %", v->name(), " has no data");
    if (void* p = s.device->hostPointer()) {
      // Host-visible device memory: borrow it, no copy; the tensor keeps the buffer alive.
      s.host = Tensor::borrow(s.dtype, s.shape, p, s.device);
      return s.host;
    }
    const double t0 = trace_ ? nowUs() : 0;
    SY_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(s.dtype, s.shape));
    SY_RETURN_IF_ERROR(s.device->read(0, t.mutableData(), t.nbytes()).withContext("reading %" + v->name() + " back"));
    s.host = t;
    record("download %" + v->name() + " from " + s.device->backend().plugin().name(), "transfer", t0);
    return t;
  }

  /// The value in a buffer of `backend` (uploading it if needed).
  Result<std::shared_ptr<DeviceBuffer>> onDevice(const Value* v, const std::shared_ptr<BackendInstance>& backend,
                                                 Tensor& keepalive) {
    Slot& s = slots_[v];
    if (s.device && &s.device->backend() == backend.get()) return s.device;
    SY_ASSIGN_OR_RETURN(Tensor t, host(v));
    const sy_plugin_api& api = backend->plugin().api();
    if (api.buffer_wrap_host && backend->device().hostVisibleMemory) {
      sy_buffer* b = nullptr;
      if (sy_error* err = api.buffer_wrap_host(backend->handle(), t.data(), t.nbytes(), &b))
        return backend->plugin().toStatus(err, "buffer_wrap_host");
      keepalive = std::move(t);
      return DeviceBuffer::adopt(backend, b);
    }
    const double t0 = trace_ ? nowUs() : 0;
    SY_ASSIGN_OR_RETURN(std::shared_ptr<DeviceBuffer> buf, DeviceBuffer::allocate(backend, t.nbytes()));
    SY_RETURN_IF_ERROR(buf->write(0, t.data(), t.nbytes()).withContext("uploading %" + v->name()));
    record("upload %" + v->name() + " to " + backend->plugin().name(), "transfer", t0);
    return buf;
  }

  Status runBlock(const BlockPlan& bp) {
    for (const Step& step : bp.steps) {
      if (step.kind == Step::Kind::Region) {
        const RegionExec& r = *m_.regions[static_cast<size_t>(step.region)];
        const double t0 = trace_ ? nowUs() : 0;
        Status st;
        try {
          st = runRegion(r);
        } catch (const std::bad_alloc&) {
          // Out of memory is an error of this region, never an abort.
          st = resourceExhausted("region ", r.regionId, " on backend '", r.backend, "': out of memory");
        }
        SY_RETURN_IF_ERROR(st);
        if (trace_) {  // the event's strings are built only for a trace
          record("region " + std::to_string(r.regionId) + " (" + std::to_string(r.graph->numNodes()) + " nodes)",
                 r.backend, t0);
          trace_->back().region = r.regionId;
        }
      } else {
        Status st;
        try {
          st = step.node->op() == "if" ? runIf(step) : runLoop(step);
        } catch (const std::bad_alloc&) {
          st = resourceExhausted("out of memory");
        }
        SY_RETURN_IF_ERROR(st.withContext(step.node->describe()));
      }
    }
    return Status::OK();
  }

 private:
  Status runRegion(const RegionExec& r) {
    if (r.compiled) {
      Status st = runOnPlugin(r);
      if (st.ok()) return st;
      const std::string where = "region " + std::to_string(r.regionId) + " on backend '" + r.backend + "'";
      if (!m_.retryOnReference || !r.interpreter) return st.withContext(where);
      if (retries) retries->push_back(st.withContext(where).message() + "; retried on the reference interpreter");
      // Retry on the reference interpreter, as the config allows.
    }
    std::vector<Tensor> inputs;
    for (const Value* v : r.inputs) {
      SY_ASSIGN_OR_RETURN(Tensor t, host(v));
      inputs.push_back(std::move(t));
    }
    auto outs = r.interpreter->run(inputs);
    if (!outs.ok()) return outs.status().withContext("region " + std::to_string(r.regionId) + " on the reference interpreter");
    for (size_t i = 0; i < r.outputs.size(); ++i) {
      SY_RETURN_IF_ERROR(checkDeclared(r, r.outputs[i], (*outs)[i].dtype(), (*outs)[i].shape()));
      setHost(r.outputs[i], (*outs)[i]);
    }
    return Status::OK();
  }

  Status runOnPlugin(const RegionExec& r) {
    const sy_plugin_api& api = r.instance->plugin().api();
    // The host tensors that wrapped buffers borrow, and the input buffers,
    // live until the call returns.
    InlineArray<Tensor, kInlineRegionValues> keepalive(r.inputs.size());
    InlineArray<std::shared_ptr<DeviceBuffer>, kInlineRegionValues> inBuffers(r.inputs.size());
    InlineArray<sy_tensor, kInlineRegionValues> ins(r.inputs.size());
    for (size_t i = 0; i < r.inputs.size(); ++i) {
      SY_ASSIGN_OR_RETURN(auto buf, onDevice(r.inputs[i], r.instance, keepalive[i]));
      const Slot& s = slots_[r.inputs[i]];
      if (s.shape.size() > SY_MAX_RANK) return unimplemented("rank ", s.shape.size(), " is above the ABI's maximum ", SY_MAX_RANK);
      sy_tensor& t = ins[i];
      std::memset(&t, 0, sizeof(t));
      t.struct_size = sizeof(t);
      t.buffer = buf->handle();
      t.dtype = toAbiDType(s.dtype);
      t.rank = static_cast<int32_t>(s.shape.size());
      std::copy(s.shape.begin(), s.shape.end(), t.dims);
      inBuffers[i] = std::move(buf);
    }
    InlineArray<sy_tensor, kInlineRegionValues> outs(r.outputs.size());
    for (sy_tensor& t : outs) {
      std::memset(&t, 0, sizeof(t));
      t.struct_size = sizeof(t);
    }
    sy_error* err = nullptr;
    PluginCallScope scope(r.instance->plugin().name().c_str(), "execute", r.regionId);
    // Per-step timings (RunOptions::profileSteps) from a plugin with the
    // optional ABI 1.2 entry; the steps' times are relative to the call.
    const bool steps = profileSteps && SY_STRUCT_HAS(sy_plugin_api, &api, execute_profiled) &&
                       api.execute_profiled != nullptr;
    struct StepSink {
      RunState* state;
      std::string lane;
      int region;
      double baseUs;
      static void record(void* user, const sy_profile_event* e) {
        if (user == nullptr || e == nullptr || !SY_STRUCT_HAS(sy_profile_event, e, duration_us)) return;
        auto* self = static_cast<StepSink*>(user);
        TraceEvent t{e->name ? e->name : "?", self->lane, self->baseUs + e->start_us, e->duration_us};
        t.region = self->region;
        t.step = true;
        if (e->detail) t.detail = e->detail;
        self->state->trace_->push_back(std::move(t));
      }
    } stepSink{this, steps ? r.backend + " steps" : std::string(), r.regionId, steps ? nowUs() : 0.0};
    const sy_profile_sink sink{sizeof(sy_profile_sink), &stepSink, &StepSink::record};
    auto call = [&] {
      return steps ? api.execute_profiled(r.compiled, ins.data(), ins.size(), outs.data(), outs.size(), &sink)
                   : api.execute(r.compiled, ins.data(), ins.size(), outs.data(), outs.size());
    };
    if (r.serial) {
      std::lock_guard<std::mutex> lock(*r.serial);
      err = call();
    } else {
      err = call();
    }
    if (err) return r.instance->plugin().toStatus(err, "execute");
    // Adopt every output first so none leaks if a later one is malformed.
    InlineArray<std::shared_ptr<DeviceBuffer>, kInlineRegionValues> adopted(outs.size());
    for (size_t i = 0; i < outs.size(); ++i)
      if (outs[i].buffer) adopted[i] = DeviceBuffer::adopt(r.instance, outs[i].buffer);
    for (size_t i = 0; i < outs.size(); ++i) {
      const sy_tensor& t = outs[i];
      const Value* v = r.outputs[i];
      DType dtype;
      if (!adopted[i] || !fromAbiDType(t.dtype, dtype) || t.rank < 0 || t.rank > SY_MAX_RANK)
        return internalError("plugin '", r.instance->plugin().name(), "' returned a malformed output ", i, " (%", v->name(), ")");
      Shape shape(t.dims, t.dims + t.rank);
      if (dtype == v->type().dtype() && (!v->type().rankKnown() || v->type().rank() == t.rank))
        SY_RETURN_IF_ERROR(checkDeclared(r, v, dtype, shape));
      auto numel = checkedNumel(shape);
      if (!numel.ok() || dtype != v->type().dtype() ||
          (v->type().rankKnown() && v->type().rank() != t.rank) ||
          api.buffer_size(t.buffer) < t.offset + static_cast<size_t>(*numel) * dtypeSize(dtype))
        return internalError("plugin '", r.instance->plugin().name(), "' returned ", dtypeName(dtype), shapeToString(shape),
                             " for %", v->name(), ", declared ", v->type().toString());
      if (t.offset != 0) {
        // Keep the ABI simple on the host side: copy an offset output to the host.
        SY_ASSIGN_OR_RETURN(Tensor h, Tensor::allocate(dtype, shape));
        SY_RETURN_IF_ERROR(adopted[i]->read(t.offset, h.mutableData(), h.nbytes()));
        setHost(v, std::move(h));
        continue;
      }
      Slot& s = slots_[v];
      s.host = Tensor();
      s.device = adopted[i];
      s.dtype = dtype;
      s.shape = std::move(shape);
    }
    return Status::OK();
  }

  /// Note [declared types at run time]: one rule for every backend. A
  /// region output's run-time shape must have its declared static dims, and
  /// its symbolic dims the sizes the inputs bound; otherwise the model's
  /// declared type is wrong, which is the model's error, not the backend's.
  Status checkDeclared(const RegionExec& r, const Value* v, DType dtype, const Shape& shape) {
    Status st = checkAgainstDeclaredType(v, dtype, shape, bindings_, false);
    if (st.ok()) return st;
    return invalidArgument("the model declares a type that its computation does not have: ", st.message(),
                           " (computed by region ", r.regionId, " on backend '", r.backend, "')");
  }

  /// Copies the slot of `from` to `to` (no data copy).
  void alias(const Value* to, const Value* from) { slots_[to] = slotFor(from); }

  Status runIf(const Step& step) {
    SY_ASSIGN_OR_RETURN(Tensor c, host(step.node->input(0)));
    SY_ASSIGN_OR_RETURN(bool cond, conditionValue(c, "the condition"));
    const BlockPlan& bp = step.blocks[cond ? 0 : 1];
    SY_RETURN_IF_ERROR(runBlock(bp));
    for (size_t i = 0; i < step.node->numOutputs(); ++i) alias(step.node->output(i), bp.block->returns()[i]);
    return Status::OK();
  }

  Status runLoop(const Step& step) {
    const Node* n = step.node;
    SY_ASSIGN_OR_RETURN(Tensor tripT, host(n->input(0)));
    SY_ASSIGN_OR_RETURN(const int64_t maxTrip, loopTripCount(tripT));
    SY_ASSIGN_OR_RETURN(Tensor c0, host(n->input(1)));
    SY_ASSIGN_OR_RETURN(bool cond, conditionValue(c0, "the loop condition"));
    const BlockPlan& bp = step.blocks[0];
    const Block* body = bp.block;
    const size_t carried = n->numInputs() - 2;
    const size_t scans = body->returns().size() - 1 - carried;
    std::vector<Slot> state;
    for (size_t i = 0; i < carried; ++i) state.push_back(slotFor(n->input(2 + i)));
    std::vector<ScanCollector> scanned;
    // The run's budget, made by its first loop with scan outputs.
    if (scans > 0 && !budget_) budget_ = std::make_shared<MemoryBudget>(m_.memoryBudget);
    for (size_t i = 0; i < scans; ++i) scanned.emplace_back(i, budget_);
    for (int64_t iter = 0; iter < maxTrip && cond; ++iter) {
      setHost(body->param(0), Tensor::scalarI64(iter));
      setHost(body->param(1), Tensor::scalarBool(cond));
      for (size_t i = 0; i < carried; ++i) slots_[body->param(2 + i)] = state[i];
      SY_RETURN_IF_ERROR(runBlock(bp).withContext("iteration " + std::to_string(iter)));
      SY_ASSIGN_OR_RETURN(Tensor c, host(body->returns()[0]));
      SY_ASSIGN_OR_RETURN(cond, conditionValue(c, "the condition yielded by the loop body"));
      for (size_t i = 0; i < carried; ++i) state[i] = slotFor(body->returns()[1 + i]);
      for (size_t i = 0; i < scans; ++i) {
        SY_ASSIGN_OR_RETURN(Tensor t, host(body->returns()[1 + carried + i]));
        SY_RETURN_IF_ERROR(scanned[i].add(t, iter));
      }
    }
    for (size_t i = 0; i < carried; ++i) slots_[n->output(i)] = state[i];
    // Dims of an empty scan: numbers, or symbols the model's inputs bound
    // (a 0-trip loop over f32[?, B, 4] is [0, B, 4], as on the reference).
    auto resolve = [this](const Dim& d) -> std::optional<int64_t> {
      if (d.isStatic()) return d.value();
      if (d.isSymbol()) {
        auto it = bindings_.find(d.symbolName());
        if (it != bindings_.end()) return it->second;
      }
      return std::nullopt;
    };
    for (size_t i = 0; i < scans; ++i) {
      SY_ASSIGN_OR_RETURN(Tensor out, scanned[i].stack(n->output(carried + i)->type(),
                                                       body->returns()[1 + carried + i]->type(), resolve));
      setHost(n->output(carried + i), std::move(out));
    }
    return Status::OK();
  }

  const CompiledModel::Impl& m_;
  std::vector<TraceEvent>* trace_;
  std::chrono::steady_clock::time_point start_;
  std::shared_ptr<MemoryBudget> budget_;  // Note [memory budget]; made on first need (runLoop)
  std::map<std::string, int64_t> bindings_;  // symbols bound by the inputs
  std::unordered_map<const Value*, Slot> slots_;
};

}  // namespace

Result<std::vector<Tensor>> CompiledModel::run(const std::vector<Tensor>& inputs) const {
  return run(inputs, RunOptions{});
}

Result<std::vector<Tensor>> CompiledModel::run(const std::vector<Tensor>& inputs, const RunOptions& options) const {
  SY_ASSIGN_OR_RETURN(auto bindings, bindInputs(*impl_->graph, inputs));
  RunState state(*impl_, options.trace, std::move(bindings));
  state.retries = options.retries;
  state.profileSteps = options.trace != nullptr && options.profileSteps;
  for (size_t i = 0; i < inputs.size(); ++i) state.setHost(impl_->graph->inputs()[i], inputs[i]);
  SY_RETURN_IF_ERROR(state.runBlock(impl_->plan.top));
  std::vector<Tensor> outs;
  outs.reserve(impl_->graph->outputs().size());
  for (const Value* v : impl_->graph->outputs()) {
    SY_ASSIGN_OR_RETURN(Tensor t, state.host(v));
    outs.push_back(std::move(t));
  }
  return outs;
}

}  // namespace sy
