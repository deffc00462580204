// SIGKILL at each phase of a miss's store path: outputs moved into the CAS, directory records and
// logs put, the one syncfs, the links of the materialization (beside the sync), the action
// record. strace delivers the signal on entry to a thread's N-th call of a system call, so the
// process dies at an exact point of its real code path (no hook in akbuild). Whatever the point,
// the cache holds no record naming a missing or changed blob, the workspace output is absent or
// whole, and the next run succeeds.
#include <doctest/doctest.h>

#include <utility>

#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

const std::string k_run = "mkdir -p out/d; for i in 1 2 3; do echo $i > out/d/$i; done; echo top > out/top; "
                          "printf '#!/bin/sh\\n' > out/x.sh; chmod +x out/x.sh";

bool whole_output(const fs::path& out) {
  return test::read(out / "d" / "1") == "1\n" && test::read(out / "d" / "2") == "2\n" &&
         test::read(out / "d" / "3") == "3\n" && test::read(out / "top") == "top\n" &&
         test::read(out / "x.sh") == "#!/bin/sh\n";
}

} // namespace

TEST_CASE("SIGKILL at any phase of storing a miss leaves no half entry, and the next run succeeds") {
  if (!test::have_program("strace")) return test::skip("strace is not installed");
  const std::vector<std::pair<std::string, int>> points = {
      // moves of output files into the CAS, on worker threads (strace counts each thread's calls:
      // a new shard dir takes a second call)
      {"renameat2", 1}, {"renameat2", 2}, {"renameat2", 3},
      {"link", 1}, {"link", 2}, {"link", 3},  // directory records and logs put
      {"syncfs", 1},
      // output files linked out of the CAS into the workspace while the sync runs; the last is
      // the materialization's final step before its renames
      {"linkat", 1}, {"linkat", 3}, {"linkat", 4},
      {"rename", 1}, {"rename", 2}, {"rename", 3}};  // tool version, action record, last manifest
  for (const auto& [call, when] : points) {
    CAPTURE(call);
    CAPTURE(when);
    test::TestDir dir;
    fs::create_directories(dir / "ws");
    std::vector<std::string> step = {"step", "exec", "-C", (dir / "ws").string(), "--sandbox", "off",
                                     "--with", "outputs=out/", "--with", "run=" + k_run};
    std::vector<std::string> argv = {"strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=" + call,
                                     "-e", "inject=" + call + ":signal=KILL:when=" + std::to_string(when),
                                     test::akbuild_bin().string(), "--cache-dir", (dir / "cache").string()};
    argv.insert(argv.end(), step.begin(), step.end());
    test::CommandOptions o;
    o.env = {{"HOME", (dir / "home").string()}, {"AKBUILD_EXECUTOR", "none"}};
    auto killed = test::run(argv, o);
    INFO(killed.out, killed.err);
    CHECK(killed.exit_code != 0);  // every point is reached: the run dies there

    auto verify = test::akbuild(dir, {"cache", "verify"});
    INFO(verify.out, verify.err);
    CHECK(verify.exit_code == 0);
    if (fs::exists(dir / "ws" / "out")) CHECK(whole_output(dir / "ws" / "out"));

    auto again = test::akbuild(dir, step);
    INFO(again.out, again.err);
    CHECK(again.exit_code == 0);
    CHECK(whole_output(dir / "ws" / "out"));
    CHECK(test::akbuild(dir, {"cache", "verify"}).exit_code == 0);
  }
}
