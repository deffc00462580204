// `akbuild act`: act's flags over runner/workflow/act.hh.

#include <cctype>
#include <filesystem>
#include <iostream>

#include "runner/cli/commands.hh"
#include "runner/core/fs.hh"
#include "runner/workflow/act.hh"
#include "runner/workflow/dotenv.hh"

namespace akbuild::cli {

namespace {

struct ActArgs {
  workflow::ActOptions options;
  std::string workspace;
  std::vector<std::string> inputs, vars, secrets, env, matrix;
  std::string secret_file, var_file, env_file, input_file;
  RemoteFlags remote;
};

Result<int> run(ActArgs& a, const GlobalOptions& global) {
  auto& o = a.options;
  o.workspace = std::filesystem::absolute(a.workspace.empty() ? std::filesystem::current_path()
                                                              : std::filesystem::path(a.workspace)).lexically_normal();
  // act's files and defaults: .input, .vars, .secrets and .env.
  o.inputs = AK_TRY(act_values(a.inputs, "--input", "--input-file", a.input_file, ".input", o.workspace));
  o.vars = AK_TRY(act_values(a.vars, "--var", "--var-file", a.var_file, ".vars", o.workspace));
  o.secrets = AK_TRY(act_values(a.secrets, "--secret", "--secret-file", a.secret_file, ".secrets", o.workspace));
  o.env = AK_TRY(act_values(a.env, "--env", "--env-file", a.env_file, ".env", o.workspace));
  for (const auto& item : a.matrix)  // one key may be given several values
    for (auto& [k, v] : AK_TRY(parse_pairs({item}, ':', "--matrix"))) o.matrix[k].insert(std::move(v));
  o.cache_dir = resolve_cache_dir(global);
  o.open_engine = AK_TRY(engine_opener(a.remote));
  // Hints name the pin update of this workflow, from where act was started.
  o.pin_command = "akbuild pin update";
  if (!a.workspace.empty()) o.pin_command += " -C " + shell_word(a.workspace);
  if (!o.workflows.empty()) o.pin_command += " -W " + shell_word(o.workflows);
  return workflow::run_act(o, std::cout);
}

} // namespace

Result<std::map<std::string, std::string>> act_values(const std::vector<std::string>& pairs, std::string_view pair_flag,
                                                     std::string_view flag, const std::string& named,
                                                     const char* fallback, const std::filesystem::path& workspace) {
  auto given = AK_TRY(parse_pairs(pairs, '=', pair_flag));
  std::filesystem::path file = workspace / (named.empty() ? std::string(fallback) : named);
  auto values = workflow::read_values_file(file);
  if (!values && (values.error().code != ErrorCode::not_found || !named.empty()))
    return fail(ErrorCode::invalid_argument, std::string(flag) + ": " + values.error().message);
  // Secret names are case-insensitive: act upper-cases them, so `--secret token=x` replaces the
  // file's TOKEN rather than standing beside it.
  auto name = [&](std::string k) {
    if (flag == "--secret-file")
      for (auto& c : k) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return k;
  };
  std::map<std::string, std::string> out;
  if (values)
    for (auto& [k, v] : *values) out[name(k)] = std::move(v);
  for (auto& [k, v] : given) out[name(k)] = std::move(v);
  return out;
}

void add_act_command(CLI::App& app, GlobalOptions& options) {
  auto a = std::make_shared<ActArgs>();
  auto* cmd = app.add_subcommand("act", "Run workflows locally like act (akbuild steps through the cache)");
  cmd->add_option("event", a->options.event,
                  "the event to run (default: the only event of the workflows, else push); only the "
                  "workflows it triggers run");
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
                  "secrets from a dotenv file (KEY=VALUE lines, quotes as act reads them; default .secrets); "
                  "keeps them out of argv");
  cmd->add_option("--input-file", a->input_file, "workflow inputs from a dotenv file (default .input)");
  cmd->add_option("--var-file", a->var_file, "variables from a dotenv file (default .vars)");
  cmd->add_option("--env", a->env, "environment variable K=V (over the workflow's and the job's env)")
      ->allow_extra_args(false);
  cmd->add_option("--env-file", a->env_file, "environment variables from a dotenv file (default .env)");
  cmd->add_option("--step", a->options.step,
                  "run this step (by id), the akbuild steps its deps name, the run: steps before it and the "
                  "jobs its job needs; nothing else");
  cmd->add_option("--matrix", a->matrix, "run only matrix combinations with K:V")->allow_extra_args(false);
  add_remote_options(cmd, a->remote);
  cmd->add_flag("--explain", a->options.explain, "with -n: say why each cache miss misses");
  cmd->add_flag("--json", a->options.json, "one JSON event object per line (with -l: one object per job)");
  cmd->add_option("-C,--workspace", a->workspace, "the workspace (default: the current directory)");
  cmd->callback([a, &options] {
    auto r = run(*a, options);
    options.exit_status = r ? *r : report_error(r.error());
  });
}

} // namespace akbuild::cli
