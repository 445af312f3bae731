// too_small_struct: a table that ends before `execute`, so required entries
// are missing. The host must refuse it with a message.
#include "mini.h"

SY_MINI_PLUGIN("too_small_struct", a.struct_size = offsetof(sy_plugin_api, execute))
