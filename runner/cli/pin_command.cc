#include <iostream>
#include <memory>

#include "runner/cli/commands.hh"
#include "runner/cli/console_sink.hh"
#include "runner/engine/pins.hh"
#include "steps/registry.hh"

namespace akbuild::cli {

namespace {

Result<int> run_pin_update(const StepInvocation& o, const GlobalOptions& global) {
  if (o.kind.empty())
    return fail(ErrorCode::invalid_argument,
                "pin update: give the fetch step as KIND --with K=V ... [--id ID] (workflow steps are read by "
                "`akbuild act`)");
  AK_TRY_VOID(steps::find_kind(o.kind));
  auto request = AK_TRY(step_request(o));
  auto options = engine_options(o, global);
  ConsoleSink sink(ConsoleSink::pick(o.json), false);
  auto changes = engine::update_pins(options, {request}, sink);
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
  auto o = std::make_shared<StepInvocation>();
  auto* update = pin->add_subcommand("update", "run fetch steps and record the NAR hashes of their outputs in "
                                               "akbuild.lock: akbuild pin update KIND --with K=V ... [--id ID]");
  update->add_option("kind", o->kind, "the step kind");
  add_step_invocation_options(update, *o);
  update->callback([o, &options] {
    auto r = run_pin_update(*o, options);
    options.exit_status = r ? *r : report_error(r.error());
  });
}

} // namespace akbuild::cli
