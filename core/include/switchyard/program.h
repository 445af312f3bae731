// Programs on disk: `name.sy` (text IR) next to `name.safetensors` (weights).
#pragma once

#include <memory>
#include <string>

#include "switchyard/ir.h"
#include "switchyard/status.h"

namespace sy {

/// Reads `path` (a .sy file), attaches the weights from the .safetensors file
/// beside it (same stem) when the program has `weight` nodes, and verifies.
/// Weights are memory-mapped; every weight node must find its tensor, with the
/// declared dtype and shape.
Result<std::unique_ptr<Graph>> loadProgram(const std::string& path);

/// Parses and verifies text; `weightsPath` (optional) is a safetensors file.
Result<std::unique_ptr<Graph>> loadProgramFromText(std::string_view text, const std::string& origin,
                                                   const std::string& weightsPath = {});

/// Writes `path` (.sy) and, when the graph has weights, the .safetensors beside it.
Status saveProgram(const Graph& graph, const std::string& path);

/// `dir/stem.sy` -> `dir/stem.safetensors`.
std::string weightsPathFor(const std::string& programPath);

}  // namespace sy
