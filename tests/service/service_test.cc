// The executor service end to end: a real Server on a unix socket in the test dir, a real
// engine and cache, and gRPC clients (the generated stub and service/client.hh).

#include <atomic>
#include <fstream>
#include <mutex>
#include <thread>

#include <doctest/doctest.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/exec/sandbox.hh"
#include "runner/service/client.hh"
#include "runner/service/server.hh"
#include "runner/service/status.hh"
#include "tests/service/daemon.hh"
#include "tests/support/test_support.hh"

namespace v1 = akbuild::v1;
using namespace akbuild;
using test::Daemon;
using test::socket_options;

namespace {

struct CollectingSink : engine::EventSink {
  void on_event(const engine::Event& event) override {
    std::lock_guard lock(mutex);
    events.push_back(event);
  }
  std::mutex mutex;
  std::vector<engine::Event> events;
};

// An exec step that appends a line to `marker` each time its command really runs.
engine::StepRequest counting_step(const std::string& id, const std::filesystem::path& marker, const std::string& salt) {
  return {.id = id, .kind = "exec",
          .with = {{"run", "echo " + salt + " > out-" + salt + ".txt; echo ran >> '" + marker.string() + "'"},
                   {"outputs", "out-" + salt + ".txt"}}};
}

int count_lines(const std::filesystem::path& path) {
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

service::DaemonRequest request_of(const test::TestDir& dir, std::vector<engine::StepRequest> steps) {
  return {.workspace = dir / "ws", .steps = std::move(steps), .jobs = 0, .sandbox = exec::SandboxMode::off,
          .explain = false};
}

std::vector<std::string> tree_listing(const std::filesystem::path& root) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec); !ec && it != decltype(it)(); it.increment(ec))
    out.push_back(it->path().string() + ":" + std::to_string(it->is_regular_file() ? it->file_size() : 0));
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace

TEST_CASE("ListenAddress parses unix and tcp forms and refuses others") {
  auto unix_address = service::ListenAddress::parse("unix:/run/x.sock");
  REQUIRE(unix_address);
  CHECK(unix_address->grpc_target() == "unix:/run/x.sock");
  auto tcp = service::ListenAddress::parse("tcp:127.0.0.1:7000");
  REQUIRE(tcp);
  CHECK(tcp->host == "127.0.0.1");
  CHECK(tcp->port == 7000);
  CHECK(service::ListenAddress::parse("tcp:[::1]:9")->host == "[::1]");
  for (const char* bad : {"http://x", "tcp:host", "tcp:host:99999", "unix:", "tcp::80"}) {
    auto r = service::ListenAddress::parse(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::invalid_argument);
    CHECK(r.error().message.find(bad) != std::string::npos);
  }
}

TEST_CASE("Every ErrorCode survives the trip through a grpc::Status") {
  for (ErrorCode code : {ErrorCode::invalid_argument, ErrorCode::not_found, ErrorCode::already_exists,
                         ErrorCode::failed_precondition, ErrorCode::corrupt, ErrorCode::unavailable,
                         ErrorCode::permission_denied, ErrorCode::unauthenticated, ErrorCode::cancelled,
                         ErrorCode::deadline_exceeded, ErrorCode::resource_exhausted, ErrorCode::step_failed,
                         ErrorCode::unimplemented, ErrorCode::internal}) {
    auto status = service::to_grpc_status(Error{code, "x: broken"});
    CHECK(service::from_grpc_status(status, "Call").code == code);
    CHECK(service::error_code_from_name(to_string(code)) == code);
  }
  // io has no grpc code of its own: it travels as INTERNAL.
  CHECK(service::to_grpc_code(ErrorCode::io) == grpc::StatusCode::INTERNAL);
}

TEST_CASE("The socket is mode 0600 in a 0700 directory and a second daemon on it is refused") {
  test::TestDir dir;
  Daemon daemon(dir);
  struct stat st {};
  REQUIRE(::stat((dir / "run" / "executor.sock").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat((dir / "run").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);

  auto second = service::Server::start(socket_options(dir));
  REQUIRE_FALSE(second);
  CHECK(second.error().code == ErrorCode::already_exists);
  CHECK(service::daemon_reachable(daemon.target).value_or(false));
}

TEST_CASE("Capabilities list every kind with its parameter schema from the descriptors") {
  test::TestDir dir;
  Daemon daemon(dir);
  grpc::ClientContext ctx;
  v1::Capabilities caps;
  REQUIRE(daemon.stub()->GetCapabilities(&ctx, {}, &caps).ok());
  CHECK(caps.version() == "test");
  const v1::StepKind* exec_kind = nullptr;
  for (const auto& kind : caps.kinds())
    if (kind.kind() == "exec") exec_kind = &kind;
  REQUIRE(exec_kind != nullptr);
  CHECK(exec_kind->params_message() == "akbuild.v1.ExecParams");
  std::map<std::string, v1::ParamSchema> params;
  for (const auto& p : exec_kind->params()) params[p.name()] = p;
  CHECK(params.at("run").type() == "string");
  CHECK(params.at("run").description().find("bash script") != std::string::npos);
  CHECK(params.at("command").repeated());
  CHECK(params.at("env").map());
  CHECK(params.at("env").map_value_type() == "string");
  CHECK(params.at("timeout_seconds").type() == "uint32");
  bool found_bash = false;
  for (const auto& tool : caps.tools())
    if (tool.name() == "bash") found_bash = !tool.path().empty();
  CHECK(found_bash);
  // The daemon reports what probing bubblewrap finds, and why not when it cannot run.
  std::string why;
  bool here = exec::sandbox_available(&why);
  CHECK(caps.sandbox().available() == here);
  CHECK(caps.sandbox().reason() == why);
  if (!here) return test::skip("bubblewrap cannot run here: " + why);
  auto bwrap = test::run({"bwrap", "--unshare-all", "--ro-bind", "/", "/", "true"});
  CHECK_MESSAGE(bwrap.exit_code == 0, bwrap.err);
}

TEST_CASE("Plan and Execute over the socket: a miss runs, the same step again is a hit") {
  test::TestDir dir;
  std::filesystem::create_directories(dir / "ws");
  Daemon daemon(dir);
  auto stub = daemon.stub();
  auto marker = dir / "runs";
  auto request = request_of(dir, {counting_step("hello", marker, "a")});

  auto planned = service::plan_via_daemon(*stub, request);
  REQUIRE_MESSAGE(planned, (planned ? "" : planned.error().message));
  REQUIRE(planned->size() == 1);
  CHECK_FALSE(planned->at(0).hit);
  CHECK(planned->at(0).key.size() == 64);

  CollectingSink sink;
  auto results = service::execute_via_daemon(*stub, request, sink);
  REQUIRE_MESSAGE(results, (results ? "" : results.error().message));
  REQUIRE(results->size() == 1);
  CHECK(results->at(0).success);
  CHECK_FALSE(results->at(0).cache_hit);
  CHECK(results->at(0).key == planned->at(0).key);
  CHECK(test::read(dir / "ws" / "out-a.txt") == "a\n");
  CHECK(count_lines(marker) == 1);
  bool saw_planned = false;
  for (const auto& e : sink.events)
    if (const auto* state = std::get_if<engine::StateChange>(&e.body))
      saw_planned |= state->state == engine::StepState::planned && state->step_id == "hello";
  CHECK(saw_planned);

  CollectingSink again;
  auto second = service::execute_via_daemon(*stub, request, again);
  REQUIRE(second);
  CHECK(second->at(0).cache_hit);
  CHECK(second->at(0).outputs.at("cache-hit") == "true");
  CHECK(count_lines(marker) == 1);
  auto replanned = service::plan_via_daemon(*stub, request);
  REQUIRE(replanned);
  CHECK(replanned->at(0).hit);
}

TEST_CASE("50 concurrent cached Executes and 8 uncached ones of one action run each action once") {
  test::TestDir dir;
  std::filesystem::create_directories(dir / "ws");
  Daemon daemon(dir);
  auto marker = dir / "runs";
  auto warm = daemon.stub();
  CollectingSink sink;
  REQUIRE(service::execute_via_daemon(*warm, request_of(dir, {counting_step("warm", marker, "w")}), sink));
  REQUIRE(count_lines(marker) == 1);

  auto cold_marker = dir / "cold-runs";
  std::atomic<int> failures{0}, hits{0}, cold_ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 58; ++i) {
    threads.emplace_back([&, i] {
      auto stub = daemon.stub();
      CollectingSink events;
      // The 8 cold requests differ in their step ids, so only the engine's key dedupe keeps
      // their one action from running 8 times.
      auto request = i < 50 ? request_of(dir, {counting_step("warm-" + std::to_string(i), marker, "w")})
                            : request_of(dir, {counting_step("cold-" + std::to_string(i), cold_marker, "c")});
      auto results = service::execute_via_daemon(*stub, request, events);
      if (!results || results->size() != 1 || !results->at(0).success) {
        ++failures;
        if (!results) MESSAGE(results.error().message);
        return;
      }
      if (i < 50 && results->at(0).cache_hit) ++hits;
      if (i >= 50) ++cold_ok;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  CHECK(hits == 50);
  CHECK(cold_ok == 8);
  CHECK(count_lines(marker) == 1);
  CHECK(count_lines(cold_marker) == 1);
}

TEST_CASE("Identical requests in flight share one execution") {
  test::TestDir dir;
  std::filesystem::create_directories(dir / "ws");
  Daemon daemon(dir);
  auto release = dir / "release";
  auto marker = dir / "runs";
  engine::StepRequest step{.id = "wait", .kind = "exec",
                           .with = {{"run", "echo ran >> '" + marker.string() + "'; while [ ! -e '" +
                                                release.string() + "' ]; do sleep 0.02; done"}}};
  v1::ExecuteRequest request;
  request.set_workspace((dir / "ws").string());
  request.mutable_options()->set_sandbox(v1::SANDBOX_MODE_OFF);
  auto* s = request.add_steps();
  s->set_id(step.id);
  s->set_kind(step.kind);
  s->mutable_with()->insert(step.with.begin(), step.with.end());

  auto stub = daemon.stub();
  grpc::ClientContext first_ctx, second_ctx;
  auto first = stub->Execute(&first_ctx, request);
  v1::ExecuteEvent event;
  REQUIRE(first->Read(&event));
  REQUIRE(event.has_accepted());
  CHECK_FALSE(event.accepted().joined());
  auto second = stub->Execute(&second_ctx, request);
  REQUIRE(second->Read(&event));
  REQUIRE(event.has_accepted());
  CHECK(event.accepted().joined());
  test::write(release, "");
  for (auto* reader : {first.get(), second.get()}) {
    bool result = false;
    while (reader->Read(&event)) result |= event.has_result() && event.result().success();
    CHECK(reader->Finish().ok());
    CHECK(result);
  }
  CHECK(count_lines(marker) == 1);
}

TEST_CASE("A client that goes away cancels its execution; Cancel of an unknown id is NOT_FOUND") {
  test::TestDir dir;
  std::filesystem::create_directories(dir / "ws");
  Daemon daemon(dir);
  auto started = dir / "started";
  v1::ExecuteRequest request;
  request.set_workspace((dir / "ws").string());
  request.mutable_options()->set_sandbox(v1::SANDBOX_MODE_OFF);
  auto* s = request.add_steps();
  s->set_id("slow");
  s->set_kind("exec");
  (*s->mutable_with())["run"] = "touch '" + started.string() + "'; sleep 60";
  auto stub = daemon.stub();
  std::string id;
  {
    grpc::ClientContext ctx;
    auto reader = stub->Execute(&ctx, request);
    v1::ExecuteEvent event;
    while (reader->Read(&event)) {
      id = event.execution_id();
      if (event.has_state() && event.state().state() == v1::STEP_STATE_STARTED) break;
    }
    // The command is running (it wrote `started`); now the client goes away.
    for (int i = 0; i < 400 && !std::filesystem::exists(started); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    REQUIRE(std::filesystem::exists(started));
    ctx.TryCancel();
    reader->Finish();
  }
  REQUIRE_FALSE(id.empty());
  // The execution ends (cancelled) once its only client left: Cancel then no longer finds it.
  grpc::Status status;
  for (int i = 0; i < 400; ++i) {
    grpc::ClientContext ctx;
    v1::CancelRequest cancel;
    cancel.set_execution_id(id);
    v1::CancelResponse response;
    status = stub->Cancel(&ctx, cancel, &response);
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(status.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(status.error_message().find(id) != std::string::npos);
}

TEST_CASE("Bad requests get clear statuses, write nothing to the cache, and the daemon stays up") {
  test::TestDir dir;
  std::filesystem::create_directories(dir / "ws");
  Daemon daemon(dir, 64 * 1024);
  auto stub = daemon.stub();
  CollectingSink sink;
  // A good Plan first: opening the engine lays out the cache dir; a plan writes no entry.
  REQUIRE(service::plan_via_daemon(*stub, request_of(dir, {counting_step("ok", dir / "m", "ok")})));
  auto before = tree_listing(dir / "cache");

  SUBCASE("unknown kind") {
    auto r = service::execute_via_daemon(*stub, request_of(dir, {{.id = "x", .kind = "no-such-kind", .with = {}}}), sink);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::invalid_argument);
    CHECK(r.error().message.find("no-such-kind") != std::string::npos);
    CHECK(r.error().message.find("exec") != std::string::npos);
  }
  SUBCASE("unknown with: key") {
    auto r = service::execute_via_daemon(
        *stub, request_of(dir, {{.id = "x", .kind = "exec", .with = {{"run", "true"}, {"colour", "red"}}}}), sink);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::invalid_argument);
    CHECK(r.error().message.find("colour") != std::string::npos);
    CHECK(r.error().message.find("run") != std::string::npos);
  }
  SUBCASE("oversized request") {
    auto r = service::execute_via_daemon(
        *stub, request_of(dir, {{.id = "x", .kind = "exec", .with = {{"run", std::string(100 * 1024, 'x')}}}}), sink);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::resource_exhausted);
    CHECK(r.error().message.find("larger than max") != std::string::npos);
  }
  SUBCASE("unknown sandbox mode") {
    v1::PlanRequest plan;
    plan.set_workspace((dir / "ws").string());
    auto* step = plan.add_steps();
    step->set_id("x");
    step->set_kind("exec");
    (*step->mutable_with())["run"] = "true";
    plan.mutable_options()->set_sandbox(static_cast<v1::SandboxMode>(7));
    grpc::ClientContext ctx;
    v1::PlanResponse response;
    auto status = stub->Plan(&ctx, plan, &response);
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(status.error_message().find("sandbox") != std::string::npos);
  }
  SUBCASE("workspace that is not a directory") {
    auto request = request_of(dir, {counting_step("x", dir / "m", "x")});
    request.workspace = dir / "missing";
    auto r = service::execute_via_daemon(*stub, request, sink);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::invalid_argument);
    CHECK(r.error().message.find("missing") != std::string::npos);
  }
  CHECK(tree_listing(dir / "cache") == before);
  grpc::ClientContext ctx;
  v1::Capabilities caps;
  CHECK(stub->GetCapabilities(&ctx, {}, &caps).ok());
}

TEST_CASE("Over TCP the token is required and checked") {
  test::TestDir dir;
  service::ServerOptions options;
  options.listen = *service::ListenAddress::parse("tcp:127.0.0.1:0");
  options.token = "s3cret-token-value";
  options.service.cache_dir = dir / "cache";
  auto server = service::Server::start(options);
  REQUIRE_MESSAGE(server, (server ? "" : server.error().message));
  REQUIRE((*server)->address().port > 0);

  auto call = [&](std::string token) {
    service::ExecutorTarget target{.address = (*server)->address(), .token = std::move(token), .tls_ca_pem = {}};
    auto stub = v1::Executor::NewStub(service::connect(target));
    grpc::ClientContext ctx;
    v1::Capabilities caps;
    return stub->GetCapabilities(&ctx, {}, &caps);
  };
  CHECK(call("s3cret-token-value").ok());
  auto none = call("");
  CHECK(none.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(none.error_message().find("Bearer") != std::string::npos);
  CHECK(call("s3cret-token-valuX").error_code() == grpc::StatusCode::UNAUTHENTICATED);

  // HashPath would tell any token holder what the daemon's user can read: unix socket only.
  {
    service::ExecutorTarget target{.address = (*server)->address(), .token = "s3cret-token-value", .tls_ca_pem = {}};
    auto stub = v1::Executor::NewStub(service::connect(target));
    grpc::ClientContext ctx;
    v1::HashPathRequest request;
    request.set_path(dir.path().string());
    v1::HashPathResponse response;
    auto status = stub->HashPath(&ctx, request, &response);
    CHECK(status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(status.error_message().find("unix socket") != std::string::npos);
  }

  options.token.clear();
  options.listen.port = 0;
  auto tokenless = service::Server::start(options);
  REQUIRE_FALSE(tokenless);
  CHECK(tokenless.error().message.find("--token-file") != std::string::npos);
}

namespace {

bool is_root() {
  if (::geteuid() == 0) return true;
  test::skip("needs root (to give files to another uid)");
  return false;
}

void chown_tree(const std::filesystem::path& root, uid_t uid) {
  REQUIRE(::lchown(root.c_str(), uid, uid) == 0);
  for (const auto& e : std::filesystem::recursive_directory_iterator(root))
    REQUIRE(::lchown(e.path().c_str(), uid, uid) == 0);
}

} // namespace

TEST_CASE("A socket dir or socket of another uid is refused by the daemon and by the client") {
  if (!is_root()) return;
  test::TestDir dir;
  std::filesystem::create_directories(dir / "run");
  REQUIRE(::chown((dir / "run").c_str(), 65534, 65534) == 0);  // as if another user made it first
  auto refused = service::Server::start(socket_options(dir));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == ErrorCode::permission_denied);
  CHECK(refused.error().message.find("uid 65534") != std::string::npos);
  REQUIRE(::chown((dir / "run").c_str(), 0, 0) == 0);

  Daemon daemon(dir);
  REQUIRE(service::daemon_reachable(daemon.target).value_or(false));
  SUBCASE("the dir") { REQUIRE(::chown((dir / "run").c_str(), 65534, 65534) == 0); }
  SUBCASE("the socket") { REQUIRE(::chown((dir / "run" / "executor.sock").c_str(), 65534, 65534) == 0); }
  CHECK_FALSE(service::daemon_reachable(daemon.target).value_or(true));
}

TEST_CASE("The client refuses a daemon that runs as another uid, however its socket got here") {
  if (!is_root() || !test::have_program("setpriv")) return;
  test::TestDir dir;
  std::filesystem::create_directories(dir / "theirs" / "run");
  std::filesystem::create_directories(dir / "mine");
  REQUIRE(::chmod(dir.path().c_str(), 0755) == 0);
  chown_tree(dir / "theirs", 65534);
  // Another user's daemon; its socket is then moved into a dir of ours and given to us.
  std::string serve = "HOME=" + (dir / "theirs").string() + " AKBUILD_CACHE_DIR=" + (dir / "theirs" / "cache").string() +
                      " exec setpriv --reuid 65534 --regid 65534 --clear-groups " + test::akbuild_bin().string() +
                      " serve --listen unix:" + (dir / "theirs" / "run" / "executor.sock").string();
  auto started = test::sh("(" + serve + ") >/dev/null 2>&1 & echo $! > " + (dir / "pid").string() +
                          "; for i in $(seq 1 200); do [ -S " + (dir / "theirs" / "run" / "executor.sock").string() +
                          " ] && exit 0; sleep 0.05; done; exit 1");
  REQUIRE(started.exit_code == 0);
  std::filesystem::rename(dir / "theirs" / "run" / "executor.sock", dir / "mine" / "executor.sock");
  REQUIRE(::chown((dir / "mine" / "executor.sock").c_str(), 0, 0) == 0);
  REQUIRE(::chmod((dir / "mine").c_str(), 0700) == 0);
  service::ExecutorTarget target;
  target.address.path = dir / "mine" / "executor.sock";
  bool reachable = service::daemon_reachable(target).value_or(true);
  test::sh("kill $(cat " + (dir / "pid").string() + ")");
  CHECK_FALSE(reachable);
}

TEST_CASE("The daemon serves only clients of its own uid, even through a socket others may open") {
  if (!is_root() || !test::have_program("setpriv")) return;
  test::TestDir dir;
  Daemon daemon(dir);
  // Widened modes (a careless chmod): only the peer check stands between nobody and the daemon.
  REQUIRE(::chmod(dir.path().c_str(), 0711) == 0);
  REQUIRE(::chmod((dir / "run").c_str(), 0711) == 0);
  REQUIRE(::chmod((dir / "run" / "executor.sock").c_str(), 0666) == 0);
  // An HTTP/2 client preface; a gRPC server answers with its SETTINGS, a refusal is EOF.
  std::string probe =
      "import socket,sys\n"
      "s=socket.socket(socket.AF_UNIX); s.settimeout(30); s.connect(sys.argv[1])\n"
      "try:\n"
      "  s.sendall(b'PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n' + bytes([0,0,0,4,0,0,0,0,0]))\n"
      "  print('served' if s.recv(64) else 'refused')\n"
      "except (BrokenPipeError, ConnectionResetError):\n  print('refused')\n";
  test::write(dir / "probe.py", probe);
  REQUIRE(::chmod((dir / "probe.py").c_str(), 0644) == 0);
  auto as_root = test::run({"/usr/bin/python3", (dir / "probe.py").string(), (dir / "run" / "executor.sock").string()});
  CHECK(as_root.out == "served\n");
  auto as_nobody = test::run({"setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "/usr/bin/python3",
                              (dir / "probe.py").string(), (dir / "run" / "executor.sock").string()});
  INFO(as_nobody.err);
  CHECK(as_nobody.out == "refused\n");
}
