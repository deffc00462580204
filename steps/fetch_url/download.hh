#pragma once
// Getting the bytes behind a fetch-url `url`: https:// and http:// through oci's HTTP client
// (TLS verified, up to 5 redirects, each answer must be 200), file:// URLs and local paths
// (absolute, or relative to a base directory) by copying.

#include <filesystem>
#include <string>
#include <string_view>

#include "runner/core/result.hh"

namespace akbuild::steps {

enum class UrlScheme { http, file };

// The scheme of `url`; invalid_argument for any other scheme or a URL that does not parse.
Result<UrlScheme> url_scheme(std::string_view url);

// A local `url` as a path relative to `workspace`, for a confined step (PlanContext::confined):
// permission_denied when it lies outside the workspace (lexically; links are refused where it is
// opened).
Result<std::filesystem::path> workspace_source(std::string_view url, const std::filesystem::path& workspace);

// Writes what `url` holds to `dest` (created; nothing is left there on failure); a relative path
// is below `base`. `confined`: a local file must be beneath `base`, reached without a symlink.
// Errors name the URL: unavailable when a server cannot be reached or answers other than 200,
// not_found for a missing local file.
Result<> download(std::string_view url, const std::filesystem::path& base, const std::filesystem::path& dest,
                  bool confined);

} // namespace akbuild::steps
