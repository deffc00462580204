// Two builder hosts sharing one remote cache (nginx WebDAV, the HTTP cache protocol): the
// example stack built in one checkout, then in another at a different path with an empty local
// cache, is all remote hits and the same image.

#include <doctest/doctest.h>

#include <cstdlib>

#include "tests/examples/stack_support.hh"
#include "tests/remote/peers.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + needle.size())) ++n;
  return n;
}

} // namespace

TEST_CASE("the example stack built on one host is all remote hits on another, with the same image") {
  for (const char* tool : {"npm", "node", "go", "nginx"}) {
    if (!test::have_program(tool)) return test::skip(std::string(tool) + " is not installed");
  }
  test::TestDir dir;
  test::Nginx nginx(dir);
  fs::create_directories(dir / "host-a");
  fs::create_directories(dir / "host-b/elsewhere");
  test::copy_stack(dir, "host-a/checkout");
  test::copy_stack(dir, "host-b/elsewhere/stack");
  auto act = [&](const std::string& copy, const std::string& cache) {
    test::CommandOptions o;
    o.cwd = dir / copy;
    o.env["PATH"] = (test::source_root() / ".tools/node_modules/.bin").string() + ":" + std::getenv("PATH");
    o.env["AKBUILD_CACHE_DIR"] = (dir / cache).string();
    o.env["AKBUILD_REMOTE_CACHE"] = nginx.url();
    return test::akbuild(dir, {"act"}, o);
  };
  auto a = act("host-a/checkout", "host-a/cache");
  REQUIRE_MESSAGE(a.exit_code == 0, (a.out + a.err));
  CHECK(count(a.out, "] ran in") == test::stack_steps);

  auto b = act("host-b/elsewhere/stack", "host-b/cache");
  REQUIRE_MESSAGE(b.exit_code == 0, (b.out + b.err));
  CHECK_MESSAGE(count(b.out, "remote cache hit") == test::stack_steps, b.out);
  CHECK(count(b.out, "] ran in") == 0);
  CHECK(test::image_digest(dir, "host-a/checkout") == test::image_digest(dir, "host-b/elsewhere/stack"));
}
