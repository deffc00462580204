#pragma once
// The akbuild.v1.Executor service: thin adapters from the protos to the engine. One engine per
// (workspace, sandbox mode, explain, jobs), shared by every client, over one cache dir. Long
// work (Plan, Execute) runs on its own thread so gRPC's callback threads never block.
// Each call comes from the daemon's socket (no scope: any path its user may use) or from a job
// environment's own socket (a ClientScope: paths beneath the environment only, steps sandboxed,
// its own executions only; see env_executor.hh).

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "akbuild/v1/executor.grpc.pb.h"
#include "nixdrv/watched_nar_hashes.hh"
#include "runner/core/tree_watcher.hh"
#include "runner/engine/engine.hh"
#include "runner/service/client_scope.hh"
#include "runner/service/execution.hh"

namespace akbuild::service {

struct ServiceOptions {
  std::filesystem::path cache_dir;
  unsigned jobs = 0;                     // default for requests that give 0
  std::string version;
  uint64_t max_message_bytes = 16u << 20;
  std::string path_env;                  // PATH the tools are looked up on (capabilities)
  bool unix_socket = true;               // served on a unix socket (HashPath is answered only then)
  std::string remote_cache{}, remote_token{};  // the remote cache the engines use (EngineOptions)
  bool remote_read_only = false;
};

class ExecutorService final : public akbuild::v1::Executor::CallbackService {
public:
  explicit ExecutorService(ServiceOptions options);
  ~ExecutorService() override;

  // Refuses new Plan and Execute calls from now on (UNAVAILABLE).
  void stop_accepting();
  // Waits until no work runs, at most `timeout`; returns whether it is idle.
  bool wait_idle(std::chrono::milliseconds timeout);
  // Cancels every running execution.
  void cancel_all();

  grpc::ServerUnaryReactor* GetCapabilities(grpc::CallbackServerContext* ctx,
                                            const akbuild::v1::GetCapabilitiesRequest* request,
                                            akbuild::v1::Capabilities* response) override;
  grpc::ServerUnaryReactor* Plan(grpc::CallbackServerContext* ctx, const akbuild::v1::PlanRequest* request,
                                 akbuild::v1::PlanResponse* response) override;
  grpc::ServerWriteReactor<akbuild::v1::ExecuteEvent>* Execute(grpc::CallbackServerContext* ctx,
                                                               const akbuild::v1::ExecuteRequest* request) override;
  grpc::ServerUnaryReactor* Cancel(grpc::CallbackServerContext* ctx, const akbuild::v1::CancelRequest* request,
                                   akbuild::v1::CancelResponse* response) override;
  grpc::ServerUnaryReactor* HashPath(grpc::CallbackServerContext* ctx, const akbuild::v1::HashPathRequest* request,
                                     akbuild::v1::HashPathResponse* response) override;

  // The calls above for a client confined to `scope` (null: unconfined, as above).
  grpc::ServerUnaryReactor* plan(grpc::CallbackServerContext* ctx, const akbuild::v1::PlanRequest* request,
                                 akbuild::v1::PlanResponse* response, const ClientScope* scope);
  grpc::ServerWriteReactor<akbuild::v1::ExecuteEvent>* execute(const akbuild::v1::ExecuteRequest* request,
                                                               const ClientScope* scope);
  grpc::ServerUnaryReactor* cancel(grpc::CallbackServerContext* ctx, const akbuild::v1::CancelRequest* request,
                                   const ClientScope* scope);
  grpc::ServerUnaryReactor* hash_path(grpc::CallbackServerContext* ctx, const akbuild::v1::HashPathRequest* request,
                                      akbuild::v1::HashPathResponse* response, const ClientScope* scope);
  // Drops the engines of workspaces beneath `dir` (a job environment that is going), and the
  // directories they hold open.
  void forget_engines_within(const std::filesystem::path& dir);

private:
  // The engine for a workspace and options. For a job environment's client (`scope`), the engine
  // is confined (EngineOptions::confined) and its workspace is the directory checked beneath the
  // scope, held open: its path is /proc/self/fd/N, which `shown` is told to read as `workspace`.
  Result<std::shared_ptr<engine::Engine>> engine_for(const std::string& workspace,
                                                     const akbuild::v1::ExecuteOptions& options,
                                                     const ClientScope* scope, std::string* pinned_path = nullptr);
  // The in-flight execution for this request (joined = true), or a new one started.
  // `pinned`: the engine's name for the request's workspace, when it differs (engine_for).
  std::pair<std::shared_ptr<Execution>, bool> start_or_join(const akbuild::v1::ExecuteRequest& request,
                                                            std::shared_ptr<engine::Engine> engine,
                                                            const std::string& pinned);
  // Runs `work` on a thread counted by wait_idle().
  void spawn(std::function<void()> work);
  // A unary call answered by `work` on such a thread, or at once with UNAVAILABLE when draining.
  grpc::ServerUnaryReactor* unary_on_thread(grpc::CallbackServerContext* ctx, std::function<grpc::Status()> work);

  ServiceOptions m_options;
  std::mutex m_mutex;
  std::condition_variable m_idle;
  unsigned m_active = 0;
  bool m_accepting = true;
  uint64_t m_next_id = 1;
  // Outputs found in place, for every engine below (declared first: it outlives them); null
  // without inotify.
  std::unique_ptr<TreeWatcher> m_output_watcher;
  std::map<std::string, std::shared_ptr<engine::Engine>> m_engines;
  std::map<std::string, std::shared_ptr<Execution>> m_executions;  // running, by id
  std::map<std::string, std::string> m_workspaces;                 // their workspaces, by id (Cancel's scope)
  std::map<std::string, std::string> m_by_fingerprint;             // joinable, fingerprint → id
  nixdrv::WatchedNarHashes m_hashes;                               // HashPath's trees
};

} // namespace akbuild::service
