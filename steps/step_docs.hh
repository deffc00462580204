#pragma once
// The comments of steps.proto's fields and messages: the one source of parameter docs for
// param_names, the service's capabilities and action.yml. Generated descriptors carry no
// comments, so the build embeds steps.proto's descriptor set with its source info
// (steps/embed_descriptor.py).

#include <string>

#include <google/protobuf/descriptor.h>

namespace akbuild::steps {

// The field's comment (trailing, else leading), one line, or "" when it has none.
std::string field_comment(const google::protobuf::FieldDescriptor& field);
// The comment above the field's message ("kind: exec — run a command ..."), one line.
std::string message_comment(const google::protobuf::Descriptor& message);

} // namespace akbuild::steps
