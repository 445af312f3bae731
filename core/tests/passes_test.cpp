// Graph passes, text in / text out: each test parses a program, runs one pass,
// and compares the whole printed result. Every rewritten program must still
// verify and give bitwise the same results as the original.
#include "switchyard/passes.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "switchyard/interpreter.h"
#include "switchyard/program.h"
#include "switchyard/text.h"
#include "switchyard/verifier.h"
#include "test_util.h"

#define EXPECT_HAS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "\"" << (text) << "\" lacks \"" << (part) << "\""

namespace sy {
namespace {

using ::sy::testing::F;
using ::sy::testing::I;

using Pass = std::function<Result<size_t>(Graph&)>;

std::unique_ptr<Graph> parseOk(std::string_view text, bool mustVerify = true) {
  auto g = parseGraph(text);
  EXPECT_TRUE(g.ok()) << g.status().toString();
  if (!g.ok()) return nullptr;
  if (mustVerify) {
    Status st = verify(**g);
    EXPECT_TRUE(st.ok()) << st.toString();
  }
  return std::move(*g);
}

Result<std::vector<Tensor>> runGraph(std::unique_ptr<Graph> g, const std::vector<Tensor>& inputs) {
  SY_ASSIGN_OR_RETURN(auto in, Interpreter::create(std::shared_ptr<const Graph>(std::move(g))));
  return in->run(inputs);
}

/// Runs `pass` on `before` (with `weights` attached), checks the count, the
/// whole printed result, that it verifies, and that it computes bitwise the
/// same as the original on every input set in `inputSets`.
void checkPass(const char* before, const Pass& pass, size_t expectedCount, const char* expectedText,
               const std::vector<std::vector<Tensor>>& inputSets,
               const std::map<std::string, Tensor>& weights = {}) {
  auto original = parseOk(before, false);
  ASSERT_NE(original, nullptr);
  original->setWeights(weights);
  ASSERT_TRUE(verify(*original).ok()) << verify(*original).toString();
  auto rewritten = original->clone();
  auto count = pass(*rewritten);
  ASSERT_TRUE(count.ok()) << count.status().toString();
  const std::string text = printGraph(*rewritten);
  EXPECT_EQ(text, expectedText);
  EXPECT_EQ(*count, expectedCount);
  Status st = verify(*rewritten);
  ASSERT_TRUE(st.ok()) << st.toString() << "\n" << text;
  // The printed result is canonical: it parses back to itself.
  auto reparsed = parseGraph(text);
  ASSERT_TRUE(reparsed.ok()) << reparsed.status().toString();
  EXPECT_EQ(printGraph(**reparsed), text);
  for (size_t k = 0; k < inputSets.size(); ++k) {
    auto want = runGraph(original->clone(), inputSets[k]);
    ASSERT_TRUE(want.ok()) << want.status().toString();
    auto got = runGraph(std::move(rewritten), inputSets[k]);
    ASSERT_TRUE(got.ok()) << got.status().toString();
    ASSERT_EQ(got->size(), want->size());
    for (size_t i = 0; i < got->size(); ++i)
      EXPECT_TRUE((*got)[i].bitwiseEqual((*want)[i]))
          << "input set " << k << ", output " << i << ": " << (*got)[i].toString() << " vs "
          << (*want)[i].toString();
    rewritten = original->clone();
    ASSERT_TRUE(pass(*rewritten).ok());
  }
}

Result<size_t> fold(Graph& g) { return foldConstants(g); }
Result<size_t> dce(Graph& g) { return eliminateDeadCode(g); }
Result<size_t> cse(Graph& g) { return eliminateCommonSubexpressions(g); }
Result<size_t> shapes(Graph& g) { return propagateShapes(g); }

// ---------------------------------------------------------------------------
// Constant folding

TEST(FoldConstantsTest, ChainOfConstantOpsFoldsToOneConstant) {
  checkPass(R"(
graph @g(%x: f32[3]) {
  %a = constant() {value = tensor<f32[3]>[1.0, 2.0, 3.0]} : f32[3]
  %b = constant() {value = tensor<f32[]>[2.0]} : f32[]
  %c = mul(%a, %b) : f32[3]
  %d = add(%c, %a) : f32[3]
  %e = neg(%d) : f32[3]
  %y = add(%x, %e) : f32[3]
  return %y
}
)",
            fold, 3, R"(graph @g(%x: f32[3]) {
  %e = constant() {value = tensor<f32[3]>[-3.0, -6.0, -9.0]} : f32[3]
  %y = add(%x, %e) : f32[3]
  return %y
}
)",
            {{F({3}, {1, 1, 1})}, {F({3}, {0.5, -2, 100})}});
}

TEST(FoldConstantsTest, RefinesTypeOfFoldedValue) {
  // The shape op's result is only known as i64[?] in the text; folding makes it i64[2].
  checkPass(R"(
graph @g(%x: f32[2, 3]) {
  %c = constant() {value = tensor<f32[3, 2]>[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]} : f32[3, 2]
  %s = shape(%c) : i64[?]
  %n = cast(%s) {to = "f32"} : f32[?]
  %r = reshape(%x, %s) : f32[?, ?]
  return %r, %n
}
)",
            fold, 2, R"(graph @g(%x: f32[2, 3]) {
  %s = constant() {value = tensor<i64[2]>[3, 2]} : i64[2]
  %n = constant() {value = tensor<f32[2]>[3.0, 2.0]} : f32[2]
  %r = reshape(%x, %s) : f32[?, ?]
  return %r, %n
}
)",
            {{F({2, 3}, {1, 2, 3, 4, 5, 6})}});
}

TEST(FoldConstantsTest, NodeWithNonConstantInputStays) {
  const char* text = R"(graph @g(%x: f32[2]) {
  %a = constant() {value = tensor<f32[2]>[1.0, 2.0]} : f32[2]
  %y = add(%x, %a) : f32[2]
  %z = mul(%y, %a) : f32[2]
  return %z
}
)";
  checkPass(text, fold, 0, text, {{F({2}, {3, 4})}});
}

TEST(FoldConstantsTest, ResultsAboveMaxElementsAreNotFolded) {
  const char* text = R"(graph @g(%x: f32[]) {
  %one = constant() {value = tensor<f32[]>[1.0]} : f32[]
  %shape = constant() {value = tensor<i64[1]>[100]} : i64[1]
  %big = expand(%one, %shape) : f32[100]
  %s = reduce_sum(%big) {keepdims = 0} : f32[]
  %y = add(%x, %s) : f32[]
  return %y
}
)";
  FoldOptions small;
  small.maxElements = 50;
  // Nothing folds: %big is too large, and %s depends on it. Its inputs stay.
  checkPass(text, [&](Graph& g) { return foldConstants(g, small); }, 0, text,
            {{Tensor::scalarF32(0.5f)}});
  // With the default limit both fold.
  checkPass(text, fold, 2, R"(graph @g(%x: f32[]) {
  %s = constant() {value = tensor<f32[]>[100.0]} : f32[]
  %y = add(%x, %s) : f32[]
  return %y
}
)",
            {{Tensor::scalarF32(0.5f)}});
}

constexpr const char* kConstIf = R"(
graph @g(%x: f32[2]) {
  %c = constant() {value = tensor<bool[]>[COND]} : bool[]
  %y = if(%c) : f32[2] {
  ^then:
    %a = relu(%x) : f32[2]
    %a2 = mul(%a, %a) : f32[2]
    yield %a2
  ^else:
    %b = neg(%x) : f32[2]
    yield %b
  }
  %z = add(%y, %x) : f32[2]
  return %z, %y
}
)";

std::string withCond(const char* cond) {
  std::string s = kConstIf;
  s.replace(s.find("COND"), 4, cond);
  return s;
}

TEST(FoldConstantsTest, IfWithConstantTrueConditionIsInlined) {
  checkPass(withCond("true").c_str(), fold, 1, R"(graph @g(%x: f32[2]) {
  %a = relu(%x) : f32[2]
  %y = mul(%a, %a) : f32[2]
  %z = add(%y, %x) : f32[2]
  return %z, %y
}
)",
            {{F({2}, {-1, 3})}});
}

TEST(FoldConstantsTest, IfWithConstantFalseConditionIsInlined) {
  checkPass(withCond("false").c_str(), fold, 1, R"(graph @g(%x: f32[2]) {
  %y = neg(%x) : f32[2]
  %z = add(%y, %x) : f32[2]
  return %z, %y
}
)",
            {{F({2}, {-1, 3})}});
}

TEST(FoldConstantsTest, InlinedIfYieldingAnOuterValue) {
  checkPass(R"(
graph @g(%x: f32[2], %w: f32[2]) {
  %c = constant() {value = tensor<bool[]>[false]} : bool[]
  %y = if(%c) : f32[2] {
  ^then:
    %a = relu(%x) : f32[2]
    yield %a
  ^else:
    yield %w
  }
  %z = add(%y, %x) : f32[2]
  return %z
}
)",
            fold, 1, R"(graph @g(%x: f32[2], %w: f32[2]) {
  %z = add(%w, %x) : f32[2]
  return %z
}
)",
            {{F({2}, {-1, 3}), F({2}, {10, 20})}});
}

TEST(FoldConstantsTest, InlinedIfYieldingAnOuterNodeKeepsItsName) {
  // %a is computed before the `if`: inlining must not rename it to %y.
  checkPass(R"(
graph @g(%x: f32[2]) {
  %c = constant() {value = tensor<bool[]>[true]} : bool[]
  %a = relu(%x) : f32[2]
  %y = if(%c) : f32[2] {
  ^then:
    yield %a
  ^else:
    %n = neg(%x) : f32[2]
    yield %n
  }
  %z = add(%y, %a) : f32[2]
  return %z, %y
}
)",
            fold, 1, R"(graph @g(%x: f32[2]) {
  %a = relu(%x) : f32[2]
  %z = add(%a, %a) : f32[2]
  return %z, %a
}
)",
            {{F({2}, {-1, 3})}});
}

TEST(FoldConstantsTest, ConstantIfInsideLoopAndFoldingInsideBlocks) {
  checkPass(R"(
graph @g(%n: i64, %x: f32[2]) {
  %t = constant() {value = tensor<bool[]>[true]} : bool[]
  %out = loop(%n, %t, %x) : f32[2] {
  ^body(%i: i64, %c: bool, %s: f32[2]):
    %k = constant() {value = tensor<f32[]>[3.0]} : f32[]
    %k2 = mul(%k, %k) : f32[]
    %next = if(%t) : f32[2] {
    ^then:
      %m = mul(%s, %k2) : f32[2]
      yield %m
    ^else:
      yield %s
    }
    yield %c, %next
  }
  return %out
}
)",
            fold, 2, R"(graph @g(%n: i64, %x: f32[2]) {
  %t = constant() {value = tensor<bool[]>[true]} : bool[]
  %out = loop(%n, %t, %x) : f32[2] {
  ^body(%i: i64, %c: bool, %s: f32[2]):
    %k2 = constant() {value = tensor<f32[]>[9.0]} : f32[]
    %next = mul(%s, %k2) : f32[2]
    yield %c, %next
  }
  return %out
}
)",
            {{Tensor::scalarI64(0), F({2}, {1, 2})}, {Tensor::scalarI64(2), F({2}, {1, 2})}});
}

constexpr const char* kWeightGraph = R"(graph @g(%x: f32[2, 3]) {
  %w = weight() {name = "w"} : f32[3, 2]
  %wt = transpose(%w) : f32[2, 3]
  %y = add(%x, %wt) : f32[2, 3]
  return %y
}
)";

TEST(FoldConstantsTest, WeightsFoldedWhenAllowed) {
  std::map<std::string, Tensor> weights{{"w", F({3, 2}, {1, 2, 3, 4, 5, 6})}};
  checkPass(kWeightGraph, fold, 1, R"(graph @g(%x: f32[2, 3]) {
  %wt = constant() {value = tensor<f32[2, 3]>[1.0, 3.0, 5.0, 2.0, 4.0, 6.0]} : f32[2, 3]
  %y = add(%x, %wt) : f32[2, 3]
  return %y
}
)",
            {{F({2, 3}, {0, 0, 0, 1, 1, 1})}}, weights);
}

TEST(FoldConstantsTest, WeightsNotFoldedWhenDisallowed) {
  std::map<std::string, Tensor> weights{{"w", F({3, 2}, {1, 2, 3, 4, 5, 6})}};
  FoldOptions keep;
  keep.foldWeights = false;
  checkPass(kWeightGraph, [&](Graph& g) { return foldConstants(g, keep); }, 0, kWeightGraph,
            {{F({2, 3}, {0, 0, 0, 1, 1, 1})}}, weights);
}

TEST(FoldConstantsTest, FailingConstantNodeIsLeftForRunTime) {
  // Integer division by zero between constants: not folded, fails at run time with the node's name.
  const char* text = R"(graph @g(%x: i64[]) {
  %a = constant() {value = tensor<i64[]>[1]} : i64[]
  %z = constant() {value = tensor<i64[]>[0]} : i64[]
  %q = div(%a, %z) : i64[]
  %y = add(%x, %q) : i64[]
  return %y
}
)";
  auto g = parseOk(text);
  ASSERT_NE(g, nullptr);
  auto n = foldConstants(*g);
  ASSERT_TRUE(n.ok()) << n.status().toString();
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(printGraph(*g), text);
  auto r = runGraph(std::move(g), {Tensor::scalarI64(1)});
  ASSERT_FALSE(r.ok());
  EXPECT_HAS(r.status().message(), "'div' node %q");
}

// ---------------------------------------------------------------------------
// Dead code elimination

TEST(DeadCodeTest, RemovesUnusedChainsIncludingInsideBlocks) {
  checkPass(R"(
graph @g(%x: f32[2], %c: bool, %n: i64) {
  %u1 = exp(%x) : f32[2]
  %u2 = neg(%u1) : f32[2]
  %y = relu(%x) : f32[2]
  %z = if(%c) : f32[2] {
  ^then:
    %dead = sin(%y) : f32[2]
    %dead2 = cos(%dead) : f32[2]
    %t = abs(%y) : f32[2]
    yield %t
  ^else:
    yield %y
  }
  %unusedIf = if(%c) : f32[2] {
  ^then:
    %q = sqrt(%x) : f32[2]
    yield %q
  ^else:
    yield %x
  }
  %l = loop(%n, %c, %x) : f32[2] {
  ^body(%i: i64, %cc: bool, %s: f32[2]):
    %deadInLoop = exp(%s) : f32[2]
    %s2 = add(%s, %y) : f32[2]
    yield %cc, %s2
  }
  return %z, %l, %x
}
)",
            dce, 7, R"(graph @g(%x: f32[2], %c: bool, %n: i64) {
  %y = relu(%x) : f32[2]
  %z = if(%c) : f32[2] {
  ^then:
    %t = abs(%y) : f32[2]
    yield %t
  ^else:
    yield %y
  }
  %l = loop(%n, %c, %x) : f32[2] {
  ^body(%i: i64, %cc: bool, %s: f32[2]):
    %s2 = add(%s, %y) : f32[2]
    yield %cc, %s2
  }
  return %z, %l, %x
}
)",
            {{F({2}, {-1, 4}), Tensor::scalarBool(true), Tensor::scalarI64(2)},
             {F({2}, {-1, 4}), Tensor::scalarBool(false), Tensor::scalarI64(2)}});
}

TEST(DeadCodeTest, LongDeadChainGoesInOnePass) {
  std::string text = "graph @g(%x: f32[2]) {\n  %v0 = neg(%x) : f32[2]\n";
  const int n = 5000;
  for (int i = 1; i < n; ++i)
    text += "  %v" + std::to_string(i) + " = neg(%v" + std::to_string(i - 1) + ") : f32[2]\n";
  text += "  return %x\n}\n";
  auto g = parseOk(text);
  ASSERT_NE(g, nullptr);
  auto r = eliminateDeadCode(*g);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, static_cast<size_t>(n));
  EXPECT_EQ(printGraph(*g), "graph @g(%x: f32[2]) {\n  return %x\n}\n");
}

TEST(DeadCodeTest, ValueUsedOnlyInsideADeadIfIsDead) {
  checkPass(R"(
graph @g(%x: f32[2], %c: bool) {
  %a = exp(%x) : f32[2]
  %b = neg(%a) : f32[2]
  %u = if(%c) : f32[2] {
  ^then:
    %t = abs(%b) : f32[2]
    yield %t
  ^else:
    yield %a
  }
  %live = relu(%x) : f32[2]
  return %live
}
)",
            dce, 4, R"(graph @g(%x: f32[2], %c: bool) {
  %live = relu(%x) : f32[2]
  return %live
}
)",
            {{F({2}, {-1, 1}), Tensor::scalarBool(true)}});
}

TEST(DeadCodeTest, KeepsOutputsAndLiveGraphs) {
  const char* text = R"(graph @g(%x: f32[2]) {
  %a = exp(%x) : f32[2]
  %b = neg(%a) : f32[2]
  return %b, %a
}
)";
  checkPass(text, dce, 0, text, {{F({2}, {0, 1})}});
}

TEST(DeadCodeTest, RemovesEverythingWhenOnlyAnInputIsReturned) {
  checkPass(R"(
graph @g(%x: f32[2]) {
  %w = constant() {value = tensor<f32[2]>[1.0, 2.0]} : f32[2]
  %a = add(%x, %w) : f32[2]
  return %x
}
)",
            dce, 2, R"(graph @g(%x: f32[2]) {
  return %x
}
)",
            {{F({2}, {5, 6})}});
}

// ---------------------------------------------------------------------------
// Common subexpression elimination

TEST(CseTest, MergesDuplicateOps) {
  checkPass(R"(
graph @g(%x: f32[2]) {
  %a = exp(%x) : f32[2]
  %b = exp(%x) : f32[2]
  %s = add(%a, %b) : f32[2]
  %t = add(%a, %b) : f32[2]
  %u = mul(%s, %t) : f32[2]
  %c1 = constant() {value = tensor<f32[]>[2.0]} : f32[]
  %c2 = constant() {value = tensor<f32[]>[2.0]} : f32[]
  %v = sub(%u, %c1) : f32[2]
  %w = sub(%u, %c2) : f32[2]
  return %v, %w
}
)",
            cse, 4, R"(graph @g(%x: f32[2]) {
  %a = exp(%x) : f32[2]
  %s = add(%a, %a) : f32[2]
  %u = mul(%s, %s) : f32[2]
  %c1 = constant() {value = tensor<f32[]>[2.0]} : f32[]
  %v = sub(%u, %c1) : f32[2]
  return %v, %v
}
)",
            {{F({2}, {0, 1})}});
}

TEST(CseTest, DifferentAttributesOrInputsAreNotMerged) {
  const char* text = R"(graph @g(%x: f32[2, 2], %y: f32[2, 2]) {
  %a = reduce_sum(%x) {axes = [0], keepdims = 0} : f32[2]
  %b = reduce_sum(%x) {axes = [1], keepdims = 0} : f32[2]
  %c = reduce_sum(%y) {axes = [0], keepdims = 0} : f32[2]
  %d = softmax(%x) {axis = 0} : f32[2, 2]
  %e = softmax(%x) {axis = 1} : f32[2, 2]
  %k1 = constant() {value = tensor<f32[]>[1.0]} : f32[]
  %k2 = constant() {value = tensor<f32[]>[2.0]} : f32[]
  %s = add(%x, %y) : f32[2, 2]
  %t = add(%y, %x) : f32[2, 2]
  return %a, %b, %c, %d, %e, %k1, %k2, %s, %t
}
)";
  checkPass(text, cse, 0, text, {{F({2, 2}, {1, 2, 3, 4}), F({2, 2}, {5, 6, 7, 8})}});
}

TEST(CseTest, NodeInIfBlockReusesOuterNode) {
  checkPass(R"(
graph @g(%x: f32[2], %c: bool) {
  %a = exp(%x) : f32[2]
  %y = if(%c) : f32[2] {
  ^then:
    %b = exp(%x) : f32[2]
    yield %b
  ^else:
    %d = exp(%x) : f32[2]
    %e = neg(%d) : f32[2]
    yield %e
  }
  %z = add(%y, %a) : f32[2]
  return %z
}
)",
            cse, 2, R"(graph @g(%x: f32[2], %c: bool) {
  %a = exp(%x) : f32[2]
  %y = if(%c) : f32[2] {
  ^then:
    yield %a
  ^else:
    %e = neg(%a) : f32[2]
    yield %e
  }
  %z = add(%y, %a) : f32[2]
  return %z
}
)",
            {{F({2}, {0, 1}), Tensor::scalarBool(true)}, {F({2}, {0, 1}), Tensor::scalarBool(false)}});
}

TEST(CseTest, SiblingBlocksAndLaterOuterNodesDoNotShareBlockNodes) {
  // exp(%x) appears in both arms and after the `if`: none of them may be
  // merged, since no one of them dominates another.
  const char* text = R"(graph @g(%x: f32[2], %c: bool) {
  %y = if(%c) : f32[2] {
  ^then:
    %b = exp(%x) : f32[2]
    yield %b
  ^else:
    %d = exp(%x) : f32[2]
    %e = neg(%d) : f32[2]
    yield %e
  }
  %z = exp(%x) : f32[2]
  %w = add(%y, %z) : f32[2]
  return %w
}
)";
  checkPass(text, cse, 0, text,
            {{F({2}, {0, 1}), Tensor::scalarBool(true)}, {F({2}, {0, 1}), Tensor::scalarBool(false)}});
}

TEST(CseTest, DuplicatesInsideOneLoopBodyMergeAndUseCarriedValues) {
  checkPass(R"(
graph @g(%n: i64, %x: f32[2]) {
  %t = constant() {value = tensor<bool[]>[true]} : bool[]
  %out = loop(%n, %t, %x) : f32[2] {
  ^body(%i: i64, %c: bool, %s: f32[2]):
    %a = tanh(%s) : f32[2]
    %b = tanh(%s) : f32[2]
    %m = add(%a, %b) : f32[2]
    yield %c, %m
  }
  return %out
}
)",
            cse, 1, R"(graph @g(%n: i64, %x: f32[2]) {
  %t = constant() {value = tensor<bool[]>[true]} : bool[]
  %out = loop(%n, %t, %x) : f32[2] {
  ^body(%i: i64, %c: bool, %s: f32[2]):
    %a = tanh(%s) : f32[2]
    %m = add(%a, %a) : f32[2]
    yield %c, %m
  }
  return %out
}
)",
            {{Tensor::scalarI64(3), F({2}, {0.5, -1})}});
}

// ---------------------------------------------------------------------------
// Shape propagation

TEST(PropagateShapesTest, RefinesUnknownDimsToNumbersAndSymbols) {
  checkPass(R"(
graph @g(%x: f32[N, 3], %w: f32[3, 4]) {
  %m = matmul(%x, %w) : f32[?, ?]
  %r = relu(%m) : f32[*]
  %s = reduce_sum(%r) {axes = [1], keepdims = 0} : f32[?]
  %k = reduce_sum(%w) {axes = [0], keepdims = 1} : f32[1, ?]
  return %s, %k
}
)",
            shapes, 4, R"(graph @g(%x: f32[N, 3], %w: f32[3, 4]) {
  %m = matmul(%x, %w) : f32[N, 4]
  %r = relu(%m) : f32[N, 4]
  %s = reduce_sum(%r) {axes = [1], keepdims = 0} : f32[N]
  %k = reduce_sum(%w) {axes = [0], keepdims = 1} : f32[1, 4]
  return %s, %k
}
)",
            {{F({2, 3}, {1, 2, 3, 4, 5, 6}), F({3, 4}, {1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1})}});
}

TEST(PropagateShapesTest, SymbolThatIsANumberBecomesTheNumber) {
  checkPass(R"(
graph @g(%x: f32[2, 3]) {
  %r = relu(%x) : f32[M, 3]
  return %r
}
)",
            shapes, 1, R"(graph @g(%x: f32[2, 3]) {
  %r = relu(%x) : f32[2, 3]
  return %r
}
)",
            {{F({2, 3}, {1, -2, 3, -4, 5, -6})}});
}

TEST(PropagateShapesTest, RefinesInsideBlocksAndThroughControlFlow) {
  checkPass(R"(
graph @g(%x: f32[B, 4], %c: bool, %n: i64) {
  %y = if(%c) : f32[?, ?] {
  ^then:
    %a = relu(%x) : f32[?, 4]
    yield %a
  ^else:
    %b = neg(%x) : f32[B, ?]
    yield %b
  }
  %l, %tr = loop(%n, %c, %y) : f32[?, ?], f32[*] {
  ^body(%i: i64, %cc: bool, %s: f32[B, 4]):
    %e = exp(%s) : f32[?, ?]
    yield %cc, %s, %e
  }
  return %l, %tr
}
)",
            shapes, 6, R"(graph @g(%x: f32[B, 4], %c: bool, %n: i64) {
  %y = if(%c) : f32[B, 4] {
  ^then:
    %a = relu(%x) : f32[B, 4]
    yield %a
  ^else:
    %b = neg(%x) : f32[B, 4]
    yield %b
  }
  %l, %tr = loop(%n, %c, %y) : f32[B, 4], f32[?, B, 4] {
  ^body(%i: i64, %cc: bool, %s: f32[B, 4]):
    %e = exp(%s) : f32[B, 4]
    yield %cc, %s, %e
  }
  return %l, %tr
}
)",
            {{F({1, 4}, {1, -2, 3, -4}), Tensor::scalarBool(true), Tensor::scalarI64(2)},
             {F({1, 4}, {1, -2, 3, -4}), Tensor::scalarBool(false), Tensor::scalarI64(0)}});
}

TEST(PropagateShapesTest, ContradictionIsAnErrorNamingTheNode) {
  auto g = parseOk(R"(
graph @g(%x: f32[2, 3]) {
  %a = relu(%x) : f32[2, 3]
  %bad = exp(%a) : f32[2, 4]
  return %bad
}
)",
                   false);
  ASSERT_NE(g, nullptr);
  auto r = propagateShapes(*g);
  ASSERT_FALSE(r.ok());
  EXPECT_HAS(r.status().message(), "'exp' node %bad");
  EXPECT_HAS(r.status().message(), "f32[2, 4]");
  EXPECT_HAS(r.status().message(), "f32[2, 3]");

  auto rank = parseOk(R"(
graph @g(%x: f32[2, 3]) {
  %t = transpose(%x) : f32[3]
  return %t
}
)",
                      false);
  ASSERT_NE(rank, nullptr);
  r = propagateShapes(*rank);
  ASSERT_FALSE(r.ok());
  EXPECT_HAS(r.status().message(), "'transpose' node %t");
}

TEST(PropagateShapesTest, ContradictionInsideABlockNamesTheInnerNode) {
  auto g = parseOk(R"(
graph @g(%x: f32[2], %c: bool) {
  %y = if(%c) : f32[2] {
  ^then:
    %inner = relu(%x) : i64[2]
    yield %x
  ^else:
    yield %x
  }
  return %y
}
)",
                   false);
  ASSERT_NE(g, nullptr);
  auto r = propagateShapes(*g);
  ASSERT_FALSE(r.ok());
  EXPECT_HAS(r.status().message(), "'relu' node %inner");
}

TEST(PropagateShapesTest, AlreadyPreciseGraphIsUnchanged) {
  const char* text = R"(graph @g(%x: f32[N, 2]) {
  %y = relu(%x) : f32[N, 2]
  return %y
}
)";
  checkPass(text, shapes, 0, text, {{F({3, 2}, {1, 2, 3, 4, 5, 6})}});
}

// ---------------------------------------------------------------------------
// Standard pipeline

Result<std::vector<Tensor>> runFile(const char* name, bool optimise, const std::vector<Tensor>& inputs,
                                    std::string* text = nullptr) {
  SY_ASSIGN_OR_RETURN(auto g, loadProgram(std::string(SY_SOURCE_DIR) + "/examples/" + name));
  if (optimise) SY_RETURN_IF_ERROR(runStandardPasses(*g));
  SY_RETURN_IF_ERROR(verify(*g));
  if (text) *text = printGraph(*g);
  return runGraph(std::move(g), inputs);
}

void expectSame(const char* name, const std::vector<Tensor>& inputs) {
  auto plain = runFile(name, false, inputs);
  ASSERT_TRUE(plain.ok()) << plain.status().toString();
  std::string text;
  auto opt = runFile(name, true, inputs, &text);
  ASSERT_TRUE(opt.ok()) << opt.status().toString() << "\n" << text;
  ASSERT_EQ(plain->size(), opt->size());
  for (size_t i = 0; i < plain->size(); ++i)
    EXPECT_TRUE((*plain)[i].bitwiseEqual((*opt)[i])) << name << " output " << i;
}

TEST(StandardPassesTest, ExamplesGiveIdenticalResults) {
  expectSame("mlp.sy", {F({1, 8}, {0.1, 0.2, 0.3, 0.4, -0.5, -0.6, -0.7, -0.8})});
  std::vector<double> many(5 * 8);
  for (size_t i = 0; i < many.size(); ++i) many[i] = std::sin(static_cast<double>(i));
  expectSame("mlp.sy", {F({5, 8}, many)});
  const auto x = F({2, 4}, {0.5, -1, 0.25, 2, -0.3, 0.1, 0.9, -2});
  for (int64_t steps : {0, 1, 3}) expectSame("recurrent.sy", {x, Tensor::scalarI64(steps)});
  expectSame("recurrent.sy", {F({2, 4}, {-5, -5, -5, -5, -5, -5, -5, -5}), Tensor::scalarI64(2)});
}

TEST(StandardPassesTest, CombinedPipelineOnAMessyProgram) {
  // Shapes refine, constants fold (an if and a chain), duplicates merge and
  // dead code goes, in one call.
  auto g = parseOk(R"(
graph @g(%x: f32[N, 2]) {
  %t = constant() {value = tensor<bool[]>[true]} : bool[]
  %k = constant() {value = tensor<f32[2]>[1.0, 2.0]} : f32[2]
  %k2 = add(%k, %k) : f32[2]
  %a = mul(%x, %k2) : f32[?, ?]
  %b = mul(%x, %k2) : f32[N, 2]
  %dead = exp(%a) : f32[N, 2]
  %y = if(%t) : f32[?, 2] {
  ^then:
    %s = add(%a, %b) : f32[N, 2]
    yield %s
  ^else:
    yield %a
  }
  return %y
}
)");
  ASSERT_NE(g, nullptr);
  auto original = g->clone();
  ASSERT_TRUE(runStandardPasses(*g).ok());
  EXPECT_EQ(printGraph(*g), R"(graph @g(%x: f32[N, 2]) {
  %k2 = constant() {value = tensor<f32[2]>[2.0, 4.0]} : f32[2]
  %a = mul(%x, %k2) : f32[N, 2]
  %y = add(%a, %a) : f32[N, 2]
  return %y
}
)");
  const std::vector<Tensor> in{F({3, 2}, {1, 2, 3, 4, 5, 6})};
  auto want = runGraph(std::move(original), in);
  auto got = runGraph(std::move(g), in);
  ASSERT_TRUE(want.ok() && got.ok());
  EXPECT_TRUE((*got)[0].bitwiseEqual((*want)[0]));
}

}  // namespace
}  // namespace sy

namespace sy {
namespace {
TEST(FoldConstantsLimits, HugeResultIsNotEvenComputed) {
  // 2^33 f32 elements would be 32 GiB: the pass must skip the node from its inferred shape alone.
  auto g = parseGraph(R"(
graph @huge() {
  %s = constant() {value = tensor<i64[1]>[8589934592]} : i64[1]
  %z = constant_of_shape(%s) : f32[8589934592]
  return %z
}
)");
  ASSERT_TRUE(g.ok()) << g.status().toString();
  auto folded = foldConstants(**g);
  ASSERT_TRUE(folded.ok()) << folded.status().toString();
  EXPECT_EQ(*folded, 0u);
}
}  // namespace
}  // namespace sy
