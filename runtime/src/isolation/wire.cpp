#include "wire.h"

#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <chrono>
#include <functional>
#include <cstring>

namespace sy::isolation {

// ---------------------------------------------------------------------------
// Writer / Reader

void Writer::str(const char* s) {
  if (!s) {
    u64(UINT64_MAX);
    return;
  }
  const size_t n = std::strlen(s);
  u64(n);
  raw(s, n);
}

void Writer::bytes(const void* data, size_t n) {
  u64(n);
  if (n) raw(data, n);
}

bool Reader::str(std::string& out) {
  out.clear();
  const uint64_t n = u64();
  if (!ok_ || n == UINT64_MAX) return false;
  if (n > static_cast<uint64_t>(end_ - p_)) {
    ok_ = false;
    return false;
  }
  out.assign(p_, static_cast<size_t>(n));
  p_ += n;
  return true;
}

bool Reader::bytes(const char*& out, size_t& n) {
  out = nullptr;
  n = 0;
  const uint64_t len = u64();
  if (!ok_ || len > static_cast<uint64_t>(end_ - p_)) {
    ok_ = false;
    return false;
  }
  out = p_;
  n = static_cast<size_t>(len);
  p_ += len;
  return true;
}

// ---------------------------------------------------------------------------
// Graph views

namespace {

/// Element i of an ABI array whose elements are `stride` bytes apart.
template <typename T>
const T& at(const T* base, size_t i) {
  const size_t stride = base->struct_size ? base->struct_size : sizeof(T);
  return *reinterpret_cast<const T*>(reinterpret_cast<const char*>(base) + i * stride);
}

void writeIndices(Writer& w, const int32_t* p, size_t n) {
  w.u64(n);
  for (size_t i = 0; i < n; ++i) w.i32(p[i]);
}

void writeBlock(Writer& w, const sy_block_view& b) {
  w.str(b.label);
  writeIndices(w, b.params, b.num_params);
  writeIndices(w, b.nodes, b.num_nodes);
  writeIndices(w, b.returns, b.num_returns);
}

void writeAttr(Writer& w, const sy_attr& a) {
  w.str(a.name);
  w.i32(a.kind);
  w.i64(a.i);
  w.f64(a.f);
  w.str(a.s);
  const size_t count = (a.kind == SY_ATTR_INTS && a.ints) || (a.kind == SY_ATTR_FLOATS && a.floats) ||
                               (a.kind == SY_ATTR_STRINGS && a.strings)
                           ? a.count
                           : 0;
  w.u64(count);
  for (size_t i = 0; i < count; ++i) {
    if (a.kind == SY_ATTR_INTS) w.i64(a.ints[i]);
    if (a.kind == SY_ATTR_FLOATS) w.f64(a.floats[i]);
    if (a.kind == SY_ATTR_STRINGS) w.str(a.strings[i]);
  }
  const sy_tensor_literal* t = a.kind == SY_ATTR_TENSOR ? a.tensor : nullptr;
  w.u32(t ? 1 : 0);
  if (t) {
    w.i32(t->dtype);
    const int32_t rank = t->dims ? t->rank : 0;
    w.i32(rank);
    for (int32_t d = 0; d < rank; ++d) w.i64(t->dims[d]);
    w.bytes(t->data, t->data ? t->bytes : 0);
  }
}

}  // namespace

void writeGraphView(Writer& w, const sy_graph_view& view) {
  w.u64(view.num_values);
  for (size_t i = 0; i < view.num_values; ++i) {
    const sy_value_info& v = at(view.values, i);
    w.str(v.name);
    w.i32(v.dtype);
    // A scalar may come without a dims array; a rank without one is unknown.
    const int32_t rank = v.rank > 0 && !v.dims ? -1 : v.rank < -1 ? -1 : v.rank;
    w.i32(rank);
    for (int32_t d = 0; d < rank; ++d) w.i64(v.dims[d]);
    w.u32(v.dim_symbols && rank > 0 ? 1 : 0);
    if (v.dim_symbols && rank > 0)
      for (int32_t d = 0; d < rank; ++d) w.str(v.dim_symbols[d]);
    w.u32(v.constant_data ? 1 : 0);
    if (v.constant_data) w.bytes(v.constant_data, v.constant_bytes);
  }
  w.u64(view.num_nodes);
  for (size_t i = 0; i < view.num_nodes; ++i) {
    const sy_node_view& n = at(view.nodes, i);
    w.str(n.op);
    w.str(n.name);
    writeIndices(w, n.inputs, n.num_inputs);
    writeIndices(w, n.outputs, n.num_outputs);
    w.u64(n.attrs ? n.num_attrs : 0);
    for (size_t a = 0; n.attrs && a < n.num_attrs; ++a) writeAttr(w, at(n.attrs, a));
    w.u64(n.blocks ? n.num_blocks : 0);
    for (size_t b = 0; n.blocks && b < n.num_blocks; ++b) writeBlock(w, at(n.blocks, b));
  }
  writeBlock(w, view.body);
}

template <typename T>
T* DecodedView::keepArray(size_t n) {
  std::shared_ptr<T[]> p(new T[n ? n : 1]());
  arrays_.push_back(p);
  return p.get();
}

const char* DecodedView::keepString(Reader& r, bool& ok) {
  std::string s;
  const bool present = r.str(s);
  if (!r.ok()) {
    ok = false;
    return nullptr;
  }
  if (!present) return nullptr;
  strings_.push_back(std::move(s));
  return strings_.back().c_str();
}

namespace {

const int32_t* readIndices(Reader& r, size_t& n, const std::function<int32_t*(size_t)>& alloc) {
  const uint64_t count = r.u64();
  if (!r.fits(count, sizeof(int32_t))) return nullptr;
  n = static_cast<size_t>(count);
  int32_t* p = alloc(n);
  for (size_t i = 0; i < n; ++i) p[i] = r.i32();
  return p;
}

}  // namespace

bool DecodedView::decodeBlock(Reader& r, sy_block_view& b) {
  bool ok = true;
  auto alloc = [this](size_t n) { return keepArray<int32_t>(n); };
  b.struct_size = sizeof(sy_block_view);
  b.label = keepString(r, ok);
  b.params = readIndices(r, b.num_params, alloc);
  b.nodes = readIndices(r, b.num_nodes, alloc);
  b.returns = readIndices(r, b.num_returns, alloc);
  return ok && r.ok();
}

bool DecodedView::decode(Reader& r, std::string& error) {
  bool ok = true;
  auto fail = [&](const char* what) {
    error = std::string("malformed graph view from the host (") + what + ")";
    return false;
  };
  // Constants first go to one growing string; pointers are fixed up at the end.
  std::vector<std::pair<size_t, size_t>> constantSpans;  // per value: offset, size (SIZE_MAX offset = none)
  const uint64_t numValues = r.u64();
  if (!r.fits(numValues, 16)) return fail("value count");
  auto* values = keepArray<sy_value_info>(numValues);
  for (size_t i = 0; i < numValues; ++i) {
    sy_value_info& v = values[i];
    v.struct_size = sizeof(sy_value_info);
    v.name = keepString(r, ok);
    v.dtype = r.i32();
    v.rank = r.i32();
    if (v.rank > SY_MAX_RANK || v.rank < -1) return fail("rank");
    if (v.rank >= 0) {
      auto* dims = keepArray<int64_t>(static_cast<size_t>(v.rank));
      for (int32_t d = 0; d < v.rank; ++d) dims[d] = r.i64();
      v.dims = dims;
    }
    if (r.u32()) {
      auto* syms = keepArray<const char*>(static_cast<size_t>(std::max(v.rank, 0)));
      for (int32_t d = 0; d < v.rank; ++d) syms[d] = keepString(r, ok);
      v.dim_symbols = syms;
    }
    size_t offset = SIZE_MAX, size = 0;
    if (r.u32()) {
      const char* data = nullptr;
      if (!r.bytes(data, size)) return fail("constant data");
      offset = constantBytes_.size();
      constantBytes_.append(data, size);
      // Keep each constant 64-byte aligned for plugins that map it as floats.
      constantBytes_.resize((constantBytes_.size() + 63) / 64 * 64);
    }
    constantSpans.emplace_back(offset, size);
    if (!r.ok() || !ok) return fail("values");
  }
  const uint64_t numNodes = r.u64();
  if (!r.fits(numNodes, 16)) return fail("node count");
  auto* nodes = keepArray<sy_node_view>(numNodes);
  auto alloc = [this](size_t n) { return keepArray<int32_t>(n); };
  for (size_t i = 0; i < numNodes; ++i) {
    sy_node_view& n = nodes[i];
    n.struct_size = sizeof(sy_node_view);
    n.op = keepString(r, ok);
    n.name = keepString(r, ok);
    n.inputs = readIndices(r, n.num_inputs, alloc);
    n.outputs = readIndices(r, n.num_outputs, alloc);
    const uint64_t numAttrs = r.u64();
    if (!r.fits(numAttrs, 16)) return fail("attribute count");
    auto* attrs = keepArray<sy_attr>(numAttrs);
    for (size_t a = 0; a < numAttrs; ++a) {
      sy_attr& at = attrs[a];
      at.struct_size = sizeof(sy_attr);
      at.name = keepString(r, ok);
      at.kind = r.i32();
      at.i = r.i64();
      at.f = r.f64();
      at.s = keepString(r, ok);
      const uint64_t count = r.u64();
      if (!r.fits(count, 8)) return fail("attribute list");
      at.count = static_cast<size_t>(count);
      if (at.kind == SY_ATTR_INTS) {
        auto* p = keepArray<int64_t>(at.count);
        for (size_t k = 0; k < at.count; ++k) p[k] = r.i64();
        at.ints = p;
      } else if (at.kind == SY_ATTR_FLOATS) {
        auto* p = keepArray<double>(at.count);
        for (size_t k = 0; k < at.count; ++k) p[k] = r.f64();
        at.floats = p;
      } else if (at.kind == SY_ATTR_STRINGS) {
        auto* p = keepArray<const char*>(at.count);
        for (size_t k = 0; k < at.count; ++k) p[k] = keepString(r, ok);
        at.strings = p;
      } else if (count != 0) {
        return fail("attribute list of a scalar kind");
      }
      if (r.u32()) {
        auto* t = keepArray<sy_tensor_literal>(1);
        t->struct_size = sizeof(sy_tensor_literal);
        t->dtype = r.i32();
        t->rank = r.i32();
        if (t->rank < 0 || t->rank > SY_MAX_RANK) return fail("tensor attribute rank");
        auto* dims = keepArray<int64_t>(static_cast<size_t>(t->rank));
        for (int32_t d = 0; d < t->rank; ++d) dims[d] = r.i64();
        t->dims = dims;
        const char* data = nullptr;
        size_t bytes = 0;
        if (!r.bytes(data, bytes)) return fail("tensor attribute data");
        auto* copy = keepArray<uint64_t>((bytes + 7) / 8);
        if (bytes) std::memcpy(copy, data, bytes);
        t->data = copy;
        t->bytes = bytes;
        at.tensor = t;
      }
    }
    n.num_attrs = static_cast<size_t>(numAttrs);
    n.attrs = attrs;
    const uint64_t numBlocks = r.u64();
    if (!r.fits(numBlocks, 32)) return fail("block count");
    auto* blocks = keepArray<sy_block_view>(numBlocks);
    for (size_t b = 0; b < numBlocks; ++b)
      if (!decodeBlock(r, blocks[b])) return fail("block");
    n.num_blocks = static_cast<size_t>(numBlocks);
    n.blocks = blocks;
    if (!r.ok() || !ok) return fail("nodes");
  }
  if (!decodeBlock(r, view_.body)) return fail("body");
  constantBytes_.shrink_to_fit();
  for (size_t i = 0; i < numValues; ++i) {
    if (constantSpans[i].first == SIZE_MAX) continue;
    values[i].constant_data = constantBytes_.data() + constantSpans[i].first;
    values[i].constant_bytes = constantSpans[i].second;
  }
  view_.struct_size = sizeof(sy_graph_view);
  view_.num_values = static_cast<size_t>(numValues);
  view_.values = values;
  view_.num_nodes = static_cast<size_t>(numNodes);
  view_.nodes = nodes;
  return true;
}

// ---------------------------------------------------------------------------
// Transport

namespace {

using Clock = std::chrono::steady_clock;

/// Milliseconds left until `deadline` (-1 = none), at least 0.
int remainingMs(bool hasDeadline, Clock::time_point deadline) {
  if (!hasDeadline) return -1;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

/// Waits until `fd` is ready for `events`; false on timeout or error.
bool waitFor(int fd, short events, bool hasDeadline, Clock::time_point deadline, bool& timedOut) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int ms = remainingMs(hasDeadline, deadline);
    const int rc = ::poll(&p, 1, ms);
    if (rc > 0) return true;
    if (rc == 0) {
      timedOut = true;
      return false;
    }
    if (errno != EINTR) return false;
  }
}

}  // namespace

bool sendMessage(int fd, const std::string& payload, const std::vector<int>& fds, int timeoutMs, std::string& error) {
  if (fds.size() > kMaxFdsPerMessage) {
    error = "too many tensors in one call (" + std::to_string(fds.size()) + ", at most " +
            std::to_string(kMaxFdsPerMessage) + ")";
    return false;
  }
  const bool hasDeadline = timeoutMs >= 0;
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(hasDeadline ? timeoutMs : 0);
  const uint64_t length = payload.size();
  std::string frame(reinterpret_cast<const char*>(&length), sizeof length);
  frame += payload;
  size_t sent = 0;
  bool fdsSent = fds.empty();
  while (sent < frame.size()) {
    bool timedOut = false;
    ssize_t n = -1;
    if (!fdsSent) {
      // The fds go with the first bytes of the frame.
      msghdr msg{};
      iovec iov{frame.data(), frame.size()};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
      msg.msg_control = control.data();
      msg.msg_controllen = control.size();
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
      n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
      if (n > 0) fdsSent = true;
    } else {
      n = ::send(fd, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
    }
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (waitFor(fd, POLLOUT, hasDeadline, deadline, timedOut)) continue;
      error = timedOut ? "timed out sending" : std::string("poll: ") + std::strerror(errno);
      return false;
    }
    error = n == 0 ? std::string("the connection closed") : std::string("send: ") + std::strerror(errno);
    return false;
  }
  return true;
}

RecvStatus recvMessage(int fd, std::string& payload, std::vector<int>& fds, int timeoutMs, std::string& error) {
  payload.clear();
  fds.clear();
  const bool hasDeadline = timeoutMs >= 0;
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(hasDeadline ? timeoutMs : 0);
  auto closeAll = [&] {
    for (int f : fds) ::close(f);
    fds.clear();
  };
  // Reads exactly `n` bytes into `dst`, collecting any fds that come along.
  auto readExact = [&](char* dst, size_t n) -> RecvStatus {
    size_t got = 0;
    while (got < n) {
      msghdr msg{};
      iovec iov{dst + got, n - got};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      const ssize_t r = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
      if (r > 0) {
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
          if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
          const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
          for (size_t i = 0; i < count; ++i) {
            int f = -1;
            std::memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            fds.push_back(f);
          }
        }
        if (msg.msg_flags & MSG_CTRUNC) {
          error = "too many file descriptors in one message";
          return RecvStatus::Failed;
        }
        got += static_cast<size_t>(r);
        continue;
      }
      if (r == 0) {
        error = "the connection closed";
        return RecvStatus::Closed;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        bool timedOut = false;
        if (waitFor(fd, POLLIN, hasDeadline, deadline, timedOut)) continue;
        error = timedOut ? "timed out" : std::string("poll: ") + std::strerror(errno);
        return timedOut ? RecvStatus::TimedOut : RecvStatus::Failed;
      }
      if (errno == ECONNRESET) {
        error = "the connection closed";
        return RecvStatus::Closed;
      }
      error = std::string("recvmsg: ") + std::strerror(errno);
      return RecvStatus::Failed;
    }
    return RecvStatus::Ok;
  };
  uint64_t length = 0;
  RecvStatus st = readExact(reinterpret_cast<char*>(&length), sizeof length);
  if (st == RecvStatus::Ok && length > kMaxPayload) {
    error = "a message of " + std::to_string(length) + " bytes is larger than the limit";
    st = RecvStatus::Failed;
  }
  if (st == RecvStatus::Ok) {
    payload.resize(static_cast<size_t>(length));
    st = readExact(payload.data(), payload.size());
  }
  if (st != RecvStatus::Ok) closeAll();
  return st;
}

size_t abiDTypeSize(int32_t dtype) {
  switch (dtype) {
    case SY_DTYPE_F32: case SY_DTYPE_I32: case SY_DTYPE_U32: return 4;
    case SY_DTYPE_F16: case SY_DTYPE_BF16: case SY_DTYPE_I16: case SY_DTYPE_U16: return 2;
    case SY_DTYPE_I8: case SY_DTYPE_BOOL: case SY_DTYPE_U8: return 1;
    case SY_DTYPE_I64: case SY_DTYPE_U64: case SY_DTYPE_F64: return 8;
    default: return 0;
  }
}

int createTensorMemfd(size_t bytes, std::string& error) {
  const int fd = ::memfd_create("switchyard-tensor", MFD_CLOEXEC);
  if (fd < 0) {
    error = std::string("memfd_create: ") + std::strerror(errno);
    return -1;
  }
  if (bytes && ::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    error = "cannot size shared memory to " + std::to_string(bytes) + " bytes: " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace sy::isolation
