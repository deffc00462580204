// `akbuild cache stats|verify|gc`, driven as a user would.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

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

// An action with a one-file output, stored through the library into <dir>/cache.
Digest populate(const test::TestDir& dir, const std::string& content) {
  auto cache = CacheDir::open(dir / "cache");
  REQUIRE(cache);
  test::write(dir / "out" / content / "f.txt", content);
  auto root = store_tree((*cache)->blobs(), dir / "out" / content);
  REQUIRE(root);
  auto key = Digest::of(std::string_view(content));
  v1::ActionResult r;
  r.set_key(key.hex());
  (*r.mutable_outputs())["out/"] = root->hex();
  REQUIRE((*cache)->actions().put(key, r));
  return key;
}

std::size_t lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

} // namespace

TEST_CASE("akbuild cache stats prints counts, and one JSON object with --json") {
  test::TestDir dir;
  populate(dir, "hello");
  auto text = test::akbuild(dir, {"cache", "stats"});
  CHECK(text.exit_code == 0);
  CHECK(text.out.find("actions     1") != std::string::npos);
  CHECK(text.out.find("blobs       2") != std::string::npos);
  auto json = test::akbuild(dir, {"cache", "stats", "--json"});
  CHECK(json.exit_code == 0);
  CHECK(json.out.find("\"blobs\":2,\"blob_bytes\":") != std::string::npos);
  CHECK(json.out.find("\"actions\":1}") != std::string::npos);
  CHECK(lines(json.out) == 1);
  // A cache dir whose path needs escaping still gives valid JSON naming it.
  auto odd = dir / "quote\"and\\backslash";
  auto escaped = test::akbuild(dir, {"--cache-dir", odd.string(), "cache", "stats", "--json"});
  REQUIRE(escaped.exit_code == 0);
  CHECK(nlohmann::json::parse(escaped.out)["cache_dir"] == odd.string());
}

TEST_CASE("akbuild cache gc with a bad size exits 2 naming it") {
  test::TestDir dir;
  for (std::string bad : {"abc", "5X", "-1G", "1.G", ""}) {
    CAPTURE(bad);
    auto r = test::akbuild(dir, {"cache", "gc", "--max-size", bad});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("'" + bad + "'") != std::string::npos);
    CHECK(lines(r.err) == 1);
  }
  CHECK(test::akbuild(dir, {"cache", "gc"}).exit_code == 2);
  CHECK(test::akbuild(dir, {"cache"}).exit_code == 2);
  CHECK_FALSE(fs::exists(dir / "cache" / "gc.lock"));
}

TEST_CASE("akbuild cache gc --max-size 0 empties a cache of old entries") {
  test::TestDir dir;
  populate(dir, "one");
  populate(dir, "two");
  for (auto& e : fs::recursive_directory_iterator(dir / "cache" / "cas"))
    if (e.is_regular_file()) fs::last_write_time(e.path(), fs::file_time_type::clock::now() - std::chrono::hours(2));
  auto r = test::akbuild(dir, {"cache", "gc", "--max-size", "0"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("removed 2 actions and 4 blobs") != std::string::npos);
  auto big = test::akbuild(dir, {"cache", "gc", "--max-size", "2G", "--json"});
  CHECK(big.exit_code == 0);
  CHECK(big.out == "{\"removed_actions\":0,\"removed_blobs\":0,\"freed_bytes\":0,\"kept_bytes\":0}\n");
}

TEST_CASE("akbuild cache verify reports a hand-corrupted blob, evicts it and exits 1") {
  test::TestDir dir;
  populate(dir, "hello");
  auto clean = test::akbuild(dir, {"cache", "verify"});
  CHECK(clean.exit_code == 0);
  CHECK(clean.out == "checked 2 blobs and 1 actions: 0 corrupt blobs removed, 0 actions removed\n");

  auto d = Digest::of(std::string_view("hello"));
  fs::path blob = dir / "cache" / "cas" / "sha256" / d.hex().substr(0, 2) / d.hex().substr(2);
  REQUIRE(fs::exists(blob));
  ::chmod(blob.c_str(), 0644);
  test::write(blob, "jello");
  auto r = test::akbuild(dir, {"cache", "verify"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find(d.hex()) != std::string::npos);
  CHECK(r.out.find("1 corrupt blobs removed, 1 actions removed") != std::string::npos);
  CHECK_FALSE(fs::exists(blob));
  CHECK(test::akbuild(dir, {"cache", "verify"}).exit_code == 0);
}

TEST_CASE("akbuild cache with an unwritable cache dir: one line, exit 2, nothing created") {
  // setpriv drops root, which ignores permission bits.
  if (!test::have_program("setpriv")) return test::skip("setpriv is not installed");
  test::TestDir dir;
  fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::others_read | fs::perms::others_exec);
  fs::create_directories(dir / "ro");
  fs::permissions(dir / "ro", fs::perms::owner_read | fs::perms::owner_exec | fs::perms::others_read |
                                  fs::perms::others_exec);
  fs::path cache = dir / "ro" / "cache";
  auto r = test::run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", test::akbuild_bin().string(),
                      "--cache-dir", cache.string(), "cache", "stats"});
  CHECK(r.exit_code == 2);
  CHECK(r.err == "akbuild: error: cache dir " + cache.string() + ": not writable: Permission denied\n");
  CHECK(fs::is_empty(dir / "ro"));
}
