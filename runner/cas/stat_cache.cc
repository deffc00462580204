#include "runner/cas/stat_cache.hh"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <ctime>
#include <mutex>
#include <unordered_map>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/core/atomic_file.hh"
#include "runner/core/clock.hh"
#include "runner/core/file_hash.hh"
#include "runner/core/fs.hh"
#include "runner/core/hash.hh"

namespace akbuild::cas {

namespace {

// How far a file's mtime may trail the moment it was really written. Linux stamps files from a
// coarse clock (a few ms behind), and some filesystems round to seconds (FAT even to two), so
// an entry is trusted only for files whose mtime is more than this before the entry was made.
constexpr std::int64_t k_timestamp_granularity_ns = 2'000'000'000;

// Beyond this many entries the oldest recordings are dropped when the file is rewritten.
constexpr std::size_t k_max_entries = 1'000'000;

constexpr char k_magic[24] = "akbuild-stat-cache 1\n";

// The file, like git's index: a header, then fixed-size records sorted by path hash. It is
// mapped, not parsed, so a run that changes nothing pays nothing to load it (an SQLite table of
// 25,000 rows took 20 ms to read into a map). Rows are keyed by a 64-bit hash of the absolute
// path: a collision cannot serve a wrong digest, since every stat field (dev and inode among
// them) must match too, and the same dev/inode/ctime is the same file.
struct Header {
  char magic[24];
  std::uint64_t count;
  unsigned char checksum[32];  // sha256 of the records: a torn or foreign file is ignored
};
struct Record {
  std::uint64_t path_hash, dev, ino, size;
  std::int64_t mtime_ns, ctime_ns, recorded_at_ns;
  unsigned char digest[32];
};
static_assert(sizeof(Header) == 64 && sizeof(Record) == 88);


// FNV-1a: fixed across versions and platforms (std::hash is neither), and fast on short keys.
std::uint64_t path_hash(std::string_view path) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : path) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

Record make_record(std::uint64_t key, const FileInfo& info, const Digest& digest, std::int64_t recorded_at) {
  Record r{};
  r.path_hash = key;
  r.dev = info.dev;
  r.ino = info.ino;
  r.size = info.size;
  r.mtime_ns = info.mtime_ns;
  r.ctime_ns = info.ctime_ns;
  r.recorded_at_ns = recorded_at;
  std::memcpy(r.digest, digest.bytes().data(), sizeof r.digest);
  return r;
}

// A read-only mapping of the file as it was when opened (a rename replacing it leaves the mapping
// intact). Empty when the file is missing, short, foreign or fails its checksum.
class Snapshot {
public:
  Snapshot() = default;
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;
  Snapshot(Snapshot&& o) noexcept : m_base(o.m_base), m_size(o.m_size), m_records(o.m_records), m_count(o.m_count) {
    o.m_base = nullptr;
  }
  Snapshot& operator=(Snapshot&& o) noexcept {
    std::swap(m_base, o.m_base);
    std::swap(m_size, o.m_size);
    std::swap(m_records, o.m_records);
    std::swap(m_count, o.m_count);
    return *this;
  }
  ~Snapshot() {
    if (m_base) ::munmap(m_base, m_size);
  }

  static Snapshot load(const std::filesystem::path& path) {
    Snapshot s;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0 || static_cast<std::size_t>(st.st_size) < sizeof(Header)) return s;
    auto size = static_cast<std::size_t>(st.st_size);
    void* base = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (base == MAP_FAILED) return s;
    s.m_base = base;
    s.m_size = size;
    Header h;
    std::memcpy(&h, base, sizeof h);
    if (std::memcmp(h.magic, k_magic, sizeof h.magic) != 0 || (size - sizeof h) % sizeof(Record) != 0 ||
        (size - sizeof h) / sizeof(Record) != h.count)
      return Snapshot{};
    auto body = std::span(static_cast<const std::byte*>(base) + sizeof h, size - sizeof h);
    if (std::memcmp(sha256(body).data(), h.checksum, sizeof h.checksum) != 0) return Snapshot{};
    s.m_records = reinterpret_cast<const Record*>(body.data());
    s.m_count = h.count;
    return s;
  }

  const Record* find(std::uint64_t key) const {
    const Record* end = m_records + m_count;
    const Record* it = std::lower_bound(m_records, end, key,
                                        [](const Record& r, std::uint64_t k) { return r.path_hash < k; });
    return it != end && it->path_hash == key ? it : nullptr;
  }
  std::span<const Record> records() const { return {m_records, m_count}; }

private:
  void* m_base = nullptr;
  std::size_t m_size = 0;
  const Record* m_records = nullptr;
  std::size_t m_count = 0;
};

class FileStatCache final : public StatCache {
public:
  FileStatCache(std::filesystem::path path, bool read_only) : m_path(std::move(path)), m_read_only(read_only) {}
  ~FileStatCache() override { (void)flush(); }

  // Called from the scanning threads for every file: the mapped snapshot is read without a lock
  // (it never changes once loaded); only records made by this process need one.
  std::optional<Digest> lookup(std::string_view abs_path, const FileInfo& info) override {
    std::uint64_t key = path_hash(abs_path);
    std::optional<Record> fresh;
    if (m_has_fresh.load(std::memory_order_acquire)) {
      std::lock_guard lock(m_mutex);
      if (const Record* r = find_fresh(key)) fresh = *r;
    }
    std::call_once(m_loaded, [this] { m_snapshot = Snapshot::load(m_path); });
    const Record* r = fresh ? &*fresh : m_snapshot.find(key);
    if (!r) return std::nullopt;
    if (r->dev != info.dev || r->ino != info.ino || r->size != info.size || r->mtime_ns != info.mtime_ns ||
        r->ctime_ns != info.ctime_ns)
      return std::nullopt;
    // Racily clean: written so close to the recording that a later write may share its mtime.
    if (info.mtime_ns >= r->recorded_at_ns - k_timestamp_granularity_ns) return std::nullopt;
    Sha256Bytes b;
    std::memcpy(b.data(), r->digest, b.size());
    return Digest(b);
  }

  void record(std::string_view abs_path, const FileInfo& info, const Digest& digest) override {
    Record r = make_record(path_hash(abs_path), info, digest, wall_clock_ns());
    std::lock_guard lock(m_mutex);
    m_fresh.insert_or_assign(r.path_hash, r);
    m_dirty = true;
    m_has_fresh.store(true, std::memory_order_release);
  }

  // Merges what this process recorded into the file as it is now (other processes may have
  // replaced it since it was mapped), under a lock, through a temp file and a rename. No fsync:
  // a file torn by a crash fails its checksum and only costs re-hashing.
  Result<> flush() override {
    std::lock_guard lock(m_mutex);
    // A read-only cache dir keeps this process's records in memory only.
    if (!m_dirty || m_read_only) return ok();
    auto held = FileLock::acquire(m_path.string() + ".lock");
    if (!held) return fail(held.error().context("stat cache"));
    Snapshot current = Snapshot::load(m_path);
    std::vector<Record> fresh;
    fresh.reserve(m_fresh.size());
    for (const auto& [key, r] : m_fresh) fresh.push_back(r);
    auto by_key = [](const Record& a, const Record& b) { return a.path_hash < b.path_hash; };
    std::sort(fresh.begin(), fresh.end(), by_key);
    std::vector<Record> merged;
    merged.reserve(current.records().size() + fresh.size());
    // Both sorted; on equal keys the fresh record wins.
    auto old = current.records();
    std::size_t i = 0, j = 0;
    while (i < old.size() || j < fresh.size()) {
      if (j == fresh.size() || (i < old.size() && old[i].path_hash < fresh[j].path_hash)) {
        merged.push_back(old[i++]);
      } else {
        if (i < old.size() && old[i].path_hash == fresh[j].path_hash) ++i;
        merged.push_back(fresh[j++]);
      }
    }
    if (merged.size() > k_max_entries) {
      std::nth_element(merged.begin(), merged.begin() + k_max_entries, merged.end(),
                       [](const Record& a, const Record& b) { return a.recorded_at_ns > b.recorded_at_ns; });
      merged.resize(k_max_entries);
      std::sort(merged.begin(), merged.end(), by_key);
    }
    Header h{};
    std::memcpy(h.magic, k_magic, sizeof h.magic);
    h.count = merged.size();
    auto body = std::as_bytes(std::span(merged));
    auto sum = sha256(body);
    std::memcpy(h.checksum, sum.data(), sizeof h.checksum);
    AK_TRY_VOID(write_replacing(h, body));
    m_dirty = false;
    return ok();
  }

private:
  Result<> write_replacing(const Header& h, std::span<const std::byte> body) {
    std::string what = "stat cache " + m_path.string();
    // Unsynced: the file is checksummed when read and only saves work, so a crash may lose it,
    // and a step's no-op run does not wait for a disk flush.
    auto file = AtomicFile::create(m_path, 0644, AtomicFile::Durability::unsynced);
    if (!file) return fail(file.error().context(what));
    auto written = write_all(file->fd(), std::as_bytes(std::span(&h, 1)));
    if (written) written = write_all(file->fd(), body);
    if (written) written = file->commit();
    if (!written) return fail(written.error().context(what));
    return ok();
  }

  const Record* find_fresh(std::uint64_t key) const {
    auto it = m_fresh.find(key);
    return it != m_fresh.end() ? &it->second : nullptr;
  }

  std::filesystem::path m_path;
  bool m_read_only = false;
  std::mutex m_mutex;
  std::once_flag m_loaded;
  std::atomic<bool> m_has_fresh{false};
  bool m_dirty = false;
  Snapshot m_snapshot;
  std::unordered_map<std::uint64_t, Record> m_fresh;  // recorded by this process, the newest per key
};

} // namespace

Result<std::unique_ptr<StatCache>> StatCache::open(const std::filesystem::path& path, bool read_only) {
  // Nothing is read until the first lookup; only check now that the directory takes files.
  auto dir = path.parent_path();
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return fail(errno_error("stat cache " + path.string() + ": open"));
  return std::unique_ptr<StatCache>(new FileStatCache(path, read_only));
}

Result<Digest> hash_file_cached(StatCache* cache, const std::filesystem::path& abs_path, const FileInfo& info) {
  if (cache) {
    if (auto d = cache->lookup(abs_path.string(), info)) return *d;
  }
  auto bytes = hash_file_at(AT_FDCWD, abs_path.c_str(), info.size);
  if (!bytes) return fail(bytes.error().context(abs_path.string()));
  Digest digest(*bytes);
  if (cache) cache->record(abs_path.string(), info, digest);
  return digest;
}

} // namespace akbuild::cas
