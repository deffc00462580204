// Boost 1.74 compiles its vfork path only for old _XOPEN_SOURCE levels, though glibc has vfork
// at every level; defined before any Boost header so its config keeps it.
#define BOOST_POSIX_HAS_VFORK 1

// <utility> must come before any Boost.Asio header: Boost 1.74's awaitable.hpp uses std::exchange
// without including it, which GCC 12 in C++20 mode rejects.
#include <utility>

#include "runner/exec/process.hh"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string_view>
#include <system_error>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/process/async_pipe.hpp>
#include <boost/process/child.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <boost/process/posix.hpp>
#include <fmt/core.h>

#include "runner/core/fs.hh"
#include "runner/core/program_path.hh"

namespace akbuild::exec {

namespace asio = boost::asio;
namespace bp = boost::process;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t k_max_line = 64 * 1024;   // a longer line is delivered in pieces of this size
constexpr auto k_poll = 50ms;                    // cancel/timeout polling period
constexpr auto k_drain_after_exit = 500ms;       // how long escaped processes may hold our pipes
constexpr const char* k_default_path = "/usr/bin:/bin";  // execvp's default when PATH is unset

// Splits a byte stream into lines; a line without a newline is delivered at EOF, and a line
// longer than k_max_line in pieces, so one runaway writer cannot grow memory without bound.
// In chunk mode each read is delivered as it came, so a prompt without a newline shows at once.
class LineSplitter {
public:
  LineSplitter(LogLine::Stream stream, const LogCallback& on_line, bool chunks)
      : m_stream(stream), m_on_line(on_line), m_chunks(chunks) {}

  void feed(const char* data, std::size_t n) {
    if (m_chunks) {
      emit(std::string_view(data, n));
      return;
    }
    m_pending.append(data, n);
    std::size_t start = 0;
    while (true) {
      std::size_t nl = m_pending.find('\n', start);
      std::size_t line_end = nl == std::string::npos ? m_pending.size() : nl;
      if (line_end - start > k_max_line) {  // split only once known longer, so splits do not depend on reads
        emit(std::string_view(m_pending).substr(start, k_max_line));
        start += k_max_line;
        continue;
      }
      if (nl == std::string::npos) break;
      emit(std::string_view(m_pending).substr(start, nl - start));
      start = nl + 1;
    }
    m_pending.erase(0, start);
  }

  void finish() {
    if (!m_pending.empty()) emit(m_pending);
    m_pending.clear();
  }

private:
  void emit(std::string_view text) {
    if (!m_on_line) return;
    LogLine line{m_stream, std::string(text), std::chrono::system_clock::now()};
    m_on_line(line);
  }

  LogLine::Stream m_stream;
  const LogCallback& m_on_line;
  bool m_chunks;
  std::string m_pending;
};

// What the child could not do before exec: written by the child itself, which shares our memory
// until it execs (vfork), so the parent reads it once bp::child returns.
struct ChildFailure {
  int error = 0;                // errno
  const char* what = nullptr;   // a literal: the child may not allocate
};

// Boost.Process initializer: sets the exact executable, argv and environment, and in the child
// makes a new session (so a new process group led by the child, and no controlling terminal a
// sandboxed step could inject input into), restores default signal handling, and marks every
// inherited descriptor above stderr close-on-exec (Boost's pipes are created without
// O_CLOEXEC, so a concurrent spawn would otherwise keep another child's pipe open) except the
// ones the spec keeps.
//
// The child is made with vfork (bp::posix::use_vfork): a fork of the daemon copies its page
// tables and then pays a copy-on-write fault for each page its other threads touch, which is most
// of a short command's cost on a virtual machine. The child therefore runs on this thread's stack
// while the other threads go on: it only makes system calls (no allocation, no lock, no
// exception), reports a failure through ChildFailure, and runs with every signal blocked until
// their handlers are reset, so none of ours runs in it.
struct ChildSetup : bp::extend::handler {
  const char* exe = nullptr;
  char* const* argv = nullptr;
  char** envp = nullptr;
  const char* cwd = nullptr;
  const std::vector<int>* keep_fds = nullptr;
  const std::vector<int>* cgroup_procs_fds = nullptr;
  unsigned max_processes = 0;
  ChildFailure* failure = nullptr;
  sigset_t* saved_mask = nullptr;  // this thread's mask, restored once the child has exec'd

  template <class Executor>
  void on_setup(Executor& e) const {
    e.exe = exe;
    e.cmd_line = argv;
    e.env = envp;
    sigset_t all;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, saved_mask);
  }

  template <class Executor>
  void on_exec_setup(Executor&) const {
    for (int sig = 1; sig < NSIG; ++sig)
      if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
    ::setsid();
    if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
      for (int fd = 3; fd < 4096; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (keep_fds)
      for (int fd : *keep_fds) ::fcntl(fd, F_SETFD, 0);
    if (cgroup_procs_fds)
      for (int fd : *cgroup_procs_fds)
        if (::write(fd, "0", 1) != 1) fail_child("joining the step's cgroup");
    if (max_processes > 0) {
      rlimit limit{max_processes, max_processes};
      ::setrlimit(RLIMIT_NPROC, &limit);
    }
    if (cwd && ::chdir(cwd) != 0) fail_child("chdir");
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
  }

  template <class Executor>
  void on_success(Executor&) const {
    ::pthread_sigmask(SIG_SETMASK, saved_mask, nullptr);
  }

  template <class Executor>
  void on_fork_error(Executor&, const std::error_code&) const {
    ::pthread_sigmask(SIG_SETMASK, saved_mask, nullptr);
  }

  // Boost returns an empty child when the exec fails; reap the failed child so no zombie stays.
  template <class Executor>
  void on_error(Executor& e, const std::error_code&) const {
    ::pthread_sigmask(SIG_SETMASK, saved_mask, nullptr);
    if (e.pid > 0) ::waitpid(e.pid, nullptr, 0);
  }

private:
  [[noreturn]] void fail_child(const char* what) const {
    failure->error = errno;
    failure->what = what;
    ::_exit(127);
  }
};

// Kills and reaps the child group if the run ends early (an exception from a callback).
struct ChildGuard {
  pid_t pid = -1;
  ~ChildGuard() {
    if (pid <= 0) return;
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
};

void ignore_sigpipe_once() {
  static std::once_flag once;
  std::call_once(once, [] { ::signal(SIGPIPE, SIG_IGN); });
}

// Drives one child: pipe readers, stdin writer, exit watcher and the poll timer, all on one
// io_context run by the calling thread (so on_line is called on that thread).
class Run {
public:
  Run(const ProcessSpec& spec, const LogCallback& on_line, const CancelToken* cancel)
      : m_spec(spec), m_cancel(cancel), m_out(m_io), m_err(m_io), m_in(m_io), m_exit_watch(m_io), m_timer(m_io),
        m_out_lines(LogLine::Stream::out, on_line, spec.chunks), m_err_lines(LogLine::Stream::err, on_line, spec.chunks) {}

  Result<ProcessResult> run(const fs::path& exe) {
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : m_spec.env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp, argv;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = m_spec.argv;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    std::string exe_str = exe.string(), cwd_str = m_spec.cwd.string();

    ChildSetup setup;
    setup.exe = exe_str.c_str();
    setup.argv = argv.data();
    setup.envp = envp.data();
    setup.cwd = cwd_str.empty() ? nullptr : cwd_str.c_str();
    setup.keep_fds = &m_spec.keep_fds;
    setup.cgroup_procs_fds = &m_spec.cgroup_procs_fds;
    setup.max_processes = m_spec.max_processes;
    ChildFailure failure;
    sigset_t saved_mask;
    setup.failure = &failure;
    setup.saved_mask = &saved_mask;

    for (auto* p : {&m_out, &m_err, &m_in}) {
      ::fcntl(p->native_source(), F_SETFD, FD_CLOEXEC);
      ::fcntl(p->native_sink(), F_SETFD, FD_CLOEXEC);
    }

    std::error_code ec;
    auto start = std::chrono::steady_clock::now();
    bp::child child = m_spec.stdin_data
        ? bp::child(setup, bp::posix::use_vfork, bp::std_in < m_in, bp::std_out > m_out, bp::std_err > m_err, ec)
        : bp::child(setup, bp::posix::use_vfork, bp::std_in < bp::null, bp::std_out > m_out, bp::std_err > m_err, ec);
    if (ec || !child.valid()) {
      ErrorCode code = ec == std::errc::no_such_file_or_directory ? ErrorCode::not_found
                     : ec == std::errc::permission_denied         ? ErrorCode::permission_denied
                                                                   : ErrorCode::io;
      return fail(code, fmt::format("{}: cannot run: {}", m_spec.argv[0], ec ? ec.message() : "spawn failed"));
    }
    if (failure.what) {
      ::waitpid(child.id(), nullptr, 0);
      child.detach();
      return fail(ErrorCode::io, fmt::format("{}: cannot run: {} failed: {}", m_spec.argv[0], failure.what,
                                             std::strerror(failure.error)));
    }
    m_pid = child.id();
    child.detach();  // we reap it ourselves (waitpid below); Boost must not touch it again
    m_guard.pid = m_pid;
    if (!m_spec.stdin_data) m_in.close();

    m_deadline = m_spec.timeout.count() > 0 ? start + m_spec.timeout : std::chrono::steady_clock::time_point::max();
    read(m_out, m_out_buf, m_out_lines, m_out_open);
    read(m_err, m_err_buf, m_err_lines, m_err_open);
    if (m_spec.stdin_data) write_stdin();
    watch_exit();
    tick();
    m_io.run();

    m_result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(m_end - start);
    return m_result;
  }

private:
  void read(bp::async_pipe& pipe, std::array<char, 65536>& buf, LineSplitter& lines, bool& open) {
    pipe.async_read_some(asio::buffer(buf), [this, &pipe, &buf, &lines, &open](const boost::system::error_code& e,
                                                                              std::size_t n) {
      if (n > 0) lines.feed(buf.data(), n);
      if (e) {
        lines.finish();
        boost::system::error_code ignored;
        pipe.close(ignored);
        open = false;
        maybe_done();
        return;
      }
      read(pipe, buf, lines, open);
    });
  }

  void write_stdin() {
    asio::async_write(m_in, asio::buffer(*m_spec.stdin_data), [this](const boost::system::error_code&, std::size_t) {
      boost::system::error_code ignored;
      m_in.close(ignored);  // EOF for the child; EPIPE (child stopped reading) is not an error
    });
  }

  // A pidfd turns readable when the child exits; without pidfd support the timer polls instead.
  void watch_exit() {
    int fd = static_cast<int>(::syscall(SYS_pidfd_open, m_pid, 0));
    if (fd < 0) return;
    m_exit_watch.assign(fd);
    m_exit_watch.async_wait(asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& e) {
      if (!e) on_exit();
    });
  }

  bool child_is_zombie() {
    siginfo_t info{};
    return ::waitid(P_PID, m_pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == m_pid;
  }

  void on_exit() {
    if (m_exited) return;
    // While the child is an unreaped zombie its pid (and so its group id) cannot be reused:
    // kill what is left of the group first (background jobs), then reap.
    ::kill(-m_pid, SIGKILL);
    int status = 0;
    while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {}
    m_end = std::chrono::steady_clock::now();
    m_guard.pid = -1;
    m_exited = true;
    if (WIFEXITED(status)) m_result.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) m_result.signal = WTERMSIG(status);
    boost::system::error_code ignored;
    m_exit_watch.close(ignored);
    m_drain_deadline = m_end + k_drain_after_exit;
    maybe_done();
  }

  void tick() {
    m_timer.expires_after(k_poll);
    m_timer.async_wait([this](const boost::system::error_code& e) {
      if (e) return;
      auto now = std::chrono::steady_clock::now();
      if (!m_exited) {
        if (!m_exit_watch.is_open() && child_is_zombie()) on_exit();
      }
      if (!m_exited) {
        if (!m_terminating && m_cancel && m_cancel->requested()) {
          m_result.cancelled = true;
          terminate(now);
        } else if (!m_terminating && now >= m_deadline) {
          m_result.timed_out = true;
          m_result.timeout = m_spec.timeout;
          terminate(now);
        } else if (m_terminating && !m_killed && now >= m_kill_at) {
          ::kill(-m_pid, SIGKILL);
          m_killed = true;
        }
      } else if (now >= m_drain_deadline) {
        // A process that left our group (setsid) still holds the pipes: stop waiting for it.
        boost::system::error_code ignored;
        m_out.close(ignored);
        m_err.close(ignored);
      }
      if (!m_done) tick();
    });
  }

  void terminate(std::chrono::steady_clock::time_point now) {
    m_terminating = true;
    m_kill_at = now + m_spec.kill_grace;
    ::kill(-m_pid, SIGTERM);
    if (m_spec.kill_grace.count() <= 0) {
      ::kill(-m_pid, SIGKILL);
      m_killed = true;
    }
  }

  void maybe_done() {
    if (!m_exited || m_out_open || m_err_open) return;
    m_done = true;
    boost::system::error_code ignored;
    m_timer.cancel();
    m_in.close(ignored);
  }

  const ProcessSpec& m_spec;
  const CancelToken* m_cancel;
  asio::io_context m_io;
  bp::async_pipe m_out, m_err, m_in;
  asio::posix::stream_descriptor m_exit_watch;
  asio::steady_timer m_timer;
  std::array<char, 65536> m_out_buf, m_err_buf;  // not zeroed: only what a read fills is used
  LineSplitter m_out_lines, m_err_lines;
  bool m_out_open = true, m_err_open = true;
  pid_t m_pid = -1;
  ChildGuard m_guard;
  bool m_exited = false, m_terminating = false, m_killed = false, m_done = false;
  std::chrono::steady_clock::time_point m_deadline, m_kill_at, m_drain_deadline, m_end;
  ProcessResult m_result;
};

} // namespace

std::string ProcessResult::describe() const {
  if (cancelled) return "cancelled";
  if (timed_out) {
    auto ms = (timeout.count() > 0 ? timeout : duration).count();
    if (ms % 1000 == 0) return fmt::format("timed out after {}s", ms / 1000);
    return fmt::format("timed out after {:.1f}s", static_cast<double>(ms) / 1000.0);
  }
  if (signal != 0) {
    const char* name = ::sigabbrev_np(signal);
    return name ? fmt::format("killed by signal {} (SIG{})", signal, name) : fmt::format("killed by signal {}", signal);
  }
  return fmt::format("exit status {}", exit_code);
}

Result<ProcessResult> run_process(const ProcessSpec& spec, const LogCallback& on_line, const CancelToken* cancel) {
  if (spec.argv.empty() || spec.argv[0].empty()) return fail(ErrorCode::invalid_argument, "empty command line");
  if (!spec.cwd.empty()) {
    std::error_code ec;
    if (!fs::is_directory(spec.cwd, ec))
      return fail(ErrorCode::not_found, fmt::format("{}: working directory does not exist", spec.cwd.string()));
  }
  // A relative path with a slash is relative to the child's working directory, as in execve.
  fs::path exe;
  const std::string& program = spec.argv[0];
  if (program.find('/') != std::string::npos) {
    fs::path p(program);
    if (p.is_relative() && !spec.cwd.empty()) p = spec.cwd / p;
    auto found = find_program(p.string(), "");
    if (!found) return fail(found.error().code, fmt::format("{}: {}", program,
                                                             found.error().code == ErrorCode::not_found
                                                                 ? "no such file"
                                                                 : "not an executable file"));
    exe = *found;
  } else {
    auto path = spec.env.find("PATH");
    exe = AK_TRY(find_program(program, path == spec.env.end() ? k_default_path : path->second));
  }
  if (cancel && cancel->requested()) {  // cancelled before it started: do not start it
    ProcessResult cancelled;
    cancelled.cancelled = true;
    return cancelled;
  }
  ignore_sigpipe_once();
  try {
    Run run(spec, on_line, cancel);
    return run.run(exe);
  } catch (const std::system_error& e) {
    return fail(ErrorCode::io, fmt::format("{}: {}", program, e.what()));
  } catch (const boost::system::system_error& e) {
    return fail(ErrorCode::io, fmt::format("{}: {}", program, e.what()));
  }
}

} // namespace akbuild::exec
