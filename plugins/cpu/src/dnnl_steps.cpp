// oneDNN fast paths: convolution (1-D/2-D/3-D, strides, pads, dilations,
// groups) with batch-norm folding and post-ops, matmul/gemm with bias and
// post-ops, max/avg/global pooling, and inference batch_norm.
//
// Note [oneDNN steps]
// Each step keeps a small cache of instantiated primitives keyed by the
// input dims (and the layout the input arrives in), so static shapes make one
// entry at compile time (the region's warm-up run) and dynamic shapes one per
// new input shape, under the step's mutex; entries are never removed, so a
// running call keeps pointers into them without a lock. Constant weights are
// reordered into the layout the primitive chose (format_tag::any) once per
// entry; batch_norm after a conv whose output has no other user is folded
// into the conv's weights and bias at compile time. Activations, and an `add`
// of a same-shape tensor (residual), become post-ops (eltwise, sum: the
// addend is copied into the destination first). Convolution, pooling and
// batch_norm outputs stay in the layout oneDNN picks (e.g. nChw16c) while
// every consumer is such a step; anything else gets row-major data, converted
// once (see Run::in). Primitives run on OpenMP teams of one, cut into chunks
// on the plugin pool (Note [Split primitives] in dnnl_split.cpp).
// Every primitive uses scratchpad_mode::user with scratch from the calling
// run: Debian's oneDNN (built without DNNL_ENABLE_CONCURRENT_EXEC) shares one
// library scratchpad, which concurrent executes corrupted.
#include <cmath>
#include <cstring>
#include <array>
#include <cstdint>
#include <limits>
#include <vector>
#include <initializer_list>
#include <unordered_map>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "cpu_features.h"
#include "dnnl_split.h"
#include "steps.h"

namespace sy_cpu {

using dnnl::memory;
using Md = dnnl::memory::desc;

namespace {

/// The portable kernel for `node`, or null where it has none; a oneDNN step
/// keeps it for the shapes its primitive does not take.
std::unique_ptr<Kernel> portableKernelOrNull(const sdk::NodeView& node) {
  std::string why;
  try {
    return makeKernel(node, why);
  } catch (...) {
    return nullptr;
  }
}

/// The step's input value ids, in the node's order (-1: absent optional input).
void bindInputs(const sdk::NodeView& node, std::vector<int32_t>& inputs) {
  for (size_t i = 0; i < node.numInputs(); ++i) inputs.push_back(node.hasInput(i) ? node.input(i).index() : -1);
}

memory::dims toDnnl(const Dims& d) { return memory::dims(d.d, d.d + d.rank); }

Md plainMd(const memory::dims& dims) {
  memory::dims strides(dims.size(), 1);
  for (size_t k = dims.size(); k-- > 1;) strides[k - 1] = strides[k] * dims[k];
  return Md(dims, memory::data_type::f32, strides);
}

bool isPlain(const Md& md, const memory::dims& dims) { return md == plainMd(dims); }

std::vector<float> copyFloats(const sdk::ValueView& v) {
  const float* p = static_cast<const float*>(v.constantData());
  return std::vector<float>(p, p + v.constantBytes() / sizeof(float));
}

bool constantF32Value(const sdk::ValueView& v) {
  return v.dtype() == SY_DTYPE_F32 && v.isConstant() && v.isStatic();
}

bool allF32(const sdk::NodeView& node, size_t first, size_t count) {
  for (size_t i = first; i < first + count && i < node.numInputs(); ++i) {
    if (!node.hasInput(i) || node.input(i).dtype() != SY_DTYPE_F32 || !node.input(i).hasRank()) return false;
  }
  return node.numOutputs() == 1 && node.output(0).dtype() == SY_DTYPE_F32;
}

/// Spatial output size and pads per ONNX (auto_pad, ceil_mode as the IR says).
struct Window {
  memory::dims out, padL, padR;
};

Window windowOf(const Dims& x, const std::vector<int64_t>& kernel, const std::vector<int64_t>& strides,
                const std::vector<int64_t>& dilations, const std::vector<int64_t>& pads, const std::string& autoPad,
                bool ceilMode) {
  const size_t nsp = kernel.size();
  Window w;
  for (size_t i = 0; i < nsp; ++i) {
    const int64_t in = x.d[2 + i], s = strides[i], dk = (kernel[i] - 1) * dilations[i] + 1;
    int64_t pl = pads.empty() ? 0 : pads[i], pr = pads.empty() ? 0 : pads[i + nsp], o = 0;
    if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
      o = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>((o - 1) * s + dk - in, 0);
      pl = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pr = total - pl;
    } else if (autoPad == "VALID") {
      pl = pr = 0;
      o = in >= dk ? (in - dk) / s + 1 : 0;
    } else {
      const int64_t span = in + pl + pr - dk;
      SY_CPU_REQUIRE(span >= 0, SY_ERROR_INVALID_ARGUMENT, "window ", dk, " larger than the padded input ", in + pl + pr);
      o = ceilMode ? (span + s - 1) / s + 1 : span / s + 1;
      if (ceilMode && (o - 1) * s >= in + pl) --o;  // a window starting in the end padding is dropped
    }
    SY_CPU_REQUIRE(o >= 0, SY_ERROR_INVALID_ARGUMENT, "negative output size");
    // oneDNN wants (in + pl + pr - dk) / s + 1 == o: extend the end padding for ceil_mode.
    pr = std::max(pr, (o - 1) * s + dk - in - pl);
    w.out.push_back(o);
    w.padL.push_back(pl);
    w.padR.push_back(pr);
  }
  return w;
}

std::string windowAttrsWhyNot(const sdk::NodeView& node, size_t nsp, bool needKernel) {
  const std::vector<int64_t> k = node.attrInts("kernel_shape");
  if (needKernel && k.size() != nsp) return "kernel_shape does not match the input rank";
  if (!k.empty() && k.size() != nsp) return "kernel_shape does not match the input rank";
  for (int64_t v : k) {
    if (v < 1) return "kernel_shape entries must be >= 1";
  }
  const std::vector<int64_t> s = node.attrInts("strides"), d = node.attrInts("dilations"), p = node.attrInts("pads");
  if (!s.empty() && s.size() != nsp) return "strides do not match the input rank";
  if (!d.empty() && d.size() != nsp) return "dilations do not match the input rank";
  if (!p.empty() && p.size() != 2 * nsp) return "pads do not match the input rank";
  for (int64_t v : s) {
    if (v < 1) return "strides must be >= 1";
  }
  for (int64_t v : d) {
    if (v < 1) return "dilations must be >= 1";
  }
  for (int64_t v : p) {
    if (v < 0) return "negative pads";
  }
  const std::string a = node.attrString("auto_pad", "NOTSET");
  if (a != "NOTSET" && a != "SAME_UPPER" && a != "SAME_LOWER" && a != "VALID") return "unknown auto_pad '" + a + "'";
  return "";
}

std::vector<int64_t> orOnes(std::vector<int64_t> v, size_t n) {
  if (v.empty()) v.assign(n, 1);
  return v;
}

/// Attributes every primitive is made with: the scratchpad is ours (per call),
/// never the library's, so concurrent calls share no oneDNN buffer.
dnnl::primitive_attr userScratchpad(dnnl::primitive_attr a = {}) {
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

/// Ids of cached primitive entries (0: an entry that is not cached).
uint64_t nextEntryId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

/// Argument slots of reuse() keys.
enum Slot : int { kSrc, kWeights, kBias, kDst, kScratchpad, kWorkspace, kMean, kVariance, kScale, kShift, kPlainOut, kAddend };

/// A dnnl::memory for `md` at `data`. Making one allocates (a fifth of the
/// time of a small model's run), so each thread keeps one per (cached entry,
/// slot) and only points it at new data; an entry's descriptors never change.
memory reuse(uint64_t entry, int slot, const Md& md, void* data) {
  if (entry == 0) return memory(md, dnnlEngine(), data);
  thread_local std::unordered_map<uint64_t, memory> cache;
  const uint64_t key = entry * 16 + static_cast<uint64_t>(slot);
  auto it = cache.find(key);
  if (it == cache.end()) {
    if (cache.size() > 4096) cache.clear();
    return cache.emplace(key, memory(md, dnnlEngine(), data)).first->second;
  }
  // An entry's descriptors never change; only a residual addend's layout
  // comes from another step, so check that one.
  if (slot == kAddend && it->second.get_desc() != md) {
    it->second = memory(md, dnnlEngine(), data);
    return it->second;
  }
  it->second.set_data_handle(data);
  return it->second;
}

/// Reorders constant weights once at entry creation (user scratchpad too).
void prepack(dnnl::stream& s, const memory& from, const memory& to) {
  dnnl::reorder r(dnnl::reorder::primitive_desc(dnnlEngine(), from.get_desc(), dnnlEngine(), to.get_desc(),
                                                userScratchpad()));
  std::unordered_map<int, memory> args{{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
  const dnnl_memory_desc_t* smd = dnnl_primitive_desc_query_md(r.get_primitive_desc(), dnnl_query_scratchpad_md, 0);
  AlignedBlock pad;
  if (smd != nullptr && Md(*smd).get_size() > 0) {
    pad = AlignedBlock(Md(*smd).get_size());
    args[DNNL_ARG_SCRATCHPAD] = memory(Md(*smd), dnnlEngine(), pad.data());
  }
  r.execute(s, args);
  s.wait();
}

/// A primitive's arguments: a small fixed array instead of the unordered_map
/// the C++ API takes (no allocation per call on small models' hot path).
class ExecArgs {
 public:
  ExecArgs() = default;
  ExecArgs(std::initializer_list<std::pair<int, memory>> list) {
    for (const auto& [k, m] : list) (*this)[k] = m;
  }
  memory& operator[](int key) {
    for (size_t i = 0; i < n_; ++i) {
      if (keys_[i] == key) return mems_[i];
    }
    SY_CPU_REQUIRE(n_ < kMax, SY_ERROR_INTERNAL, "too many oneDNN arguments");
    keys_[n_] = key;
    return mems_[n_++];
  }
  /// The arguments as (key, memory) pairs (a split primitive's input).
  std::vector<std::pair<int, memory>> list() const {
    std::vector<std::pair<int, memory>> out;
    for (size_t i = 0; i < n_; ++i) out.emplace_back(keys_[i], mems_[i]);
    return out;
  }
  /// The C API's view (valid while this object lives).
  size_t fill(dnnl_exec_arg_t* out) const {
    for (size_t i = 0; i < n_; ++i) out[i] = {keys_[i], mems_[i].get()};
    return n_;
  }
  static constexpr size_t kMax = 16;

 private:
  std::array<int, kMax> keys_{};
  std::array<memory, kMax> mems_;
  size_t n_ = 0;
};

/// Runs a primitive on the calling thread's OpenMP team of `nthr` (the team
/// it was made for: one, or the run's threads in a run on teams), with a
/// scratchpad from this run's scratch memory; or, given a split and more than
/// one thread for this run, its chunks on the plugin pool (Note [Split
/// primitives] in dnnl_split.cpp).
void execute(Run& run, const dnnl::primitive& p, ExecArgs args, int nthr, uint64_t entry = 0,
             const SplitPrimitive* split = nullptr) {
  if (split != nullptr && run.threads() > 1) {
    split->execute(args.list(), run.threads());
    return;
  }
  const dnnl_memory_desc_t* smd = dnnl_primitive_desc_query_md(p.get_primitive_desc(), dnnl_query_scratchpad_md, 0);
  if (smd != nullptr && smd->ndims > 0) {
    const Md md(*smd);
    if (md.get_size() > 0) args[DNNL_ARG_SCRATCHPAD] = reuse(entry, kScratchpad, md, run.scratch(md.get_size()));
  }
  dnnl_exec_arg_t raw[ExecArgs::kMax];
  const size_t n = args.fill(raw);
  auto go = [&] {
    dnnl::error::wrap_c_api(dnnl_primitive_execute(p.get(), run.stream().get(), static_cast<int>(n), raw),
                            "could not execute a primitive");
    run.stream().wait();
  };
  setOmpThreads(nthr);
  go();
}

/// True when any of the `n` floats at `data` is NaN (`nanOnly`) or not finite.
/// An OR over the exponent bits: vectorises, one read pass.
bool anyNonFinite(const void* data, size_t n, bool nanOnly) {
  const uint32_t* bits = static_cast<const uint32_t*>(data);
  uint32_t any = 0;
  if (nanOnly) {
    for (size_t i = 0; i < n; ++i) any |= static_cast<uint32_t>((bits[i] & 0x7fffffffu) > 0x7f800000u);
  } else {
    for (size_t i = 0; i < n; ++i) any |= static_cast<uint32_t>((bits[i] & 0x7f800000u) == 0x7f800000u);
  }
  return any != 0;
}

/// maxAbsBits' loop; four accumulators so that the maxes pipeline.
inline uint32_t maxAbsBitsLoop(const uint32_t* bits, size_t n) {
  uint32_t m0 = 0, m1 = 0, m2 = 0, m3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    m0 = std::max(m0, bits[i] & 0x7fffffffu);
    m1 = std::max(m1, bits[i + 1] & 0x7fffffffu);
    m2 = std::max(m2, bits[i + 2] & 0x7fffffffu);
    m3 = std::max(m3, bits[i + 3] & 0x7fffffffu);
  }
  for (; i < n; ++i) m0 = std::max(m0, bits[i] & 0x7fffffffu);
  return std::max(std::max(m0, m1), std::max(m2, m3));
}

#if defined(__x86_64__) && defined(__GNUC__)
// The build targets baseline x86-64 (SSE2, no unsigned max instruction: the
// compiler emulates it in nine); this copy is compiled for AVX2 (vpmaxud on
// 8 lanes) and chosen at run time.
__attribute__((target("avx2"))) uint32_t maxAbsBitsAvx2(const uint32_t* bits, size_t n) {
  return maxAbsBitsLoop(bits, n);
}
#endif

/// The largest |x| of the `n` floats at `data` as its bit pattern (sign
/// cleared): for finite values the bit patterns order as the magnitudes do,
/// and NaN/inf compare above every finite one (>= 0x7f800000). One read pass.
uint32_t maxAbsBits(const void* data, size_t n) {
  const uint32_t* bits = static_cast<const uint32_t*>(data);
#if defined(__x86_64__) && defined(__GNUC__)
  if (cpuHasAvx2()) return maxAbsBitsAvx2(bits, n);
#endif
  return maxAbsBitsLoop(bits, n);
}

// Note [SiLU after the conv]: oneDNN 2.6's eltwise_swish post-op costs
// 0.39-0.56 ns per output element on top of the convolution here (AVX-512
// AMD EPYC, one thread; its logistic divides), and EfficientNet-B0 puts SiLU
// on about 6M elements a run, so the post-op was ~2.5 ms of a 13 ms run. The
// same SiLU as a pass over the conv's destination right after the primitive
// (the destination is still in L2/L3) costs 0.19-0.21 ns per element: e =
// 2^(-x log2 e) from a degree-5 minimax polynomial of 2^f, f in [-0.5, 0.5],
// and vscalefps (-x log2 e at least -150); sigmoid(x) = 1 / (1 + e)
// from vrcp14ps and one Newton step; y = x * sigmoid(x). Relative error below
// 6e-7 for |x| < 10, below 4e-6 everywhere (the rounding of x log2 e, large
// |x|). Special values are those of the exported form x * sigmoid(x) (and of
// the post-op): NaN stays NaN, +inf gives +inf, -inf gives -inf * 0 = NaN;
// where -x log2 e >= 126 (x below about -87.3, |true value| under 1e-36)
// sigmoid is taken as 0 and y is -0.
// ConvStep uses it when the swish (alpha 1) is the conv's last post-op, the
// step runs on one thread (split chunks and OpenMP teams keep the post-op)
// and the CPU has AVX-512; elsewhere, or with SY_CPU_SILU_PASS=0, the
// post-op stays. Measured on EfficientNet-B0's conv shapes: 1x1 16->96 at
// 112x112 0.92 ms with the post-op against 0.39 + 0.25 ms; depthwise 3x3 of
// 144 channels at 56x56 0.30 against 0.12 + 0.09 ms.
#if defined(__x86_64__) && defined(__GNUC__)
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_ps(), which it then
// reports as maybe uninitialized (a false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
/// SiLU of 16 floats (Note [SiLU after the conv]).
__attribute__((target("avx512f"), always_inline)) inline __m512 silu16(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.f);
  const __m512 t0 = _mm512_mul_ps(x, _mm512_set1_ps(-1.44269504088896341f));  // -x log2 e
  const __mmask16 live = _mm512_cmp_ps_mask(t0, _mm512_set1_ps(126.f), _CMP_LT_OQ);  // else (NaN too) sigmoid 0
  const __m512 t = _mm512_max_ps(t0, _mm512_set1_ps(-150.f));  // (lanes not live may hold inf or NaN below)
  const __m512 k = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(t, k);  // [-0.5, 0.5]: 2^f by its minimax polynomial
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(1.3276471782e-3f), f, _mm512_set1_ps(9.6755413328e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5507132741e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022119724e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314696706e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0000000717f));
  const __m512 d = _mm512_add_ps(one, _mm512_scalef_ps(p, k));  // 1 + e^-x, below 2^127
  __m512 r = _mm512_rcp14_ps(d);
  r = _mm512_maskz_mul_ps(live, r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.f)));  // sigmoid(x) = 1 / d
  return _mm512_mul_ps(x, r);
}

__attribute__((target("avx512f"))) void siluInPlaceAvx512(float* y, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, silu16(_mm512_loadu_ps(y + i)));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(y + i, m, silu16(_mm512_maskz_loadu_ps(m, y + i)));
  }
}
#pragma GCC diagnostic pop

/// Whether this CPU has AVX-512F (for siluInPlaceAvx512) and SY_CPU_SILU_PASS
/// is not 0 (the switch keeps the post-op, for A/B runs).
bool siluPassAvailable() {
  static const bool ok = [] {
    const char* v = std::getenv("SY_CPU_SILU_PASS");
    return cpuHasAvx512f() && (v == nullptr || std::strcmp(v, "0") != 0);
  }();
  return ok;
}
#else
bool siluPassAvailable() { return false; }
void siluInPlaceAvx512(float*, size_t) {}
#endif

// Note [Known bounds]: the relu guards (Note [NaN-safe relu post-op]) need
// max|x| of a conv's input, and a pass over the activation for it cost 1-2%
// of a ResNet-50 run. Most of those inputs come out of a step that can bound
// its own output without reading it: a conv (fast path) whose input bound it
// knows gives |y| <= a * (max|x| * max sum|w| + max|b|) + c + d * max|addend|
// (relu only lowers |y|), pooling gives at most its input's bound, batch_norm
// + relu its own formula. Such a step records the bound in its output's
// RunValue::absBound (which also says: no NaN, no inf), and the next guard
// uses it instead of scanning. The bounds grow by the weights' sums at each
// conv, so after some layers they pass the guard's limit; the guard then
// scans (the true max is usually far smaller) and records what it found on
// the input, for the value's other readers (a residual block's input is read
// by two convs). A bound is recorded times boundSlack (1 + (terms + 8) *
// 2^-23): the float sums of K terms may exceed the exact value's bound by
// about K rounding errors. A bound only ever replaces a scan that would have
// found a smaller max, so a call takes the fast primitive at most as often as
// with a scan everywhere; any other step defines its output with no bound.

/// max|x| of a value: its recorded bound when there is one (*scanned false),
/// else one pass over its memory (*scanned true); inf when x holds NaN or inf.
double maxAbsOf(const RunValue& v, bool* scanned) {
  *scanned = !(v.absBound < HUGE_VAL);
  if (!*scanned) return v.absBound;
  const size_t n = v.md != nullptr ? v.md->get_size() / sizeof(float) : static_cast<size_t>(v.dims.numElements());
  const uint32_t b = maxAbsBits(v.data, n);
  float f;
  std::memcpy(&f, &b, sizeof f);
  return b >= 0x7f800000u ? HUGE_VAL : static_cast<double>(f);
}

/// Common parts of the oneDNN steps: post-ops and the output.
class DnnlStep : public Step {
 public:
  int threads = 1;  ///< the backend's threads

  /// OpenMP team size for a primitive doing `work` flops (or bytes): one
  /// (Note [Split primitives] in dnnl_split.cpp: more threads come from
  /// splitting the primitive over the pool, for work of kChunkWork a chunk),
  /// or in a run on OpenMP teams (runTeam()) the run's threads for work of
  /// kTeamWork or more (Note [Threads on shared cores] in region.cpp).
  int teamFor(double work, double minWork = kTeamWork) const {
    return runTeam() && work >= minWork ? cap() : 1;
  }
  /// Work (flops or bytes) per chunk of a split primitive, at least.
  static constexpr double kChunkWork = 1e6;
  /// Work (flops or bytes) for which a run on teams wakes the team; below it
  /// (a squeeze-excite's 1x1 convs on 1x1 images) the fork and join cost more
  /// than they save.
  static constexpr double kTeamWork = 1e5;
  /// kTeamWork of pooling and per-channel binary steps (work: elements
  /// read), memory-bound: below it their runs on a team took longer than on
  /// one thread (EfficientNet-B0's squeeze-and-excitation gate muls and
  /// pools at 28x28 and 14x14, 113k-188k elements).
  static constexpr double kTeamElements = 3e5;
  /// The threads this run may use: the backend's, or fewer when the region
  /// found them slower (Note [Threads on shared cores] in region.cpp).
  int cap() const { return std::max(1, std::min(threads, runThreadCap())); }
  /// What cache entries are made for: cap(), negated in a run on OpenMP
  /// teams (primitives are made for a team size, splits only off teams).
  int capKey() const { return runTeam() ? -cap() : cap(); }

  /// Reorders `from` into `to` (primitives cached per layout pair and capKey()).
  /// At more than one thread a large one is cut along the destination's
  /// outermost dim (of more than one index) where both layouts are
  /// sliceable there (blocked, the cut at a block boundary): a batch's
  /// images, or at batch 1 the rows of an nhwc or the channels (blocks) of
  /// an nchw (nChw16c) destination, so each chunk writes one contiguous
  /// range (no cache line shared between chunks but at their ends). Each
  /// element is converted on its own, so any cut gives the whole reorder's
  /// bits.
  void reorderInto(Run& run, const memory& from, const memory& to) const {
    const Md f = from.get_desc(), t = to.get_desc();
    const int nthr = teamFor(static_cast<double>(t.get_size()) / 4);
    const int threads = cap();
    const ReorderEntry* entry = nullptr;
    {
      std::lock_guard<std::mutex> lock(reorders_.mutex);
      for (const auto& e : reorders_.entries) {
        if (e->from == f && e->to == t && e->cap == capKey()) {
          entry = e.get();
          break;
        }
      }
      if (entry == nullptr) {
        setOmpThreads(nthr);
        auto e = std::make_unique<ReorderEntry>();
        e->from = f;
        e->to = t;
        e->cap = capKey();
        e->prim = dnnl::reorder(dnnl::reorder::primitive_desc(dnnlEngine(), f, dnnlEngine(), t, userScratchpad()));
        e->split = splitReorder(f, t, implOf(e->prim), threads);
        entry = e.get();
        reorders_.entries.push_back(std::move(e));
      }
    }
    execute(run, entry->prim, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}}, nthr, 0, entry->split.get());
  }
  /// reorderInto's split: bytes moved (both sides) of kReorderChunk a chunk.
  static std::shared_ptr<const SplitPrimitive> splitReorder(const Md& f, const Md& t, const std::string& impl,
                                                            int threads) {
    static constexpr double kReorderChunk = 1 << 20;
    const double bytes = static_cast<double>(f.get_size() + t.get_size());
    if (threads <= 1 || bytes < 2 * kReorderChunk || f.data.ndims != t.data.ndims) return nullptr;
    if (t.data.format_kind != dnnl_blocked) return nullptr;
    int dim = -1;
    for (int i = 0; i < t.data.ndims; ++i) {
      if (t.data.dims[i] > 1 &&
          (dim < 0 || t.data.format_desc.blocking.strides[i] > t.data.format_desc.blocking.strides[dim]))
        dim = i;
    }
    if (dim < 0 || blockOf(f, dim) <= 0 || blockOf(t, dim) <= 0) return nullptr;
    auto split = SplitPrimitive::make(
        {{DNNL_ARG_FROM, f, dim}, {DNNL_ARG_TO, t, dim}}, f.data.dims[dim], threads, bytes, kReorderChunk,
        [](const std::vector<Md>& sl, int64_t, int64_t) {
          return dnnl::primitive(
              dnnl::reorder(dnnl::reorder::primitive_desc(dnnlEngine(), sl[0], dnnlEngine(), sl[1], userScratchpad())));
        },
        impl);
    if (splitDebug())
      std::fprintf(stderr, "reorder split at %d threads: %zu bytes, dim %d, %zu chunks (%s)\n", threads,
                   t.get_size(), dim, split ? split->numChunks() : size_t{0}, impl.c_str());
    return split;
  }
  struct PostOp {
    dnnl::algorithm alg = dnnl::algorithm::undef;  // undef: sum
    float alpha = 0.f, beta = 0.f;
    int sumInput = -1;  // index into inputs
    int addInput = -1;  // binary_add of inputs[addInput], broadcast (matmul only: Note [Attention mask post-op])
  };
  std::vector<PostOp> postOps;
  int sumInput() const {
    for (const PostOp& p : postOps) {
      if (p.sumInput >= 0) return p.sumInput;
    }
    return -1;
  }

  /// `addMd`: the addend's descriptor of a binary add post-op (addInput).
  dnnl::primitive_attr attr(float sumScaleFirst = 0.f, bool hasFirstSum = false, const Md* addMd = nullptr) const {
    dnnl::post_ops po;
    if (hasFirstSum) po.append_sum(sumScaleFirst);
    for (const PostOp& p : postOps) {
      if (p.sumInput >= 0) {
        po.append_sum(1.f);
      } else if (p.addInput >= 0) {
        SY_CPU_REQUIRE(addMd != nullptr, SY_ERROR_INTERNAL, "binary post-op without its descriptor");
        po.append_binary(dnnl::algorithm::binary_add, *addMd);
      } else {
        po.append_eltwise(1.f, p.alg, p.alpha, p.beta);
      }
    }
    dnnl::primitive_attr a = userScratchpad();
    a.set_post_ops(po);
    return a;
  }

  /// The destination for a primitive whose dst layout is `md`: the output
  /// itself (blocked when allowed, or plain), else scratch that finish()
  /// reorders into a row-major output.
  struct Dst {
    memory mem;
    bool viaScratch = false;
  };
  Dst destination(Run& run, const Md* md, const Dims& outDims, uint64_t entry, bool plain) const {
    Dst dst;
    // A residual addend that dies here may be dst itself (Note [In-place residual sum] in region.cpp).
    const int k = inPlaceInput();
    if (plain) {
      dst.mem = reuse(entry, kDst, *md,
                      k >= 0 ? run.outReusing(*this, 0, outDims, nullptr, static_cast<size_t>(k))
                             : run.out(*this, 0, outDims));
    } else if (blockedOk()) {
      dst.mem = reuse(entry, kDst, *md,
                      k >= 0 ? run.outReusing(*this, 0, outDims, md, static_cast<size_t>(k))
                             : run.outBlocked(*this, 0, outDims, md));
    } else {
      dst.mem = reuse(entry, kDst, *md, run.scratch(md->get_size()));
      dst.viaScratch = true;
    }
    return dst;
  }
  void finish(Run& run, const Dst& dst, const Dims& outDims, uint64_t entry) const {
    if (!dst.viaScratch) return;
    memory plain = reuse(entry, kPlainOut, plainMd(toDnnl(outDims)), run.out(*this, 0, outDims));
    reorderInto(run, dst.mem, plain);
  }
  /// Copies the residual addend into dst (any layouts).
  void loadSum(Run& run, const memory& dst, const Dims& outDims, uint64_t entry) const {
    const int s = sumInput();
    if (s < 0) return;
    const RunValue& a = run.raw(*this, static_cast<size_t>(s));
    SY_CPU_REQUIRE(a.dims == outDims, SY_ERROR_INVALID_ARGUMENT, "add operand ", sdk::formatDims(a.dims.ref()),
                 " does not match ", sdk::formatDims(outDims.ref()));
    if (a.data == dst.get_data_handle()) return;  // dst is the addend's memory (Run::outReusing)
    const Md amd = a.md != nullptr ? *a.md : plainMd(toDnnl(a.dims));
    const Md dmd = dst.get_desc();
    if (amd == dmd || (a.md == nullptr && isPlain(dmd, dmd.dims()))) {
      std::memcpy(dst.get_data_handle(), a.data, amd.get_size());
    } else {
      reorderInto(run, reuse(entry, kAddend, amd, a.data), dst);
    }
  }

  std::unique_ptr<Kernel> fallback;  // the node alone, for degenerate shapes (empty reductions)

  /// The constant weights `plain` in layout `md`, reordered once per layout
  /// and shared by every cache entry that wants it (entries per batch size
  /// usually want the same). Call with the entry cache's mutex held.
  memory packed(dnnl::stream& s, const memory& plain, const Md& md) const {
    for (const auto& [layout, mem] : packed_) {
      if (layout == md) return mem;
    }
    memory m(md, dnnlEngine());
    prepack(s, plain, m);
    packed_.emplace_back(md, m);
    return m;
  }

  /// Primitives per input shape (Note [oneDNN steps]). At most kMax are
  /// kept; beyond that each call makes its own (shared_ptr keeps it alive).
  template <class Entry>
  struct Cache {
    static constexpr size_t kMax = 32;
    std::mutex mutex;
    std::vector<std::shared_ptr<Entry>> entries;
    std::shared_ptr<const Entry> keep(std::shared_ptr<Entry> e) {
      if (entries.size() < kMax) {
        e->id = nextEntryId();
        entries.push_back(e);
      }
      return e;
    }
  };

 private:
  struct ReorderEntry {
    Md from, to;
    int cap = 1;  // capKey() it was made for
    dnnl::reorder prim;
    std::shared_ptr<const SplitPrimitive> split;  // reorderInto's cut, or null
  };
  struct Reorders {
    std::mutex mutex;
    std::vector<std::unique_ptr<ReorderEntry>> entries;
  };
  mutable Reorders reorders_;
  mutable std::vector<std::pair<Md, memory>> packed_;
};

std::vector<DnnlStep::PostOp> postOpsOf(const DnnlFusion& fusion, std::vector<int32_t>& inputs) {
  std::vector<DnnlStep::PostOp> out;
  for (const DnnlFusion::PostOp& p : fusion.postOps) {
    DnnlStep::PostOp q;
    if (p.sumOperand >= 0 && p.broadcastAdd) {
      q.addInput = static_cast<int>(inputs.size());
      inputs.push_back(p.node.input(static_cast<size_t>(p.sumOperand)).index());
    } else if (p.sumOperand >= 0) {
      q.sumInput = static_cast<int>(inputs.size());
      inputs.push_back(p.node.input(static_cast<size_t>(p.sumOperand)).index());
    } else {
      const Activation a = p.act ? *p.act : *activationOf(p.node);
      q.alg = a.alg;
      q.alpha = a.alpha;
      q.beta = a.beta;
      if (a.alg == dnnl::algorithm::eltwise_linear && !out.empty() && out.back().sumInput < 0 &&
          out.back().addInput < 0 && out.back().alg == dnnl::algorithm::eltwise_linear) {
        // a2 * (a1 x + b1) + b2: one post-op (see the note in region.cpp on repeated algorithms)
        DnnlStep::PostOp& prev = out.back();
        prev.beta = q.alpha * prev.beta + q.beta;
        prev.alpha = q.alpha * prev.alpha;
        continue;
      }
    }
    out.push_back(q);
  }
  return out;
}

bool runFallback(const DnnlStep& step, Run& run, const Kernel* k, size_t numInputs) {
  if (k == nullptr) return false;
  std::vector<Tensor> ins(numInputs);
  for (size_t i = 0; i < numInputs; ++i) {
    if (!run.has(step, i)) continue;
    const RunValue& v = run.in(step, i);
    ins[i] = Tensor{v.data, v.dtype, v.dims};
  }
  Dims d;
  k->outputShapes(ins.data(), ins.size(), &d, 1);
  Tensor out{run.out(step, 0, d), SY_DTYPE_F32, d};
  k->run(ins.data(), ins.size(), &out, 1, run.exec());
  return true;
}

// ============================================================================
// Convolution

// Note [Winograd convolutions]: a 3x3 stride-1 dense conv is about a third
// of ResNet-50 and most of ResNet-18. oneDNN 2.6's Winograd convolutions
// (jit_wino_4x3: F(4x4, 3x3); jit_fp32_wino_2x3: F(2x2, 3x3); nChw16c
// activations) took 0.9-1.3 ms where the direct brgconv took 1.9-2.0 ms for
// ResNet-50's 64x56x56, 128x28x28 and 256x14x14 layers at one thread on this
// machine (1.7 vs 1.9 ms at 512x7x7), weights cold. A ConvStep uses one when:
//  - the conv is 3x3, stride 1, no dilation, group 1, 64+ input and output
//    channels, with constant weights and a guarded relu (Note [NaN-safe relu
//    post-op]) whose bounds are known;
//  - oneDNN has one for the shapes and post-ops (else the direct conv).
// At more threads each choice of the region's ThreadChooser (Note [Threads
// on shared cores]) gets its own Winograd primitive, made with the entry
// (the transformed weights too, shared by all of them through packed()), so
// no timed run makes one: a run on teams runs it on the OpenMP team (oneDNN
// splits the tiles), one on one thread or on split chunks runs it whole on
// the calling thread. It is never cut into chunks: a chunk would be a direct
// conv with weights packed for it (45 MB more for ResNet-50), and rows of
// its nChw16c activations are not dense slices. At 2 threads on the loaded
// 2-core machine (load 4-6), forced split runs took 0.7-0.8 of the direct
// split's time (ResNet-18 25-28 vs 36-43 ms min, ResNet-50 95-119 vs 128-150
// ms); with the chooser, ResNet-18 took 0.63-0.71 of its time without
// Winograd and 0.6 of the better peer's (compare_peers), ResNet-50 moved
// within the noise (docs/benchmarks.md). Peak memory of ResNet-50 at 2
// threads went 339 -> 432 MiB (413 at 1 thread).
// F(4x4, 3x3) is taken over oneDNN's first choice from 28x28 outputs up.
// Winograd's transforms mix the 4x4 or 6x6 inputs of a tile, so a NaN or
// inf in x would reach outputs whose windows do not hold it, and they scale
// values before the products: the Winograd primitive runs only on the relu
// guard's fast path (x finite, bound below kWinogradLimit = 1e30, a wider
// margin below FLT_MAX than the direct conv's 1e36); every other call runs
// the direct NaN-keeping primitive with weights packed for it. Results are
// another summation order (within ~1e-3 of the largest output where sums
// cancel, tested), and a recorded bound gets kWinogradSlack (1%) on top.
// SY_CPU_WINOGRAD=0 turns it off (A/B timings, tests), read when a region is compiled.
bool winogradEnabled() {
  const char* v = std::getenv("SY_CPU_WINOGRAD");
  return v == nullptr || std::strcmp(v, "0") != 0;
}

class ConvStep final : public DnnlStep {
  using convolution_forward_pd = dnnl::convolution_forward::primitive_desc;

 public:
  size_t nsp = 2;
  std::vector<int64_t> kernel, strides, dilations, pads;
  std::string autoPad;
  int64_t group = 1, outChannels = 0;
  std::vector<float> weights, bias;  // constant (possibly bn-folded); empty when runtime
  std::vector<int64_t> weightDims;   // static dims of the weights
  bool constWeights = false, constBias = false, hasBias = false;
  int wInput = 1, bInput = -1;

  /// Note [NaN-safe relu post-op]: a fused relu (eltwise_relu, alpha 0) runs
  /// as oneDNN's vmaxps only when no NaN can reach it; the bound of the value
  /// it sees is a * (max|x| * weightBound + biasBound) + c + d * max|addend| (a, c, d from
  /// the post-ops before it). Otherwise the step runs `safe` primitives with
  /// the relu computed as elu(alpha 0) + linear(1, 0), which keeps NaN.
  bool guardedRelu = false;
  double weightBound = INFINITY;  ///< max over output channels of sum |w| (inf: unknown)
  double biasBound = 0;           ///< max |b|
  double boundA = 1, boundC = 0, boundD = 0;
  bool boundKnown = true;  ///< false: a post-op before the relu has no bound here: always safe
  /// Note [Known bounds]: the output's bound is recorded (guarded: the relu is
  /// the last post-op; else every post-op is a sum or linear one).
  bool outputBounded = false;
  double boundSlack = 1;  ///< rounding allowance of a recorded bound
  /// Note [Winograd convolutions]: a 3x3 stride-1 conv with a guarded relu
  /// may run as oneDNN's Winograd convolution on the fast path.
  bool winogradOk = false;

  bool acceptsBlocked(size_t i) const override { return i == 0 || static_cast<int>(i) == sumInput(); }
  bool mayProduceBlocked() const override { return true; }
  int inPlaceInput() const override { return sumInput(); }

  struct Entry {
    int cap = 1;  // capKey() it was made for
    Dims x;
    std::optional<Md> xmd;
    Dims w;
    dnnl::convolution_forward::primitive_desc pd;
    dnnl::convolution_forward prim;
    memory weights, bias;
    Md dst;
    Dims out;
    int nthr = 1;
    uint64_t id = 0;
    Md src;                  // the layout x arrives in
    bool srcReorder = false;  // src differs from what the primitive wants
    bool dstPlain = false;
    // The NaN-keeping variant (Note [NaN-safe relu post-op]), made on first need
    // with the fast primitive's layouts, under the cache's mutex.
    mutable std::shared_ptr<const dnnl::convolution_forward> safe;
    bool wino = false;              // prim is a Winograd convolution (Note [Winograd convolutions])
    mutable memory safeWeights;     // wino: the weights packed for `safe` (a direct convolution)
    memory::dims strides, dilations, padL, padR;  // as oneDNN takes them
    std::shared_ptr<const SplitPrimitive> split;  // rows or images (Note [Split primitives]); fast primitive only
    bool siluPass = false;  // prim leaves out the last post-op (swish): run() applies it (Note [SiLU after the conv])
  };

  /// Note [SiLU after the conv]: whether the last post-op is a swish that a
  /// one-thread entry applies as its own pass.
  bool siluAfterOk() const {
    if (postOps.empty() || guardedRelu || !siluPassAvailable()) return false;
    const PostOp& p = postOps.back();
    return p.sumInput < 0 && p.addInput < 0 && p.alg == dnnl::algorithm::eltwise_swish && p.alpha == 1.f;
  }
  /// attr() without the last post-op (the swish of siluAfterOk()).
  dnnl::primitive_attr attrBeforeSilu() const {
    dnnl::post_ops po;
    for (size_t i = 0; i + 1 < postOps.size(); ++i) {
      const PostOp& p = postOps[i];
      if (p.sumInput >= 0) {
        po.append_sum(1.f);
      } else {
        po.append_eltwise(1.f, p.alg, p.alpha, p.beta);
      }
    }
    dnnl::primitive_attr a = userScratchpad();
    a.set_post_ops(po);
    return a;
  }

  /// The largest |value| the post-ops before the relu (or the output, when
  /// there is no relu) can see, given max|x| and max|addend|.
  double preReluBound(double maxX, double maxAddend) const {
    double bound = boundA * (maxX * weightBound + biasBound) + boundC;
    if (boundD != 0) bound += boundD * maxAddend;
    return bound;
  }
  static constexpr double kFastReluLimit = 1e36;  // far below FLT_MAX (3.4e38): rounding in the sums cannot reach it
  /// Note [Winograd convolutions]: the transforms scale and add up to 36
  /// values before the products, so the fast path's bound has a larger margin.
  static constexpr double kWinogradLimit = 1e30;
  static constexpr double kWinogradSlack = 1.01;  ///< a Winograd result's rounding allowance, relative

  /// Whether the fused relu may run as vmaxps for this call: x (and the
  /// residual addend) finite and small enough that no sum overflows to inf -
  /// inf. Bounds the producers recorded first, scans where they are unknown
  /// or too loose (Note [Known bounds]); *outBound: the relu's input bound.
  bool fastReluOk(Run& run, const RunValue& x, double* outBound) const {
    *outBound = HUGE_VAL;
    if (!boundKnown || !std::isfinite(weightBound)) return false;
    const int s = sumInput();
    const RunValue* a = boundD != 0 && s >= 0 ? &run.raw(*this, static_cast<size_t>(s)) : nullptr;
    bool scannedX = false, scannedA = true;
    double mx = maxAbsOf(x, &scannedX), ma = a != nullptr ? maxAbsOf(*a, &scannedA) : 0;
    double bound = preReluBound(mx, ma);
    if (!(bound < kFastReluLimit) && (!scannedX || !scannedA)) {
      // A recorded bound too loose: the true maxima.
      RunValue bare;
      if (!scannedX) {
        bare = x;
        bare.absBound = HUGE_VAL;
        mx = maxAbsOf(bare, &scannedX);
      }
      if (!scannedA) {
        bare = *a;
        bare.absBound = HUGE_VAL;
        ma = maxAbsOf(bare, &scannedA);
      }
      bound = preReluBound(mx, ma);
    }
    // What a scan found bounds the value for its other readers.
    if (scannedX && mx < HUGE_VAL) run.value(inputs[0]).absBound = mx;
    if (a != nullptr && scannedA && ma < HUGE_VAL) run.value(inputs[static_cast<size_t>(s)]).absBound = ma;
    if (!(bound < kFastReluLimit)) return false;
    *outBound = bound;
    return true;
  }

  /// Note [Known bounds] for a conv without relu: from recorded bounds only.
  double knownOutputBound(Run& run, const RunValue& x) const {
    if (!boundKnown || !std::isfinite(weightBound) || !(x.absBound < HUGE_VAL)) return HUGE_VAL;
    double ma = 0;
    if (boundD != 0) {
      ma = run.raw(*this, static_cast<size_t>(sumInput())).absBound;
      if (!(ma < HUGE_VAL)) return HUGE_VAL;
    }
    const double bound = preReluBound(x.absBound, ma);
    return bound < kFastReluLimit ? bound : HUGE_VAL;
  }

  /// Post-ops with each relu (alpha 0) as elu(0) + linear(1, 0): the same
  /// values, NaN kept (elu's x > 0 blend keeps a NaN, 0 * (exp(x) - 1) + 0 is +0).
  dnnl::primitive_attr safeAttr() const {
    dnnl::post_ops po;
    for (const PostOp& p : postOps) {
      if (p.sumInput >= 0) {
        po.append_sum(1.f);
      } else if (p.alg == dnnl::algorithm::eltwise_relu && p.alpha == 0.f) {
        po.append_eltwise(1.f, dnnl::algorithm::eltwise_elu, 0.f, 0.f);
        po.append_eltwise(1.f, dnnl::algorithm::eltwise_linear, 1.f, 0.f);
      } else {
        po.append_eltwise(1.f, p.alg, p.alpha, p.beta);
      }
    }
    dnnl::primitive_attr a = userScratchpad();
    a.set_post_ops(po);
    return a;
  }

  std::shared_ptr<const dnnl::convolution_forward> safePrimitive(const Entry& e) const {
    std::lock_guard<std::mutex> lock(cache_.mutex);
    if (!e.safe) {
      setOmpThreads(e.nthr);
      // The fast primitive's layouts, so that the same src, weights and dst memory fit
      // (a Winograd one's weights are in its own format: the direct conv packs its own).
      const Md bMd = hasBias ? Md({e.out.d[1]}, memory::data_type::f32, memory::format_tag::a) : Md();
      const Md wPlain = weightsPlainMd(e.w);
      const Md wMd = e.wino ? Md(wPlain.dims(), memory::data_type::f32, memory::format_tag::any) : e.pd.weights_desc();
      dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                           e.pd.src_desc(), wMd, bMd, e.pd.dst_desc(), e.strides, e.dilations, e.padL,
                                           e.padR);
      const convolution_forward_pd pd(desc, safeAttr(), dnnlEngine());
      if (e.wino) {
        dnnl::stream s(dnnlEngine());
        e.safeWeights = packed(s, memory(wPlain, dnnlEngine(), const_cast<float*>(weights.data())), pd.weights_desc());
        s.wait();
      }
      e.safe = std::make_shared<const dnnl::convolution_forward>(pd);
    }
    return e.safe;
  }

  void run(Run& run) const override {
    const RunValue& x = run.raw(*this, 0);
    SY_CPU_REQUIRE(x.dims.rank == static_cast<int32_t>(nsp + 2), SY_ERROR_INVALID_ARGUMENT, "input rank ",
                 x.dims.rank, ", expected ", nsp + 2);
    Dims wd;
    const float* wdata = nullptr;
    if (constWeights) {
      wd = Dims::of(weightDims);
    } else {
      const RunValue& w = run.in(*this, static_cast<size_t>(wInput));
      wd = w.dims;
      wdata = static_cast<const float*>(w.data);
    }
    SY_CPU_REQUIRE(wd.rank == x.dims.rank && wd.d[1] * group == x.dims.d[1] && wd.d[0] % group == 0,
                 SY_ERROR_INVALID_ARGUMENT, "weights ", sdk::formatDims(wd.ref()), " do not fit input ",
                 sdk::formatDims(x.dims.ref()), " with group ", group);
    const std::shared_ptr<const Entry> entryPtr = entry(x, wd);
    const Entry& e = *entryPtr;
    if (e.id == 0) run.keepAlive(entryPtr);  // not cached: its descriptors must outlive this run
    if (e.out.numElements() == 0) {
      run.out(*this, 0, e.out);
      return;
    }
    if (x.dims.d[1] == 0) {
      // Sums over no input channels: the output is the bias (or 0). (The
      // portable kernel cannot take over: constant weights are not inputs of
      // this step.) Post-ops are not fused onto such convs (region.cpp).
      SY_CPU_REQUIRE(postOps.empty(), SY_ERROR_UNIMPLEMENTED, "convolution over zero input channels with post-ops");
      const float* b = nullptr;
      if (hasBias && constBias) b = bias.data();
      if (hasBias && !constBias) {
        const RunValue& bv = run.in(*this, static_cast<size_t>(bInput));
        SY_CPU_REQUIRE(bv.dims.numElements() == e.out.d[1], SY_ERROR_INVALID_ARGUMENT, "bias ",
                       sdk::formatDims(bv.dims.ref()), " does not match ", e.out.d[1], " output channels");
        b = static_cast<const float*>(bv.data);
      }
      float* y = static_cast<float*>(run.out(*this, 0, e.out));
      const int64_t M = e.out.d[1], inner = e.out.numElements() / (e.out.d[0] * M);
      for (int64_t n = 0; n < e.out.d[0]; ++n) {
        for (int64_t m = 0; m < M; ++m) std::fill_n(y + (n * M + m) * inner, inner, b != nullptr ? b[m] : 0.f);
      }
      return;
    }
    ExecArgs args;
    memory src = reuse(e.id, kSrc, e.src, x.data);
    if (e.srcReorder) {
      memory s = reuse(e.id, kWorkspace, e.pd.src_desc(), run.scratch(e.pd.src_desc().get_size()));
      reorderInto(run, src, s);
      src = s;
    }
    args[DNNL_ARG_SRC] = src;
    if (constWeights) {
      args[DNNL_ARG_WEIGHTS] = e.weights;
    } else {
      memory w(weightsPlainMd(wd), dnnlEngine(), const_cast<float*>(wdata));
      if (w.get_desc() != e.pd.weights_desc()) {
        memory s(e.pd.weights_desc(), dnnlEngine(), run.scratch(e.pd.weights_desc().get_size()));
        reorderInto(run, w, s);
        w = s;
      }
      args[DNNL_ARG_WEIGHTS] = w;
    }
    if (hasBias) {
      if (constBias) {
        args[DNNL_ARG_BIAS] = e.bias;
      } else {
        const RunValue& b = run.in(*this, static_cast<size_t>(bInput));
        SY_CPU_REQUIRE(b.dims.numElements() == wd.d[0], SY_ERROR_INVALID_ARGUMENT, "bias ",
                     sdk::formatDims(b.dims.ref()), " does not match ", wd.d[0], " output channels");
        args[DNNL_ARG_BIAS] =
            reuse(e.id, kBias, Md({wd.d[0]}, memory::data_type::f32, memory::format_tag::a), b.data);
      }
    }
    const Dst dst = destination(run, &e.dst, e.out, e.id, e.dstPlain);
    loadSum(run, dst.mem, e.out, e.id);
    args[DNNL_ARG_DST] = dst.mem;
    double outBound = HUGE_VAL;  // Note [Known bounds]
    if (guardedRelu && (!fastReluOk(run, x, &outBound) || (e.wino && !(outBound < kWinogradLimit)))) {
      // (scratchpad not cached per entry: its size is the safe primitive's)
      const std::shared_ptr<const dnnl::convolution_forward> safe = safePrimitive(e);
      if (e.wino) args[DNNL_ARG_WEIGHTS] = e.safeWeights;
      execute(run, *safe, args, e.nthr, 0);
    } else {
      if (!guardedRelu && outputBounded) outBound = knownOutputBound(run, x);
      execute(run, e.prim, args, e.nthr, e.id, e.split.get());
      if (e.siluPass) {  // Note [SiLU after the conv]
        siluInPlaceAvx512(static_cast<float*>(dst.mem.get_data_handle()), dst.mem.get_desc().get_size() / sizeof(float));
      }
      if (e.wino) outBound *= kWinogradSlack;
    }
    finish(run, dst, e.out, e.id);
    if (outputBounded && outBound < HUGE_VAL) run.value(outputs[0]).absBound = outBound * boundSlack;
  }

 private:
  Md weightsPlainMd(const Dims& wd) const {
    memory::dims d;
    if (group > 1) {
      d.push_back(group);
      d.push_back(wd.d[0] / group);
      for (int32_t i = 1; i < wd.rank; ++i) d.push_back(wd.d[i]);
    } else {
      d = toDnnl(wd);
    }
    return plainMd(d);
  }

  /// Batch 1: chunks of output rows (src rows with the window's halo, dst
  /// rows; weights and bias whole); a larger batch: chunks of images. oneDNN
  /// 2.6 keeps these activations channels-last (acdb), where rows of a batch
  /// of 1 are dense slices. (The NaN-keeping primitive runs whole.)
  std::shared_ptr<const SplitPrimitive> splitOf(const Entry& e, const Md& bMd, const memory::dims& st,
                                                const memory::dims& dil, const Window& win, double work) const {
    if (cap() <= 1) return nullptr;
    const dnnl::primitive_attr at = attr();
    const Md w = e.pd.weights_desc();
    if (e.x.d[0] > 1) {  // images of the batch
      return SplitPrimitive::make(
          {{DNNL_ARG_SRC, e.pd.src_desc(), 0}, {DNNL_ARG_DST, e.dst, 0}}, e.x.d[0], cap(), work, kChunkWork,
          [&](const std::vector<Md>& sl, int64_t, int64_t) {
            dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference,
                                                 dnnl::algorithm::convolution_direct, sl[0], w, bMd, sl[1], st, dil,
                                                 win.padL, win.padR);
            return dnnl::primitive(dnnl::convolution_forward(convolution_forward_pd(desc, at, dnnlEngine())));
          },
          implOf(e.prim));
    }
    const int64_t dk = (kernel[0] - 1) * (dil[0] + 1) + 1;
    return splitRows(e.pd.src_desc(), e.dst, st[0], dk, win.padL[0], cap(), work, kChunkWork, implOf(e.prim),
                     [&](const Md& src, const Md& dst, int64_t padT, int64_t padB) {
                       memory::dims pl = win.padL, pr = win.padR;
                       pl[0] = padT;
                       pr[0] = padB;
                       dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference,
                                                            dnnl::algorithm::convolution_direct, src, w, bMd, dst,
                                                            st, dil, pl, pr);
                       return dnnl::primitive(
                           dnnl::convolution_forward(convolution_forward_pd(desc, at, dnnlEngine())));
                     });
  }

  std::shared_ptr<const Entry> entry(const RunValue& x, const Dims& wd) const {
    std::lock_guard<std::mutex> lock(cache_.mutex);
    for (const auto& e : cache_.entries) {
      if (e->x == x.dims && e->w == wd && (x.md == nullptr ? !e->xmd : (e->xmd && *e->xmd == *x.md)) && e->cap == capKey()) return e;
    }
    auto e = std::make_shared<Entry>();
    e->cap = capKey();
    e->x = x.dims;
    e->w = wd;
    if (x.md != nullptr) e->xmd = *x.md;
    const std::vector<int64_t> dil = dilations;
    const Window win = windowOf(x.dims, kernel, strides, dil, pads, autoPad, false);
    e->out.rank = x.dims.rank;
    e->out.d[0] = x.dims.d[0];
    e->out.d[1] = wd.d[0];
    for (size_t i = 0; i < nsp; ++i) e->out.d[2 + i] = win.out[i];
    if (e->out.numElements() == 0 || x.dims.d[1] == 0) {
      return cache_.keep(std::move(e));
    }
    memory::dims dnnlDil, st(strides.begin(), strides.end());
    for (int64_t d : dil) dnnlDil.push_back(d - 1);
    const Md srcAny(toDnnl(x.dims), memory::data_type::f32, memory::format_tag::any);
    const Md dstAny(toDnnl(e->out), memory::data_type::f32, memory::format_tag::any);
    const Md wPlain = weightsPlainMd(wd);
    const Md wAny(wPlain.dims(), memory::data_type::f32, memory::format_tag::any);
    const Md bMd = hasBias ? Md({wd.d[0]}, memory::data_type::f32, memory::format_tag::a) : Md();
    double perOut = 2.0 * static_cast<double>(wd.d[1]);
    for (int64_t k : kernel) perOut *= static_cast<double>(k);
    e->nthr = teamFor(static_cast<double>(e->out.numElements()) * perOut);
    setOmpThreads(e->nthr);
    // Note [Winograd convolutions]: where oneDNN has one, for every thread
    // choice (on one thread in a split run: it is never cut).
    if (winogradOk) {
      try {
        dnnl::convolution_forward::desc wd(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_winograd,
                                           srcAny, wAny, bMd, dstAny, st, dnnlDil, win.padL, win.padR);
        e->pd = convolution_forward_pd(wd, attr(), dnnlEngine());
        e->wino = true;
        // oneDNN 2.6 lists F(2x2, 3x3) first; F(4x4, 3x3) does fewer
        // products per output and measured ~1.3x faster from 28x28 outputs
        // up (ResNet's 56x56 and 28x28 layers), no faster at 14x14 and slower at 7x7.
        if (win.out[0] * win.out[1] >= 28 * 28 && !std::string_view(e->pd.impl_info_str()).starts_with("jit_wino_4x3")) {
          convolution_forward_pd alt = e->pd;
          while (alt.next_impl()) {
            if (std::string_view(alt.impl_info_str()).starts_with("jit_wino_4x3")) {
              e->pd = alt;
              break;
            }
          }
        }
      } catch (const dnnl::error&) {
        e->wino = false;  // (no Winograd implementation for these shapes or post-ops here)
      }
    }
    if (!e->wino) {
      dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                           srcAny, constWeights ? wAny : wAny, bMd, dstAny, st, dnnlDil, win.padL,
                                           win.padR);
      // Note [SiLU after the conv]: one thread (split chunks and teams keep the post-op).
      e->siluPass = capKey() == 1 && siluAfterOk();
      e->pd = convolution_forward_pd(desc, e->siluPass ? attrBeforeSilu() : attr(), dnnlEngine());
    }
    e->strides = st;
    e->dilations = dnnlDil;
    e->padL = win.padL;
    e->padR = win.padR;
    e->prim = dnnl::convolution_forward(e->pd);
    e->dst = e->pd.dst_desc();
    e->dstPlain = isPlain(e->dst, toDnnl(e->out));
    e->src = x.md != nullptr ? *x.md : plainMd(toDnnl(x.dims));
    e->srcReorder = e->src != e->pd.src_desc();
    // (Note [Winograd convolutions]: a Winograd conv runs whole.)
    if (!e->wino) e->split = splitOf(*e, bMd, st, dnnlDil, win, static_cast<double>(e->out.numElements()) * perOut);
    dnnl::stream s(dnnlEngine());
    if (constWeights) {
      e->weights = packed(s, memory(wPlain, dnnlEngine(), const_cast<float*>(weights.data())), e->pd.weights_desc());
    }
    if (hasBias && constBias) {
      e->bias = memory(bMd, dnnlEngine());
      std::memcpy(e->bias.get_data_handle(), bias.data(), bias.size() * sizeof(float));
    }
    s.wait();
    return cache_.keep(std::move(e));
  }

  mutable Cache<Entry> cache_;
};

// ============================================================================
// Matmul / gemm

class MatmulStep final : public DnnlStep {
 public:
  bool gemm = false, transA = false, transB = false;
  float alpha = 1.f, beta = 1.f;
  bool constWeights = false;
  std::vector<float> weights;      // constant b (alpha folded in when `alphaFolded`)
  std::vector<int64_t> weightDims; // its dims
  std::vector<float> bias;         // constant bias row (N values), empty if none
  int cInput = -1;                 // gemm c copied into dst, then sum(beta)
  bool useScale = false;           // output scale alpha
  std::vector<int64_t> viewDims;   // non-empty: the output's dims (a reshape fused after the product)
  int addInput = -1;               // a broadcast addend (Note [Attention mask post-op]), or -1
  int addPostOp = -1;              // its post-op's index in the attribute
  /// Note [Transposes in matmul strides]: operand i is given untransposed;
  /// logical dim k is its dim perm[i][k] (empty: as it is). outPerm: the
  /// result is written transposed (output dim k = product dim outPerm[k]).
  std::vector<int64_t> perm[2], outPerm;

  struct Entry {
    int cap = 1;  // capKey() it was made for
    Dims a, b, add;
    dnnl::matmul::primitive_desc pd;
    dnnl::matmul prim;
    memory weights, bias;
    Md aMd, bMd, dstMd, addMd;
    Dims out;
    int64_t M = 0, N = 0, K = 0;
    int nthr = 1;
    uint64_t id = 0;
    std::shared_ptr<const SplitPrimitive> split;  // heads or rows (Note [Split primitives])
    /// A heads split's operands copied to head-major dense layouts (Note
    /// [Head-major copies for split attention]); a zero md: used in place.
    Md headA, headB, headDst;
  };

  /// The residual addend of a sum post-op, unless a gemm's c is first
  /// broadcast into the destination.
  int inPlaceInput() const override { return cInput < 0 ? sumInput() : -1; }

  void run(Run& run) const override {
    const RunValue& a = run.in(*this, 0);
    Dims bd;
    const void* bdata = nullptr;
    if (constWeights) {
      bd = Dims::of(weightDims);
    } else {
      const RunValue& b = run.in(*this, 1);
      bd = permuted(b.dims, perm[1]);
      bdata = b.data;
    }
    const RunValue* add = addInput >= 0 ? &run.in(*this, static_cast<size_t>(addInput)) : nullptr;
    const std::shared_ptr<const Entry> entryPtr = entry(permuted(a.dims, perm[0]), bd, add != nullptr ? add->dims : Dims{});
    const Entry& e = *entryPtr;
    if (e.id == 0) run.keepAlive(entryPtr);  // not cached: its descriptors must outlive this run
    Dims outDims = permuted(e.out, outPerm);
    if (!viewDims.empty()) {
      outDims = Dims::of(viewDims);
      SY_CPU_REQUIRE(outDims.numElements() == e.out.numElements(), SY_ERROR_INVALID_ARGUMENT, "the product ",
                     sdk::formatDims(e.out.ref()), " does not reshape to ", sdk::formatDims(outDims.ref()));
    }
    if (e.out.numElements() == 0) {
      run.out(*this, 0, outDims);
      return;
    }
    if (e.K == 0 && !postOps.empty()) {
      SY_CPU_REQUIRE(runFallback(*this, run, fallback.get(), inputs.size()), SY_ERROR_UNIMPLEMENTED,
                   "matrix product with an empty inner dim in a fused step");
      return;
    }
    // A residual addend that dies here may be dst itself (Note [In-place residual sum] in region.cpp).
    const int k = inPlaceInput();
    float* y = static_cast<float*>(k >= 0 ? run.outReusing(*this, 0, outDims, nullptr, static_cast<size_t>(k))
                                          : run.out(*this, 0, outDims));
    if (e.K == 0) {
      SY_CPU_REQUIRE(outPerm.empty() || bias.empty(), SY_ERROR_UNIMPLEMENTED,
                     "matrix product with an empty inner dim, a bias and a transposed result");
      // The product is 0: the result is the bias (or beta * c) alone.
      const int64_t total = e.out.numElements();
      for (int64_t i = 0; i < total; ++i) y[i] = bias.empty() ? 0.f : bias[static_cast<size_t>(i % e.N)];
      if (cInput >= 0) {
        broadcastC(run.in(*this, static_cast<size_t>(cInput)), y, e.M, e.N);
        for (int64_t i = 0; i < total; ++i) y[i] *= beta;
      }
      return;
    }
    memory dst = reuse(e.id, kDst, e.dstMd, y);
    if (cInput >= 0) {
      const RunValue& c = run.in(*this, static_cast<size_t>(cInput));
      broadcastC(c, y, e.M, e.N);
    }
    loadSum(run, dst, viewDims.empty() ? e.out : outDims, e.id);  // (Note [Reshape before a residual sum])
    ExecArgs args;
    args[DNNL_ARG_SRC] = reuse(e.id, kSrc, e.aMd, a.data);
    args[DNNL_ARG_WEIGHTS] = constWeights ? e.weights : reuse(e.id, kWeights, e.bMd, const_cast<void*>(bdata));
    if (!bias.empty()) args[DNNL_ARG_BIAS] = e.bias;
    if (add != nullptr) {
      args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(addPostOp) | DNNL_ARG_SRC_1] =
          reuse(e.id, kAddend, e.addMd, const_cast<void*>(add->data));
    }
    args[DNNL_ARG_DST] = dst;
    if (e.split && run.threads() > 1 && (e.headA.data.ndims != 0 || e.headB.data.ndims != 0 || e.headDst.data.ndims != 0)) {
      // Note [Head-major copies for split attention].
      auto dense = [&](const Md& head, const Md& md, const void* data, bool copyIn) {
        memory m(head, dnnlEngine(), run.scratch(head.get_size()));
        if (copyIn) reorderInto(run, memory(md, dnnlEngine(), const_cast<void*>(data)), m);
        return m;
      };
      if (e.headA.data.ndims != 0) args[DNNL_ARG_SRC] = dense(e.headA, e.aMd, a.data, true);
      if (e.headB.data.ndims != 0) args[DNNL_ARG_WEIGHTS] = dense(e.headB, e.bMd, bdata, true);
      if (e.headDst.data.ndims != 0) args[DNNL_ARG_DST] = dense(e.headDst, e.dstMd, y, false);
      execute(run, e.prim, args, e.nthr, e.id, e.split.get());
      if (e.headDst.data.ndims != 0) reorderInto(run, args[DNNL_ARG_DST], dst);
      return;
    }
    execute(run, e.prim, args, e.nthr, e.id, e.split.get());
  }

 private:
  /// The addend of the binary add post-op as oneDNN wants it: the rank of the
  /// product's dst (`ddims`), 1 on broadcast dims. `out` is the product's
  /// logical shape; when its batch was folded into rows (ddims 2-D) only a
  /// row-shaped addend ([..., 1, N]) maps.
  static Md addendMd(const Dims& add, const Dims& out, const memory::dims& ddims) {
    SY_CPU_REQUIRE(add.rank <= out.rank, SY_ERROR_INVALID_ARGUMENT, "add operand ", sdk::formatDims(add.ref()),
                   " does not broadcast to ", sdk::formatDims(out.ref()));
    memory::dims full(static_cast<size_t>(out.rank), 1);
    for (int32_t i = 0; i < add.rank; ++i) {
      const int64_t d = add.d[i], o = out.d[out.rank - add.rank + i];
      SY_CPU_REQUIRE(d == o || d == 1, SY_ERROR_INVALID_ARGUMENT, "add operand ", sdk::formatDims(add.ref()),
                     " does not broadcast to ", sdk::formatDims(out.ref()));
      full[static_cast<size_t>(out.rank - add.rank + i)] = d;
    }
    if (full.size() == ddims.size()) return plainMd(full);
    // Folded: ddims = [rows, N]; only the last dim may vary.
    for (size_t i = 0; i + 1 < full.size(); ++i) {
      SY_CPU_REQUIRE(full[i] == 1, SY_ERROR_INVALID_ARGUMENT, "add operand ", sdk::formatDims(add.ref()),
                     " of a matrix product whose batch is folded into rows");
    }
    return plainMd(memory::dims{1, full.empty() ? 1 : full.back()});
  }

  /// `d` with its dims in the order `p` (empty: d).
  static Dims permuted(const Dims& d, const std::vector<int64_t>& p) {
    if (p.empty()) return d;
    SY_CPU_REQUIRE(static_cast<int32_t>(p.size()) == d.rank, SY_ERROR_INVALID_ARGUMENT, "transpose perm of ",
                   p.size(), " dims for ", sdk::formatDims(d.ref()));
    Dims out;
    out.rank = d.rank;
    for (int32_t k = 0; k < d.rank; ++k) out.d[k] = d.d[p[static_cast<size_t>(k)]];
    return out;
  }
  /// The strides, in the logical order `p`, of a row-major tensor of dims
  /// `stored` (the untransposed operand) padded on the left to `rank` dims.
  static memory::dims permutedStrides(const Dims& stored, const std::vector<int64_t>& p, size_t rank) {
    std::vector<int64_t> st(static_cast<size_t>(stored.rank));
    int64_t total = 1;
    for (int32_t k = stored.rank; k-- > 0;) {
      st[static_cast<size_t>(k)] = total;
      total *= stored.d[k];
    }
    memory::dims out(rank, total);  // leading broadcast dims of size 1: any stride
    for (size_t k = 0; k < p.size(); ++k) out[rank - p.size() + k] = st[static_cast<size_t>(p[k])];
    return out;
  }
  /// The row-major layout of `stored` = the product's `logical` dims in the
  /// order `p` (stored[k] = logical[p[k]]), as strides of the logical dims.
  static memory::dims outputStrides(const Dims& logical, const std::vector<int64_t>& p) {
    std::vector<int64_t> st(p.size());
    int64_t total = 1;
    for (size_t k = p.size(); k-- > 0;) {
      st[k] = total;
      total *= logical.d[p[k]];
    }
    memory::dims out(p.size());
    for (size_t k = 0; k < p.size(); ++k) out[static_cast<size_t>(p[k])] = st[k];
    return out;
  }

  static std::vector<int64_t> inverse(const std::vector<int64_t>& p) {
    std::vector<int64_t> q(p.size());
    for (size_t k = 0; k < p.size(); ++k) q[static_cast<size_t>(p[k])] = static_cast<int64_t>(k);
    return q;
  }

  static void broadcastC(const RunValue& c, float* y, int64_t M, int64_t N) {
    const float* cp = static_cast<const float*>(c.data);
    const Dims& d = c.dims;
    SY_CPU_REQUIRE(d.rank <= 2, SY_ERROR_INVALID_ARGUMENT, "c has rank ", d.rank);
    const int64_t cm = d.rank == 2 ? d.d[0] : 1, cn = d.rank >= 1 ? d.d[d.rank - 1] : 1;
    SY_CPU_REQUIRE((cm == M || cm == 1) && (cn == N || cn == 1), SY_ERROR_INVALID_ARGUMENT, "c ",
                 sdk::formatDims(d.ref()), " does not broadcast to [", M, ", ", N, "]");
    for (int64_t i = 0; i < M; ++i) {
      const float* row = cp + (cm == 1 ? 0 : i * cn);
      for (int64_t j = 0; j < N; ++j) y[i * N + j] = row[cn == 1 ? 0 : j];
    }
  }

  /// Rows of a and dst (b and bias whole). Not columns: oneDNN 2.6's brgemm
  /// matmul takes only a dense dst (leading dim N), which column chunks of a
  /// row-major dst are not (it falls back to the reference matmul) -- except
  /// with one row, where they are (splitColumns).
  // Note [Head-major copies for split attention]
  // Attention's products read q, k, v and write their result through
  // permuted strides of [B, T, H, D] (Note [Transposes in matmul strides]).
  // oneDNN 2.6's brgemm matmul takes those for the whole product (its
  // layouts are matched as tags: acbd, adbc), but a chunk of h < H heads has
  // the same strides with fewer heads, which match no tag, and gets the
  // plain jit gemm: at threads 2, BERT's [1, 2, 128, 128] x [1, 2, 128, 64]
  // chunks ran ~10x slower per flop than the whole product on one thread.
  // So a heads split copies each such operand (one reorder, ~0.03 ms for
  // [128, 12, 64]) into the head-major dense layout of the same dims (heads
  // outermost, the other dims in their stored order: q -> abcd, k^T -> abdc)
  // and the chunks read and write those copies, whose head slices are dense
  // (brgemm again); the result is copied back into the strided dst. Not for
  // a dst with a sum post-op (it would have to be copied in too). The
  // copies run only when the step runs split (threads > 1); one thread runs
  // the whole product on the strided operands as before.

  /// `md` (plain strides, no blocking) with `dim` moved outermost (after
  /// dims of size 1) and its other dims in their stored order, dense; a zero
  /// md when that is `md` itself (no copy needed).
  static Md headMajor(const Md& md, int dim) {
    const dnnl_memory_desc_t& d = md.data;
    if (d.format_kind != dnnl_blocked || d.format_desc.blocking.inner_nblks != 0 || d.offset0 != 0) return Md();
    const int n = d.ndims;
    std::vector<int> order;
    for (int i = 0; i < n; ++i) {
      if (d.dims[i] == 1 && i != dim) order.push_back(i);
    }
    order.push_back(dim);
    std::vector<int> rest;
    for (int i = 0; i < n; ++i) {
      if (d.dims[i] != 1 && i != dim) rest.push_back(i);
    }
    const auto& st = d.format_desc.blocking.strides;
    std::stable_sort(rest.begin(), rest.end(), [&](int x, int y) { return st[x] > st[y]; });
    order.insert(order.end(), rest.begin(), rest.end());
    memory::dims dims(d.dims, d.dims + n), strides(static_cast<size_t>(n));
    int64_t total = 1;
    for (size_t k = order.size(); k-- > 0;) {
      strides[static_cast<size_t>(order[k])] = total;
      total *= d.dims[order[k]];
    }
    const Md out(dims, md.data_type(), strides);
    return out == md ? Md() : out;
  }

  static bool hasSum(const dnnl::primitive_attr& at) {
    const dnnl::post_ops po = at.get_post_ops();
    for (int i = 0; i < po.len(); ++i) {
      if (po.kind(i) == dnnl::primitive::kind::sum) return true;
    }
    return false;
  }

  // Note [Matmul row chunks]
  // A product split into chunks of rows runs each chunk with all of b: the
  // chunk's kernel streams the whole prepacked b once (BERT's FFN: 9.4 MB,
  // from L3 at best), for rows * K * N multiply-adds. With chunks of 16 rows
  // (8 chunks of BERT's 128 tokens at 2 threads, Note [Split primitives]'s
  // four a thread) that stream costs a good part of the compute, and more
  // when other processes share the cache: CPU time per BERT-base T = 128
  // run at 2 threads fell 8% (32 rows) and 13% (64 rows), GPT-2 small's 3%
  // and 6%, and the median latency did not rise (a machine loaded 8-10 on
  // 2 cores, split forced). So where b is larger than an L2 (1 MB), chunks
  // keep at least 64 rows, or half the rows when there are fewer than 128
  // (still two chunks); T = 512 keeps its 8 chunks of 64 rows.
  static double rowChunkWork(const Entry& e, double rows, double work) {
    const double bBytes = 4.0 * static_cast<double>(e.K) * static_cast<double>(e.N);
    if (bBytes <= double(1 << 20) || rows < 2) return kChunkWork;
    const double minRows = std::min(64.0, std::floor(rows / 2));
    return std::max(kChunkWork, work * minRows / rows);
  }

  std::shared_ptr<const SplitPrimitive> splitOf(Entry& e, const Md& biasMd, const dnnl::primitive_attr& at,
                                                double work) const {
    if (cap() <= 1) return nullptr;
    const Md dst = e.dstMd;
    const int rank = dst.data.ndims;
    if (e.aMd.data.ndims != rank) return nullptr;
    const Md weights = constWeights ? e.pd.weights_desc() : e.bMd;
    // One row (a classifier's gemv, memory-bound on the prepacked weights):
    // columns, where the chunks' weights, bias and dst are contiguous
    // (splitColumns). Not with an addend post-op (its operand is the full
    // dst's shape in `at`).
    if (constWeights && e.addMd.data.ndims == 0 && dst.data.dims[rank - 2] == 1) {
      const double bytes = 4.0 * static_cast<double>(e.K) * static_cast<double>(e.N);
      auto split = splitColumns(weights, biasMd, dst, cap(), bytes, kChunkWork, implOf(e.prim),
                                [&](const Md& w, const Md& b, const Md& d) {
                                  dnnl::matmul::desc desc(e.aMd, w, b, d);
                                  return dnnl::primitive(
                                      dnnl::matmul(dnnl::matmul::primitive_desc(desc, at, dnnlEngine())));
                                });
      if (split) return split;
    }
    // Batched products (attention's heads): the outermost batch dim that a
    // and b both have (not broadcast), every dim before it 1; those slices
    // are dense, so the chunks keep brgemm (row chunks of a strided batch
    // would get the plain jit gemm).
    for (int d = 0; d + 2 < rank && !constWeights; ++d) {
      const int64_t n = dst.data.dims[d];
      if (n == 1) continue;
      if (e.aMd.data.dims[d] != n || e.bMd.data.dims[d] != n || e.bMd.data.ndims != rank) break;
      // Note [Head-major copies for split attention].
      Md ha = headMajor(e.aMd, d), hb = headMajor(e.bMd, d), hd = headMajor(dst, d);
      if (hd.data.ndims != 0 && hasSum(at)) ha = hb = hd = Md();
      const Md& sa = ha.data.ndims != 0 ? ha : e.aMd;
      const Md& sb = hb.data.ndims != 0 ? hb : e.bMd;
      const Md& sd = hd.data.ndims != 0 ? hd : dst;
      auto split = SplitPrimitive::make(
          {{DNNL_ARG_SRC, sa, d}, {DNNL_ARG_WEIGHTS, sb, d}, {DNNL_ARG_DST, sd, d}}, n, cap(), work,
          kChunkWork,
          [&](const std::vector<Md>& sl, int64_t, int64_t) {
            dnnl::matmul::desc desc(sl[0], sl[1], biasMd, sl[2]);
            return dnnl::primitive(dnnl::matmul(dnnl::matmul::primitive_desc(desc, at, dnnlEngine())));
          },
          implOf(e.prim));
      if (split) {
        e.headA = ha;
        e.headB = hb;
        e.headDst = hd;
        return split;
      }
      break;
    }
    return SplitPrimitive::make(
        {{DNNL_ARG_SRC, e.aMd, rank - 2}, {DNNL_ARG_DST, dst, rank - 2}}, dst.data.dims[rank - 2], cap(), work,
        rowChunkWork(e, static_cast<double>(dst.data.dims[rank - 2]), work),
        [&](const std::vector<Md>& sl, int64_t, int64_t) {
          dnnl::matmul::desc desc(sl[0], weights, biasMd, sl[1]);
          return dnnl::primitive(dnnl::matmul(dnnl::matmul::primitive_desc(desc, at, dnnlEngine())));
        },
        implOf(e.prim));
  }

  std::shared_ptr<const Entry> entry(const Dims& ad, const Dims& bd, const Dims& addDims) const {
    std::lock_guard<std::mutex> lock(cache_.mutex);
    for (const auto& e : cache_.entries) {
      if (e->a == ad && e->b == bd && e->add == addDims && e->cap == capKey()) return e;
    }
    auto e = std::make_shared<Entry>();
    e->cap = capKey();
    e->a = ad;
    e->b = bd;
    e->add = addDims;
    memory::dims adims, bdims, ddims;
    memory::dims astr, bstr;
    if (gemm) {
      SY_CPU_REQUIRE(ad.rank == 2 && bd.rank == 2, SY_ERROR_INVALID_ARGUMENT, "gemm needs 2-D a and b, got ",
                   sdk::formatDims(ad.ref()), " and ", sdk::formatDims(bd.ref()));
      const int64_t M = transA ? ad.d[1] : ad.d[0], K = transA ? ad.d[0] : ad.d[1];
      const int64_t Kb = transB ? bd.d[1] : bd.d[0], N = transB ? bd.d[0] : bd.d[1];
      SY_CPU_REQUIRE(K == Kb, SY_ERROR_INVALID_ARGUMENT, "inner dims differ: ", sdk::formatDims(ad.ref()),
                   " and ", sdk::formatDims(bd.ref()));
      e->M = M;
      e->N = N;
      e->K = K;
      adims = {M, K};
      astr = transA ? memory::dims{1, M} : memory::dims{K, 1};
      bdims = {K, N};
      bstr = transB ? memory::dims{1, K} : memory::dims{N, 1};
      ddims = {M, N};
      e->out.rank = 2;
      e->out.d[0] = M;
      e->out.d[1] = N;
    } else {
      Dims a = ad, b = bd;
      const bool aVec = a.rank == 1, bVec = b.rank == 1;
      SY_CPU_REQUIRE(a.rank >= 1 && b.rank >= 1, SY_ERROR_INVALID_ARGUMENT, "matmul of a rank-0 operand");
      if (aVec) {
        a.rank = 2;
        a.d[1] = a.d[0];
        a.d[0] = 1;
      }
      if (bVec) {
        b.rank = 2;
        b.d[1] = 1;
      }
      const int64_t M = a.d[a.rank - 2], K = a.d[a.rank - 1], Kb = b.d[b.rank - 2], N = b.d[b.rank - 1];
      SY_CPU_REQUIRE(K == Kb, SY_ERROR_INVALID_ARGUMENT, "inner dims differ: ", sdk::formatDims(ad.ref()), " and ",
                   sdk::formatDims(bd.ref()));
      const int32_t r = std::max(a.rank, b.rank);
      SY_CPU_REQUIRE(r <= 12, SY_ERROR_INVALID_ARGUMENT, "matmul of rank ", r, " (oneDNN takes 12)");
      Dims out;
      out.rank = 0;
      memory::dims batchA, batchB, batchD;
      for (int32_t i = 0; i < r - 2; ++i) {
        const int32_t ia = i - (r - a.rank), ib = i - (r - b.rank);
        const int64_t x = ia >= 0 ? a.d[ia] : 1, y = ib >= 0 ? b.d[ib] : 1;
        SY_CPU_REQUIRE(x == y || x == 1 || y == 1, SY_ERROR_INVALID_ARGUMENT, "batch dims of ",
                     sdk::formatDims(ad.ref()), " and ", sdk::formatDims(bd.ref()), " do not broadcast");
        batchA.push_back(x);
        batchB.push_back(y);
        batchD.push_back(x == 1 ? y : x);
        out.d[out.rank++] = x == 1 ? y : x;
      }
      if (!aVec) out.d[out.rank++] = M;
      if (!bVec) out.d[out.rank++] = N;
      e->out = out;
      e->M = M;
      e->N = N;
      e->K = K;
      int64_t batchAll = 1, batchOfB = 1;
      for (int64_t v : batchA) batchAll *= v;
      for (int64_t v : batchB) batchOfB *= v;
      const bool strided = !perm[0].empty() || !perm[1].empty() || !outPerm.empty();
      if (batchOfB == 1 && !strided) {
        // b is one matrix: fold a's batch into its rows (one big 2-D product).
        adims = {batchAll * M, K};
        bdims = {K, N};
        ddims = {batchAll * M, N};
      } else {
        adims = batchA;
        adims.push_back(M);
        adims.push_back(K);
        bdims = batchB;
        bdims.push_back(K);
        bdims.push_back(N);
        ddims = batchD;
        ddims.push_back(M);
        ddims.push_back(N);
      }
    }
    if (!gemm && !perm[0].empty()) astr = permutedStrides(permuted(ad, inverse(perm[0])), perm[0], adims.size());
    if (!gemm && !perm[1].empty()) bstr = permutedStrides(permuted(bd, inverse(perm[1])), perm[1], bdims.size());
    e->aMd = astr.empty() ? plainMd(adims) : Md(adims, memory::data_type::f32, astr);
    e->bMd = bstr.empty() ? plainMd(bdims) : Md(bdims, memory::data_type::f32, bstr);
    e->dstMd = outPerm.empty() ? plainMd(ddims) : Md(ddims, memory::data_type::f32, outputStrides(e->out, outPerm));
    if (addInput >= 0) e->addMd = addendMd(addDims, e->out, ddims);
    if (e->out.numElements() == 0 || e->K == 0) {
      return cache_.keep(std::move(e));
    }
    memory::dims biasDims(ddims.size(), 1);
    biasDims.back() = e->N;
    const Md biasMd = bias.empty() ? Md() : plainMd(biasDims);
    const Md wMd = constWeights ? Md(bdims, memory::data_type::f32, memory::format_tag::any) : e->bMd;
    dnnl::primitive_attr at = attr(beta, cInput >= 0, addInput >= 0 ? &e->addMd : nullptr);
    if (useScale) at.set_output_scales(0, {alpha});
    e->nthr = teamFor(2.0 * static_cast<double>(e->out.numElements()) * static_cast<double>(e->K));
    setOmpThreads(e->nthr);
    dnnl::matmul::desc desc(e->aMd, wMd, biasMd, e->dstMd);
    e->pd = dnnl::matmul::primitive_desc(desc, at, dnnlEngine());
    // Note [Gemv weights in blocks of 32 columns]
    // One row and constant weights (a classifier's gemv: [1, 1280] x [1280,
    // 1000], 5 MB, read once a run, mostly from memory): oneDNN 2.6's brgemm
    // matmul packs b as BA16a64b for "any", but its one-row kernel streams
    // b faster in blocks of 32 columns. A microbenchmark with the weights out
    // of cache (rotated copies and a 48 MB read between calls, one thread, a
    // loaded AMD EPYC): 1x1280x1000 0.34-0.35 ms (BA16a64b) against 0.24-0.28
    // (BA16a32b), 1x960x1280 0.31-0.34 against 0.23; with the weights in
    // cache both 0.06 ms (BA16a16b was faster out of cache but 1.6x slower in
    // it). Alternating the two layouts call by call in one process (8
    // rotated copies of the weights, with and without the 48 MB read):
    // BA16a32b / BA16a64b 0.77-0.87 for 1x512x1000, 1x960x1280, 1x1280x1000
    // and 1x2048x1000 (ResNet-50's), one run of 20 at 1.12. In
    // MobileNetV3-Large at one thread (`switchyard bench --profile`, 18
    // interleaved pairs of 100 runs, load 2.7-5): its two gemm steps
    // together 0.685 -> 0.580 ms (median; lower in 13 of 18 pairs). So where
    // oneDNN picked BA16a64b, the same implementation on BA16a32b is taken
    // (each result element keeps one sum over K, in the kernel's order;
    // column chunks at threads > 1 stay contiguous).
    if (constWeights && ddims.size() == 2 && ddims[0] == 1) {
      const Md b64(bdims, memory::data_type::f32, memory::format_tag::BA16a64b);
      const Md b32(bdims, memory::data_type::f32, memory::format_tag::BA16a32b);
      if (e->pd.weights_desc() == b64) {
        try {
          dnnl::matmul::primitive_desc pd32(dnnl::matmul::desc(e->aMd, b32, biasMd, e->dstMd), at, dnnlEngine());
          if (std::strcmp(pd32.impl_info_str(), e->pd.impl_info_str()) == 0) e->pd = pd32;
        } catch (const dnnl::error&) {
          // Not taken: the layout oneDNN picked stays.
        }
      }
    }
    e->prim = dnnl::matmul(e->pd);
    e->split = splitOf(*e, biasMd, at, 2.0 * static_cast<double>(e->out.numElements()) * static_cast<double>(e->K));
    dnnl::stream s(dnnlEngine());
    if (constWeights) {
      SY_CPU_REQUIRE(static_cast<int64_t>(weights.size()) == e->K * e->N, SY_ERROR_INTERNAL, "weights size");
      e->weights = packed(s, memory(e->bMd, dnnlEngine(), const_cast<float*>(weights.data())), e->pd.weights_desc());
    }
    if (!bias.empty()) {
      SY_CPU_REQUIRE(static_cast<int64_t>(bias.size()) == e->N, SY_ERROR_INVALID_ARGUMENT, "bias of ", bias.size(),
                   " values for ", e->N, " columns");
      e->bias = memory(biasMd, dnnlEngine());
      std::memcpy(e->bias.get_data_handle(), bias.data(), bias.size() * sizeof(float));
    }
    s.wait();
    return cache_.keep(std::move(e));
  }

  mutable Cache<Entry> cache_;
};

// ============================================================================
// Pooling

class PoolStep final : public DnnlStep {
 public:
  bool max = true, global = false, countIncludePad = false, ceilMode = false;
  std::vector<int64_t> kernel, strides, dilations, pads;
  std::string autoPad;

  bool acceptsBlocked(size_t i) const override { return i == 0; }
  bool mayProduceBlocked() const override { return true; }

  struct Entry {
    int cap = 1;  // capKey() it was made for
    Dims x;
    std::optional<Md> xmd;
    dnnl::pooling_v2_forward::primitive_desc pd;
    dnnl::pooling_v2_forward prim;
    Md dst;
    Dims out;
    int nthr = 1;
    uint64_t id = 0;
    Md src;
    bool dstPlain = false;
    std::shared_ptr<const SplitPrimitive> split;  // rows, or images of a batch (Note [Split primitives])
  };

  void run(Run& run) const override {
    const RunValue& x = run.raw(*this, 0);
    SY_CPU_REQUIRE(x.dims.rank >= 3 && x.dims.rank <= 5, SY_ERROR_INVALID_ARGUMENT, "input rank ", x.dims.rank);
    const std::shared_ptr<const Entry> entryPtr = entry(x);
    const Entry& e = *entryPtr;
    if (e.id == 0) run.keepAlive(entryPtr);  // not cached: its descriptors must outlive this run
    if (e.out.numElements() == 0 || x.dims.numElements() == 0) {
      SY_CPU_REQUIRE(e.out.numElements() == 0, SY_ERROR_INVALID_ARGUMENT, "pooling over an empty window");
      run.out(*this, 0, e.out);
      return;
    }
    const Dst dst = destination(run, &e.dst, e.out, e.id, e.dstPlain);
    ExecArgs args{{DNNL_ARG_SRC, reuse(e.id, kSrc, e.src, x.data)}, {DNNL_ARG_DST, dst.mem}};
    if (e.pd.workspace_desc().get_size() > 0) {
      args[DNNL_ARG_WORKSPACE] =
          reuse(e.id, kWorkspace, e.pd.workspace_desc(), run.scratch(e.pd.workspace_desc().get_size()));
    }
    execute(run, e.prim, args, e.nthr, e.id, e.pd.workspace_desc().get_size() > 0 ? nullptr : e.split.get());
    // Note [Known bounds]: a bounded x holds no NaN, and pooling keeps the bound.
    const double xBound = x.absBound;
    if (max && !(xBound < HUGE_VAL)) propagateNaN(run, e, x.data, dst.mem);
    finish(run, dst, e.out, e.id);
    if (xBound < HUGE_VAL) {
      // An average of up to `window` terms may round above the largest one.
      const double window = static_cast<double>(x.dims.numElements() / std::max<int64_t>(1, x.dims.d[0] * x.dims.d[1]));
      run.value(outputs[0]).absBound = max ? xBound : xBound * (1 + (window + 8) * 0x1p-23);
    }
  }

 private:
  /// Note [NaN in max pooling]: oneDNN's max pooling (vmaxps) drops NaN;
  /// docs/ir.md says NaN propagates. When the input holds a NaN (one read
  /// pass to find out), the same primitive runs once more on a 0/1 mask of
  /// the NaNs (same layouts, so blocked formats need no index arithmetic)
  /// and every output whose window saw a NaN becomes NaN.
  void propagateNaN(Run& run, const Entry& e, const void* src, const memory& dst) const {
    const size_t srcFloats = e.src.get_size() / sizeof(float);
    if (!anyNonFinite(src, srcFloats, true)) return;
    std::vector<float> maskIn(srcFloats), maskOut(e.dst.get_size() / sizeof(float));
    const float* x = static_cast<const float*>(src);
    for (size_t i = 0; i < srcFloats; ++i) maskIn[i] = x[i] != x[i] ? 1.0f : 0.0f;
    execute(run, e.prim,
            {{DNNL_ARG_SRC, memory(e.src, dnnlEngine(), maskIn.data())},
             {DNNL_ARG_DST, memory(e.dst, dnnlEngine(), maskOut.data())}},
            e.nthr);
    float* y = static_cast<float*>(dst.get_data_handle());
    for (size_t i = 0; i < maskOut.size(); ++i)
      if (maskOut[i] > 0.0f) y[i] = std::numeric_limits<float>::quiet_NaN();
  }

  std::shared_ptr<const Entry> entry(const RunValue& x) const {
    std::lock_guard<std::mutex> lock(cache_.mutex);
    for (const auto& e : cache_.entries) {
      if (e->x == x.dims && (x.md == nullptr ? !e->xmd : (e->xmd && *e->xmd == *x.md)) && e->cap == capKey()) return e;
    }
    auto e = std::make_shared<Entry>();
    e->cap = capKey();
    e->x = x.dims;
    if (x.md != nullptr) e->xmd = *x.md;
    const size_t nsp = static_cast<size_t>(x.dims.rank - 2);
    std::vector<int64_t> k = kernel, s = strides, d = dilations, p = pads;
    if (global) {
      k.assign(x.dims.d + 2, x.dims.d + x.dims.rank);
      s.assign(nsp, 1);
      d.assign(nsp, 1);
      p.clear();
    }
    SY_CPU_REQUIRE(k.size() == nsp, SY_ERROR_INVALID_ARGUMENT, "kernel_shape does not match input rank ", x.dims.rank);
    s = orOnes(s, nsp);
    d = orOnes(d, nsp);
    const Window w = windowOf(x.dims, k, s, d, p, global ? "NOTSET" : autoPad, ceilMode);
    e->out = x.dims;
    for (size_t i = 0; i < nsp; ++i) e->out.d[2 + i] = w.out[i];
    if (e->out.numElements() == 0 || x.dims.numElements() == 0) {
      return cache_.keep(std::move(e));
    }
    memory::dims dd;
    for (int64_t v : d) dd.push_back(v - 1);
    const Md src = x.md != nullptr ? *x.md : plainMd(toDnnl(x.dims));
    const Md dstAny(toDnnl(e->out), memory::data_type::f32, memory::format_tag::any);
    const dnnl::algorithm alg = max ? dnnl::algorithm::pooling_max
                                    : countIncludePad ? dnnl::algorithm::pooling_avg_include_padding
                                                      : dnnl::algorithm::pooling_avg_exclude_padding;
    double window = 1;
    for (int64_t v : k) window *= static_cast<double>(v);
    e->nthr = teamFor(static_cast<double>(e->out.numElements()) * window, kTeamElements);
    setOmpThreads(e->nthr);
    dnnl::pooling_v2_forward::desc desc(dnnl::prop_kind::forward_inference, alg, src, dstAny,
                                        memory::dims(s.begin(), s.end()), memory::dims(k.begin(), k.end()), dd,
                                        w.padL, w.padR);
    e->pd = dnnl::pooling_v2_forward::primitive_desc(desc, userScratchpad(), dnnlEngine());
    e->prim = dnnl::pooling_v2_forward(e->pd);
    e->dst = e->pd.dst_desc();
    e->src = src;
    e->dstPlain = isPlain(e->dst, toDnnl(e->out));
    if (cap() > 1 && x.dims.d[0] > 1) {  // images of the batch
      const memory::dims sd(s.begin(), s.end()), kd(k.begin(), k.end());
      e->split = SplitPrimitive::make(
          {{DNNL_ARG_SRC, src, 0}, {DNNL_ARG_DST, e->dst, 0}}, x.dims.d[0], cap(),
          static_cast<double>(e->out.numElements()) * window, kChunkWork,
          [&](const std::vector<Md>& sl, int64_t, int64_t) {
            dnnl::pooling_v2_forward::desc pdesc(dnnl::prop_kind::forward_inference, alg, sl[0], sl[1], sd, kd, dd,
                                                 w.padL, w.padR);
            return dnnl::primitive(dnnl::pooling_v2_forward(
                dnnl::pooling_v2_forward::primitive_desc(pdesc, userScratchpad(), dnnlEngine())));
          },
          implOf(e->prim));
    } else if (cap() > 1) {  // rows
      const memory::dims sd(s.begin(), s.end()), kd(k.begin(), k.end());
      e->split = splitRows(src, e->dst, s[0], (k[0] - 1) * d[0] + 1, w.padL[0], cap(),
                           static_cast<double>(e->out.numElements()) * window, kChunkWork, implOf(e->prim),
                           [&](const Md& src1, const Md& dst1, int64_t padT, int64_t padB) {
                             memory::dims pl = w.padL, pr = w.padR;
                             pl[0] = padT;
                             pr[0] = padB;
                             dnnl::pooling_v2_forward::desc pdesc(dnnl::prop_kind::forward_inference, alg, src1, dst1,
                                                                  sd, kd, dd, pl, pr);
                             return dnnl::primitive(dnnl::pooling_v2_forward(
                                 dnnl::pooling_v2_forward::primitive_desc(pdesc, userScratchpad(), dnnlEngine())));
                           });
    }
    return cache_.keep(std::move(e));
  }

  mutable Cache<Entry> cache_;
};

// ============================================================================
// Per-channel scaling (binary)

/// y = x * g or x + g per channel (Note [per-channel binary], direct loop):
/// `images` images of C channels and `pixels` pixels each, g [images, C];
/// channels-last (x[n][p][c]) or channels-first (x[n][c][p]). y may be x.
template <bool kMul>
inline void perChannelLoop(float* y, const float* x, const float* g, int64_t images, int64_t C, int64_t pixels,
                           bool channelsLast) {
  for (int64_t n = 0; n < images; ++n) {
    const float* gn = g + n * C;
    const float* xn = x + n * C * pixels;
    float* yn = y + n * C * pixels;
    if (channelsLast) {
      for (int64_t p = 0; p < pixels; ++p) {
        for (int64_t c = 0; c < C; ++c) yn[p * C + c] = kMul ? xn[p * C + c] * gn[c] : xn[p * C + c] + gn[c];
      }
    } else {
      for (int64_t c = 0; c < C; ++c) {
        const float v = gn[c];
        for (int64_t p = 0; p < pixels; ++p) yn[c * pixels + p] = kMul ? xn[c * pixels + p] * v : xn[c * pixels + p] + v;
      }
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
// As maxAbsBitsAvx2: the build targets baseline x86-64; this copy has 8 lanes.
template <bool kMul>
__attribute__((target("avx2"))) void perChannelLoopAvx2(float* y, const float* x, const float* g, int64_t images,
                                                        int64_t C, int64_t pixels, bool channelsLast) {
  perChannelLoop<kMul>(y, x, g, images, C, pixels, channelsLast);
}
#endif

void perChannel(bool mul, float* y, const float* x, const float* g, int64_t images, int64_t C, int64_t pixels,
                bool channelsLast) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (cpuHasAvx2()) {
    (mul ? perChannelLoopAvx2<true> : perChannelLoopAvx2<false>)(y, x, g, images, C, pixels, channelsLast);
    return;
  }
#endif
  (mul ? perChannelLoop<true> : perChannelLoop<false>)(y, x, g, images, C, pixels, channelsLast);
}

/// Note [per-channel binary]: squeeze-and-excitation blocks scale a feature
/// map by a per-channel gate, mul(x[N,C,H,W], s[N,C,1,1]). As a generic or
/// chain step it needs x row-major, so the conv making x writes NCHW (or is
/// reordered twice). oneDNN's binary primitive reads x and writes the result
/// in the blocked layout of the convs around it. mul and add of that shape
/// only; NaN propagates (plain vmulps / vaddps). Where x is channels-last
/// (the convs' acdb) or row-major and the call is not split, a plain loop
/// does the same one multiply (or add) per element, so the same bits: in
/// place it took about 0.6x oneDNN 2.6's jit:uni binary (EfficientNet-B0's
/// [1, 32, 112, 112] and [1, 144, 56, 56] gates at one thread).
class BinaryStep final : public DnnlStep {
 public:
  dnnl::algorithm alg = dnnl::algorithm::binary_mul;
  size_t big = 0;  ///< the full-size operand (0 or 1)

  bool acceptsBlocked(size_t i) const override { return i == big; }
  bool mayProduceBlocked() const override { return true; }
  /// The scaled activation, when it dies here, is overwritten in place (oneDNN's
  /// binary takes dst == src0 with one layout): the pass then writes the cache
  /// lines it has just read (Note [In-place residual sum] in region.cpp).
  int inPlaceInput() const override { return static_cast<int>(big); }

  struct Entry {
    int cap = 1;  // capKey() it was made for
    Dims x, s;
    std::optional<Md> xmd;
    dnnl::binary prim;
    Md src0, src1, dst;
    int nthr = 1;
    uint64_t id = 0;
    bool dstPlain = false;
    std::shared_ptr<const SplitPrimitive> split;  // rows, or images of a batch (Note [Split primitives])
    int loop = 0;  // the direct loop: 1 channels-last, 2 channels-first; 0: the primitive
  };

  void run(Run& run) const override {
    const RunValue& x = run.raw(*this, big);
    const RunValue& g = run.in(*this, 1 - big);
    SY_CPU_REQUIRE(g.dims.rank == x.dims.rank, SY_ERROR_INVALID_ARGUMENT, "operand ranks ", x.dims.rank, " and ",
                   g.dims.rank, " differ");
    for (int32_t i = 0; i < x.dims.rank; ++i) {
      SY_CPU_REQUIRE(g.dims.d[i] == x.dims.d[i] || g.dims.d[i] == 1, SY_ERROR_INVALID_ARGUMENT, "operand ",
                     sdk::formatDims(g.dims.ref()), " does not broadcast to ", sdk::formatDims(x.dims.ref()));
    }
    if (x.dims.numElements() == 0) {
      run.out(*this, 0, x.dims);
      return;
    }
    const std::shared_ptr<const Entry> entryPtr = entry(x, g);
    const Entry& e = *entryPtr;
    if (e.id == 0) run.keepAlive(entryPtr);
    const Dst dst = destination(run, &e.dst, e.x, e.id, e.dstPlain);
    if (e.loop != 0 && e.nthr == 1 && (e.split == nullptr || run.threads() <= 1)) {
      const int64_t C = e.x.d[1], images = e.x.d[0], pixels = e.x.numElements() / (images * C);
      perChannel(alg == dnnl::algorithm::binary_mul, static_cast<float*>(dst.mem.get_data_handle()),
                 static_cast<const float*>(x.data), static_cast<const float*>(g.data), images, C, pixels, e.loop == 1);
    } else {
      execute(run, e.prim,
              {{DNNL_ARG_SRC_0, reuse(e.id, kSrc, e.src0, x.data)},
               {DNNL_ARG_SRC_1, reuse(e.id, kWeights, e.src1, g.data)},
               {DNNL_ARG_DST, dst.mem}},
              e.nthr, e.id, e.split.get());
    }
    finish(run, dst, e.x, e.id);
  }

 private:
  std::shared_ptr<const Entry> entry(const RunValue& x, const RunValue& g) const {
    std::lock_guard<std::mutex> lock(cache_.mutex);
    for (const auto& e : cache_.entries) {
      if (e->x == x.dims && e->s == g.dims && (x.md == nullptr ? !e->xmd : (e->xmd && *e->xmd == *x.md)) && e->cap == capKey()) return e;
    }
    auto e = std::make_shared<Entry>();
    e->cap = capKey();
    e->x = x.dims;
    e->s = g.dims;
    if (x.md != nullptr) e->xmd = *x.md;
    e->src0 = x.md != nullptr ? *x.md : plainMd(toDnnl(x.dims));
    e->src1 = plainMd(toDnnl(g.dims));
    e->dst = e->src0;  // the same layout as x
    e->nthr = teamFor(static_cast<double>(x.dims.numElements()), kTeamElements);
    setOmpThreads(e->nthr);
    dnnl::binary::desc desc(alg, e->src0, e->src1, e->dst);
    e->prim = dnnl::binary(dnnl::binary::primitive_desc(desc, userScratchpad(), dnnlEngine()));
    e->dstPlain = isPlain(e->dst, toDnnl(e->x));
    // The direct loop: x row-major or channels-last, the gate [N, C, 1, ...] row-major.
    {
      static constexpr memory::format_tag kLast[] = {memory::format_tag::acb, memory::format_tag::acdb,
                                                     memory::format_tag::acdeb};
      const bool gateOk = g.dims.d[0] == x.dims.d[0] && g.dims.d[1] == x.dims.d[1] &&
                          g.dims.numElements() == x.dims.d[0] * x.dims.d[1];
      if (gateOk && x.md == nullptr) {
        e->loop = 2;
      } else if (gateOk && x.dims.rank >= 3 && x.dims.rank <= 5 &&
                 *x.md == Md(toDnnl(x.dims), memory::data_type::f32, kLast[x.dims.rank - 3])) {
        e->loop = 1;
      }
    }
    if (cap() > 1 && x.dims.d[0] > 1) {  // images of the batch (the gate has x's batch)
      e->split = SplitPrimitive::make(
          {{DNNL_ARG_SRC_0, e->src0, 0}, {DNNL_ARG_SRC_1, e->src1, 0}, {DNNL_ARG_DST, e->dst, 0}}, x.dims.d[0],
          cap(), 2.0 * static_cast<double>(x.dims.numElements()), kChunkWork,
          [&](const std::vector<Md>& sl, int64_t, int64_t) {
            dnnl::binary::desc d(alg, sl[0], sl[1], sl[2]);
            return dnnl::primitive(dnnl::binary(dnnl::binary::primitive_desc(d, userScratchpad(), dnnlEngine())));
          },
          implOf(e->prim));
    } else if (cap() > 1 && x.dims.rank >= 3) {  // rows
      e->split = SplitPrimitive::make(
          {{DNNL_ARG_SRC_0, e->src0, 2}, {DNNL_ARG_DST, e->dst, 2}}, x.dims.d[2], cap(),
          2.0 * static_cast<double>(x.dims.numElements()), kChunkWork,
          [&](const std::vector<Md>& sl, int64_t, int64_t) {
            dnnl::binary::desc d(alg, sl[0], e->src1, sl[1]);
            return dnnl::primitive(dnnl::binary(dnnl::binary::primitive_desc(d, userScratchpad(), dnnlEngine())));
          },
          implOf(e->prim));
    }
    return cache_.keep(std::move(e));
  }

  mutable Cache<Entry> cache_;
};

/// The full-size operand of a per-channel mul/add (Note [per-channel
/// binary]), or -1: x of static rank 3 to 5 with the output's dims, the
/// other [N, C, 1, ...] with x's N and C, and x not itself a single column.
int perChannelOperand(const sdk::NodeView& node) {
  if ((node.op() != "mul" && node.op() != "add") || node.numInputs() != 2 || !allF32(node, 0, 2)) return -1;
  const sdk::ValueView out = node.output(0);
  if (!out.isStatic() || out.rank() < 3 || out.rank() > 5) return -1;
  for (int big = 0; big < 2; ++big) {
    const sdk::ValueView x = node.input(static_cast<size_t>(big)), g = node.input(static_cast<size_t>(1 - big));
    if (!x.isStatic() || !g.isStatic() || x.rank() != out.rank() || g.rank() != out.rank()) continue;
    bool ok = x.dims().vec() == out.dims().vec() && g.dim(0) == x.dim(0) && g.dim(1) == x.dim(1);
    int64_t spatial = 1;
    for (size_t i = 2; ok && i < static_cast<size_t>(x.rank()); ++i) {
      ok = g.dim(i) == 1;
      spatial *= x.dim(i);
    }
    if (ok && spatial > 1) return big;
  }
  return -1;
}

// ============================================================================
// Batch norm (inference)

class BatchNormStep final : public DnnlStep {
 public:
  float epsilon = 1e-5f;
  bool fuseRelu = false;

  bool acceptsBlocked(size_t i) const override { return i == 0; }
  bool mayProduceBlocked() const override { return true; }

  struct Entry {
    int cap = 1;  // capKey() it was made for
    Dims x;
    std::optional<Md> xmd;
    dnnl::batch_normalization_forward::primitive_desc pd;
    dnnl::batch_normalization_forward prim;
    Md dst;
    int nthr = 1;
    uint64_t id = 0;
    Md src;
    bool dstPlain = false;
    // Without fuse_norm_relu, for the calls that may see NaN (Note [NaN-safe
    // relu post-op]); made on first need under the cache's mutex.
    mutable std::shared_ptr<const dnnl::batch_normalization_forward> safe;
    std::shared_ptr<const SplitPrimitive> split;  // rows, or images of a batch (Note [Split primitives])
  };

  /// Note [NaN-safe relu post-op], for batch_norm + relu: fuse_norm_relu
  /// (vmaxps) drops NaN, so it runs only when x and the four parameters are
  /// finite, var + epsilon > 0 and |gamma| / sqrt(var + eps) * (max|x| + |mean|)
  /// + |beta| stays far below overflow: then no output can be NaN.
  /// *outBound: a bound of the output when true (Note [Known bounds]).
  bool fastReluOk(Run& run, const RunValue& x, double* outBound) const {
    bool scanned = false;
    const double mx = maxAbsOf(x, &scanned);
    if (scanned && mx < HUGE_VAL) run.value(inputs[0]).absBound = mx;
    if (!(mx < HUGE_VAL)) return false;
    double worst = 0;
    const float* gamma = static_cast<const float*>(run.in(*this, 1).data);
    const float* beta = static_cast<const float*>(run.in(*this, 2).data);
    const float* mean = static_cast<const float*>(run.in(*this, 3).data);
    const float* var = static_cast<const float*>(run.in(*this, 4).data);
    const int64_t C = x.dims.d[1];
    for (int64_t c = 0; c < C; ++c) {
      const float s = var[c] + epsilon;  // as oneDNN computes it, in float
      if (!(s > 0.f) || !std::isfinite(s)) return false;
      const double bound = std::fabs(static_cast<double>(gamma[c])) / std::sqrt(static_cast<double>(s)) *
                               (mx + std::fabs(static_cast<double>(mean[c]))) +
                           std::fabs(static_cast<double>(beta[c]));
      if (!(bound < 1e36)) return false;  // also NaN / inf parameters
      worst = std::max(worst, bound);
    }
    *outBound = worst * (1 + 16 * 0x1p-23);  // a few float roundings
    return true;
  }

  void run(Run& run) const override {
    const RunValue& x = run.raw(*this, 0);
    SY_CPU_REQUIRE(x.dims.rank >= 2 && x.dims.rank <= 5, SY_ERROR_INVALID_ARGUMENT, "input rank ", x.dims.rank);
    const int64_t C = x.dims.d[1];
    for (size_t i = 1; i < 5; ++i) {
      SY_CPU_REQUIRE(run.in(*this, i).dims.numElements() == C, SY_ERROR_INVALID_ARGUMENT, "parameter ", i, " has ",
                   run.in(*this, i).dims.numElements(), " values for ", C, " channels");
    }
    if (x.dims.numElements() == 0) {
      run.out(*this, 0, x.dims);
      return;
    }
    const std::shared_ptr<const Entry> entryPtr = entry(x);
    const Entry& e = *entryPtr;
    if (e.id == 0) run.keepAlive(entryPtr);  // not cached: its descriptors must outlive this run
    const Dst dst = destination(run, &e.dst, x.dims, e.id, e.dstPlain);
    const Md cMd({C}, memory::data_type::f32, memory::format_tag::a);
    auto param = [&](size_t i, Slot slot) { return reuse(e.id, slot, cMd, run.in(*this, i).data); };
    ExecArgs args{{DNNL_ARG_SRC, reuse(e.id, kSrc, e.src, x.data)},
                  {DNNL_ARG_DST, dst.mem},
                  {DNNL_ARG_SCALE, param(1, kScale)},
                  {DNNL_ARG_SHIFT, param(2, kShift)},
                  {DNNL_ARG_MEAN, param(3, kMean)},
                  {DNNL_ARG_VARIANCE, param(4, kVariance)}};
    double outBound = HUGE_VAL;
    if (fuseRelu && !fastReluOk(run, x, &outBound)) {
      execute(run, *safePrimitive(e), args, e.nthr, 0);
      // relu keeping NaN, as the elementwise chains compute it; a blocked
      // layout's padding is 0 and stays 0.
      float* y = static_cast<float*>(dst.mem.get_data_handle());
      const size_t n = dst.mem.get_desc().get_size() / sizeof(float);
      for (size_t i = 0; i < n; ++i) y[i] = y[i] < 0.f ? 0.f : y[i];
    } else {
      execute(run, e.prim, args, e.nthr, e.id, e.split.get());
    }
    finish(run, dst, x.dims, e.id);
    if (outBound < HUGE_VAL) run.value(outputs[0]).absBound = outBound;  // Note [Known bounds]
  }

 private:
  std::shared_ptr<const Entry> entry(const RunValue& x) const {
    std::lock_guard<std::mutex> lock(cache_.mutex);
    for (const auto& e : cache_.entries) {
      if (e->x == x.dims && (x.md == nullptr ? !e->xmd : (e->xmd && *e->xmd == *x.md)) && e->cap == capKey()) return e;
    }
    auto e = std::make_shared<Entry>();
    e->cap = capKey();
    e->x = x.dims;
    if (x.md != nullptr) e->xmd = *x.md;
    const Md src = x.md != nullptr ? *x.md : plainMd(toDnnl(x.dims));
    auto flags = baseFlags();
    if (fuseRelu) flags = flags | dnnl::normalization_flags::fuse_norm_relu;
    e->nthr = teamFor(4.0 * static_cast<double>(x.dims.numElements()));
    setOmpThreads(e->nthr);
    dnnl::batch_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, src, epsilon, flags);
    e->pd = dnnl::batch_normalization_forward::primitive_desc(desc, userScratchpad(), dnnlEngine());
    e->prim = dnnl::batch_normalization_forward(e->pd);
    e->dst = e->pd.dst_desc();
    e->src = src;
    e->dstPlain = isPlain(e->dst, toDnnl(x.dims));
    if (cap() > 1 && (x.dims.d[0] > 1 || x.dims.rank >= 3) && e->dst == src) {
      const int cut = x.dims.d[0] > 1 ? 0 : 2;  // images of the batch, else rows
      e->split = SplitPrimitive::make(
          {{DNNL_ARG_SRC, src, cut}, {DNNL_ARG_DST, e->dst, cut}}, x.dims.d[cut], cap(),
          4.0 * static_cast<double>(x.dims.numElements()), kChunkWork,
          [&](const std::vector<Md>& sl, int64_t, int64_t) {
            dnnl::batch_normalization_forward::desc d(dnnl::prop_kind::forward_inference, sl[0], epsilon, flags);
            return dnnl::primitive(dnnl::batch_normalization_forward(
                dnnl::batch_normalization_forward::primitive_desc(d, userScratchpad(), dnnlEngine())));
          },
          implOf(e->prim));
    }
    return cache_.keep(std::move(e));
  }

  static dnnl::normalization_flags baseFlags() {
    return dnnl::normalization_flags::use_global_stats | dnnl::normalization_flags::use_scale |
           dnnl::normalization_flags::use_shift;
  }

  std::shared_ptr<const dnnl::batch_normalization_forward> safePrimitive(const Entry& e) const {
    std::lock_guard<std::mutex> lock(cache_.mutex);
    if (!e.safe) {
      setOmpThreads(e.nthr);
      dnnl::batch_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, e.src, epsilon, baseFlags());
      e.safe = std::make_shared<const dnnl::batch_normalization_forward>(
          dnnl::batch_normalization_forward::primitive_desc(desc, userScratchpad(), dnnlEngine()));
    }
    return e.safe;
  }

  mutable Cache<Entry> cache_;
};

// ============================================================================
// Layer normalization over the last dim (row-major in and out)

// oneDNN's layer_normalization (jit statistics and normalisation, one pass
// each over a row in cache) instead of the portable kernel: [128, 768] in
// 0.019 ms against ~0.07 ms on one thread; BERT and GPT-2 run 25 of them.
// Only a normalisation over the last dim (axis = rank - 1, what oneDNN
// normalises) with a scale and bias of exactly that many values; the rows
// are cut for threads > 1 like softmax's. NaN or an infinity in a row makes
// the row NaN as in the portable kernel (the mean is NaN).
class LayerNormStep final : public DnnlStep {
 public:
  float epsilon = 1e-5f;
  bool hasBias = false;

  struct Entry {
    int cap = 1;  // capKey() it was made for
    Dims x;
    dnnl::primitive prim;
    uint64_t id = 0;
    Md md, paramMd;
    std::shared_ptr<const SplitPrimitive> split;  // rows (Note [Split primitives])
  };

  void run(Run& run) const override {
    const RunValue& x = run.in(*this, 0);
    const RunValue& scale = run.in(*this, 1);
    SY_CPU_REQUIRE(x.dims.rank >= 1, SY_ERROR_INVALID_ARGUMENT, "layer_norm of a rank-0 value");
    const int64_t C = x.dims.d[x.dims.rank - 1];
    SY_CPU_REQUIRE(scale.dims.numElements() == C, SY_ERROR_INVALID_ARGUMENT, "scale ",
                   sdk::formatDims(scale.dims.ref()), " for a last dim of ", C);
    const RunValue* bias = hasBias ? &run.in(*this, 2) : nullptr;
    if (bias != nullptr) {
      SY_CPU_REQUIRE(bias->dims.numElements() == C, SY_ERROR_INVALID_ARGUMENT, "bias ",
                     sdk::formatDims(bias->dims.ref()), " for a last dim of ", C);
    }
    void* y = run.out(*this, 0, x.dims);
    if (x.dims.numElements() == 0) return;
    const std::shared_ptr<const Entry> entryPtr = entry(x.dims);
    const Entry& e = *entryPtr;
    if (e.id == 0) run.keepAlive(entryPtr);  // not cached: its descriptors must outlive this run
    ExecArgs args{{DNNL_ARG_SRC, reuse(e.id, kSrc, e.md, x.data)},
                  {DNNL_ARG_DST, reuse(e.id, kDst, e.md, y)},
                  {DNNL_ARG_SCALE, reuse(e.id, kScale, e.paramMd, const_cast<void*>(scale.data))}};
    if (bias != nullptr) args[DNNL_ARG_SHIFT] = reuse(e.id, kShift, e.paramMd, const_cast<void*>(bias->data));
    execute(run, e.prim, args, 1, e.id, e.split.get());
  }

 private:
  std::shared_ptr<const Entry> entry(const Dims& x) const {
    std::lock_guard<std::mutex> lock(cache_.mutex);
    for (const auto& e : cache_.entries) {
      if (e->x == x && e->cap == capKey()) return e;
    }
    auto e = std::make_shared<Entry>();
    e->cap = capKey();
    e->x = x;
    setOmpThreads(1);
    const int64_t C = x.d[x.rank - 1], rows = x.numElements() / C;
    e->md = plainMd({rows, C});
    e->paramMd = plainMd({C});
    const auto flags = hasBias ? dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift
                               : dnnl::normalization_flags::use_scale;
    auto make = [&](const Md& m) {
      dnnl::layer_normalization_forward::desc d(dnnl::prop_kind::forward_inference, m, epsilon, flags);
      return dnnl::primitive(dnnl::layer_normalization_forward(
          dnnl::layer_normalization_forward::primitive_desc(d, userScratchpad(), dnnlEngine())));
    };
    e->prim = make(e->md);
    if (cap() > 1) {
      // Work in matmul-flop equivalents (kChunkWork ~ 10 us of brgemm): ~0.19
      // ns an element here, so [128, 768] is cut in two.
      e->split = SplitPrimitive::make({{DNNL_ARG_SRC, e->md, 0}, {DNNL_ARG_DST, e->md, 0}}, rows, cap(),
                                      25.0 * static_cast<double>(x.numElements()), kChunkWork,
                                      [&](const std::vector<Md>& sl, int64_t, int64_t) { return make(sl[0]); },
                                      implOf(e->prim));
    }
    return cache_.keep(std::move(e));
  }

  mutable Cache<Entry> cache_;
};

// ============================================================================
// Softmax / log_softmax along one axis (row-major in and out)

class SoftmaxStep final : public DnnlStep {
 public:
  int64_t axis = -1;
  bool log = false;

  struct Entry {
    int cap = 1;  // capKey() it was made for
    Dims x;
    dnnl::primitive prim;
    int nthr = 1;
    uint64_t id = 0;
    Md md;
    std::shared_ptr<const SplitPrimitive> split;  // rows (Note [Split primitives])
  };

  void run(Run& run) const override {
    const RunValue& x = run.in(*this, 0);
    const int64_t rank = x.dims.rank;
    const int64_t a = axis < 0 ? axis + rank : axis;
    SY_CPU_REQUIRE(a >= 0 && a < rank, SY_ERROR_INVALID_ARGUMENT, "axis ", axis, " out of range for rank ", rank);
    // The scores die here (attention): y may be their memory (Note [In-place
    // residual sum] in region.cpp; oneDNN's softmax runs in place), halving
    // the bytes this memory-bound pass touches ([1, 12, 512, 512]: 12.6 MB).
    void* y = run.outReusing(*this, 0, x.dims, nullptr, 0);
    if (x.dims.numElements() == 0) return;
    // Note [softmax of non-finite rows]: oneDNN's row max drops NaN and its
    // exp differs from IEEE at +-inf. When the input holds NaN or +-inf (one
    // read pass to find out, before y may overwrite x), the result is
    // computed with the reference kernel's formula instead: NaN in a row, or
    // +inf, or a row of only -inf, makes the row NaN; -inf among finite
    // values gives 0 (log: -inf).
    if (anyNonFinite(x.data, static_cast<size_t>(x.dims.numElements()), false)) {
      referenceSoftmax(static_cast<const float*>(x.data), static_cast<float*>(y), x.dims, a);
      return;
    }
    const std::shared_ptr<const Entry> entryPtr = entry(x.dims, static_cast<int>(a));
    const Entry& e = *entryPtr;
    if (e.id == 0) run.keepAlive(entryPtr);  // not cached: its descriptors must outlive this run
    execute(run, e.prim, {{DNNL_ARG_SRC, reuse(e.id, kSrc, e.md, x.data)}, {DNNL_ARG_DST, reuse(e.id, kDst, e.md, y)}},
            e.nthr, e.id, e.split.get());
  }

  int inPlaceInput() const override { return 0; }

  /// (x and y may be one buffer: each element is read before it is written.)
  void referenceSoftmax(const float* x, float* y, const Dims& dims, int64_t a) const {
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < a; ++i) outer *= dims.d[i];
    for (int64_t i = a + 1; i < dims.rank; ++i) inner *= dims.d[i];
    const int64_t len = dims.d[a];
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t in = 0; in < inner; ++in) {
        const int64_t base = o * len * inner + in;
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t k = 0; k < len; ++k) {
          const double v = x[base + k * inner];
          if (std::isnan(v) || v > m) m = v;
          if (std::isnan(m)) break;
        }
        double sum = 0;
        for (int64_t k = 0; k < len; ++k) sum += std::exp(static_cast<double>(x[base + k * inner]) - m);
        const double logSum = std::log(sum);
        for (int64_t k = 0; k < len; ++k) {
          const double shifted = static_cast<double>(x[base + k * inner]) - m;
          y[base + k * inner] = static_cast<float>(log ? shifted - logSum : std::exp(shifted) / sum);
        }
      }
    }
  }

 private:
  std::shared_ptr<const Entry> entry(const Dims& x, int a) const {
    std::lock_guard<std::mutex> lock(cache_.mutex);
    for (const auto& e : cache_.entries) {
      if (e->x == x && e->cap == capKey()) return e;
    }
    auto e = std::make_shared<Entry>();
    e->cap = capKey();
    e->x = x;
    e->nthr = teamFor(8.0 * static_cast<double>(x.numElements()));
    setOmpThreads(e->nthr);
    // The same bytes as [outer, len, inner] with the axis in the middle, so
    // that the rows (outer) can be cut whatever the rank.
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < a; ++i) outer *= x.d[i];
    for (int i = a + 1; i < x.rank; ++i) inner *= x.d[i];
    const Md md = inner == 1 ? plainMd({outer, x.d[a]}) : plainMd({outer, x.d[a], inner});
    e->md = md;
    auto make = [&](const Md& m) {
      if (log) {
        dnnl::logsoftmax_forward::desc d(dnnl::prop_kind::forward_inference, m, 1);
        return dnnl::primitive(
            dnnl::logsoftmax_forward(dnnl::logsoftmax_forward::primitive_desc(d, userScratchpad(), dnnlEngine())));
      }
      dnnl::softmax_forward::desc d(dnnl::prop_kind::forward_inference, m, 1);
      return dnnl::primitive(
          dnnl::softmax_forward(dnnl::softmax_forward::primitive_desc(d, userScratchpad(), dnnlEngine())));
    };
    e->prim = make(md);
    if (cap() > 1) {
      // Work in matmul-flop equivalents (kChunkWork ~ 10 us of brgemm): an
      // exp and three passes, ~0.7 ns an element on one thread, so BERT's
      // [1536, 128] scores are cut in up to 4 chunks a thread, not left whole.
      e->split = SplitPrimitive::make({{DNNL_ARG_SRC, md, 0}, {DNNL_ARG_DST, md, 0}}, outer, cap(),
                                      40.0 * static_cast<double>(x.numElements()), kChunkWork,
                                      [&](const std::vector<Md>& sl, int64_t, int64_t) { return make(sl[0]); },
                                      implOf(e->prim));
    }
    return cache_.keep(std::move(e));
  }

  mutable Cache<Entry> cache_;
};

bool isRowBias(const sdk::ValueView& c, int64_t N) {
  // c broadcasts to [M, N] with the same value down each column: [], [1], [N], [1, 1], [1, N].
  if (!c.isStatic() || c.rank() > 2) return false;
  const auto d = c.dims();
  for (size_t i = 0; i + 1 < d.size(); ++i) {
    if (d[i] != 1) return false;
  }
  const int64_t last = d.empty() ? 1 : d[d.size() - 1];
  return last == 1 || (N >= 0 && last == N);
}

/// N of a matmul/gemm from static dims (-1 when unknown).
int64_t columnsOf(const sdk::NodeView& node) {
  const sdk::ValueView b = node.input(1);
  if (!b.hasRank() || b.rank() < 1) return -1;
  if (node.op() == "gemm") return node.attrInt("transB", 0) != 0 ? b.dim(0) : b.dim(1);
  return b.rank() == 1 ? -1 : b.dim(static_cast<size_t>(b.rank() - 1));
}

std::vector<float> rowBias(const sdk::ValueView& c, int64_t N, float scale) {
  const std::vector<float> v = copyFloats(c);
  std::vector<float> out(static_cast<size_t>(N));
  for (int64_t j = 0; j < N; ++j) out[static_cast<size_t>(j)] = scale * (v.size() == 1 ? v[0] : v[static_cast<size_t>(j)]);
  return out;
}

// ============================================================================
// Recurrent ops: lstm, gru, rnn
//
// Note [oneDNN recurrent steps]: the cases oneDNN computes as ONNX does (f32,
// default activations, no clip, no input_forget, no sequence_lens; see
// rnnWhyNot; constant peepholes are taken, in oneDNN's i, f, o order) run on lstm_forward / gru_forward /
// lbr_gru_forward / vanilla_rnn_forward. W, R and B are constants: at compile
// time they are put in oneDNN's order once (weights ldigo, gates LSTM i,f,c,o
// from ONNX's i,o,f,c; GRU u,r,o = ONNX z,r,h; bias Wb + Rb per gate, and for
// lbr_gru a 4th row Rbh with Wbh alone in the 3rd), and per input shape they
// are reordered into the layout the primitive asks for (cached with it).
// x, the states and Y are copied between ONNX's layouts and oneDNN's tnc /
// ldnc where they differ (layout 1, bidirectional Y): cheap next to the cell.
//
// Note [Recurrent weights at batch 1]: with weights of any layout oneDNN 2.6
// picks its brgemm RNN on AVX-512, which multiplies x by the input weights
// inside every time step: at batch 1 a product of one row that reads all of
// W (I * G * H floats) per step, memory-bound. Given plain ldigo weights it
// takes the gemm-based one instead, which multiplies all T steps' x at once
// (one T-row product) and only R per step. At batch 1 that is faster (a
// 2-layer LSTM, H 512, T 128, 1 thread: a layer with I = 512 14 against
// 16-19 ms, with I = 1024 17-18 against 37-38 ms); from batch 2 the brgemm
// one is (B 4: 31-41 against 50-55 ms), so larger batches keep it.

class RnnStep final : public DnnlStep {
 public:
  enum class Cell { Lstm, Gru, LbrGru, Vanilla };
  Cell cell = Cell::Lstm;
  dnnl::algorithm act = dnnl::algorithm::eltwise_tanh;  // vanilla only
  dnnl::rnn_direction dir = dnnl::rnn_direction::unidirectional_left2right;
  int64_t D = 1, H = 0, I = 0, G = 4;
  bool batchFirst = false;
  std::vector<float> wl, wi, bias;  // [1, D, I, G, H], [1, D, H, G, H] ldigo; [1, D, Gb, H] ldgo
  std::vector<float> peephole;       // lstm: [1, D, 3, H] ldgo (i, f, o), empty when absent
  std::unique_ptr<Kernel> fallback;  // the portable kernel, for empty x

  struct Entry {
    int cap = 1;
    int64_t T = 0, B = 0;
    dnnl::primitive prim;
    int nthr = 1;
    uint64_t id = 0;
    Md src, iter, iterC, dst, dstIter, dstIterC, biasMd, peepholeMd;
    memory wlMem, wiMem;
    std::shared_ptr<const SplitPrimitive> split;  // Note [Split recurrent steps]
  };

  bool lstm() const { return cell == Cell::Lstm; }
  int64_t biasGates() const { return cell == Cell::LbrGru ? 4 : G; }

  /// `v` present and not the empty "absent" marker.
  static bool given(Run& run, const Step& s, size_t i) {
    if (i >= s.inputs.size() || !run.has(s, i)) return false;
    return run.in(s, i).dims.numElements() > 0;
  }

  void run(Run& run) const override {
    const RunValue& x = run.in(*this, 0);
    SY_CPU_REQUIRE(x.dims.rank == 3 && x.dims.d[2] == I, SY_ERROR_INVALID_ARGUMENT, "x ",
                   sdk::formatDims(x.dims.ref()), " must be rank 3 with input size ", I);
    const int64_t T = batchFirst ? x.dims.d[1] : x.dims.d[0], B = batchFirst ? x.dims.d[0] : x.dims.d[1];
    if (T == 0 || B == 0) {
      runPortable(run);
      return;
    }
    const Dims yDims = batchFirst ? Dims::of({B, T, D, H}) : Dims::of({T, D, B, H});
    const Dims sDims = batchFirst ? Dims::of({B, D, H}) : Dims::of({D, B, H});
    const size_t nState = static_cast<size_t>(D * B * H);
    const bool h0 = given(run, *this, 5), c0 = lstm() && given(run, *this, 6);
    for (size_t i : {size_t{5}, size_t{6}}) {
      if (i == 6 && !c0) continue;
      if (i == 5 && !h0) continue;
      SY_CPU_REQUIRE(run.in(*this, i).dims == sDims, SY_ERROR_INVALID_ARGUMENT, i == 5 ? "initial_h " : "initial_c ",
                     sdk::formatDims(run.in(*this, i).dims.ref()), " must be ", sdk::formatDims(sDims.ref()));
    }
    std::shared_ptr<const Entry> entryPtr;
    try {
      entryPtr = entry(run, T, B);
    } catch (const dnnl::error&) {
      runPortable(run);  // a shape this oneDNN build has no implementation for
      return;
    }
    const Entry& e = *entryPtr;
    if (e.id == 0) run.keepAlive(entryPtr);
    float* y = static_cast<float*>(run.out(*this, 0, yDims));
    float* yh = static_cast<float*>(run.out(*this, 1, sDims));
    float* yc = lstm() ? static_cast<float*>(run.out(*this, 2, sDims)) : nullptr;

    // src_layer [T, B, I]
    const float* src = static_cast<const float*>(x.data);
    if (batchFirst) {
      float* t = static_cast<float*>(run.scratch(static_cast<size_t>(T * B * I) * sizeof(float)));
      for (int64_t b = 0; b < B; ++b)
        for (int64_t s = 0; s < T; ++s)
          std::memcpy(t + (s * B + b) * I, src + (b * T + s) * I, static_cast<size_t>(I) * sizeof(float));
      src = t;
    }
    // States [D, B, H] (ldnc with L = 1); absent ones are zero.
    auto stateIn = [&](size_t i, bool present) -> float* {
      float* t = static_cast<float*>(run.scratch(nState * sizeof(float)));
      if (!present) {
        std::memset(t, 0, nState * sizeof(float));
        return t;
      }
      const float* v = static_cast<const float*>(run.in(*this, i).data);
      if (!batchFirst) return const_cast<float*>(v);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t d = 0; d < D; ++d)
          std::memcpy(t + (d * B + b) * H, v + (b * D + d) * H, static_cast<size_t>(H) * sizeof(float));
      return t;
    };
    float* iter = stateIn(5, h0);
    float* iterC = lstm() ? stateIn(6, c0) : nullptr;
    // Y and the final states: straight into the outputs where the layouts agree.
    const bool yDirect = !batchFirst && D == 1;
    float* dst = yDirect ? y : static_cast<float*>(run.scratch(static_cast<size_t>(T * B * D * H) * sizeof(float)));
    float* dstIter = batchFirst ? static_cast<float*>(run.scratch(nState * sizeof(float))) : yh;
    float* dstIterC = !lstm() ? nullptr : batchFirst ? static_cast<float*>(run.scratch(nState * sizeof(float))) : yc;

    const dnnl::engine& eng = dnnlEngine();
    ExecArgs args{{DNNL_ARG_SRC_LAYER, memory(e.src, eng, const_cast<float*>(src))},
                  {DNNL_ARG_SRC_ITER, memory(e.iter, eng, iter)},
                  {DNNL_ARG_WEIGHTS_LAYER, e.wlMem},
                  {DNNL_ARG_WEIGHTS_ITER, e.wiMem},
                  {DNNL_ARG_BIAS, memory(e.biasMd, eng, const_cast<float*>(bias.data()))},
                  {DNNL_ARG_DST_LAYER, memory(e.dst, eng, dst)},
                  {DNNL_ARG_DST_ITER, memory(e.dstIter, eng, dstIter)}};
    if (lstm()) {
      args[DNNL_ARG_SRC_ITER_C] = memory(e.iterC, eng, iterC);
      args[DNNL_ARG_DST_ITER_C] = memory(e.dstIterC, eng, dstIterC);
      if (!peephole.empty())
        args[DNNL_ARG_WEIGHTS_PEEPHOLE] = memory(e.peepholeMd, eng, const_cast<float*>(peephole.data()));
    }
    execute(run, e.prim, args, e.nthr, 0, e.split.get());

    if (!yDirect) {
      // dst [T, B, D * H] -> Y [T, D, B, H] or [B, T, D, H]
      for (int64_t s = 0; s < T; ++s)
        for (int64_t b = 0; b < B; ++b)
          for (int64_t d = 0; d < D; ++d) {
            float* to = batchFirst ? y + ((b * T + s) * D + d) * H : y + ((s * D + d) * B + b) * H;
            std::memcpy(to, dst + ((s * B + b) * D + d) * H, static_cast<size_t>(H) * sizeof(float));
          }
    }
    if (batchFirst) {
      // [D, B, H] -> [B, D, H]
      auto back = [&](const float* from, float* to) {
        for (int64_t d = 0; d < D; ++d)
          for (int64_t b = 0; b < B; ++b)
            std::memcpy(to + (b * D + d) * H, from + (d * B + b) * H, static_cast<size_t>(H) * sizeof(float));
      };
      back(dstIter, yh);
      if (lstm()) back(dstIterC, yc);
    }
  }

 private:
  void runPortable(Run& run) const {
    SY_CPU_REQUIRE(fallback != nullptr, SY_ERROR_UNIMPLEMENTED, "empty x and no portable kernel");
    std::vector<Tensor> ins(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!run.has(*this, i)) continue;
      const RunValue& v = run.in(*this, i);
      ins[i] = Tensor{v.data, v.dtype, v.dims};
    }
    std::vector<Dims> dims(outputs.size());
    std::vector<Tensor> outs(outputs.size());
    fallback->outputShapes(ins.data(), ins.size(), dims.data(), dims.size());
    for (size_t o = 0; o < outputs.size(); ++o) outs[o] = Tensor{run.out(*this, o, dims[o]), SY_DTYPE_F32, dims[o]};
    fallback->run(ins.data(), ins.size(), outs.data(), outs.size(), run.exec());
  }

  std::shared_ptr<const Entry> entry(Run& run, int64_t T, int64_t B) const {
    std::lock_guard<std::mutex> lock(cache_.mutex);
    for (const auto& e : cache_.entries) {
      if (e->T == T && e->B == B && e->cap == capKey()) return e;
    }
    auto e = std::make_shared<Entry>();
    e->cap = capKey();
    e->T = T;
    e->B = B;
    e->nthr = teamFor(2.0 * static_cast<double>(T * B * D * G * H * (I + H)));
    setOmpThreads(e->nthr);
    using tag = memory::format_tag;
    const auto f32 = memory::data_type::f32;
    e->src = Md({T, B, I}, f32, tag::tnc);
    e->iter = Md({1, D, B, H}, f32, tag::ldnc);
    e->iterC = e->iter;
    e->dst = Md({T, B, D * H}, f32, tag::tnc);
    e->dstIter = e->iter;
    e->dstIterC = e->iter;
    e->biasMd = Md({1, D, biasGates(), H}, f32, tag::ldgo);
    e->peepholeMd = Md({1, D, 3, H}, f32, tag::ldgo);
    Md wlMd, wiMd;
    const tag weights = B == 1 ? tag::ldigo : tag::any;  // Note [Recurrent weights at batch 1]
    e->prim = makePrimitive(dir, e->src, e->iter, Md({1, D, I, G, H}, f32, weights),
                            Md({1, D, H, G, H}, f32, weights), e->biasMd, e->peepholeMd, e->dst, &wlMd, &wiMd);
    e->wlMem = memory(wlMd, dnnlEngine());
    e->wiMem = memory(wiMd, dnnlEngine());
    prepack(run.stream(), memory(Md({1, D, I, G, H}, f32, tag::ldigo), dnnlEngine(), const_cast<float*>(wl.data())),
            e->wlMem);
    prepack(run.stream(), memory(Md({1, D, H, G, H}, f32, tag::ldigo), dnnlEngine(), const_cast<float*>(wi.data())),
            e->wiMem);
    e->split = splitOf(*e, 2.0 * static_cast<double>(T * B * D * G * H * (I + H)));
    return cache_.keep(e);
  }

  /// The primitive for direction `d` on these descriptors (`iter` for every
  /// state, in and out); the weights layouts it wants in *wlOut, *wiOut.
  dnnl::primitive makePrimitive(dnnl::rnn_direction d, const Md& src, const Md& iter, const Md& wl, const Md& wi,
                                const Md& bias, const Md& peep, const Md& dst, Md* wlOut, Md* wiOut) const {
    const auto prop = dnnl::prop_kind::forward_inference;
    const dnnl::primitive_attr a = userScratchpad();
    auto done = [&](const auto& pd, auto prim) {
      *wlOut = pd.weights_layer_desc();
      *wiOut = pd.weights_iter_desc();
      return dnnl::primitive(prim);
    };
    switch (cell) {
      case Cell::Lstm: {
        const dnnl::lstm_forward::desc desc =
            peephole.empty()
                ? dnnl::lstm_forward::desc(prop, d, src, iter, iter, wl, wi, bias, dst, iter, iter)
                : dnnl::lstm_forward::desc(prop, d, src, iter, iter, wl, wi, peep, bias, dst, iter, iter);
        dnnl::lstm_forward::primitive_desc pd(desc, a, dnnlEngine());
        return done(pd, dnnl::lstm_forward(pd));
      }
      case Cell::Gru: {
        dnnl::gru_forward::primitive_desc pd(dnnl::gru_forward::desc(prop, d, src, iter, wl, wi, bias, dst, iter), a,
                                             dnnlEngine());
        return done(pd, dnnl::gru_forward(pd));
      }
      case Cell::LbrGru: {
        dnnl::lbr_gru_forward::primitive_desc pd(
            dnnl::lbr_gru_forward::desc(prop, d, src, iter, wl, wi, bias, dst, iter), a, dnnlEngine());
        return done(pd, dnnl::lbr_gru_forward(pd));
      }
      case Cell::Vanilla: {
        dnnl::vanilla_rnn_forward::primitive_desc pd(
            dnnl::vanilla_rnn_forward::desc(prop, act, d, src, iter, wl, wi, bias, dst, iter), a, dnnlEngine());
        return done(pd, dnnl::vanilla_rnn_forward(pd));
      }
    }
    SY_CPU_REQUIRE(false, SY_ERROR_INTERNAL, "unknown recurrent cell");
    return {};
  }

  // Note [Split recurrent steps]: an RNN primitive is serial over time, but
  // the sequences of a batch are independent, and so are the two directions
  // of a bidirectional one. At more than one thread the step is cut (Note
  // [Split primitives] in dnnl_split.cpp) into
  //  - chunks of the batch (B > 1): x, dst (tnc) and the states (ldnc) cut
  //    along their batch dim (strided slices, which oneDNN's rnn takes),
  //    weights and bias whole: the brgemm weights layout does not depend on
  //    the batch, so the chunks take the whole step's prepacked weights;
  //  - else the two directions (bidirectional, batch 1): one unidirectional
  //    primitive each (left to right, right to left), each with its
  //    direction's slice of the weights, bias, states and dst's channels,
  //    x whole.
  // One chunk per thread, not more: each time step re-reads the recurrent
  // weights (G * H * H floats, larger than L2 for real sizes), so a chunk of
  // several sequences costs little more than one; and the chunks run the
  // whole sequence, long enough that handing them out dynamically gains
  // nothing. Each chunk computes its sequences with the same kernels and
  // sums as the whole primitive: the same bits (cpu_rnn_test checks it).
  // One direction at batch 1 stays whole: its only parallelism is inside a
  // time step (the gate columns of a product of one row), which would need
  // a barrier per step on the pool, and oneDNN computes the input projection
  // of all steps inside the same primitive, so it cannot be cut off and
  // split alone.
  std::shared_ptr<const SplitPrimitive> splitOf(const Entry& e, double work) const {
    const int threads = cap();
    const bool debug = splitDebug();
    std::shared_ptr<const SplitPrimitive> split;
    const char* how = "whole";
    // minWork: at most `threads` chunks (SplitPrimitive floors work / minWork).
    const double minWork = std::max(kChunkWork, work / (threads + 0.5));
    const std::string impl = implOf(e.prim);
    const Md wl = e.wlMem.get_desc(), wi = e.wiMem.get_desc();
    if (threads > 1 && e.B > 1) {
      how = "batch";
      std::vector<SliceSpec> specs{{DNNL_ARG_SRC_LAYER, e.src, 1},
                                   {DNNL_ARG_DST_LAYER, e.dst, 1},
                                   {DNNL_ARG_SRC_ITER, e.iter, 2},
                                   {DNNL_ARG_DST_ITER, e.dstIter, 2}};
      if (lstm()) {
        specs.push_back({DNNL_ARG_SRC_ITER_C, e.iterC, 2});
        specs.push_back({DNNL_ARG_DST_ITER_C, e.dstIterC, 2});
      }
      split = SplitPrimitive::make(
          specs, e.B, threads, work, minWork,
          [&](const std::vector<Md>& sl, int64_t, int64_t) {
            Md wlOut, wiOut;
            dnnl::primitive p =
                makePrimitive(dir, sl[0], sl[2], wl, wi, e.biasMd, e.peepholeMd, sl[1], &wlOut, &wiOut);
            // (a packed gemm layout depends on the batch: then no split)
            if (!(wlOut == wl) || !(wiOut == wi)) throw dnnl::error(dnnl_unimplemented, "other weights layouts");
            return p;
          },
          impl);
    } else if (threads > 1 && D == 2) {
      how = "directions";
      const int64_t h = H;
      std::vector<SliceSpec> specs{{DNNL_ARG_WEIGHTS_LAYER, wl, 1},
                                   {DNNL_ARG_WEIGHTS_ITER, wi, 1},
                                   {DNNL_ARG_BIAS, e.biasMd, 1},
                                   {DNNL_ARG_SRC_ITER, e.iter, 1},
                                   {DNNL_ARG_DST_ITER, e.dstIter, 1},
                                   {DNNL_ARG_DST_LAYER, e.dst, 2,
                                    [h](int64_t d, int64_t n) { return std::make_pair(d * h, n * h); }}};
      if (lstm()) {
        specs.push_back({DNNL_ARG_SRC_ITER_C, e.iterC, 1});
        specs.push_back({DNNL_ARG_DST_ITER_C, e.dstIterC, 1});
        if (!peephole.empty()) specs.push_back({DNNL_ARG_WEIGHTS_PEEPHOLE, e.peepholeMd, 1});
      }
      split = SplitPrimitive::make(
          specs, 2, threads, work, std::max(kChunkWork, work / 2.5),
          [&](const std::vector<Md>& sl, int64_t d, int64_t) {
            const auto way = d == 0 ? dnnl::rnn_direction::unidirectional_left2right
                                    : dnnl::rnn_direction::unidirectional_right2left;
            Md wlOut, wiOut;  // the slices given: oneDNN takes them or throws
            return makePrimitive(way, e.src, sl[3], sl[0], sl[1], sl[2],
                                 lstm() && !peephole.empty() ? sl[8] : e.peepholeMd, sl[5], &wlOut, &wiOut);
          },
          impl, [](int64_t d, int64_t) { return std::vector<int64_t>{d}; });
    }
    if (debug)
      std::fprintf(stderr, "rnn split at %d threads: T %lld B %lld D %lld H %lld, %s, %zu chunks\n", threads,
                   static_cast<long long>(e.T), static_cast<long long>(e.B), static_cast<long long>(D),
                   static_cast<long long>(H), how, split ? split->numChunks() : size_t{0});
    return split;
  }

  mutable Cache<Entry> cache_;
};

}  // namespace

// ============================================================================
// Capability and builders

std::optional<Activation> activationOf(const sdk::NodeView& node) {
  const std::string_view op = node.op();
  if (node.numInputs() != 1 || node.numOutputs() != 1 || !node.hasInput(0) ||
      node.input(0).dtype() != SY_DTYPE_F32) {
    return std::nullopt;
  }
  using A = dnnl::algorithm;
  // Note [NaN in post-ops]: oneDNN 2.6's jit injectors compute relu with
  // alpha 0 as vmaxps(x, 0) and clip as vminps(vmaxps(x, lo), hi), which
  // turn NaN into 0 / lo; docs/ir.md says NaN propagates. Those are not
  // fused (they run in the elementwise chain, whose formulas keep NaN);
  // leaky_relu with alpha != 0 blends x * alpha under an unordered compare,
  // which keeps NaN, and stays fused. A conv's relu is fused all the same,
  // guarded at run time: Note [NaN-safe relu post-op].
  //
  // Note [NaN-safe relu post-op]: relu after a convolution is most of what
  // ResNets and MobileNets do besides convolutions, and as a separate pass it
  // costs a read and a write of the activation. oneDNN has no relu post-op that
  // keeps NaN cheaply: elu(alpha 0) followed by linear(1, 0) computes relu
  // exactly and keeps NaN (elu blends x back under x > 0, which is false for
  // NaN, so NaN goes through 0 * (exp(x) - 1); the linear turns elu's -0 into
  // +0), checked on brgconv, brgconv_1x1 and brdgmm_dw, but its exp costs more
  // than the separate pass (0.3 vs 0.1-0.2 ns per element here). So region.cpp
  // fuses a conv's relu as eltwise_relu (vmaxps), and ConvStep runs that
  // primitive only when no NaN can reach the relu: a conv's output is NaN only
  // where its input, its weights or bias, or the residual addend hold NaN or
  // inf, or where partial sums overflow to inf and meet one of the other sign.
  // At compile time the step takes weightBound = max over output channels of
  // sum |w| and biasBound = max |b| (inf when a weight or bias is not finite
  // or not constant); at run time one vectorised pass over x (and the addend)
  // finds max |x| (NaN and inf show as bit patterns above every finite
  // value); when max|x| * weightBound + biasBound (+ max|addend|, through the
  // linear post-ops before the relu) stays below 1e36, no partial sum can
  // overflow and the vmaxps primitive runs; otherwise the step makes (once)
  // and runs the same convolution with the relu as elu + linear.
  // cpu_plugin_test's ConvReluFusion* cases check NaN, -inf and huge inputs
  // against the reference interpreter; BatchNormStep does the same for
  // batch_norm + relu (fuse_norm_relu) with its own bound.
  if (op == "relu") return std::nullopt;
  if (op == "leaky_relu") {
    const double alpha = node.attrFloat("alpha", 0.01);
    if (alpha == 0.0) return std::nullopt;
    return Activation{A::eltwise_relu, static_cast<float>(alpha), 0.f};
  }
  if (op == "sigmoid") return Activation{A::eltwise_logistic, 0.f, 0.f};
  if (op == "tanh") return Activation{A::eltwise_tanh, 0.f, 0.f};
  // The IR's silu and gelu ops are -0 at -inf (docs/ir.md), where oneDNN's
  // eltwise_swish and eltwise_gelu_* compute -inf * 0 = NaN: they stay
  // elementwise steps (elementwise.cpp keeps the -0), which a product's -inf
  // output reaches through any NaN-free input. The x * sigmoid(x) and erf
  // forms PyTorch exports are NaN at -inf in the reference too, and fuse
  // (matchGatedActivation, matchGeluErf and matchGeluTanh in region.cpp).
  if (op == "silu" || op == "gelu") return std::nullopt;
  if (op == "clip") return std::nullopt;  // Note [NaN in post-ops]
  return std::nullopt;
}

std::string dnnlWhyNot(const sdk::NodeView& node) {
  const std::string_view op = node.op();
  if (op == "conv") {
    if (node.numInputs() < 2 || node.numInputs() > 3) return "unexpected number of inputs";
    const bool hasB = node.numInputs() == 3 && node.hasInput(2);
    if (!allF32(node, 0, hasB ? 3 : 2)) return "oneDNN path takes f32";
    const int32_t r = node.input(0).rank();
    if (r < 3 || r > 5 || node.input(1).rank() != r) return "oneDNN conv takes 1-D to 3-D";
    if (node.attrInt("group", 1) < 1) return "group < 1";
    if (!node.input(1).isStatic()) return "conv weights need a static shape";
    const std::vector<int64_t> k = node.attrInts("kernel_shape");
    const auto wd = node.input(1).dims();
    for (size_t i = 0; i < k.size() && i + 2 < wd.size(); ++i) {
      if (k[i] != wd[i + 2]) return "kernel_shape differs from the weights";
    }
    if (wd[0] % node.attrInt("group", 1) != 0) return "group does not divide M";
    return windowAttrsWhyNot(node, static_cast<size_t>(r - 2), false);
  }
  if (op == "matmul") {
    if (node.numInputs() != 2 || !allF32(node, 0, 2)) return "oneDNN path takes f32";
    if (node.input(0).rank() < 1 || node.input(1).rank() < 1) return "rank-0 operand";
    if (node.input(0).rank() > 12 || node.input(1).rank() > 12) return "rank above 12";
    return "";
  }
  if (op == "gemm") {
    if (node.numInputs() < 2 || node.numInputs() > 3) return "unexpected number of inputs";
    const bool hasC = node.numInputs() == 3 && node.hasInput(2);
    if (!allF32(node, 0, hasC ? 3 : 2)) return "oneDNN path takes f32";
    if (node.input(0).rank() != 2 || node.input(1).rank() != 2) return "gemm needs 2-D a and b";
    if (hasC && node.input(2).rank() > 2) return "gemm's c has rank above 2";
    return "";
  }
  if (op == "max_pool" || op == "avg_pool") {
    if (node.numInputs() != 1 || node.numOutputs() != 1 || !allF32(node, 0, 1)) return "oneDNN path takes f32";
    const int32_t r = node.input(0).rank();
    if (r < 3 || r > 5) return "oneDNN pooling takes 1-D to 3-D";
    const std::string why = windowAttrsWhyNot(node, static_cast<size_t>(r - 2), true);
    if (!why.empty()) return why;
    if (op == "avg_pool") {
      for (int64_t d : node.attrInts("dilations")) {
        if (d != 1) return "dilated average pooling";
      }
      if (node.attrInt("count_include_pad", 0) != 0 && node.attrInt("ceil_mode", 0) != 0) {
        return "count_include_pad with ceil_mode";
      }
    }
    return "";
  }
  if (op == "global_avg_pool" || op == "global_max_pool") {
    if (node.numInputs() != 1 || node.numOutputs() != 1 || !allF32(node, 0, 1)) return "oneDNN path takes f32";
    const int32_t r = node.input(0).rank();
    if (r < 3 || r > 5) return "oneDNN pooling takes 1-D to 3-D";
    return "";
  }
  if (op == "layer_norm") {
    const bool hasBias = node.numInputs() == 3 && node.hasInput(2);
    if (node.numInputs() < 2 || node.numInputs() > 3 || node.numOutputs() != 1 || !allF32(node, 0, hasBias ? 3 : 2))
      return "oneDNN path takes f32";
    const int64_t r = node.input(0).rank(), axis = node.attrInt("axis", -1);
    if (r < 1) return "oneDNN layer_norm takes rank >= 1";
    if (axis != -1 && axis != r - 1) return "oneDNN layer_norm normalises the last dim only";
    const int64_t C = node.input(0).dim(static_cast<size_t>(r - 1));
    if (C <= 0) return "the last dim must be static and not empty";
    for (size_t i = 1; i < (hasBias ? 3u : 2u); ++i) {
      if (!node.input(i).isStatic() || node.input(i).numElements() != C) return "scale and bias of the last dim's size";
    }
    const double eps = node.attrFloat("epsilon", 1e-5);
    if (!(eps >= 0) || eps > 3e38) return "epsilon out of range";
    return "";
  }
  if (op == "softmax" || op == "log_softmax") {
    if (node.numInputs() != 1 || node.numOutputs() != 1 || !allF32(node, 0, 1)) return "oneDNN path takes f32";
    const int64_t r = node.input(0).rank(), axis = node.attrInt("axis", -1);
    if (r < 1 || r > 12) return "oneDNN softmax takes rank 1 to 12";
    if (axis < -r || axis >= r) return "axis out of range";
    return "";
  }
  if (op == "mul" || op == "add") {
    return perChannelOperand(node) >= 0 ? "" : "not a per-channel scaling (the elementwise chains take it)";
  }
  if (op == "batch_norm") {
    if (node.numInputs() != 5 || !allF32(node, 0, 5)) return "oneDNN path takes f32";
    const int32_t r = node.input(0).rank();
    if (r < 2 || r > 5) return "oneDNN batch_norm takes rank 2 to 5";
    if (node.attrFloat("epsilon", 1e-5) < 0) return "negative epsilon";
    return "";
  }
  return "no oneDNN path";
}

double dnnlCost(const sdk::NodeView& node) {
  auto elements = [](const sdk::ValueView& v) {
    double e = 1;
    for (int64_t d : v.dims()) e *= d >= 0 ? static_cast<double>(d) : 1.0;
    return e;
  };
  const double out = elements(node.output(0));
  const std::string_view op = node.op();
  double flops = out;
  if (op == "conv") {
    const auto w = node.input(1).dims();
    double k = 1;
    for (size_t i = 1; i < w.size(); ++i) k *= w[i] >= 0 ? static_cast<double>(w[i]) : 1.0;
    flops = 2 * out * k;
  } else if (op == "matmul" || op == "gemm") {
    const sdk::ValueView a = node.input(0);
    const int64_t K = a.rank() > 0 ? a.dim(static_cast<size_t>(a.rank() - 1)) : 1;
    const int64_t Kg = op == "gemm" && node.attrInt("transA", 0) != 0 && a.rank() == 2 ? a.dim(0) : K;
    flops = 2 * out * (Kg >= 0 ? static_cast<double>(Kg) : 64.0);
  } else if (op == "max_pool" || op == "avg_pool") {
    double k = 1;
    for (int64_t v : node.attrInts("kernel_shape")) k *= static_cast<double>(v);
    flops = out * k;
  } else if (op == "global_avg_pool" || op == "global_max_pool") {
    flops = elements(node.input(0));
  } else if (op == "softmax" || op == "log_softmax" || op == "layer_norm") {
    flops = 8 * out;
  }
  return flops * 2e-11 + out * 5e-10;
}

bool dnnlCanFoldBn(const sdk::NodeView& conv, const sdk::NodeView& bn) {
  if (dnnlWhyNot(bn) != "") return false;
  if (!constantF32Value(conv.input(1))) return false;
  if (conv.numInputs() == 3 && conv.hasInput(2) && !constantF32Value(conv.input(2))) return false;
  const int64_t M = conv.input(1).dim(0);
  for (size_t i = 1; i < 5; ++i) {
    if (!constantF32Value(bn.input(i)) || bn.input(i).numElements() != M) return false;
  }
  return true;
}

bool dnnlCanTakePostOps(const sdk::NodeView& node) {
  if (node.op() != "gemm") return true;
  // A c that is not a constant row bias is copied into dst and summed with beta: no room for more.
  const bool hasC = node.numInputs() == 3 && node.hasInput(2);
  if (!hasC) return true;
  const sdk::ValueView c = node.input(2);
  const bool alphaOk = node.attrFloat("alpha", 1.0) == 1.0 || constantF32Value(node.input(1));
  return constantF32Value(c) && isRowBias(c, columnsOf(node)) && alphaOk;
}

bool dnnlCanTakeBias(const sdk::NodeView& node, const DnnlFusion& fusion, const sdk::NodeView& add, int biasOperand) {
  if (fusion.biasAdd || !fusion.postOps.empty()) return false;
  const sdk::ValueView b = add.input(static_cast<size_t>(biasOperand));
  const int64_t N = columnsOf(node);
  if (N < 0 || !constantF32Value(b) || b.numElements() != N) return false;
  // The bias must broadcast along the last dim only: [N] or [1, ..., N], and not widen the output's rank.
  for (size_t i = 0; i + 1 < b.dims().size(); ++i) {
    if (b.dim(i) != 1) return false;
  }
  if (b.dims().empty() || b.dim(b.dims().size() - 1) != N) return false;
  if (b.rank() > node.output(0).rank()) return false;
  if (node.op() == "gemm") {
    if (node.numInputs() == 3 && node.hasInput(2)) return false;
    if (node.attrFloat("alpha", 1.0) != 1.0 && !constantF32Value(node.input(1))) return false;
  }
  return true;
}

std::unique_ptr<Step> makeDnnlStep(const sdk::NodeView& node, const DnnlFusion& fusion,
                                   const std::vector<int32_t>& ids, const std::vector<ValueInfo>& /*info*/,
                                   int threads) {
  const std::string_view op = node.op();
  auto id = [&](size_t i) { return ids[static_cast<size_t>(node.input(i).index())]; };
  const bool fused = fusion.foldedBn || fusion.biasAdd || !fusion.postOps.empty() || fusion.permutedSource[0] >= 0 ||
                     fusion.permutedSource[1] >= 0 || !fusion.outPerm.empty();
  std::unique_ptr<Kernel> fallback = fused ? nullptr : portableKernelOrNull(node);
  if (op == "conv") {
    auto s = std::make_unique<ConvStep>();
    s->threads = threads;
    const sdk::ValueView w = node.input(1);
    const int32_t r = node.input(0).rank();
    s->nsp = static_cast<size_t>(r - 2);
    s->group = node.attrInt("group", 1);
    s->outChannels = w.dim(0);
    s->weightDims = w.dims().vec();
    s->kernel.assign(w.dims().begin() + 2, w.dims().end());
    s->strides = orOnes(node.attrInts("strides"), s->nsp);
    s->dilations = orOnes(node.attrInts("dilations"), s->nsp);
    s->pads = node.attrInts("pads");
    s->autoPad = node.attrString("auto_pad", "NOTSET");
    s->inputs.push_back(id(0));
    const bool hasB = node.numInputs() == 3 && node.hasInput(2);
    s->hasBias = hasB || fusion.foldedBn.has_value();
    s->constWeights = constantF32Value(w);
    if (s->constWeights) {
      s->weights = copyFloats(w);
      s->wInput = -1;
    } else {
      s->wInput = static_cast<int>(s->inputs.size());
      s->inputs.push_back(id(1));
    }
    if (hasB) {
      s->constBias = constantF32Value(node.input(2));
      if (s->constBias) {
        s->bias = copyFloats(node.input(2));
      } else {
        s->bInput = static_cast<int>(s->inputs.size());
        s->inputs.push_back(id(2));
      }
    }
    if (fusion.foldedBn) {
      const sdk::NodeView& bn = *fusion.foldedBn;
      const std::vector<float> gamma = copyFloats(bn.input(1)), beta = copyFloats(bn.input(2)),
                               mean = copyFloats(bn.input(3)), var = copyFloats(bn.input(4));
      const double eps = bn.attrFloat("epsilon", 1e-5);
      const size_t M = static_cast<size_t>(s->outChannels);
      if (s->bias.empty()) s->bias.assign(M, 0.f);
      s->constBias = true;
      const size_t per = s->weights.size() / M;
      for (size_t m = 0; m < M; ++m) {
        const double scale = gamma[m] / std::sqrt(static_cast<double>(var[m]) + eps);
        for (size_t k = 0; k < per; ++k) s->weights[m * per + k] = static_cast<float>(s->weights[m * per + k] * scale);
        s->bias[m] = static_cast<float>((s->bias[m] - mean[m]) * scale + beta[m]);
      }
    }
    s->postOps = postOpsOf(fusion, s->inputs);
    s->fallback = std::move(fallback);
    // Note [NaN-safe relu post-op]: the bounds the run-time check needs.
    for (size_t i = 0; i < s->postOps.size(); ++i) {
      const DnnlStep::PostOp& p = s->postOps[i];
      if (p.sumInput >= 0) {
        s->boundD += 1;
      } else if (p.alg == dnnl::algorithm::eltwise_relu && p.alpha == 0.f) {
        s->guardedRelu = true;
        s->outputBounded = s->boundKnown && i + 1 == s->postOps.size();
        break;
      } else if (p.alg == dnnl::algorithm::eltwise_linear) {
        s->boundA *= std::fabs(p.alpha);
        s->boundC = std::fabs(p.alpha) * s->boundC + std::fabs(p.beta);
        s->boundD *= std::fabs(p.alpha);
      } else {
        s->boundKnown = false;  // (activations before a relu: none of the matched patterns)
      }
    }
    // Note [Known bounds]: also a conv without relu whose post-ops are sums and linear ones.
    if (!s->guardedRelu) s->outputBounded = s->boundKnown;
    if ((s->guardedRelu || s->outputBounded) && s->constWeights && (!hasB || s->constBias)) {
      const size_t M = static_cast<size_t>(s->outChannels), per = s->weights.size() / std::max<size_t>(M, 1);
      s->boundSlack = 1 + (static_cast<double>(per) + 8) * 0x1p-23;
      double worst = 0, worstBias = 0;
      for (size_t m = 0; m < M; ++m) {
        double sum = 0;
        for (size_t k = 0; k < per; ++k) sum += std::fabs(static_cast<double>(s->weights[m * per + k]));
        const double b = s->bias.empty() ? 0.0 : std::fabs(static_cast<double>(s->bias[m]));
        // (NaN weights or bias make these NaN, which max() would skip: inf instead.)
        worst = std::isfinite(sum) ? std::max(worst, sum) : INFINITY;
        worstBias = std::isfinite(b) ? std::max(worstBias, b) : INFINITY;
      }
      s->weightBound = std::isfinite(worstBias) ? worst : INFINITY;
      s->biasBound = worstBias;
    }
    // Note [Winograd convolutions]: 3x3, stride 1, no dilation, dense, 64+
    // channels in and out (where it measured faster), only behind the relu guard;
    // SY_CPU_WINOGRAD is read here, at compile.
    const auto all = [](const std::vector<int64_t>& v, int64_t x) {
      return std::all_of(v.begin(), v.end(), [x](int64_t e) { return e == x; });
    };
    s->winogradOk = s->nsp == 2 && all(s->kernel, 3) && all(s->strides, 1) && all(s->dilations, 1) &&
                    s->group == 1 && s->guardedRelu && s->boundKnown && s->constWeights &&
                    std::isfinite(s->weightBound) && s->weightDims.size() == 4 && s->weightDims[0] >= 64 &&
                    s->weightDims[1] >= 64 && winogradEnabled();
    return s;
  }
  if (op == "matmul" || op == "gemm") {
    auto s = std::make_unique<MatmulStep>();
    s->threads = threads;
    s->gemm = op == "gemm";
    s->transA = s->gemm && node.attrInt("transA", 0) != 0;
    s->transB = s->gemm && node.attrInt("transB", 0) != 0;
    s->alpha = s->gemm ? static_cast<float>(node.attrFloat("alpha", 1.0)) : 1.f;
    s->beta = s->gemm ? static_cast<float>(node.attrFloat("beta", 1.0)) : 1.f;
    s->inputs.push_back(id(0));
    const sdk::ValueView b = node.input(1);
    s->constWeights = constantF32Value(b);
    if (s->constWeights) {
      s->weights = copyFloats(b);
      s->weightDims = b.dims().vec();
      if (s->transB) {
        // Store b as [K, N] row-major: the entry's md is then plain.
        const int64_t N = s->weightDims[0], K = s->weightDims[1];
        std::vector<float> t(s->weights.size());
        for (int64_t n = 0; n < N; ++n) {
          for (int64_t k = 0; k < K; ++k) t[static_cast<size_t>(k * N + n)] = s->weights[static_cast<size_t>(n * K + k)];
        }
        s->weights = std::move(t);
        s->weightDims = {K, N};
        s->transB = false;
      }
      if (s->alpha != 1.f) {
        for (float& v : s->weights) v *= s->alpha;
        s->alpha = 1.f;
      }
    } else {
      s->inputs.push_back(id(1));
    }
    const bool hasC = s->gemm && node.numInputs() == 3 && node.hasInput(2);
    if (hasC) {
      const sdk::ValueView c = node.input(2);
      const int64_t N = columnsOf(node);
      if (s->alpha == 1.f && constantF32Value(c) && isRowBias(c, N) && N >= 0) {
        s->bias = rowBias(c, N, s->beta);
      } else {
        s->cInput = static_cast<int>(s->inputs.size());
        s->inputs.push_back(id(2));
      }
    }
    if (fusion.biasAdd) s->bias = copyFloats(fusion.biasAdd->input(static_cast<size_t>(fusion.biasAddOperand)));
    s->viewDims = fusion.viewDims;
    for (size_t i = 0; i < 2; ++i) {
      if (fusion.permutedSource[i] < 0) continue;
      s->inputs[i] = ids[static_cast<size_t>(fusion.permutedSource[i])];  // (b is not a constant here)
      s->perm[i] = fusion.inputPerm[i];
    }
    s->outPerm = fusion.outPerm;
    s->useScale = s->alpha != 1.f;
    s->postOps = postOpsOf(fusion, s->inputs);
    for (size_t k = 0; k < s->postOps.size(); ++k) {
      if (s->postOps[k].addInput < 0) continue;
      s->addInput = s->postOps[k].addInput;
      s->addPostOp = static_cast<int>(k) + (s->cInput >= 0 ? 1 : 0);  // (c is a sum post-op first)
    }
    s->fallback = std::move(fallback);
    // A constant b that was transposed at compile time is stored [K, N]; keep the
    // entry's dims check consistent with a runtime-b gemm (transB now false).
    return s;
  }
  if (op == "max_pool" || op == "avg_pool" || op == "global_avg_pool" || op == "global_max_pool") {
    auto s = std::make_unique<PoolStep>();
    s->threads = threads;
    s->max = op == "max_pool" || op == "global_max_pool";
    s->global = op == "global_avg_pool" || op == "global_max_pool";
    if (!s->global) {
      s->kernel = node.attrInts("kernel_shape");
      s->strides = node.attrInts("strides");
      s->dilations = node.attrInts("dilations");
      s->pads = node.attrInts("pads");
      s->autoPad = node.attrString("auto_pad", "NOTSET");
      s->ceilMode = node.attrInt("ceil_mode", 0) != 0;
      s->countIncludePad = node.attrInt("count_include_pad", 0) != 0;
    }
    s->inputs.push_back(id(0));
    return s;
  }
  if (op == "mul" || op == "add") {
    auto s = std::make_unique<BinaryStep>();
    s->threads = threads;
    s->alg = op == "mul" ? dnnl::algorithm::binary_mul : dnnl::algorithm::binary_add;
    s->big = static_cast<size_t>(perChannelOperand(node));
    s->inputs = {id(0), id(1)};
    return s;
  }
  if (op == "layer_norm") {
    auto s = std::make_unique<LayerNormStep>();
    s->threads = threads;
    s->epsilon = static_cast<float>(node.attrFloat("epsilon", 1e-5));
    s->hasBias = node.numInputs() == 3 && node.hasInput(2);
    for (size_t i = 0; i < (s->hasBias ? 3u : 2u); ++i) s->inputs.push_back(id(i));
    return s;
  }
  if (op == "softmax" || op == "log_softmax") {
    auto s = std::make_unique<SoftmaxStep>();
    s->threads = threads;
    s->axis = node.attrInt("axis", -1);
    s->log = op == "log_softmax";
    s->inputs.push_back(id(0));
    return s;
  }
  if (op == "batch_norm") {
    auto s = std::make_unique<BatchNormStep>();
    s->threads = threads;
    s->epsilon = static_cast<float>(node.attrFloat("epsilon", 1e-5));
    s->fuseRelu = !fusion.postOps.empty();
    for (size_t i = 0; i < 5; ++i) s->inputs.push_back(id(i));
    return s;
  }
  sdk::fail(SY_ERROR_INTERNAL, node.describe(), ": no oneDNN step");
}


// ---- recurrent ops (Note [oneDNN recurrent steps])

namespace {
int64_t rnnGates(std::string_view op) { return op == "lstm" ? 4 : op == "gru" ? 3 : 1; }
/// Input `i` given and not the empty "absent" marker (for a static empty value).
bool rnnInputGiven(const sdk::NodeView& node, size_t i) {
  if (i >= node.numInputs() || !node.hasInput(i)) return false;
  const sdk::ValueView v = node.input(i);
  return !(v.isStatic() && v.numElements() == 0);
}
}  // namespace

std::string rnnWhyNot(const sdk::NodeView& node) {
  const std::string_view op = node.op();
  if (op != "lstm" && op != "gru" && op != "rnn") return "no oneDNN path";
  if (node.numInputs() < 3 || !node.hasInput(0) || !node.hasInput(1) || !node.hasInput(2)) return "missing inputs";
  for (size_t o = 0; o < node.numOutputs(); ++o) {
    if (node.output(o).dtype() != SY_DTYPE_F32) return "oneDNN path takes f32";
  }
  const sdk::ValueView x = node.input(0), w = node.input(1), r = node.input(2);
  if (x.dtype() != SY_DTYPE_F32 || !x.hasRank() || x.rank() != 3) return "oneDNN path takes f32 x of rank 3";
  if (!constantF32Value(w) || !constantF32Value(r)) return "w and r must be f32 constants";
  if (w.rank() != 3 || r.rank() != 3) return "w and r must have rank 3";
  const std::string direction = node.attrString("direction", "forward");
  const int64_t D = direction == "bidirectional" ? 2 : 1, G = rnnGates(op);
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional") return "unknown direction";
  const int64_t H = r.dim(2), I = w.dim(2);
  if (H < 1 || I < 1 || w.dim(0) != D || r.dim(0) != D || w.dim(1) != G * H || r.dim(1) != G * H)
    return "w or r does not match direction and hidden size";
  if (node.attrInt("hidden_size", 0) != 0 && node.attrInt("hidden_size", 0) != H) return "hidden_size differs from r";
  if (x.dim(2) >= 0 && x.dim(2) != I) return "x's input size differs from w";
  const int64_t layout = node.attrInt("layout", 0);
  if (layout != 0 && layout != 1) return "unknown layout";
  if (rnnInputGiven(node, 3)) {
    if (!constantF32Value(node.input(3)) || node.input(3).numElements() != D * 2 * G * H) return "b is not a constant";
  }
  if (rnnInputGiven(node, 4)) return "sequence_lens given (oneDNN runs every sequence to the end)";
  for (size_t i : {size_t{5}, size_t{6}}) {
    if (rnnInputGiven(node, i) && node.input(i).dtype() != SY_DTYPE_F32) return "states must be f32";
  }
  if (rnnInputGiven(node, 7) && (!constantF32Value(node.input(7)) || node.input(7).numElements() != D * 3 * H))
    return "p is not a constant";
  if (node.hasAttr("clip")) return "clip";
  if (op == "lstm" && node.attrInt("input_forget", 0) != 0) return "input_forget";
  if (!node.attrFloats("activation_alpha").empty() || !node.attrFloats("activation_beta").empty())
    return "activation parameters";
  const std::vector<std::string> acts = node.attrStrings("activations");
  if (!acts.empty()) {
    const std::vector<std::string> want = op == "lstm"  ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
                                          : op == "gru" ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                                        : std::vector<std::string>{acts[0]};
    if (op == "rnn" && acts[0] != "Tanh" && acts[0] != "Relu") return "rnn activation other than Tanh or Relu";
    if (acts.size() != want.size() * static_cast<size_t>(D)) return "activations count";
    for (size_t i = 0; i < acts.size(); ++i) {
      if (acts[i] != want[i % want.size()]) return "activations other than the defaults";
    }
  }
  return "";
}

std::unique_ptr<Step> makeRnnStep(const sdk::NodeView& node, int threads) {
  auto s = std::make_unique<RnnStep>();
  const std::string_view op = node.op();
  s->threads = threads;
  const std::string direction = node.attrString("direction", "forward");
  s->D = direction == "bidirectional" ? 2 : 1;
  s->dir = direction == "bidirectional" ? dnnl::rnn_direction::bidirectional_concat
           : direction == "reverse"     ? dnnl::rnn_direction::unidirectional_right2left
                                        : dnnl::rnn_direction::unidirectional_left2right;
  s->G = rnnGates(op);
  s->cell = op == "lstm"                                  ? RnnStep::Cell::Lstm
            : op == "rnn"                                 ? RnnStep::Cell::Vanilla
            : node.attrInt("linear_before_reset", 0) != 0 ? RnnStep::Cell::LbrGru
                                                          : RnnStep::Cell::Gru;
  const std::vector<std::string> acts = node.attrStrings("activations");
  s->act = op == "rnn" && !acts.empty() && acts[0] == "Relu" ? dnnl::algorithm::eltwise_relu
                                                             : dnnl::algorithm::eltwise_tanh;
  s->batchFirst = node.attrInt("layout", 0) == 1;
  const std::vector<float> w = copyFloats(node.input(1)), r = copyFloats(node.input(2));
  const int64_t D = s->D, G = s->G, H = node.input(2).dim(2), I = node.input(1).dim(2);
  s->H = H;
  s->I = I;
  // oneDNN gate g holds ONNX gate onnx[g]: LSTM i, f, c, o from i, o, f, c; GRU u, r, o = z, r, h.
  const std::vector<int64_t> onnx = op == "lstm"  ? std::vector<int64_t>{0, 2, 3, 1}
                                    : op == "gru" ? std::vector<int64_t>{0, 1, 2}
                                                  : std::vector<int64_t>{0};
  auto ldigo = [&](const std::vector<float>& src, int64_t in) {
    std::vector<float> out(static_cast<size_t>(D * in * G * H));
    for (int64_t d = 0; d < D; ++d)
      for (int64_t g = 0; g < G; ++g)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t i = 0; i < in; ++i)
            out[static_cast<size_t>(((d * in + i) * G + g) * H + h)] =
                src[static_cast<size_t>(((d * G + onnx[static_cast<size_t>(g)]) * H + h) * in + i)];
    return out;
  };
  s->wl = ldigo(w, I);
  s->wi = ldigo(r, H);
  const int64_t Gb = s->biasGates();
  s->bias.assign(static_cast<size_t>(D * Gb * H), 0.f);
  if (rnnInputGiven(node, 3)) {
    const std::vector<float> b = copyFloats(node.input(3));  // [D, 2 * G * H]: Wb then Rb
    for (int64_t d = 0; d < D; ++d)
      for (int64_t g = 0; g < G; ++g)
        for (int64_t h = 0; h < H; ++h) {
          const int64_t og = onnx[static_cast<size_t>(g)];
          const float wb = b[static_cast<size_t>(d * 2 * G * H + og * H + h)];
          const float rb = b[static_cast<size_t>(d * 2 * G * H + (G + og) * H + h)];
          if (s->cell == RnnStep::Cell::LbrGru && g == 2) {
            s->bias[static_cast<size_t>((d * Gb + 2) * H + h)] = wb;
            s->bias[static_cast<size_t>((d * Gb + 3) * H + h)] = rb;
          } else {
            s->bias[static_cast<size_t>((d * Gb + g) * H + h)] = wb + rb;
          }
        }
  }
  if (rnnInputGiven(node, 7)) {
    // ONNX p [D, 3 * H] holds i, o, f; oneDNN's peephole weights i, f, o.
    const std::vector<float> p = copyFloats(node.input(7));
    s->peephole.resize(p.size());
    const int64_t from[3] = {0, 2, 1};
    for (int64_t d = 0; d < D; ++d)
      for (int64_t g = 0; g < 3; ++g)
        for (int64_t h = 0; h < H; ++h)
          s->peephole[static_cast<size_t>((d * 3 + g) * H + h)] = p[static_cast<size_t>((d * 3 + from[g]) * H + h)];
  }
  bindInputs(node, s->inputs);
  for (size_t o = 0; o < node.numOutputs(); ++o) s->outputs.push_back(node.output(o).index());
  s->fallback = portableKernelOrNull(node);
  return s;
}

// ---- matmul_integer (Note [oneDNN int8 matmul])
//
// Note [oneDNN int8 matmul]: matmul_integer with u8 or i8 `a` and i8 `b`
// runs on dnnl::matmul with an s32 destination: the result is exact (s32
// accumulation, the same wrapping-free sums the portable kernel makes for
// any K below 2^15). Per-tensor zero points (one element, any value, given
// at run time) go to the primitive as runtime s32 zero points (mask 0); a
// per-row / per-column zero point, u8 `b` (no u8 weights in oneDNN 2.6's
// CPU matmul), 1-D operands or a batched `b` whose batch is not `a`'s stay
// on the portable kernel. Only on CPUs with VNNI: without it oneDNN's int8
// kernels sum pairs of u8*s8 products in saturating 16 bits, which is not
// exact. A constant `b` is reordered into the primitive's layout once per
// entry (`packed`, shared across entries).

namespace {

bool cpuHasVnni() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  return isa == dnnl::cpu_isa::avx512_core_vnni || isa == dnnl::cpu_isa::avx512_core_bf16 ||
         isa == dnnl::cpu_isa::avx512_core_amx || isa == dnnl::cpu_isa::avx2_vnni;
}

bool oneElementZp(const sdk::NodeView& node, size_t i) {
  if (i >= node.numInputs() || !node.hasInput(i)) return true;
  const sdk::ValueView v = node.input(i);
  return v.hasRank() && v.rank() <= 1 && v.isStatic() && v.numElements() == 1;
}

memory::data_type dnnlInt(sy_dtype t) { return t == SY_DTYPE_U8 ? memory::data_type::u8 : memory::data_type::s8; }

int32_t zeroPointOf(const RunValue& v) {
  return v.dtype == SY_DTYPE_U8 ? static_cast<int32_t>(*static_cast<const uint8_t*>(v.data))
                                : static_cast<int32_t>(*static_cast<const int8_t*>(v.data));
}

class IntMatmulStep final : public DnnlStep {
 public:
  sy_dtype aType = SY_DTYPE_U8;
  bool aZp = false, bZp = false;  // zero point inputs given
  bool bConst = false;
  std::vector<int8_t> bData;  // the constant b, row-major
  std::unique_ptr<Kernel> portable;

  struct Entry {
    int cap = 1;
    Dims a, b;
    dnnl::matmul prim;
    int nthr = 1;
    uint64_t id = 0;
    Md src, wei, dst;
    memory packedB;  // constant b in the primitive's layout
    std::shared_ptr<const SplitPrimitive> split;  // rows of a and dst (Note [Split primitives])
  };

  void run(Run& run) const override {
    const RunValue& a = run.in(*this, 0);
    const RunValue& b = run.in(*this, 1);
    if (a.dims.rank < 2 || (b.dims.rank != 2 && b.dims.rank != a.dims.rank) || a.dims.numElements() == 0 ||
        b.dims.numElements() == 0) {
      runPortable(run);
      return;
    }
    for (int i = 0; i + 2 < b.dims.rank; ++i) {
      if (b.dims.d[i] != a.dims.d[i]) {
        runPortable(run);  // broadcast batches: the portable kernel
        return;
      }
    }
    const int64_t K = a.dims.d[a.dims.rank - 1];
    if (b.dims.d[b.dims.rank - 2] != K || K > 33000) {
      runPortable(run);  // its error names a mismatch; a longer K may overflow s32, which the kernel wraps
      return;
    }
    std::shared_ptr<const Entry> entryPtr;
    try {
      entryPtr = entry(run, a.dims, b.dims);
    } catch (const dnnl::error&) {
      runPortable(run);
      return;
    }
    const Entry& e = *entryPtr;
    if (e.id == 0) run.keepAlive(entryPtr);
    Dims outDims = a.dims;
    outDims.d[outDims.rank - 1] = b.dims.d[b.dims.rank - 1];
    void* out = run.out(*this, 0, outDims);
    const dnnl::engine& eng = dnnlEngine();
    ExecArgs args{{DNNL_ARG_SRC, memory(e.src, eng, const_cast<void*>(a.data))},
                  {DNNL_ARG_WEIGHTS, bConst ? e.packedB : memory(e.wei, eng, const_cast<void*>(b.data))},
                  {DNNL_ARG_DST, memory(e.dst, eng, out)}};
    int32_t zps[2] = {0, 0};
    const Md zpMd({1}, memory::data_type::s32, memory::format_tag::x);
    if (aZp) {
      zps[0] = zeroPointOf(run.in(*this, 2));
      args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = memory(zpMd, eng, &zps[0]);
    }
    if (bZp) {
      zps[1] = zeroPointOf(run.in(*this, 3));
      args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_WEIGHTS] = memory(zpMd, eng, &zps[1]);
    }
    execute(run, e.prim, args, e.nthr, 0, e.split.get());
  }

 private:
  void runPortable(Run& run) const {
    SY_CPU_REQUIRE(portable != nullptr, SY_ERROR_UNIMPLEMENTED, "matmul_integer: no portable kernel");
    std::vector<Tensor> ins(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!run.has(*this, i)) continue;
      const RunValue& v = run.in(*this, i);
      ins[i] = Tensor{v.data, v.dtype, v.dims};
    }
    Dims dims;
    portable->outputShapes(ins.data(), ins.size(), &dims, 1);
    Tensor out{run.out(*this, 0, dims), SY_DTYPE_I32, dims};
    portable->run(ins.data(), ins.size(), &out, 1, run.exec());
  }

  std::shared_ptr<const Entry> entry(Run& run, const Dims& a, const Dims& b) const {
    std::lock_guard<std::mutex> lock(cache_.mutex);
    for (const auto& e : cache_.entries) {
      if (e->a == a && e->b == b && e->cap == capKey()) return e;
    }
    auto e = std::make_shared<Entry>();
    e->cap = capKey();
    e->a = a;
    e->b = b;
    const int64_t K = a.d[a.rank - 1], M = a.d[a.rank - 2], N = b.d[b.rank - 1];
    const int64_t batch = a.numElements() / (M * K), bBatch = b.numElements() / (K * N);
    e->nthr = teamFor(2.0 * static_cast<double>(batch * M * N * K) / 4);  // int8 runs ~4x f32's rate
    setOmpThreads(e->nthr);
    using tag = memory::format_tag;
    e->src = Md({batch, M, K}, dnnlInt(aType), tag::abc);
    e->dst = Md({batch, M, N}, memory::data_type::s32, tag::abc);
    const Md weiPlain({bBatch, K, N}, memory::data_type::s8, tag::abc);
    const Md weiAsk = bConst ? Md({bBatch, K, N}, memory::data_type::s8, tag::any) : weiPlain;
    dnnl::primitive_attr attr = userScratchpad();
    if (aZp) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    if (bZp) attr.set_zero_points(DNNL_ARG_WEIGHTS, 0, {DNNL_RUNTIME_S32_VAL});
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(e->src, weiAsk, e->dst), attr, dnnlEngine());
    e->wei = pd.weights_desc();
    e->prim = dnnl::matmul(pd);
    // Rows. One row (a gemv) stays whole: oneDNN takes b row-major there (its
    // columns are not contiguous), its N-blocked layout gets the reference
    // kernel with zero points, and an int8 gemv of real size (768 x 1024:
    // ~10 us) is too short to pay for the pool.
    if (cap() > 1) {
      e->split = SplitPrimitive::make(
          {{DNNL_ARG_SRC, e->src, 1}, {DNNL_ARG_DST, e->dst, 1}}, M, cap(),
          2.0 * static_cast<double>(batch * M * N * K) / 4, kChunkWork,
          [&](const std::vector<Md>& sl, int64_t, int64_t) {
            return dnnl::primitive(
                dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(sl[0], e->wei, sl[1]), attr, dnnlEngine())));
          },
          implOf(e->prim));
    }
    if (splitDebug())
      std::fprintf(stderr, "matmul_integer split at %d threads: rows, %zu chunks (%s)\n", cap(),
                   e->split ? e->split->numChunks() : size_t{0}, implOf(e->prim).c_str());
    if (bConst) e->packedB = packed(run.stream(), memory(weiPlain, dnnlEngine(), const_cast<int8_t*>(bData.data())), e->wei);
    return cache_.keep(e);
  }

  mutable Cache<Entry> cache_;
};

}  // namespace

std::string intMatmulWhyNot(const sdk::NodeView& node) {
  if (node.op() != "matmul_integer") return "no oneDNN path";
  if (node.numInputs() < 2 || !node.hasInput(0) || !node.hasInput(1)) return "missing inputs";
  const sdk::ValueView a = node.input(0), b = node.input(1);
  if (a.dtype() != SY_DTYPE_U8 && a.dtype() != SY_DTYPE_I8) return "a must be u8 or i8";
  if (b.dtype() != SY_DTYPE_I8) return "oneDNN 2.6's CPU matmul takes i8 weights only";
  if (!a.hasRank() || !b.hasRank() || a.rank() < 2 || b.rank() < 2 || (b.rank() != 2 && b.rank() != a.rank()))
    return "a of rank >= 2 and b of rank 2 or a's rank";
  if (node.numOutputs() != 1 || node.output(0).dtype() != SY_DTYPE_I32) return "i32 output";
  if (!oneElementZp(node, 2) || !oneElementZp(node, 3)) return "per-row or per-column zero points";
  if (!cpuHasVnni()) return "no VNNI: oneDNN's int8 sums would saturate in 16 bits";
  return "";
}

std::unique_ptr<Step> makeIntMatmulStep(const sdk::NodeView& node, int threads) {
  auto s = std::make_unique<IntMatmulStep>();
  s->threads = threads;
  s->aType = static_cast<sy_dtype>(node.input(0).dtype());
  s->aZp = node.numInputs() > 2 && node.hasInput(2);
  s->bZp = node.numInputs() > 3 && node.hasInput(3);
  const sdk::ValueView b = node.input(1);
  s->bConst = b.isConstant() && b.isStatic() && b.constantData() != nullptr;
  if (s->bConst) {
    const int8_t* p = static_cast<const int8_t*>(b.constantData());
    s->bData.assign(p, p + b.constantBytes());
  }
  bindInputs(node, s->inputs);
  s->outputs.push_back(node.output(0).index());
  s->portable = portableKernelOrNull(node);
  return s;
}

// ---- conv_integer (Note [oneDNN int8 conv])
//
// Note [oneDNN int8 conv]: conv_integer with u8 or i8 `x`, a constant i8 `w`
// and no (or an all-zero constant) w_zero_point runs on an int8
// convolution_forward with an s32 destination, exact like matmul_integer
// (Note [oneDNN int8 matmul]); x_zero_point (one element) is a runtime zero
// point, and oneDNN, like the portable kernel, reads padding as the zero
// point (a zero term). oneDNN 2.6 has fast int8 convolutions only for
// channels-last data, so x is reordered to nhwc and the result back to nchw
// (cheap next to the convolution); `w` is packed once. oneDNN takes no
// weight zero points for convolutions: a non-zero w_zero_point stays on the
// portable kernel.

namespace {

class IntConvStep final : public DnnlStep {
 public:
  sy_dtype xType = SY_DTYPE_U8;
  bool xZp = false;
  Dims wDims;
  std::vector<int8_t> wData;
  std::vector<int64_t> kernel, strides, dilations, pads;
  std::string autoPad = "NOTSET";
  int64_t group = 1;
  std::unique_ptr<Kernel> portable;

  struct Entry {
    int cap = 1;
    Dims x;
    Dims y;
    dnnl::convolution_forward prim;
    int nthr = 1;
    uint64_t id = 0;
    Md srcPlain, src, dstPlain, dst;
    memory packedW;
    std::shared_ptr<const SplitPrimitive> split;  // images, or output rows at batch 1 (as ConvStep's)
  };

  void run(Run& run) const override {
    const RunValue& x = run.in(*this, 0);
    if (x.dims.rank != wDims.rank || x.dims.numElements() == 0 || x.dims.d[1] != wDims.d[1] * group ||
        wDims.d[0] % group != 0) {
      runPortable(run);  // empty, or its error names the mismatch
      return;
    }
    std::shared_ptr<const Entry> entryPtr;
    try {
      entryPtr = entry(run, x.dims);
    } catch (const dnnl::error&) {
      runPortable(run);
      return;
    }
    const Entry& e = *entryPtr;
    if (e.id == 0) run.keepAlive(entryPtr);
    if (e.y.numElements() == 0) {
      runPortable(run);
      return;
    }
    const dnnl::engine& eng = dnnlEngine();
    memory src(e.src, eng, run.scratch(e.src.get_size()));
    reorderInto(run, memory(e.srcPlain, eng, const_cast<void*>(x.data)), src);
    memory dst(e.dst, eng, run.scratch(e.dst.get_size()));
    ExecArgs args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, e.packedW}, {DNNL_ARG_DST, dst}};
    int32_t zp = 0;
    if (xZp) {
      const RunValue& z = run.in(*this, 2);
      SY_CPU_REQUIRE(z.dims.numElements() == 1, SY_ERROR_INVALID_ARGUMENT, "x_zero_point must be one element, got ",
                     sdk::formatDims(z.dims.ref()));
      zp = zeroPointOf(z);
      args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] =
          memory(Md({1}, memory::data_type::s32, memory::format_tag::x), eng, &zp);
    }
    execute(run, e.prim, args, e.nthr, 0, e.split.get());
    reorderInto(run, dst, memory(e.dstPlain, eng, run.out(*this, 0, e.y)));
  }

 private:
  void runPortable(Run& run) const {
    SY_CPU_REQUIRE(portable != nullptr, SY_ERROR_UNIMPLEMENTED, "conv_integer: no portable kernel");
    std::vector<Tensor> ins(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!run.has(*this, i)) continue;
      const RunValue& v = run.in(*this, i);
      ins[i] = Tensor{v.data, v.dtype, v.dims};
    }
    Dims dims;
    portable->outputShapes(ins.data(), ins.size(), &dims, 1);
    Tensor out{run.out(*this, 0, dims), SY_DTYPE_I32, dims};
    portable->run(ins.data(), ins.size(), &out, 1, run.exec());
  }

  static memory::format_tag plainTag(int rank) {
    using tag = memory::format_tag;
    return rank == 3 ? tag::abc : rank == 4 ? tag::abcd : tag::abcde;
  }
  static memory::format_tag lastTag(int rank) {
    using tag = memory::format_tag;
    return rank == 3 ? tag::acb : rank == 4 ? tag::acdb : tag::acdeb;
  }

  std::shared_ptr<const Entry> entry(Run& run, const Dims& x) const {
    std::lock_guard<std::mutex> lock(cache_.mutex);
    for (const auto& e : cache_.entries) {
      if (e->x == x && e->cap == capKey()) return e;
    }
    auto e = std::make_shared<Entry>();
    e->cap = capKey();
    e->x = x;
    const size_t nsp = static_cast<size_t>(x.rank - 2);
    std::vector<int64_t> k(wDims.d + 2, wDims.d + wDims.rank);
    const Window w = windowOf(x, k, orOnes(strides, nsp), orOnes(dilations, nsp), pads, autoPad, false);
    e->y.rank = x.rank;
    e->y.d[0] = x.d[0];
    e->y.d[1] = wDims.d[0];
    for (size_t i = 0; i < nsp; ++i) e->y.d[2 + i] = w.out[i];
    const auto xdt = dnnlInt(xType);
    const memory::dims xd = toDnnl(x), yd = toDnnl(e->y);
    e->srcPlain = Md(xd, xdt, plainTag(x.rank));
    e->src = Md(xd, xdt, lastTag(x.rank));
    e->dstPlain = Md(yd, memory::data_type::s32, plainTag(x.rank));
    e->dst = Md(yd, memory::data_type::s32, lastTag(x.rank));
    memory::dims wd = toDnnl(wDims);
    Md wPlain(wd, memory::data_type::s8, plainTag(wDims.rank));
    if (group > 1) {
      wd.insert(wd.begin(), group);
      wd[1] /= group;
      using tag = memory::format_tag;
      wPlain = Md(wd, memory::data_type::s8, wDims.rank == 3 ? tag::abcd : wDims.rank == 4 ? tag::abcde : tag::abcdef);
    }
    const Md wAny(wd, memory::data_type::s8, memory::format_tag::any);
    memory::dims st(nsp), dl(nsp);
    const std::vector<int64_t> s1 = orOnes(strides, nsp), d1 = orOnes(dilations, nsp);
    for (size_t i = 0; i < nsp; ++i) {
      st[i] = s1[i];
      dl[i] = d1[i] - 1;  // oneDNN counts the gaps
    }
    int64_t work = 2 * e->y.numElements() * wDims.numElements() / std::max<int64_t>(1, wDims.d[0]);
    e->nthr = teamFor(static_cast<double>(work) / 4);
    setOmpThreads(e->nthr);
    dnnl::primitive_attr attr = userScratchpad();
    if (xZp) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    dnnl::convolution_forward::primitive_desc pd(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                        e->src, wAny, e->dst, st, dl, w.padL, w.padR),
        attr, dnnlEngine());
    e->prim = dnnl::convolution_forward(pd);
    e->packedW = packed(run.stream(), memory(wPlain, dnnlEngine(), const_cast<int8_t*>(wData.data())),
                        pd.weights_desc());
    e->split = splitOf(*e, pd.weights_desc(), attr, st, dl, w, static_cast<double>(work) / 4);
    return cache_.keep(e);
  }

  /// As ConvStep's split (Note [Split primitives]): chunks of images, or at
  /// batch 1 of output rows (src rows with the window's halo, the op's pads
  /// only at the edges; weights whole). Both activations are channels-last
  /// here, where these are dense slices. The sums are exact s32 sums, the
  /// x zero point a term per element read (padding reads as the zero point
  /// in every chunk alike): the same values as the whole primitive.
  std::shared_ptr<const SplitPrimitive> splitOf(const Entry& e, const Md& wMd, const dnnl::primitive_attr& attr,
                                                const memory::dims& st, const memory::dims& dl, const Window& win,
                                                double work) const {
    if (cap() <= 1) return nullptr;
    auto conv = [&](const Md& src, const Md& dst, const memory::dims& pl, const memory::dims& pr) {
      return dnnl::primitive(dnnl::convolution_forward(dnnl::convolution_forward::primitive_desc(
          dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src,
                                          wMd, dst, st, dl, pl, pr),
          attr, dnnlEngine())));
    };
    std::shared_ptr<const SplitPrimitive> split;
    const char* how = "images";
    if (e.x.d[0] > 1) {
      split = SplitPrimitive::make(
          {{DNNL_ARG_SRC, e.src, 0}, {DNNL_ARG_DST, e.dst, 0}}, e.x.d[0], cap(), work, kChunkWork,
          [&](const std::vector<Md>& sl, int64_t, int64_t) { return conv(sl[0], sl[1], win.padL, win.padR); },
          implOf(e.prim));
    } else {
      how = "rows";
      const int64_t dk = (wDims.d[2] - 1) * (dl[0] + 1) + 1;  // the dilated window's rows
      split = splitRows(e.src, e.dst, st[0], dk, win.padL[0], cap(), work, kChunkWork, implOf(e.prim),
                        [&](const Md& src, const Md& dst, int64_t padT, int64_t padB) {
                          memory::dims pl = win.padL, pr = win.padR;
                          pl[0] = padT;
                          pr[0] = padB;
                          return conv(src, dst, pl, pr);
                        });
    }
    if (splitDebug())
      std::fprintf(stderr, "conv_integer split at %d threads: %s, %zu chunks (%s)\n", cap(), how,
                   split ? split->numChunks() : size_t{0}, implOf(e.prim).c_str());
    return split;
  }

  mutable Cache<Entry> cache_;
};

bool allZeroConstant(const sdk::ValueView& v) {
  if (!v.isConstant() || !v.isStatic() || v.constantData() == nullptr) return false;
  const uint8_t* p = static_cast<const uint8_t*>(v.constantData());
  for (size_t i = 0; i < v.constantBytes(); ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

}  // namespace

std::string intConvWhyNot(const sdk::NodeView& node) {
  if (node.op() != "conv_integer") return "no oneDNN path";
  if (node.numInputs() < 2 || !node.hasInput(0) || !node.hasInput(1)) return "missing inputs";
  const sdk::ValueView x = node.input(0), w = node.input(1);
  if (x.dtype() != SY_DTYPE_U8 && x.dtype() != SY_DTYPE_I8) return "x must be u8 or i8";
  if (w.dtype() != SY_DTYPE_I8 || !w.isConstant() || !w.isStatic() || w.constantData() == nullptr)
    return "w must be an i8 constant";
  if (!x.hasRank() || x.rank() < 3 || x.rank() > 5 || w.rank() != x.rank()) return "1-D to 3-D convolutions";
  if (node.numOutputs() != 1 || node.output(0).dtype() != SY_DTYPE_I32) return "i32 output";
  if (!oneElementZp(node, 2)) return "x_zero_point must be one element";
  if (node.numInputs() > 3 && node.hasInput(3) && !allZeroConstant(node.input(3)))
    return "oneDNN convolutions take no weight zero points";
  const std::string why = windowAttrsWhyNot(node, static_cast<size_t>(x.rank() - 2), false);
  if (!why.empty()) return why;
  const std::vector<int64_t> k = node.attrInts("kernel_shape");
  for (size_t i = 0; i < k.size(); ++i) {
    if (k[i] != w.dim(2 + i)) return "kernel_shape differs from w";
  }
  const int64_t group = node.attrInt("group", 1);
  if (group < 1 || w.dim(0) % group != 0) return "group does not divide w's output channels";
  if (!cpuHasVnni()) return "no VNNI: oneDNN's int8 sums would saturate in 16 bits";
  return "";
}

std::unique_ptr<Step> makeIntConvStep(const sdk::NodeView& node, int threads) {
  auto s = std::make_unique<IntConvStep>();
  s->threads = threads;
  s->xType = static_cast<sy_dtype>(node.input(0).dtype());
  s->xZp = node.numInputs() > 2 && node.hasInput(2);
  const sdk::ValueView w = node.input(1);
  s->wDims.rank = static_cast<int32_t>(w.rank());
  for (int i = 0; i < s->wDims.rank; ++i) s->wDims.d[i] = w.dim(static_cast<size_t>(i));
  const int8_t* p = static_cast<const int8_t*>(w.constantData());
  s->wData.assign(p, p + w.constantBytes());
  s->strides = node.attrInts("strides");
  s->dilations = node.attrInts("dilations");
  s->pads = node.attrInts("pads");
  s->autoPad = node.attrString("auto_pad", "NOTSET");
  if (s->autoPad.empty()) s->autoPad = "NOTSET";
  s->group = node.attrInt("group", 1);
  bindInputs(node, s->inputs);
  s->outputs.push_back(node.output(0).index());
  s->portable = portableKernelOrNull(node);
  return s;
}

std::optional<AttentionParts> attentionPartsOf(const Step& qkStep, const Step& smStep, const Step& pvStep) {
  const auto* qk = dynamic_cast<const MatmulStep*>(&qkStep);
  const auto* sm = dynamic_cast<const SoftmaxStep*>(&smStep);
  const auto* pv = dynamic_cast<const MatmulStep*>(&pvStep);
  if (qk == nullptr || sm == nullptr || pv == nullptr || sm->log) return std::nullopt;
  auto plainProduct = [](const MatmulStep& m) {
    return !m.gemm && !m.constWeights && m.bias.empty() && m.cInput < 0 && !m.useScale && m.viewDims.empty() &&
           m.sumInput() < 0 && m.inputs.size() >= 2 && m.outputs.size() == 1;
  };
  if (!plainProduct(*qk) || !plainProduct(*pv) || !qk->outPerm.empty() || !pv->perm[0].empty() ||
      !pv->postOps.empty() || pv->inputs.size() != 2 || sm->inputs.size() != 1 || sm->outputs.size() != 1) {
    return std::nullopt;
  }
  AttentionParts parts;
  // The scores' post-ops: at most one linear (the scale; adjacent ones are
  // merged), then at most the mask's add, in that order.
  for (const DnnlStep::PostOp& p : qk->postOps) {
    if (p.addInput >= 0) {
      if (parts.mask >= 0) return std::nullopt;
      parts.mask = qk->inputs[static_cast<size_t>(p.addInput)];
    } else if (p.alg == dnnl::algorithm::eltwise_linear && parts.mask < 0 && parts.alpha == 1.f && parts.beta == 0.f) {
      parts.alpha = p.alpha;
      parts.beta = p.beta;
    } else {
      return std::nullopt;
    }
  }
  if ((parts.mask >= 0) != (qk->inputs.size() == 3) || (parts.mask < 0 && qk->inputs.size() != 2)) return std::nullopt;
  parts.q = qk->inputs[0];
  parts.k = qk->inputs[1];
  parts.v = pv->inputs[1];
  parts.out = pv->outputs[0];
  parts.permQ = qk->perm[0];
  parts.permK = qk->perm[1];
  parts.permV = pv->perm[1];
  parts.outPerm = pv->outPerm;
  parts.axis = sm->axis;
  return parts;
}

}  // namespace sy_cpu
