#pragma once
// Maps `with:` values (strings, as workflows and `--with K=V` give them) onto a kind's parameter
// message by protobuf reflection. Keys match field names with '-' and '_' the same. Scalars
// parse by field type; repeated fields take a YAML/JSON list, or one item per line; maps take a
// YAML/JSON object or K=V lines; message fields take a YAML/JSON object. An unknown key is an
// invalid_argument error listing the valid keys.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/message.h>

#include "runner/core/result.hh"

namespace akbuild::steps {

using WithMap = std::map<std::string, std::string>;

Result<std::unique_ptr<google::protobuf::Message>> parse_params(const google::protobuf::Message& prototype,
                                                                const WithMap& with, std::string_view kind);

// A list value as a repeated string field takes it (a YAML/JSON flow list, or one item per
// line); invalid_argument naming `where` when a flow list does not parse or holds a non-string.
Result<std::vector<std::string>> parse_string_list(std::string_view value, std::string_view where);

// Canonical "key: value" lines for the manifest: every field, sorted by name, lists and maps
// rendered as JSON, defaults included (so adding a default-valued key changes nothing).
std::vector<std::string> params_manifest_lines(const google::protobuf::Message& params);

// "name (shape): comment" for every parameter of a message, sorted; the comment is the field's
// in steps.proto (steps/step_docs.hh), left out when it has none.
std::vector<std::string> param_names(const google::protobuf::Message& prototype);

} // namespace akbuild::steps
