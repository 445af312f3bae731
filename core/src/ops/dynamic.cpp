// Ops whose output size depends on the values of their inputs (top_k with a
// run-time k, non_zero, unique, compress, non_max_suppression) and the
// detection op roi_align.
//
// Note [data-dependent output sizes]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Shape inference gives such an output an unknown dim (`?`) where the size is
// known only when the op runs (non_zero's count, unique's number of distinct
// values, top_k's k when it is not a constant). Everything downstream is
// ordinary symbolic-shape handling: inference propagates the `?`, the
// verifier accepts it (a declared `?` matches any size), and at run time the
// kernel's outputShapes reads the input data and says how large each output
// is before anything is allocated (the reference interpreter, the cpu
// plugin's region executor and every plugin allocate outputs after asking).
// The runtime checks each region's outputs against the declared types with
// `?` matching anything, and transfers the tensors it receives, whatever
// their size. A plugin may decline these ops: the SDK's
// sdk::shapes::outputSizeDependsOnValues(node) tells it which nodes they are.
// Schemas only here: the kernels are the SDK's portable kernels.

#include <cmath>
#include <string>
#include <vector>

#include "ops/op_util.h"

namespace sy {
namespace {

using ops::checkDType;
using ops::normalizeAxis;

using ops::opError;

OpSchema makeSchema(std::string name, std::string category, std::string doc, std::vector<std::string> inputs,
                    int minIn, int maxIn, std::vector<std::string> outputs, int minOut, int maxOut) {
  OpSchema s;
  s.name = std::move(name);
  s.category = std::move(category);
  s.doc = std::move(doc);
  s.inputNames = std::move(inputs);
  s.minInputs = minIn;
  s.maxInputs = maxIn;
  s.outputNames = std::move(outputs);
  s.minOutputs = minOut;
  s.maxOutputs = maxOut;
  return s;
}

using ops::attr;

/// Error unless input `i` (when known) holds at most one element.
Status checkOneElement(const InferContext& ctx, size_t i) {
  const Type& t = ctx.inputType(i);
  if (t.rankKnown()) {
    for (const Dim& d : t.dims())
      if (d.isStatic() && d.value() != 1)
        return opError(ctx.schema().name, ctx.schema().inputNames[i], " must hold one value, got ", t.toString());
  }
  return Status::OK();
}

/// The normalised `axis` attribute for rank `rank`, or nullopt when the node
/// does not set it (ops that then work on the flattened input).
Result<std::optional<int64_t>> optionalAxis(const InferContext& ctx, int64_t rank) {
  if (!ctx.raw().count("axis")) return std::optional<int64_t>();
  SY_ASSIGN_OR_RETURN(int64_t a, normalizeAxis(ctx.getInt("axis"), rank));
  return std::optional<int64_t>(a);
}

// ---------------------------------------------------------------------------

Status inferTopK(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  const Type& x = ctx.inputType(0);
  SY_RETURN_IF_ERROR(checkDType(ctx.schema(), 0, x.dtype(), ctx.schema().dtypes));
  SY_RETURN_IF_ERROR(checkDType(ctx.schema(), 1, ctx.inputType(1).dtype(), {DType::I32, DType::I64}));
  SY_RETURN_IF_ERROR(checkOneElement(ctx, 1));
  if (!x.rankKnown()) {
    ctx.setOutputType(0, Type::tensorUnranked(x.dtype()));
    ctx.setOutputType(1, Type::tensorUnranked(DType::I64));
    return Status::OK();
  }
  if (x.rank() == 0) return opError(op, "x must have rank >= 1, got ", x.toString());
  auto axis = normalizeAxis(ctx.getInt("axis"), x.rank());
  if (!axis.ok()) return axis.status().withContext("op '" + op + "'");
  std::vector<Dim> dims = x.dims();
  Dim k;  // unknown unless k is a constant: a data-dependent size
  if (const Tensor* c = ctx.constantInput(1)) {
    if (c->numel() != 1) return opError(op, "k must hold one value, got ", c->numel());
    const int64_t kv = c->getInt(0);
    if (kv < 0) return opError(op, "k must be >= 0, got ", kv);
    const Dim& n = dims[static_cast<size_t>(*axis)];
    if (n.isStatic() && kv > n.value())
      return opError(op, "k = ", kv, " is larger than axis ", *axis, " of ", x.toString());
    k = Dim(kv);
  }
  dims[static_cast<size_t>(*axis)] = k;
  ctx.setOutputType(0, Type::tensor(x.dtype(), dims));
  ctx.setOutputType(1, Type::tensor(DType::I64, dims));
  return Status::OK();
}

Status inferNonZero(InferContext& ctx) {
  const Type& x = ctx.inputType(0);
  SY_RETURN_IF_ERROR(checkDType(ctx.schema(), 0, x.dtype(), ctx.schema().dtypes));
  Dim rank = x.rankKnown() ? Dim(std::max<int64_t>(x.rank(), 1)) : Dim::unknown();
  ctx.setOutputType(0, Type::tensor(DType::I64, {rank, Dim::unknown()}));
  return Status::OK();
}

Status inferUnique(InferContext& ctx) {
  const Type& x = ctx.inputType(0);
  SY_RETURN_IF_ERROR(checkDType(ctx.schema(), 0, x.dtype(), ctx.schema().dtypes));
  const Type vec = Type::tensor(DType::I64, {Dim::unknown()});
  if (!x.rankKnown()) {
    ctx.setOutputType(0, Type::tensorUnranked(x.dtype()));
    for (size_t i = 1; i < ctx.numOutputs(); ++i) ctx.setOutputType(i, vec);
    return Status::OK();
  }
  SY_ASSIGN_OR_RETURN(std::optional<int64_t> axis, optionalAxis(ctx, std::max<int64_t>(x.rank(), 1)));
  Type y;
  Dim inverse;
  if (axis && x.rank() > 0) {
    std::vector<Dim> dims = x.dims();
    inverse = dims[static_cast<size_t>(*axis)];
    dims[static_cast<size_t>(*axis)] = Dim::unknown();
    y = Type::tensor(x.dtype(), std::move(dims));
  } else {
    int64_t n = 1;
    for (const Dim& d : x.dims()) n = (n >= 0 && d.isStatic()) ? n * d.value() : -1;
    inverse = n >= 0 ? Dim(n) : Dim::unknown();
    y = Type::tensor(x.dtype(), {Dim::unknown()});
  }
  ctx.setOutputType(0, y);
  if (ctx.numOutputs() > 1) ctx.setOutputType(1, vec);
  if (ctx.numOutputs() > 2) ctx.setOutputType(2, Type::tensor(DType::I64, {inverse}));
  if (ctx.numOutputs() > 3) ctx.setOutputType(3, vec);
  return Status::OK();
}

Status inferCompress(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  const Type& x = ctx.inputType(0);
  const Type& cond = ctx.inputType(1);
  SY_RETURN_IF_ERROR(checkDType(ctx.schema(), 1, cond.dtype(), {DType::Bool}));
  if (cond.rankKnown() && cond.rank() != 1) return opError(op, "condition must be 1-D, got ", cond.toString());
  if (!x.rankKnown()) {
    ctx.setOutputType(0, ctx.raw().count("axis") ? Type::tensorUnranked(x.dtype())
                                                 : Type::tensor(x.dtype(), {Dim::unknown()}));
    return Status::OK();
  }
  SY_ASSIGN_OR_RETURN(std::optional<int64_t> axis, optionalAxis(ctx, x.rank()));
  if (axis && x.rank() == 0) return opError(op, "an axis needs x of rank >= 1, got ", x.toString());
  std::vector<Dim> dims = axis ? x.dims() : std::vector<Dim>{Dim()};
  dims[axis ? static_cast<size_t>(*axis) : 0] = Dim::unknown();
  ctx.setOutputType(0, Type::tensor(x.dtype(), std::move(dims)));
  return Status::OK();
}

Status inferNms(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  const Type& boxes = ctx.inputType(0);
  const Type& scores = ctx.inputType(1);
  SY_RETURN_IF_ERROR(checkDType(ctx.schema(), 0, boxes.dtype(), {DType::F32}));
  SY_RETURN_IF_ERROR(checkDType(ctx.schema(), 1, scores.dtype(), {DType::F32}));
  if (boxes.rankKnown() && (boxes.rank() != 3 || (boxes.dim(2).isStatic() && boxes.dim(2).value() != 4)))
    return opError(op, "boxes must be [batches, boxes, 4], got ", boxes.toString());
  if (scores.rankKnown() && scores.rank() != 3)
    return opError(op, "scores must be [batches, classes, boxes], got ", scores.toString());
  if (boxes.rankKnown() && scores.rankKnown()) {
    for (auto [bi, si] : {std::pair<int64_t, int64_t>{0, 0}, {1, 2}}) {
      const Dim &a = boxes.dim(bi), &b = scores.dim(si);
      if (a.isStatic() && b.isStatic() && a.value() != b.value())
        return opError(op, "boxes ", boxes.toString(), " and scores ", scores.toString(), " disagree");
    }
  }
  if (ctx.numInputs() > 2) SY_RETURN_IF_ERROR(checkDType(ctx.schema(), 2, ctx.inputType(2).dtype(), {DType::I64, DType::I32}));
  for (size_t i = 2; i < ctx.numInputs(); ++i) SY_RETURN_IF_ERROR(checkOneElement(ctx, i));
  for (size_t i = 3; i < ctx.numInputs(); ++i)
    SY_RETURN_IF_ERROR(checkDType(ctx.schema(), i, ctx.inputType(i).dtype(), {DType::F32}));
  const int64_t cpb = ctx.getInt("center_point_box");
  if (cpb != 0 && cpb != 1) return opError(op, "center_point_box must be 0 or 1, got ", cpb);
  ctx.setOutputType(0, Type::tensor(DType::I64, {Dim::unknown(), Dim(3)}));
  return Status::OK();
}

Status inferRoiAlign(InferContext& ctx) {
  const std::string& op = ctx.schema().name;
  const Type& x = ctx.inputType(0);
  const Type& rois = ctx.inputType(1);
  const Type& idx = ctx.inputType(2);
  SY_RETURN_IF_ERROR(checkDType(ctx.schema(), 0, x.dtype(), ctx.schema().dtypes));
  if (rois.dtype() != x.dtype()) return opError(op, "rois must have x's dtype ", dtypeName(x.dtype()));
  SY_RETURN_IF_ERROR(checkDType(ctx.schema(), 2, idx.dtype(), {DType::I64, DType::I32}));
  if (x.rankKnown() && x.rank() != 4) return opError(op, "x must be [N, C, H, W], got ", x.toString());
  if (rois.rankKnown() && (rois.rank() != 2 || (rois.dim(1).isStatic() && rois.dim(1).value() != 4)))
    return opError(op, "rois must be [R, 4], got ", rois.toString());
  if (idx.rankKnown() && idx.rank() != 1) return opError(op, "batch_indices must be [R], got ", idx.toString());
  const std::string& mode = ctx.getString("mode");
  if (mode != "avg" && mode != "max") return opError(op, "mode must be avg or max, got '", mode, "'");
  const std::string& ctm = ctx.getString("coordinate_transformation_mode");
  if (ctm != "half_pixel" && ctm != "output_half_pixel")
    return opError(op, "coordinate_transformation_mode must be half_pixel or output_half_pixel, got '", ctm, "'");
  const int64_t oh = ctx.getInt("output_height"), ow = ctx.getInt("output_width");
  if (oh < 1 || ow < 1) return opError(op, "output_height and output_width must be >= 1, got ", oh, " and ", ow);
  if (ctx.getInt("sampling_ratio") < 0) return opError(op, "sampling_ratio must be >= 0");
  Dim r = rois.rankKnown() ? rois.dim(0) : Dim();
  if (!r.isStatic() && idx.rankKnown()) r = idx.dim(0);
  Dim c = x.rankKnown() ? x.dim(1) : Dim();
  ctx.setOutputType(0, Type::tensor(x.dtype(), {r, c, Dim(oh), Dim(ow)}));
  return Status::OK();
}

}  // namespace

void registerDataDependentOps(OpRegistry& r) {
  {
    OpSchema s = makeSchema("top_k", "reduce",
                            "ONNX TopK: the k largest (or smallest) elements of x along axis and their i64 "
                            "indices; k is a run-time i32/i64 scalar or one-element tensor, so the axis's size "
                            "is known only when k is a constant. Equal values keep their index order (the lower "
                            "index first); NaN counts as the largest value.",
                            {"x", "k"}, 2, 2, {"values", "indices"}, 2, 2);
    s.dtypes = {DType::F32, DType::F16, DType::BF16, DType::I32, DType::I64};
    s.attrs = {attr("axis", AttrKind::Int, Attribute(int64_t{-1}), "axis to select along (negative from the end)"),
               attr("largest", AttrKind::Int, Attribute(int64_t{1}), "1: the largest, 0: the smallest"),
               attr("sorted", AttrKind::Int, Attribute(int64_t{1}),
                    "accepted for ONNX; the result is always sorted (largest: descending)")};
    s.infer = inferTopK;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("non_zero", "shape",
                            "ONNX NonZero: the i64 coordinates [rank, count] of x's non-zero elements in row-major "
                            "order (a scalar counts as rank 1); count is known only when it runs.",
                            {"x"}, 1, 1, {"indices"}, 1, 1);
    s.dtypes = ops::kAllTypes;
    s.infer = inferNonZero;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("unique", "shape",
                            "ONNX Unique: the distinct values (or, with axis, the distinct slices along axis) of "
                            "x, sorted ascending or in order of first occurrence; optional outputs: the index of "
                            "each one's first occurrence, the index into y of every input element (or slice), and "
                            "the counts. The number of distinct values is known only when it runs.",
                            {"x"}, 1, 1, {"y", "indices", "inverse_indices", "counts"}, 1, 4);
    s.dtypes = {DType::F32, DType::F16, DType::BF16, DType::I8, DType::I32, DType::I64, DType::Bool};
    s.attrs = {attr("axis", AttrKind::Int, std::nullopt, "slices along this axis; absent: the flattened x"),
               attr("sorted", AttrKind::Int, Attribute(int64_t{1}), "1: ascending, 0: order of first occurrence")};
    s.infer = inferUnique;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema("compress", "shape",
                            "ONNX Compress: the slices of x along axis (absent: elements of the flattened x) "
                            "whose bool condition is true; a condition shorter than the axis drops the rest. The "
                            "output size is known only when it runs.",
                            {"x", "condition"}, 2, 2, {"output"}, 1, 1);
    s.dtypes = ops::kAllTypes;
    s.attrs = {attr("axis", AttrKind::Int, std::nullopt, "axis to select along; absent: the flattened x")};
    s.infer = inferCompress;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema(
        "non_max_suppression", "nn",
        "ONNX NonMaxSuppression: per batch and class, boxes in descending score order (ties: lower index first) "
        "whose score is above score_threshold, dropping each box whose IoU with a kept one is above "
        "iou_threshold, at most max_output_boxes_per_class of them (absent or 0: none); output [count, 3] "
        "rows (batch, class, box), count known only when it runs. Boxes are [y1, x1, y2, x2] corners in any "
        "order (center_point_box 0) or [x_center, y_center, width, height] (1).",
        {"boxes", "scores", "max_output_boxes_per_class", "iou_threshold", "score_threshold"}, 2, 5,
        {"selected_indices"}, 1, 1);
    s.dtypes = {DType::F32};
    s.attrs = {attr("center_point_box", AttrKind::Int, Attribute(int64_t{0}), "0: corners, 1: center and size")};
    s.infer = inferNms;
    r.add(std::move(s));
  }
  {
    OpSchema s = makeSchema(
        "roi_align", "nn",
        "ONNX RoiAlign: for each region (x1, y1, x2, y2 in input coordinates times spatial_scale) of image "
        "batch_indices[r], an output_height x output_width grid of bins, each the average (or the maximum, as "
        "ONNX Runtime computes it: of the bilinear weights times the corner values) of sampling_ratio^2 "
        "bilinear samples (0: ceil(bin size) per axis). half_pixel (opset 16) shifts coordinates by -0.5; "
        "output_half_pixel (opset 10) does not and makes regions at least 1x1.",
        {"x", "rois", "batch_indices"}, 3, 3, {"y"}, 1, 1);
    s.dtypes = {DType::F32, DType::F16, DType::BF16};
    s.attrs = {attr("mode", AttrKind::String, Attribute(std::string("avg")), "avg or max"),
               attr("output_height", AttrKind::Int, Attribute(int64_t{1}), "bins per column"),
               attr("output_width", AttrKind::Int, Attribute(int64_t{1}), "bins per row"),
               attr("sampling_ratio", AttrKind::Int, Attribute(int64_t{0}), "samples per bin and axis; 0: adaptive"),
               attr("spatial_scale", AttrKind::Float, Attribute(1.0), "multiplies the roi coordinates"),
               attr("coordinate_transformation_mode", AttrKind::String, Attribute(std::string("half_pixel")),
                    "half_pixel or output_half_pixel")};
    s.infer = inferRoiAlign;
    r.add(std::move(s));
  }
}

}  // namespace sy
