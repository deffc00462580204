#pragma once
// Matrix expansion as GitHub documents it ("Using a matrix for your jobs"): the cartesian
// product of the dimensions (first key outermost), minus every combination an `exclude` entry
// matches (all its keys equal), then each `include` entry either extends every combination whose
// original values it does not contradict, or becomes a combination of its own.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "runner/core/result.hh"
#include "runner/workflow/expr/expr_value.hh"

namespace akbuild::workflow {

// The combinations of an (already interpolated) `strategy.matrix` object; a null matrix gives one
// empty combination; an empty dimension, or excluding them all, none (as act: the job has no
// runs). Fails with invalid_argument when a dimension is not a list.
Result<std::vector<Value>> expand_matrix(const Value& matrix);

// Keeps the combinations whose value for each of their keys that `filter` names (akbuild act
// --matrix K:V, given once or more per key) has one of its string forms, as act's --matrix does:
// a key the combination lacks excludes nothing.
std::vector<Value> filter_matrix(const std::vector<Value>& combos,
                                 const std::map<std::string, std::set<std::string>>& filter);

// "1.21, linux": the values of a combination in the order of their sorted keys (go, os), for
// job names like "build (1.21, linux)".
std::string matrix_label(const Value& combo);

} // namespace akbuild::workflow
