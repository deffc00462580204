#include "runner/core/atomic_file.hh"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

namespace akbuild {

namespace fs = std::filesystem;

Result<AtomicFile> AtomicFile::create(const fs::path& path, int mode, Durability durability) {
  fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  // The name cache gc knows for a leftover of a killed write (runner/cas/leftovers.cc).
  std::string temp = (dir / (".tmp-" + path.filename().string() + "-XXXXXX")).string();
  UniqueFd fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (!fd) return fail(errno_error(path.string() + ": create temp file"));
  // mkostemp makes 0600; give the mode asked for, as open(2) would (umask applied).
  mode_t mask = ::umask(0);
  ::umask(mask);
  if (::fchmod(fd.get(), static_cast<mode_t>(mode) & ~mask) != 0) {
    Error e = errno_error(path.string() + ": chmod temp file");
    ::unlink(temp.c_str());
    return fail(e);
  }
  return AtomicFile(path, temp, std::move(fd), durability);
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : m_path(std::move(other.m_path)), m_temp(std::move(other.m_temp)), m_fd(std::move(other.m_fd)),
      m_durability(other.m_durability) {
  other.m_temp.clear();
}

AtomicFile::~AtomicFile() {
  if (!m_temp.empty()) ::unlink(m_temp.c_str());
}

Result<> AtomicFile::commit() { return commit_as(m_path); }

Result<> AtomicFile::commit_as(const fs::path& target) {
  if (m_temp.empty()) return fail(ErrorCode::internal, target.string() + ": already committed");
  if (m_durability == Durability::synced && ::fsync(m_fd.get()) != 0)
    return fail(errno_error(target.string() + ": fsync"));
  m_fd.reset();
  if (::rename(m_temp.c_str(), target.c_str()) != 0) return fail(errno_error(target.string() + ": rename"));
  m_temp.clear();
  if (m_durability == Durability::synced)
    return fsync_dir(target.parent_path().empty() ? fs::path(".") : target.parent_path());
  return ok();
}

} // namespace akbuild
