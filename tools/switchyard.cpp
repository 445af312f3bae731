// `switchyard`: the command line.
//
//   switchyard run PROGRAM.sy [--config F] [--backends a,b] [--seed S] [--dim N=8]...
//   switchyard plan PROGRAM.sy [--config F] [--backends a,b] [--format table|json|dot] [--explain]
//   switchyard devices [--config F] [--json]
//   switchyard check PROGRAM.sy                          parse, verify, print the canonical text
//   switchyard optimize PROGRAM.sy [-o OUT.sy]           run the standard passes
//   switchyard ops [--markdown]                          list the op set
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <map>
#include <random>
#include <string>

#include "switchyard/config.h"
#include "switchyard/engine.h"
#include "switchyard/interpreter.h"
#include "switchyard/op_registry.h"
#include "switchyard/passes.h"
#include "switchyard/program.h"
#include "switchyard/text.h"

namespace {

// Exit codes (docs/cli.md).
constexpr int kExitOk = 0;
constexpr int kExitError = 1;  // the model or the run failed
constexpr int kExitUsage = 2;  // bad command line

int fail(const sy::Status& st) {
  std::fprintf(stderr, "switchyard: error: %s\n", st.message().c_str());
  return kExitError;
}

/// Deterministic inputs for a graph: floats in [-1, 1), ints in [0, 4), bools alternating.
sy::Result<std::vector<sy::Tensor>> makeInputs(const sy::Graph& g, uint64_t seed,
                                               const std::map<std::string, int64_t>& dims) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uni(-1.0, 1.0);
  std::vector<sy::Tensor> inputs;
  for (const sy::Value* in : g.inputs()) {
    const sy::Type& t = in->type();
    if (!t.rankKnown()) return sy::invalidArgument("input %", in->name(), " has unknown rank; cannot make an input for it");
    sy::Shape shape;
    for (const sy::Dim& d : t.dims()) {
      if (d.isStatic()) {
        shape.push_back(d.value());
      } else if (d.isSymbol() && dims.count(d.symbolName())) {
        shape.push_back(dims.at(d.symbolName()));
      } else {
        return sy::invalidArgument("input %", in->name(), " has dimension '", d.toString(), "' in ", t.toString(),
                                   "; give its size with --dim ", d.isSymbol() ? d.symbolName() : "NAME", "=SIZE");
      }
    }
    SY_ASSIGN_OR_RETURN(sy::Tensor tensor, sy::Tensor::allocate(t.dtype(), shape));
    for (int64_t i = 0; i < tensor.numel(); ++i) {
      if (sy::isFloat(t.dtype())) tensor.setDouble(i, uni(rng));
      else if (t.dtype() == sy::DType::Bool) tensor.setInt(i, i % 2 == 0);
      else tensor.setInt(i, static_cast<int64_t>(rng() % 4));
    }
    inputs.push_back(std::move(tensor));
  }
  return inputs;
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

std::string deviceTypeName(sy_device_type t) {
  switch (t) {
    case SY_DEVICE_CPU: return "cpu";
    case SY_DEVICE_GPU: return "gpu";
    default: return "accelerator";
  }
}

std::string jsonEscape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\', o += c;
    else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      o += buf;
    } else o += c;
  }
  return o;
}

int listDevices(const sy::Engine& engine, bool json) {
  if (json) {
    std::cout << "{\"plugins\": [";
    bool first = true;
    for (const auto& p : engine.plugins()) {
      std::cout << (first ? "" : ", ") << "{\"name\": \"" << jsonEscape(p->name()) << "\", \"version\": \""
                << jsonEscape(p->version()) << "\", \"abi\": \"" << p->abiVersion() << "\", \"path\": \""
                << jsonEscape(p->path()) << "\", \"devices\": [";
      first = false;
      for (size_t i = 0; i < p->devices().size(); ++i) {
        const auto& d = p->devices()[i];
        std::cout << (i ? ", " : "") << "{\"index\": " << d.index << ", \"name\": \"" << jsonEscape(d.name)
                  << "\", \"type\": \"" << deviceTypeName(d.type) << "\", \"memory_bytes\": " << d.memoryBytes
                  << ", \"score\": " << d.score << ", \"host_visible\": " << (d.hostVisibleMemory ? "true" : "false") << "}";
      }
      std::cout << "]}";
    }
    std::cout << "], \"failed\": [";
    for (size_t i = 0; i < engine.loadFailures().size(); ++i) {
      const auto& f = engine.loadFailures()[i];
      std::cout << (i ? ", " : "") << "{\"path\": \"" << jsonEscape(f.path) << "\", \"reason\": \"" << jsonEscape(f.reason) << "\"}";
    }
    std::cout << "], \"backends\": [";
    for (size_t i = 0; i < engine.backends().size(); ++i)
      std::cout << (i ? ", " : "") << "\"" << jsonEscape(engine.backends()[i].name) << "\"";
    std::cout << "]}\n";
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
  std::cout << "Backends in priority order: ";
  for (size_t i = 0; i < engine.backends().size(); ++i) std::cout << (i ? ", " : "") << engine.backends()[i].name;
  std::cout << "\n";
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Switchyard: run ML programs across CPUs, GPUs and other devices."};
  app.require_subcommand(1);

  std::string program;
  uint64_t seed = 0;
  std::vector<std::string> dimArgs;
  std::string configPath, backendList, format = "table";
  bool strict = false, explain = false, json = false;
  auto* run = app.add_subcommand("run", "Partition a program over the configured backends, run it and print its "
                                        "outputs.\nExample: switchyard run examples/mlp.sy --config configs/default.yaml --dim N=2");
  run->add_option("program", program, "the .sy program")->required();
  run->add_option("--config", configPath, "device config (YAML)");
  run->add_option("--backends", backendList, "backends in priority order, e.g. opencl,cpu (overrides the config)");
  run->add_flag("--strict", strict, "a plugin that cannot be loaded is an error");
  run->add_option("--seed", seed, "seed of the generated inputs");
  run->add_option("--dim", dimArgs, "size of a symbolic dimension, NAME=SIZE");

  auto* plan = app.add_subcommand("plan", "Show how a program is split across backends.\n"
                                          "Example: switchyard plan examples/mlp.sy --format table --explain");
  plan->add_option("program", program, "the .sy program")->required();
  plan->add_option("--config", configPath, "device config (YAML)");
  plan->add_option("--backends", backendList, "backends in priority order (overrides the config)");
  plan->add_option("--format", format, "table, json or dot")->check(CLI::IsMember({"table", "json", "dot"}));
  plan->add_flag("--explain", explain, "say for every node where it runs and why not elsewhere");
  plan->add_flag("--strict", strict, "a plugin that cannot be loaded is an error");

  auto* devices = app.add_subcommand("devices", "List plugins, their devices, and plugins that failed to load.\n"
                                                "Example: switchyard devices --json");
  devices->add_option("--config", configPath, "device config (YAML)");
  devices->add_option("--backends", backendList, "backends in priority order (overrides the config)");
  devices->add_flag("--json", json, "print JSON");

  auto* check = app.add_subcommand("check", "Parse and verify a program, then print its canonical text.\n"
                                            "Example: switchyard check examples/mlp.sy");
  check->add_option("program", program, "the .sy program")->required();

  std::string outPath;
  auto* optimize = app.add_subcommand("optimize", "Run the standard passes (shape propagation, constant folding, "
                                                  "CSE, DCE) and print or write the result.\n"
                                                  "Example: switchyard optimize examples/mlp.sy -o /tmp/mlp.sy");
  optimize->add_option("program", program, "the .sy program")->required();
  optimize->add_option("-o,--output", outPath, "write the optimised program here");

  bool markdown = false;
  auto* ops = app.add_subcommand("ops", "List the op set.\nExample: switchyard ops --markdown");
  ops->add_flag("--markdown", markdown, "print the op reference in Markdown");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }

  if (*ops) {
    if (markdown) {
      std::cout << sy::opReferenceMarkdown();
    } else {
      for (const sy::OpSchema* s : sy::OpRegistry::global().all()) std::cout << s->name << "\n";
    }
    return kExitOk;
  }

  if (*devices) {
    auto engine = makeEngine(configPath, backendList, false);
    if (!engine.ok()) return fail(engine.status());
    return listDevices(**engine, json);
  }

  auto loaded = sy::loadProgram(program);
  if (!loaded.ok()) return fail(loaded.status());
  std::shared_ptr<sy::Graph> graph = std::move(*loaded);

  if (*check) {
    std::cout << sy::printGraph(*graph);
    return kExitOk;
  }
  if (*optimize) {
    sy::Status st = sy::runStandardPasses(*graph);
    if (!st.ok()) return fail(st);
    if (outPath.empty()) {
      std::cout << sy::printGraph(*graph);
    } else {
      st = sy::saveProgram(*graph, outPath);
      if (!st.ok()) return fail(st);
    }
    return kExitOk;
  }

  // run
  std::map<std::string, int64_t> dims;
  for (const std::string& d : dimArgs) {
    const size_t eq = d.find('=');
    try {
      if (eq == std::string::npos) throw std::invalid_argument(d);
      dims[d.substr(0, eq)] = std::stoll(d.substr(eq + 1));
    } catch (const std::exception&) {
      std::fprintf(stderr, "switchyard: error: --dim expects NAME=SIZE, got '%s'\n", d.c_str());
      return kExitUsage;
    }
  }
  auto engine = makeEngine(configPath, backendList, strict);
  if (!engine.ok()) return fail(engine.status());
  auto model = (*engine)->compile(graph);
  if (!model.ok()) return fail(model.status());
  for (const std::string& line : (*model)->compileLog()) std::fprintf(stderr, "switchyard: warning: %s\n", line.c_str());
  if (*plan) {
    if (format == "json") std::cout << (*model)->plan().toJson() << "\n";
    else if (format == "dot") std::cout << (*model)->plan().toDot();
    else std::cout << (*model)->plan().toTable(explain);
    return kExitOk;
  }
  auto inputs = makeInputs(*graph, seed, dims);
  if (!inputs.ok()) return fail(inputs.status());
  std::cout << "backends: ";
  for (size_t i = 0; i < (*engine)->backends().size(); ++i) std::cout << (i ? ", " : "") << (*engine)->backends()[i].name;
  std::cout << "; " << (*model)->plan().regions.size() << " region(s)\n";
  for (size_t i = 0; i < inputs->size(); ++i)
    std::cout << "input  %" << graph->inputs()[i]->name() << " = " << (*inputs)[i].toString(8) << "\n";
  auto outs = (*model)->run(*inputs);
  if (!outs.ok()) return fail(outs.status());
  for (size_t i = 0; i < outs->size(); ++i)
    std::cout << "output %" << graph->outputs()[i]->name() << " = " << (*outs)[i].toString(32) << "\n";
  return kExitOk;
}
