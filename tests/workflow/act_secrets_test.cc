// Secrets in `akbuild act`: given by --secret-file (act's dotenv format) or --secret, or
// registered by a step with ::add-mask::; masked in every form GitHub's runner masks, on
// stdout, stderr, --json and step outputs; and never stored in the cache dir.
#include <doctest/doctest.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "runner/core/encoding.hh"
#include "tests/support/test_support.hh"
#include "tests/workflow/act_support.hh"

using namespace akbuild;
using test::TestDir;
namespace fs = std::filesystem;

namespace {

using test::act;
using test::contains;

std::string url_escaped(const std::string& s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') out += static_cast<char>(c);
    else out += std::string("%") + hex[c >> 4] + hex[c & 15];
  }
  return out;
}

// Every form of `secret` a reader could recover it from.
std::vector<std::string> forms(const std::string& secret) {
  std::vector<std::string> out{secret, to_base64(as_bytes(secret)), url_escaped(secret)};
  auto json = nlohmann::json(secret).dump();
  out.push_back(json.substr(1, json.size() - 2));
  std::istringstream lines(secret);
  for (std::string line; std::getline(lines, line);) out.push_back(line);
  return out;
}

// The files under `dir` holding `needle`.
std::vector<std::string> files_holding(const fs::path& dir, const std::string& needle) {
  std::vector<std::string> out;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it)
    if (it->is_regular_file() && contains(test::read(it->path()), needle)) out.push_back(it->path().string());
  return out;
}

const char* k_leaky = R"YAML(on: push
jobs:
  leak:
    runs-on: self-hosted
    outputs:
      q: ${{ steps.a.outputs.q }}
    steps:
      - id: a
        env:
          Q: ${{ secrets.QUOTED }}
          M: ${{ secrets.MULTI }}
          U: ${{ secrets.UNI }}
        run: |
          echo "plain $Q"
          echo "stderr $Q" >&2
          printf '%s\n' "$M"
          echo "uni $U"
          echo "b64 $(printf '%s' "$Q" | base64 -w0)"
          echo "b64u $(printf 'user:%s' "$U" | base64 -w0)"
          echo "url $(/usr/bin/python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1],safe=""))' "$Q")"
          echo "json $(/usr/bin/python3 -c 'import sys,json;print(json.dumps(sys.argv[1]))' "$Q")"
          echo "q=$Q" >> "$GITHUB_OUTPUT"
          echo "u=$U" >> "$GITHUB_OUTPUT"
      - env:
          O: ${{ steps.a.outputs.q }}
          P: ${{ steps.a.outputs.u }}
        run: echo "output $O / $P"
)YAML";

} // namespace

TEST_CASE("act --secret-file: secrets with quotes, backslashes, newlines and non-ASCII are masked everywhere") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", k_leaky);
  test::write(dir / "secrets.env", "# act's dotenv format\n"
                                   "QUOTED=\"pa\\\"ss\\\\wo rd-1\"\n"
                                   "export MULTI=\"first-line-x1\\nsecond-line-y2\"\n"
                                   "UNI='пароль-密码-3'\n");
  const std::vector<std::string> secrets{"pa\"ss\\wo rd-1", "first-line-x1\nsecond-line-y2", "пароль-密码-3"};
  for (bool json : {false, true}) {
    CAPTURE(json);
    std::vector<std::string> args{"--secret-file", (dir / "secrets.env").string()};
    if (json) args.push_back("--json");
    auto r = act(dir, args);
    INFO(r.out, r.err);
    REQUIRE(r.exit_code == 0);
    for (const auto& secret : secrets)
      for (const auto& form : forms(secret)) {
        CAPTURE(form);
        CHECK_FALSE(contains(r.out, form));
        CHECK_FALSE(contains(r.err, form));
      }
    if (json) {
      std::istringstream lines(r.out);
      for (std::string line; std::getline(lines, line);) CHECK(nlohmann::json::accept(line));
      continue;
    }
    CHECK(contains(r.out, "plain ***\n"));
    CHECK(contains(r.out, "stderr ***\n"));
    CHECK(contains(r.out, "uni ***\n"));
    CHECK(contains(r.out, "output *** / ***\n"));
  }
}

TEST_CASE("act --secret-file: a malformed file is one clear line and exit 2") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", k_leaky);
  test::write(dir / "bad.env", "A=1\nB=\"unterminated\n");
  auto r = act(dir, {"--secret-file", (dir / "bad.env").string()});
  CHECK(r.exit_code == 2);
  CHECK_MESSAGE(contains(r.err, "bad.env:2: the value of 'B' has no closing \""), r.err);
  auto missing = act(dir, {"--secret-file", (dir / "nope.env").string()});
  CHECK(missing.exit_code == 2);
  CHECK(contains(missing.err, "--secret-file: "));
}

TEST_CASE("act: ::add-mask:: from a step masks the value in later lines and steps, and is not shown") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"YAML(on: push
jobs:
  one:
    runs-on: self-hosted
    steps:
      - run: |
          echo "::add-mask::dyn-secret-42"
          echo "value dyn-secret-42"
      - run: echo "again dyn-secret-42 $(printf dyn-secret-42 | base64)"
)YAML");
  for (bool json : {false, true}) {
    auto r = act(dir, json ? std::vector<std::string>{"--json"} : std::vector<std::string>{});
    INFO(r.out, r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_FALSE(contains(r.out + r.err, "dyn-secret-42"));
    CHECK_FALSE(contains(r.out + r.err, to_base64(as_bytes("dyn-secret-42"))));
    CHECK(contains(r.out, "value ***"));
    CHECK(contains(r.out, "again *** ***"));
  }
}

TEST_CASE("act: a secret in an akbuild step's env is not stored, nor printed by -n --explain after a rotation") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - id: gen
        uses: akbuild/step@v1
        with:
          kind: exec
          env: TOKEN=${{ secrets.TOKEN }}
          run: mkdir -p out; echo "using $TOKEN"; printf %s "$TOKEN" | wc -c > out/n
          outputs: out/
)");
  test::write(dir / "old.env", "TOKEN=old-token-1234\n");
  auto run = act(dir, {"--secret-file", (dir / "old.env").string()});
  INFO(run.out, run.err);
  REQUIRE(run.exit_code == 0);
  CHECK(contains(run.out, "using ***"));
  auto rotated = act(dir, {"-n", "--explain", "--secret", "TOKEN=new-token-5678"});
  INFO(rotated.out, rotated.err);
  CHECK(rotated.exit_code == 0);
  CHECK(contains(rotated.out, "env TOKEN: (secret) "));
  for (const std::string secret : {"old-token-1234", "new-token-5678"}) {
    CAPTURE(secret);
    CHECK_FALSE(contains(rotated.out + rotated.err, secret));
    CHECK(files_holding(dir / "cache", secret).empty());
  }
}

TEST_CASE("act --json: a secret in an object key (a step output's name) is masked too") {
  // Strings are masked before encoding; keys only after it. A step may name an output after a
  // secret it holds, and step_finished lists the outputs by name.
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"YAML(on: push
jobs:
  one:
    runs-on: self-hosted
    steps:
      - id: leak
        env: {NAME: "${{ secrets.NAME }}"}
        run: echo "${NAME}=x" >> "$GITHUB_OUTPUT"
)YAML");
  auto r = act(dir, {"--json", "--secret", "NAME=keyname-secret-7"});
  INFO(r.out, r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(contains(r.out, "\"step_finished\""));
  CHECK(contains(r.out, "\"***\":\"x\""));
  CHECK_FALSE(contains(r.out + r.err, "keyname-secret-7"));
}
