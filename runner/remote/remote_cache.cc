#include "runner/remote/remote_cache.hh"

#include <cstdlib>

#include "runner/core/fs.hh"
#include "runner/remote/grpc_cache.hh"
#include "runner/remote/http_cache.hh"

namespace akbuild::remote {

namespace {

using Factory = Result<std::unique_ptr<RemoteCache>> (*)(RemoteOptions);

// The protocols, by URL scheme.
constexpr std::pair<std::string_view, Factory> k_schemes[] = {
    {"grpc", make_grpc_cache},
    {"grpcs", make_grpc_cache},
    {"http", make_http_cache},
    {"https", make_http_cache},
};

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

} // namespace

Result<std::unique_ptr<RemoteCache>> open_remote_cache(RemoteOptions options) {
  // TLS files for grpcs:// and https:// come from the environment, like the other remote
  // settings a runner host gives every command.
  for (auto [name, pem] : {std::pair{"AKBUILD_REMOTE_TLS_CA", &options.tls_ca_pem},
                           std::pair{"AKBUILD_REMOTE_TLS_CERT", &options.tls_cert_pem},
                           std::pair{"AKBUILD_REMOTE_TLS_KEY", &options.tls_key_pem}}) {
    auto file = env(name);
    if (file.empty() || !pem->empty()) continue;
    auto text = read_file(file);
    if (!text) return fail(ErrorCode::invalid_argument, std::string(name) + " " + file + ": " + text.error().message);
    *pem = std::move(*text);
  }
  if (options.tls_cert_pem.empty() != options.tls_key_pem.empty())
    return fail(ErrorCode::invalid_argument, "AKBUILD_REMOTE_TLS_CERT and AKBUILD_REMOTE_TLS_KEY go together");
  auto sep = options.url.find("://");
  std::string scheme = sep == std::string::npos ? "" : options.url.substr(0, sep);
  for (const auto& [name, factory] : k_schemes)
    if (scheme == name) return factory(std::move(options));
  return fail(ErrorCode::invalid_argument, "--remote-cache '" + options.url +
                                               "': the scheme must be grpc://, grpcs://, http:// or https://");
}

Result<std::optional<RemoteOptions>> remote_options(std::string url, std::string token_file, bool read_only) {
  if (url.empty()) url = env("AKBUILD_REMOTE_CACHE");
  if (url.empty()) return std::optional<RemoteOptions>{};
  RemoteOptions options;
  options.url = std::move(url);
  options.read_only = read_only || env("AKBUILD_REMOTE_READ_ONLY") == "1";
  if (token_file.empty()) token_file = env("AKBUILD_REMOTE_TOKEN_FILE");
  if (!token_file.empty()) {
    auto text = read_file(token_file);
    if (!text) return fail(ErrorCode::invalid_argument, "--remote-token-file " + token_file + ": " + text.error().message);
    while (!text->empty() && (text->back() == '\n' || text->back() == '\r' || text->back() == ' ')) text->pop_back();
    if (text->empty()) return fail(ErrorCode::invalid_argument, "--remote-token-file " + token_file + ": empty");
    options.token = std::move(*text);
  }
  return std::optional<RemoteOptions>(std::move(options));
}

} // namespace akbuild::remote
