// The host side of `isolation: process`: a sy_plugin_api whose entries
// forward to a helper process (Note [isolation wire] in wire.h).
//
// Note [isolated objects]. Backends and compiled regions live in the helper;
// the proxy's handles remember how to make them again (the backend's device
// and options, the compiled region's flattened view) and in which helper
// generation they were made. After a crash or a timeout the helper is reaped;
// the next call starts a new one (generation + 1) and re-creates, on demand,
// the backend and the compiled region that call needs. Buffers are host
// memory (memfds mapped here): they survive the helper, and the helper maps
// them for each execute, so a region's inputs and outputs cross once each way
// per call and nothing is left behind in a helper that dies. Calls to one
// helper are serialised (one request in flight per socket), each with a
// deadline.
#include "switchyard/isolation.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/dll/runtime_symbol_info.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <new>
#include <thread>

#include "wire.h"

extern char** environ;

namespace sy {

/// Builds the LoadedPlugin of an isolated plugin (LoadedPlugin's friend).
struct IsolatedPluginAccess {
  static std::shared_ptr<LoadedPlugin> make() { return std::shared_ptr<LoadedPlugin>(new LoadedPlugin()); }
  static LoadedPlugin& fill(LoadedPlugin& p, const sy_plugin_api& api, std::string name, std::string version,
                            std::string vendor, std::string path, std::string noDeviceReason,
                            std::vector<DeviceDescription> devices, std::shared_ptr<void> isolation,
                            sy_error* (*create)(void*, size_t, const sy_option*, size_t, sy_backend**)) {
    p.api_ = api;
    p.name_ = std::move(name);
    p.version_ = std::move(version);
    p.vendor_ = std::move(vendor);
    p.path_ = std::move(path);
    p.noDeviceReason_ = std::move(noDeviceReason);
    p.devices_ = std::move(devices);
    p.isolation_ = std::move(isolation);
    p.isolatedBackendCreate_ = create;
    p.api_.name = p.name_.c_str();
    p.api_.version = p.version_.c_str();
    p.api_.vendor = p.vendor_.c_str();
    return p;
  }
};

namespace isolation {
namespace {

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// Errors

struct ProxyError {
  int32_t code;
  std::string message;
  bool isStatic = false;  // the out-of-memory fallback, never freed
};

sy_error* makeError(int32_t code, const std::string& message) noexcept {
  try {
    return reinterpret_cast<sy_error*>(new ProxyError{code, message});
  } catch (...) {
    static ProxyError oom{SY_ERROR_OUT_OF_MEMORY, "out of memory", true};
    return reinterpret_cast<sy_error*>(&oom);
  }
}

const char* proxyErrorMessage(const sy_error* e) {
  return e ? reinterpret_cast<const ProxyError*>(e)->message.c_str() : "(no error)";
}
int32_t proxyErrorCode(const sy_error* e) { return e ? reinterpret_cast<const ProxyError*>(e)->code : 0; }
void proxyErrorDestroy(sy_error* e) {
  auto* p = reinterpret_cast<ProxyError*>(e);
  if (p && !p->isStatic) delete p;
}

// ---------------------------------------------------------------------------
// The helper process

std::string signalText(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  const char* desc = strsignal(sig);
  std::string s = abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
  if (desc) s += std::string(" (") + desc + ")";
  return s;
}

/// The answer to one request.
struct CallResult {
  bool ok = false;
  int32_t code = SY_ERROR_INTERNAL;
  std::string message;  // when !ok
  std::string payload;  // when ok: the reply, status already read
  size_t bodyOffset = 0;
  std::vector<int> fds;  // owned by the receiver
  ~CallResult() {
    for (int f : fds) ::close(f);
  }
  Reader body() const { return Reader(payload.data() + bodyOffset, payload.size() - bodyOffset); }
};

/// One helper process for one plugin; restarted after it dies.
class Helper {
 public:
  Helper(std::string pluginPath, IsolationOptions options)
      : pluginPath_(std::move(pluginPath)), options_(std::move(options)) {}
  ~Helper() {
    std::lock_guard<std::mutex> lock(mutex);
    if (fd_ >= 0) {
      ::close(fd_);  // the helper reads EOF and exits
      fd_ = -1;
    }
    if (pid_ > 0) reap(/*kill=*/false, 2000);
  }

  std::mutex mutex;  // serialises every call to this helper

  uint64_t generation() const { return generation_; }
  bool running() const { return pid_ > 0; }
  int pid() const { return pid_; }
  const IsolationOptions& options() const { return options_; }

  /// Starts the helper if none runs; the first start also gives the handshake.
  CallResult ensureRunning() {
    CallResult r;
    if (running()) {
      r.ok = true;
      return r;
    }
    const std::string exe = options_.helperPath.empty() ? findPluginHostExecutable() : options_.helperPath;
    if (exe.empty()) {
      r.message = "the isolation helper 'switchyard-plugin-host' was not found (next to the executable, in "
                  "<prefix>/libexec/switchyard, or $SWITCHYARD_PLUGIN_HOST)";
      return r;
    }
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      r.message = std::string("socketpair: ") + std::strerror(errno);
      return r;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, sv[1], 3);  // dup2 clears FD_CLOEXEC on fd 3
    std::string fdArg = "3";
    std::vector<char*> argv = {const_cast<char*>(exe.c_str()), const_cast<char*>("--fd"), fdArg.data(),
                               const_cast<char*>(pluginPath_.c_str()), nullptr};
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(sv[1]);
    if (rc != 0) {
      ::close(sv[0]);
      r.message = "cannot start the isolation helper '" + exe + "': " + std::strerror(rc);
      return r;
    }
    ::fcntl(sv[0], F_SETFL, ::fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    pid_ = pid;
    fd_ = sv[0];
    ++generation_;
    // The helper speaks first: the handshake, or why it could not load the plugin.
    std::string error;
    std::vector<int> fds;
    const RecvStatus st = recvMessage(fd_, handshake_, fds, options_.startTimeoutMs, error);
    for (int f : fds) ::close(f);
    if (st != RecvStatus::Ok) {
      r.message = failure(st, "starting", options_.startTimeoutMs, "start");
      return r;
    }
    Reader rd(handshake_);
    const uint32_t status = rd.u32();
    if (!rd.ok()) {
      r.message = "the isolation helper sent a malformed handshake";
      return r;
    }
    if (status != 0) {
      rd.str(r.message);
      r.code = static_cast<int32_t>(status);
      reap(false, 2000);
      return r;
    }
    r.ok = true;
    r.payload = handshake_;
    r.bodyOffset = sizeof(uint32_t);
    return r;
  }

  /// Sends one request and waits for its reply (the helper must be running).
  void call(const std::string& request, const std::vector<int>& fds, const char* what, int timeoutMs, CallResult& r) {
    r.ok = false;
    std::string error;
    if (!sendMessage(fd_, request, fds, timeoutMs, error)) {
      // A send fails when the helper died (or stopped reading): find out which.
      r.message = failure(error.find("timed out") != std::string::npos ? RecvStatus::TimedOut : RecvStatus::Closed,
                          what, timeoutMs, what);
      return;
    }
    const RecvStatus st = recvMessage(fd_, r.payload, r.fds, timeoutMs, error);
    if (st != RecvStatus::Ok) {
      r.message = failure(st, what, timeoutMs, what);
      return;
    }
    Reader rd(r.payload);
    const uint32_t status = rd.u32();
    if (!rd.ok()) {
      r.message = "the isolation helper sent a malformed reply to " + std::string(what);
      return;
    }
    if (status != 0) {
      rd.str(r.message);
      r.code = static_cast<int32_t>(status);
      return;
    }
    r.ok = true;
    r.bodyOffset = sizeof(uint32_t);
  }

 private:
  /// Turns a failed exchange into a message: the helper is killed (on a
  /// timeout) or reaped (it died), and the message says which signal or
  /// status ended it.
  std::string failure(RecvStatus st, const char* during, int timeoutMs, const char* call) {
    const int pid = pid_;
    if (st == RecvStatus::TimedOut) {
      reap(/*kill=*/true, 2000);
      return std::string(call) + " did not answer within " + std::to_string(timeoutMs) +
             " ms (timeout_ms); the isolation helper (process " + std::to_string(pid) +
             ") was killed and restarts on the next call";
    }
    const std::string how = reap(/*kill=*/false, 2000);
    return std::string("the isolation helper (process ") + std::to_string(pid) + ") " + how + " during " + during +
           "; it restarts on the next call";
  }

  /// Waits (up to `waitMs`, then SIGKILL) for the helper to end; says how it ended.
  std::string reap(bool kill, int waitMs) {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (pid_ <= 0) return "ended";
    if (kill) ::kill(pid_, SIGKILL);
    int status = 0;
    pid_t done = 0;
    const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(waitMs);
    while ((done = ::waitpid(pid_, &status, WNOHANG)) == 0 && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (done == 0) {
      ::kill(pid_, SIGKILL);
      while ((done = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
      }
      kill = true;
    }
    pid_ = -1;
    if (done < 0) return "ended (waitpid: " + std::string(std::strerror(errno)) + ")";
    if (WIFSIGNALED(status))
      return (kill && WTERMSIG(status) == SIGKILL ? "was killed by " : "died of signal ") + signalText(WTERMSIG(status));
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    return "ended";
  }

  const std::string pluginPath_;
  const IsolationOptions options_;
  pid_t pid_ = -1;
  int fd_ = -1;
  uint64_t generation_ = 0;
  std::string handshake_;
};

// ---------------------------------------------------------------------------
// Handles

struct ProxyBackend {
  std::shared_ptr<Helper> helper;
  size_t device = 0;
  std::vector<std::pair<std::string, std::string>> options;
  uint64_t remoteId = 0;
  uint64_t generation = 0;  // the helper generation remoteId belongs to
};

struct ProxyCompiled {
  ProxyBackend* backend = nullptr;
  std::string view;  // the flattened region, to compile again in a new helper
  uint64_t remoteId = 0;
  uint64_t generation = 0;
  int32_t concurrent = 0;
};

struct ProxyBuffer {
  int fd = -1;
  void* data = nullptr;  // mapped when size > 0
  size_t size = 0;
  ~ProxyBuffer() {
    if (data) ::munmap(data, size);
    if (fd >= 0) ::close(fd);
  }
};

ProxyBackend* backendOf(sy_backend* b) { return reinterpret_cast<ProxyBackend*>(b); }
ProxyCompiled* compiledOf(sy_compiled* c) { return reinterpret_cast<ProxyCompiled*>(c); }
const ProxyCompiled* compiledOf(const sy_compiled* c) { return reinterpret_cast<const ProxyCompiled*>(c); }
ProxyBuffer* bufferOf(sy_buffer* b) { return reinterpret_cast<ProxyBuffer*>(b); }
const ProxyBuffer* bufferOf(const sy_buffer* b) { return reinterpret_cast<const ProxyBuffer*>(b); }

sy_error* errorOf(const CallResult& r) { return makeError(r.code, r.message); }

/// Makes sure the backend exists in the running helper (starting it if needed).
bool bringUp(ProxyBackend& b, CallResult& r) {
  Helper& h = *b.helper;
  CallResult started = h.ensureRunning();
  if (!started.ok) {
    r.ok = false;
    r.code = started.code;
    r.message = started.message;
    return false;
  }
  if (b.generation == h.generation()) return true;
  Writer w;
  w.u32(static_cast<uint32_t>(Op::BackendCreate));
  w.u64(b.device);
  w.u64(b.options.size());
  for (const auto& [k, v] : b.options) {
    w.str(k);
    w.str(v);
  }
  h.call(w.buffer(), {}, "backend_create", h.options().callTimeoutMs, r);
  if (!r.ok) return false;
  Reader rd = r.body();
  b.remoteId = rd.u64();
  if (!rd.ok()) {
    r.ok = false;
    r.message = "malformed reply to backend_create";
    return false;
  }
  b.generation = h.generation();
  return true;
}

/// Makes sure the compiled region exists in the running helper.
bool bringUp(ProxyCompiled& c, CallResult& r) {
  if (!bringUp(*c.backend, r)) return false;
  Helper& h = *c.backend->helper;
  if (c.generation == h.generation()) return true;
  Writer w;
  w.u32(static_cast<uint32_t>(Op::Compile));
  w.u64(c.backend->remoteId);
  w.raw(c.view.data(), c.view.size());
  CallResult cr;
  h.call(w.buffer(), {}, "compile", h.options().callTimeoutMs, cr);
  if (!cr.ok) {
    r.ok = false;
    r.code = cr.code;
    r.message = cr.message;
    return false;
  }
  Reader rd = cr.body();
  c.remoteId = rd.u64();
  c.concurrent = rd.i32();
  if (!rd.ok()) {
    r.ok = false;
    r.message = "malformed reply to compile";
    return false;
  }
  c.generation = h.generation();
  r.ok = true;
  return true;
}

// ---------------------------------------------------------------------------
// The table's entries. None throws: each catches and returns an error.

sy_error* proxyDeviceCount(size_t* out_count) {
  if (out_count) *out_count = 0;
  return makeError(SY_ERROR_UNIMPLEMENTED, "an isolated plugin's devices are read once, when its helper starts");
}

sy_error* proxyDeviceInfo(size_t, sy_device_info*) {
  return makeError(SY_ERROR_UNIMPLEMENTED, "an isolated plugin's devices are read once, when its helper starts");
}

sy_error* proxyBackendCreate(void* isolation, size_t device, const sy_option* options, size_t num_options,
                             sy_backend** out_backend) noexcept {
  if (!out_backend) return makeError(SY_ERROR_INVALID_ARGUMENT, "out_backend is NULL");
  *out_backend = nullptr;
  if (num_options && !options) return makeError(SY_ERROR_INVALID_ARGUMENT, "options is NULL");
  try {
    auto helper = *static_cast<std::shared_ptr<Helper>*>(isolation);
    auto b = std::make_unique<ProxyBackend>();
    b->helper = helper;
    b->device = device;
    for (size_t i = 0; i < num_options; ++i) {
      const sy_option& o = *reinterpret_cast<const sy_option*>(reinterpret_cast<const char*>(options) +
                                                               i * options[0].struct_size);
      b->options.emplace_back(o.key ? o.key : "", o.value ? o.value : "");
    }
    std::lock_guard<std::mutex> lock(helper->mutex);
    CallResult r;
    if (!bringUp(*b, r)) return errorOf(r);
    *out_backend = reinterpret_cast<sy_backend*>(b.release());
    return nullptr;
  } catch (const std::exception& e) {
    return makeError(SY_ERROR_INTERNAL, e.what());
  }
}

void proxyBackendDestroy(sy_backend* backend) noexcept {
  std::unique_ptr<ProxyBackend> b(backendOf(backend));
  if (!b) return;
  try {
    Helper& h = *b->helper;
    std::lock_guard<std::mutex> lock(h.mutex);
    if (h.running() && b->generation == h.generation()) {
      Writer w;
      w.u32(static_cast<uint32_t>(Op::BackendDestroy));
      w.u64(b->remoteId);
      CallResult r;
      h.call(w.buffer(), {}, "backend_destroy", h.options().callTimeoutMs, r);
    }
  } catch (...) {
    // Destroying must not fail; a helper that cannot answer is reaped by the call.
  }
}

sy_error* proxyQuerySupport(sy_backend* backend, const sy_graph_view* graph, sy_node_support* out_support,
                            size_t num_nodes) noexcept {
  ProxyBackend* b = backendOf(backend);
  if (!b || !graph) return makeError(SY_ERROR_INVALID_ARGUMENT, "query_support: NULL argument");
  try {
    Writer w;
    w.u32(static_cast<uint32_t>(Op::QuerySupport));
    w.u64(0);  // backend id, set below once the backend is up
    writeGraphView(w, *graph);
    w.u64(num_nodes);
    std::lock_guard<std::mutex> lock(b->helper->mutex);
    CallResult r;
    if (!bringUp(*b, r)) return errorOf(r);
    std::memcpy(w.buffer().data() + sizeof(uint32_t), &b->remoteId, sizeof(uint64_t));
    b->helper->call(w.buffer(), {}, "query_support", b->helper->options().callTimeoutMs, r);
    if (!r.ok) return errorOf(r);
    Reader rd = r.body();
    const uint64_t n = rd.u64();
    if (!rd.ok() || n != num_nodes) return makeError(SY_ERROR_INTERNAL, "malformed reply to query_support");
    const size_t stride = num_nodes && out_support->struct_size ? out_support->struct_size : sizeof(sy_node_support);
    for (size_t i = 0; i < num_nodes; ++i) {
      auto* s = reinterpret_cast<sy_node_support*>(reinterpret_cast<char*>(out_support) + i * stride);
      s->supported = rd.i32();
      s->cost = rd.f64();
      std::string reason;
      rd.str(reason);
      if (SY_STRUCT_HAS(sy_node_support, s, reason)) {
        const size_t len = std::min(reason.size(), size_t{SY_REASON_SIZE - 1});
        std::memcpy(s->reason, reason.data(), len);
        s->reason[len] = '\0';
      }
    }
    if (!rd.ok()) return makeError(SY_ERROR_INTERNAL, "malformed reply to query_support");
    return nullptr;
  } catch (const std::exception& e) {
    return makeError(SY_ERROR_INTERNAL, e.what());
  }
}

sy_error* proxyCompile(sy_backend* backend, const sy_graph_view* region, sy_compiled** out_compiled) noexcept {
  if (!out_compiled) return makeError(SY_ERROR_INVALID_ARGUMENT, "out_compiled is NULL");
  *out_compiled = nullptr;
  ProxyBackend* b = backendOf(backend);
  if (!b || !region) return makeError(SY_ERROR_INVALID_ARGUMENT, "compile: NULL argument");
  try {
    auto c = std::make_unique<ProxyCompiled>();
    c->backend = b;
    Writer w;
    writeGraphView(w, *region);
    c->view = std::move(w.buffer());
    std::lock_guard<std::mutex> lock(b->helper->mutex);
    CallResult r;
    if (!bringUp(*c, r)) return errorOf(r);
    *out_compiled = reinterpret_cast<sy_compiled*>(c.release());
    return nullptr;
  } catch (const std::exception& e) {
    return makeError(SY_ERROR_INTERNAL, e.what());
  }
}

void proxyCompiledDestroy(sy_compiled* compiled) noexcept {
  std::unique_ptr<ProxyCompiled> c(compiledOf(compiled));
  if (!c) return;
  try {
    Helper& h = *c->backend->helper;
    std::lock_guard<std::mutex> lock(h.mutex);
    if (h.running() && c->generation == h.generation()) {
      Writer w;
      w.u32(static_cast<uint32_t>(Op::CompiledDestroy));
      w.u64(c->remoteId);
      CallResult r;
      h.call(w.buffer(), {}, "compiled_destroy", h.options().callTimeoutMs, r);
    }
  } catch (...) {
  }
}

sy_error* proxyCompiledInfo(const sy_compiled* compiled, sy_compiled_info* out_info) {
  const ProxyCompiled* c = compiledOf(compiled);
  if (!c || !out_info) return makeError(SY_ERROR_INVALID_ARGUMENT, "compiled_info: NULL argument");
  // Calls to one helper are serialised by the proxy anyway.
  if (SY_STRUCT_HAS(sy_compiled_info, out_info, concurrent_execute)) out_info->concurrent_execute = 1;
  return nullptr;
}

/// Maps a memfd of `bytes` as a new buffer; takes the fd.
ProxyBuffer* mapBuffer(int fd, size_t bytes, std::string& error) {
  auto b = std::make_unique<ProxyBuffer>();
  b->fd = fd;
  b->size = bytes;
  if (bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (p == MAP_FAILED) {
      error = "cannot map " + std::to_string(bytes) + " bytes of shared memory: " + std::strerror(errno);
      return nullptr;
    }
    b->data = p;
  }
  return b.release();
}

sy_error* proxyExecute(sy_compiled* compiled, const sy_tensor* inputs, size_t num_inputs, sy_tensor* outputs,
                       size_t num_outputs) noexcept {
  for (size_t i = 0; outputs && i < num_outputs; ++i) {
    auto* t = reinterpret_cast<sy_tensor*>(reinterpret_cast<char*>(outputs) + i * outputs[0].struct_size);
    t->buffer = nullptr;
  }
  ProxyCompiled* c = compiledOf(compiled);
  if (!c || (num_inputs && !inputs) || (num_outputs && !outputs))
    return makeError(SY_ERROR_INVALID_ARGUMENT, "execute: NULL argument");
  try {
    Writer w;
    w.u32(static_cast<uint32_t>(Op::Execute));
    w.u64(0);  // compiled id, set once the region is up
    w.u64(num_inputs);
    std::vector<int> fds;
    for (size_t i = 0; i < num_inputs; ++i) {
      const sy_tensor& t =
          *reinterpret_cast<const sy_tensor*>(reinterpret_cast<const char*>(inputs) + i * inputs[0].struct_size);
      const ProxyBuffer* buf = bufferOf(t.buffer);
      if (!buf) return makeError(SY_ERROR_INVALID_ARGUMENT, "execute: input " + std::to_string(i) + " has no buffer");
      if (t.rank < 0 || t.rank > SY_MAX_RANK)
        return makeError(SY_ERROR_INVALID_ARGUMENT, "execute: input " + std::to_string(i) + " has rank " +
                                                        std::to_string(t.rank));
      w.i32(t.dtype);
      w.i32(t.rank);
      for (int32_t d = 0; d < t.rank; ++d) w.i64(t.dims[d]);
      w.u64(buf->size);
      w.u64(t.offset);
      fds.push_back(buf->fd);
    }
    w.u64(num_outputs);
    Helper& h = *c->backend->helper;
    std::lock_guard<std::mutex> lock(h.mutex);
    CallResult r;
    if (!bringUp(*c, r)) return errorOf(r);
    std::memcpy(w.buffer().data() + sizeof(uint32_t), &c->remoteId, sizeof(uint64_t));
    h.call(w.buffer(), fds, "execute", h.options().callTimeoutMs, r);
    if (!r.ok) return errorOf(r);
    Reader rd = r.body();
    const uint64_t n = rd.u64();
    if (!rd.ok() || n != num_outputs || r.fds.size() != num_outputs)
      return makeError(SY_ERROR_INTERNAL, "malformed reply to execute");
    std::vector<std::unique_ptr<ProxyBuffer>> made;
    for (size_t i = 0; i < num_outputs; ++i) {
      auto* t = reinterpret_cast<sy_tensor*>(reinterpret_cast<char*>(outputs) + i * outputs[0].struct_size);
      t->dtype = rd.i32();
      t->rank = rd.i32();
      if (!rd.ok() || t->rank < 0 || t->rank > SY_MAX_RANK)
        return makeError(SY_ERROR_INTERNAL, "malformed reply to execute");
      for (int32_t d = 0; d < t->rank; ++d) t->dims[d] = rd.i64();
      const uint64_t bytes = rd.u64();
      if (!rd.ok()) return makeError(SY_ERROR_INTERNAL, "malformed reply to execute");
      struct stat st {};
      if (::fstat(r.fds[i], &st) != 0 || static_cast<uint64_t>(st.st_size) < bytes)
        return makeError(SY_ERROR_INTERNAL, "execute: output " + std::to_string(i) + " is smaller than it says");
      std::string error;
      const int fd = r.fds[i];
      r.fds[i] = -1;
      ProxyBuffer* buf = mapBuffer(fd, static_cast<size_t>(bytes), error);
      if (!buf) return makeError(SY_ERROR_OUT_OF_MEMORY, "execute: output " + std::to_string(i) + ": " + error);
      made.emplace_back(buf);
      t->offset = 0;
    }
    std::vector<int> rest;
    for (int f : r.fds)
      if (f >= 0) rest.push_back(f);
    r.fds = rest;
    for (size_t i = 0; i < num_outputs; ++i) {
      auto* t = reinterpret_cast<sy_tensor*>(reinterpret_cast<char*>(outputs) + i * outputs[0].struct_size);
      t->buffer = reinterpret_cast<sy_buffer*>(made[i].release());
    }
    return nullptr;
  } catch (const std::exception& e) {
    return makeError(SY_ERROR_INTERNAL, e.what());
  }
}

sy_error* proxyBufferAlloc(sy_backend*, size_t bytes, sy_buffer** out_buffer) noexcept {
  if (!out_buffer) return makeError(SY_ERROR_INVALID_ARGUMENT, "out_buffer is NULL");
  *out_buffer = nullptr;
  try {
    std::string error;
    const int fd = createTensorMemfd(bytes, error);
    if (fd < 0) return makeError(SY_ERROR_OUT_OF_MEMORY, error);
    ProxyBuffer* b = mapBuffer(fd, bytes, error);
    if (!b) return makeError(SY_ERROR_OUT_OF_MEMORY, error);
    *out_buffer = reinterpret_cast<sy_buffer*>(b);
    return nullptr;
  } catch (const std::exception& e) {
    return makeError(SY_ERROR_OUT_OF_MEMORY, e.what());
  }
}

void proxyBufferFree(sy_buffer* buffer) { delete bufferOf(buffer); }
size_t proxyBufferSize(const sy_buffer* buffer) { return buffer ? bufferOf(buffer)->size : 0; }

sy_error* proxyBufferWrite(sy_buffer* buffer, size_t offset, const void* src, size_t bytes) {
  ProxyBuffer* b = bufferOf(buffer);
  if (!b || (bytes && !src)) return makeError(SY_ERROR_INVALID_ARGUMENT, "buffer_write: NULL argument");
  if (offset > b->size || bytes > b->size - offset)
    return makeError(SY_ERROR_INVALID_ARGUMENT, "buffer_write of " + std::to_string(bytes) + " bytes at " +
                                                    std::to_string(offset) + " overruns a buffer of " +
                                                    std::to_string(b->size));
  if (bytes) std::memcpy(static_cast<char*>(b->data) + offset, src, bytes);
  return nullptr;
}

sy_error* proxyBufferRead(const sy_buffer* buffer, size_t offset, void* dst, size_t bytes) {
  const ProxyBuffer* b = bufferOf(buffer);
  if (!b || (bytes && !dst)) return makeError(SY_ERROR_INVALID_ARGUMENT, "buffer_read: NULL argument");
  if (offset > b->size || bytes > b->size - offset)
    return makeError(SY_ERROR_INVALID_ARGUMENT, "buffer_read of " + std::to_string(bytes) + " bytes at " +
                                                    std::to_string(offset) + " overruns a buffer of " +
                                                    std::to_string(b->size));
  if (bytes) std::memcpy(dst, static_cast<const char*>(b->data) + offset, bytes);
  return nullptr;
}

void* proxyBufferHostPointer(sy_buffer* buffer) {
  static char empty = 0;
  ProxyBuffer* b = bufferOf(buffer);
  if (!b) return nullptr;
  return b->data ? b->data : &empty;
}

sy_plugin_api proxyTable() {
  sy_plugin_api a{};
  a.struct_size = sizeof(sy_plugin_api);
  a.abi_major = SY_ABI_VERSION_MAJOR;
  a.abi_minor = SY_ABI_VERSION_MINOR;
  a.error_message = proxyErrorMessage;
  a.error_code = proxyErrorCode;
  a.error_destroy = proxyErrorDestroy;
  a.device_count = proxyDeviceCount;
  a.device_info = proxyDeviceInfo;
  a.backend_create = [](size_t, const sy_option*, size_t, sy_backend** out) -> sy_error* {
    if (out) *out = nullptr;
    return makeError(SY_ERROR_INTERNAL, "an isolated plugin's backends are made through LoadedPlugin::backendCreate");
  };
  a.backend_destroy = proxyBackendDestroy;
  a.query_support = proxyQuerySupport;
  a.compile = proxyCompile;
  a.compiled_destroy = proxyCompiledDestroy;
  a.compiled_info = proxyCompiledInfo;
  a.execute = proxyExecute;
  a.buffer_alloc = proxyBufferAlloc;
  a.buffer_free = proxyBufferFree;
  a.buffer_size = proxyBufferSize;
  a.buffer_write = proxyBufferWrite;
  a.buffer_read = proxyBufferRead;
  a.buffer_host_pointer = proxyBufferHostPointer;
  a.buffer_wrap_host = nullptr;  // the host copies into shared memory (buffer_alloc + buffer_write)
  return a;
}

}  // namespace
}  // namespace isolation

// ---------------------------------------------------------------------------

std::string findPluginHostExecutable() {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (const char* env = std::getenv("SWITCHYARD_PLUGIN_HOST"); env && *env) return fs::exists(env, ec) ? env : "";
  try {
    const fs::path exeDir = fs::path(boost::dll::program_location().string()).parent_path();
    for (const fs::path& p : {exeDir / "switchyard-plugin-host",
                              exeDir.parent_path() / "libexec" / "switchyard" / "switchyard-plugin-host",
                              exeDir.parent_path() / "bin" / "switchyard-plugin-host"})
      if (fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0) return p.string();
  } catch (const std::exception&) {
  }
  return "";
}

Result<std::shared_ptr<LoadedPlugin>> loadIsolatedPlugin(const std::string& pluginPath, const IsolationOptions& options) {
  using namespace isolation;
  auto helper = std::make_shared<Helper>(pluginPath, options);
  std::string name, version, vendor, noDevice;
  std::vector<DeviceDescription> devices;
  uint32_t major = 0, minor = 0;
  {
    std::lock_guard<std::mutex> lock(helper->mutex);
    CallResult r = helper->ensureRunning();
    if (!r.ok) {
      // The helper's own load error already names the file.
      if (r.message.rfind(pluginPath, 0) == 0) return invalidArgument(r.message, " (isolation: process)");
      return invalidArgument(pluginPath, ": ", r.message, " (isolation: process)");
    }
    Reader rd = r.body();
    rd.str(name);
    rd.str(version);
    rd.str(vendor);
    major = rd.u32();
    minor = rd.u32();
    rd.str(noDevice);
    const uint64_t n = rd.u64();
    if (!rd.fits(n, 28)) return internalError(pluginPath, ": the isolation helper sent a malformed handshake");
    for (uint64_t i = 0; i < n; ++i) {
      DeviceDescription d;
      d.index = static_cast<size_t>(i);
      rd.str(d.name);
      d.type = static_cast<sy_device_type>(rd.i32());
      d.memoryBytes = rd.u64();
      d.score = rd.i32();
      d.hostVisibleMemory = rd.i32() != 0;
      devices.push_back(std::move(d));
    }
    if (!rd.ok()) return internalError(pluginPath, ": the isolation helper sent a malformed handshake");
  }
  sy_plugin_api api = proxyTable();
  api.abi_major = major;
  api.abi_minor = minor;
  auto plugin = IsolatedPluginAccess::make();
  auto holder = std::make_shared<std::shared_ptr<Helper>>(helper);
  IsolatedPluginAccess::fill(*plugin, api, name, version, vendor, pluginPath, noDevice, std::move(devices), holder,
                             &proxyBackendCreate);
  return plugin;
}

int isolatedHelperPid(const LoadedPlugin& plugin) {
  if (!plugin.isolation()) return 0;
  auto& helper = *static_cast<std::shared_ptr<isolation::Helper>*>(plugin.isolation().get());
  std::lock_guard<std::mutex> lock(helper->mutex);
  return helper->running() ? helper->pid() : 0;
}

}  // namespace sy
