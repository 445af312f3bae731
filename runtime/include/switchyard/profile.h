// Where the time of a model's runs goes: regions, and the steps inside them
// that a plugin reports (ABI 1.2 execute_profiled), summed over runs, the way
// ONNX Runtime's profiler summarises its node events. `switchyard bench
// --profile` prints it (docs/benchmarks.md#per-step-profiles).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "switchyard/engine.h"

namespace sy {

/// One line of a profile: a kind of step (same op(s), same shapes) on one
/// backend, summed over the runs; or a region with no step timings; or the
/// part of a region's time outside its reported steps.
struct ProfileRow {
  enum class Kind { Step, Region, OutsideSteps };
  Kind kind = Kind::Step;
  std::string backend;
  std::string what;      ///< a step's op(s) ("conv + sigmoid + mul"), else "region 3 (12 nodes)" / "outside steps"
  std::string detail;    ///< a step's shapes, may be empty
  int64_t count = 0;     ///< events summed (steps of this kind in all runs)
  double totalUs = 0;
  double sharePercent = 0;  ///< of all regions' time in all runs
};

/// The summary of the events of `runs` runs (RunOptions::trace with
/// profileSteps). Rows are sorted by time, largest first; their shares sum to
/// 100% of the regions' time (transfers and host control flow are outside
/// regions and not in it).
struct Profile {
  int64_t runs = 0;
  double regionUs = 0;      ///< all regions' time, all runs
  double stepUs = 0;        ///< of which inside reported steps
  int regionsWithSteps = 0;
  int regionsWithoutSteps = 0;
  std::vector<ProfileRow> rows;
};

Profile summarizeProfile(const std::vector<TraceEvent>& events, int64_t runs);

/// A table of the first `maxRows` rows (0: all), with the rest summed in one
/// line; times are per run.
std::string formatProfile(const Profile& profile, size_t maxRows);

}  // namespace sy
