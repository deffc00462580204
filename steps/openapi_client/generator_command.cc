#include "steps/openapi_client/generator_command.hh"

#include <cctype>

#include <fmt/format.h>

#include "akbuild/v1/steps.pb.h"

namespace akbuild::steps::openapi {
namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (auto p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
}

} // namespace

Result<Generator> parse_generator(std::string_view name) {
  if (name == "openapi-generator") return Generator::openapi_generator;
  if (name == "openapi-typescript") return Generator::openapi_typescript;
  if (name == "@hey-api/openapi-ts" || name == "hey-api" || name == "openapi-ts") return Generator::hey_api;
  if (name == "command") return Generator::command;
  return fail(ErrorCode::invalid_argument,
              fmt::format("openapi-client: with: generator: '{}' is not one of openapi-generator, openapi-typescript, "
                          "@hey-api/openapi-ts, command", name));
}

std::string generator_program(const v1::OpenapiClientParams& p, Generator g) {
  switch (g) {
  case Generator::openapi_generator: return p.generator_jar().empty() ? "openapi-generator-cli" : "java";
  case Generator::openapi_typescript: return "openapi-typescript";
  case Generator::hey_api: return "openapi-ts";
  case Generator::command: return p.command().empty() ? std::string() : p.command(0);
  }
  return {};
}

Result<std::vector<std::string>> generator_argv(const v1::OpenapiClientParams& p, Generator g) {
  auto need = [&](std::string_view key, const std::string& value) -> Result<> {
    if (value.empty())
      return fail(ErrorCode::invalid_argument, fmt::format("openapi-client: with: {} is required by generator {}", key, p.generator()));
    return ok();
  };
  std::vector<std::string> argv;
  switch (g) {
  case Generator::openapi_generator: {
    AK_TRY_VOID(need("language", p.language()));
    if (p.generator_jar().empty()) argv = {"openapi-generator-cli"};
    else argv = {"java", "-jar", p.generator_jar()};
    argv.insert(argv.end(), {"generate", "-i", p.schema(), "-g", p.language(), "-o", p.output()});
    if (!p.config().empty()) argv.insert(argv.end(), {"-c", p.config()});
    if (!p.templates().empty()) argv.insert(argv.end(), {"-t", p.templates()});
    if (!p.additional_properties().empty()) {
      std::map<std::string, std::string> sorted(p.additional_properties().begin(), p.additional_properties().end());
      std::string props;
      for (const auto& [k, v] : sorted) {
        if (k.empty() || k.find_first_of("=,") != std::string::npos || v.find(',') != std::string::npos)
          return fail(ErrorCode::invalid_argument,
                      fmt::format("openapi-client: with: additional_properties: '{}={}' may not contain ',' (or '=' in the key)", k, v));
        props += (props.empty() ? "" : ",") + k + "=" + v;
      }
      argv.push_back("--additional-properties=" + props);
    }
    if (!p.git_repo_id().empty()) argv.insert(argv.end(), {"--git-repo-id", p.git_repo_id()});
    if (!p.git_user_id().empty()) argv.insert(argv.end(), {"--git-user-id", p.git_user_id()});
    break;
  }
  case Generator::openapi_typescript:
    argv = {"openapi-typescript", p.schema(), "-o", p.output() + "/schema.d.ts"};
    break;
  case Generator::hey_api:
    // openapi-ts reads "org/project" as a Hey API registry shorthand: a path must look like one.
    argv = {"openapi-ts", "-i", p.schema().rfind("./", 0) == 0 ? p.schema() : "./" + p.schema(), "-o", p.output()};
    if (!p.config().empty()) argv.insert(argv.end(), {"-f", p.config()});
    break;
  case Generator::command:
    if (p.command().empty())
      return fail(ErrorCode::invalid_argument, "openapi-client: with: command is required by generator command");
    for (auto arg : p.command()) {
      replace_all(arg, "{schema}", p.schema());
      replace_all(arg, "{out}", p.output());
      argv.push_back(std::move(arg));
    }
    return argv;
  }
  if (g != Generator::openapi_generator && (!p.language().empty() || !p.templates().empty() ||
                                            !p.additional_properties().empty() || !p.git_repo_id().empty() ||
                                            !p.git_user_id().empty() || !p.generator_jar().empty()))
    return fail(ErrorCode::invalid_argument,
                fmt::format("openapi-client: with: language, templates, additional_properties, git_repo_id, git_user_id "
                            "and generator_jar apply to generator openapi-generator, not {}", p.generator()));
  if (g == Generator::openapi_typescript && !p.config().empty())
    return fail(ErrorCode::invalid_argument, "openapi-client: with: config does not apply to generator openapi-typescript");
  argv.insert(argv.end(), p.args().begin(), p.args().end());
  return argv;
}

std::vector<std::string> version_args(const v1::OpenapiClientParams& p, Generator g) {
  if (g == Generator::openapi_generator) {
    if (p.generator_jar().empty()) return {"version"};
    return {"-jar", p.generator_jar(), "version"};
  }
  return {"--version"};
}

std::string find_version(std::string_view line) {
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(line[i]))) continue;
    if (i > 0 && (std::isalnum(static_cast<unsigned char>(line[i - 1])) && line[i - 1] != 'v')) continue;
    std::size_t e = i;
    bool dot = false;
    while (e < line.size() && (std::isalnum(static_cast<unsigned char>(line[e])) || line[e] == '.' || line[e] == '-' ||
                               line[e] == '+')) {
      dot = dot || line[e] == '.';
      ++e;
    }
    if (dot) return std::string(line.substr(i, e - i));
    i = e;
  }
  return {};
}

Result<> check_version(std::string_view program, std::string_view wanted, std::string_view reported) {
  auto got = find_version(reported);
  std::string_view want = wanted;
  if (!want.empty() && want.front() == 'v') want.remove_prefix(1);
  if (got == want) return ok();
  return fail(ErrorCode::failed_precondition,
              fmt::format("openapi-client: {} is version {}, but with: version asks for {}", program,
                          got.empty() ? "'" + std::string(reported) + "'" : got, want));
}

} // namespace akbuild::steps::openapi
