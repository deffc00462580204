#include "runner/core/result.hh"

namespace akbuild {

std::string_view to_string(ErrorCode code) {
  switch (code) {
  case ErrorCode::invalid_argument: return "invalid-argument";
  case ErrorCode::not_found: return "not-found";
  case ErrorCode::already_exists: return "already-exists";
  case ErrorCode::failed_precondition: return "failed-precondition";
  case ErrorCode::io: return "io";
  case ErrorCode::corrupt: return "corrupt";
  case ErrorCode::unavailable: return "unavailable";
  case ErrorCode::permission_denied: return "permission-denied";
  case ErrorCode::unauthenticated: return "unauthenticated";
  case ErrorCode::cancelled: return "cancelled";
  case ErrorCode::deadline_exceeded: return "deadline-exceeded";
  case ErrorCode::resource_exhausted: return "resource-exhausted";
  case ErrorCode::step_failed: return "step-failed";
  case ErrorCode::unimplemented: return "unimplemented";
  case ErrorCode::internal: return "internal";
  }
  return "internal";
}

Error Error::context(std::string_view prefix) const& {
  return Error{code, std::string(prefix) + ": " + message};
}

Error Error::context(std::string_view prefix) && {
  message.insert(0, std::string(prefix) + ": ");
  return std::move(*this);
}

} // namespace akbuild
