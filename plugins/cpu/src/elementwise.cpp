// Fused f32 elementwise chains: consecutive unary/binary nodes whose
// intermediates have no other user run as one pass over memory.
//
// Note [Elementwise chains]
// A chain compiles to a small register program (one instruction per node).
// Execute splits the output into blocks of kBlock floats, parallel over the
// plugin pool; per block, each external input is either used in place (same
// shape as the output), splatted (one element), read modulo its size (a
// trailing "row" broadcast such as a bias [C] over [N, C]) or gathered with
// NumPy broadcast strides, and every instruction is a tight loop over the
// block, so intermediates stay in L1 and only the inputs and the final output
// touch memory. The loops are branch-free and vectorise: exp, sigmoid, tanh,
// erf, gelu and silu use polynomial approximations (absolute error below
// 2e-7, well inside the conformance tolerance for f32), and the block
// function is compiled for AVX-512, AVX2 and baseline x86-64 (target_clones,
// picked at load time). log, sin, cos and pow call libm per element, except
// pow by a constant 2 or 3 (Note [pow by a small integer]).
//
// Note [pow by a small integer]
// GPT-2's exported GELU computes pow(x, 3.0); libm's powf per element made
// that one node cost more than the rest of the chain. pow(x, c) with a
// constant scalar c of 2 or 3 runs as x * x (* x): the same value for NaN
// (NaN), ±inf (inf, ±inf), ±0 (0, ±0) and on overflow (inf), and within
// an ulp or two of powf elsewhere (two roundings instead of one). The
// exponent's input is then not read at all.
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "steps.h"

namespace sy_cpu {
namespace {

constexpr int64_t kBlock = 256;

enum class Op : uint8_t {
  Neg, Abs, Exp, Log, Sqrt, Rsqrt, Reciprocal, Sigmoid, Tanh, Relu, LeakyRelu, GeluErf, GeluTanh, Erf, Silu,
  Clip, Floor, Ceil, Round, Sign, Sin, Cos, Square, Cube,
  Add, Sub, Mul, Div, Pow, Max, Min
};

struct NamedOp {
  const char* name;
  Op op;
};
constexpr NamedOp kUnary[] = {{"neg", Op::Neg},          {"abs", Op::Abs},         {"exp", Op::Exp},
                              {"log", Op::Log},          {"sqrt", Op::Sqrt},       {"rsqrt", Op::Rsqrt},
                              {"reciprocal", Op::Reciprocal}, {"sigmoid", Op::Sigmoid}, {"tanh", Op::Tanh},
                              {"relu", Op::Relu},        {"leaky_relu", Op::LeakyRelu}, {"gelu", Op::GeluErf},
                              {"erf", Op::Erf},          {"silu", Op::Silu},       {"clip", Op::Clip},
                              {"floor", Op::Floor},      {"ceil", Op::Ceil},       {"round", Op::Round},
                              {"sign", Op::Sign},        {"sin", Op::Sin},         {"cos", Op::Cos}};
constexpr NamedOp kBinary[] = {{"add", Op::Add}, {"sub", Op::Sub},     {"mul", Op::Mul},    {"div", Op::Div},
                               {"pow", Op::Pow}, {"maximum", Op::Max}, {"minimum", Op::Min}};

template <size_t N>
const NamedOp* find(const NamedOp (&list)[N], std::string_view op) {
  for (const NamedOp& e : list) {
    if (op == e.name) return &e;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------
// Branch-free float math (inlined into the vectorised loops)

[[gnu::always_inline]] inline float bitsToFloat(int32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

/// e^x, relative error ~2 ulp (Cephes expf polynomial); inf above 88.72,
/// ~0 below -87, NaN stays NaN.
[[gnu::always_inline]] inline float fastExp(float x) {
  float xc = x < -87.0f ? -87.0f : x;  // (ternaries, not fmin/fmax: those are libm calls)
  xc = xc > 88.72283f ? 88.72283f : xc;
  const float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float n = (xc * 1.44269504088896341f + magic) - magic;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t e = static_cast<int32_t>(n) + 126;  // 2^(n-1), times 2 below: n = 128 stays finite
  float y = p * bitsToFloat(e << 23) * 2.0f;
  y = x > 88.72283f ? std::numeric_limits<float>::infinity() : y;
  return x != x ? x : y;
}

[[gnu::always_inline]] inline float fastSigmoid(float x) { return 1.0f / (1.0f + fastExp(-x)); }

[[gnu::always_inline]] inline float fastTanh(float x) {
  const float t = fastExp(-2.0f * std::fabs(x));
  const float r = (1.0f - t) / (1.0f + t);
  return std::copysign(r, x);
}

/// Abramowitz & Stegun 7.1.26: absolute error below 1.5e-7.
[[gnu::always_inline]] inline float fastErf(float x) {
  const float a = std::fabs(x);
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float y = 1.0f - p * t * fastExp(-a * a);
  return std::copysign(y, x);
}

[[gnu::always_inline]] inline float roundHalfEven(float x) {
  const float magic = 12582912.0f;
  const float r = (std::fabs(x) < 4194304.0f) ? ((x + magic) - magic) : x;
  return x != x ? x : r;
}

struct Instr {
  Op op;
  int32_t dst;     // register (the last instruction writes the output)
  int32_t a, b;    // registers (b: binary only)
  float p0 = 0.f, p1 = 0.f;
};

/// Runs one instruction over `len` elements.
__attribute__((target_clones("avx512f", "avx2", "default"))) void runInstr(const Instr& in, float* __restrict d,
                                                                            const float* __restrict a,
                                                                            const float* __restrict b, int64_t len) {
  const float p0 = in.p0, p1 = in.p1;
  switch (in.op) {
#define SY_UNARY(OP, EXPR)                       \
  case Op::OP:                                   \
    for (int64_t i = 0; i < len; ++i) {          \
      const float x = a[i];                      \
      d[i] = (EXPR);                             \
    }                                            \
    return;
#define SY_BINARY(OP, EXPR)                      \
  case Op::OP:                                   \
    for (int64_t i = 0; i < len; ++i) {          \
      const float x = a[i], y = b[i];            \
      d[i] = (EXPR);                             \
    }                                            \
    return;
    SY_UNARY(Neg, -x)
    SY_UNARY(Abs, std::fabs(x))
    SY_UNARY(Exp, fastExp(x))
    SY_UNARY(Log, std::log(x))
    SY_UNARY(Sqrt, std::sqrt(x))
    SY_UNARY(Rsqrt, 1.0f / std::sqrt(x))
    SY_UNARY(Reciprocal, 1.0f / x)
    SY_UNARY(Sigmoid, fastSigmoid(x))
    SY_UNARY(Tanh, fastTanh(x))
    SY_UNARY(Relu, x < 0.0f ? 0.0f : x)
    SY_UNARY(LeakyRelu, x >= 0.0f ? x : p0 * x)
    // gelu(-inf) is -0 (the limit, as the reference has it), not -inf * 0 = NaN.
    SY_UNARY(GeluErf, x == -INFINITY ? -0.0f : 0.5f * x * (1.0f + fastErf(x * 0.70710678118654752f)))
    SY_UNARY(GeluTanh, x == -INFINITY ? -0.0f
                                      : 0.5f * x * (1.0f + fastTanh(0.79788456080286536f * (x + 0.044715f * x * x * x))))
    SY_UNARY(Erf, fastErf(x))
    SY_UNARY(Clip, x != x ? x : ((x < p0 ? p0 : x) > p1 ? p1 : (x < p0 ? p0 : x)))
    SY_UNARY(Floor, std::floor(x))
    SY_UNARY(Ceil, std::ceil(x))
    SY_UNARY(Round, roundHalfEven(x))
    SY_UNARY(Sign, x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x))
    SY_UNARY(Sin, std::sin(x))
    SY_UNARY(Cos, std::cos(x))
    SY_UNARY(Square, x * x)   // pow(x, 2) (Note [pow by a small integer])
    SY_UNARY(Cube, x * x * x) // pow(x, 3)
    SY_BINARY(Add, x + y)
    SY_BINARY(Sub, x - y)
    SY_BINARY(Mul, x * y)
    SY_BINARY(Div, x / y)
    SY_BINARY(Pow, std::pow(x, y))
    SY_BINARY(Max, (x != x || y != y) ? x + y : (x > y ? x : y))
    SY_BINARY(Min, (x != x || y != y) ? x + y : (x < y ? x : y))
#undef SY_UNARY
#undef SY_BINARY
    case Op::Silu:
      for (int64_t i = 0; i < len; ++i) {
        const float x = a[i];
        const float e = fastExp(-x);
        d[i] = e == std::numeric_limits<float>::infinity() ? -0.0f : x / (1.0f + e);
      }
      return;
  }
}

/// How one external input is read per block.
enum class Load { Full, Splat, Row, Gather };

class ChainStep final : public Step {
 public:
  std::vector<Instr> program;
  int numRegisters = 0;  // inputs first, then the instructions' (reused once dead)
  /// Note [blocked chains]: a chain of one input whose every op maps 0 to 0
  /// (relu, leaky_relu, clip around 0) runs on a oneDNN blocked layout as it
  /// is, element by element over the padded buffer (padding stays 0), and
  /// leaves its output in that layout. So relu and clip after a conv, which
  /// are not oneDNN post-ops (Note [NaN in post-ops]), cost no reorders.
  bool zeroPreserving = false;

  bool acceptsBlocked(size_t i) const override { return zeroPreserving && i == 0; }
  bool mayProduceBlocked() const override { return zeroPreserving; }

  void run(Run& run) const override {
    const size_t numIn = inputs.size();
    // Up to kInlineInputs inputs keep their pointers and sources on the
    // stack: a chain runs on every call, and a microsecond model has a dozen
    // of them (callgrind: two heap allocations a chain before).
    constexpr size_t kInlineInputs = 8;
    const bool onHeap = numIn > kInlineInputs;
    std::array<const RunValue*, kInlineInputs> insInline{};
    std::vector<const RunValue*> insHeap(onHeap ? numIn : 0);
    const RunValue** const ins = onHeap ? insHeap.data() : insInline.data();
    Dims out;
    float* y = nullptr;
    bool flat = false;  // a blocked input and output: one flat range over the padded buffer
    if (zeroPreserving && blockedOk() && run.raw(*this, 0).md != nullptr) {
      const RunValue& x = run.raw(*this, 0);
      y = static_cast<float*>(run.outBlocked(*this, 0, x.dims, layoutCopy(*x.md)));
      ins[0] = &x;
      out.rank = 1;
      out.d[0] = static_cast<int64_t>(x.md->get_size() / sizeof(float));
      flat = true;
    } else {
      for (size_t i = 0; i < numIn; ++i) {
        ins[i] = &run.in(*this, i);
        const Dims& d = ins[i]->dims;
        out = i == 0 ? d : broadcast(out, d);
      }
      y = static_cast<float*>(run.out(*this, 0, out));
    }
    const int64_t n = out.numElements();
    if (n == 0) return;

    struct Source {
      Load load;
      const float* data;
      int64_t period = 0;                 // Row
      int64_t strides[SY_MAX_RANK] = {};  // Gather (0 on broadcast dims)
    };
    std::array<Source, kInlineInputs> srcInline;
    std::vector<Source> srcHeap(onHeap ? numIn : 0);
    Source* const src = onHeap ? srcHeap.data() : srcInline.data();
    for (size_t i = 0; i < numIn; ++i) {
      const Dims& d = flat ? out : ins[i]->dims;
      Source& s = src[i];
      s.data = static_cast<const float*>(ins[i]->data);
      const int64_t m = d.numElements();
      if (m == n) {
        s.load = Load::Full;
      } else if (m == 1) {
        s.load = Load::Splat;
      } else {
        // Row: d equals out's trailing dims once leading 1s are dropped.
        int32_t lead = 0;
        while (lead < d.rank && d.d[lead] == 1) ++lead;
        bool row = true;
        for (int32_t k = lead; k < d.rank; ++k) row = row && d.d[k] == out.d[out.rank - d.rank + k];
        if (row) {
          s.load = Load::Row;
          s.period = m;
        } else {
          s.load = Load::Gather;
          int64_t stride = 1;
          for (int32_t k = d.rank; k-- > 0;) {
            const int32_t ok = out.rank - d.rank + k;
            s.strides[ok] = d.d[k] == 1 ? 0 : stride;
            stride *= d.d[k];
          }
        }
      }
    }

    const int64_t blocks = (n + kBlock - 1) / kBlock;
    const int rank = out.rank;
    auto body = [&](int64_t b0, int64_t b1) {
      // Registers: per thread, kept between calls (no allocation per block range).
      thread_local std::vector<float> regsStore;
      thread_local std::vector<const float*> ptrStore;
      const size_t need = static_cast<size_t>(numRegisters) * kBlock;
      if (regsStore.size() < need) regsStore.resize(need);
      if (ptrStore.size() < static_cast<size_t>(numRegisters)) ptrStore.resize(static_cast<size_t>(numRegisters));
      float* const regs = regsStore.data();
      const float** const ptr = ptrStore.data();
      for (size_t i = 0; i < numIn; ++i) {
        if (src[i].load == Load::Splat) {
          std::fill_n(regs + i * kBlock, kBlock, src[i].data[0]);
        }
      }
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t begin = blk * kBlock;
        const int64_t len = std::min(kBlock, n - begin);
        for (size_t i = 0; i < numIn; ++i) {
          const Source& s = src[i];
          float* r = regs + i * kBlock;
          switch (s.load) {
            case Load::Full: ptr[i] = s.data + begin; break;
            case Load::Splat: ptr[i] = r; break;
            case Load::Row: {
              int64_t j = begin % s.period;
              if (j + len <= s.period) {
                ptr[i] = s.data + j;  // the block lies inside one period: read in place
                break;
              }
              for (int64_t k = 0; k < len;) {
                const int64_t seg = std::min(len - k, s.period - j);
                std::memcpy(r + k, s.data + j, static_cast<size_t>(seg) * sizeof(float));
                k += seg;
                j = 0;
              }
              ptr[i] = r;
              break;
            }
            case Load::Gather: {
              int64_t idx[SY_MAX_RANK];
              int64_t rem = begin, off = 0;
              for (int k = rank; k-- > 0;) {
                idx[k] = rem % out.d[k];
                rem /= out.d[k];
                off += idx[k] * s.strides[k];
              }
              for (int64_t k = 0; k < len; ++k) {
                r[k] = s.data[off];
                for (int q = rank - 1; q >= 0; --q) {
                  off += s.strides[q];
                  if (++idx[q] < out.d[q]) break;
                  off -= idx[q] * s.strides[q];
                  idx[q] = 0;
                }
              }
              ptr[i] = r;
              break;
            }
          }
        }
        for (size_t k = 0; k < program.size(); ++k) {
          const Instr& in = program[k];
          float* d = k + 1 == program.size() ? y + begin : regs + static_cast<size_t>(in.dst) * kBlock;
          runInstr(in, d, ptr[static_cast<size_t>(in.a)], in.b >= 0 ? ptr[static_cast<size_t>(in.b)] : nullptr,
                   len);
          ptr[static_cast<size_t>(in.dst)] = d;
        }
      }
    };
    constexpr int64_t kGrainBlocks = 16;
    if (blocks <= kGrainBlocks || run.threads() <= 1) {
      body(0, blocks);  // (no std::function for small tensors)
    } else {
      run.exec().parallelFor(blocks, kGrainBlocks, body);
    }
  }

 private:
  /// A copy of `md` owned by this step (a blocked output's layout must live
  /// as long as the region; the producer's may be a per-run entry).
  const dnnl::memory::desc* layoutCopy(const dnnl::memory::desc& md) const {
    std::lock_guard<std::mutex> lock(layoutsMutex_);
    for (const auto& l : layouts_)
      if (*l == md) return l.get();
    layouts_.push_back(std::make_unique<dnnl::memory::desc>(md));
    return layouts_.back().get();
  }
  mutable std::mutex layoutsMutex_;
  mutable std::vector<std::unique_ptr<dnnl::memory::desc>> layouts_;

  static Dims broadcast(const Dims& a, const Dims& b) {
    Dims out;
    out.rank = std::max(a.rank, b.rank);
    for (int32_t i = 0; i < out.rank; ++i) {
      const int32_t ia = i - (out.rank - a.rank), ib = i - (out.rank - b.rank);
      const int64_t x = ia >= 0 ? a.d[ia] : 1, y = ib >= 0 ? b.d[ib] : 1;
      SY_CPU_REQUIRE(x == y || x == 1 || y == 1, SY_ERROR_INVALID_ARGUMENT, "shapes ", sdk::formatDims(a.ref()),
                   " and ", sdk::formatDims(b.ref()), " do not broadcast");
      out.d[i] = x == 1 ? y : x;
    }
    return out;
  }
};

}  // namespace

bool isChainUnary(std::string_view op) { return find(kUnary, op) != nullptr; }

int smallIntegerExponent(const sdk::NodeView& node) {
  if (node.op() != "pow" || node.numInputs() != 2 || !node.hasInput(1)) return 0;
  const sdk::ValueView e = node.input(1);
  if (e.dtype() != SY_DTYPE_F32 || !e.isConstant() || !e.isStatic() || e.numElements() != 1 ||
      e.constantData() == nullptr || e.rank() > node.input(0).rank()) {
    return 0;  // (a wider exponent would widen the result)
  }
  float c = 0;
  std::memcpy(&c, e.constantData(), sizeof c);
  return c == 2.0f ? 2 : c == 3.0f ? 3 : 0;
}

std::unique_ptr<Step> makeGeluStep(int32_t x, int32_t y, bool tanh) {
  auto step = std::make_unique<ChainStep>();
  step->inputs = {x};
  step->outputs = {y};
  Instr in{};
  in.op = tanh ? Op::GeluTanh : Op::GeluErf;
  in.dst = 1;
  in.a = 0;
  in.b = -1;
  step->program.push_back(in);
  step->numRegisters = 2;
  return step;
}
bool isChainBinary(std::string_view op) { return find(kBinary, op) != nullptr; }

std::string chainWhyNot(const sdk::NodeView& node) {
  const std::string_view op = node.op();
  const bool unary = isChainUnary(op), binary = isChainBinary(op);
  if (!unary && !binary) return "not an elementwise op of the fused chains";
  if (node.numOutputs() != 1 || node.numInputs() != (unary ? 1u : 2u)) return "unexpected number of inputs";
  for (size_t i = 0; i < node.numInputs(); ++i) {
    if (!node.hasInput(i) || node.input(i).dtype() != SY_DTYPE_F32) return "fused chains take f32 only";
  }
  if (node.output(0).dtype() != SY_DTYPE_F32) return "fused chains take f32 only";
  if (op == "gelu") {
    const std::string a = node.attrString("approximate", "none");
    if (a != "none" && a != "tanh") return sdk::format("gelu approximate='", a, "' is unknown");
  }
  return "";
}

std::unique_ptr<Step> makeChainStep(const sdk::GraphView& /*region*/, const std::vector<sdk::NodeView>& nodes,
                                    const std::vector<int32_t>& valueIds) {
  auto step = std::make_unique<ChainStep>();
  // Registers of external inputs first (in order of first use), then the
  // nodes'. Hash maps and register reuse keep this linear in the chain's
  // length and its registers few (a 32768-node chain once overflowed int16
  // register numbers; looking operands up in a list was quadratic).
  std::unordered_map<int32_t, int32_t> regOf;  // value id -> register
  auto lookup = [&](int32_t v) -> int32_t {
    auto it = regOf.find(v);
    return it == regOf.end() ? -1 : it->second;
  };
  std::unordered_map<int32_t, size_t> lastUse;  // value id -> index of the last node reading it
  std::unordered_set<int32_t> chainOutputs;
  for (const sdk::NodeView& n : nodes) chainOutputs.insert(valueIds[static_cast<size_t>(n.output(0).index())]);
  // Inputs each node reads: pow by a small integer reads its base only.
  auto operandCount = [&](const sdk::NodeView& n) -> size_t {
    return n.op() == "pow" && smallIntegerExponent(n) != 0 ? 1 : n.numInputs();
  };
  for (size_t k = 0; k < nodes.size(); ++k) {
    const sdk::NodeView& n = nodes[k];
    for (size_t i = 0; i < operandCount(n); ++i) {
      const int32_t v = valueIds[static_cast<size_t>(n.input(i).index())];
      lastUse[v] = k;
      if (chainOutputs.count(v)) continue;
      if (lookup(v) < 0) {
        regOf.emplace(v, static_cast<int32_t>(step->inputs.size()));
        step->inputs.push_back(v);
      }
    }
  }
  const int32_t numIn = static_cast<int32_t>(step->inputs.size());
  int32_t next = numIn;
  std::vector<int32_t> freeRegs;
  for (size_t k = 0; k < nodes.size(); ++k) {
    const sdk::NodeView& n = nodes[k];
    Instr in{};
    const std::string_view op = n.op();
    if (const NamedOp* u = find(kUnary, op)) {
      in.op = u->op;
      in.b = -1;
      if (op == "leaky_relu") in.p0 = static_cast<float>(n.attrFloat("alpha", 0.01));
      if (op == "gelu" && n.attrString("approximate", "none") == "tanh") in.op = Op::GeluTanh;
      if (op == "clip") {
        in.p0 = static_cast<float>(n.attrFloat("min", -INFINITY));
        in.p1 = static_cast<float>(n.attrFloat("max", INFINITY));
      }
      in.a = lookup(valueIds[static_cast<size_t>(n.input(0).index())]);
    } else if (const int e = op == "pow" ? smallIntegerExponent(n) : 0; e != 0) {
      in.op = e == 2 ? Op::Square : Op::Cube;
      in.b = -1;
      in.a = lookup(valueIds[static_cast<size_t>(n.input(0).index())]);
    } else {
      in.op = find(kBinary, op)->op;
      in.a = lookup(valueIds[static_cast<size_t>(n.input(0).index())]);
      in.b = lookup(valueIds[static_cast<size_t>(n.input(1).index())]);
    }
    SY_CPU_REQUIRE(in.a >= 0 && (in.b >= 0 || operandCount(n) == 1), SY_ERROR_INTERNAL, n.describe(),
                 ": chain operand not found");
    // The destination is taken before the operands are freed: runInstr's
    // pointers are __restrict, so it must not be one of them.
    if (freeRegs.empty()) {
      in.dst = next++;
    } else {
      in.dst = freeRegs.back();
      freeRegs.pop_back();
    }
    for (size_t i = 0; i < operandCount(n); ++i) {
      const int32_t v = valueIds[static_cast<size_t>(n.input(i).index())];
      const int32_t r = lookup(v);
      if (r >= numIn && lastUse[v] == k && (i == 0 || v != valueIds[static_cast<size_t>(n.input(0).index())])) {
        freeRegs.push_back(r);
        regOf.erase(v);
      }
    }
    regOf[valueIds[static_cast<size_t>(n.output(0).index())]] = in.dst;
    step->program.push_back(in);
  }
  step->numRegisters = next;
  bool zeroPreserving = numIn == 1;
  for (const Instr& in : step->program)
    zeroPreserving = zeroPreserving && (in.op == Op::Relu || in.op == Op::LeakyRelu ||
                                        (in.op == Op::Clip && in.p0 <= 0.0f && in.p1 >= 0.0f));
  step->zeroPreserving = zeroPreserving;
  return step;
}

}  // namespace sy_cpu
