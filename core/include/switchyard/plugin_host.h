// Loading backend plugins (shared libraries implementing sdk/include/switchyard/plugin.h),
// and RAII handles for the objects they create.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "switchyard/plugin.h"
#include "switchyard/status.h"

namespace sy {

/// One device a plugin reports.
struct DeviceDescription {
  size_t index = 0;
  std::string name;
  sy_device_type type = SY_DEVICE_CPU;
  uint64_t memoryBytes = 0;
  int32_t score = 0;
  bool hostVisibleMemory = false;
};

/// A loaded plugin. Unloads (after calling shutdown) when the last reference
/// goes; every backend, buffer and compiled region holds a reference.
class LoadedPlugin {
 public:
  ~LoadedPlugin();
  LoadedPlugin(const LoadedPlugin&) = delete;
  LoadedPlugin& operator=(const LoadedPlugin&) = delete;

  const sy_plugin_api& api() const { return api_; }
  const std::string& name() const { return name_; }
  const std::string& version() const { return version_; }
  const std::string& vendor() const { return vendor_; }
  const std::string& path() const { return path_; }
  /// "major.minor" the plugin was built with.
  std::string abiVersion() const;
  const std::vector<DeviceDescription>& devices() const { return devices_; }
  /// Why the plugin has no devices (e.g. the driver said so); empty when it has some.
  const std::string& noDeviceReason() const { return noDeviceReason_; }

  /// Turns a plugin error into a Status (and destroys it). `context` names the call.
  Status toStatus(sy_error* error, std::string_view context) const;

  /// Creates a backend: api().backend_create, or for a plugin running in a
  /// helper process (`isolation: process`, runtime/include/switchyard/isolation.h)
  /// the proxy's, which must know which helper to ask.
  sy_error* backendCreate(size_t device, const sy_option* options, size_t numOptions, sy_backend** out) const {
    return isolatedBackendCreate_ ? isolatedBackendCreate_(isolation_.get(), device, options, numOptions, out)
                                  : api_.backend_create(device, options, numOptions, out);
  }
  /// The helper process behind an isolated plugin's proxy table; null in-process.
  const std::shared_ptr<void>& isolation() const { return isolation_; }

 private:
  friend class PluginHost;
  friend struct IsolatedPluginAccess;
  LoadedPlugin();  // defined where Library is complete
  struct Library;
  std::unique_ptr<Library> library_;
  sy_plugin_api api_{};  // copy, zero-filled beyond the plugin's struct_size
  std::string name_, version_, vendor_, path_, noDeviceReason_;
  std::vector<DeviceDescription> devices_;
  std::shared_ptr<void> isolation_;
  sy_error* (*isolatedBackendCreate_)(void*, size_t, const sy_option*, size_t, sy_backend**) = nullptr;
};

/// A plugin that could not be loaded, and why.
struct PluginLoadFailure {
  std::string path;
  std::string reason;
};

/// Finds and loads plugins.
class PluginHost {
 public:
  /// Loads one plugin file. Errors say which file and why: missing file,
  /// not a shared library (checked before dlopen: checkLibraryFile), no `sy_plugin_get_api`, another ABI major (both
  /// versions named), a function table missing required entries, init failure.
  static Result<std::shared_ptr<LoadedPlugin>> load(const std::string& path);

  /// Loads every `libsy_plugin_*.so` in `searchPaths` (in order; the first
  /// plugin of a given name wins, later ones are reported as shadowed).
  /// Failures are collected, not fatal.
  void discover(const std::vector<std::string>& searchPaths);
  /// Same, loading only the files named `libsy_plugin_<name>.so` for a name
  /// in `onlyNames` (the backends a config asks for; others are not opened).
  void discover(const std::vector<std::string>& searchPaths, const std::vector<std::string>& onlyNames);

  /// Checks, without loading it, that `path` is a complete ELF shared library
  /// for this machine: the header, and that the file is as long as its program
  /// and section headers say (dlopen of a truncated file faults with SIGBUS).
  static Status checkLibraryFile(const std::string& path);

  const std::vector<std::shared_ptr<LoadedPlugin>>& plugins() const { return plugins_; }
  const std::vector<PluginLoadFailure>& failures() const { return failures_; }
  /// Plugins that loaded but deserve a word: a file whose function table
  /// names another plugin than its file name (libsy_plugin_foo.so that says
  /// it is 'bar' loads as 'bar', so `backends: [foo]` would not find it).
  const std::vector<PluginLoadFailure>& warnings() const { return warnings_; }
  /// The loaded plugin named `name`, or nullptr.
  std::shared_ptr<LoadedPlugin> find(std::string_view name) const;

 private:
  std::vector<std::shared_ptr<LoadedPlugin>> plugins_;
  std::vector<PluginLoadFailure> failures_;
  std::vector<PluginLoadFailure> warnings_;
};

/// The default plugin search path, in order: each entry of the
/// SWITCHYARD_PLUGIN_PATH environment variable (':'-separated), the install's
/// plugin folder (<prefix>/lib/switchyard/plugins, found from the running
/// executable, so an installed prefix may move), and the build tree's plugins
/// folder (<build>/plugins, when the executable runs from <build>/bin of a
/// CMake build tree). Never the working directory.
std::vector<std::string> defaultPluginSearchPaths();

/// A backend instance (RAII).
class BackendInstance {
 public:
  static Result<std::shared_ptr<BackendInstance>> create(std::shared_ptr<LoadedPlugin> plugin, size_t device,
                                                         const std::vector<std::pair<std::string, std::string>>& options);
  ~BackendInstance();
  const LoadedPlugin& plugin() const { return *plugin_; }
  const std::shared_ptr<LoadedPlugin>& pluginPtr() const { return plugin_; }
  sy_backend* handle() const { return backend_; }
  const DeviceDescription& device() const { return device_; }

 private:
  BackendInstance() = default;
  std::shared_ptr<LoadedPlugin> plugin_;
  sy_backend* backend_ = nullptr;
  DeviceDescription device_;
};

/// A device buffer (RAII); keeps its backend alive.
class DeviceBuffer {
 public:
  static Result<std::shared_ptr<DeviceBuffer>> allocate(std::shared_ptr<BackendInstance> backend, size_t bytes);
  /// Adopts a buffer the plugin created (an execute output).
  static std::shared_ptr<DeviceBuffer> adopt(std::shared_ptr<BackendInstance> backend, sy_buffer* buffer);
  ~DeviceBuffer();
  sy_buffer* handle() const { return buffer_; }
  const BackendInstance& backend() const { return *backend_; }
  Status write(size_t offset, const void* src, size_t bytes);
  Status read(size_t offset, void* dst, size_t bytes) const;
  /// Host address when the memory is host visible, else nullptr.
  void* hostPointer() const;

 private:
  DeviceBuffer() = default;
  std::shared_ptr<BackendInstance> backend_;
  sy_buffer* buffer_ = nullptr;
};

}  // namespace sy
