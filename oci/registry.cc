#include "oci/registry.hh"

#include <cctype>
#include <cstdlib>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "oci/layer.hh"
#include "runner/core/encoding.hh"
#include "runner/core/fs.hh"
#include "runner/core/hash.hh"
#include "runner/core/log.hh"

namespace akbuild::oci {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// `Scheme k="v",k2="v2"` of a WWW-Authenticate header.
struct Challenge {
  std::string scheme;
  std::map<std::string, std::string> params;
};

Challenge parse_challenge(std::string_view header) {
  Challenge c;
  auto space = header.find(' ');
  c.scheme = std::string(header.substr(0, space));
  for (char& ch : c.scheme) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  std::string_view rest = space == std::string_view::npos ? std::string_view{} : header.substr(space + 1);
  while (!rest.empty()) {
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == ',')) rest.remove_prefix(1);
    auto eq = rest.find('=');
    if (eq == std::string_view::npos) break;
    std::string key(rest.substr(0, eq));
    for (char& ch : key) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    rest.remove_prefix(eq + 1);
    std::string value;
    if (!rest.empty() && rest.front() == '"') {
      rest.remove_prefix(1);
      while (!rest.empty() && rest.front() != '"') {
        if (rest.front() == '\\' && rest.size() > 1) rest.remove_prefix(1);
        value += rest.front();
        rest.remove_prefix(1);
      }
      if (!rest.empty()) rest.remove_prefix(1);
    } else {
      auto comma = rest.find(',');
      value = std::string(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma);
    }
    c.params[key] = value;
  }
  return c;
}

// "401 Unauthorized: UNAUTHORIZED authentication required" from a registry error body.
std::string describe(const HttpResponse& r) {
  std::string out = std::to_string(r.status) + " " + r.reason;
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("errors") && j["errors"].is_array() && !j["errors"].empty()) {
    const auto& e = j["errors"][0];
    if (e.is_object()) out += ": " + e.value("code", std::string()) + " " + e.value("message", std::string());
  }
  return out;
}

Error status_error(const HttpResponse& r, const std::string& what) {
  std::string msg = what + ": " + describe(r);
  switch (r.status) {
  case 401:
    return {ErrorCode::unauthenticated,
            msg + " (set AKBUILD_REGISTRY_USER and AKBUILD_REGISTRY_PASSWORD, or log in with docker login)"};
  case 403: return {ErrorCode::permission_denied, msg + " (the credentials may not push to this repository)"};
  case 404: return {ErrorCode::not_found, msg};
  default: break;
  }
  if (r.status == 429 || r.status >= 500) return {ErrorCode::unavailable, msg};
  return {ErrorCode::failed_precondition, msg};
}

std::string with_query(const std::string& url, const std::string& query) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + query;
}

fs::path mount_record(const fs::path& pushed_dir, const std::string& registry, const std::string& digest) {
  return pushed_dir / to_hex(sha256(registry)).substr(0, 16) / digest.substr(7);
}

Result<std::string> read_range(int fd, std::uint64_t offset, std::uint64_t size, const fs::path& path) {
  std::string out(size, '\0');
  std::uint64_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, out.data() + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(n < 0 ? errno_error(path.string()) : Error{ErrorCode::io, path.string() + ": short read"});
    done += static_cast<std::uint64_t>(n);
  }
  return out;
}

} // namespace

std::optional<Credentials> find_credentials(std::string_view registry, const fs::path& docker_config) {
  const char* user = std::getenv("AKBUILD_REGISTRY_USER");
  const char* pass = std::getenv("AKBUILD_REGISTRY_PASSWORD");
  if (user && *user) return Credentials{user, pass ? pass : ""};
  fs::path config = docker_config;
  if (config.empty()) {
    if (const char* dir = std::getenv("DOCKER_CONFIG"); dir && *dir) config = fs::path(dir) / "config.json";
    else if (const char* home = std::getenv("HOME"); home && *home) config = fs::path(home) / ".docker" / "config.json";
    else return std::nullopt;
  }
  auto text = read_file(config);
  if (!text) return std::nullopt;
  auto j = json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("auths") || !j["auths"].is_object()) return std::nullopt;
  for (const auto& [key, entry] : j["auths"].items()) {
    std::string host = key;
    if (auto p = host.find("://"); p != std::string::npos) host = host.substr(p + 3);
    host = host.substr(0, host.find('/'));
    bool match = host == registry || (registry == "docker.io" && (host == "index.docker.io" || host == "registry-1.docker.io"));
    if (!match || !entry.is_object()) continue;
    if (entry.contains("auth") && entry["auth"].is_string()) {
      auto decoded = from_base64(entry["auth"].get<std::string>());
      if (!decoded) continue;
      std::string pair(as_chars(*decoded));
      auto colon = pair.find(':');
      if (colon == std::string::npos) continue;
      return Credentials{pair.substr(0, colon), pair.substr(colon + 1)};
    }
    if (entry.contains("username"))
      return Credentials{entry.value("username", std::string()), entry.value("password", std::string())};
  }
  return std::nullopt;
}

RegistryClient::RegistryClient(Reference ref, PushOptions options)
    : m_ref(std::move(ref)), m_options(std::move(options)), m_http(m_options.timeout, m_options.connect_timeout) {
  bool plain = m_ref.is_loopback() || m_options.insecure;
  m_base = std::string(plain ? "http" : "https") + "://" + m_ref.api_host();
  m_origin = origin_of(m_base);
  m_credentials = m_options.credentials       ? m_options.credentials
                  : m_options.host_credentials ? find_credentials(m_ref.registry)
                                               : std::nullopt;
  if (m_credentials) add_secret(m_credentials->password);
}

std::string RegistryClient::origin_of(const std::string& url) {
  auto parsed = Url::parse(url);
  return parsed ? parsed->origin() : std::string();
}

std::string RegistryClient::url(const std::string& path_or_url) const {
  if (path_or_url.rfind("http://", 0) == 0 || path_or_url.rfind("https://", 0) == 0) return path_or_url;
  return m_base + path_or_url;
}

Result<> RegistryClient::authenticate(const HttpResponse& challenge_response, const std::string& what) {
  Challenge c = parse_challenge(challenge_response.header("www-authenticate"));
  if (c.scheme == "basic" && m_credentials && !m_tried_basic) {
    m_tried_basic = true;
    std::string pair = m_credentials->username + ":" + m_credentials->password;
    m_authorization = "Basic " + to_base64(as_bytes(pair));
    return ok();
  }
  if (c.scheme == "bearer" && !m_tried_bearer && c.params.count("realm")) {
    m_tried_bearer = true;
    std::string scope = c.params.count("scope") ? c.params["scope"] : "repository:" + m_ref.repository + ":pull,push";
    std::string token_url = c.params["realm"];
    std::string query;
    if (c.params.count("service")) query = "service=" + percent_encode(c.params["service"]) + "&";
    query += "scope=" + percent_encode(scope);
    HttpRequest req{"GET", with_query(token_url, query), {}, ""};
    if (m_credentials) {
      std::string pair = m_credentials->username + ":" + m_credentials->password;
      req.headers.emplace_back("Authorization", "Basic " + to_base64(as_bytes(pair)));
    }
    auto r = m_http.send(req);
    if (!r) return fail(r.error().context(what + ": token"));
    if (r->status != 200) return fail(status_error(*r, what + ": token from " + token_url));
    auto j = json::parse(r->body, nullptr, false);
    std::string token = j.is_object() ? j.value("token", j.value("access_token", std::string())) : "";
    if (token.empty()) return fail(ErrorCode::unauthenticated, what + ": token server " + token_url + " gave no token");
    add_secret(token);
    m_authorization = "Bearer " + token;
    return ok();
  }
  return fail(status_error(challenge_response, what));
}

Result<HttpResponse> RegistryClient::request(const std::string& method, const std::string& path_or_url,
                                             std::vector<std::pair<std::string, std::string>> headers, std::string body,
                                             const std::string& what) {
  auto delay = m_options.backoff;
  for (int attempt = 1;; ++attempt) {
    HttpRequest req{method, url(path_or_url), headers, body};
    bool own_origin = origin_of(req.url) == m_origin;
    if (!m_authorization.empty() && own_origin) req.headers.emplace_back("Authorization", m_authorization);
    auto r = m_http.send(req);
    bool retry = false;
    if (!r) {
      if (r.error().code != ErrorCode::unavailable && r.error().code != ErrorCode::deadline_exceeded) return fail(r.error());
      if (attempt >= m_options.max_attempts)
        return fail(ErrorCode::unavailable, "registry " + m_ref.registry + " is unreachable: " + r.error().message +
                                                " (" + std::to_string(attempt) + " attempts)");
      retry = true;
    } else if (r->status == 401) {
      if (!own_origin)
        return fail(ErrorCode::permission_denied, what + ": " + origin_of(req.url) +
                                                      " asks for credentials, which are sent only to " + m_origin);
      AK_TRY_VOID(authenticate(*r, what));
      --attempt;
      continue;
    } else if (r->status == 429 || r->status >= 500) {
      if (attempt >= m_options.max_attempts)
        return fail(status_error(*r, what + " (" + std::to_string(attempt) + " attempts)"));
      retry = true;
    }
    if (!retry) return r;
    log_debug("{}: retrying in {} ms", what, delay.count());
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }
}

Result<bool> RegistryClient::blob_exists(const std::string& digest) {
  std::string what = "HEAD blob " + digest;
  auto r = AK_TRY(request("HEAD", "/v2/" + m_ref.repository + "/blobs/" + digest, {}, "", what));
  if (r.status == 200) return true;
  if (r.status == 404) return false;
  return fail(status_error(r, m_ref.registry + "/" + m_ref.repository + ": " + what));
}

Result<bool> RegistryClient::mount_blob(const std::string& digest, const std::string& from) {
  std::string what = "mount " + digest + " from " + from;
  auto r = AK_TRY(request("POST",
                          "/v2/" + m_ref.repository + "/blobs/uploads/?mount=" + percent_encode(digest) +
                              "&from=" + percent_encode(from),
                          {}, "", what));
  if (r.status == 201) return true;
  if (r.status == 202 && !r.header("location").empty()) {
    m_pending_upload = r.header("location");
    return false;
  }
  return fail(status_error(r, m_ref.registry + "/" + m_ref.repository + ": " + what));
}

Result<> RegistryClient::upload_blob(const fs::path& path, const Descriptor& blob) {
  std::string where = m_ref.registry + "/" + m_ref.repository + ": upload " + blob.digest;
  std::string location = std::exchange(m_pending_upload, "");
  if (location.empty()) {
    auto r = AK_TRY(request("POST", "/v2/" + m_ref.repository + "/blobs/uploads/", {}, "", "start upload"));
    if (r.status != 202 || r.header("location").empty()) return fail(status_error(r, where));
    location = r.header("location");
  }
  auto fd = AK_TRY(open_fd(path, O_RDONLY | O_CLOEXEC));
  const std::pair<std::string, std::string> octets{"Content-Type", "application/octet-stream"};
  if (blob.size <= m_options.chunk_size) {
    std::string body = AK_TRY(read_range(fd.get(), 0, blob.size, path));
    auto r = AK_TRY(request("PUT", with_query(location, "digest=" + percent_encode(blob.digest)), {octets},
                            std::move(body), "upload " + blob.digest));
    if (r.status != 201) return fail(status_error(r, where));
    return ok();
  }
  for (std::uint64_t offset = 0; offset < blob.size; offset += m_options.chunk_size) {
    std::uint64_t n = std::min(m_options.chunk_size, blob.size - offset);
    std::string body = AK_TRY(read_range(fd.get(), offset, n, path));
    std::string range = std::to_string(offset) + "-" + std::to_string(offset + n - 1);
    auto r = AK_TRY(request("PATCH", location, {octets, {"Content-Range", range}}, std::move(body),
                            "upload " + blob.digest + " bytes " + range));
    if (r.status != 202 || r.header("location").empty()) return fail(status_error(r, where + " bytes " + range));
    location = r.header("location");
  }
  auto r = AK_TRY(request("PUT", with_query(location, "digest=" + percent_encode(blob.digest)), {octets}, "",
                          "finish upload " + blob.digest));
  if (r.status != 201) return fail(status_error(r, where));
  return ok();
}

Result<std::string> RegistryClient::put_manifest(const std::string& bytes, const std::string& media_type) {
  std::string what = "PUT manifest " + m_ref.manifest_ref();
  auto r = AK_TRY(request("PUT", "/v2/" + m_ref.repository + "/manifests/" + m_ref.manifest_ref(),
                          {{"Content-Type", media_type}}, bytes, what));
  if (r.status != 201 && r.status != 200) return fail(status_error(r, m_ref.registry + "/" + m_ref.repository + ": " + what));
  std::string ours = "sha256:" + to_hex(sha256(bytes));
  std::string theirs = r.header("docker-content-digest");
  if (!theirs.empty() && theirs != ours)
    return fail(ErrorCode::corrupt, what + ": the registry stored " + theirs + ", expected " + ours);
  return ours;
}

Result<HttpResponse> RegistryClient::get(const std::string& path, std::vector<std::pair<std::string, std::string>> headers,
                                         const std::string& what) {
  std::string target = path;
  for (int hop = 0;; ++hop) {
    auto r = AK_TRY(request("GET", target, headers, "", what));
    bool redirect = r.status == 301 || r.status == 302 || r.status == 303 || r.status == 307 || r.status == 308;
    if (!redirect) return r;
    std::string location = r.header("location");
    if (location.empty() || hop >= 5)
      return fail(ErrorCode::unavailable, m_ref.registry + "/" + m_ref.repository + ": " + what + ": " +
                                              (location.empty() ? "a redirect without a Location" : "too many redirects"));
    if (location.front() == '/') location = (origin_of(url(target)).empty() ? m_base : origin_of(url(target))) + location;
    target = location;
  }
}

Result<RegistryClient::Manifest> RegistryClient::get_manifest(const std::string& tag_or_digest) {
  std::string what = "GET manifest " + tag_or_digest;
  std::string where = m_ref.registry + "/" + m_ref.repository + ": " + what;
  auto r = AK_TRY(get("/v2/" + m_ref.repository + "/manifests/" + tag_or_digest,
                      {{"Accept",
                        "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
                        "application/vnd.docker.distribution.manifest.list.v2+json, "
                        "application/vnd.docker.distribution.manifest.v2+json"}},
                      what));
  if (r.status != 200) return fail(status_error(r, where));
  Manifest m{std::move(r.body), r.header("content-type"), ""};
  m.digest = "sha256:" + to_hex(sha256(m.bytes));
  if (tag_or_digest.rfind("sha256:", 0) == 0 && m.digest != tag_or_digest)
    return fail(ErrorCode::corrupt, where + ": the registry sent a manifest whose digest is " + m.digest);
  std::string theirs = r.header("docker-content-digest");
  if (!theirs.empty() && theirs != m.digest)
    return fail(ErrorCode::corrupt, where + ": the registry names it " + theirs + " but its bytes are " + m.digest);
  if (auto semi = m.media_type.find(';'); semi != std::string::npos) m.media_type.resize(semi);
  return m;
}

Result<std::string> RegistryClient::get_blob(const std::string& digest, std::uint64_t size) {
  std::string what = "GET blob " + digest;
  std::string where = m_ref.registry + "/" + m_ref.repository + ": " + what;
  auto r = AK_TRY(get("/v2/" + m_ref.repository + "/blobs/" + digest, {}, what));
  if (r.status != 200) return fail(status_error(r, where));
  std::string got = "sha256:" + to_hex(sha256(r.body));
  if (got != digest || r.body.size() != size)
    return fail(ErrorCode::corrupt, where + ": the registry sent " + std::to_string(r.body.size()) +
                                        " bytes hashing to " + got + ", not the blob's " + std::to_string(size) +
                                        " bytes");
  return std::move(r.body);
}

Result<PushReport> push_layout(const fs::path& layout, std::string_view ref_name, const Reference& dest,
                               const PushOptions& options) {
  auto image = AK_TRY(read_layout_image(layout, ref_name));
  RegistryClient client(dest, options);
  PushReport report;
  std::vector<Descriptor> blobs = image.layers;
  blobs.push_back(image.config);
  for (const auto& blob : blobs) {
    fs::path path = blob_path(layout / "blobs", blob.digest);
    if (AK_TRY(client.blob_exists(blob.digest))) {
      ++report.skipped;
      continue;
    }
    if (!options.pushed_dir.empty()) {
      if (auto from = read_file(mount_record(options.pushed_dir, dest.registry, blob.digest));
          from && !from->empty() && *from != dest.repository) {
        if (AK_TRY(client.mount_blob(blob.digest, *from))) {
          ++report.mounted;
          continue;
        }
      }
    }
    AK_TRY_VOID(verify_blob(path, blob));
    AK_TRY_VOID(client.upload_blob(path, blob));
    ++report.uploaded;
    if (blob.digest != image.config.digest) ++report.uploaded_layers;
    report.uploaded_bytes += blob.size;
    if (!options.pushed_dir.empty()) {
      fs::path record = mount_record(options.pushed_dir, dest.registry, blob.digest);
      if (make_dirs(record.parent_path())) (void)write_file_atomic(record, dest.repository);
    }
  }
  std::string media_type = image.manifest.media_type.empty() ? "application/vnd.oci.image.manifest.v1+json"
                                                             : image.manifest.media_type;
  report.manifest_digest = AK_TRY(client.put_manifest(image.manifest_bytes, media_type));
  return report;
}

} // namespace akbuild::oci
