// `akbuild step` inside a runner's job (RUNNER_TEMP, GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT,
// GITHUB_JOB set, as forgejo-runner sets them for every step): deps name earlier steps of the
// job although each step is its own process.
#include <doctest/doctest.h>

#include "runner/core/fs.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

struct Job {
  test::TestDir dir;
  fs::path ws = dir / "ws";
  std::map<std::string, std::string> env{{"RUNNER_TEMP", (dir / "runner-temp").string()},
                                         {"GITHUB_RUN_ID", "42"},
                                         {"GITHUB_RUN_ATTEMPT", "1"},
                                         {"GITHUB_JOB", "build"}};

  Job() { fs::create_directories(ws); }
  test::CommandResult step(std::vector<std::string> args) {
    std::vector<std::string> argv{"step"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"-C", ws.string(), "--sandbox", "off"});
    test::CommandOptions o;
    o.env = env;
    return test::akbuild(dir, argv, o);
  }
  test::CommandResult gen() {
    return step({"exec", "--id", "gen", "--with", "run=mkdir -p out && echo generated > out/a.txt",
                 "--with", "outputs=out/"});
  }
  test::CommandResult use() {
    return step({"exec", "--id", "use", "--with", "deps=[\"gen\"]", "--with",
                 "run=mkdir -p res && cat out/a.txt > res/b.txt", "--with", "outputs=res/"});
  }
};

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

} // namespace

TEST_CASE("akbuild step in a job: deps name a step an earlier process of the same job ran") {
  Job job;
  auto g = job.gen();
  REQUIRE_MESSAGE(g.exit_code == 0, (g.out + g.err));
  auto u = job.use();
  REQUIRE_MESSAGE(u.exit_code == 0, (u.out + u.err));
  CHECK(test::read(job.ws / "res/b.txt") == "generated\n");
  // The earlier step comes along as a hit: it is what the later one is keyed by.
  CHECK(contains(u.out, "[gen] hit"));
  auto again = job.use();
  REQUIRE_MESSAGE(again.exit_code == 0, (again.out + again.err));
  CHECK(contains(again.out, "[use] hit"));
}

TEST_CASE("akbuild step in a job: the state is the job's own, keyed by run id, attempt and job") {
  Job job;
  REQUIRE(job.gen().exit_code == 0);
  SUBCASE("another attempt of the run") { job.env["GITHUB_RUN_ATTEMPT"] = "2"; }
  SUBCASE("another job of the run") { job.env["GITHUB_JOB"] = "other"; }
  SUBCASE("another run") { job.env["GITHUB_RUN_ID"] = "43"; }
  SUBCASE("outside a job") { job.env["RUNNER_TEMP"] = ""; }
  auto u = job.use();
  CHECK(u.exit_code == 2);
  CHECK(contains(u.err, "deps: unknown step 'gen'"));
}

TEST_CASE("akbuild step in a job: a step given a masked value is not written to the job state") {
  Job job;
  job.env["AKBUILD_MASK"] = "hunter2-secret";
  auto g = job.step({"exec", "--id", "gen", "--with", "run=mkdir -p out && echo hunter2-secret | wc -c > out/a.txt",
                     "--with", "outputs=out/"});
  REQUIRE_MESSAGE(g.exit_code == 0, (g.out + g.err));
  auto state = job.dir / "runner-temp/akbuild-jobs/42-1-build.json";
  REQUIRE(fs::exists(state));
  CHECK_FALSE(contains(test::read(state), "hunter2"));
  auto u = job.use();
  CHECK(u.exit_code == 2);
  CHECK(contains(u.err, "step 'gen' of this job was given a masked value"));
}

TEST_CASE("akbuild step in a job: a damaged job state is one clear error, not a guess") {
  Job job;
  test::write(job.dir / "runner-temp/akbuild-jobs/42-1-build.json", "{\"gen\": [1, 2]}\n");
  auto u = job.use();
  CHECK(u.exit_code == 2);
  CHECK(contains(u.err, "42-1-build.json: step 'gen' is damaged"));
}

TEST_CASE("akbuild step in a job: a job state it cannot write is a warning; the step still succeeds") {
  Job job;
  test::write(job.dir / "runner-temp/akbuild-jobs", "a file where the state dir goes\n");
  auto g = job.gen();
  CHECK_MESSAGE(g.exit_code == 0, (g.out + g.err));
  CHECK_MESSAGE(contains(g.err, "akbuild: warning: later steps of this job cannot name 'gen' in deps: "), g.err);
  CHECK(test::read(job.ws / "out/a.txt") == "generated\n");
}

TEST_CASE("akbuild step in a job: tools name a toolchain step an earlier process of the job ran") {
  Job job;
  auto tc = job.step({"exec", "--id", "tc", "--with",
                      "run=mkdir -p tc/bin && printf '#!/bin/sh\\necho from tc\\n' > tc/bin/akbuild-test-tc && chmod +x tc/bin/akbuild-test-tc",
                      "--with", "outputs=tc/"});
  REQUIRE_MESSAGE(tc.exit_code == 0, (tc.out + tc.err));
  // The toolchain is on PATH only if the job state sent its step along: without it, `tc` is a
  // program name, and none of that name is on the host.
  auto use = job.step({"exec", "--id", "use", "--with", "tools=[\"tc\"]", "--with", "run=akbuild-test-tc > res.txt",
                       "--with", "outputs=res.txt"});
  REQUIRE_MESSAGE(use.exit_code == 0, (use.out + use.err));
  CHECK(test::read(job.ws / "res.txt") == "from tc\n");
}
