#pragma once
// The runner.v1 and ping.v1 calls of a Forgejo (or Gitea) instance, under `<instance>/api/actions`.
// Every call but Register and Ping carries the runner's identity (x-runner-uuid, x-runner-token).
// Calls are made once; callers retry (connect_client.hh's with_retries) where the protocol allows.

#include <string>

#include "ping/v1/messages.pb.h"
#include "runner/forgejo/connect_client.hh"
#include "runner/v1/messages.pb.h"

namespace akbuild::forgejo {

// Who the runner is to the server (from the .runner file).
struct RunnerIdentity {
  std::string uuid;
  std::string token;
};

class RunnerClient {
public:
  // `instance` is the Forgejo URL ("https://code.example"); the calls go below its /api/actions.
  RunnerClient(const std::string& instance, bool insecure, std::chrono::seconds timeout);

  void set_identity(RunnerIdentity identity) { m_identity = std::move(identity); }

  Result<ping::v1::PingResponse> ping(const ping::v1::PingRequest& request) const;
  Result<runner::v1::RegisterResponse> register_runner(const runner::v1::RegisterRequest& request) const;
  Result<runner::v1::DeclareResponse> declare(const runner::v1::DeclareRequest& request) const;
  // `request_key` (x-runner-request-key) lets a newer server answer a repeated call with the
  // same task; "" sends none.
  Result<runner::v1::FetchTaskResponse> fetch_task(const runner::v1::FetchTaskRequest& request,
                                                   const std::string& request_key) const;
  Result<runner::v1::UpdateTaskResponse> update_task(const runner::v1::UpdateTaskRequest& request) const;
  Result<runner::v1::UpdateLogResponse> update_log(const runner::v1::UpdateLogRequest& request) const;

private:
  Headers identity_headers() const;

  ConnectClient m_connect;
  RunnerIdentity m_identity;
};

// The client timeout: FORGEJO_CLIENT_TIMEOUT (seconds, or a Go duration such as "90s", "2m")
// when set and valid, else 60 s, as forgejo-runner takes it.
std::chrono::seconds client_timeout();

} // namespace akbuild::forgejo
