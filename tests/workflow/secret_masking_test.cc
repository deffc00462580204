// Secrets that are hard to mask (a quote, a backslash, a newline, non-ASCII) stay out of what
// `akbuild act` prints (stdout, stderr, --json), out of step outputs, and off disk (the cache dir).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "tests/support/test_support.hh"
#include "tests/workflow/act_support.hh"

using namespace akbuild;
using test::TestDir;
namespace fs = std::filesystem;

namespace {

// A quote, a backslash, a newline and non-ASCII letters, each where a masker could trip.
const std::string k_secret = "pa\"ss\\w\xC3\xB6rd-42\nzweite Zeile \xE2\x82\xAC";

// Every form in which the secret, or one of its lines, would show: verbatim, and as JSON
// escapes it (with and without \u escapes for the non-ASCII letters).
std::vector<std::string> forms() {
  std::vector<std::string> pieces{k_secret, k_secret.substr(0, k_secret.find('\n')),
                                  k_secret.substr(k_secret.find('\n') + 1)};
  std::vector<std::string> out;
  for (const auto& p : pieces) {
    out.push_back(p);
    for (bool ascii : {false, true}) {
      std::string quoted = nlohmann::json(p).dump(-1, ' ', ascii);
      out.push_back(quoted.substr(1, quoted.size() - 2));
    }
  }
  return out;
}

// The first form of the secret found in `text`, or "" when none is.
std::string leak(const std::string& text) {
  for (const auto& f : forms())
    if (text.find(f) != std::string::npos) return f;
  return "";
}

// The first file under `root` holding a form of the secret, or "".
std::string leaking_file(const fs::path& root) {
  if (!fs::exists(root)) return "";
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file() || e.is_symlink()) continue;
    if (!leak(test::read(e.path())).empty()) return e.path().string();
  }
  return "";
}

const char* k_workflow = R"yaml(on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - id: plain
        run: |
          printf 'out:%s\n' "$S"
          printf 'err:%s\n' "$S" >&2
          printf 'value<<EOF\n%s\nEOF\n' "$S" >> "$GITHUB_OUTPUT"
        env:
          S: ${{ secrets.S }}
      - run: echo "from output $V"
        env:
          V: ${{ steps.plain.outputs.value }}
      - id: step
        uses: akbuild/step@v1
        with:
          kind: exec
          run: printf 'in step:%s\n' "$TOKEN"; printf 'in step err:%s\n' "$TOKEN" >&2; echo done > out.txt
          outputs: out.txt
          env: '{"TOKEN": ${{ toJSON(secrets.S) }}}'
      - run: echo "key ${{ steps.step.outputs.key }}"
)yaml";

// act with the hard secret given as S.
test::CommandResult act_with_secret(const TestDir& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {"--secret", "S=" + k_secret});
  return test::act(dir, std::move(args));
}

} // namespace

TEST_CASE("a secret with a quote, a backslash, a newline and non-ASCII is masked on stdout and stderr") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", k_workflow);
  auto r = act_with_secret(dir, {});
  REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
  CHECK(r.out.find("out:") != std::string::npos);
  CHECK(r.out.find("in step:") != std::string::npos);
  CHECK_MESSAGE(leak(r.out).empty(), "stdout shows " << leak(r.out) << ":\n" << r.out);
  CHECK_MESSAGE(leak(r.err).empty(), "stderr shows " << leak(r.err) << ":\n" << r.err);
}

TEST_CASE("a hard secret is masked in --json events") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", k_workflow);
  auto r = act_with_secret(dir, {"--json"});
  REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
  CHECK(r.out.find("out:") != std::string::npos);
  CHECK_MESSAGE(leak(r.out).empty(), "--json shows " << leak(r.out) << ":\n" << r.out);
  CHECK_MESSAGE(leak(r.err).empty(), "stderr shows " << leak(r.err) << ":\n" << r.err);
}

TEST_CASE("a hard secret passed through a step output is masked where the output is printed") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", k_workflow);
  auto r = act_with_secret(dir, {});
  REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
  auto at = r.out.find("from output ");
  REQUIRE_MESSAGE(at != std::string::npos, r.out);
  std::string line = r.out.substr(at, r.out.find('\n', at) - at);
  CHECK_MESSAGE(leak(line).empty(), line);
  CHECK(line.find("***") != std::string::npos);
}

TEST_CASE("a hard secret in an akbuild step's env reaches no file in the cache dir or the workspace") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", k_workflow);
  auto r = act_with_secret(dir, {});
  REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
  CHECK(test::read(dir / "ws/out.txt") == "done\n");
  CHECK_MESSAGE(leaking_file(dir / "cache").empty(), "the secret is on disk in " << leaking_file(dir / "cache"));
  CHECK_MESSAGE(leaking_file(dir / "ws").empty(), "the secret is on disk in " << leaking_file(dir / "ws"));
  // The dry run's explain (which prints manifest lines) does not show it either.
  auto explain = act_with_secret(dir, {"-n", "--explain"});
  REQUIRE_MESSAGE(explain.exit_code == 0, (explain.out + explain.err));
  CHECK_MESSAGE(leak(explain.out + explain.err).empty(), (explain.out + explain.err));
}
