// The plugin under test: loading it, choosing its device, accounting for
// every handle the suite obtains, and running a graph on it through the ABI.
#include <fnmatch.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "internal.h"
#include "switchyard/graph_view.h"

namespace sy::conformance {

namespace fs = std::filesystem;

Result<std::string> resolvePluginPath(const std::string& plugin) {
  if (plugin == "reference") return std::string();
  if (plugin.empty()) return invalidArgument("no plugin given (--plugin NAME|PATH)");
  const bool looksLikePath = plugin.find('/') != std::string::npos || plugin.ends_with(".so");
  if (looksLikePath) {
    if (!fs::exists(plugin)) return notFound("plugin file '", plugin, "' does not exist");
    return fs::absolute(plugin).string();
  }
  std::string searched;
  for (const std::string& dir : defaultPluginSearchPaths()) {
    const fs::path p = fs::path(dir) / ("libsy_plugin_" + plugin + ".so");
    if (fs::exists(p)) return fs::absolute(p).string();
    searched += (searched.empty() ? "" : ", ") + dir;
  }
  return notFound("no plugin named '", plugin, "' (libsy_plugin_", plugin, ".so) in the search path: ",
                  searched.empty() ? std::string("(empty)") : searched,
                  "; set SWITCHYARD_PLUGIN_PATH or pass a path");
}

Result<size_t> chooseDevice(const sy_plugin_api& api, const std::string& selector, const std::string& pluginName) {
  size_t count = 0;
  if (sy_error* e = api.device_count(&count)) {
    std::string msg = api.error_message ? api.error_message(e) : "?";
    api.error_destroy(e);
    return invalidArgument("plugin '", pluginName, "': device_count failed: ", msg);
  }
  if (count == 0) return notFound("plugin '", pluginName, "' has no device");
  struct Dev {
    std::string name;
    int32_t score;
  };
  std::vector<Dev> devs;
  for (size_t i = 0; i < count; ++i) {
    sy_device_info info{};
    info.struct_size = sizeof(info);
    if (sy_error* e = api.device_info(i, &info)) {
      api.error_destroy(e);
      devs.push_back({"", INT32_MIN});
      continue;
    }
    devs.push_back({info.name ? info.name : "", info.score});
  }
  if (!selector.empty() && std::all_of(selector.begin(), selector.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    const size_t index = std::stoul(selector);
    if (index >= count) return notFound("plugin '", pluginName, "' has ", count, " devices; device ", index, " does not exist");
    return index;
  }
  std::optional<size_t> best;
  for (size_t i = 0; i < devs.size(); ++i) {
    if (!selector.empty() && fnmatch(selector.c_str(), devs[i].name.c_str(), 0) != 0) continue;
    if (!best || devs[i].score > devs[*best].score) best = i;
  }
  if (!best) return notFound("no device of plugin '", pluginName, "' matches '", selector, "'");
  return *best;
}

Result<std::unique_ptr<Target>> Target::open(const RunOptions& options) {
  std::unique_ptr<Target> t(new Target());
  SY_ASSIGN_OR_RETURN(t->path_, resolvePluginPath(options.plugin));
  t->options_ = options.backendOptions;
  if (t->path_.empty()) {
    t->api_ = *referencePluginApi();
    t->name_ = "reference";
  } else {
    SY_ASSIGN_OR_RETURN(t->loaded_, PluginHost::load(t->path_));
    t->api_ = t->loaded_->api();
    t->name_ = t->loaded_->name();
  }
  SY_ASSIGN_OR_RETURN(t->device_, chooseDevice(t->api_, options.device, t->name_));
  return t;
}

Target::~Target() {
  if (backend_) destroyBackend(backend_);
}

Result<sy_backend*> Target::backend() {
  if (backend_) return backend_;
  std::vector<sy_option> opts;
  for (const auto& [k, v] : options_) opts.push_back(sy_option{sizeof(sy_option), k.c_str(), v.c_str()});
  SY_RETURN_IF_ERROR(createBackend(device_, opts, &backend_));
  return backend_;
}

Status Target::take(sy_error* error, const std::string& context) {
  if (!error) return Status::OK();
  const char* msg = api_.error_message ? api_.error_message(error) : nullptr;
  const int32_t code = api_.error_code ? api_.error_code(error) : 0;
  std::string text = msg ? msg : "";
  if (text.empty()) breaches_.push_back(context + ": the error carries no message");
  if (code < SY_ERROR_UNKNOWN || code > SY_ERROR_INTERNAL)
    breaches_.push_back(context + ": error code " + std::to_string(code) + " is not a sy_error_code");
  api_.error_destroy(error);
  return Status(StatusCode::kInvalidArgument, context + ": " + (text.empty() ? "(no message)" : text));
}

std::vector<std::string> Target::drainContractBreaches() {
  std::vector<std::string> out;
  out.swap(breaches_);
  return out;
}

Status Target::createBackend(size_t device, const std::vector<sy_option>& options, sy_backend** out) {
  *out = nullptr;
  SY_RETURN_IF_ERROR(take(api_.backend_create(device, options.data(), options.size(), out), "backend_create"));
  if (!*out) return internalError("backend_create succeeded but returned no backend");
  ++live_.backends;
  return Status::OK();
}

void Target::destroyBackend(sy_backend* b) {
  if (!b) return;
  if (b == backend_) backend_ = nullptr;
  api_.backend_destroy(b);
  --live_.backends;
}

Status Target::allocBuffer(sy_backend* b, size_t bytes, sy_buffer** out) {
  *out = nullptr;
  SY_RETURN_IF_ERROR(take(api_.buffer_alloc(b, bytes, out), "buffer_alloc(" + std::to_string(bytes) + ")"));
  if (!*out) return internalError("buffer_alloc succeeded but returned no buffer");
  ++live_.buffers;
  return Status::OK();
}

void Target::freeBuffer(sy_buffer* b) {
  if (!b) return;
  api_.buffer_free(b);
  --live_.buffers;
}

Status Target::compile(sy_backend* b, const sy_graph_view* view, sy_compiled** out) {
  *out = nullptr;
  SY_RETURN_IF_ERROR(take(api_.compile(b, view, out), "compile"));
  if (!*out) return internalError("compile succeeded but returned no compiled region");
  ++live_.compiled;
  return Status::OK();
}

void Target::destroyCompiled(sy_compiled* c) {
  if (!c) return;
  api_.compiled_destroy(c);
  --live_.compiled;
}

// ---------------------------------------------------------------------------

namespace {

/// Frees the buffers it holds when it goes out of scope.
struct BufferList {
  Target& target;
  std::vector<sy_buffer*> buffers;
  ~BufferList() {
    for (sy_buffer* b : buffers) target.freeBuffer(b);
  }
};

}  // namespace

PluginRun runOnPlugin(Target& target, const Graph& graph, const std::vector<Tensor>& inputs) {
  PluginRun run;
  auto fail = [&](PluginRun::Stage stage, std::string msg) {
    run.stage = stage;
    run.message = std::move(msg);
    return run;
  };
  const sy_plugin_api& api = target.api();
  auto backend = target.backend();
  if (!backend.ok()) return fail(PluginRun::Stage::CompileFailed, backend.status().message());

  GraphView view(graph, constantsInFor(api.abi_minor));
  std::vector<sy_node_support> support(view.numNodes());
  for (auto& s : support) s.struct_size = sizeof(sy_node_support);
  Status q = target.take(api.query_support(*backend, view.view(), support.data(), support.size()), "query_support");
  if (!q.ok()) return fail(PluginRun::Stage::CompileFailed, q.message());
  std::string declined;
  for (size_t i = 0; i < support.size(); ++i) {
    // As the engine: a plugin never gets a dtype newer than its ABI minor.
    if (api.abi_minor < SY_ABI_VERSION_MINOR) {
      const std::string tooNew = dtypeTooNewFor(view.nodeAt(i), api.abi_minor);
      if (!tooNew.empty()) {
        support[i].supported = 0;
        std::snprintf(support[i].reason, SY_REASON_SIZE, "%s", tooNew.c_str());
      }
    }
    if (support[i].supported) continue;
    support[i].reason[SY_REASON_SIZE - 1] = '\0';
    const std::string reason = support[i].reason[0] ? support[i].reason : "(no reason given)";
    declined += (declined.empty() ? "" : "; ") + view.nodeAt(i)->describe() + ": " + reason;
  }
  if (!declined.empty()) return fail(PluginRun::Stage::Declined, declined);

  sy_compiled* compiled = nullptr;
  Status c = target.compile(*backend, view.view(), &compiled);
  if (!c.ok()) return fail(PluginRun::Stage::CompileFailed, "the plugin claimed every node but " + c.message());
  struct CompiledGuard {
    Target& t;
    sy_compiled* c;
    ~CompiledGuard() { t.destroyCompiled(c); }
  } guard{target, compiled};

  BufferList inBufs{target, {}};
  std::vector<sy_tensor> ins(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    sy_buffer* b = nullptr;
    Status s = target.allocBuffer(*backend, t.nbytes(), &b);
    if (!s.ok()) return fail(PluginRun::Stage::ExecuteFailed, s.message());
    inBufs.buffers.push_back(b);
    s = target.take(api.buffer_write(b, 0, t.data(), t.nbytes()), "buffer_write");
    if (!s.ok()) return fail(PluginRun::Stage::ExecuteFailed, s.message());
    sy_tensor& st = ins[i];
    st = sy_tensor{};
    st.struct_size = sizeof(sy_tensor);
    st.buffer = b;
    st.dtype = toAbiDType(t.dtype());
    st.rank = static_cast<int32_t>(t.rank());
    for (int64_t d = 0; d < t.rank(); ++d) st.dims[d] = t.dim(d);
  }
  const size_t numOut = graph.outputs().size();
  std::vector<sy_tensor> outs(numOut);
  for (auto& o : outs) {
    o = sy_tensor{};
    o.struct_size = sizeof(sy_tensor);
  }
  Status e = target.take(api.execute(compiled, ins.data(), ins.size(), outs.data(), outs.size()), "execute");
  BufferList outBufs{target, {}};
  for (auto& o : outs)
    if (o.buffer) {
      target.adoptBuffer();
      outBufs.buffers.push_back(o.buffer);
    }
  if (!e.ok()) {
    std::string msg = e.message();
    if (!outBufs.buffers.empty()) msg += " (and it left " + std::to_string(outBufs.buffers.size()) + " output(s) allocated)";
    return fail(PluginRun::Stage::ExecuteFailed, msg);
  }
  for (size_t i = 0; i < numOut; ++i) {
    const sy_tensor& o = outs[i];
    DType dt;
    if (!o.buffer) return fail(PluginRun::Stage::BadOutput, "execute left output " + std::to_string(i) + " without a buffer");
    if (!fromAbiDType(o.dtype, dt))
      return fail(PluginRun::Stage::BadOutput, "output " + std::to_string(i) + " has dtype " + std::to_string(o.dtype));
    if (o.rank < 0 || o.rank > SY_MAX_RANK)
      return fail(PluginRun::Stage::BadOutput, "output " + std::to_string(i) + " has rank " + std::to_string(o.rank));
    Shape shape(o.dims, o.dims + o.rank);
    auto t = Tensor::allocate(dt, shape);
    if (!t.ok()) return fail(PluginRun::Stage::BadOutput, "output " + std::to_string(i) + ": " + t.status().message());
    const size_t size = api.buffer_size(o.buffer);
    if (o.offset > size || t->nbytes() > size - o.offset)
      return fail(PluginRun::Stage::BadOutput, "output " + std::to_string(i) + " (" + t->typeString() + " at offset " +
                                                   std::to_string(o.offset) + ") does not fit its " +
                                                   std::to_string(size) + "-byte buffer");
    Status r = target.take(api.buffer_read(o.buffer, o.offset, t->mutableData(), t->nbytes()), "buffer_read");
    if (!r.ok()) return fail(PluginRun::Stage::BadOutput, r.message());
    run.outputs.push_back(*t);
  }
  return run;
}

}  // namespace sy::conformance
