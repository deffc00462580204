#include "runner/cli/job_state.hh"

#include <cctype>
#include <cstdlib>
#include <set>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <nlohmann/json.hpp>

#include "runner/core/fs.hh"
#include "runner/core/secrets.hh"
#include "steps/params.hh"
#include "steps/registry.hh"

namespace akbuild::cli {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string env_or(const char* name, std::string fallback = {}) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

// A file name part from a runner-given value: job ids are [A-Za-z0-9_-], anything else is '_'.
std::string name_part(std::string value) {
  for (char& c : value)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  return value;
}

Result<json> load(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return json::object();
  auto text = AK_TRY(read_file(file));
  auto doc = json::parse(text, nullptr, false);
  if (!doc.is_object()) return fail(ErrorCode::invalid_argument, file.string() + ": not a JSON object (a damaged job state)");
  return doc;
}

Result<engine::StepRequest> request_of(const std::string& id, const json& entry, const fs::path& file) {
  if (!entry.is_object()) return fail(ErrorCode::invalid_argument, file.string() + ": step '" + id + "' is damaged (not an object)");
  if (entry.value("masked", false))
    return fail(ErrorCode::invalid_argument,
                "deps: step '" + id + "' of this job was given a masked value, which akbuild keeps off disk; "
                "run both steps in one `akbuild act`, or give the secret through env");
  if (!entry.contains("kind") || !entry["kind"].is_string() || !entry.contains("with") ||
      !entry["with"].is_object())
    return fail(ErrorCode::invalid_argument, file.string() + ": step '" + id + "' is damaged (want kind and with)");
  engine::StepRequest r;
  r.id = id;
  r.kind = entry["kind"].get<std::string>();
  for (const auto& [k, v] : entry["with"].items()) {
    if (!v.is_string()) return fail(ErrorCode::invalid_argument, file.string() + ": step '" + id + "': with." + k + " is not a string");
    r.with[k] = v.get<std::string>();
  }
  if (entry.contains("timeout_ms") && entry["timeout_ms"].is_number_unsigned())
    r.timeout = std::chrono::milliseconds(entry["timeout_ms"].get<std::uint64_t>());
  return r;
}

} // namespace

std::optional<JobState> JobState::from_environment() {
  auto temp = env_or("RUNNER_TEMP"), run = env_or("GITHUB_RUN_ID"), job = env_or("GITHUB_JOB");
  if (temp.empty() || run.empty() || job.empty()) return std::nullopt;
  auto attempt = env_or("GITHUB_RUN_ATTEMPT", "1");
  return JobState(fs::path(temp) / "akbuild-jobs" /
                  (name_part(run) + "-" + name_part(attempt) + "-" + name_part(job) + ".json"));
}

// The steps `request` reads the outputs of: its deps, and the toolchain steps its `tools:` names
// (those of `recorded`, the job's earlier steps; the other entries are program names).
Result<std::vector<std::string>> declared_deps(const engine::StepRequest& request, const json& recorded) {
  const auto* step = AK_TRY(steps::find_kind(request.kind));
  std::vector<std::string> out;
  auto with = request.with;
  if (auto tools = with.find("tools"); tools != with.end()) {
    for (auto& entry : AK_TRY(steps::parse_string_list(tools->second, request.kind + ": with: tools")))
      if (entry != request.id && recorded.contains(entry)) out.push_back(std::move(entry));
    with.erase(tools);
  }
  auto params = AK_TRY(steps::parse_params(step->params_prototype(), with, request.kind));
  const auto* field = params->GetDescriptor()->FindFieldByName("deps");
  if (!field || !field->is_repeated() || field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_STRING)
    return out;
  const auto* reflection = params->GetReflection();
  for (int i = 0; i < reflection->FieldSize(*params, field); ++i)
    out.push_back(reflection->GetRepeatedString(*params, field, i));
  return out;
}

Result<std::vector<engine::StepRequest>> JobState::with_deps(const engine::StepRequest& request) const {
  auto doc = AK_TRY(load(m_file));
  std::vector<engine::StepRequest> out;
  std::set<std::string> seen{request.id};
  // Depth first, dependencies before the steps naming them; an id not recorded is left out.
  auto visit = [&](auto& self, const engine::StepRequest& r) -> Result<> {
    for (const auto& dep : AK_TRY(declared_deps(r, doc))) {
      if (!seen.insert(dep).second || !doc.contains(dep)) continue;
      auto earlier = AK_TRY(request_of(dep, doc[dep], m_file));
      AK_TRY_VOID(self(self, earlier));
      out.push_back(std::move(earlier));
    }
    return ok();
  };
  AK_TRY_VOID(visit(visit, request));
  out.push_back(request);
  return out;
}

Result<> JobState::record(const engine::StepRequest& request) const {
  AK_TRY_VOID(make_dirs(m_file.parent_path()));
  std::error_code ec;
  fs::permissions(m_file.parent_path(), fs::perms::owner_all, ec);
  auto doc = AK_TRY(load(m_file));
  json entry{{"kind", request.kind}};
  bool masked = contains_secret(request.id);
  json with = json::object();
  for (const auto& [k, v] : request.with) {
    masked = masked || contains_secret(v);
    with[k] = v;
  }
  if (masked) entry = {{"kind", request.kind}, {"masked", true}};
  else entry["with"] = std::move(with);
  if (!masked && request.timeout.count() > 0) entry["timeout_ms"] = static_cast<std::uint64_t>(request.timeout.count());
  doc[request.id] = std::move(entry);
  return write_file_atomic(m_file, doc.dump(1) + "\n", 0600);
}

} // namespace akbuild::cli
