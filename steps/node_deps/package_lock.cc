#include "steps/node_deps/package_lock.hh"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "runner/core/fs.hh"

namespace akbuild::steps::node {
namespace {

constexpr const char* k_dep_kinds[] = {"dependencies", "devDependencies", "optionalDependencies", "peerDependencies"};

Result<nlohmann::json> load_json(const std::filesystem::path& path, const std::string& shown, std::string_view hint) {
  auto text = read_file(path);
  if (!text) {
    if (text.error().code == ErrorCode::not_found)
      return fail(ErrorCode::invalid_argument, fmt::format("{}: no such file{}", shown, hint));
    return fail(text.error());
  }
  try {
    return nlohmann::json::parse(*text);
  } catch (const nlohmann::json::parse_error& e) {
    return fail(ErrorCode::invalid_argument, fmt::format("{}: invalid JSON at byte {}: {}", shown, e.byte, e.what()));
  }
}

} // namespace

Result<PackageLock> PackageLock::load(const std::filesystem::path& dir, const std::string& shown) {
  auto where = shown.empty() || shown == "." ? std::string("package-lock.json") : shown + "/package-lock.json";
  auto json = AK_TRY(load_json(dir / "package-lock.json", where, " (run `npm install` to create the lockfile)"));
  PackageLock lock;
  if (!json.is_object() || !json.contains("lockfileVersion") || !json["lockfileVersion"].is_number_integer())
    return fail(ErrorCode::invalid_argument, fmt::format("{}: no lockfileVersion", where));
  lock.lockfile_version = json["lockfileVersion"].get<int>();
  if (lock.lockfile_version < 2 || lock.lockfile_version > 3)
    return fail(ErrorCode::invalid_argument,
                fmt::format("{}: lockfileVersion {} is not supported (need 2 or 3; run `npm install --lockfile-version 3`)",
                            where, lock.lockfile_version));
  const auto& packages = json.value("packages", nlohmann::json::object());
  if (!packages.is_object() || !packages.contains(""))
    return fail(ErrorCode::invalid_argument, fmt::format("{}: no root entry packages[\"\"]", where));
  lock.entries = packages.size();
  const auto& root = packages[""];
  lock.name = root.value("name", "");
  for (const char* kind : k_dep_kinds)
    if (root.contains(kind) && root[kind].is_object())
      for (const auto& [name, spec] : root[kind].items()) lock.root_dependencies.insert(name);
  for (const auto& [key, entry] : packages.items()) {
    if (!entry.is_object()) return fail(ErrorCode::invalid_argument, fmt::format("{}: packages[\"{}\"] is not an object", where, key));
    if (entry.value("link", false) && entry.contains("resolved") && entry["resolved"].is_string()) {
      auto resolved = entry["resolved"].get<std::string>();
      if (resolved.empty() || resolved.front() == '/' || resolved.find("..") != std::string::npos)
        return fail(ErrorCode::invalid_argument,
                    fmt::format("{}: workspace link {} points outside the project: {}", where, key, resolved));
      lock.workspaces.push_back(resolved);
    }
  }
  std::sort(lock.workspaces.begin(), lock.workspaces.end());
  lock.workspaces.erase(std::unique(lock.workspaces.begin(), lock.workspaces.end()), lock.workspaces.end());
  return lock;
}

Result<> check_in_sync(const PackageLock& lock, const std::filesystem::path& dir, const std::string& shown) {
  auto pj = shown.empty() || shown == "." ? std::string("package.json") : shown + "/package.json";
  auto json = AK_TRY(load_json(dir / "package.json", pj, ""));
  std::vector<std::string> missing;
  for (const char* kind : k_dep_kinds)
    if (json.contains(kind) && json[kind].is_object())
      for (const auto& [name, spec] : json[kind].items())
        if (!lock.root_dependencies.count(name)) missing.push_back(name);
  if (!missing.empty())
    return fail(ErrorCode::failed_precondition,
                fmt::format("{} is out of sync with {}: {} not in the lockfile (run `npm install`)",
                            shown.empty() || shown == "." ? std::string("package-lock.json") : shown + "/package-lock.json",
                            pj, fmt::join(missing, ", ")));
  return ok();
}

} // namespace akbuild::steps::node
