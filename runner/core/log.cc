#include "runner/core/log.hh"

#include <atomic>
#include <cstdio>

namespace akbuild {

namespace {
std::atomic<LogLevel> g_level{LogLevel::warning};
} // namespace

void set_log_level(LogLevel level) { g_level = level; }
LogLevel log_level() { return g_level; }

void log_line(LogLevel level, std::string_view message) {
  const char* prefix = level == LogLevel::error ? "error: " : level == LogLevel::warning ? "warning: " : "";
  std::string line = std::string("akbuild: ") + prefix + mask_secrets(message) + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

} // namespace akbuild
