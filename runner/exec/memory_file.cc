#include "runner/exec/memory_file.hh"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/core.h>

namespace akbuild::exec {

Result<UniqueFd> memory_file(std::string_view name, std::string_view content) {
  UniqueFd fd(::memfd_create(std::string(name).c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return fail(errno_error(fmt::format("memfd_create {}", name)));
  AK_TRY_VOID(write_all(fd.get(), std::as_bytes(std::span(content.data(), content.size()))));
  // Whoever reads it cannot change what later readers see.
  ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) return fail(errno_error(fmt::format("lseek {}", name)));
  return fd;
}

std::size_t shell_script_index(const std::vector<std::string>& argv) {
  if (argv.empty()) return 0;
  auto shell = std::filesystem::path(argv[0]).filename().string();
  if (shell != "bash" && shell != "sh" && shell != "dash") return 0;
  for (std::size_t i = 1; i + 1 < argv.size(); ++i) {
    if (argv[i] == "-c") return i + 1;
    if (argv[i] == "--") return 0;
  }
  return 0;
}

} // namespace akbuild::exec
