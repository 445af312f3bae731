// calibrate(): timing each backend's op classes (switchyard/calibrate.h), and
// applying the cache the config names when the engine compiles.
#include "switchyard/calibrate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <map>

#include "switchyard/text.h"

#ifndef SY_PROJECT_VERSION
#define SY_PROJECT_VERSION "unknown"
#endif

namespace sy {

namespace {

/// One timed graph: its op class, the op, and the program.
struct CalibrationCase {
  const char* opClass;
  const char* op;
  const char* label;
  const char* text;
};

// Sizes: a few milliseconds on the reference interpreter, so that the op's
// work, not the region call, dominates every backend's time.
const CalibrationCase kCases[] = {
    {"matmul", "matmul", "matmul f32[64,256] x f32[256,256]", R"(
graph @calibrate_matmul(%x: f32[64, 256], %w: f32[256, 256]) {
  %y = matmul(%x, %w) : f32[64, 256]
  return %y
}
)"},
    {"conv", "conv", "conv f32[1,16,32,32] * f32[16,16,3,3]", R"(
graph @calibrate_conv2d(%x: f32[1, 16, 32, 32], %w: f32[16, 16, 3, 3]) {
  %y = conv(%x, %w) {pads = [1, 1, 1, 1]} : f32[1, 16, 32, 32]
  return %y
}
)"},
    {"conv", "conv", "conv f32[1,8,8,16,16] * f32[16,8,3,3,3]", R"(
graph @calibrate_conv3d(%x: f32[1, 8, 8, 16, 16], %w: f32[16, 8, 3, 3, 3]) {
  %y = conv(%x, %w) {pads = [1, 1, 1, 1, 1, 1]} : f32[1, 16, 8, 16, 16]
  return %y
}
)"},
    {"pool", "max_pool", "max_pool f32[1,16,64,64] 2x2/2", R"(
graph @calibrate_pool(%x: f32[1, 16, 64, 64]) {
  %y = max_pool(%x) {kernel_shape = [2, 2], strides = [2, 2]} : f32[1, 16, 32, 32]
  return %y
}
)"},
    {"normalize", "softmax", "softmax f32[256,256]", R"(
graph @calibrate_softmax(%x: f32[256, 256]) {
  %y = softmax(%x) {axis = -1} : f32[256, 256]
  return %y
}
)"},
    {"reduce", "reduce_sum", "reduce_sum f32[256,1024] axis 1", R"(
graph @calibrate_reduce(%x: f32[256, 1024]) {
  %y = reduce_sum(%x) {axes = [1], keepdims = 0} : f32[256]
  return %y
}
)"},
    {"elementwise", "add", "add f32[256,1024]", R"(
graph @calibrate_add(%x: f32[256, 1024], %z: f32[256, 1024]) {
  %y = add(%x, %z) : f32[256, 1024]
  return %y
}
)"},
};

std::string utcNow() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

/// Inputs with small, varied values (no denormals, no NaN).
Result<std::vector<Tensor>> inputsFor(const Graph& g) {
  std::vector<Tensor> inputs;
  uint32_t state = 12345;
  for (const Value* in : g.inputs()) {
    Shape shape;
    for (const Dim& d : in->type().dims()) shape.push_back(d.value());
    SY_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(DType::F32, shape));
    float* p = t.mutableData<float>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      state = state * 1664525u + 1013904223u;
      p[i] = static_cast<float>(static_cast<int>(state >> 24) - 128) / 256.0f;
    }
    inputs.push_back(std::move(t));
  }
  return inputs;
}

/// The config that runs everything on `backend` alone (the reference as the
/// fallback), with `op` pinned to it.
Config caseConfig(const Engine& engine, const EngineBackend& backend, const std::string& op) {
  Config c = engine.config();
  c.partition.policy = PartitionPolicy::Priority;
  c.partition.boundaryCost = false;
  c.partition.minRegionNodes = 1;
  c.partition.calibration = "none";
  c.pins.clear();
  c.fallback = FallbackPolicy::Reference;
  BackendConfig b;
  b.name = backend.name;
  if (backend.instance) {
    b.device = std::to_string(backend.instance->device().index);
    for (const auto& [k, v] : backend.options) b.options[k] = v;
    PinConfig pin;
    pin.op = op;
    pin.backend = backend.name;
    c.pins.push_back(pin);
  }
  c.backends = {b};
  return c;
}

}  // namespace

CalibrationKey calibrationKeyOf(const EngineBackend& backend) {
  if (!backend.instance) return CalibrationKey{"reference", SY_PROJECT_VERSION, "host"};
  return CalibrationKey{backend.instance->plugin().name(), backend.instance->plugin().version(),
                        backend.instance->device().name};
}

Result<CalibrationReport> calibrate(const Engine& engine, const CalibrateOptions& options) {
  for (const std::string& name : options.backends) {
    bool known = false;
    for (const EngineBackend& b : engine.backends()) known = known || b.name == name;
    if (!known) {
      std::string active;
      for (const EngineBackend& b : engine.backends()) active += (active.empty() ? "" : ", ") + b.name;
      return notFound("calibrate: no backend '", name, "' (backends: ", active, ")");
    }
  }
  for (const std::string& cls : options.classes) {
    bool known = false;
    for (const CalibrationCase& c : kCases) known = known || cls == c.opClass;
    if (!known) return invalidArgument("calibrate: no op class '", cls, "' (classes: matmul, conv, pool, normalize, reduce, elementwise)");
  }
  CalibrationReport report;
  for (const EngineBackend& backend : engine.backends()) {
    if (!options.backends.empty() &&
        std::find(options.backends.begin(), options.backends.end(), backend.name) == options.backends.end())
      continue;
    CalibrationEntry entry;
    entry.key = calibrationKeyOf(backend);
    entry.measuredAt = utcNow();
    std::map<std::string, std::pair<double, int>> logSum;  // class -> (sum of log factors, count)
    for (const CalibrationCase& cc : kCases) {
      if (!options.classes.empty() &&
          std::find(options.classes.begin(), options.classes.end(), cc.opClass) == options.classes.end())
        continue;
      CalibrationSample sample;
      sample.backend = backend.name;
      sample.opClass = cc.opClass;
      sample.graph = cc.label;
      SY_ASSIGN_OR_RETURN(std::unique_ptr<Graph> parsed, parseGraph(cc.text));
      std::shared_ptr<const Graph> graph(std::move(parsed));
      const Node* opNode = graph->body()->nodes().front();
      auto caseEngine = Engine::create(caseConfig(engine, backend, cc.op));
      if (!caseEngine.ok()) return caseEngine.status().withContext("calibrate " + backend.name);
      SY_ASSIGN_OR_RETURN(std::vector<BackendCapability> caps, (*caseEngine)->capabilities(*graph));
      const BackendCapability& cap = caps.front();
      auto answer = cap.nodes.find(opNode);
      if (answer == cap.nodes.end() || !answer->second.supported) {
        sample.note = "declined: " + (answer == cap.nodes.end() ? std::string("not asked") : answer->second.reason);
        report.samples.push_back(std::move(sample));
        continue;
      }
      sample.estimated = answer->second.cost;
      auto model = (*caseEngine)->compile(graph);
      if (!model.ok()) return model.status().withContext("calibrate " + backend.name + ", " + cc.label);
      if ((*model)->plan().regions.size() != 1 || (*model)->plan().regions[0].backend != backend.name) {
        sample.note = "compile fell back: " + ((*model)->compileLog().empty() ? std::string("moved to another backend")
                                                                             : (*model)->compileLog().back());
        report.samples.push_back(std::move(sample));
        continue;
      }
      SY_ASSIGN_OR_RETURN(std::vector<Tensor> inputs, inputsFor(*graph));
      SY_ASSIGN_OR_RETURN(std::vector<Tensor> warm, (*model)->run(inputs));  // first-run work (plans, programs)
      std::vector<double> times;
      const auto start = std::chrono::steady_clock::now();
      for (;;) {
        const auto t0 = std::chrono::steady_clock::now();
        SY_ASSIGN_OR_RETURN(std::vector<Tensor> outs, (*model)->run(inputs));
        const auto t1 = std::chrono::steady_clock::now();
        times.push_back(std::chrono::duration<double>(t1 - t0).count());
        const double spent = std::chrono::duration<double>(t1 - start).count();
        if ((static_cast<int>(times.size()) >= options.minRuns && spent >= options.secondsPerCase) ||
            times.size() >= 1000)
          break;
      }
      std::nth_element(times.begin(), times.begin() + static_cast<long>(times.size() / 2), times.end());
      sample.measured = times[times.size() / 2];
      if (!(sample.estimated > 0)) {
        sample.note = "no estimate (cost 0): nothing to scale";
      } else {
        auto& [sum, count] = logSum[cc.opClass];
        sum += std::log(sample.measured / sample.estimated);
        ++count;
      }
      report.samples.push_back(std::move(sample));
    }
    for (const auto& [cls, sc] : logSum) entry.scale[cls] = std::exp(sc.first / sc.second);
    report.entries.push_back(std::move(entry));
  }
  return report;
}

std::string calibrationPathFor(const Config& config) {
  if (config.partition.calibration == "none") return "";
  if (!config.partition.calibration.empty()) return config.partition.calibration;
  return defaultCalibrationPath();
}

Status applyCalibrationCache(const Config& config, const std::vector<EngineBackend>& backends,
                             std::vector<BackendCapability>& caps) {
  const std::string path = calibrationPathFor(config);
  if (path.empty()) return Status::OK();
  CalibrationCache cache;
  SY_RETURN_IF_ERROR(cache.load(path));
  if (cache.entries().empty()) return Status::OK();
  for (size_t i = 0; i < backends.size() && i < caps.size(); ++i)
    if (const CalibrationEntry* e = cache.find(calibrationKeyOf(backends[i]))) applyCalibration(caps[i], *e);
  return Status::OK();
}

}  // namespace sy
