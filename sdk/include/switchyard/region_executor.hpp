// The region executor: the scaffold every host-memory backend writes around
// its kernels, written once (part of the static library Switchyard::kernels).
//
// A plugin's Backend::compile builds one RegionExecutor from the region; the
// executor walks the region's nodes in order and, for each, asks the
// plugin's fast-kernel hook first and falls back to the SDK's portable
// kernel (sy::kernels::makeKernel) for everything the hook leaves. At run
// time it keeps per-value storage, binds the region's inputs (without a
// copy), its constants (by pointer), computes every node's output shapes for
// the inputs' real dims (symbolic dims get numbers only now), runs the
// kernels, frees intermediates after their last use and hands the outputs to
// the host. A plugin's querySupport answers with RegionExecutor::supports,
// which says yes exactly when compile will find a kernel.
//
//   class MyBackend : public sy::sdk::Backend {
//     void querySupport(const sdk::GraphView& g, std::vector<sdk::NodeSupport>& s) override {
//       for (const sdk::NodeView node : g.nodes()) s[node.index()] = kernels::RegionExecutor::supports(node, fast);
//     }
//     std::unique_ptr<sdk::CompiledRegion> compile(const sdk::GraphView& region) override {
//       return std::make_unique<kernels::ExecutorRegion>(*this, region, fast);
//     }
//   };
//
// What the executor handles for the plugin:
//   - params: the region's inputs, used in place (never written);
//   - constants: values with constant_data (weights, folded literals) that no
//     node defines, used in place by pointer; and, for hosts that still send
//     them, `constant` and `weight` nodes (their data, or the `value` tensor
//     attribute copied at compile);
//   - absent optional inputs: a node input with a negative value index
//     (NodeView::hasInput(i) is false; ONNX's empty input name) reaches a
//     kernel as a Tensor with data == nullptr and dtype == -1, in its
//     position, so later inputs keep their index;
//   - outputs: a region output is written straight into the buffer handed to
//     the host; one that is also an input, a constant or returned twice is
//     copied.
// What it does not do: control flow (`if`, `loop` nodes are declined with a
// reason; the host then runs them and offers their blocks' nodes instead),
// device memory (every tensor is host memory: a device backend keeps its own
// executor), fusion across nodes and memory planning beyond freeing dead
// values (the cpu plugin's region compiler does those).
//
// Thread safety: a RegionExecutor is immutable after its constructor;
// execute() keeps all its state on the call, so one executor runs from many
// threads at once (ExecutorRegion says concurrentExecute), provided the
// hook's kernels are immutable too (Kernel::run is const).
#pragma once

#include <switchyard/kernels.hpp>
#include <switchyard/plugin.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace sy::kernels {

/// A plugin's fast kernel for `node`, or nullptr to leave the node to the
/// portable kernels (then `whyNot` may say why, for logs; it is not an
/// error). Called at compile and by supports(); may throw sdk::Error for a
/// malformed node. The returned kernel follows the Kernel contract: shapes
/// per run from outputShapes, outputs already allocated with those dims and
/// the node's output dtypes, run() const and thread-safe.
using KernelHook = std::function<std::unique_ptr<Kernel>(const sdk::NodeView& node, std::string& whyNot)>;

/// Runs one region on host memory; see the file comment.
class RegionExecutor {
 public:
  /// Compiles `region`: a kernel for every node (the hook's, else the
  /// portable one), the constants' data, the value bookkeeping. Throws
  /// sdk::Error(SY_ERROR_UNIMPLEMENTED) naming the node when neither has a
  /// kernel for it, and SY_ERROR_INVALID_ARGUMENT for a malformed region (a
  /// value used before it is computed). `exec` (default: SerialExec) must
  /// outlive the executor; it is handed to every kernel's run().
  explicit RegionExecutor(const sdk::GraphView& region, const KernelHook& fast = {}, const Exec* exec = nullptr);
  ~RegionExecutor();
  RegionExecutor(const RegionExecutor&) = delete;
  RegionExecutor& operator=(const RegionExecutor&) = delete;

  /// Runs the region: `inputs` in the region's input order (host memory,
  /// already checked by the SDK helper), every `outputs` entry filled with a
  /// buffer from backend.allocate (which must be host visible). An error from
  /// a kernel is rethrown with the node's description in front.
  void execute(sdk::Backend& backend, const std::vector<sdk::InputTensor>& inputs,
               std::vector<sdk::OutputTensor>& outputs) const;

  /// The region's inputs and outputs (execute's sizes).
  size_t numInputs() const;
  size_t numOutputs() const;
  /// How many of the region's nodes run the hook's kernels / the portable ones.
  size_t numFastKernels() const;
  size_t numPortableKernels() const;

  /// Why the executor cannot run `node` with this hook, or "" when it can:
  /// control flow, then the hook, then the portable kernels' reason.
  static std::string whyNot(const sdk::NodeView& node, const KernelHook& fast = {});
  /// The capability answer for `node`: supported exactly when compile finds a
  /// kernel. The estimate is rough (per output element 1 ns on a fast
  /// kernel, 2 ns on a portable one, x64 for matmul/gemm/conv; 1 us when the
  /// shape is dynamic): pass `scale` to weigh it for your device.
  static sdk::NodeSupport supports(const sdk::NodeView& node, const KernelHook& fast = {}, double scale = 1.0);

 private:
  struct Step;
  struct Compiled;
  std::unique_ptr<const Compiled> compiled_;
};

/// A CompiledRegion that is just a RegionExecutor: what Backend::compile
/// returns when the executor is all the region needs.
class ExecutorRegion : public sdk::CompiledRegion {
 public:
  /// `backend` outlives the region (the ABI destroys regions first).
  ExecutorRegion(sdk::Backend& backend, const sdk::GraphView& region, const KernelHook& fast = {},
                 const Exec* exec = nullptr)
      : backend_(backend), executor_(region, fast, exec) {}
  void execute(const std::vector<sdk::InputTensor>& inputs, std::vector<sdk::OutputTensor>& outputs) override {
    executor_.execute(backend_, inputs, outputs);
  }
  bool concurrentExecute() const override { return true; }
  const RegionExecutor& executor() const { return executor_; }

 private:
  sdk::Backend& backend_;
  RegionExecutor executor_;
};

}  // namespace sy::kernels
