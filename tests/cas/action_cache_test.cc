#include <doctest/doctest.h>

#include <sys/stat.h>

#include "akbuild/v1/cache.pb.h"
#include "runner/cas/cache_dir.hh"
#include "runner/cas/proto_io.hh"
#include "runner/cas/sealed_record.hh"
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

ActionRecord sample_result(CacheDir& cache, const Digest& key) {
  ActionRecord r;
  r.key = key;
  r.stdout_log = *cache.blobs().put("out log");
  r.step_id = "build";
  return r;
}

const std::vector<std::string> k_declared{"out/"};

// A result naming one output tree (an empty dir) under `path`.
ActionRecord result_with_output(CacheDir& cache, const Digest& key, const std::string& path) {
  auto r = sample_result(cache, key);
  auto tree = cache.blobs().put("");
  REQUIRE(tree);
  r.outputs[path] = {ActionOutput::Kind::tree, *tree};
  return r;
}

// The record as stored (cache.proto), spelled out here as the on-disk format it is.
v1::ActionResult stored(const ActionRecord& r) {
  v1::ActionResult out;
  out.set_key(r.key.hex());
  out.set_step_id(r.step_id);
  if (r.stdout_log) out.set_stdout_digest(r.stdout_log->hex());
  for (const auto& [path, output] : r.outputs) {
    auto& o = (*out.mutable_outputs())[path];
    o.set_kind(output.kind == ActionOutput::Kind::file ? v1::ActionOutput::FILE : v1::ActionOutput::TREE);
    o.set_digest(output.digest.hex());
  }
  return out;
}

// Writes a record as someone with write access to a shared cache dir could: a well-formed,
// correctly sealed file (the seal is a checksum anyone can compute) with whatever it says.
void plant(CacheDir& cache, const Digest& key, const v1::ActionResult& r) {
  fs::path p = cache.actions().record_path(key);
  fs::create_directories(p.parent_path());
  test::write(p, seal_record("action", serialize_deterministic(r)));
}

} // namespace

TEST_CASE("ActionCache stores a result under ac/<2 hex>/<key> and reads it back") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  auto key = Digest::of(std::string_view("manifest"));
  CHECK_FALSE(*cache->actions().get(key, {}));
  auto result = sample_result(*cache, key);
  result.values["digest"] = "sha256:1234";
  result.started = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));
  result.duration = std::chrono::milliseconds(42);
  REQUIRE(cache->actions().put(result));
  CHECK(fs::exists(dir / "cache" / "ac" / key.hex().substr(0, 2) / key.hex()));
  auto got = cache->actions().get(key, {});
  REQUIRE(got);
  REQUIRE(got->has_value());
  CHECK(**got == result);
  REQUIRE(cache->actions().remove(key));
  CHECK_FALSE(*cache->actions().get(key, {}));
}

TEST_CASE("ActionCache refuses a record whose blobs are not in the CAS") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  auto key = Digest::of(std::string_view("manifest"));
  auto result = sample_result(*cache, key);
  result.outputs["out/"] = {ActionOutput::Kind::tree, Digest::of(std::string_view("never stored"))};
  auto r = cache->actions().put(result);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::failed_precondition);
  CHECK(r.error().message.find("out/") != std::string::npos);
  CHECK_FALSE(*cache->actions().get(key, {}));
}

TEST_CASE("ActionCache removes a record that does not parse and reports it corrupt") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  auto key = Digest::of(std::string_view("manifest"));
  REQUIRE(cache->actions().put(sample_result(*cache, key)));
  fs::path p = cache->actions().record_path(key);
  test::write(p, "\xff\xff\xff garbage");
  auto r = cache->actions().get(key, {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::corrupt);
  CHECK(r.error().message.find(key.hex()) != std::string::npos);
  CHECK_FALSE(fs::exists(p));
  CHECK_FALSE(*cache->actions().get(key, {}));
}

TEST_CASE("ActionCache refreshes a record's mtime on a hit") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  auto key = Digest::of(std::string_view("manifest"));
  REQUIRE(cache->actions().put(sample_result(*cache, key)));
  fs::path p = cache->actions().record_path(key);
  auto old = fs::file_time_type::clock::now() - std::chrono::hours(48);
  fs::last_write_time(p, old);
  REQUIRE(*cache->actions().get(key, {}));
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

TEST_CASE("ActionCache uses a record only when its outputs are exactly the step's declared outputs") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  auto key = Digest::of(std::string_view("manifest"));
  auto good = stored(result_with_output(*cache, key, "out/"));
  plant(*cache, key, good);
  REQUIRE(*cache->actions().get(key, k_declared));

  v1::ActionResult hostile = good;
  std::string fault;
  SUBCASE("a path that climbs out of the workspace") {
    hostile = stored(result_with_output(*cache, key, "../x"));
    fault = "output path '../x' is not a relative path inside the workspace";
  }
  SUBCASE("a path climbing out after a declared prefix") {
    hostile = stored(result_with_output(*cache, key, "out/../../x"));
    fault = "output path 'out/../../x' is not a relative path inside the workspace";
  }
  SUBCASE("an absolute path") {
    hostile = stored(result_with_output(*cache, key, "/tmp/x"));
    fault = "output path '/tmp/x' is not a relative path inside the workspace";
  }
  SUBCASE("an output the step does not declare, beside the declared one") {
    (*hostile.mutable_outputs())["other/"] = good.outputs().at("out/");
    fault = "output 'other/' is not declared by the step";
  }
  SUBCASE("a declared output missing") {
    hostile.mutable_outputs()->clear();
    fault = "declared output 'out/' is missing";
  }
  SUBCASE("an output naming no digest") {
    (*hostile.mutable_outputs())["out/"].set_digest("not hex");
    fault = "output 'out/' names no digest";
  }
  SUBCASE("the earlier form: tree digests by path in field 4, file outputs in a reserved value") {
    hostile.mutable_outputs()->clear();
    hostile.GetReflection()->MutableUnknownFields(&hostile)->AddLengthDelimited(4, "out/");
    (*hostile.mutable_values())["_akbuild_file_outputs"] = "out/\n";
    fault = "declared output 'out/' is missing";
  }
  SUBCASE("another key") {
    hostile.set_key(Digest::of(std::string_view("other manifest")).hex());
    fault = "it names key '" + hostile.key() + "'";
  }
  CAPTURE(fault);
  plant(*cache, key, hostile);
  auto r = cache->actions().get(key, k_declared);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::corrupt);
  CHECK(r.error().message == "action " + key.hex() + ": corrupt record (" + fault + "); removed from the cache");
  CHECK_FALSE(fs::exists(cache->actions().record_path(key)));
  CHECK_FALSE(*cache->actions().get(key, k_declared));
}

TEST_CASE("ActionCache treats an empty, truncated or bit-flipped record as corrupt, not as a hit") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  auto key = Digest::of(std::string_view("manifest"));
  REQUIRE(cache->actions().put(result_with_output(*cache, key, "out/")));
  fs::path p = cache->actions().record_path(key);
  std::string sealed = test::read(p);
  std::string fault;
  SUBCASE("empty") {
    test::write(p, "");
    fault = "empty";
  }
  SUBCASE("truncated") {
    test::write(p, sealed.substr(0, sealed.size() - 7));
    fault = "truncated";
  }
  SUBCASE("a bit flipped in the payload") {
    sealed[sealed.size() - 3] = static_cast<char>(sealed[sealed.size() - 3] ^ 0x01);
    test::write(p, sealed);
    fault = "checksum does not match its content";
  }
  SUBCASE("a bare encoded result without a seal, as earlier versions wrote") {
    test::write(p, serialize_deterministic(stored(result_with_output(*cache, key, "out/"))));
    fault = "no akbuild-record header";
  }
  CAPTURE(fault);
  auto r = cache->actions().get(key, k_declared);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::corrupt);
  CHECK(r.error().message.find(fault) != std::string::npos);
  CHECK_FALSE(fs::exists(p));
}

TEST_CASE("ActionCache::put refuses a record naming a path outside the workspace") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  auto key = Digest::of(std::string_view("manifest"));
  auto outside = cache->actions().put(result_with_output(*cache, key, "../x"));
  REQUIRE_FALSE(outside);
  CHECK(outside.error().code == ErrorCode::invalid_argument);
  CHECK_FALSE(fs::exists(cache->actions().record_path(key)));
}

TEST_CASE("ActionCache keeps whether each output is a file or a tree") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  auto key = Digest::of(std::string_view("manifest"));
  auto record = result_with_output(*cache, key, "out/");
  record.outputs["bin/tool"] = {ActionOutput::Kind::file, record.outputs.at("out/").digest};
  REQUIRE(cache->actions().put(record));
  auto got = cache->actions().get(key, std::vector<std::string>{"bin/tool", "out/"});
  REQUIRE(got);
  REQUIRE(*got);
  CHECK((*got)->outputs.at("bin/tool").kind == ActionOutput::Kind::file);
  CHECK((*got)->outputs.at("out/").kind == ActionOutput::Kind::tree);
  CHECK((*got)->values.empty());
}

TEST_CASE("ActionCache refuses a record that names another key, as one copied under a wrong name") {
  test::TestDir dir;
  auto cache = open_cache(dir);
  auto key = Digest::of(std::string_view("manifest"));
  auto other = Digest::of(std::string_view("other manifest"));
  REQUIRE(cache->actions().put(sample_result(*cache, key)));
  fs::create_directories(cache->actions().record_path(other).parent_path());
  fs::copy_file(cache->actions().record_path(key), cache->actions().record_path(other));
  auto r = cache->actions().get(other, {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::corrupt);
  CHECK_FALSE(fs::exists(cache->actions().record_path(other)));
  CHECK(*cache->actions().get(key, {}));
}
