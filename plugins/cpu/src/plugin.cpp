// The plugin: one device (the host CPU), backends with the `threads` option,
// the capability query and zero-copy host buffers.
#include <unistd.h>

#include <fstream>

#include "cpu_backend.h"

namespace sy_cpu {
namespace {

/// "model name" from /proc/cpuinfo, or a generic name.
std::string cpuModelName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(colon + 1);
        const size_t first = name.find_first_not_of(" \t");
        return first == std::string::npos ? std::string("CPU") : name.substr(first);
      }
    }
  }
  return "CPU";
}

uint64_t physicalMemory() {
  const long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  return pages > 0 && size > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(size) : 0;
}

class CpuPlugin : public sdk::Plugin {
 public:
  CpuPlugin() : Plugin("cpu", "0.1.0", "Switchyard") {}

  size_t deviceCount() override { return 1; }

  sdk::DeviceInfo deviceInfo(size_t /*device*/) override {
    sdk::DeviceInfo info;
    info.name = cpuModelName() + sdk::format(" (", availableCpus(), " threads)");
    info.type = SY_DEVICE_CPU;
    info.memoryBytes = physicalMemory();
    // Above the CPU devices of OpenCL and Vulkan drivers (PoCL, lavapipe: 100),
    // below real GPUs (300): with no backends list the native plugin comes
    // first on a machine without a GPU (docs/config.md).
    info.score = 150;
    info.hostVisibleMemory = true;
    return info;
  }

  std::unique_ptr<sdk::Backend> createBackend(size_t /*device*/, const sdk::Options& options) override {
    return std::make_unique<CpuBackend>(parseOptions(options));
  }

  bool wrapsHostMemory() const override { return true; }

  void shutdown() override { ThreadPool::shutdown(); }
};

}  // namespace

BackendOptions parseOptions(const sdk::Options& options) {
  BackendOptions out;
  const int cpus = availableCpus();
  out.threads = cpus;
  const std::optional<std::string> threads = options.get("threads");
  if (threads && *threads != "auto" && *threads != "0") {
    int64_t n = 0;
    bool ok = !threads->empty() && threads->size() <= 6;
    for (char c : *threads) ok = ok && c >= '0' && c <= '9';
    if (ok) n = std::stoll(*threads);
    sdk::require(ok && n >= 1 && n <= 4096, SY_ERROR_INVALID_ARGUMENT,
                 "option 'threads' of backend 'cpu': expected a whole number from 1 to 4096 (or 'auto' / 0 for all ",
                 cpus, " CPUs), got '", *threads, "'");
    out.threads = static_cast<int>(n);
  }
  return out;
}

void CpuBackend::querySupport(const sdk::GraphView& graph, std::vector<sdk::NodeSupport>& support) {
  for (const sdk::NodeView node : graph.nodes()) {
    double cost = 0.0;
    std::string why;
    try {
      why = cpuWhyNot(graph, node, &cost);
    } catch (const sdk::Error& e) {
      why = e.what();
    }
    support[node.index()] = why.empty() ? sdk::NodeSupport::yes(cost) : sdk::NodeSupport::no(why);
  }
}

std::unique_ptr<sdk::CompiledRegion> CpuBackend::compile(const sdk::GraphView& region) {
  return compileRegion(*this, region);
}

}  // namespace sy_cpu

SY_DEFINE_PLUGIN(sy_cpu::CpuPlugin)
