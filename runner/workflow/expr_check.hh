#pragma once
// Parses every `${{ }}` of a workflow when it loads, as Forgejo does, so that a syntax error is
// reported where it is written before any job runs (for -l and -n too): the values of every key
// but `on:` (triggers hold no expressions), and the `if:` of jobs and steps, which are
// expressions with or without `${{ }}`.

#include <string>
#include <string_view>

#include <yaml-cpp/yaml.h>

#include "runner/core/result.hh"

namespace akbuild::workflow {

// Fails with invalid_argument "file:line:column: <fault>", the position being the expression's
// own in `source` (the document's text) where it can be found there, else its value's.
Result<> check_workflow_expressions(const YAML::Node& root, std::string_view source, const std::string& file);

} // namespace akbuild::workflow
