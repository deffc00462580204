#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "runner/core/fs.hh"
#include "runner/core/walk.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {
struct Recorder : TreeVisitor {
  std::vector<std::string> events;
  Result<> directory_begin(std::string_view rel, const FileInfo&) override {
    events.push_back("d:" + std::string(rel));
    return ok();
  }
  Result<> regular(std::string_view rel, const FileInfo& info, int dirfd, std::string_view name) override {
    StringSink s;
    AK_TRY_VOID(stream_file_at(dirfd, name, s));
    events.push_back(std::string(info.executable ? "x:" : "f:") + std::string(rel) + "=" + s.data());
    return ok();
  }
  Result<> symlink(std::string_view rel, const FileInfo&, std::string_view target) override {
    events.push_back("l:" + std::string(rel) + "->" + std::string(target));
    return ok();
  }
};
} // namespace

TEST_CASE("walk_tree visits entries in byte order, depth first, without following links") {
  test::TestDir dir;
  auto root = dir / "t";
  test::write(root / "b", "B");
  test::write(root / "a" / "z", "Z", true);
  test::write(root / "B", "upper");
  test::write(root / "\xc3\xa9", "e");
  fs::create_symlink("../outside", root / "link");
  Recorder r;
  REQUIRE(walk_tree(root, r));
  std::vector<std::string> expected{"d:", "f:B=upper", "d:a", "x:a/z=Z", "f:b=B", "l:link->../outside",
                                    "f:\xc3\xa9=e"};
  CHECK(r.events == expected);
}

TEST_CASE("walk_tree of a single file or symlink visits just it") {
  test::TestDir dir;
  test::write(dir / "f", "F");
  Recorder r;
  REQUIRE(walk_tree(dir / "f", r));
  CHECK(r.events == std::vector<std::string>{"f:=F"});
}

TEST_CASE("walk_tree names a FIFO it cannot represent") {
  test::TestDir dir;
  fs::create_directories(dir / "t");
  REQUIRE(::mkfifo((dir / "t" / "pipe").c_str(), 0644) == 0);
  Recorder r;
  auto res = walk_tree(dir / "t", r);
  REQUIRE_FALSE(res);
  CHECK(res.error().message.find("pipe") != std::string::npos);
  CHECK(res.error().message.find("FIFO") != std::string::npos);
}

TEST_CASE("walk_tree reports a missing root") {
  Recorder r;
  auto res = walk_tree("/nonexistent/akbuild", r);
  REQUIRE_FALSE(res);
  CHECK(res.error().code == ErrorCode::not_found);
}

TEST_CASE("stream_file_at does not wait for a writer when a FIFO stands where a file was") {
  test::TestDir dir;
  REQUIRE(::mkfifo((dir / "pipe").c_str(), 0644) == 0);
  UniqueFd d(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(d);
  // Without a writer the open would block forever (the walk stat'ed a regular file there).
  StringSink s;
  auto n = stream_file_at(d.get(), "pipe", s);
  REQUIRE(n);
  CHECK(*n == 0);
}
