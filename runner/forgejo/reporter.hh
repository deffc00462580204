#pragma once
// Reports one task to the server as forgejo-runner's reporter does (internal/pkg/report): log
// rows with absolute indexes, sent by UpdateLog until acknowledged (a lost answer or a 5xx only
// delays them; the server's ack_index keeps rows from doubling) and closed with no_more; one
// StepState per step of the job, whose log_index/log_length point at its own rows; a heartbeat
// (UpdateLog + UpdateTask) every report interval; outputs sent with the final state until their
// keys come back in sent_outputs. Every row is masked (core/secrets.hh).
//
// Steps may run at once (consecutive akbuild steps); their rows stay contiguous: the rows of a
// step are held back until the steps before it have finished.
//
// Usage:
//   TaskReporter r(client, task.id(), steps, {});
//   r.start();                    // heartbeat thread
//   r.step_started(0); r.log(0, "hello"); r.step_finished(0, RESULT_SUCCESS);
//   if (r.cancelled()) ...        // the server cancelled the task
//   r.close(RESULT_SUCCESS, outputs);

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "runner/forgejo/runner_client.hh"

namespace akbuild::forgejo {

struct ReporterOptions {
  std::chrono::milliseconds interval{1000};  // report_interval
  RetryPolicy retry;                         // for the closing calls
  // Called (from the heartbeat thread) when the server answers that the task is cancelled.
  std::function<void()> on_cancel{};
};

class TaskReporter {
public:
  TaskReporter(const RunnerClient& client, std::int64_t task_id, std::size_t steps, ReporterOptions options = {});
  ~TaskReporter();
  TaskReporter(const TaskReporter&) = delete;
  TaskReporter& operator=(const TaskReporter&) = delete;

  // Starts the heartbeat thread (the task is then "running" for the server).
  void start();
  void step_started(std::size_t step);
  void step_finished(std::size_t step, runner::v1::Result result);
  // One row per line of `text`; `step` nullopt for lines outside any step (job set-up).
  void log(std::optional<std::size_t> step, std::string_view text);
  // Whether the server answered a state with a cancelled (or failed) result.
  bool cancelled() const;
  // Final report: steps never finished get `result` when cancelled, else skipped; sends the
  // remaining rows with no_more, then the final state (with `outputs` when the result is a
  // success) until every output is acknowledged, with retries. Stops the heartbeat.
  Result<> close(runner::v1::Result result, const std::map<std::string, std::string>& outputs);

  // The rows so far (for tests).
  std::size_t rows() const;

private:
  struct Step {
    runner::v1::StepState state;
    bool started = false, finished = false, placed = false, closed = false;
    std::vector<runner::v1::LogRow> held;  // rows waiting for the steps before it
  };

  void append(std::optional<std::size_t> step, runner::v1::LogRow row);
  void advance();                           // under m_mutex
  Result<> send_log(bool no_more);
  Result<> send_state();
  void heartbeat();

  const RunnerClient& m_client;
  std::int64_t m_task_id;
  ReporterOptions m_options;
  mutable std::mutex m_mutex;
  std::condition_variable m_wake;
  std::vector<Step> m_steps;
  std::optional<std::size_t> m_current;     // the step whose rows are being appended
  std::vector<runner::v1::LogRow> m_rows;   // from m_acked on (earlier ones are dropped)
  std::int64_t m_acked = 0;                 // absolute index of m_rows[0]
  runner::v1::TaskState m_state;
  std::map<std::string, std::string> m_outputs;  // not yet acknowledged
  bool m_cancelled = false, m_stopping = false, m_dirty = false;
  std::mutex m_send_mutex;                  // one UpdateLog/UpdateTask at a time
  std::thread m_thread;
};

// The current time as a protobuf Timestamp.
google::protobuf::Timestamp now_timestamp();

} // namespace akbuild::forgejo
