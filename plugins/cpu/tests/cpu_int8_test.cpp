// The cpu plugin's oneDNN paths for matmul_integer and conv_integer (issue
// #14), compared bit
// for bit with the reference interpreter (the SDK's portable kernel): u8 and
// i8 `a` times i8 `b`, zero points absent, per tensor constant or given at
// run time, 2-D and batched (b shared or batched too), constant b (packed at
// compile) or b a graph input; the profile names the oneDNN step
// ("matmul_integer (oneDNN)"), and the cases it declines (per-row zero
// points, u8 b) stay on the portable kernel's step. conv_integer: 1-D to 3-D,
// strides, dilations, pads, auto_pad, groups (depthwise too), x_zero_point
// given or not, w_zero_point absent or zeros; a non-zero w_zero_point or a
// non-constant w stays on the portable kernel; at 2 threads conv_integer is
// cut into rows or images, the same bits. SY_BENCH_INT8=1 also times
// a [1, 128, 768] x [768, 768] matmul_integer on both at 1 thread.
#include <gtest/gtest.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>
#include <sstream>

#include "switchyard/engine.h"
#include "switchyard/interpreter.h"
#include "switchyard/profile.h"
#include "switchyard/text.h"
#include "cpu_step_test_util.h"
#include "test_util.h"

namespace sy {
namespace {

using cpu_test::cpuEngine;
using cpu_test::CpuAndReference;
using cpu_test::runOnCpuAndReference;
using cpu_test::has;
using cpu_test::shapeOf;

/// The plugin takes the oneDNN path only where int8 sums are exact (VNNI).
bool hasVnni() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  return isa == dnnl::cpu_isa::avx512_core_vnni || isa == dnnl::cpu_isa::avx512_core_bf16 ||
         isa == dnnl::cpu_isa::avx512_core_amx || isa == dnnl::cpu_isa::avx2_vnni;
}

int64_t count(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

std::vector<double> randomInts(int64_t n, bool u8, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> dist(u8 ? 0 : -128, u8 ? 255 : 127);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = dist(gen);
  return v;
}

std::string literal(const std::string& dt, const std::vector<int64_t>& dims, const std::vector<double>& v) {
  std::ostringstream os;
  os << "tensor<" << dt << "[" << shapeOf(dims) << "]>[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << static_cast<int64_t>(v[i]);
  os << "]";
  return os.str();
}

struct Case {
  std::string aType = "u8", bType = "i8";
  std::vector<int64_t> a = {5, 7}, b = {7, 3};
  bool bConst = true;
  int zp = 0;          // 0: none, 1: a's only (graph input), 2: both (a's a graph input, b's a constant)
  bool perRowAZp = false;  // a_zero_point with one element per row (declined)
};

std::string describe(const Case& c) {
  return c.aType + "[" + shapeOf(c.a) + "] x " + c.bType + "[" + shapeOf(c.b) + "]" + (c.bConst ? " const b" : "") +
         " zp " + std::to_string(c.zp) + (c.perRowAZp ? " per-row" : "");
}

std::vector<int64_t> outShape(const Case& c) {
  std::vector<int64_t> o = c.a;
  o.back() = c.b.back();
  return o;
}

int64_t rows(const Case& c) { return c.a[c.a.size() - 2]; }

std::string graphText(const Case& c) {
  const std::vector<int64_t> zpDims = c.perRowAZp ? std::vector<int64_t>{rows(c)} : std::vector<int64_t>{};
  std::string t = "graph @g(%a: " + c.aType + "[" + shapeOf(c.a) + "]";
  if (!c.bConst) t += ", %b: " + c.bType + "[" + shapeOf(c.b) + "]";
  if (c.zp >= 1) t += ", %azp: " + c.aType + "[" + shapeOf(zpDims) + "]";
  t += ") {\n";
  if (c.bConst)
    t += "  %b = constant() {value = " + literal(c.bType, c.b, randomInts(count(c.b), c.bType == "u8", 41)) +
         "} : " + c.bType + "[" + shapeOf(c.b) + "]\n";
  std::string args = "%a, %b";
  if (c.zp >= 1) args += ", %azp";
  if (c.zp >= 2) {
    t += "  %bzp = constant() {value = " + literal(c.bType, {1}, {c.bType == "u8" ? 131.0 : -7.0}) + "} : " +
         c.bType + "[1]\n";
    args += ", %bzp";
  }
  t += "  %y = matmul_integer(" + args + ") : i32[" + shapeOf(outShape(c)) + "]\n  return %y\n}\n";
  return t;
}

std::vector<Tensor> inputsOf(const Case& c) {
  std::vector<Tensor> in = {testing::T(c.aType == "u8" ? DType::U8 : DType::I8, Shape(c.a.begin(), c.a.end()),
                                       randomInts(count(c.a), c.aType == "u8", 42))};
  if (!c.bConst)
    in.push_back(testing::T(c.bType == "u8" ? DType::U8 : DType::I8, Shape(c.b.begin(), c.b.end()),
                            randomInts(count(c.b), c.bType == "u8", 43)));
  if (c.zp >= 1) {
    const int64_t n = c.perRowAZp ? rows(c) : 1;
    const std::vector<double> v(static_cast<size_t>(n), c.aType == "u8" ? 117.0 : 9.0);
    in.push_back(c.perRowAZp ? testing::T(c.aType == "u8" ? DType::U8 : DType::I8, Shape{n}, v)
                             : testing::T(c.aType == "u8" ? DType::U8 : DType::I8, Shape{}, v));
  }
  return in;
}

/// Runs `c` on cpu (profiled) and the reference, expects the same i32 bits;
/// returns the cpu step names.
std::vector<std::string> runAndCompareText(const std::string& text, const std::vector<Tensor>& inputs) {
  const std::optional<CpuAndReference> r = runOnCpuAndReference(text, inputs);
  if (!r) return {};
  EXPECT_EQ(r->cpu.size(), 1u);
  EXPECT_EQ(r->reference.size(), 1u);
  if (r->cpu.size() != 1 || r->reference.size() != 1) return {};
  const Tensor &x = r->cpu[0], &y = r->reference[0];
  EXPECT_EQ(x.dtype(), DType::I32);
  EXPECT_EQ(x.shape(), y.shape());
  if (x.shape() != y.shape() || x.dtype() != y.dtype()) return {};
  EXPECT_EQ(x.nbytes(), y.nbytes());
  const int32_t* p = static_cast<const int32_t*>(x.data());
  const int32_t* q = static_cast<const int32_t*>(y.data());
  bool anyNonZero = false;
  for (int64_t j = 0; j < x.numel(); ++j) {
    anyNonZero |= q[j] != 0;
    if (p[j] != q[j]) {
      ADD_FAILURE() << "element " << j << ": cpu " << p[j] << ", reference " << q[j];
      return {};
    }
  }
  EXPECT_TRUE(anyNonZero);
  return r->steps;
}

std::vector<std::string> runAndCompare(const Case& c) {
  SCOPED_TRACE(describe(c));
  return runAndCompareText(graphText(c), inputsOf(c));
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += "'" + x + "' ";
  return s;
}

TEST(CpuInt8, MatmulIntegerOnOneDnnMatchesTheReferenceBitForBit) {
  if (!hasVnni()) GTEST_SKIP() << "this CPU has no VNNI: the plugin keeps matmul_integer on the portable kernel";
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> shapes = {
      {{5, 7}, {7, 3}}, {{2, 5, 7}, {7, 3}}, {{3, 4, 33}, {3, 33, 17}}, {{2, 2, 6, 40}, {40, 19}}};
  for (const char* aType : {"u8", "i8"}) {
    for (const auto& [a, b] : shapes) {
      for (bool bConst : {true, false}) {
        for (int zp : {0, 1, 2}) {
          Case c;
          c.aType = aType;
          c.a = a;
          c.b = b;
          c.bConst = bConst;
          c.zp = zp;
          const std::vector<std::string> steps = runAndCompare(c);
          EXPECT_TRUE(has(steps, "matmul_integer (oneDNN)")) << describe(c) << ": steps " << joined(steps);
        }
      }
    }
  }
}

TEST(CpuInt8, LongerContraction) {
  if (!hasVnni()) GTEST_SKIP() << "this CPU has no VNNI: the plugin keeps matmul_integer on the portable kernel";
  Case c;
  c.a = {3, 64, 1000};
  c.b = {1000, 70};
  c.zp = 2;
  EXPECT_TRUE(has(runAndCompare(c), "matmul_integer (oneDNN)"));
  c.aType = "i8";
  c.bConst = false;
  EXPECT_TRUE(has(runAndCompare(c), "matmul_integer (oneDNN)"));
}

TEST(CpuInt8, CasesOneDnnDoesNotTakeStayOnThePortableKernel) {
  std::vector<Case> cases(2);
  cases[0].zp = 1;
  cases[0].perRowAZp = true;  // one zero point per row of a
  cases[1].bType = "u8";      // no u8 weights in oneDNN 2.6's CPU matmul
  cases[1].zp = 2;
  for (const Case& c : cases) {
    const std::vector<std::string> steps = runAndCompare(c);
    EXPECT_TRUE(has(steps, "matmul_integer")) << describe(c) << ": steps " << joined(steps);
    EXPECT_FALSE(has(steps, "matmul_integer (oneDNN)")) << describe(c);
  }
}

struct ConvCase {
  std::string xType = "u8";
  std::vector<int64_t> x = {2, 4, 9, 8};
  int64_t M = 6, group = 1;
  std::vector<int64_t> k = {3, 3}, strides = {1, 1}, dilations = {1, 1}, pads = {1, 1, 1, 1};
  std::string autoPad;   // "" : explicit pads
  bool xZp = true;       // a graph input
  int wZp = 0;           // 0: absent, 1: constant zeros [M], 2: non-zero constant [M] (declined)
  bool wConst = true;    // false: declined
};

std::string describe(const ConvCase& c) {
  return c.xType + "[" + shapeOf(c.x) + "] k[" + shapeOf(c.k) + "] M " + std::to_string(c.M) + " group " +
         std::to_string(c.group) + " strides [" + shapeOf(c.strides) + "] dilations [" + shapeOf(c.dilations) +
         "] pads [" + shapeOf(c.pads) + "] " + c.autoPad + (c.xZp ? " x_zp" : "") + " w_zp " + std::to_string(c.wZp) +
         (c.wConst ? "" : " w input");
}

std::string graphText(const ConvCase& c) {
  const size_t r = c.k.size();
  std::vector<int64_t> w = {c.M, c.x[1] / c.group}, y = {c.x[0], c.M};
  w.insert(w.end(), c.k.begin(), c.k.end());
  for (size_t i = 0; i < r; ++i) {
    const int64_t in = c.x[2 + i], eff = (c.k[i] - 1) * c.dilations[i] + 1;
    y.push_back(c.autoPad.empty() ? (in + c.pads[i] + c.pads[i + r] - eff) / c.strides[i] + 1
                                  : (in + c.strides[i] - 1) / c.strides[i]);
  }
  std::string t = "graph @g(%x: " + c.xType + "[" + shapeOf(c.x) + "]";
  if (c.xZp) t += ", %xzp: " + c.xType + "[]";
  if (!c.wConst) t += ", %w: i8[" + shapeOf(w) + "]";
  t += ") {\n";
  if (c.wConst)
    t += "  %w = constant() {value = " + literal("i8", w, randomInts(count(w), false, 51)) + "} : i8[" + shapeOf(w) +
         "]\n";
  std::string args = "%x, %w";
  if (c.wZp > 0) {
    if (!c.xZp) {
      t += "  %xzp = constant() {value = " + literal(c.xType, {1}, {0}) + "} : " + c.xType + "[1]\n";
    }
    std::vector<double> z(static_cast<size_t>(c.M), 0.0);
    if (c.wZp == 2)
      for (size_t i = 0; i < z.size(); ++i) z[i] = static_cast<double>(i % 5) - 2;
    t += "  %wzp = constant() {value = " + literal("i8", {c.M}, z) + "} : i8[" + std::to_string(c.M) + "]\n";
    args += ", %xzp, %wzp";
  } else if (c.xZp) {
    args += ", %xzp";
  }
  std::string attrs = "group = " + std::to_string(c.group) + ", strides = [" + shapeOf(c.strides) +
                      "], dilations = [" + shapeOf(c.dilations) + "]";
  attrs += c.autoPad.empty() ? ", pads = [" + shapeOf(c.pads) + "]" : ", auto_pad = \"" + c.autoPad + "\"";
  t += "  %y = conv_integer(" + args + ") {" + attrs + "} : i32[" + shapeOf(y) + "]\n  return %y\n}\n";
  return t;
}

std::vector<Tensor> inputsOf(const ConvCase& c) {
  const DType dt = c.xType == "u8" ? DType::U8 : DType::I8;
  std::vector<Tensor> in = {testing::T(dt, Shape(c.x.begin(), c.x.end()), randomInts(count(c.x), c.xType == "u8", 52))};
  if (c.xZp) in.push_back(testing::T(dt, Shape{}, {c.xType == "u8" ? 121.0 : -5.0}));
  if (!c.wConst) {
    std::vector<int64_t> w = {c.M, c.x[1] / c.group};
    w.insert(w.end(), c.k.begin(), c.k.end());
    in.push_back(testing::T(DType::I8, Shape(w.begin(), w.end()), randomInts(count(w), false, 53)));
  }
  return in;
}

TEST(CpuInt8, ConvIntegerOnOneDnnMatchesTheReferenceBitForBit) {
  if (!hasVnni()) GTEST_SKIP() << "this CPU has no VNNI: the plugin keeps conv_integer on the portable kernel";
  std::vector<ConvCase> cases(7);
  cases[1].xType = "i8";
  cases[1].xZp = false;
  cases[1].strides = {2, 2};
  cases[1].dilations = {2, 1};
  cases[1].pads = {0, 2, 1, 0};
  cases[2].group = 2;
  cases[2].wZp = 1;
  cases[3].x = {1, 3, 20};  // 1-D
  cases[3].k = {5};
  cases[3].strides = {3};
  cases[3].dilations = {1};
  cases[3].pads = {2, 1};
  cases[4].x = {1, 2, 5, 6, 4};  // 3-D
  cases[4].M = 4;
  cases[4].k = {2, 3, 3};
  cases[4].strides = {1, 2, 1};
  cases[4].dilations = {1, 1, 1};
  cases[4].pads = {1, 1, 0, 0, 1, 1};
  cases[5].autoPad = "SAME_UPPER";
  cases[5].strides = {2, 2};
  cases[5].xType = "i8";
  cases[6].x = {1, 8, 7, 7};  // depthwise
  cases[6].M = 8;
  cases[6].group = 8;
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(describe(c));
    const std::vector<std::string> steps = runAndCompareText(graphText(c), inputsOf(c));
    EXPECT_TRUE(has(steps, "conv_integer (oneDNN)")) << describe(c) << ": steps " << joined(steps);
  }
}

TEST(CpuInt8, ConvIntegerCasesOneDnnDoesNotTakeStayOnThePortableKernel) {
  std::vector<ConvCase> cases(2);
  cases[0].wZp = 2;  // non-zero per-channel weight zero points
  cases[1].wConst = false;
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(describe(c));
    const std::vector<std::string> steps = runAndCompareText(graphText(c), inputsOf(c));
    EXPECT_TRUE(has(steps, "conv_integer")) << describe(c) << ": steps " << joined(steps);
    EXPECT_FALSE(has(steps, "conv_integer (oneDNN)")) << describe(c);
  }
}

// At 2 threads the int8 steps are cut into chunks (Note [Split primitives]):
// conv_integer like the f32 conv (output rows at batch 1, images
// otherwise), matmul_integer into rows (one row stays whole); the result
// is still the reference's bits. The steps say how they were cut on stderr
// under SY_CPU_SPLIT_DEBUG: `what` ("conv_integer", "matmul_integer") and
// `how` ("rows", "images") with at least 2 chunks (`split`), or
// none. Returns that log.
std::string checkSplit(const std::string& text, const std::vector<Tensor>& inputs, const std::string& what,
                       const std::string& how, bool split = true) {
  auto engine = cpuEngine({{"threads", "2"}});
  auto g = parseGraph(text);
  EXPECT_TRUE(g.ok()) << g.status().toString();
  if (engine == nullptr || !g.ok()) return "";
  std::shared_ptr<const Graph> graph(std::move(*g));
  setenv("SY_CPU_SPLIT_DEBUG", "1", 1);
  ::testing::internal::CaptureStderr();
  auto model = engine->compile(graph);  // warms up: the step makes its primitives
  std::vector<Tensor> got;
  if (model.ok()) {
    auto o = (*model)->run(inputs);
    EXPECT_TRUE(o.ok()) << o.status().toString();
    if (o.ok()) got = std::move(*o);
  }
  const std::string log = ::testing::internal::GetCapturedStderr();
  unsetenv("SY_CPU_SPLIT_DEBUG");
  EXPECT_TRUE(model.ok()) << model.status().toString();
  const std::string line = what + " split at 2 threads: " + how + ", ";
  const size_t at = log.find(line);
  EXPECT_NE(at, std::string::npos) << "want '" << line << "' in\n" << log;
  if (!model.ok() || at == std::string::npos) return log;
  const long chunks = std::strtol(log.c_str() + at + line.size(), nullptr, 10);
  if (split) {
    EXPECT_GE(chunks, 2) << log;
  } else {
    EXPECT_EQ(chunks, 0) << log;
  }
  auto interp = Interpreter::create(graph);
  EXPECT_TRUE(interp.ok());
  if (!interp.ok()) return log;
  auto want = (*interp)->run(inputs);
  EXPECT_TRUE(want.ok()) << want.status().toString();
  EXPECT_EQ(got.size(), 1u);
  if (!want.ok() || got.size() != 1) return log;
  EXPECT_EQ(got[0].shape(), (*want)[0].shape());
  EXPECT_EQ(got[0].dtype(), DType::I32);
  if (got[0].shape() != (*want)[0].shape() || got[0].dtype() != DType::I32) return log;
  const int32_t* p = static_cast<const int32_t*>(got[0].data());
  const int32_t* q = static_cast<const int32_t*>((*want)[0].data());
  int64_t differ = 0;
  for (int64_t j = 0; j < got[0].numel(); ++j) differ += p[j] != q[j];
  EXPECT_EQ(differ, 0) << "elements differing from the reference";
  std::printf("%s, %ld chunks at 2 threads, %lld of %lld elements differ from the reference\n", how.c_str(), chunks,
              static_cast<long long>(differ), static_cast<long long>(got[0].numel()));
  return log;
}

std::string checkConvSplit(const ConvCase& c, const std::string& how, bool split = true) {
  SCOPED_TRACE(describe(c));
  std::printf("%s: ", describe(c).c_str());
  return checkSplit(graphText(c), inputsOf(c), "conv_integer", how, split);
}

TEST(CpuInt8, ConvIntegerSplitAtTwoThreadsMatchesTheReferenceBitForBit) {
  if (!hasVnni()) GTEST_SKIP() << "this CPU has no VNNI: the plugin keeps conv_integer on the portable kernel";
  ConvCase c;  // u8, x zero point 121 (padding reads as it), pads 1
  c.x = {1, 32, 20, 18};
  c.M = 64;
  checkConvSplit(c, "rows");
  c.xType = "i8";  // stride 2, dilated rows, uneven pads: chunks start on the stride
  c.x = {1, 32, 31, 17};
  c.strides = {2, 1};
  c.dilations = {2, 1};
  c.pads = {3, 0, 1, 2};
  checkConvSplit(c, "rows");
  ConvCase d;  // depthwise, SAME_UPPER
  d.x = {1, 128, 96, 96};
  d.M = 128;
  d.group = 128;
  d.autoPad = "SAME_UPPER";
  // x (1.2 MB of u8) and y (4.7 MB of s32) are large enough for reorderInto
  // to cut their nchw <-> nhwc reorders too, along the destination's
  // outermost dim: x's rows (nhwc), y's channels (nchw).
  const std::string log = checkConvSplit(d, "rows");
  for (const char* cut : {"1179648 bytes, dim 2", "4718592 bytes, dim 1"}) {
    const std::string line = std::string("reorder split at 2 threads: ") + cut + ", ";
    const size_t at = log.find(line);
    EXPECT_NE(at, std::string::npos) << "want '" << line << "' in\n" << log;
    if (at != std::string::npos) EXPECT_GE(std::strtol(log.c_str() + at + line.size(), nullptr, 10), 2) << log;
  }
  ConvCase b;  // a batch: images
  b.x = {4, 32, 12, 12};
  b.M = 64;
  b.xZp = false;
  checkConvSplit(b, "images");
  ConvCase one;  // 1-D: rows are its only spatial dim
  one.x = {1, 64, 300};
  one.M = 64;
  one.k = {5};
  one.strides = {1};
  one.dilations = {1};
  one.pads = {2, 2};
  checkConvSplit(one, "rows");
}

TEST(CpuInt8, SmallConvIntegerStaysWholeAtTwoThreads) {
  if (!hasVnni()) GTEST_SKIP() << "this CPU has no VNNI: the plugin keeps conv_integer on the portable kernel";
  ConvCase c;  // [1, 4, 9, 8] x 6 channels: far below a chunk's work
  c.x = {1, 4, 9, 8};
  checkConvSplit(c, "rows", false);
}

TEST(CpuInt8, MatmulIntegerSplitAtTwoThreadsMatchesTheReferenceBitForBit) {
  if (!hasVnni()) GTEST_SKIP() << "this CPU has no VNNI: the plugin keeps matmul_integer on the portable kernel";
  Case c;
  c.zp = 2;
  c.a = {64, 256};  // rows
  c.b = {256, 512};
  SCOPED_TRACE(describe(c));
  std::printf("%s: ", describe(c).c_str());
  checkSplit(graphText(c), inputsOf(c), "matmul_integer", "rows");
  c.a = {1, 768};  // one row (a gemv): whole
  c.b = {768, 1024};
  std::printf("%s: ", describe(c).c_str());
  checkSplit(graphText(c), inputsOf(c), "matmul_integer", "rows", false);
}

// SY_BENCH_INT8=1: [1, 128, 768] x [768, 768] (u8 x i8, per-tensor zero
// points, constant b) at 1 thread on the oneDNN step and on the portable
// kernel's step (the same matmul with a per-row a_zero_point of equal values,
// which oneDNN declines), medians of 9 runs each after a warm-up.
TEST(CpuInt8, BenchMatmulIntegerOneDnnVsPortable) {
  const char* env = std::getenv("SY_BENCH_INT8");
  if (env == nullptr || std::string(env) != "1") GTEST_SKIP() << "timing only with SY_BENCH_INT8=1";
  if (!hasVnni()) GTEST_SKIP() << "this CPU has no VNNI: no oneDNN path to time";
  auto engine = cpuEngine({{"threads", "1"}});
  ASSERT_NE(engine, nullptr);
  double med[2] = {0, 0};
  std::vector<Tensor> outs[2];
  for (int generic = 0; generic < 2; ++generic) {
    Case c;
    c.a = {1, 128, 768};
    c.b = {768, 768};
    c.zp = 1;
    c.perRowAZp = generic == 1;
    auto g = parseGraph(graphText(c));
    ASSERT_TRUE(g.ok()) << g.status().toString();
    auto model = engine->compile(std::shared_ptr<const Graph>(std::move(*g)));
    ASSERT_TRUE(model.ok()) << model.status().toString();
    const std::vector<Tensor> inputs = inputsOf(c);
    std::vector<double> ms;
    for (int i = 0; i < 10; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      auto o = (*model)->run(inputs);
      const auto t1 = std::chrono::steady_clock::now();
      ASSERT_TRUE(o.ok()) << o.status().toString();
      if (i == 0) {
        outs[generic] = *o;
        continue;  // warm-up
      }
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    med[generic] = ms[ms.size() / 2];
  }
  ASSERT_EQ(outs[0][0].nbytes(), outs[1][0].nbytes());
  const int32_t* p = static_cast<const int32_t*>(outs[0][0].data());
  const int32_t* q = static_cast<const int32_t*>(outs[1][0].data());
  for (int64_t j = 0; j < outs[0][0].numel(); ++j) ASSERT_EQ(p[j], q[j]) << "element " << j;
  std::printf("matmul_integer u8[1, 128, 768] x i8[768, 768], 1 thread: oneDNN %.3f ms, portable kernel %.3f ms"
              " (median of 9)\n",
              med[0], med[1]);
}

}  // namespace
}  // namespace sy
