#include "runner/forgejo/config.hh"

#include <yaml-cpp/yaml.h>

#include "runner/core/fs.hh"
#include "runner/forgejo/registration.hh"

namespace akbuild::forgejo {

namespace {

class Reader {
public:
  explicit Reader(std::string where) : m_where(std::move(where)) {}

  Error error(const std::string& key, const std::string& what) const {
    return Error{ErrorCode::invalid_argument, m_where + ": " + key + ": " + what};
  }
  Result<> string(const YAML::Node& n, const std::string& key, std::string& out) const {
    if (!n) return ok();
    if (!n.IsScalar()) return tl::unexpected(error(key, "must be a string"));
    out = n.Scalar();
    return ok();
  }
  Result<> path(const YAML::Node& n, const std::string& key, std::filesystem::path& out) const {
    std::string s = out.string();
    AK_TRY_VOID(string(n, key, s));
    out = s;
    return ok();
  }
  Result<> boolean(const YAML::Node& n, const std::string& key, bool& out) const {
    if (!n || n.IsNull()) return ok();
    if (n.IsScalar() && (n.Scalar() == "true" || n.Scalar() == "false")) {
      out = n.Scalar() == "true";
      return ok();
    }
    return tl::unexpected(error(key, "must be true or false"));
  }
  Result<> number(const YAML::Node& n, const std::string& key, long long min, long long max, long long& out) const {
    if (!n || n.IsNull()) return ok();
    long long v = 0;
    if (!n.IsScalar() || !YAML::convert<long long>::decode(n, v) || v < min || v > max)
      return tl::unexpected(error(key, "must be a whole number from " + std::to_string(min) + " to " + std::to_string(max)));
    out = v;
    return ok();
  }
  Result<> duration(const YAML::Node& n, const std::string& key, std::chrono::milliseconds& out) const {
    if (!n || n.IsNull()) return ok();
    if (!n.IsScalar()) return tl::unexpected(error(key, "must be a duration such as 2s or 3h"));
    auto d = parse_duration(n.Scalar());
    if (!d) return tl::unexpected(error(key, d.error().message));
    out = *d;
    return ok();
  }

private:
  std::string m_where;
};

} // namespace

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text.empty()) return fail(ErrorCode::invalid_argument, "'' is not a duration (such as 2s, 1m30s, 3h)");
  double total = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    std::size_t n = 0;
    while (n < rest.size() && (std::isdigit(static_cast<unsigned char>(rest[n])) || rest[n] == '.')) ++n;
    std::size_t u = n;
    while (u < rest.size() && std::isalpha(static_cast<unsigned char>(rest[u]))) ++u;
    std::string number(rest.substr(0, n));
    std::string_view unit = rest.substr(n, u - n);
    double scale = unit == "ms" ? 1 : unit == "s" ? 1e3 : unit == "m" ? 60e3 : unit == "h" ? 3600e3 : -1;
    char* end = nullptr;
    double value = number.empty() ? -1 : std::strtod(number.c_str(), &end);
    if (scale < 0 || value < 0 || (end && *end))
      return fail(ErrorCode::invalid_argument, "'" + std::string(text) + "' is not a duration (such as 2s, 1m30s, 3h)");
    total += value * scale;
    rest = rest.substr(u);
  }
  if (total > 365.0 * 24 * 3600e3) return fail(ErrorCode::invalid_argument, "'" + std::string(text) + "' is above a year");
  return std::chrono::milliseconds(static_cast<long long>(total));
}

Result<RunnerConfig> parse_config(std::string_view text, const std::string& where) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return fail(ErrorCode::invalid_argument, where + ": " + e.what());
  }
  RunnerConfig c;
  if (!root || root.IsNull()) return c;
  if (!root.IsMap()) return fail(ErrorCode::invalid_argument, where + ": not a mapping of sections");
  Reader r(where);
  for (const char* section : {"log", "runner", "cache", "container", "host", "server"})
    if (root[section] && !root[section].IsNull() && !root[section].IsMap())
      return tl::unexpected(r.error(section, "must be a mapping"));
  if (auto log = root["log"]) AK_TRY_VOID(r.string(log["level"], "log.level", c.log_level));
  if (auto run = root["runner"]) {
    AK_TRY_VOID(r.path(run["file"], "runner.file", c.file));
    long long capacity = c.capacity;
    AK_TRY_VOID(r.number(run["capacity"], "runner.capacity", 1, 1024, capacity));
    c.capacity = static_cast<unsigned>(capacity);
    if (auto envs = run["envs"]; envs && !envs.IsNull()) {
      if (!envs.IsMap()) return tl::unexpected(r.error("runner.envs", "must be a mapping of names to values"));
      for (const auto& kv : envs) {
        if (!kv.second.IsScalar() && !kv.second.IsNull())
          return tl::unexpected(r.error("runner.envs." + kv.first.as<std::string>(), "must be a string"));
        c.envs[kv.first.as<std::string>()] = kv.second.IsNull() ? "" : kv.second.Scalar();
      }
    }
    AK_TRY_VOID(r.path(run["env_file"], "runner.env_file", c.env_file));
    AK_TRY_VOID(r.duration(run["timeout"], "runner.timeout", c.timeout));
    AK_TRY_VOID(r.duration(run["shutdown_timeout"], "runner.shutdown_timeout", c.shutdown_timeout));
    AK_TRY_VOID(r.boolean(run["insecure"], "runner.insecure", c.insecure));
    AK_TRY_VOID(r.duration(run["fetch_timeout"], "runner.fetch_timeout", c.fetch_timeout));
    AK_TRY_VOID(r.duration(run["fetch_interval"], "runner.fetch_interval", c.fetch_interval));
    AK_TRY_VOID(r.duration(run["report_interval"], "runner.report_interval", c.report_interval));
    if (auto retry = run["report_retry"]; retry && !retry.IsNull()) {
      long long tries = c.report_retry.max_retries;
      AK_TRY_VOID(r.number(retry["max_retries"], "runner.report_retry.max_retries", 0, 1000, tries));
      c.report_retry.max_retries = static_cast<int>(tries);
      AK_TRY_VOID(r.duration(retry["initial_delay"], "runner.report_retry.initial_delay", c.report_retry.initial_delay));
      AK_TRY_VOID(r.duration(retry["max_delay"], "runner.report_retry.max_delay", c.report_retry.max_delay));
    }
    if (auto labels = run["labels"]; labels && !labels.IsNull()) {
      if (!labels.IsSequence()) return tl::unexpected(r.error("runner.labels", "must be a list of labels"));
      for (const auto& l : labels) {
        if (!l.IsScalar()) return tl::unexpected(r.error("runner.labels", "must be a list of labels"));
        if (auto ok = check_label(l.Scalar()); !ok) return tl::unexpected(r.error("runner.labels", ok.error().message));
        c.labels.push_back(l.Scalar());
      }
    }
  }
  if (auto cache = root["cache"]) {
    AK_TRY_VOID(r.boolean(cache["enabled"], "cache.enabled", c.cache_enabled));
    AK_TRY_VOID(r.path(cache["dir"], "cache.dir", c.cache_dir));
  }
  if (auto host = root["host"]) AK_TRY_VOID(r.path(host["workdir_parent"], "host.workdir_parent", c.workdir_parent));
  if (c.fetch_interval.count() <= 0 || c.report_interval.count() <= 0 || c.fetch_timeout.count() <= 0)
    return tl::unexpected(r.error("runner", "fetch_interval, fetch_timeout and report_interval must be above 0"));
  return c;
}

Result<RunnerConfig> load_config(const std::filesystem::path& path) {
  auto text = read_file(path);
  if (!text) return fail(ErrorCode::invalid_argument, text.error().message);
  return parse_config(*text, path.string());
}

std::string example_config() {
  return R"(# akbuild runner configuration, in forgejo-runner's shape: keys that do not apply to
# akbuild (container.*, the cache server's) are read past, so one file serves both.

log:
  # The level of the daemon's own messages: info, debug.
  level: info

runner:
  # Where the registration is kept (written by `akbuild runner register`).
  file: .runner
  # How many tasks run at once.
  capacity: 1
  # Environment variables of every job, e.g. { GOFLAGS: -mod=readonly }.
  envs: {}
  # More of them from a dotenv file (read when it exists).
  env_file: .env
  # A job running longer is cancelled.
  timeout: 3h
  # On SIGTERM no task is taken any more; the running ones get this long before they are cancelled.
  shutdown_timeout: 3h
  # Accept any TLS certificate of the instance (for test instances only).
  insecure: false
  # The time a FetchTask call may take, and the pause between two.
  fetch_timeout: 5s
  fetch_interval: 2s
  # How often a running task's logs and state are sent (its heartbeat).
  report_interval: 1s
  # Retries of the final report of a task.
  report_retry:
    max_retries: 10
    initial_delay: 100ms
    max_delay: 10s
  # The labels this runner offers (NAME or NAME:host); empty: those of the .runner file.
  labels:
    - nix-container-builder:host

cache:
  # akbuild's cache of step results (the shared cache dir); empty: $AKBUILD_CACHE_DIR, else
  # $XDG_CACHE_HOME/akbuild.
  enabled: true
  dir: ""

host:
  # Where each task's workspace is made; empty: $TMPDIR, else /tmp.
  workdir_parent: ""
)";
}

} // namespace akbuild::forgejo
