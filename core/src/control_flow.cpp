#include "switchyard/control_flow.h"

#include <cstddef>
#include <cstring>
#include <limits>

namespace sy {

Result<bool> conditionValue(const Tensor& t, const char* what) {
  if (t.numel() != 1) return invalidArgument(what, " must have exactly one element, got ", t.typeString());
  return t.getInt(0) != 0;
}

Result<int64_t> loopTripCount(const Tensor& t) {
  if (t.numel() != 1) return invalidArgument("the max trip count must have one element, got ", t.typeString());
  const int64_t n = t.getInt(0);
  return n < 0 ? std::numeric_limits<int64_t>::max() : n;
}

Status ScanCollector::add(Tensor value, int64_t iteration) {
  if (!parts_.empty() && parts_[0].shape() != value.shape())
    return invalidArgument("scan output ", index_, " has shape ", shapeToString(value.shape()), " in iteration ",
                           iteration, " but ", shapeToString(parts_[0].shape()), " in iteration 0");
  parts_.push_back(std::move(value));
  return Status::OK();
}

Result<Tensor> ScanCollector::stack(const Type& declared, const Type& element,
                                    const std::function<std::optional<int64_t>(const Dim&)>& resolve) const {
  Shape shape{static_cast<int64_t>(parts_.size())};
  if (!parts_.empty()) {
    shape.insert(shape.end(), parts_[0].shape().begin(), parts_[0].shape().end());
  } else if (declared.rankKnown() || element.rankKnown()) {
    const int64_t rank = declared.rankKnown() ? declared.rank() - 1 : element.rank();
    const bool useElement = element.rankKnown() && element.rank() == rank;
    for (int64_t i = 0; i < rank; ++i) {
      std::optional<int64_t> d = declared.rankKnown() ? resolve(declared.dim(i + 1)) : std::nullopt;
      if (!d && useElement) d = resolve(element.dim(i));
      shape.push_back(d.value_or(0));
    }
  }
  SY_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(declared.dtype(), shape));
  size_t offset = 0;
  for (const Tensor& p : parts_) {
    if (p.nbytes()) std::memcpy(static_cast<std::byte*>(out.mutableData()) + offset, p.data(), p.nbytes());
    offset += p.nbytes();
  }
  return out;
}

}  // namespace sy
