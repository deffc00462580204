#pragma once
// go.mod and go.sum, as far as go-build checks them before running go
// (https://go.dev/ref/mod#go-mod-file, #go-sum-files):
//
//   go.mod: `module PATH`, `go VERSION`, `toolchain NAME`, and `require`/`replace`/`exclude`/
//           `retract` directives, each single-line or a parenthesised block; `//` comments.
//   go.sum: lines `MODULE VERSION[/go.mod] h1:BASE64=`.
//
// The check: go.mod parses, and every required module has its `/go.mod` hash in go.sum (what
// `go mod download` and an offline build need; otherwise `go mod tidy` must run first).

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "runner/core/result.hh"

namespace akbuild::steps::go {

struct Requirement {
  std::string path, version;
  bool indirect = false;
};

struct GoMod {
  std::string module;
  std::string go_version;
  std::string toolchain;
  std::vector<Requirement> requirements;
  std::vector<std::string> replaced;      // module paths with a replace directive

  static Result<GoMod> parse(std::string_view text, const std::string& where);
  static Result<GoMod> load(const std::filesystem::path& path, const std::string& shown);
};

struct GoSum {
  std::set<std::pair<std::string, std::string>> modules;   // (path, version) with a tree hash
  std::set<std::pair<std::string, std::string>> go_mods;   // (path, version) with a go.mod hash

  static Result<GoSum> parse(std::string_view text, const std::string& where);
};

// failed_precondition naming the first requirements without go.sum lines; a module that
// requirements nothing needs no go.sum.
Result<> check_sum(const GoMod& mod, const std::filesystem::path& sum_path, const std::string& shown);

} // namespace akbuild::steps::go
