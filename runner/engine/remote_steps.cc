#include "runner/engine/remote_steps.hh"

#include "runner/cas/cache_dir.hh"
#include "runner/core/log.hh"
#include "runner/remote/remote_cache.hh"
#include "runner/remote/remote_sync.hh"

namespace akbuild::engine {

RemoteSteps::RemoteSteps(std::unique_ptr<remote::RemoteCache> remote, cas::CacheDir& cache)
    : m_remote(std::move(remote)), m_cache(cache) {}

RemoteSteps::~RemoteSteps() { flush_stats(); }

void RemoteSteps::fault(RunEnv* env, const std::string& step_id, std::string_view doing, const Error& error) {
  bool unreachable = error.code == ErrorCode::unavailable || error.code == ErrorCode::deadline_exceeded ||
                     error.code == ErrorCode::unauthenticated || error.code == ErrorCode::permission_denied;
  if (unreachable && m_off.exchange(true)) return;  // said once already
  std::string line = "warning: remote cache " + m_remote->options().url + ": " + std::string(doing) + ": " +
                     error.message + (unreachable ? "; not asked again in this run" : "");
  if (env) log_line(*env, step_id, line);
  else log_warning("{}", line);
}

std::optional<cas::ActionRecord> RemoteSteps::pull(RunEnv& env, const PreparedStep& step, const cas::Digest& key) {
  if (m_off || m_cache.read_only()) return std::nullopt;
  auto got = remote::pull_action(*m_remote, m_cache, key, step.request.kind, step.plan.outputs);
  std::lock_guard lock(m_mutex);
  if (!got) {
    ++m_stats.misses;
    fault(&env, step.request.id, "lookup failed, running the step here", got.error());
    return std::nullopt;
  }
  ++(*got ? m_stats.hits : m_stats.misses);
  return std::move(*got);
}

std::optional<cas::ActionRecord> RemoteSteps::probe(const PreparedStep& step, const cas::Digest& key) {
  if (m_off) return std::nullopt;
  auto got = remote::probe_action(*m_remote, key, step.request.kind, step.plan.outputs);
  std::lock_guard lock(m_mutex);
  if (!got) {
    fault(nullptr, step.request.id, "lookup of '" + step.request.id + "' failed", got.error());
    return std::nullopt;
  }
  return std::move(*got);
}

void RemoteSteps::push(RunEnv& env, const PreparedStep& step, const cas::ActionRecord& record) {
  if (m_off || m_remote->options().read_only) return;
  auto pushed = remote::push_action(*m_remote, m_cache, record, step.plan.outputs);
  if (!pushed) {
    std::lock_guard lock(m_mutex);
    fault(&env, step.request.id, "upload failed (the step's result is cached here only)", pushed.error());
  }
}

void RemoteSteps::flush_stats() {
  std::lock_guard lock(m_mutex);
  auto down = m_remote->bytes_down(), up = m_remote->bytes_up();
  m_stats.bytes_down = down - m_flushed_down;
  m_stats.bytes_up = up - m_flushed_up;
  if (m_stats == cas::RemoteStats{} || m_cache.read_only()) return;
  if (auto r = cas::add_remote_stats(m_cache.layout(), m_stats); !r)
    log_warning("remote cache stats: {}", r.error().message);
  m_flushed_down = down;
  m_flushed_up = up;
  m_stats = {};
}

} // namespace akbuild::engine
