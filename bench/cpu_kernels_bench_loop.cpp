// The hand-written peer of cpu_kernels_bench's elementwise chain, in its own
// file because it is compiled with -ffast-math (bench/CMakeLists.txt): only then
// does GCC call glibc's vector expf (libmvec), and target_clones gives it an
// AVX-512, an AVX2 and a baseline version picked at load time. That makes it
// what a careful C++ programmer gets from the compiler without intrinsics.
#include <cmath>
#include <cstdint>

namespace sy_bench {

__attribute__((target_clones("avx512f", "avx2", "default")))
void chainLoop(const float* __restrict x, float* __restrict y, int64_t n, float a, float b) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.0f + std::exp(-(x[i] * a + b)));
}

}  // namespace sy_bench
