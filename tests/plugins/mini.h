// A minimal working plugin shared by the faulty test plugins: one CPU device
// whose memory is host visible, running "relu" and "add" on f32. Each faulty
// plugin takes this table (mini::make_api) and breaks exactly one thing.
#ifndef SY_TEST_PLUGINS_MINI_H_
#define SY_TEST_PLUGINS_MINI_H_

#include "common.h"

struct sy_backend {
  size_t device = 0;
};

struct sy_compiled {
  sy_backend* backend = nullptr;
  sytest::Plan plan;
  std::vector<std::unique_ptr<float[]>> constants;  // copies of the region's constant data
};

namespace mini {

// Set by make_api: the plugin's name, used in messages and the device name.
inline const char*& plugin_name() {
  static const char* name = "mini";
  return name;
}

inline const std::string& device_name() {
  static const std::string n = std::string(plugin_name()) + "0";
  return n;
}

inline const std::set<std::string>& op_set() {
  static const std::set<std::string> ops = {"add", "relu"};
  return ops;
}

inline sy_error* device_count(size_t* out_count) {
  if (!out_count) return sytest::errorf(SY_ERROR_INVALID_ARGUMENT, "%s: out_count is NULL", plugin_name());
  *out_count = 1;
  return nullptr;
}

inline sy_error* device_info(size_t device, sy_device_info* out_info) {
  if (device != 0)
    return sytest::errorf(SY_ERROR_INVALID_ARGUMENT, "%s: device %zu does not exist (there is 1)", plugin_name(),
                          device);
  return sytest::fill_device_info(out_info, device_name().c_str(), SY_DEVICE_CPU, 0, 1, 1, plugin_name());
}

inline sy_error* backend_create(size_t device, const sy_option* options, size_t num_options,
                                sy_backend** out_backend) {
  if (!out_backend) return sytest::errorf(SY_ERROR_INVALID_ARGUMENT, "%s: out_backend is NULL", plugin_name());
  *out_backend = nullptr;
  if (device != 0)
    return sytest::errorf(SY_ERROR_INVALID_ARGUMENT, "%s: device %zu does not exist (there is 1)", plugin_name(),
                          device);
  if (num_options && !options) return sytest::errorf(SY_ERROR_INVALID_ARGUMENT, "%s: options is NULL", plugin_name());
  if (num_options)
    return sytest::errorf(SY_ERROR_INVALID_ARGUMENT, "%s: unknown backend option '%s' (it takes none)", plugin_name(),
                          sytest::str_or(options[0].key, "(null)"));
  auto* b = new (std::nothrow) sy_backend;
  if (!b) return sytest::errorf(SY_ERROR_OUT_OF_MEMORY, "%s: out of memory", plugin_name());
  b->device = device;
  *out_backend = b;
  return nullptr;
}

inline void backend_destroy(sy_backend* b) { delete b; }

inline sy_error* query_support(sy_backend* backend, const sy_graph_view* graph, sy_node_support* out_support,
                               size_t num_nodes) {
  if (!backend) return sytest::errorf(SY_ERROR_INVALID_ARGUMENT, "%s: backend is NULL", plugin_name());
  if (sy_error* e = sytest::validate_view(graph, plugin_name())) return e;
  if (num_nodes != graph->num_nodes || (num_nodes && !out_support))
    return sytest::errorf(SY_ERROR_INVALID_ARGUMENT, "%s: query_support needs %zu answers, got room for %zu",
                          plugin_name(), graph->num_nodes, out_support ? num_nodes : 0);
  for (size_t i = 0; i < num_nodes; ++i) {
    sy_node_support& s = out_support[i];
    const std::string why = sytest::check_node(graph, graph->nodes[i], op_set(), plugin_name());
    s.supported = why.empty() ? 1 : 0;
    s.cost = why.empty() ? 1e-6 : 0.0;
    sytest::set_reason(&s, why);
  }
  return nullptr;
}

inline sy_error* compile(sy_backend* backend, const sy_graph_view* region, sy_compiled** out_compiled) {
  if (!out_compiled) return sytest::errorf(SY_ERROR_INVALID_ARGUMENT, "%s: out_compiled is NULL", plugin_name());
  *out_compiled = nullptr;
  if (!backend) return sytest::errorf(SY_ERROR_INVALID_ARGUMENT, "%s: backend is NULL", plugin_name());
  auto c = std::make_unique<sy_compiled>();
  c->backend = backend;
  sy_compiled* raw = c.get();
  sy_error* e = c->plan.build(
      region, [&](const sy_node_view& n) { return sytest::check_node(region, n, op_set(), plugin_name()); },
      [&](int32_t, const sy_value_info& v, sytest::ConstRef* ref) -> sy_error* {
        std::unique_ptr<float[]> copy(new (std::nothrow) float[v.constant_bytes / sizeof(float) + 1]);
        if (!copy) return sytest::errorf(SY_ERROR_OUT_OF_MEMORY, "%s: out of memory for a constant", plugin_name());
        std::memcpy(copy.get(), v.constant_data, v.constant_bytes);
        ref->data = copy.get();
        raw->constants.push_back(std::move(copy));
        return nullptr;
      },
      plugin_name());
  if (e) return e;
  *out_compiled = c.release();
  return nullptr;
}

inline void compiled_destroy(sy_compiled* c) { delete c; }

inline sy_error* compiled_info(const sy_compiled* c, sy_compiled_info* out_info) {
  if (!c || !out_info) return sytest::errorf(SY_ERROR_INVALID_ARGUMENT, "%s: compiled_info: NULL argument", plugin_name());
  if (SY_STRUCT_HAS(sy_compiled_info, out_info, concurrent_execute)) out_info->concurrent_execute = 1;
  return nullptr;
}

inline sy_error* buffer_alloc(sy_backend* backend, size_t bytes, sy_buffer** out_buffer);
inline void buffer_free(sy_buffer* b) { sytest::delete_host_buffer(b); }

inline sy_error* execute(sy_compiled* c, const sy_tensor* inputs, size_t num_inputs, sy_tensor* outputs,
                         size_t num_outputs) {
  if (sy_error* e = sytest::clear_outputs(outputs, num_outputs, plugin_name())) return e;
  if (!c) return sytest::errorf(SY_ERROR_INVALID_ARGUMENT, "%s: execute: compiled is NULL", plugin_name());
  if (num_outputs != c->plan.returns.size())
    return sytest::errorf(SY_ERROR_INVALID_ARGUMENT, "%s: execute got %zu outputs, the region has %zu", plugin_name(),
                          num_outputs, c->plan.returns.size());
  std::vector<sytest::Plan::Input> in;
  std::vector<std::vector<float>> scratch, data;
  std::vector<sytest::Shape> shapes;
  // Wrapped host buffers belong to the backend too; only check that a buffer exists.
  if (sy_error* e = sytest::gather_inputs(inputs, num_inputs, nullptr, plugin_name(), &in, &scratch)) return e;
  if (sy_error* e = c->plan.run(in, &data, &shapes, plugin_name())) return e;
  for (size_t i = 0; i < num_outputs; ++i) {
    sy_buffer* b = nullptr;
    if (sy_error* e = buffer_alloc(c->backend, data[i].size() * sizeof(float), &b)) {
      for (size_t j = 0; j < i; ++j) {
        buffer_free(outputs[j].buffer);
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

inline sy_error* buffer_alloc(sy_backend* backend, size_t bytes, sy_buffer** out_buffer) {
  if (!out_buffer) return sytest::errorf(SY_ERROR_INVALID_ARGUMENT, "%s: out_buffer is NULL", plugin_name());
  *out_buffer = nullptr;
  if (!backend) return sytest::errorf(SY_ERROR_INVALID_ARGUMENT, "%s: backend is NULL", plugin_name());
  sy_buffer* b = sytest::new_host_buffer(backend, bytes);
  if (!b) return sytest::errorf(SY_ERROR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", plugin_name(), bytes);
  *out_buffer = b;
  return nullptr;
}

inline void* buffer_host_pointer(sy_buffer* b) { return b ? b->data : nullptr; }

inline sy_error* buffer_wrap_host(sy_backend* backend, const void* data, size_t bytes, sy_buffer** out_buffer) {
  if (!out_buffer) return sytest::errorf(SY_ERROR_INVALID_ARGUMENT, "%s: out_buffer is NULL", plugin_name());
  *out_buffer = nullptr;
  if (!backend || (bytes && !data))
    return sytest::errorf(SY_ERROR_INVALID_ARGUMENT, "%s: buffer_wrap_host: NULL argument", plugin_name());
  auto* b = new (std::nothrow) sy_buffer;
  if (!b) return sytest::errorf(SY_ERROR_OUT_OF_MEMORY, "%s: out of memory", plugin_name());
  static uint8_t empty = 0;
  b->backend = backend;
  b->size = bytes;
  b->data = bytes ? static_cast<uint8_t*>(const_cast<void*>(data)) : &empty;
  b->owned = false;
  *out_buffer = b;
  return nullptr;
}

// The full, working table for a plugin called `name`.
inline sy_plugin_api make_api(const char* name) {
  plugin_name() = name;
  sy_plugin_api a{};
  a.struct_size = sizeof(sy_plugin_api);
  a.abi_major = SY_ABI_VERSION_MAJOR;
  a.abi_minor = SY_ABI_VERSION_MINOR;
  a.name = name;
  a.version = "0.1.0";
  a.vendor = "Switchyard tests";
  a.error_message = sytest::error_message;
  a.error_code = sytest::error_code;
  a.error_destroy = sytest::error_destroy;
  a.init = nullptr;
  a.shutdown = nullptr;
  a.device_count = device_count;
  a.device_info = device_info;
  a.backend_create = backend_create;
  a.backend_destroy = backend_destroy;
  a.query_support = query_support;
  a.compile = compile;
  a.compiled_destroy = compiled_destroy;
  a.compiled_info = compiled_info;
  a.execute = execute;
  a.buffer_alloc = buffer_alloc;
  a.buffer_free = buffer_free;
  a.buffer_size = sytest::buffer_size;
  a.buffer_write = sytest::buffer_write;
  a.buffer_read = sytest::buffer_read;
  a.buffer_host_pointer = buffer_host_pointer;
  a.buffer_wrap_host = buffer_wrap_host;
  return a;
}

}  // namespace mini

// Defines the exported entry returning make_api(name) after `tweak(api)`.
#define SY_MINI_PLUGIN(NAME, TWEAK)                                         \
  extern "C" SY_PLUGIN_EXPORT const sy_plugin_api* sy_plugin_get_api(void) { \
    static const sy_plugin_api api = [] {                                  \
      sy_plugin_api a = mini::make_api(NAME);                              \
      TWEAK;                                                               \
      return a;                                                            \
    }();                                                                   \
    return &api;                                                           \
  }

#endif  // SY_TEST_PLUGINS_MINI_H_
