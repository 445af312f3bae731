// Run-time pieces of `if` and `loop` shared by every host-side executor: the
// reference interpreter (core) and the partitioned runtime (runtime/). Each
// executor keeps its own value slots and block walking; these helpers hold
// the semantics that must not drift between them: what counts as a
// condition, the trip count, and how scan outputs are checked and stacked.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "switchyard/status.h"
#include "switchyard/tensor.h"
#include "switchyard/type.h"

namespace sy {

/// The value of a condition: exactly one element, non-zero is true.
/// `what` names it in the error ("the loop condition").
Result<bool> conditionValue(const Tensor& t, const char* what);

/// A loop's maximum trip count input: exactly one element; a negative count
/// means "no limit" (the condition alone ends the loop).
Result<int64_t> loopTripCount(const Tensor& t);

/// Collects one scan output of a loop, iteration by iteration, and stacks the
/// values along a new first axis at the end.
class ScanCollector {
 public:
  /// `index` is the scan output's number among the loop's scan outputs (for errors).
  explicit ScanCollector(size_t index) : index_(index) {}

  /// Adds iteration `iteration`'s value; every value must have the shape of the first.
  Status add(Tensor value, int64_t iteration);

  /// The stacked tensor [iterations, ...]. With no iterations the element
  /// shape comes from the types: the loop output's `declared` type (dims 1..),
  /// else the `element` type the body yields; `resolve` gives a dim's size
  /// where this run knows it (static, or a bound symbol); unknown dims become 0.
  Result<Tensor> stack(const Type& declared, const Type& element,
                       const std::function<std::optional<int64_t>(const Dim&)>& resolve) const;

 private:
  size_t index_;
  std::vector<Tensor> parts_;
};

}  // namespace sy
