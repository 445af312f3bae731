#include "switchyard/plugin_host.h"

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <fcntl.h>
#include <link.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>

namespace sy {

namespace fs = std::filesystem;

struct LoadedPlugin::Library {
  boost::dll::shared_library lib;
};

LoadedPlugin::LoadedPlugin() = default;

LoadedPlugin::~LoadedPlugin() {
  if (api_.shutdown) api_.shutdown();
  // library_ unloads when destroyed, after shutdown.
}

std::string LoadedPlugin::abiVersion() const {
  return std::to_string(api_.abi_major) + "." + std::to_string(api_.abi_minor);
}

Status LoadedPlugin::toStatus(sy_error* error, std::string_view context) const {
  if (!error) return Status::OK();
  const char* msg = api_.error_message ? api_.error_message(error) : nullptr;
  const int32_t code = api_.error_code ? api_.error_code(error) : SY_ERROR_UNKNOWN;
  std::string text = msg ? msg : "(no message)";
  if (api_.error_destroy) api_.error_destroy(error);
  StatusCode sc = StatusCode::kInternal;
  switch (code) {
    case SY_ERROR_INVALID_ARGUMENT: sc = StatusCode::kInvalidArgument; break;
    case SY_ERROR_UNIMPLEMENTED: sc = StatusCode::kUnimplemented; break;
    case SY_ERROR_OUT_OF_MEMORY: sc = StatusCode::kResourceExhausted; break;
    case SY_ERROR_DEVICE: sc = StatusCode::kFailedPrecondition; break;
    default: sc = StatusCode::kInternal; break;
  }
  return Status(sc, "plugin '" + name_ + "': " + std::string(context) + ": " + text);
}

namespace {

/// End of the last required entry: a table shorter than this cannot work.
constexpr size_t kRequiredTableSize = offsetof(sy_plugin_api, buffer_read) + sizeof(sy_plugin_api::buffer_read);

bool validName(const char* s) {
  if (!s || !*s) return false;
  for (const char* p = s; *p; ++p)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) return false;
  return true;
}

std::string firstLine(const std::string& s) {
  const size_t nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

}  // namespace

Result<std::shared_ptr<LoadedPlugin>> PluginHost::load(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return notFound(path, ": no such file");
  if (fs::is_directory(path, ec)) return invalidArgument(path, ": is a directory, not a plugin library");

  SY_RETURN_IF_ERROR(checkLibraryFile(path));
  auto lib = std::make_unique<LoadedPlugin::Library>();
  try {
    lib->lib.load(boost::dll::fs::path(path),
                  boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    // Boost.DLL reports dlerror()'s text; keep its first line.
    return invalidArgument(path, ": cannot load: ", firstLine(e.what()));
  }
  if (!lib->lib.has(SY_PLUGIN_ENTRY_SYMBOL))
    return invalidArgument(path, ": not a Switchyard plugin: it does not export '", SY_PLUGIN_ENTRY_SYMBOL, "'");

  const sy_plugin_api* table = nullptr;
  try {
    auto entry = lib->lib.get<const sy_plugin_api*()>(SY_PLUGIN_ENTRY_SYMBOL);
    table = entry();
  } catch (const std::exception& e) {
    return invalidArgument(path, ": calling ", SY_PLUGIN_ENTRY_SYMBOL, " failed: ", firstLine(e.what()));
  }
  if (!table) return invalidArgument(path, ": ", SY_PLUGIN_ENTRY_SYMBOL, " returned no function table");
  if (table->struct_size < offsetof(sy_plugin_api, abi_minor) + sizeof(uint32_t))
    return invalidArgument(path, ": its function table is ", table->struct_size, " bytes, too small to hold a version");
  if (table->abi_major != SY_ABI_VERSION_MAJOR)
    return invalidArgument(path, ": plugin ABI ", table->abi_major, ".", table->abi_minor,
                           " is not compatible with this Switchyard's ABI ", SY_ABI_VERSION_MAJOR, ".",
                           SY_ABI_VERSION_MINOR, " (the major versions differ)");
  if (table->struct_size < kRequiredTableSize)
    return invalidArgument(path, ": its function table is ", table->struct_size,
                           " bytes, smaller than the ", kRequiredTableSize, " bytes that ABI ",
                           SY_ABI_VERSION_MAJOR, ".0's required entries take");

  auto plugin = std::shared_ptr<LoadedPlugin>(new LoadedPlugin());
  std::memcpy(&plugin->api_, table, std::min(table->struct_size, sizeof(sy_plugin_api)));
  plugin->api_.struct_size = sizeof(sy_plugin_api);
  const sy_plugin_api& api = plugin->api_;
  plugin->path_ = path;

  const char* missing = nullptr;
#define SY_REQUIRE_ENTRY(field) \
  if (!missing && !api.field) missing = #field;
  SY_REQUIRE_ENTRY(error_message)
  SY_REQUIRE_ENTRY(error_code)
  SY_REQUIRE_ENTRY(error_destroy)
  SY_REQUIRE_ENTRY(device_count)
  SY_REQUIRE_ENTRY(device_info)
  SY_REQUIRE_ENTRY(backend_create)
  SY_REQUIRE_ENTRY(backend_destroy)
  SY_REQUIRE_ENTRY(query_support)
  SY_REQUIRE_ENTRY(compile)
  SY_REQUIRE_ENTRY(compiled_destroy)
  SY_REQUIRE_ENTRY(compiled_info)
  SY_REQUIRE_ENTRY(execute)
  SY_REQUIRE_ENTRY(buffer_alloc)
  SY_REQUIRE_ENTRY(buffer_free)
  SY_REQUIRE_ENTRY(buffer_size)
  SY_REQUIRE_ENTRY(buffer_write)
  SY_REQUIRE_ENTRY(buffer_read)
#undef SY_REQUIRE_ENTRY
  if (missing) return invalidArgument(path, ": required entry '", missing, "' of the function table is NULL");
  if (!validName(api.name))
    return invalidArgument(path, ": plugin name '", api.name ? api.name : "(null)",
                           "' is not a valid backend name ([a-z0-9_]+)");
  plugin->name_ = api.name;
  plugin->version_ = api.version ? api.version : "";
  plugin->vendor_ = api.vendor ? api.vendor : "";
  plugin->library_ = std::move(lib);

  if (api.init) {
    sy_host_info host{};
    host.struct_size = sizeof(host);
    host.abi_major = SY_ABI_VERSION_MAJOR;
    host.abi_minor = SY_ABI_VERSION_MINOR;
    host.host_version = "0.1.0";
    sy_error* err = api.init(&host);
    if (err) {
      Status st = plugin->toStatus(err, "init");
      plugin->api_.shutdown = nullptr;  // init failed: nothing to shut down
      // Keep the plugin's code: SY_ERROR_DEVICE (FailedPrecondition) means
      // "no usable device or driver here", which the conformance runner
      // reports as skipped rather than failed.
      return Status(st.code() == StatusCode::kFailedPrecondition ? st.code() : StatusCode::kInvalidArgument,
                    path + ": " + st.message());
    }
  }

  size_t count = 0;
  if (sy_error* err = api.device_count(&count)) {
    plugin->noDeviceReason_ = plugin->toStatus(err, "device_count").message();
    count = 0;
  }
  for (size_t i = 0; i < count && i < 4096; ++i) {
    sy_device_info info{};
    info.struct_size = sizeof(info);
    if (sy_error* err = api.device_info(i, &info)) {
      return invalidArgument(path, ": ", plugin->toStatus(err, "device_info(" + std::to_string(i) + ")").message());
    }
    DeviceDescription d;
    d.index = i;
    d.name = info.name ? info.name : ("device " + std::to_string(i));
    d.type = static_cast<sy_device_type>(info.type);
    d.memoryBytes = info.memory_bytes;
    d.score = info.score;
    d.hostVisibleMemory = info.host_visible_memory != 0;
    plugin->devices_.push_back(std::move(d));
  }
  if (count == 0 && plugin->noDeviceReason_.empty()) plugin->noDeviceReason_ = "the plugin reports no devices";
  return plugin;
}

Status PluginHost::checkLibraryFile(const std::string& path) {
  // O_NONBLOCK: a FIFO named like a plugin must not block the host.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return invalidArgument(path, ": cannot open: ", std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return invalidArgument(path, ": cannot stat: ", std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return invalidArgument(path, ": not a regular file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  auto readAt = [&](void* dst, size_t bytes, uint64_t offset) {
    return ::pread(fd, dst, bytes, static_cast<off_t>(offset)) == static_cast<ssize_t>(bytes);
  };
  ElfW(Ehdr) eh{};
  const size_t headerBytes = static_cast<size_t>(std::min<uint64_t>(size, sizeof(eh)));
  if (!readAt(&eh, headerBytes, 0)) return invalidArgument(path, ": cannot read: ", std::strerror(errno));
  if (size >= SELFMAG && std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return invalidArgument(path, ": not an ELF file");
  if (size < sizeof(eh)) return invalidArgument(path, ": truncated: ", size, " bytes, shorter than an ELF header");
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return invalidArgument(path, ": not an ELF file");
  const int hostClass = sizeof(void*) == 8 ? ELFCLASS64 : ELFCLASS32;
  if (eh.e_ident[EI_CLASS] != hostClass)
    return invalidArgument(path, ": a ", eh.e_ident[EI_CLASS] == ELFCLASS32 ? "32" : "64",
                           "-bit ELF file; this host is ", sizeof(void*) * 8, "-bit");
  if (eh.e_type != ET_DYN) return invalidArgument(path, ": not a shared library (ELF type ", eh.e_type, ")");
#if defined(__x86_64__)
  constexpr int kHostMachine = EM_X86_64;
#elif defined(__aarch64__)
  constexpr int kHostMachine = EM_AARCH64;
#else
  constexpr int kHostMachine = -1;
#endif
  if (kHostMachine >= 0 && eh.e_machine != kHostMachine)
    return invalidArgument(path, ": built for another machine (ELF machine ", eh.e_machine, ", this host is ",
                           kHostMachine, ")");
  auto truncated = [&](uint64_t needed, const char* what) {
    return invalidArgument(path, ": truncated: its ", what, " need ", needed, " bytes, the file has ", size,
                           " (a partial copy or an interrupted build?)");
  };
  if (eh.e_phnum == 0 || eh.e_phentsize != sizeof(ElfW(Phdr)))
    return invalidArgument(path, ": malformed ELF file (", eh.e_phnum, " program headers of ", eh.e_phentsize,
                           " bytes)");
  const uint64_t phEnd = uint64_t{eh.e_phoff} + uint64_t{eh.e_phnum} * sizeof(ElfW(Phdr));
  if (eh.e_phoff > size || phEnd > size) return truncated(phEnd, "program headers");
  uint64_t needed = 0;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    ElfW(Phdr) ph{};
    if (!readAt(&ph, sizeof(ph), eh.e_phoff + uint64_t{i} * sizeof(ph))) return truncated(phEnd, "program headers");
    if (ph.p_filesz > UINT64_MAX - ph.p_offset) return invalidArgument(path, ": malformed ELF program header ", i);
    needed = std::max<uint64_t>(needed, uint64_t{ph.p_offset} + ph.p_filesz);
  }
  if (needed > size) return truncated(needed, "program headers' segments");
  if (eh.e_shoff != 0) {
    const uint64_t shEnd = uint64_t{eh.e_shoff} + uint64_t{eh.e_shnum} * uint64_t{eh.e_shentsize};
    if (eh.e_shoff > size || shEnd > size) return truncated(shEnd, "section headers");
  }
  return Status::OK();
}

void PluginHost::discover(const std::vector<std::string>& searchPaths) { discover(searchPaths, {}); }

void PluginHost::discover(const std::vector<std::string>& searchPaths, const std::vector<std::string>& onlyNames) {
  std::set<std::string> seenFiles;
  const std::set<std::string> only(onlyNames.begin(), onlyNames.end());
  for (const std::string& dir : searchPaths) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> candidates;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string fname = entry.path().filename().string();
      if (fname.rfind("libsy_plugin_", 0) != 0 || entry.path().extension() != ".so") continue;
      const std::string stem = fname.substr(13, fname.size() - 13 - 3);
      if (!only.empty() && !only.count(stem)) continue;  // not asked for: never opened
      candidates.push_back(entry.path());
    }
    std::sort(candidates.begin(), candidates.end());
    for (const fs::path& p : candidates) {
      const std::string canonical = fs::weakly_canonical(p, ec).string();
      if (!seenFiles.insert(canonical).second) continue;
      auto loaded = load(p.string());
      if (!loaded.ok()) {
        failures_.push_back({p.string(), loaded.status().message()});
        continue;
      }
      const std::string stem = p.filename().string().substr(13, p.filename().string().size() - 13 - 3);
      if ((*loaded)->name() != stem)
        warnings_.push_back({p.string(), p.string() + ": loaded as plugin '" + (*loaded)->name() +
                                             "' (the name in its function table), not '" + stem +
                                             "' as its file name says; name the file libsy_plugin_" +
                                             (*loaded)->name() + ".so"});
      if (find((*loaded)->name())) {
        failures_.push_back({p.string(), "plugin '" + (*loaded)->name() + "' is already loaded from " +
                                             find((*loaded)->name())->path() + "; this copy is ignored"});
        continue;
      }
      plugins_.push_back(std::move(*loaded));
    }
  }
}

std::shared_ptr<LoadedPlugin> PluginHost::find(std::string_view name) const {
  for (const auto& p : plugins_)
    if (p->name() == name) return p;
  return nullptr;
}

std::vector<std::string> defaultPluginSearchPaths() {
  std::vector<std::string> paths;
  if (const char* env = std::getenv("SWITCHYARD_PLUGIN_PATH")) {
    std::string s(env);
    size_t start = 0;
    while (start <= s.size()) {
      const size_t colon = s.find(':', start);
      std::string part = s.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      if (!part.empty()) paths.push_back(part);
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  try {
    const fs::path exeDir = fs::path(boost::dll::program_location().string()).parent_path();
    paths.push_back((exeDir.parent_path() / "lib" / "switchyard" / "plugins").string());
    // An installed bin/ has no CMakeCache.txt beside it: only a build tree gets <build>/plugins.
    std::error_code ec;
    if (exeDir.filename() == "bin" && fs::exists(exeDir.parent_path() / "CMakeCache.txt", ec))
      paths.push_back((exeDir.parent_path() / "plugins").string());
  } catch (const std::exception&) {
    // Without the executable's location only the environment's paths remain.
  }
  return paths;
}

// ---------------------------------------------------------------------------

Result<std::shared_ptr<BackendInstance>> BackendInstance::create(
    std::shared_ptr<LoadedPlugin> plugin, size_t device, const std::vector<std::pair<std::string, std::string>>& options) {
  if (device >= plugin->devices().size())
    return invalidArgument("plugin '", plugin->name(), "' has ", plugin->devices().size(), " devices; device ", device,
                           " does not exist");
  std::vector<sy_option> opts;
  for (const auto& [k, v] : options) opts.push_back(sy_option{sizeof(sy_option), k.c_str(), v.c_str()});
  sy_backend* b = nullptr;
  sy_error* err = plugin->backendCreate(device, opts.data(), opts.size(), &b);
  if (err) return plugin->toStatus(err, "backend_create on device " + std::to_string(device));
  if (!b) return internalError("plugin '", plugin->name(), "': backend_create returned no backend");
  auto inst = std::shared_ptr<BackendInstance>(new BackendInstance());
  inst->device_ = plugin->devices()[device];
  inst->plugin_ = std::move(plugin);
  inst->backend_ = b;
  return inst;
}

BackendInstance::~BackendInstance() {
  if (backend_) plugin_->api().backend_destroy(backend_);
}

Result<std::shared_ptr<DeviceBuffer>> DeviceBuffer::allocate(std::shared_ptr<BackendInstance> backend, size_t bytes) {
  sy_buffer* b = nullptr;
  const sy_plugin_api& api = backend->plugin().api();
  if (sy_error* err = api.buffer_alloc(backend->handle(), bytes, &b))
    return backend->plugin().toStatus(err, "buffer_alloc(" + std::to_string(bytes) + " bytes)");
  if (!b) return internalError("plugin '", backend->plugin().name(), "': buffer_alloc returned no buffer");
  return adopt(std::move(backend), b);
}

std::shared_ptr<DeviceBuffer> DeviceBuffer::adopt(std::shared_ptr<BackendInstance> backend, sy_buffer* buffer) {
  auto d = std::shared_ptr<DeviceBuffer>(new DeviceBuffer());
  d->backend_ = std::move(backend);
  d->buffer_ = buffer;
  return d;
}

DeviceBuffer::~DeviceBuffer() {
  if (buffer_) backend_->plugin().api().buffer_free(buffer_);
}

Status DeviceBuffer::write(size_t offset, const void* src, size_t bytes) {
  if (bytes == 0) return Status::OK();
  return backend_->plugin().toStatus(backend_->plugin().api().buffer_write(buffer_, offset, src, bytes), "buffer_write");
}

Status DeviceBuffer::read(size_t offset, void* dst, size_t bytes) const {
  if (bytes == 0) return Status::OK();
  return backend_->plugin().toStatus(backend_->plugin().api().buffer_read(buffer_, offset, dst, bytes), "buffer_read");
}

void* DeviceBuffer::hostPointer() const {
  const auto& api = backend_->plugin().api();
  return api.buffer_host_pointer ? api.buffer_host_pointer(buffer_) : nullptr;
}

}  // namespace sy
