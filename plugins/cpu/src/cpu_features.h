// What this CPU can run, for the plugin's own loops compiled for more than
// the baseline ISA (`__attribute__((target(...)))` functions and files built
// with -mavx512f): each is asked once, and a loop runs only where its ISA is.
#pragma once

namespace sy_cpu {

#if defined(__x86_64__) && defined(__GNUC__)
inline bool cpuHasAvx2() {
  static const bool has = [] {
    __builtin_cpu_init();  // (needed where this runs before libgcc's constructor)
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return has;
}
inline bool cpuHasAvx512f() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return has;
}
#else
inline bool cpuHasAvx2() { return false; }
inline bool cpuHasAvx512f() { return false; }
#endif

}  // namespace sy_cpu
