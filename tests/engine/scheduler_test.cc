#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "runner/engine/scheduler.hh"

using namespace akbuild::engine;

TEST_CASE("run_dag runs deps first and skips what depends on a failure") {
  // 0 <- 1 <- 2, 3 independent, 4 depends on 3.
  std::vector<std::vector<std::size_t>> deps{{}, {0}, {1}, {}, {3}};
  std::mutex m;
  std::vector<std::size_t> ran;
  std::map<std::size_t, std::size_t> skipped;
  DagCallbacks cb;
  cb.run = [&](std::size_t i) {
    std::lock_guard l(m);
    ran.push_back(i);
    return i != 1;  // 1 fails
  };
  cb.skip = [&](std::size_t i, std::size_t because) {
    std::lock_guard l(m);
    skipped[i] = because;
  };
  run_dag(deps, 2, cb);
  std::set<std::size_t> ran_set(ran.begin(), ran.end());
  CHECK(ran_set == std::set<std::size_t>{0, 1, 3, 4});
  CHECK(skipped == std::map<std::size_t, std::size_t>{{2, 1}});
  auto pos = [&](std::size_t i) { return std::find(ran.begin(), ran.end(), i) - ran.begin(); };
  CHECK(pos(0) < pos(1));
  CHECK(pos(3) < pos(4));
}

TEST_CASE("run_dag runs independent nodes at the same time up to -j") {
  std::vector<std::vector<std::size_t>> deps(4);
  std::atomic<int> now{0}, peak{0};
  DagCallbacks cb;
  // Each node waits until another one is running too (or gives up after a while), so with
  // -j 2 the peak is 2 and never more.
  cb.run = [&](std::size_t) {
    int n = ++now;
    int p = peak.load();
    while (n > p && !peak.compare_exchange_weak(p, n)) {}
    for (int i = 0; i < 200 && peak.load() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    --now;
    return true;
  };
  cb.skip = [](std::size_t, std::size_t) {};
  run_dag(deps, 2, cb);
  CHECK(peak.load() == 2);
}

TEST_CASE("KeyLocks hands out one mutex per key") {
  KeyLocks locks;
  CHECK(locks.get("a") == locks.get("a"));
  CHECK(locks.get("a") != locks.get("b"));
}
