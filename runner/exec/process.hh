#pragma once
// Running a child process: its own process group, a complete environment given by the caller,
// stdout and stderr streamed line by line with timestamps, a timeout, and cancellation
// (SIGTERM to the group, SIGKILL after a grace period). Boost.Process/Asio stay inside
// process.cc; no Boost type appears here.
//
// Usage:
//   ProcessSpec spec{.argv = {"make"}, .env = {{"PATH", "/usr/bin:/bin"}}, .cwd = dir};
//   CancelToken cancel;
//   auto r = run_process(spec, [](const LogLine& l) { print(l.text); }, &cancel);

#include <atomic>
#include <limits>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "runner/core/result.hh"

namespace akbuild::exec {

struct ProcessSpec {
  std::vector<std::string> argv;               // argv[0] is a path or searched on env PATH
  std::map<std::string, std::string> env;      // the whole environment; nothing is inherited
  std::filesystem::path cwd;
  std::chrono::milliseconds timeout{0};        // 0 = none
  std::chrono::milliseconds kill_grace{5000};  // SIGTERM → SIGKILL delay on timeout/cancel
  std::optional<std::string> stdin_data{};     // nullopt = /dev/null
  std::vector<int> keep_fds{};                 // descriptors the child inherits under their own numbers
  std::vector<int> cgroup_procs_fds{};         // cgroup.procs files the child joins before it executes
  unsigned max_processes = 0;                  // RLIMIT_NPROC of the child; 0 = inherited
  bool chunks = false;                         // on_line gets the bytes as read, newlines and all
};

struct LogLine {
  enum class Stream { out, err };
  Stream stream = Stream::out;
  std::string text;                            // without the newline (ProcessSpec::chunks: as read)
  std::chrono::system_clock::time_point time;
};
using LogCallback = std::function<void(const LogLine&)>;

// Cancels a running process from another thread (or a signal handler via request()), or by
// itself once a deadline passes (a job's timeout). Whoever runs work polls requested().
class CancelToken {
public:
  void request() { m_requested.store(true); }
  // Requested from `at` on.
  void request_at(std::chrono::steady_clock::time_point at) { m_deadline.store(at.time_since_epoch().count()); }
  // Requested whenever `parent` is too (a job's token following its run's); set before use.
  void follow(const CancelToken* parent) { m_parent = parent; }
  bool requested() const { return m_requested.load() || deadline_passed() || (m_parent && m_parent->requested()); }
  bool deadline_passed() const {
    auto at = m_deadline.load();
    return at != k_none && std::chrono::steady_clock::now().time_since_epoch().count() >= at;
  }

private:
  static constexpr std::chrono::steady_clock::rep k_none = std::numeric_limits<std::chrono::steady_clock::rep>::max();
  std::atomic<bool> m_requested{false};
  std::atomic<std::chrono::steady_clock::rep> m_deadline{k_none};
  const CancelToken* m_parent = nullptr;
};

struct ProcessResult {
  int exit_code = -1;        // exit status when exited normally
  int signal = 0;            // terminating signal, 0 if exited
  bool timed_out = false;
  bool cancelled = false;
  std::chrono::milliseconds duration{0};
  std::chrono::milliseconds timeout{0};   // the limit that was exceeded, when timed_out
  bool success() const { return signal == 0 && exit_code == 0 && !timed_out && !cancelled; }
  // "exit status 3", "killed by signal 9", "timed out after 10s", "cancelled".
  std::string describe() const;
};

// Runs the process to completion. Fails (rather than returning a result) only when it could
// not be started: the message names the program (not found, not executable).
// on_line is called on the calling thread. When the main process exits, whatever is left of its
// process group (background jobs) is killed. Sets SIGPIPE to ignored in this process (once), so
// a child that stops reading its stdin cannot kill the caller.
Result<ProcessResult> run_process(const ProcessSpec& spec, const LogCallback& on_line,
                                  const CancelToken* cancel = nullptr);

} // namespace akbuild::exec
