// A small plugin compiled into the test executable (test_plugin.cpp), reached
// only through the function table that SY_DEFINE_PLUGIN generates, as the host
// reaches a loaded plugin. Its behaviour is steered by backend options:
//   mode=query_throws        querySupport throws sy::sdk::Error(SY_ERROR_DEVICE, "query boom")
//   mode=compile_throws      compile throws std::runtime_error("compile boom")
//   mode=compile_throws_int  compile throws an int
//   mode=execute_throws      execute allocates its output, then throws std::runtime_error("execute boom")
//   mode=execute_forgets     execute returns without setting its output
//   mode=execute_wrong_dtype execute gives an i32 output for an f32 region output
//   fail=true                createBackend throws std::runtime_error("backend boom")
// Otherwise: nodes with op "add" are supported (cost 1.5), "silent" nodes get
// no answer, "long" nodes a 300-character reason, others a reason naming the
// op; execute copies input 0 to output 0.
// Plugin::init throws std::runtime_error("init refused: no device here") when
// the host version is "refuse".
#pragma once

#include <atomic>

#include "switchyard/plugin.h"

extern "C" const sy_plugin_api* sy_plugin_get_api(void);

namespace sy_test {
extern std::atomic<int> liveBuffers;    // buffers the test backend has allocated and not freed
extern std::atomic<int> initCalls;      // Plugin::init calls
extern std::atomic<int> shutdownCalls;  // Plugin::shutdown calls
}  // namespace sy_test
