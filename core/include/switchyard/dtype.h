// Element types of tensors, and conversions for the 16-bit float formats.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sy {

/// Element type of a tensor. The order is part of the text format's stability
/// promise only through the names, never through the numeric values.
enum class DType : uint8_t { F32, F16, BF16, I8, I32, I64, Bool };

/// All dtypes, in declaration order.
inline constexpr DType kAllDTypes[] = {DType::F32, DType::F16, DType::BF16, DType::I8,
                                       DType::I32, DType::I64, DType::Bool};

/// Bytes per element.
size_t dtypeSize(DType dtype);
/// Text name: "f32", "f16", "bf16", "i8", "i32", "i64", "bool".
std::string_view dtypeName(DType dtype);
/// Inverse of dtypeName; nullopt for an unknown name.
std::optional<DType> parseDType(std::string_view name);

inline bool isFloat(DType d) { return d == DType::F32 || d == DType::F16 || d == DType::BF16; }
inline bool isInteger(DType d) { return d == DType::I8 || d == DType::I32 || d == DType::I64; }
inline bool isBool(DType d) { return d == DType::Bool; }

/// IEEE binary16 <-> binary32, round to nearest even; NaN and Inf preserved.
float halfToFloat(uint16_t bits);
uint16_t floatToHalf(float value);
/// bfloat16 <-> binary32, round to nearest even; NaN preserved.
float bfloat16ToFloat(uint16_t bits);
uint16_t floatToBfloat16(float value);

}  // namespace sy
