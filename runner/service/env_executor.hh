#pragma once
// The Executor as one job environment reaches it: a unix socket of the environment's own, which
// its sandbox shows at /run/akbuild/executor.sock in place of the daemon's socket. A gRPC server
// of its own serves it, holding the Executor alone (no BackendPlugin, no REAPI, so a job can
// neither drive other environments nor write the daemon's caches), each call confined to the
// environment's directory (client_scope.hh) and run by the daemon's one ExecutorService, so jobs
// still share its engines and cache.
//
// Usage:
//   auto endpoint = AK_TRY(EnvExecutor::start(dir.string() + ".sock", {dir}, service, limit));
//   ... the job runs ...
//   endpoint.reset();  // calls cancelled, socket removed

#include <filesystem>
#include <memory>
#include <thread>

#include <grpcpp/server.h>

#include "runner/core/fs.hh"
#include "runner/service/client_scope.hh"
#include "runner/service/executor_service.hh"

namespace akbuild::service {

class EnvExecutor {
public:
  // Listens at `socket` (mode 0600; a file already there is replaced) and serves `service`'s
  // Executor calls confined to `scope`, until destroyed; `service` must outlive it.
  static Result<std::unique_ptr<EnvExecutor>> start(std::filesystem::path socket, ClientScope scope,
                                                    ExecutorService& service, int max_message_bytes);
  // Stops accepting, cancels the calls in progress, waits for them and removes the socket.
  ~EnvExecutor();
  EnvExecutor(const EnvExecutor&) = delete;
  EnvExecutor& operator=(const EnvExecutor&) = delete;

private:
  EnvExecutor() = default;

  std::filesystem::path m_socket;
  UniqueFd m_listener;
  std::unique_ptr<grpc::Service> m_service;  // the scoped adapter onto the ExecutorService
  std::unique_ptr<grpc::Server> m_server;
  std::thread m_acceptor;
  ExecutorService* m_executor = nullptr;  // whose engines for this environment go with it
  std::filesystem::path m_dir;
};

} // namespace akbuild::service
