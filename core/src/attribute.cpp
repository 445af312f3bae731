#include "switchyard/attribute.h"

#include <cstring>
#include <functional>

namespace sy {

const char* attrKindName(AttrKind kind) {
  switch (kind) {
    case AttrKind::Int: return "int";
    case AttrKind::Float: return "float";
    case AttrKind::String: return "string";
    case AttrKind::Ints: return "ints";
    case AttrKind::Floats: return "floats";
    case AttrKind::Strings: return "strings";
    case AttrKind::Tensor: return "tensor";
  }
  return "?";
}

bool attributesEqual(const Attribute& a, const Attribute& b) {
  if (a.index() != b.index()) return false;
  if (const auto* ta = std::get_if<Tensor>(&a)) return ta->bitwiseEqual(std::get<Tensor>(b));
  if (const auto* fa = std::get_if<double>(&a)) {
    // Bitwise, so NaN == NaN and 0.0 != -0.0: attributes are data, not arithmetic.
    const double fb = std::get<double>(b);
    return std::memcmp(fa, &fb, sizeof(double)) == 0;
  }
  return std::visit(
      [&](const auto& va) -> bool {
        using T = std::decay_t<decltype(va)>;
        if constexpr (std::is_same_v<T, Tensor>) return false;  // handled above
        else return va == std::get<T>(b);
      },
      a);
}

size_t hashAttribute(const Attribute& a) {
  size_t h = std::hash<size_t>()(a.index());
  auto mix = [&h](size_t v) { h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); };
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          mix(std::hash<int64_t>()(v));
        } else if constexpr (std::is_same_v<T, double>) {
          uint64_t bits;
          std::memcpy(&bits, &v, 8);
          mix(std::hash<uint64_t>()(bits));
        } else if constexpr (std::is_same_v<T, std::string>) {
          mix(std::hash<std::string>()(v));
        } else if constexpr (std::is_same_v<T, Tensor>) {
          mix(static_cast<size_t>(v.dtype()));
          for (int64_t d : v.shape()) mix(std::hash<int64_t>()(d));
          const auto* p = static_cast<const unsigned char*>(v.data());
          const size_t n = std::min<size_t>(v.nbytes(), 256);
          for (size_t i = 0; i < n; ++i) mix(p[i]);
        } else {
          for (const auto& e : v) {
            if constexpr (std::is_same_v<std::decay_t<decltype(e)>, double>) {
              uint64_t bits;
              std::memcpy(&bits, &e, 8);
              mix(std::hash<uint64_t>()(bits));
            } else {
              mix(std::hash<std::decay_t<decltype(e)>>()(e));
            }
          }
        }
      },
      a);
  return h;
}

}  // namespace sy
