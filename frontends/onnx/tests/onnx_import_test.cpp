// Tests of the ONNX importer on models built here with the protobuf API.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <chrono>
#include <limits>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <variant>

#include "switchyard/interpreter.h"
#include "switchyard/onnx_import.h"
#include "switchyard/verifier.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace sy;
using sy::testing::F;
using sy::testing::I;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr double kSanitizerSlowdown = 10;  // time bounds stretch under ASan/TSan builds
#else
constexpr double kSanitizerSlowdown = 1;
#endif

namespace {

using DimSpec = std::variant<int64_t, std::string>;

onnx::TensorProto toProto(const std::string& name, const Tensor& t) {
  onnx::TensorProto p;
  p.set_name(name);
  for (int64_t d : t.shape()) p.add_dims(d);
  int type = onnx::TensorProto::FLOAT;
  switch (t.dtype()) {
    case DType::F32: type = onnx::TensorProto::FLOAT; break;
    case DType::F16: type = onnx::TensorProto::FLOAT16; break;
    case DType::BF16: type = onnx::TensorProto::BFLOAT16; break;
    case DType::I8: type = onnx::TensorProto::INT8; break;
    case DType::I32: type = onnx::TensorProto::INT32; break;
    case DType::I64: type = onnx::TensorProto::INT64; break;
    case DType::Bool: type = onnx::TensorProto::BOOL; break;
    case DType::U8: type = onnx::TensorProto::UINT8; break;
    case DType::I16: type = onnx::TensorProto::INT16; break;
    case DType::U16: type = onnx::TensorProto::UINT16; break;
    case DType::U32: type = onnx::TensorProto::UINT32; break;
    case DType::U64: type = onnx::TensorProto::UINT64; break;
    case DType::F64: type = onnx::TensorProto::DOUBLE; break;
  }
  p.set_data_type(type);
  p.set_raw_data(std::string(static_cast<const char*>(t.data()), t.nbytes()));
  return p;
}

void setAttr(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void setAttr(onnx::NodeProto* n, const std::string& name, double v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(static_cast<float>(v));
}
void setAttr(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}
void setAttr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
void setAttr(onnx::NodeProto* n, const std::string& name, const onnx::GraphProto& g) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::GRAPH);
  *a->mutable_g() = g;
}

void addValue(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list, const std::string& name, int elem,
              const std::optional<std::vector<DimSpec>>& dims) {
  auto* v = list->Add();
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem);
  if (!dims) return;
  auto* shape = tt->mutable_shape();
  for (const auto& d : *dims) {
    auto* dim = shape->add_dim();
    if (std::holds_alternative<int64_t>(d)) {
      if (std::get<int64_t>(d) >= 0) dim->set_dim_value(std::get<int64_t>(d));
    } else {
      dim->set_dim_param(std::get<std::string>(d));
    }
  }
}

onnx::NodeProto* addNode(onnx::GraphProto* g, const std::string& op, const std::vector<std::string>& ins,
                         const std::vector<std::string>& outs, const std::string& name = "") {
  auto* n = g->add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const auto& i : ins) n->add_input(i);
  for (const auto& o : outs) n->add_output(o);
  return n;
}

constexpr int kF = onnx::TensorProto::FLOAT;
constexpr int kI64 = onnx::TensorProto::INT64;
constexpr int kBool = onnx::TensorProto::BOOL;

struct Model {
  onnx::ModelProto m;
  onnx::GraphProto* g;
  explicit Model(int64_t opset) {
    m.set_ir_version(8);
    auto* o = m.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    g = m.mutable_graph();
    g->set_name("test");
  }
  void input(const std::string& name, int elem, std::optional<std::vector<DimSpec>> dims) {
    addValue(g->mutable_input(), name, elem, dims);
  }
  void output(const std::string& name, int elem = kF) { addValue(g->mutable_output(), name, elem, std::nullopt); }
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& ins,
                        const std::vector<std::string>& outs, const std::string& name = "") {
    return addNode(g, op, ins, outs, name);
  }
  void init(const std::string& name, const Tensor& t) { *g->add_initializer() = toProto(name, t); }
  std::string bytes() const { return m.SerializeAsString(); }
};

Result<std::unique_ptr<Graph>> import(const Model& m, const std::string& baseDir = "", OnnxImportOptions o = {}) {
  return importOnnxBytes(m.bytes(), "test.onnx", baseDir, o);
}

std::vector<Tensor> importAndRun(const Model& m, const std::vector<Tensor>& inputs, OnnxImportOptions o = {}) {
  auto g = import(m, "", o);
  EXPECT_TRUE(g.ok()) << g.status().toString();
  if (!g.ok()) return {};
  auto interp = Interpreter::create(std::shared_ptr<const Graph>(std::move(*g)));
  EXPECT_TRUE(interp.ok()) << interp.status().toString();
  if (!interp.ok()) return {};
  auto r = (*interp)->run(inputs);
  EXPECT_TRUE(r.ok()) << r.status().toString();
  return r.ok() ? *r : std::vector<Tensor>{};
}

/// One-node model x -> op -> y, run on `x` with and without folding; returns y.
Tensor runUnary(int64_t opset, const std::string& op, const Tensor& x,
                const std::function<void(onnx::NodeProto*)>& attrs = {}, int outElem = kF) {
  Model m(opset);
  std::vector<DimSpec> dims(x.shape().begin(), x.shape().end());
  m.input("x", kF, dims);
  auto* n = m.node(op, {"x"}, {"y"}, "n0");
  if (attrs) attrs(n);
  m.output("y", outElem);
  auto outs = importAndRun(m, {x});
  return outs.empty() ? Tensor() : outs[0];
}

std::vector<double> values(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.getDouble(i));
  return v;
}

}  // namespace

// ---------------------------------------------------------------------------
// Basics: inputs, outputs, names, symbols, weights

TEST(OnnxImport, InputsOutputsNamesAndSymbols) {
  Model m(13);
  m.input("x", kF, std::vector<DimSpec>{std::string("batch"), int64_t{3}});
  m.input("w", kF, std::vector<DimSpec>{int64_t{3}, int64_t{2}});
  m.input("z", kF, std::vector<DimSpec>{int64_t{-1}});  // unnamed dynamic dim
  m.init("w", F({3, 2}, {1, 0, 0, 1, 1, 1}));           // an input that is also an initializer
  m.init("b", F({2}, {10, 20}));
  m.node("MatMul", {"x", "w"}, {"xw"}, "matmul_node");
  m.node("Add", {"xw", "b"}, {"out:0"}, "add_node");
  m.node("Relu", {"z"}, {"zr"}, "relu_node");
  m.output("out:0");
  m.output("zr");
  auto g = import(m);
  ASSERT_TRUE(g.ok()) << g.status().toString();
  const Graph& graph = **g;
  ASSERT_EQ(graph.inputs().size(), 2u);  // w is a weight, not an input
  EXPECT_EQ(graph.inputs()[0]->name(), "x");
  EXPECT_EQ(graph.inputs()[0]->type().toString(), "f32[batch, 3]");
  EXPECT_TRUE(graph.inputs()[1]->type().dim(0).isSymbol());
  EXPECT_EQ(graph.outputs()[0]->name(), "out:0");
  EXPECT_EQ(graph.outputs()[0]->type().toString(), "f32[batch, 2]");
  EXPECT_EQ(graph.outputs()[0]->definingNode()->name(), "add_node");
  EXPECT_EQ(graph.weights().count("w"), 1u);
  EXPECT_EQ(graph.weights().count("b"), 1u);
  bool sawWeight = false;
  forEachNode(graph.body(), [&](Node* n) { sawWeight = sawWeight || n->op() == "weight"; });
  EXPECT_TRUE(sawWeight);

  auto interp = Interpreter::create(std::shared_ptr<const Graph>(std::move(*g)));
  ASSERT_TRUE(interp.ok());
  auto r = (*interp)->run(std::vector<Tensor>{F({2, 3}, {1, 2, 3, 4, 5, 6}), F({2}, {-1, 1})});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_TENSOR((*r)[0], DType::F32, (Shape{2, 2}), {14, 25, 20, 31});
  EXPECT_TENSOR((*r)[1], DType::F32, (Shape{2}), {0, 1});
}

TEST(OnnxImport, UnsupportedElementTypeIsAnError) {
  Model m(13);
  m.input("x", onnx::TensorProto::COMPLEX64, std::vector<DimSpec>{int64_t{2}});
  m.node("Relu", {"x"}, {"y"});
  m.output("y");
  auto g = import(m);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("\"x\""), std::string::npos) << g.status().message();
  EXPECT_NE(g.status().message().find("COMPLEX64"), std::string::npos) << g.status().message();
}

TEST(OnnxImport, TypedDataFieldsAndConstantNode) {
  Model m(13);
  m.input("x", kI64, std::vector<DimSpec>{int64_t{3}});
  onnx::TensorProto t;
  t.set_name("k");
  t.set_data_type(kI64);
  t.add_dims(3);
  for (int64_t v : {5, 6, 7}) t.add_int64_data(v);
  *m.g->add_initializer() = t;
  auto* c = m.node("Constant", {}, {"c"});
  setAttr(c, "value_ints", std::vector<int64_t>{1, 1, 1});
  m.node("Add", {"x", "k"}, {"s"});
  m.node("Add", {"s", "c"}, {"y"});
  m.output("y", kI64);
  auto r = importAndRun(m, {I({3}, {1, 2, 3})});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TENSOR(r[0], DType::I64, (Shape{3}), {7, 9, 11});
}

// ---------------------------------------------------------------------------
// Ops and opsets

TEST(OnnxImport, ElementwiseLowerings) {
  const Tensor x = F({5}, {-2, -0.5, 0, 0.5, 2});
  auto near = [&](const Tensor& y, std::function<double(double)> f) {
    ASSERT_TRUE(y.valid());
    std::vector<double> e;
    for (double v : values(x)) e.push_back(f(v));
    EXPECT_TENSOR(y, DType::F32, (Shape{5}), e, 1e-5, 1e-5);
  };
  near(runUnary(13, "Softplus", x), [](double v) { return std::log(std::exp(v) + 1); });
  near(runUnary(13, "Softsign", x), [](double v) { return v / (1 + std::fabs(v)); });
  near(runUnary(13, "Elu", x, [](auto* n) { setAttr(n, "alpha", 0.5); }),
       [](double v) { return v < 0 ? 0.5 * (std::exp(v) - 1) : v; });
  near(runUnary(13, "Selu", x), [](double v) {
    return 1.0507009873554805 * (v <= 0 ? 1.6732632423543772 * (std::exp(v) - 1) : v);
  });
  near(runUnary(13, "HardSigmoid", x), [](double v) { return std::clamp(0.2 * v + 0.5, 0.0, 1.0); });
  near(runUnary(14, "HardSwish", x), [](double v) { return v * std::clamp(v / 6 + 0.5, 0.0, 1.0); });
  near(runUnary(13, "LeakyRelu", x, [](auto* n) { setAttr(n, "alpha", 0.1); }),
       [](double v) { return v < 0 ? 0.1 * v : v; });
  near(runUnary(13, "Neg", x), [](double v) { return -v; });
  near(runUnary(13, "Abs", x), [](double v) { return std::fabs(v); });
  near(runUnary(13, "Sin", x), [](double v) { return std::sin(v); });
  near(runUnary(13, "Cos", x), [](double v) { return std::cos(v); });
  near(runUnary(13, "Erf", x), [](double v) { return std::erf(v); });
  near(runUnary(13, "Sinh", x), [](double v) { return std::sinh(v); });
  near(runUnary(13, "Cosh", x), [](double v) { return std::cosh(v); });
  near(runUnary(13, "Tan", x), [](double v) { return std::tan(v); });
  near(runUnary(13, "Asinh", x), [](double v) { return std::asinh(v); });
  near(runUnary(13, "Mish", x), [](double v) { return v * std::tanh(std::log1p(std::exp(v))); });
  near(runUnary(13, "ThresholdedRelu", x, [](auto* n) { setAttr(n, "alpha", 0.4); }),
       [](double v) { return v > 0.4 ? v : 0; });
  near(runUnary(12, "Celu", x), [](double v) { return std::max(0.0, v) + std::min(0.0, std::exp(v) - 1); });
  near(runUnary(13, "Dropout", x), [](double v) { return v; });
  near(runUnary(7, "Dropout", x, [](auto* n) { setAttr(n, "ratio", 0.3); }), [](double v) { return v; });
  // Clip: attributes before 11, inputs from 11.
  near(runUnary(6 + 1, "Clip", x, [](auto* n) {
         setAttr(n, "min", -1.0);
         setAttr(n, "max", 1.0);
       }),
       [](double v) { return std::clamp(v, -1.0, 1.0); });
}

// Trigonometric and hyperbolic ops map to ops of their own (libm in f32),
// checked against libm in double, near 0 and near 1 too, and NaN outside the
// domain.
TEST(OnnxImport, TrigAndHyperbolic) {
  const Tensor unit = F({6}, {-0.9, -0.5, -1e-4, 0, 3e-3, 0.75});
  const Tensor big = F({5}, {1.0, 1.001, 1.5, 3, 40});
  auto near = [](const Tensor& x, const Tensor& y, double (*f)(double)) {
    ASSERT_TRUE(y.valid());
    std::vector<double> e;
    for (double v : values(x)) e.push_back(f(static_cast<double>(static_cast<float>(v))));
    EXPECT_TENSOR(y, DType::F32, x.shape(), e, 1e-6, 2e-6);
  };
  near(unit, runUnary(7, "Asin", unit), [](double v) { return std::asin(v); });
  near(unit, runUnary(7, "Acos", unit), [](double v) { return std::acos(v); });
  near(unit, runUnary(7, "Atan", unit), [](double v) { return std::atan(v); });
  near(unit, runUnary(9, "Atanh", unit), [](double v) { return std::atanh(v); });
  near(unit, runUnary(9, "Sinh", unit), [](double v) { return std::sinh(v); });
  near(unit, runUnary(9, "Asinh", unit), [](double v) { return std::asinh(v); });
  near(unit, runUnary(7, "Tan", unit), [](double v) { return std::tan(v); });
  const Tensor c = F({5}, {-3, -0.5, 0, 1e-3, 4});
  near(c, runUnary(9, "Cosh", c), [](double v) { return std::cosh(v); });
  near(big, runUnary(9, "Acosh", big), [](double v) { return std::acosh(v); });
  // Outside the domain: NaN, as in numpy.
  const Tensor y = runUnary(7, "Asin", F({1}, {1.5}));
  ASSERT_TRUE(y.valid());
  EXPECT_TRUE(std::isnan(values(y)[0]));
}

// Opset 6: Add with the old broadcast attribute only imports once the ONNX
// version converter has rewritten it to opset 7's NumPy broadcasting; the
// upgrade is reported in one note.
TEST(OnnxImport, OldOpsetIsUpgradedByTheVersionConverter) {
  Model m(6);
  m.input("a", kF, std::vector<DimSpec>{int64_t{2}, int64_t{3}});
  // Add's second input comes from a Constant node (no value_info): the
  // converter's Add adapter needs its shape, which ONNX shape inference
  // supplies.
  auto* at = m.node("Constant", {}, {"b"})->add_attribute();
  at->set_name("value");
  at->set_type(onnx::AttributeProto::TENSOR);
  *at->mutable_t() = toProto("b", F({3}, {1, 1, -10}));
  m.node("Relu", {"a"}, {"r"});
  setAttr(m.node("Add", {"r", "b"}, {"y"}, "add6"), "broadcast", int64_t{1});
  m.output("y");
  std::vector<std::string> notes;
  OnnxImportOptions o;
  o.notes = &notes;
  auto r = importAndRun(m, {F({2, 3}, {1, -2, 3, -4, 5, -6})}, o);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TENSOR(r[0], DType::F32, (Shape{2, 3}), {2, 1, -7, 1, 6, -10});
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0], "test.onnx: opset 6 model upgraded to opset 7 by the ONNX version converter");

  // What the converter cannot upgrade (Upsample without its scale attributes)
  // is an error that names the node and gives the converter's reason.
  Model bad(6);
  bad.input("x", kF, std::vector<DimSpec>{int64_t{1}, int64_t{1}, int64_t{2}, int64_t{2}});
  bad.node("Upsample", {"x"}, {"y"}, "up");
  bad.output("y");
  notes.clear();
  auto g = import(bad, "", o);
  ASSERT_FALSE(g.ok());
  const std::string msg = g.status().message();
  EXPECT_NE(msg.find("\"up\" (Upsample, opset 6)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("the ONNX version converter cannot upgrade it to opset 7"), std::string::npos) << msg;
  EXPECT_NE(msg.find("height_scale"), std::string::npos) << msg;
  EXPECT_TRUE(notes.empty());
}

// The converter's Gemm adapter reads dims 0 and 1 of A and B unchecked
// (Note on gemmInputsAre2d in onnx_import.cpp): an opset-6 Gemm whose A is
// 1-D never reaches it, and the error says why; a 2-D one is upgraded.
TEST(OnnxImport, OldGemmReachesTheConverterOnlyWith2dInputs) {
  Model good(6);
  good.input("a", kF, std::vector<DimSpec>{int64_t{3}, int64_t{2}});
  good.input("b", kF, std::vector<DimSpec>{int64_t{3}, int64_t{2}});
  good.input("c", kF, std::vector<DimSpec>{int64_t{2}});
  setAttr(good.node("Gemm", {"a", "b", "c"}, {"y"}, "gemm6"), "transA", int64_t{1});
  good.output("y");
  std::vector<std::string> notes;
  OnnxImportOptions o;
  o.notes = &notes;
  // y = a^T b + c: a^T is [[1, 3, 5], [2, 4, 6]], b is [[1, 0], [0, 1], [1, 1]].
  auto r = importAndRun(good, {F({3, 2}, {1, 2, 3, 4, 5, 6}), F({3, 2}, {1, 0, 0, 1, 1, 1}), F({2}, {10, 20})}, o);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TENSOR(r[0], DType::F32, (Shape{2, 2}), {16, 28, 18, 30});
  ASSERT_EQ(notes.size(), 1u);

  Model bad(6);
  bad.input("a", kF, std::vector<DimSpec>{int64_t{3}});
  bad.input("b", kF, std::vector<DimSpec>{int64_t{6}, int64_t{4}});
  bad.input("c", kF, std::vector<DimSpec>{int64_t{1}, int64_t{4}});
  setAttr(bad.node("Gemm", {"a", "b", "c"}, {"y"}, "gemm1d"), "transA", int64_t{1});
  bad.output("y");
  notes.clear();
  auto g = import(bad, "", o);
  ASSERT_FALSE(g.ok());
  const std::string msg = g.status().message();
  EXPECT_NE(msg.find("the ONNX version converter cannot upgrade it to opset 7"), std::string::npos) << msg;
  EXPECT_NE(msg.find("input A ('a') is not declared 2-D"), std::string::npos) << msg;
  EXPECT_TRUE(notes.empty());
}

// ReduceLogSumExp is shifted by the max: exp(1000) would overflow f32.
TEST(OnnxImport, ReduceLogSumExpDoesNotOverflow) {
  for (int64_t keep : {0, 1}) {
    Model m(13);
    m.input("x", kF, std::vector<DimSpec>{int64_t{3}, int64_t{2}});
    auto* n = m.node("ReduceLogSumExp", {"x"}, {"y"});
    setAttr(n, "axes", std::vector<int64_t>{1});
    setAttr(n, "keepdims", keep);
    m.output("y");
    const double inf = std::numeric_limits<double>::infinity();
    auto r = importAndRun(m, {F({3, 2}, {1000, 1000, -inf, -inf, 1, 2})});
    ASSERT_EQ(r.size(), 1u);
    const Shape shape = keep ? Shape{3, 1} : Shape{3};
    EXPECT_TENSOR(r[0], DType::F32, shape, {1000 + std::log(2.0), -inf, 2 + std::log1p(std::exp(-1.0))}, 1e-6, 1e-6);
  }
}

TEST(OnnxImport, VariadicAndBinary) {
  Model m(13);
  for (const char* n : {"a", "b", "c"}) m.input(n, kF, std::vector<DimSpec>{int64_t{3}});
  m.input("s", kF, std::vector<DimSpec>{int64_t{1}});
  m.node("Sum", {"a", "b", "c"}, {"sum"});
  m.node("Max", {"a", "b", "c"}, {"max"});
  m.node("Min", {"a", "b"}, {"min"});
  m.node("Mean", {"a", "b", "c"}, {"mean"});
  m.node("PRelu", {"a", "s"}, {"prelu"});
  m.node("Pow", {"b", "s"}, {"pow"});
  m.node("GreaterOrEqual", {"a", "b"}, {"ge"});
  m.node("Not", {"ge"}, {"nge"});
  m.node("Xor", {"ge", "nge"}, {"x"});
  for (const char* o : {"sum", "max", "min", "mean", "prelu", "pow"}) m.output(o);
  m.output("nge", kBool);
  m.output("x", kBool);
  auto r = importAndRun(m, {F({3}, {1, -2, 3}), F({3}, {2, 2, 2}), F({3}, {0, 5, -1}), F({1}, {0.5})});
  ASSERT_EQ(r.size(), 8u);
  EXPECT_TENSOR(r[0], DType::F32, (Shape{3}), {3, 5, 4});
  EXPECT_TENSOR(r[1], DType::F32, (Shape{3}), {2, 5, 3});
  EXPECT_TENSOR(r[2], DType::F32, (Shape{3}), {1, -2, 2});
  EXPECT_TENSOR(r[3], DType::F32, (Shape{3}), {1, 5.0 / 3, 4.0 / 3});
  EXPECT_TENSOR(r[4], DType::F32, (Shape{3}), {1, -1, 3});
  EXPECT_TENSOR(r[5], DType::F32, (Shape{3}), {std::sqrt(2.0), std::sqrt(2.0), std::sqrt(2.0)});
  EXPECT_TENSOR(r[6], DType::Bool, (Shape{3}), {1, 1, 0});
  EXPECT_TENSOR(r[7], DType::Bool, (Shape{3}), {1, 1, 1});
}

TEST(OnnxImport, ClipWithRunTimeBoundsLowersToMaxMin) {
  Model m(13);
  m.input("x", kF, std::vector<DimSpec>{int64_t{4}});
  m.input("lo", kF, std::vector<DimSpec>{});
  m.node("Clip", {"x", "lo", ""}, {"y"});
  m.output("y");
  auto g = import(m);
  ASSERT_TRUE(g.ok()) << g.status().toString();
  bool sawMax = false;
  forEachNode((*g)->body(), [&](Node* n) { sawMax = sawMax || n->op() == "maximum"; });
  EXPECT_TRUE(sawMax);
  auto r = importAndRun(m, {F({4}, {-3, -1, 1, 3}), F({}, {-2})});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TENSOR(r[0], DType::F32, (Shape{4}), {-2, -1, 1, 3});

  // Constant bounds become the clip op's attributes.
  Model c(13);
  c.input("x", kF, std::vector<DimSpec>{int64_t{4}});
  c.init("hi", F({}, {2}));
  c.node("Clip", {"x", "", "hi"}, {"y"});
  c.output("y");
  auto r2 = importAndRun(c, {F({4}, {-3, -1, 1, 3})});
  ASSERT_EQ(r2.size(), 1u);
  EXPECT_TENSOR(r2[0], DType::F32, (Shape{4}), {-3, -1, 1, 2});
}

TEST(OnnxImport, SoftmaxBeforeAndAfterOpset13) {
  const Tensor x = F({2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  // Opset 11, axis 1: softmax over the flattened [2, 4] rows.
  Tensor y11 = runUnary(11, "Softmax", x, [](auto* n) { setAttr(n, "axis", int64_t{1}); });
  std::vector<double> e11;
  for (int r = 0; r < 2; ++r) {
    double s = 0;
    for (int i = 0; i < 4; ++i) s += std::exp(r * 4 + i);
    for (int i = 0; i < 4; ++i) e11.push_back(std::exp(r * 4 + i) / s);
  }
  EXPECT_TENSOR(y11, DType::F32, (Shape{2, 2, 2}), e11, 1e-6, 1e-5);
  // Opset 13, axis 1: softmax along dim 1 only.
  Tensor y13 = runUnary(13, "Softmax", x, [](auto* n) { setAttr(n, "axis", int64_t{1}); });
  const double a = 1 / (1 + std::exp(2.0)), b = 1 - a;
  EXPECT_TENSOR(y13, DType::F32, (Shape{2, 2, 2}), {a, a, b, b, a, a, b, b}, 1e-6, 1e-5);
  // LogSoftmax opset 11 default axis (1) on 2-D equals the last axis.
  Tensor l = runUnary(11, "LogSoftmax", F({1, 2}, {0, 0}));
  EXPECT_TENSOR(l, DType::F32, (Shape{1, 2}), {std::log(0.5), std::log(0.5)}, 1e-6, 1e-5);
  Tensor h = runUnary(13, "Hardmax", F({2, 3}, {1, 3, 3, 5, 0, 1}));
  EXPECT_TENSOR(h, DType::F32, (Shape{2, 3}), {0, 1, 0, 1, 0, 0});
}

TEST(OnnxImport, SqueezeUnsqueezeAttrBefore13InputFrom13) {
  const Tensor x = F({1, 3, 1}, {1, 2, 3});
  Tensor a = runUnary(11, "Squeeze", x, [](auto* n) { setAttr(n, "axes", std::vector<int64_t>{0}); });
  EXPECT_EQ(a.shape(), (Shape{3, 1}));
  Tensor b = runUnary(11, "Unsqueeze", x, [](auto* n) { setAttr(n, "axes", std::vector<int64_t>{-1}); });
  EXPECT_EQ(b.shape(), (Shape{1, 3, 1, 1}));

  Model m(13);
  m.input("x", kF, std::vector<DimSpec>{int64_t{1}, int64_t{3}, int64_t{1}});
  m.init("axes", I({1}, {2}));
  m.node("Squeeze", {"x", "axes"}, {"s"});
  m.node("Unsqueeze", {"s", "axes"}, {"u"});
  m.output("s");
  m.output("u");
  auto r = importAndRun(m, {x});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].shape(), (Shape{1, 3}));
  EXPECT_EQ(r[1].shape(), (Shape{1, 3, 1}));

  // Axes computed at run time: the core op's axes input, read when it runs.
  Model rt(13);
  rt.input("x", kF, std::vector<DimSpec>{int64_t{1}, int64_t{3}});
  rt.input("axes", kI64, std::vector<DimSpec>{int64_t{1}});
  rt.node("Squeeze", {"x", "axes"}, {"s"}, "my_squeeze");
  rt.node("Unsqueeze", {"s", "axes"}, {"u"});
  rt.output("s");
  rt.output("u");
  auto rr = importAndRun(rt, {F({1, 3}, {1, 2, 3}), I({1}, {0})});
  ASSERT_EQ(rr.size(), 2u);
  EXPECT_EQ(rr[0].shape(), (Shape{3}));
  EXPECT_EQ(rr[1].shape(), (Shape{1, 3}));
  // Axes that are not integers: an error that names the node.
  Model bad(13);
  bad.input("x", kF, std::vector<DimSpec>{int64_t{1}, int64_t{3}});
  bad.input("axes", kF, std::vector<DimSpec>{int64_t{1}});
  bad.node("Squeeze", {"x", "axes"}, {"s"}, "my_squeeze");
  bad.output("s");
  auto g = import(bad);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("my_squeeze"), std::string::npos) << g.status().message();
  EXPECT_NE(g.status().message().find("Squeeze, opset 13"), std::string::npos) << g.status().message();
  EXPECT_NE(g.status().message().find("axes must be i32 or i64"), std::string::npos) << g.status().message();
}

TEST(OnnxImport, ReduceAxesAttrOrInputByOpset) {
  const Tensor x = F({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor s11 = runUnary(11, "ReduceSum", x, [](auto* n) {
    setAttr(n, "axes", std::vector<int64_t>{1});
    setAttr(n, "keepdims", int64_t{0});
  });
  EXPECT_TENSOR(s11, DType::F32, (Shape{2}), {6, 15});
  Tensor m13 = runUnary(13, "ReduceMean", x, [](auto* n) { setAttr(n, "axes", std::vector<int64_t>{0}); });
  EXPECT_TENSOR(m13, DType::F32, (Shape{1, 3}), {2.5, 3.5, 4.5});
  Tensor l2 = runUnary(13, "ReduceL2", x, [](auto* n) { setAttr(n, "axes", std::vector<int64_t>{1}); });
  EXPECT_TENSOR(l2, DType::F32, (Shape{2, 1}), {std::sqrt(14.0), std::sqrt(77.0)}, 1e-5, 1e-5);
  Tensor lse = runUnary(13, "ReduceLogSumExp", x, [](auto* n) { setAttr(n, "keepdims", int64_t{0}); });
  double s = 0;
  for (int i = 1; i <= 6; ++i) s += std::exp(i);
  EXPECT_TENSOR(lse, DType::F32, (Shape{}), {std::log(s)}, 1e-5, 1e-5);

  for (auto [op, opset] : std::vector<std::pair<const char*, int>>{{"ReduceSum", 13}, {"ReduceMax", 18}}) {
    Model m(opset);
    m.input("x", kF, std::vector<DimSpec>{int64_t{2}, int64_t{3}});
    m.init("axes", I({1}, {-1}));
    auto* n = m.node(op, {"x", "axes"}, {"y"});
    setAttr(n, "keepdims", int64_t{0});
    m.output("y");
    auto r = importAndRun(m, {x});
    ASSERT_EQ(r.size(), 1u) << op;
    EXPECT_TENSOR(r[0], DType::F32, (Shape{2}), std::string(op) == "ReduceSum" ? std::vector<double>{6, 15}
                                                                                : std::vector<double>{3, 6});
  }
  Tensor am = runUnary(13, "ArgMax", x, [](auto* n) {
    setAttr(n, "axis", int64_t{1});
    setAttr(n, "keepdims", int64_t{0});
  }, kI64);
  EXPECT_TENSOR(am, DType::I64, (Shape{2}), {2, 2});
}

TEST(OnnxImport, SplitVersions) {
  const Tensor x = F({6}, {1, 2, 3, 4, 5, 6});
  {
    Model m(11);
    m.input("x", kF, std::vector<DimSpec>{int64_t{6}});
    auto* n = m.node("Split", {"x"}, {"a", "b"});
    setAttr(n, "split", std::vector<int64_t>{2, 4});
    m.output("a");
    m.output("b");
    auto r = importAndRun(m, {x});
    ASSERT_EQ(r.size(), 2u);
    EXPECT_TENSOR(r[1], DType::F32, (Shape{4}), {3, 4, 5, 6});
  }
  {
    Model m(13);
    m.input("x", kF, std::vector<DimSpec>{int64_t{6}});
    m.init("split", I({2}, {5, 1}));
    m.node("Split", {"x", "split"}, {"a", "b"});
    m.output("a");
    m.output("b");
    auto r = importAndRun(m, {x});
    ASSERT_EQ(r.size(), 2u);
    EXPECT_TENSOR(r[1], DType::F32, (Shape{1}), {6});
  }
  {
    Model m(18);
    m.input("x", kF, std::vector<DimSpec>{int64_t{6}});
    auto* n = m.node("Split", {"x"}, {"a", "b", "c"});
    setAttr(n, "num_outputs", int64_t{3});
    for (const char* o : {"a", "b", "c"}) m.output(o);
    auto r = importAndRun(m, {x});
    ASSERT_EQ(r.size(), 3u);
    EXPECT_TENSOR(r[2], DType::F32, (Shape{2}), {5, 6});
  }
}

TEST(OnnxImport, SliceAndPadVersions) {
  const Tensor x = F({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor s9 = runUnary(9, "Slice", x, [](auto* n) {
    setAttr(n, "starts", std::vector<int64_t>{1});
    setAttr(n, "ends", std::vector<int64_t>{100});
    setAttr(n, "axes", std::vector<int64_t>{1});
  });
  EXPECT_TENSOR(s9, DType::F32, (Shape{2, 2}), {2, 3, 5, 6});
  {
    Model m(13);
    m.input("x", kF, std::vector<DimSpec>{int64_t{2}, int64_t{3}});
    m.init("starts", I({2}, {0, 2}));
    m.init("ends", I({2}, {2, -100}));
    m.init("steps", I({2}, {1, -2}));
    m.node("Slice", {"x", "starts", "ends", "", "steps"}, {"y"});
    m.output("y");
    auto r = importAndRun(m, {x});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TENSOR(r[0], DType::F32, (Shape{2, 2}), {3, 1, 6, 4});
  }
  Tensor p2 = runUnary(2 + 8, "Pad", x, [](auto* n) {
    setAttr(n, "pads", std::vector<int64_t>{0, 1, 0, 0});
    setAttr(n, "value", 9.0);
  });
  EXPECT_TENSOR(p2, DType::F32, (Shape{2, 4}), {9, 1, 2, 3, 9, 4, 5, 6});
  {
    Model m(18);
    m.input("x", kF, std::vector<DimSpec>{int64_t{2}, int64_t{3}});
    m.init("pads", I({2}, {1, 0}));
    m.init("v", F({}, {-1}));
    m.init("axes", I({1}, {0}));
    m.node("Pad", {"x", "pads", "v", "axes"}, {"y"});
    m.output("y");
    auto r = importAndRun(m, {x});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TENSOR(r[0], DType::F32, (Shape{3, 3}), {-1, -1, -1, 1, 2, 3, 4, 5, 6});
  }
}

TEST(OnnxImport, ShapeArithmeticFoldsToConstants) {
  // Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as exporters write it.
  Model m(13);
  m.input("x", kF, std::vector<DimSpec>{int64_t{2}, int64_t{3}, int64_t{4}});
  m.init("zero", I({}, {0}));
  m.init("minus1", I({1}, {-1}));
  m.init("ax0", I({1}, {0}));
  m.node("Shape", {"x"}, {"shape"});
  m.node("Gather", {"shape", "zero"}, {"n"});
  m.node("Unsqueeze", {"n", "ax0"}, {"n1"});
  auto* c = m.node("Concat", {"n1", "minus1"}, {"newshape"});
  setAttr(c, "axis", int64_t{0});
  m.node("Reshape", {"x", "newshape"}, {"y"});
  m.output("y");
  auto g = import(m);
  ASSERT_TRUE(g.ok()) << g.status().toString();
  EXPECT_EQ((*g)->outputs()[0]->type().toString(), "f32[2, 12]");
  int nodes = 0;
  forEachNode((*g)->body(), [&](Node* n) { nodes += n->op() != "constant" && n->op() != "weight"; });
  EXPECT_EQ(nodes, 1);  // only the reshape is left

  // Without folding the same model keeps the shape ops and still runs.
  OnnxImportOptions noFold;
  noFold.foldConstants = false;
  auto g2 = import(m, "", noFold);
  ASSERT_TRUE(g2.ok()) << g2.status().toString();
  int nodes2 = 0;
  forEachNode((*g2)->body(), [&](Node* n) { nodes2 += n->op() == "shape"; });
  EXPECT_EQ(nodes2, 1);
  std::vector<double> v(24);
  for (int i = 0; i < 24; ++i) v[static_cast<size_t>(i)] = i;
  auto r = importAndRun(m, {F({2, 3, 4}, v)}, noFold);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].shape(), (Shape{2, 12}));
}

TEST(OnnxImport, NnOps) {
  // Gemm with transB, Conv, MaxPool, BatchNorm, Flatten, in one model.
  Model m(13);
  m.input("x", kF, std::vector<DimSpec>{std::string("N"), int64_t{1}, int64_t{4}, int64_t{4}});
  m.init("w", F({2, 1, 2, 2}, {1, 1, 1, 1, 0, 0, 0, 1}));
  m.init("b", F({2}, {0, 1}));
  m.init("scale", F({2}, {1, 2}));
  m.init("bias", F({2}, {0, 0}));
  m.init("mean", F({2}, {0, 0}));
  m.init("var", F({2}, {1, 1}));
  m.init("fc", F({3, 8}, std::vector<double>(24, 0.5)));
  auto* conv = m.node("Conv", {"x", "w", "b"}, {"c"}, "conv");
  setAttr(conv, "kernel_shape", std::vector<int64_t>{2, 2});
  setAttr(conv, "strides", std::vector<int64_t>{2, 2});
  auto* bn = m.node("BatchNormalization", {"c", "scale", "bias", "mean", "var"}, {"bnout"}, "bn");
  setAttr(bn, "epsilon", 0.0);
  auto* pool = m.node("MaxPool", {"bnout"}, {"p"});
  setAttr(pool, "kernel_shape", std::vector<int64_t>{1, 1});
  m.node("Flatten", {"p"}, {"f"});
  auto* gemm = m.node("Gemm", {"f", "fc"}, {"y"}, "gemm");
  setAttr(gemm, "transB", int64_t{1});
  setAttr(gemm, "alpha", 2.0);
  m.output("y");
  std::vector<double> v(16, 1.0);
  auto r = importAndRun(m, {F({1, 1, 4, 4}, v)});
  ASSERT_EQ(r.size(), 1u);
  // conv: channel 0 = 4 per window, channel 1 = 1 + 1 = 2; bn scales ch1 by 2 -> 4; sum = 8 * 4 = 32; * 0.5 * 2
  EXPECT_TENSOR(r[0], DType::F32, (Shape{1, 3}), {32, 32, 32});

  // A used training output of BatchNormalization is an error.
  Model t(9);
  t.input("x", kF, std::vector<DimSpec>{int64_t{1}, int64_t{2}});
  for (const char* n : {"s", "b", "m", "v"}) t.init(n, F({2}, {1, 1}));
  t.node("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y", "running_mean"}, "bn_train");
  t.output("y");
  t.output("running_mean");
  auto g = import(t);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("bn_train"), std::string::npos) << g.status().message();
}

// MaxPool's Indices: the first maximum in row-major window order, flattened over x.
TEST(OnnxImport, MaxPoolIndicesTakeTheFirstMaximum) {
  Model m(12);
  m.input("x", kF, std::vector<DimSpec>{int64_t{1}, int64_t{1}, int64_t{3}, int64_t{3}});
  auto* n = m.node("MaxPool", {"x"}, {"y", "i"}, "pool");
  setAttr(n, "kernel_shape", std::vector<int64_t>{2, 2});
  m.output("y");
  m.output("i", onnx::TensorProto::INT64);
  auto r = importAndRun(m, {F({1, 1, 3, 3}, {1, 5, 5, 2, 0, 3, 7, 7, 1})});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_TENSOR(r[0], DType::F32, (Shape{1, 1, 2, 2}), {5, 5, 7, 7});
  EXPECT_TENSOR(r[1], DType::I64, (Shape{1, 1, 2, 2}), {1, 1, 6, 7});
}

// Det is lowered to the Leibniz sum for 1x1 to 4x4 (the node tests have 2x2 only).
TEST(OnnxImport, DetSmallMatrices) {
  auto det = [](int64_t n, const std::vector<double>& v) {
    Model m(11);
    m.input("x", kF, std::vector<DimSpec>{int64_t{1}, n, n});
    m.node("Det", {"x"}, {"y"}, "det");
    m.output("y");
    auto r = importAndRun(m, {F({1, n, n}, v)});
    return r.size() == 1 ? r[0] : Tensor();
  };
  EXPECT_TENSOR(det(1, {-3}), DType::F32, (Shape{1}), {-3});
  EXPECT_TENSOR(det(3, {2, 0, 1, 1, 3, 2, 1, 1, 2}), DType::F32, (Shape{1}), {6});
  // Rows swapped from the identity twice (even) and once more (odd), scaled.
  EXPECT_TENSOR(det(4, {0, 2, 0, 0, 0, 0, 0, 3, 1, 0, 0, 0, 0, 0, 5, 0}), DType::F32, (Shape{1}), {-30});
  EXPECT_TENSOR(det(4, {1, 2, 3, 4, 5, 6, 7, 8, 2, 6, 4, 8, 3, 1, 1, 2}), DType::F32, (Shape{1}), {72});
  Model big(11);
  big.input("x", kF, std::vector<DimSpec>{int64_t{5}, int64_t{5}});
  big.node("Det", {"x"}, {"y"}, "det5");
  big.output("y");
  auto g = import(big);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("det5"), std::string::npos) << g.status().message();
}

TEST(OnnxImport, ResizeAndUpsample) {
  const Tensor x = F({1, 1, 2, 2}, {1, 2, 3, 4});
  {
    Model m(9);
    m.input("x", kF, std::vector<DimSpec>{int64_t{1}, int64_t{1}, int64_t{2}, int64_t{2}});
    m.init("scales", F({4}, {1, 1, 2, 2}));
    auto* n = m.node("Upsample", {"x", "scales"}, {"y"});
    setAttr(n, "mode", std::string("nearest"));
    m.output("y");
    auto r = importAndRun(m, {x});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TENSOR(r[0], DType::F32, (Shape{1, 1, 4, 4}), {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  }
  {
    Model m(13);
    m.input("x", kF, std::vector<DimSpec>{int64_t{1}, int64_t{1}, int64_t{2}, int64_t{2}});
    m.init("sizes", I({4}, {1, 1, 1, 4}));
    auto* n = m.node("Resize", {"x", "", "", "sizes"}, {"y"});
    setAttr(n, "mode", std::string("nearest"));
    setAttr(n, "coordinate_transformation_mode", std::string("asymmetric"));
    setAttr(n, "nearest_mode", std::string("floor"));
    m.output("y");
    auto r = importAndRun(m, {x});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TENSOR(r[0], DType::F32, (Shape{1, 1, 1, 4}), {1, 1, 2, 2});
  }
  {
    Model m(13);
    m.input("x", kF, std::vector<DimSpec>{int64_t{1}, int64_t{1}, int64_t{2}, int64_t{2}});
    m.init("scales", F({4}, {1, 1, 2, 2}));
    auto* n = m.node("Resize", {"x", "", "scales"}, {"y"}, "antialias_resize");
    setAttr(n, "mode", std::string("cubic"));
    setAttr(n, "antialias", int64_t{1});
    m.output("y");
    auto g = import(m);
    ASSERT_FALSE(g.ok());
    EXPECT_NE(g.status().message().find("antialias_resize"), std::string::npos);
  }
}

TEST(OnnxImport, CumSumTriluOneHotLayerNormOutputs) {
  Tensor cs = [] {
    Model m(14);
    m.input("x", kF, std::vector<DimSpec>{int64_t{2}, int64_t{3}});
    m.init("axis", I({}, {1}));
    auto* n = m.node("CumSum", {"x", "axis"}, {"y"});
    setAttr(n, "exclusive", int64_t{1});
    m.output("y");
    auto r = importAndRun(m, {F({2, 3}, {1, 2, 3, 4, 5, 6})});
    return r.empty() ? Tensor() : r[0];
  }();
  EXPECT_TENSOR(cs, DType::F32, (Shape{2, 3}), {0, 1, 3, 0, 4, 9});
  {
    Model m(14);
    m.input("x", kF, std::vector<DimSpec>{int64_t{3}, int64_t{3}});
    m.init("k", I({}, {1}));
    m.node("Trilu", {"x", "k"}, {"y"});
    m.output("y");
    auto r = importAndRun(m, {F({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9})});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TENSOR(r[0], DType::F32, (Shape{3, 3}), {0, 2, 3, 0, 0, 6, 0, 0, 0});
  }
  {
    Model m(11);
    m.input("i", kI64, std::vector<DimSpec>{int64_t{3}});
    m.init("depth", I({}, {3}));
    m.init("values", F({2}, {0, 5}));
    m.node("OneHot", {"i", "depth", "values"}, {"y"});
    m.output("y");
    auto r = importAndRun(m, {I({3}, {0, 2, -1})});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TENSOR(r[0], DType::F32, (Shape{3, 3}), {5, 0, 0, 0, 0, 5, 0, 0, 5});
  }
  {
    Model m(17);
    m.input("x", kF, std::vector<DimSpec>{int64_t{2}, int64_t{2}});
    m.init("s", F({2}, {1, 1}));
    m.node("LayerNormalization", {"x", "s"}, {"y", "mean", "inv"});
    for (const char* o : {"y", "mean", "inv"}) m.output(o);
    auto r = importAndRun(m, {F({2, 2}, {1, 3, 0, 0})});
    ASSERT_EQ(r.size(), 3u);
    EXPECT_TENSOR(r[1], DType::F32, (Shape{2, 1}), {2, 0});
    EXPECT_TENSOR(r[2], DType::F32, (Shape{2, 1}), {1 / std::sqrt(1 + 1e-5), 1 / std::sqrt(1e-5)}, 1e-4, 1e-4);
  }
}

// ---------------------------------------------------------------------------
// Control flow

TEST(OnnxImport, IfWithOuterScopeCaptures) {
  Model m(13);
  m.input("cond", kBool, std::vector<DimSpec>{});
  m.input("x", kF, std::vector<DimSpec>{std::string("N")});
  m.init("two", F({}, {2}));
  onnx::GraphProto thenG, elseG;
  thenG.set_name("then");
  addNode(&thenG, "Mul", {"x", "two"}, {"t"}, "then_mul");  // captures x and the initializer
  addValue(thenG.mutable_output(), "t", kF, std::nullopt);
  elseG.set_name("else");
  addNode(&elseG, "Neg", {"x"}, {"e"}, "else_neg");
  addValue(elseG.mutable_output(), "e", kF, std::nullopt);
  auto* n = m.node("If", {"cond"}, {"y"}, "the_if");
  setAttr(n, "then_branch", thenG);
  setAttr(n, "else_branch", elseG);
  m.output("y");
  auto g = import(m);
  ASSERT_TRUE(g.ok()) << g.status().toString();
  EXPECT_EQ((*g)->outputs()[0]->definingNode()->op(), "if");
  EXPECT_EQ((*g)->outputs()[0]->definingNode()->name(), "the_if");
  auto r1 = importAndRun(m, {sy::testing::B({}, {1}), F({2}, {1, 2})});
  ASSERT_EQ(r1.size(), 1u);
  EXPECT_TENSOR(r1[0], DType::F32, (Shape{2}), {2, 4});
  auto r0 = importAndRun(m, {sy::testing::B({}, {0}), F({2}, {1, 2})});
  ASSERT_EQ(r0.size(), 1u);
  EXPECT_TENSOR(r0[0], DType::F32, (Shape{2}), {-1, -2});
}

TEST(OnnxImport, LoopWithCarriedScanAndCapture) {
  // for i in range(M): acc = acc + x * i; scan out acc.
  Model m(13);
  m.input("M", kI64, std::vector<DimSpec>{});
  m.input("x", kF, std::vector<DimSpec>{int64_t{2}});
  m.init("acc0", F({2}, {0, 0}));
  onnx::GraphProto body;
  body.set_name("body");
  addValue(body.mutable_input(), "i", kI64, std::vector<DimSpec>{});
  addValue(body.mutable_input(), "c", kBool, std::vector<DimSpec>{});
  addValue(body.mutable_input(), "acc", kF, std::vector<DimSpec>{int64_t{2}});
  auto* cast = addNode(&body, "Cast", {"i"}, {"fi"});
  setAttr(cast, "to", int64_t{onnx::TensorProto::FLOAT});
  addNode(&body, "Mul", {"x", "fi"}, {"xi"});  // captures x
  addNode(&body, "Add", {"acc", "xi"}, {"acc_next"});
  addNode(&body, "Identity", {"c"}, {"c_next"});
  addNode(&body, "Identity", {"acc_next"}, {"scan"});
  addValue(body.mutable_output(), "c_next", kBool, std::nullopt);
  addValue(body.mutable_output(), "acc_next", kF, std::nullopt);
  addValue(body.mutable_output(), "scan", kF, std::nullopt);
  auto* n = m.node("Loop", {"M", "", "acc0"}, {"acc_final", "trace"}, "the_loop");
  setAttr(n, "body", body);
  m.output("acc_final");
  m.output("trace");
  auto r = importAndRun(m, {I({}, {3}), F({2}, {1, 10})});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_TENSOR(r[0], DType::F32, (Shape{2}), {3, 30});
  EXPECT_TENSOR(r[1], DType::F32, (Shape{3, 2}), {0, 0, 1, 10, 3, 30});
}

TEST(OnnxImport, LoopWhoseCarriedShapeGrows) {
  // acc = concat(acc, x) each iteration: the carried type must be widened.
  Model m(13);
  m.input("x", kF, std::vector<DimSpec>{int64_t{1}});
  m.init("M", I({}, {3}));
  m.init("cond", sy::testing::B({}, {1}));
  m.init("acc0", F({1}, {0}));
  onnx::GraphProto body;
  body.set_name("body");
  addValue(body.mutable_input(), "i", kI64, std::vector<DimSpec>{});
  addValue(body.mutable_input(), "c", kBool, std::vector<DimSpec>{});
  addValue(body.mutable_input(), "acc", kF, std::nullopt);
  auto* cat = addNode(&body, "Concat", {"acc", "x"}, {"acc_next"});
  setAttr(cat, "axis", int64_t{0});
  addNode(&body, "Identity", {"c"}, {"c_next"});
  addValue(body.mutable_output(), "c_next", kBool, std::nullopt);
  addValue(body.mutable_output(), "acc_next", kF, std::nullopt);
  auto* n = m.node("Loop", {"M", "cond", "acc0"}, {"acc_final"});
  setAttr(n, "body", body);
  m.output("acc_final");
  auto r = importAndRun(m, {F({1}, {7})});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TENSOR(r[0], DType::F32, (Shape{4}), {0, 7, 7, 7});
}

// ---------------------------------------------------------------------------
// Errors

TEST(OnnxImport, UnsupportedOpsAreListedAllAtOnce) {
  Model m(13);
  m.input("x", kF, std::vector<DimSpec>{int64_t{3}});
  m.node("Relu", {"x"}, {"a"});
  m.node("FancyOp", {"a"}, {"b"}, "fancy1");
  m.node("TfIdfVectorizer", {"b"}, {"c"}, "tfidf1");
  m.node("FancyOp", {"c"}, {"d"}, "fancy2");
  auto* custom = m.node("MyOp", {"d"}, {"e"}, "mine");
  custom->set_domain("com.example");
  m.output("e");
  auto g = import(m);
  ASSERT_FALSE(g.ok());
  const std::string msg = g.status().message();
  EXPECT_EQ(g.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(msg.find("node \"fancy1\" (FancyOp, opset 13)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("FancyOp (2 nodes: \"fancy1\", \"fancy2\")"), std::string::npos) << msg;
  EXPECT_NE(msg.find("TfIdfVectorizer (1 node: \"tfidf1\")"), std::string::npos) << msg;
  EXPECT_NE(msg.find("com.example.MyOp"), std::string::npos) << msg;
}

TEST(OnnxImport, UnsupportedOpInsideSubgraphIsListed) {
  Model m(13);
  m.input("c", kBool, std::vector<DimSpec>{});
  m.input("x", kF, std::vector<DimSpec>{int64_t{3}});
  onnx::GraphProto t, e;
  addNode(&t, "TfIdfVectorizer", {"x"}, {"y1"}, "inner_tfidf");
  addValue(t.mutable_output(), "y1", kF, std::nullopt);
  addNode(&e, "Relu", {"x"}, {"y2"});
  addValue(e.mutable_output(), "y2", kF, std::nullopt);
  auto* n = m.node("If", {"c"}, {"y"});
  setAttr(n, "then_branch", t);
  setAttr(n, "else_branch", e);
  m.node("TfIdfVectorizer", {"y"}, {"z"}, "outer_tfidf");
  m.output("z");
  auto g = import(m);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("inner_tfidf"), std::string::npos) << g.status().message();
  EXPECT_NE(g.status().message().find("outer_tfidf"), std::string::npos) << g.status().message();
}

TEST(OnnxImport, UnsupportedAttributeNamesTheNode) {
  Model m(13);
  m.input("x", kF, std::vector<DimSpec>{int64_t{3}});
  auto* n = m.node("Relu", {"x"}, {"y"}, "relu7");
  setAttr(n, "mystery", int64_t{1});
  m.output("y");
  auto g = import(m);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("relu7"), std::string::npos) << g.status().message();
  EXPECT_NE(g.status().message().find("mystery"), std::string::npos) << g.status().message();
  EXPECT_NE(g.status().message().find("opset 13"), std::string::npos) << g.status().message();
}

TEST(OnnxImport, OpsetOutOfRange) {
  Model m(19);
  m.input("x", kF, std::vector<DimSpec>{int64_t{3}});
  m.node("Relu", {"x"}, {"y"});
  m.output("y");
  EXPECT_FALSE(import(m).ok());
  Model old(5);
  old.input("x", kF, std::vector<DimSpec>{int64_t{3}});
  old.node("Relu", {"x"}, {"y"});
  old.output("y");
  EXPECT_TRUE(import(old).ok());  // Relu did not change before opset 7
  Model oldReshape(4);
  oldReshape.input("x", kF, std::vector<DimSpec>{int64_t{3}});
  auto* n = oldReshape.node("Reshape", {"x"}, {"y"}, "old_reshape");
  setAttr(n, "shape", std::vector<int64_t>{3});
  oldReshape.output("y");
  auto g = import(oldReshape);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("old_reshape"), std::string::npos) << g.status().message();
}

TEST(OnnxImport, BadTensorsAreErrors) {
  auto withInit = [](onnx::TensorProto t) {
    Model m(13);
    m.input("x", kF, std::vector<DimSpec>{int64_t{2}});
    t.set_name("w");
    *m.g->add_initializer() = t;
    m.node("Add", {"x", "w"}, {"y"});
    m.output("y");
    return import(m);
  };
  onnx::TensorProto t;
  t.set_data_type(kF);
  t.add_dims(2);
  t.set_raw_data(std::string(7, '\0'));  // 8 bytes needed
  EXPECT_FALSE(withInit(t).ok());
  t.clear_dims();
  t.add_dims(-2);
  EXPECT_FALSE(withInit(t).ok());
  t.clear_dims();
  t.add_dims(int64_t{1} << 40);
  t.add_dims(int64_t{1} << 40);
  t.clear_raw_data();
  EXPECT_FALSE(withInit(t).ok());
  onnx::TensorProto f;
  f.set_data_type(kF);
  f.add_dims(2);
  f.add_float_data(1);  // one value for two elements
  EXPECT_FALSE(withInit(f).ok());
  onnx::TensorProto d;
  d.set_data_type(onnx::TensorProto::COMPLEX128);
  d.add_dims(2);
  d.add_double_data(1);
  d.add_double_data(2);
  auto r = withInit(d);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("COMPLEX128"), std::string::npos);
  onnx::TensorProto u;  // uint64_data one short
  u.set_data_type(onnx::TensorProto::UINT64);
  u.add_dims(2);
  u.add_uint64_data(1);
  r = withInit(u);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("uint64_data"), std::string::npos) << r.status().message();
}

TEST(OnnxImport, TruncatedAndCorruptedBytesAreErrorsNotCrashes) {
  Model m(13);
  m.input("x", kF, std::vector<DimSpec>{std::string("N"), int64_t{2}});
  m.init("w", F({2, 2}, {1, 2, 3, 4}));
  m.node("MatMul", {"x", "w"}, {"h"}, "mm");
  m.node("Relu", {"h"}, {"y"}, "relu");
  m.output("y");
  const std::string bytes = m.bytes();
  ASSERT_TRUE(importOnnxBytes(bytes, "m", "").ok());
  int errors = 0;
  for (size_t len = 0; len < bytes.size(); ++len) {
    auto r = importOnnxBytes(std::string_view(bytes.data(), len), "m", "");
    errors += !r.ok();
    if (r.ok()) {
      EXPECT_TRUE(verify(**r).ok());
    }
  }
  EXPECT_GT(errors, static_cast<int>(bytes.size() / 2));
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string b = bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) b[rng() % b.size()] ^= static_cast<char>(1 + rng() % 255);
    auto r = importOnnxBytes(b, "m", "");
    if (r.ok()) {
      EXPECT_TRUE(verify(**r).ok());
    }
  }
}

// ---------------------------------------------------------------------------
// Files and external data

class OnnxFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sy_onnx_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "model");
  }
  void TearDown() override { fs::remove_all(dir_); }
  static void write(const fs::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  /// A model whose initializer "w" (f32[4]) lives in external file `location`.
  std::string externalModel(const std::string& location, int64_t offset = 0) {
    Model m(13);
    m.input("x", kF, std::vector<DimSpec>{int64_t{4}});
    onnx::TensorProto t;
    t.set_name("w");
    t.set_data_type(kF);
    t.add_dims(4);
    t.set_data_location(onnx::TensorProto::EXTERNAL);
    auto* kv = t.add_external_data();
    kv->set_key("location");
    kv->set_value(location);
    kv = t.add_external_data();
    kv->set_key("offset");
    kv->set_value(std::to_string(offset));
    *m.g->add_initializer() = t;
    m.node("Add", {"x", "w"}, {"y"});
    m.output("y");
    return m.bytes();
  }
  static std::string floats(std::vector<float> v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  }
  fs::path dir_;
};

TEST_F(OnnxFiles, ExternalDataInsideTheFolder) {
  fs::create_directories(dir_ / "model" / "data");
  write(dir_ / "model" / "data" / "w.bin", std::string(8, 'x') + floats({1, 2, 3, 4}));
  write(dir_ / "model" / "m.onnx", externalModel("data/w.bin", 8));
  auto g = importOnnxFile((dir_ / "model" / "m.onnx").string());
  ASSERT_TRUE(g.ok()) << g.status().toString();
  auto interp = Interpreter::create(std::shared_ptr<const Graph>(std::move(*g)));
  ASSERT_TRUE(interp.ok());
  auto r = (*interp)->run(std::vector<Tensor>{F({4}, {10, 10, 10, 10})});
  ASSERT_TRUE(r.ok());
  EXPECT_TENSOR((*r)[0], DType::F32, (Shape{4}), {11, 12, 13, 14});
}

TEST_F(OnnxFiles, ExternalDataEscapesAreRejected) {
  write(dir_ / "secret.bin", floats({1, 2, 3, 4}));
  const std::string model = (dir_ / "model" / "m.onnx").string();
  for (const std::string& loc : {std::string("../secret.bin"), std::string("data/../../secret.bin"),
                                 (dir_ / "secret.bin").string()}) {
    write(model, externalModel(loc));
    auto g = importOnnxFile(model);
    ASSERT_FALSE(g.ok()) << loc;
    EXPECT_NE(g.status().message().find("\"w\""), std::string::npos) << g.status().message();
  }
  // A symlink inside the folder that points outside.
  fs::create_symlink(dir_ / "secret.bin", dir_ / "model" / "link.bin");
  write(model, externalModel("link.bin"));
  auto g = importOnnxFile(model);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("outside"), std::string::npos) << g.status().message();
  // Reading past the end of the file.
  write(dir_ / "model" / "short.bin", floats({1, 2}));
  write(model, externalModel("short.bin"));
  EXPECT_FALSE(importOnnxFile(model).ok());
  // From bytes without a folder, external data is not allowed.
  EXPECT_FALSE(importOnnxBytes(externalModel("short.bin"), "mem", "").ok());
}

TEST_F(OnnxFiles, ReadTensorFileAndMissingFile) {
  write(dir_ / "t.pb", toProto("t", I({2}, {4, 5})).SerializeAsString());
  auto t = readOnnxTensorFile((dir_ / "t.pb").string());
  ASSERT_TRUE(t.ok()) << t.status().toString();
  EXPECT_TENSOR(*t, DType::I64, (Shape{2}), {4, 5});
  write(dir_ / "bad.pb", "\xff\xff\xff");
  EXPECT_FALSE(readOnnxTensorFile((dir_ / "bad.pb").string()).ok());
  EXPECT_FALSE(readOnnxTensorFile((dir_ / "none.pb").string()).ok());
  EXPECT_FALSE(importOnnxFile((dir_ / "none.onnx").string()).ok());
}

TEST(OnnxImport, HugeConstantResultsAreNotFoldedAtImport) {
  // A 32 GiB ConstantOfShape must not be evaluated while importing.
  Model m(13);
  m.input("x", kF, std::vector<DimSpec>{int64_t{1}});
  m.init("shape", I({1}, {int64_t{1} << 33}));
  m.node("ConstantOfShape", {"shape"}, {"big"});
  m.node("Add", {"big", "x"}, {"y"});
  m.output("y");
  auto g = import(m);
  ASSERT_TRUE(g.ok()) << g.status().toString();
  bool kept = false;
  forEachNode((*g)->body(), [&](Node* n) { kept = kept || n->op() == "constant_of_shape"; });
  EXPECT_TRUE(kept);
}

// ---------------------------------------------------------------------------
// Hostile models (issue #12)

namespace {

/// Peak resident set of this process in KiB (it only grows).
long peakRssKiB() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

}  // namespace

TEST(OnnxImport, LoopWithANegativeTripCountRunsNoIteration) {
  // ONNX: `for (i = 0; i < M && cond; ++i)`; M = -3 means no iteration (it
  // used to mean "no limit", so the loop ran until the scan output exhausted memory).
  Model m(13);
  m.input("M", kI64, std::vector<DimSpec>{});
  m.init("acc0", F({2}, {1, 2}));
  onnx::GraphProto body;
  body.set_name("body");
  addValue(body.mutable_input(), "i", kI64, std::vector<DimSpec>{});
  addValue(body.mutable_input(), "c", kBool, std::vector<DimSpec>{});
  addValue(body.mutable_input(), "acc", kF, std::vector<DimSpec>{int64_t{2}});
  addNode(&body, "Add", {"acc", "acc"}, {"acc_next"});
  addNode(&body, "Identity", {"c"}, {"c_next"});
  addNode(&body, "Identity", {"acc_next"}, {"scan"});
  addValue(body.mutable_output(), "c_next", kBool, std::nullopt);
  addValue(body.mutable_output(), "acc_next", kF, std::nullopt);
  addValue(body.mutable_output(), "scan", kF, std::nullopt);
  auto* n = m.node("Loop", {"M", "", "acc0"}, {"acc_final", "trace"});
  setAttr(n, "body", body);
  m.output("acc_final");
  m.output("trace");
  for (int64_t trip : {int64_t{-3}, int64_t{-1}, std::numeric_limits<int64_t>::min()}) {
    auto r = importAndRun(m, {I({}, {trip})});
    ASSERT_EQ(r.size(), 2u) << trip;
    EXPECT_TENSOR(r[0], DType::F32, (Shape{2}), {1, 2});
    EXPECT_EQ(r[1].shape(), (Shape{0, 2})) << trip;
  }
  auto r = importAndRun(m, {I({}, {2})});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_TENSOR(r[0], DType::F32, (Shape{2}), {4, 8});
}

TEST(OnnxImport, HugeInitializerWithoutDataIsRefusedBeforeAllocating) {
  // f32[2^30] declared with no data at all: refused before 4 GiB are zero-filled.
  const long before = peakRssKiB();
  Model m(13);
  m.input("x", kF, std::vector<DimSpec>{int64_t{1}});
  onnx::TensorProto t;
  t.set_name("w");
  t.set_data_type(kF);
  t.add_dims(int64_t{1} << 30);
  *m.g->add_initializer() = t;
  m.node("Add", {"x", "w"}, {"y"});
  m.output("y");
  auto g = import(m);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("float_data has 0 values"), std::string::npos) << g.status().message();
  EXPECT_NE(g.status().message().find("\"w\""), std::string::npos) << g.status().message();
  EXPECT_LT(peakRssKiB() - before, 256 * 1024) << "the importer allocated the declared tensor before checking it";
}

TEST_F(OnnxFiles, HugeExternalInitializerIsCheckedAgainstTheFileFirst) {
  const long before = peakRssKiB();
  write(dir_ / "model" / "tiny.bin", "x");
  Model m(13);
  m.input("x", kF, std::vector<DimSpec>{int64_t{1}});
  onnx::TensorProto t;
  t.set_name("w");
  t.set_data_type(kF);
  t.add_dims(int64_t{1} << 30);
  t.set_data_location(onnx::TensorProto::EXTERNAL);
  auto* kv = t.add_external_data();
  kv->set_key("location");
  kv->set_value("tiny.bin");
  *m.g->add_initializer() = t;
  m.node("Add", {"x", "w"}, {"y"});
  m.output("y");
  write(dir_ / "model" / "m.onnx", m.bytes());
  auto g = importOnnxFile((dir_ / "model" / "m.onnx").string());
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("beyond the end"), std::string::npos) << g.status().message();
  EXPECT_LT(peakRssKiB() - before, 256 * 1024) << "the importer allocated the declared tensor before checking it";
}

namespace {

/// A loop body (i, c, acc) -> (c, concat(inner_loop(acc), x)) with `depth`
/// loops of the same kind nested inside: every level's carried value grows,
/// so every level needs its carried type widened.
onnx::GraphProto nestedGrowingBody(int depth) {
  onnx::GraphProto body;
  body.set_name("body" + std::to_string(depth));
  const std::string sfx = std::to_string(depth);
  addValue(body.mutable_input(), "i" + sfx, kI64, std::vector<DimSpec>{});
  addValue(body.mutable_input(), "c" + sfx, kBool, std::vector<DimSpec>{});
  addValue(body.mutable_input(), "acc" + sfx, kF, std::vector<DimSpec>{int64_t{1}});
  std::string acc = "acc" + sfx;
  if (depth > 0) {
    auto* inner = addNode(&body, "Loop", {"M", "", acc}, {"inner" + sfx});
    setAttr(inner, "body", nestedGrowingBody(depth - 1));
    acc = "inner" + sfx;
  }
  auto* cat = addNode(&body, "Concat", {acc, "x"}, {"next" + sfx});
  setAttr(cat, "axis", int64_t{0});
  addNode(&body, "Identity", {"c" + sfx}, {"cn" + sfx});
  addValue(body.mutable_output(), "cn" + sfx, kBool, std::nullopt);
  addValue(body.mutable_output(), "next" + sfx, kF, std::nullopt);
  return body;
}

}  // namespace

TEST(OnnxImport, NestedLoopsImportInLinearTime) {
  // 18 nested loops whose carried values grow used to take 25 s and 1 GB
  // (every refinement of a loop converted every nested body again).
  auto importDepth = [](int depth, double& seconds, size_t& nodes) {
    Model m(13);
    m.input("x", kF, std::vector<DimSpec>{int64_t{1}});
    m.input("M", kI64, std::vector<DimSpec>{});
    m.init("acc0", F({1}, {0}));
    auto* n = m.node("Loop", {"M", "", "acc0"}, {"out"});
    setAttr(n, "body", nestedGrowingBody(depth));
    m.output("out");
    const auto t0 = std::chrono::steady_clock::now();
    auto g = import(m);
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_TRUE(g.ok()) << g.status().toString();
    nodes = 0;
    if (g.ok()) forEachNode((*g)->body(), [&](Node*) { ++nodes; });
    return m;
  };
  // (protobuf refuses models nested much deeper than 20 loops.)
  double t9 = 0, t18 = 0;
  size_t n9 = 0, n18 = 0;
  importDepth(9, t9, n9);
  Model m18 = importDepth(18, t18, n18);
  EXPECT_LT(t18, 2.0 * kSanitizerSlowdown) << "depth 18 took " << t18 << " s";
  EXPECT_LT(n18, 3 * n9) << "the imported graph is not linear in the model: " << n9 << " vs " << n18 << " nodes";
  // And it still computes: one trip of each of the 19 loops appends x 19 times.
  auto r = importAndRun(m18, {F({1}, {5}), I({}, {1})});
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].numel(), 20);
  EXPECT_EQ(r[0].getDouble(0), 0);
  EXPECT_EQ(r[0].getDouble(19), 5);
}

TEST(OnnxImport, ExtraNodeInputsAreAnError) {
  // Add(a, b, c) used to compute a + b and drop c.
  Model m(13);
  m.input("a", kF, std::vector<DimSpec>{int64_t{2}});
  m.input("b", kF, std::vector<DimSpec>{int64_t{2}});
  m.input("c", kF, std::vector<DimSpec>{int64_t{2}});
  m.node("Add", {"a", "b", "c"}, {"y"}, "add3");
  m.output("y");
  auto g = import(m);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("node \"add3\" (Add, opset 13): has 3 inputs, but Add takes at most 2 (input 2, "
                                      "\"c\", would be ignored)"),
            std::string::npos)
      << g.status().message();
  // An empty name in an optional trailing position is not an input.
  Model ok(13);
  ok.input("a", kF, std::vector<DimSpec>{int64_t{2}});
  ok.input("b", kF, std::vector<DimSpec>{int64_t{2}});
  ok.node("Add", {"a", "b", ""}, {"y"});
  ok.output("y");
  EXPECT_TRUE(import(ok).ok());
}

TEST(OnnxImport, DuplicateOutputNamesAreAnError) {
  // The second definition of "y" used to be renamed silently.
  Model m(13);
  m.input("x", kF, std::vector<DimSpec>{int64_t{2}});
  m.node("Relu", {"x"}, {"y"}, "first");
  m.node("Neg", {"x"}, {"y"}, "second");
  m.output("y");
  auto g = import(m);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("node \"second\" (Neg, opset 13): output 0 \"y\" is already defined"),
            std::string::npos)
      << g.status().message();
  // Redefining a graph input, and one node naming two outputs alike.
  Model in(13);
  in.input("x", kF, std::vector<DimSpec>{int64_t{2}});
  in.node("Relu", {"x"}, {"x"});
  in.output("x");
  EXPECT_FALSE(import(in).ok());
  Model two(13);
  two.input("x", kF, std::vector<DimSpec>{int64_t{4}});
  auto* split = two.node("Split", {"x"}, {"p", "p"}, "split");
  setAttr(split, "axis", int64_t{0});
  two.output("p");
  auto g2 = import(two);
  ASSERT_FALSE(g2.ok());
  EXPECT_NE(g2.status().message().find("outputs 0 and 1 are both named \"p\""), std::string::npos)
      << g2.status().message();
}

TEST(OnnxImport, ANodeWithManyOutputsImportsInLinearTime) {
  // Split into n outputs: every output's name hint was the same, and finding
  // a free ".k" suffix probed 1..k each time (quadratic).
  auto importSplit = [](int n) {
    Model m(13);
    m.input("x", kF, std::vector<DimSpec>{int64_t{n}});
    std::vector<std::string> outs;
    for (int i = 0; i < n; ++i) outs.push_back("");  // unnamed outputs take the node's hint
    outs[0] = "first";
    auto* split = m.node("Split", {"x"}, outs, "split");
    setAttr(split, "axis", int64_t{0});
    m.output("first");
    const auto t0 = std::chrono::steady_clock::now();
    auto g = import(m, "", OnnxImportOptions{.foldConstants = false});
    EXPECT_TRUE(g.ok()) << g.status().toString();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  const double small = importSplit(5000);
  const double big = importSplit(40000);
  // Quadratic naming took about 40 s for 40000; the ratio allows for a busy machine.
  EXPECT_LT(big, 4.0 * kSanitizerSlowdown) << "40000 outputs took " << big << " s";
  EXPECT_LT(big, 32 * small + 1.0) << "5000 outputs: " << small << " s, 40000: " << big << " s (not linear)";
}

TEST_F(OnnxFiles, OversizedAndNonRegularModelsAreRefusedBeforeReading) {
  // A 3 GiB .onnx took 6.3 GB and 25 s to be refused; a sparse file costs no disk here.
  const fs::path big = dir_ / "model" / "big.onnx";
  write(big, "");
  fs::resize_file(big, uint64_t{3} << 30);
  const long before = peakRssKiB();
  const auto t0 = std::chrono::steady_clock::now();
  auto g = importOnnxFile(big.string());
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("protobuf models must be under 2 GiB"), std::string::npos) << g.status().message();
  EXPECT_LT(s, 1.0);
  EXPECT_LT(peakRssKiB() - before, 64 * 1024);
  auto zero = importOnnxFile("/dev/zero");
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("is a character device"), std::string::npos) << zero.status().message();
  ASSERT_EQ(::mkfifo((dir_ / "model" / "pipe.onnx").c_str(), 0600), 0);
  auto pipe = importOnnxFile((dir_ / "model" / "pipe.onnx").string());
  ASSERT_FALSE(pipe.ok());
  EXPECT_NE(pipe.status().message().find("is a FIFO"), std::string::npos) << pipe.status().message();
}

// ---------------------------------------------------------------------------
// Einsum and LRN (lowered by the importer)

namespace {

/// Naive einsum for equations of letters only (explicit output): every
/// assignment of every label, summed into the output. The oracle of the tests.
Tensor naiveEinsum(const std::string& eq, const std::vector<Tensor>& ins) {
  const size_t arrow = eq.find("->");
  std::vector<std::string> terms(1);
  for (char ch : eq.substr(0, arrow)) {
    if (ch == ',') terms.emplace_back();
    else terms.back() += ch;
  }
  const std::string out = eq.substr(arrow + 2);
  std::map<char, int64_t> size;
  for (size_t k = 0; k < terms.size(); ++k)
    for (size_t i = 0; i < terms[k].size(); ++i) size[terms[k][i]] = ins[k].shape()[i];
  std::vector<char> labels;
  for (const auto& [ch, n] : size) labels.push_back(ch);
  Shape outShape;
  for (char ch : out) outShape.push_back(size[ch]);
  Tensor y = *Tensor::allocate(DType::F32, outShape);
  std::map<char, int64_t> at;
  std::function<void(size_t)> loop = [&](size_t d) {
    if (d == labels.size()) {
      double p = 1;
      for (size_t k = 0; k < terms.size(); ++k) {
        int64_t flat = 0;
        for (size_t i = 0; i < terms[k].size(); ++i) flat = flat * ins[k].shape()[i] + at[terms[k][i]];
        p *= ins[k].getDouble(flat);
      }
      int64_t flat = 0;
      for (size_t i = 0; i < out.size(); ++i) flat = flat * outShape[i] + at[out[i]];
      y.setDouble(flat, y.getDouble(flat) + p);
      return;
    }
    for (at[labels[d]] = 0; at[labels[d]] < size[labels[d]]; ++at[labels[d]]) loop(d + 1);
  };
  loop(0);
  return y;
}

Tensor ramp(Shape s, double scale) {
  Tensor t = *Tensor::allocate(DType::F32, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.setDouble(i, std::sin(scale * static_cast<double>(i + 1)));
  return t;
}

}  // namespace

TEST(OnnxImport, EinsumMatchesANaiveSum) {
  struct Case {
    std::string eq;          // given to the importer
    std::string reference;   // the same with letters only and an explicit output
    std::vector<Shape> shapes;
    bool symbolicFirstDim = false;  // dims not static: the broadcast-multiply path
  };
  const Case cases[] = {
      {"bij,bjk->bik", "bij,bjk->bik", {{2, 3, 4}, {2, 4, 5}}},
      {"bij,bjk->bik", "bij,bjk->bik", {{2, 3, 4}, {2, 4, 5}}, true},
      {"i,i", "i,i->", {{5}, {5}}},
      {"...ii->...i", "bii->bi", {{2, 3, 3}}},
      {"ii", "ii->", {{3, 3}}},
      {"ij->ji", "ij->ji", {{3, 4}}},
      {"ij->i", "ij->i", {{3, 4}}},
      {"ij", "ij->ij", {{3, 4}}},
      {"ji", "ji->ij", {{3, 4}}},
      {"ij,ij->ij", "ij,ij->ij", {{3, 4}, {3, 4}}},
      {"ij,jk,kl->il", "ij,jk,kl->il", {{3, 4}, {4, 2}, {2, 3}}},
      {"bij,bkj->bik", "bij,bkj->bik", {{2, 3, 4}, {2, 5, 4}}, true},
      {"i,j", "i,j->ij", {{3}, {4}}},
      {"bhqd,bhkd->bhqk", "bhqd,bhkd->bhqk", {{1, 2, 3, 4}, {1, 2, 5, 4}}},
      {"ab...,bc...->ac...", "abx,bcx->acx", {{2, 3, 4}, {3, 2, 4}}},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.eq);
    Model m(12);
    std::vector<Tensor> ins;
    std::vector<std::string> names;
    for (size_t k = 0; k < tc.shapes.size(); ++k) {
      std::vector<DimSpec> dims(tc.shapes[k].begin(), tc.shapes[k].end());
      if (tc.symbolicFirstDim) dims[0] = std::string("B");
      names.push_back(std::string(1, 'x').append(std::to_string(k)));
      m.input(names.back(), kF, dims);
      ins.push_back(ramp(tc.shapes[k], 0.7 + 0.3 * static_cast<double>(k)));
    }
    setAttr(m.node("Einsum", names, {"y"}), "equation", tc.eq);
    m.output("y");
    auto r = importAndRun(m, ins);
    ASSERT_EQ(r.size(), 1u);
    const Tensor want = naiveEinsum(tc.reference, ins);
    EXPECT_TENSOR(r[0], DType::F32, want.shape(), values(want), 1e-5, 1e-5);
  }
  // Bad equations are errors naming the node.
  for (const char* eq : {"ij,jk->ik", "ij->k", "i.j->i", "ijk->i"}) {
    Model m(12);
    m.input("x", kF, std::vector<DimSpec>{int64_t{3}, int64_t{4}});
    setAttr(m.node("Einsum", {"x"}, {"y"}, "e"), "equation", std::string(eq));
    m.output("y");
    auto g = import(m);
    ASSERT_FALSE(g.ok()) << eq;
    EXPECT_NE(g.status().message().find("Einsum"), std::string::npos) << g.status().message();
  }
}

TEST(OnnxImport, LrnMatchesTheFormula) {
  const Shape s{2, 5, 2, 3};
  const Tensor x = ramp(s, 1.3);
  for (int64_t size : {1, 2, 3, 4}) {
    SCOPED_TRACE(size);
    Model m(13);
    m.input("x", kF, std::vector<DimSpec>(s.begin(), s.end()));
    auto* n = m.node("LRN", {"x"}, {"y"});
    setAttr(n, "size", size);
    setAttr(n, "alpha", 0.5);
    setAttr(n, "beta", 0.75);
    setAttr(n, "bias", 2.0);
    m.output("y");
    auto r = importAndRun(m, {x});
    ASSERT_EQ(r.size(), 1u);
    std::vector<double> want;
    const int64_t C = s[1], HW = s[2] * s[3];
    for (int64_t b = 0; b < s[0]; ++b)
      for (int64_t ch = 0; ch < C; ++ch)
        for (int64_t p = 0; p < HW; ++p) {
          double sum = 0;
          for (int64_t j = ch - (size - 1) / 2; j <= ch + size / 2; ++j)
            if (j >= 0 && j < C) {
              const double v = x.getDouble((b * C + j) * HW + p);
              sum += v * v;
            }
          want.push_back(x.getDouble((b * C + ch) * HW + p) / std::pow(2.0 + 0.5 / static_cast<double>(size) * sum, 0.75));
        }
    EXPECT_TENSOR(r[0], DType::F32, s, want, 1e-5, 1e-5);
  }
}

// Output sizes that depend on values (Note [data-dependent output sizes] in core/src/ops/dynamic.cpp):
// TopK's k an attribute before opset 10, RoiAlign-10 computing output_half_pixel, NonMaxSuppression
// with an absent optional input before a present one.
TEST(OnnxImport, DataDependentOpsAcrossOpsets) {
  {
    Model m(9);
    m.input("x", kF, std::vector<DimSpec>{int64_t{5}});
    auto* n = m.node("TopK", {"x"}, {"v", "i"});
    setAttr(n, "k", int64_t{2});
    m.output("v");
    m.output("i", kI64);
    auto r = importAndRun(m, {F({5}, {3, 9, 1, 9, 4})});
    ASSERT_EQ(r.size(), 2u);
    EXPECT_TENSOR(r[0], DType::F32, (Shape{2}), {9, 9});
    EXPECT_TENSOR(r[1], DType::I64, (Shape{2}), {1, 3});
  }
  {
    // v = 4y + x on a 4x4 plane; roi (1, 1)-(2, 2): output_half_pixel takes one sample at (1.5, 1.5) -> 7.5
    // (half_pixel would shift it by -0.5 and give 5).
    Model m(10);
    m.input("x", kF, std::vector<DimSpec>{int64_t{1}, int64_t{1}, int64_t{4}, int64_t{4}});
    m.init("rois", F({1, 4}, {1, 1, 2, 2}));
    m.init("idx", I({1}, {0}));
    m.node("RoiAlign", {"x", "rois", "idx"}, {"y"});
    m.output("y");
    std::vector<double> v(16);
    for (int i = 0; i < 16; ++i) v[static_cast<size_t>(i)] = i;
    auto r = importAndRun(m, {F({1, 1, 4, 4}, v)});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TENSOR(r[0], DType::F32, (Shape{1, 1, 1, 1}), {7.5});
  }
  {
    // No max_output_boxes_per_class (its default 0 selects nothing), an iou_threshold given.
    Model m(11);
    m.input("boxes", kF, std::vector<DimSpec>{int64_t{1}, int64_t{2}, int64_t{4}});
    m.input("scores", kF, std::vector<DimSpec>{int64_t{1}, int64_t{1}, int64_t{2}});
    m.init("iou", F({1}, {0.5}));
    m.node("NonMaxSuppression", {"boxes", "scores", "", "iou"}, {"sel"});
    m.output("sel", kI64);
    auto r = importAndRun(m, {F({1, 2, 4}, {0, 0, 1, 1, 0, 2, 1, 3}), F({1, 1, 2}, {0.5, 0.9})});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].shape(), (Shape{0, 3}));
  }
}
