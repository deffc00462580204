#include "runner/service/client.hh"

#include <atomic>
#include <cstdlib>
#include <thread>

#include <sys/stat.h>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "runner/core/fs.hh"
#include "runner/core/log.hh"
#include "runner/core/secrets.hh"
#include "runner/service/auth.hh"
#include "runner/service/convert.hh"
#include "runner/service/socket_trust.hh"
#include "runner/service/status.hh"

namespace akbuild::service {

namespace v1 = ::akbuild::v1;

namespace {

// Adds the bearer token to every call of a channel.
class TokenPlugin final : public grpc::MetadataCredentialsPlugin {
public:
  explicit TokenPlugin(std::string token) : m_token(std::move(token)) {}
  bool IsBlocking() const override { return false; }
  grpc::Status GetMetadata(grpc::string_ref, grpc::string_ref, const grpc::AuthContext&,
                           std::multimap<grpc::string, grpc::string>* metadata) override {
    metadata->insert({"authorization", "Bearer " + m_token});
    return grpc::Status::OK;
  }

private:
  std::string m_token;
};

v1::ExecuteOptions to_options(const DaemonRequest& request) {
  v1::ExecuteOptions out;
  out.set_jobs(request.jobs);
  out.set_sandbox(to_proto(request.sandbox));
  out.set_explain(request.explain);
  for (auto& secret : secret_values()) out.add_secrets(std::move(secret));
  return out;
}

std::string absolute_workspace(const std::filesystem::path& workspace) {
  return std::filesystem::absolute(workspace).lexically_normal().string();
}

} // namespace

Result<std::optional<ExecutorTarget>> executor_target_from_env() {
  ExecutorTarget target;
  const char* value = std::getenv("AKBUILD_EXECUTOR");
  if (value && std::string_view(value) == "none") return std::optional<ExecutorTarget>{};
  if (value && *value) {
    target.address = AK_TRY(ListenAddress::parse(value).map_error(
        [](Error e) { return e.context("AKBUILD_EXECUTOR"); }));
  } else {
    target.address.path = default_socket_path();
  }
  if (const char* file = std::getenv("AKBUILD_EXECUTOR_TOKEN_FILE"); file && *file)
    target.token = AK_TRY(read_token_file(file));
  if (const char* ca = std::getenv("AKBUILD_EXECUTOR_CA"); ca && *ca) target.tls_ca_pem = AK_TRY(read_file(ca));
  return std::optional<ExecutorTarget>(std::move(target));
}

std::shared_ptr<grpc::Channel> connect(const ExecutorTarget& target) {
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (target.address.kind == ListenAddress::Kind::tcp) {
    if (!target.tls_ca_pem.empty()) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = target.tls_ca_pem;
      creds = grpc::SslCredentials(ssl);
    } else {
      creds = grpc::experimental::LocalCredentials(LOCAL_TCP);
    }
    if (!target.token.empty())
      creds = grpc::CompositeChannelCredentials(
          creds, grpc::MetadataCredentialsFromPlugin(std::make_unique<TokenPlugin>(target.token)));
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  return grpc::CreateCustomChannel(target.address.grpc_target(), creds, args);
}

Result<std::shared_ptr<grpc::Channel>> reachable_channel(const ExecutorTarget& target,
                                                         std::chrono::milliseconds timeout) {
  if (target.address.kind == ListenAddress::Kind::unix_socket) {
    struct stat st {};
    if (::lstat(target.address.path.c_str(), &st) != 0)
      return fail(ErrorCode::unavailable, target.address.path.string() + ": no such socket");
    // Only this user can replace the socket in a dir that passed the check, so the channel
    // gRPC opens next reaches the peer checked here.
    if (auto trusted = connect_trusted(target.address.path); !trusted) {
      if (trusted.error().code == ErrorCode::permission_denied)
        return fail(trusted.error().context("executor socket not used"));
      return fail(ErrorCode::unavailable, trusted.error().message);  // a stale socket file
    }
  }
  auto channel = connect(target);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + timeout))
    return fail(ErrorCode::unavailable, target.address.grpc_target() + ": no executor answers");
  return channel;
}

Result<bool> daemon_reachable(const ExecutorTarget& target, std::chrono::milliseconds timeout) {
  return reachable_channel(target, timeout).has_value();
}

Result<std::vector<engine::StepResult>> execute_via_daemon(v1::Executor::StubInterface& stub,
                                                           const DaemonRequest& request, engine::EventSink& events,
                                                           const exec::CancelToken* cancel) {
  v1::ExecuteRequest message;
  message.set_workspace(absolute_workspace(request.workspace));
  for (const auto& step : request.steps) to_proto(step, message.add_steps());
  *message.mutable_options() = to_options(request);

  grpc::ClientContext ctx;
  std::atomic<bool> finished{false};
  std::thread watcher;
  if (cancel) {
    // ClientContext::TryCancel is the only way to stop a blocking Read; poll the token.
    watcher = std::thread([&] {
      while (!finished.load()) {
        if (cancel->requested()) {
          ctx.TryCancel();
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
  }
  std::optional<v1::ExecuteResult> result;
  {
    auto reader = stub.Execute(&ctx, message);
    v1::ExecuteEvent event;
    while (reader->Read(&event)) {
      if (event.has_result()) {
        result = event.result();
        continue;
      }
      if (auto domain = from_proto(event)) events.on_event(*domain);
    }
    grpc::Status status = reader->Finish();
    finished.store(true);
    if (watcher.joinable()) watcher.join();
    if (cancel && cancel->requested()) return fail(ErrorCode::cancelled, "execution cancelled");
    if (!status.ok()) return fail(from_grpc_status(status, "Execute"));
  }
  if (!result) return fail(ErrorCode::internal, "executor Execute: stream ended without a result");
  std::vector<engine::StepResult> out;
  for (const auto& step : result->steps()) out.push_back(from_proto(step));
  return out;
}

std::optional<Result<nixdrv::WatchedNarHashes::Answer>> try_hash_path_via_daemon(const std::filesystem::path& path) {
  using Out = Result<nixdrv::WatchedNarHashes::Answer>;
  auto target = executor_target_from_env();
  if (!target) return Out(fail(target.error()));
  // Over TCP the daemon may be on another machine, with another file at this path.
  if (!*target || (*target)->address.kind != ListenAddress::Kind::unix_socket) return std::nullopt;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
  auto channel = reachable_channel(**target, std::chrono::milliseconds(500));
  if (!channel) {
    if (channel.error().code == ErrorCode::permission_denied) log_warning("{}", channel.error().message);
    return std::nullopt;
  }
  v1::HashPathRequest request;
  request.set_path(path.string());
  request.set_dev(st.st_dev);
  request.set_ino(st.st_ino);
  request.set_mount_namespace(mount_namespace());
  v1::HashPathResponse response;
  grpc::ClientContext ctx;
  grpc::Status status = v1::Executor::NewStub(*channel)->HashPath(&ctx, request, &response);
  // An older daemon, or one that sees another file there or may not read it (another mount
  // namespace or user): hashing in-process gives this process's own answer.
  switch (status.error_code()) {
  case grpc::StatusCode::UNIMPLEMENTED:
  case grpc::StatusCode::FAILED_PRECONDITION:
  case grpc::StatusCode::NOT_FOUND:
  case grpc::StatusCode::PERMISSION_DENIED: return std::nullopt;
  default: break;
  }
  if (!status.ok()) return Out(fail(from_grpc_status(status, "HashPath")));
  auto answer = from_proto(response);
  if (!answer) return Out(fail(ErrorCode::internal, "executor HashPath: " + answer.error().message));
  return answer;
}

Result<std::vector<engine::PlannedStep>> plan_via_daemon(v1::Executor::StubInterface& stub,
                                                         const DaemonRequest& request) {
  v1::PlanRequest message;
  message.set_workspace(absolute_workspace(request.workspace));
  for (const auto& step : request.steps) to_proto(step, message.add_steps());
  *message.mutable_options() = to_options(request);
  grpc::ClientContext ctx;
  v1::PlanResponse response;
  grpc::Status status = stub.Plan(&ctx, message, &response);
  if (!status.ok()) return fail(from_grpc_status(status, "Plan"));
  std::vector<engine::PlannedStep> out;
  for (const auto& step : response.steps()) out.push_back(from_proto(step));
  return out;
}

} // namespace akbuild::service
