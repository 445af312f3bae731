// The plugin-wide thread pool, the OpenMP setting for oneDNN, the oneDNN engine
// and host memory.
//
// Note [Threads]
// One pool serves the whole plugin (every backend, every region, every
// caller): availableCpus() - 1 workers. parallelFor posts a job (fn, n, chunk
// size) and the caller claims chunks itself, with an atomic counter; idle
// workers claim chunks of posted jobs too, at most threads - 1 per job (the
// backend's `threads` option). So a caller never waits for a worker to start
// (no deadlock for nested parallelFor, a 1-thread pool degrades to inline
// loops), and K concurrent callers run on at most workers + K threads: they
// share the workers instead of each bringing its own team.
//
// Note [oneDNN and OpenMP]
// Debian's oneDNN 2.6 runs primitives on OpenMP (libgomp): each calling
// thread that enters a primitive becomes the master of its own OpenMP team of
// omp_get_max_threads() threads, split statically, and most jit kernels bake
// the team size into the primitive when it is created. A team member that
// another process preempts holds the whole primitive at the join barrier, so
// the plugin never makes a team: every primitive is created and run with
// omp_set_num_threads(1) on the thread that runs it (a per-thread ICV in
// libgomp; pool workers set it when they start), and a step that wants more
// threads cuts its primitive into chunks run on this pool (Note [Split
// primitives] in dnnl_split.cpp). So the process runs at most workers +
// callers threads, the OpenMP runtime starts none, and concurrent callers need
// no gate around oneDNN (the former OmpGate): they share the pool's workers.
// The exception is a region run on OpenMP teams (Note [Threads on shared
// cores] in region.cpp): taken only by a run alone in the process, with the
// pool idle, and left when it is slower.
// dnnl_set_max_threads does not exist for the OpenMP runtime in 2.6 (only the
// threadpool runtime has dnnl::threadpool_interop), so the OMP ICV is the knob.
#include <limits>
#include <dnnl.hpp>
#include <omp.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "cpu_backend.h"

namespace sy_cpu {

int availableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

// ============================================================================
// ThreadPool

struct ThreadPool::Job {
  const std::function<void(int64_t, int64_t)>* fn = nullptr;
  int64_t n = 0;
  int64_t chunk = 1;
  int64_t numChunks = 0;
  int helpersLeft = 0;                 // guarded by the pool mutex
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> finished{0};
  std::mutex doneMutex;
  std::condition_variable doneCv;
};

namespace {
std::mutex gPoolMutex;
std::unique_ptr<ThreadPool> gPool;
}  // namespace

ThreadPool& ThreadPool::instance() {
  std::lock_guard<std::mutex> lock(gPoolMutex);
  if (!gPool) gPool = std::make_unique<ThreadPool>(availableCpus() - 1);
  return *gPool;
}

void ThreadPool::shutdown() {
  std::lock_guard<std::mutex> lock(gPoolMutex);
  gPool.reset();
}

ThreadPool::ThreadPool(int workers) {
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { workerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::runChunks(Job& job) {
  int64_t done = 0;
  for (;;) {
    const int64_t c = job.next.fetch_add(1, std::memory_order_relaxed);
    if (c >= job.numChunks) break;
    const int64_t begin = c * job.chunk;
    const int64_t end = std::min(job.n, begin + job.chunk);
    (*job.fn)(begin, end);
    ++done;
  }
  if (done > 0 && job.finished.fetch_add(done, std::memory_order_acq_rel) + done == job.numChunks) {
    std::lock_guard<std::mutex> lock(job.doneMutex);
    job.doneCv.notify_all();
  }
}

void ThreadPool::workerLoop() {
  // oneDNN chunks run on pool threads with an OpenMP team of one (Note [Split
  // primitives] in dnnl_split.cpp): no OpenMP thread besides the pool's.
  setOmpThreads(1);
  for (;;) {
    // Spin briefly for the next job (steps of a region follow each other
    // within microseconds), then block: a worker never holds a core long
    // when there is nothing to do.
    for (int spin = 0; spin < kSpin && posted_.load(std::memory_order_acquire) == 0; ++spin) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
      if (stop_) return;
      job = jobs_.front();
      if (--job->helpersLeft <= 0 || job->next.load(std::memory_order_relaxed) >= job->numChunks) {
        jobs_.pop_front();
        posted_.fetch_sub(1, std::memory_order_relaxed);
      }
    }
    runChunks(*job);
  }
}

void ThreadPool::parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn,
                             int threads) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  threads = std::min(threads, maxThreads());
  if (threads <= 1 || n <= grain) {
    fn(0, n);
    return;
  }
  // A few chunks per thread balance uneven chunks without much overhead.
  const int64_t maxChunks = (n + grain - 1) / grain;
  const int64_t numChunks = std::min<int64_t>(maxChunks, static_cast<int64_t>(threads) * 4);
  auto job = std::make_shared<Job>();
  job->fn = &fn;
  job->n = n;
  job->chunk = (n + numChunks - 1) / numChunks;
  job->numChunks = (n + job->chunk - 1) / job->chunk;
  const int helpers = static_cast<int>(std::min<int64_t>(threads - 1, job->numChunks - 1));
  job->helpersLeft = helpers;
  if (helpers > 0) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      jobs_.push_back(job);
      posted_.fetch_add(1, std::memory_order_release);
    }
    for (int i = 0; i < helpers; ++i) wake_.notify_one();  // wake only as many as may help
  }
  runChunks(*job);
  if (helpers > 0) {
    // No new helper may join once the caller ran out of chunks.
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = jobs_.begin(); it != jobs_.end(); ++it) {
      if (*it == job) {
        jobs_.erase(it);
        posted_.fetch_sub(1, std::memory_order_relaxed);
        break;
      }
    }
  }
  // Wait for chunks other threads claimed: spin briefly, then sleep.
  for (int spin = 0; spin < 2000; ++spin) {
    if (job->finished.load(std::memory_order_acquire) == job->numChunks) return;
  }
  std::unique_lock<std::mutex> lock(job->doneMutex);
  job->doneCv.wait(lock, [&] { return job->finished.load(std::memory_order_acquire) == job->numChunks; });
}

void PoolExec::parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) const {
  if (threads_ <= 1 || n <= grain) {
    if (n > 0) fn(0, n);
    return;
  }
  ThreadPool::instance().parallelFor(n, grain, fn, threads_);
}

// ============================================================================
// OpenMP

namespace {
thread_local int tlsRunThreadCap = std::numeric_limits<int>::max();
thread_local bool tlsRunTeam = false;
}  // namespace

int runThreadCap() { return tlsRunThreadCap; }
void setRunThreadCap(int cap) { tlsRunThreadCap = cap; }
bool runTeam() { return tlsRunTeam; }
void setRunTeam(bool team) { tlsRunTeam = team; }

void setOmpThreads(int threads) {
  if (omp_get_max_threads() != threads) omp_set_num_threads(threads);
}

const dnnl::engine& dnnlEngine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// ============================================================================
// Memory

namespace {
constexpr size_t kAlign = 64;
void* alignedAlloc(size_t bytes) {
  const size_t rounded = (std::max<size_t>(bytes, 1) + kAlign - 1) / kAlign * kAlign;
  void* p = std::aligned_alloc(kAlign, rounded);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
}  // namespace

CpuBuffer::CpuBuffer(size_t bytes) : data_(alignedAlloc(bytes)), size_(bytes) {}
CpuBuffer::~CpuBuffer() { std::free(data_); }
void CpuBuffer::write(size_t offset, const void* src, size_t bytes) {
  std::memcpy(static_cast<std::byte*>(data_) + offset, src, bytes);
}
void CpuBuffer::read(size_t offset, void* dst, size_t bytes) const {
  std::memcpy(dst, static_cast<const std::byte*>(data_) + offset, bytes);
}

AlignedBlock::AlignedBlock(size_t bytes) : data_(alignedAlloc(bytes)), size_(bytes) {}
AlignedBlock::~AlignedBlock() { std::free(data_); }
AlignedBlock& AlignedBlock::operator=(AlignedBlock&& o) noexcept {
  if (this != &o) {
    std::free(data_);
    data_ = o.data_;
    size_ = o.size_;
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

}  // namespace sy_cpu
