// The fused attention step (issue #15).
//
// Note [Fused attention]
// BERT's attention compiles to three steps (README, "attention"): the scores
// product `transpose + transpose + matmul + div + add` (q k^T, the scale and
// the mask as oneDNN post-ops), the softmax, and `transpose + matmul +
// transpose` (P v). At T = 512 the scores are 12.6 MB a layer: the product
// writes them, the softmax scans them for NaN/inf, reads and writes them,
// and the second product reads them again, all from L3 or memory; at one
// thread that was 183 ms of BERT-base T = 512's 937 (12 layers) where
// OpenVINO's fused attention (its MHA subgraph, jit_avx512_f32) took 117 ms.
//
// This step does the three per head and per block of kAttnRowBlock query
// rows (attention_avx512.cpp): k^T is packed once a head (D rows of S
// floats, columns padded to 16), then for each block the scores tile
// (64 x S floats: 128 KB at S = 512, in L2) is computed by a 6 x 64
// register-blocked FMA kernel, the softmax runs on it in place (scale, bias
// and mask applied on the read, row max, exp) and P v is accumulated from
// the tile into the output rows, each scaled by 1 / its row sum at the
// store. The scores never leave the cache and there is no NaN scan: the
// softmax tracks NaN while it takes the row max, and a row the reference
// makes NaN (NaN or +inf in it, or all of it -inf; Note [softmax of
// non-finite rows] in dnnl_steps.cpp) is NaN. q, v and the output are read
// and written through their strides (the transposes), v packed only when
// its rows are not unit-stride.
//
// Sums are in another order than oneDNN's (within ~1e-6 relative of the
// reference on finite inputs); exp is a degree-7 polynomial with scalef
// (rounding ~1 ulp), -inf and anything below -104 giving 0.
//
// GPT-2's causal where(cond, scores, fill) before the softmax (a constant
// condition, kept as bytes, and a constant fill) is applied on the same
// read; casts to the same type between the steps are views and go too.
//
// Threads: heads are the units; with fewer than 4 heads a thread they are
// cut into row blocks too (each unit packs its head's k^T). They run on the
// plugin's pool, or on an OpenMP team when the region runs on teams. Taken only on
// a CPU with AVX-512F (the kernel's) and static shapes; elsewhere the three
// steps stay, as they do with SY_CPU_FUSED_ATTENTION=0.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "attention_kernel.h"
#include "cpu_features.h"
#include "steps.h"

namespace sy_cpu {
namespace {

/// Row-major strides of static dims.
std::vector<int64_t> stridesOf(const std::vector<int64_t>& dims) {
  std::vector<int64_t> st(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) st[i - 1] = st[i] * dims[i];
  return st;
}

/// A matmul operand read through `perm` (empty: as stored): logical dims and
/// element strides.
bool logical(const ValueInfo& vi, const std::vector<int64_t>& perm, int64_t dims[4], int64_t strides[4]) {
  if (vi.dtype != SY_DTYPE_F32 || !vi.isStatic() || vi.rank != 4) return false;
  if (!perm.empty() && perm.size() != 4) return false;
  const std::vector<int64_t> st = stridesOf(vi.dims);
  for (size_t i = 0; i < 4; ++i) {
    const int64_t p = perm.empty() ? static_cast<int64_t>(i) : perm[i];
    if (p < 0 || p > 3) return false;
    dims[i] = vi.dims[static_cast<size_t>(p)];
    strides[i] = st[static_cast<size_t>(p)];
  }
  return true;
}

class AttentionStep final : public Step {
 public:
  int64_t B = 0, H = 0, T = 0, S = 0, D = 0, Dv = 0;
  float alpha = 1.f, beta = 0.f;
  bool hasMask = false;
  int64_t q[4] = {}, k[4] = {}, v[4] = {}, m[4] = {}, o[4] = {};  // logical strides ([B, H, rows, cols])
  Dims qDims, kDims, vDims, mDims, outDims;                       // as stored
  /// where(keep, scores, fill): the constant condition as bytes [cb, ch, T,
  /// S] (cb, ch: its own batch and head dims, 1 or B, H) + 16 bytes of
  /// padding; empty: none.
  std::vector<unsigned char> keep;
  int64_t keepB = 0, keepH = 0;
  float fill = 0.f;

  void run(Run& run) const override {
    const RunValue& qv = run.in(*this, 0);
    const RunValue& kv = run.in(*this, 1);
    const RunValue& vv = run.in(*this, 2);
    const RunValue* mv = hasMask ? &run.in(*this, 3) : nullptr;
    SY_CPU_REQUIRE(qv.dims == qDims && kv.dims == kDims && vv.dims == vDims && (mv == nullptr || mv->dims == mDims),
                   SY_ERROR_INVALID_ARGUMENT, "attention operands ", sdk::formatDims(qv.dims.ref()), ", ",
                   sdk::formatDims(kv.dims.ref()), ", ", sdk::formatDims(vv.dims.ref()),
                   " are not the compiled ones");
    float* y = static_cast<float*>(run.out(*this, 0, outDims));
    const float* qd = static_cast<const float*>(qv.data);
    const float* kd = static_cast<const float*>(kv.data);
    const float* vd = static_cast<const float*>(vv.data);
    const float* md = mv != nullptr ? static_cast<const float*>(mv->data) : nullptr;

    // A run on OpenMP teams has no pool threads (Note [Threads on shared
    // cores] in region.cpp): the units then go to a team of its size.
    const bool team = runTeam();
    const int threads = std::max(1, team ? runThreadCap() : std::min(run.threads(), runThreadCap()));
    const int64_t heads = B * H;
    const int64_t blocks = (T + kAttnRowBlock - 1) / kAttnRowBlock;
    const int64_t pieces = threads > 1 && heads < 4 * threads ? blocks : 1;
    const int64_t rowsPer = (T + pieces - 1) / pieces;
    const int64_t workFloats = attentionWorkFloats(S, D, Dv);
    auto body = [&](int64_t begin, int64_t end) {
      thread_local std::vector<float> work;
      if (static_cast<int64_t>(work.size()) < workFloats) work.resize(static_cast<size_t>(workFloats));
      for (int64_t u = begin; u < end; ++u) {
        const int64_t hd = u / pieces, piece = u % pieces;
        const int64_t b = hd / H, h = hd % H;
        AttnHead a;
        a.q = qd + b * q[0] + h * q[1];
        a.sqt = q[2];
        a.sqd = q[3];
        a.k = kd + b * k[0] + h * k[1];
        a.skd = k[2];
        a.sks = k[3];
        a.v = vd + b * v[0] + h * v[1];
        a.svs = v[2];
        a.svd = v[3];
        a.mask = md != nullptr ? md + b * m[0] + h * m[1] : nullptr;
        a.smt = m[2];
        a.sms = m[3];
        if (!keep.empty()) {
          a.keep = keep.data() + (b * keepB + h * keepH) * T * S;
          a.skt = S;
          a.fill = fill;
        }
        a.o = y + b * o[0] + h * o[1];
        a.sot = o[2];
        a.sod = o[3];
        a.T = T;
        a.S = S;
        a.D = D;
        a.Dv = Dv;
        a.alpha = alpha;
        a.beta = beta;
        a.rowBegin = piece * rowsPer;
        a.rowEnd = std::min(T, a.rowBegin + rowsPer);
        if (a.rowBegin < a.rowEnd) attentionHeadAvx512(a, work.data());
      }
    };
    const int64_t units = heads * pieces;
    if (threads <= 1 || units <= 1) {
      body(0, units);
    } else if (team) {
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
      for (int64_t u = 0; u < units; ++u) body(u, u + 1);
    } else {
      ThreadPool::instance().parallelFor(units, 1, body, threads);
    }
  }
};

}  // namespace

std::unique_ptr<Step> makeAttentionStep(const AttentionParts& parts, const std::vector<ValueInfo>& info) {
  // SY_CPU_FUSED_ATTENTION=0 keeps the three steps (A/B measurements).
  if (const char* e = std::getenv("SY_CPU_FUSED_ATTENTION"); e != nullptr && std::strcmp(e, "0") == 0) return nullptr;
  if (!cpuHasAvx512f() || parts.q < 0 || parts.k < 0 || parts.v < 0 || parts.out < 0) return nullptr;
  if (parts.axis != -1 && parts.axis != 3) return nullptr;
  auto at = [&](int32_t id) -> const ValueInfo& { return info[static_cast<size_t>(id)]; };
  auto s = std::make_unique<AttentionStep>();
  int64_t qd[4], kd[4], vd[4];
  if (!logical(at(parts.q), parts.permQ, qd, s->q) || !logical(at(parts.k), parts.permK, kd, s->k) ||
      !logical(at(parts.v), parts.permV, vd, s->v)) {
    return nullptr;
  }
  // q [B, H, T, D], k^T [B, H, D, S], v [B, H, S, Dv]: one batch and head
  // count (no broadcasting of the products' batch dims here).
  s->B = qd[0];
  s->H = qd[1];
  s->T = qd[2];
  s->D = qd[3];
  s->S = kd[3];
  s->Dv = vd[3];
  if (kd[0] != s->B || kd[1] != s->H || kd[2] != s->D || vd[0] != s->B || vd[1] != s->H || vd[2] != s->S) return nullptr;
  if (s->B <= 0 || s->H <= 0 || s->T <= 0 || s->S <= 0 || s->D <= 0 || s->Dv <= 0) return nullptr;
  // The output: the product [B, H, T, Dv] written through outPerm.
  const ValueInfo& ov = at(parts.out);
  if (ov.dtype != SY_DTYPE_F32 || !ov.isStatic() || ov.rank != 4) return nullptr;
  const std::vector<int64_t> ost = stridesOf(ov.dims);
  const int64_t product[4] = {s->B, s->H, s->T, s->Dv};
  if (!parts.outPerm.empty() && parts.outPerm.size() != 4) return nullptr;
  for (size_t k = 0; k < 4; ++k) {
    const int64_t j = parts.outPerm.empty() ? static_cast<int64_t>(k) : parts.outPerm[k];
    if (j < 0 || j > 3 || ov.dims[k] != product[j]) return nullptr;
    s->o[j] = ost[k];
  }
  // The mask broadcasts (right-aligned) to the scores [B, H, T, S].
  if (parts.mask >= 0) {
    const ValueInfo& mv = at(parts.mask);
    if (mv.dtype != SY_DTYPE_F32 || !mv.isStatic() || mv.rank < 0 || mv.rank > 4) return nullptr;
    const std::vector<int64_t> mst = stridesOf(mv.dims);
    const int64_t scores[4] = {s->B, s->H, s->T, s->S};
    for (int i = 0; i < 4; ++i) {
      const int r = i - (4 - mv.rank);
      if (r < 0) continue;
      const int64_t dim = mv.dims[static_cast<size_t>(r)];
      if (dim != 1 && dim != scores[i]) return nullptr;
      s->m[i] = dim == 1 ? 0 : mst[static_cast<size_t>(r)];
    }
    s->hasMask = true;
    s->mDims = Dims::of(mv.dims);
  }
  if (parts.selectCond >= 0) {
    // GPT-2's causal where: a constant bool condition broadcasting to the
    // scores and a constant scalar fill.
    const ValueInfo &cv = at(parts.selectCond), &fv = at(parts.selectFill);
    if (cv.dtype != SY_DTYPE_BOOL || !cv.isStatic() || cv.constData == nullptr || cv.rank > 4) return nullptr;
    if (fv.dtype != SY_DTYPE_F32 || !fv.isStatic() || fv.constData == nullptr || fv.constBytes != sizeof(float))
      return nullptr;
    std::memcpy(&s->fill, fv.constData, sizeof(float));
    int64_t cd[4] = {1, 1, 1, 1};
    for (int i = 0; i < cv.rank; ++i) cd[4 - cv.rank + i] = cv.dims[static_cast<size_t>(i)];
    const int64_t scores[4] = {s->B, s->H, s->T, s->S};
    for (int i = 0; i < 4; ++i) {
      if (cd[i] != 1 && cd[i] != scores[i]) return nullptr;
    }
    if (cv.constBytes != static_cast<size_t>(cd[0] * cd[1] * cd[2] * cd[3])) return nullptr;
    const auto* c = static_cast<const unsigned char*>(cv.constData);
    s->keep.assign(static_cast<size_t>(cd[0] * cd[1] * s->T * s->S + 16), 0);
    for (int64_t b = 0; b < cd[0]; ++b) {
      for (int64_t h = 0; h < cd[1]; ++h) {
        for (int64_t t = 0; t < s->T; ++t) {
          for (int64_t j = 0; j < s->S; ++j) {
            const int64_t from = ((b * cd[1] + h) * cd[2] + (cd[2] == 1 ? 0 : t)) * cd[3] + (cd[3] == 1 ? 0 : j);
            s->keep[static_cast<size_t>(((b * cd[1] + h) * s->T + t) * s->S + j)] = c[from] != 0 ? 1 : 0;
          }
        }
      }
    }
    s->keepB = cd[0] == 1 ? 0 : cd[1];
    s->keepH = cd[1] == 1 ? 0 : 1;
  }
  s->alpha = parts.alpha;
  s->beta = parts.beta;
  s->qDims = Dims::of(at(parts.q).dims);
  s->kDims = Dims::of(at(parts.k).dims);
  s->vDims = Dims::of(at(parts.v).dims);
  s->outDims = Dims::of(ov.dims);
  s->inputs = {parts.q, parts.k, parts.v};
  if (parts.mask >= 0) s->inputs.push_back(parts.mask);
  s->outputs = {parts.out};
  s->outDtypes = {SY_DTYPE_F32};
  return s;
}

}  // namespace sy_cpu
