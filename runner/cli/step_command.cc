#include "runner/cli/commands.hh"

namespace akbuild::cli {

// Scaffolding: replaced by the real subcommand.
void add_step_command(CLI::App& app, GlobalOptions& options) {
  auto* cmd = app.add_subcommand("step", "(not built yet)");
  cmd->callback([&options] { options.exit_status = report_error(Error{ErrorCode::unimplemented, "step: not built yet"}); });
}

} // namespace akbuild::cli
