// no_symbol: a shared library that is not a plugin: it exports a function,
// but not sy_plugin_get_api. The host must say the entry symbol is missing.
#include <switchyard/plugin.h>

extern "C" SY_PLUGIN_EXPORT int sy_test_not_a_plugin(void) { return 42; }
