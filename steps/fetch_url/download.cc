#include "steps/fetch_url/download.hh"

#include <fmt/format.h>

#include "oci/http_client.hh"
#include "runner/core/beneath.hh"
#include "runner/core/fs.hh"

namespace akbuild::steps {

namespace fs = std::filesystem;

namespace {

constexpr int k_max_redirects = 5;

// A local file the URL names: file:///abs, an absolute path, or a path relative to `base`.
fs::path local_path(std::string_view url, const fs::path& base) {
  if (url.starts_with("file://")) return fs::path(std::string(url.substr(7)));
  fs::path p{std::string(url)};
  return p.is_absolute() ? p : base / p;
}

// Where a redirect goes: an absolute URL, or a path on the same origin.
std::string resolve_location(const oci::Url& from, const std::string& location) {
  if (location.find("://") != std::string::npos) return location;
  if (location.starts_with("/")) return from.origin() + location;
  auto dir = from.target.substr(0, from.target.rfind('/') + 1);
  return from.origin() + dir + location;
}

Result<> fetch_http(std::string_view url, const fs::path& dest) {
  oci::HttpClient client(std::chrono::seconds(60), std::chrono::seconds(10));
  std::string current(url);
  for (int hop = 0; hop <= k_max_redirects; ++hop) {
    auto parsed = AK_TRY(oci::Url::parse(current).map_error([&](Error e) { return e.context(fmt::format("fetch-url: {}", url)); }));
    auto r = client.send({"GET", current, {{"Accept", "*/*"}}, ""});
    if (!r) return fail(r.error().context(fmt::format("fetch-url: {}", current)));
    if (r->status >= 300 && r->status < 400 && !r->header("location").empty()) {
      current = resolve_location(parsed, r->header("location"));
      continue;
    }
    if (r->status != 200)
      return fail(ErrorCode::unavailable, fmt::format("fetch-url: {}: HTTP {} {}", current, r->status, r->reason));
    return write_file(dest, r->body);
  }
  return fail(ErrorCode::unavailable, fmt::format("fetch-url: {}: more than {} redirects", url, k_max_redirects));
}

Result<> copy_local(const fs::path& source, const fs::path& dest) {
  std::error_code ec;
  fs::copy_file(source, dest, fs::copy_options::overwrite_existing, ec);
  if (!ec) return ok();
  fs::remove(dest, ec);
  return fail(ErrorCode::io, fmt::format("fetch-url: {}: {}", source.string(), ec.message()));
}

} // namespace

Result<fs::path> workspace_source(std::string_view url, const fs::path& workspace) {
  auto path = local_path(url, workspace).lexically_normal();
  auto rel = path.lexically_relative(workspace.lexically_normal());
  if (rel.empty() || !is_contained_relative_path(rel.string()))
    return fail(ErrorCode::permission_denied,
                fmt::format("fetch-url: with: url: '{}' is outside the job's workspace (a job environment's fetch "
                            "steps read the network or their own workspace)",
                            url));
  return rel;
}

Result<UrlScheme> url_scheme(std::string_view url) {
  if (url.starts_with("https://") || url.starts_with("http://")) {
    AK_TRY_VOID(oci::Url::parse(url).map_error([&](Error e) { return e.context(fmt::format("'{}'", url)); }));
    return UrlScheme::http;
  }
  if (url.starts_with("file://")) {
    if (url.size() == 7 || url[7] != '/')
      return fail(ErrorCode::invalid_argument, fmt::format("'{}' is not a file:// URL of an absolute path", url));
    return UrlScheme::file;
  }
  auto colon = url.find(':'), slash = url.find('/');
  if (url.empty() || url.front() == '-' || (colon != std::string_view::npos && colon < slash))
    return fail(ErrorCode::invalid_argument, fmt::format("'{}' is not an http(s) or file URL, nor a path", url));
  return UrlScheme::file;
}

Result<> download(std::string_view url, const fs::path& base, const fs::path& dest, bool confined) {
  if (AK_TRY(url_scheme(url)) == UrlScheme::http) {
    auto r = fetch_http(url, dest);
    if (!r) std::filesystem::remove(dest);
    return r;
  }
  if (confined) {
    // Beneath the workspace with no symlink on the way: a job may swap a component for a link to
    // a host file between planning and the copy.
    auto file = AK_TRY(open_file_beneath(base, AK_TRY(workspace_source(url, base))).map_error([&](Error e) {
      return e.context(fmt::format("fetch-url: {}", url));
    }));
    return copy_local(fd_path(file.get()), dest);
  }
  auto source = local_path(url, base);
  std::error_code ec;
  if (!fs::is_regular_file(source, ec))
    return fail(ErrorCode::not_found, fmt::format("fetch-url: {}: no such file", source.string()));
  return copy_local(source, dest);
}

} // namespace akbuild::steps
