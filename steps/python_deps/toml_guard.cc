#include "steps/python_deps/toml_guard.hh"

#include <fmt/format.h>

namespace akbuild::steps {

Result<> check_toml_text(std::string_view text, const std::string& where) {
  std::size_t line = 1, column = 1;
  // What the scanner is inside: a basic ("…") or literal ('…') string, their multi-line forms
  // (""" and '''), or a comment (to the end of the line).
  enum class In { code, basic, literal, multi_basic, multi_literal, comment } in = In::code;
  // A quote opens a string only where a key or a value starts: at a line's start or after one of
  // `=[,{.` (spaces between). Elsewhere it is part of a malformed token, as the parser sees it,
  // and what follows is checked as code.
  bool token_start = true;
  // A byte-order mark may open the file (toml++ skips it).
  std::size_t start = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;
  for (std::size_t i = start; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    auto starts = [&](std::string_view s) { return text.substr(i, s.size()) == s; };
    if (c == '\n') {
      ++line;
      column = 1;
      // A single-line string or a comment ends at the line's end (an unterminated string is the
      // parser's error to report).
      if (in == In::comment || in == In::basic || in == In::literal) in = In::code;
      if (in == In::code) token_start = true;
      continue;
    }
    switch (in) {
    case In::code:
      if (c >= 0x80)
        return fail(ErrorCode::invalid_argument,
                    fmt::format("{}:{}:{}: non-ASCII character outside a string or comment", where, line, column));
      if (c == '#') in = In::comment;
      else if (token_start && starts("\"\"\"")) { in = In::multi_basic; i += 2; column += 2; }
      else if (token_start && starts("'''")) { in = In::multi_literal; i += 2; column += 2; }
      else if (token_start && c == '"') in = In::basic;
      else if (token_start && c == '\'') in = In::literal;
      if (c != ' ' && c != '\t' && c != '\r') token_start = c == '=' || c == '[' || c == ',' || c == '{' || c == '.';
      break;
    case In::basic:
    case In::multi_basic:
      if (c == '\\' && i + 1 < text.size() && text[i + 1] != '\n') { ++i; ++column; }
      else if (in == In::basic && c == '"') { in = In::code; token_start = false; }
      else if (in == In::multi_basic && starts("\"\"\"")) {
        // Up to two quotes may end the content right before the closing delimiter.
        while (i + 3 < text.size() && text[i + 3] == '"') { ++i; ++column; }
        in = In::code;
        token_start = false;
        i += 2;
        column += 2;
      }
      break;
    case In::literal:
      if (c == '\'') { in = In::code; token_start = false; }
      break;
    case In::multi_literal:
      if (starts("'''")) {
        while (i + 3 < text.size() && text[i + 3] == '\'') { ++i; ++column; }
        in = In::code;
        token_start = false;
        i += 2;
        column += 2;
      }
      break;
    case In::comment:
      break;
    }
    // Columns count characters: UTF-8 continuation bytes do not start one.
    if ((c & 0xC0) != 0x80) ++column;
  }
  return ok();
}

} // namespace akbuild::steps
