// Element types of tensors, and conversions for the 16-bit float formats.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sy {

/// Element type of a tensor. The order is part of the text format's stability
/// promise only through the names, never through the numeric values.
/// The numeric values equal sy_dtype's (plugin ABI); U8..F64 came with ABI 1.2.
enum class DType : uint8_t { F32, F16, BF16, I8, I32, I64, Bool, U8, I16, U16, U32, U64, F64 };

/// All dtypes, in declaration order.
inline constexpr DType kAllDTypes[] = {DType::F32, DType::F16, DType::BF16, DType::I8,  DType::I32,
                                       DType::I64, DType::Bool, DType::U8,  DType::I16, DType::U16,
                                       DType::U32, DType::U64,  DType::F64};

/// Bytes per element.
size_t dtypeSize(DType dtype);
/// Text name: "f32", "f16", "bf16", "i8", "i32", "i64", "bool", "u8", "i16",
/// "u16", "u32", "u64", "f64".
std::string_view dtypeName(DType dtype);
/// Inverse of dtypeName; nullopt for an unknown name.
std::optional<DType> parseDType(std::string_view name);

inline bool isFloat(DType d) { return d == DType::F32 || d == DType::F16 || d == DType::BF16 || d == DType::F64; }
inline bool isUnsigned(DType d) { return d == DType::U8 || d == DType::U16 || d == DType::U32 || d == DType::U64; }
inline bool isInteger(DType d) {
  return d == DType::I8 || d == DType::I16 || d == DType::I32 || d == DType::I64 || isUnsigned(d);
}
inline bool isBool(DType d) { return d == DType::Bool; }

/// IEEE binary16 <-> binary32, round to nearest even; NaN and Inf preserved.
float halfToFloat(uint16_t bits);
uint16_t floatToHalf(float value);
/// bfloat16 <-> binary32, round to nearest even; NaN preserved.
float bfloat16ToFloat(uint16_t bits);
uint16_t floatToBfloat16(float value);

}  // namespace sy
