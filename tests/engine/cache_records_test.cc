// `akbuild step` against a cache dir someone else writes to: edited, emptied or truncated action
// records are misses (never written through), and a cache dir this user cannot write serves hits.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include "akbuild/v1/cache.pb.h"
#include "runner/cas/proto_io.hh"
#include "runner/cas/sealed_record.hh"
#include "runner/core/fs.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

// The one action record under <cache>/ac (last manifests aside).
fs::path only_record(const fs::path& cache) {
  std::vector<fs::path> found;
  for (auto& e : fs::recursive_directory_iterator(cache / "ac"))
    if (e.is_regular_file() && e.path().parent_path().filename() != "last") found.push_back(e.path());
  REQUIRE(found.size() == 1);
  return found[0];
}

// Rewrites a record as someone with write access to the cache dir could, resealing it (or, for
// a record without a seal as earlier versions wrote, leaving it bare, so the test also shows
// what those versions did with it).
void edit_record(const fs::path& path, const std::function<void(v1::ActionResult&)>& change) {
  std::string bytes = test::read(path);
  auto payload = cas::unseal_record("action", bytes);
  v1::ActionResult r;
  REQUIRE(r.ParseFromString(payload ? std::string(*payload) : bytes));
  change(r);
  std::string edited = cas::serialize_deterministic(r);
  test::write(path, payload ? cas::seal_record("action", edited) : edited);
}

const std::vector<std::string> k_step{"step", "exec", "--id", "gen", "--sandbox", "off", "--with", "outputs=out/",
                                      "--with", "run=mkdir -p out && echo hi > out/a.txt"};

test::CommandResult step(const test::TestDir& dir, std::vector<std::string> args = k_step,
                         test::CommandOptions options = {}) {
  args.insert(args.end(), {"-C", (dir / "ws").string()});
  return test::akbuild(dir, args, options);
}

} // namespace

TEST_CASE("an action record edited to name a path outside the workspace is a miss, not a write there") {
  test::TestDir dir;
  fs::create_directories(dir / "ws");
  auto first = step(dir);
  INFO(first.out, first.err);
  REQUIRE(first.exit_code == 0);
  fs::path record = only_record(dir / "cache");

  std::string planted;
  SUBCASE("../x") { planted = "../x/"; }
  SUBCASE("an absolute path") { planted = (dir / "abs").string() + "/"; }
  CAPTURE(planted);
  edit_record(record, [&](v1::ActionResult& r) {
    auto tree = r.outputs().at("out/");
    r.mutable_outputs()->clear();
    (*r.mutable_outputs())[planted] = tree;
  });
  fs::remove_all(dir / "ws" / "out");

  auto second = step(dir);
  INFO(second.out, second.err);
  CHECK(second.exit_code == 0);
  CHECK(contains(second.out, "ran (key "));
  CHECK(contains(second.err + second.out, "corrupt record"));
  CHECK_FALSE(fs::exists(dir / "x"));
  CHECK_FALSE(fs::exists(dir / "abs"));
  CHECK(test::read(dir / "ws" / "out" / "a.txt") == "hi\n");
  auto third = step(dir);
  CHECK(contains(third.out, "hit (key "));
}

TEST_CASE("an empty or truncated action record is a miss that re-runs the step, not a hit with no outputs") {
  test::TestDir dir;
  fs::create_directories(dir / "ws");
  REQUIRE(step(dir).exit_code == 0);
  fs::path record = only_record(dir / "cache");
  std::string sealed = test::read(record);
  SUBCASE("empty") { test::write(record, ""); }
  SUBCASE("truncated") { test::write(record, sealed.substr(0, sealed.size() / 2)); }
  fs::remove_all(dir / "ws" / "out");

  auto again = step(dir);
  INFO(again.out, again.err);
  CHECK(again.exit_code == 0);
  CHECK(contains(again.out, "ran (key "));
  CHECK(test::read(dir / "ws" / "out" / "a.txt") == "hi\n");
}

TEST_CASE("a cache dir the user cannot write serves hits; a miss fails naming it") {
  if (!test::have_program("setpriv")) return;  // needed to drop root, which ignores permission bits
  test::TestDir dir;
  fs::create_directories(dir / "ws");
  REQUIRE(step(dir).exit_code == 0);  // as root: the cache dir is root's, 0755
  fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::others_read | fs::perms::others_exec);
  fs::remove_all(dir / "ws" / "out");
  fs::create_directories(dir / "home");
  for (const auto& p : {dir / "ws", dir / "home"}) REQUIRE(::chown(p.c_str(), 65534, 65534) == 0);
  auto as_nobody = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                  test::akbuild_bin().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"-C", (dir / "ws").string()});
    test::CommandOptions options;
    options.env = {{"AKBUILD_CACHE_DIR", (dir / "cache").string()}, {"HOME", (dir / "home").string()},
                   {"XDG_RUNTIME_DIR", (dir / "home").string()}, {"AKBUILD_EXECUTOR", "none"}};
    return test::run(argv, options);
  };
  auto hit = as_nobody(k_step);
  INFO(hit.out, hit.err);
  CHECK(hit.exit_code == 0);
  CHECK(contains(hit.out, "hit (key "));
  CHECK(test::read(dir / "ws" / "out" / "a.txt") == "hi\n");

  auto changed = k_step;
  changed.back() = "run=mkdir -p out && echo other > out/a.txt";
  auto miss = as_nobody(changed);
  INFO(miss.out, miss.err);
  CHECK(miss.exit_code == 1);
  CHECK(contains(miss.out + miss.err,
                 "cache dir " + (dir / "cache").string() + " is read-only: cannot run step 'gen'"));
}
