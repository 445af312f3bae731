// Helpers shared by the op definitions in core/src/ops/. Internal to the core.
#pragma once

#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "switchyard/op_registry.h"

namespace sy::ops {

/// `axis` in [-rank, rank) mapped to [0, rank); error otherwise.
Result<int64_t> normalizeAxis(int64_t axis, int64_t rank, std::string_view what = "axis");
/// Normalises a list of axes; rejects duplicates.
Result<std::vector<int64_t>> normalizeAxes(const std::vector<int64_t>& axes, int64_t rank);

/// NumPy broadcasting of two static shapes.
Result<Shape> broadcastShapes(const Shape& a, const Shape& b);
/// NumPy broadcasting of two types with symbolic dims. 1 broadcasts; equal dims
/// stay; a number vs a symbol gives the number (if not 1); two different symbols
/// give unknown. Unknown rank gives unknown rank.
Result<Type> broadcastTypes(const Type& a, const Type& b, DType resultDType);

/// Maps an output flat index to the flat index of an input broadcast to `outShape`.
class BroadcastIndexer {
 public:
  BroadcastIndexer(const Shape& inShape, const Shape& outShape);
  int64_t operator()(int64_t outFlat) const;

 private:
  std::vector<int64_t> outStrides_;
  std::vector<int64_t> inStrides_;  // 0 for broadcast dims, aligned to the output rank
  bool identity_ = false;
};

/// Turns a row-major flat index into coordinates of `shape`.
void unravelIndex(int64_t flat, const Shape& shape, std::vector<int64_t>& coords);

/// Error unless input `i` has one of `allowed` dtypes.
Status checkDType(const OpSchema& schema, size_t i, DType actual, const std::vector<DType>& allowed);

/// Reads a 1-D (or scalar) integer tensor into a vector.
std::vector<int64_t> tensorToInts(const Tensor& t);
/// Reads a tensor of any dtype into doubles.
std::vector<double> tensorToDoubles(const Tensor& t);

/// Dims of a type as written, or a vector of unknowns of the right rank.
std::vector<Dim> dimsOf(const Type& t);

/// "op 'name': ..." as an invalid-argument status.
template <typename... Args>
Status opError(std::string_view op, Args&&... args) {
  return invalidArgument("op '", op, "': ", std::forward<Args>(args)...);
}

/// An attribute of a schema: name, kind, default (nullopt: none) and doc.
inline AttrSpec attr(std::string name, AttrKind kind, std::optional<Attribute> def, std::string doc) {
  AttrSpec a;
  a.name = std::move(name);
  a.kind = kind;
  a.defaultValue = std::move(def);
  a.doc = std::move(doc);
  return a;
}

/// Common dtype sets.
inline const std::vector<DType> kFloatTypes = {DType::F32, DType::F16, DType::BF16};
inline const std::vector<DType> kIntTypes = {DType::I8, DType::I32, DType::I64};
inline const std::vector<DType> kNumericTypes = {DType::F32, DType::F16, DType::BF16,
                                                 DType::I8,  DType::I32, DType::I64};
inline const std::vector<DType> kAllTypes = {DType::F32, DType::F16, DType::BF16, DType::I8,
                                             DType::I32, DType::I64, DType::Bool};
/// kFloatTypes and f64 (ops with an f64 kernel computed in double).
inline const std::vector<DType> kFloat64Types = {DType::F32, DType::F16, DType::BF16, DType::F64};
/// kNumericTypes and the numeric dtypes of ABI 1.2 (u8, i16, u16, u32, u64, f64).
inline const std::vector<DType> kWideNumericTypes = {DType::F32, DType::F16, DType::BF16, DType::F64, DType::I8,
                                                     DType::I16, DType::I32, DType::I64, DType::U8,  DType::U16,
                                                     DType::U32, DType::U64};
/// Every dtype, those of ABI 1.2 (u8, i16, u16, u32, u64, f64) included: ops
/// that move elements by size (reshape, gather, ...) and cast.
inline const std::vector<DType> kAnyTypes(std::begin(kAllDTypes), std::end(kAllDTypes));

}  // namespace sy::ops
