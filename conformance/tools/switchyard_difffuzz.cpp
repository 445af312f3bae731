// switchyard-difffuzz: the differential fuzzer (docs/fuzzing.md).
//
//   switchyard-difffuzz --plugin build/plugins/libsy_plugin_cpu.so --time 60 --seed 1
//   switchyard-difffuzz --replay difffuzz-out/cpu-max_pool-value-nonfinite-1 --plugin build/plugins/libsy_plugin_cpu.so
//
// Exit status: 0 when every disagreement found is in the known-open list,
// 1 when a new one was found (or, with --replay, when the reproducer still
// disagrees), 2 for usage errors and set-up failures.
#include <CLI/CLI.hpp>
#include <iostream>

#include "switchyard/diff_fuzz.h"

int main(int argc, char** argv) {
  namespace df = sy::difffuzz;
  CLI::App app{"Switchyard differential fuzzer: mutates valid programs and compares every plugin with the reference"};
  df::Options o;
  std::string replayDir;
  app.add_option("--plugin", o.plugins, "plugin .so to compare with the reference (repeatable)");
  app.add_option("--seed", o.seed, "seed of every random choice")->capture_default_str();
  app.add_option("--iterations,-n", o.iterations, "mutants to try (0 = no bound)")->capture_default_str();
  app.add_option("--time,-t", o.seconds, "seconds to run (0 = no bound)")->capture_default_str();
  app.add_option("--case-timeout", o.caseTimeout, "seconds the reference may take on one mutant")->capture_default_str();
  app.add_option("--examples", o.examplesDir, "folder of .sy seed programs (default: the source tree's examples/)");
  app.add_option("--out,-o", o.outDir, "folder for reproducers")->capture_default_str();
  app.add_option("--known", o.knownPath,
                 "known-open disagreements file (default: conformance/declarations/difffuzz-known.txt; 'none' = no list)");
  app.add_option("--seeds", o.seedFilters, "globs on seed ids to keep, e.g. 'ops.max_pool.*' or 'examples/mlp.sy' (repeatable)");
  app.add_option("--reproducers", o.reproducersPerSignature, "reproducer folders written per signature")->capture_default_str();
  app.add_flag("--verbose,-v", o.verbose, "one line per mutant");
  app.add_option("--replay", replayDir, "run a reproducer folder again on the reference and the --plugin(s), and exit");
  CLI11_PARSE(app, argc, argv);

  if (!replayDir.empty()) {
    auto r = df::replay(replayDir, o.plugins, std::cout, o.caseTimeout);
    if (!r.ok()) {
      std::cerr << "switchyard-difffuzz: " << r.status().message() << "\n";
      return 2;
    }
    std::cout << *r << " disagreement(s)\n";
    return *r == 0 ? 0 : 1;
  }
  if (o.plugins.empty()) {
    std::cerr << "switchyard-difffuzz: give at least one --plugin\n";
    return 2;
  }
  auto summary = df::run(o, std::cerr);
  if (!summary.ok()) {
    std::cerr << "switchyard-difffuzz: " << summary.status().message() << "\n";
    return 2;
  }
  std::cout << df::formatSummary(*summary);
  return summary->newFindings() == 0 ? 0 : 1;
}
