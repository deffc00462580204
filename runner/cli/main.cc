#include <cstdlib>
#include <iostream>
#include <string_view>

#include "runner/cli/commands.hh"
#include "runner/core/log.hh"
#include "runner/core/memory.hh"
#include "runner/core/secrets.hh"

int main(int argc, char** argv) {
  using namespace akbuild;
  tune_heap();
  CLI::App app{"akbuild: typed, content-addressed, cached build steps for Forgejo Actions", "akbuild"};
  app.set_version_flag("--version", std::string("akbuild ") + AKBUILD_VERSION);
  app.require_subcommand(1);
  cli::GlobalOptions options;
  app.add_option("--cache-dir", options.cache_dir, "cache directory (default: $AKBUILD_CACHE_DIR, "
                                                   "else $XDG_CACHE_HOME/akbuild)")
      ->envname("AKBUILD_CACHE_DIR");
  app.add_flag("-v,--verbose", options.verbose, "more diagnostics (repeat for debug)");
  // --cache-dir and -v also after the subcommand (`akbuild step exec --cache-dir D`): subcommands
  // added from here on pass the options they do not know to this one.
  app.fallthrough();

  cli::add_step_command(app, options);
  cli::add_act_command(app, options);
  cli::add_expr_command(app, options);
  cli::add_serve_command(app, options);
  cli::add_plugin_command(app, options);
  cli::add_oci_command(app, options);
  cli::add_nix_command(app, options);
  cli::add_pin_command(app, options);
  cli::add_cache_command(app, options);
  cli::add_runner_command(app, options);

  // Values to mask, one per line (the akbuild/step action's `mask` input): from the environment,
  // so they stay out of argv, and removed from it so that no child process inherits them.
  if (const char* mask = std::getenv("AKBUILD_MASK")) {
    add_secret_lines(mask);
    ::unsetenv("AKBUILD_MASK");
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and --version exit 0; every other parse error is a usage error (2), one line.
    if (e.get_exit_code() == 0) return app.exit(e);
    auto rest = app.remaining();
    if (app.get_subcommands().empty() && !rest.empty() && !rest.front().starts_with("-")) {
      std::string names;
      for (const auto* sub : app.get_subcommands({}))
        if (!sub->get_group().empty()) names += (names.empty() ? "" : ", ") + sub->get_name();
      std::cerr << "akbuild: error: unknown subcommand '" << rest.front() << "' (subcommands: " << names << ")\n";
      return 2;
    }
    std::cerr << "akbuild: error: " << e.what() << "\n";
    return 2;
  }
  if (options.verbose >= 2) set_log_level(LogLevel::debug);
  else if (options.verbose == 1) set_log_level(LogLevel::info);
  return options.exit_status;
}
