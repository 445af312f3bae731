// Orchestration: collect the cases of the chosen scopes, apply filters and
// declarations, run the groups in isolated children, and format the reports.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "internal.h"

#ifndef SY_CONFORMANCE_DECLARATIONS_DIR
#define SY_CONFORMANCE_DECLARATIONS_DIR ""
#endif
#ifndef SY_CONFORMANCE_EXAMPLES_DIR
#define SY_CONFORMANCE_EXAMPLES_DIR ""
#endif

namespace sy::conformance {
namespace fs = std::filesystem;

const char* outcomeName(Outcome o) {
  switch (o) {
    case Outcome::Passed: return "passed";
    case Outcome::Failed: return "failed";
    case Outcome::Unsupported: return "unsupported";
    case Outcome::Skipped: return "skipped";
    case Outcome::Crashed: return "crashed";
    case Outcome::TimedOut: return "timed out";
    case Outcome::ExpectedFailure: return "expected failure";
    case Outcome::UnexpectedPass: return "unexpected pass";
  }
  return "?";
}

Bucket bucketOf(Outcome o) {
  switch (o) {
    case Outcome::Passed: return Bucket::Passed;
    case Outcome::Failed:
    case Outcome::Crashed:
    case Outcome::TimedOut:
    case Outcome::UnexpectedPass: return Bucket::Failed;
    default: return Bucket::Skipped;
  }
}

int Report::count(Bucket b) const {
  int n = 0;
  for (const CaseResult& c : cases) n += bucketOf(c.outcome) == b;
  return n;
}

namespace {

bool selected(const std::vector<std::string>& filters, const std::string& id) {
  bool anyPositive = false, included = false;
  for (const std::string& f : filters) {
    if (f.empty()) continue;
    if (f[0] == '-') {
      if (globMatch(f.substr(1), id)) return false;
      continue;
    }
    anyPositive = true;
    if (globMatch(f, id)) included = true;
  }
  return !anyPositive || included;
}

/// The plugin's name as the declarations file is named, without loading it.
std::string guessName(const std::string& plugin) {
  if (plugin.find('/') == std::string::npos && !plugin.ends_with(".so")) return plugin;
  std::string stem = fs::path(plugin).stem().string();
  if (stem.rfind("libsy_plugin_", 0) == 0) stem = stem.substr(13);
  return stem;
}

struct Collected {
  std::vector<Case> cases;
  std::vector<std::string> notes;
  std::vector<Declaration> declarations;
  std::string declarationsPath;
};

Result<Collected> collect(const RunOptions& o) {
  Collected out;
  const std::set<std::string> known = {"api", "ops", "models", "engine", "onnx"};
  for (const std::string& s : o.scopes)
    if (!known.count(s)) return invalidArgument("unknown scope '", s, "' (known: api, ops, models, engine, onnx)");
  auto want = [&](const char* s) { return std::find(o.scopes.begin(), o.scopes.end(), s) != o.scopes.end(); };
  std::vector<Case> all;
  auto append = [&](std::vector<Case> v) {
    for (Case& c : v) all.push_back(std::move(c));
  };
  if (want("api")) append(apiCases());
  if (want("ops")) append(opCases());
  if (want("models")) {
    const std::string dir = o.examplesDir.empty() ? suiteDataDir(SY_CONFORMANCE_EXAMPLES_DIR, "examples") : o.examplesDir;
    auto m = modelCases(dir);
    if (m.empty()) out.notes.push_back("models: skipped: no .sy files in '" + dir + "' (--examples DIR)");
    append(std::move(m));
  }
  if (want("engine"))
    append(engineCases(o.examplesDir.empty() ? suiteDataDir(SY_CONFORMANCE_EXAMPLES_DIR, "examples") : o.examplesDir,
                       out.notes));
  if (want("onnx")) {
    std::string why;
    auto v = onnxCases(o.onnxNodeDir.empty() ? "/usr/include/onnx/backend/test/data/node" : o.onnxNodeDir, why);
    if (!why.empty()) out.notes.push_back("onnx: skipped: " + why);
    append(std::move(v));
  }
  for (Case& c : all)
    if (selected(o.filters, c.info.id)) out.cases.push_back(std::move(c));

  out.declarationsPath = o.declarationsPath;
  if (out.declarationsPath.empty()) {
    const std::string declarationsDir = suiteDataDir(SY_CONFORMANCE_DECLARATIONS_DIR, "conformance/declarations");
    const fs::path p = fs::path(declarationsDir) / (guessName(o.plugin) + ".txt");
    if (!declarationsDir.empty() && fs::exists(p)) out.declarationsPath = p.string();
  }
  if (!out.declarationsPath.empty()) {
    SY_ASSIGN_OR_RETURN(out.declarations, loadDeclarations(out.declarationsPath));
  }
  for (Case& c : out.cases)
    if (const Declaration* d = findDeclaration(out.declarations, c.info.id)) {
      c.info.declaration = d->reason;
      if (d->kind == Declaration::Kind::Unsupported) {
        c.info.outcome = Outcome::Skipped;
        c.info.message = "declared unsupported: " + d->reason;
      }
    }
  return out;
}

bool declaredUnsupported(const Collected& col, const CaseResult& c) {
  const Declaration* d = findDeclaration(col.declarations, c.id);
  return d && d->kind == Declaration::Kind::Unsupported;
}

/// Runs `cases[i]` in the child, timing it.
void childRunGroup(std::vector<Case>& cases, const RunOptions& options, const std::vector<size_t>& group, size_t from,
                   int fd) {
  auto target = Target::open(options);
  for (size_t pos = from; pos < group.size(); ++pos) {
    const size_t idx = group[pos];
    sendBegin(fd, idx);
    CaseResult r = cases[idx].info;
    const auto t0 = std::chrono::steady_clock::now();
    if (!target.ok()) {
      r.outcome = Outcome::Failed;
      r.message = "cannot load the plugin: " + target.status().message();
    } else {
      r.outcome = Outcome::Failed;
      r.message.clear();
      try {
        cases[idx].run(**target, r);
      } catch (const std::exception& e) {
        r.outcome = Outcome::Failed;
        r.message = std::string("exception: ") + e.what();
      }
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    sendResult(fd, idx, r);
  }
}

std::string fmtError(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return "inf";
  std::ostringstream os;
  os << std::setprecision(2) << std::scientific << v;
  return os.str();
}

}  // namespace

Result<std::vector<std::string>> listCases(const RunOptions& options) {
  SY_ASSIGN_OR_RETURN(Collected col, collect(options));
  std::vector<std::string> out;
  for (const Case& c : col.cases) {
    std::string line = c.info.id;
    if (const Declaration* d = findDeclaration(col.declarations, c.info.id))
      line += std::string(d->kind == Declaration::Kind::Unsupported ? "  [declared unsupported: " : "  [xfail: ") +
              d->reason + "]";
    out.push_back(line);
  }
  for (const std::string& n : col.notes) out.push_back("# " + n);
  return out;
}

Result<Report> runConformance(const RunOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  SY_ASSIGN_OR_RETURN(Collected col, collect(options));
  Report report;
  report.scopes = options.scopes;
  report.notes = col.notes;
  report.declarationsPath = col.declarationsPath;
  SY_ASSIGN_OR_RETURN(report.pluginPath, resolvePluginPath(options.plugin));
  report.plugin = guessName(options.plugin);

  // Probe the plugin in a child: its name, version and device, without
  // loading it into this process (a plugin that starts threads in init would
  // make every later fork unsafe).
  {
    std::vector<CaseResult> probe(1);
    probe[0].id = "probe";
    runIsolated(
        probe, {{0}}, 1, options.timeoutSeconds, !options.verbose,
        [&](const std::vector<size_t>&, size_t, int fd) {
          sendBegin(fd, 0);
          CaseResult r;
          auto t = Target::open(options);
          if (!t.ok()) {
            // init failed with SY_ERROR_DEVICE: no driver or device on this
            // machine (e.g. the cuda plugin without a GPU): skipped, not failed.
            r.outcome = t.status().code() == StatusCode::kFailedPrecondition ? Outcome::Skipped : Outcome::Failed;
            r.message = t.status().message();
          } else {
            const sy_plugin_api& a = (*t)->api();
            sy_device_info info{};
            info.struct_size = sizeof(info);
            std::string dev = "?";
            if (sy_error* e = a.device_info((*t)->device(), &info)) a.error_destroy(e);
            else if (info.name) dev = info.name;
            nlohmann::json j = {{"name", (*t)->name()},
                                {"version", a.version ? a.version : ""},
                                {"abi", std::to_string(a.abi_major) + "." + std::to_string(a.abi_minor)},
                                {"device", std::to_string((*t)->device()) + ": " + dev}};
            r.outcome = Outcome::Passed;
            r.message = j.dump();
          }
          sendResult(fd, 0, r);
        },
        [](size_t) {});
    if (probe[0].outcome == Outcome::Passed) {
      const auto j = nlohmann::json::parse(probe[0].message, nullptr, false);
      if (!j.is_discarded()) {
        report.plugin = j.value("name", report.plugin);
        report.pluginVersion = j.value("version", "");
        report.abiVersion = j.value("abi", "");
        report.device = j.value("device", "");
      }
    } else {
      // Nothing else can run: the api cases fail with the reason (or are
      // skipped when the plugin says it has no usable device here), the rest
      // is skipped.
      const bool noDevice = probe[0].outcome == Outcome::Skipped;
      const std::string why = noDevice ? "no usable device here: " + probe[0].message
                                       : std::string("the plugin does not load (") + outcomeName(probe[0].outcome) +
                                             "): " + probe[0].message;
      report.notes.push_back(why);
      for (Case& c : col.cases) {
        CaseResult r = c.info;
        r.outcome = r.scope == "api" && !noDevice ? Outcome::Failed : Outcome::Skipped;
        r.message = why;
        report.cases.push_back(r);
      }
      report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      return report;
    }
  }

  // Groups of runnable cases, in order of first appearance.
  std::vector<CaseResult> results;
  for (const Case& c : col.cases) results.push_back(c.info);
  std::vector<std::vector<size_t>> groups;
  std::map<std::string, size_t> groupIndex;
  for (size_t i = 0; i < col.cases.size(); ++i) {
    if (declaredUnsupported(col, results[i])) continue;
    auto [it, fresh] = groupIndex.emplace(results[i].group, groups.size());
    if (fresh) groups.emplace_back();
    groups[it->second].push_back(i);
  }
  size_t runnable = 0, done = 0, failed = 0;
  for (const auto& g : groups) runnable += g.size();
  const bool progress = options.progress;
  runIsolated(
      results, groups, options.jobs, options.timeoutSeconds, !options.verbose,
      [&](const std::vector<size_t>& group, size_t from, int fd) { childRunGroup(col.cases, options, group, from, fd); },
      [&](size_t index) {
        ++done;
        if (bucketOf(results[index].outcome) == Bucket::Failed) ++failed;
        if (progress) {
          std::fprintf(stderr, "\r\033[K[%zu/%zu] %s%s", done, runnable, results[index].id.c_str(),
                       failed ? (" (" + std::to_string(failed) + " failed)").c_str() : "");
          std::fflush(stderr);
        }
      });
  if (progress) std::fprintf(stderr, "\r\033[K");

  // Expected failures.
  for (CaseResult& r : results) {
    const Declaration* d = findDeclaration(col.declarations, r.id);
    if (!d || d->kind != Declaration::Kind::ExpectedFailure) continue;
    if (bucketOf(r.outcome) == Bucket::Failed) {
      r.message = "expected (" + d->reason + "): " + outcomeName(r.outcome) + ": " + r.message;
      r.outcome = Outcome::ExpectedFailure;
    } else if (r.outcome == Outcome::Passed) {
      r.outcome = Outcome::UnexpectedPass;
      r.message = "declared as an expected failure (" + d->reason + ") but it passes: remove " + col.declarationsPath +
                  ":" + std::to_string(d->line) + " ('" + d->pattern + "')";
    }
  }
  report.cases = std::move(results);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

// ---------------------------------------------------------------------------
// Reports

std::string closingLine(const Report& report) {
  return std::to_string(report.count(Bucket::Passed)) + " passed, " + std::to_string(report.count(Bucket::Failed)) +
         " failed, " + std::to_string(report.count(Bucket::Skipped)) + " skipped";
}

std::string formatSummaryTable(const Report& report) {
  struct Row {
    int passed = 0, failed = 0, unsupported = 0, skipped = 0;
    double worst = 0;  // largest |err| / tolerance ratio's abs error among compared cases
    bool hasWorst = false;
  };
  std::vector<std::string> order;
  std::map<std::string, Row> rows;
  for (const CaseResult& c : report.cases) {
    const std::string key = c.scope == "ops" ? "ops " + c.op : c.scope;
    if (!rows.count(key)) order.push_back(key);
    Row& r = rows[key];
    switch (bucketOf(c.outcome)) {
      case Bucket::Passed: ++r.passed; break;
      case Bucket::Failed: ++r.failed; break;
      case Bucket::Skipped: (c.outcome == Outcome::Unsupported ? r.unsupported : r.skipped)++; break;
    }
    if (c.hasWorst && (!r.hasWorst || c.worst.absError > r.worst)) {
      r.worst = c.worst.absError;
      r.hasWorst = true;
    }
  }
  std::ostringstream os;
  os << "Plugin " << report.plugin << (report.pluginVersion.empty() ? "" : " " + report.pluginVersion)
     << (report.pluginPath.empty() ? " (in-process reference interpreter)" : " (" + report.pluginPath + ")") << "\n";
  if (!report.device.empty()) os << "Device " << report.device << ", ABI " << report.abiVersion << "\n";
  if (!report.declarationsPath.empty()) os << "Declarations " << report.declarationsPath << "\n";
  for (const std::string& n : report.notes) os << "Note: " << n << "\n";
  os << "\n";
  os << std::left << std::setw(26) << "scope / op" << std::right << std::setw(8) << "passed" << std::setw(8) << "failed"
     << std::setw(13) << "unsupported" << std::setw(9) << "skipped" << std::setw(13) << "worst |err|" << "\n";
  os << std::string(77, '-') << "\n";
  for (const std::string& key : order) {
    const Row& r = rows[key];
    os << std::left << std::setw(26) << key << std::right << std::setw(8) << r.passed << std::setw(8) << r.failed
       << std::setw(13) << r.unsupported << std::setw(9) << r.skipped << std::setw(13)
       << (r.hasWorst ? fmtError(r.worst) : "-") << "\n";
  }
  os << std::string(77, '-') << "\n";
  int shown = 0, total = 0;
  std::ostringstream fails;
  for (const CaseResult& c : report.cases) {
    if (bucketOf(c.outcome) != Bucket::Failed) continue;
    ++total;
    if (shown++ < 40) fails << "  " << outcomeName(c.outcome) << "  " << c.id << ": " << c.message << "\n";
  }
  if (total) {
    os << "\nFailures:\n" << fails.str();
    if (total > shown) os << "  ... and " << (total - 40) << " more (see the JSON report)\n";
  }
  return os.str();
}

std::string toJson(const Report& report) {
  nlohmann::json j;
  j["plugin"] = report.plugin;
  j["plugin_path"] = report.pluginPath;
  j["plugin_version"] = report.pluginVersion;
  j["abi_version"] = report.abiVersion;
  j["device"] = report.device;
  j["scopes"] = report.scopes;
  j["notes"] = report.notes;
  j["declarations"] = report.declarationsPath;
  j["seconds"] = report.seconds;
  std::map<std::string, int> byOutcome;
  for (const CaseResult& c : report.cases) byOutcome[outcomeName(c.outcome)]++;
  j["summary"] = {{"passed", report.count(Bucket::Passed)},
                  {"failed", report.count(Bucket::Failed)},
                  {"skipped", report.count(Bucket::Skipped)},
                  {"by_outcome", byOutcome}};
  auto finite = [](double v) -> nlohmann::json {
    if (std::isfinite(v)) return v;
    return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  };
  nlohmann::json cases = nlohmann::json::array();
  for (const CaseResult& c : report.cases) {
    nlohmann::json e = {{"id", c.id},           {"scope", c.scope},     {"group", c.group},
                        {"outcome", outcomeName(c.outcome)}, {"message", c.message}, {"seconds", c.seconds}};
    if (!c.op.empty()) e["op"] = c.op;
    if (!c.declaration.empty()) e["declaration"] = c.declaration;
    if (!c.details.empty()) {
      const auto d = nlohmann::json::parse(c.details, nullptr, false);
      if (!d.is_discarded()) e["details"] = d;
    }
    if (c.hasWorst) {
      e["worst"] = {{"output", c.worst.output},         {"index", c.worst.index},
                    {"got", finite(c.worst.got)},       {"expected", finite(c.worst.expected)},
                    {"abs_error", finite(c.worst.absError)}, {"tolerance", finite(c.worst.tolerance)}};
      e["nmse"] = finite(c.nmse);
    }
    cases.push_back(std::move(e));
  }
  j["cases"] = std::move(cases);
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

namespace {
std::string xml(const std::string& s) {
  std::string out;
  for (unsigned char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (ch < 0x20 && ch != '\n' && ch != '\t') out += ' ';
        else out += static_cast<char>(ch);
    }
  }
  return out;
}
}  // namespace

std::string toJUnit(const Report& report) {
  std::ostringstream os;
  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  os << "<testsuites name=\"switchyard-conformance " << xml(report.plugin) << "\" tests=\"" << report.cases.size()
     << "\" failures=\"" << report.count(Bucket::Failed) << "\" skipped=\"" << report.count(Bucket::Skipped)
     << "\" time=\"" << report.seconds << "\">\n";
  std::vector<std::string> scopes;
  for (const CaseResult& c : report.cases)
    if (std::find(scopes.begin(), scopes.end(), c.scope) == scopes.end()) scopes.push_back(c.scope);
  for (const std::string& scope : scopes) {
    int tests = 0, failures = 0, errors = 0, skipped = 0;
    double time = 0;
    for (const CaseResult& c : report.cases) {
      if (c.scope != scope) continue;
      ++tests;
      time += c.seconds;
      if (c.outcome == Outcome::Crashed || c.outcome == Outcome::TimedOut) ++errors;
      else if (bucketOf(c.outcome) == Bucket::Failed) ++failures;
      else if (bucketOf(c.outcome) == Bucket::Skipped) ++skipped;
    }
    os << "  <testsuite name=\"" << xml(report.plugin + "." + scope) << "\" tests=\"" << tests << "\" failures=\""
       << failures << "\" errors=\"" << errors << "\" skipped=\"" << skipped << "\" time=\"" << time << "\">\n";
    for (const CaseResult& c : report.cases) {
      if (c.scope != scope) continue;
      const std::string classname = report.plugin + "." + c.group;
      const std::string name = c.id.substr(std::min(c.id.size(), c.group.size() + 1));
      os << "    <testcase classname=\"" << xml(classname) << "\" name=\"" << xml(name.empty() ? c.id : name)
         << "\" time=\"" << c.seconds << "\"";
      const std::string msg = xml(std::string(outcomeName(c.outcome)) + ": " + c.message);
      switch (c.outcome) {
        case Outcome::Passed: os << "/>\n"; break;
        case Outcome::Failed:
        case Outcome::UnexpectedPass:
          os << ">\n      <failure message=\"" << msg << "\" type=\"" << outcomeName(c.outcome) << "\">" << msg
             << "</failure>\n    </testcase>\n";
          break;
        case Outcome::Crashed:
        case Outcome::TimedOut:
          os << ">\n      <error message=\"" << msg << "\" type=\"" << outcomeName(c.outcome) << "\">" << msg
             << "</error>\n    </testcase>\n";
          break;
        default: os << ">\n      <skipped message=\"" << msg << "\"/>\n    </testcase>\n"; break;
      }
    }
    os << "  </testsuite>\n";
  }
  os << "</testsuites>\n";
  return os.str();
}

}  // namespace sy::conformance
