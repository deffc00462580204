#pragma once
// The ${{ }} expression language of GitHub and Forgejo Actions: parse once, evaluate against
// contexts. `github` is also reachable as `forgejo`, `gitea` and `forge` (Forgejo's runner
// aliases). Status functions read EvalContext::status; hashFiles reads EvalContext::workspace.
//
// Usage:
//   auto e = AK_TRY(Expression::parse("contains(github.ref, 'main') && env.CI"));
//   Value v = AK_TRY(e.evaluate(ctx));
//   std::string s = AK_TRY(interpolate_string("v${{ matrix.version }}", ctx));

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runner/core/result.hh"
#include "runner/workflow/expr/expr_value.hh"

namespace akbuild::workflow {

namespace expr { struct Node; }

// What success(), failure() and cancelled() see: for a step, whether an earlier step of its job
// failed; for a job, whether one of its needs failed.
struct StatusState {
  bool failed = false;
  bool cancelled = false;
};

struct EvalContext {
  Value contexts = Value::object();     // {"github": {...}, "env": {...}, "matrix": {...}, ...}
  StatusState status;
  std::filesystem::path workspace;      // root of hashFiles() globs
};

// The named values an expression may use: github, forgejo, gitea, forge, env, vars, secrets,
// inputs, matrix, needs, steps, job, jobs, runner, strategy.
const std::vector<std::string>& context_names();

class Expression {
public:
  // The parsed expression, or invalid_argument "<fault>: '<symbol>' at column N".
  static Result<Expression> parse(std::string_view text);
  // The value; failed_precondition when a function rejects its arguments (bad format string,
  // invalid JSON for fromJSON, a hashFiles path outside the workspace).
  Result<Value> evaluate(const EvalContext& ctx) const;
  // Whether success(), failure(), always() or cancelled() is called anywhere in it.
  bool uses_status_function() const;
  const std::string& text() const { return m_text; }

private:
  std::shared_ptr<const expr::Node> m_root;
  std::string m_text;
};

// Parses and evaluates in one go.
Result<Value> evaluate(std::string_view text, const EvalContext& ctx);

// A string with `${{ expr }}` parts: when the whole (trimmed) string is one expression its value
// is returned as it is (so `${{ fromJSON(...) }}` yields an array); otherwise the parts are
// replaced by their string coercion (objects and arrays as JSON) and a string is returned.
Result<Value> interpolate(std::string_view text, const EvalContext& ctx);
// interpolate() coerced to a string.
Result<std::string> interpolate_string(std::string_view text, const EvalContext& ctx);
// Interpolates every string inside a YAML-like JSON value, as act evaluates a YAML node: map
// keys too (`${{ insert }}` merges the map it names), and an array item that is a string giving
// an array adds that array's items in its place.
Result<Value> interpolate_value(const Value& value, const EvalContext& ctx);

// Parses every `${{ }}` of a template without evaluating it; on the first that is unclosed or
// malformed, invalid_argument with `*offset` set to where its `${{` is in `text`. `contexts`,
// when given, are the only named values it may use (where a schema limits them); another one is
// an "Unrecognized named-value" error.
Result<> check_template(std::string_view text, std::size_t* offset,
                        const std::vector<std::string>* contexts = nullptr);
// The same for an `if:` condition (where `${{ }}` is optional); `*offset` is where the faulty
// expression starts.
Result<> check_condition(std::string_view condition, std::size_t* offset);

// An `if:` condition: `${{ }}` optional; without a status function it means
// `success() && (cond)`; an empty condition is `success()`.
Result<bool> evaluate_condition(std::string_view condition, const EvalContext& ctx);

} // namespace akbuild::workflow
