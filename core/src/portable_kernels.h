// The reference interpreter's bridge to the SDK's portable kernels
// (switchyard/kernels.hpp): every op the portable library implements runs
// through it, in the interpreter and in evalOp (constant folding, the ONNX
// importer's folding, the op tests). Note [one kernel library] in
// portable_kernels.cpp.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "switchyard/graph_view.h"
#include "switchyard/op_registry.h"
#include "switchyard/status.h"
#include "switchyard/tensor.h"

namespace sy::kernels {
class Kernel;
}

namespace sy {

/// The portable kernels of every node of one graph, made once (when the
/// interpreter is built) and immutable afterwards: run() may be called from
/// several threads at once.
class PortableKernels {
 public:
  explicit PortableKernels(const Graph& graph);
  ~PortableKernels();
  PortableKernels(const PortableKernels&) = delete;
  PortableKernels& operator=(const PortableKernels&) = delete;

  /// The kernel of `node`, or nullptr when the portable library declines it
  /// (then declined(node) says why) or the node is a constant, weight or
  /// control-flow node.
  const kernels::Kernel* kernelFor(const Node* node) const;
  /// True for the ops whose output is input 0 under another shape (reshape,
  /// flatten, squeeze, unsqueeze, identity): the interpreter takes only the
  /// shape from the kernel and shares the input's storage (no copy).
  static bool isView(std::string_view op);
  /// Why the portable library declined `node` ("" when it did not).
  std::string declined(const Node* node) const;

 private:
  std::unique_ptr<GraphView> view_;
  struct Entry;
  std::vector<Entry> entries_;
  std::unordered_map<const Node*, size_t> index_;
};

/// Runs one kernel on concrete tensors: output shapes from the kernel, outputs
/// allocated with `outputDtypes`, computed on the calling thread. Kernel errors
/// (sdk::Error) become a Status naming the node the kernel was made for.
/// With `view` (PortableKernels::isView), output 0 shares input 0's storage.
Result<std::vector<Tensor>> runPortableKernel(const kernels::Kernel& kernel, const std::vector<Tensor>& inputs,
                                              const std::vector<DType>& outputDtypes, bool view = false);

/// evalOp with the portable kernel of a one-node graph of `op`, or nullopt
/// (and `whyNot`) when the portable library declines this op, dtype or
/// attribute combination. `outTypes`: the inferred output types.
std::optional<Result<std::vector<Tensor>>> evalPortable(std::string_view op, const std::vector<Tensor>& inputs,
                                                        const AttrMap& attrs, const std::vector<Type>& outTypes,
                                                        std::string& whyNot);

}  // namespace sy
