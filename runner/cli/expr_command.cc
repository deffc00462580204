// `akbuild expr 'EXPR' [--context FILE.json]`: evaluates one expression (without `${{ }}`)
// against the contexts in FILE.json ({"github": {...}, "env": {...}, ...}) and prints the value as
// compact JSON. hashFiles() globs are relative to the current directory; the status functions
// follow job.status.

#include <filesystem>
#include <iostream>

#include "runner/cli/commands.hh"
#include "runner/core/fs.hh"
#include "runner/workflow/expr/expression.hh"

namespace akbuild::cli {

namespace {

struct ExprOptions {
  std::string expression;
  std::string context_file;
};

Result<std::string> run_expr(const ExprOptions& o) {
  workflow::EvalContext ctx;
  ctx.workspace = std::filesystem::current_path();
  if (!o.context_file.empty()) {
    auto text = AK_TRY(read_file(o.context_file));
    ctx.contexts = AK_TRY(workflow::parse_json_value(text, o.context_file));
    if (!ctx.contexts.is_object())
      return fail(ErrorCode::invalid_argument, o.context_file + ": expected a JSON object of contexts");
  }
  // success(), failure() and cancelled() answer for the job.status the context gives, as in a
  // step of that job.
  if (ctx.contexts.contains("job") && ctx.contexts["job"].is_object() && ctx.contexts["job"].contains("status")) {
    const auto& status = ctx.contexts["job"]["status"];
    if (status == "failure") ctx.status.failed = true;
    else if (status == "cancelled") ctx.status.cancelled = true;
    else if (status != "success")
      return fail(ErrorCode::invalid_argument, o.context_file + ": job.status must be \"success\", \"failure\" or "
                                                                "\"cancelled\", not " + workflow::to_json_text(status));
  }
  auto value = AK_TRY(workflow::evaluate(o.expression, ctx));
  return workflow::to_json_text(value);
}

} // namespace

void add_expr_command(CLI::App& app, GlobalOptions& options) {
  auto o = std::make_shared<ExprOptions>();
  auto* cmd = app.add_subcommand("expr", "Evaluate one ${{ }} expression and print its value as JSON");
  cmd->add_option("expression", o->expression, "the expression, without ${{ }}")->required();
  cmd->add_option("--context", o->context_file, "JSON file with the contexts (github, env, matrix, ...)");
  cmd->callback([o, &options] {
    auto r = run_expr(*o);
    if (!r) {
      options.exit_status = report_error(r.error());
      return;
    }
    std::cout << *r << "\n";
  });
}

} // namespace akbuild::cli
