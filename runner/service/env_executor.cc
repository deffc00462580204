#include "runner/service/env_executor.hh"

#include <sys/socket.h>

#include <chrono>

#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/server_builder.h>

#include "runner/service/accept_loop.hh"

namespace akbuild::service {

namespace v1 = ::akbuild::v1;
namespace fs = std::filesystem;

namespace {

// The Executor's calls, each handed to the daemon's service with this environment's scope.
class ScopedExecutor final : public v1::Executor::CallbackService {
public:
  ScopedExecutor(ExecutorService& service, ClientScope scope) : m_service(service), m_scope(std::move(scope)) {}

  grpc::ServerUnaryReactor* GetCapabilities(grpc::CallbackServerContext* ctx, const v1::GetCapabilitiesRequest* request,
                                            v1::Capabilities* response) override {
    return m_service.GetCapabilities(ctx, request, response);
  }
  grpc::ServerUnaryReactor* Plan(grpc::CallbackServerContext* ctx, const v1::PlanRequest* request,
                                 v1::PlanResponse* response) override {
    return m_service.plan(ctx, request, response, &m_scope);
  }
  grpc::ServerWriteReactor<v1::ExecuteEvent>* Execute(grpc::CallbackServerContext*,
                                                      const v1::ExecuteRequest* request) override {
    return m_service.execute(request, &m_scope);
  }
  grpc::ServerUnaryReactor* Cancel(grpc::CallbackServerContext* ctx, const v1::CancelRequest* request,
                                   v1::CancelResponse*) override {
    return m_service.cancel(ctx, request, &m_scope);
  }
  grpc::ServerUnaryReactor* HashPath(grpc::CallbackServerContext* ctx, const v1::HashPathRequest* request,
                                     v1::HashPathResponse* response) override {
    return m_service.hash_path(ctx, request, response, &m_scope);
  }

private:
  ExecutorService& m_service;
  const ClientScope m_scope;
};

// Leaves out the server plugins registered for the process (reflection, a synchronous service
// that would start a thread pool of its own for every environment): a job needs the Executor only.
class NoPlugins final : public grpc::ServerBuilderOption {
public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override { plugins->clear(); }
};

} // namespace

Result<std::unique_ptr<EnvExecutor>> EnvExecutor::start(fs::path socket, ClientScope scope, ExecutorService& service,
                                                        int max_message_bytes) {
  std::unique_ptr<EnvExecutor> endpoint(new EnvExecutor());
  endpoint->m_listener = AK_TRY(listen_unix(socket, 16));
  endpoint->m_socket = std::move(socket);
  endpoint->m_executor = &service;
  endpoint->m_dir = scope.dir;
  endpoint->m_service = std::make_unique<ScopedExecutor>(service, std::move(scope));
  grpc::ServerBuilder builder;  // no port: its one socket is accepted by accept_clients
  builder.SetMaxReceiveMessageSize(max_message_bytes);
  builder.SetMaxSendMessageSize(max_message_bytes);
  builder.SetOption(std::make_unique<NoPlugins>());
  builder.RegisterService(endpoint->m_service.get());
  endpoint->m_server = builder.BuildAndStart();
  if (!endpoint->m_server)
    return fail(ErrorCode::unavailable, endpoint->m_socket.string() + ": cannot start its gRPC server");
  endpoint->m_acceptor = std::thread([e = endpoint.get()] {
    accept_clients(e->m_listener.get(), *e->m_server, e->m_socket.string());
  });
  return endpoint;
}

EnvExecutor::~EnvExecutor() {
  if (m_acceptor.joinable()) {
    ::shutdown(m_listener.get(), SHUT_RDWR);  // wakes accept()
    m_acceptor.join();
  }
  m_listener.reset();
  if (m_server) {
    // The environment is going: what its job still asks is cancelled, not waited for.
    m_server->Shutdown(std::chrono::system_clock::now());
    m_server->Wait();
  }
  std::error_code ec;
  if (!m_socket.empty()) fs::remove(m_socket, ec);
  if (m_executor) m_executor->forget_engines_within(m_dir);
}

} // namespace akbuild::service
