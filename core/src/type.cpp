#include "switchyard/type.h"

namespace sy {

std::string Dim::toString() const {
  if (isStatic()) return std::to_string(value_);
  if (isSymbol()) return symbol_;
  return "?";
}

bool Type::isStaticShape() const {
  if (!rankKnown()) return false;
  for (const Dim& d : dims_)
    if (!d.isStatic()) return false;
  return true;
}

std::optional<std::vector<int64_t>> Type::staticShape() const {
  if (!isStaticShape()) return std::nullopt;
  std::vector<int64_t> s;
  s.reserve(dims_.size());
  for (const Dim& d : dims_) s.push_back(d.value());
  return s;
}

std::string Type::toString() const {
  std::string s(dtypeName(dtype_));
  if (isScalar()) return s;
  if (!rankKnown_) return s + "[*]";
  s += "[";
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (i) s += ", ";
    s += dims_[i].toString();
  }
  return s + "]";
}

bool typesCompatible(const Type& expected, const Type& actual) {
  if (expected.dtype() != actual.dtype()) return false;
  if (!expected.rankKnown() || !actual.rankKnown()) return true;
  if (expected.rank() != actual.rank()) return false;
  for (int64_t i = 0; i < expected.rank(); ++i) {
    const Dim& a = expected.dim(i);
    const Dim& b = actual.dim(i);
    if (a.isStatic() && b.isStatic() && a.value() != b.value()) return false;
  }
  return true;
}

}  // namespace sy
