// The cpu plugin's transformer paths (issue #15) against the reference
// interpreter: the tanh GELU as GPT-2 exports it (fused into the matrix
// product before it, through a reshape, or one gelu step of its own), what
// must not be fused (an intermediate read elsewhere, a wrong constant), and
// pow by a small integer in the elementwise chains. Which steps ran is read
// from the step profile.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>
#include <tuple>

#include "cpu_step_test_util.h"
#include "switchyard/interpreter.h"
#include "switchyard/profile.h"
#include "switchyard/text.h"
#include "test_util.h"

namespace sy {
namespace {

using cpu_test::constantLine;
using cpu_test::CpuAndReference;
using cpu_test::cpuEngine;
using cpu_test::randomF;
using cpu_test::randomValues;
using cpu_test::runOnCpuAndReference;
using cpu_test::CpuAndReference;
/// Runs `text` on cpu only (profiled) and on the reference; compares with a
/// relative tolerance, NaN matching NaN and an infinity the same infinity.
/// Returns the cpu step names (the ops each step fused).
std::vector<std::string> runAndCompare(const std::string& text, const std::vector<Tensor>& inputs,
                                       double tol = 1e-4) {
  const std::optional<CpuAndReference> r = runOnCpuAndReference(text, inputs);
  if (!r) return {};
  EXPECT_EQ(r->cpu.size(), r->reference.size());
  for (size_t o = 0; o < std::min(r->cpu.size(), r->reference.size()); ++o) {
    const Tensor &a = r->cpu[o], &b = r->reference[o];
    EXPECT_EQ(a.shape(), b.shape()) << "output " << o;
    if (a.shape() != b.shape()) continue;
    int bad = 0;
    for (int64_t j = 0; j < a.numel() && bad < 5; ++j) {
      const double x = a.getDouble(j), y = b.getDouble(j);
      const bool ok = std::isnan(y) ? std::isnan(x) : std::isinf(y) ? x == y : std::fabs(x - y) <= tol * (1 + std::fabs(y));
      if (!ok) {
        ++bad;
        ADD_FAILURE() << "output " << o << " element " << j << ": cpu " << x << ", reference " << y;
      }
    }
  }
  return r->steps;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += "'" + x + "' ";
  return s;
}

/// The steps whose name contains `part`.
int countSteps(const std::vector<std::string>& steps, const std::string& part) {
  int n = 0;
  for (const std::string& s : steps) n += s.find(part) != std::string::npos ? 1 : 0;
  return n;
}

/// GPT-2's GELU (HF NewGELU as exported) on %x of type `type`, result %y:
/// h = 0.5 * x; y = h * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * pow(x, 3)))).
/// `swapped`: constants first and y = (x * (1 + tanh)) * 0.5 instead.
/// `kappa`: the cubic coefficient (0.044715 for the real thing).
std::string geluTanhLines(const std::string& type, bool swapped, const std::string& kappa = "0.044715") {
  std::string t;
  t += "  %three = constant() {value = tensor<f32[]>[3.0]} : f32[]\n";
  t += "  %kappa = constant() {value = tensor<f32[]>[" + kappa + "]} : f32[]\n";
  t += "  %s2pi = constant() {value = tensor<f32[]>[0.7978846]} : f32[]\n";
  t += "  %one = constant() {value = tensor<f32[]>[1.0]} : f32[]\n";
  t += "  %half = constant() {value = tensor<f32[]>[0.5]} : f32[]\n";
  if (!swapped) {
    t += "  %h = mul(%x, %half) : " + type + "\n";
    t += "  %p = pow(%x, %three) : " + type + "\n";
    t += "  %q = mul(%p, %kappa) : " + type + "\n";
    t += "  %r = add(%x, %q) : " + type + "\n";
    t += "  %s = mul(%r, %s2pi) : " + type + "\n";
    t += "  %t = tanh(%s) : " + type + "\n";
    t += "  %u = add(%t, %one) : " + type + "\n";
    t += "  %y = mul(%h, %u) : " + type + "\n";
  } else {
    t += "  %p = pow(%x, %three) : " + type + "\n";
    t += "  %q = mul(%kappa, %p) : " + type + "\n";
    t += "  %r = add(%q, %x) : " + type + "\n";
    t += "  %s = mul(%s2pi, %r) : " + type + "\n";
    t += "  %t = tanh(%s) : " + type + "\n";
    t += "  %u = add(%one, %t) : " + type + "\n";
    t += "  %h = mul(%u, %x) : " + type + "\n";
    t += "  %y = mul(%half, %h) : " + type + "\n";
  }
  return t;
}

/// GPT-2's MLP input side: [1, T, 16] -> reshape [T, 16] -> gemm + bias ->
/// reshape [1, T, 32] -> GELU.
std::string gpt2MlpGraph(bool swapped, const std::string& extraReader = "", const std::string& kappa = "0.044715") {
  std::string t = "graph @g(%in: f32[1, 8, 16]) {\n";
  t += constantLine("w", {16, 32}, -0.5, 0.5, 11);
  t += constantLine("b", {32}, -0.5, 0.5, 12);
  t += "  %s2d = constant() {value = tensor<i64[2]>[8, 16]} : i64[2]\n";
  t += "  %s3d = constant() {value = tensor<i64[3]>[1, 8, 32]} : i64[3]\n";
  t += "  %a = reshape(%in, %s2d) : f32[8, 16]\n";
  t += "  %m = gemm(%a, %w, %b) : f32[8, 32]\n";
  t += "  %x = reshape(%m, %s3d) : f32[1, 8, 32]\n";
  t += geluTanhLines("f32[1, 8, 32]", swapped, kappa);
  if (extraReader.empty()) return t + "  return %y\n}\n";
  return t + "  %z = neg(" + extraReader + ") : f32[1, 8, 32]\n  return %y, %z\n}\n";
}

/// Elements of `got` that differ from `want` (NaN where want has NaN, else
/// within 1e-4 * (1 + |want|)), and how many NaN `want` holds.
struct Mismatches {
  int64_t bad = 0, nan = 0;
};
Mismatches mismatches(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  Mismatches m;
  if (got.shape() != want.shape()) {
    m.bad = want.numel();
    return m;
  }
  for (int64_t j = 0; j < want.numel(); ++j) {
    const double x = got.getDouble(j), w = want.getDouble(j);
    m.nan += std::isnan(w) ? 1 : 0;
    m.bad += std::isnan(w) ? !std::isnan(x) : !(std::fabs(x - w) <= 1e-4 * (1 + std::fabs(w)));
  }
  return m;
}

TEST(CpuTransformer, Gpt2GeluFusesIntoTheGemmThroughItsReshape) {
  for (bool swapped : {false, true}) {
    SCOPED_TRACE(swapped ? "constants first, y = (x * u) * 0.5" : "as GPT-2 exports it");
    const std::vector<std::string> steps = runAndCompare(gpt2MlpGraph(swapped), {randomF({1, 8, 16}, -3, 3, 1)});
    // One step: gemm + reshape + the eight GELU nodes, nothing else computes.
    EXPECT_EQ(countSteps(steps, "gemm + reshape + pow"), 1) << joined(steps);
    EXPECT_EQ(countSteps(steps, "tanh"), 1) << joined(steps);
    EXPECT_EQ(countSteps(steps, "gelu ("), 0) << joined(steps);
  }
}

TEST(CpuTransformer, FusedGeluKeepsNaN) {
  // A NaN in a row of the gemm's input makes the row NaN; the gelu post-op keeps it.
  Tensor in = randomF({1, 8, 16}, -3, 3, 2);
  in.setDouble(5, std::nan(""));
  in.setDouble(40, INFINITY);
  const std::vector<std::string> steps = runAndCompare(gpt2MlpGraph(false), {in});
  EXPECT_EQ(countSteps(steps, "gemm + reshape + pow"), 1) << joined(steps);
}

TEST(CpuTransformer, GeluWithAnotherReaderOfAnIntermediateIsNotFused) {
  // Each intermediate read outside the pattern (and the pattern's input read
  // by a fourth node) keeps the nodes as they are: same results, no gelu.
  for (const char* reader : {"%p", "%q", "%r", "%s", "%t", "%u", "%h", "%x"}) {
    SCOPED_TRACE(reader);
    const std::vector<std::string> steps = runAndCompare(gpt2MlpGraph(false, reader), {randomF({1, 8, 16}, -3, 3, 3)});
    EXPECT_EQ(countSteps(steps, "gemm + reshape"), 0) << joined(steps);
    EXPECT_EQ(countSteps(steps, "gelu ("), 0) << joined(steps);
  }
  // A cubic coefficient that is not GELU's is not GELU.
  const std::vector<std::string> steps =
      runAndCompare(gpt2MlpGraph(false, "", "0.045"), {randomF({1, 8, 16}, -3, 3, 4)});
  EXPECT_EQ(countSteps(steps, "gemm + reshape"), 0) << joined(steps);
  EXPECT_EQ(countSteps(steps, "gelu ("), 0) << joined(steps);
}

TEST(CpuTransformer, GeluAfterAMatmulWithBiasFusesWithoutAReshape) {
  std::string t = "graph @g(%in: f32[2, 5, 16]) {\n";
  t += constantLine("w", {16, 24}, -0.5, 0.5, 21);
  t += constantLine("b", {24}, -0.5, 0.5, 22);
  t += "  %m = matmul(%in, %w) : f32[2, 5, 24]\n";
  t += "  %x = add(%b, %m) : f32[2, 5, 24]\n";
  t += geluTanhLines("f32[2, 5, 24]", true);
  t += "  return %y\n}\n";
  const std::vector<std::string> steps = runAndCompare(t, {randomF({2, 5, 16}, -3, 3, 23)});
  EXPECT_EQ(countSteps(steps, "matmul + add + pow"), 1) << joined(steps);
  EXPECT_EQ(steps.size(), 1u) << joined(steps);
}

TEST(CpuTransformer, GeluWithNothingToFuseIntoIsOneStep) {
  // Large magnitudes (pow overflows), NaN, +inf and ±0. At -inf the unfused
  // nodes give -inf * 0 = NaN and the gelu its limit -0, and (x * u) * 0.5
  // overflows where 0.5 * x * u does not (|x| > FLT_MAX / 2), so those are
  // left out (see matchGeluTanh).
  for (bool swapped : {false, true}) {
    SCOPED_TRACE(swapped ? "constants first" : "as exported");
    const std::string t =
        "graph @g(%x: f32[3, 100]) {\n" + geluTanhLines("f32[3, 100]", swapped) + "  return %y\n}\n";
    Tensor x = randomF({3, 100}, -6, 6, 31);
    const double special[] = {std::nan(""), INFINITY, 0.0, -0.0, 1e20, -1e20, 1e38, -1e38, 1e-30, -1e-30};
    for (size_t i = 0; i < std::size(special); ++i) x.setDouble(static_cast<int64_t>(7 * i), special[i]);
    const std::vector<std::string> steps = runAndCompare(t, {x});
    ASSERT_EQ(steps.size(), 1u) << joined(steps);
    EXPECT_EQ(steps[0].rfind("gelu (", 0), 0u) << joined(steps);
  }
}

TEST(CpuTransformer, GeluWhoseResultLeavesTwiceStillMatches) {
  // y returned and also read by another node: the gelu still fuses (y is its output).
  std::string t = "graph @g(%x: f32[4, 33]) {\n" + geluTanhLines("f32[4, 33]", false);
  t += "  %z = neg(%y) : f32[4, 33]\n  return %y, %z\n}\n";
  const std::vector<std::string> steps = runAndCompare(t, {randomF({4, 33}, -4, 4, 41)});
  EXPECT_EQ(countSteps(steps, "gelu ("), 1) << joined(steps);
}

TEST(CpuTransformer, PowBySmallIntegerIsExactOnSpecialValues) {
  // pow(x, 2) and pow(x, 3) multiply in the chain: NaN, ±inf, ±0, overflow,
  // underflow as powf has them; pow(x, 2.5) and a run-time exponent still call pow.
  const std::string t = R"(graph @g(%x: f32[2, 300], %e: f32[2, 300]) {
  %two = constant() {value = tensor<f32[]>[2.0]} : f32[]
  %three = constant() {value = tensor<f32[1]>[3.0]} : f32[1]
  %twoandahalf = constant() {value = tensor<f32[]>[2.5]} : f32[]
  %a = pow(%x, %two) : f32[2, 300]
  %b = pow(%x, %three) : f32[2, 300]
  %c = pow(%x, %twoandahalf) : f32[2, 300]
  %d = pow(%x, %e) : f32[2, 300]
  %s = add(%a, %b) : f32[2, 300]
  return %a, %b, %c, %d, %s
}
)";
  Tensor x = randomF({2, 300}, -5, 5, 51);
  const double special[] = {std::nan(""), INFINITY, -INFINITY, 0.0, -0.0, 1e20, -1e20, 1e13, -1e13, 1e-30, -1e-30,
                            3e38, -3e38, 1.0, -1.0};
  for (size_t i = 0; i < std::size(special); ++i) x.setDouble(static_cast<int64_t>(11 * i), special[i]);
  const std::vector<std::string> steps = runAndCompare(t, {x, randomF({2, 300}, -3, 3, 52)}, 1e-6);
  EXPECT_FALSE(steps.empty());
}

/// Scaled dot-product attention as BERT exports it: scores = matmul(q, kt) /
/// sqrt(8) + mask, softmax, matmul with v. q, kt, v are inputs; the mask is
/// `maskLine` (defining %mask of `maskType`).
/// `alsoReturnMask`: the mask is read elsewhere too (BERT's by every layer).
std::string attentionGraph(bool alsoReturnMask, const std::string& maskLine, const std::string& extraIn = "") {
  std::string t = "graph @g(%q: f32[2, 4, 16, 8], %kt: f32[2, 4, 8, 16], %v: f32[2, 4, 16, 8]" + extraIn + ") {\n";
  t += "  %scale = constant() {value = tensor<f32[]>[2.828427]} : f32[]\n";
  t += maskLine;
  t += "  %s = matmul(%q, %kt) : f32[2, 4, 16, 16]\n";
  t += "  %d = div(%s, %scale) : f32[2, 4, 16, 16]\n";
  t += "  %a = add(%d, %mask) : f32[2, 4, 16, 16]\n";
  t += "  %p = softmax(%a) {axis = -1} : f32[2, 4, 16, 16]\n";
  t += "  %o = matmul(%p, %v) : f32[2, 4, 16, 8]\n";
  t += alsoReturnMask ? "  return %o, %mask\n}\n" : "  return %o\n}\n";
  return t;
}

std::vector<Tensor> attentionInputs(unsigned seed) {
  return {randomF({2, 4, 16, 8}, -2, 2, seed), randomF({2, 4, 8, 16}, -2, 2, seed + 1),
          randomF({2, 4, 16, 8}, -2, 2, seed + 2)};
}

/// A 0/1 padding mask [B, 1, 1, T] turned into BERT's additive mask (1 - m) * min_float.
const char* kBertMask = R"(  %minf = constant() {value = tensor<f32[]>[-3.4028235e+38]} : f32[]
  %onef = constant() {value = tensor<f32[]>[1.0]} : f32[]
  %inv = sub(%onef, %m) : f32[2, 1, 1, 16]
  %mask = mul(%inv, %minf) : f32[2, 1, 1, 16]
)";

TEST(CpuTransformer, AttentionMaskAddFusesIntoTheScoresMatmul) {
  {
    SCOPED_TRACE("BERT's padding mask [B, 1, 1, T], computed at run time");
    Tensor m = randomF({2, 1, 1, 16}, 0, 1, 61);
    for (int64_t i = 0; i < m.numel(); ++i) m.setDouble(i, i % 16 < (i < 16 ? 11 : 16) ? 1.0 : 0.0);
    std::vector<Tensor> in = attentionInputs(62);
    in.push_back(m);
    const std::vector<std::string> steps =
        runAndCompare(attentionGraph(true, kBertMask, ", %m: f32[2, 1, 1, 16]"), in);
    EXPECT_EQ(countSteps(steps, "matmul + div + add"), 1) << joined(steps);
  }
  for (const char* shape : {"1, 1, 1, 16", "1, 1, 16, 16", "2, 1, 16, 16", "16", "16, 16"}) {
    SCOPED_TRACE(shape);
    const std::string line = "  %mask = sub(%mr, %mr2) : f32[" + std::string(shape) + "]\n";
    std::vector<int64_t> dims;
    std::stringstream ss(shape);
    for (std::string d; std::getline(ss, d, ',');) dims.push_back(std::stoll(d));
    const std::string type = "f32[" + std::string(shape) + "]";
    std::vector<Tensor> in = attentionInputs(63);
    in.push_back(randomF(dims, -3, 3, 64));
    in.push_back(randomF(dims, -3, 3, 65));
    const std::vector<std::string> steps =
        runAndCompare(attentionGraph(true, line, ", %mr: " + type + ", %mr2: " + type), in);
    EXPECT_EQ(countSteps(steps, "matmul + div + add"), 1) << joined(steps);
  }
}

TEST(CpuTransformer, AttentionMaskAddKeepsNaNAndInfinities) {
  Tensor m = randomF({2, 1, 1, 16}, -1, 1, 71);
  m.setDouble(3, std::nan(""));
  m.setDouble(20, INFINITY);
  std::vector<Tensor> in = attentionInputs(72);
  in.push_back(m);
  const std::string line = "  %mask = identity(%m) : f32[2, 1, 1, 16]\n";
  const std::vector<std::string> steps = runAndCompare(attentionGraph(false, line, ", %m: f32[2, 1, 1, 16]"), in);
  EXPECT_EQ(countSteps(steps, "matmul + div + add"), 1) << joined(steps);
}

TEST(CpuTransformer, AddendsThatAreNotMasksAreNotFusedAsBroadcasts) {
  // A per-head addend [1, H, 1, T] (the heads dim varying) and an addend that
  // widens the result stay a separate add; results match either way.
  {
    std::vector<Tensor> in = attentionInputs(81);
    in.push_back(randomF({1, 4, 1, 16}, -1, 1, 82));
    const std::string line = "  %mask = identity(%m) : f32[1, 4, 1, 16]\n";
    const std::vector<std::string> steps =
        runAndCompare(attentionGraph(false, line, ", %m: f32[1, 4, 1, 16]"), in);
    EXPECT_EQ(countSteps(steps, "matmul + div + add"), 0) << joined(steps);
  }
  {
    // scores [1, 4, 16, 16] + [2, 1, 1, 16] -> [2, 4, 16, 16]
    std::string t = "graph @g(%q: f32[1, 4, 16, 8], %kt: f32[1, 4, 8, 16], %m: f32[2, 1, 1, 16]) {\n";
    t += "  %s = matmul(%q, %kt) : f32[1, 4, 16, 16]\n";
    t += "  %a = add(%s, %m) : f32[2, 4, 16, 16]\n";
    t += "  return %a\n}\n";
    const std::vector<std::string> steps = runAndCompare(
        t, {randomF({1, 4, 16, 8}, -2, 2, 83), randomF({1, 4, 8, 16}, -2, 2, 84), randomF({2, 1, 1, 16}, -1, 1, 85)});
    EXPECT_EQ(countSteps(steps, "matmul + add"), 0) << joined(steps);
  }
  {
    // b without batch (the batch folded into rows): a [1, 1, T, 1] column addend does not map.
    std::string t = "graph @g(%x: f32[2, 3, 16, 8], %m: f32[1, 1, 16, 1]) {\n";
    t += constantLine("w", {8, 16}, -0.5, 0.5, 86);
    t += "  %s = matmul(%x, %w) : f32[2, 3, 16, 16]\n";
    t += "  %a = add(%s, %m) : f32[2, 3, 16, 16]\n";
    t += "  return %a\n}\n";
    const std::vector<std::string> steps =
        runAndCompare(t, {randomF({2, 3, 16, 8}, -2, 2, 87), randomF({1, 1, 16, 1}, -1, 1, 88)});
    EXPECT_EQ(countSteps(steps, "matmul + add"), 0) << joined(steps);
  }
  {
    // ... while a row addend [T] there is fused (it maps onto the folded rows).
    std::string t = "graph @g(%x: f32[2, 3, 16, 8], %m: f32[1, 1, 1, 16]) {\n";
    t += constantLine("w", {8, 16}, -0.5, 0.5, 89);
    t += "  %s = matmul(%x, %w) : f32[2, 3, 16, 16]\n";
    t += "  %a = add(%s, %m) : f32[2, 3, 16, 16]\n";
    t += "  return %a\n}\n";
    const std::vector<std::string> steps =
        runAndCompare(t, {randomF({2, 3, 16, 8}, -2, 2, 90), randomF({1, 1, 1, 16}, -1, 1, 91)});
    EXPECT_EQ(countSteps(steps, "matmul + add"), 1) << joined(steps);
  }
}

/// BERT's self-attention from the projections: q, k, v [B, T, H*D] are
/// reshaped to [B, T, H, D] and transposed for the two matmuls, the result
/// transposed back and reshaped to [B, T, H*D]. `readKtTwice`: the
/// transposed k is also returned (so its transpose must run). Batch B,
/// T tokens, H heads of D.
std::string bertAttentionGraph(bool readKtTwice, int64_t B = 2, int64_t T = 16, int64_t H = 4, int64_t D = 8) {
  const std::string b = std::to_string(B), t3 = "f32[" + cpu_test::shapeOf({B, T, H * D}) + "]",
                    t4 = "f32[" + cpu_test::shapeOf({B, T, H, D}) + "]", th = "f32[" + cpu_test::shapeOf({B, H, T, D}) + "]",
                    tk = "f32[" + cpu_test::shapeOf({B, H, D, T}) + "]", ts = "f32[" + cpu_test::shapeOf({B, H, T, T}) + "]";
  std::string t = "graph @g(%qi: " + t3 + ", %ki: " + t3 + ", %vi: " + t3 + ", %m: f32[" + b + ", 1, 1, " +
                  std::to_string(T) + "]) {\n";
  t += "  %s4 = constant() {value = tensor<i64[4]>[" + cpu_test::shapeOf({B, T, H, D}) + "]} : i64[4]\n";
  t += "  %s3 = constant() {value = tensor<i64[3]>[" + cpu_test::shapeOf({B, T, H * D}) + "]} : i64[3]\n";
  t += "  %scale = constant() {value = tensor<f32[]>[2.828427]} : f32[]\n";
  t += "  %q4 = reshape(%qi, %s4) : " + t4 + "\n";
  t += "  %k4 = reshape(%ki, %s4) : " + t4 + "\n";
  t += "  %v4 = reshape(%vi, %s4) : " + t4 + "\n";
  t += "  %q = transpose(%q4) {perm = [0, 2, 1, 3]} : " + th + "\n";
  t += "  %kt = transpose(%k4) {perm = [0, 2, 3, 1]} : " + tk + "\n";
  t += "  %v = transpose(%v4) {perm = [0, 2, 1, 3]} : " + th + "\n";
  t += "  %s = matmul(%q, %kt) : " + ts + "\n";
  t += "  %d = div(%s, %scale) : " + ts + "\n";
  t += "  %a = add(%d, %m) : " + ts + "\n";
  t += "  %p = softmax(%a) {axis = -1} : " + ts + "\n";
  t += "  %o = matmul(%p, %v) : " + th + "\n";
  t += "  %ot = transpose(%o) {perm = [0, 2, 1, 3]} : " + t4 + "\n";
  t += "  %y = reshape(%ot, %s3) : " + t3 + "\n";
  t += readKtTwice ? "  return %y, %kt\n}\n" : "  return %y\n}\n";
  return t;
}

std::vector<Tensor> bertAttentionInputs(unsigned seed, int64_t B = 2, int64_t T = 16, int64_t HD = 32) {
  Tensor m = randomF({B, 1, 1, T}, -1, 0, seed + 3);
  return {randomF({B, T, HD}, -2, 2, seed), randomF({B, T, HD}, -2, 2, seed + 1), randomF({B, T, HD}, -2, 2, seed + 2),
          m};
}

TEST(CpuTransformer, AttentionTransposesAreMatmulStrides) {
  const std::vector<std::string> steps = runAndCompare(bertAttentionGraph(false), bertAttentionInputs(101));
  EXPECT_EQ(countSteps(steps, "transpose + transpose + matmul + div + add"), 1) << joined(steps);
  EXPECT_EQ(countSteps(steps, "transpose + matmul + transpose"), 1) << joined(steps);
  for (const std::string& st : steps) EXPECT_NE(st, "transpose") << joined(steps);
  // NaN in one row of q: that row's scores, probabilities and outputs are NaN.
  std::vector<Tensor> in = bertAttentionInputs(102);
  in[0].setDouble(37, std::nan(""));
  runAndCompare(bertAttentionGraph(false), in);
}

// Note [Head-major copies for split attention] (dnnl_steps.cpp): at two
// threads the attention products are cut along heads, their strided
// operands copied to head-major layouts first (and the result back); the
// outputs must equal one thread's (same kernels, same sums) and the
// reference, NaN included. Small heads (D = 8, the graph above) and BERT's
// D = 64.
TEST(CpuTransformer, AttentionSplitAlongHeadsMatchesOneThreadAndReference) {
  for (const auto& [T, H, D] : {std::tuple<int64_t, int64_t, int64_t>{128, 4, 64}, {96, 6, 8}}) {
    SCOPED_TRACE("T " + std::to_string(T) + " H " + std::to_string(H) + " D " + std::to_string(D));
    const std::string text = bertAttentionGraph(false, 1, T, H, D);
    std::vector<Tensor> in = bertAttentionInputs(141, 1, T, H * D);
    in[0].setDouble(5 * H * D + 3, std::nan(""));  // one row of q: that row's outputs are NaN
    in[2].setDouble(7, INFINITY);                   // v: inf / NaN in that column
    runAndCompare(text, in);
    auto parsed = parseGraph(text);
    ASSERT_TRUE(parsed.ok()) << parsed.status().toString();
    std::shared_ptr<const Graph> g(std::move(*parsed));
    auto one = cpuEngine({{"threads", "1"}});
    auto two = cpuEngine({{"threads", "2"}});
    ASSERT_NE(one, nullptr);
    ASSERT_NE(two, nullptr);
    auto m1 = one->compile(g);
    auto m2 = two->compile(g);
    ASSERT_TRUE(m1.ok() && m2.ok());
    auto y1 = (*m1)->run(in);
    auto y2 = (*m2)->run(in);
    ASSERT_TRUE(y1.ok() && y2.ok());
    const Tensor &a = (*y1)[0], &b = (*y2)[0];
    ASSERT_EQ(a.shape(), b.shape());
    int64_t differ = 0, nan = 0;
    for (int64_t j = 0; j < a.numel(); ++j) {
      const double x = a.getDouble(j), y = b.getDouble(j);
      nan += std::isnan(x) ? 1 : 0;
      differ += (std::isnan(x) != std::isnan(y)) || (!std::isnan(x) && x != y) ? 1 : 0;
    }
    EXPECT_EQ(differ, 0) << "of " << a.numel() << " outputs";
    EXPECT_GE(nan, D);  // the NaN in q reaches its row of its head
  }
}

// BERT's attention at T = 64 (scores [1, 4, 64, 64]) against the reference,
// at one and two threads (heads split, head-major copies), on two runs of
// one compiled model: finite inputs; NaN in q, in k, in the mask; inf in q;
// a mask of -inf; values whose products overflow to inf (rows of NaN); and
// values whose scores come near FLT_MAX while staying finite.
TEST(CpuTransformer, AttentionScoresKeepNonFiniteRows) {
  const int64_t T = 64, H = 4, D = 8;
  const std::string text = bertAttentionGraph(false, 1, T, H, D);
  for (const char* threads : {"1", "2"}) {
    SCOPED_TRACE(std::string("threads ") + threads);
    auto engine = cpuEngine({{"threads", threads}});
    ASSERT_NE(engine, nullptr);
    struct Case {
      const char* what;
      int input;  // 0 q, 1 k, 3 mask; -1: none
      int64_t at;
      double value;
      double scale;  // q and k scaled by this
    };
    for (const Case& c : {Case{"finite", -1, 0, 0, 1}, Case{"NaN in q", 0, 5 * H * D + 3, NAN, 1},
                          Case{"NaN in k", 1, 9 * H * D + 17, NAN, 1}, Case{"NaN in the mask", 3, 11, NAN, 1},
                          Case{"inf in q", 0, 2 * H * D + 1, INFINITY, 1}, Case{"-inf in the mask", 3, 7, -INFINITY, 1},
                          Case{"products overflow", -1, 0, 0, 1e19}, Case{"scores near FLT_MAX", -1, 0, 0, 3e18}}) {
      SCOPED_TRACE(c.what);
      std::vector<Tensor> in = bertAttentionInputs(191, 1, T, H * D);
      for (int i = 0; i < 2; ++i) {
        for (int64_t j = 0; j < in[static_cast<size_t>(i)].numel(); ++j) {
          in[static_cast<size_t>(i)].setDouble(j, in[static_cast<size_t>(i)].getDouble(j) * c.scale);
        }
      }
      if (c.input >= 0) in[static_cast<size_t>(c.input)].setDouble(c.at, c.value);
      const std::optional<CpuAndReference> r = runOnCpuAndReference(text, in);
      ASSERT_TRUE(r.has_value());
      auto parsed = parseGraph(text);
      ASSERT_TRUE(parsed.ok()) << parsed.status().toString();
      auto m = engine->compile(std::shared_ptr<const Graph>(std::move(*parsed)));
      ASSERT_TRUE(m.ok()) << m.status().toString();
      for (int run = 0; run < 2; ++run) {  // (the second run uses the plan and the cached primitives)
        auto y = (*m)->run(in);
        ASSERT_TRUE(y.ok()) << y.status().toString();
        const auto [bad, nan] = mismatches((*y)[0], r->reference[0]);
        EXPECT_EQ(bad, 0) << "of " << (*y)[0].numel() << " outputs";
        if ((c.input >= 0 && !(c.value < 0)) || c.scale >= 1e19) {
          EXPECT_GT(nan, 0) << "the case must make NaN";
        }
      }
    }
  }
}

// Note [Fused attention] (attention.cpp): attention's three steps become one
// on a CPU with AVX-512F. Shapes that exercise the kernel's edges (one query
// row, odd T and S, T past the 64-row block and not a multiple of it, S not
// a multiple of 16, D not a multiple of 16, queries and keys of different
// lengths), each mask shape the product takes ([B, 1, 1, S], [1, 1, T, S],
// [B, 1, T, S], [S], none), against the reference at one and two threads,
// then NaN in q, +inf in k, NaN in v and a mask row of only -inf (that row
// NaN, as the reference has it).
std::string attentionGraph(int64_t B, int64_t T, int64_t S, int64_t H, int64_t D, const std::vector<int64_t>& mask) {
  const std::string tq = "f32[" + cpu_test::shapeOf({B, T, H * D}) + "]", tk = "f32[" + cpu_test::shapeOf({B, S, H * D}) + "]";
  std::string t = "graph @g(%qi: " + tq + ", %ki: " + tk + ", %vi: " + tk;
  if (!mask.empty()) t += ", %m: f32[" + cpu_test::shapeOf(mask) + "]";
  t += ") {\n";
  t += "  %sq = constant() {value = tensor<i64[4]>[" + cpu_test::shapeOf({B, T, H, D}) + "]} : i64[4]\n";
  t += "  %sk = constant() {value = tensor<i64[4]>[" + cpu_test::shapeOf({B, S, H, D}) + "]} : i64[4]\n";
  t += "  %s3 = constant() {value = tensor<i64[3]>[" + cpu_test::shapeOf({B, T, H * D}) + "]} : i64[3]\n";
  t += "  %scale = constant() {value = tensor<f32[]>[" + std::to_string(std::sqrt(static_cast<double>(D))) + "]} : f32[]\n";
  t += "  %q4 = reshape(%qi, %sq) : f32[" + cpu_test::shapeOf({B, T, H, D}) + "]\n";
  t += "  %k4 = reshape(%ki, %sk) : f32[" + cpu_test::shapeOf({B, S, H, D}) + "]\n";
  t += "  %v4 = reshape(%vi, %sk) : f32[" + cpu_test::shapeOf({B, S, H, D}) + "]\n";
  t += "  %q = transpose(%q4) {perm = [0, 2, 1, 3]} : f32[" + cpu_test::shapeOf({B, H, T, D}) + "]\n";
  t += "  %kt = transpose(%k4) {perm = [0, 2, 3, 1]} : f32[" + cpu_test::shapeOf({B, H, D, S}) + "]\n";
  t += "  %v = transpose(%v4) {perm = [0, 2, 1, 3]} : f32[" + cpu_test::shapeOf({B, H, S, D}) + "]\n";
  const std::string ts = "f32[" + cpu_test::shapeOf({B, H, T, S}) + "]";
  t += "  %s = matmul(%q, %kt) : " + ts + "\n";
  t += "  %d = div(%s, %scale) : " + ts + "\n";
  if (!mask.empty()) t += "  %a = add(%d, %m) : " + ts + "\n";
  t += "  %p = softmax(" + std::string(mask.empty() ? "%d" : "%a") + ") {axis = -1} : " + ts + "\n";
  t += "  %o = matmul(%p, %v) : f32[" + cpu_test::shapeOf({B, H, T, D}) + "]\n";
  t += "  %ot = transpose(%o) {perm = [0, 2, 1, 3]} : f32[" + cpu_test::shapeOf({B, T, H, D}) + "]\n";
  t += "  %y = reshape(%ot, %s3) : " + tq + "\n";
  t += "  return %y\n}\n";
  return t;
}

/// The NaN elements of `t`.
int64_t nanCount(const Tensor& t) {
  int64_t n = 0;
  for (int64_t j = 0; j < t.numel(); ++j) n += std::isnan(t.getDouble(j)) ? 1 : 0;
  return n;
}

/// `text` on cpu engines of 1 and 2 threads, `runs` runs each (the second
/// uses the plan and the cached primitives): every output element like
/// `want`'s (mismatches).
void expectLikeTheReferenceAtOneAndTwoThreads(const std::string& text, const std::vector<Tensor>& in,
                                              const Tensor& want, int runs) {
  auto parsed = parseGraph(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().toString();
  std::shared_ptr<const Graph> g(std::move(*parsed));
  for (const char* threads : {"1", "2"}) {
    SCOPED_TRACE(std::string("threads ") + threads);
    auto engine = cpuEngine({{"threads", threads}});
    ASSERT_NE(engine, nullptr);
    auto m = engine->compile(g);
    ASSERT_TRUE(m.ok()) << m.status().toString();
    for (int run = 0; run < runs; ++run) {
      auto y = (*m)->run(in);
      ASSERT_TRUE(y.ok()) << y.status().toString();
      EXPECT_EQ(mismatches((*y)[0], want).bad, 0) << "run " << run << ", of " << want.numel() << " outputs";
    }
  }
}

TEST(CpuTransformer, FusedAttentionMatchesTheReference) {
  struct Shape {
    int64_t B, T, S, H, D;
    std::vector<int64_t> mask;
  };
  const std::vector<Shape> shapes = {{1, 1, 5, 1, 8, {5}},           {1, 7, 7, 2, 8, {1, 1, 1, 7}},
                                     {2, 65, 65, 3, 20, {2, 1, 1, 65}}, {1, 130, 130, 2, 64, {1, 1, 130, 130}},
                                     {2, 33, 70, 2, 16, {2, 1, 33, 70}}, {1, 40, 40, 2, 8, {}}};
  for (const Shape& sh : shapes) {
    const std::string text = attentionGraph(sh.B, sh.T, sh.S, sh.H, sh.D, sh.mask);
    SCOPED_TRACE("B " + std::to_string(sh.B) + " T " + std::to_string(sh.T) + " S " + std::to_string(sh.S) + " H " +
                 std::to_string(sh.H) + " D " + std::to_string(sh.D) + " mask [" + cpu_test::shapeOf(sh.mask) + "]");
    for (int c = 0; c < 5; ++c) {
      SCOPED_TRACE("case " + std::to_string(c));
      const int64_t HD = sh.H * sh.D;
      std::vector<Tensor> in = {randomF({sh.B, sh.T, HD}, -2, 2, 301 + c), randomF({sh.B, sh.S, HD}, -2, 2, 311 + c),
                                randomF({sh.B, sh.S, HD}, -2, 2, 321 + c)};
      if (!sh.mask.empty()) in.push_back(randomF(sh.mask, -3, 0, 331 + c));
      const int64_t lastRow = (sh.T - 1) * HD;  // batch 0, the last query row
      if (c == 1) in[0].setDouble(lastRow + 1, std::nan(""));
      if (c == 2) {  // +inf in a key of head 0, times q > 0: +inf scores, rows of NaN
        in[1].setDouble(sh.S / 2 * HD, INFINITY);
        for (int64_t t = 0; t < sh.T; ++t) in[0].setDouble(t * HD, 1.0);
      }
      if (c == 3) in[2].setDouble(HD - 1, std::nan(""));
      if (c == 4 && sh.mask.size() == 4 && sh.mask[2] == sh.T) {
        for (int64_t j = 0; j < sh.S; ++j) in[3].setDouble((sh.T - 1) * sh.S + j, -INFINITY);  // a masked-out row
      }
      if (c == 4 && sh.mask.size() == 4 && sh.mask[2] == 1) in[3].setDouble(0, -INFINITY);  // one key masked out
      const std::optional<CpuAndReference> r = runOnCpuAndReference(text, in);
      ASSERT_TRUE(r.has_value());
      if (cpu_test::cpuHasAvx512f()) {
        EXPECT_EQ(countSteps(r->steps, "attention ("), 1) << joined(r->steps);
        EXPECT_EQ(countSteps(r->steps, "softmax"), 1) << joined(r->steps);  // (inside the fused step's name)
      }
      const int64_t nan = nanCount(r->reference[0]);
      if (c == 1 || c == 2 || c == 3) {
        EXPECT_GT(nan, 0) << "the case must make NaN";
      }
      if (c == 0) {
        EXPECT_EQ(nan, 0);
      }
      expectLikeTheReferenceAtOneAndTwoThreads(text, in, r->reference[0], 2);
    }
  }
}

// GPT-2's attention (Note [Fused attention]): scores / 8, a cast (view),
// where(constant causal mask, ., -FLT_MAX), softmax, cast, times v: one
// step with the where applied on the softmax's read. T = 70 (past the
// 64-row block), D = 16; finite inputs, NaN in q (its row NaN), NaN in k
// (NaN for the rows that see that key, masked for the earlier ones), at one
// and two threads, against the reference.
TEST(CpuTransformer, Gpt2CausalAttentionIsFused) {
  const int64_t T = 70, H = 2, D = 16, HD = H * D;
  const std::string t3 = "f32[" + cpu_test::shapeOf({1, T, HD}) + "]", t4 = "f32[" + cpu_test::shapeOf({1, T, H, D}) + "]",
                    th = "f32[" + cpu_test::shapeOf({1, H, T, D}) + "]", ts = "f32[" + cpu_test::shapeOf({1, H, T, T}) + "]";
  std::string t = "graph @g(%qi: " + t3 + ", %ki: " + t3 + ", %vi: " + t3 + ") {\n";
  t += "  %s4 = constant() {value = tensor<i64[4]>[" + cpu_test::shapeOf({1, T, H, D}) + "]} : i64[4]\n";
  t += "  %eight = constant() {value = tensor<f32[]>[4.0]} : f32[]\n";
  t += "  %big = constant() {value = tensor<f32[]>[-3.4028235e+38]} : f32[]\n";
  t += "  %causal = constant() {value = tensor<bool[1, 1, " + std::to_string(T) + ", " + std::to_string(T) + "]>[";
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < T; ++j) t += std::string(i + j ? ", " : "") + (j <= i ? "true" : "false");
  t += "]} : bool[1, 1, " + std::to_string(T) + ", " + std::to_string(T) + "]\n";
  t += "  %q4 = reshape(%qi, %s4) : " + t4 + "\n";
  t += "  %k4 = reshape(%ki, %s4) : " + t4 + "\n";
  t += "  %v4 = reshape(%vi, %s4) : " + t4 + "\n";
  t += "  %q = transpose(%q4) {perm = [0, 2, 1, 3]} : " + th + "\n";
  t += "  %kt = transpose(%k4) {perm = [0, 2, 3, 1]} : f32[" + cpu_test::shapeOf({1, H, D, T}) + "]\n";
  t += "  %v = transpose(%v4) {perm = [0, 2, 1, 3]} : " + th + "\n";
  t += "  %s = matmul(%q, %kt) : " + ts + "\n";
  t += "  %d = div(%s, %eight) : " + ts + "\n";
  t += "  %c = cast(%d) {to = \"f32\"} : " + ts + "\n";
  t += "  %w = where(%causal, %c, %big) : " + ts + "\n";
  t += "  %p = softmax(%w) {axis = -1} : " + ts + "\n";
  t += "  %pc = cast(%p) {to = \"f32\"} : " + ts + "\n";
  t += "  %o = matmul(%pc, %v) : " + th + "\n";
  t += "  %ot = transpose(%o) {perm = [0, 2, 1, 3]} : " + t4 + "\n";
  t += "  return %ot\n}\n";
  for (int c = 0; c < 3; ++c) {
    SCOPED_TRACE("case " + std::to_string(c));
    std::vector<Tensor> in = {randomF({1, T, HD}, -2, 2, 341 + c), randomF({1, T, HD}, -2, 2, 351 + c),
                              randomF({1, T, HD}, -2, 2, 361 + c)};
    if (c == 1) in[0].setDouble(9 * HD + 3, std::nan(""));   // q, row 9, head 0
    if (c == 2) in[1].setDouble(40 * HD + 20, std::nan(""));  // k, key 40, head 1
    const std::optional<CpuAndReference> r = runOnCpuAndReference(t, in);
    ASSERT_TRUE(r.has_value());
    if (cpu_test::cpuHasAvx512f()) {
      EXPECT_EQ(countSteps(r->steps, "attention ("), 1) << joined(r->steps);
      EXPECT_EQ(countSteps(r->steps, "where"), 1) << joined(r->steps);  // (in the fused step's name)
    }
    EXPECT_EQ(nanCount(r->reference[0]), c == 0 ? 0 : c == 1 ? D : (T - 40) * D);
    expectLikeTheReferenceAtOneAndTwoThreads(t, in, r->reference[0], 1);
  }
}

/// GPT-2's residual after a Conv1D: [1, 8, 16] -> reshape [8, 16] -> gemm
/// (+ c) -> reshape [1, 8, 32] -> add the residual %r. `c`: the gemm's third
/// operand ("" none, "const" a constant row, "input" the graph input %c
/// [8, 32]); `extra`: a second reader of the reshaped product.
std::string gpt2ResidualGraph(const std::string& c, bool extra = false, bool swapped = false) {
  std::string t = "graph @g(%in: f32[1, 8, 16], %r: f32[1, 8, 32]" +
                  std::string(c == "input" ? ", %c: f32[8, 32]" : "") + ") {\n";
  t += constantLine("w", {16, 32}, -0.5, 0.5, 171);
  if (c == "const") t += constantLine("c", {32}, -0.5, 0.5, 172);
  t += "  %s2d = constant() {value = tensor<i64[2]>[8, 16]} : i64[2]\n";
  t += "  %s3d = constant() {value = tensor<i64[3]>[1, 8, 32]} : i64[3]\n";
  t += "  %a = reshape(%in, %s2d) : f32[8, 16]\n";
  t += "  %m = gemm(%a, %w" + std::string(c.empty() ? "" : ", %c") + ") : f32[8, 32]\n";
  t += "  %x = reshape(%m, %s3d) : f32[1, 8, 32]\n";
  t += swapped ? "  %y = add(%r, %x) : f32[1, 8, 32]\n" : "  %y = add(%x, %r) : f32[1, 8, 32]\n";
  if (extra) return t + "  %z = neg(%x) : f32[1, 8, 32]\n  return %y, %z\n}\n";
  return t + "  return %y\n}\n";
}

// Note [Reshape before a residual sum] (region.cpp): gemm -> reshape -> add
// is one step with a sum post-op, against the reference (NaN and infinities
// in the residual and the input); not fused when the reshaped product has
// another reader or the gemm's c is a run-time input.
TEST(CpuTransformer, Gpt2ResidualAddFusesThroughTheReshape) {
  Tensor in = randomF({1, 8, 16}, -2, 2, 173), r = randomF({1, 8, 32}, -2, 2, 174);
  in.setDouble(20, std::nan(""));
  r.setDouble(5, INFINITY);
  r.setDouble(40, -INFINITY);
  r.setDouble(77, std::nan(""));
  for (const char* c : {"", "const"}) {
    for (bool swapped : {false, true}) {
      SCOPED_TRACE(std::string("c '") + c + "'" + (swapped ? ", residual first" : ""));
      const std::vector<std::string> steps = runAndCompare(gpt2ResidualGraph(c, false, swapped), {in, r});
      EXPECT_EQ(countSteps(steps, "gemm + reshape + add"), 1) << joined(steps);
    }
  }
  {
    SCOPED_TRACE("the reshaped product read twice");
    const std::vector<std::string> steps = runAndCompare(gpt2ResidualGraph("", true), {in, r});
    EXPECT_EQ(countSteps(steps, "gemm + reshape + add"), 0) << joined(steps);
  }
  {
    SCOPED_TRACE("c given at run time");
    const std::vector<std::string> steps = runAndCompare(gpt2ResidualGraph("input"), {in, r, randomF({8, 32}, -1, 1, 175)});
    EXPECT_EQ(countSteps(steps, "gemm + reshape + add"), 0) << joined(steps);
  }
}

// softmax and log_softmax write over their input when it dies there (the
// attention scores; Note [In-place residual sum]), and the non-finite check
// runs before: rows with NaN, +inf, only -inf, and -inf among finite
// values, against the reference; also an input read again afterwards (no
// in-place then) and a gemm's residual sum in place.
TEST(CpuTransformer, SoftmaxInPlaceKeepsNonFiniteRows) {
  for (const char* op : {"softmax", "log_softmax"}) {
    SCOPED_TRACE(op);
    Tensor x = randomF({6, 40}, -4, 4, 181);
    x.setDouble(0 * 40 + 3, std::nan(""));
    x.setDouble(1 * 40 + 7, INFINITY);
    for (int j = 0; j < 40; ++j) x.setDouble(2 * 40 + j, -INFINITY);
    x.setDouble(3 * 40 + 9, -INFINITY);
    for (bool readAgain : {false, true}) {
      std::string t = "graph @g(%x: f32[6, 40]) {\n  %n = neg(%x) : f32[6, 40]\n";
      t += "  %p = " + std::string(op) + "(%n) {axis = -1} : f32[6, 40]\n";
      t += readAgain ? "  %q = add(%p, %n) : f32[6, 40]\n  return %q\n}\n" : "  return %p\n}\n";
      runAndCompare(t, {x});
      runAndCompare(t, {randomF({6, 40}, -4, 4, 182)});
    }
  }
  // A residual read by the product's step only through the sum: in place.
  std::string t = "graph @g(%x: f32[16, 32]) {\n";
  t += constantLine("w", {32, 32}, -0.5, 0.5, 183);
  t += "  %r = neg(%x) : f32[16, 32]\n  %m = matmul(%r, %w) : f32[16, 32]\n";
  t += "  %y = add(%m, %r) : f32[16, 32]\n  return %y\n}\n";
  Tensor x = randomF({16, 32}, -2, 2, 184);
  x.setDouble(40, std::nan(""));
  const std::vector<std::string> steps = runAndCompare(t, {x});
  EXPECT_EQ(countSteps(steps, "matmul + add"), 1) << joined(steps);
  // ... and one the product does not read (dst is the residual's memory).
  std::string u = "graph @g(%x: f32[16, 32]) {\n";
  u += constantLine("w", {32, 32}, -0.5, 0.5, 185);
  u += "  %r = softmax(%x) {axis = -1} : f32[16, 32]\n  %h = exp(%x) : f32[16, 32]\n  %m = matmul(%h, %w) : f32[16, 32]\n";
  u += "  %y = add(%r, %m) : f32[16, 32]\n  %z = mul(%y, %y) : f32[16, 32]\n  return %z\n}\n";
  const std::vector<std::string> steps2 = runAndCompare(u, {x});
  EXPECT_EQ(countSteps(steps2, "matmul + add"), 1) << joined(steps2);
}

/// layer_norm of x [rows, C] with a scale (and bias when `bias`) of `param`
/// dims, `attrs` as written in the node.
std::string layerNormGraph(int64_t rows, int64_t C, const std::vector<int64_t>& param, bool bias,
                           const std::string& attrs = "") {
  const std::string tx = "f32[" + cpu_test::shapeOf({rows, C}) + "]", tp = "f32[" + cpu_test::shapeOf(param) + "]";
  std::string t = "graph @g(%x: " + tx + ", %s: " + tp + (bias ? ", %b: " + tp : std::string()) + ") {\n";
  t += "  %y = layer_norm(%x, %s" + std::string(bias ? ", %b" : "") + ")" + attrs + " : " + tx + "\n";
  return t + "  return %y\n}\n";
}

// layer_norm over the last dim runs on oneDNN's layer normalization (one
// step named layer_norm either way; which kernel ran is not visible in the
// profile, so the check is the result): against the reference, with NaN and
// infinities in rows (the whole row NaN), eps 0 on a constant row (0/0:
// NaN), no bias, rows split over 2 threads, and the cases oneDNN does not
// take (axis not last, a broadcast scale) still right on the portable kernel.
TEST(CpuTransformer, LayerNormOverTheLastDimMatchesTheReference) {
  for (const auto& [rows, C] : {std::pair<int64_t, int64_t>{128, 768}, {7, 5}, {1, 1}}) {
    SCOPED_TRACE("rows " + std::to_string(rows) + " C " + std::to_string(C));
    Tensor x = randomF({rows, C}, -3, 3, 151);
    if (rows > 3 && C > 3) {
      x.setDouble(1 * C + 2, std::nan(""));
      x.setDouble(2 * C + 1, INFINITY);
      x.setDouble(3 * C + 0, -INFINITY);
    }
    for (bool bias : {true, false}) {
      std::vector<Tensor> in = {x, randomF({C}, 0.5, 2, 152)};
      if (bias) in.push_back(randomF({C}, -1, 1, 153));
      const std::vector<std::string> steps = runAndCompare(layerNormGraph(rows, C, {C}, bias, " {epsilon = 1e-5}"), in);
      EXPECT_EQ(countSteps(steps, "layer_norm"), 1) << joined(steps);
    }
  }
  {
    SCOPED_TRACE("epsilon 0 and a constant row");
    Tensor x = randomF({4, 16}, -3, 3, 154);
    for (int j = 0; j < 16; ++j) x.setDouble(16 + j, 2.5);
    runAndCompare(layerNormGraph(4, 16, {16}, true, " {epsilon = 0.0}"),
                  {x, randomF({16}, 0.5, 2, 155), randomF({16}, -1, 1, 156)});
  }
  {
    SCOPED_TRACE("not taken by oneDNN: a broadcast scale, the last two dims");
    runAndCompare(layerNormGraph(6, 8, {1}, true), {randomF({6, 8}, -3, 3, 157), randomF({1}, 0.5, 2, 158),
                                                     randomF({1}, -1, 1, 159)});
    runAndCompare(layerNormGraph(6, 8, {6, 8}, true, " {axis = 0}"),
                  {randomF({6, 8}, -3, 3, 160), randomF({6, 8}, 0.5, 2, 161), randomF({6, 8}, -1, 1, 162)});
  }
}

TEST(CpuTransformer, TransposesThatCannotBeStridesStay) {
  {
    // k's transpose is also returned: it runs, the other two are folded.
    const std::vector<std::string> steps = runAndCompare(bertAttentionGraph(true), bertAttentionInputs(111));
    EXPECT_EQ(countSteps(steps, "transpose + matmul + div + add"), 1) << joined(steps);
    EXPECT_EQ(countSteps(steps, "transpose + transpose + matmul"), 0) << joined(steps);
    EXPECT_TRUE(cpu_test::has(steps, "transpose")) << joined(steps);
  }
  {
    // A perm moving the stored last dim into the batch: no unit stride in the matrix.
    std::string u = "graph @g(%x: f32[6, 3, 5, 4]) {\n";
    u += constantLine("w", {6, 7}, -1, 1, 112);
    u += "  %xt = transpose(%x) {perm = [3, 1, 2, 0]} : f32[4, 3, 5, 6]\n";
    u += "  %y = matmul(%xt, %w) : f32[4, 3, 5, 7]\n";
    u += "  return %y\n}\n";
    const std::vector<std::string> steps = runAndCompare(u, {randomF({6, 3, 5, 4}, -2, 2, 113)});
    EXPECT_TRUE(cpu_test::has(steps, "transpose")) << joined(steps);
    EXPECT_EQ(countSteps(steps, "transpose + matmul"), 0) << joined(steps);
  }
}

TEST(CpuTransformer, TransposedOperandsOfAnyRankAndBroadcast) {
  // Rank 2 (x^T w, the result transposed), and a transposed batched a times
  // one constant matrix (the batch is not folded into rows then).
  std::string t = "graph @g(%x: f32[9, 5], %z: f32[2, 7, 3, 5]) {\n";
  t += constantLine("w", {9, 6}, -1, 1, 121);
  t += constantLine("v", {5, 4}, -1, 1, 122);
  t += "  %xt = transpose(%x) : f32[5, 9]\n";
  t += "  %m = matmul(%xt, %w) : f32[5, 6]\n";
  t += "  %mt = transpose(%m) : f32[6, 5]\n";
  t += "  %zt = transpose(%z) {perm = [0, 2, 1, 3]} : f32[2, 3, 7, 5]\n";
  t += "  %n = matmul(%zt, %v) : f32[2, 3, 7, 4]\n";
  t += "  return %mt, %n\n}\n";
  const std::vector<std::string> steps =
      runAndCompare(t, {randomF({9, 5}, -2, 2, 123), randomF({2, 7, 3, 5}, -2, 2, 124)});
  EXPECT_EQ(countSteps(steps, "transpose + matmul + transpose"), 1) << joined(steps);
  EXPECT_EQ(countSteps(steps, "transpose + matmul"), 2) << joined(steps);
  for (const std::string& st : steps) EXPECT_NE(st, "transpose") << joined(steps);
}

TEST(CpuTransformer, Gpt2CausalAttentionWithCastsAndWhere) {
  // GPT-2's scores: matmul / 8, cast to f32 (a view), where(causal, x, min_float),
  // softmax, cast, matmul with v. NaN in q: the unmasked scores of that row are NaN.
  std::string t = "graph @g(%q: f32[1, 2, 6, 4], %kt: f32[1, 2, 4, 6], %v: f32[1, 2, 6, 4]) {\n";
  t += "  %eight = constant() {value = tensor<f32[]>[8.0]} : f32[]\n";
  t += "  %big = constant() {value = tensor<f32[]>[-3.4028235e+38]} : f32[]\n";
  t += "  %causal = constant() {value = tensor<bool[1, 1, 6, 6]>[";
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) t += std::string(i + j ? ", " : "") + (j <= i ? "true" : "false");
  t += "]} : bool[1, 1, 6, 6]\n";
  t += "  %s = matmul(%q, %kt) : f32[1, 2, 6, 6]\n";
  t += "  %d = div(%s, %eight) : f32[1, 2, 6, 6]\n";
  t += "  %c = cast(%d) {to = \"f32\"} : f32[1, 2, 6, 6]\n";
  t += "  %w = where(%causal, %c, %big) : f32[1, 2, 6, 6]\n";
  t += "  %p = softmax(%w) {axis = -1} : f32[1, 2, 6, 6]\n";
  t += "  %pc = cast(%p) {to = \"f32\"} : f32[1, 2, 6, 6]\n";
  t += "  %o = matmul(%pc, %v) : f32[1, 2, 6, 4]\n";
  t += "  return %o, %c\n}\n";
  std::vector<Tensor> in = {randomF({1, 2, 6, 4}, -2, 2, 131), randomF({1, 2, 4, 6}, -2, 2, 132),
                            randomF({1, 2, 6, 4}, -2, 2, 133)};
  in[0].setDouble(9, std::nan(""));
  in[1].setDouble(3, INFINITY);
  const std::vector<std::string> steps = runAndCompare(t, in);
  EXPECT_EQ(countSteps(steps, "matmul + div"), 1) << joined(steps);
}

}  // namespace
}  // namespace sy
