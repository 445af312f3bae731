// `switchyard`: the command line (docs/cli.md).
//
//   switchyard run MODEL [--config F] [--backends a,b] [--input NAME=FILE.npy]... [--random-inputs --seed S]
//                        [--dim N=8]... [--output-dir D] [--expect NAME=FILE.npy]... [--rtol R --atol A] [--trace F.json]
//   switchyard bench MODEL [--warmup N] [--iterations N | --time S] [--threads T] [--json] [--trace F.json]
//                          [--profile [--profile-rows R]] ...
//   switchyard plan MODEL [--config F] [--backends a,b] [--format table|json|dot] [--explain]
//   switchyard convert MODEL.onnx -o OUT.sy                writes OUT.sy and OUT.safetensors
//   switchyard devices [--config F] [--json]
//   switchyard check MODEL                                 parse, verify, print the canonical text
//   switchyard optimize MODEL [-o OUT.sy]                  run the standard passes
//   switchyard ops [--markdown]                            list the op set
//
// MODEL is a Switchyard program (.sy, weights in the .safetensors beside it)
// or an ONNX model (.onnx; needs the importer, built with libonnx-dev).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <variant>

#include "switchyard/calibrate.h"
#include "switchyard/config.h"
#include "switchyard/engine.h"
#include "switchyard/interpreter.h"
#include "switchyard/npy.h"
#include "switchyard/op_registry.h"
#include "switchyard/passes.h"
#include "switchyard/profile.h"
#include "switchyard/program.h"
#include "switchyard/text.h"
#if SY_HAVE_ONNX
#include "switchyard/onnx_import.h"
#endif
#if SY_HAVE_SERVER
#include "switchyard/server.h"
#endif

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;

// Exit codes (docs/cli.md).
constexpr int kExitOk = 0;
constexpr int kExitError = 1;  // the model, the config, the run failed, or outputs did not match
constexpr int kExitUsage = 2;  // bad command line

int fail(const sy::Status& st) {
  std::fprintf(stderr, "switchyard: error: %s\n", st.message().c_str());
  return kExitError;
}

int usage(const std::string& message) {
  std::fprintf(stderr, "switchyard: error: %s\nRun with --help for more information.\n", message.c_str());
  return kExitUsage;
}

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

bool endsWith(const std::string& s, const std::string& suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i]) return false;
  }
  return true;
}

bool isOnnx(const std::string& path) { return endsWith(path, ".onnx"); }

/// A .sy program or an .onnx model.
sy::Result<std::shared_ptr<sy::Graph>> loadModel(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return sy::notFound("cannot open ", path, ": no such file");
  if (fs::is_directory(path, ec)) return sy::invalidArgument(path, " is a directory, not a model file");
  if (isOnnx(path)) {
#if SY_HAVE_ONNX
    SY_ASSIGN_OR_RETURN(std::unique_ptr<sy::Graph> g, sy::importOnnxFile(path));
    return std::shared_ptr<sy::Graph>(std::move(g));
#else
    return sy::unimplemented("cannot read ", path, ": this switchyard was built without the ONNX importer "
                             "(install libonnx-dev and libprotobuf-dev and rebuild with -DSY_BUILD_ONNX=ON)");
#endif
  }
  SY_ASSIGN_OR_RETURN(std::unique_ptr<sy::Graph> g, sy::loadProgram(path));
  return std::shared_ptr<sy::Graph>(std::move(g));
}

/// The config from --config (or the defaults), then SWITCHYARD_BACKENDS, then --backends.
sy::Result<sy::Config> resolveConfig(const std::string& path, const std::string& backends, bool strict) {
  sy::Config config = sy::defaultConfig();
  if (!path.empty()) {
    SY_ASSIGN_OR_RETURN(config, sy::loadConfig(path));
  }
  SY_RETURN_IF_ERROR(sy::applyEnvironment(config));
  if (!backends.empty()) SY_RETURN_IF_ERROR(sy::overrideBackends(config, backends, "--backends"));
  if (strict) config.strict = true;
  return config;
}

sy::Result<std::unique_ptr<sy::Engine>> makeEngine(const std::string& path, const std::string& backends, bool strict) {
  SY_ASSIGN_OR_RETURN(sy::Config config, resolveConfig(path, backends, strict));
  SY_ASSIGN_OR_RETURN(std::unique_ptr<sy::Engine> engine, sy::Engine::create(config));
  for (const std::string& w : engine->warnings()) std::fprintf(stderr, "switchyard: warning: %s\n", w.c_str());
  return engine;
}

std::string backendList(const sy::Engine& engine) {
  std::string s;
  for (size_t i = 0; i < engine.backends().size(); ++i) s += (i ? ", " : "") + engine.backends()[i].name;
  return s;
}

/// "2 regions (memdev: 1, reference: 1)".
std::string regionSummary(const sy::PartitionPlan& plan) {
  std::map<std::string, int> perBackend;
  for (const sy::Region& r : plan.regions) ++perBackend[r.backend];
  std::string s = std::to_string(plan.regions.size()) + (plan.regions.size() == 1 ? " region" : " regions");
  if (!perBackend.empty()) {
    s += " (";
    bool first = true;
    for (const auto& [b, n] : perBackend) {
      s += (first ? "" : ", ") + b + ": " + std::to_string(n);
      first = false;
    }
    s += ")";
  }
  return s;
}

// ---------------------------------------------------------------------------
// Inputs

/// `NAME=FILE` (or just `FILE`, meaning the model's only input or output).
struct NamedFile {
  std::string name;  // empty: the only one
  std::string path;
  std::string arg;   // as given, for messages
};

std::vector<NamedFile> splitNamedFiles(const std::vector<std::string>& args) {
  std::vector<NamedFile> out;
  for (const std::string& a : args) {
    NamedFile f;
    f.arg = a;
    const size_t eq = a.find('=');
    if (eq == std::string::npos) {
      f.path = a;
    } else {
      f.name = a.substr(0, eq);
      f.path = a.substr(eq + 1);
      if (!f.name.empty() && f.name[0] == '%') f.name.erase(0, 1);
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::string valueNames(const std::vector<sy::Value*>& values) {
  std::string s;
  for (size_t i = 0; i < values.size(); ++i) s += (i ? ", " : "") + values[i]->name();
  return s.empty() ? "(none)" : s;
}

/// Index of the value a NamedFile refers to, or a usage message.
std::variant<size_t, std::string> resolveName(const NamedFile& f, const std::vector<sy::Value*>& values,
                                              const char* what, const char* flag) {
  if (f.name.empty()) {
    if (values.size() == 1) return size_t{0};
    return std::string(flag) + " " + f.arg + ": the model has " + std::to_string(values.size()) + " " + what +
           "s (" + valueNames(values) + "); write " + flag + " NAME=FILE.npy";
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i]->name() == f.name) return i;
  }
  return std::string(flag) + " " + f.arg + ": the model has no " + what + " '" + f.name + "' (its " + what +
         "s: " + valueNames(values) + ")";
}

/// Random input for `v`: floats uniform in [-1, 1), ints in [0, 4), bools alternating.
sy::Result<sy::Tensor> randomInput(const sy::Value& v, std::mt19937_64& rng, const std::map<std::string, int64_t>& dims,
                                   std::vector<std::string>& defaulted) {
  std::uniform_real_distribution<double> uni(-1.0, 1.0);
  const sy::Type& t = v.type();
  if (!t.rankKnown()) return sy::invalidArgument("input %", v.name(), " has unknown rank; give it with --input ", v.name(), "=FILE.npy");
  sy::Shape shape;
  for (const sy::Dim& d : t.dims()) {
    if (d.isStatic()) {
      shape.push_back(d.value());
    } else if (d.isSymbol() && dims.count(d.symbolName())) {
      shape.push_back(dims.at(d.symbolName()));
    } else if (d.isSymbol()) {
      if (std::find(defaulted.begin(), defaulted.end(), d.symbolName()) == defaulted.end())
        defaulted.push_back(d.symbolName());
      shape.push_back(1);
    } else {
      return sy::invalidArgument("input %", v.name(), " has an unknown dimension in ", t.toString(),
                                 "; give the input with --input ", v.name(), "=FILE.npy");
    }
  }
  SY_ASSIGN_OR_RETURN(sy::Tensor tensor, sy::Tensor::allocate(t.dtype(), shape));
  for (int64_t i = 0; i < tensor.numel(); ++i) {
    if (sy::isFloat(t.dtype())) tensor.setDouble(i, uni(rng));
    else if (t.dtype() == sy::DType::Bool) tensor.setInt(i, i % 2 == 0);
    else tensor.setInt(i, static_cast<int64_t>(rng() % 4));
  }
  return tensor;
}

struct InputOptions {
  std::vector<std::string> inputArgs;
  std::vector<std::string> dimArgs;
  bool randomInputs = false;
  uint64_t seed = 0;
};

struct Inputs {
  std::vector<sy::Tensor> tensors;
  std::vector<std::string> origin;  // "x.npy" or "random"
};

/// Builds the inputs; `usageError` is set for command-line mistakes (exit 2).
sy::Result<Inputs> gatherInputs(const sy::Graph& g, const InputOptions& o, bool randomWhenNoneGiven,
                                std::string& usageError) {
  std::map<std::string, int64_t> dims;
  for (const std::string& d : o.dimArgs) {
    const size_t eq = d.find('=');
    try {
      if (eq == std::string::npos || eq == 0) throw std::invalid_argument(d);
      size_t used = 0;
      const long long v = std::stoll(d.substr(eq + 1), &used);
      if (used != d.size() - eq - 1 || v < 0) throw std::invalid_argument(d);
      dims[d.substr(0, eq)] = v;
    } catch (const std::exception&) {
      usageError = "--dim expects NAME=SIZE, got '" + d + "'";
      return sy::invalidArgument(usageError);
    }
  }
  const auto& ins = g.inputs();
  Inputs result;
  result.tensors.resize(ins.size());
  result.origin.resize(ins.size());
  for (const NamedFile& f : splitNamedFiles(o.inputArgs)) {
    auto idx = resolveName(f, ins, "input", "--input");
    if (auto* msg = std::get_if<std::string>(&idx)) {
      usageError = *msg;
      return sy::invalidArgument(usageError);
    }
    const size_t i = std::get<size_t>(idx);
    if (result.tensors[i].valid()) {
      usageError = "input '" + ins[i]->name() + "' is given twice";
      return sy::invalidArgument(usageError);
    }
    SY_ASSIGN_OR_RETURN(sy::Tensor t, sy::readNpyFile(f.path));
    const sy::Type& want = ins[i]->type();
    if (t.dtype() != want.dtype())
      return sy::invalidArgument("input %", ins[i]->name(), " is declared ", want.toString(), " but ", f.path, " holds ",
                                 t.typeString(), "; save it as ", sy::dtypeName(want.dtype()));
    sy::Type actual = sy::Type::tensor(t.dtype(), std::vector<sy::Dim>(t.shape().begin(), t.shape().end()));
    if (!sy::typesCompatible(want, actual))
      return sy::invalidArgument("input %", ins[i]->name(), " is declared ", want.toString(), " but ", f.path, " holds ",
                                 t.typeString());
    result.tensors[i] = std::move(t);
    result.origin[i] = f.path;
  }
  const bool random = o.randomInputs || (randomWhenNoneGiven && o.inputArgs.empty());
  std::vector<std::string> missing;
  for (size_t i = 0; i < ins.size(); ++i) {
    if (!result.tensors[i].valid()) missing.push_back(ins[i]->name());
  }
  if (!missing.empty() && !random) {
    std::string names;
    for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
    usageError = "no data for input(s) " + names + "; give each with --input NAME=FILE.npy, or pass --random-inputs";
    return sy::invalidArgument(usageError);
  }
  std::mt19937_64 rng(o.seed);
  std::vector<std::string> defaulted;
  for (size_t i = 0; i < ins.size(); ++i) {
    if (result.tensors[i].valid()) continue;
    SY_ASSIGN_OR_RETURN(result.tensors[i], randomInput(*ins[i], rng, dims, defaulted));
    result.origin[i] = "random";
  }
  for (const std::string& d : defaulted)
    std::fprintf(stderr, "switchyard: note: dimension '%s' not given; using 1 (set it with --dim %s=SIZE)\n",
                 d.c_str(), d.c_str());
  return result;
}

// ---------------------------------------------------------------------------
// Outputs

std::string unravel(const sy::Shape& shape, int64_t flat) {
  std::vector<int64_t> idx(shape.size());
  for (size_t k = shape.size(); k-- > 0;) {
    if (shape[k] > 0) {
      idx[k] = flat % shape[k];
      flat /= shape[k];
    }
  }
  std::string s = "[";
  for (size_t k = 0; k < idx.size(); ++k) s += (k ? ", " : "") + std::to_string(idx[k]);
  return s + "]";
}

std::string fmt(double v) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.7g", v);
  return buf;
}

std::string fixed(double v, int digits) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

/// "min -0.5 max 1.2 mean 0.1" (and NaN/Inf counts when there are any).
std::string statsLine(const sy::Tensor& t) {
  if (t.numel() == 0) return "empty";
  double mn = INFINITY, mx = -INFINITY, sum = 0;
  int64_t nans = 0, infs = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double v = t.getDouble(i);
    if (std::isnan(v)) {
      ++nans;
      continue;
    }
    if (std::isinf(v)) ++infs;
    mn = std::min(mn, v);
    mx = std::max(mx, v);
    sum += v;
  }
  std::string s;
  if (nans < t.numel()) s = "min " + fmt(mn) + "  max " + fmt(mx) + "  mean " + fmt(sum / static_cast<double>(t.numel() - nans));
  if (nans) s += (s.empty() ? "" : "  ") + std::to_string(nans) + " NaN";
  if (infs) s += "  " + std::to_string(infs) + " Inf";
  return s;
}

/// The file name (without ".npy") of an output value under --output-dir.
/// ONNX names may hold '/', ':', ' ' or be ".."; every byte outside
/// [A-Za-z0-9_.-], '%' itself and a leading '.' become %XX (hex), so that
/// distinct names always give distinct files (docs/cli.md).
std::string fileNameFor(const std::string& valueName) {
  static const char* kHex = "0123456789ABCDEF";
  std::string s;
  for (size_t i = 0; i < valueName.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(valueName[i]);
    const bool plain = std::isalnum(c) || c == '_' || c == '-' || (c == '.' && i > 0);
    if (plain) {
      s += static_cast<char>(c);
    } else {
      s += '%';
      s += kHex[c >> 4];
      s += kHex[c & 15];
    }
  }
  return s.empty() ? "%" : s;
}

struct Comparison {
  bool match = true;
  std::string problem;  // shape or dtype mismatch
  int64_t mismatches = 0;
  int64_t worst = -1;  // flat index of the worst element
  double worstGot = 0, worstExpected = 0, maxAbsDiff = 0;
};

/// |got - expected| <= atol + rtol * |expected| elementwise; NaN matches NaN, Inf matches the same Inf.
Comparison compareTensors(const sy::Tensor& got, const sy::Tensor& expected, double rtol, double atol) {
  Comparison c;
  if (got.shape() != expected.shape()) {
    c.match = false;
    c.problem = "shape " + sy::shapeToString(got.shape()) + " but the expected shape is " +
                sy::shapeToString(expected.shape());
    return c;
  }
  if (sy::isBool(got.dtype()) != sy::isBool(expected.dtype())) {
    c.match = false;
    c.problem = std::string("dtype ") + std::string(sy::dtypeName(got.dtype())) + " but the expected dtype is " +
                std::string(sy::dtypeName(expected.dtype()));
    return c;
  }
  double worstExcess = -1;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double a = got.getDouble(i), e = expected.getDouble(i);
    bool ok;
    double excess = 0;
    if (std::isnan(a) || std::isnan(e)) {
      ok = std::isnan(a) && std::isnan(e);
      excess = ok ? 0 : INFINITY;
    } else if (std::isinf(a) || std::isinf(e)) {
      ok = a == e;
      excess = ok ? 0 : INFINITY;
    } else {
      const double diff = std::fabs(a - e);
      const double allowed = atol + rtol * std::fabs(e);
      ok = diff <= allowed;
      c.maxAbsDiff = std::max(c.maxAbsDiff, diff);
      excess = allowed > 0 ? diff / allowed : (diff > 0 ? INFINITY : 0);
    }
    if (!ok) ++c.mismatches;
    if (!ok && excess > worstExcess) {
      worstExcess = excess;
      c.worst = i;
      c.worstGot = a;
      c.worstExpected = e;
    }
  }
  c.match = c.mismatches == 0;
  return c;
}

// ---------------------------------------------------------------------------
// Traces (Chrome trace event format; opens in Perfetto and chrome://tracing)

struct TraceRecorder {
  std::vector<std::pair<double, sy::TraceEvent>> events;  // (offset of the run in µs, event)
  void addRun(double runStartUs, double runDurUs, int index, std::vector<sy::TraceEvent>& evs) {
    events.push_back({0, sy::TraceEvent{"run " + std::to_string(index), "run", runStartUs, runDurUs}});
    for (auto& e : evs) events.push_back({runStartUs, std::move(e)});
    evs.clear();
  }
  sy::Status write(const std::string& path, const std::string& model) const {
    Json list = Json::array();
    std::map<std::string, int> tids;
    auto tidOf = [&](const std::string& lane) {
      auto it = tids.find(lane);
      if (it != tids.end()) return it->second;
      const int id = static_cast<int>(tids.size()) + 1;
      tids[lane] = id;
      list.push_back(Json{{"name", "thread_name"}, {"ph", "M"}, {"pid", 1}, {"tid", id}, {"args", {{"name", lane}}}});
      list.push_back(Json{{"name", "thread_sort_index"}, {"ph", "M"}, {"pid", 1}, {"tid", id}, {"args", {{"sort_index", id}}}});
      return id;
    };
    list.push_back(Json{{"name", "process_name"}, {"ph", "M"}, {"pid", 1}, {"tid", 0}, {"args", {{"name", "switchyard " + model}}}});
    tidOf("run");
    for (const auto& [offset, e] : events) {
      const bool transfer = e.lane == "transfer";
      list.push_back(Json{{"name", e.name},
                          {"cat", e.lane == "run" ? "run" : transfer ? "transfer" : "region"},
                          {"ph", "X"},
                          {"ts", offset + e.startUs},
                          {"dur", e.durationUs},
                          {"pid", 1},
                          {"tid", tidOf(e.lane)}});
    }
    std::ofstream out(path, std::ios::trunc);
    if (!out) return sy::invalidArgument("cannot write the trace ", path, ": ", std::strerror(errno));
    out << "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n";  // one event per line
    for (size_t i = 0; i < list.size(); ++i) out << list[i].dump() << (i + 1 < list.size() ? ",\n" : "\n");
    out << "]}\n";
    out.close();
    if (!out) return sy::invalidArgument("cannot write the trace ", path, ": ", std::strerror(errno));
    return sy::Status::OK();
  }
};

// ---------------------------------------------------------------------------
// devices

std::string deviceTypeName(sy_device_type t) {
  switch (t) {
    case SY_DEVICE_CPU: return "cpu";
    case SY_DEVICE_GPU: return "gpu";
    default: return "accelerator";
  }
}

/// `switchyard calibrate`: time every backend's op classes, print what was
/// measured, and store the factors in the cache (switchyard/calibrate.h).
struct CalibrateArgs {
  std::string out;      ///< the cache to write; "" = the config's (or the default)
  std::string classes;  ///< comma-separated op classes; "" = all
  double seconds = 0.25;
};

int calibrateBackends(const sy::Engine& engine, const CalibrateArgs& args, bool json) {
  const std::string path = args.out.empty() ? sy::calibrationPathFor(engine.config()) : args.out;
  if (path.empty())
    return usage("no calibration cache to write: the config says `calibration: none` and there is no --out");
  if (!(args.seconds > 0)) return usage("--time must be a positive number of seconds");
  sy::CalibrateOptions options;
  options.secondsPerCase = args.seconds;
  for (size_t at = 0; at < args.classes.size();) {
    const size_t comma = std::min(args.classes.find(',', at), args.classes.size());
    if (comma > at) options.classes.push_back(args.classes.substr(at, comma - at));
    at = comma + 1;
  }
  auto report = sy::calibrate(engine, options);
  if (!report.ok()) return fail(report.status());
  sy::CalibrationCache cache;
  if (sy::Status st = cache.load(path); !st.ok()) return fail(st);  // keeps other plugins' and devices' entries
  for (const sy::CalibrationEntry& e : report->entries) cache.put(e);
  if (sy::Status st = cache.save(path); !st.ok()) return fail(st);
  if (json) {
    Json j;
    j["cache"] = path;
    j["samples"] = Json::array();
    for (const sy::CalibrationSample& s : report->samples)
      j["samples"].push_back({{"backend", s.backend}, {"class", s.opClass}, {"graph", s.graph},
                              {"estimated_s", s.estimated}, {"measured_s", s.measured}, {"note", s.note}});
    j["entries"] = Json::array();
    for (const sy::CalibrationEntry& e : report->entries)
      j["entries"].push_back({{"plugin", e.key.plugin}, {"version", e.key.version}, {"device", e.key.device},
                              {"scale", e.scale}});
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  std::printf("%-12s %-12s %-42s %12s %12s %10s\n", "backend", "class", "graph", "estimate", "measured", "factor");
  for (const sy::CalibrationSample& s : report->samples) {
    if (!s.note.empty() && s.measured == 0) {
      std::printf("%-12s %-12s %-42s %s\n", s.backend.c_str(), s.opClass.c_str(), s.graph.c_str(), s.note.c_str());
      continue;
    }
    std::printf("%-12s %-12s %-42s %10.3g s %10.3g s %10.3g%s%s\n", s.backend.c_str(), s.opClass.c_str(),
                s.graph.c_str(), s.estimated, s.measured, s.estimated > 0 ? s.measured / s.estimated : 0.0,
                s.note.empty() ? "" : "  ", s.note.c_str());
  }
  for (const sy::CalibrationEntry& e : report->entries) {
    std::printf("%s %s on %s:", e.key.plugin.c_str(), e.key.version.c_str(), e.key.device.c_str());
    for (const auto& [cls, f] : e.scale) std::printf(" %s x%.3g", cls.c_str(), f);
    std::printf("%s\n", e.scale.empty() ? " nothing timed" : "");
  }
  std::printf("wrote %zu backend%s to %s (the cost policy reads it: partition.calibration)\n", report->entries.size(),
              report->entries.size() == 1 ? "" : "s", path.c_str());
  return kExitOk;
}

int listDevices(const sy::Engine& engine, bool json) {
  if (json) {
    Json j;
    j["plugins"] = Json::array();
    for (const auto& p : engine.plugins()) {
      Json pj{{"name", p->name()}, {"version", p->version()}, {"abi", p->abiVersion()}, {"path", p->path()}};
      pj["devices"] = Json::array();
      for (const auto& d : p->devices())
        pj["devices"].push_back(Json{{"index", d.index}, {"name", d.name}, {"type", deviceTypeName(d.type)},
                                     {"memory_bytes", d.memoryBytes}, {"score", d.score},
                                     {"host_visible", static_cast<bool>(d.hostVisibleMemory)}});
      j["plugins"].push_back(std::move(pj));
    }
    j["failed"] = Json::array();
    for (const auto& f : engine.loadFailures()) j["failed"].push_back(Json{{"path", f.path}, {"reason", f.reason}});
    j["backends"] = Json::array();
    for (const auto& b : engine.backends()) j["backends"].push_back(b.name);
    std::cout << j.dump() << "\n";
    return kExitOk;
  }
  std::cout << "Plugins (searched: ";
  for (size_t i = 0; i < engine.searchPaths().size(); ++i) std::cout << (i ? ", " : "") << engine.searchPaths()[i];
  std::cout << ")\n";
  if (engine.plugins().empty()) std::cout << "  (none found)\n";
  for (const auto& p : engine.plugins()) {
    std::cout << "  " << p->name() << " " << p->version() << " (ABI " << p->abiVersion() << ", " << p->vendor() << ") "
              << p->path() << "\n";
    if (p->devices().empty()) std::cout << "    no devices: " << p->noDeviceReason() << "\n";
    for (const auto& d : p->devices())
      std::cout << "    [" << d.index << "] " << d.name << "  " << deviceTypeName(d.type) << ", "
                << (d.memoryBytes >> 20) << " MiB, score " << d.score << (d.hostVisibleMemory ? ", host-visible" : "")
                << "\n";
  }
  for (const auto& f : engine.loadFailures()) std::cout << "  not loaded: " << f.reason << "\n";
  std::cout << "Backends in priority order: " << backendList(engine) << "\n";
  return kExitOk;
}

// ---------------------------------------------------------------------------
// run

struct RunArgs {
  InputOptions in;
  std::string outputDir;
  std::vector<std::string> expectArgs;
  double rtol = 1e-4, atol = 1e-5;
  std::string tracePath;
};

int runModel(const std::string& modelPath, const sy::Graph& graph, const sy::Engine& engine,
             const sy::CompiledModel& model, const RunArgs& a) {
  std::string usageError;
  // .sy programs with no --input get random inputs (as they always have); .onnx models need --random-inputs.
  auto inputs = gatherInputs(graph, a.in, !isOnnx(modelPath), usageError);
  if (!usageError.empty()) return usage(usageError);
  if (!inputs.ok()) return fail(inputs.status());

  // Resolve --expect before running, so that a typo is caught first.
  std::vector<std::pair<size_t, NamedFile>> expects;
  for (const NamedFile& f : splitNamedFiles(a.expectArgs)) {
    auto idx = resolveName(f, graph.outputs(), "output", "--expect");
    if (auto* msg = std::get_if<std::string>(&idx)) return usage(*msg);
    expects.push_back({std::get<size_t>(idx), f});
  }
  std::vector<sy::Tensor> expected;
  for (const auto& [i, f] : expects) {
    auto t = sy::readNpyFile(f.path);
    if (!t.ok()) return fail(t.status());
    expected.push_back(std::move(*t));
  }

  std::cout << "model: " << modelPath << " (" << graph.numNodes() << " nodes)\n";
  std::cout << "backends: " << backendList(engine) << "; " << regionSummary(model.plan()) << "\n";
  for (size_t i = 0; i < inputs->tensors.size(); ++i)
    std::cout << "input  %" << graph.inputs()[i]->name() << " = " << inputs->tensors[i].toString(8)
              << (inputs->origin[i] == "random" ? "  (random)" : "  (from " + inputs->origin[i] + ")") << "\n";

  std::vector<sy::TraceEvent> events;
  sy::RunOptions options;
  if (!a.tracePath.empty()) options.trace = &events;
  const auto t0 = Clock::now();
  std::vector<std::string> retries;  // regions that failed on their backend and ran on the reference
  options.retries = &retries;
  auto outs = model.run(inputs->tensors, options);
  const double ms = msSince(t0);
  for (const std::string& r : retries) std::fprintf(stderr, "switchyard: warning: %s\n", r.c_str());
  if (!outs.ok()) return fail(outs.status());

  if (!a.outputDir.empty()) {
    std::error_code ec;
    fs::create_directories(a.outputDir, ec);
    if (ec) return fail(sy::invalidArgument("cannot create the output folder ", a.outputDir, ": ", ec.message()));
  }
  int status = kExitOk;
  std::map<std::string, std::string> writtenFiles;  // file name -> the value written there
  for (size_t i = 0; i < outs->size(); ++i) {
    const sy::Tensor& t = (*outs)[i];
    const std::string& name = graph.outputs()[i]->name();
    std::cout << "output %" << name << " = " << t.toString(8) << "\n";
    std::cout << "       " << statsLine(t) << "\n";
    bool writeIt = !a.outputDir.empty();
    const std::string file = fileNameFor(name) + ".npy";
    if (writeIt) {
      if (file.size() > 255)
        return fail(sy::invalidArgument("output %", name, ": its file name under --output-dir would be ", file.size(),
                                        " bytes long (at most 255); nothing more was written"));
      auto [prev, fresh] = writtenFiles.emplace(file, name);
      if (!fresh) {
        // The encoding is one-to-one, so only the same value returned twice gets here.
        if (prev->second != name)
          return fail(sy::internalError("outputs %", prev->second, " and %", name, " map to the same file ", file));
        std::cout << "       (returned again: already written to " << file << ")\n";
        writeIt = false;
      }
    }
    if (writeIt) {
      const std::string path = (fs::path(a.outputDir) / file).string();
      sy::Tensor toWrite = t;
      if (t.dtype() == sy::DType::BF16) {  // NumPy has no bf16: write f32
        auto f = sy::Tensor::allocate(sy::DType::F32, t.shape());
        if (!f.ok()) return fail(f.status());
        for (int64_t k = 0; k < t.numel(); ++k) f->setDouble(k, t.getDouble(k));
        toWrite = *f;
        std::cout << "       (bf16 written as f32: NumPy has no bf16)\n";
      }
      sy::Status st = sy::writeNpyFile(toWrite, path);
      if (!st.ok()) return fail(st);
      std::cout << "       written to " << path << "\n";
    }
    for (size_t e = 0; e < expects.size(); ++e) {
      if (expects[e].first != i) continue;
      const std::string& epath = expects[e].second.path;
      const Comparison c = compareTensors(t, expected[e], a.rtol, a.atol);
      if (!c.problem.empty()) {
        std::cout << "       MISMATCH with " << epath << ": " << c.problem << "\n";
        std::fprintf(stderr, "switchyard: error: output %%%s does not match %s: it has %s\n", name.c_str(),
                     epath.c_str(), c.problem.c_str());
        status = kExitError;
      } else if (!c.match) {
        const std::string where = unravel(t.shape(), c.worst);
        const double diff = std::fabs(c.worstGot - c.worstExpected);
        std::cout << "       MISMATCH with " << epath << ": " << c.mismatches << " of " << t.numel()
                  << " elements differ (rtol " << fmt(a.rtol) << ", atol " << fmt(a.atol) << "); worst at " << where
                  << ": got " << fmt(c.worstGot) << ", expected " << fmt(c.worstExpected) << " (|diff| " << fmt(diff)
                  << ")\n";
        std::fprintf(stderr,
                     "switchyard: error: output %%%s does not match %s: %lld of %lld elements differ; worst at %s: "
                     "got %s, expected %s\n",
                     name.c_str(), epath.c_str(), static_cast<long long>(c.mismatches),
                     static_cast<long long>(t.numel()), where.c_str(), fmt(c.worstGot).c_str(),
                     fmt(c.worstExpected).c_str());
        status = kExitError;
      } else {
        std::cout << "       matches " << epath << " (max |diff| " << fmt(c.maxAbsDiff) << ", rtol " << fmt(a.rtol)
                  << ", atol " << fmt(a.atol) << ")\n";
      }
    }
  }
  std::cout << "time: " << fixed(ms, 3) << " ms\n";
  if (!a.tracePath.empty()) {
    TraceRecorder rec;
    rec.addRun(0, ms * 1000.0, 0, events);
    sy::Status st = rec.write(a.tracePath, modelPath);
    if (!st.ok()) return fail(st);
    std::cout << "trace: " << a.tracePath << "\n";
  }
  return status;
}

// ---------------------------------------------------------------------------
// bench

struct BenchArgs {
  InputOptions in;
  int warmup = 5;
  int64_t iterations = 0;  // 0: default (100) unless --time
  double seconds = 0;
  int threads = 1;
  bool json = false;
  std::string tracePath;
  bool profile = false;      // --profile: per-step profile after the timed runs
  size_t profileRows = 25;   // --profile-rows (0: all)
};

/// Latency samples in logarithmic buckets 1% wide, from 1 ns to about 3 hours:
/// fixed memory however long `bench --time` runs (keeping every sample grew
/// without bound). Count, min, max and mean are exact; percentiles are
/// nearest-rank within the bucket's 1%, clamped to [min, max].
class LatencyHistogram {
 public:
  void add(double ms) {
    ++count_;
    sum_ += ms;
    min_ = std::min(min_, ms);
    max_ = std::max(max_, ms);
    ++buckets_[bucketOf(ms)];
  }
  int64_t count() const { return count_; }
  double min() const { return count_ ? min_ : 0; }
  double max() const { return count_ ? max_ : 0; }
  double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0; }
  double percentile(double p) const {
    if (count_ == 0) return 0;
    int64_t rank = static_cast<int64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
    rank = std::clamp<int64_t>(rank, 1, count_);
    int64_t seen = 0;
    for (size_t b = 0; b < buckets_.size(); ++b) {
      seen += buckets_[b];
      if (seen >= rank) return std::clamp(kMinMs * std::pow(kGrowth, static_cast<double>(b) + 0.5), min(), max());
    }
    return max();
  }

 private:
  static constexpr double kMinMs = 1e-6;
  static constexpr double kGrowth = 1.01;
  static constexpr size_t kBuckets = 3000;  // 1e-6 ms * 1.01^3000 is about 1e7 ms
  static size_t bucketOf(double ms) {
    if (!(ms > kMinMs)) return 0;
    const double b = std::floor(std::log(ms / kMinMs) / std::log(kGrowth));
    return static_cast<size_t>(std::clamp(b, 0.0, static_cast<double>(kBuckets - 1)));
  }
  std::vector<int64_t> buckets_ = std::vector<int64_t>(kBuckets, 0);
  int64_t count_ = 0;
  double sum_ = 0, min_ = INFINITY, max_ = -INFINITY;
};

/// A one-line progress indicator on stderr, only when stderr is a terminal.
class Progress {
 public:
  Progress() : enabled_(isatty(fileno(stderr)) != 0) {}
  void update(const std::string& text, bool force = false) {
    if (!enabled_) return;
    const auto now = Clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    std::fprintf(stderr, "\r\033[K%s", text.c_str());
    std::fflush(stderr);
    shown_ = true;
  }
  void clear() {
    if (enabled_ && shown_) std::fprintf(stderr, "\r\033[K");
    shown_ = false;
  }

 private:
  bool enabled_;
  bool shown_ = false;
  Clock::time_point last_{};
};

int64_t peakRssBytes() {
  struct rusage ru {};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
  return static_cast<int64_t>(ru.ru_maxrss) * 1024;  // Linux reports KiB
}

int benchModel(const std::string& modelPath, const sy::Graph& graph, const sy::Engine& engine,
               const sy::CompiledModel& model, const BenchArgs& a, double loadMs, double compileMs) {
  std::string usageError;
  // Like onnxruntime_perf_test and trtexec, bench makes random inputs for whatever --input does not give,
  // unless some inputs are given without --random-inputs.
  auto inputs = gatherInputs(graph, a.in, true, usageError);
  if (!usageError.empty()) return usage(usageError);
  if (!inputs.ok()) return fail(inputs.status());
  const std::vector<sy::Tensor>& in = inputs->tensors;

  Progress progress;
  for (int i = 0; i < a.warmup; ++i) {
    progress.update("warmup " + std::to_string(i + 1) + "/" + std::to_string(a.warmup));
    auto r = model.run(in);
    if (!r.ok()) {
      progress.clear();
      return fail(r.status());
    }
  }

  // Latency: one caller.
  const int64_t iterations = a.iterations > 0 ? a.iterations : (a.seconds > 0 ? 0 : 100);
  LatencyHistogram lat;
  TraceRecorder rec;
  std::vector<sy::TraceEvent> events;
  sy::RunOptions options;
  if (!a.tracePath.empty()) options.trace = &events;
  const auto phase0 = Clock::now();
  while (true) {
    const double elapsed = msSince(phase0) / 1000.0;
    if (iterations > 0 ? lat.count() >= iterations : elapsed >= a.seconds) break;
    const auto t0 = Clock::now();
    auto r = model.run(in, options);
    const double ms = msSince(t0);
    if (!r.ok()) {
      progress.clear();
      return fail(r.status());
    }
    if (options.trace) {
      rec.addRun(std::chrono::duration<double, std::micro>(t0 - phase0).count(), ms * 1000.0,
                 static_cast<int>(lat.count()), events);
    }
    lat.add(ms);
    progress.update("latency " + std::to_string(lat.count()) +
                    (iterations > 0 ? "/" + std::to_string(iterations) : " runs, " + fixed(elapsed, 1) + "/" + fixed(a.seconds, 1) + " s"));
  }
  const double latencyWallS = msSince(phase0) / 1000.0;

  // Throughput: T callers on the same CompiledModel.
  int64_t tpRuns = lat.count();
  double tpWallS = latencyWallS;
  if (a.threads > 1) {
    std::atomic<int64_t> started{0}, done{0};
    std::atomic<bool> stop{false};
    std::mutex errMu;
    sy::Status firstError;
    const int64_t total = iterations > 0 ? iterations : 0;
    const auto t0 = Clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < a.threads; ++t) {
      workers.emplace_back([&] {
        while (!stop.load(std::memory_order_relaxed)) {
          if (total > 0) {
            if (started.fetch_add(1) >= total) break;
          } else if (msSince(t0) / 1000.0 >= a.seconds) {
            break;
          }
          auto r = model.run(in);
          if (!r.ok()) {
            std::lock_guard<std::mutex> lock(errMu);
            if (firstError.ok()) firstError = r.status();
            stop = true;
            break;
          }
          done.fetch_add(1);
        }
      });
    }
    while (true) {
      bool finished = total > 0 ? done.load() >= total : msSince(t0) / 1000.0 >= a.seconds;
      if (finished || stop.load()) break;
      progress.update("throughput, " + std::to_string(a.threads) + " threads: " + std::to_string(done.load()) + " runs");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    for (auto& w : workers) w.join();
    tpWallS = msSince(t0) / 1000.0;
    tpRuns = done.load();
    if (!firstError.ok()) {
      progress.clear();
      return fail(firstError);
    }
  }
  progress.clear();

  // Profile: runs of their own after the timed ones (timing every step costs
  // a little; the latency above is without it), at most 20.
  sy::Profile profile;
  if (a.profile) {
    const int64_t runs = std::clamp<int64_t>(lat.count(), 1, 20);
    std::vector<sy::TraceEvent> stepEvents;
    sy::RunOptions profiled;
    profiled.trace = &stepEvents;
    profiled.profileSteps = true;
    for (int64_t i = 0; i < runs; ++i) {
      progress.update("profile " + std::to_string(i + 1) + "/" + std::to_string(runs));
      auto r = model.run(in, profiled);
      if (!r.ok()) {
        progress.clear();
        return fail(r.status());
      }
    }
    progress.clear();
    profile = sy::summarizeProfile(stepEvents, runs);
  }

  const double mean = lat.mean();
  const double runsPerS = tpWallS > 0 ? static_cast<double>(tpRuns) / tpWallS : 0;
  const int64_t rss = peakRssBytes();

  if (!a.tracePath.empty()) {
    sy::Status st = rec.write(a.tracePath, modelPath);
    if (!st.ok()) return fail(st);
  }

  if (a.json) {
    Json j;
    j["model"] = modelPath;
    j["backends"] = Json::array();
    for (const auto& b : engine.backends()) j["backends"].push_back(b.name);
    Json regions = Json::object();
    for (const sy::Region& r : model.plan().regions) regions[r.backend] = regions.value(r.backend, 0) + 1;
    j["regions"] = regions;
    j["nodes"] = graph.numNodes();
    j["load_ms"] = loadMs;
    j["compile_ms"] = compileMs;
    j["warmup"] = a.warmup;
    j["latency_ms"] = Json{{"runs", lat.count()},
                           {"min", lat.min()},
                           {"median", lat.percentile(50)},
                           {"mean", mean},
                           {"p90", lat.percentile(90)},
                           {"p99", lat.percentile(99)},
                           {"max", lat.max()}};
    j["throughput"] = Json{{"threads", a.threads}, {"runs", tpRuns}, {"seconds", tpWallS}, {"runs_per_second", runsPerS}};
    j["peak_rss_bytes"] = rss;
    if (!a.tracePath.empty()) j["trace"] = a.tracePath;
    if (a.profile) {
      Json rows = Json::array();
      const char* kinds[] = {"step", "region", "outside_steps"};
      for (const sy::ProfileRow& r : profile.rows) {
        rows.push_back(Json{{"kind", kinds[static_cast<int>(r.kind)]},
                            {"backend", r.backend},
                            {"what", r.what},
                            {"detail", r.detail},
                            {"count", r.count},
                            {"ms_per_run", r.totalUs / 1000.0 / static_cast<double>(profile.runs)},
                            {"share_percent", r.sharePercent}});
      }
      j["profile"] = Json{{"runs", profile.runs},
                          {"region_ms_per_run", profile.regionUs / 1000.0 / static_cast<double>(profile.runs)},
                          {"step_share_percent", profile.regionUs > 0 ? 100.0 * profile.stepUs / profile.regionUs : 0.0},
                          {"regions_with_steps", profile.regionsWithSteps},
                          {"regions_without_steps", profile.regionsWithoutSteps},
                          {"rows", rows}};
    }
    std::cout << j.dump() << "\n";
    return kExitOk;
  }
  std::cout << "model:      " << modelPath << " (" << graph.numNodes() << " nodes)\n";
  std::cout << "backends:   " << backendList(engine) << "; " << regionSummary(model.plan()) << "\n";
  std::cout << "load:       " << fixed(loadMs, 2) << " ms, compile " << fixed(compileMs, 2) << " ms\n";
  std::cout << "inputs:     ";
  for (size_t i = 0; i < in.size(); ++i)
    std::cout << (i ? ", " : "") << "%" << graph.inputs()[i]->name() << " " << in[i].typeString()
              << (inputs->origin[i] == "random" ? " (random)" : "");
  std::cout << "\n";
  std::cout << "warmup:     " << a.warmup << " runs\n";
  char line[256];
  std::snprintf(line, sizeof(line), "latency:    %lld runs, one caller: min %.3f  median %.3f  mean %.3f  p90 %.3f  p99 %.3f  max %.3f ms\n",
                static_cast<long long>(lat.count()), lat.min(), lat.percentile(50), mean, lat.percentile(90),
                lat.percentile(99), lat.max());
  std::cout << line;
  std::snprintf(line, sizeof(line), "throughput: %d thread%s, %lld runs in %.3f s: %.1f runs/s\n", a.threads,
                a.threads == 1 ? "" : "s", static_cast<long long>(tpRuns), tpWallS, runsPerS);
  std::cout << line;
  std::snprintf(line, sizeof(line), "peak RSS:   %.1f MiB\n", static_cast<double>(rss) / (1024.0 * 1024.0));
  std::cout << line;
  if (!a.tracePath.empty()) std::cout << "trace:      " << a.tracePath << " (the single-caller runs)\n";
  if (a.profile) std::cout << sy::formatProfile(profile, a.profileRows);
  return kExitOk;
}

/// A CLI11 check for a finite number >= 0 (> 0 when `positive`). CLI11's own
/// PositiveNumber lets "nan" through (every comparison with NaN is false).
CLI::Validator finiteNumber(bool positive) {
  return CLI::Validator(
      [positive](std::string& text) -> std::string {
        double v = 0;
        try {
          size_t used = 0;
          v = std::stod(text, &used);
          if (used != text.size()) return "not a number: " + text;
        } catch (const std::exception&) {
          return "not a number: " + text;
        }
        if (!std::isfinite(v) || v < 0 || (positive && v == 0))
          return std::string("must be a finite number ") + (positive ? "> 0" : ">= 0") + ", got " + text;
        return std::string();
      },
      positive ? "FINITE > 0" : "FINITE >= 0");
}

void addInputOptions(CLI::App* cmd, InputOptions& o) {
  cmd->add_option("--input,-i", o.inputArgs, "model input from a .npy file, NAME=FILE.npy (repeat per input; "
                                              "FILE.npy alone for a model with one input)")
      ->allow_extra_args(false);
  cmd->add_flag("--random-inputs", o.randomInputs,
                "generate the inputs not given with --input: floats uniform in [-1, 1), ints in [0, 4), bools alternating");
  cmd->add_option("--seed", o.seed, "seed of the generated inputs (default 0)");
  cmd->add_option("--dim", o.dimArgs, "size of a symbolic dimension for generated inputs, NAME=SIZE (default 1)")
      ->allow_extra_args(false);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Switchyard: run ML models across CPUs, GPUs and other devices."};
  app.require_subcommand(1);
  app.footer("MODEL is a Switchyard program (.sy) or an ONNX model (.onnx).\n"
             "Exit codes: 0 success, 1 the model/config/run failed or outputs did not match, 2 bad command line.\n"
             "See docs/cli.md.");

  std::string program;
  std::string configPath, backends, format = "table";
  bool strict = false, explain = false, json = false;

  auto addEngineOptions = [&](CLI::App* cmd) {
    cmd->add_option("--config", configPath, "device config (YAML; see docs/config.md)");
    cmd->add_option("--backends", backends, "backends in priority order, e.g. opencl,cpu (overrides the config)");
    cmd->add_flag("--strict", strict, "a plugin that cannot be loaded is an error");
  };

  RunArgs runArgs;
  auto* run = app.add_subcommand("run", "Load a model, split it over the configured backends, run it once, and print, "
                                        "write or check its outputs.\n"
                                        "Examples:\n"
                                        "  switchyard run examples/mlp.sy --config configs/default.yaml --dim N=2\n"
                                        "  switchyard run examples/models/mlp/model.onnx --input x=examples/models/mlp/input_x.npy \\\n"
                                        "      --expect y=examples/models/mlp/output_y.npy --output-dir out/ --trace run.json");
  run->add_option("model", program, "the model: .sy or .onnx")->required();
  addEngineOptions(run);
  addInputOptions(run, runArgs.in);
  run->add_option("--output-dir,-o", runArgs.outputDir, "write every output as NAME.npy into this folder");
  run->add_option("--expect", runArgs.expectArgs, "compare output NAME with a .npy file, NAME=FILE.npy (repeatable); "
                                                  "a mismatch exits with 1")
      ->allow_extra_args(false);
  run->add_option("--rtol", runArgs.rtol, "relative tolerance of --expect: |got - expected| <= atol + rtol * |expected| (default 1e-4)")
      ->check(finiteNumber(false));
  run->add_option("--atol", runArgs.atol, "absolute tolerance of --expect (default 1e-5)")->check(finiteNumber(false));
  run->add_option("--trace", runArgs.tracePath, "write a Chrome trace (JSON, opens in Perfetto) of the run");

  BenchArgs benchArgs;
  auto* bench = app.add_subcommand("bench", "Time a model: latency (min, median, p90, p99) of one caller, throughput "
                                            "of --threads callers sharing one compiled model, and peak memory.\n"
                                            "Examples:\n"
                                            "  switchyard bench examples/models/cnn/model.onnx --iterations 200 --threads 4\n"
                                            "  switchyard bench examples/mlp.sy --dim N=64 --time 5 --json");
  bench->add_option("model", program, "the model: .sy or .onnx")->required();
  addEngineOptions(bench);
  addInputOptions(bench, benchArgs.in);
  bench->add_option("--warmup", benchArgs.warmup, "untimed runs first (default 5)")->check(CLI::NonNegativeNumber);
  auto* iterOpt = bench->add_option("--iterations,-n", benchArgs.iterations, "timed runs (default 100)")
                      ->check(CLI::PositiveNumber);
  auto* timeOpt = bench->add_option("--time,-t", benchArgs.seconds, "run for this many seconds instead (per phase)")
                      ->check(finiteNumber(true));
  iterOpt->excludes(timeOpt);
  bench->add_option("--threads", benchArgs.threads, "concurrent callers for the throughput phase (default 1)")
      ->check(CLI::Range(1, 1024));
  bench->add_flag("--json", benchArgs.json, "print one JSON object");
  bench->add_option("--trace", benchArgs.tracePath, "write a Chrome trace (JSON, opens in Perfetto) of the timed runs");
  bench->add_flag("--profile", benchArgs.profile,
                  "after the timed runs, profile up to 20 more: where the time goes per step inside regions "
                  "(plugins with per-step timings, ABI 1.2) and per region");
  bench->add_option("--profile-rows", benchArgs.profileRows, "rows of the profile to print (default 25, 0: all)");

  auto* plan = app.add_subcommand("plan", "Show how a model is split across backends.\n"
                                          "Examples:\n"
                                          "  switchyard plan examples/mlp.sy --format table --explain\n"
                                          "  switchyard plan examples/models/cnn/model.onnx --format dot | dot -Tsvg > plan.svg");
  plan->add_option("model", program, "the model: .sy or .onnx")->required();
  addEngineOptions(plan);
  plan->add_option("--format", format, "table, json or dot")->check(CLI::IsMember({"table", "json", "dot"}));
  plan->add_flag("--explain", explain, "say for every node where it runs and why not elsewhere");

  std::string outPath;
  bool convertOptimize = false;
  auto* convert = app.add_subcommand("convert", "Convert a model to a Switchyard program: OUT.sy (text IR) and "
                                                "OUT.safetensors (weights).\n"
                                                "Example: switchyard convert examples/models/cnn/model.onnx -o cnn.sy");
  convert->add_option("model", program, "the model: .onnx (or .sy)")->required();
  convert->add_option("-o,--output", outPath, "the .sy file to write")->required();
  convert->add_flag("--optimize", convertOptimize, "run the standard passes first (as `switchyard optimize`)");

  auto* devices = app.add_subcommand("devices", "List plugins, their devices, and plugins that failed to load.\n"
                                                "Example: switchyard devices --json");
  devices->add_option("--config", configPath, "device config (YAML)");
  devices->add_option("--backends", backends, "backends in priority order (overrides the config)");
  devices->add_flag("--json", json, "print JSON");

  CalibrateArgs calibrateArgs;
  auto* calibrate = app.add_subcommand(
      "calibrate",
      "Time each backend's op classes on this machine's devices and store per-device scale factors for the cost "
      "policy's estimates (keyed by plugin, plugin version and device).\n"
      "Example: switchyard calibrate --backends opencl,cpu");
  addEngineOptions(calibrate);
  calibrate->add_option("--out", calibrateArgs.out,
                        "cache file to write (default: partition.calibration, else "
                        "$XDG_CACHE_HOME/switchyard/calibration.json)");
  calibrate->add_option("--classes", calibrateArgs.classes,
                        "op classes to time, comma-separated (matmul, conv, pool, normalize, reduce, elementwise)");
  calibrate->add_option("--time", calibrateArgs.seconds, "seconds per timed graph and backend (default 0.25)");
  calibrate->add_flag("--json", json, "print JSON");

  auto* check = app.add_subcommand("check", "Load and verify a model, then print its canonical text.\n"
                                            "Example: switchyard check examples/mlp.sy");
  check->add_option("model", program, "the model: .sy or .onnx")->required();

  auto* optimize = app.add_subcommand("optimize", "Run the standard passes (shape propagation, constant folding, "
                                                  "CSE, DCE) and print or write the result.\n"
                                                  "Example: switchyard optimize examples/mlp.sy -o /tmp/mlp.sy");
  optimize->add_option("model", program, "the model: .sy or .onnx")->required();
  optimize->add_option("-o,--output", outPath, "write the optimised program here (and its .safetensors)");

  bool markdown = false;
  auto* ops = app.add_subcommand("ops", "List the op set.\nExample: switchyard ops --markdown");
  ops->add_flag("--markdown", markdown, "print the op reference in Markdown");

#if SY_HAVE_SERVER
  sy::serve::ServerOptions serveOptions;
  auto* serve = app.add_subcommand("serve", "Serve the models of a repository over the Open Inference Protocol "
                                            "(KServe v2) on HTTP and gRPC until SIGTERM (see docs/serving.md).\n"
                                            "Example: switchyard serve --model-repository models/ --http-port 8000");
  serve->add_option("--model-repository", serveOptions.modelRepository, "DIR/<model>/<version>/model.onnx")->required();
  serve->add_option("--http-port", serveOptions.httpPort, "HTTP port (default 8000; 0 = any free port, -1 = off)");
  serve->add_option("--grpc-port", serveOptions.grpcPort, "gRPC port (default 8001; 0 = any free port, -1 = off)");
  serve->add_option("--config", serveOptions.deviceConfigPath, "device config for models without their own (YAML)");
  serve->add_option("--host", serveOptions.host, "address to bind (default 0.0.0.0)");
  serve->add_option("--max-request-bytes", serveOptions.maxRequestBytes, "largest request body (default 64 MiB)");
  serve->add_option("--http-threads", serveOptions.httpThreads, "HTTP I/O threads (default: CPU cores)");
  serve->add_option("--drain-seconds", serveOptions.drainSeconds, "on SIGTERM, how long in-flight requests may take");
#endif

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }

#if SY_HAVE_SERVER
  if (*serve) return sy::serve::runServer(serveOptions);
#endif
  if (*ops) {
    if (markdown) {
      std::cout << sy::opReferenceMarkdown();
    } else {
      for (const sy::OpSchema* s : sy::OpRegistry::global().all()) std::cout << s->name << "\n";
    }
    return kExitOk;
  }

  if (*devices) {
    // devices reports what loads and what does not: a listed backend that
    // cannot be used is a warning line here, not the error it is for run/plan.
    auto config = resolveConfig(configPath, backends, false);
    if (!config.ok()) return fail(config.status());
    for (sy::BackendConfig& b : config->backends) b.optional = true;
    auto engine = sy::Engine::create(*config);
    if (!engine.ok()) return fail(engine.status());
    for (const std::string& w : (*engine)->warnings()) std::fprintf(stderr, "switchyard: warning: %s\n", w.c_str());
    return listDevices(**engine, json);
  }

  if (*calibrate) {
    auto engine = makeEngine(configPath, backends, strict);
    if (!engine.ok()) return fail(engine.status());
    return calibrateBackends(**engine, calibrateArgs, json);
  }

  if (*bench && benchArgs.seconds > 0 && benchArgs.iterations > 0)
    return usage("--iterations and --time exclude each other");
  if (*convert && !endsWith(outPath, ".sy")) return usage("convert -o expects a .sy file name, got '" + outPath + "'");

  const auto loadStart = Clock::now();
  auto loaded = loadModel(program);
  if (!loaded.ok()) return fail(loaded.status());
  const double loadMs = msSince(loadStart);
  std::shared_ptr<sy::Graph> graph = std::move(*loaded);

  if (*check) {
    std::cout << sy::printGraph(*graph);
    return kExitOk;
  }
  if (*optimize || *convert) {
    if (*optimize || convertOptimize) {
      sy::Status st = sy::runStandardPasses(*graph);
      if (!st.ok()) return fail(st);
    }
    if (outPath.empty()) {
      std::cout << sy::printGraph(*graph);
      return kExitOk;
    }
    sy::Status st = sy::saveProgram(*graph, outPath);
    if (!st.ok()) return fail(st);
    if (*convert) {
      const auto count = [](size_t n, const char* what) { return std::to_string(n) + " " + what + (n == 1 ? "" : "s"); };
      std::cout << "wrote " << outPath << " (" << count(graph->numNodes(), "node") << ", "
                << count(graph->inputs().size(), "input") << ", " << count(graph->outputs().size(), "output") << ")";
      if (!graph->weights().empty()) {
        size_t bytes = 0;
        for (const auto& [n, t] : graph->weights()) bytes += t.nbytes();
        std::cout << " and " << sy::weightsPathFor(outPath) << " (" << graph->weights().size() << " weights, " << bytes
                  << " bytes)";
      }
      std::cout << "\n";
    }
    return kExitOk;
  }

  auto engine = makeEngine(configPath, backends, strict);
  if (!engine.ok()) return fail(engine.status());
  const auto compileStart = Clock::now();
  auto model = (*engine)->compile(graph);
  if (!model.ok()) return fail(model.status());
  const double compileMs = msSince(compileStart);
  for (const std::string& line : (*model)->compileLog()) std::fprintf(stderr, "switchyard: warning: %s\n", line.c_str());
  if (*plan) {
    if (format == "json") std::cout << (*model)->plan().toJson() << "\n";
    else if (format == "dot") std::cout << (*model)->plan().toDot();
    else std::cout << (*model)->plan().toTable(explain);
    return kExitOk;
  }
  if (*bench) return benchModel(program, *graph, **engine, **model, benchArgs, loadMs, compileMs);
  return runModel(program, *graph, **engine, **model, runArgs);
}
