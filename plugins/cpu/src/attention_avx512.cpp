// The AVX-512 kernel of the fused attention step (Note [Fused attention] in
// attention.cpp). This file is compiled with -mavx512f (CMakeLists.txt) and
// holds no inline code from headers that other files also instantiate (no
// standard library templates), so that no AVX-512 copy of a shared inline
// function can be picked by the linker for code that runs on other CPUs; it
// is called only after attention.cpp found avx512f on this CPU.
#include "attention_kernel.h"

#include <immintrin.h>

namespace sy_cpu {
namespace {

constexpr int kLanes = 16;

/// Rows [0, MR) x columns [j, j + 16 NV) of the scores tile: q rows (row
/// stride sqt, element stride sqd) times the packed k^T (D rows of `ldk`
/// floats), no scale.
template <int MR, int NV>
void scoresBlock(const float* q, int64_t sqt, int64_t sqd, int64_t D, const float* kt, int64_t ldk, float* tile,
                 int64_t ldt, int64_t j) {
  __m512 acc[MR][NV];
  _Pragma("GCC unroll 6") for (int r = 0; r < MR; ++r) {
    _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  }
  for (int64_t d = 0; d < D; ++d) {
    __m512 kv[NV];
    _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) kv[v] = _mm512_loadu_ps(kt + d * ldk + j + v * kLanes);
    _Pragma("GCC unroll 6") for (int r = 0; r < MR; ++r) {
      const __m512 b = _mm512_set1_ps(q[r * sqt + d * sqd]);
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(b, kv[v], acc[r][v]);
    }
  }
  _Pragma("GCC unroll 6") for (int r = 0; r < MR; ++r) {
    _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) _mm512_storeu_ps(tile + r * ldt + j + v * kLanes, acc[r][v]);
  }
}

using ScoresFn = void (*)(const float*, int64_t, int64_t, int64_t, const float*, int64_t, float*, int64_t, int64_t);
template <int MR>
constexpr ScoresFn kScoresRow[5] = {nullptr, &scoresBlock<MR, 1>, &scoresBlock<MR, 2>, &scoresBlock<MR, 3>,
                                    &scoresBlock<MR, 4>};
constexpr const ScoresFn* kScores[7] = {nullptr,        kScoresRow<1>, kScoresRow<2>, kScoresRow<3>,
                                        kScoresRow<4>, kScoresRow<5>, kScoresRow<6>};

/// The scores of `rows` query rows (q: the first) into the tile: 64 columns
/// at a time (16 KB of k^T at D = 64, kept in L1) for all the rows.
void scoresTile(const AttnHead& h, const float* q, const float* kt, int64_t ldk, float* tile, int64_t ldt,
                int64_t rows) {
  for (int64_t j = 0; j < ldk; j += 4 * kLanes) {
    const int64_t nv = ldk - j >= 4 * kLanes ? 4 : (ldk - j) / kLanes;
    for (int64_t r = 0; r < rows; r += 6) {
      const int64_t mr = rows - r >= 6 ? 6 : rows - r;
      kScores[mr][nv](q + r * h.sqt, h.sqt, h.sqd, h.D, kt, ldk, tile + r * ldt, ldt, j);
    }
  }
}

/// What outputBlock does around its sums over [s0, s1).
struct PvStep {
  const float* tile;  // probabilities (unnormalised), row r at tile + r ldt
  int64_t ldt;
  const float* v;     // row s at v + s ldv
  int64_t ldv;
  float* acc;         // partial sums between s ranges, row r at acc + r lda
  int64_t lda;
  float* o;           // output row r at o + r sot, element stride sod
  int64_t sot, sod;
  const float* inv;   // 1 / row sum
  int64_t s0, s1, c;
  __mmask16 tail;     // lanes of the last vector
  bool first, last;
};

/// Rows [0, MR) x columns [c, c + 16 NV) of P v over s in [s0, s1): from
/// zero (first) or the partial sums, into the partial sums or (last) the
/// output scaled by the row's 1 / sum.
template <int MR, int NV>
void outputBlock(const PvStep& p) {
  __m512 acc[MR][NV];
  _Pragma("GCC unroll 6") for (int r = 0; r < MR; ++r) {
    _Pragma("GCC unroll 4") for (int u = 0; u < NV; ++u) {
      acc[r][u] = p.first ? _mm512_setzero_ps() : _mm512_loadu_ps(p.acc + r * p.lda + p.c + u * kLanes);
    }
  }
  const float* tile = p.tile;
  const int64_t ldt = p.ldt, ldv = p.ldv;
  const __mmask16 tail = p.tail;
  for (int64_t s = p.s0; s < p.s1; ++s) {
    __m512 vv[NV];
    const float* vr = p.v + s * ldv + p.c;
    _Pragma("GCC unroll 4") for (int u = 0; u < NV; ++u) {
      vv[u] = u == NV - 1 ? _mm512_maskz_loadu_ps(tail, vr + u * kLanes) : _mm512_loadu_ps(vr + u * kLanes);
    }
    _Pragma("GCC unroll 6") for (int r = 0; r < MR; ++r) {
      const __m512 b = _mm512_set1_ps(tile[r * ldt + s]);
      _Pragma("GCC unroll 4") for (int u = 0; u < NV; ++u) acc[r][u] = _mm512_fmadd_ps(b, vv[u], acc[r][u]);
    }
  }
  if (!p.last) {
    _Pragma("GCC unroll 6") for (int r = 0; r < MR; ++r) {
      _Pragma("GCC unroll 4") for (int u = 0; u < NV; ++u) _mm512_storeu_ps(p.acc + r * p.lda + p.c + u * kLanes, acc[r][u]);
    }
    return;
  }
  _Pragma("GCC unroll 6") for (int r = 0; r < MR; ++r) {
    const __m512 scale = _mm512_set1_ps(p.inv[r]);
    float* orow = p.o + r * p.sot;
    _Pragma("GCC unroll 4") for (int u = 0; u < NV; ++u) {
      const __m512 y = _mm512_mul_ps(acc[r][u], scale);
      const __mmask16 m = u == NV - 1 ? tail : static_cast<__mmask16>(0xffff);
      if (p.sod == 1) {
        _mm512_mask_storeu_ps(orow + (p.c + u * kLanes), m, y);
      } else {
        float lanes[kLanes];
        _mm512_storeu_ps(lanes, y);
        for (int l = 0; l < kLanes; ++l) {
          if ((m >> l) & 1) orow[(p.c + u * kLanes + l) * p.sod] = lanes[l];
        }
      }
    }
  }
}

using OutputFn = void (*)(const PvStep&);
template <int MR>
constexpr OutputFn kOutputRow[5] = {nullptr, &outputBlock<MR, 1>, &outputBlock<MR, 2>, &outputBlock<MR, 3>,
                                    &outputBlock<MR, 4>};
constexpr const OutputFn* kOutput[7] = {nullptr,        kOutputRow<1>, kOutputRow<2>, kOutputRow<3>,
                                        kOutputRow<4>, kOutputRow<5>, kOutputRow<6>};

/// Keys a pass of P v takes: up to 512 (passes of 64 or 128 keys, whose
/// rows of v would stay in L1, were measured no faster at S = 512, D = 64:
/// 9.7-10.1 ms of CPU a layer against 9.4-9.6 for one pass).
constexpr int64_t kPvKeys = 512;

void outputTile(const AttnHead& h, const float* tile, int64_t ldt, const float* v, int64_t ldv, const float* inv,
                float* acc, int64_t lda, float* o, int64_t rows) {
  PvStep p{};
  p.ldt = ldt;
  p.v = v;
  p.ldv = ldv;
  p.lda = lda;
  p.sot = h.sot;
  p.sod = h.sod;
  for (p.s0 = 0; p.s0 < h.S; p.s0 += kPvKeys) {
    p.s1 = h.S - p.s0 > kPvKeys ? p.s0 + kPvKeys : h.S;
    p.first = p.s0 == 0;
    p.last = p.s1 == h.S;
    for (p.c = 0; p.c < h.Dv; p.c += 4 * kLanes) {
      const int64_t left = h.Dv - p.c;
      const int64_t nv = left >= 4 * kLanes ? 4 : (left + kLanes - 1) / kLanes;
      const int64_t lastLanes = left >= 4 * kLanes ? kLanes : left - (nv - 1) * kLanes;
      p.tail = static_cast<__mmask16>((1u << lastLanes) - 1u);
      for (int64_t r = 0; r < rows; r += 6) {
        const int64_t mr = rows - r >= 6 ? 6 : rows - r;
        p.tile = tile + r * ldt;
        p.acc = acc + r * lda;
        p.o = o + r * h.sot;
        p.inv = inv + r;
        kOutput[mr][nv](p);
      }
    }
  }
}

/// exp(x) for x <= 0 (x - the row max), -inf and anything below -104 giving
/// 0: x = n ln2 + r with |r| <= ln2/2, a degree-7 Taylor polynomial for
/// e^r (relative error ~2e-9 before rounding) and scalef for 2^n (which
/// rounds into the subnormals and to 0 as the IEEE result does).
inline __m512 expNonPositive(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-104.f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
  __m512 p = _mm512_set1_ps(1.f / 5040.f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 720.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 120.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(p, n);
}

/// One row of the tile: scale, bias, mask and where(keep), then exp(x -
/// max) in place;
/// returns 1 / the sum, or NaN for a row the reference makes NaN (NaN in
/// it, +inf in it, or all of it -inf: Note [softmax of non-finite rows] in
/// dnnl_steps.cpp), whose entries are then NaN too.
float softmaxRow(const AttnHead& h, float* row, const float* mrow, const unsigned char* krow) {
  const __m512 alpha = _mm512_set1_ps(h.alpha), beta = _mm512_set1_ps(h.beta);
  const __m512 mscalar = mrow != nullptr && h.sms == 0 ? _mm512_set1_ps(mrow[0]) : _mm512_setzero_ps();
  const bool mvec = mrow != nullptr && h.sms != 0;
  __m512 vmax = _mm512_set1_ps(-__builtin_inff());
  __mmask16 nan = 0;
  for (int64_t j = 0; j < h.S; j += kLanes) {
    const __mmask16 m = h.S - j >= kLanes ? static_cast<__mmask16>(0xffff)
                                          : static_cast<__mmask16>((1u << (h.S - j)) - 1u);
    __m512 x = _mm512_maskz_loadu_ps(m, row + j);
    x = _mm512_fmadd_ps(x, alpha, beta);
    // (oneDNN's eltwise_linear post-op: alpha * x + beta, then the binary add)
    x = _mm512_add_ps(x, mvec ? _mm512_maskz_loadu_ps(m, mrow + j) : mscalar);
    if (krow != nullptr) {  // (16 bytes readable past the row: see AttnHead::keep)
      const __m512i k = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(krow + j)));
      x = _mm512_mask_blend_ps(_mm512_test_epi32_mask(k, k), _mm512_set1_ps(h.fill), x);
    }
    _mm512_mask_storeu_ps(row + j, m, x);
    nan |= _mm512_mask_cmp_ps_mask(m, x, x, _CMP_UNORD_Q);
    vmax = _mm512_mask_max_ps(vmax, m, vmax, x);
  }
  const float mx = _mm512_reduce_max_ps(vmax);
  if (nan != 0 || mx == __builtin_inff() || mx == -__builtin_inff()) {
    for (int64_t j = 0; j < h.S; ++j) row[j] = __builtin_nanf("");
    return __builtin_nanf("");
  }
  const __m512 vm = _mm512_set1_ps(mx);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t j = 0; j < h.S; j += kLanes) {
    const __mmask16 m = h.S - j >= kLanes ? static_cast<__mmask16>(0xffff)
                                          : static_cast<__mmask16>((1u << (h.S - j)) - 1u);
    const __m512 e = _mm512_maskz_mov_ps(m, expNonPositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + j), vm)));
    _mm512_mask_storeu_ps(row + j, m, e);
    sum = _mm512_add_ps(sum, e);
  }
  return 1.f / _mm512_reduce_add_ps(sum);
}

}  // namespace

void attentionHeadAvx512(const AttnHead& h, float* work) {
  // Work memory: k^T packed as D rows of ldk floats (columns past S zero),
  // v packed (only when its rows are not unit-stride), the scores tile.
  const int64_t ldk = (h.S + kLanes - 1) / kLanes * kLanes;
  float* kt = work;
  float* vp = kt + h.D * ldk;
  const bool packV = h.svd != 1;
  const int64_t ldvp = h.Dv;
  float* tile = vp + (packV ? h.S * ldvp : 0);
  const int64_t ldt = ldk;
  float* acc = tile + kAttnRowBlock * ldt;
  const int64_t lda = (h.Dv + kLanes - 1) / kLanes * kLanes;
  float inv[kAttnRowBlock];

  // k^T packed, 16 columns (rows of k) at a time so that a k stored [S, D]
  // is read along its rows while the 16 lines stay in L1.
  for (int64_t s0 = 0; s0 < ldk; s0 += kLanes) {
    const int64_t s1 = s0 + kLanes < h.S ? s0 + kLanes : h.S;
    for (int64_t d = 0; d < h.D; ++d) {
      float* dst = kt + d * ldk;
      const float* src = h.k + d * h.skd;
      int64_t s = s0;
      for (; s < s1; ++s) dst[s] = src[s * h.sks];
      for (; s < s0 + kLanes; ++s) dst[s] = 0.f;
    }
  }
  const float* v = h.v;
  int64_t ldv = h.svs;
  if (packV) {
    for (int64_t s = 0; s < h.S; ++s) {
      for (int64_t c = 0; c < h.Dv; ++c) vp[s * ldvp + c] = h.v[s * h.svs + c * h.svd];
    }
    v = vp;
    ldv = ldvp;
  }

  for (int64_t r0 = h.rowBegin; r0 < h.rowEnd; r0 += kAttnRowBlock) {
    const int64_t rows = h.rowEnd - r0 < kAttnRowBlock ? h.rowEnd - r0 : kAttnRowBlock;
    scoresTile(h, h.q + r0 * h.sqt, kt, ldk, tile, ldt, rows);
    for (int64_t i = 0; i < rows; ++i) {
      inv[i] = softmaxRow(h, tile + i * ldt, h.mask != nullptr ? h.mask + (r0 + i) * h.smt : nullptr,
                          h.keep != nullptr ? h.keep + (r0 + i) * h.skt : nullptr);
    }
    // P v, the 1 / sum of each row applied at the store.
    outputTile(h, tile, ldt, v, ldv, inv, acc, lda, h.o + r0 * h.sot, rows);
  }
}

}  // namespace sy_cpu
