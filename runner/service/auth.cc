#include "runner/service/auth.hh"

#include <openssl/crypto.h>
#include <sys/stat.h>

#include "runner/core/fs.hh"
#include "runner/core/hash.hh"
#include "runner/service/status.hh"

namespace akbuild::service {

namespace {

constexpr std::string_view k_bearer = "Bearer ";

class TokenProcessor final : public grpc::AuthMetadataProcessor {
public:
  explicit TokenProcessor(std::string token) : m_token(sha256(token)) {}

  // The check is a hash and a compare: cheap enough for the transport thread.
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext*, OutputMetadata* consumed,
                       OutputMetadata*) override {
    auto it = metadata.find("authorization");
    if (it == metadata.end())
      return to_grpc_status(Error{ErrorCode::unauthenticated, "missing authorization metadata (Bearer token)"});
    std::string_view value(it->second.data(), it->second.size());
    if (value.rfind(k_bearer, 0) != 0)
      return to_grpc_status(Error{ErrorCode::unauthenticated, "authorization metadata is not a Bearer token"});
    auto given = sha256(value.substr(k_bearer.size()));
    // Digests of equal length, compared in constant time: the timing says nothing about the token.
    if (CRYPTO_memcmp(given.data(), m_token.data(), given.size()) != 0)
      return to_grpc_status(Error{ErrorCode::unauthenticated, "wrong token"});
    consumed->insert({"authorization", std::string(value)});
    return grpc::Status::OK;
  }

private:
  Sha256Bytes m_token;
};

} // namespace

std::shared_ptr<grpc::AuthMetadataProcessor> make_token_processor(std::string token) {
  return std::make_shared<TokenProcessor>(std::move(token));
}

Result<std::string> read_token_file(const std::filesystem::path& path) {
  std::string text = AK_TRY(read_file(path));
  auto first = text.find_first_not_of(" \t\r\n");
  auto last = text.find_last_not_of(" \t\r\n");
  if (first == std::string::npos) return fail(ErrorCode::invalid_argument, path.string() + ": token file is empty");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 0077) != 0)
    return fail(ErrorCode::invalid_argument,
                path.string() + ": token file is readable by others (chmod 600 it)");
  return text.substr(first, last - first + 1);
}

} // namespace akbuild::service
