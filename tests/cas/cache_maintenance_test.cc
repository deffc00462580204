#include <doctest/doctest.h>

#include <ctime>
#include <optional>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/cas/cache_dir.hh"
#include "runner/cas/leftovers.hh"
#include "runner/cas/tree.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
using namespace akbuild::cas;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<CacheDir> open_cache(const test::TestDir& dir) {
  auto cache = CacheDir::open(dir / "cache");
  REQUIRE(cache);
  return std::move(*cache);
}

void set_mtime(const fs::path& p, std::int64_t seconds_ago) {
  timespec times[2];
  ::clock_gettime(CLOCK_REALTIME, &times[0]);
  times[0].tv_sec -= seconds_ago;
  times[1] = times[0];
  REQUIRE(::utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
}

// Dates every blob an hour back: older than gc's grace for blobs a step in flight may name.
void age_blobs(const test::TestDir& dir) {
  for (auto& e : fs::recursive_directory_iterator(dir / "cache" / "cas"))
    if (e.is_regular_file()) set_mtime(e.path(), 3600);
}

// An action whose output tree holds 8 KiB of its own and a file other actions share.
Digest add_action(CacheDir& cache, const test::TestDir& dir, const std::string& name, const std::string& shared) {
  fs::path out = dir / ("out-" + name);
  test::write(out / "unique.bin", std::string(8192, name[0]));
  test::write(out / "shared.txt", shared);
  auto root = store_tree(cache.blobs(), out);
  REQUIRE(root);
  auto key = Digest::of(std::string_view(name));
  ActionRecord r;
  r.key = key;
  r.step_id = name;
  r.outputs["out/"] = {ActionOutput::Kind::tree, *root};
  REQUIRE(cache.actions().put(r));
  return key;
}

bool has_action(CacheDir& cache, const Digest& key) { return fs::exists(cache.actions().record_path(key)); }

const std::vector<std::string> k_declared{"out/"};

// A file or dir left in the cache dir, dated `seconds_ago`.
fs::path leave(const fs::path& p, std::int64_t seconds_ago, bool dir = false) {
  if (dir) {
    test::write(p / "lock", "");
    test::write(p / "out" / "big.bin", std::string(4096, 'x'));
  } else {
    test::write(p, std::string(1000, 'x'));
  }
  set_mtime(p, seconds_ago);
  return p;
}

// Holds a flock on a file as a live writer of it does.
struct Flocked {
  explicit Flocked(const fs::path& p) : fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC)) {
    REQUIRE(fd >= 0);
    REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
  }
  ~Flocked() { ::close(fd); }
  int fd;
};

} // namespace

TEST_CASE("cache_stats counts blobs, their bytes and actions") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  REQUIRE(cache->blobs().put("12345"));
  REQUIRE(cache->blobs().put("678"));
  REQUIRE(cache->actions().set_last_manifest("s", "m"));  // not an action
  auto stats = cache_stats(*cache);
  REQUIRE(stats);
  CHECK(stats->blobs == 2);
  CHECK(stats->blob_bytes == 8);
  CHECK(stats->actions == 0);
  add_action(*cache, dir, "a", "shared");
  CHECK(cache_stats(*cache)->actions == 1);
}

TEST_CASE("gc removes least recently used actions first and keeps blobs live actions reference") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  auto a = add_action(*cache, dir, "a", "shared content");
  auto b = add_action(*cache, dir, "b", "shared content");
  auto c = add_action(*cache, dir, "c", "shared content");
  age_blobs(dir);
  set_mtime(cache->actions().record_path(a), 300);
  set_mtime(cache->actions().record_path(b), 200);
  set_mtime(cache->actions().record_path(c), 100);
  auto shared = Digest::of(std::string_view("shared content"));
  auto unique_a = Digest::of(std::string_view(std::string(8192, 'a')));
  std::uint64_t total = cache_stats(*cache)->total_bytes;

  // Room for all but about one action: only the oldest goes, with the blobs only it reached.
  auto report = gc_cache(*cache, total - 8000);
  REQUIRE(report);
  CHECK(report->removed_actions == 1);
  CHECK_FALSE(has_action(*cache, a));
  CHECK(has_action(*cache, b));
  CHECK(has_action(*cache, c));
  CHECK_FALSE(*cache->blobs().contains(unique_a));
  CHECK(*cache->blobs().contains(shared));
  CHECK(report->kept_bytes == cache_stats(*cache)->total_bytes);
  CHECK(report->kept_bytes <= total - 8000);

  // A hit makes b the most recently used, so c goes next.
  REQUIRE(*cache->actions().get(b, k_declared));
  REQUIRE(gc_cache(*cache, report->kept_bytes - 8000));
  CHECK_FALSE(has_action(*cache, c));
  CHECK(has_action(*cache, b));
  auto record = *cache->actions().get(b, k_declared);
  auto root = record->outputs.at("out/").digest;
  CHECK(verify_tree(cache->blobs(), root));
  REQUIRE(materialize_tree(cache->blobs(), root, dir / "restored"));
  CHECK(test::read(dir / "restored" / "shared.txt") == "shared content");
}

TEST_CASE("gc under the limit removes nothing, and keeps blobs put moments ago") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  auto a = add_action(*cache, dir, "a", "s");
  auto before = *cache_stats(*cache);
  auto report = gc_cache(*cache, before.total_bytes);
  REQUIRE(report);
  CHECK(report->removed_actions == 0);
  CHECK(report->removed_blobs == 0);
  // Over the limit, but every blob is young: the record goes, its blobs stay until they age.
  auto young = gc_cache(*cache, 0);
  REQUIRE(young);
  CHECK_FALSE(has_action(*cache, a));
  CHECK(young->removed_blobs == 0);
  CHECK(cache_stats(*cache)->blobs == before.blobs);
  age_blobs(dir);
  REQUIRE(gc_cache(*cache, 0));
  CHECK(cache_stats(*cache)->blobs == 0);
}

TEST_CASE("verify_cache evicts corrupt blobs and drops the actions that needed them") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  auto a = add_action(*cache, dir, "a", "shared");
  auto b = add_action(*cache, dir, "b", "shared");
  auto clean = verify_cache(*cache);
  REQUIRE(clean);
  CHECK(clean->problems.empty());
  CHECK(clean->actions_checked == 2);

  auto unique_b = Digest::of(std::string_view(std::string(8192, 'b')));
  fs::path blob = cache->blobs().local_path(unique_b);
  ::chmod(blob.c_str(), 0644);
  test::write(blob, std::string(8192, 'B'));
  auto report = verify_cache(*cache);
  REQUIRE(report);
  CHECK(report->corrupt_removed == 1);
  CHECK(report->actions_removed == 1);
  REQUIRE(report->problems.size() == 2);
  CHECK(report->problems[0].find(unique_b.hex()) != std::string::npos);
  CHECK(has_action(*cache, a));
  CHECK_FALSE(has_action(*cache, b));
  CHECK(verify_cache(*cache)->problems.empty());
}

TEST_CASE("gc reclaims what killed runs left, unless a live process holds it or it is fresh; stats counts it") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  const auto& layout = cache->layout();
  const std::int64_t old = 3600;
  auto dead_run = leave(layout.tmp() / "run-dead01", old, true);
  auto live_run = leave(layout.tmp() / "run-live01", old, true);
  auto held_run = FileLock::acquire(live_run / "lock");
  REQUIRE(held_run);
  auto fresh_run = leave(layout.tmp() / "run-fresh1", 0, true);
  auto dead_blob = leave(layout.tmp() / "blob-dead01", old);
  auto live_blob = leave(layout.tmp() / "blob-live01", old);
  Flocked writing(live_blob);
  auto dead_key = Digest::of(std::string_view("dead")), live_key = Digest::of(std::string_view("live"));
  {
    auto once = cache->lock_action(dead_key);  // an action that ran once, long ago
    REQUIRE(once);
  }
  set_mtime(cache->lock_path(dead_key), old);
  auto running = cache->lock_action(live_key);
  REQUIRE(running);
  set_mtime(cache->lock_path(live_key), old);
  auto stray = leave(layout.actions() / "ab" / ".tmp-abcd-XYZ123", old);

  auto before = cache_stats(*cache);
  REQUIRE(before);
  CHECK(before->leftovers.entries == 4);
  CHECK(before->leftovers.bytes == 4096 + 1000 + 1000);

  auto report = gc_cache(*cache, std::uint64_t{1} << 40);
  REQUIRE(report);
  CHECK(report->removed_leftovers == 4);
  CHECK(report->freed_bytes == 4096 + 1000 + 1000);
  for (const auto& gone : {dead_run, dead_blob, cache->lock_path(dead_key), stray}) CHECK_FALSE(fs::exists(gone));
  for (const auto& kept : {live_run, fresh_run, live_blob, cache->lock_path(live_key)}) CHECK(fs::exists(kept));
  CHECK(cache_stats(*cache)->leftovers.entries == 0);

  // Once its process is gone, the lock file is a leftover too, and the next run makes a new one.
  running = FileLock();
  set_mtime(cache->lock_path(live_key), old);
  REQUIRE(gc_cache(*cache, std::uint64_t{1} << 40));
  CHECK_FALSE(fs::exists(cache->lock_path(live_key)));
  REQUIRE(cache->lock_action(live_key));
  CHECK(fs::exists(cache->lock_path(live_key)));
}

TEST_CASE("lock_action takes the lock again on the new file when gc removed the one it waited on") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  auto key = Digest::of(std::string_view("k"));
  fs::path p = cache->lock_path(key);
  REQUIRE(cache->lock_action(key));
  struct stat old {};
  REQUIRE(::stat(p.c_str(), &old) == 0);
  // gc holds the idle file's lock while it removes it.
  auto gc_hold = FileLock::acquire(p);
  REQUIRE(gc_hold);
  std::optional<Result<FileLock>> waited;
  std::thread waiter([&] { waited = cache->lock_action(key); });
  // /proc/locks lists a waiter blocked on a lock with "->": wait until the thread blocks on the
  // old file, then remove it as gc does.
  auto blocked = [&] {
    std::istringstream locks(test::read("/proc/locks"));
    for (std::string line; std::getline(locks, line);)
      if (line.find("-> FLOCK") != std::string::npos &&
          line.find(":" + std::to_string(old.st_ino) + " ") != std::string::npos)
        return true;
    return false;
  };
  while (!blocked()) std::this_thread::yield();
  REQUIRE(::unlink(p.c_str()) == 0);
  gc_hold = FileLock();
  waiter.join();
  REQUIRE(waited);
  REQUIRE(*waited);
  // The waiter holds the file now at the path, so a process arriving now waits for it.
  auto arriving = FileLock::try_acquire(p);
  REQUIRE(arriving);
  CHECK_FALSE(arriving->held());
}

TEST_CASE("gc orders every area by last use: an old tool version goes before a recent action") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  auto a = add_action(*cache, dir, "a", "shared");
  age_blobs(dir);
  fs::path tool = cache->layout().tools() / (std::string(64, 'c') + ".version");
  fs::path nar = cache->layout().nar_hashes() / std::string(64, 'd');
  test::write(tool, std::string(3000, 't'));
  test::write(nar, std::string(3000, 'n'));
  set_mtime(tool, 7200);
  set_mtime(nar, 60);
  set_mtime(cache->actions().record_path(a), 600);
  auto total = cache_stats(*cache)->total_bytes;
  auto report = gc_cache(*cache, total - 2000);
  REQUIRE(report);
  CHECK(report->removed_entries == 1);
  CHECK(report->removed_actions == 0);
  CHECK_FALSE(fs::exists(tool));
  CHECK(fs::exists(nar));
  CHECK(has_action(*cache, a));
  // Tighter: the action (older than the NAR hash entry) goes next, with its blobs.
  REQUIRE(gc_cache(*cache, report->kept_bytes - 4000));
  CHECK_FALSE(has_action(*cache, a));
  CHECK(fs::exists(nar));
}

TEST_CASE("remote-actions: stats count each cloned commit, verify removes what is not one, gc drops the least recently used") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  // As `akbuild act` clones them: <host or file:// path>/<owner>/<repo>/<commit>.
  fs::path repo = cache->layout().remote_actions() / "data.forgejo.org/actions/hello";
  fs::path old_commit = repo / std::string(40, 'a'), new_commit = repo / std::string(40, 'b');
  fs::path deep = cache->layout().remote_actions() / "srv/git/mirror/some-org/tool" / std::string(64, 'c');
  test::write(old_commit / "action.yml", std::string(3000, 'o'));
  test::write(old_commit / "dist/index.js", std::string(1000, 'j'));
  test::write(new_commit / "action.yml", std::string(3000, 'n'));
  test::write(deep / ".forgejo/workflows/build.yml", std::string(500, 'w'));
  set_mtime(old_commit, 7200);
  set_mtime(new_commit, 60);
  set_mtime(deep, 30);

  auto stats = cache_stats(*cache);
  REQUIRE(stats);
  CHECK(stats->remote_actions.entries == 3);
  CHECK(stats->remote_actions.bytes == 7500);
  CHECK(stats->total_bytes >= 7500);

  // Not entries: a file where a repository's commits are, and what a killed clone left beside them.
  test::write(repo.parent_path() / "stray", "x");
  test::write(repo / (std::string(40, 'd') + ".tmp-XYZ") / "action.yml", "half");
  auto report = verify_cache(*cache);
  REQUIRE(report);
  CHECK(report->entries_removed == 2);
  CHECK(report->entries_checked == 5);
  CHECK_FALSE(fs::exists(repo.parent_path() / "stray"));
  CHECK_FALSE(fs::exists(repo / (std::string(40, 'd') + ".tmp-XYZ")));
  CHECK(fs::exists(old_commit / "dist/index.js"));

  auto total = cache_stats(*cache)->total_bytes;
  auto gc = gc_cache(*cache, total - 1000);
  REQUIRE(gc);
  CHECK(gc->removed_entries == 1);
  CHECK_FALSE(fs::exists(old_commit));
  CHECK(fs::exists(new_commit / "action.yml"));
  CHECK(fs::exists(deep));
  CHECK(cache_stats(*cache)->remote_actions.entries == 2);
}
