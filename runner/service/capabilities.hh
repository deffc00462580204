#pragma once
// What a daemon can run, read from the step table and the parameter descriptors: the schema a
// client (or the action.yml generator) needs without a copy of steps.proto.

#include <string>

#include "akbuild/v1/executor.pb.h"
#include "steps/step_kind.hh"

namespace akbuild::service {

// The parameter schema of one kind, from its message descriptor (field comments when the
// step table carries them).
akbuild::v1::StepKind step_kind_schema(const steps::StepKind& step);

// Version, every kind's schema, the tools the kinds call as found on `path_env`, and whether
// the sandbox works here.
akbuild::v1::Capabilities capabilities(const std::string& version, const std::string& path_env,
                                       uint64_t max_message_bytes);

} // namespace akbuild::service
