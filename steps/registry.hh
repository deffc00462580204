#pragma once
// The explicit table of step kinds.

#include <string_view>
#include <vector>

#include "steps/step_kind.hh"

namespace akbuild::steps {

// The name of akbuild's own action (action/action.yml, generated from this registry by
// `akbuild action-yml`): `akbuild act` runs a local action of that name as an akbuild step.
inline constexpr std::string_view k_action_name = "akbuild step";

// The step of `kind`, or invalid_argument listing the known kinds.
Result<const StepKind*> find_kind(std::string_view kind);
// Every kind, in the table's order.
const std::vector<const StepKind*>& all_kinds();

} // namespace akbuild::steps
