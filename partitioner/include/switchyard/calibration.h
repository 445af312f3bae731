// Calibrated cost estimates: per-device scale factors for the plugins' cost
// answers, measured by `switchyard calibrate` and read by the `cost` policy.
//
// A plugin's cost estimate is a guess written once for every device it may
// meet (a launch overhead plus so much per element). `switchyard calibrate`
// times each backend's op classes on this machine and stores, per backend
// (plugin name + plugin version + device name), one factor per op class:
// measured seconds / estimated seconds. The engine multiplies each node's
// estimate by the factor of its class before the cost policy weighs it, so
// two backends' estimates become comparable on this machine.
//
//   CalibrationCache cache;
//   SY_RETURN_IF_ERROR(cache.load(defaultCalibrationPath()));   // a missing file is empty
//   if (const CalibrationEntry* e = cache.find({"opencl", "0.4", "pthread-cpu"}))
//     applyCalibration(capability, *e);
//
// The cache is one JSON file (docs/partitioner.md shows its format); entries
// of other plugin versions or devices are kept when a calibration is saved.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/partitioner.h"
#include "switchyard/status.h"

namespace sy {

/// The op classes calibration times, one factor each. Every op belongs to
/// exactly one (costClassOf); "data" (view and copy ops) is never timed, so its
/// estimates stay as the plugin gave them.
const std::vector<std::string>& costClasses();

/// The class of `op`: "matmul" (matmul, gemm), "conv" (conv, conv_transpose),
/// "pool", "normalize" (softmax, the norms), "reduce" (reduce_*, argmax,
/// argmin), "data" (reshape, transpose, concat, slice, gather, ...) or
/// "elementwise" (everything else).
std::string costClassOf(std::string_view op);

/// Which backend on which device a calibration belongs to.
struct CalibrationKey {
  std::string plugin;   ///< plugin (backend) name; "reference" for the interpreter
  std::string version;  ///< the plugin's version string (Switchyard's for the reference)
  std::string device;   ///< the device's name as the plugin reports it ("host" for the reference)
  bool operator==(const CalibrationKey&) const = default;
};

/// One backend's factors.
struct CalibrationEntry {
  CalibrationKey key;
  /// Op class -> measured / estimated seconds. A class that is missing
  /// (declined by the backend, or not timed) keeps factor 1.
  std::map<std::string, double> scale;
  /// When it was measured (UTC, ISO 8601); informational.
  std::string measuredAt;
};

/// The cache file's contents.
class CalibrationCache {
 public:
  /// Reads `path`. A file that does not exist gives an empty cache; a file
  /// that is not a valid cache is an error naming the file and the problem.
  Status load(const std::string& path);
  /// Writes the cache to `path` (creating its folder), atomically (a
  /// temporary file renamed over it).
  Status save(const std::string& path) const;
  /// The entry of `key`, or nullptr.
  const CalibrationEntry* find(const CalibrationKey& key) const;
  /// Adds `entry`, replacing one of the same key.
  void put(CalibrationEntry entry);
  const std::vector<CalibrationEntry>& entries() const { return entries_; }

 private:
  std::vector<CalibrationEntry> entries_;
};

/// $XDG_CACHE_HOME/switchyard/calibration.json, or ~/.cache/switchyard/...
/// when XDG_CACHE_HOME is unset or empty ("" when neither it nor HOME is set).
std::string defaultCalibrationPath();

/// Multiplies the cost of every node `capability` answers for by the factor
/// of the node's class in `entry` (classes without a factor are unchanged).
void applyCalibration(BackendCapability& capability, const CalibrationEntry& entry);

}  // namespace sy
