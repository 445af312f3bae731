// Process isolation for a backend plugin (`isolation: process` in the config;
// docs/isolation.md): the plugin runs in a helper process,
// `switchyard-plugin-host`, that the host starts, and the host talks to it
// through a proxy that fills the same C function table (sy_plugin_api) and
// forwards each call over a Unix socket, with tensors in shared memory
// (memfd). A crash or a hang of the helper fails the call in progress with an
// error naming the plugin and the signal (or the timeout); the next call
// starts a fresh helper and re-creates the backend and compiled regions it
// needs.
#pragma once

#include <memory>
#include <string>

#include "switchyard/plugin_host.h"
#include "switchyard/status.h"

namespace sy {

struct IsolationOptions {
  /// Longest a call (compile, execute, ...) may take before the helper is
  /// killed and the call fails (config key `timeout_ms`).
  int callTimeoutMs = 60000;
  /// Longest the helper may take to start and load the plugin (init and
  /// device enumeration included).
  int startTimeoutMs = 60000;
  /// The helper executable; "" = findPluginHostExecutable().
  std::string helperPath;
};

/// The default call timeout (`timeout_ms` when the config does not set it).
constexpr int kDefaultIsolationTimeoutMs = 60000;

/// Starts a helper that loads the plugin at `pluginPath`, and returns a
/// LoadedPlugin whose table forwards to it. Load errors (the helper's
/// PluginHost::load message) come back as they would in-process.
Result<std::shared_ptr<LoadedPlugin>> loadIsolatedPlugin(const std::string& pluginPath,
                                                         const IsolationOptions& options);

/// Where `switchyard-plugin-host` is: $SWITCHYARD_PLUGIN_HOST, else next to the
/// running executable, else <prefix>/libexec/switchyard/ or <prefix>/bin/ of
/// the executable's prefix. "" when none exists.
std::string findPluginHostExecutable();

/// The process id of the helper behind an isolated plugin (0 when none runs
/// now, or when `plugin` is not isolated). For tests and diagnostics.
int isolatedHelperPid(const LoadedPlugin& plugin);

}  // namespace sy
