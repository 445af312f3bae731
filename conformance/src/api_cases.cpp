// The api scope (mandatory): the rules of sdk/include/switchyard/plugin.h
// that every plugin must keep, checked through its function table.
#include <dlfcn.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <fstream>
#include <mutex>
#include <regex>
#include <thread>

#include "internal.h"
#include "switchyard/builder.h"
#include "switchyard/graph_view.h"
#include "switchyard/interpreter.h"

namespace sy::conformance {
namespace {

/// Collects the problems of one case; the case fails when there is any.
struct Check {
  CaseResult& r;
  std::vector<std::string> problems;
  void expect(bool ok, const std::string& what) {
    if (!ok) problems.push_back(what);
  }
  void ok(const Status& s) {
    if (!s.ok()) problems.push_back(s.message());
  }
  void finish(Target& t, std::string note = {}) {
    for (const std::string& b : t.drainContractBreaches()) problems.push_back(b);
    if (problems.empty()) {
      r.outcome = Outcome::Passed;
      r.message = std::move(note);
      return;
    }
    r.outcome = Outcome::Failed;
    r.message.clear();
    for (size_t i = 0; i < problems.size() && i < 8; ++i) r.message += (i ? "; " : "") + problems[i];
    if (problems.size() > 8) r.message += "; (" + std::to_string(problems.size() - 8) + " more)";
  }
};

/// A plain f32 tensor of `shape` with values 0.25 * (k - n/2).
Tensor ramp(const Shape& shape) {
  Tensor t = *Tensor::allocate(DType::F32, shape);
  for (int64_t k = 0; k < t.numel(); ++k) t.setDouble(k, 0.25 * static_cast<double>(k - t.numel() / 2));
  return t;
}

/// Small graphs a plugin is likely to support, tried in order by the
/// lifecycle and error cases. Binary ones first (execute's input count matters).
std::vector<std::shared_ptr<Graph>> candidateGraphs() {
  std::vector<std::shared_ptr<Graph>> out;
  for (const char* op : {"add", "mul", "sub", "maximum", "relu", "tanh", "sigmoid", "abs", "identity"}) {
    GraphBuilder b(op);
    Value* x = b.input("x", Type::tensor(DType::F32, {4, 8}));
    const bool binary = std::string(op) == "add" || std::string(op) == "mul" || std::string(op) == "sub" ||
                        std::string(op) == "maximum";
    Value* y = binary ? b.op(op, {x, b.input("y", Type::tensor(DType::F32, {4, 8}))}) : b.op(op, {x});
    b.output(y);
    auto g = b.finish();
    if (g.ok()) out.push_back(std::shared_ptr<Graph>(std::move(*g)));
  }
  return out;
}

std::vector<Tensor> inputsFor(const Graph& g) {
  std::vector<Tensor> ins;
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    Tensor t = ramp({4, 8});
    if (i == 1)
      for (int64_t k = 0; k < t.numel(); ++k) t.setDouble(k, 1.0 - 0.125 * static_cast<double>(k % 5));
    ins.push_back(t);
  }
  return ins;
}

/// Whether the plugin supports every node of `g`.
Result<bool> supportsAll(Target& t, sy_backend* b, const Graph& g, std::string* why = nullptr) {
  GraphView view(g, constantsInFor(t.api().abi_minor));
  std::vector<sy_node_support> s(view.numNodes());
  for (auto& e : s) e.struct_size = sizeof(sy_node_support);
  SY_RETURN_IF_ERROR(t.take(t.api().query_support(b, view.view(), s.data(), s.size()), "query_support"));
  for (auto& e : s)
    if (!e.supported) {
      if (why) *why = e.reason;
      return false;
    }
  return true;
}

/// The first candidate graph the plugin supports whole, or nullptr.
Result<std::shared_ptr<Graph>> supportedGraph(Target& t, sy_backend* b) {
  for (auto& g : candidateGraphs()) {
    SY_ASSIGN_OR_RETURN(bool ok, supportsAll(t, b, *g));
    if (ok) return g;
  }
  return std::shared_ptr<Graph>();
}

void skip(CaseResult& r, std::string why) {
  r.outcome = Outcome::Skipped;
  r.message = std::move(why);
}

// --- cases ------------------------------------------------------------------

void loadAndInfo(Target& t, CaseResult& r) {
  Check c{r};
  const sy_plugin_api& a = t.api();
  c.expect(a.name && std::regex_match(a.name, std::regex("[a-z0-9_]+")),
           std::string("name '") + (a.name ? a.name : "(null)") + "' is not [a-z0-9_]+");
  c.expect(a.version && *a.version, "version is empty");
  c.expect(a.vendor && *a.vendor, "vendor is empty");
  c.expect(a.error_message && a.error_code && a.error_destroy, "an error entry is NULL");
  if (a.error_destroy) a.error_destroy(nullptr);  // NULL is a no-op
  if (a.buffer_free) a.buffer_free(nullptr);
  c.finish(t, std::string(a.name ? a.name : "?") + " " + (a.version ? a.version : "?") + " by " + (a.vendor ? a.vendor : "?"));
}

void abiVersion(Target& t, CaseResult& r) {
  Check c{r};
  if (t.isReference()) {
    const sy_plugin_api& a = t.api();
    c.expect(a.abi_major == SY_ABI_VERSION_MAJOR, "abi_major differs from the host's");
    return c.finish(t, "in-process table");
  }
  // Read the table as the library exports it (the host's copy is zero-filled past struct_size).
  void* lib = dlopen(t.path().c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    c.expect(false, std::string("dlopen: ") + dlerror());
    return c.finish(t);
  }
  auto get = reinterpret_cast<sy_plugin_get_api_fn>(dlsym(lib, SY_PLUGIN_ENTRY_SYMBOL));
  c.expect(get != nullptr, "no sy_plugin_get_api symbol");
  std::string note;
  if (get) {
    const sy_plugin_api* a = get();
    c.expect(a != nullptr, "sy_plugin_get_api returned NULL");
    if (a) {
      c.expect(get() == a, "sy_plugin_get_api returns a different table on each call (it must have static storage)");
      c.expect(a->abi_major == SY_ABI_VERSION_MAJOR, "built for ABI major " + std::to_string(a->abi_major) +
                                                         ", the host speaks " + std::to_string(SY_ABI_VERSION_MAJOR));
      const size_t minSize = offsetof(sy_plugin_api, buffer_read) + sizeof(a->buffer_read);
      c.expect(a->struct_size >= minSize, "struct_size " + std::to_string(a->struct_size) +
                                              " is smaller than ABI 1.0's table (" + std::to_string(minSize) + ")");
      note = "ABI " + std::to_string(a->abi_major) + "." + std::to_string(a->abi_minor) + ", table of " +
             std::to_string(a->struct_size) + " bytes";
      // A host of a newer minor, with a larger sy_host_info: init must accept it
      // (nested init/shutdown: the host loaded this library already).
      if (a->struct_size >= minSize && a->init) {
        struct BiggerHostInfo {
          sy_host_info info;
          uint64_t future[4];
        } host{};
        host.info.struct_size = sizeof(host);
        host.info.abi_major = SY_ABI_VERSION_MAJOR;
        host.info.abi_minor = SY_ABI_VERSION_MINOR + 7;
        host.info.host_version = "99.0.0-conformance";
        sy_error* e = a->init(&host.info);
        c.ok(t.take(e, "init from a host of ABI " + std::to_string(SY_ABI_VERSION_MAJOR) + "." +
                           std::to_string(SY_ABI_VERSION_MINOR + 7) + " with a larger sy_host_info"));
        if (!e && a->shutdown) a->shutdown();
      }
    }
  }
  dlclose(lib);
  c.finish(t, note);
}

void devices(Target& t, CaseResult& r) {
  Check c{r};
  const sy_plugin_api& a = t.api();
  size_t n = 0;
  c.ok(t.take(a.device_count(&n), "device_count"));
  std::string names;
  for (size_t d = 0; d < n; ++d) {
    // A newer host's larger struct: the plugin must fill only what it knows.
    struct Bigger {
      sy_device_info info;
      uint64_t future[4];
    } big;
    std::memset(&big, 0xA5, sizeof(big));
    big.info.struct_size = sizeof(big);
    std::memset(big.future, 0, sizeof(big.future));
    c.ok(t.take(a.device_info(d, &big.info), "device_info(" + std::to_string(d) + ")"));
    c.expect(big.future[0] == 0 && big.future[3] == 0, "device_info wrote past the fields it knows");
    c.expect(big.info.name != nullptr && big.info.name != reinterpret_cast<const char*>(0xA5A5A5A5A5A5A5A5ull),
             "device " + std::to_string(d) + " has no name");
    if (big.info.name && big.info.name != reinterpret_cast<const char*>(0xA5A5A5A5A5A5A5A5ull))
      names += (names.empty() ? "" : ", ") + std::string(big.info.name);
    c.expect(big.info.type >= SY_DEVICE_CPU && big.info.type <= SY_DEVICE_ACCELERATOR,
             "device " + std::to_string(d) + " has type " + std::to_string(big.info.type));
    c.expect(big.info.host_visible_memory == 0 || big.info.host_visible_memory == 1,
             "host_visible_memory is neither 0 nor 1");
  }
  sy_device_info info{};
  info.struct_size = sizeof(info);
  sy_error* e = a.device_info(n, &info);
  c.expect(e != nullptr, "device_info(" + std::to_string(n) + ") of " + std::to_string(n) + " devices did not fail");
  (void)t.take(e, "device_info(out of range)");
  sy_backend* b = nullptr;
  e = a.backend_create(n, nullptr, 0, &b);
  c.expect(e != nullptr && b == nullptr, "backend_create on a device that does not exist did not fail");
  (void)t.take(e, "backend_create(out of range)");
  if (b) a.backend_destroy(b);
  c.finish(t, std::to_string(n) + " device(s): " + names);
}

void backendRepeated(Target& t, CaseResult& r) {
  Check c{r};
  std::vector<sy_option> opts;
  for (const auto& [k, v] : t.backendOptions()) opts.push_back(sy_option{sizeof(sy_option), k.c_str(), v.c_str()});
  for (int i = 0; i < 200 && c.problems.empty(); ++i) {
    sy_backend* b = nullptr;
    c.ok(t.createBackend(t.device(), opts, &b));
    if (i % 10 == 0 && b) {
      sy_buffer* buf = nullptr;
      c.ok(t.allocBuffer(b, 64, &buf));
      t.freeBuffer(buf);
    }
    t.destroyBackend(b);
  }
  // Several at once.
  std::vector<sy_backend*> many(8, nullptr);
  for (auto& b : many) c.ok(t.createBackend(t.device(), opts, &b));
  for (auto& b : many) t.destroyBackend(b);
  // An unknown option is an error naming the key.
  sy_option bad{sizeof(sy_option), "conformance_no_such_option", "1"};
  sy_backend* b = nullptr;
  sy_error* e = t.api().backend_create(t.device(), &bad, 1, &b);
  c.expect(e != nullptr && b == nullptr, "an unknown backend option was accepted");
  Status s = t.take(e, "backend_create");
  c.expect(e == nullptr || s.message().find("conformance_no_such_option") != std::string::npos,
           "the unknown-option error does not name the key: " + s.message());
  if (b) t.api().backend_destroy(b);
  c.finish(t, "200 create/destroy cycles");
}

void buffers(Target& t, CaseResult& r) {
  Check c{r};
  auto be = t.backend();
  if (!be.ok()) {
    c.ok(be.status());
    return c.finish(t);
  }
  const sy_plugin_api& a = t.api();
  // 0 bytes.
  sy_buffer* zero = nullptr;
  c.ok(t.allocBuffer(*be, 0, &zero));
  if (zero) {
    c.expect(a.buffer_size(zero) == 0, "a 0-byte buffer reports size " + std::to_string(a.buffer_size(zero)));
    c.ok(t.take(a.buffer_write(zero, 0, nullptr, 0), "buffer_write of 0 bytes"));
    c.ok(t.take(a.buffer_read(zero, 0, nullptr, 0), "buffer_read of 0 bytes"));
    uint8_t one = 1;
    sy_error* e = a.buffer_write(zero, 0, &one, 1);
    c.expect(e != nullptr, "writing 1 byte into a 0-byte buffer did not fail");
    (void)t.take(e, "buffer_write out of range");
  }
  t.freeBuffer(zero);
  // Odd sizes, offsets, round trips.
  for (size_t size : {1, 3, 7, 13, 1021, 65537}) {
    sy_buffer* b = nullptr;
    c.ok(t.allocBuffer(*be, size, &b));
    if (!b) continue;
    c.expect(a.buffer_size(b) == size, "buffer of " + std::to_string(size) + " bytes reports " + std::to_string(a.buffer_size(b)));
    std::vector<uint8_t> data(size), back(size, 0);
    for (size_t k = 0; k < size; ++k) data[k] = static_cast<uint8_t>(k * 131 + size);
    c.ok(t.take(a.buffer_write(b, 0, data.data(), size), "buffer_write"));
    c.ok(t.take(a.buffer_read(b, 0, back.data(), size), "buffer_read"));
    c.expect(data == back, "round trip of " + std::to_string(size) + " bytes changed the data");
    if (size > 4) {
      const size_t off = size / 2 + 1, len = size - off;
      std::vector<uint8_t> patch(len, 0x5C), got(len);
      c.ok(t.take(a.buffer_write(b, off, patch.data(), len), "buffer_write at an offset"));
      c.ok(t.take(a.buffer_read(b, off, got.data(), len), "buffer_read at an offset"));
      c.expect(got == patch, "write/read at offset " + std::to_string(off) + " disagree");
      std::vector<uint8_t> head(off);
      c.ok(t.take(a.buffer_read(b, 0, head.data(), off), "buffer_read"));
      c.expect(std::equal(head.begin(), head.end(), data.begin()), "a write at an offset changed bytes before it");
    }
    // Out of range: an error, never a crash or a partial write.
    uint8_t junk[8] = {};
    sy_error* e = a.buffer_write(b, size - 1, junk, 8);
    c.expect(e != nullptr, "write past the end of a " + std::to_string(size) + "-byte buffer did not fail");
    (void)t.take(e, "buffer_write out of range");
    e = a.buffer_write(b, SIZE_MAX - 2, junk, 8);
    c.expect(e != nullptr, "write at offset SIZE_MAX - 2 did not fail (overflow)");
    (void)t.take(e, "buffer_write overflow");
    e = a.buffer_read(b, size, junk, 1);
    c.expect(e != nullptr, "read past the end did not fail");
    (void)t.take(e, "buffer_read out of range");
    t.freeBuffer(b);
  }
  // Large, and its memory given back: 64 MiB (at most a quarter of the
  // device) allocated and freed until more than the device's memory has gone
  // through (at most 64 rounds), so a buffer_free that leaks shows as an
  // allocation failure.
  sy_device_info info{};
  info.struct_size = sizeof(info);
  (void)t.take(a.device_info(t.device(), &info), "device_info");
  size_t large = size_t{64} << 20;
  int rounds = 16;
  if (info.memory_bytes) {
    large = static_cast<size_t>(std::min<uint64_t>(info.memory_bytes / 4, large));
    rounds = static_cast<int>(std::min<uint64_t>(64, info.memory_bytes / std::max<size_t>(large, 1) + 4));
  }
  for (int round = 0; round < rounds && c.problems.empty(); ++round) {
    sy_buffer* b = nullptr;
    c.ok(t.allocBuffer(*be, large, &b));
    if (!b) break;
    if (round == 0) {
      const uint64_t tail = 0x0123456789ABCDEFull;
      uint64_t got = 0;
      c.ok(t.take(a.buffer_write(b, large - 8, &tail, 8), "buffer_write at the end of a large buffer"));
      c.ok(t.take(a.buffer_read(b, large - 8, &got, 8), "buffer_read"));
      c.expect(got == tail, "the last bytes of a large buffer did not round-trip");
    }
    t.freeBuffer(b);
  }
  c.finish(t, "large buffers of " + std::to_string(large >> 20) + " MiB x " + std::to_string(rounds));
}

void capabilityQuery(Target& t, CaseResult& r) {
  Check c{r};
  auto be = t.backend();
  if (!be.ok()) {
    c.ok(be.status());
    return c.finish(t);
  }
  size_t supported = 0, total = 0;
  for (const auto& [op, g] : basicOpGraphs()) {
    GraphView view(*g, constantsInFor(t.api().abi_minor));
    std::vector<sy_node_support> s(view.numNodes());
    for (auto& e : s) {
      std::memset(&e, 0, sizeof(e));
      e.struct_size = sizeof(sy_node_support);
      e.supported = -7;  // must be overwritten
      e.cost = -1;
    }
    Status st = t.take(t.api().query_support(*be, view.view(), s.data(), s.size()), "query_support on '" + op + "'");
    if (!st.ok()) {
      c.ok(st);
      continue;
    }
    for (size_t i = 0; i < s.size(); ++i) {
      const std::string who = "'" + op + "' graph, " + view.nodeAt(i)->describe();
      c.expect(s[i].supported == 0 || s[i].supported == 1, who + ": no answer (supported = " + std::to_string(s[i].supported) + ")");
      s[i].reason[SY_REASON_SIZE - 1] = '\0';
      if (s[i].supported == 0) c.expect(s[i].reason[0] != '\0', who + ": declined without a reason");
      if (s[i].supported == 1)
        c.expect(std::isfinite(s[i].cost) && s[i].cost >= 0, who + ": cost " + std::to_string(s[i].cost) + " is not a finite non-negative number");
      if (view.nodeAt(i)->op() == op) {
        ++total;
        if (s[i].supported == 1) ++supported;
      }
    }
  }
  // An op the registry does not know must be declined, with a reason.
  Graph g("bogus");
  Value* x = g.addInput(Type::tensor(DType::F32, {4}), "x");
  Node* n = g.createNode("conformance_no_such_op", {x});
  g.body()->appendNode(n);
  g.addOutput(n->addOutput(Type::tensor(DType::F32, {4}), "y"));
  GraphView view(g, constantsInFor(t.api().abi_minor));
  sy_node_support s{};
  s.struct_size = sizeof(s);
  s.supported = -7;
  c.ok(t.take(t.api().query_support(*be, view.view(), &s, 1), "query_support on an unknown op"));
  c.expect(s.supported == 0, "an op unknown to the registry was claimed");
  s.reason[SY_REASON_SIZE - 1] = '\0';
  c.expect(s.supported != 0 || s.reason[0] != '\0', "an unknown op was declined without a reason");
  c.finish(t, "supports " + std::to_string(supported) + " of " + std::to_string(total) + " ops in their basic case");
}

void lifecycle(Target& t, CaseResult& r) {
  Check c{r};
  auto be = t.backend();
  if (!be.ok()) {
    c.ok(be.status());
    return c.finish(t);
  }
  auto g = supportedGraph(t, *be);
  if (!g.ok()) {
    c.ok(g.status());
    return c.finish(t);
  }
  if (!*g) return skip(r, "the plugin supports none of the simple f32 graphs (add, mul, sub, maximum, relu, tanh, ...)");
  const Graph& graph = **g;
  const std::vector<Tensor> ins = inputsFor(graph);
  auto expected = (*Interpreter::create(*g))->run(ins);
  // Repeated compile/execute/destroy, with results checked each time.
  for (int i = 0; i < 20 && c.problems.empty(); ++i) {
    PluginRun run = runOnPlugin(t, graph, ins);
    if (run.stage != PluginRun::Stage::Ok) {
      c.expect(false, run.message);
      break;
    }
    CaseResult cmp;
    compareOutputs(run.outputs, *expected, {"y"}, cmp);
    c.expect(cmp.outcome == Outcome::Passed, "run " + std::to_string(i) + ": " + cmp.message);
  }
  // Two regions compiled from one view, destroyed in the other order; compiled_info.
  GraphView view(graph, constantsInFor(t.api().abi_minor));
  sy_compiled* c1 = nullptr;
  sy_compiled* c2 = nullptr;
  c.ok(t.compile(*be, view.view(), &c1));
  c.ok(t.compile(*be, view.view(), &c2));
  if (c1) {
    sy_compiled_info info{};
    info.struct_size = sizeof(info);
    info.concurrent_execute = -1;
    c.ok(t.take(t.api().compiled_info(c1, &info), "compiled_info"));
    c.expect(info.concurrent_execute == 0 || info.concurrent_execute == 1, "compiled_info left concurrent_execute unset");
  }
  t.destroyCompiled(c1);
  t.destroyCompiled(c2);
  const auto live = t.live();
  c.expect(live.buffers == 0 && live.compiled == 0, "suite error: handles left open");
  c.finish(t, "on a '" + graph.body()->nodes().front()->op() + "' region");
}

void errorsForBadInput(Target& t, CaseResult& r) {
  Check c{r};
  auto be = t.backend();
  if (!be.ok()) {
    c.ok(be.status());
    return c.finish(t);
  }
  const sy_plugin_api& a = t.api();
  // Compiling a region with an op the plugin declines: an error, not a crash.
  {
    Graph g("bogus");
    Value* x = g.addInput(Type::tensor(DType::F32, {4}), "x");
    Node* n = g.createNode("conformance_no_such_op", {x});
    g.body()->appendNode(n);
    g.addOutput(n->addOutput(Type::tensor(DType::F32, {4}), "y"));
    GraphView view(g, constantsInFor(t.api().abi_minor));
    sy_compiled* comp = nullptr;
    sy_error* e = a.compile(*be, view.view(), &comp);
    c.expect(e != nullptr, "compiling a region with an op it declined succeeded");
    c.expect(comp == nullptr, "a failed compile left *out_compiled set");
    (void)t.take(e, "compile of a declined op");
    if (comp && !e) a.compiled_destroy(comp);
  }
  std::string declinedNote;
  for (const auto& [op, g] : basicOpGraphs()) {
    std::string why;
    auto ok = supportsAll(t, *be, *g, &why);
    if (!ok.ok() || *ok) continue;
    GraphView view(*g, constantsInFor(t.api().abi_minor));
    sy_compiled* comp = nullptr;
    sy_error* e = a.compile(*be, view.view(), &comp);
    // Some plugins compile what they declined at a finer grain; only a crash or
    // a half-set handle is wrong here.
    c.expect(e != nullptr || comp != nullptr, "compile of declined '" + op + "' returned neither an error nor a region");
    (void)t.take(e, "compile of declined '" + op + "'");
    if (comp) a.compiled_destroy(comp);
    declinedNote = "compiled declined '" + op + "': " + (e ? "error" : "accepted");
    break;
  }
  // Execute with the wrong number of inputs / outputs.
  auto g = supportedGraph(t, *be);
  if (g.ok() && *g) {
    GraphView view(**g, constantsInFor(t.api().abi_minor));
    sy_compiled* comp = nullptr;
    c.ok(t.compile(*be, view.view(), &comp));
    if (comp) {
      const size_t nIn = (*g)->inputs().size();
      std::vector<sy_buffer*> bufs;
      std::vector<sy_tensor> ins(nIn + 1);
      for (size_t i = 0; i < nIn + 1; ++i) {
        sy_buffer* b = nullptr;
        c.ok(t.allocBuffer(*be, 4 * 8 * sizeof(float), &b));
        bufs.push_back(b);
        Tensor x = ramp({4, 8});
        if (b) (void)t.take(a.buffer_write(b, 0, x.data(), x.nbytes()), "buffer_write");
        ins[i] = sy_tensor{};
        ins[i].struct_size = sizeof(sy_tensor);
        ins[i].buffer = b;
        ins[i].dtype = SY_DTYPE_F32;
        ins[i].rank = 2;
        ins[i].dims[0] = 4;
        ins[i].dims[1] = 8;
      }
      auto tryExecute = [&](size_t numIn, size_t numOut, const std::string& what) {
        std::vector<sy_tensor> outs(std::max<size_t>(numOut, 1));
        for (auto& o : outs) {
          o = sy_tensor{};
          o.struct_size = sizeof(sy_tensor);
        }
        sy_error* e = a.execute(comp, ins.data(), numIn, outs.data(), numOut);
        c.expect(e != nullptr, "execute with " + what + " succeeded");
        for (size_t k = 0; k < numOut; ++k)
          if (outs[k].buffer) {
            c.expect(!e, "a failed execute (" + what + ") left output " + std::to_string(k) + " allocated");
            a.buffer_free(outs[k].buffer);
          }
        (void)t.take(e, "execute with " + what);
      };
      if (nIn > 0) tryExecute(nIn - 1, 1, std::to_string(nIn - 1) + " inputs instead of " + std::to_string(nIn));
      tryExecute(nIn + 1, 1, std::to_string(nIn + 1) + " inputs instead of " + std::to_string(nIn));
      tryExecute(nIn, 0, "0 outputs instead of 1");
      tryExecute(nIn, 2, "2 outputs instead of 1");
      // A wrong shape: an error (a plugin may not check dtypes, but it must not read out of range).
      ins[0].dims[0] = 400;
      tryExecute(nIn, 1, "an input of shape [400, 8] in a 128-byte buffer");
      for (sy_buffer* b : bufs) t.freeBuffer(b);
      t.destroyCompiled(comp);
    }
  }
  c.finish(t, declinedNote);
}

void concurrentExecute(Target& t, CaseResult& r) {
  Check c{r};
  auto be = t.backend();
  if (!be.ok()) {
    c.ok(be.status());
    return c.finish(t);
  }
  auto g = supportedGraph(t, *be);
  if (!g.ok()) {
    c.ok(g.status());
    return c.finish(t);
  }
  if (!*g) return skip(r, "the plugin supports none of the simple f32 graphs");
  const sy_plugin_api& a = t.api();
  GraphView view(**g, constantsInFor(t.api().abi_minor));
  sy_compiled* comp = nullptr;
  c.ok(t.compile(*be, view.view(), &comp));
  if (!comp) return c.finish(t);
  sy_compiled_info info{};
  info.struct_size = sizeof(info);
  (void)t.take(a.compiled_info(comp, &info), "compiled_info");
  const bool concurrent = info.concurrent_execute == 1;
  const std::vector<Tensor> ins = inputsFor(**g);
  const std::vector<Tensor> expected = *(*Interpreter::create(*g))->run(ins);
  std::vector<sy_buffer*> inBufs;
  std::vector<sy_tensor> tin;
  for (const Tensor& x : ins) {
    sy_buffer* b = nullptr;
    c.ok(t.allocBuffer(*be, x.nbytes(), &b));
    if (b) (void)t.take(a.buffer_write(b, 0, x.data(), x.nbytes()), "buffer_write");
    inBufs.push_back(b);
    sy_tensor st{};
    st.struct_size = sizeof(st);
    st.buffer = b;
    st.dtype = SY_DTYPE_F32;
    st.rank = 2;
    st.dims[0] = 4;
    st.dims[1] = 8;
    tin.push_back(st);
  }
  std::mutex serial, report;
  std::atomic<int> bad{0};
  std::string firstProblem;
  auto worker = [&] {
    for (int i = 0; i < 50; ++i) {
      std::unique_lock<std::mutex> lock(serial, std::defer_lock);
      if (!concurrent) lock.lock();
      sy_tensor out{};
      out.struct_size = sizeof(out);
      sy_error* e = a.execute(comp, tin.data(), tin.size(), &out, 1);
      if (lock.owns_lock()) lock.unlock();
      std::string problem;
      if (e) {
        problem = std::string("execute failed: ") + a.error_message(e);
        a.error_destroy(e);
      } else if (!out.buffer) {
        problem = "execute returned no output buffer";
      } else {
        std::vector<float> y(32, 0);
        sy_error* re = a.buffer_read(out.buffer, out.offset, y.data(), y.size() * sizeof(float));
        if (re) {
          problem = std::string("buffer_read failed: ") + a.error_message(re);
          a.error_destroy(re);
        } else {
          for (int k = 0; k < 32 && problem.empty(); ++k)
            if (std::fabs(y[k] - expected[0].getDouble(k)) > 1e-4 * (1 + std::fabs(expected[0].getDouble(k))))
              problem = "element " + std::to_string(k) + " is " + std::to_string(y[k]) + ", expected " +
                        std::to_string(expected[0].getDouble(k));
        }
        a.buffer_free(out.buffer);
      }
      if (!problem.empty()) {
        std::lock_guard<std::mutex> g2(report);
        if (bad++ == 0) firstProblem = problem;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) threads.emplace_back(worker);
  for (auto& th : threads) th.join();
  c.expect(bad == 0, std::to_string(bad.load()) + " of 200 runs from 4 threads went wrong, first: " + firstProblem);
  for (sy_buffer* b : inBufs) t.freeBuffer(b);
  t.destroyCompiled(comp);
  c.finish(t, concurrent ? "4 threads x 50 runs at once (concurrent_execute = 1)"
                         : "4 threads x 50 runs, serialised (concurrent_execute = 0)");
}

long residentKiB() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, rss = 0;
  in >> pages >> rss;
  return rss * 4;
}

void noLeaks(Target& t, CaseResult& r) {
  Check c{r};
  auto be = t.backend();
  if (!be.ok()) {
    c.ok(be.status());
    return c.finish(t);
  }
  auto g = supportedGraph(t, *be);
  if (!g.ok()) {
    c.ok(g.status());
    return c.finish(t);
  }
  auto cycle = [&](int n) {
    for (int i = 0; i < n && c.problems.empty(); ++i) {
      if (*g) {
        PluginRun run = runOnPlugin(t, **g, inputsFor(**g));
        c.expect(run.stage == PluginRun::Stage::Ok, run.message);
      } else {
        sy_buffer* b = nullptr;
        c.ok(t.allocBuffer(*be, 4096, &b));
        t.freeBuffer(b);
      }
    }
  };
  cycle(100);  // warm up allocators and caches
  const long before = residentKiB();
  cycle(2000);
  const long grown = residentKiB() - before;
  const auto live = t.live();
  c.expect(live.buffers == 0 && live.compiled == 0 && live.backends <= 1,
           "handles the suite issued are still open: " + std::to_string(live.buffers) + " buffers, " +
               std::to_string(live.compiled) + " compiled");
  // Under a sanitizer, freed memory sits in quarantine and resident memory
  // grows by design; the handle counts above still catch leaks there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  constexpr bool kMeasureResident = false;
#else
  constexpr bool kMeasureResident = true;
#endif
  c.expect(!kMeasureResident || grown < 32 * 1024, "resident memory grew by " + std::to_string(grown / 1024) +
                                  " MiB over 2000 compile/execute/destroy cycles (a leak?)");
  c.finish(t, "2000 cycles, resident memory +" + std::to_string(std::max(0L, grown)) + " KiB");
}

}  // namespace

std::vector<Case> apiCases() {
  const std::vector<std::pair<std::string, std::function<void(Target&, CaseResult&)>>> table = {
      {"load_and_info", loadAndInfo},
      {"abi_version", abiVersion},
      {"devices", devices},
      {"backend_create_destroy", backendRepeated},
      {"buffers", buffers},
      {"capability_query", capabilityQuery},
      {"lifecycle", lifecycle},
      {"errors_for_bad_input", errorsForBadInput},
      {"concurrent_execute", concurrentExecute},
      {"no_leaks", noLeaks},
  };
  std::vector<Case> out;
  for (const auto& [name, fn] : table) {
    Case k;
    k.info.id = "api." + name;
    k.info.scope = "api";
    k.info.group = "api";
    k.run = fn;
    out.push_back(std::move(k));
  }
  return out;
}

}  // namespace sy::conformance
