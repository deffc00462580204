// Bazel (Debian's bazel-bootstrap) as a real REAPI client of `akbuild serve`: a genrule built
// once fills the server's cache; built again from a clean output base it is a remote cache hit.

#include <doctest/doctest.h>

#include "tests/remote/peers.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

TEST_CASE("Bazel gets a remote cache hit from akbuild serve on a clean second build") {
  if (!test::have_program("bazel")) return test::skip("bazel is not installed (bazel-bootstrap)");
  test::TestDir dir;
  test::AkbuildServe serve(dir);
  auto ws = dir / "bazel-ws";
  test::write(ws / "WORKSPACE", "");
  test::write(ws / "BUILD", "genrule(name = \"t\", outs = [\"t.txt\"], cmd = \"echo built by bazel > $@\")\n");
  auto bazel = [&](const std::string& output_base) {
    test::CommandOptions o;
    o.cwd = ws;
    o.env["HOME"] = (dir / "bazel-home").string();
    return test::run({"bazel", "--batch", "--output_user_root=" + (dir / "bazel-root").string(),
                      "--output_base=" + (dir / output_base).string(), "build", "--remote_cache=" + serve.url(),
                      "--remote_header=authorization=Bearer s3cret-token-for-tests", "--noshow_progress", "//:t"},
                     o);
  };
  auto first = bazel("ob1");
  REQUIRE_MESSAGE(first.exit_code == 0, (first.out + first.err));
  CHECK(fs::exists(serve.cache / "reapi-ac"));
  auto second = bazel("ob2");
  REQUIRE_MESSAGE(second.exit_code == 0, (second.out + second.err));
  CHECK_MESSAGE(second.err.find("1 remote cache hit") != std::string::npos, second.err);
  CHECK(test::read(dir / "ob2" / "execroot" / "__main__" / "bazel-out" / "k8-fastbuild" / "bin" / "t.txt") ==
        "built by bazel\n");
}
