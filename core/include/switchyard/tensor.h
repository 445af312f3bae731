// Tensor: a dense, row-major, immutable-after-creation n-dimensional array.
//
// A Tensor is a small value type (dtype, shape, shared storage). Copies share
// storage. Storage is either owned (allocated by Switchyard) or borrowed from a
// longer-lived owner such as a memory-mapped weights file, which it keeps alive.
// By convention a tensor is written only right after allocation, by the one
// kernel that produced it; after that it is read-only, so tensors can be shared
// freely between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "switchyard/dtype.h"
#include "switchyard/status.h"

namespace sy {

/// Concrete shape of a runtime tensor.
using Shape = std::vector<int64_t>;

/// Largest tensor Switchyard will allocate (bytes). Larger requests fail with
/// ResourceExhausted instead of attempting the allocation.
inline constexpr uint64_t kMaxTensorBytes = uint64_t{1} << 36;  // 64 GiB

/// Number of elements of `shape`, or an error for negative dims or overflow.
Result<int64_t> checkedNumel(const Shape& shape);

/// "[2, 3, 4]".
std::string shapeToString(const Shape& shape);

class Tensor {
 public:
  /// An invalid (absent) tensor.
  Tensor() = default;

  /// Allocates a zero-filled tensor. Fails for negative dims, overflow, or
  /// more than kMaxTensorBytes.
  static Result<Tensor> allocate(DType dtype, Shape shape);

  /// Wraps memory owned by someone else; `keepalive` is held for as long as
  /// any copy of the tensor lives. `data` must hold numel * dtypeSize bytes.
  static Tensor borrow(DType dtype, Shape shape, const void* data,
                       std::shared_ptr<const void> keepalive);

  /// Builds a tensor from doubles (converted to dtype). For tests and literals.
  static Result<Tensor> fromDoubles(DType dtype, Shape shape, const std::vector<double>& values);
  /// Builds a tensor from integers (converted to dtype).
  static Result<Tensor> fromInts(DType dtype, Shape shape, const std::vector<int64_t>& values);
  /// A rank-0 tensor.
  static Tensor scalarF32(float value);
  static Tensor scalarI64(int64_t value);
  static Tensor scalarBool(bool value);

  bool valid() const { return valid_; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t dim(int64_t i) const { return shape_[static_cast<size_t>(i)]; }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtypeSize(dtype_); }

  const void* data() const { return data_; }
  /// Writable pointer. Only for the producer of a freshly allocated tensor.
  void* mutableData() const { return const_cast<void*>(data_); }
  template <typename T>
  const T* data() const { return static_cast<const T*>(data_); }
  template <typename T>
  T* mutableData() const { return static_cast<T*>(mutableData()); }

  /// Element `flat` (row-major index) converted to double / int64. Works for
  /// every dtype (bool reads as 0/1; floats to int64 truncate toward zero).
  double getDouble(int64_t flat) const;
  int64_t getInt(int64_t flat) const;
  /// Stores `value` converted to the tensor's dtype (floats round to nearest
  /// even for f16/bf16; to integer dtypes truncate and wrap; to bool: != 0).
  void setDouble(int64_t flat, double value) const;
  void setInt(int64_t flat, int64_t value) const;

  /// Same data, new shape with the same number of elements (no copy).
  Result<Tensor> reshaped(Shape shape) const;
  /// Deep copy into fresh owned storage.
  Result<Tensor> clone() const;
  /// True when shape, dtype and every byte are equal.
  bool bitwiseEqual(const Tensor& other) const;

  /// "f32[2, 3]".
  std::string typeString() const;
  /// Short human-readable description with up to `maxElements` values.
  std::string toString(int64_t maxElements = 16) const;

 private:
  DType dtype_ = DType::F32;
  bool valid_ = false;
  Shape shape_;
  int64_t numel_ = 0;
  const void* data_ = nullptr;
  std::shared_ptr<const void> owner_;
};

/// Strides (in elements) of a dense row-major tensor of `shape`.
std::vector<int64_t> rowMajorStrides(const Shape& shape);

}  // namespace sy
