// `if` and `loop` inside a compiled region: each block becomes a step list of
// its own (the region compiler's fusions, oneDNN steps and generic kernels),
// run by one control-flow step.
//
// Note [Control flow in a region]
// The capability query claims an `if`/`loop` when every node nested in it
// runs here, so the partitioner gives it whole to cpu (DESIGN.md, Partitioner
// item 5) and a scripted model is one region instead of one per block with
// the host running the control flow between them.
//
// Values. Block values share the region's value ids (the view numbers every
// value of the region, nested ones included), so block steps read and write
// the same per-run value table as the region's own steps; a block reads
// values of enclosing blocks (captures) by their ids. The control-flow step
// lists its captures among its inputs, so the region's lifetimes keep them
// alive through it and its layout decisions keep them row-major.
//
// Memory. A value defined inside a block gets a memory slot of its own in the
// run (Run::slot): it is reused by every iteration and, since a run's slots
// are pooled by the region, by later calls, so a loop whose shapes repeat
// allocates nothing in steady state. Nothing that outlives an iteration points
// into a slot: carried values are copied into two slots per carried value
// (ping-pong: an iteration reads one and writes the other), scan values are
// appended to a growing slot, and `if`/`loop` outputs are copied into the
// step's outputs (region memory). Scratch taken during an iteration (oneDNN
// scratchpads, layout conversions) is given back when the iteration ends.
//
// Layouts. A block's returns, its parameters and its captures are row-major:
// a oneDNN blocked layout never crosses a block boundary.
//
// Threads. The steps are immutable after compile; every run has its own
// values, slots and scratch, so one region runs from many threads at once.
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "steps.h"

namespace sy_cpu {
namespace {

size_t bytesOfValue(const RunValue& v) {
  const size_t size = sdk::dtypeSize(v.dtype);
  SY_CPU_REQUIRE(size != 0, SY_ERROR_INVALID_ARGUMENT, "unknown dtype ", v.dtype);
  return static_cast<size_t>(std::max<int64_t>(v.dims.numElements(), 0)) * size;
}

std::string typeOf(const RunValue& v) {
  return sdk::format(sdk::dtypeName(v.dtype), sdk::formatDims(v.dims.ref()));
}

/// A bool (or numeric) tensor with one element, as a condition.
bool conditionOf(const RunValue& v, const char* what) {
  SY_CPU_REQUIRE(v.dims.numElements() == 1, SY_ERROR_INVALID_ARGUMENT, what, " must have exactly one element, got ",
                 typeOf(v));
  switch (v.dtype) {
    case SY_DTYPE_BOOL:
    case SY_DTYPE_U8:
    case SY_DTYPE_I8: return *static_cast<const uint8_t*>(v.data) != 0;
    case SY_DTYPE_I32: return *static_cast<const int32_t*>(v.data) != 0;
    case SY_DTYPE_I64: return *static_cast<const int64_t*>(v.data) != 0;
    default: sdk::fail(SY_ERROR_INVALID_ARGUMENT, what, " must be bool, got ", typeOf(v));
  }
}

/// One compiled block: its steps and the ids of its parameters and returns.
struct Body {
  std::vector<std::unique_ptr<Step>> steps;
  std::vector<int32_t> params, returns;
};

Body compileBody(const sdk::GraphView& region, const sdk::BlockView& block, BlockCompiler& compiler,
                 const std::string& owner) {
  Body b;
  for (size_t i = 0; i < block.numParams(); ++i) b.params.push_back(block.param(i).index());
  for (size_t i = 0; i < block.numReturns(); ++i) b.returns.push_back(block.returnValue(i).index());
  b.steps = compiler.compileBlock(region, block);
  decideBlockedLayouts(b.steps, b.returns);
  if (const char* p = std::getenv("SY_CPU_PROFILE"); p != nullptr && *p != '\0' && *p != '0') {
    std::fprintf(stderr, "  block '%s' of %s: %zu steps\n", std::string(block.label()).c_str(), owner.c_str(),
                 b.steps.size());
    for (const std::unique_ptr<Step>& s : b.steps)
      std::fprintf(stderr, "    %s%s\n", s->describe.c_str(), s->blockedOk() ? " [blocked output]" : "");
  }
  return b;
}

/// Runs a block's steps; errors name the step (the region adds the
/// control-flow node around them).
void runBody(Run& run, const Body& body) {
  for (const std::unique_ptr<Step>& s : body.steps) {
    try {
      s->run(run);
    } catch (const sdk::Error& e) {
      sdk::fail(e.code(), s->describe, ": ", e.what());
    } catch (const dnnl::error& e) {
      sdk::fail(SY_ERROR_INTERNAL, s->describe, ": oneDNN: ", e.what());
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {
      sdk::fail(SY_ERROR_INTERNAL, s->describe, ": ", e.what());
    }
  }
}

/// Block return `id` as this run has it (row-major by construction).
const RunValue& returned(Run& run, int32_t id, size_t i) {
  const RunValue& r = run.value(id);
  SY_CPU_REQUIRE(r.set, SY_ERROR_INTERNAL, "block return ", i, " was never computed");
  SY_CPU_REQUIRE(r.md == nullptr, SY_ERROR_INTERNAL, "block return ", i, " is in a blocked layout");
  return r;
}

/// Copies `r` into output `o` of `step` (region memory).
void copyToOutput(Run& run, const Step& step, size_t o, const RunValue& r) {
  SY_CPU_REQUIRE(r.dtype == step.outDtypes[o], SY_ERROR_INVALID_ARGUMENT, "output ", o, " is ", typeOf(r),
                 " but the model declares ", sdk::dtypeName(step.outDtypes[o]));
  void* dst = run.out(step, o, r.dims);
  const size_t n = bytesOfValue(r);
  if (n > 0 && dst != r.data) std::memcpy(dst, r.data, n);
}

// ============================================================================
// if

class IfStep final : public Step {
 public:
  IfStep(const sdk::GraphView& region, const sdk::NodeView& node, BlockCompiler& compiler) {
    then_ = compileBody(region, node.block(0), compiler, node.describe());
    else_ = compileBody(region, node.block(1), compiler, node.describe());
    SY_CPU_REQUIRE(then_.returns.size() == node.numOutputs() && else_.returns.size() == node.numOutputs(),
                   SY_ERROR_INVALID_ARGUMENT, node.describe(), ": the blocks yield ", then_.returns.size(), " and ",
                   else_.returns.size(), " values for ", node.numOutputs(), " outputs");
  }

  void run(Run& run) const override {
    const bool cond = conditionOf(run.in(*this, 0), "the condition");
    const Body& b = cond ? then_ : else_;
    runBody(run, b);
    for (size_t o = 0; o < b.returns.size(); ++o) copyToOutput(run, *this, o, returned(run, b.returns[o], o));
  }

 private:
  Body then_, else_;
};

// ============================================================================
// loop (ONNX semantics, docs/ir.md)

class LoopStep final : public Step {
 public:
  LoopStep(const sdk::GraphView& region, const sdk::NodeView& node, BlockCompiler& compiler) {
    SY_CPU_REQUIRE(node.numInputs() >= 2, SY_ERROR_INVALID_ARGUMENT, node.describe(),
                   ": expected the max trip count, the condition and the carried values");
    carried_ = node.numInputs() - 2;
    body_ = compileBody(region, node.block(0), compiler, node.describe());
    SY_CPU_REQUIRE(body_.params.size() == carried_ + 2, SY_ERROR_INVALID_ARGUMENT, node.describe(),
                   ": the body takes ", body_.params.size(), " parameters, expected ", carried_ + 2,
                   " (iteration, condition, ", carried_, " carried)");
    SY_CPU_REQUIRE(body_.returns.size() >= carried_ + 1 && node.numOutputs() == body_.returns.size() - 1,
                   SY_ERROR_INVALID_ARGUMENT, node.describe(), ": the body yields ", body_.returns.size(),
                   " values for ", carried_, " carried values and ", node.numOutputs(), " outputs");
    scans_ = body_.returns.size() - 1 - carried_;
    iterSlot_ = compiler.newSlot();
    condSlot_ = compiler.newSlot();
    for (size_t k = 0; k < carried_; ++k) stateSlots_.push_back({compiler.newSlot(), compiler.newSlot()});
    const std::vector<ValueInfo>& info = compiler.valueInfo();
    for (size_t s = 0; s < scans_; ++s) {
      scanSlots_.push_back(compiler.newSlot());
      // The element dims of a scan output when the loop runs no iteration:
      // the declared output's dims after the first, else the body's value.
      const ValueInfo& out = info[static_cast<size_t>(node.output(carried_ + s).index())];
      const ValueInfo& elem = info[static_cast<size_t>(body_.returns[1 + carried_ + s])];
      // A symbolic dim takes its size from a region input with that symbol
      // (as the reference binds symbols from the inputs); unknown ones are 0.
      std::vector<ScanDim> dims;
      auto fromSymbol = [&](const std::string& symbol) {
        ScanDim d;
        if (symbol.empty()) return d;
        for (int32_t in : compiler.regionInputs()) {
          const ValueInfo& vi = info[static_cast<size_t>(in)];
          for (size_t a = 0; a < vi.symbols.size(); ++a) {
            if (vi.symbols[a] == symbol) return ScanDim{0, in, static_cast<int32_t>(a)};
          }
        }
        return d;
      };
      if (out.rank >= 1) {
        for (size_t d = 1; d < out.dims.size(); ++d) {
          ScanDim sd{std::max<int64_t>(out.dims[d], 0)};
          if (out.dims[d] < 0) sd = fromSymbol(out.symbols[d]);
          if (out.dims[d] < 0 && sd.input < 0 && elem.rank == out.rank - 1) {
            sd = elem.dims[d - 1] >= 0 ? ScanDim{elem.dims[d - 1]} : fromSymbol(elem.symbols[d - 1]);
          }
          dims.push_back(sd);
        }
      } else if (elem.rank >= 0) {
        for (size_t d = 0; d < elem.dims.size(); ++d)
          dims.push_back(elem.dims[d] >= 0 ? ScanDim{elem.dims[d]} : fromSymbol(elem.symbols[d]));
      }
      emptyScanDims_.push_back(dims);
    }
  }

  void run(Run& run) const override {
    int64_t maxTrip = std::numeric_limits<int64_t>::max();
    if (run.has(*this, 0)) {
      const RunValue& t = run.in(*this, 0);
      SY_CPU_REQUIRE(t.dims.numElements() == 1, SY_ERROR_INVALID_ARGUMENT,
                     "the max trip count must have one element, got ", typeOf(t));
      SY_CPU_REQUIRE(t.dtype == SY_DTYPE_I64 || t.dtype == SY_DTYPE_I32, SY_ERROR_INVALID_ARGUMENT,
                     "the max trip count must be i64, got ", typeOf(t));
      const int64_t n = t.dtype == SY_DTYPE_I64 ? *static_cast<const int64_t*>(t.data)
                                                : *static_cast<const int32_t*>(t.data);
      if (n >= 0) maxTrip = n;
    }
    bool cond = run.has(*this, 1) ? conditionOf(run.in(*this, 1), "the loop condition") : true;

    std::vector<RunValue> state(carried_);
    for (size_t k = 0; k < carried_; ++k) state[k] = run.in(*this, 2 + k);
    auto* iterMem = static_cast<int64_t*>(run.slot(iterSlot_, sizeof(int64_t), 0));
    auto* condMem = static_cast<uint8_t*>(run.slot(condSlot_, 1, 0));
    std::vector<RunValue> scanElem(scans_);
    std::vector<size_t> scanBytes(scans_, 0);
    int64_t it = 0;
    for (; it < maxTrip && cond; ++it) {
      const Run::ScratchMark mark = run.markScratch();
      *iterMem = it;
      *condMem = 1;
      setParam(run, body_.params[0], iterMem, SY_DTYPE_I64, Dims{});
      setParam(run, body_.params[1], condMem, SY_DTYPE_BOOL, Dims{});
      for (size_t k = 0; k < carried_; ++k) setParam(run, body_.params[2 + k], state[k].data, state[k].dtype, state[k].dims);
      try {
        runBody(run, body_);
        cond = conditionOf(returned(run, body_.returns[0], 0), "the condition yielded by the loop body");
        const size_t parity = static_cast<size_t>(it & 1);
        for (size_t k = 0; k < carried_; ++k) {
          const RunValue& r = returned(run, body_.returns[1 + k], 1 + k);
          const size_t n = bytesOfValue(r);
          void* dst = run.slot(stateSlots_[k][parity], n, 0);
          if (n > 0) std::memmove(dst, r.data, n);
          state[k] = r;
          state[k].data = dst;
        }
        for (size_t s = 0; s < scans_; ++s) {
          const RunValue& r = returned(run, body_.returns[1 + carried_ + s], 1 + carried_ + s);
          if (it == 0) {
            scanElem[s] = r;
          } else {
            SY_CPU_REQUIRE(r.dtype == scanElem[s].dtype && r.dims == scanElem[s].dims, SY_ERROR_INVALID_ARGUMENT,
                           "scan output ", s, " is ", typeOf(r), " in this iteration but ", typeOf(scanElem[s]),
                           " in iteration 0");
          }
          const size_t n = bytesOfValue(r);
          SY_CPU_REQUIRE(scanBytes[s] <= std::numeric_limits<size_t>::max() / 2 - n, SY_ERROR_OUT_OF_MEMORY,
                         "scan output ", s, " grows too large");
          auto* dst = static_cast<std::byte*>(run.slot(scanSlots_[s], scanBytes[s] + n, scanBytes[s]));
          if (n > 0) std::memcpy(dst + scanBytes[s], r.data, n);
          scanBytes[s] += n;
        }
      } catch (const sdk::Error& e) {
        sdk::fail(e.code(), "iteration ", it, ": ", e.what());
      }
      run.releaseScratch(mark);
    }
    for (size_t k = 0; k < carried_; ++k) copyToOutput(run, *this, k, state[k]);
    for (size_t s = 0; s < scans_; ++s) {
      Dims dims;
      dims.rank = 1;
      dims.d[0] = it;
      if (it > 0) {
        SY_CPU_REQUIRE(scanElem[s].dims.rank < SY_MAX_RANK, SY_ERROR_INVALID_ARGUMENT, "scan output ", s,
                       " of rank ", scanElem[s].dims.rank, " cannot be stacked");
        for (int32_t d = 0; d < scanElem[s].dims.rank; ++d) dims.d[dims.rank++] = scanElem[s].dims.d[d];
        SY_CPU_REQUIRE(scanElem[s].dtype == outDtypes[carried_ + s], SY_ERROR_INVALID_ARGUMENT, "scan output ", s,
                       " is ", typeOf(scanElem[s]), " but the model declares ",
                       sdk::dtypeName(outDtypes[carried_ + s]));
      } else {
        for (const ScanDim& d : emptyScanDims_[s]) {
          int64_t size = d.size;
          if (d.input >= 0) {
            const RunValue& in = run.value(d.input);
            if (in.set && d.axis < in.dims.rank) size = in.dims.d[d.axis];
          }
          SY_CPU_REQUIRE(dims.rank < SY_MAX_RANK, SY_ERROR_INVALID_ARGUMENT, "scan output ", s, " has too high a rank");
          dims.d[dims.rank++] = size;
        }
      }
      void* dst = run.out(*this, carried_ + s, dims);
      if (scanBytes[s] > 0) std::memcpy(dst, run.slot(scanSlots_[s], scanBytes[s], scanBytes[s]), scanBytes[s]);
    }
  }

 private:
  static void setParam(Run& run, int32_t id, void* data, int32_t dtype, const Dims& dims) {
    RunValue& v = run.value(id);
    v.data = data;
    v.dtype = dtype;
    v.dims = dims;
    v.md = nullptr;
    v.set = true;
    v.absBound = HUGE_VAL;  // new data each iteration
  }

  Body body_;
  size_t carried_ = 0, scans_ = 0;
  size_t iterSlot_ = 0, condSlot_ = 0;
  std::vector<std::array<size_t, 2>> stateSlots_;  // per carried value: ping-pong slots
  std::vector<size_t> scanSlots_;
  /// A dim of a scan element when no iteration ran: `size`, or dim `axis`
  /// of region input `input`.
  struct ScanDim {
    int64_t size = 0;
    int32_t input = -1;
    int32_t axis = 0;
  };
  std::vector<std::vector<ScanDim>> emptyScanDims_;
};

void collect(const sdk::NodeView& node, std::vector<int32_t>& used, std::unordered_set<int32_t>& defined) {
  for (size_t b = 0; b < node.numBlocks(); ++b) {
    const sdk::BlockView block = node.block(b);
    for (size_t i = 0; i < block.numParams(); ++i) defined.insert(block.param(i).index());
    for (size_t n = 0; n < block.numNodes(); ++n) {
      const sdk::NodeView inner = block.node(n);
      for (size_t i = 0; i < inner.numInputs(); ++i)
        if (inner.hasInput(i)) used.push_back(inner.input(i).index());
      for (size_t o = 0; o < inner.numOutputs(); ++o) defined.insert(inner.output(o).index());
      collect(inner, used, defined);
    }
    for (size_t i = 0; i < block.numReturns(); ++i) used.push_back(block.returnValue(i).index());
  }
}

}  // namespace

std::vector<int32_t> capturedValues(const sdk::NodeView& node) {
  std::vector<int32_t> used;
  std::unordered_set<int32_t> defined;
  collect(node, used, defined);
  std::vector<int32_t> out;
  std::unordered_set<int32_t> seen;
  for (int32_t v : used) {
    if (v >= 0 && defined.count(v) == 0 && seen.insert(v).second) out.push_back(v);
  }
  return out;
}

std::vector<int32_t> valuesDefinedInside(const sdk::NodeView& node) {
  std::vector<int32_t> used;
  std::unordered_set<int32_t> defined;
  collect(node, used, defined);
  return {defined.begin(), defined.end()};
}

std::unique_ptr<Step> makeControlFlowStep(const sdk::GraphView& region, const sdk::NodeView& node,
                                          BlockCompiler& compiler) {
  std::unique_ptr<Step> step;
  if (node.op() == "if" && node.numBlocks() == 2 && node.numInputs() == 1) {
    step = std::make_unique<IfStep>(region, node, compiler);
  } else if (node.op() == "loop" && node.numBlocks() == 1) {
    step = std::make_unique<LoopStep>(region, node, compiler);
  } else {
    sdk::fail(SY_ERROR_UNIMPLEMENTED, node.describe(), ": control flow other than if/loop is not supported by cpu");
  }
  for (size_t i = 0; i < node.numInputs(); ++i) step->inputs.push_back(node.hasInput(i) ? node.input(i).index() : -1);
  for (int32_t v : capturedValues(node)) step->inputs.push_back(v);
  for (size_t o = 0; o < node.numOutputs(); ++o) step->outputs.push_back(node.output(o).index());
  return step;
}

void decideBlockedLayouts(const std::vector<std::unique_ptr<Step>>& steps, const std::vector<int32_t>& returns) {
  for (const std::unique_ptr<Step>& step : steps) {
    if (!step->mayProduceBlocked()) continue;
    const int32_t v = step->outputs[0];
    bool ok = std::find(returns.begin(), returns.end(), v) == returns.end();
    bool used = false;
    for (const std::unique_ptr<Step>& user : steps) {
      for (size_t i = 0; i < user->inputs.size(); ++i) {
        if (user->inputs[i] != v) continue;
        used = true;
        ok = ok && user->acceptsBlocked(i);
      }
    }
    step->setBlockedOk(ok && used);
  }
}

std::string controlFlowWhyNot(const sdk::GraphView& graph, const sdk::NodeView& node, double* cost) {
  *cost = 0.0;
  const std::string_view op = node.op();
  if (op == "if") {
    if (node.numBlocks() != 2 || node.numInputs() != 1 || !node.hasInput(0)) return "'if' needs a condition and two blocks";
    if (node.input(0).dtype() != SY_DTYPE_BOOL)
      return sdk::format("the condition is ", node.input(0).typeString(), ", expected bool");
  } else if (op == "loop") {
    if (node.numBlocks() != 1 || node.numInputs() < 2) return "'loop' needs a trip count, a condition and a body";
    if (node.hasInput(0) && node.input(0).dtype() != SY_DTYPE_I64)
      return sdk::format("the max trip count is ", node.input(0).typeString(), ", expected i64");
    if (node.hasInput(1) && node.input(1).dtype() != SY_DTYPE_BOOL)
      return sdk::format("the loop condition is ", node.input(1).typeString(), ", expected bool");
  } else {
    return sdk::format("control flow '", op, "' is not supported by cpu");
  }
  for (size_t b = 0; b < node.numBlocks(); ++b) {
    const sdk::BlockView block = node.block(b);
    for (size_t n = 0; n < block.numNodes(); ++n) {
      const sdk::NodeView inner = block.node(n);
      double innerCost = 0;
      std::string why;
      try {
        why = cpuWhyNot(graph, inner, &innerCost);
      } catch (const sdk::Error& e) {
        why = e.what();
      }
      if (!why.empty()) return sdk::format("nested ", inner.describe(), ": ", why);
    }
  }
  // The nested nodes carry their own costs; the step itself costs a little
  // (the partitioner sums the node and everything nested in it).
  *cost = 1e-7;
  return "";
}

}  // namespace sy_cpu
