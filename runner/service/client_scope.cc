#include "runner/service/client_scope.hh"

#include <fcntl.h>
#include <sys/stat.h>

#include <fmt/core.h>

#include "runner/core/beneath.hh"

namespace akbuild::service {

namespace fs = std::filesystem;

bool lexically_within(const ClientScope& scope, const fs::path& path) {
  fs::path rel = path.lexically_normal().lexically_relative(scope.dir);
  return !rel.empty() && *rel.begin() != "..";
}

namespace {

// check_within's work; with `directory`, the directory open.
Result<UniqueFd> check(const ClientScope& scope, std::string_view what, const std::string& path, bool directory) {
  auto denied = [&](std::string_view why) {
    return fail(ErrorCode::permission_denied,
                fmt::format("{} {}: {} (a job environment's client is confined to {})", what, path, why,
                            scope.dir.string()));
  };
  fs::path p(path);
  if (!p.is_absolute()) return denied("not an absolute path");
  // Checked lexically below and resolved by the kernel later: the two agree only without these.
  for (const auto& part : p.relative_path())
    if (part == "." || part == "..") return denied("holds a . or .. component");
  if (!lexically_within(scope, p)) return denied("outside the job environment");
  fs::path rel = fs::path(strip_trailing_slashes(path)).lexically_relative(scope.dir);
  if (rel == ".") rel.clear();
  // The kernel walks it with RESOLVE_NO_SYMLINKS: a link inside the environment to /etc fails.
  fs::path parent = directory ? rel : rel.parent_path();
  auto dir = open_dir_beneath(scope.dir, parent.string(), false);
  if (!dir) return denied(dir.error().message);
  if (directory || rel.empty()) return std::move(*dir);
  struct stat st {};
  if (::fstatat(dir->get(), rel.filename().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return fail(ErrorCode::not_found, fmt::format("{} {}: no such file", what, path));
  if (S_ISLNK(st.st_mode)) return denied("a symlink");
  return UniqueFd{};
}

} // namespace

Result<> check_within(const ClientScope& scope, std::string_view what, const std::string& path, bool directory) {
  AK_TRY_VOID(check(scope, what, path, directory));
  return ok();
}

Result<UniqueFd> open_within(const ClientScope& scope, std::string_view what, const std::string& path) {
  return check(scope, what, path, true);
}

} // namespace akbuild::service
