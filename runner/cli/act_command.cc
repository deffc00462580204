#include "runner/cli/commands.hh"

namespace akbuild::cli {

// Scaffolding: replaced by the real subcommand.
void add_act_command(CLI::App& app, GlobalOptions& options) {
  auto* cmd = app.add_subcommand("act", "(not built yet)");
  cmd->callback([&options] { options.exit_status = report_error(Error{ErrorCode::unimplemented, "act: not built yet"}); });
}

} // namespace akbuild::cli
