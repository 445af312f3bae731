// The calibration cache (switchyard/calibration.h): op classes, the JSON
// file, and applying factors to a backend's capability answers.
#include "switchyard/calibration.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "switchyard/file_io.h"

namespace sy {

namespace {

namespace fs = std::filesystem;

constexpr int kFormatVersion = 1;
constexpr uint64_t kMaxCacheBytes = 16u << 20;

bool startsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace

const std::vector<std::string>& costClasses() {
  static const std::vector<std::string> classes = {"matmul", "conv",   "pool",       "normalize",
                                                   "reduce", "data",   "elementwise"};
  return classes;
}

std::string costClassOf(std::string_view op) {
  if (op == "matmul" || op == "gemm") return "matmul";
  if (op == "conv" || op == "conv_transpose") return "conv";
  if (op == "max_pool" || op == "avg_pool" || op == "global_avg_pool" || op == "global_max_pool") return "pool";
  if (op == "softmax" || op == "log_softmax" || op == "batch_norm" || op == "layer_norm" || op == "instance_norm")
    return "normalize";
  if (startsWith(op, "reduce_") || op == "argmax" || op == "argmin") return "reduce";
  static const char* const kData[] = {"reshape", "transpose", "concat", "slice",  "gather",  "split",
                                      "squeeze", "unsqueeze", "flatten", "expand", "tile",    "pad",
                                      "identity", "shape",    "cast",    "resize", "constant", "weight",
                                      "constant_of_shape", "range"};
  for (const char* d : kData)
    if (op == d) return "data";
  return "elementwise";
}

Status CalibrationCache::load(const std::string& path) {
  entries_.clear();
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::OK();
  SY_ASSIGN_OR_RETURN(std::string text, readRegularFile(path, kMaxCacheBytes, "calibration cache"));
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto bad = [&](const std::string& what) {
    return invalidArgument("calibration cache ", path, ": ", what,
                           " (run `switchyard calibrate` again, or delete the file)");
  };
  if (j.is_discarded()) return bad("not valid JSON");
  if (!j.is_object() || !j.contains("entries") || !j["entries"].is_array())
    return bad("expected an object with an \"entries\" list");
  if (!j.contains("format") || !j["format"].is_number_integer() || j["format"].get<int64_t>() != kFormatVersion)
    return bad("expected \"format\": " + std::to_string(kFormatVersion));
  size_t i = 0;
  for (const nlohmann::json& e : j["entries"]) {
    const std::string where = "entry " + std::to_string(i++);
    if (!e.is_object()) return bad(where + " is not an object");
    CalibrationEntry entry;
    for (auto [field, out] : {std::pair<const char*, std::string*>{"plugin", &entry.key.plugin},
                              {"version", &entry.key.version},
                              {"device", &entry.key.device},
                              {"measured_at", &entry.measuredAt}}) {
      if (!e.contains(field)) {
        if (out == &entry.measuredAt) continue;
        return bad(where + " has no \"" + field + "\"");
      }
      if (!e[field].is_string()) return bad(where + ": \"" + field + "\" must be a string");
      *out = e[field].get<std::string>();
    }
    if (!e.contains("scale") || !e["scale"].is_object()) return bad(where + " has no \"scale\" object");
    for (auto it = e["scale"].begin(); it != e["scale"].end(); ++it) {
      const auto& classes = costClasses();
      if (std::find(classes.begin(), classes.end(), it.key()) == classes.end())
        return bad(where + ": unknown op class \"" + it.key() + "\"");
      if (!it.value().is_number()) return bad(where + ": scale of \"" + it.key() + "\" is not a number");
      const double f = it.value().get<double>();
      if (!std::isfinite(f) || f <= 0) return bad(where + ": scale of \"" + it.key() + "\" must be > 0");
      entry.scale[it.key()] = f;
    }
    put(std::move(entry));
  }
  return Status::OK();
}

Status CalibrationCache::save(const std::string& path) const {
  nlohmann::json j;
  j["format"] = kFormatVersion;
  j["entries"] = nlohmann::json::array();
  for (const CalibrationEntry& e : entries_) {
    nlohmann::json o;
    o["plugin"] = e.key.plugin;
    o["version"] = e.key.version;
    o["device"] = e.key.device;
    if (!e.measuredAt.empty()) o["measured_at"] = e.measuredAt;
    o["scale"] = nlohmann::json::object();
    for (const auto& [cls, f] : e.scale) o["scale"][cls] = f;
    j["entries"].push_back(std::move(o));
  }
  std::error_code ec;
  const fs::path target(path);
  if (target.has_parent_path()) {
    fs::create_directories(target.parent_path(), ec);
    if (ec) return invalidArgument("calibration cache ", path, ": cannot create its folder: ", ec.message());
  }
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return invalidArgument("calibration cache ", path, ": cannot write ", tmp);
    out << j.dump(2) << "\n";
    if (!out.flush()) return invalidArgument("calibration cache ", path, ": writing ", tmp, " failed");
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return invalidArgument("calibration cache ", path, ": cannot replace it: ", ec.message());
  }
  return Status::OK();
}

const CalibrationEntry* CalibrationCache::find(const CalibrationKey& key) const {
  for (const CalibrationEntry& e : entries_)
    if (e.key == key) return &e;
  return nullptr;
}

void CalibrationCache::put(CalibrationEntry entry) {
  for (CalibrationEntry& e : entries_)
    if (e.key == entry.key) {
      e = std::move(entry);
      return;
    }
  entries_.push_back(std::move(entry));
}

std::string defaultCalibrationPath() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) return (fs::path(xdg) / "switchyard" / "calibration.json").string();
  const char* home = std::getenv("HOME");
  if (home && *home) return (fs::path(home) / ".cache" / "switchyard" / "calibration.json").string();
  return "";
}

void applyCalibration(BackendCapability& capability, const CalibrationEntry& entry) {
  if (entry.scale.empty()) return;
  for (auto& [node, support] : capability.nodes) {
    auto it = entry.scale.find(costClassOf(node->op()));
    if (it != entry.scale.end()) support.cost *= it->second;
  }
}

}  // namespace sy
