// memdev as a plugin built against ABI 1.0 (its table says abi_minor 0): the
// host must give it the 1.0 view, with `constant`/`weight` nodes inside
// (runtime/tests/constants_test.cpp). It lives in its own folder,
// test-plugins-abi10, so that nothing that searches test-plugins finds it.
#define SY_TEST_MEMDEV_NAME "memdev_abi10"
#define SY_TEST_MEMDEV_ABI_MINOR 0
#include "memdev.cpp"
