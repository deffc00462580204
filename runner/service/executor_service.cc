#include "runner/service/executor_service.hh"

#include <algorithm>
#include <deque>
#include <exception>
#include <optional>
#include <thread>

#include <sys/stat.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/time_util.h>

#include "runner/cas/cache_layout.hh"
#include "runner/core/beneath.hh"
#include "runner/core/fs.hh"
#include "runner/core/log.hh"
#include "runner/service/capabilities.hh"
#include "runner/service/convert.hh"
#include "runner/service/status.hh"

namespace akbuild::service {

namespace v1 = ::akbuild::v1;

namespace {

// Queued events a client may fall behind by before its log lines are dropped (see deliver()).
constexpr std::size_t k_max_queued_bytes = 8u << 20;

// One Execute stream. Events queue here and go out one write at a time (the callback API allows
// one write in flight); the stream ends with the execution's status, or CANCELLED when the client
// went away. Deletes itself in OnDone.
class ExecuteReactor final : public grpc::ServerWriteReactor<v1::ExecuteEvent>, public ExecutionWatcher {
public:
  void begin(std::shared_ptr<Execution> execution, bool joined) {
    m_execution = execution;
    v1::ExecuteEvent accepted;
    accepted.set_execution_id(execution->id());
    *accepted.mutable_time() = google::protobuf::util::TimeUtil::GetCurrentTime();
    accepted.mutable_accepted()->set_joined(joined);
    deliver(accepted);
    execution->attach(this);
  }

  // Flow control for a client that reads slower than the steps log: once k_max_queued_bytes are
  // queued, log lines are dropped, and counted, until the queue has drained to half; then one
  // line says how many were lost. State changes and the result are always queued (a few per
  // step), so the outcome is never lost. Dropping rather than blocking the engine: one slow
  // client must not stall the build, nor the other clients watching the same execution; the
  // whole log is in the cache (the result's stdout and stderr digests).
  void deliver(const v1::ExecuteEvent& event) override {
    std::unique_lock lock(m_mutex);
    if (m_closed || m_final) return;
    if (event.has_log()) {
      std::size_t limit = m_dropped ? k_max_queued_bytes / 2 : k_max_queued_bytes;
      if (m_queued_bytes >= limit) {
        if (m_dropped++ == 0) m_dropped_step = event.log().step_id();
        return;
      }
    }
    if (m_dropped) {
      v1::ExecuteEvent notice;
      notice.set_execution_id(event.execution_id());
      *notice.mutable_time() = event.time();
      auto* line = notice.mutable_log();
      line->set_step_id(m_dropped_step);
      line->set_stream(v1::LOG_STREAM_AKBUILD);
      line->set_text("akbuild: " + std::to_string(m_dropped) +
                     " log lines not sent: this client read too slowly (the whole log is in the cache)");
      push(std::move(notice));
      m_dropped = 0;
    }
    push(event);
    pump(lock);
  }

  void complete(const grpc::Status& status) override {
    std::unique_lock lock(m_mutex);
    if (!m_final) m_final = status;
    pump(lock);
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock lock(m_mutex);
    m_writing = false;
    if (!ok) m_closed = true;
    pump(lock);
  }

  void OnCancel() override {
    if (m_execution) m_execution->detach(this);
    std::unique_lock lock(m_mutex);
    m_closed = true;
    pump(lock);
  }

  void OnDone() override {
    if (m_execution) m_execution->detach(this);
    delete this;
  }

private:
  // Starts the next write or the Finish; the gRPC call happens outside the lock (its reactions
  // take the lock again), and the flags guarantee one operation at a time.
  void pump(std::unique_lock<std::mutex>& lock) {
    if (m_writing || m_finished) return;
    if (m_closed) {
      m_finished = true;
      lock.unlock();
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    if (!m_queue.empty()) {
      m_current = std::move(m_queue.front());
      m_queue.pop_front();
      m_queued_bytes -= std::min(m_queued_bytes, m_current.ByteSizeLong());
      m_writing = true;
      lock.unlock();
      StartWrite(&m_current);
      return;
    }
    if (m_final) {
      m_finished = true;
      grpc::Status status = *m_final;
      lock.unlock();
      Finish(status);
    }
  }

  void push(v1::ExecuteEvent event) {
    m_queued_bytes += event.ByteSizeLong();
    m_queue.push_back(std::move(event));
  }

  std::shared_ptr<Execution> m_execution;
  std::mutex m_mutex;
  std::deque<v1::ExecuteEvent> m_queue;
  std::size_t m_queued_bytes = 0;
  std::size_t m_dropped = 0;           // log lines dropped since the queue was last short enough
  std::string m_dropped_step;          // the step of the first of them
  v1::ExecuteEvent m_current;
  std::optional<grpc::Status> m_final;
  bool m_writing = false, m_closed = false, m_finished = false;
};

// The request's bytes in a stable order (maps sorted): equal requests, equal fingerprints.
std::string fingerprint(const v1::ExecuteRequest& request) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    request.SerializeToCodedStream(&coded);
  }
  return bytes;
}

Result<> check_request(const std::string& workspace, int steps, const v1::ExecuteOptions& options) {
  // An unknown mode must not quietly become `automatic` (which may run without a sandbox).
  if (!v1::SandboxMode_IsValid(options.sandbox()))
    return fail(ErrorCode::invalid_argument,
                "options.sandbox: " + std::to_string(options.sandbox()) + " is not a SandboxMode");
  if (workspace.empty()) return fail(ErrorCode::invalid_argument, "workspace: missing");
  std::filesystem::path path(workspace);
  if (!path.is_absolute())
    return fail(ErrorCode::invalid_argument, "workspace: " + workspace + ": not an absolute path");
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec))
    return fail(ErrorCode::invalid_argument, "workspace: " + workspace + ": not a directory");
  if (steps == 0) return fail(ErrorCode::invalid_argument, "steps: none given");
  return ok();
}

// The options a client's request runs with: as sent, or for a job environment's client with its
// workspace beneath its environment and every step in the sandbox (a plain process would run as
// the daemon's user, often root, on the host; `automatic` may fall back to one).
Result<v1::ExecuteOptions> confine(const std::string& workspace, const v1::ExecuteOptions& options,
                                   const ClientScope* scope) {
  if (!scope) return options;
  AK_TRY_VOID(check_within(*scope, "workspace", workspace, true));
  if (options.sandbox() == v1::SANDBOX_MODE_OFF)
    return fail(ErrorCode::permission_denied,
                "options.sandbox: off is refused to a job environment's client; its steps run in the sandbox");
  v1::ExecuteOptions confined = options;
  confined.set_sandbox(v1::SANDBOX_MODE_REQUIRE);
  return confined;
}

// A client's secrets join the daemon's registry: masked in every log line and error it sends
// from now on, and keyed by HMAC in manifests (runner/engine/secret_lines.hh).
void register_secrets(const v1::ExecuteOptions& options) {
  for (const auto& secret : options.secrets()) add_secret(secret);
}

const grpc::Status k_draining(grpc::StatusCode::UNAVAILABLE, "executor is shutting down");

} // namespace

ExecutorService::ExecutorService(ServiceOptions options)
    : m_options(std::move(options)), m_hashes(cas::CacheLayout{m_options.cache_dir}.nar_hashes()) {
  if (auto watcher = TreeWatcher::open()) m_output_watcher = std::move(*watcher);
}

ExecutorService::~ExecutorService() {
  cancel_all();
  wait_idle(std::chrono::hours(1));
}

void ExecutorService::stop_accepting() {
  std::lock_guard lock(m_mutex);
  m_accepting = false;
}

bool ExecutorService::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(m_mutex);
  return m_idle.wait_for(lock, timeout, [this] { return m_active == 0; });
}

void ExecutorService::cancel_all() {
  std::lock_guard lock(m_mutex);
  for (auto& [id, execution] : m_executions) execution->cancel_token().request();
}

void ExecutorService::spawn(std::function<void()> work) {
  {
    std::lock_guard lock(m_mutex);
    ++m_active;
  }
  std::thread([this, work = std::move(work)] {
    try {
      work();
    } catch (const std::exception& e) {
      log_warning("executor: unexpected exception: {}", e.what());
    }
    std::lock_guard lock(m_mutex);
    if (--m_active == 0) m_idle.notify_all();
  }).detach();
}

Result<std::shared_ptr<engine::Engine>> ExecutorService::engine_for(const std::string& workspace,
                                                                    const v1::ExecuteOptions& options,
                                                                    const ClientScope* scope, std::string* pinned_path) {
  unsigned jobs = options.jobs() ? options.jobs() : m_options.jobs;
  std::string key = workspace + '\0' + std::to_string(options.sandbox()) + '\0' +
                    std::to_string(options.explain()) + '\0' + std::to_string(jobs);
  engine::EngineOptions engine_options{.workspace = workspace,
                                       .cache_dir = m_options.cache_dir,
                                       .jobs = jobs,
                                       .sandbox = to_sandbox_mode(options.sandbox()),
                                       .explain = options.explain(),
                                       .remote_cache = m_options.remote_cache,
                                       .remote_token = m_options.remote_token,
                                       .remote_read_only = m_options.remote_read_only,
                                       .kinds = {},
                                       .watcher = m_output_watcher.get(),
                                       .confined = scope != nullptr,
                                       .pinned_workspace = {}};
  if (scope) {
    // The workspace as checked, held open for the engine's life: a job that swaps a directory
    // above it for a symlink afterwards cannot point the engine's reads and writes elsewhere.
    auto dir = AK_TRY(open_within(*scope, "workspace", workspace));
    struct stat st {};
    if (::fstat(dir.get(), &st) != 0) return fail(errno_error("workspace " + workspace));
    key += '\0' + fmt::format("confined {}:{}", st.st_dev, st.st_ino);
    // "/." so that the path's last component is the directory itself, not the magic link (code
    // that opens a tree's root without following a symlink opens it).
    engine_options.workspace = fd_path(dir.get()) / ".";
    engine_options.pinned_workspace = std::make_shared<UniqueFd>(std::move(dir));
    // The watcher remembers outputs by path, and /proc/self/fd/N names another directory once N
    // is reused.
    engine_options.watcher = nullptr;
  }
  std::lock_guard lock(m_mutex);
  auto it = m_engines.find(key);
  if (it == m_engines.end()) {
    auto engine = AK_TRY(engine::Engine::open(std::move(engine_options)));
    it = m_engines.emplace(key, std::shared_ptr<engine::Engine>(std::move(engine))).first;
  }
  if (pinned_path && scope) *pinned_path = it->second->options().workspace.parent_path().string();
  return it->second;
}

void ExecutorService::forget_engines_within(const std::filesystem::path& dir) {
  std::lock_guard lock(m_mutex);
  ClientScope scope{dir};
  std::erase_if(m_engines, [&](const auto& entry) {
    return lexically_within(scope, std::filesystem::path(entry.first.substr(0, entry.first.find('\0'))));
  });
}

std::pair<std::shared_ptr<Execution>, bool> ExecutorService::start_or_join(const v1::ExecuteRequest& request,
                                                                           std::shared_ptr<engine::Engine> engine,
                                                                           const std::string& pinned) {
  std::string print = fingerprint(request);
  std::shared_ptr<Execution> execution;
  {
    std::lock_guard lock(m_mutex);
    if (auto it = m_by_fingerprint.find(print); it != m_by_fingerprint.end()) {
      auto running = m_executions.find(it->second);
      if (running != m_executions.end() && running->second->joinable()) return {running->second, true};
    }
    execution = std::make_shared<Execution>("ex-" + std::to_string(m_next_id++), print);
    if (!pinned.empty()) execution->show_path_as(pinned, request.workspace());
    m_executions.emplace(execution->id(), execution);
    m_workspaces.emplace(execution->id(), request.workspace());
    m_by_fingerprint[print] = execution->id();
  }
  spawn([this, execution, engine, steps = to_requests(request.steps())] {
    Result<std::vector<engine::StepResult>> result =
        fail(ErrorCode::internal, "execution " + execution->id() + ": engine threw");
    try {
      result = engine->run(steps, *execution, &execution->cancel_token());
    } catch (const std::exception& e) {
      result = fail(ErrorCode::internal, "execution " + execution->id() + ": " + e.what());
    }
    execution->finish(result);
    std::lock_guard lock(m_mutex);
    m_executions.erase(execution->id());
    m_workspaces.erase(execution->id());
    if (auto it = m_by_fingerprint.find(execution->fingerprint());
        it != m_by_fingerprint.end() && it->second == execution->id())
      m_by_fingerprint.erase(it);
  });
  return {execution, false};
}

grpc::ServerUnaryReactor* ExecutorService::GetCapabilities(grpc::CallbackServerContext* ctx,
                                                           const v1::GetCapabilitiesRequest*,
                                                           v1::Capabilities* response) {
  auto* reactor = ctx->DefaultReactor();
  *response = capabilities(m_options.version, m_options.path_env, m_options.max_message_bytes);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* ExecutorService::unary_on_thread(grpc::CallbackServerContext* ctx,
                                                           std::function<grpc::Status()> work) {
  auto* reactor = ctx->DefaultReactor();
  {
    std::lock_guard lock(m_mutex);
    if (!m_accepting) {
      reactor->Finish(k_draining);
      return reactor;
    }
  }
  spawn([reactor, work = std::move(work)] {
    try {
      reactor->Finish(work());
    } catch (const std::exception& e) {
      log_warning("executor: unexpected exception: {}", e.what());
      reactor->Finish(grpc::Status(grpc::StatusCode::INTERNAL, "executor: unexpected exception"));
    }
  });
  return reactor;
}

grpc::ServerUnaryReactor* ExecutorService::Plan(grpc::CallbackServerContext* ctx, const v1::PlanRequest* request,
                                                v1::PlanResponse* response) {
  return plan(ctx, request, response, nullptr);
}

grpc::ServerUnaryReactor* ExecutorService::plan(grpc::CallbackServerContext* ctx, const v1::PlanRequest* request,
                                                v1::PlanResponse* response, const ClientScope* scope) {
  return unary_on_thread(ctx, [this, request, response, scope] {
    std::string pinned;  // the engine's name for the workspace, when it differs
    auto planned = [&]() -> Result<std::vector<engine::PlannedStep>> {
      auto options = AK_TRY(confine(request->workspace(), request->options(), scope));
      AK_TRY_VOID(check_request(request->workspace(), request->steps_size(), options));
      register_secrets(options);
      auto engine = AK_TRY(engine_for(request->workspace(), options, scope, &pinned));
      return engine->plan(to_requests(request->steps()));
    }();
    if (!planned)
      return to_grpc_status(
          Error{planned.error().code, shown_workspace(mask_secrets(planned.error().message), pinned, request->workspace())});
    for (const auto& step : *planned) to_proto(step, response->add_steps());
    return grpc::Status::OK;
  });
}

grpc::ServerWriteReactor<v1::ExecuteEvent>* ExecutorService::Execute(grpc::CallbackServerContext*,
                                                                     const v1::ExecuteRequest* request) {
  return execute(request, nullptr);
}

grpc::ServerWriteReactor<v1::ExecuteEvent>* ExecutorService::execute(const v1::ExecuteRequest* sent,
                                                                     const ClientScope* scope) {
  auto* reactor = new ExecuteReactor();
  {
    std::lock_guard lock(m_mutex);
    if (!m_accepting) {
      reactor->complete(k_draining);
      return reactor;
    }
  }
  // A confined client's request as it runs (its options confined); its fingerprint too.
  v1::ExecuteRequest confined;
  const v1::ExecuteRequest* request = sent;
  std::string pinned;
  auto engine = [&]() -> Result<std::shared_ptr<engine::Engine>> {
    if (scope) {
      confined = *sent;
      *confined.mutable_options() = AK_TRY(confine(sent->workspace(), sent->options(), scope));
      request = &confined;
    }
    AK_TRY_VOID(check_request(request->workspace(), request->steps_size(), request->options()));
    register_secrets(request->options());
    return engine_for(request->workspace(), request->options(), scope, &pinned);
  }();
  if (!engine) {
    reactor->complete(to_grpc_status(engine.error()));
    return reactor;
  }
  auto [execution, joined] = start_or_join(*request, std::move(*engine), pinned);
  reactor->begin(std::move(execution), joined);
  return reactor;
}

grpc::ServerUnaryReactor* ExecutorService::Cancel(grpc::CallbackServerContext* ctx, const v1::CancelRequest* request,
                                                  v1::CancelResponse*) {
  return cancel(ctx, request, nullptr);
}

grpc::ServerUnaryReactor* ExecutorService::cancel(grpc::CallbackServerContext* ctx, const v1::CancelRequest* request,
                                                  const ClientScope* scope) {
  auto* reactor = ctx->DefaultReactor();
  std::shared_ptr<Execution> execution;
  {
    std::lock_guard lock(m_mutex);
    // A job environment's client cancels only what runs in its own environment; another's
    // execution is as unknown to it as one that never was.
    auto workspace = m_workspaces.find(request->execution_id());
    bool own = !scope || (workspace != m_workspaces.end() && lexically_within(*scope, workspace->second));
    if (auto it = m_executions.find(request->execution_id()); it != m_executions.end() && own) execution = it->second;
  }
  if (!execution) {
    reactor->Finish(to_grpc_status(Error{ErrorCode::not_found, "execution " + request->execution_id() + ": not running"}));
    return reactor;
  }
  log_info("execution {}: cancel requested", execution->id());
  execution->cancel_token().request();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* ExecutorService::HashPath(grpc::CallbackServerContext* ctx,
                                                    const v1::HashPathRequest* request,
                                                    v1::HashPathResponse* response) {
  return hash_path(ctx, request, response, nullptr);
}

grpc::ServerUnaryReactor* ExecutorService::hash_path(grpc::CallbackServerContext* ctx,
                                                     const v1::HashPathRequest* request,
                                                     v1::HashPathResponse* response, const ClientScope* scope) {
  // Even a hit may wait for the watcher's lock, which a tree being armed holds for its walk.
  return unary_on_thread(ctx, [this, request, response, scope] {
    auto answer = [&]() -> Result<nixdrv::WatchedNarHashes::Answer> {
      // Over TCP the client may be anyone holding the token, on any host: it must not learn
      // what this daemon's user can read.
      if (!m_options.unix_socket)
        return fail(ErrorCode::permission_denied, "HashPath is answered on the unix socket only");
      const std::string& path = request->path();
      if (path.empty()) return fail(ErrorCode::invalid_argument, "path: missing");
      if (!std::filesystem::path(path).is_absolute())
        return fail(ErrorCode::invalid_argument, "path: " + path + ": not an absolute path");
      if (scope) AK_TRY_VOID(check_within(*scope, "path", path, false));
      if (request->dev() || request->ino()) {
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0 || st.st_dev != request->dev() || st.st_ino != request->ino())
          return fail(ErrorCode::failed_precondition, "path: " + path + ": not the file the client sees there");
      }
      if (request->mount_namespace() && request->mount_namespace() != mount_namespace())
        return fail(ErrorCode::failed_precondition, "path: " + path + ": the client is in another mount namespace");
      return m_hashes.nar_hash(path);
    }();
    if (!answer) return to_grpc_status(answer.error());
    to_proto(*answer, response);
    return grpc::Status::OK;
  });
}

} // namespace akbuild::service
