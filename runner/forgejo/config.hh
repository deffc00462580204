#pragma once
// The runner's config.yml, in forgejo-runner's shape (internal/pkg/config/config.example.yaml) for
// the keys that apply to akbuild: log.level; runner.file, capacity, envs, env_file, timeout,
// shutdown_timeout, insecure, fetch_timeout, fetch_interval, report_interval, report_retry,
// labels; cache.enabled and cache.dir (akbuild's cache dir); host.workdir_parent. Other keys
// (container.*, the cache server's) are read past, so one file serves both programs. Durations
// are Go's ("3h", "1m30s", "500ms").

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "runner/core/result.hh"
#include "runner/forgejo/connect_client.hh"

namespace akbuild::forgejo {

struct RunnerConfig {
  std::string log_level = "info";
  std::filesystem::path file = ".runner";
  unsigned capacity = 1;
  std::map<std::string, std::string> envs;
  std::filesystem::path env_file = ".env";
  std::chrono::milliseconds timeout = std::chrono::hours(3);
  std::chrono::milliseconds shutdown_timeout = std::chrono::hours(3);
  bool insecure = false;
  std::chrono::milliseconds fetch_timeout = std::chrono::seconds(5);
  std::chrono::milliseconds fetch_interval = std::chrono::seconds(2);
  std::chrono::milliseconds report_interval = std::chrono::seconds(1);
  RetryPolicy report_retry;
  std::vector<std::string> labels;
  bool cache_enabled = true;
  std::filesystem::path cache_dir;       // empty: akbuild's default
  std::filesystem::path workdir_parent;  // empty: $TMPDIR
};

// Reads `path`; invalid_argument naming the file and key for a value of the wrong type or form.
Result<RunnerConfig> load_config(const std::filesystem::path& path);
// The same from text (`where` names it in messages).
Result<RunnerConfig> parse_config(std::string_view text, const std::string& where);
// A Go duration ("1h30m", "2s", "100ms") as milliseconds; invalid_argument otherwise.
Result<std::chrono::milliseconds> parse_duration(std::string_view text);
// `akbuild runner generate-config`: a commented config.yml with every key and its default.
std::string example_config();

} // namespace akbuild::forgejo
