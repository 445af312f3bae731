// The SDK's region executor (switchyard/region_executor.hpp), driven the way a
// plugin's compile/execute drives it: each test parses a region with the
// core's parser (in the test only), views it through the ABI
// (sy::GraphView -> sy::sdk::GraphView), compiles a RegionExecutor with or
// without a fast-kernel hook, runs it on host buffers and compares with the
// reference interpreter.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>

#include <switchyard/plugin_helpers.hpp>
#include <switchyard/region_executor.hpp>
#include "switchyard/graph_view.h"
#include "switchyard/interpreter.h"
#include "switchyard/text.h"

namespace {

namespace sdk = sy::sdk;
namespace kernels = sy::kernels;

/// Host memory buffers; compile and query are never called on it here.
class HostBackend final : public sdk::Backend {
 public:
  void querySupport(const sdk::GraphView&, std::vector<sdk::NodeSupport>&) override {}
  std::unique_ptr<sdk::CompiledRegion> compile(const sdk::GraphView&) override { return nullptr; }
};

/// A parsed region and its ABI view.
struct Region {
  std::shared_ptr<const sy::Graph> graph;
  std::unique_ptr<sy::GraphView> coreView;
  std::unique_ptr<sdk::GraphView> view;

  explicit Region(const std::string& text) {
    auto g = sy::parseGraph(text);
    EXPECT_TRUE(g.ok()) << g.status().toString() << "\n" << text;
    if (!g.ok()) return;
    graph = std::move(*g);
    coreView = std::make_unique<sy::GraphView>(*graph);
    view = std::make_unique<sdk::GraphView>(coreView->view());
  }
};

/// Runs `executor` on `inputs`; returns the outputs as core tensors.
std::vector<sy::Tensor> run(const kernels::RegionExecutor& executor, const std::vector<sy::Tensor>& inputs) {
  HostBackend backend;
  std::vector<std::unique_ptr<sdk::Buffer>> buffers;
  std::vector<sdk::InputTensor> ins;
  for (const sy::Tensor& t : inputs) {
    buffers.push_back(sdk::HostBuffer::wrap(t.data(), t.nbytes()));
    ins.emplace_back(*buffers.back(), 0, sy::toAbiDType(t.dtype()), sdk::ArrayRef<int64_t>(t.shape()));
  }
  std::vector<sdk::OutputTensor> outs(executor.numOutputs());
  executor.execute(backend, ins, outs);
  std::vector<sy::Tensor> result;
  for (sdk::OutputTensor& o : outs) {
    EXPECT_TRUE(o.isSet());
    sy::DType dt;
    EXPECT_TRUE(sy::fromAbiDType(o.dtype(), dt));
    auto t = sy::Tensor::allocate(dt, o.dims().vec());
    EXPECT_TRUE(t.ok());
    if (t->nbytes() > 0) std::memcpy(t->mutableData(), o.hostData(), t->nbytes());
    result.push_back(*t);
  }
  return result;
}

std::vector<sy::Tensor> reference(const Region& r, const std::vector<sy::Tensor>& inputs) {
  auto interp = sy::Interpreter::create(r.graph);
  EXPECT_TRUE(interp.ok()) << interp.status().toString();
  auto out = (*interp)->run(inputs);
  EXPECT_TRUE(out.ok()) << out.status().toString();
  return out.ok() ? *out : std::vector<sy::Tensor>{};
}

void expectSame(const std::vector<sy::Tensor>& got, const std::vector<sy::Tensor>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].dtype(), want[i].dtype()) << "output " << i;
    ASSERT_EQ(got[i].shape(), want[i].shape()) << "output " << i;
    for (int64_t e = 0; e < got[i].numel(); ++e) {
      EXPECT_NEAR(got[i].getDouble(e), want[i].getDouble(e), 1e-5) << "output " << i << " element " << e;
    }
  }
}

sy::Tensor f32(sy::Shape shape, std::vector<double> values) {
  auto t = sy::Tensor::fromDoubles(sy::DType::F32, std::move(shape), values);
  EXPECT_TRUE(t.ok()) << t.status().toString();
  return *t;
}

sy::Tensor iota(sy::Shape shape, double scale = 0.25, double shift = -1.0) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<double> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i) * scale + shift;
  return f32(std::move(shape), v);
}

/// A fast kernel for f32 `add` that counts its runs (a plugin's own kernel).
class CountingAdd final : public kernels::Kernel {
 public:
  explicit CountingAdd(std::atomic<int>& runs) : runs_(runs) {}
  void outputShapes(const kernels::Tensor* in, size_t, kernels::Dims* out, size_t) const override {
    out[0] = kernels::Dims::of(sdk::shapes::broadcastShape(in[0].dims.ref().vec(), in[1].dims.ref().vec()));
  }
  void run(const kernels::Tensor* in, size_t, kernels::Tensor* out, size_t, const kernels::Exec&) const override {
    ++runs_;
    sdk::BroadcastIterator<2> it(out[0].dims.ref(), {in[0].dims.ref(), in[1].dims.ref()});
    const float* a = in[0].as<float>();
    const float* b = in[1].as<float>();
    float* z = out[0].as<float>();
    for (; !it.done(); it.next()) {
      for (int64_t i = 0; i < it.length(); ++i) {
        z[it.outOffset() + i] = a[it.offset(0) + i * it.stride(0)] + b[it.offset(1) + i * it.stride(1)];
      }
    }
  }

 private:
  std::atomic<int>& runs_;
};

kernels::KernelHook countingAddHook(std::atomic<int>& runs) {
  return [&runs](const sdk::NodeView& node, std::string& whyNot) -> std::unique_ptr<kernels::Kernel> {
    if (node.op() != "add" || node.output(0).dtype() != SY_DTYPE_F32) {
      whyNot = "not an f32 add";
      return nullptr;
    }
    return std::make_unique<CountingAdd>(runs);
  };
}

const char* kElementwise = R"(graph @g(%x: f32[N, 4], %y: f32[N, 4]) {
  %s = add(%x, %y) : f32[N, 4]
  %d = sub(%x, %y) : f32[N, 4]
  %p = mul(%s, %d) : f32[N, 4]
  %r = relu(%p) : f32[N, 4]
  %e = exp(%r) : f32[N, 4]
  %m = reduce_mean(%e) {axes = [1], keepdims = 0} : f32[N]
  return %m, %s
}
)";

TEST(RegionExecutor, PortableKernelsMatchTheReferenceForEveryN) {
  Region r(kElementwise);
  ASSERT_TRUE(r.view);
  kernels::RegionExecutor executor(*r.view);
  EXPECT_EQ(executor.numFastKernels(), 0u);
  EXPECT_EQ(executor.numPortableKernels(), 6u);
  // Symbolic dims get numbers per run: one executor, several N.
  for (int64_t n : {1, 3, 0, 7}) {
    const std::vector<sy::Tensor> in = {iota({n, 4}), iota({n, 4}, -0.5, 2.0)};
    expectSame(run(executor, in), reference(r, in));
  }
}

TEST(RegionExecutor, FastHookRunsItsNodesAndThePortableKernelsTheRest) {
  Region r(kElementwise);
  ASSERT_TRUE(r.view);
  std::atomic<int> runs{0};
  kernels::RegionExecutor executor(*r.view, countingAddHook(runs));
  EXPECT_EQ(executor.numFastKernels(), 1u);
  EXPECT_EQ(executor.numPortableKernels(), 5u);
  const std::vector<sy::Tensor> in = {iota({2, 4}), iota({2, 4}, 0.5, -3.0)};
  expectSame(run(executor, in), reference(r, in));
  EXPECT_EQ(runs.load(), 1);
}

TEST(RegionExecutor, BroadcastingFastKernelAgainstReference) {
  Region r(R"(graph @g(%x: f32[2, 3, 4], %y: f32[3, 1], %z: f32[4]) {
  %a = add(%x, %y) : f32[2, 3, 4]
  %b = add(%z, %a) : f32[2, 3, 4]
  return %b
}
)");
  ASSERT_TRUE(r.view);
  std::atomic<int> runs{0};
  kernels::RegionExecutor executor(*r.view, countingAddHook(runs));
  const std::vector<sy::Tensor> in = {iota({2, 3, 4}), iota({3, 1}, 1.5, 0.0), iota({4}, -2.0, 1.0)};
  expectSame(run(executor, in), reference(r, in));
  EXPECT_EQ(runs.load(), 2);
}

TEST(RegionExecutor, ConstantsWeightsAndMatmul) {
  Region r(R"(graph @g(%x: f32[N, 3]) {
  %w = constant() {value = tensor<f32[3, 2]>[1.0, -1.0, 0.5, 2.0, -0.25, 0.0]} : f32[3, 2]
  %b = constant() {value = tensor<f32[2]>[0.5, -0.5]} : f32[2]
  %h = matmul(%x, %w) : f32[N, 2]
  %y = add(%h, %b) : f32[N, 2]
  %t = tanh(%y) : f32[N, 2]
  return %t, %w
}
)");
  ASSERT_TRUE(r.view);
  kernels::RegionExecutor executor(*r.view);
  const std::vector<sy::Tensor> in = {iota({5, 3})};
  expectSame(run(executor, in), reference(r, in));
}

TEST(RegionExecutor, InputsReturnedAsTheyAreAndTwice) {
  Region r(R"(graph @g(%x: f32[2], %y: f32[2]) {
  %n = neg(%y) : f32[2]
  return %x, %n, %n, %y
}
)");
  ASSERT_TRUE(r.view);
  kernels::RegionExecutor executor(*r.view);
  const std::vector<sy::Tensor> in = {f32({2}, {1, 2}), f32({2}, {3, -4})};
  const std::vector<sy::Tensor> out = run(executor, in);
  expectSame(out, reference(r, in));
  // Copies, not the caller's memory.
  EXPECT_NE(out[0].data(), in[0].data());
}

// An absent optional input in the middle of a node's inputs (ONNX's empty
// input name) is a negative value index in the view and reaches the kernel as
// {data = nullptr, dtype = -1} in its position, so later inputs keep their
// index. The text format cannot write one, so the test removes slice's `axes`
// from the view and keeps its `steps`.
TEST(RegionExecutor, AbsentOptionalInputInTheMiddle) {
  Region r(R"(graph @g(%x: f32[10], %starts: i64[1], %ends: i64[1], %axes: i64[1], %steps: i64[1]) {
  %y = slice(%x, %starts, %ends, %axes, %steps) : f32[?]
  return %y
}
)");
  ASSERT_TRUE(r.view);
  sy_graph_view raw = *r.coreView->view();
  std::vector<sy_node_view> nodes(raw.nodes, raw.nodes + raw.num_nodes);
  ASSERT_EQ(nodes.size(), 1u);
  ASSERT_EQ(nodes[0].num_inputs, 5u);
  const int32_t inputs[5] = {nodes[0].inputs[0], nodes[0].inputs[1], nodes[0].inputs[2], -1, nodes[0].inputs[4]};
  nodes[0].inputs = inputs;
  raw.nodes = nodes.data();
  const sdk::GraphView view(&raw);
  EXPECT_FALSE(view.node(0).hasInput(3));
  EXPECT_EQ(kernels::RegionExecutor::whyNot(view.node(0)), "");
  kernels::RegionExecutor executor(view);
  auto i64 = [](int64_t v) { return *sy::Tensor::fromInts(sy::DType::I64, {1}, {v}); };
  // axes = 7 would be out of range: the kernel must not read it.
  const std::vector<sy::Tensor> out = run(executor, {iota({10}, 1.0, 0.0), i64(1), i64(9), i64(7), i64(2)});
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].shape(), (sy::Shape{4}));
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(out[0].getDouble(i), static_cast<double>(1 + 2 * i)) << i;
}

TEST(RegionExecutor, ShapeErrorAtRunTimeNamesTheNode) {
  Region r(R"(graph @g(%x: f32[N, 4], %y: f32[M, 4]) {
  %s = add(%x, %y) : f32[?, 4] @"the_add"
  return %s
}
)");
  ASSERT_TRUE(r.view);
  kernels::RegionExecutor executor(*r.view);
  try {
    run(executor, {iota({2, 4}), iota({3, 4})});
    FAIL() << "expected an error";
  } catch (const sdk::Error& e) {
    EXPECT_EQ(e.code(), SY_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("the_add"), std::string::npos) << e.what();
  }
  // The portable kernels name their node already: once is enough.
  Region d(R"(graph @g(%x: f32[N, 4], %y: f32[M, 4]) {
  %s = div(%x, %y) : f32[?, 4] @"the_div"
  return %s
}
)");
  ASSERT_TRUE(d.view);
  kernels::RegionExecutor divide(*d.view);
  try {
    run(divide, {iota({2, 4}), iota({3, 4})});
    FAIL() << "expected an error";
  } catch (const sdk::Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find("'div' node 'the_div'"), 0u) << message;
    EXPECT_EQ(message.find("the_div", 20), std::string::npos) << message;  // not named twice
  }
}

TEST(RegionExecutor, ControlFlowIsDeclinedWithAReason) {
  Region r(R"(graph @g(%c: bool, %x: f32[4]) {
  %y = if(%c) : f32[4] {
  ^then:
    %r = relu(%x) : f32[4]
    yield %r
  ^else:
    yield %x
  }
  return %y
}
)");
  ASSERT_TRUE(r.view);
  const sdk::NodeView ifNode = r.view->node(0);
  ASSERT_EQ(ifNode.op(), "if");
  EXPECT_NE(kernels::RegionExecutor::whyNot(ifNode).find("control flow"), std::string::npos);
  EXPECT_FALSE(kernels::RegionExecutor::supports(ifNode).supported);
  // The relu inside the block is offered on its own and supported.
  EXPECT_TRUE(kernels::RegionExecutor::supports(r.view->node(1)).supported);
  try {
    kernels::RegionExecutor executor(*r.view);
    FAIL() << "expected an error";
  } catch (const sdk::Error& e) {
    EXPECT_EQ(e.code(), SY_ERROR_UNIMPLEMENTED);
    EXPECT_NE(std::string(e.what()).find("'if'"), std::string::npos) << e.what();
  }
}

TEST(RegionExecutor, SupportsAsksTheHookFirst) {
  Region r(kElementwise);
  ASSERT_TRUE(r.view);
  std::atomic<int> runs{0};
  const kernels::KernelHook hook = countingAddHook(runs);
  for (const sdk::NodeView node : r.view->nodes()) {
    const sdk::NodeSupport s = kernels::RegionExecutor::supports(node, hook);
    EXPECT_TRUE(s.supported) << node.describe() << ": " << s.reason;
  }
  // A dynamic N gives the fixed estimate; a static shape scales with elements.
  Region big(R"(graph @g(%x: f32[1000], %y: f32[1000]) {
  %s = add(%x, %y) : f32[1000]
  %m = mul(%x, %y) : f32[1000]
  return %s, %m
}
)");
  ASSERT_TRUE(big.view);
  const double fast = kernels::RegionExecutor::supports(big.view->node(0), hook).cost;
  const double portable = kernels::RegionExecutor::supports(big.view->node(1), hook).cost;
  EXPECT_GT(fast, 0.0);
  EXPECT_LT(fast, portable);
}

TEST(RegionExecutor, ManyThreadsRunOneExecutor) {
  Region r(kElementwise);
  ASSERT_TRUE(r.view);
  std::atomic<int> runs{0};
  const kernels::RegionExecutor executor(*r.view, countingAddHook(runs));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const int64_t n = 1 + (t + i) % 5;
        const std::vector<sy::Tensor> in = {iota({n, 4}, 0.1 * t), iota({n, 4}, -0.2, 0.1 * i)};
        const std::vector<sy::Tensor> got = run(executor, in);
        const std::vector<sy::Tensor> want = reference(r, in);
        for (size_t o = 0; o < want.size(); ++o) {
          for (int64_t e = 0; e < want[o].numel(); ++e) {
            if (std::abs(got[o].getDouble(e) - want[o].getDouble(e)) > 1e-5) ++failures;
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(runs.load(), 100);
}

}  // namespace
