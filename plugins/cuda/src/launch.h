// Launch geometry: grid and block sizes of the plugin's kernels (host code,
// unit-tested without a GPU).
#pragma once

#include <algorithm>
#include <cstdint>

namespace sy_cuda {

/// A 1-D launch: `grid` blocks of `block` threads (grid 0: nothing to do).
struct Launch1D {
  uint32_t grid = 0;
  uint32_t block = 0;
};

/// Elementwise / copy kernels: grid-stride loops, `block` threads a block,
/// at most `maxBlocksPerSm` resident blocks on each of `smCount` SMs (more
/// only adds scheduling; each thread then loops).
inline Launch1D elementwiseLaunch(int64_t n, int smCount, uint32_t block = 256, int maxBlocksPerSm = 8) {
  if (n <= 0) return {0, block};
  const int64_t needed = (n + block - 1) / block;
  const int64_t cap = std::max<int64_t>(1, static_cast<int64_t>(std::max(smCount, 1)) * maxBlocksPerSm);
  return {static_cast<uint32_t>(std::min(needed, cap)), block};
}

/// Row kernels (softmax, layer norm, reductions: one block per row): the
/// smallest power of two >= rowLength, between 32 (one warp) and 1024.
inline uint32_t rowBlock(int64_t rowLength) {
  uint32_t b = 32;
  while (b < 1024 && static_cast<int64_t>(b) < rowLength) b *= 2;
  return b;
}

/// Grid for `rows` rows of a row kernel: one block per row, folded into a
/// grid-stride loop past the 2^31-1 grid limit.
inline uint32_t rowGrid(int64_t rows) {
  if (rows <= 0) return 0;
  return static_cast<uint32_t>(std::min<int64_t>(rows, 2147483647));
}

}  // namespace sy_cuda
