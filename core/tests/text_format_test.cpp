// Tests of the text format (core/src/text_parser.cpp, text_printer.cpp):
// canonical printing, the print/parse fixpoint, float exactness, round trips of
// random graphs built with GraphBuilder, and a corpus of malformed inputs that
// must give positioned errors (never crashes).

#include <gtest/gtest.h>

#include <bit>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "switchyard/builder.h"
#include "switchyard/op_registry.h"
#include "switchyard/text.h"
#include "switchyard/verifier.h"
#include "test_util.h"

namespace sy {
namespace {

// ---------------------------------------------------------------------------
// Helpers

/// A test-only op declaring one attribute of every kind (no built-in op takes
/// floats or strings). Registered once into the global registry; the registry
/// is heap-allocated and this executable is single-threaded.
void ensureTestOps() {
  static const bool done = [] {
    auto& reg = const_cast<OpRegistry&>(OpRegistry::global());
    OpSchema s;
    s.name = "test_attrs";
    s.category = "test";
    s.doc = "Test op with attributes of every kind.";
    s.minInputs = 0;
    s.maxInputs = 1;
    s.minOutputs = 0;
    s.maxOutputs = -1;
    s.attrs = {AttrSpec{.name = "f", .kind = AttrKind::Float},   AttrSpec{.name = "fs", .kind = AttrKind::Floats},
               AttrSpec{.name = "i", .kind = AttrKind::Int},     AttrSpec{.name = "is", .kind = AttrKind::Ints},
               AttrSpec{.name = "s", .kind = AttrKind::String},  AttrSpec{.name = "ss", .kind = AttrKind::Strings},
               AttrSpec{.name = "t", .kind = AttrKind::Tensor},  AttrSpec{.name = "odd key", .kind = AttrKind::Int}};
    s.infer = [](InferContext& ctx) {
      for (size_t i = 0; i < ctx.numOutputs(); ++i) ctx.setOutputType(i, Type::tensorUnranked(DType::F32));
      return Status::OK();
    };
    reg.add(std::move(s));
    return true;
  }();
  (void)done;
}

std::unique_ptr<Graph> parseOk(std::string_view text) {
  auto r = parseGraph(text);
  EXPECT_TRUE(r.ok()) << r.status().toString() << "\n--- input ---\n" << text;
  return r.ok() ? std::move(r).value() : nullptr;
}

/// Canonical text of `text` (empty on a parse error, which fails the test).
std::string canon(std::string_view text) {
  auto g = parseOk(text);
  return g ? printGraph(*g) : std::string();
}

/// `input` prints as exactly `expected`, and `expected` is a fixpoint.
void expectCanonical(std::string_view input, const std::string& expected) {
  EXPECT_EQ(canon(input), expected);
  EXPECT_EQ(canon(expected), expected) << "canonical text is not a fixpoint";
}

/// The parse error for `text` (the test fails when it parses).
std::string parseError(std::string_view text) {
  auto r = parseGraph(text);
  EXPECT_FALSE(r.ok()) << "expected a parse error for:\n" << text;
  return r.ok() ? std::string() : r.status().message();
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

#define EXPECT_CONTAINS(s, part) EXPECT_TRUE(contains((s), (part))) << "in: " << (s) << "\nmissing: " << (part)

std::vector<std::string> opSequence(const Graph& g) {
  std::vector<std::string> ops;
  forEachNode(g.body(), [&](Node* n) { ops.push_back(n->op()); });
  return ops;
}

// ---------------------------------------------------------------------------
// Canonical printing

TEST(TextCanonical, SpacingCommentsAndDefaultForms) {
  const char* input = R"(# leading comment
   graph@main(%x:f32[ N,4 ],%"a/b:0" : f32[2 ,4] ,%c:bool,%n :i64, %u: f32[*],%q:f32[?,4],%s: f32[],%v:f32[4]){# c
  %s1,%s2=split(%x){axis=1}:f32[N,2],f32[N,2]   # two outputs
  %e = leaky_relu( %s1 ) { alpha = 1 } : f32[N,2]@"layer1/relu"
  %t = transpose(%"a/b:0") {perm=[1,0]} : f32[4,2] @fc1
  %r = reduce_sum(%x) {axes=[ ], keepdims=+0} : f32[]
  %cl = clip(%e) {min=-inf, max=inf} : f32[N, 2]
  %lr = leaky_relu(%u) {alpha=-nan} : f32[*]
  %ln = layer_norm(%q, %v) {epsilon = 1e-5} : f32[?,4]
  return %s2,%t,%r,%cl , %lr
}
)";
  const std::string text = input;
  const std::string expected =
      "graph @main(%x: f32[N, 4], %\"a/b:0\": f32[2, 4], %c: bool, %n: i64, %u: f32[*], %q: f32[?, 4], "
      "%s: f32[], %v: f32[4]) {\n"
      "  %s1, %s2 = split(%x) {axis = 1} : f32[N, 2], f32[N, 2]\n"
      "  %e = leaky_relu(%s1) {alpha = 1.0} : f32[N, 2] @\"layer1/relu\"\n"
      "  %t = transpose(%\"a/b:0\") {perm = [1, 0]} : f32[4, 2] @fc1\n"
      "  %r = reduce_sum(%x) {axes = [], keepdims = 0} : f32[]\n"
      "  %cl = clip(%e) {max = inf, min = -inf} : f32[N, 2]\n"
      "  %lr = leaky_relu(%u) {alpha = nan} : f32[*]\n"
      "  %ln = layer_norm(%q, %v) {epsilon = 1e-05} : f32[?, 4]\n"
      "  return %s2, %t, %r, %cl, %lr\n"
      "}\n";
  expectCanonical(text, expected);
  auto g = parseOk(text);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->name(), "main");
  EXPECT_EQ(g->inputs().size(), 8u);
  EXPECT_EQ(g->inputs()[1]->name(), "a/b:0");
  EXPECT_TRUE(g->inputs()[2]->type().isScalar());
  EXPECT_FALSE(g->inputs()[4]->type().rankKnown());
  EXPECT_TRUE(g->inputs()[5]->type().dim(0).isUnknown());
  EXPECT_TRUE(g->inputs()[0]->type().dim(0).isSymbol());
  EXPECT_EQ(g->inputs()[6]->type().rank(), 0);
  EXPECT_TRUE(g->inputs()[6]->type().isTensor());
  // The int literal became a float attribute.
  const Node* leaky = g->body()->nodes()[1];
  EXPECT_EQ(leaky->name(), "layer1/relu");
  ASSERT_NE(leaky->attr("alpha"), nullptr);
  EXPECT_EQ(attrKind(*leaky->attr("alpha")), AttrKind::Float);
  EXPECT_TRUE(verify(*g).ok()) << verify(*g).toString();
}

TEST(TextCanonical, TensorLiteralsOfEveryDType) {
  const char* input = R"(graph @consts() {
  %a = constant() {value = tensor<f32[2, 2]>[1, 2.5, -0.0, 1e-5]} : f32[2, 2]
  %b = constant() {value = tensor<f16[4]>[0.1, 65504, inf, -2]} : f16[4]
  %c = constant() {value = tensor<bf16[2]>[1, -3.5]} : bf16[2]
  %d = constant() {value = tensor<i8[3]>[-128, 0, +127]} : i8[3]
  %e = constant() {value = tensor<i32[2]>[2147483647, -2147483648]} : i32[2]
  %f = constant() {value = tensor<i64[2]>[9223372036854775807, -9223372036854775808]} : i64[2]
  %g = constant() {value = tensor<bool[2, 1]>[true, false]} : bool[2, 1]
  %h = constant() {value = tensor<bool>[1]} : bool
  %i = constant() {value = tensor<f32[]>[3]} : f32[]
  %j = constant() {value = tensor<f32[0, 3]>[]} : f32[0, 3]
  %k = constant() {value = tensor<i64[0]>[]} : i64[0]
  %l = constant() {value = tensor<f32[3]>[nan, -inf, 3.4028234663852886e38]} : f32[3]
  return %a, %b, %c, %d, %e, %f, %g, %h, %i, %j, %k, %l
}
)";
  const std::string expected =
      "graph @consts() {\n"
      "  %a = constant() {value = tensor<f32[2, 2]>[1.0, 2.5, -0.0, 1e-05]} : f32[2, 2]\n"
      "  %b = constant() {value = tensor<f16[4]>[0.099975586, 65504.0, inf, -2.0]} : f16[4]\n"
      "  %c = constant() {value = tensor<bf16[2]>[1.0, -3.5]} : bf16[2]\n"
      "  %d = constant() {value = tensor<i8[3]>[-128, 0, 127]} : i8[3]\n"
      "  %e = constant() {value = tensor<i32[2]>[2147483647, -2147483648]} : i32[2]\n"
      "  %f = constant() {value = tensor<i64[2]>[9223372036854775807, -9223372036854775808]} : i64[2]\n"
      "  %g = constant() {value = tensor<bool[2, 1]>[true, false]} : bool[2, 1]\n"
      "  %h = constant() {value = tensor<bool[]>[true]} : bool\n"
      "  %i = constant() {value = tensor<f32[]>[3.0]} : f32[]\n"
      "  %j = constant() {value = tensor<f32[0, 3]>[]} : f32[0, 3]\n"
      "  %k = constant() {value = tensor<i64[0]>[]} : i64[0]\n"
      "  %l = constant() {value = tensor<f32[3]>[nan, -inf, 3.4028235e+38]} : f32[3]\n"
      "  return %a, %b, %c, %d, %e, %f, %g, %h, %i, %j, %k, %l\n"
      "}\n";
  expectCanonical(input, expected);
  auto g = parseOk(input);
  ASSERT_TRUE(g);
  EXPECT_TRUE(verify(*g).ok()) << verify(*g).toString();
  const Tensor* h = knownConstant(g->findValue("h"));
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->rank(), 0);
  EXPECT_EQ(h->dtype(), DType::Bool);
  const Tensor* a = knownConstant(g->findValue("a"));
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(std::signbit(a->getDouble(2)));
  EXPECT_EQ(a->getDouble(3), static_cast<double>(1e-5f));
  const Tensor* j = knownConstant(g->findValue("j"));
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(j->numel(), 0);
  EXPECT_EQ(j->shape(), Shape({0, 3}));
}

TEST(TextCanonical, TensorLiteralsOfTheAbi12DTypes) {
  const char* input = R"(graph @consts() {
  %a = constant() {value = tensor<u8[3]>[0, 128, 255]} : u8[3]
  %b = constant() {value = tensor<i16[2]>[-32768, 32767]} : i16[2]
  %c = constant() {value = tensor<u16[1]>[65535]} : u16[1]
  %d = constant() {value = tensor<u32[1]>[4294967295]} : u32[1]
  %e = constant() {value = tensor<u64[2]>[18446744073709551615, 9223372036854775808]} : u64[2]
  %f = constant() {value = tensor<f64[3]>[0.1, 1e300, -inf]} : f64[3]
  return %a, %b, %c, %d, %e, %f
}
)";
  const std::string expected =
      "graph @consts() {\n"
      "  %a = constant() {value = tensor<u8[3]>[0, 128, 255]} : u8[3]\n"
      "  %b = constant() {value = tensor<i16[2]>[-32768, 32767]} : i16[2]\n"
      "  %c = constant() {value = tensor<u16[1]>[65535]} : u16[1]\n"
      "  %d = constant() {value = tensor<u32[1]>[4294967295]} : u32[1]\n"
      "  %e = constant() {value = tensor<u64[2]>[18446744073709551615, 9223372036854775808]} : u64[2]\n"
      "  %f = constant() {value = tensor<f64[3]>[0.1, 1e+300, -inf]} : f64[3]\n"
      "  return %a, %b, %c, %d, %e, %f\n"
      "}\n";
  expectCanonical(input, expected);
  auto g = parseOk(input);
  ASSERT_TRUE(g);
  const Tensor* e = knownConstant(g->findValue("e"));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->data<uint64_t>()[0], UINT64_MAX);
  const Tensor* f = knownConstant(g->findValue("f"));
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->data<double>()[0], 0.1);  // not rounded through f32
  struct Bad {
    const char* type;
    const char* value;
    const char* message;
  };
  for (const Bad& b : {Bad{"u8", "256", "value 256 does not fit in u8"}, Bad{"u8", "-1", "value -1 does not fit in u8"},
                       Bad{"u64", "-1", "value -1 does not fit in u64"},
                       Bad{"u64", "18446744073709551616", "value 18446744073709551616 does not fit in u64"},
                       Bad{"i16", "32768", "value 32768 does not fit in i16"},
                       Bad{"u32", "1.5", "expected an integer for a u32[1] tensor"}}) {
    const std::string text = std::string("graph @g() {\n  %c = constant() {value = tensor<") + b.type + "[1]>[" +
                             b.value + "]} : " + b.type + "[1]\n  return %c\n}";
    auto r = parseGraph(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.status().message().find(b.message), std::string::npos) << r.status().message();
  }
}

TEST(TextCanonical, AttributesOfEveryKind) {
  ensureTestOps();
  const char* input = R"(graph @attrs() {
  test_attrs() {s = "q\"b\\s\n\t\x01\x41\x7f", ss = ["", "x y", "\\"], i = -9223372036854775808, is = [ ],
                 f = 1e-5, fs = [1, 0.5, -inf, nan, 1e300], "odd key" = 7, t = tensor<i32[]>[-1]}
  test_attrs() {fs = [], ss = [], is = [3]}
  %o = test_attrs() {f = 5e-324} : f32[*]
  return %o
}
)";
  const std::string expected =
      "graph @attrs() {\n"
      "  test_attrs() {f = 1e-05, fs = [1.0, 0.5, -inf, nan, 1e+300], i = -9223372036854775808, is = [], "
      "\"odd key\" = 7, s = \"q\\\"b\\\\s\\n\\t\\x01A\\x7f\", ss = [\"\", \"x y\", \"\\\\\"], "
      "t = tensor<i32[]>[-1]}\n"
      "  test_attrs() {fs = [], is = [3], ss = []}\n"
      "  %o = test_attrs() {f = 5e-324} : f32[*]\n"
      "  return %o\n"
      "}\n";
  expectCanonical(input, expected);
  auto g = parseOk(input);
  ASSERT_TRUE(g);
  const Node* n = g->body()->nodes()[0];
  EXPECT_EQ(n->numOutputs(), 0u);
  EXPECT_EQ(std::get<std::string>(*n->attr("s")), std::string("q\"b\\s\n\t\x01" "A\x7f"));
  EXPECT_EQ(std::get<std::vector<std::string>>(*n->attr("ss")).size(), 3u);
  EXPECT_EQ(std::get<std::vector<double>>(*n->attr("fs"))[0], 1.0);
  EXPECT_EQ(std::get<double>(*g->body()->nodes()[2]->attr("f")), 5e-324);
  EXPECT_TRUE(verify(*g).ok()) << verify(*g).toString();
}

TEST(TextCanonical, PrintAttribute) {
  EXPECT_EQ(printAttribute(Attribute(int64_t{-3})), "-3");
  EXPECT_EQ(printAttribute(Attribute(2.0)), "2.0");
  EXPECT_EQ(printAttribute(Attribute(1e-5)), "1e-05");
  EXPECT_EQ(printAttribute(Attribute(std::numeric_limits<double>::infinity())), "inf");
  EXPECT_EQ(printAttribute(Attribute(-std::numeric_limits<double>::infinity())), "-inf");
  EXPECT_EQ(printAttribute(Attribute(std::numeric_limits<double>::quiet_NaN())), "nan");
  EXPECT_EQ(printAttribute(Attribute(std::string("a\"b"))), "\"a\\\"b\"");
  EXPECT_EQ(printAttribute(Attribute(std::vector<int64_t>{})), "[]");
  EXPECT_EQ(printAttribute(Attribute(std::vector<double>{1, 0.25})), "[1.0, 0.25]");
  EXPECT_EQ(printAttribute(Attribute(std::vector<std::string>{"a", "b"})), "[\"a\", \"b\"]");
  EXPECT_EQ(printAttribute(Attribute(testing::I({2}, {4, 5}))), "tensor<i64[2]>[4, 5]");
  EXPECT_EQ(printAttribute(Attribute(testing::B({}, {1}))), "tensor<bool[]>[true]");
}

TEST(TextCanonical, ControlFlowWithCaptureAndZeroOutputs) {
  const char* input = R"(graph @cf(%x: f32[B, 4], %c: bool, %steps: i64) {
  %w = weight() {name = "cell.weight"} : f32[4, 4]
  %t = constant() {value = tensor<bool[]>[true]} : bool[]
  %h, %trace = loop(%steps, %t, %x) : f32[B, 4], f32[?, B, 4] {
  ^body(%i: i64, %cc: bool, %state: f32[B, 4]):
    %m = matmul(%state, %w) : f32[B, 4]      # %w captured from the outer block
    %inner = if(%c) : f32[B, 4] {
    ^then:
      %r = relu(%m) : f32[B, 4]
      yield %r
    ^else:
      yield %x
    }
    yield %cc, %inner, %m
  }
  if(%c) {
  ^then:
    yield
  ^else:
    yield
  }
  if(%c) @"side effect free" {
  ^then: yield
  ^else: yield
  }
  loop(%steps, %c) {
  ^body(%j: i64, %k: bool):
    yield %k
  }
  return %h, %trace
}
)";
  const std::string expected =
      "graph @cf(%x: f32[B, 4], %c: bool, %steps: i64) {\n"
      "  %w = weight() {name = \"cell.weight\"} : f32[4, 4]\n"
      "  %t = constant() {value = tensor<bool[]>[true]} : bool[]\n"
      "  %h, %trace = loop(%steps, %t, %x) : f32[B, 4], f32[?, B, 4] {\n"
      "  ^body(%i: i64, %cc: bool, %state: f32[B, 4]):\n"
      "    %m = matmul(%state, %w) : f32[B, 4]\n"
      "    %inner = if(%c) : f32[B, 4] {\n"
      "    ^then:\n"
      "      %r = relu(%m) : f32[B, 4]\n"
      "      yield %r\n"
      "    ^else:\n"
      "      yield %x\n"
      "    }\n"
      "    yield %cc, %inner, %m\n"
      "  }\n"
      "  if(%c) {\n"
      "  ^then:\n"
      "    yield\n"
      "  ^else:\n"
      "    yield\n"
      "  }\n"
      "  if(%c) @\"side effect free\" {\n"
      "  ^then:\n"
      "    yield\n"
      "  ^else:\n"
      "    yield\n"
      "  }\n"
      "  loop(%steps, %c) {\n"
      "  ^body(%j: i64, %k: bool):\n"
      "    yield %k\n"
      "  }\n"
      "  return %h, %trace\n"
      "}\n";
  expectCanonical(input, expected);
  auto g = parseOk(input);
  ASSERT_TRUE(g);
  EXPECT_TRUE(verify(*g).ok()) << verify(*g).toString();
  EXPECT_EQ(g->numNodes(), 9u);
  const Node* loop = g->body()->nodes()[2];
  ASSERT_EQ(loop->numBlocks(), 1u);
  EXPECT_EQ(loop->block(0)->label(), "body");
  EXPECT_EQ(loop->block(0)->params().size(), 3u);
  EXPECT_EQ(g->body()->nodes()[3]->numOutputs(), 0u);
  EXPECT_EQ(g->body()->nodes()[4]->name(), "side effect free");
}

TEST(TextCanonical, ExamplesAreFixpoints) {
  for (const char* name : {"mlp.sy", "recurrent.sy"}) {
    const std::string path = std::string(SY_SOURCE_DIR) + "/examples/" + name;
    FILE* f = std::fopen(path.c_str(), "rb");
    ASSERT_NE(f, nullptr) << path;
    std::string text;
    char buf[4096];
    size_t k;
    while ((k = std::fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, k);
    std::fclose(f);
    const std::string once = canon(text);
    ASSERT_FALSE(once.empty()) << name;
    EXPECT_EQ(canon(once), once) << name;
    EXPECT_FALSE(contains(once, "#")) << "comments are not kept";
    auto g = parseOk(once);
    ASSERT_TRUE(g);
    EXPECT_TRUE(verify(*g).ok()) << name << ": " << verify(*g).toString();
  }
}

TEST(TextCanonical, NamesNeedingQuotes) {
  GraphBuilder b("my graph");
  Value* x = b.input("in:0", Type::tensor(DType::F32, {2}));
  Value* y = b.op("relu", {x}, {}, "block/relu:0");
  b.graph().renameValue(y, "out \"quoted\"");
  b.output(y);
  auto g = b.finish();
  ASSERT_TRUE(g.ok()) << g.status().toString();
  const std::string text = printGraph(**g);
  EXPECT_EQ(text,
            "graph @\"my graph\"(%\"in:0\": f32[2]) {\n"
            "  %\"out \\\"quoted\\\"\" = relu(%\"in:0\") : f32[2] @\"block/relu:0\"\n"
            "  return %\"out \\\"quoted\\\"\"\n"
            "}\n");
  EXPECT_EQ(canon(text), text);
  auto back = parseOk(text);
  ASSERT_TRUE(back);
  EXPECT_NE(back->findValue("out \"quoted\""), nullptr);
}

// ---------------------------------------------------------------------------
// Float exactness

TEST(TextFloats, F32TensorLiteralsAreBitExact) {
  std::mt19937 rng(1234);
  std::vector<uint32_t> bits = {0x00000001u, 0x80000001u, 0x007fffffu, 0x00800000u, 0x7f7fffffu, 0xff7fffffu,
                                0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x3f800001u, 0x33d6bf95u};
  while (bits.size() < 4000) {
    uint32_t v = rng();
    if (bits.size() % 4 == 0) v &= 0x807fffffu;  // denormals
    if ((v & 0x7f800000u) == 0x7f800000u && (v & 0x007fffffu)) continue;  // NaN: not bit-exact by design
    bits.push_back(v);
  }
  auto t = Tensor::allocate(DType::F32, {static_cast<int64_t>(bits.size())});
  ASSERT_TRUE(t.ok());
  std::memcpy(t->mutableData(), bits.data(), bits.size() * 4);
  GraphBuilder b("floats");
  b.output(b.constant(*t, "c"));
  auto g = b.finish();
  ASSERT_TRUE(g.ok()) << g.status().toString();
  const std::string text = printGraph(**g);
  auto back = parseOk(text);
  ASSERT_TRUE(back);
  const Tensor* u = knownConstant(back->findValue("c"));
  ASSERT_NE(u, nullptr);
  ASSERT_EQ(u->numel(), t->numel());
  for (size_t i = 0; i < bits.size(); ++i) {
    uint32_t got;
    std::memcpy(&got, static_cast<const char*>(u->data()) + 4 * i, 4);
    ASSERT_EQ(got, bits[i]) << "element " << i;
  }
  EXPECT_EQ(printGraph(*back), text);
}

TEST(TextFloats, F16AndBF16LiteralsAreBitExact) {
  std::mt19937 rng(99);
  for (DType dt : {DType::F16, DType::BF16}) {
    std::vector<uint16_t> bits;
    for (uint32_t v = 0; v < 0x10000; v += 7) {
      const uint16_t h = static_cast<uint16_t>(v);
      const bool nan = dt == DType::F16 ? ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
                                        : ((h & 0x7f80) == 0x7f80 && (h & 0x7f));
      if (!nan) bits.push_back(h);
    }
    auto t = Tensor::allocate(dt, {static_cast<int64_t>(bits.size())});
    ASSERT_TRUE(t.ok());
    std::memcpy(t->mutableData(), bits.data(), bits.size() * 2);
    GraphBuilder b("halves");
    b.output(b.constant(*t, "c"));
    auto g = b.finish();
    ASSERT_TRUE(g.ok());
    auto back = parseOk(printGraph(**g));
    ASSERT_TRUE(back);
    const Tensor* u = knownConstant(back->findValue("c"));
    ASSERT_NE(u, nullptr);
    EXPECT_TRUE(u->bitwiseEqual(*t)) << dtypeName(dt);
  }
}

TEST(TextFloats, DoubleAttributesAreBitExact) {
  std::mt19937_64 rng(77);
  std::vector<uint64_t> bits = {0x0000000000000001ull, 0x800fffffffffffffull, 0x0010000000000000ull,
                                0x7fefffffffffffffull, 0x3ff0000000000001ull, 0x8000000000000000ull};
  while (bits.size() < 2000) {
    uint64_t v = rng();
    if (bits.size() % 3 == 0) v &= 0x800fffffffffffffull;  // denormals
    if ((v & 0x7ff0000000000000ull) == 0x7ff0000000000000ull) continue;
    bits.push_back(v);
  }
  std::string text = "graph @d(%x: f32[2]) {\n";
  for (size_t i = 0; i < bits.size(); ++i) {
    const double d = std::bit_cast<double>(bits[i]);
    text += "  %v" + std::to_string(i) + " = leaky_relu(%x) {alpha = " + printAttribute(Attribute(d)) +
            "} : f32[2]\n";
  }
  text += "  return %x\n}\n";
  auto g = parseOk(text);
  ASSERT_TRUE(g);
  EXPECT_EQ(printGraph(*g), text);
  for (size_t i = 0; i < bits.size(); ++i) {
    const Node* n = g->body()->nodes()[i];
    ASSERT_EQ(std::bit_cast<uint64_t>(std::get<double>(*n->attr("alpha"))), bits[i]) << i;
  }
}

// ---------------------------------------------------------------------------
// Random graphs built with GraphBuilder

class RandomGraphGen {
 public:
  explicit RandomGraphGen(uint32_t seed) : rng_(seed), b_("rand" + std::to_string(seed)) {}

  std::unique_ptr<Graph> build() {
    const bool symbolic = pick(2) == 0;
    const Dim n = symbolic ? Dim::symbol("N") : Dim(3);
    pool_.push_back(b_.input("x", Type::tensor(DType::F32, {n, 4})));
    pool_.push_back(b_.input("y", Type::tensor(DType::F32, {n, 4})));
    if (pick(2)) pool_.push_back(b_.input("z", Type::tensor(DType::F32, {2, n, 6})));
    cond_ = b_.input("flag", Type::scalar(DType::Bool));
    steps_ = b_.input("steps", Type::scalar(DType::I64));
    const int count = 4 + pick(14);
    for (int i = 0; i < count; ++i) step(0);
    // Outputs: the last value, plus a random one.
    b_.output(pool_.back());
    b_.output(pool_[static_cast<size_t>(pick(static_cast<int>(pool_.size())))]);
    auto g = b_.finish();
    EXPECT_TRUE(g.ok()) << g.status().toString();
    return g.ok() ? std::move(g).value() : nullptr;
  }

 private:
  int pick(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)); }
  Value* any() { return pool_[static_cast<size_t>(pick(static_cast<int>(pool_.size())))]; }
  /// A value with the same type as `v` (itself if nothing else).
  Value* sameType(Value* v) {
    std::vector<Value*> c;
    for (Value* p : pool_)
      if (p->type() == v->type()) c.push_back(p);
    return c[static_cast<size_t>(pick(static_cast<int>(c.size())))];
  }
  Tensor randomTensor(Shape shape) {
    auto t = Tensor::allocate(DType::F32, std::move(shape));
    for (int64_t i = 0; i < t->numel(); ++i) t->setDouble(i, static_cast<double>(static_cast<int>(rng_() % 2001) - 1000) / 37.0);
    return *t;
  }
  static bool lastStatic(const Value* v) {
    const Type& t = v->type();
    return t.rankKnown() && t.rank() >= 1 && t.dim(t.rank() - 1).isStatic();
  }
  static int64_t lastDim(const Value* v) { return v->type().dim(v->type().rank() - 1).value(); }
  void add(Value* v) {
    if (v) pool_.push_back(v);
  }

  void step(int depth) {
    static const char* unary[] = {"relu", "tanh", "sigmoid", "exp", "neg", "abs", "gelu", "silu"};
    static const char* binary[] = {"add", "sub", "mul", "maximum", "minimum", "div"};
    static const char* reduce[] = {"reduce_sum", "reduce_mean", "reduce_max", "reduce_min"};
    Value* a = any();
    switch (pick(depth < 2 ? 14 : 12)) {
      case 0:
      case 1: add(b_.op(unary[pick(8)], {a})); break;
      case 2: add(b_.op(binary[pick(6)], {a, sameType(a)})); break;
      case 3: {  // broadcasting against a constant row
        if (!lastStatic(a)) return add(b_.op("relu", {a}));
        Value* row = pick(2) ? b_.constant(randomTensor({lastDim(a)})) : b_.constant(randomTensor({}));
        add(pick(2) ? b_.op(binary[pick(6)], {a, row}) : b_.op(binary[pick(6)], {row, a}));
        break;
      }
      case 4: {  // matmul with a weight
        if (!lastStatic(a)) return add(b_.op("neg", {a}));
        const int64_t m = 1 + pick(5);
        Value* w = b_.weight("w" + std::to_string(weights_++), randomTensor({lastDim(a), m}));
        add(b_.op("matmul", {a, w}, {}, pick(3) == 0 ? "mm/" + std::to_string(weights_) : std::string()));
        break;
      }
      case 5: {  // reshape with a constant shape: flatten everything after dim 0
        if (a->type().rank() < 2) return add(b_.op("exp", {a}));
        Value* shape = b_.constant(testing::I({2}, {0, -1}));
        add(b_.op("reshape", {a, shape}));
        break;
      }
      case 6: {
        if (a->type().rank() != 2) {
          add(b_.op("transpose", {a}));
        } else {
          add(b_.op("transpose", {a}, {{"perm", std::vector<int64_t>{1, 0}}}));
        }
        break;
      }
      case 7: {
        if (a->type().rank() < 1) return add(b_.op("abs", {a}));
        const int64_t axis = -1 - pick(static_cast<int>(a->type().rank()));
        add(b_.op("concat", {a, sameType(a), a}, {{"axis", axis}}));
        break;
      }
      case 8: {  // split the last dim in two
        if (!lastStatic(a) || lastDim(a) % 2 != 0) return add(b_.op("sigmoid", {a}));
        for (Value* v : b_.ops("split", {a}, {{"axis", int64_t{-1}}}, 2)) add(v);
        break;
      }
      case 9: {
        if (a->type().rank() < 1) return add(b_.op("tanh", {a}));
        AttrMap attrs{{"axes", std::vector<int64_t>{-1}}, {"keepdims", int64_t{pick(2)}}};
        add(b_.op(reduce[pick(4)], {a}, std::move(attrs)));
        break;
      }
      case 10: {
        if (a->type().rank() < 1) return add(b_.op("neg", {a}));
        add(b_.op("softmax", {a}, {{"axis", int64_t{-1}}}));
        break;
      }
      case 11: add(b_.constant(randomTensor({2, static_cast<int64_t>(1 + pick(3))}))); break;
      case 12: {  // if with captured values
        Value* c = cond_;
        if (pick(2)) {
          Value* s = b_.op("reduce_sum", {a}, {{"keepdims", int64_t{0}}});
          Value* zero = b_.constant(Tensor::scalarF32(0));
          c = b_.op("greater", {s, zero});
        }
        Node* n = b_.beginIf(c);
        Value* other = sameType(a);
        b_.enter(n->block(0));
        scope(depth + 1, a);
        b_.yield({b_.op(unary[pick(8)], {a}), other});
        exitScope();
        b_.enter(n->block(1));
        scope(depth + 1, a);
        b_.yield({pick(2) ? a : b_.op("relu", {other}), a});
        exitScope();
        for (Value* v : b_.endIf(n)) add(v);
        break;
      }
      case 13: {  // loop carrying `a`, capturing another value
        Value* t = b_.constant(testing::B({}, {1}));
        Node* n = b_.beginLoop(steps_, t, {a});
        Block* body = n->block(0);
        b_.enter(body);
        scope(depth + 1, body->param(2));
        Value* next = b_.op("add", {body->param(2), sameType(a)});
        std::vector<Value*> yields{body->param(1), next};
        if (pick(2)) yields.push_back(b_.op("tanh", {next}));
        b_.yield(yields);
        exitScope();
        for (Value* v : b_.endLoop(n)) add(v);
        break;
      }
    }
  }

  // Nested scopes: values made inside a block are only visible there.
  void scope(int depth, Value* seed) {
    saved_.push_back(pool_.size());
    pool_.push_back(seed);
    const int k = pick(3);
    for (int i = 0; i < k; ++i) step(depth);
  }
  void exitScope() {
    pool_.resize(saved_.back());
    saved_.pop_back();
    b_.exit();
  }

  std::mt19937 rng_;
  GraphBuilder b_;
  std::vector<Value*> pool_;
  std::vector<size_t> saved_;
  Value* cond_ = nullptr;
  Value* steps_ = nullptr;
  int weights_ = 0;
};

TEST(TextRoundTrip, RandomGraphs) {
  size_t totalNodes = 0, withControlFlow = 0;
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    auto g = RandomGraphGen(seed).build();
    ASSERT_TRUE(g);
    ASSERT_TRUE(verify(*g).ok()) << verify(*g).toString();
    const std::string text = printGraph(*g);
    auto back = parseGraph(text);
    ASSERT_TRUE(back.ok()) << back.status().toString() << "\n" << text;
    // Weights are not part of the text: attach them again so the verifier sees the same program.
    (*back)->setWeights(g->weights());
    ASSERT_TRUE(verify(**back).ok()) << verify(**back).toString() << "\n" << text;
    EXPECT_EQ(printGraph(**back), text);
    EXPECT_EQ((*back)->numNodes(), g->numNodes());
    EXPECT_EQ(opSequence(**back), opSequence(*g));
    EXPECT_EQ((*back)->inputs().size(), g->inputs().size());
    EXPECT_EQ((*back)->outputs().size(), g->outputs().size());
    // The clone prints the same too.
    EXPECT_EQ(printGraph(*g->clone()), text);
    totalNodes += g->numNodes();
    if (contains(text, "^then") || contains(text, "^body")) ++withControlFlow;
  }
  EXPECT_GT(totalNodes, 2000u);
  EXPECT_GT(withControlFlow, 50u);
}

// ---------------------------------------------------------------------------
// Malformed input

struct BadCase {
  const char* text;
  const char* where;   // "<text>:line:col"
  const char* what;    // part of the message
};

TEST(TextErrors, Corpus) {
  ensureTestOps();
  const BadCase cases[] = {
      {"", "<text>:1:1", "expected 'graph', got end of input"},
      {"  # only a comment\n", "<text>:2:1", "expected 'graph'"},
      {"grph @g() {\n  return\n}", "<text>:1:1", "expected 'graph', got 'grph'"},
      {"graph g() {\n  return\n}", "<text>:1:7", "expected '@' and the graph name"},
      {"graph @g(%x: f32[2]) {\n  %y = relu(%x) {} : f32[2]\n  return %y\n", "<text>:4:1", "expected '}'"},
      {"graph @g(%x: f32[2]) {\n  %y = relu(%x) : f32[2]\n}\n", "<text>:3:1", "expected 'return', got '}'"},
      {"graph @g() {\n  %s = weight() {name = \"abc}\n  return\n}", "<text>:2:25", "unterminated string"},
      {"graph @g() {\n  %s = weight() {name = \"abc", "<text>:2:25", "unterminated string"},
      {"graph @g() {\n  %s = weight() {name = \"a\\qb\"} : f32[1]\n  return %s\n}", "<text>:2:25",
       "unknown escape '\\q'"},
      {"graph @g() {\n  %s = weight() {name = \"a\\x4\"} : f32[1]\n  return %s\n}", "<text>:2:25", "bad \\x escape"},
      {"graph @g(%x: f32[2]) {\n  %y = frobnicate(%x) : f32[2]\n  return %y\n}", "<text>:2:8",
       "unknown op 'frobnicate'"},
      {"graph @g(%x: f33[2]) {\n  return %x\n}", "<text>:1:14", "unknown dtype 'f33'"},
      {"graph @g(%x: f32[2]) {\n  %y = softmax(%x) {axsi = 1} : f32[2]\n  return %y\n}", "<text>:2:21",
       "op 'softmax' has no attribute 'axsi' (it takes: axis)"},
      {"graph @g(%x: f32[2]) {\n  %y = relu(%x) {axis = 1} : f32[2]\n  return %y\n}", "<text>:2:18",
       "(it takes: none)"},
      {"graph @g(%x: f32[2]) {\n  %y = softmax(%x) {axis = 1, axis = 0} : f32[2]\n  return %y\n}",
       "<text>:2:31", "attribute 'axis' is given twice"},
      {"graph @g(%x: f32[2]) {\n  %y = softmax(%x) {axis = \"1\"} : f32[2]\n  return %y\n}", "<text>:2:28",
       "expected int value, got string \"1\""},
      {"graph @g(%x: f32[2]) {\n  %y = softmax(%x) {axis = 1.5} : f32[2]\n  return %y\n}", "<text>:2:28",
       "expected int value, got number 1.5"},
      {"graph @g(%x: f32[2]) {\n  %y = transpose(%x) {perm = 1} : f32[2]\n  return %y\n}", "<text>:2:30",
       "expected ints value"},
      {"graph @g(%x: f32[2]) {\n  %y = transpose(%x) {perm = [1, \"a\"]} : f32[2]\n  return %y\n}",
       "<text>:2:34", "expected an integer, got string \"a\""},
      {"graph @g(%x: f32[2]) {\n  %y = constant() {value = 3} : f32[2]\n  return %y\n}", "<text>:2:28",
       "expected 'tensor', got number 3"},
      {"graph @g(%x: f32[2]) {\n  %y = relu(%z) : f32[2]\n  return %y\n}", "<text>:2:13",
       "use of undefined value %z"},
      {"graph @g(%x: f32[2]) {\n  %y = relu(%x) : f32[2]\n  return %q\n}", "<text>:3:10",
       "use of undefined value %q"},
      {"graph @g(%x: f32[2]) {\n  %x = relu(%x) : f32[2]\n  return %x\n}", "<text>:2:3",
       "value %x is already defined at line 1:10"},
      {"graph @g(%x: f32[2], %x: f32[3]) {\n  return %x\n}", "<text>:1:22", "value %x is already defined"},
      {"graph @g(%x: f32[2]) {\n  %y = relu(%x) : f32[2]\n  %y = relu(%x) : f32[2]\n  return %y\n}",
       "<text>:3:3", "value %y is already defined at line 2:3"},
      {"graph @g(%x: f32[2]) {\n  %a, %b = relu(%x) : f32[2]\n  return %a\n}", "<text>:2:12",
       "'relu' defines 2 values but lists 1 types"},
      {"graph @g(%x: f32[2]) {\n  %a = relu(%x)\n  return %a\n}", "<text>:2:8",
       "'relu' defines 1 values but lists 0 types"},
      {"graph @g(%x: f32[2]) {\n  %y = softmax(%x) {axis = 99999999999999999999} : f32[2]\n  return %y\n}",
       "<text>:2:28", "integer 99999999999999999999 is out of range"},
      {"graph @g(%x: f32[99999999999999999999]) {\n  return %x\n}", "<text>:1:18", "out of range"},
      {"graph @g(%x: f32[-2]) {\n  return %x\n}", "<text>:1:18", "negative dimension -2"},
      {"graph @g() {\n  %c = constant() {value = tensor<f32[2]>[1.0, 2.0, 3.0]} : f32[2]\n  return %c\n}",
       "<text>:2:53", "tensor literal has more than the 2 values its type f32[2] holds"},
      {"graph @g() {\n  %c = constant() {value = tensor<f32[3]>[1.0, 2.0]} : f32[3]\n  return %c\n}", "<text>:2:51",
       "tensor literal of type f32[3] needs 3 values, got 2"},
      {"graph @g() {\n  %c = constant() {value = tensor<f32[N]>[1.0]} : f32[1]\n  return %c\n}", "<text>:2:35",
       "a tensor literal needs a static shape, got f32[N]"},
      {"graph @g() {\n  %c = constant() {value = tensor<f32[*]>[1.0]} : f32[1]\n  return %c\n}", "<text>:2:35",
       "needs a static shape"},
      {"graph @g() {\n  %c = constant() {value = tensor<f32[100000000000]>[1.0]} : f32[1]\n  return %c\n}",
       "<text>:2:35", "100000000000 elements, more than the rest of the text can hold"},
      {"graph @g() {\n  %c = constant() {value = tensor<f32[4000000000]>[]} : f32[1]\n  return %c\n}",
       "<text>:2:35", "more than the rest of the text can hold"},
      {"graph @g() {\n  %c = constant() {value = tensor<f32[4294967296, 4294967296]>[]} : f32[1]\n  return %c\n}",
       "<text>:2:35", "more elements than fit in 64 bits"},
      {"graph @g() {\n  %c = constant() {value = tensor<i8[1]>[300]} : i8[1]\n  return %c\n}", "<text>:2:42",
       "value 300 does not fit in i8"},
      {"graph @g() {\n  %c = constant() {value = tensor<i32[1]>[1.5]} : i32[1]\n  return %c\n}", "<text>:2:43",
       "expected an integer for a i32[1] tensor, got number 1.5"},
      {"graph @g() {\n  %c = constant() {value = tensor<bool[1]>[2]} : bool[1]\n  return %c\n}", "<text>:2:44",
       "value 2 does not fit in bool"},
      {"graph @g() {\n  %c = constant() {value = tensor<f32[1]>[true]} : f32[1]\n  return %c\n}", "<text>:2:43",
       "expected a number for a f32[1] tensor"},
      {"graph @g() {\n  %c = constant() {value = tensor<f32[1]>[abc]} : f32[1]\n  return %c\n}", "<text>:2:43",
       "expected a tensor element, got 'abc'"},
      {"graph @g(%x: f32[2]) {\n  %y = relu(%x) : f32[2] $\n  return %y\n}", "<text>:2:26",
       "unexpected character '$'"},
      {"graph @g(%x: f32[2]) {\n  %y = relu(%x) : f32[2] \x01\n  return %y\n}", "<text>:2:26",
       "unexpected character '\\x01'"},
      {"graph @g(%x: f32[2]) {\n  %y = relu(%x) : f32[2] \xc3\xa9\n  return %y\n}", "<text>:2:26",
       "unexpected character '\\xc3'"},
      {"graph @g(%x: f32[2]) {\n  %y = relu(%x,) : f32[2]\n  return %y\n}", "<text>:2:16",
       "expected a value '%name' after ','"},
      {"graph @g(%x: f32[2]) {\n  %y = relu(%x) : f32[2,]\n  return %y\n}", "<text>:2:25", "expected a dimension"},
      {"graph @g(%x: f32[2]) {\n  %y = relu(%x) : f32[2]\n  return %y\n} extra", "<text>:4:3",
       "expected end of input after the graph, got 'extra'"},
      {"graph @g(%x f32[2]) {\n  return %x\n}", "<text>:1:13", "expected ':'"},
      {"graph @g(%: f32[2]) {\n  return\n}", "<text>:1:10", "expected a name after '%'"},
      {"graph @g(%\"\": f32[2]) {\n  return\n}", "<text>:1:10", "expected a value name after '%', got an empty string"},
      {"graph @g(%c: bool) {\n  %y = if(%c) : f32[2] {\n  }\n  return %y\n}", "<text>:3:3",
       "expected a block label '^name:'"},
      {"graph @g(%c: bool) {\n  %y = if(%c) : f32[2] {\n  ^then:\n    return %c\n  }\n  return %y\n}",
       "<text>:4:5", "expected 'yield', got 'return'"},
      {"graph @g(%c: bool) {\n  yield %c\n}", "<text>:2:3", "expected 'return', got 'yield'"},
      {"graph @g() {\n  %y = leaky_relu(%x) {alpha = 1e400} : f32[2]\n  return %y\n}", "<text>:2:19",
       "use of undefined value %x"},
      {"graph @g(%x: f32[2]) {\n  %y = leaky_relu(%x) {alpha = 1e400} : f32[2]\n  return %y\n}", "<text>:2:32",
       "number 1e400 is out of range"},
      {"graph @g(%x: f32[2]) {\n  %y = leaky_relu(%x) {alpha = 1.2.3} : f32[2]\n  return %y\n}", "<text>:2:32",
       "malformed number 1.2.3"},
      {"graph @g(%x: f32[2]) {\n  %y = leaky_relu(%x) {alpha = -infinity} : f32[2]\n  return %y\n}",
       "<text>:2:32", "expected a number"},
      {"graph @g(%x: f32[2]) {\n  %y = test_attrs(%x) {fs = [1, \"a\"]} : f32[2]\n  return %y\n}", "<text>:2:33",
       "expected a number, got string \"a\""},
      {"graph @g(%x: f32[2]) {\n  %y = test_attrs(%x) {ss = [1]} : f32[2]\n  return %y\n}", "<text>:2:30",
       "expected a string, got number 1"},
      {"graph @g(%x: f32[2]) {\n  %y = test_attrs(%x) {s = [\"a\"]} : f32[2]\n  return %y\n}", "<text>:2:28",
       "expected string value, got '['"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.text);
    const std::string msg = parseError(c.text);
    EXPECT_CONTAINS(msg, std::string(c.where) + ": ");
    EXPECT_CONTAINS(msg, c.what);
  }
}

TEST(TextErrors, FileNameInMessages) {
  auto r = parseGraph("graph @g() {\n  return %nope\n}", "model.sy");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "model.sy:2:10: use of undefined value %nope");
}

TEST(TextErrors, DeepNestingIsRefused) {
  auto nested = [](int depth) {
    std::string text = "graph @g(%c: bool) {\n";
    for (int i = 0; i < depth; ++i) text += "if(%c) {\n^then:\n";
    for (int i = 0; i < depth; ++i) text += "yield\n^else:\nyield\n}\n";
    return text + "return\n}\n";
  };
  auto ok = parseGraph(nested(50));
  ASSERT_TRUE(ok.ok()) << ok.status().toString();
  EXPECT_TRUE(verify(**ok).ok());
  EXPECT_EQ(canon(printGraph(**ok)), printGraph(**ok));
  EXPECT_CONTAINS(parseError(nested(5000)), "nested more than");
}

const char* kValidProgram = R"(# A program touching most of the grammar.
graph @p(%x: f32[N, 4], %"in/1": f32[4], %c: bool, %steps: i64) {
  %w = weight() {name = "fc.w"} : f32[4, 4]
  %k = constant() {value = tensor<f32[2, 2]>[1.0, -2.5, 1e-05, inf]} : f32[2, 2]
  %b = constant() {value = tensor<bool[]>[true]} : bool[]
  %m = matmul(%x, %w) : f32[N, 4] @"layer1/mm"
  %a, %d = split(%m) {axis = 1} : f32[N, 2], f32[N, 2]
  %e = leaky_relu(%a) {alpha = 0.5} : f32[N, 2]
  %s = add(%m, %"in/1") : f32[N, 4]
  %y = if(%c) : f32[N, 4] {
  ^then:
    %r = relu(%s) : f32[N, 4]
    yield %r
  ^else:
    yield %m
  }
  %h, %tr = loop(%steps, %b, %y) : f32[N, 4], f32[?, N, 4] {
  ^body(%i: i64, %cc: bool, %st: f32[N, 4]):
    %n = tanh(%st) : f32[N, 4]
    yield %cc, %n, %n
  }
  %t = transpose(%k) {perm = [1, 0]} : f32[2, 2]
  return %h, %tr, %e, %d, %t
}
)";

const char* kValidProgram2 = R"(graph @"q/2"(%c: bool, %n: i64) {
  test_attrs() {f = -1e-300, fs = [0.5, nan], i = 3, is = [], s = "a\"\x00\n", ss = ["x", ""], t = tensor<i8[2, 2]>[-1, 2, 3, 4]}
  %b = constant() {value = tensor<bf16[2]>[1.5, -inf]} : bf16[2]
  %h = constant() {value = tensor<f16[]>[0.25]} : f16
  %k = constant() {value = tensor<bool[3]>[true, false, true]} : bool[3]
  %e = constant() {value = tensor<i32[0, 2]>[]} : i32[0, 2]
  if(%c) @"n/1" {
  ^then:
    %z = loop(%n, %c) : f32[?, 1] {
    ^body(%i: i64, %cc: bool):
      %o = constant() {value = tensor<f32[1]>[1.0]} : f32[1]
      yield %cc, %o
    }
    yield
  ^else:
    yield
  }
  return %b, %h, %k, %e
}
)";

TEST(TextErrors, EveryTruncationFails) {
  ensureTestOps();
  for (const std::string text : {kValidProgram, kValidProgram2}) {
    ASSERT_TRUE(parseGraph(text).ok());
    const size_t lastBrace = text.rfind('}');
    for (size_t len = 0; len < lastBrace; ++len) {
      auto r = parseGraph(std::string_view(text).substr(0, len));
      ASSERT_FALSE(r.ok()) << "prefix of length " << len << " parsed";
      // Every message is positioned.
      ASSERT_EQ(r.status().message().rfind("<text>:", 0), 0u) << r.status().message();
    }
  }
}

/// Parses possibly-garbage text; when it parses, the verifier and printer must
/// cope, and the printed text must be a fixpoint.
void checkNoCrash(const std::string& text) {
  auto r = parseGraph(text);
  if (!r.ok()) {
    ASSERT_EQ(r.status().message().rfind("<text>:", 0), 0u) << r.status().message();
    return;
  }
  (void)verify(**r);
  const std::string printed = printGraph(**r);
  auto again = parseGraph(printed);
  ASSERT_TRUE(again.ok()) << again.status().toString() << "\n--- printed ---\n" << printed << "\n--- from ---\n"
                          << text;
  ASSERT_EQ(printGraph(**again), printed);
}

TEST(TextErrors, RandomMutationsNeverCrash) {
  ensureTestOps();
  std::mt19937 rng(4242);
  const std::string interesting = "%@^{}[]()<>,:=*?\"\\#-+.0123456789eEinfatrue \n\tx_";
  const std::vector<std::string> bases = {kValidProgram, kValidProgram2};
  for (const std::string& b : bases) ASSERT_TRUE(parseGraph(b).ok());
  // SY_FUZZ_ITERATIONS raises the count for a longer local run.
  const char* env = std::getenv("SY_FUZZ_ITERATIONS");
  const int iterations = env ? std::atoi(env) : 4000;
  size_t parsed = 0;
  for (int iter = 0; iter < iterations; ++iter) {
    std::string text = bases[static_cast<size_t>(iter) % bases.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const size_t pos = rng() % text.size();
      switch (rng() % 5) {
        case 0: text[pos] = static_cast<char>(rng() % 256); break;
        case 1: text[pos] = interesting[rng() % interesting.size()]; break;
        case 2: text.erase(pos, 1 + rng() % 8); break;
        case 3: text.insert(pos, 1, interesting[rng() % interesting.size()]); break;
        case 4: {  // duplicate a chunk elsewhere
          const size_t len = 1 + rng() % 24;
          const std::string chunk = text.substr(pos, len);
          text.insert(rng() % text.size(), chunk);
          break;
        }
      }
    }
    SCOPED_TRACE("iteration " + std::to_string(iter));
    checkNoCrash(text);
    if (HasFatalFailure()) return;
    if (parseGraph(text).ok()) ++parsed;
  }
  // Some mutations (in comments, names, numbers) keep the program valid.
  EXPECT_GT(parsed, 50u);
}

}  // namespace
}  // namespace sy
