// The expression lexer. It follows the reference lexer of `@actions/expressions` symbol for
// symbol: a '-', '+' or '.' not following a name, ']' or ')' starts a number; numbers and names
// run to the next boundary character; `true`, `false`, `null`, `NaN`, `Infinity` are literals
// except after a '.'.

#include <cctype>
#include <cmath>

#include "runner/workflow/expr/expr_ast.hh"

namespace akbuild::workflow::expr {

namespace {

bool is_boundary(char c) {
  switch (c) {
  case '(': case '[': case ')': case ']': case ',': case '.': case '!': case '>': case '<':
  case '=': case '&': case '|':
    return true;
  default:
    return std::isspace(static_cast<unsigned char>(c)) != 0;
  }
}

bool is_legal_identifier(std::string_view s) {
  if (s.empty()) return false;
  char f = s[0];
  if (!(std::isalpha(static_cast<unsigned char>(f)) || f == '_')) return false;
  for (char c : s.substr(1))
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

class Lexer {
public:
  explicit Lexer(std::string_view text) : m_text(text) {}

  Result<std::vector<Token>> run() {
    while (m_offset < m_text.size()) {
      m_start = m_offset;
      char c = m_text[m_offset++];
      switch (c) {
      case '(': add(Tok::lparen); break;
      case ')': add(Tok::rparen); break;
      case '[': add(Tok::lbracket); break;
      case ']': add(Tok::rbracket); break;
      case ',': add(Tok::comma); break;
      case '.': {
        Tok p = previous();
        if (p != Tok::identifier && p != Tok::rbracket && p != Tok::rparen && p != Tok::star) {
          AK_TRY_VOID(number());
        } else {
          add(Tok::dot);
        }
        break;
      }
      case '-': case '+': AK_TRY_VOID(number()); break;
      case '!': add(match('=') ? Tok::bang_equal : Tok::bang); break;
      case '=':
        if (!match('=')) { AK_TRY_VOID(identifier()); break; }
        add(Tok::equal_equal);
        break;
      case '<': add(match('=') ? Tok::less_equal : Tok::less); break;
      case '>': add(match('=') ? Tok::greater_equal : Tok::greater); break;
      case '&':
        if (!match('&')) { AK_TRY_VOID(identifier()); break; }
        add(Tok::and_);
        break;
      case '|':
        if (!match('|')) { AK_TRY_VOID(identifier()); break; }
        add(Tok::or_);
        break;
      case '*': add(Tok::star); break;
      case ' ': case '\r': case '\t': case '\n': break;
      case '\'': AK_TRY_VOID(string()); break;
      default:
        if (c >= '0' && c <= '9') AK_TRY_VOID(number());
        else AK_TRY_VOID(identifier());
      }
    }
    Token eof;
    eof.type = Tok::eof;
    eof.column = m_start + 1;
    m_tokens.push_back(std::move(eof));
    return std::move(m_tokens);
  }

private:
  Tok previous() const { return m_tokens.empty() ? Tok::eof : m_tokens.back().type; }
  bool match(char c) {
    if (m_offset < m_text.size() && m_text[m_offset] == c) { ++m_offset; return true; }
    return false;
  }
  void add(Tok type, Value value = nullptr) {
    Token t;
    t.type = type;
    t.lexeme = std::string(m_text.substr(m_start, m_offset - m_start));
    t.value = std::move(value);
    t.column = m_start + 1;
    m_tokens.push_back(std::move(t));
  }
  Error unexpected(std::string_view symbol) const {
    return Error{ErrorCode::invalid_argument,
                 "Unexpected symbol: '" + std::string(symbol) + "' at column " + std::to_string(m_start + 1)};
  }

  Result<> number() {
    while (m_offset < m_text.size() && (!is_boundary(m_text[m_offset]) || m_text[m_offset] == '.')) ++m_offset;
    std::string_view lexeme = m_text.substr(m_start, m_offset - m_start);
    double v = parse_js_number(lexeme);
    if (std::isnan(v)) return fail(unexpected(lexeme));
    add(Tok::number, Value(v));
    return ok();
  }

  Result<> string() {
    std::string value;
    while (m_offset < m_text.size()) {
      char c = m_text[m_offset];
      if (c == '\'') {
        if (m_offset + 1 < m_text.size() && m_text[m_offset + 1] == '\'') {
          value += '\'';
          m_offset += 2;
          continue;
        }
        break;
      }
      value += c;
      ++m_offset;
    }
    if (m_offset >= m_text.size()) return fail(unexpected(m_text.substr(m_start)));
    ++m_offset;  // closing quote
    add(Tok::string, Value(std::move(value)));
    return ok();
  }

  Result<> identifier() {
    while (m_offset < m_text.size() && !is_boundary(m_text[m_offset])) ++m_offset;
    std::string_view lexeme = m_text.substr(m_start, m_offset - m_start);
    Tok type = Tok::identifier;
    Value value;
    if (previous() != Tok::dot) {
      if (lexeme == "true") type = Tok::true_;
      else if (lexeme == "false") type = Tok::false_;
      else if (lexeme == "null") type = Tok::null;
      else if (lexeme == "NaN") { type = Tok::number; value = NAN; }
      else if (lexeme == "Infinity") { type = Tok::number; value = INFINITY; }
    }
    if (!is_legal_identifier(lexeme)) return fail(unexpected(lexeme));
    add(type, std::move(value));
    return ok();
  }

  std::string_view m_text;
  std::size_t m_start = 0, m_offset = 0;
  std::vector<Token> m_tokens;
};

} // namespace

Result<std::vector<Token>> lex(std::string_view text) { return Lexer(text).run(); }

} // namespace akbuild::workflow::expr
