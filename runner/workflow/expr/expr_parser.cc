// Recursive descent over expr_ast.hh's grammar, with the reference parser's error kinds and a
// nesting limit of 50 (deeper expressions are rejected rather than risking the stack).

#include <algorithm>
#include <limits>

#include "runner/workflow/expr/expr_ast.hh"
#include "runner/workflow/expr/expr_functions.hh"

namespace akbuild::workflow::expr {

namespace {

constexpr int k_max_depth = 50;

std::string token_text(const Token& t) {
  if (t.type == Tok::eof) return "EOF";
  if (t.type == Tok::string) return t.value.get<std::string>();
  return t.lexeme;
}

class Parser {
public:
  Parser(std::vector<Token> tokens, const std::vector<std::string>& contexts)
      : m_tokens(std::move(tokens)), m_contexts(contexts) {}

  Result<std::unique_ptr<Node>> run() {
    if (at_end()) return fail(ErrorCode::invalid_argument, "empty expression");
    auto e = AK_TRY(expression());
    if (!at_end()) return fail(error("Unexpected symbol", peek()));
    return e;
  }

private:
  using NodeResult = Result<std::unique_ptr<Node>>;

  Error error(std::string_view what, const Token& t) const {
    return Error{ErrorCode::invalid_argument,
                 std::string(what) + ": '" + token_text(t) + "' at column " + std::to_string(t.column)};
  }

  struct Depth {
    explicit Depth(int& d) : m_d(d) { ++m_d; }
    ~Depth() { --m_d; }
    Depth(const Depth&) = delete;
    Depth& operator=(const Depth&) = delete;
    int& m_d;
  };
  Result<> enter() {
    if (m_depth > k_max_depth) return fail(error("Exceeded max expression depth 50", peek()));
    return ok();
  }

  NodeResult expression() {
    Depth d(m_depth);
    AK_TRY_VOID(enter());
    return logical(Tok::or_);
  }

  // `||` over `&&` operands, `&&` over equality operands.
  NodeResult logical(Tok op) {
    auto operand = [&]() { return op == Tok::or_ ? logical(Tok::and_) : equality(); };
    auto first = AK_TRY(operand());
    if (!check(op)) return first;
    Depth d(m_depth);
    AK_TRY_VOID(enter());
    auto node = std::make_unique<Node>();
    node->kind = Node::Kind::logical;
    node->op = op;
    node->args.push_back(std::move(first));
    while (match(op)) node->args.push_back(AK_TRY(operand()));
    return node;
  }

  NodeResult equality() {
    auto left = AK_TRY(comparison());
    while (check(Tok::equal_equal) || check(Tok::bang_equal)) {
      Tok op = next().type;
      left = binary(std::move(left), op, AK_TRY(comparison()));
    }
    return left;
  }

  NodeResult comparison() {
    auto left = AK_TRY(unary());
    while (check(Tok::less) || check(Tok::less_equal) || check(Tok::greater) || check(Tok::greater_equal)) {
      Tok op = next().type;
      left = binary(std::move(left), op, AK_TRY(unary()));
    }
    return left;
  }

  static std::unique_ptr<Node> binary(std::unique_ptr<Node> l, Tok op, std::unique_ptr<Node> r) {
    auto n = std::make_unique<Node>();
    n->kind = Node::Kind::binary;
    n->op = op;
    n->args.push_back(std::move(l));
    n->args.push_back(std::move(r));
    return n;
  }

  NodeResult unary() {
    if (match(Tok::bang)) {
      Depth d(m_depth);
      AK_TRY_VOID(enter());
      auto n = std::make_unique<Node>();
      n->kind = Node::Kind::negate;
      n->args.push_back(AK_TRY(unary()));
      return n;
    }
    return index();
  }

  NodeResult index() {
    auto expr = AK_TRY(call());
    if (expr->kind != Node::Kind::grouping && expr->kind != Node::Kind::call && expr->kind != Node::Kind::context)
      return expr;
    int entered = 0;
    for (;;) {
      auto n = std::make_unique<Node>();
      n->kind = Node::Kind::index;
      if (match(Tok::lbracket)) {
        if (match(Tok::star)) {
          n->star = true;
        } else {
          auto idx = expression();
          if (!idx) { m_depth -= entered; return idx; }
          n->args.push_back(nullptr);
          n->args.back() = std::move(*idx);
        }
        if (!match(Tok::rbracket)) { m_depth -= entered; return fail(error("Unexpected symbol", peek())); }
      } else if (match(Tok::dot)) {
        if (match(Tok::identifier)) {
          auto lit = std::make_unique<Node>();
          lit->literal = previous().lexeme;
          n->args.push_back(std::move(lit));
        } else if (match(Tok::star)) {
          n->star = true;
        } else {
          m_depth -= entered;
          return fail(error("Unexpected symbol", peek()));
        }
      } else {
        break;
      }
      ++m_depth;
      ++entered;
      if (m_depth > k_max_depth) { m_depth -= entered; return fail(error("Exceeded max expression depth 50", peek())); }
      n->args.insert(n->args.begin(), std::move(expr));
      expr = std::move(n);
    }
    m_depth -= entered;
    return expr;
  }

  NodeResult call() {
    if (!check(Tok::identifier)) return primary();
    const Token ident = next();
    std::string lower = lower_ascii(ident.lexeme);
    if (!match(Tok::lparen)) {
      if (std::find(m_contexts.begin(), m_contexts.end(), lower) == m_contexts.end())
        return fail(error("Unrecognized named-value", ident));
      auto n = std::make_unique<Node>();
      n->kind = Node::Kind::context;
      n->name = lower;
      return n;
    }
    auto n = std::make_unique<Node>();
    n->kind = Node::Kind::call;
    n->name = lower;
    while (!match(Tok::rparen)) {
      n->args.push_back(AK_TRY(expression()));
      if (!check(Tok::rparen) && !match(Tok::comma)) return fail(error("Unexpected symbol", peek()));
    }
    const FunctionInfo* f = find_function(lower);
    if (!f) return fail(error("Unrecognized function", ident));
    std::size_t count = n->args.size();
    if (count < f->min_args) return fail(error("Too few parameters supplied", ident));
    if (count > f->max_args) return fail(error("Too many parameters supplied", ident));
    if (lower == "case" && count % 2 == 0)
      return fail(error("Even number of parameters supplied, requires an odd number of parameters", ident));
    return n;
  }

  NodeResult primary() {
    auto lit = [&](Value v) {
      auto n = std::make_unique<Node>();
      n->literal = std::move(v);
      return n;
    };
    if (match(Tok::false_)) return lit(false);
    if (match(Tok::true_)) return lit(true);
    if (match(Tok::null)) return lit(nullptr);
    if (match(Tok::number) || match(Tok::string)) return lit(previous().value);
    if (match(Tok::lparen)) {
      auto inner = AK_TRY(expression());
      if (at_end()) return fail(error("Unexpected end of expression", previous()));
      if (!match(Tok::rparen)) return fail(error("Unexpected symbol", peek()));
      auto n = std::make_unique<Node>();
      n->kind = Node::Kind::grouping;
      n->args.push_back(std::move(inner));
      return n;
    }
    if (at_end()) return fail(error("Unexpected end of expression", previous()));
    return fail(error("Unexpected symbol", peek()));
  }

  bool at_end() const { return peek().type == Tok::eof; }
  const Token& peek() const { return m_tokens[m_offset]; }
  const Token& previous() const { return m_tokens[m_offset > 0 ? m_offset - 1 : 0]; }
  bool check(Tok t) const { return !at_end() && peek().type == t; }
  const Token& next() {
    if (!at_end()) ++m_offset;
    return previous();
  }
  bool match(Tok t) {
    if (!check(t)) return false;
    ++m_offset;
    return true;
  }

  std::vector<Token> m_tokens;
  const std::vector<std::string>& m_contexts;
  std::size_t m_offset = 0;
  int m_depth = 0;
};

} // namespace

Result<std::unique_ptr<Node>> parse(std::string_view text, const std::vector<std::string>& contexts) {
  auto tokens = AK_TRY(lex(text));
  return Parser(std::move(tokens), contexts).run();
}

} // namespace akbuild::workflow::expr
