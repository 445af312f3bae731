// Device configuration: which backends to use, in which order, with which options,
// what to do with what none of them runs, and where plugins are found.
//
// A Config is read from a YAML file (docs/config.md describes every key) and may
// then be overridden from the command line (`--backends vulkan,cpu`) or from the
// environment (SWITCHYARD_BACKENDS). Every error names the file, line and column.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/status.h"

namespace sy {

/// What happens to nodes that no configured backend accepts.
enum class FallbackPolicy {
  Reference,  ///< "reference": run them on the reference interpreter
  Error,      ///< "error": compilation fails, naming the nodes
};

/// How the partitioner places a node that several backends accept.
enum class PartitionPolicy {
  Priority,  ///< "priority": the first backend in config order that supports it
  Cost,      ///< "cost": the cheapest, counting compute and transfers
};

/// "reference" / "error".
std::string_view fallbackPolicyName(FallbackPolicy policy);
/// "priority" / "cost".
std::string_view partitionPolicyName(PartitionPolicy policy);

/// A position in a config file (or the name of a command-line flag or environment
/// variable, with line 0, for things that came from there).
struct SourceLocation {
  std::string file;
  int line = 0;    ///< 1-based; 0 when unknown
  int column = 0;  ///< 1-based; 0 when unknown

  /// "file:line:col"; just "file" when the line is unknown.
  std::string toString() const;
};

/// One entry of the backend list.
struct BackendConfig {
  std::string name;    ///< plugin/backend name, e.g. "cpu", "opencl", "reference"
  std::string device;  ///< "" = default; a decimal index ("1") or a glob-style name pattern ("*Intel*")
  std::map<std::string, std::string> options;  ///< per-backend key/values passed to the plugin
  /// Key `isolation: process`: the plugin runs in a helper process of its own
  /// (docs/isolation.md); `none` (the default) loads it into this process.
  bool isolateProcess = false;
  /// Key `timeout_ms` (with isolation): the longest one call to the plugin may
  /// take before its helper is killed; 0 = the default (60000).
  int64_t timeoutMs = 0;
  SourceLocation where;                        ///< where it was declared (for "unknown backend" errors raised later)
  /// Key `optional`: a backend that cannot be used here (no plugin of that
  /// name, a plugin that fails to load, no matching device) is skipped with a
  /// warning instead of failing Engine::create.
  bool optional = false;
  /// Where each option's key was written (for errors about one option).
  std::map<std::string, SourceLocation> optionWhere;
};

/// Forces an op kind or one node onto a backend. Exactly one of op/node is set.
struct PinConfig {
  std::string op;
  std::string node;
  std::string backend;
  SourceLocation where;
};

struct PartitionConfig {
  PartitionPolicy policy = PartitionPolicy::Priority;
  int64_t minRegionNodes = 1;         ///< regions with fewer nodes go to the fallback
  double transferCostPerByte = 1e-9;  ///< seconds per byte moved between devices
  /// Key `boundary_cost`: a region whose boundary (one region call plus the
  /// bytes moved) costs more than it saves joins its neighbour's backend, in
  /// both policies (docs/partitioner.md); false turns that off.
  bool boundaryCost = true;
  /// Key `region_call_cost`: seconds one region call costs; the default is
  /// bench/runtime_bench's measured per-region overhead (PartitionOptions).
  double regionCallCost = 2.5e-6;
  /// Key `calibration`: the scale-factor cache `switchyard calibrate` writes,
  /// read by the cost policy; "" = the default file
  /// ($XDG_CACHE_HOME/switchyard/calibration.json), "none" = no calibration.
  std::string calibration;
};

struct Config {
  std::vector<BackendConfig> backends;  ///< priority order; empty = every plugin found, best device score first
  FallbackPolicy fallback = FallbackPolicy::Reference;
  bool retryOnReference = false;  ///< a region that fails at run time is retried on the reference interpreter
  PartitionConfig partition;
  std::vector<PinConfig> pins;
  std::vector<std::string> pluginPaths;  ///< relative paths are resolved against the config file's folder
  /// Also search SWITCHYARD_PLUGIN_PATH and the install's plugin folders after
  /// pluginPaths; false makes the search hermetic (only pluginPaths).
  bool defaultPluginPaths = true;
  bool strict = false;                   ///< a plugin that fails to load is an error, not a warning
  /// Key `memory_budget`: bytes one run may accumulate in loop scan outputs
  /// (Note [memory budget]); 0 = defaultMemoryBudget().
  uint64_t memoryBudget = 0;
  std::string sourcePath;                ///< the file it came from ("" for defaults)
};

/// True if `name` is a valid backend or op name: one or more of [A-Za-z0-9_.-].
bool isValidConfigName(std::string_view name);

/// Reads and validates a YAML config file. An empty file gives the defaults.
Result<Config> loadConfig(const std::string& path);

/// Parses YAML text; `origin` names it in error messages and becomes `sourcePath`,
/// relative plugin paths are resolved against `baseDir`.
Result<Config> parseConfig(std::string_view yamlText, const std::string& origin, const std::string& baseDir = ".");

/// Backends: none listed (every plugin found, in discovery order); fallback reference.
Config defaultConfig();

/// Replaces the backend list by a comma-separated list ("vulkan,cpu"), keeping the
/// device and options of backends already listed. Empty names, duplicates and bad
/// characters are errors naming `source` (e.g. "--backends" or "SWITCHYARD_BACKENDS").
Status overrideBackends(Config& config, std::string_view commaList, std::string_view source);

/// Applies SWITCHYARD_BACKENDS from the environment if it is set and not empty.
Status applyEnvironment(Config& config);

}  // namespace sy
