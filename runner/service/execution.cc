#include "runner/service/execution.hh"

#include <google/protobuf/util/time_util.h>

#include "runner/core/log.hh"
#include "runner/service/convert.hh"
#include "runner/service/status.hh"

namespace akbuild::service {

namespace {
// Late joiners get at most this many past events, and log lines of at most this many bytes;
// beyond that log lines are not kept for replay (state changes and the result always are), so a
// chatty step cannot grow the daemon unbounded (a line may be 64 KiB long).
constexpr size_t k_history_limit = 20000;
constexpr size_t k_history_log_bytes = 8u << 20;
} // namespace

Execution::Execution(std::string id, std::string fingerprint)
    : m_id(std::move(id)), m_fingerprint(std::move(fingerprint)) {}

void Execution::attach(ExecutionWatcher* watcher) {
  std::lock_guard lock(m_mutex);
  for (const auto& event : m_history) watcher->deliver(event);
  if (m_done) {
    watcher->complete(m_status);
    return;
  }
  m_watchers.insert(watcher);
}

bool Execution::detach(ExecutionWatcher* watcher) {
  std::lock_guard lock(m_mutex);
  if (m_watchers.erase(watcher) == 0) return false;
  if (!m_watchers.empty() || m_done) return false;
  log_info("execution {}: last client gone, cancelling", m_id);
  m_cancel.request();
  return true;
}

namespace {

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

} // namespace

std::string shown_workspace(std::string text, const std::string& engine_path, std::string_view client_path) {
  if (engine_path.empty()) return text;
  return replace_all(replace_all(std::move(text), engine_path + "/.", client_path), engine_path, client_path);
}

bool Execution::joinable() const {
  std::lock_guard lock(m_mutex);
  return !m_done && !m_cancel.requested();
}

void Execution::on_event(const engine::Event& event) {
  auto message = to_proto(event);
  if (message.has_log()) message.mutable_log()->set_text(shown(mask_secrets(message.log().text())));
  if (message.has_state()) message.mutable_state()->set_message(shown(message.state().message()));
  std::lock_guard lock(m_mutex);
  publish_locked(std::move(message));
}

void Execution::finish(const Result<std::vector<engine::StepResult>>& result) {
  std::lock_guard lock(m_mutex);
  if (result) {
    akbuild::v1::ExecuteEvent message;
    bool success = true;
    auto* out = message.mutable_result();
    for (const auto& step : *result) {
      auto* proto = out->add_steps();
      to_proto(step, proto);
      if (proto->has_error()) proto->mutable_error()->set_message(shown(proto->error().message()));
      success = success && step.success;
    }
    out->set_success(success);
    *message.mutable_time() = google::protobuf::util::TimeUtil::GetCurrentTime();
    publish_locked(std::move(message));
    m_status = grpc::Status::OK;
  } else {
    m_status = to_grpc_status(Error{result.error().code, shown(mask_secrets(result.error().message))});
  }
  m_done = true;
  for (auto* watcher : m_watchers) watcher->complete(m_status);
  m_watchers.clear();
}

void Execution::publish_locked(akbuild::v1::ExecuteEvent event) {
  event.set_execution_id(m_id);
  for (auto* watcher : m_watchers) watcher->deliver(event);
  if (!event.has_log()) {
    m_history.push_back(std::move(event));
  } else if (m_history.size() < k_history_limit && m_history_log_bytes < k_history_log_bytes) {
    m_history_log_bytes += event.log().text().size();
    m_history.push_back(std::move(event));
  } else {
    ++m_dropped_logs;
  }
}

} // namespace akbuild::service
