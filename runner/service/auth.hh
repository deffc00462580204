#pragma once
// Bearer-token authentication for TCP listeners: every call must carry
// `authorization: Bearer <token>`; the token is compared in constant time. Runs in gRPC's
// transport for every service on the port (Executor, health, reflection).

#include <filesystem>
#include <memory>
#include <string>

#include <grpcpp/security/auth_metadata_processor.h>

#include "runner/core/result.hh"

namespace akbuild::service {

// The processor for a server credential; refuses calls without the token as UNAUTHENTICATED.
std::shared_ptr<grpc::AuthMetadataProcessor> make_token_processor(std::string token);

// The token in a token file: its content without surrounding whitespace; refuses an empty one
// or a file others can read.
Result<std::string> read_token_file(const std::filesystem::path& path);

} // namespace akbuild::service
