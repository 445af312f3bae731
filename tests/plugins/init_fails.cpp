// init_fails: init fails the way a plugin whose device library is missing
// would. The host must unload it and pass the plugin's message on.
#include "mini.h"

namespace {
sy_error* init_fails_init(const sy_host_info*) {
  return sytest::make_error(SY_ERROR_DEVICE, "cannot open libfakedevice.so.1: No such file or directory");
}
}  // namespace

SY_MINI_PLUGIN("init_fails", a.init = init_fails_init)
