// Devices, buffers, execution contexts and the NVRTC kernel cache.
#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "cuda_backend.h"
#include "fusion.h"
#include "ops.h"

namespace sy_cuda {

DeviceScope::DeviceScope(int ordinal) {
  cudaGetDevice(&previous_);
  if (previous_ != ordinal) checkCuda(cudaSetDevice(ordinal), "cudaSetDevice");
}

DeviceScope::~DeviceScope() {
  int now = -1;
  cudaGetDevice(&now);
  if (previous_ >= 0 && now != previous_) cudaSetDevice(previous_);
}

// ---------------------------------------------------------------------------
// Buffers

CudaBuffer::CudaBuffer(CudaBackend& backend, size_t bytes) : backend_(backend), size_(bytes) {
  if (bytes == 0) return;
  DeviceScope scope(backend.device().ordinal);
  data_ = backend.acquire(bytes, backend.bufferStream());
  // The host may hand this buffer to any stream next: make the allocation
  // complete before it does.
  const cudaError_t e = cudaStreamSynchronize(backend.bufferStream());
  if (e != cudaSuccess) {
    backend.release(data_, backend.bufferStream());
    data_ = nullptr;
    checkCuda(e, "cudaStreamSynchronize after cudaMallocAsync");
  }
}

CudaBuffer::CudaBuffer(CudaBackend& backend, size_t bytes, cudaStream_t stream) : backend_(backend), size_(bytes) {
  if (bytes > 0) data_ = backend.acquire(bytes, stream);
}

CudaBuffer::~CudaBuffer() {
  if (data_ == nullptr) return;
  // Every execute has synchronised its stream before returning, so nothing
  // in flight reads this block; freeing it on the buffer stream is ordered
  // before any later allocation there.
  int previous = -1;
  cudaGetDevice(&previous);
  if (previous != backend_.device().ordinal) cudaSetDevice(backend_.device().ordinal);
  backend_.release(data_, backend_.bufferStream());
  if (previous >= 0 && previous != backend_.device().ordinal) cudaSetDevice(previous);
}

// Note [Staging]
// Host transfers go through the context's pinned staging buffer in chunks of
// ExecContext::kStagingBytes: a copy from pageable memory is done by the
// driver through its own staging anyway, and owning the staging buffer lets
// the copy run on our stream (never the legacy default stream, which would
// serialise with every other caller).
void CudaBuffer::write(size_t offset, const void* src, size_t bytes) {
  DeviceScope scope(backend_.device().ordinal);
  CudaBackend::Lease ctx(backend_);
  const auto* from = static_cast<const std::byte*>(src);
  for (size_t done = 0; done < bytes;) {
    const size_t n = std::min(bytes - done, ExecContext::kStagingBytes);
    std::memcpy(ctx->pinned, from + done, n);
    checkCuda(cudaMemcpyAsync(static_cast<std::byte*>(data_) + offset + done, ctx->pinned, n, cudaMemcpyHostToDevice,
                              ctx->stream),
              "cudaMemcpyAsync (host to device)");
    ctx->synchronize("cudaMemcpyAsync (host to device)");
    done += n;
  }
}

void CudaBuffer::read(size_t offset, void* dst, size_t bytes) const {
  DeviceScope scope(backend_.device().ordinal);
  CudaBackend::Lease ctx(backend_);
  auto* to = static_cast<std::byte*>(dst);
  for (size_t done = 0; done < bytes;) {
    const size_t n = std::min(bytes - done, ExecContext::kStagingBytes);
    checkCuda(cudaMemcpyAsync(ctx->pinned, static_cast<const std::byte*>(data_) + offset + done, n,
                              cudaMemcpyDeviceToHost, ctx->stream),
              "cudaMemcpyAsync (device to host)");
    ctx->synchronize("cudaMemcpyAsync (device to host)");
    std::memcpy(to + done, ctx->pinned, n);
    done += n;
  }
}

// ---------------------------------------------------------------------------
// Execution contexts

ExecContext::ExecContext(const DeviceInfo& d) : device(d) {
  try {
    checkCuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    checkCuda(cudaMallocHost(&pinned, kStagingBytes), "cudaMallocHost");
    checkCuda(cudaMalloc(reinterpret_cast<void**>(&errorFlag), sizeof(int32_t)), "cudaMalloc");
    const CublasLt& blas = cublasLt();
    if (blas.ok()) blas.check(blas.cublasLtCreate(&lt), "cublasLtCreate");
  } catch (...) {
    release();  // what was made before the failure
    throw;
  }
}

ExecContext::~ExecContext() { release(); }

void ExecContext::release() {
  dropAllGraphs();
  if (stream != nullptr) cudaStreamSynchronize(stream);
  if (lt != nullptr) cublasLt().cublasLtDestroy(lt);
  if (dnn_ != nullptr) cudnn().cudnnDestroy(dnn_);
  if (workspace_ != nullptr) cudaFree(workspace_);
  if (arena_ != nullptr) cudaFree(arena_);
  if (errorFlag != nullptr) cudaFree(errorFlag);
  if (pinned != nullptr) cudaFreeHost(pinned);
  if (stream != nullptr) cudaStreamDestroy(stream);
  lt = nullptr;
  dnn_ = nullptr;
  workspace_ = arena_ = pinned = nullptr;
  errorFlag = nullptr;
  stream = nullptr;
}

void ExecContext::synchronize(const char* what) {
  const cudaError_t e = cudaStreamSynchronize(stream);
  if (e != cudaSuccess) checkCuda(e, sdk::format("cudaStreamSynchronize after ", what).c_str());
}

// Workspace and arena are plain cudaMalloc blocks owned by the context: they
// grow to the largest need and then stay, so steady-state execute allocates
// nothing (the blocks must also stay put for captured graphs).
void* ExecContext::workspace(size_t bytes) {
  if (bytes <= workspaceBytes_) return workspace_;
  synchronize("growing the workspace");
  dropAllGraphs();
  if (workspace_ != nullptr) cudaFree(workspace_);
  workspace_ = nullptr;
  workspaceBytes_ = 0;
  checkCuda(cudaMalloc(&workspace_, bytes), "cudaMalloc (workspace)");
  workspaceBytes_ = bytes;
  return workspace_;
}

void* ExecContext::arena(size_t bytes) {
  if (bytes <= arenaBytes_) return arena_;
  synchronize("growing the arena");
  dropAllGraphs();
  // Grow geometrically so that a few larger shapes do not reallocate each time.
  const size_t want = std::max(bytes, arenaBytes_ + arenaBytes_ / 2);
  if (arena_ != nullptr) cudaFree(arena_);
  arena_ = nullptr;
  arenaBytes_ = 0;
  checkCuda(cudaMalloc(&arena_, want), "cudaMalloc (arena)");
  arenaBytes_ = want;
  return arena_;
}

cudnnHandle_t ExecContext::dnn() {
  if (dnn_ != nullptr) return dnn_;
  const Cudnn& lib = cudnn();
  requireLibrary(lib, "cuDNN");
  lib.check(lib.cudnnCreate(&dnn_), "cudnnCreate");
  lib.check(lib.cudnnSetStream(dnn_, stream), "cudnnSetStream");
  return dnn_;
}

void ExecContext::dropGraphs(uint64_t regionId) {
  std::lock_guard<std::mutex> lock(graphsMutex);
  for (auto it = graphs.begin(); it != graphs.end();) {
    if (it->first.first == regionId) {
      cudaGraphExecDestroy(it->second);
      it = graphs.erase(it);
    } else {
      ++it;
    }
  }
}

void ExecContext::dropAllGraphs() {
  std::lock_guard<std::mutex> lock(graphsMutex);
  for (auto& [key, exec] : graphs) cudaGraphExecDestroy(exec);
  graphs.clear();
}

// ---------------------------------------------------------------------------
// Backend

CudaBackend::CudaBackend(const DeviceInfo& device, BackendOptions options)
    : device_(device), options_(std::move(options)) {
  DeviceScope scope(device_.ordinal);
  if (device_.memoryPools) {
    // Keep freed blocks in the pool (a threshold of "everything"): execute
    // then never returns memory to the driver and never asks it for more in
    // steady state.
    cudaMemPool_t pool = nullptr;
    checkCuda(cudaDeviceGetDefaultMemPool(&pool, device_.ordinal), "cudaDeviceGetDefaultMemPool");
    uint64_t threshold = UINT64_MAX;
    checkCuda(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold), "cudaMemPoolSetAttribute");
  }
  checkCuda(cudaStreamCreateWithFlags(&bufferStream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  Lease first(*this);  // one context up front: a broken device fails backend_create, not the first execute
}

CudaBackend::~CudaBackend() {
  try {
    DeviceScope scope(device_.ordinal);
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.clear();
  } catch (...) {
  }
  if (bufferStream_ != nullptr) {
    cudaStreamSynchronize(bufferStream_);
    cudaStreamDestroy(bufferStream_);
  }
}

CudaBackend::Lease::Lease(CudaBackend& backend) : backend_(backend) {
  {
    std::lock_guard<std::mutex> lock(backend.mutex_);
    if (!backend.idle_.empty()) {
      context_ = std::move(backend.idle_.back());
      backend.idle_.pop_back();
    }
  }
  if (context_ == nullptr) context_ = std::make_unique<ExecContext>(backend.device_);
}

CudaBackend::Lease::~Lease() {
  std::lock_guard<std::mutex> lock(backend_.mutex_);
  try {
    backend_.idle_.push_back(std::move(context_));
  } catch (...) {
    // Out of memory for the list: the context is destroyed instead.
  }
}

void CudaBackend::dropGraphs(uint64_t regionId) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& c : idle_) c->dropGraphs(regionId);
}

void* CudaBackend::acquire(size_t bytes, cudaStream_t stream) {
  void* p = nullptr;
  if (device_.memoryPools) {
    checkCuda(cudaMallocAsync(&p, bytes, stream), "cudaMallocAsync");
  } else {
    checkCuda(cudaMalloc(&p, bytes), "cudaMalloc");
  }
  return p;
}

void CudaBackend::release(void* p, cudaStream_t stream) {
  if (p == nullptr) return;
  if (device_.memoryPools) {
    cudaFreeAsync(p, stream);
  } else {
    cudaFree(p);
  }
}

std::unique_ptr<sdk::Buffer> CudaBackend::allocate(size_t bytes) { return std::make_unique<CudaBuffer>(*this, bytes); }

void CudaBackend::querySupport(const sdk::GraphView& graph, std::vector<sdk::NodeSupport>& support) {
  for (const sdk::NodeView node : graph.nodes()) {
    const std::string reason = whyNot(graph, node);
    if (!reason.empty()) {
      support[node.index()] = sdk::NodeSupport::no(reason);
      continue;
    }
    // A rough cost: bytes moved at ~2 TB/s plus a launch; GEMMs and convs
    // add their flops at ~50 TFLOP/s. Only compared with other estimates.
    double bytes = 0.0;
    for (size_t i = 0; i < node.numOutputs(); ++i) {
      const int64_t n = node.output(i).numElements();
      bytes += static_cast<double>(n > 0 ? n : 1) * static_cast<double>(sdk::dtypeSize(node.output(i).dtype()));
    }
    double flops = 0.0;
    if ((node.op() == "matmul" || node.op() == "gemm") && node.input(0).isStatic() && node.output(0).isStatic()) {
      const int64_t k = node.input(0).dim(static_cast<size_t>(node.input(0).rank() - 1));
      flops = 2.0 * static_cast<double>(node.output(0).numElements()) * static_cast<double>(k);
    }
    support[node.index()] = sdk::NodeSupport::yes(5e-6 + bytes / 2e12 + flops / 5e13);
  }
}

std::unique_ptr<sdk::CompiledRegion> CudaBackend::compile(const sdk::GraphView& region) {
  DeviceScope scope(device_.ordinal);
  return compileRegion(*this, region);
}

// ---------------------------------------------------------------------------
// Note [Kernel cache]
// Generated elementwise kernels are compiled once per (target, source) in the
// process: regions with the same chain (every layer of a model, every
// compile of the same model) share the loaded library. NVRTC targets the
// device's own SASS (sm_XY) when it knows it, else the newest PTX the driver
// then JIT-compiles (nvrtcTargetFor). Libraries stay loaded until exit.

namespace {
std::mutex gKernelMutex;
std::unordered_map<uint64_t, std::unique_ptr<FusedKernel>> gKernels;
std::atomic<size_t> gCompiles{0};
}  // namespace

size_t nvrtcCompileCount() { return gCompiles.load(); }

const FusedKernel& fusedKernel(const DeviceInfo& device, const std::string& source) {
  const std::string target = nvrtcTargetFor(device.major, device.minor);
  const uint64_t key = hashText(target + "\n" + source);
  {
    std::lock_guard<std::mutex> lock(gKernelMutex);
    auto it = gKernels.find(key);
    if (it != gKernels.end()) return *it->second;
  }
  const CompiledProgram program = compileWithNvrtc(source, target);
  ++gCompiles;
  auto kernel = std::make_unique<FusedKernel>();
  kernel->target = target;
  cudaLibrary_t library = nullptr;
  checkCuda(cudaLibraryLoadData(&library, program.image.data(), nullptr, nullptr, 0, nullptr, nullptr, 0),
            "cudaLibraryLoadData");
  checkCuda(cudaLibraryGetKernel(&kernel->flat, library, "sy_fused_flat"), "cudaLibraryGetKernel(sy_fused_flat)");
  checkCuda(cudaLibraryGetKernel(&kernel->strided, library, "sy_fused_strided"),
            "cudaLibraryGetKernel(sy_fused_strided)");
  std::lock_guard<std::mutex> lock(gKernelMutex);
  auto [it, fresh] = gKernels.emplace(key, std::move(kernel));
  return *it->second;  // a racing compile of the same source keeps the first
}

}  // namespace sy_cuda
