// Op helpers shared by the capability query (capability.cpp), the fusion
// grouping and code generator (fusion.cpp) and the region compiler
// (region.cpp). Host code only.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <switchyard/plugin_shapes.hpp>

namespace sy_cuda {

namespace sdk = sy::sdk;
using Dims = std::vector<int64_t>;

/// Largest rank of the strided kernels (elementwise, copies, reductions).
constexpr int kMaxRank = 8;
/// Largest number of distinct inputs of one fused elementwise kernel.
constexpr int kMaxFusedInputs = 8;

bool isUnaryFloat(std::string_view op);  ///< exp, relu, gelu, ... (f32/f16/bf16)
bool isBinaryArith(std::string_view op); ///< add, sub, mul, div, pow, maximum, minimum
bool isComparison(std::string_view op);  ///< equal, greater, greater_equal, less, less_equal
bool isLogical(std::string_view op);     ///< logical_and/or/xor/not
bool isViewOp(std::string_view op);      ///< reshape, flatten, squeeze, unsqueeze, identity
int reduceCode(std::string_view op);     ///< 0 sum, 1 mean, 2 max, 3 min, 4 prod; -1 otherwise
bool isFloat(int32_t dtype);             ///< f32, f16, bf16
bool isInt(int32_t dtype);               ///< i8, i32, i64

/// True for a node the generated elementwise kernel computes (whatever its
/// dtypes; capability decides whether they are supported).
bool isElementwise(const sdk::NodeView& node);

/// Why the cuda backend cannot run `node`, or "" when it can (capability.cpp).
std::string whyNot(const sdk::GraphView& graph, const sdk::NodeView& node);

/// The integer data of `v` when known at compile time (a weight, or a
/// `constant` node's output).
std::optional<Dims> constantInts(const sdk::GraphView& graph, const sdk::ValueView& v);
/// The f32 data of a constant value, when it is one.
std::optional<std::vector<float>> constantFloats(const sdk::GraphView& graph, const sdk::ValueView& v);
/// The node whose output is value `index`, if any.
std::optional<sdk::NodeView> producer(const sdk::GraphView& graph, int32_t index);

/// True when a and b surely have the same shape (same numbers or symbols).
bool sameShape(const sdk::ValueView& a, const sdk::ValueView& b);

using sdk::shapes::axesValid;
using sdk::shapes::broadcastShape;
using sdk::shapes::broadcastStrides;
using sdk::shapes::normAxis;
using sdk::shapes::product;
using sdk::shapes::rowMajorStrides;

}  // namespace sy_cuda
