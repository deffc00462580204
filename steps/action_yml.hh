#pragma once
// The akbuild/step composite action (action/action.yml), generated from the step kinds'
// parameter messages: every parameter of every kind is an input, so `with:` in a workflow is
// checked by the runner as well as by akbuild. Regenerate with `akbuild action-yml`.

#include <string>
#include <string_view>

namespace akbuild::steps {

// The whole action.yml text; deterministic (kinds in table order, parameters by name).
std::string action_yml();

// Whether `name` is one of the action's own inputs (kind, id, explain, mask, executor, akbuild)
// rather than a parameter of a kind.
bool is_action_input(std::string_view name);

} // namespace akbuild::steps
