// The C++ helper (switchyard/plugin.hpp) seen from the host's side: every call
// goes through the table that SY_DEFINE_PLUGIN generated for the in-process
// test plugin (test_plugin.cpp), the way the host calls a loaded plugin.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <string>
#include <vector>

#include "switchyard/plugin.hpp"
#include "switchyard/plugin_shapes.hpp"
#include "test_plugin.h"

namespace {

namespace sdk = sy::sdk;

const sy_plugin_api& api() { return *sy_plugin_get_api(); }

/// An error's code and message; destroys it. {0, ""} for success.
struct ErrorText {
  int32_t code = 0;
  std::string message;
};
ErrorText take(sy_error* error) {
  if (error == nullptr) return {};
  ErrorText text{api().error_code(error), api().error_message(error)};
  api().error_destroy(error);
  return text;
}
#define EXPECT_OK(call)                       \
  do {                                        \
    const ErrorText e_ = take(call);          \
    EXPECT_EQ(e_.code, 0) << e_.message;      \
  } while (0)

/// A graph view built by hand, as the host builds one.
class TestGraph {
 public:
  int32_t value(const std::string& name, int32_t dtype, std::vector<int64_t> dims) {
    values_.push_back(Value{keep(name), dtype, std::move(dims)});
    return static_cast<int32_t>(values_.size() - 1);
  }
  void node(const std::string& op, std::vector<int32_t> inputs, std::vector<int32_t> outputs) {
    nodes_.push_back(Node{keep(op), std::move(inputs), std::move(outputs), {}});
  }
  /// Adds an attribute to the last node.
  void attr(sy_attr a) {
    a.struct_size = sizeof(sy_attr);
    nodes_.back().attrs.push_back(a);
  }
  std::vector<int32_t> params, returns;

  const sy_graph_view* view() {
    valueInfos_.clear();
    for (const Value& v : values_) {
      sy_value_info info{};
      info.struct_size = sizeof(sy_value_info);
      info.name = v.name;
      info.dtype = v.dtype;
      info.rank = static_cast<int32_t>(v.dims.size());
      info.dims = v.dims.data();
      valueInfos_.push_back(info);
    }
    nodeViews_.clear();
    bodyNodes_.clear();
    for (Node& n : nodes_) {
      sy_node_view nv{};
      nv.struct_size = sizeof(sy_node_view);
      nv.op = n.op;
      nv.name = "";
      nv.num_inputs = n.inputs.size();
      nv.inputs = n.inputs.data();
      nv.num_outputs = n.outputs.size();
      nv.outputs = n.outputs.data();
      nv.num_attrs = n.attrs.size();
      nv.attrs = n.attrs.data();
      bodyNodes_.push_back(static_cast<int32_t>(nodeViews_.size()));
      nodeViews_.push_back(nv);
    }
    view_ = sy_graph_view{};
    view_.struct_size = sizeof(sy_graph_view);
    view_.num_values = valueInfos_.size();
    view_.values = valueInfos_.data();
    view_.num_nodes = nodeViews_.size();
    view_.nodes = nodeViews_.data();
    view_.body.struct_size = sizeof(sy_block_view);
    view_.body.label = "body";
    view_.body.num_params = params.size();
    view_.body.params = params.data();
    view_.body.num_nodes = bodyNodes_.size();
    view_.body.nodes = bodyNodes_.data();
    view_.body.num_returns = returns.size();
    view_.body.returns = returns.data();
    return &view_;
  }

 private:
  struct Value {
    const char* name;
    int32_t dtype;
    std::vector<int64_t> dims;
  };
  struct Node {
    const char* op;
    std::vector<int32_t> inputs, outputs;
    std::vector<sy_attr> attrs;
  };
  const char* keep(const std::string& s) { return strings_.emplace_back(s).c_str(); }

  std::deque<std::string> strings_;
  std::deque<Value> values_;
  std::deque<Node> nodes_;
  std::vector<sy_value_info> valueInfos_;
  std::vector<sy_node_view> nodeViews_;
  std::vector<int32_t> bodyNodes_;
  sy_graph_view view_{};
};

/// x: f32[2, 3] -> add(x, x) -> y: f32[2, 3]
TestGraph identityRegion() {
  TestGraph g;
  const int32_t x = g.value("x", SY_DTYPE_F32, {2, 3});
  const int32_t y = g.value("y", SY_DTYPE_F32, {2, 3});
  g.node("add", {x, x}, {y});
  g.params = {x};
  g.returns = {y};
  return g;
}

sy_backend* makeBackend(std::vector<std::pair<const char*, const char*>> options = {}) {
  std::vector<sy_option> list;
  for (auto& [k, v] : options) list.push_back(sy_option{sizeof(sy_option), k, v});
  sy_backend* backend = nullptr;
  EXPECT_OK(api().backend_create(0, list.data(), list.size(), &backend));
  return backend;
}

sy_tensor tensor(sy_buffer* buffer, int32_t dtype, std::vector<int64_t> dims) {
  sy_tensor t{};
  t.struct_size = sizeof(sy_tensor);
  t.buffer = buffer;
  t.dtype = dtype;
  t.rank = static_cast<int32_t>(dims.size());
  std::copy(dims.begin(), dims.end(), t.dims);
  return t;
}

sy_host_info hostInfo(const char* version) { return sy_host_info{sizeof(sy_host_info), 1, 0, version}; }

// ---------------------------------------------------------------------------

TEST(PluginTable, HeaderAndEntries) {
  const sy_plugin_api& a = api();
  EXPECT_EQ(a.struct_size, sizeof(sy_plugin_api));
  EXPECT_EQ(a.abi_major, uint32_t{SY_ABI_VERSION_MAJOR});
  EXPECT_EQ(a.abi_minor, uint32_t{SY_ABI_VERSION_MINOR});
  EXPECT_STREQ(a.name, "test");
  EXPECT_STREQ(a.version, "1.2.3");
  EXPECT_STREQ(a.vendor, "Switchyard tests");
  // Every entry is filled (buffer_wrap_host because the plugin asks for it).
  const auto* first = reinterpret_cast<const unsigned char*>(&a) + offsetof(sy_plugin_api, error_message);
  const auto* end = reinterpret_cast<const unsigned char*>(&a) + sizeof(sy_plugin_api);
  for (const unsigned char* p = first; p < end; p += sizeof(void*)) {
    void* entry = nullptr;
    std::memcpy(&entry, p, sizeof entry);
    EXPECT_NE(entry, nullptr) << "entry at offset " << (p - reinterpret_cast<const unsigned char*>(&a));
  }
  EXPECT_EQ(sy_plugin_get_api(), &a) << "one static table";
}

TEST(PluginTable, InitFailureCarriesTheMessage) {
  sy_host_info host = hostInfo("refuse");
  ErrorText e = take(api().init(&host));
  EXPECT_EQ(e.code, SY_ERROR_UNKNOWN);
  EXPECT_EQ(e.message, "init refused: no device here");

  host = hostInfo("0.1.0");
  host.abi_major = 2;
  e = take(api().init(&host));
  EXPECT_EQ(e.code, SY_ERROR_INVALID_ARGUMENT);
  const std::string built = "built for ABI 1." + std::to_string(SY_ABI_VERSION_MINOR) + ", the host speaks 2.0";
  EXPECT_NE(e.message.find(built), std::string::npos) << e.message;

  host = hostInfo("0.1.0");
  host.struct_size = 8;
  e = take(api().init(&host));
  EXPECT_NE(e.message.find("struct_size 8"), std::string::npos) << e.message;

  EXPECT_NE(take(api().init(nullptr)).code, 0);
}

TEST(PluginTable, InitAndShutdownPairUp) {
  const int inits = sy_test::initCalls, shutdowns = sy_test::shutdownCalls;
  sy_host_info host = hostInfo("0.1.0");
  EXPECT_OK(api().init(&host));
  EXPECT_OK(api().init(&host));  // loaded twice: the plugin sees one init
  EXPECT_EQ(sy_test::initCalls, inits + 1);
  api().shutdown();
  EXPECT_EQ(sy_test::shutdownCalls, shutdowns);
  api().shutdown();
  EXPECT_EQ(sy_test::shutdownCalls, shutdowns + 1);
  api().shutdown();  // unmatched: nothing
  EXPECT_EQ(sy_test::shutdownCalls, shutdowns + 1);
}

TEST(PluginTable, Devices) {
  size_t count = 7;
  EXPECT_OK(api().device_count(&count));
  EXPECT_EQ(count, 1u);

  sy_device_info info{};
  info.struct_size = sizeof(info);
  EXPECT_OK(api().device_info(0, &info));
  EXPECT_STREQ(info.name, "test device");
  EXPECT_EQ(info.type, SY_DEVICE_CPU);
  EXPECT_EQ(info.memory_bytes, uint64_t{1} << 20);
  EXPECT_EQ(info.score, 5);
  EXPECT_EQ(info.host_visible_memory, 1);

  const ErrorText e = take(api().device_info(3, &info));
  EXPECT_EQ(e.code, SY_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(e.message, "device 3 out of range (1 devices)");
  EXPECT_EQ(info.name, nullptr) << "out_info is reset on failure";
  EXPECT_NE(take(api().device_count(nullptr)).code, 0);
}

TEST(PluginTable, BackendCreateFailuresLeaveNoBackend) {
  sy_backend* backend = reinterpret_cast<sy_backend*>(0x1);
  sy_option fail{sizeof(sy_option), "fail", "true"};
  ErrorText e = take(api().backend_create(0, &fail, 1, &backend));
  EXPECT_EQ(e.code, SY_ERROR_UNKNOWN);
  EXPECT_EQ(e.message, "backend boom");
  EXPECT_EQ(backend, nullptr);

  backend = reinterpret_cast<sy_backend*>(0x1);
  sy_option unknown[] = {{sizeof(sy_option), "mode", ""}, {sizeof(sy_option), "threads", "4"}};
  e = take(api().backend_create(0, unknown, 2, &backend));
  EXPECT_EQ(e.code, SY_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(e.message, "unknown option 'threads' for backend 'test'; known options: fail, mode");
  EXPECT_EQ(backend, nullptr);

  // A near miss of a key the plugin asked for gets a suggestion (issue #13 item 7).
  sy_option typo{sizeof(sy_option), "mdoe", "x"};
  e = take(api().backend_create(0, &typo, 1, &backend));
  EXPECT_EQ(e.code, SY_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(e.message, "unknown option 'mdoe' for backend 'test' (did you mean 'mode'?); known options: fail, mode");
  EXPECT_EQ(backend, nullptr);

  sy_option malformed{sizeof(sy_option), "fail", "perhaps"};
  e = take(api().backend_create(0, &malformed, 1, &backend));
  EXPECT_EQ(e.message, "option 'fail': expected true or false, got 'perhaps'");

  e = take(api().backend_create(1, nullptr, 0, &backend));
  EXPECT_EQ(e.code, SY_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(backend, nullptr);
}

TEST(PluginTable, QuerySupportAnswersEveryNode) {
  TestGraph g;
  const int32_t x = g.value("x", SY_DTYPE_F32, {4});
  const int32_t y = g.value("y", SY_DTYPE_F32, {4});
  g.node("add", {x, x}, {y});
  g.node("conv", {y}, {y});
  g.node("silent", {y}, {y});
  g.node("long", {y}, {y});
  g.params = {x};
  g.returns = {y};
  sy_backend* backend = makeBackend();

  std::vector<sy_node_support> support(4);
  for (auto& s : support) s.struct_size = sizeof(s);
  EXPECT_OK(api().query_support(backend, g.view(), support.data(), support.size()));
  EXPECT_EQ(support[0].supported, 1);
  EXPECT_EQ(support[0].cost, 1.5);
  EXPECT_STREQ(support[0].reason, "");
  EXPECT_EQ(support[1].supported, 0);
  EXPECT_STREQ(support[1].reason, "op 'conv' is not supported");
  EXPECT_STREQ(support[2].reason, "the plugin gave no answer for this node");
  // 300 bytes of two-byte characters: cut at a character boundary below 256.
  EXPECT_EQ(std::strlen(support[3].reason), 254u);

  const ErrorText e = take(api().query_support(backend, g.view(), support.data(), 3));
  EXPECT_EQ(e.message, "num_nodes is 3 but the graph has 4 nodes");
  api().backend_destroy(backend);
}

TEST(PluginTable, QuerySupportErrorCarriesCodeAndMessage) {
  TestGraph g = identityRegion();
  sy_backend* backend = makeBackend({{"mode", "query_throws"}});
  sy_node_support support{};
  support.struct_size = sizeof(support);
  support.supported = 1;
  const ErrorText e = take(api().query_support(backend, g.view(), &support, 1));
  EXPECT_EQ(e.code, SY_ERROR_DEVICE);
  EXPECT_EQ(e.message, "query boom");
  EXPECT_EQ(support.supported, 0) << "answers are reset first";
  api().backend_destroy(backend);
}

// A newer host's structs are larger: arrays are stepped by struct_size.
TEST(PluginTable, ArraysAreSteppedByStructSize) {
  struct BigValueInfo {
    sy_value_info v;
    uint64_t appended[3];
  };
  struct BigSupport {
    sy_node_support s;
    char appended[40];
  };
  const int64_t dims[] = {2};
  BigValueInfo values[2] = {};
  const char* names[] = {"a", "b"};
  for (int i = 0; i < 2; ++i) {
    values[i].v = sy_value_info{sizeof(BigValueInfo), names[i], SY_DTYPE_F32, 1, dims, nullptr, nullptr, 0};
  }
  const int32_t ins[] = {0, 0}, outs[] = {1}, bodyNodes[] = {0, 1}, params[] = {0}, returns[] = {1};
  sy_node_view nodes[2] = {};
  nodes[0] = sy_node_view{sizeof(sy_node_view), "add", "n0", 2, ins, 1, outs, 0, nullptr, 0, nullptr};
  nodes[1] = sy_node_view{sizeof(sy_node_view), "mul", "n1", 2, ins, 1, outs, 0, nullptr, 0, nullptr};
  sy_graph_view view{};
  view.struct_size = sizeof(view);
  view.num_values = 2;
  view.values = &values[0].v;
  view.num_nodes = 2;
  view.nodes = nodes;
  view.body = sy_block_view{sizeof(sy_block_view), "body", 1, params, 2, bodyNodes, 1, returns};

  const sdk::GraphView g(&view);
  EXPECT_EQ(g.value(1).name(), "b");
  EXPECT_EQ(g.node(1).input(1).name(), "a");
  EXPECT_EQ(g.output(0).name(), "b");

  sy_backend* backend = makeBackend();
  BigSupport support[2] = {};
  for (auto& s : support) {
    s.s.struct_size = sizeof(BigSupport);
    std::memset(s.appended, 0x5A, sizeof s.appended);
  }
  EXPECT_OK(api().query_support(backend, &view, &support[0].s, 2));
  EXPECT_EQ(support[0].s.supported, 1);
  EXPECT_EQ(support[1].s.supported, 0);
  EXPECT_STREQ(support[1].s.reason, "op 'mul' is not supported");
  EXPECT_EQ(support[1].appended[39], 0x5A) << "fields beyond the plugin's struct are left alone";

  // Entries of one array must agree on struct_size; too small is refused.
  values[1].v.struct_size = sizeof(sy_value_info);
  EXPECT_THROW(g.value(1), sdk::Error);
  values[0].v.struct_size = 16;
  const ErrorText e = take(api().query_support(backend, &view, &support[0].s, 2));
  EXPECT_NE(e.message.find("struct_size 16 is smaller than sy_value_info of ABI 1.0 (56 bytes)"), std::string::npos)
      << e.message;
  api().backend_destroy(backend);
}

TEST(PluginTable, CompileFailuresLeaveNoRegion) {
  TestGraph g = identityRegion();
  {
    sy_backend* backend = makeBackend({{"mode", "compile_throws"}});
    sy_compiled* compiled = reinterpret_cast<sy_compiled*>(0x1);
    const ErrorText e = take(api().compile(backend, g.view(), &compiled));
    EXPECT_EQ(e.code, SY_ERROR_UNKNOWN);
    EXPECT_EQ(e.message, "compile boom");
    EXPECT_EQ(compiled, nullptr);
    api().backend_destroy(backend);
  }
  {
    sy_backend* backend = makeBackend({{"mode", "compile_throws_int"}});
    sy_compiled* compiled = reinterpret_cast<sy_compiled*>(0x1);
    const ErrorText e = take(api().compile(backend, g.view(), &compiled));
    EXPECT_EQ(e.code, SY_ERROR_UNKNOWN);
    EXPECT_EQ(e.message, "unknown exception (not derived from std::exception)");
    EXPECT_EQ(compiled, nullptr);
    api().backend_destroy(backend);
  }
}

class Execute : public ::testing::Test {
 protected:
  void compile(const char* mode) {
    backend_ = makeBackend({{"mode", mode}});
    EXPECT_OK(api().compile(backend_, graph_.view(), &compiled_));
    ASSERT_NE(compiled_, nullptr);
    EXPECT_OK(api().buffer_alloc(backend_, sizeof(data_), &input_));
    EXPECT_OK(api().buffer_write(input_, 0, data_, sizeof(data_)));
  }
  void TearDown() override {
    api().buffer_free(input_);
    api().compiled_destroy(compiled_);
    api().backend_destroy(backend_);
    EXPECT_EQ(sy_test::liveBuffers, 0) << "a buffer leaked";
  }

  TestGraph graph_ = identityRegion();
  float data_[6] = {1, 2, 3, 4, 5, 6};
  sy_backend* backend_ = nullptr;
  sy_compiled* compiled_ = nullptr;
  sy_buffer* input_ = nullptr;
};

TEST_F(Execute, RunsAndHandsOutputsToTheHost) {
  compile("");
  sy_compiled_info info{};
  info.struct_size = sizeof(info);
  EXPECT_OK(api().compiled_info(compiled_, &info));
  EXPECT_EQ(info.concurrent_execute, 1);

  const sy_tensor in = tensor(input_, SY_DTYPE_F32, {2, 3});
  sy_tensor out{};
  out.struct_size = sizeof(out);
  EXPECT_OK(api().execute(compiled_, &in, 1, &out, 1));
  ASSERT_NE(out.buffer, nullptr);
  EXPECT_EQ(out.dtype, SY_DTYPE_F32);
  EXPECT_EQ(out.rank, 2);
  EXPECT_EQ(out.dims[0], 2);
  EXPECT_EQ(out.dims[1], 3);
  float result[6] = {};
  EXPECT_OK(api().buffer_read(out.buffer, out.offset, result, sizeof(result)));
  EXPECT_EQ(std::memcmp(result, data_, sizeof(result)), 0);
  EXPECT_NE(api().buffer_host_pointer(out.buffer), nullptr);
  api().buffer_free(out.buffer);
}

TEST_F(Execute, ChecksInputsAgainstTheRegion) {
  compile("");
  sy_tensor out{};
  out.struct_size = sizeof(out);

  sy_tensor in = tensor(input_, SY_DTYPE_F32, {2, 3});
  ErrorText e = take(api().execute(compiled_, &in, 1, &out, 0));
  EXPECT_EQ(e.message, "execute got 0 outputs, the region has 1");

  in = tensor(input_, SY_DTYPE_I32, {2, 3});
  e = take(api().execute(compiled_, &in, 1, &out, 1));
  EXPECT_EQ(e.code, SY_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(e.message, "input 0 ('x'): expected f32[2, 3], got i32[2, 3]");

  in = tensor(input_, SY_DTYPE_F32, {3, 3});
  e = take(api().execute(compiled_, &in, 1, &out, 1));
  EXPECT_EQ(e.message, "input 0: 36 bytes at offset 0 do not fit in its buffer of 24");

  in = tensor(nullptr, SY_DTYPE_F32, {2, 3});
  EXPECT_EQ(take(api().execute(compiled_, &in, 1, &out, 1)).message, "buffer is NULL");
  EXPECT_EQ(out.buffer, nullptr);
}

TEST_F(Execute, AFailureFreesTheOutputs) {
  compile("execute_throws");
  const sy_tensor in = tensor(input_, SY_DTYPE_F32, {2, 3});
  sy_tensor out{};
  out.struct_size = sizeof(out);
  out.buffer = reinterpret_cast<sy_buffer*>(0x1);
  const ErrorText e = take(api().execute(compiled_, &in, 1, &out, 1));
  EXPECT_EQ(e.code, SY_ERROR_UNKNOWN);
  EXPECT_EQ(e.message, "execute boom");
  EXPECT_EQ(out.buffer, nullptr);
  EXPECT_EQ(sy_test::liveBuffers, 1) << "only the input is left";
}

TEST_F(Execute, AnUnsetOutputIsAPluginBug) {
  compile("execute_forgets");
  const sy_tensor in = tensor(input_, SY_DTYPE_F32, {2, 3});
  sy_tensor out{};
  out.struct_size = sizeof(out);
  const ErrorText e = take(api().execute(compiled_, &in, 1, &out, 1));
  EXPECT_EQ(e.code, SY_ERROR_INTERNAL);
  EXPECT_EQ(e.message, "output 0 of execute (a bug in the plugin): not set");
  EXPECT_EQ(out.buffer, nullptr);
}

TEST_F(Execute, AnOutputOfTheWrongTypeIsAPluginBug) {
  compile("execute_wrong_dtype");
  const sy_tensor in = tensor(input_, SY_DTYPE_F32, {2, 3});
  sy_tensor out{};
  out.struct_size = sizeof(out);
  const ErrorText e = take(api().execute(compiled_, &in, 1, &out, 1));
  EXPECT_EQ(e.code, SY_ERROR_INTERNAL);
  EXPECT_EQ(e.message, "output 0 of execute (a bug in the plugin) ('y'): expected f32[2, 3], got i32[2, 3]");
  EXPECT_EQ(out.buffer, nullptr);
}

TEST(PluginTable, Buffers) {
  sy_backend* backend = makeBackend();
  sy_buffer* buffer = nullptr;
  EXPECT_OK(api().buffer_alloc(backend, 16, &buffer));
  EXPECT_EQ(api().buffer_size(buffer), 16u);
  const char text[] = "0123456789abcdef";
  EXPECT_OK(api().buffer_write(buffer, 0, text, 16));
  char back[8] = {};
  EXPECT_OK(api().buffer_read(buffer, 8, back, 8));
  EXPECT_EQ(std::string(back, 8), "89abcdef");

  ErrorText e = take(api().buffer_write(buffer, 10, text, 8));
  EXPECT_EQ(e.code, SY_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(e.message, "write of 8 bytes at offset 10 does not fit in a buffer of 16");
  e = take(api().buffer_read(buffer, std::numeric_limits<size_t>::max(), back, 8));
  EXPECT_EQ(e.code, SY_ERROR_INVALID_ARGUMENT);
  EXPECT_OK(api().buffer_write(buffer, 16, nullptr, 0));

  sy_buffer* empty = nullptr;
  EXPECT_OK(api().buffer_alloc(backend, 0, &empty));
  EXPECT_EQ(api().buffer_size(empty), 0u);
  api().buffer_free(empty);
  api().buffer_free(buffer);
  api().buffer_free(nullptr);
  EXPECT_EQ(api().buffer_size(nullptr), 0u);
  EXPECT_EQ(api().buffer_host_pointer(nullptr), nullptr);
  EXPECT_EQ(sy_test::liveBuffers, 0);

  // Wrapped host memory: no copy, read-only for the plugin.
  float host[4] = {1, 2, 3, 4};
  sy_buffer* wrapped = nullptr;
  EXPECT_OK(api().buffer_wrap_host(backend, host, sizeof(host), &wrapped));
  EXPECT_EQ(api().buffer_host_pointer(wrapped), static_cast<void*>(host));
  e = take(api().buffer_write(wrapped, 0, text, 4));
  EXPECT_EQ(e.message, "write to a buffer that wraps host memory (read-only)");
  api().buffer_free(wrapped);
  api().backend_destroy(backend);
}

TEST(Errors, NeverThrowAndNeverNull) {
  api().error_destroy(nullptr);
  EXPECT_EQ(api().error_code(nullptr), 0);

  sy_error* e = sdk::makeError(0, "");
  EXPECT_EQ(api().error_code(e), SY_ERROR_UNKNOWN);
  EXPECT_STREQ(api().error_message(e), "(no message)");
  api().error_destroy(e);

  e = sdk::guard([] { throw std::bad_alloc(); });
  EXPECT_EQ(e, sdk::outOfMemoryError());
  EXPECT_EQ(api().error_code(e), SY_ERROR_OUT_OF_MEMORY);
  api().error_destroy(e);  // the static one: a no-op
  EXPECT_STREQ(api().error_message(sdk::outOfMemoryError()), "out of memory");

  e = sdk::guard([] { throw std::invalid_argument("bad axis"); });
  EXPECT_EQ(take(e).code, SY_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(sdk::guard([] {}), nullptr);
}

TEST(Views, AttributesAndTypes) {
  TestGraph g;
  const int32_t x = g.value("x", SY_DTYPE_F32, {2, -1});
  const int32_t y = g.value("y", SY_DTYPE_F32, {2});
  g.node("reduce_sum", {x}, {y});
  const int64_t axes[] = {1};
  sy_attr a{};
  a.name = "axes";
  a.kind = SY_ATTR_INTS;
  a.count = 1;
  a.ints = axes;
  g.attr(a);
  g.node("softmax", {x}, {y});
  a = sy_attr{};
  a.name = "axis";
  a.kind = SY_ATTR_FLOAT;
  a.f = 0.5;
  g.attr(a);
  const sdk::GraphView view(g.view());

  const sdk::NodeView reduce = view.node(0);
  EXPECT_EQ(reduce.op(), "reduce_sum");
  EXPECT_EQ(reduce.attrInts("axes"), std::vector<int64_t>{1});
  EXPECT_EQ(reduce.attrInt("keepdims", 7), 7);
  EXPECT_FALSE(reduce.hasAttr("keepdims"));
  EXPECT_EQ(reduce.input(0).typeString(), "f32[2, ?]");
  EXPECT_FALSE(reduce.input(0).isStatic());
  EXPECT_EQ(reduce.input(0).numElements(), -1);
  EXPECT_EQ(reduce.output(0).numElements(), 2);
  EXPECT_THROW(reduce.input(1), sdk::Error);

  const sdk::NodeView softmax = view.node(1);
  EXPECT_EQ(softmax.attrFloat("axis", 0), 0.5);
  try {
    softmax.attrInt("axis", -1);
    ADD_FAILURE() << "expected an error";
  } catch (const sdk::Error& e) {
    EXPECT_EQ(std::string(e.what()), "'softmax' node #1: attribute 'axis' is a float, expected an int");
  }
  int visited = 0;
  for (sdk::NodeView n : view.nodes()) visited += static_cast<int>(n.numInputs());
  EXPECT_EQ(visited, 2);
}

// The view ops' shape rules, written once for the opencl, vulkan and cuda plugins.
TEST(PluginShapes, ViewOps) {
  namespace shapes = sy::sdk::shapes;
  using Dims = shapes::Dims;
  EXPECT_EQ(shapes::viewShape("identity", {2, 3}, 0, {}, false), (Dims{2, 3}));
  EXPECT_EQ(shapes::flattenShape({2, 3, 4}, -1), (Dims{6, 4}));
  EXPECT_EQ(shapes::flattenShape({2, 3, 4}, 0), (Dims{1, 24}));
  EXPECT_EQ(shapes::flattenShape({2, 3, 4}, 3), (Dims{24, 1}));
  EXPECT_THROW(shapes::flattenShape({2, 3}, 3), sy::sdk::Error);
  EXPECT_EQ(shapes::squeezeShape({1, 3, 1}, {}), (Dims{3}));
  EXPECT_EQ(shapes::squeezeShape({1, 3, 1}, {-1}), (Dims{1, 3}));
  EXPECT_THROW(shapes::squeezeShape({1, 3, 1}, {1}), sy::sdk::Error);  // size 3
  EXPECT_THROW(shapes::squeezeShape({1, 3, 1}, {3}), sy::sdk::Error);  // out of range
  EXPECT_EQ(shapes::unsqueezeShape({3}, {0, -1}), (Dims{1, 3, 1}));
  EXPECT_THROW(shapes::unsqueezeShape({3}, {0, 0}), sy::sdk::Error);  // repeated
  EXPECT_THROW(shapes::unsqueezeShape({3}, {2}), sy::sdk::Error);     // out of range
  EXPECT_EQ(shapes::reshapeShape({2, 3, 4}, {0, -1}, false), (Dims{2, 12}));
  EXPECT_EQ(shapes::reshapeShape({2, 0}, {0, 5}, true), (Dims{0, 5}));
  EXPECT_THROW(shapes::reshapeShape({2, 3, 4}, {5, -1}, false), sy::sdk::Error);
  EXPECT_THROW(shapes::reshapeShape({2, 3}, {0, 0}, true), sy::sdk::Error);  // 6 elements into 0
  EXPECT_THROW(shapes::reshapeShape({2, 3}, {-1, -1}, false), sy::sdk::Error);
  EXPECT_THROW(shapes::viewShape("transpose", {2, 3}, 0, {}, false), sy::sdk::Error);
}

}  // namespace
