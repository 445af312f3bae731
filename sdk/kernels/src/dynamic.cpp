// Kernels whose output size depends on input values: top_k (k a run-time
// input), non_zero, unique, compress, non_max_suppression; and roi_align.
//
// outputShapes reads the input data and computes each output's size (see
// Note [data-dependent output sizes] in core/src/ops/dynamic.cpp): for
// non_zero and compress that is a count, for unique and non_max_suppression
// it is the op's whole selection, which run() then repeats to fill the
// outputs (a Kernel is immutable and keeps nothing between the two calls).
#include <algorithm>
#include <array>
#include <numeric>

#include "common.h"

namespace sy::kernels::detail {
namespace {

int64_t intAt(const Tensor& t, int64_t j) {
  return t.dtype == SY_DTYPE_I32 ? t.as<const int32_t>()[j] : t.as<const int64_t>()[j];
}

/// The values of a tensor as keys (f16/bf16 widened, i64 exact in its own path).
template <class T>
void loadKeys(const Tensor& t, std::vector<T>& out) {
  const int64_t n = t.numElements();
  out.resize(static_cast<size_t>(n));
  switch (t.dtype) {
    case SY_DTYPE_F16:
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(halfToFloat(t.as<const uint16_t>()[i]));
      break;
    case SY_DTYPE_BF16:
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(bf16ToFloat(t.as<const uint16_t>()[i]));
      break;
    case SY_DTYPE_F32:
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(t.as<const float>()[i]);
      break;
    case SY_DTYPE_I8:
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(t.as<const int8_t>()[i]);
      break;
    case SY_DTYPE_I32:
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(t.as<const int32_t>()[i]);
      break;
    case SY_DTYPE_I64:
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(t.as<const int64_t>()[i]);
      break;
    default:  // bool and other one-byte dtypes
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(t.as<const uint8_t>()[i]);
      break;
  }
}

/// NaN-aware orders: NaN is the largest value (and equal to NaN).
template <class T>
inline bool lessNan(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (a != a || b != b) return a == a && b != b;
  }
  return a < b;
}
template <class T>
inline bool equalNan(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (a != a || b != b) return a != a && b != b;
  }
  return a == b;
}

// ============================================================================
// top_k

class TopKKernel final : public KernelBase {
 public:
  TopKKernel(const OpDesc& d)
      : KernelBase(d),
        axisAttr_(d.node.attrInt("axis", -1)),
        largest_(d.node.attrInt("largest", 1) != 0),
        dtype_(d.in[0]) {}

  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 2, no, 2);
    int64_t axis, k;
    geometry(in, axis, k);
    out[0] = in[0].dims;
    out[0].d[axis] = k;
    out[1] = out[0];
  }

  void run(const Tensor* in, size_t, Tensor* out, size_t, const Exec& exec) const override {
    int64_t axis, k;
    geometry(in, axis, k);
    const Dims& x = in[0].dims;
    const int64_t outer = product(x.d, 0, axis), n = x.d[axis], inner = product(x.d, axis + 1, x.rank);
    if (k == 0 || outer * inner == 0) return;
    switch (dtype_) {
      case SY_DTYPE_F32: runT<float>(in[0], out, outer, n, inner, k, exec); break;
      case SY_DTYPE_I32: runT<int32_t>(in[0], out, outer, n, inner, k, exec); break;
      case SY_DTYPE_I64: runT<int64_t>(in[0], out, outer, n, inner, k, exec); break;
      default: failArg(who_, "dtype ", dtName(dtype_), " is not implemented");
    }
  }

 private:
  void geometry(const Tensor* in, int64_t& axis, int64_t& k) const {
    SY_KCHECK(in[0].dims.rank >= 1, who_, "x must have rank >= 1, got ", dimsStr(in[0].dims));
    SY_KCHECK((in[1].dtype == SY_DTYPE_I32 || in[1].dtype == SY_DTYPE_I64) && in[1].numElements() == 1, who_,
              "k must be one i32 or i64 value, got ", dtName(in[1].dtype), dimsStr(in[1].dims));
    axis = normAxis(axisAttr_, in[0].dims.rank, who_);
    k = intAt(in[1], 0);
    SY_KCHECK(k >= 0 && k <= in[0].dims.d[axis], who_, "k = ", k, " is outside [0, ", in[0].dims.d[axis],
              "] (axis ", axis, " of ", dimsStr(in[0].dims), ")");
  }

  template <class T>
  void runT(const Tensor& x, Tensor* out, int64_t outer, int64_t n, int64_t inner, int64_t k,
            const Exec& exec) const {
    const T* xs = x.as<const T>();
    T* vals = out[0].as<T>();
    int64_t* idx = out[1].as<int64_t>();
    const bool largest = largest_;
    parallelFor(exec, outer * inner, std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
      std::vector<int64_t> order(static_cast<size_t>(n));
      std::vector<T> row(static_cast<size_t>(n));
      for (int64_t r = b; r < e; ++r) {
        const int64_t o = r / inner, j = r % inner;
        const T* src = xs + o * n * inner + j;
        for (int64_t i = 0; i < n; ++i) row[i] = src[i * inner];
        std::iota(order.begin(), order.end(), int64_t{0});
        // Before: the larger (smaller) value, NaN largest; equal values by index.
        auto before = [&](int64_t a, int64_t c) {
          const T va = row[a], vc = row[c];
          if (equalNan(va, vc)) return a < c;
          return largest ? lessNan(vc, va) : lessNan(va, vc);
        };
        if (k < n) std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
        else std::sort(order.begin(), order.end(), before);
        const int64_t base = o * k * inner + j;
        for (int64_t i = 0; i < k; ++i) {
          vals[base + i * inner] = row[order[i]];
          idx[base + i * inner] = order[i];
        }
      }
    });
  }

  int64_t axisAttr_;
  bool largest_;
  int32_t dtype_;
};

// ============================================================================
// non_zero

/// Whether element i is non-zero: -0.0 is zero, NaN is not.
inline bool nonZeroAt(const Tensor& t, size_t esize, int64_t i) {
  switch (t.dtype) {
    case SY_DTYPE_F32: return t.as<const float>()[i] != 0.0f;
    case SY_DTYPE_F16:
    case SY_DTYPE_BF16: return (t.as<const uint16_t>()[i] & 0x7FFFu) != 0;
    default: {
      const unsigned char* p = static_cast<const unsigned char*>(t.data) + static_cast<size_t>(i) * esize;
      for (size_t b = 0; b < esize; ++b)
        if (p[b] != 0) return true;
      return false;
    }
  }
}

class NonZeroKernel final : public KernelBase {
 public:
  using KernelBase::KernelBase;
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 1, no, 1);
    out[0].rank = 2;
    out[0].d[0] = std::max<int32_t>(in[0].dims.rank, 1);
    out[0].d[1] = count(in[0]);
  }
  void run(const Tensor* in, size_t, Tensor* out, size_t, const Exec&) const override {
    const Tensor& x = in[0];
    const int64_t n = x.numElements(), m = out[0].dims.d[1];
    const size_t esize = sdk::dtypeSize(x.dtype);
    int64_t* o = out[0].as<int64_t>();
    const int32_t rank = std::max<int32_t>(x.dims.rank, 1);
    int64_t coord[SY_MAX_RANK] = {};
    int64_t c = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (nonZeroAt(x, esize, i)) {
        SY_KCHECK(c < m, who_, "the input changed while it ran");
        for (int32_t d = 0; d < rank; ++d) o[d * m + c] = coord[d];
        ++c;
      }
      for (int32_t d = x.dims.rank - 1; d >= 0; --d) {  // next coordinate, row-major
        if (++coord[d] < x.dims.d[d]) break;
        coord[d] = 0;
      }
    }
  }

 private:
  static int64_t count(const Tensor& x) {
    const int64_t n = x.numElements();
    const size_t esize = sdk::dtypeSize(x.dtype);
    int64_t c = 0;
    for (int64_t i = 0; i < n; ++i) c += nonZeroAt(x, esize, i) ? 1 : 0;
    return c;
  }
};

// ============================================================================
// compress

class CompressKernel final : public KernelBase {
 public:
  CompressKernel(const OpDesc& d)
      : KernelBase(d), hasAxis_(d.node.hasAttr("axis")), axisAttr_(d.node.attrInt("axis", 0)) {}

  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 2, no, 1);
    int64_t outer, n, inner, axis;
    geometry(in, outer, n, inner, axis);
    const int64_t kept = countTrue(in[1]);
    if (hasAxis_) {
      out[0] = in[0].dims;
      out[0].d[axis] = kept;
    } else {
      out[0].rank = 1;
      out[0].d[0] = kept;
    }
  }

  void run(const Tensor* in, size_t, Tensor* out, size_t, const Exec&) const override {
    int64_t outer, n, inner, axis;
    geometry(in, outer, n, inner, axis);
    const uint8_t* cond = in[1].as<const uint8_t>();
    const int64_t len = in[1].numElements();
    const size_t row = static_cast<size_t>(inner) * sdk::dtypeSize(in[0].dtype);
    const char* src = static_cast<const char*>(in[0].data);
    char* dst = static_cast<char*>(out[0].data);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < len; ++i) {
        if (cond[i] == 0) continue;
        std::memcpy(dst, src + static_cast<size_t>(o * n + i) * row, row);
        dst += row;
      }
  }

 private:
  void geometry(const Tensor* in, int64_t& outer, int64_t& n, int64_t& inner, int64_t& axis) const {
    SY_KCHECK(in[1].dtype == SY_DTYPE_BOOL && in[1].dims.rank == 1, who_, "condition must be a 1-D bool, got ",
              dtName(in[1].dtype), dimsStr(in[1].dims));
    const Dims& x = in[0].dims;
    if (hasAxis_) {
      SY_KCHECK(x.rank >= 1, who_, "an axis needs x of rank >= 1, got ", dimsStr(x));
      axis = normAxis(axisAttr_, x.rank, who_);
      outer = product(x.d, 0, axis);
      n = x.d[axis];
      inner = product(x.d, axis + 1, x.rank);
    } else {
      axis = 0;
      outer = 1;
      n = x.numElements();
      inner = 1;
    }
    SY_KCHECK(in[1].numElements() <= n, who_, "condition has ", in[1].numElements(), " entries, more than the ", n,
              hasAxis_ ? " slices along the axis" : " elements of x");
  }
  static int64_t countTrue(const Tensor& c) {
    int64_t k = 0;
    const uint8_t* p = c.as<const uint8_t>();
    for (int64_t i = 0; i < c.numElements(); ++i) k += p[i] != 0 ? 1 : 0;
    return k;
  }
  bool hasAxis_;
  int64_t axisAttr_;
};

// ============================================================================
// unique

struct UniqueResult {
  std::vector<int64_t> first;    // per output slice: index of its first occurrence
  std::vector<int64_t> inverse;  // per input slice: its output slice
  std::vector<int64_t> counts;   // per output slice
};

class UniqueKernel final : public KernelBase {
 public:
  UniqueKernel(const OpDesc& d)
      : KernelBase(d),
        hasAxis_(d.node.hasAttr("axis")),
        axisAttr_(d.node.attrInt("axis", 0)),
        sorted_(d.node.attrInt("sorted", 1) != 0) {}

  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    SY_KCHECK(ni == 1 && no >= 1 && no <= 4, who_, "takes 1 input and 1 to 4 outputs, got ", ni, " and ", no);
    int64_t outer, n, inner, axis;
    geometry(in[0], outer, n, inner, axis);
    const UniqueResult u = compute(in[0], outer, n, inner);
    const int64_t m = static_cast<int64_t>(u.first.size());
    if (hasAxis_) {
      out[0] = in[0].dims;
      out[0].d[axis] = m;
    } else {
      out[0] = Dims{};
      out[0].rank = 1;
      out[0].d[0] = m;
    }
    for (size_t i = 1; i < no; ++i) {
      out[i] = Dims{};
      out[i].rank = 1;
      out[i].d[0] = i == 2 ? n : m;
    }
  }

  void run(const Tensor* in, size_t, Tensor* out, size_t no, const Exec&) const override {
    int64_t outer, n, inner, axis;
    geometry(in[0], outer, n, inner, axis);
    const UniqueResult u = compute(in[0], outer, n, inner);
    const int64_t m = static_cast<int64_t>(u.first.size());
    const size_t row = static_cast<size_t>(inner) * sdk::dtypeSize(in[0].dtype);
    const char* src = static_cast<const char*>(in[0].data);
    char* dst = static_cast<char*>(out[0].data);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < m; ++j)
        std::memcpy(dst + static_cast<size_t>(o * m + j) * row, src + static_cast<size_t>(o * n + u.first[j]) * row,
                    row);
    if (no > 1) std::copy(u.first.begin(), u.first.end(), out[1].as<int64_t>());
    if (no > 2) std::copy(u.inverse.begin(), u.inverse.end(), out[2].as<int64_t>());
    if (no > 3) std::copy(u.counts.begin(), u.counts.end(), out[3].as<int64_t>());
  }

 private:
  void geometry(const Tensor& x, int64_t& outer, int64_t& n, int64_t& inner, int64_t& axis) const {
    if (hasAxis_ && x.dims.rank >= 1) {
      axis = normAxis(axisAttr_, x.dims.rank, who_);
      outer = product(x.dims.d, 0, axis);
      n = x.dims.d[axis];
      inner = product(x.dims.d, axis + 1, x.dims.rank);
    } else {
      axis = 0;
      outer = 1;
      n = x.numElements();
      inner = 1;
    }
  }

  UniqueResult compute(const Tensor& x, int64_t outer, int64_t n, int64_t inner) const {
    if (x.dtype == SY_DTYPE_I64) {
      std::vector<int64_t> keys;
      loadKeys(x, keys);
      return computeT(keys, outer, n, inner);
    }
    std::vector<double> keys;  // exact for every other dtype
    loadKeys(x, keys);
    return computeT(keys, outer, n, inner);
  }

  template <class T>
  UniqueResult computeT(const std::vector<T>& k, int64_t outer, int64_t n, int64_t inner) const {
    // Slice i is k[o * n * inner + i * inner + j] for o, j in row-major order.
    auto cmp = [&](int64_t a, int64_t b) {  // -1, 0, 1
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < inner; ++j) {
          const T va = k[(o * n + a) * inner + j], vb = k[(o * n + b) * inner + j];
          if (equalNan(va, vb)) continue;
          return lessNan(va, vb) ? -1 : 1;
        }
      return 0;
    };
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return cmp(a, b) < 0; });
    UniqueResult u;
    u.inverse.assign(static_cast<size_t>(n), 0);
    std::vector<int64_t> group(static_cast<size_t>(n));  // sorted group of each slice
    for (int64_t i = 0; i < n; ++i) {
      if (i == 0 || cmp(order[i - 1], order[i]) != 0) {
        u.first.push_back(order[i]);  // stable: the group's lowest index
        u.counts.push_back(0);
      }
      group[order[i]] = static_cast<int64_t>(u.first.size()) - 1;
      ++u.counts.back();
    }
    std::vector<int64_t> position(u.first.size());  // output position of each sorted group
    std::iota(position.begin(), position.end(), int64_t{0});
    if (!sorted_) {
      std::vector<int64_t> byFirst(u.first.size());
      std::iota(byFirst.begin(), byFirst.end(), int64_t{0});
      std::sort(byFirst.begin(), byFirst.end(), [&](int64_t a, int64_t b) { return u.first[a] < u.first[b]; });
      UniqueResult v;
      for (size_t p = 0; p < byFirst.size(); ++p) {
        position[static_cast<size_t>(byFirst[p])] = static_cast<int64_t>(p);
        v.first.push_back(u.first[byFirst[p]]);
        v.counts.push_back(u.counts[byFirst[p]]);
      }
      u.first = std::move(v.first);
      u.counts = std::move(v.counts);
    }
    for (int64_t i = 0; i < n; ++i) u.inverse[i] = position[group[i]];
    return u;
  }

  bool hasAxis_;
  int64_t axisAttr_;
  bool sorted_;
};

// ============================================================================
// non_max_suppression

class NmsKernel final : public KernelBase {
 public:
  NmsKernel(const OpDesc& d) : KernelBase(d), center_(d.node.attrInt("center_point_box", 0) != 0) {}

  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    SY_KCHECK(ni >= 2 && ni <= 5 && no == 1, who_, "takes 2 to 5 inputs and 1 output");
    out[0].rank = 2;
    out[0].d[0] = static_cast<int64_t>(select(in, ni).size());
    out[0].d[1] = 3;
  }

  void run(const Tensor* in, size_t ni, Tensor* out, size_t, const Exec&) const override {
    const std::vector<std::array<int64_t, 3>> sel = select(in, ni);
    SY_KCHECK(static_cast<int64_t>(sel.size()) == out[0].dims.d[0], who_, "the input changed while it ran");
    int64_t* o = out[0].as<int64_t>();
    for (size_t i = 0; i < sel.size(); ++i)
      for (size_t c = 0; c < 3; ++c) o[i * 3 + c] = sel[i][c];
  }

 private:
  struct Box {
    float x1, y1, x2, y2, area;
  };

  std::vector<std::array<int64_t, 3>> select(const Tensor* in, size_t ni) const {
    const Tensor &boxes = in[0], &scores = in[1];
    SY_KCHECK(boxes.dtype == SY_DTYPE_F32 && scores.dtype == SY_DTYPE_F32, who_, "boxes and scores must be f32");
    SY_KCHECK(boxes.dims.rank == 3 && boxes.dims.d[2] == 4, who_, "boxes must be [batches, boxes, 4], got ",
              dimsStr(boxes.dims));
    SY_KCHECK(scores.dims.rank == 3 && scores.dims.d[0] == boxes.dims.d[0] && scores.dims.d[2] == boxes.dims.d[1],
              who_, "scores must be [batches, classes, boxes] for boxes ", dimsStr(boxes.dims), ", got ",
              dimsStr(scores.dims));
    auto present = [&](size_t i) { return i < ni && in[i].data != nullptr && in[i].numElements() > 0; };
    int64_t maxOut = 0;
    if (present(2)) {
      SY_KCHECK((in[2].dtype == SY_DTYPE_I64 || in[2].dtype == SY_DTYPE_I32) && in[2].numElements() == 1, who_,
                "max_output_boxes_per_class must be one i64 value");
      maxOut = intAt(in[2], 0);
    }
    float iou = 0.0f;
    if (present(3)) {
      SY_KCHECK(in[3].dtype == SY_DTYPE_F32 && in[3].numElements() == 1, who_, "iou_threshold must be one f32 value");
      iou = in[3].as<const float>()[0];
      SY_KCHECK(iou >= 0.0f && iou <= 1.0f, who_, "iou_threshold must be in [0, 1], got ", iou);
    }
    const bool hasScoreThreshold = present(4);
    float scoreThreshold = 0.0f;
    if (hasScoreThreshold) {
      SY_KCHECK(in[4].dtype == SY_DTYPE_F32 && in[4].numElements() == 1, who_,
                "score_threshold must be one f32 value");
      scoreThreshold = in[4].as<const float>()[0];
    }
    std::vector<std::array<int64_t, 3>> out;
    if (maxOut <= 0) return out;
    const int64_t batches = boxes.dims.d[0], n = boxes.dims.d[1], classes = scores.dims.d[1];
    std::vector<Box> bx(static_cast<size_t>(n));
    std::vector<int64_t> cand, kept;
    for (int64_t b = 0; b < batches; ++b) {
      const float* bp = boxes.as<const float>() + b * n * 4;
      for (int64_t i = 0; i < n; ++i) {
        const float* p = bp + i * 4;
        Box& q = bx[i];
        if (center_) {
          q.x1 = p[0] - p[2] / 2;
          q.x2 = p[0] + p[2] / 2;
          q.y1 = p[1] - p[3] / 2;
          q.y2 = p[1] + p[3] / 2;
        } else {
          q.y1 = std::min(p[0], p[2]);
          q.y2 = std::max(p[0], p[2]);
          q.x1 = std::min(p[1], p[3]);
          q.x2 = std::max(p[1], p[3]);
        }
        q.area = (q.x2 - q.x1) * (q.y2 - q.y1);
      }
      for (int64_t c = 0; c < classes; ++c) {
        const float* sp = scores.as<const float>() + (b * classes + c) * n;
        cand.clear();
        for (int64_t i = 0; i < n; ++i)
          if (!hasScoreThreshold || sp[i] > scoreThreshold) cand.push_back(i);
        // Highest score first; equal scores by index.
        std::stable_sort(cand.begin(), cand.end(), [&](int64_t a, int64_t d) { return sp[a] > sp[d]; });
        kept.clear();
        for (int64_t i : cand) {
          if (static_cast<int64_t>(kept.size()) >= maxOut) break;
          bool keep = true;
          for (int64_t j : kept)
            if (suppresses(bx[j], bx[i], iou)) {
              keep = false;
              break;
            }
          if (keep) {
            kept.push_back(i);
            out.push_back({b, c, i});
          }
        }
      }
    }
    return out;
  }

  /// IoU(a, b) > threshold; boxes of no area never suppress (as ONNX Runtime).
  static bool suppresses(const Box& a, const Box& b, float threshold) {
    if (a.area <= 0 || b.area <= 0) return false;
    const float w = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
    const float h = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
    if (w <= 0 || h <= 0) return false;
    const float inter = w * h;
    return inter / (a.area + b.area - inter) > threshold;
  }

  bool center_;
};

// ============================================================================
// roi_align

class RoiAlignKernel final : public KernelBase {
 public:
  RoiAlignKernel(const OpDesc& d)
      : KernelBase(d),
        max_(d.node.attrString("mode", "avg") == "max"),
        halfPixel_(d.node.attrString("coordinate_transformation_mode", "half_pixel") == "half_pixel"),
        oh_(d.node.attrInt("output_height", 1)),
        ow_(d.node.attrInt("output_width", 1)),
        ratio_(d.node.attrInt("sampling_ratio", 0)),
        scale_(static_cast<float>(d.node.attrFloat("spatial_scale", 1.0))) {
    SY_KCHECK(oh_ >= 1 && ow_ >= 1 && ratio_ >= 0, who_, "output_height/width must be >= 1 and sampling_ratio >= 0");
  }

  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 3, no, 1);
    check(in);
    out[0].rank = 4;
    out[0].d[0] = in[1].dims.d[0];
    out[0].d[1] = in[0].dims.d[1];
    out[0].d[2] = oh_;
    out[0].d[3] = ow_;
  }

  void run(const Tensor* in, size_t, Tensor* out, size_t, const Exec& exec) const override {
    check(in);
    const int64_t c = in[0].dims.d[1], h = in[0].dims.d[2], w = in[0].dims.d[3], r = in[1].dims.d[0];
    const float* x = in[0].as<const float>();
    const float* rois = in[1].as<const float>();
    float* y = out[0].as<float>();
    parallelFor(exec, r * c, 1, [&](int64_t b, int64_t e) {
      for (int64_t rc = b; rc < e; ++rc) {
        const int64_t ri = rc / c, ch = rc % c;
        const int64_t img = intAt(in[2], ri);
        const float* plane = x + (img * c + ch) * h * w;
        const float* roi = rois + ri * 4;
        const float off = halfPixel_ ? 0.5f : 0.0f;
        const float x0 = roi[0] * scale_ - off, y0 = roi[1] * scale_ - off;
        float rw = roi[2] * scale_ - off - x0, rh = roi[3] * scale_ - off - y0;
        if (!halfPixel_) {
          rw = std::max(rw, 1.0f);
          rh = std::max(rh, 1.0f);
        }
        const float bh = rh / static_cast<float>(oh_), bw = rw / static_cast<float>(ow_);
        const int64_t gh = ratio_ > 0 ? ratio_ : adaptiveGrid(rh / static_cast<float>(oh_));
        const int64_t gw = ratio_ > 0 ? ratio_ : adaptiveGrid(rw / static_cast<float>(ow_));
        const float count = static_cast<float>(std::max<int64_t>(gh * gw, 1));
        float* yo = y + rc * oh_ * ow_;
        for (int64_t ph = 0; ph < oh_; ++ph)
          for (int64_t pw = 0; pw < ow_; ++pw) {
            float acc = 0.0f;
            bool first = true;
            for (int64_t iy = 0; iy < gh; ++iy) {
              const float sy = y0 + static_cast<float>(ph) * bh + (static_cast<float>(iy) + 0.5f) * bh / static_cast<float>(gh);
              for (int64_t ix = 0; ix < gw; ++ix) {
                const float sx =
                    x0 + static_cast<float>(pw) * bw + (static_cast<float>(ix) + 0.5f) * bw / static_cast<float>(gw);
                const float v = sample(plane, h, w, sy, sx);
                if (max_) {
                  acc = first ? v : std::max(acc, v);
                  first = false;
                } else {
                  acc += v;
                }
              }
            }
            yo[ph * ow_ + pw] = max_ ? acc : acc / count;
          }
      }
    });
  }

 private:
  void check(const Tensor* in) const {
    SY_KCHECK(in[0].dtype == SY_DTYPE_F32 && in[1].dtype == SY_DTYPE_F32, who_, "x and rois must be f32");
    SY_KCHECK(in[0].dims.rank == 4, who_, "x must be [N, C, H, W], got ", dimsStr(in[0].dims));
    SY_KCHECK(in[1].dims.rank == 2 && in[1].dims.d[1] == 4, who_, "rois must be [R, 4], got ", dimsStr(in[1].dims));
    SY_KCHECK((in[2].dtype == SY_DTYPE_I64 || in[2].dtype == SY_DTYPE_I32) && in[2].dims.rank == 1 &&
                  in[2].dims.d[0] == in[1].dims.d[0],
              who_, "batch_indices must be i64 [", in[1].dims.d[0], "], got ", dtName(in[2].dtype),
              dimsStr(in[2].dims));
    for (int64_t i = 0; i < in[2].numElements(); ++i) {
      const int64_t b = intAt(in[2], i);
      SY_KCHECK(b >= 0 && b < in[0].dims.d[0], who_, "batch_indices[", i, "] = ", b, " is outside [0, ",
                in[0].dims.d[0], ")");
    }
  }

  /// Samples per bin along one axis for sampling_ratio 0: ceil(bin size),
  /// 0 for an empty, negative or NaN bin, at most kMaxGrid (a bin larger
  /// than any image would otherwise loop for as long as its size says).
  static int64_t adaptiveGrid(float bin) {
    constexpr float kMaxGrid = 1 << 16;
    if (!(bin > 0.0f)) return 0;
    return static_cast<int64_t>(std::ceil(std::min(bin, kMaxGrid)));
  }

  /// Bilinear sample at (sy, sx): 0 outside [-1, size]; for max mode the
  /// largest of the four weighted corners (ONNX Runtime's definition).
  float sample(const float* p, int64_t h, int64_t w, float sy, float sx) const {
    // Written so that NaN coordinates (from NaN rois) also sample 0.
    if (!(sy >= -1.0f && sy <= static_cast<float>(h) && sx >= -1.0f && sx <= static_cast<float>(w))) return 0.0f;
    sy = std::max(sy, 0.0f);
    sx = std::max(sx, 0.0f);
    int64_t yl = static_cast<int64_t>(sy), xl = static_cast<int64_t>(sx), yh, xh;
    if (yl >= h - 1) {
      yh = yl = h - 1;
      sy = static_cast<float>(yl);
    } else {
      yh = yl + 1;
    }
    if (xl >= w - 1) {
      xh = xl = w - 1;
      sx = static_cast<float>(xl);
    } else {
      xh = xl + 1;
    }
    const float ly = sy - static_cast<float>(yl), lx = sx - static_cast<float>(xl), hy = 1.0f - ly, hx = 1.0f - lx;
    const float a = hy * hx * p[yl * w + xl], b = hy * lx * p[yl * w + xh], c = ly * hx * p[yh * w + xl],
                d = ly * lx * p[yh * w + xh];
    if (max_) return std::max(std::max(a, b), std::max(c, d));
    return a + b + c + d;
  }

  bool max_, halfPixel_;
  int64_t oh_, ow_, ratio_;
  float scale_;
};

}  // namespace

SY_CPU_FACTORY(makeTopK) {
  const int32_t dt = d.in[0];
  if (dt != SY_DTYPE_F32 && dt != SY_DTYPE_I32 && dt != SY_DTYPE_I64)
    return decline(whyNot, d, "only f32, i32 and i64 are implemented, x is ", dtName(dt));
  if (d.numInputs() != 2 || d.numOutputs() != 2) return decline(whyNot, d, "needs 2 inputs and 2 outputs");
  return std::make_unique<TopKKernel>(d);
}

SY_CPU_FACTORY(makeNonZero) {
  if (d.in[0] < 0 || sdk::dtypeSize(d.in[0]) == 0) return decline(whyNot, d, "unknown dtype");
  return std::make_unique<NonZeroKernel>(d);
}

SY_CPU_FACTORY(makeCompress) {
  if (d.numInputs() != 2 || d.in[1] != SY_DTYPE_BOOL) return decline(whyNot, d, "condition must be bool");
  return std::make_unique<CompressKernel>(d);
}

SY_CPU_FACTORY(makeUnique) {
  switch (d.in[0]) {
    case SY_DTYPE_F32: case SY_DTYPE_F16: case SY_DTYPE_BF16: case SY_DTYPE_I8:
    case SY_DTYPE_I32: case SY_DTYPE_I64: case SY_DTYPE_BOOL: break;
    default: return decline(whyNot, d, "dtype ", dtName(d.in[0]), " is not implemented");
  }
  return std::make_unique<UniqueKernel>(d);
}

SY_CPU_FACTORY(makeNonMaxSuppression) {
  if (d.in[0] != SY_DTYPE_F32 || d.numInputs() < 2 || d.in[1] != SY_DTYPE_F32)
    return decline(whyNot, d, "boxes and scores must be f32");
  return std::make_unique<NmsKernel>(d);
}

SY_CPU_FACTORY(makeRoiAlign) {
  if (d.in[0] != SY_DTYPE_F32) return decline(whyNot, d, "only f32 is implemented, x is ", dtName(d.in[0]));
  return std::make_unique<RoiAlignKernel>(d);
}

}  // namespace sy::kernels::detail
