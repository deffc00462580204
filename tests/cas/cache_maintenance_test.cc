#include <doctest/doctest.h>

#include <ctime>

#include <fcntl.h>
#include <sys/stat.h>

#include "runner/cas/cache_dir.hh"
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
  v1::ActionResult r;
  r.set_key(key.hex());
  r.set_step_id(name);
  (*r.mutable_outputs())["out/"] = root->hex();
  REQUIRE(cache.actions().put(key, r));
  return key;
}

bool has_action(CacheDir& cache, const Digest& key) { return fs::exists(cache.actions().record_path(key)); }

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
  std::uint64_t total = cache_stats(*cache)->blob_bytes;

  // Room for all but about one action: only the oldest goes, with the blobs only it reached.
  auto report = gc_cache(*cache, total - 8000);
  REQUIRE(report);
  CHECK(report->removed_actions == 1);
  CHECK_FALSE(has_action(*cache, a));
  CHECK(has_action(*cache, b));
  CHECK(has_action(*cache, c));
  CHECK_FALSE(*cache->blobs().contains(unique_a));
  CHECK(*cache->blobs().contains(shared));
  CHECK(report->kept_bytes == cache_stats(*cache)->blob_bytes);
  CHECK(report->kept_bytes <= total - 8000);

  // A hit makes b the most recently used, so c goes next.
  REQUIRE(*cache->actions().get(b));
  REQUIRE(gc_cache(*cache, report->kept_bytes - 8000));
  CHECK_FALSE(has_action(*cache, c));
  CHECK(has_action(*cache, b));
  auto record = *cache->actions().get(b);
  auto root = Digest::parse(record->outputs().at("out/"));
  CHECK(verify_tree(cache->blobs(), *root));
  REQUIRE(materialize_tree(cache->blobs(), *root, dir / "restored"));
  CHECK(test::read(dir / "restored" / "shared.txt") == "shared content");
}

TEST_CASE("gc under the limit removes nothing, and keeps blobs put moments ago") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  auto a = add_action(*cache, dir, "a", "s");
  auto before = *cache_stats(*cache);
  auto report = gc_cache(*cache, before.blob_bytes);
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
