// Shared internals of the in-tree test plugins (tests/plugins/). Written
// against sdk/include/switchyard/plugin.h only, in plain C++17, the way an
// out-of-tree plugin author without the C++ helper would write it.
//
// Holds: the sy_error type and error helpers, a host-memory sy_buffer with
// bounds-checked read/write, f32 kernels (broadcasting binary elementwise,
// unary, numpy matmul), the per-node support check, and `Plan`, a compiled
// straight-line region that runs on the host. Everything here is internal to
// each plugin (built with hidden visibility; only sy_plugin_get_api is
// exported).
#ifndef SY_TEST_PLUGINS_COMMON_H_
#define SY_TEST_PLUGINS_COMMON_H_

#include <switchyard/plugin.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

// ---------------------------------------------------------------------------
// Errors

struct sy_error {
  int32_t code;
  std::string message;
};

namespace sytest {

// Returned when even the error cannot be allocated; never deleted.
inline sy_error* oom_error() {
  static sy_error e{SY_ERROR_OUT_OF_MEMORY, "out of memory while reporting an error"};
  return &e;
}

inline sy_error* make_error(int32_t code, std::string message) {
  try {
    return new sy_error{code, std::move(message)};
  } catch (...) {
    return oom_error();
  }
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
inline sy_error* errorf(int32_t code, const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return make_error(code, buf);
}

inline std::string strf(const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
inline std::string strf(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return buf;
}

inline const char* error_message(const sy_error* e) { return e ? e->message.c_str() : "(no error)"; }
inline int32_t error_code(const sy_error* e) { return e ? e->code : SY_ERROR_INTERNAL; }
inline void error_destroy(sy_error* e) {
  if (e && e != oom_error()) delete e;
}

// Copies `reason` into a node answer, truncated to fit.
inline void set_reason(sy_node_support* s, const std::string& reason) {
  const size_t n = std::min(reason.size(), static_cast<size_t>(SY_REASON_SIZE - 1));
  std::memcpy(s->reason, reason.data(), n);
  s->reason[n] = '\0';
}

inline const char* dtype_name(int32_t d) {
  switch (d) {
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
    default: return "(invalid dtype)";
  }
}

// Comma-separated list -> set, blanks trimmed, empty items dropped.
inline std::set<std::string> split_list(const char* s) {
  std::set<std::string> out;
  std::string cur;
  auto flush = [&] {
    size_t b = cur.find_first_not_of(" \t"), e = cur.find_last_not_of(" \t");
    if (b != std::string::npos) out.insert(cur.substr(b, e - b + 1));
    cur.clear();
  };
  for (const char* p = s ? s : ""; *p; ++p) {
    if (*p == ',') flush();
    else cur += *p;
  }
  flush();
  return out;
}

// ---------------------------------------------------------------------------
// Buffers: host memory, used by every test plugin. memdev hides the address
// (no buffer_host_pointer); the small plugins expose it.

}  // namespace sytest

struct sy_backend;

struct sy_buffer {
  sy_backend* backend = nullptr;  // who allocated it
  size_t size = 0;
  uint8_t* data = nullptr;        // never NULL (a 0-byte buffer still has 1 byte behind it)
  bool owned = true;              // false: wraps host memory (buffer_wrap_host), read only
};

namespace sytest {

// Allocates a zeroed buffer; NULL when out of memory.
inline sy_buffer* new_host_buffer(sy_backend* backend, size_t bytes) {
  auto* b = new (std::nothrow) sy_buffer;
  if (!b) return nullptr;
  b->data = new (std::nothrow) uint8_t[bytes ? bytes : 1]();
  if (!b->data) {
    delete b;
    return nullptr;
  }
  b->backend = backend;
  b->size = bytes;
  return b;
}

inline void delete_host_buffer(sy_buffer* b) {
  if (!b) return;
  if (b->owned) delete[] b->data;
  delete b;
}

inline sy_error* check_range(const sy_buffer* b, size_t offset, size_t bytes, const char* what) {
  if (!b) return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: buffer is NULL", what);
  if (offset > b->size || bytes > b->size - offset)
    return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: range [%zu, %zu + %zu) is outside the %zu-byte buffer", what,
                  offset, offset, bytes, b->size);
  return nullptr;
}

inline sy_error* buffer_write(sy_buffer* b, size_t offset, const void* src, size_t bytes) {
  if (sy_error* e = check_range(b, offset, bytes, "buffer_write")) return e;
  if (!b->owned) return errorf(SY_ERROR_INVALID_ARGUMENT, "buffer_write: the buffer wraps host memory and is read only");
  if (bytes && !src) return errorf(SY_ERROR_INVALID_ARGUMENT, "buffer_write: src is NULL");
  if (bytes) std::memcpy(b->data + offset, src, bytes);
  return nullptr;
}

inline sy_error* buffer_read(const sy_buffer* b, size_t offset, void* dst, size_t bytes) {
  if (sy_error* e = check_range(b, offset, bytes, "buffer_read")) return e;
  if (bytes && !dst) return errorf(SY_ERROR_INVALID_ARGUMENT, "buffer_read: dst is NULL");
  if (bytes) std::memcpy(dst, b->data + offset, bytes);
  return nullptr;
}

inline size_t buffer_size(const sy_buffer* b) { return b ? b->size : 0; }

// ---------------------------------------------------------------------------
// Shapes and kernels (f32)

using Shape = std::vector<int64_t>;

inline std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

inline int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// NumPy broadcasting of two concrete shapes.
inline bool broadcast_shapes(const Shape& a, const Shape& b, Shape* out) {
  const size_t r = std::max(a.size(), b.size());
  out->assign(r, 1);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1) return false;
    (*out)[i] = da == 1 ? db : da;
  }
  return true;
}

enum class Op { Add, Sub, Mul, Relu, Neg, Exp, Tanh, Sigmoid, Matmul, Div, Erf, Gemm, Softmax };

// The default op list. div, erf, gemm and softmax (enough, with add, mul and
// relu, for examples/models/mlp) have kernels too but are claimed only when an
// `ops` option lists them, so the default regions stay as the tests expect.
constexpr const char* kAllOps = "add,sub,mul,relu,neg,exp,tanh,sigmoid,matmul";

inline bool op_from_name(const std::string& name, Op* op) {
  static const std::pair<const char*, Op> kOps[] = {
      {"add", Op::Add},   {"sub", Op::Sub},   {"mul", Op::Mul},         {"relu", Op::Relu},    {"neg", Op::Neg},
      {"exp", Op::Exp},   {"tanh", Op::Tanh}, {"sigmoid", Op::Sigmoid}, {"matmul", Op::Matmul},
      {"div", Op::Div},   {"erf", Op::Erf},   {"gemm", Op::Gemm},       {"softmax", Op::Softmax}};
  for (const auto& [n, o] : kOps)
    if (name == n) {
      *op = o;
      return true;
    }
  return false;
}

inline bool is_binary(Op op) {
  return op == Op::Add || op == Op::Sub || op == Op::Mul || op == Op::Matmul || op == Op::Div;
}

inline float unary(Op op, float x) {
  switch (op) {
    case Op::Relu: return std::isnan(x) ? x : (x > 0.0f ? x : 0.0f);
    case Op::Neg: return -x;
    case Op::Exp: return std::exp(x);
    case Op::Tanh: return std::tanh(x);
    case Op::Erf: return std::erf(x);
    case Op::Sigmoid: {
      if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
      const float e = std::exp(x);
      return e / (1.0f + e);
    }
    default: return x;
  }
}

inline float binary(Op op, float a, float b) {
  switch (op) {
    case Op::Add: return a + b;
    case Op::Sub: return a - b;
    case Op::Mul: return a * b;
    case Op::Div: return a / b;
    default: return 0.0f;
  }
}

// Strides of `s` aligned right to a rank-`r` shape, 0 where `s` broadcasts.
inline std::vector<int64_t> broadcast_strides(const Shape& s, const Shape& out) {
  const size_t r = out.size();
  std::vector<int64_t> st(r, 0);
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    const size_t o = i + (r - s.size());
    st[o] = (s[i] == 1 && out[o] != 1) ? 0 : acc;
    acc *= s[i];
  }
  return st;
}

inline void run_binary(Op op, const float* a, const Shape& as, const float* b, const Shape& bs, float* y,
                       const Shape& ys) {
  const int64_t n = numel(ys);
  if (n == 0) return;
  if (as == ys && bs == ys) {
    for (int64_t i = 0; i < n; ++i) y[i] = binary(op, a[i], b[i]);
    return;
  }
  const std::vector<int64_t> sa = broadcast_strides(as, ys), sb = broadcast_strides(bs, ys);
  const size_t r = ys.size();
  std::vector<int64_t> idx(r, 0);
  int64_t oa = 0, ob = 0;
  for (int64_t i = 0; i < n; ++i) {
    y[i] = binary(op, a[oa], b[ob]);
    for (size_t d = r; d-- > 0;) {  // odometer increment
      if (++idx[d] < ys[d]) {
        oa += sa[d];
        ob += sb[d];
        break;
      }
      oa -= sa[d] * (ys[d] - 1);
      ob -= sb[d] * (ys[d] - 1);
      idx[d] = 0;
    }
  }
}

// Output shape of numpy.matmul(a, b); false with `why` when they do not fit.
inline bool matmul_shape(const Shape& a, const Shape& b, Shape* out, std::string* why) {
  if (a.empty() || b.empty()) {
    *why = "matmul does not take rank-0 operands";
    return false;
  }
  const Shape a2 = a.size() == 1 ? Shape{1, a[0]} : a;
  const Shape b2 = b.size() == 1 ? Shape{b[0], 1} : b;
  const int64_t k1 = a2[a2.size() - 1], k2 = b2[b2.size() - 2];
  if (k1 != k2) {
    *why = strf("matmul inner dims differ: %s @ %s", shape_str(a).c_str(), shape_str(b).c_str());
    return false;
  }
  Shape batch;
  if (!broadcast_shapes(Shape(a2.begin(), a2.end() - 2), Shape(b2.begin(), b2.end() - 2), &batch)) {
    *why = strf("matmul batch dims do not broadcast: %s @ %s", shape_str(a).c_str(), shape_str(b).c_str());
    return false;
  }
  *out = batch;
  if (a.size() > 1) out->push_back(a2[a2.size() - 2]);
  if (b.size() > 1) out->push_back(b2[b2.size() - 1]);
  return true;
}

inline void run_matmul(const float* a, const Shape& as, const float* b, const Shape& bs, float* y) {
  const Shape a2 = as.size() == 1 ? Shape{1, as[0]} : as;
  const Shape b2 = bs.size() == 1 ? Shape{bs[0], 1} : bs;
  const int64_t M = a2[a2.size() - 2], K = a2[a2.size() - 1], N = b2[b2.size() - 1];
  const Shape abatch(a2.begin(), a2.end() - 2), bbatch(b2.begin(), b2.end() - 2);
  Shape batch;
  broadcast_shapes(abatch, bbatch, &batch);
  const std::vector<int64_t> sa = broadcast_strides(abatch, batch), sb = broadcast_strides(bbatch, batch);
  const int64_t nb = numel(batch);
  std::vector<int64_t> idx(batch.size(), 0);
  for (int64_t bi = 0; bi < nb; ++bi) {
    int64_t ia = 0, ib = 0;
    for (size_t d = 0; d < batch.size(); ++d) {
      ia += idx[d] * sa[d];
      ib += idx[d] * sb[d];
    }
    const float* A = a + ia * M * K;
    const float* B = b + ib * K * N;
    float* Y = y + bi * M * N;
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0.0;
        for (int64_t k = 0; k < K; ++k) acc += static_cast<double>(A[i * K + k]) * B[k * N + j];
        Y[i * N + j] = static_cast<float>(acc);
      }
    for (size_t d = batch.size(); d-- > 0;) {
      if (++idx[d] < batch[d]) break;
      idx[d] = 0;
    }
  }
}

// y[M, N] = alpha * op(a) @ op(b) + beta * c, op = transpose when trans*; c
// (optional) broadcasts to [M, N].
inline void run_gemm(const float* a, const Shape& as, const float* b, const Shape& bs, const float* c,
                     const Shape& cs, double alpha, double beta, bool ta, bool tb, float* y) {
  const int64_t M = ta ? as[1] : as[0], K = ta ? as[0] : as[1], N = tb ? bs[0] : bs[1];
  std::vector<int64_t> sc(2, 0);
  if (c) sc = broadcast_strides(cs, Shape{M, N});
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0.0;
      for (int64_t k = 0; k < K; ++k)
        acc += static_cast<double>(ta ? a[k * M + i] : a[i * K + k]) * (tb ? b[j * K + k] : b[k * N + j]);
      acc *= alpha;
      if (c) acc += beta * c[i * sc[0] + j * sc[1]];
      y[i * N + j] = static_cast<float>(acc);
    }
}

// Softmax of `x` (shape s) along `axis` (already non-negative).
inline void run_softmax(const float* x, const Shape& s, size_t axis, float* y) {
  int64_t outer = 1, inner = 1;
  for (size_t d = 0; d < axis; ++d) outer *= s[d];
  for (size_t d = axis + 1; d < s.size(); ++d) inner *= s[d];
  const int64_t n = s[axis];
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const float* xs = x + o * n * inner + i;
      float* ys = y + o * n * inner + i;
      float mx = -INFINITY;
      for (int64_t k = 0; k < n; ++k) mx = std::max(mx, xs[k * inner]);
      double sum = 0.0;
      for (int64_t k = 0; k < n; ++k) sum += std::exp(static_cast<double>(xs[k * inner]) - mx);
      for (int64_t k = 0; k < n; ++k) ys[k * inner] = static_cast<float>(std::exp(static_cast<double>(xs[k * inner]) - mx) / sum);
    }
}

// ---------------------------------------------------------------------------
// Reading graph views

// Checks the parts of a view every entry relies on: struct sizes and that
// every index is in range. Errors name what is wrong.
inline sy_error* validate_view(const sy_graph_view* g, const char* plugin) {
  if (!g) return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: graph view is NULL", plugin);
  if (g->struct_size < sizeof(sy_graph_view))
    return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: sy_graph_view.struct_size %zu is smaller than %zu", plugin,
                  g->struct_size, sizeof(sy_graph_view));
  if ((g->num_values && !g->values) || (g->num_nodes && !g->nodes))
    return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: graph view has NULL arrays", plugin);
  for (size_t i = 0; i < g->num_values; ++i) {
    const sy_value_info& v = g->values[i];
    if (v.struct_size < sizeof(sy_value_info))
      return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: value %zu: struct_size %zu is too small", plugin, i, v.struct_size);
    if (v.rank < -1) return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: value %zu: rank %d is invalid", plugin, i, v.rank);
    if (v.rank > 0 && !v.dims) return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: value %zu: dims is NULL", plugin, i);
  }
  auto idx_ok = [&](size_t n, const int32_t* a, size_t limit) {
    if (n && !a) return false;
    for (size_t k = 0; k < n; ++k)
      if (a[k] < 0 || static_cast<size_t>(a[k]) >= limit) return false;
    return true;
  };
  auto block_ok = [&](const sy_block_view& b) {
    return idx_ok(b.num_params, b.params, g->num_values) && idx_ok(b.num_nodes, b.nodes, g->num_nodes) &&
           idx_ok(b.num_returns, b.returns, g->num_values);
  };
  if (!block_ok(g->body)) return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: the view's body has an index out of range", plugin);
  for (size_t i = 0; i < g->num_nodes; ++i) {
    const sy_node_view& n = g->nodes[i];
    if (n.struct_size < sizeof(sy_node_view))
      return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: node %zu: struct_size %zu is too small", plugin, i, n.struct_size);
    if (!n.op) return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: node %zu has no op name", plugin, i);
    if (!idx_ok(n.num_inputs, n.inputs, g->num_values) || !idx_ok(n.num_outputs, n.outputs, g->num_values))
      return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: node %zu (%s) has a value index out of range", plugin, i, n.op);
    if (n.num_blocks && !n.blocks)
      return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: node %zu (%s) has NULL blocks", plugin, i, n.op);
    for (size_t b = 0; b < n.num_blocks; ++b)
      if (!block_ok(n.blocks[b]))
        return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: node %zu (%s): block %zu has an index out of range", plugin, i, n.op, b);
    if (n.num_attrs && !n.attrs) return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: node %zu (%s) has NULL attrs", plugin, i, n.op);
  }
  return nullptr;
}

inline const char* str_or(const char* s, const char* dflt) { return s && *s ? s : dflt; }

// "[N, 4]" from a value's static type ("?" for an unknown dim, "[*]" for unknown rank).
inline std::string type_str(const sy_value_info& v) {
  if (v.rank < 0) return "[*]";
  std::string out = "[";
  for (int32_t i = 0; i < v.rank; ++i) {
    if (i) out += ", ";
    if (v.dims[i] >= 0) out += std::to_string(v.dims[i]);
    else if (v.dim_symbols && v.dim_symbols[i]) out += v.dim_symbols[i];
    else out += "?";
  }
  return out + "]";
}

// True unless two static dims are known to be incompatible for broadcasting.
inline bool dims_may_broadcast(const sy_value_info& a, const sy_value_info& b) {
  for (int32_t i = 1; i <= std::min(a.rank, b.rank); ++i) {
    const int64_t da = a.dims[a.rank - i], db = b.dims[b.rank - i];
    if (da >= 0 && db >= 0 && da != db && da != 1 && db != 1) return false;
  }
  return true;
}

// A run-time estimate in seconds for a fast device: 2e-10 s per unit of work
// (an output element; 2*K per output element for matmul), unknown dims
// counting as 1, and no launch overhead. That is a hundredth of the host's
// estimate for the reference interpreter (2e-8 s per element), so a memdev
// region pays for its transfers and the partitioner keeps it.
inline double estimate_cost(const sy_graph_view* g, const sy_node_view& n, Op op) {
  auto elems = [&](int32_t vi) {
    const sy_value_info& v = g->values[vi];
    double e = 1;
    for (int32_t i = 0; i < v.rank; ++i) e *= v.dims[i] >= 0 ? static_cast<double>(v.dims[i]) : 1.0;
    return e;
  };
  const std::string name = n.op;
  if (name == "constant" || name == "weight") return 1e-12;  // uploaded once at compile time
  double work = n.num_outputs ? elems(n.outputs[0]) : 1;
  if (op == Op::Matmul && n.num_inputs == 2) {
    const sy_value_info& a = g->values[n.inputs[0]];
    work *= a.rank > 0 && a.dims[a.rank - 1] > 0 ? static_cast<double>(a.dims[a.rank - 1]) : 1.0;
    work *= 2;
  }
  return 1e-12 + work * 2e-10;
}

// How messages name a node: its name, else "%" and its first output's name.
inline std::string node_label(const sy_graph_view* g, const sy_node_view& n) {
  if (n.name && *n.name) return n.name;
  if (n.num_outputs) return std::string("%") + str_or(g->values[n.outputs[0]].name, "?");
  return "(unnamed)";
}

// Whether `plugin` (running `ops`) can run node `n`; "" if so, else the reason.
// Assumes validate_view passed.
inline std::string check_node(const sy_graph_view* g, const sy_node_view& n, const std::set<std::string>& ops,
                              const char* plugin) {
  const std::string name = n.op;
  if (name == "if" || name == "loop" || n.num_blocks)
    return strf("control flow ('%s') is not supported by %s: it runs straight-line regions only", n.op, plugin);
  if (name == "constant" || name == "weight") {
    // Only an ABI 1.0 host asks about these (since 1.1 constants are values,
    // never nodes). Claimed when listed in the ops and f32 data the view
    // carries (compile uploads it).
    if (!ops.count(name)) return strf("op '%s' is not in this %s's op list", n.op, plugin);
    for (size_t k = 0; k < n.num_outputs; ++k) {
      const sy_value_info& v = g->values[n.outputs[k]];
      if (v.dtype != SY_DTYPE_F32)
        return strf("dtype %s not supported (%s '%s'); %s runs f32 only", dtype_name(v.dtype), n.op,
                    str_or(v.name, "?"), plugin);
      if (!v.constant_data) return strf("%s '%s' carries no constant data in the view", n.op, str_or(v.name, "?"));
    }
    return "";
  }
  Op op;
  if (!ops.count(name) || !op_from_name(name, &op)) return strf("op '%s' is not in this %s's op list", n.op, plugin);
  const size_t want_in = is_binary(op) ? 2 : 1;
  const bool gemmInputs = op == Op::Gemm && (n.num_inputs == 2 || n.num_inputs == 3);
  if ((n.num_inputs != want_in && !gemmInputs) || n.num_outputs != 1)
    return strf("%s takes %zu input(s) and 1 output, this node has %zu and %zu", n.op, want_in, n.num_inputs,
                n.num_outputs);
  for (size_t k = 0; k < n.num_inputs; ++k)
    if (n.inputs[k] < 0) return strf("%s: input %zu is absent", n.op, k);
  for (size_t k = 0; k < n.num_attrs; ++k) {
    const std::string a = str_or(n.attrs[k].name, "?");
    const bool known = (op == Op::Gemm && (a == "alpha" || a == "beta" || a == "transA" || a == "transB")) ||
                       (op == Op::Softmax && a == "axis");
    if (!known) return strf("%s: unexpected attribute '%s'", n.op, a.c_str());
    if ((a == "transA" || a == "transB" || a == "axis") && n.attrs[k].kind != SY_ATTR_INT)
      return strf("%s: attribute '%s' is not an int", n.op, a.c_str());
    if ((a == "alpha" || a == "beta") && n.attrs[k].kind != SY_ATTR_FLOAT && n.attrs[k].kind != SY_ATTR_INT)
      return strf("%s: attribute '%s' is not a number", n.op, a.c_str());
  }
  if (op == Op::Gemm) {
    for (size_t k = 0; k < 2; ++k)
      if (g->values[n.inputs[k]].rank != 2) return strf("gemm: input %zu is not a matrix", k);
    if (n.num_inputs == 3 && g->values[n.inputs[2]].rank > 2) return "gemm: C has rank above 2";
  }
  if (op == Op::Softmax && g->values[n.inputs[0]].rank < 1) return "softmax of a rank-0 tensor";
  for (size_t k = 0; k < n.num_inputs + n.num_outputs; ++k) {
    const bool in = k < n.num_inputs;
    const size_t pos = in ? k : k - n.num_inputs;
    const sy_value_info& v = g->values[in ? n.inputs[pos] : n.outputs[pos]];
    const char* what = in ? "input" : "output";
    if (v.dtype != SY_DTYPE_F32)
      return strf("dtype %s not supported (%s %zu '%s'); %s runs f32 only", dtype_name(v.dtype), what, pos,
                  str_or(v.name, "?"), plugin);
    if (v.rank < 0) return strf("%s %zu '%s' has unknown rank", what, pos, str_or(v.name, "?"));
    if (v.rank > SY_MAX_RANK)
      return strf("%s %zu '%s' has rank %d, above SY_MAX_RANK (%d)", what, pos, str_or(v.name, "?"), v.rank, SY_MAX_RANK);
  }
  if (op == Op::Matmul) {
    const sy_value_info& a = g->values[n.inputs[0]];
    const sy_value_info& b = g->values[n.inputs[1]];
    if (a.rank == 0 || b.rank == 0) return "matmul does not take rank-0 operands";
    const int64_t ka = a.dims[a.rank - 1], kb = b.dims[b.rank == 1 ? 0 : b.rank - 2];
    if (ka >= 0 && kb >= 0 && ka != kb)
      return strf("matmul inner dims differ: %s @ %s", type_str(a).c_str(), type_str(b).c_str());
    // Batch dims: everything but the last two.
    sy_value_info ab = a, bb = b;
    ab.rank = a.rank > 2 ? a.rank - 2 : 0;
    bb.rank = b.rank > 2 ? b.rank - 2 : 0;
    if (!dims_may_broadcast(ab, bb))
      return strf("matmul batch dims do not broadcast: %s @ %s", type_str(a).c_str(), type_str(b).c_str());
  } else if (is_binary(op)) {
    const sy_value_info& a = g->values[n.inputs[0]];
    const sy_value_info& b = g->values[n.inputs[1]];
    if (!dims_may_broadcast(a, b))
      return strf("shapes %s and %s do not broadcast", type_str(a).c_str(), type_str(b).c_str());
  }
  return "";
}

// ---------------------------------------------------------------------------
// Plan: a compiled straight-line region, run on the host.

struct ConstRef {
  const float* data = nullptr;
  Shape shape;
};

struct ValueMeta {
  std::string name;
  int32_t rank = -1;
  std::vector<int64_t> dims;       // -1: not static
  std::vector<std::string> syms;   // "" when not a symbol
};

struct Step {
  Op op;
  std::string op_name, node_name;
  std::vector<int32_t> in;
  int32_t out;
  // gemm and softmax attributes
  double alpha = 1.0, beta = 1.0;
  bool trans_a = false, trans_b = false;
  int64_t axis = -1;
};

struct Plan {
  size_t num_values = 0;
  std::vector<ValueMeta> meta;     // by value index (copied: the view dies after compile)
  std::vector<int32_t> params, returns;
  std::vector<Step> steps;
  std::unordered_map<int32_t, ConstRef> consts;

  // Builds the plan from `g`. `check(node)` returns "" when the node can run,
  // else why not; `upload(value_index, info, out)` makes a constant resident
  // on the device and points `out` at it (called once per constant used).
  template <typename CheckFn, typename UploadFn>
  sy_error* build(const sy_graph_view* g, CheckFn check, UploadFn upload, const char* plugin) {
    if (sy_error* e = validate_view(g, plugin)) return e;
    num_values = g->num_values;
    meta.resize(num_values);
    for (size_t i = 0; i < num_values; ++i) {
      const sy_value_info& v = g->values[i];
      ValueMeta& m = meta[i];
      m.name = str_or(v.name, "?");
      m.rank = v.rank;
      for (int32_t d = 0; d < v.rank; ++d) {
        m.dims.push_back(v.dims[d]);
        m.syms.push_back(v.dim_symbols && v.dim_symbols[d] ? v.dim_symbols[d] : "");
      }
    }
    std::vector<char> defined(num_values, 0);
    params.assign(g->body.params, g->body.params + g->body.num_params);
    for (int32_t p : params) {
      if (g->values[p].dtype != SY_DTYPE_F32)
        return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: region input '%s' has dtype %s; %s runs f32 only", plugin,
                      meta[p].name.c_str(), dtype_name(g->values[p].dtype), plugin);
      defined[p] = 1;
    }
    // A value with constant data that is not a region input: make it resident once.
    auto use = [&](int32_t vi, const char* user) -> sy_error* {
      if (defined[vi]) return nullptr;
      const sy_value_info& v = g->values[vi];
      if (!v.constant_data)
        return errorf(SY_ERROR_INVALID_ARGUMENT,
                      "%s: %s uses value '%s', which is neither a region input, a constant nor defined earlier", plugin,
                      user, meta[vi].name.c_str());
      if (v.dtype != SY_DTYPE_F32 || v.rank < 0)
        return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: constant '%s' is not an f32 tensor of known rank", plugin,
                      meta[vi].name.c_str());
      Shape s(v.dims, v.dims + v.rank);
      for (int64_t d : s)
        if (d < 0)
          return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: constant '%s' has a non-static shape %s", plugin,
                        meta[vi].name.c_str(), type_str(v).c_str());
      if (v.constant_bytes != static_cast<size_t>(numel(s)) * sizeof(float))
        return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: constant '%s' %s has %zu bytes, expected %zu", plugin,
                      meta[vi].name.c_str(), type_str(v).c_str(), v.constant_bytes,
                      static_cast<size_t>(numel(s)) * sizeof(float));
      ConstRef ref;
      ref.shape = s;
      if (sy_error* e = upload(vi, v, &ref)) return e;
      consts[vi] = ref;
      defined[vi] = 1;
      return nullptr;
    };
    for (size_t k = 0; k < g->body.num_nodes; ++k) {
      const sy_node_view& n = g->nodes[g->body.nodes[k]];
      const std::string nname = node_label(g, n);
      const std::string who = strf("node '%s' (%s)", nname.c_str(), n.op);
      const std::string op_name = n.op;
      if (op_name == "constant" || op_name == "weight") {
        // Compile-time data cloned into the region by the host: its outputs carry the data.
        for (size_t o = 0; o < n.num_outputs; ++o)
          if (sy_error* e = use(n.outputs[o], who.c_str())) return e;
        continue;
      }
      const std::string why = check(n);
      if (!why.empty())
        return errorf(SY_ERROR_UNIMPLEMENTED, "%s: cannot compile %s: %s", plugin, who.c_str(), why.c_str());
      Step s;
      op_from_name(op_name, &s.op);
      s.op_name = op_name;
      s.node_name = nname;
      for (size_t k = 0; k < n.num_attrs; ++k) {  // kinds checked by `check`
        const sy_attr& at = n.attrs[k];
        const std::string a = str_or(at.name, "");
        const double num = at.kind == SY_ATTR_INT ? static_cast<double>(at.i) : at.f;
        if (a == "alpha") s.alpha = num;
        if (a == "beta") s.beta = num;
        if (a == "transA") s.trans_a = at.i != 0;
        if (a == "transB") s.trans_b = at.i != 0;
        if (a == "axis") s.axis = at.i;
      }
      for (size_t i = 0; i < n.num_inputs; ++i) {
        if (sy_error* e = use(n.inputs[i], who.c_str())) return e;
        s.in.push_back(n.inputs[i]);
      }
      s.out = n.outputs[0];
      if (defined[s.out])
        return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: value '%s' is defined twice", plugin, meta[s.out].name.c_str());
      defined[s.out] = 1;
      steps.push_back(std::move(s));
    }
    for (size_t r = 0; r < g->body.num_returns; ++r) {
      const int32_t v = g->body.returns[r];
      if (sy_error* e = use(v, "the region's return")) return e;
      if (g->values[v].dtype != SY_DTYPE_F32)
        return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: region output '%s' is not f32", plugin, meta[v].name.c_str());
      returns.push_back(v);
    }
    return nullptr;
  }

  // Checks a concrete shape against a value's static type, binding symbols.
  sy_error* check_shape(int32_t vi, const Shape& s, const std::string& what, std::map<std::string, int64_t>& bind,
                        const char* plugin) const {
    const ValueMeta& m = meta[vi];
    if (m.rank < 0) return nullptr;
    bool ok = static_cast<int32_t>(s.size()) == m.rank;
    for (size_t d = 0; ok && d < s.size(); ++d) {
      if (m.dims[d] >= 0 && m.dims[d] != s[d]) ok = false;
      if (!m.syms[d].empty()) {
        auto it = bind.emplace(m.syms[d], s[d]).first;
        if (it->second != s[d])
          return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: %s '%s': symbol %s is %lld here but %lld elsewhere", plugin,
                        what.c_str(), m.name.c_str(), m.syms[d].c_str(), static_cast<long long>(s[d]),
                        static_cast<long long>(it->second));
      }
    }
    if (!ok) {
      std::string want = "[";
      for (int32_t d = 0; d < m.rank; ++d)
        want += (d ? ", " : "") + (m.dims[d] >= 0 ? std::to_string(m.dims[d]) : m.syms[d].empty() ? "?" : m.syms[d]);
      want += "]";
      return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: %s '%s': expected shape %s, got %s", plugin, what.c_str(),
                    m.name.c_str(), want.c_str(), shape_str(s).c_str());
    }
    return nullptr;
  }

  struct Input {
    const float* data;
    Shape shape;
  };

  // Runs the plan on `inputs` (region input order). Fills one host vector and
  // shape per region output. Uses only local state: safe from many threads.
  sy_error* run(const std::vector<Input>& inputs, std::vector<std::vector<float>>* out_data,
                std::vector<Shape>* out_shapes, const char* plugin) const {
    if (inputs.size() != params.size())
      return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: execute got %zu inputs, the region takes %zu", plugin,
                    inputs.size(), params.size());
    struct Slot {
      const float* data = nullptr;
      Shape shape;
      std::vector<float> own;
    };
    std::vector<Slot> slots(num_values);
    std::map<std::string, int64_t> bind;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (sy_error* e = check_shape(params[i], inputs[i].shape, "input " + std::to_string(i), bind, plugin)) return e;
      slots[params[i]].data = inputs[i].data;
      slots[params[i]].shape = inputs[i].shape;
    }
    for (const auto& [vi, c] : consts) {
      slots[vi].data = c.data;
      slots[vi].shape = c.shape;
    }
    for (const Step& s : steps) {
      const Slot& a = slots[s.in[0]];
      Shape ys;
      std::string why;
      if (s.op == Op::Gemm) {
        const Shape& bs = slots[s.in[1]].shape;
        const int64_t ka = s.trans_a ? a.shape[0] : a.shape[1], kb = s.trans_b ? bs[1] : bs[0];
        ys = {s.trans_a ? a.shape[1] : a.shape[0], s.trans_b ? bs[0] : bs[1]};
        Shape ignored;
        if (ka != kb || (s.in.size() == 3 && !broadcast_shapes(slots[s.in[2]].shape, ys, &ignored)))
          return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: node '%s' (gemm): shapes %s, %s do not fit", plugin,
                        s.node_name.c_str(), shape_str(a.shape).c_str(), shape_str(bs).c_str());
      } else if (s.op == Op::Softmax) {
        ys = a.shape;
        const int64_t r = static_cast<int64_t>(a.shape.size());
        if (s.axis < -r || s.axis >= r)
          return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: node '%s' (softmax): axis %lld is out of range", plugin,
                        s.node_name.c_str(), static_cast<long long>(s.axis));
      } else if (s.op == Op::Matmul) {
        if (!matmul_shape(a.shape, slots[s.in[1]].shape, &ys, &why))
          return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: node '%s' (%s): %s", plugin, s.node_name.c_str(),
                        s.op_name.c_str(), why.c_str());
      } else if (is_binary(s.op)) {
        if (!broadcast_shapes(a.shape, slots[s.in[1]].shape, &ys))
          return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: node '%s' (%s): shapes %s and %s do not broadcast", plugin,
                        s.node_name.c_str(), s.op_name.c_str(), shape_str(a.shape).c_str(),
                        shape_str(slots[s.in[1]].shape).c_str());
      } else {
        ys = a.shape;
      }
      if (ys.size() > SY_MAX_RANK)
        return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: node '%s': result rank %zu exceeds %d", plugin,
                      s.node_name.c_str(), ys.size(), SY_MAX_RANK);
      if (sy_error* e = check_shape(s.out, ys, "result of node '" + s.node_name + "'", bind, plugin)) return e;
      Slot& y = slots[s.out];
      try {
        y.own.resize(static_cast<size_t>(numel(ys)));
      } catch (...) {
        return errorf(SY_ERROR_OUT_OF_MEMORY, "%s: node '%s': out of memory for a %s result", plugin,
                      s.node_name.c_str(), shape_str(ys).c_str());
      }
      y.shape = ys;
      y.data = y.own.data();
      if (s.op == Op::Gemm) {
        const bool hasC = s.in.size() == 3;
        run_gemm(a.data, a.shape, slots[s.in[1]].data, slots[s.in[1]].shape, hasC ? slots[s.in[2]].data : nullptr,
                 hasC ? slots[s.in[2]].shape : Shape{}, s.alpha, s.beta, s.trans_a, s.trans_b, y.own.data());
      } else if (s.op == Op::Softmax) {
        const int64_t r = static_cast<int64_t>(a.shape.size());
        if (!y.own.empty()) run_softmax(a.data, a.shape, static_cast<size_t>(s.axis < 0 ? s.axis + r : s.axis), y.own.data());
      } else if (s.op == Op::Matmul) {
        run_matmul(a.data, a.shape, slots[s.in[1]].data, slots[s.in[1]].shape, y.own.data());
      } else if (is_binary(s.op)) {
        run_binary(s.op, a.data, a.shape, slots[s.in[1]].data, slots[s.in[1]].shape, y.own.data(), ys);
      } else {
        for (size_t i = 0; i < y.own.size(); ++i) y.own[i] = unary(s.op, a.data[i]);
      }
    }
    out_data->assign(returns.size(), {});
    out_shapes->assign(returns.size(), {});
    for (size_t r = 0; r < returns.size(); ++r) {
      const Slot& s = slots[returns[r]];
      (*out_shapes)[r] = s.shape;
      (*out_data)[r].assign(s.data, s.data + numel(s.shape));
    }
    return nullptr;
  }
};

// Reads execute's inputs (sy_tensor) into Plan inputs: checks struct sizes,
// dtype, rank, the byte range, and the owning backend (`owner` non-NULL).
// Copies misaligned data into `scratch` so kernels see aligned floats.
inline sy_error* gather_inputs(const sy_tensor* inputs, size_t num_inputs, sy_backend* owner, const char* plugin,
                               std::vector<Plan::Input>* out, std::vector<std::vector<float>>* scratch) {
  if (num_inputs && !inputs) return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: execute: inputs is NULL", plugin);
  out->clear();
  scratch->assign(num_inputs, {});
  for (size_t i = 0; i < num_inputs; ++i) {
    const sy_tensor& t = inputs[i];
    if (t.struct_size < sizeof(sy_tensor))
      return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: input %zu: sy_tensor.struct_size %zu is too small", plugin, i,
                    t.struct_size);
    if (!t.buffer) return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: input %zu has no buffer", plugin, i);
    if (owner && t.buffer->backend != owner)
      return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: input %zu: the buffer belongs to another backend", plugin, i);
    if (t.dtype != SY_DTYPE_F32)
      return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: input %zu has dtype %s; %s runs f32 only", plugin, i,
                    dtype_name(t.dtype), plugin);
    if (t.rank < 0 || t.rank > SY_MAX_RANK)
      return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: input %zu has rank %d", plugin, i, t.rank);
    Shape s(t.dims, t.dims + t.rank);
    uint64_t n = 1;
    for (int64_t d : s) {
      if (d < 0) return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: input %zu has a negative dim", plugin, i);
      if (d && n > std::numeric_limits<uint64_t>::max() / 8 / static_cast<uint64_t>(d))
        return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: input %zu: shape too large", plugin, i);
      n *= static_cast<uint64_t>(d);
    }
    const size_t bytes = static_cast<size_t>(n) * sizeof(float);
    if (t.offset > t.buffer->size || bytes > t.buffer->size - t.offset)
      return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: input %zu: %zu bytes at offset %zu do not fit its %zu-byte buffer",
                    plugin, i, bytes, t.offset, t.buffer->size);
    const uint8_t* p = t.buffer->data + t.offset;
    const float* f = reinterpret_cast<const float*>(p);
    if (reinterpret_cast<uintptr_t>(p) % alignof(float)) {
      (*scratch)[i].resize(static_cast<size_t>(n));
      if (bytes) std::memcpy((*scratch)[i].data(), p, bytes);
      f = (*scratch)[i].data();
    }
    out->push_back(Plan::Input{f, std::move(s)});
  }
  return nullptr;
}

// Sets every output to "nothing" (execute's out-parameters, before any work).
inline sy_error* clear_outputs(sy_tensor* outputs, size_t num_outputs, const char* plugin) {
  if (num_outputs && !outputs) return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: execute: outputs is NULL", plugin);
  for (size_t i = 0; i < num_outputs; ++i) {
    if (outputs[i].struct_size < sizeof(sy_tensor))
      return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: output %zu: sy_tensor.struct_size %zu is too small", plugin, i,
                    outputs[i].struct_size);
    outputs[i].buffer = nullptr;
    outputs[i].offset = 0;
    outputs[i].dtype = SY_DTYPE_F32;
    outputs[i].rank = 0;
    std::memset(outputs[i].dims, 0, sizeof(outputs[i].dims));
  }
  return nullptr;
}

// Fills a sy_device_info with only the fields its struct_size holds.
inline sy_error* fill_device_info(sy_device_info* out, const char* name, int32_t type, uint64_t memory, int32_t score,
                                  int32_t host_visible, const char* plugin) {
  if (!out) return errorf(SY_ERROR_INVALID_ARGUMENT, "%s: device_info: out_info is NULL", plugin);
  if (SY_STRUCT_HAS(sy_device_info, out, name)) out->name = name;
  if (SY_STRUCT_HAS(sy_device_info, out, type)) out->type = type;
  if (SY_STRUCT_HAS(sy_device_info, out, memory_bytes)) out->memory_bytes = memory;
  if (SY_STRUCT_HAS(sy_device_info, out, score)) out->score = score;
  if (SY_STRUCT_HAS(sy_device_info, out, host_visible_memory)) out->host_visible_memory = host_visible;
  return nullptr;
}

}  // namespace sytest

#endif  // SY_TEST_PLUGINS_COMMON_H_
