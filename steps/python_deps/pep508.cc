#include "steps/python_deps/pep508.hh"

#include <cctype>
#include <charconv>

#include <fmt/format.h>

namespace akbuild::steps::python {
namespace {

bool is_version_var(std::string_view name) {
  return name == "python_version" || name == "python_full_version" || name == "implementation_version";
}

bool consume_number(std::string_view& s, long& out) {
  std::size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i == 0) return false;
  std::from_chars(s.data(), s.data() + i, out);
  s.remove_prefix(i);
  return true;
}

void skip_sep(std::string_view& s) {
  if (!s.empty() && (s[0] == '.' || s[0] == '-' || s[0] == '_')) s.remove_prefix(1);
}

bool consume_word(std::string_view& s, std::string_view word) {
  if (s.size() < word.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != word[i]) return false;
  s.remove_prefix(word.size());
  return true;
}

} // namespace

std::string normalize_name(std::string_view name) {
  std::string out;
  bool sep = false;
  for (char c : name) {
    if (c == '-' || c == '_' || c == '.') {
      sep = true;
      continue;
    }
    if (sep && !out.empty()) out += '-';
    sep = false;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

Result<Version> Version::parse(std::string_view text) {
  std::string_view s = text;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  if (!s.empty() && (s[0] == 'v' || s[0] == 'V')) s.remove_prefix(1);
  if (auto bang = s.find('!'); bang != std::string_view::npos) s.remove_prefix(bang + 1);  // epoch 0 assumed
  if (auto plus = s.find('+'); plus != std::string_view::npos) s = s.substr(0, plus);
  Version v;
  long n = 0;
  if (!consume_number(s, n)) return fail(ErrorCode::invalid_argument, fmt::format("version '{}': no release number", text));
  v.release.push_back(n);
  while (s.size() > 1 && s[0] == '.' && std::isdigit(static_cast<unsigned char>(s[1]))) {
    s.remove_prefix(1);
    consume_number(s, n);
    v.release.push_back(n);
  }
  auto pre_at = s;
  skip_sep(pre_at);
  struct PreWord { std::string_view word; int kind; };
  for (auto [word, kind] : {PreWord{"alpha", 0}, {"beta", 1}, {"preview", 2}, {"pre", 2}, {"rc", 2}, {"a", 0}, {"b", 1}, {"c", 2}}) {
    auto t = pre_at;
    if (consume_word(t, word)) {
      v.pre_kind = kind;
      skip_sep(t);
      consume_number(t, v.pre_num);
      s = t;
      break;
    }
  }
  auto post_at = s;
  skip_sep(post_at);
  if (consume_word(post_at, "post") || consume_word(post_at, "rev") || consume_word(post_at, "r")) {
    skip_sep(post_at);
    v.post = 0;
    consume_number(post_at, v.post);
    s = post_at;
  } else if (!s.empty() && s[0] == '-' && s.size() > 1 && std::isdigit(static_cast<unsigned char>(s[1]))) {
    s.remove_prefix(1);
    consume_number(s, v.post);
  }
  auto dev_at = s;
  skip_sep(dev_at);
  if (consume_word(dev_at, "dev")) {
    v.dev = 0;
    consume_number(dev_at, v.dev);
    s = dev_at;
  }
  if (!s.empty()) return fail(ErrorCode::invalid_argument, fmt::format("version '{}': unexpected '{}'", text, s));
  return v;
}

std::strong_ordering Version::operator<=>(const Version& o) const {
  std::size_t n = std::max(release.size(), o.release.size());
  for (std::size_t i = 0; i < n; ++i) {
    long a = i < release.size() ? release[i] : 0, b = i < o.release.size() ? o.release[i] : 0;
    if (a != b) return a <=> b;
  }
  // A dev release without pre sorts before the pre-releases of the same release.
  auto pre_key = [](const Version& v) { return (v.pre_kind == 3 && v.post < 0 && v.dev >= 0) ? -1 : v.pre_kind; };
  if (auto c = pre_key(*this) <=> pre_key(o); c != 0) return c;
  if (auto c = pre_num <=> o.pre_num; c != 0) return c;
  if (auto c = post <=> o.post; c != 0) return c;
  long da = dev < 0 ? std::numeric_limits<long>::max() : dev, db = o.dev < 0 ? std::numeric_limits<long>::max() : o.dev;
  return da <=> db;
}

Result<bool> version_matches(std::string_view op, std::string_view spec, const Version& version) {
  if (op == "===") return fail(ErrorCode::invalid_argument, "'===' is not supported in version markers");
  bool wildcard = spec.size() > 2 && spec.substr(spec.size() - 2) == ".*";
  if (wildcard) {
    if (op != "==" && op != "!=") return fail(ErrorCode::invalid_argument, fmt::format("'{}{}': '.*' only with == and !=", op, spec));
    auto prefix = AK_TRY(Version::parse(spec.substr(0, spec.size() - 2)));
    bool match = version.release.size() >= prefix.release.size();
    for (std::size_t i = 0; match && i < prefix.release.size(); ++i) match = version.release[i] == prefix.release[i];
    return op == "==" ? match : !match;
  }
  auto other = AK_TRY(Version::parse(spec));
  auto c = version <=> other;
  if (op == "==") return c == 0;
  if (op == "!=") return c != 0;
  if (op == "<") return c < 0;
  if (op == "<=") return c <= 0;
  if (op == ">") return c > 0;
  if (op == ">=") return c >= 0;
  if (op == "~=") {
    if (other.release.size() < 2) return fail(ErrorCode::invalid_argument, fmt::format("'~={}' needs two release numbers", spec));
    Version prefix;
    prefix.release.assign(other.release.begin(), other.release.end() - 1);
    bool same = version.release.size() >= prefix.release.size();
    for (std::size_t i = 0; same && i < prefix.release.size(); ++i) same = version.release[i] == prefix.release[i];
    return c >= 0 && same;
  }
  return fail(ErrorCode::invalid_argument, fmt::format("unknown version operator '{}'", op));
}

namespace {

struct Token {
  enum Kind { name, string, op, lparen, rparen, end } kind = end;
  std::string text;
  std::size_t column = 0;
};

class MarkerParser {
public:
  MarkerParser(std::string_view text, const MarkerEnv& env) : m_text(text), m_env(env) { advance(); }

  Result<bool> parse() {
    bool value = AK_TRY(or_expr());
    if (m_tok.kind != Token::end) return error("unexpected '" + m_tok.text + "'");
    return value;
  }

private:
  tl::unexpected<Error> error(const std::string& what) const {
    return fail(ErrorCode::invalid_argument, fmt::format("marker '{}': column {}: {}", m_text, m_tok.column + 1, what));
  }

  void advance() {
    while (m_pos < m_text.size() && std::isspace(static_cast<unsigned char>(m_text[m_pos]))) ++m_pos;
    m_tok = Token{};
    m_tok.column = m_pos;
    if (m_pos >= m_text.size()) return;
    char c = m_text[m_pos];
    if (c == '(' || c == ')') {
      m_tok.kind = c == '(' ? Token::lparen : Token::rparen;
      m_tok.text = std::string(1, c);
      ++m_pos;
    } else if (c == '\'' || c == '"') {
      auto close = m_text.find(c, m_pos + 1);
      if (close == std::string_view::npos) {
        m_tok.kind = Token::op;  // reported as unexpected
        m_tok.text = "unterminated string";
        m_pos = m_text.size();
        m_bad = true;
        return;
      }
      m_tok.kind = Token::string;
      m_tok.text = std::string(m_text.substr(m_pos + 1, close - m_pos - 1));
      m_pos = close + 1;
    } else if (std::string_view("<>=!~").find(c) != std::string_view::npos) {
      std::size_t e = m_pos;
      while (e < m_text.size() && std::string_view("<>=!~").find(m_text[e]) != std::string_view::npos) ++e;
      m_tok.kind = Token::op;
      m_tok.text = std::string(m_text.substr(m_pos, e - m_pos));
      m_pos = e;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.') {
      std::size_t e = m_pos;
      while (e < m_text.size() && (std::isalnum(static_cast<unsigned char>(m_text[e])) || m_text[e] == '_' || m_text[e] == '.')) ++e;
      m_tok.kind = Token::name;
      m_tok.text = std::string(m_text.substr(m_pos, e - m_pos));
      m_pos = e;
    } else {
      m_tok.kind = Token::op;
      m_tok.text = std::string(1, c);
      m_bad = true;
      ++m_pos;
    }
  }

  Result<bool> or_expr() {
    bool value = AK_TRY(and_expr());
    while (m_tok.kind == Token::name && m_tok.text == "or") {
      advance();
      bool rhs = AK_TRY(and_expr());
      value = value || rhs;
    }
    return value;
  }

  Result<bool> and_expr() {
    bool value = AK_TRY(atom());
    while (m_tok.kind == Token::name && m_tok.text == "and") {
      advance();
      bool rhs = AK_TRY(atom());
      value = value && rhs;
    }
    return value;
  }

  struct Operand { std::string text; bool variable = false; };

  Result<Operand> operand() {
    if (m_bad) return error(m_tok.text == "unterminated string" ? "unterminated string" : "unexpected '" + m_tok.text + "'");
    if (m_tok.kind == Token::string) {
      Operand o{m_tok.text, false};
      advance();
      return o;
    }
    if (m_tok.kind == Token::name) {
      static const std::set<std::string, std::less<>> k_vars = {
          "python_version", "python_full_version", "os_name", "sys_platform", "platform_release",
          "platform_system", "platform_version", "platform_machine", "platform_python_implementation",
          "implementation_name", "implementation_version", "extra", "group", "os.name", "sys.platform",
          "platform.version", "platform.machine", "platform.python_implementation", "python_implementation"};
      if (!k_vars.count(m_tok.text)) return error("unknown marker variable '" + m_tok.text + "'");
      Operand o{m_tok.text, true};
      std::replace(o.text.begin(), o.text.end(), '.', '_');
      if (o.text == "python_implementation") o.text = "platform_python_implementation";
      advance();
      return o;
    }
    return error(m_tok.kind == Token::end ? "unexpected end" : "unexpected '" + m_tok.text + "'");
  }

  Result<bool> atom() {
    if (m_tok.kind == Token::lparen) {
      advance();
      bool value = AK_TRY(or_expr());
      if (m_tok.kind != Token::rparen) return error("expected ')'");
      advance();
      return value;
    }
    auto lhs = AK_TRY(operand());
    std::string op;
    if (m_tok.kind == Token::op) {
      op = m_tok.text;
      static const std::set<std::string, std::less<>> k_ops = {"<", "<=", "==", "!=", ">=", ">", "~=", "==="};
      if (!k_ops.count(op)) return error("unknown operator '" + op + "'");
      advance();
    } else if (m_tok.kind == Token::name && m_tok.text == "in") {
      op = "in";
      advance();
    } else if (m_tok.kind == Token::name && m_tok.text == "not") {
      advance();
      if (!(m_tok.kind == Token::name && m_tok.text == "in")) return error("expected 'in' after 'not'");
      op = "not in";
      advance();
    } else {
      return error("expected an operator");
    }
    auto rhs = AK_TRY(operand());
    return compare(lhs, op, rhs);
  }

  std::string value_of(const Operand& o) const {
    if (!o.variable) return o.text;
    auto it = m_env.values.find(o.text);
    return it == m_env.values.end() ? std::string() : it->second;
  }

  Result<bool> compare(const Operand& lhs, const std::string& op, const Operand& rhs) {
    // extra/group: membership in the active set, whichever side the variable is on.
    for (auto [var, lit] : {std::pair{&lhs, &rhs}, std::pair{&rhs, &lhs}}) {
      if (var->variable && (var->text == "extra" || var->text == "group") && !lit->variable) {
        const auto& set = var->text == "extra" ? m_env.extras : m_env.groups;
        bool member = set.count(normalize_name(lit->text)) > 0;
        if (op == "==") return member;
        if (op == "!=") return !member;
        return error("'" + op + "' is not supported with '" + var->text + "'");
      }
    }
    std::string a = value_of(lhs), b = value_of(rhs);
    if (op == "in") return b.find(a) != std::string::npos;
    if (op == "not in") return b.find(a) == std::string::npos;
    bool versions = (lhs.variable && is_version_var(lhs.text)) || (rhs.variable && is_version_var(rhs.text));
    if (versions) {
      // The variable's value is the version; the literal the specifier (PEP 508 says the
      // specifier is on the right; a reversed comparison flips the operator).
      if (lhs.variable) {
        auto v = Version::parse(a);
        if (v) {
          auto r = version_matches(op, b, *v);
          if (r) return *r;
        }
      } else {
        static const std::map<std::string, std::string> k_flip = {
            {"<", ">"}, {"<=", ">="}, {">", "<"}, {">=", "<="}, {"==", "=="}, {"!=", "!="}};
        auto v = Version::parse(b);
        if (v && k_flip.count(op)) {
          auto r = version_matches(k_flip.at(op), a, *v);
          if (r) return *r;
        }
      }
    }
    if (op == "==" || op == "===") return a == b;
    if (op == "!=") return a != b;
    if (op == "<") return a < b;
    if (op == "<=") return a <= b;
    if (op == ">") return a > b;
    if (op == ">=") return a >= b;
    return error("'" + op + "' needs versions");
  }

  std::string_view m_text;
  const MarkerEnv& m_env;
  std::size_t m_pos = 0;
  Token m_tok;
  bool m_bad = false;
};

} // namespace

Result<bool> evaluate_marker(std::string_view marker, const MarkerEnv& env) {
  return MarkerParser(marker, env).parse();
}

} // namespace akbuild::steps::python
