// `akbuild runner register|daemon|generate-config`: akbuild as a Forgejo runner (runner/forgejo).

#include <unistd.h>

#include <iostream>

#include "runner/cli/commands.hh"
#include "runner/core/fs.hh"
#include "runner/core/log.hh"
#include "runner/core/secrets.hh"
#include "runner/forgejo/daemon.hh"
#include "runner/forgejo/runner_client.hh"
#include "runner/workflow/dotenv.hh"

namespace akbuild::cli {

namespace {

constexpr const char* k_default_label = "nix-container-builder:host";

struct RunnerArgs {
  std::string config;
  // register
  std::string instance, token, token_file, name, labels, file;
  bool no_interactive = false, insecure = false;  // ask for what --instance, --token, ... leave out
  // daemon
  unsigned capacity = 0;
  RemoteFlags remote;
};

Result<forgejo::RunnerConfig> config_of(const RunnerArgs& a) {
  if (a.config.empty()) return forgejo::RunnerConfig{};
  return forgejo::load_config(a.config);
}

std::vector<std::string> split_labels(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto comma = text.find(',', pos);
    std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

// A line from stdin after `prompt` on stderr (forgejo-runner's interactive register); `fallback`
// for an empty line or the end of input.
std::string ask(const std::string& prompt, const std::string& fallback) {
  std::cerr << prompt << (fallback.empty() ? "" : " [" + fallback + "]") << ": " << std::flush;
  std::string line;
  if (!std::getline(std::cin, line)) line.clear();
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line.empty() ? fallback : line;
}

Result<int> register_runner(RunnerArgs a) {
  auto config = AK_TRY(config_of(a));
  // Interactive unless told not to, and only when the instance or the token is missing: a fully
  // given command line never waits on stdin.
  if (!a.no_interactive && (a.instance.empty() || (a.token.empty() && a.token_file.empty()))) {
    if (a.instance.empty()) a.instance = ask("Forgejo instance URL (https://code.example)", "");
    if (a.token.empty() && a.token_file.empty()) a.token = ask("Runner registration token", "");
    if (a.name.empty()) a.name = ask("Runner name (empty: the host name)", "");
    if (a.labels.empty()) a.labels = ask("Labels, comma-separated", config.labels.empty() ? k_default_label : "");
  }
  std::string token = a.token;
  if (!a.token_file.empty()) {
    token = AK_TRY(read_file(a.token_file));
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  }
  if (a.instance.empty() || token.empty())
    return fail(ErrorCode::invalid_argument, "runner register: --instance and --token (or --token-file) are required");
  add_secret(token);
  std::string name = a.name;
  if (name.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    name = host;
  }
  std::vector<std::string> labels = !a.labels.empty()          ? split_labels(a.labels)
                                    : !config.labels.empty()    ? config.labels
                                                                : std::vector<std::string>{k_default_label};
  for (const auto& l : labels) AK_TRY_VOID(forgejo::check_label(l).map_error([](Error e) { return e.context("--labels"); }));
  std::filesystem::path file = a.file.empty() ? config.file : std::filesystem::path(a.file);

  forgejo::RunnerClient client(a.instance, a.insecure || config.insecure, forgejo::client_timeout());
  ping::v1::PingRequest ping;
  ping.set_data(name);
  AK_TRY_VOID(client.ping(ping).map_error([&](Error e) { return e.context("cannot reach " + a.instance); }));
  runner::v1::RegisterRequest request;
  request.set_name(name);
  request.set_token(token);
  request.set_version(std::string("akbuild ") + AKBUILD_VERSION);
  for (const auto& l : labels) request.add_labels(forgejo::label_name(l));
  auto response = client.register_runner(request);
  if (!response) return fail(response.error().context(a.instance + " refused the registration"));
  const auto& runner = response->runner();
  forgejo::Registration reg{runner.id(), runner.uuid(), runner.name().empty() ? name : runner.name(), runner.token(),
                            a.instance, labels};
  if (reg.uuid.empty() || reg.token.empty())
    return fail(ErrorCode::corrupt, a.instance + ": the registration answer holds no uuid or token");
  AK_TRY_VOID(forgejo::save_registration(file, reg));
  std::cout << "registered '" << reg.name << "' (id " << reg.id << ") at " << a.instance << "; wrote " << file.string()
            << "\n";
  return 0;
}

Result<int> daemon(const RunnerArgs& a, const GlobalOptions& global) {
  forgejo::DaemonOptions o;
  o.config = AK_TRY(config_of(a));
  if (o.config.log_level == "debug" && global.verbose == 0) set_log_level(LogLevel::debug);
  if (a.capacity) o.config.capacity = a.capacity;
  if (a.insecure) o.config.insecure = true;
  o.registration_file = a.file.empty() ? o.config.file : std::filesystem::path(a.file);
  o.version = std::string("akbuild ") + AKBUILD_VERSION;
  o.task.work_parent = o.config.workdir_parent;
  o.task.cache_dir = o.config.cache_dir.empty() ? resolve_cache_dir(global) : o.config.cache_dir;
  o.task.timeout = std::chrono::duration_cast<std::chrono::seconds>(o.config.timeout);
  o.task.report = {.interval = o.config.report_interval, .retry = o.config.report_retry};
  o.task.open_engine = AK_TRY(engine_opener(a.remote));
  auto env_file = workflow::read_values_file(o.config.env_file);
  if (!env_file && env_file.error().code != ErrorCode::not_found) return fail(env_file.error());
  if (env_file) o.task.envs = *env_file;
  for (const auto& [k, v] : o.config.envs) o.task.envs[k] = v;
  return forgejo::run_daemon(o);
}

} // namespace

void add_runner_command(CLI::App& app, GlobalOptions& options) {
  auto a = std::make_shared<RunnerArgs>();
  auto* cmd = app.add_subcommand("runner", "Register with Forgejo and run its jobs (runner.v1)");
  cmd->require_subcommand(1);
  cmd->fallthrough();  // -c also after the subcommand: `akbuild runner daemon -c config.yml`
  cmd->add_option("-c,--config", a->config, "config.yml in forgejo-runner's shape (see generate-config)");

  auto* reg = cmd->add_subcommand("register", "Register this runner with a Forgejo instance; writes .runner");
  reg->add_option("--instance", a->instance, "the Forgejo URL (https://code.example)");
  reg->add_option("--token", a->token, "the registration token (visible in argv: prefer --token-file)");
  reg->add_option("--token-file", a->token_file, "a file holding the registration token");
  reg->add_option("--name", a->name, "the runner's name (default: the host name)");
  reg->add_option("--labels", a->labels, "labels, comma-separated, NAME or NAME:host (default " +
                                              std::string(k_default_label) + ")");
  reg->add_option("--file", a->file, "where to write the registration (default: runner.file, .runner)");
  reg->add_flag("--no-interactive", a->no_interactive,
                "never ask on stdin for values the flags leave out (asked only when --instance or --token is)");
  reg->add_flag("--insecure", a->insecure, "accept any TLS certificate of the instance");
  reg->callback([a, &options] {
    auto r = register_runner(*a);
    options.exit_status = r ? *r : report_error(r.error());
  });

  auto* run = cmd->add_subcommand("daemon", "Take jobs from the instance and run them until SIGTERM");
  run->add_option("--file", a->file, "the registration (default: runner.file, .runner)");
  run->add_option("--capacity", a->capacity, "tasks at once (default: runner.capacity, 1)")->check(CLI::Range(1u, 1024u));
  run->add_flag("--insecure", a->insecure, "accept any TLS certificate of the instance");
  add_remote_options(run, a->remote);
  run->callback([a, &options] {
    auto r = daemon(*a, options);
    options.exit_status = r ? *r : report_error(r.error());
  });

  auto* gen = cmd->add_subcommand("generate-config", "Print an example config.yml");
  gen->callback([] { std::cout << forgejo::example_config(); });
}

} // namespace akbuild::cli
