// memdev: a fake accelerator for the host and runtime tests.
//
// Its "device memory" is host memory behind opaque handles that are NOT host
// visible (no buffer_host_pointer, host_visible_memory 0), so the host has to
// copy in and out with buffer_write / buffer_read. Two devices ("memdev0",
// "memdev1"), 1 GiB each; allocations beyond that fail with
// SY_ERROR_OUT_OF_MEMORY.
//
// Backend options:
//   ops               comma-separated ops to claim (default: add,sub,mul,relu,
//                     neg,exp,tanh,sigmoid,matmul; it also has kernels for div,
//                     erf, gemm and softmax, claimed only when listed)
//   fail_compile_ops  ops whose presence in a region makes compile fail
//   fail_execute_ops  ops whose presence in a region makes execute fail
//
// Runs f32 only; straight-line regions only (if/loop are declined). Constants
// (ABI 1.1: values with constant_data, never nodes) are copied into memdev
// buffers at compile, once. Only an ABI 1.0 host asks about `constant` and
// `weight` nodes; they are claimed by default, or when `ops` lists them.
// execute keeps no shared mutable state (concurrent_execute = 1). Live
// buffers, backends and compiled regions are counted; the shutdown that
// matches the first init prints a warning to stderr when any is still alive.
#include <atomic>
#include <cinttypes>

#include "common.h"

namespace {

// memdev_abi10.cpp builds this file again as a plugin of ABI minor 0.
#ifndef SY_TEST_MEMDEV_NAME
#define SY_TEST_MEMDEV_NAME "memdev"
#endif
#ifndef SY_TEST_MEMDEV_ABI_MINOR
#define SY_TEST_MEMDEV_ABI_MINOR SY_ABI_VERSION_MINOR
#endif
constexpr const char* kName = SY_TEST_MEMDEV_NAME;
constexpr size_t kDevices = 2;
constexpr uint64_t kDeviceBytes = uint64_t{1} << 30;
const char* const kDeviceNames[kDevices] = {"memdev0", "memdev1"};

std::atomic<int64_t> g_live_buffers{0};
std::atomic<int64_t> g_live_backends{0};
std::atomic<int64_t> g_live_compiled{0};
std::atomic<uint64_t> g_device_used[kDevices];
// Successful inits not yet matched by a shutdown. A host that loads the same
// file twice gets one image (dlopen counts references), so the counters above
// are shared: leaks are only judged at the last shutdown.
std::atomic<int64_t> g_open{0};

}  // namespace

struct sy_backend {
  size_t device = 0;
  std::set<std::string> ops, fail_compile, fail_execute;
};

struct sy_compiled {
  sy_backend* backend = nullptr;
  sytest::Plan plan;
  std::vector<sy_buffer*> constants;  // device copies of the region's constant data
  std::string execute_fault;          // non-empty: execute fails with this (fail_execute_ops)
};

namespace {

using sytest::errorf;

sy_error* md_init(const sy_host_info* host) {
  if (!host) return errorf(SY_ERROR_INVALID_ARGUMENT, "memdev: init: host info is NULL");
  if (host->struct_size < offsetof(sy_host_info, abi_minor) + sizeof(uint32_t))
    return errorf(SY_ERROR_INVALID_ARGUMENT, "memdev: init: sy_host_info.struct_size %zu is too small", host->struct_size);
  if (host->abi_major != SY_ABI_VERSION_MAJOR)
    return errorf(SY_ERROR_UNIMPLEMENTED, "memdev: built for plugin ABI %d.%d, the host speaks %u.%u",
                  SY_ABI_VERSION_MAJOR, SY_ABI_VERSION_MINOR, host->abi_major, host->abi_minor);
  ++g_open;
  return nullptr;
}

void md_shutdown(void) {
  int64_t open = g_open.load();
  while (open > 0 && !g_open.compare_exchange_weak(open, open - 1)) {
  }
  if (open > 1) return;  // another load of this image is still in use
  const int64_t b = g_live_buffers.load(), k = g_live_backends.load(), c = g_live_compiled.load();
  if (b || k || c)
    std::fprintf(stderr,
                 "memdev: warning: leaked at shutdown: %" PRId64 " buffer(s), %" PRId64 " backend(s), %" PRId64
                 " compiled region(s)\n",
                 b, k, c);
}

sy_error* md_device_count(size_t* out_count) {
  if (!out_count) return errorf(SY_ERROR_INVALID_ARGUMENT, "memdev: device_count: out_count is NULL");
  *out_count = kDevices;
  return nullptr;
}

sy_error* md_device_info(size_t device, sy_device_info* out_info) {
  if (device >= kDevices)
    return errorf(SY_ERROR_INVALID_ARGUMENT, "memdev: device %zu does not exist (there are %zu)", device, kDevices);
  return sytest::fill_device_info(out_info, kDeviceNames[device], SY_DEVICE_ACCELERATOR, kDeviceBytes, 10, 0, kName);
}

sy_error* md_backend_create(size_t device, const sy_option* options, size_t num_options, sy_backend** out_backend) {
  if (!out_backend) return errorf(SY_ERROR_INVALID_ARGUMENT, "memdev: backend_create: out_backend is NULL");
  *out_backend = nullptr;
  if (device >= kDevices)
    return errorf(SY_ERROR_INVALID_ARGUMENT, "memdev: device %zu does not exist (there are %zu)", device, kDevices);
  if (num_options && !options) return errorf(SY_ERROR_INVALID_ARGUMENT, "memdev: backend_create: options is NULL");
  auto b = std::make_unique<sy_backend>();
  b->device = device;
  b->ops = sytest::split_list((std::string(sytest::kAllOps) + ",constant,weight").c_str());
  for (size_t i = 0; i < num_options; ++i) {
    const sy_option& o = options[i];
    if (o.struct_size < sizeof(sy_option) || !o.key || !o.value)
      return errorf(SY_ERROR_INVALID_ARGUMENT, "memdev: option %zu is malformed", i);
    const std::string key = o.key;
    if (key == "ops") {
      b->ops = sytest::split_list(o.value);
      for (const std::string& op : b->ops) {
        sytest::Op parsed;
        if (op != "constant" && op != "weight" && !sytest::op_from_name(op, &parsed))
          return errorf(SY_ERROR_INVALID_ARGUMENT, "memdev: option 'ops': memdev has no kernel for op '%s' (it has: %s)",
                        op.c_str(), (std::string(sytest::kAllOps) + ",div,erf,gemm,softmax").c_str());
      }
    } else if (key == "fail_compile_ops") {
      b->fail_compile = sytest::split_list(o.value);
    } else if (key == "fail_execute_ops") {
      b->fail_execute = sytest::split_list(o.value);
    } else {
      return errorf(SY_ERROR_INVALID_ARGUMENT,
                    "memdev: unknown backend option '%s' (known: ops, fail_compile_ops, fail_execute_ops)", o.key);
    }
  }
  ++g_live_backends;
  *out_backend = b.release();
  return nullptr;
}

void md_backend_destroy(sy_backend* b) {
  if (!b) return;
  --g_live_backends;
  delete b;
}

sy_error* md_query_support(sy_backend* backend, const sy_graph_view* graph, sy_node_support* out_support,
                           size_t num_nodes) {
  if (!backend) return errorf(SY_ERROR_INVALID_ARGUMENT, "memdev: query_support: backend is NULL");
  if (sy_error* e = sytest::validate_view(graph, kName)) return e;
  if (num_nodes != graph->num_nodes || (num_nodes && !out_support))
    return errorf(SY_ERROR_INVALID_ARGUMENT, "memdev: query_support needs %zu answers, got room for %zu",
                  graph->num_nodes, out_support ? num_nodes : 0);
  for (size_t i = 0; i < num_nodes; ++i) {
    sy_node_support& s = out_support[i];
    const sy_node_view& n = graph->nodes[i];
    const std::string why = sytest::check_node(graph, n, backend->ops, kName);
    s.supported = why.empty() ? 1 : 0;
    sytest::Op op = sytest::Op::Add;
    sytest::op_from_name(n.op, &op);
    s.cost = why.empty() ? sytest::estimate_cost(graph, n, op) : 0.0;
    sytest::set_reason(&s, why);
  }
  return nullptr;
}

// --- buffers ---------------------------------------------------------------

sy_error* md_buffer_alloc(sy_backend* backend, size_t bytes, sy_buffer** out_buffer) {
  if (!out_buffer) return errorf(SY_ERROR_INVALID_ARGUMENT, "memdev: buffer_alloc: out_buffer is NULL");
  *out_buffer = nullptr;
  if (!backend) return errorf(SY_ERROR_INVALID_ARGUMENT, "memdev: buffer_alloc: backend is NULL");
  std::atomic<uint64_t>& used = g_device_used[backend->device];
  uint64_t cur = used.load();
  do {
    if (bytes > kDeviceBytes - cur)
      return errorf(SY_ERROR_OUT_OF_MEMORY, "memdev: %s is out of memory: %zu bytes requested, %" PRIu64 " of %" PRIu64
                    " in use", kDeviceNames[backend->device], bytes, cur, kDeviceBytes);
  } while (!used.compare_exchange_weak(cur, cur + bytes));
  sy_buffer* b = sytest::new_host_buffer(backend, bytes);
  if (!b) {
    used -= bytes;
    return errorf(SY_ERROR_OUT_OF_MEMORY, "memdev: cannot allocate %zu bytes", bytes);
  }
  ++g_live_buffers;
  *out_buffer = b;
  return nullptr;
}

void md_buffer_free(sy_buffer* b) {
  if (!b) return;
  g_device_used[b->backend->device] -= b->size;
  --g_live_buffers;
  sytest::delete_host_buffer(b);
}

// --- compile / execute -----------------------------------------------------

void md_compiled_destroy(sy_compiled* c) {
  if (!c) return;
  for (sy_buffer* b : c->constants) md_buffer_free(b);
  --g_live_compiled;
  delete c;
}

sy_error* md_compile(sy_backend* backend, const sy_graph_view* region, sy_compiled** out_compiled) {
  if (!out_compiled) return errorf(SY_ERROR_INVALID_ARGUMENT, "memdev: compile: out_compiled is NULL");
  *out_compiled = nullptr;
  if (!backend) return errorf(SY_ERROR_INVALID_ARGUMENT, "memdev: compile: backend is NULL");
  if (sy_error* e = sytest::validate_view(region, kName)) return e;
  for (size_t k = 0; k < region->body.num_nodes; ++k) {
    const sy_node_view& n = region->nodes[region->body.nodes[k]];
    if (backend->fail_compile.count(n.op))
      return errorf(SY_ERROR_DEVICE, "memdev: compile failed on op '%s' (node '%s'): injected by fail_compile_ops",
                    n.op, sytest::node_label(region, n).c_str());
  }
  auto c = std::make_unique<sy_compiled>();
  c->backend = backend;
  ++g_live_compiled;
  sy_compiled* raw = c.get();
  sy_error* e = c->plan.build(
      region, [&](const sy_node_view& n) { return sytest::check_node(region, n, backend->ops, kName); },
      [&](int32_t, const sy_value_info& v, sytest::ConstRef* ref) -> sy_error* {
        // Upload the constant into device memory, once.
        sy_buffer* b = nullptr;
        if (sy_error* err = md_buffer_alloc(backend, v.constant_bytes, &b)) return err;
        raw->constants.push_back(b);
        if (sy_error* err = sytest::buffer_write(b, 0, v.constant_data, v.constant_bytes)) return err;
        ref->data = reinterpret_cast<const float*>(b->data);
        return nullptr;
      },
      kName);
  if (e) {
    md_compiled_destroy(c.release());
    return e;
  }
  for (const sytest::Step& s : c->plan.steps)
    if (backend->fail_execute.count(s.op_name)) {
      c->execute_fault = sytest::strf("memdev: device lost while running op '%s' (node '%s'): injected by fail_execute_ops",
                                      s.op_name.c_str(), s.node_name.c_str());
      break;
    }
  *out_compiled = c.release();
  return nullptr;
}

sy_error* md_compiled_info(const sy_compiled* c, sy_compiled_info* out_info) {
  if (!c || !out_info) return errorf(SY_ERROR_INVALID_ARGUMENT, "memdev: compiled_info: NULL argument");
  if (SY_STRUCT_HAS(sy_compiled_info, out_info, concurrent_execute)) out_info->concurrent_execute = 1;
  return nullptr;
}

sy_error* md_execute(sy_compiled* c, const sy_tensor* inputs, size_t num_inputs, sy_tensor* outputs,
                     size_t num_outputs) {
  if (sy_error* e = sytest::clear_outputs(outputs, num_outputs, kName)) return e;
  if (!c) return errorf(SY_ERROR_INVALID_ARGUMENT, "memdev: execute: compiled is NULL");
  if (num_outputs != c->plan.returns.size())
    return errorf(SY_ERROR_INVALID_ARGUMENT, "memdev: execute got %zu outputs, the region has %zu", num_outputs,
                  c->plan.returns.size());
  if (!c->execute_fault.empty()) return sytest::make_error(SY_ERROR_DEVICE, c->execute_fault);
  std::vector<sytest::Plan::Input> in;
  std::vector<std::vector<float>> scratch, data;
  std::vector<sytest::Shape> shapes;
  if (sy_error* e = sytest::gather_inputs(inputs, num_inputs, c->backend, kName, &in, &scratch)) return e;
  if (sy_error* e = c->plan.run(in, &data, &shapes, kName)) return e;
  for (size_t i = 0; i < num_outputs; ++i) {
    sy_buffer* b = nullptr;
    if (sy_error* e = md_buffer_alloc(c->backend, data[i].size() * sizeof(float), &b)) {
      for (size_t j = 0; j < i; ++j) {
        md_buffer_free(outputs[j].buffer);
        outputs[j].buffer = nullptr;
      }
      return e;
    }
    if (!data[i].empty()) std::memcpy(b->data, data[i].data(), data[i].size() * sizeof(float));
    outputs[i].buffer = b;
    outputs[i].rank = static_cast<int32_t>(shapes[i].size());
    for (size_t d = 0; d < shapes[i].size(); ++d) outputs[i].dims[d] = shapes[i][d];
  }
  return nullptr;
}

sy_plugin_api make_api() {
  sy_plugin_api a{};
  a.struct_size = sizeof(sy_plugin_api);
  a.abi_major = SY_ABI_VERSION_MAJOR;
  a.abi_minor = SY_TEST_MEMDEV_ABI_MINOR;
  a.name = kName;
  a.version = "0.1.0";
  a.vendor = "Switchyard tests";
  a.error_message = sytest::error_message;
  a.error_code = sytest::error_code;
  a.error_destroy = sytest::error_destroy;
  a.init = md_init;
  a.shutdown = md_shutdown;
  a.device_count = md_device_count;
  a.device_info = md_device_info;
  a.backend_create = md_backend_create;
  a.backend_destroy = md_backend_destroy;
  a.query_support = md_query_support;
  a.compile = md_compile;
  a.compiled_destroy = md_compiled_destroy;
  a.compiled_info = md_compiled_info;
  a.execute = md_execute;
  a.buffer_alloc = md_buffer_alloc;
  a.buffer_free = md_buffer_free;
  a.buffer_size = sytest::buffer_size;
  a.buffer_write = sytest::buffer_write;
  a.buffer_read = sytest::buffer_read;
  a.buffer_host_pointer = nullptr;  // device memory is not host visible
  a.buffer_wrap_host = nullptr;
  return a;
}

}  // namespace

extern "C" SY_PLUGIN_EXPORT const sy_plugin_api* sy_plugin_get_api(void) {
  static const sy_plugin_api api = make_api();
  return &api;
}
