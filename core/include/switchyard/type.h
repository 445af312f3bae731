// Static types of IR values: tensors with a dtype and a (possibly symbolic)
// shape, and scalars.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "switchyard/dtype.h"

namespace sy {

/// One dimension of a static shape: a number, a named symbol (`N`), or unknown (`?`).
class Dim {
 public:
  Dim() = default;  // unknown
  Dim(int64_t value) : value_(value) {}  // NOLINT: `Dim d = 3` reads naturally
  static Dim fixed(int64_t value) { return Dim(value); }
  static Dim symbol(std::string name) {
    Dim d;
    d.symbol_ = std::move(name);
    return d;
  }
  static Dim unknown() { return Dim(); }

  bool isStatic() const { return value_ >= 0; }
  bool isSymbol() const { return !symbol_.empty(); }
  bool isUnknown() const { return value_ < 0 && symbol_.empty(); }
  /// The number; only meaningful when isStatic().
  int64_t value() const { return value_; }
  /// The symbol name; only meaningful when isSymbol().
  const std::string& symbolName() const { return symbol_; }

  /// "3", "N" or "?".
  std::string toString() const;
  bool operator==(const Dim& o) const { return value_ == o.value_ && symbol_ == o.symbol_; }
  bool operator!=(const Dim& o) const { return !(*this == o); }

 private:
  int64_t value_ = -1;
  std::string symbol_;
};

/// Type of an IR value.
///
/// Tensors print as `f32[N, 3]`, rank 0 as `f32[]`, unknown rank as `f32[*]`.
/// Scalars print as the bare dtype (`i64`, `bool`); at run time a scalar is a
/// rank-0 tensor, and a scalar type is compatible with a rank-0 tensor type.
class Type {
 public:
  enum class Kind : uint8_t { Tensor, Scalar };

  Type() = default;
  static Type tensor(DType dtype, std::vector<Dim> dims) {
    Type t;
    t.dtype_ = dtype;
    t.dims_ = std::move(dims);
    return t;
  }
  static Type tensorUnranked(DType dtype) {
    Type t;
    t.dtype_ = dtype;
    t.rankKnown_ = false;
    return t;
  }
  static Type scalar(DType dtype) {
    Type t;
    t.kind_ = Kind::Scalar;
    t.dtype_ = dtype;
    return t;
  }

  Kind kind() const { return kind_; }
  bool isScalar() const { return kind_ == Kind::Scalar; }
  bool isTensor() const { return kind_ == Kind::Tensor; }
  DType dtype() const { return dtype_; }
  bool rankKnown() const { return isScalar() || rankKnown_; }
  /// Rank; 0 for scalars; -1 when unknown.
  int64_t rank() const { return rankKnown() ? static_cast<int64_t>(dims_.size()) : -1; }
  const std::vector<Dim>& dims() const { return dims_; }
  const Dim& dim(int64_t i) const { return dims_[static_cast<size_t>(i)]; }
  /// True when the rank is known and every dim is a number.
  bool isStaticShape() const;
  /// The concrete shape when isStaticShape().
  std::optional<std::vector<int64_t>> staticShape() const;

  Type withDType(DType d) const {
    Type t = *this;
    t.dtype_ = d;
    return t;
  }

  std::string toString() const;
  bool operator==(const Type& o) const {
    return kind_ == o.kind_ && dtype_ == o.dtype_ && rankKnown_ == o.rankKnown_ && dims_ == o.dims_;
  }
  bool operator!=(const Type& o) const { return !(*this == o); }

 private:
  Kind kind_ = Kind::Tensor;
  DType dtype_ = DType::F32;
  bool rankKnown_ = true;
  std::vector<Dim> dims_;
};

/// True when a value of type `actual` may flow where `expected` is declared:
/// same dtype, scalar ~ rank-0 tensor, equal ranks where both known, and equal
/// numbers where both dims are numbers. Symbols and unknowns match anything.
bool typesCompatible(const Type& expected, const Type& actual);

}  // namespace sy
