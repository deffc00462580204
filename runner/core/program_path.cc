#include "runner/core/program_path.hh"

#include <cstdlib>
#include <optional>

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

namespace akbuild {

namespace fs = std::filesystem;

namespace {

bool is_executable_file(const fs::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
}

} // namespace

std::vector<std::string_view> search_dirs(std::string_view path_env) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start <= path_env.size()) {
    std::size_t end = path_env.find(':', start);
    if (end == std::string_view::npos) end = path_env.size();
    std::string_view dir = path_env.substr(start, end - start);
    start = end + 1;
    if (!dir.empty() && dir.front() == '/') out.push_back(dir);
  }
  return out;
}

std::string host_search_path() {
  const char* path = std::getenv("PATH");
  return path ? std::string(path) : std::string(k_default_search_path);
}

Result<fs::path> find_program(std::string_view program, std::string_view path_env) {
  if (program.empty()) return fail(ErrorCode::invalid_argument, "empty program name");
  if (program.find('/') != std::string_view::npos) {
    fs::path p(program);
    if (is_executable_file(p)) return p;
    if (::access(p.c_str(), F_OK) == 0)
      return fail(ErrorCode::permission_denied, fmt::format("{}: not an executable file", program));
    return fail(ErrorCode::not_found, fmt::format("{}: no such file", program));
  }
  std::optional<fs::path> not_executable;
  for (std::string_view dir : search_dirs(path_env)) {
    fs::path candidate = fs::path(dir) / program;
    if (is_executable_file(candidate)) return candidate;
    if (!not_executable && ::access(candidate.c_str(), F_OK) == 0) not_executable = candidate;
  }
  if (not_executable)
    return fail(ErrorCode::permission_denied,
                fmt::format("{}: found {} but it is not an executable file", program, not_executable->string()));
  return fail(ErrorCode::not_found, fmt::format("{}: not found on PATH ({})", program, path_env));
}

} // namespace akbuild
