// The SDK's portable kernels (sdk/kernels/), tested on their own: each test
// builds a one-op IR graph with the core's parser, views it through the ABI (sy::GraphView -> sy::sdk::GraphView), makes the node's
// kernel with sy::kernels::makeKernel and runs it with a small threaded Exec.
// Results are checked against hand-computed values for the tricky semantics
// and against the reference interpreter for a sweep of ops and dtypes. The
// interpreter runs these same kernels (serially, SerialExec), so the sweep
// checks that chunked parallel runs give the serial result; the semantics are
// checked by the hand-computed cases here, the core's op tests
// (core/tests/ops_*), the ONNX node tests and the examples' PyTorch outputs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <thread>

#include <switchyard/kernels.hpp>
#include "switchyard/graph_view.h"
#include "switchyard/interpreter.h"
#include "switchyard/text.h"

namespace {

using sy::DType;
using sy::Shape;

/// Splits parallelFor over real threads (one per chunk), so the parallel
/// paths and their chunk boundaries are exercised.
class ThreadExec final : public sy::kernels::Exec {
 public:
  explicit ThreadExec(int threads) : threads_(threads) {}
  void parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) const override {
    if (n <= 0) return;
    grain = std::max<int64_t>(1, grain);
    if (threads_ <= 1 || n <= grain) {
      fn(0, n);
      return;
    }
    const int64_t chunk = std::max<int64_t>(grain, (n + threads_ - 1) / threads_);
    std::vector<std::thread> workers;
    for (int64_t b = chunk; b < n; b += chunk) workers.emplace_back([&fn, b, chunk, n] { fn(b, std::min(n, b + chunk)); });
    fn(0, std::min(n, chunk));
    for (auto& w : workers) w.join();
  }
  int threads() const override { return threads_; }

 private:
  int threads_;
};

sy::kernels::Tensor view(const sy::Tensor& t) {
  sy::kernels::Tensor v;
  v.data = t.mutableData();
  v.dtype = sy::toAbiDType(t.dtype());
  v.dims = sy::kernels::Dims::of(t.shape());
  return v;
}

std::shared_ptr<const sy::Graph> parse(const std::string& text) {
  auto g = sy::parseGraph(text);
  EXPECT_TRUE(g.ok()) << g.status().toString() << "\n" << text;
  return g.ok() ? std::shared_ptr<const sy::Graph>(std::move(*g)) : nullptr;
}

/// A one-op graph made into a kernel: the node is the graph's first node that
/// is not a constant.
struct Compiled {
  std::shared_ptr<const sy::Graph> graph;
  std::unique_ptr<sy::GraphView> gv;
  std::unique_ptr<sy::sdk::GraphView> sv;
  size_t node = 0;
  std::unique_ptr<sy::kernels::Kernel> kernel;
  std::string whyNot;

  explicit Compiled(const std::string& text) {
    graph = parse(text);
    if (!graph) return;
    gv = std::make_unique<sy::GraphView>(*graph);
    sv = std::make_unique<sy::sdk::GraphView>(gv->view());
    for (size_t i = 0; i < sv->numNodes(); ++i) {
      const std::string_view op = sv->node(i).op();
      if (op != "constant" && op != "weight") {
        node = i;
        break;
      }
    }
    kernel = sy::kernels::makeKernel(sv->node(node), whyNot);
  }

  /// Runs the kernel on the graph inputs (constants come from the view); throws what the kernel throws.
  std::vector<sy::Tensor> run(const std::vector<sy::Tensor>& inputs, int threads = 4) const {
    const sy::sdk::NodeView n = sv->node(node);
    std::map<std::string, sy::Tensor> byName;
    for (size_t i = 0; i < graph->inputs().size() && i < inputs.size(); ++i)
      byName[graph->inputs()[i]->name()] = inputs[i];
    std::vector<sy::Tensor> keep;
    std::vector<sy::kernels::Tensor> ins;
    for (size_t i = 0; i < n.numInputs(); ++i) {
      if (!n.hasInput(i)) {
        ins.push_back(sy::kernels::Tensor{});
        continue;
      }
      const sy::sdk::ValueView v = n.input(i);
      auto it = byName.find(std::string(v.name()));
      if (it != byName.end()) {
        keep.push_back(it->second);
      } else {
        EXPECT_TRUE(v.isConstant()) << "input " << i << " is neither a graph input nor a constant";
        DType dt;
        sy::fromAbiDType(v.dtype(), dt);
        keep.push_back(sy::Tensor::borrow(dt, v.dims().vec(), v.constantData(), nullptr));
      }
      ins.push_back(view(keep.back()));
    }
    std::vector<sy::kernels::Dims> dims(n.numOutputs());
    kernel->outputShapes(ins.data(), ins.size(), dims.data(), dims.size());
    std::vector<sy::Tensor> outs;
    std::vector<sy::kernels::Tensor> outViews;
    for (size_t i = 0; i < n.numOutputs(); ++i) {
      DType dt;
      sy::fromAbiDType(n.output(i).dtype(), dt);
      auto t = sy::Tensor::allocate(dt, Shape(dims[i].d, dims[i].d + dims[i].rank));
      EXPECT_TRUE(t.ok());
      outs.push_back(*t);
      // Poison the output so that unwritten elements show.
      if (outs.back().nbytes() > 0) std::memset(outs.back().mutableData(), 0x7b, outs.back().nbytes());
      outViews.push_back(view(outs.back()));
    }
    ThreadExec exec(threads);
    kernel->run(ins.data(), ins.size(), outViews.data(), outViews.size(), exec);
    return outs;
  }
};

std::vector<sy::Tensor> reference(const Compiled& c, const std::vector<sy::Tensor>& inputs) {
  auto interp = sy::Interpreter::create(c.graph);
  EXPECT_TRUE(interp.ok()) << interp.status().toString();
  auto r = (*interp)->run(inputs);
  EXPECT_TRUE(r.ok()) << r.status().toString();
  return r.ok() ? *r : std::vector<sy::Tensor>{};
}

/// got vs want with the conformance suite's rule (per dtype tolerances; NaN meets NaN).
::testing::AssertionResult close(const sy::Tensor& got, const sy::Tensor& want) {
  if (got.dtype() != want.dtype())
    return ::testing::AssertionFailure() << "dtype " << sy::dtypeName(got.dtype()) << " vs " << sy::dtypeName(want.dtype());
  if (got.shape() != want.shape())
    return ::testing::AssertionFailure() << "shape " << sy::shapeToString(got.shape()) << " vs "
                                         << sy::shapeToString(want.shape());
  double rtol = 0, atol = 0;
  if (got.dtype() == DType::F32) rtol = 1e-4, atol = 1e-5;
  if (got.dtype() == DType::F16) rtol = 2e-2, atol = 4e-3;
  if (got.dtype() == DType::BF16) rtol = 1.2e-1, atol = 4e-2;
  double scale = 1;
  for (int64_t i = 0; i < want.numel(); ++i)
    if (std::isfinite(want.getDouble(i))) scale = std::max(scale, std::fabs(want.getDouble(i)));
  for (int64_t i = 0; i < got.numel(); ++i) {
    if (sy::isFloat(got.dtype())) {
      const double g = got.getDouble(i), w = want.getDouble(i);
      if (std::isnan(w) || std::isnan(g)) {
        if (std::isnan(w) != std::isnan(g)) return ::testing::AssertionFailure() << "element " << i << ": " << g << " vs " << w;
        continue;
      }
      if (std::isinf(w) || std::isinf(g)) {
        if (g != w) return ::testing::AssertionFailure() << "element " << i << ": " << g << " vs " << w;
        continue;
      }
      if (std::fabs(g - w) > atol * scale + rtol * std::fabs(w))
        return ::testing::AssertionFailure() << "element " << i << ": " << g << " vs " << w;
    } else if (got.getInt(i) != want.getInt(i)) {
      return ::testing::AssertionFailure() << "element " << i << ": " << got.getInt(i) << " vs " << want.getInt(i);
    }
  }
  return ::testing::AssertionSuccess();
}

sy::Tensor T(DType dt, Shape s, std::vector<double> v) {
  auto r = sy::Tensor::fromDoubles(dt, std::move(s), v);
  EXPECT_TRUE(r.ok()) << r.status().toString();
  return *r;
}
sy::Tensor F(Shape s, std::vector<double> v) { return T(DType::F32, std::move(s), std::move(v)); }
sy::Tensor I64(Shape s, std::vector<int64_t> v) { return *sy::Tensor::fromInts(DType::I64, std::move(s), v); }
sy::Tensor I32(Shape s, std::vector<int64_t> v) { return *sy::Tensor::fromInts(DType::I32, std::move(s), v); }

std::vector<double> values(const sy::Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.getDouble(i));
  return v;
}

/// Random inputs for the graph's parameters (static shapes).
std::vector<sy::Tensor> randomInputs(const sy::Graph& g, unsigned seed, double lo, double hi, bool integral) {
  std::mt19937 gen(seed);
  std::vector<sy::Tensor> out;
  for (const sy::Value* p : g.inputs()) {
    const Shape shape = *p->type().staticShape();
    auto t = *sy::Tensor::allocate(p->type().dtype(), shape);
    std::uniform_real_distribution<double> dist(lo, hi);
    for (int64_t i = 0; i < t.numel(); ++i) {
      double v = dist(gen);
      if (integral || !sy::isFloat(t.dtype())) v = std::round(v);
      if (t.dtype() == DType::Bool) v = gen() % 2;
      t.setDouble(i, v);
    }
    out.push_back(t);
  }
  return out;
}

/// Compiles `text`, runs it on random inputs with 1 and 4 threads, compares with the reference.
void sweep(const std::string& text, double lo = -3, double hi = 3, bool integral = false) {
  SCOPED_TRACE(text);
  Compiled c(text);
  ASSERT_TRUE(c.kernel) << c.whyNot;
  const std::vector<sy::Tensor> inputs = randomInputs(*c.graph, 7, lo, hi, integral);
  const std::vector<sy::Tensor> want = reference(c, inputs);
  for (int threads : {1, 4}) {
    const std::vector<sy::Tensor> got = c.run(inputs, threads);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(close(got[i], want[i])) << "output " << i << ", " << threads << " threads";
  }
}

// ===========================================================================
// Hand-checked semantics

TEST(PortableKernels, BroadcastingAdd) {
  Compiled c("graph @g(%a: f32[2, 3], %b: f32[3]) {\n %y = add(%a, %b) : f32[2, 3]\n return %y\n}");
  ASSERT_TRUE(c.kernel) << c.whyNot;
  auto y = c.run({F({2, 3}, {1, 2, 3, 4, 5, 6}), F({3}, {10, 20, 30})});
  EXPECT_EQ(values(y[0]), (std::vector<double>{11, 22, 33, 14, 25, 36}));
  Compiled c2("graph @g(%a: f32[2, 1], %b: f32[1, 3]) {\n %y = sub(%a, %b) : f32[2, 3]\n return %y\n}");
  auto y2 = c2.run({F({2, 1}, {1, 2}), F({1, 3}, {1, 2, 3})});
  EXPECT_EQ(values(y2[0]), (std::vector<double>{0, -1, -2, 1, 0, -1}));
}

TEST(PortableKernels, MismatchedBroadcastIsAnError) {
  Compiled c("graph @g(%a: f32[2, 3], %b: f32[N]) {\n %y = add(%a, %b) : f32[2, 3]\n return %y\n}");
  ASSERT_TRUE(c.kernel) << c.whyNot;
  try {
    c.run({F({2, 3}, {1, 2, 3, 4, 5, 6}), F({4}, {1, 2, 3, 4})});
    FAIL() << "expected an error";
  } catch (const sy::sdk::Error& e) {
    EXPECT_EQ(e.code(), SY_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("'add' node"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cannot be broadcast"), std::string::npos) << e.what();
  }
}

/// The kernel must refuse these run-time inputs with an sdk::Error naming the node, not crash.
void expectInvalid(const std::string& text, const std::vector<sy::Tensor>& inputs) {
  SCOPED_TRACE(text);
  Compiled c(text);
  ASSERT_TRUE(c.kernel) << c.whyNot;
  try {
    c.run(inputs);
    ADD_FAILURE() << "expected an sdk::Error";
  } catch (const sy::sdk::Error& e) {
    EXPECT_EQ(e.code(), SY_ERROR_INVALID_ARGUMENT) << e.what();
    EXPECT_NE(std::string(e.what()).find("node"), std::string::npos) << e.what();
  }
}

TEST(PortableKernels, MalformedRunTimeInputsAreErrors) {
  const auto f6 = F({6}, {1, 2, 3, 4, 5, 6});
  expectInvalid("graph @g(%x: f32[N], %s: i64[2]) {\n %y = reshape(%x, %s) : f32[?, ?]\n return %y\n}",
                {f6, I64({2}, {4, 2})});
  expectInvalid("graph @g(%x: f32[N], %s: i64[2]) {\n %y = reshape(%x, %s) : f32[?, ?]\n return %y\n}",
                {f6, I64({2}, {-1, -1})});
  expectInvalid("graph @g(%a: f32[N, K], %b: f32[M, J]) {\n %y = concat(%a, %b) {axis = 0} : f32[?, ?]\n return %y\n}",
                {F({1, 2}, {1, 2}), F({1, 3}, {1, 2, 3})});
  expectInvalid("graph @g(%x: f32[2, 3], %p: i64[P]) {\n %y = pad(%x, %p) : f32[?, ?]\n return %y\n}",
                {F({2, 3}, {1, 2, 3, 4, 5, 6}), I64({3}, {1, 1, 1})});
  expectInvalid("graph @g(%x: f32[2, 3], %p: i64[4]) {\n %y = pad(%x, %p) : f32[?, ?]\n return %y\n}",
                {F({2, 3}, {1, 2, 3, 4, 5, 6}), I64({4}, {0, -4, 0, 0})});
  expectInvalid("graph @g(%x: f32[2, 3], %r: i64[R]) {\n %y = tile(%x, %r) : f32[?, ?]\n return %y\n}",
                {F({2, 3}, {1, 2, 3, 4, 5, 6}), I64({1}, {2})});
  expectInvalid("graph @g(%x: f32[N], %s: i64[1]) {\n %y = expand(%x, %s) : f32[?]\n return %y\n}",
                {F({3}, {1, 2, 3}), I64({1}, {2})});
  expectInvalid("graph @g(%a: f32[2, K], %b: f32[J, 3]) {\n %y = matmul(%a, %b) : f32[2, 3]\n return %y\n}",
                {F({2, 2}, {1, 2, 3, 4}), F({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9})});
  expectInvalid("graph @g(%x: f32[1, C, 4, 4], %w: f32[2, 3, 3, 3]) {\n %y = conv(%x, %w) : f32[1, 2, 2, 2]\n return %y\n}",
                {*sy::Tensor::allocate(DType::F32, {1, 4, 4, 4}), *sy::Tensor::allocate(DType::F32, {2, 3, 3, 3})});
  expectInvalid("graph @g(%x: f32[N], %s: i64[2]) {\n %a, %b = split(%x, %s) : f32[?], f32[?]\n return %a, %b\n}",
                {f6, I64({2}, {2, 3})});
  expectInvalid("graph @g(%x: f32[1, N], %s: f32[S]) {\n %y = resize(%x, %s) : f32[?, ?]\n return %y\n}",
                {F({1, 2}, {1, 2}), F({3}, {1, 1, 1})});
  expectInvalid("graph @g(%a: i64[], %b: i64[], %c: i64[]) {\n %y = range(%a, %b, %c) : i64[?]\n return %y\n}",
                {I64({}, {0}), I64({}, {5}), I64({}, {0})});
  expectInvalid("graph @g(%x: f32[N], %s: i64[S], %e: i64[E]) {\n %y = slice(%x, %s, %e) : f32[?]\n return %y\n}",
                {f6, I64({1}, {0}), I64({2}, {1, 2})});
  expectInvalid("graph @g(%c: bool[N], %x: f32[M], %y: f32[K]) {\n %o = where(%c, %x, %y) : f32[?]\n return %o\n}",
                {T(DType::Bool, {2}, {1, 0}), F({2}, {1, 2}), F({3}, {1, 2, 3})});
  expectInvalid("graph @g(%x: f32[2, N], %s: f32[K]) {\n %y = layer_norm(%x, %s) : f32[2, ?]\n return %y\n}",
                {F({2, 3}, {1, 2, 3, 4, 5, 6}), F({2}, {1, 1})});
  expectInvalid("graph @g(%x: f32[1, C], %s: f32[K], %b: f32[K], %m: f32[K], %v: f32[K]) {\n"
                " %y = batch_norm(%x, %s, %b, %m, %v) : f32[1, ?]\n return %y\n}",
                {F({1, 2}, {1, 2}), F({3}, {1, 1, 1}), F({3}, {1, 1, 1}), F({3}, {1, 1, 1}), F({3}, {1, 1, 1})});
  expectInvalid("graph @g(%x: f32[1, 1, N]) {\n %y = max_pool(%x) {kernel_shape = [3]} : f32[1, 1, ?]\n return %y\n}",
                {F({1, 1, 2}, {1, 2})});
  expectInvalid("graph @g(%x: i64[N], %s: i64[1]) {\n %y = reduce_min(%x) {keepdims = 0} : i64[]\n return %y\n}",
                {I64({0}, {}), I64({1}, {0})});
}

TEST(PortableKernels, RoundHalfToEven) {
  Compiled c("graph @g(%x: f32[7]) {\n %y = round(%x) : f32[7]\n return %y\n}");
  auto y = c.run({F({7}, {0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, -2.6})});
  EXPECT_EQ(values(y[0]), (std::vector<double>{0, 2, 2, 0, -2, 2, -3}));
  EXPECT_TRUE(std::signbit(y[0].getDouble(3)));  // -0.5 rounds to -0
}

TEST(PortableKernels, IntegerDivAndModSigns) {
  const std::string pre = "graph @g(%a: i32[4], %b: i32[4]) {\n";
  const auto a = I32({4}, {-7, 7, -7, 7}), b = I32({4}, {2, -2, -2, 2});
  Compiled div(pre + " %y = div(%a, %b) : i32[4]\n return %y\n}");
  EXPECT_EQ(values(div.run({a, b})[0]), (std::vector<double>{-3, -3, 3, 3}));
  Compiled mod(pre + " %y = mod(%a, %b) : i32[4]\n return %y\n}");
  EXPECT_EQ(values(mod.run({a, b})[0]), (std::vector<double>{1, -1, -1, 1}));
  Compiled fmod(pre + " %y = mod(%a, %b) {fmod = 1} : i32[4]\n return %y\n}");
  EXPECT_EQ(values(fmod.run({a, b})[0]), (std::vector<double>{-1, 1, -1, 1}));
  // MIN / -1 wraps to MIN.
  auto q = div.run({I32({4}, {INT32_MIN, 1, 1, 1}), I32({4}, {-1, 1, 1, 1})});
  EXPECT_EQ(q[0].getInt(0), INT32_MIN);
  // Division by zero is an error, not a crash.
  EXPECT_THROW(div.run({a, I32({4}, {1, 0, 1, 1})}), sy::sdk::Error);
  EXPECT_THROW(mod.run({a, I32({4}, {1, 0, 1, 1})}), sy::sdk::Error);
  // Float mod takes the divisor's sign.
  Compiled fm("graph @g(%a: f32[2], %b: f32[2]) {\n %y = mod(%a, %b) : f32[2]\n return %y\n}");
  EXPECT_EQ(values(fm.run({F({2}, {-7, 7}), F({2}, {2, -2})})[0]), (std::vector<double>{1, -1}));
}

TEST(PortableKernels, GatherNegativeIndicesAndRange) {
  Compiled c("graph @g(%x: f32[3, 2], %i: i64[2]) {\n %y = gather(%x, %i) {axis = 0} : f32[2, 2]\n return %y\n}");
  ASSERT_TRUE(c.kernel) << c.whyNot;
  const auto x = F({3, 2}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(values(c.run({x, I64({2}, {-1, 0})})[0]), (std::vector<double>{5, 6, 1, 2}));
  EXPECT_THROW(c.run({x, I64({2}, {3, 0})}), sy::sdk::Error);
  EXPECT_THROW(c.run({x, I64({2}, {0, -4})}), sy::sdk::Error);
  Compiled c1("graph @g(%x: f32[3, 2], %i: i32[2, 2]) {\n %y = gather(%x, %i) {axis = -1} : f32[3, 2, 2]\n return %y\n}");
  EXPECT_EQ(values(c1.run({x, I32({2, 2}, {1, 0, -1, -2})})[0]),
            (std::vector<double>{2, 1, 2, 1, 4, 3, 4, 3, 6, 5, 6, 5}));
}

TEST(PortableKernels, SliceNegativeSteps) {
  Compiled c(
      "graph @g(%x: i64[10], %s: i64[1], %e: i64[1], %a: i64[1], %st: i64[1]) {\n"
      " %y = slice(%x, %s, %e, %a, %st) : i64[?]\n return %y\n}");
  ASSERT_TRUE(c.kernel) << c.whyNot;
  const auto x = I64({10}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  EXPECT_EQ(values(c.run({x, I64({1}, {8}), I64({1}, {1}), I64({1}, {0}), I64({1}, {-3})})[0]),
            (std::vector<double>{8, 5, 2}));
  // Reverse everything: start clamps to the last element, end -11 (+10 = -1) means "before 0".
  EXPECT_EQ(values(c.run({x, I64({1}, {-1}), I64({1}, {-11}), I64({1}, {-1}), I64({1}, {-1})})[0]),
            (std::vector<double>{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}));
  EXPECT_EQ(c.run({x, I64({1}, {2}), I64({1}, {5}), I64({1}, {0}), I64({1}, {-1})})[0].numel(), 0);
  EXPECT_THROW(c.run({x, I64({1}, {2}), I64({1}, {5}), I64({1}, {0}), I64({1}, {0})}), sy::sdk::Error);
}

TEST(PortableKernels, PadModes) {
  const std::string pre = "graph @g(%x: f32[3], %p: i64[2]) {\n %y = pad(%x, %p) {mode = ";
  const auto x = F({3}, {1, 2, 3});
  Compiled reflect(pre + "\"reflect\"} : f32[?]\n return %y\n}");
  EXPECT_EQ(values(reflect.run({x, I64({2}, {2, 1})})[0]), (std::vector<double>{3, 2, 1, 2, 3, 2}));
  EXPECT_THROW(reflect.run({x, I64({2}, {3, 0})}), sy::sdk::Error);  // reflect pad must be < size
  Compiled edge(pre + "\"edge\"} : f32[?]\n return %y\n}");
  EXPECT_EQ(values(edge.run({x, I64({2}, {2, 1})})[0]), (std::vector<double>{1, 1, 1, 2, 3, 3}));
  Compiled constant(
      "graph @g(%x: f32[3], %p: i64[2], %v: f32[]) {\n %y = pad(%x, %p, %v) : f32[?]\n return %y\n}");
  EXPECT_EQ(values(constant.run({x, I64({2}, {1, -1}), F({}, {9})})[0]), (std::vector<double>{9, 1, 2}));
}

TEST(PortableKernels, ResizeNearestAndLinear) {
  Compiled lin(
      "graph @g(%x: f32[1, 2], %s: i64[2]) {\n %y = resize(%x, %s) {mode = \"linear\"} : f32[?, ?]\n return %y\n}");
  ASSERT_TRUE(lin.kernel) << lin.whyNot;
  EXPECT_EQ(values(lin.run({F({1, 2}, {1, 2}), I64({2}, {1, 4})})[0]), (std::vector<double>{1, 1.25, 1.75, 2}));
  Compiled near("graph @g(%x: f32[1, 2], %s: f32[2]) {\n %y = resize(%x, %s) : f32[?, ?]\n return %y\n}");
  EXPECT_EQ(values(near.run({F({1, 2}, {1, 2}), F({2}, {1, 2})})[0]), (std::vector<double>{1, 1, 2, 2}));
}

TEST(PortableKernels, ReduceKeepdimsAndNoop) {
  const auto x = F({2, 3}, {1, 2, 3, 4, 5, 6});
  Compiled keep("graph @g(%x: f32[2, 3]) {\n %y = reduce_sum(%x) {axes = [-1]} : f32[2, 1]\n return %y\n}");
  auto y = keep.run({x})[0];
  EXPECT_EQ(y.shape(), (Shape{2, 1}));
  EXPECT_EQ(values(y), (std::vector<double>{6, 15}));
  Compiled drop("graph @g(%x: f32[2, 3]) {\n %y = reduce_max(%x) {axes = [0], keepdims = 0} : f32[3]\n return %y\n}");
  EXPECT_EQ(values(drop.run({x})[0]), (std::vector<double>{4, 5, 6}));
  Compiled all("graph @g(%x: f32[2, 3]) {\n %y = reduce_mean(%x) {keepdims = 0} : f32[]\n return %y\n}");
  auto m = all.run({x})[0];
  EXPECT_EQ(m.shape(), Shape{});
  EXPECT_EQ(m.getDouble(0), 3.5);
  Compiled noop(
      "graph @g(%x: f32[2, 3]) {\n %y = reduce_sum(%x) {noop_with_empty_axes = 1} : f32[2, 3]\n return %y\n}");
  EXPECT_EQ(values(noop.run({x})[0]), values(x));
  // Integer mean truncates toward zero.
  Compiled imean("graph @g(%x: i64[4]) {\n %y = reduce_mean(%x) {keepdims = 0} : i64[]\n return %y\n}");
  EXPECT_EQ(imean.run({I64({4}, {-1, -2, -2, 0})})[0].getInt(0), -1);
}

TEST(PortableKernels, ConcatI64) {
  Compiled c("graph @g(%a: i64[2, 1], %b: i64[2, 2]) {\n %y = concat(%a, %b) {axis = -1} : i64[2, 3]\n return %y\n}");
  ASSERT_TRUE(c.kernel) << c.whyNot;
  auto y = c.run({I64({2, 1}, {1, 2}), I64({2, 2}, {int64_t{1} << 40, 4, 5, -6})})[0];
  EXPECT_EQ(y.getInt(1), int64_t{1} << 40);
  EXPECT_EQ(values(y), (std::vector<double>{1, std::ldexp(1.0, 40), 4, 2, 5, -6}));
}

TEST(PortableKernels, CastTruncatesAndBool) {
  Compiled toI32("graph @g(%x: f32[5]) {\n %y = cast(%x) {to = \"i32\"} : i32[5]\n return %y\n}");
  ASSERT_TRUE(toI32.kernel) << toI32.whyNot;
  auto y = toI32.run({F({5}, {-1.7, 1.7, NAN, 3e9, -0.5})})[0];  // 3e9 wraps to 3e9 - 2^32
  EXPECT_EQ(values(y), (std::vector<double>{-1, 1, 0, -1294967296, 0}));
  Compiled toBool("graph @g(%x: f32[4]) {\n %y = cast(%x) {to = \"bool\"} : bool[4]\n return %y\n}");
  EXPECT_EQ(values(toBool.run({F({4}, {0, -0.0, 2, NAN})})[0]), (std::vector<double>{0, 0, 1, 1}));
  Compiled fromBool("graph @g(%x: bool[2]) {\n %y = cast(%x) {to = \"f16\"} : f16[2]\n return %y\n}");
  EXPECT_EQ(values(fromBool.run({T(DType::Bool, {2}, {1, 0})})[0]), (std::vector<double>{1, 0}));
}

TEST(PortableKernels, HalfConversionsCoverEveryBitPattern) {
  // All 65536 f16 patterns, through the four-lane widening and narrowing paths
  // (Inf/NaN lanes included, which once overflowed a signed add under UBSan),
  // agree with the scalar conversions bit for bit (NaN: NaN).
  const int64_t n = 65536;
  auto h = sy::Tensor::allocate(DType::F16, {n});
  ASSERT_TRUE(h.ok());
  auto* hp = static_cast<uint16_t*>(h->mutableData());
  for (int64_t i = 0; i < n; ++i) hp[i] = static_cast<uint16_t>(i);
  Compiled widen("graph @g(%x: f16[65536]) {\n %y = cast(%x) {to = \"f32\"} : f32[65536]\n return %y\n}");
  ASSERT_TRUE(widen.kernel) << widen.whyNot;
  const sy::Tensor f = widen.run({*h}, 1)[0];
  const auto* fp = static_cast<const float*>(f.data());
  for (int64_t i = 0; i < n; ++i) {
    const float want = sy::halfToFloat(static_cast<uint16_t>(i));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(fp[i])) << "f16 bits " << i;
    } else {
      uint32_t a, b;
      std::memcpy(&a, &fp[i], 4);
      std::memcpy(&b, &want, 4);
      EXPECT_EQ(a, b) << "f16 bits " << i;
    }
  }
  Compiled narrow("graph @g(%x: f32[65536]) {\n %y = cast(%x) {to = \"f16\"} : f16[65536]\n return %y\n}");
  ASSERT_TRUE(narrow.kernel) << narrow.whyNot;
  const sy::Tensor back = narrow.run({f}, 1)[0];
  const auto* bp = static_cast<const uint16_t*>(back.data());
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(fp[i])) {
      EXPECT_EQ(bp[i] & 0x7C00, 0x7C00) << "f16 bits " << i;
      EXPECT_NE(bp[i] & 0x03FF, 0) << "f16 bits " << i;
    } else {
      EXPECT_EQ(bp[i], static_cast<uint16_t>(i)) << "f16 bits " << i;
    }
  }
}

TEST(PortableKernels, MaximumPropagatesNaN) {
  Compiled c("graph @g(%a: f32[3], %b: f32[3]) {\n %y = maximum(%a, %b) : f32[3]\n return %y\n}");
  auto y = c.run({F({3}, {NAN, 1, 2}), F({3}, {0, NAN, 1})})[0];
  EXPECT_TRUE(std::isnan(y.getDouble(0)));
  EXPECT_TRUE(std::isnan(y.getDouble(1)));
  EXPECT_EQ(y.getDouble(2), 2);
}

/// Compares the kernel with the reference on given inputs.
void againstReference(const std::string& text, const std::vector<sy::Tensor>& inputs) {
  SCOPED_TRACE(text);
  Compiled c(text);
  ASSERT_TRUE(c.kernel) << c.whyNot;
  const std::vector<sy::Tensor> want = reference(c, inputs);
  const std::vector<sy::Tensor> got = c.run(inputs);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(close(got[i], want[i])) << "output " << i;
}

TEST(PortableKernels, NaNAndInfinities) {
  const double inf = INFINITY;
  const auto x = F({2, 5}, {1, NAN, 2, -3, 0.5, -inf, inf, 100, -100, 0});
  for (const char* op : {"softmax", "log_softmax", "exp", "sigmoid", "tanh", "relu", "silu", "gelu", "erf", "abs",
                         "sign", "round"})
    againstReference(std::string("graph @g(%x: f32[2, 5]) {\n %y = ") + op + "(%x) : f32[2, 5]\n return %y\n}", {x});
  for (const char* op : {"reduce_max", "reduce_min", "reduce_sum", "argmax", "argmin"})
    againstReference(std::string("graph @g(%x: f32[2, 5]) {\n %y = ") + op +
                         (op[0] == 'a' ? "(%x) {axis = 1} : i64" : "(%x) {axes = [1]} : f32") + "[2, 1]\n return %y\n}",
                     {x});
  againstReference("graph @g(%x: f32[2, 5]) {\n %y = clip(%x) {min = -1.0, max = 1.0} : f32[2, 5]\n return %y\n}", {x});
  againstReference("graph @g(%a: f32[2, 5], %b: f32[5]) {\n %y = maximum(%a, %b) : f32[2, 5]\n return %y\n}",
                   {x, F({5}, {0, 0, NAN, 0, 0})});
  againstReference("graph @g(%x: f32[1, 2, 5]) {\n %y = max_pool(%x) {kernel_shape = [2], pads = [1, 1]} : "
                   "f32[1, 2, 6]\n return %y\n}",
                   {F({1, 2, 5}, {1, NAN, 2, -3, 0.5, -inf, inf, 100, -100, 0})});
  // A row that is all -inf: softmax gives NaN (-inf - -inf), like the reference.
  againstReference("graph @g(%x: f32[1, 3]) {\n %y = softmax(%x) : f32[1, 3]\n return %y\n}",
                   {F({1, 3}, {-inf, -inf, -inf})});
  againstReference("graph @g(%x: f32[6]) {\n %y = exp(%x) : f32[6]\n return %y\n}",
                   {F({6}, {88.7, 88.73, -87.5, -104, 89, -inf})});
}

TEST(PortableKernels, DeclinesWithAReason) {
  Compiled c("graph @g(%x: bool[3]) {\n %y = relu(%x) : bool[3]\n return %y\n}");
  // The verifier may refuse the graph first; when it parses, the kernel declines with a reason.
  if (c.graph) {
    EXPECT_FALSE(c.kernel);
    EXPECT_NE(c.whyNot.find("relu"), std::string::npos) << c.whyNot;
  }
}

// ===========================================================================
// Sweep against the reference interpreter

TEST(PortableKernelsSweep, Unary) {
  for (const char* op : {"abs", "neg", "ceil", "floor", "round", "cos", "sin", "erf", "exp", "tanh", "sigmoid",
                         "silu", "relu", "sign", "gelu", "leaky_relu", "reciprocal"}) {
    for (const char* dt : {"f32", "f16", "bf16"})
      sweep(std::string("graph @g(%x: ") + dt + "[37, 501]) {\n %y = " + op + "(%x) : " + dt +
            "[37, 501]\n return %y\n}");
  }
  for (const char* op : {"log", "sqrt", "rsqrt"})
    sweep(std::string("graph @g(%x: f32[1000]) {\n %y = ") + op + "(%x) : f32[1000]\n return %y\n}", 0.01, 5);
  sweep("graph @g(%x: f32[1000]) {\n %y = gelu(%x) {approximate = \"tanh\"} : f32[1000]\n return %y\n}");
  sweep("graph @g(%x: f32[100]) {\n %y = clip(%x) {max = 1.5, min = -0.5} : f32[100]\n return %y\n}");
  for (const char* dt : {"i8", "i32", "i64"}) {
    for (const char* op : {"abs", "neg", "sign", "relu"})
      sweep(std::string("graph @g(%x: ") + dt + "[100]) {\n %y = " + op + "(%x) : " + dt + "[100]\n return %y\n}", -100, 100);
    sweep(std::string("graph @g(%x: ") + dt + "[100]) {\n %y = clip(%x) {max = 10.5, min = -3.5} : " + dt +
          "[100]\n return %y\n}", -100, 100);
  }
  sweep("graph @g(%x: bool[100]) {\n %y = logical_not(%x) : bool[100]\n return %y\n}");
}

TEST(PortableKernelsSweep, Binary) {
  const char* shapes[][3] = {{"[64, 300]", "[64, 300]", "[64, 300]"}, {"[64, 300]", "[300]", "[64, 300]"},
                             {"[64, 1]", "[1, 300]", "[64, 300]"},     {"[]", "[7, 9]", "[7, 9]"},
                             {"[3, 1, 5]", "[4, 1]", "[3, 4, 5]"},     {"[2, 3, 4, 5]", "[3, 1, 5]", "[2, 3, 4, 5]"}};
  for (const char* op : {"add", "sub", "mul", "div", "maximum", "minimum", "pow", "mod"})
    for (const char* dt : {"f32", "i32", "i64", "i8", "f16"})
      for (const auto& s : shapes) {
        const bool isInt = dt[0] == 'i';
        const std::string text = std::string("graph @g(%a: ") + dt + s[0] + ", %b: " + dt + s[1] + ") {\n %y = " +
                                 op + "(%a, %b) : " + dt + s[2] + "\n return %y\n}";
        if (std::string(op) == "div" || std::string(op) == "mod") sweep(text, 1, 9, isInt);  // no zero divisors
        else if (std::string(op) == "pow") sweep(text, 0.5, 3, isInt);
        else sweep(text, -50, 50, isInt);
      }
  for (const char* op : {"equal", "less", "less_equal", "greater", "greater_equal"})
    for (const char* dt : {"f32", "i32", "i64", "i8", "bf16"})
      for (const auto& s : shapes)
        sweep(std::string("graph @g(%a: ") + dt + s[0] + ", %b: " + dt + s[1] + ") {\n %y = " + op + "(%a, %b) : bool" +
                  s[2] + "\n return %y\n}",
              -2, 2, true);
  for (const char* op : {"logical_and", "logical_or", "logical_xor", "equal"})
    for (const auto& s : shapes)
      sweep(std::string("graph @g(%a: bool") + s[0] + ", %b: bool" + s[1] + ") {\n %y = " + op + "(%a, %b) : bool" +
            s[2] + "\n return %y\n}");
  sweep("graph @g(%c: bool[3, 1, 5], %x: i64[4, 1], %y: i64[3, 4, 5]) {\n %o = where(%c, %x, %y) : i64[3, 4, 5]\n return %o\n}");
  sweep("graph @g(%c: bool[300], %x: f16[300], %y: f16[]) {\n %o = where(%c, %x, %y) : f16[300]\n return %o\n}");
}

TEST(PortableKernelsSweep, Cast) {
  const char* dts[] = {"f32", "f16", "bf16", "i8", "i32", "i64", "bool"};
  for (const char* from : dts)
    for (const char* to : dts)
      sweep(std::string("graph @g(%x: ") + from + "[50]) {\n %y = cast(%x) {to = \"" + to + "\"} : " + to +
                "[50]\n return %y\n}",
            -300, 300);
}

TEST(PortableKernelsSweep, Reductions) {
  const char* axes[] = {"[]", "[0]", "[1]", "[-1]", "[0, 2]", "[1, 2]", "[0, 1, 2]", "[2, 0]"};
  for (const char* op : {"reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod"})
    for (const char* dt : {"f32", "i32", "i64", "f16"})
      for (const char* ax : axes)
        for (int keep : {0, 1}) {
          const std::string text = std::string("graph @g(%x: ") + dt + "[6, 70, 9]) {\n %y = " + op +
                                   "(%x) {axes = " + ax + ", keepdims = " + std::to_string(keep) + "} : " + dt +
                                   "[*]\n return %y\n}";
          if (std::string(op) == "reduce_prod") sweep(text, 0.9, 1.1, dt[0] == 'i');
          else sweep(text, -5, 5, dt[0] == 'i');
        }
  for (const char* op : {"argmax", "argmin"})
    for (const char* dt : {"f32", "i32", "i8"})
      for (int axis : {0, 1, -1})
        for (int last : {0, 1})
          sweep(std::string("graph @g(%x: ") + dt + "[5, 40, 7]) {\n %y = " + op + "(%x) {axis = " +
                    std::to_string(axis) + ", select_last_index = " + std::to_string(last) + "} : i64[*]\n return %y\n}",
                -3, 3, true);
  for (const char* op : {"softmax", "log_softmax"})
    for (int axis : {0, 1, -1})
      sweep(std::string("graph @g(%x: f32[5, 300, 7]) {\n %y = ") + op + "(%x) {axis = " + std::to_string(axis) +
            "} : f32[5, 300, 7]\n return %y\n}", -10, 10);
  sweep("graph @g(%x: f16[4, 33]) {\n %y = softmax(%x) : f16[4, 33]\n return %y\n}");
}

TEST(PortableKernelsSweep, Normalization) {
  sweep("graph @g(%x: f32[2, 3, 5, 7], %s: f32[3], %b: f32[3], %m: f32[3], %v: f32[3]) {\n"
        " %y = batch_norm(%x, %s, %b, %m, %v) : f32[2, 3, 5, 7]\n return %y\n}", 0.1, 3);
  sweep("graph @g(%x: f32[2, 3, 5, 7], %s: f32[3], %b: f32[3]) {\n"
        " %y = instance_norm(%x, %s, %b) {epsilon = 0.001} : f32[2, 3, 5, 7]\n return %y\n}");
  sweep("graph @g(%x: f32[4, 6, 50], %s: f32[50], %b: f32[50]) {\n"
        " %y = layer_norm(%x, %s, %b) : f32[4, 6, 50]\n return %y\n}");
  sweep("graph @g(%x: f32[4, 6, 50], %s: f32[6, 1]) {\n"
        " %y = layer_norm(%x, %s) {axis = 1} : f32[4, 6, 50]\n return %y\n}");
  // A large common offset must not cost the statistics their precision.
  sweep("graph @g(%x: f32[3, 1000], %s: f32[1000]) {\n %y = layer_norm(%x, %s) : f32[3, 1000]\n return %y\n}", 3000, 3002);
  sweep("graph @g(%x: f32[1, 2, 999], %s: f32[2], %b: f32[2]) {\n"
        " %y = instance_norm(%x, %s, %b) : f32[1, 2, 999]\n return %y\n}", -5001, -5000);
  sweep("graph @g(%x: bf16[4, 64], %s: bf16[64], %b: bf16[64]) {\n"
        " %y = layer_norm(%x, %s, %b) : bf16[4, 64]\n return %y\n}");
}

TEST(PortableKernelsSweep, DataMovement) {
  for (const char* dt : {"f32", "f16", "i8", "i32", "i64", "bool"}) {
    const std::string t = dt;
    sweep("graph @g(%x: " + t + "[2, 3, 40, 50]) {\n %y = transpose(%x) {perm = [0, 2, 3, 1]} : " + t +
          "[2, 40, 50, 3]\n return %y\n}");
    sweep("graph @g(%x: " + t + "[64, 48]) {\n %y = transpose(%x) : " + t + "[48, 64]\n return %y\n}");
    sweep("graph @g(%x: " + t + "[37, 53]) {\n %y = transpose(%x) : " + t + "[53, 37]\n return %y\n}");
    sweep("graph @g(%x: " + t + "[5, 67, 45]) {\n %y = transpose(%x) {perm = [0, 2, 1]} : " + t +
          "[5, 45, 67]\n return %y\n}");
    sweep("graph @g(%x: " + t + "[2, 3, 4]) {\n %y = transpose(%x) {perm = [1, -1, 0]} : " + t +
          "[3, 4, 2]\n return %y\n}");
    sweep("graph @g(%a: " + t + "[2, 3, 4], %b: " + t + "[2, 5, 4]) {\n %y = concat(%a, %b) {axis = 1} : " + t +
          "[2, 8, 4]\n return %y\n}");
    sweep("graph @g(%x: " + t + "[2, 7, 4]) {\n %a, %b, %c = split(%x) {axis = 1} : " + t + "[2, 3, 4], " + t +
          "[2, 3, 4], " + t + "[2, 1, 4]\n return %a, %b, %c\n}");
    sweep("graph @g(%x: " + t + "[3, 4]) {\n %r = constant() {value = tensor<i64[2]>[2, 1]} : i64[2]\n"
          " %y = tile(%x, %r) : " + t + "[6, 4]\n return %y\n}");
    sweep("graph @g(%x: " + t + "[3, 1]) {\n %s = constant() {value = tensor<i64[3]>[2, 3, 4]} : i64[3]\n"
          " %y = expand(%x, %s) : " + t + "[2, 3, 4]\n return %y\n}");
    sweep("graph @g(%x: " + t + "[5, 6]) {\n %i = constant() {value = tensor<i64[2, 2]>[4, -5, 0, 2]} : i64[2, 2]\n"
          " %y = gather(%x, %i) {axis = 1} : " + t + "[5, 2, 2]\n return %y\n}");
    sweep("graph @g(%x: " + t + "[6, 7]) {\n"
          " %s = constant() {value = tensor<i64[2]>[5, 1]} : i64[2]\n"
          " %e = constant() {value = tensor<i64[2]>[-100, 7]} : i64[2]\n"
          " %a = constant() {value = tensor<i64[2]>[0, 1]} : i64[2]\n"
          " %st = constant() {value = tensor<i64[2]>[-2, 2]} : i64[2]\n"
          " %y = slice(%x, %s, %e, %a, %st) : " + t + "[3, 3]\n return %y\n}");
    for (const char* mode : {"constant", "reflect", "edge"})
      sweep("graph @g(%x: " + t + "[4, 5]) {\n %p = constant() {value = tensor<i64[4]>[1, -1, 2, 3]} : i64[4]\n"
            " %y = pad(%x, %p) {mode = \"" + mode + "\"} : " + t + "[7, 7]\n return %y\n}");
    sweep("graph @g(%x: " + t + "[2, 3, 4]) {\n %s = constant() {value = tensor<i64[2]>[0, -1]} : i64[2]\n"
          " %y = reshape(%x, %s) : " + t + "[2, 12]\n return %y\n}");
    sweep("graph @g(%x: " + t + "[2, 1, 4]) {\n %y = squeeze(%x) : " + t + "[2, 4]\n return %y\n}");
    sweep("graph @g(%x: " + t + "[2, 4]) {\n %y = unsqueeze(%x) {axes = [0, -1]} : " + t + "[1, 2, 4, 1]\n return %y\n}");
    sweep("graph @g(%x: " + t + "[2, 3, 4]) {\n %y = flatten(%x) {axis = -1} : " + t + "[6, 4]\n return %y\n}");
    sweep("graph @g(%x: " + t + "[2, 3, 4]) {\n %y = shape(%x) {start = -2} : i64[2]\n return %y\n}");
    sweep("graph @g(%x: " + t + "[2, 3, 4, 4]) {\n %s = constant() {value = tensor<f32[4]>[1.0, 1.0, 1.5, 0.5]} : f32[4]\n"
          " %y = resize(%x, %s) {nearest_mode = \"ceil\", coordinate_transformation_mode = \"asymmetric\"} : " + t +
          "[2, 3, 6, 2]\n return %y\n}");
  }
  sweep("graph @g() {\n %s = constant() {value = tensor<i64[2]>[3, 4]} : i64[2]\n"
        " %y = constant_of_shape(%s) {value = tensor<i32[1]>[7]} : i32[3, 4]\n return %y\n}");
  sweep("graph @g() {\n %a = constant() {value = tensor<f32[]>[1.0]} : f32[]\n"
        " %b = constant() {value = tensor<f32[]>[-2.0]} : f32[]\n %c = constant() {value = tensor<f32[]>[-0.3]} : f32[]\n"
        " %y = range(%a, %b, %c) : f32[10]\n return %y\n}");
  sweep("graph @g() {\n %a = constant() {value = tensor<i32[]>[10]} : i32[]\n"
        " %b = constant() {value = tensor<i32[]>[-3]} : i32[]\n %c = constant() {value = tensor<i32[]>[-4]} : i32[]\n"
        " %y = range(%a, %b, %c) : i32[4]\n return %y\n}");
  for (const char* ctm : {"half_pixel", "pytorch_half_pixel", "asymmetric", "align_corners"})
    sweep(std::string("graph @g(%x: f32[2, 3, 5, 4]) {\n %s = constant() {value = tensor<i64[4]>[2, 3, 8, 7]} : i64[4]\n"
                      " %y = resize(%x, %s) {mode = \"linear\", coordinate_transformation_mode = \"") +
          ctm + "\"} : f32[2, 3, 8, 7]\n return %y\n}");
  sweep("graph @g(%x: f32[2, 3, 5, 4]) {\n %s = constant() {value = tensor<i64[4]>[2, 3, 9, 3]} : i64[4]\n"
        " %y = resize(%x, %s) {mode = \"cubic\", exclude_outside = 1} : f32[2, 3, 9, 3]\n return %y\n}");
  for (const char* mode : {"bilinear", "nearest", "bicubic"})
    sweep(std::string("graph @g(%x: f32[2, 3, 6, 7], %g: f32[2, 9, 11, 2]) {\n"
                      " %y = grid_sample(%x, %g) {padding_mode = \"reflection\", mode = \"") +
              mode + "\"} : f32[2, 3, 9, 11]\n return %y\n}",
          -1.2, 1.2);
}

TEST(PortableKernelsSweep, NeuralNetwork) {
  sweep("graph @g(%a: f32[3, 70, 90], %b: f32[90, 65]) {\n %y = matmul(%a, %b) : f32[3, 70, 65]\n return %y\n}");
  sweep("graph @g(%a: f32[2, 1, 5, 9], %b: f32[3, 9, 4]) {\n %y = matmul(%a, %b) : f32[2, 3, 5, 4]\n return %y\n}");
  sweep("graph @g(%a: f32[9], %b: f32[2, 9, 4]) {\n %y = matmul(%a, %b) : f32[2, 4]\n return %y\n}");
  sweep("graph @g(%a: f32[2, 5, 9], %b: f32[9]) {\n %y = matmul(%a, %b) : f32[2, 5]\n return %y\n}");
  for (const char* dt : {"i32", "i64", "f16"})
    sweep(std::string("graph @g(%a: ") + dt + "[2, 5, 9], %b: " + dt + "[2, 9, 4]) {\n %y = matmul(%a, %b) : " + dt +
          "[2, 5, 4]\n return %y\n}", -3, 3, true);
  sweep("graph @g(%a: f32[20, 30], %b: f32[40, 20], %c: f32[40]) {\n"
        " %y = gemm(%a, %b, %c) {alpha = 0.5, beta = 2.0, transA = 1, transB = 1} : f32[30, 40]\n return %y\n}");
  sweep("graph @g(%a: f32[20, 30], %b: f32[30, 40], %c: f32[20, 1]) {\n"
        " %y = gemm(%a, %b, %c) : f32[20, 40]\n return %y\n}");
  sweep("graph @g(%x: f32[2, 4, 11, 13], %w: f32[6, 2, 3, 3], %b: f32[6]) {\n"
        " %y = conv(%x, %w, %b) {group = 2, pads = [1, 0, 2, 1], strides = [2, 1], dilations = [1, 2]} : "
        "f32[2, 6, 6, 10]\n return %y\n}");
  sweep("graph @g(%x: f32[1, 3, 20, 20], %w: f32[8, 3, 3, 3]) {\n"
        " %y = conv(%x, %w) {auto_pad = \"SAME_UPPER\", strides = [2, 2]} : f32[1, 8, 10, 10]\n return %y\n}");
  sweep("graph @g(%x: f32[2, 8, 9, 9], %w: f32[4, 8, 1, 1]) {\n %y = conv(%x, %w) : f32[2, 4, 9, 9]\n return %y\n}");
  sweep("graph @g(%x: f32[1, 2, 9, 10], %w: f32[3, 2, 3, 2]) {\n"
        " %y = conv(%x, %w) {strides = [1, 3], pads = [2, 1, 0, 2], dilations = [2, 1]} : f32[*]\n return %y\n}");
  sweep("graph @g(%x: f32[1, 16, 40, 40], %w: f32[8, 16, 3, 3]) {\n"
        " %y = conv(%x, %w) {pads = [1, 1, 1, 1]} : f32[1, 8, 40, 40]\n return %y\n}");
  sweep("graph @g(%x: f32[2, 3, 30], %w: f32[5, 3, 4]) {\n %y = conv(%x, %w) {pads = [1, 2]} : f32[2, 5, 30]\n return %y\n}");
  sweep("graph @g(%x: f32[1, 2, 4, 5, 6], %w: f32[3, 2, 2, 3, 2]) {\n %y = conv(%x, %w) : f32[1, 3, 3, 3, 5]\n return %y\n}");
  sweep("graph @g(%x: f32[2, 4, 5, 6], %w: f32[4, 3, 3, 3], %b: f32[6]) {\n"
        " %y = conv_transpose(%x, %w, %b) {group = 2, strides = [2, 3], pads = [1, 0, 0, 1], output_padding = [1, 0], "
        "dilations = [1, 2]} : f32[2, 6, 11, 19]\n return %y\n}");
  sweep("graph @g(%x: f32[1, 2, 5], %w: f32[2, 3, 3]) {\n"
        " %y = conv_transpose(%x, %w) {output_shape = [12], strides = [2]} : f32[1, 3, 12]\n return %y\n}");
  sweep("graph @g(%x: f32[2, 3, 11, 12]) {\n"
        " %y = max_pool(%x) {kernel_shape = [3, 2], strides = [2, 2], pads = [1, 0, 1, 1], ceil_mode = 1} : "
        "f32[2, 3, 6, 6]\n return %y\n}");
  sweep("graph @g(%x: i8[2, 3, 11, 12]) {\n"
        " %y = max_pool(%x) {kernel_shape = [3, 3], dilations = [2, 1], pads = [2, 1, 2, 1]} : i8[2, 3, 11, 12]\n"
        " return %y\n}", -100, 100);
  for (int cip : {0, 1})
    sweep("graph @g(%x: f32[2, 3, 11, 12]) {\n %y = avg_pool(%x) {kernel_shape = [3, 3], strides = [2, 2], "
          "pads = [1, 1, 2, 2], ceil_mode = 1, count_include_pad = " + std::to_string(cip) +
          "} : f32[2, 3, 6, 7]\n return %y\n}");
  sweep("graph @g(%x: f32[2, 3, 20]) {\n %y = avg_pool(%x) {kernel_shape = [4], auto_pad = \"SAME_LOWER\", "
        "strides = [3]} : f32[2, 3, 7]\n return %y\n}");
  sweep("graph @g(%x: f32[2, 3, 5, 6]) {\n %y = global_avg_pool(%x) : f32[2, 3, 1, 1]\n return %y\n}");
  sweep("graph @g(%x: f32[2, 3, 5, 6]) {\n %y = global_max_pool(%x) : f32[2, 3, 1, 1]\n return %y\n}");
  sweep("graph @g(%x: i8[2, 3, 5, 6]) {\n %y = global_max_pool(%x) : i8[2, 3, 1, 1]\n return %y\n}", -100, 100);
  sweep("graph @g(%x: f16[1, 3, 8, 8], %w: f16[4, 3, 3, 3]) {\n %y = conv(%x, %w) : f16[1, 4, 6, 6]\n return %y\n}");
}

TEST(PortableKernelsSweep, EmptyAndScalar) {
  sweep("graph @g(%a: f32[0, 3], %b: f32[3]) {\n %y = add(%a, %b) : f32[0, 3]\n return %y\n}");
  sweep("graph @g(%a: f32[], %b: f32[]) {\n %y = mul(%a, %b) : f32[]\n return %y\n}");
  sweep("graph @g(%x: f32[0, 4]) {\n %y = reduce_sum(%x) {axes = [0]} : f32[1, 4]\n return %y\n}");
  sweep("graph @g(%x: f32[0, 4]) {\n %y = reduce_max(%x) {axes = [0], keepdims = 0} : f32[4]\n return %y\n}");
  sweep("graph @g(%x: f32[]) {\n %y = softmax(%x) : f32[]\n return %y\n}");
  sweep("graph @g(%x: f32[]) {\n %s = constant() {value = tensor<i64[3]>[1, 1, 1]} : i64[3]\n"
        " %y = reshape(%x, %s) : f32[1, 1, 1]\n return %y\n}");
  sweep("graph @g(%x: f32[]) {\n %y = argmax(%x) : i64[]\n return %y\n}");
  sweep("graph @g(%x: f32[2, 0, 3]) {\n %y = transpose(%x) : f32[3, 0, 2]\n return %y\n}");
}

}  // namespace
