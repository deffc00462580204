#include <doctest/doctest.h>

#include <sys/stat.h>

#include "runner/cas/cache_dir.hh"
#include "runner/core/fs.hh"
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

v1::ActionResult sample_result(CacheDir& cache, const Digest& key) {
  v1::ActionResult r;
  r.set_key(key.hex());
  r.set_exit_code(0);
  r.set_stdout_digest(cache.blobs().put("out log")->hex());
  r.set_step_id("build");
  return r;
}

} // namespace

TEST_CASE("ActionCache stores a result under ac/<2 hex>/<key> and reads it back") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  auto key = Digest::of(std::string_view("manifest"));
  CHECK_FALSE(*cache->actions().get(key));
  auto result = sample_result(*cache, key);
  REQUIRE(cache->actions().put(key, result));
  CHECK(fs::exists(dir / "cache" / "ac" / key.hex().substr(0, 2) / key.hex()));
  auto got = cache->actions().get(key);
  REQUIRE(got);
  REQUIRE(got->has_value());
  CHECK((*got)->SerializeAsString() == result.SerializeAsString());
  REQUIRE(cache->actions().remove(key));
  CHECK_FALSE(*cache->actions().get(key));
}

TEST_CASE("ActionCache refuses a record whose blobs are not in the CAS") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  auto key = Digest::of(std::string_view("manifest"));
  auto result = sample_result(*cache, key);
  (*result.mutable_outputs())["out/"] = Digest::of(std::string_view("never stored")).hex();
  auto r = cache->actions().put(key, result);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::failed_precondition);
  CHECK(r.error().message.find("out/") != std::string::npos);
  CHECK_FALSE(*cache->actions().get(key));
}

TEST_CASE("ActionCache removes a record that does not parse and reports it corrupt") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  auto key = Digest::of(std::string_view("manifest"));
  REQUIRE(cache->actions().put(key, sample_result(*cache, key)));
  fs::path p = cache->actions().record_path(key);
  test::write(p, "\xff\xff\xff garbage");
  auto r = cache->actions().get(key);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::corrupt);
  CHECK(r.error().message.find(key.hex()) != std::string::npos);
  CHECK_FALSE(fs::exists(p));
  CHECK_FALSE(*cache->actions().get(key));
}

TEST_CASE("ActionCache refreshes a record's mtime on a hit") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  auto key = Digest::of(std::string_view("manifest"));
  REQUIRE(cache->actions().put(key, sample_result(*cache, key)));
  fs::path p = cache->actions().record_path(key);
  auto old = fs::file_time_type::clock::now() - std::chrono::hours(48);
  fs::last_write_time(p, old);
  REQUIRE(*cache->actions().get(key));
  CHECK(fs::last_write_time(p) > old + std::chrono::hours(24));
}

TEST_CASE("ActionCache remembers the last manifest per step id") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  CHECK_FALSE(*cache->actions().last_manifest("build"));
  REQUIRE(cache->actions().set_last_manifest("build", "one"));
  REQUIRE(cache->actions().set_last_manifest("test", "two"));
  REQUIRE(cache->actions().set_last_manifest("build", "three"));
  CHECK(**cache->actions().last_manifest("build") == "three");
  CHECK(**cache->actions().last_manifest("test") == "two");
  CHECK(fs::exists(dir / "cache" / "ac" / "last" / Digest::of(std::string_view("build")).hex()));
}

TEST_CASE("ActionCache refuses a record that names another key, as one copied under a wrong name") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  auto key = Digest::of(std::string_view("manifest"));
  auto other = Digest::of(std::string_view("other manifest"));
  REQUIRE(cache->actions().put(key, sample_result(*cache, key)));
  fs::create_directories(cache->actions().record_path(other).parent_path());
  fs::copy_file(cache->actions().record_path(key), cache->actions().record_path(other));
  auto r = cache->actions().get(other);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::corrupt);
  CHECK_FALSE(fs::exists(cache->actions().record_path(other)));
  CHECK(*cache->actions().get(key));
}
