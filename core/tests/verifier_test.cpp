// Tests of the verifier (core/src/verifier.cpp): valid programs pass, and each
// kind of error is reported naming the node and what is wrong. Also the type
// lattice helpers mergeTypes / joinTypes.

#include <gtest/gtest.h>

#include <string>

#include "switchyard/builder.h"
#include "switchyard/op_registry.h"
#include "switchyard/text.h"
#include "switchyard/verifier.h"
#include "test_util.h"

namespace sy {
namespace {

std::unique_ptr<Graph> parse(std::string_view text) {
  auto r = parseGraph(text);
  EXPECT_TRUE(r.ok()) << r.status().toString();
  return r.ok() ? std::move(r).value() : nullptr;
}

/// The verifier's message for `text` (which must parse); empty when it verifies.
std::string verifyText(std::string_view text) {
  auto g = parse(text);
  if (!g) return "<parse error>";
  Status s = verify(*g);
  return s.ok() ? std::string() : s.message();
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
#define EXPECT_CONTAINS(s, part) EXPECT_TRUE(contains((s), (part))) << "in: " << (s) << "\nmissing: " << (part)

Type f32(std::vector<Dim> dims) { return Type::tensor(DType::F32, std::move(dims)); }
Dim N() { return Dim::symbol("N"); }

// ---------------------------------------------------------------------------
// Valid programs

TEST(Verifier, ValidProgramsPass) {
  const char* programs[] = {
      "graph @g() {\n  return\n}\n",
      "graph @g(%x: f32[N, 4]) {\n  return %x, %x\n}\n",
      R"(graph @g(%x: f32[N, 4], %c: bool, %n: i64) {
  %w = weight() {name = "w"} : f32[4, 2]
  %m = matmul(%x, %w) : f32[N, 2]
  %a, %b = split(%m) {axis = 1} : f32[N, 1], f32[N, 1]
  %y = if(%c) : f32[N, 1] {
  ^then:
    %r = relu(%a) : f32[N, 1]
    yield %r
  ^else:
    yield %b
  }
  %t = constant() {value = tensor<bool[]>[true]} : bool
  %h, %s = loop(%n, %t, %y) : f32[N, 1], f32[?, N, 1] {
  ^body(%i: i64, %cc: bool, %st: f32[N, 1]):
    %nx = add(%st, %a) : f32[N, 1]
    yield %cc, %nx, %st
  }
  return %h, %s
}
)",
      // Declared types may be less specific than inference.
      "graph @g(%x: f32[2, 3]) {\n  %y = relu(%x) : f32[?, N]\n  %z = relu(%y) : f32[*]\n  return %z\n}\n",
      // A scalar is compatible with a rank-0 tensor.
      "graph @g(%x: f32) {\n  %y = relu(%x) : f32[]\n  %z = neg(%y) : f32\n  return %z\n}\n",
  };
  for (const char* p : programs) EXPECT_EQ(verifyText(p), "") << p;
}

TEST(Verifier, BuiltGraphsPass) {
  GraphBuilder b;
  Value* x = b.input("x", f32({N(), 4}));
  Value* w = b.weight("fc", testing::F({4, 3}, std::vector<double>(12, 0.5)));
  b.output(b.op("softmax", {b.op("matmul", {x, w})}, {{"axis", int64_t{-1}}}));
  auto g = b.finish();
  ASSERT_TRUE(g.ok()) << g.status().toString();
  EXPECT_TRUE(verify(**g).ok());
}

// ---------------------------------------------------------------------------
// Schema errors

TEST(Verifier, UnknownOpBuiltWithGraphApi) {
  Graph g;
  Value* x = g.addInput(f32({2}), "x");
  Node* n = g.createNode("frobnicate", {x});
  EXPECT_EQ(n->schema(), nullptr);
  g.body()->appendNode(n);
  Value* y = n->addOutput(f32({2}), "y");
  g.addOutput(y);
  Status s = verify(g);
  ASSERT_FALSE(s.ok());
  EXPECT_CONTAINS(s.message(), "'frobnicate' node %y");
  EXPECT_CONTAINS(s.message(), "unknown op 'frobnicate'");
}

TEST(Verifier, WrongArity) {
  std::string m = verifyText("graph @g(%x: f32[2]) {\n  %y = relu(%x, %x) : f32[2]\n  return %y\n}");
  EXPECT_CONTAINS(m, "'relu' node %y");
  EXPECT_CONTAINS(m, "takes 1 inputs, got 2");
  m = verifyText("graph @g(%x: f32[2]) {\n  %y = add(%x) : f32[2]\n  return %y\n}");
  EXPECT_CONTAINS(m, "'add' node %y");
  EXPECT_CONTAINS(m, "takes 2 inputs, got 1");
  m = verifyText("graph @g(%x: f32[2]) {\n  %y, %z = relu(%x) : f32[2], f32[2]\n  return %y\n}");
  EXPECT_CONTAINS(m, "'relu' node %y, %z");
  EXPECT_CONTAINS(m, "outputs, got 2");
  m = verifyText("graph @g(%x: f32[2]) {\n  relu(%x)\n  return %x\n}");
  EXPECT_CONTAINS(m, "'relu' node");
  EXPECT_CONTAINS(m, "outputs, got 0");
  // weight takes no inputs.
  Graph g;
  Value* x = g.addInput(f32({2}), "x");
  Node* n = g.createNode("weight", {x});
  n->setAttr("name", std::string("w"));
  g.body()->appendNode(n);
  n->addOutput(f32({2}), "w");
  Status s = verify(g);
  EXPECT_CONTAINS(s.message(), "'weight' node %w");
  EXPECT_CONTAINS(s.message(), "takes no inputs");
}

TEST(Verifier, AttributeErrors) {
  Graph g;
  Value* x = g.addInput(f32({2, 3}), "x");
  Node* n = g.createNode("softmax", {x});
  g.body()->appendNode(n);
  Value* y = n->addOutput(f32({2, 3}), "y");
  g.addOutput(y);
  EXPECT_TRUE(verify(g).ok());

  n->setAttr("axes", int64_t{1});
  Status s = verify(g);
  EXPECT_CONTAINS(s.message(), "'softmax' node %y");
  EXPECT_CONTAINS(s.message(), "op 'softmax' has no attribute 'axes' (it takes: axis)");
  n->removeAttr("axes");

  n->setAttr("axis", std::string("last"));
  s = verify(g);
  EXPECT_CONTAINS(s.message(), "'softmax' node %y");
  EXPECT_CONTAINS(s.message(), "attribute 'axis' of op 'softmax' must be int, got string");
  n->setAttr("axis", int64_t{0});
  EXPECT_TRUE(verify(g).ok());

  // An int is accepted where a float is declared.
  Node* l = g.createNode("leaky_relu", {x});
  g.body()->appendNode(l);
  l->addOutput(f32({2, 3}), "l");
  l->setAttr("alpha", int64_t{1});
  EXPECT_TRUE(verify(g).ok());
  l->setAttr("alpha", std::vector<int64_t>{1});
  EXPECT_CONTAINS(verify(g).message(), "'leaky_relu' node %l: attribute 'alpha' of op 'leaky_relu' must be float");
  l->setAttr("alpha", 0.5);

  // Missing required attribute.
  Node* c = g.createNode("concat", {x, x});
  g.body()->appendNode(c);
  c->addOutput(f32({4, 3}), "c");
  s = verify(g);
  EXPECT_CONTAINS(s.message(), "'concat' node %c");
  EXPECT_CONTAINS(s.message(), "requires attribute 'axis'");
  c->setAttr("axis", int64_t{0});
  EXPECT_TRUE(verify(g).ok()) << verify(g).toString();

  // Control-flow ops take no attributes either.
  Value* cond = g.addInput(Type::scalar(DType::Bool), "cond");
  Node* iff = g.createNode("if", {cond});
  g.body()->appendNode(iff);
  iff->addBlock("then");
  iff->addBlock("else");
  iff->setAttr("unroll", int64_t{1});
  s = verify(g);
  EXPECT_CONTAINS(s.message(), "'if' node");
  EXPECT_CONTAINS(s.message(), "op 'if' has no attribute 'unroll'");
}

TEST(Verifier, DeclaredTypeContradictsInference) {
  std::string m = verifyText("graph @g(%x: f32[4]) {\n  %y = relu(%x) : f32[3]\n  return %y\n}");
  EXPECT_EQ(m, "'relu' node %y: output %y is declared f32[3] but the op gives f32[4]");
  m = verifyText("graph @g(%x: f32[4]) {\n  %y = relu(%x) : f16[4]\n  return %y\n}");
  EXPECT_CONTAINS(m, "'relu' node %y: output %y is declared f16[4] but the op gives f32[4]");
  m = verifyText("graph @g(%x: f32[4]) {\n  %y = relu(%x) : f32[4, 1]\n  return %y\n}");
  EXPECT_CONTAINS(m, "declared f32[4, 1] but the op gives f32[4]");
  m = verifyText("graph @g(%x: f32[N, 4]) {\n  %a, %b = split(%x) {axis = 1} : f32[N, 2], f32[N, 3]\n  return %a\n}");
  EXPECT_CONTAINS(m, "'split' node %a, %b: output %b is declared f32[N, 3] but the op gives f32[N, 2]");
  // The node name appears in the description.
  m = verifyText("graph @g(%x: f32[4]) {\n  %y = relu(%x) : f32[3] @\"layer1/relu\"\n  return %y\n}");
  EXPECT_CONTAINS(m, "'relu' node %y \"layer1/relu\"");
}

TEST(Verifier, WrongInputDType) {
  std::string m = verifyText("graph @g(%x: f32[4], %i: i64[4]) {\n  %y = add(%x, %i) : f32[4]\n  return %y\n}");
  EXPECT_CONTAINS(m, "'add' node %y");
  m = verifyText("graph @g(%x: f32[4]) {\n  %y = logical_not(%x) : bool[4]\n  return %y\n}");
  EXPECT_CONTAINS(m, "'logical_not' node %y");
  m = verifyText("graph @g(%x: f32[4, 2], %w: f32[3, 2]) {\n  %y = matmul(%x, %w) : f32[4, 2]\n  return %y\n}");
  EXPECT_CONTAINS(m, "'matmul' node %y");
}

// ---------------------------------------------------------------------------
// SSA and scoping

TEST(Verifier, ValueFromInsideIfUsedOutside) {
  // The parser does not check scopes; the verifier does.
  std::string m = verifyText(R"(graph @g(%x: f32[2], %c: bool) {
  %y = if(%c) : f32[2] {
  ^then:
    %r = relu(%x) : f32[2]
    yield %r
  ^else:
    yield %x
  }
  %z = add(%y, %r) : f32[2]
  return %z
}
)");
  EXPECT_CONTAINS(m, "'add' node %z: input 1 %r is used outside the block that defines it");

  m = verifyText(R"(graph @g(%x: f32[2], %c: bool) {
  %y = if(%c) : f32[2] {
  ^then:
    %r = relu(%x) : f32[2]
    yield %r
  ^else:
    %q = neg(%r) : f32[2]
    yield %q
  }
  return %y
}
)");
  EXPECT_CONTAINS(m, "'if' node %y: 'neg' node %q: input 0 %r is used outside the block that defines it");

  // Returning a block-local value from the graph.
  m = verifyText(R"(graph @g(%x: f32[2], %c: bool) {
  %y = if(%c) : f32[2] {
  ^then:
    %r = relu(%x) : f32[2]
    yield %r
  ^else:
    yield %x
  }
  return %r
}
)");
  EXPECT_CONTAINS(m, "graph returns %r, which is not defined before it");

  // Loop body params are local to the body.
  m = verifyText(R"(graph @g(%x: f32[2], %n: i64, %c: bool) {
  %h = loop(%n, %c, %x) : f32[2] {
  ^body(%i: i64, %cc: bool, %s: f32[2]):
    yield %cc, %s
  }
  %z = add(%h, %s) : f32[2]
  return %z
}
)");
  EXPECT_CONTAINS(m, "'add' node %z: input 1 %s is used outside the block that defines it");
}

TEST(Verifier, UseBeforeDefinitionAndCycles) {
  Graph g;
  Value* x = g.addInput(f32({2}), "x");
  Node* a = g.createNode("relu", {x});
  Node* b = g.createNode("neg", {x});
  g.body()->appendNode(a);
  g.body()->appendNode(b);
  Value* av = a->addOutput(f32({2}), "a");
  Value* bv = b->addOutput(f32({2}), "b");
  g.addOutput(bv);
  EXPECT_TRUE(verify(g).ok());

  // a uses b, which comes later.
  a->setInput(0, bv);
  Status s = verify(g);
  EXPECT_CONTAINS(s.message(), "'relu' node %a: input 0 %b is used before its definition");
  // a uses its own output.
  a->setInput(0, av);
  s = verify(g);
  EXPECT_CONTAINS(s.message(), "'relu' node %a: input 0 %a is its own output (a cycle)");
  // A two-node cycle.
  a->setInput(0, bv);
  b->setInput(0, av);
  EXPECT_CONTAINS(verify(g).message(), "used before its definition");
  a->setInput(0, x);
  EXPECT_TRUE(verify(g).ok());

  // A block that uses the output of its own node.
  Value* c = g.addInput(Type::scalar(DType::Bool), "c");
  Node* iff = g.createNode("if", {c});
  g.body()->appendNode(iff);
  Value* y = iff->addOutput(f32({2}), "y");
  Block* th = iff->addBlock("then");
  Block* el = iff->addBlock("else");
  Node* r = g.createNode("relu", {y});
  th->appendNode(r);
  th->addReturn(r->addOutput(f32({2}), "r"));
  el->addReturn(x);
  EXPECT_CONTAINS(verify(g).message(), "'if' node %y: 'relu' node %r: input 0 %y is");
  r->setInput(0, x);
  EXPECT_TRUE(verify(g).ok()) << verify(g).toString();

  // A missing (null) input.
  Node* bad = g.createNode("relu", {nullptr});
  g.body()->appendNode(bad);
  bad->addOutput(f32({2}), "bad");
  EXPECT_CONTAINS(verify(g).message(), "'relu' node %bad: input 0 is missing");
}

TEST(Verifier, WrongBlockCount) {
  Graph g;
  Value* c = g.addInput(Type::scalar(DType::Bool), "c");
  Node* iff = g.createNode("if", {c});
  g.body()->appendNode(iff);
  iff->addBlock("then");
  EXPECT_CONTAINS(verify(g).message(), "'if' node: op 'if' takes 2 blocks, got 1");
  Graph h;
  Value* x = h.addInput(f32({2}), "x");
  Node* r = h.createNode("relu", {x});
  h.body()->appendNode(r);
  r->addOutput(f32({2}), "r");
  r->addBlock("body");
  EXPECT_CONTAINS(verify(h).message(), "'relu' node %r: op 'relu' takes 0 blocks, got 1");
}

// ---------------------------------------------------------------------------
// Control flow

TEST(Verifier, IfErrors) {
  // Blocks yield different counts.
  std::string m = verifyText(R"(graph @g(%x: f32[2], %c: bool) {
  %y = if(%c) : f32[2] {
  ^then:
    yield %x, %x
  ^else:
    yield %x
  }
  return %y
}
)");
  EXPECT_CONTAINS(m, "'if' node %y: has 1 outputs but its blocks yield 2 and 1 values");
  // Blocks yield different dtypes.
  m = verifyText(R"(graph @g(%x: f32[2], %i: i64[2], %c: bool) {
  %y = if(%c) : f32[2] {
  ^then:
    yield %x
  ^else:
    yield %i
  }
  return %y
}
)");
  EXPECT_CONTAINS(m, "'if' node %y: output 0: the two blocks disagree: dtype f32 does not match i64");
  // Non-bool condition.
  m = verifyText(R"(graph @g(%x: f32[2], %c: f32) {
  %y = if(%c) : f32[2] {
  ^then:
    yield %x
  ^else:
    yield %x
  }
  return %y
}
)");
  EXPECT_CONTAINS(m, "'if' node %y: condition must be a bool with one element, got f32");
  // A condition with more than one element.
  m = verifyText(R"(graph @g(%x: f32[2], %c: bool[2]) {
  %y = if(%c) : f32[2] {
  ^then:
    yield %x
  ^else:
    yield %x
  }
  return %y
}
)");
  EXPECT_CONTAINS(m, "condition must be a bool with one element, got bool[2]");
  // Blocks with parameters.
  m = verifyText(R"(graph @g(%x: f32[2], %c: bool) {
  %y = if(%c) : f32[2] {
  ^then(%p: f32[2]):
    yield %p
  ^else:
    yield %x
  }
  return %y
}
)");
  EXPECT_CONTAINS(m, "blocks of 'if' take no parameters");
  // Shapes differing between the arms become unknown; the declared type must allow that.
  const char* joined = R"(graph @g(%x: f32[2], %z: f32[3], %c: bool) {
  %y = if(%c) : DECL {
  ^then:
    yield %x
  ^else:
    yield %z
  }
  return %y
}
)";
  std::string t = joined;
  t.replace(t.find("DECL"), 4, "f32[?]");
  EXPECT_EQ(verifyText(t), "");
  t = joined;
  t.replace(t.find("DECL"), 4, "f32[2]");
  EXPECT_EQ(verifyText(t), "");  // a declared number is compatible with an unknown dim
  t = joined;
  t.replace(t.find("DECL"), 4, "f32[2, 2]");
  EXPECT_CONTAINS(verifyText(t), "'if' node %y: output %y is declared f32[2, 2] but the op gives f32[?]");
  // Errors inside a block name both nodes.
  m = verifyText(R"(graph @g(%x: f32[2], %c: bool) {
  %y = if(%c) : f32[2] {
  ^then:
    %r = relu(%x) : f32[5]
    yield %r
  ^else:
    yield %x
  }
  return %y
}
)");
  EXPECT_CONTAINS(m, "'if' node %y: 'relu' node %r: output %r is declared f32[5] but the op gives f32[2]");
}

TEST(Verifier, LoopErrors) {
  auto loopText = [](const std::string& params, const std::string& yields, const std::string& outs = "f32[2]",
                     const std::string& inputs = "%n, %c, %x") {
    return "graph @g(%x: f32[2], %n: i64, %c: bool, %f: f32) {\n  %h = loop(" + inputs + ") : " + outs +
           " {\n  ^body(" + params + "):\n    yield " + yields + "\n  }\n  return %h\n}\n";
  };
  EXPECT_EQ(verifyText(loopText("%i: i64, %cc: bool, %s: f32[2]", "%cc, %s")), "");
  // Too few body params.
  std::string m = verifyText(loopText("%i: i64, %cc: bool", "%cc, %x"));
  EXPECT_CONTAINS(m, "'loop' node %h: body must take 3 parameters (iteration, condition, 1 carried), got 2");
  // Iteration param not i64.
  m = verifyText(loopText("%i: i32, %cc: bool, %s: f32[2]", "%cc, %s"));
  EXPECT_CONTAINS(m, "body parameter 0 (iteration) must be i64");
  // Condition param not bool.
  m = verifyText(loopText("%i: i64, %cc: i64, %s: f32[2]", "%c, %s"));
  EXPECT_CONTAINS(m, "body parameter 1 (condition) must be bool");
  // Carried param does not fit the initial value.
  m = verifyText(loopText("%i: i64, %cc: bool, %s: f32[3]", "%cc, %s"));
  EXPECT_CONTAINS(m, "carried value 0: initial value f32[2] does not fit body parameter f32[3]");
  // Yields too few values.
  m = verifyText(loopText("%i: i64, %cc: bool, %s: f32[2]", "%cc"));
  EXPECT_CONTAINS(m, "body must yield the condition and 1 carried values, got 1 values");
  // First yield not a bool.
  m = verifyText(loopText("%i: i64, %cc: bool, %s: f32[2]", "%s, %s"));
  EXPECT_CONTAINS(m, "body must yield a bool condition first, got f32[2]");
  // Yielded carried value of another dtype.
  m = verifyText(loopText("%i: i64, %cc: bool, %s: f32[2]", "%cc, %i"));
  EXPECT_CONTAINS(m, "carried value 0: dtype f32 does not match i64");
  // Yielded carried value of another shape than the parameter it feeds.
  m = verifyText(
      "graph @g(%x: f32[2], %n: i64, %c: bool) {\n  %h = loop(%n, %c, %x) : f32[?] {\n"
      "  ^body(%i: i64, %cc: bool, %s: f32[2]):\n    %d = concat(%s, %s) {axis = 0} : f32[4]\n"
      "    yield %cc, %d\n  }\n  return %h\n}\n");
  EXPECT_CONTAINS(m, "carried value 0: the body yields f32[4], which does not fit body parameter f32[2]");
  // ... which is fine when the parameter allows any length.
  EXPECT_EQ(verifyText("graph @g(%x: f32[2], %n: i64, %c: bool) {\n  %h = loop(%n, %c, %x) : f32[?] {\n"
                       "  ^body(%i: i64, %cc: bool, %s: f32[?]):\n    %d = concat(%s, %s) {axis = 0} : f32[?]\n"
                       "    yield %cc, %d\n  }\n  return %h\n}\n"),
            "");
  // Output count does not match carried + scans.
  m = verifyText(loopText("%i: i64, %cc: bool, %s: f32[2]", "%cc, %s, %s"));
  EXPECT_CONTAINS(m, "has 1 outputs but 1 carried and 1 scan values");
  // Trip count of the wrong type.
  m = verifyText(loopText("%i: i64, %cc: bool, %s: f32[2]", "%cc, %s", "f32[2]", "%f, %c, %x"));
  EXPECT_CONTAINS(m, "max trip count must be an i64 scalar, got f32");
  m = verifyText(
      "graph @g(%x: f32[2], %n: i64[3], %c: bool) {\n  %h = loop(%n, %c, %x) : f32[2] {\n"
      "  ^body(%i: i64, %cc: bool, %s: f32[2]):\n    yield %cc, %s\n  }\n  return %h\n}\n");
  EXPECT_CONTAINS(m, "max trip count must be an i64 scalar, got i64[3]");
  // Condition of the wrong type.
  m = verifyText(loopText("%i: i64, %cc: bool, %s: f32[2]", "%cc, %s", "f32[2]", "%n, %f, %x"));
  EXPECT_CONTAINS(m, "condition must be a bool scalar, got f32");
  // Too few inputs.
  m = verifyText(loopText("%i: i64, %cc: bool", "%cc", "f32[2]", "%n"));
  EXPECT_CONTAINS(m, "'loop' node %h: needs at least 2 inputs");
  // Scan outputs get a leading unknown dim.
  const std::string scan =
      "graph @g(%x: f32[2], %n: i64, %c: bool) {\n  %h, %sc = loop(%n, %c, %x) : f32[2], DECL {\n"
      "  ^body(%i: i64, %cc: bool, %s: f32[2]):\n    yield %cc, %s, %s\n  }\n  return %h, %sc\n}\n";
  std::string t = scan;
  t.replace(t.find("DECL"), 4, "f32[?, 2]");
  EXPECT_EQ(verifyText(t), "");
  t = scan;
  t.replace(t.find("DECL"), 4, "f32[2]");
  m = verifyText(t);
  EXPECT_CONTAINS(m, "declared f32[2] but the op gives f32[?, 2]");
}

// ---------------------------------------------------------------------------
// Weights

TEST(Verifier, Weights) {
  const char* text = R"(graph @g(%x: f32[N, 4]) {
  %w = weight() {name = "fc.w"} : f32[4, 2]
  %v = weight() {name = "fc.b"} : f32[2]
  %m = matmul(%x, %w) : f32[N, 2]
  %y = add(%m, %v) : f32[N, 2]
  return %y
}
)";
  auto g = parse(text);
  ASSERT_TRUE(g);
  // Without weights attached, the declared types stand.
  EXPECT_TRUE(verify(*g).ok());
  // With weights attached, every weight must be there.
  g->setWeight("fc.w", testing::F({4, 2}, std::vector<double>(8, 1.0)));
  Status s = verify(*g);
  EXPECT_CONTAINS(s.message(), "'weight' node %v");
  EXPECT_CONTAINS(s.message(), "weight \"fc.b\" is not in the program's weights");
  // ... with the declared type.
  g->setWeight("fc.b", testing::F({3}, {1, 2, 3}));
  s = verify(*g);
  EXPECT_CONTAINS(s.message(), "'weight' node %v: output %v is declared f32[2] but the op gives f32[3]");
  g->setWeight("fc.b", testing::T(DType::F16, {2}, {1, 2}));
  EXPECT_CONTAINS(verify(*g).message(), "declared f32[2] but the op gives f16[2]");
  g->setWeight("fc.b", testing::F({2}, {1, 2}));
  EXPECT_TRUE(verify(*g).ok()) << verify(*g).toString();
  // knownConstant sees the weight's tensor.
  const Tensor* t = knownConstant(g->findValue("v"));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->getDouble(1), 2.0);
  EXPECT_EQ(knownConstant(g->findValue("m")), nullptr);
  EXPECT_EQ(knownConstant(g->findValue("x")), nullptr);
  // A weight without its name attribute.
  auto h = parse("graph @g() {\n  %w = weight() : f32[2]\n  return %w\n}\n");
  ASSERT_TRUE(h);
  EXPECT_CONTAINS(verify(*h).message(), "'weight' node %w: op 'weight' requires attribute 'name'");
}

TEST(Verifier, ConstantInputsDriveInference) {
  // reshape's output shape comes from a constant input.
  EXPECT_EQ(verifyText(R"(graph @g(%x: f32[2, 6]) {
  %s = constant() {value = tensor<i64[2]>[3, 4]} : i64[2]
  %y = reshape(%x, %s) : f32[3, 4]
  return %y
}
)"),
            "");
  EXPECT_CONTAINS(verifyText(R"(graph @g(%x: f32[2, 6]) {
  %s = constant() {value = tensor<i64[2]>[3, 4]} : i64[2]
  %y = reshape(%x, %s) : f32[4, 3]
  return %y
}
)"),
                  "'reshape' node %y: output %y is declared f32[4, 3] but the op gives f32[3, 4]");
}

// ---------------------------------------------------------------------------
// inferNodeTypes

TEST(Verifier, InferNodeTypes) {
  auto g = parse(R"(graph @g(%x: f32[N, 4], %c: bool) {
  %y = if(%c) : f32[*] {
  ^then:
    %r = relu(%x) : f32[N, 4]
    yield %r
  ^else:
    yield %x
  }
  %z = transpose(%y) : f32[*]
  return %z
}
)");
  ASSERT_TRUE(g);
  auto t = inferNodeTypes(*g->body()->nodes()[0]);
  ASSERT_TRUE(t.ok()) << t.status().toString();
  ASSERT_EQ(t->size(), 1u);
  EXPECT_EQ((*t)[0].toString(), "f32[N, 4]");
  auto u = inferNodeTypes(*g->body()->nodes()[1]);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ((*u)[0].toString(), "f32[*]");  // from the declared (unranked) input type
}

// ---------------------------------------------------------------------------
// mergeTypes / joinTypes

std::string merge(const Type& a, const Type& b) {
  auto r = mergeTypes(a, b);
  return r.ok() ? r->toString() : "error: " + r.status().message();
}
std::string join(const Type& a, const Type& b) {
  auto r = joinTypes(a, b);
  return r.ok() ? r->toString() : "error: " + r.status().message();
}

TEST(TypeLattice, MergeTypes) {
  const Type s = Type::scalar(DType::F32);
  const Type r0 = f32({});
  const Type un = Type::tensorUnranked(DType::F32);
  EXPECT_EQ(merge(f32({2, 3}), f32({2, 3})), "f32[2, 3]");
  EXPECT_EQ(merge(f32({N(), Dim()}), f32({Dim(), 3})), "f32[N, 3]");
  EXPECT_EQ(merge(f32({Dim(), 3}), f32({N(), Dim()})), "f32[N, 3]");
  EXPECT_EQ(merge(f32({N()}), f32({5})), "f32[5]");   // a number beats a symbol
  EXPECT_EQ(merge(f32({5}), f32({N()})), "f32[5]");
  EXPECT_EQ(merge(f32({Dim()}), f32({Dim()})), "f32[?]");
  EXPECT_EQ(merge(un, f32({2})), "f32[2]");
  EXPECT_EQ(merge(f32({2}), un), "f32[2]");
  EXPECT_EQ(merge(un, un), "f32[*]");
  EXPECT_EQ(merge(s, s), "f32");
  EXPECT_EQ(merge(s, r0), "f32[]");
  EXPECT_EQ(merge(r0, s), "f32[]");
  EXPECT_EQ(merge(un, s), "f32");
  EXPECT_EQ(merge(f32({2}), f32({3})), "error: dimension 0 is 2 in one and 3 in the other");
  EXPECT_EQ(merge(f32({2}), f32({2, 1})), "error: rank 1 does not match rank 2");
  EXPECT_EQ(merge(s, f32({1})), "error: rank 0 does not match rank 1");
  EXPECT_EQ(merge(f32({2}), Type::tensor(DType::I64, {2})), "error: dtype f32 does not match i64");
  // Merging is symmetric in what it accepts.
  const std::vector<Type> types = {s, r0, un, f32({2}), f32({N()}), f32({Dim()}), f32({2, N()}), f32({3})};
  for (const Type& a : types)
    for (const Type& b : types) {
      EXPECT_EQ(mergeTypes(a, b).ok(), mergeTypes(b, a).ok()) << a.toString() << " " << b.toString();
      if (mergeTypes(a, b).ok()) {
        // The merge is compatible with both.
        EXPECT_TRUE(typesCompatible(a, *mergeTypes(a, b))) << a.toString() << " " << b.toString();
        EXPECT_TRUE(typesCompatible(b, *mergeTypes(a, b))) << a.toString() << " " << b.toString();
      }
    }
}

TEST(TypeLattice, JoinTypes) {
  const Type s = Type::scalar(DType::F32);
  const Type r0 = f32({});
  const Type un = Type::tensorUnranked(DType::F32);
  EXPECT_EQ(join(f32({2, 3}), f32({2, 3})), "f32[2, 3]");
  EXPECT_EQ(join(f32({N(), 3}), f32({N(), 3})), "f32[N, 3]");
  EXPECT_EQ(join(f32({2, 3}), f32({2, 4})), "f32[2, ?]");
  EXPECT_EQ(join(f32({N()}), f32({Dim::symbol("M")})), "f32[?]");
  EXPECT_EQ(join(f32({N()}), f32({4})), "f32[?]");
  EXPECT_EQ(join(f32({2}), f32({2, 2})), "f32[*]");
  EXPECT_EQ(join(un, f32({2})), "f32[*]");
  EXPECT_EQ(join(f32({2}), un), "f32[*]");
  EXPECT_EQ(join(s, s), "f32");
  EXPECT_EQ(join(s, r0), "f32[]");
  EXPECT_EQ(join(r0, s), "f32[]");
  EXPECT_EQ(join(f32({2}), Type::tensor(DType::Bool, {2})), "error: dtype f32 does not match bool");
  // The join is compatible with both sides, and symmetric.
  const std::vector<Type> types = {s, r0, un, f32({2}), f32({N()}), f32({Dim()}), f32({2, N()}), f32({3})};
  for (const Type& a : types)
    for (const Type& b : types) {
      auto j = joinTypes(a, b);
      ASSERT_TRUE(j.ok());
      EXPECT_EQ(j->toString(), joinTypes(b, a)->toString()) << a.toString() << " " << b.toString();
      EXPECT_TRUE(typesCompatible(*j, a)) << a.toString() << " " << b.toString();
      EXPECT_TRUE(typesCompatible(*j, b)) << a.toString() << " " << b.toString();
    }
}

TEST(TypeLattice, TypesCompatible) {
  EXPECT_TRUE(typesCompatible(f32({N(), 3}), f32({2, 3})));
  EXPECT_TRUE(typesCompatible(f32({2, 3}), f32({N(), Dim()})));
  EXPECT_FALSE(typesCompatible(f32({2, 3}), f32({2, 4})));
  EXPECT_FALSE(typesCompatible(f32({2}), f32({2, 1})));
  EXPECT_TRUE(typesCompatible(Type::tensorUnranked(DType::F32), f32({2, 1})));
  EXPECT_TRUE(typesCompatible(Type::scalar(DType::F32), f32({})));
  EXPECT_FALSE(typesCompatible(Type::scalar(DType::F32), Type::scalar(DType::F16)));
}

}  // namespace
}  // namespace sy
