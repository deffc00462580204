#include "runner/forgejo/reporter.hh"

#include "runner/core/log.hh"
#include "runner/core/secrets.hh"

namespace akbuild::forgejo {

namespace {

constexpr std::size_t k_output_key_limit = 255;              // the server ignores longer keys
constexpr std::size_t k_output_value_limit = std::size_t{1} << 20;  // and larger values

} // namespace

google::protobuf::Timestamp now_timestamp() {
  auto since = std::chrono::system_clock::now().time_since_epoch();
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since);
  google::protobuf::Timestamp t;
  t.set_seconds(seconds.count());
  t.set_nanos(static_cast<int>(std::chrono::duration_cast<std::chrono::nanoseconds>(since - seconds).count()));
  return t;
}

TaskReporter::TaskReporter(const RunnerClient& client, std::int64_t task_id, std::size_t steps, ReporterOptions options)
    : m_client(client), m_task_id(task_id), m_options(options), m_steps(steps) {
  m_state.set_id(task_id);
  *m_state.mutable_started_at() = now_timestamp();
  for (std::size_t i = 0; i < steps; ++i) m_steps[i].state.set_id(static_cast<std::int64_t>(i));
}

TaskReporter::~TaskReporter() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_wake.notify_all();
  if (m_thread.joinable()) m_thread.join();
}

void TaskReporter::start() { m_thread = std::thread([this] { heartbeat(); }); }

void TaskReporter::step_started(std::size_t step) {
  std::lock_guard lock(m_mutex);
  if (step >= m_steps.size() || m_steps[step].started) return;
  m_steps[step].started = true;
  *m_steps[step].state.mutable_started_at() = now_timestamp();
  advance();
  m_dirty = true;
  m_wake.notify_all();
}

void TaskReporter::step_finished(std::size_t step, runner::v1::Result result) {
  std::lock_guard lock(m_mutex);
  if (step >= m_steps.size() || m_steps[step].finished) return;
  Step& s = m_steps[step];
  s.finished = true;
  s.state.set_result(result);
  if (!s.started) *s.state.mutable_started_at() = now_timestamp();
  *s.state.mutable_stopped_at() = now_timestamp();
  advance();
  m_dirty = true;
  m_wake.notify_all();
}

// Places the steps in order: the first started step not yet closed gets the next rows (its held
// ones first); a finished one is closed, and the next takes over.
void TaskReporter::advance() {
  for (;;) {
    if (!m_current) {
      for (std::size_t i = 0; i < m_steps.size() && !m_current; ++i)
        if (!m_steps[i].closed && (m_steps[i].started || m_steps[i].finished)) m_current = i;
      if (!m_current) return;
      Step& s = m_steps[*m_current];
      s.placed = true;
      s.state.set_log_index(m_acked + static_cast<std::int64_t>(m_rows.size()));
      for (auto& row : s.held) m_rows.push_back(std::move(row));
      s.held.clear();
    }
    Step& s = m_steps[*m_current];
    if (!s.finished) return;
    s.state.set_log_length(m_acked + static_cast<std::int64_t>(m_rows.size()) - s.state.log_index());
    s.closed = true;
    m_current.reset();
  }
}

void TaskReporter::log(std::optional<std::size_t> step, std::string_view text) {
  auto time = now_timestamp();
  std::size_t pos = 0;
  std::lock_guard lock(m_mutex);
  for (;;) {
    std::size_t nl = text.find('\n', pos);
    runner::v1::LogRow row;
    *row.mutable_time() = time;
    row.set_content(mask_secrets(text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos)));
    append(step, std::move(row));
    if (nl == std::string_view::npos || nl + 1 == text.size()) break;
    pos = nl + 1;
  }
}

void TaskReporter::append(std::optional<std::size_t> step, runner::v1::LogRow row) {
  if (step && *step < m_steps.size() && !m_steps[*step].placed) {
    m_steps[*step].held.push_back(std::move(row));
    return;
  }
  m_rows.push_back(std::move(row));
}

bool TaskReporter::cancelled() const {
  std::lock_guard lock(m_mutex);
  return m_cancelled;
}

std::size_t TaskReporter::rows() const {
  std::lock_guard lock(m_mutex);
  return static_cast<std::size_t>(m_acked) + m_rows.size();
}

Result<> TaskReporter::send_log(bool no_more) {
  runner::v1::UpdateLogRequest request;
  {
    std::lock_guard lock(m_mutex);
    request.set_task_id(m_task_id);
    request.set_index(m_acked);
    for (const auto& row : m_rows) *request.add_rows() = row;
    request.set_no_more(no_more);
  }
  if (request.rows_size() == 0 && !no_more) return ok();
  auto response = AK_TRY(m_client.update_log(request));
  std::lock_guard lock(m_mutex);
  std::int64_t ack = response.ack_index();
  std::int64_t end = m_acked + static_cast<std::int64_t>(m_rows.size());
  if (ack > m_acked && ack <= end) {
    m_rows.erase(m_rows.begin(), m_rows.begin() + (ack - m_acked));
    m_acked = ack;
  }
  if (ack < end)
    return fail(ErrorCode::unavailable, "UpdateLog: the server holds " + std::to_string(ack) + " of " +
                                            std::to_string(end) + " rows");
  return ok();
}

Result<> TaskReporter::send_state() {
  runner::v1::UpdateTaskRequest request;
  {
    std::lock_guard lock(m_mutex);
    *request.mutable_state() = m_state;
    for (const auto& s : m_steps) {
      auto* st = request.mutable_state()->add_steps();
      *st = s.state;
      // A step still writing: its range so far.
      if (s.placed && !s.closed) st->set_log_length(m_acked + static_cast<std::int64_t>(m_rows.size()) - s.state.log_index());
    }
    for (const auto& [k, v] : m_outputs) (*request.mutable_outputs())[k] = v;
    m_dirty = false;
  }
  auto response = AK_TRY(m_client.update_task(request));
  std::lock_guard lock(m_mutex);
  for (const auto& key : response.sent_outputs()) m_outputs.erase(key);
  auto theirs = response.state().result();
  if (m_state.result() == runner::v1::RESULT_UNSPECIFIED && !m_cancelled &&
      (theirs == runner::v1::RESULT_CANCELLED || theirs == runner::v1::RESULT_FAILURE)) {
    m_cancelled = true;
    if (m_options.on_cancel) m_options.on_cancel();
  }
  if (!m_outputs.empty())
    return fail(ErrorCode::unavailable, "UpdateTask: " + std::to_string(m_outputs.size()) + " outputs not acknowledged");
  return ok();
}

void TaskReporter::heartbeat() {
  std::unique_lock lock(m_mutex);
  while (!m_stopping) {
    m_wake.wait_for(lock, m_options.interval, [this] { return m_stopping || m_dirty; });
    if (m_stopping) break;
    lock.unlock();
    {
      std::lock_guard send(m_send_mutex);
      // Failures are retried at the next beat: rows stay until acknowledged.
      if (auto r = send_log(false); !r) log_debug("task log: {}", r.error().message);
      if (auto r = send_state(); !r) log_debug("task state: {}", r.error().message);
    }
    lock.lock();
  }
}

Result<> TaskReporter::close(runner::v1::Result result, const std::map<std::string, std::string>& outputs) {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_wake.notify_all();
  if (m_thread.joinable()) m_thread.join();
  {
    std::lock_guard lock(m_mutex);
    for (auto& s : m_steps)
      if (!s.finished) {
        s.finished = true;
        s.state.set_result(result == runner::v1::RESULT_CANCELLED ? runner::v1::RESULT_CANCELLED
                                                                  : runner::v1::RESULT_SKIPPED);
      }
    advance();
    for (auto& s : m_steps)  // rows of steps that never started (none, normally)
      for (auto& row : s.held) m_rows.push_back(std::move(row));
    m_state.set_result(result);
    *m_state.mutable_stopped_at() = now_timestamp();
    if (result == runner::v1::RESULT_SUCCESS)
      for (const auto& [k, v] : outputs) {
        if (k.size() > k_output_key_limit || v.size() > k_output_value_limit) {
          log_warning("output '{}' is above the server's limits (key 255 bytes, value 1 MiB): not sent", k.substr(0, 64));
          continue;
        }
        m_outputs[k] = mask_secrets(v);
      }
  }
  std::lock_guard send(m_send_mutex);
  AK_TRY_VOID(with_retries<bool>(m_options.retry, [this]() -> Result<bool> {
    auto r = send_log(true);
    // A repeat of a close whose answer was lost: the log is already archived.
    if (!r && r.error().code != ErrorCode::already_exists) return tl::unexpected(r.error());
    return true;
  }).map_error([](Error e) { return e.context("closing the log"); }));
  AK_TRY_VOID(with_retries<bool>(m_options.retry, [this]() -> Result<bool> {
    AK_TRY_VOID(send_state());
    return true;
  }).map_error([](Error e) { return e.context("final state"); }));
  return ok();
}

} // namespace akbuild::forgejo
