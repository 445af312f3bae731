// The plugin: lists every OpenCL device of every platform and makes backends.
#include <optional>
#include <regex>

#include "opencl_backend.h"

namespace sy_opencl {
namespace {

int32_t deviceScore(cl_device_type type) {
  if (type & CL_DEVICE_TYPE_GPU) return 300;
  if (type & CL_DEVICE_TYPE_ACCELERATOR) return 200;
  return 100;  // CPU and anything else
}

std::string deviceString(cl_device_id device, cl_device_info what) {
  size_t size = 0;
  if (clGetDeviceInfo(device, what, 0, nullptr, &size) != CL_SUCCESS || size == 0) return "";
  std::string s(size, '\0');
  if (clGetDeviceInfo(device, what, size, s.data(), nullptr) != CL_SUCCESS) return "";
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

std::string platformString(cl_platform_id platform, cl_platform_info what) {
  size_t size = 0;
  if (clGetPlatformInfo(platform, what, 0, nullptr, &size) != CL_SUCCESS || size == 0) return "";
  std::string s(size, '\0');
  if (clGetPlatformInfo(platform, what, size, s.data(), nullptr) != CL_SUCCESS) return "";
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

class OpenClPlugin : public sdk::Plugin {
 public:
  OpenClPlugin() : Plugin("opencl", "0.1.0", "Switchyard") {}

  // Devices are enumerated once, on the first call after init; zero
  // platforms (CL_PLATFORM_NOT_FOUND_KHR from the ICD loader) is zero devices.
  size_t deviceCount() override { return devices().size(); }

  sdk::DeviceInfo deviceInfo(size_t device) override {
    Device& d = *devices().at(device);
    sdk::DeviceInfo info;
    info.name = d.name;
    info.type = d.type;
    info.memoryBytes = d.memoryBytes;
    info.score = d.score;
    info.hostVisibleMemory = false;
    return info;
  }

  // Options (README "Options"): device_name, work_group_size, build_options.
  std::unique_ptr<sdk::Backend> createBackend(size_t device, const sdk::Options& options) override {
    auto& all = devices();
    if (const auto pattern = options.get("device_name")) device = deviceByName(all, *pattern);
    Device& d = *all.at(device);
    BackendOptions o;
    // 0 would read as "unset": a given value must be a real power of two.
    const bool wgGiven = options.get("work_group_size").has_value();
    const int64_t wg = options.getInt("work_group_size", 0);
    sdk::require((!wgGiven && wg == 0) || (wg > 0 && (wg & (wg - 1)) == 0 && static_cast<uint64_t>(wg) <= d.maxWorkGroup() &&
                             static_cast<uint64_t>(wg) * sizeof(float) <= d.localMemBytes()),
                 SY_ERROR_INVALID_ARGUMENT, "option 'work_group_size': expected a power of two <= ",
                 d.maxWorkGroup(), " (the device's CL_DEVICE_MAX_WORK_GROUP_SIZE), got ", wg);
    o.workGroupSize = static_cast<size_t>(wg);
    o.extraBuildOptions = options.getString("build_options", "");
    return std::make_unique<OpenClBackend>(d, std::move(o));
  }

  // Every object is destroyed by now: drop contexts and cached programs so a
  // later init starts clean.
  void shutdown() override {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& d : devices_) d->releaseAll();
  }

 private:
  // Note [device_name]
  // The host picks a device by index or by a case-sensitive glob on the name
  // (config `device:`). The option `device_name` is a case-insensitive
  // ECMAScript regular expression searched in "<device> (<platform>)" (so a
  // plain substring such as "pocl" or "nvidia" works); when given it replaces
  // the host's choice: the matching device with the highest score (GPU >
  // accelerator > CPU), the first one listed on a tie. No match is an error
  // that lists the devices.
  static size_t deviceByName(const std::vector<std::unique_ptr<Device>>& all, const std::string& pattern) {
    std::regex re;
    try {
      re = std::regex(pattern, std::regex::ECMAScript | std::regex::icase);
    } catch (const std::regex_error& e) {
      sdk::fail(SY_ERROR_INVALID_ARGUMENT, "option 'device_name': '", pattern, "' is not a valid regular expression (",
                e.what(), ")");
    }
    std::optional<size_t> best;
    std::string names;
    for (size_t i = 0; i < all.size(); ++i) {
      names += (names.empty() ? "" : "; ") + all[i]->name;
      if (!std::regex_search(all[i]->name, re)) continue;
      if (!best || all[i]->score > all[*best]->score) best = i;
    }
    if (!best.has_value())
      sdk::fail(SY_ERROR_INVALID_ARGUMENT, "option 'device_name': no OpenCL device matches '", pattern,
                "' (case-insensitive; devices: ", names.empty() ? "none" : names, ")");
    return *best;
  }

  std::vector<std::unique_ptr<Device>>& devices() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (enumerated_) return devices_;
    devices_.clear();  // a failed earlier enumeration may have listed some
    cl_uint numPlatforms = 0;
    cl_int err = clGetPlatformIDs(0, nullptr, &numPlatforms);
    if (err == CL_SUCCESS && numPlatforms > 0) {
      std::vector<cl_platform_id> platforms(numPlatforms);
      checkCl(clGetPlatformIDs(numPlatforms, platforms.data(), nullptr), "clGetPlatformIDs");
      for (cl_platform_id p : platforms) {
        cl_uint numDevices = 0;
        if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, nullptr, &numDevices) != CL_SUCCESS || numDevices == 0) continue;
        std::vector<cl_device_id> ids(numDevices);
        if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, numDevices, ids.data(), nullptr) != CL_SUCCESS) continue;
        const std::string platformName = platformString(p, CL_PLATFORM_NAME);
        for (cl_device_id id : ids) {
          auto d = std::make_unique<Device>(p, id);
          cl_device_type type = CL_DEVICE_TYPE_CPU;
          clGetDeviceInfo(id, CL_DEVICE_TYPE, sizeof(type), &type, nullptr);
          cl_ulong mem = 0;
          clGetDeviceInfo(id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof(mem), &mem, nullptr);
          d->name = deviceString(id, CL_DEVICE_NAME) + " (" + platformName + ")";
          d->type = (type & CL_DEVICE_TYPE_GPU) ? SY_DEVICE_GPU
                    : (type & CL_DEVICE_TYPE_ACCELERATOR) ? SY_DEVICE_ACCELERATOR
                                                          : SY_DEVICE_CPU;
          d->memoryBytes = mem;
          d->score = deviceScore(type);
          devices_.push_back(std::move(d));
        }
      }
    } else if (err != CL_SUCCESS && err != -1001 /* CL_PLATFORM_NOT_FOUND_KHR */) {
      checkCl(err, "clGetPlatformIDs");
    }
    enumerated_ = true;
    return devices_;
  }

  std::mutex mutex_;
  bool enumerated_ = false;
  std::vector<std::unique_ptr<Device>> devices_;
};

}  // namespace
}  // namespace sy_opencl

SY_DEFINE_PLUGIN(sy_opencl::OpenClPlugin)
