// Shared declarations of the CPU backend plugin's host side: the plugin-wide
// thread pool and oneDNN's OpenMP setting, the backend, and the region compiler's entry
// point. See ../README.md for the design (threads, fusion, layouts, memory
// planning).
#pragma once

#include <switchyard/plugin.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <switchyard/kernels.hpp>

namespace dnnl {
struct engine;
}

/// sdk::require that builds its message only on failure (hot paths: the
/// arguments often format dims).
#define SY_CPU_REQUIRE(cond, code, ...)          \
  do {                                           \
    if (!(cond)) ::sy::sdk::fail(code, __VA_ARGS__); \
  } while (0)

namespace sy_cpu {

namespace sdk = sy::sdk;

// The generic path is the SDK's portable kernels (Switchyard::kernels): every
// op no fast path takes runs with sy::kernels::makeKernel.
using sy::kernels::Dims;
using sy::kernels::Exec;
using sy::kernels::Kernel;
using sy::kernels::makeKernel;
using sy::kernels::Tensor;

/// CPUs this process may run on (sched_getaffinity), at least 1.
int availableCpus();

// ============================================================================
// Thread pool (Note [Threads] in thread_pool.cpp)

/// The one pool of the plugin: availableCpus() - 1 workers, shared by every
/// backend and region. A caller of parallelFor runs chunks of its own job
/// too, so K callers at once use at most workers + K threads.
class ThreadPool {
 public:
  /// The plugin's pool (started on first use, stopped by shutdown()).
  static ThreadPool& instance();
  /// Joins the workers (plugin shutdown; the next instance() starts again).
  static void shutdown();

  explicit ThreadPool(int workers);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  /// Workers + the caller.
  int maxThreads() const { return static_cast<int>(workers_.size()) + 1; }
  /// Runs fn over [0, n) in chunks of at least `grain` on at most `threads`
  /// threads (the caller included). fn must not throw.
  void parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn, int threads);

 private:
  struct Job;
  void workerLoop();
  static void runChunks(Job& job);

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> jobs_;
  std::atomic<int> posted_{0};  // jobs_.size(), read without the mutex by spinning workers
  static constexpr int kSpin = 4000;  // pause instructions (~0.1 ms) before an idle worker blocks
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

/// Exec (kernel.h) on the plugin pool, limited to a backend's thread count.
class PoolExec final : public Exec {
 public:
  explicit PoolExec(int threads) : threads_(threads) {}
  void parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) const override;
  int threads() const override { return threads_; }

 private:
  int threads_;
};

/// Sets the calling thread's OpenMP team size (what oneDNN primitives created
/// or run on this thread use).
void setOmpThreads(int threads);

/// The most threads a region run on the calling thread may use now (Note
/// [Threads on shared cores] in region.cpp); unlimited outside runs.
int runThreadCap();
void setRunThreadCap(int cap);
/// Whether a region run on the calling thread runs its oneDNN primitives on
/// OpenMP teams of runThreadCap() threads instead of split chunks on the pool
/// (Note [Threads on shared cores] in region.cpp); false outside runs.
bool runTeam();
void setRunTeam(bool team);

/// The plugin's oneDNN CPU engine (thread-safe to share).
const dnnl::engine& dnnlEngine();

// ============================================================================
// Memory

/// 64-byte aligned host memory that is not zeroed (outputs of execute).
class CpuBuffer final : public sdk::Buffer {
 public:
  explicit CpuBuffer(size_t bytes);
  ~CpuBuffer() override;
  CpuBuffer(const CpuBuffer&) = delete;
  CpuBuffer& operator=(const CpuBuffer&) = delete;
  size_t size() const override { return size_; }
  void write(size_t offset, const void* src, size_t bytes) override;
  void read(size_t offset, void* dst, size_t bytes) const override;
  void* hostPointer() const override { return data_; }

 private:
  void* data_;
  size_t size_;
};

/// 64-byte aligned scratch memory (RAII).
class AlignedBlock {
 public:
  AlignedBlock() = default;
  explicit AlignedBlock(size_t bytes);
  ~AlignedBlock();
  AlignedBlock(AlignedBlock&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr; o.size_ = 0; }
  AlignedBlock& operator=(AlignedBlock&& o) noexcept;
  AlignedBlock(const AlignedBlock&) = delete;
  AlignedBlock& operator=(const AlignedBlock&) = delete;
  void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

// ============================================================================
// Backend

struct BackendOptions {
  int threads = 1;  ///< threads per execute (pool + oneDNN team)
};

/// Parses the backend options (throws a clear error for a bad value).
BackendOptions parseOptions(const sdk::Options& options);

class CpuBackend final : public sdk::Backend {
 public:
  explicit CpuBackend(BackendOptions options) : options_(options) {}
  void querySupport(const sdk::GraphView& graph, std::vector<sdk::NodeSupport>& support) override;
  std::unique_ptr<sdk::CompiledRegion> compile(const sdk::GraphView& region) override;
  const BackendOptions& options() const { return options_; }

 private:
  BackendOptions options_;
};

/// Why the CPU backend cannot run `node` ("" when it can); fills *cost.
std::string cpuWhyNot(const sdk::GraphView& graph, const sdk::NodeView& node, double* cost);

/// Compiles a region (region.cpp).
std::unique_ptr<sdk::CompiledRegion> compileRegion(const CpuBackend& backend, const sdk::GraphView& region);

}  // namespace sy_cpu
