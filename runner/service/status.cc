#include "runner/service/status.hh"

#include <string>

namespace akbuild::service {

namespace {

struct CodePair {
  ErrorCode ours;
  grpc::StatusCode theirs;
};

// Read left to right for the server's direction; right to left (first match) for the client's.
constexpr CodePair k_codes[] = {
    {ErrorCode::invalid_argument, grpc::StatusCode::INVALID_ARGUMENT},
    {ErrorCode::not_found, grpc::StatusCode::NOT_FOUND},
    {ErrorCode::already_exists, grpc::StatusCode::ALREADY_EXISTS},
    {ErrorCode::failed_precondition, grpc::StatusCode::FAILED_PRECONDITION},
    {ErrorCode::internal, grpc::StatusCode::INTERNAL},
    {ErrorCode::io, grpc::StatusCode::INTERNAL},
    {ErrorCode::corrupt, grpc::StatusCode::DATA_LOSS},
    {ErrorCode::unavailable, grpc::StatusCode::UNAVAILABLE},
    {ErrorCode::permission_denied, grpc::StatusCode::PERMISSION_DENIED},
    {ErrorCode::unauthenticated, grpc::StatusCode::UNAUTHENTICATED},
    {ErrorCode::cancelled, grpc::StatusCode::CANCELLED},
    {ErrorCode::deadline_exceeded, grpc::StatusCode::DEADLINE_EXCEEDED},
    {ErrorCode::resource_exhausted, grpc::StatusCode::RESOURCE_EXHAUSTED},
    {ErrorCode::step_failed, grpc::StatusCode::ABORTED},
    {ErrorCode::unimplemented, grpc::StatusCode::UNIMPLEMENTED},
    {ErrorCode::invalid_argument, grpc::StatusCode::OUT_OF_RANGE},
    {ErrorCode::internal, grpc::StatusCode::UNKNOWN},
};

constexpr ErrorCode k_all_codes[] = {
    ErrorCode::invalid_argument, ErrorCode::not_found, ErrorCode::already_exists,
    ErrorCode::failed_precondition, ErrorCode::io, ErrorCode::corrupt, ErrorCode::unavailable,
    ErrorCode::permission_denied, ErrorCode::unauthenticated, ErrorCode::cancelled,
    ErrorCode::deadline_exceeded, ErrorCode::resource_exhausted, ErrorCode::step_failed,
    ErrorCode::unimplemented, ErrorCode::internal,
};

} // namespace

grpc::StatusCode to_grpc_code(ErrorCode code) {
  for (const auto& pair : k_codes)
    if (pair.ours == code) return pair.theirs;
  return grpc::StatusCode::UNKNOWN;
}

ErrorCode from_grpc_code(grpc::StatusCode code) {
  for (const auto& pair : k_codes)
    if (pair.theirs == code) return pair.ours;
  return ErrorCode::internal;
}

grpc::Status to_grpc_status(const Error& error) {
  return grpc::Status(to_grpc_code(error.code), error.message);
}

Error from_grpc_status(const grpc::Status& status, std::string_view what) {
  std::string message = status.error_message();
  if (message.empty()) message = "status " + std::to_string(static_cast<int>(status.error_code()));
  // Errors the server produced itself already name their thing; transport errors need the call.
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
      status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED)
    message = "executor " + std::string(what) + ": " + message;
  return Error{from_grpc_code(status.error_code()), std::move(message)};
}

std::optional<ErrorCode> error_code_from_name(std::string_view name) {
  for (ErrorCode code : k_all_codes)
    if (to_string(code) == name) return code;
  return std::nullopt;
}

} // namespace akbuild::service
