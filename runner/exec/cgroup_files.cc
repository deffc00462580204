#include "runner/exec/cgroup_files.hh"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>

#include "runner/core/fs.hh"

namespace akbuild::exec {

std::optional<std::string> own_cgroup(const std::string& controller) {
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);) {
    auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string names = line.substr(a + 1, b - a - 1);
    bool match = controller.empty() ? names.empty() && line.compare(0, a, "0") == 0
                                    : ("," + names + ",").find("," + controller + ",") != std::string::npos;
    if (match) return line.substr(b + 1);
  }
  return std::nullopt;
}

bool write_cgroup_file(const std::filesystem::path& file, const std::string& text) {
  UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
  return fd && ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
}

} // namespace akbuild::exec
