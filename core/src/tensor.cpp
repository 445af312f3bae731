#include "switchyard/tensor.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <sstream>

namespace sy {

Result<int64_t> checkedNumel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return invalidArgument("negative dimension ", d, " in shape ", shapeToString(shape));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      return resourceExhausted("shape ", shapeToString(shape), " has more elements than fit in 64 bits");
    n *= d;
  }
  return n;
}

std::string shapeToString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::vector<int64_t> rowMajorStrides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  return strides;
}

Result<Tensor> Tensor::allocate(DType dtype, Shape shape) {
  SY_ASSIGN_OR_RETURN(int64_t n, checkedNumel(shape));
  const uint64_t elem = dtypeSize(dtype);
  if (static_cast<uint64_t>(n) > kMaxTensorBytes / elem)
    return resourceExhausted("tensor ", dtypeName(dtype), shapeToString(shape), " needs ",
                             static_cast<double>(n) * static_cast<double>(elem),
                             " bytes, over the limit of ", kMaxTensorBytes, " bytes");
  Tensor t;
  t.dtype_ = dtype;
  t.valid_ = true;
  t.shape_ = std::move(shape);
  t.numel_ = n;
  const size_t bytes = static_cast<size_t>(n) * elem;
  // Always allocate at least one byte so data() is never null for a valid tensor.
  std::byte* raw = new (std::nothrow) std::byte[bytes == 0 ? 1 : bytes]();
  if (raw == nullptr) return resourceExhausted("out of memory allocating ", bytes, " bytes");
  std::shared_ptr<std::byte[]> owner(raw);
  t.data_ = raw;
  t.owner_ = std::shared_ptr<const void>(owner, raw);
  return t;
}

Tensor Tensor::borrow(DType dtype, Shape shape, const void* data, std::shared_ptr<const void> keepalive) {
  Tensor t;
  t.dtype_ = dtype;
  t.valid_ = true;
  t.shape_ = std::move(shape);
  auto n = checkedNumel(t.shape_);
  t.numel_ = n.ok() ? *n : 0;
  t.data_ = data;
  t.owner_ = std::move(keepalive);
  return t;
}

Result<Tensor> Tensor::fromDoubles(DType dtype, Shape shape, const std::vector<double>& values) {
  SY_ASSIGN_OR_RETURN(Tensor t, allocate(dtype, std::move(shape)));
  if (static_cast<size_t>(t.numel()) != values.size())
    return invalidArgument("tensor of shape ", shapeToString(t.shape()), " needs ", t.numel(),
                           " values, got ", values.size());
  for (size_t i = 0; i < values.size(); ++i) t.setDouble(static_cast<int64_t>(i), values[i]);
  return t;
}

Result<Tensor> Tensor::fromInts(DType dtype, Shape shape, const std::vector<int64_t>& values) {
  SY_ASSIGN_OR_RETURN(Tensor t, allocate(dtype, std::move(shape)));
  if (static_cast<size_t>(t.numel()) != values.size())
    return invalidArgument("tensor of shape ", shapeToString(t.shape()), " needs ", t.numel(),
                           " values, got ", values.size());
  for (size_t i = 0; i < values.size(); ++i) t.setInt(static_cast<int64_t>(i), values[i]);
  return t;
}

Tensor Tensor::scalarF32(float value) {
  Tensor t = allocate(DType::F32, {}).value();
  t.setDouble(0, value);
  return t;
}
Tensor Tensor::scalarI64(int64_t value) {
  Tensor t = allocate(DType::I64, {}).value();
  t.setInt(0, value);
  return t;
}
Tensor Tensor::scalarBool(bool value) {
  Tensor t = allocate(DType::Bool, {}).value();
  t.setInt(0, value ? 1 : 0);
  return t;
}

namespace {
template <typename T>
T load(const void* base, int64_t i) {
  T v;
  std::memcpy(&v, static_cast<const std::byte*>(base) + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
  return v;
}
template <typename T>
void store(void* base, int64_t i, T v) {
  std::memcpy(static_cast<std::byte*>(base) + i * static_cast<int64_t>(sizeof(T)), &v, sizeof(T));
}

int64_t doubleToInt64(double v) {
  if (std::isnan(v)) return 0;
  if (v >= 9.2233720368547758e18) return std::numeric_limits<int64_t>::max();
  if (v <= -9.2233720368547758e18) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}
}  // namespace

double Tensor::getDouble(int64_t i) const {
  switch (dtype_) {
    case DType::F32: return load<float>(data_, i);
    case DType::F16: return halfToFloat(load<uint16_t>(data_, i));
    case DType::BF16: return bfloat16ToFloat(load<uint16_t>(data_, i));
    case DType::I8: return load<int8_t>(data_, i);
    case DType::I32: return load<int32_t>(data_, i);
    case DType::I64: return static_cast<double>(load<int64_t>(data_, i));
    case DType::Bool: return load<uint8_t>(data_, i) != 0 ? 1.0 : 0.0;
    case DType::U8: return load<uint8_t>(data_, i);
    case DType::I16: return load<int16_t>(data_, i);
    case DType::U16: return load<uint16_t>(data_, i);
    case DType::U32: return load<uint32_t>(data_, i);
    case DType::U64: return static_cast<double>(load<uint64_t>(data_, i));
    case DType::F64: return load<double>(data_, i);
  }
  return 0;
}

int64_t Tensor::getInt(int64_t i) const {
  switch (dtype_) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::F64: return doubleToInt64(getDouble(i));
    case DType::I8: return load<int8_t>(data_, i);
    case DType::I32: return load<int32_t>(data_, i);
    case DType::I64: return load<int64_t>(data_, i);
    case DType::Bool: return load<uint8_t>(data_, i) != 0 ? 1 : 0;
    case DType::U8: return load<uint8_t>(data_, i);
    case DType::I16: return load<int16_t>(data_, i);
    case DType::U16: return load<uint16_t>(data_, i);
    case DType::U32: return load<uint32_t>(data_, i);
    case DType::U64: return static_cast<int64_t>(load<uint64_t>(data_, i));  // two's complement bits
  }
  return 0;
}

void Tensor::setDouble(int64_t i, double v) const {
  void* p = mutableData();
  switch (dtype_) {
    case DType::F32: store<float>(p, i, static_cast<float>(v)); return;
    case DType::F16: store<uint16_t>(p, i, floatToHalf(static_cast<float>(v))); return;
    case DType::BF16: store<uint16_t>(p, i, floatToBfloat16(static_cast<float>(v))); return;
    case DType::Bool: store<uint8_t>(p, i, v != 0.0 ? 1 : 0); return;
    case DType::F64: store<double>(p, i, v); return;
    case DType::U64:
      // Above INT64_MAX the int64 path would saturate: convert directly.
      if (v >= 9.2233720368547758e18) {
        store<uint64_t>(p, i, v >= 1.8446744073709552e19 ? UINT64_MAX : static_cast<uint64_t>(v));
        return;
      }
      setInt(i, doubleToInt64(v));
      return;
    default: setInt(i, doubleToInt64(v)); return;
  }
}

void Tensor::setInt(int64_t i, int64_t v) const {
  void* p = mutableData();
  switch (dtype_) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::F64: setDouble(i, static_cast<double>(v)); return;
    case DType::I8: store<int8_t>(p, i, static_cast<int8_t>(v)); return;
    case DType::U8: store<uint8_t>(p, i, static_cast<uint8_t>(v)); return;
    case DType::I16: store<int16_t>(p, i, static_cast<int16_t>(v)); return;
    case DType::U16: store<uint16_t>(p, i, static_cast<uint16_t>(v)); return;
    case DType::U32: store<uint32_t>(p, i, static_cast<uint32_t>(v)); return;
    case DType::U64: store<uint64_t>(p, i, static_cast<uint64_t>(v)); return;
    case DType::I32: store<int32_t>(p, i, static_cast<int32_t>(v)); return;
    case DType::I64: store<int64_t>(p, i, v); return;
    case DType::Bool: store<uint8_t>(p, i, v != 0 ? 1 : 0); return;
  }
}

Result<Tensor> Tensor::reshaped(Shape shape) const {
  SY_ASSIGN_OR_RETURN(int64_t n, checkedNumel(shape));
  if (n != numel_)
    return invalidArgument("cannot reshape ", shapeToString(shape_), " (", numel_, " elements) to ",
                           shapeToString(shape), " (", n, " elements)");
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Result<Tensor> Tensor::clone() const {
  SY_ASSIGN_OR_RETURN(Tensor t, allocate(dtype_, shape_));
  if (nbytes() > 0) std::memcpy(t.mutableData(), data_, nbytes());
  return t;
}

bool Tensor::bitwiseEqual(const Tensor& o) const {
  if (valid_ != o.valid_ || dtype_ != o.dtype_ || shape_ != o.shape_) return false;
  return nbytes() == 0 || std::memcmp(data_, o.data_, nbytes()) == 0;
}

std::string Tensor::typeString() const { return std::string(dtypeName(dtype_)) + shapeToString(shape_); }

std::string Tensor::toString(int64_t maxElements) const {
  if (!valid_) return "<no tensor>";
  std::ostringstream os;
  os << typeString() << " {";
  const int64_t n = std::min(numel_, maxElements);
  for (int64_t i = 0; i < n; ++i) {
    if (i) os << ", ";
    if (isFloat(dtype_)) os << getDouble(i);
    else os << getInt(i);
  }
  if (n < numel_) os << ", ...";
  os << "}";
  return os.str();
}

}  // namespace sy
