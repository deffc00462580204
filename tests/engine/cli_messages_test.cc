// What the akbuild command line says: where global options may go, what a wrong subcommand
// says, and which command a failed step names.
#include <doctest/doctest.h>

#include "tests/support/test_support.hh"

using namespace akbuild;

TEST_CASE("--cache-dir works before and after the subcommand") {
  test::TestDir dir;
  std::filesystem::create_directories(dir / "ws");
  for (const char* where : {"before", "after"}) {
    CAPTURE(where);
    auto cache = dir / (std::string("cache-") + where);
    std::vector<std::string> args{"exec", "--with", "run=true", "--sandbox", "off", "-C", (dir / "ws").string()};
    if (std::string_view(where) == "before") args.insert(args.begin(), {"--cache-dir", cache.string(), "step"});
    else {
      args.insert(args.begin(), "step");
      args.insert(args.end(), {"--cache-dir", cache.string()});
    }
    test::CommandOptions o;
    o.env["AKBUILD_CACHE_DIR"] = (dir / "cache-env").string();
    auto r = test::run([&] { auto a = args; a.insert(a.begin(), test::akbuild_bin().string()); return a; }(), o);
    REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
    CHECK(std::filesystem::exists(cache / "ac"));
  }
  CHECK_FALSE(std::filesystem::exists(dir / "cache-env" / "ac"));
}

TEST_CASE("an unknown subcommand names the ones that exist, exit status 2") {
  test::TestDir dir;
  auto r = test::akbuild(dir, {"frob"});
  CHECK(r.exit_code == 2);
  CHECK(r.err == "akbuild: error: unknown subcommand 'frob' (subcommands: step, act, expr, serve, oci, nix, pin, cache)\n");
}

TEST_CASE("a step whose shell script fails names the command that failed, not 'bash'") {
  test::TestDir dir;
  std::filesystem::create_directories(dir / "ws");
  auto r = test::akbuild(dir, {"step", "exec", "--id", "fetch", "--sandbox", "off", "-C", (dir / "ws").string(),
                               "--with", "run=echo start; no-such-program-xyz --flag \"$HOME\"; echo never"});
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE((r.out + r.err).find("command 'no-such-program-xyz --flag \"$HOME\"' failed: exit status 127") != std::string::npos,
                (r.out + r.err));
  CHECK((r.out + r.err).find("'bash' failed") == std::string::npos);
  CHECK((r.out + r.err).find("akbuild-failed-command") == std::string::npos);
  // The trap shares the script's first line: bash's own messages keep the script's line numbers.
  CHECK_MESSAGE((r.out + r.err).find("line 1: no-such-program-xyz: command not found") != std::string::npos, (r.out + r.err));
}
