// `akbuild cache stats|verify|gc`, driven as a user would.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <ctime>

#include <fcntl.h>
#include <sys/stat.h>

#include "akbuild/v1/cache.pb.h"
#include "runner/cas/cache_dir.hh"
#include "runner/cas/sealed_record.hh"
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
  ActionRecord r;
  r.key = key;
  r.outputs["out/"] = {ActionOutput::Kind::tree, *root};
  REQUIRE((*cache)->actions().put(r));
  return key;
}

std::size_t lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

// A directory of `bytes` that do not compress (so its gzip layer is about as large).
void incompressible(const fs::path& dir, std::size_t bytes, unsigned seed) {
  std::string data(bytes, '\0');
  std::uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
  for (auto& c : data) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
  test::write(dir / "data.bin", data);
}

// `akbuild oci layer` of `source` through the cache; the layer's digest.
std::string make_layer(const test::TestDir& dir, const fs::path& source) {
  auto r = test::akbuild(dir, {"oci", "layer", source.string(), "--out", (dir / "layer.out").string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  fs::remove(dir / "layer.out");
  return nlohmann::json::parse(r.out)["digest"];
}

void age_all(const fs::path& root, std::int64_t seconds_ago) {
  for (auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file())
      fs::last_write_time(e.path(), fs::file_time_type::clock::now() - std::chrono::seconds(seconds_ago));
}

nlohmann::json stats_json(const test::TestDir& dir) {
  auto r = test::akbuild(dir, {"cache", "stats", "--json"});
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.out);
}

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
  CHECK(json.out.find("\"actions\":1,") != std::string::npos);
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
  CHECK(r.out.find("removed 2 actions, 0 layers, 0 other entries and 4 blobs") != std::string::npos);
  auto big = test::akbuild(dir, {"cache", "gc", "--max-size", "2G", "--json"});
  CHECK(big.exit_code == 0);
  CHECK(lines(big.out) == 1);
  auto j = nlohmann::json::parse(big.out);
  CHECK(j["removed_actions"] == 0);
  CHECK(j["removed_blobs"] == 0);
  CHECK(j["freed_bytes"] == 0);
  CHECK(j["kept_bytes"] == nlohmann::json::parse(test::akbuild(dir, {"cache", "stats", "--json"}).out)["total_bytes"]);
}

TEST_CASE("akbuild cache verify reports a hand-corrupted blob, evicts it and exits 1") {
  test::TestDir dir;
  populate(dir, "hello");
  auto clean = test::akbuild(dir, {"cache", "verify"});
  CHECK(clean.exit_code == 0);
  CHECK(clean.out == "checked 2 blobs, 1 actions, 0 layers and 0 other entries: 0 corrupt blobs removed, 0 actions "
                     "removed, 0 layers removed, 0 other entries removed\n");

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

TEST_CASE("akbuild cache gc --max-size bounds the whole cache dir, image layers included, least recently used first") {
  test::TestDir dir;
  std::vector<std::string> digests;
  for (unsigned i = 0; i < 3; ++i) {
    incompressible(dir / ("src" + std::to_string(i)), 64 * 1024, i);
    digests.push_back(make_layer(dir, dir / ("src" + std::to_string(i))));
  }
  auto before = stats_json(dir);
  INFO(before.dump());
  CHECK(before["areas"]["layers"]["entries"] == 3);
  std::uint64_t total = before["total_bytes"];
  CHECK(total > 3 * 64 * 1024);
  // The layer blobs live in the CAS: the blob count and bytes include them.
  CHECK(before["blobs"] == 3);
  CHECK(std::uint64_t(before["blob_bytes"]) > 3 * 64 * 1024);

  // All used an hour ago; a second build of layer 0 is a hit that makes it the most recently used.
  age_all(dir / "cache", 3600);
  auto again = test::akbuild(dir, {"oci", "layer", (dir / "src0").string(), "--out", (dir / "layer.out").string()});
  REQUIRE(again.exit_code == 0);
  CHECK(nlohmann::json::parse(again.out)["cached"] == true);

  const std::uint64_t limit = 150 * 1024;  // room for two layers
  auto gc = test::akbuild(dir, {"cache", "gc", "--max-size", std::to_string(limit), "--json"});
  INFO(gc.out, gc.err);
  REQUIRE(gc.exit_code == 0);
  auto report = nlohmann::json::parse(gc.out);
  CHECK(report["removed_layers"] == 1);
  CHECK(report["removed_blobs"] == 1);
  CHECK(std::uint64_t(report["kept_bytes"]) <= limit);
  auto after = stats_json(dir);
  CHECK(after["areas"]["layers"]["entries"] == 2);
  CHECK(std::uint64_t(after["total_bytes"]) <= limit);
  // Layer 0 was used last: it is still a hit.
  auto hit = test::akbuild(dir, {"oci", "layer", (dir / "src0").string(), "--out", (dir / "layer.out").string()});
  CHECK(nlohmann::json::parse(hit.out)["cached"] == true);
  CHECK(nlohmann::json::parse(hit.out)["digest"] == digests[0]);
}

TEST_CASE("akbuild cache stats and verify report every area; verify removes what is not an entry") {
  test::TestDir dir;
  populate(dir, "hello");
  incompressible(dir / "src", 1024, 7);
  make_layer(dir, dir / "src");
  fs::path cache = dir / "cache";
  std::string hex(64, 'a');
  test::write(cache / "tools" / (hex + ".version"), "tool 1.0");
  test::write(cache / "nar-hash" / hex, "entry");
  test::write(cache / "pushed" / hex.substr(0, 16) / hex, "library/app");
  test::write(cache / "ac" / "last" / hex, "manifest");
  test::write(cache / "remote-actions/data.forgejo.org/actions/hello" / hex.substr(0, 40) / "action.yml", "runs: {}");
  auto stats = stats_json(dir);
  INFO(stats.dump());
  for (const char* area : {"actions", "layers", "tools", "nar-hash", "pushed", "last-manifests", "remote-actions"})
    CHECK_MESSAGE(stats["areas"][area]["entries"] == 1, area);
  auto text = test::akbuild(dir, {"cache", "stats"});
  for (const char* area :
       {"layers:", "tools:", "nar-hash:", "pushed:", "last-manifests:", "remote-actions:", "leftovers:", "total"})
    CHECK_MESSAGE(text.out.find(area) != std::string::npos, area);

  auto clean = test::akbuild(dir, {"cache", "verify", "--json"});
  INFO(clean.out, clean.err);
  CHECK(clean.exit_code == 0);
  auto c = nlohmann::json::parse(clean.out);
  CHECK(c["layers_checked"] == 1);
  CHECK(c["entries_checked"] == 5);

  // Not entries: a stray name in tools/, a file where pushed/ keeps a registry's dir, and a layer
  // record whose seal no longer matches.
  test::write(cache / "tools" / "junk", "x");
  test::write(cache / "pushed" / "stray", "x");
  fs::path layer_record;
  for (auto& e : fs::recursive_directory_iterator(cache / "layers"))
    if (e.is_regular_file()) layer_record = e.path();
  REQUIRE(!layer_record.empty());
  std::string sealed = test::read(layer_record);
  test::write(layer_record, sealed.substr(0, sealed.size() - 1));
  auto r = test::akbuild(dir, {"cache", "verify"});
  INFO(r.out, r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("tools: " + (cache / "tools" / "junk").string() + " is not an entry; removed") != std::string::npos);
  CHECK(r.err.find("pushed: " + (cache / "pushed" / "stray").string()) != std::string::npos);
  CHECK(r.err.find("layer ") != std::string::npos);
  CHECK(r.out.find("1 layers removed, 2 other entries removed") != std::string::npos);
  CHECK_FALSE(fs::exists(cache / "tools" / "junk"));
  CHECK_FALSE(fs::exists(layer_record));
  CHECK(fs::exists(cache / "tools" / (hex + ".version")));
  CHECK(test::akbuild(dir, {"cache", "verify"}).exit_code == 0);
}

TEST_CASE("akbuild cache verify removes empty, truncated and hostile action records") {
  test::TestDir dir;
  auto key = populate(dir, "hello");
  fs::path record = dir / "cache" / "ac" / key.hex().substr(0, 2) / key.hex();
  std::string sealed = test::read(record);
  SUBCASE("empty") { test::write(record, ""); }
  SUBCASE("truncated") { test::write(record, sealed.substr(0, sealed.size() - 3)); }
  SUBCASE("an output path outside the workspace") {
    auto payload = unseal_record("action", sealed);
    REQUIRE(payload);
    v1::ActionResult r;
    REQUIRE(r.ParseFromString(std::string(*payload)));
    auto tree = r.outputs().at("out/");
    r.mutable_outputs()->clear();
    (*r.mutable_outputs())["../x"] = tree;
    test::write(record, seal_record("action", r.SerializeAsString()));
  }
  auto v = test::akbuild(dir, {"cache", "verify"});
  INFO(v.out, v.err);
  CHECK(v.exit_code == 1);
  CHECK(v.err.find("action " + key.hex() + ": corrupt record") != std::string::npos);
  CHECK(v.out.find("1 actions removed") != std::string::npos);
  CHECK_FALSE(fs::exists(record));
}
