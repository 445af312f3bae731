// Status and Result<T>: how every fallible call in Switchyard reports failure.
//
// Errors are values, not exceptions: a Status carries a code and a message that
// says what went wrong and where. Result<T> holds either a T or a non-OK Status.
#pragma once

#include <cassert>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace sy {

/// Broad class of an error; the message carries the detail.
enum class StatusCode {
  kOk = 0,
  kInvalidArgument,    ///< the caller passed something malformed
  kNotFound,           ///< a named thing does not exist
  kOutOfRange,         ///< an index or offset outside its bounds
  kUnimplemented,      ///< valid, but not supported here
  kResourceExhausted,  ///< an allocation too large or failed
  kFailedPrecondition, ///< the object is not in a state that allows the call
  kInternal,           ///< a bug in Switchyard
};

/// Name of a status code, e.g. "InvalidArgument".
std::string_view statusCodeName(StatusCode code);

/// Outcome of a fallible call. Cheap when OK.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  /// "InvalidArgument: message", or "OK".
  std::string toString() const;

  /// Returns a copy whose message is prefixed with `context: `.
  Status withContext(std::string_view context) const {
    if (ok()) return *this;
    return Status(code_, std::string(context) + ": " + message_);
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

namespace detail {
template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

/// Builds a Status whose message is the concatenation of `args` (streamed).
template <typename... Args>
Status makeError(StatusCode code, Args&&... args) {
  return Status(code, detail::concat(std::forward<Args>(args)...));
}
template <typename... Args>
Status invalidArgument(Args&&... args) {
  return makeError(StatusCode::kInvalidArgument, std::forward<Args>(args)...);
}
template <typename... Args>
Status outOfRange(Args&&... args) {
  return makeError(StatusCode::kOutOfRange, std::forward<Args>(args)...);
}
template <typename... Args>
Status notFound(Args&&... args) {
  return makeError(StatusCode::kNotFound, std::forward<Args>(args)...);
}
template <typename... Args>
Status unimplemented(Args&&... args) {
  return makeError(StatusCode::kUnimplemented, std::forward<Args>(args)...);
}
template <typename... Args>
Status internalError(Args&&... args) {
  return makeError(StatusCode::kInternal, std::forward<Args>(args)...);
}
template <typename... Args>
Status resourceExhausted(Args&&... args) {
  return makeError(StatusCode::kResourceExhausted, std::forward<Args>(args)...);
}

/// Either a value of type T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : state_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(state_).ok() && "Result built from an OK status");
    if (std::get<Status>(state_).ok())
      state_ = Status(StatusCode::kInternal, "Result built from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(state_); }
  /// The error; OK when a value is held.
  Status status() const { return ok() ? Status::OK() : std::get<Status>(state_); }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace sy

#define SY_CONCAT_INNER_(a, b) a##b
#define SY_CONCAT_(a, b) SY_CONCAT_INNER_(a, b)

/// Returns the status from the enclosing function if `expr` is not OK.
#define SY_RETURN_IF_ERROR(expr)                  \
  do {                                            \
    ::sy::Status sy_status_tmp_ = (expr);         \
    if (!sy_status_tmp_.ok()) return sy_status_tmp_; \
  } while (0)

/// `SY_ASSIGN_OR_RETURN(auto x, f())`: binds the value or returns the error.
#define SY_ASSIGN_OR_RETURN(lhs, expr) \
  SY_ASSIGN_OR_RETURN_IMPL_(SY_CONCAT_(sy_result_, __LINE__), lhs, expr)
#define SY_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

/// Returns an InvalidArgument error built from the remaining arguments if `cond` is false.
#define SY_CHECK_ARG(cond, ...) \
  do {                          \
    if (!(cond)) return ::sy::invalidArgument(__VA_ARGS__); \
  } while (0)
