#include "runner/service/server.hh"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_posix.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "runner/core/fs.hh"
#include "runner/core/log.hh"
#include "runner/service/accept_loop.hh"
#include "runner/service/auth.hh"
#include "runner/service/env_executor.hh"
#include "runner/service/socket_trust.hh"

namespace akbuild::service {

namespace {

// Whether something accepts connections on the unix socket at `path` (a live daemon).
bool socket_alive(const std::filesystem::path& path) {
  sockaddr_un addr{};
  if (path.native().size() >= sizeof addr.sun_path) return false;
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  addr.sun_family = AF_UNIX;
  std::copy(path.native().begin(), path.native().end(), addr.sun_path);
  return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

// The socket's directory: created 0700 when missing; refused when another user owns it or
// may write to it (check_socket_dir), or when a live daemon already serves the socket.
Result<> prepare_socket_dir(const std::filesystem::path& socket) {
  auto dir = socket.parent_path();
  if (socket.native().size() >= sizeof(sockaddr_un::sun_path))
    return fail(ErrorCode::invalid_argument, socket.string() + ": socket path too long");
  AK_TRY_VOID(make_dirs(dir.parent_path()));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return fail(errno_error("mkdir " + dir.string()));
  AK_TRY_VOID(check_socket_dir(dir));
  if (socket_alive(socket))
    return fail(ErrorCode::already_exists, socket.string() + ": another executor is serving on this socket");
  return ok();
}

Result<std::shared_ptr<grpc::ServerCredentials>> credentials(const ServerOptions& options) {
  if (options.listen.kind == ListenAddress::Kind::unix_socket) return grpc::InsecureServerCredentials();
  if (options.token.empty())
    return fail(ErrorCode::invalid_argument, "--listen " + options.listen.to_string() + ": tcp needs --token-file");
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (!options.tls_cert_pem.empty()) {
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({options.tls_key_pem, options.tls_cert_pem});
    creds = grpc::SslServerCredentials(ssl);
  } else {
    creds = grpc::experimental::LocalServerCredentials(LOCAL_TCP);
  }
  creds->SetAuthMetadataProcessor(make_token_processor(options.token));
  return creds;
}

} // namespace

Result<std::unique_ptr<Server>> Server::start(ServerOptions options) {
  if (options.tls_cert_pem.empty() != options.tls_key_pem.empty())
    return fail(ErrorCode::invalid_argument, "--tls-cert and --tls-key go together");
  if (!options.tls_cert_pem.empty() && options.listen.kind != ListenAddress::Kind::tcp)
    return fail(ErrorCode::invalid_argument, "--tls-cert: TLS is for tcp listeners");
  auto creds = AK_TRY(credentials(options));
  bool unix_socket = options.listen.kind == ListenAddress::Kind::unix_socket;
  UniqueFd listener;
  if (unix_socket) {
    AK_TRY_VOID(prepare_socket_dir(options.listen.path));
    auto bound = listen_unix(options.listen.path, 128);
    if (!bound) return fail(std::move(bound.error()).context("--listen unix:" + options.listen.path.string()));
    listener = std::move(*bound);
  }

  std::unique_ptr<Server> server(new Server());
  server->m_address = options.listen;
  options.service.unix_socket = options.listen.kind == ListenAddress::Kind::unix_socket;
  server->m_service = std::make_unique<ExecutorService>(options.service);
  if (options.plugin) {
    // Each environment gets an executor socket of its own, never the daemon's: a call on it is
    // confined to the environment (env_executor.hh). Over TCP there is no socket to bind in.
    if (unix_socket) {
      auto limit = static_cast<int>(options.service.max_message_bytes);
      options.plugin->context.serve_executor = [service = server->m_service.get(), limit](
                                                   const std::filesystem::path& socket,
                                                   const std::filesystem::path& dir) -> Result<std::shared_ptr<void>> {
        return EnvExecutor::start(socket, ClientScope{dir}, *service, limit);
      };
    }
    auto environments = plugin::Environments::open(std::move(*options.plugin));
    if (environments) server->m_plugin = std::make_unique<PluginService>(std::move(*environments));
    else if (options.plugin_required) return fail(environments.error());
    else log_warning("plugin: {}; forgejo-runner's backend plugin is not served", environments.error().message);
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  // A unix socket is accepted here, not by gRPC, so each client's uid is checked first.
  if (!unix_socket) builder.AddListeningPort(options.listen.grpc_target(), creds, &port);
  auto limit = static_cast<int>(options.service.max_message_bytes);
  builder.SetMaxReceiveMessageSize(limit);
  builder.SetMaxSendMessageSize(limit);
  // forgejo-runner pings its plugin every 30 s, calls or not; gRPC's default answer to pings
  // more often than every 5 min without data is a GOAWAY that drops the runner's connection.
  // Pings cost nothing worth refusing a local client for.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.RegisterService(server->m_service.get());
  if (server->m_plugin) builder.RegisterService(server->m_plugin.get());
  server->m_reapi = AK_TRY(ReapiServices::open(options.service.cache_dir));
  for (auto* service : server->m_reapi->services()) builder.RegisterService(service);

  server->m_server = builder.BuildAndStart();
  if (!server->m_server)
    return fail(ErrorCode::unavailable, "--listen " + options.listen.to_string() + ": cannot listen there");
  if (unix_socket) {
    server->m_listener = std::move(listener);
    server->m_acceptor = std::thread([s = server.get()] { s->accept_loop(); });
  } else {
    server->m_address.port = port;
  }
  server->m_server->GetHealthCheckService()->SetServingStatus(true);
  return server;
}

void Server::accept_loop() { accept_clients(m_listener.get(), *m_server, m_address.to_string()); }

Server::~Server() {
  if (!m_drained) drain(std::chrono::milliseconds(0));
}

void Server::drain(std::chrono::milliseconds grace) {
  m_drained = true;
  if (m_acceptor.joinable()) {
    ::shutdown(m_listener.get(), SHUT_RDWR);  // wakes accept()
    m_acceptor.join();
    m_listener.reset();
  }
  m_service->stop_accepting();
  if (m_plugin) m_plugin->stop_accepting();
  m_server->GetHealthCheckService()->SetServingStatus(false);
  // Calls still running at the deadline are cancelled; their executions lose their last
  // client and are cancelled too. Shutdown returns when every call has ended.
  m_server->Shutdown(std::chrono::system_clock::now() + grace);
  m_service->cancel_all();
  m_service->wait_idle(std::chrono::hours(1));
  m_server->Wait();
  // Every job environment goes with the daemon, what runs in it killed.
  m_plugin.reset();
  if (m_address.kind == ListenAddress::Kind::unix_socket) {
    std::error_code ec;
    std::filesystem::remove(m_address.path, ec);
  }
}

} // namespace akbuild::service
