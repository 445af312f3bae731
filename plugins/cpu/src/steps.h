// The steps a compiled region runs, and the per-execute state they share.
// region.cpp builds the step list (fusion, layouts, memory planning);
// elementwise.cpp and dnnl_steps.cpp define the fast-path steps.
#pragma once

#include <dnnl.hpp>

#include <cmath>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "cpu_backend.h"

namespace sy_cpu {

/// A value while a region runs: its memory, logical (row-major) dims and,
/// when a oneDNN step left it in a blocked layout, that layout.
struct RunValue {
  void* data = nullptr;
  Dims dims;
  int32_t dtype = SY_DTYPE_F32;
  /// Non-null: the data is in this oneDNN layout, not row-major (owned by
  /// the producing step's cache entry, which outlives the run: cached, or
  /// kept by Run::keepAlive).
  const dnnl::memory::desc* md = nullptr;
  bool set = false;
  /// An upper bound of |x| over the data known without reading it: every
  /// element is finite (no NaN, no inf) and at most this in magnitude; inf
  /// when unknown. Set by a step that can tell (a conv, pooling, batch_norm:
  /// Note [Known bounds] in dnnl_steps.cpp); defining the value again (out(),
  /// outBlocked(), a block parameter) resets it.
  double absBound = HUGE_VAL;
};

class Step;

/// Per-execute state: values, memory and the thread context. Made by the
/// region for each call; never shared between calls.
class Run {
 public:
  virtual ~Run() = default;
  /// Input i of `step`, in row-major layout (a blocked value is reordered
  /// into scratch memory first, once per run).
  virtual const RunValue& in(const Step& step, size_t i) = 0;
  /// Input i as it is (possibly blocked; check .md).
  virtual const RunValue& raw(const Step& step, size_t i) = 0;
  /// True when input i is present (optional inputs may be absent).
  virtual bool has(const Step& step, size_t i) const = 0;
  /// Memory for output `o` of `step` with these dims (row-major, the step's
  /// output dtype), defined as the value.
  virtual void* out(const Step& step, size_t o, const Dims& dims) = 0;
  /// Memory for output `o` in the oneDNN layout `md` (bytes = md.get_size());
  /// `md` must live as long as the region (a step cache entry).
  virtual void* outBlocked(const Step& step, size_t o, const Dims& dims, const dnnl::memory::desc* md) = 0;
  /// Output `o` is input `input`'s (row-major) memory with new dims (views).
  virtual void alias(const Step& step, size_t o, size_t input, const Dims& dims) = 0;
  /// Memory for output `o` (layout `md`, null: row-major) that is input
  /// `input`'s own memory, still holding the input, when the region let the
  /// two share it (Step::inPlaceInput; the input dies at this step) and the
  /// input has these dims and this layout; else as out() / outBlocked().
  /// Note [In-place residual sum] in region.cpp.
  virtual void* outReusing(const Step& step, size_t o, const Dims& dims, const dnnl::memory::desc* md,
                           size_t input) = 0;
  /// Keeps `p` alive until the run ends (a primitive cache entry that was not
  /// cached, whose layout descriptor a blocked output points to).
  virtual void keepAlive(std::shared_ptr<const void> p) = 0;
  /// Scratch memory living until the end of the run.
  virtual void* scratch(size_t bytes) = 0;
  virtual const Exec& exec() const = 0;
  virtual int threads() const = 0;
  virtual dnnl::stream& stream() = 0;

  // ---- for control flow steps (control_flow.cpp)
  /// Value `id` of the region (block parameters are set through this).
  virtual RunValue& value(int32_t id) = 0;
  /// Per-run memory slot `slot` (BlockCompiler::newSlot) of at least `bytes`,
  /// reused across iterations and calls; growing keeps the first `keep` bytes.
  virtual void* slot(size_t slot, size_t bytes, size_t keep) = 0;
  /// Scratch taken after a mark is given back by releaseScratch (a loop
  /// iteration's scratch dies with the iteration).
  struct ScratchMark {
    size_t used = 0, wanted = 0, extra = 0;
  };
  virtual ScratchMark markScratch() const = 0;
  virtual void releaseScratch(const ScratchMark& mark) = 0;
};

/// One step of a compiled region: a fused group of nodes or one node.
class Step {
 public:
  virtual ~Step() = default;
  /// Runs the step (throws sdk::Error; the region adds `describe`).
  virtual void run(Run& run) const = 0;
  /// True when input i may be given in a oneDNN blocked layout (raw()).
  virtual bool acceptsBlocked(size_t /*i*/) const { return false; }
  /// True when the step may leave output 0 in a blocked layout.
  virtual bool mayProduceBlocked() const { return false; }
  /// Input whose memory output 0 may take over when the region finds that
  /// nothing reads the input after this step (-1: none); the step then asks
  /// for its output with Run::outReusing. Note [In-place residual sum].
  virtual int inPlaceInput() const { return -1; }
  /// The region allows a blocked output 0 (every consumer accepts it).
  void setBlockedOk(bool ok) { blockedOk_ = ok; }
  bool blockedOk() const { return blockedOk_; }

  std::string describe;          ///< "'conv' node 'x' (+ relu, add)" for errors
  std::string ops;               ///< "conv + relu + add": the step in profiles
  std::vector<int32_t> inputs;   ///< region value ids (-1: absent optional input)
  std::vector<int32_t> outputs;  ///< region value ids
  std::vector<int32_t> outDtypes;

 private:
  bool blockedOk_ = false;
};

// ============================================================================
// Compile-time view of the region used by the step builders

/// What the builders know about one value of the region.
struct ValueInfo {
  int32_t dtype = SY_DTYPE_F32;
  int32_t rank = -1;
  std::vector<int64_t> dims;                    ///< -1 for dynamic
  std::vector<std::string> symbols;             ///< "" when none
  const void* constData = nullptr;              ///< compile-time constant bytes
  size_t constBytes = 0;
  int32_t producer = -1;                        ///< top-level node position, -1 for inputs/constants
  std::vector<int32_t> consumers;               ///< node positions (one entry per use)
  bool isOutput = false;
  bool isStatic() const {
    if (rank < 0) return false;
    for (int64_t d : dims) {
      if (d < 0) return false;
    }
    return true;
  }
};

/// Same shape at compile time (numbers or the same symbols).
bool sameShape(const ValueInfo& a, const ValueInfo& b);

/// Eltwise activations that can become oneDNN post-ops, and their params.
struct Activation {
  dnnl::algorithm alg = dnnl::algorithm::undef;
  float alpha = 0.f, beta = 0.f;
};
std::optional<Activation> activationOf(const sdk::NodeView& node);

// ---- elementwise.cpp
/// Ops the fused elementwise chains take (f32).
bool isChainUnary(std::string_view op);
bool isChainBinary(std::string_view op);
/// "" when `node` can be part of a fused f32 chain.
std::string chainWhyNot(const sdk::NodeView& node);
/// A step running `nodes` (a chain: each node's output feeds the next; only
/// the last output leaves) as one pass.
std::unique_ptr<Step> makeChainStep(const sdk::GraphView& region, const std::vector<sdk::NodeView>& nodes,
                                    const std::vector<int32_t>& valueIds);
/// 2 or 3 when `node` is pow(x, c) with a constant f32 scalar c of that
/// value (the chains multiply instead: Note [pow by a small integer]), else 0.
int smallIntegerExponent(const sdk::NodeView& node);
/// A one-instruction chain computing y = gelu(x) (tanh approximation or
/// exact): a GELU pattern matched where no matrix product precedes it.
std::unique_ptr<Step> makeGeluStep(int32_t x, int32_t y, bool tanh);

// ---- dnnl_steps.cpp
/// "" when a oneDNN fast path takes `node` (conv, matmul, gemm, pooling,
/// batch_norm in f32 with supported attributes).
std::string dnnlWhyNot(const sdk::NodeView& node);
/// Flops-based cost estimate (seconds) for a node dnnlWhyNot accepts.
double dnnlCost(const sdk::NodeView& node);

/// What the region compiler hands the oneDNN step builder.
struct DnnlFusion {
  /// Batch-norm folded into conv: the bn node.
  std::optional<sdk::NodeView> foldedBn;
  /// add(x, bias) folded into a matmul bias: the constant bias value.
  std::optional<sdk::NodeView> biasAdd;
  int32_t biasAddOperand = -1;  ///< which input of biasAdd is the bias
  /// Post-ops in order: an activation node, or an add whose other operand
  /// (index `sumOperand`) is summed in.
  struct PostOp {
    sdk::NodeView node;
    int sumOperand = -1;                ///< -1: activation
    std::optional<Activation> act = {};  ///< when set, this instead of activationOf(node)
    /// matmul only: the add's other operand broadcasts to the product and is
    /// added by a binary post-op (Note [Attention mask post-op]), not a sum.
    bool broadcastAdd = false;
  };
  std::vector<PostOp> postOps;
  /// matmul/gemm only: non-empty when a reshape of the product was fused
  /// (its static dims, as many elements); the post-ops after it see the
  /// reshaped value (GPT-2: gemm -> reshape [1, T, N] -> GELU).
  std::vector<int64_t> viewDims;
  /// matmul only (Note [Transposes in matmul strides] in region.cpp): operand
  /// i is read through a transpose folded into its strides: the transpose's
  /// input value and perm (-1: none); outPerm: the result is written
  /// transposed (a transpose after the product).
  int32_t permutedSource[2] = {-1, -1};
  std::vector<int64_t> inputPerm[2];
  std::vector<int64_t> outPerm;
};

/// Builds the oneDNN step of `node` with `fusion`; `ids` maps view value
/// indices to region value ids; `info` is per region value id.
std::unique_ptr<Step> makeDnnlStep(const sdk::NodeView& node, const DnnlFusion& fusion,
                                   const std::vector<int32_t>& ids, const std::vector<ValueInfo>& info,
                                   int threads);
/// Whether `node`'s oneDNN step can take `fusion` additions: conv folds bn,
/// conv/matmul/gemm take post-ops, matmul/gemm take a bias add.
bool dnnlCanFoldBn(const sdk::NodeView& conv, const sdk::NodeView& bn);
bool dnnlCanTakePostOps(const sdk::NodeView& node);
/// "" when oneDNN's RNN primitives compute `node` (lstm, gru, rnn) as ONNX
/// does (Note [oneDNN recurrent steps] in dnnl_steps.cpp).
std::string rnnWhyNot(const sdk::NodeView& node);
/// The oneDNN step of a recurrent node rnnWhyNot accepts; its inputs and
/// outputs are the node's (region value ids = view value indices).
std::unique_ptr<Step> makeRnnStep(const sdk::NodeView& node, int threads);
bool dnnlCanTakeBias(const sdk::NodeView& node, const DnnlFusion& fusion, const sdk::NodeView& add, int biasOperand);
/// "" when dnnl::matmul computes this matmul_integer exactly (Note [oneDNN
/// int8 matmul] in dnnl_steps.cpp).
std::string intMatmulWhyNot(const sdk::NodeView& node);
std::unique_ptr<Step> makeIntMatmulStep(const sdk::NodeView& node, int threads);
/// The same for conv_integer (Note [oneDNN int8 conv]).
std::string intConvWhyNot(const sdk::NodeView& node);
std::unique_ptr<Step> makeIntConvStep(const sdk::NodeView& node, int threads);

/// Attention's three steps (Note [Fused attention] in attention.cpp): the
/// scores product (scale, mask add), the softmax, the product with v; value
/// ids and the transposes read through strides (empty: none).
struct AttentionParts {
  int32_t q = -1, k = -1, v = -1, mask = -1, out = -1;
  std::vector<int64_t> permQ, permK, permV, outPerm;
  float alpha = 1.f, beta = 0.f;  ///< scores = alpha (q k^T) + beta (+ mask)
  int64_t axis = -1;              ///< the softmax's
  /// GPT-2's where(cond, scores, fill) before the softmax: constant values
  /// (-1: none).
  int32_t selectCond = -1, selectFill = -1;
};
/// The parts when `qk`, `softmax` and `pv` are such steps (oneDNN matmul
/// steps without other fusions, a softmax, not log_softmax), else nothing.
/// That each reads the one before (through views) is the caller's to check.
std::optional<AttentionParts> attentionPartsOf(const Step& qk, const Step& softmax, const Step& pv);

// ---- attention.cpp
/// The fused attention step for `parts` whose operands have static shapes in
/// `info` that it takes (rank-4 q, k^T, v of one batch and head count, a
/// mask broadcasting over batch/heads/rows/columns, the softmax over the
/// last axis), on a CPU with AVX-512F; else null.
std::unique_ptr<Step> makeAttentionStep(const AttentionParts& parts, const std::vector<ValueInfo>& info);

// ---- control_flow.cpp (Note [Control flow in a region])
/// What a control-flow step needs from the region compiler: the steps of a
/// nested block, built by the same machinery as the region's own, and
/// memory slots of its own (Run::slot).
class BlockCompiler {
 public:
  virtual ~BlockCompiler() = default;
  virtual std::vector<std::unique_ptr<Step>> compileBlock(const sdk::GraphView& region,
                                                          const sdk::BlockView& block) = 0;
  virtual size_t newSlot() = 0;
  virtual const std::vector<ValueInfo>& valueInfo() const = 0;
  /// The region's inputs (value ids): what binds its symbolic dims.
  virtual const std::vector<int32_t>& regionInputs() const = 0;
};
/// "" when the cpu backend runs `node` (an `if` or `loop`) whole: every node
/// nested in it runs here; *cost is the node's own (the nested nodes are
/// answered and costed as usual).
std::string controlFlowWhyNot(const sdk::GraphView& graph, const sdk::NodeView& node, double* cost);
/// The values `node`'s blocks read that are defined outside it (captures), in
/// first-use order, each once.
std::vector<int32_t> capturedValues(const sdk::NodeView& node);
/// The values defined inside `node`'s blocks (parameters and node outputs, at
/// any depth).
std::vector<int32_t> valuesDefinedInside(const sdk::NodeView& node);
/// The step running `node` (if/loop): inputs are the node's inputs, then its
/// captures; outputs the node's outputs.
std::unique_ptr<Step> makeControlFlowStep(const sdk::GraphView& region, const sdk::NodeView& node,
                                          BlockCompiler& compiler);
/// Decides blocked layouts inside a block's step list: a value may stay
/// blocked when every use in `steps` accepts it and the block does not
/// return it (layouts never cross a block boundary).
void decideBlockedLayouts(const std::vector<std::unique_ptr<Step>>& steps, const std::vector<int32_t>& returns);

}  // namespace sy_cpu
