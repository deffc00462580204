// cache_stats, verify_cache and gc_cache (declared in cache_dir.hh): whole-cache passes over the
// layout CacheDir fixes.
#include <algorithm>
#include <cerrno>
#include <ctime>
#include <unordered_map>
#include <unordered_set>

#include <sys/stat.h>
#include <unistd.h>

#include "runner/cas/cache_dir.hh"
#include "runner/cas/tree.hh"
#include "runner/core/fs.hh"

namespace akbuild::cas {

namespace fs = std::filesystem;

namespace {

// Blobs touched (put or re-put) this recently are kept by gc even when no action names them:
// a step in flight stores its outputs before it writes the action record that names them.
constexpr std::int64_t k_young_blob_ns = 5LL * 60 * 1'000'000'000;

std::int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::int64_t mtime_ns(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

struct StoredFile {
  Digest digest;
  fs::path path;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
};

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// The files of a two-level sharded dir (<dir>/<2 hex>/<name>) whose shard + name (or name alone,
// when `name_is_full`) spell a digest. Temp files and other names are skipped.
Result<std::vector<StoredFile>> list_sharded(const fs::path& dir, bool name_is_full) {
  std::vector<StoredFile> out;
  std::error_code ec;
  for (auto shard = fs::directory_iterator(dir, ec); !ec && shard != fs::directory_iterator(); shard.increment(ec)) {
    std::string prefix = shard->path().filename().string();
    if (prefix.size() != 2 || !is_hex(prefix)) continue;
    std::error_code ec2;
    for (auto it = fs::directory_iterator(shard->path(), ec2); !ec2 && it != fs::directory_iterator(); it.increment(ec2)) {
      std::string name = it->path().filename().string();
      std::string hex = name_is_full ? name : prefix + name;
      if (hex.size() != 64 || !is_hex(hex) || (name_is_full && !name.starts_with(prefix))) continue;
      struct stat st {};
      if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      out.push_back({*Digest::parse(hex), it->path(), static_cast<std::uint64_t>(st.st_size), mtime_ns(st)});
    }
    if (ec2) return fail(errno_error(shard->path().string(), ec2.value()));
  }
  if (ec && ec != std::errc::no_such_file_or_directory) return fail(errno_error(dir.string(), ec.value()));
  return out;
}

Result<std::vector<StoredFile>> list_blobs(CacheDir& cache) { return list_sharded(cache.root() / "cas" / "sha256", false); }
Result<std::vector<StoredFile>> list_actions(CacheDir& cache) { return list_sharded(cache.root() / "ac", true); }

// A record read without counting as a use (get() would refresh its access time).
Result<v1::ActionResult> read_record(const StoredFile& file) {
  auto bytes = AK_TRY(read_file(file.path));
  v1::ActionResult result;
  if (!result.ParseFromString(bytes) || (!result.key().empty() && result.key() != file.digest.hex()))
    return fail(ErrorCode::corrupt, "action " + file.digest.hex() + ": corrupt record");
  return result;
}

// Every blob a record keeps alive: its output trees (records and contents), its logs.
Result<std::unordered_set<Digest>> action_blobs(BlobStore& store, const v1::ActionResult& result) {
  std::unordered_set<Digest> blobs;
  for (const auto& [path, hex] : result.outputs()) {
    auto d = Digest::parse(hex);
    if (!d) return fail(ErrorCode::corrupt, "output " + path + ": " + d.error().message);
    AK_TRY_VOID(collect_tree_blobs(store, *d, blobs));
  }
  for (const auto* hex : {&result.stdout_digest(), &result.stderr_digest()}) {
    if (hex->empty()) continue;
    auto d = Digest::parse(*hex);
    if (!d) return fail(ErrorCode::corrupt, d.error().message);
    blobs.insert(*d);
  }
  return blobs;
}

} // namespace

Result<CacheStats> cache_stats(CacheDir& cache) {
  CacheStats stats;
  for (const auto& b : AK_TRY(list_blobs(cache))) ++stats.blobs, stats.blob_bytes += b.size;
  stats.actions = AK_TRY(list_actions(cache)).size();
  return stats;
}

Result<VerifyReport> verify_cache(CacheDir& cache) {
  VerifyReport report;
  for (const auto& b : AK_TRY(list_blobs(cache))) {
    HashSink discard;
    auto r = cache.blobs().read_to(b.digest, discard);
    ++report.blobs_checked;
    if (r) continue;
    if (r.error().code == ErrorCode::not_found) continue;  // removed meanwhile (gc)
    if (r.error().code != ErrorCode::corrupt) return fail(r.error());
    ++report.corrupt_removed;
    report.problems.push_back(r.error().message);
  }
  for (const auto& a : AK_TRY(list_actions(cache))) {
    ++report.actions_checked;
    std::string problem;
    auto record = read_record(a);
    if (!record) {
      if (record.error().code == ErrorCode::not_found) continue;
      problem = record.error().message;
    } else if (auto blobs = action_blobs(cache.blobs(), *record); !blobs) {
      problem = "action " + a.digest.hex() + ": " + blobs.error().message;
    } else {
      for (const auto& d : *blobs)
        if (!AK_TRY(cache.blobs().contains(d))) {
          problem = "action " + a.digest.hex() + ": blob " + d.hex() + " is missing";
          break;
        }
    }
    if (problem.empty()) continue;
    AK_TRY_VOID(cache.actions().remove(a.digest));
    ++report.actions_removed;
    report.problems.push_back(problem + "; action removed");
  }
  return report;
}

Result<GcReport> gc_cache(CacheDir& cache, std::uint64_t max_bytes) {
  auto lock = AK_TRY(FileLock::acquire(cache.root() / "gc.lock"));
  const std::int64_t young = now_ns() - k_young_blob_ns;
  GcReport report;

  std::unordered_map<Digest, StoredFile> blobs;
  std::uint64_t total = 0;
  for (auto& b : AK_TRY(list_blobs(cache))) total += b.size, blobs.emplace(b.digest, std::move(b));
  report.kept_bytes = total;
  if (total <= max_bytes) return report;

  struct Action {
    StoredFile file;
    std::unordered_set<Digest> blobs;
    bool broken = false;  // unreadable or naming a lost tree: goes first, keeps nothing alive
  };
  std::vector<Action> actions;
  std::unordered_map<Digest, std::uint32_t> refs;
  for (auto& file : AK_TRY(list_actions(cache))) {
    Action a{std::move(file), {}, false};
    auto record = read_record(a.file);
    auto reached = record ? action_blobs(cache.blobs(), *record) : fail(record.error());
    if (reached) a.blobs = std::move(*reached);
    else if (reached.error().code == ErrorCode::io) return fail(reached.error());
    else a.broken = true;
    for (const auto& d : a.blobs) ++refs[d];
    actions.push_back(std::move(a));
  }
  // Least recently used first (a hit refreshes the record's mtime).
  std::sort(actions.begin(), actions.end(), [](const Action& x, const Action& y) {
    if (x.broken != y.broken) return x.broken;
    return x.file.mtime_ns < y.file.mtime_ns;
  });

  auto drop_blob = [&](const Digest& d) -> Result<> {
    auto it = blobs.find(d);
    if (it == blobs.end()) return ok();
    struct stat st {};
    // Re-checked now: a put since the listing refreshed it, and it may be about to be named.
    if (::lstat(it->second.path.c_str(), &st) != 0 || mtime_ns(st) >= young) return ok();
    AK_TRY_VOID(cache.blobs().remove(d));
    ++report.removed_blobs;
    report.freed_bytes += it->second.size;
    total -= it->second.size;
    blobs.erase(it);
    return ok();
  };

  // Blobs no action names and nobody touched lately: nothing can miss them.
  std::vector<Digest> orphans;
  for (const auto& [d, b] : blobs)
    if (!refs.count(d)) orphans.push_back(d);
  std::sort(orphans.begin(), orphans.end(),
            [&](const Digest& x, const Digest& y) { return blobs.at(x).mtime_ns < blobs.at(y).mtime_ns; });
  for (const auto& d : orphans) {
    if (total <= max_bytes) break;
    AK_TRY_VOID(drop_blob(d));
  }

  for (const auto& a : actions) {
    if (total <= max_bytes) break;
    struct stat st {};
    if (::lstat(a.file.path.c_str(), &st) != 0) continue;     // removed by someone else
    if (!a.broken && mtime_ns(st) != a.file.mtime_ns) continue;  // used since the listing
    AK_TRY_VOID(cache.actions().remove(a.file.digest));
    ++report.removed_actions;
    for (const auto& d : a.blobs)
      if (--refs[d] == 0) AK_TRY_VOID(drop_blob(d));
  }
  report.kept_bytes = total;
  return report;
}

} // namespace akbuild::cas
