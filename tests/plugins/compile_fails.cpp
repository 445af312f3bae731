// compile_fails: claims relu and add on f32 in query_support, but every
// compile fails with "out of device registers" (SY_ERROR_DEVICE). The host
// must move the region to the next backend.
#include "mini.h"

namespace {
sy_error* compile_fails_compile(sy_backend*, const sy_graph_view*, sy_compiled** out_compiled) {
  if (out_compiled) *out_compiled = nullptr;
  return sytest::make_error(SY_ERROR_DEVICE, "out of device registers");
}
}  // namespace

SY_MINI_PLUGIN("compile_fails", a.compile = compile_fails_compile)
