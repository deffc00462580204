#pragma once
// A DAG of nodes run on a pool of `jobs` threads: a node starts when all its deps have
// succeeded; a node whose dep failed (or was skipped) is skipped, and so are its dependents.
// Also the in-process half of in-flight dedupe: one mutex per action key.

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace akbuild::exec {
class CancelToken;
}

namespace akbuild::engine {

struct DagCallbacks {
  // Runs node i; returns whether it succeeded. Called from pool threads.
  std::function<bool(std::size_t)> run;
  // Node i is not run because dep `failed_dep` failed or was skipped.
  std::function<void(std::size_t i, std::size_t failed_dep)> skip;
};

// Runs every node once, in dependency order, at most `jobs` (>= 1) at a time. `deps[i]` are
// indices of nodes i depends on; the graph must be acyclic. A cancelled token skips what has not
// started yet (reported through `skip` with failed_dep == i).
void run_dag(const std::vector<std::vector<std::size_t>>& deps, unsigned jobs, const DagCallbacks& callbacks,
             const exec::CancelToken* cancel = nullptr);

// One mutex per key, created on first use and kept for the engine's life.
class KeyLocks {
public:
  std::shared_ptr<std::mutex> get(const std::string& key);

private:
  std::mutex m_mutex;
  std::map<std::string, std::shared_ptr<std::mutex>> m_locks;
};

} // namespace akbuild::engine
