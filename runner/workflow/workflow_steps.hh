#pragma once
// The akbuild steps a workflow would hand to the engine, with their `with:` evaluated as a run
// evaluates them (matrix, env, inputs, vars), read through a dry run of `akbuild act`: what
// `akbuild pin update` updates the pins of. `run:` steps do not run, so a `with:` value reading a
// `run:` step's outputs sees them empty, as in `akbuild act -n`.

#include <ostream>
#include <vector>

#include "runner/core/result.hh"
#include "runner/engine/engine.hh"
#include "runner/workflow/act.hh"

namespace akbuild::workflow {

// The akbuild steps of the workflows `options` selects (options.job: that job and those it
// needs, else those the event triggers), in the order met, each step id once. A step id that
// evaluates to different steps (kind or `with:`) in two jobs or matrix combinations is
// invalid_argument naming both, since a pin belongs to one step id. Lines the dry run printed go
// to `log` when it fails.
Result<std::vector<engine::StepRequest>> workflow_steps(ActOptions options, std::ostream& log);

} // namespace akbuild::workflow
