#include <iostream>

#include <fmt/core.h>

#include "runner/cli/commands.hh"
#include "runner/core/log.hh"
#include "runner/service/client.hh"

namespace akbuild::cli {

namespace {

struct PluginConfigOptions {
  std::string label = "nix-container-builder";
  std::string profile = "sandbox";
};

// The runner's config for the daemon that AKBUILD_EXECUTOR (else the default socket) names.
Result<> print_config(const PluginConfigOptions& options) {
  if (options.profile != "sandbox" && options.profile != "host")
    return fail(ErrorCode::invalid_argument, "--profile " + options.profile + ": sandbox or host");
  auto target = AK_TRY(service::executor_target_from_env());
  if (!target || target->address.kind != service::ListenAddress::Kind::unix_socket)
    return fail(ErrorCode::invalid_argument,
                "AKBUILD_EXECUTOR: the runner reaches the plugin on a unix socket (unix:PATH)");
  if (auto channel = service::reachable_channel(*target, std::chrono::milliseconds(500)); !channel)
    log_warning("no akbuild serve answers at {} yet ({})", target->address.path.string(), channel.error().message);
  std::cout << fmt::format(
      "# forgejo-runner (13.2 or later) config.yml: jobs labelled {0} run in akbuild job environments.\n"
      "# The runner must run as the daemon's user (the socket serves no other uid).\n"
      "plugins:\n"
      "  akbuild:\n"
      "    address: unix://{1}\n"
      "runner:\n"
      "  labels:\n"
      "    - {0}:akbuild://{2}\n",
      options.label, target->address.path.string(), options.profile);
  return ok();
}

} // namespace

void add_plugin_command(CLI::App& app, GlobalOptions& options) {
  auto* plugin = app.add_subcommand("plugin", "forgejo-runner's backend plugin (served by akbuild serve)");
  plugin->require_subcommand(1);
  auto config_options = std::make_shared<PluginConfigOptions>();
  auto* config = plugin->add_subcommand("config", "print the runner config for the running daemon's socket");
  config->add_option("--label", config_options->label, "the runner label jobs ask for")->capture_default_str();
  config->add_option("--profile", config_options->profile, "sandbox or host")->capture_default_str();
  config->callback([config_options, &options] {
    if (auto r = print_config(*config_options); !r) options.exit_status = report_error(r.error());
  });
}

} // namespace akbuild::cli
