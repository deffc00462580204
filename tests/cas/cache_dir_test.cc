#include <doctest/doctest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner/cas/cache_dir.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
using namespace akbuild::cas;
namespace fs = std::filesystem;

TEST_CASE("CacheDir::open creates the layout") {
  test::TestDir dir;
  auto cache = CacheDir::open(dir / "a" / "b" / "cache");
  REQUIRE(cache);
  for (const char* sub : {"cas/sha256", "ac", "locks", "tmp"})
    CHECK(fs::exists(dir / "a" / "b" / "cache" / sub));
  CHECK((*cache)->tmp_dir() == dir / "a" / "b" / "cache" / "tmp");
  auto key = Digest::of(std::string_view("k"));
  CHECK((*cache)->lock_path(key) == dir / "a" / "b" / "cache" / "locks" / (key.hex() + ".lock"));
  CHECK(fs::is_empty((*cache)->tmp_dir()));
}

TEST_CASE("CacheDir::open of a path under a file is invalid_argument naming it") {
  test::TestDir dir;
  test::write(dir / "file", "x");
  auto r = CacheDir::open(dir / "file" / "cache");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::invalid_argument);
  CHECK(r.error().message.find((dir / "file" / "cache").string()) != std::string::npos);
}

TEST_CASE("CacheDir::open of an unwritable dir fails with one line and creates nothing") {
  test::TestDir dir;
  // Root bypasses permission bits, so the open runs in a child that drops to nobody.
  fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec);
  fs::create_directories(dir / "ro");
  fs::permissions(dir / "ro", fs::perms::owner_read | fs::perms::owner_exec | fs::perms::others_read |
                                  fs::perms::others_exec);
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    if (::getuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(3);
    auto r = CacheDir::open(dir / "ro" / "cache");
    std::string msg = r ? "opened" : r.error().message + (r.error().code == ErrorCode::invalid_argument ? "|2" : "|x");
    if (::write(fds[1], msg.data(), msg.size()) < 0) ::_exit(4);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string msg;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) msg.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  CHECK(msg == "cache dir " + (dir / "ro" / "cache").string() + ": not writable: Permission denied|2");
  CHECK(fs::is_empty(dir / "ro"));
}
