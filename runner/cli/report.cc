#include <cstdlib>
#include <iostream>

#include "runner/cli/commands.hh"
#include "runner/core/log.hh"

namespace akbuild::cli {

std::filesystem::path resolve_cache_dir(const GlobalOptions& options) {
  if (!options.cache_dir.empty()) return options.cache_dir;
  if (const char* e = std::getenv("AKBUILD_CACHE_DIR"); e && *e) return e;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::filesystem::path(x) / "akbuild";
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home && *home ? home : "/tmp") / ".cache" / "akbuild";
}

int exit_status_for(ErrorCode code) {
  switch (code) {
  case ErrorCode::invalid_argument: return 2;
  default: return 1;
  }
}

int report_error(const Error& error) {
  std::string line = "akbuild: error: " + mask_secrets(error.message) + "\n";
  std::cerr << line << std::flush;
  return exit_status_for(error.code);
}

} // namespace akbuild::cli
