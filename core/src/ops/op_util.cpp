#include "ops/op_util.h"

#include <algorithm>

namespace sy::ops {

Result<int64_t> normalizeAxis(int64_t axis, int64_t rank, std::string_view what) {
  if (rank == 0) return outOfRange(what, " ", axis, " is out of range: a rank-0 tensor has no axes");
  if (axis < -rank || axis >= rank)
    return outOfRange(what, " ", axis, " is out of range for rank ", rank, " (valid: ", -rank, " to ",
                      rank - 1, ")");
  return axis < 0 ? axis + rank : axis;
}

Result<std::vector<int64_t>> normalizeAxes(const std::vector<int64_t>& axes, int64_t rank) {
  std::vector<int64_t> out;
  out.reserve(axes.size());
  for (int64_t a : axes) {
    if (a < -rank || a >= rank)
      return outOfRange("axis ", a, " is out of range for rank ", rank, " (valid: ", -rank, " to ", rank - 1,
                        ")");
    const int64_t n = a < 0 ? a + rank : a;
    if (std::find(out.begin(), out.end(), n) != out.end()) return invalidArgument("axis ", a, " is repeated");
    out.push_back(n);
  }
  return out;
}

Result<Shape> broadcastShapes(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da == db || db == 1) out[i] = da;
    else if (da == 1) out[i] = db;
    else
      return invalidArgument("shapes ", shapeToString(a), " and ", shapeToString(b),
                             " cannot be broadcast (dimension ", i, ": ", da, " vs ", db, ")");
  }
  return out;
}

Result<Type> broadcastTypes(const Type& a, const Type& b, DType resultDType) {
  if (!a.rankKnown() || !b.rankKnown()) return Type::tensorUnranked(resultDType);
  const size_t ra = a.dims().size(), rb = b.dims().size();
  const size_t rank = std::max(ra, rb);
  std::vector<Dim> out(rank);
  const Dim one(1);
  for (size_t i = 0; i < rank; ++i) {
    const Dim& da = i < rank - ra ? one : a.dims()[i - (rank - ra)];
    const Dim& db = i < rank - rb ? one : b.dims()[i - (rank - rb)];
    if (da == db) out[i] = da;
    else if (da.isStatic() && da.value() == 1) out[i] = db;
    else if (db.isStatic() && db.value() == 1) out[i] = da;
    else if (da.isStatic() && db.isStatic())
      return invalidArgument("shapes ", a.toString(), " and ", b.toString(), " cannot be broadcast (dimension ",
                             i, ": ", da.value(), " vs ", db.value(), ")");
    else if (da.isStatic()) out[i] = da;
    else if (db.isStatic()) out[i] = db;
    else out[i] = Dim::unknown();
  }
  if (a.isScalar() && b.isScalar()) return Type::scalar(resultDType);
  return Type::tensor(resultDType, std::move(out));
}

BroadcastIndexer::BroadcastIndexer(const Shape& inShape, const Shape& outShape) {
  identity_ = inShape == outShape;
  if (identity_) return;
  outStrides_ = rowMajorStrides(outShape);
  const std::vector<int64_t> inDense = rowMajorStrides(inShape);
  inStrides_.assign(outShape.size(), 0);
  const size_t off = outShape.size() - inShape.size();
  for (size_t i = 0; i < inShape.size(); ++i) inStrides_[i + off] = inShape[i] == 1 ? 0 : inDense[i];
}

int64_t BroadcastIndexer::operator()(int64_t outFlat) const {
  if (identity_) return outFlat;
  int64_t in = 0;
  for (size_t i = 0; i < outStrides_.size(); ++i) {
    const int64_t c = outFlat / outStrides_[i];
    outFlat -= c * outStrides_[i];
    in += c * inStrides_[i];
  }
  return in;
}

void unravelIndex(int64_t flat, const Shape& shape, std::vector<int64_t>& coords) {
  coords.resize(shape.size());
  for (size_t i = shape.size(); i-- > 0;) {
    const int64_t d = shape[i];
    if (d == 0) {
      coords[i] = 0;
      continue;
    }
    coords[i] = flat % d;
    flat /= d;
  }
}

Status checkDType(const OpSchema& schema, size_t i, DType actual, const std::vector<DType>& allowed) {
  if (std::find(allowed.begin(), allowed.end(), actual) != allowed.end()) return Status::OK();
  std::string names;
  for (DType d : allowed) names += (names.empty() ? "" : ", ") + std::string(dtypeName(d));
  const std::string inputName =
      i < schema.inputNames.size() ? schema.inputNames[i] : "input " + std::to_string(i);
  return invalidArgument("op '", schema.name, "': ", inputName, " has dtype ", dtypeName(actual),
                         ", expected one of ", names);
}

std::vector<int64_t> tensorToInts(const Tensor& t) {
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.getInt(i);
  return v;
}

std::vector<double> tensorToDoubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.getDouble(i);
  return v;
}

std::vector<Dim> dimsOf(const Type& t) { return t.dims(); }

}  // namespace sy::ops
