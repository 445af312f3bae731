// The fatal-signal line: when a plugin running in the host process crashes
// (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT), one line on stderr says which
// plugin, which call and which region were running before the process dies
// as it would have (same signal, same exit status). Plugins that may crash
// belong in a helper process instead (`isolation: process`, docs/isolation.md).
#pragma once

namespace sy {

/// Marks the calling thread as inside a plugin call for the fatal-signal line
/// (RAII; nests). `plugin` and `call` must outlive the scope; `region` < 0
/// means the call is not about one region (a capability query).
class PluginCallScope {
 public:
  PluginCallScope(const char* plugin, const char* call, int region);
  ~PluginCallScope();
  PluginCallScope(const PluginCallScope&) = delete;
  PluginCallScope& operator=(const PluginCallScope&) = delete;

  const char* plugin;
  const char* call;
  int region;
  const PluginCallScope* previous;
};

/// Installs the handler once per process (later calls do nothing). A handler
/// already installed for one of the signals (a sanitizer's, the
/// application's) is kept and called after the line is written.
void installFatalSignalHandler();

}  // namespace sy
