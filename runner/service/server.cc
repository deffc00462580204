#include "runner/service/server.hh"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "runner/core/fs.hh"
#include "runner/core/log.hh"
#include "runner/service/auth.hh"

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

// The socket's directory: created 0700 when missing; refused when others may write to it.
Result<> prepare_socket_dir(const std::filesystem::path& socket) {
  auto dir = socket.parent_path();
  if (socket.native().size() >= sizeof(sockaddr_un::sun_path))
    return fail(ErrorCode::invalid_argument, socket.string() + ": socket path too long");
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    AK_TRY_VOID(make_dirs(dir));
    if (::chmod(dir.c_str(), 0700) != 0) return fail(errno_error(dir.string()));
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return fail(errno_error(dir.string()));
  if ((st.st_mode & 0022) != 0 && (st.st_mode & S_ISVTX) == 0)
    return fail(ErrorCode::permission_denied, dir.string() + ": socket dir is writable by others");
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
  if (options.listen.kind == ListenAddress::Kind::unix_socket) AK_TRY_VOID(prepare_socket_dir(options.listen.path));

  std::unique_ptr<Server> server(new Server());
  server->m_address = options.listen;
  server->m_service = std::make_unique<ExecutorService>(options.service);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen.grpc_target(), creds, &port);
  auto limit = static_cast<int>(options.service.max_message_bytes);
  builder.SetMaxReceiveMessageSize(limit);
  builder.SetMaxSendMessageSize(limit);
  builder.RegisterService(server->m_service.get());

  // The socket is created inside BuildAndStart: a 077 umask means it never exists with a wider
  // mode, and the chmod below states the contract explicitly.
  mode_t old_mask = ::umask(0077);
  server->m_server = builder.BuildAndStart();
  ::umask(old_mask);
  if (!server->m_server)
    return fail(ErrorCode::unavailable, "--listen " + options.listen.to_string() + ": cannot listen there");
  if (options.listen.kind == ListenAddress::Kind::unix_socket) {
    if (::chmod(options.listen.path.c_str(), 0600) != 0) return fail(errno_error(options.listen.path.string()));
  } else {
    server->m_address.port = port;
  }
  server->m_server->GetHealthCheckService()->SetServingStatus(true);
  return server;
}

Server::~Server() {
  if (!m_drained) drain(std::chrono::milliseconds(0));
}

void Server::drain(std::chrono::milliseconds grace) {
  m_drained = true;
  m_service->stop_accepting();
  m_server->GetHealthCheckService()->SetServingStatus(false);
  // Calls still running at the deadline are cancelled; their executions lose their last
  // client and are cancelled too. Shutdown returns when every call has ended.
  m_server->Shutdown(std::chrono::system_clock::now() + grace);
  m_service->cancel_all();
  m_service->wait_idle(std::chrono::hours(1));
  m_server->Wait();
  if (m_address.kind == ListenAddress::Kind::unix_socket) {
    std::error_code ec;
    std::filesystem::remove(m_address.path, ec);
  }
}

} // namespace akbuild::service
