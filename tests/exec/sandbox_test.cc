#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>

#include "runner/core/fs.hh"
#include "runner/core/beneath.hh"
#include "runner/exec/sandbox.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
using namespace akbuild::exec;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// bubblewrap runs on the machines the suite targets; elsewhere the sandbox tests skip, saying why.
bool bwrap_works() {
  std::string why;
  if (sandbox_available(&why)) return true;
  test::skip("bubblewrap cannot run here: " + why);
  return false;
}

// What the tests of root's sandbox need: root, and bubblewrap.
bool root_with_bwrap() {
  if (::geteuid() == 0) return bwrap_works();
  test::skip("needs root");
  return false;
}

// A workspace with one declared input (src/a.txt) and one undeclared file (secret.txt), the
// declared one staged into root/.
struct Fixture {
  test::TestDir dir;
  SandboxSpec spec;
  std::vector<std::string> out, err;

  Fixture() {
    test::write(dir / "ws" / "src" / "a.txt", "hello\n");
    test::write(dir / "ws" / "secret.txt", "undeclared\n");
    REQUIRE(stage_inputs(dir / "root", {{"src/a.txt", dir / "ws" / "src" / "a.txt"}}));
    spec.input_root = dir / "root";
    spec.output_root = dir / "outputs";
    spec.outputs = {"out/"};
    spec.mode = SandboxMode::require;
  }

  Result<SandboxResult> run(const std::string& script, std::map<std::string, std::string> env = {}) {
    out.clear();
    err.clear();
    ProcessSpec p;
    p.argv = {"bash", "-c", script};
    p.env = std::move(env);
    p.timeout = 60s;
    return run_sandboxed(spec, p, [this](const LogLine& l) {
      (l.stream == LogLine::Stream::out ? out : err).push_back(l.text);
    });
  }
};

// Sets an environment variable of this process for one scope.
struct EnvGuard {
  std::string name;
  std::optional<std::string> old;
  EnvGuard(std::string n, const std::string& value) : name(std::move(n)) {
    if (const char* v = std::getenv(name.c_str())) old = v;
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  ~EnvGuard() {
    if (old) ::setenv(name.c_str(), old->c_str(), 1);
    else ::unsetenv(name.c_str());
  }
};

// A TCP listener on 127.0.0.1; connections complete in the backlog without accept().
struct Listener {
  int fd = -1;
  int port = 0;
  Listener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 8) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port = ntohs(addr.sin_port);
  }
  ~Listener() { ::close(fd); }
};

} // namespace

TEST_CASE("sandbox: a step reads its declared inputs in the working directory") {
  if (!bwrap_works()) return;
  Fixture f;
  auto r = f.run("pwd; cat src/a.txt");
  REQUIRE(r);
  CHECK(r->sandboxed);
  CHECK(r->process.success());
  CHECK(f.out == std::vector<std::string>{"/build/ws", "hello"});

  f.spec.working_directory = "src";
  r = f.run("pwd; cat a.txt");
  REQUIRE(r);
  CHECK(f.out == std::vector<std::string>{"/build/ws/src", "hello"});
}

TEST_CASE("sandbox: a step cannot read an undeclared file outside the input root") {
  if (!bwrap_works()) return;
  Fixture f;
  REQUIRE(fs::exists(f.dir / "ws" / "secret.txt"));
  auto r = f.run("cat " + (f.dir / "ws" / "secret.txt").string() + " || cat ../secret.txt || exit 7");
  REQUIRE(r);
  CHECK(r->process.exit_code == 7);
  CHECK(f.out.empty());
}

TEST_CASE("sandbox: a step cannot write its input root") {
  if (!bwrap_works()) return;
  Fixture f;
  auto r = f.run("echo changed > src/a.txt; touch new.txt; rm -f src/a.txt; test -e src/a.txt");
  REQUIRE(r);
  CHECK(r->process.success());  // the last command: the input is still there
  CHECK(test::read(f.dir / "ws" / "src" / "a.txt") == "hello\n");
  CHECK(test::read(f.dir / "root" / "src" / "a.txt") == "hello\n");
  CHECK_FALSE(fs::exists(f.dir / "root" / "new.txt"));
  CHECK(f.err.size() >= 3);  // each refusal is reported
}

TEST_CASE("sandbox: a step writes its declared outputs, directories and files") {
  if (!bwrap_works()) return;
  Fixture f;
  f.spec.outputs = {"out/", "bin/tool", "never.txt"};
  auto r = f.run("mkdir -p out/sub && echo built > out/sub/result.txt && echo tool > bin/tool");
  REQUIRE(r);
  CHECK(r->process.success());
  CHECK(test::read(f.dir / "outputs" / "out" / "sub" / "result.txt") == "built\n");
  CHECK(test::read(f.dir / "outputs" / "bin" / "tool") == "tool\n");
  CHECK_FALSE(fs::exists(f.dir / "outputs" / "never.txt"));  // not written: no placeholder left
}

TEST_CASE("sandbox: no network unless the step asks for it") {
  if (!bwrap_works()) return;
  Fixture f;
  Listener listener;
  std::string connect = "exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(listener.port);
  auto r = f.run(connect);
  REQUIRE(r);
  CHECK_FALSE(r->process.success());

  f.spec.network = true;
  r = f.run(connect);
  REQUIRE(r);
  CHECK(r->process.success());
}

TEST_CASE("sandbox: HOME and TMPDIR are private and the environment is the declared one") {
  if (!bwrap_works()) return;
  Fixture f;
  auto marker = TempDir::create("akbuild-host-marker-");
  REQUIRE(marker);
  EnvGuard parent("AKBUILD_TEST_PARENT_VAR", "leaked");
  auto r = f.run("echo $HOME $TMPDIR; echo ${AKBUILD_TEST_PARENT_VAR:-unset} $DECLARED; "
                 "touch $HOME/h $TMPDIR/t && ls -A $HOME; test -e " + marker->path().string() + " || echo hidden",
                 {{"DECLARED", "yes"}});
  REQUIRE(r);
  CHECK(r->process.success());
  CHECK(f.out == std::vector<std::string>{"/build/home /tmp", "unset yes", "h", "hidden"});
  CHECK_FALSE(fs::exists(marker->path().parent_path() / "t"));
}

TEST_CASE("sandbox: a program missing inside the sandbox is an error naming it") {
  if (!bwrap_works()) return;
  Fixture f;
  ProcessSpec p;
  p.argv = {"akbuild-no-such-tool"};
  auto r = run_sandboxed(f.spec, p, {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::not_found);
  CHECK(r.error().message.find("akbuild-no-such-tool") != std::string::npos);
}

TEST_CASE("sandbox: a timeout kills the sandboxed command") {
  if (!bwrap_works()) return;
  Fixture f;
  ProcessSpec p;
  p.argv = {"bash", "-c", "sleep 1000 & wait"};
  p.timeout = 500ms;
  p.kill_grace = 2s;
  auto r = run_sandboxed(f.spec, p, {});
  REQUIRE(r);
  CHECK(r->process.timed_out);
}

TEST_CASE("sandbox: require fails clearly when bubblewrap cannot run; automatic falls back") {
  Fixture f;
  test::write(f.dir / "fake-bwrap", "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n",
              true);
  SUBCASE("bwrap missing") {
    EnvGuard bwrap("AKBUILD_BWRAP", (f.dir / "no-such-bwrap").string());
    auto r = f.run("echo hi");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::failed_precondition);
    CHECK(r.error().message.find("sandbox required") == 0);
    CHECK(r.error().message.find("no-such-bwrap") != std::string::npos);
  }
  SUBCASE("bwrap fails") {
    EnvGuard bwrap("AKBUILD_BWRAP", (f.dir / "fake-bwrap").string());
    auto r = f.run("echo hi");
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("No permissions to create new namespace") != std::string::npos);

    f.spec.mode = SandboxMode::automatic;
    r = f.run("cat src/a.txt; echo built > out/result.txt; echo $HOME");
    REQUIRE(r);
    CHECK_FALSE(r->sandboxed);
    CHECK(r->fallback_reason.find("No permissions") != std::string::npos);
    CHECK(r->process.success());
    REQUIRE(f.out.size() == 2);
    CHECK(f.out[0] == "hello");
    CHECK(f.out[1] != std::getenv("HOME"));
    CHECK(test::read(f.dir / "outputs" / "out" / "result.txt") == "built\n");
  }
}

TEST_CASE("sandbox off: outputs written in place or by rename end up in the output root") {
  Fixture f;
  f.spec.mode = SandboxMode::off;
  f.spec.outputs = {"out/", "dist/app.js", "gen.txt"};
  auto r = f.run("echo a > out/a.txt && mkdir -p dist && echo app > dist/app.js && echo gen > gen.tmp && "
                 "mv gen.tmp gen.txt");
  REQUIRE(r);
  CHECK_FALSE(r->sandboxed);
  CHECK(r->process.success());
  CHECK(test::read(f.dir / "outputs" / "out" / "a.txt") == "a\n");
  CHECK(test::read(f.dir / "outputs" / "dist" / "app.js") == "app\n");
  CHECK(test::read(f.dir / "outputs" / "gen.txt") == "gen\n");
  CHECK_FALSE(fs::exists(f.dir / "root" / "gen.txt"));
  CHECK_FALSE(fs::exists(f.dir / "root" / "out"));
}

TEST_CASE("run_sandboxed rejects outputs and working directories that escape the workspace") {
  Fixture f;
  f.spec.outputs = {"../escape/"};
  auto r = f.run("true");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::invalid_argument);
  CHECK(r.error().message.find("../escape/") != std::string::npos);
  CHECK_FALSE(fs::exists(f.dir / "escape"));

  f.spec.outputs = {"out/"};
  f.spec.working_directory = "../..";
  r = f.run("true");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::invalid_argument);
}

TEST_CASE("sandbox: system directories are read-only and /etc holds only selected files") {
  if (!bwrap_works()) return;
  Fixture f;
  REQUIRE(fs::exists("/etc/passwd"));
  auto r = f.run("test -r /etc/passwd && echo passwd; test -e /etc/shadow || echo no-shadow; "
                 "test -e /etc/resolv.conf || echo no-resolv; touch /usr/akbuild-x 2>/dev/null || echo usr-ro; "
                 "ls /build");
  REQUIRE(r);
  // /build/script: the script of this very step.
  CHECK(f.out == std::vector<std::string>{"passwd", "no-shadow", "no-resolv", "usr-ro", "home", "script", "ws"});

  r = f.run("test -e /etc/ssl/certs && echo certs; test -e /etc/ssl/private || echo no-private-keys");
  REQUIRE(r);
  CHECK(f.out == std::vector<std::string>{"certs", "no-private-keys"});
}

TEST_CASE("sandbox: declared tool directories are visible read-only") {
  if (!bwrap_works()) return;
  Fixture f;
  auto tools = TempDir::create("akbuild-tools-");
  REQUIRE(tools);
  test::write(tools->path() / "mytool", "#!/bin/sh\necho tool ran\n", true);
  f.spec.ro_binds = {tools->path(), "/bin", "/usr/bin"};
  ProcessSpec p;
  p.argv = {"mytool"};
  p.env = {{"PATH", tools->path().string() + ":/usr/bin:/bin"}};
  auto r = run_sandboxed(f.spec, p, [&](const LogLine& l) { f.out.push_back(l.text); });
  REQUIRE(r);
  CHECK(r->process.success());
  CHECK(f.out == std::vector<std::string>{"tool ran"});

  p.argv = {"bash", "-c", "touch " + (tools->path() / "x").string()};
  r = run_sandboxed(f.spec, p, {});
  REQUIRE(r);
  CHECK_FALSE(r->process.success());
  CHECK_FALSE(fs::exists(tools->path() / "x"));
}

TEST_CASE("run_sandboxed names a working directory missing from the input root") {
  Fixture f;
  f.spec.working_directory = "nope";
  for (auto mode : {SandboxMode::require, SandboxMode::off}) {
    if (mode == SandboxMode::require && !bwrap_works()) continue;
    f.spec.mode = mode;
    auto r = f.run("true");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::not_found);
    CHECK(r.error().message.find("nope") != std::string::npos);
    if (mode == SandboxMode::off) CHECK_FALSE(fs::exists(f.dir / "root" / "out"));  // its output link is gone
  }
}

TEST_CASE("sandbox as root: the step has no capability, runs as nobody, and cannot remount or bind") {
  if (!root_with_bwrap()) return;
  Fixture f;
  fs::path escape = "/usr/local/akbuild-sandbox-escape";
  fs::remove(escape);
  auto r = f.run("id -u; grep CapEff /proc/self/status; "
                 "mount -o remount,rw,bind /usr 2>/dev/null && echo usr-remounted; "
                 "touch " + escape.string() + " 2>/dev/null && echo wrote-usr; "
                 "mkdir -p /tmp/x && mount --bind / /tmp/x 2>/dev/null && echo bound-root; "
                 "mount -o remount,rw,bind /build/ws 2>/dev/null && echo ws-remounted; "
                 "echo changed > src/a.txt 2>/dev/null && echo wrote-source; "
                 "echo made > out/r.txt");
  REQUIRE(r);
  CHECK(r->process.success());
  CHECK(f.out == std::vector<std::string>{"65534", "CapEff:\t0000000000000000"});
  CHECK_FALSE(fs::exists(escape));
  CHECK(test::read(f.dir / "ws" / "src" / "a.txt") == "hello\n");  // the staged hard link's source
  struct stat st{};
  REQUIRE(::stat((f.dir / "outputs" / "out" / "r.txt").c_str(), &st) == 0);
  CHECK(st.st_uid == ::geteuid());  // the step's files belong to the caller on the host
  fs::remove(escape);
}

TEST_CASE("sandbox as root: a bwrap that cannot switch to an unprivileged uid is no sandbox") {
  if (!root_with_bwrap()) return;
  Fixture f;
  // Stands in for a host where user namespaces are disabled (a sysctl a test must not change).
  test::write(f.dir / "bwrap-no-userns",
              "#!/bin/sh\ncase \"$*\" in *--unshare-user*) echo 'bwrap: setting up uid map: Permission denied' >&2; "
              "exit 1;; esac\nexec bwrap \"$@\"\n",
              true);
  EnvGuard bwrap("AKBUILD_BWRAP", (f.dir / "bwrap-no-userns").string());
  auto r = f.run("id -u");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::failed_precondition);
  CHECK(r.error().message.find("uid map") != std::string::npos);
  CHECK(f.out.empty());
}

namespace {

// The command lines of every process on the host that contain `needle`.
std::vector<std::string> cmdlines_containing(const std::string& needle) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    std::ifstream in(e.path() / "cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmdline.find(needle) != std::string::npos) found.push_back(e.path().filename().string() + ": " + cmdline);
  }
  return found;
}

} // namespace

TEST_CASE("sandbox: a step's secret environment and script appear in no process's command line") {
  Fixture f;
  SUBCASE("bubblewrap") {
    if (!bwrap_works()) return;
  }
  SUBCASE("plain process") { f.spec.mode = SandboxMode::off; }
  fs::path ready = f.dir / "outputs" / "out" / "ready", go = f.dir / "outputs" / "out" / "go";
  Result<SandboxResult> r = fail(ErrorCode::internal, "not run");
  std::thread step([&] {
    r = f.run(": s3cr3t-in-script; touch out/ready; while [ ! -e out/go ]; do sleep 0.05; done; "
              "test \"$TOKEN\" = s3cr3t-in-env && echo env-seen",
              {{"TOKEN", "s3cr3t-in-env"}});
  });
  // Waits for the step to be running (bounded, so a broken step fails instead of hanging).
  for (int i = 0; i < 1200 && !fs::exists(ready); ++i) std::this_thread::sleep_for(50ms);
  bool running = fs::exists(ready);
  auto found = cmdlines_containing("s3cr3t-in");
  test::write(go, "");
  step.join();
  CHECK(running);
  CHECK(found == std::vector<std::string>{});
  REQUIRE(r);
  CHECK(r->process.success());
  CHECK(f.out == std::vector<std::string>{"env-seen"});
}

TEST_CASE("sandbox: a step cannot have more processes at once than its pids limit") {
  Fixture f;
  SUBCASE("bubblewrap") {
    if (!bwrap_works()) return;
  }
  SUBCASE("plain process") { f.spec.mode = SandboxMode::off; }
  if (::geteuid() == 0 && !PidsCgroup::create(16)) {
    return test::skip("no pids cgroup can be made here, and RLIMIT_NPROC does not bind root");
  }
  f.spec.max_pids = 16;
  ProcessSpec p;
  // Forks until refused; the children wait to be killed with the step.
  p.argv = {"python3", "-c",
            "import os, signal\nn = 0\nfor i in range(64):\n  try:\n    pid = os.fork()\n  except OSError:\n    break\n"
            "  if pid == 0:\n    signal.pause()\n    os._exit(0)\n  n += 1\nprint(n, flush=True)\n"};
  p.timeout = 60s;
  auto r = run_sandboxed(f.spec, p, [&](const LogLine& l) {
    (l.stream == LogLine::Stream::out ? f.out : f.err).push_back(l.text);
  });
  REQUIRE(r);
  std::string all;
  for (const auto& l : f.err) all += l + "\n";
  INFO(all);
  CHECK(r->process.success());
  REQUIRE(f.out.size() == 1);
  int forked = std::stoi(f.out[0]);
  CHECK(forked > 0);
  CHECK(forked < 16);
}

TEST_CASE("sandbox: a whole input directory is bound as it was opened, not as its path reads later") {
  if (!bwrap_works()) return;
  Fixture f;
  test::write(f.dir / "ws" / "lib" / "mod.txt", "checked\n");
  test::write(f.dir / "host" / "mod.txt", "host file\n");
  auto fd = open_dir_beneath(f.dir / "ws", "lib", false);
  REQUIRE(fd);
  // After the check, the directory is swapped for a symlink to another of the host's.
  fs::rename(f.dir / "ws" / "lib", f.dir / "ws" / "lib-old");
  fs::create_directory_symlink(f.dir / "host", f.dir / "ws" / "lib");
  fs::create_directories(f.dir / "root" / "lib");
  f.spec.input_dirs = {InputDir{.rel = "lib", .host = f.dir / "ws" / "lib", .fd = fd->get()}};
  auto r = f.run("cat lib/mod.txt");
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  CHECK(f.out == std::vector<std::string>{"checked"});
}
