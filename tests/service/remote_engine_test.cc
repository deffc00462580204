// The daemon as an engine::Engine: events arrive as the in-process engine sends them, the
// factory picks the daemon when it answers (and says so when a named one does not), and
// `akbuild step --dry-run` and `akbuild act` print the same through a daemon as in-process.

#include <doctest/doctest.h>

#include <cstdlib>
#include <mutex>
#include <regex>

#include "runner/service/engine_factory.hh"
#include "runner/service/remote_engine.hh"
#include "tests/service/daemon.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

struct Collect final : engine::EventSink {
  void on_event(const engine::Event& e) override {
    std::lock_guard lock(mutex);
    if (const auto* p = std::get_if<engine::Progress>(&e.body)) progress.push_back(*p);
    if (const auto* s = std::get_if<engine::StateChange>(&e.body)) states.push_back(s->step_id + " " + std::string(to_string(s->state)));
  }
  bool saw(const std::string& state) const { return std::find(states.begin(), states.end(), state) != states.end(); }
  std::mutex mutex;
  std::vector<engine::Progress> progress;
  std::vector<std::string> states;
};

const std::vector<engine::StepRequest> k_two_steps{
    {.id = "a", .kind = "exec", .with = {{"run", "echo a > a.txt"}, {"outputs", "a.txt"}}},
    {.id = "b", .kind = "exec", .with = {{"run", "cat a.txt > b.txt"}, {"outputs", "b.txt"}, {"deps", "a"}}},
};

// Sets an environment variable for one scope.
struct ScopedEnv {
  ScopedEnv(const char* name, const std::string& value) : m_name(name) {
    if (const char* old = std::getenv(name)) m_old = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (m_old) ::setenv(m_name, m_old->c_str(), 1);
    else ::unsetenv(m_name);
  }
  const char* m_name;
  std::optional<std::string> m_old;
};

const std::string k_workflow = R"(on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - id: gen
        uses: akbuild/step@v1
        with:
          kind: exec
          run: tr a-z A-Z < src/in.txt > out/gen.txt
          inputs: src/**
          outputs: out/
      - id: pack
        uses: akbuild/step@v1
        with:
          kind: exec
          run: wc -c < out/gen.txt > size.txt
          outputs: size.txt
          deps: gen
      - name: Show
        run: echo "size $(cat size.txt) hit=${{ steps.pack.outputs.cache-hit }} key=${{ steps.gen.outputs.key }}"
)";

test::CommandOptions with_env(std::map<std::string, std::string> env) {
  test::CommandOptions options;
  options.env = std::move(env);
  return options;
}

bool has_record(const fs::path& cache) {
  if (!fs::exists(cache / "ac")) return false;
  for (auto& e : fs::recursive_directory_iterator(cache / "ac"))
    if (e.is_regular_file() && e.path().parent_path().filename() != "last") return true;
  return false;
}

} // namespace

TEST_CASE("progress counts and step states arrive through a real daemon as the engine sends them") {
  test::TestDir dir;
  fs::create_directories(dir / "ws");
  test::Daemon daemon(dir);
  engine::EngineOptions options;
  options.workspace = dir / "ws";
  options.jobs = 2;
  options.sandbox = exec::SandboxMode::off;
  auto engine = service::make_remote_engine(daemon.stub(), options);
  Collect first;
  auto ran = engine->run(k_two_steps, first);
  REQUIRE_MESSAGE(ran, (ran ? "" : ran.error().message));
  REQUIRE(ran->size() == 2);
  CHECK(ran->at(1).success);
  CHECK(test::read(dir / "ws/b.txt") == "a\n");
  REQUIRE_FALSE(first.progress.empty());
  CHECK(first.progress.front() == engine::Progress{.done = 0, .total = 2, .running = 0, .cached = 0});
  CHECK(first.progress.at(1) == engine::Progress{.done = 0, .total = 2, .running = 1, .cached = 0});
  CHECK(first.progress.back() == engine::Progress{.done = 2, .total = 2, .running = 0, .cached = 0});
  CHECK(first.saw("a started"));
  CHECK(first.saw("b finished"));

  Collect second;
  auto hit = engine->run(k_two_steps, second);
  REQUIRE(hit);
  CHECK(hit->at(0).cache_hit);
  CHECK(second.progress.back() == engine::Progress{.done = 2, .total = 2, .running = 0, .cached = 2});
  CHECK(second.saw("a cached"));
  CHECK(second.saw("b cached"));

  auto planned = engine->plan(k_two_steps);
  REQUIRE(planned);
  CHECK(planned->at(1).hit);
  CHECK(planned->at(1).key == hit->at(1).key);
}

TEST_CASE("open_engine runs steps in the daemon that answers, and in-process with AKBUILD_EXECUTOR=none") {
  test::TestDir dir;
  fs::create_directories(dir / "ws");
  test::Daemon daemon(dir);
  engine::EngineOptions options;
  options.workspace = dir / "ws";
  options.cache_dir = dir / "client-cache";
  options.sandbox = exec::SandboxMode::off;
  {
    ScopedEnv env("AKBUILD_EXECUTOR", daemon.env_value());
    auto engine = service::open_engine(options);
    REQUIRE_MESSAGE(engine, (engine ? "" : engine.error().message));
    Collect events;
    auto ran = (*engine)->run({k_two_steps[0]}, events);
    REQUIRE(ran);
    CHECK(ran->at(0).success);
    // The daemon keeps its own cache: the client's was not even made.
    CHECK(has_record(dir / "cache"));
    CHECK_FALSE(fs::exists(dir / "client-cache"));
  }
  {
    ScopedEnv env("AKBUILD_EXECUTOR", "none");
    auto engine = service::open_engine(options);
    REQUIRE(engine);
    Collect events;
    auto ran = (*engine)->run({k_two_steps[0]}, events);
    REQUIRE(ran);
    CHECK_FALSE(ran->at(0).cache_hit);
    CHECK(has_record(dir / "client-cache"));
  }
}

TEST_CASE("akbuild step with an AKBUILD_EXECUTOR that does not answer says so once and runs in-process") {
  test::TestDir dir;
  fs::create_directories(dir / "ws");
  std::string executor, named;
  SUBCASE("a unix socket nobody made") {
    executor = "unix:" + (dir / "run/nobody.sock").string();
    named = (dir / "run/nobody.sock").string();
  }
  SUBCASE("a TCP port nobody listens on") {
    executor = "tcp:127.0.0.1:1";
    named = "127.0.0.1:1";
  }
  CAPTURE(executor);
  auto r = test::akbuild(dir, {"step", "exec", "--id", "gen", "--sandbox", "off", "-C", (dir / "ws").string(), "--with",
                               "run=echo hi > out.txt", "--with", "outputs=out.txt"},
                         with_env({{"AKBUILD_EXECUTOR", executor}}));
  INFO(r.out, r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("[gen] ran (key ") != std::string::npos);
  CHECK(test::read(dir / "ws/out.txt") == "hi\n");
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.find(named) != std::string::npos);
  CHECK(r.err.find("running steps in-process") != std::string::npos);
}

TEST_CASE("akbuild act and step --dry-run print the same through a daemon as in-process") {
  test::TestDir dir;
  test::write(dir / "ws/src/in.txt", "hello\n");
  test::write(dir / "ws/.forgejo/workflows/ci.yml", k_workflow);
  test::Daemon daemon(dir);
  // The client's own cache dir stays empty whenever the daemon does the work.
  const auto remote = with_env({{"AKBUILD_EXECUTOR", daemon.env_value()},
                                {"AKBUILD_CACHE_DIR", (dir / "client-cache").string()}});
  const auto local = with_env({{"AKBUILD_EXECUTOR", "none"}, {"AKBUILD_CACHE_DIR", (dir / "cache").string()}});
  auto act = [&](std::vector<std::string> args, const test::CommandOptions& options) {
    args.insert(args.begin(), {"act", "-C", (dir / "ws").string()});
    auto r = test::akbuild(dir, args, options);
    INFO(r.out, r.err);
    CHECK(r.exit_code == 0);
    return r;
  };

  auto remote_dry = act({"-n"}, remote);
  auto local_dry = act({"-n"}, local);
  CHECK(remote_dry.out.find("] akbuild exec: key ") != std::string::npos);
  CHECK(remote_dry.out == local_dry.out);

  auto ran = act({}, remote);
  CHECK(ran.out.find("hit=false") != std::string::npos);
  CHECK(has_record(dir / "cache"));
  CHECK_FALSE(has_record(dir / "client-cache"));

  // All hits now, in the daemon's cache: the same lines either way (timings aside).
  auto strip = [](const std::string& s) { return std::regex_replace(s, std::regex("[0-9.]+ ?m?s\\b"), "T"); };
  auto remote_again = act({}, remote);
  auto local_again = act({}, local);
  CHECK(remote_again.out.find("hit=true") != std::string::npos);
  CHECK(strip(remote_again.out) == strip(local_again.out));
  remote_dry = act({"-n", "--explain"}, remote);
  local_dry = act({"-n", "--explain"}, local);
  CHECK(remote_dry.out.find(" hit\n") != std::string::npos);
  CHECK(remote_dry.out == local_dry.out);
  CHECK_FALSE(has_record(dir / "client-cache"));

  const std::vector<std::string> step{"step", "exec", "--id", "gen", "-n", "-C", (dir / "ws").string(), "--with",
                                      "run=tr a-z A-Z < src/in.txt > out/gen.txt", "--with", "inputs=src/**",
                                      "--with", "outputs=out/"};
  auto remote_step = test::akbuild(dir, step, remote);
  auto local_step = test::akbuild(dir, step, local);
  INFO(remote_step.out, remote_step.err, local_step.out);
  CHECK(remote_step.exit_code == 0);
  CHECK(remote_step.out.find("[gen] hit (key ") != std::string::npos);
  CHECK(remote_step.out == local_step.out);
}
