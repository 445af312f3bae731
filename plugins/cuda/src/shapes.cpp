// Shape rules of the region steps (see steps.h).
#include <algorithm>

#include "steps.h"

namespace sy_cuda {

Dims outputShape(const Step& s, const std::vector<Dims>& dims) {
  const Dims& x = dims[static_cast<size_t>(s.inputs.at(0))];
  switch (s.kind) {
    case Kind::Fused: {
      Dims out;
      for (int32_t v : s.inputs) out = broadcastShape(out, dims[static_cast<size_t>(v)]);
      return out;
    }
    case Kind::Gemm: {
      const Dims& b = dims[static_cast<size_t>(s.inputs.at(1))];
      if (s.gemm) {
        const int64_t m = s.transA ? x[1] : x[0], ka = s.transA ? x[0] : x[1];
        const int64_t kb = s.transB ? b[1] : b[0], n = s.transB ? b[0] : b[1];
        sdk::require(ka == kb, SY_ERROR_INVALID_ARGUMENT, "gemm: inner dims ", ka, " and ", kb, " differ");
        return {m, n};
      }
      Dims a2 = x, b2 = b;
      if (a2.size() == 1) a2.insert(a2.begin(), 1);
      if (b2.size() == 1) b2.push_back(1);
      sdk::require(a2.back() == b2[b2.size() - 2], SY_ERROR_INVALID_ARGUMENT, "matmul: inner dims ", a2.back(),
                   " and ", b2[b2.size() - 2], " differ");
      Dims out(a2.begin(), a2.end() - 2);
      if (b2.size() > out.size() + 2) out.assign(b2.begin(), b2.end() - 2);
      if (x.size() > 1) out.push_back(a2[a2.size() - 2]);
      if (b.size() > 1) out.push_back(b2.back());
      return out;
    }
    case Kind::Conv:
    case Kind::Pool: {
      const size_t r = x.size() - 2;
      Dims out = {x[0], s.kind == Kind::Conv ? dims[static_cast<size_t>(s.inputs.at(1))][0] : x[1]};
      const Dims kernel = s.kind == Kind::Conv && s.window.kernel.empty()
                              ? Dims(dims[static_cast<size_t>(s.inputs.at(1))].begin() + 2,
                                     dims[static_cast<size_t>(s.inputs.at(1))].end())
                              : s.window.kernel;
      for (size_t i = 0; i < r; ++i) {
        const int64_t st = s.window.strides.empty() ? 1 : s.window.strides[i];
        const int64_t d = s.window.dilations.empty() ? 1 : s.window.dilations[i];
        const int64_t p = s.window.valid || s.window.pads.empty() ? 0 : s.window.pads[i];
        const int64_t span = d * (kernel[i] - 1) + 1;
        const int64_t o = (x[i + 2] + 2 * p - span) / st + 1;
        sdk::require(x[i + 2] + 2 * p >= span, SY_ERROR_INVALID_ARGUMENT, "the window (", span,
                     ") is larger than the padded input (", x[i + 2] + 2 * p, ") in spatial dim ", i);
        out.push_back(o);
      }
      return out;
    }
    case Kind::GlobalPool: {
      Dims out = {x[0], x[1]};
      out.resize(x.size(), 1);
      return out;
    }
    case Kind::Softmax:
    case Kind::LayerNorm:
    case Kind::BatchNorm:
      return x;
    case Kind::Reduce: {
      std::vector<bool> reduced(x.size(), s.ints.empty() && !s.noopWithEmptyAxes);
      for (int64_t a : s.ints) reduced[normAxis(a, x.size())] = true;
      Dims out;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!reduced[i]) out.push_back(x[i]);
        else if (s.keepdims) out.push_back(1);
      }
      return out;
    }
    case Kind::Transpose: {
      Dims out(x.size());
      for (size_t i = 0; i < x.size(); ++i) out[i] = x[s.ints.empty() ? x.size() - 1 - i : static_cast<size_t>(s.ints[i])];
      return out;
    }
    case Kind::Expand:
      return broadcastShape(x, s.ints);
    case Kind::Slice: {
      Dims out = x;
      for (size_t j = 0; j < s.starts.size(); ++j) {
        const size_t a = s.hasAxes ? normAxis(s.ints[j], x.size()) : j;
        const int64_t d = x[a], step = s.steps.empty() ? 1 : s.steps[j];
        int64_t start = s.starts[j], end = s.ends[j];
        if (start < 0) start += d;
        if (end < 0) end += d;
        if (step > 0) {
          start = std::clamp<int64_t>(start, 0, d);
          end = std::clamp<int64_t>(end, 0, d);
          out[a] = end > start ? (end - start + step - 1) / step : 0;
        } else {
          start = std::clamp<int64_t>(start, 0, d - 1);
          end = std::clamp<int64_t>(end, -1, d - 1);
          out[a] = start > end ? (start - end + (-step) - 1) / (-step) : 0;
        }
      }
      return out;
    }
    case Kind::Concat: {
      const size_t a = normAxis(s.axis, x.size());
      Dims out = x;
      out[a] = 0;
      for (int32_t v : s.inputs) {
        const Dims& d = dims[static_cast<size_t>(v)];
        for (size_t i = 0; i < d.size(); ++i) {
          sdk::require(i == a || d[i] == x[i], SY_ERROR_INVALID_ARGUMENT, "concat: inputs differ in dim ", i);
        }
        out[a] += d[a];
      }
      return out;
    }
    case Kind::Pad: {
      Dims out = x;
      for (size_t i = 0; i < x.size(); ++i) {
        out[i] = x[i] + s.ints[i] + s.ints[i + x.size()];
        sdk::require(s.ints[i] >= 0 && s.ints[i + x.size()] >= 0, SY_ERROR_UNIMPLEMENTED,
                     "negative pads are not implemented by cuda");
      }
      return out;
    }
    case Kind::Gather: {
      const Dims& idx = dims[static_cast<size_t>(s.inputs.at(1))];
      const size_t a = normAxis(s.axis, x.size());
      Dims out(x.begin(), x.begin() + static_cast<int64_t>(a));
      out.insert(out.end(), idx.begin(), idx.end());
      out.insert(out.end(), x.begin() + static_cast<int64_t>(a) + 1, x.end());
      return out;
    }
    case Kind::View:
      return sdk::shapes::viewShape(s.op, x, s.axis, s.ints, s.allowzero);
  }
  sdk::fail(SY_ERROR_INTERNAL, "no shape rule");
}

}  // namespace sy_cuda
