// The reference interpreter: runs any verified graph, control flow included,
// with the reference kernels of the op registry. It is the oracle every
// backend is compared with, and the fallback for what no backend takes.
//
// An Interpreter is immutable once created. run() keeps all per-run state in
// a frame local to the call, so one Interpreter may be run from any number of
// threads at once with no lock.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "switchyard/ir.h"
#include "switchyard/status.h"
#include "switchyard/tensor.h"

namespace sy {

class Interpreter {
 public:
  /// Verifies `graph` and prepares it for running. The graph must not be
  /// changed while the interpreter lives.
  static Result<std::shared_ptr<const Interpreter>> create(std::shared_ptr<const Graph> graph);
  /// Same, with a memory budget per run (Note [memory budget] in
  /// control_flow.h); 0 = defaultMemoryBudget().
  static Result<std::shared_ptr<const Interpreter>> create(std::shared_ptr<const Graph> graph, uint64_t memoryBudget);

  /// Runs the graph on `inputs` (in graph-input order). Checks every input's
  /// dtype, rank and dims against the declared types, binding symbolic dims
  /// (the same symbol must get the same size everywhere). Errors name the
  /// input or the node that failed. The inputs are never modified.
  Result<std::vector<Tensor>> run(const std::vector<Tensor>& inputs) const;
  /// Same, with inputs by name.
  Result<std::vector<Tensor>> run(const std::map<std::string, Tensor>& inputs) const;

  const Graph& graph() const { return *graph_; }
  ~Interpreter();

  struct Plan;  // internal

 private:
  Interpreter() = default;
  std::shared_ptr<const Graph> graph_;
  std::unique_ptr<Plan> plan_;
  uint64_t memoryBudget_ = 0;
};

/// Checks `inputs` against the graph's declared input types and returns the
/// bindings of symbolic dims (`N` -> 8). Shared by the interpreter and the runtime.
Result<std::map<std::string, int64_t>> bindInputs(const Graph& graph, const std::vector<Tensor>& inputs);

/// Checks a run-time value of `dtype` and `shape` against the declared type of
/// `v`: dtype, rank, static dims, and symbolic dims against `bindings` (a
/// symbol not yet bound is bound when `bind`). The message names the value and
/// both shapes. The reference interpreter checks every node's results with
/// it, the runtime every region's outputs, whatever the backend.
Status checkAgainstDeclaredType(const Value* v, DType dtype, const Shape& shape,
                                std::map<std::string, int64_t>& bindings, bool bind);

}  // namespace sy
