// The wire between the host's plugin proxy (proxy.cpp) and the helper process
// `switchyard-plugin-host` (helper_main.cpp): Note [isolation wire].
//
// Note [isolation wire]. One SOCK_STREAM Unix socket per helper. A message is
// an 8-byte little-endian payload length, then the payload; file descriptors
// (memfds holding tensors) travel as SCM_RIGHTS with the length header. A
// request's payload starts with a u32 Op; a reply's with a u32 status (0 = ok,
// else a sy_error_code) and, when not ok, the error message. The host sends one
// request and waits for its reply (with a deadline) before the next: calls to
// one helper are serialised by the proxy. Graph views are flattened with
// writeGraphView and rebuilt with DecodedView; tensors never go through the
// socket, only the memfds that hold them.
#pragma once

#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "switchyard/plugin.h"

namespace sy::isolation {

enum class Op : uint32_t {
  BackendCreate = 1,   // u64 device, u64 n, n x (key, value) -> u64 backend id
  BackendDestroy = 2,  // u64 backend id -> (nothing)
  QuerySupport = 3,    // u64 backend id, view -> u64 n, n x (i32 supported, f64 cost, str reason)
  Compile = 4,         // u64 backend id, view -> u64 compiled id, i32 concurrent
  CompiledDestroy = 5, // u64 compiled id -> (nothing)
  Execute = 6,         // u64 compiled id, u64 n_in, n_in x tensor (fds attached), u64 n_out
                       //   -> u64 n_out, n_out x tensor (fds attached)
};
// tensor: i32 dtype, i32 rank, rank x i64 dims, u64 bytes

/// The largest number of tensors (file descriptors) one message carries.
constexpr size_t kMaxFdsPerMessage = 250;
/// The largest payload either side accepts (a graph view with its weights).
constexpr uint64_t kMaxPayload = uint64_t{1} << 36;

/// Appends little-endian fields to a payload.
class Writer {
 public:
  void u32(uint32_t v) { raw(&v, sizeof v); }
  void i32(int32_t v) { raw(&v, sizeof v); }
  void u64(uint64_t v) { raw(&v, sizeof v); }
  void i64(int64_t v) { raw(&v, sizeof v); }
  void f64(double v) { raw(&v, sizeof v); }
  /// A string; NULL is kept apart from "".
  void str(const char* s);
  void str(const std::string& s) { str(s.c_str()); }
  void bytes(const void* data, size_t n);
  void raw(const void* data, size_t n) { buffer_.append(static_cast<const char*>(data), n); }
  std::string& buffer() { return buffer_; }

 private:
  std::string buffer_;
};

/// Reads what Writer wrote; every read checks the bounds and latches a failure.
class Reader {
 public:
  Reader(const char* data, size_t size) : p_(data), end_(data + size) {}
  explicit Reader(const std::string& s) : Reader(s.data(), s.size()) {}
  uint32_t u32() { return scalar<uint32_t>(); }
  int32_t i32() { return scalar<int32_t>(); }
  uint64_t u64() { return scalar<uint64_t>(); }
  int64_t i64() { return scalar<int64_t>(); }
  double f64() { return scalar<double>(); }
  /// Returns false for a NULL string (and on failure).
  bool str(std::string& out);
  /// Points `out` into the payload (no copy); false on failure.
  bool bytes(const char*& out, size_t& n);
  bool ok() const { return ok_; }
  /// True when a count of `n` elements of at least `elementBytes` each can still fit.
  bool fits(uint64_t n, size_t elementBytes) {
    if (ok_ && n <= static_cast<uint64_t>(end_ - p_) / (elementBytes ? elementBytes : 1)) return true;
    ok_ = false;
    return false;
  }

 private:
  template <typename T>
  T scalar() {
    T v{};
    if (!ok_ || static_cast<size_t>(end_ - p_) < sizeof(T)) {
      ok_ = false;
      return v;
    }
    std::memcpy(&v, p_, sizeof(T));
    p_ += sizeof(T);
    return v;
  }
  const char* p_;
  const char* end_;
  bool ok_ = true;
};

/// Flattens a graph view (values with their constant data, nodes, attributes,
/// blocks). Arrays are walked by their elements' struct_size, as the ABI says.
void writeGraphView(Writer& w, const sy_graph_view& view);

/// A graph view rebuilt from the wire; owns everything it points to, so the
/// constant data stays valid as long as the object lives.
class DecodedView {
 public:
  /// Reads a view; false (with `error`) when the payload is malformed.
  bool decode(Reader& r, std::string& error);
  const sy_graph_view* view() const { return &view_; }

 private:
  bool decodeBlock(Reader& r, sy_block_view& out);
  const char* keepString(Reader& r, bool& ok);
  template <typename T>
  T* keepArray(size_t n);

  sy_graph_view view_{};
  std::deque<std::string> strings_;
  std::deque<std::shared_ptr<void>> arrays_;
  std::string constantBytes_;  // every constant's bytes, back to back
};

/// Sends one message (payload and fds). `timeoutMs` < 0 waits forever.
/// False with `error` on failure (the peer closed, the deadline passed).
bool sendMessage(int fd, const std::string& payload, const std::vector<int>& fds, int timeoutMs, std::string& error);

enum class RecvStatus { Ok, Closed, TimedOut, Failed };

/// Receives one message; the fds received are owned by the caller (closed here
/// on failure). `timeoutMs` < 0 waits forever.
RecvStatus recvMessage(int fd, std::string& payload, std::vector<int>& fds, int timeoutMs, std::string& error);

/// Bytes per element of a sy_dtype, 0 when unknown.
size_t abiDTypeSize(int32_t dtype);

/// A memfd of `bytes` (named for /proc/<pid>/fd), or -1 with `error`.
int createTensorMemfd(size_t bytes, std::string& error);

}  // namespace sy::isolation
