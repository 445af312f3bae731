// Shared helpers of the libFuzzer targets (see docs/fuzzing.md).
//
// Every target feeds bytes to one parser and checks the parser's contract:
// it returns a value or an error Status, never crashes, never reads out of
// bounds, never leaks. Where the format round-trips (parse -> print/encode ->
// parse), the target also checks that property, and a broken round trip is a
// finding: SY_FUZZ_CHECK prints what failed and aborts, so libFuzzer saves the
// input as a crash reproducer.
//
// SY_FUZZ_TARGET(name) opens the entry point: libFuzzer's
// LLVMFuzzerTestOneInput in the fuzz build, or `name_entry` when the same
// source is compiled into fuzz_regression_test (SY_FUZZ_REGRESSION), which
// replays fuzz/regressions/<name>/ and the seeds in every ordinary build.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#ifdef SY_FUZZ_REGRESSION
#define SY_FUZZ_TARGET(name) int name##_entry(const uint8_t* data, size_t size)
#else
#define SY_FUZZ_TARGET(name) extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
#endif

#define SY_FUZZ_CHECK(cond, ...)                                              \
  do {                                                                        \
    if (!(cond)) {                                                            \
      std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__,       \
                   __LINE__, #cond);                                          \
      std::fprintf(stderr, __VA_ARGS__);                                      \
      std::fprintf(stderr, "\n");                                             \
      std::abort();                                                           \
    }                                                                         \
  } while (0)
