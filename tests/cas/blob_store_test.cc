#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner/cas/blob_store.hh"
#include "runner/core/fs.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
using namespace akbuild::cas;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<BlobStore> open_store(const test::TestDir& dir) {
  auto store = open_blob_store("file://" + (dir / "cache").string());
  REQUIRE(store);
  return std::move(*store);
}

fs::path blob_file(const test::TestDir& dir, const Digest& d) {
  return dir / "cache" / "cas" / "sha256" / d.hex().substr(0, 2) / d.hex().substr(2);
}

// Overwrites a stored (read-only) blob in place, as a disk fault or a careless user would.
void corrupt_blob(const fs::path& p, std::string_view content) {
  ::chmod(p.c_str(), 0644);
  test::write(p, content);
}

std::size_t count_files(const fs::path& dir) {
  std::size_t n = 0;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) ++n;
  return n;
}

} // namespace

TEST_CASE("Digest parses hex of either case and rejects anything else") {
  auto d = Digest::of(std::string_view("abc"));
  CHECK(d.hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");  // FIPS 180-2 vector
  auto upper = Digest::parse("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
  REQUIRE(upper);
  CHECK(*upper == d);
  CHECK_FALSE(Digest::parse("ba78"));
  CHECK(Digest::parse(std::string(64, 'g')).error().code == ErrorCode::invalid_argument);
}

TEST_CASE("BlobStore stores bytes under cas/sha256 and reads them back") {
  test::TestDir dir;
  auto store = open_store(dir);
  auto d = store->put("hello");
  REQUIRE(d);
  CHECK(*d == Digest::of(std::string_view("hello")));
  CHECK(fs::exists(blob_file(dir, *d)));
  CHECK(*store->contains(*d));
  CHECK(*store->get(*d) == "hello");
  StringSink sink;
  REQUIRE(store->read_to(*d, sink));
  CHECK(sink.data() == "hello");
  CHECK(store->local_path(*d) == blob_file(dir, *d));
  // Stored read-only, so a hard link out of the store cannot be written through.
  CHECK((fs::status(blob_file(dir, *d)).permissions() & fs::perms::owner_write) == fs::perms::none);
  CHECK(count_files(dir / "cache" / "tmp") == 0);
}

TEST_CASE("BlobStore reports a missing blob as not_found") {
  test::TestDir dir;
  auto store = open_store(dir);
  auto d = Digest::of(std::string_view("absent"));
  CHECK_FALSE(*store->contains(d));
  CHECK(store->get(d).error().code == ErrorCode::not_found);
  CHECK(store->local_path(d).empty());
}

TEST_CASE("BlobStore put_file streams a file and dedupes a second copy") {
  test::TestDir dir;
  auto store = open_store(dir);
  std::string big(3 * 1024 * 1024 + 17, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + i % 26);
  test::write(dir / "big", big);
  auto d = store->put_file(dir / "big");
  REQUIRE(d);
  CHECK(*d == Digest::of(std::string_view(big)));
  CHECK(*store->get(*d) == big);
  auto again = store->put_file(dir / "big");
  REQUIRE(again);
  CHECK(*again == *d);
  CHECK(count_files(dir / "cache" / "cas") == 1);
  CHECK(count_files(dir / "cache" / "tmp") == 0);
}

TEST_CASE("BlobStore put_file_known refuses a file that does not match its digest") {
  test::TestDir dir;
  auto store = open_store(dir);
  test::write(dir / "f", "actual");
  auto r = store->put_file_known(dir / "f", Digest::of(std::string_view("expected")));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::failed_precondition);
  REQUIRE(store->put_file_known(dir / "f", Digest::of(std::string_view("actual"))));
  CHECK(*store->get(Digest::of(std::string_view("actual"))) == "actual");
}

TEST_CASE("A blob corrupted by hand is detected, evicted and reported naming its digest") {
  test::TestDir dir;
  auto store = open_store(dir);
  auto d = *store->put("precious content");
  corrupt_blob(blob_file(dir, d), "precious CONTENT");

  SUBCASE("by get") {
    auto r = store->get(d);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::corrupt);
    CHECK(r.error().message.find(d.hex()) != std::string::npos);
  }
  SUBCASE("by read_to") {
    StringSink sink;
    auto r = store->read_to(d, sink);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::corrupt);
  }
  // Evicted: the next read is a plain miss, and a put restores it.
  CHECK_FALSE(fs::exists(blob_file(dir, d)));
  CHECK(store->get(d).error().code == ErrorCode::not_found);
  REQUIRE(store->put("precious content"));
  CHECK(*store->get(d) == "precious content");
}

TEST_CASE("Two processes putting the same blobs at once leave every blob whole") {
  test::TestDir dir;
  { auto store = open_store(dir); }  // layout made once, as CacheDir::open does
  std::vector<std::string> contents;
  for (int i = 0; i < 200; ++i) contents.push_back("blob " + std::to_string(i) + std::string(static_cast<std::size_t>(i) * 97, 'z'));
  std::vector<pid_t> children;
  for (int p = 0; p < 2; ++p) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      auto store = open_blob_store((dir / "cache").string());
      if (!store) ::_exit(3);
      for (int round = 0; round < 3; ++round)
        for (const auto& c : contents)
          if (!(*store)->put(c)) ::_exit(4);
      ::_exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  auto store = open_store(dir);
  for (const auto& c : contents) CHECK(*store->get(Digest::of(std::string_view(c))) == c);
  CHECK(count_files(dir / "cache" / "cas") == contents.size());
  CHECK(count_files(dir / "cache" / "tmp") == 0);
}

TEST_CASE("open_blob_store rejects an unknown scheme") {
  auto r = open_blob_store("s3://bucket/x");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::invalid_argument);
  CHECK(r.error().message.find("s3://bucket/x") != std::string::npos);
}
