#include "steps/step_docs.hh"

#include <map>

#include <google/protobuf/descriptor.pb.h>

namespace akbuild::steps {

extern const unsigned char k_steps_descriptor[];
extern const std::size_t k_steps_descriptor_size;

namespace {

std::string one_line(std::string text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// Full names ("akbuild.v1.ExecParams.run", "akbuild.v1.ExecParams") → comment, built once.
const std::map<std::string, std::string>& comments() {
  static const std::map<std::string, std::string> table = [] {
    std::map<std::string, std::string> out;
    google::protobuf::FileDescriptorSet set;
    if (!set.ParseFromArray(k_steps_descriptor, static_cast<int>(k_steps_descriptor_size))) return out;
    for (const auto& file : set.file()) {
      std::string prefix = file.package().empty() ? "" : file.package() + ".";
      for (const auto& location : file.source_code_info().location()) {
        // Paths: [4, message] for a message, [4, message, 2, field] for its field (descriptor.proto).
        const auto& path = location.path();
        std::string text = location.trailing_comments().empty() ? location.leading_comments()
                                                                : location.trailing_comments();
        if (text.empty() || path.size() < 2 || path[0] != 4) continue;
        const auto& message = file.message_type(path[1]);
        if (path.size() == 2) out[prefix + message.name()] = one_line(text);
        else if (path.size() == 4 && path[2] == 2)
          out[prefix + message.name() + "." + message.field(path[3]).name()] = one_line(text);
      }
    }
    return out;
  }();
  return table;
}

std::string lookup(const std::string& name) {
  auto it = comments().find(name);
  return it == comments().end() ? std::string() : it->second;
}

} // namespace

std::string field_comment(const google::protobuf::FieldDescriptor& field) { return lookup(field.full_name()); }

std::string message_comment(const google::protobuf::Descriptor& message) { return lookup(message.full_name()); }

} // namespace akbuild::steps
