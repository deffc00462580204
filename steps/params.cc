#include "steps/params.hh"

#include <algorithm>
#include <charconv>
#include <limits>

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "steps/step_docs.hh"

namespace akbuild::steps {

namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

std::string normalize_key(std::string_view key) {
  std::string out(key);
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

std::vector<std::string> nonempty_lines(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    auto end = s.find('\n', start);
    if (end == std::string_view::npos) end = s.size();
    auto line = trim(s.substr(start, end - start));
    if (!line.empty()) out.push_back(std::move(line));
    start = end + 1;
  }
  return out;
}

std::string type_name(const FieldDescriptor* f) {
  if (f->is_map()) return "map";
  if (f->is_repeated()) return "list";
  switch (f->cpp_type()) {
  case FieldDescriptor::CPPTYPE_BOOL: return "bool";
  case FieldDescriptor::CPPTYPE_INT32:
  case FieldDescriptor::CPPTYPE_INT64:
  case FieldDescriptor::CPPTYPE_UINT32:
  case FieldDescriptor::CPPTYPE_UINT64: return "integer";
  case FieldDescriptor::CPPTYPE_FLOAT:
  case FieldDescriptor::CPPTYPE_DOUBLE: return "number";
  case FieldDescriptor::CPPTYPE_ENUM: return "enum";
  case FieldDescriptor::CPPTYPE_MESSAGE: return "object";
  default: return "string";
  }
}

struct Setter {
  std::string where;  // "exec: with: timeout_seconds"

  tl::unexpected<Error> bad(const std::string& value, std::string_view why) const {
    return fail(ErrorCode::invalid_argument, where + ": '" + value + "' " + std::string(why));
  }

  template <class T>
  Result<T> parse_int(const std::string& text) const {
    T v{};
    auto t = trim(text);
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || p != t.data() + t.size() || t.empty()) return bad(text, "is not an integer in range");
    return v;
  }

  // Sets (or, for repeated fields, appends) one scalar from its text.
  Result<> scalar(Message& msg, const FieldDescriptor* f, const std::string& text) const {
    const Reflection* r = msg.GetReflection();
    bool rep = f->is_repeated();
    switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      rep ? r->AddString(&msg, f, text) : r->SetString(&msg, f, text);
      return ok();
    case FieldDescriptor::CPPTYPE_BOOL: {
      auto t = trim(text);
      std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
      bool v;
      if (t == "true" || t == "yes" || t == "on" || t == "1") v = true;
      else if (t == "false" || t == "no" || t == "off" || t == "0" || t.empty()) v = false;
      else return bad(text, "is not a boolean (true or false)");
      rep ? r->AddBool(&msg, f, v) : r->SetBool(&msg, f, v);
      return ok();
    }
    case FieldDescriptor::CPPTYPE_INT32: {
      auto v = AK_TRY(parse_int<std::int32_t>(text));
      rep ? r->AddInt32(&msg, f, v) : r->SetInt32(&msg, f, v);
      return ok();
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      auto v = AK_TRY(parse_int<std::int64_t>(text));
      rep ? r->AddInt64(&msg, f, v) : r->SetInt64(&msg, f, v);
      return ok();
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      auto v = AK_TRY(parse_int<std::uint32_t>(text));
      rep ? r->AddUInt32(&msg, f, v) : r->SetUInt32(&msg, f, v);
      return ok();
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      auto v = AK_TRY(parse_int<std::uint64_t>(text));
      rep ? r->AddUInt64(&msg, f, v) : r->SetUInt64(&msg, f, v);
      return ok();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      auto t = trim(text);
      char* end = nullptr;
      double v = std::strtod(t.c_str(), &end);
      if (t.empty() || *end) return bad(text, "is not a number");
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT)
        rep ? r->AddFloat(&msg, f, static_cast<float>(v)) : r->SetFloat(&msg, f, static_cast<float>(v));
      else
        rep ? r->AddDouble(&msg, f, v) : r->SetDouble(&msg, f, v);
      return ok();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      auto t = trim(text);
      const auto* e = f->enum_type();
      for (int i = 0; i < e->value_count(); ++i) {
        std::string name = e->value(i)->name();
        std::string lower = name;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        std::replace(lower.begin(), lower.end(), '_', '-');
        std::string want = t;
        std::transform(want.begin(), want.end(), want.begin(), [](unsigned char c) { return std::tolower(c); });
        std::replace(want.begin(), want.end(), '_', '-');
        if (lower == want) {
          rep ? r->AddEnumValue(&msg, f, e->value(i)->number()) : r->SetEnumValue(&msg, f, e->value(i)->number());
          return ok();
        }
      }
      std::string valid;
      for (int i = 0; i < e->value_count(); ++i) valid += (i ? ", " : "") + e->value(i)->name();
      return bad(text, "is not one of " + valid);
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: break;
    }
    return bad(text, "cannot be given as a scalar");
  }

  Result<> from_node(Message& msg, const YAML::Node& node) const;

  // A field from a YAML node (a scalar, a list or an object).
  Result<> field_from_node(Message& msg, const FieldDescriptor* f, const YAML::Node& node) const {
    Setter sub{where + "." + f->name()};
    if (f->is_map()) {
      if (!node.IsMap()) return sub.bad(YAML::Dump(node), "is not an object");
      const Reflection* r = msg.GetReflection();
      for (const auto& kv : node) {
        Message* entry = r->AddMessage(&msg, f);
        const auto* kf = entry->GetDescriptor()->FindFieldByNumber(1);
        const auto* vf = entry->GetDescriptor()->FindFieldByNumber(2);
        AK_TRY_VOID(sub.scalar(*entry, kf, kv.first.as<std::string>()));
        AK_TRY_VOID(sub.field_from_node(*entry, vf, kv.second));
      }
      return ok();
    }
    if (f->is_repeated()) {
      if (!node.IsSequence()) return sub.bad(YAML::Dump(node), "is not a list");
      for (const auto& item : node) {
        if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          Message* m = msg.GetReflection()->AddMessage(&msg, f);
          AK_TRY_VOID(sub.from_node(*m, item));
        } else {
          if (!item.IsScalar()) return sub.bad(YAML::Dump(item), "is not a scalar");
          AK_TRY_VOID(sub.scalar(msg, f, item.Scalar()));
        }
      }
      return ok();
    }
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
      return sub.from_node(*msg.GetReflection()->MutableMessage(&msg, f), node);
    if (!node.IsScalar()) return sub.bad(YAML::Dump(node), "is not a scalar");
    return sub.scalar(msg, f, node.Scalar());
  }
};

std::string valid_keys(const Descriptor* d) {
  std::vector<std::string> names;
  for (int i = 0; i < d->field_count(); ++i) names.push_back(d->field(i)->name());
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

const FieldDescriptor* find_field(const Descriptor* d, std::string_view key) {
  return d->FindFieldByName(normalize_key(key));
}

Result<> Setter::from_node(Message& msg, const YAML::Node& node) const {
  if (!node.IsMap()) return bad(YAML::Dump(node), "is not an object");
  for (const auto& kv : node) {
    auto key = kv.first.as<std::string>();
    const auto* f = find_field(msg.GetDescriptor(), key);
    if (!f)
      return fail(ErrorCode::invalid_argument, where + ": unknown key '" + key +
                                                   "' (valid: " + valid_keys(msg.GetDescriptor()) + ")");
    AK_TRY_VOID(field_from_node(msg, f, kv.second));
  }
  return ok();
}

Result<YAML::Node> load_yaml(const Setter& s, const std::string& text) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return s.bad(text, "is not valid YAML/JSON: " + e.msg);
  }
}

// One `with:` value onto its field.
Result<> set_with(Message& msg, const FieldDescriptor* f, const std::string& value, const Setter& s) {
  auto t = trim(value);
  if (f->is_map()) {
    if (t.empty()) return ok();
    if (t.front() == '{') return s.field_from_node(msg, f, AK_TRY(load_yaml(s, t)));
    auto lines = nonempty_lines(t);
    bool all_eq = std::all_of(lines.begin(), lines.end(), [](const std::string& l) { return l.find('=') != 0 &&
                                                                                         l.find('=') != std::string::npos; });
    if (!all_eq) {
      auto node = AK_TRY(load_yaml(s, t));
      if (node.IsMap()) return s.field_from_node(msg, f, node);
      return s.bad(value, "is not an object or K=V lines");
    }
    YAML::Node node(YAML::NodeType::Map);
    for (const auto& l : lines) {
      auto eq = l.find('=');
      node[l.substr(0, eq)] = l.substr(eq + 1);
    }
    return s.field_from_node(msg, f, node);
  }
  if (f->is_repeated()) {
    if (t.empty()) return ok();
    // A flow list is "[...]" as a whole; "[ab]*.txt" is one line, a glob with a class.
    if ((t.front() == '[' && t.back() == ']') || f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
      return s.field_from_node(msg, f, AK_TRY(load_yaml(s, t)));
    for (const auto& l : nonempty_lines(t)) AK_TRY_VOID(s.scalar(msg, f, l));
    return ok();
  }
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    if (t.empty()) return ok();
    return s.field_from_node(msg, f, AK_TRY(load_yaml(s, t)));
  }
  // Strings keep their exact text (a run: script's newlines and indentation matter).
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) return s.scalar(msg, f, value);
  return s.scalar(msg, f, t);
}

nlohmann::json field_json(const Message& msg, const FieldDescriptor* f);

nlohmann::json message_json(const Message& msg) {
  nlohmann::json out = nlohmann::json::object();
  const auto* d = msg.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) out[d->field(i)->name()] = field_json(msg, d->field(i));
  return out;
}

nlohmann::json scalar_json(const Message& msg, const FieldDescriptor* f, int index) {
  const Reflection* r = msg.GetReflection();
  bool rep = index >= 0;
  switch (f->cpp_type()) {
  case FieldDescriptor::CPPTYPE_STRING: return rep ? r->GetRepeatedString(msg, f, index) : r->GetString(msg, f);
  case FieldDescriptor::CPPTYPE_BOOL: return rep ? r->GetRepeatedBool(msg, f, index) : r->GetBool(msg, f);
  case FieldDescriptor::CPPTYPE_INT32: return rep ? r->GetRepeatedInt32(msg, f, index) : r->GetInt32(msg, f);
  case FieldDescriptor::CPPTYPE_INT64: return rep ? r->GetRepeatedInt64(msg, f, index) : r->GetInt64(msg, f);
  case FieldDescriptor::CPPTYPE_UINT32: return rep ? r->GetRepeatedUInt32(msg, f, index) : r->GetUInt32(msg, f);
  case FieldDescriptor::CPPTYPE_UINT64: return rep ? r->GetRepeatedUInt64(msg, f, index) : r->GetUInt64(msg, f);
  case FieldDescriptor::CPPTYPE_FLOAT: return rep ? r->GetRepeatedFloat(msg, f, index) : r->GetFloat(msg, f);
  case FieldDescriptor::CPPTYPE_DOUBLE: return rep ? r->GetRepeatedDouble(msg, f, index) : r->GetDouble(msg, f);
  case FieldDescriptor::CPPTYPE_ENUM:
    return (rep ? r->GetRepeatedEnum(msg, f, index) : r->GetEnum(msg, f))->name();
  case FieldDescriptor::CPPTYPE_MESSAGE:
    return message_json(rep ? r->GetRepeatedMessage(msg, f, index) : r->GetMessage(msg, f));
  }
  return nullptr;
}

nlohmann::json field_json(const Message& msg, const FieldDescriptor* f) {
  const Reflection* r = msg.GetReflection();
  if (f->is_map()) {
    // Map entries come in no particular order; nlohmann's object sorts keys.
    nlohmann::json out = nlohmann::json::object();
    for (int i = 0; i < r->FieldSize(msg, f); ++i) {
      const Message& entry = r->GetRepeatedMessage(msg, f, i);
      const auto* kf = entry.GetDescriptor()->FindFieldByNumber(1);
      const auto* vf = entry.GetDescriptor()->FindFieldByNumber(2);
      auto k = scalar_json(entry, kf, -1);
      out[k.is_string() ? k.get<std::string>() : k.dump()] = scalar_json(entry, vf, -1);
    }
    return out;
  }
  if (f->is_repeated()) {
    nlohmann::json out = nlohmann::json::array();
    for (int i = 0; i < r->FieldSize(msg, f); ++i) out.push_back(scalar_json(msg, f, i));
    return out;
  }
  return scalar_json(msg, f, -1);
}

} // namespace

Result<std::unique_ptr<google::protobuf::Message>> parse_params(const google::protobuf::Message& prototype,
                                                                const WithMap& with, std::string_view kind) {
  std::unique_ptr<Message> msg(prototype.New());
  const auto* d = msg->GetDescriptor();
  for (const auto& [key, value] : with) {
    const auto* f = find_field(d, key);
    if (!f)
      return fail(ErrorCode::invalid_argument, std::string(kind) + ": unknown with: key '" + key +
                                                   "' (valid: " + valid_keys(d) + ")");
    Setter s{std::string(kind) + ": with: " + f->name()};
    try {
      AK_TRY_VOID(set_with(*msg, f, value, s));
    } catch (const YAML::Exception& e) {
      return s.bad(value, "does not have the expected shape: " + e.msg);
    }
  }
  return msg;
}

Result<std::vector<std::string>> parse_string_list(std::string_view value, std::string_view where) {
  auto t = trim(value);
  if (t.empty() || t.front() != '[' || t.back() != ']') return nonempty_lines(t);
  auto bad = [&](std::string_view why) -> tl::unexpected<Error> {
    return fail(ErrorCode::invalid_argument, fmt::format("{}: '{}' {}", where, t, why));
  };
  try {
    auto node = YAML::Load(t);
    if (!node.IsSequence()) return bad("is not a list");
    std::vector<std::string> out;
    for (const auto& item : node) {
      if (!item.IsScalar()) return bad("holds an item that is not a string");
      out.push_back(item.as<std::string>());
    }
    return out;
  } catch (const YAML::Exception& e) {
    return bad("is not valid YAML/JSON: " + e.msg);
  }
}

std::vector<std::string> params_manifest_lines(const google::protobuf::Message& params) {
  std::vector<std::string> out;
  const auto* d = params.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    out.push_back(f->name() + ": " +
                  field_json(params, f).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> param_names(const google::protobuf::Message& prototype) {
  std::vector<std::string> out;
  const auto* d = prototype.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    auto comment = field_comment(*f);
    out.push_back(f->name() + " (" + type_name(f) + ")" + (comment.empty() ? "" : ": " + comment));
  }
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace akbuild::steps
