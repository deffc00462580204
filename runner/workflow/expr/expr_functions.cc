#include "runner/workflow/expr/expr_functions.hh"

#include <algorithm>
#include <array>

#include "runner/core/encoding.hh"
#include "runner/core/glob.hh"
#include "runner/core/hash.hh"
#include "runner/core/json_depth.hh"
#include "runner/core/sink.hh"
#include "runner/core/walk.hh"

namespace akbuild::workflow::expr {

namespace {

constexpr std::size_t k_many = 255;

constexpr std::array k_functions{
    FunctionInfo{"always", 0, 0},     FunctionInfo{"cancelled", 0, 0},  FunctionInfo{"case", 3, k_many},
    FunctionInfo{"contains", 2, 2},   FunctionInfo{"endswith", 2, 2},   FunctionInfo{"failure", 0, 0},
    FunctionInfo{"format", 1, k_many}, FunctionInfo{"fromjson", 1, 1},  FunctionInfo{"hashfiles", 1, k_many},
    FunctionInfo{"join", 1, 2},       FunctionInfo{"startswith", 2, 2}, FunctionInfo{"success", 0, 0},
    FunctionInfo{"tojson", 1, 1},
};

Error eval_error(std::string message) { return Error{ErrorCode::failed_precondition, std::move(message)}; }

// Converts parsed JSON (integers, unsigned) into the language's values (doubles).
Value normalize(const Value& v) {
  if (v.is_number()) return Value(v.get<double>());
  if (v.is_array()) {
    Value out = Value::array();
    for (const auto& item : v) out.push_back(normalize(item));
    return out;
  }
  if (v.is_object()) {
    Value out = Value::object();
    for (const auto& [k, item] : v.items())
      if (!find_member(out, k)) out[k] = normalize(item);
    return out;
  }
  return v;
}

class FileHasher final : public TreeVisitor {
public:
  explicit FileHasher(const GlobSet& globs) : m_globs(globs) {}
  Result<> directory_begin(std::string_view rel, const FileInfo&) override {
    if (!rel.empty() && !m_globs.could_match_below(rel)) return fail(skip_directory());
    return ok();
  }
  Result<> regular(std::string_view rel, const FileInfo&, int dirfd, std::string_view name) override {
    if (!m_globs.matches(rel)) return ok();
    HashSink file(HashAlgo::sha256);
    AK_TRY_VOID(stream_file_at(dirfd, name, file));
    auto digest = file.finish();
    m_total.update(std::span<const std::byte>(digest));
    ++m_count;
    return ok();
  }
  Result<> symlink(std::string_view, const FileInfo&, std::string_view) override { return ok(); }
  Result<> other(std::string_view, const FileInfo&) override { return ok(); }

  std::string result() {
    if (m_count == 0) return "";
    auto d = m_total.finish();
    return to_hex(d);
  }

private:
  const GlobSet& m_globs;
  Hasher m_total{HashAlgo::sha256};
  std::size_t m_count = 0;
};

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

} // namespace

const FunctionInfo* find_function(std::string_view lower_name) {
  for (const auto& f : k_functions)
    if (f.name == lower_name) return &f;
  return nullptr;
}

Result<std::string> format_string(const std::string& fs, const std::vector<Value>& args) {
  std::string out;
  std::size_t index = 0;
  auto invalid = [&] { return eval_error("The following format string is invalid: " + fs); };
  while (index < fs.size()) {
    std::size_t l = fs.find('{', index), r = fs.find('}', index);
    if (l != std::string::npos && (r == std::string::npos || r > l)) {
      if (l + 1 < fs.size() && fs[l + 1] == '{') {
        out.append(fs, index, l - index + 1);
        index = l + 2;
        continue;
      }
      if (r != std::string::npos && r > l + 1) {
        std::size_t digits = 0;
        while (l + 1 + digits < fs.size() && fs[l + 1 + digits] >= '0' && fs[l + 1 + digits] <= '9') ++digits;
        if (digits > 0) {
          // Like the reference, anything between the digits and '}' is ignored.
          std::size_t n = std::stoul(fs.substr(l + 1, std::min<std::size_t>(digits, 9)));
          if (n + 1 > args.size())
            return fail(eval_error("The following format string references more arguments than were supplied: " + fs));
          out.append(fs, index, l - index);
          out += to_display_string(args[n]);
          index = r + 1;
          continue;
        }
      }
      return fail(invalid());
    }
    if (r != std::string::npos) {
      if (r + 1 < fs.size() && fs[r + 1] == '}') {
        out.append(fs, index, r - index + 1);
        index = r + 2;
        continue;
      }
      return fail(invalid());
    }
    out.append(fs, index);
    break;
  }
  return out;
}

Result<std::string> hash_files(const std::filesystem::path& workspace, const std::vector<std::string>& patterns) {
  std::vector<std::string> include, exclude;
  for (const auto& p : patterns) {
    std::string pat = p;
    bool negate = !pat.empty() && pat[0] == '!';
    if (negate) pat.erase(0, 1);
    while (starts_with(pat, "./")) pat.erase(0, 2);
    (negate ? exclude : include).push_back(pat);
  }
  auto globs = GlobSet::parse(include, exclude);
  if (!globs) return fail(eval_error("hashFiles: " + globs.error().message));
  FileHasher hasher(*globs);
  std::error_code ec;
  if (!std::filesystem::is_directory(workspace, ec)) return std::string();
  AK_TRY_VOID(walk_tree(workspace, hasher).map_error([](Error e) { return e.context("hashFiles"); }));
  return hasher.result();
}

Result<Value> call_function(std::string_view name, const std::vector<Value>& args, const EvalContext& ctx) {
  if (name == "always") return Value(true);
  if (name == "success") return Value(!ctx.status.failed && !ctx.status.cancelled);
  if (name == "failure") return Value(ctx.status.failed && !ctx.status.cancelled);
  if (name == "cancelled") return Value(ctx.status.cancelled);
  if (name == "contains") {
    const Value &hay = args[0], &needle = args[1];
    if (is_primitive(hay)) {
      if (!is_primitive(needle)) return Value(false);
      auto h = lower_ascii(to_display_string(hay)), n = lower_ascii(to_display_string(needle));
      return Value(h.find(n) != std::string::npos);
    }
    if (hay.is_array()) {
      if (!is_primitive(needle)) return Value(false);
      for (const auto& item : hay)
        if (is_primitive(item) && loose_equals(needle, item)) return Value(true);
    }
    return Value(false);
  }
  if (name == "startswith" || name == "endswith") {
    if (!is_primitive(args[0]) || !is_primitive(args[1])) return Value(false);
    auto l = upper_ascii(to_display_string(args[0])), r = upper_ascii(to_display_string(args[1]));
    return Value(name == "startswith" ? starts_with(l, r) : ends_with(l, r));
  }
  if (name == "format") {
    std::vector<Value> rest(args.begin() + 1, args.end());
    return Value(AK_TRY(format_string(to_display_string(args[0]), rest)));
  }
  if (name == "join") {
    if (is_primitive(args[0])) return Value(to_display_string(args[0]));
    if (!args[0].is_array()) return Value("");
    std::string sep = args.size() > 1 && is_primitive(args[1]) ? to_display_string(args[1]) : ",";
    std::string out;
    bool first = true;
    for (const auto& item : args[0]) {
      if (!first) out += sep;
      first = false;
      out += to_display_string(item);
    }
    return Value(out);
  }
  if (name == "tojson") return Value(to_json_text(args[0], 2));
  if (name == "fromjson") {
    std::string text = to_display_string(args[0]);
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) return fail(eval_error("fromJSON: empty input"));
    if (json_nesting_depth(text) > k_max_json_depth)
      return fail(eval_error("fromJSON: JSON nested deeper than " + std::to_string(k_max_json_depth) + " levels"));
    try {
      return normalize(Value::parse(text));
    } catch (const nlohmann::json::exception& e) {
      return fail(eval_error("fromJSON: invalid JSON: " + std::string(e.what())));
    }
  }
  if (name == "hashfiles") {
    std::vector<std::string> patterns;
    for (const auto& a : args) patterns.push_back(to_display_string(a));
    return Value(AK_TRY(hash_files(ctx.workspace, patterns)));
  }
  if (name == "case") {
    for (std::size_t i = 0; i + 1 < args.size(); i += 2) {
      if (!args[i].is_boolean()) return fail(eval_error("case predicate must evaluate to a boolean value"));
      if (args[i].get<bool>()) return args[i + 1];
    }
    return args.back();
  }
  return fail(eval_error("unknown function " + std::string(name)));
}

} // namespace akbuild::workflow::expr
