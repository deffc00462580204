#include "runner/workflow/expr_check.hh"

#include "runner/workflow/expr/expression.hh"

namespace akbuild::workflow {

namespace {

class Checker {
public:
  Checker(std::string_view source, const std::string& file) : m_source(source), m_file(file) {}

  // Every string value below `n`; keys are names, not templates.
  Result<> values(const YAML::Node& n) const {
    if (n.IsScalar()) return scalar(n, false);
    if (n.IsSequence())
      for (const auto& item : n) AK_TRY_VOID(values(item));
    if (n.IsMap())
      for (const auto& kv : n) AK_TRY_VOID(values(kv.second));
    return ok();
  }

  // A job or a step: its `if:` is a condition, the rest values.
  Result<> with_condition(const YAML::Node& n) const {
    if (!n.IsMap()) return values(n);
    for (const auto& kv : n) {
      if (kv.first.Scalar() == "if" && kv.second.IsScalar()) AK_TRY_VOID(scalar(kv.second, true));
      else if (kv.first.Scalar() == "steps" && kv.second.IsSequence())
        for (const auto& step : kv.second) AK_TRY_VOID(with_condition(step));
      else AK_TRY_VOID(values(kv.second));
    }
    return ok();
  }

private:
  Result<> scalar(const YAML::Node& n, bool condition) const {
    const std::string& text = n.Scalar();
    if (!condition && text.find("${{") == std::string::npos) return ok();
    std::size_t offset = 0;
    auto checked = condition ? check_condition(text, &offset) : check_template(text, &offset);
    if (checked) return ok();
    return fail(ErrorCode::invalid_argument, where(n, text, offset) + ": " + checked.error().message);
  }

  // "file:line:column" of text[offset]: found in the source from the value's start (a block
  // scalar's lines or a quoted one's escapes keep the value's own offsets from applying).
  std::string where(const YAML::Node& n, const std::string& text, std::size_t offset) const {
    const YAML::Mark m = n.Mark();
    std::size_t at = std::string_view::npos;
    std::string_view piece = std::string_view(text).substr(offset);
    piece = piece.substr(0, piece.find('\n'));
    if (m.pos >= 0 && static_cast<std::size_t>(m.pos) <= m_source.size() && !piece.empty())
      at = m_source.find(piece, static_cast<std::size_t>(m.pos));
    if (at == std::string_view::npos) {
      if (m.line < 0) return m_file;
      return m_file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
    }
    std::size_t nl = m_source.rfind('\n', at);
    std::size_t line_start = nl == std::string_view::npos ? 0 : nl + 1;
    std::size_t line = 1;
    for (std::size_t i = 0; i < line_start; ++i) line += m_source[i] == '\n';
    return m_file + ":" + std::to_string(line) + ":" + std::to_string(at - line_start + 1);
  }

  std::string_view m_source;
  const std::string& m_file;
};

} // namespace

Result<> check_workflow_expressions(const YAML::Node& root, std::string_view source, const std::string& file) {
  if (!root.IsMap()) return ok();
  Checker c(source, file);
  for (const auto& kv : root) {
    const std::string& key = kv.first.Scalar();
    if (key == "on" || key == "true") continue;  // `on` read by a YAML 1.1 reader is true
    if (key == "jobs" && kv.second.IsMap()) {
      for (const auto& job : kv.second) AK_TRY_VOID(c.with_condition(job.second));
      continue;
    }
    AK_TRY_VOID(c.values(kv.second));
  }
  return ok();
}

} // namespace akbuild::workflow
