#include <csignal>
#include <cstdlib>
#include <iostream>

#include <pthread.h>

#include "runner/cli/commands.hh"
#include "runner/core/fs.hh"
#include "runner/core/log.hh"
#include "runner/service/auth.hh"
#include "runner/service/server.hh"
#include "steps/action_yml.hh"

namespace akbuild::cli {

namespace {

struct ServeOptions {
  std::string listen;
  std::string token_file;
  std::string tls_cert, tls_key;
  unsigned jobs = 0;
  unsigned grace_seconds = 30;
  uint64_t max_message_bytes = 16u << 20;
  std::string state_dir;
  bool no_plugin = false;
  RemoteFlags remote;
};

// $XDG_STATE_HOME/akbuild, else ~/.local/state/akbuild: the job environments of the plugin.
std::filesystem::path default_state_dir() {
  if (const char* state = std::getenv("XDG_STATE_HOME"); state && *state) return std::filesystem::path(state) / "akbuild";
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home && *home ? home : "/") / ".local" / "state" / "akbuild";
}

Result<> serve(const ServeOptions& serve, const GlobalOptions& global) {
  service::ServerOptions options;
  if (serve.listen.empty()) options.listen.path = service::default_socket_path();
  else options.listen = AK_TRY(service::ListenAddress::parse(serve.listen));
  if (!serve.token_file.empty()) {
    options.token = AK_TRY(service::read_token_file(serve.token_file));
    add_secret(options.token);
  }
  if (!serve.tls_cert.empty()) options.tls_cert_pem = AK_TRY(read_file(serve.tls_cert));
  if (!serve.tls_key.empty()) options.tls_key_pem = AK_TRY(read_file(serve.tls_key));
  const char* path = std::getenv("PATH");
  engine::EngineOptions remote;
  AK_TRY_VOID(apply_remote_flags(serve.remote, remote));
  options.service = {.cache_dir = resolve_cache_dir(global),
                     .jobs = serve.jobs,
                     .version = AKBUILD_VERSION,
                     .max_message_bytes = serve.max_message_bytes,
                     .path_env = path ? path : "/usr/bin:/bin",
                     .unix_socket = true,
                     .remote_cache = remote.remote_cache,
                     .remote_token = remote.remote_token,
                     .remote_read_only = remote.remote_read_only};
  if (!serve.no_plugin) {
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return fail(ErrorCode::internal, "/proc/self/exe: " + ec.message());
    options.plugin = plugin::EnvironmentsOptions{
        .state_dir = serve.state_dir.empty() ? default_state_dir() : std::filesystem::path(serve.state_dir),
        .context = {.akbuild_binary = self, .serve_executor = {}, .cgroup_prefix = {}}};
    options.plugin_required = !serve.state_dir.empty();
  }

  // SIGTERM and SIGINT are taken by sigwait below: block them before gRPC starts its threads,
  // which inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = AK_TRY(service::Server::start(std::move(options)));
  // One line a supervisor or a test can wait for.
  std::cout << "akbuild executor listening on " << server->address().to_string() << std::endl;
  int received = 0;
  sigwait(&signals, &received);
  log_warning("serve: {} received, draining (grace {}s)", received == SIGTERM ? "SIGTERM" : "SIGINT",
              serve.grace_seconds);
  server->drain(std::chrono::seconds(serve.grace_seconds));
  return ok();
}

} // namespace

void add_serve_command(CLI::App& app, GlobalOptions& options) {
  auto serve_options = std::make_shared<ServeOptions>();
  auto* cmd = app.add_subcommand("serve", "run the gRPC daemon (akbuild.v1.Executor, forgejo-runner's backend plugin)");
  cmd->add_option("--listen", serve_options->listen,
                  "unix:PATH or tcp:HOST:PORT (default unix:$XDG_RUNTIME_DIR/akbuild/executor.sock)");
  cmd->add_option("--token-file", serve_options->token_file, "bearer token callers must send (required for tcp)");
  cmd->add_option("--tls-cert", serve_options->tls_cert, "PEM certificate chain for TLS (tcp)");
  cmd->add_option("--tls-key", serve_options->tls_key, "PEM private key for TLS (tcp)");
  add_remote_options(cmd, serve_options->remote);
  cmd->add_option("-j,--jobs", serve_options->jobs, "parallel steps per execution (default: cores)");
  cmd->add_option("--grace", serve_options->grace_seconds, "seconds running work may finish after SIGTERM")
      ->capture_default_str();
  cmd->add_option("--max-message-bytes", serve_options->max_message_bytes, "largest request accepted")
      ->capture_default_str();
  cmd->add_option("--state-dir", serve_options->state_dir,
                  "where job environments live (default $XDG_STATE_HOME/akbuild, ~/.local/state/akbuild)");
  cmd->add_flag("--no-plugin", serve_options->no_plugin, "do not serve forgejo-runner's backend plugin");
  cmd->callback([serve_options, &options] {
    if (auto r = serve(*serve_options, options); !r) options.exit_status = report_error(r.error());
  });

  // Hidden: prints action/action.yml, generated from the step kinds' parameter messages.
  auto* gen = app.add_subcommand("action-yml", "print the akbuild/step action.yml")->group("");
  gen->callback([] { std::cout << steps::action_yml(); });
}

} // namespace akbuild::cli
