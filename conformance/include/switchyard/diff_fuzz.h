// The differential fuzzer: mutates valid programs and runs each mutant on the
// reference interpreter and on every plugin given, reporting disagreements.
//
//   sy::difffuzz::Options o;
//   o.plugins = {"build/plugins/libsy_plugin_cpu.so"};
//   o.seconds = 60;
//   auto summary = sy::difffuzz::run(o, std::cerr);
//
// Seeds are the conformance op cases (one graph per case) and the example
// programs (examples/*.sy with their weights). A mutant is a seed's canonical
// text with a few structural mutations (static dims remapped consistently,
// one attribute value changed, one elementwise op swapped for another of the
// same category) that still verifies, run on freshly drawn inputs (symbolic
// dims bound to small sizes, values with NaN, infinities, signed zeros,
// denormals and large magnitudes mixed in, integer extremes).
//
// A disagreement is one of: `value` (outputs differ beyond the conformance
// tolerance of their dtype, NaN meeting NaN), `shape` (output count, dtype or
// shape differ), `plugin-error` (the reference ran, the plugin's run failed),
// `reference-error` (the plugin ran what the reference refused),
// `reference-crash`/`reference-timeout` (the reference, run in a child
// process, died or overran). Each is keyed by a signature (plugin, op, kind,
// input class: `nonfinite` when a float input or a mutated attribute holds NaN
// or an infinity, else `subnormal` when a float input holds a denormal, else
// `finite`); the first ones of each signature are
// written as reproducer folders that `replay` runs again. A signature listed
// in the known-open file (docs/fuzzing.md) is reported but does not count as
// new. docs/fuzzing.md is the user guide.
#pragma once
#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "switchyard/status.h"

namespace sy::difffuzz {

struct Options {
  std::vector<std::string> plugins;   ///< paths to plugin .so files
  uint64_t seed = 1;                  ///< everything drawn follows from it
  int64_t iterations = 0;             ///< mutants to try; 0 = no bound (then `seconds` bounds the run)
  double seconds = 0;                 ///< wall-clock bound; 0 = none
  double caseTimeout = 5;             ///< seconds the reference may take on one mutant
  std::string examplesDir;            ///< "" = the source tree's examples/
  std::string outDir = "difffuzz-out";  ///< reproducers go here (created)
  std::string knownPath;              ///< "" = conformance/declarations/difffuzz-known.txt; "none" = no list
  std::vector<std::string> seedFilters;  ///< globs on seed ids ("ops.add.*", "examples/mlp.sy"); empty = all
  int reproducersPerSignature = 1;
  bool verbose = false;               ///< one line per mutant
};

/// One signature's disagreements.
struct Finding {
  std::string plugin, op, kind, inputClass;  ///< the signature
  std::string message;                       ///< the first occurrence's details
  std::string seedId;                        ///< the seed it was mutated from
  std::vector<std::string> reproducers;      ///< folders written
  int64_t count = 0;
  bool known = false;
  std::string knownReason;
  std::string signature() const { return plugin + " " + op + " " + kind + " " + inputClass; }
};

struct PluginStats {
  int64_t runs = 0;   ///< mutants run through the engine with this plugin
  int64_t took = 0;   ///< of them, where the plugin took at least one node
};

struct Summary {
  uint64_t seed = 0;
  int64_t seeds = 0;          ///< seed programs in the pool
  int64_t iterations = 0;     ///< mutants drawn
  int64_t rejected = 0;       ///< structural mutations the verifier refused (the seed ran instead)
  int64_t referenceErrors = 0;  ///< mutants the reference refused at run time (still compared)
  std::map<std::string, PluginStats> plugins;
  std::vector<Finding> findings;  ///< one per signature, in order of discovery
  double seconds = 0;
  int64_t newFindings() const;    ///< signatures not in the known list
};

/// Runs the fuzzer. Progress and findings go to `log` as they happen.
Result<Summary> run(const Options& options, std::ostream& log);

/// The closing table: iterations, per-plugin runs, and every signature.
std::string formatSummary(const Summary& summary);

/// Runs a reproducer folder again on the reference and `plugins`; prints each
/// comparison to `log` and returns the number of disagreements.
Result<int> replay(const std::string& dir, const std::vector<std::string>& plugins, std::ostream& log,
                   double caseTimeout = 5);

}  // namespace sy::difffuzz
