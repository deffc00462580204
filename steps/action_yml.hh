#pragma once
// The akbuild/step composite action (action/action.yml), generated from the step kinds'
// parameter messages: every parameter of every kind is an input, so `with:` in a workflow is
// checked by the runner as well as by akbuild. Regenerate with `akbuild action-yml`.

#include <string>

namespace akbuild::steps {

// The whole action.yml text; deterministic (kinds in table order, parameters by name).
std::string action_yml();

} // namespace akbuild::steps
