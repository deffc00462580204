// `akbuild act`: act's flags over runner/workflow/act.hh.

#include <filesystem>
#include <iostream>

#include "runner/cli/commands.hh"
#include "runner/core/fs.hh"
#include "runner/service/engine_factory.hh"
#include "runner/workflow/act.hh"
#include "runner/workflow/dotenv.hh"

namespace akbuild::cli {

namespace {

struct ActArgs {
  workflow::ActOptions options;
  std::string workspace;
  std::vector<std::string> inputs, vars, secrets, env, matrix;
  std::string secret_file;
};

Result<int> run(ActArgs& a, const GlobalOptions& global) {
  auto& o = a.options;
  o.workspace = std::filesystem::absolute(a.workspace.empty() ? std::filesystem::current_path()
                                                              : std::filesystem::path(a.workspace)).lexically_normal();
  o.inputs = AK_TRY(parse_pairs(a.inputs, '=', "--input"));
  o.vars = AK_TRY(parse_pairs(a.vars, '=', "--var"));
  // As act: the file's secrets first, then --secret ones over them.
  if (!a.secret_file.empty()) {
    auto text = read_file(a.secret_file);
    if (!text) return fail(ErrorCode::invalid_argument, "--secret-file: " + text.error().message);
    o.secrets = AK_TRY(workflow::parse_dotenv(*text, a.secret_file));
  }
  for (auto& [k, v] : AK_TRY(parse_pairs(a.secrets, '=', "--secret"))) o.secrets[k] = std::move(v);
  o.env = AK_TRY(parse_pairs(a.env, '=', "--env"));
  o.matrix = AK_TRY(parse_pairs(a.matrix, ':', "--matrix"));
  o.cache_dir = resolve_cache_dir(global);
  o.open_engine = service::open_engine;
  return workflow::run_act(o, std::cout);
}

} // namespace

void add_act_command(CLI::App& app, GlobalOptions& options) {
  auto a = std::make_shared<ActArgs>();
  auto* cmd = app.add_subcommand("act", "Run workflows locally like act (akbuild steps through the cache)");
  cmd->add_option("-W,--workflows", a->options.workflows,
                  "workflow file or folder (default .forgejo/workflows, then .github/workflows)");
  cmd->add_option("-j,--job", a->options.job, "run this job (and the jobs it needs)");
  cmd->add_flag("-l,--list", a->options.list, "list the jobs");
  cmd->add_flag("-g,--graph", a->options.graph, "draw the job graph");
  cmd->add_flag("-n,--dry-run,--dryrun", a->options.dry_run, "run nothing; say what each step would do");
  cmd->add_option("-e,--eventpath", a->options.event_file, "event payload (JSON file)");
  cmd->add_option("--input", a->inputs, "workflow input K=V")->allow_extra_args(false);
  cmd->add_option("--var", a->vars, "variable K=V (vars context)")->allow_extra_args(false);
  cmd->add_option("-s,--secret", a->secrets, "secret K=V (masked in all output)")->allow_extra_args(false);
  cmd->add_option("--secret-file", a->secret_file,
                  "secrets from a dotenv file (KEY=VALUE lines, quotes as act reads them); keeps them out of argv");
  cmd->add_option("--env", a->env, "environment variable K=V")->allow_extra_args(false);
  cmd->add_option("--matrix", a->matrix, "run only matrix combinations with K:V")->allow_extra_args(false);
  cmd->add_flag("--explain", a->options.explain, "with -n: say why each cache miss misses");
  cmd->add_flag("--json", a->options.json, "one JSON event object per line");
  cmd->add_option("-C,--workspace", a->workspace, "the workspace (default: the current directory)");
  cmd->callback([a, &options] {
    auto r = run(*a, options);
    options.exit_status = r ? *r : report_error(r.error());
  });
}

} // namespace akbuild::cli
