// Compiled regions: a region becomes a list of steps (fused elementwise
// programs, matmul, conv, pools, reductions, row ops, copies, views) at
// compile time; execute computes the shapes from the actual inputs, records
// every dispatch into ONE command buffer with the barriers they need, submits
// once and waits on one fence.
#include <switchyard/plugin_shapes.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <set>

#include "vk_backend.h"

namespace sy_vulkan {
namespace {

constexpr size_t kMaxLeaves = 8, kMaxOutputs = 4, kMaxRegs = 32;

using sdk::shapes::broadcastShape;
using sdk::shapes::broadcastStrides;
using sdk::shapes::normAxis;
using sdk::shapes::product;
using sdk::shapes::rowMajorStrides;

uint32_t u32(int64_t v) {
  sdk::require(v >= INT32_MIN && v <= UINT32_MAX, SY_ERROR_UNIMPLEMENTED, "value ", v,
               " does not fit the shaders' 32-bit indexing");
  return static_cast<uint32_t>(v);
}

uint32_t fbits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

bool sameShape(const sdk::ValueView& a, const sdk::ValueView& b) {
  if (!a.hasRank() || a.rank() != b.rank()) return false;
  for (size_t i = 0; i < a.dims().size(); ++i) {
    if (a.dim(i) >= 0 || b.dim(i) >= 0) {
      if (a.dim(i) != b.dim(i)) return false;
    } else if (a.dimSymbol(i) == nullptr || b.dimSymbol(i) == nullptr ||
               std::strcmp(a.dimSymbol(i), b.dimSymbol(i)) != 0) {
      return false;
    }
  }
  return true;
}

/// Throws unless a constant's literal is well formed (a malformed view must
/// not make us read through NULL or past its arrays).
void checkLiteral(const sdk::NodeView& node, const sy_tensor_literal& t) {
  if (!(t.rank >= 0 && t.rank <= SY_MAX_RANK && (t.rank == 0 || t.dims != nullptr) &&
        (t.bytes == 0 || t.data != nullptr)))
    sdk::fail(SY_ERROR_INVALID_ARGUMENT, node.describe(), ": malformed tensor literal (rank ", t.rank,
              t.rank > 0 && t.dims == nullptr ? ", no dims" : "", t.bytes > 0 && t.data == nullptr ? ", no data" : "",
              ")");
}

/// A value's type as the region declares it: rank (-1 unknown) and dims (-1 dynamic).
struct Declared {
  int32_t rank = -1;
  Dims dims;
};

/// Throws unless `dims`, computed at run time, can be a value of type `d`.
/// Later steps index dims by the declared ranks (perm, axes, windows), so a
/// region whose declared types disagree with what its ops compute stops here
/// instead of reading past the end of a shape.
void checkDeclared(const Declared& d, const Dims& dims, const char* what) {
  if (d.rank < 0) return;
  bool ok = static_cast<size_t>(d.rank) == dims.size();
  for (size_t i = 0; ok && i < dims.size(); ++i) ok = d.dims[i] < 0 || d.dims[i] == dims[i];
  if (!ok)
    sdk::fail(SY_ERROR_INVALID_ARGUMENT, what, " has shape ", sdk::formatDims(dims), ", but the region declares ",
              sdk::formatDims(d.dims), d.rank == 0 ? " (rank 0)" : "");
}

// ============================================================================
// Steps

enum class Kind { Eltwise, Matmul, Gemm, Conv, Pool, Reduce, RowNorm, Transpose, Slice, Expand, Concat, Gather, View };

/// An operand of a fused program: a leaf (a value read from memory) or the
/// result of an earlier instruction.
struct Operand {
  bool leaf = true;
  uint32_t index = 0;
};
struct Instr {
  uint32_t op;
  Operand a, b, c;
  float i0 = 0, i1 = 0;
};
struct Leaf {
  int32_t value;
  int32_t channelRank = 0;  // > 0: a batch_norm parameter [C] read as [1, C, 1, ...] of this rank
};
struct EltOutput {
  int32_t value;
  uint32_t instr;  // the instruction whose result it is
  int32_t dtype;
};

struct Step {
  Kind kind = Kind::View;
  std::string describe;
  std::string op;
  std::vector<int32_t> inputs;  // value indices
  std::vector<int32_t> outputs;
  int32_t dtype = SY_DTYPE_F32;  // output dtype
  // eltwise
  std::vector<Leaf> leaves;
  std::vector<Instr> instrs;
  std::vector<EltOutput> eltOutputs;
  // attributes
  int code = 0;
  Dims ints;
  std::vector<Dims> lists;  // slice: starts, ends, axes, steps; conv/pool: kernel, strides, pads, dilations
  std::string autoPad;
  int64_t axis = 0, group = 1;
  bool keepdims = true, noopWithEmptyAxes = false, allowzero = false, transA = false, transB = false;
  bool ceilMode = false, countIncludePad = false;
  float alpha = 1.0f, beta = 1.0f, epsilon = 1e-5f;
};

/// A value while a region runs.
struct RunValue {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceSize offset = 0;  // bytes, aligned for binding
  VkDeviceSize capacity = 0;  // bytes available from offset
  std::byte* mapped = nullptr;
  Dims dims;
  int32_t dtype = SY_DTYPE_F32;
  int32_t memory = -1;  // index into the run's owned allocations (-1: input or constant)
  bool set = false;
};

/// One command of the run's command buffer.
struct Command {
  bool copy = false;
  // dispatch
  Shader shader = Shader::Eltwise;
  std::vector<uint32_t> spec;
  struct Binding {
    VkBuffer buffer = VK_NULL_HANDLE;
    VkDeviceSize offset = 0, range = 0;
  };
  Binding slots[kSlots];
  uint32_t push[4] = {};
  uint32_t groups[3] = {1, 1, 1};
  size_t metaOffset = 0, metaWords = 0;  // words into the run's metadata
  // copy
  VkBuffer src = VK_NULL_HANDLE, dst = VK_NULL_HANDLE;
  VkBufferCopy region{};
  std::vector<int32_t> reads, writes;  // memory ids (RunValue::memory)
  std::string describe;
};

class VulkanRegion final : public sdk::CompiledRegion {
 public:
  VulkanRegion(VulkanBackend& backend, const sdk::GraphView& region)
      : backend_(backend), context_(backend.context()), numValues_(region.numValues()) {
    build(region);
  }

  ~VulkanRegion() override = default;

  // Note [Concurrency]: execute keeps all its state on the stack; the
  // command buffer, fence and descriptor pool come from the context's pool
  // of execution contexts (mutex), queue submission is under the queue
  // mutex, and the arenas lock. So one region may run on several threads.
  bool concurrentExecute() const override { return true; }

  void execute(const std::vector<sdk::InputTensor>& inputs, std::vector<sdk::OutputTensor>& outputs) override;

 private:
  void build(const sdk::GraphView& region);
  void addConstant(const sdk::NodeView& node);
  void addConstantValue(const sdk::ValueView& out);
  void uploadConstant(const std::string& what, const sdk::ValueView& out, const void* data, size_t bytes,
                      const Dims& dims);

  VulkanBackend& backend_;
  DeviceContext& context_;
  size_t numValues_;
  std::vector<int32_t> params_, returns_, returnDtypes_;
  struct Constant {
    int32_t index;
    Dims dims;
    int32_t dtype;
    std::unique_ptr<VkBuf> buffer;
  };
  std::vector<Constant> constants_;
  std::vector<Step> steps_;
  std::vector<Declared> declared_;  // per value index
};

// ============================================================================
// Compile

void VulkanRegion::addConstant(const sdk::NodeView& node) {
  const sdk::ValueView out = node.output(0);
  const void* data = out.constantData();
  size_t bytes = out.constantBytes();
  Dims dims = out.dims().vec();
  if (node.op() == "constant") {
    const sy_tensor_literal& t = node.findAttr("value")->asTensor();
    checkLiteral(node, t);
    data = t.data;
    bytes = t.bytes;
    dims.assign(t.dims, t.dims + std::max(t.rank, 0));
    if (!(bytes == sdk::tensorBytes(t.dtype, dims)))
      sdk::fail(SY_ERROR_INVALID_ARGUMENT, node.describe(), ": the literal has ", bytes, " bytes for ",
                sdk::formatDims(dims));
  }
  uploadConstant(node.describe(), out, data, bytes, dims);
}

void VulkanRegion::addConstantValue(const sdk::ValueView& out) {
  if (!out.isStatic())
    sdk::fail(SY_ERROR_INVALID_ARGUMENT, "constant '", out.name(), "' of non-static type ", out.typeString());
  uploadConstant(sdk::format("constant '", out.name(), "'"), out, out.constantData(), out.constantBytes(),
                 out.dims().vec());
}

void VulkanRegion::uploadConstant(const std::string& what, const sdk::ValueView& out, const void* data, size_t bytes,
                                  const Dims& dims) {
  if (!(bytes == sdk::tensorBytes(out.dtype(), dims)))
    sdk::fail(SY_ERROR_INVALID_ARGUMENT, what, ": constant data of ", bytes, " bytes for ", out.typeString());
  if (out.hasRank()) checkDeclared(Declared{out.rank(), out.dims().vec()}, dims, "the constant");
  Constant c{out.index(), dims, out.dtype(), backend_.allocateVk(bytes)};
  if (bytes > 0) c.buffer->write(0, data, bytes);  // uploaded once, here
  constants_.push_back(std::move(c));
}

void VulkanRegion::build(const sdk::GraphView& region) {
  declared_.resize(numValues_);
  for (size_t i = 0; i < numValues_; ++i) {
    const sdk::ValueView v = region.value(static_cast<int64_t>(i));
    declared_[i] = Declared{v.rank(), v.dims().vec()};
  }
  std::vector<int> uses(numValues_, 0);
  std::vector<bool> isReturn(numValues_, false);
  const sdk::BlockView body = region.body();
  for (size_t i = 0; i < body.numNodes(); ++i) {
    const sdk::NodeView node = body.node(i);
    for (size_t j = 0; j < node.numInputs(); ++j) {
      if (node.hasInput(j)) ++uses[node.input(j).index()];
    }
  }
  for (size_t i = 0; i < region.numInputs(); ++i) params_.push_back(region.input(i).index());
  for (size_t i = 0; i < region.numOutputs(); ++i) {
    returns_.push_back(region.output(i).index());
    returnDtypes_.push_back(region.output(i).dtype());
    isReturn[region.output(i).index()] = true;
  }
  // ABI 1.1: weights and literals are values no node makes; each is uploaded
  // once, here (an ABI 1.0 host sends constant/weight nodes, taken below).
  for (const sdk::ValueView& v : region.constants()) addConstantValue(v);

  // Note [Fusion]: consecutive elementwise nodes whose outputs have one
  // shape (equal numbers or equal symbols) form one group, run by the
  // eltwise interpreter in one pass: its leaves (up to 8 values read from
  // memory, broadcast to the group's shape) and its outputs (up to 4: the
  // group's values used after it or returned). Constants, weights and views
  // of values from outside the group do not break a group.
  struct Group {
    Step step;
    int32_t shapeValue = -1;
    std::map<int32_t, uint32_t> produced;  // value -> instruction
    std::map<int32_t, int> usesInGroup;
  };
  std::optional<Group> group;
  auto closeGroup = [&] {
    if (!group) return;
    Step& s = group->step;
    for (const auto& [value, instr] : group->produced) {
      if (isReturn[value] || uses[value] > group->usesInGroup[value]) {
        s.eltOutputs.push_back(EltOutput{value, instr, 0});
        s.outputs.push_back(value);
      }
    }
    for (const Leaf& l : s.leaves) s.inputs.push_back(l.value);
    steps_.push_back(std::move(s));
    group.reset();
  };

  for (size_t i = 0; i < body.numNodes(); ++i) {
    const sdk::NodeView node = body.node(i);
    const std::string reason = whyNot(region, node);
    if (!reason.empty()) sdk::fail(SY_ERROR_UNIMPLEMENTED, node.describe(), ": ", reason);
    const std::string_view op = node.op();
    if (op == "constant" || op == "weight") {
      addConstant(node);
      continue;
    }
    const sdk::ValueView out = node.output(0);

    if (isEltwise(op)) {
      // What the node needs from the group: leaves, instructions.
      auto plan = [&](Group* g, std::vector<Leaf>& newLeaves) {
        for (size_t j = 0; j < node.numInputs(); ++j) {
          const int32_t v = node.input(j).index();
          const int32_t ch = op == "batch_norm" && j > 0 ? node.input(0).rank() : 0;
          if (g != nullptr && ch == 0 && g->produced.count(v)) continue;
          const bool known = (g != nullptr && std::any_of(g->step.leaves.begin(), g->step.leaves.end(),
                                                          [&](const Leaf& l) { return l.value == v && l.channelRank == ch; })) ||
                             std::any_of(newLeaves.begin(), newLeaves.end(),
                                         [&](const Leaf& l) { return l.value == v && l.channelRank == ch; });
          if (!known) newLeaves.push_back(Leaf{v, ch});
        }
      };
      const size_t newInstrs = op == "batch_norm" ? 6 : 1;
      bool join = false;
      if (group && sameShape(region.value(group->shapeValue), out)) {
        std::vector<Leaf> newLeaves;
        plan(&*group, newLeaves);
        const size_t leaves = group->step.leaves.size() + newLeaves.size();
        const size_t regs = leaves + group->step.instrs.size() + newInstrs;
        // Outputs, counted as if no later node of the group used them.
        std::map<int32_t, int> usesAfter = group->usesInGroup;
        for (size_t j = 0; j < node.numInputs(); ++j) ++usesAfter[node.input(j).index()];
        size_t outs = 1;
        for (const auto& [value, instr] : group->produced) {
          if (isReturn[value] || uses[value] > usesAfter[value]) ++outs;
        }
        join = leaves <= kMaxLeaves && regs <= kMaxRegs && outs <= kMaxOutputs;
      }
      if (!join) {
        closeGroup();
        group = Group{};
        group->shapeValue = out.index();
        group->step.kind = Kind::Eltwise;
        group->step.op = "fused";
      }
      Group& g = *group;
      std::vector<Leaf> newLeaves;
      plan(&g, newLeaves);
      for (const Leaf& l : newLeaves) g.step.leaves.push_back(l);
      auto operand = [&](size_t j, int32_t ch = 0) -> Operand {
        const int32_t v = node.input(j).index();
        if (ch == 0) {
          if (auto it = g.produced.find(v); it != g.produced.end()) return Operand{false, it->second};
        }
        for (uint32_t k = 0; k < g.step.leaves.size(); ++k) {
          if (g.step.leaves[k].value == v && g.step.leaves[k].channelRank == ch) return Operand{true, k};
        }
        sdk::fail(SY_ERROR_INTERNAL, "fused operand not found");
      };
      auto emit = [&](uint32_t code, Operand a, Operand b = {}, Operand c = {}, float i0 = 0, float i1 = 0) {
        g.step.instrs.push_back(Instr{code, a, b, c, i0, i1});
        return Operand{false, static_cast<uint32_t>(g.step.instrs.size() - 1)};
      };
      const int code = eltwiseOpcode(op);
      Operand result;
      if (op == "batch_norm") {
        const int32_t ch = node.input(0).rank();
        const float eps = static_cast<float>(node.attrFloat("epsilon", 1e-5));
        Operand x = operand(0), scale = operand(1, ch), bias = operand(2, ch), mean = operand(3, ch),
                var = operand(4, ch);
        Operand centred = emit(33, x, mean);
        Operand shifted = emit(22, var, {}, {}, eps);
        Operand inv = emit(5, shifted);
        Operand normed = emit(34, centred, inv);
        Operand scaled = emit(34, normed, scale);
        result = emit(32, scaled, bias);
      } else if (op == "gelu") {
        result = emit(node.attrString("approximate", "none") == "tanh" ? 14 : 13, operand(0));
      } else if (op == "leaky_relu") {
        result = emit(12, operand(0), {}, {}, static_cast<float>(node.attrFloat("alpha", 0.01)));
      } else if (op == "clip") {
        result = emit(21, operand(0), {}, {}, static_cast<float>(node.attrFloat("min", -INFINITY)),
                      static_cast<float>(node.attrFloat("max", INFINITY)));
      } else if (op == "cast") {
        result = emit(out.dtype() == SY_DTYPE_BOOL ? 52 : 60, operand(0));
      } else if (node.numInputs() == 1) {
        result = emit(static_cast<uint32_t>(code), operand(0));
      } else if (node.numInputs() == 2) {
        result = emit(static_cast<uint32_t>(code), operand(0), operand(1));
      } else {
        result = emit(static_cast<uint32_t>(code), operand(0), operand(1), operand(2));
      }
      g.produced[out.index()] = result.index;
      for (size_t j = 0; j < node.numInputs(); ++j) ++g.usesInGroup[node.input(j).index()];
      g.step.describe += (g.step.describe.empty() ? "" : " + ") + node.describe();
      continue;
    }

    Step step;
    step.describe = node.describe();
    step.op = std::string(op);
    step.outputs = {out.index()};
    step.dtype = out.dtype();
    for (size_t j = 0; j < node.numInputs(); ++j) {
      if (node.hasInput(j)) step.inputs.push_back(node.input(j).index());
    }
    // A view of a value from outside the open group does not break it.
    if (isView(op)) {
      if (group && group->produced.count(node.input(0).index())) closeGroup();
    } else {
      closeGroup();
    }
    if (op == "matmul" || op == "gemm") {
      step.kind = op == "matmul" ? Kind::Matmul : Kind::Gemm;
      step.alpha = static_cast<float>(node.attrFloat("alpha", 1.0));
      step.beta = static_cast<float>(node.attrFloat("beta", 1.0));
      step.transA = node.attrInt("transA", 0) != 0;
      step.transB = node.attrInt("transB", 0) != 0;
    } else if (op == "conv" || op == "max_pool" || op == "avg_pool") {
      step.kind = op == "conv" ? Kind::Conv : Kind::Pool;
      step.code = op == "max_pool" ? 1 : 0;
      step.lists = {node.attrInts("kernel_shape"), node.attrInts("strides"), node.attrInts("pads"),
                    node.attrInts("dilations")};
      step.autoPad = node.attrString("auto_pad", "NOTSET");
      step.group = node.attrInt("group", 1);
      step.ceilMode = node.attrInt("ceil_mode", 0) != 0;
      step.countIncludePad = node.attrInt("count_include_pad", 0) != 0;
    } else if (op == "global_avg_pool" || op == "global_max_pool") {
      step.kind = Kind::Reduce;
      step.code = op == "global_avg_pool" ? 1 : 2;
      for (int64_t a = 2; a < node.input(0).rank(); ++a) step.ints.push_back(a);
      step.keepdims = true;
      step.noopWithEmptyAxes = true;  // rank 2: nothing to pool
    } else if (op.rfind("reduce_", 0) == 0) {
      step.kind = Kind::Reduce;
      const char* const names[] = {"reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod"};
      for (int k = 0; k < 5; ++k) {
        if (op == names[k]) step.code = k;
      }
      step.ints = node.attrInts("axes");
      step.keepdims = node.attrInt("keepdims", 1) != 0;
      step.noopWithEmptyAxes = node.attrInt("noop_with_empty_axes", 0) != 0;
    } else if (op == "softmax" || op == "log_softmax" || op == "layer_norm") {
      step.kind = Kind::RowNorm;
      step.code = op == "softmax" ? 0 : op == "log_softmax" ? 1 : 2;
      step.axis = node.attrInt("axis", -1);
      step.epsilon = static_cast<float>(node.attrFloat("epsilon", 1e-5));
      if (op == "layer_norm" && node.numInputs() == 3 && !node.hasInput(2)) step.inputs.resize(2);
    } else if (op == "transpose") {
      step.kind = Kind::Transpose;
      step.ints = node.attrInts("perm");
    } else if (op == "slice") {
      step.kind = Kind::Slice;
      step.inputs.resize(1);
      for (size_t j = 1; j < 5; ++j) {
        step.lists.push_back(j < node.numInputs() && node.hasInput(j) ? *constantInts(region, node.input(j)) : Dims{});
      }
    } else if (op == "expand") {
      step.kind = Kind::Expand;
      step.inputs.resize(1);
      step.ints = *constantInts(region, node.input(1));
    } else if (op == "concat") {
      step.kind = Kind::Concat;
      step.axis = node.attrInt("axis", 0);
    } else if (op == "gather") {
      step.kind = Kind::Gather;
      step.axis = node.attrInt("axis", 0);
    } else {  // views
      step.kind = Kind::View;
      step.inputs.resize(1);
      if (op == "reshape") {
        step.ints = *constantInts(region, node.input(1));
        step.allowzero = node.attrInt("allowzero", 0) != 0;
      } else if (op == "flatten") {
        step.axis = node.attrInt("axis", 1);
      } else if (op == "squeeze" || op == "unsqueeze") {
        step.ints = node.attrInts("axes");
      }
    }
    steps_.push_back(std::move(step));
  }
  closeGroup();

  // Set each fused output's dtype, and create every pipeline now, so execute
  // never compiles (pipeline creation goes through the VkPipelineCache).
  for (Step& s : steps_) {
    for (EltOutput& o : s.eltOutputs) o.dtype = region.value(o.value).dtype();
  }
  const uint32_t wg = context_.workGroupSize(), tile = context_.matmulTile();
  std::set<Shader> needed;
  for (const Step& s : steps_) {
    switch (s.kind) {
      case Kind::Eltwise: needed.insert(Shader::Eltwise); break;
      case Kind::Matmul: case Kind::Gemm: context_.pipeline(Shader::Matmul, {tile, tile}); break;
      case Kind::Conv: needed.insert(Shader::Conv2d); break;
      case Kind::Pool: needed.insert(Shader::Pool2d); break;
      case Kind::Reduce: needed.insert(Shader::Reduce); break;
      case Kind::RowNorm: needed.insert(Shader::RowNorm); break;
      case Kind::Transpose: case Kind::Slice: case Kind::Expand: case Kind::Concat: needed.insert(Shader::Copy); break;
      case Kind::Gather: needed.insert(Shader::Gather); break;
      case Kind::View: break;
    }
  }
  for (Shader sh : needed) context_.pipeline(sh, {wg});
}

// ============================================================================
// Shapes

Dims viewShape(const Step& s, const Dims& x) {
  return sdk::shapes::viewShape(s.op, x, s.axis, s.ints, s.allowzero);
}

/// Output size and begin/end pads of one spatial dim of conv / pools.
struct Window {
  int64_t out, padBegin, padEnd;
};
Window spatialWindow(const Step& s, size_t d, size_t spatial, int64_t in, int64_t kernel, int64_t stride,
                     int64_t dilation, bool pool) {
  const int64_t eff = (kernel - 1) * dilation + 1;
  Window w{0, 0, 0};
  if (s.autoPad == "SAME_UPPER" || s.autoPad == "SAME_LOWER") {
    w.out = (in + stride - 1) / stride;
    const int64_t total = std::max<int64_t>(0, (w.out - 1) * stride + eff - in);
    w.padBegin = s.autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
    w.padEnd = total - w.padBegin;
    return w;
  }
  if (s.autoPad == "NOTSET" && !s.lists[2].empty()) {
    w.padBegin = s.lists[2][d];
    w.padEnd = s.lists[2][d + spatial];
  }
  const int64_t span = in + w.padBegin + w.padEnd - eff;
  sdk::require(span >= 0, SY_ERROR_INVALID_ARGUMENT, "window of ", eff, " is larger than the padded input (",
               in + w.padBegin + w.padEnd, ")");
  if (pool && s.ceilMode) {
    w.out = (span + stride - 1) / stride + 1;
    if ((w.out - 1) * stride >= in + w.padBegin) --w.out;  // a window starting in the end padding is dropped
  } else {
    w.out = span / stride + 1;
  }
  return w;
}

// ============================================================================
// Execute

void VulkanRegion::execute(const std::vector<sdk::InputTensor>& inputs, std::vector<sdk::OutputTensor>& outputs) {
  DeviceContext& ctx = context_;
  const VkDeviceSize align = std::max<VkDeviceSize>(ctx.properties().limits.minStorageBufferOffsetAlignment, 4);
  std::vector<RunValue> values(numValues_);
  std::vector<Allocation> owned;             // intermediates of this run
  std::vector<bool> handedOut;                // owned[i] now belongs to an output
  std::vector<std::unique_ptr<VkBuf>> outBuffers(returns_.size());
  std::vector<Command> commands;
  std::vector<uint32_t> meta;
  const size_t metaAlignWords = static_cast<size_t>(align / 4);

  struct Cleanup {
    DeviceContext& ctx;
    std::vector<Allocation>& owned;
    std::vector<bool>& handedOut;
    ~Cleanup() {
      for (size_t i = 0; i < owned.size(); ++i) {
        if (!handedOut[i]) ctx.deviceArena().free(owned[i]);
      }
    }
  } cleanup{ctx, owned, handedOut};

  // Note [Gather errors]: every gather dispatch gets a host-visible word that
  // the shader sets when an index is out of range (it writes 0 for that
  // element and never reads outside the data); after the run a set word is
  // an error, as in the reference.
  struct ErrorFlags {
    DeviceContext& ctx;
    std::vector<std::pair<std::string, Allocation>> flags;
    ~ErrorFlags() {
      for (auto& f : flags) ctx.hostArena().free(f.second);
    }
  } errorFlags{ctx, {}};
  std::vector<RunValue> flagValues;
  flagValues.reserve(steps_.size());

  auto allocate = [&](int32_t value, int32_t dtype, Dims dims) -> RunValue& {
    const size_t bytes = sdk::tensorBytes(dtype, dims);
    Allocation a = ctx.deviceArena().allocate(std::max<size_t>(bytes, 4));
    owned.push_back(a);
    handedOut.push_back(false);
    RunValue& v = values[value];
    v = RunValue{a.buffer, a.offset, a.size, a.mapped, std::move(dims), dtype, static_cast<int32_t>(owned.size() - 1),
                 true};
    return v;
  };
  auto binding = [&](const RunValue& v) {
    const size_t bytes = sdk::tensorBytes(v.dtype, v.dims);
    if (bytes == 0) return Command::Binding{ctx.dummy().buffer, ctx.dummy().offset, 64};
    sdk::require(bytes <= ctx.maxBinding(), SY_ERROR_UNIMPLEMENTED, "a tensor of ", bytes,
                 " bytes is larger than the device's maxStorageBufferRange (", ctx.maxBinding(), ")");
    const VkDeviceSize range = std::min<VkDeviceSize>((bytes + 3) / 4 * 4, v.capacity);
    return Command::Binding{v.buffer, v.offset, range};
  };
  auto pushMeta = [&](Command& c, const std::vector<uint32_t>& words) {
    while (meta.size() % metaAlignWords != 0) meta.push_back(0);
    c.metaOffset = meta.size();
    c.metaWords = std::max<size_t>(words.size(), 1);
    meta.insert(meta.end(), words.begin(), words.end());
    if (words.empty()) meta.push_back(0);
  };
  auto grid = [&](Command& c, uint64_t invocations, uint32_t wg) {
    const uint64_t groups = (invocations + wg - 1) / wg;
    const uint64_t maxX = ctx.properties().limits.maxComputeWorkGroupCount[0];
    c.groups[0] = static_cast<uint32_t>(std::min<uint64_t>(groups, maxX));
    c.groups[1] = static_cast<uint32_t>((groups + c.groups[0] - 1) / std::max<uint64_t>(c.groups[0], 1));
    sdk::require(c.groups[1] <= ctx.properties().limits.maxComputeWorkGroupCount[1], SY_ERROR_UNIMPLEMENTED,
                 "tensor too large for one dispatch");
  };
  auto dispatch = [&](const Step& s, Shader shader, std::vector<std::pair<uint32_t, const RunValue*>> slots,
                      const std::vector<uint32_t>& words, uint32_t push0, uint32_t push1 = 0, uint32_t push2 = 0) {
    Command c;
    c.shader = shader;
    c.spec = {ctx.workGroupSize()};
    c.describe = s.describe;
    for (auto& b : c.slots) b = Command::Binding{ctx.dummy().buffer, ctx.dummy().offset, 64};
    for (const auto& [slot, v] : slots) c.slots[slot] = binding(*v);
    c.push[0] = push0;
    c.push[1] = push1;
    c.push[2] = push2;
    pushMeta(c, words);
    return c;
  };

  // Inputs and constants.
  for (const Constant& c : constants_) {
    const Allocation& a = c.buffer->allocation();
    RunValue& v = values[c.index];
    v = RunValue{a.valid() ? a.buffer : ctx.dummy().buffer, a.valid() ? a.offset : ctx.dummy().offset,
                 a.valid() ? a.size : 64, a.mapped, c.dims, c.dtype, -1, true};
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto* buffer = dynamic_cast<const VkBuf*>(&inputs[i].buffer());
    sdk::require(buffer != nullptr, SY_ERROR_INVALID_ARGUMENT, "input ", i, " is not a vulkan buffer");
    const Allocation& a = buffer->allocation();
    RunValue& v = values[params_[i]];
    const size_t bytes = inputs[i].bytes();
    if (bytes == 0 || !a.valid()) {
      v = RunValue{ctx.dummy().buffer, ctx.dummy().offset, 64, nullptr, inputs[i].dims().vec(), inputs[i].dtype(), -1,
                   true};
    } else if ((a.offset + inputs[i].offset()) % align == 0) {
      v = RunValue{a.buffer, a.offset + inputs[i].offset(), a.size - inputs[i].offset(),
                   a.mapped != nullptr ? a.mapped + inputs[i].offset() : nullptr, inputs[i].dims().vec(),
                   inputs[i].dtype(), -1, true};
    } else {  // bindings need aligned offsets: copy
      RunValue& copy = allocate(params_[i], inputs[i].dtype(), inputs[i].dims().vec());
      Command c;
      c.copy = true;
      c.src = a.buffer;
      c.dst = copy.buffer;
      c.region = VkBufferCopy{a.offset + inputs[i].offset(), copy.offset, bytes};
      c.writes = {copy.memory};
      c.describe = "aligning input";
      commands.push_back(std::move(c));
    }
  }

  // Steps: shapes, intermediates, commands.
  const uint32_t wg = ctx.workGroupSize();
  for (const Step& s : steps_) {
    try {
      auto in = [&](size_t i) -> RunValue& {
        RunValue& v = values[s.inputs.at(i)];
        sdk::require(v.set, SY_ERROR_INTERNAL, "input ", i, " was never computed");
        return v;
      };
      std::vector<int32_t> reads;
      for (size_t i = 0; i < s.inputs.size(); ++i) reads.push_back(in(i).memory);
      auto finish = [&](Command c) {
        c.reads = reads;
        for (int32_t o : s.outputs) c.writes.push_back(values[o].memory);
        commands.push_back(std::move(c));
      };
      switch (s.kind) {
        case Kind::View: {
          RunValue v = in(0);
          v.dims = viewShape(s, v.dims);
          values[s.outputs[0]] = v;
          break;
        }
        case Kind::Eltwise: {
          std::vector<Dims> leafDims;
          Dims shape;
          for (const Leaf& l : s.leaves) {
            Dims d = values[l.value].dims;
            sdk::require(values[l.value].set, SY_ERROR_INTERNAL, "leaf never computed");
            if (l.channelRank > 0) {
              sdk::require(d.size() == 1, SY_ERROR_INVALID_ARGUMENT, "batch_norm parameter is not 1-D");
              Dims v(static_cast<size_t>(l.channelRank), 1);
              v[1] = d[0];
              d = v;
            }
            shape = broadcastShape(shape, d);
            leafDims.push_back(std::move(d));
          }
          const int64_t n = sdk::elementCount(shape);
          std::vector<std::pair<uint32_t, const RunValue*>> slots;
          std::vector<uint32_t> words = {u32(shape.size()), u32(s.leaves.size()), u32(s.eltOutputs.size()),
                                         u32(s.instrs.size())};
          for (int64_t d : shape) words.push_back(u32(d));
          const Dims outStrides = rowMajorStrides(shape);
          for (size_t l = 0; l < s.leaves.size(); ++l) {
            const RunValue& v = values[s.leaves[l].value];
            slots.emplace_back(static_cast<uint32_t>(l), &v);
            const Dims st = broadcastStrides(leafDims[l], shape);
            const bool scalar = sdk::elementCount(leafDims[l]) == 1;
            const bool dense = !scalar && st == outStrides;
            words.push_back(u32(l));
            words.push_back(v.dtype == SY_DTYPE_F32 ? 0u : 1u);
            words.push_back(scalar ? 1u : dense ? 0u : 2u);
            for (int64_t x : st) words.push_back(u32(x));
          }
          const uint32_t L = static_cast<uint32_t>(s.leaves.size());
          auto reg = [&](const Operand& o) { return o.leaf ? o.index : L + o.index; };
          for (size_t o = 0; o < s.eltOutputs.size(); ++o) {
            const EltOutput& e = s.eltOutputs[o];
            RunValue& v = allocate(e.value, e.dtype, shape);
            slots.emplace_back(static_cast<uint32_t>(kMaxLeaves + o), &v);
            words.push_back(u32(kMaxLeaves + o));
            words.push_back(e.dtype == SY_DTYPE_F32 ? 0u : 1u);
            words.push_back(L + e.instr);
          }
          for (size_t k = 0; k < s.instrs.size(); ++k) {
            const Instr& ins = s.instrs[k];
            words.insert(words.end(), {ins.op, L + static_cast<uint32_t>(k), reg(ins.a), reg(ins.b), reg(ins.c),
                                       fbits(ins.i0), fbits(ins.i1)});
          }
          if (n == 0) break;
          Command c = dispatch(s, Shader::Eltwise, slots, words, u32(n));
          grid(c, (static_cast<uint64_t>(n) + 3) / 4, wg);
          finish(std::move(c));
          break;
        }
        case Kind::Matmul:
        case Kind::Gemm: {
          Dims a = in(0).dims, b = in(1).dims;
          const bool gemm = s.kind == Kind::Gemm;
          const bool aVec = a.size() == 1, bVec = b.size() == 1;
          if (aVec) a.insert(a.begin(), 1);
          if (bVec) b.push_back(1);
          const size_t ra = a.size(), rb = b.size();
          const int64_t M = gemm && s.transA ? a[1] : a[ra - 2], Ka = gemm && s.transA ? a[0] : a[ra - 1];
          const int64_t Kb = gemm && s.transB ? b[1] : b[rb - 2], N = gemm && s.transB ? b[0] : b[rb - 1];
          if (!(Ka == Kb))
            sdk::fail(SY_ERROR_INVALID_ARGUMENT, "inner dims differ: ", sdk::formatDims(in(0).dims), " and ",
                      sdk::formatDims(in(1).dims));
          const Dims batchA(a.begin(), a.end() - 2), batchB(b.begin(), b.end() - 2);
          const Dims batch = broadcastShape(batchA, batchB);
          Dims out = batch;
          if (!aVec) out.push_back(M);
          if (!bVec) out.push_back(N);
          if (gemm) out = {M, N};
          const int64_t batches = sdk::elementCount(batch);
          RunValue& y = allocate(s.outputs[0], SY_DTYPE_F32, out);
          if (M == 0 || N == 0 || batches == 0) break;
          const Dims sa = broadcastStrides(batchA, batch), sb = broadcastStrides(batchB, batch);
          const int64_t sam = gemm && s.transA ? 1 : Ka, sak = gemm && s.transA ? M : 1;
          const int64_t sbk = gemm && s.transB ? 1 : N, sbn = gemm && s.transB ? Kb : 1;
          int64_t scm = 0, scn = 0;
          uint32_t hasC = 0;
          const RunValue* c = nullptr;
          if (gemm && s.inputs.size() == 3) {
            const Dims& cd = in(2).dims;
            if (!(broadcastShape(cd, out) == out))
              sdk::fail(SY_ERROR_INVALID_ARGUMENT, "c ", sdk::formatDims(cd), " does not broadcast to ",
                        sdk::formatDims(out));
            const Dims cs = broadcastStrides(cd, out);
            scm = cs[0];
            scn = cs[1];
            c = &in(2);
            hasC = sdk::elementCount(cd) > 0 ? 1 : 0;
          }
          std::vector<uint32_t> words = {u32(M), u32(N), u32(Ka), u32(batch.size()), u32(sam), u32(sak), u32(sbk),
                                         u32(sbn), hasC, u32(scm), u32(scn), fbits(gemm ? s.alpha : 1.0f),
                                         fbits(gemm ? s.beta : 0.0f)};
          for (int64_t d : batch) words.push_back(u32(d));
          for (int64_t d : sa) words.push_back(u32(d * M * Ka));
          for (int64_t d : sb) words.push_back(u32(d * Kb * N));
          std::vector<std::pair<uint32_t, const RunValue*>> slots = {{0, &in(0)}, {1, &in(1)}, {3, &y}};
          if (c != nullptr) slots.emplace_back(2, c);
          Command cmd = dispatch(s, Shader::Matmul, slots, words, 0);
          const uint32_t tile = ctx.matmulTile();
          cmd.spec = {tile, tile};
          cmd.groups[0] = u32((N + tile - 1) / tile);
          cmd.groups[1] = u32((M + tile - 1) / tile);
          cmd.groups[2] = u32(batches);
          sdk::require(cmd.groups[1] <= ctx.properties().limits.maxComputeWorkGroupCount[1] &&
                           cmd.groups[2] <= ctx.properties().limits.maxComputeWorkGroupCount[2],
                       SY_ERROR_UNIMPLEMENTED, "matmul too large for one dispatch");
          finish(std::move(cmd));
          break;
        }
        case Kind::Conv:
        case Kind::Pool: {
          const bool conv = s.kind == Kind::Conv;
          const Dims& x = in(0).dims;
          const size_t spatial = x.size() - 2;
          Dims kernel;
          int64_t M = x[1];
          if (conv) {
            const Dims& w = in(1).dims;
            sdk::require(w.size() == x.size(), SY_ERROR_INVALID_ARGUMENT, "w rank differs from x");
            M = w[0];
            kernel.assign(w.begin() + 2, w.end());
            if (!(s.group >= 1 && x[1] % s.group == 0 && M % s.group == 0 && w[1] * s.group == x[1]))
              sdk::fail(SY_ERROR_INVALID_ARGUMENT, "channels ", x[1], " and ", M, " do not fit group ", s.group,
                        " with w ", sdk::formatDims(w));
            if (!s.lists[0].empty()) {
              sdk::require(s.lists[0] == kernel, SY_ERROR_INVALID_ARGUMENT, "kernel_shape differs from w");
            }
            if (s.inputs.size() == 3) {
              sdk::require(in(2).dims == Dims{M}, SY_ERROR_INVALID_ARGUMENT, "bias is not [", M, "]");
            }
          } else {
            kernel = s.lists[0];
          }
          Dims out = {x[0], M};
          std::vector<Window> windows;
          for (size_t d = 0; d < spatial; ++d) {
            const int64_t stride = s.lists[1].empty() ? 1 : s.lists[1][d];
            const int64_t dil = s.lists[3].empty() ? 1 : s.lists[3][d];
            windows.push_back(spatialWindow(s, d, spatial, x[2 + d], kernel[d], stride, dil, !conv));
            out.push_back(windows.back().out);
          }
          RunValue& y = allocate(s.outputs[0], SY_DTYPE_F32, out);
          const int64_t n = sdk::elementCount(out);
          if (n == 0) break;
          // 1-D runs as 2-D with H = 1.
          auto sp = [&](const Dims& l, size_t d, int64_t dflt) { return l.empty() ? dflt : l[d]; };
          const bool one = spatial == 1;
          const int64_t H = one ? 1 : x[2], W = x[2 + (one ? 0 : 1)];
          const int64_t OH = one ? 1 : out[2], OW = out[2 + (one ? 0 : 1)];
          const int64_t KH = one ? 1 : kernel[0], KW = kernel[one ? 0 : 1];
          const size_t dw = one ? 0 : 1;
          const int64_t sh = one ? 1 : sp(s.lists[1], 0, 1), sw = sp(s.lists[1], dw, 1);
          const int64_t dh = one ? 1 : sp(s.lists[3], 0, 1), dwl = sp(s.lists[3], dw, 1);
          const int64_t ph = one ? 0 : windows[0].padBegin, pw = windows[dw].padBegin;
          const int64_t phEnd = one ? 0 : windows[0].padEnd, pwEnd = windows[dw].padEnd;
          Command c;
          if (conv) {
            const bool bias = s.inputs.size() == 3;
            std::vector<uint32_t> words = {u32(x[0]), u32(x[1]), u32(H), u32(W), u32(M), u32(OH), u32(OW), u32(KH),
                                           u32(KW), u32(sh), u32(sw), u32(ph), u32(pw), u32(dh), u32(dwl),
                                           u32(s.group), bias ? 1u : 0u};
            std::vector<std::pair<uint32_t, const RunValue*>> slots = {{0, &in(0)}, {1, &in(1)}, {3, &y}};
            if (bias) slots.emplace_back(2, &in(2));
            c = dispatch(s, Shader::Conv2d, slots, words, u32(n));
          } else {
            std::vector<uint32_t> words = {u32(x[0] * x[1]), u32(H), u32(W), u32(OH), u32(OW), u32(KH), u32(KW),
                                           u32(sh), u32(sw), u32(ph), u32(pw), u32(dh), u32(dwl),
                                           s.code == 1 ? 1u : 0u, s.countIncludePad ? 1u : 0u, u32(phEnd),
                                           u32(pwEnd)};
            c = dispatch(s, Shader::Pool2d, {{0, &in(0)}, {1, &y}}, words, u32(n));
          }
          grid(c, static_cast<uint64_t>(n), wg);
          finish(std::move(c));
          break;
        }
        case Kind::Reduce: {
          const Dims x = in(0).dims;
          std::vector<bool> reduced(x.size(), s.ints.empty() && !s.noopWithEmptyAxes);
          for (int64_t a : s.ints) reduced.at(normAxis(a, x.size())) = true;
          Dims keep(x.size()), red(x.size()), out;
          int64_t count = 1;
          for (size_t i = 0; i < x.size(); ++i) {
            keep[i] = reduced[i] ? 1 : x[i];
            red[i] = reduced[i] ? x[i] : 1;
            if (reduced[i]) count *= x[i];
            if (!reduced[i] || s.keepdims) out.push_back(keep[i]);
          }
          RunValue& y = allocate(s.outputs[0], SY_DTYPE_F32, out);
          const int64_t n = sdk::elementCount(keep);
          if (n == 0) break;
          const Dims st = rowMajorStrides(x);
          std::vector<uint32_t> words = {u32(x.size())};
          for (int64_t d : keep) words.push_back(u32(d));
          for (int64_t d : st) words.push_back(u32(d));
          for (int64_t d : red) words.push_back(u32(d));
          Command c = dispatch(s, Shader::Reduce, {{0, &in(0)}, {1, &y}}, words, u32(n), u32(s.code), u32(count));
          grid(c, static_cast<uint64_t>(n), wg);
          finish(std::move(c));
          break;
        }
        case Kind::RowNorm: {
          const Dims x = in(0).dims;
          const size_t axis = normAxis(s.axis, x.size());
          sdk::require(axis < x.size(), SY_ERROR_INVALID_ARGUMENT, "axis ", s.axis, " out of range");
          RunValue& y = allocate(s.outputs[0], SY_DTYPE_F32, x);
          int64_t len, inner, rows;
          std::vector<std::pair<uint32_t, const RunValue*>> slots = {{0, &in(0)}, {1, &y}};
          uint32_t scaleCount = 1, biasCount = 1, hasBias = 0;
          if (s.code == 2) {
            len = product(x, axis, x.size());
            inner = 1;
            rows = product(x, 0, axis);
            scaleCount = u32(std::max<int64_t>(sdk::elementCount(in(1).dims), 1));
            slots.emplace_back(2, &in(1));
            if (s.inputs.size() == 3) {
              hasBias = 1;
              biasCount = u32(std::max<int64_t>(sdk::elementCount(in(2).dims), 1));
              slots.emplace_back(3, &in(2));
            }
            sdk::require(len % scaleCount == 0 && len % biasCount == 0, SY_ERROR_INVALID_ARGUMENT,
                         "scale/bias do not broadcast to the normalised dims");
          } else {
            len = x[axis];
            inner = product(x, axis + 1, x.size());
            rows = product(x, 0, axis) * inner;
          }
          if (rows == 0 || len == 0) break;
          std::vector<uint32_t> words = {u32(s.code), u32(len), u32(inner), u32(rows), scaleCount, hasBias,
                                         biasCount, fbits(s.epsilon)};
          Command c = dispatch(s, Shader::RowNorm, slots, words, 0);
          grid(c, static_cast<uint64_t>(rows) * wg, wg);  // one work group per row
          finish(std::move(c));
          break;
        }
        case Kind::Transpose:
        case Kind::Slice:
        case Kind::Expand: {
          const RunValue& xv = in(0);
          const Dims& x = xv.dims;
          const Dims st = rowMajorStrides(x);
          Dims dims, src;
          int64_t base = 0;
          if (s.kind == Kind::Transpose) {
            Dims perm = s.ints;
            if (perm.empty()) {
              for (size_t i = x.size(); i-- > 0;) perm.push_back(static_cast<int64_t>(i));
            }
            sdk::require(perm.size() == x.size(), SY_ERROR_INVALID_ARGUMENT, "perm does not match rank ", x.size());
            for (int64_t p : perm) {
              sdk::require(p >= 0 && static_cast<size_t>(p) < x.size(), SY_ERROR_INVALID_ARGUMENT, "perm entry ", p,
                           " out of range");
              dims.push_back(x[static_cast<size_t>(p)]);
              src.push_back(st[static_cast<size_t>(p)]);
            }
          } else if (s.kind == Kind::Expand) {
            dims = broadcastShape(x, s.ints);
            src = broadcastStrides(x, dims);
          } else {
            const Dims& starts = s.lists[0];
            const Dims& ends = s.lists[1];
            Dims axes = s.lists[2], steps = s.lists[3];
            sdk::require(starts.size() == ends.size(), SY_ERROR_INVALID_ARGUMENT, "starts and ends differ in length");
            if (axes.empty()) {
              for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
            }
            if (steps.empty()) steps.assign(starts.size(), 1);
            sdk::require(axes.size() == starts.size() && steps.size() == starts.size(), SY_ERROR_INVALID_ARGUMENT,
                         "slice axes/steps do not match starts");
            dims = x;
            src = st;
            const int64_t r = static_cast<int64_t>(x.size());
            std::vector<bool> seen(x.size(), false);
            for (size_t k = 0; k < starts.size(); ++k) {
              sdk::require(axes[k] >= -r && axes[k] < r, SY_ERROR_INVALID_ARGUMENT, "slice axis ", axes[k],
                           " out of range");
              const size_t a = normAxis(axes[k], x.size());
              // A repeated axis would add its start to the base twice.
              sdk::require(!seen[a], SY_ERROR_INVALID_ARGUMENT, "slice axis ", axes[k], " repeated");
              seen[a] = true;
              const int64_t d = x[a];
              sdk::require(steps[k] != 0, SY_ERROR_INVALID_ARGUMENT, "slice step 0");
              // A step beyond the dim takes at most one element, as a step of
              // d + 1 does; clamping keeps the arithmetic below from overflowing
              // (steps of INT64_MAX / INT64_MIN are legal).
              const int64_t step = std::clamp<int64_t>(steps[k], -(d + 1), d + 1);
              // ONNX clamping, as the reference (core/src/ops/shape.cpp clampSlice).
              int64_t b = starts[k], e = ends[k];
              if (b < 0) b += d;
              if (e < 0) e += d;
              int64_t len = 0;
              if (d == 0) {
                b = 0;
              } else if (step > 0) {
                b = std::clamp<int64_t>(b, 0, d);
                e = std::clamp<int64_t>(e, 0, d);
                len = e > b ? (e - b - 1) / step + 1 : 0;
              } else {
                b = std::clamp<int64_t>(b, 0, d - 1);
                e = std::clamp<int64_t>(e, -1, d - 1);
                len = b > e ? (b - e - 1) / -step + 1 : 0;
              }
              dims[a] = len;
              if (len > 0) base += b * st[a];
              src[a] = st[a] * step;
            }
          }
          RunValue& y = allocate(s.outputs[0], xv.dtype, dims);
          const int64_t n = sdk::elementCount(dims);
          if (n == 0) break;
          std::vector<uint32_t> words = {u32(dims.size()), u32(base), 0};
          for (int64_t d : dims) words.push_back(u32(d));
          for (int64_t d : src) words.push_back(static_cast<uint32_t>(static_cast<int32_t>(d)));
          for (int64_t d : rowMajorStrides(dims)) words.push_back(u32(d));
          Command c = dispatch(s, Shader::Copy, {{0, &xv}, {1, &y}}, words, u32(n),
                               static_cast<uint32_t>(sdk::dtypeSize(xv.dtype) / 4));
          grid(c, static_cast<uint64_t>(n), wg);
          finish(std::move(c));
          break;
        }
        case Kind::Concat: {
          const size_t rank = in(0).dims.size();
          const size_t axis = normAxis(s.axis, rank);
          Dims out = in(0).dims;
          out[axis] = 0;
          for (size_t i = 0; i < s.inputs.size(); ++i) {
            const Dims& d = in(i).dims;
            sdk::require(d.size() == rank, SY_ERROR_INVALID_ARGUMENT, "concat inputs of different ranks");
            for (size_t k = 0; k < rank; ++k) {
              if (!(k == axis || d[k] == out[k]))
                sdk::fail(SY_ERROR_INVALID_ARGUMENT, "concat input ", i, " ", sdk::formatDims(d), " does not match ",
                          sdk::formatDims(in(0).dims));
            }
            out[axis] += d[axis];
          }
          RunValue& y = allocate(s.outputs[0], in(0).dtype, out);
          const Dims ost = rowMajorStrides(out);
          int64_t at = 0;
          for (size_t i = 0; i < s.inputs.size(); ++i) {
            const RunValue& xv = in(i);
            const int64_t n = sdk::elementCount(xv.dims);
            if (n > 0) {
              std::vector<uint32_t> words = {u32(rank), 0, u32(at * ost[axis])};
              for (int64_t d : xv.dims) words.push_back(u32(d));
              for (int64_t d : rowMajorStrides(xv.dims)) words.push_back(u32(d));
              for (int64_t d : ost) words.push_back(u32(d));
              Command c = dispatch(s, Shader::Copy, {{0, &xv}, {1, &y}}, words, u32(n),
                                   static_cast<uint32_t>(sdk::dtypeSize(xv.dtype) / 4));
              grid(c, static_cast<uint64_t>(n), wg);
              c.reads = {xv.memory};
              c.writes = {y.memory};
              commands.push_back(std::move(c));
            }
            at += xv.dims[axis];
          }
          break;
        }
        case Kind::Gather: {
          const RunValue& data = in(0);
          const RunValue& idx = in(1);
          const size_t axis = normAxis(s.axis, data.dims.size());
          const int64_t len = data.dims[axis];
          Dims out(data.dims.begin(), data.dims.begin() + static_cast<std::ptrdiff_t>(axis));
          out.insert(out.end(), idx.dims.begin(), idx.dims.end());
          out.insert(out.end(), data.dims.begin() + static_cast<std::ptrdiff_t>(axis) + 1, data.dims.end());
          const int64_t count = sdk::elementCount(idx.dims);
          // Indices in host-visible memory that no dispatch of this run
          // writes (inputs, constants) are checked here; others read as 0
          // when out of range.
          if (idx.memory < 0 && idx.mapped != nullptr) {
            for (int64_t j = 0; j < count; ++j) {
              int64_t v;
              if (idx.dtype == SY_DTYPE_I64) {
                std::memcpy(&v, idx.mapped + j * 8, 8);
              } else {
                int32_t w;
                std::memcpy(&w, idx.mapped + j * 4, 4);
                v = w;
              }
              sdk::require(v >= -len && v < len, SY_ERROR_INVALID_ARGUMENT, "gather index ", v,
                           " is out of range for axis ", axis, " of size ", len);
            }
          }
          RunValue& y = allocate(s.outputs[0], data.dtype, out);
          const int64_t n = sdk::elementCount(out);
          if (n == 0) break;
          std::vector<uint32_t> words = {u32(product(data.dims, 0, axis)), u32(len),
                                         u32(product(data.dims, axis + 1, data.dims.size())), u32(count)};
          Allocation flag = ctx.hostArena().allocate(4);
          errorFlags.flags.emplace_back(s.describe, flag);
          std::memset(flag.mapped, 0, 4);
          flagValues.push_back(RunValue{flag.buffer, flag.offset, flag.size, flag.mapped, {1}, SY_DTYPE_I32, -1, true});
          Command c = dispatch(s, Shader::Gather, {{0, &data}, {1, &idx}, {2, &y}, {3, &flagValues.back()}}, words, u32(n),
                               static_cast<uint32_t>(sdk::dtypeSize(data.dtype) / 4),
                               idx.dtype == SY_DTYPE_I64 ? 1u : 0u);
          grid(c, static_cast<uint64_t>(n), wg);
          finish(std::move(c));
          break;
        }
      }
      for (int32_t o : s.outputs) checkDeclared(declared_[static_cast<size_t>(o)], values[o].dims, "the result");
    } catch (const sdk::Error& e) {
      sdk::fail(e.code(), s.describe, ": ", e.what());
    }
  }

  // Outputs: an intermediate becomes the output's buffer; an input, a
  // constant or memory already handed out gets a copy (recorded below).
  for (size_t i = 0; i < returns_.size(); ++i) {
    RunValue& v = values[returns_[i]];
    sdk::require(v.set, SY_ERROR_INTERNAL, "region output ", i, " was never computed");
    const int32_t dtype = returnDtypes_[i];
    const size_t bytes = sdk::tensorBytes(dtype, v.dims);
    if (v.memory >= 0 && !handedOut[static_cast<size_t>(v.memory)]) {
      handedOut[static_cast<size_t>(v.memory)] = true;
      outBuffers[i] = std::make_unique<VkBuf>(ctx, bytes, owned[static_cast<size_t>(v.memory)]);
    } else {
      outBuffers[i] = backend_.allocateVk(bytes);
      if (bytes > 0) {
        Command c;
        c.copy = true;
        c.src = v.buffer;
        c.dst = outBuffers[i]->allocation().buffer;
        c.region = VkBufferCopy{v.offset, outBuffers[i]->allocation().offset, bytes};
        c.reads = {v.memory};
        c.describe = "copying an output";
        commands.push_back(std::move(c));
      }
    }
  }

  if (!commands.empty()) {
    // Metadata in host-visible memory, bound per dispatch at its offset.
    Allocation metaAlloc = ctx.hostArena().allocate(std::max<size_t>(meta.size(), 1) * 4);
    struct MetaFree {
      DeviceContext& ctx;
      Allocation a;
      ~MetaFree() { ctx.hostArena().free(a); }
    } metaFree{ctx, metaAlloc};
    if (!meta.empty()) std::memcpy(metaAlloc.mapped, meta.data(), meta.size() * 4);

    size_t dispatches = 0;
    for (const Command& c : commands) dispatches += c.copy ? 0 : 1;
    std::unique_ptr<ExecContext> exec = ctx.acquireExec();
    VkDevice device = ctx.device();
    try {
      if (dispatches > 0) {
        if (exec->descriptorCapacity < dispatches) {
          if (exec->descriptors != VK_NULL_HANDLE) vkDestroyDescriptorPool(device, exec->descriptors, nullptr);
          exec->descriptors = VK_NULL_HANDLE;
          const uint32_t capacity = static_cast<uint32_t>(std::max<size_t>(dispatches * 2, 16));
          VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, capacity * (kSlots + 1)};
          VkDescriptorPoolCreateInfo info{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
          info.maxSets = capacity;
          info.poolSizeCount = 1;
          info.pPoolSizes = &size;
          checkVk(vkCreateDescriptorPool(device, &info, nullptr, &exec->descriptors), "vkCreateDescriptorPool");
          exec->descriptorCapacity = capacity;
        } else {
          checkVk(vkResetDescriptorPool(device, exec->descriptors, 0), "vkResetDescriptorPool");
        }
      }
      std::vector<VkDescriptorSetLayout> layouts(dispatches, ctx.setLayout());
      std::vector<VkDescriptorSet> sets(dispatches);
      if (dispatches > 0) {
        VkDescriptorSetAllocateInfo alloc{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
        alloc.descriptorPool = exec->descriptors;
        alloc.descriptorSetCount = static_cast<uint32_t>(dispatches);
        alloc.pSetLayouts = layouts.data();
        checkVk(vkAllocateDescriptorSets(device, &alloc, sets.data()), "vkAllocateDescriptorSets");
      }
      std::vector<VkDescriptorBufferInfo> infos;
      infos.reserve(dispatches * (kSlots + 1));
      std::vector<VkWriteDescriptorSet> writes;
      size_t d = 0;
      for (const Command& c : commands) {
        if (c.copy) continue;
        const size_t first = infos.size();
        for (uint32_t b = 0; b < kSlots; ++b) infos.push_back({c.slots[b].buffer, c.slots[b].offset, c.slots[b].range});
        infos.push_back({metaAlloc.buffer, metaAlloc.offset + c.metaOffset * 4, c.metaWords * 4});
        VkWriteDescriptorSet w{VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
        w.dstSet = sets[d++];
        w.dstBinding = 0;
        w.descriptorCount = kSlots + 1;
        w.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        w.pBufferInfo = &infos[first];
        writes.push_back(w);
      }
      if (!writes.empty()) vkUpdateDescriptorSets(device, static_cast<uint32_t>(writes.size()), writes.data(), 0, nullptr);

      // Record: one barrier before any command that reads (or, for safety,
      // writes) memory written since the last barrier.
      VkCommandBuffer cmd = exec->cmd;
      checkVk(vkResetCommandBuffer(cmd, 0), "vkResetCommandBuffer");
      VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
      begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
      checkVk(vkBeginCommandBuffer(cmd, &begin), "vkBeginCommandBuffer");
      const VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
      auto barrier = [&](VkPipelineStageFlags dstStages, VkAccessFlags dstAccess) {
        VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
        mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
        mb.dstAccessMask = dstAccess;
        vkCmdPipelineBarrier(cmd, stages, dstStages, 0, 1, &mb, 0, nullptr, 0, nullptr);
      };
      std::set<int32_t> dirty;
      VkPipeline bound = VK_NULL_HANDLE;
      d = 0;
      for (const Command& c : commands) {
        bool hazard = false;
        for (int32_t r : c.reads) hazard |= r >= 0 && dirty.count(r) > 0;
        for (int32_t w : c.writes) hazard |= w >= 0 && dirty.count(w) > 0 && c.copy;
        if (hazard) {
          barrier(stages, VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                              VK_ACCESS_TRANSFER_WRITE_BIT);
          dirty.clear();
        }
        if (c.copy) {
          vkCmdCopyBuffer(cmd, c.src, c.dst, 1, &c.region);
        } else {
          VkPipeline p = ctx.pipeline(c.shader, c.spec);
          if (p != bound) {
            vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p);
            bound = p;
          }
          vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, ctx.pipelineLayout(), 0, 1, &sets[d++], 0,
                                  nullptr);
          vkCmdPushConstants(cmd, ctx.pipelineLayout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, 16, c.push);
          vkCmdDispatch(cmd, c.groups[0], c.groups[1], c.groups[2]);
        }
        for (int32_t w : c.writes) dirty.insert(w);
      }
      // Make the results visible to the host (mapped memory is read directly).
      barrier(VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
      checkVk(vkEndCommandBuffer(cmd), "vkEndCommandBuffer");
      ctx.submitAndWait(cmd, exec->fence, "vkWaitForFences");
    } catch (...) {
      ctx.discardExec(std::move(exec));
      throw;
    }
    ctx.releaseExec(std::move(exec));
  }
  for (const auto& [describe, flag] : errorFlags.flags) {
    uint32_t bad = 0;
    std::memcpy(&bad, flag.mapped, 4);
    sdk::require(bad == 0, SY_ERROR_INVALID_ARGUMENT, describe, ": an index is out of range");
  }

  for (size_t i = 0; i < returns_.size(); ++i) {
    outputs[i].set(std::move(outBuffers[i]), returnDtypes_[i], values[returns_[i]].dims);
  }
}

}  // namespace

std::unique_ptr<sdk::CompiledRegion> compileRegion(VulkanBackend& backend, const sdk::GraphView& region) {
  return std::make_unique<VulkanRegion>(backend, region);
}

}  // namespace sy_vulkan
