// The HTTP cache protocol against a real server: nginx's WebDAV module on 127.0.0.1, driven
// through the akbuild binary as a user would, from two workspaces at different paths with
// separate (empty) cache dirs: two builder hosts sharing one remote.

#include <doctest/doctest.h>

#include <filesystem>

#include "tests/remote/peers.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

// A tree output (a file, an executable, a symlink, a subdir) and a file output.
struct Host : test::Host {
  Host(const test::TestDir& d, const std::string& name)
      : test::Host(d, name,
                   "mkdir -p out/sub && cp src/in.txt out/a.txt && ln -s a.txt out/link && "
                   "printf '#!/bin/sh\\n' > out/sub/x && chmod +x out/sub/x && echo one > single.txt "
                   "&& echo ran-the-step") {}
};

std::size_t files_under(const fs::path& p) {
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator(); ++it)
    if (it->is_regular_file()) ++n;
  return n;
}

} // namespace

TEST_CASE("HTTP cache: a result one host built is a remote hit on another with an empty cache") {
  if (!test::have_program("nginx")) return test::skip("nginx is not installed (nginx-light)");
  test::TestDir dir;
  test::Nginx nginx(dir);
  Host a(dir, "a"), b(dir, "b");
  auto first = a.build({"--remote-cache", nginx.url()});
  REQUIRE_MESSAGE(first.exit_code == 0, (first.out + first.err));
  CHECK(contains(first.out, "[gen] ran"));
  CHECK(files_under(nginx.root / "ac") == 1);
  // The outputs' files, the Tree, the logs, the Action and the Command.
  CHECK(files_under(nginx.root / "cas") >= 6);

  auto second = b.build({"--remote-cache", nginx.url()});
  REQUIRE_MESSAGE(second.exit_code == 0, (second.out + second.err));
  CHECK_MESSAGE(contains(second.out, "[gen] remote hit"), (second.out + second.err));
  CHECK(test::read(b.ws / "out" / "a.txt") == "input\n");
  CHECK(test::read(b.ws / "single.txt") == "one\n");
  CHECK(fs::read_symlink(b.ws / "out" / "link") == "a.txt");
  CHECK((fs::status(b.ws / "out" / "sub" / "x").permissions() & fs::perms::owner_exec) != fs::perms::none);
  // Stored locally: the next run is a local hit, without the remote.
  auto third = b.build();
  CHECK_MESSAGE(contains(third.out, "[gen] hit"), third.out);
  auto stats = test::akbuild(dir, {"--cache-dir", b.cache.string(), "cache", "stats"});
  CHECK_MESSAGE(contains(stats.out, "remote hits 1"), stats.out);
}

TEST_CASE("HTTP cache: the dry run and --explain say remote hit, and store nothing") {
  if (!test::have_program("nginx")) return test::skip("nginx is not installed (nginx-light)");
  test::TestDir dir;
  test::Nginx nginx(dir);
  Host a(dir, "a"), b(dir, "b");
  REQUIRE(a.build({"--remote-cache", nginx.url()}).exit_code == 0);
  auto dry = b.build({"--remote-cache", nginx.url(), "--dry-run", "--explain"});
  REQUIRE_MESSAGE(dry.exit_code == 0, (dry.out + dry.err));
  CHECK_MESSAGE(contains(dry.out, "[gen] remote hit"), dry.out);
  CHECK(files_under(b.cache / "ac") == 0);
}

TEST_CASE("HTTP cache: a corrupt remote blob costs a local run and one warning") {
  if (!test::have_program("nginx")) return test::skip("nginx is not installed (nginx-light)");
  test::TestDir dir;
  test::Nginx nginx(dir);
  Host a(dir, "a"), b(dir, "b");
  REQUIRE(a.build({"--remote-cache", nginx.url()}).exit_code == 0);
  // Every blob of "input\n" (the copied file) now holds other bytes.
  std::size_t corrupted = 0;
  for (const auto& e : fs::directory_iterator(nginx.root / "cas"))
    if (test::read(e.path()) == "input\n") test::write(e.path(), "tampered\n"), ++corrupted;
  REQUIRE(corrupted == 1);
  auto r = b.build({"--remote-cache", nginx.url()});
  REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
  CHECK_MESSAGE(contains(r.out, "[gen] ran"), (r.out + r.err));
  CHECK_MESSAGE(contains(r.out + r.err, "does not match its digest"), (r.out + r.err));
  CHECK(test::read(b.ws / "out" / "a.txt") == "input\n");
}

TEST_CASE("HTTP cache: a dead server costs a local run and one warning for the whole run") {
  test::TestDir dir;
  Host a(dir, "a");
  std::string url = "http://127.0.0.1:" + std::to_string(test::free_port());
  auto r = a.build({"--remote-cache", url});
  REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
  CHECK(contains(r.out, "[gen] ran"));
  auto all = r.out + r.err;
  CHECK_MESSAGE(contains(all, "warning: remote cache " + url), all);
  CHECK_MESSAGE(all.find("warning: remote cache") == all.rfind("warning: remote cache"), all);
}

TEST_CASE("HTTP cache: a read-only client uses hits and uploads nothing") {
  if (!test::have_program("nginx")) return test::skip("nginx is not installed (nginx-light)");
  test::TestDir dir;
  test::Nginx nginx(dir);
  Host a(dir, "a"), b(dir, "b");
  auto ro = a.build({"--remote-cache", nginx.url(), "--remote-read-only"});
  REQUIRE_MESSAGE(ro.exit_code == 0, (ro.out + ro.err));
  CHECK(files_under(nginx.root) == 0);
  // The same through the environment.
  test::CommandOptions env;
  env.env = {{"AKBUILD_REMOTE_CACHE", nginx.url()}, {"AKBUILD_REMOTE_READ_ONLY", "1"}};
  fs::remove_all(a.cache);
  auto ro_env = test::akbuild(dir, {"--cache-dir", a.cache.string(), "step", "exec", "--id", "other", "-C",
                                    a.ws.string(), "--sandbox", "off", "--with", "run=echo x > o.txt", "--with",
                                    "outputs=[\"o.txt\"]"},
                              env);
  REQUIRE_MESSAGE(ro_env.exit_code == 0, (ro_env.out + ro_env.err));
  CHECK(files_under(nginx.root) == 0);
  // A writer fills it; the read-only host then hits.
  REQUIRE(b.build({"--remote-cache", nginx.url()}).exit_code == 0);
  fs::remove_all(a.cache);
  fs::remove_all(a.ws / "out");
  auto hit = a.build({"--remote-cache", nginx.url(), "--remote-read-only"});
  CHECK_MESSAGE(contains(hit.out, "[gen] remote hit"), (hit.out + hit.err));
}

TEST_CASE("--remote-cache with an unknown scheme is a usage error") {
  test::TestDir dir;
  Host a(dir, "a");
  auto r = a.build({"--remote-cache", "ftp://example.org/cache"});
  CHECK(r.exit_code == 2);
  CHECK_MESSAGE(contains(r.err, "--remote-cache 'ftp://example.org/cache': the scheme must be"), r.err);
}
