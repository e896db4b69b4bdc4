// Result<T>: a value, or the Status saying why there is none.
//
// The return type of every fallible function that produces something. Check
// ok() before value(); value() on an error is a programming error and aborts.
#pragma once

#include <cstdlib>
#include <utility>
#include <variant>

#include "common/status.h"

namespace dsb {

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : data_(std::move(status)) {  // NOLINT
    if (std::get<Status>(data_).ok()) {
      data_ = Status::Internal("Result constructed from an ok Status");
    }
  }

  bool ok() const { return std::holds_alternative<T>(data_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(data_);
  }
  T& value() & { return Check(), std::get<T>(data_); }
  const T& value() const& { return Check(), std::get<T>(data_); }
  T&& value() && { return Check(), std::move(std::get<T>(data_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  void Check() const {
    if (!ok()) std::abort();
  }
  std::variant<T, Status> data_;
};

// Assigns the value of a Result expression to `lhs`, or returns its Status.
#define DSB_ASSIGN_OR_RETURN(lhs, expr)                 \
  auto DSB_CONCAT_(dsb_result_, __LINE__) = (expr);     \
  if (!DSB_CONCAT_(dsb_result_, __LINE__).ok())         \
    return DSB_CONCAT_(dsb_result_, __LINE__).status(); \
  lhs = std::move(DSB_CONCAT_(dsb_result_, __LINE__)).value()
#define DSB_CONCAT_INNER_(a, b) a##b
#define DSB_CONCAT_(a, b) DSB_CONCAT_INNER_(a, b)

}  // namespace dsb
