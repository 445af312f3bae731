// `switchyard`: the command line.
//
//   switchyard run PROGRAM.sy [--seed S] [--dim N=8]...   run on the reference interpreter
//   switchyard check PROGRAM.sy                          parse, verify, print the canonical text
//   switchyard optimize PROGRAM.sy [-o OUT.sy]           run the standard passes
//   switchyard ops [--markdown]                          list the op set
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <map>
#include <random>
#include <string>

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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Switchyard: run ML programs across CPUs, GPUs and other devices."};
  app.require_subcommand(1);

  std::string program;
  uint64_t seed = 0;
  std::vector<std::string> dimArgs;
  auto* run = app.add_subcommand("run", "Run a program on the reference interpreter and print its outputs.\n"
                                        "Example: switchyard run examples/mlp.sy --dim N=2");
  run->add_option("program", program, "the .sy program")->required();
  run->add_option("--seed", seed, "seed of the generated inputs");
  run->add_option("--dim", dimArgs, "size of a symbolic dimension, NAME=SIZE");

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
  auto interp = sy::Interpreter::create(graph);
  if (!interp.ok()) return fail(interp.status());
  auto inputs = makeInputs(*graph, seed, dims);
  if (!inputs.ok()) return fail(inputs.status());
  for (size_t i = 0; i < inputs->size(); ++i)
    std::cout << "input  %" << graph->inputs()[i]->name() << " = " << (*inputs)[i].toString(8) << "\n";
  auto outs = (*interp)->run(*inputs);
  if (!outs.ok()) return fail(outs.status());
  for (size_t i = 0; i < outs->size(); ++i)
    std::cout << "output %" << graph->outputs()[i]->name() << " = " << (*outs)[i].toString(32) << "\n";
  return kExitOk;
}
