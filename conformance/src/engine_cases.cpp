// The engine scope: each example model through the real partitioner and
// runtime with the plugin first, every region the plugin claimed held to its
// claim. See Note [Engine scope].
#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "internal.h"
#include "switchyard/engine.h"
#include "switchyard/interpreter.h"
#include "switchyard/npy.h"
#include "switchyard/program.h"
#ifdef SY_HAVE_ONNX
#include "switchyard/onnx_import.h"
#endif

// Note [Engine scope]
// ~~~~~~~~~~~~~~~~~~~
// The models scope runs a model through the engine and compares the outputs.
// A region whose compile fails on the plugin quietly moves to the reference
// interpreter there, so a plugin that claims nodes in the capability query and
// then cannot compile the regions the partitioner forms from them (a region of
// several nodes, a constant it did not expect) gets the right answer, takes
// "0 of 6 nodes", and is reported unsupported: nothing fails. That is exactly
// what an application sees as a slow run with a warning, and what the plugin's
// author never sees. The ops scope cannot catch it either: its regions are one
// op each, built by the suite rather than by the partitioner.
//
// So this scope keeps the engine (the same one: the plugin first, the
// reference as the fallback, priority placement) but judges the plugin by its
// claims: a region the plugin was given that falls back at compile fails the
// case with the plugin's error text, as does a region that fails at run time
// (retry on the reference is off) and outputs that differ from the reference
// interpreter's beyond the tolerance. A model the plugin takes nothing of is
// unsupported, with its decline reasons. The details of each case (nodes
// taken, regions, fallbacks) also go to the JSON report, for tools.
//
// Which regions the plugin was given is read from the compiled model's compile
// log ("region 2: compile on 'memdev' failed: ...; moved to 'reference'"):
// the plan it returns already shows where the regions ended up.

namespace sy::conformance {
namespace fs = std::filesystem;
namespace {

/// A region's compute nodes (nested ones included) and their distinct ops.
struct RegionNodes {
  size_t nodes = 0;
  std::vector<std::string> ops;
};

RegionNodes regionNodes(const Region& r) {
  RegionNodes out;
  auto count = [&](const Node* n) {
    if (!isComputeNode(*n)) return;
    ++out.nodes;
    if (std::find(out.ops.begin(), out.ops.end(), n->op()) == out.ops.end()) out.ops.push_back(n->op());
  };
  for (const Node* n : r.nodes) {
    count(n);
    for (const Block* b : n->blocks()) forEachNode(b, [&](Node* x) { count(x); });
  }
  return out;
}

/// One region the plugin was given and could not compile.
struct CompileFallback {
  int region = -1;
  std::string error;     ///< the plugin's error, as the engine logged it
  std::string movedTo;   ///< where the region runs now
  size_t nodes = 0;      ///< its compute nodes (nested ones included)
  std::vector<std::string> ops;  ///< their distinct ops, in order
};

/// Parses the engine's compile log lines about `backend`:
/// "region <id>: compile on '<backend>' failed: <error>[; moved to '<b>']".
std::vector<CompileFallback> compileFallbacks(const CompiledModel& model, const std::string& backend) {
  std::vector<CompileFallback> out;
  const std::string on = ": compile on '" + backend + "' failed: ";
  for (const std::string& line : model.compileLog()) {
    if (line.rfind("region ", 0) != 0) continue;
    const size_t colon = line.find(on);
    if (colon == std::string::npos) continue;
    CompileFallback f;
    try {
      f.region = std::stoi(line.substr(7, colon - 7));
    } catch (const std::exception&) {
      continue;
    }
    f.error = line.substr(colon + on.size());
    const size_t moved = f.error.rfind("; moved to '");
    if (moved != std::string::npos && f.error.back() == '\'') f.error.resize(moved);
    const auto& regions = model.plan().regions;
    if (f.region >= 0 && static_cast<size_t>(f.region) < regions.size()) {
      const Region& r = regions[static_cast<size_t>(f.region)];
      f.movedTo = r.backend;
      RegionNodes rn = regionNodes(r);
      f.nodes = rn.nodes;
      f.ops = std::move(rn.ops);
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::string joined(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

/// The model's inputs: input_<name>.npy next to an ONNX model when every
/// input has one (real data: control flow may depend on it), else the suite's
/// deterministic inputs.
Result<std::vector<Tensor>> modelInputs(const Graph& g, const fs::path& dataDir, uint64_t seed) {
  if (!dataDir.empty()) {
    std::vector<Tensor> inputs;
    for (const Value* v : g.inputs()) {
      const fs::path p = dataDir / ("input_" + v->name() + ".npy");
      if (!fs::exists(p)) break;
      SY_ASSIGN_OR_RETURN(Tensor t, readNpyFile(p.string()));
      inputs.push_back(std::move(t));
    }
    if (inputs.size() == g.inputs().size()) return inputs;
  }
  return makeGraphInputs(g, seed);
}

struct ModelFile {
  std::string path;
  bool onnx = false;
};

Result<std::shared_ptr<const Graph>> loadModel(const ModelFile& m) {
  if (!m.onnx) {
    SY_ASSIGN_OR_RETURN(auto g, loadProgram(m.path));
    return std::shared_ptr<const Graph>(std::move(g));
  }
#ifdef SY_HAVE_ONNX
  SY_ASSIGN_OR_RETURN(auto g, importOnnxFile(m.path));
  return std::shared_ptr<const Graph>(std::move(g));
#else
  return invalidArgument("this build has no ONNX importer");
#endif
}

void runEngineCase(const ModelFile& m, Target& t, CaseResult& r) {
  auto graph = loadModel(m);
  if (!graph.ok()) {
    r.outcome = Outcome::Failed;
    r.message = "suite error: " + graph.status().message();
    return;
  }
  const std::shared_ptr<const Graph> g = *graph;
  auto inputs = modelInputs(*g, m.onnx ? fs::path(m.path).parent_path() : fs::path(), hashString(r.id));
  if (!inputs.ok()) {
    r.outcome = Outcome::Failed;
    r.message = "suite error: " + inputs.status().message();
    return;
  }
  auto interp = Interpreter::create(g);
  auto expected = interp.ok() ? (*interp)->run(*inputs) : Result<std::vector<Tensor>>(interp.status());
  if (!expected.ok()) {
    r.outcome = Outcome::Failed;
    r.message = "suite error: the reference failed: " + expected.status().message();
    return;
  }
  auto engine = engineFor(t);
  if (!engine.ok()) {
    r.outcome = Outcome::Failed;
    r.message = engine.status().message();
    return;
  }
  auto model = (*engine)->compile(g);
  if (!model.ok()) {
    // Not even the reference could take over: the compile failed as a whole.
    r.outcome = Outcome::Failed;
    r.message = "engine compile: " + model.status().message();
    return;
  }
  const CompiledModel& cm = **model;
  const std::string name = t.name();

  // What the plugin holds after compile.
  size_t computeNodes = 0, taken = 0, regions = 0;
  for (const NodePlacement& p : cm.plan().placements) {
    if (!isComputeNode(*p.node)) continue;
    ++computeNodes;
    if (p.backend == name) ++taken;
  }
  nlohmann::json regionsTaken = nlohmann::json::array();
  for (const Region& region : cm.plan().regions) {
    if (region.backend != name) continue;
    ++regions;
    const RegionNodes rn = regionNodes(region);
    regionsTaken.push_back({{"region", region.id}, {"nodes", rn.nodes}, {"ops", rn.ops}});
  }
  const std::vector<CompileFallback> fallbacks = t.isReference() ? std::vector<CompileFallback>{}
                                                                 : compileFallbacks(cm, name);
  const std::vector<DeclineGroup> declined = declinedBy(cm.plan(), name);

  auto res = cm.run(*inputs);
  std::string executeError = res.ok() ? "" : res.status().message();

  nlohmann::json d = {{"compute_nodes", computeNodes},
                      {"taken", taken},
                      {"regions", regions},
                      {"regions_taken", std::move(regionsTaken)},
                      {"claimed_regions", regions + fallbacks.size()},
                      {"compile_fallbacks", nlohmann::json::array()},
                      {"declined", nlohmann::json::array()}};
  for (const CompileFallback& f : fallbacks)
    d["compile_fallbacks"].push_back(
        {{"region", f.region}, {"nodes", f.nodes}, {"ops", f.ops}, {"error", f.error}, {"moved_to", f.movedTo}});
  for (const DeclineGroup& dg : declined)
    d["declined"].push_back({{"op", dg.op}, {"nodes", dg.nodes}, {"reason", dg.reason}});
  if (!executeError.empty()) d["execute_error"] = executeError;

  const std::string took = name + " took " + std::to_string(taken) + " of " + std::to_string(computeNodes) +
                           " compute nodes in " + std::to_string(regions) + " region(s)";
  std::vector<std::string> problems;
  if (!fallbacks.empty()) {
    // The first few in the message; every one in the JSON report's details.
    constexpr size_t kShown = 4;
    std::vector<std::string> each;
    for (const CompileFallback& f : fallbacks)
      if (each.size() < kShown)
        each.push_back("region " + std::to_string(f.region) + " (" + std::to_string(f.nodes) + " node(s): " +
                     joined(f.ops, ", ") + ") -> " + (f.movedTo.empty() ? "?" : f.movedTo) + ": " + f.error);
    problems.push_back(std::to_string(fallbacks.size()) + " region(s) " + name +
                       " claimed fell back at compile: " + joined(each, "; ") +
                       (fallbacks.size() > kShown ? "; and " + std::to_string(fallbacks.size() - kShown) + " more" : ""));
  }
  if (!executeError.empty()) problems.push_back("execute failed: " + executeError);
  if (res.ok()) {
    std::vector<std::string> names;
    for (const Value* v : g->outputs()) names.push_back("%" + v->name());
    compareOutputs(*res, *expected, names, r);
    if (r.outcome != Outcome::Passed) problems.push_back(r.message);
    d["outputs_match"] = r.outcome == Outcome::Passed;
  }
  r.details = d.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);

  if (!problems.empty()) {
    r.outcome = Outcome::Failed;
    r.message = joined(problems, "; ") + " (" + took + ")";
    return;
  }
  if (taken == 0 && !t.isReference()) {
    r.outcome = Outcome::Unsupported;
    r.message = declined.empty() ? took : "declined: " + declineSummary(declined) + " (" + took + ")";
    return;
  }
  r.outcome = Outcome::Passed;
  r.message = took + (declined.empty() ? "" : "; declined: " + declineSummary(declined));
}

}  // namespace

std::vector<Case> engineCases(const std::string& examplesDir, std::vector<std::string>& notes) {
  std::vector<std::pair<std::string, ModelFile>> models;  // case id, file
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(examplesDir, ec))
    if (e.path().extension() == ".sy") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& p : files) models.push_back({"engine." + p.stem().string(), ModelFile{p.string(), false}});

  std::vector<fs::path> onnxDirs;
  for (const auto& e : fs::directory_iterator(fs::path(examplesDir) / "models", ec))
    if (fs::exists(e.path() / "model.onnx")) onnxDirs.push_back(e.path());
  std::sort(onnxDirs.begin(), onnxDirs.end());
#ifdef SY_HAVE_ONNX
  for (const fs::path& d : onnxDirs)
    models.push_back({"engine." + d.filename().string() + ".onnx", ModelFile{(d / "model.onnx").string(), true}});
#else
  if (!onnxDirs.empty())
    notes.push_back("engine: the " + std::to_string(onnxDirs.size()) +
                    " ONNX example models are not run: this build has no ONNX importer");
#endif
  if (models.empty()) notes.push_back("engine: skipped: no models in '" + examplesDir + "' (--examples DIR)");

  std::vector<Case> out;
  for (auto& [id, file] : models) {
    Case k;
    k.info.id = id;
    k.info.scope = "engine";
    k.info.group = id;
    k.run = [file = file](Target& t, CaseResult& r) { runEngineCase(file, t, r); };
    out.push_back(std::move(k));
  }
  return out;
}

}  // namespace sy::conformance
