#pragma once
// Tokens and syntax tree of the ${{ }} expression language (internal to runner/workflow).
//
// Grammar (precedence low → high), as GitHub's parsers read it:
//   expr    := or
//   or      := and ("||" and)*
//   and     := eq ("&&" eq)*
//   eq      := cmp (("==" | "!=") cmp)*
//   cmp     := unary (("<" | "<=" | ">" | ">=") unary)*
//   unary   := "!" unary | index
//   index   := call ( "[" (expr | "*") "]" | "." (IDENT | "*") )*   -- only after (), call, context
//   call    := IDENT "(" [expr ("," expr)*] ")" | IDENT | primary
//   primary := null | true | false | NUMBER | STRING | NaN | Infinity | "(" expr ")"
// Numbers: decimal with fraction/exponent, leading sign, 0x/0o/0b. Strings: '...' with '' for '.

#include <memory>
#include <string>
#include <vector>

#include "runner/core/result.hh"
#include "runner/workflow/expr/expr_value.hh"

namespace akbuild::workflow::expr {

enum class Tok {
  lparen, rparen, lbracket, rbracket, comma, dot, bang, bang_equal, equal_equal, greater,
  greater_equal, less, less_equal, and_, or_, star, number, string, identifier, true_, false_,
  null, eof,
};

struct Token {
  Tok type = Tok::eof;
  std::string lexeme;
  Value value;          // numbers and strings
  std::size_t column = 0;  // 1-based offset of the first character in the expression
};

// The tokens of `text`, or invalid_argument naming the offending symbol and its column.
Result<std::vector<Token>> lex(std::string_view text);

struct Node {
  enum class Kind { literal, context, index, call, negate, binary, logical, grouping };
  Kind kind = Kind::literal;
  Value literal;                              // literal
  std::string name;                           // context name, function name (lower case)
  Tok op = Tok::eof;                          // binary / logical operator
  bool star = false;                          // index by `*`
  std::vector<std::unique_ptr<Node>> args;    // operands; index: [object, index-or-nothing]
};

// The syntax tree of `text`, or invalid_argument "... at column N". `contexts` are the known
// named values (lower case); unknown ones and unknown functions are syntax errors.
Result<std::unique_ptr<Node>> parse(std::string_view text, const std::vector<std::string>& contexts);

} // namespace akbuild::workflow::expr
