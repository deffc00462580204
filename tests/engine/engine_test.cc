// engine::Engine driven with a step kind of the test's own, handed in through EngineOptions:
// planning, a miss that runs and stores, a hit that does not run, outputs put back as the files
// or trees they were, and typed progress counts.

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#include <google/protobuf/wrappers.pb.h>
#include <sys/stat.h>

#include "runner/engine/engine.hh"
#include "steps/step_kind.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

// Writes `out/<value>.txt` (a tree output) and `bin/tool` (a file output) without running a
// command, and counts its runs. Its parameter message is a well-known type: `with: value=...`.
class GreetKind final : public steps::StepKind {
public:
  std::string_view kind() const override { return "greet"; }
  int schema_version() const override { return 1; }
  const google::protobuf::Message& params_prototype() const override {
    return google::protobuf::StringValue::default_instance();
  }
  Result<steps::StepPlan> plan(const google::protobuf::Message& params, const steps::PlanContext&) const override {
    const auto& p = static_cast<const google::protobuf::StringValue&>(params);
    if (p.value().empty()) return fail(ErrorCode::invalid_argument, "value: must not be empty");
    steps::StepPlan plan;
    plan.inputs = {"src/**"};
    plan.outputs = {"bin/tool", "out/"};
    return plan;
  }
  Result<steps::StepOutcome> run(const google::protobuf::Message& params, steps::RunContext& ctx) const override {
    const auto& p = static_cast<const google::protobuf::StringValue&>(params);
    ++runs;
    test::write(ctx.output_root() / "out" / (p.value() + ".txt"), test::read(ctx.input_root() / "src/name.txt"));
    test::write(ctx.output_root() / "bin/tool", "#!/bin/sh\necho tool\n", true);
    // Any name is the kind's to choose: none is taken by the engine's own bookkeeping.
    return steps::StepOutcome{{{"greeting", "hello " + p.value()}, {"_akbuild_file_outputs", "mine"}}};
  }
  mutable std::atomic<int> runs{0};
};

struct Collect final : engine::EventSink {
  void on_event(const engine::Event& e) override {
    std::lock_guard lock(mutex);
    if (const auto* p = std::get_if<engine::Progress>(&e.body)) progress.push_back(*p);
    if (const auto* s = std::get_if<engine::StateChange>(&e.body)) states.push_back(s->state);
  }
  std::mutex mutex;
  std::vector<engine::Progress> progress;
  std::vector<engine::StepState> states;
};

std::unique_ptr<engine::Engine> open(const test::TestDir& dir, const GreetKind& kind) {
  auto engine = engine::Engine::open({.workspace = dir / "ws", .cache_dir = dir / "cache", .jobs = 2,
                                      .sandbox = exec::SandboxMode::off, .kinds = {&kind}});
  REQUIRE_MESSAGE(engine, (engine ? "" : engine.error().message));
  return std::move(*engine);
}

} // namespace

TEST_CASE("the engine runs a step kind handed in through its options: plan, miss, store, hit") {
  test::TestDir dir;
  test::write(dir / "ws/src/name.txt", "world\n");
  GreetKind kind;
  auto engine = open(dir, kind);
  const engine::StepRequest request{.id = "hi", .kind = "greet", .with = {{"value", "en"}}};

  auto planned = engine->plan({request});
  REQUIRE_MESSAGE(planned, (planned ? "" : planned.error().message));
  REQUIRE(planned->size() == 1);
  CHECK_FALSE(planned->at(0).hit);
  CHECK(planned->at(0).manifest.find("kind: greet\n") != std::string::npos);
  CHECK(kind.runs == 0);

  Collect first;
  auto ran = engine->run({request}, first);
  REQUIRE_MESSAGE(ran, (ran ? "" : ran.error().message));
  REQUIRE(ran->at(0).success);
  CHECK_FALSE(ran->at(0).cache_hit);
  CHECK(ran->at(0).key == planned->at(0).key);
  CHECK(ran->at(0).outputs.at("greeting") == "hello en");
  CHECK(ran->at(0).outputs.at("_akbuild_file_outputs") == "mine");
  CHECK(kind.runs == 1);
  CHECK(test::read(dir / "ws/out/en.txt") == "world\n");
  CHECK(fs::is_regular_file(fs::symlink_status(dir / "ws/bin/tool")));
  CHECK(first.progress.back() == engine::Progress{.done = 1, .total = 1, .running = 0, .cached = 0});
  CHECK(first.progress.at(1) == engine::Progress{.done = 0, .total = 1, .running = 1, .cached = 0});

  // The outputs come back from the cache as what they were: a file stays a file.
  fs::remove_all(dir / "ws/out");
  fs::remove_all(dir / "ws/bin");
  Collect second;
  auto hit = engine->run({request}, second);
  REQUIRE(hit);
  REQUIRE(hit->at(0).success);
  CHECK(hit->at(0).cache_hit);
  CHECK(hit->at(0).key == planned->at(0).key);
  CHECK(hit->at(0).outputs.at("greeting") == "hello en");
  CHECK(hit->at(0).outputs.at("_akbuild_file_outputs") == "mine");
  CHECK(kind.runs == 1);
  CHECK(test::read(dir / "ws/out/en.txt") == "world\n");
  CHECK(test::read(dir / "ws/bin/tool") == "#!/bin/sh\necho tool\n");
  CHECK(fs::is_regular_file(fs::symlink_status(dir / "ws/bin/tool")));
  struct stat st {};
  REQUIRE(::stat((dir / "ws/bin/tool").c_str(), &st) == 0);
  CHECK((st.st_mode & 0100) != 0);
  CHECK(second.progress.back() == engine::Progress{.done = 1, .total = 1, .running = 0, .cached = 1});
  CHECK(std::find(second.states.begin(), second.states.end(), engine::StepState::cached) != second.states.end());

  auto replanned = engine->plan({request});
  REQUIRE(replanned);
  CHECK(replanned->at(0).hit);

  // A changed input is a miss again.
  test::write(dir / "ws/src/name.txt", "there\n");
  Collect third;
  auto rerun = engine->run({request}, third);
  REQUIRE(rerun);
  CHECK_FALSE(rerun->at(0).cache_hit);
  CHECK(kind.runs == 2);
  CHECK(test::read(dir / "ws/out/en.txt") == "there\n");
}

TEST_CASE("an engine knows only the step kinds of its options") {
  test::TestDir dir;
  fs::create_directories(dir / "ws");
  GreetKind kind;
  auto engine = open(dir, kind);
  auto planned = engine->plan({{.id = "e", .kind = "exec", .with = {{"run", "true"}}}});
  REQUIRE_FALSE(planned);
  CHECK(planned.error().code == ErrorCode::invalid_argument);
  CHECK(planned.error().message == "unknown step kind 'exec' (kinds: greet)");
  auto bad = engine->plan({{.id = "g", .kind = "greet", .with = {{"value", ""}}}});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("value: must not be empty") != std::string::npos);
}
