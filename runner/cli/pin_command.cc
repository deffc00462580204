// `akbuild pin update`: recomputes the pins of a workflow's fetch steps and registry tags (or of
// one step given as KIND --with K=V ...) in akbuild.lock; --check only says which are stale.
#include <iostream>
#include <memory>

#include "runner/cli/commands.hh"
#include "runner/cli/console_sink.hh"
#include "runner/engine/pins.hh"
#include "runner/workflow/workflow_steps.hh"
#include "steps/registry.hh"

namespace akbuild::cli {

namespace {

struct PinArgs {
  StepInvocation step;              // KIND --with ..., -C, --json, --sandbox
  std::vector<std::string> ids;     // --id, repeatable
  std::string workflows, job;       // -W, --job
  std::vector<std::string> inputs, vars, env, matrix;
  bool check = false, refetch = false;
};

// The command that updates what `a` names (--check dropped): what the hints print.
std::string update_command(const PinArgs& a) {
  std::string c = "akbuild pin update";
  if (!a.step.kind.empty()) c += " " + a.step.kind;
  if (!a.step.workspace.empty()) c += " -C " + shell_word(a.step.workspace);
  if (!a.workflows.empty()) c += " -W " + shell_word(a.workflows);
  if (!a.job.empty()) c += " --job " + shell_word(a.job);
  for (const auto& w : a.step.with) c += " --with " + shell_word(w);
  for (const auto& k : a.inputs) c += " --input " + shell_word(k);
  for (const auto& k : a.vars) c += " --var " + shell_word(k);
  for (const auto& k : a.env) c += " --env " + shell_word(k);
  for (const auto& k : a.matrix) c += " --matrix " + shell_word(k);
  return c;
}

// The steps to look at: the one on the command line, else the workflow's akbuild steps.
Result<std::vector<engine::StepRequest>> requests(const PinArgs& a, const std::filesystem::path& workspace,
                                                  const GlobalOptions& global) {
  if (!a.step.kind.empty()) {
    AK_TRY_VOID(steps::find_kind(a.step.kind));
    if (a.ids.size() > 1)
      return fail(ErrorCode::invalid_argument, "pin update: one step on the command line takes one --id");
    if (!a.workflows.empty() || !a.job.empty())
      return fail(ErrorCode::invalid_argument, "pin update: -W and --job read a workflow; KIND --with names one step");
    StepInvocation one = a.step;
    if (!a.ids.empty()) one.id = a.ids[0];
    auto r = AK_TRY(step_request(one));
    r.pin_command = update_command(a);
    return std::vector<engine::StepRequest>{r};
  }
  if (!a.step.with.empty()) return fail(ErrorCode::invalid_argument, "pin update: --with needs the step's KIND");
  workflow::ActOptions o;
  o.workspace = workspace;
  o.workflows = a.workflows;
  o.job = a.job;
  o.inputs = AK_TRY(act_values(a.inputs, "--input", "--input-file", "", ".input", workspace));
  o.vars = AK_TRY(act_values(a.vars, "--var", "--var-file", "", ".vars", workspace));
  o.secrets = AK_TRY(act_values({}, "--secret", "--secret-file", "", ".secrets", workspace));
  o.env = AK_TRY(act_values(a.env, "--env", "--env-file", "", ".env", workspace));
  for (const auto& item : a.matrix)  // one key may be given several values, as for act
    for (auto& [k, v] : AK_TRY(parse_pairs({item}, ':', "--matrix"))) o.matrix[k].insert(std::move(v));
  o.cache_dir = resolve_cache_dir(global);
  o.pin_command = update_command(a);
  return workflow::workflow_steps(o, std::cerr);
}

Result<int> run_pin_update(const PinArgs& a, const GlobalOptions& global) {
  auto options = engine_options(a.step, global);
  options.workspace = std::filesystem::absolute(options.workspace).lexically_normal();
  options.refetch = a.refetch;
  auto steps = AK_TRY(requests(a, options.workspace, global));
  ConsoleSink sink(ConsoleSink::pick(a.step.json), false);
  // A step on the command line is the one step to update; its --id only names it.
  auto changes = engine::update_pins(options, steps, {a.step.kind.empty() ? a.ids : std::vector<std::string>{}, a.check},
                                     sink);
  sink.close();
  if (!changes) return fail(changes.error());
  if (changes->empty()) std::cout << "pin update: no fetch steps to pin\n";
  std::size_t stale = 0;
  for (const auto& c : *changes) {
    for (const auto& platform : c.other_platforms)
      std::cout << "pin " << c.step_id << ": " << (a.check ? "stale" : "updated") << " for " << platform
                << " too (the same tree on every platform)\n";
    stale += c.other_platforms.empty() || c.old_pin != c.new_pin ? 0 : 1;
    if (c.old_pin == c.new_pin) {
      std::cout << "pin " << c.step_id << ": " << c.new_pin << " (unchanged"
                << (c.reused ? ", its inputs are those of its last fetch" : "") << ")\n";
      continue;
    }
    ++stale;
    std::string verb = a.check ? "stale" : "updated";
    if (c.old_pin.empty()) std::cout << "pin " << c.step_id << ": " << verb << ": none -> " << c.new_pin << "\n";
    else std::cout << "pin " << c.step_id << ": " << verb << ": " << c.old_pin << " -> " << c.new_pin << "\n";
    if (!c.diff.empty()) std::cout << c.diff << "\n";
  }
  if (a.check && stale) {
    std::cout << stale << " of " << changes->size() << " pins are stale; update them with `" << update_command(a)
              << "`\n";
    return 1;
  }
  return 0;
}

} // namespace

void add_pin_command(CLI::App& app, GlobalOptions& options) {
  auto* pin = app.add_subcommand("pin", "pins of fetch steps and registry tags in akbuild.lock");
  pin->require_subcommand(1);
  auto a = std::make_shared<PinArgs>();
  auto* update = pin->add_subcommand(
      "update", "recompute the NAR hashes of fetch steps' outputs, and the digests of registry tags steps read "
                "(an oci-image base), in akbuild.lock: of the workflow's steps "
                "(akbuild pin update [-W WORKFLOW] [--job J] [--id ID...] [--check]), or of one step "
                "(akbuild pin update KIND --with K=V ... [--id ID])");
  update->add_option("kind", a->step.kind, "the kind of one step given on the command line");
  update->add_option("-w,--with", a->step.with, "a with: value of that step as KEY=VALUE (repeatable)");
  update->add_option("--id", a->ids, "only this step (repeatable; default: every fetch step)")->allow_extra_args(false);
  update->add_option("-W,--workflows", a->workflows,
                     "workflow file or folder (default .forgejo/workflows, then .github/workflows)");
  update->add_option("--job", a->job, "only the steps of this job (and of the jobs it needs)");
  update->add_flag("--check", a->check, "write nothing; exit 1 when a pin is missing or stale");
  update->add_flag("--refetch", a->refetch,
                   "fetch again even when a step's inputs are those of its last fetch (for URLs and tags "
                   "that may have moved)");
  update->add_option("--input", a->inputs, "workflow input K=V")->allow_extra_args(false);
  update->add_option("--var", a->vars, "variable K=V (vars context)")->allow_extra_args(false);
  update->add_option("--env", a->env, "environment variable K=V")->allow_extra_args(false);
  update->add_option("--matrix", a->matrix, "only matrix combinations with K:V")->allow_extra_args(false);
  update->add_flag("--json", a->step.json, "one JSON event object per line");
  update->add_option("--sandbox", a->step.sandbox, "auto (bubblewrap when it works), require, or off")
      ->check(CLI::IsMember({"auto", "require", "off"}));
  update->add_option("-C,--workspace", a->step.workspace, "the workspace (default: the current directory)");
  update->callback([a, &options] {
    auto r = run_pin_update(*a, options);
    options.exit_status = r ? *r : report_error(r.error());
  });
}

} // namespace akbuild::cli
