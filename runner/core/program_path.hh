#pragma once
// Finding a program the way akbuild runs it, with one rule for every caller (the processes it
// starts, the sandbox's own lookup, the tools a step declares and keys, the capabilities it
// reports):
// - a name with a '/' is a path, taken as it is (relative to the current directory, as execve);
// - a bare name is searched in the PATH entries in order, and only absolute entries count: an
//   empty or relative entry would name the current directory, which differs between akbuild
//   and the step it runs (and would make a key depend on where akbuild was started);
// - a match is a regular file (symlinks followed) this process may execute; a directory or a
//   non-executable file of that name is passed over, and named in the error when nothing else
//   matches.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "runner/core/result.hh"

namespace akbuild {

// The PATH used when the environment has none.
inline constexpr std::string_view k_default_search_path = "/usr/local/bin:/usr/bin:/bin";

// The entries of a PATH value that the rule searches: the absolute ones, in order.
std::vector<std::string_view> search_dirs(std::string_view path_env);

// This process's $PATH, or k_default_search_path when it is unset.
std::string host_search_path();

// The path of `program` by the rule above. invalid_argument for an empty name; permission_denied
// when only a non-executable file or a directory of that name was found; not_found otherwise.
Result<std::filesystem::path> find_program(std::string_view program, std::string_view path_env);

} // namespace akbuild
