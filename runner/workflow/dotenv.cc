#include "runner/workflow/dotenv.hh"

#include <optional>

#include <yaml-cpp/yaml.h>

#include "runner/core/fs.hh"

namespace akbuild::workflow {

namespace {

bool key_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool key_char(char c) { return key_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-'; }
bool blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

class Parser {
public:
  Parser(std::string_view text, std::string_view what) : m_text(text), m_what(what) {}

  Result<std::map<std::string, std::string>> parse() {
    std::map<std::string, std::string> out;
    while (m_pos < m_text.size()) {
      skip_blanks();
      if (at_end_of_line()) { next_line(); continue; }
      if (peek() == '#') { skip_to_end_of_line(); continue; }
      if (m_text.substr(m_pos).starts_with("export ")) {
        m_pos += 7;
        skip_blanks();
      }
      std::size_t start = m_pos;
      if (!key_start(peek())) return error("expected KEY=VALUE");
      while (m_pos < m_text.size() && key_char(m_text[m_pos])) ++m_pos;
      std::string key(m_text.substr(start, m_pos - start));
      skip_blanks();
      if (peek() != '=') return error("expected '=' after '" + key + "'");
      ++m_pos;
      skip_blanks();
      std::string value;
      if (peek() == '"' || peek() == '\'') {
        std::size_t line = m_line;
        char quote = m_text[m_pos++];
        auto v = quoted(quote);
        if (!v) return error("the value of '" + key + "' has no closing " + std::string(1, quote), line);
        value = std::move(*v);
        skip_blanks();
        if (!at_end_of_line() && peek() != '#') return error("text after the closing quote of '" + key + "'");
        skip_to_end_of_line();
      } else {
        std::size_t end = m_pos;
        while (end < m_text.size() && m_text[end] != '\n' &&
               !(m_text[end] == '#' && end > m_pos && blank(m_text[end - 1])))
          ++end;
        std::string_view raw = m_text.substr(m_pos, end - m_pos);
        while (!raw.empty() && blank(raw.back())) raw.remove_suffix(1);
        value = std::string(raw);
        m_pos = end;
        skip_to_end_of_line();
      }
      out[key] = std::move(value);
    }
    return out;
  }

private:
  char peek() const { return m_pos < m_text.size() ? m_text[m_pos] : '\0'; }
  bool at_end_of_line() const { return m_pos >= m_text.size() || m_text[m_pos] == '\n'; }
  void skip_blanks() {
    while (m_pos < m_text.size() && blank(m_text[m_pos])) ++m_pos;
  }
  void next_line() {
    if (m_pos < m_text.size()) ++m_pos;
    ++m_line;
  }
  void skip_to_end_of_line() {
    while (!at_end_of_line()) ++m_pos;
    next_line();
  }
  // The value up to the closing quote; nullopt when there is none.
  std::optional<std::string> quoted(char quote) {
    std::string out;
    while (m_pos < m_text.size()) {
      char c = m_text[m_pos++];
      if (c == quote) return out;
      if (c == '\n') ++m_line;
      if (c == '\\' && quote == '"' && m_pos < m_text.size()) {
        char e = m_text[m_pos++];
        switch (e) {
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case '"': case '\\': case '$': out += e; break;
        default: out += '\\'; out += e; if (e == '\n') ++m_line;
        }
        continue;
      }
      out += c;
    }
    return std::nullopt;
  }
  tl::unexpected<Error> error(const std::string& what, std::size_t line = 0) const {
    return fail(ErrorCode::invalid_argument,
                std::string(m_what) + ":" + std::to_string(line ? line : m_line) + ": " + what);
  }

  std::string_view m_text, m_what;
  std::size_t m_pos = 0, m_line = 1;
};

} // namespace

Result<std::map<std::string, std::string>> parse_dotenv(std::string_view text, std::string_view what) {
  return Parser(text, what).parse();
}

Result<std::map<std::string, std::string>> read_values_file(const std::filesystem::path& file) {
  auto text = AK_TRY(read_file(file));
  auto ext = file.extension().string();
  if (ext != ".yml" && ext != ".yaml") return parse_dotenv(text, file.string());
  std::map<std::string, std::string> out;
  try {
    YAML::Node root = YAML::Load(text);
    if (root.IsNull()) return out;
    if (!root.IsMap()) return fail(ErrorCode::invalid_argument, file.string() + ": expected a map of NAME: value");
    for (const auto& kv : root) {
      if (!kv.second.IsScalar() && !kv.second.IsNull()) {
        auto m = kv.second.Mark();
        return fail(ErrorCode::invalid_argument, file.string() + ":" + std::to_string(m.line + 1) + ": '" +
                                                     kv.first.Scalar() + "' must be a scalar");
      }
      out[kv.first.Scalar()] = kv.second.IsNull() ? std::string() : kv.second.Scalar();
    }
  } catch (const YAML::Exception& e) {
    return fail(ErrorCode::invalid_argument, file.string() + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return out;
}

} // namespace akbuild::workflow
