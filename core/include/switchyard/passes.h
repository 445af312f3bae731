// Graph-to-graph passes. Each returns how many nodes it changed, and leaves a
// graph that still verifies.
#pragma once

#include <cstddef>
#include <cstdint>

#include "switchyard/ir.h"
#include "switchyard/status.h"

namespace sy {

struct FoldOptions {
  /// Results with more elements than this are not folded (they would bloat
  /// the program); their inputs stay as they are.
  int64_t maxElements = 1 << 16;
  /// Fold nodes whose inputs include weights (e.g. a transposed weight).
  bool foldWeights = true;
};

/// Evaluates, at compile time, every pure node whose inputs are all known
/// (constants or weights), and replaces it with a `constant`. Folds `if`
/// nodes with a constant condition by inlining the taken block. Returns the
/// number of nodes replaced.
Result<size_t> foldConstants(Graph& graph, const FoldOptions& options = {});

/// Removes nodes none of whose outputs are used (recursively, nested blocks
/// included). Returns the number of nodes removed.
Result<size_t> eliminateDeadCode(Graph& graph);

/// Merges pure nodes with the same op, inputs and attributes (and no blocks);
/// a node inside a nested block may reuse one from an enclosing block.
/// Returns the number of nodes merged away.
Result<size_t> eliminateCommonSubexpressions(Graph& graph);

/// Re-infers every node's output types from its inputs and merges them with
/// the declared types, refining unknown dims (and symbolic ones that turn out
/// to be numbers). Fails if inference contradicts a declared type. Returns
/// the number of values whose type changed.
Result<size_t> propagateShapes(Graph& graph);

/// propagateShapes, foldConstants, eliminateCommonSubexpressions, eliminateDeadCode.
Status runStandardPasses(Graph& graph);

}  // namespace sy
