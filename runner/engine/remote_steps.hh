#pragma once
// How the engine uses a remote cache (runner/remote): on a local miss it asks the remote, and a
// remote hit is stored locally and then treated as a local hit; after a miss runs, its result is
// uploaded unless the remote is read-only. A remote never fails a build: any fault is one warning
// line on the step and a local run. A remote that cannot be reached (down, too slow, refusing our
// token) is asked nothing more in this engine's lifetime, so a dead server costs one deadline,
// not one per step. Counts hits, misses and bytes into the cache dir's remote stats.

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>

#include "runner/cas/action_record.hh"
#include "runner/cas/remote_stats.hh"
#include "runner/engine/planner.hh"
#include "runner/engine/step_run_context.hh"

namespace akbuild::remote {
class RemoteCache;
}

namespace akbuild::engine {

class RemoteSteps {
public:
  RemoteSteps(std::unique_ptr<remote::RemoteCache> remote, cas::CacheDir& cache);
  ~RemoteSteps();

  // The remote's record of `key`, now in the local cache; nullopt on a remote miss or a fault.
  std::optional<cas::ActionRecord> pull(RunEnv& env, const PreparedStep& step, const cas::Digest& key);
  // The remote's record of `key` without storing anything (dry runs); nullopt as for pull.
  std::optional<cas::ActionRecord> probe(const PreparedStep& step, const cas::Digest& key);
  // Uploads the record of a step that ran; a no-op for a read-only remote.
  void push(RunEnv& env, const PreparedStep& step, const cas::ActionRecord& record);
  // Adds what this engine counted to the cache dir's remote stats, and starts counting afresh.
  void flush_stats();

private:
  // One warning; a fault of reach (down, deadline, auth) switches the remote off for this engine.
  void fault(RunEnv* env, const std::string& step_id, std::string_view doing, const Error& error);

  std::unique_ptr<remote::RemoteCache> m_remote;
  cas::CacheDir& m_cache;
  std::atomic<bool> m_off{false};
  std::mutex m_mutex;
  cas::RemoteStats m_stats;
  std::uint64_t m_flushed_down = 0, m_flushed_up = 0;
};

} // namespace akbuild::engine
