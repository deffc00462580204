#include "runner/cas/leftovers.hh"

#include <cerrno>
#include <ctime>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/core/fs.hh"

namespace akbuild::cas {

namespace fs = std::filesystem;

namespace {

bool old_enough(const struct stat& st) {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  auto age = std::chrono::seconds(now.tv_sec - st.st_mtim.tv_sec);
  return age >= k_leftover_age;
}

// The lock that tells a live owner: a temp file's own flock, a run dir's "lock" file, a lock
// file itself. Taken without waiting; `busy` when a live process holds it. A dir without a lock
// file and the temp file of an atomic write have none: their age alone decides.
struct Taken {
  bool busy = false;
  UniqueFd fd;
};

Result<Taken> take_lock(const fs::path& path, bool is_dir) {
  fs::path lock = is_dir ? path / "lock" : path;
  // O_NONBLOCK: a FIFO someone left in tmp/ must not hang the open.
  int raw = ::open(lock.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (raw < 0) {
    if (errno == ENOENT || errno == ELOOP) return Taken{};
    return fail(errno_error(lock.string()));
  }
  UniqueFd fd(raw);
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return Taken{true, {}};
    if (errno != EINTR) return fail(errno_error("lock " + lock.string()));
  }
  return Taken{false, std::move(fd)};
}

// Calls `each(path, stat)` for the entries of `dir` (none if it is missing).
template <typename F>
Result<> for_entries(const fs::path& dir, F&& each) {
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) continue;  // removed meanwhile
    AK_TRY_VOID(each(it->path(), st));
  }
  if (ec && ec != std::errc::no_such_file_or_directory) return fail(errno_error(dir.string(), ec.value()));
  return ok();
}

// The dirs where atomic writes (write_file_atomic: ".tmp-<name>-<random>") land.
Result<std::vector<fs::path>> record_dirs(const CacheLayout& layout) {
  std::vector<fs::path> dirs{layout.root, layout.last_manifests(), layout.tools(), layout.nar_hashes()};
  for (const auto& sharded : {layout.actions(), layout.layers(), layout.pushed()})
    AK_TRY_VOID(for_entries(sharded, [&](const fs::path& p, const struct stat& st) -> Result<> {
      if (S_ISDIR(st.st_mode)) dirs.push_back(p);
      return ok();
    }));
  return dirs;
}

bool is_atomic_write_temp(const fs::path& p) {
  auto name = p.filename().string();
  return name.starts_with(".tmp-") || name.starts_with("stat-cache.tmp-");
}

} // namespace

std::uint64_t tree_bytes(const fs::path& dir) {
  std::uint64_t bytes = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) bytes += static_cast<std::uint64_t>(st.st_size);
  }
  return bytes;
}

Result<std::vector<Leftover>> find_leftovers(const CacheLayout& layout) {
  std::vector<Leftover> out;
  AK_TRY_VOID(for_entries(layout.tmp(), [&](const fs::path& p, const struct stat& st) -> Result<> {
    if (!old_enough(st)) return ok();
    bool dir = S_ISDIR(st.st_mode);
    if (AK_TRY(take_lock(p, dir)).busy) return ok();
    out.push_back({p, dir ? tree_bytes(p) : static_cast<std::uint64_t>(st.st_size), false});
    return ok();
  }));
  AK_TRY_VOID(for_entries(layout.locks(), [&](const fs::path& p, const struct stat& st) -> Result<> {
    if (!S_ISREG(st.st_mode) || !old_enough(st) || AK_TRY(take_lock(p, false)).busy) return ok();
    out.push_back({p, static_cast<std::uint64_t>(st.st_size), true});
    return ok();
  }));
  for (const auto& dir : AK_TRY(record_dirs(layout)))
    AK_TRY_VOID(for_entries(dir, [&](const fs::path& p, const struct stat& st) -> Result<> {
      if (S_ISREG(st.st_mode) && is_atomic_write_temp(p) && old_enough(st))
        out.push_back({p, static_cast<std::uint64_t>(st.st_size), false});
      return ok();
    }));
  return out;
}

Result<bool> remove_leftover(const Leftover& l) {
  struct stat st {};
  if (::lstat(l.path.c_str(), &st) != 0) return false;  // removed by someone else
  bool dir = S_ISDIR(st.st_mode);
  auto held = AK_TRY(take_lock(l.path, dir));
  // Re-checked under the lock: a lock file gc removes must be the one it holds, and anything
  // touched since it was listed is in use again.
  struct stat now {};
  if (held.busy || ::lstat(l.path.c_str(), &now) != 0 || !old_enough(now)) return false;
  if (l.lock_file) {
    struct stat locked {};
    if (!held.fd || ::fstat(held.fd.get(), &locked) != 0 || locked.st_ino != now.st_ino || locked.st_dev != now.st_dev)
      return false;
  }
  if (dir) {
    AK_TRY_VOID(remove_tree(l.path));
  } else if (::unlink(l.path.c_str()) != 0 && errno != ENOENT) {
    return fail(errno_error("remove " + l.path.string()));
  }
  return true;
}

} // namespace akbuild::cas
