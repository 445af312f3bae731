// hello_backend: a minimal Switchyard backend plugin, written to be copied.
//
// It runs on the host CPU. Five f32 ops have hello's own kernels, its "fast
// path": add, sub and mul (with NumPy broadcasting) and relu and neg. Every
// other op of the IR runs inside hello's regions too, on the SDK's portable
// kernels (Switchyard::kernels), so a model is not cut into pieces where
// hello has no kernel of its own. Only control flow (`if`, `loop`) is
// declined: the host runs it and offers hello the nodes of its blocks.
//
// The SDK does the bookkeeping (switchyard/region_executor.hpp): walking the
// region's nodes in order, per-value storage, inputs, constants, absent
// optional inputs, shapes per run, and asking helloKernel first for each node.
// What is left to write here:
//   HelloBinary, HelloUnary  the kernels (sy::kernels::Kernel)
//   helloKernel              which nodes they take (the "fast-kernel hook")
//   HelloBackend             the capability query and compile, one line each
//   HelloPlugin              names the plugin, lists its devices
// and SY_DEFINE_PLUGIN(HelloPlugin), which exports the C ABI.
#include <switchyard/plugin.hpp>
#include <switchyard/plugin_helpers.hpp>
#include <switchyard/region_executor.hpp>

#include <algorithm>
#include <memory>
#include <string>

namespace {

namespace sdk = sy::sdk;
namespace kernels = sy::kernels;

// add, sub or mul of two f32 tensors, NumPy-broadcast.
class HelloBinary final : public kernels::Kernel {
 public:
  enum class Op { Add, Sub, Mul };
  explicit HelloBinary(Op op) : op_(op) {}

  // Called every run: the inputs' dims are numbers now, even where the
  // model says N. A broadcast error throws and names the shapes.
  void outputShapes(const kernels::Tensor* in, size_t, kernels::Dims* out, size_t) const override {
    out[0] = kernels::Dims::of(sdk::shapes::broadcastShape(in[0].dims.ref().vec(), in[1].dims.ref().vec()));
  }

  void run(const kernels::Tensor* in, size_t, kernels::Tensor* out, size_t, const kernels::Exec&) const override {
    switch (op_) {
      case Op::Add: return apply(in, out, [](float x, float y) { return x + y; });
      case Op::Sub: return apply(in, out, [](float x, float y) { return x - y; });
      case Op::Mul: return apply(in, out, [](float x, float y) { return x * y; });
    }
  }

 private:
  // The iterator hands out runs in which each operand either advances (stride
  // 1) or repeats one element (stride 0): one plain loop per case, which the
  // compiler vectorises.
  template <class F>
  static void apply(const kernels::Tensor* in, kernels::Tensor* out, F f) {
    for (sdk::BroadcastIterator<2> it(out[0].dims.ref(), {in[0].dims.ref(), in[1].dims.ref()}); !it.done(); it.next()) {
      const float* a = in[0].as<float>() + it.offset(0);
      const float* b = in[1].as<float>() + it.offset(1);
      float* z = out[0].as<float>() + it.outOffset();
      const int64_t n = it.length();
      if (it.stride(0) == 1 && it.stride(1) == 1) {
        for (int64_t i = 0; i < n; ++i) z[i] = f(a[i], b[i]);
      } else if (it.stride(0) == 1) {
        for (int64_t i = 0; i < n; ++i) z[i] = f(a[i], b[0]);
      } else if (it.stride(1) == 1) {
        for (int64_t i = 0; i < n; ++i) z[i] = f(a[0], b[i]);
      } else {
        std::fill(z, z + n, f(a[0], b[0]));
      }
    }
  }
  Op op_;
};

// relu or neg of an f32 tensor.
class HelloUnary final : public kernels::Kernel {
 public:
  explicit HelloUnary(bool relu) : relu_(relu) {}

  void outputShapes(const kernels::Tensor* in, size_t, kernels::Dims* out, size_t) const override {
    out[0] = in[0].dims;
  }

  void run(const kernels::Tensor* in, size_t, kernels::Tensor* out, size_t, const kernels::Exec&) const override {
    const float* x = in[0].as<float>();
    float* y = out[0].as<float>();
    const int64_t n = in[0].numElements();
    if (relu_) {
      for (int64_t i = 0; i < n; ++i) y[i] = std::max(x[i], 0.0f);  // max(NaN, 0) keeps the NaN
    } else {
      for (int64_t i = 0; i < n; ++i) y[i] = -x[i];
    }
  }

 private:
  bool relu_;
};

// The fast-kernel hook: hello's own kernel for `node`, or nullptr (with a
// reason, for logs) to leave it to the portable kernels. Called by the
// capability query and by compile, so both agree.
std::unique_ptr<kernels::Kernel> helloKernel(const sdk::NodeView& node, std::string& whyNot) {
  const std::string_view op = node.op();
  const bool binary = op == "add" || op == "sub" || op == "mul";
  if (!binary && op != "relu" && op != "neg") {
    whyNot = "not one of hello's own ops";
    return nullptr;
  }
  // Inputs are never absent for these ops, but a negative index is how an
  // absent optional input looks (node.hasInput(i) == false): check first.
  const size_t arity = binary ? 2 : 1;
  if (node.numInputs() != arity || node.numOutputs() != 1) return nullptr;
  for (size_t i = 0; i < arity; ++i) {
    if (!node.hasInput(i) || node.input(i).dtype() != SY_DTYPE_F32) {
      whyNot = "hello's own kernels are f32 only";
      return nullptr;
    }
  }
  if (op == "add") return std::make_unique<HelloBinary>(HelloBinary::Op::Add);
  if (op == "sub") return std::make_unique<HelloBinary>(HelloBinary::Op::Sub);
  if (op == "mul") return std::make_unique<HelloBinary>(HelloBinary::Op::Mul);
  return std::make_unique<HelloUnary>(op == "relu");
}

// Buffers: the default allocate() gives host memory (sdk::HostBuffer), which
// is what the region executor needs, so there is nothing to override.
class HelloBackend : public sdk::Backend {
 public:
  // Yes exactly when compile will find a kernel (hello's own, else a portable
  // one); a reason for every no.
  void querySupport(const sdk::GraphView& graph, std::vector<sdk::NodeSupport>& support) override {
    for (const sdk::NodeView node : graph.nodes()) {
      support[node.index()] = kernels::RegionExecutor::supports(node, helloKernel);
    }
  }

  // The executor is immutable once made, so one region runs on many threads.
  std::unique_ptr<sdk::CompiledRegion> compile(const sdk::GraphView& region) override {
    return std::make_unique<kernels::ExecutorRegion>(*this, region, helloKernel);
  }
};

class HelloPlugin : public sdk::Plugin {
 public:
  HelloPlugin() : Plugin("hello", "0.2.0", "Switchyard examples") {}

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
