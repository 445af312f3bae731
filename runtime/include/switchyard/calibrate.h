// `switchyard calibrate`: time each backend's op classes on this machine and
// turn the plugins' cost guesses into per-device scale factors
// (switchyard/calibration.h holds the cache and the op classes).
//
// For every backend of an engine (the reference interpreter included) and
// every timed op class, calibrate() builds a small graph of one such op (two
// for conv: a 2-D and a 3-D one), runs it on that backend alone (the op is
// pinned there) and divides the median run time by the backend's own
// estimate for the node. A class's factor is the geometric mean over its
// graphs. A backend that declines a class's op gets no factor for it (its
// estimates for that class stay as they are).
//
// The median run includes one region call and, on a device that is not host
// visible, the copies of the inputs and outputs; the graphs are sized so that
// the op's work dominates (a few milliseconds on the reference interpreter).
#pragma once

#include <string>
#include <vector>

#include "switchyard/calibration.h"
#include "switchyard/engine.h"

namespace sy {

/// Knobs of calibrate().
struct CalibrateOptions {
  /// Time spent per (backend, graph), at least `minRuns` runs.
  double secondsPerCase = 0.25;
  int minRuns = 3;
  /// Backend names to calibrate; empty = every backend of the engine.
  std::vector<std::string> backends;
  /// Op classes to time; empty = all of them ("matmul", "conv", "pool",
  /// "normalize", "reduce", "elementwise").
  std::vector<std::string> classes;
};

/// One timed graph, for the report.
struct CalibrationSample {
  std::string backend;
  std::string opClass;
  std::string graph;     ///< e.g. "conv f32[1,8,8,16,16] * f32[16,8,3,3,3]"
  double estimated = 0;  ///< the backend's estimate (seconds), 0 when declined
  double measured = 0;   ///< median seconds per run, 0 when declined
  std::string note;      ///< why no factor ("declined: ..."), or ""
};

/// What calibrate() found.
struct CalibrationReport {
  std::vector<CalibrationEntry> entries;  ///< one per backend
  std::vector<CalibrationSample> samples;
};

/// The cache key of one engine backend: plugin name, plugin version, device
/// name; the reference interpreter is {"reference", Switchyard's version, "host"}.
CalibrationKey calibrationKeyOf(const EngineBackend& backend);

/// Times `engine`'s backends as described above. The engine itself is not
/// changed: each case compiles on a fresh engine made from engine.config()
/// with that backend alone.
Result<CalibrationReport> calibrate(const Engine& engine, const CalibrateOptions& options);

/// The cache file `config` names: partition.calibration, or the default
/// (defaultCalibrationPath()) when that is ""; "" when it is "none".
std::string calibrationPathFor(const Config& config);

/// Scales `caps` (one per backend, in `backends` order) by the cache's
/// factors for each backend's key; backends without an entry are unchanged.
/// A missing cache file is no calibration; a broken one is an error.
Status applyCalibrationCache(const Config& config, const std::vector<EngineBackend>& backends,
                             std::vector<BackendCapability>& caps);

}  // namespace sy
