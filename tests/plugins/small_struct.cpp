// small_struct: a working host-visible relu/add plugin built against an older
// minor whose table ends before buffer_host_pointer (abi_minor 0). The entries
// past struct_size (buffer_host_pointer, buffer_wrap_host) are filled in
// memory, but the host must treat them as absent, copy through
// buffer_write/buffer_read, and still work.
#include "mini.h"

SY_MINI_PLUGIN("small_struct", a.struct_size = offsetof(sy_plugin_api, buffer_host_pointer); a.abi_minor = 0)
