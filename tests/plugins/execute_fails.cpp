// execute_fails: claims relu and add on f32 and compiles them, but every
// execute fails with "device lost" (SY_ERROR_DEVICE), leaving no output.
#include "mini.h"

namespace {
sy_error* execute_fails_execute(sy_compiled*, const sy_tensor*, size_t, sy_tensor* outputs, size_t num_outputs) {
  for (size_t i = 0; outputs && i < num_outputs; ++i) outputs[i].buffer = nullptr;
  return sytest::make_error(SY_ERROR_DEVICE, "device lost");
}
}  // namespace

SY_MINI_PLUGIN("execute_fails", a.execute = execute_fails_execute)
