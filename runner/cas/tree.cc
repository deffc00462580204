#include "runner/cas/tree.hh"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "akbuild/v1/cache.pb.h"
#include "runner/cas/proto_io.hh"
#include "runner/core/fs.hh"
#include "runner/core/walk.hh"

namespace akbuild::cas {

namespace fs = std::filesystem;
using v1::Tree;
using v1::TreeEntry;

namespace {

std::string_view base_name(std::string_view rel) {
  auto slash = rel.rfind('/');
  return slash == std::string_view::npos ? rel : rel.substr(slash + 1);
}

// Moves files into the store on worker threads while the walk goes on: hashing and the five
// system calls per file are most of storing a big output, and they are independent per file. A
// job is a directory's files (a handoff per file cost more than the move); the queue is bounded,
// so at most that many directories are held open.
class MoveWorkers {
public:
  struct File {
    std::string name, rel;
    TreeEntry* entry;  // filled with the digest; stable (a repeated field's elements do not move)
  };
  struct Job {
    UniqueFd dir;
    std::vector<File> files;
  };

  MoveWorkers(BlobStore& store, unsigned threads) : m_store(store) {
    for (unsigned i = 0; i < threads; ++i) m_threads.emplace_back([this] { work(); });
  }
  ~MoveWorkers() { (void)finish(); }

  void submit(Job job) {
    std::unique_lock lock(m_mutex);
    m_space.wait(lock, [&] { return m_jobs.size() < k_queue || m_error; });
    if (m_error) return;
    m_jobs.push_back(std::move(job));
    m_ready.notify_one();
  }
  // Waits for every job; the first error, if any.
  Result<> finish() {
    {
      std::lock_guard lock(m_mutex);
      m_closing = true;
    }
    m_ready.notify_all();
    for (auto& t : m_threads) t.join();
    m_threads.clear();
    if (m_error) return fail(*m_error);
    return ok();
  }

private:
  static constexpr std::size_t k_queue = 64;

  void work() {
    for (;;) {
      Job job;
      {
        std::unique_lock lock(m_mutex);
        m_ready.wait(lock, [&] { return !m_jobs.empty() || m_closing; });
        if (m_jobs.empty()) return;
        job = std::move(m_jobs.front());
        m_jobs.pop_front();
        m_space.notify_one();
      }
      for (auto& f : job.files) {
        auto moved = m_store.move_file(job.dir.get(), f.name);
        if (moved) {
          f.entry->set_digest(moved->hex());
          continue;
        }
        std::lock_guard lock(m_mutex);
        if (!m_error) m_error = moved.error().context(f.rel), m_space.notify_all();
        break;
      }
    }
  }

  BlobStore& m_store;
  std::mutex m_mutex;
  std::condition_variable m_ready, m_space;
  std::deque<Job> m_jobs;
  bool m_closing = false;
  std::optional<Error> m_error;
  std::vector<std::thread> m_threads;
};

// Builds the directory records as the walk goes. Moved files get their digests from the workers
// later, so every record is kept until the walk is over and then stored children first (the walk
// ends directories in that order).
class StoreVisitor final : public TreeVisitor {
public:
  StoreVisitor(BlobStore& store, fs::path root, std::string root_name, TreeStats* stats, bool move)
      : m_store(store), m_root(std::move(root)), m_root_name(std::move(root_name)), m_stats(stats) {
    if (move) m_workers.emplace(store, std::max(2u, std::min(8u, std::thread::hardware_concurrency())));
  }

  Result<> directory_begin(std::string_view, const FileInfo&) override {
    m_stack.push_back({std::make_unique<Tree>(), {}});
    return ok();
  }
  Result<> directory_end(std::string_view rel) override {
    Open done = std::move(m_stack.back());
    m_stack.pop_back();
    if (!done.files.files.empty()) m_workers->submit(std::move(done.files));
    if (m_stats) ++m_stats->directories;
    TreeEntry* in_parent = nullptr;
    if (!m_stack.empty()) {
      in_parent = add(rel);
      in_parent->set_type(TreeEntry::DIRECTORY);
    }
    m_ended.push_back({std::move(done.tree), in_parent});
    return ok();
  }
  Result<> regular(std::string_view rel, const FileInfo& info, int dirfd, std::string_view name) override {
    auto* e = add(rel);
    e->set_type(info.executable ? TreeEntry::EXECUTABLE : TreeEntry::REGULAR);
    e->set_size(info.size);
    if (m_stats) ++m_stats->files, m_stats->bytes += info.size;
    if (m_workers) {
      auto& job = m_stack.back().files;
      if (!job.dir) {
        int fd = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) return fail(errno_error(rel.empty() ? m_root.string() : std::string(rel)));
        job.dir = UniqueFd(fd);
      }
      job.files.push_back({std::string(name), rel.empty() ? m_root.string() : std::string(rel), e});
      return ok();
    }
    e->set_digest(AK_TRY(m_store.put_file(rel.empty() ? m_root : m_root / std::string(rel))).hex());
    return ok();
  }
  Result<> symlink(std::string_view rel, const FileInfo&, std::string_view target) override {
    auto* e = add(rel);
    e->set_type(TreeEntry::SYMLINK);
    e->set_target(std::string(target));
    if (m_stats) ++m_stats->symlinks;
    return ok();
  }

  // A root that is not a directory is wrapped in a one-entry Tree named by the file name.
  void wrap_root() { m_stack.push_back({std::make_unique<Tree>(), {}}); }
  void end_wrapped() {
    if (!m_stack.back().files.files.empty()) m_workers->submit(std::move(m_stack.back().files));
    m_ended.push_back({std::move(m_stack.back().tree), nullptr});
    m_stack.clear();
  }
  // Waits for the moves, then names the records children first (a record's digest needs only
  // its children's) and stores them all at once, on as many threads as the moves had: a
  // node_modules has thousands of directories, each a small file to create. The root's digest.
  Result<Digest> finish() {
    if (m_workers) AK_TRY_VOID(m_workers->finish());
    std::vector<std::string> records;
    records.reserve(m_ended.size());
    Digest root;
    for (auto& [tree, in_parent] : m_ended) {
      records.push_back(serialize_deterministic(*tree));
      root = Digest::of(records.back());
      if (in_parent) in_parent->set_digest(root.hex());
    }
    std::atomic<std::size_t> next{0};
    std::mutex failed_mutex;
    std::optional<Error> failed;
    auto store = [&] {
      for (std::size_t i; (i = next++) < records.size();) {
        auto put = m_store.put(records[i]);
        if (put) continue;
        std::lock_guard lock(failed_mutex);
        if (!failed) failed = put.error();
        next = records.size();
      }
    };
    std::vector<std::thread> threads;
    unsigned n = records.size() < 64 ? 0 : std::max(2u, std::min(8u, std::thread::hardware_concurrency())) - 1;
    for (unsigned t = 0; t < n; ++t) threads.emplace_back(store);
    store();
    for (auto& t : threads) t.join();
    if (failed) return fail(*failed);
    return root;
  }

private:
  struct Open {
    std::unique_ptr<Tree> tree;
    MoveWorkers::Job files;  // its files to move, with a dup of the walk's fd for the directory
  };
  struct Ended {
    std::unique_ptr<Tree> tree;
    TreeEntry* in_parent;
  };

  TreeEntry* add(std::string_view rel) {
    auto* e = m_stack.back().tree->add_entries();
    e->set_name(std::string(rel.empty() ? std::string_view(m_root_name) : base_name(rel)));
    return e;
  }

  BlobStore& m_store;
  fs::path m_root;
  std::string m_root_name;
  TreeStats* m_stats;
  std::vector<Open> m_stack;
  std::vector<Ended> m_ended;
  // Last, so it is destroyed first: its threads write into the records above.
  std::optional<MoveWorkers> m_workers;
};

bool valid_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

// A stored directory record, checked: it parses, names are valid, sorted and unique, digests
// parse. Blob errors (missing, corrupt) pass through.
Result<Tree> load_tree(BlobStore& store, const Digest& digest) {
  std::string bytes = AK_TRY(store.get(digest));
  Tree tree;
  auto bad = [&](const std::string& why) {
    return fail(ErrorCode::corrupt, "tree " + digest.hex() + ": " + why);
  };
  if (!tree.ParseFromString(bytes)) return bad("not a directory record");
  const std::string* prev = nullptr;
  for (const auto& e : tree.entries()) {
    if (!valid_name(e.name())) return bad("invalid entry name '" + e.name() + "'");
    if (prev && !(*prev < e.name())) return bad("entries not sorted or not unique at '" + e.name() + "'");
    prev = &e.name();
    switch (e.type()) {
    case TreeEntry::REGULAR:
    case TreeEntry::EXECUTABLE:
    case TreeEntry::DIRECTORY:
      if (!Digest::parse(e.digest())) return bad("entry '" + e.name() + "' has an invalid digest");
      break;
    case TreeEntry::SYMLINK:
      if (e.target().empty() || e.target().find('\0') != std::string::npos)
        return bad("symlink '" + e.name() + "' has an invalid target");
      break;
    default: return bad("entry '" + e.name() + "' has an unknown type");
    }
  }
  return tree;
}

Digest entry_digest(const TreeEntry& e) { return *Digest::parse(e.digest()); }

Result<> write_dir(BlobStore& store, const Digest& digest, int dirfd, const std::string& rel) {
  Tree tree = AK_TRY(load_tree(store, digest));
  for (const auto& e : tree.entries()) {
    std::string child = join_rel(rel, e.name());
    const char* name = e.name().c_str();
    switch (e.type()) {
    case TreeEntry::DIRECTORY: {
      if (::mkdirat(dirfd, name, 0755) != 0) return fail(errno_error(child));
      int fd = ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) return fail(errno_error(child));
      UniqueFd sub(fd);
      if (::fchmod(fd, 0755) != 0) return fail(errno_error("chmod " + child));
      AK_TRY_VOID(write_dir(store, entry_digest(e), fd, child));
      break;
    }
    case TreeEntry::REGULAR:
    case TreeEntry::EXECUTABLE: {
      // A regular file is the blob itself, linked (read-only); an executable needs its own mode,
      // so it is a copy, as is any file the store cannot link.
      if (e.type() == TreeEntry::REGULAR && store.link_out(entry_digest(e), e.size(), dirfd, e.name())) break;
      mode_t mode = e.type() == TreeEntry::EXECUTABLE ? 0755 : 0644;
      int fd = ::openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
      if (fd < 0) return fail(errno_error(child));
      UniqueFd out(fd);
      FdSink sink(fd);
      AK_TRY_VOID(store.read_to(entry_digest(e), sink).map_error([&](Error err) { return err.context(child); }));
      AK_TRY_VOID(sink.flush());
      if (::fchmod(fd, mode) != 0) return fail(errno_error("chmod " + child));
      break;
    }
    case TreeEntry::SYMLINK:
      if (::symlinkat(e.target().c_str(), dirfd, name) != 0) return fail(errno_error(child));
      break;
    default: break;  // rejected by load_tree
    }
  }
  return ok();
}

Result<> verify_dir(BlobStore& store, const Digest& digest, TreeStats& stats) {
  Tree tree = AK_TRY(load_tree(store, digest));
  ++stats.directories;
  for (const auto& e : tree.entries()) {
    switch (e.type()) {
    case TreeEntry::DIRECTORY: AK_TRY_VOID(verify_dir(store, entry_digest(e), stats)); break;
    case TreeEntry::SYMLINK: ++stats.symlinks; break;
    default: {
      HashSink discard;
      AK_TRY_VOID(store.read_to(entry_digest(e), discard));
      ++stats.files;
      stats.bytes += discard.size();
    }
    }
  }
  return ok();
}

Result<> check_dir(BlobStore& store, const Digest& digest, TreeStats& stats) {
  Tree tree = AK_TRY(load_tree(store, digest));
  ++stats.directories;
  for (const auto& e : tree.entries()) {
    switch (e.type()) {
    case TreeEntry::DIRECTORY: AK_TRY_VOID(check_dir(store, entry_digest(e), stats)); break;
    case TreeEntry::SYMLINK: ++stats.symlinks; break;
    default:
      AK_TRY_VOID(store.check(entry_digest(e), e.size()));
      ++stats.files;
      stats.bytes += e.size();
    }
  }
  return ok();
}

Result<> list_dir(BlobStore& store, const Digest& digest, const std::string& rel,
                  std::map<std::string, TreeFile>& out) {
  Tree tree = AK_TRY(load_tree(store, digest));
  for (const auto& e : tree.entries()) {
    std::string child = join_rel(rel, e.name());
    TreeFile f;
    switch (e.type()) {
    case TreeEntry::DIRECTORY:
      f.type = 'd';
      AK_TRY_VOID(list_dir(store, entry_digest(e), child, out));
      break;
    case TreeEntry::SYMLINK: f.type = 'l', f.target = e.target(); break;
    default:
      f.type = e.type() == TreeEntry::EXECUTABLE ? 'x' : 'f';
      f.digest = e.digest();
      f.size = e.size();
    }
    out.emplace(child, std::move(f));
  }
  return ok();
}

} // namespace

Result<Digest> store_tree(BlobStore& store, const fs::path& path, TreeStats* stats, StoreMode mode) {
  auto info = AK_TRY(stat_path(path));
  std::string name = path.filename().string();
  StoreVisitor visitor(store, path, name, stats, mode == StoreMode::move);
  if (info.type == FileType::directory) {
    AK_TRY_VOID(walk_tree(path, visitor));
    return visitor.finish();
  }
  if (!valid_name(name)) return fail(ErrorCode::invalid_argument, path.string() + ": cannot be stored (no file name)");
  visitor.wrap_root();
  AK_TRY_VOID(walk_tree(path, visitor));
  visitor.end_wrapped();
  return visitor.finish();
}

Result<> materialize_tree(BlobStore& store, const Digest& root, const fs::path& dest) {
  struct stat st {};
  if (::lstat(dest.c_str(), &st) == 0) return fail(ErrorCode::already_exists, dest.string() + ": already exists");
  fs::path parent = dest.parent_path().empty() ? fs::path(".") : dest.parent_path();
  AK_TRY_VOID(make_dirs(parent));
  auto tmp = AK_TRY(TempDir::create("." + dest.filename().string() + ".partial-", parent));
  auto dirfd = AK_TRY(open_fd(tmp.path(), O_RDONLY | O_DIRECTORY));
  auto written = write_dir(store, root, dirfd.get(), "");
  if (!written) return fail(written.error().context(dest.string()));
  if (::fchmod(dirfd.get(), 0755) != 0) return fail(errno_error("chmod " + tmp.path().string()));
  // RENAME_NOREPLACE: never replace something that appeared at dest meanwhile.
  if (::renameat2(AT_FDCWD, tmp.path().c_str(), AT_FDCWD, dest.c_str(), RENAME_NOREPLACE) != 0)
    return fail(errno_error("rename to " + dest.string()));
  tmp.keep();
  return ok();
}

Result<TreeStats> verify_tree(BlobStore& store, const Digest& root) {
  TreeStats stats;
  AK_TRY_VOID(verify_dir(store, root, stats));
  return stats;
}

Result<TreeStats> check_tree(BlobStore& store, const Digest& root) {
  TreeStats stats;
  AK_TRY_VOID(check_dir(store, root, stats));
  return stats;
}

Result<std::map<std::string, TreeFile>> list_tree(BlobStore& store, const Digest& root) {
  std::map<std::string, TreeFile> out;
  AK_TRY_VOID(list_dir(store, root, "", out));
  return out;
}

Result<> collect_tree_blobs(BlobStore& store, const Digest& root, std::unordered_set<Digest>& blobs) {
  if (!blobs.insert(root).second) return ok();
  Tree tree = AK_TRY(load_tree(store, root));
  for (const auto& e : tree.entries()) {
    if (e.type() == TreeEntry::DIRECTORY) AK_TRY_VOID(collect_tree_blobs(store, entry_digest(e), blobs));
    else if (e.type() != TreeEntry::SYMLINK) blobs.insert(entry_digest(e));
  }
  return ok();
}

} // namespace akbuild::cas
