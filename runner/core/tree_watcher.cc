#include "runner/core/tree_watcher.hh"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/core/fs.hh"

namespace akbuild {

namespace {

// Everything that changes what a directory lists or what its entries hold. Reads (IN_ACCESS,
// IN_OPEN, IN_CLOSE_NOWRITE) are left out: hashing the tree must not mark it changed.
constexpr std::uint32_t k_dir_events = IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                                       IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW;
// A file with several links can be written through a directory outside the tree: watch its inode.
constexpr std::uint32_t k_file_events = IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW;

struct Root {
  std::uint64_t dev = 0, ino = 0;
  std::uint64_t armed_at = 0;     // the mark of the arm that made this record: older marks
                                  // belong to a time the tree was not watched
  std::uint64_t last_change = 0;  // the counter at its newest event
  std::vector<int> watches;       // sorted
};

} // namespace

struct TreeWatcher::State {
  UniqueFd fd;
  mutable std::mutex mutex;
  std::size_t max_watches = 0;
  std::uint64_t counter = 0;  // moves on every arm and every event
  std::unordered_map<std::string, Root> roots;
  std::unordered_map<int, std::vector<std::string>> owners;  // watch → the roots it serves

  // Reads every queued event (the fd is non-blocking); each moves its roots past any earlier mark.
  void drain() {
    alignas(inotify_event) char buffer[64 * 1024];
    for (;;) {
      ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // EAGAIN: the queue is empty
      for (ssize_t off = 0; off < n;) {
        auto* event = reinterpret_cast<inotify_event*>(buffer + off);
        off += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
        ++counter;
        if (event->mask & IN_Q_OVERFLOW) {
          for (auto& [path, root] : roots) root.last_change = counter;
          continue;
        }
        auto it = owners.find(event->wd);
        if (it == owners.end()) continue;
        for (const auto& path : it->second) roots[path].last_change = counter;
        // The kernel dropped this watch (its directory went away): forget it.
        if (event->mask & IN_IGNORED) {
          for (const auto& path : it->second) std::erase(roots[path].watches, event->wd);
          owners.erase(it);
        }
      }
    }
  }

  // Drops `path` from watch `wd`, removing the watch once no tree uses it.
  void release(int wd, const std::string& path) {
    auto it = owners.find(wd);
    if (it == owners.end()) return;
    std::erase(it->second, path);
    if (!it->second.empty()) return;
    owners.erase(it);
    ::inotify_rm_watch(fd.get(), wd);
  }

  Result<int> add_watch(const std::string& path, std::uint32_t mask) {
    int wd = ::inotify_add_watch(fd.get(), path.c_str(), mask);
    if (wd >= 0) return wd;
    if (errno == ENOSPC)
      return fail(ErrorCode::resource_exhausted,
                  path + ": inotify watch limit reached (raise fs.inotify.max_user_watches)");
    return fail(errno_error(path));
  }

  // Watches every directory under `root`, each before it is listed, so an entry created while
  // the tree is walked is an event. Iterative, with one listing buffer: the depth of a tree is
  // not bounded by the stack. At most `budget` watches that no tree holds yet.
  Result<> watch_tree(const std::string& root, std::vector<int>& watches, std::size_t budget) {
    std::vector<std::string> pending{root};
    std::vector<char> buffer(32 * 1024);
    std::size_t added = 0;
    auto add = [&](const std::string& path, std::uint32_t mask) -> Result<> {
      int wd = AK_TRY(add_watch(path, mask));
      watches.push_back(wd);
      // A watch another tree (or this one, armed before) holds costs nothing more.
      if (!owners.contains(wd) && ++added > budget)
        return fail(ErrorCode::resource_exhausted, root + ": needs more inotify watches than the " +
                                                       std::to_string(max_watches) + " akbuild allows itself");
      return ok();
    };
    while (!pending.empty()) {
      std::string dir = std::move(pending.back());
      pending.pop_back();
      AK_TRY_VOID(add(dir, k_dir_events));
      int raw = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (raw < 0) return fail(errno_error(dir));
      UniqueFd dirfd(raw);
      for (;;) {
        ssize_t n = ::getdents64(dirfd.get(), buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(errno_error(dir));
        if (n == 0) break;
        for (ssize_t off = 0; off < n;) {
          auto* e = reinterpret_cast<dirent64*>(buffer.data() + off);
          off += e->d_reclen;
          std::string_view name = e->d_name;
          if (name == "." || name == ".." || e->d_type == DT_LNK) continue;
          unsigned char type = e->d_type;
          struct stat st {};
          if (type == DT_REG || type == DT_UNKNOWN) {
            // Gone since listed: its directory's watch has the event.
            if (::fstatat(dirfd.get(), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
            type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
          }
          if (type == DT_DIR) pending.push_back(dir + "/" + std::string(name));
          else if (type == DT_REG && st.st_nlink > 1) AK_TRY_VOID(add(dir + "/" + std::string(name), k_file_events));
        }
      }
    }
    return ok();
  }
};

TreeWatcher::TreeWatcher(std::unique_ptr<State> state) : m_state(std::move(state)) {}
TreeWatcher::~TreeWatcher() = default;

Result<std::unique_ptr<TreeWatcher>> TreeWatcher::open(std::size_t max_watches) {
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return fail(errno_error("inotify_init1"));
  auto state = std::make_unique<State>();
  state->fd.reset(fd);
  state->max_watches = max_watches;
  return std::unique_ptr<TreeWatcher>(new TreeWatcher(std::move(state)));
}

Result<std::uint64_t> TreeWatcher::arm(const std::filesystem::path& root) {
  State& s = *m_state;
  std::string path = root.string();
  std::lock_guard lock(s.mutex);
  s.drain();
  std::uint64_t mark = ++s.counter;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return fail(errno_error(path));
  if (!S_ISDIR(st.st_mode)) return fail(ErrorCode::invalid_argument, path + ": not a directory");

  std::vector<int> watches;
  std::size_t budget = s.max_watches > s.owners.size() ? s.max_watches - s.owners.size() : 0;
  auto walked = s.watch_tree(path, watches, budget);
  std::sort(watches.begin(), watches.end());
  watches.erase(std::unique(watches.begin(), watches.end()), watches.end());
  auto [slot, fresh] = s.roots.try_emplace(path);
  Root& armed = slot->second;
  // Another directory at the path: the old one's marks say nothing about it.
  if (fresh || armed.dev != st.st_dev || armed.ino != st.st_ino) armed.armed_at = mark;
  // Watches of the tree's earlier shape that it no longer has; on failure, all of them.
  std::vector<int> dropped;
  const std::vector<int>& keep = walked ? watches : std::vector<int>{};
  std::set_difference(armed.watches.begin(), armed.watches.end(), keep.begin(), keep.end(),
                      std::back_inserter(dropped));
  for (int wd : keep) {
    auto& users = s.owners[wd];
    if (std::find(users.begin(), users.end(), path) == users.end()) users.push_back(path);
  }
  for (int wd : dropped) s.release(wd, path);
  if (!walked) {
    // A watch added by this walk and owned by no tree yet goes too.
    for (int wd : watches)
      if (!s.owners.contains(wd)) ::inotify_rm_watch(s.fd.get(), wd);
    s.roots.erase(path);
    return fail(walked.error());
  }
  armed.watches = std::move(watches);
  armed.dev = st.st_dev;
  armed.ino = st.st_ino;
  return mark;
}

bool TreeWatcher::unchanged_since(const std::filesystem::path& root, std::uint64_t mark) {
  State& s = *m_state;
  std::string path = root.string();
  std::lock_guard lock(s.mutex);
  s.drain();
  auto it = s.roots.find(path);
  if (it == s.roots.end() || mark < it->second.armed_at || it->second.last_change >= mark) return false;
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_dev == it->second.dev &&
         st.st_ino == it->second.ino;
}

void TreeWatcher::disarm(const std::filesystem::path& root) {
  State& s = *m_state;
  std::string path = root.string();
  std::lock_guard lock(s.mutex);
  s.drain();
  auto it = s.roots.find(path);
  if (it == s.roots.end()) return;
  for (int wd : it->second.watches) s.release(wd, path);
  s.roots.erase(it);
}

std::size_t TreeWatcher::watch_count() const {
  std::lock_guard lock(m_state->mutex);
  return m_state->owners.size();
}

} // namespace akbuild
