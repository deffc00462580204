#include "tests/support/test_support.hh"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

extern char** environ;

namespace akbuild::test {

namespace fs = std::filesystem;

namespace {

std::mutex g_dirs_mutex;
std::set<std::string> g_live_dirs;
std::set<std::string> g_skipped;  // names of the test cases that called skip()

// Removes the test dirs of a passing test case; prints and keeps those of a failing one.
struct TestDirReporter : doctest::IReporter {
  explicit TestDirReporter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {
    std::lock_guard lock(g_dirs_mutex);
    std::cout << "skipped test cases: " << g_skipped.size() << std::endl;
  }
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats& st) override {
    std::lock_guard lock(g_dirs_mutex);
    bool keep = !st.testCaseSuccess || std::getenv("AKBUILD_TEST_KEEP");
    for (const auto& d : g_live_dirs) {
      if (keep) {
        std::cerr << "test dir kept: " << d << "\n";
      } else {
        std::error_code ec;
        fs::permissions(d, fs::perms::owner_all, fs::perm_options::add, ec);
        for (auto it = fs::recursive_directory_iterator(d, ec); !ec && it != fs::recursive_directory_iterator();
             it.increment(ec))
          if (it->is_directory(ec) && !it->is_symlink(ec))
            fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
        fs::remove_all(d, ec);
      }
    }
    g_live_dirs.clear();
  }
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};
REGISTER_LISTENER("akbuild-test-dirs", 1, TestDirReporter);

} // namespace

TestDir::TestDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/akbuild-test-XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  m_path = tmpl;
  std::lock_guard lock(g_dirs_mutex);
  g_live_dirs.insert(m_path.string());
}

TestDir::~TestDir() = default;  // removal is decided at the end of the test case

void write(const fs::path& path, std::string_view content, bool executable) {
  fs::create_directories(path.parent_path());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(content.data(), static_cast<std::streamsize>(content.size()));
  f.close();
  if (executable) fs::permissions(path, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                                  fs::perm_options::add);
}

std::string read(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

CommandResult run(const std::vector<std::string>& argv, const CommandOptions& options) {
  int out_pipe[2], err_pipe[2], in_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) || ::pipe2(err_pipe, O_CLOEXEC) || ::pipe2(in_pipe, O_CLOEXEC))
    throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, options.cwd.c_str());

  std::map<std::string, std::string> env;
  if (!options.clear_env)
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      auto eq = kv.find('=');
      if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  for (const auto& [k, v] : options.env) env[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);

  // PATH lookup uses the child's PATH.
  std::string prog = argv.at(0);
  if (prog.find('/') == std::string::npos) {
    std::string path = env.count("PATH") ? env["PATH"] : "/usr/bin:/bin";
    std::stringstream ss(path);
    std::string dir;
    while (std::getline(ss, dir, ':'))
      if (::access((dir + "/" + prog).c_str(), X_OK) == 0) { prog = dir + "/" + prog; break; }
  }
  pid_t pid = 0;
  int rc = posix_spawn(&pid, prog.c_str(), &fa, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ::close(in_pipe[0]);
  CommandResult result;
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    ::close(in_pipe[1]);
    result.exit_code = 127;
    result.err = "spawn " + argv.at(0) + ": " + std::strerror(rc);
    return result;
  }
  std::string input = options.stdin_data.value_or("");
  std::size_t in_off = 0;
  if (input.empty()) { ::close(in_pipe[1]); in_pipe[1] = -1; }
  else ::fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
  ::signal(SIGPIPE, SIG_IGN);
  bool out_open = true, err_open = true;
  char buf[65536];
  while (out_open || err_open) {
    pollfd fds[3] = {{out_open ? out_pipe[0] : -1, POLLIN, 0}, {err_open ? err_pipe[0] : -1, POLLIN, 0},
                     {in_pipe[1], POLLOUT, 0}};
    ::poll(fds, 3, -1);
    if (fds[0].revents) {
      ssize_t n = ::read(out_pipe[0], buf, sizeof buf);
      if (n <= 0) out_open = false; else result.out.append(buf, static_cast<std::size_t>(n));
    }
    if (fds[1].revents) {
      ssize_t n = ::read(err_pipe[0], buf, sizeof buf);
      if (n <= 0) err_open = false; else result.err.append(buf, static_cast<std::size_t>(n));
    }
    if (in_pipe[1] >= 0 && fds[2].revents) {
      ssize_t n = ::write(in_pipe[1], input.data() + in_off, input.size() - in_off);
      if (n > 0) in_off += static_cast<std::size_t>(n);
      if (n < 0 || in_off == input.size()) { ::close(in_pipe[1]); in_pipe[1] = -1; }
    }
  }
  if (in_pipe[1] >= 0) ::close(in_pipe[1]);
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

CommandResult sh(const std::string& script, const CommandOptions& options) {
  return run({"bash", "-c", script}, options);
}

fs::path akbuild_bin() {
  const char* p = std::getenv("AKBUILD_BIN");
  if (!p) throw std::runtime_error("AKBUILD_BIN is not set (run the tests through meson test)");
  return p;
}

fs::path source_root() {
  const char* p = std::getenv("AKBUILD_SOURCE_ROOT");
  if (!p) throw std::runtime_error("AKBUILD_SOURCE_ROOT is not set (run the tests through meson test)");
  return p;
}

std::optional<fs::path> fixtures_dir() {
  if (const char* p = std::getenv("AKBUILD_FIXTURES")) return fs::path(p);
  auto candidate = source_root() / "tests" / "data" / "fixtures";
  if (fs::exists(candidate)) return candidate;
  return std::nullopt;
}

CommandResult akbuild(const TestDir& dir, const std::vector<std::string>& args, CommandOptions options) {
  std::vector<std::string> argv{akbuild_bin().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  if (!options.env.count("AKBUILD_CACHE_DIR")) options.env["AKBUILD_CACHE_DIR"] = (dir / "cache").string();
  if (!options.env.count("HOME")) options.env["HOME"] = (dir / "home").string();
  if (!options.env.count("XDG_RUNTIME_DIR")) options.env["XDG_RUNTIME_DIR"] = (dir / "run").string();
  options.env.emplace("AKBUILD_EXECUTOR", "none");  // in-process unless a test asks for the daemon
  return run(argv, options);
}

bool have_program(const std::string& name) {
  return sh("command -v '" + name + "' >/dev/null 2>&1").exit_code == 0;
}

void skip(const std::string& why) {
  const char* ci = std::getenv("CI");
  if (ci && std::string_view(ci) == "true") {
    FAIL_CHECK("cannot run in CI (CI=true), where nothing may be skipped: " << why);
    return;
  }
  std::string name = doctest::getContextOptions()->currentTest ? doctest::getContextOptions()->currentTest->m_name : "?";
  std::cout << "SKIPPED: " << name << ": " << why << std::endl;
  std::lock_guard lock(g_dirs_mutex);
  g_skipped.insert(name);
}

} // namespace akbuild::test
