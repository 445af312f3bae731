// The conformance suite: checks one backend plugin against the plugin ABI
// (api scope, mandatory), against the reference interpreter op by op (ops
// scope, generated from the op registry), on the example models through the
// partitioner (models scope), on the example models through the real
// partitioner and runtime with every claimed region held to its claim (engine
// scope), and on the ONNX backend node tests (onnx scope).
//
//   RunOptions o;
//   o.plugin = "memdev";            // a name, a path, or "reference"
//   auto report = runConformance(o); // forks one child per case group
//   std::cout << formatSummaryTable(*report);
//
// docs/conformance.md is the user guide: the command line, reading the
// report, declarations files and the tolerance table.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "switchyard/status.h"

namespace sy::conformance {

/// What happened to one case.
enum class Outcome {
  Passed,
  Failed,            ///< wrong result, or a rule of the ABI broken
  Unsupported,       ///< the plugin declined it (information, not a failure)
  Skipped,           ///< not run: declared unsupported, not applicable, or no data
  Crashed,           ///< the child process died (signal or exit) while running it
  TimedOut,          ///< the child was killed after --timeout seconds on it
  ExpectedFailure,   ///< failed, and the declarations say it does
  UnexpectedPass,    ///< declared as an expected failure, but passed (update the declarations)
};

/// "passed", "failed", "unsupported", "skipped", "crashed", "timed out",
/// "expected failure", "unexpected pass".
const char* outcomeName(Outcome o);
/// Which bucket of the closing line an outcome counts in.
enum class Bucket { Passed, Failed, Skipped };
Bucket bucketOf(Outcome o);

/// The worst element of a numeric comparison.
struct WorstElement {
  std::string output;     ///< "y" / output index
  std::string index;      ///< "[1, 2]"
  double got = 0;
  double expected = 0;
  double absError = 0;
  double tolerance = 0;   ///< allowed absolute error at that element
};

/// The result of one case.
struct CaseResult {
  std::string id;          ///< "ops.add.f32.broadcast"
  std::string scope;       ///< api, ops, models, onnx
  std::string group;       ///< the unit of process isolation, e.g. "ops.add"
  std::string op;          ///< ops scope: the op; else empty
  Outcome outcome = Outcome::Skipped;
  std::string message;     ///< why it failed / was declined / skipped; notes for passes
  bool hasWorst = false;   ///< a numeric comparison ran
  WorstElement worst;
  double nmse = 0;         ///< normalised mean squared error of the worst output
  double seconds = 0;
  std::string declaration; ///< the matching declarations line's reason, if any
  /// Scope-specific facts as the text of a JSON object, "" when none. The
  /// engine scope: nodes taken, regions, compile fallbacks, the execute error
  /// and the declined nodes (docs/conformance.md lists the fields).
  std::string details;
};

/// Options of one run (the command line's flags).
struct RunOptions {
  std::string plugin;                       ///< name (search path), path to a .so, or "reference"
  std::string device;                       ///< "" = best score; a number; or a glob on device names
  std::vector<std::pair<std::string, std::string>> backendOptions;  ///< passed to backend_create
  std::vector<std::string> scopes = {"api", "ops", "models", "engine", "onnx"};
  std::vector<std::string> filters;         ///< globs on case ids; empty = all; a leading '-' excludes
  int jobs = 1;
  double timeoutSeconds = 30;               ///< per case
  std::string declarationsPath;             ///< "" = <declarations dir>/<plugin name>.txt when it exists
  std::string examplesDir;                  ///< "" = the source tree's examples/
  std::string onnxNodeDir;                  ///< "" = /usr/include/onnx/backend/test/data/node
  bool progress = false;                    ///< live progress line on stderr
  bool verbose = false;                     ///< let children's stdout/stderr through
};

/// What a run produced.
struct Report {
  std::string plugin, pluginPath, pluginVersion, abiVersion, device;
  std::vector<std::string> scopes;
  std::vector<std::string> notes;           ///< scope-level notes (e.g. "onnx: skipped: ...")
  std::vector<CaseResult> cases;
  std::string declarationsPath;
  double seconds = 0;
  int count(Bucket b) const;
};

/// Lists the case ids that a run with `options` would run (after filters),
/// with their declaration marks. Does not load the plugin.
Result<std::vector<std::string>> listCases(const RunOptions& options);

/// Runs the suite.
Result<Report> runConformance(const RunOptions& options);

/// The console summary: per op (ops scope) and per scope, passed / failed /
/// unsupported / skipped and the worst error; then one line per failure.
std::string formatSummaryTable(const Report& report);
/// "N passed, N failed, N skipped".
std::string closingLine(const Report& report);
/// JSON report (see docs/conformance.md for the fields).
std::string toJson(const Report& report);
/// JUnit XML (one testsuite per scope).
std::string toJUnit(const Report& report);

}  // namespace sy::conformance
