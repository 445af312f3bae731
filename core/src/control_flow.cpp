#include "switchyard/control_flow.h"

#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

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

uint64_t defaultMemoryBudget() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long pageSize = ::sysconf(_SC_PAGESIZE);
  const uint64_t oneGiB = uint64_t{1} << 30;
  if (pages <= 0 || pageSize <= 0) return 4 * oneGiB;
  return std::max(oneGiB, static_cast<uint64_t>(pages) * static_cast<uint64_t>(pageSize) / 2);
}

Status MemoryBudget::charge(uint64_t bytes, const std::string& what) {
  uint64_t used = used_.load();
  do {
    if (bytes > limit_ || used > limit_ - bytes)
      return resourceExhausted(what, " needs ", bytes, " more bytes, which exceeds the run's memory budget (", limit_,
                               " bytes, ", used, " in use; config key memory_budget)");
  } while (!used_.compare_exchange_weak(used, used + bytes));
  return Status::OK();
}

/// The growing storage of a collector. Its bytes stay charged to the budget
/// until the buffer dies (after stack(), when the last tensor sharing it dies).
struct ScanCollector::Buffer {
  std::byte* data = nullptr;
  size_t size = 0;      // bytes in use
  size_t capacity = 0;  // bytes allocated and charged
  std::shared_ptr<MemoryBudget> budget;

  ~Buffer() {
    std::free(data);
    if (budget) budget->release(capacity);
  }

  /// Makes room for `extra` more bytes, growing geometrically.
  Status reserve(size_t extra, const std::string& what) {
    if (size + extra <= capacity) return Status::OK();
    if (extra > kMaxTensorBytes - size)
      return resourceExhausted(what, " would exceed ", kMaxTensorBytes, " bytes");
    size_t want = std::max<size_t>({size + extra, capacity + capacity / 2, 4096});
    want = std::min<size_t>(want, std::max<size_t>(size + extra, kMaxTensorBytes));
    if (budget) {
      Status st = budget->charge(want - capacity, what);
      if (!st.ok() && want > size + extra) {
        // Geometric growth overshot the budget: try exactly what is needed.
        want = size + extra;
        st = budget->charge(want - capacity, what);
      }
      SY_RETURN_IF_ERROR(st);
    }
    void* grown = std::realloc(data, want);
    if (!grown) {
      if (budget) budget->release(want - capacity);
      return resourceExhausted(what, ": cannot allocate ", want, " bytes");
    }
    data = static_cast<std::byte*>(grown);
    capacity = want;
    return Status::OK();
  }
};

ScanCollector::ScanCollector(size_t index, std::shared_ptr<MemoryBudget> budget)
    : index_(index), budget_(std::move(budget)) {}
ScanCollector::~ScanCollector() = default;
ScanCollector::ScanCollector(ScanCollector&&) noexcept = default;

Status ScanCollector::add(const Tensor& value, int64_t iteration) {
  if (count_ > 0 && (elementShape_ != value.shape() || dtype_ != value.dtype()))
    return invalidArgument("scan output ", index_, " is ", value.typeString(), " in iteration ", iteration, " but ",
                           dtypeName(dtype_), shapeToString(elementShape_), " in iteration 0");
  if (!buffer_) {
    buffer_ = std::make_unique<Buffer>();
    buffer_->budget = budget_;
    elementShape_ = value.shape();
    dtype_ = value.dtype();
  }
  const size_t n = value.nbytes();
  SY_RETURN_IF_ERROR(buffer_->reserve(n, "scan output " + std::to_string(index_) + " (iteration " +
                                              std::to_string(iteration) + ", " + value.typeString() + " each)"));
  if (n) std::memcpy(buffer_->data + buffer_->size, value.data(), n);
  buffer_->size += n;
  ++count_;
  return Status::OK();
}

Result<Tensor> ScanCollector::stack(const Type& declared, const Type& element,
                                    const std::function<std::optional<int64_t>(const Dim&)>& resolve) {
  Shape shape{count_};
  if (count_ > 0) {
    shape.insert(shape.end(), elementShape_.begin(), elementShape_.end());
  } else if (declared.rankKnown() || element.rankKnown()) {
    const int64_t rank = declared.rankKnown() ? declared.rank() - 1 : element.rank();
    const bool useElement = element.rankKnown() && element.rank() == rank;
    for (int64_t i = 0; i < rank; ++i) {
      std::optional<int64_t> d = declared.rankKnown() ? resolve(declared.dim(i + 1)) : std::nullopt;
      if (!d && useElement) d = resolve(element.dim(i));
      shape.push_back(d.value_or(0));
    }
  }
  if (count_ == 0 || !buffer_ || buffer_->size == 0) {
    buffer_.reset();
    return Tensor::allocate(count_ > 0 ? dtype_ : declared.dtype(), shape);
  }
  // The buffer becomes the tensor's storage (no copy); it keeps its budget
  // charge until the last tensor sharing it dies.
  if (buffer_->capacity > buffer_->size) {
    // Give back the slack of the geometric growth (shrinking never moves much).
    if (void* shrunk = std::realloc(buffer_->data, buffer_->size)) {
      buffer_->data = static_cast<std::byte*>(shrunk);
      if (buffer_->budget) buffer_->budget->release(buffer_->capacity - buffer_->size);
      buffer_->capacity = buffer_->size;
    }
  }
  std::shared_ptr<Buffer> owner(std::move(buffer_));
  const void* data = owner->data;
  count_ = 0;
  return Tensor::borrow(dtype_, std::move(shape), data, std::shared_ptr<const void>(owner, data));
}

}  // namespace sy
