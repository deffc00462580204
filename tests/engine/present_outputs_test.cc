// What the daemon's engine remembers about outputs it found in place, and that a change under
// one (seen by inotify) makes it look again.

#include <doctest/doctest.h>

#include <google/protobuf/wrappers.pb.h>

#include "runner/core/tree_watcher.hh"
#include "runner/engine/engine.hh"
#include "runner/engine/present_outputs.hh"
#include "steps/step_kind.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

cas::Digest digest_of(char c) {
  Sha256Bytes b{};
  b.fill(static_cast<std::byte>(c));
  return cas::Digest(b);
}

// Writes `out/a.txt` and `out/sub/b.txt` from `src/name.txt`, counting its runs.
class TreeKind final : public steps::StepKind {
public:
  std::string_view kind() const override { return "tree"; }
  int schema_version() const override { return 1; }
  const google::protobuf::Message& params_prototype() const override {
    return google::protobuf::StringValue::default_instance();
  }
  Result<steps::StepPlan> plan(const google::protobuf::Message&, const steps::PlanContext&) const override {
    steps::StepPlan plan;
    plan.inputs = {"src/**"};
    plan.outputs = {"out/"};
    return plan;
  }
  Result<steps::StepOutcome> run(const google::protobuf::Message&, steps::RunContext& ctx) const override {
    ++runs;
    test::write(ctx.output_root() / "out/a.txt", test::read(ctx.input_root() / "src/name.txt"));
    test::write(ctx.output_root() / "out/sub/b.txt", "b\n");
    return steps::StepOutcome{};
  }
  mutable std::atomic<int> runs{0};
};

struct Ignore final : engine::EventSink {
  void on_event(const engine::Event&) override {}
};

} // namespace

TEST_CASE("an output remembered in place stays so until something under it changes") {
  test::TestDir dir;
  test::write(dir / "out/a.txt", "a\n");
  test::write(dir / "out/sub/b.txt", "b\n");
  auto watcher = TreeWatcher::open();
  REQUIRE_MESSAGE(watcher, (watcher ? "" : watcher.error().message));
  engine::PresentOutputs present(watcher->get());
  fs::path out = dir / "out";

  CHECK_FALSE(present.unchanged(out, digest_of('a')));  // never seen
  auto mark = present.arm(out);
  REQUIRE(mark);
  present.remember(out, digest_of('a'), mark);
  CHECK(present.unchanged(out, digest_of('a')));
  CHECK_FALSE(present.unchanged(out, digest_of('b')));  // another tree is wanted there

  SUBCASE("a write deep inside") {
    test::write(dir / "out/sub/b.txt", "B\n");
    CHECK_FALSE(present.unchanged(out, digest_of('a')));
  }
  SUBCASE("a new file") {
    test::write(dir / "out/sub/c.txt", "c\n");
    CHECK_FALSE(present.unchanged(out, digest_of('a')));
  }
  SUBCASE("the directory swapped for a copy") {
    fs::rename(out, dir / "old");
    fs::copy(dir / "old", out, fs::copy_options::recursive);
    CHECK_FALSE(present.unchanged(out, digest_of('a')));
  }
  SUBCASE("remembered again after a change: holds again") {
    test::write(dir / "out/a.txt", "A\n");
    CHECK_FALSE(present.unchanged(out, digest_of('a')));
    present.remember(out, digest_of('c'), present.arm(out));
    CHECK(present.unchanged(out, digest_of('c')));
  }
}

TEST_CASE("without a watcher nothing is remembered") {
  test::TestDir dir;
  test::write(dir / "out/a.txt", "a\n");
  engine::PresentOutputs present(nullptr);
  auto mark = present.arm(dir / "out");
  CHECK_FALSE(mark);
  present.remember(dir / "out", digest_of('a'), 7);
  CHECK_FALSE(present.unchanged(dir / "out", digest_of('a')));
}

TEST_CASE("an engine with a watcher puts back an output changed or removed after it was remembered") {
  test::TestDir dir;
  test::write(dir / "ws/src/name.txt", "world\n");
  auto watcher = TreeWatcher::open();
  REQUIRE(watcher);
  TreeKind kind;
  auto engine = engine::Engine::open({.workspace = dir / "ws", .cache_dir = dir / "cache", .jobs = 1,
                                      .sandbox = exec::SandboxMode::off, .kinds = {&kind},
                                      .watcher = watcher->get()});
  REQUIRE(engine);
  const engine::StepRequest request{.id = "t", .kind = "tree", .with = {{"value", "x"}}};
  Ignore events;
  auto run = [&] {
    auto r = (*engine)->run({request}, events);
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    REQUIRE(r->at(0).success);
    return r->at(0).cache_hit;
  };
  CHECK_FALSE(run());
  CHECK(run());  // in place: walked once and remembered
  CHECK(run());  // remembered
  // Same size, other bytes, saved as editors do (a new file renamed over the read-only link):
  // only the watcher can tell without walking.
  test::write(dir / "ws/out/sub/.b.txt.new", "X\n");
  fs::rename(dir / "ws/out/sub/.b.txt.new", dir / "ws/out/sub/b.txt");
  CHECK(run());
  CHECK(test::read(dir / "ws/out/sub/b.txt") == "b\n");
  fs::remove(dir / "ws/out/a.txt");
  CHECK(run());
  CHECK(test::read(dir / "ws/out/a.txt") == "world\n");
  CHECK(kind.runs == 1);
}
