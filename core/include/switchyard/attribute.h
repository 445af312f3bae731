// Node attributes: compile-time parameters of an op (axis, strides, a constant tensor).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "switchyard/tensor.h"

namespace sy {

enum class AttrKind : uint8_t { Int, Float, String, Ints, Floats, Strings, Tensor };

/// Text name of an attribute kind: "int", "float", "string", "ints", "floats", "strings", "tensor".
const char* attrKindName(AttrKind kind);

/// One attribute value. The variant index matches AttrKind.
using Attribute = std::variant<int64_t, double, std::string, std::vector<int64_t>, std::vector<double>,
                               std::vector<std::string>, Tensor>;

inline AttrKind attrKind(const Attribute& a) { return static_cast<AttrKind>(a.index()); }

/// Attributes of a node, sorted by name (the printer relies on the order).
using AttrMap = std::map<std::string, Attribute, std::less<>>;

/// Equality of attribute values; tensors compare bitwise.
bool attributesEqual(const Attribute& a, const Attribute& b);

/// Hash consistent with attributesEqual.
size_t hashAttribute(const Attribute& a);

}  // namespace sy
