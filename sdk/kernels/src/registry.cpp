// makeKernel: the op table of the generic kernels, and the f16/bf16 wrapper
// (see Note [Kernel factories and OpDesc] in common.h).
#include <string_view>

#include "common.h"

namespace sy::kernels {
namespace detail {
namespace {

struct Entry {
  std::string_view op;
  Factory factory;
  bool native16;  ///< handles f16/bf16 itself (data movement by element size)
};

constexpr Entry kOps[] = {
    // elementwise
    {"abs", makeUnary, false}, {"ceil", makeUnary, false}, {"clip", makeUnary, false},
    {"cos", makeUnary, false}, {"erf", makeUnary, false}, {"exp", makeUnary, false},
    {"floor", makeUnary, false}, {"gelu", makeUnary, false}, {"leaky_relu", makeUnary, false},
    {"log", makeUnary, false}, {"logical_not", makeUnary, false}, {"neg", makeUnary, false},
    {"reciprocal", makeUnary, false}, {"relu", makeUnary, false}, {"round", makeUnary, false},
    {"rsqrt", makeUnary, false}, {"sigmoid", makeUnary, false}, {"sign", makeUnary, false},
    {"silu", makeUnary, false}, {"sin", makeUnary, false}, {"sqrt", makeUnary, false},
    {"tanh", makeUnary, false}, {"tan", makeUnary, false}, {"asin", makeUnary, false},
    {"acos", makeUnary, false}, {"atan", makeUnary, false}, {"sinh", makeUnary, false},
    {"cosh", makeUnary, false}, {"asinh", makeUnary, false}, {"acosh", makeUnary, false},
    {"atanh", makeUnary, false},
    {"add", makeBinary, false}, {"sub", makeBinary, false}, {"mul", makeBinary, false},
    {"div", makeBinary, false}, {"pow", makeBinary, false}, {"mod", makeBinary, false},
    {"maximum", makeBinary, false}, {"minimum", makeBinary, false}, {"equal", makeBinary, false},
    {"less", makeBinary, false}, {"less_equal", makeBinary, false}, {"greater", makeBinary, false},
    {"greater_equal", makeBinary, false}, {"logical_and", makeBinary, false},
    {"logical_or", makeBinary, false}, {"logical_xor", makeBinary, false}, {"bit_shift", makeBinary, false},
    {"where", makeWhere, true}, {"cast", makeCast, true},
    // reductions
    {"reduce_sum", makeReduce, false}, {"reduce_mean", makeReduce, false}, {"reduce_max", makeReduce, false},
    {"reduce_min", makeReduce, false}, {"reduce_prod", makeReduce, false},
    {"argmax", makeArg, false}, {"argmin", makeArg, false},
    {"softmax", makeSoftmax, false}, {"log_softmax", makeSoftmax, false},
    // normalisation
    {"batch_norm", makeBatchNorm, false}, {"layer_norm", makeLayerNorm, false},
    {"instance_norm", makeInstanceNorm, false},
    // shape / data movement
    {"reshape", makeReshapeLike, true}, {"flatten", makeReshapeLike, true}, {"squeeze", makeReshapeLike, true},
    {"unsqueeze", makeReshapeLike, true}, {"identity", makeReshapeLike, true},
    {"transpose", makeTranspose, true}, {"concat", makeConcat, true}, {"split", makeSplit, true},
    {"slice", makeSlice, true}, {"gather", makeGather, true}, {"expand", makeExpand, true},
    {"tile", makeTile, true}, {"pad", makePad, true}, {"shape", makeShape, true},
    {"range", makeRange, true}, {"constant_of_shape", makeConstantOfShape, true},
    {"resize", makeResize, true},  // linear/cubic on 16-bit floats go through the wrapper (see makeKernel)
    {"grid_sample", makeGridSample, false},
    {"gather_elements", makeGatherElements, true}, {"gather_nd", makeGatherND, true},
    {"scatter_elements", makeScatterElements, false}, {"scatter_nd", makeScatterND, false},
    {"cumsum", makeCumSum, false},
    // output sizes that depend on values (dynamic.cpp); unique reads 16-bit floats itself
    {"top_k", makeTopK, false}, {"non_zero", makeNonZero, true}, {"compress", makeCompress, true},
    {"unique", makeUnique, true}, {"non_max_suppression", makeNonMaxSuppression, false},
    {"roi_align", makeRoiAlign, false},
    // nn
    {"matmul", makeMatmul, false}, {"gemm", makeGemm, false}, {"conv", makeConv, false},
    {"conv_transpose", makeConvTranspose, false}, {"max_pool", makePool, false},
    {"avg_pool", makePool, false}, {"global_max_pool", makeGlobalPool, false},
    {"global_avg_pool", makeGlobalPool, false},
    // recurrent
    {"lstm", makeRecurrent, false}, {"gru", makeRecurrent, false}, {"rnn", makeRecurrent, false},
    // quantization
    {"quantize_linear", makeQuant, false}, {"dequantize_linear", makeQuant, false},
    {"dynamic_quantize_linear", makeQuant, false}, {"matmul_integer", makeQuant, false},
    {"conv_integer", makeQuant, false},
};

bool isHalf(int32_t dt) { return dt == SY_DTYPE_F16 || dt == SY_DTYPE_BF16; }

/// Runs the inner kernel's loops on the calling thread.
class SerialExec final : public Exec {
 public:
  void parallelFor(int64_t n, int64_t, const std::function<void(int64_t, int64_t)>& fn) const override {
    if (n > 0) fn(0, n);
  }
  int threads() const override { return 1; }
};

/// Runs an f32 kernel on 16-bit float tensors: converts those inputs to f32,
/// runs, and rounds the f32 results (to nearest even) into the outputs.
///
/// Elementwise ops (unary, and binary whose operands are the output's shape
/// or one element) go through in cache-sized pieces: each piece is converted,
/// computed by the f32 kernel on the calling thread and converted back, so no
/// whole-tensor f32 copies are made. Everything else converts whole tensors.
class HalfKernel final : public Kernel {
 public:
  HalfKernel(std::unique_ptr<Kernel> inner, std::vector<int32_t> in, std::vector<int32_t> out, bool elementwise)
      : inner_(std::move(inner)), in_(std::move(in)), out_(std::move(out)), elementwise_(elementwise) {}

  void outputShapes(const Tensor* inputs, size_t numInputs, Dims* outputs, size_t numOutputs) const override {
    // Shape-computing inputs are never 16-bit floats; only dtypes change here.
    std::vector<Tensor> ins(inputs, inputs + numInputs);
    for (size_t i = 0; i < ins.size() && i < in_.size(); ++i)
      if (isHalf(in_[i]) && ins[i].dtype == in_[i]) ins[i].dtype = SY_DTYPE_F32;
    inner_->outputShapes(ins.data(), ins.size(), outputs, numOutputs);
  }

  void run(const Tensor* inputs, size_t numInputs, Tensor* outputs, size_t numOutputs,
           const Exec& exec) const override {
    if (elementwise_ && numOutputs == 1 && numInputs <= 2 && numInputs == in_.size()) {
      const int64_t n = outputs[0].numElements();
      bool pieces = true;
      for (size_t i = 0; i < numInputs; ++i)
        pieces = pieces && (inputs[i].numElements() == n || inputs[i].numElements() == 1);
      if (pieces) {
        runPieces(inputs, numInputs, outputs[0], exec);
        return;
      }
    }
    std::vector<Tensor> ins(inputs, inputs + numInputs);
    // Scratch without value-initialisation: every element is written before it is read.
    std::vector<std::unique_ptr<float[]>> inBufs(numInputs);
    for (size_t i = 0; i < numInputs && i < in_.size(); ++i) {
      if (!isHalf(in_[i]) || ins[i].dtype != in_[i]) continue;
      const int64_t n = ins[i].numElements();
      inBufs[i].reset(new float[static_cast<size_t>(std::max<int64_t>(n, 1))]);
      convert(exec, n, [&](int64_t b, int64_t e) {
        toF32(in_[i], static_cast<const uint16_t*>(inputs[i].data) + b, inBufs[i].get() + b, e - b);
      });
      ins[i].data = inBufs[i].get();
      ins[i].dtype = SY_DTYPE_F32;
    }
    std::vector<Tensor> outs(outputs, outputs + numOutputs);
    std::vector<std::unique_ptr<float[]>> outBufs(numOutputs);
    for (size_t i = 0; i < numOutputs && i < out_.size(); ++i) {
      if (!isHalf(out_[i])) continue;
      outBufs[i].reset(new float[static_cast<size_t>(std::max<int64_t>(outs[i].numElements(), 1))]);
      outs[i].data = outBufs[i].get();
      outs[i].dtype = SY_DTYPE_F32;
    }
    inner_->run(ins.data(), ins.size(), outs.data(), outs.size(), exec);
    for (size_t i = 0; i < numOutputs && i < out_.size(); ++i) {
      if (!isHalf(out_[i])) continue;
      const int64_t n = outputs[i].numElements();
      convert(exec, n, [&](int64_t b, int64_t e) {
        fromF32(out_[i], outBufs[i].get() + b, static_cast<uint16_t*>(outputs[i].data) + b, e - b);
      });
    }
  }

 private:
  template <class F>
  static void convert(const Exec& exec, int64_t n, F&& f) {
    parallelFor(exec, n, 32768, f);
  }

  void runPieces(const Tensor* inputs, size_t numInputs, const Tensor& output, const Exec& exec) const {
    constexpr int64_t kPiece = 2048;
    const int64_t n = output.numElements();
    const int64_t pieces = (n + kPiece - 1) / kPiece;
    const bool halfOut = isHalf(out_[0]);
    const size_t outSize = sdk::dtypeSize(output.dtype);
    parallelFor(exec, pieces, 8, [&](int64_t b, int64_t e) {
      float inBuf[2][kPiece];
      float outBuf[kPiece];
      const SerialExec serial;
      for (int64_t p = b; p < e; ++p) {
        const int64_t from = p * kPiece, len = std::min(kPiece, n - from);
        Tensor ins[2];
        for (size_t i = 0; i < numInputs; ++i) {
          const Tensor& t = inputs[i];
          const bool one = t.numElements() == 1 && n != 1;
          const int64_t count = one ? 1 : len;
          ins[i].dims.rank = 1;
          ins[i].dims.d[0] = count;
          if (isHalf(in_[i]) && t.dtype == in_[i]) {
            toF32(in_[i], static_cast<const uint16_t*>(t.data) + (one ? 0 : from), inBuf[i], count);
            ins[i].data = inBuf[i];
            ins[i].dtype = SY_DTYPE_F32;
          } else {
            ins[i].data = static_cast<char*>(t.data) + (one ? 0 : from) * static_cast<int64_t>(sdk::dtypeSize(t.dtype));
            ins[i].dtype = t.dtype;
          }
        }
        Tensor out;
        out.dims.rank = 1;
        out.dims.d[0] = len;
        out.dtype = halfOut ? SY_DTYPE_F32 : output.dtype;
        out.data = halfOut ? static_cast<void*>(outBuf) : static_cast<char*>(output.data) + from * static_cast<int64_t>(outSize);
        inner_->run(ins, numInputs, &out, 1, serial);
        if (halfOut) fromF32(out_[0], outBuf, static_cast<uint16_t*>(output.data) + from, len);
      }
    });
  }

  std::unique_ptr<Kernel> inner_;
  std::vector<int32_t> in_, out_;
  bool elementwise_;
};

}  // namespace
}  // namespace detail

std::unique_ptr<Kernel> makeKernel(const sdk::NodeView& node, std::string& whyNot) {
  using namespace detail;
  whyNot.clear();
  const std::string_view op = node.op();
  const Entry* entry = nullptr;
  for (const Entry& e : kOps)
    if (e.op == op) entry = &e;
  if (entry == nullptr) {
    whyNot = sdk::format(op, ": no portable kernel for this op");
    return nullptr;
  }
  OpDesc d{node, {}, {}};
  for (size_t i = 0; i < node.numInputs(); ++i) d.in.push_back(node.hasInput(i) ? node.input(i).dtype() : -1);
  for (size_t i = 0; i < node.numOutputs(); ++i) d.out.push_back(node.output(i).dtype());
  if (d.in.empty() || d.out.empty()) {  // every op here has inputs and outputs
    whyNot = sdk::format(op, ": node has no inputs or no outputs");
    return nullptr;
  }

  bool native = entry->native16;
  if (op == "resize")  // linear, cubic, tf_crop_and_resize's extrapolation: f32 inside
    native = node.attrString("mode", "nearest") == "nearest" &&
             node.attrString("coordinate_transformation_mode", "half_pixel") != "tf_crop_and_resize";
  bool anyHalf = false;
  for (int32_t dt : d.in) anyHalf = anyHalf || isHalf(dt);
  for (int32_t dt : d.out) anyHalf = anyHalf || isHalf(dt);
  if (native || !anyHalf) return entry->factory(d, whyNot);

  OpDesc d32{node, d.in, d.out};
  for (int32_t& dt : d32.in)
    if (isHalf(dt)) dt = SY_DTYPE_F32;
  for (int32_t& dt : d32.out)
    if (isHalf(dt)) dt = SY_DTYPE_F32;
  std::unique_ptr<Kernel> inner = entry->factory(d32, whyNot);
  if (!inner) return nullptr;
  const bool elementwise = entry->factory == makeUnary || entry->factory == makeBinary;
  return std::make_unique<HalfKernel>(std::move(inner), d.in, d.out, elementwise);
}

}  // namespace sy::kernels
