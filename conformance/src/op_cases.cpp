// The ops scope: cases generated from the op registry, each run as a
// one-op region on the plugin and compared with the reference interpreter.
//
// Note [Op case table]
// Every registry op gets cases from a generator chosen by its category
// (unary, binary, reduce, ternary) or, for ops whose attributes and input
// shapes need care (nn, normalization, shape, control, data), from a
// hand-written list. The first case of each op ("basic") is repeated for
// every dtype in the schema's dtypes list; the other cases (scalars, empty
// tensors, broadcasting, odd and large sizes, negative axes, attribute
// variants) run in the op's first dtype (f32 where the schema has it).
// Inputs are drawn with a seed made from the case id, in domains that keep
// the op defined (positive for log/sqrt, non-zero divisors, integer-valued
// floats where ties matter). Inputs that must be known at compile time
// (shapes, pads, indices of slice) are `constant` nodes in the region, as the
// engine gives them to plugins; everything else is a region input. An op
// with no generator still shows up, as one skipped case, so a new op cannot
// go unnoticed.
#include <cmath>
#include <limits>
#include <random>

#include "internal.h"
#include "switchyard/builder.h"
#include "switchyard/interpreter.h"
#include "switchyard/op_registry.h"

namespace sy::conformance {
namespace {

/// How input values are drawn.
struct Domain {
  enum class Kind { Default, Positive, NonZero, NearOne, Ties, Halves, Range, NonFinite } kind = Kind::Default;
  double lo = 0, hi = 0;
};
Domain dflt() { return {}; }
Domain positive() { return {Domain::Kind::Positive}; }
Domain nonZero() { return {Domain::Kind::NonZero}; }
Domain nearOne() { return {Domain::Kind::NearOne}; }
Domain ties() { return {Domain::Kind::Ties}; }
Domain halves() { return {Domain::Kind::Halves}; }
Domain range(double lo, double hi) { return {Domain::Kind::Range, lo, hi}; }
/// Mostly values in [-2, 2], with NaN, +inf and -inf mixed in (issue #12:
/// IEEE semantics must agree with the reference on every plugin).
Domain nonFinite() { return {Domain::Kind::NonFinite}; }

/// One input of a case.
struct In {
  std::string name;
  std::optional<DType> dtype;  ///< nullopt: the case's dtype
  Shape shape;
  Domain domain;
  bool constant = false;       ///< a `constant` node instead of a region input
  std::vector<double> values;  ///< explicit values (else drawn from the domain)
  bool hasValues = false;
};

/// One case of one op.
struct OpCase {
  std::string op, label;
  DType dtype = DType::F32;
  std::vector<In> ins;
  AttrMap attrs;
  int outputs = 1;
  /// Builds the node(s) itself (control flow); else one `op` node.
  std::function<std::vector<Value*>(GraphBuilder&, const std::vector<Value*>&)> custom;
  double toleranceScale = 1.0;
};

In T(Shape s, Domain d = dflt()) { return In{"", std::nullopt, std::move(s), d}; }
In F(DType dt, Shape s, Domain d = dflt()) { return In{"", dt, std::move(s), d}; }
/// A constant of a fixed dtype with explicit values (1-D of values.size() unless `shape` is given).
In C(DType dt, std::vector<double> values, std::optional<Shape> shape = std::nullopt) {
  In in{"", dt, shape ? *shape : Shape{static_cast<int64_t>(values.size())}, dflt(), true, std::move(values), true};
  return in;
}
/// A constant of the case's dtype with explicit values.
In CT(std::vector<double> values, std::optional<Shape> shape = std::nullopt) {
  In in = C(DType::F32, std::move(values), std::move(shape));
  in.dtype.reset();
  return in;
}
/// A region input of a fixed dtype with explicit values.
In V(DType dt, Shape s, std::vector<double> values) {
  return In{"", dt, std::move(s), dflt(), false, std::move(values), true};
}

/// A region input of the case's dtype with explicit values.
In VT(Shape s, std::vector<double> values) {
  return In{"", std::nullopt, std::move(s), dflt(), false, std::move(values), true};
}

Attribute ints(std::vector<int64_t> v) { return Attribute(std::move(v)); }
Attribute i(int64_t v) { return Attribute(v); }
Attribute f(double v) { return Attribute(v); }
Attribute s(std::string v) { return Attribute(std::move(v)); }

// --- input data ---------------------------------------------------------------

Tensor drawTensor(DType dt, const Shape& shape, const Domain& d, uint64_t seed) {
  Tensor t = *Tensor::allocate(dt, shape);
  std::mt19937_64 rng(seed);
  auto unit = [&] { return static_cast<double>(rng() >> 11) * 0x1.0p-53; };
  auto uniform = [&](double lo, double hi) { return lo + (hi - lo) * unit(); };
  auto integer = [&](int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1)); };
  const bool fl = isFloat(dt);
  for (int64_t k = 0; k < t.numel(); ++k) {
    if (isBool(dt)) {
      t.setInt(k, static_cast<int64_t>(rng() & 1));
      continue;
    }
    double v = 0;
    switch (d.kind) {
      case Domain::Kind::Default: v = fl ? uniform(-2, 2) : static_cast<double>(integer(-10, 10)); break;
      case Domain::Kind::Positive: v = fl ? uniform(0.1, 4) : static_cast<double>(integer(1, 10)); break;
      case Domain::Kind::NonZero: {
        const double m = fl ? uniform(0.5, 2) : static_cast<double>(integer(1, 5));
        v = (rng() & 1) ? m : -m;
        break;
      }
      case Domain::Kind::NearOne: v = fl ? uniform(0.5, 1.5) : static_cast<double>(integer(-2, 2)); break;
      case Domain::Kind::Ties: v = static_cast<double>(integer(-3, 3)); break;
      case Domain::Kind::Halves: v = static_cast<double>(integer(-10, 10)) / 2; break;
      case Domain::Kind::NonFinite: {
        const uint64_t pick = rng() % 8;
        v = pick == 0   ? std::numeric_limits<double>::quiet_NaN()
            : pick == 1 ? std::numeric_limits<double>::infinity()
            : pick == 2 ? -std::numeric_limits<double>::infinity()
                        : uniform(-2, 2);
        if (!fl) v = static_cast<double>(integer(-10, 10));
        break;
      }
      case Domain::Kind::Range:
        v = fl ? uniform(d.lo, d.hi)
               : static_cast<double>(integer(static_cast<int64_t>(std::ceil(d.lo)), static_cast<int64_t>(std::floor(d.hi))));
        break;
    }
    t.setDouble(k, v);
  }
  return t;
}

Tensor inputTensor(const OpCase& c, const In& in, size_t index, const std::string& id) {
  const DType dt = in.dtype.value_or(c.dtype);
  if (in.hasValues) {
    Tensor t = *Tensor::allocate(dt, in.shape);
    for (int64_t k = 0; k < t.numel() && k < static_cast<int64_t>(in.values.size()); ++k) t.setDouble(k, in.values[k]);
    return t;
  }
  return drawTensor(dt, in.shape, in.domain, hashString(id) * 31 + index);
}

// --- the case table -------------------------------------------------------------

/// Cases made by one generator; `add` takes the label and the rest.
struct Table {
  const OpSchema& schema;
  std::vector<OpCase> cases;
  /// The op's first dtype: f32 when the schema has it.
  DType main() const {
    for (DType d : schema.dtypes)
      if (d == DType::F32) return d;
    return schema.dtypes.empty() ? DType::F32 : schema.dtypes.front();
  }
  void add(std::string label, std::vector<In> ins, AttrMap attrs = {}, int outputs = 1) {
    addIn(main(), std::move(label), std::move(ins), std::move(attrs), outputs);
  }
  void addIn(DType dt, std::string label, std::vector<In> ins, AttrMap attrs = {}, int outputs = 1) {
    OpCase c;
    c.op = schema.name;
    c.label = std::move(label);
    c.dtype = dt;
    c.ins = std::move(ins);
    c.attrs = std::move(attrs);
    c.outputs = outputs;
    cases.push_back(std::move(c));
  }
  /// The basic case, once per schema dtype.
  void basic(std::vector<In> ins, AttrMap attrs = {}, int outputs = 1) {
    for (DType dt : schema.dtypes) addIn(dt, "basic", ins, attrs, outputs);
  }
};

Domain unaryDomain(const std::string& op) {
  if (op == "log" || op == "sqrt" || op == "rsqrt") return positive();
  if (op == "reciprocal") return nonZero();
  if (op == "asin" || op == "acos" || op == "atanh") return range(-0.9, 0.9);
  if (op == "acosh") return range(1.1, 4);
  if (op == "tan") return range(-1.2, 1.2);  // away from the poles at +-pi/2
  if (op == "exp") return range(-4, 4);
  if (op == "round") return halves();
  if (op == "cast") return range(-100, 100);
  if (op == "sign" || op == "relu" || op == "abs") return ties();
  return dflt();
}

void unaryCases(Table& t) {
  const std::string& op = t.schema.name;
  const Domain d = unaryDomain(op);
  if (op == "cast") {
    for (DType from : t.schema.dtypes)
      for (DType to : kAllDTypes)
        t.addIn(from, std::string("to_") + std::string(dtypeName(to)), {T({3, 5}, d)}, {{"to", s(std::string(dtypeName(to)))}});
    t.add("f32_to_i32.large", {T({129, 257}, d)}, {{"to", s("i32")}});
    t.add("f32_to_f16.scalar", {T({}, d)}, {{"to", s("f16")}});
    t.add("f32_to_i64.empty", {T({0, 3}, d)}, {{"to", s("i64")}});
    return;
  }
  t.basic({T({3, 5}, d)});
  t.add("scalar", {T({}, d)});
  t.add("empty", {T({0, 3}, d)});
  t.add("odd", {T({7}, d)});
  t.add("rank3", {T({2, 3, 4}, d)});
  t.add("large", {T({129, 257}, d)});
  if (op == "clip") {
    t.add("min_max", {T({3, 5}, d)}, {{"min", f(-0.5)}, {"max", f(0.5)}});
    t.add("min_only", {T({3, 5}, d)}, {{"min", f(0.25)}});
    t.add("min_above_max", {T({3, 5}, d)}, {{"min", f(1.0)}, {"max", f(-1.0)}});
    for (DType dt : t.schema.dtypes)
      if (isInteger(dt)) t.addIn(dt, "int_bounds", {T({3, 5}, d)}, {{"min", f(-2.5)}, {"max", f(3.5)}});
  } else if (op == "leaky_relu") {
    t.add("alpha", {T({3, 5}, d)}, {{"alpha", f(0.2)}});
  } else if (op == "gelu") {
    t.add("tanh", {T({3, 5}, d)}, {{"approximate", s("tanh")}});
    t.add("tanh.large", {T({129, 257}, range(-6, 6))}, {{"approximate", s("tanh")}});
  } else if (op == "exp" || op == "sigmoid" || op == "tanh" || op == "silu" || op == "erf") {
    t.add("wide", {T({5, 41}, range(-30, 30))});
  }
  if (isFloat(t.main())) {
    // NaN propagates and infinities follow IEEE (docs/ir.md).
    t.add("nonfinite", {T({9, 33}, nonFinite())});
    if (op == "clip") t.add("nonfinite.min_max", {T({9, 33}, nonFinite())}, {{"min", f(-0.5)}, {"max", f(0.5)}});
    if (op == "leaky_relu") t.add("nonfinite.alpha0", {T({9, 33}, nonFinite())}, {{"alpha", f(0.0)}});
  }
}

void binaryDomains(const std::string& op, Domain& a, Domain& b) {
  a = b = dflt();
  if (op == "div" || op == "mod") b = nonZero();
  if (op == "pow") {
    a = range(0.5, 2);
    b = range(-2, 2);
  }
  if (op == "equal" || op == "greater" || op == "greater_equal" || op == "less" || op == "less_equal" ||
      op == "maximum" || op == "minimum")
    a = b = ties();
}

void binaryCases(Table& t) {
  const std::string& op = t.schema.name;
  Domain a, b;
  binaryDomains(op, a, b);
  if (op == "pow") {
    // Integer pow: small bases, non-negative exponents (plus the documented negative rule).
    for (DType dt : t.schema.dtypes) {
      if (isInteger(dt)) t.addIn(dt, "basic", {T({3, 5}, range(-3, 3)), T({3, 5}, range(-1, 4))});
      else t.addIn(dt, "basic", {T({3, 5}, a), T({3, 5}, b)});
    }
  } else {
    t.basic({T({3, 5}, a), T({3, 5}, b)});
  }
  t.add("broadcast", {T({3, 1, 4}, a), T({5, 4}, b)});
  t.add("broadcast_both", {T({4, 1}, a), T({1, 6}, b)});
  t.add("scalar_lhs", {T({}, a), T({2, 3}, b)});
  t.add("scalar_rhs", {T({2, 3}, a), T({}, b)});
  t.add("scalars", {T({}, a), T({}, b)});
  t.add("empty", {T({0, 4}, a), T({4}, b)});
  t.add("large", {T({33, 1031}, a), T({33, 1031}, b)});
  for (DType dt : t.schema.dtypes)
    if (isInteger(dt) && op != "pow") t.addIn(dt, "broadcast", {T({3, 1, 4}, a), T({5, 4}, b)});
  if (op == "mod") {
    t.add("fmod", {T({3, 5}, a), T({3, 5}, b)}, {{"fmod", i(1)}});
    for (DType dt : t.schema.dtypes)
      if (isInteger(dt)) t.addIn(dt, "fmod", {T({3, 5}, a), T({3, 5}, b)}, {{"fmod", i(1)}});
  }
  if (op == "div") t.add("inf", {T({2, 3}, a), C(DType::F32, {0, -0.0, 1}, Shape{3})});
  if (isFloat(t.main()) && t.schema.outputNames.size() == 1)
    t.add("nonfinite", {T({9, 33}, nonFinite()), T({9, 33}, nonFinite())});
}

void reduceCases(Table& t) {
  const std::string& op = t.schema.name;
  if (op == "softmax" || op == "log_softmax") {
    t.basic({T({3, 5})});
    t.add("axis0", {T({3, 5})}, {{"axis", i(0)}});
    t.add("axis1_rank3", {T({2, 3, 4})}, {{"axis", i(1)}});
    t.add("axis_neg2", {T({2, 3, 4})}, {{"axis", i(-2)}});
    t.add("wide", {T({4, 9}, range(-40, 40))});
    t.add("large", {T({16, 1031}, range(-8, 8))});
    // Rows with NaN, +inf, -inf; and rows of only -inf (Note [softmax of non-finite rows] in the cpu plugin).
    t.add("nonfinite", {T({16, 9}, nonFinite())});
    t.add("nonfinite.axis0", {T({9, 16}, nonFinite())}, {{"axis", i(0)}});
    t.add("all_minus_inf", {V(DType::F32, {2, 3}, {-INFINITY, -INFINITY, -INFINITY, 1, -INFINITY, 2})});
    return;
  }
  if (op == "top_k") {
    // k a constant (static output size) or a run-time input (size known only when it runs).
    t.basic({T({3, 5}), C(DType::I64, {2})}, {}, 2);
    t.add("runtime_k", {T({3, 5}), V(DType::I64, {1}, {3})}, {}, 2);
    t.add("smallest_axis0_ties", {T({6, 4}, ties()), V(DType::I64, {}, {4})}, {{"axis", i(0)}, {"largest", i(0)}}, 2);
    t.add("ties_all", {T({2, 9}, ties()), C(DType::I32, {9})}, {}, 2);
    t.add("k0", {T({3, 4}), V(DType::I64, {1}, {0})}, {}, 2);
    t.add("large", {T({8, 1031}), V(DType::I64, {1}, {17})}, {{"axis", i(1)}}, 2);
    return;
  }
  if (op == "argmax" || op == "argmin") {
    t.basic({T({3, 4, 5}, ties())});
    t.add("axis_neg1_keepdims0", {T({3, 4, 5}, ties())}, {{"axis", i(-1)}, {"keepdims", i(0)}});
    t.add("select_last_index", {T({3, 4, 5}, ties())}, {{"axis", i(1)}, {"select_last_index", i(1)}});
    t.add("vector", {T({17})});
    t.add("large", {T({32, 1031})}, {{"axis", i(1)}});
    return;
  }
  const Domain d = op == "reduce_prod" ? nearOne() : dflt();
  t.basic({T({3, 4, 5}, d)});
  t.add("axis1", {T({3, 4, 5}, d)}, {{"axes", ints({1})}});
  t.add("axis_neg1_keepdims0", {T({3, 4, 5}, d)}, {{"axes", ints({-1})}, {"keepdims", i(0)}});
  t.add("axes02", {T({3, 4, 5}, d)}, {{"axes", ints({0, 2})}});
  t.add("all_keepdims0", {T({3, 4, 5}, d)}, {{"keepdims", i(0)}});
  t.add("noop_empty_axes", {T({3, 4}, d)}, {{"noop_with_empty_axes", i(1)}});
  t.add("scalar", {T({}, d)});
  t.add("empty_kept", {T({0, 3}, d)}, {{"axes", ints({1})}});
  t.add("empty_reduced", {T({0, 3}, d)}, {{"axes", ints({0})}});
  t.add("large", {T({64, 1031}, d)}, {{"axes", ints({1})}});
  // Axes as the optional input (Note [run-time axes] in core/src/ops/reduction.cpp): known at compile time, or
  // only when the op runs (a plugin may decline the latter).
  t.add("axes_input_const", {T({3, 4, 5}, d), C(DType::I64, {0, -1})}, {{"keepdims", i(0)}});
  t.add("axes_input_runtime", {T({3, 4, 5}, d), V(DType::I64, {2}, {2, 0})});
  t.add("axes_input_runtime_keepdims0", {T({3, 4, 5}, d), V(DType::I64, {1}, {-2})}, {{"keepdims", i(0)}});
  t.add("axes_input_runtime_empty_noop", {T({3, 4}, d), V(DType::I64, {0}, {})}, {{"noop_with_empty_axes", i(1)}});
  t.add("axes_input_runtime_empty_all", {T({3, 4}, d), V(DType::I64, {0}, {})}, {{"keepdims", i(0)}});
  if (isFloat(t.main())) t.add("nonfinite", {T({9, 33}, nonFinite())}, {{"axes", ints({1})}});
  for (DType dt : t.schema.dtypes)
    if (isInteger(dt)) t.addIn(dt, "axis_neg1_keepdims0", {T({3, 4, 5}, d)}, {{"axes", ints({-1})}, {"keepdims", i(0)}});
}

void whereCases(Table& t) {
  for (DType dt : {DType::F32, DType::F16, DType::BF16, DType::I8, DType::I32, DType::I64, DType::Bool})
    t.addIn(DType::Bool, std::string("x_") + std::string(dtypeName(dt)), {T({3, 5}), F(dt, {3, 5}), F(dt, {3, 5})});
  t.add("broadcast", {T({3, 1}), F(DType::F32, {1, 5}), F(DType::F32, {})});
  t.add("scalar_cond", {T({}), F(DType::F32, {2, 3}), F(DType::F32, {2, 3})});
  t.add("empty", {T({0, 3}), F(DType::F32, {0, 3}), F(DType::F32, {3})});
  t.add("large", {T({33, 1031}), F(DType::F32, {33, 1031}), F(DType::F32, {1031})});
}

void nnCases(Table& t) {
  const std::string& op = t.schema.name;
  if (op == "non_max_suppression") {
    // Corner boxes drawn in [0, 4] (coordinates in either order), scores in [0, 1].
    t.basic({T({1, 8, 4}, range(0, 4)), T({1, 2, 8}, range(0, 1)), C(DType::I64, {3}), C(DType::F32, {0.3})});
    t.add("score_threshold", {T({1, 10, 4}, range(0, 4)), T({1, 3, 10}, range(0, 1)), V(DType::I64, {1}, {10}),
                              V(DType::F32, {1}, {0.5}), V(DType::F32, {1}, {0.4})});
    t.add("center_two_batches", {T({2, 6, 4}, range(0.5, 3)), T({2, 1, 6}, range(0, 1)), C(DType::I64, {4}),
                                 C(DType::F32, {0.2})},
          {{"center_point_box", i(1)}});
    t.add("no_limit_input", {T({1, 4, 4}, range(0, 4)), T({1, 1, 4}, range(0, 1))});
    return;
  }
  if (op == "roi_align") {
    const std::vector<double> rois{0, 0, 3, 3, 1, 1, 5, 4, 2.5, 0.5, 4, 5.5, -1, 2, 7, 6};
    t.basic({T({1, 2, 6, 6}), VT({4, 4}, rois), V(DType::I64, {4}, {0, 0, 0, 0})},
            {{"output_height", i(2)}, {"output_width", i(3)}});
    t.add("max_output_half_pixel",
          {T({2, 3, 5, 7}), VT({4, 4}, rois), V(DType::I64, {4}, {1, 0, 1, 0})},
          {{"mode", s("max")}, {"coordinate_transformation_mode", s("output_half_pixel")}, {"sampling_ratio", i(2)},
           {"output_height", i(3)}, {"output_width", i(2)}, {"spatial_scale", f(0.5)}});
    t.add("adaptive_scale", {T({1, 4, 16, 16}), VT({4, 4}, rois), V(DType::I64, {4}, {0, 0, 0, 0})},
          {{"output_height", i(4)}, {"output_width", i(4)}, {"spatial_scale", f(2.0)}});
    return;
  }
  if (op == "matmul") {
    t.basic({T({3, 4}, ties()), T({4, 5}, ties())});
    t.add("vec_mat", {T({4}), T({4, 5})});
    t.add("mat_vec", {T({3, 4}), T({4})});
    t.add("vec_vec", {T({4}), T({4})});
    t.add("batch", {T({2, 3, 4}), T({4, 5})});
    t.add("broadcast_batch", {T({2, 1, 3, 4}), T({5, 4, 6})});
    t.add("odd", {T({7, 13}), T({13, 5})});
    t.add("large", {T({64, 128}), T({128, 96})});
    t.add("empty_m", {T({0, 4}), T({4, 3})});
    t.add("empty_k", {T({3, 0}), T({0, 4})});
    t.add("nonfinite", {T({6, 8}, nonFinite()), T({8, 5})});
    for (DType dt : t.schema.dtypes)
      if (isInteger(dt)) t.addIn(dt, "batch", {T({2, 3, 4}, ties()), T({4, 5}, ties())});
  } else if (op == "gemm") {
    t.basic({T({3, 4}), T({4, 5}), T({5})});
    t.add("trans", {T({4, 3}), T({5, 4}), T({3, 5})}, {{"transA", i(1)}, {"transB", i(1)}});
    t.add("alpha_beta", {T({3, 4}), T({4, 5}), T({3, 1})}, {{"alpha", f(0.5)}, {"beta", f(2.0)}});
    t.add("no_c", {T({3, 4}), T({4, 5})});
    t.add("scalar_c", {T({3, 4}), T({4, 5}), T({})});
    t.add("large", {T({64, 96}), T({96, 80}), T({80})});
  } else if (op == "conv") {
    t.basic({T({1, 2, 6, 6}), T({4, 2, 3, 3}), T({4})});
    t.add("strides_pads", {T({1, 2, 7, 7}), T({4, 2, 3, 3}), T({4})}, {{"strides", ints({2, 2})}, {"pads", ints({1, 1, 1, 1})}});
    t.add("asymmetric_pads", {T({1, 2, 5, 6}), T({3, 2, 3, 2})}, {{"pads", ints({0, 1, 2, 1})}});
    t.add("group", {T({1, 4, 5, 5}), T({4, 2, 3, 3}), T({4})}, {{"group", i(2)}});
    t.add("depthwise", {T({2, 3, 5, 5}), T({3, 1, 3, 3})}, {{"group", i(3)}});
    t.add("dilations", {T({1, 2, 7, 7}), T({2, 2, 3, 3})}, {{"dilations", ints({2, 2})}});
    t.add("same_lower", {T({1, 2, 7, 7}), T({2, 2, 3, 3})}, {{"auto_pad", s("SAME_LOWER")}, {"strides", ints({2, 2})}});
    t.add("same_upper", {T({1, 2, 6, 6}), T({2, 2, 4, 4})}, {{"auto_pad", s("SAME_UPPER")}});
    t.add("valid", {T({1, 2, 6, 6}), T({2, 2, 3, 3})}, {{"auto_pad", s("VALID")}, {"strides", ints({2, 2})}});
    t.add("conv1d", {T({2, 3, 10}), T({4, 3, 3})});
    t.add("conv3d", {T({1, 2, 4, 4, 4}), T({2, 2, 2, 2, 2}), T({2})});
    t.add("large", {T({2, 16, 16, 16}), T({16, 16, 3, 3}), T({16})}, {{"pads", ints({1, 1, 1, 1})}});
    t.add("nonfinite", {T({1, 2, 6, 6}, nonFinite()), T({4, 2, 3, 3}), T({4})});
  } else if (op == "lstm" || op == "gru" || op == "rnn") {
    // x [seq 4, batch 3, input 5], hidden 6; an empty constant is an absent optional input.
    const int64_t g = op == "lstm" ? 4 : op == "gru" ? 3 : 1, h = 6;
    const int outs = op == "lstm" ? 3 : 2;
    const In absent = CT({}, Shape{0});
    const In lens = C(DType::I32, {4, 2, 3});
    auto w = [&](int64_t d) { return T({d, g * h, 5}, range(-0.5, 0.5)); };
    auto r = [&](int64_t d) { return T({d, g * h, h}, range(-0.5, 0.5)); };
    auto b = [&](int64_t d) { return T({d, 2 * g * h}, range(-0.5, 0.5)); };
    auto st = [&](int64_t d) { return T({d, 3, h}); };
    t.basic({T({4, 3, 5}), w(1), r(1), b(1)}, {}, outs);
    t.add("no_bias", {T({4, 3, 5}), w(1), r(1)}, {}, outs);
    std::vector<In> full = {T({4, 3, 5}), w(2), r(2), b(2), lens, st(2)};
    if (op == "lstm") {
      full.push_back(st(2));
      full.push_back(T({2, 3 * h}, range(-0.5, 0.5)));
    }
    t.add("bidirectional_lens_states", full, {{"direction", s("bidirectional")}}, outs);
    t.add("reverse_absent_bias", {T({4, 3, 5}), w(1), r(1), absent, lens}, {{"direction", s("reverse")}}, outs);
    t.add("batch_first", {T({3, 4, 5}), w(1), r(1), b(1)}, {{"layout", i(1)}}, outs);
    t.add("clip", {T({4, 3, 5}, range(-4, 4)), w(1), r(1), b(1)}, {{"clip", f(0.75)}}, outs);
    if (op == "gru") t.add("linear_before_reset", {T({4, 3, 5}), w(1), r(1), b(1)}, {{"linear_before_reset", i(1)}}, outs);
    if (op == "lstm") t.add("input_forget", {T({4, 3, 5}), w(1), r(1), b(1)}, {{"input_forget", i(1)}}, outs);
    t.add("large", {T({16, 8, 32}), T({1, g * 64, 32}, range(-0.2, 0.2)), T({1, g * 64, 64}, range(-0.2, 0.2)),
                    T({1, 2 * g * 64}, range(-0.2, 0.2))}, {}, outs);
  } else if (op == "conv_transpose") {
    t.basic({T({1, 2, 4, 4}), T({2, 3, 3, 3}), T({3})});
    t.add("strides_output_padding", {T({1, 2, 3, 3}), T({2, 2, 3, 3})}, {{"strides", ints({2, 2})}, {"output_padding", ints({1, 1})}});
    t.add("pads", {T({1, 2, 4, 4}), T({2, 2, 3, 3})}, {{"pads", ints({1, 1, 1, 1})}});
    t.add("group", {T({1, 4, 3, 3}), T({4, 1, 3, 3})}, {{"group", i(2)}});
    t.add("dilations", {T({1, 2, 4, 4}), T({2, 2, 2, 2})}, {{"dilations", ints({2, 2})}});
    t.add("output_shape", {T({1, 2, 4, 4}), T({2, 2, 3, 3})}, {{"strides", ints({2, 2})}, {"output_shape", ints({10, 10})}});
    t.add("conv1d", {T({1, 2, 5}), T({2, 2, 3})});
  } else if (op == "max_pool" || op == "avg_pool") {
    const Domain d = op == "max_pool" ? ties() : dflt();
    t.basic({T({1, 2, 7, 7}, d)}, {{"kernel_shape", ints({3, 3})}});
    t.add("strides_pads", {T({1, 2, 7, 7}, d)}, {{"kernel_shape", ints({3, 3})}, {"strides", ints({2, 2})}, {"pads", ints({1, 1, 1, 1})}});
    t.add("ceil_mode", {T({1, 2, 7, 7}, d)}, {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}, {"ceil_mode", i(1)}});
    t.add("same_upper", {T({1, 2, 7, 7}, d)}, {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}, {"auto_pad", s("SAME_UPPER")}});
    t.add("same_lower", {T({1, 2, 6, 6}, d)}, {{"kernel_shape", ints({3, 3})}, {"auto_pad", s("SAME_LOWER")}});
    t.add("dilations", {T({1, 2, 7, 7}, d)}, {{"kernel_shape", ints({2, 2})}, {"dilations", ints({2, 2})}});
    t.add("pool1d", {T({2, 3, 9}, d)}, {{"kernel_shape", ints({3})}, {"strides", ints({2})}});
    t.add("pool3d", {T({1, 2, 4, 4, 4}, d)}, {{"kernel_shape", ints({2, 2, 2})}});
    t.add("nonfinite", {T({1, 2, 7, 7}, nonFinite())}, {{"kernel_shape", ints({3, 3})}});
    t.add("nonfinite.large", {T({2, 16, 15, 15}, nonFinite())},
          {{"kernel_shape", ints({3, 3})}, {"strides", ints({2, 2})}, {"pads", ints({1, 1, 1, 1})}});
    if (op == "avg_pool")
      t.add("count_include_pad", {T({1, 2, 6, 6})},
            {{"kernel_shape", ints({3, 3})}, {"pads", ints({1, 1, 1, 1})}, {"count_include_pad", i(1)}});
  } else if (op == "global_avg_pool" || op == "global_max_pool") {
    t.basic({T({2, 3, 5, 5}, ties())});
    t.add("pool1d", {T({1, 2, 7})});
    t.add("pool3d", {T({1, 2, 3, 3, 3})});
    t.add("large", {T({2, 8, 31, 33})});
    t.add("nonfinite", {T({2, 16, 5, 5}, nonFinite())});
  }
}

void normalizationCases(Table& t) {
  const std::string& op = t.schema.name;
  if (op == "batch_norm") {
    t.basic({T({2, 3, 4, 4}), T({3}), T({3}), T({3}), T({3}, positive())});
    t.add("epsilon", {T({2, 3, 4, 4}), T({3}), T({3}), T({3}), T({3}, positive())}, {{"epsilon", f(1e-3)}});
    t.add("rank2", {T({4, 3}), T({3}), T({3}), T({3}), T({3}, positive())});
  } else if (op == "instance_norm") {
    t.basic({T({2, 3, 5, 4}), T({3}), T({3})});
    t.add("rank3", {T({2, 3, 7}), T({3}), T({3})});
    t.add("epsilon", {T({2, 3, 5, 4}), T({3}), T({3})}, {{"epsilon", f(0.1)}});
  } else if (op == "layer_norm") {
    t.basic({T({2, 3, 8}), T({8}), T({8})});
    t.add("axis1", {T({2, 3, 8}), T({3, 8}), T({3, 8})}, {{"axis", i(1)}});
    t.add("axis_neg2", {T({2, 3, 8}), T({3, 8}), T({8})}, {{"axis", i(-2)}});
    t.add("no_bias", {T({4, 8}), T({8})});
    t.add("large", {T({8, 1031}), T({1031}), T({1031})}, {{"epsilon", f(1e-3)}});
  }
}

constexpr DType I64 = DType::I64;

void shapeCases(Table& t) {
  const std::string& op = t.schema.name;
  // Output sizes that depend on values (Note [data-dependent output sizes] in core/src/ops/dynamic.cpp).
  if (op == "non_zero") {
    t.basic({T({3, 4}, ties())});
    t.add("rank3", {T({2, 3, 4}, ties())});
    t.add("all_zero", {VT({2, 2}, {0, 0, 0, 0})});
    t.add("empty", {T({0, 3})});
    return;
  }
  if (op == "compress") {
    t.basic({T({4, 3}), V(DType::Bool, {4}, {1, 0, 1, 1})}, {{"axis", i(0)}});
    t.add("flattened_short", {T({2, 3}), V(DType::Bool, {5}, {0, 1, 1, 0, 1})});
    t.add("axis_neg1_short", {T({2, 4}), V(DType::Bool, {2}, {0, 1})}, {{"axis", i(-1)}});
    t.add("none_kept", {T({3, 2}), V(DType::Bool, {3}, {0, 0, 0})}, {{"axis", i(0)}});
    return;
  }
  if (op == "unique") {
    t.basic({T({12}, ties())}, {}, 4);
    t.add("unsorted", {T({10}, ties())}, {{"sorted", i(0)}}, 4);
    t.add("axis0", {VT({4, 2}, {1, 2, 0, 1, 1, 2, 0, 0})}, {{"axis", i(0)}}, 4);
    t.add("axis_neg1_rank3", {VT({2, 3, 2}, {1, 1, 0, 2, 2, 0, 3, 3, 1, 1, 4, 4})}, {{"axis", i(-1)}}, 4);
    t.add("values_only", {T({3, 4}, ties())}, {}, 1);
    return;
  }
  if (op == "identity") {
    t.basic({T({3, 5})});
    t.add("scalar", {T({})});
    t.add("empty", {T({0, 3})});
  } else if (op == "concat") {
    t.basic({T({2, 3}), T({1, 3})}, {{"axis", i(0)}});
    t.add("three_neg_axis", {T({2, 1}), T({2, 3}), T({2, 2})}, {{"axis", i(-1)}});
    t.add("empty_input", {T({0, 3}), T({2, 3})}, {{"axis", i(0)}});
    t.add("single", {T({2, 3})}, {{"axis", i(1)}});
    t.add("rank3_axis1", {T({2, 3, 4}), T({2, 5, 4})}, {{"axis", i(1)}});
  } else if (op == "constant") {
    for (DType dt : t.schema.dtypes) {
      Tensor v = drawTensor(dt, {2, 3}, ties(), hashString("constant") + static_cast<uint64_t>(dt));
      t.addIn(dt, "basic", {}, {{"value", Attribute(v)}});
    }
    t.add("scalar", {}, {{"value", Attribute(Tensor::scalarF32(2.5f))}});
    t.add("empty", {}, {{"value", Attribute(*Tensor::allocate(DType::F32, {0, 2}))}});
  } else if (op == "constant_of_shape") {
    t.addIn(I64, "f32", {C(I64, {2, 3})}, {{"value", Attribute(*Tensor::fromDoubles(DType::F32, {1}, {1.5}))}});
    t.addIn(I64, "i32", {C(I64, {4})}, {{"value", Attribute(*Tensor::fromInts(DType::I32, {1}, {7}))}});
    t.addIn(I64, "bool", {C(I64, {2, 2})}, {{"value", Attribute(*Tensor::fromInts(DType::Bool, {1}, {1}))}});
    t.addIn(I64, "default", {C(I64, {3, 1, 2})});
    t.addIn(I64, "scalar", {C(I64, {}, Shape{0})}, {{"value", Attribute(*Tensor::fromDoubles(DType::F32, {1}, {3}))}});
    t.addIn(I64, "empty", {C(I64, {0, 3})});
  } else if (op == "expand") {
    t.basic({T({3, 1}), C(I64, {2, 3, 4})});
    t.add("from_1", {T({1}), C(I64, {5})});
    t.add("bidirectional", {T({1, 4}), C(I64, {3, 1})});
    t.add("scalar", {T({}), C(I64, {2, 2})});
  } else if (op == "flatten") {
    t.basic({T({2, 3, 4, 5})});
    t.add("axis0", {T({2, 3, 4})}, {{"axis", i(0)}});
    t.add("axis_neg1", {T({2, 3, 4})}, {{"axis", i(-1)}});
    t.add("axis_rank", {T({2, 3, 4})}, {{"axis", i(3)}});
    t.add("scalar", {T({})}, {{"axis", i(0)}});
  } else if (op == "gather") {
    t.basic({T({5, 4}), V(I64, {3}, {0, 4, -1})});
    t.add("axis1", {T({3, 5}), V(I64, {4}, {1, -2, 0, 4})}, {{"axis", i(1)}});
    t.add("axis_neg1", {T({2, 3, 4}), V(I64, {2}, {3, 0})}, {{"axis", i(-1)}});
    t.add("scalar_index", {T({5, 4}), V(I64, {}, {2})});
    t.add("indices_2d", {T({6, 3}), V(I64, {2, 2}, {0, 5, -6, 3})});
    t.add("empty_indices", {T({5, 4}), V(I64, {0}, {})});
  } else if (op == "cumsum") {
    t.basic({T({3, 5}), V(I64, {}, {1})});
    t.add("axis0_i32", {T({4, 3}), V(DType::I32, {1}, {0})});
    t.add("exclusive", {T({2, 6}), V(I64, {}, {-1})}, {{"exclusive", i(1)}});
    t.add("reverse", {T({2, 3, 4}), V(I64, {}, {1})}, {{"reverse", i(1)}});
    t.add("reverse_exclusive", {T({7}), V(I64, {}, {0})}, {{"reverse", i(1)}, {"exclusive", i(1)}});
    t.add("empty", {T({0, 3}), V(I64, {}, {1})});
  } else if (op == "gather_elements") {
    t.basic({T({3, 4}), V(I64, {2, 4}, {0, 2, -1, 1, 2, 0, 1, -3})});
    t.add("axis1", {T({3, 4}), V(I64, {3, 2}, {3, 0, -4, 1, 2, 2})}, {{"axis", i(1)}});
    t.add("smaller_dims", {T({2, 3, 4}), V(DType::I32, {1, 2, 3}, {1, 0, -1, 2, 3, 0})}, {{"axis", i(-1)}});
    t.add("empty", {T({3, 4}), V(I64, {0, 4}, {})});
  } else if (op == "scatter_elements") {
    t.basic({T({3, 4}), V(I64, {2, 4}, {0, 2, -1, 1, 2, 0, 1, -3}), T({2, 4})});
    t.add("axis1_add", {T({3, 4}), V(I64, {3, 2}, {3, 3, -4, 1, 2, 2}), T({3, 2})},
          {{"axis", i(1)}, {"reduction", s("add")}});
    t.add("mul", {T({3, 4}), V(I64, {1, 4}, {0, 1, 2, 0}), T({1, 4})}, {{"reduction", s("mul")}});
    t.add("max", {T({3, 4}), V(I64, {2, 2}, {1, 1, 1, 1}), T({2, 2})}, {{"reduction", s("max")}});
    t.add("min_i32_indices", {T({3, 4}), V(DType::I32, {2, 2}, {2, 0, 2, 0}), T({2, 2})}, {{"reduction", s("min")}});
  } else if (op == "gather_nd") {
    t.basic({T({3, 4}), V(I64, {2, 2}, {0, 1, -1, 3})});
    t.add("slices", {T({3, 4, 2}), V(I64, {2, 1}, {2, -3})});
    t.add("batch_dims", {T({2, 3, 4}), V(DType::I32, {2, 2, 1}, {0, 2, -1, 1})}, {{"batch_dims", i(1)}});
    t.add("empty", {T({3, 4}), V(I64, {0, 2}, {})});
  } else if (op == "scatter_nd") {
    t.basic({T({4, 3}), V(I64, {2, 1}, {3, -4}), T({2, 3})});
    t.add("elements_add", {T({3, 4}), V(I64, {3, 2}, {0, 1, 0, 1, -1, 3}), T({3})}, {{"reduction", s("add")}});
    t.add("mul", {T({2, 3, 2}), V(DType::I32, {1, 2}, {1, 2}), T({1, 2})}, {{"reduction", s("mul")}});
  } else if (op == "pad") {
    t.basic({T({3, 4}), C(I64, {1, 2, 0, 1})});
    t.add("constant_value", {T({3, 4}), C(I64, {0, 1, 2, 0}), CT({1.5}, Shape{})});
    t.add("reflect", {T({3, 4}), C(I64, {1, 2, 1, 1})}, {{"mode", s("reflect")}});
    t.add("edge", {T({3, 4}), C(I64, {2, 0, 1, 3})}, {{"mode", s("edge")}});
    t.add("negative", {T({3, 4}), C(I64, {-1, 0, 0, 1})});
    t.add("rank3", {T({2, 3, 4}), C(I64, {0, 1, 0, 0, 1, 2})});
  } else if (op == "range") {
    for (DType dt : t.schema.dtypes) t.addIn(dt, "basic", {CT({0}, Shape{}), CT({10}, Shape{}), CT({3}, Shape{})});
    t.add("fractional", {CT({0.5}, Shape{}), CT({4.1}, Shape{}), CT({0.7}, Shape{})});
    t.add("negative_delta", {CT({10}, Shape{}), CT({2}, Shape{}), CT({-2}, Shape{})});
    t.add("empty", {CT({5}, Shape{}), CT({5}, Shape{}), CT({1}, Shape{})});
    // start/limit/delta known only when it runs: the output length is computed then.
    t.add("runtime_inputs", {V(DType::F32, {}, {1}), V(DType::F32, {}, {7.5}), V(DType::F32, {}, {1.5})});
    t.addIn(DType::I64, "runtime_inputs_negative_delta",
            {V(DType::I64, {}, {10}), V(DType::I64, {}, {-3}), V(DType::I64, {}, {-4})});
  } else if (op == "reshape") {
    t.basic({T({2, 3, 4}), C(I64, {4, -1})});
    t.add("copy_dim", {T({2, 3, 4}), C(I64, {0, 12})});
    t.add("flatten_all", {T({2, 3, 4}), C(I64, {-1})});
    t.add("allowzero", {T({0, 3}), C(I64, {3, 0})}, {{"allowzero", i(1)}});
    t.add("to_scalar", {T({1, 1}), C(I64, {}, Shape{0})});
    t.add("from_scalar", {T({}), C(I64, {1, 1, 1})});
  } else if (op == "resize") {
    const In scales = C(DType::F32, {1, 1, 2, 2});
    t.basic({T({1, 1, 4, 4}), scales});
    t.add("linear", {T({1, 1, 4, 4}), scales}, {{"mode", s("linear")}});
    t.add("linear_sizes", {T({1, 2, 4, 4}), C(I64, {1, 2, 3, 5})}, {{"mode", s("linear")}});
    t.add("align_corners", {T({1, 1, 3, 4}), scales}, {{"mode", s("linear")}, {"coordinate_transformation_mode", s("align_corners")}});
    t.add("pytorch_half_pixel", {T({1, 1, 4, 4}), C(I64, {1, 1, 1, 3})},
          {{"mode", s("linear")}, {"coordinate_transformation_mode", s("pytorch_half_pixel")}});
    t.add("asymmetric_floor", {T({1, 1, 3, 3}), C(DType::F32, {1, 1, 1.5, 2.5})},
          {{"coordinate_transformation_mode", s("asymmetric")}, {"nearest_mode", s("floor")}});
    t.add("round_prefer_ceil", {T({1, 1, 4, 4}), C(I64, {1, 1, 6, 3})}, {{"nearest_mode", s("round_prefer_ceil")}});
    t.add("nearest_ceil", {T({2, 5}), C(DType::F32, {1, 0.6})}, {{"nearest_mode", s("ceil")}});
    t.add("cubic", {T({1, 1, 4, 4}), scales}, {{"mode", s("cubic")}});
    t.add("cubic_down_sizes", {T({1, 2, 6, 5}), C(I64, {1, 2, 4, 3})}, {{"mode", s("cubic")}});
    t.add("cubic_exclude_outside_a05", {T({1, 1, 4, 4}), C(DType::F32, {1, 1, 1.5, 0.75})},
          {{"mode", s("cubic")}, {"cubic_coeff_a", f(-0.5)}, {"exclude_outside", i(1)}});
    t.add("cubic_align_corners", {T({1, 1, 3, 4}), scales},
          {{"mode", s("cubic")}, {"coordinate_transformation_mode", s("align_corners")}});
    t.add("tf_half_pixel_for_nn", {T({1, 1, 4, 4}), C(I64, {1, 1, 3, 2})},
          {{"coordinate_transformation_mode", s("tf_half_pixel_for_nn")}});
    // A window reaching past the input: outputs there take the extrapolation value.
    t.add("tf_crop_and_resize", {T({1, 1, 4, 5}), C(I64, {1, 1, 3, 4})},
          {{"mode", s("linear")}, {"coordinate_transformation_mode", s("tf_crop_and_resize")},
           {"roi", Attribute(std::vector<double>{0, 0, 0.2, -0.3, 1, 1, 0.9, 1.2})}, {"extrapolation_value", f(-7)}});
    t.add("tf_crop_and_resize_roi_input", {T({1, 1, 4, 5}), C(I64, {1, 1, 3, 4}), V(DType::F32, {8}, {0, 0, 0.2, -0.3, 1, 1, 0.9, 1.2})},
          {{"mode", s("linear")}, {"coordinate_transformation_mode", s("tf_crop_and_resize")}, {"extrapolation_value", f(-7)}});
  } else if (op == "grid_sample") {
    // Grid points beyond [-1, 1] exercise the padding modes.
    const In grid = T({2, 3, 5, 2}, range(-1.3, 1.3));
    t.basic({T({2, 3, 4, 6}), grid});
    for (const char* mode : {"bilinear", "nearest", "bicubic"})
      for (const char* pad : {"zeros", "border", "reflection"})
        for (int64_t ac : {0, 1})
          t.add(std::string(mode) + "_" + pad + (ac ? "_align_corners" : ""), {T({2, 3, 4, 6}), grid},
                {{"mode", s(mode)}, {"padding_mode", s(pad)}, {"align_corners", i(ac)}});
  } else if (op == "shape") {
    t.basic({T({2, 3, 4})});
    t.add("start", {T({2, 3, 4})}, {{"start", i(1)}});
    t.add("end_neg", {T({2, 3, 4})}, {{"end", i(-1)}});
    t.add("clamped", {T({2, 3, 4})}, {{"start", i(-2)}, {"end", i(10)}});
    t.add("scalar", {T({})});
  } else if (op == "slice") {
    t.basic({T({5, 6}), C(I64, {1, 0}), C(I64, {4, 6})});
    t.add("axes_steps", {T({5, 6}), C(I64, {1}), C(I64, {6}), C(I64, {1}), C(I64, {2})});
    t.add("negative_step", {T({5, 6}), C(I64, {-1}), C(I64, {-1000}), C(I64, {0}), C(I64, {-1})});
    t.add("clamped", {T({5, 6}), C(I64, {2}), C(I64, {100}), C(I64, {-1})});
    t.add("negative_index", {T({2, 5, 3}), C(I64, {-4}), C(I64, {-1}), C(I64, {1})});
    t.add("empty_result", {T({5, 6}), C(I64, {3}), C(I64, {3}), C(I64, {0})});
  } else if (op == "split") {
    t.basic({T({6, 4})}, {}, 3);
    t.add("sizes", {T({6, 4}), C(I64, {1, 2, 3})}, {}, 3);
    t.add("uneven_neg_axis", {T({3, 5})}, {{"axis", i(-1)}}, 2);
    t.add("single", {T({3, 4})}, {{"axis", i(1)}}, 1);
  } else if (op == "squeeze") {
    t.basic({T({1, 3, 1, 4})});
    t.add("axis0", {T({1, 3, 1, 4})}, {{"axes", ints({0})}});
    t.add("axis_neg2", {T({1, 3, 1, 4})}, {{"axes", ints({-2})}});
    t.add("to_scalar", {T({1, 1})});
    t.add("axes_input_const", {T({1, 3, 1, 4}), C(DType::I64, {2})});
    t.add("axes_input_runtime", {T({1, 3, 1, 4}), V(DType::I64, {2}, {-2, 0})});
  } else if (op == "tile") {
    t.basic({T({2, 3}), C(I64, {2, 1})});
    t.add("rank3", {T({1, 2, 3}), C(I64, {2, 2, 1})});
    t.add("zero_repeat", {T({2, 3}), C(I64, {0, 2})});
  } else if (op == "transpose") {
    t.basic({T({2, 3, 4})});
    t.add("perm102", {T({2, 3, 4})}, {{"perm", ints({1, 0, 2})}});
    t.add("perm201", {T({2, 3, 4})}, {{"perm", ints({2, 0, 1})}});
    t.add("rank4", {T({2, 3, 4, 5})}, {{"perm", ints({0, 2, 3, 1})}});
    t.add("large", {T({64, 129})}, {{"perm", ints({1, 0})}});
    t.add("empty", {T({0, 3})});
  } else if (op == "unsqueeze") {
    t.basic({T({3, 4})}, {{"axes", ints({0})}});
    t.add("axis_neg1", {T({3, 4})}, {{"axes", ints({-1})}});
    t.add("two_axes", {T({3, 4})}, {{"axes", ints({0, 3})}});
    t.add("scalar", {T({})}, {{"axes", ints({0})}});
    t.add("axes_input_const", {T({3, 4}), C(DType::I64, {1})});
    t.add("axes_input_runtime", {T({3, 4}), V(DType::I64, {2}, {3, 0})});
  }
}

void controlCases(Table& t) {
  const std::string& op = t.schema.name;
  if (op == "if") {
    auto body = [](GraphBuilder& b, const std::vector<Value*>& ins) {
      Node* n = b.beginIf(ins[0]);
      b.enter(n->block(0));
      b.yield({b.op("relu", {ins[1]})});
      b.exit();
      b.enter(n->block(1));
      b.yield({b.op("neg", {ins[1]})});
      b.exit();
      return b.endIf(n);
    };
    for (bool cond : {true, false}) {
      t.addIn(DType::Bool, cond ? "then" : "else", {V(DType::Bool, {}, {cond ? 1.0 : 0.0}), F(DType::F32, {3, 4})});
      t.cases.back().custom = body;
    }
  } else if (op == "loop") {
    auto body = [](GraphBuilder& b, const std::vector<Value*>& ins) {
      Node* n = b.beginLoop(ins[0], ins[1], {ins[2]});
      b.enter(n->block(0));
      Value* state = n->block(0)->param(2);
      b.yield({n->block(0)->param(1), b.op("add", {state, state})});
      b.exit();
      return b.endLoop(n);
    };
    for (int trips : {3, 0}) {
      t.addIn(I64, trips ? "three_trips" : "zero_trips",
              {V(I64, {}, {static_cast<double>(trips)}), V(DType::Bool, {}, {1}), F(DType::F32, {3})});
      t.cases.back().custom = body;
    }
  } else if (op == "weight") {
    for (DType dt : t.schema.dtypes) {
      t.addIn(dt, "basic", {});
      t.cases.back().custom = [dt](GraphBuilder& b, const std::vector<Value*>&) {
        return std::vector<Value*>{b.weight("w", drawTensor(dt, {2, 3}, ties(), hashString("weight")))};
      };
    }
  }
}

void quantCases(Table& t) {
  const std::string& op = t.schema.name;
  const DType U8 = DType::U8, I8 = DType::I8, F32 = DType::F32;
  const Domain small = range(0, 20);  // fits u8, i8 and i32
  if (op == "quantize_linear") {
    t.basic({T({3, 4}, range(-3, 3)), C(F32, {0.05}, Shape{}), C(U8, {128}, Shape{})});
    t.add("i8", {T({3, 4}, range(-3, 3)), C(F32, {0.05}, Shape{}), C(I8, {-3}, Shape{})});
    t.add("per_axis", {T({2, 3, 4}), C(F32, {0.02, 0.05, 0.1}), C(U8, {0, 128, 255})}, {{"axis", i(1)}});
    t.add("per_axis_last", {T({2, 3, 4}), C(F32, {0.02, 0.05, 0.1, 1}), C(I8, {0, 1, -1, 5})}, {{"axis", i(-1)}});
    t.add("saturate", {T({16}, range(-100, 100)), C(F32, {0.1}, Shape{}), C(U8, {10}, Shape{})});
    t.add("ties", {T({12}, halves()), C(F32, {1}, Shape{}), C(I8, {0}, Shape{})});
    t.add("empty", {T({0, 3}), C(F32, {0.5}, Shape{}), C(U8, {1}, Shape{})});
  } else if (op == "dequantize_linear") {
    t.basic({T({3, 4}, small), C(F32, {0.5}, Shape{}), CT({3}, Shape{})});
    t.add("per_axis", {T({2, 3, 2}, small), C(F32, {0.1, 0.2, 0.3}), CT({1, 2, 3})}, {{"axis", i(1)}});
    t.add("no_zero_point", {T({5}, small), C(F32, {0.25}, Shape{})});
    t.addIn(DType::I32, "i32_bias", {T({7}, range(-1000, 1000)), C(F32, {0.001}, Shape{})});
  } else if (op == "dynamic_quantize_linear") {
    t.basic({T({4, 5})}, {}, 3);
    t.add("positive", {T({7}, positive())}, {}, 3);
    t.add("zeros", {C(F32, {0, 0, 0})}, {}, 3);
  } else if (op == "matmul_integer") {
    t.basic({T({3, 4}, small), T({4, 5}, small)});
    t.add("zero_points", {T({2, 3, 4}, small), T({4, 5}, small), CT({2}, Shape{}), CT({1}, Shape{})});
    t.add("per_row_col", {T({3, 4}, small), T({4, 5}, small), CT({1, 2, 3}), CT({0, 1, 2, 3, 4})});
    t.add("u8_i8", {F(U8, {3, 4}, small), F(I8, {4, 2}, range(-20, 20)), C(U8, {9}, Shape{}), C(I8, {-2}, Shape{})});
    t.add("large", {T({32, 64}, small), T({64, 48}, small), CT({7}, Shape{}), CT({3}, Shape{})});
  } else if (op == "conv_integer") {
    t.basic({T({1, 2, 5, 5}, small), T({3, 2, 3, 3}, small)});
    t.add("zero_points_pads", {T({1, 2, 6, 6}, small), T({3, 2, 3, 3}, small), CT({5}, Shape{}), CT({1, 2, 3})},
          {{"pads", ints({1, 1, 1, 1})}, {"strides", ints({2, 2})}});
    t.add("group", {T({2, 4, 5, 5}, small), T({4, 2, 3, 3}, small), CT({2}, Shape{}), CT({4}, Shape{})}, {{"group", i(2)}});
    t.add("conv1d_same", {T({1, 3, 9}, small), T({2, 3, 4}, small)}, {{"auto_pad", s("SAME_UPPER")}});
  }
}

std::vector<OpCase> casesFor(const OpSchema& schema) {
  Table t{schema, {}};
  const std::string& c = schema.category;
  if (c == "unary") unaryCases(t);
  else if (c == "binary") binaryCases(t);
  else if (c == "reduce") reduceCases(t);
  else if (c == "ternary" && schema.name == "where") whereCases(t);
  else if (c == "nn") nnCases(t);
  else if (c == "normalization") normalizationCases(t);
  else if (c == "shape") shapeCases(t);
  else if (c == "quant") quantCases(t);
  else if (c == "control" || c == "data") controlCases(t);
  for (OpCase& oc : t.cases)
    if (oc.dtype == DType::F16 || oc.dtype == DType::BF16) {
      // Long accumulations in a 16-bit type drift further.
      if (c == "nn" || c == "normalization" || c == "reduce") oc.toleranceScale = 4;
    }
  return t.cases;
}

std::string caseId(const OpCase& c) {
  return "ops." + c.op + "." + std::string(dtypeName(c.dtype)) + "." + c.label;
}

/// The graph of a case and its region inputs.
struct BuiltCase {
  std::shared_ptr<Graph> graph;
  std::vector<Tensor> inputs;
  std::vector<std::string> outputNames;
};

Result<BuiltCase> build(const OpCase& c) {
  const std::string id = caseId(c);
  GraphBuilder b(c.op);
  BuiltCase out;
  std::vector<Value*> vals;
  for (size_t k = 0; k < c.ins.size(); ++k) {
    const In& in = c.ins[k];
    Tensor t = inputTensor(c, in, k, id);
    const std::string name = "in" + std::to_string(k);
    if (in.constant) {
      vals.push_back(b.constant(t, name));
    } else {
      std::vector<Dim> dims(in.shape.begin(), in.shape.end());
      vals.push_back(b.input(name, Type::tensor(t.dtype(), dims)));
      out.inputs.push_back(t);
    }
  }
  std::vector<Value*> outs = c.custom ? c.custom(b, vals) : b.ops(c.op, vals, c.attrs, static_cast<size_t>(c.outputs));
  for (Value* o : outs) {
    b.output(o);
    out.outputNames.push_back(o ? "%" + o->name() : "?");
  }
  SY_ASSIGN_OR_RETURN(auto g, b.finish());
  out.graph = std::shared_ptr<Graph>(std::move(g));
  return out;
}

void runOpCase(const OpCase& c, Target& target, CaseResult& r) {
  auto built = build(c);
  if (!built.ok()) {
    r.outcome = Outcome::Failed;
    r.message = "suite error: cannot build the case: " + built.status().message();
    return;
  }
  auto interp = Interpreter::create(built->graph);
  if (!interp.ok()) {
    r.outcome = Outcome::Failed;
    r.message = "suite error: " + interp.status().message();
    return;
  }
  auto expected = (*interp)->run(built->inputs);
  if (!expected.ok()) {
    r.outcome = Outcome::Failed;
    r.message = "suite error: the reference failed: " + expected.status().message();
    return;
  }
  PluginRun run = runOnPlugin(target, *built->graph, built->inputs);
  switch (run.stage) {
    case PluginRun::Stage::Declined:
      r.outcome = Outcome::Unsupported;
      r.message = run.message;
      return;
    case PluginRun::Stage::Ok: break;
    default:
      r.outcome = Outcome::Failed;
      r.message = run.message;
      return;
  }
  compareOutputs(run.outputs, *expected, built->outputNames, r, c.toleranceScale);
  const auto live = target.live();
  if (r.outcome == Outcome::Passed && (live.buffers || live.compiled)) {
    r.outcome = Outcome::Failed;
    r.message = "suite error: handles left open after the case";
  }
}

}  // namespace

std::vector<Case> opCases() {
  std::vector<Case> out;
  for (const OpSchema* schema : OpRegistry::global().all()) {
    std::vector<OpCase> cases = casesFor(*schema);
    if (cases.empty()) {
      Case k;
      k.info.id = "ops." + schema->name + ".none";
      k.info.scope = "ops";
      k.info.group = "ops." + schema->name;
      k.info.op = schema->name;
      k.run = [cat = schema->category](Target&, CaseResult& r) {
        r.outcome = Outcome::Skipped;
        r.message = "no case generator for this op (category '" + cat + "')";
      };
      out.push_back(std::move(k));
      continue;
    }
    for (OpCase& oc : cases) {
      Case k;
      k.info.id = caseId(oc);
      k.info.scope = "ops";
      k.info.group = "ops." + schema->name;
      k.info.op = schema->name;
      k.run = [oc](Target& t, CaseResult& r) { runOpCase(oc, t, r); };
      out.push_back(std::move(k));
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Graph>>> basicOpGraphs() {
  std::vector<std::pair<std::string, std::shared_ptr<Graph>>> out;
  for (const OpSchema* schema : OpRegistry::global().all()) {
    for (const OpCase& oc : casesFor(*schema)) {
      auto built = build(oc);
      if (built.ok()) {
        out.emplace_back(schema->name, built->graph);
        break;
      }
    }
  }
  return out;
}

std::vector<OpCaseGraph> opCaseGraphs() {
  std::vector<OpCaseGraph> out;
  for (const OpSchema* schema : OpRegistry::global().all()) {
    for (const OpCase& oc : casesFor(*schema)) {
      auto built = build(oc);
      if (built.ok()) out.push_back(OpCaseGraph{caseId(oc), schema->name, built->graph});
    }
  }
  return out;
}

}  // namespace sy::conformance
