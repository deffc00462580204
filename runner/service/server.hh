#pragma once
// `akbuild serve`: the Executor service, forgejo-runner's BackendPlugin (when asked for), gRPC
// health and reflection on one listener.
//   unix:PATH   socket mode 0600 in a 0700 dir owned by this user; no token: the file mode,
//               and each client's uid (SO_PEERCRED, this user's only), are the access control
//   tcp:H:P     a bearer token is required; TLS with a cert and key, else loopback peers only
//               (gRPC local credentials), so a token never crosses a network in clear text
//
// Usage:
//   auto server = AK_TRY(Server::start(options));
//   ... wait for SIGTERM ...
//   server->drain(std::chrono::seconds(30));  // stop accepting, finish or cancel, return

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <grpcpp/server.h>

#include "runner/core/fs.hh"
#include "runner/service/executor_service.hh"
#include "runner/service/listen_address.hh"
#include "runner/service/plugin_service.hh"
#include "runner/service/reapi_service.hh"

namespace akbuild::service {

struct ServerOptions {
  ListenAddress listen;
  std::string token;            // required for tcp
  std::string tls_cert_pem;     // both or neither
  std::string tls_key_pem;
  ServiceOptions service;
  // Job environments for forgejo-runner (plugin.v1alpha.BackendPlugin); on a unix socket, each
  // environment's own executor socket (env_executor.hh) is filled in here. None: the plugin is
  // not served.
  std::optional<plugin::EnvironmentsOptions> plugin;
  // Whether a plugin that cannot start (its state dir unusable) stops the daemon; else a warning.
  bool plugin_required = false;
};

class Server {
public:
  static Result<std::unique_ptr<Server>> start(ServerOptions options);
  ~Server();

  // The address clients reach (the chosen port for tcp:HOST:0).
  const ListenAddress& address() const { return m_address; }
  // Stops accepting calls; running executions may finish within `grace`, then are cancelled.
  // Returns once every call and execution has ended.
  void drain(std::chrono::milliseconds grace);

private:
  Server() = default;
  // Accepts unix-socket clients of this uid and hands them to gRPC, until the listener shuts down.
  void accept_loop();

  ListenAddress m_address;
  UniqueFd m_listener;          // unix: the listening socket
  std::thread m_acceptor;
  std::unique_ptr<ExecutorService> m_service;
  std::unique_ptr<PluginService> m_plugin;
  std::unique_ptr<ReapiServices> m_reapi;       // the REAPI cache over the same cache dir
  std::unique_ptr<grpc::Server> m_server;
  bool m_drained = false;
};

} // namespace akbuild::service
