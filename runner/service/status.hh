#pragma once
// The one place where akbuild's ErrorCode meets grpc::StatusCode, both ways: the server turns a
// failed Result into a Status, the client turns a Status back into an Error.

#include <optional>
#include <string_view>

#include <grpcpp/support/status.h>

#include "runner/core/result.hh"

namespace akbuild::service {

grpc::StatusCode to_grpc_code(ErrorCode code);
ErrorCode from_grpc_code(grpc::StatusCode code);

// A Status carrying the error's code and message.
grpc::Status to_grpc_status(const Error& error);
// The error a non-OK Status stands for; `what` names the call ("Execute").
Error from_grpc_status(const grpc::Status& status, std::string_view what);

// The ErrorCode named by to_string(code) ("invalid_argument"), or nullopt.
std::optional<ErrorCode> error_code_from_name(std::string_view name);

} // namespace akbuild::service
