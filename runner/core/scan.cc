#include "runner/core/scan.hh"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <optional>
#include <span>
#include <thread>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/core/file_hash.hh"
#include "runner/core/fs.hh"
#include "runner/core/stat_record.hh"

namespace akbuild {

namespace {

// Directories with more entries than this have their stat calls split over the threads.
constexpr std::size_t k_stat_chunk = 512;
// The first block of each thread's arena; later blocks grow geometrically.
constexpr std::size_t k_arena_block = 256 * 1024;

// One entry of a directory: its name lives in the directory's packed name buffer. Trivially
// destructible, like everything else in a scan's arenas, which are released whole.
struct ChildRecord {
  std::uint32_t name_at = 0, name_size = 0;
  unsigned char d_type = DT_UNKNOWN;  // from the directory listing
  FileInfo info;
  std::string_view target;
  std::optional<FileDigest> digest;
  ScannedTree::Node* dir = nullptr;  // a directory whose content is listed
};

// Copies `text` into `arena`, NUL-terminated (names are passed to system calls).
std::string_view store(std::pmr::memory_resource& arena, std::string_view text) {
  auto* copy = static_cast<char*>(arena.allocate(text.size() + 1, 1));
  std::memcpy(copy, text.data(), text.size());
  copy[text.size()] = '\0';
  return {copy, text.size()};
}

} // namespace

struct ScannedTree::Node {
  std::string_view rel;
  unsigned depth = 0;
  const char* names = nullptr;  // every name, NUL-terminated, one after the other
  ChildRecord* children = nullptr;  // sorted by name once read
  std::size_t count = 0;
  // With ScanOptions::stat_digests: one digest per stat chunk (k_stat_chunk entries).
  Sha256Bytes* chunk_digests = nullptr;
  // The directory's fd while tasks need it: its stat chunks and its subdirectories' opens each
  // hold a reference; the last one closes it.
  int fd = -1;
  std::atomic<unsigned> users{0};

  std::span<ChildRecord> entries() const { return {children, count}; }
  const char* name(const ChildRecord& c) const { return names + c.name_at; }
  std::string_view name_view(const ChildRecord& c) const { return {names + c.name_at, c.name_size}; }
  // The child's path relative to the scan's root, into `out` (reused: no allocation per entry).
  void child_rel(const ChildRecord& c, std::string& out) const {
    out.assign(rel);
    if (!out.empty()) out.push_back('/');
    out.append(name_view(c));
  }
};

// What a scan allocated, one arena per thread so that no allocation takes a lock shared with
// another thread (glibc's malloc did: threads slept on its lock while the heap was new).
struct ScannedTree::Storage {
  std::vector<std::unique_ptr<std::pmr::monotonic_buffer_resource>> arenas;
  Node* top = nullptr;         // the root directory's content
  std::int64_t newest_ns = 0;  // with ScanOptions::stat_digests
};

namespace {

using Node = ScannedTree::Node;

// A unit of work: read a directory (opened under `parent`'s fd, the root's when none), or stat
// entries [begin, end) of one already read.
struct Task {
  Node* node = nullptr;
  Node* parent = nullptr;
  bool stat = false;
  std::size_t begin = 0, end = 0;
};

class Scanner {
public:
  Scanner(const std::filesystem::path& root, const ScanOptions& options, int rootfd, ScannedTree::Storage& storage)
      : m_root_display(root.string()), m_options(options), m_rootfd(rootfd), m_storage(storage) {}

  std::size_t entries() const { return m_entries.load(); }
  std::int64_t newest_ns() const { return m_newest.load(); }

  // One thread per arena of the storage.
  Result<> run(Node& root_node) {
    auto threads = static_cast<unsigned>(m_storage.arenas.size());
    push(Task{&root_node, nullptr, false, 0, 0});
    std::vector<std::thread> helpers;
    for (unsigned t = 1; t < threads; ++t) helpers.emplace_back([this, t] { work(*m_storage.arenas[t]); });
    work(*m_storage.arenas[0]);
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
      m_queue.push_back(task);
      ++m_outstanding;
      wake = m_waiting > 0;
    }
    // Only a thread that is asleep needs a (system call) wake-up.
    if (wake) m_cv.notify_one();
  }

  static void release(Node* node) {
    if (node && node->users.fetch_sub(1, std::memory_order_acq_rel) == 1) ::close(node->fd);
  }

  void work(std::pmr::memory_resource& arena) {
    for (;;) {
      Task task;
      {
        std::unique_lock lock(m_mutex);
        ++m_waiting;
        m_cv.wait(lock, [this] { return !m_queue.empty() || m_outstanding == 0; });
        --m_waiting;
        if (m_queue.empty()) return;
        // Newest first: depth first keeps few directories open at once.
        task = m_queue.back();
        m_queue.pop_back();
      }
      Result<> r = ok();
      if (!m_failed.load(std::memory_order_relaxed)) {
        r = task.stat ? stat_children(arena, task) : read_directory(arena, *task.node, task.parent);
      }
      // Whatever happened, the task's reference to a directory fd goes.
      release(task.stat ? task.node : task.parent);
      if (!r) {
        std::lock_guard lock(m_mutex);
        if (!m_error) m_error = std::move(r.error());
        m_failed = true;
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
  Result<> read_directory(std::pmr::memory_resource& arena, Node& node, const Node* parent) {
    int fd = parent ? ::openat(parent->fd, node.rel.data() + (node.rel.rfind('/') + 1),
                               O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                    : ::fcntl(m_rootfd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return fail(at(node.rel, errno_error("open directory")));
    UniqueFd owned(fd);
    // Names are sorted as small (offset, size) pairs, then the records made in that order.
    struct Name {
      std::uint32_t at, size;
      unsigned char type;
    };
    thread_local std::vector<Name> names;
    thread_local std::string packed;
    names.clear();
    packed.clear();
    alignas(dirent64) char buffer[32 * 1024];
    for (;;) {
      ssize_t n = ::getdents64(fd, buffer, sizeof buffer);
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
        names.push_back(Name{static_cast<std::uint32_t>(packed.size()), static_cast<std::uint32_t>(name.size()),
                             e->d_type});
        packed.append(name).push_back('\0');
      }
    }
    // string_view compares as unsigned char (char_traits<char>::compare), i.e. raw byte order.
    const char* base = packed.data();
    std::sort(names.begin(), names.end(), [base](const Name& a, const Name& b) {
      return std::string_view(base + a.at, a.size) < std::string_view(base + b.at, b.size);
    });
    std::size_t total = names.size();
    node.names = store(arena, packed).data();
    node.children = static_cast<ChildRecord*>(arena.allocate(total * sizeof(ChildRecord), alignof(ChildRecord)));
    node.count = total;
    std::size_t chunks = (total + k_stat_chunk - 1) / k_stat_chunk;
    if (m_options.stat_digests)
      node.chunk_digests = static_cast<Sha256Bytes*>(arena.allocate(chunks * sizeof(Sha256Bytes), alignof(Sha256Bytes)));
    for (std::size_t i = 0; i < total; ++i) {
      auto* c = new (&node.children[i]) ChildRecord;
      c->name_at = names[i].at;
      c->name_size = names[i].size;
      c->d_type = names[i].type;
    }
    m_entries.fetch_add(total, std::memory_order_relaxed);
    if (total == 0) return ok();
    // Split a large directory's stat calls; the first chunk stays on this thread. Each chunk
    // holds a reference to the fd.
    node.fd = owned.release();
    node.users.store(static_cast<unsigned>(chunks), std::memory_order_relaxed);
    for (std::size_t begin = k_stat_chunk; begin < total; begin += k_stat_chunk)
      push(Task{&node, nullptr, true, begin, std::min(total, begin + k_stat_chunk)});
    auto r = stat_children(arena, Task{&node, nullptr, true, 0, std::min(total, k_stat_chunk)});
    release(&node);
    return r;
  }

  Result<> stat_children(std::pmr::memory_resource& arena, const Task& task) {
    Node& node = *task.node;
    int dirfd = node.fd;
    unsigned depth = node.depth + 1;
    thread_local std::string rel, records;
    thread_local std::vector<FileToHash> to_hash;
    thread_local std::vector<ChildRecord*> hashed;
    records.clear();
    to_hash.clear();
    hashed.clear();
    std::int64_t newest = 0;
    for (std::size_t i = task.begin; i < task.end; ++i) {
      ChildRecord& c = node.children[i];
      const char* name = node.name(c);
      node.child_rel(c, rel);
      if (m_options.max_depth && depth > m_options.max_depth)
        return fail(at(rel, Error{ErrorCode::invalid_argument,
                                  "deeper than " + std::to_string(m_options.max_depth) + " levels"}));
      if (c.d_type == DT_DIR && !m_options.stat_directories) {
        c.info = FileInfo{};
        c.info.type = FileType::directory;
      } else {
        struct stat st {};
        if (::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return fail(at(rel, errno_error("stat")));
        c.info = file_info_from_stat(st);
      }
      if (c.info.type == FileType::regular && m_options.on_file) {
        auto verdict = m_options.on_file(rel, c.info);
        if (!verdict) return fail(at(rel, verdict.error()));
        if (verdict->choice == FileVerdict::Choice::known) c.digest = FileDigest{verdict->digest, false};
        if (verdict->choice == FileVerdict::Choice::hash) {
          to_hash.push_back(FileToHash{.name = name, .size = c.info.size});
          hashed.push_back(&c);
        }
      } else if (c.info.type == FileType::symlink) {
        auto target = read_link_at(dirfd, name, c.info.size);
        if (!target) return fail(at(rel, target.error()));
        c.target = store(arena, *target);
      } else if (c.info.type == FileType::directory && (!m_options.descend || m_options.descend(rel))) {
        c.dir = new (arena.allocate(sizeof(Node), alignof(Node))) Node;
        c.dir->rel = store(arena, rel);
        c.dir->depth = depth;
        // The open under this directory needs its fd: one more reference until then.
        node.users.fetch_add(1, std::memory_order_relaxed);
        push(Task{c.dir, &node, false, 0, 0});
      }
      if (m_options.stat_digests) {
        if (c.info.type == FileType::other) return fail(unsupported_type_error(rel, c.info).context(m_root_display));
        append_stat_record(records, rel, c.info, c.target);
        newest = std::max({newest, c.info.mtime_ns, c.info.ctime_ns});
      }
    }
    if (!to_hash.empty()) hash_files_at(dirfd, to_hash);
    for (std::size_t i = 0; i < to_hash.size(); ++i) {
      ChildRecord& c = *hashed[i];
      if (to_hash[i].error) {
        node.child_rel(c, rel);
        return fail(at(rel, *to_hash[i].error));
      }
      c.digest = FileDigest{to_hash[i].digest, true};
    }
    if (m_options.stat_digests) {
      node.chunk_digests[task.begin / k_stat_chunk] = sha256(records);
      for (auto seen = m_newest.load(std::memory_order_relaxed);
           newest > seen && !m_newest.compare_exchange_weak(seen, newest, std::memory_order_relaxed);) {
      }
    }
    return ok();
  }

  std::string m_root_display;
  const ScanOptions& m_options;
  int m_rootfd;
  ScannedTree::Storage& m_storage;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::vector<Task> m_queue;  // a stack
  std::size_t m_outstanding = 0;
  std::atomic<std::size_t> m_entries{0};
  std::atomic<std::int64_t> m_newest{0};
  std::size_t m_waiting = 0;
  std::atomic<bool> m_failed{false};
  std::optional<Error> m_error;
};

Result<> visit_node(const Node& node, ScanEntry& e, const std::function<Result<>(ScanEntry&)>& visit) {
  for (const ChildRecord& c : node.entries()) {
    node.child_rel(c, e.rel);
    e.info = c.info;
    e.target.assign(c.target);
    e.digest = c.digest;
    AK_TRY_VOID(visit(e));
    if (c.dir) AK_TRY_VOID(visit_node(*c.dir, e, visit));
  }
  return ok();
}

void digest_node(const Node& node, Hasher& hasher) {
  for (std::size_t i = 0; i * k_stat_chunk < node.count; ++i) hasher.update(std::as_bytes(std::span(node.chunk_digests[i])));
  for (const ChildRecord& c : node.entries())
    if (c.dir) digest_node(*c.dir, hasher);
}

} // namespace

ScannedTree::ScannedTree() = default;
ScannedTree::ScannedTree(ScannedTree&&) noexcept = default;
ScannedTree& ScannedTree::operator=(ScannedTree&&) noexcept = default;
ScannedTree::~ScannedTree() = default;

Result<> ScannedTree::visit(const std::function<Result<>(ScanEntry&)>& visit) {
  ScanEntry e = std::move(m_root);
  AK_TRY_VOID(visit(e));
  if (!m_storage) return ok();
  // The records go with the storage once visited.
  auto storage = std::move(m_storage);
  return visit_node(*storage->top, e, visit);
}

ScannedTree::StatDigest ScannedTree::stat_digest() const {
  std::string record;
  append_stat_record(record, "", m_root.info, m_root.target);
  Hasher hasher(HashAlgo::sha256);
  hasher.update(record);
  StatDigest out;
  out.newest_ns = std::max(m_root.info.mtime_ns, m_root.info.ctime_ns);
  if (m_storage) {
    digest_node(*m_storage->top, hasher);
    out.newest_ns = std::max(out.newest_ns, m_storage->newest_ns);
  }
  auto bytes = hasher.finish();
  std::copy(bytes.begin(), bytes.end(), out.bytes.begin());
  return out;
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
  if (options.stat_digests && tree.m_root.info.type == FileType::other)
    return fail(unsupported_type_error("", tree.m_root.info).context(root.string()));
  if (!S_ISDIR(st.st_mode) || (options.descend && !options.descend(""))) return tree;

  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return fail(errno_error(root.string()));
  UniqueFd rootfd(fd);
  unsigned threads = options.threads;
  if (threads == 0) threads = std::max(2u, std::min(8u, std::thread::hardware_concurrency()));
  auto storage = std::make_unique<ScannedTree::Storage>();
  for (unsigned t = 0; t < threads; ++t)
    storage->arenas.push_back(std::make_unique<std::pmr::monotonic_buffer_resource>(k_arena_block));
  storage->top = new (storage->arenas[0]->allocate(sizeof(Node), alignof(Node))) Node;
  Scanner scanner(root, options, rootfd.get(), *storage);
  AK_TRY_VOID(scanner.run(*storage->top));
  storage->newest_ns = scanner.newest_ns();
  tree.m_size = 1 + scanner.entries();
  tree.m_storage = std::move(storage);
  return tree;
}

} // namespace akbuild
