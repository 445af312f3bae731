// Shape arithmetic every backend plugin needs (header-only, part of the SDK):
// row-major strides, NumPy broadcasting, negative axes. Dims are
// std::vector<int64_t>, outermost first.
#pragma once

#include <switchyard/plugin.hpp>

#include <algorithm>
#include <cstdint>
#include <string_view>
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

/// Whether `node`'s output size depends on the values of its inputs, not
/// only on their shapes: non_zero, unique, compress, non_max_suppression,
/// and top_k when k is not a constant. Such an output has an unknown dim
/// (`?`) in the graph view, and its size is known only once the node has run
/// (the portable kernels compute it in outputShapes, from the input data).
/// A plugin that sizes its buffers at compile time declines these nodes;
/// the host then runs them on the reference interpreter, and the values
/// downstream reach the plugin's next region with their run-time shapes.
inline bool outputSizeDependsOnValues(const NodeView& node) {
  const std::string_view op = node.op();
  if (op == "non_zero" || op == "unique" || op == "compress" || op == "non_max_suppression") return true;
  if (op == "top_k") return node.numInputs() < 2 || !node.hasInput(1) || !node.input(1).isConstant();
  return false;
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

// ---------------------------------------------------------------------------
// View ops: the output shape of ops that only re-label a dense tensor's dims
// (docs/ir.md), written once for every plugin. Each throws
// Error(SY_ERROR_INVALID_ARGUMENT) with a message on attributes that do not
// fit the input.

/// flatten: [x0 * ... * x(axis-1), x(axis) * ...]; axis in [-rank, rank].
inline Dims flattenShape(const Dims& x, int64_t axis) {
  const int64_t rank = static_cast<int64_t>(x.size());
  require(axis >= -rank && axis <= rank, SY_ERROR_INVALID_ARGUMENT, "flatten: axis ", axis, " out of range for ",
          formatDims(x));
  const size_t a = normAxis(axis, x.size());
  return {product(x, 0, a), product(x, a, x.size())};
}

/// squeeze: `x` without the dims `axes` (each of size 1), or without every dim
/// of size 1 when `axes` is empty.
inline Dims squeezeShape(const Dims& x, const Dims& axes) {
  const int64_t rank = static_cast<int64_t>(x.size());
  std::vector<bool> drop(x.size(), false);
  if (axes.empty())
    for (size_t i = 0; i < x.size(); ++i) drop[i] = x[i] == 1;
  for (int64_t a : axes) {
    require(a >= -rank && a < rank && x[normAxis(a, x.size())] == 1, SY_ERROR_INVALID_ARGUMENT, "squeeze axis ", a,
            " of ", formatDims(x), " does not have size 1");
    drop[normAxis(a, x.size())] = true;
  }
  Dims out;
  for (size_t i = 0; i < x.size(); ++i)
    if (!drop[i]) out.push_back(x[i]);
  return out;
}

/// unsqueeze: `x` with a dim of size 1 at each of `axes` (axes of the result).
inline Dims unsqueezeShape(const Dims& x, const Dims& axes) {
  const size_t rank = x.size() + axes.size();
  require(axesValid(axes, static_cast<int64_t>(rank)), SY_ERROR_INVALID_ARGUMENT, "unsqueeze axes ", formatDims(axes),
          " are out of range or repeated for a result of rank ", rank);
  std::vector<bool> added(rank, false);
  for (int64_t a : axes) added[normAxis(a, rank)] = true;
  Dims out;
  size_t j = 0;
  for (size_t i = 0; i < rank; ++i) out.push_back(added[i] ? 1 : x[j++]);
  return out;
}

/// reshape to `target`: a 0 copies the input's dim at that position (unless
/// `allowZero`), one -1 is inferred; the element count must not change.
inline Dims reshapeShape(const Dims& x, const Dims& target, bool allowZero) {
  const int64_t total = product(x, 0, x.size());
  Dims out = target;
  int64_t inferred = -1;
  int64_t known = 1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == 0 && !allowZero) {
      require(i < x.size(), SY_ERROR_INVALID_ARGUMENT, "reshape: 0 at position ", i, " beyond the input rank");
      out[i] = x[i];
    }
    if (out[i] == -1) {
      require(inferred < 0, SY_ERROR_INVALID_ARGUMENT, "reshape: more than one -1");
      inferred = static_cast<int64_t>(i);
    } else {
      require(out[i] >= 0, SY_ERROR_INVALID_ARGUMENT, "reshape: negative dim ", out[i]);
      known *= out[i];
    }
  }
  if (inferred >= 0) {
    require(known > 0 && total % known == 0, SY_ERROR_INVALID_ARGUMENT, "reshape: cannot infer -1 for ",
            formatDims(x), " into ", formatDims(target));
    out[static_cast<size_t>(inferred)] = total / known;
  }
  require(product(out, 0, out.size()) == total, SY_ERROR_INVALID_ARGUMENT, "reshape of ", formatDims(x), " into ",
          formatDims(out), " changes the element count");
  return out;
}

/// The shape view op `op` (identity, flatten, squeeze, unsqueeze, reshape)
/// gives `x`: `axis` is flatten's, `ints` squeeze/unsqueeze's axes or
/// reshape's target, `allowZero` reshape's attribute.
inline Dims viewShape(std::string_view op, const Dims& x, int64_t axis, const Dims& ints, bool allowZero) {
  if (op == "identity") return x;
  if (op == "flatten") return flattenShape(x, axis);
  if (op == "squeeze") return squeezeShape(x, ints);
  if (op == "unsqueeze") return unsqueezeShape(x, ints);
  require(op == "reshape", SY_ERROR_INTERNAL, "'", op, "' is not a view op");
  return reshapeShape(x, ints, allowZero);
}

}  // namespace sy::sdk::shapes
