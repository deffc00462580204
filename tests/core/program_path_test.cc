#include <doctest/doctest.h>

#include <unistd.h>

#include "runner/core/program_path.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

// Runs the test from `dir`, so a relative PATH entry would find files there.
class InDirectory {
public:
  explicit InDirectory(const fs::path& dir) : m_old(fs::current_path()) { fs::current_path(dir); }
  ~InDirectory() { fs::current_path(m_old); }
  InDirectory(const InDirectory&) = delete;
  InDirectory& operator=(const InDirectory&) = delete;

private:
  fs::path m_old;
};

} // namespace

TEST_CASE("find_program searches PATH in order and names what it could not find") {
  test::TestDir dir;
  test::write(dir / "a" / "tool", "#!/bin/sh\n", true);
  test::write(dir / "b" / "tool", "#!/bin/sh\n", true);
  auto path = (dir / "missing").string() + ":" + (dir / "a").string() + ":" + (dir / "b").string();
  auto r = find_program("tool", path);
  REQUIRE(r);
  CHECK(*r == dir / "a" / "tool");
  auto missing = find_program("nope", path);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == ErrorCode::not_found);
  CHECK(missing.error().message.find("nope") == 0);
}

TEST_CASE("find_program never searches the current directory through an empty or relative PATH entry") {
  test::TestDir dir;
  test::write(dir / "tool", "#!/bin/sh\n", true);
  test::write(dir / "rel" / "tool", "#!/bin/sh\n", true);
  test::write(dir / "abs" / "tool", "#!/bin/sh\n", true);
  InDirectory cwd(dir.path());
  SUBCASE("an empty entry is passed over") {
    auto r = find_program("tool", "::" + (dir / "abs").string());
    REQUIRE(r);
    CHECK(*r == dir / "abs" / "tool");
  }
  SUBCASE("a relative entry is passed over") {
    auto r = find_program("tool", "rel:./rel:" + (dir / "abs").string());
    REQUIRE(r);
    CHECK(*r == dir / "abs" / "tool");
  }
  SUBCASE("only empty and relative entries find nothing") {
    auto r = find_program("tool", ":.:rel");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::not_found);
  }
}

TEST_CASE("find_program passes over non-executable files and directories named like the program") {
  test::TestDir dir;
  test::write(dir / "plain" / "tool", "#!/bin/sh\n", false);
  fs::create_directories(dir / "dir" / "tool");
  test::write(dir / "good" / "tool", "#!/bin/sh\n", true);
  auto r = find_program("tool", (dir / "plain").string() + ":" + (dir / "dir").string() + ":" +
                                    (dir / "good").string());
  REQUIRE(r);
  CHECK(*r == dir / "good" / "tool");
  SUBCASE("with nothing else, the error names the file that is not executable") {
    auto only = find_program("tool", (dir / "plain").string());
    REQUIRE_FALSE(only);
    CHECK(only.error().code == ErrorCode::permission_denied);
    CHECK(only.error().message == "tool: found " + (dir / "plain" / "tool").string() + " but it is not an executable file");
  }
  SUBCASE("with nothing else, a directory is not a program") {
    auto only = find_program("tool", (dir / "dir").string());
    REQUIRE_FALSE(only);
    CHECK(only.error().code == ErrorCode::permission_denied);
  }
}

TEST_CASE("find_program takes a name with a slash as a path") {
  test::TestDir dir;
  test::write(dir / "bin" / "tool", "#!/bin/sh\n", true);
  test::write(dir / "bin" / "data", "x", false);
  CHECK(*find_program((dir / "bin" / "tool").string(), "") == dir / "bin" / "tool");
  InDirectory cwd(dir.path());
  CHECK(*find_program("bin/tool", "/nonexistent") == fs::path("bin/tool"));
  CHECK(find_program("bin/data", "").error().code == ErrorCode::permission_denied);
  CHECK(find_program("bin/none", "").error().code == ErrorCode::not_found);
  CHECK(find_program("", "/usr/bin").error().code == ErrorCode::invalid_argument);
}

TEST_CASE("host_search_path is $PATH, or the default when it is unset") {
  std::string saved = std::getenv("PATH") ? std::getenv("PATH") : "";
  ::setenv("PATH", "/x:/y", 1);
  CHECK(host_search_path() == "/x:/y");
  ::unsetenv("PATH");
  CHECK(host_search_path() == k_default_search_path);
  ::setenv("PATH", saved.c_str(), 1);
}

TEST_CASE("search_dirs gives the absolute PATH entries in order, the ones every lookup searches") {
  CHECK(search_dirs(":rel:/a::./b:/c/:") == std::vector<std::string_view>{"/a", "/c/"});
  CHECK(search_dirs("").empty());
}
