#pragma once
// Errors as values: every fallible function below the CLI and RPC edges returns Result<T>.
// ErrorCode maps to exit statuses in runner/cli/report.cc and to grpc::StatusCode in
// runner/service/status.cc, and nowhere else.

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace akbuild {

enum class ErrorCode {
  invalid_argument,    // bad input from the user: usage, parse, validation (exit 2)
  not_found,           // a named thing does not exist
  already_exists,
  failed_precondition, // the world is not in the state the call needs (pin mismatch, stale lock)
  io,                  // the OS refused (disk full, permission, EIO)
  corrupt,             // stored data failed verification
  unavailable,         // a peer or tool cannot be reached right now (retryable)
  permission_denied,
  unauthenticated,
  cancelled,
  deadline_exceeded,
  resource_exhausted,
  step_failed,         // a step's command ran and failed (exit 1)
  unimplemented,
  internal,
};

// Short lower-case name of a code, for logs and JSON events.
std::string_view to_string(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::internal;
  std::string message;

  // The same error with "prefix: " in front of the message.
  Error context(std::string_view prefix) const&;
  Error context(std::string_view prefix) &&;
};

template <class T = void>
using Result = tl::expected<T, Error>;

// The failed Result of any T: `return fail(ErrorCode::not_found, "x: no such file");`
inline tl::unexpected<Error> fail(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}
inline tl::unexpected<Error> fail(Error error) { return tl::unexpected<Error>(std::move(error)); }

// Result<void> success.
inline Result<> ok() { return {}; }

} // namespace akbuild

// AK_TRY(expr): the value of a Result<T>, or return its error from the calling function.
// __extension__ keeps -Wpedantic quiet about the GNU statement expression.
#define AK_TRY(expr)                                                                          \
  __extension__({                                                                             \
    auto&& ak_try_result_ = (expr);                                                           \
    if (!ak_try_result_) return ::tl::unexpected<::akbuild::Error>(                           \
        std::move(ak_try_result_).error());                                                   \
    std::move(*ak_try_result_);                                                               \
  })

// AK_TRY_VOID(expr): return the error of a Result<void> (or any Result whose value is unused).
#define AK_TRY_VOID(expr)                                                                     \
  do {                                                                                        \
    auto&& ak_try_result_ = (expr);                                                           \
    if (!ak_try_result_) return ::tl::unexpected<::akbuild::Error>(                           \
        std::move(ak_try_result_).error());                                                   \
  } while (0)
