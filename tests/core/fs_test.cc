#include <doctest/doctest.h>

#include <sys/stat.h>

#include <thread>

#include "runner/core/beneath.hh"
#include "runner/core/fs.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

TEST_CASE("write_file_atomic replaces content and leaves no temp file") {
  test::TestDir dir;
  auto p = dir / "f.txt";
  REQUIRE(write_file_atomic(p, "one"));
  REQUIRE(write_file_atomic(p, "two"));
  CHECK(*read_file(p) == "two");
  int n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(dir.path())) ++n;
  CHECK(n == 1);
}

TEST_CASE("write_file_atomic into a missing directory fails with the path") {
  test::TestDir dir;
  auto r = write_file_atomic(dir / "missing" / "f.txt", "x");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("missing") != std::string::npos);
}

TEST_CASE("write_file creates or truncates, and names a path it cannot create") {
  test::TestDir dir;
  REQUIRE(write_file(dir / "f", "longer content"));
  REQUIRE(write_file(dir / "f", "short"));
  CHECK(test::read(dir / "f") == "short");
  auto r = write_file(dir / "missing" / "f", "x");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("missing/f") != std::string::npos);
}

TEST_CASE("strip_trailing_slashes keeps a lone slash") {
  CHECK(strip_trailing_slashes("out//") == "out");
  CHECK(strip_trailing_slashes("a/b") == "a/b");
  CHECK(strip_trailing_slashes("/") == "/");
  CHECK(strip_trailing_slashes("") == "");
}

TEST_CASE("read_file of a missing file is not_found naming it") {
  auto r = read_file("/nonexistent/akbuild-x");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::not_found);
  CHECK(r.error().message.find("/nonexistent/akbuild-x") != std::string::npos);
}

TEST_CASE("TempDir removes read-only trees") {
  fs::path kept;
  {
    auto t = TempDir::create("akbuild-test-");
    REQUIRE(t);
    kept = t->path();
    test::write(kept / "ro" / "f", "x");
    ::chmod((kept / "ro").c_str(), 0555);
  }
  CHECK_FALSE(fs::exists(kept));
}

TEST_CASE("FileLock excludes a second holder until released") {
  test::TestDir dir;
  auto a = FileLock::acquire(dir / "lock");
  REQUIRE(a);
  REQUIRE(a->held());
  // flock locks belong to the open file description, so a second open in the same process conflicts.
  auto b = FileLock::try_acquire(dir / "lock");
  REQUIRE(b);
  CHECK_FALSE(b->held());
}

TEST_CASE("is_contained_relative_path rejects escapes") {
  CHECK(is_contained_relative_path("out/"));
  CHECK(is_contained_relative_path("a/b.txt"));
  CHECK_FALSE(is_contained_relative_path("../a"));
  CHECK_FALSE(is_contained_relative_path("a/../../b"));
  CHECK_FALSE(is_contained_relative_path("/abs"));
  CHECK_FALSE(is_contained_relative_path("a//b"));
  CHECK_FALSE(is_contained_relative_path(""));
}

TEST_CASE("under ReadsBeneath, read_file follows no symlink below the root, on this thread only") {
  test::TestDir dir;
  test::write(dir / "ws/sub/own.txt", "own");
  test::write(dir / "host/secret.txt", "secret");
  fs::create_symlink(dir / "host/secret.txt", dir / "ws/link.txt");
  fs::create_directory_symlink(dir / "host", dir / "ws/linked");
  {
    ReadsBeneath reads(dir / "ws");
    CHECK(read_file(dir / "ws/sub/own.txt").value() == "own");
    auto last = read_file(dir / "ws/link.txt");
    REQUIRE_FALSE(last);
    CHECK(last.error().code == ErrorCode::failed_precondition);
    CHECK_MESSAGE(last.error().message.find("link.txt: a symlink") != std::string::npos, last.error().message);
    auto through = read_file(dir / "ws/linked/secret.txt");
    REQUIRE_FALSE(through);
    CHECK_MESSAGE(through.error().message.find("linked") != std::string::npos, through.error().message);
    // Outside the root, and on another thread, reads are as they were.
    CHECK(read_file(dir / "host/secret.txt").value() == "secret");
    std::string other;
    std::thread([&] { other = read_file(dir / "ws/link.txt").value_or("refused"); }).join();
    CHECK(other == "secret");
  }
  CHECK(read_file(dir / "ws/link.txt").value() == "secret");
}
