// The in-process plugin of the helper tests: see test_plugin.h.
#include "test_plugin.h"

#include <cstring>
#include <stdexcept>

#include "switchyard/plugin.hpp"

namespace sdk = sy::sdk;

namespace sy_test {
std::atomic<int> liveBuffers{0};
std::atomic<int> initCalls{0};
std::atomic<int> shutdownCalls{0};
}  // namespace sy_test

namespace {

// A host buffer that counts itself, so tests see leaks.
class CountingBuffer : public sdk::Buffer {
 public:
  explicit CountingBuffer(size_t bytes) : memory_(sdk::HostBuffer::allocate(bytes)) { ++sy_test::liveBuffers; }
  ~CountingBuffer() override { --sy_test::liveBuffers; }
  size_t size() const override { return memory_->size(); }
  void write(size_t offset, const void* src, size_t bytes) override { memory_->write(offset, src, bytes); }
  void read(size_t offset, void* dst, size_t bytes) const override { memory_->read(offset, dst, bytes); }
  void* hostPointer() const override { return memory_->hostPointer(); }

 private:
  std::unique_ptr<sdk::HostBuffer> memory_;
};

class TestRegion : public sdk::CompiledRegion {
 public:
  TestRegion(sdk::Backend& backend, std::string mode) : backend_(backend), mode_(std::move(mode)) {}

  void execute(const std::vector<sdk::InputTensor>& inputs, std::vector<sdk::OutputTensor>& outputs) override {
    if (mode_ == "execute_forgets") return;
    const sdk::InputTensor& in = inputs.at(0);
    const int32_t dtype = mode_ == "execute_wrong_dtype" ? SY_DTYPE_I32 : in.dtype();
    outputs.at(0).allocate(backend_, dtype, in.dims());
    if (mode_ == "execute_throws") throw std::runtime_error("execute boom");
    std::memcpy(outputs[0].hostData(), in.hostData(), in.bytes());
  }
  bool concurrentExecute() const override { return true; }

 private:
  sdk::Backend& backend_;
  std::string mode_;
};

class TestBackend : public sdk::Backend {
 public:
  explicit TestBackend(std::string mode) : mode_(std::move(mode)) {}

  void querySupport(const sdk::GraphView& graph, std::vector<sdk::NodeSupport>& support) override {
    if (mode_ == "query_throws") sdk::fail(SY_ERROR_DEVICE, "query boom");
    for (sdk::NodeView node : graph.nodes()) {
      if (node.op() == "add") {
        support[node.index()] = sdk::NodeSupport::yes(1.5);
      } else if (node.op() == "long") {
        std::string reason;
        for (int i = 0; i < 150; ++i) reason += "\xC3\xA9";  // 150 x U+00E9, 300 bytes
        support[node.index()] = sdk::NodeSupport::no(reason);
      } else if (node.op() != "silent") {
        support[node.index()] = sdk::NodeSupport::no(sdk::format("op '", node.op(), "' is not supported"));
      }
    }
  }

  std::unique_ptr<sdk::CompiledRegion> compile(const sdk::GraphView& region) override {
    if (mode_ == "compile_throws") throw std::runtime_error("compile boom");
    if (mode_ == "compile_throws_int") throw 42;
    return std::make_unique<TestRegion>(*this, mode_);
  }

  std::unique_ptr<sdk::Buffer> allocate(size_t bytes) override { return std::make_unique<CountingBuffer>(bytes); }

 private:
  std::string mode_;
};

class TestPlugin : public sdk::Plugin {
 public:
  TestPlugin() : Plugin("test", "1.2.3", "Switchyard tests") {}

  void init(const sdk::HostInfo& host) override {
    if (host.hostVersion == "refuse") throw std::runtime_error("init refused: no device here");
    ++sy_test::initCalls;
  }
  void shutdown() override { ++sy_test::shutdownCalls; }

  size_t deviceCount() override { return 1; }
  sdk::DeviceInfo deviceInfo(size_t device) override {
    sdk::DeviceInfo info;
    info.name = "test device";
    info.type = SY_DEVICE_CPU;
    info.memoryBytes = 1 << 20;
    info.score = 5;
    info.hostVisibleMemory = true;
    return info;
  }
  std::unique_ptr<sdk::Backend> createBackend(size_t device, const sdk::Options& options) override {
    if (options.getBool("fail", false)) throw std::runtime_error("backend boom");
    return std::make_unique<TestBackend>(options.getString("mode", ""));
  }
  bool wrapsHostMemory() const override { return true; }
};

}  // namespace

SY_DEFINE_PLUGIN(TestPlugin)
