// The models scope (examples/*.sy) and the onnx scope (the ONNX backend node
// tests): whole graphs run through the engine, the plugin first and the
// reference interpreter as the fallback, compared with the reference (models)
// or with the expected outputs shipped with the test (onnx). The engine scope
// (engine_cases.cpp) shares the engine and the decline summary.
#include <algorithm>
#include <filesystem>
#include <map>

#include "internal.h"
#include "switchyard/engine.h"
#include "switchyard/interpreter.h"
#include "switchyard/program.h"
#ifdef SY_HAVE_ONNX
#include "switchyard/onnx_import.h"
#endif

namespace sy::conformance {
namespace fs = std::filesystem;

Result<Engine*> engineFor(Target& t) {
  static std::unique_ptr<Engine> engine;
  static std::string error;
  if (engine) return engine.get();
  if (!error.empty()) return invalidArgument(error);
  Config cfg = defaultConfig();
  cfg.fallback = FallbackPolicy::Reference;
  // A region that fails at run time must show as an error, not be quietly
  // rerun on the reference.
  cfg.retryOnReference = false;
  BackendConfig bc;
  bc.name = t.name();
  if (!t.isReference()) {
    cfg.pluginPaths = {fs::path(t.path()).parent_path().string()};
    bc.device = std::to_string(t.device());
    for (const auto& [k, v] : t.backendOptions()) bc.options[k] = v;
  }
  cfg.backends = {bc};
  auto e = Engine::create(cfg);
  if (!e.ok()) {
    error = "cannot create the engine: " + e.status().message();
    return invalidArgument(error);
  }
  const auto& backends = (*e)->backends();
  const bool found = std::any_of(backends.begin(), backends.end(), [&](const EngineBackend& b) { return b.name == t.name(); });
  if (!found) {
    error = "the engine did not take backend '" + t.name() + "'";
    for (const std::string& w : (*e)->warnings()) error += "; " + w;
    return invalidArgument(error);
  }
  engine = std::move(*e);
  return engine.get();
}

bool isComputeNode(const Node& n) { return n.op() != "constant" && n.op() != "weight"; }

std::vector<DeclineGroup> declinedBy(const PartitionPlan& plan, const std::string& backend) {
  std::vector<DeclineGroup> out;
  for (const NodePlacement& p : plan.placements) {
    if (!isComputeNode(*p.node) || p.backend == backend) continue;
    // Its own reason when it declined the node; else why the node is
    // elsewhere (a compile that failed, a pin, a region given back).
    std::string reason = p.reason.empty() ? "(not asked)" : "runs on " + p.backend + ": " + p.reason;
    for (const auto& [b, why] : p.declined)
      if (b == backend) reason = why;
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const DeclineGroup& g) { return g.op == p.node->op() && g.reason == reason; });
    if (it == out.end()) out.push_back(DeclineGroup{p.node->op(), reason, 1});
    else ++it->nodes;
  }
  return out;
}

std::string declineSummary(const std::vector<DeclineGroup>& groups, size_t maxEntries) {
  std::string out;
  for (size_t i = 0; i < groups.size() && i < maxEntries; ++i) {
    const DeclineGroup& g = groups[i];
    out += (out.empty() ? "" : "; ") + g.op + (g.nodes > 1 ? " (x" + std::to_string(g.nodes) + ")" : "") + ": " +
           g.reason;
  }
  if (groups.size() > maxEntries) out += "; and " + std::to_string(groups.size() - maxEntries) + " more";
  return out;
}

namespace {

/// Runs `graph` through the engine; counts the nodes the plugin took.
struct EngineRun {
  Status status;
  std::vector<Tensor> outputs;
  size_t taken = 0, computeNodes = 0, regions = 0;
  std::vector<DeclineGroup> declined;  ///< the compute nodes it did not take, and its reasons
};

EngineRun runThroughEngine(Target& t, std::shared_ptr<const Graph> graph, const std::vector<Tensor>& inputs) {
  EngineRun out;
  auto engine = engineFor(t);
  if (!engine.ok()) {
    out.status = engine.status();
    return out;
  }
  auto model = (*engine)->compile(graph);
  if (!model.ok()) {
    out.status = model.status().withContext("engine compile");
    return out;
  }
  for (const NodePlacement& p : (*model)->plan().placements) {
    if (!isComputeNode(*p.node)) continue;
    ++out.computeNodes;
    if (p.backend == t.name()) ++out.taken;
  }
  for (const Region& r : (*model)->plan().regions)
    if (r.backend == t.name()) ++out.regions;
  out.declined = declinedBy((*model)->plan(), t.name());
  auto res = (*model)->run(inputs);
  if (!res.ok()) {
    out.status = res.status().withContext("engine run");
    return out;
  }
  out.outputs = std::move(*res);
  return out;
}

std::string tookNote(const Target& t, const EngineRun& run) {
  return t.name() + " took " + std::to_string(run.taken) + " of " + std::to_string(run.computeNodes) + " nodes in " +
         std::to_string(run.regions) + " region(s)";
}

/// The plugin's own reasons for the nodes it did not take, as the ops scope
/// shows them: "declined: relu: <reason>; ..." ("" when it took every node).
std::string declinedNote(const EngineRun& run) {
  return run.declined.empty() ? "" : "declined: " + declineSummary(run.declined);
}

/// "<plugin> took 2 of 3 nodes in 1 region(s); declined: ..."
std::string tookAndDeclinedNote(const Target& t, const EngineRun& run) {
  const std::string d = declinedNote(run);
  return tookNote(t, run) + (d.empty() ? "" : "; " + d);
}

/// The message of a case the plugin took nothing of: its reasons first.
std::string unsupportedNote(const Target& t, const EngineRun& run) {
  const std::string d = declinedNote(run);
  return d.empty() ? tookNote(t, run) : d + " (" + tookNote(t, run) + ")";
}

void runModel(const std::string& path, Target& t, CaseResult& r) {
  auto graph = loadProgram(path);
  if (!graph.ok()) {
    r.outcome = Outcome::Failed;
    r.message = "suite error: " + graph.status().message();
    return;
  }
  std::shared_ptr<const Graph> g(std::move(*graph));
  auto inputs = makeGraphInputs(*g, hashString(r.id));
  if (!inputs.ok()) {
    r.outcome = Outcome::Failed;
    r.message = "suite error: " + inputs.status().message();
    return;
  }
  auto expected = (*Interpreter::create(g))->run(*inputs);
  if (!expected.ok()) {
    r.outcome = Outcome::Failed;
    r.message = "suite error: the reference failed: " + expected.status().message();
    return;
  }
  EngineRun run = runThroughEngine(t, g, *inputs);
  if (!run.status.ok()) {
    r.outcome = Outcome::Failed;
    r.message = run.status.message();
    return;
  }
  std::vector<std::string> names;
  for (const Value* v : g->outputs()) names.push_back("%" + v->name());
  compareOutputs(run.outputs, *expected, names, r);
  const std::string note = tookAndDeclinedNote(t, run);
  if (r.outcome == Outcome::Passed && run.taken == 0 && !t.isReference()) {
    r.outcome = Outcome::Unsupported;
    r.message = unsupportedNote(t, run);
  } else {
    r.message = r.message.empty() ? note : r.message + " (" + note + ")";
  }
}

#ifdef SY_HAVE_ONNX
void runOnnxTest(const fs::path& dir, Target& t, CaseResult& r) {
  auto graph = importOnnxFile((dir / "model.onnx").string());
  if (!graph.ok()) {
    r.outcome = Outcome::Skipped;
    r.message = "the ONNX importer cannot read it: " + graph.status().message();
    return;
  }
  std::shared_ptr<const Graph> g(std::move(*graph));
  const fs::path data = dir / "test_data_set_0";
  std::vector<Tensor> inputs, expected;
  for (size_t k = 0;; ++k) {
    const fs::path p = data / ("input_" + std::to_string(k) + ".pb");
    if (!fs::exists(p)) break;
    auto tensor = readOnnxTensorFile(p.string());
    if (!tensor.ok()) {
      r.outcome = Outcome::Skipped;
      r.message = "cannot read " + p.filename().string() + ": " + tensor.status().message();
      return;
    }
    inputs.push_back(*tensor);
  }
  for (size_t k = 0;; ++k) {
    const fs::path p = data / ("output_" + std::to_string(k) + ".pb");
    if (!fs::exists(p)) break;
    auto tensor = readOnnxTensorFile(p.string());
    if (!tensor.ok()) {
      r.outcome = Outcome::Skipped;
      r.message = "cannot read " + p.filename().string() + ": " + tensor.status().message();
      return;
    }
    expected.push_back(*tensor);
  }
  if (inputs.size() != g->inputs().size()) {
    r.outcome = Outcome::Skipped;
    r.message = "the test has " + std::to_string(inputs.size()) + " inputs, the imported graph " +
                std::to_string(g->inputs().size());
    return;
  }
  EngineRun run = runThroughEngine(t, g, inputs);
  const std::string note = tookAndDeclinedNote(t, run);
  if (run.status.ok() && run.taken == 0 && !t.isReference()) {
    // As in the ops scope: the plugin's own reasons, node by node (grouped by op).
    r.outcome = Outcome::Unsupported;
    r.message = unsupportedNote(t, run);
    return;
  }
  // The ONNX test data comes from numpy: compare 10x more loosely than ops cases.
  constexpr double kScale = 10;
  if (run.status.ok()) compareOutputs(run.outputs, expected, {}, r, kScale);
  if (run.status.ok() && r.outcome == Outcome::Passed) {
    r.message = note;
    return;
  }
  // Not the plugin's fault when the reference alone gets it wrong too.
  CaseResult ref = r;
  auto interp = Interpreter::create(g);
  auto refOut = interp.ok() ? (*interp)->run(inputs) : Result<std::vector<Tensor>>(interp.status());
  if (!refOut.ok()) {
    r.outcome = Outcome::Skipped;
    r.message = "the reference cannot run it either: " + refOut.status().message();
    return;
  }
  compareOutputs(*refOut, expected, {}, ref, kScale);
  if (ref.outcome != Outcome::Passed) {
    r.outcome = Outcome::Skipped;
    r.message = "the reference disagrees with the expected output too: " + ref.message;
    r.hasWorst = false;
    return;
  }
  r.outcome = Outcome::Failed;
  r.message = (run.status.ok() ? r.message : run.status.message()) + " (" + note + ")";
}
#endif

}  // namespace

std::vector<Case> modelCases(const std::string& examplesDir) {
  std::vector<Case> out;
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(examplesDir, ec))
    if (e.path().extension() == ".sy") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& p : files) {
    Case k;
    k.info.id = "models." + p.stem().string();
    k.info.scope = "models";
    k.info.group = k.info.id;
    k.run = [path = p.string()](Target& t, CaseResult& r) { runModel(path, t, r); };
    out.push_back(std::move(k));
  }
  return out;
}

std::vector<Case> onnxCases(const std::string& nodeDir, std::string& skipReason) {
  std::vector<Case> out;
#ifndef SY_HAVE_ONNX
  (void)nodeDir;
  skipReason = "this build has no ONNX importer (configure with -DSY_BUILD_ONNX=ON and libonnx-dev)";
#else
  std::error_code ec;
  if (!fs::is_directory(nodeDir, ec)) {
    skipReason = "no ONNX node tests at " + nodeDir + " (Debian: libonnx-testdata)";
    return out;
  }
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(nodeDir, ec))
    if (fs::exists(e.path() / "model.onnx")) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  constexpr size_t kGroupSize = 48;
  for (size_t i = 0; i < dirs.size(); ++i) {
    Case k;
    k.info.id = "onnx." + dirs[i].filename().string();
    k.info.scope = "onnx";
    k.info.group = "onnx." + std::to_string(i / kGroupSize);
    k.run = [dir = dirs[i]](Target& t, CaseResult& r) { runOnnxTest(dir, t, r); };
    out.push_back(std::move(k));
  }
#endif
  return out;
}

}  // namespace sy::conformance
