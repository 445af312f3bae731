// Op helpers shared by the capability query (capability.cpp) and the region
// compiler (region.cpp): the op tables, OpenCL C expressions of elementwise
// ops, constant inputs, and shape arithmetic.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <switchyard/plugin_shapes.hpp>

#include "opencl_backend.h"

namespace sy_opencl {

using Dims = std::vector<int64_t>;

bool isUnary(std::string_view op);       ///< f32 unary ops of the fused kernel
bool isBinary(std::string_view op);      ///< add, sub, mul, div, pow, maximum, minimum
int binaryCode(std::string_view op);     ///< index in the binary table (sy_binary's op)
int reduceCode(std::string_view op);     ///< 0 sum, 1 mean, 2 max, 3 min, 4 prod; -1 otherwise
bool isViewOp(std::string_view op);      ///< reshape, flatten, squeeze, unsqueeze, identity
bool isComparison(std::string_view op);  ///< equal, greater, greater_equal, less, less_equal
bool isLogical(std::string_view op);     ///< logical_and, logical_or, logical_xor, logical_not

/// Ops that run the generated, typed, broadcasting elementwise kernel:
/// comparisons, logical ops, cast, where, and integer add/sub/mul/maximum/
/// minimum/neg/abs.
bool usesGenericKernel(const sdk::NodeView& node);

/// The OpenCL C type of a dtype the generic kernel handles ("float", "int",
/// ...), or nullptr.
const char* clType(int32_t dtype);

/// An exact OpenCL C float literal (a bit pattern), inf and NaN included.
std::string floatLiteral(double value);
/// The OpenCL C expression of an f32 unary op applied to `x`.
std::string unaryExpr(const sdk::NodeView& node, const std::string& x);
/// The OpenCL C expression of an f32 binary op.
std::string binaryExpr(std::string_view op, const std::string& a, const std::string& b);
/// The expression of a generic-kernel node over a0, a1, a2 (its inputs),
/// already converted to the output's OpenCL type.
std::string genericExpr(const sdk::NodeView& node);

/// True when a and b surely have the same shape (same numbers or symbols).
bool sameShape(const sdk::ValueView& a, const sdk::ValueView& b);
/// The integer data of `v` when it is known at compile time (a weight, or a
/// `constant` node's output).
std::optional<Dims> constantInts(const sdk::GraphView& graph, const sdk::ValueView& v);

// Shape arithmetic on concrete dims: the SDK's (switchyard/plugin_shapes.hpp).
using sdk::shapes::axesValid;
using sdk::shapes::broadcastShape;
using sdk::shapes::broadcastStrides;
using sdk::shapes::normAxis;
using sdk::shapes::product;
using sdk::shapes::rowMajorStrides;

}  // namespace sy_opencl
