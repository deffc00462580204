#include "runner/core/scan.hh"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runner/core/fs.hh"

namespace akbuild {

namespace {

// Directories with more entries than this have their stat calls split over the threads.
constexpr std::size_t k_stat_chunk = 512;

struct DirNode;

struct Child {
  std::string rel;  // the parent's rel + '/' + name: sorts as the names do, and is moved out at the end
  FileInfo info;
  std::string target;
  std::unique_ptr<DirNode> dir;  // a directory whose content is listed
};

struct DirNode {
  std::string rel;
  unsigned depth = 0;
  std::vector<Child> children;  // sorted by name once read
};

// A unit of work: read a directory (fd empty), or stat children [begin, end) of one already read.
struct Task {
  DirNode* node = nullptr;
  std::shared_ptr<UniqueFd> fd;
  std::size_t begin = 0, end = 0;
};

// Opens `rel` below `rootfd` as a directory without following any symlink on the way:
// openat2 with RESOLVE_NO_SYMLINKS where the kernel has it (5.6+), else one component at a time.
Result<UniqueFd> open_dir_below(int rootfd, const std::string& rel) {
  if (rel.empty()) {
    int fd = ::openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fail(errno_error("open directory"));
    return UniqueFd(fd);
  }
  open_how how{};
  how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH;
  long fd = ::syscall(SYS_openat2, rootfd, rel.c_str(), &how, sizeof how);
  if (fd >= 0) return UniqueFd(static_cast<int>(fd));
  if (errno != ENOSYS) return fail(errno_error("open directory"));
  UniqueFd current(::dup(rootfd));
  std::size_t start = 0;
  while (start <= rel.size()) {
    std::size_t slash = rel.find('/', start);
    if (slash == std::string::npos) slash = rel.size();
    std::string part = rel.substr(start, slash - start);
    int next = ::openat(current.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) return fail(errno_error("open directory"));
    current.reset(next);
    start = slash + 1;
  }
  return current;
}

class Scanner {
public:
  Scanner(const std::filesystem::path& root, const ScanOptions& options, int rootfd)
      : m_root_display(root.string()), m_options(options), m_rootfd(rootfd) {}

  Result<> run(DirNode& root_node, unsigned threads) {
    push(Task{&root_node, nullptr, 0, 0});
    std::vector<std::thread> helpers;
    for (unsigned t = 1; t < threads; ++t) helpers.emplace_back([this] { work(); });
    work();
    for (auto& t : helpers) t.join();
    if (m_error) return fail(*m_error);
    return ok();
  }

private:
  Error at(std::string_view rel, Error e) const {
    return std::move(e).context(m_root_display + (rel.empty() ? "" : "/" + std::string(rel)));
  }

  void push(Task task) {
    {
      std::lock_guard lock(m_mutex);
      m_queue.push_back(std::move(task));
      ++m_outstanding;
    }
    m_cv.notify_one();
  }

  void work() {
    for (;;) {
      Task task;
      {
        std::unique_lock lock(m_mutex);
        m_cv.wait(lock, [this] { return !m_queue.empty() || m_outstanding == 0; });
        if (m_queue.empty()) return;
        // Newest first: depth first keeps few directories open at once.
        task = std::move(m_queue.back());
        m_queue.pop_back();
      }
      if (!m_failed.load(std::memory_order_relaxed)) {
        auto r = task.fd ? stat_children(task) : read_directory(*task.node);
        if (!r) {
          std::lock_guard lock(m_mutex);
          if (!m_error) m_error = std::move(r.error());
          m_failed = true;
        }
      }
      bool done = false;
      {
        std::lock_guard lock(m_mutex);
        done = --m_outstanding == 0;
      }
      if (done) m_cv.notify_all();
    }
  }

  Result<> read_directory(DirNode& node) {
    auto opened = open_dir_below(m_rootfd, node.rel);
    if (!opened) return fail(at(node.rel, opened.error()));
    auto fd = std::make_shared<UniqueFd>(std::move(*opened));
    alignas(dirent64) char buffer[32 * 1024];
    for (;;) {
      ssize_t n = ::getdents64(fd->get(), buffer, sizeof buffer);
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail(at(node.rel, errno_error("readdir")));
      }
      if (n == 0) break;
      for (ssize_t off = 0; off < n;) {
        auto* e = reinterpret_cast<dirent64*>(buffer + off);
        off += e->d_reclen;
        std::string_view name = e->d_name;
        if (name == "." || name == "..") continue;
        node.children.push_back(Child{join_rel(node.rel, name), {}, {}, nullptr});
      }
    }
    // std::string compares as unsigned char (char_traits<char>::lt), i.e. raw byte order; every
    // rel here has the same prefix, so this is the order of the names.
    std::sort(node.children.begin(), node.children.end(),
              [](const Child& a, const Child& b) { return a.rel < b.rel; });
    std::size_t total = node.children.size();
    // Split a large directory's stat calls; the first chunk stays on this thread.
    for (std::size_t begin = k_stat_chunk; begin < total; begin += k_stat_chunk)
      push(Task{&node, fd, begin, std::min(total, begin + k_stat_chunk)});
    return stat_children(Task{&node, fd, 0, std::min(total, k_stat_chunk)});
  }

  Result<> stat_children(const Task& task) {
    DirNode& node = *task.node;
    int dirfd = task.fd->get();
    const std::size_t name_at = node.rel.empty() ? 0 : node.rel.size() + 1;
    for (std::size_t i = task.begin; i < task.end; ++i) {
      Child& c = node.children[i];
      const char* name = c.rel.c_str() + name_at;
      unsigned depth = node.depth + 1;
      if (m_options.max_depth && depth > m_options.max_depth)
        return fail(at(c.rel, Error{ErrorCode::invalid_argument,
                                    "deeper than " + std::to_string(m_options.max_depth) + " levels"}));
      struct stat st {};
      if (::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return fail(at(c.rel, errno_error("stat")));
      c.info = file_info_from_stat(st);
      if (c.info.type == FileType::symlink) {
        auto target = read_link_at(dirfd, name, c.info.size);
        if (!target) return fail(at(c.rel, target.error()));
        c.target = std::move(*target);
      } else if (c.info.type == FileType::directory && (!m_options.descend || m_options.descend(c.rel))) {
        c.dir = std::make_unique<DirNode>();
        c.dir->rel = c.rel;
        c.dir->depth = depth;
        push(Task{c.dir.get(), nullptr, 0, 0});
      }
    }
    return ok();
  }

  std::string m_root_display;
  const ScanOptions& m_options;
  int m_rootfd;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::deque<Task> m_queue;
  std::size_t m_outstanding = 0;
  std::atomic<bool> m_failed{false};
  std::optional<Error> m_error;
};

void flatten(DirNode& node, std::vector<ScanEntry>& out) {
  for (Child& c : node.children) {
    out.push_back(ScanEntry{std::move(c.rel), c.info, std::move(c.target)});
    if (c.dir) flatten(*c.dir, out);
  }
  std::vector<Child>().swap(node.children);  // give the memory back for the caller's next allocations
}

std::size_t count(const DirNode& node) {
  std::size_t n = node.children.size();
  for (const Child& c : node.children)
    if (c.dir) n += count(*c.dir);
  return n;
}

} // namespace

Result<std::vector<ScanEntry>> scan_tree(const std::filesystem::path& root, const ScanOptions& options) {
  struct stat st {};
  if (::lstat(root.c_str(), &st) != 0) return fail(errno_error(root.string()));
  std::vector<ScanEntry> out;
  out.push_back(ScanEntry{"", file_info_from_stat(st), {}});
  if (S_ISLNK(st.st_mode)) {
    auto target = read_link_at(AT_FDCWD, root.c_str(), out[0].info.size);
    if (!target) return fail(target.error().context(root.string()));
    out[0].target = std::move(*target);
  }
  if (!S_ISDIR(st.st_mode)) return out;
  if (options.descend && !options.descend("")) return out;

  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return fail(errno_error(root.string()));
  UniqueFd rootfd(fd);
  unsigned threads = options.threads;
  if (threads == 0) threads = std::max(2u, std::min(8u, std::thread::hardware_concurrency()));
  DirNode root_node;
  Scanner scanner(root, options, rootfd.get());
  AK_TRY_VOID(scanner.run(root_node, threads));
  out.reserve(1 + count(root_node));
  flatten(root_node, out);
  return out;
}

} // namespace akbuild
