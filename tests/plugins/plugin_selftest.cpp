// Self-test of the in-tree test plugins: dlopens each built plugin from
// SY_TEST_PLUGIN_DIR and drives its C table directly, without the host, so a
// failure in the host/runtime tests can be told apart from a broken plugin.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <switchyard/plugin.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string pluginPath(const std::string& name) {
  return std::string(SY_TEST_PLUGIN_DIR) + "/libsy_plugin_" + name + ".so";
}

// A dlopen'ed plugin and its table.
struct Plugin {
  void* handle = nullptr;
  const sy_plugin_api* api = nullptr;

  explicit Plugin(const std::string& name) {
    handle = dlopen(pluginPath(name).c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) return;
    auto get = reinterpret_cast<sy_plugin_get_api_fn>(dlsym(handle, SY_PLUGIN_ENTRY_SYMBOL));
    if (get) api = get();
  }
  ~Plugin() {
    if (handle) dlclose(handle);
  }
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;
};

// Message of `e` (destroying it); "" for success.
std::string take(const sy_plugin_api* api, sy_error* e) {
  if (!e) return "";
  std::string m = api->error_message(e);
  api->error_destroy(e);
  return m.empty() ? "(error with an empty message)" : m;
}

// Code and message of `e` (destroying it).
std::pair<int32_t, std::string> takeWithCode(const sy_plugin_api* api, sy_error* e) {
  if (!e) return {0, ""};
  int32_t code = api->error_code(e);
  return {code, take(api, e)};
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

#define EXPECT_OK(api, expr)                   \
  do {                                         \
    const std::string _m = take(api, (expr)); \
    EXPECT_EQ(_m, "") << #expr;                \
  } while (0)
#define ASSERT_OK(api, expr)                   \
  do {                                         \
    const std::string _m = take(api, (expr)); \
    ASSERT_EQ(_m, "") << #expr;                \
  } while (0)

sy_host_info hostInfo() {
  sy_host_info h{};
  h.struct_size = sizeof(h);
  h.abi_major = SY_ABI_VERSION_MAJOR;
  h.abi_minor = SY_ABI_VERSION_MINOR;
  h.host_version = "0.1.0-selftest";
  return h;
}

sy_option opt(const char* k, const char* v) {
  sy_option o{};
  o.struct_size = sizeof(o);
  o.key = k;
  o.value = v;
  return o;
}

// Builds a sy_graph_view by hand; everything it points to lives in the builder.
class ViewBuilder {
 public:
  // A value of static type f32 (or `dtype`) with `dims` (-1 + a symbol for symbolic dims).
  int32_t value(const std::string& name, std::vector<int64_t> dims, std::vector<const char*> syms = {},
                int32_t dtype = SY_DTYPE_F32) {
    sy_value_info v{};
    v.struct_size = sizeof(v);
    v.name = keep(name);
    v.dtype = dtype;
    v.rank = static_cast<int32_t>(dims.size());
    syms.resize(dims.size(), nullptr);
    v.dims = dims_.emplace_back(std::move(dims)).data();
    v.dim_symbols = syms_.emplace_back(std::move(syms)).data();
    values_.push_back(v);
    return static_cast<int32_t>(values_.size() - 1);
  }
  int32_t unknownRank(const std::string& name) {
    int32_t v = value(name, {});
    values_[v].rank = -1;
    values_[v].dims = nullptr;
    values_[v].dim_symbols = nullptr;
    return v;
  }
  // A compile-time constant (weight or literal); `data` must outlive the compiled region.
  int32_t constant(const std::string& name, std::vector<int64_t> dims, const std::vector<float>& data) {
    int32_t v = value(name, std::move(dims));
    values_[v].constant_data = data.data();
    values_[v].constant_bytes = data.size() * sizeof(float);
    return v;
  }
  int32_t node(const std::string& op, const std::string& name, std::vector<int32_t> ins, std::vector<int32_t> outs,
               size_t numBlocks = 0) {
    sy_node_view n{};
    n.struct_size = sizeof(n);
    n.op = keep(op);
    n.name = keep(name);
    n.num_inputs = ins.size();
    n.inputs = idx_.emplace_back(std::move(ins)).data();
    n.num_outputs = outs.size();
    n.outputs = idx_.emplace_back(std::move(outs)).data();
    if (numBlocks) {
      std::vector<sy_block_view> blocks(numBlocks);
      for (auto& b : blocks) {
        b.struct_size = sizeof(b);
        b.label = "block";
      }
      n.num_blocks = numBlocks;
      n.blocks = blocks_.emplace_back(std::move(blocks)).data();
    }
    nodes_.push_back(n);
    body_.push_back(static_cast<int32_t>(nodes_.size() - 1));
    return body_.back();
  }
  void param(int32_t v) { params_.push_back(v); }
  void ret(int32_t v) { returns_.push_back(v); }

  const sy_graph_view* view() {
    g_ = sy_graph_view{};
    g_.struct_size = sizeof(g_);
    g_.num_values = values_.size();
    g_.values = values_.data();
    g_.num_nodes = nodes_.size();
    g_.nodes = nodes_.data();
    g_.body.struct_size = sizeof(g_.body);
    g_.body.label = "body";
    g_.body.num_params = params_.size();
    g_.body.params = params_.data();
    g_.body.num_nodes = body_.size();
    g_.body.nodes = body_.data();
    g_.body.num_returns = returns_.size();
    g_.body.returns = returns_.data();
    return &g_;
  }

 private:
  const char* keep(const std::string& s) { return strings_.emplace_back(s).c_str(); }
  std::deque<std::string> strings_;
  std::deque<std::vector<int64_t>> dims_;
  std::deque<std::vector<const char*>> syms_;
  std::deque<std::vector<int32_t>> idx_;
  std::deque<std::vector<sy_block_view>> blocks_;
  std::vector<sy_value_info> values_;
  std::vector<sy_node_view> nodes_;
  std::vector<int32_t> params_, body_, returns_;
  sy_graph_view g_{};
};

struct HostTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// Runs `compiled` on host tensors: uploads each input (buffer_alloc +
// buffer_write), executes, reads each output back and frees every buffer.
// Returns the error message ("" on success); on failure checks that no output
// was left allocated.
std::string runOn(const sy_plugin_api* api, sy_backend* backend, sy_compiled* compiled,
                  const std::vector<HostTensor>& inputs, size_t numOutputs, std::vector<HostTensor>* outputs) {
  std::vector<sy_tensor> in(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    sy_tensor& t = in[i];
    t = sy_tensor{};
    t.struct_size = sizeof(t);
    t.dtype = SY_DTYPE_F32;
    t.rank = static_cast<int32_t>(inputs[i].shape.size());
    for (size_t d = 0; d < inputs[i].shape.size(); ++d) t.dims[d] = inputs[i].shape[d];
    const size_t bytes = inputs[i].data.size() * sizeof(float);
    std::string m = take(api, api->buffer_alloc(backend, bytes, &t.buffer));
    if (!m.empty()) return "buffer_alloc: " + m;
    m = take(api, api->buffer_write(t.buffer, 0, inputs[i].data.data(), bytes));
    if (!m.empty()) return "buffer_write: " + m;
  }
  std::vector<sy_tensor> out(numOutputs);
  for (auto& t : out) {
    t = sy_tensor{};
    t.struct_size = sizeof(t);
    t.buffer = reinterpret_cast<sy_buffer*>(0x1);  // garbage: the plugin must reset it
  }
  std::string err = take(api, api->execute(compiled, in.data(), in.size(), out.data(), out.size()));
  for (auto& t : in) api->buffer_free(t.buffer);
  if (!err.empty()) {
    for (auto& t : out) EXPECT_EQ(t.buffer, nullptr) << "an output was left set after a failed execute";
    return err;
  }
  outputs->clear();
  for (auto& t : out) {
    HostTensor h;
    EXPECT_EQ(t.dtype, SY_DTYPE_F32);
    h.shape.assign(t.dims, t.dims + t.rank);
    size_t n = 1;
    for (int64_t d : h.shape) n *= static_cast<size_t>(d);
    h.data.resize(n);
    EXPECT_GE(api->buffer_size(t.buffer), t.offset + n * sizeof(float));
    EXPECT_OK(api, api->buffer_read(t.buffer, t.offset, h.data.data(), n * sizeof(float)));
    api->buffer_free(t.buffer);
    outputs->push_back(std::move(h));
  }
  return "";
}

void expectNear(const HostTensor& got, const std::vector<int64_t>& shape, const std::vector<double>& want,
                double tol = 1e-5) {
  ASSERT_EQ(got.shape, shape);
  ASSERT_EQ(got.data.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got.data[i], want[i], tol * (1 + std::fabs(want[i]))) << "element " << i;
}

// ---------------------------------------------------------------------------
// memdev

class Memdev : public ::testing::Test {
 protected:
  void SetUp() override {
    plugin = std::make_unique<Plugin>("memdev");
    ASSERT_NE(plugin->api, nullptr) << dlerror();
    api = plugin->api;
    sy_host_info h = hostInfo();
    ASSERT_OK(api, api->init(&h));
    backend = makeBackend({});
    ASSERT_NE(backend, nullptr);
  }
  // Every test must leave nothing alive: shutdown prints a line if it did.
  void TearDown() override {
    if (!api) return;
    if (backend) api->backend_destroy(backend);
    ::testing::internal::CaptureStderr();
    api->shutdown();
    const std::string leaked = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(leaked, "") << "memdev reported leaks";
  }

  sy_backend* makeBackend(std::vector<sy_option> options, size_t device = 0, std::string* error = nullptr) {
    sy_backend* b = reinterpret_cast<sy_backend*>(0x1);
    std::string m = take(api, api->backend_create(device, options.data(), options.size(), &b));
    if (error) {
      *error = m;
    } else {
      EXPECT_EQ(m, "");
    }
    if (!m.empty()) {
      EXPECT_EQ(b, nullptr) << "out_backend must be NULL on failure";
    }
    return m.empty() ? b : nullptr;
  }

  // The region: y = relu(matmul(x, w) + bias), also returning the matmul.
  // x: f32[N, 3] (N symbolic), w: f32[3, 2] weight (via a weight node), bias: f32[2].
  void buildMainRegion(ViewBuilder& vb) {
    int32_t x = vb.value("x", {-1, 3}, {"N", nullptr});
    int32_t bias = vb.value("bias", {2});
    int32_t w = vb.constant("w", {3, 2}, weight);
    int32_t a = vb.value("a", {-1, 2}, {"N", nullptr});
    int32_t s = vb.value("s", {-1, 2}, {"N", nullptr});
    int32_t y = vb.value("y", {-1, 2}, {"N", nullptr});
    vb.param(x);
    vb.param(bias);
    vb.node("weight", "w", {}, {w});
    vb.node("matmul", "mm", {x, w}, {a});
    vb.node("add", "plus", {a, bias}, {s});
    vb.node("relu", "act", {s}, {y});
    vb.ret(y);
    vb.ret(a);
  }

  sy_compiled* compile(const sy_graph_view* view, sy_backend* b = nullptr, std::string* error = nullptr) {
    sy_compiled* c = reinterpret_cast<sy_compiled*>(0x1);
    std::string m = take(api, api->compile(b ? b : backend, view, &c));
    if (error) {
      *error = m;
    } else {
      EXPECT_EQ(m, "");
    }
    if (!m.empty()) {
      EXPECT_EQ(c, nullptr) << "out_compiled must be NULL on failure";
    }
    return m.empty() ? c : nullptr;
  }

  std::vector<float> weight = {1, 2, 3, 4, 5, 6};  // [3, 2]
  std::unique_ptr<Plugin> plugin;
  const sy_plugin_api* api = nullptr;
  sy_backend* backend = nullptr;
};

// The table: name, version, every required entry, and no host-pointer entries.
TEST_F(Memdev, TableIsCompleteAndNotHostVisible) {
  EXPECT_STREQ(api->name, "memdev");
  EXPECT_EQ(api->struct_size, sizeof(sy_plugin_api));
  EXPECT_EQ(api->abi_major, static_cast<uint32_t>(SY_ABI_VERSION_MAJOR));
  EXPECT_EQ(api->abi_minor, static_cast<uint32_t>(SY_ABI_VERSION_MINOR));
  EXPECT_NE(api->version, nullptr);
  EXPECT_NE(api->vendor, nullptr);
  EXPECT_TRUE(api->error_message && api->error_code && api->error_destroy && api->init && api->shutdown &&
              api->device_count && api->device_info && api->backend_create && api->backend_destroy &&
              api->query_support && api->compile && api->compiled_destroy && api->compiled_info && api->execute &&
              api->buffer_alloc && api->buffer_free && api->buffer_size && api->buffer_write && api->buffer_read);
  EXPECT_EQ(api->buffer_host_pointer, nullptr);
  EXPECT_EQ(api->buffer_wrap_host, nullptr);
  api->error_destroy(nullptr);  // a no-op
  api->buffer_free(nullptr);    // a no-op
}

// init refuses a host of another major, naming both versions.
TEST_F(Memdev, InitChecksTheHost) {
  sy_host_info h = hostInfo();
  h.abi_major = SY_ABI_VERSION_MAJOR + 1;
  const std::string m = take(api, api->init(&h));
  EXPECT_TRUE(contains(m, std::to_string(SY_ABI_VERSION_MAJOR + 1) + ".")) << m;
  EXPECT_FALSE(take(api, api->init(nullptr)).empty());
}

// Two accelerator devices of 1 GiB, score 10, memory not host visible.
TEST_F(Memdev, Devices) {
  size_t n = 0;
  ASSERT_OK(api, api->device_count(&n));
  ASSERT_EQ(n, 2u);
  for (size_t d = 0; d < 2; ++d) {
    sy_device_info info{};
    info.struct_size = sizeof(info);
    ASSERT_OK(api, api->device_info(d, &info));
    EXPECT_EQ(std::string(info.name), std::string("memdev").append(std::to_string(d)));
    EXPECT_EQ(info.type, SY_DEVICE_ACCELERATOR);
    EXPECT_EQ(info.memory_bytes, uint64_t{1} << 30);
    EXPECT_EQ(info.score, 10);
    EXPECT_EQ(info.host_visible_memory, 0);
  }
  sy_device_info info{};
  info.struct_size = sizeof(info);
  const std::string m = take(api, api->device_info(2, &info));
  EXPECT_TRUE(contains(m, "device 2")) << m;
  // A caller with an older, shorter struct gets only the fields that fit.
  struct {
    sy_device_info info;
    char guard[8];
  } small;
  std::memset(&small, 0x5a, sizeof(small));
  small.info.struct_size = offsetof(sy_device_info, type) + sizeof(int32_t);
  ASSERT_OK(api, api->device_info(1, &small.info));
  EXPECT_STREQ(small.info.name, "memdev1");
  EXPECT_EQ(small.info.type, SY_DEVICE_ACCELERATOR);
  unsigned char pattern[sizeof(small.info.memory_bytes)];
  std::memset(pattern, 0x5a, sizeof(pattern));
  EXPECT_EQ(std::memcmp(&small.info.memory_bytes, pattern, sizeof(pattern)), 0) << "wrote past struct_size";
}

// Options: known keys accepted; an unknown key, an op without a kernel, and a bad device are errors naming them.
TEST_F(Memdev, BackendOptions) {
  sy_backend* b = makeBackend({opt("ops", "relu, add"), opt("fail_compile_ops", "tanh"), opt("fail_execute_ops", "")}, 1);
  ASSERT_NE(b, nullptr);
  api->backend_destroy(b);
  std::string m;
  EXPECT_EQ(makeBackend({opt("threads", "4")}, 0, &m), nullptr);
  EXPECT_TRUE(contains(m, "'threads'")) << m;
  EXPECT_EQ(makeBackend({opt("ops", "relu,conv")}, 0, &m), nullptr);
  EXPECT_TRUE(contains(m, "'conv'")) << m;
  EXPECT_EQ(makeBackend({}, 2, &m), nullptr);
  EXPECT_TRUE(contains(m, "device 2")) << m;
}

// Buffers: write/read round trip, offsets, 0-byte buffers and copies, range errors with messages.
TEST_F(Memdev, BufferRoundTrip) {
  sy_buffer* buf = reinterpret_cast<sy_buffer*>(0x1);
  ASSERT_OK(api, api->buffer_alloc(backend, 16, &buf));
  ASSERT_NE(buf, nullptr);
  EXPECT_EQ(api->buffer_size(buf), 16u);
  const char data[16] = "abcdefghijklmno";
  EXPECT_OK(api, api->buffer_write(buf, 0, data, 16));
  EXPECT_OK(api, api->buffer_write(buf, 4, "XYZ", 3));
  char back[16] = {};
  EXPECT_OK(api, api->buffer_read(buf, 0, back, 16));
  EXPECT_EQ(std::string(back, 16), std::string("abcdXYZhijklmno\0", 16));
  char part[4] = {};
  EXPECT_OK(api, api->buffer_read(buf, 5, part, 3));
  EXPECT_EQ(std::string(part, 3), "YZh");
  EXPECT_OK(api, api->buffer_write(buf, 16, data, 0));  // 0 bytes at the end
  EXPECT_OK(api, api->buffer_read(buf, 16, back, 0));
  auto [code, m] = takeWithCode(api, api->buffer_write(buf, 10, data, 7));
  EXPECT_EQ(code, SY_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(m, "16-byte buffer")) << m;
  EXPECT_FALSE(take(api, api->buffer_read(buf, 17, back, 0)).empty());
  EXPECT_FALSE(take(api, api->buffer_read(buf, SIZE_MAX, back, 2)).empty());  // no overflow
  api->buffer_free(buf);

  sy_buffer* empty = nullptr;
  ASSERT_OK(api, api->buffer_alloc(backend, 0, &empty));
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(api->buffer_size(empty), 0u);
  EXPECT_OK(api, api->buffer_write(empty, 0, nullptr, 0));
  EXPECT_OK(api, api->buffer_read(empty, 0, nullptr, 0));
  EXPECT_FALSE(take(api, api->buffer_read(empty, 0, back, 1)).empty());
  api->buffer_free(empty);
}

// Device memory is 1 GiB: a bigger allocation fails with OUT_OF_MEMORY and leaves out_buffer NULL.
TEST_F(Memdev, OutOfDeviceMemory) {
  sy_buffer* buf = reinterpret_cast<sy_buffer*>(0x1);
  auto [code, m] = takeWithCode(api, api->buffer_alloc(backend, (size_t{1} << 30) + 1, &buf));
  EXPECT_EQ(code, SY_ERROR_OUT_OF_MEMORY);
  EXPECT_TRUE(contains(m, "memdev0")) << m;
  EXPECT_EQ(buf, nullptr);
}

// query_support answers every node: supported ones with a cost, the others with a specific reason.
TEST_F(Memdev, QuerySupportReasons) {
  ViewBuilder vb;
  int32_t x = vb.value("x", {-1, 3}, {"N", nullptr});
  int32_t w = vb.value("w", {3, 2});
  int32_t v4 = vb.value("v4", {4});
  int32_t a = vb.value("a", {-1, 2}, {"N", nullptr});
  int32_t i = vb.value("i", {2, 3}, {}, SY_DTYPE_I64);
  int32_t q = vb.unknownRank("q");
  int32_t o[8];
  for (int k = 0; k < 8; ++k) o[k] = vb.value(std::string("o").append(std::to_string(k)), {2, 3});
  int32_t cond = vb.value("cond", {}, {}, SY_DTYPE_BOOL);
  vb.node("matmul", "mm", {x, w}, {a});    // 0: supported
  vb.node("relu", "r", {a}, {o[0]});       // 1: supported
  vb.node("conv", "c", {x, w}, {o[1]});    // 2: not in the op list
  vb.node("add", "ai", {i, i}, {o[2]});    // 3: i64
  vb.node("neg", "nq", {q}, {o[3]});       // 4: unknown rank
  vb.node("add", "bad", {x, v4}, {o[4]});  // 5: [N,3] + [4] does not broadcast
  vb.node("matmul", "mk", {x, v4}, {o[5]});  // 6: inner dims 3 vs 4
  vb.node("if", "branch", {cond}, {o[6]}, 2);  // 7: control flow
  vb.node("sigmoid", "sg", {a}, {o[7]});   // 8: supported
  std::vector<float> wdata(6, 1.0f);
  int32_t wc = vb.constant("wc", {3, 2}, wdata);
  vb.node("weight", "wn", {}, {wc});        // 9: compile-time f32 data: claimed
  int32_t ic = vb.value("ic", {2}, {}, SY_DTYPE_I64);
  vb.node("constant", "cn", {}, {ic});      // 10: i64 data: declined
  const sy_graph_view* g = vb.view();
  std::vector<sy_node_support> ans(g->num_nodes);
  for (auto& s : ans) {
    s = sy_node_support{};
    s.struct_size = sizeof(s);
  }
  ASSERT_OK(api, api->query_support(backend, g, ans.data(), ans.size()));
  for (int k : {0, 1, 8, 9}) {
    EXPECT_EQ(ans[k].supported, 1) << k << ": " << ans[k].reason;
    EXPECT_GT(ans[k].cost, 0.0) << k;
  }
  for (int k : {2, 3, 4, 5, 6, 7, 10}) EXPECT_EQ(ans[k].supported, 0) << k;
  EXPECT_TRUE(contains(ans[10].reason, "dtype i64 not supported")) << ans[10].reason;
  EXPECT_STREQ(ans[2].reason, "op 'conv' is not in this memdev's op list");
  EXPECT_TRUE(contains(ans[3].reason, "dtype i64 not supported")) << ans[3].reason;
  EXPECT_TRUE(contains(ans[4].reason, "unknown rank")) << ans[4].reason;
  EXPECT_TRUE(contains(ans[5].reason, "do not broadcast")) << ans[5].reason;
  EXPECT_TRUE(contains(ans[6].reason, "inner dims")) << ans[6].reason;
  EXPECT_TRUE(contains(ans[7].reason, "control flow")) << ans[7].reason;
  // A wrong answer count is an error, not a partial answer.
  EXPECT_FALSE(take(api, api->query_support(backend, g, ans.data(), ans.size() - 1)).empty());
}

// The `ops` option narrows what memdev claims.
TEST_F(Memdev, QueryRespectsOpsOption) {
  sy_backend* b = makeBackend({opt("ops", "relu")});
  ASSERT_NE(b, nullptr);
  ViewBuilder vb;
  int32_t x = vb.value("x", {2});
  int32_t y = vb.value("y", {2});
  int32_t z = vb.value("z", {2});
  vb.node("relu", "r", {x}, {y});
  vb.node("add", "a", {x, y}, {z});
  std::vector<sy_node_support> ans(2);
  for (auto& s : ans) s.struct_size = sizeof(s);
  ASSERT_OK(api, api->query_support(b, vb.view(), ans.data(), 2));
  EXPECT_EQ(ans[0].supported, 1);
  EXPECT_EQ(ans[1].supported, 0);
  EXPECT_STREQ(ans[1].reason, "op 'add' is not in this memdev's op list");
  api->backend_destroy(b);
}

// add + relu + matmul with a weight, symbolic N bound at run time (N = 2, then N = 3, then N = 0).
TEST_F(Memdev, CompileAndExecute) {
  ViewBuilder vb;
  buildMainRegion(vb);
  sy_compiled* c = compile(vb.view());
  ASSERT_NE(c, nullptr);
  sy_compiled_info info{};
  info.struct_size = sizeof(info);
  ASSERT_OK(api, api->compiled_info(c, &info));
  EXPECT_EQ(info.concurrent_execute, 1);

  std::vector<HostTensor> out;
  // x = [[1,0,-1],[2,1,0]]; x@w = [[-4,-4],[5,8]]; + [1,-6] -> relu [[0,0],[6,2]]
  ASSERT_EQ(runOn(api, backend, c, {{{2, 3}, {1, 0, -1, 2, 1, 0}}, {{2}, {1, -6}}}, 2, &out), "");
  ASSERT_EQ(out.size(), 2u);
  expectNear(out[0], {2, 2}, {0, 0, 6, 2});
  expectNear(out[1], {2, 2}, {-4, -4, 5, 8});
  ASSERT_EQ(runOn(api, backend, c, {{{3, 3}, {1, 1, 1, 0, 0, 0, -1, 0, 0}}, {{2}, {0, 0}}}, 2, &out), "");
  expectNear(out[0], {3, 2}, {9, 12, 0, 0, 0, 0});
  expectNear(out[1], {3, 2}, {9, 12, 0, 0, -1, -2});
  ASSERT_EQ(runOn(api, backend, c, {{{0, 3}, {}}, {{2}, {0, 0}}}, 2, &out), "");  // empty batch
  expectNear(out[0], {0, 2}, {});
  api->compiled_destroy(c);
}

// Weights are copied into device memory at compile time: changing the host copy afterwards changes nothing.
TEST_F(Memdev, WeightsCopiedAtCompile) {
  ViewBuilder vb;
  buildMainRegion(vb);
  sy_compiled* c = compile(vb.view());
  ASSERT_NE(c, nullptr);
  std::fill(weight.begin(), weight.end(), 100.0f);
  std::vector<HostTensor> out;
  ASSERT_EQ(runOn(api, backend, c, {{{1, 3}, {1, 0, -1}}, {{2}, {0, 0}}}, 2, &out), "");
  expectNear(out[1], {1, 2}, {-4, -4});
  api->compiled_destroy(c);
}

// Broadcasting binary ops and every unary op, checked against <cmath>.
TEST_F(Memdev, ElementwiseKernels) {
  ViewBuilder vb;
  int32_t a = vb.value("a", {2, 1, 3});
  int32_t b = vb.value("b", {4, 1});
  int32_t s = vb.value("s", {2, 4, 3});
  int32_t m = vb.value("m", {2, 4, 3});
  int32_t n = vb.value("n", {2, 4, 3});
  int32_t e = vb.value("e", {4, 1});
  int32_t t = vb.value("t", {2, 4, 3});
  int32_t g = vb.value("g", {2, 4, 3});
  vb.param(a);
  vb.param(b);
  vb.node("sub", "s", {a, b}, {s});
  vb.node("mul", "m", {s, b}, {m});
  vb.node("neg", "n", {m}, {n});
  vb.node("exp", "e", {b}, {e});
  vb.node("tanh", "t", {n}, {t});
  vb.node("sigmoid", "g", {n}, {g});
  vb.ret(n);
  vb.ret(t);
  vb.ret(g);
  vb.ret(s);
  vb.ret(e);
  sy_compiled* c = compile(vb.view());
  ASSERT_NE(c, nullptr);
  std::vector<float> av = {1, 2, 3, -1, -2, 30}, bv = {0.5, -1, 2, 0};
  std::vector<HostTensor> out;
  ASSERT_EQ(runOn(api, backend, c, {{{2, 1, 3}, av}, {{4, 1}, bv}}, 5, &out), "");
  std::vector<double> wn, wt, wg, ws;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 3; ++k) {
        double sv = double(av[i * 3 + k]) - bv[j];
        double nv = -(sv * bv[j]);
        ws.push_back(sv);
        wn.push_back(nv);
        wt.push_back(std::tanh(nv));
        wg.push_back(1 / (1 + std::exp(-nv)));
      }
  expectNear(out[0], {2, 4, 3}, wn);
  expectNear(out[1], {2, 4, 3}, wt);
  expectNear(out[2], {2, 4, 3}, wg);
  expectNear(out[3], {2, 4, 3}, ws);
  expectNear(out[4], {4, 1}, {std::exp(0.5), std::exp(-1.0), std::exp(2.0), 1.0});
  api->compiled_destroy(c);
}

// matmul with numpy semantics: 1-D operands promoted and squeezed, batch dims broadcast.
TEST_F(Memdev, MatmulNumpySemantics) {
  ViewBuilder vb;
  int32_t v = vb.value("v", {2});
  int32_t m = vb.value("m", {2, 3});
  int32_t u = vb.value("u", {3});
  int32_t bt = vb.value("bt", {2, 1, 1, 2});
  int32_t vm = vb.value("vm", {3});        // v @ m
  int32_t mu = vb.value("mu", {2});        // m @ u
  int32_t bm = vb.value("bm", {2, 1, 1, 3});  // bt @ m (batch [2,1] with [])
  vb.param(v);
  vb.param(m);
  vb.param(u);
  vb.param(bt);
  vb.node("matmul", "vm", {v, m}, {vm});
  vb.node("matmul", "mu", {m, u}, {mu});
  vb.node("matmul", "bm", {bt, m}, {bm});
  vb.ret(vm);
  vb.ret(mu);
  vb.ret(bm);
  sy_compiled* c = compile(vb.view());
  ASSERT_NE(c, nullptr);
  std::vector<HostTensor> out;
  ASSERT_EQ(runOn(api, backend, c,
                  {{{2}, {1, 2}}, {{2, 3}, {1, 2, 3, 4, 5, 6}}, {{3}, {1, 0, -1}}, {{2, 1, 1, 2}, {1, 0, 0, 1}}}, 3,
                  &out),
            "");
  expectNear(out[0], {3}, {9, 12, 15});
  expectNear(out[1], {2}, {-2, -2});
  expectNear(out[2], {2, 1, 1, 3}, {1, 2, 3, 4, 5, 6});
  api->compiled_destroy(c);
}

// A region may return its input or a constant directly; each output is a fresh buffer.
TEST_F(Memdev, ReturnsInputsAndConstants) {
  std::vector<float> k = {7, 8};
  ViewBuilder vb;
  int32_t x = vb.value("x", {2});
  int32_t kv = vb.constant("k", {2}, k);  // a literal with no defining node in the view
  vb.param(x);
  vb.ret(x);
  vb.ret(kv);
  sy_compiled* c = compile(vb.view());
  ASSERT_NE(c, nullptr);
  std::vector<HostTensor> out;
  ASSERT_EQ(runOn(api, backend, c, {{{2}, {1, 2}}}, 2, &out), "");
  expectNear(out[0], {2}, {1, 2});
  expectNear(out[1], {2}, {7, 8});
  api->compiled_destroy(c);
}

// compile refuses a region with a node memdev declines, naming it; out_compiled stays NULL.
TEST_F(Memdev, CompileRejectsDeclinedNode) {
  ViewBuilder vb;
  int32_t x = vb.value("x", {2});
  int32_t y = vb.value("y", {2});
  vb.param(x);
  vb.node("softmax", "sm", {x}, {y});
  vb.ret(y);
  std::string m;
  EXPECT_EQ(compile(vb.view(), nullptr, &m), nullptr);
  EXPECT_TRUE(contains(m, "softmax")) << m;
  // A value used but never defined is an error too.
  ViewBuilder vb2;
  int32_t a = vb2.value("a", {2});
  int32_t b = vb2.value("b", {2});
  vb2.node("relu", "r", {a}, {b});
  vb2.ret(b);
  EXPECT_EQ(compile(vb2.view(), nullptr, &m), nullptr);
  EXPECT_TRUE(contains(m, "'a'")) << m;
}

// fail_compile_ops: compile of a region containing the op fails with an error naming it; others compile.
TEST_F(Memdev, FailCompileOps) {
  sy_backend* b = makeBackend({opt("fail_compile_ops", "relu")});
  ASSERT_NE(b, nullptr);
  ViewBuilder vb;
  buildMainRegion(vb);
  std::string m;
  EXPECT_EQ(compile(vb.view(), b, &m), nullptr);
  EXPECT_TRUE(contains(m, "relu")) << m;
  ViewBuilder ok;
  int32_t x = ok.value("x", {2});
  int32_t y = ok.value("y", {2});
  ok.param(x);
  ok.node("tanh", "t", {x}, {y});
  ok.ret(y);
  sy_compiled* c = compile(ok.view(), b);
  EXPECT_NE(c, nullptr);
  api->compiled_destroy(c);
  api->backend_destroy(b);
}

// fail_execute_ops: compile works, execute fails with SY_ERROR_DEVICE naming the op, and no output is left.
TEST_F(Memdev, FailExecuteOps) {
  sy_backend* b = makeBackend({opt("fail_execute_ops", "add")});
  ASSERT_NE(b, nullptr);
  ViewBuilder vb;
  buildMainRegion(vb);
  sy_compiled* c = compile(vb.view(), b);
  ASSERT_NE(c, nullptr);
  std::vector<HostTensor> out;
  const std::string m = runOn(api, b, c, {{{1, 3}, {1, 2, 3}}, {{2}, {0, 0}}}, 2, &out);
  EXPECT_TRUE(contains(m, "'add'")) << m;
  api->compiled_destroy(c);
  api->backend_destroy(b);
}

// execute checks its inputs (count, dtype, static dims, symbols, owner) with messages; nothing leaks.
TEST_F(Memdev, ExecuteRejectsBadInputs) {
  ViewBuilder vb;
  int32_t x = vb.value("x", {-1, 2}, {"N", nullptr});
  int32_t z = vb.value("z", {-1, 2}, {"N", nullptr});
  int32_t y = vb.value("y", {-1, 2}, {"N", nullptr});
  vb.param(x);
  vb.param(z);
  vb.node("add", "a", {x, z}, {y});
  vb.ret(y);
  sy_compiled* c = compile(vb.view());
  ASSERT_NE(c, nullptr);
  std::vector<HostTensor> out;
  EXPECT_TRUE(contains(runOn(api, backend, c, {{{1, 2}, {1, 2}}}, 1, &out), "inputs")) << "count";
  std::string m = runOn(api, backend, c, {{{1, 3}, {1, 2, 3}}, {{1, 2}, {1, 2}}}, 1, &out);
  EXPECT_TRUE(contains(m, "input 0") && contains(m, "[N, 2]")) << m;
  m = runOn(api, backend, c, {{{1, 2}, {1, 2}}, {{2, 2}, {1, 2, 3, 4}}}, 1, &out);
  EXPECT_TRUE(contains(m, "symbol N")) << m;
  EXPECT_TRUE(contains(runOn(api, backend, c, {{{1, 2}, {1, 2}}, {{1, 2}, {1, 2}}}, 2, &out), "outputs"));

  // A buffer too small for the declared shape, and one from another backend.
  sy_backend* other = makeBackend({}, 1);
  sy_buffer *small = nullptr, *foreign = nullptr;
  ASSERT_OK(api, api->buffer_alloc(backend, 4, &small));
  ASSERT_OK(api, api->buffer_alloc(other, 8, &foreign));
  sy_tensor in[2] = {};
  for (auto& t : in) {
    t.struct_size = sizeof(t);
    t.dtype = SY_DTYPE_F32;
    t.rank = 2;
    t.dims[0] = 1;
    t.dims[1] = 2;
  }
  in[0].buffer = small;
  in[1].buffer = small;
  sy_tensor o{};
  o.struct_size = sizeof(o);
  m = take(api, api->execute(c, in, 2, &o, 1));
  EXPECT_TRUE(contains(m, "do not fit")) << m;
  EXPECT_EQ(o.buffer, nullptr);
  in[0].buffer = foreign;
  m = take(api, api->execute(c, in, 2, &o, 1));
  EXPECT_TRUE(contains(m, "another backend")) << m;
  in[1].buffer = foreign;
  in[1].dtype = SY_DTYPE_I32;
  in[0].buffer = foreign;
  m = take(api, api->execute(c, in, 2, &o, 1));
  EXPECT_TRUE(contains(m, "another backend") || contains(m, "i32")) << m;
  api->buffer_free(small);
  api->buffer_free(foreign);
  api->backend_destroy(other);
  api->compiled_destroy(c);
}

// Inputs may sit at an offset (even a misaligned one) inside a larger buffer.
TEST_F(Memdev, InputsAtOffsets) {
  ViewBuilder vb;
  int32_t x = vb.value("x", {3});
  int32_t y = vb.value("y", {3});
  vb.param(x);
  vb.node("neg", "n", {x}, {y});
  vb.ret(y);
  sy_compiled* c = compile(vb.view());
  ASSERT_NE(c, nullptr);
  for (size_t offset : {size_t{8}, size_t{3}}) {
    sy_buffer* buf = nullptr;
    ASSERT_OK(api, api->buffer_alloc(backend, offset + 12, &buf));
    const float v[3] = {1.5f, -2.f, 0.f};
    ASSERT_OK(api, api->buffer_write(buf, offset, v, sizeof(v)));
    sy_tensor in{};
    in.struct_size = sizeof(in);
    in.buffer = buf;
    in.offset = offset;
    in.dtype = SY_DTYPE_F32;
    in.rank = 1;
    in.dims[0] = 3;
    sy_tensor o{};
    o.struct_size = sizeof(o);
    ASSERT_OK(api, api->execute(c, &in, 1, &o, 1));
    float got[3] = {};
    EXPECT_OK(api, api->buffer_read(o.buffer, o.offset, got, sizeof(got)));
    EXPECT_EQ(got[0], -1.5f);
    EXPECT_EQ(got[1], 2.f);
    EXPECT_EQ(got[2], -0.f);
    api->buffer_free(o.buffer);
    api->buffer_free(buf);
  }
  api->compiled_destroy(c);
}

// concurrent_execute = 1: eight threads on one compiled region get exactly the single-threaded results.
TEST_F(Memdev, ConcurrentExecute) {
  ViewBuilder vb;
  buildMainRegion(vb);
  sy_compiled* c = compile(vb.view());
  ASSERT_NE(c, nullptr);
  constexpr int kThreads = 8, kRuns = 30;
  std::vector<std::vector<HostTensor>> inputs(kThreads), expected(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    const int64_t n = 1 + t % 4;
    HostTensor x{{n, 3}, {}};
    for (int64_t i = 0; i < n * 3; ++i) x.data.push_back(static_cast<float>((i * 7 + t) % 11) - 5.0f);
    inputs[t] = {x, {{2}, {0.5f * t, -1.0f}}};
    ASSERT_EQ(runOn(api, backend, c, inputs[t], 2, &expected[t]), "");
  }
  std::vector<int> bad(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRuns; ++r) {
        std::vector<HostTensor> out;
        if (runOn(api, backend, c, inputs[t], 2, &out) != "" || out.size() != 2) {
          ++bad[t];
          continue;
        }
        for (size_t i = 0; i < 2; ++i)
          if (out[i].shape != expected[t][i].shape || out[i].data != expected[t][i].data) ++bad[t];
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(bad[t], 0) << "thread " << t;
  api->compiled_destroy(c);
}

// shutdown prints one warning line when buffers, backends or compiled regions are still alive.
TEST_F(Memdev, ShutdownReportsLeaks) {
  sy_buffer* buf = nullptr;
  ASSERT_OK(api, api->buffer_alloc(backend, 4, &buf));
  ::testing::internal::CaptureStderr();
  api->shutdown();
  const std::string line = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(contains(line, "memdev: warning: leaked at shutdown: 1 buffer(s), 1 backend(s), 0 compiled"))
      << line;
  api->buffer_free(buf);  // TearDown checks that nothing is left
}

// Loaded twice (one image, shared counters): only the last shutdown judges leaks.
TEST_F(Memdev, NestedLoadsReportAtTheLastShutdown) {
  Plugin second("memdev");
  ASSERT_EQ(second.api, api) << "dlopen of the same file gives the same image";
  sy_host_info h = hostInfo();
  ASSERT_OK(api, api->init(&h));
  sy_buffer* buf = nullptr;
  ASSERT_OK(api, api->buffer_alloc(backend, 4, &buf));
  ::testing::internal::CaptureStderr();
  api->shutdown();  // the second load goes away; the first still holds the buffer
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  api->buffer_free(buf);  // TearDown's shutdown is the last one and finds nothing
}

// Errors carry a code and a non-empty message, and NULL out-parameters are refused, not crashed on.
TEST_F(Memdev, ErrorsCarryMessages) {
  auto [code, m] = takeWithCode(api, api->device_count(nullptr));
  EXPECT_EQ(code, SY_ERROR_INVALID_ARGUMENT);
  EXPECT_FALSE(m.empty());
  EXPECT_FALSE(take(api, api->buffer_alloc(backend, 4, nullptr)).empty());
  EXPECT_FALSE(take(api, api->compile(backend, nullptr, nullptr)).empty());
  sy_compiled* c = reinterpret_cast<sy_compiled*>(0x1);
  EXPECT_FALSE(take(api, api->compile(backend, nullptr, &c)).empty());
  EXPECT_EQ(c, nullptr);
  EXPECT_FALSE(take(api, api->execute(nullptr, nullptr, 0, nullptr, 0)).empty());
}

// ---------------------------------------------------------------------------
// The faulty plugins

// One region for the relu/add plugins: y = relu(a + b) with b broadcast.
struct ReluAddRegion {
  ViewBuilder vb;
  ReluAddRegion() {
    int32_t a = vb.value("a", {2, 2});
    int32_t b = vb.value("b", {2});
    int32_t s = vb.value("s", {2, 2});
    int32_t y = vb.value("y", {2, 2});
    vb.param(a);
    vb.param(b);
    vb.node("add", "plus", {a, b}, {s});
    vb.node("relu", "act", {s}, {y});
    vb.ret(y);
  }
};

// Backend on device 0 of a mini plugin, after init.
sy_backend* miniBackend(const sy_plugin_api* api) {
  if (api->init) {
    sy_host_info h = hostInfo();
    EXPECT_OK(api, api->init(&h));
  }
  sy_backend* b = nullptr;
  EXPECT_OK(api, api->backend_create(0, nullptr, 0, &b));
  return b;
}

// Only the entry symbol is exported (hidden visibility + version script).
TEST(TestPlugins, ExportOnlyTheEntrySymbol) {
  for (const char* name : {"memdev", "bad_major", "init_fails", "compile_fails", "execute_fails", "small_struct",
                           "too_small_struct", "no_symbol"}) {
    const std::string cmd = "nm -D --defined-only '" + pluginPath(name) + "' 2>/dev/null";
    FILE* p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::set<std::string> syms;
    char line[512];
    while (std::fgets(line, sizeof(line), p)) {
      std::string s(line);
      while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
      const size_t sp = s.rfind(' ');
      syms.insert(sp == std::string::npos ? s : s.substr(sp + 1));
    }
    if (pclose(p) != 0 && syms.empty()) GTEST_SKIP() << "nm is not available";
    const std::string want = std::string(name) == "no_symbol" ? "sy_test_not_a_plugin" : "sy_plugin_get_api";
    EXPECT_EQ(syms, std::set<std::string>{want}) << name;
  }
}

// bad_major: otherwise valid, but built for the next major.
TEST(TestPlugins, BadMajor) {
  Plugin p("bad_major");
  ASSERT_NE(p.api, nullptr) << dlerror();
  EXPECT_STREQ(p.api->name, "bad_major");
  EXPECT_EQ(p.api->abi_major, static_cast<uint32_t>(SY_ABI_VERSION_MAJOR + 1));
  size_t n = 0;
  EXPECT_OK(p.api, p.api->device_count(&n));
  EXPECT_EQ(n, 1u);
}

// no_symbol: loads as a library, exports another function but no sy_plugin_get_api.
TEST(TestPlugins, NoSymbol) {
  void* h = dlopen(pluginPath("no_symbol").c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(h, nullptr) << dlerror();
  EXPECT_EQ(dlsym(h, SY_PLUGIN_ENTRY_SYMBOL), nullptr);
  auto f = reinterpret_cast<int (*)(void)>(dlsym(h, "sy_test_not_a_plugin"));
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f(), 42);
  dlclose(h);
}

// init_fails: init returns the missing-device-library error.
TEST(TestPlugins, InitFails) {
  Plugin p("init_fails");
  ASSERT_NE(p.api, nullptr) << dlerror();
  ASSERT_NE(p.api->init, nullptr);
  sy_host_info h = hostInfo();
  auto [code, m] = takeWithCode(p.api, p.api->init(&h));
  EXPECT_EQ(code, SY_ERROR_DEVICE);
  EXPECT_EQ(m, "cannot open libfakedevice.so.1: No such file or directory");
}

// compile_fails: claims relu/add (declines the rest), compile fails with "out of device registers".
TEST(TestPlugins, CompileFails) {
  Plugin p("compile_fails");
  ASSERT_NE(p.api, nullptr) << dlerror();
  sy_backend* b = miniBackend(p.api);
  ASSERT_NE(b, nullptr);
  ReluAddRegion r;
  int32_t x = r.vb.value("x", {2, 2});
  int32_t t = r.vb.value("t", {2, 2});
  r.vb.node("tanh", "t", {x}, {t});
  const sy_graph_view* g = r.vb.view();
  std::vector<sy_node_support> ans(g->num_nodes);
  for (auto& s : ans) s.struct_size = sizeof(s);
  ASSERT_OK(p.api, p.api->query_support(b, g, ans.data(), ans.size()));
  EXPECT_EQ(ans[0].supported, 1);
  EXPECT_EQ(ans[1].supported, 1);
  EXPECT_EQ(ans[2].supported, 0);
  EXPECT_STREQ(ans[2].reason, "op 'tanh' is not in this compile_fails's op list");
  ReluAddRegion ok;
  sy_compiled* c = reinterpret_cast<sy_compiled*>(0x1);
  auto [code, m] = takeWithCode(p.api, p.api->compile(b, ok.vb.view(), &c));
  EXPECT_EQ(code, SY_ERROR_DEVICE);
  EXPECT_EQ(m, "out of device registers");
  EXPECT_EQ(c, nullptr);
  p.api->backend_destroy(b);
}

// execute_fails: compiles, then execute fails with "device lost" and leaves no output.
TEST(TestPlugins, ExecuteFails) {
  Plugin p("execute_fails");
  ASSERT_NE(p.api, nullptr) << dlerror();
  sy_backend* b = miniBackend(p.api);
  ASSERT_NE(b, nullptr);
  ReluAddRegion r;
  sy_compiled* c = nullptr;
  ASSERT_OK(p.api, p.api->compile(b, r.vb.view(), &c));
  ASSERT_NE(c, nullptr);
  std::vector<HostTensor> out;
  EXPECT_EQ(runOn(p.api, b, c, {{{2, 2}, {1, -2, 3, -4}}, {{2}, {0, 1}}}, 1, &out), "device lost");
  p.api->compiled_destroy(c);
  p.api->backend_destroy(b);
}

// small_struct: an older minor whose table ends before buffer_host_pointer; everything inside works.
TEST(TestPlugins, SmallStructWorksWithoutOptionalEntries) {
  Plugin p("small_struct");
  ASSERT_NE(p.api, nullptr) << dlerror();
  EXPECT_EQ(p.api->struct_size, offsetof(sy_plugin_api, buffer_host_pointer));
  EXPECT_EQ(p.api->abi_minor, 0u);
  EXPECT_FALSE(SY_STRUCT_HAS(sy_plugin_api, p.api, buffer_host_pointer));
  EXPECT_FALSE(SY_STRUCT_HAS(sy_plugin_api, p.api, buffer_wrap_host));
  EXPECT_TRUE(SY_STRUCT_HAS(sy_plugin_api, p.api, buffer_read));
  sy_backend* b = miniBackend(p.api);
  ASSERT_NE(b, nullptr);
  sy_device_info info{};
  info.struct_size = sizeof(info);
  ASSERT_OK(p.api, p.api->device_info(0, &info));
  EXPECT_EQ(info.host_visible_memory, 1);
  ReluAddRegion r;
  sy_compiled* c = nullptr;
  ASSERT_OK(p.api, p.api->compile(b, r.vb.view(), &c));
  std::vector<HostTensor> out;
  ASSERT_EQ(runOn(p.api, b, c, {{{2, 2}, {1, -2, 3, -4}}, {{2}, {0, 1}}}, 1, &out), "");
  expectNear(out[0], {2, 2}, {1, 0, 3, 0});
  p.api->compiled_destroy(c);
  p.api->backend_destroy(b);
}

// too_small_struct: the table ends before `execute`, so required entries are missing.
TEST(TestPlugins, TooSmallStructLacksRequiredEntries) {
  Plugin p("too_small_struct");
  ASSERT_NE(p.api, nullptr) << dlerror();
  EXPECT_EQ(p.api->struct_size, offsetof(sy_plugin_api, execute));
  EXPECT_TRUE(SY_STRUCT_HAS(sy_plugin_api, p.api, compiled_info));
  EXPECT_FALSE(SY_STRUCT_HAS(sy_plugin_api, p.api, execute));
  EXPECT_FALSE(SY_STRUCT_HAS(sy_plugin_api, p.api, buffer_alloc));
}

}  // namespace
