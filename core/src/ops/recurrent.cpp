// Recurrent ops: lstm, gru, rnn (ONNX LSTM, GRU, RNN).
//
// Schemas only (arity, attributes, dtypes, inference): the kernel is the
// SDK's portable kernel (sdk/kernels/src/recurrent.cpp); the cpu plugin runs
// the cases oneDNN supports on its RNN primitives.
//
// Note [absent optional inputs of the recurrent ops]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// ONNX lets a node leave out any of B, sequence_lens, initial_h, initial_c
// and P while giving a later one (an empty input name). IR nodes have no holes
// in their input lists, so an input given as an empty tensor (zero elements)
// means "absent": the ONNX importer passes a constant of shape [0] there. An
// absent B is zero, an absent sequence_lens is seq_length for every batch
// entry, absent initial states are zero, absent peepholes are zero. Trailing
// absent inputs are simply left off.
#include <string>
#include <vector>

#include "ops/op_util.h"

namespace sy {
namespace {

using ops::opError;

using ops::attr;

/// Gates per op: lstm 4 (i, o, f, c), gru 3 (z, r, h), rnn 1.
int64_t gatesOf(const std::string& op) { return op == "lstm" ? 4 : op == "gru" ? 3 : 1; }

/// True when input `i` is given and not the empty "absent" marker.
bool present(const InferContext& ctx, size_t i) {
  if (i >= ctx.numInputs()) return false;
  const Type& t = ctx.inputType(i);
  if (!t.rankKnown()) return true;
  for (const Dim& d : t.dims())
    if (d.isStatic() && d.value() == 0) return false;
  return true;
}

/// Error unless static dim `axis` of input `i` equals `want` (when both known).
Status expectDim(const InferContext& ctx, size_t i, int64_t axis, const Dim& want, const char* what) {
  const Type& t = ctx.inputType(i);
  if (!t.rankKnown() || !want.isStatic()) return Status::OK();
  const Dim& d = t.dim(axis);
  if (d.isStatic() && d.value() != want.value())
    return opError(ctx.schema().name, ctx.schema().inputNames[i], " ", t.toString(), ": dim ", axis, " must be ",
                   what, " = ", want.value());
  return Status::OK();
}

Status inferRecurrent(InferContext& ctx) {
  const OpSchema& s = ctx.schema();
  const std::string& op = s.name;
  const int64_t gates = gatesOf(op);
  const Type& x = ctx.inputType(0);
  const Type& w = ctx.inputType(1);
  const Type& r = ctx.inputType(2);
  SY_RETURN_IF_ERROR(ops::checkDType(s, 0, x.dtype(), ops::kFloatTypes));
  for (size_t i = 1; i < ctx.numInputs(); ++i) {
    const Type& t = ctx.inputType(i);
    if (i == 4) {
      if (present(ctx, i)) SY_RETURN_IF_ERROR(ops::checkDType(s, i, t.dtype(), {DType::I32, DType::I64}));
      continue;
    }
    if (present(ctx, i) && t.dtype() != x.dtype())
      return opError(op, s.inputNames[i], " must have x's dtype ", dtypeName(x.dtype()), ", got ", t.toString());
  }
  const std::string direction = ctx.getString("direction");
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional")
    return opError(op, "direction must be forward, reverse or bidirectional, got '", direction, "'");
  const int64_t dirs = direction == "bidirectional" ? 2 : 1;
  const int64_t layout = ctx.getInt("layout");
  if (layout != 0 && layout != 1) return opError(op, "layout must be 0 or 1, got ", layout);
  const int64_t hiddenAttr = ctx.getInt("hidden_size");
  if (hiddenAttr < 0) return opError(op, "hidden_size must be >= 0, got ", hiddenAttr);
  if (ctx.raw().count("clip") && !(ctx.getFloat("clip") > 0))
    return opError(op, "clip must be > 0, got ", ctx.getFloat("clip"));
  if (op == "gru") {
    const int64_t lbr = ctx.getInt("linear_before_reset");
    if (lbr != 0 && lbr != 1) return opError(op, "linear_before_reset must be 0 or 1, got ", lbr);
  }
  if (x.rankKnown() && x.rank() != 3) return opError(op, "x must have rank 3, got ", x.toString());
  if (w.rankKnown() && w.rank() != 3) return opError(op, "w must have rank 3, got ", w.toString());
  if (r.rankKnown() && r.rank() != 3) return opError(op, "r must have rank 3, got ", r.toString());

  // hidden_size: the attribute, else R's last dim, else W's rows / gates.
  Dim hidden = hiddenAttr > 0 ? Dim(hiddenAttr) : Dim();
  if (!hidden.isStatic() && r.rankKnown() && r.dim(2).isStatic()) hidden = r.dim(2);
  if (!hidden.isStatic() && w.rankKnown() && w.dim(1).isStatic()) hidden = Dim(w.dim(1).value() / gates);
  const Dim gh = hidden.isStatic() ? Dim(gates * hidden.value()) : Dim();
  SY_RETURN_IF_ERROR(expectDim(ctx, 1, 0, Dim(dirs), "num_directions"));
  SY_RETURN_IF_ERROR(expectDim(ctx, 1, 1, gh, "gates * hidden_size"));
  SY_RETURN_IF_ERROR(expectDim(ctx, 2, 0, Dim(dirs), "num_directions"));
  SY_RETURN_IF_ERROR(expectDim(ctx, 2, 1, gh, "gates * hidden_size"));
  SY_RETURN_IF_ERROR(expectDim(ctx, 2, 2, hidden, "hidden_size"));
  Dim seq, batch, input;
  if (x.rankKnown()) {
    seq = x.dim(layout == 0 ? 0 : 1);
    batch = x.dim(layout == 0 ? 1 : 0);
    input = x.dim(2);
  }
  SY_RETURN_IF_ERROR(expectDim(ctx, 1, 2, input, "input_size"));
  auto checkRank = [&](size_t i, int64_t rank) -> Status {
    if (!present(ctx, i)) return Status::OK();
    const Type& t = ctx.inputType(i);
    if (t.rankKnown() && t.rank() != rank)
      return opError(op, s.inputNames[i], " must have rank ", rank, ", got ", t.toString());
    return Status::OK();
  };
  SY_RETURN_IF_ERROR(checkRank(3, 2));
  if (present(ctx, 3)) {
    SY_RETURN_IF_ERROR(expectDim(ctx, 3, 0, Dim(dirs), "num_directions"));
    SY_RETURN_IF_ERROR(expectDim(ctx, 3, 1, gh.isStatic() ? Dim(2 * gh.value()) : Dim(), "2 * gates * hidden_size"));
  }
  SY_RETURN_IF_ERROR(checkRank(4, 1));
  if (present(ctx, 4)) SY_RETURN_IF_ERROR(expectDim(ctx, 4, 0, batch, "batch_size"));
  const size_t numStates = op == "lstm" ? 2 : 1;
  for (size_t i = 5; i < 5 + numStates; ++i) {
    SY_RETURN_IF_ERROR(checkRank(i, 3));
    if (!present(ctx, i)) continue;
    SY_RETURN_IF_ERROR(expectDim(ctx, i, layout == 0 ? 0 : 1, Dim(dirs), "num_directions"));
    SY_RETURN_IF_ERROR(expectDim(ctx, i, layout == 0 ? 1 : 0, batch, "batch_size"));
    SY_RETURN_IF_ERROR(expectDim(ctx, i, 2, hidden, "hidden_size"));
  }
  if (op == "lstm") {
    SY_RETURN_IF_ERROR(checkRank(7, 2));
    if (present(ctx, 7)) {
      SY_RETURN_IF_ERROR(expectDim(ctx, 7, 0, Dim(dirs), "num_directions"));
      SY_RETURN_IF_ERROR(expectDim(ctx, 7, 1, hidden.isStatic() ? Dim(3 * hidden.value()) : Dim(), "3 * hidden_size"));
    }
  }
  const std::vector<std::string>& acts = ctx.getStrings("activations");
  const size_t perDir = static_cast<size_t>(op == "lstm" ? 3 : op == "gru" ? 2 : 1);
  if (!acts.empty() && acts.size() != perDir && acts.size() != perDir * static_cast<size_t>(dirs))
    return opError(op, "activations must name ", perDir, " functions per direction, got ", acts.size());
  for (const std::string& a : acts) {
    static const char* const kKnown[] = {"Relu",     "Tanh",       "Sigmoid", "Affine",   "LeakyRelu", "ThresholdedRelu",
                                         "ScaledTanh", "HardSigmoid", "Elu",     "Softsign", "Softplus"};
    bool ok = false;
    for (const char* k : kKnown) ok = ok || a == k;
    if (!ok) return opError(op, "unknown activation '", a, "'");
  }

  const DType dt = x.dtype();
  const Type state = layout == 0 ? Type::tensor(dt, {Dim(dirs), batch, hidden}) : Type::tensor(dt, {batch, Dim(dirs), hidden});
  ctx.setOutputType(0, layout == 0 ? Type::tensor(dt, {seq, Dim(dirs), batch, hidden})
                                   : Type::tensor(dt, {batch, seq, Dim(dirs), hidden}));
  for (size_t i = 1; i < ctx.numOutputs(); ++i) ctx.setOutputType(i, state);
  return Status::OK();
}

OpSchema recurrentSchema(const std::string& name, std::string doc) {
  const bool lstm = name == "lstm";
  OpSchema s;
  s.name = name;
  s.category = "nn";
  s.doc = std::move(doc);
  s.inputNames = {"x", "w", "r", "b", "sequence_lens", "initial_h"};
  if (lstm) {
    s.inputNames.push_back("initial_c");
    s.inputNames.push_back("p");
  }
  s.minInputs = 3;
  s.maxInputs = static_cast<int>(s.inputNames.size());
  s.outputNames = {"y", "y_h"};
  if (lstm) s.outputNames.push_back("y_c");
  s.minOutputs = s.maxOutputs = static_cast<int>(s.outputNames.size());
  s.dtypes = ops::kFloatTypes;
  s.attrs = {
      attr("direction", AttrKind::String, Attribute(std::string("forward")), "forward, reverse or bidirectional"),
      attr("hidden_size", AttrKind::Int, Attribute(int64_t{0}), "hidden size; 0: taken from r"),
      attr("layout", AttrKind::Int, Attribute(int64_t{0}),
           "0: x [seq, batch, input], y [seq, dirs, batch, hidden], states [dirs, batch, hidden]; 1: batch first "
           "(x [batch, seq, input], y [batch, seq, dirs, hidden], states [batch, dirs, hidden])"),
      attr("activations", AttrKind::Strings, Attribute(std::vector<std::string>{}),
           "activation functions per direction (ONNX names); []: the ONNX defaults"),
      attr("activation_alpha", AttrKind::Floats, Attribute(std::vector<double>{}),
           "alpha of the activations that take one, in their order; missing ones take the ONNX defaults"),
      attr("activation_beta", AttrKind::Floats, Attribute(std::vector<double>{}),
           "beta of the activations that take one, in their order"),
      attr("clip", AttrKind::Float, std::nullopt, "when set, gate inputs are clipped to [-clip, clip]"),
  };
  if (lstm)
    s.attrs.push_back(attr("input_forget", AttrKind::Int, Attribute(int64_t{0}), "1: couple the forget gate to the input gate (f = 1 - i)"));
  if (name == "gru")
    s.attrs.push_back(attr("linear_before_reset", AttrKind::Int, Attribute(int64_t{0}),
                           "1: apply the reset gate after the recurrent matmul (r * (H R_h^T + Rb_h))"));
  s.infer = inferRecurrent;
  return s;
}

}  // namespace

void registerRecurrentOps(OpRegistry& r) {
  r.add(recurrentSchema(
      "lstm",
      "ONNX LSTM: x, w [dirs, 4H, I] (gates i, o, f, c), r [dirs, 4H, H], optional b [dirs, 8H], sequence_lens "
      "[batch], initial_h, initial_c, peepholes p [dirs, 3H]; gives every step's hidden state y and the last "
      "hidden and cell states y_h, y_c. An empty tensor stands for an absent optional input."));
  r.add(recurrentSchema(
      "gru",
      "ONNX GRU: x, w [dirs, 3H, I] (gates z, r, h), r [dirs, 3H, H], optional b [dirs, 6H], sequence_lens "
      "[batch], initial_h; gives every step's hidden state y and the last one y_h. An empty tensor stands for "
      "an absent optional input."));
  r.add(recurrentSchema(
      "rnn",
      "ONNX RNN: x, w [dirs, H, I], r [dirs, H, H], optional b [dirs, 2H], sequence_lens [batch], initial_h; "
      "H_t = f(x_t W^T + H_{t-1} R^T + Wb + Rb); gives every step's hidden state y and the last one y_h. An "
      "empty tensor stands for an absent optional input."));
}

}  // namespace sy
