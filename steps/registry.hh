#pragma once
// The explicit table of step kinds.

#include <string_view>
#include <vector>

#include "steps/step.hh"

namespace akbuild::steps {

// The step of `kind`, or invalid_argument listing the known kinds.
Result<const Step*> find_step(std::string_view kind);
// Every kind, in the table's order.
const std::vector<const Step*>& all_steps();

} // namespace akbuild::steps
