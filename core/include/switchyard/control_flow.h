// Run-time pieces of `if` and `loop` shared by every host-side executor: the
// reference interpreter (core) and the partitioned runtime (runtime/). Each
// executor keeps its own value slots and block walking; these helpers hold
// the semantics that must not drift between them: what counts as a
// condition, the trip count, and how scan outputs are checked and stacked.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
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

/// The default memory budget of a run: half of the machine's physical memory
/// (at least 1 GiB).
uint64_t defaultMemoryBudget();

/// Note [memory budget]: what one run may accumulate in memory whose size
/// depends on values rather than declared shapes (today: loop scan outputs,
/// which grow with the trip count). Shared by every collector of a run and by
/// the tensors they produce (the bytes are given back when those die), so it
/// outlives the run. Thread-safe.
class MemoryBudget {
 public:
  explicit MemoryBudget(uint64_t limit) : limit_(limit) {}
  /// Takes `bytes` from the budget, or fails with ResourceExhausted naming
  /// `what` and the limit (nothing is taken then).
  Status charge(uint64_t bytes, const std::string& what);
  /// Gives `bytes` back.
  void release(uint64_t bytes) { used_.fetch_sub(bytes); }
  uint64_t limit() const { return limit_; }
  uint64_t used() const { return used_.load(); }

 private:
  uint64_t limit_;
  std::atomic<uint64_t> used_{0};
};

/// Collects one scan output of a loop, iteration by iteration, into one
/// growing buffer (no tensor per iteration), and hands that buffer over as the
/// stacked tensor [iterations, ...] at the end.
class ScanCollector {
 public:
  /// `index` is the scan output's number among the loop's scan outputs (for
  /// errors); the buffer is charged to `budget` (may be null: no limit).
  ScanCollector(size_t index, std::shared_ptr<MemoryBudget> budget);
  ~ScanCollector();
  ScanCollector(ScanCollector&&) noexcept;
  ScanCollector(const ScanCollector&) = delete;
  ScanCollector& operator=(const ScanCollector&) = delete;
  ScanCollector& operator=(ScanCollector&&) = delete;

  /// Appends iteration `iteration`'s value; every value must have the dtype
  /// and shape of the first. Fails with ResourceExhausted when the buffer
  /// would exceed the budget or cannot be allocated.
  Status add(const Tensor& value, int64_t iteration);

  /// The stacked tensor [iterations, ...] (call once; the buffer moves into
  /// it). With no iterations the element shape comes from the types: the loop
  /// output's `declared` type (dims 1..), else the `element` type the body
  /// yields; `resolve` gives a dim's size where this run knows it (static, or
  /// a bound symbol); unknown dims become 0.
  Result<Tensor> stack(const Type& declared, const Type& element,
                       const std::function<std::optional<int64_t>(const Dim&)>& resolve);

 private:
  struct Buffer;
  size_t index_;
  std::shared_ptr<MemoryBudget> budget_;
  std::unique_ptr<Buffer> buffer_;
  Shape elementShape_;
  DType dtype_ = DType::F32;
  int64_t count_ = 0;
};

}  // namespace sy
