// The region compiler and executor: groups the region (fusion.cpp), builds
// each group's kernels or library calls, plans memory per input shape, and
// runs the steps on a leased stream, eagerly or as a captured CUDA graph.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cuda_backend.h"
#include "dnn.h"
#include "fusion.h"
#include "kernels.h"
#include "launch.h"
#include "memory_plan.h"
#include "ops.h"
#include "steps.h"

namespace sy_cuda {
namespace {

/// A memory plan for one set of input shapes.
struct ShapePlan {
  std::vector<Dims> dims;           // every value's dims
  std::vector<int64_t> offset;      // arena offset per value, -1 when not in the arena
  size_t arenaBytes = 0;
};

std::atomic<uint64_t> gNextRegionId{1};

class CudaRegion final : public sdk::CompiledRegion {
 public:
  CudaRegion(CudaBackend& backend, const sdk::GraphView& region)
      : backend_(backend), id_(gNextRegionId++), numValues_(region.numValues()) {
    const DeviceInfo& device = backend.device();
    dtypes_.resize(numValues_);
    declared_.resize(numValues_);
    constant_.resize(numValues_);
    alias_.assign(numValues_, -1);
    staticShapes_ = true;
    for (size_t i = 0; i < numValues_; ++i) {
      const sdk::ValueView v = region.value(static_cast<int64_t>(i));
      dtypes_[i] = v.dtype();
      declared_[i] = v.hasRank() ? v.dims().vec() : Dims{};
      hasRank_.push_back(v.hasRank());
    }
    for (size_t i = 0; i < region.numInputs(); ++i) {
      params_.push_back(region.input(i).index());
      staticShapes_ = staticShapes_ && region.input(i).isStatic();
    }
    for (size_t i = 0; i < region.numOutputs(); ++i) returns_.push_back(region.output(i).index());
    // ABI 1.1: weights and literals are values no node makes; each is uploaded
    // once, here (an ABI 1.0 host sends constant/weight nodes, taken below).
    for (const sdk::ValueView& c : region.constants()) {
      sdk::require(c.isStatic() && c.constantBytes() == sdk::tensorBytes(c.dtype(), c.dims().vec()),
                   SY_ERROR_INVALID_ARGUMENT, "constant '", c.name(), "' ", c.typeString(), " has ",
                   c.constantBytes(), " bytes");
      const size_t v = static_cast<size_t>(c.index());
      constant_[v] = upload(c.constantData(), c.constantBytes());
      constDims_.emplace_back(v, c.dims().vec());
    }

    const sdk::BlockView body = region.body();
    for (const Group& g : groupRegion(region)) {
      const sdk::NodeView node = body.node(g.nodes[0]);
      for (size_t pos : g.nodes) {
        const sdk::NodeView n = body.node(pos);
        const std::string reason = whyNot(region, n);
        if (!reason.empty()) sdk::fail(SY_ERROR_UNIMPLEMENTED, n.describe(), ": ", reason);
      }
      const std::string_view op = node.op();
      if (op == "constant" || op == "weight") {
        addConstant(region, node);
        continue;
      }
      Step s;
      s.op = std::string(op);
      s.output = g.output;
      s.outDtype = dtypes_[static_cast<size_t>(g.output)];
      for (size_t pos : g.nodes) s.describe += (s.describe.empty() ? "" : " + ") + body.node(pos).describe();
      for (size_t j = 0; j < node.numInputs(); ++j) {
        if (node.hasInput(j)) s.inputs.push_back(node.input(j).index());
      }
      if (g.kind == GroupKind::Elementwise) {
        s.kind = Kind::Fused;
        s.inputs = g.inputs;
        const std::string source = elementwiseSource(region, g);
        if (std::getenv("SY_CUDA_DUMP_KERNELS") != nullptr)
          std::fprintf(stderr, "[cuda] fused kernel for %s:\n%s", s.describe.c_str(), source.c_str());
        s.kernel = &fusedKernel(device, source);
      } else if (g.kind == GroupKind::Gemm || op == "matmul" || op == "gemm") {
        s.kind = Kind::Gemm;
        s.gemm = op == "gemm";
        s.alpha = static_cast<float>(node.attrFloat("alpha", 1.0));
        s.beta = static_cast<float>(node.attrFloat("beta", 1.0));
        s.transA = node.attrInt("transA", 0) != 0;
        s.transB = node.attrInt("transB", 0) != 0;
        s.inputs.resize(2);
        if (s.gemm && node.numInputs() == 3 && node.hasInput(2)) {
          s.cValue = node.input(2).index();
          s.inputs.push_back(s.cValue);  // read by this step: the memory plan keeps it alive
          const sdk::ValueView c = node.input(2);
          s.cAsBias = s.beta == 1.0f && c.dtype() == SY_DTYPE_F32 && (c.rank() == 1 || (c.rank() == 2 && c.dim(0) == 1));
        }
        if (g.biasAdd >= 0) {
          const sdk::NodeView add = body.node(static_cast<size_t>(g.biasAdd));
          const sdk::ValueView b = add.input(add.input(0).index() == node.output(0).index() ? 1 : 0);
          s.bias = upload(*constantFloats(region, b));
        }
        if (g.activation >= 0) s.activation = body.node(static_cast<size_t>(g.activation)).op() == "relu" ? 1 : 2;
      } else if (op == "conv") {
        s.kind = Kind::Conv;
        s.window = windowOf(node);
        s.group = node.attrInt("group", 1);
        s.inputs.resize(2);
        const bool hasB = node.numInputs() == 3 && node.hasInput(2);
        if (g.batchNorm >= 0) {
          // Fold: w' = w * g / sqrt(v + eps) per output channel, b' = (b - m) * g / sqrt(v + eps) + beta.
          const sdk::NodeView bn = body.node(static_cast<size_t>(g.batchNorm));
          std::vector<float> w = *constantFloats(region, node.input(1));
          const std::vector<float> gamma = *constantFloats(region, bn.input(1)), beta = *constantFloats(region, bn.input(2)),
                                   mean = *constantFloats(region, bn.input(3)), var = *constantFloats(region, bn.input(4));
          const double eps = bn.attrFloat("epsilon", 1e-5);
          const size_t channels = gamma.size(), per = channels > 0 ? w.size() / channels : 0;
          std::vector<float> b = hasB ? *constantFloats(region, node.input(2)) : std::vector<float>(channels, 0.0f);
          for (size_t c = 0; c < channels; ++c) {
            const double scale = gamma[c] / std::sqrt(static_cast<double>(var[c]) + eps);
            for (size_t j = 0; j < per; ++j) w[c * per + j] = static_cast<float>(w[c * per + j] * scale);
            b[c] = static_cast<float>((b[c] - mean[c]) * scale + beta[c]);
          }
          s.weights = upload(w);
          s.bias = upload(b);
        } else if (hasB) {
          s.inputs.push_back(node.input(2).index());
        }
        s.relu = g.activation >= 0;
      } else if (op == "max_pool" || op == "avg_pool") {
        s.kind = Kind::Pool;
        s.window = windowOf(node);
        s.poolMode = op == "max_pool" ? 2 : node.attrInt("count_include_pad", 0) != 0 ? 1 : 0;
      } else if (op == "global_avg_pool" || op == "global_max_pool") {
        s.kind = Kind::GlobalPool;
        s.code = op == "global_avg_pool" ? 1 : 2;
      } else if (op == "softmax" || op == "log_softmax") {
        s.kind = Kind::Softmax;
        s.code = op == "log_softmax" ? 1 : 0;
        s.axis = node.attrInt("axis", -1);
      } else if (op == "layer_norm") {
        s.kind = Kind::LayerNorm;
        s.axis = node.attrInt("axis", -1);
        s.epsilon = static_cast<float>(node.attrFloat("epsilon", 1e-5));
      } else if (op == "batch_norm") {
        s.kind = Kind::BatchNorm;
        s.epsilon = static_cast<float>(node.attrFloat("epsilon", 1e-5));
      } else if (reduceCode(op) >= 0) {
        s.kind = Kind::Reduce;
        s.code = reduceCode(op);
        s.ints = node.attrInts("axes");
        s.keepdims = node.attrInt("keepdims", 1) != 0;
        s.noopWithEmptyAxes = node.attrInt("noop_with_empty_axes", 0) != 0;
      } else if (op == "transpose") {
        s.kind = Kind::Transpose;
        s.ints = node.attrInts("perm");
      } else if (op == "expand") {
        s.kind = Kind::Expand;
        s.ints = *constantInts(region, node.input(1));
        s.inputs.resize(1);
      } else if (op == "slice") {
        s.kind = Kind::Slice;
        s.starts = *constantInts(region, node.input(1));
        s.ends = *constantInts(region, node.input(2));
        s.hasAxes = node.numInputs() > 3 && node.hasInput(3);
        if (s.hasAxes) s.ints = *constantInts(region, node.input(3));
        if (node.numInputs() > 4 && node.hasInput(4)) s.steps = *constantInts(region, node.input(4));
        s.inputs = {node.input(0).index()};
      } else if (op == "concat") {
        s.kind = Kind::Concat;
        s.axis = node.attrInt("axis", 0);
      } else if (op == "gather") {
        s.kind = Kind::Gather;
        s.axis = node.attrInt("axis", 0);
        hasGather_ = true;
      } else if (op == "pad") {
        s.kind = Kind::Pad;
        s.ints = *constantInts(region, node.input(1));
        const std::string mode = node.attrString("mode", "constant");
        s.code = mode == "constant" ? 0 : mode == "reflect" ? 1 : 2;
        s.inputs = {node.input(0).index()};
        if (node.numInputs() > 2 && node.hasInput(2)) s.inputs.push_back(node.input(2).index());
      } else if (isViewOp(op)) {
        s.kind = Kind::View;
        s.inputs.resize(1);
        if (op == "reshape") {
          s.ints = *constantInts(region, node.input(1));
          s.allowzero = node.attrInt("allowzero", 0) != 0;
        } else if (op == "flatten") {
          s.axis = node.attrInt("axis", 1);
        } else if (op == "squeeze" || op == "unsqueeze") {
          s.ints = node.attrInts("axes");
        }
        alias_[static_cast<size_t>(s.output)] = s.inputs[0];
      } else {
        sdk::fail(SY_ERROR_UNIMPLEMENTED, node.describe(), ": no cuda step for '", op, "'");
      }
      steps_.push_back(std::move(s));
    }
    for (size_t i = 0; i < numValues_; ++i) {
      if (!hasRank_[i] || std::any_of(declared_[i].begin(), declared_[i].end(), [](int64_t d) { return d < 0; }))
        staticShapes_ = false;
    }
  }

  ~CudaRegion() override { backend_.dropGraphs(id_); }

  // Note [Execute]
  // Each call leases an execution context (its own stream) from the backend,
  // so concurrent calls on one region run on different streams and share
  // only immutable state and the mutex-guarded plan cache: concurrent
  // execute is safe. The steps' intermediates live in the context's arena at
  // the offsets of the memory plan for these input shapes (memory_plan.h).
  // A region whose shapes are all static runs its first call eagerly (which
  // also sizes the workspaces), then captures its launches into a CUDA graph
  // on the second and replays it from then on; the inputs are first copied
  // into their arena slots so that the graph never sees a caller's pointer.
  // Outputs are copied out of the arena into buffers from the stream-ordered
  // pool. The stream is synchronised once, at the end.
  bool concurrentExecute() const override { return true; }

  void execute(const std::vector<sdk::InputTensor>& inputs, std::vector<sdk::OutputTensor>& outputs) override {
    DeviceScope scope(backend_.device().ordinal);
    CudaBackend::Lease ctx(backend_);
    std::string key;
    for (const sdk::InputTensor& t : inputs) key += sdk::formatDims(t.dims()) + ";";
    const bool graphs = staticShapes_ && backend_.options().cudaGraphs;
    const std::shared_ptr<const ShapePlan> plan = planFor(key, inputs, graphs);

    std::vector<void*> ptr(numValues_, nullptr);
    std::byte* arena = static_cast<std::byte*>(ctx->arena(std::max<size_t>(plan->arenaBytes, 1)));
    for (size_t i = 0; i < numValues_; ++i) {
      if (constant_[i] != nullptr) ptr[i] = constant_[i]->data();
      if (plan->offset[i] >= 0) ptr[i] = arena + plan->offset[i];
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto* buffer = dynamic_cast<const CudaBuffer*>(&inputs[i].buffer());
      sdk::require(buffer != nullptr, SY_ERROR_INVALID_ARGUMENT, "input ", i, " is not a cuda buffer");
      void* p = static_cast<std::byte*>(buffer->data()) + inputs[i].offset();
      const size_t v = static_cast<size_t>(params_[i]);
      if (plan->offset[v] >= 0) {
        if (inputs[i].bytes() > 0)
          checkCuda(cudaMemcpyAsync(ptr[v], p, inputs[i].bytes(), cudaMemcpyDeviceToDevice, ctx->stream),
                    "cudaMemcpyAsync (input into the arena)");
      } else {
        ptr[v] = p;
      }
    }
    for (const Step& s : steps_) {
      if (s.kind == Kind::View) ptr[static_cast<size_t>(s.output)] = ptr[static_cast<size_t>(s.inputs[0])];
    }

    try {
      if (graphs) {
        runAsGraph(*ctx, key, *plan, ptr);
      } else {
        runSteps(*ctx, *plan, ptr);
      }
      copyOut(*ctx, *plan, ptr, outputs);
      ctx->synchronize("execute");
    } catch (...) {
      cudaStreamSynchronize(ctx->stream);  // nothing of this call stays in flight
      cudaGetLastError();
      throw;
    }
    if (hasGather_) {
      int32_t bad = 0;
      checkCuda(cudaMemcpy(&bad, ctx->errorFlag, sizeof bad, cudaMemcpyDeviceToHost), "cudaMemcpy (error flag)");
      sdk::require(bad == 0, SY_ERROR_INVALID_ARGUMENT, "gather: an index is out of range");
    }
  }

 private:
  static Window windowOf(const sdk::NodeView& node) {
    Window w;
    w.kernel = node.attrInts("kernel_shape");
    w.strides = node.attrInts("strides");
    w.dilations = node.attrInts("dilations");
    const Dims pads = node.attrInts("pads");
    w.pads.assign(pads.begin(), pads.begin() + static_cast<int64_t>(pads.size() / 2));
    w.valid = node.attrString("auto_pad", "NOTSET") == "VALID";
    return w;
  }

  std::shared_ptr<CudaBuffer> upload(const void* data, size_t bytes) {
    auto b = std::make_shared<CudaBuffer>(backend_, bytes);
    if (bytes > 0) b->write(0, data, bytes);
    return b;
  }
  std::shared_ptr<CudaBuffer> upload(const std::vector<float>& v) { return upload(v.data(), v.size() * sizeof(float)); }

  void addConstant(const sdk::GraphView& region, const sdk::NodeView& node) {
    const sdk::ValueView out = node.output(0);
    const size_t v = static_cast<size_t>(out.index());
    if (node.op() == "weight") {
      constant_[v] = upload(out.constantData(), out.constantBytes());
      constDims_.emplace_back(v, out.dims().vec());
      return;
    }
    const sy_tensor_literal& t = node.findAttr("value")->asTensor();
    const Dims dims(t.dims, t.dims + std::max(t.rank, 0));
    sdk::require(t.dtype == out.dtype() && t.bytes == sdk::tensorBytes(t.dtype, dims), SY_ERROR_INVALID_ARGUMENT,
                 node.describe(), ": the literal's dtype or size does not match its type");
    constant_[v] = upload(t.data, t.bytes);
    constDims_.emplace_back(v, dims);
  }

  /// The shapes and memory plan for these inputs (cached per shape key).
  std::shared_ptr<const ShapePlan> planFor(const std::string& key, const std::vector<sdk::InputTensor>& inputs,
                                           bool inputsInArena) {
    {
      std::lock_guard<std::mutex> lock(planMutex_);
      auto it = plans_.find(key);
      if (it != plans_.end()) return it->second;
    }
    auto plan = std::make_shared<ShapePlan>();
    plan->dims.resize(numValues_);
    std::vector<bool> known(numValues_, false);
    for (const auto& [v, d] : constDims_) {
      plan->dims[v] = d;
      known[v] = true;
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
      plan->dims[static_cast<size_t>(params_[i])] = inputs[i].dims().vec();
      known[static_cast<size_t>(params_[i])] = true;
    }
    for (const Step& s : steps_) {
      try {
        for (int32_t v : s.inputs) sdk::require(known[static_cast<size_t>(v)], SY_ERROR_INTERNAL, "value ", v, " read before it is computed");
        Dims d = outputShape(s, plan->dims);
        checkDeclared(static_cast<size_t>(s.output), d);
        plan->dims[static_cast<size_t>(s.output)] = std::move(d);
        known[static_cast<size_t>(s.output)] = true;
      } catch (const sdk::Error& e) {
        sdk::fail(e.code(), s.describe, ": ", e.what());
      }
    }
    // Lifetimes: time 0 copies inputs in, step i runs at time i + 1, the
    // copy-out at time steps + 1. A view extends the life of its root.
    auto root = [&](int32_t v) {
      while (alias_[static_cast<size_t>(v)] >= 0) v = alias_[static_cast<size_t>(v)];
      return static_cast<size_t>(v);
    };
    std::vector<PlanValue> values;
    std::vector<size_t> which;
    std::vector<int64_t> slot(numValues_, -1);
    auto place = [&](size_t v, int first) {
      slot[v] = static_cast<int64_t>(values.size());
      values.push_back(PlanValue{sdk::tensorBytes(dtypes_[v], plan->dims[v]), first, first});
      which.push_back(v);
    };
    if (inputsInArena) {
      for (int32_t p : params_) place(static_cast<size_t>(p), 0);
    }
    for (size_t i = 0; i < steps_.size(); ++i) {
      const Step& s = steps_[i];
      for (int32_t in : s.inputs) {
        const size_t r = root(in);
        if (slot[r] >= 0) values[static_cast<size_t>(slot[r])].last = static_cast<int>(i + 1);
      }
      if (s.kind != Kind::View) place(static_cast<size_t>(s.output), static_cast<int>(i + 1));
    }
    for (int32_t r : returns_) {
      const size_t v = root(r);
      if (slot[v] >= 0) values[static_cast<size_t>(slot[v])].last = static_cast<int>(steps_.size() + 1);
    }
    const MemoryPlan mp = planMemory(values);
    plan->offset.assign(numValues_, -1);
    for (size_t j = 0; j < which.size(); ++j) plan->offset[which[j]] = static_cast<int64_t>(mp.offsets[j]);
    plan->arenaBytes = mp.total;
    std::lock_guard<std::mutex> lock(planMutex_);
    if (plans_.size() >= 32) plans_.clear();  // many shapes: keep the cache bounded
    return plans_.emplace(key, std::move(plan)).first->second;
  }

  void checkDeclared(size_t v, const Dims& d) const {
    if (!hasRank_[v]) return;
    const Dims& want = declared_[v];
    bool ok = want.size() == d.size();
    for (size_t i = 0; ok && i < d.size(); ++i) ok = want[i] < 0 || want[i] == d[i];
    if (!ok)
      sdk::fail(SY_ERROR_INVALID_ARGUMENT, "the result is ", sdk::formatDims(d), " but the graph declares ",
                sdk::formatDims(want));
  }

  void runAsGraph(ExecContext& ctx, const std::string& key, const ShapePlan& plan, const std::vector<void*>& ptr) {
    const std::pair<uint64_t, std::string> gkey(id_, key);
    cudaGraphExec_t exec = nullptr;
    bool seen = false;
    {
      std::lock_guard<std::mutex> lock(ctx.graphsMutex);
      auto it = ctx.graphs.find(gkey);
      if (it != ctx.graphs.end()) {
        seen = true;
        exec = it->second;
      }
    }
    if (exec != nullptr) {
      checkCuda(cudaGraphLaunch(exec, ctx.stream), "cudaGraphLaunch");
      return;
    }
    if (!seen) {  // first call with these shapes: eager, and remember it
      runSteps(ctx, plan, ptr);
      std::lock_guard<std::mutex> lock(ctx.graphsMutex);
      ctx.graphs.emplace(gkey, nullptr);
      return;
    }
    // Second call: capture. A failure to capture (a library that cannot be
    // captured, a workspace that had to grow) runs eagerly and stops trying.
    ctx.synchronize("before graph capture");
    checkCuda(cudaStreamBeginCapture(ctx.stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
    cudaGraph_t graph = nullptr;
    try {
      runSteps(ctx, plan, ptr);
    } catch (...) {
      cudaStreamEndCapture(ctx.stream, &graph);
      if (graph != nullptr) cudaGraphDestroy(graph);
      cudaGetLastError();
      graphFailures_++;
      runSteps(ctx, plan, ptr);
      return;
    }
    checkCuda(cudaStreamEndCapture(ctx.stream, &graph), "cudaStreamEndCapture");
    const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    if (e != cudaSuccess) {
      cudaGetLastError();
      graphFailures_++;
      runSteps(ctx, plan, ptr);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(ctx.graphsMutex);
      ctx.graphs[gkey] = exec;
    }
    checkCuda(cudaGraphLaunch(exec, ctx.stream), "cudaGraphLaunch");
  }

  void runSteps(ExecContext& ctx, const ShapePlan& plan, const std::vector<void*>& ptr) {
    if (hasGather_) checkCuda(cudaMemsetAsync(ctx.errorFlag, 0, sizeof(int32_t), ctx.stream), "cudaMemsetAsync");
    for (const Step& s : steps_) {
      try {
        runStep(ctx, s, plan.dims, ptr);
      } catch (const sdk::Error& e) {
        sdk::fail(e.code(), s.describe, ": ", e.what());
      }
    }
  }

  void copyOut(ExecContext& ctx, const ShapePlan& plan, const std::vector<void*>& ptr,
               std::vector<sdk::OutputTensor>& outputs) {
    for (size_t i = 0; i < returns_.size(); ++i) {
      const size_t v = static_cast<size_t>(returns_[i]);
      const Dims& d = plan.dims[v];
      const size_t bytes = sdk::tensorBytes(dtypes_[v], d);
      auto out = std::make_unique<CudaBuffer>(backend_, bytes, ctx.stream);
      if (bytes > 0)
        checkCuda(cudaMemcpyAsync(out->data(), ptr[v], bytes, cudaMemcpyDeviceToDevice, ctx.stream),
                  "cudaMemcpyAsync (output)");
      outputs[i].set(std::move(out), dtypes_[v], d);
    }
  }

  void runStep(ExecContext& ctx, const Step& s, const std::vector<Dims>& dims, const std::vector<void*>& ptr) {
    const int sms = backend_.device().smCount;
    auto in = [&](size_t j) { return ptr[static_cast<size_t>(s.inputs.at(j))]; };
    auto inDims = [&](size_t j) -> const Dims& { return dims[static_cast<size_t>(s.inputs.at(j))]; };
    void* out = ptr[static_cast<size_t>(s.output)];
    const Dims& od = dims[static_cast<size_t>(s.output)];
    const int64_t n = product(od, 0, od.size());
    switch (s.kind) {
      case Kind::View:
        return;
      case Kind::Fused: {
        bool flat = true;
        for (size_t j = 0; j < s.inputs.size(); ++j) flat = flat && inDims(j) == od;
        const Launch1D l = elementwiseLaunch(n, sms);
        if (l.grid == 0) return;
        std::vector<void*> args;
        std::vector<const void*> pointers(s.inputs.size());
        for (size_t j = 0; j < s.inputs.size(); ++j) {
          pointers[j] = in(j);
          args.push_back(&pointers[j]);
        }
        long long count = n;
        args.push_back(&out);
        args.push_back(&count);
        SyIndex ix{};
        if (!flat) {
          sdk::require(od.size() <= static_cast<size_t>(kMaxRank), SY_ERROR_UNIMPLEMENTED, "rank above ", kMaxRank);
          ix.rank = static_cast<int32_t>(od.size());
          for (size_t d = 0; d < od.size(); ++d) ix.dims[d] = od[d];
          for (size_t j = 0; j < s.inputs.size(); ++j) {
            const Dims st = broadcastStrides(inDims(j), od);
            for (size_t d = 0; d < od.size(); ++d) ix.strides[j][d] = st[d];
          }
          args.push_back(&ix);
        }
        checkCuda(cudaLaunchKernel(reinterpret_cast<const void*>(flat ? s.kernel->flat : s.kernel->strided),
                                   dim3(l.grid), dim3(l.block), args.data(), 0, ctx.stream),
                  "cudaLaunchKernel (fused elementwise)");
        return;
      }
      case Kind::Gemm:
        return runGemmStep(ctx, s, dims, ptr);
      case Kind::Conv: {
        ConvCall c;
        c.x = inDims(0);
        c.w = inDims(1);
        c.y = od;
        const size_t r = c.x.size() - 2;
        for (size_t i = 0; i < r; ++i) {
          c.pads.push_back(s.window.valid || s.window.pads.empty() ? 0 : s.window.pads[i]);
          c.strides.push_back(s.window.strides.empty() ? 1 : s.window.strides[i]);
          c.dilations.push_back(s.window.dilations.empty() ? 1 : s.window.dilations[i]);
        }
        c.group = s.group;
        sdk::require(c.x[1] == c.w[1] * s.group && c.w[0] % s.group == 0, SY_ERROR_INVALID_ARGUMENT,
                     "conv: x has ", c.x[1], " channels, w ", sdk::formatDims(c.w), " with group ", s.group);
        c.xData = static_cast<const float*>(in(0));
        c.wData = static_cast<const float*>(s.weights ? s.weights->data() : in(1));
        c.yData = static_cast<float*>(out);
        runConv(ctx, c, backend_.options().tf32);
        const float* bias = s.bias ? static_cast<const float*>(s.bias->data())
                            : s.inputs.size() > 2 ? static_cast<const float*>(in(2))
                                                  : nullptr;
        if (bias != nullptr || s.relu)
          checkCuda(launchBiasActivation(static_cast<float*>(out), bias, od[0], od[1], product(od, 2, od.size()), s.relu,
                                         sms, ctx.stream),
                    "bias/activation kernel");
        return;
      }
      case Kind::Pool: {
        PoolCall p;
        p.x = inDims(0);
        p.y = od;
        p.kernel = s.window.kernel;
        for (size_t i = 0; i < p.kernel.size(); ++i) {
          p.pads.push_back(s.window.valid || s.window.pads.empty() ? 0 : s.window.pads[i]);
          p.strides.push_back(s.window.strides.empty() ? 1 : s.window.strides[i]);
        }
        p.mode = s.poolMode;
        p.xData = static_cast<const float*>(in(0));
        p.yData = static_cast<float*>(out);
        runPool(ctx, p);
        return;
      }
      case Kind::GlobalPool:
      case Kind::Reduce: {
        const Dims& x = inDims(0);
        std::vector<bool> reduced(x.size(), false);
        if (s.kind == Kind::GlobalPool) {
          for (size_t i = 2; i < x.size(); ++i) reduced[i] = true;
        } else {
          for (size_t i = 0; i < x.size(); ++i) reduced[i] = s.ints.empty() && !s.noopWithEmptyAxes;
          for (int64_t a : s.ints) reduced[normAxis(a, x.size())] = true;
        }
        const Dims st = rowMajorStrides(x);
        ReduceParams p;
        p.reducedCount = 1;
        for (size_t i = 0; i < x.size(); ++i) {
          if (reduced[i]) {
            p.reducedDims[p.reducedRank] = x[i];
            p.reducedStrides[p.reducedRank++] = st[i];
            p.reducedCount *= x[i];
          } else {
            p.keptDims[p.keptRank] = x[i];
            p.keptStrides[p.keptRank++] = st[i];
          }
        }
        p.outputs = n;
        const int op = s.kind == Kind::GlobalPool ? (s.code == 1 ? 1 : 2) : s.code;
        checkCuda(launchReduce(static_cast<const float*>(in(0)), static_cast<float*>(out), p, op, ctx.stream),
                  "reduce kernel");
        return;
      }
      case Kind::Softmax: {
        const Dims& x = inDims(0);
        const size_t a = normAxis(s.axis, x.size());
        checkCuda(launchSoftmax(static_cast<const float*>(in(0)), static_cast<float*>(out), product(x, 0, a), x[a],
                                product(x, a + 1, x.size()), s.code == 1, ctx.stream),
                  "softmax kernel");
        return;
      }
      case Kind::LayerNorm: {
        const Dims& x = inDims(0);
        const size_t a = normAxis(s.axis, x.size());
        const int64_t len = product(x, a, x.size());
        const int64_t sc = product(inDims(1), 0, inDims(1).size());
        const int64_t bc = s.inputs.size() > 2 ? product(inDims(2), 0, inDims(2).size()) : 0;
        sdk::require((sc == len || sc == 1) && (s.inputs.size() < 3 || bc == len || bc == 1), SY_ERROR_UNIMPLEMENTED,
                     "layer_norm: scale/bias must have the normalised size (", len, ") or 1 element");
        checkCuda(launchLayerNorm(static_cast<const float*>(in(0)), static_cast<const float*>(in(1)), sc,
                                  s.inputs.size() > 2 ? static_cast<const float*>(in(2)) : nullptr, bc,
                                  static_cast<float*>(out), product(x, 0, a), len, s.epsilon, ctx.stream),
                  "layer_norm kernel");
        return;
      }
      case Kind::BatchNorm: {
        const Dims& x = inDims(0);
        for (size_t j = 1; j < 5; ++j)
          sdk::require(inDims(j).size() == 1 && inDims(j)[0] == x[1], SY_ERROR_INVALID_ARGUMENT, "batch_norm: input ",
                       j, " is ", sdk::formatDims(inDims(j)), ", expected [", x[1], "]");
        checkCuda(launchBatchNorm(static_cast<const float*>(in(0)), static_cast<const float*>(in(1)),
                                  static_cast<const float*>(in(2)), static_cast<const float*>(in(3)),
                                  static_cast<const float*>(in(4)), static_cast<float*>(out), x[0], x[1],
                                  product(x, 2, x.size()), s.epsilon, sms, ctx.stream),
                  "batch_norm kernel");
        return;
      }
      case Kind::Transpose:
      case Kind::Expand:
      case Kind::Slice: {
        const Dims& x = inDims(0);
        StridedCopy p;
        p.rank = static_cast<int32_t>(od.size());
        const Dims ost = rowMajorStrides(od);
        Dims ist;
        if (s.kind == Kind::Transpose) {
          const Dims xs = rowMajorStrides(x);
          ist.resize(od.size());
          for (size_t i = 0; i < od.size(); ++i) ist[i] = xs[s.ints.empty() ? x.size() - 1 - i : static_cast<size_t>(s.ints[i])];
        } else if (s.kind == Kind::Expand) {
          ist = broadcastStrides(x, od);
        } else {
          ist = rowMajorStrides(x);
          const Dims base = ist;
          for (size_t j = 0; j < s.starts.size(); ++j) {
            const size_t a = s.hasAxes ? normAxis(s.ints[j], x.size()) : j;
            const int64_t d = x[a], step = s.steps.empty() ? 1 : s.steps[j];
            int64_t start = s.starts[j];
            if (start < 0) start += d;
            start = step > 0 ? std::clamp<int64_t>(start, 0, d) : std::clamp<int64_t>(start, 0, d - 1);
            if (od[a] > 0) p.inBase += start * base[a];
            ist[a] = base[a] * step;
          }
        }
        for (size_t i = 0; i < od.size(); ++i) {
          p.dims[i] = od[i];
          p.inStrides[i] = ist[i];
          p.outStrides[i] = ost[i];
        }
        checkCuda(launchStridedCopy(in(0), out, sdk::dtypeSize(s.outDtype), p, sms, ctx.stream), "copy kernel");
        return;
      }
      case Kind::Concat: {
        const size_t a = normAxis(s.axis, od.size());
        const Dims ost = rowMajorStrides(od);
        int64_t at = 0;
        for (size_t j = 0; j < s.inputs.size(); ++j) {
          const Dims& x = inDims(j);
          StridedCopy p;
          p.rank = static_cast<int32_t>(x.size());
          const Dims ist = rowMajorStrides(x);
          for (size_t i = 0; i < x.size(); ++i) {
            p.dims[i] = x[i];
            p.inStrides[i] = ist[i];
            p.outStrides[i] = ost[i];
          }
          p.outBase = at * ost[a];
          at += x[a];
          checkCuda(launchStridedCopy(in(j), out, sdk::dtypeSize(s.outDtype), p, sms, ctx.stream), "concat kernel");
        }
        return;
      }
      case Kind::Pad: {
        const Dims& x = inDims(0);
        PadParams p;
        p.rank = static_cast<int32_t>(x.size());
        p.mode = s.code;
        for (size_t i = 0; i < x.size(); ++i) {
          p.inDims[i] = x[i];
          p.outDims[i] = od[i];
          p.begin[i] = s.ints[i];
        }
        sdk::require(s.code == 0 || n == 0 || std::all_of(x.begin(), x.end(), [](int64_t d) { return d > 0; }),
                     SY_ERROR_INVALID_ARGUMENT, "pad: reflect/edge of an empty tensor");
        checkCuda(launchPad(in(0), out, sdk::dtypeSize(s.outDtype), p, s.inputs.size() > 1 ? in(1) : nullptr, sms,
                            ctx.stream),
                  "pad kernel");
        return;
      }
      case Kind::Gather: {
        const Dims& x = inDims(0);
        const size_t a = normAxis(s.axis, x.size());
        checkCuda(launchGather(in(0), in(1), dtypes_[static_cast<size_t>(s.inputs[1])] == SY_DTYPE_I64, out,
                               sdk::dtypeSize(s.outDtype), product(x, 0, a), x[a], product(x, a + 1, x.size()),
                               product(inDims(1), 0, inDims(1).size()), ctx.errorFlag, sms, ctx.stream),
                  "gather kernel");
        return;
      }
    }
  }

  void runGemmStep(ExecContext& ctx, const Step& s, const std::vector<Dims>& dims, const std::vector<void*>& ptr) {
    const Dims& a = dims[static_cast<size_t>(s.inputs[0])];
    const Dims& b = dims[static_cast<size_t>(s.inputs[1])];
    const Dims& od = dims[static_cast<size_t>(s.output)];
    GemmCall g;
    g.dtype = dtypes_[static_cast<size_t>(s.inputs[0])];
    g.a = ptr[static_cast<size_t>(s.inputs[0])];
    g.b = ptr[static_cast<size_t>(s.inputs[1])];
    g.d = ptr[static_cast<size_t>(s.output)];
    g.activation = s.activation;
    g.bias = s.bias ? static_cast<const float*>(s.bias->data()) : nullptr;
    if (s.gemm) {
      g.transA = s.transA;
      g.transB = s.transB;
      g.m = od[0];
      g.n = od[1];
      g.k = s.transA ? a[0] : a[1];
      g.alpha = s.alpha;
      if (s.cValue >= 0) {
        const Dims& c = dims[static_cast<size_t>(s.cValue)];
        const void* cp = ptr[static_cast<size_t>(s.cValue)];
        if (s.cAsBias && product(c, 0, c.size()) == g.n) {
          g.bias = static_cast<const float*>(cp);
        } else if (c == od) {
          g.c = cp;
          g.beta = s.beta;
        } else {
          // Any other broadcast of c: expand it into the output, then beta * D.
          StridedCopy p;
          p.rank = 2;
          const Dims ist = broadcastStrides(c, od);
          for (size_t i = 0; i < 2; ++i) {
            p.dims[i] = od[i];
            p.inStrides[i] = ist[i];
            p.outStrides[i] = i == 0 ? od[1] : 1;
          }
          checkCuda(launchStridedCopy(cp, g.d, sdk::dtypeSize(g.dtype), p, backend_.device().smCount, ctx.stream),
                    "gemm c broadcast");
          g.c = g.d;
          g.beta = s.beta;
        }
      }
    } else {
      // matmul: 1-D promotion; b without batch dims folds a's batch into rows.
      const bool a1 = a.size() == 1, b1 = b.size() == 1;
      const int64_t m = a1 ? 1 : a[a.size() - 2], k = a.back(), n = b1 ? 1 : b.back();
      const int64_t batchA = a.size() > 2 ? product(a, 0, a.size() - 2) : 1;
      const int64_t batchB = b.size() > 2 ? product(b, 0, b.size() - 2) : 1;
      g.k = k;
      g.n = n;
      if (b.size() <= 2) {
        g.m = m * batchA;
        g.batch = 1;
      } else if (a.size() <= 2) {
        g.m = m;
        g.batch = batchB;
        g.strideA = 0;
        g.strideB = k * n;
        g.strideD = m * n;
      } else {
        sdk::require(batchA == batchB, SY_ERROR_UNIMPLEMENTED, "matmul: broadcast batch dims ", sdk::formatDims(a),
                     " x ", sdk::formatDims(b), " are not implemented by cuda");
        g.m = m;
        g.batch = batchA;
        g.strideA = m * k;
        g.strideB = k * n;
        g.strideD = m * n;
      }
      // A [.., k] x B [k]: B as a [k, 1] column is the same memory.
    }
    runGemm(ctx, g, std::max(backend_.options().workspaceBytes, size_t{1}), backend_.options().tf32);
  }

  CudaBackend& backend_;
  const uint64_t id_;
  const size_t numValues_;
  std::vector<int32_t> dtypes_;
  std::vector<Dims> declared_;
  std::vector<bool> hasRank_;
  std::vector<std::shared_ptr<CudaBuffer>> constant_;
  std::vector<std::pair<size_t, Dims>> constDims_;
  std::vector<int32_t> alias_;  // a view's source value, else -1
  std::vector<int32_t> params_, returns_;
  std::vector<Step> steps_;
  bool staticShapes_ = true;
  bool hasGather_ = false;
  std::atomic<int> graphFailures_{0};
  std::mutex planMutex_;
  std::map<std::string, std::shared_ptr<const ShapePlan>> plans_;
};

}  // namespace

std::unique_ptr<sdk::CompiledRegion> compileRegion(CudaBackend& backend, const sdk::GraphView& region) {
  return std::make_unique<CudaRegion>(backend, region);
}

}  // namespace sy_cuda
