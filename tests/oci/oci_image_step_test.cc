// The oci-image kind as a user runs it: `akbuild step oci-image` in a workspace.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

test::CommandResult step(const test::TestDir& dir, std::vector<std::string> with) {
  std::vector<std::string> argv{"step", "oci-image", "--id", "img"};
  for (auto& w : with) argv.insert(argv.end(), {"--with", w});
  argv.insert(argv.end(), {"-C", (dir / "ws").string()});
  return test::akbuild(dir, argv);
}

} // namespace

TEST_CASE("akbuild step oci-image writes a layout that skopeo verifies, and a rerun keeps its digest") {
  if (!fs::exists(test::akbuild_bin())) return;
  test::TestDir dir;
  test::write(dir / "ws" / "rootfs" / "etc" / "motd", "hello\n");
  test::write(dir / "ws" / "server", "#!/bin/sh\necho serve\n", true);
  std::vector<std::string> with{R"(layers=[{"from": "rootfs/", "to": "/app"}, {"from": "server", "to": "/bin"}])",
                                R"(entrypoint=["/bin/server"])", "user=65534", "tag=demo:1", "layout=out/image",
                                R"(env={"MODE": "prod"})", "ports=8080"};
  auto first = step(dir, with);
  REQUIRE_MESSAGE(first.exit_code == 0, (first.out + first.err));
  fs::path layout = dir / "ws" / "out" / "image";
  REQUIRE(fs::exists(layout / "index.json"));
  auto index = json::parse(test::read(layout / "index.json"));
  std::string digest = index["manifests"][0]["digest"];
  CHECK(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "demo:1");
  CHECK((first.out + first.err).find(digest) != std::string::npos);
  if (test::have_program("skopeo")) {
    auto copy = test::run({"skopeo", "copy", "oci:" + layout.string() + ":demo:1", "dir:" + (dir / "copy").string()});
    CHECK_MESSAGE(copy.exit_code == 0, copy.err);
    auto inspect = test::run({"skopeo", "inspect", "--config", "oci:" + layout.string() + ":demo:1"});
    auto config = json::parse(inspect.out);
    CHECK(config["config"]["Entrypoint"] == json::array({"/bin/server"}));
    CHECK(config["config"]["User"] == "65534");
    CHECK(config["config"]["Env"] == json::array({"MODE=prod"}));
  }

  // A fresh cache gives the same image.
  fs::remove_all(dir / "cache");
  fs::remove_all(layout);
  auto again = step(dir, with);
  REQUIRE_MESSAGE(again.exit_code == 0, (again.out + again.err));
  CHECK(json::parse(test::read(layout / "index.json"))["manifests"][0]["digest"] == digest);
}

TEST_CASE("akbuild step oci-image rejects bad layers with exit status 2 and writes nothing") {
  if (!fs::exists(test::akbuild_bin())) return;
  test::TestDir dir;
  test::write(dir / "ws" / "a" / "f", "f");
  struct Case {
    std::string layers, expect;
  };
  for (const auto& c : {Case{R"([{"from": "a/", "to": "/app/../etc"}])", "'..'"},
                        Case{R"([{"from": "a/", "to": "/x"}, {"from": "a/", "to": "/x/"}])", "repeats"},
                        Case{R"([{"from": "../outside", "to": "/x"}])", "inside the workspace"}}) {
    CAPTURE(c.layers);
    auto r = step(dir, {"layers=" + c.layers, "tag=t"});
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find(c.expect) != std::string::npos, r.err);
    CHECK_FALSE(fs::exists(dir / "ws" / "image"));
  }
  auto r = step(dir, {R"(layers=[{"from": "a/"}])", "tag=t", "push=127.0.0.1:5000/UPPER:1"});
  CHECK(r.exit_code == 2);
  CHECK_MESSAGE(r.err.find("UPPER") != std::string::npos, r.err);
}
