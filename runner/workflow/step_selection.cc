#include "runner/workflow/step_selection.hh"

#include <map>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace akbuild::workflow {

namespace {

std::string trim(std::string_view s) {
  std::size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string_view::npos ? std::string() : std::string(s.substr(b, e - b + 1));
}

// The step ids a `deps:` value names; a value that is not a list names none (the engine reports it).
std::vector<std::string> dep_ids(const std::string& text) {
  std::vector<std::string> ids;
  std::string t = trim(text);
  if (t.starts_with("[")) {
    try {
      YAML::Node n = YAML::Load(t);
      if (n.IsSequence())
        for (const auto& item : n)
          if (item.IsScalar()) ids.push_back(item.Scalar());
    } catch (const YAML::Exception&) {
    }
    return ids;
  }
  std::size_t pos = 0;
  while (pos <= t.size()) {
    std::size_t nl = t.find('\n', pos);
    auto line = trim(std::string_view(t).substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    if (!line.empty()) ids.push_back(line);
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return ids;
}

} // namespace

Result<std::set<std::size_t>> steps_for(const Job& job, std::string_view step_id,
                                        const std::function<bool(const WorkflowStep&)>& is_akbuild) {
  std::map<std::string, std::size_t> by_id;
  for (const auto& s : job.steps)
    by_id[s.id.empty() ? job.id + "-" + std::to_string(s.index + 1) : s.id] = s.index;
  auto first = by_id.find(std::string(step_id));
  if (first == by_id.end() || job.steps[first->second].id.empty())
    return fail(ErrorCode::not_found, "job '" + job.id + "' has no step with id '" + std::string(step_id) + "'");
  std::set<std::size_t> wanted;
  for (std::size_t i = 0; i < first->second; ++i)
    if (!is_akbuild(job.steps[i])) wanted.insert(i);
  std::vector<std::size_t> todo{first->second};
  while (!todo.empty()) {
    std::size_t i = todo.back();
    todo.pop_back();
    if (!wanted.insert(i).second || !is_akbuild(job.steps[i])) continue;
    const Value& with = job.steps[i].with;
    if (!with.contains("deps") || !with["deps"].is_string()) continue;
    for (const auto& d : dep_ids(with["deps"].get<std::string>()))
      if (auto it = by_id.find(d); it != by_id.end()) todo.push_back(it->second);
  }
  return wanted;
}

} // namespace akbuild::workflow
