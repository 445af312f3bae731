// Helpers every backend author ends up writing (header-only, part of the SDK):
//
//   BroadcastIterator  walks a NumPy broadcast of N operands in contiguous
//                      inner runs, so the loop over one run is a plain,
//                      vectorisable loop (no per-element index arithmetic)
//   matmulShape        NumPy matmul shape rules: 1-D promotion, batch
//                      broadcasting, which matrix of each operand a batch uses
//   attrOr             an attribute with a default, typed by the default
//
// The shape arithmetic (broadcastShape, strides, axes) is in plugin_shapes.hpp.
// All dims here are numbers (the shapes of tensors at run time), never -1.
#pragma once

#include <switchyard/plugin.hpp>
#include <switchyard/plugin_shapes.hpp>

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace sy::sdk {

/// The attribute `name` of `node` as a T, or `fallback` when the node has no
/// such attribute:
///
///   const float alpha = attrOr(node, "alpha", 1.0f);
///   const int64_t axis = attrOr<int64_t>(node, "axis", -1);
///   const std::string mode = attrOr(node, "mode", "constant");
///   const std::vector<int64_t> perm = attrOr(node, "perm", std::vector<int64_t>{});
///
/// T: bool or an integer type (an int attribute), float or double (a float or
/// an int attribute), std::string (const char* defaults give one),
/// std::vector<int64_t>, std::vector<double>, std::vector<float> or
/// std::vector<std::string>. Error(SY_ERROR_INVALID_ARGUMENT) naming the node
/// and the attribute when it has another kind or an int does not fit T.
template <class T>
T attrOr(const NodeView& node, std::string_view name, T fallback) {
  if (!node.hasAttr(name)) return fallback;
  if constexpr (std::is_same_v<T, bool>) {
    return node.attrInt(name, 0) != 0;
  } else if constexpr (std::is_integral_v<T>) {
    const int64_t v = node.attrInt(name, 0);
    if (v < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
        (v > 0 && static_cast<uint64_t>(v) > static_cast<uint64_t>(std::numeric_limits<T>::max()))) {
      fail(SY_ERROR_INVALID_ARGUMENT, node.describe(), ": attribute '", name, "' = ", v, " is out of range");
    }
    return static_cast<T>(v);
  } else if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(node.attrFloat(name, 0.0));
  } else if constexpr (std::is_same_v<T, std::string>) {
    return node.attrString(name);
  } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
    return node.attrInts(name);
  } else if constexpr (std::is_same_v<T, std::vector<double>>) {
    return node.attrFloats(name);
  } else if constexpr (std::is_same_v<T, std::vector<float>>) {
    const std::vector<double> v = node.attrFloats(name);
    return std::vector<float>(v.begin(), v.end());
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    return node.attrStrings(name);
  } else {
    static_assert(sizeof(T) == 0, "attrOr: unsupported attribute type");
  }
}

/// attrOr with a string literal default gives a std::string.
inline std::string attrOr(const NodeView& node, std::string_view name, const char* fallback) {
  return attrOr<std::string>(node, name, std::string(fallback));
}

/// Walks the elements of `out`, the NumPy broadcast of N operand shapes, as
/// runs of consecutive output elements. Within one run every operand either
/// advances with the output (stride 1) or repeats one element (stride 0), so
///
///   BroadcastIterator<2> it(outDims, {aDims, bDims});
///   for (; !it.done(); it.next()) {
///     const float* x = a + it.offset(0); const float* y = b + it.offset(1);
///     float* z = out + it.outOffset();
///     if (it.stride(0) == 1 && it.stride(1) == 1)
///       for (int64_t i = 0; i < it.length(); ++i) z[i] = x[i] + y[i];
///     else ...  // the (0, 1) and (1, 0) cases: a scalar against a row
///   }
///
/// covers every element of out once, in row-major order. Adjacent dims that
/// broadcast the same way for every operand are merged first, so equal shapes
/// give one run of numElements(out), and [N, M] + [M] gives N runs of M.
/// The constructor throws Error(SY_ERROR_INVALID_ARGUMENT) when `out` is not
/// the broadcast of the operands. Element offsets, not bytes.
template <size_t N>
class BroadcastIterator {
 public:
  BroadcastIterator(ArrayRef<int64_t> out, const std::array<ArrayRef<int64_t>, N>& in) {
    const size_t rank = out.size();
    require(rank <= SY_MAX_RANK, SY_ERROR_INVALID_ARGUMENT, "rank ", rank, " > SY_MAX_RANK");
    // Per output dim (dims of size 1 dropped): its size and, per operand,
    // whether that operand repeats along it.
    std::array<int64_t, SY_MAX_RANK> size{};
    std::array<std::array<bool, N>, SY_MAX_RANK> repeats{};
    int32_t dims = 0;
    for (size_t k = 0; k < N; ++k) {
      if (in[k].size() > rank) {
        fail(SY_ERROR_INVALID_ARGUMENT, "operand ", k, " ", formatDims(in[k]), " has a higher rank than the result ",
             formatDims(out));
      }
    }
    for (size_t d = 0; d < rank; ++d) {
      if (out[d] < 0) fail(SY_ERROR_INVALID_ARGUMENT, "negative dim in ", formatDims(out));
      if (out[d] == 0) empty_ = true;
      std::array<bool, N> rep{};
      for (size_t k = 0; k < N; ++k) {
        const size_t shift = rank - in[k].size();
        const int64_t e = d < shift ? 1 : in[k][d - shift];
        if (e != out[d] && e != 1) {
          fail(SY_ERROR_INVALID_ARGUMENT, "operand ", k, " ", formatDims(in[k]), " does not broadcast to ",
               formatDims(out));
        }
        rep[k] = e != out[d];
      }
      if (out[d] == 1) continue;
      if (dims > 0 && repeats[dims - 1] == rep) {
        size[dims - 1] *= out[d];  // merge: both dims advance (or repeat) alike for every operand
      } else {
        size[dims] = out[d];
        repeats[dims] = rep;
        ++dims;
      }
    }
    if (empty_) return;
    // The innermost merged dim is the run; the others are counted.
    length_ = dims > 0 ? size[dims - 1] : 1;
    for (size_t k = 0; k < N; ++k) stride_[k] = dims > 0 && !repeats[dims - 1][k] ? 1 : 0;
    outer_ = dims > 0 ? dims - 1 : 0;
    for (size_t k = 0; k < N; ++k) {
      int64_t s = dims > 0 && !repeats[dims - 1][k] ? size[dims - 1] : 1;
      for (int32_t d = outer_; d-- > 0;) {
        step_[d][k] = repeats[d][k] ? 0 : s;
        if (!repeats[d][k]) s *= size[d];
      }
    }
    for (int32_t d = 0; d < outer_; ++d) size_[d] = size[d];
  }

  /// True after the last run (at once when out has no elements).
  bool done() const { return empty_ || done_; }
  /// Moves to the next run.
  void next() {
    outOffset_ += length_;
    for (int32_t d = outer_; d-- > 0;) {
      for (size_t k = 0; k < N; ++k) offset_[k] += step_[d][k];
      if (++count_[d] < size_[d]) return;
      for (size_t k = 0; k < N; ++k) offset_[k] -= step_[d][k] * size_[d];
      count_[d] = 0;
    }
    done_ = true;
  }
  /// Elements in this run (the same for every run).
  int64_t length() const { return length_; }
  /// Element offset of this run's first output element.
  int64_t outOffset() const { return outOffset_; }
  /// Element offset of operand k's element for this run's first output element.
  int64_t offset(size_t k) const { return offset_[k]; }
  /// 1 when operand k advances along the run, 0 when it repeats one element.
  int64_t stride(size_t k) const { return stride_[k]; }

 private:
  bool empty_ = false, done_ = false;
  int32_t outer_ = 0;
  int64_t length_ = 1, outOffset_ = 0;
  std::array<int64_t, SY_MAX_RANK> size_{}, count_{};
  std::array<std::array<int64_t, N>, SY_MAX_RANK> step_{};
  std::array<int64_t, N> offset_{}, stride_{};
};

/// The NumPy matmul of shapes a and b (ONNX MatMul): a 1-D a is promoted to
/// [1, K] and b to [K, 1], the promoted dims are dropped from the result, and
/// the batch dims (all but the last two) broadcast.
struct MatmulShape {
  std::vector<int64_t> out;    ///< the result's dims
  std::vector<int64_t> batch;  ///< the broadcast batch dims (empty when both are 1-D or 2-D)
  int64_t m = 1, k = 1, n = 1;
  int64_t batchCount = 1;      ///< product of batch
  std::vector<int64_t> aBatchStride, bBatchStride;  ///< per batch dim: matrices to step, 0 where broadcast

  /// Which [m, k] matrix of a batch entry `i` (row-major over batch) reads.
  int64_t aMatrix(int64_t i) const { return matrixOf(i, aBatchStride); }
  /// Which [k, n] matrix of b batch entry `i` reads.
  int64_t bMatrix(int64_t i) const { return matrixOf(i, bBatchStride); }

 private:
  int64_t matrixOf(int64_t i, const std::vector<int64_t>& stride) const {
    int64_t index = 0;
    for (size_t d = batch.size(); d-- > 0;) {
      index += (i % batch[d]) * stride[d];
      i /= batch[d];
    }
    return index;
  }
};

/// The shape rules of matmul for a and b; Error(SY_ERROR_INVALID_ARGUMENT)
/// for a scalar operand, inner dims that differ, or batch dims that do not
/// broadcast.
inline MatmulShape matmulShape(ArrayRef<int64_t> a, ArrayRef<int64_t> b) {
  if (a.empty() || b.empty()) {
    fail(SY_ERROR_INVALID_ARGUMENT, "matmul of a scalar: ", formatDims(a), " and ", formatDims(b));
  }
  MatmulShape s;
  const std::vector<int64_t> a2 = a.size() == 1 ? std::vector<int64_t>{1, a[0]} : a.vec();
  const std::vector<int64_t> b2 = b.size() == 1 ? std::vector<int64_t>{b[0], 1} : b.vec();
  s.m = a2[a2.size() - 2];
  s.k = a2.back();
  s.n = b2.back();
  if (b2[b2.size() - 2] != s.k) {
    fail(SY_ERROR_INVALID_ARGUMENT, "matmul: inner dims differ, ", formatDims(a), " and ", formatDims(b));
  }
  const std::vector<int64_t> aBatch(a2.begin(), a2.end() - 2), bBatch(b2.begin(), b2.end() - 2);
  try {
    s.batch = shapes::broadcastShape(aBatch, bBatch);
  } catch (const Error&) {
    fail(SY_ERROR_INVALID_ARGUMENT, "matmul: batch dims of ", formatDims(a), " and ", formatDims(b),
         " do not broadcast");
  }
  // Matrices to step per batch dim, 0 along a dim the operand repeats.
  auto strides = [&](const std::vector<int64_t>& own) {
    std::vector<int64_t> st(s.batch.size(), 0);
    const size_t shift = s.batch.size() - own.size();
    int64_t step = 1;
    for (size_t d = own.size(); d-- > 0;) {
      st[d + shift] = own[d] == 1 ? 0 : step;
      step *= own[d];
    }
    return st;
  };
  s.aBatchStride = strides(aBatch);
  s.bBatchStride = strides(bBatch);
  for (int64_t d : s.batch) s.batchCount *= d;
  s.out = s.batch;
  if (a.size() > 1) s.out.push_back(s.m);
  if (b.size() > 1) s.out.push_back(s.n);
  return s;
}

}  // namespace sy::sdk
