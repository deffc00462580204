#include "runner/workflow/workflow_steps.hh"

#include <map>
#include <mutex>
#include <sstream>

namespace akbuild::workflow {

Result<std::vector<engine::StepRequest>> workflow_steps(ActOptions options, std::ostream& log) {
  std::mutex mutex;
  std::vector<engine::StepRequest> steps;
  std::map<std::string, std::string> where;  // step id -> the job label that gave it
  std::optional<Error> conflict;
  options.dry_run = true;
  options.list = options.graph = false;
  options.step.clear();
  options.collect = [&](const std::string&, const std::string& label, const std::vector<engine::StepRequest>& batch) {
    std::lock_guard lock(mutex);
    for (const auto& r : batch) {
      auto seen = std::find_if(steps.begin(), steps.end(), [&](const auto& s) { return s.id == r.id; });
      if (seen == steps.end()) {
        steps.push_back(r);
        where[r.id] = label;
      } else if ((seen->kind != r.kind || seen->with != r.with) && !conflict) {
        conflict = Error{ErrorCode::invalid_argument,
                         "step '" + r.id + "' is a different step in job '" + where[r.id] + "' and in job '" + label +
                             "' (its kind or with: differ); a pin belongs to one step id: give each its own id"};
      }
    }
  };
  std::ostringstream out;
  auto status = run_act(options, out);
  if (!status || *status != 0) log << out.str();
  if (!status) return fail(status.error());
  if (*status != 0)
    return fail(ErrorCode::invalid_argument, "the workflow's akbuild steps cannot be read (see the lines above)");
  if (conflict) return fail(*conflict);
  return steps;
}

} // namespace akbuild::workflow
