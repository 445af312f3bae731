// switchyard-plugin-host: runs one backend plugin on behalf of a host that
// configured it with `isolation: process` (docs/isolation.md). Started by the
// host's proxy (proxy.cpp) as `switchyard-plugin-host --fd N <plugin.so>`
// with its end of a Unix socket on fd N; answers requests one at a time until
// the socket closes (Note [isolation wire] in wire.h). It dies with its host
// (PR_SET_PDEATHSIG), so a killed host leaves no helper behind.
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "switchyard/plugin_host.h"
#include "wire.h"

namespace sy::isolation {
namespace {

struct Compiled {
  sy_compiled* handle = nullptr;
  std::unique_ptr<DecodedView> view;  // its constant data lives as long as the region
};

class Server {
 public:
  Server(int fd, std::shared_ptr<LoadedPlugin> plugin) : fd_(fd), plugin_(std::move(plugin)), api_(plugin_->api()) {}

  ~Server() {
    for (auto& [id, c] : compiled_) api_.compiled_destroy(c.handle);
    for (auto& [id, b] : backends_) api_.backend_destroy(b.handle);
  }

  int run() {
    for (;;) {
      std::string payload, error;
      std::vector<int> fds;
      const RecvStatus st = recvMessage(fd_, payload, fds, -1, error);
      if (st == RecvStatus::Closed) return 0;
      if (st != RecvStatus::Ok) {
        std::fprintf(stderr, "switchyard-plugin-host: %s\n", error.c_str());
        return 3;
      }
      Writer reply;
      std::vector<int> replyFds;
      handle(payload, fds, reply, replyFds);
      for (int f : fds) ::close(f);
      uint32_t status = 0;
      std::memcpy(&status, reply.buffer().data(), sizeof status);
      if (status != 0) {  // an error carries no tensors
        for (int f : replyFds) ::close(f);
        replyFds.clear();
      }
      const bool sent = sendMessage(fd_, reply.buffer(), replyFds, -1, error);
      for (int f : replyFds) ::close(f);
      if (!sent) return 0;  // the host went away
    }
  }

 private:
  struct Backend {
    sy_backend* handle = nullptr;
    bool hostVisible = false;
  };

  static void fail(Writer& w, int32_t code, const std::string& message) {
    w.buffer().clear();
    w.u32(static_cast<uint32_t>(code));
    w.str(message);
  }

  /// Writes a plugin error as the reply (and destroys it).
  void failWith(Writer& w, sy_error* err) {
    const char* msg = api_.error_message(err);
    const int32_t code = api_.error_code(err);
    fail(w, code ? code : SY_ERROR_UNKNOWN, msg ? msg : "(no message)");
    api_.error_destroy(err);
  }

  void handle(const std::string& payload, std::vector<int>& fds, Writer& w, std::vector<int>& outFds) {
    Reader r(payload);
    const auto op = static_cast<Op>(r.u32());
    w.u32(0);
    switch (op) {
      case Op::BackendCreate: {
        const uint64_t device = r.u64();
        const uint64_t n = r.u64();
        if (!r.fits(n, 16)) return fail(w, SY_ERROR_INTERNAL, "malformed backend_create request");
        std::vector<std::string> strings;
        for (uint64_t i = 0; i < 2 * n; ++i) {
          strings.emplace_back();
          r.str(strings.back());
        }
        if (!r.ok()) return fail(w, SY_ERROR_INTERNAL, "malformed backend_create request");
        std::vector<sy_option> options;
        for (uint64_t i = 0; i < n; ++i)
          options.push_back(sy_option{sizeof(sy_option), strings[2 * i].c_str(), strings[2 * i + 1].c_str()});
        sy_backend* b = nullptr;
        if (sy_error* err = plugin_->backendCreate(device, options.data(), options.size(), &b)) return failWith(w, err);
        const uint64_t id = ++nextId_;
        const auto& devices = plugin_->devices();
        backends_[id] = Backend{b, device < devices.size() && devices[device].hostVisibleMemory};
        w.u64(id);
        return;
      }
      case Op::BackendDestroy: {
        auto it = backends_.find(r.u64());
        if (it != backends_.end()) {
          api_.backend_destroy(it->second.handle);
          backends_.erase(it);
        }
        return;
      }
      case Op::QuerySupport: {
        auto it = backends_.find(r.u64());
        if (it == backends_.end()) return fail(w, SY_ERROR_INTERNAL, "query_support: no such backend");
        DecodedView view;
        std::string error;
        if (!view.decode(r, error)) return fail(w, SY_ERROR_INTERNAL, error);
        const uint64_t n = r.u64();
        if (!r.ok() || n != view.view()->num_nodes) return fail(w, SY_ERROR_INTERNAL, "malformed query_support request");
        std::vector<sy_node_support> answers(static_cast<size_t>(n));
        for (auto& a : answers) {
          std::memset(&a, 0, sizeof a);
          a.struct_size = sizeof a;
        }
        if (sy_error* err = api_.query_support(it->second.handle, view.view(), answers.data(), answers.size()))
          return failWith(w, err);
        w.u64(n);
        for (const auto& a : answers) {
          w.i32(a.supported);
          w.f64(a.cost);
          w.str(std::string(a.reason, strnlen(a.reason, SY_REASON_SIZE)));
        }
        return;
      }
      case Op::Compile: {
        auto it = backends_.find(r.u64());
        if (it == backends_.end()) return fail(w, SY_ERROR_INTERNAL, "compile: no such backend");
        Compiled c;
        c.view = std::make_unique<DecodedView>();
        std::string error;
        if (!c.view->decode(r, error)) return fail(w, SY_ERROR_INTERNAL, error);
        if (sy_error* err = api_.compile(it->second.handle, c.view->view(), &c.handle)) return failWith(w, err);
        if (!c.handle) return fail(w, SY_ERROR_INTERNAL, "compile returned no region");
        sy_compiled_info info{};
        info.struct_size = sizeof info;
        if (sy_error* err = api_.compiled_info(c.handle, &info)) {
          api_.compiled_destroy(c.handle);
          return failWith(w, err);
        }
        const uint64_t id = ++nextId_;
        compiledBackend_[id] = it->first;
        compiled_[id] = std::move(c);
        w.u64(id);
        w.i32(info.concurrent_execute);
        return;
      }
      case Op::CompiledDestroy: {
        const uint64_t id = r.u64();
        auto it = compiled_.find(id);
        if (it != compiled_.end()) {
          api_.compiled_destroy(it->second.handle);
          compiled_.erase(it);
          compiledBackend_.erase(id);
        }
        return;
      }
      case Op::Execute:
        return execute(r, fds, w, outFds);
    }
    fail(w, SY_ERROR_INTERNAL, "unknown request " + std::to_string(static_cast<uint32_t>(op)));
  }

  /// One mapped input and the plugin buffer that holds it.
  struct Input {
    void* map = nullptr;
    size_t size = 0;
    sy_buffer* buffer = nullptr;
  };

  void execute(Reader& r, std::vector<int>& fds, Writer& w, std::vector<int>& outFds) {
    const uint64_t id = r.u64();
    auto it = compiled_.find(id);
    if (it == compiled_.end()) return fail(w, SY_ERROR_INTERNAL, "execute: no such compiled region");
    const Backend& backend = backends_.at(compiledBackend_.at(id));
    const uint64_t numInputs = r.u64();
    if (!r.fits(numInputs, 24) || numInputs != fds.size())
      return fail(w, SY_ERROR_INTERNAL, "malformed execute request (inputs and shared memory do not match)");
    std::vector<Input> inputs(static_cast<size_t>(numInputs));
    std::vector<sy_tensor> ins(static_cast<size_t>(numInputs));
    struct Cleanup {
      const sy_plugin_api& api;
      std::vector<Input>& inputs;
      ~Cleanup() {
        for (Input& in : inputs) {
          api.buffer_free(in.buffer);
          if (in.map) ::munmap(in.map, in.size);
        }
      }
    } cleanup{api_, inputs};
    for (size_t i = 0; i < ins.size(); ++i) {
      sy_tensor& t = ins[i];
      std::memset(&t, 0, sizeof t);
      t.struct_size = sizeof t;
      t.dtype = r.i32();
      t.rank = r.i32();
      if (!r.ok() || t.rank < 0 || t.rank > SY_MAX_RANK) return fail(w, SY_ERROR_INTERNAL, "malformed execute request");
      for (int32_t d = 0; d < t.rank; ++d) t.dims[d] = r.i64();
      const uint64_t bytes = r.u64();
      t.offset = static_cast<size_t>(r.u64());
      if (!r.ok()) return fail(w, SY_ERROR_INTERNAL, "malformed execute request");
      Input& in = inputs[i];
      in.size = static_cast<size_t>(bytes);
      static const char empty = 0;
      const void* data = &empty;
      if (in.size) {
        in.map = ::mmap(nullptr, in.size, PROT_READ, MAP_SHARED | MAP_POPULATE, fds[i], 0);
        if (in.map == MAP_FAILED) {
          in.map = nullptr;
          return fail(w, SY_ERROR_OUT_OF_MEMORY, "cannot map input " + std::to_string(i) + ": " + std::strerror(errno));
        }
        data = in.map;
      }
      if (api_.buffer_wrap_host && backend.hostVisible) {
        if (sy_error* err = api_.buffer_wrap_host(backend.handle, data, in.size, &in.buffer)) return failWith(w, err);
      } else {
        if (sy_error* err = api_.buffer_alloc(backend.handle, in.size, &in.buffer)) return failWith(w, err);
        if (in.size)
          if (sy_error* err = api_.buffer_write(in.buffer, 0, data, in.size)) return failWith(w, err);
      }
      t.buffer = in.buffer;
    }
    const uint64_t numOutputs = r.u64();
    if (!r.ok() || numOutputs > kMaxFdsPerMessage)
      return fail(w, SY_ERROR_INTERNAL, "malformed execute request (output count)");
    std::vector<sy_tensor> outs(static_cast<size_t>(numOutputs));
    for (sy_tensor& t : outs) {
      std::memset(&t, 0, sizeof t);
      t.struct_size = sizeof t;
    }
    if (sy_error* err = api_.execute(it->second.handle, ins.data(), ins.size(), outs.data(), outs.size()))
      return failWith(w, err);
    struct OutputCleanup {
      const sy_plugin_api& api;
      std::vector<sy_tensor>& outs;
      ~OutputCleanup() {
        for (sy_tensor& t : outs) api.buffer_free(t.buffer);
      }
    } outputCleanup{api_, outs};
    w.u64(numOutputs);
    for (size_t i = 0; i < outs.size(); ++i) {
      const sy_tensor& t = outs[i];
      const size_t elem = abiDTypeSize(t.dtype);
      if (!t.buffer || !elem || t.rank < 0 || t.rank > SY_MAX_RANK)
        return fail(w, SY_ERROR_INTERNAL, "the plugin returned a malformed output " + std::to_string(i));
      size_t numel = 1;
      for (int32_t d = 0; d < t.rank; ++d) {
        if (t.dims[d] < 0 || (t.dims[d] && numel > SIZE_MAX / static_cast<size_t>(t.dims[d])))
          return fail(w, SY_ERROR_INTERNAL, "the plugin returned a malformed output " + std::to_string(i));
        numel *= static_cast<size_t>(t.dims[d]);
      }
      const size_t bytes = numel * elem;
      if (api_.buffer_size(t.buffer) < t.offset + bytes)
        return fail(w, SY_ERROR_INTERNAL, "the plugin returned output " + std::to_string(i) +
                                              " in a buffer smaller than its shape needs");
      std::string error;
      const int fd = createTensorMemfd(bytes, error);
      if (fd < 0) return fail(w, SY_ERROR_OUT_OF_MEMORY, error);
      outFds.push_back(fd);
      if (bytes) {
        void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
        if (p == MAP_FAILED) return fail(w, SY_ERROR_OUT_OF_MEMORY, std::string("mmap: ") + std::strerror(errno));
        sy_error* err = nullptr;
        if (void* src = api_.buffer_host_pointer ? api_.buffer_host_pointer(t.buffer) : nullptr)
          std::memcpy(p, static_cast<const char*>(src) + t.offset, bytes);
        else
          err = api_.buffer_read(t.buffer, t.offset, p, bytes);
        ::munmap(p, bytes);
        if (err) return failWith(w, err);
      }
      w.i32(t.dtype);
      w.i32(t.rank);
      for (int32_t d = 0; d < t.rank; ++d) w.i64(t.dims[d]);
      w.u64(bytes);
    }
  }

  int fd_;
  std::shared_ptr<LoadedPlugin> plugin_;
  const sy_plugin_api& api_;
  uint64_t nextId_ = 0;
  std::map<uint64_t, Backend> backends_;
  std::map<uint64_t, Compiled> compiled_;
  std::map<uint64_t, uint64_t> compiledBackend_;
};

}  // namespace
}  // namespace sy::isolation

// Under AddressSanitizer the helper leaves fatal signals alone: a plugin that
// crashes must end the helper with its own signal, which the host reports,
// not with a sanitizer report and exit status 1.
extern "C" const char* __asan_default_options() {
  return "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:handle_abort=0";
}

int main(int argc, char** argv) {
  using namespace sy::isolation;
  if (argc != 4 || std::strcmp(argv[1], "--fd") != 0) {
    std::fprintf(stderr,
                 "usage: switchyard-plugin-host --fd N PLUGIN.so\n"
                 "Runs one Switchyard backend plugin for a host that configured it with 'isolation: process';\n"
                 "the host starts it, with its end of a Unix socket on fd N.\n");
    return 2;
  }
  const int fd = std::atoi(argv[2]);
  // Die with the host; a host that is already gone leaves nothing to serve.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() == 1) return 0;
  ::signal(SIGPIPE, SIG_IGN);
  auto loaded = sy::PluginHost::load(argv[3]);
  Writer hello;
  std::string error;
  if (!loaded.ok()) {
    hello.u32(static_cast<uint32_t>(loaded.status().code() == sy::StatusCode::kFailedPrecondition ? SY_ERROR_DEVICE
                                                                                                   : SY_ERROR_INVALID_ARGUMENT));
    hello.str(loaded.status().message());
    sendMessage(fd, hello.buffer(), {}, -1, error);
    return 1;
  }
  const sy::LoadedPlugin& p = **loaded;
  hello.u32(0);
  hello.str(p.name());
  hello.str(p.version());
  hello.str(p.vendor());
  hello.u32(p.api().abi_major);
  hello.u32(p.api().abi_minor);
  hello.str(p.noDeviceReason());
  hello.u64(p.devices().size());
  for (const sy::DeviceDescription& d : p.devices()) {
    hello.str(d.name);
    hello.i32(static_cast<int32_t>(d.type));
    hello.u64(d.memoryBytes);
    hello.i32(d.score);
    hello.i32(d.hostVisibleMemory ? 1 : 0);
  }
  if (!sendMessage(fd, hello.buffer(), {}, -1, error)) return 0;
  int rc = 0;
  {
    Server server(fd, *loaded);
    rc = server.run();
  }
  return rc;
}
