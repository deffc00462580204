#pragma once
// Diagnostics to stderr, with every registered secret masked as *** before anything is printed.
// Step logs are not diagnostics: they stream through runner/exec and the event sinks, and pass
// through mask_secrets() too.

#include <string>
#include <string_view>

#include <fmt/core.h>

#include "runner/core/secrets.hh"

namespace akbuild {

enum class LogLevel { debug, info, warning, error };

void set_log_level(LogLevel level);
LogLevel log_level();

void log_line(LogLevel level, std::string_view message);

template <class... Args>
void log_warning(fmt::format_string<Args...> f, Args&&... args) {
  log_line(LogLevel::warning, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void log_info(fmt::format_string<Args...> f, Args&&... args) {
  if (log_level() <= LogLevel::info) log_line(LogLevel::info, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void log_debug(fmt::format_string<Args...> f, Args&&... args) {
  if (log_level() <= LogLevel::debug) log_line(LogLevel::debug, fmt::format(f, std::forward<Args>(args)...));
}

} // namespace akbuild
