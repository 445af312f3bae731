// The textual IR format (`.sy` files). See docs/ir.md for the grammar.
//
//   graph @main(%x: f32[N, 4], %c: bool) {
//     %w = weight() {name = "fc.weight"} : f32[4, 2]
//     %y = matmul(%x, %w) : f32[N, 2]
//     %z = if(%c) : f32[N, 2] {
//     ^then:
//       %r = relu(%y) : f32[N, 2]
//       yield %r
//     ^else:
//       yield %y
//     }
//     return %z
//   }
//
// printGraph(parseGraph(text)) is the canonical form of `text`, and parsing
// the canonical form again gives the same text (a fixpoint).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "switchyard/ir.h"
#include "switchyard/status.h"

namespace sy {

/// Canonical text of `graph`.
std::string printGraph(const Graph& graph);

/// Parses text into a graph. Syntax errors are reported as
/// `filename:line:col: expected ..., got ...`. The result is not verified;
/// call verify() (loadProgram does both).
Result<std::unique_ptr<Graph>> parseGraph(std::string_view text, std::string_view filename = "<text>");

/// Text form of one attribute value, as the printer writes it.
std::string printAttribute(const Attribute& attr);

}  // namespace sy
