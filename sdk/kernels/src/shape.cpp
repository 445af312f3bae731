// Shape and data-movement kernels, for every dtype by element size: the
// reshape family (reshape, flatten, squeeze, unsqueeze, identity), transpose,
// concat, split, slice, gather, expand, tile, pad, shape, range,
// constant_of_shape and resize.
//
// Shape-computing inputs (reshape's shape, slice's starts, ...) are read from
// the input tensors in outputShapes(), so they may be run-time values. The
// rules (clamping, negative axes, reflect limits, ...) are those of the
// reference (core/src/ops/shape.cpp).
#include "common.h"

namespace sy::kernels::detail {
namespace {

constexpr int64_t kMaxElements = (int64_t{1} << 36);  // the reference's 64 GiB tensor limit, in bytes

bool mulOverflows(int64_t a, int64_t b, int64_t& out) { return __builtin_mul_overflow(a, b, &out); }
bool addOverflows(int64_t a, int64_t b, int64_t& out) { return __builtin_add_overflow(a, b, &out); }

std::string intsStr(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

Dims dimsOf(const std::vector<int64_t>& v, const std::string& who) {
  SY_KCHECK(v.size() <= SY_MAX_RANK, who, "output rank ", v.size(), " is larger than ", SY_MAX_RANK);
  Dims d;
  d.rank = static_cast<int32_t>(v.size());
  for (size_t i = 0; i < v.size(); ++i) d.d[i] = v[i];
  return d;
}

size_t esizeOf(const Tensor& t) { return sdk::dtypeSize(t.dtype); }

/// Fills n elements of esize bytes at dst with the element at value.
void fillElements(char* dst, int64_t n, const void* value, size_t esize, const Exec& exec) {
  bool zero = true;
  for (size_t b = 0; b < esize; ++b) zero = zero && static_cast<const char*>(value)[b] == 0;
  parallelFor(exec, n, 65536, [=](int64_t b, int64_t e) {
    if (zero) {
      std::memset(dst + b * static_cast<int64_t>(esize), 0, static_cast<size_t>(e - b) * esize);
      return;
    }
    switch (esize) {
      case 1: std::memset(dst + b, *static_cast<const uint8_t*>(value), static_cast<size_t>(e - b)); break;
      case 2: {
        uint16_t v;
        std::memcpy(&v, value, 2);
        std::fill(reinterpret_cast<uint16_t*>(dst) + b, reinterpret_cast<uint16_t*>(dst) + e, v);
        break;
      }
      case 4: {
        uint32_t v;
        std::memcpy(&v, value, 4);
        std::fill(reinterpret_cast<uint32_t*>(dst) + b, reinterpret_cast<uint32_t*>(dst) + e, v);
        break;
      }
      default: {
        uint64_t v;
        std::memcpy(&v, value, 8);
        std::fill(reinterpret_cast<uint64_t*>(dst) + b, reinterpret_cast<uint64_t*>(dst) + e, v);
        break;
      }
    }
  });
}

/// A dense copy of the input (the reshape family: only the dims change).
class CopyKernel : public KernelBase {
 public:
  using KernelBase::KernelBase;
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    parallelCopy(out[0].data, in[0].data, static_cast<size_t>(out[0].numElements()) * esizeOf(in[0]), exec);
  }
};

// ============================================================================
// reshape, flatten, squeeze, unsqueeze, identity

class ReshapeKernel final : public CopyKernel {
 public:
  ReshapeKernel(const OpDesc& d) : CopyKernel(d), allowZero_(d.node.attrInt("allowzero", 0)) {
    SY_KCHECK(allowZero_ == 0 || allowZero_ == 1, who_, "allowzero must be 0 or 1, got ", allowZero_);
  }
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 2, no, 1);
    const Dims& x = in[0].dims;
    const std::vector<int64_t> shape = readInts(in[1]);
    SY_KCHECK(in[1].dims.rank <= 1, who_, "shape must be 1-D, got ", dimsStr(in[1].dims));
    std::vector<int64_t> o(shape.size());
    std::vector<bool> copied(static_cast<size_t>(x.rank), false);
    int64_t infer = -1;
    bool hasZero = false;
    for (size_t i = 0; i < shape.size(); ++i) {
      const int64_t s = shape[i];
      if (s == -1) {
        SY_KCHECK(infer < 0, who_, "shape ", intsStr(shape), " has more than one -1");
        infer = static_cast<int64_t>(i);
      } else if (s < -1) {
        failArg(who_, "shape ", intsStr(shape), " has invalid value ", s, " at position ", i);
      } else if (s == 0 && !allowZero_) {
        SY_KCHECK(static_cast<int64_t>(i) < x.rank, who_, "shape ", intsStr(shape), " has 0 (copy the input dim) at position ",
              i, " but the input ", dimsStr(x), " has rank ", x.rank);
        o[i] = x.d[i];
        copied[i] = true;
      } else {
        hasZero = hasZero || s == 0;
        o[i] = s;
      }
    }
    SY_KCHECK(!(hasZero && infer >= 0), who_, "shape ", intsStr(shape), " has both 0 (with allowzero) and -1");
    int64_t inRest = 1, outRest = 1;
    for (int j = 0; j < x.rank; ++j)
      if (!copied[j]) SY_KCHECK(!mulOverflows(inRest, x.d[j], inRest), who_, "input too large");
    for (size_t i = 0; i < shape.size(); ++i) {
      if (static_cast<int64_t>(i) == infer || (i < copied.size() && copied[i])) continue;
      SY_KCHECK(!mulOverflows(outRest, shape[i], outRest), who_, "shape ", intsStr(shape), " overflows");
    }
    if (infer >= 0) {
      SY_KCHECK(outRest != 0 && inRest % outRest == 0, who_, "cannot reshape ", dimsStr(x), " to ", intsStr(shape),
            ": the -1 dim cannot be inferred");
      o[static_cast<size_t>(infer)] = inRest / outRest;
    } else {
      SY_KCHECK(inRest == outRest, who_, "cannot reshape ", dimsStr(x), " to ", intsStr(shape),
            ": the element counts differ");
    }
    out[0] = dimsOf(o, who_);
  }

 private:
  int64_t allowZero_;
};

class FlattenKernel final : public CopyKernel {
 public:
  FlattenKernel(const OpDesc& d) : CopyKernel(d), axis_(d.node.attrInt("axis", 1)) {}
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 1, no, 1);
    const Dims& x = in[0].dims;
    int64_t axis = axis_;
    SY_KCHECK(axis >= -x.rank && axis <= x.rank, who_, "axis ", axis, " is out of range for rank ", x.rank);
    if (axis < 0) axis += x.rank;
    Dims o;
    o.rank = 2;
    o.d[0] = product(x.d, 0, axis);
    o.d[1] = product(x.d, axis, x.rank);
    out[0] = o;
  }

 private:
  int64_t axis_;
};

/// Axes of squeeze / unsqueeze: the optional run-time input 1 (i32/i64, 1-D)
/// when given, else the attribute.
std::vector<int64_t> viewAxes(const Tensor* in, size_t ni, const std::vector<int64_t>& attr, const std::string& who) {
  if (ni < 2 || in[1].dtype < 0) return attr;  // absent: dtype -1
  SY_KCHECK(in[1].dtype == SY_DTYPE_I64 || in[1].dtype == SY_DTYPE_I32, who, "axes must be i32 or i64, got ",
            dtName(in[1].dtype));
  SY_KCHECK(in[1].dims.rank <= 1, who, "axes must be 1-D, got ", dimsStr(in[1].dims));
  return readInts(in[1]);
}

class SqueezeKernel final : public CopyKernel {
 public:
  SqueezeKernel(const OpDesc& d) : CopyKernel(d), axes_(d.node.attrInts("axes")) {}
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 1, no, 1);
    const Dims& x = in[0].dims;
    const std::vector<int64_t> axes = viewAxes(in, ni, axes_, who_);
    std::vector<bool> drop(static_cast<size_t>(x.rank), false);
    if (axes.empty()) {
      for (int i = 0; i < x.rank; ++i) drop[i] = x.d[i] == 1;
    } else {
      for (int64_t a : axes) {
        const int64_t n = normAxis(a, x.rank, who_);
        SY_KCHECK(!drop[n], who_, "axis ", a, " is repeated");
        SY_KCHECK(x.d[n] == 1, who_, "cannot squeeze axis ", n, " of ", dimsStr(x), ": its size is ", x.d[n], ", not 1");
        drop[n] = true;
      }
    }
    Dims o;
    for (int i = 0; i < x.rank; ++i)
      if (!drop[i]) o.d[o.rank++] = x.d[i];
    out[0] = o;
  }

 private:
  std::vector<int64_t> axes_;
};

class UnsqueezeKernel final : public CopyKernel {
 public:
  UnsqueezeKernel(const OpDesc& d) : CopyKernel(d), axes_(d.node.attrInts("axes")) {}
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 1, no, 1);
    const Dims& x = in[0].dims;
    const std::vector<int64_t> axes = viewAxes(in, ni, axes_, who_);
    const int64_t outRank = x.rank + static_cast<int64_t>(axes.size());
    SY_KCHECK(outRank <= SY_MAX_RANK, who_, "output rank ", outRank, " is larger than ", SY_MAX_RANK);
    std::vector<bool> ins(static_cast<size_t>(outRank), false);
    for (int64_t a : axes) {
      const int64_t n = normAxis(a, outRank, who_);
      SY_KCHECK(!ins[n], who_, "axis ", a, " is repeated");
      ins[n] = true;
    }
    Dims o;
    int next = 0;
    for (int64_t i = 0; i < outRank; ++i) o.d[o.rank++] = ins[i] ? 1 : x.d[next++];
    out[0] = o;
  }

 private:
  std::vector<int64_t> axes_;
};

class IdentityKernel final : public CopyKernel {
 public:
  using CopyKernel::CopyKernel;
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 1, no, 1);
    out[0] = in[0].dims;
  }
};

// ============================================================================
// transpose

class TransposeKernel final : public KernelBase {
 public:
  TransposeKernel(const OpDesc& d) : KernelBase(d), perm_(d.node.attrInts("perm")) {}
  std::vector<int64_t> perm(int32_t rank) const {
    std::vector<int64_t> p;
    if (perm_.empty()) {
      for (int64_t i = 0; i < rank; ++i) p.push_back(rank - 1 - i);
      return p;
    }
    SY_KCHECK(static_cast<int64_t>(perm_.size()) == rank, who_, "perm ", intsStr(perm_), " has ", perm_.size(),
          " entries for an input of rank ", rank);
    std::vector<bool> seen(static_cast<size_t>(rank), false);
    for (int64_t a : perm_) {
      const int64_t n = normAxis(a, rank, who_, "perm axis");
      SY_KCHECK(!seen[n], who_, "perm ", intsStr(perm_), " repeats axis ", a);
      seen[n] = true;
      p.push_back(n);
    }
    return p;
  }
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 1, no, 1);
    const std::vector<int64_t> p = perm(in[0].dims.rank);
    Dims o;
    o.rank = in[0].dims.rank;
    for (int i = 0; i < o.rank; ++i) o.d[i] = in[0].dims.d[p[i]];
    out[0] = o;
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    const Dims& x = in[0].dims;
    const std::vector<int64_t> p = perm(x.rank);
    int64_t is[SY_MAX_RANK], os[SY_MAX_RANK];
    rowStrides(x, is);
    rowStrides(out[0].dims, os);
    LoopPlan<2> plan;
    for (int i = 0; i < x.rank; ++i) {
      const int64_t s[2] = {os[i], is[p[i]]};
      plan.push(out[0].dims.d[i], s);
    }
    plan.simplify();
    stridedCopy(plan, static_cast<char*>(out[0].data), static_cast<const char*>(in[0].data), esizeOf(in[0]), exec);
  }

 private:
  std::vector<int64_t> perm_;
};

// ============================================================================
// concat / split

class ConcatKernel final : public KernelBase {
 public:
  ConcatKernel(const OpDesc& d) : KernelBase(d), axis_(d.node.attrInt("axis", 0)), n_(d.numInputs()) {
    SY_KCHECK(d.node.hasAttr("axis"), who_, "attribute 'axis' is required");
  }
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 1, no, 1);
    const Dims& x0 = in[0].dims;
    SY_KCHECK(x0.rank >= 1, who_, "cannot concatenate rank-0 tensors");
    const int64_t axis = normAxis(axis_, x0.rank, who_);
    Dims o = x0;
    o.d[axis] = 0;
    for (size_t i = 0; i < ni; ++i) {
      const Dims& x = in[i].dims;
      SY_KCHECK(in[i].dtype == in[0].dtype && x.rank == x0.rank, who_, "input ", i, " ", dimsStr(x),
            " is incompatible with input 0 ", dimsStr(x0));
      for (int dd = 0; dd < x.rank; ++dd)
        SY_KCHECK(dd == axis || x.d[dd] == x0.d[dd], who_, "input ", i, " ", dimsStr(x), " is incompatible with input 0 ",
              dimsStr(x0), " (only dim ", axis, " may differ)");
      SY_KCHECK(!addOverflows(o.d[axis], x.d[axis], o.d[axis]), who_, "concatenated dim overflows");
    }
    out[0] = o;
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    const Dims& od = out[0].dims;
    const int64_t axis = normAxis(axis_, od.rank, who_);
    const int64_t outer = product(od.d, 0, axis), inner = product(od.d, axis + 1, od.rank);
    const auto es = static_cast<int64_t>(esizeOf(out[0]));
    const int64_t outChunk = od.d[axis] * inner * es;
    if (outChunk == 0 || outer == 0) return;
    char* dst = static_cast<char*>(out[0].data);
    if (outer == 1) {
      int64_t off = 0;
      for (size_t i = 0; i < ni; ++i) {
        const int64_t bytes = in[i].dims.d[axis] * inner * es;
        parallelCopy(dst + off, in[i].data, static_cast<size_t>(bytes), exec);
        off += bytes;
      }
      return;
    }
    std::vector<int64_t> chunk(ni), start(ni);
    int64_t acc = 0;
    for (size_t i = 0; i < ni; ++i) {
      chunk[i] = in[i].dims.d[axis] * inner * es;
      start[i] = acc;
      acc += chunk[i];
    }
    parallelFor(exec, outer, std::max<int64_t>(1, 65536 / outChunk), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o)
        for (size_t i = 0; i < ni; ++i)
          if (chunk[i] > 0)
            std::memcpy(dst + o * outChunk + start[i], static_cast<const char*>(in[i].data) + o * chunk[i],
                        static_cast<size_t>(chunk[i]));
    });
  }

 private:
  int64_t axis_;
  size_t n_;
};

class SplitKernel final : public KernelBase {
 public:
  SplitKernel(const OpDesc& d) : KernelBase(d), axis_(d.node.attrInt("axis", 0)), hasSplit_(d.has(1)) {}
  std::vector<int64_t> sizes(const Tensor* in, size_t ni, size_t n) const {
    const Dims& x = in[0].dims;
    SY_KCHECK(x.rank >= 1, who_, "cannot split a rank-0 tensor");
    const int64_t axis = normAxis(axis_, x.rank, who_);
    const int64_t dim = x.d[axis];
    if (hasSplit_ && ni > 1 && in[1].data != nullptr) {
      std::vector<int64_t> s = readInts(in[1]);
      SY_KCHECK(s.size() == n, who_, "split ", intsStr(s), " has ", s.size(), " entries for ", n, " outputs");
      int64_t sum = 0;
      for (int64_t v : s) {
        SY_KCHECK(v >= 0, who_, "split ", intsStr(s), " has a negative size");
        SY_KCHECK(!addOverflows(sum, v, sum), who_, "split ", intsStr(s), " overflows");
      }
      SY_KCHECK(sum == dim, who_, "split ", intsStr(s), " sums to ", sum, " but the dim has size ", dim);
      return s;
    }
    const auto count = static_cast<int64_t>(n);
    const int64_t chunk = dim / count + (dim % count != 0 ? 1 : 0);
    const int64_t last = dim - chunk * (count - 1);
    SY_KCHECK(last >= 0, who_, "cannot split a dim of size ", dim, " into ", n, " chunks of ", chunk);
    std::vector<int64_t> s(n, chunk);
    s.back() = last;
    return s;
  }
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    SY_KCHECK(ni >= 1 && no >= 1, who_, "bad arity");
    const std::vector<int64_t> s = sizes(in, ni, no);
    const int64_t axis = normAxis(axis_, in[0].dims.rank, who_);
    for (size_t i = 0; i < no; ++i) {
      out[i] = in[0].dims;
      out[i].d[axis] = s[i];
    }
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    const Dims& x = in[0].dims;
    const int64_t axis = normAxis(axis_, x.rank, who_);
    const auto es = static_cast<int64_t>(esizeOf(in[0]));
    const int64_t outer = product(x.d, 0, axis), inner = product(x.d, axis + 1, x.rank);
    const int64_t inChunk = x.d[axis] * inner * es;
    const char* src = static_cast<const char*>(in[0].data);
    int64_t off = 0;
    for (size_t i = 0; i < no; ++i) {
      const int64_t chunk = out[i].dims.d[axis] * inner * es;
      char* dst = static_cast<char*>(out[i].data);
      if (chunk > 0 && outer > 0) {
        if (outer == 1) {
          parallelCopy(dst, src + off, static_cast<size_t>(chunk), exec);
        } else {
          parallelFor(exec, outer, std::max<int64_t>(1, 65536 / chunk), [=](int64_t b, int64_t e) {
            for (int64_t o = b; o < e; ++o)
              std::memcpy(dst + o * chunk, src + o * inChunk + off, static_cast<size_t>(chunk));
          });
        }
      }
      off += chunk;
    }
  }

 private:
  int64_t axis_;
  bool hasSplit_;
};

// ============================================================================
// slice

struct AxisSlice {
  int64_t start = 0, step = 1, count = 0;
};

AxisSlice clampSlice(int64_t d, int64_t start, int64_t end, int64_t step) {
  AxisSlice r;
  r.step = step;
  if (d == 0) return r;
  if (start < 0) start += d;
  if (end < 0) end += d;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, d);
    end = std::clamp<int64_t>(end, 0, d);
    r.start = start;
    r.count = end > start ? (end - start - 1) / step + 1 : 0;
  } else {
    start = std::clamp<int64_t>(start, 0, d - 1);
    end = std::clamp<int64_t>(end, -1, d - 1);
    r.start = start;
    const uint64_t absStep = uint64_t{0} - static_cast<uint64_t>(step);
    r.count = start > end ? static_cast<int64_t>((static_cast<uint64_t>(start - end) - 1) / absStep + 1) : 0;
  }
  return r;
}

class SliceKernel final : public KernelBase {
 public:
  SliceKernel(const OpDesc& d) : KernelBase(d), hasAxes_(d.has(3)), hasSteps_(d.has(4)) {}

  /// Per-axis slices of an input of dims x.
  std::vector<AxisSlice> plan(const Tensor* in, size_t ni) const {
    const Dims& x = in[0].dims;
    SY_KCHECK(ni >= 3, who_, "needs data, starts and ends");
    const std::vector<int64_t> starts = readInts(in[1]), ends = readInts(in[2]);
    const size_t n = starts.size();
    SY_KCHECK(ends.size() == n, who_, "starts has ", n, " entries but ends has ", ends.size());
    std::vector<int64_t> axes;
    if (hasAxes_ && ni > 3 && in[3].dtype >= 0) {
      const std::vector<int64_t> a = readInts(in[3]);
      SY_KCHECK(a.size() == n, who_, "starts has ", n, " entries but axes has ", a.size());
      std::vector<bool> seen(static_cast<size_t>(x.rank), false);
      for (int64_t v : a) {
        const int64_t k = normAxis(v, x.rank, who_);
        SY_KCHECK(!seen[k], who_, "axis ", v, " is repeated");
        seen[k] = true;
        axes.push_back(k);
      }
    } else {
      SY_KCHECK(static_cast<int64_t>(n) <= x.rank, who_, "starts has ", n, " entries but the input has rank ", x.rank);
      for (size_t i = 0; i < n; ++i) axes.push_back(static_cast<int64_t>(i));
    }
    std::vector<int64_t> steps(n, 1);
    if (hasSteps_ && ni > 4 && in[4].dtype >= 0) {
      steps = readInts(in[4]);
      SY_KCHECK(steps.size() == n, who_, "starts has ", n, " entries but steps has ", steps.size());
      for (int64_t s : steps) SY_KCHECK(s != 0, who_, "steps ", intsStr(steps), " contains 0");
    }
    std::vector<AxisSlice> per(static_cast<size_t>(x.rank));
    for (int i = 0; i < x.rank; ++i) per[i] = AxisSlice{0, 1, x.d[i]};
    for (size_t k = 0; k < n; ++k) per[axes[k]] = clampSlice(x.d[axes[k]], starts[k], ends[k], steps[k]);
    return per;
  }
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 3, no, 1);
    const std::vector<AxisSlice> per = plan(in, ni);
    Dims o;
    o.rank = in[0].dims.rank;
    for (int i = 0; i < o.rank; ++i) o.d[i] = per[i].count;
    out[0] = o;
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    if (out[0].numElements() == 0) return;
    const std::vector<AxisSlice> per = plan(in, ni);
    const Dims& x = in[0].dims;
    int64_t is[SY_MAX_RANK], os[SY_MAX_RANK];
    rowStrides(x, is);
    rowStrides(out[0].dims, os);
    LoopPlan<2> p;
    int64_t base = 0;
    for (int i = 0; i < x.rank; ++i) {
      // An axis of one element never steps: its step may be as large as
      // INT64_MAX, and step * stride would overflow.
      const int64_t s[2] = {os[i], per[i].count > 1 ? per[i].step * is[i] : 0};
      p.push(per[i].count, s);
      base += per[i].start * is[i];
    }
    p.simplify();
    const size_t es = esizeOf(in[0]);
    stridedCopy(p, static_cast<char*>(out[0].data), static_cast<const char*>(in[0].data) + base * static_cast<int64_t>(es),
                es, exec);
  }

 private:
  bool hasAxes_, hasSteps_;
};

// ============================================================================
// gather

template <class E, class I>
void gatherT(const E* src, E* dst, const I* idx, int64_t outer, int64_t m, int64_t n, int64_t inner,
             const Exec& exec) {
  parallelFor(exec, outer * m, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)), [=](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / m, j = t % m;
      int64_t k = static_cast<int64_t>(idx[j]);
      if (k < 0) k += n;
      const E* s = src + (o * n + k) * inner;
      E* dd = dst + t * inner;
      if (inner == 1) *dd = *s;
      else std::memcpy(dd, s, static_cast<size_t>(inner) * sizeof(E));
    }
  });
}

class GatherKernel final : public KernelBase {
 public:
  GatherKernel(const OpDesc& d) : KernelBase(d), axis_(d.node.attrInt("axis", 0)) {}
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 2, no, 1);
    const Dims& x = in[0].dims;
    const Dims& ind = in[1].dims;
    SY_KCHECK(x.rank >= 1, who_, "data must have rank >= 1, got ", dimsStr(x));
    SY_KCHECK(in[1].dtype == SY_DTYPE_I32 || in[1].dtype == SY_DTYPE_I64, who_, "indices must be i32 or i64");
    const int64_t axis = normAxis(axis_, x.rank, who_);
    SY_KCHECK(x.rank - 1 + ind.rank <= SY_MAX_RANK, who_, "output rank too large");
    Dims o;
    for (int i = 0; i < axis; ++i) o.d[o.rank++] = x.d[i];
    for (int i = 0; i < ind.rank; ++i) o.d[o.rank++] = ind.d[i];
    for (int i = static_cast<int>(axis) + 1; i < x.rank; ++i) o.d[o.rank++] = x.d[i];
    out[0] = o;
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    const Dims& x = in[0].dims;
    const int64_t axis = normAxis(axis_, x.rank, who_);
    const int64_t n = x.d[axis], m = in[1].numElements();
    for (int64_t j = 0; j < m; ++j) {
      const int64_t v = in[1].dtype == SY_DTYPE_I32 ? in[1].as<const int32_t>()[j] : in[1].as<const int64_t>()[j];
      if (v < -n || v >= n)
        sdk::fail(SY_ERROR_INVALID_ARGUMENT, who_, ": index ", v, " is out of range for axis ", axis, " of size ", n,
                  " (valid: ", -n, " to ", n - 1, ")");
    }
    const int64_t outer = product(x.d, 0, axis), inner = product(x.d, axis + 1, x.rank);
    if (outer * m * inner == 0) return;
    const size_t es = esizeOf(in[0]);
    auto go = [&](auto elem) {
      using E = decltype(elem);
      const E* src = static_cast<const E*>(in[0].data);
      E* dst = static_cast<E*>(out[0].data);
      if (in[1].dtype == SY_DTYPE_I32) gatherT(src, dst, in[1].as<const int32_t>(), outer, m, n, inner, exec);
      else gatherT(src, dst, in[1].as<const int64_t>(), outer, m, n, inner, exec);
    };
    switch (es) {
      case 1: go(uint8_t{}); break;
      case 2: go(uint16_t{}); break;
      case 4: go(uint32_t{}); break;
      default: go(uint64_t{}); break;
    }
  }

 private:
  int64_t axis_;
};

// ============================================================================
// expand / tile

class ExpandKernel final : public KernelBase {
 public:
  using KernelBase::KernelBase;
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 2, no, 1);
    const std::vector<int64_t> s = readInts(in[1]);
    for (int64_t v : s) SY_KCHECK(v >= 0, who_, "shape ", intsStr(s), " has a negative value");
    out[0] = broadcast(in[0].dims, dimsOf(s, who_), who_);
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    const Dims* ins[1] = {&in[0].dims};
    const LoopPlan<2> p = broadcastPlan<2>(out[0].dims, ins);
    stridedCopy(p, static_cast<char*>(out[0].data), static_cast<const char*>(in[0].data), esizeOf(in[0]), exec);
  }
};

class TileKernel final : public KernelBase {
 public:
  using KernelBase::KernelBase;
  std::vector<int64_t> repeats(const Tensor* in) const {
    const std::vector<int64_t> r = readInts(in[1]);
    SY_KCHECK(static_cast<int64_t>(r.size()) == in[0].dims.rank, who_, "repeats ", intsStr(r), " has ", r.size(),
          " entries for an input of rank ", in[0].dims.rank);
    for (int64_t v : r) SY_KCHECK(v >= 0, who_, "repeats ", intsStr(r), " has a negative value");
    return r;
  }
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 2, no, 1);
    const std::vector<int64_t> r = repeats(in);
    Dims o = in[0].dims;
    for (int i = 0; i < o.rank; ++i) SY_KCHECK(!mulOverflows(o.d[i], r[i], o.d[i]), who_, "output dim ", i, " overflows");
    out[0] = o;
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    if (out[0].numElements() == 0) return;
    const std::vector<int64_t> r = repeats(in);
    const Dims& x = in[0].dims;
    int64_t is[SY_MAX_RANK], os[SY_MAX_RANK];
    rowStrides(x, is);
    rowStrides(out[0].dims, os);
    LoopPlan<2> p;
    for (int i = 0; i < x.rank; ++i) {
      const int64_t rep[2] = {x.d[i] * os[i], 0};
      const int64_t dim[2] = {os[i], is[i]};
      p.push(r[i], rep);
      p.push(x.d[i], dim);
    }
    p.simplify();
    stridedCopy(p, static_cast<char*>(out[0].data), static_cast<const char*>(in[0].data), esizeOf(in[0]), exec);
  }
};

// ============================================================================
// pad

enum class PadMode { Constant, Reflect, Edge };

struct PadAxis {
  int64_t cropBegin = 0, kept = 0, padBegin = 0, padEnd = 0, out = 0;
};

class PadKernel final : public KernelBase {
 public:
  PadKernel(const OpDesc& d) : KernelBase(d), hasValue_(d.has(2)) {
    const std::string m = d.node.attrString("mode", "constant");
    if (m == "constant") mode_ = PadMode::Constant;
    else if (m == "reflect") mode_ = PadMode::Reflect;
    else if (m == "edge") mode_ = PadMode::Edge;
    else failArg(who_, "unknown mode '", m, "' (expected constant, reflect or edge)");
  }
  std::vector<PadAxis> axes(const Tensor* in) const {
    const Dims& x = in[0].dims;
    const std::vector<int64_t> pads = readInts(in[1]);
    SY_KCHECK(static_cast<int64_t>(pads.size()) == 2 * x.rank, who_, "pads ", intsStr(pads), " has ", pads.size(),
          " entries, expected ", 2 * x.rank, " (2 * rank)");
    std::vector<PadAxis> r(static_cast<size_t>(x.rank));
    for (int i = 0; i < x.rank; ++i) {
      const int64_t d = x.d[i], begin = pads[i], end = pads[i + x.rank];
      PadAxis& p = r[i];
      SY_KCHECK(begin >= -d && end >= -d, who_, "pads ", begin, ", ", end, " on axis ", i, " remove more than its size ", d);
      p.cropBegin = begin < 0 ? -begin : 0;
      const int64_t cropEnd = end < 0 ? -end : 0;
      p.kept = d - p.cropBegin - cropEnd;
      SY_KCHECK(p.kept >= 0, who_, "pads ", begin, ", ", end, " on axis ", i, " remove more than its size ", d);
      p.padBegin = std::max<int64_t>(begin, 0);
      p.padEnd = std::max<int64_t>(end, 0);
      SY_KCHECK(!addOverflows(p.kept, p.padBegin, p.out) && !addOverflows(p.out, p.padEnd, p.out), who_, "pads on axis ",
            i, " overflow");
      if (mode_ == PadMode::Reflect && (p.padBegin > 0 || p.padEnd > 0))
        SY_KCHECK(p.padBegin < p.kept && p.padEnd < p.kept, who_, "reflect pads ", begin, ", ", end, " on axis ", i,
              " must be smaller than the (cropped) size ", p.kept);
      if (mode_ == PadMode::Edge) SY_KCHECK(!(p.kept == 0 && p.out > 0), who_, "edge padding of axis ", i, " which has no elements");
    }
    return r;
  }
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 2, no, 1);
    const std::vector<PadAxis> a = axes(in);
    Dims o;
    o.rank = in[0].dims.rank;
    for (int i = 0; i < o.rank; ++i) o.d[i] = a[i].out;
    out[0] = o;
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    const std::vector<PadAxis> a = axes(in);
    const size_t es = esizeOf(in[0]);
    uint64_t value = 0;
    if (hasValue_ && ni > 2 && in[2].data != nullptr) {
      SY_KCHECK(in[2].numElements() == 1 && in[2].dtype == in[0].dtype, who_, "constant_value must be one ",
            dtName(in[0].dtype), " element, got ", dtName(in[2].dtype), dimsStr(in[2].dims));
      std::memcpy(&value, in[2].data, es);
    }
    const int64_t n = out[0].numElements();
    if (n == 0) return;
    const Dims& od = out[0].dims;
    const int rank = od.rank;
    if (rank == 0) {
      std::memcpy(out[0].data, in[0].data, es);
      return;
    }
    // Per axis: output coordinate -> input coordinate, -1 for the constant.
    std::vector<std::vector<int64_t>> map(static_cast<size_t>(rank));
    int64_t is[SY_MAX_RANK];
    rowStrides(in[0].dims, is);
    for (int i = 0; i < rank; ++i) {
      const PadAxis& p = a[i];
      map[i].resize(static_cast<size_t>(p.out));
      for (int64_t c = 0; c < p.out; ++c) {
        int64_t k = c - p.padBegin;
        if (k < 0 || k >= p.kept) {
          if (mode_ == PadMode::Constant) {
            map[i][c] = -1;
            continue;
          }
          if (mode_ == PadMode::Edge) k = std::clamp<int64_t>(k, 0, p.kept - 1);
          else k = k < 0 ? -k : 2 * (p.kept - 1) - k;
        }
        map[i][c] = (p.cropBegin + k) * is[i];
      }
    }
    const int64_t inner = od.d[rank - 1];
    const int64_t rows = n / inner;
    auto go = [&](auto elem) {
      using E = decltype(elem);
      E v;
      std::memcpy(&v, &value, sizeof(E));
      const E* src = static_cast<const E*>(in[0].data);
      E* dst = static_cast<E*>(out[0].data);
      const int64_t* last = map[rank - 1].data();
      parallelFor(exec, rows, std::max<int64_t>(1, 16384 / inner), [&](int64_t b, int64_t e) {
        int64_t coord[SY_MAX_RANK] = {};
        int64_t rem = b;
        for (int i = rank - 2; i >= 0; --i) {
          coord[i] = rem % od.d[i];
          rem /= od.d[i];
        }
        for (int64_t r = b; r < e; ++r) {
          int64_t base = 0;
          bool inside = true;
          for (int i = 0; i < rank - 1; ++i) {
            const int64_t m = map[i][coord[i]];
            if (m < 0) {
              inside = false;
              break;
            }
            base += m;
          }
          E* o = dst + r * inner;
          if (!inside) {
            for (int64_t k = 0; k < inner; ++k) o[k] = v;
          } else {
            const E* s = src + base;
            for (int64_t k = 0; k < inner; ++k) o[k] = last[k] < 0 ? v : s[last[k]];
          }
          for (int i = rank - 2; i >= 0; --i) {
            if (++coord[i] < od.d[i]) break;
            coord[i] = 0;
          }
        }
      });
    };
    switch (es) {
      case 1: go(uint8_t{}); break;
      case 2: go(uint16_t{}); break;
      case 4: go(uint32_t{}); break;
      default: go(uint64_t{}); break;
    }
  }

 private:
  PadMode mode_ = PadMode::Constant;
  bool hasValue_;
};

// ============================================================================
// shape / range / constant_of_shape

class ShapeKernel final : public KernelBase {
 public:
  ShapeKernel(const OpDesc& d)
      : KernelBase(d), start_(d.node.attrInt("start", 0)), hasEnd_(d.node.hasAttr("end")),
        end_(d.node.attrInt("end", 0)) {}
  std::pair<int64_t, int64_t> bounds(int64_t rank) const {
    auto clampIndex = [rank](int64_t v) {
      if (v < 0) v = v < -rank ? 0 : v + rank;
      return std::min(v, rank);
    };
    const int64_t s = clampIndex(start_);
    const int64_t e = hasEnd_ ? clampIndex(end_) : rank;
    return {s, std::max(e, s)};
  }
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 1, no, 1);
    const auto [s, e] = bounds(in[0].dims.rank);
    out[0].rank = 1;
    out[0].d[0] = e - s;
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    const auto [s, e] = bounds(in[0].dims.rank);
    for (int64_t i = s; i < e; ++i) out[0].as<int64_t>()[i - s] = in[0].dims.d[i];
  }

 private:
  int64_t start_;
  bool hasEnd_;
  int64_t end_;
};

class RangeKernel final : public KernelBase {
 public:
  RangeKernel(const OpDesc& d) : KernelBase(d) {}
  int64_t count(const Tensor* in) const {
    const int32_t dt = in[0].dtype;
    SY_KCHECK(in[0].numElements() == 1 && in[1].numElements() == 1 && in[2].numElements() == 1 && in[1].dtype == dt &&
              in[2].dtype == dt,
          who_, "start, limit and delta must be scalars of one dtype");
    const double maxCount = static_cast<double>(kMaxElements / static_cast<int64_t>(sdk::dtypeSize(dt)));
    if (dt == SY_DTYPE_F32) {
      const float s = in[0].as<const float>()[0], l = in[1].as<const float>()[0], d = in[2].as<const float>()[0];
      SY_KCHECK(d != 0.0f, who_, "delta is 0");
      const float q = std::ceil((l - s) / d);
      SY_KCHECK(!std::isnan(q), who_, "start ", s, ", limit ", l, ", delta ", d, " give no element count");
      const double c = q;
      SY_KCHECK(c <= maxCount, who_, "start ", s, ", limit ", l, ", delta ", d, " give too many elements");
      return c <= 0 ? 0 : static_cast<int64_t>(c);
    }
    const std::vector<int64_t> s = readInts(in[0]), l = readInts(in[1]), d = readInts(in[2]);
    SY_KCHECK(d[0] != 0, who_, "delta is 0");
    __extension__ typedef __int128 i128;
    const i128 diff = static_cast<i128>(l[0]) - static_cast<i128>(s[0]);
    i128 q = diff / d[0];
    if (diff % d[0] != 0 && ((diff > 0) == (d[0] > 0))) q += 1;
    SY_KCHECK(static_cast<double>(q) <= maxCount, who_, "start ", s[0], ", limit ", l[0], ", delta ", d[0],
          " give too many elements");
    return q <= 0 ? 0 : static_cast<int64_t>(q);
  }
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 3, no, 1);
    out[0].rank = 1;
    out[0].d[0] = count(in);
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    const int64_t n = out[0].numElements();
    if (in[0].dtype == SY_DTYPE_F32) {
      const double s = in[0].as<const float>()[0], d = in[2].as<const float>()[0];
      float* y = out[0].as<float>();
      for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(s + static_cast<double>(i) * d);
      return;
    }
    const int64_t s = readInts(in[0])[0], d = readInts(in[2])[0];
    for (int64_t i = 0; i < n; ++i) {
      const auto v = static_cast<int64_t>(static_cast<uint64_t>(s) + static_cast<uint64_t>(i) * static_cast<uint64_t>(d));
      if (in[0].dtype == SY_DTYPE_I32) out[0].as<int32_t>()[i] = static_cast<int32_t>(v);
      else out[0].as<int64_t>()[i] = v;
    }
  }
};

class ConstantOfShapeKernel final : public KernelBase {
 public:
  ConstantOfShapeKernel(const OpDesc& d, int32_t dtype, uint64_t value) : KernelBase(d), dtype_(dtype), value_(value) {}
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 1, no, 1);
    const std::vector<int64_t> s = readInts(in[0]);
    for (int64_t v : s) SY_KCHECK(v >= 0, who_, "shape ", intsStr(s), " has a negative value");
    out[0] = dimsOf(s, who_);
    checkCount(out[0]);
  }
  void checkCount(const Dims& d) const { checkedCount(d, who_); }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    fillElements(static_cast<char*>(out[0].data), out[0].numElements(), &value_, sdk::dtypeSize(dtype_), exec);
  }

 private:
  int32_t dtype_;
  uint64_t value_;
};

// ============================================================================
// resize

enum class Ctm { HalfPixel, PytorchHalfPixel, Asymmetric, AlignCorners, TfHalfPixelForNn, TfCropAndResize };
enum class NearestMode { RoundPreferFloor, RoundPreferCeil, Floor, Ceil };

/// Input coordinate of output coordinate `o` on an axis of `d` inputs and
/// `out` outputs; roiStart/roiEnd (fractions of d - 1) only for tf_crop_and_resize.
double sourceCoordinate(Ctm ctm, int64_t o, int64_t d, int64_t out, double scale, double roiStart = 0,
                        double roiEnd = 1) {
  const double x = static_cast<double>(o);
  switch (ctm) {
    case Ctm::TfCropAndResize: {
      const double len = static_cast<double>(d - 1);
      return out > 1 ? roiStart * len + x * (roiEnd - roiStart) * len / static_cast<double>(out - 1)
                     : 0.5 * (roiStart + roiEnd) * len;
    }
    case Ctm::HalfPixel: return (x + 0.5) / scale - 0.5;
    case Ctm::PytorchHalfPixel: return out > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
    case Ctm::Asymmetric: return x / scale;
    case Ctm::AlignCorners: return out == 1 ? 0.0 : x * static_cast<double>(d - 1) / static_cast<double>(out - 1);
    case Ctm::TfHalfPixelForNn: return (x + 0.5) / scale;
  }
  return 0.0;
}

int64_t nearestIndex(NearestMode mode, double x, int64_t d) {
  const double f = std::floor(x);
  double r;
  switch (mode) {
    case NearestMode::RoundPreferFloor: r = x - f == 0.5 ? f : std::round(x); break;
    case NearestMode::RoundPreferCeil: r = x - f == 0.5 ? f + 1 : std::round(x); break;
    case NearestMode::Floor: r = f; break;
    case NearestMode::Ceil: r = std::ceil(x); break;
    default: r = f; break;
  }
  if (!(r >= 0)) return 0;
  if (r > static_cast<double>(d - 1)) return d - 1;
  return static_cast<int64_t>(r);
}

class ResizeKernel final : public KernelBase {
 public:
  ResizeKernel(const OpDesc& d) : KernelBase(d) {
    const std::string mode = d.node.attrString("mode", "nearest");
    if (mode == "linear") linear_ = true;
    else if (mode == "cubic") cubic_ = true;
    else SY_KCHECK(mode == "nearest", who_, "unknown mode '", mode, "' (expected nearest, linear or cubic)");
    cubicA_ = d.node.attrFloat("cubic_coeff_a", -0.75);
    excludeOutside_ = d.node.attrInt("exclude_outside", 0) != 0;
    const std::string ctm = d.node.attrString("coordinate_transformation_mode", "half_pixel");
    if (ctm == "half_pixel") ctm_ = Ctm::HalfPixel;
    else if (ctm == "pytorch_half_pixel") ctm_ = Ctm::PytorchHalfPixel;
    else if (ctm == "asymmetric") ctm_ = Ctm::Asymmetric;
    else if (ctm == "align_corners") ctm_ = Ctm::AlignCorners;
    else if (ctm == "tf_half_pixel_for_nn") ctm_ = Ctm::TfHalfPixelForNn;
    else if (ctm == "tf_crop_and_resize") ctm_ = Ctm::TfCropAndResize;
    else failArg(who_, "unknown coordinate_transformation_mode '", ctm, "'");
    roi_ = d.node.attrFloats("roi");
    extrapolation_ = d.node.attrFloat("extrapolation_value", 0.0);
    const std::string nm = d.node.attrString("nearest_mode", "round_prefer_floor");
    if (nm == "round_prefer_floor") nearest_ = NearestMode::RoundPreferFloor;
    else if (nm == "round_prefer_ceil") nearest_ = NearestMode::RoundPreferCeil;
    else if (nm == "floor") nearest_ = NearestMode::Floor;
    else if (nm == "ceil") nearest_ = NearestMode::Ceil;
    else failArg(who_, "unknown nearest_mode '", nm, "'");
  }

  /// Output size and scale per axis.
  void axes(const Tensor* in, std::vector<int64_t>& outSize, std::vector<double>& scale) const {
    const Dims& x = in[0].dims;
    const Tensor& p = in[1];
    SY_KCHECK(x.rank > 0, who_, "cannot resize a rank-0 tensor");
    SY_KCHECK(p.numElements() == x.rank, who_, "scales/sizes has ", p.numElements(), " entries for an input of rank ",
          x.rank);
    SY_KCHECK(p.dtype == SY_DTYPE_F32 || p.dtype == SY_DTYPE_I64, who_, "the second input must be f32 scales or i64 sizes");
    outSize.resize(static_cast<size_t>(x.rank));
    scale.resize(static_cast<size_t>(x.rank));
    for (int i = 0; i < x.rank; ++i) {
      const int64_t d = x.d[i];
      if (p.dtype == SY_DTYPE_I64) {
        const int64_t o = p.as<const int64_t>()[i];
        SY_KCHECK(o >= 0, who_, "sizes[", i, "] is negative (", o, ")");
        SY_KCHECK(!(d == 0 && o > 0), who_, "cannot resize axis ", i, " of size 0 to ", o);
        outSize[i] = o;
        scale[i] = d > 0 ? static_cast<double>(o) / static_cast<double>(d) : 1.0;
      } else {
        const double s = p.as<const float>()[i];
        SY_KCHECK(s > 0 && std::isfinite(s), who_, "scales[", i, "] must be a positive finite number, got ", s);
        const double o = std::floor(static_cast<double>(d) * s);
        SY_KCHECK(o <= static_cast<double>(int64_t{1} << 62), who_, "axis ", i, " scaled by ", s, " is too large");
        outSize[i] = static_cast<int64_t>(o);
        scale[i] = s;
      }
    }
  }
  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    checkArity(ni, 2, no, 1);
    SY_KCHECK((!linear_ && !cubic_) || in[0].dtype == SY_DTYPE_F32, who_, "linear and cubic modes need a float input");
    std::vector<int64_t> o;
    std::vector<double> s;
    axes(in, o, s);
    SY_KCHECK(ctm_ != Ctm::TfCropAndResize || in[0].dtype == SY_DTYPE_F32, who_,
              "tf_crop_and_resize needs a float input (its extrapolation_value is a float)");
    if (ctm_ == Ctm::TfCropAndResize) {
      const std::vector<double> roi = roiOf(in, ni);
      SY_KCHECK(roi.size() == 2 * static_cast<size_t>(in[0].dims.rank), who_, "tf_crop_and_resize needs roi with 2 * rank = ",
                2 * in[0].dims.rank, " entries, got ", roi.size());
    }
    out[0] = dimsOf(o, who_);
    checkedCount(out[0], who_);
  }
  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    if (out[0].numElements() == 0) return;
    std::vector<int64_t> outSize;
    std::vector<double> scale;
    axes(in, outSize, scale);
    const std::vector<double> roi = ctm_ == Ctm::TfCropAndResize ? roiOf(in, ni) : std::vector<double>{};
    if (cubic_) runCubic(in[0], out[0], outSize, scale, roi, exec);
    else interpolate(in, out, outSize, scale, roi, exec);
    if (ctm_ == Ctm::TfCropAndResize) extrapolate(in[0].dims, out[0], outSize, scale, roi);
  }

 private:
  /// The source coordinate of output coordinate k on axis i (of `rank`).
  double coordinate(int i, int rank, int64_t k, int64_t d, int64_t o, double scale,
                    const std::vector<double>& roi) const {
    if (ctm_ != Ctm::TfCropAndResize) return sourceCoordinate(ctm_, k, d, o, scale);
    return sourceCoordinate(ctm_, k, d, o, scale, roi[static_cast<size_t>(i)], roi[static_cast<size_t>(i + rank)]);
  }
  /// tf_crop_and_resize's window: the optional input 2 (read when the op runs) when given, else the attribute.
  std::vector<double> roiOf(const Tensor* in, size_t ni) const {
    if (ni < 3 || in[2].dtype < 0) return roi_;
    SY_KCHECK(in[2].dims.rank <= 1, who_, "roi must be 1-D, got ", dimsStr(in[2].dims));
    std::vector<double> r(static_cast<size_t>(in[2].numElements()));
    for (size_t i = 0; i < r.size(); ++i) r[i] = readDouble(in[2], static_cast<int64_t>(i));
    return r;
  }

  /// tf_crop_and_resize: output elements whose source coordinate on any axis
  /// lies outside [0, d - 1] become extrapolation_value (they were computed
  /// from clamped taps).
  void extrapolate(const Dims& x, const Tensor& y, const std::vector<int64_t>& outSize,
                   const std::vector<double>& scale, const std::vector<double>& roi) const {
    const int rank = x.rank;
    std::vector<std::vector<char>> outside(static_cast<size_t>(rank));
    bool any = false;
    for (int i = 0; i < rank; ++i) {
      outside[i].resize(static_cast<size_t>(outSize[i]));
      for (int64_t k = 0; k < outSize[i]; ++k) {
        const double c = coordinate(i, rank, k, x.d[i], outSize[i], scale[i], roi);
        outside[i][k] = !(c >= 0 && c <= static_cast<double>(x.d[i] - 1));
        any = any || outside[i][k];
      }
    }
    if (!any) return;
    float* dst = y.as<float>();
    const int64_t n = y.numElements();
    int64_t coord[SY_MAX_RANK] = {};
    for (int64_t e = 0; e < n; ++e) {
      bool out = false;
      for (int i = 0; i < rank && !out; ++i) out = outside[i][coord[i]] != 0;
      if (out) dst[e] = static_cast<float>(extrapolation_);
      for (int i = rank - 1; i >= 0; --i) {
        if (++coord[i] < outSize[i]) break;
        coord[i] = 0;
      }
    }
  }

  void interpolate(const Tensor* in, Tensor* out, const std::vector<int64_t>& outSize, const std::vector<double>& scale,
                   const std::vector<double>& roi, const Exec& exec) const {
    const Dims& x = in[0].dims;
    const int rank = x.rank;
    int64_t is[SY_MAX_RANK];
    rowStrides(x, is);
    // Per axis and output coordinate: lower neighbour offset, upper-lower delta, weight of the upper.
    std::vector<std::vector<int64_t>> lo(rank), delta(rank);
    std::vector<std::vector<double>> w(rank);
    for (int i = 0; i < rank; ++i) {
      const int64_t d = x.d[i], o = outSize[i];
      lo[i].resize(o);
      delta[i].resize(o);
      w[i].resize(o);
      for (int64_t k = 0; k < o; ++k) {
        const double c = coordinate(i, rank, k, d, o, scale[i], roi);
        if (!linear_) {
          lo[i][k] = nearestIndex(nearest_, c, d) * is[i];
          continue;
        }
        const double cc = std::clamp(std::isnan(c) ? 0.0 : c, 0.0, static_cast<double>(d - 1));
        const auto i0 = static_cast<int64_t>(std::floor(cc));
        lo[i][k] = i0 * is[i];
        delta[i][k] = (std::min(i0 + 1, d - 1) - i0) * is[i];
        w[i][k] = cc - static_cast<double>(i0);
      }
    }
    const int64_t inner = outSize[rank - 1];
    const int64_t rows = out[0].numElements() / inner;
    auto rowsLoop = [&](auto body) {
      parallelFor(exec, rows, std::max<int64_t>(1, 8192 / inner), [&](int64_t b, int64_t e) {
        int64_t coord[SY_MAX_RANK] = {};
        int64_t rem = b;
        for (int i = rank - 2; i >= 0; --i) {
          coord[i] = rem % outSize[i];
          rem /= outSize[i];
        }
        for (int64_t r = b; r < e; ++r) {
          body(r, coord);
          for (int i = rank - 2; i >= 0; --i) {
            if (++coord[i] < outSize[i]) break;
            coord[i] = 0;
          }
        }
      });
    };
    if (!linear_) {
      auto go = [&](auto elem) {
        using E = decltype(elem);
        const E* src = static_cast<const E*>(in[0].data);
        E* dst = static_cast<E*>(out[0].data);
        const int64_t* last = lo[rank - 1].data();
        rowsLoop([&](int64_t r, const int64_t* coord) {
          int64_t base = 0;
          for (int i = 0; i < rank - 1; ++i) base += lo[i][coord[i]];
          E* o = dst + r * inner;
          const E* s = src + base;
          for (int64_t k = 0; k < inner; ++k) o[k] = s[last[k]];
        });
      };
      switch (esizeOf(in[0])) {
        case 1: go(uint8_t{}); break;
        case 2: go(uint16_t{}); break;
        case 4: go(uint32_t{}); break;
        default: go(uint64_t{}); break;
      }
      return;
    }
    const float* src = in[0].as<const float>();
    float* dst = out[0].as<float>();
    rowsLoop([&](int64_t r, const int64_t* coord) {
      int64_t base = 0;
      int64_t dl[SY_MAX_RANK];
      double wl[SY_MAX_RANK];
      int ni2 = 0;
      for (int i = 0; i < rank - 1; ++i) {
        base += lo[i][coord[i]];
        if (w[i][coord[i]] != 0.0) {
          dl[ni2] = delta[i][coord[i]];
          wl[ni2] = w[i][coord[i]];
          ++ni2;
        }
      }
      float* o = dst + r * inner;
      const uint64_t corners = uint64_t{1} << ni2;
      for (int64_t k = 0; k < inner; ++k) {
        const int64_t lk = lo[rank - 1][k], dk = delta[rank - 1][k];
        const double wk = w[rank - 1][k];
        double sum = 0;
        for (uint64_t mask = 0; mask < corners; ++mask) {
          double weight = 1;
          int64_t off = base + lk;
          for (int j = 0; j < ni2; ++j) {
            if (mask & (uint64_t{1} << j)) {
              weight *= wl[j];
              off += dl[j];
            } else {
              weight *= 1.0 - wl[j];
            }
          }
          const double v = wk != 0.0 ? (1.0 - wk) * src[off] + wk * src[off + dk] : static_cast<double>(src[off]);
          sum += weight * v;
        }
        o[k] = static_cast<float>(sum);
      }
    });
  }

 private:
  bool linear_ = false;
  /// Cubic convolution weight at distance x (Keys, coefficient a).
  double cubicWeight(double x) const {
    const double a = cubicA_;
    x = std::fabs(x);
    if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    return 0;
  }

  /// Cubic mode, one axis at a time (the weights are a tensor product): each
  /// output coordinate reads four taps around its source coordinate, clamped
  /// to the edge, or (exclude_outside) dropped with the rest renormalised.
  /// Axes whose output coordinates land exactly on the input's are skipped.
  void runCubic(const Tensor& x, const Tensor& y, const std::vector<int64_t>& outSize,
                const std::vector<double>& scale, const std::vector<double>& roi, const Exec& exec) const {
    const int rank = x.dims.rank;
    std::vector<int64_t> cur(x.dims.d, x.dims.d + rank);
    std::vector<float> bufs[2];
    const float* src = x.as<const float>();
    int which = 0;
    for (int i = 0; i < rank; ++i) {
      const int64_t d = cur[i], o = outSize[i];
      std::vector<int64_t> idx(static_cast<size_t>(o) * 4);
      std::vector<float> wt(static_cast<size_t>(o) * 4);
      bool identity = o == d;
      for (int64_t k = 0; k < o; ++k) {
        const double c = coordinate(i, rank, k, d, o, scale[i], roi);
        identity = identity && c == static_cast<double>(k);
        const double f = std::floor(std::isnan(c) ? 0.0 : c), frac = (std::isnan(c) ? 0.0 : c) - f;
        double w[4], sum = 0;
        for (int j = 0; j < 4; ++j) {
          const double p = f - 1 + j;
          w[j] = cubicWeight(frac + 1 - j);
          if (excludeOutside_ && (p < 0 || p > static_cast<double>(d - 1))) w[j] = 0;
          sum += w[j];
          const double pc = std::clamp(p, 0.0, static_cast<double>(d - 1));
          idx[static_cast<size_t>(k * 4 + j)] = static_cast<int64_t>(pc);
        }
        for (int j = 0; j < 4; ++j)
          wt[static_cast<size_t>(k * 4 + j)] = static_cast<float>(excludeOutside_ && sum != 0 ? w[j] / sum : w[j]);
      }
      if (identity) continue;
      int64_t O = 1, I = 1;
      for (int j = 0; j < i; ++j) O *= cur[j];
      for (int j = i + 1; j < rank; ++j) I *= cur[j];
      std::vector<float>& dstBuf = bufs[which];
      dstBuf.assign(static_cast<size_t>(O * o * I), 0.0f);
      float* dst = dstBuf.data();
      const float* s = src;
      const int64_t* ix = idx.data();
      const float* ww = wt.data();
      parallelFor(exec, O * o, std::max<int64_t>(1, 8192 / std::max<int64_t>(I, 1)), [=](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
          const int64_t oo = r / o, k = r % o;
          float* drow = dst + r * I;
          for (int j = 0; j < 4; ++j) {
            const float wj = ww[k * 4 + j];
            if (wj == 0.0f) continue;
            const float* srow = s + (oo * d + ix[k * 4 + j]) * I;
            for (int64_t q = 0; q < I; ++q) drow[q] += wj * srow[q];
          }
        }
      });
      cur[i] = o;
      src = dst;
      which ^= 1;
    }
    parallelCopy(y.data, src, static_cast<size_t>(y.numElements()) * sizeof(float), exec);
  }

  Ctm ctm_ = Ctm::HalfPixel;
  NearestMode nearest_ = NearestMode::RoundPreferFloor;
  std::vector<double> roi_;
  double extrapolation_ = 0;
  bool cubic_ = false;
  double cubicA_ = -0.75;
  bool excludeOutside_ = false;
};

}  // namespace

SY_CPU_FACTORY(makeReshapeLike) {
  const std::string_view op = d.op();
  if (op == "reshape") return std::make_unique<ReshapeKernel>(d);
  if (op == "flatten") return std::make_unique<FlattenKernel>(d);
  if (op == "squeeze") return std::make_unique<SqueezeKernel>(d);
  if (op == "unsqueeze") {
    SY_KCHECK(d.node.hasAttr("axes") || d.in.size() >= 2, d.describe(), "attribute 'axes' or input 'axes' is required");
    return std::make_unique<UnsqueezeKernel>(d);
  }
  return std::make_unique<IdentityKernel>(d);
}

SY_CPU_FACTORY(makeTranspose) { return std::make_unique<TransposeKernel>(d); }
SY_CPU_FACTORY(makeConcat) { return std::make_unique<ConcatKernel>(d); }
SY_CPU_FACTORY(makeSplit) { return std::make_unique<SplitKernel>(d); }
SY_CPU_FACTORY(makeSlice) {
  for (size_t i = 1; i < d.numInputs(); ++i)
    if (d.has(i) && d.in[i] != SY_DTYPE_I32 && d.in[i] != SY_DTYPE_I64)
      return decline(whyNot, d, "input ", i, " must be i32 or i64, got ", dtName(d.in[i]));
  return std::make_unique<SliceKernel>(d);
}
SY_CPU_FACTORY(makeGather) {
  if (d.numInputs() < 2 || (d.in[1] != SY_DTYPE_I32 && d.in[1] != SY_DTYPE_I64))
    return decline(whyNot, d, "indices must be i32 or i64");
  return std::make_unique<GatherKernel>(d);
}
SY_CPU_FACTORY(makeExpand) { return std::make_unique<ExpandKernel>(d); }
SY_CPU_FACTORY(makeTile) { return std::make_unique<TileKernel>(d); }
SY_CPU_FACTORY(makePad) { return std::make_unique<PadKernel>(d); }
SY_CPU_FACTORY(makeShape) { return std::make_unique<ShapeKernel>(d); }
SY_CPU_FACTORY(makeRange) {
  const int32_t dt = d.in.empty() ? -1 : d.in[0];
  if (dt != SY_DTYPE_F32 && dt != SY_DTYPE_I32 && dt != SY_DTYPE_I64)
    return decline(whyNot, d, "only f32, i32 and i64 are implemented, start is ", dtName(dt));
  return std::make_unique<RangeKernel>(d);
}
SY_CPU_FACTORY(makeConstantOfShape) {
  int32_t dtype = SY_DTYPE_F32;
  uint64_t value = 0;
  if (const auto a = d.node.findAttr("value")) {
    const sy_tensor_literal& t = a->asTensor();
    const size_t es = sdk::dtypeSize(t.dtype);
    SY_KCHECK(es != 0 && t.bytes == es && t.data != nullptr, d.describe(),
          "attribute 'value' must have exactly one element");
    dtype = t.dtype;
    std::memcpy(&value, t.data, es);
  }
  if (!d.out.empty() && d.out[0] != dtype)
    return decline(whyNot, d, "output dtype ", dtName(d.out[0]), " differs from the value's ", dtName(dtype));
  return std::make_unique<ConstantOfShapeKernel>(d, dtype, value);
}
SY_CPU_FACTORY(makeResize) {
  if (d.numInputs() < 2 || (d.in[1] != SY_DTYPE_F32 && d.in[1] != SY_DTYPE_I64))
    return decline(whyNot, d, "the second input must be f32 scales or i64 sizes");
  if (d.node.attrString("mode", "nearest") == "linear" && d.in[0] != SY_DTYPE_F32)
    return decline(whyNot, d, "linear mode needs a float input, got ", dtName(d.in[0]));
  return std::make_unique<ResizeKernel>(d);
}

}  // namespace sy::kernels::detail
