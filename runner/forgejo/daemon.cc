#include "runner/forgejo/daemon.hh"

#include <signal.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "runner/core/secrets.hh"

namespace akbuild::forgejo {

namespace {

std::atomic<int> g_signals{0};

extern "C" void on_signal(int) { g_signals.fetch_add(1); }

// Lines of the daemon's own, one at a time (the tasks report to the server, not here).
void say(const std::string& line) {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  std::cerr << "akbuild runner: " << line << std::endl;
}

// A random (version 4) UUID, for x-runner-request-key.
std::string random_uuid() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uint64_t a = rng(), b = rng();
  a = (a & ~0xf000ULL) | 0x4000ULL;
  b = (b & ~(0xc000ULL << 48)) | (0x8000ULL << 48);
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xffff, b >> 48,
                     b & 0xffffffffffffULL);
}

class Daemon {
public:
  Daemon(const DaemonOptions& options, const Registration& reg)
      : m_options(options),
        m_client(reg.address, options.config.insecure, client_timeout()),
        m_fetch_client(reg.address, options.config.insecure,
                       std::chrono::seconds(std::max<long long>(
                           1, std::chrono::duration_cast<std::chrono::seconds>(options.config.fetch_timeout).count()))) {
    RunnerIdentity id{reg.uuid, reg.token};
    m_client.set_identity(id);
    m_fetch_client.set_identity(id);
  }

  Result<int> run() {
    std::vector<std::thread> slots;
    for (unsigned i = 0; i < m_options.config.capacity; ++i) slots.emplace_back([this] { poll(); });
    // Signals: the first stops fetching; past the grace, or at a second one, running tasks are cancelled.
    std::optional<std::chrono::steady_clock::time_point> grace_end;
    while (m_running.load() > 0 || !m_stopping.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (m_fatal.load()) m_stopping = true;
      int signals = g_signals.load();
      if (signals >= 1 && !m_stopping.load()) {
        m_stopping = true;
        grace_end = std::chrono::steady_clock::now() + m_options.config.shutdown_timeout;
        say(fmt::format("stopping: no new tasks; {} running get {} s to finish", m_running.load(),
                        std::chrono::duration_cast<std::chrono::seconds>(m_options.config.shutdown_timeout).count()));
      }
      if (!m_cancel.requested() && ((grace_end && std::chrono::steady_clock::now() >= *grace_end) || signals >= 2)) {
        if (m_running.load() > 0) say("cancelling the running tasks");
        m_cancel.request();
      }
      if (m_stopping.load() && m_running.load() == 0 && m_polling.load() == 0) break;
    }
    for (auto& t : slots) t.join();
    if (m_fatal_error) return fail(*m_fatal_error);
    say("stopped");
    return 0;
  }

private:
  void poll() {
    ++m_polling;
    std::string request_key;
    while (!m_stopping.load()) {
      if (request_key.empty()) request_key = random_uuid();
      runner::v1::FetchTaskRequest request;
      request.set_tasks_version(m_version.load());
      auto response = m_fetch_client.fetch_task(request, request_key);
      if (!response) {
        if (response.error().code == ErrorCode::unauthenticated) {
          std::lock_guard lock(m_mutex);
          if (!m_fatal_error) m_fatal_error = response.error();
          m_fatal = true;
          break;
        }
        say("fetching a task: " + response.error().message);
      } else {
        request_key.clear();
        if (response->has_task() && response->task().id() != 0) {
          m_version = 0;  // look again next time: more tasks may be waiting
          run_one(response->task());  // also when a signal came meanwhile: the task is ours now
          continue;  // at once: the slot is free again
        }
        m_version = response->tasks_version();
      }
      sleep_unless(m_options.config.fetch_interval, [this] { return m_stopping.load(); });
    }
    --m_polling;
  }

  void run_one(const runner::v1::Task& task) {
    ++m_running;
    say(fmt::format("task {}: started", task.id()));
    TaskRunOptions o = m_options.task;
    auto result = run_task(m_client, task, o, m_cancel);
    std::string_view name = result == runner::v1::RESULT_SUCCESS     ? "success"
                            : result == runner::v1::RESULT_CANCELLED ? "cancelled"
                                                                     : "failure";
    say(fmt::format("task {}: {}", task.id(), name));
    --m_running;
  }

  const DaemonOptions& m_options;
  RunnerClient m_client, m_fetch_client;
  std::atomic<std::int64_t> m_version{0};
  std::atomic<int> m_running{0}, m_polling{0};
  std::atomic<bool> m_stopping{false}, m_fatal{false};
  exec::CancelToken m_cancel;
  std::mutex m_mutex;
  std::optional<Error> m_fatal_error;
};

} // namespace

Result<int> run_daemon(const DaemonOptions& options) {
  auto reg = AK_TRY(load_registration(options.registration_file));
  add_secret(reg.token);
  RunnerClient client(reg.address, options.config.insecure, client_timeout());
  client.set_identity({reg.uuid, reg.token});
  std::vector<std::string> labels = options.config.labels.empty() ? reg.labels : options.config.labels;
  runner::v1::DeclareRequest declare;
  declare.set_version(options.version);
  for (const auto& l : labels) declare.add_labels(label_name(l));
  auto declared = client.declare(declare);
  if (!declared && declared.error().code == ErrorCode::unimplemented) {
    say("the instance does not know Declare (Forgejo before 1.21): labels as registered");
  } else if (!declared) {
    return fail(declared.error().context(reg.address));
  } else if (!options.config.labels.empty() && labels != reg.labels) {
    reg.labels = labels;  // as forgejo-runner: the config's labels become the registration's
    AK_TRY_VOID(save_registration(options.registration_file, reg));
  }
  std::string names;
  for (const auto& l : labels) names += (names.empty() ? "" : ", ") + label_name(l);
  say(fmt::format("declared as '{}' at {} with labels {}; capacity {}", reg.name, reg.address, names,
                  options.config.capacity));

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  Daemon daemon(options, reg);
  return daemon.run();
}

} // namespace akbuild::forgejo
