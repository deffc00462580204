#pragma once
// The command lines of the openapi-client generators, built from the step's parameters, and the
// check of a generator's reported version. Kept apart from the step so tests can check the exact
// argv without running a generator.
//
//   openapi-generator:   openapi-generator-cli generate -i SCHEMA -g LANGUAGE -o OUT [-c CONFIG]
//                        [-t TEMPLATES] [--additional-properties=K=V,...] [--git-repo-id ID]
//                        [--git-user-id ID] ARGS...   (or `java -jar JAR generate ...`)
//   openapi-typescript:  openapi-typescript SCHEMA -o OUT/schema.d.ts ARGS...
//   @hey-api/openapi-ts: openapi-ts -i SCHEMA -o OUT [-f CONFIG] ARGS...
//   command:             COMMAND with {schema} and {out} replaced

#include <string>
#include <string_view>
#include <vector>

#include "runner/core/result.hh"

namespace akbuild::v1 {
class OpenapiClientParams;
}

namespace akbuild::steps::openapi {

enum class Generator { openapi_generator, openapi_typescript, hey_api, command };

// The generator a `generator:` value names, or invalid_argument listing the valid ones.
Result<Generator> parse_generator(std::string_view name);

// The program whose version is checked and keyed ("openapi-generator-cli", "java", ...).
std::string generator_program(const v1::OpenapiClientParams& params, Generator generator);

// The generator's argv (schema and output are workspace-relative, as the step runs at the root).
Result<std::vector<std::string>> generator_argv(const v1::OpenapiClientParams& params, Generator generator);

// The arguments that print the generator's version ("--version", or "version" for openapi-generator).
std::vector<std::string> version_args(const v1::OpenapiClientParams& params, Generator generator);

// The first version-looking token (digits and dots, an optional suffix) in a `--version` line.
std::string find_version(std::string_view line);

// failed_precondition when `reported` (a --version line) does not carry `wanted`.
Result<> check_version(std::string_view program, std::string_view wanted, std::string_view reported);

} // namespace akbuild::steps::openapi
