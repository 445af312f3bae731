#include "portable_kernels.h"

#include <new>
#include <switchyard/kernels.hpp>

#include "switchyard/builder.h"

namespace sy {

// Note [one kernel library]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// Each op's semantics are written once, in the SDK's portable kernels
// (sdk/kernels/, Switchyard::kernels). The reference interpreter makes the
// kernel of every node once, when it is built, from the same ABI view of the
// graph a plugin gets (GraphView), and runs it on the calling thread
// (SerialExec). evalOp (constant folding, the ONNX importer, the op tests)
// makes the kernel of a one-node graph whose inputs are constants. The core
// keeps its own kernel (OpSchema::kernel) only for `constant`, which is not a
// kernel of the library; every other op's core kernel was removed once the
// library implemented every dtype and attribute its schema accepts (a
// combination the library declines is an `unimplemented` error naming the
// reason, from makeKernel's whyNot). Since the cpu plugin's generic
// path is the same library, cpu-vs-reference conformance no longer checks it
// independently: the ONNX node tests (expected outputs from the onnx package)
// and the examples' expected outputs from PyTorch do.

struct PortableKernels::Entry {
  std::unique_ptr<kernels::Kernel> kernel;
  std::string whyNot;
};

PortableKernels::PortableKernels(const Graph& graph) : view_(std::make_unique<GraphView>(graph)) {
  const sdk::GraphView sv(view_->view());
  entries_.resize(view_->numNodes());
  for (size_t i = 0; i < view_->numNodes(); ++i) {
    const Node* n = view_->nodeAt(i);
    const std::string& op = n->op();
    if (op == "constant" || op == "weight" || op == "if" || op == "loop") continue;
    index_.emplace(n, i);
    Entry& e = entries_[i];
    try {
      e.kernel = kernels::makeKernel(sv.node(i), e.whyNot);
    } catch (const std::exception& ex) {
      // A node the portable library finds malformed: the core kernel runs it
      // and reports the error in its words when it runs.
      e.kernel.reset();
      e.whyNot = ex.what();
    }
  }
}

PortableKernels::~PortableKernels() = default;

const kernels::Kernel* PortableKernels::kernelFor(const Node* node) const {
  auto it = index_.find(node);
  return it == index_.end() ? nullptr : entries_[it->second].kernel.get();
}

std::string PortableKernels::declined(const Node* node) const {
  auto it = index_.find(node);
  return it == index_.end() ? std::string() : entries_[it->second].whyNot;
}

namespace {

Status fromKernelError(const sdk::Error& e) {
  switch (e.code()) {
    case SY_ERROR_INVALID_ARGUMENT: return invalidArgument(e.what());
    case SY_ERROR_UNIMPLEMENTED: return unimplemented(e.what());
    case SY_ERROR_OUT_OF_MEMORY: return resourceExhausted(e.what());
    default: return internalError(e.what());
  }
}

}  // namespace

bool PortableKernels::isView(std::string_view op) {
  return op == "reshape" || op == "flatten" || op == "squeeze" || op == "unsqueeze" || op == "identity";
}

Result<std::vector<Tensor>> runPortableKernel(const kernels::Kernel& kernel, const std::vector<Tensor>& inputs,
                                              const std::vector<DType>& outputDtypes, bool view) {
  try {
    std::vector<kernels::Tensor> in(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Tensor& t = inputs[i];
      if (!t.valid()) continue;  // an absent optional input
      in[i].data = t.mutableData();
      in[i].dtype = toAbiDType(t.dtype());
      in[i].dims = kernels::Dims::of(t.shape());
    }
    std::vector<kernels::Dims> dims(outputDtypes.size());
    kernel.outputShapes(in.data(), in.size(), dims.data(), dims.size());
    std::vector<Tensor> outs;
    if (view && !inputs.empty() && inputs[0].valid() && outputDtypes.size() == 1 &&
        outputDtypes[0] == inputs[0].dtype()) {
      SY_ASSIGN_OR_RETURN(Tensor t, inputs[0].reshaped(Shape(dims[0].d, dims[0].d + dims[0].rank)));
      outs.push_back(std::move(t));
      return outs;
    }
    outs.reserve(outputDtypes.size());
    std::vector<kernels::Tensor> out(outputDtypes.size());
    for (size_t i = 0; i < outputDtypes.size(); ++i) {
      SY_ASSIGN_OR_RETURN(Tensor t,
                          Tensor::allocate(outputDtypes[i], Shape(dims[i].d, dims[i].d + dims[i].rank)));
      out[i].data = t.mutableData();
      out[i].dtype = toAbiDType(t.dtype());
      out[i].dims = dims[i];
      outs.push_back(std::move(t));
    }
    static const kernels::SerialExec serial;
    kernel.run(in.data(), in.size(), out.data(), out.size(), serial);
    return outs;
  } catch (const sdk::Error& e) {
    return fromKernelError(e);
  }
}

std::optional<Result<std::vector<Tensor>>> evalPortable(std::string_view op, const std::vector<Tensor>& inputs,
                                                        const AttrMap& attrs, const std::vector<Type>& outTypes,
                                                        std::string& whyNot) {
  if (op == "constant" || op == "weight") {
    whyNot = std::string(op) + ": not a kernel";
    return std::nullopt;
  }
  // A one-node graph whose inputs are constants (so that a kernel may read
  // them when it is made, as it would a model's constants).
  GraphBuilder b("eval");
  std::vector<Value*> ins;
  ins.reserve(inputs.size());
  for (const Tensor& t : inputs) ins.push_back(b.constant(t));
  std::vector<Value*> outs = b.ops(op, ins, attrs, outTypes.size());
  if (!b.status().ok()) {
    whyNot = b.status().message();
    return std::nullopt;
  }
  const Graph& g = b.graph();
  const Node* node = outs.empty() ? nullptr : outs[0]->definingNode();
  if (node == nullptr) {
    whyNot = std::string(op) + ": no outputs";
    return std::nullopt;
  }
  // The graph's node types come from inference on the constants: they are
  // outTypes (the caller's inference on the same tensors).
  const PortableKernels table(g);
  const kernels::Kernel* k = table.kernelFor(node);
  if (k == nullptr) {
    whyNot = table.declined(node);
    return std::nullopt;
  }
  std::vector<DType> dtypes;
  dtypes.reserve(outTypes.size());
  for (const Type& t : outTypes) dtypes.push_back(t.dtype());
  return runPortableKernel(*k, inputs, dtypes, PortableKernels::isView(op));
}

}  // namespace sy
