// Tests of GraphBuilder (core/src/builder.cpp) and of the Graph mutation API
// (core/src/ir.cpp): inferred types, recorded errors, placeholders, clone,
// node removal and use lists.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "switchyard/builder.h"
#include "switchyard/text.h"
#include "switchyard/verifier.h"
#include "test_util.h"

namespace sy {
namespace {

using testing::F;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
#define EXPECT_CONTAINS(s, part) EXPECT_TRUE(contains((s), (part))) << "in: " << (s) << "\nmissing: " << (part)

Type f32(std::vector<Dim> dims) { return Type::tensor(DType::F32, std::move(dims)); }
Dim N() { return Dim::symbol("N"); }
Tensor filled(Shape shape, double v) {
  auto n = checkedNumel(shape);
  return F(std::move(shape), std::vector<double>(static_cast<size_t>(*n), v));
}

/// Every use recorded on every value points at an input / return holding that
/// value, and every input / return is recorded as a use.
::testing::AssertionResult usesConsistent(const Graph& g) {
  std::vector<const Block*> blocks{g.body()};
  forEachNode(g.body(), [&](Node* n) {
    for (const Block* b : n->blocks()) blocks.push_back(b);
  });
  std::vector<Value*> values;
  auto countUse = [](const Value* v, const Use& u) {
    return std::count(v->uses().begin(), v->uses().end(), u);
  };
  for (const Block* b : blocks) {
    for (Value* p : b->params()) values.push_back(p);
    for (size_t i = 0; i < b->returns().size(); ++i) {
      const Value* r = b->returns()[i];
      if (countUse(r, Use{nullptr, const_cast<Block*>(b), i}) != 1)
        return ::testing::AssertionFailure() << "return " << i << " %" << r->name() << " not recorded as a use";
    }
    for (Node* n : b->nodes()) {
      for (Value* o : n->outputs()) values.push_back(o);
      for (size_t i = 0; i < n->numInputs(); ++i)
        if (n->input(i) && countUse(n->input(i), Use{n, nullptr, i}) != 1)
          return ::testing::AssertionFailure() << n->describe() << " input " << i << " not recorded as a use";
    }
  }
  for (const Value* v : values)
    for (const Use& u : v->uses()) {
      const Value* held = u.node ? (u.index < u.node->numInputs() ? u.node->input(u.index) : nullptr)
                                 : (u.index < u.block->returns().size() ? u.block->returns()[u.index] : nullptr);
      if (held != v) return ::testing::AssertionFailure() << "%" << v->name() << " has a stale use";
    }
  return ::testing::AssertionSuccess();
}

// ---------------------------------------------------------------------------
// Building

TEST(Builder, Mlp) {
  GraphBuilder b("mlp");
  Value* x = b.input("x", f32({N(), 8}));
  Value* w1 = b.weight("fc1.weight", filled({8, 16}, 0.1));
  Value* b1 = b.weight("fc1.bias", filled({16}, 0.0));
  Value* h = b.op("add", {b.op("matmul", {x, w1}, {}, "fc1/matmul"), b1});
  EXPECT_EQ(h->type().toString(), "f32[N, 16]");
  Value* a = b.op("gelu", {h});
  Value* w2 = b.weight("fc2.weight", filled({16, 4}, 0.1));
  Value* o = b.op("matmul", {a, w2});
  Value* p = b.op("softmax", {o}, {{"axis", int64_t{-1}}});
  EXPECT_EQ(p->type().toString(), "f32[N, 4]");
  b.output(p);
  EXPECT_TRUE(b.status().ok());
  auto g = b.finish();
  ASSERT_TRUE(g.ok()) << g.status().toString();
  const std::string text = printGraph(**g);
  EXPECT_CONTAINS(text, "graph @mlp(%x: f32[N, 8]) {\n");
  EXPECT_CONTAINS(text, "%fc1.weight = weight() {name = \"fc1.weight\"} : f32[8, 16]\n");
  EXPECT_CONTAINS(text, " = matmul(%x, %fc1.weight) : f32[N, 16] @\"fc1/matmul\"\n");
  EXPECT_CONTAINS(text, " = softmax(");
  EXPECT_CONTAINS(text, "{axis = -1} : f32[N, 4]\n");
  EXPECT_EQ((*g)->weights().size(), 3u);
  EXPECT_EQ((*g)->numNodes(), 8u);
  EXPECT_TRUE(usesConsistent(**g));
}

TEST(Builder, MultiOutputAndConstants) {
  GraphBuilder b;
  Value* x = b.input("x", f32({N(), 6}));
  std::vector<Value*> parts = b.ops("split", {x}, {{"axis", int64_t{1}}}, 3);
  ASSERT_EQ(parts.size(), 3u);
  for (Value* p : parts) EXPECT_EQ(p->type().toString(), "f32[N, 2]");
  Value* k = b.constant(testing::I({2}, {0, -1}), "shape");
  EXPECT_EQ(k->name(), "shape");
  EXPECT_EQ(k->type().toString(), "i64[2]");
  Value* r = b.op("reshape", {parts[0], k});
  EXPECT_EQ(r->type().toString(), "f32[N, 2]");
  Value* c = b.constant(testing::I({2}, {3, -1}));
  Value* s = b.op("reshape", {b.input("z", f32({2, 6})), c});
  EXPECT_EQ(s->type().toString(), "f32[3, 4]");
  b.output(r);
  b.output(s);
  auto g = b.finish();
  ASSERT_TRUE(g.ok()) << g.status().toString();
}

TEST(Builder, IfAndLoop) {
  GraphBuilder b("cf");
  Value* x = b.input("x", f32({N(), 4}));
  Value* steps = b.input("steps", Type::scalar(DType::I64));
  Value* s = b.op("reduce_sum", {x}, {{"keepdims", int64_t{0}}});
  EXPECT_EQ(s->type().toString(), "f32[]");
  Value* zero = b.constant(Tensor::scalarF32(0));
  Value* pos = b.op("greater", {s, zero});
  EXPECT_EQ(pos->type().toString(), "bool[]");

  Node* iff = b.beginIf(pos);
  ASSERT_EQ(iff->numBlocks(), 2u);
  b.enter(iff->block(0));
  b.yield({b.op("relu", {x})});  // captures %x
  b.exit();
  b.enter(iff->block(1));
  b.yield({b.op("neg", {x})});
  b.exit();
  std::vector<Value*> y = b.endIf(iff);
  ASSERT_EQ(y.size(), 1u);
  EXPECT_EQ(y[0]->type().toString(), "f32[N, 4]");

  Value* t = b.constant(testing::B({}, {1}));
  Node* loop = b.beginLoop(steps, t, {y[0]});
  Block* body = loop->block(0);
  ASSERT_EQ(body->params().size(), 3u);
  EXPECT_EQ(body->param(0)->type().toString(), "i64");
  EXPECT_EQ(body->param(1)->type().toString(), "bool");
  EXPECT_EQ(body->param(2)->type().toString(), "f32[N, 4]");
  b.enter(body);
  Value* next = b.op("tanh", {b.op("add", {body->param(2), x})});
  b.yield({body->param(1), next, next});
  b.exit();
  std::vector<Value*> outs = b.endLoop(loop);
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[0]->type().toString(), "f32[N, 4]");
  EXPECT_EQ(outs[1]->type().toString(), "f32[?, N, 4]");
  b.output(outs[0]);
  b.output(outs[1]);
  auto g = b.finish();
  ASSERT_TRUE(g.ok()) << g.status().toString();
  const std::string text = printGraph(**g);
  EXPECT_CONTAINS(text, " = if(");
  EXPECT_CONTAINS(text, ") : f32[N, 4] {\n  ^then:\n");
  EXPECT_CONTAINS(text, "  ^body(%iter: i64, %cond: bool, %");
  EXPECT_CONTAINS(text, ") : f32[N, 4], f32[?, N, 4] {\n");
  // The text parses back to the same program.
  auto back = parseGraph(text);
  ASSERT_TRUE(back.ok()) << back.status().toString();
  EXPECT_EQ(printGraph(**back), text);
  EXPECT_TRUE(verify(**back).ok());
  EXPECT_TRUE(usesConsistent(**g));
}

TEST(Builder, IfArmsOfDifferentShapesJoin) {
  GraphBuilder b;
  Value* c = b.input("c", Type::scalar(DType::Bool));
  Value* x = b.input("x", f32({2, 3}));
  Value* z = b.input("z", f32({2, 5}));
  Node* iff = b.beginIf(c);
  b.enter(iff->block(0));
  b.yield({x});
  b.exit();
  b.enter(iff->block(1));
  b.yield({z});
  b.exit();
  auto y = b.endIf(iff);
  EXPECT_EQ(y[0]->type().toString(), "f32[2, ?]");
  b.output(y[0]);
  EXPECT_TRUE(b.finish().ok());
}

// ---------------------------------------------------------------------------
// Errors

TEST(Builder, ShapeErrorSurfacesFromFinishWithTheNode) {
  GraphBuilder b;
  Value* x = b.input("x", f32({N(), 4}));
  Value* w = b.weight("w", filled({5, 3}, 1.0));
  Value* m = b.op("matmul", {x, w}, {}, "bad/mm");
  EXPECT_FALSE(b.status().ok());
  EXPECT_CONTAINS(b.status().message(), "'matmul' node %");
  EXPECT_CONTAINS(b.status().message(), "\"bad/mm\"");
  // Later calls stay safe and keep the first error.
  ASSERT_NE(m, nullptr);
  Value* r = b.op("relu", {m});
  ASSERT_NE(r, nullptr);
  Value* q = b.op("add", {r, x});
  ASSERT_NE(q, nullptr);
  b.output(q);
  auto g = b.finish();
  ASSERT_FALSE(g.ok());
  EXPECT_CONTAINS(g.status().message(), "'matmul' node %");
  EXPECT_CONTAINS(g.status().message(), "\"bad/mm\"");
}

TEST(Builder, NullInputsGivePlaceholders) {
  GraphBuilder b;
  Value* x = b.input("x", f32({2}));
  Value* p = b.op("relu", {nullptr});
  ASSERT_NE(p, nullptr);
  EXPECT_CONTAINS(b.status().message(), "'relu': null input");
  std::vector<Value*> ps = b.ops("split", {nullptr}, {}, 3);
  ASSERT_EQ(ps.size(), 3u);
  for (Value* v : ps) ASSERT_NE(v, nullptr);
  // Using placeholders keeps working.
  Value* y = b.op("add", {p, ps[1]});
  ASSERT_NE(y, nullptr);
  b.op("add", {y, x});
  // Control flow on a null condition still gives a node with the right blocks.
  Node* iff = b.beginIf(nullptr);
  ASSERT_NE(iff, nullptr);
  ASSERT_EQ(iff->numBlocks(), 2u);
  b.enter(iff->block(0));
  b.yield({x});
  b.exit();
  b.enter(iff->block(1));
  b.yield({x});
  b.exit();
  EXPECT_EQ(b.endIf(iff).size(), 1u);
  Node* loop = b.beginLoop(nullptr, nullptr, {x});
  ASSERT_NE(loop, nullptr);
  ASSERT_EQ(loop->numBlocks(), 1u);
  b.enter(loop->block(0));
  b.yield({loop->block(0)->param(1)});
  b.exit();
  (void)b.endLoop(loop);
  b.output(nullptr);
  b.yield({nullptr});
  auto g = b.finish();
  ASSERT_FALSE(g.ok());
  EXPECT_CONTAINS(g.status().message(), "'relu': null input");  // the first error wins
}

TEST(Builder, OtherRecordedErrors) {
  {
    GraphBuilder b;
    Value* x = b.input("x", f32({2}));
    b.op("frobnicate", {x});
    EXPECT_CONTAINS(b.status().message(), "unknown op 'frobnicate'");
    EXPECT_FALSE(b.finish().ok());
  }
  {
    GraphBuilder b;
    Value* x = b.input("x", f32({2, 3}));
    b.op("softmax", {x}, {{"axis", std::string("last")}});
    EXPECT_CONTAINS(b.status().message(), "'softmax' node %");
    EXPECT_CONTAINS(b.status().message(), "must be int, got string");
  }
  {
    GraphBuilder b;
    b.weight("w", filled({2}, 1));
    b.weight("w", filled({2}, 2));
    EXPECT_CONTAINS(b.status().message(), "weight \"w\" added twice");
  }
  {
    GraphBuilder b;
    b.weight("w", Tensor());
    EXPECT_CONTAINS(b.status().message(), "weight \"w\": no tensor");
    GraphBuilder c;
    c.constant(Tensor());
    EXPECT_CONTAINS(c.status().message(), "constant(): no tensor");
  }
  {
    GraphBuilder b;
    b.exit();
    EXPECT_CONTAINS(b.status().message(), "exit() without enter()");
  }
  {
    GraphBuilder b;
    Value* c = b.input("c", Type::scalar(DType::Bool));
    Node* iff = b.beginIf(c);
    b.enter(iff->block(0));
    b.input("late", f32({1}));
    EXPECT_CONTAINS(b.status().message(), "graph inputs can only be added at the top level");
  }
  {
    GraphBuilder b;
    Value* c = b.input("c", Type::scalar(DType::Bool));
    Node* iff = b.beginIf(c);
    b.enter(iff->block(0));
    auto g = b.finish();
    ASSERT_FALSE(g.ok());
    EXPECT_CONTAINS(g.status().message(), "1 blocks still entered");
  }
  {
    // if arms of different dtypes.
    GraphBuilder b;
    Value* c = b.input("c", Type::scalar(DType::Bool));
    Value* x = b.input("x", f32({2}));
    Value* i = b.input("i", Type::tensor(DType::I64, {2}));
    Node* iff = b.beginIf(c);
    b.enter(iff->block(0));
    b.yield({x});
    b.exit();
    b.enter(iff->block(1));
    b.yield({i});
    b.exit();
    auto outs = b.endIf(iff);
    EXPECT_EQ(outs.size(), 1u);
    EXPECT_CONTAINS(b.status().message(), "'if' node %");
    EXPECT_CONTAINS(b.status().message(), "dtype f32 does not match i64");
  }
  {
    // A loop body yielding the wrong number of values.
    GraphBuilder b;
    Value* n = b.input("n", Type::scalar(DType::I64));
    Value* c = b.input("c", Type::scalar(DType::Bool));
    Value* x = b.input("x", f32({2}));
    Node* loop = b.beginLoop(n, c, {x});
    b.enter(loop->block(0));
    b.yield({loop->block(0)->param(1)});
    b.exit();
    (void)b.endLoop(loop);
    EXPECT_CONTAINS(b.status().message(), "'loop' node");
    EXPECT_CONTAINS(b.status().message(), "body must yield the condition and 1 carried values");
  }
}

// ---------------------------------------------------------------------------
// Graph API: clone, removal, use lists

std::unique_ptr<Graph> buildSample() {
  GraphBuilder b("sample");
  Value* x = b.input("x", f32({N(), 4}));
  Value* c = b.input("c", Type::scalar(DType::Bool));
  Value* n = b.input("n", Type::scalar(DType::I64));
  Value* w = b.weight("w", filled({4, 4}, 0.5));
  Value* m = b.op("matmul", {x, w}, {}, "mm");
  Node* iff = b.beginIf(c);
  b.enter(iff->block(0));
  b.yield({b.op("relu", {m})});
  b.exit();
  b.enter(iff->block(1));
  b.yield({m});
  b.exit();
  Value* y = b.endIf(iff)[0];
  Node* loop = b.beginLoop(n, c, {y});
  b.enter(loop->block(0));
  Value* nx = b.op("add", {loop->block(0)->param(2), m});
  b.yield({loop->block(0)->param(1), nx, nx});
  b.exit();
  auto outs = b.endLoop(loop);
  b.output(outs[0]);
  b.output(outs[1]);
  auto g = b.finish();
  EXPECT_TRUE(g.ok()) << g.status().toString();
  return g.ok() ? std::move(g).value() : nullptr;
}

TEST(GraphApi, CloneIsIdentical) {
  auto g = buildSample();
  ASSERT_TRUE(g);
  auto c = g->clone();
  EXPECT_EQ(printGraph(*c), printGraph(*g));
  EXPECT_EQ(c->numNodes(), g->numNodes());
  EXPECT_EQ(c->weights().size(), g->weights().size());
  EXPECT_TRUE(verify(*c).ok()) << verify(*c).toString();
  EXPECT_TRUE(usesConsistent(*c));
  // The clone is independent: changing it leaves the original alone.
  const std::string before = printGraph(*g);
  c->renameValue(c->findValue("x"), "renamed");
  c->body()->nodes()[0]->setName("other");
  EXPECT_EQ(printGraph(*g), before);
  EXPECT_NE(printGraph(*c), before);
  EXPECT_EQ(g->findValue("x")->graph(), g.get());
  EXPECT_EQ(c->findValue("renamed")->graph(), c.get());
  // Parsed graphs clone identically too.
  auto p = parseGraph(before);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(printGraph(*(*p)->clone()), before);
}

TEST(GraphApi, ReplaceAllUsesWith) {
  GraphBuilder b;
  Value* x = b.input("x", f32({2}));
  Value* y = b.input("y", f32({2}));
  Value* r = b.op("relu", {x});
  Value* a = b.op("add", {r, r});
  Value* s = b.op("mul", {a, r});
  b.output(r);
  b.output(s);
  auto g = b.finish();
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(r->uses().size(), 4u);  // add (2), mul, return
  EXPECT_EQ(y->uses().size(), 0u);
  r->replaceAllUsesWith(y);
  EXPECT_FALSE(r->hasUses());
  EXPECT_EQ(y->uses().size(), 4u);
  EXPECT_EQ(a->definingNode()->input(0), y);
  EXPECT_EQ(a->definingNode()->input(1), y);
  EXPECT_EQ((*g)->outputs()[0], y);
  EXPECT_TRUE(usesConsistent(**g));
  r->replaceAllUsesWith(r);  // no-op
  y->replaceAllUsesWith(y);
  EXPECT_EQ(y->uses().size(), 4u);
  // The relu is dead now.
  (*g)->destroyNode(r->definingNode());
  EXPECT_EQ((*g)->findValue(r->name()), nullptr);
  EXPECT_EQ((*g)->numNodes(), 2u);
  EXPECT_TRUE(verify(**g).ok()) << verify(**g).toString();
  EXPECT_TRUE(usesConsistent(**g));
  EXPECT_EQ(x->uses().size(), 0u);
}

TEST(GraphApi, SetInputAndReturnsKeepUses) {
  GraphBuilder b;
  Value* x = b.input("x", f32({2}));
  Value* y = b.input("y", f32({2}));
  Value* a = b.op("add", {x, x});
  b.output(a);
  b.output(a);
  auto g = b.finish();
  ASSERT_TRUE(g.ok());
  Node* add = a->definingNode();
  EXPECT_EQ(x->uses().size(), 2u);
  add->setInput(1, y);
  EXPECT_EQ(x->uses().size(), 1u);
  EXPECT_EQ(y->uses().size(), 1u);
  EXPECT_EQ(y->uses()[0], (Use{add, nullptr, 1}));
  EXPECT_EQ(a->uses().size(), 2u);
  (*g)->body()->setReturn(1, x);
  EXPECT_EQ(a->uses().size(), 1u);
  EXPECT_EQ(x->uses().size(), 2u);
  (*g)->body()->setReturns({y});
  EXPECT_EQ(a->uses().size(), 0u);
  EXPECT_EQ(x->uses().size(), 1u);
  EXPECT_EQ(y->uses().size(), 2u);
  EXPECT_TRUE(usesConsistent(**g));
  add->clearInputs();
  EXPECT_EQ(add->numInputs(), 0u);
  EXPECT_EQ(x->uses().size(), 0u);
  EXPECT_EQ(y->uses().size(), 1u);
  add->addInput(x);
  add->addInput(x);
  EXPECT_EQ(x->uses().size(), 2u);
  EXPECT_TRUE(usesConsistent(**g));
  EXPECT_TRUE(verify(**g).ok());
}

TEST(GraphApi, DestroyNodeWithBlocks) {
  auto g = buildSample();
  ASSERT_TRUE(g);
  const size_t before = g->numNodes();
  Node* loop = nullptr;
  for (Node* n : g->body()->nodes())
    if (n->op() == "loop") loop = n;
  ASSERT_NE(loop, nullptr);
  Value* m = g->findValue(loop->block(0)->nodes()[0]->input(1)->name());
  ASSERT_NE(m, nullptr);
  const size_t mUses = m->uses().size();
  const std::string iterName = loop->block(0)->param(0)->name();
  ASSERT_NE(g->findValue(iterName), nullptr);
  // Retarget the outputs, then remove the loop with its body.
  Value* x = g->findValue("x");
  g->body()->setReturns({x});
  g->destroyNode(loop);
  EXPECT_EQ(g->numNodes(), before - 2);
  EXPECT_EQ(m->uses().size(), mUses - 1);  // the body's add is gone
  EXPECT_EQ(g->findValue(iterName), nullptr) << "the body's parameters are gone too";
  EXPECT_TRUE(usesConsistent(*g));
  EXPECT_TRUE(verify(*g).ok()) << verify(*g).toString();
  // Their names can be used again.
  Value* v = g->addInput(f32({1}), iterName);
  EXPECT_EQ(v->name(), iterName);
  const std::string text = printGraph(*g);
  auto back = parseGraph(text);
  ASSERT_TRUE(back.ok()) << back.status().toString();
  EXPECT_EQ(printGraph(**back), text);
}

TEST(GraphApi, EraseNodesIf) {
  GraphBuilder b;
  Value* x = b.input("x", f32({2}));
  Value* a = b.op("relu", {x});
  Value* d1 = b.op("neg", {a});
  Value* d2 = b.op("exp", {d1});      // uses d1: both dead
  Value* d3 = b.op("add", {d2, d1});  // uses both
  Value* keep = b.op("tanh", {a});
  b.output(keep);
  auto g = b.finish();
  ASSERT_TRUE(g.ok());
  (void)d3;
  EXPECT_EQ(a->uses().size(), 2u);
  const std::string d1Name = d1->name();
  (*g)->eraseNodesIf((*g)->body(), [&](Node* n) { return n->op() == "neg" || n->op() == "exp" || n->op() == "add"; });
  EXPECT_EQ((*g)->numNodes(), 2u);
  EXPECT_EQ((*g)->body()->nodes().size(), 2u);
  EXPECT_EQ(a->uses().size(), 1u);
  EXPECT_EQ((*g)->findValue(d1Name), nullptr);
  EXPECT_TRUE(usesConsistent(**g));
  EXPECT_TRUE(verify(**g).ok());
  // Nothing matches: nothing changes.
  (*g)->eraseNodesIf((*g)->body(), [](Node*) { return false; });
  EXPECT_EQ((*g)->numNodes(), 2u);
  EXPECT_EQ(printGraph(**g),
            "graph @main(%x: f32[2]) {\n  %" + a->name() + " = relu(%x) : f32[2]\n  %" + keep->name() +
                " = tanh(%" + a->name() + ") : f32[2]\n  return %" + keep->name() + "\n}\n");
}

TEST(GraphApi, EraseNodesIfWithNestedBlocks) {
  auto g = buildSample();
  ASSERT_TRUE(g);
  Value* x = g->findValue("x");
  g->body()->setReturns({x});
  // Remove the if and the loop (the loop uses the if's output).
  g->eraseNodesIf(g->body(), [](Node* n) { return n->numBlocks() > 0; });
  EXPECT_TRUE(usesConsistent(*g));
  EXPECT_TRUE(verify(*g).ok()) << verify(*g).toString();
  EXPECT_EQ(g->numNodes(), 2u);  // weight, matmul
  Value* m = g->body()->nodes()[1]->output();
  EXPECT_FALSE(m->hasUses());
}

TEST(GraphApi, NamesAndMoves) {
  Graph g("names");
  Value* a = g.addInput(f32({1}), "a");
  Value* b = g.addInput(f32({1}), "a");
  EXPECT_EQ(b->name(), "a.1");
  Value* c = g.addInput(f32({1}));
  EXPECT_FALSE(c->name().empty());
  EXPECT_EQ(g.findValue("a"), a);
  g.renameValue(a, "z");
  EXPECT_EQ(g.findValue("a"), nullptr);
  EXPECT_EQ(g.findValue("z"), a);
  g.renameValue(b, "z");
  EXPECT_EQ(b->name(), "z.1");
  EXPECT_EQ(g.uniqueName("z"), "z.2");
  EXPECT_EQ(a->definingBlock(), g.body());
  EXPECT_TRUE(a->isBlockParam());

  // moveNodesBefore: inline the `then` block of an if.
  Value* cond = g.addInput(Type::scalar(DType::Bool), "cond");
  Node* iff = g.createNode("if", {cond});
  g.body()->appendNode(iff);
  Block* th = iff->addBlock("then");
  Block* el = iff->addBlock("else");
  Node* r = g.createNode("relu", {a});
  th->appendNode(r);
  Value* rv = r->addOutput(f32({1}), "r");
  th->addReturn(rv);
  el->addReturn(a);
  Value* y = iff->addOutput(f32({1}), "y");
  g.addOutput(y);
  EXPECT_TRUE(verify(g).ok()) << verify(g).toString();
  g.moveNodesBefore(th, iff);
  EXPECT_EQ(r->owningBlock(), g.body());
  EXPECT_EQ(g.body()->nodes().front(), r);
  EXPECT_TRUE(th->nodes().empty());
  y->replaceAllUsesWith(rv);
  th->setReturns({});
  el->setReturns({});
  g.destroyNode(iff);
  EXPECT_TRUE(usesConsistent(g));
  EXPECT_TRUE(verify(g).ok()) << verify(g).toString();
  EXPECT_EQ(printGraph(g),
            "graph @names(%z: f32[1], %z.1: f32[1], %" + c->name() +
                ": f32[1], %cond: bool) {\n  %r = relu(%z) : f32[1]\n  return %r\n}\n");
}

}  // namespace
}  // namespace sy
