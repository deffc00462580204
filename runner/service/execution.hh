#pragma once
// One running Execute: the engine's events fanned out to every client watching it, in order,
// with a replay for clients that join late. Identical requests in flight share one execution;
// when its last watcher leaves before it is done, the execution is cancelled.
//
// Usage (the service):
//   auto ex = std::make_shared<Execution>(id, fingerprint);
//   ex->attach(&reactor);                        // replays history, then live events
//   engine.run(steps, *ex, &ex->cancel_token()); // Execution is the EventSink
//   ex->finish(result);                          // result message + status to every watcher

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/support/status.h>

#include "akbuild/v1/executor.pb.h"
#include "runner/engine/engine.hh"

namespace akbuild::service {

// A client stream watching an execution. Called with the execution's lock held: implementations
// only queue and must not call back into the Execution.
class ExecutionWatcher {
public:
  virtual ~ExecutionWatcher() = default;
  virtual void deliver(const akbuild::v1::ExecuteEvent& event) = 0;
  virtual void complete(const grpc::Status& status) = 0;
};

// `text` with the engine's name for a confined client's workspace (a descriptor's path, written
// with or without a trailing "/.") replaced by the client's; as it is when `engine_path` is empty.
std::string shown_workspace(std::string text, const std::string& engine_path, std::string_view client_path);

class Execution final : public engine::EventSink {
public:
  Execution(std::string id, std::string fingerprint);

  const std::string& id() const { return m_id; }
  const std::string& fingerprint() const { return m_fingerprint; }
  exec::CancelToken& cancel_token() { return m_cancel; }

  // Adds a watcher and replays the events so far (and the end, if it is over).
  void attach(ExecutionWatcher* watcher);
  // Removes a watcher (idempotent). Cancels the execution when it was the last one and the
  // execution is still running; returns whether it did.
  bool detach(ExecutionWatcher* watcher);
  // Whether a new identical request may still join (running and not cancelled).
  bool joinable() const;

  // Log lines, states and errors say `client` where the engine wrote `engine` (a confined client's
  // workspace, which the engine reaches through a descriptor's path).
  void show_path_as(std::string engine, std::string client) {
    m_engine_path = std::move(engine);
    m_client_path = std::move(client);
  }

  void on_event(const engine::Event& event) override;
  // Sends the result message (or the error status) and completes every watcher.
  void finish(const Result<std::vector<engine::StepResult>>& result);

private:
  void publish_locked(akbuild::v1::ExecuteEvent event);

  std::string shown(std::string text) const { return shown_workspace(std::move(text), m_engine_path, m_client_path); }

  const std::string m_id, m_fingerprint;
  std::string m_engine_path, m_client_path;
  exec::CancelToken m_cancel;
  mutable std::mutex m_mutex;
  std::set<ExecutionWatcher*> m_watchers;
  std::vector<akbuild::v1::ExecuteEvent> m_history;  // replayed to late joiners (bounded)
  size_t m_history_log_bytes = 0;
  size_t m_dropped_logs = 0;
  bool m_done = false;
  grpc::Status m_status;
};

} // namespace akbuild::service
