// hello_backend: a minimal Switchyard backend plugin, written to be copied.
//
// It runs five f32 elementwise ops (add, sub, mul, relu, neg) on the host CPU.
// A binary op takes two operands of the same shape, or one operand with a
// single element (a scalar) broadcast over the other. Every other node, dtype
// or broadcast is declined with a reason, and the host runs it elsewhere.
//
// The three classes every plugin has:
//   HelloRegion  a compiled region: a list of steps that execute() runs
//   HelloBackend answers the capability query and compiles regions
//   HelloPlugin  names the plugin, lists its devices, makes backends
// and SY_DEFINE_PLUGIN(HelloPlugin), which exports the C ABI. The SDK helper
// (switchyard/plugin.hpp) does the rest: checking what the host passes,
// turning exceptions into ABI errors, and host-memory buffers.
#include <switchyard/plugin.hpp>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace sdk = sy::sdk;

enum class Op { Add, Sub, Mul, Relu, Neg };

std::optional<Op> parseOp(std::string_view name) {
  if (name == "add") return Op::Add;
  if (name == "sub") return Op::Sub;
  if (name == "mul") return Op::Mul;
  if (name == "relu") return Op::Relu;
  if (name == "neg") return Op::Neg;
  return std::nullopt;
}

bool isBinary(Op op) { return op == Op::Add || op == Op::Sub || op == Op::Mul; }

// True when a and b surely have the same shape: each dim is the same number,
// or the same symbol (both "N").
bool sameShape(const sdk::ValueView& a, const sdk::ValueView& b) {
  if (!a.hasRank() || a.rank() != b.rank()) return false;
  for (size_t i = 0; i < a.dims().size(); ++i) {
    if (a.dim(i) >= 0 || b.dim(i) >= 0) {
      if (a.dim(i) != b.dim(i)) return false;
    } else if (a.dimSymbol(i) == nullptr || b.dimSymbol(i) == nullptr ||
               std::strcmp(a.dimSymbol(i), b.dimSymbol(i)) != 0) {
      return false;
    }
  }
  return true;
}

// True when `scalar` has one element and broadcasts over `other` without
// changing other's shape.
bool broadcastsOver(const sdk::ValueView& scalar, const sdk::ValueView& other) {
  return scalar.numElements() == 1 && other.hasRank() && scalar.rank() <= other.rank();
}

// Why hello cannot run `node`, or "" when it can.
std::string whyNot(const sdk::NodeView& node) {
  const std::optional<Op> op = parseOp(node.op());
  if (!op) return sdk::format("op '", node.op(), "' is not implemented by hello");
  const size_t arity = isBinary(*op) ? 2 : 1;
  if (node.numInputs() != arity || node.numOutputs() != 1) return "unexpected number of inputs or outputs";
  for (size_t i = 0; i < arity; ++i) {
    if (!node.hasInput(i)) return sdk::format("input ", i, " is missing");
    if (node.input(i).dtype() != SY_DTYPE_F32) {
      return sdk::format("only f32 is supported, input ", i, " is ", node.input(i).typeString());
    }
  }
  if (node.output(0).dtype() != SY_DTYPE_F32) return "only f32 is supported";
  if (isBinary(*op)) {
    const sdk::ValueView a = node.input(0), b = node.input(1);
    if (!sameShape(a, b) && !broadcastsOver(a, b) && !broadcastsOver(b, a)) {
      return sdk::format("only equal shapes or a one-element operand broadcast, got ", a.typeString(), " and ",
                         b.typeString());
    }
  }
  return "";
}

// A rough cost: 1 ns per output element (1 us when the shape is dynamic).
double estimatedSeconds(const sdk::NodeView& node) {
  const int64_t n = node.output(0).numElements();
  return n >= 0 ? static_cast<double>(n) * 1e-9 : 1e-6;
}

// One tensor while a region runs: f32 data in host memory, and its dims.
struct Tensor {
  const float* data = nullptr;
  size_t count = 0;
  std::vector<int64_t> dims;
};

// One node of a compiled region; a, b and out index the region's values.
struct Step {
  Op op;
  int32_t a;
  int32_t b;  // -1 for a unary op
  int32_t out;
};

// Runs one step into `storage`; returns the result.
Tensor runStep(const Step& step, const std::vector<Tensor>& values, std::vector<float>& storage) {
  const Tensor& a = values[step.a];
  if (step.b < 0) {
    storage.resize(a.count);
    for (size_t i = 0; i < a.count; ++i) {
      storage[i] = step.op == Op::Relu ? std::max(a.data[i], 0.0f) : -a.data[i];  // max keeps NaN
    }
    return {storage.data(), storage.size(), a.dims};
  }
  const Tensor& b = values[step.b];
  // The query checked the shapes, but symbolic dims (N) only get numbers now.
  const Tensor* shape = &a;
  if (a.dims != b.dims) {
    if (a.count == 1 && (b.count != 1 || b.dims.size() > a.dims.size())) {
      shape = &b;
    } else {
      sdk::require(b.count == 1, SY_ERROR_INVALID_ARGUMENT, "shapes ", sdk::formatDims(a.dims), " and ",
                   sdk::formatDims(b.dims), " do not broadcast");
    }
  }
  const size_t aStride = a.count == 1 ? 0 : 1, bStride = b.count == 1 ? 0 : 1;
  storage.resize(shape->count);
  for (size_t i = 0; i < storage.size(); ++i) {
    const float x = a.data[i * aStride], y = b.data[i * bStride];
    storage[i] = step.op == Op::Add ? x + y : step.op == Op::Sub ? x - y : x * y;
  }
  return {storage.data(), storage.size(), shape->dims};
}

class HelloRegion : public sdk::CompiledRegion {
 public:
  HelloRegion(sdk::Backend& backend, const sdk::GraphView& region)
      : backend_(backend), numValues_(region.numValues()) {
    std::vector<bool> known(numValues_, false);
    for (size_t i = 0; i < region.numInputs(); ++i) {
      params_.push_back(region.input(i).index());
      known[region.input(i).index()] = true;
    }
    // A value used before any step made it must be a constant: keep a copy
    // (the view is gone after compile).
    auto use = [&](const sdk::ValueView& v) {
      if (known[v.index()]) return;
      sdk::require(v.isConstant() && v.isStatic() && v.dtype() == SY_DTYPE_F32, SY_ERROR_INVALID_ARGUMENT, "value '",
                   v.name(), "' is used before it is computed");
      const auto* data = static_cast<const float*>(v.constantData());
      constants_.push_back({v.index(), std::vector<float>(data, data + v.numElements()), v.dims().vec()});
      known[v.index()] = true;
    };
    const sdk::BlockView body = region.body();
    for (size_t i = 0; i < body.numNodes(); ++i) {
      const sdk::NodeView node = body.node(i);
      const std::string reason = whyNot(node);
      if (!reason.empty()) sdk::fail(SY_ERROR_UNIMPLEMENTED, node.describe(), ": ", reason);
      Step step{*parseOp(node.op()), node.input(0).index(), -1, node.output(0).index()};
      use(node.input(0));
      if (node.numInputs() == 2) {
        step.b = node.input(1).index();
        use(node.input(1));
      }
      known[step.out] = true;
      steps_.push_back(step);
    }
    for (size_t i = 0; i < region.numOutputs(); ++i) {
      use(region.output(i));
      returns_.push_back(region.output(i).index());
    }
  }

  // The helper has already checked the inputs against the region's types.
  void execute(const std::vector<sdk::InputTensor>& inputs, std::vector<sdk::OutputTensor>& outputs) override {
    // Only locals change here, so several threads may run one region at once.
    std::vector<Tensor> values(numValues_);
    std::vector<std::vector<float>> storage(numValues_);
    for (const Constant& c : constants_) values[c.index] = {c.data.data(), c.data.size(), c.dims};
    for (size_t i = 0; i < inputs.size(); ++i) {
      values[params_[i]] = {inputs[i].hostData<float>(), static_cast<size_t>(inputs[i].numElements()),
                            inputs[i].dims().vec()};
    }
    for (const Step& step : steps_) values[step.out] = runStep(step, values, storage[step.out]);
    for (size_t i = 0; i < returns_.size(); ++i) {
      const Tensor& result = values[returns_[i]];
      outputs[i].allocate(backend_, SY_DTYPE_F32, result.dims);
      std::copy(result.data, result.data + result.count, outputs[i].hostData<float>());
    }
  }

  bool concurrentExecute() const override { return true; }

 private:
  struct Constant {
    int32_t index;
    std::vector<float> data;
    std::vector<int64_t> dims;
  };

  sdk::Backend& backend_;  // outlives the region (the ABI destroys regions first)
  size_t numValues_;
  std::vector<int32_t> params_;
  std::vector<int32_t> returns_;
  std::vector<Constant> constants_;
  std::vector<Step> steps_;
};

// Buffers: the default allocate() gives host memory (sdk::HostBuffer), which
// is exactly what a CPU backend wants, so there is nothing to override.
class HelloBackend : public sdk::Backend {
 public:
  void querySupport(const sdk::GraphView& graph, std::vector<sdk::NodeSupport>& support) override {
    for (const sdk::NodeView node : graph.nodes()) {
      const std::string reason = whyNot(node);
      support[node.index()] =
          reason.empty() ? sdk::NodeSupport::yes(estimatedSeconds(node)) : sdk::NodeSupport::no(reason);
    }
  }

  std::unique_ptr<sdk::CompiledRegion> compile(const sdk::GraphView& region) override {
    return std::make_unique<HelloRegion>(*this, region);
  }
};

class HelloPlugin : public sdk::Plugin {
 public:
  HelloPlugin() : Plugin("hello", "0.1.0", "Switchyard examples") {}

  size_t deviceCount() override { return 1; }

  sdk::DeviceInfo deviceInfo(size_t /*device*/) override {
    sdk::DeviceInfo info;
    info.name = "hello (host CPU)";
    info.type = SY_DEVICE_CPU;
    info.score = 1;  // low: a real CPU backend should win
    info.hostVisibleMemory = true;
    return info;
  }

  // hello takes no options; the helper rejects any key it was given, by name.
  std::unique_ptr<sdk::Backend> createBackend(size_t /*device*/, const sdk::Options& /*options*/) override {
    return std::make_unique<HelloBackend>();
  }

  // Inputs already in host memory are used as they are, without a copy.
  bool wrapsHostMemory() const override { return true; }
};

}  // namespace

SY_DEFINE_PLUGIN(HelloPlugin)
