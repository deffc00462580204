#include "runner/engine/scheduler.hh"

#include <condition_variable>
#include <deque>
#include <thread>

#include "runner/exec/process.hh"

namespace akbuild::engine {

void run_dag(const std::vector<std::vector<std::size_t>>& deps, unsigned jobs, const DagCallbacks& callbacks,
             const exec::CancelToken* cancel) {
  const std::size_t n = deps.size();
  std::vector<std::vector<std::size_t>> dependents(n);
  std::vector<std::size_t> waiting(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    waiting[i] = deps[i].size();
    for (auto d : deps[i]) dependents[d].push_back(i);
  }
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::size_t> ready;
  std::size_t finished = 0;
  std::vector<bool> done(n, false);
  for (std::size_t i = 0; i < n; ++i)
    if (waiting[i] == 0) ready.push_back(i);

  // Marks i and everything that depends on it (transitively) as skipped. Holds `mutex`.
  std::function<void(std::size_t, std::size_t)> skip_tree = [&](std::size_t i, std::size_t because) {
    if (done[i]) return;
    done[i] = true;
    ++finished;
    callbacks.skip(i, because);
    for (auto d : dependents[i]) skip_tree(d, i);
  };
  auto complete = [&](std::size_t i, bool success) {
    std::lock_guard lock(mutex);
    done[i] = true;
    ++finished;
    for (auto d : dependents[i]) {
      if (done[d]) continue;
      if (!success) skip_tree(d, i);
      else if (--waiting[d] == 0) ready.push_back(d);
    }
    cv.notify_all();
  };
  auto worker = [&] {
    for (;;) {
      std::size_t i;
      {
        std::unique_lock lock(mutex);
        cv.wait(lock, [&] { return !ready.empty() || finished == n; });
        if (ready.empty()) return;
        i = ready.front();
        ready.pop_front();
        if (cancel && cancel->requested()) {
          skip_tree(i, i);
          cv.notify_all();
          continue;
        }
      }
      complete(i, callbacks.run(i));
    }
  };
  unsigned workers = std::max(1u, std::min<unsigned>(jobs ? jobs : 1, static_cast<unsigned>(std::max<std::size_t>(n, 1))));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < workers; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
}

std::shared_ptr<std::mutex> KeyLocks::get(const std::string& key) {
  std::lock_guard lock(m_mutex);
  auto& m = m_locks[key];
  if (!m) m = std::make_shared<std::mutex>();
  return m;
}

} // namespace akbuild::engine
