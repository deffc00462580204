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
  CHECK(r.err == "akbuild: error: unknown subcommand 'frob' (subcommands: step, act, expr, serve, plugin, oci, nix, pin, cache, runner)\n");
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

TEST_CASE("explain compares with the manifest of the entry last used, a hit of an older one included") {
  test::TestDir dir;
  auto ws = dir / "ws";
  std::vector<std::string> args{"step", "exec", "--id", "up", "--sandbox", "off", "-C", ws.string(), "--with",
                                "inputs=src/**", "--with", "outputs=out/", "--with",
                                "run=mkdir -p out; tr a-z A-Z < src/a.txt > out/up.txt"};
  auto step = [&](const std::string& content) {
    test::write(ws / "src/a.txt", content);
    auto a = args;
    a.push_back("--explain");
    auto r = test::akbuild(dir, a);
    REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
    return r.out;
  };
  auto sha = [](const std::string& s) {
    return test::run({"sh", "-c", "printf '%s' \"$0\" | sha256sum | cut -c1-12", s}).out.substr(0, 12);
  };
  step("one\n");
  step("two\n");
  CHECK(step("one\n").find("[up] hit") != std::string::npos);  // the first entry, used again
  auto out = step("three\n");
  CHECK_MESSAGE(out.find("input src/a.txt: " + sha("one\n") + " -> " + sha("three\n")) != std::string::npos, out);
}
