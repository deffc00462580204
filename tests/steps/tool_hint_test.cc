#include <doctest/doctest.h>

#include <filesystem>

#include "steps/tool_hint.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
using akbuild::test::TestDir;
namespace fs = std::filesystem;

TEST_CASE("a tool's answer is remembered only while the program file is the same native executable") {
  TestDir dir;
  fs::path tool = dir / "tool";
  SUBCASE("a native executable replaced in place is asked again") {
    fs::copy_file("/usr/bin/basename", tool);
    CHECK(*steps::tool_output_line(tool, {"a/b"}) == "b");
    CHECK(*steps::tool_output_line(tool, {"a/b"}) == "b");
    // Same path, other program: its size and times differ, so the remembered answer is not used.
    fs::copy_file("/usr/bin/dirname", tool, fs::copy_options::overwrite_existing);
    CHECK(*steps::tool_output_line(tool, {"a/b"}) == "a");
    CHECK(*steps::tool_output_line(tool, {"a/c"}) == "a");
  }
  SUBCASE("a script answers from other files, so it is always run") {
    test::write(dir / "answer", "one\n");
    test::write(tool, "#!/bin/sh\ncat '" + (dir / "answer").string() + "'\n");
    fs::permissions(tool, fs::perms::owner_all);
    CHECK(*steps::tool_output_line(tool, {}) == "one");
    test::write(dir / "answer", "two\n");
    CHECK(*steps::tool_output_line(tool, {}) == "two");
  }
}

TEST_CASE("require_tool lets a program missing from the host pass when toolchains may provide it") {
  auto missing = steps::require_tool("web-bundle", "akbuild-no-such-program");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message == "web-bundle: akbuild-no-such-program not found on PATH");
  auto deferred = steps::require_tool("web-bundle", "akbuild-no-such-program", true);
  REQUIRE(deferred);
  CHECK(*deferred == fs::path("akbuild-no-such-program"));
  auto host = steps::require_tool("web-bundle", "sh", true);
  REQUIRE(host);
  CHECK(host->is_absolute());
}
