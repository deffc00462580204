#include "runner/service/capabilities.hh"

#include <google/protobuf/descriptor.h>

#include "runner/core/program_path.hh"
#include "runner/exec/sandbox.hh"
#include "steps/registry.hh"
#include "steps/step_docs.hh"

namespace akbuild::service {

namespace {

using google::protobuf::FieldDescriptor;

// Programs the step kinds run; reported so a client can tell what this host can build.
constexpr const char* k_tools[] = {
    "bash", "bwrap", "esbuild", "git", "go", "node", "npm", "openapi-generator-cli",
    "openapi-ts", "openapi-typescript", "python3", "rollup", "skopeo", "tsc", "umoci", "uv",
};

std::string type_name(const FieldDescriptor* field) {
  if (field->message_type()) return field->message_type()->full_name();
  if (field->enum_type()) return field->enum_type()->full_name();
  return field->type_name();
}

} // namespace

akbuild::v1::StepKind step_kind_schema(const steps::StepKind& step) {
  akbuild::v1::StepKind out;
  out.set_kind(std::string(step.kind()));
  out.set_schema_version(step.schema_version());
  const auto& prototype = step.params_prototype();
  const auto* descriptor = prototype.GetDescriptor();
  out.set_params_message(descriptor->full_name());
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    auto* param = out.add_params();
    param->set_name(field->name());
    param->set_number(static_cast<uint32_t>(field->number()));
    param->set_description(steps::field_comment(*field));
    if (field->is_map()) {
      param->set_map(true);
      param->set_type("map");
      param->set_map_key_type(type_name(field->message_type()->map_key()));
      param->set_map_value_type(type_name(field->message_type()->map_value()));
    } else {
      param->set_repeated(field->is_repeated());
      param->set_type(type_name(field));
    }
  }
  return out;
}

akbuild::v1::Capabilities capabilities(const std::string& version, const std::string& path_env,
                                       uint64_t max_message_bytes) {
  akbuild::v1::Capabilities out;
  out.set_version(version);
  out.set_max_message_bytes(max_message_bytes);
  for (const steps::StepKind* step : steps::all_kinds()) *out.add_kinds() = step_kind_schema(*step);
  for (const char* name : k_tools) {
    auto* tool = out.add_tools();
    tool->set_name(name);
    if (auto path = find_program(name, path_env)) tool->set_path(path->string());
  }
  std::string why;
  out.mutable_sandbox()->set_available(exec::sandbox_available(&why));
  out.mutable_sandbox()->set_reason(why);
  return out;
}

} // namespace akbuild::service
