#pragma once
// The result of a step or a job, as the `steps.<id>.outcome`, `needs.<id>.result` and
// `job.status` contexts spell it.

#include <string_view>

namespace akbuild::workflow {

enum class Outcome { success, failure, skipped, cancelled };

// "success", "failure", "skipped" or "cancelled".
constexpr std::string_view to_string(Outcome o) {
  switch (o) {
  case Outcome::success: return "success";
  case Outcome::failure: return "failure";
  case Outcome::skipped: return "skipped";
  case Outcome::cancelled: return "cancelled";
  }
  return "failure";
}

} // namespace akbuild::workflow
