// A job environment's life as forgejo-runner's Go client drives it, timed from a C++ gRPC client
// (a Python client adds about half a millisecond of its own to every call): Create, Start, Exec
// `true`, Remove, N times; then Exec `true` in one live environment N times. Beside them the
// peers started the way the runner's host would: the bwrap command line after `--` and `true`,
// each posix_spawn'd and waited for N times. Prints one line per figure, in milliseconds:
//   life_p50 life_p99 exec_p50 hand_p50 fork_p50
// and on stderr the p50 of each call of the life (create start exec remove).
// Usage: plugin_life SOCKET CALLS -- BWRAP ARGS...

#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "plugin/v1alpha/plugin.grpc.pb.h"

extern char** environ;

namespace pb = ::plugin::v1alpha;
using Clock = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "plugin_life: %s\n", what.c_str());
  std::exit(1);
}

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(static_cast<double>(v.size()) * p))];
}

class Runner {
public:
  explicit Runner(const std::string& socket)
      : m_stub(pb::BackendPlugin::NewStub(grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()))) {}

  std::string create() {
    grpc::ClientContext ctx;
    pb::CreateRequest request;
    request.set_name("bench");
    pb::CreateResponse response;
    check(m_stub->Create(&ctx, request, &response), "Create");
    return response.environment_id();
  }

  google::protobuf::Map<std::string, std::string> start(const std::string& id) {
    grpc::ClientContext ctx;
    pb::StartRequest request;
    request.set_environment_id(id);
    auto reader = m_stub->Start(&ctx, request);
    pb::StartOutput out;
    google::protobuf::Map<std::string, std::string> env;
    while (reader->Read(&out))
      if (out.has_start_complete()) env = out.start_complete().image_env();
    check(reader->Finish(), "Start");
    return env;
  }

  void exec_true(const std::string& id, const google::protobuf::Map<std::string, std::string>& env) {
    grpc::ClientContext ctx;
    pb::ExecRequest request;
    request.set_environment_id(id);
    request.add_command("true");
    *request.mutable_env() = env;
    auto reader = m_stub->Exec(&ctx, request);
    pb::ExecOutput out;
    int code = -1;
    while (reader->Read(&out))
      if (out.has_exec_complete()) code = out.exec_complete().exit_code();
    check(reader->Finish(), "Exec");
    if (code != 0) die("Exec true: exit code " + std::to_string(code));
  }

  void remove(const std::string& id) {
    grpc::ClientContext ctx;
    pb::RemoveRequest request;
    request.set_environment_id(id);
    pb::RemoveResponse response;
    check(m_stub->Remove(&ctx, request, &response), "Remove");
  }

private:
  static void check(const grpc::Status& s, const char* call) {
    if (!s.ok()) die(std::string(call) + ": " + s.error_message());
  }
  std::unique_ptr<pb::BackendPlugin::Stub> m_stub;
};

double spawn_and_wait(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  auto t0 = Clock::now();
  pid_t pid = 0;
  if (::posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) die("cannot spawn " + argv[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die(argv[0] + " failed");
  return ms_since(t0);
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 5 || std::string(argv[3]) != "--") die("usage: plugin_life SOCKET CALLS -- BWRAP ARGS...");
  int calls = std::stoi(argv[2]);
  std::vector<std::string> hand(argv + 4, argv + argc);
  Runner runner(argv[1]);

  std::vector<double> phases[4];
  auto life = [&] {
    auto t0 = Clock::now();
    auto id = runner.create();
    auto t1 = Clock::now();
    auto env = runner.start(id);
    auto t2 = Clock::now();
    runner.exec_true(id, env);
    auto t3 = Clock::now();
    runner.remove(id);
    auto t4 = Clock::now();
    Clock::time_point at[] = {t0, t1, t2, t3, t4};
    for (int i = 0; i < 4; ++i) phases[i].push_back(std::chrono::duration<double, std::milli>(at[i + 1] - at[i]).count());
    return ms_since(t0);
  };
  life();  // warm-up: the channel's connection, the daemon's first probe
  for (auto& p : phases) p.clear();
  std::vector<double> lives, execs, hands, forks;
  for (int i = 0; i < calls; ++i) lives.push_back(life());

  auto id = runner.create();
  auto env = runner.start(id);
  for (int i = 0; i < calls; ++i) {
    auto t0 = Clock::now();
    runner.exec_true(id, env);
    execs.push_back(ms_since(t0));
  }
  runner.remove(id);

  for (int i = 0; i < calls; ++i) hands.push_back(spawn_and_wait(hand));
  for (int i = 0; i < calls; ++i) forks.push_back(spawn_and_wait({"/usr/bin/true"}));
  std::fprintf(stderr, "create %.2f start %.2f exec %.2f remove %.2f (ms, p50)\n", percentile(phases[0], 0.5),
               percentile(phases[1], 0.5), percentile(phases[2], 0.5), percentile(phases[3], 0.5));
  std::printf("%.2f %.2f %.2f %.2f %.2f\n", percentile(lives, 0.5), percentile(lives, 0.99), percentile(execs, 0.5),
              percentile(hands, 0.5), percentile(forks, 0.5));
  return 0;
}
