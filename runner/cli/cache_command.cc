// akbuild cache stats|verify|gc: inspect and maintain the cache dir (runner/cas).
#include <charconv>
#include <cmath>
#include <iostream>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "runner/cas/cache_dir.hh"
#include "runner/cli/commands.hh"

namespace akbuild::cli {

namespace {

// "500M", "2G", "1.5GiB", "4096": binary multiples (K = 1024), as du -h and ccache print them.
Result<std::uint64_t> parse_size(std::string_view text) {
  auto bad = [&] {
    return fail(ErrorCode::invalid_argument,
                "--max-size '" + std::string(text) + "': not a size (a number with an optional K, M, G or T, like 500M or 2G)");
  };
  std::size_t i = 0;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
  std::string_view number = text.substr(0, i), unit = text.substr(i);
  if (number.empty() || number.front() == '.' || number.back() == '.') return bad();
  double value = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc() || end != number.data() + number.size()) return bad();
  std::string u;
  for (char c : unit) u.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  if (u.ends_with("IB")) u.erase(u.size() - 2, 1);  // KiB -> KB
  if (u.size() == 2 && u[1] == 'B') u.pop_back();    // KB -> K
  double scale = 1;
  if (u.empty() || u == "B") scale = 1;
  else if (u == "K") scale = 1024.0;
  else if (u == "M") scale = 1024.0 * 1024;
  else if (u == "G") scale = 1024.0 * 1024 * 1024;
  else if (u == "T") scale = 1024.0 * 1024 * 1024 * 1024;
  else return bad();
  double bytes = std::floor(value * scale);
  if (!(bytes < 1.8e19)) return bad();
  return static_cast<std::uint64_t>(bytes);
}

std::string human(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

Result<std::unique_ptr<cas::CacheDir>> open_cache(const GlobalOptions& options) {
  return cas::CacheDir::open(resolve_cache_dir(options));
}

// Paths may hold any byte: invalid UTF-8 is replaced rather than thrown on.
std::string dump_json(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

int run_stats(const GlobalOptions& options) {
  auto cache = open_cache(options);
  if (!cache) return report_error(cache.error());
  auto stats = cas::cache_stats(**cache);
  if (!stats) return report_error(stats.error());
  if (options.json) {
    nlohmann::ordered_json j{{"cache_dir", (*cache)->root().string()}, {"blobs", stats->blobs},
                             {"blob_bytes", stats->blob_bytes}, {"actions", stats->actions}};
    std::cout << dump_json(j) << "\n";
  } else {
    std::cout << fmt::format("cache dir   {}\nblobs       {}\nblob bytes  {} ({})\nactions     {}\n",
                             (*cache)->root().string(), stats->blobs, stats->blob_bytes, human(stats->blob_bytes),
                             stats->actions);
  }
  return 0;
}

int run_verify(const GlobalOptions& options) {
  auto cache = open_cache(options);
  if (!cache) return report_error(cache.error());
  auto report = cas::verify_cache(**cache);
  if (!report) return report_error(report.error());
  for (const auto& p : report->problems) std::cerr << "akbuild: " << p << "\n";
  if (options.json) {
    nlohmann::ordered_json j{{"blobs_checked", report->blobs_checked}, {"corrupt_removed", report->corrupt_removed},
                             {"actions_checked", report->actions_checked}, {"actions_removed", report->actions_removed}};
    std::cout << dump_json(j) << "\n";
  } else {
    std::cout << fmt::format("checked {} blobs and {} actions: {} corrupt blobs removed, {} actions removed\n",
                             report->blobs_checked, report->actions_checked, report->corrupt_removed,
                             report->actions_removed);
  }
  // Problems were repaired (evicted), but the caller should hear that there were some.
  return report->problems.empty() ? 0 : 1;
}

int run_gc(const GlobalOptions& options, const std::string& max_size) {
  auto max = parse_size(max_size);
  if (!max) return report_error(max.error().context("cache gc"));
  auto cache = open_cache(options);
  if (!cache) return report_error(cache.error());
  auto report = cas::gc_cache(**cache, *max);
  if (!report) return report_error(report.error());
  if (options.json) {
    nlohmann::ordered_json j{{"removed_actions", report->removed_actions}, {"removed_blobs", report->removed_blobs},
                             {"freed_bytes", report->freed_bytes}, {"kept_bytes", report->kept_bytes}};
    std::cout << dump_json(j) << "\n";
  } else {
    std::cout << fmt::format("removed {} actions and {} blobs ({} freed); {} kept\n", report->removed_actions,
                             report->removed_blobs, human(report->freed_bytes), human(report->kept_bytes));
  }
  return 0;
}

} // namespace

void add_cache_command(CLI::App& app, GlobalOptions& options) {
  auto* cmd = app.add_subcommand("cache", "inspect and maintain the cache dir");
  cmd->require_subcommand(1);

  auto* stats = cmd->add_subcommand("stats", "count blobs, their bytes and action results");
  stats->add_flag("--json", options.json, "one JSON object");
  stats->callback([&options] { options.exit_status = run_stats(options); });

  auto* verify = cmd->add_subcommand("verify", "re-hash every blob; evict corrupt ones and the results that need them");
  verify->add_flag("--json", options.json, "one JSON object");
  verify->callback([&options] { options.exit_status = run_verify(options); });

  auto* gc = cmd->add_subcommand("gc", "remove least recently used results until the blobs fit in --max-size");
  auto max_size = std::make_shared<std::string>();
  gc->add_option("--max-size", *max_size, "size limit, like 500M or 2G")->required();
  gc->add_flag("--json", options.json, "one JSON object");
  gc->callback([&options, max_size] { options.exit_status = run_gc(options, *max_size); });
}

} // namespace akbuild::cli
