// cache_stats, verify_cache and gc_cache (declared in cache_dir.hh): whole-cache passes over every
// area of the layout CacheDir owns.
#include <algorithm>
#include <cerrno>
#include <ctime>
#include <unordered_map>
#include <unordered_set>

#include <sys/stat.h>
#include <unistd.h>

#include "runner/cas/cache_dir.hh"
#include "runner/cas/leftovers.hh"
#include "runner/cas/tree.hh"
#include "runner/core/clock.hh"
#include "runner/core/fs.hh"

namespace akbuild::cas {

namespace fs = std::filesystem;

namespace {

// Blobs touched (put or re-put) this recently are kept by gc even when no action names them:
// a step in flight stores its outputs before it writes the action record that names them.
constexpr std::int64_t k_young_blob_ns = 5LL * 60 * 1'000'000'000;


std::int64_t mtime_ns(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// A blob's last use: while it carries the intact mark (an mtime of 1 s, blob_store.hh), its
// atime, set when it is stored or put again; else its mtime, its last write.
std::int64_t blob_use_ns(const struct stat& st) {
  if (st.st_mtim.tv_sec != 1 || st.st_mtim.tv_nsec != 0) return mtime_ns(st);
  return static_cast<std::int64_t>(st.st_atim.tv_sec) * 1'000'000'000 + st.st_atim.tv_nsec;
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
// when `name_is_full`) spell a digest. Temp files and other names are skipped. `blobs`: their
// time is blob_use_ns, else the mtime.
Result<std::vector<StoredFile>> list_sharded(const fs::path& dir, bool name_is_full, bool blobs = false) {
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
      out.push_back({*Digest::parse(hex), it->path(), static_cast<std::uint64_t>(st.st_size),
                     blobs ? blob_use_ns(st) : mtime_ns(st)});
    }
    if (ec2) return fail(errno_error(shard->path().string(), ec2.value()));
  }
  if (ec && ec != std::errc::no_such_file_or_directory) return fail(errno_error(dir.string(), ec.value()));
  return out;
}

Result<std::vector<StoredFile>> list_blobs(CacheDir& cache) { return list_sharded(cache.layout().blobs(), false, true); }
Result<std::vector<StoredFile>> list_actions(CacheDir& cache) { return list_sharded(cache.layout().actions(), true); }
Result<std::vector<StoredFile>> list_layers(CacheDir& cache) { return list_sharded(cache.layout().layers(), true); }

// An entry of an area whose files are their own units (tool versions, NAR hashes, push records,
// last manifests): nothing else refers to them, and losing one costs recomputing it.
struct AreaFile {
  fs::path path;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  bool well_formed = true;
};

struct Area {
  const char* name;
  fs::path dir;
  bool two_levels;                                    // <dir>/<group>/<name>
  bool (*valid)(std::string_view group, std::string_view name);
};

bool is_digest_name(std::string_view n) { return n.size() == 64 && is_hex(n); }

// What names each small area's entries (cache_layout.hh).
std::vector<Area> small_areas(const CacheLayout& layout) {
  return {
      {"tools", layout.tools(), false,
       [](std::string_view, std::string_view n) {
         return n.size() == 72 && n.ends_with(".version") && is_digest_name(n.substr(0, 64));
       }},
      {"nar-hash", layout.nar_hashes(), false, [](std::string_view, std::string_view n) { return is_digest_name(n); }},
      {"pushed", layout.pushed(), true,
       [](std::string_view g, std::string_view n) { return g.size() == 16 && is_hex(g) && is_digest_name(n); }},
      {"last manifests", layout.last_manifests(), false,
       [](std::string_view, std::string_view n) { return is_digest_name(n); }},
  };
}

// The files of an area; temp files of atomic writes are leftovers, not entries. Anything that is
// not a regular file with an entry's name is listed as not well-formed.
Result<std::vector<AreaFile>> list_area(const Area& area) {
  std::vector<AreaFile> out;
  auto add = [&](const fs::path& p, std::string_view group) {
    struct stat st {};
    std::string name = p.filename().string();
    if (name.starts_with(".tmp-") || ::lstat(p.c_str(), &st) != 0) return;
    bool regular = S_ISREG(st.st_mode);
    out.push_back({p, regular ? static_cast<std::uint64_t>(st.st_size) : 0, mtime_ns(st),
                   regular && area.valid(group, name)});
  };
  std::error_code ec;
  for (auto it = fs::directory_iterator(area.dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (!area.two_levels || ::lstat(it->path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      add(it->path(), {});
      continue;
    }
    std::string group = it->path().filename().string();
    std::error_code ec2;
    for (auto f = fs::directory_iterator(it->path(), ec2); !ec2 && f != fs::directory_iterator(); f.increment(ec2))
      add(f->path(), group);
  }
  if (ec && ec != std::errc::no_such_file_or_directory) return fail(errno_error(area.dir.string(), ec.value()));
  return out;
}

bool is_commit_name(std::string_view n) { return (n.size() == 40 || n.size() == 64) && is_hex(n); }

// The remote actions area (cache_layout.hh): each directory named by a commit, at the end of a
// path of any depth (a host, or a file:// path, then owner and repository), is one entry of its
// files' bytes, dated by its mtime (set on each use). A file or link elsewhere, and a dir left by
// a clone (".tmp-" in its name), is listed as not well-formed.
Result<std::vector<AreaFile>> list_remote_actions(const CacheLayout& layout) {
  std::vector<AreaFile> out;
  std::vector<fs::path> dirs{layout.remote_actions()};
  while (!dirs.empty()) {
    fs::path dir = std::move(dirs.back());
    dirs.pop_back();
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      struct stat st {};
      if (::lstat(it->path().c_str(), &st) != 0) continue;  // removed meanwhile
      std::string name = it->path().filename().string();
      bool is_dir = S_ISDIR(st.st_mode);
      if (is_dir && is_commit_name(name)) out.push_back({it->path(), tree_bytes(it->path()), mtime_ns(st), true});
      else if (is_dir && name.find(".tmp-") == std::string::npos) dirs.push_back(it->path());
      else out.push_back({it->path(), is_dir ? tree_bytes(it->path()) : static_cast<std::uint64_t>(st.st_size),
                          mtime_ns(st), false});
    }
    if (ec && ec != std::errc::no_such_file_or_directory) return fail(errno_error(dir.string(), ec.value()));
  }
  return out;
}

std::uint64_t size_of(const StoredFile& f) { return f.size; }
std::uint64_t size_of(const AreaFile& f) { return f.size; }
std::uint64_t size_of(const Leftover& l) { return l.bytes; }

template <typename File>
AreaStats sum(const std::vector<File>& files) {
  AreaStats s;
  for (const auto& f : files) ++s.entries, s.bytes += size_of(f);
  return s;
}

std::uint64_t bytes_of(const fs::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

// Every blob a record keeps alive: its output trees (records and contents), its logs.
Result<std::unordered_set<Digest>> action_blobs(BlobStore& store, const ActionRecord& record) {
  std::unordered_set<Digest> blobs;
  for (const auto& [path, output] : record.outputs) AK_TRY_VOID(collect_tree_blobs(store, output.digest, blobs));
  for (const auto* log : {&record.stdout_log, &record.stderr_log})
    if (*log) blobs.insert(**log);
  return blobs;
}

} // namespace

Result<CacheStats> cache_stats(CacheDir& cache) {
  CacheStats stats;
  auto blobs = sum(AK_TRY(list_blobs(cache)));
  stats.blobs = blobs.entries, stats.blob_bytes = blobs.bytes;
  stats.action_records = sum(AK_TRY(list_actions(cache)));
  stats.actions = stats.action_records.entries;
  stats.layers = sum(AK_TRY(list_layers(cache)));
  auto areas = small_areas(cache.layout());
  AreaStats* small[] = {&stats.tools, &stats.nar_hashes, &stats.pushed, &stats.last_manifests};
  for (std::size_t i = 0; i < areas.size(); ++i) *small[i] = sum(AK_TRY(list_area(areas[i])));
  stats.remote_actions = sum(AK_TRY(list_remote_actions(cache.layout())));
  if (auto bytes = bytes_of(cache.layout().stat_cache())) stats.stat_cache = AreaStats{1, bytes};
  stats.leftovers = sum(AK_TRY(find_leftovers(cache.layout())));
  stats.total_bytes = stats.blob_bytes + stats.action_records.bytes + stats.layers.bytes + stats.tools.bytes +
                      stats.nar_hashes.bytes + stats.pushed.bytes + stats.last_manifests.bytes +
                      stats.remote_actions.bytes + stats.stat_cache.bytes + stats.leftovers.bytes;
  return stats;
}

namespace {

// Drops a record that is invalid or names a blob that is gone; the problem line, or empty.
template <typename Store>
Result<std::string> verify_record(Store& store, BlobStore& blobs, const StoredFile& file, auto&& reached) {
  auto record = store.read(file.digest);
  if (!record) {
    if (record.error().code == ErrorCode::not_found) return std::string();
    if (record.error().code != ErrorCode::corrupt) return fail(record.error());
    return record.error().message;
  }
  auto named = reached(*record);
  if (!named) return named.error().message;
  for (const auto& d : *named)
    if (!AK_TRY(blobs.contains(d))) return "blob " + d.hex() + " is missing";
  return std::string();
}

} // namespace

Result<VerifyReport> verify_cache(CacheDir& cache) {
  AK_TRY_VOID(cache.require_writable("verify it"));
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
    auto problem = AK_TRY(verify_record(cache.actions(), cache.blobs(), a, [&](const ActionRecord& r) {
      return action_blobs(cache.blobs(), r);
    }));
    if (problem.empty()) continue;
    if (!problem.starts_with("action ")) problem = "action " + a.digest.hex() + ": " + problem;
    AK_TRY_VOID(cache.actions().remove(a.digest));
    ++report.actions_removed;
    report.problems.push_back(problem + "; action removed");
  }
  for (const auto& l : AK_TRY(list_layers(cache))) {
    ++report.layers_checked;
    auto problem = AK_TRY(verify_record(cache.layers(), cache.blobs(), l, [](const LayerRecord& r) {
      return Result<std::unordered_set<Digest>>(std::unordered_set<Digest>{r.blob});
    }));
    if (problem.empty()) continue;
    if (!problem.starts_with("layer ")) problem = "layer " + l.digest.hex() + ": " + problem;
    AK_TRY_VOID(cache.layers().remove(l.digest));
    ++report.layers_removed;
    report.problems.push_back(problem + "; layer record removed");
  }
  for (const auto& area : small_areas(cache.layout())) {
    for (const auto& f : AK_TRY(list_area(area))) {
      ++report.entries_checked;
      if (f.well_formed) continue;
      AK_TRY_VOID(remove_tree(f.path));
      ++report.entries_removed;
      report.problems.push_back(std::string(area.name) + ": " + f.path.string() + " is not an entry; removed");
    }
  }
  for (const auto& f : AK_TRY(list_remote_actions(cache.layout()))) {
    ++report.entries_checked;
    if (f.well_formed) continue;
    AK_TRY_VOID(remove_tree(f.path));
    ++report.entries_removed;
    report.problems.push_back("remote-actions: " + f.path.string() + " is not an entry; removed");
  }
  return report;
}

Result<GcReport> gc_cache(CacheDir& cache, std::uint64_t max_bytes) {
  AK_TRY_VOID(cache.require_writable("collect garbage in it"));
  auto lock = AK_TRY(FileLock::acquire(cache.layout().gc_lock()));
  const std::int64_t young = wall_clock_ns() - k_young_blob_ns;
  GcReport report;

  for (const auto& l : AK_TRY(find_leftovers(cache.layout()))) {
    if (!AK_TRY(remove_leftover(l))) continue;
    ++report.removed_leftovers;
    report.freed_bytes += l.bytes;
  }

  std::unordered_map<Digest, StoredFile> blobs;
  std::uint64_t total = bytes_of(cache.layout().stat_cache());
  for (auto& b : AK_TRY(list_blobs(cache))) total += b.size, blobs.emplace(b.digest, std::move(b));

  // What gc removes, least recently used first: action results and layer records (with the
  // blobs only they reach), and the entries of the small areas (their own bytes).
  enum class Kind { action, layer, entry };
  struct Unit {
    Kind kind;
    fs::path path;
    Digest key;  // of an action or a layer
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::unordered_set<Digest> blobs;
    bool broken = false;  // unreadable or naming a lost tree: goes first, keeps nothing alive
  };
  std::vector<Unit> units;
  for (auto& file : AK_TRY(list_actions(cache))) {
    Unit u{Kind::action, file.path, file.digest, file.size, file.mtime_ns, {}, false};
    auto record = cache.actions().read(file.digest);
    auto reached = record ? action_blobs(cache.blobs(), *record) : fail(record.error());
    if (reached) u.blobs = std::move(*reached);
    else if (reached.error().code == ErrorCode::io) return fail(reached.error());
    else u.broken = true;
    units.push_back(std::move(u));
  }
  for (auto& file : AK_TRY(list_layers(cache))) {
    Unit u{Kind::layer, file.path, file.digest, file.size, file.mtime_ns, {}, false};
    auto record = cache.layers().read(file.digest);
    if (record) u.blobs.insert(record->blob);
    else if (record.error().code == ErrorCode::io) return fail(record.error());
    else u.broken = true;
    units.push_back(std::move(u));
  }
  for (const auto& area : small_areas(cache.layout()))
    for (auto& f : AK_TRY(list_area(area)))
      units.push_back({Kind::entry, f.path, {}, f.size, f.mtime_ns, {}, !f.well_formed});
  for (auto& f : AK_TRY(list_remote_actions(cache.layout())))
    units.push_back({Kind::entry, f.path, {}, f.size, f.mtime_ns, {}, !f.well_formed});
  std::unordered_map<Digest, std::uint32_t> refs;
  for (const auto& u : units) {
    total += u.size;
    for (const auto& d : u.blobs) ++refs[d];
  }
  report.kept_bytes = total;
  if (total <= max_bytes) return report;
  std::sort(units.begin(), units.end(), [](const Unit& x, const Unit& y) {
    if (x.broken != y.broken) return x.broken;
    return x.mtime_ns < y.mtime_ns;
  });

  auto drop_blob = [&](const Digest& d) -> Result<> {
    auto it = blobs.find(d);
    if (it == blobs.end()) return ok();
    struct stat st {};
    // Re-checked now: a put since the listing refreshed it, and it may be about to be named.
    if (::lstat(it->second.path.c_str(), &st) != 0 || blob_use_ns(st) >= young) return ok();
    AK_TRY_VOID(cache.blobs().remove(d));
    ++report.removed_blobs;
    report.freed_bytes += it->second.size;
    total -= it->second.size;
    blobs.erase(it);
    return ok();
  };

  // Blobs no record names and nobody touched lately: nothing can miss them.
  std::vector<Digest> orphans;
  for (const auto& [d, b] : blobs)
    if (!refs.count(d)) orphans.push_back(d);
  std::sort(orphans.begin(), orphans.end(),
            [&](const Digest& x, const Digest& y) { return blobs.at(x).mtime_ns < blobs.at(y).mtime_ns; });
  for (const auto& d : orphans) {
    if (total <= max_bytes) break;
    AK_TRY_VOID(drop_blob(d));
  }

  for (const auto& u : units) {
    if (total <= max_bytes) break;
    struct stat st {};
    if (::lstat(u.path.c_str(), &st) != 0) continue;       // removed by someone else
    if (!u.broken && mtime_ns(st) != u.mtime_ns) continue;  // used since the listing
    if (u.kind == Kind::action) {
      AK_TRY_VOID(cache.actions().remove(u.key));
      ++report.removed_actions;
    } else if (u.kind == Kind::layer) {
      AK_TRY_VOID(cache.layers().remove(u.key));
      ++report.removed_layers;
    } else {
      AK_TRY_VOID(remove_tree(u.path));
      ++report.removed_entries;
    }
    report.freed_bytes += u.size;
    total -= u.size;
    for (const auto& d : u.blobs)
      if (--refs[d] == 0) AK_TRY_VOID(drop_blob(d));
  }
  report.kept_bytes = total;
  return report;
}

} // namespace akbuild::cas
