// Element-index kernels: gather_elements, scatter_elements, gather_nd,
// scatter_nd (ONNX GatherElements, ScatterElements, GatherND, ScatterND), and
// cumsum (f32/i32/i64; 16-bit floats through the wrapper).
//
// Gathers move elements by element size, so they run every dtype. Scatters
// copy `data` and then apply the updates in index order (so that repeated
// indices give ONNX's sequential result); with reduction "none" they move
// bytes too, with add/mul/max/min they compute in the element's own type
// (f16/bf16 through the f32 wrapper, see registry.cpp). Indices are i32 or
// i64; negative ones count from the end; any index out of range is an error
// naming the node, checked before anything is written.
#include "common.h"

namespace sy::kernels::detail {
namespace {

int64_t indexAt(const Tensor& t, int64_t j) {
  return t.dtype == SY_DTYPE_I32 ? t.as<const int32_t>()[j] : t.as<const int64_t>()[j];
}

bool isIndexType(int32_t dt) { return dt == SY_DTYPE_I32 || dt == SY_DTYPE_I64; }

/// Checks every index against [-n, n); n is the size of data's dim `axis`.
void checkIndices(const Tensor& ind, int64_t n, int64_t axis, const std::string& who) {
  const int64_t m = ind.numElements();
  for (int64_t j = 0; j < m; ++j) {
    const int64_t v = indexAt(ind, j);
    if (v < -n || v >= n)
      sdk::fail(SY_ERROR_INVALID_ARGUMENT, who, ": index ", v, " is out of range for axis ", axis, " of size ", n,
                " (valid: ", -n, " to ", n - 1, ")");
  }
}

enum class Red { None, Add, Mul, Max, Min };

Red parseReduction(const std::string& s, bool allowMinMax, const std::string& who) {
  if (s == "none") return Red::None;
  if (s == "add") return Red::Add;
  if (s == "mul") return Red::Mul;
  if (allowMinMax && s == "max") return Red::Max;
  if (allowMinMax && s == "min") return Red::Min;
  sdk::fail(SY_ERROR_INVALID_ARGUMENT, who, ": reduction '", s, "' is not one of none, add, mul",
            allowMinMax ? ", max, min" : "");
  return Red::None;
}

/// dst[i] = dst[i] (op) src[i] for i < n.
template <class T>
void combine(T* dst, const T* src, int64_t n, Red r) {
  switch (r) {
    case Red::None:
      for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
      break;
    case Red::Add:
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(dst[i] + src[i]);
      break;
    case Red::Mul:
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(dst[i] * src[i]);
      break;
    case Red::Max:
      for (int64_t i = 0; i < n; ++i) dst[i] = std::max(dst[i], src[i]);
      break;
    case Red::Min:
      for (int64_t i = 0; i < n; ++i) dst[i] = std::min(dst[i], src[i]);
      break;
  }
}

/// Calls fn(T{}) with the element type: arithmetic types for a reduction,
/// same-size unsigned words for a plain copy.
template <class Fn>
void dispatch(int32_t dtype, Red r, Fn&& fn) {
  if (r != Red::None) {
    switch (dtype) {
      case SY_DTYPE_F32: fn(float{}); return;
      case SY_DTYPE_I8: fn(int8_t{}); return;
      case SY_DTYPE_I32: fn(int32_t{}); return;
      case SY_DTYPE_I64: fn(int64_t{}); return;
      default: break;
    }
    sdk::fail(SY_ERROR_INVALID_ARGUMENT, "reduction on ", dtName(dtype), " is not implemented");
  }
  switch (sdk::dtypeSize(dtype)) {
    case 1: fn(uint8_t{}); break;
    case 2: fn(uint16_t{}); break;
    case 4: fn(uint32_t{}); break;
    default: fn(uint64_t{}); break;
  }
}

template <class Fn>
void bySize(size_t es, Fn&& fn) {
  switch (es) {
    case 1: fn(uint8_t{}); break;
    case 2: fn(uint16_t{}); break;
    case 4: fn(uint32_t{}); break;
    default: fn(uint64_t{}); break;
  }
}

// ============================================================================
// gather_elements / scatter_elements

/// Checks the index tensor's shape against data's: same rank, no dim larger
/// (ONNX Runtime's rule; the axis dim may be any size).
void checkElementsShapes(const Dims& x, const Dims& ind, int64_t axis, const std::string& who) {
  SY_KCHECK(x.rank >= 1, who, "data must have rank >= 1, got ", dimsStr(x));
  SY_KCHECK(ind.rank == x.rank, who, "indices ", dimsStr(ind), " must have the rank of data ", dimsStr(x));
  for (int32_t k = 0; k < x.rank; ++k)
    SY_KCHECK(k == axis || ind.d[k] <= x.d[k], who, "indices ", dimsStr(ind), " dim ", k,
              " is larger than data's ", dimsStr(x));
}

/// Visits every index position in row order: fn(pos, dataOffset) where
/// dataOffset is the element of data the index addresses (index normalised).
template <class Fn>
void forEachElementIndex(const Dims& x, const Tensor& ind, int64_t axis, Fn&& fn, int64_t rowBegin, int64_t rowEnd) {
  const int32_t r = x.rank;
  int64_t ds[SY_MAX_RANK];
  rowStrides(x, ds);
  const int64_t L = ind.dims.d[r - 1], n = x.d[axis];
  for (int64_t row = rowBegin; row < rowEnd; ++row) {
    int64_t rem = row, base = 0;
    for (int32_t k = r - 2; k >= 0; --k) {
      const int64_t c = rem % ind.dims.d[k];
      rem /= ind.dims.d[k];
      if (k != axis) base += c * ds[k];
    }
    const int64_t p0 = row * L;
    if (axis == r - 1) {
      for (int64_t j = 0; j < L; ++j) {
        int64_t v = indexAt(ind, p0 + j);
        if (v < 0) v += n;
        fn(p0 + j, base + v);
      }
    } else {
      for (int64_t j = 0; j < L; ++j) {
        int64_t v = indexAt(ind, p0 + j);
        if (v < 0) v += n;
        fn(p0 + j, base + j + v * ds[axis]);
      }
    }
  }
}

class GatherElementsKernel final : public KernelBase {
 public:
  GatherElementsKernel(const OpDesc& d) : KernelBase(d), axis_(d.node.attrInt("axis", 0)) {}
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 2, no, 1);
    SY_KCHECK(isIndexType(in[1].dtype), who_, "indices must be i32 or i64");
    const int64_t axis = normAxis(axis_, in[0].dims.rank, who_);
    checkElementsShapes(in[0].dims, in[1].dims, axis, who_);
    out[0] = in[1].dims;
  }
  void run(const Tensor* in, size_t, Tensor* out, size_t, const Exec& exec) const override {
    const Dims& x = in[0].dims;
    const int64_t axis = normAxis(axis_, x.rank, who_);
    checkIndices(in[1], x.d[axis], axis, who_);
    const int64_t m = in[1].numElements();
    if (m == 0) return;
    const int64_t rows = m / in[1].dims.d[x.rank - 1];
    bySize(sdk::dtypeSize(in[0].dtype), [&](auto elem) {
      using E = decltype(elem);
      const E* src = static_cast<const E*>(in[0].data);
      E* dst = static_cast<E*>(out[0].data);
      const Tensor ind = in[1];
      parallelFor(exec, rows, std::max<int64_t>(1, 16384 / in[1].dims.d[x.rank - 1]), [&, src, dst](int64_t b, int64_t e) {
        forEachElementIndex(x, ind, axis, [=](int64_t pos, int64_t off) { dst[pos] = src[off]; }, b, e);
      });
    });
  }

 private:
  int64_t axis_;
};

class ScatterElementsKernel final : public KernelBase {
 public:
  ScatterElementsKernel(const OpDesc& d, Red r) : KernelBase(d), axis_(d.node.attrInt("axis", 0)), red_(r) {}
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 3, no, 1);
    SY_KCHECK(isIndexType(in[1].dtype), who_, "indices must be i32 or i64");
    SY_KCHECK(in[2].dtype == in[0].dtype, who_, "updates are ", dtName(in[2].dtype), ", data is ",
              dtName(in[0].dtype));
    const int64_t axis = normAxis(axis_, in[0].dims.rank, who_);
    checkElementsShapes(in[0].dims, in[1].dims, axis, who_);
    SY_KCHECK(sdk::formatDims(in[1].dims.ref()) == sdk::formatDims(in[2].dims.ref()), who_, "updates ",
              dimsStr(in[2].dims), " must have the shape of indices ", dimsStr(in[1].dims));
    out[0] = in[0].dims;
  }
  void run(const Tensor* in, size_t, Tensor* out, size_t, const Exec&) const override {
    const Dims& x = in[0].dims;
    const int64_t axis = normAxis(axis_, x.rank, who_);
    checkIndices(in[1], x.d[axis], axis, who_);
    const size_t es = sdk::dtypeSize(in[0].dtype);
    const int64_t total = in[0].numElements();
    if (total > 0 && out[0].data != in[0].data)
      std::memcpy(out[0].data, in[0].data, static_cast<size_t>(total) * es);
    const int64_t m = in[1].numElements();
    if (m == 0) return;
    const int64_t rows = m / in[1].dims.d[x.rank - 1];
    dispatch(in[0].dtype, red_, [&](auto elem) {
      using T = decltype(elem);
      const T* upd = static_cast<const T*>(in[2].data);
      T* dst = static_cast<T*>(out[0].data);
      const Red r = red_;
      // In index order, on one thread: repeated indices apply one after another.
      forEachElementIndex(x, in[1], axis, [=](int64_t pos, int64_t off) { combine(dst + off, upd + pos, 1, r); }, 0,
                          rows);
    });
  }

 private:
  int64_t axis_;
  Red red_;
};

// ============================================================================
// gather_nd / scatter_nd

/// Offsets (in elements of data, from the start of its batch) of each index
/// tuple: nTuples tuples of `last` indices from `ind` starting at tuple `t0`.
int64_t tupleOffset(const Tensor& ind, int64_t t, int64_t last, const Dims& x, int64_t firstDim,
                    const int64_t* strides, const std::string& who) {
  int64_t off = 0;
  for (int64_t k = 0; k < last; ++k) {
    const int64_t n = x.d[firstDim + k];
    int64_t v = indexAt(ind, t * last + k);
    if (v < -n || v >= n)
      sdk::fail(SY_ERROR_INVALID_ARGUMENT, who, ": index ", v, " is out of range for axis ", firstDim + k,
                " of size ", n, " (valid: ", -n, " to ", n - 1, ")");
    if (v < 0) v += n;
    off += v * strides[firstDim + k];
  }
  return off;
}

class GatherNDKernel final : public KernelBase {
 public:
  GatherNDKernel(const OpDesc& d) : KernelBase(d), batch_(d.node.attrInt("batch_dims", 0)) {}
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 2, no, 1);
    SY_KCHECK(isIndexType(in[1].dtype), who_, "indices must be i32 or i64");
    const Dims& x = in[0].dims;
    const Dims& ind = in[1].dims;
    SY_KCHECK(x.rank >= 1 && ind.rank >= 1, who_, "data ", dimsStr(x), " and indices ", dimsStr(ind),
              " must have rank >= 1");
    SY_KCHECK(batch_ >= 0 && batch_ < std::min(x.rank, ind.rank), who_, "batch_dims ", batch_,
              " must be in [0, min(rank of data, rank of indices))");
    for (int64_t k = 0; k < batch_; ++k)
      SY_KCHECK(x.d[k] == ind.d[k], who_, "the first batch_dims dims of data ", dimsStr(x), " and indices ",
                dimsStr(ind), " differ");
    const int64_t last = ind.d[ind.rank - 1];
    SY_KCHECK(last >= 1 && last <= x.rank - batch_, who_, "indices' last dim ", last, " must be in [1, ",
              x.rank - batch_, "]");
    Dims o;
    for (int32_t k = 0; k < ind.rank - 1; ++k) o.d[o.rank++] = ind.d[k];
    SY_KCHECK(ind.rank - 1 + x.rank - batch_ - last <= SY_MAX_RANK, who_, "output rank too large");
    for (int64_t k = batch_ + last; k < x.rank; ++k) o.d[o.rank++] = x.d[k];
    out[0] = o;
  }
  void run(const Tensor* in, size_t, Tensor* out, size_t, const Exec& exec) const override {
    const Dims& x = in[0].dims;
    const Dims& ind = in[1].dims;
    const int64_t last = ind.d[ind.rank - 1];
    int64_t ds[SY_MAX_RANK];
    rowStrides(x, ds);
    const int64_t B = product(x.d, 0, batch_), N = product(ind.d, batch_, ind.rank - 1);
    const int64_t S = product(x.d, batch_ + last, x.rank), batchStride = product(x.d, batch_, x.rank);
    const int64_t tuples = B * N;
    std::vector<int64_t> offs(static_cast<size_t>(tuples));
    for (int64_t t = 0; t < tuples; ++t)
      offs[static_cast<size_t>(t)] = (t / N) * batchStride + tupleOffset(in[1], t, last, x, batch_, ds, who_);
    if (tuples * S == 0) return;
    bySize(sdk::dtypeSize(in[0].dtype), [&](auto elem) {
      using E = decltype(elem);
      const E* src = static_cast<const E*>(in[0].data);
      E* dst = static_cast<E*>(out[0].data);
      const int64_t* o = offs.data();
      parallelFor(exec, tuples, std::max<int64_t>(1, 16384 / S), [=](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
          if (S == 1) dst[t] = src[o[t]];
          else std::memcpy(dst + t * S, src + o[t], static_cast<size_t>(S) * sizeof(E));
        }
      });
    });
  }

 private:
  int64_t batch_;
};

class ScatterNDKernel final : public KernelBase {
 public:
  ScatterNDKernel(const OpDesc& d, Red r) : KernelBase(d), red_(r) {}
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 3, no, 1);
    SY_KCHECK(isIndexType(in[1].dtype), who_, "indices must be i32 or i64");
    SY_KCHECK(in[2].dtype == in[0].dtype, who_, "updates are ", dtName(in[2].dtype), ", data is ",
              dtName(in[0].dtype));
    const Dims& x = in[0].dims;
    const Dims& ind = in[1].dims;
    const Dims& u = in[2].dims;
    SY_KCHECK(x.rank >= 1 && ind.rank >= 1, who_, "data ", dimsStr(x), " and indices ", dimsStr(ind),
              " must have rank >= 1");
    const int64_t last = ind.d[ind.rank - 1];
    SY_KCHECK(last >= 1 && last <= x.rank, who_, "indices' last dim ", last, " must be in [1, ", x.rank, "]");
    Dims want;
    for (int32_t k = 0; k < ind.rank - 1; ++k) want.d[want.rank++] = ind.d[k];
    SY_KCHECK(ind.rank - 1 + x.rank - last <= SY_MAX_RANK, who_, "updates rank too large");
    for (int64_t k = last; k < x.rank; ++k) want.d[want.rank++] = x.d[k];
    SY_KCHECK(dimsStr(want) == dimsStr(u), who_, "updates ", dimsStr(u), " must have shape ", dimsStr(want));
    out[0] = x;
  }
  void run(const Tensor* in, size_t, Tensor* out, size_t, const Exec&) const override {
    const Dims& x = in[0].dims;
    const Dims& ind = in[1].dims;
    const int64_t last = ind.d[ind.rank - 1];
    int64_t ds[SY_MAX_RANK];
    rowStrides(x, ds);
    const int64_t N = product(ind.d, 0, ind.rank - 1), S = product(x.d, last, x.rank);
    std::vector<int64_t> offs(static_cast<size_t>(N));
    for (int64_t t = 0; t < N; ++t) offs[static_cast<size_t>(t)] = tupleOffset(in[1], t, last, x, 0, ds, who_);
    const int64_t total = in[0].numElements();
    if (total > 0 && out[0].data != in[0].data)
      std::memcpy(out[0].data, in[0].data, static_cast<size_t>(total) * sdk::dtypeSize(in[0].dtype));
    if (N * S == 0) return;
    dispatch(in[0].dtype, red_, [&](auto elem) {
      using T = decltype(elem);
      const T* upd = static_cast<const T*>(in[2].data);
      T* dst = static_cast<T*>(out[0].data);
      for (int64_t t = 0; t < N; ++t) combine(dst + offs[static_cast<size_t>(t)], upd + t * S, S, red_);
    });
  }

 private:
  Red red_;
};

// ============================================================================
// cumsum

template <class T>
void cumsumT(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool exclusive, bool reverse,
             const Exec& exec) {
  parallelFor(exec, outer, std::max<int64_t>(1, 16384 / std::max<int64_t>(n * inner, 1)), [=](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      const T* xs = x + o * n * inner;
      T* ys = y + o * n * inner;
      for (int64_t s = 0; s < n; ++s) {
        const int64_t k = reverse ? n - 1 - s : s, prev = reverse ? k + 1 : k - 1;
        T* yk = ys + k * inner;
        if (s == 0) {
          for (int64_t j = 0; j < inner; ++j) yk[j] = exclusive ? T(0) : xs[k * inner + j];
          continue;
        }
        const T* yp = ys + prev * inner;
        const T* xa = xs + (exclusive ? prev : k) * inner;
        for (int64_t j = 0; j < inner; ++j) yk[j] = static_cast<T>(yp[j] + xa[j]);
      }
    }
  });
}

class CumSumKernel final : public KernelBase {
 public:
  CumSumKernel(const OpDesc& d)
      : KernelBase(d), exclusive_(d.node.attrInt("exclusive", 0) != 0), reverse_(d.node.attrInt("reverse", 0) != 0) {}
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 2, no, 1);
    axisOf(in);
    out[0] = in[0].dims;
  }
  void run(const Tensor* in, size_t, Tensor* out, size_t, const Exec& exec) const override {
    const Dims& x = in[0].dims;
    const int64_t axis = axisOf(in);
    const int64_t outer = product(x.d, 0, axis), n = x.d[axis], inner = product(x.d, axis + 1, x.rank);
    if (outer * n * inner == 0) return;
    switch (in[0].dtype) {
      case SY_DTYPE_F32: cumsumT(in[0].as<const float>(), out[0].as<float>(), outer, n, inner, exclusive_, reverse_, exec); break;
      case SY_DTYPE_I32: cumsumT(in[0].as<const int32_t>(), out[0].as<int32_t>(), outer, n, inner, exclusive_, reverse_, exec); break;
      case SY_DTYPE_I64: cumsumT(in[0].as<const int64_t>(), out[0].as<int64_t>(), outer, n, inner, exclusive_, reverse_, exec); break;
      case SY_DTYPE_F64: cumsumT(in[0].as<const double>(), out[0].as<double>(), outer, n, inner, exclusive_, reverse_, exec); break;
      case SY_DTYPE_U32: cumsumT(in[0].as<const uint32_t>(), out[0].as<uint32_t>(), outer, n, inner, exclusive_, reverse_, exec); break;
      case SY_DTYPE_U64: cumsumT(in[0].as<const uint64_t>(), out[0].as<uint64_t>(), outer, n, inner, exclusive_, reverse_, exec); break;
      default: sdk::fail(SY_ERROR_INVALID_ARGUMENT, who_, ": dtype ", dtName(in[0].dtype), " is not implemented");
    }
  }

 private:
  int64_t axisOf(const Tensor* in) const {
    SY_KCHECK(in[0].dims.rank >= 1, who_, "x must have rank >= 1, got ", dimsStr(in[0].dims));
    SY_KCHECK(isIndexType(in[1].dtype) && in[1].numElements() == 1 && in[1].dims.rank <= 1, who_,
              "axis must be one i32 or i64 value, got ", dtName(in[1].dtype), dimsStr(in[1].dims));
    return normAxis(indexAt(in[1], 0), in[0].dims.rank, who_);
  }
  bool exclusive_, reverse_;
};

/// The reduction attribute, or a decline for a dtype it cannot compute in.
bool reductionFor(const OpDesc& d, bool allowMinMax, Red& r, std::string& whyNot) {
  const std::string s = d.node.attrString("reduction", "none");
  if (s != "none" && s != "add" && s != "mul" && !(allowMinMax && (s == "max" || s == "min"))) {
    decline(whyNot, d, "reduction '", s, "' is not one of none, add, mul", allowMinMax ? ", max, min" : "");
    return false;
  }
  r = parseReduction(s, allowMinMax, d.describe());
  const int32_t dt = d.in.empty() ? -1 : d.in[0];
  if (r != Red::None && dt != SY_DTYPE_F32 && dt != SY_DTYPE_I8 && dt != SY_DTYPE_I32 && dt != SY_DTYPE_I64) {
    decline(whyNot, d, "reduction '", s, "' on ", dtName(dt), " is not implemented");
    return false;
  }
  return true;
}

bool indicesOk(const OpDesc& d, std::string& whyNot) {
  if (d.numInputs() < 2 || !isIndexType(d.in[1])) {
    decline(whyNot, d, "indices must be i32 or i64");
    return false;
  }
  return true;
}

}  // namespace

SY_CPU_FACTORY(makeCumSum) {
  const int32_t dt = d.in.empty() ? -1 : d.in[0];
  if (dt != SY_DTYPE_F32 && dt != SY_DTYPE_F64 && dt != SY_DTYPE_I32 && dt != SY_DTYPE_I64 && dt != SY_DTYPE_U32 &&
      dt != SY_DTYPE_U64)
    return decline(whyNot, d, "only f32, f64, i32, i64, u32 and u64 are implemented, x is ", dtName(dt));
  if (d.numInputs() < 2 || !isIndexType(d.in[1])) return decline(whyNot, d, "axis must be i32 or i64");
  return std::make_unique<CumSumKernel>(d);
}
SY_CPU_FACTORY(makeGatherElements) {
  if (!indicesOk(d, whyNot)) return nullptr;
  return std::make_unique<GatherElementsKernel>(d);
}
SY_CPU_FACTORY(makeScatterElements) {
  Red r = Red::None;
  if (!indicesOk(d, whyNot) || !reductionFor(d, true, r, whyNot)) return nullptr;
  return std::make_unique<ScatterElementsKernel>(d, r);
}
SY_CPU_FACTORY(makeGatherND) {
  if (!indicesOk(d, whyNot)) return nullptr;
  return std::make_unique<GatherNDKernel>(d);
}
SY_CPU_FACTORY(makeScatterND) {
  Red r = Red::None;
  if (!indicesOk(d, whyNot) || !reductionFor(d, true, r, whyNot)) return nullptr;
  return std::make_unique<ScatterNDKernel>(d, r);
}

}  // namespace sy::kernels::detail
