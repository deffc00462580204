// run_act as a runner uses it: events to a sink instead of output, github and needs contexts
// given from outside, and an outside cancel token.

#include <condition_variable>
#include <mutex>
#include <sstream>
#include <thread>

#include <doctest/doctest.h>

#include "runner/workflow/act.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
using workflow::Value;

namespace {

struct Collected {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<Value> events;

  void operator()(const Value& e) {
    std::lock_guard lock(mutex);
    events.push_back(e);
    changed.notify_all();
  }
  std::vector<Value> of(const std::string& type) {
    std::lock_guard lock(mutex);
    std::vector<Value> out;
    for (const auto& e : events)
      if (e["event"] == type) out.push_back(e);
    return out;
  }
};

workflow::ActOptions options_for(const test::TestDir& dir, const std::string& yaml) {
  test::write(dir / "ws/wf.yml", yaml);
  workflow::ActOptions o;
  o.workspace = dir / "ws";
  o.workflows = "wf.yml";
  o.cache_dir = dir / "cache";
  return o;
}

} // namespace

TEST_CASE("act hands every event to a sink, with the index of each top-level step, and prints nothing") {
  test::TestDir dir;
  auto o = options_for(dir, R"(on: push
jobs:
  b:
    runs-on: x
    steps:
      - run: echo one
      - if: false
        run: echo two
      - name: third
        run: echo three
)");
  Collected got;
  o.on_event = [&](const Value& e) { got(e); };
  std::ostringstream out;
  auto r = workflow::run_act(o, out);
  REQUIRE(r);
  CHECK(*r == 0);
  CHECK(out.str().empty());
  auto started = got.of("step_started");
  REQUIRE(started.size() == 2);
  CHECK(started[0]["index"] == 0);
  CHECK(started[1]["index"] == 2);
  CHECK(started[1]["step"] == "third");
  auto finished = got.of("step_finished");
  REQUIRE(finished.size() == 3);
  CHECK(finished[1]["index"] == 1);
  CHECK(finished[1]["outcome"] == "skipped");
  bool three = false;
  for (const auto& e : got.of("log")) three = three || (e["prefix"] == "b/third" && e["text"] == "three");
  CHECK(three);
}

TEST_CASE("act takes github and needs contexts given from outside over its own") {
  test::TestDir dir;
  auto o = options_for(dir, R"(on: push
jobs:
  b:
    runs-on: x
    outputs:
      seen: ${{ steps.s.outputs.seen }}
    steps:
      - id: s
        run: echo "seen=${{ github.sha }} ${{ github.repository }} ${{ needs.build.outputs.v }} ${{ needs.build.result }}" >> "$GITHUB_OUTPUT"
)");
  o.github = {{"sha", "abc123"}, {"repository", "owner/repo"}};
  o.needs = {{"build", {{"result", "success"}, {"outputs", {{"v", "42"}}}}}};
  Collected got;
  o.on_event = [&](const Value& e) { got(e); };
  std::ostringstream out;
  auto r = workflow::run_act(o, out);
  REQUIRE(r);
  auto jobs = got.of("job_finished");
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0]["outputs"]["seen"] == "abc123 owner/repo 42 success");
}

TEST_CASE("act stops the running step when its outside cancel token is requested, and starts no other") {
  test::TestDir dir;
  auto o = options_for(dir, R"(on: push
jobs:
  b:
    runs-on: x
    steps:
      - run: |
          echo sleeping
          sleep 300
      - run: echo after
)");
  exec::CancelToken cancel;
  o.cancel = &cancel;
  Collected got;
  o.on_event = [&](const Value& e) {
    got(e);
    if (e["event"] == "log" && e["text"] == "sleeping") cancel.request();
  };
  std::ostringstream out;
  auto r = workflow::run_act(o, out);
  REQUIRE(r);
  CHECK(*r != 0);
  auto jobs = got.of("job_finished");
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0]["result"] == "cancelled");
  CHECK(got.of("step_started").size() == 1);
  for (const auto& e : got.of("log")) CHECK(e["text"] != "after");
}
