#include "runner/core/log.hh"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <set>

namespace akbuild {

namespace {
std::atomic<LogLevel> g_level{LogLevel::warning};
std::mutex g_secrets_mutex;
// Longest first, so a secret containing another is masked whole.
struct LongerFirst {
  bool operator()(const std::string& a, const std::string& b) const {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  }
};
std::set<std::string, LongerFirst> g_secrets;
} // namespace

void set_log_level(LogLevel level) { g_level = level; }
LogLevel log_level() { return g_level; }

void add_secret(std::string value) {
  if (value.size() < 4) return;
  std::lock_guard lock(g_secrets_mutex);
  g_secrets.insert(std::move(value));
}

std::string mask_secrets(std::string_view text) {
  std::string out(text);
  std::lock_guard lock(g_secrets_mutex);
  for (const auto& s : g_secrets) {
    for (std::size_t pos = out.find(s); pos != std::string::npos; pos = out.find(s, pos + 3))
      out.replace(pos, s.size(), "***");
  }
  return out;
}

void log_line(LogLevel level, std::string_view message) {
  const char* prefix = level == LogLevel::error ? "error: " : level == LogLevel::warning ? "warning: " : "";
  std::string line = std::string("akbuild: ") + prefix + mask_secrets(message) + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

} // namespace akbuild
