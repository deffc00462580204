#include "steps/python_deps/uv_lock.hh"

#include <algorithm>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "runner/core/fs.hh"
#include "steps/python_deps/toml_guard.hh"

namespace akbuild::steps::python {
namespace {

template <class View>
std::string str(const View& v) { return std::string(v.value_or(std::string_view{})); }

std::string where_of(const std::string& file, const toml::node& node) {
  const auto& s = node.source();
  return fmt::format("{}:{}:{}", file, s.begin.line, s.begin.column);
}

Result<std::vector<LockDependency>> read_deps(const toml::node_view<const toml::node>& v, const std::string& file) {
  std::vector<LockDependency> out;
  if (!v) return out;
  const auto* arr = v.as_array();
  if (!arr) return fail(ErrorCode::invalid_argument, fmt::format("{}: dependencies must be an array", where_of(file, *v.node())));
  for (const auto& item : *arr) {
    const auto* t = item.as_table();
    if (!t || !(*t)["name"].is_string())
      return fail(ErrorCode::invalid_argument, fmt::format("{}: a dependency needs a name", where_of(file, item)));
    LockDependency d;
    d.name = normalize_name(str((*t)["name"]));
    if (const auto* extras = (*t)["extra"].as_array())
      for (const auto& e : *extras) d.extras.push_back(normalize_name(e.value_or(std::string_view{})));
    d.marker = str((*t)["marker"]);
    d.version = str((*t)["version"]);
    out.push_back(std::move(d));
  }
  return out;
}

Result<std::map<std::string, std::vector<LockDependency>>> read_dep_table(const toml::node_view<const toml::node>& v,
                                                                          const std::string& file) {
  std::map<std::string, std::vector<LockDependency>> out;
  if (const auto* t = v.as_table())
    for (const auto& [key, value] : *t)
      out[normalize_name(key.str())] = AK_TRY(read_deps(toml::node_view<const toml::node>(value), file));
  return out;
}

LockFile read_file_entry(const toml::table& t) {
  LockFile f;
  f.url = str(t["url"]);
  if (f.url.empty()) f.url = str(t["path"]);
  if (f.url.empty()) f.url = str(t["filename"]);
  auto slash = f.url.find_last_of('/');
  f.file = slash == std::string::npos ? f.url : f.url.substr(slash + 1);
  if (auto q = f.file.find_first_of("?#"); q != std::string::npos) f.file.resize(q);
  f.hash = str(t["hash"]);
  return f;
}

} // namespace

Result<UvLock> UvLock::parse(std::string_view text, const std::string& where) {
  AK_TRY_VOID(check_toml_text(text, where));
  toml::table doc;
  try {
    doc = toml::parse(text, where);
  } catch (const toml::parse_error& e) {
    return fail(ErrorCode::invalid_argument, fmt::format("{}:{}:{}: {}", where, e.source().begin.line,
                                                         e.source().begin.column, e.description()));
  }
  const toml::table& cdoc = doc;
  UvLock lock;
  // An integer only: value_or(0) would convert a float such as 3e31 to an integer, which is
  // undefined behaviour when it does not fit (found by fuzzing).
  const auto* version = cdoc["version"].as_integer();
  if (!version || version->get() != 1)
    return fail(ErrorCode::invalid_argument,
                fmt::format("{}: lock version {} is not supported (need 1)", where,
                            version ? std::to_string(version->get()) : std::string("(missing, or not an integer)")));
  lock.version = 1;
  lock.requires_python = str(cdoc["requires-python"]);
  const auto* packages = cdoc["package"].as_array();
  if (!packages) return lock;
  for (const auto& node : *packages) {
    const auto* t = node.as_table();
    if (!t || !(*t)["name"].is_string())
      return fail(ErrorCode::invalid_argument, fmt::format("{}: a [[package]] needs a name", where_of(where, node)));
    LockPackage p;
    p.name = normalize_name(str((*t)["name"]));
    p.version = str((*t)["version"]);
    if (const auto* src = (*t)["source"].as_table()) {
      for (const char* kind : {"registry", "editable", "virtual", "git", "path", "directory", "url"}) {
        if (auto v = (*src)[kind]; v.is_string()) {
          p.source_kind = kind;
          p.source = str(v);
          break;
        }
      }
    }
    p.dependencies = AK_TRY(read_deps((*t)["dependencies"], where));
    p.optional_dependencies = AK_TRY(read_dep_table((*t)["optional-dependencies"], where));
    p.dev_dependencies = AK_TRY(read_dep_table((*t)["dev-dependencies"], where));
    if (const auto* rd = (*t)["metadata"]["requires-dist"].as_array())
      for (const auto& r : *rd)
        if (const auto* rt = r.as_table()) p.requires_dist.push_back(normalize_name(str((*rt)["name"])));
    if (const auto* sd = (*t)["sdist"].as_table()) p.sdist = read_file_entry(*sd);
    if (const auto* wheels = (*t)["wheels"].as_array())
      for (const auto& w : *wheels)
        if (const auto* wt = w.as_table()) p.wheels.push_back(read_file_entry(*wt));
    lock.packages.push_back(std::move(p));
  }
  return lock;
}

Result<UvLock> UvLock::load(const std::filesystem::path& path) {
  auto text = read_file(path);
  if (!text) {
    if (text.error().code == ErrorCode::not_found)
      return fail(ErrorCode::invalid_argument, fmt::format("{}: no such lockfile (run `uv lock`)", path.string()));
    return fail(text.error());
  }
  return parse(*text, path.string());
}

Result<const LockPackage*> UvLock::root(const std::string& name) const {
  for (const auto& p : packages) {
    if (!name.empty() ? p.name == normalize_name(name)
                      : ((p.source_kind == "editable" || p.source_kind == "virtual") && p.source == "."))
      return &p;
  }
  return fail(ErrorCode::invalid_argument,
              name.empty() ? std::string("uv.lock: no root project (a package with source editable or virtual \".\")")
                           : fmt::format("uv.lock: no package '{}' (the project of pyproject.toml)", name));
}

Result<std::vector<Selected>> select_packages(const UvLock& lock, const LockPackage& root, const Target& target,
                                              const SelectOptions& options) {
  AK_TRY_VOID(target.validate());
  MarkerEnv env = target.marker_env();
  std::multimap<std::string, const LockPackage*> by_name;
  for (const auto& p : lock.packages) by_name.emplace(p.name, &p);

  // Activated (package, extra) pairs; a package is visited again when a new extra activates.
  std::map<const LockPackage*, std::set<std::string>> active;
  std::vector<std::pair<const LockPackage*, std::string>> work;  // extra "" = the package itself
  auto find = [&](const LockDependency& d) -> Result<const LockPackage*> {
    auto [lo, hi] = by_name.equal_range(d.name);
    if (lo == hi) return fail(ErrorCode::invalid_argument, fmt::format("uv.lock: dependency '{}' has no [[package]] entry", d.name));
    for (auto it = lo; it != hi; ++it)
      if (d.version.empty() || it->second->version == d.version) return it->second;
    return fail(ErrorCode::invalid_argument, fmt::format("uv.lock: no '{}' at version {}", d.name, d.version));
  };
  auto follow = [&](const std::vector<LockDependency>& deps, const std::set<std::string>& extras) -> Result<> {
    MarkerEnv local = env;
    local.extras = extras;
    for (const auto& d : deps) {
      if (!d.marker.empty() && !AK_TRY(evaluate_marker(d.marker, local).map_error(
                                   [&](Error e) { return e.context("uv.lock: " + d.name); })))
        continue;
      const auto* p = AK_TRY(find(d));
      auto& seen = active[p];
      if (seen.insert("").second) work.emplace_back(p, "");
      for (const auto& e : d.extras)
        if (seen.insert(e).second) work.emplace_back(p, e);
    }
    return ok();
  };

  std::set<std::string> root_extras;
  for (const auto& e : options.extras) {
    auto n = normalize_name(e);
    if (!root.optional_dependencies.count(n))
      return fail(ErrorCode::invalid_argument, fmt::format("extras: '{}' is not an extra of {} in uv.lock", e, root.name));
    root_extras.insert(n);
  }
  AK_TRY_VOID(follow(root.dependencies, root_extras));
  for (const auto& e : root_extras) AK_TRY_VOID(follow(root.optional_dependencies.at(e), root_extras));
  for (const auto& g : options.groups) {
    auto n = normalize_name(g);
    auto it = root.dev_dependencies.find(n);
    if (it == root.dev_dependencies.end())
      return fail(ErrorCode::invalid_argument, fmt::format("groups: '{}' is not a dependency group of {} in uv.lock", g, root.name));
    AK_TRY_VOID(follow(it->second, {}));
  }
  if (options.include_root) active[&root].insert("");
  while (!work.empty()) {
    auto [p, extra] = work.back();
    work.pop_back();
    if (extra.empty()) {
      AK_TRY_VOID(follow(p->dependencies, {}));
    } else if (auto it = p->optional_dependencies.find(extra); it != p->optional_dependencies.end()) {
      AK_TRY_VOID(follow(it->second, {extra}));
    }
  }

  TagRanker ranker(target);
  std::vector<Selected> out;
  for (const auto& [p, extras] : active) {
    if (p == &root && !options.include_root) continue;
    Selected s;
    s.package = p;
    if (p->source_kind != "registry" && p->source_kind != "url" && p->source_kind != "path") {
      s.skip_reason = fmt::format("{} source {}", p->source_kind, p->source);
    } else {
      std::optional<std::size_t> best;
      for (const auto& w : p->wheels) {
        auto name = WheelName::parse(w.file);
        if (!name) continue;
        if (auto r = ranker.rank(*name); r && (!best || *r < *best)) {
          best = r;
          s.wheel = w;
        }
      }
      if (!s.wheel)
        s.skip_reason = p->sdist ? fmt::format("no wheel for {} (sdist only)", target.describe())
                                 : fmt::format("no wheel for {}", target.describe());
    }
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const Selected& a, const Selected& b) {
    return std::tie(a.package->name, a.package->version) < std::tie(b.package->name, b.package->version);
  });
  return out;
}

Result<PyProject> PyProject::load(const std::filesystem::path& path) {
  auto text = read_file(path);
  if (!text) return fail(text.error());
  toml::table doc;
  try {
    doc = toml::parse(*text, path.string());
  } catch (const toml::parse_error& e) {
    return fail(ErrorCode::invalid_argument, fmt::format("{}:{}:{}: {}", path.string(), e.source().begin.line,
                                                         e.source().begin.column, e.description()));
  }
  const toml::table& cdoc = doc;
  PyProject p;
  p.name = str(cdoc["project"]["name"]);
  if (p.name.empty()) return fail(ErrorCode::invalid_argument, fmt::format("{}: no [project] name", path.string()));
  if (const auto* deps = cdoc["project"]["dependencies"].as_array()) {
    for (const auto& d : *deps) {
      // A PEP 508 requirement starts with its name: letters, digits, '-', '_', '.'.
      std::string_view r = d.value_or(std::string_view{});
      auto end = r.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.");
      p.dependencies.push_back(normalize_name(r.substr(0, end)));
    }
  }
  return p;
}

Result<> check_in_sync(const PyProject& project, const LockPackage& root, const std::string& lock_path) {
  std::set<std::string> locked(root.requires_dist.begin(), root.requires_dist.end());
  for (const auto& d : root.dependencies) locked.insert(d.name);
  std::vector<std::string> missing;
  for (const auto& d : project.dependencies)
    if (!locked.count(d)) missing.push_back(d);
  if (!missing.empty())
    return fail(ErrorCode::failed_precondition,
                fmt::format("{} is out of sync with pyproject.toml: {} not locked (run `uv lock`)", lock_path,
                            fmt::join(missing, ", ")));
  return ok();
}

} // namespace akbuild::steps::python
