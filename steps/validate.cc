#include "steps/validate.hh"

#include <sys/stat.h>

#include "runner/core/encoding.hh"
#include "runner/core/fs.hh"
#include "runner/core/glob.hh"

namespace akbuild::steps {

namespace {

tl::unexpected<Error> bad(std::string_view kind, std::string_view key, std::string_view value, std::string_view why) {
  return fail(ErrorCode::invalid_argument, std::string(kind) + ": with: " + std::string(key) + ": '" +
                                               std::string(value) + "' " + std::string(why));
}

std::vector<std::string_view> components(std::string_view p) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start < p.size()) {
    auto end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    out.push_back(p.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

} // namespace

Result<> validate_globs(std::string_view kind, std::string_view key, const std::vector<std::string>& patterns) {
  for (const auto& p : patterns) {
    auto g = Glob::parse(p);
    if (!g) return fail(ErrorCode::invalid_argument, std::string(kind) + ": with: " + std::string(key) + ": " +
                                                         g.error().message);
  }
  return ok();
}

Result<> validate_output_path(std::string_view kind, std::string_view key, std::string_view value,
                              const std::filesystem::path& workspace) {
  if (value.empty()) return bad(kind, key, value, "is empty");
  if (value.front() == '/') return bad(kind, key, value, "is absolute; outputs are paths inside the workspace");
  auto comps = components(value.back() == '/' ? value.substr(0, value.size() - 1) : value);
  if (comps.empty()) return bad(kind, key, value, "names the workspace itself");
  for (auto c : comps) {
    if (c == "..") return bad(kind, key, value, "leaves the workspace through '..'");
    if (c.empty() || c == ".") return bad(kind, key, value, "has an empty or '.' component");
    if (c.find('\0') != std::string_view::npos) return bad(kind, key, value, "contains a NUL byte");
  }
  if (!is_contained_relative_path(value)) return bad(kind, key, value, "is not a path inside the workspace");
  // Existing components must be real directories (the last may be anything but a symlink).
  std::filesystem::path p = workspace;
  for (std::size_t i = 0; i < comps.size(); ++i) {
    p /= std::string(comps[i]);
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) break;
    if (S_ISLNK(st.st_mode)) return bad(kind, key, value, "goes through the symlink '" + p.lexically_relative(workspace).string() +
                                                              "' in the workspace");
    if (i + 1 < comps.size() && !S_ISDIR(st.st_mode))
      return bad(kind, key, value, "goes through '" + p.lexically_relative(workspace).string() +
                                       "', which is not a directory");
  }
  return ok();
}

Result<> validate_relative_dir(std::string_view kind, std::string_view key, std::string_view value) {
  if (value.empty() || value == ".") return ok();
  if (value.front() == '/') return bad(kind, key, value, "is absolute; it must be relative to the workspace");
  if (!is_contained_relative_path(value)) return bad(kind, key, value, "leaves the workspace");
  return ok();
}

Result<> validate_sri(std::string_view kind, std::string_view key, std::string_view value) {
  constexpr std::string_view prefix = "sha256-";
  if (value.substr(0, prefix.size()) != prefix || value.size() != prefix.size() + 44)
    return bad(kind, key, value, "is not an SRI sha256 hash (sha256-<44 base64 characters>)");
  auto bytes = from_base64(value.substr(prefix.size()));
  if (!bytes || bytes->size() != 32) return bad(kind, key, value, "is not an SRI sha256 hash (bad base64)");
  return ok();
}

} // namespace akbuild::steps
