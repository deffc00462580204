#include <iostream>
#include <memory>

#include "runner/cli/commands.hh"
#include "runner/engine/console_sink.hh"
#include "runner/engine/pins.hh"
#include "steps/registry.hh"

namespace akbuild::cli {

namespace {

struct PinOptions {
  std::string kind;
  std::vector<std::string> with;
  std::string id;
  bool json = false;
  unsigned jobs = 0;
  std::string sandbox = "auto";
  std::string workspace;
};

Result<int> run_pin_update(const PinOptions& o, const GlobalOptions& global) {
  if (o.kind.empty())
    return fail(ErrorCode::invalid_argument,
                "pin update: give the fetch step as KIND --with K=V ... [--id ID] (workflow steps are read by "
                "`akbuild act`)");
  AK_TRY_VOID(steps::find_step(o.kind));
  engine::StepRequest request{o.id.empty() ? o.kind : o.id, o.kind, AK_TRY(parse_with_values(o.with))};
  engine::EngineOptions options;
  options.workspace = o.workspace.empty() ? std::filesystem::current_path() : std::filesystem::path(o.workspace);
  options.cache_dir = resolve_cache_dir(global);
  options.jobs = o.jobs;
  options.sandbox = parse_sandbox_mode(o.sandbox);
  engine::ConsoleSink sink(engine::ConsoleSink::pick(o.json), false);
  auto changes = engine::update_pins(options, {request}, std::nullopt, sink);
  sink.close();
  if (!changes) return fail(changes.error());
  for (const auto& c : *changes) {
    if (c.old_pin == c.new_pin) std::cout << "pin " << c.step_id << ": " << c.new_pin << " (unchanged)\n";
    else if (c.old_pin.empty()) std::cout << "pin " << c.step_id << ": " << c.new_pin << " (new)\n";
    else std::cout << "pin " << c.step_id << ": " << c.old_pin << " -> " << c.new_pin << "\n";
  }
  return 0;
}

} // namespace

void add_pin_command(CLI::App& app, GlobalOptions& options) {
  auto* pin = app.add_subcommand("pin", "pins of fetch steps in akbuild.lock");
  pin->require_subcommand(1);
  auto o = std::make_shared<PinOptions>();
  auto* update = pin->add_subcommand("update", "run fetch steps and record the NAR hashes of their outputs in "
                                               "akbuild.lock: akbuild pin update KIND --with K=V ... [--id ID]");
  update->add_option("kind", o->kind, "the step kind");
  update->add_option("-w,--with", o->with, "a with: value as KEY=VALUE (repeatable)");
  update->add_option("--id", o->id, "the step id (default: the kind)");
  update->add_flag("--json", o->json, "one JSON event object per line");
  update->add_option("-j,--jobs", o->jobs, "steps run at once (default: cores)");
  update->add_option("--sandbox", o->sandbox, "auto, require, or off")->check(CLI::IsMember({"auto", "require", "off"}));
  update->add_option("-C,--workspace", o->workspace, "the workspace (default: the current directory)");
  update->callback([o, &options] {
    auto r = run_pin_update(*o, options);
    options.exit_status = r ? *r : report_error(r.error());
  });
}

} // namespace akbuild::cli
