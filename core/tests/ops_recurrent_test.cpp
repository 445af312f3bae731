// Tests of the recurrent ops (lstm, gru, rnn): the interpreter (the SDK's
// portable kernel) against a naive double-precision loop written here from
// the ONNX equations, for every direction, both layouts, sequence_lens,
// initial states, peepholes, clip, linear_before_reset, input_forget and
// non-default activations; and the errors for malformed inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "switchyard/op_registry.h"
#include "test_util.h"

namespace sy {
namespace {

using testing::run;
using testing::runError;
using Vec = std::vector<double>;

Vec data(int64_t n, int64_t seed) {
  Vec v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[static_cast<size_t>(i)] = static_cast<double>(((i + seed) * 7919 + 13 * seed) % 23 - 11) / 16.0;
  return v;
}

Tensor F(Shape s, const Vec& v) { return *Tensor::fromDoubles(DType::F32, std::move(s), v); }

struct Config {
  std::string op = "lstm";
  std::string direction = "forward";
  int64_t seq = 3, batch = 2, input = 3, hidden = 4, layout = 0;
  bool bias = true, lens = false, initial = false, peep = false, lbr = false, inputForget = false;
  double clip = 0;
  std::vector<std::string> acts;  // per direction; empty: defaults
  std::vector<double> alpha, beta;
};

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

std::function<double(double)> actFn(const std::string& n, double a, double b) {
  if (n == "Sigmoid") return sigmoid;
  if (n == "Tanh") return [](double x) { return std::tanh(x); };
  if (n == "Relu") return [](double x) { return x > 0 ? x : 0; };
  if (n == "LeakyRelu") return [a](double x) { return x >= 0 ? x : a * x; };
  if (n == "HardSigmoid") return [a, b](double x) { return std::max(0.0, std::min(1.0, a * x + b)); };
  if (n == "ScaledTanh") return [a, b](double x) { return a * std::tanh(b * x); };
  if (n == "Softsign") return [](double x) { return x / (1 + std::fabs(x)); };
  ADD_FAILURE() << "no test activation " << n;
  return [](double x) { return x; };
}

/// Outputs of the op by the naive loop: y, y_h (and y_c for lstm).
std::vector<Vec> naive(const Config& c, const std::vector<Vec>& in) {
  const int64_t G = c.op == "lstm" ? 4 : c.op == "gru" ? 3 : 1, H = c.hidden, S = c.seq, B = c.batch, I = c.input;
  const int64_t D = c.direction == "bidirectional" ? 2 : 1;
  const size_t perDir = c.op == "lstm" ? 3 : c.op == "gru" ? 2 : 1;
  std::vector<std::string> names = c.acts;
  if (names.empty()) names = c.op == "lstm" ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
                             : c.op == "gru" ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                             : std::vector<std::string>{"Tanh"};
  if (names.size() == perDir && D == 2) {
    const std::vector<std::string> once = names;
    names.insert(names.end(), once.begin(), once.end());
  }
  // alpha and beta are consumed in order by the activations that take them.
  std::vector<std::function<double(double)>> f;
  size_t ai = 0, bi = 0;
  for (const std::string& n : names) {
    const bool takesAlpha = n == "LeakyRelu" || n == "HardSigmoid" || n == "ScaledTanh";
    const bool takesBeta = n == "HardSigmoid" || n == "ScaledTanh";
    const double a = takesAlpha && ai < c.alpha.size() ? c.alpha[ai++] : (n == "LeakyRelu" ? 0.01 : n == "HardSigmoid" ? 0.2 : 1.0);
    const double b = takesBeta && bi < c.beta.size() ? c.beta[bi++] : (n == "HardSigmoid" ? 0.5 : 1.0);
    f.push_back(actFn(n, a, b));
  }
  auto clip = [&](double x) { return c.clip > 0 ? std::max(-c.clip, std::min(c.clip, x)) : x; };
  const Vec &X = in[0], &W = in[1], &R = in[2];
  auto x = [&](int64_t t, int64_t b, int64_t k) { return X[static_cast<size_t>((c.layout == 0 ? t * B + b : b * S + t) * I + k)]; };
  auto st = [&](int64_t d, int64_t b) { return (c.layout == 0 ? d * B + b : b * D + d) * H; };
  std::vector<Vec> out(c.op == "lstm" ? 3 : 2);
  out[0].assign(static_cast<size_t>(S * D * B * H), 0.0);
  for (size_t i = 1; i < out.size(); ++i) out[i].assign(static_cast<size_t>(D * B * H), 0.0);
  for (int64_t d = 0; d < D; ++d) {
    const bool rev = c.direction == "reverse" || d == 1;
    auto fn = [&](size_t k) { return f[static_cast<size_t>(d) * perDir + k]; };
    for (int64_t b = 0; b < B; ++b) {
      const int64_t len = c.lens ? (b % 2 == 0 ? S : S - 1) : S;
      Vec h(static_cast<size_t>(H), 0.0), cs(static_cast<size_t>(H), 0.0);
      if (c.initial)
        for (int64_t k = 0; k < H; ++k) {
          h[static_cast<size_t>(k)] = in[5][static_cast<size_t>(st(d, b) + k)];
          if (c.op == "lstm") cs[static_cast<size_t>(k)] = in[6][static_cast<size_t>(st(d, b) + k)];
        }
      for (int64_t s = 0; s < len; ++s) {
        const int64_t t = rev ? len - 1 - s : s;
        // pre[g*H + j] = x W^T + Wb (input part), rec[g*H + j] = h R^T + Rb.
        Vec pre(static_cast<size_t>(G * H)), rec(static_cast<size_t>(G * H));
        for (int64_t g = 0; g < G * H; ++g) {
          double a = c.bias ? in[3][static_cast<size_t>(d * 2 * G * H + g)] : 0;
          for (int64_t k = 0; k < I; ++k) a += x(t, b, k) * W[static_cast<size_t>((d * G * H + g) * I + k)];
          double r = c.bias ? in[3][static_cast<size_t>(d * 2 * G * H + G * H + g)] : 0;
          for (int64_t k = 0; k < H; ++k) r += h[static_cast<size_t>(k)] * R[static_cast<size_t>((d * G * H + g) * H + k)];
          pre[static_cast<size_t>(g)] = a;
          rec[static_cast<size_t>(g)] = r;
        }
        Vec nh(static_cast<size_t>(H));
        if (c.op == "rnn") {
          for (int64_t j = 0; j < H; ++j) nh[static_cast<size_t>(j)] = fn(0)(clip(pre[static_cast<size_t>(j)] + rec[static_cast<size_t>(j)]));
        } else if (c.op == "gru") {
          Vec z(static_cast<size_t>(H)), r(static_cast<size_t>(H));
          for (int64_t j = 0; j < H; ++j) {
            z[static_cast<size_t>(j)] = fn(0)(clip(pre[static_cast<size_t>(j)] + rec[static_cast<size_t>(j)]));
            r[static_cast<size_t>(j)] = fn(0)(clip(pre[static_cast<size_t>(H + j)] + rec[static_cast<size_t>(H + j)]));
          }
          for (int64_t j = 0; j < H; ++j) {
            double hh;
            if (c.lbr) {
              hh = pre[static_cast<size_t>(2 * H + j)] + r[static_cast<size_t>(j)] * rec[static_cast<size_t>(2 * H + j)];
            } else {
              double rb = c.bias ? in[3][static_cast<size_t>(d * 2 * G * H + G * H + 2 * H + j)] : 0;
              for (int64_t k = 0; k < H; ++k)
                rb += r[static_cast<size_t>(k)] * h[static_cast<size_t>(k)] * R[static_cast<size_t>((d * G * H + 2 * H + j) * H + k)];
              hh = pre[static_cast<size_t>(2 * H + j)] + rb;
            }
            hh = fn(1)(clip(hh));
            nh[static_cast<size_t>(j)] = (1 - z[static_cast<size_t>(j)]) * hh + z[static_cast<size_t>(j)] * h[static_cast<size_t>(j)];
          }
        } else {
          for (int64_t j = 0; j < H; ++j) {
            auto P = [&](int64_t g) { return c.peep ? in[7][static_cast<size_t>(d * 3 * H + g * H + j)] : 0.0; };
            auto gate = [&](int64_t g) { return pre[static_cast<size_t>(g * H + j)] + rec[static_cast<size_t>(g * H + j)]; };
            const double cp = cs[static_cast<size_t>(j)];
            const double ig = fn(0)(clip(gate(0) + P(0) * cp));
            const double fg = c.inputForget ? 1 - ig : fn(0)(clip(gate(2) + P(2) * cp));
            const double cg = fn(1)(clip(gate(3)));
            const double cn = fg * cp + ig * cg;
            const double og = fn(0)(clip(gate(1) + P(1) * cn));
            cs[static_cast<size_t>(j)] = cn;
            nh[static_cast<size_t>(j)] = og * fn(2)(cn);
          }
        }
        h = nh;
        for (int64_t j = 0; j < H; ++j) {
          const int64_t yo = (c.layout == 0 ? (t * D + d) * B + b : (b * S + t) * D + d) * H + j;
          out[0][static_cast<size_t>(yo)] = h[static_cast<size_t>(j)];
        }
      }
      for (int64_t j = 0; j < H; ++j) {
        out[1][static_cast<size_t>(st(d, b) + j)] = h[static_cast<size_t>(j)];
        if (c.op == "lstm") out[2][static_cast<size_t>(st(d, b) + j)] = cs[static_cast<size_t>(j)];
      }
    }
  }
  return out;
}

/// Runs the op and compares every output with the naive loop.
void check(const Config& c) {
  SCOPED_TRACE(c.op + " " + c.direction + " layout " + std::to_string(c.layout));
  const int64_t G = c.op == "lstm" ? 4 : c.op == "gru" ? 3 : 1, H = c.hidden, D = c.direction == "bidirectional" ? 2 : 1;
  const Shape xs = c.layout == 0 ? Shape{c.seq, c.batch, c.input} : Shape{c.batch, c.seq, c.input};
  const Shape ss = c.layout == 0 ? Shape{D, c.batch, H} : Shape{c.batch, D, H};
  std::vector<Vec> v = {data(c.seq * c.batch * c.input, 1), data(D * G * H * c.input, 2), data(D * G * H * H, 3),
                        data(D * 2 * G * H, 4), {}, data(D * c.batch * H, 5), data(D * c.batch * H, 6),
                        data(D * 3 * H, 7)};
  const Tensor absentF = F({0}, {});
  std::vector<Tensor> ins = {F(xs, v[0]), F({D, G * H, c.input}, v[1]), F({D, G * H, H}, v[2])};
  ins.push_back(c.bias ? F({D, 2 * G * H}, v[3]) : absentF);
  Vec lens;
  for (int64_t b = 0; b < c.batch; ++b) lens.push_back(static_cast<double>(c.lens ? (b % 2 == 0 ? c.seq : c.seq - 1) : c.seq));
  ins.push_back(c.lens ? *Tensor::fromDoubles(DType::I32, {c.batch}, lens) : absentF);
  ins.push_back(c.initial ? F(ss, v[5]) : absentF);
  if (c.op == "lstm") {
    ins.push_back(c.initial ? F(ss, v[6]) : absentF);
    ins.push_back(c.peep ? F({D, 3 * H}, v[7]) : absentF);
  }
  AttrMap a = {{"direction", c.direction}, {"layout", c.layout}, {"hidden_size", H}};
  if (!c.acts.empty()) a["activations"] = c.acts;
  if (!c.alpha.empty()) a["activation_alpha"] = c.alpha;
  if (!c.beta.empty()) a["activation_beta"] = c.beta;
  if (c.clip > 0) a["clip"] = c.clip;
  if (c.lbr) a["linear_before_reset"] = int64_t{1};
  if (c.inputForget) a["input_forget"] = int64_t{1};
  const std::vector<Tensor> got = run(c.op, ins, a);
  const std::vector<Vec> want = naive(c, v);
  ASSERT_EQ(got.size(), want.size());
  for (size_t o = 0; o < want.size(); ++o) {
    ASSERT_EQ(got[o].numel(), static_cast<int64_t>(want[o].size())) << "output " << o;
    for (size_t k = 0; k < want[o].size(); ++k)
      ASSERT_NEAR(got[o].getDouble(static_cast<int64_t>(k)), want[o][k], 2e-5) << "output " << o << " element " << k;
  }
}

TEST(Recurrent, LstmVariants) {
  for (const char* dir : {"forward", "reverse", "bidirectional"})
    for (int64_t layout : {0, 1}) {
      Config c;
      c.direction = dir;
      c.layout = layout;
      check(c);
      c.lens = c.initial = c.peep = true;
      check(c);
    }
  Config c;
  c.clip = 0.5;
  c.inputForget = true;
  c.bias = false;
  check(c);
  // HardSigmoid takes alpha 0.3 and beta 0.6, LeakyRelu alpha 0.2, Softsign nothing.
  c.acts = {"HardSigmoid", "LeakyRelu", "Softsign"};
  c.alpha = {0.3, 0.2};
  c.beta = {0.6};
  check(c);
  // Defaults for the parameters not given (LeakyRelu 0.01).
  c.alpha = {0.3};
  check(c);
}

TEST(Recurrent, GruVariants) {
  for (const char* dir : {"forward", "reverse", "bidirectional"})
    for (bool lbr : {false, true}) {
      Config c;
      c.op = "gru";
      c.direction = dir;
      c.lbr = lbr;
      check(c);
      c.lens = c.initial = true;
      c.layout = 1;
      check(c);
    }
  Config c;
  c.op = "gru";
  c.clip = 0.4;
  c.acts = {"Sigmoid", "Relu", "HardSigmoid", "Tanh"};
  c.direction = "bidirectional";
  c.alpha = {0.25};
  c.beta = {0.4};
  check(c);
}

TEST(Recurrent, RnnVariants) {
  for (const char* dir : {"forward", "reverse", "bidirectional"})
    for (int64_t layout : {0, 1}) {
      Config c;
      c.op = "rnn";
      c.direction = dir;
      c.layout = layout;
      c.lens = c.initial = layout == 1;
      check(c);
    }
  Config c;
  c.op = "rnn";
  c.acts = {"ScaledTanh"};
  c.alpha = {1.5};
  c.beta = {0.7};
  c.batch = 5;
  c.seq = 1;
  check(c);
}

TEST(Recurrent, Errors) {
  const Tensor x = F({3, 2, 3}, data(18, 1)), w = F({1, 4, 3}, data(12, 2)), r = F({1, 4, 1}, data(4, 3));
  EXPECT_TRUE(run("rnn", {x, F({1, 1, 3}, data(3, 2)), F({1, 1, 1}, data(1, 3))}).size() == 2);
  EXPECT_FALSE(runError("lstm", {x, F({1, 4, 2}, data(8, 2)), r}).ok());             // w's input size
  EXPECT_FALSE(runError("lstm", {x, w, r}, {{"direction", std::string("both")}}).ok());  // bad direction
  EXPECT_FALSE(runError("lstm", {x, w, r}, {{"activations", std::vector<std::string>{"Tanh"}}}).ok());
  EXPECT_FALSE(runError("lstm", {x, w, r}, {{"activations", std::vector<std::string>{"Foo", "Tanh", "Tanh"}}}).ok());
  EXPECT_FALSE(runError("lstm", {x, w, r, F({1, 7}, data(7, 4))}).ok());  // bias size
  EXPECT_FALSE(
      runError("lstm", {x, w, r, F({0}, {}), *Tensor::fromDoubles(DType::I32, {2}, {3, 4})}).ok());  // len > seq
  EXPECT_FALSE(runError("gru", {x, w, r}).ok());  // 4 rows is not 3 * hidden
  EXPECT_FALSE(runError("lstm", {x, w, r}, {{"clip", -1.0}}).ok());
  EXPECT_FALSE(testing::runWithUnknownDims("lstm", {x, F({1, 4, 2}, data(8, 2)), r}, {}, 3).ok());
}

}  // namespace
}  // namespace sy
