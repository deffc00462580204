#include <doctest/doctest.h>

#include "runner/core/glob.hh"

using namespace akbuild;

TEST_CASE("Glob matches components, double stars, classes and braces") {
  auto g = [](const char* p) { return *Glob::parse(p); };
  CHECK(g("src/*.ts").matches("src/a.ts"));
  CHECK_FALSE(g("src/*.ts").matches("src/sub/a.ts"));
  CHECK(g("src/**/*.ts").matches("src/a.ts"));
  CHECK(g("src/**/*.ts").matches("src/x/y/a.ts"));
  CHECK(g("src/**").matches("src/x/y/a.ts"));
  CHECK(g("out/").matches("out/a/b"));
  CHECK(g("*.{ts,js}").matches("a.js"));
  CHECK_FALSE(g("*.{ts,js}").matches("a.css"));
  CHECK(g("file[0-9].txt").matches("file7.txt"));
  CHECK_FALSE(g("file[!0-9].txt").matches("file7.txt"));
  CHECK(g("a?c").matches("abc"));
  CHECK(g("**/go.sum").matches("go.sum"));
}

TEST_CASE("Glob prunes directories that cannot match") {
  auto g = *Glob::parse("src/app/**/*.ts");
  CHECK(g.could_match_below("src"));
  CHECK(g.could_match_below("src/app/x"));
  CHECK_FALSE(g.could_match_below("web"));
  CHECK(g.literal_prefix() == "src/app");
}

TEST_CASE("Glob rejects malformed patterns with the reason") {
  for (const char* bad : {"src/[ab", "src/{a,b", "src/a}", "../x", "/etc/passwd", "", "src/a**b"}) {
    auto r = Glob::parse(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::invalid_argument);
    CHECK(r.error().message.find("glob") != std::string::npos);
  }
}

TEST_CASE("GlobSet subtracts excludes and prunes excluded directories") {
  auto s = *GlobSet::parse({"**"}, {"node_modules/", "**/*.log"});
  CHECK(s.matches("src/a.ts"));
  CHECK_FALSE(s.matches("node_modules/x/index.js"));
  CHECK_FALSE(s.matches("a/b.log"));
  CHECK_FALSE(s.could_match_below("node_modules"));
  CHECK(s.could_match_below("src"));
}
