// Shape arithmetic every backend plugin needs (header-only, part of the SDK):
// row-major strides, NumPy broadcasting, negative axes. Dims are
// std::vector<int64_t>, outermost first.
#pragma once

#include <switchyard/plugin.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace sy::sdk::shapes {

using Dims = std::vector<int64_t>;

/// d[from] * ... * d[to - 1] (1 for an empty range).
inline int64_t product(const Dims& d, size_t from, size_t to) {
  int64_t n = 1;
  for (size_t i = from; i < to; ++i) n *= d[i];
  return n;
}

/// Element strides of a dense row-major tensor of shape d.
inline Dims rowMajorStrides(const Dims& d) {
  Dims s(d.size(), 1);
  for (size_t i = d.size(); i-- > 1;) s[i - 1] = s[i] * d[i];
  return s;
}

/// A possibly negative axis made non-negative (not range-checked).
inline size_t normAxis(int64_t axis, size_t rank) {
  return static_cast<size_t>(axis < 0 ? axis + static_cast<int64_t>(rank) : axis);
}

/// Whether every axis of `axes` lies in [-rank, rank) and no axis (after
/// making it non-negative) appears twice: the check of a reduction's axes,
/// a transpose's perm, squeeze/unsqueeze and slice axes.
inline bool axesValid(const Dims& axes, int64_t rank) {
  std::vector<bool> seen(static_cast<size_t>(std::max<int64_t>(rank, 0)), false);
  for (int64_t a : axes) {
    if (a < -rank || a >= rank) return false;
    const size_t k = static_cast<size_t>(a < 0 ? a + rank : a);
    if (seen[k]) return false;
    seen[k] = true;
  }
  return true;
}

/// Strides to read `in` broadcast to `out` (0 along broadcast dims).
inline Dims broadcastStrides(const Dims& in, const Dims& out) {
  Dims s(out.size(), 0);
  const Dims own = rowMajorStrides(in);
  const size_t shift = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) s[i + shift] = in[i] == 1 ? 0 : own[i];
  return s;
}

/// NumPy broadcast of two shapes; Error(SY_ERROR_INVALID_ARGUMENT) when they do not broadcast.
inline Dims broadcastShape(const Dims& a, const Dims& b) {
  const size_t r = std::max(a.size(), b.size());
  Dims out(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t x = i + a.size() >= r ? a[i + a.size() - r] : 1;
    const int64_t y = i + b.size() >= r ? b[i + b.size() - r] : 1;
    if (!(x == y || x == 1 || y == 1))
      fail(SY_ERROR_INVALID_ARGUMENT, "shapes ", formatDims(a), " and ", formatDims(b), " do not broadcast");
    out[i] = x == 1 ? y : x;
  }
  return out;
}

}  // namespace sy::sdk::shapes
