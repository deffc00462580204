#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>

#include "runner/exec/process.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
using namespace akbuild::exec;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::map<std::string, std::string> k_env{{"PATH", "/usr/bin:/bin"}};

struct Captured {
  std::vector<std::string> out, err;
  std::vector<LogLine::Stream> order;
  LogCallback callback() {
    return [this](const LogLine& l) {
      CHECK(l.time.time_since_epoch().count() != 0);
      (l.stream == LogLine::Stream::out ? out : err).push_back(l.text);
      order.push_back(l.stream);
    };
  }
};

ProcessSpec command(std::vector<std::string> argv, std::map<std::string, std::string> env = k_env) {
  ProcessSpec spec;
  spec.argv = std::move(argv);
  spec.env = std::move(env);
  return spec;
}

ProcessSpec bash(const std::string& script) { return command({"bash", "-c", script}); }

// Whether a process is gone (or only a zombie waiting for whoever adopted it). A killed process
// may need a moment to finish exiting after it closed its pipes, so this waits up to 10 s.
bool process_gone(pid_t pid) {
  for (int i = 0; i < 1000; ++i) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    if (!stat) return true;
    std::string line;
    std::getline(stat, line);
    auto close = line.rfind(')');
    if (close != std::string::npos && line.size() > close + 2 && (line[close + 2] == 'Z' || line[close + 2] == 'X'))
      return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

pid_t read_pid(const fs::path& file) {
  return static_cast<pid_t>(std::stol(test::read(file)));
}

} // namespace

TEST_CASE("run_process streams stdout and stderr line by line, in order within each stream") {
  Captured c;
  auto r = run_process(bash("for i in 1 2 3; do echo out$i; echo err$i >&2; done"), c.callback());
  REQUIRE(r);
  CHECK(r->success());
  CHECK(r->exit_code == 0);
  CHECK(c.out == std::vector<std::string>{"out1", "out2", "out3"});
  CHECK(c.err == std::vector<std::string>{"err1", "err2", "err3"});
}

TEST_CASE("run_process delivers an unterminated last line at EOF") {
  Captured c;
  auto r = run_process(bash("printf 'one\\ntwo'; printf 'tail' >&2"), c.callback());
  REQUIRE(r);
  CHECK(c.out == std::vector<std::string>{"one", "two"});
  CHECK(c.err == std::vector<std::string>{"tail"});
}

TEST_CASE("run_process splits a very long line into 64 KiB pieces") {
  Captured c;
  auto r = run_process(bash("head -c 150000 /dev/zero | tr '\\0' x; echo; "
                            "head -c 65536 /dev/zero | tr '\\0' y; echo; echo after"),
                       c.callback());
  REQUIRE(r);
  REQUIRE(c.out.size() == 5);
  CHECK(c.out[0] == std::string(65536, 'x'));
  CHECK(c.out[1] == std::string(65536, 'x'));
  CHECK(c.out[2] == std::string(150000 - 2 * 65536, 'x'));
  CHECK(c.out[3] == std::string(65536, 'y'));  // exactly the limit: one line
  CHECK(c.out[4] == "after");
}

TEST_CASE("run_process reports the exit status") {
  Captured c;
  auto r = run_process(bash("exit 3"), c.callback());
  REQUIRE(r);
  CHECK_FALSE(r->success());
  CHECK(r->exit_code == 3);
  CHECK(r->signal == 0);
  CHECK(r->describe() == "exit status 3");
}

TEST_CASE("run_process reports a terminating signal") {
  Captured c;
  auto r = run_process(bash("kill -9 $$"), c.callback());
  REQUIRE(r);
  CHECK_FALSE(r->success());
  CHECK(r->signal == SIGKILL);
  CHECK(r->describe().find("killed by signal 9") == 0);
}

TEST_CASE("run_process passes stdin data, and /dev/null without it") {
  Captured c;
  auto spec = command({"cat"});
  spec.stdin_data = "a\nb\n";
  auto r = run_process(spec, c.callback());
  REQUIRE(r);
  CHECK(c.out == std::vector<std::string>{"a", "b"});

  Captured empty;
  spec.stdin_data.reset();
  r = run_process(spec, empty.callback());
  REQUIRE(r);
  CHECK(r->success());
  CHECK(empty.out.empty());
}

TEST_CASE("run_process runs in the given working directory") {
  test::TestDir dir;
  Captured c;
  auto spec = command({"pwd"});
  spec.cwd = dir.path();
  auto r = run_process(spec, c.callback());
  REQUIRE(r);
  REQUIRE(c.out.size() == 1);
  CHECK(fs::equivalent(c.out[0], dir.path()));
}

TEST_CASE("run_process gives the child only the declared environment") {
  ::setenv("AKBUILD_TEST_PARENT_VAR", "leaked", 1);
  Captured c;
  auto spec = command({"/usr/bin/env"}, {{"FOO", "bar"}});
  auto r = run_process(spec, c.callback());
  ::unsetenv("AKBUILD_TEST_PARENT_VAR");
  REQUIRE(r);
  CHECK(c.out == std::vector<std::string>{"FOO=bar"});
}

TEST_CASE("run_process fails naming a program that is not found") {
  Captured c;
  auto spec = command({"akbuild-no-such-program"});
  auto r = run_process(spec, c.callback());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::not_found);
  CHECK(r.error().message.find("akbuild-no-such-program") != std::string::npos);

  spec.argv = {"/nonexistent/tool"};
  r = run_process(spec, c.callback());
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("/nonexistent/tool") != std::string::npos);
}

TEST_CASE("run_process fails naming a program that is not executable") {
  test::TestDir dir;
  test::write(dir / "tool", "#!/bin/sh\n", false);
  Captured c;
  auto spec = command({(dir / "tool").string()});
  auto r = run_process(spec, c.callback());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::permission_denied);
  CHECK(r.error().message.find("tool") != std::string::npos);
}

TEST_CASE("a timeout kills the whole process group, background children included") {
  test::TestDir dir;
  Captured c;
  auto spec = bash("sleep 1000 & echo $! > " + (dir / "bg.pid").string() + "; echo started; wait");
  spec.timeout = 1000ms;
  spec.kill_grace = 2000ms;
  auto r = run_process(spec, c.callback());
  REQUIRE(r);
  CHECK(r->timed_out);
  CHECK_FALSE(r->success());
  CHECK(r->describe() == "timed out after 1s");
  REQUIRE(fs::exists(dir / "bg.pid"));
  CHECK(process_gone(read_pid(dir / "bg.pid")));
}

TEST_CASE("a process that ignores SIGTERM is killed after the grace period") {
  // Cancelled once it says it ignores SIGTERM, so the outcome does not depend on machine speed.
  CancelToken cancel;
  auto spec = bash("trap '' TERM; echo ready; while :; do sleep 0.05; done");
  spec.kill_grace = 200ms;
  auto r = run_process(spec, [&](const LogLine& l) {
    if (l.text == "ready") cancel.request();
  }, &cancel);
  REQUIRE(r);
  CHECK(r->cancelled);
  CHECK(r->signal == SIGKILL);
}

TEST_CASE("background jobs left behind by an exited process are killed") {
  test::TestDir dir;
  Captured c;
  auto r = run_process(bash("sleep 1000 & echo $! > " + (dir / "bg.pid").string()), c.callback());
  REQUIRE(r);
  CHECK(r->success());
  CHECK(process_gone(read_pid(dir / "bg.pid")));
}

TEST_CASE("cancel from another thread terminates the process") {
  test::TestDir dir;
  CancelToken cancel;
  std::atomic<bool> started{false};
  auto spec = bash("sleep 1000 & echo $! > " + (dir / "bg.pid").string() + "; echo started; wait");
  std::thread canceller([&] {
    while (!started.load()) std::this_thread::sleep_for(10ms);
    cancel.request();
  });
  auto r = run_process(spec, [&](const LogLine& l) {
    if (l.text == "started") started = true;
  }, &cancel);
  started = true;  // never leave the thread waiting, even when the run failed early
  canceller.join();
  REQUIRE(r);
  CHECK(r->cancelled);
  CHECK_FALSE(r->timed_out);
  CHECK_FALSE(r->success());
  CHECK(r->describe() == "cancelled");
  CHECK(process_gone(read_pid(dir / "bg.pid")));
}

TEST_CASE("the child inherits no descriptor beyond stdin, stdout and stderr") {
  // A descriptor opened without O_CLOEXEC stands for another run's pipe created concurrently.
  int fd = ::open("/dev/null", O_RDONLY);
  REQUIRE(fd > 2);
  REQUIRE(::dup2(fd, 77) == 77);
  ::close(fd);
  Captured c;
  auto r = run_process(bash("[ -e /proc/$$/fd/77 ] && echo leaked || echo clean"), c.callback());
  ::close(77);
  REQUIRE(r);
  CHECK(c.out == std::vector<std::string>{"clean"});
}

TEST_CASE("concurrent runs from several threads each get their own output") {
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([t, &good] {
      for (int i = 0; i < 5; ++i) {
        std::vector<std::string> out;
        auto tag = std::to_string(t) + "-" + std::to_string(i);
        auto r = run_process(bash("echo " + tag + "; echo done"), [&](const LogLine& l) { out.push_back(l.text); });
        if (r && r->success() && out == std::vector<std::string>{tag, "done"}) ++good;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(good.load() == 30);
}

TEST_CASE("stdin data the child never reads neither blocks nor kills the caller") {
  Captured c;
  auto spec = bash("echo quick");
  spec.stdin_data = std::string(8 << 20, 'x');
  auto r = run_process(spec, c.callback());
  REQUIRE(r);
  CHECK(r->success());
  CHECK(c.out == std::vector<std::string>{"quick"});
}

TEST_CASE("a process that left the group does not keep the run waiting on its pipes") {
  test::TestDir dir;
  Captured c;
  auto pid_file = (dir / "escaped.pid").string();
  // The pid is written after setsid, so the main process exits only once the escape happened.
  auto r = run_process(bash("setsid bash -c 'echo $$ > " + pid_file + ".tmp; mv " + pid_file + ".tmp " + pid_file +
                            "; exec sleep 1000' & while [ ! -s " + pid_file + " ]; do sleep 0.01; done; echo bye"),
                       c.callback());
  REQUIRE(r);
  REQUIRE(fs::exists(dir / "escaped.pid"));
  ::kill(read_pid(dir / "escaped.pid"), SIGKILL);  // it escaped on purpose; do not leave it behind
  CHECK(r->success());
  CHECK(c.out == std::vector<std::string>{"bye"});
}

TEST_CASE("a run cancelled before it starts does not start the process") {
  test::TestDir dir;
  CancelToken cancel;
  cancel.request();
  auto r = run_process(bash("touch " + (dir / "ran").string()), {}, &cancel);
  REQUIRE(r);
  CHECK(r->cancelled);
  CHECK_FALSE(fs::exists(dir / "ran"));
}

TEST_CASE("a child that cannot be set up is an error naming what failed, and leaves no zombie") {
  // A cgroup.procs descriptor the child cannot write (opened read-only) makes the child's set-up
  // fail between vfork and exec, where it may only report through memory it shares with us.
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  auto spec = bash("echo should-not-run");
  spec.cgroup_procs_fds = {fd};
  Captured c;
  auto r = run_process(spec, c.callback());
  ::close(fd);
  REQUIRE_FALSE(r);
  CHECK_MESSAGE(r.error().message.find("joining the step's cgroup failed: Bad file descriptor") != std::string::npos,
                r.error().message);
  CHECK(c.out.empty());
  siginfo_t info{};
  bool zombie = ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG) == 0 && info.si_pid != 0;
  CHECK_FALSE(zombie);  // no child of ours is left to reap
  // The caller's signal mask is what it was (vfork blocks every signal around the child's start).
  sigset_t mask;
  REQUIRE(::pthread_sigmask(SIG_SETMASK, nullptr, &mask) == 0);
  CHECK_FALSE(sigismember(&mask, SIGTERM));
  CHECK_FALSE(sigismember(&mask, SIGINT));
}

TEST_CASE("the child starts with no signal blocked or ignored, whatever its caller had") {
  ::signal(SIGUSR1, SIG_IGN);
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGUSR2);
  REQUIRE(::pthread_sigmask(SIG_BLOCK, &term, &old) == 0);
  Captured c;
  auto r = run_process(bash("grep -E '^Sig(Blk|Ign):' /proc/self/status"), c.callback());
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::signal(SIGUSR1, SIG_DFL);
  REQUIRE(r);
  REQUIRE(c.out.size() == 2);
  CHECK(c.out[0] == "SigBlk:\t0000000000000000");
  // bash itself ignores a few (SIGQUIT in a non-interactive shell is not among them); SIGUSR1 is bit 10.
  CHECK((std::stoull(c.out[1].substr(c.out[1].find('\t') + 1), nullptr, 16) & (1ull << (SIGUSR1 - 1))) == 0);
}
