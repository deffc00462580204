// `tools:` naming toolchain steps, through `akbuild act` as a user runs it: the toolchain's bin/
// leads PATH in the sandbox (over a host program of the same name), its content keys the step,
// and a kind without a `tools` parameter takes toolchain ids but no program names.
#include <doctest/doctest.h>

#include <algorithm>

#include "runner/engine/pins.hh"
#include "runner/engine/planner.hh"
#include "steps/registry.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

// A toolchain step writing tc/bin/ls (shadowing the host's ls) that prints `greeting`, and a step
// running `ls` with the toolchain in its tools.
std::string workflow(const std::string& greeting, const std::string& tools = R"(["tc"])") {
  return R"(on: push
jobs:
  build:
    runs-on: host
    steps:
      - id: tc
        uses: akbuild/step@v1
        with:
          kind: exec
          outputs: tc/
          run: mkdir -p tc/bin && printf '#!/bin/sh\necho )" + greeting + R"(\n' > tc/bin/ls && chmod +x tc/bin/ls
      - id: use
        uses: akbuild/step@v1
        with:
          kind: exec
          tools: ')" + tools + R"('
          outputs: out.txt
          run: ls > out.txt
      - run: echo "${{ steps.use.outputs.key }}" > key.txt
)";
}

} // namespace

TEST_CASE("split_tools takes ids of other steps of the run as toolchains, the rest as programs") {
  auto split = engine::split_tools(R"(["node24", "cp", "use"])", {"node24", "use"}, "use", "exec");
  REQUIRE(split);
  CHECK(split->toolchains == std::vector<std::string>{"node24"});
  CHECK(split->programs == std::vector<std::string>{"cp", "use"});
  auto lines = engine::split_tools("node24\nmkdir\n", {"node24"}, "use", "exec");
  REQUIRE(lines);
  CHECK(lines->toolchains == std::vector<std::string>{"node24"});
  CHECK(lines->programs == std::vector<std::string>{"mkdir"});
  auto bad = engine::split_tools("[a, [b]]", {}, "use", "exec");
  REQUIRE_FALSE(bad);
  CHECK(contains(bad.error().message, "exec: with: tools"));
}

TEST_CASE("the planner makes toolchains deps and hands the kind the program names, quotes and all") {
  test::TestDir dir;
  auto pins = engine::PinFile::load(dir.path());
  REQUIRE(pins);
  auto prepare = [&](const std::string& tools) {
    return engine::prepare_steps({engine::StepRequest{"tc", "exec", {{"run", "true"}, {"outputs", "tc/"}}},
                                  engine::StepRequest{"use", "exec", {{"run", "true"}, {"tools", tools}}}},
                                 dir.path(), *pins, "x86_64-linux", steps::all_kinds(), false);
  };
  auto ok = prepare(R"(["tc", "/bin/true"])");
  REQUIRE_MESSAGE(ok, (ok ? "" : ok.error().message));
  CHECK((*ok)[1].toolchains == std::vector<std::string>{"tc"});
  CHECK((*ok)[1].plan.deps == std::vector<std::string>{"tc"});
  CHECK(std::find((*ok)[1].plan.tools.begin(), (*ok)[1].plan.tools.end(), "/bin/true") != (*ok)[1].plan.tools.end());
  CHECK(std::find((*ok)[1].plan.tools.begin(), (*ok)[1].plan.tools.end(), "tc") == (*ok)[1].plan.tools.end());
  // What is left for the kind is checked as before.
  auto empty = prepare(R"(["tc", ""])");
  REQUIRE_FALSE(empty);
  CHECK(empty.error().message == "step 'use': exec: with: tools: an empty program name");
  auto quoted = prepare(R"(["tc", "a\"b/c"])");
  REQUIRE_FALSE(quoted);
  CHECK(quoted.error().message == "step 'use': exec: with: tools: 'a\"b/c' is neither a program name nor an absolute path");
}

TEST_CASE("a toolchain step's bin/ leads PATH over the host's programs and its content keys the step") {
  test::TestDir dir;
  auto ws = dir / "ws";
  test::write(ws / ".forgejo/workflows/ci.yml", workflow("one"));
  auto first = test::akbuild(dir, {"act", "-C", ws.string()});
  REQUIRE_MESSAGE(first.exit_code == 0, (first.out + first.err));
  CHECK(test::read(ws / "out.txt") == "one\n");
  auto key_one = test::read(ws / "key.txt");

  // Another toolchain content: another key, and the new program runs.
  test::write(ws / ".forgejo/workflows/ci.yml", workflow("two"));
  auto second = test::akbuild(dir, {"act", "-C", ws.string()});
  REQUIRE_MESSAGE(second.exit_code == 0, (second.out + second.err));
  CHECK(test::read(ws / "out.txt") == "two\n");
  CHECK(test::read(ws / "key.txt") != key_one);

  // Without the toolchain, the host's ls runs.
  test::write(ws / ".forgejo/workflows/ci.yml", workflow("two", "[]"));
  auto host = test::akbuild(dir, {"act", "-C", ws.string()});
  REQUIRE_MESSAGE(host.exit_code == 0, (host.out + host.err));
  CHECK(test::read(ws / "out.txt") != "two\n");
}

TEST_CASE("a program found in a toolchain is keyed by its place in the workspace, not where the workspace is") {
  test::TestDir dir;
  std::string key;
  for (const char* ws : {"ws", "elsewhere/ws2"}) {
    test::write(dir / ws / ".forgejo/workflows/ci.yml", workflow("one", R"(["tc", "ls"])"));
    auto r = test::akbuild(dir, {"act", "-C", (dir / ws).string()});
    REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
    CHECK(test::read(dir / ws / "out.txt") == "one\n");
    if (key.empty()) key = test::read(dir / ws / "key.txt");
    else CHECK(test::read(dir / ws / "key.txt") == key);
  }
}

TEST_CASE("a kind without a tools parameter takes toolchain ids, and names a program it cannot take") {
  test::TestDir dir;
  auto ws = dir / "ws";
  test::write(ws / ".forgejo/workflows/ci.yml", R"(on: push
jobs:
  build:
    runs-on: host
    steps:
      - id: tc
        uses: akbuild/step@v1
        with:
          kind: exec
          outputs: tc/
          run: mkdir -p tc/bin
      - id: src
        uses: akbuild/step@v1
        with:
          kind: fetch-url
          url: /nonexistent/file
          output: f.txt
          hash: sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
          tools: '["tc", "curl"]'
)");
  auto r = test::akbuild(dir, {"act", "-C", ws.string()});
  CHECK(r.exit_code != 0);
  CHECK_MESSAGE(contains(r.out + r.err, "fetch-url: with: tools: 'curl' is not a step of this run (this kind takes "
                                        "toolchain steps only)"),
                (r.out + r.err));
}

TEST_CASE("a program only a toolchain provides passes a kind's planning check and runs from the toolchain") {
  test::TestDir dir;
  auto ws = dir / "ws";
  auto workflow = [](const std::string& tools) {
    return R"yml(on: push
jobs:
  build:
    runs-on: host
    steps:
      - id: tc
        uses: akbuild/step@v1
        with:
          kind: exec
          outputs: tc/
          run: mkdir -p tc/bin && printf '#!/bin/sh\necho from the toolchain\n' > tc/bin/akbuild-test-greet && chmod +x tc/bin/akbuild-test-greet
      - id: web
        uses: akbuild/step@v1
        with:
          kind: web-bundle
          tools: ')yml" + tools + R"yml('
          commands: mkdir -p dist && akbuild-test-greet > dist/out.txt
)yml";
  };
  // Without the toolchain, web-bundle's check names the program missing from the host.
  test::write(ws / ".forgejo/workflows/ci.yml", workflow(R"(["akbuild-test-greet"])"));
  auto missing = test::akbuild(dir, {"act", "-C", ws.string()});
  CHECK(missing.exit_code != 0);
  CHECK_MESSAGE(contains(missing.out + missing.err, "web-bundle: akbuild-test-greet not found on PATH"),
                (missing.out + missing.err));
  test::write(ws / ".forgejo/workflows/ci.yml", workflow(R"(["tc", "akbuild-test-greet"])"));
  auto found = test::akbuild(dir, {"act", "-C", ws.string()});
  REQUIRE_MESSAGE(found.exit_code == 0, (found.out + found.err));
  CHECK(test::read(ws / "dist/out.txt") == "from the toolchain\n");
}
