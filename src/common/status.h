// Errors as values.
//
// Every fallible operation in dataset-build returns a Status (or a Result<T>,
// which is a value or a Status). Library return codes from LibRaw, SQLite,
// FFTW, CUDA, libpng and libtiff are turned into a Status in exactly one
// adapter per library, keeping the library's own message and adding the file
// name, so a user reading the error knows which file and what to do.
//
// Thread safety: Status is an immutable value; copies may be shared freely.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace dsb {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kNotFound,           // a file or record that should exist does not
    kInvalidArgument,    // the caller (or the user) asked for something wrong
    kIoError,            // the operating system refused a read or a write
    kCorrupt,            // data exists but is damaged or truncated
    kUnsupported,        // valid input this tool cannot handle (e.g. Foveon)
    kResourceExhausted,  // memory / disk / GPU memory limit
    kCancelled,          // the user interrupted the build
    kBusy,               // another process holds what we need
    kInternal,           // a bug in dataset-build
  };

  Status() = default;  // ok
  static Status Ok() { return Status(); }
  static Status NotFound(std::string_view msg) {
    return {Code::kNotFound, msg};
  }
  static Status InvalidArgument(std::string_view msg) {
    return {Code::kInvalidArgument, msg};
  }
  static Status IoError(std::string_view msg) { return {Code::kIoError, msg}; }
  static Status Corrupt(std::string_view msg) { return {Code::kCorrupt, msg}; }
  static Status Unsupported(std::string_view msg) {
    return {Code::kUnsupported, msg};
  }
  static Status ResourceExhausted(std::string_view msg) {
    return {Code::kResourceExhausted, msg};
  }
  static Status Cancelled(std::string_view msg) {
    return {Code::kCancelled, msg};
  }
  static Status Busy(std::string_view msg) { return {Code::kBusy, msg}; }
  static Status Internal(std::string_view msg) {
    return {Code::kInternal, msg};
  }

  bool ok() const { return state_ == nullptr; }
  Code code() const { return state_ ? state_->code : Code::kOk; }
  // The message alone, without the code's name ("" when ok).
  const std::string& message() const;
  // "<code name>: <message>", or "OK".
  std::string ToString() const;
  // The same error with `context` in front: "<context>: <message>". Used to
  // name the file or scene an error belongs to.
  Status WithContext(std::string_view context) const;

  static std::string_view CodeName(Code code);

 private:
  Status(Code code, std::string_view msg);
  struct State {
    Code code;
    std::string message;
  };
  std::shared_ptr<const State> state_;
};

// Evaluates an expression returning Status and returns it from the current
// function when it is not ok.
#define DSB_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::dsb::Status dsb_status_ = (expr);        \
    if (!dsb_status_.ok()) return dsb_status_; \
  } while (0)

}  // namespace dsb
