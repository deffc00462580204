#pragma once
// The explicit table of step kinds.

#include <string_view>
#include <vector>

#include "steps/step_kind.hh"

namespace akbuild::steps {

// The name of akbuild's own action (action/action.yml, generated from this registry by
// `akbuild action-yml`): `akbuild act` runs a local action of that name as an akbuild step.
inline constexpr std::string_view k_action_name = "akbuild step";

// A table of kinds, in the order help and errors list them.
using KindTable = std::vector<const StepKind*>;

// The step kind named `kind` in `table` (default: akbuild's own), or invalid_argument listing
// the kinds of the table.
Result<const StepKind*> find_kind(std::string_view kind, const KindTable& table);
Result<const StepKind*> find_kind(std::string_view kind);
// akbuild's own kinds, in the table's order.
const KindTable& all_kinds();

} // namespace akbuild::steps
