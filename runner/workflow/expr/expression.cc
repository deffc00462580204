#include "runner/workflow/expr/expression.hh"

#include <cmath>
#include <optional>

#include "runner/workflow/expr/expr_ast.hh"
#include "runner/workflow/expr/expr_functions.hh"

namespace akbuild::workflow {

namespace {

using expr::Node;
using expr::Tok;

// A value during evaluation: either a reference into the contexts (so that `==` on objects and
// arrays can compare identity, as the language defines) or an owned temporary. `filtered` marks
// the result of a `*` index, whose further indexing applies to each element.
struct Val {
  std::shared_ptr<const Value> owner;
  const Value* p = nullptr;
  bool filtered = false;

  static Val own(Value v, bool filtered = false) {
    auto sp = std::make_shared<const Value>(std::move(v));
    const Value* raw = sp.get();
    return Val{std::move(sp), raw, filtered};
  }
  static Val ref(const Value* v) { return Val{nullptr, v, false}; }
  const Value& operator*() const { return *p; }
};

const Value k_null = nullptr;

class Evaluator {
public:
  explicit Evaluator(const EvalContext& ctx) : m_ctx(ctx) {}

  Result<Val> eval(const Node& n) {
    switch (n.kind) {
    case Node::Kind::literal: return Val::ref(&n.literal);
    case Node::Kind::grouping: return eval(*n.args[0]);
    case Node::Kind::context: return context(n.name);
    case Node::Kind::negate: {
      auto v = AK_TRY(eval(*n.args[0]));
      return Val::own(Value(!truthy(*v)));
    }
    case Node::Kind::logical: {
      Val result;
      for (const auto& arg : n.args) {
        result = AK_TRY(eval(*arg));
        bool t = truthy(*result);
        if ((n.op == Tok::and_ && !t) || (n.op == Tok::or_ && t)) break;
      }
      result.filtered = false;
      return result;
    }
    case Node::Kind::binary: {
      auto l = AK_TRY(eval(*n.args[0]));
      auto r = AK_TRY(eval(*n.args[1]));
      bool eq = equals(l, r);
      bool result = false;
      switch (n.op) {
      case Tok::equal_equal: result = eq; break;
      case Tok::bang_equal: result = !eq; break;
      case Tok::greater: result = loose_greater(*l, *r); break;
      case Tok::greater_equal: result = eq || loose_greater(*l, *r); break;
      case Tok::less: result = loose_less(*l, *r); break;
      case Tok::less_equal: result = eq || loose_less(*l, *r); break;
      default: break;
      }
      return Val::own(Value(result));
    }
    case Node::Kind::index: return index(n);
    case Node::Kind::call: {
      std::vector<Value> args;
      for (const auto& a : n.args) args.push_back(*AK_TRY(eval(*a)));
      return Val::own(AK_TRY(expr::call_function(n.name, args, m_ctx)));
    }
    }
    return Val::ref(&k_null);
  }

private:
  static bool equals(const Val& l, const Val& r) {
    if (!is_primitive(*l) || !is_primitive(*r))
      return l.p == r.p;
    return loose_equals(*l, *r);
  }

  Result<Val> context(const std::string& name) {
    if (const Value* v = find_member(m_ctx.contexts, name)) return Val::ref(v);
    if (name == "forgejo" || name == "gitea" || name == "forge")
      if (const Value* v = find_member(m_ctx.contexts, "github")) return Val::ref(v);
    return Val::ref(&k_null);
  }

  // The index as the reference evaluator reads it: a string key for objects, a non-negative
  // integer (floor of the number) for arrays.
  struct Idx {
    bool star = false;
    std::optional<std::string> str;
    std::optional<std::size_t> num;
  };

  Result<Val> index(const Node& n) {
    Idx idx;
    idx.star = n.star;
    if (!n.star) {
      auto iv = AK_TRY(eval(*n.args[1]));
      if (is_primitive(*iv)) idx.str = to_display_string(*iv);
      double f = to_number(*iv);
      if (std::isfinite(f) && f >= 0) idx.num = static_cast<std::size_t>(std::floor(f));
    }
    auto obj = AK_TRY(eval(*n.args[0]));
    const Value& o = *obj;
    if (o.is_array()) {
      if (obj.filtered) {
        Value out = Value::array();
        for (const auto& item : o) {
          if (item.is_object()) {
            if (idx.star) for (const auto& [k, v] : item.items()) out.push_back(v);
            else if (idx.str) if (const Value* v = find_member(item, *idx.str)) out.push_back(*v);
          } else if (item.is_array()) {
            if (idx.star) for (const auto& v : item) out.push_back(v);
            else if (idx.num && *idx.num < item.size()) out.push_back(item[*idx.num]);
          }
        }
        return Val::own(std::move(out), true);
      }
      if (idx.star) return Val::own(o, true);
      if (idx.num && *idx.num < o.size()) return Val{obj.owner, &o[*idx.num], false};
      return Val::ref(&k_null);
    }
    if (o.is_object()) {
      if (idx.star) {
        Value out = Value::array();
        for (const auto& [k, v] : o.items()) out.push_back(v);
        return Val::own(std::move(out), true);
      }
      if (idx.str)
        if (const Value* v = find_member(o, *idx.str)) return Val{obj.owner, v, false};
      return Val::ref(&k_null);
    }
    if (idx.star) return Val::own(Value::array(), true);
    return Val::ref(&k_null);
  }

  const EvalContext& m_ctx;
};

bool uses_status(const Node& n) {
  if (n.kind == Node::Kind::call &&
      (n.name == "success" || n.name == "failure" || n.name == "always" || n.name == "cancelled"))
    return true;
  for (const auto& a : n.args)
    if (a && uses_status(*a)) return true;
  return false;
}

// The `${{ ... }}` parts of a string: literal text and expression text alternately.
struct Part {
  bool expression = false;
  std::string text;
  std::size_t offset = 0;  // of the text, or of an expression's `${{`
};

Result<std::vector<Part>> split_template(std::string_view s, std::size_t* unclosed_at = nullptr) {
  std::vector<Part> parts;
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::size_t open = s.find("${{", pos);
    if (open == std::string_view::npos) {
      parts.push_back({false, std::string(s.substr(pos)), pos});
      break;
    }
    if (open > pos) parts.push_back({false, std::string(s.substr(pos, open - pos)), pos});
    // The closing braces are the first "}}" outside a quoted string.
    std::size_t i = open + 3;
    bool in_string = false;
    std::size_t close = std::string_view::npos;
    for (; i < s.size(); ++i) {
      if (s[i] == '\'') in_string = !in_string;
      else if (!in_string && s[i] == '}' && i + 1 < s.size() && s[i + 1] == '}') { close = i; break; }
    }
    if (close == std::string_view::npos) {
      if (unclosed_at) *unclosed_at = open;
      return fail(ErrorCode::invalid_argument, "unclosed '${{' at offset " + std::to_string(open + 1) + " in '" + std::string(s) + "'");
    }
    parts.push_back({true, std::string(s.substr(open + 3, close - open - 3)), open});
    pos = close + 2;
  }
  return parts;
}

std::string trim(std::string_view s) {
  std::size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string_view::npos ? std::string() : std::string(s.substr(b, e - b + 1));
}

} // namespace

const std::vector<std::string>& context_names() {
  static const std::vector<std::string> names{"github", "forgejo", "gitea", "forge", "env", "vars",
                                              "secrets", "inputs", "matrix", "needs", "steps", "job",
                                              "jobs", "runner", "strategy"};
  return names;
}

Result<Expression> Expression::parse(std::string_view text) {
  auto root = expr::parse(text, context_names());
  if (!root) return fail(root.error().context("expression '" + std::string(text) + "'"));
  Expression e;
  e.m_root = std::shared_ptr<const Node>(std::move(*root));
  e.m_text = std::string(text);
  return e;
}

Result<Value> Expression::evaluate(const EvalContext& ctx) const {
  Evaluator ev(ctx);
  auto v = ev.eval(*m_root);
  if (!v) return fail(v.error().context("expression '" + m_text + "'"));
  return Value(**v);
}

bool Expression::uses_status_function() const { return uses_status(*m_root); }

Result<Value> evaluate(std::string_view text, const EvalContext& ctx) {
  auto e = AK_TRY(Expression::parse(text));
  return e.evaluate(ctx);
}

Result<Value> interpolate(std::string_view text, const EvalContext& ctx) {
  auto parts = AK_TRY(split_template(text));
  if (parts.size() == 1 && parts[0].expression) return evaluate(parts[0].text, ctx);
  bool any = false;
  for (const auto& p : parts) any = any || p.expression;
  if (!any) return Value(std::string(text));
  std::string out;
  for (const auto& p : parts) {
    if (!p.expression) { out += p.text; continue; }
    Value v = AK_TRY(evaluate(p.text, ctx));
    out += is_primitive(v) ? to_display_string(v) : to_json_text(v, 2);
  }
  return Value(out);
}

Result<std::string> interpolate_string(std::string_view text, const EvalContext& ctx) {
  Value v = AK_TRY(interpolate(text, ctx));
  return is_primitive(v) ? to_display_string(v) : to_json_text(v, 2);
}

namespace {

// `${{ insert }}` as a map key: GitHub's (undocumented, act honours it) merge of the value's map
// into the map holding the key.
bool is_insert_directive(std::string_view key) {
  std::string t = trim(key);
  if (!t.starts_with("${{") || !t.ends_with("}}")) return false;
  return trim(std::string_view(t).substr(3, t.size() - 5)) == "insert";
}

} // namespace

Result<Value> interpolate_value(const Value& value, const EvalContext& ctx) {
  if (value.is_string()) return interpolate(value.get_ref<const std::string&>(), ctx);
  if (value.is_array()) {
    Value out = Value::array();
    for (const auto& item : value) {
      Value v = AK_TRY(interpolate_value(item, ctx));
      if (item.is_string() && v.is_array()) {
        for (auto& spliced : v) out.push_back(std::move(spliced));
        continue;
      }
      out.push_back(std::move(v));
    }
    return out;
  }
  if (value.is_object()) {
    Value out = Value::object();
    for (const auto& [k, item] : value.items()) {
      Value v = AK_TRY(interpolate_value(item, ctx));
      if (!is_insert_directive(k)) {
        Value key = AK_TRY(interpolate(k, ctx));
        out[key.is_string() ? key.get<std::string>() : to_display_string(key)] = std::move(v);
        continue;
      }
      if (!v.is_object())
        return fail(ErrorCode::invalid_argument, "'" + k + "' needs a map to insert, got " + to_json_text(v));
      for (auto& [ik, iv] : v.items()) out[ik] = iv;
    }
    return out;
  }
  return value;
}

Result<> check_template(std::string_view text, std::size_t* offset, const std::vector<std::string>* contexts) {
  *offset = 0;
  auto parts = AK_TRY(split_template(text, offset));
  for (const auto& p : parts) {
    if (!p.expression) continue;
    *offset = p.offset;
    if (!contexts) {
      if (auto e = Expression::parse(p.text); !e) return fail(e.error());
    } else if (auto root = expr::parse(p.text, *contexts); !root) {
      return fail(root.error().context("expression '" + p.text + "'"));
    }
  }
  return ok();
}

Result<> check_condition(std::string_view condition, std::size_t* offset) {
  std::string text = trim(condition);
  if (text.find("${{") != std::string::npos) return check_template(condition, offset);
  *offset = condition.find_first_not_of(" \t\r\n");
  if (*offset == std::string_view::npos) *offset = 0;
  if (text.empty()) return ok();
  if (auto e = Expression::parse(text); !e) return fail(e.error());
  return ok();
}

Result<bool> evaluate_condition(std::string_view condition, const EvalContext& ctx) {
  std::string text = trim(condition);
  if (text.size() >= 5 && text.rfind("${{", 0) == 0 && text.compare(text.size() - 2, 2, "}}") == 0) {
    auto parts = AK_TRY(split_template(text));
    if (parts.size() == 1 && parts[0].expression) text = trim(parts[0].text);
    else return truthy(AK_TRY(interpolate(text, ctx)));
  }
  if (text.empty()) return !ctx.status.failed && !ctx.status.cancelled;
  auto e = AK_TRY(Expression::parse(text));
  if (!e.uses_status_function() && (ctx.status.failed || ctx.status.cancelled)) return false;
  return truthy(AK_TRY(e.evaluate(ctx)));
}

} // namespace akbuild::workflow
