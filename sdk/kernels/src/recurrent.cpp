// Recurrent kernels: lstm, gru, rnn (ONNX LSTM, GRU, RNN) in f32 (16-bit
// floats through the wrapper in registry.cpp).
//
// Per direction, the input projection of every step is one sgemm
// (x [seq * batch, input] by W^T, biases added once), and each step is one
// sgemm of the hidden state by R^T followed by vectorised gate loops over
// contiguous rows of hidden_size. sequence_lens masks batch entries whose
// sequence has ended (forward) or not yet started (reverse): their state is
// kept and their y rows stay zero. An empty input tensor is an absent
// optional input (Note [absent optional inputs of the recurrent ops] in
// core/src/ops/recurrent.cpp).
#include "common.h"

namespace sy::kernels::detail {
namespace {

enum class Cell { Lstm, Gru, Rnn };

enum class Act { Relu, Tanh, Sigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus };

struct Activation {
  Act kind = Act::Tanh;
  float alpha = 0, beta = 0;
};

/// The activation named `name` (ONNX spelling) with alpha/beta taken, when it
/// uses them, from the front of the given lists (else the ONNX defaults).
Activation parseActivation(const std::string& name, const std::vector<double>& alphas, size_t& ai,
                           const std::vector<double>& betas, size_t& bi, const std::string& who) {
  struct Known {
    const char* name;
    Act kind;
    int params;  // 0 none, 1 alpha, 2 alpha and beta
    float alpha, beta;
  };
  static const Known kKnown[] = {
      {"Relu", Act::Relu, 0, 0, 0},           {"Tanh", Act::Tanh, 0, 0, 0},
      {"Sigmoid", Act::Sigmoid, 0, 0, 0},     {"Affine", Act::Affine, 2, 1.0f, 0.0f},
      {"LeakyRelu", Act::LeakyRelu, 1, 0.01f, 0}, {"ThresholdedRelu", Act::ThresholdedRelu, 1, 1.0f, 0},
      {"ScaledTanh", Act::ScaledTanh, 2, 1.0f, 1.0f}, {"HardSigmoid", Act::HardSigmoid, 2, 0.2f, 0.5f},
      {"Elu", Act::Elu, 1, 1.0f, 0},          {"Softsign", Act::Softsign, 0, 0, 0},
      {"Softplus", Act::Softplus, 0, 0, 0},
  };
  for (const Known& k : kKnown) {
    if (name != k.name) continue;
    Activation a{k.kind, k.alpha, k.beta};
    if (k.params >= 1 && ai < alphas.size()) a.alpha = static_cast<float>(alphas[ai++]);
    if (k.params >= 2 && bi < betas.size()) a.beta = static_cast<float>(betas[bi++]);
    return a;
  }
  failArg(who, "unknown activation '", name, "'");
}

/// x[i] = act(x[i]) for n elements.
void applyActivation(const Activation& a, float* x, int64_t n) {
  const float al = a.alpha, be = a.beta;
  switch (a.kind) {
    case Act::Sigmoid: mapV4(x, x, n, [](V4f v) { return vsigmoid(v); }); return;
    case Act::Tanh: mapV4(x, x, n, [](V4f v) { return vtanh(v); }); return;
    case Act::Relu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
      return;
    case Act::Affine:
      for (int64_t i = 0; i < n; ++i) x[i] = al * x[i] + be;
      return;
    case Act::LeakyRelu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] >= 0.0f ? x[i] : al * x[i];
      return;
    case Act::ThresholdedRelu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] > al ? x[i] : 0.0f;
      return;
    case Act::ScaledTanh:
      mapV4(x, x, n, [al, be](V4f v) { return al * vtanh(be * v); });
      return;
    case Act::HardSigmoid:
      for (int64_t i = 0; i < n; ++i) x[i] = std::max(0.0f, std::min(1.0f, al * x[i] + be));
      return;
    case Act::Elu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] >= 0.0f ? x[i] : al * (std::exp(x[i]) - 1.0f);
      return;
    case Act::Softsign:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + std::fabs(x[i]));
      return;
    case Act::Softplus:
      // log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|).
      for (int64_t i = 0; i < n; ++i) x[i] = std::max(x[i], 0.0f) + std::log1p(std::exp(-std::fabs(x[i])));
      return;
  }
}

class RecurrentKernel final : public KernelBase {
 public:
  RecurrentKernel(const OpDesc& d, Cell cell) : KernelBase(d), cell_(cell) {
    const sdk::NodeView& n = d.node;
    const std::string direction = n.attrString("direction", "forward");
    SY_KCHECK(direction == "forward" || direction == "reverse" || direction == "bidirectional", who_,
              "direction must be forward, reverse or bidirectional, got '", direction, "'");
    dirs_ = direction == "bidirectional" ? 2 : 1;
    reverseOnly_ = direction == "reverse";
    layout_ = n.attrInt("layout", 0);
    SY_KCHECK(layout_ == 0 || layout_ == 1, who_, "layout must be 0 or 1, got ", layout_);
    hiddenAttr_ = n.attrInt("hidden_size", 0);
    SY_KCHECK(hiddenAttr_ >= 0, who_, "hidden_size must be >= 0, got ", hiddenAttr_);
    gates_ = cell == Cell::Lstm ? 4 : cell == Cell::Gru ? 3 : 1;
    if (n.hasAttr("clip")) {
      clip_ = static_cast<float>(n.attrFloat("clip", 0));
      SY_KCHECK(clip_ > 0, who_, "clip must be > 0, got ", clip_);
      hasClip_ = true;
    }
    lbr_ = cell == Cell::Gru && n.attrInt("linear_before_reset", 0) != 0;
    inputForget_ = cell == Cell::Lstm && n.attrInt("input_forget", 0) != 0;

    const size_t perDir = cell == Cell::Lstm ? 3 : cell == Cell::Gru ? 2 : 1;
    std::vector<std::string> names = n.attrStrings("activations", {});
    if (names.empty()) {
      if (cell == Cell::Lstm) names = {"Sigmoid", "Tanh", "Tanh"};
      else if (cell == Cell::Gru) names = {"Sigmoid", "Tanh"};
      else names = {"Tanh"};
    }
    SY_KCHECK(names.size() == perDir || names.size() == perDir * static_cast<size_t>(dirs_), who_,
              "activations must name ", perDir, " functions per direction, got ", names.size());
    if (names.size() == perDir && dirs_ == 2) {
      const std::vector<std::string> once = names;  // both directions use the same functions
      names.insert(names.end(), once.begin(), once.end());
    }
    const std::vector<double> alphas = n.attrFloats("activation_alpha", {});
    const std::vector<double> betas = n.attrFloats("activation_beta", {});
    size_t ai = 0, bi = 0;
    for (const std::string& name : names) acts_.push_back(parseActivation(name, alphas, ai, betas, bi, who_));
  }

  void outputShapes(const Tensor* in, size_t ni, Dims* out, size_t no) const override {
    const Shape s = shape(in, ni, no);
    out[0].rank = 4;
    if (layout_ == 0) {
      out[0].d[0] = s.seq, out[0].d[1] = dirs_, out[0].d[2] = s.batch, out[0].d[3] = s.hidden;
    } else {
      out[0].d[0] = s.batch, out[0].d[1] = s.seq, out[0].d[2] = dirs_, out[0].d[3] = s.hidden;
    }
    for (size_t i = 1; i < no; ++i) out[i] = stateDims(s);
  }

  void run(const Tensor* in, size_t ni, Tensor* out, size_t no, const Exec& exec) const override {
    const Shape s = shape(in, ni, no);
    for (size_t i = 0; i < no; ++i) std::fill_n(out[i].as<float>(), out[i].numElements(), 0.0f);
    if (s.batch == 0 || s.hidden == 0) return;
    std::vector<int64_t> lens(static_cast<size_t>(s.batch), s.seq);
    if (present(in, ni, 4)) {
      const std::vector<int64_t> given = readInts(in[4]);
      for (int64_t b = 0; b < s.batch; ++b) {
        const int64_t l = given[static_cast<size_t>(b)];
        SY_KCHECK(l >= 0 && l <= s.seq, who_, "sequence_lens[", b, "] = ", l, " is outside [0, ", s.seq, "]");
        lens[static_cast<size_t>(b)] = l;
      }
    }
    for (int64_t dir = 0; dir < dirs_; ++dir) runDirection(in, ni, out, no, s, lens, dir, exec);
  }

 private:
  struct Shape {
    int64_t seq = 0, batch = 0, input = 0, hidden = 0;
  };

  static bool present(const Tensor* in, size_t ni, size_t i) { return i < ni && in[i].numElements() > 0; }

  Dims stateDims(const Shape& s) const {
    Dims d;
    d.rank = 3;
    d.d[0] = layout_ == 0 ? dirs_ : s.batch;
    d.d[1] = layout_ == 0 ? s.batch : dirs_;
    d.d[2] = s.hidden;
    return d;
  }

  /// Checks every input against x, w, r; returns the sizes.
  Shape shape(const Tensor* in, size_t ni, size_t no) const {
    const size_t maxIn = cell_ == Cell::Lstm ? 8 : 6;
    SY_KCHECK(ni >= 3 && ni <= maxIn, who_, "got ", ni, " inputs, expected 3 to ", maxIn);
    SY_KCHECK(no == (cell_ == Cell::Lstm ? 3u : 2u), who_, "got ", no, " outputs, expected ", cell_ == Cell::Lstm ? 3 : 2);
    const Dims& x = in[0].dims;
    const Dims& w = in[1].dims;
    const Dims& r = in[2].dims;
    SY_KCHECK(x.rank == 3, who_, "x must have rank 3, got ", dimsStr(x));
    SY_KCHECK(w.rank == 3 && r.rank == 3, who_, "w and r must have rank 3, got ", dimsStr(w), " and ", dimsStr(r));
    Shape s;
    s.seq = x.d[layout_ == 0 ? 0 : 1];
    s.batch = x.d[layout_ == 0 ? 1 : 0];
    s.input = x.d[2];
    s.hidden = hiddenAttr_ > 0 ? hiddenAttr_ : r.d[2];
    const int64_t gh = gates_ * s.hidden;
    SY_KCHECK(w.d[0] == dirs_ && w.d[1] == gh && w.d[2] == s.input, who_, "w must be [", dirs_, ", ", gh, ", ",
              s.input, "], got ", dimsStr(w));
    SY_KCHECK(r.d[0] == dirs_ && r.d[1] == gh && r.d[2] == s.hidden, who_, "r must be [", dirs_, ", ", gh, ", ",
              s.hidden, "], got ", dimsStr(r));
    if (present(in, ni, 3))
      SY_KCHECK(in[3].dims.rank == 2 && in[3].dims.d[0] == dirs_ && in[3].dims.d[1] == 2 * gh, who_, "b must be [",
                dirs_, ", ", 2 * gh, "], got ", dimsStr(in[3].dims));
    if (present(in, ni, 4))
      SY_KCHECK(in[4].dims.rank == 1 && in[4].dims.d[0] == s.batch &&
                    (in[4].dtype == SY_DTYPE_I32 || in[4].dtype == SY_DTYPE_I64),
                who_, "sequence_lens must be i32 or i64 [", s.batch, "], got ", dtName(in[4].dtype), dimsStr(in[4].dims));
    const Dims st = stateDims(s);
    for (size_t i = 5; i < (cell_ == Cell::Lstm ? 7u : 6u); ++i)
      if (present(in, ni, i))
        SY_KCHECK(in[i].dims == st, who_, i == 5 ? "initial_h" : "initial_c", " must be ", dimsStr(st), ", got ",
                  dimsStr(in[i].dims));
    if (cell_ == Cell::Lstm && present(in, ni, 7))
      SY_KCHECK(in[7].dims.rank == 2 && in[7].dims.d[0] == dirs_ && in[7].dims.d[1] == 3 * s.hidden, who_,
                "p must be [", dirs_, ", ", 3 * s.hidden, "], got ", dimsStr(in[7].dims));
    for (size_t i = 0; i < ni; ++i)
      if (i != 4 && present(in, ni, i))
        SY_KCHECK(in[i].dtype == SY_DTYPE_F32, who_, "input ", i, " must be f32 here, got ", dtName(in[i].dtype));
    return s;
  }

  /// Offset (in elements) of state row (dir, b) in a layout-dependent [dirs, batch, H] / [batch, dirs, H] tensor.
  int64_t stateRow(const Shape& s, int64_t dir, int64_t b) const {
    return (layout_ == 0 ? dir * s.batch + b : b * dirs_ + dir) * s.hidden;
  }
  /// Row of x for step t, batch b.
  int64_t xRow(const Shape& s, int64_t t, int64_t b) const { return layout_ == 0 ? t * s.batch + b : b * s.seq + t; }
  /// Offset of y's row (t, dir, b).
  int64_t yRow(const Shape& s, int64_t t, int64_t dir, int64_t b) const {
    return (layout_ == 0 ? (t * dirs_ + dir) * s.batch + b : (b * s.seq + t) * dirs_ + dir) * s.hidden;
  }

  void clip(float* x, int64_t n) const {
    if (!hasClip_) return;
    const float c = clip_;
    for (int64_t i = 0; i < n; ++i) x[i] = std::max(-c, std::min(c, x[i]));
  }

  void runDirection(const Tensor* in, size_t ni, Tensor* out, size_t no, const Shape& s,
                    const std::vector<int64_t>& lens, int64_t dir, const Exec& exec) const {
    const int64_t H = s.hidden, G = gates_, GH = G * H, B = s.batch, S = s.seq, I = s.input;
    const bool reverse = reverseOnly_ || dir == 1;
    const Activation* act = &acts_[static_cast<size_t>(dir) * (cell_ == Cell::Lstm ? 3 : cell_ == Cell::Gru ? 2 : 1)];

    // W^T [I, GH] and R^T [H, GH] of this direction.
    std::vector<float> wt(static_cast<size_t>(I * GH)), rt(static_cast<size_t>(H * GH));
    const float* w = in[1].as<const float>() + dir * GH * I;
    const float* r = in[2].as<const float>() + dir * GH * H;
    for (int64_t g = 0; g < GH; ++g) {
      for (int64_t k = 0; k < I; ++k) wt[static_cast<size_t>(k * GH + g)] = w[g * I + k];
      for (int64_t k = 0; k < H; ++k) rt[static_cast<size_t>(k * GH + g)] = r[g * H + k];
    }
    // Bias added to the input projection: Wb + Rb, except GRU's Rb_h with
    // linear_before_reset, which goes inside the reset product.
    std::vector<float> bias(static_cast<size_t>(GH), 0.0f), rbH(static_cast<size_t>(H), 0.0f);
    if (present(in, ni, 3)) {
      const float* bw = in[3].as<const float>() + dir * 2 * GH;
      const float* br = bw + GH;
      for (int64_t g = 0; g < GH; ++g) bias[static_cast<size_t>(g)] = bw[g] + br[g];
      if (lbr_)
        for (int64_t h = 0; h < H; ++h) {
          bias[static_cast<size_t>(2 * H + h)] = bw[2 * H + h];
          rbH[static_cast<size_t>(h)] = br[2 * H + h];
        }
    }
    // Input projections of every step: rows of x are contiguous in both layouts.
    std::vector<float> xw(static_cast<size_t>(S * B * GH));
    if (S * B > 0) {
      if (I > 0) {
        sgemm(S * B, GH, I, in[0].as<const float>(), I, wt.data(), GH, xw.data(), GH, false, &exec);
      } else {
        std::fill(xw.begin(), xw.end(), 0.0f);
      }
      for (int64_t row = 0; row < S * B; ++row) {
        float* p = xw.data() + row * GH;
        for (int64_t g = 0; g < GH; ++g) p[g] += bias[static_cast<size_t>(g)];
      }
    }
    const float* peep = cell_ == Cell::Lstm && present(in, ni, 7) ? in[7].as<const float>() + dir * 3 * H : nullptr;

    // States [B, H].
    std::vector<float> h(static_cast<size_t>(B * H), 0.0f), c(cell_ == Cell::Lstm ? static_cast<size_t>(B * H) : 0, 0.0f);
    for (int64_t b = 0; b < B; ++b) {
      if (present(in, ni, 5)) std::copy_n(in[5].as<const float>() + stateRow(s, dir, b), H, h.data() + b * H);
      if (cell_ == Cell::Lstm && present(in, ni, 6))
        std::copy_n(in[6].as<const float>() + stateRow(s, dir, b), H, c.data() + b * H);
    }
    std::vector<float> hr(static_cast<size_t>(B * GH)), gate(static_cast<size_t>(GH)), tmp(static_cast<size_t>(B * H));
    float* y = out[0].as<float>();
    for (int64_t step = 0; step < S; ++step) {
      const int64_t t = reverse ? S - 1 - step : step;
      // Recurrent projection (GRU without linear_before_reset: z and r only; h after the reset).
      const int64_t ncols = cell_ == Cell::Gru && !lbr_ ? 2 * H : GH;
      if (H > 0) sgemm(B, ncols, H, h.data(), H, rt.data(), GH, hr.data(), GH, false, &exec);
      if (cell_ == Cell::Gru && !lbr_) {
        // z, r for every batch entry, then (r * H) R_h^T.
        for (int64_t b = 0; b < B; ++b) {
          float* g = hr.data() + b * GH;
          const float* xp = xw.data() + xRow(s, t, b) * GH;
          for (int64_t k = 0; k < 2 * H; ++k) g[k] += xp[k];
          clip(g, 2 * H);
          applyActivation(act[0], g, 2 * H);
          const float* rg = g + H;
          const float* hp = h.data() + b * H;
          float* o = tmp.data() + b * H;
          for (int64_t k = 0; k < H; ++k) o[k] = rg[k] * hp[k];
        }
        sgemm(B, H, H, tmp.data(), H, rt.data() + 2 * H, GH, hr.data() + 2 * H, GH, false, &exec);
      }
      for (int64_t b = 0; b < B; ++b) {
        if (t >= lens[static_cast<size_t>(b)]) continue;  // outside this entry's sequence: state kept, y zero
        float* g = hr.data() + b * GH;
        const float* xp = xw.data() + xRow(s, t, b) * GH;
        float* hp = h.data() + b * H;
        switch (cell_) {
          case Cell::Rnn: {
            for (int64_t k = 0; k < H; ++k) hp[k] = g[k] + xp[k];
            clip(hp, H);
            applyActivation(act[0], hp, H);
            break;
          }
          case Cell::Gru: {
            float* z = g;
            float* rg = g + H;
            float* hh = g + 2 * H;
            if (lbr_) {
              for (int64_t k = 0; k < 2 * H; ++k) g[k] += xp[k];
              clip(g, 2 * H);
              applyActivation(act[0], g, 2 * H);
              for (int64_t k = 0; k < H; ++k) hh[k] = xp[2 * H + k] + rg[k] * (hh[k] + rbH[static_cast<size_t>(k)]);
            } else {
              for (int64_t k = 0; k < H; ++k) hh[k] += xp[2 * H + k];
            }
            clip(hh, H);
            applyActivation(act[1], hh, H);
            for (int64_t k = 0; k < H; ++k) hp[k] = (1.0f - z[k]) * hh[k] + z[k] * hp[k];
            break;
          }
          case Cell::Lstm: {
            float* ig = g;
            float* og = g + H;
            float* fg = g + 2 * H;
            float* cg = g + 3 * H;
            float* cp = c.data() + b * H;
            for (int64_t k = 0; k < GH; ++k) g[k] += xp[k];
            if (peep) {
              for (int64_t k = 0; k < H; ++k) {
                ig[k] += peep[k] * cp[k];
                fg[k] += peep[2 * H + k] * cp[k];
              }
            }
            clip(ig, H);
            clip(fg, H);
            clip(cg, H);
            applyActivation(act[0], ig, H);
            if (inputForget_) {
              for (int64_t k = 0; k < H; ++k) fg[k] = 1.0f - ig[k];
            } else {
              applyActivation(act[0], fg, H);
            }
            applyActivation(act[1], cg, H);
            for (int64_t k = 0; k < H; ++k) cp[k] = fg[k] * cp[k] + ig[k] * cg[k];
            if (peep)
              for (int64_t k = 0; k < H; ++k) og[k] += peep[H + k] * cp[k];
            clip(og, H);
            applyActivation(act[0], og, H);
            std::copy_n(cp, H, cg);
            applyActivation(act[2], cg, H);
            for (int64_t k = 0; k < H; ++k) hp[k] = og[k] * cg[k];
            break;
          }
        }
        std::copy_n(hp, H, y + yRow(s, t, dir, b));
      }
    }
    for (int64_t b = 0; b < B; ++b) {
      if (no > 1) std::copy_n(h.data() + b * H, H, out[1].as<float>() + stateRow(s, dir, b));
      if (no > 2) std::copy_n(c.data() + b * H, H, out[2].as<float>() + stateRow(s, dir, b));
    }
  }

  Cell cell_;
  int64_t dirs_ = 1, layout_ = 0, hiddenAttr_ = 0, gates_ = 1;
  bool reverseOnly_ = false, hasClip_ = false, lbr_ = false, inputForget_ = false;
  float clip_ = 0;
  std::vector<Activation> acts_;
};

}  // namespace

SY_CPU_FACTORY(makeRecurrent) {
  const Cell cell = d.op() == "lstm" ? Cell::Lstm : d.op() == "gru" ? Cell::Gru : Cell::Rnn;
  if (d.in.empty() || d.in[0] != SY_DTYPE_F32) return decline(whyNot, d, "only f32 (and 16-bit floats) are implemented");
  return std::make_unique<RecurrentKernel>(d, cell);
}

}  // namespace sy::kernels::detail
