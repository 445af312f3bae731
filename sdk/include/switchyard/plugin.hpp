// Switchyard plugin SDK: a header-only C++17 helper over the C ABI in plugin.h.
//
// A plugin author writes three classes and one macro:
//
//   class MyRegion : public sy::sdk::CompiledRegion { execute(...) };
//   class MyBackend : public sy::sdk::Backend { querySupport(...), compile(...) };
//   class MyPlugin : public sy::sdk::Plugin { deviceCount(), deviceInfo(), createBackend() };
//   SY_DEFINE_PLUGIN(MyPlugin)   // in exactly one .cpp of the plugin
//
// The macro defines the exported `sy_plugin_get_api` and a static function
// table whose entries are trampolines into those classes. Inside the plugin,
// errors are C++ exceptions (throw sy::sdk::Error, or call sy::sdk::fail);
// every trampoline catches everything and returns it as an sy_error with the
// message, so nothing is ever thrown across the boundary. The trampolines also
// do the checks every plugin would otherwise repeat: struct_size, NULL
// pointers, indices, buffer ranges, execute's argument count, dtypes and
// shapes, unknown backend options, and freeing outputs when execute fails.
//
// Depends only on plugin.h and the standard library; never includes a
// Switchyard core header. docs/plugin-author-guide.md walks through it and
// sdk/examples/hello_backend is a complete plugin to copy.
//
// Note [Visibility]
// Each plugin library has its own table, plugin object and error objects
// (function-local statics). Those and the functions that own them are
// declared hidden (SY_SDK_HIDDEN), so two plugins loaded into one process
// never share them through symbol interposition, even when both copied the
// example and kept its class names. SY_DEFINE_PLUGIN exports the entry point
// (SY_PLUGIN_EXPORT). Build plugins with -fvisibility=hidden -fvisibility-inlines-hidden too
// (CMake: CXX_VISIBILITY_PRESET hidden, VISIBILITY_INLINES_HIDDEN ON), as the
// example does, so that nothing else of the plugin is exported either.
//
// Note [Arrays of ABI structs]
// A struct's size can grow in a later minor ABI version, so an array of them
// filled by a newer host has a larger element stride than this plugin's
// sizeof. The helper therefore steps through every array that crosses the ABI
// (values, nodes, attributes, blocks, options, node support answers, execute
// tensors) by the struct_size of its elements, which must all be equal, and
// reads only the fields of ABI 1.0, which any struct_size accepted here holds.
#pragma once

#if __cplusplus < 201703L
#error "switchyard/plugin.hpp needs C++17 or later"
#endif

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <limits>
#include <locale>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "switchyard/plugin.h"

#if defined(__GNUC__)
#define SY_SDK_HIDDEN __attribute__((visibility("hidden")))
#else
#define SY_SDK_HIDDEN
#endif

/// The plugin's definition of the opaque ABI error: a code and a message.
/// Created by sy::sdk::makeError, released by the table's error_destroy.
struct sy_error {
  int32_t code;        ///< sy_error_code
  std::string message; ///< never empty
};

namespace sy::sdk {

class Backend;

// ============================================================================
// dtypes

/// Bytes per element of an ABI dtype; 0 for a value outside sy_dtype.
inline size_t dtypeSize(int32_t dtype) noexcept {
  switch (dtype) {
    case SY_DTYPE_F32: return 4;
    case SY_DTYPE_F16: return 2;
    case SY_DTYPE_BF16: return 2;
    case SY_DTYPE_I8: return 1;
    case SY_DTYPE_I32: return 4;
    case SY_DTYPE_I64: return 8;
    case SY_DTYPE_BOOL: return 1;
    case SY_DTYPE_U8: return 1;
    case SY_DTYPE_I16: return 2;
    case SY_DTYPE_U16: return 2;
    case SY_DTYPE_U32: return 4;
    case SY_DTYPE_U64: return 8;
    case SY_DTYPE_F64: return 8;
    default: return 0;
  }
}

/// The IR's name of an ABI dtype ("f32", ...); "unknown" outside sy_dtype.
inline const char* dtypeName(int32_t dtype) noexcept {
  switch (dtype) {
    case SY_DTYPE_F32: return "f32";
    case SY_DTYPE_F16: return "f16";
    case SY_DTYPE_BF16: return "bf16";
    case SY_DTYPE_I8: return "i8";
    case SY_DTYPE_I32: return "i32";
    case SY_DTYPE_I64: return "i64";
    case SY_DTYPE_BOOL: return "bool";
    case SY_DTYPE_U8: return "u8";
    case SY_DTYPE_I16: return "i16";
    case SY_DTYPE_U16: return "u16";
    case SY_DTYPE_U32: return "u32";
    case SY_DTYPE_U64: return "u64";
    case SY_DTYPE_F64: return "f64";
    default: return "unknown";
  }
}

// ============================================================================
// Errors

/// Concatenates the arguments with operator<<: format("axis ", 3, " is out of range").
template <class... Args>
std::string format(const Args&... args) {
  std::ostringstream out;
  out.imbue(std::locale::classic());
  (out << ... << args);
  return out.str();
}

/// The exception a plugin throws to report an error with a specific
/// sy_error_code. The trampolines turn it into an sy_error. Any other
/// exception works too: std::bad_alloc becomes SY_ERROR_OUT_OF_MEMORY,
/// std::invalid_argument SY_ERROR_INVALID_ARGUMENT, any other std::exception
/// SY_ERROR_UNKNOWN with its what(), and anything else SY_ERROR_UNKNOWN.
class Error : public std::runtime_error {
 public:
  Error(int32_t code, const std::string& message) : std::runtime_error(message), code_(code) {}
  /// The sy_error_code.
  int32_t code() const noexcept { return code_; }

 private:
  int32_t code_;
};

/// Throws Error(code, format(args...)).
template <class... Args>
[[noreturn]] void fail(int32_t code, const Args&... args) {
  throw Error(code, format(args...));
}

/// Throws Error(code, format(args...)) unless `condition` holds. The
/// arguments are evaluated before the check: on hot paths (anything execute
/// runs per call) write `if (!ok) fail(...)` when a message argument is itself
/// a call that builds a string (formatDims, describe, typeString).
template <class... Args>
void require(bool condition, int32_t code, const Args&... args) {
  if (!condition) fail(code, args...);
}

/// The error returned when there is no memory left to build another one. It
/// has static storage; error_destroy leaves it alone. Its message fits the
/// small-string buffer of every standard library, so building it never
/// allocates.
SY_SDK_HIDDEN inline sy_error* outOfMemoryError() noexcept {
  static sy_error error{SY_ERROR_OUT_OF_MEMORY, "out of memory"};
  return &error;
}

/// A new error for the host to own. Never throws and never returns NULL: when
/// the error itself cannot be allocated it returns outOfMemoryError(). A code
/// below 1 (not an error code) becomes SY_ERROR_UNKNOWN; an empty message
/// becomes "(no message)".
inline sy_error* makeError(int32_t code, std::string_view message) noexcept {
  try {
    auto error = std::make_unique<sy_error>();
    error->code = code >= 1 ? code : SY_ERROR_UNKNOWN;
    error->message = message.empty() ? std::string_view("(no message)") : message;
    return error.release();  // the host owns it now, until error_destroy
  } catch (...) {
    return outOfMemoryError();
  }
}

/// Releases an error made by makeError (the table's error_destroy). NULL and
/// outOfMemoryError() are no-ops.
inline void destroyError(sy_error* error) noexcept {
  if (error == nullptr || error == outOfMemoryError()) return;
  std::unique_ptr<sy_error> owned(error);
}

/// The exception being handled, as an sy_error. Call only inside a catch block.
inline sy_error* errorFromCurrentException() noexcept {
  try {
    throw;
  } catch (const Error& e) {
    return makeError(e.code(), e.what());
  } catch (const std::bad_alloc&) {
    return outOfMemoryError();
  } catch (const std::invalid_argument& e) {
    return makeError(SY_ERROR_INVALID_ARGUMENT, e.what());
  } catch (const std::exception& e) {
    return makeError(SY_ERROR_UNKNOWN, e.what());
  } catch (...) {
    return makeError(SY_ERROR_UNKNOWN, "unknown exception (not derived from std::exception)");
  }
}

/// Runs `body`; returns NULL when it returns, or the error when it throws.
/// Every fallible trampoline is one call to guard.
template <class F>
sy_error* guard(F&& body) noexcept {
  try {
    body();
    return nullptr;
  } catch (...) {
    return errorFromCurrentException();
  }
}

// ============================================================================
// ArrayRef: a non-owning view of a C array (std::span is C++20).

template <class T>
class ArrayRef {
 public:
  ArrayRef() = default;
  ArrayRef(const T* data, size_t size) : data_(data), size_(size) {}
  ArrayRef(const std::vector<T>& v) : data_(v.data()), size_(v.size()) {}
  ArrayRef(std::initializer_list<T> list) : data_(list.begin()), size_(list.size()) {}
  template <size_t N>
  ArrayRef(const std::array<T, N>& a) : data_(a.data()), size_(N) {}

  const T* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }
  /// Unchecked.
  const T& operator[](size_t i) const { return data_[i]; }
  /// Checked: throws Error(SY_ERROR_INVALID_ARGUMENT) when i >= size().
  const T& at(size_t i) const {
    require(i < size_, SY_ERROR_INVALID_ARGUMENT, "index ", i, " out of range (size ", size_, ")");
    return data_[i];
  }
  std::vector<T> vec() const { return std::vector<T>(begin(), end()); }

  friend bool operator==(ArrayRef a, ArrayRef b) { return std::equal(a.begin(), a.end(), b.begin(), b.end()); }
  friend bool operator!=(ArrayRef a, ArrayRef b) { return !(a == b); }

 private:
  const T* data_ = nullptr;
  size_t size_ = 0;
};

/// "[2, 3]" (a dynamic dim, -1, prints as "?").
inline std::string formatDims(ArrayRef<int64_t> dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) s += ", ";
    s += dims[i] < 0 ? std::string("?") : std::to_string(dims[i]);
  }
  return s + "]";
}

/// Product of `dims`; throws Error(SY_ERROR_INVALID_ARGUMENT) on a negative dim
/// or on overflow.
inline int64_t elementCount(ArrayRef<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) fail(SY_ERROR_INVALID_ARGUMENT, "negative dim in ", formatDims(dims));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      fail(SY_ERROR_INVALID_ARGUMENT, "element count of ", formatDims(dims), " overflows");
    n *= d;
  }
  return n;
}

/// Bytes of a dense tensor; throws on an unknown dtype or on overflow.
inline size_t tensorBytes(int32_t dtype, ArrayRef<int64_t> dims) {
  const size_t size = dtypeSize(dtype);
  require(size != 0, SY_ERROR_INVALID_ARGUMENT, "unknown dtype ", dtype);
  const auto n = static_cast<uint64_t>(elementCount(dims));
  if (n > std::numeric_limits<size_t>::max() / size)
    fail(SY_ERROR_INVALID_ARGUMENT, "byte size of ", dtypeName(dtype), formatDims(dims), " overflows");
  return static_cast<size_t>(n) * size;
}

// ============================================================================
// ABI struct checks (see Note [Arrays of ABI structs])

namespace detail {

#define SY_SDK_END_OF(T, field) (offsetof(T, field) + sizeof(static_cast<T*>(nullptr)->field))

/// The smallest struct_size accepted for T: its size in ABI 1.0. These stay
/// frozen when later versions append fields.
template <class T>
struct Abi;
template <> struct Abi<sy_option> { static constexpr size_t minSize = SY_SDK_END_OF(sy_option, value); static constexpr const char* name = "sy_option"; };
template <> struct Abi<sy_device_info> { static constexpr size_t minSize = SY_SDK_END_OF(sy_device_info, host_visible_memory); static constexpr const char* name = "sy_device_info"; };
template <> struct Abi<sy_host_info> { static constexpr size_t minSize = SY_SDK_END_OF(sy_host_info, host_version); static constexpr const char* name = "sy_host_info"; };
template <> struct Abi<sy_value_info> { static constexpr size_t minSize = SY_SDK_END_OF(sy_value_info, constant_bytes); static constexpr const char* name = "sy_value_info"; };
template <> struct Abi<sy_tensor_literal> { static constexpr size_t minSize = SY_SDK_END_OF(sy_tensor_literal, bytes); static constexpr const char* name = "sy_tensor_literal"; };
template <> struct Abi<sy_attr> { static constexpr size_t minSize = SY_SDK_END_OF(sy_attr, tensor); static constexpr const char* name = "sy_attr"; };
template <> struct Abi<sy_block_view> { static constexpr size_t minSize = SY_SDK_END_OF(sy_block_view, returns); static constexpr const char* name = "sy_block_view"; };
template <> struct Abi<sy_node_view> { static constexpr size_t minSize = SY_SDK_END_OF(sy_node_view, blocks); static constexpr const char* name = "sy_node_view"; };
template <> struct Abi<sy_graph_view> { static constexpr size_t minSize = SY_SDK_END_OF(sy_graph_view, body); static constexpr const char* name = "sy_graph_view"; };
template <> struct Abi<sy_node_support> { static constexpr size_t minSize = SY_SDK_END_OF(sy_node_support, reason); static constexpr const char* name = "sy_node_support"; };
template <> struct Abi<sy_tensor> { static constexpr size_t minSize = SY_SDK_END_OF(sy_tensor, dims); static constexpr const char* name = "sy_tensor"; };
template <> struct Abi<sy_compiled_info> { static constexpr size_t minSize = SY_SDK_END_OF(sy_compiled_info, concurrent_execute); static constexpr const char* name = "sy_compiled_info"; };

#undef SY_SDK_END_OF

/// Throws unless `p` is non-NULL and its struct_size is at least ABI 1.0's.
template <class T>
void checkStruct(const T* p, std::string_view what) {
  require(p != nullptr, SY_ERROR_INVALID_ARGUMENT, what, " is NULL");
  require(p->struct_size >= Abi<T>::minSize, SY_ERROR_INVALID_ARGUMENT, what, ": struct_size ", p->struct_size,
          " is smaller than ", Abi<T>::name, " of ABI 1.0 (", Abi<T>::minSize, " bytes)");
}

/// An ABI array of T stepped through by its elements' struct_size.
/// T may be const (arrays the host fills) or not (arrays the plugin fills).
template <class T>
class StructArray {
 public:
  using Byte = std::conditional_t<std::is_const_v<T>, const unsigned char, unsigned char>;

  StructArray() = default;
  StructArray(T* base, size_t count, std::string_view what) : count_(count) {
    if (count == 0) return;
    require(base != nullptr, SY_ERROR_INVALID_ARGUMENT, what, ": ", count, " entries but a NULL array");
    checkStruct<std::remove_const_t<T>>(base, what);
    base_ = reinterpret_cast<Byte*>(base);
    stride_ = base->struct_size;
  }

  size_t size() const { return count_; }

  /// Element i; throws when i is out of range or its struct_size differs from
  /// the first element's.
  T& operator[](size_t i) const {
    require(i < count_, SY_ERROR_INVALID_ARGUMENT, "index ", i, " out of range (", count_, " entries)");
    T* element = reinterpret_cast<T*>(base_ + i * stride_);
    require(element->struct_size == stride_, SY_ERROR_INVALID_ARGUMENT, Abi<std::remove_const_t<T>>::name,
            " array: entry ", i, " has struct_size ", element->struct_size, ", entry 0 has ", stride_);
    return *element;
  }

 private:
  Byte* base_ = nullptr;
  size_t count_ = 0;
  size_t stride_ = 0;
};

inline std::string_view orEmpty(const char* s) { return s != nullptr ? std::string_view(s) : std::string_view(); }

}  // namespace detail

// ============================================================================
// Graph views: checked, read-only wrappers over sy_graph_view and what it
// points to. Like the view itself they are valid only during the call that
// received it (constant data excepted: see sy_value_info). Accessors throw
// Error(SY_ERROR_INVALID_ARGUMENT) on a malformed view or a bad index.

class GraphView;
class NodeView;

/// A tensor value: name, dtype and (possibly symbolic) shape.
class ValueView {
 public:
  ValueView(const sy_value_info& info, int32_t index) : info_(&info), index_(index) {
    require(info.rank >= -1, SY_ERROR_INVALID_ARGUMENT, "value ", index, ": rank ", info.rank, " is invalid");
    require(info.rank <= 0 || info.dims != nullptr, SY_ERROR_INVALID_ARGUMENT, "value ", index, ": rank ",
            info.rank, " but no dims");
    require(info.constant_bytes == 0 || info.constant_data != nullptr, SY_ERROR_INVALID_ARGUMENT, "value ", index,
            ": constant_bytes without constant_data");
  }

  /// Index in the graph's value list.
  int32_t index() const { return index_; }
  /// Unique within the view.
  std::string_view name() const { return detail::orEmpty(info_->name); }
  /// sy_dtype.
  int32_t dtype() const { return info_->dtype; }
  /// False when even the rank is unknown.
  bool hasRank() const { return info_->rank >= 0; }
  /// -1 when unknown.
  int32_t rank() const { return info_->rank; }
  /// `rank()` dims, -1 for a dim that is not a static number; empty when the rank is unknown.
  ArrayRef<int64_t> dims() const { return {info_->dims, info_->rank > 0 ? static_cast<size_t>(info_->rank) : 0}; }
  int64_t dim(size_t i) const { return dims().at(i); }
  /// The symbol's name of dim i ("N"), or NULL when it has none.
  const char* dimSymbol(size_t i) const {
    dims().at(i);  // range check
    return info_->dim_symbols != nullptr ? info_->dim_symbols[i] : nullptr;
  }
  /// Rank known and every dim a static number.
  bool isStatic() const {
    return hasRank() && std::all_of(dims().begin(), dims().end(), [](int64_t d) { return d >= 0; });
  }
  /// Number of elements; -1 unless isStatic().
  int64_t numElements() const { return isStatic() ? elementCount(dims()) : -1; }
  /// A compile-time constant (weight or literal) whose bytes the host provides.
  /// Since ABI 1.1 no node produces such a value and no block has it as a
  /// parameter (see sy_graph_view and GraphView::constants()).
  bool isConstant() const { return info_->constant_data != nullptr; }
  /// Dense row-major little-endian bytes, or NULL; valid until every region
  /// compiled from this view is destroyed.
  const void* constantData() const { return info_->constant_data; }
  size_t constantBytes() const { return info_->constant_bytes; }
  /// "f32[2, ?, 4]" (or "f32[*]" for an unknown rank), for messages.
  std::string typeString() const {
    if (!hasRank()) return std::string(dtypeName(dtype())) + "[*]";
    std::string s = std::string(dtypeName(dtype())) + "[";
    for (size_t i = 0; i < dims().size(); ++i) {
      if (i > 0) s += ", ";
      const char* symbol = dimSymbol(i);
      s += dims()[i] >= 0 ? std::to_string(dims()[i]) : symbol != nullptr ? std::string(symbol) : std::string("?");
    }
    return s + "]";
  }
  const sy_value_info& raw() const { return *info_; }

 private:
  const sy_value_info* info_;
  int32_t index_;
};

/// One attribute of a node. The as* accessors throw when the kind differs
/// (asFloat also accepts an int).
class AttrView {
 public:
  explicit AttrView(const sy_attr& attr) : attr_(&attr) {}

  std::string_view name() const { return detail::orEmpty(attr_->name); }
  /// sy_attr_kind.
  int32_t kind() const { return attr_->kind; }

  int64_t asInt() const {
    expect(SY_ATTR_INT, "an int");
    return attr_->i;
  }
  double asFloat() const {
    if (attr_->kind == SY_ATTR_INT) return static_cast<double>(attr_->i);
    expect(SY_ATTR_FLOAT, "a float");
    return attr_->f;
  }
  std::string asString() const {
    expect(SY_ATTR_STRING, "a string");
    return std::string(detail::orEmpty(attr_->s));
  }
  std::vector<int64_t> asInts() const {
    expect(SY_ATTR_INTS, "a list of ints");
    return list(attr_->ints);
  }
  std::vector<double> asFloats() const {
    expect(SY_ATTR_FLOATS, "a list of floats");
    return list(attr_->floats);
  }
  std::vector<std::string> asStrings() const {
    expect(SY_ATTR_STRINGS, "a list of strings");
    std::vector<std::string> out;
    for (const char* s : list(attr_->strings)) out.emplace_back(detail::orEmpty(s));
    return out;
  }
  /// The tensor literal; its data lives as long as the view.
  const sy_tensor_literal& asTensor() const {
    expect(SY_ATTR_TENSOR, "a tensor");
    detail::checkStruct(attr_->tensor, format("attribute '", name(), "'"));
    return *attr_->tensor;
  }
  const sy_attr& raw() const { return *attr_; }

 private:
  void expect(int32_t kind, const char* wanted) const {
    static constexpr const char* kKinds[] = {"an int", "a float", "a string", "a list of ints",
                                             "a list of floats", "a list of strings", "a tensor"};
    const char* actual = attr_->kind >= 0 && attr_->kind <= SY_ATTR_TENSOR ? kKinds[attr_->kind] : "of unknown kind";
    require(attr_->kind == kind, SY_ERROR_INVALID_ARGUMENT, "attribute '", name(), "' is ", actual, ", expected ",
            wanted);
  }
  template <class T>
  std::vector<T> list(const T* data) const {
    require(attr_->count == 0 || data != nullptr, SY_ERROR_INVALID_ARGUMENT, "attribute '", name(),
            "': count without data");
    return std::vector<T>(data, data + attr_->count);
  }

  const sy_attr* attr_;
};

/// A block of a node (if: then/else; loop: body) or the graph's body.
class BlockView {
 public:
  BlockView(const GraphView& graph, const sy_block_view& block);

  std::string_view label() const { return detail::orEmpty(block_->label); }
  size_t numParams() const { return block_->num_params; }
  ValueView param(size_t i) const;
  size_t numNodes() const { return block_->num_nodes; }
  /// The block's i-th node, in execution order.
  NodeView node(size_t i) const;
  size_t numReturns() const { return block_->num_returns; }
  ValueView returnValue(size_t i) const;
  const sy_block_view& raw() const { return *block_; }

 private:
  static int32_t entry(const int32_t* list, size_t count, size_t i, const char* what) {
    require(i < count, SY_ERROR_INVALID_ARGUMENT, what, " ", i, " out of range (", count, ")");
    require(list != nullptr, SY_ERROR_INVALID_ARGUMENT, "block: NULL ", what, " list");
    return list[i];
  }

  const GraphView* graph_;
  const sy_block_view* block_;
};

/// One node: op name, inputs, outputs, attributes and nested blocks.
class NodeView {
 public:
  NodeView(const GraphView& graph, const sy_node_view& node, size_t index)
      : graph_(&graph), node_(&node), index_(index) {}

  /// Index in the graph's node list (and in the query_support answers).
  size_t index() const { return index_; }
  /// Op name from docs/ir.md: "add", "conv", ...
  std::string_view op() const { return detail::orEmpty(node_->op); }
  /// Node name, "" if none.
  std::string_view name() const { return detail::orEmpty(node_->name); }
  /// "'add' node 'x'" (or "'add' node #3" when unnamed), for messages.
  std::string describe() const {
    return name().empty() ? format("'", op(), "' node #", index_) : format("'", op(), "' node '", name(), "'");
  }

  size_t numInputs() const { return node_->num_inputs; }
  /// False for an absent optional input (a negative value index).
  bool hasInput(size_t i) const { return valueIndex(node_->inputs, node_->num_inputs, i, "input") >= 0; }
  ValueView input(size_t i) const;
  size_t numOutputs() const { return node_->num_outputs; }
  ValueView output(size_t i) const;

  size_t numAttrs() const { return node_->num_attrs; }
  AttrView attr(size_t i) const { return AttrView(attrs()[i]); }
  /// The attribute named `name`, if present.
  std::optional<AttrView> findAttr(std::string_view name) const {
    const auto list = attrs();
    for (size_t i = 0; i < list.size(); ++i) {
      if (detail::orEmpty(list[i].name) == name) return AttrView(list[i]);
    }
    return std::nullopt;
  }
  bool hasAttr(std::string_view name) const { return findAttr(name).has_value(); }

  // Typed lookups: `fallback` when absent; Error when present with another kind.
  int64_t attrInt(std::string_view name, int64_t fallback) const {
    return lookup(name, fallback, [](const AttrView& a) { return a.asInt(); });
  }
  double attrFloat(std::string_view name, double fallback) const {
    return lookup(name, fallback, [](const AttrView& a) { return a.asFloat(); });
  }
  std::string attrString(std::string_view name, std::string fallback = {}) const {
    return lookup(name, std::move(fallback), [](const AttrView& a) { return a.asString(); });
  }
  std::vector<int64_t> attrInts(std::string_view name, std::vector<int64_t> fallback = {}) const {
    return lookup(name, std::move(fallback), [](const AttrView& a) { return a.asInts(); });
  }
  std::vector<double> attrFloats(std::string_view name, std::vector<double> fallback = {}) const {
    return lookup(name, std::move(fallback), [](const AttrView& a) { return a.asFloats(); });
  }
  std::vector<std::string> attrStrings(std::string_view name, std::vector<std::string> fallback = {}) const {
    return lookup(name, std::move(fallback), [](const AttrView& a) { return a.asStrings(); });
  }

  size_t numBlocks() const { return node_->num_blocks; }
  BlockView block(size_t i) const;

  const sy_node_view& raw() const { return *node_; }

 private:
  detail::StructArray<const sy_attr> attrs() const {
    return detail::StructArray<const sy_attr>(node_->attrs, node_->num_attrs, format(describe(), " attributes"));
  }
  template <class T, class F>
  T lookup(std::string_view name, T fallback, F get) const {
    const std::optional<AttrView> a = findAttr(name);
    if (!a) return fallback;
    try {
      return get(*a);
    } catch (const Error& e) {
      fail(e.code(), describe(), ": ", e.what());
    }
  }
  int32_t valueIndex(const int32_t* list, size_t count, size_t i, const char* what) const {
    if (i >= count) fail(SY_ERROR_INVALID_ARGUMENT, describe(), ": ", what, " ", i, " out of range (", count, ")");
    if (list == nullptr) fail(SY_ERROR_INVALID_ARGUMENT, describe(), ": NULL ", what, " list");
    return list[i];
  }

  const GraphView* graph_;
  const sy_node_view* node_;
  size_t index_;
};

/// A graph or region. `for (sy::sdk::NodeView n : graph.nodes())` visits every
/// node, nested ones included, in pre-order (the order of query answers);
/// `body().node(i)` gives a region's top-level nodes in execution order.
class GraphView {
 public:
  /// Checks the view's struct sizes and arrays; throws on a malformed view.
  explicit GraphView(const sy_graph_view* view)
      : view_(checked(view)),
        values_(view->values, view->num_values, "graph values"),
        nodes_(view->nodes, view->num_nodes, "graph nodes") {
    detail::checkStruct(&view->body, "graph body");
  }

  size_t numValues() const { return values_.size(); }
  /// The value at `index` (a value index from a node or block).
  ValueView value(int64_t index) const {
    require(index >= 0 && static_cast<uint64_t>(index) < values_.size(), SY_ERROR_INVALID_ARGUMENT, "value index ",
            index, " out of range (", values_.size(), " values)");
    return ValueView(values_[static_cast<size_t>(index)], static_cast<int32_t>(index));
  }

  size_t numNodes() const { return nodes_.size(); }
  NodeView node(size_t i) const { return NodeView(*this, nodes_[i], i); }

  /// Iterates over every node (pre-order).
  class NodeRange {
   public:
    class iterator {
     public:
      iterator(const GraphView* graph, size_t i) : graph_(graph), i_(i) {}
      NodeView operator*() const { return graph_->node(i_); }
      iterator& operator++() {
        ++i_;
        return *this;
      }
      bool operator!=(const iterator& other) const { return i_ != other.i_; }
      bool operator==(const iterator& other) const { return i_ == other.i_; }

     private:
      const GraphView* graph_;
      size_t i_;
    };
    explicit NodeRange(const GraphView* graph) : graph_(graph) {}
    iterator begin() const { return iterator(graph_, 0); }
    iterator end() const { return iterator(graph_, graph_->numNodes()); }

   private:
    const GraphView* graph_;
  };
  NodeRange nodes() const { return NodeRange(this); }

  /// The constants the graph (region) uses, in value order: since ABI 1.1,
  /// the values with constant_data that no node produces and that are no
  /// block's parameter (Note [constants are values] in the host). Upload or
  /// pack them at compile; execute never receives them. A value that is none
  /// of parameter, node output and constant is malformed: this throws.
  std::vector<ValueView> constants() const {
    std::vector<char> defined(values_.size(), 0);
    auto mark = [&](const int32_t* list, size_t count) {
      for (size_t i = 0; i < count && list != nullptr; ++i)
        if (list[i] >= 0 && static_cast<size_t>(list[i]) < defined.size()) defined[static_cast<size_t>(list[i])] = 1;
    };
    mark(view_->body.params, view_->body.num_params);
    for (size_t n = 0; n < nodes_.size(); ++n) {
      const NodeView node = this->node(n);
      mark(node.raw().outputs, node.raw().num_outputs);
      for (size_t b = 0; b < node.numBlocks(); ++b) mark(node.block(b).raw().params, node.block(b).raw().num_params);
    }
    std::vector<ValueView> out;
    for (size_t i = 0; i < values_.size(); ++i) {
      if (defined[i]) continue;
      ValueView v = value(static_cast<int64_t>(i));
      require(v.isConstant(), SY_ERROR_INVALID_ARGUMENT, "value ", i, " ('", v.name(),
              "') is neither a parameter, a node's output nor a constant");
      out.push_back(v);
    }
    return out;
  }

  /// params = the graph's (region's) inputs, returns = its outputs.
  BlockView body() const { return BlockView(*this, view_->body); }
  size_t numInputs() const { return view_->body.num_params; }
  ValueView input(size_t i) const { return body().param(i); }
  size_t numOutputs() const { return view_->body.num_returns; }
  ValueView output(size_t i) const { return body().returnValue(i); }

  const sy_graph_view& raw() const { return *view_; }

 private:
  static const sy_graph_view* checked(const sy_graph_view* view) {
    detail::checkStruct(view, "graph view");
    return view;
  }

  const sy_graph_view* view_;
  detail::StructArray<const sy_value_info> values_;
  detail::StructArray<const sy_node_view> nodes_;
};

inline BlockView::BlockView(const GraphView& graph, const sy_block_view& block) : graph_(&graph), block_(&block) {
  detail::checkStruct(&block, "block");
}
inline ValueView BlockView::param(size_t i) const {
  return graph_->value(entry(block_->params, block_->num_params, i, "param"));
}
inline NodeView BlockView::node(size_t i) const {
  const int32_t n = entry(block_->nodes, block_->num_nodes, i, "node");
  require(n >= 0 && static_cast<size_t>(n) < graph_->numNodes(), SY_ERROR_INVALID_ARGUMENT, "block node index ", n,
          " out of range");
  return graph_->node(static_cast<size_t>(n));
}
inline ValueView BlockView::returnValue(size_t i) const {
  return graph_->value(entry(block_->returns, block_->num_returns, i, "return"));
}

inline ValueView NodeView::input(size_t i) const {
  const int32_t v = valueIndex(node_->inputs, node_->num_inputs, i, "input");
  if (v < 0) fail(SY_ERROR_INVALID_ARGUMENT, describe(), ": optional input ", i, " is absent");
  return graph_->value(v);
}
inline ValueView NodeView::output(size_t i) const {
  return graph_->value(valueIndex(node_->outputs, node_->num_outputs, i, "output"));
}
inline BlockView NodeView::block(size_t i) const {
  detail::StructArray<const sy_block_view> blocks(node_->blocks, node_->num_blocks, format(describe(), " blocks"));
  return BlockView(*graph_, blocks[i]);
}

// ============================================================================
// Capability answers

/// The answer for one node of querySupport.
struct NodeSupport {
  bool supported = false;
  /// Estimated seconds for one run; only compared with other estimates.
  double cost = 0.0;
  /// Why not, when !supported (truncated to SY_REASON_SIZE - 1 bytes).
  std::string reason;

  static NodeSupport yes(double cost = 0.0) { return NodeSupport{true, cost, {}}; }
  static NodeSupport no(std::string reason) { return NodeSupport{false, 0.0, std::move(reason)}; }
};

// ============================================================================
// Buffers

/// Memory on a backend's device (an sy_buffer). The trampolines check every
/// offset/size range before calling read or write, and never pass bytes == 0.
/// Thread safety: different buffers from any thread at once.
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual size_t size() const = 0;
  /// Copies host memory in; offset + bytes <= size() already checked.
  virtual void write(size_t offset, const void* src, size_t bytes) = 0;
  /// Copies out to host memory; offset + bytes <= size() already checked.
  virtual void read(size_t offset, void* dst, size_t bytes) const = 0;
  /// The host address of the memory when it is host visible, else NULL.
  virtual void* hostPointer() const { return nullptr; }
};

/// Host memory, 64-byte aligned: the default buffer of a Backend, usable as is
/// by any backend whose device reads host memory.
class HostBuffer final : public Buffer {
  struct Key {
    explicit Key() = default;
  };

 public:
  static constexpr size_t kAlignment = 64;

  /// `bytes` of zeroed memory (0 is valid). Throws std::bad_alloc.
  static std::unique_ptr<HostBuffer> allocate(size_t bytes) {
    Memory memory(static_cast<std::byte*>(::operator new(std::max<size_t>(bytes, 1), std::align_val_t{kAlignment})));
    std::memset(memory.get(), 0, bytes);
    std::byte* data = memory.get();
    return std::make_unique<HostBuffer>(Key{}, std::move(memory), data, bytes, /*readOnly=*/false);
  }
  /// Wraps host memory the caller keeps valid (buffer_wrap_host); read-only.
  static std::unique_ptr<HostBuffer> wrap(const void* data, size_t bytes) {
    require(data != nullptr || bytes == 0, SY_ERROR_INVALID_ARGUMENT, "wrapping NULL host memory");
    return std::make_unique<HostBuffer>(Key{}, Memory(), static_cast<std::byte*>(const_cast<void*>(data)), bytes,
                                        /*readOnly=*/true);
  }

  size_t size() const override { return size_; }
  void write(size_t offset, const void* src, size_t bytes) override {
    require(!readOnly_, SY_ERROR_INVALID_ARGUMENT, "write to a buffer that wraps host memory (read-only)");
    if (bytes > 0) std::memcpy(data_ + offset, src, bytes);
  }
  void read(size_t offset, void* dst, size_t bytes) const override {
    if (bytes > 0) std::memcpy(dst, data_ + offset, bytes);
  }
  void* hostPointer() const override { return data_; }
  bool readOnly() const { return readOnly_; }

  struct AlignedDelete {
    void operator()(std::byte* p) const noexcept { ::operator delete(p, std::align_val_t{kAlignment}); }
  };
  using Memory = std::unique_ptr<std::byte, AlignedDelete>;
  HostBuffer(Key, Memory memory, std::byte* data, size_t bytes, bool readOnly)
      : memory_(std::move(memory)), data_(data), size_(bytes), readOnly_(readOnly) {}

 private:
  Memory memory_;  // empty when wrapping
  std::byte* data_;
  size_t size_;
  bool readOnly_;
};

// ============================================================================
// Tensors at execute

/// An input of execute: a buffer of this backend plus dtype and shape, dense
/// row-major at offset(). Already checked against the region's input type and
/// the buffer's size.
class InputTensor {
 public:
  InputTensor(const Buffer& buffer, size_t offset, int32_t dtype, ArrayRef<int64_t> dims)
      : buffer_(&buffer), offset_(offset), dtype_(dtype), rank_(dims.size()) {
    require(dims.size() <= SY_MAX_RANK, SY_ERROR_INVALID_ARGUMENT, "rank ", dims.size(), " > SY_MAX_RANK");
    std::copy(dims.begin(), dims.end(), dims_.begin());
  }

  const Buffer& buffer() const { return *buffer_; }
  size_t offset() const { return offset_; }
  int32_t dtype() const { return dtype_; }
  size_t rank() const { return rank_; }
  ArrayRef<int64_t> dims() const { return {dims_.data(), rank_}; }
  int64_t numElements() const { return elementCount(dims()); }
  size_t bytes() const { return tensorBytes(dtype_, dims()); }
  /// The data in host memory; throws when the buffer is not host visible.
  const void* hostData() const {
    const void* p = buffer_->hostPointer();
    require(p != nullptr, SY_ERROR_INTERNAL, "input buffer is not host visible");
    return static_cast<const std::byte*>(p) + offset_;
  }
  template <class T>
  const T* hostData() const {
    return static_cast<const T*>(hostData());
  }

 private:
  const Buffer* buffer_;
  size_t offset_;
  int32_t dtype_;
  size_t rank_;
  std::array<int64_t, SY_MAX_RANK> dims_{};
};

/// An output of execute, filled by the plugin: allocate() (or set()) once.
/// When execute throws, the helper frees every output buffer, as the ABI asks.
class OutputTensor {
 public:
  /// Allocates the output with `backend` (dense, offset 0).
  void allocate(Backend& backend, int32_t dtype, ArrayRef<int64_t> dims);
  /// Uses `buffer` (already holding the data at `offset`).
  void set(std::unique_ptr<Buffer> buffer, int32_t dtype, ArrayRef<int64_t> dims, size_t offset = 0) {
    require(buffer != nullptr, SY_ERROR_INTERNAL, "output set to a NULL buffer");
    require(dims.size() <= SY_MAX_RANK, SY_ERROR_INTERNAL, "output rank ", dims.size(), " > SY_MAX_RANK");
    buffer_ = std::move(buffer);
    offset_ = offset;
    dtype_ = dtype;
    rank_ = dims.size();
    std::copy(dims.begin(), dims.end(), dims_.begin());
  }

  bool isSet() const { return buffer_ != nullptr; }
  Buffer* buffer() const { return buffer_.get(); }
  size_t offset() const { return offset_; }
  int32_t dtype() const { return dtype_; }
  size_t rank() const { return rank_; }
  ArrayRef<int64_t> dims() const { return {dims_.data(), rank_}; }
  int64_t numElements() const { return elementCount(dims()); }
  size_t bytes() const { return tensorBytes(dtype_, dims()); }
  /// The data in host memory; throws when unset or not host visible.
  void* hostData() const {
    require(buffer_ != nullptr, SY_ERROR_INTERNAL, "output not allocated yet");
    void* p = buffer_->hostPointer();
    require(p != nullptr, SY_ERROR_INTERNAL, "output buffer is not host visible");
    return static_cast<std::byte*>(p) + offset_;
  }
  template <class T>
  T* hostData() const {
    return static_cast<T*>(hostData());
  }
  /// Gives up the buffer (used by the helper when handing it to the host).
  std::unique_ptr<Buffer> releaseBuffer() { return std::move(buffer_); }

 private:
  std::unique_ptr<Buffer> buffer_;
  size_t offset_ = 0;
  int32_t dtype_ = -1;
  size_t rank_ = 0;
  std::array<int64_t, SY_MAX_RANK> dims_{};
};

// ============================================================================
// The author's classes

/// Where a region reports its steps' timings (ABI 1.2 execute_profiled): the
/// host's sy_profile_sink, valid during executeProfiled.
class ProfileSink {
 public:
  explicit ProfileSink(const sy_profile_sink* sink) : sink_(sink) {}
  /// One step: its op(s) ("conv + relu"), its shapes ("" for none), and its
  /// start and duration in microseconds from the start of executeProfiled.
  void record(const char* name, const char* detail, double startUs, double durationUs) const {
    if (sink_ == nullptr || !SY_STRUCT_HAS(sy_profile_sink, sink_, record) || sink_->record == nullptr) return;
    sy_profile_event e{};
    e.struct_size = sizeof(e);
    e.name = name;
    e.detail = (detail != nullptr && *detail != '\0') ? detail : nullptr;
    e.start_us = startUs;
    e.duration_us = durationUs;
    sink_->record(sink_->user, &e);
  }

 private:
  const sy_profile_sink* sink_;
};

/// A compiled region (an sy_compiled). Lives until the host destroys it, which
/// happens before its backend is destroyed, so it may keep a Backend&.
class CompiledRegion {
 public:
  virtual ~CompiledRegion() = default;
  /// Runs the region. `inputs` are in the region's input order, already
  /// checked against its input types; fill every entry of `outputs` (one per
  /// region output, pre-sized) with allocate() or set(). The helper checks
  /// each output against the region's output type. Never modify inputs.
  virtual void execute(const std::vector<InputTensor>& inputs, std::vector<OutputTensor>& outputs) = 0;
  /// True when execute may run on several threads at once on this object
  /// (it keeps no mutable state, or locks it); otherwise the host serialises.
  virtual bool concurrentExecute() const { return false; }
  /// execute, reporting each step it runs to `sink` (ABI 1.2
  /// execute_profiled, asked for by profiles). The default reports nothing,
  /// and the host shows the region's total only.
  virtual void executeProfiled(const std::vector<InputTensor>& inputs, std::vector<OutputTensor>& outputs,
                               const ProfileSink& sink) {
    (void)sink;
    execute(inputs, outputs);
  }
};

/// A backend on one device (an sy_backend). query, compile and the buffer
/// entries may be called from any thread at once.
class Backend {
 public:
  virtual ~Backend() = default;
  /// Answers every node of `graph` (nested ones too, pre-order):
  /// support[node.index()], pre-sized to graph.numNodes() and pre-filled with
  /// "declined, no answer". Give a reason for each decline.
  virtual void querySupport(const GraphView& graph, std::vector<NodeSupport>& support) = 0;
  /// Compiles a region whose nodes this backend said it supports; throw
  /// (SY_ERROR_UNIMPLEMENTED) for a node it cannot run. The view is gone after
  /// the call: copy what you need (constant data may be kept by pointer).
  virtual std::unique_ptr<CompiledRegion> compile(const GraphView& region) = 0;
  /// Device memory; the default is HostBuffer (host visible).
  virtual std::unique_ptr<Buffer> allocate(size_t bytes) { return HostBuffer::allocate(bytes); }
  /// Wraps host memory without a copy (only reached when
  /// Plugin::wrapsHostMemory() is true); the default is HostBuffer::wrap.
  virtual std::unique_ptr<Buffer> wrapHostMemory(const void* data, size_t bytes) {
    return HostBuffer::wrap(data, bytes);
  }
};

inline void OutputTensor::allocate(Backend& backend, int32_t dtype, ArrayRef<int64_t> dims) {
  std::unique_ptr<Buffer> buffer = backend.allocate(tensorBytes(dtype, dims));
  set(std::move(buffer), dtype, dims);
}

/// Backend options from the config ("threads" -> "4"). Every getter marks its
/// key as read; after createBackend returns, the helper fails backend_create
/// for any key that was never read, naming it (the ABI's "unknown option keys
/// are an error"), with the closest key the plugin asked for ("did you mean
/// 'threads'?") and all of them. So read every option inside createBackend.
class Options {
 public:
  Options() = default;
  /// Adds an option; a key given twice is an error.
  void add(std::string key, std::string value) {
    for (const Entry& e : entries_) require(e.key != key, SY_ERROR_INVALID_ARGUMENT, "option '", key, "' given twice");
    entries_.push_back(Entry{std::move(key), std::move(value), false});
  }
  size_t size() const { return entries_.size(); }

  /// The value of `key`, if given.
  std::optional<std::string> get(std::string_view key) const {
    if (std::find(asked_.begin(), asked_.end(), key) == asked_.end()) asked_.emplace_back(key);
    for (const Entry& e : entries_) {
      if (e.key == key) {
        e.read = true;
        return e.value;
      }
    }
    return std::nullopt;
  }
  bool has(std::string_view key) const { return get(key).has_value(); }
  std::string getString(std::string_view key, std::string_view fallback) const {
    const auto v = get(key);
    return v ? *v : std::string(fallback);
  }
  /// A decimal integer; Error naming the key when malformed.
  int64_t getInt(std::string_view key, int64_t fallback) const {
    return parse<int64_t>(key, fallback, "an integer");
  }
  double getFloat(std::string_view key, double fallback) const { return parse<double>(key, fallback, "a number"); }
  /// true/false, 1/0, yes/no, on/off.
  bool getBool(std::string_view key, bool fallback) const {
    const auto v = get(key);
    if (!v) return fallback;
    if (*v == "true" || *v == "1" || *v == "yes" || *v == "on") return true;
    if (*v == "false" || *v == "0" || *v == "no" || *v == "off") return false;
    fail(SY_ERROR_INVALID_ARGUMENT, "option '", key, "': expected true or false, got '", *v, "'");
  }
  /// Keys no getter has read, in the order given.
  std::vector<std::string> unreadKeys() const {
    std::vector<std::string> keys;
    for (const Entry& e : entries_) {
      if (!e.read) keys.push_back(e.key);
    }
    return keys;
  }
  /// Every key a getter asked for (the options this plugin knows), in the
  /// order first asked, whether given or not.
  const std::vector<std::string>& askedKeys() const { return asked_; }
  /// The error text for an unknown `key`: "unknown option 'treads' for backend
  /// 'cpu' (did you mean 'threads'?); known options: threads, ...".
  std::string unknownKeyMessage(std::string_view key, std::string_view backend) const {
    std::string text = "unknown option '" + std::string(key) + "' for backend '" + std::string(backend) + "'";
    std::string best;
    size_t bestDistance = 3;  // suggest only keys at most 2 edits away
    for (const std::string& known : asked_) {
      const size_t d = editDistance(key, known);
      if (d < bestDistance) {
        bestDistance = d;
        best = known;
      }
    }
    if (!best.empty()) text += " (did you mean '" + best + "'?)";
    if (asked_.empty()) return text + "; this backend takes no options";
    text += "; known options: ";
    for (size_t i = 0; i < asked_.size(); ++i) text += (i ? ", " : "") + asked_[i];
    return text;
  }

 private:
  struct Entry {
    std::string key;
    std::string value;
    mutable bool read;
  };
  template <class T>
  T parse(std::string_view key, T fallback, const char* what) const {
    const auto v = get(key);
    if (!v) return fallback;
    std::istringstream in(*v);
    in.imbue(std::locale::classic());
    T value{};
    in >> value;
    require(!v->empty() && !in.fail() && in.peek() == std::char_traits<char>::eof(), SY_ERROR_INVALID_ARGUMENT,
            "option '", key, "': expected ", what, ", got '", *v, "'");
    return value;
  }

  static size_t editDistance(std::string_view a, std::string_view b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= b.size(); ++j)
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      std::swap(prev, cur);
    }
    return prev[b.size()];
  }

  std::vector<Entry> entries_;
  mutable std::vector<std::string> asked_;
};

/// What `init` learns about the host.
struct HostInfo {
  uint32_t abiMajor = 0;
  uint32_t abiMinor = 0;
  std::string hostVersion;  ///< e.g. "0.1.0"
};

/// One device (sy_device_info).
struct DeviceInfo {
  std::string name;               ///< e.g. "NVIDIA H100"
  int32_t type = SY_DEVICE_CPU;   ///< sy_device_type
  uint64_t memoryBytes = 0;       ///< 0 if unknown
  int32_t score = 0;              ///< higher = preferred when several devices match
  bool hostVisibleMemory = false; ///< true when buffers are host memory (HostBuffer is)
};

/// The plugin itself: one instance per loaded library, made (default
/// constructor) on the first sy_plugin_get_api call. Keep the constructor
/// cheap and free of failure: do real work in init().
class Plugin {
 public:
  /// `name` ([a-z0-9_]+, the backend name in configs), `version` and `vendor`
  /// must live as long as the library: pass string literals.
  Plugin(const char* name, const char* version, const char* vendor) : name_(name), version_(version), vendor_(vendor) {}
  virtual ~Plugin() = default;
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  const char* name() const { return name_; }
  const char* version() const { return version_; }
  const char* vendor() const { return vendor_; }

  /// Called once after loading (if the library is loaded several times, only
  /// for the first); throw when the plugin cannot work here (e.g. its driver
  /// is missing): the host then unloads it.
  virtual void init(const HostInfo& /*host*/) {}
  /// Called before unloading, after every object is destroyed. Must not throw
  /// (an exception is swallowed: there is nobody to report it to).
  virtual void shutdown() {}
  /// Thread safety (these three): any thread after init.
  virtual size_t deviceCount() = 0;
  /// `device` < deviceCount(), already checked.
  virtual DeviceInfo deviceInfo(size_t device) = 0;
  /// `device` < deviceCount(), already checked. Read every option you accept
  /// (see Options); unknown ones are rejected for you.
  virtual std::unique_ptr<Backend> createBackend(size_t device, const Options& options) = 0;
  /// True to fill the table's optional buffer_wrap_host entry (zero-copy
  /// inputs for host-memory devices; see Backend::wrapHostMemory). Read once.
  virtual bool wrapsHostMemory() const { return false; }

 private:
  const char* name_;
  const char* version_;
  const char* vendor_;
};

// ============================================================================
// The C side: handle definitions and trampolines (used by SY_DEFINE_PLUGIN)

namespace detail {

/// A region input or output type as compile saw it, to check execute's tensors.
struct RegionValue {
  std::string name;
  int32_t dtype = 0;
  int32_t rank = -1;           // -1: unknown
  std::vector<int64_t> dims;   // -1: dynamic
  std::string typeString;

  explicit RegionValue(const ValueView& v)
      : name(v.name()), dtype(v.dtype()), rank(v.rank()), dims(v.dims().vec()), typeString(v.typeString()) {}

  /// Throws (with `code`) unless a tensor of `dtype` and `dims` can be this
  /// value; the message starts "<kind> <index><suffix>". Builds no string
  /// unless it fails (execute calls this for every tensor of every run).
  void check(int32_t tensorDtype, ArrayRef<int64_t> tensorDims, int32_t code, const char* kind, size_t index,
             const char* suffix = "") const {
    bool ok = tensorDtype == dtype && (rank < 0 || static_cast<size_t>(rank) == tensorDims.size());
    for (size_t i = 0; ok && rank >= 0 && i < dims.size(); ++i) ok = dims[i] < 0 || dims[i] == tensorDims[i];
    if (!ok)
      fail(code, kind, " ", index, suffix, " ('", name, "'): expected ", typeString, ", got ", dtypeName(tensorDtype),
           formatDims(tensorDims));
  }
};

/// True when [offset, offset + bytes) fits in `size` (without overflow).
inline bool rangeFits(size_t offset, size_t bytes, size_t size) { return offset <= size && bytes <= size - offset; }

}  // namespace detail
}  // namespace sy::sdk

/// The plugin's definitions of the opaque ABI handles.
struct sy_backend {
  std::unique_ptr<sy::sdk::Backend> impl;
};
struct sy_buffer {
  std::unique_ptr<sy::sdk::Buffer> impl;
};
struct sy_compiled {
  std::unique_ptr<sy::sdk::CompiledRegion> impl;
  std::vector<sy::sdk::detail::RegionValue> inputs;
  std::vector<sy::sdk::detail::RegionValue> outputs;
};

namespace sy::sdk::detail {

/// The one plugin instance of the library, and what the table's entries share.
struct SY_SDK_HIDDEN PluginState {
  std::unique_ptr<Plugin> plugin;
  std::string constructionError;  // why `plugin` is NULL
  std::mutex mutex;
  int initCount = 0;              // init calls not yet matched by shutdown
  std::set<std::string> strings;  // device names: live as long as the library

  template <class P>
  explicit PluginState(std::in_place_type_t<P>) {
    try {
      plugin = std::make_unique<P>();
    } catch (const std::exception& e) {
      constructionError = e.what();
    } catch (...) {
      constructionError = "unknown exception";
    }
  }

  Plugin& get() {
    if (plugin == nullptr) fail(SY_ERROR_INTERNAL, "the plugin object could not be constructed: ", constructionError);
    return *plugin;
  }
  const char* intern(std::string s) {
    std::lock_guard<std::mutex> lock(mutex);
    return strings.insert(std::move(s)).first->c_str();
  }
};

template <class P>
SY_SDK_HIDDEN PluginState& pluginState() {
  static PluginState state{std::in_place_type<P>};
  return state;
}

inline bool validBackendName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

/// Copies `reason` into a sy_node_support reason, truncated at a UTF-8
/// character boundary.
inline void copyReason(std::string_view reason, char (&out)[SY_REASON_SIZE]) {
  size_t n = std::min(reason.size(), static_cast<size_t>(SY_REASON_SIZE - 1));
  if (n < reason.size()) {
    while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;
  }
  if (n > 0) std::memcpy(out, reason.data(), n);
  out[n] = '\0';
}

/// The table's entries for plugin class P. Every entry is noexcept.
template <class P>
struct SY_SDK_HIDDEN Entries {
  static Plugin& plugin() { return pluginState<P>().get(); }

  static void checkDevice(size_t device) {
    const size_t count = plugin().deviceCount();
    require(device < count, SY_ERROR_INVALID_ARGUMENT, "device ", device, " out of range (", count, " devices)");
  }
  static Buffer& bufferOf(const sy_buffer* buffer) {
    require(buffer != nullptr && buffer->impl != nullptr, SY_ERROR_INVALID_ARGUMENT, "buffer is NULL");
    return *buffer->impl;
  }
  static Backend& backendOf(sy_backend* backend) {
    require(backend != nullptr && backend->impl != nullptr, SY_ERROR_INVALID_ARGUMENT, "backend is NULL");
    return *backend->impl;
  }

  // --- errors
  static const char* errorMessage(const sy_error* error) noexcept {
    return error != nullptr ? error->message.c_str() : "(no error)";
  }
  static int32_t errorCode(const sy_error* error) noexcept { return error != nullptr ? error->code : 0; }
  static void errorDestroy(sy_error* error) noexcept { destroyError(error); }

  // --- lifetime
  static sy_error* init(const sy_host_info* host) noexcept {
    return guard([&] {
      checkStruct(host, "host info");
      require(host->abi_major == SY_ABI_VERSION_MAJOR, SY_ERROR_INVALID_ARGUMENT, "the plugin was built for ABI ",
              SY_ABI_VERSION_MAJOR, ".", SY_ABI_VERSION_MINOR, ", the host speaks ", host->abi_major, ".",
              host->abi_minor);
      Plugin& p = plugin();
      require(validBackendName(orEmpty(p.name())), SY_ERROR_INTERNAL, "plugin name '", orEmpty(p.name()),
              "' is not [a-z0-9_]+");
      PluginState& state = pluginState<P>();
      std::lock_guard<std::mutex> lock(state.mutex);
      if (state.initCount == 0) {
        HostInfo info;
        info.abiMajor = host->abi_major;
        info.abiMinor = host->abi_minor;
        info.hostVersion = orEmpty(host->host_version);
        p.init(info);
      }
      ++state.initCount;
    });
  }
  static void shutdown() noexcept {
    PluginState& state = pluginState<P>();
    std::lock_guard<std::mutex> lock(state.mutex);
    if (state.initCount == 0 || --state.initCount > 0 || state.plugin == nullptr) return;
    try {
      state.plugin->shutdown();
    } catch (...) {
    }
  }

  // --- devices
  static sy_error* deviceCount(size_t* out_count) noexcept {
    return guard([&] {
      require(out_count != nullptr, SY_ERROR_INVALID_ARGUMENT, "out_count is NULL");
      *out_count = 0;
      *out_count = plugin().deviceCount();
    });
  }
  static sy_error* deviceInfo(size_t device, sy_device_info* out_info) noexcept {
    return guard([&] {
      checkStruct(out_info, "out_info");
      out_info->name = nullptr;
      out_info->type = SY_DEVICE_CPU;
      out_info->memory_bytes = 0;
      out_info->score = 0;
      out_info->host_visible_memory = 0;
      checkDevice(device);
      DeviceInfo info = plugin().deviceInfo(device);
      const char* name = pluginState<P>().intern(std::move(info.name));
      out_info->name = name;
      out_info->type = info.type;
      out_info->memory_bytes = info.memoryBytes;
      out_info->score = info.score;
      out_info->host_visible_memory = info.hostVisibleMemory ? 1 : 0;
    });
  }

  // --- backends
  static sy_error* backendCreate(size_t device, const sy_option* options, size_t num_options,
                                 sy_backend** out_backend) noexcept {
    return guard([&] {
      require(out_backend != nullptr, SY_ERROR_INVALID_ARGUMENT, "out_backend is NULL");
      *out_backend = nullptr;
      checkDevice(device);
      Options opts;
      StructArray<const sy_option> list(options, num_options, "options");
      for (size_t i = 0; i < list.size(); ++i) {
        require(list[i].key != nullptr, SY_ERROR_INVALID_ARGUMENT, "option ", i, " has a NULL key");
        opts.add(list[i].key, std::string(orEmpty(list[i].value)));
      }
      auto handle = std::make_unique<sy_backend>();
      handle->impl = plugin().createBackend(device, opts);
      require(handle->impl != nullptr, SY_ERROR_INTERNAL, "createBackend returned NULL");
      const std::vector<std::string> unread = opts.unreadKeys();
      if (!unread.empty()) fail(SY_ERROR_INVALID_ARGUMENT, opts.unknownKeyMessage(unread[0], plugin().name()));
      *out_backend = handle.release();  // the host owns it, until backend_destroy
    });
  }
  static void backendDestroy(sy_backend* backend) noexcept { std::unique_ptr<sy_backend> owned(backend); }

  static sy_error* querySupport(sy_backend* backend, const sy_graph_view* graph, sy_node_support* out_support,
                                size_t num_nodes) noexcept {
    return guard([&] {
      StructArray<sy_node_support> out(out_support, num_nodes, "out_support");
      for (size_t i = 0; i < out.size(); ++i) {
        out[i].supported = 0;
        out[i].cost = 0.0;
        copyReason("the query failed", out[i].reason);
      }
      Backend& b = backendOf(backend);
      const GraphView view(graph);
      require(num_nodes == view.numNodes(), SY_ERROR_INVALID_ARGUMENT, "num_nodes is ", num_nodes, " but the graph has ",
              view.numNodes(), " nodes");
      std::vector<NodeSupport> support(num_nodes, NodeSupport::no("the plugin gave no answer for this node"));
      b.querySupport(view, support);
      require(support.size() == num_nodes, SY_ERROR_INTERNAL, "querySupport resized its answer list to ",
              support.size(), " (", num_nodes, " nodes)");
      for (size_t i = 0; i < num_nodes; ++i) {
        const NodeSupport& s = support[i];
        out[i].supported = s.supported ? 1 : 0;
        out[i].cost = s.supported ? s.cost : 0.0;
        copyReason(s.supported ? std::string_view()
                   : s.reason.empty() ? std::string_view("declined (the plugin gave no reason)")
                                      : std::string_view(s.reason),
                   out[i].reason);
      }
    });
  }

  static sy_error* compile(sy_backend* backend, const sy_graph_view* region, sy_compiled** out_compiled) noexcept {
    return guard([&] {
      require(out_compiled != nullptr, SY_ERROR_INVALID_ARGUMENT, "out_compiled is NULL");
      *out_compiled = nullptr;
      Backend& b = backendOf(backend);
      const GraphView view(region);
      auto handle = std::make_unique<sy_compiled>();
      for (size_t i = 0; i < view.numInputs(); ++i) handle->inputs.emplace_back(view.input(i));
      for (size_t i = 0; i < view.numOutputs(); ++i) handle->outputs.emplace_back(view.output(i));
      // execute's tensors hold at most SY_MAX_RANK dims.
      for (const auto* list : {&handle->inputs, &handle->outputs}) {
        for (const RegionValue& v : *list) {
          require(v.rank <= SY_MAX_RANK, SY_ERROR_UNIMPLEMENTED, "region value '", v.name, "' has rank ", v.rank,
                  ", more than SY_MAX_RANK (", SY_MAX_RANK, ")");
        }
      }
      handle->impl = b.compile(view);
      require(handle->impl != nullptr, SY_ERROR_INTERNAL, "compile returned NULL");
      *out_compiled = handle.release();  // the host owns it, until compiled_destroy
    });
  }
  static void compiledDestroy(sy_compiled* compiled) noexcept { std::unique_ptr<sy_compiled> owned(compiled); }
  static sy_error* compiledInfo(const sy_compiled* compiled, sy_compiled_info* out_info) noexcept {
    return guard([&] {
      checkStruct(out_info, "out_info");
      out_info->concurrent_execute = 0;
      require(compiled != nullptr && compiled->impl != nullptr, SY_ERROR_INVALID_ARGUMENT, "compiled is NULL");
      out_info->concurrent_execute = compiled->impl->concurrentExecute() ? 1 : 0;
    });
  }

  static sy_error* execute(sy_compiled* compiled, const sy_tensor* inputs, size_t num_inputs, sy_tensor* outputs,
                           size_t num_outputs) noexcept {
    return executeWith(compiled, inputs, num_inputs, outputs, num_outputs, nullptr);
  }
  static sy_error* executeProfiled(sy_compiled* compiled, const sy_tensor* inputs, size_t num_inputs,
                                   sy_tensor* outputs, size_t num_outputs, const sy_profile_sink* sink) noexcept {
    return executeWith(compiled, inputs, num_inputs, outputs, num_outputs, sink != nullptr ? sink : &kNoSink);
  }
  static constexpr sy_profile_sink kNoSink{sizeof(sy_profile_sink), nullptr, nullptr};
  /// `sink` NULL: execute; else executeProfiled.
  static sy_error* executeWith(sy_compiled* compiled, const sy_tensor* inputs, size_t num_inputs, sy_tensor* outputs,
                               size_t num_outputs, const sy_profile_sink* sink) noexcept {
    return guard([&] {
      StructArray<sy_tensor> out(outputs, num_outputs, "outputs");
      for (size_t i = 0; i < out.size(); ++i) {
        out[i].buffer = nullptr;
        out[i].offset = 0;
      }
      require(compiled != nullptr && compiled->impl != nullptr, SY_ERROR_INVALID_ARGUMENT, "compiled is NULL");
      require(num_inputs == compiled->inputs.size(), SY_ERROR_INVALID_ARGUMENT, "execute got ", num_inputs,
              " inputs, the region has ", compiled->inputs.size());
      require(num_outputs == compiled->outputs.size(), SY_ERROR_INVALID_ARGUMENT, "execute got ", num_outputs,
              " outputs, the region has ", compiled->outputs.size());

      StructArray<const sy_tensor> in(inputs, num_inputs, "inputs");
      std::vector<InputTensor> args;
      args.reserve(num_inputs);
      for (size_t i = 0; i < in.size(); ++i) {
        const sy_tensor& t = in[i];
        // Messages are built only on failure: this runs for every input of every call.
        if (t.rank < 0 || t.rank > SY_MAX_RANK)
          fail(SY_ERROR_INVALID_ARGUMENT, "input ", i, ": rank ", t.rank, " out of range");
        const ArrayRef<int64_t> dims(t.dims, static_cast<size_t>(t.rank));
        const Buffer& buffer = bufferOf(t.buffer);
        const size_t bytes = tensorBytes(t.dtype, dims);
        if (!rangeFits(t.offset, bytes, buffer.size()))
          fail(SY_ERROR_INVALID_ARGUMENT, "input ", i, ": ", bytes, " bytes at offset ", t.offset,
               " do not fit in its buffer of ", buffer.size());
        compiled->inputs[i].check(t.dtype, dims, SY_ERROR_INVALID_ARGUMENT, "input", i);
        args.emplace_back(buffer, t.offset, t.dtype, dims);
      }

      std::vector<OutputTensor> results(num_outputs);
      // On a throw, `results` frees what was allocated.
      if (sink != nullptr) {
        compiled->impl->executeProfiled(args, results, ProfileSink(sink));
      } else {
        compiled->impl->execute(args, results);
      }

      std::vector<std::unique_ptr<sy_buffer>> handles;
      handles.reserve(num_outputs);
      for (size_t i = 0; i < num_outputs; ++i) {
        OutputTensor& r = results[i];
        constexpr const char* bug = " of execute (a bug in the plugin)";
        if (!r.isSet()) fail(SY_ERROR_INTERNAL, "output ", i, bug, ": not set");
        const size_t bytes = tensorBytes(r.dtype(), r.dims());
        if (!rangeFits(r.offset(), bytes, r.buffer()->size()))
          fail(SY_ERROR_INTERNAL, "output ", i, bug, ": ", bytes, " bytes at offset ", r.offset(),
               " do not fit in its buffer of ", r.buffer()->size());
        // Another dtype or rank is the plugin's bug; other dims than the
        // declared ones are the model's (a mis-declared type), not the plugin's.
        const detail::RegionValue& declared = compiled->outputs[i];
        const bool kindOk =
            r.dtype() == declared.dtype && (declared.rank < 0 || static_cast<size_t>(declared.rank) == r.rank());
        declared.check(r.dtype(), r.dims(), kindOk ? SY_ERROR_INVALID_ARGUMENT : SY_ERROR_INTERNAL, "output", i,
                       kindOk ? " of the region (the model declares a shape that its computation does not have)" : bug);
        handles.push_back(std::make_unique<sy_buffer>());
      }
      // Nothing below throws: hand every output to the host at once.
      for (size_t i = 0; i < num_outputs; ++i) {
        OutputTensor& r = results[i];
        sy_tensor& t = out[i];
        t.offset = r.offset();
        t.dtype = r.dtype();
        t.rank = static_cast<int32_t>(r.rank());
        std::fill(std::begin(t.dims), std::end(t.dims), 0);
        std::copy(r.dims().begin(), r.dims().end(), t.dims);
        handles[i]->impl = r.releaseBuffer();
        t.buffer = handles[i].release();  // the host owns it, until buffer_free
      }
    });
  }

  // --- buffers
  static sy_error* bufferAlloc(sy_backend* backend, size_t bytes, sy_buffer** out_buffer) noexcept {
    return guard([&] {
      require(out_buffer != nullptr, SY_ERROR_INVALID_ARGUMENT, "out_buffer is NULL");
      *out_buffer = nullptr;
      auto handle = std::make_unique<sy_buffer>();
      handle->impl = backendOf(backend).allocate(bytes);
      require(handle->impl != nullptr && handle->impl->size() >= bytes, SY_ERROR_INTERNAL,
              "allocate returned no buffer or a smaller one");
      *out_buffer = handle.release();  // the host owns it, until buffer_free
    });
  }
  static void bufferFree(sy_buffer* buffer) noexcept { std::unique_ptr<sy_buffer> owned(buffer); }
  static size_t bufferSize(const sy_buffer* buffer) noexcept {
    try {
      return buffer != nullptr && buffer->impl != nullptr ? buffer->impl->size() : 0;
    } catch (...) {
      return 0;
    }
  }
  static sy_error* bufferWrite(sy_buffer* buffer, size_t offset, const void* src, size_t bytes) noexcept {
    return guard([&] {
      Buffer& b = bufferOf(buffer);
      require(src != nullptr || bytes == 0, SY_ERROR_INVALID_ARGUMENT, "src is NULL");
      require(rangeFits(offset, bytes, b.size()), SY_ERROR_INVALID_ARGUMENT, "write of ", bytes, " bytes at offset ",
              offset, " does not fit in a buffer of ", b.size());
      if (bytes > 0) b.write(offset, src, bytes);
    });
  }
  static sy_error* bufferRead(const sy_buffer* buffer, size_t offset, void* dst, size_t bytes) noexcept {
    return guard([&] {
      const Buffer& b = bufferOf(buffer);
      require(dst != nullptr || bytes == 0, SY_ERROR_INVALID_ARGUMENT, "dst is NULL");
      require(rangeFits(offset, bytes, b.size()), SY_ERROR_INVALID_ARGUMENT, "read of ", bytes, " bytes at offset ",
              offset, " does not fit in a buffer of ", b.size());
      if (bytes > 0) b.read(offset, dst, bytes);
    });
  }
  static void* bufferHostPointer(sy_buffer* buffer) noexcept {
    try {
      return buffer != nullptr && buffer->impl != nullptr ? buffer->impl->hostPointer() : nullptr;
    } catch (...) {
      return nullptr;
    }
  }
  static sy_error* bufferWrapHost(sy_backend* backend, const void* data, size_t bytes,
                                  sy_buffer** out_buffer) noexcept {
    return guard([&] {
      require(out_buffer != nullptr, SY_ERROR_INVALID_ARGUMENT, "out_buffer is NULL");
      *out_buffer = nullptr;
      require(data != nullptr || bytes == 0, SY_ERROR_INVALID_ARGUMENT, "data is NULL");
      auto handle = std::make_unique<sy_buffer>();
      handle->impl = backendOf(backend).wrapHostMemory(data, bytes);
      require(handle->impl != nullptr && handle->impl->size() >= bytes, SY_ERROR_INTERNAL,
              "wrapHostMemory returned no buffer or a smaller one");
      *out_buffer = handle.release();  // the host owns it, until buffer_free
    });
  }
};

template <class P>
SY_SDK_HIDDEN sy_plugin_api makeApi() noexcept {
  using E = Entries<P>;
  const Plugin* p = pluginState<P>().plugin.get();
  sy_plugin_api api{};
  api.struct_size = sizeof(sy_plugin_api);
  api.abi_major = SY_ABI_VERSION_MAJOR;
  api.abi_minor = SY_ABI_VERSION_MINOR;
  // Without a plugin object, init fails with the constructor's message.
  api.name = p != nullptr ? p->name() : "unconstructed_plugin";
  api.version = p != nullptr ? p->version() : "0";
  api.vendor = p != nullptr ? p->vendor() : "";
  api.error_message = &E::errorMessage;
  api.error_code = &E::errorCode;
  api.error_destroy = &E::errorDestroy;
  api.init = &E::init;
  api.shutdown = &E::shutdown;
  api.device_count = &E::deviceCount;
  api.device_info = &E::deviceInfo;
  api.backend_create = &E::backendCreate;
  api.backend_destroy = &E::backendDestroy;
  api.query_support = &E::querySupport;
  api.compile = &E::compile;
  api.compiled_destroy = &E::compiledDestroy;
  api.compiled_info = &E::compiledInfo;
  api.execute = &E::execute;
  api.execute_profiled = &E::executeProfiled;
  api.buffer_alloc = &E::bufferAlloc;
  api.buffer_free = &E::bufferFree;
  api.buffer_size = &E::bufferSize;
  api.buffer_write = &E::bufferWrite;
  api.buffer_read = &E::bufferRead;
  api.buffer_host_pointer = &E::bufferHostPointer;
  bool wraps = false;
  try {
    wraps = p != nullptr && p->wrapsHostMemory();
  } catch (...) {
  }
  api.buffer_wrap_host = wraps ? &E::bufferWrapHost : nullptr;
  return api;
}

/// The static table of plugin class P (built on the first call).
template <class P>
SY_SDK_HIDDEN const sy_plugin_api* pluginApi() noexcept {
  static const sy_plugin_api api = makeApi<P>();
  return &api;
}

}  // namespace sy::sdk::detail

/// Defines the plugin's exported entry point, `sy_plugin_get_api`, returning
/// the function table for PluginClass (derived from sy::sdk::Plugin, default
/// constructible). Use once per plugin library, at namespace scope.
#define SY_DEFINE_PLUGIN(PluginClass)                                                                       \
  static_assert(std::is_base_of_v<::sy::sdk::Plugin, PluginClass>,                                         \
                #PluginClass " must derive from sy::sdk::Plugin");                                          \
  static_assert(std::is_default_constructible_v<PluginClass>, #PluginClass " needs a default constructor"); \
  extern "C" SY_PLUGIN_EXPORT const sy_plugin_api* sy_plugin_get_api(void) {                                \
    return ::sy::sdk::detail::pluginApi<PluginClass>();                                                    \
  }
