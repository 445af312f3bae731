// Compiled regions: how a region becomes a list of steps (kernels and
// metadata-only views), and how execute runs them on the backend's queue.
// The capability rules are in capability.cpp.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "data_ops_cl.h"
#include "matmul_cl.h"
#include "nn_cl.h"
#include "ops.h"
#include "tensor_ops_cl.h"

namespace sy_opencl {
namespace {

// ============================================================================
// Kernel arguments

void setArg(cl_kernel k, cl_uint i, cl_mem m) { checkCl(clSetKernelArg(k, i, sizeof(cl_mem), &m), "clSetKernelArg"); }
void setArg(cl_kernel k, cl_uint i, cl_int v) { checkCl(clSetKernelArg(k, i, sizeof(v), &v), "clSetKernelArg"); }
void setArg(cl_kernel k, cl_uint i, cl_long v) { checkCl(clSetKernelArg(k, i, sizeof(v), &v), "clSetKernelArg"); }
void setArg(cl_kernel k, cl_uint i, cl_float v) { checkCl(clSetKernelArg(k, i, sizeof(v), &v), "clSetKernelArg"); }
template <class... Args>
void setArgs(cl_kernel k, Args... args) {
  cl_uint i = 0;
  (setArg(k, i++, args), ...);
}

Kernel makeKernel(cl_program program, const char* name) {
  cl_int err = CL_SUCCESS;
  Kernel k(clCreateKernel(program, name, &err));
  checkCl(err, "clCreateKernel");
  return k;
}

cl_long L(int64_t v) { return static_cast<cl_long>(v); }

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
// Window arithmetic (conv, pools): the reference's rules (core/src/ops/nn.cpp
// forwardAxis), on concrete dims at run time.

struct WindowAttrs {
  std::string autoPad = "NOTSET";
  Dims strides, dilations, pads, kernel;
  bool ceilMode = false;
};

/// meta for sy_conv / sy_pool: in, out, kernel, stride, dilation, pad_begin,
/// pad_end (r values each), and the output spatial dims.
Dims windowMeta(const WindowAttrs& w, const Dims& in, const Dims& kernel, Dims& outSpatial) {
  const size_t r = in.size();
  Dims strides = w.strides.empty() ? Dims(r, 1) : w.strides;
  Dims dil = w.dilations.empty() ? Dims(r, 1) : w.dilations;
  Dims pads = w.pads.empty() ? Dims(2 * r, 0) : w.pads;
  sdk::require(strides.size() == r && dil.size() == r && pads.size() == 2 * r && kernel.size() == r,
               SY_ERROR_INVALID_ARGUMENT, "window attributes do not match ", r, " spatial dims");
  const bool same = w.autoPad == "SAME_UPPER" || w.autoPad == "SAME_LOWER";
  const bool notSet = w.autoPad == "NOTSET" || w.autoPad.empty();
  Dims out(r), pb(r), pe(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t s = strides[i], d = dil[i], k = kernel[i], eff = (k - 1) * d + 1;
    if (same) {
      out[i] = in[i] == 0 ? 0 : (in[i] - 1) / s + 1;
      const int64_t total = std::max<int64_t>(0, (out[i] - 1) * s + eff - in[i]);
      pb[i] = w.autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe[i] = total - pb[i];
      continue;
    }
    if (notSet) {
      pb[i] = pads[i];
      pe[i] = pads[i + r];
    }
    const int64_t padded = in[i] + pb[i] + pe[i];
    sdk::require(padded >= eff, SY_ERROR_INVALID_ARGUMENT, "kernel of size ", eff,
                 " is larger than the padded input (", padded, ") along spatial dim ", i);
    const int64_t span = padded - eff;
    out[i] = span / s + 1;
    if (w.ceilMode && span % s != 0) {
      ++out[i];
      if ((out[i] - 1) * s >= in[i] + pb[i]) --out[i];
    }
  }
  outSpatial = out;
  Dims m = in;
  for (const Dims* part : std::initializer_list<const Dims*>{&out, &kernel, &strides, &dil, &pb, &pe}) {
    m.insert(m.end(), part->begin(), part->end());
  }
  return m;
}

// ============================================================================
// Steps

enum class Kind {
  Fused,      // generated f32 elementwise chain (same shapes)
  Binary,     // sy_binary: f32 with broadcasting
  Generic,    // generated typed elementwise kernel with broadcasting
  Matmul,
  Gemm,
  Softmax,
  Reduce,     // reductions and the global pools
  Transpose,  // sy_copy
  Slice,      // sy_copy
  Expand,     // sy_copy
  Concat,     // sy_copy, once per input
  Gather,
  Pad,
  Conv,
  Pool,
  BatchNorm,
  RowNorm,    // layer_norm, instance_norm
  View,
};

struct Step {
  Kind kind;
  std::string describe;        // for error messages
  std::vector<int32_t> inputs; // value indices
  int32_t output = -1;
  int32_t outDtype = SY_DTYPE_F32;
  cl_program program = nullptr;
  std::string kernelName;
  // attributes
  std::string op;
  int code = 0;                // binary op / reduce op / log_softmax flag / pad mode / row-norm mode
  Dims ints;                   // axes / perm / reshape shape / pads / expand shape
  Dims starts, ends, steps;    // slice (ints holds its axes)
  int64_t axis = 0;
  int64_t group = 1;
  bool keepdims = true, noopWithEmptyAxes = false, allowzero = false, transA = false, transB = false;
  bool flag = false;           // has bias / has constant value / count_include_pad / global pool
  bool hasAxes = false;
  float alpha = 1.0f, beta = 1.0f, epsilon = 1e-5f;
  WindowAttrs window;
};

// A value while a region runs: its memory and dims. `owner` is the value
// index whose buffer in `owned` holds the memory (-1: an input or constant).
struct RunValue {
  cl_mem mem = nullptr;
  Dims dims;
  int32_t owner = -1;
  bool set = false;
};

const char* elemType(size_t bytes) {
  switch (bytes) {
    case 1: return "uchar";
    case 2: return "ushort";
    case 4: return "uint";
    default: return "ulong";
  }
}

class OpenClRegion final : public sdk::CompiledRegion {
 public:
  OpenClRegion(OpenClBackend& backend, const sdk::GraphView& region)
      : backend_(backend), numValues_(region.numValues()) {
    Device& device = backend.device();
    const std::string& options = backend.buildOptions();
    cl_program tensorOps = nullptr, matmul = nullptr, nn = nullptr;
    cl_program dataOps[4] = {nullptr, nullptr, nullptr, nullptr};
    auto tensorProgram = [&] {
      if (tensorOps == nullptr) tensorOps = device.program(sy_opencl_kernels::tensor_ops, options);
      return tensorOps;
    };
    auto nnProgram = [&] {
      if (nn == nullptr) nn = device.program(sy_opencl_kernels::nn, options);
      return nn;
    };
    auto dataProgram = [&](int32_t dtype) {
      const size_t size = sdk::dtypeSize(dtype);
      const size_t slot = size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3;
      if (dataOps[slot] == nullptr) {
        dataOps[slot] = device.program(sy_opencl_kernels::data_ops, options + " -DELEM=" + elemType(size));
      }
      return dataOps[slot];
    };

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

    // Fused chains under construction: the sources are built here and
    // compiled when the chain closes.
    struct Chain {
      std::vector<int32_t> inputs;  // first: the chain's head input
      std::string body;
      int32_t output = -1;
      std::string describe;
    };
    std::optional<Chain> chain;
    auto closeChain = [&] {
      if (!chain) return;
      std::string src =
          "inline float sy_max(float a, float b) { return (isnan(a) || isnan(b)) ? NAN : fmax(a, b); }\n"
          "inline float sy_min(float a, float b) { return (isnan(a) || isnan(b)) ? NAN : fmin(a, b); }\n"
          "__kernel void sy_fused(";
      for (size_t i = 0; i < chain->inputs.size(); ++i) src += sdk::format("__global const float* in", i, ", ");
      src += "__global float* out, long n) {\n"
             "  const long first = get_global_id(0) * SY_VEC;\n"
             "  for (long i = first; i < first + SY_VEC && i < n; ++i) {\n"
             "  float v = in0[i];\n" + chain->body + "  out[i] = v;\n  }\n}\n";
      if (std::getenv("SY_OPENCL_DUMP_KERNELS") != nullptr) {
        std::fprintf(stderr, "[opencl] fused kernel for %s:\n%s", chain->describe.c_str(), src.c_str());
      }
      Step step;
      step.kind = Kind::Fused;
      step.describe = chain->describe;
      step.inputs = chain->inputs;
      step.output = chain->output;
      step.program = device.program(src, options);
      step.kernelName = "sy_fused";
      steps_.push_back(std::move(step));
      chain.reset();
    };

    for (size_t i = 0; i < body.numNodes(); ++i) {
      const sdk::NodeView node = body.node(i);
      const std::string reason = whyNot(region, node);
      if (!reason.empty()) sdk::fail(SY_ERROR_UNIMPLEMENTED, node.describe(), ": ", reason);
      const std::string_view op = node.op();
      const sdk::ValueView out = node.output(0);

      // f32 elementwise ops on same-shaped tensors join (or start) a fused chain.
      const bool generic = usesGenericKernel(node);
      const bool unary = !generic && isUnary(op);
      const bool fusableBinary = !generic && isBinary(op) && sameShape(node.input(0), node.input(1)) &&
                                 sameShape(node.input(0), out);
      if (unary || fusableBinary) {
        int chainOperand = -1;  // which input continues the open chain
        if (chain && uses[chain->output] == 1 && !isReturn[chain->output]) {
          for (size_t j = 0; j < node.numInputs(); ++j) {
            if (node.input(j).index() == chain->output) chainOperand = static_cast<int>(j);
          }
          if (fusableBinary && node.input(0).index() == node.input(1).index()) chainOperand = -1;
        }
        if (chainOperand < 0) {
          closeChain();
          chain = Chain{{node.input(0).index()}, "", -1, ""};
          chainOperand = 0;
        }
        std::string other = "v";
        if (fusableBinary) {
          const int32_t o = node.input(1 - chainOperand).index();
          chain->inputs.push_back(o);
          other = sdk::format("in", chain->inputs.size() - 1, "[i]");
        }
        const std::string expr = unary ? unaryExpr(node, "v")
                                 : chainOperand == 0 ? binaryExpr(op, "v", other)
                                                     : binaryExpr(op, other, "v");
        chain->body += "  v = " + expr + ";\n";
        chain->output = out.index();
        chain->describe += (chain->describe.empty() ? "" : " + ") + node.describe();
        continue;
      }
      closeChain();

      Step step;
      step.describe = node.describe();
      step.op = std::string(op);
      step.output = out.index();
      step.outDtype = out.dtype();
      for (size_t j = 0; j < node.numInputs(); ++j) {
        if (node.hasInput(j)) step.inputs.push_back(node.input(j).index());
      }
      auto use = [&](cl_program program, const char* name) {
        step.program = program;
        step.kernelName = name;
      };
      if (op == "constant" || op == "weight") {
        addConstant(node);
        continue;
      }
      if (generic) {
        step.kind = Kind::Generic;
        std::string src =
            "__kernel void sy_generic(";
        for (size_t j = 0; j < node.numInputs(); ++j) {
          src += sdk::format("__global const ", clType(node.input(j).dtype()), "* in", j, ", ");
        }
        src += sdk::format("__global ", clType(out.dtype()), "* out, __global const long* meta, int rank, long n) {\n",
                           "  const long i = get_global_id(0);\n  if (i >= n) return;\n");
        for (size_t j = 0; j < node.numInputs(); ++j) {
          src += sdk::format("  long o", j, " = 0;\n");
        }
        src += "  long r = i;\n  for (int d = rank - 1; d >= 0; --d) {\n    const long c = r % meta[d];\n"
               "    r /= meta[d];\n";
        for (size_t j = 0; j < node.numInputs(); ++j) {
          src += sdk::format("    o", j, " += c * meta[", j + 1, " * rank + d];\n");
        }
        src += "  }\n";
        for (size_t j = 0; j < node.numInputs(); ++j) {
          src += sdk::format("  const ", clType(node.input(j).dtype()), " a", j, " = in", j, "[o", j, "];\n");
        }
        src += "  out[i] = " + genericExpr(node) + ";\n}\n";
        if (std::getenv("SY_OPENCL_DUMP_KERNELS") != nullptr) {
          std::fprintf(stderr, "[opencl] kernel for %s:\n%s", step.describe.c_str(), src.c_str());
        }
        use(device.program(src, options), "sy_generic");
      } else if (isBinary(op)) {
        step.kind = Kind::Binary;
        step.code = binaryCode(op);
        use(tensorProgram(), "sy_binary");
      } else if (op == "matmul" || op == "gemm") {
        step.kind = op == "matmul" ? Kind::Matmul : Kind::Gemm;
        if (matmul == nullptr) matmul = device.program(sy_opencl_kernels::matmul, options);
        use(matmul, "sy_matmul");
        step.alpha = static_cast<float>(node.attrFloat("alpha", 1.0));
        step.beta = static_cast<float>(node.attrFloat("beta", 1.0));
        step.transA = node.attrInt("transA", 0) != 0;
        step.transB = node.attrInt("transB", 0) != 0;
      } else if (op == "softmax" || op == "log_softmax") {
        step.kind = Kind::Softmax;
        step.code = op == "log_softmax" ? 1 : 0;
        step.axis = node.attrInt("axis", -1);
        use(tensorProgram(), "sy_softmax");
      } else if (reduceCode(op) >= 0 || op == "global_avg_pool" || op == "global_max_pool") {
        step.kind = Kind::Reduce;
        if (op == "global_avg_pool" || op == "global_max_pool") {
          step.code = op == "global_avg_pool" ? 1 : 2;
          for (int64_t a = 2; a < node.input(0).rank(); ++a) step.ints.push_back(a);
        } else {
          step.code = reduceCode(op);
          step.ints = node.attrInts("axes");
          step.keepdims = node.attrInt("keepdims", 1) != 0;
          step.noopWithEmptyAxes = node.attrInt("noop_with_empty_axes", 0) != 0;
        }
        use(tensorProgram(), "sy_reduce");
      } else if (op == "transpose" || op == "slice" || op == "expand" || op == "concat") {
        step.kind = op == "transpose" ? Kind::Transpose
                    : op == "slice"   ? Kind::Slice
                    : op == "expand"  ? Kind::Expand
                                      : Kind::Concat;
        use(dataProgram(out.dtype()), "sy_copy");
        if (op == "transpose") step.ints = node.attrInts("perm");
        if (op == "concat") step.axis = node.attrInt("axis", 0);
        if (op == "expand") {
          step.ints = *constantInts(region, node.input(1));
          step.inputs.resize(1);
        }
        if (op == "slice") {
          step.starts = *constantInts(region, node.input(1));
          step.ends = *constantInts(region, node.input(2));
          step.hasAxes = node.numInputs() > 3 && node.hasInput(3);
          if (step.hasAxes) step.ints = *constantInts(region, node.input(3));
          if (node.numInputs() > 4 && node.hasInput(4)) step.steps = *constantInts(region, node.input(4));
          step.inputs.resize(1);
        }
      } else if (op == "gather") {
        step.kind = Kind::Gather;
        step.axis = node.attrInt("axis", 0);
        use(dataProgram(out.dtype()), node.input(1).dtype() == SY_DTYPE_I32 ? "sy_gather_i32" : "sy_gather_i64");
      } else if (op == "pad") {
        step.kind = Kind::Pad;
        step.ints = *constantInts(region, node.input(1));
        const std::string mode = node.attrString("mode", "constant");
        step.code = mode == "constant" ? 0 : mode == "reflect" ? 1 : 2;
        step.flag = node.numInputs() > 2 && node.hasInput(2);
        step.inputs = {node.input(0).index()};
        if (step.flag) step.inputs.push_back(node.input(2).index());
        use(dataProgram(out.dtype()), "sy_pad");
      } else if (op == "conv" || op == "max_pool" || op == "avg_pool") {
        step.kind = op == "conv" ? Kind::Conv : Kind::Pool;
        step.window.autoPad = node.attrString("auto_pad", "NOTSET");
        step.window.strides = node.attrInts("strides");
        step.window.dilations = node.attrInts("dilations");
        step.window.pads = node.attrInts("pads");
        step.window.kernel = node.attrInts("kernel_shape");
        step.window.ceilMode = node.attrInt("ceil_mode", 0) != 0;
        step.group = node.attrInt("group", 1);
        step.code = op == "max_pool" ? 1 : 0;
        step.flag = op == "conv" ? step.inputs.size() == 3 : node.attrInt("count_include_pad", 0) != 0;
        use(nnProgram(), op == "conv" ? "sy_conv" : "sy_pool");
      } else if (op == "batch_norm") {
        step.kind = Kind::BatchNorm;
        step.epsilon = static_cast<float>(node.attrFloat("epsilon", 1e-5));
        use(nnProgram(), "sy_batch_norm");
      } else if (op == "layer_norm" || op == "instance_norm") {
        step.kind = Kind::RowNorm;
        step.code = op == "layer_norm" ? 0 : 1;
        step.axis = node.attrInt("axis", -1);
        step.epsilon = static_cast<float>(node.attrFloat("epsilon", 1e-5));
        step.flag = step.inputs.size() == 3;
        use(nnProgram(), "sy_row_norm");
      } else {  // metadata only
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
    closeChain();
    releaseKernels(makeKernels());  // checks every kernel exists; the first set of the pool
  }

  // Note [Execute]: every kernel is enqueued on the backend's in-order queue,
  // back to back, and the host waits once (clFinish) at the end.
  // clSetKernelArg is not thread-safe on one cl_kernel, so each call takes a
  // set of kernel objects from the region's pool (making one when the pool is
  // empty) and gives it back at the end: execute may run on several threads
  // at once (concurrent_execute = 1). Their commands interleave on the one
  // in-order queue; each call's buffers are its own.
  bool concurrentExecute() const override { return true; }

  void execute(const std::vector<sdk::InputTensor>& inputs, std::vector<sdk::OutputTensor>& outputs) override {
    KernelLease kernels(*this);
    cl_command_queue queue = backend_.queue();
    std::vector<RunValue> values(numValues_);
    std::vector<std::unique_ptr<ClBuffer>> owned(numValues_);
    std::vector<Mem> scratch;  // meta buffers, alive until clFinish
    std::vector<std::pair<std::string, cl_mem>> errorFlags;  // (step, flag) set by gather

    for (const Constant& c : constants_) values[c.index] = {c.buffer->mem(), c.dims, -1, true};
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto* buffer = dynamic_cast<const ClBuffer*>(&inputs[i].buffer());
      sdk::require(buffer != nullptr, SY_ERROR_INVALID_ARGUMENT, "input ", i, " is not an opencl buffer");
      RunValue& v = values[params_[i]];
      v.dims = inputs[i].dims().vec();
      v.set = true;
      if (inputs[i].offset() == 0 || inputs[i].bytes() == 0) {
        v.mem = buffer->mem();
      } else {  // kernels take offset-0 buffers: copy
        auto copy = backend_.allocateCl(inputs[i].bytes());
        checkCl(clEnqueueCopyBuffer(queue, buffer->mem(), copy->mem(), inputs[i].offset(), 0, inputs[i].bytes(), 0,
                                    nullptr, nullptr),
                "clEnqueueCopyBuffer");
        v.mem = copy->mem();
        v.owner = params_[i];
        owned[params_[i]] = std::move(copy);
      }
    }

    Run run{values, owned, scratch, errorFlags};
    for (size_t i = 0; i < steps_.size(); ++i) {
      const Step& s = steps_[i];
      try {
        runStep(s, kernels.get(i), run);
        checkDeclared(declared_[static_cast<size_t>(s.output)], values[s.output].dims, "the result");
      } catch (const sdk::Error& e) {
        clFinish(queue);  // nothing of this run stays in flight after an error
        sdk::fail(e.code(), s.describe, ": ", e.what());
      } catch (...) {
        clFinish(queue);
        throw;
      }
    }

    for (size_t i = 0; i < returns_.size(); ++i) {
      RunValue& v = values[returns_[i]];
      sdk::require(v.set, SY_ERROR_INTERNAL, "region output ", i, " was never computed");
      const int32_t dtype = returnDtypes_[i];
      const size_t bytes = sdk::tensorBytes(dtype, v.dims);
      if (v.owner >= 0 && owned[v.owner] != nullptr && owned[v.owner]->size() == bytes) {
        outputs[i].set(std::move(owned[v.owner]), dtype, v.dims);
      } else {
        auto copy = backend_.allocateCl(bytes);
        if (bytes > 0) {
          checkCl(clEnqueueCopyBuffer(queue, v.mem, copy->mem(), 0, 0, bytes, 0, nullptr, nullptr),
                  "clEnqueueCopyBuffer");
        }
        outputs[i].set(std::move(copy), dtype, v.dims);
      }
    }
    checkCl(clFinish(queue), "clFinish");
    for (const auto& [describe, flag] : errorFlags) {
      cl_int bad = 0;
      checkCl(clEnqueueReadBuffer(queue, flag, CL_TRUE, 0, sizeof(bad), &bad, 0, nullptr, nullptr),
              "clEnqueueReadBuffer");
      sdk::require(bad == 0, SY_ERROR_INVALID_ARGUMENT, describe, ": an index is out of range");
    }
  }

 private:
  struct Constant {
    int32_t index;
    Dims dims;
    std::unique_ptr<ClBuffer> buffer;
  };

  /// The state of one execute call.
  struct Run {
    std::vector<RunValue>& values;
    std::vector<std::unique_ptr<ClBuffer>>& owned;
    std::vector<Mem>& scratch;
    std::vector<std::pair<std::string, cl_mem>>& errorFlags;
  };

  using KernelSet = std::vector<Kernel>;  // one per step (empty for views)

  KernelSet makeKernels() const {
    KernelSet set;
    for (const Step& s : steps_) {
      set.push_back(s.program != nullptr ? makeKernel(s.program, s.kernelName.c_str()) : Kernel());
    }
    return set;
  }
  void releaseKernels(KernelSet set) {
    std::lock_guard<std::mutex> lock(poolMutex_);
    pool_.push_back(std::move(set));
  }

  /// A kernel set taken from the pool for one execute call.
  class KernelLease {
   public:
    explicit KernelLease(OpenClRegion& region) : region_(region) {
      {
        std::lock_guard<std::mutex> lock(region.poolMutex_);
        if (!region.pool_.empty()) {
          set_ = std::move(region.pool_.back());
          region.pool_.pop_back();
          return;
        }
      }
      set_ = region.makeKernels();
    }
    ~KernelLease() {
      try {
        region_.releaseKernels(std::move(set_));
      } catch (...) {  // out of memory: the set is dropped
      }
    }
    cl_kernel get(size_t i) const { return set_[i].get(); }

   private:
    OpenClRegion& region_;
    KernelSet set_;
  };

  void addConstant(const sdk::NodeView& node) {
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

  /// ABI 1.1: a constant is a value with data that no node makes.
  void addConstantValue(const sdk::ValueView& out) {
    if (!out.isStatic())
      sdk::fail(SY_ERROR_INVALID_ARGUMENT, "constant '", out.name(), "' of non-static type ", out.typeString());
    uploadConstant(sdk::format("constant '", out.name(), "'"), out, out.constantData(), out.constantBytes(),
                   out.dims().vec());
  }

  void uploadConstant(const std::string& what, const sdk::ValueView& out, const void* data, size_t bytes,
                      const Dims& dims) {
    if (!(bytes == sdk::tensorBytes(out.dtype(), dims)))
      sdk::fail(SY_ERROR_INVALID_ARGUMENT, what, ": constant data of ", bytes, " bytes for ", out.typeString());
    if (out.hasRank()) checkDeclared(Declared{out.rank(), out.dims().vec()}, dims, "the constant");
    Constant c{out.index(), dims, backend_.allocateCl(bytes)};
    if (bytes > 0) c.buffer->write(0, data, bytes);  // uploaded once, here
    constants_.push_back(std::move(c));
  }

  cl_mem meta(Run& run, const Dims& data) {
    cl_int err = CL_SUCCESS;
    Dims padded = data.empty() ? Dims{0} : data;
    cl_mem m = clCreateBuffer(backend_.context(), CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                              padded.size() * sizeof(int64_t), padded.data(), &err);
    checkCl(err, "clCreateBuffer");
    run.scratch.emplace_back(m);
    return m;
  }

  /// A 1-D launch of at least n work items (kernels return early past n):
  /// rounded up to work_group_size when it is set (then the local size), else
  /// to 64 with the local size left to the driver.
  void launch(cl_kernel k, int64_t n) {
    const size_t wg = backend_.launchWorkGroup();
    const size_t unit = wg > 0 ? wg : 64;
    const size_t global = (static_cast<size_t>(n) + unit - 1) / unit * unit;
    checkCl(clEnqueueNDRangeKernel(backend_.queue(), k, 1, nullptr, &global, wg > 0 ? &wg : nullptr, 0, nullptr,
                                   nullptr),
            "clEnqueueNDRangeKernel");
  }
  /// A launch of ceil(n / SY_VEC) work items, each doing SY_VEC elements.
  void launchVec(cl_kernel k, int64_t n) {
    const int64_t vec = backend_.device().preferredVectorFloat();
    launch(k, (n + vec - 1) / vec);
  }

  cl_mem produce(Run& run, const Step& s, Dims dims) {
    const size_t bytes = sdk::tensorBytes(s.outDtype, dims);
    run.owned[s.output] = backend_.allocateCl(bytes);
    run.values[s.output] = {run.owned[s.output]->mem(), std::move(dims), s.output, true};
    return run.values[s.output].mem;
  }

  /// sy_copy of `dims` elements from x (strides xs, base xbase) to y (ys, ybase).
  void copy(Run& run, cl_kernel k, cl_mem x, cl_mem y, const Dims& dims, const Dims& xs, const Dims& ys,
            int64_t xbase, int64_t ybase) {
    const int64_t n = sdk::elementCount(dims);
    if (n == 0) return;
    Dims m = dims.empty() ? Dims{1} : dims;
    m.insert(m.end(), xs.begin(), xs.end());
    if (dims.empty()) m.push_back(0);
    m.insert(m.end(), ys.begin(), ys.end());
    if (dims.empty()) m.push_back(0);
    setArgs(k, x, y, meta(run, m), static_cast<cl_int>(std::max<size_t>(dims.size(), 1)), L(n), L(xbase), L(ybase));
    launch(k, n);
  }

  void runStep(const Step& s, cl_kernel k, Run& run) {
    auto in = [&](size_t i) -> RunValue& {
      RunValue& v = run.values[s.inputs.at(i)];
      sdk::require(v.set, SY_ERROR_INTERNAL, "input ", i, " was never computed");
      return v;
    };
    switch (s.kind) {
      case Kind::Fused: {
        const Dims dims = in(0).dims;
        for (size_t i = 1; i < s.inputs.size(); ++i) {
          if (!(in(i).dims == dims))
            sdk::fail(SY_ERROR_INVALID_ARGUMENT, "operand shapes ", sdk::formatDims(dims), " and ",
                      sdk::formatDims(in(i).dims), " differ");
        }
        const int64_t n = sdk::elementCount(dims);
        cl_mem y = produce(run, s, dims);
        if (n == 0) return;
        cl_uint a = 0;
        for (size_t i = 0; i < s.inputs.size(); ++i) setArg(k, a++, in(i).mem);
        setArg(k, a++, y);
        setArg(k, a++, L(n));
        launchVec(k, n);
        return;
      }
      case Kind::Binary:
      case Kind::Generic: {
        Dims dims = in(0).dims;
        for (size_t i = 1; i < s.inputs.size(); ++i) dims = broadcastShape(dims, in(i).dims);
        const int64_t n = sdk::elementCount(dims);
        cl_mem y = produce(run, s, dims);
        if (n == 0) return;
        Dims m = dims.empty() ? Dims{1} : dims;
        for (size_t i = 0; i < s.inputs.size(); ++i) {
          const Dims st = broadcastStrides(in(i).dims, dims);
          if (dims.empty()) m.push_back(0); else m.insert(m.end(), st.begin(), st.end());
        }
        const cl_int rank = static_cast<cl_int>(std::max<size_t>(dims.size(), 1));
        if (s.kind == Kind::Generic) {
          cl_uint a = 0;
          for (size_t i = 0; i < s.inputs.size(); ++i) setArg(k, a++, in(i).mem);
          setArg(k, a++, y);
          setArg(k, a++, meta(run, m));
          setArg(k, a++, rank);
          setArg(k, a++, L(n));
        } else {
          setArgs(k, in(0).mem, in(1).mem, y, meta(run, m), rank, static_cast<cl_int>(s.code), L(n));
        }
        launch(k, n);
        return;
      }
      case Kind::Transpose: {
        const Dims& x = in(0).dims;
        Dims perm = s.ints;
        if (perm.empty()) {
          for (size_t i = x.size(); i-- > 0;) perm.push_back(static_cast<int64_t>(i));
        }
        sdk::require(perm.size() == x.size(), SY_ERROR_INVALID_ARGUMENT, "perm does not match rank ", x.size());
        const Dims st = rowMajorStrides(x);
        Dims dims, pst;
        for (int64_t p : perm) {
          dims.push_back(x[static_cast<size_t>(p)]);
          pst.push_back(st[static_cast<size_t>(p)]);
        }
        cl_mem y = produce(run, s, dims);
        copy(run, k, in(0).mem, y, dims, pst, rowMajorStrides(dims), 0, 0);
        return;
      }
      case Kind::Slice: {
        const Dims& x = in(0).dims;
        const size_t r = x.size();
        sdk::require(s.ends.size() == s.starts.size(), SY_ERROR_INVALID_ARGUMENT, "starts and ends differ in length");
        Dims axes = s.ints;
        if (!s.hasAxes) {
          sdk::require(s.starts.size() <= r, SY_ERROR_INVALID_ARGUMENT, "more starts than dims");
          axes.clear();
          for (size_t i = 0; i < s.starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
        }
        sdk::require(axes.size() == s.starts.size(), SY_ERROR_INVALID_ARGUMENT, "axes and starts differ in length");
        Dims steps = s.steps.empty() ? Dims(s.starts.size(), 1) : s.steps;
        sdk::require(steps.size() == s.starts.size(), SY_ERROR_INVALID_ARGUMENT, "steps and starts differ in length");
        Dims start(r, 0), step(r, 1), count = x;
        std::vector<bool> seen(r, false);
        for (size_t j = 0; j < axes.size(); ++j) {
          sdk::require(axes[j] >= -static_cast<int64_t>(r) && axes[j] < static_cast<int64_t>(r),
                       SY_ERROR_INVALID_ARGUMENT, "axis ", axes[j], " out of range");
          const size_t a = normAxis(axes[j], r);
          sdk::require(!seen[a], SY_ERROR_INVALID_ARGUMENT, "axis ", axes[j], " repeated");
          seen[a] = true;
          const int64_t d = x[a];
          int64_t b = s.starts[j], e = s.ends[j];
          sdk::require(steps[j] != 0, SY_ERROR_INVALID_ARGUMENT, "step 0");
          // A step beyond the dim takes at most one element, as a step of d + 1
          // does; clamping keeps -st and step * stride from overflowing (steps
          // of INT64_MAX / INT64_MIN are legal).
          const int64_t st = std::clamp<int64_t>(steps[j], -(d + 1), d + 1);
          step[a] = st;
          if (d == 0) {
            count[a] = 0;
            continue;
          }
          if (b < 0) b += d;
          if (e < 0) e += d;
          if (st > 0) {
            b = std::clamp<int64_t>(b, 0, d);
            e = std::clamp<int64_t>(e, 0, d);
            count[a] = e > b ? (e - b - 1) / st + 1 : 0;
          } else {
            b = std::clamp<int64_t>(b, 0, d - 1);
            e = std::clamp<int64_t>(e, -1, d - 1);
            count[a] = b > e ? (b - e - 1) / -st + 1 : 0;
          }
          start[a] = b;
        }
        const Dims inStrides = rowMajorStrides(x);
        Dims xs(r);
        int64_t base = 0;
        for (size_t i = 0; i < r; ++i) {
          xs[i] = step[i] * inStrides[i];
          if (count[i] > 0) base += start[i] * inStrides[i];
        }
        cl_mem y = produce(run, s, count);
        copy(run, k, in(0).mem, y, count, xs, rowMajorStrides(count), base, 0);
        return;
      }
      case Kind::Expand: {
        const Dims& x = in(0).dims;
        const Dims dims = broadcastShape(x, s.ints);
        cl_mem y = produce(run, s, dims);
        copy(run, k, in(0).mem, y, dims, broadcastStrides(x, dims), rowMajorStrides(dims), 0, 0);
        return;
      }
      case Kind::Concat: {
        const Dims& first = in(0).dims;
        const size_t r = first.size(), axis = normAxis(s.axis, r);
        sdk::require(axis < r, SY_ERROR_INVALID_ARGUMENT, "axis ", s.axis, " out of range");
        Dims dims = first;
        dims[axis] = 0;
        for (size_t i = 0; i < s.inputs.size(); ++i) {
          const Dims& d = in(i).dims;
          sdk::require(d.size() == r, SY_ERROR_INVALID_ARGUMENT, "input ", i, " has rank ", d.size());
          for (size_t j = 0; j < r; ++j) {
            if (!(j == axis || d[j] == first[j]))
              sdk::fail(SY_ERROR_INVALID_ARGUMENT, "input ", i, " ", sdk::formatDims(d), " does not match input 0 ",
                        sdk::formatDims(first));
          }
          dims[axis] += d[axis];
        }
        cl_mem y = produce(run, s, dims);
        const Dims ys = rowMajorStrides(dims);
        int64_t offset = 0;
        for (size_t i = 0; i < s.inputs.size(); ++i) {
          const Dims& d = in(i).dims;
          copy(run, k, in(i).mem, y, d, rowMajorStrides(d), ys, 0, offset * ys[axis]);
          offset += d[axis];
        }
        return;
      }
      case Kind::Gather: {
        const Dims& x = in(0).dims;
        const Dims& idx = in(1).dims;
        const size_t axis = normAxis(s.axis, x.size());
        sdk::require(axis < x.size(), SY_ERROR_INVALID_ARGUMENT, "axis ", s.axis, " out of range");
        Dims dims(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(axis));
        dims.insert(dims.end(), idx.begin(), idx.end());
        dims.insert(dims.end(), x.begin() + static_cast<std::ptrdiff_t>(axis) + 1, x.end());
        const int64_t n = sdk::elementCount(dims);
        cl_mem y = produce(run, s, dims);
        if (n == 0) return;
        cl_int zero = 0, err = CL_SUCCESS;
        cl_mem flag = clCreateBuffer(backend_.context(), CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                                     sizeof(zero), &zero, &err);
        checkCl(err, "clCreateBuffer");
        run.scratch.emplace_back(flag);
        run.errorFlags.emplace_back(s.describe, flag);
        setArgs(k, in(0).mem, in(1).mem, y, L(sdk::elementCount(idx)), L(x[axis]), L(product(x, axis + 1, x.size())),
                L(n), flag);
        launch(k, n);
        return;
      }
      case Kind::Pad: {
        const Dims& x = in(0).dims;
        const size_t r = x.size();
        sdk::require(s.ints.size() == 2 * r, SY_ERROR_INVALID_ARGUMENT, "pads has ", s.ints.size(),
                     " entries, expected ", 2 * r);
        Dims outD(r), kept(r), crop(r), begin(r);
        for (size_t i = 0; i < r; ++i) {
          const int64_t b = s.ints[i], e = s.ints[i + r], d = x[i];
          sdk::require(b >= -d && e >= -d, SY_ERROR_INVALID_ARGUMENT, "pads ", b, ", ", e, " on axis ", i,
                       " remove more than its size ", d);
          crop[i] = b < 0 ? -b : 0;
          kept[i] = d - crop[i] - (e < 0 ? -e : 0);
          sdk::require(kept[i] >= 0, SY_ERROR_INVALID_ARGUMENT, "pads ", b, ", ", e, " on axis ", i,
                       " remove more than its size ", d);
          begin[i] = std::max<int64_t>(b, 0);
          const int64_t end = std::max<int64_t>(e, 0);
          outD[i] = kept[i] + begin[i] + end;
          if (s.code == 1 && (begin[i] > 0 || end > 0)) {
            sdk::require(begin[i] < kept[i] && end < kept[i], SY_ERROR_INVALID_ARGUMENT, "reflect pads ", b, ", ", e,
                         " on axis ", i, " must be smaller than the (cropped) size ", kept[i]);
          }
          sdk::require(!(s.code == 2 && kept[i] == 0 && outD[i] > 0), SY_ERROR_INVALID_ARGUMENT,
                       "edge padding of axis ", i, " which has no elements");
        }
        const int64_t n = sdk::elementCount(outD);
        cl_mem y = produce(run, s, outD);
        if (n == 0) return;
        cl_mem value = in(0).mem;
        if (s.flag) {
          sdk::require(sdk::elementCount(in(1).dims) == 1, SY_ERROR_INVALID_ARGUMENT,
                       "constant_value must be one element");
          value = in(1).mem;
        }
        if (value == nullptr) value = y;  // x is empty: never read
        cl_mem xm = in(0).mem != nullptr ? in(0).mem : y;
        Dims m;
        for (const Dims* part : std::initializer_list<const Dims*>{&outD, &kept, &crop, &begin}) m.insert(m.end(), part->begin(), part->end());
        const Dims st = rowMajorStrides(x);
        m.insert(m.end(), st.begin(), st.end());
        if (r == 0) m = {1, 1, 0, 0, 0};
        setArgs(k, xm, y, meta(run, m), static_cast<cl_int>(std::max<size_t>(r, 1)), L(n), static_cast<cl_int>(s.code),
                value, static_cast<cl_int>(s.flag ? 1 : 0));
        launch(k, n);
        return;
      }
      case Kind::Conv:
      case Kind::Pool: {
        const Dims& x = in(0).dims;
        const bool conv = s.kind == Kind::Conv;
        if (!(x.size() >= 3))
          sdk::fail(SY_ERROR_INVALID_ARGUMENT, "x must be [N, C, D1, ...], got ", sdk::formatDims(x));
        const Dims spatial(x.begin() + 2, x.end());
        Dims kernel = s.window.kernel;
        int64_t M = x[1];
        if (conv) {
          const Dims& w = in(1).dims;
          if (!(w.size() == x.size()))
            sdk::fail(SY_ERROR_INVALID_ARGUMENT, "w ", sdk::formatDims(w), " and x ", sdk::formatDims(x),
                      " differ in rank");
          const Dims wk(w.begin() + 2, w.end());
          if (!(kernel.empty() || kernel == wk))
            sdk::fail(SY_ERROR_INVALID_ARGUMENT, "kernel_shape does not match w ", sdk::formatDims(w));
          kernel = wk;
          M = w[0];
          if (!(s.group >= 1 && x[1] % s.group == 0 && M % s.group == 0 && w[1] * s.group == x[1]))
            sdk::fail(SY_ERROR_INVALID_ARGUMENT, "x ", sdk::formatDims(x), " and w ", sdk::formatDims(w),
                      " do not match with group ", s.group);
          if (s.flag) {
            if (!(in(2).dims == Dims{M}))
              sdk::fail(SY_ERROR_INVALID_ARGUMENT, "b ", sdk::formatDims(in(2).dims),
                        " must have one value per output channel (", M, ")");
          }
        }
        Dims outSpatial;
        const Dims m = windowMeta(s.window, spatial, kernel, outSpatial);
        Dims dims = {x[0], M};
        dims.insert(dims.end(), outSpatial.begin(), outSpatial.end());
        const int64_t n = sdk::elementCount(dims);
        cl_mem y = produce(run, s, dims);
        if (n == 0) return;
        const cl_int r = static_cast<cl_int>(spatial.size());
        if (conv) {
          cl_mem xm = in(0).mem, wm = in(1).mem;
          if (xm == nullptr || wm == nullptr) {  // C == 0: only the bias
            xm = wm = y;
          }
          setArgs(k, xm, wm, s.flag ? in(2).mem : y, y, meta(run, m), r, L(x[1]), L(M), L(s.group),
                  static_cast<cl_int>(s.flag ? 1 : 0), L(n));
        } else {
          setArgs(k, in(0).mem, y, meta(run, m), r, static_cast<cl_int>(s.code), static_cast<cl_int>(s.flag ? 1 : 0),
                  L(n));
        }
        launch(k, n);
        return;
      }
      case Kind::BatchNorm: {
        const Dims& x = in(0).dims;
        sdk::require(x.size() >= 2, SY_ERROR_INVALID_ARGUMENT, "x must be [N, C, ...]");
        for (size_t i = 1; i < 5; ++i) {
          if (!(in(i).dims == Dims{x[1]}))
            sdk::fail(SY_ERROR_INVALID_ARGUMENT, "input ", i, " ", sdk::formatDims(in(i).dims), " must be [", x[1],
                      "]");
        }
        const int64_t n = sdk::elementCount(x);
        cl_mem y = produce(run, s, x);
        if (n == 0) return;
        setArgs(k, in(0).mem, in(1).mem, in(2).mem, in(3).mem, in(4).mem, y, L(x[1]), L(product(x, 2, x.size())),
                static_cast<cl_float>(s.epsilon), L(n));
        launchVec(k, n);
        return;
      }
      case Kind::RowNorm: {
        const Dims& x = in(0).dims;
        size_t axis = 2;
        Dims m;
        int prank = 1;
        if (s.code == 0) {  // layer_norm
          axis = normAxis(s.axis, x.size());
          sdk::require(axis < x.size(), SY_ERROR_INVALID_ARGUMENT, "axis ", s.axis, " out of range");
          const Dims norm(x.begin() + static_cast<std::ptrdiff_t>(axis), x.end());
          for (size_t i = 1; i < s.inputs.size(); ++i) {
            const Dims& p = in(i).dims;
            bool ok = p.size() <= norm.size();
            for (size_t j = 0; ok && j < p.size(); ++j) {
              const int64_t nd = norm[norm.size() - p.size() + j];
              ok = p[j] == 1 || p[j] == nd;
            }
            if (!ok)
              sdk::fail(SY_ERROR_INVALID_ARGUMENT, "input ", i, " ", sdk::formatDims(p),
                        " does not broadcast to the normalised dims ", sdk::formatDims(norm));
          }
          m = norm;
          const Dims ss = broadcastStrides(in(1).dims, norm);
          m.insert(m.end(), ss.begin(), ss.end());
          const Dims bs = s.flag ? broadcastStrides(in(2).dims, norm) : Dims(norm.size(), 0);
          m.insert(m.end(), bs.begin(), bs.end());
          prank = static_cast<int>(norm.size());
        } else {  // instance_norm
          sdk::require(x.size() >= 2, SY_ERROR_INVALID_ARGUMENT, "x must be [N, C, ...]");
          for (size_t i = 1; i < 3; ++i) {
            if (!(in(i).dims == Dims{x[1]}))
              sdk::fail(SY_ERROR_INVALID_ARGUMENT, "input ", i, " ", sdk::formatDims(in(i).dims), " must be [", x[1],
                        "]");
          }
          m = {0};
        }
        const int64_t rows = product(x, 0, axis), len = product(x, axis, x.size());
        cl_mem y = produce(run, s, x);
        if (rows == 0 || len == 0) return;
        setArgs(k, in(0).mem, in(1).mem, s.flag ? in(2).mem : in(1).mem, y, meta(run, m), static_cast<cl_int>(prank),
                L(len), static_cast<cl_float>(s.epsilon), static_cast<cl_int>(s.code), L(x.size() >= 2 ? x[1] : 1),
                static_cast<cl_int>(s.flag || s.code == 1 ? 1 : 0));
        const size_t wg = backend_.rowWorkGroup();
        const size_t global = static_cast<size_t>(rows) * wg;
        checkCl(clEnqueueNDRangeKernel(backend_.queue(), k, 1, nullptr, &global, &wg, 0, nullptr, nullptr),
                "clEnqueueNDRangeKernel");
        return;
      }
      case Kind::Softmax: {
        const Dims& x = in(0).dims;
        const size_t axis = normAxis(s.axis, x.size());
        sdk::require(axis < x.size(), SY_ERROR_INVALID_ARGUMENT, "axis ", s.axis, " out of range");
        const int64_t outer = product(x, 0, axis), len = x[axis], inner = product(x, axis + 1, x.size());
        cl_mem y = produce(run, s, x);
        const int64_t n = outer * inner;
        if (n == 0 || len == 0) return;
        setArgs(k, in(0).mem, y, L(len), L(inner), L(n), static_cast<cl_int>(s.code));
        launch(k, n);
        return;
      }
      case Kind::Reduce: {
        const Dims& x = in(0).dims;
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
        const int64_t n = sdk::elementCount(keep);
        cl_mem y = produce(run, s, out);
        if (n == 0) return;
        Dims m = keep.empty() ? Dims{1} : keep;
        Dims st = rowMajorStrides(x);
        if (x.empty()) {
          st = {0};
          red = {1};
        }
        m.insert(m.end(), st.begin(), st.end());
        m.insert(m.end(), red.begin(), red.end());
        setArgs(k, count > 0 ? in(0).mem : y, y, meta(run, m), static_cast<cl_int>(std::max<size_t>(x.size(), 1)),
                static_cast<cl_int>(s.code), L(n), L(count));
        launch(k, n);
        return;
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
        cl_mem y = produce(run, s, out);
        if (M == 0 || N == 0 || batches == 0) return;
        // sy_matmul takes M, N, K and the batch id as int.
        constexpr int64_t kIntMax = 0x7fffffff;
        sdk::require(M <= kIntMax - 64 && N <= kIntMax - 64 && Ka <= kIntMax - 64 && batches <= kIntMax / 2,
                     SY_ERROR_UNIMPLEMENTED, "matmul dims ", M, " x ", Ka, " x ", N, " (", batches,
                     " batches) exceed the kernel's 32-bit indexing");
        // Per-batch element offsets of a and b (broadcast batch dims read offset 0).
        const Dims sa = broadcastStrides(batchA, batch), sb = broadcastStrides(batchB, batch);
        const Dims bst = rowMajorStrides(batch);
        Dims offs;
        for (int64_t i = 0; i < batches; ++i) {
          int64_t oa = 0, ob = 0;
          for (size_t d = 0; d < batch.size(); ++d) {
            const int64_t c = (i / bst[d]) % batch[d];
            oa += c * sa[d];
            ob += c * sb[d];
          }
          offs.push_back(oa * M * Ka);
          offs.push_back(ob * Kb * N);
        }
        const int64_t sam = gemm && s.transA ? 1 : Ka, sak = gemm && s.transA ? M : 1;
        const int64_t sbk = gemm && s.transB ? 1 : N, sbn = gemm && s.transB ? Kb : 1;
        cl_mem c = nullptr;
        int64_t scm = 0, scn = 0;
        cl_int hasC = 0;
        if (gemm && s.inputs.size() == 3) {
          const Dims& cd = in(2).dims;
          if (!(broadcastShape(cd, out) == out))
            sdk::fail(SY_ERROR_INVALID_ARGUMENT, "c ", sdk::formatDims(cd), " does not broadcast to ",
                      sdk::formatDims(out));
          const Dims cs = broadcastStrides(cd, out);
          scm = cs[0];
          scn = cs[1];
          c = in(2).mem;
          hasC = sdk::elementCount(cd) > 0 ? 1 : 0;
        }
        setArgs(k, in(0).mem, in(1).mem, y, c, meta(run, offs), static_cast<cl_int>(M), static_cast<cl_int>(N),
                static_cast<cl_int>(Ka), L(sam), L(sak), L(sbk), L(sbn), static_cast<cl_float>(gemm ? s.alpha : 1.0f),
                static_cast<cl_float>(gemm ? s.beta : 0.0f), L(scm), L(scn), hasC);
        const size_t tile = static_cast<size_t>(backend_.device().matmulTile());
        const size_t global[3] = {(static_cast<size_t>(N) + tile - 1) / tile * tile,
                                  (static_cast<size_t>(M) + tile - 1) / tile * tile, static_cast<size_t>(batches)};
        const size_t local[3] = {tile, tile, 1};
        checkCl(clEnqueueNDRangeKernel(backend_.queue(), k, 3, nullptr, global, local, 0, nullptr, nullptr),
                "clEnqueueNDRangeKernel");
        return;
      }
      case Kind::View: {
        const RunValue& x = in(0);
        run.values[s.output] = {x.mem, viewShape(s, x.dims), x.owner, true};
        return;
      }
    }
  }

  static Dims viewShape(const Step& s, const Dims& x) {
    return sdk::shapes::viewShape(s.op, x, s.axis, s.ints, s.allowzero);
  }

  OpenClBackend& backend_;
  size_t numValues_;
  std::vector<int32_t> params_;
  std::vector<int32_t> returns_;
  std::vector<int32_t> returnDtypes_;
  std::vector<Constant> constants_;
  std::vector<Step> steps_;
  std::vector<Declared> declared_;  // per value index
  std::mutex poolMutex_;
  std::vector<KernelSet> pool_;
};

}  // namespace

std::unique_ptr<sdk::CompiledRegion> compileRegion(OpenClBackend& backend, const sdk::GraphView& region) {
  return std::make_unique<OpenClRegion>(backend, region);
}

}  // namespace sy_opencl
