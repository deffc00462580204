#include "runner/core/scan.hh"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/core/fs.hh"

namespace akbuild {

namespace {

// Directories with more entries than this have their stat calls split over the threads.
constexpr std::size_t k_stat_chunk = 512;

// One entry of a directory: its name lives in the directory's packed name buffer.
struct ChildRecord {
  std::uint32_t name_at = 0, name_size = 0;
  unsigned char d_type = DT_UNKNOWN;  // from the directory listing
  FileInfo info;
  std::string target;
  std::optional<FileDigest> digest;
  std::unique_ptr<ScannedTree::Node> dir;  // a directory whose content is listed
};

} // namespace

struct ScannedTree::Node {
  std::string rel;
  unsigned depth = 0;
  std::string names;                  // every name, NUL-terminated, one after the other
  std::vector<ChildRecord> children;  // sorted by name once read

  const char* name(const ChildRecord& c) const { return names.data() + c.name_at; }
  std::string_view name_view(const ChildRecord& c) const { return {names.data() + c.name_at, c.name_size}; }
  std::string child_rel(const ChildRecord& c) const { return join_rel(rel, name_view(c)); }
};

namespace {

using Node = ScannedTree::Node;

// A unit of work: read a directory (fd empty; opened under `parent`, the root's when none), or
// stat children [begin, end) of one already read.
struct Task {
  Node* node = nullptr;
  std::shared_ptr<UniqueFd> fd;
  std::size_t begin = 0, end = 0;
  std::shared_ptr<UniqueFd> parent;
};

class Scanner {
public:
  Scanner(const std::filesystem::path& root, const ScanOptions& options, int rootfd)
      : m_root_display(root.string()), m_options(options), m_rootfd(rootfd) {}

  std::size_t entries() const { return m_entries.load(); }

  Result<> run(Node& root_node, unsigned threads) {
    push(Task{&root_node, nullptr, 0, 0, nullptr});
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
    bool wake = false;
    {
      std::lock_guard lock(m_mutex);
      m_queue.push_back(std::move(task));
      ++m_outstanding;
      wake = m_waiting > 0;
    }
    // Only a thread that is asleep needs a (system call) wake-up.
    if (wake) m_cv.notify_one();
  }

  void work() {
    for (;;) {
      Task task;
      {
        std::unique_lock lock(m_mutex);
        ++m_waiting;
        m_cv.wait(lock, [this] { return !m_queue.empty() || m_outstanding == 0; });
        --m_waiting;
        if (m_queue.empty()) return;
        // Newest first: depth first keeps few directories open at once.
        task = std::move(m_queue.back());
        m_queue.pop_back();
      }
      if (!m_failed.load(std::memory_order_relaxed)) {
        auto r = task.fd ? stat_children(task) : read_directory(*task.node, task.parent.get());
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

  // Opened through the parent's fd, by name, without following a symlink: nothing on the way
  // from the root can be swapped for a link.
  Result<> read_directory(Node& node, const UniqueFd* parent) {
    int opened = parent ? ::openat(parent->get(), node.rel.c_str() + (node.rel.rfind('/') + 1),
                                   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                        : ::fcntl(m_rootfd, F_DUPFD_CLOEXEC, 0);
    if (opened < 0) return fail(at(node.rel, errno_error("open directory")));
    auto fd = std::make_shared<UniqueFd>(opened);
    // Names are sorted as small (offset, size) pairs, then the records made in that order.
    struct Name {
      std::uint32_t at, size;
      unsigned char type;
    };
    thread_local std::vector<Name> names;
    names.clear();
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
        names.push_back(Name{static_cast<std::uint32_t>(node.names.size()), static_cast<std::uint32_t>(name.size()),
                             e->d_type});
        node.names.append(name).push_back('\0');
      }
    }
    // string_view compares as unsigned char (char_traits<char>::compare), i.e. raw byte order.
    const char* base = node.names.data();
    std::sort(names.begin(), names.end(), [base](const Name& a, const Name& b) {
      return std::string_view(base + a.at, a.size) < std::string_view(base + b.at, b.size);
    });
    node.children.resize(names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
      node.children[i].name_at = names[i].at;
      node.children[i].name_size = names[i].size;
      node.children[i].d_type = names[i].type;
    }
    std::size_t total = node.children.size();
    m_entries.fetch_add(total, std::memory_order_relaxed);
    // Split a large directory's stat calls; the first chunk stays on this thread.
    for (std::size_t begin = k_stat_chunk; begin < total; begin += k_stat_chunk)
      push(Task{&node, fd, begin, std::min(total, begin + k_stat_chunk), nullptr});
    return stat_children(Task{&node, fd, 0, std::min(total, k_stat_chunk), nullptr});
  }

  Result<> stat_children(const Task& task) {
    Node& node = *task.node;
    int dirfd = task.fd->get();
    unsigned depth = node.depth + 1;
    for (std::size_t i = task.begin; i < task.end; ++i) {
      ChildRecord& c = node.children[i];
      const char* name = node.name(c);
      if (m_options.max_depth && depth > m_options.max_depth)
        return fail(at(node.child_rel(c), Error{ErrorCode::invalid_argument,
                                                "deeper than " + std::to_string(m_options.max_depth) + " levels"}));
      if (c.d_type == DT_DIR && !m_options.stat_directories) {
        c.info = FileInfo{};
        c.info.type = FileType::directory;
      } else {
        struct stat st {};
        if (::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
          return fail(at(node.child_rel(c), errno_error("stat")));
        c.info = file_info_from_stat(st);
      }
      if (c.info.type == FileType::regular && m_options.on_file) {
        thread_local std::string rel;
        rel.assign(node.rel);
        if (!rel.empty()) rel.push_back('/');
        rel.append(node.name_view(c));
        auto digest = m_options.on_file(dirfd, name, rel, c.info);
        if (!digest) return fail(at(rel, digest.error()));
        c.digest = *digest;
      } else if (c.info.type == FileType::symlink) {
        auto target = read_link_at(dirfd, name, c.info.size);
        if (!target) return fail(at(node.child_rel(c), target.error()));
        c.target = std::move(*target);
      } else if (c.info.type == FileType::directory) {
        std::string rel = node.child_rel(c);
        if (m_options.descend && !m_options.descend(rel)) continue;
        c.dir = std::make_unique<Node>();
        c.dir->rel = std::move(rel);
        c.dir->depth = depth;
        push(Task{c.dir.get(), nullptr, 0, 0, task.fd});
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
  std::atomic<std::size_t> m_entries{0};
  std::size_t m_waiting = 0;
  std::atomic<bool> m_failed{false};
  std::optional<Error> m_error;
};

Result<> visit_node(Node& node, ScanEntry& e, const std::function<Result<>(ScanEntry&)>& visit) {
  for (ChildRecord& c : node.children) {
    e.rel.assign(node.rel);
    if (!node.rel.empty()) e.rel.push_back('/');
    e.rel.append(node.name_view(c));
    e.info = c.info;
    e.target.assign(c.target);
    e.digest = c.digest;
    AK_TRY_VOID(visit(e));
    if (c.dir) AK_TRY_VOID(visit_node(*c.dir, e, visit));
  }
  // Give the memory back for the visitor's own allocations.
  std::vector<ChildRecord>().swap(node.children);
  std::string().swap(node.names);
  return ok();
}

} // namespace

ScannedTree::ScannedTree() = default;
ScannedTree::ScannedTree(ScannedTree&&) noexcept = default;
ScannedTree& ScannedTree::operator=(ScannedTree&&) noexcept = default;
ScannedTree::~ScannedTree() = default;

Result<> ScannedTree::visit(const std::function<Result<>(ScanEntry&)>& visit) {
  ScanEntry e = std::move(m_root);
  AK_TRY_VOID(visit(e));
  if (!m_top) return ok();
  auto top = std::move(m_top);
  return visit_node(*top, e, visit);
}

Result<ScannedTree> scan_tree(const std::filesystem::path& root, const ScanOptions& options) {
  struct stat st {};
  if (::lstat(root.c_str(), &st) != 0) return fail(errno_error(root.string()));
  ScannedTree tree;
  tree.m_root.info = file_info_from_stat(st);
  if (S_ISLNK(st.st_mode)) {
    auto target = read_link_at(AT_FDCWD, root.c_str(), tree.m_root.info.size);
    if (!target) return fail(target.error().context(root.string()));
    tree.m_root.target = std::move(*target);
  }
  if (!S_ISDIR(st.st_mode) || (options.descend && !options.descend(""))) return tree;

  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return fail(errno_error(root.string()));
  UniqueFd rootfd(fd);
  unsigned threads = options.threads;
  if (threads == 0) threads = std::max(2u, std::min(8u, std::thread::hardware_concurrency()));
  auto top = std::make_unique<Node>();
  Scanner scanner(root, options, rootfd.get());
  AK_TRY_VOID(scanner.run(*top, threads));
  tree.m_size = 1 + scanner.entries();
  tree.m_top = std::move(top);
  return tree;
}

} // namespace akbuild
