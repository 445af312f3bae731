// OpenCL error names, devices with their program cache, and buffers.
#include <algorithm>
#include <functional>

#include "opencl_backend.h"

namespace sy_opencl {

const char* clErrorName(cl_int code) {
  switch (code) {
#define SY_CL_ERROR(e) \
  case e: return #e;
    SY_CL_ERROR(CL_SUCCESS)
    SY_CL_ERROR(CL_DEVICE_NOT_FOUND)
    SY_CL_ERROR(CL_DEVICE_NOT_AVAILABLE)
    SY_CL_ERROR(CL_COMPILER_NOT_AVAILABLE)
    SY_CL_ERROR(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    SY_CL_ERROR(CL_OUT_OF_RESOURCES)
    SY_CL_ERROR(CL_OUT_OF_HOST_MEMORY)
    SY_CL_ERROR(CL_PROFILING_INFO_NOT_AVAILABLE)
    SY_CL_ERROR(CL_MEM_COPY_OVERLAP)
    SY_CL_ERROR(CL_IMAGE_FORMAT_MISMATCH)
    SY_CL_ERROR(CL_IMAGE_FORMAT_NOT_SUPPORTED)
    SY_CL_ERROR(CL_BUILD_PROGRAM_FAILURE)
    SY_CL_ERROR(CL_MAP_FAILURE)
    SY_CL_ERROR(CL_MISALIGNED_SUB_BUFFER_OFFSET)
    SY_CL_ERROR(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    SY_CL_ERROR(CL_COMPILE_PROGRAM_FAILURE)
    SY_CL_ERROR(CL_LINKER_NOT_AVAILABLE)
    SY_CL_ERROR(CL_LINK_PROGRAM_FAILURE)
    SY_CL_ERROR(CL_DEVICE_PARTITION_FAILED)
    SY_CL_ERROR(CL_KERNEL_ARG_INFO_NOT_AVAILABLE)
    SY_CL_ERROR(CL_INVALID_VALUE)
    SY_CL_ERROR(CL_INVALID_DEVICE_TYPE)
    SY_CL_ERROR(CL_INVALID_PLATFORM)
    SY_CL_ERROR(CL_INVALID_DEVICE)
    SY_CL_ERROR(CL_INVALID_CONTEXT)
    SY_CL_ERROR(CL_INVALID_QUEUE_PROPERTIES)
    SY_CL_ERROR(CL_INVALID_COMMAND_QUEUE)
    SY_CL_ERROR(CL_INVALID_HOST_PTR)
    SY_CL_ERROR(CL_INVALID_MEM_OBJECT)
    SY_CL_ERROR(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
    SY_CL_ERROR(CL_INVALID_IMAGE_SIZE)
    SY_CL_ERROR(CL_INVALID_SAMPLER)
    SY_CL_ERROR(CL_INVALID_BINARY)
    SY_CL_ERROR(CL_INVALID_BUILD_OPTIONS)
    SY_CL_ERROR(CL_INVALID_PROGRAM)
    SY_CL_ERROR(CL_INVALID_PROGRAM_EXECUTABLE)
    SY_CL_ERROR(CL_INVALID_KERNEL_NAME)
    SY_CL_ERROR(CL_INVALID_KERNEL_DEFINITION)
    SY_CL_ERROR(CL_INVALID_KERNEL)
    SY_CL_ERROR(CL_INVALID_ARG_INDEX)
    SY_CL_ERROR(CL_INVALID_ARG_VALUE)
    SY_CL_ERROR(CL_INVALID_ARG_SIZE)
    SY_CL_ERROR(CL_INVALID_KERNEL_ARGS)
    SY_CL_ERROR(CL_INVALID_WORK_DIMENSION)
    SY_CL_ERROR(CL_INVALID_WORK_GROUP_SIZE)
    SY_CL_ERROR(CL_INVALID_WORK_ITEM_SIZE)
    SY_CL_ERROR(CL_INVALID_GLOBAL_OFFSET)
    SY_CL_ERROR(CL_INVALID_EVENT_WAIT_LIST)
    SY_CL_ERROR(CL_INVALID_EVENT)
    SY_CL_ERROR(CL_INVALID_OPERATION)
    SY_CL_ERROR(CL_INVALID_GL_OBJECT)
    SY_CL_ERROR(CL_INVALID_BUFFER_SIZE)
    SY_CL_ERROR(CL_INVALID_MIP_LEVEL)
    SY_CL_ERROR(CL_INVALID_GLOBAL_WORK_SIZE)
    SY_CL_ERROR(CL_INVALID_PROPERTY)
    SY_CL_ERROR(CL_INVALID_IMAGE_DESCRIPTOR)
    SY_CL_ERROR(CL_INVALID_COMPILER_OPTIONS)
    SY_CL_ERROR(CL_INVALID_LINKER_OPTIONS)
    SY_CL_ERROR(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef SY_CL_ERROR
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "unknown OpenCL error";
  }
}

void checkCl(cl_int code, const char* call) {
  if (code == CL_SUCCESS) return;
  const int32_t sy = code == CL_OUT_OF_HOST_MEMORY || code == CL_MEM_OBJECT_ALLOCATION_FAILURE
                         ? SY_ERROR_OUT_OF_MEMORY
                         : SY_ERROR_DEVICE;
  sdk::fail(sy, call, ": ", clErrorName(code), code < -68 || code > 0 ? sdk::format(" (", code, ")") : "");
}

// ============================================================================
// Device

Device::Device(cl_platform_id platform, cl_device_id device) : platform_(platform), device_(device) {
  size_t maxGroup = 0;
  cl_uint vec = 0;
  if (clGetDeviceInfo(device, CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT, sizeof(vec), &vec, nullptr) == CL_SUCCESS &&
      vec > 0) {
    preferredVectorFloat_ = static_cast<int>(std::min<cl_uint>(vec, 16));
  }
  cl_ulong local = 0;
  if (clGetDeviceInfo(device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof(local), &local, nullptr) == CL_SUCCESS) {
    localMemBytes_ = local;
  }
  if (clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof(maxGroup), &maxGroup, nullptr) == CL_SUCCESS) {
    maxWorkGroup_ = std::max<size_t>(maxGroup, 1);
    size_t itemSizes[3] = {0, 0, 0};
    clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof(itemSizes), itemSizes, nullptr);
    while (matmulTile_ > 1 && (static_cast<size_t>(matmulTile_ * matmulTile_) > maxGroup ||
                               static_cast<size_t>(matmulTile_) > itemSizes[0] ||
                               static_cast<size_t>(matmulTile_) > itemSizes[1])) {
      matmulTile_ /= 2;
    }
  }
}

size_t Device::defaultRowWorkGroup() const {
  size_t wg = 1;
  while (wg * 2 <= std::min<size_t>(256, maxWorkGroup_) && (wg * 2) * sizeof(float) <= localMemBytes_) wg *= 2;
  return wg;
}

cl_context Device::context() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (context_.get() == nullptr) {
    const cl_context_properties props[] = {CL_CONTEXT_PLATFORM, reinterpret_cast<cl_context_properties>(platform_), 0};
    cl_int err = CL_SUCCESS;
    cl_context c = clCreateContext(props, 1, &device_, nullptr, nullptr, &err);
    checkCl(err, "clCreateContext");
    context_ = Context(c);
  }
  return context_.get();
}

// Note [Program cache]
// Building a program costs about a second on PoCL, so every built program is
// kept, per device, keyed by (hash of the source, build options); the source
// itself is kept too and compared, so a hash collision only costs a rebuild.
// Regions create their own cl_kernel objects from the cached program
// (clSetKernelArg is not thread-safe on one kernel object). The cache lives
// until the plugin shuts down.
cl_program Device::program(const std::string& source, const std::string& options) {
  cl_context ctx = context();
  std::lock_guard<std::mutex> lock(mutex_);
  const auto key = std::make_tuple(std::hash<std::string>{}(source), options, std::string());
  auto it = programs_.find(key);
  if (it != programs_.end() && it->second.first == source) return it->second.second.get();
  const char* text = source.c_str();
  const size_t length = source.size();
  cl_int err = CL_SUCCESS;
  Program program(clCreateProgramWithSource(ctx, 1, &text, &length, &err));
  checkCl(err, "clCreateProgramWithSource");
  err = clBuildProgram(program.get(), 1, &device_, options.c_str(), nullptr, nullptr);
  if (err != CL_SUCCESS) {
    size_t logSize = 0;
    clGetProgramBuildInfo(program.get(), device_, CL_PROGRAM_BUILD_LOG, 0, nullptr, &logSize);
    std::string log(logSize, '\0');
    if (logSize > 0) clGetProgramBuildInfo(program.get(), device_, CL_PROGRAM_BUILD_LOG, logSize, log.data(), nullptr);
    while (!log.empty() && (log.back() == '\0' || log.back() == '\n')) log.pop_back();
    // A broken define can make thousands of errors: keep the start, where the first ones are.
    constexpr size_t kMaxLog = 8000;
    if (log.size() > kMaxLog) log = log.substr(0, kMaxLog) + sdk::format("\n... (", log.size() - kMaxLog, " more bytes of log)");
    sdk::fail(SY_ERROR_DEVICE, "clBuildProgram: ", clErrorName(err), "; build log:\n", log);
  }
  cl_program p = program.get();
  programs_[key] = {source, std::move(program)};
  return p;
}

void Device::releaseAll() {
  std::lock_guard<std::mutex> lock(mutex_);
  programs_.clear();
  context_.reset();
}

// ============================================================================
// Buffers

ClBuffer::ClBuffer(cl_context context, cl_command_queue queue, size_t bytes) : queue_(queue), size_(bytes) {
  if (bytes == 0) return;  // OpenCL has no empty buffers
  cl_int err = CL_SUCCESS;
  mem_ = Mem(clCreateBuffer(context, CL_MEM_READ_WRITE, bytes, nullptr, &err));
  checkCl(err, "clCreateBuffer");
}

void ClBuffer::write(size_t offset, const void* src, size_t bytes) {
  checkCl(clEnqueueWriteBuffer(queue_, mem_.get(), CL_TRUE, offset, bytes, src, 0, nullptr, nullptr),
          "clEnqueueWriteBuffer");
}

void ClBuffer::read(size_t offset, void* dst, size_t bytes) const {
  checkCl(clEnqueueReadBuffer(queue_, mem_.get(), CL_TRUE, offset, bytes, dst, 0, nullptr, nullptr),
          "clEnqueueReadBuffer");
}

// ============================================================================
// Backend

// Note [Build options]
// Every program of a backend is built with defines chosen for its device, so
// one kernel source fits a CPU driver with 4096-item work groups and a GPU
// with 256: -DTILE (matmul tile edge, from CL_DEVICE_MAX_WORK_GROUP_SIZE and
// CL_DEVICE_MAX_WORK_ITEM_SIZES), -DSY_WG (row-kernel work group: a power of
// two within the max work-group size and the local memory), -DSY_VEC
// (elements per work item of the elementwise kernels, from
// CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT), -DSY_MAX_WG and -DSY_LOCAL_MEM
// (for kernels that size local scratch themselves). The options string is
// part of the program cache key. The backend option build_options is
// appended (e.g. -cl-fast-relaxed-math, or a bad define to see a build log).
OpenClBackend::OpenClBackend(Device& device, BackendOptions options) : device_(device), options_(std::move(options)) {
  rowWorkGroup_ = options_.workGroupSize > 0 ? options_.workGroupSize : device.defaultRowWorkGroup();
  buildOptions_ = sdk::format("-cl-std=CL1.2 -DTILE=", device.matmulTile(), " -DSY_WG=", rowWorkGroup_,
                              " -DSY_VEC=", device.preferredVectorFloat(), " -DSY_MAX_WG=", device.maxWorkGroup(),
                              " -DSY_LOCAL_MEM=", device.localMemBytes());
  if (!options_.extraBuildOptions.empty()) buildOptions_ += " " + options_.extraBuildOptions;
  cl_int err = CL_SUCCESS;
  context_ = device.context();
  queue_ = Queue(clCreateCommandQueue(context_, device.id(), 0, &err));
  checkCl(err, "clCreateCommandQueue");
}

std::unique_ptr<ClBuffer> OpenClBackend::allocateCl(size_t bytes) {
  return std::make_unique<ClBuffer>(context_, queue_.get(), bytes);
}

std::unique_ptr<sdk::Buffer> OpenClBackend::allocate(size_t bytes) { return allocateCl(bytes); }

// Cost model (seconds, only compared with other estimates): a launch
// overhead per kernel plus a per-element time, with dims that are not static
// numbers counted as 1 (as the partitioner and the reference's estimate do).
// Metadata-only ops (reshape, ...) and constants cost nothing at run time.
void OpenClBackend::querySupport(const sdk::GraphView& graph, std::vector<sdk::NodeSupport>& support) {
  const bool gpu = device_.type == SY_DEVICE_GPU;
  const double perElement = gpu ? 1e-11 : 1e-9, launch = gpu ? 5e-6 : 2e-6;
  auto elements = [](const sdk::ValueView& v) {
    double e = 1;
    for (int64_t d : v.dims()) e *= d >= 0 ? static_cast<double>(d) : 1.0;
    return e;
  };
  for (const sdk::NodeView node : graph.nodes()) {
    const std::string reason = whyNot(graph, node);
    if (!reason.empty()) {
      support[node.index()] = sdk::NodeSupport::no(reason);
      continue;
    }
    const std::string_view op = node.op();
    if (op == "constant" || op == "weight" || op == "reshape" || op == "flatten" || op == "squeeze" ||
        op == "unsqueeze" || op == "identity") {
      support[node.index()] = sdk::NodeSupport::yes(0.0);
      continue;
    }
    double n = elements(node.output(0));
    if (op == "matmul" || op == "gemm") {
      const sdk::ValueView a = node.input(0);
      n *= a.rank() > 0 && a.dims()[a.rank() - 1] >= 0 ? static_cast<double>(a.dims()[a.rank() - 1]) : 64.0;
    } else if (op == "conv") {  // times the taps per output: C / group * kernel volume
      const sdk::ValueView w = node.input(1);
      for (size_t i = 1; i < w.dims().size(); ++i) n *= w.dims()[i] >= 0 ? static_cast<double>(w.dims()[i]) : 1.0;
    } else if (op == "max_pool" || op == "avg_pool") {
      for (int64_t k : node.attrInts("kernel_shape")) n *= static_cast<double>(std::max<int64_t>(k, 1));
    }
    support[node.index()] = sdk::NodeSupport::yes(launch + n * perElement);
  }
}

std::unique_ptr<sdk::CompiledRegion> OpenClBackend::compile(const sdk::GraphView& region) {
  return compileRegion(*this, region);
}

}  // namespace sy_opencl
