#include "runner/workflow/matrix.hh"

namespace akbuild::workflow {

namespace {

bool same(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  return a == b;
}

// Whether every key of `entry` present in `combo` has the same value there.
bool matches(const Value& combo, const Value& entry) {
  for (const auto& [k, v] : entry.items())
    if (!combo.contains(k) || !same(combo[k], v)) return false;
  return true;
}

// GitHub's limit on the jobs one matrix may generate.
constexpr std::size_t k_max_combinations = 256;

Error too_many() {
  return Error{ErrorCode::invalid_argument,
               "strategy.matrix makes more than " + std::to_string(k_max_combinations) + " combinations"};
}

} // namespace

Result<std::vector<Value>> expand_matrix(const Value& matrix) {
  if (matrix.is_null()) return std::vector<Value>{Value::object()};
  if (!matrix.is_object()) return fail(ErrorCode::invalid_argument, "strategy.matrix must be a map, got " + to_json_text(matrix));
  std::vector<Value> combos{Value::object()};
  std::vector<std::string> dims;
  for (const auto& [key, values] : matrix.items()) {
    if (key == "include" || key == "exclude") continue;
    if (!values.is_array())
      return fail(ErrorCode::invalid_argument, "strategy.matrix." + key + " must be a list, got " + to_json_text(values));
    dims.push_back(key);
    if (!values.empty() && combos.size() > k_max_combinations / values.size()) return fail(too_many());
    std::vector<Value> next;
    for (const auto& c : combos)
      for (const auto& v : values) {
        Value n = c;
        n[key] = v;
        next.push_back(std::move(n));
      }
    combos = std::move(next);
  }
  if (dims.empty()) combos.clear();
  if (auto ex = matrix.find("exclude"); ex != matrix.end() && ex->is_array()) {
    std::vector<Value> kept;
    for (auto& c : combos) {
      bool excluded = false;
      for (const auto& e : *ex) excluded = excluded || (e.is_object() && matches(c, e));
      if (!excluded) kept.push_back(std::move(c));
    }
    combos = std::move(kept);
  }
  if (auto inc = matrix.find("include"); inc != matrix.end()) {
    if (!inc->is_array()) return fail(ErrorCode::invalid_argument, "strategy.matrix.include must be a list");
    std::vector<Value> originals = combos;  // include entries never match added values
    std::vector<Value> extra;
    for (const auto& entry : *inc) {
      if (!entry.is_object()) return fail(ErrorCode::invalid_argument, "strategy.matrix.include entries must be maps");
      bool applied = false;
      for (std::size_t i = 0; i < originals.size(); ++i) {
        bool compatible = true;
        for (const auto& [k, v] : entry.items())
          if (originals[i].contains(k) && !same(originals[i][k], v)) compatible = false;
        if (!compatible) continue;
        applied = true;
        for (const auto& [k, v] : entry.items()) combos[i][k] = v;
      }
      if (!applied) extra.push_back(entry);
    }
    for (auto& e : extra) combos.push_back(std::move(e));
    if (combos.size() > k_max_combinations) return fail(too_many());
  }
  return combos;
}

std::vector<Value> filter_matrix(const std::vector<Value>& combos,
                                 const std::map<std::string, std::set<std::string>>& filter) {
  std::vector<Value> out;
  for (const auto& c : combos) {
    bool keep = true;
    for (const auto& [k, v] : c.items()) {
      auto allowed = filter.find(k);
      if (allowed != filter.end() && !allowed->second.count(to_display_string(v))) keep = false;
    }
    if (keep) out.push_back(c);
  }
  return out;
}

std::string matrix_label(const Value& combo) {
  // In the order of the sorted keys, as Forgejo names matrix jobs.
  std::map<std::string, const Value*> sorted;
  for (const auto& [k, v] : combo.items()) sorted[k] = &v;
  std::string out;
  for (const auto& [k, v] : sorted) {
    if (!out.empty()) out += ", ";
    out += is_primitive(*v) ? to_display_string(*v) : to_json_text(*v);
  }
  return out;
}

} // namespace akbuild::workflow
