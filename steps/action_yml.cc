#include "steps/action_yml.hh"

#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include <google/protobuf/descriptor.h>

#include "steps/registry.hh"
#include "steps/step_docs.hh"

namespace akbuild::steps {

namespace {

// Inputs of the action itself, next to the kinds' parameters.
struct FixedInput {
  const char* name;
  const char* description;
  const char* default_value;  // nullptr = required
};
constexpr FixedInput k_fixed_inputs[] = {
    {"kind", "The step kind", nullptr},
    // Inside a composite action GITHUB_ACTION is the inner step's id; the default is evaluated
    // where the runner sets the inputs, in the workflow step's context (act's composite code).
    {"id", "The step id (cache history, explain and pin key, and what deps name); default: the workflow step's id",
     "${{ github.action }}"},
    {"explain", "Say why a cache miss misses (true/false)", "false"},
    {"mask", "Values to mask in the log, one per line (secrets given in with: values)", ""},
    {"executor", "AKBUILD_EXECUTOR for this step: unix:PATH, tcp:HOST:PORT or none (in-process); "
                 "default: the daemon on the default socket when reachable",
     ""},
    {"akbuild", "The akbuild program on the runner host", "akbuild"},
};

// The script of the composite step. Inputs arrive as AKBUILD_IN_* variables (composite actions
// on GitHub do not export INPUT_*, and a dashed INPUT_ name is no bash variable); AKBUILD_PARAMS
// lists the parameter inputs to turn into --with.
constexpr const char* k_script = R"SH(set -euo pipefail
out_files=()
[ -n "${GITHUB_OUTPUT:-}" ] && out_files+=("$GITHUB_OUTPUT")
[ -n "${FORGEJO_OUTPUT:-}" ] && [ "${FORGEJO_OUTPUT:-}" != "${GITHUB_OUTPUT:-}" ] && out_files+=("$FORGEJO_OUTPUT")
while IFS= read -r secret; do
  [ -n "$secret" ] && echo "::add-mask::$secret"
done <<< "${AKBUILD_IN_mask:-}"
# akbuild masks them too, and keys them by HMAC in its manifests; read from the environment.
[ -n "${AKBUILD_IN_mask:-}" ] && export AKBUILD_MASK="$AKBUILD_IN_mask"
args=(step "$AKBUILD_IN_kind" --json)
step_id="${AKBUILD_IN_id:-$AKBUILD_IN_kind}"
args+=(--id "$step_id")
[ "${AKBUILD_IN_explain:-false}" = "true" ] && args+=(--explain)
for name in $AKBUILD_PARAMS; do
  var="AKBUILD_IN_$name"
  value="${!var:-}"
  [ -n "$value" ] && args+=(--with "$name=$value")
done
[ -n "${AKBUILD_IN_executor:-}" ] && export AKBUILD_EXECUTOR="$AKBUILD_IN_executor"
# Pulls one string field out of a JSON event line (akbuild prints one object per line).
field() {
  local re="\"$1\":\"(([^\"\\\\]|\\\\.)*)\""
  if [[ $2 =~ $re ]]; then printf '%s' "${BASH_REMATCH[1]}"; fi
}
unescape() {
  local s=${1//\\\"/\"}
  s=${s//\\n/$'\n'}; s=${s//\\t/$'\t'}; s=${s//\\\//\/}
  printf '%s\n' "${s//\\\\/\\}"
}
declare -A outputs=()
echo "::group::akbuild $AKBUILD_IN_kind $step_id"
set +e
while IFS= read -r line; do
  event=$(field event "$line")
  case "$event" in
    log) unescape "$(field text "$line")" ;;
    # Events of the earlier steps of the job that this one depends on come along (they hit).
    planned) echo "akbuild: $(field step "$line"): $(field text "$line") $(field key "$line")" ;;
    failed) echo "::error::$(field step "$line"): $(unescape "$(field text "$line")")" ;;
    finished)
      [ "$(field step "$line")" = "$step_id" ] || continue
      for key in cache-hit key path digest; do
        value=$(field "$key" "$line")
        [ -n "$value" ] && outputs[$key]=$value
      done ;;
    "") [ -n "$line" ] && printf '%s\n' "$line" ;;
  esac
done < <("$AKBUILD_IN_akbuild" "${args[@]}")
wait $! 2>/dev/null; status=$?
set -e
echo "::endgroup::"
for key in "${!outputs[@]}"; do
  for file in "${out_files[@]}"; do printf '%s=%s\n' "$key" "${outputs[$key]}" >> "$file"; done
done
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  {
    echo "### akbuild $AKBUILD_IN_kind \`$step_id\`"
    echo "| cache hit | key | path | digest |"
    echo "|---|---|---|---|"
    echo "| ${outputs[cache-hit]:-} | \`${outputs[key]:-}\` | ${outputs[path]:-} | ${outputs[digest]:-} |"
  } >> "$GITHUB_STEP_SUMMARY"
fi
exit "$status"
)SH";

// A YAML single-quoted scalar.
std::string quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string dashed(std::string name) {
  for (char& c : name)
    if (c == '_') c = '-';
  return name;
}

struct Param {
  std::string description;
  std::set<std::string> kinds;
  std::optional<std::string> alias_of;  // a dashed spelling of this underscored parameter
};

} // namespace

bool is_action_input(std::string_view name) {
  for (const auto& fixed : k_fixed_inputs)
    if (name == fixed.name) return true;
  return false;
}

std::string action_yml() {
  std::map<std::string, Param> params;
  std::string kinds;
  for (const StepKind* step : all_kinds()) {
    kinds += (kinds.empty() ? "" : ", ") + std::string(step->kind());
    const auto* message = step->params_prototype().GetDescriptor();
    for (int i = 0; i < message->field_count(); ++i) {
      const auto* field = message->field(i);
      auto& param = params[field->name()];
      if (param.description.empty()) param.description = field_comment(*field);
      param.kinds.insert(std::string(step->kind()));
    }
  }
  // Workflows spell parameters either way (`find-links:`); a runner passes only declared inputs
  // on, so both spellings are declared, and the script takes whichever is set.
  std::vector<std::string> underscored;
  for (const auto& [name, param] : params)
    if (name.find('_') != std::string::npos) underscored.push_back(name);
  for (const auto& name : underscored) params[dashed(name)].alias_of = name;

  std::ostringstream out;
  out << "# Generated by `akbuild action-yml` from proto/akbuild/v1/steps.proto; do not edit.\n"
         "# Regenerate: akbuild action-yml > action/action.yml\n"
         "name: '" << k_action_name << "'\n"
         "description: 'Run one typed, content-addressed, cached akbuild step on the runner host "
         "(through the akbuild executor when one is reachable)'\n"
         "inputs:\n";
  for (const auto& fixed : k_fixed_inputs) {
    std::string description = fixed.description;
    if (std::string_view(fixed.name) == "kind") description += ": " + kinds;
    out << "  " << fixed.name << ":\n    description: " << quote(description) << "\n";
    if (fixed.default_value) out << "    required: false\n    default: " << quote(fixed.default_value) << "\n";
    else out << "    required: true\n";
  }
  for (const auto& [name, param] : params) {
    if (param.alias_of) {
      out << "  " << name << ":\n    description: " << quote("the same as " + *param.alias_of)
          << "\n    required: false\n    default: ''\n";
      continue;
    }
    std::string used_by;
    for (const auto& kind : param.kinds) used_by += (used_by.empty() ? "" : ", ") + kind;
    std::string description = param.description.empty() ? name : param.description;
    out << "  " << name << ":\n    description: " << quote(description + " (" + used_by + ")")
        << "\n    required: false\n    default: ''\n";
  }
  out << "outputs:\n";
  for (const auto& [name, description] : std::vector<std::pair<std::string, std::string>>{
           {"cache-hit", "true when the result came from the cache"},
           {"key", "the action key (sha256 of the manifest)"},
           {"path", "the output path in the workspace"},
           {"digest", "the image digest (oci-image)"}}) {
    out << "  " << name << ":\n    description: " << quote(description)
        << "\n    value: ${{ steps.akbuild.outputs." << name << " }}\n";
  }
  out << "runs:\n  using: 'composite'\n  steps:\n    - id: akbuild\n      shell: bash\n"
         "      working-directory: ${{ github.workspace }}\n      env:\n";
  std::string names;
  for (const auto& fixed : k_fixed_inputs)
    out << "        AKBUILD_IN_" << fixed.name << ": ${{ inputs." << fixed.name << " }}\n";
  for (const auto& [name, param] : params) {
    if (param.alias_of) continue;
    std::string value = "inputs." + name;
    if (name.find('_') != std::string::npos) value += " || inputs." + dashed(name);
    out << "        AKBUILD_IN_" << name << ": ${{ " << value << " }}\n";
    names += (names.empty() ? "" : " ") + name;
  }
  out << "        AKBUILD_PARAMS: " << quote(names) << "\n      run: |\n";
  std::istringstream script(k_script);
  for (std::string line; std::getline(script, line);) out << (line.empty() ? "" : "        ") << line << "\n";
  return out.str();
}

} // namespace akbuild::steps
