// bad_major: a working plugin built for the next ABI major. The host must
// refuse it with a message naming both versions and the file.
#include "mini.h"

SY_MINI_PLUGIN("bad_major", a.abi_major = SY_ABI_VERSION_MAJOR + 1)
