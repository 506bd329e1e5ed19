#pragma once
// Errors are values with context: what failed, on which object, and the errno when the kernel
// said no. Result<T> carries either a T or an Error; nothing is thrown across layers.
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace netagent {

struct Error {
  std::string message;  // what failed and on which object, e.g. "update map lb4_services"
  int errnum = 0;       // errno from the kernel or libc, 0 when not a system error

  // "message: strerror (errno N)" when errnum is set.
  std::string str() const {
    if (errnum == 0) return message;
    return message + ": " + std::strerror(errnum) + " (errno " + std::to_string(errnum) + ")";
  }
  // Adds outer context: Error{"open"}.wrap("load lb") -> "load lb: open".
  Error wrap(const std::string& context) const { return Error{context + ": " + message, errnum}; }
};

// Builds an Error from the current errno (or an explicit one).
inline Error sys_error(std::string message, int errnum = errno) {
  return Error{std::move(message), errnum};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  // From a temporary the value is moved out, never referenced: `for (auto& x : *f())` is safe.
  T value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T operator*() && { return std::move(*this).value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace netagent
