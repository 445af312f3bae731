// The region compiler: turns a region into a list of steps (oneDNN fast paths
// with their fusions, fused elementwise chains, views, generic kernels),
// decides which values may stay in oneDNN blocked layouts, and plans memory.
// Execute runs the steps on a per-call state (RegionRun), so one compiled
// region runs from many threads at once.
//
// Note [Memory planning]
// Intermediates live in one arena per call, at offsets planned so that
// values whose lifetimes (first step .. last step that reads them, views
// extending their root) do not overlap share memory: greedy by size, lowest
// fitting offset (TFLite's "greedy by size"). Region outputs get their own
// buffers (handed to the host without a copy); inputs and constants are used
// in place. A plan is keyed by the input dims: the first run with new input
// dims allocates each value separately, records the sizes, and makes the
// plan that later runs with those dims use (a static region does that first
// run at compile time, on zeros, which also creates every oneDNN primitive
// and prepacks weights). A value that needs more bytes than planned (a shape
// that depends on data) falls back to its own allocation, so a plan is a
// hint and never wrong. Plans and their arenas are reused: each plan keeps a
// free list of arenas, one per concurrent caller. At most kMaxPlans input
// signatures are cached per region; later ones run unplanned.
//
// Set SY_CPU_PLAN_LOG=<file> to append one line per plan made
// ("plan arena_bytes=A sum_bytes=S values=V steps=N"), used by the tests.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <climits>
#include <limits>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <map>
#include <shared_mutex>
#include <unordered_map>

#include "dnnl_split.h"  // splitDebug()
#include "steps.h"

namespace sy_cpu {

bool sameShape(const ValueInfo& a, const ValueInfo& b) {
  if (a.rank < 0 || a.rank != b.rank) return false;
  for (size_t i = 0; i < a.dims.size(); ++i) {
    if (a.dims[i] >= 0 || b.dims[i] >= 0) {
      if (a.dims[i] != b.dims[i]) return false;
    } else if (a.symbols[i].empty() || a.symbols[i] != b.symbols[i]) {
      return false;
    }
  }
  return true;
}

namespace {

constexpr size_t kMaxPlans = 16;
constexpr size_t kAlignment = 64;

size_t alignUp(size_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

/// Bytes of a dense tensor (sdk::tensorBytes formats its error message on
/// every call; this one only when it fails).
size_t bytesOf(int32_t dtype, const Dims& dims) {
  const size_t size = sdk::dtypeSize(dtype);
  SY_CPU_REQUIRE(size != 0, SY_ERROR_INVALID_ARGUMENT, "unknown dtype ", dtype);
  uint64_t n = size;
  for (int32_t i = 0; i < dims.rank; ++i) {
    const int64_t d = dims.d[i];
    SY_CPU_REQUIRE(d >= 0 && (d == 0 || n <= std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(d) / 2),
                   SY_ERROR_INVALID_ARGUMENT, "bad or too large shape ", sdk::formatDims(dims.ref()));
    n *= static_cast<uint64_t>(d);
  }
  return static_cast<size_t>(n);
}

/// (`cast` only to its own dtype, which viewWhyNot checks: GPT-2 exports
/// f32 -> f32 casts around its attention softmax.)
bool isViewOp(std::string_view op) {
  return op == "reshape" || op == "flatten" || op == "squeeze" || op == "unsqueeze" || op == "identity" ||
         op == "cast";
}

int64_t normAxisOf(int64_t axis, int64_t rank, const char* what) {
  const int64_t a = axis < 0 ? axis + rank : axis;
  SY_CPU_REQUIRE(a >= 0 && a < rank, SY_ERROR_INVALID_ARGUMENT, what, " ", axis, " out of range for rank ", rank);
  return a;
}

// ============================================================================
// Views: the output aliases the input's memory with new dims.

class ViewStep final : public Step {
 public:
  explicit ViewStep(const sdk::NodeView& node) : op_(node.op()) {
    allowzero_ = node.attrInt("allowzero", 0) != 0;
    axis_ = node.attrInt("axis", 1);
    axes_ = node.attrInts("axes");
  }

  void run(Run& run) const override {
    const RunValue& x = run.in(*this, 0);
    Dims out = x.dims;
    const int64_t rank = x.dims.rank;
    if (op_ == "flatten") {
      const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
      SY_CPU_REQUIRE(axis >= 0 && axis <= rank, SY_ERROR_INVALID_ARGUMENT, "axis ", axis_, " out of range for rank ",
                   rank);
      int64_t a = 1, b = 1;
      for (int64_t i = 0; i < rank; ++i) (i < axis ? a : b) *= x.dims.d[i];
      out.rank = 2;
      out.d[0] = a;
      out.d[1] = b;
    } else if (op_ == "squeeze") {
      std::vector<int64_t> axes = axes_;
      if (run.has(*this, 1)) axes = readInts(run.in(*this, 1));
      std::vector<bool> drop(static_cast<size_t>(rank), false);
      if (axes.empty()) {
        for (int64_t i = 0; i < rank; ++i) drop[static_cast<size_t>(i)] = x.dims.d[i] == 1;
      }
      for (int64_t a : axes) {
        const int64_t i = normAxisOf(a, rank, "squeeze axis");
        SY_CPU_REQUIRE(x.dims.d[i] == 1, SY_ERROR_INVALID_ARGUMENT, "squeeze axis ", a, " of ",
                     sdk::formatDims(x.dims.ref()), " does not have size 1");
        drop[static_cast<size_t>(i)] = true;
      }
      out.rank = 0;
      for (int64_t i = 0; i < rank; ++i) {
        if (!drop[static_cast<size_t>(i)]) out.d[out.rank++] = x.dims.d[i];
      }
    } else if (op_ == "unsqueeze") {
      std::vector<int64_t> axes = axes_;
      if (run.has(*this, 1)) axes = readInts(run.in(*this, 1));
      const int64_t outRank = rank + static_cast<int64_t>(axes.size());
      SY_CPU_REQUIRE(outRank <= SY_MAX_RANK, SY_ERROR_INVALID_ARGUMENT, "unsqueeze gives rank ", outRank);
      std::vector<bool> added(static_cast<size_t>(outRank), false);
      for (int64_t a : axes) {
        const int64_t i = normAxisOf(a, outRank, "unsqueeze axis");
        SY_CPU_REQUIRE(!added[static_cast<size_t>(i)], SY_ERROR_INVALID_ARGUMENT, "unsqueeze axis ", a, " repeated");
        added[static_cast<size_t>(i)] = true;
      }
      out.rank = static_cast<int32_t>(outRank);
      int64_t j = 0;
      for (int64_t i = 0; i < outRank; ++i) out.d[i] = added[static_cast<size_t>(i)] ? 1 : x.dims.d[j++];
    } else if (op_ == "reshape") {
      const std::vector<int64_t> shape = readInts(run.in(*this, 1));
      SY_CPU_REQUIRE(shape.size() <= SY_MAX_RANK, SY_ERROR_INVALID_ARGUMENT, "reshape to rank ", shape.size());
      const int64_t total = x.dims.numElements();
      out.rank = static_cast<int32_t>(shape.size());
      int inferred = -1;
      // A 0 that copies an input dim cancels against it (the reference
      // kernel's rule), so [0, 3] reshapes to [0, -1] as [0, 3].
      int64_t known = 1, rest = 1;
      std::vector<bool> copied(static_cast<size_t>(std::max<int64_t>(rank, 0)), false);
      for (size_t i = 0; i < shape.size(); ++i) {
        int64_t d = shape[i];
        if (d == 0 && !allowzero_) {
          SY_CPU_REQUIRE(static_cast<int64_t>(i) < rank, SY_ERROR_INVALID_ARGUMENT, "reshape: 0 at position ", i,
                       " beyond the input rank");
          out.d[i] = x.dims.d[i];
          copied[i] = true;
          continue;
        }
        if (d == -1) {
          SY_CPU_REQUIRE(inferred < 0, SY_ERROR_INVALID_ARGUMENT, "reshape: more than one -1 in ",
                       sdk::formatDims(shape));
          inferred = static_cast<int>(i);
          d = 1;
        } else {
          SY_CPU_REQUIRE(d >= 0, SY_ERROR_INVALID_ARGUMENT, "reshape: negative dim ", d);
          known *= d;
        }
        out.d[i] = d;
      }
      if (inferred >= 0) {
        for (int64_t j = 0; j < rank; ++j)
          if (!copied[static_cast<size_t>(j)]) rest *= x.dims.d[j];
        SY_CPU_REQUIRE(known > 0 && rest % known == 0, SY_ERROR_INVALID_ARGUMENT, "reshape: cannot infer -1 for ",
                     sdk::formatDims(x.dims.ref()), " into ", sdk::formatDims(shape));
        out.d[inferred] = rest / known;
      }
      SY_CPU_REQUIRE(out.numElements() == total, SY_ERROR_INVALID_ARGUMENT, "reshape of ",
                   sdk::formatDims(x.dims.ref()), " into ", sdk::formatDims(out.ref()),
                   " changes the element count");
    }
    run.alias(*this, 0, 0, out);
  }

 private:
  static std::vector<int64_t> readInts(const RunValue& v) {
    const int64_t n = v.dims.numElements();
    std::vector<int64_t> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      out[static_cast<size_t>(i)] = v.dtype == SY_DTYPE_I32 ? static_cast<const int32_t*>(v.data)[i]
                                                             : static_cast<const int64_t*>(v.data)[i];
    }
    return out;
  }

  std::string op_;
  bool allowzero_ = false;
  int64_t axis_ = 1;
  std::vector<int64_t> axes_;
};

std::string viewWhyNot(const sdk::NodeView& node) {
  const std::string_view op = node.op();
  if (node.numOutputs() != 1 || node.numInputs() < 1 || !node.hasInput(0)) return "unexpected inputs/outputs";
  if (op == "reshape") {
    if (node.numInputs() != 2 || !node.hasInput(1)) return "reshape needs data and shape";
    const int32_t dt = node.input(1).dtype();
    if (dt != SY_DTYPE_I64 && dt != SY_DTYPE_I32) return "reshape's shape is not i64/i32";
  } else if (op == "squeeze" || op == "unsqueeze") {
    if (node.numInputs() > 2) return "unexpected inputs";
    if (node.numInputs() == 2 && node.hasInput(1)) {
      const int32_t dt = node.input(1).dtype();
      if (dt != SY_DTYPE_I64 && dt != SY_DTYPE_I32) return "axes input is not i64/i32";
    }
  } else if (node.numInputs() != 1) {
    return "unexpected inputs";
  }
  if (node.output(0).dtype() != node.input(0).dtype()) return "output dtype differs from the input's";
  return "";
}

// ============================================================================
// Post-op patterns

/// The perm of a transpose a matmul can read or write through its strides,
/// or nothing (Note [Transposes in matmul strides]).
std::vector<int64_t> matmulFoldablePerm(const sdk::NodeView& t);

/// The input index of binary `node` that is not `cur` (-1 when both or neither are).
int otherOperand(const sdk::NodeView& node, int32_t cur) {
  if (node.numInputs() != 2 || !node.hasInput(0) || !node.hasInput(1)) return -1;
  const bool a = node.input(0).index() == cur, b = node.input(1).index() == cur;
  if (a == b) return -1;
  return a ? 1 : 0;
}

/// The one f32 value of a constant scalar-like operand ([], [1], [1, 1], ...).
std::optional<float> constantScalar(const sdk::ValueView& v) {
  if (v.dtype() != SY_DTYPE_F32 || !v.isConstant() || !v.isStatic() || v.numElements() != 1) return std::nullopt;
  float f = 0;
  std::memcpy(&f, v.constantData(), sizeof f);
  return f;
}

/// mul/div/add/sub of `cur` and a constant scalar as oneDNN eltwise_linear (alpha * x + beta).
std::optional<Activation> linearOf(const sdk::NodeView& node, int32_t cur, const ValueInfo& cv) {
  const std::string_view op = node.op();
  if (op != "mul" && op != "div" && op != "add" && op != "sub") return std::nullopt;
  const int other = otherOperand(node, cur);
  if (other < 0) return std::nullopt;
  const sdk::ValueView o = node.input(static_cast<size_t>(other));
  const std::optional<float> c = constantScalar(o);
  if (!c || cv.rank < 0 || o.rank() > cv.rank) return std::nullopt;  // a wider scalar would widen the result
  const auto lin = [](float alpha, float beta) { return Activation{dnnl::algorithm::eltwise_linear, alpha, beta}; };
  if (op == "mul") return lin(*c, 0.f);
  if (op == "add") return lin(1.f, *c);
  if (op == "sub") return other == 1 ? lin(1.f, -*c) : lin(-1.f, *c);
  if (other == 1 && *c != 0.f && std::isfinite(1.f / *c)) return lin(1.f / *c, 0.f);  // x / c
  return std::nullopt;
}

// ============================================================================
// Generic kernels (kernel.h)

class GenericStep final : public Step {
 public:
  explicit GenericStep(std::unique_ptr<Kernel> kernel) : kernel_(std::move(kernel)) {}

  void run(Run& run) const override {
    // Tensor holds its dims inline (~150 bytes, zero-initialised): keep the
    // on-stack array small, as clearing 64 of them cost more than most
    // small kernels (measured with callgrind on examples/models/control_flow).
    Tensor ins[6];
    std::vector<Tensor> bigIns;
    Tensor* in = ins;
    if (inputs.size() > 6) {
      bigIns.resize(inputs.size());
      in = bigIns.data();
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!run.has(*this, i)) {
        in[i] = Tensor{};
        continue;
      }
      const RunValue& v = run.in(*this, i);
      in[i].data = v.data;
      in[i].dtype = v.dtype;
      in[i].dims = v.dims;
    }
    Dims dimsSmall[4];
    Tensor outsSmall[4];
    std::vector<Dims> dimsBig;
    std::vector<Tensor> outsBig;
    Dims* dims = dimsSmall;
    Tensor* outs = outsSmall;
    if (outputs.size() > 4) {
      dimsBig.resize(outputs.size());
      outsBig.resize(outputs.size());
      dims = dimsBig.data();
      outs = outsBig.data();
    }
    kernel_->outputShapes(in, inputs.size(), dims, outputs.size());
    for (size_t o = 0; o < outputs.size(); ++o) {
      outs[o].data = run.out(*this, o, dims[o]);
      outs[o].dtype = outDtypes[o];
      outs[o].dims = dims[o];
    }
    kernel_->run(in, inputs.size(), outs, outputs.size(), run.exec());
  }

 private:
  std::unique_ptr<Kernel> kernel_;
};

// ============================================================================
// The compiled region

struct Plan {
  std::vector<int64_t> offset;  // per value: arena offset, -1 when not in the arena
  std::vector<size_t> bytes;    // per value: planned bytes
  size_t arenaBytes = 0;
  std::mutex mutex;
  std::vector<AlignedBlock> freeArenas;

  AlignedBlock take() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (!freeArenas.empty()) {
        AlignedBlock b = std::move(freeArenas.back());
        freeArenas.pop_back();
        return b;
      }
    }
    return AlignedBlock(arenaBytes);
  }
  void give(AlignedBlock b) {
    std::lock_guard<std::mutex> lock(mutex);
    freeArenas.push_back(std::move(b));
  }
};

struct ConstantValue {
  int32_t value;
  const void* data;
  Dims dims;
  int32_t dtype;
};

class CpuRegion;

/// The per-execute state.
class RegionRun final : public Run {
 public:
  RegionRun(const CpuRegion& region, Plan* plan, void* arena, int threads);
  const RunValue& in(const Step& step, size_t i) override;
  const RunValue& raw(const Step& step, size_t i) override;
  bool has(const Step& step, size_t i) const override { return i < step.inputs.size() && step.inputs[i] >= 0; }
  void* out(const Step& step, size_t o, const Dims& dims) override;
  void* outBlocked(const Step& step, size_t o, const Dims& dims, const dnnl::memory::desc* md) override;
  void alias(const Step& step, size_t o, size_t input, const Dims& dims) override;
  void* outReusing(const Step& step, size_t o, const Dims& dims, const dnnl::memory::desc* md,
                   size_t input) override;
  void keepAlive(std::shared_ptr<const void> p) override { keepAlive_.push_back(std::move(p)); }
  void* scratch(size_t bytes) override {
    const size_t n = alignUp(std::max<size_t>(bytes, 1));
    scratchWanted_ += n;
    if (scratchUsed_ + n <= scratchBlock_.size()) {
      void* p = static_cast<std::byte*>(scratchBlock_.data()) + scratchUsed_;
      scratchUsed_ += n;
      return p;
    }
    scratch_.emplace_back(n);
    return scratch_.back().data();
  }
  /// Scratch memory for this run (bump-allocated; see CpuRegion::scratchPool_).
  void setScratchBlock(AlignedBlock block) { scratchBlock_ = std::move(block); }
  AlignedBlock takeScratchBlock() { return std::move(scratchBlock_); }
  size_t scratchWanted() const { return std::max(scratchWanted_, scratchPeak_); }
  const Exec& exec() const override { return exec_; }
  int threads() const override { return exec_.threads(); }
  RunValue& value(int32_t id) override { return values[static_cast<size_t>(id)]; }
  void* slot(size_t slot, size_t bytes, size_t keep) override;
  ScratchMark markScratch() const override { return {scratchUsed_, scratchWanted_, scratch_.size()}; }
  void releaseScratch(const ScratchMark& mark) override {
    scratchPeak_ = std::max(scratchPeak_, scratchWanted_);
    scratchUsed_ = mark.used;
    scratchWanted_ = mark.wanted;
    scratch_.resize(mark.extra);
  }
  /// Memory slots of values inside blocks and of control-flow steps (Note
  /// [Control flow in a region]); taken from and given back to the region.
  void setSlots(std::vector<AlignedBlock>* slots) { slots_ = slots; }
  dnnl::stream& stream() override {
    // One stream per thread, reused across runs (a CPU stream is only a
    // handle, but making one allocates). A run stays on its calling thread.
    thread_local dnnl::stream stream(dnnlEngine());
    return stream;
  }

  /// Frees the own allocations of values that are dead now.
  void freeAfter(const std::vector<size_t>& dead);
  /// "f32[1,64,56,56], f32[64,64,3,3] -> f32[1,64,56,56]": the step's
  /// operands as this run has them (profiles).
  std::string shapesOf(const Step& step) const {
    std::string s;
    auto add = [&](const std::vector<int32_t>& ids) {
      bool first = true;
      for (int32_t v : ids) {
        if (v < 0 || !values[static_cast<size_t>(v)].set) continue;
        const RunValue& rv = values[static_cast<size_t>(v)];
        s += first ? "" : ", ";
        first = false;
        s += sdk::dtypeName(rv.dtype);
        s += '[';
        for (int32_t d = 0; d < rv.dims.rank; ++d) s += (d ? "," : "") + std::to_string(rv.dims.d[d]);
        s += ']';
      }
    };
    add(step.inputs);
    s += " -> ";
    add(step.outputs);
    return s;
  }
  std::vector<RunValue> values;
  std::vector<size_t> bytes;                              // per value: bytes it got (runs without a plan: for a new one)
  std::vector<std::unique_ptr<CpuBuffer>> outBuffers;     // per value: a region output's own buffer

 private:
  void* memoryFor(int32_t v, size_t bytes);
  const CpuRegion& region_;
  Plan* plan_;
  std::byte* arena_;
  PoolExec exec_;
  std::vector<AlignedBlock> heap_;                        // per value: own allocation
  std::vector<std::shared_ptr<const void>> keepAlive_;
  std::vector<AlignedBlock> scratch_;                     // scratch beyond scratchBlock_
  AlignedBlock scratchBlock_;
  size_t scratchUsed_ = 0, scratchWanted_ = 0, scratchPeak_ = 0;
  std::vector<AlignedBlock>* slots_ = nullptr;
  std::vector<std::optional<RunValue>> plain_;            // per value (made on first use): row-major copy of a blocked value
};

class CpuRegion final : public sdk::CompiledRegion, public BlockCompiler {
 public:
  CpuRegion(const CpuBackend& backend, const sdk::GraphView& region);
  ~CpuRegion() override;

  bool concurrentExecute() const override { return true; }
  void execute(const std::vector<sdk::InputTensor>& inputs, std::vector<sdk::OutputTensor>& outputs) override {
    run(inputs, outputs, nullptr);
  }
  /// Reports each step: its ops and its operands' shapes (Note [Profiling]).
  void executeProfiled(const std::vector<sdk::InputTensor>& inputs, std::vector<sdk::OutputTensor>& outputs,
                       const sdk::ProfileSink& sink) override {
    run(inputs, outputs, &sink);
  }

  /// Runs once on zeros when every input is static (see Note [Memory planning]).
  void warmUp();

  int threads() const { return threads_; }
  size_t numValues() const { return info_.size(); }
  const std::vector<ValueInfo>& info() const { return info_; }
  const std::vector<int32_t>& lastUse() const { return last_; }
  const std::vector<int32_t>& rootOf() const { return root_; }
  const std::vector<bool>& isOutput() const { return isOutput_; }
  /// Per value: the input value whose memory it takes over (-1: its own).
  const std::vector<int32_t>& reusesMemoryOf() const { return reuses_; }
  bool inBlock(size_t v) const { return inBlock_[v]; }
  size_t numSlots() const { return numSlots_; }

  /// A reorder from `md` to row-major dims (cached per layout).
  dnnl::reorder toPlainReorder(const dnnl::memory::desc& md, const Dims& dims, int nthr) const;

 private:
  void run(const std::vector<sdk::InputTensor>& inputs, std::vector<sdk::OutputTensor>& outputs,
           const sdk::ProfileSink* sink);
  void buildSteps(const sdk::GraphView& region);
  /// The steps of one block (the region's body or a nested block).
  std::vector<std::unique_ptr<Step>> buildBlockSteps(const sdk::GraphView& region, const sdk::BlockView& body);
  /// Note [Fused attention]: replaces attention's three steps by one.
  void fuseAttention(std::vector<std::unique_ptr<Step>>& steps) const;
  std::vector<std::unique_ptr<Step>> compileBlock(const sdk::GraphView& region, const sdk::BlockView& block) override {
    return buildBlockSteps(region, block);
  }
  size_t newSlot() override { return numSlots_++; }
  const std::vector<ValueInfo>& valueInfo() const override { return info_; }
  const std::vector<int32_t>& regionInputs() const override { return params_; }
  std::vector<int32_t> matchGeluErf(const std::vector<sdk::NodeView>& nodes, int32_t cur,
                                    const std::vector<bool>& taken) const;
  std::vector<int32_t> matchGeluTanh(const std::vector<sdk::NodeView>& nodes, int32_t cur,
                                     const std::vector<bool>& taken) const;
  bool broadcastAddendOk(const sdk::NodeView& product, const sdk::NodeView& add, int other, int32_t cur) const;
  bool residualAfterView(const sdk::NodeView& product, const sdk::NodeView& add, int32_t v) const;
  std::vector<int32_t> matchGatedActivation(const std::vector<sdk::NodeView>& nodes, int32_t cur,
                                            const std::vector<bool>& taken, Activation* out) const;
  void analyse();
  void decideInPlace();
  std::shared_ptr<Plan> makePlan(const RegionRun& run) const;
  static std::vector<int64_t> signature(const std::vector<sdk::InputTensor>& inputs);

  int threads_;
  /// Note [Threads on shared cores].
  struct ThreadChooser {
    /// How a run uses its threads.
    enum Choice : int {
      kSplit = 0,  ///< all threads: split primitives on the pool
      kOne = 1,    ///< the calling thread alone
      kTeam = 2,   ///< all threads: whole primitives on OpenMP teams
    };
    /// kOne when `threads` is 1 (nothing to choose) or the region is small;
    /// never kTeam unless `teamOk` (the run is alone in the process).
    int choose(int threads, bool teamOk);
    void report(int choice, double ms);
    /// Reads SY_CPU_THREAD_CHOICE and SY_CPU_SMALL_RUN_MS (at compile, so
    /// that tests can set them around one compile).
    void readEnvironment();
    /// How long (ms) a run on teams may take before it leaves them: 1.25x
    /// the fastest other choice's score() (10x in the first run on teams,
    /// which makes the team primitives); infinite before one is known.
    double teamLimit();
    /// The fastest of the choices timed so far by score() (kTeam only if
    /// `teamOk`); kSplit before any is. (Mutex held.)
    int best(bool teamOk) const;
    /// The median of a choice's last kSamples timed runs (fewer: their
    /// least), ms; what choices are ranked by. (Mutex held.)
    double score(int choice) const;
    static constexpr int kSamples = 3;
    std::mutex mutex;
    double oneAverage = -1;            // ms per run on one thread, a moving average (the small-region rule)
    double recent[3][kSamples] = {};   // the last timed runs, ms (a ring)
    int seen[3] = {0, 0, 0};
    int shown = -1;  // the best choice last printed (SY_CPU_SPLIT_DEBUG)
    uint64_t runs = 0, lastTry = 0;
    int lostTries = 0, lastTried = 0;
    /// A run on one thread under smallMs makes the region small: it runs on
    /// one thread only, until those runs average over 2 * smallMs.
    std::atomic<bool> small{false};
    double smallMs = 0.1;
    int fixed = -1;  // SY_CPU_THREAD_CHOICE; -1 when unset
    bool debug = false;  // SY_CPU_SPLIT_DEBUG
  };
  mutable ThreadChooser threadChooser_;
  std::vector<ValueInfo> info_;
  std::vector<int32_t> params_, returns_;
  std::vector<std::unique_ptr<Step>> steps_;
  std::vector<ConstantValue> constants_;
  std::vector<AlignedBlock> ownedConstants_;
  std::vector<int32_t> last_;  // per value: last step reading it (INT_MAX: lives to the end)
  std::vector<int32_t> root_;  // per value: the value whose memory it uses (views)
  std::vector<bool> isOutput_;
  std::vector<std::vector<size_t>> freeAt_;  // per step: root values whose memory is dead after it
  std::vector<int32_t> reuses_;  // per value: the input whose memory it takes (Note [In-place residual sum])
  // Control flow (Note [Control flow in a region], control_flow.cpp).
  std::vector<bool> inBlock_;  // per value: defined inside a nested block (memory: its slot)
  size_t numSlots_ = 0;        // slot ids: values, then the control-flow steps' own
  bool hasBlocks_ = false;
  mutable std::mutex slotsMutex_;
  mutable std::vector<std::vector<AlignedBlock>> slotsPool_;  // one set per concurrent run

  std::unique_ptr<std::atomic<int64_t>[]> profile_;  // SY_CPU_PROFILE: ns per step, summed over runs
  // Scratch blocks (oneDNN scratchpads, layout conversions) reused across
  // runs: each run takes one of the largest size a run has needed so far.
  mutable std::mutex scratchMutex_;
  mutable std::vector<AlignedBlock> scratchPool_;
  mutable size_t scratchHint_ = 0;
  mutable std::shared_mutex plansMutex_;
  mutable std::map<std::vector<int64_t>, std::shared_ptr<Plan>> plans_;
  mutable std::mutex reorderMutex_;
  mutable std::vector<std::tuple<dnnl::memory::desc, int, dnnl::reorder>> reorders_;  // (from, team, reorder)
};

// ---------------------------------------------------------------------------
// RegionRun

RegionRun::RegionRun(const CpuRegion& region, Plan* plan, void* arena, int threads)
    : values(region.numValues()),
      bytes(plan == nullptr ? region.numValues() : 0, 0),
      outBuffers(region.numValues()),
      region_(region),
      plan_(plan),
      arena_(static_cast<std::byte*>(arena)),
      exec_(threads),
      heap_() {}

const RunValue& RegionRun::raw(const Step& step, size_t i) {
  SY_CPU_REQUIRE(has(step, i), SY_ERROR_INTERNAL, "input ", i, " is absent");
  const RunValue& v = values[static_cast<size_t>(step.inputs[i])];
  SY_CPU_REQUIRE(v.set, SY_ERROR_INTERNAL, "input ", i, " was never computed");
  return v;
}

const RunValue& RegionRun::in(const Step& step, size_t i) {
  const RunValue& v = raw(step, i);
  if (v.md == nullptr) return v;
  const size_t id = static_cast<size_t>(step.inputs[i]);
  if (plain_.empty()) plain_.resize(values.size());
  if (!plain_[id]) {
    RunValue p = v;
    p.md = nullptr;
    p.data = scratch(static_cast<size_t>(v.dims.numElements()) * sizeof(float));
    const int nthr = 1;  // OpenMP teams of one (Note [Split primitives] in dnnl_split.cpp)
    dnnl::reorder r = region_.toPlainReorder(*v.md, v.dims, nthr);
    dnnl::memory::dims d(v.dims.d, v.dims.d + v.dims.rank);
    dnnl::memory src(*v.md, dnnlEngine(), v.data);
    dnnl::memory::dims strides(d.size(), 1);
    for (size_t k = d.size(); k-- > 1;) strides[k - 1] = strides[k] * d[k];
    dnnl::memory plainMem(dnnl::memory::desc(d, dnnl::memory::data_type::f32, strides), dnnlEngine(), p.data);
    {
      setOmpThreads(1);
      std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, plainMem}};
      const dnnl_memory_desc_t* smd =
          dnnl_primitive_desc_query_md(r.get_primitive_desc(), dnnl_query_scratchpad_md, 0);
      if (smd != nullptr && dnnl::memory::desc(*smd).get_size() > 0) {
        const dnnl::memory::desc md(*smd);
        args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(md, dnnlEngine(), scratch(md.get_size()));
      }
      r.execute(stream(), args);
      stream().wait();
    }
    plain_[id] = p;
  }
  return *plain_[id];
}

void* RegionRun::memoryFor(int32_t v, size_t n) {
  const size_t id = static_cast<size_t>(v);
  if (plan_ == nullptr) bytes[id] = n;
  if (region_.isOutput()[id] && outBuffers[id] == nullptr) {
    outBuffers[id] = std::make_unique<CpuBuffer>(n);
    return outBuffers[id]->hostPointer();
  }
  if (slots_ != nullptr && region_.inBlock(id)) return slot(id, n, 0);
  if (plan_ != nullptr && plan_->offset[id] >= 0 && n <= plan_->bytes[id]) return arena_ + plan_->offset[id];
  if (heap_.empty()) heap_.resize(values.size());
  heap_[id] = AlignedBlock(n);
  return heap_[id].data();
}

void* RegionRun::out(const Step& step, size_t o, const Dims& dims) {
  const int32_t v = step.outputs[o];
  const int32_t dtype = step.outDtypes[o];
  const size_t n = bytesOf(dtype, dims);
  RunValue& rv = values[static_cast<size_t>(v)];
  rv.data = memoryFor(v, n);
  rv.dims = dims;
  rv.dtype = dtype;
  rv.md = nullptr;
  rv.set = true;
  rv.absBound = HUGE_VAL;
  if (!plain_.empty()) plain_[static_cast<size_t>(v)].reset();  // redefined in a loop
  return rv.data;
}

void* RegionRun::outBlocked(const Step& step, size_t o, const Dims& dims, const dnnl::memory::desc* md) {
  const int32_t v = step.outputs[o];
  RunValue& rv = values[static_cast<size_t>(v)];
  rv.data = memoryFor(v, md->get_size());
  rv.dims = dims;
  rv.dtype = step.outDtypes[o];
  rv.md = md;
  rv.set = true;
  rv.absBound = HUGE_VAL;
  if (!plain_.empty()) plain_[static_cast<size_t>(v)].reset();
  return rv.data;
}

void RegionRun::alias(const Step& step, size_t o, size_t input, const Dims& dims) {
  const RunValue& x = in(step, input);
  RunValue& rv = values[static_cast<size_t>(step.outputs[o])];
  rv = x;
  rv.dims = dims;
  rv.dtype = step.outDtypes[o];
  rv.set = true;
  if (!plain_.empty()) plain_[static_cast<size_t>(step.outputs[o])].reset();
}

void* RegionRun::outReusing(const Step& step, size_t o, const Dims& dims, const dnnl::memory::desc* md,
                            size_t input) {
  const int32_t v = step.outputs[o];
  const int32_t a = input < step.inputs.size() ? step.inputs[input] : -1;
  if (a >= 0 && region_.reusesMemoryOf()[static_cast<size_t>(v)] == a) {
    const RunValue& x = values[static_cast<size_t>(a)];
    const bool sameLayout = md == nullptr ? x.md == nullptr : (x.md != nullptr && *x.md == *md);
    if (x.set && sameLayout && x.dims == dims && x.dtype == step.outDtypes[o]) {
      RunValue& rv = values[static_cast<size_t>(v)];
      rv.data = x.data;
      rv.dims = dims;
      rv.dtype = x.dtype;
      rv.md = md;
      rv.set = true;
      rv.absBound = HUGE_VAL;
      if (!plain_.empty()) plain_[static_cast<size_t>(v)].reset();
      return rv.data;
    }
  }
  // Another layout or shape than planned: memory of its own (not in the
  // plan, whose root is the input's: see analyse()).
  return md != nullptr ? outBlocked(step, o, dims, md) : out(step, o, dims);
}

void* RegionRun::slot(size_t slot, size_t bytes, size_t keep) {
  SY_CPU_REQUIRE(slots_ != nullptr && slot < slots_->size(), SY_ERROR_INTERNAL, "memory slot ", slot, " out of range");
  AlignedBlock& b = (*slots_)[slot];
  if (b.data() != nullptr && b.size() >= bytes) return b.data();
  // Growing (a scan output) keeps its contents; geometric so appends stay linear.
  AlignedBlock grown(alignUp(std::max({bytes, keep > 0 ? b.size() + b.size() / 2 : size_t{0}, size_t{1}})));
  if (keep > 0) std::memcpy(grown.data(), b.data(), std::min(keep, b.size()));
  b = std::move(grown);
  return b.data();
}

void RegionRun::freeAfter(const std::vector<size_t>& dead) {
  if (heap_.empty()) return;
  for (size_t v : dead) heap_[v] = AlignedBlock();
}

// ---------------------------------------------------------------------------
// CpuRegion

std::vector<int64_t> CpuRegion::signature(const std::vector<sdk::InputTensor>& inputs) {
  size_t n = inputs.size();
  for (const sdk::InputTensor& t : inputs) n += t.rank();
  std::vector<int64_t> key;
  key.reserve(n);
  for (const sdk::InputTensor& t : inputs) {
    key.push_back(static_cast<int64_t>(t.rank()));
    for (int64_t d : t.dims()) key.push_back(d);
  }
  return key;
}

dnnl::reorder CpuRegion::toPlainReorder(const dnnl::memory::desc& md, const Dims& dims, int nthr) const {
  std::lock_guard<std::mutex> lock(reorderMutex_);
  for (const auto& [from, team, r] : reorders_) {
    if (from == md && team == nthr) return r;
  }
  dnnl::memory::dims d(dims.d, dims.d + dims.rank);
  dnnl::memory::dims strides(d.size(), 1);
  for (size_t k = d.size(); k-- > 1;) strides[k - 1] = strides[k] * d[k];
  const dnnl::memory::desc plain(d, dnnl::memory::data_type::f32, strides);
  setOmpThreads(nthr);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // (plain reorders need none; never the library's)
  dnnl::reorder r(dnnl::reorder::primitive_desc(dnnlEngine(), md, dnnlEngine(), plain, attr));
  reorders_.emplace_back(md, nthr, r);
  return r;
}

CpuRegion::CpuRegion(const CpuBackend& backend, const sdk::GraphView& region)
    : threads_(backend.options().threads) {
  threadChooser_.readEnvironment();
  buildSteps(region);
  analyse();
  if (const char* p = std::getenv("SY_CPU_PROFILE"); p != nullptr && *p != '\0' && *p != '0') {
    profile_.reset(new std::atomic<int64_t>[steps_.size()]);
    for (size_t s = 0; s < steps_.size(); ++s) profile_[s] = 0;
    std::fprintf(stderr, "cpu region: %zu steps (threads %d)\n", steps_.size(), threads_);
    for (size_t s = 0; s < steps_.size(); ++s) {
      std::fprintf(stderr, "  step %zu: %s%s\n", s, steps_[s]->describe.c_str(),
                   steps_[s]->blockedOk() ? " [blocked output]" : "");
    }
  }
}

// Note [Profiling]: with SY_CPU_PROFILE=1 a region prints its steps (with
// what each fused) when compiled, and the time spent in each when destroyed.
// executeProfiled (ABI 1.2, `switchyard bench --profile`) reports each step of
// the run to the host instead: Step::ops and the operands' shapes.
CpuRegion::~CpuRegion() {
  if (!profile_) return;
  int64_t total = 0;
  for (size_t s = 0; s < steps_.size(); ++s) total += profile_[s].load();
  std::fprintf(stderr, "cpu region profile (total %.3f ms over all runs):\n", static_cast<double>(total) / 1e6);
  for (size_t s = 0; s < steps_.size(); ++s) {
    const double ms = static_cast<double>(profile_[s].load()) / 1e6;
    std::fprintf(stderr, "  %8.3f ms %5.1f%%  step %zu: %s\n", ms, total > 0 ? 100.0 * ms * 1e6 / static_cast<double>(total) : 0.0,
                 s, steps_[s]->describe.c_str());
  }
}

void CpuRegion::buildSteps(const sdk::GraphView& region) {
  const size_t numValues = region.numValues();
  info_.resize(numValues);
  for (size_t i = 0; i < numValues; ++i) {
    const sdk::ValueView v = region.value(static_cast<int64_t>(i));
    ValueInfo& vi = info_[i];
    vi.dtype = v.dtype();
    vi.rank = v.rank();
    vi.dims = v.dims().vec();
    for (size_t d = 0; d < vi.dims.size(); ++d) {
      const char* s = v.dimSymbol(d);
      vi.symbols.push_back(s != nullptr ? s : "");
    }
    vi.constData = v.constantData();
    vi.constBytes = v.constantBytes();
  }
  const sdk::BlockView body = region.body();
  for (size_t i = 0; i < body.numParams(); ++i) params_.push_back(body.param(i).index());
  for (size_t i = 0; i < body.numReturns(); ++i) returns_.push_back(body.returnValue(i).index());
  // ABI 1.1: weights and literals are values with data that no node makes
  // (an ABI 1.0 host sends `constant`/`weight` nodes instead, handled below).
  for (const sdk::ValueView& v : region.constants()) {
    SY_CPU_REQUIRE(v.isStatic(), SY_ERROR_INVALID_ARGUMENT, "constant '", v.name(), "' of non-static type ",
                   v.typeString());
    const Dims dims = Dims::of(v.dims());
    SY_CPU_REQUIRE(v.constantBytes() == sdk::tensorBytes(v.dtype(), dims.ref()), SY_ERROR_INVALID_ARGUMENT,
                   "constant '", v.name(), "' ", v.typeString(), " has ", v.constantBytes(), " bytes");
    constants_.push_back(ConstantValue{v.index(), v.constantData(), dims, v.dtype()});
  }
  // Values inside nested blocks live in memory slots (Note [Control flow in a region]).
  inBlock_.assign(numValues, false);
  for (size_t p = 0; p < body.numNodes(); ++p) {
    const sdk::NodeView n = body.node(p);
    if (n.numBlocks() == 0) continue;
    hasBlocks_ = true;
    for (int32_t v : valuesDefinedInside(n)) inBlock_[static_cast<size_t>(v)] = true;
  }
  numSlots_ = numValues;
  steps_ = buildBlockSteps(region, body);
}

std::vector<std::unique_ptr<Step>> CpuRegion::buildBlockSteps(const sdk::GraphView& region,
                                                              const sdk::BlockView& body) {
  const size_t numValues = info_.size();
  // Uses of the values this block defines, by node position in the block;
  // a node with blocks uses what its blocks capture (so nothing fuses a
  // value away from a block that reads it).
  const bool top = &body.raw() == &region.raw().body;
  std::vector<char> here(numValues, 0);
  if (top) {
    for (size_t v = 0; v < numValues; ++v) here[v] = !inBlock_[v];
  } else {
    for (size_t i = 0; i < body.numParams(); ++i) here[static_cast<size_t>(body.param(i).index())] = 1;
    for (size_t p = 0; p < body.numNodes(); ++p) {
      const sdk::NodeView n = body.node(p);
      for (size_t o = 0; o < n.numOutputs(); ++o) here[static_cast<size_t>(n.output(o).index())] = 1;
    }
  }
  // Values of enclosing blocks read here (captures): while this block is
  // built, their uses are this block's (positions in `nodes`, which the
  // matchers index) and they count as outputs, so no fusion here takes them;
  // the enclosing block's view of them is restored afterwards.
  struct Borrowed {
    int32_t v;
    std::vector<int32_t> consumers;
    bool isOutput;
  };
  struct Restore {
    std::vector<ValueInfo>& info;
    std::vector<Borrowed> saved;
    ~Restore() {
      for (Borrowed& b : saved) {
        info[static_cast<size_t>(b.v)].consumers = std::move(b.consumers);
        info[static_cast<size_t>(b.v)].isOutput = b.isOutput;
      }
    }
  } restore{info_, {}};
  std::vector<char> borrowed(top ? 0 : numValues, 0);
  auto use = [&](int32_t v, size_t position) {
    const size_t id = static_cast<size_t>(v);
    if (!here[id] && !borrowed[id]) {
      borrowed[id] = 1;
      restore.saved.push_back({v, std::move(info_[id].consumers), info_[id].isOutput});
      info_[id].consumers.clear();
      info_[id].isOutput = true;
    }
    if (position != SIZE_MAX) info_[id].consumers.push_back(static_cast<int32_t>(position));
  };
  for (size_t i = 0; i < body.numReturns(); ++i) {
    const int32_t r = body.returnValue(i).index();
    if (here[static_cast<size_t>(r)])
      info_[static_cast<size_t>(r)].isOutput = true;
    else
      use(r, SIZE_MAX);
  }
  std::vector<sdk::NodeView> nodes;
  for (size_t p = 0; p < body.numNodes(); ++p) {
    nodes.push_back(body.node(p));
    const sdk::NodeView& n = nodes.back();
    for (size_t i = 0; i < n.numInputs(); ++i) {
      if (n.hasInput(i)) use(n.input(i).index(), p);
    }
    if (n.numBlocks() > 0) {
      for (int32_t v : capturedValues(n)) use(v, p);
    }
    for (size_t o = 0; o < n.numOutputs(); ++o) info_[static_cast<size_t>(n.output(o).index())].producer = static_cast<int32_t>(p);
  }
  std::vector<int32_t> ids(numValues);
  for (size_t i = 0; i < numValues; ++i) ids[i] = static_cast<int32_t>(i);

  // The single node consuming value v (all its uses), or -1.
  auto soleConsumer = [&](int32_t v) -> int32_t {
    const ValueInfo& vi = info_[static_cast<size_t>(v)];
    if (vi.isOutput || vi.consumers.empty()) return -1;
    for (int32_t c : vi.consumers) {
      if (c != vi.consumers[0]) return -1;
    }
    return vi.consumers[0];
  };

  std::vector<bool> taken(nodes.size(), false);
  std::vector<std::pair<size_t, std::unique_ptr<Step>>> placed;  // (position of last node, step)
  auto place = [&](size_t position, std::unique_ptr<Step> step) { placed.emplace_back(position, std::move(step)); };

  // Note [Transposes in matmul strides]: per matmul position, the transpose
  // node read as operand 0 / 1 in place (-1: none).
  std::vector<std::array<int32_t, 2>> readThrough(nodes.size(), {-1, -1});
  for (size_t t = 0; t < nodes.size(); ++t) {
    const std::vector<int64_t> perm = matmulFoldablePerm(nodes[t]);
    if (perm.empty()) continue;
    const int32_t tv = nodes[t].output(0).index();
    const int32_t m = soleConsumer(tv);
    if (m < 0 || taken[static_cast<size_t>(m)]) continue;
    const sdk::NodeView& mn = nodes[static_cast<size_t>(m)];
    if (mn.op() != "matmul" || !dnnlWhyNot(mn).empty() || mn.numInputs() != 2) continue;
    const bool is0 = mn.input(0).index() == tv, is1 = mn.input(1).index() == tv;
    if (is0 == is1 || mn.input(is0 ? 1 : 0).rank() < 2) continue;
    readThrough[static_cast<size_t>(m)][is0 ? 0 : 1] = static_cast<int32_t>(t);
    taken[t] = true;
  }

  for (size_t p = 0; p < nodes.size(); ++p) {
    if (taken[p]) continue;
    const sdk::NodeView& node = nodes[p];
    const std::string_view op = node.op();
    // A tanh GELU that no matrix product took as a post-op: one gelu step
    // (its first node is the earliest consumer of its input, so it is seen here first).
    if (chainWhyNot(node).empty()) {
      std::vector<int32_t> gelu;
      int32_t x = -1;
      for (size_t i = 0; i < node.numInputs() && gelu.empty(); ++i) {
        x = node.input(i).index();
        if (info_[static_cast<size_t>(x)].dtype == SY_DTYPE_F32) gelu = matchGeluTanh(nodes, x, taken);
      }
      if (!gelu.empty()) {
        std::string describe, ops;
        for (int32_t g : gelu) {
          taken[static_cast<size_t>(g)] = true;
          describe += sdk::format(describe.empty() ? "" : " + ", nodes[static_cast<size_t>(g)].describe());
          ops += sdk::format(ops.empty() ? "" : " + ", nodes[static_cast<size_t>(g)].op());
        }
        const int32_t y = nodes[static_cast<size_t>(gelu.back())].output(0).index();
        std::unique_ptr<Step> step = makeGeluStep(x, y, /*tanh=*/true);
        step->describe = describe;
        step->ops = sdk::format("gelu (", ops, ")");
        step->outDtypes = {SY_DTYPE_F32};
        place(static_cast<size_t>(gelu.back()), std::move(step));
        continue;
      }
    }
    taken[p] = true;
    if (node.numBlocks() > 0) {
      std::unique_ptr<Step> step = makeControlFlowStep(region, node, *this);
      step->describe = node.describe();
      step->ops = std::string(op);
      for (int32_t v : step->outputs) step->outDtypes.push_back(info_[static_cast<size_t>(v)].dtype);
      place(p, std::move(step));
      continue;
    }
    if (op == "constant" || op == "weight") {
      const sdk::ValueView out = node.output(0);
      ConstantValue c{out.index(), out.constantData(), Dims::of(out.dims()), out.dtype()};
      if (c.data == nullptr && op == "constant") {
        const std::optional<sdk::AttrView> a = node.findAttr("value");
        SY_CPU_REQUIRE(a && a->kind() == SY_ATTR_TENSOR, SY_ERROR_INVALID_ARGUMENT, node.describe(),
                     ": constant without a tensor 'value'");
        const sy_tensor_literal& t = a->asTensor();
        c.dims = Dims::of(sdk::ArrayRef<int64_t>(t.dims, static_cast<size_t>(std::max(t.rank, 0))));
        SY_CPU_REQUIRE(t.dtype == out.dtype() && t.bytes == sdk::tensorBytes(t.dtype, c.dims.ref()),
                     SY_ERROR_INVALID_ARGUMENT, node.describe(), ": literal does not match ", out.typeString());
        ownedConstants_.emplace_back(t.bytes);
        if (t.bytes > 0) std::memcpy(ownedConstants_.back().data(), t.data, t.bytes);
        c.data = ownedConstants_.back().data();
      }
      SY_CPU_REQUIRE(c.data != nullptr || sdk::tensorBytes(c.dtype, c.dims.ref()) == 0, SY_ERROR_INVALID_ARGUMENT,
                   node.describe(), ": the weight's data was not given at compile time");
      SY_CPU_REQUIRE(out.isStatic(), SY_ERROR_INVALID_ARGUMENT, node.describe(), ": constant of non-static type ",
                   out.typeString());
      constants_.push_back(c);
      continue;
    }

    std::unique_ptr<Step> step;
    size_t position = p;
    std::string describe = node.describe();
    std::string ops(op);  // "conv + sigmoid + mul": what the profile shows
    if (rnnWhyNot(node).empty()) {
      step = makeRnnStep(node, threads_);
      ops += " (oneDNN)";  // the portable kernel's step is plain "lstm"
    } else if (intMatmulWhyNot(node).empty()) {
      step = makeIntMatmulStep(node, threads_);
      ops += " (oneDNN)";
    } else if (intConvWhyNot(node).empty()) {
      step = makeIntConvStep(node, threads_);
      ops += " (oneDNN)";
    } else if (dnnlWhyNot(node).empty()) {
      DnnlFusion fusion;
      int32_t cur = node.output(0).index();
      const bool isConv = op == "conv";
      const bool isMatmul = op == "matmul" || op == "gemm";
      const bool isBn = op == "batch_norm";
      for (size_t i = 0; i < 2 && op == "matmul"; ++i) {
        const int32_t t = readThrough[p][i];
        if (t < 0) continue;
        const sdk::NodeView& tn = nodes[static_cast<size_t>(t)];
        fusion.permutedSource[i] = tn.input(0).index();
        fusion.inputPerm[i] = matmulFoldablePerm(tn);
        describe = sdk::format(tn.describe(), " + ", describe);
        ops = sdk::format("transpose + ", ops);
      }
      if (isConv) {
        const int32_t c = soleConsumer(cur);
        if (c >= 0 && !taken[static_cast<size_t>(c)] && nodes[c].op() == "batch_norm" &&
            nodes[c].input(0).index() == cur && dnnlCanFoldBn(node, nodes[c])) {
          fusion.foldedBn = nodes[c];
          taken[static_cast<size_t>(c)] = true;
          position = static_cast<size_t>(c);
          cur = nodes[c].output(0).index();
          describe += sdk::format(" + ", nodes[c].describe());
          ops += sdk::format(" + ", nodes[c].op());
        }
      }
      bool haveSum = false;
      if ((isConv || isMatmul || isBn) && dnnlCanTakePostOps(node)) {
        // The exported GELU reads cur twice: div -> erf -> add -> mul(cur, .) -> mul(., 0.5);
        // the tanh GELU three times; SiLU (x * sigmoid(x)) and HardSwish
        // (x * clip(x / 6 + 0.5, 0, 1)) twice.
        auto matchGated = [&](int32_t x, Activation* gated) {
          *gated = Activation{dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f};
          std::vector<int32_t> m = matchGeluErf(nodes, x, taken);
          if (m.empty()) {
            m = matchGeluTanh(nodes, x, taken);
            if (!m.empty()) *gated = Activation{dnnl::algorithm::eltwise_gelu_tanh, 0.f, 0.f};
          }
          if (m.empty()) m = matchGatedActivation(nodes, x, taken, gated);
          return m;
        };
        bool viewed = false, haveAdd = false;
        for (;;) {
          int32_t c = soleConsumer(cur);
          Activation gated;
          if (c >= 0 && op == "matmul" && !taken[static_cast<size_t>(c)] && !haveSum && !viewed &&
              node.input(0).rank() >= 2 && node.input(1).rank() >= 2) {
            // Note [Transposes in matmul strides]: attention's output transpose.
            const sdk::NodeView& tn = nodes[static_cast<size_t>(c)];
            const std::vector<int64_t> perm = matmulFoldablePerm(tn);
            if (!perm.empty() && tn.input(0).index() == cur) {
              fusion.outPerm = perm;
              taken[static_cast<size_t>(c)] = true;
              position = std::max(position, static_cast<size_t>(c));
              describe += sdk::format(" + ", tn.describe());
              ops += sdk::format(" + ", tn.op());
              cur = tn.output(0).index();
              break;  // (nothing is fused after it)
            }
          }
          if (c >= 0 && isMatmul && !viewed && !haveSum && !taken[static_cast<size_t>(c)] &&
              isViewOp(nodes[static_cast<size_t>(c)].op()) && viewWhyNot(nodes[static_cast<size_t>(c)]).empty()) {
            // GPT-2 reshapes its gemm's [T, N] to [1, T, N] before the GELU:
            // the product is written with the reshaped dims and the GELU fused
            // (Note [Reshape before a fused GELU]).
            const sdk::NodeView& view = nodes[static_cast<size_t>(c)];
            const int32_t v = view.output(0).index();
            const ValueInfo& vi = info_[static_cast<size_t>(v)];
            const ValueInfo& ci = info_[static_cast<size_t>(cur)];
            const bool sameCount = vi.dtype == SY_DTYPE_F32 && vi.isStatic() && ci.isStatic() &&
                                   Dims::of(vi.dims).numElements() == Dims::of(ci.dims).numElements();
            // ... and before its residual add (Note [Reshape before a residual sum]).
            const int32_t sumNode = sameCount && fusion.postOps.empty() ? soleConsumer(v) : -1;
            const bool residual = sumNode >= 0 && !taken[static_cast<size_t>(sumNode)] &&
                                  residualAfterView(node, nodes[static_cast<size_t>(sumNode)], v);
            if (sameCount && (residual || !matchGated(v, &gated).empty())) {
              taken[static_cast<size_t>(c)] = true;
              fusion.viewDims = vi.dims;
              viewed = true;
              position = std::max(position, static_cast<size_t>(c));
              describe += sdk::format(" + ", view.describe());
              ops += sdk::format(" + ", view.op());
              cur = v;
              c = residual ? sumNode : -1;
            }
          }
          if (c < 0 && !isBn) {
            std::vector<int32_t> gelu = matchGated(cur, &gated);
            if (gelu.empty()) break;
            bool haveGelu = false;
            for (const DnnlFusion::PostOp& q : fusion.postOps) {
              haveGelu = haveGelu || (q.act && q.act->alg == gated.alg) ||
                         (!q.act && q.sumOperand < 0 && activationOf(q.node)->alg == gated.alg);
            }
            if (haveGelu) break;
            const sdk::NodeView& last = nodes[static_cast<size_t>(gelu.back())];
            fusion.postOps.push_back({last, -1, gated});
            for (int32_t g : gelu) {
              taken[static_cast<size_t>(g)] = true;
              describe += sdk::format(" + ", nodes[static_cast<size_t>(g)].describe());
              ops += sdk::format(" + ", nodes[static_cast<size_t>(g)].op());
            }
            position = std::max(position, static_cast<size_t>(gelu.back()));
            cur = last.output(0).index();
            if (viewed) break;  // (a sum after it would see the reshaped dims: not handled)
            continue;
          }
          if (c < 0 || taken[static_cast<size_t>(c)]) break;
          const sdk::NodeView& cn = nodes[static_cast<size_t>(c)];
          if (cn.numOutputs() != 1 || cn.output(0).dtype() != SY_DTYPE_F32) break;
          if (isBn && !(cn.op() == "relu" && fusion.postOps.empty())) break;
          const ValueInfo& cv = info_[static_cast<size_t>(cur)];
          // oneDNN 2.6's jit post-op injectors share one set of constants per
          // algorithm: two eltwise post-ops of the same algorithm with different
          // parameters compute wrong results (seen with two eltwise_linear on
          // brgemm matmul). Adjacent linear ones are merged (dnnl_steps.cpp);
          // any other repeat ends the fusion.
          auto repeats = [&](dnnl::algorithm alg) {
            for (size_t k = 0; k < fusion.postOps.size(); ++k) {
              const DnnlFusion::PostOp& q = fusion.postOps[k];
              if (q.sumOperand >= 0) continue;
              const Activation qa = q.act ? *q.act : *activationOf(q.node);
              // A conv's relu (Note [NaN-safe relu post-op] in dnnl_steps.cpp) may
              // run as elu + linear: it repeats those too.
              const bool safeRelu = qa.alg == dnnl::algorithm::eltwise_relu && qa.alpha == 0.f &&
                                    (alg == dnnl::algorithm::eltwise_linear || alg == dnnl::algorithm::eltwise_elu);
              if (safeRelu) return true;
              if (qa.alg != alg) continue;
              const bool adjacentLinear = alg == dnnl::algorithm::eltwise_linear && k + 1 == fusion.postOps.size();
              if (!adjacentLinear) return true;
            }
            return false;
          };
          if (const std::optional<Activation> act = cn.numInputs() == 1 ? activationOf(cn) : std::nullopt) {
            if (repeats(act->alg)) break;
            fusion.postOps.push_back({cn, -1});
          } else if ((isConv || isBn) && cn.op() == "relu" && cn.numInputs() == 1) {
            // Note [NaN-safe relu post-op]: a conv's or batch_norm's relu is
            // fused; the step keeps NaN by checking its inputs (dnnl_steps.cpp).
            using A = dnnl::algorithm;
            // (A conv over zero input channels runs on its portable kernel, unfused.)
            if (isConv && node.input(1).dim(1) == 0) break;
            if (repeats(A::eltwise_relu) || repeats(A::eltwise_linear) || repeats(A::eltwise_elu)) break;
            bool anyLinear = false;
            for (const DnnlFusion::PostOp& q : fusion.postOps) {
              anyLinear = anyLinear || (q.sumOperand < 0 && (q.act ? *q.act : *activationOf(q.node)).alg == A::eltwise_linear);
            }
            if (anyLinear) break;
            fusion.postOps.push_back({cn, -1, Activation{A::eltwise_relu, 0.f, 0.f}});
          } else if (isBn) {
            break;
          } else if (const int other = otherOperand(cn, cur);
                     isMatmul && cn.op() == "add" && other >= 0 && !fusion.biasAdd && fusion.postOps.empty() &&
                     dnnlCanTakeBias(node, fusion, cn, other)) {
            fusion.biasAdd = cn;
            fusion.biasAddOperand = other;
          } else if (const std::optional<Activation> lin = linearOf(cn, cur, cv)) {
            if (repeats(lin->alg)) break;
            fusion.postOps.push_back({cn, -1, lin});
          } else if (isMatmul && cn.op() == "add" && other >= 0 && !haveAdd && !viewed &&
                     broadcastAddendOk(node, cn, other, cur)) {
            fusion.postOps.push_back({cn, other, std::nullopt, /*broadcastAdd=*/true});
            haveAdd = true;
          } else if (cn.op() == "add" && other >= 0 && !haveSum) {
            const ValueInfo& ov = info_[static_cast<size_t>(cn.input(static_cast<size_t>(other)).index())];
            if (ov.dtype != SY_DTYPE_F32 || !sameShape(ov, cv) ||
                !sameShape(info_[static_cast<size_t>(cn.output(0).index())], cv)) {
              break;
            }
            fusion.postOps.push_back({cn, other});
            haveSum = true;
          } else {
            break;
          }
          taken[static_cast<size_t>(c)] = true;
          position = std::max(position, static_cast<size_t>(c));
          cur = cn.output(0).index();
          describe += sdk::format(" + ", cn.describe());
          ops += sdk::format(" + ", cn.op());
        }
      }
      step = makeDnnlStep(node, fusion, ids, info_, threads_);
      step->outputs = {cur};
    } else if (chainWhyNot(node).empty()) {
      std::vector<sdk::NodeView> chain = {node};
      int32_t cur = node.output(0).index();
      for (;;) {
        const int32_t c = soleConsumer(cur);
        // (A per-channel mul/add is a oneDNN step of its own: Note [per-channel binary].)
        if (c < 0 || taken[static_cast<size_t>(c)] || !chainWhyNot(nodes[static_cast<size_t>(c)]).empty() ||
            dnnlWhyNot(nodes[static_cast<size_t>(c)]).empty()) {
          break;
        }
        chain.push_back(nodes[static_cast<size_t>(c)]);
        taken[static_cast<size_t>(c)] = true;
        position = static_cast<size_t>(c);
        cur = nodes[static_cast<size_t>(c)].output(0).index();
        describe += sdk::format(" + ", nodes[static_cast<size_t>(c)].describe());
        ops += sdk::format(" + ", nodes[static_cast<size_t>(c)].op());
      }
      step = makeChainStep(region, chain, ids);
      step->outputs = {cur};
    } else if (isViewOp(op) && viewWhyNot(node).empty()) {
      step = std::make_unique<ViewStep>(node);
      for (size_t i = 0; i < node.numInputs(); ++i) step->inputs.push_back(node.hasInput(i) ? node.input(i).index() : -1);
      step->outputs = {node.output(0).index()};
    } else {
      std::string why;
      std::unique_ptr<Kernel> kernel = makeKernel(node, why);
      if (kernel == nullptr) sdk::fail(SY_ERROR_UNIMPLEMENTED, node.describe(), ": not supported by cpu: ", why);
      step = std::make_unique<GenericStep>(std::move(kernel));
      for (size_t i = 0; i < node.numInputs(); ++i) step->inputs.push_back(node.hasInput(i) ? node.input(i).index() : -1);
      for (size_t o = 0; o < node.numOutputs(); ++o) step->outputs.push_back(node.output(o).index());
    }
    step->describe = describe;
    step->ops = ops;
    step->outDtypes.clear();
    for (int32_t v : step->outputs) step->outDtypes.push_back(info_[static_cast<size_t>(v)].dtype);
    place(position, std::move(step));
  }
  std::stable_sort(placed.begin(), placed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::unique_ptr<Step>> steps;
  for (auto& [pos, s] : placed) steps.push_back(std::move(s));
  fuseAttention(steps);
  return steps;
}

// Note [Fused attention] (attention.cpp): a scores product whose only reader
// is a softmax whose only reader is the product with v become one step, in
// the place of the last; the scores and probabilities are not made. Between
// them may stand casts to the same type (views) and, before the softmax,
// GPT-2's where(constant causal mask, scores, constant fill).
void CpuRegion::fuseAttention(std::vector<std::unique_ptr<Step>>& steps) const {
  std::vector<int32_t> producer(info_.size(), -1), uses(info_.size(), 0);
  for (size_t i = 0; i < steps.size(); ++i) {
    for (int32_t v : steps[i]->outputs) producer[static_cast<size_t>(v)] = static_cast<int32_t>(i);
    for (int32_t v : steps[i]->inputs) {
      if (v >= 0) ++uses[static_cast<size_t>(v)];
    }
  }
  // The step making v when v is read once and is no output (-1: none).
  auto soleProducer = [&](int32_t v) -> int32_t {
    if (v < 0 || uses[static_cast<size_t>(v)] != 1 || info_[static_cast<size_t>(v)].isOutput) return -1;
    const int32_t at = producer[static_cast<size_t>(v)];
    return at >= 0 && steps[static_cast<size_t>(at)] != nullptr ? at : -1;
  };
  // Through casts that change nothing: the step before them, and the casts.
  auto throughCasts = [&](int32_t v, std::vector<int32_t>& casts) -> int32_t {
    for (int32_t at = soleProducer(v); at >= 0; at = soleProducer(v)) {
      const Step& st = *steps[static_cast<size_t>(at)];
      if (st.ops != "cast" || st.inputs.size() != 1 || st.outputs.size() != 1 || st.inputs[0] < 0) return at;
      const ValueInfo &a = info_[static_cast<size_t>(st.inputs[0])], &b = info_[static_cast<size_t>(v)];
      if (a.dtype != b.dtype || a.dims != b.dims) return at;
      casts.push_back(at);
      v = st.inputs[0];
    }
    return -1;
  };
  bool fused = false;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step* pv = steps[i].get();
    if (pv == nullptr || pv->inputs.empty()) continue;
    std::vector<int32_t> gone;
    const int32_t smAt = throughCasts(pv->inputs[0], gone);
    if (smAt < 0 || steps[static_cast<size_t>(smAt)]->inputs.empty()) continue;
    const Step* sm = steps[static_cast<size_t>(smAt)].get();
    gone.push_back(smAt);
    int32_t qkAt = throughCasts(sm->inputs[0], gone);
    const Step* where = nullptr;
    if (qkAt >= 0 && steps[static_cast<size_t>(qkAt)]->ops == "where" &&
        steps[static_cast<size_t>(qkAt)]->inputs.size() == 3) {
      where = steps[static_cast<size_t>(qkAt)].get();
      gone.push_back(qkAt);
      qkAt = throughCasts(where->inputs[1], gone);
    }
    if (qkAt < 0) continue;
    const Step* qk = steps[static_cast<size_t>(qkAt)].get();
    // (attentionPartsOf checks that the softmax reads the product and the
    // product with v the softmax: the casts are views of the same values)
    std::optional<AttentionParts> parts = attentionPartsOf(*qk, *sm, *pv);
    if (!parts) continue;
    if (where != nullptr) {
      parts->selectCond = where->inputs[0];
      parts->selectFill = where->inputs[2];
    }
    std::unique_ptr<Step> step = makeAttentionStep(*parts, info_);
    if (step == nullptr) continue;
    std::string describe = qk->describe, ops = qk->ops;
    for (size_t g = gone.size(); g-- > 0;) {
      const Step& st = *steps[static_cast<size_t>(gone[g])];
      describe += sdk::format(" + ", st.describe);
      ops += sdk::format(" + ", st.ops);
    }
    step->describe = sdk::format(describe, " + ", pv->describe);
    step->ops = sdk::format("attention (", ops, " + ", pv->ops, ")");
    steps[i] = std::move(step);
    for (int32_t g : gone) steps[static_cast<size_t>(g)].reset();
    steps[static_cast<size_t>(qkAt)].reset();
    fused = true;
  }
  if (fused) steps.erase(std::remove(steps.begin(), steps.end(), nullptr), steps.end());
}

/// Matches PyTorch's exported exact GELU on `cur`:
///   d = div(cur, sqrt 2); e = erf(d); a = add(e, 1); m = mul(cur, a); y = mul(m, 0.5)
/// (operands of add/mul in either order, the constants f32 scalars). Returns the
/// node positions of d, e, a, m, y, or nothing. `cur` must be read by d and m
/// only, and each intermediate only by the next node (and never returned).
std::vector<int32_t> CpuRegion::matchGeluErf(const std::vector<sdk::NodeView>& nodes, int32_t cur,
                                             const std::vector<bool>& taken) const {
  const ValueInfo& cv = info_[static_cast<size_t>(cur)];
  if (cv.isOutput || cv.consumers.size() != 2 || cv.consumers[0] == cv.consumers[1]) return {};
  auto near = [](std::optional<float> v, double want) { return v && std::fabs(*v - want) < 1e-3 * std::fabs(want); };
  auto sole = [&](int32_t v) -> int32_t {
    const ValueInfo& vi = info_[static_cast<size_t>(v)];
    if (vi.isOutput || vi.consumers.size() != 1) return -1;
    return taken[static_cast<size_t>(vi.consumers[0])] ? -1 : vi.consumers[0];
  };
  auto scalarOperand = [&](const sdk::NodeView& n, int32_t x) -> std::optional<float> {
    const int o = otherOperand(n, x);
    if (o < 0 || n.input(static_cast<size_t>(o)).rank() > cv.rank) return std::nullopt;
    return constantScalar(n.input(static_cast<size_t>(o)));
  };
  int32_t d = -1, m = -1;
  for (int32_t c : cv.consumers) {
    if (taken[static_cast<size_t>(c)]) return {};
    const sdk::NodeView& n = nodes[static_cast<size_t>(c)];
    if (n.op() == "div" && n.input(0).index() == cur) d = c;
    if (n.op() == "mul") m = c;
  }
  if (d < 0 || m < 0 || !near(scalarOperand(nodes[static_cast<size_t>(d)], cur), 1.4142135623730951)) return {};
  const int32_t e = sole(nodes[static_cast<size_t>(d)].output(0).index());
  if (e < 0 || nodes[static_cast<size_t>(e)].op() != "erf") return {};
  const int32_t a = sole(nodes[static_cast<size_t>(e)].output(0).index());
  if (a < 0 || nodes[static_cast<size_t>(a)].op() != "add" ||
      !near(scalarOperand(nodes[static_cast<size_t>(a)], nodes[static_cast<size_t>(e)].output(0).index()), 1.0)) {
    return {};
  }
  const int32_t aOut = nodes[static_cast<size_t>(a)].output(0).index();
  if (sole(aOut) != m || otherOperand(nodes[static_cast<size_t>(m)], aOut) < 0 ||
      nodes[static_cast<size_t>(m)].input(static_cast<size_t>(otherOperand(nodes[static_cast<size_t>(m)], aOut))).index() != cur) {
    return {};
  }
  const int32_t mOut = nodes[static_cast<size_t>(m)].output(0).index();
  const int32_t y = sole(mOut);
  if (y < 0 || nodes[static_cast<size_t>(y)].op() != "mul" ||
      !near(scalarOperand(nodes[static_cast<size_t>(y)], mOut), 0.5)) {
    return {};
  }
  for (int32_t v : {nodes[static_cast<size_t>(y)].output(0).index()}) {
    if (!sameShape(info_[static_cast<size_t>(v)], cv)) return {};
  }
  return {d, e, a, m, y};
}

// Note [Transposes in matmul strides]
// Attention reshapes q, k, v to [B, T, H, D] and transposes them to
// [B, H, T, D] (k to [B, H, D, T]) for the two matmuls, and transposes the
// result back to [B, T, H, D]: four copies of a [B, T, H*D] tensor per layer.
// oneDNN's matmul takes strided memory descriptors (brg:avx512_core still
// runs them), so a transpose whose only reader is a matmul operand is not
// run: the matmul reads the transpose's input through permuted strides; and
// a transpose that only reads a matmul's result (no sum post-op) becomes the
// product's dst strides, the step writing the transposed value. Taken for
// f32 permutations that keep the stored last dim in one of the two matrix
// dims (unit stride on a row or a column), rank 2 to 6; a transposed operand
// turns off folding a batch into rows. The profile names the step
// "transpose + transpose + matmul + ...".
std::vector<int64_t> matmulFoldablePerm(const sdk::NodeView& t) {
  if (t.op() != "transpose" || t.numInputs() != 1 || t.numOutputs() != 1 || !t.hasInput(0)) return {};
  const sdk::ValueView x = t.input(0);
  const int32_t r = x.rank();
  if (x.dtype() != SY_DTYPE_F32 || t.output(0).dtype() != SY_DTYPE_F32 || r < 2 || r > 6) return {};
  std::vector<int64_t> perm = t.attrInts("perm");
  if (perm.empty()) {
    for (int32_t k = r; k-- > 0;) perm.push_back(k);
  }
  if (static_cast<int32_t>(perm.size()) != r) return {};
  std::vector<bool> seen(static_cast<size_t>(r), false);
  for (int64_t& k : perm) {
    if (k < 0) k += r;
    if (k < 0 || k >= r || seen[static_cast<size_t>(k)]) return {};
    seen[static_cast<size_t>(k)] = true;
  }
  if (perm[static_cast<size_t>(r - 1)] != r - 1 && perm[static_cast<size_t>(r - 2)] != r - 1) return {};
  return perm;
}

// Note [Attention mask post-op]
// BERT adds its attention mask ([B, 1, 1, T] from the input's mask) to the
// scaled scores matmul(q, k^T) / sqrt(d) of shape [B, H, T, T]; GPT-2-style
// models add [1, 1, T, T]. The add is a oneDNN binary_add post-op of the
// matmul (after the scale's eltwise_linear), so the scores are written once
// instead of written, read and written again. Taken when the addend is f32,
// of a rank no higher than the product's, each dim 1 or the product's (and
// only the first and the last two dims not 1), the add's result has the
// product's shape, and (a product whose b has no batch,
// which oneDNN runs with the batch folded into rows) only the last dim
// varies. Not for an addend of the product's own shape (that stays the sum
// post-op). NaN and infinities add as in the unfused add.
bool CpuRegion::broadcastAddendOk(const sdk::NodeView& product, const sdk::NodeView& add, int other,
                                  int32_t cur) const {
  const ValueInfo& cv = info_[static_cast<size_t>(cur)];
  const ValueInfo& ov = info_[static_cast<size_t>(add.input(static_cast<size_t>(other)).index())];
  if (ov.dtype != SY_DTYPE_F32 || ov.rank < 0 || cv.rank < 0 || ov.rank > cv.rank || sameShape(ov, cv) ||
      add.output(0).dtype() != SY_DTYPE_F32 || !sameShape(info_[static_cast<size_t>(add.output(0).index())], cv)) {
    return false;
  }
  bool onlyLastVaries = true;
  for (int32_t i = 0; i < ov.rank; ++i) {
    const size_t oi = static_cast<size_t>(i), ci = static_cast<size_t>(cv.rank - ov.rank + i);
    const bool one = ov.dims[oi] == 1;
    const bool same = ov.dims[oi] >= 0 ? ov.dims[oi] == cv.dims[ci]
                                       : !ov.symbols[oi].empty() && ov.symbols[oi] == cv.symbols[ci];
    if (!one && !same) return false;
    // Batch or the last two dims only (the heads dim broadcast): the shapes
    // attention masks have, which oneDNN's jit matmul takes.
    if (!one && ci != 0 && ci + 2 < static_cast<size_t>(cv.rank)) return false;
    if (!one && i + 1 < ov.rank) onlyLastVaries = false;
  }
  if (product.op() == "gemm") return true;  // 2-D: never folded
  // matmul: b without batch (rank <= 2, or every batch dim a static 1) has its batch folded.
  // 1-D operands (a vector product drops a dim) are left alone.
  const ValueInfo& av = info_[static_cast<size_t>(product.input(0).index())];
  const ValueInfo& bv = info_[static_cast<size_t>(product.input(1).index())];
  if (av.rank < 2 || bv.rank < 2) return false;
  bool bBatched = false;  // (a dynamic batch may be 1 at run time: not counted)
  for (int32_t i = 0; i + 2 < bv.rank; ++i) bBatched = bBatched || bv.dims[static_cast<size_t>(i)] > 1;
  return bBatched || onlyLastVaries;
}

// Note [Reshape before a residual sum]
// GPT-2's attention output and MLP projections (Conv1D: gemm on [T, C],
// reshape back to [1, T, N]) are added to the residual stream right after
// the reshape. As with a GELU (Note [Reshape before a fused GELU]), the
// product is written with the reshape's dims and the add becomes the sum
// post-op (the addend copied into the destination first, the product added
// in the kernel): one step instead of gemm + a separate add pass over
// [T, N] (25 adds of [128, 768] a GPT-2 run). Only when the reshape's
// result is read by that add alone, the addend is f32 of the reshaped
// dims, nothing else was fused yet, and the gemm has no c that would be
// broadcast into the destination (a constant c of N values or fewer is its
// bias).

/// `add` adds the view's result `v` (its only reader) to a same-shape f32
/// value, and `product` (a matmul, or a gemm whose c is absent or a
/// constant row) can take it as a sum post-op.
bool CpuRegion::residualAfterView(const sdk::NodeView& product, const sdk::NodeView& add, int32_t v) const {
  if (add.op() != "add" || add.numInputs() != 2 || add.numOutputs() != 1) return false;
  const int other = add.input(0).index() == v ? 1 : add.input(1).index() == v ? 0 : -1;
  if (other < 0 || add.input(static_cast<size_t>(other)).index() == v) return false;
  const ValueInfo& vi = info_[static_cast<size_t>(v)];
  const ValueInfo& oi = info_[static_cast<size_t>(add.input(static_cast<size_t>(other)).index())];
  const ValueInfo& yi = info_[static_cast<size_t>(add.output(0).index())];
  if (vi.isOutput || oi.dtype != SY_DTYPE_F32 || yi.dtype != SY_DTYPE_F32 || !sameShape(oi, vi) || !sameShape(yi, vi))
    return false;
  if (product.op() == "gemm" && product.numInputs() == 3 && product.hasInput(2)) {
    const sdk::ValueView c = product.input(2);
    const int64_t N = vi.dims.empty() ? -1 : vi.dims.back();
    if (c.dtype() != SY_DTYPE_F32 || !c.isConstant() || !c.isStatic() || c.numElements() > N ||
        (c.rank() == 2 && c.dim(0) != 1))
      return false;
  }
  return true;
}

// Note [Reshape before a fused GELU]
// GPT-2's Conv1D exports as reshape [1, T, C] -> [T, C], gemm, reshape back
// to [1, T, N], and its GELU reads the reshaped value. A reshape is a view
// (row-major data unchanged) and GELU is elementwise, so gemm -> reshape ->
// GELU runs as one matmul step whose output has the reshape's (static) dims
// and a gelu post-op; the reshape step disappears. Only the gated patterns
// (GELU erf/tanh, SiLU, HardSwish) are looked for through the view, on a
// static shape with the product's element count, never after a sum post-op,
// and the fusion stops after them.

/// Matches the GELU with the tanh approximation as exported (HF's NewGELU in
/// GPT-2, `0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * pow(x, 3))))`) on `cur`:
///   p = pow(cur, 3); q = mul(p, 0.044715); r = add(cur, q); s = mul(r, sqrt(2/pi));
///   t = tanh(s); u = add(t, 1); then h = mul(cur, 0.5), y = mul(h, u)
///   or h = mul(cur, u), y = mul(h, 0.5)
/// (operands of add/mul in either order, the constants f32 scalars within
/// float rounding). Returns the node positions with y last, or nothing. `cur`
/// must be read by p, r and h only, each intermediate only by the next node
/// (and none returned). NaN stays NaN; at -inf the fused gelu gives its limit
/// -0 where the unfused nodes give -inf * 0 = NaN, and in the second form it
/// stays finite where x * u overflows (|x| > FLT_MAX / 2), as matchGeluErf's.
std::vector<int32_t> CpuRegion::matchGeluTanh(const std::vector<sdk::NodeView>& nodes, int32_t cur,
                                              const std::vector<bool>& taken) const {
  const ValueInfo& cv = info_[static_cast<size_t>(cur)];
  if (cv.isOutput || cv.dtype != SY_DTYPE_F32 || cv.consumers.size() != 3) return {};
  const auto node = [&](int32_t position) -> const sdk::NodeView& { return nodes[static_cast<size_t>(position)]; };
  const auto out = [&](int32_t position) { return node(position).output(0).index(); };
  auto near = [](std::optional<float> v, double want) { return v && std::fabs(*v - want) <= 1e-6 * std::fabs(want); };
  auto sole = [&](int32_t v) -> int32_t {
    const ValueInfo& vi = info_[static_cast<size_t>(v)];
    if (vi.isOutput || vi.consumers.size() != 1) return -1;
    return taken[static_cast<size_t>(vi.consumers[0])] ? -1 : vi.consumers[0];
  };
  auto scalarOperand = [&](int32_t position, int32_t x) -> std::optional<float> {
    const sdk::NodeView& n = node(position);
    const int o = otherOperand(n, x);
    if (o < 0 || n.input(static_cast<size_t>(o)).rank() > cv.rank) return std::nullopt;
    return constantScalar(n.input(static_cast<size_t>(o)));
  };
  // The operand of binary node `position` that is not `x` (-1 when none).
  auto otherValue = [&](int32_t position, int32_t x) -> int32_t {
    const int o = otherOperand(node(position), x);
    return o < 0 ? -1 : node(position).input(static_cast<size_t>(o)).index();
  };
  int32_t p = -1, r = -1, h = -1;
  for (int32_t c : cv.consumers) {
    if (taken[static_cast<size_t>(c)] || c == p || c == r || c == h) return {};
    const sdk::NodeView& n = node(c);
    if (n.numOutputs() != 1 || n.output(0).dtype() != SY_DTYPE_F32) return {};
    if (n.op() == "pow" && n.input(0).index() == cur && smallIntegerExponent(n) == 3) {
      p = c;
    } else if (n.op() == "add") {
      r = c;
    } else if (n.op() == "mul") {
      h = c;
    } else {
      return {};
    }
  }
  if (p < 0 || r < 0 || h < 0) return {};
  const int32_t q = sole(out(p));
  if (q < 0 || node(q).op() != "mul" || !near(scalarOperand(q, out(p)), 0.044715)) return {};
  if (sole(out(q)) != r || otherValue(r, out(q)) != cur) return {};
  const int32_t s = sole(out(r));
  if (s < 0 || node(s).op() != "mul" || !near(scalarOperand(s, out(r)), 0.7978845608028654)) return {};
  const int32_t t = sole(out(s));
  if (t < 0 || node(t).op() != "tanh") return {};
  const int32_t u = sole(out(t));
  if (u < 0 || node(u).op() != "add" || !near(scalarOperand(u, out(t)), 1.0)) return {};
  int32_t y = -1;
  if (near(scalarOperand(h, cur), 0.5)) {
    y = sole(out(h));  // y = mul(h, u)
    if (y < 0 || sole(out(u)) != y || node(y).op() != "mul" || otherValue(y, out(h)) != out(u)) return {};
  } else if (otherValue(h, cur) == out(u) && sole(out(u)) == h) {
    y = sole(out(h));  // y = mul(h, 0.5)
    if (y < 0 || node(y).op() != "mul" || !near(scalarOperand(y, out(h)), 0.5)) return {};
  } else {
    return {};
  }
  if (node(y).output(0).dtype() != SY_DTYPE_F32 || !sameShape(info_[static_cast<size_t>(out(y))], cv)) return {};
  // Every intermediate is f32 with cur's shape (a wider constant would have widened it).
  for (int32_t k : {p, q, r, s, t, u, h}) {
    if (node(k).output(0).dtype() != SY_DTYPE_F32 || !sameShape(info_[static_cast<size_t>(out(k))], cv)) return {};
  }
  return {p, q, r, s, t, u, h, y};
}

/// Matches an activation exported as x times a gate of x, on `cur`:
///   SiLU:      s = sigmoid(cur); y = mul(cur, s)                        -> eltwise_swish (alpha 1)
///   HardSwish: m = mul(cur, 1/6); a = add(m, 0.5); c = clip(a, 0, 1);
///              y = mul(cur, c)                                          -> eltwise_hardswish
/// (the ONNX importer lowers HardSwish so; PyTorch exports SiLU so). Returns
/// the node positions with y last and sets *out, or nothing. `cur` must be read
/// by the first node and y only, each intermediate only by the next node. Both
/// keep NaN: the last step multiplies by x.
std::vector<int32_t> CpuRegion::matchGatedActivation(const std::vector<sdk::NodeView>& nodes, int32_t cur,
                                                     const std::vector<bool>& taken, Activation* out) const {
  const ValueInfo& cv = info_[static_cast<size_t>(cur)];
  if (cv.isOutput || cv.consumers.size() != 2 || cv.consumers[0] == cv.consumers[1]) return {};
  for (int32_t c : cv.consumers) {
    if (taken[static_cast<size_t>(c)]) return {};
  }
  auto sole = [&](int32_t v) -> int32_t {
    const ValueInfo& vi = info_[static_cast<size_t>(v)];
    if (vi.isOutput || vi.consumers.size() != 1) return -1;
    return taken[static_cast<size_t>(vi.consumers[0])] ? -1 : vi.consumers[0];
  };
  auto near = [](std::optional<float> v, double want) { return v && std::fabs(*v - want) <= 1e-6 * std::fabs(want); };
  auto scalarOperand = [&](const sdk::NodeView& n, int32_t x) -> std::optional<float> {
    const int o = otherOperand(n, x);
    if (o < 0 || n.input(static_cast<size_t>(o)).rank() > cv.rank) return std::nullopt;
    return constantScalar(n.input(static_cast<size_t>(o)));
  };
  // y = mul(cur, gate) where gate is `gateNode`'s output.
  auto isGatedMul = [&](int32_t y, int32_t gateNode) {
    if (y < 0 || nodes[static_cast<size_t>(y)].op() != "mul") return false;
    const sdk::NodeView& m = nodes[static_cast<size_t>(y)];
    const int32_t gate = nodes[static_cast<size_t>(gateNode)].output(0).index();
    const int o = otherOperand(m, gate);
    return o >= 0 && m.input(static_cast<size_t>(o)).index() == cur && m.output(0).dtype() == SY_DTYPE_F32 &&
           sameShape(info_[static_cast<size_t>(m.output(0).index())], cv);
  };
  for (int k = 0; k < 2; ++k) {
    const int32_t first = cv.consumers[static_cast<size_t>(k)];
    const int32_t other = cv.consumers[static_cast<size_t>(1 - k)];
    const sdk::NodeView& f = nodes[static_cast<size_t>(first)];
    if (f.numOutputs() != 1) continue;
    if (f.op() == "sigmoid" && sole(f.output(0).index()) == other && isGatedMul(other, first)) {
      *out = Activation{dnnl::algorithm::eltwise_swish, 1.f, 0.f};
      return {first, other};
    }
    if (f.op() == "mul" && near(scalarOperand(f, cur), 1.0 / 6.0)) {
      const int32_t a = sole(f.output(0).index());
      if (a < 0 || nodes[static_cast<size_t>(a)].op() != "add" ||
          !near(scalarOperand(nodes[static_cast<size_t>(a)], f.output(0).index()), 0.5)) {
        continue;
      }
      const int32_t c = sole(nodes[static_cast<size_t>(a)].output(0).index());
      if (c < 0) continue;
      const sdk::NodeView& clip = nodes[static_cast<size_t>(c)];
      if (clip.op() != "clip" || clip.numInputs() != 1 || clip.attrFloat("min", -INFINITY) != 0.0 ||
          clip.attrFloat("max", INFINITY) != 1.0) {
        continue;
      }
      if (sole(clip.output(0).index()) != other || !isGatedMul(other, c)) continue;
      *out = Activation{dnnl::algorithm::eltwise_hardswish, 0.f, 0.f};
      return {first, a, c, other};
    }
  }
  return {};
}

void CpuRegion::analyse() {
  const size_t n = info_.size();
  isOutput_.assign(n, false);
  for (int32_t r : returns_) isOutput_[static_cast<size_t>(r)] = true;
  root_.resize(n);
  for (size_t v = 0; v < n; ++v) root_[v] = static_cast<int32_t>(v);
  last_.assign(n, -1);
  // Consumers of each value among the steps, to decide blocked layouts.
  std::vector<std::vector<std::pair<const Step*, size_t>>> uses(n);
  for (size_t s = 0; s < steps_.size(); ++s) {
    const Step& step = *steps_[s];
    for (size_t i = 0; i < step.inputs.size(); ++i) {
      const int32_t v = step.inputs[i];
      if (v < 0) continue;
      uses[static_cast<size_t>(v)].emplace_back(&step, i);
      last_[static_cast<size_t>(v)] = static_cast<int32_t>(s);
    }
    if (dynamic_cast<const ViewStep*>(&step) != nullptr) {
      root_[static_cast<size_t>(step.outputs[0])] = root_[static_cast<size_t>(step.inputs[0])];
    }
  }
  for (auto& step : steps_) {
    if (!step->mayProduceBlocked()) continue;
    const size_t v = static_cast<size_t>(step->outputs[0]);
    bool ok = !isOutput_[v] && !uses[v].empty();
    for (const auto& [user, i] : uses[v]) ok = ok && user->acceptsBlocked(i);
    step->setBlockedOk(ok);
  }
  // Views extend their root's life; a returned value lives to the end.
  for (size_t v = 0; v < n; ++v) {
    const size_t r = static_cast<size_t>(root_[v]);
    const int32_t end = isOutput_[v] ? INT_MAX : last_[v];
    last_[r] = std::max(last_[r], end);
  }
  decideInPlace();
  freeAt_.assign(steps_.size(), {});
  for (size_t v = 0; v < n; ++v) {
    if (root_[v] != static_cast<int32_t>(v) || last_[v] < 0 || last_[v] == INT_MAX) continue;
    freeAt_[static_cast<size_t>(last_[v])].push_back(v);
  }
}

// Note [In-place residual sum]: a residual add fused into a conv is oneDNN's
// sum post-op, which adds the destination's contents: the addend is copied
// into dst first (ResNet-50: 16 such copies, 22 MB a run, 2% of its time).
// When nothing reads the addend after the conv (the usual residual block:
// the skip value's last use is this add), dst can be the addend's own memory
// and the copy disappears. Decided here, for the top-level steps: the
// addend is made by a step of this region (not a region input or constant:
// their memory is not ours), is not returned, is not read by another input
// of the same step (conv(x) + x would overwrite x while the conv reads it),
// dies at this step, and the output is neither returned nor inside a block.
// The output then shares the addend's root (as a view does), so the plan
// gives both one lifetime; at run time Run::outReusing checks that the
// addend arrived in the dst's layout and shape, else the output gets memory
// of its own (correct, only without the saving). The per-channel scaling of
// squeeze-and-excitation blocks (BinaryStep) takes the same path: its
// full-size operand usually dies there, and an elementwise pass that writes
// the lines it has just read saves the write-allocate of a second buffer.
void CpuRegion::decideInPlace() {
  const size_t n = info_.size();
  reuses_.assign(n, -1);
  std::vector<bool> produced(n, false);
  for (const auto& step : steps_) {
    for (int32_t v : step->outputs) produced[static_cast<size_t>(v)] = true;
  }
  for (size_t s = 0; s < steps_.size(); ++s) {
    const Step& step = *steps_[s];
    const int k = step.inPlaceInput();
    if (k < 0 || static_cast<size_t>(k) >= step.inputs.size() || step.inputs[static_cast<size_t>(k)] < 0 ||
        step.outputs.empty()) {
      continue;
    }
    const int32_t a = step.inputs[static_cast<size_t>(k)];
    const size_t r = static_cast<size_t>(root_[static_cast<size_t>(a)]);
    const size_t out = static_cast<size_t>(step.outputs[0]);
    bool ok = produced[r] && !isOutput_[r] && last_[r] == static_cast<int32_t>(s) && !inBlock_[r] &&
              root_[out] == static_cast<int32_t>(out) && !isOutput_[out] && last_[out] != INT_MAX &&
              !inBlock_[out] && info_[r].dtype == info_[out].dtype;
    for (size_t i = 0; ok && i < step.inputs.size(); ++i) {
      if (static_cast<int>(i) != k && step.inputs[i] >= 0 &&
          root_[static_cast<size_t>(step.inputs[i])] == static_cast<int32_t>(r)) {
        ok = false;
      }
    }
    if (!ok) continue;
    reuses_[out] = a;
    for (size_t v = 0; v < n; ++v) {
      if (root_[v] == static_cast<int32_t>(out)) root_[v] = static_cast<int32_t>(r);
    }
    last_[r] = std::max(last_[r], last_[out]);
  }
}

std::shared_ptr<Plan> CpuRegion::makePlan(const RegionRun& run) const {
  auto plan = std::make_shared<Plan>();
  const size_t n = info_.size();
  plan->offset.assign(n, -1);
  plan->bytes = run.bytes;
  // Definition step of each value.
  std::vector<int32_t> def(n, -1);
  for (size_t s = 0; s < steps_.size(); ++s) {
    for (int32_t v : steps_[s]->outputs) def[static_cast<size_t>(v)] = static_cast<int32_t>(s);
  }
  struct Item {
    size_t v;
    size_t bytes;
    int32_t first, last;
  };
  std::vector<Item> items;
  size_t sum = 0;
  for (size_t v = 0; v < n; ++v) {
    if (def[v] < 0 || isOutput_[v] || root_[v] != static_cast<int32_t>(v) || run.bytes[v] == 0) continue;
    const int32_t last = last_[v] == INT_MAX ? static_cast<int32_t>(steps_.size()) : std::max(last_[v], def[v]);
    items.push_back({v, alignUp(run.bytes[v]), def[v], last});
    sum += alignUp(run.bytes[v]);
  }
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.bytes > b.bytes; });
  std::vector<const Item*> placedItems;
  size_t arena = 0;
  for (const Item& it : items) {
    // Lowest offset that does not collide with a placed value alive at the same time.
    std::vector<std::pair<size_t, size_t>> busy;
    for (const Item* p : placedItems) {
      if (p->last < it.first || it.last < p->first) continue;
      const size_t off = static_cast<size_t>(plan->offset[p->v]);
      busy.emplace_back(off, off + p->bytes);
    }
    std::sort(busy.begin(), busy.end());
    size_t offset = 0;
    for (const auto& [b, e] : busy) {
      if (offset + it.bytes <= b) break;
      offset = std::max(offset, e);
    }
    plan->offset[it.v] = static_cast<int64_t>(offset);
    arena = std::max(arena, offset + it.bytes);
    placedItems.push_back(&it);
  }
  plan->arenaBytes = arena;
  if (const char* log = std::getenv("SY_CPU_PLAN_LOG"); log != nullptr && *log != '\0') {
    if (FILE* f = std::fopen(log, "a")) {
      std::fprintf(f, "plan arena_bytes=%zu sum_bytes=%zu values=%zu steps=%zu\n", arena, sum, items.size(),
                   steps_.size());
      std::fclose(f);
    }
  }
  return plan;
}

// Note [Threads on shared cores]: oneDNN here is the OpenMP build, whose
// primitives split their work statically over a team; a member whose core
// another process holds kept the whole primitive at the join barrier until
// the scheduler ran it, up to a tick. With threads = cores on a busy machine
// every step then cost about a millisecond more (EfficientNet-B0, 116 steps:
// 13 ms at 1 thread, 21 ms median and 76 ms max at 2 threads while other
// builds ran). So a run has three ways to use its `threads`:
//  - split (kSplit): every primitive runs on a team of one and a step's
//    threads come from chunks of it that the pool hands out dynamically
//    (Note [Split primitives] in dnnl_split.cpp): a worker preempted before
//    it claims a chunk costs nothing (the caller takes every chunk), one
//    preempted inside a chunk makes the caller wait for that chunk only;
//  - teams (kTeam): every primitive of kTeamWork or more (DnnlStep) runs
//    whole on an OpenMP team of `threads`, split by oneDNN itself over
//    output channel blocks and pixels with its own balance (what OpenVINO's
//    oneDNN does on TBB); generic work runs on the calling thread, so the
//    pool's workers stay blocked and no more than `threads` threads run.
//    On quiet cores this is the fastest for CNNs: split chunks of a layer
//    with 7 or 14 rows each re-read all the weights and run the kernel on a
//    few rows, and steps too small to split ran on one thread (at 2
//    threads, with the machine's load average about 2: MobileNetV3 took
//    0.74 of 1 thread's time split and 0.61 on teams, EfficientNet-B0 0.99
//    and 0.60; per conv step, teams took 0.55-0.65 of 1 thread's time and
//    split chunks 0.75-1.0). But the team's static split waits
//    at the join for a preempted member, and a team needs its own threads,
//    so only a run alone in the process takes it (runsInFlight), and a run
//    on teams that passes 1.25x the best other choice's median finishes on
//    the calling thread alone (ThreadChooser::teamLimit): a try of teams on
//    a busy machine costs at most a quarter of a run;
//  - one thread (kOne): the calling thread alone.
// Each region measures: its first runs take the choices in turn (each one's
// first run, which makes its primitives, untimed; then kSamples = 3 timed
// runs of each, interleaved so that a burst of load lands on all of them;
// teams a turn behind, so that teamLimit bounds their first run too);
// then it runs with the choice whose last 3 timed runs have the lowest median
// and now and then tries another (every 16 runs, up to every 256 while the
// tries keep losing). With one timed run per choice (before), one noisy run
// decided between split and teams for the life of the process (issue #15:
// MobileNetV3 at 2 threads on a quiet machine, 1.14x the better peer in one
// compare_peers run and 0.90x in the next); the median of 3, taken in turns,
// keeps one outlier from deciding. SY_CPU_SPLIT_DEBUG prints the choice each
// time it changes, with the medians. A quiet machine keeps all the
// threads; one where other processes keep taking the cores drops to split
// chunks or one thread within a few runs and tries the others again later.
// A small region (a run on one thread under kSmallRunMs, 0.1 ms) runs on
// one thread only and tries nothing else (ThreadChooser::small), until its
// runs average over twice that (e.g. a larger input): its steps are too
// small to split, a team's fork and join cost about what they save, and
// averages of such runs are too noisy to rank the choices, so the tries of
// the slower ones cost on their own (issue #15, at 2 threads on a loaded
// 2-core machine: the mlp example took 5 us on one thread, 5-8 us
// measuring; the cnn example 36 us on one thread, 34-52 us on teams). One
// run decides, as load only makes runs slower. Such a region runs as at 1
// thread, bit for bit, and needs no lock to choose.
// Primitives (and their splits) are cached per thread count and team
// (DnnlStep::capKey()). libgomp's team threads spin a while after each
// primitive before they sleep (GOMP_SPINCOUNT, OMP_WAIT_POLICY: process-wide
// settings that the plugin leaves to the user); so they are ready for the
// next step, and spin on a core that is idle anyway in a run on teams.
// Under ThreadSanitizer there are no teams: libgomp's barriers are not
// instrumented, so every team would be reported as a race.
// SY_CPU_THREAD_CHOICE=split|one|team fixes the choice (for measurements);
// SY_CPU_SMALL_RUN_MS sets kSmallRunMs (0: no region is small). Both are
// read when a region is compiled.
namespace {
#if defined(__SANITIZE_THREAD__)
constexpr int kChoices = 2;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr int kChoices = 2;
#else
constexpr int kChoices = 3;
#endif
#else
constexpr int kChoices = 3;
#endif

/// How long a region's runs on one thread may average (ms) and still be
/// small (Note [Threads on shared cores]).
constexpr double kSmallRunMs = 0.1;
/// Region runs in progress in this process (any thread, any region).
std::atomic<int> runsInFlight{0};
}  // namespace

double CpuRegion::ThreadChooser::score(int choice) const {
  const int n = std::min(seen[choice] - 1, kSamples);
  if (n <= 0) return std::numeric_limits<double>::infinity();
  double v[kSamples];
  std::copy(recent[choice], recent[choice] + n, v);
  std::sort(v, v + n);
  return n == kSamples ? v[kSamples / 2] : v[0];
}

int CpuRegion::ThreadChooser::best(bool teamOk) const {
  int b = -1;
  for (int c = 0; c < kChoices; ++c) {
    if (seen[c] < 2 || (c == kTeam && !teamOk)) continue;
    if (b < 0 || score(c) < score(b)) b = c;
  }
  return b < 0 ? kSplit : b;
}

double CpuRegion::ThreadChooser::teamLimit() {
  std::lock_guard<std::mutex> lock(mutex);
  double limit = std::numeric_limits<double>::infinity();
  for (int c = 0; c < kChoices; ++c) {
    if (c != kTeam && seen[c] > 1) limit = std::min(limit, (seen[kTeam] == 0 ? 10 : 1.25) * score(c));
  }
  return limit;
}

void CpuRegion::ThreadChooser::readEnvironment() {
  if (const char* s = std::getenv("SY_CPU_THREAD_CHOICE"); s != nullptr) {
    const std::string v = s;
    if (v == "split") fixed = kSplit;
    if (v == "one") fixed = kOne;
    if (v == "team" && kChoices > 2) fixed = kTeam;
  }
  smallMs = kSmallRunMs;
  debug = splitDebug();
  if (const char* s = std::getenv("SY_CPU_SMALL_RUN_MS"); s != nullptr && *s != '\0') {
    char* end = nullptr;
    const double v = std::strtod(s, &end);
    if (end != s && *end == '\0' && v >= 0) smallMs = v;
  }
}

int CpuRegion::ThreadChooser::choose(int threads, bool teamOk) {
  if (threads <= 1) return kOne;
  if (fixed >= 0) return fixed == kTeam && !teamOk ? kSplit : fixed;
  if (small.load(std::memory_order_relaxed)) return kOne;
  std::lock_guard<std::mutex> lock(mutex);
  ++runs;
  // A choice's first run makes its primitives: it is not timed (see report).
  // Then the choices take turns (split, one thread, whose runs say whether
  // the region is small, teams) until each has kSamples timed runs; teams a
  // turn behind, so that their first run (which makes the team primitives)
  // has teamLimit's bound from timed runs of the others.
  auto turns = [&](int c) { return seen[c] + (c == kTeam ? 1 : 0); };
  int next = -1;
  for (int c = 0; c < kChoices; ++c) {
    if ((c != kTeam || teamOk) && seen[c] < 1 + kSamples && (next < 0 || turns(c) < turns(next))) next = c;
  }
  if (next >= 0) return next;
  const int b = best(teamOk);
  // Tries that keep losing come less often: every 16, 32, ... 256 runs.
  if (runs - lastTry < (uint64_t{16} << std::min(lostTries, 4))) return b;
  lastTry = runs;
  // The other choices in turn (split and one thread are always there).
  int c = lastTried;
  do {
    c = (c + 1) % kChoices;
  } while (c == b || (c == kTeam && !teamOk));
  lastTried = c;
  return c;
}

void CpuRegion::ThreadChooser::report(int choice, double ms) {
  std::lock_guard<std::mutex> lock(mutex);
  if (seen[choice]++ == 0) return;
  // A try lost or won against the best so far (once split and one thread
  // are both timed: a region whose runs always have company never times
  // teams).
  const int b = best(true);
  if (seen[kSplit] > 1 && seen[kOne] > 1 && choice != b) lostTries = ms > score(b) ? lostTries + 1 : 0;
  recent[choice][(seen[choice] - 2) % kSamples] = ms;
  if (debug && seen[kSplit] > kSamples && seen[kOne] > kSamples && best(true) != shown) {
    shown = best(true);
    std::fprintf(stderr, "threads: region runs %s (median ms of the last runs: split %.3f, one %.3f, team %.3f)\n",
                 shown == kSplit ? "split" : shown == kOne ? "on one thread" : "on teams", score(kSplit), score(kOne),
                 seen[kTeam] > 1 ? score(kTeam) : -1.0);
  }
  if (choice != kOne) return;
  oneAverage = oneAverage < 0 ? ms : 0.75 * oneAverage + 0.25 * ms;
  if (fixed >= 0) return;
  const bool wasSmall = small.load(std::memory_order_relaxed);
  // Load only makes runs slower: one run under smallMs shows a small region
  // (the first timed run, with cold caches, is often several times slower).
  const bool isSmall = wasSmall ? oneAverage <= 2 * smallMs : ms < smallMs;
  if (isSmall != wasSmall) {
    if (isSmall) oneAverage = ms;  // not the slower runs before it
    small.store(isSmall, std::memory_order_relaxed);
    if (debug) {
      std::fprintf(stderr, "threads: region %s (runs on one thread average %.4f ms)\n",
                   isSmall ? "small, runs on one thread" : "no longer small", oneAverage);
    }
  }
}

void CpuRegion::run(const std::vector<sdk::InputTensor>& inputs, std::vector<sdk::OutputTensor>& outputs,
                    const sdk::ProfileSink* sink) {
  struct InFlight {
    const int others = runsInFlight.fetch_add(1, std::memory_order_acq_rel);
    ~InFlight() { runsInFlight.fetch_sub(1, std::memory_order_acq_rel); }
  } inFlight;
  // OpenMP teams only for a run alone in the process (Note [Threads on shared cores]).
  const int choice = threadChooser_.choose(threads_, inFlight.others == 0);
  const bool team = choice == ThreadChooser::kTeam;
  // Threads of the primitives, and of the pool's generic work (none in a run on teams).
  const int nthreads = choice == ThreadChooser::kOne ? 1 : threads_;
  const int poolThreads = team ? 1 : nthreads;
  const auto started = std::chrono::steady_clock::now();
  struct Cap {
    Cap(int n, bool team) {
      setRunThreadCap(n);
      setRunTeam(team);
    }
    ~Cap() {
      setRunThreadCap(std::numeric_limits<int>::max());
      setRunTeam(false);
    }
  } cap(nthreads, team);
  setOmpThreads(1);  // teams are set per primitive (DnnlStep::teamFor)
  const std::vector<int64_t> key = signature(inputs);
  std::shared_ptr<Plan> plan;
  {
    std::shared_lock<std::shared_mutex> lock(plansMutex_);
    auto it = plans_.find(key);
    if (it != plans_.end()) plan = it->second;
  }
  AlignedBlock arena;
  if (plan) arena = plan->take();
  RegionRun run(*this, plan.get(), arena.data(), poolThreads);
  {
    std::lock_guard<std::mutex> lock(scratchMutex_);
    if (!scratchPool_.empty()) {
      run.setScratchBlock(std::move(scratchPool_.back()));
      scratchPool_.pop_back();
    } else if (scratchHint_ > 0) {
      run.setScratchBlock(AlignedBlock(scratchHint_));
    }
  }
  struct GiveBackScratch {
    const CpuRegion& region;
    RegionRun& run;
    ~GiveBackScratch() {
      std::lock_guard<std::mutex> lock(region.scratchMutex_);
      region.scratchHint_ = std::max(region.scratchHint_, run.scratchWanted());
      AlignedBlock b = run.takeScratchBlock();
      if (b.size() >= region.scratchHint_ && region.scratchPool_.size() < 64) region.scratchPool_.push_back(std::move(b));
    }
  } giveBackScratch{*this, run};
  // Memory slots of block values (Note [Control flow in a region]): one set
  // per concurrent run, reused by later calls.
  struct Slots {
    const CpuRegion& region;
    std::vector<AlignedBlock> blocks;
    ~Slots() {
      if (blocks.empty()) return;
      std::lock_guard<std::mutex> lock(region.slotsMutex_);
      if (region.slotsPool_.size() < 64) region.slotsPool_.push_back(std::move(blocks));
    }
  } slots{*this, {}};
  if (hasBlocks_) {
    {
      std::lock_guard<std::mutex> lock(slotsMutex_);
      if (!slotsPool_.empty()) {
        slots.blocks = std::move(slotsPool_.back());
        slotsPool_.pop_back();
      }
    }
    slots.blocks.resize(numSlots_);
    run.setSlots(&slots.blocks);
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    RunValue& v = run.values[static_cast<size_t>(params_[i])];
    v.data = const_cast<void*>(inputs[i].hostData());
    v.dims = Dims::of(inputs[i].dims());
    v.dtype = inputs[i].dtype();
    v.set = true;
  }
  for (const ConstantValue& c : constants_) {
    RunValue& v = run.values[static_cast<size_t>(c.value)];
    v.data = const_cast<void*>(c.data);
    v.dims = c.dims;
    v.dtype = c.dtype;
    v.set = true;
  }
  const bool profile = profile_ != nullptr || sink != nullptr;
  // A run on teams whose members lose their cores waits at every step's join
  // (up to a scheduler tick each): past teamLimit it finishes on the calling
  // thread alone (whose primitives the choice kOne made), timed as a run on
  // teams, so that it loses (Note [Threads on shared cores]).
  const double teamLimit = team ? threadChooser_.teamLimit() : 0;
  bool onTeam = team;
  for (size_t s = 0; s < steps_.size(); ++s) {
    if (onTeam && std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count() > teamLimit) {
      onTeam = false;
      setRunTeam(false);
      setRunThreadCap(1);
    }
    const Step& step = *steps_[s];
    const auto t0 = profile ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    try {
      step.run(run);
      if (profile) {
        const auto t1 = std::chrono::steady_clock::now();
        if (profile_) {
          profile_[s].fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count(),
                                std::memory_order_relaxed);
        }
        if (sink != nullptr) {
          const std::string shapes = run.shapesOf(step);
          sink->record(step.ops.c_str(), shapes.c_str(),
                       std::chrono::duration<double, std::micro>(t0 - started).count(),
                       std::chrono::duration<double, std::micro>(t1 - t0).count());
        }
      }
    } catch (const sdk::Error& e) {
      sdk::fail(e.code(), step.describe, ": ", e.what());
    } catch (const dnnl::error& e) {
      sdk::fail(SY_ERROR_INTERNAL, step.describe, ": oneDNN: ", e.what());
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {
      sdk::fail(SY_ERROR_INTERNAL, step.describe, ": ", e.what());
    }
    run.freeAfter(freeAt_[s]);
  }
  for (size_t i = 0; i < returns_.size(); ++i) {
    const size_t v = static_cast<size_t>(returns_[i]);
    const RunValue& rv = run.values[v];
    SY_CPU_REQUIRE(rv.set, SY_ERROR_INTERNAL, "region output ", i, " was never computed");
    if (run.outBuffers[v] != nullptr && rv.md == nullptr &&
        run.outBuffers[v]->hostPointer() == rv.data) {
      outputs[i].set(std::move(run.outBuffers[v]), rv.dtype, rv.dims.ref());
      continue;
    }
    // An input, a constant, a view or an output returned twice: copy.
    const size_t n = bytesOf(rv.dtype, rv.dims);
    auto copy = std::make_unique<CpuBuffer>(n);
    if (n > 0) std::memcpy(copy->hostPointer(), rv.data, n);
    outputs[i].set(std::move(copy), rv.dtype, rv.dims.ref());
  }
  if (threads_ > 1) {
    threadChooser_.report(choice, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
  }
  if (plan) {
    plan->give(std::move(arena));
  } else {
    std::unique_lock<std::shared_mutex> lock(plansMutex_);
    if (plans_.size() < kMaxPlans && plans_.find(key) == plans_.end()) plans_[key] = makePlan(run);
  }
}

void CpuRegion::warmUp() {
  std::vector<std::unique_ptr<sdk::HostBuffer>> buffers;
  std::vector<sdk::InputTensor> inputs;
  for (int32_t p : params_) {
    const ValueInfo& vi = info_[static_cast<size_t>(p)];
    if (!vi.isStatic()) return;
    buffers.push_back(sdk::HostBuffer::allocate(sdk::tensorBytes(vi.dtype, vi.dims)));
    inputs.emplace_back(*buffers.back(), 0, vi.dtype, vi.dims);
  }
  std::vector<sdk::OutputTensor> outputs(returns_.size());
  try {
    execute(inputs, outputs);
  } catch (...) {
    // Zeros may not be valid data (e.g. a shape input): the first real run plans then.
  }
}

}  // namespace

std::unique_ptr<sdk::CompiledRegion> compileRegion(const CpuBackend& backend, const sdk::GraphView& region) {
  setOmpThreads(1);
  auto r = std::make_unique<CpuRegion>(backend, region);
  r->warmUp();
  return r;
}

// ============================================================================
// Capability

std::string cpuWhyNot(const sdk::GraphView& graph, const sdk::NodeView& node, double* cost) {
  *cost = 0.0;
  const std::string_view op = node.op();
  if (node.numBlocks() > 0 || op == "if" || op == "loop") return controlFlowWhyNot(graph, node, cost);
  double elements = 0;
  for (size_t o = 0; o < node.numOutputs(); ++o) {
    double e = 1;
    for (int64_t d : node.output(o).dims()) e *= d >= 0 ? static_cast<double>(d) : 1.0;
    elements += e;
  }
  // The reference interpreter's estimate (runtime/src/engine.cpp), which ours must beat.
  const bool heavy = op == "matmul" || op == "gemm" || op == "conv" || op == "conv_transpose";
  const double reference = elements * (heavy ? 64 : 1) * 2e-8;
  if (op == "constant" || op == "weight") {
    if (node.numOutputs() != 1) return "unexpected number of outputs";
    const sdk::ValueView out = node.output(0);
    if (!out.isStatic()) return "constant of non-static type";
    if (op == "weight" && !out.isConstant()) return "the weight's data was not given at compile time";
    return "";
  }
  if (dnnlWhyNot(node).empty()) {
    *cost = std::min(1e-7 + dnnlCost(node), 0.25 * reference + 1e-8);
    return "";
  }
  if (chainWhyNot(node).empty()) {
    *cost = std::min(5e-8 + elements * 5e-10, 0.25 * reference + 1e-8);
    return "";
  }
  if (isViewOp(op) && viewWhyNot(node).empty()) return "";
  std::string why;
  std::unique_ptr<Kernel> kernel;
  try {
    kernel = makeKernel(node, why);
  } catch (const sdk::Error& e) {
    return e.what();
  }
  if (kernel == nullptr) return why.empty() ? sdk::format("op '", op, "' is not implemented by cpu") : why;
  *cost = std::min(1e-7 + elements * 2e-9, 0.5 * reference + 1e-8);
  if (heavy) *cost = std::min(1e-7 + elements * 64 * 4e-9, 0.5 * reference + 1e-8);
  (void)graph;
  return "";
}

}  // namespace sy_cpu
