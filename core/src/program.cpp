#include "switchyard/program.h"
#include "switchyard/file_io.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "switchyard/op_registry.h"
#include "switchyard/safetensors.h"
#include "switchyard/text.h"
#include "switchyard/verifier.h"

namespace sy {

std::string weightsPathFor(const std::string& programPath) {
  const size_t slash = programPath.find_last_of('/');
  const size_t dot = programPath.find_last_of('.');
  const std::string stem =
      (dot != std::string::npos && (slash == std::string::npos || dot > slash)) ? programPath.substr(0, dot) : programPath;
  return stem + ".safetensors";
}

namespace {

Result<std::string> readFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return notFound(path, ": ", std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return invalidArgument(path, ": is a directory, expected a .sy file");
  if (st.st_size > (int64_t{1} << 31)) return invalidArgument(path, ": a program text of ", st.st_size, " bytes is too large");
  return readRegularFile(path, uint64_t{1} << 31, "program");
}

bool hasWeightNodes(const Graph& g) {
  bool any = false;
  forEachNode(g.body(), [&](Node* n) { any = any || n->op() == "weight"; });
  return any;
}

Status attachWeights(Graph& g, const std::string& weightsPath) {
  SY_ASSIGN_OR_RETURN(WeightSet ws, loadSafetensors(weightsPath));
  Status st;
  forEachNode(g.body(), [&](Node* n) {
    if (!st.ok() || n->op() != "weight") return;
    const Attribute* a = n->attr("name");
    const std::string* name = a ? std::get_if<std::string>(a) : nullptr;
    if (!name) {
      st = invalidArgument(n->describe(), ": needs a string attribute 'name'");
      return;
    }
    auto it = ws.tensors.find(*name);
    if (it == ws.tensors.end()) {
      st = notFound(n->describe(), ": weight \"", *name, "\" is not in ", weightsPath);
      return;
    }
    if (!typesCompatible(n->output(0)->type(), typeOf(it->second)))
      st = invalidArgument(n->describe(), ": weight \"", *name, "\" in ", weightsPath, " is ",
                           it->second.typeString(), " but the program declares ", n->output(0)->type().toString());
  });
  SY_RETURN_IF_ERROR(st);
  g.setWeights(std::move(ws.tensors));
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<Graph>> loadProgramFromText(std::string_view text, const std::string& origin,
                                                   const std::string& weightsPath) {
  SY_ASSIGN_OR_RETURN(std::unique_ptr<Graph> g, parseGraph(text, origin));
  if (hasWeightNodes(*g)) {
    if (weightsPath.empty()) return invalidArgument(origin, ": the program uses weights but no weights file was given");
    // Weight errors name the weights file (and the weight); add the program.
    SY_RETURN_IF_ERROR(attachWeights(*g, weightsPath).withContext(origin));
  }
  SY_RETURN_IF_ERROR(verify(*g).withContext(origin));
  return g;
}

Result<std::unique_ptr<Graph>> loadProgram(const std::string& path) {
  SY_ASSIGN_OR_RETURN(std::string text, readFile(path));
  return loadProgramFromText(text, path, weightsPathFor(path));
}

Status saveProgram(const Graph& graph, const std::string& path) {
  const std::string text = printGraph(graph);
  if (!graph.weights().empty()) {
    WeightSet ws;
    ws.tensors = graph.weights();
    SY_RETURN_IF_ERROR(saveSafetensors(weightsPathFor(path), ws));
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return invalidArgument(path, ": cannot write: ", std::strerror(errno));
    out << text;
    if (!out.flush()) return invalidArgument(path, ": write failed: ", std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return invalidArgument(path, ": cannot rename into place: ", std::strerror(errno));
  }
  return Status::OK();
}

}  // namespace sy
