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

TEST_CASE("Glob matches many double stars in time linear in the path") {
  // 20 `**` against 60 components: a backtracking matcher tries C(60, 20) splits and never ends.
  std::string pattern, path;
  for (int i = 0; i < 20; ++i) pattern += "**/a/";
  pattern += "b";
  for (int i = 0; i < 60; ++i) path += "a/";
  auto g = *Glob::parse(pattern);
  CHECK_FALSE(g.matches(path + "c"));
  CHECK(g.matches(path + "b"));
  CHECK(g.could_match_below(path));
  CHECK_FALSE(Glob::parse("x/**/a/**/b")->could_match_below("y/a"));
  CHECK_FALSE(Glob::parse("x/**/b")->matches("x/b/c"));
  CHECK(Glob::parse("a/**/**/b")->matches("a/b"));
  CHECK(Glob::parse("a/**")->matches("a"));
}

TEST_CASE("Glob refuses brace groups that expand to too many patterns") {
  std::string bomb;
  for (int i = 0; i < 22; ++i) bomb += "{a,b}";
  auto r = Glob::parse(bomb);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::invalid_argument);
  CHECK(r.error().message.find("more than 1024 patterns") != std::string::npos);
  // Ten groups (1024 patterns) are still fine.
  CHECK(Glob::parse("{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}"));
}
