#pragma once
// The client side of the executor: find the daemon (AKBUILD_EXECUTOR, else the default socket),
// and run or plan steps through it with the same events and results as the in-process engine.
// The calls take the generated StubInterface, so tests can hand them a fake.
//
// Commands take an engine from engine_factory.hh, which wraps these calls in an engine::Engine.
//
// Usage:
//   auto target = AK_TRY(executor_target_from_env());
//   if (target && AK_TRY(daemon_reachable(*target))) {
//     auto stub = akbuild::v1::Executor::NewStub(connect(*target));
//     auto results = AK_TRY(execute_via_daemon(*stub, request, sink));
//   }

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include <grpcpp/channel.h>

#include "akbuild/v1/executor.grpc.pb.h"
#include "nixdrv/watched_nar_hashes.hh"
#include "runner/engine/engine.hh"
#include "runner/service/listen_address.hh"

namespace akbuild::service {

struct ExecutorTarget {
  ListenAddress address;
  std::string token;          // AKBUILD_EXECUTOR_TOKEN_FILE (tcp)
  std::string tls_ca_pem;     // AKBUILD_EXECUTOR_CA: TLS with this root (tcp)
};

// The daemon to use: AKBUILD_EXECUTOR (`unix:PATH`, `tcp:HOST:PORT`), else the default socket;
// nullopt when AKBUILD_EXECUTOR=none. A malformed value is an invalid_argument error.
Result<std::optional<ExecutorTarget>> executor_target_from_env();

// A channel to the daemon (credentials and bearer token by the target's kind).
std::shared_ptr<grpc::Channel> connect(const ExecutorTarget& target);

// A channel to the daemon once it answers within `timeout` (a missing socket is not waited for).
// unavailable when nothing answers; permission_denied when the socket is not to be trusted
// (socket_trust.hh), so steps run in-process rather than at another user's daemon.
Result<std::shared_ptr<grpc::Channel>> reachable_channel(const ExecutorTarget& target,
                                                         std::chrono::milliseconds timeout);

// Whether a daemon answers at the target within `timeout` (a missing socket answers at once).
Result<bool> daemon_reachable(const ExecutorTarget& target,
                              std::chrono::milliseconds timeout = std::chrono::milliseconds(500));

struct DaemonRequest {
  std::filesystem::path workspace;
  std::vector<engine::StepRequest> steps;
  unsigned jobs = 0;
  exec::SandboxMode sandbox = exec::SandboxMode::automatic;
  bool explain = false;
};

// Runs the steps through the daemon: its events go to `events` as the engine's would, and the
// step results come back. A cancel request cancels the call (and so the daemon's execution).
Result<std::vector<engine::StepResult>> execute_via_daemon(akbuild::v1::Executor::StubInterface& stub,
                                                           const DaemonRequest& request, engine::EventSink& events,
                                                           const exec::CancelToken* cancel = nullptr);

// `akbuild nix hash-path`'s choice: the NAR hash of `path` (absolute) from the daemon, which
// keeps watching the trees it hashed; nullopt when there is none (AKBUILD_EXECUTOR=none, nothing
// listening, a TCP address), it predates HashPath, or it sees another file at the path or may not
// read it, so the caller hashes in-process.
std::optional<Result<nixdrv::WatchedNarHashes::Answer>> try_hash_path_via_daemon(const std::filesystem::path& path);

// Plans the steps through the daemon.
Result<std::vector<engine::PlannedStep>> plan_via_daemon(akbuild::v1::Executor::StubInterface& stub,
                                                         const DaemonRequest& request);

} // namespace akbuild::service
