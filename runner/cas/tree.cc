#include "runner/cas/tree.hh"

#include <cerrno>

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

class StoreVisitor final : public TreeVisitor {
public:
  StoreVisitor(BlobStore& store, fs::path root, std::string root_name, TreeStats* stats, bool move)
      : m_store(store), m_root(std::move(root)), m_root_name(std::move(root_name)), m_stats(stats), m_move(move) {}

  Result<> directory_begin(std::string_view, const FileInfo&) override {
    m_stack.emplace_back();
    return ok();
  }
  Result<> directory_end(std::string_view rel) override {
    Tree tree = std::move(m_stack.back());
    m_stack.pop_back();
    Digest d = AK_TRY(m_store.put(serialize_deterministic(tree)));
    if (m_stats) ++m_stats->directories;
    if (m_stack.empty()) {
      m_result = d;
      return ok();
    }
    auto* e = add(rel);
    e->set_type(TreeEntry::DIRECTORY);
    e->set_digest(d.hex());
    return ok();
  }
  Result<> regular(std::string_view rel, const FileInfo& info, int dirfd, std::string_view name) override {
    Digest d;
    if (m_move) {
      auto moved = m_store.move_file(dirfd, std::string(name));
      if (!moved) return fail(moved.error().context(rel.empty() ? m_root.string() : std::string(rel)));
      d = *moved;
    } else {
      d = AK_TRY(m_store.put_file(rel.empty() ? m_root : m_root / std::string(rel)));
    }
    auto* e = add(rel);
    e->set_type(info.executable ? TreeEntry::EXECUTABLE : TreeEntry::REGULAR);
    e->set_digest(d.hex());
    e->set_size(info.size);
    if (m_stats) ++m_stats->files, m_stats->bytes += info.size;
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
  void wrap_root() { m_stack.emplace_back(); }
  Result<Digest> finish_wrapped() {
    Tree tree = std::move(m_stack.back());
    m_stack.clear();
    return m_store.put(serialize_deterministic(tree));
  }
  const Digest& result() const { return m_result; }

private:
  TreeEntry* add(std::string_view rel) {
    auto* e = m_stack.back().add_entries();
    e->set_name(std::string(rel.empty() ? std::string_view(m_root_name) : base_name(rel)));
    return e;
  }

  BlobStore& m_store;
  fs::path m_root;
  std::string m_root_name;
  TreeStats* m_stats;
  bool m_move;
  std::vector<Tree> m_stack;
  Digest m_result;
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
    return visitor.result();
  }
  if (!valid_name(name)) return fail(ErrorCode::invalid_argument, path.string() + ": cannot be stored (no file name)");
  visitor.wrap_root();
  AK_TRY_VOID(walk_tree(path, visitor));
  return visitor.finish_wrapped();
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
