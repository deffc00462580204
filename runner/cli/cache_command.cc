// akbuild cache stats|verify|gc: inspect and maintain the cache dir (runner/cas).
#include <charconv>
#include <cmath>
#include <iostream>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "runner/cas/cache_dir.hh"
#include "runner/cas/remote_stats.hh"
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

// The areas of the cache dir beside the blobs, by the names stats prints.
std::vector<std::pair<const char*, const cas::AreaStats*>> areas(const cas::CacheStats& s) {
  return {{"actions", &s.action_records}, {"layers", &s.layers},   {"tools", &s.tools},
          {"nar-hash", &s.nar_hashes},    {"pushed", &s.pushed},   {"last-manifests", &s.last_manifests},
          {"remote-actions", &s.remote_actions}, {"stat-cache", &s.stat_cache}, {"leftovers", &s.leftovers}};
}

int run_stats(const GlobalOptions& options) {
  auto cache = open_cache(options);
  if (!cache) return report_error(cache.error());
  auto stats = cas::cache_stats(**cache);
  if (!stats) return report_error(stats.error());
  auto remote = cas::read_remote_stats((*cache)->layout());
  if (!remote) return report_error(remote.error());
  if (options.json) {
    nlohmann::ordered_json j{{"cache_dir", (*cache)->root().string()}, {"blobs", stats->blobs},
                             {"blob_bytes", stats->blob_bytes}, {"actions", stats->actions}};
    auto& by_area = j["areas"] = nlohmann::ordered_json::object();
    for (const auto& [name, area] : areas(*stats)) by_area[name] = {{"entries", area->entries}, {"bytes", area->bytes}};
    j["total_bytes"] = stats->total_bytes;
    j["remote"] = {{"hits", remote->hits}, {"misses", remote->misses}, {"bytes_down", remote->bytes_down},
                   {"bytes_up", remote->bytes_up}};
    j["read_only"] = (*cache)->read_only();
    std::cout << dump_json(j) << "\n";
  } else {
    std::cout << fmt::format("cache dir   {}{}\nblobs       {}\nblob bytes  {} ({})\nactions     {}\n",
                             (*cache)->root().string(), (*cache)->read_only() ? " (read-only)" : "", stats->blobs,
                             stats->blob_bytes, human(stats->blob_bytes), stats->actions);
    std::cout << "areas (entries, bytes)\n";
    for (const auto& [name, area] : areas(*stats))
      std::cout << fmt::format("  {:<16} {:>8}  {}\n", std::string(name) + ":", area->entries, human(area->bytes));
    std::cout << fmt::format("total       {} ({})\n", stats->total_bytes, human(stats->total_bytes));
    std::cout << fmt::format("remote hits {}, misses {}, down {}, up {}\n", remote->hits, remote->misses,
                             human(remote->bytes_down), human(remote->bytes_up));
  }
  return 0;
}

int run_verify(const GlobalOptions& options) {
  auto cache = open_cache(options);
  if (!cache) return report_error(cache.error());
  auto report = cas::verify_cache(**cache);
  if (!report) return report_error(report.error());
  for (const auto& p : report->problems) std::cerr << "akbuild: " << p << "\n";
  const auto& r = *report;
  if (options.json) {
    nlohmann::ordered_json j{{"blobs_checked", r.blobs_checked},     {"corrupt_removed", r.corrupt_removed},
                             {"actions_checked", r.actions_checked}, {"actions_removed", r.actions_removed},
                             {"layers_checked", r.layers_checked},   {"layers_removed", r.layers_removed},
                             {"entries_checked", r.entries_checked}, {"entries_removed", r.entries_removed}};
    std::cout << dump_json(j) << "\n";
  } else {
    std::cout << fmt::format("checked {} blobs, {} actions, {} layers and {} other entries: {} corrupt blobs removed, "
                             "{} actions removed, {} layers removed, {} other entries removed\n",
                             r.blobs_checked, r.actions_checked, r.layers_checked, r.entries_checked,
                             r.corrupt_removed, r.actions_removed, r.layers_removed, r.entries_removed);
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
  const auto& r = *report;
  if (options.json) {
    nlohmann::ordered_json j{{"removed_actions", r.removed_actions},     {"removed_blobs", r.removed_blobs},
                             {"removed_layers", r.removed_layers},       {"removed_entries", r.removed_entries},
                             {"removed_leftovers", r.removed_leftovers}, {"freed_bytes", r.freed_bytes},
                             {"kept_bytes", r.kept_bytes}};
    std::cout << dump_json(j) << "\n";
  } else {
    std::cout << fmt::format("removed {} actions, {} layers, {} other entries and {} blobs, and {} leftovers of "
                             "killed runs ({} freed); {} kept\n",
                             r.removed_actions, r.removed_layers, r.removed_entries, r.removed_blobs,
                             r.removed_leftovers, human(r.freed_bytes), human(r.kept_bytes));
  }
  return 0;
}

} // namespace

void add_cache_command(CLI::App& app, GlobalOptions& options) {
  auto* cmd = app.add_subcommand("cache", "inspect and maintain the cache dir");
  cmd->require_subcommand(1);

  auto* stats = cmd->add_subcommand("stats", "count the entries and bytes of every area of the cache dir");
  stats->add_flag("--json", options.json, "one JSON object");
  stats->callback([&options] { options.exit_status = run_stats(options); });

  auto* verify = cmd->add_subcommand("verify", "re-hash every blob, check every record; evict what is corrupt and "
                                               "what needs it");
  verify->add_flag("--json", options.json, "one JSON object");
  verify->callback([&options] { options.exit_status = run_verify(options); });

  auto* gc = cmd->add_subcommand("gc", "remove leftovers of killed runs, then least recently used entries until "
                                       "the cache dir fits in --max-size");
  auto max_size = std::make_shared<std::string>();
  gc->add_option("--max-size", *max_size, "size limit, like 500M or 2G")->required();
  gc->add_flag("--json", options.json, "one JSON object");
  gc->callback([&options, max_size] { options.exit_status = run_gc(options, *max_size); });
}

} // namespace akbuild::cli
