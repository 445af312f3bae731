// The verifier, and type inference at the level of a whole node.
#pragma once

#include <vector>

#include "switchyard/ir.h"
#include "switchyard/status.h"

namespace sy {

/// Checks a graph. SSA: every use is dominated by its definition (defined
/// earlier in the same block or in an enclosing one) and every value is
/// defined once. Schemas: known op, arity, attribute names and kinds, block
/// count. Control flow: the shape of `if`/`loop` blocks and yields. Types:
/// every node's declared output types agree with inference; weights exist
/// and match their declared types. The error names the node and what is wrong.
Status verify(const Graph& graph);

/// The compile-time value of `v`, when it is the output of a `constant` or a
/// `weight` node (with its tensor attached to the graph); else nullptr.
const Tensor* knownConstant(const Value* v);

/// Output types of `node` computed from its inputs' types, the constants it
/// sees, and for control flow its blocks. Does not look at the declared types.
Result<std::vector<Type>> inferNodeTypes(const Node& node);

/// The most specific type consistent with both (per dim: a number beats a
/// symbol beats unknown). Fails when dtypes or known ranks differ.
Result<Type> mergeTypes(const Type& a, const Type& b);

/// The common type of two values that may flow into one output (the two arms
/// of an `if`, or a loop's carried value across iterations): equal dims stay,
/// differing dims become unknown. Fails when dtypes differ.
Result<Type> joinTypes(const Type& a, const Type& b);

}  // namespace sy
