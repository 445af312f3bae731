// The region executor (switchyard/region_executor.hpp): compile turns the
// region into a list of steps, one kernel per node, plus where each value
// comes from; execute runs the steps on per-call storage.
#include <switchyard/region_executor.hpp>

#include <algorithm>
#include <cstring>
#include <new>

namespace sy::kernels {

namespace {

/// Host memory for one value during one execute, 64-byte aligned.
struct AlignedFree {
  void operator()(void* p) const { ::operator delete(p, std::align_val_t(64)); }
};
using Storage = std::unique_ptr<void, AlignedFree>;

Storage allocateStorage(size_t bytes) {
  return Storage(::operator new(std::max<size_t>(bytes, 1), std::align_val_t(64)));
}

/// Bytes of a dense tensor of `dtype` and `dims` (no message unless it fails).
size_t bytesOf(int32_t dtype, const Dims& dims) {
  const size_t size = sdk::dtypeSize(dtype);
  if (size == 0) sdk::fail(SY_ERROR_INVALID_ARGUMENT, "unknown dtype ", dtype);
  return sdk::tensorBytes(dtype, dims.ref());
}

/// Throws `code` with `message`, the node's description in front unless the
/// message already starts with it (the portable kernels name their node).
[[noreturn]] void failAt(int32_t code, const std::string& describe, std::string_view message) {
  if (message.substr(0, describe.size()) == describe) sdk::fail(code, message);
  sdk::fail(code, describe, ": ", message);
}

bool isControlFlow(const sdk::NodeView& node) {
  return node.numBlocks() > 0 || node.op() == "if" || node.op() == "loop";
}

bool isConstantNode(const sdk::NodeView& node) { return node.op() == "constant" || node.op() == "weight"; }

/// Why a `constant`/`weight` node cannot be taken, or "".
std::string constantWhyNot(const sdk::NodeView& node) {
  if (node.numOutputs() != 1 || node.numInputs() != 0) return "unexpected inputs or outputs";
  const sdk::ValueView out = node.output(0);
  if (!out.isStatic()) return sdk::format(node.op(), " of non-static type ", out.typeString());
  if (out.isConstant() || out.numElements() == 0) return "";
  if (node.op() == "weight") return "the weight's data was not given at compile time";
  const std::optional<sdk::AttrView> value = node.findAttr("value");
  if (!value || value->kind() != SY_ATTR_TENSOR) return "constant without a tensor 'value'";
  return "";
}

}  // namespace

// ============================================================================
// Compile

struct RegionExecutor::Step {
  std::unique_ptr<Kernel> kernel;
  bool fast = false;
  std::vector<int32_t> inputs;     // value per input, -1 for an absent optional input
  std::vector<int32_t> outputs;    // value per output
  std::vector<int32_t> outDtypes;  // sy_dtype per output
  std::vector<int32_t> returnSlot; // per output: the region output it is written into, or -1
  std::vector<int32_t> dead;       // values whose storage is no longer read after this step
  std::string describe;
};

struct RegionExecutor::Compiled {
  struct Constant {
    int32_t value;
    const void* data;
    Dims dims;
    int32_t dtype;
  };
  size_t numValues = 0;
  std::vector<int32_t> params, returns;
  std::vector<Constant> constants;
  std::vector<Storage> literals;  // `constant` nodes' value attributes, copied (the view is gone after compile)
  std::vector<Step> steps;
  SerialExec serial;
  const Exec* exec = nullptr;
};

RegionExecutor::RegionExecutor(const sdk::GraphView& region, const KernelHook& fast, const Exec* exec) {
  auto c = std::make_unique<Compiled>();
  c->numValues = region.numValues();
  c->exec = exec != nullptr ? exec : &c->serial;
  const sdk::BlockView body = region.body();
  // Where each value comes from: known once a param, constant or earlier step made it.
  std::vector<bool> known(c->numValues, false);
  for (size_t i = 0; i < body.numParams(); ++i) {
    c->params.push_back(body.param(i).index());
    known[static_cast<size_t>(c->params.back())] = true;
  }
  // A value read before anything made it must be a constant (the host sends
  // weights and folded literals as values with constant_data).
  auto use = [&](const sdk::ValueView& v, const std::string& where) {
    const size_t id = static_cast<size_t>(v.index());
    if (known[id]) return;
    if (!v.isConstant()) {
      sdk::fail(SY_ERROR_INVALID_ARGUMENT, where, ": value '", v.name(), "' is used before it is computed");
    }
    if (!v.isStatic()) {
      sdk::fail(SY_ERROR_INVALID_ARGUMENT, where, ": constant '", v.name(), "' has the non-static type ",
                v.typeString());
    }
    const Dims dims = Dims::of(v.dims());
    if (v.constantBytes() != bytesOf(v.dtype(), dims)) {
      sdk::fail(SY_ERROR_INVALID_ARGUMENT, where, ": constant '", v.name(), "' has ", v.constantBytes(),
                " bytes for ", v.typeString());
    }
    c->constants.push_back({v.index(), v.constantData(), dims, v.dtype()});
    known[id] = true;
  };

  std::vector<size_t> lastUse(c->numValues, 0);
  for (size_t p = 0; p < body.numNodes(); ++p) {
    const sdk::NodeView node = body.node(p);
    const std::string describe = node.describe();
    if (isControlFlow(node)) {
      sdk::fail(SY_ERROR_UNIMPLEMENTED, describe, ": control flow runs on the host, not in a region executor");
    }
    if (isConstantNode(node)) {
      const std::string why = constantWhyNot(node);
      if (!why.empty()) sdk::fail(SY_ERROR_INVALID_ARGUMENT, describe, ": ", why);
      const sdk::ValueView out = node.output(0);
      Compiled::Constant k{out.index(), out.constantData(), Dims::of(out.dims()), out.dtype()};
      const size_t bytes = bytesOf(k.dtype, k.dims);
      if (k.data == nullptr && bytes > 0) {
        const sy_tensor_literal& t = node.findAttr("value")->asTensor();
        if (t.dtype != k.dtype || t.bytes != bytes || t.data == nullptr) {
          sdk::fail(SY_ERROR_INVALID_ARGUMENT, describe, ": the 'value' literal does not match ", out.typeString());
        }
        c->literals.push_back(allocateStorage(bytes));
        std::memcpy(c->literals.back().get(), t.data, bytes);
        k.data = c->literals.back().get();
      }
      c->constants.push_back(k);
      known[static_cast<size_t>(k.value)] = true;
      continue;
    }
    Step step;
    step.describe = describe;
    std::string why;
    try {
      if (fast) step.kernel = fast(node, why);
      step.fast = step.kernel != nullptr;
      if (!step.kernel) {
        why.clear();
        step.kernel = makeKernel(node, why);
      }
    } catch (const sdk::Error& e) {
      failAt(e.code(), describe, e.what());  // a malformed node
    }
    if (!step.kernel) {
      failAt(SY_ERROR_UNIMPLEMENTED, describe, why.empty() ? sdk::format("op '", node.op(), "' has no kernel") : why);
    }
    for (size_t i = 0; i < node.numInputs(); ++i) {
      if (!node.hasInput(i)) {
        step.inputs.push_back(-1);
        continue;
      }
      const sdk::ValueView v = node.input(i);
      use(v, describe);
      step.inputs.push_back(v.index());
      lastUse[static_cast<size_t>(v.index())] = c->steps.size();
    }
    for (size_t o = 0; o < node.numOutputs(); ++o) {
      const sdk::ValueView v = node.output(o);
      if (known[static_cast<size_t>(v.index())]) {
        sdk::fail(SY_ERROR_INVALID_ARGUMENT, describe, ": value '", v.name(), "' is defined twice");
      }
      known[static_cast<size_t>(v.index())] = true;
      step.outputs.push_back(v.index());
      step.outDtypes.push_back(v.dtype());
      step.returnSlot.push_back(-1);
      lastUse[static_cast<size_t>(v.index())] = c->steps.size();  // an unread output dies at once
    }
    c->steps.push_back(std::move(step));
  }

  // Region outputs: a step's output returned is written into the host's
  // buffer (the first time it is returned); everything else is copied.
  std::vector<bool> isReturn(c->numValues, false);
  for (size_t r = 0; r < body.numReturns(); ++r) {
    const sdk::ValueView v = body.returnValue(r);
    use(v, "region output");
    c->returns.push_back(v.index());
    if (isReturn[static_cast<size_t>(v.index())]) continue;
    isReturn[static_cast<size_t>(v.index())] = true;
    for (Step& s : c->steps) {
      for (size_t o = 0; o < s.outputs.size(); ++o) {
        if (s.outputs[o] == v.index()) s.returnSlot[o] = static_cast<int32_t>(r);
      }
    }
  }
  // Storage a step made, read for the last time by step s, is freed after s.
  for (size_t s = 0; s < c->steps.size(); ++s) {
    for (int32_t v : c->steps[s].outputs) {
      if (!isReturn[static_cast<size_t>(v)]) c->steps[lastUse[static_cast<size_t>(v)]].dead.push_back(v);
    }
  }
  compiled_ = std::move(c);
}

RegionExecutor::~RegionExecutor() = default;

size_t RegionExecutor::numInputs() const { return compiled_->params.size(); }
size_t RegionExecutor::numOutputs() const { return compiled_->returns.size(); }

size_t RegionExecutor::numFastKernels() const {
  return static_cast<size_t>(
      std::count_if(compiled_->steps.begin(), compiled_->steps.end(), [](const Step& s) { return s.fast; }));
}

size_t RegionExecutor::numPortableKernels() const { return compiled_->steps.size() - numFastKernels(); }

// ============================================================================
// Execute

void RegionExecutor::execute(sdk::Backend& backend, const std::vector<sdk::InputTensor>& inputs,
                             std::vector<sdk::OutputTensor>& outputs) const {
  const Compiled& c = *compiled_;
  if (inputs.size() != c.params.size() || outputs.size() != c.returns.size()) {
    sdk::fail(SY_ERROR_INVALID_ARGUMENT, "the region takes ", c.params.size(), " inputs and gives ", c.returns.size(),
              " outputs, got ", inputs.size(), " and ", outputs.size());
  }
  // Everything below is local to this call: several threads may run one executor.
  std::vector<Tensor> values(c.numValues);
  std::vector<Storage> storage(c.numValues);
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor& t = values[static_cast<size_t>(c.params[i])];
    t.data = const_cast<void*>(inputs[i].hostData());  // kernels never write their inputs
    t.dtype = inputs[i].dtype();
    t.dims = Dims::of(inputs[i].dims());
  }
  for (const Compiled::Constant& k : c.constants) {
    values[static_cast<size_t>(k.value)] = Tensor{const_cast<void*>(k.data), k.dtype, k.dims};
  }

  std::vector<Tensor> in, out;
  std::vector<Dims> dims;
  for (const Step& step : c.steps) {
    try {
      in.assign(step.inputs.size(), Tensor{});  // an absent optional input stays {nullptr, -1, []}
      for (size_t i = 0; i < step.inputs.size(); ++i) {
        if (step.inputs[i] >= 0) in[i] = values[static_cast<size_t>(step.inputs[i])];
      }
      dims.assign(step.outputs.size(), Dims{});
      step.kernel->outputShapes(in.data(), in.size(), dims.data(), dims.size());
      out.assign(step.outputs.size(), Tensor{});
      for (size_t o = 0; o < step.outputs.size(); ++o) {
        const size_t v = static_cast<size_t>(step.outputs[o]);
        const size_t bytes = bytesOf(step.outDtypes[o], dims[o]);
        Tensor& t = values[v];
        t.dtype = step.outDtypes[o];
        t.dims = dims[o];
        if (step.returnSlot[o] >= 0) {
          sdk::OutputTensor& result = outputs[static_cast<size_t>(step.returnSlot[o])];
          result.allocate(backend, t.dtype, t.dims.ref());
          t.data = bytes > 0 ? result.hostData() : nullptr;
        } else {
          storage[v] = allocateStorage(bytes);
          t.data = storage[v].get();
        }
        out[o] = t;
      }
      step.kernel->run(in.data(), in.size(), out.data(), out.size(), *c.exec);
    } catch (const sdk::Error& e) {
      failAt(e.code(), step.describe, e.what());
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {
      failAt(SY_ERROR_INTERNAL, step.describe, e.what());
    }
    for (int32_t v : step.dead) storage[static_cast<size_t>(v)].reset();
  }

  for (size_t r = 0; r < c.returns.size(); ++r) {
    if (outputs[r].isSet()) continue;  // written in place by its step
    // An input, a constant, or a value returned twice: copy.
    const Tensor& t = values[static_cast<size_t>(c.returns[r])];
    outputs[r].allocate(backend, t.dtype, t.dims.ref());
    const size_t bytes = bytesOf(t.dtype, t.dims);
    if (bytes > 0) std::memcpy(outputs[r].hostData(), t.data, bytes);
  }
}

// ============================================================================
// Capability

std::string RegionExecutor::whyNot(const sdk::NodeView& node, const KernelHook& fast) {
  if (isControlFlow(node)) {
    return sdk::format("control flow ('", node.op(), "') runs on the host; this backend takes its blocks' nodes instead");
  }
  if (isConstantNode(node)) return constantWhyNot(node);
  std::string why;
  try {
    if (fast && fast(node, why) != nullptr) return "";
    why.clear();
    if (makeKernel(node, why) != nullptr) return "";
  } catch (const sdk::Error& e) {
    return e.what();
  }
  return why.empty() ? sdk::format("op '", node.op(), "' has no kernel") : why;
}

sdk::NodeSupport RegionExecutor::supports(const sdk::NodeView& node, const KernelHook& fast, double scale) {
  if (isControlFlow(node)) return sdk::NodeSupport::no(whyNot(node, fast));
  bool isFast = false;
  if (!isConstantNode(node)) {
    std::string why;
    try {
      isFast = fast && fast(node, why) != nullptr;
    } catch (const sdk::Error&) {
      isFast = false;  // whyNot below gives the message
    }
  }
  if (!isFast) {
    const std::string why = whyNot(node, {});
    if (!why.empty()) return sdk::NodeSupport::no(why);
  }
  double elements = 0;
  bool dynamic = false;
  for (size_t o = 0; o < node.numOutputs(); ++o) {
    const int64_t n = node.output(o).numElements();
    if (n < 0) dynamic = true;
    elements += static_cast<double>(std::max<int64_t>(n, 0));
  }
  const std::string_view op = node.op();
  const bool heavy = op == "matmul" || op == "gemm" || op == "conv" || op == "conv_transpose";
  double seconds = dynamic ? 1e-6 : elements * (isFast ? 1e-9 : 2e-9) * (heavy ? 64 : 1);
  if (isConstantNode(node)) seconds = 0;
  return sdk::NodeSupport::yes(seconds * scale);
}

}  // namespace sy::kernels
