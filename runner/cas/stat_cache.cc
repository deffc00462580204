#include "runner/cas/stat_cache.hh"

#include <cstring>
#include <ctime>
#include <mutex>
#include <unordered_map>

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include "runner/core/fs.hh"

namespace akbuild::cas {

namespace {

// How far a file's mtime may trail the moment it was really written. Linux stamps files from a
// coarse clock (a few ms behind), and some filesystems round to seconds (FAT even to two), so
// an entry is trusted only for files whose mtime is more than this before the entry was made.
constexpr std::int64_t k_timestamp_granularity_ns = 2'000'000'000;

constexpr const char* k_schema =
    "CREATE TABLE IF NOT EXISTS files ("
    " path TEXT PRIMARY KEY, dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL,"
    " mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, digest BLOB NOT NULL,"
    " recorded_at_ns INTEGER NOT NULL) WITHOUT ROWID";

std::int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct Entry {
  std::uint64_t dev = 0, ino = 0, size = 0;
  std::int64_t mtime_ns = 0, ctime_ns = 0, recorded_at_ns = 0;
  Digest digest;
};

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

class SqliteStatCache final : public StatCache {
public:
  SqliteStatCache(sqlite3* db, std::filesystem::path path) : m_db(db), m_path(std::move(path)) {}
  ~SqliteStatCache() override { (void)flush(); }

  std::optional<Digest> lookup(const std::string& abs_path, const FileInfo& info) override {
    std::lock_guard lock(m_mutex);
    if (!m_loaded) load();
    auto it = m_entries.find(abs_path);
    if (it == m_entries.end()) return std::nullopt;
    const Entry& e = it->second;
    if (e.dev != info.dev || e.ino != info.ino || e.size != info.size || e.mtime_ns != info.mtime_ns ||
        e.ctime_ns != info.ctime_ns)
      return std::nullopt;
    // Racily clean: written so close to the recording that a later write may share its mtime.
    if (info.mtime_ns >= e.recorded_at_ns - k_timestamp_granularity_ns) return std::nullopt;
    return e.digest;
  }

  void record(const std::string& abs_path, const FileInfo& info, const Digest& digest) override {
    Entry e{info.dev, info.ino, info.size, info.mtime_ns, info.ctime_ns, now_ns(), digest};
    std::lock_guard lock(m_mutex);
    m_pending.emplace_back(abs_path, e);
    m_entries[abs_path] = e;  // load() keeps it over an older row (emplace does not replace)
  }

  Result<> flush() override {
    std::lock_guard lock(m_mutex);
    if (m_pending.empty()) return ok();
    auto r = write_pending();
    if (!r) exec("ROLLBACK");
    m_pending.clear();
    return r;
  }

private:
  Error db_error(std::string_view what) const {
    return Error{ErrorCode::io, "stat cache " + m_path.string() + ": " + std::string(what) + ": " + sqlite3_errmsg(m_db.get())};
  }
  bool exec(const char* sql) { return sqlite3_exec(m_db.get(), sql, nullptr, nullptr, nullptr) == SQLITE_OK; }

  // Every row at once: one scan is far cheaper than a SELECT per file. A failed load leaves the
  // map empty, which only costs re-hashing.
  void load() {
    m_loaded = true;
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(m_db.get(), "SELECT path, dev, ino, size, mtime_ns, ctime_ns, digest, recorded_at_ns FROM files",
                           -1, &raw, nullptr) != SQLITE_OK)
      return;
    Stmt stmt(raw);
    while (sqlite3_step(raw) == SQLITE_ROW) {
      if (sqlite3_column_bytes(raw, 6) != 32) continue;
      Entry e;
      e.dev = static_cast<std::uint64_t>(sqlite3_column_int64(raw, 1));
      e.ino = static_cast<std::uint64_t>(sqlite3_column_int64(raw, 2));
      e.size = static_cast<std::uint64_t>(sqlite3_column_int64(raw, 3));
      e.mtime_ns = sqlite3_column_int64(raw, 4);
      e.ctime_ns = sqlite3_column_int64(raw, 5);
      Sha256Bytes b;
      std::memcpy(b.data(), sqlite3_column_blob(raw, 6), b.size());
      e.digest = Digest(b);
      e.recorded_at_ns = sqlite3_column_int64(raw, 7);
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(raw, 0));
      m_entries.emplace(std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(raw, 0))), e);
    }
  }

  Result<> write_pending() {
    if (!exec("BEGIN IMMEDIATE")) return fail(db_error("begin"));
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(m_db.get(), "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)", -1, &raw,
                           nullptr) != SQLITE_OK)
      return fail(db_error("prepare"));
    Stmt stmt(raw);
    for (const auto& [path, e] : m_pending) {
      sqlite3_bind_text(raw, 1, path.data(), static_cast<int>(path.size()), SQLITE_STATIC);
      sqlite3_bind_int64(raw, 2, static_cast<sqlite3_int64>(e.dev));
      sqlite3_bind_int64(raw, 3, static_cast<sqlite3_int64>(e.ino));
      sqlite3_bind_int64(raw, 4, static_cast<sqlite3_int64>(e.size));
      sqlite3_bind_int64(raw, 5, e.mtime_ns);
      sqlite3_bind_int64(raw, 6, e.ctime_ns);
      sqlite3_bind_blob(raw, 7, e.digest.bytes().data(), 32, SQLITE_STATIC);
      sqlite3_bind_int64(raw, 8, e.recorded_at_ns);
      if (sqlite3_step(raw) != SQLITE_DONE) return fail(db_error("insert"));
      sqlite3_reset(raw);
    }
    stmt.reset();
    if (!exec("COMMIT")) return fail(db_error("commit"));
    return ok();
  }

  std::unique_ptr<sqlite3, DbCloser> m_db;
  std::filesystem::path m_path;
  std::mutex m_mutex;
  bool m_loaded = false;
  std::unordered_map<std::string, Entry> m_entries;
  std::vector<std::pair<std::string, Entry>> m_pending;
};

} // namespace

Result<std::unique_ptr<StatCache>> StatCache::open(const std::filesystem::path& db_path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(db_path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  std::unique_ptr<sqlite3, DbCloser> db(raw);
  auto err = [&](std::string_view what) {
    return fail(ErrorCode::io, "stat cache " + db_path.string() + ": " + std::string(what) + ": " +
                                   (raw ? sqlite3_errmsg(raw) : "out of memory"));
  };
  if (rc != SQLITE_OK) return err("open");
  // Several akbuild processes share the database: wait for each other's short write
  // transactions instead of failing, and let readers run beside a writer (WAL).
  sqlite3_busy_timeout(raw, 10000);
  if (sqlite3_exec(raw, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr) != SQLITE_OK) return err("journal mode");
  if (sqlite3_exec(raw, "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr) != SQLITE_OK) return err("synchronous");
  if (sqlite3_exec(raw, k_schema, nullptr, nullptr, nullptr) != SQLITE_OK) return err("schema");
  return std::unique_ptr<StatCache>(new SqliteStatCache(db.release(), db_path));
}

Result<Digest> hash_file_cached(StatCache* cache, const std::filesystem::path& abs_path, const FileInfo& info) {
  if (cache) {
    if (auto d = cache->lookup(abs_path.string(), info)) return *d;
  }
  auto fd = AK_TRY(open_fd(abs_path, O_RDONLY | O_NOFOLLOW));
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  // stream_fd reads with a 256 KiB buffer into the sink, which feeds core's Hasher.
  HashSink hash;
  auto n = stream_fd(fd.get(), hash);
  if (!n) return fail(n.error().context(abs_path.string()));
  Sha256Bytes b;
  auto bytes = hash.finish();
  std::memcpy(b.data(), bytes.data(), b.size());
  Digest digest(b);
  if (cache) cache->record(abs_path.string(), info, digest);
  return digest;
}

} // namespace akbuild::cas
