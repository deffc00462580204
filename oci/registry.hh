#pragma once
// Pushing images over the OCI distribution API (distribution-spec v1.0 "push"; pulls below):
//   HEAD /v2/<name>/blobs/<digest>                     200: present, skipped
//   POST /v2/<name>/blobs/uploads/?mount=<d>&from=<r>  201: mounted from another repository
//   POST /v2/<name>/blobs/uploads/ + PUT <location>?digest=<d>     monolithic upload
//   ... + PATCH <location> (Content-Range) ... + PUT ?digest=       chunked, for large blobs
//   PUT  /v2/<name>/manifests/<tag>
// Auth: anonymous; Basic; Bearer via the WWW-Authenticate realm/service/scope token flow
// (Docker token spec), with credentials from AKBUILD_REGISTRY_USER / AKBUILD_REGISTRY_PASSWORD
// or ~/.docker/config.json "auths" (credential helpers are not supported). The Authorization
// header goes only to the registry's own origin, as containerd does: an upload Location on
// another origin (a storage backend, or a hostile redirect) gets no credentials, and one that
// asks for them is an error. HTTPS always, except
// for loopback registries or with `insecure`. 429 and 5xx are retried with exponential backoff.
//
// Usage: auto report = AK_TRY(push_layout("out/image", "demo:1", AK_TRY(Reference::parse(...)), {}));

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "oci/http_client.hh"
#include "oci/layout.hh"
#include "oci/reference.hh"
#include "runner/core/result.hh"

namespace akbuild::oci {

struct Credentials {
  std::string username, password;
};

// Credentials for `registry` from the environment, else from `docker_config` (default
// $DOCKER_CONFIG/config.json or ~/.docker/config.json); nullopt when there are none.
std::optional<Credentials> find_credentials(std::string_view registry, const std::filesystem::path& docker_config = {});

struct PushOptions {  // pulls take the same options
  bool insecure = false;                       // allow plain HTTP to a non-loopback registry
  int max_attempts = 4;                        // per request, for 429/5xx and connection failures
  std::chrono::milliseconds backoff{200};      // doubled after each failed attempt
  std::uint64_t chunk_size = 64ull << 20;      // blobs larger than this go up in PATCH chunks
  std::filesystem::path pushed_dir;            // remembers which repository holds a blob (mounts);
                                               // the cache dir's pushed area; empty: nothing kept
  std::optional<Credentials> credentials;      // else find_credentials(), when host_credentials
  bool host_credentials = true;                // false: only `credentials` (a job environment's push
                                               // must not use the daemon's logins)
  std::chrono::seconds timeout{60};            // each read and write
  std::chrono::seconds connect_timeout{10};    // each TCP connect
};

struct PushReport {
  std::string manifest_digest;
  std::size_t uploaded = 0, skipped = 0, mounted = 0;  // blobs (layers and config)
  std::size_t uploaded_layers = 0;
  std::uint64_t uploaded_bytes = 0;
};

class RegistryClient {
public:
  RegistryClient(Reference ref, PushOptions options);
  Result<bool> blob_exists(const std::string& digest);
  // Mounts `digest` from repository `from`; false when the registry answered with an upload
  // session instead (kept for the next upload_blob).
  Result<bool> mount_blob(const std::string& digest, const std::string& from);
  Result<> upload_blob(const std::filesystem::path& path, const Descriptor& blob);
  // PUTs the manifest under the reference's tag; returns the digest the registry reports.
  Result<std::string> put_manifest(const std::string& bytes, const std::string& media_type);

  // Pulling (distribution-spec "pull"): GET /v2/<name>/manifests/<tag|digest> with the OCI and
  // Docker Accept types, GET /v2/<name>/blobs/<digest>, following redirects (a blob on another
  // origin gets no credentials).
  struct Manifest {
    std::string bytes, media_type, digest;  // digest: sha256 of bytes
  };
  // The manifest or index `tag_or_digest` names. corrupt, naming it, when a digest was asked for
  // and the bytes do not hash to it, or the registry's Docker-Content-Digest disagrees.
  Result<Manifest> get_manifest(const std::string& tag_or_digest);
  // The blob's bytes, checked against `digest` (and `size`); corrupt naming the digest otherwise.
  Result<std::string> get_blob(const std::string& digest, std::uint64_t size);

private:
  Result<HttpResponse> request(const std::string& method, const std::string& path_or_url,
                               std::vector<std::pair<std::string, std::string>> headers, std::string body,
                               const std::string& what);
  Result<> authenticate(const HttpResponse& challenge, const std::string& what);
  // A GET that follows up to five redirects.
  Result<HttpResponse> get(const std::string& path, std::vector<std::pair<std::string, std::string>> headers,
                           const std::string& what);
  // "scheme://host:port" of an absolute URL; "" if it does not parse.
  static std::string origin_of(const std::string& url);
  std::string url(const std::string& path_or_url) const;

  Reference m_ref;
  PushOptions m_options;
  HttpClient m_http;
  std::string m_base;                 // "http(s)://host:port"
  std::string m_origin;               // m_base as Url::origin() spells it
  std::string m_authorization;        // current Authorization header value
  std::optional<Credentials> m_credentials;
  bool m_tried_basic = false, m_tried_bearer = false;
  std::string m_pending_upload;       // an upload location from a refused mount
};

// Pushes the image `ref_name` of an OCI layout to `dest`. Verifies every blob before sending it.
Result<PushReport> push_layout(const std::filesystem::path& layout, std::string_view ref_name, const Reference& dest,
                               const PushOptions& options = {});

} // namespace akbuild::oci
