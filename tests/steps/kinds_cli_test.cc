// The build kinds driven through `akbuild step` with the real tools they wrap (git and
// nix-hash, python3, the npm generators) and, for openapi-generator (a Java jar that cannot be
// installed offline), a stand-in generator program this test writes, which records its argv.
#include <doctest/doctest.h>

#include "tests/steps/kinds_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {


test::CommandResult step(const test::TestDir& dir, const std::string& kind, const std::vector<std::string>& with,
                         std::map<std::string, std::string> env = {}) {
  std::vector<std::string> args{"step", kind, "-C", (dir / "ws").string()};
  for (const auto& w : with) {
    args.push_back("--with");
    args.push_back(w);
  }
  test::CommandOptions o;
  o.env = std::move(env);
  return test::akbuild(dir, args, o);
}

} // namespace

TEST_CASE("fetch-git pins a tag's tree by the NAR hash nix-hash gives, without .git") {
  if (!test::have_program("git") || !test::have_program("nix-hash")) {
    return test::skip("needs git and nix-hash");
  }
  test::TestDir dir;
  fs::create_directories(dir / "ws");
  test::CommandOptions in_dir;
  in_dir.cwd = dir.path();
  auto made = test::sh(R"(set -e
git init -q repo && cd repo
mkdir -p src && echo 'package main' > src/main.go && printf '#!/bin/sh\necho hi\n' > run.sh && chmod +x run.sh
ln -s src/main.go link.go
git add -A && git -c user.name=t -c user.email=t@t commit -qm one && git tag v1
echo later > later.txt && git add -A && git -c user.name=t -c user.email=t@t commit -qm two
git init -q ../expected && git archive v1 | tar -x -C ../expected && rm -rf ../expected/.git
)", in_dir);
  REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  auto hex = test::run({"nix-hash", "--type", "sha256", (dir / "expected").string()});
  REQUIRE(hex.exit_code == 0);
  auto conv = test::run({"/usr/bin/python3", "-c",
                         "import base64,sys; print('sha256-' + base64.b64encode(bytes.fromhex(sys.argv[1].strip())).decode())",
                         hex.out});
  std::string want = conv.out.substr(0, conv.out.find('\n'));
  std::string url = (dir / "repo").string();
  auto wrong = step(dir, "fetch-git", {"url=" + url, "ref=v1", "output=src", "hash=sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="});
  CHECK(wrong.exit_code != 0);
  CHECK_MESSAGE(test::contains(wrong.out + wrong.err, "got:       " + want), (wrong.out + wrong.err));
  CHECK_FALSE(fs::exists(dir / "ws/src"));
  auto right = step(dir, "fetch-git", {"url=" + url, "ref=v1", "output=src", "hash=" + want});
  REQUIRE_MESSAGE(right.exit_code == 0, (right.out + right.err));
  CHECK(fs::exists(dir / "ws/src/src/main.go"));
  CHECK(fs::is_symlink(dir / "ws/src/link.go"));
  CHECK_FALSE(fs::exists(dir / "ws/src/.git"));
  CHECK_FALSE(fs::exists(dir / "ws/src/later.txt"));
  // A tag checks out a detached HEAD: git's advice about that is noise in a build log.
  CHECK_FALSE(test::contains(wrong.out + wrong.err + right.out + right.err, "detached HEAD"));
}

TEST_CASE("openapi-client runs openapi-generator's exact command and checks its version") {
  test::TestDir dir;
  test::write(dir / "ws/api/schema.yml", "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n");
  test::write(dir / "ws/config.yaml", "packageName: api\n");
  // Stand-in for openapi-generator-cli (the real one needs a jar from Maven Central): prints
  // a version, and for `generate` writes its argv and a Go file into the -o directory.
  test::write(dir / "bin/openapi-generator-cli", R"(#!/bin/sh
if [ "$1" = version ]; then echo 7.19.0; exit 0; fi
out=""; prev=""
for a in "$@"; do [ "$prev" = -o ] && out=$a; prev=$a; done
mkdir -p "$out/test"
printf '%s\n' "$@" > "$out/args.txt"
printf 'package api\nfunc  X( ) {}\n' > "$out/client.go"
)", true);
  std::map<std::string, std::string> env{{"PATH", (dir / "bin").string() + ":" + test::path_with_tools()}};
  std::vector<std::string> with{"generator=openapi-generator", "language=go", "schema=api/schema.yml", "output=gen/go",
                                "config=config.yaml", R"(additional-properties={"packageName": "api", "isGoSubmodule": "true"})",
                                "git-repo-id=client-go", "git-user-id=goauthentik", "version=7.19.0",
                                "post=gofmt -w .\nrm -rf test", R"(tools=["gofmt", "rm"])"};
  auto r = step(dir, "openapi-client", with, env);
  REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
  CHECK(test::read(dir / "ws/gen/go/args.txt") ==
        "generate\n-i\napi/schema.yml\n-g\ngo\n-o\ngen/go\n-c\nconfig.yaml\n"
        "--additional-properties=isGoSubmodule=true,packageName=api\n--git-repo-id\nclient-go\n--git-user-id\ngoauthentik\n");
  CHECK(test::read(dir / "ws/gen/go/client.go") == "package api\n\nfunc X() {}\n");  // gofmt ran
  CHECK_FALSE(fs::exists(dir / "ws/gen/go/test"));
  with[8] = "version=7.18.0";
  fs::remove_all(dir / "ws/gen");
  auto bad = step(dir, "openapi-client", with, env);
  CHECK(bad.exit_code != 0);
  CHECK(test::contains(bad.err + bad.out, "openapi-client: openapi-generator-cli is version 7.19.0, but with: version asks for 7.18.0"));
  CHECK_FALSE(fs::exists(dir / "ws/gen/go"));
}

TEST_CASE("openapi-client generates a client with openapi-typescript and @hey-api/openapi-ts from npm") {
  const char* tools = std::getenv("AKBUILD_TOOLS");
  if (!tools || !fs::exists(fs::path(tools) / "openapi-ts")) {
    return test::skip("needs the npm tools from scripts/setup");
  }
  test::TestDir dir;
  fs::create_directories(dir / "ws/api");
  fs::copy_file(test::source_root() / "examples/stack/api/schema.yml", dir / "ws/api/schema.yml");
  std::map<std::string, std::string> env{{"PATH", test::path_with_tools()}};
  auto types = step(dir, "openapi-client", {"generator=openapi-typescript", "schema=api/schema.yml", "output=gen/types", "version=7.13.0"}, env);
  REQUIRE_MESSAGE(types.exit_code == 0, (types.out + types.err));
  CHECK(test::contains(test::read(dir / "ws/gen/types/schema.d.ts"), "listItems"));
  auto client = step(dir, "openapi-client", {"generator=@hey-api/openapi-ts", "schema=api/schema.yml", "output=gen/ts"}, env);
  REQUIRE_MESSAGE(client.exit_code == 0, (client.out + client.err));
  CHECK(test::contains(test::read(dir / "ws/gen/ts/sdk.gen.ts"), "export const createItem"));
  // openapi-ts names the directory it wrote: the declared output, not the sandbox's scratch dir;
  // and its colour codes stay out of output that is no terminal.
  CHECK_MESSAGE(test::contains(client.out, "Your output is in gen/ts"), client.out);
  CHECK_FALSE(test::contains(client.out + client.err, "/tmp/"));
  CHECK_FALSE(test::contains(client.out + client.err, "\x1b["));
}

TEST_CASE("python-deps --dry-run lists the authentik wheels for CPython 3.14 on manylinux x86_64") {
  auto fixtures = test::fixtures_dir();
  REQUIRE_MESSAGE(fixtures, "AKBUILD_FIXTURES is not set (run the tests through meson test)");
  test::TestDir dir;
  fs::create_directories(dir / "ws");
  fs::copy_file(*fixtures / "authentik/uv.lock", dir / "ws/uv.lock");
  auto r = step(dir, "python-deps", {"backend=pip", "python-version=3.14", "dry-run=true"});
  REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
  auto wheels = test::read(dir / "ws/.venv/wheels.txt");
  CHECK(test::contains(wheels, "cryptography 46.0.5 cryptography-46.0.5-cp311-abi3-manylinux_2_34_x86_64.whl"));
  CHECK(test::contains(wheels, "django 5.2.11 django-5.2.11-py3-none-any.whl sha256:"));
  CHECK(test::contains(wheels, "psycopg-c 3.3.2 - (no wheel for cp314-manylinux_2_36_x86_64 (sdist only))"));
}

TEST_CASE("python-deps --dry-run picks for every authentik package the wheel packaging.tags ranks best") {
  // The oracle is Debian's python3-packaging (scripts/setup installs it), the reference
  // implementation of PEP 425 tag ranking, for the same target: CPython 3.14, glibc 2.36, x86_64.
  auto fixtures = test::fixtures_dir();
  REQUIRE_MESSAGE(fixtures, "AKBUILD_FIXTURES is not set (run the tests through meson test)");
  test::TestDir dir;
  fs::create_directories(dir / "ws");
  fs::copy_file(*fixtures / "authentik/uv.lock", dir / "ws/uv.lock");
  auto r = step(dir, "python-deps", {"backend=pip", "python-version=3.14", "libc-version=2.36", "dry-run=true"});
  REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
  auto oracle = test::run({"/usr/bin/python3", (test::source_root() / "tests/steps/wheel_oracle.py").string(),
                           (dir / "ws/uv.lock").string(), (dir / "ws/.venv/wheels.txt").string(), "3.14", "2.36"});
  CHECK_MESSAGE(oracle.exit_code == 0, (oracle.out + oracle.err));
  CHECK(test::contains(oracle.out, " packages checked, 0 mismatched"));
}
