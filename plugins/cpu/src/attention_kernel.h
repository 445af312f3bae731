// The fused attention kernel's interface (Note [Fused attention] in
// attention.cpp): plain data only, shared by attention.cpp and the file
// compiled for AVX-512 (attention_avx512.cpp).
#pragma once

#include <cstdint>

namespace sy_cpu {

/// Query rows a block (the scores tile is kAttnRowBlock x S floats).
constexpr int64_t kAttnRowBlock = 64;

/// One head of one batch: out[t, :] = softmax(alpha (q[t, :] k^T) + beta +
/// mask[t, :], then where keep[t, :]) v, for rows t in [rowBegin, rowEnd). Every operand is given
/// by its base pointer (at this batch and head) and element strides:
/// q [T, D], k^T [D, S], v [S, Dv], mask [T, S] (stride 0 where it
/// broadcasts; null: none), out [T, Dv].
struct AttnHead {
  const float* q = nullptr;
  int64_t sqt = 0, sqd = 0;
  const float* k = nullptr;
  int64_t skd = 0, sks = 0;
  const float* v = nullptr;
  int64_t svs = 0, svd = 0;
  const float* mask = nullptr;
  int64_t smt = 0, sms = 0;
  /// where(keep, scores, fill) after the mask (GPT-2's causal mask): keep
  /// row t at keep + t skt, S bytes (readable 16 past the row's end);
  /// null: none.
  const unsigned char* keep = nullptr;
  int64_t skt = 0;
  float fill = 0.f;
  float* o = nullptr;
  int64_t sot = 0, sod = 0;
  int64_t T = 0, S = 0, D = 0, Dv = 0;
  float alpha = 1.f, beta = 0.f;
  int64_t rowBegin = 0, rowEnd = 0;
};

/// Floats of work memory attentionHeadAvx512 needs.
inline int64_t attentionWorkFloats(int64_t S, int64_t D, int64_t Dv) {
  const int64_t ldk = (S + 15) / 16 * 16;
  return D * ldk + S * Dv + kAttnRowBlock * ldk + kAttnRowBlock * ((Dv + 15) / 16 * 16);
}

/// Runs one head (AVX-512F; call only where the CPU has it). `work`:
/// attentionWorkFloats floats.
void attentionHeadAvx512(const AttnHead& h, float* work);

}  // namespace sy_cpu
