// Helpers shared by the core tests.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "switchyard/builder.h"
#include "switchyard/interpreter.h"
#include "switchyard/op_registry.h"
#include "switchyard/tensor.h"

namespace sy::testing {

/// A tensor from doubles; aborts the test on a bad shape.
inline Tensor T(DType dtype, Shape shape, std::vector<double> values) {
  auto r = Tensor::fromDoubles(dtype, std::move(shape), values);
  EXPECT_TRUE(r.ok()) << r.status().toString();
  return r.ok() ? *r : Tensor();
}
inline Tensor F(Shape shape, std::vector<double> values) { return T(DType::F32, std::move(shape), std::move(values)); }
inline Tensor I(Shape shape, std::vector<int64_t> values) {
  auto r = Tensor::fromInts(DType::I64, std::move(shape), values);
  EXPECT_TRUE(r.ok()) << r.status().toString();
  return r.ok() ? *r : Tensor();
}
inline Tensor B(Shape shape, std::vector<int64_t> values) {
  auto r = Tensor::fromInts(DType::Bool, std::move(shape), values);
  EXPECT_TRUE(r.ok()) << r.status().toString();
  return r.ok() ? *r : Tensor();
}

/// Runs one op; fails the test (and returns empty) on error.
inline std::vector<Tensor> run(std::string_view op, const std::vector<Tensor>& inputs, const AttrMap& attrs = {},
                               int numOutputs = -1) {
  auto r = evalOp(op, inputs, attrs, numOutputs);
  EXPECT_TRUE(r.ok()) << op << ": " << r.status().toString();
  return r.ok() ? *r : std::vector<Tensor>{};
}
/// Runs a one-output op.
inline Tensor run1(std::string_view op, const std::vector<Tensor>& inputs, const AttrMap& attrs = {}) {
  auto outs = run(op, inputs, attrs);
  return outs.empty() ? Tensor() : outs[0];
}
/// The error a failing op returns (the test fails if it succeeds).
inline Status runError(std::string_view op, const std::vector<Tensor>& inputs, const AttrMap& attrs = {},
                       int numOutputs = -1) {
  auto r = evalOp(op, inputs, attrs, numOutputs);
  EXPECT_FALSE(r.ok()) << op << " was expected to fail";
  return r.status();
}

/// Runs one op in the interpreter on inputs declared with their rank only
/// (every dim unknown), so that compile-time inference cannot see a shape
/// mismatch and the kernel must catch it at run time. The status of building
/// or running the graph.
inline Status runWithUnknownDims(std::string_view op, const std::vector<Tensor>& inputs, const AttrMap& attrs = {},
                                 size_t numOutputs = 1) {
  GraphBuilder b("g");
  std::vector<Value*> ins;
  for (size_t i = 0; i < inputs.size(); ++i)
    ins.push_back(b.input("x" + std::to_string(i),
                          Type::tensor(inputs[i].dtype(), std::vector<Dim>(inputs[i].shape().size(), Dim()))));
  for (Value* v : b.ops(op, ins, attrs, numOutputs)) b.output(v);
  auto g = b.finish();
  if (!g.ok()) return g.status();
  auto interp = Interpreter::create(std::shared_ptr<const Graph>(std::move(*g)));
  if (!interp.ok()) return interp.status();
  auto r = (*interp)->run(inputs);
  return r.ok() ? Status::OK() : r.status();
}

/// Element-wise comparison against expected values, with dtype and shape checks.
inline ::testing::AssertionResult tensorNear(const Tensor& actual, DType dtype, const Shape& shape,
                                             const std::vector<double>& expected, double atol = 1e-5,
                                             double rtol = 1e-5) {
  if (!actual.valid()) return ::testing::AssertionFailure() << "no tensor";
  if (actual.dtype() != dtype)
    return ::testing::AssertionFailure() << "dtype " << dtypeName(actual.dtype()) << ", expected "
                                         << dtypeName(dtype);
  if (actual.shape() != shape)
    return ::testing::AssertionFailure() << "shape " << shapeToString(actual.shape()) << ", expected "
                                         << shapeToString(shape);
  if (static_cast<size_t>(actual.numel()) != expected.size())
    return ::testing::AssertionFailure() << "test bug: " << expected.size() << " expected values for "
                                         << actual.numel() << " elements";
  for (size_t i = 0; i < expected.size(); ++i) {
    const double a = actual.getDouble(static_cast<int64_t>(i));
    const double e = expected[i];
    if (std::isnan(e) && std::isnan(a)) continue;
    if (std::isinf(e) && a == e) continue;
    if (!(std::fabs(a - e) <= atol + rtol * std::fabs(e)))
      return ::testing::AssertionFailure() << "element " << i << ": got " << a << ", expected " << e
                                           << " (tensor " << actual.toString(32) << ")";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace sy::testing

#define EXPECT_TENSOR(actual, dtype, shape, ...) \
  EXPECT_TRUE(::sy::testing::tensorNear((actual), (dtype), (shape), __VA_ARGS__))
