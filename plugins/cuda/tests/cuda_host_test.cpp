// Host-side tests of the CUDA plugin: everything that needs no GPU.
// Capability decisions, fusion grouping, NVRTC source generation (compiled
// with NVRTC, which needs no device), launch geometry, memory plans, and the
// error wording. Graphs are written in the text IR and viewed through the
// same sy_graph_view the host hands the plugin.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <climits>
#include <cstddef>
#include <random>

#include "cuda_util.h"
#include "fusion.h"
#include "launch.h"
#include "libraries.h"
#include "memory_plan.h"
#include "ops.h"
#include "steps.h"
#include "switchyard/graph_view.h"
#include "switchyard/text.h"

namespace sy_cuda {
namespace {

/// A parsed graph with its ABI view (kept alive together).
struct Viewed {
  std::unique_ptr<sy::Graph> graph;
  std::unique_ptr<sy::GraphView> abi;
  std::unique_ptr<sdk::GraphView> view;
};

Viewed parse(const std::string& text) {
  Viewed v;
  auto g = sy::parseGraph(text);
  EXPECT_TRUE(g.ok()) << g.status().toString() << "\n" << text;
  if (!g.ok()) return v;
  v.graph = std::move(*g);
  v.abi = std::make_unique<sy::GraphView>(*v.graph);
  v.view = std::make_unique<sdk::GraphView>(v.abi->view());
  return v;
}

/// whyNot for each top-level node, in order.
std::vector<std::string> reasons(const Viewed& v) {
  std::vector<std::string> out;
  const sdk::BlockView body = v.view->body();
  for (size_t i = 0; i < body.numNodes(); ++i) out.push_back(whyNot(*v.view, body.node(i)));
  return out;
}

// ---------------------------------------------------------------------------
// Capability

TEST(CudaCapability, AcceptsAndDeclinesWithReasons) {
  Viewed v = parse(R"(graph @g(%x: f32[2, 8], %h: f16[2, 8], %i: i32[2, 8], %w: f32[8, 4], %b: bool[2, 8]) {
  %r = relu(%x) : f32[2, 8]
  %s = softmax(%h) {axis = -1} : f16[2, 8]
  %a = add(%i, %i) : i32[2, 8]
  %d = div(%i, %i) : i32[2, 8]
  %m = matmul(%x, %w) : f32[2, 4]
  %hm = matmul(%h, %h) : f16[2, 8]
  %c = cast(%x) {to = "f16"} : f16[2, 8]
  %e = exp(%h) : f16[2, 8]
  %l = less(%b, %b) : bool[2, 8]
  %wh = where(%b, %x, %x) : f32[2, 8]
  return %r, %s, %a, %d, %m, %hm, %c, %e, %l, %wh
})");
  ASSERT_TRUE(v.view);
  const std::vector<std::string> r = reasons(v);
  ASSERT_EQ(r.size(), 10u);
  EXPECT_EQ(r[0], "");
  EXPECT_NE(r[1].find("only f32 is implemented by cuda for 'softmax'"), std::string::npos) << r[1];
  EXPECT_EQ(r[2], "");
  EXPECT_NE(r[3].find("'div' on i32 is not implemented by cuda"), std::string::npos) << r[3];
  EXPECT_EQ(r[4], "");
  EXPECT_EQ(r[5], "");  // f16 GEMM on tensor cores
  EXPECT_EQ(r[6], "");
  EXPECT_EQ(r[7], "");  // f16 elementwise, computed in f32 and rounded per op
  EXPECT_EQ(r[8], "ordering bools is not implemented by cuda");
  EXPECT_EQ(r[9], "");
}

TEST(CudaCapability, ConvAndPoolRulesFollowCudnn) {
  Viewed v = parse(R"(graph @g(%x: f32[1, 3, 8, 8], %w: f32[4, 3, 3, 3], %x5: f32[1, 1, 2, 2, 2, 2, 2]) {
  %a = conv(%x, %w) {pads = [1, 1, 1, 1]} : f32[1, 4, 8, 8]
  %b = conv(%x, %w) {pads = [0, 1, 1, 0]} : f32[1, 4, 7, 7]
  %c = conv(%x, %w) {auto_pad = "SAME_UPPER"} : f32[1, 4, 8, 8]
  %p = max_pool(%x) {kernel_shape = [2, 2], ceil_mode = 1} : f32[1, 3, 4, 4]
  %q = avg_pool(%x) {kernel_shape = [2, 2], strides = [2, 2]} : f32[1, 3, 4, 4]
  %g = global_avg_pool(%x5) : f32[1, 1, 1, 1, 1, 1, 1]
  %z = max_pool(%x5) {kernel_shape = [1, 1, 1, 1, 1]} : f32[1, 1, 2, 2, 2, 2, 2]
  return %a, %b, %c, %p, %q, %g, %z
})");
  ASSERT_TRUE(v.view);
  const std::vector<std::string> r = reasons(v);
  EXPECT_EQ(r[0], "");
  EXPECT_NE(r[1].find("asymmetric pads"), std::string::npos) << r[1];
  EXPECT_NE(r[2].find("auto_pad 'SAME_UPPER'"), std::string::npos) << r[2];
  EXPECT_NE(r[3].find("ceil_mode=1"), std::string::npos) << r[3];
  EXPECT_EQ(r[4], "");
  EXPECT_EQ(r[5], "");
  EXPECT_NE(r[6].find("cuDNN takes 1 to 3"), std::string::npos) << r[6];
}

TEST(CudaCapability, MatmulBatchRules) {
  Viewed v = parse(R"(graph @g(%a: f32[3, 2, 4], %b: f32[3, 4, 5], %c: f32[1, 4, 5], %d: f32[4, 5], %e: f32[N, 2, 4], %f: f32[N, 4, 5]) {
  %x = matmul(%a, %b) : f32[3, 2, 5]
  %y = matmul(%a, %c) : f32[3, 2, 5]
  %z = matmul(%a, %d) : f32[3, 2, 5]
  %s = matmul(%e, %f) : f32[N, 2, 5]
  return %x, %y, %z, %s
})");
  ASSERT_TRUE(v.view);
  const std::vector<std::string> r = reasons(v);
  EXPECT_EQ(r[0], "");
  EXPECT_EQ(r[1], "broadcast batch dims are not implemented by cuda");
  EXPECT_EQ(r[2], "");
  EXPECT_EQ(r[3], "");  // the same symbol on both sides
}

TEST(CudaCapability, OtherOpsAreDeclinedByName) {
  Viewed v = parse(R"(graph @g(%x: f32[1, 2, 4], %s: f32[2], %b: f32[2]) {
  %y = instance_norm(%x, %s, %b) : f32[1, 2, 4]
  return %y
})");
  ASSERT_TRUE(v.view);
  EXPECT_EQ(reasons(v)[0], "op 'instance_norm' is not implemented by cuda");
}

// ---------------------------------------------------------------------------
// Fusion grouping

TEST(CudaFusion, ConsecutiveElementwiseOpsFormOneGroup) {
  Viewed v = parse(R"(graph @g(%x: f32[4, 8], %y: f32[4, 8], %b: f32[8]) {
  %s = add(%x, %y) : f32[4, 8]
  %r = relu(%s) : f32[4, 8]
  %m = mul(%r, %b) : f32[4, 8]
  %e = exp(%m) : f32[4, 8]
  return %e
})");
  ASSERT_TRUE(v.view);
  const std::vector<Group> groups = groupRegion(*v.view);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].kind, GroupKind::Elementwise);
  EXPECT_EQ(groups[0].nodes, (std::vector<size_t>{0, 1, 2, 3}));
  EXPECT_EQ(groups[0].inputs.size(), 3u);  // x, y, b: each read once per element
}

TEST(CudaFusion, SharedOrReturnedValuesEndTheChain) {
  Viewed v = parse(R"(graph @g(%x: f32[4, 8]) {
  %a = exp(%x) : f32[4, 8]
  %b = relu(%a) : f32[4, 8]
  %c = add(%b, %b) : f32[4, 8]
  %d = neg(%c) : f32[4, 8]
  %e = sigmoid(%c) : f32[4, 8]
  %f = tanh(%e) : f32[4, 8]
  return %d, %f, %a
})");
  ASSERT_TRUE(v.view);
  const std::vector<Group> groups = groupRegion(*v.view);
  // %a is returned (its own group), %b + %c (b read twice by c only), %c is
  // read by d and e (chain ends), d alone, e + f.
  ASSERT_EQ(groups.size(), 4u);
  EXPECT_EQ(groups[0].nodes, (std::vector<size_t>{0}));
  EXPECT_EQ(groups[1].nodes, (std::vector<size_t>{1, 2}));
  EXPECT_EQ(groups[2].nodes, (std::vector<size_t>{3}));
  EXPECT_EQ(groups[3].nodes, (std::vector<size_t>{4, 5}));
}

TEST(CudaFusion, ShapeChangeEndsTheChain) {
  Viewed v = parse(R"(graph @g(%x: f32[8], %y: f32[4, 8]) {
  %a = exp(%x) : f32[8]
  %b = add(%a, %y) : f32[4, 8]
  %c = relu(%b) : f32[4, 8]
  return %c
})");
  ASSERT_TRUE(v.view);
  const std::vector<Group> groups = groupRegion(*v.view);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].nodes, (std::vector<size_t>{0}));
  EXPECT_EQ(groups[1].nodes, (std::vector<size_t>{1, 2}));  // the head may broadcast its inputs
}

TEST(CudaFusion, GemmTakesBiasAndActivationEpilogue) {
  Viewed v = parse(R"(graph @g(%x: f32[4, 8]) {
  %w = constant() {value = tensor<f32[8, 2]>[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]} : f32[8, 2]
  %b = constant() {value = tensor<f32[2]>[0.5, -0.5]} : f32[2]
  %m = matmul(%x, %w) : f32[4, 2]
  %a = add(%m, %b) : f32[4, 2]
  %r = relu(%a) : f32[4, 2]
  %e = exp(%r) : f32[4, 2]
  return %e
})");
  ASSERT_TRUE(v.view);
  const std::vector<Group> groups = groupRegion(*v.view);
  // matmul+add+relu, exp (ABI 1.1: w and b are constant values, not nodes)
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].kind, GroupKind::Gemm);
  EXPECT_EQ(groups[0].nodes, (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(groups[0].biasAdd, 1);
  EXPECT_EQ(groups[0].activation, 2);
  EXPECT_EQ(groups[1].kind, GroupKind::Elementwise);
}

TEST(CudaFusion, GemmDoesNotTakeARuntimeBias) {
  Viewed v = parse(R"(graph @g(%x: f32[4, 8], %w: f32[8, 2], %b: f32[2]) {
  %m = matmul(%x, %w) : f32[4, 2]
  %a = add(%m, %b) : f32[4, 2]
  return %a
})");
  ASSERT_TRUE(v.view);
  const std::vector<Group> groups = groupRegion(*v.view);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].biasAdd, -1);
}

TEST(CudaFusion, ConvFoldsBatchNormAndRelu) {
  Viewed v = parse(R"(graph @g(%x: f32[1, 1, 4, 4]) {
  %w = constant() {value = tensor<f32[2, 1, 1, 1]>[1.0, 2.0]} : f32[2, 1, 1, 1]
  %s = constant() {value = tensor<f32[2]>[1.0, 0.5]} : f32[2]
  %t = constant() {value = tensor<f32[2]>[0.0, 1.0]} : f32[2]
  %mu = constant() {value = tensor<f32[2]>[0.1, 0.2]} : f32[2]
  %var = constant() {value = tensor<f32[2]>[1.0, 4.0]} : f32[2]
  %c = conv(%x, %w) : f32[1, 2, 4, 4]
  %n = batch_norm(%c, %s, %t, %mu, %var) {epsilon = 0.00001} : f32[1, 2, 4, 4]
  %r = relu(%n) : f32[1, 2, 4, 4]
  return %r
})");
  ASSERT_TRUE(v.view);
  const std::vector<Group> groups = groupRegion(*v.view);
  ASSERT_EQ(groups.size(), 1u);  // ABI 1.1: the weights and statistics are constant values, not nodes
  EXPECT_EQ(groups[0].kind, GroupKind::Conv);
  EXPECT_EQ(groups[0].nodes, (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(groups[0].batchNorm, 1);
  EXPECT_EQ(groups[0].activation, 2);
}

TEST(CudaFusion, ChainsStopAtTheInputLimit) {
  std::string text = "graph @g(%x: f32[4]";
  for (int i = 0; i < 10; ++i) text += sdk::format(", %y", i, ": f32[4]");
  text += ") {\n  %v0 = add(%x, %y0) : f32[4]\n";
  for (int i = 1; i < 10; ++i) text += sdk::format("  %v", i, " = add(%v", i - 1, ", %y", i, ") : f32[4]\n");
  text += "  return %v9\n}";
  Viewed v = parse(text);
  ASSERT_TRUE(v.view);
  const std::vector<Group> groups = groupRegion(*v.view);
  ASSERT_GE(groups.size(), 2u);
  for (const Group& g : groups) EXPECT_LE(g.inputs.size(), static_cast<size_t>(kMaxFusedInputs));
}

// ---------------------------------------------------------------------------
// Generated sources, compiled with NVRTC (no GPU needed)

#define SKIP_WITHOUT_NVRTC()                                                           \
  do {                                                                                 \
    if (!nvrtc().ok()) GTEST_SKIP() << "NVRTC is not available: " << nvrtc().error;    \
  } while (0)

std::string sourceOfFirstGroup(const Viewed& v) {
  const std::vector<Group> groups = groupRegion(*v.view);
  EXPECT_FALSE(groups.empty());
  EXPECT_EQ(groups[0].kind, GroupKind::Elementwise);
  return elementwiseSource(*v.view, groups[0]);
}

TEST(CudaCodegen, SourcesOfEveryDtypeCompile) {
  SKIP_WITHOUT_NVRTC();
  const char* graphs[] = {
      R"(graph @f32(%x: f32[4, 8], %y: f32[8]) {
  %a = add(%x, %y) : f32[4, 8]
  %b = gelu(%a) {approximate = "tanh"} : f32[4, 8]
  %c = clip(%b) {min = -1.0, max = 1.0} : f32[4, 8]
  %d = leaky_relu(%c) {alpha = 0.2} : f32[4, 8]
  %e = maximum(%d, %x) : f32[4, 8]
  %f = round(%e) : f32[4, 8]
  return %f
})",
      R"(graph @f16(%x: f16[4, 8], %y: f16[4, 8]) {
  %a = mul(%x, %y) : f16[4, 8]
  %b = sigmoid(%a) : f16[4, 8]
  %c = gelu(%b) : f16[4, 8]
  return %c
})",
      R"(graph @bf16(%x: bf16[16]) {
  %a = silu(%x) : bf16[16]
  %b = cast(%a) {to = "f32"} : f32[16]
  return %b
})",
      R"(graph @int(%x: i32[4], %y: i32[4], %z: i8[4]) {
  %a = add(%x, %y) : i32[4]
  %b = neg(%a) : i32[4]
  %c = cast(%b) {to = "i8"} : i8[4]
  %d = mul(%c, %z) : i8[4]
  return %d
})",
      R"(graph @mask(%m: bool[2, 4], %x: f32[2, 4], %y: f32[4]) {
  %n = logical_not(%m) : bool[2, 4]
  %w = where(%n, %x, %y) : f32[2, 4]
  %g = greater(%w, %x) : bool[2, 4]
  %c = cast(%g) {to = "i64"} : i64[2, 4]
  return %c
})",
  };
  for (const char* text : graphs) {
    Viewed v = parse(text);
    ASSERT_TRUE(v.view);
    const std::string src = sourceOfFirstGroup(v);
    // PTX for compute_80 (what a newer GPU's driver would JIT) and SASS for sm_90.
    const CompiledProgram ptx = compileWithNvrtc(src, "compute_80");
    EXPECT_FALSE(ptx.cubin);
    EXPECT_NE(ptx.image.find(".entry sy_fused_flat"), std::string::npos) << src;
    EXPECT_NE(ptx.image.find(".entry sy_fused_strided"), std::string::npos) << src;
    const CompiledProgram sass = compileWithNvrtc(src, "sm_90");
    EXPECT_TRUE(sass.cubin);
    EXPECT_GT(sass.image.size(), 100u);
    EXPECT_EQ(sass.image.compare(0, 4, "\x7f" "ELF"), 0);
  }
}

TEST(CudaCodegen, SourceReadsEachInputOnceAndRoundsHalves) {
  Viewed v = parse(R"(graph @g(%x: f16[8], %y: f16[8]) {
  %a = add(%x, %y) : f16[8]
  %b = mul(%a, %x) : f16[8]
  return %b
})");
  ASSERT_TRUE(v.view);
  const std::string src = sourceOfFirstGroup(v);
  // Two distinct inputs (x is loaded once although read twice).
  EXPECT_NE(src.find("const unsigned short* __restrict__ in1"), std::string::npos);
  EXPECT_EQ(src.find("in2"), std::string::npos);
  // Each f16 result is rounded to f16 (as the reference computes it).
  EXPECT_NE(src.find("sy_ld_f16(sy_st_f16((v"), std::string::npos) << src;
}

TEST(CudaCodegen, GeluAndSiluOfMinusInfinityAreMinusZero) {
  // The reference's limits: gelu(-inf) = silu(-inf) = -0, where the formulas
  // alone give -inf * 0 or -inf / inf = NaN.
  Viewed v = parse(R"(graph @g(%x: f32[8]) {
  %a = silu(%x) : f32[8]
  %b = gelu(%a) : f32[8]
  %c = gelu(%b) {approximate = "tanh"} : f32[8]
  return %c
})");
  ASSERT_TRUE(v.view);
  const std::string src = sourceOfFirstGroup(v);
  const std::string guard = "== __int_as_float(0xff800000)) ? -0.0f";
  size_t count = 0;
  for (size_t at = src.find(guard); at != std::string::npos; at = src.find(guard, at + 1)) ++count;
  // Three guarded ops in each of the two kernels (flat and strided).
  EXPECT_EQ(count, 6u) << src;
  SKIP_WITHOUT_NVRTC();
  EXPECT_TRUE(compileWithNvrtc(src, "sm_90").cubin);
}

TEST(CudaCodegen, SyIndexMatchesTheGeneratedStruct) {
  // The generated struct SyIndex { int rank; int pad; long long dims[8]; long long strides[8][8]; }.
  static_assert(offsetof(SyIndex, dims) == 8);
  static_assert(offsetof(SyIndex, strides) == 8 + 8 * kMaxRank);
  static_assert(sizeof(SyIndex) == 8 + 8 * kMaxRank + 8 * kMaxRank * kMaxFusedInputs);
  Viewed v = parse(R"(graph @g(%x: f32[8]) {
  %a = exp(%x) : f32[8]
  return %a
})");
  ASSERT_TRUE(v.view);
  EXPECT_NE(sourceOfFirstGroup(v).find("long long dims[8]; long long strides[8][8];"), std::string::npos);
}

TEST(CudaCodegen, CompileErrorsCarryTheLogAndTheSource) {
  SKIP_WITHOUT_NVRTC();
  try {
    compileWithNvrtc("extern \"C\" __global__ void k() { this is not cuda; }", "compute_80");
    FAIL() << "no error";
  } catch (const sdk::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("nvrtcCompileProgram (compute_80): NVRTC_ERROR_COMPILATION"), std::string::npos) << m;
    EXPECT_NE(m.find("generated source"), std::string::npos) << m;
  }
}

TEST(CudaCodegen, TargetsKnownAndFutureArchitectures) {
  SKIP_WITHOUT_NVRTC();
  EXPECT_EQ(nvrtcTargetFor(9, 0), "sm_90");
  EXPECT_EQ(nvrtcTargetFor(8, 0), "sm_80");
  // A compute capability newer than any NVRTC knows: the newest PTX, JIT-compiled by the driver.
  const std::string future = nvrtcTargetFor(99, 9);
  EXPECT_EQ(future.rfind("compute_", 0), 0u) << future;
}

// ---------------------------------------------------------------------------
// Launch geometry

TEST(CudaLaunch, ElementwiseGridIsCappedAndCoversSmallSizes) {
  EXPECT_EQ(elementwiseLaunch(0, 132).grid, 0u);
  EXPECT_EQ(elementwiseLaunch(1, 132).grid, 1u);
  EXPECT_EQ(elementwiseLaunch(256, 132).grid, 1u);
  EXPECT_EQ(elementwiseLaunch(257, 132).grid, 2u);
  EXPECT_EQ(elementwiseLaunch(int64_t{1} << 40, 132).grid, 132u * 8u);  // grid-stride past that
  EXPECT_EQ(elementwiseLaunch(1000, 0).grid, 4u);                       // a bogus SM count still launches
  for (int64_t n : {1, 31, 256, 1000, 123457}) {
    const Launch1D l = elementwiseLaunch(n, 2);
    EXPECT_GE(static_cast<int64_t>(l.grid) * l.block, std::min<int64_t>(n, 2 * 8 * 256));
  }
}

TEST(CudaLaunch, RowBlocksArePowersOfTwoBetweenAWarpAndTheLimit) {
  EXPECT_EQ(rowBlock(0), 32u);
  EXPECT_EQ(rowBlock(1), 32u);
  EXPECT_EQ(rowBlock(33), 64u);
  EXPECT_EQ(rowBlock(768), 1024u);
  EXPECT_EQ(rowBlock(1 << 20), 1024u);
  EXPECT_EQ(rowGrid(0), 0u);
  EXPECT_EQ(rowGrid(int64_t{1} << 40), 2147483647u);
}

// ---------------------------------------------------------------------------
// Memory plans

TEST(CudaMemoryPlan, DisjointLifetimesShareBytes) {
  // a (steps 0-1) and c (steps 2-3) never live together; b overlaps both.
  const MemoryPlan p = planMemory({{1000, 0, 1}, {500, 1, 2}, {1000, 2, 3}});
  EXPECT_EQ(p.offsets[0], p.offsets[2]);
  EXPECT_EQ(p.total, 1024u + 512u);
  EXPECT_EQ(p.offsets[1] % 256, 0u);
}

TEST(CudaMemoryPlan, ZeroByteValuesTakeNoSpace) {
  const MemoryPlan p = planMemory({{0, 0, 5}, {10, 0, 5}});
  EXPECT_EQ(p.total, 256u);
}

TEST(CudaMemoryPlan, RandomPlansNeverOverlapLiveTensors) {
  std::mt19937 gen(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<PlanValue> values;
    const int n = 1 + static_cast<int>(gen() % 40);
    size_t sum = 0;
    for (int i = 0; i < n; ++i) {
      const int first = static_cast<int>(gen() % 30);
      values.push_back(PlanValue{gen() % 5000, first, first + static_cast<int>(gen() % 10)});
      sum += (values.back().bytes + 255) / 256 * 256;
    }
    const MemoryPlan p = planMemory(values);
    EXPECT_LE(p.total, sum);
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ(p.offsets[i] % 256, 0u);
      EXPECT_LE(p.offsets[i] + values[i].bytes, p.total);
      for (int j = i + 1; j < n; ++j) {
        const bool live = values[i].first <= values[j].last && values[j].first <= values[i].last;
        if (!live || values[i].bytes == 0 || values[j].bytes == 0) continue;
        const bool apart = p.offsets[i] + values[i].bytes <= p.offsets[j] || p.offsets[j] + values[j].bytes <= p.offsets[i];
        EXPECT_TRUE(apart) << "round " << round << ": values " << i << " and " << j << " overlap";
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Shape rules of the steps (run on every execute with dynamic shapes)

/// outputShape of a step whose inputs are values 0..n-1 with these dims.
Dims shapeOf(Step s, std::vector<Dims> inputs) {
  s.inputs.clear();
  for (size_t i = 0; i < inputs.size(); ++i) s.inputs.push_back(static_cast<int32_t>(i));
  return outputShape(s, inputs);
}

TEST(CudaShapes, SliceClampsLikeOnnx) {
  Step s;
  s.kind = Kind::Slice;
  s.starts = {1};
  s.ends = {INT64_MAX};
  EXPECT_EQ(shapeOf(s, {{5, 3}}), (Dims{4, 3}));
  s.starts = {-1};
  s.ends = {-1000};
  s.steps = {-1};  // the whole axis reversed
  EXPECT_EQ(shapeOf(s, {{5, 3}}), (Dims{5, 3}));
  s.hasAxes = true;
  s.ints = {-1};
  s.starts = {0};
  s.ends = {3};
  s.steps = {2};
  EXPECT_EQ(shapeOf(s, {{5, 3}}), (Dims{5, 2}));
  s.starts = {7};  // past the end: empty
  s.steps = {1};
  EXPECT_EQ(shapeOf(s, {{5, 3}}), (Dims{5, 0}));
}

TEST(CudaShapes, ReshapeInfersAndCopies) {
  Step s;
  s.kind = Kind::View;
  s.op = "reshape";
  s.ints = {0, -1};
  EXPECT_EQ(shapeOf(s, {{2, 3, 4}}), (Dims{2, 12}));
  s.ints = {5, -1};
  EXPECT_THROW(shapeOf(s, {{2, 3, 4}}), sdk::Error);
  s.ints = {0, 0};
  s.allowzero = true;
  EXPECT_THROW(shapeOf(s, {{2, 3}}), sdk::Error);  // 6 elements into 0
  s.op = "flatten";
  s.axis = -1;
  EXPECT_EQ(shapeOf(s, {{2, 3, 4}}), (Dims{6, 4}));
  s.op = "squeeze";
  s.ints = {};
  EXPECT_EQ(shapeOf(s, {{1, 3, 1}}), (Dims{3}));
  s.op = "unsqueeze";
  s.ints = {0, -1};
  EXPECT_EQ(shapeOf(s, {{3}}), (Dims{1, 3, 1}));
}

TEST(CudaShapes, MatmulPromotesAndBatches) {
  Step s;
  s.kind = Kind::Gemm;
  EXPECT_EQ(shapeOf(s, {{4}, {4, 5}}), (Dims{5}));
  EXPECT_EQ(shapeOf(s, {{3, 2, 4}, {4}}), (Dims{3, 2}));
  EXPECT_EQ(shapeOf(s, {{2, 4}, {6, 4, 5}}), (Dims{6, 2, 5}));
  EXPECT_THROW(shapeOf(s, {{2, 4}, {5, 5}}), sdk::Error);
  s.gemm = true;
  s.transA = true;
  s.transB = true;
  EXPECT_EQ(shapeOf(s, {{4, 2}, {5, 4}}), (Dims{2, 5}));
}

TEST(CudaShapes, WindowsReductionsAndDataMovement) {
  Step conv;
  conv.kind = Kind::Conv;
  conv.window.pads = {1, 1};
  conv.window.strides = {2, 2};
  EXPECT_EQ(shapeOf(conv, {{1, 3, 8, 8}, {4, 3, 3, 3}}), (Dims{1, 4, 4, 4}));
  conv.window.pads = {};
  EXPECT_THROW(shapeOf(conv, {{1, 3, 2, 2}, {4, 3, 3, 3}}), sdk::Error);  // window larger than the input
  Step pool;
  pool.kind = Kind::Pool;
  pool.window.kernel = {2};
  EXPECT_EQ(shapeOf(pool, {{1, 3, 7}}), (Dims{1, 3, 6}));
  Step reduce;
  reduce.kind = Kind::Reduce;
  reduce.ints = {-1};
  reduce.keepdims = false;
  EXPECT_EQ(shapeOf(reduce, {{2, 3, 4}}), (Dims{2, 3}));
  reduce.ints = {};
  EXPECT_EQ(shapeOf(reduce, {{2, 3, 4}}), (Dims{}));
  reduce.noopWithEmptyAxes = true;
  EXPECT_EQ(shapeOf(reduce, {{2, 3, 4}}), (Dims{2, 3, 4}));
  Step t;
  t.kind = Kind::Transpose;
  EXPECT_EQ(shapeOf(t, {{2, 3, 4}}), (Dims{4, 3, 2}));
  t.ints = {1, 0, 2};
  EXPECT_EQ(shapeOf(t, {{2, 3, 4}}), (Dims{3, 2, 4}));
  Step c;
  c.kind = Kind::Concat;
  c.axis = -1;
  EXPECT_EQ(shapeOf(c, {{2, 3}, {2, 5}}), (Dims{2, 8}));
  EXPECT_THROW(shapeOf(c, {{2, 3}, {3, 5}}), sdk::Error);
  Step g;
  g.kind = Kind::Gather;
  g.axis = 1;
  EXPECT_EQ(shapeOf(g, {{2, 10, 3}, {4, 5}}), (Dims{2, 4, 5, 3}));
  Step p;
  p.kind = Kind::Pad;
  p.ints = {0, 1, 2, 3};
  EXPECT_EQ(shapeOf(p, {{2, 3}}), (Dims{4, 7}));
  Step f;
  f.kind = Kind::Fused;
  EXPECT_EQ(shapeOf(f, {{4, 1}, {3}, {1, 1}}), (Dims{4, 3}));
  EXPECT_THROW(shapeOf(f, {{4, 2}, {3}}), sdk::Error);
}

// ---------------------------------------------------------------------------
// Errors and the "no device" reason

TEST(CudaErrors, NameTheCallAndMapOutOfMemory) {
  try {
    checkCuda(cudaErrorMemoryAllocation, "cudaMallocAsync");
    FAIL();
  } catch (const sdk::Error& e) {
    EXPECT_EQ(e.code(), SY_ERROR_OUT_OF_MEMORY);
    EXPECT_EQ(std::string(e.what()).rfind("cudaMallocAsync: cudaErrorMemoryAllocation: ", 0), 0u) << e.what();
  }
  try {
    checkCuda(cudaErrorLaunchFailure, "cudaLaunchKernel");
    FAIL();
  } catch (const sdk::Error& e) {
    EXPECT_EQ(e.code(), SY_ERROR_DEVICE);
  }
  if (cublasLt().ok()) {
    try {
      cublasLt().check(CUBLAS_STATUS_NOT_SUPPORTED, "cublasLtMatmul");
      FAIL();
    } catch (const sdk::Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("cublasLtMatmul: CUBLAS_STATUS_NOT_SUPPORTED", 0), 0u) << e.what();
    }
  }
  EXPECT_NO_THROW(checkCuda(cudaSuccess, "anything"));
}

TEST(CudaErrors, ProbeSaysWhyThereIsNoDevice) {
  int count = -1;
  const std::string why = probeDevices(count);
  void* driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  std::printf("probe: %s (%d devices)\n", why.empty() ? "ok" : why.c_str(), count);
  if (why.empty()) {
    EXPECT_GT(count, 0);
  } else {
    EXPECT_EQ(count, 0);
    const bool noDriver = why.rfind("no CUDA driver: libcuda.so.1 not found", 0) == 0;
    const bool noDevice = why.rfind("cudaGetDeviceCount: ", 0) == 0;
    EXPECT_TRUE(noDriver || noDevice) << why;
    if (noDriver) {
      EXPECT_EQ(driver, nullptr);
    }
  }
}

TEST(CudaLibraries, MissingLibrariesAreReasonsNotCrashes) {
  for (const LazyLibrary* lib : {static_cast<const LazyLibrary*>(&cublasLt()), static_cast<const LazyLibrary*>(&cudnn()),
                                 static_cast<const LazyLibrary*>(&nvrtc())}) {
    if (lib->ok()) {
      EXPECT_FALSE(lib->path.empty());
    } else {
      EXPECT_NE(lib->error.find("not found"), std::string::npos) << lib->error;
      try {
        requireLibrary(*lib, "it");
        FAIL();
      } catch (const sdk::Error& e) {
        EXPECT_EQ(e.code(), SY_ERROR_UNIMPLEMENTED);
      }
    }
  }
  std::printf("cuBLASLt: %s\ncuDNN: %s\nNVRTC: %s\n", cublasLt().ok() ? cublasLt().path.c_str() : cublasLt().error.c_str(),
              cudnn().ok() ? cudnn().path.c_str() : cudnn().error.c_str(),
              nvrtc().ok() ? nvrtc().path.c_str() : nvrtc().error.c_str());
}

}  // namespace
}  // namespace sy_cuda
