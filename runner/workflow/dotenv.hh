#pragma once
// The dotenv format of act's --secret-file and --env-file (act reads them with joho/godotenv):
//
//   # a comment, and blank lines, are ignored
//   KEY=value                  unquoted: trimmed, ends at " #" (a comment)
//   export KEY=value           "export " is allowed and ignored
//   KEY="a\nb \"c\" \\ d"      double quotes: \n \r \t \" \\ \$ unescaped; may span lines
//   KEY='literal $x \n'        single quotes: taken as they are; may span lines
//
// Keys are [A-Za-z_][A-Za-z0-9_.-]*. Unlike godotenv, `$VAR` is never expanded: a secret is
// taken as written.

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "runner/core/result.hh"

namespace akbuild::workflow {

// The assignments (a later one wins), or invalid_argument "<what>:<line>: <fault>".
Result<std::map<std::string, std::string>> parse_dotenv(std::string_view text, std::string_view what);

// A file of act's --secret-file, --env-file, --var-file or --input-file: dotenv, or a YAML map of
// scalars when it is named *.yml or *.yaml (act reads both). invalid_argument naming the file
// for a malformed one, not_found for a missing one.
Result<std::map<std::string, std::string>> read_values_file(const std::filesystem::path& file);

} // namespace akbuild::workflow
