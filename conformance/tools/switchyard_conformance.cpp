// switchyard-conformance: runs the conformance suite against one plugin.
//
//   switchyard-conformance --plugin memdev --json report.json --junit report.xml
//
// The last line of the output is always "N passed, N failed, N skipped". Exit
// status: 0 when nothing failed, 1 when a case failed (a broken ABI rule, a
// wrong result on a claimed op, a crash or a timeout), 2 for usage errors.
// docs/conformance.md describes the flags, the report and declarations files.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <thread>

#include "switchyard/conformance.h"

namespace {

std::vector<std::string> splitComma(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

bool writeFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  namespace conf = sy::conformance;
  CLI::App app{"Switchyard conformance suite: checks a backend plugin against the plugin ABI and the reference interpreter"};
  conf::RunOptions o;
  std::string scopes = "api,ops,models,engine,onnx", filter, json, junit;
  std::vector<std::string> options;
  bool list = false;
  o.jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  app.add_option("--plugin", o.plugin, "plugin name (searched in SWITCHYARD_PLUGIN_PATH and the install), a path to its .so, or 'reference'")
      ->required();
  app.add_option("--device", o.device, "device index or a glob on device names (default: the highest score)");
  app.add_option("--option", options, "backend option KEY=VALUE passed to backend_create (repeatable)");
  app.add_option("--scope", scopes, "comma list of scopes: api (mandatory rules), ops, models, engine, onnx")->capture_default_str();
  app.add_option("--filter", filter, "comma list of globs on case ids (e.g. 'ops.add.*,api.*'); a leading '-' excludes");
  app.add_option("--jobs,-j", o.jobs, "case groups run at once, each in its own process")->capture_default_str();
  app.add_option("--timeout", o.timeoutSeconds, "seconds one case may take before it is killed")->capture_default_str();
  app.add_option("--json", json, "write the JSON report here");
  app.add_option("--junit", junit, "write a JUnit XML report here");
  app.add_option("--declarations", o.declarationsPath,
                 "declarations file (default: conformance/declarations/<plugin>.txt when it exists)");
  app.add_option("--examples", o.examplesDir, "folder of .sy models (and models/*/model.onnx) for the models and engine scopes (default: the source tree's examples/)");
  app.add_option("--onnx-node-tests", o.onnxNodeDir, "folder of ONNX backend node tests");
  app.add_flag("--list", list, "list the cases that would run, and exit");
  app.add_flag("--verbose,-v", o.verbose, "let the children's stdout and stderr through");
  CLI11_PARSE(app, argc, argv);

  o.scopes = splitComma(scopes);
  o.filters = splitComma(filter);
  for (const std::string& kv : options) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "switchyard-conformance: --option wants KEY=VALUE, got '" << kv << "'\n";
      return 2;
    }
    o.backendOptions.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  o.progress = isatty(2) != 0 && !o.verbose;

  if (list) {
    auto ids = conf::listCases(o);
    if (!ids.ok()) {
      std::cerr << "switchyard-conformance: " << ids.status().message() << "\n";
      return 2;
    }
    for (const std::string& id : *ids) std::cout << id << "\n";
    return 0;
  }
  auto report = conf::runConformance(o);
  if (!report.ok()) {
    std::cerr << "switchyard-conformance: " << report.status().message() << "\n";
    return 2;
  }
  std::cout << conf::formatSummaryTable(*report);
  int status = report->count(conf::Bucket::Failed) ? 1 : 0;
  if (!json.empty() && !writeFile(json, conf::toJson(*report))) {
    std::cerr << "switchyard-conformance: cannot write " << json << "\n";
    status = 2;
  }
  if (!junit.empty() && !writeFile(junit, conf::toJUnit(*report))) {
    std::cerr << "switchyard-conformance: cannot write " << junit << "\n";
    status = 2;
  }
  std::cout << "\n" << conf::closingLine(*report) << std::endl;
  return status;
}
