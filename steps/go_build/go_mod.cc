#include "steps/go_build/go_mod.hh"

#include <sstream>

#include <fmt/format.h>

#include "runner/core/fs.hh"

namespace akbuild::steps::go {
namespace {

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

// Splits a directive line into tokens; "quoted" tokens lose their quotes.
std::vector<std::string> tokens(std::string_view line) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size()) break;
    if (line[i] == '"' || line[i] == '`') {
      char q = line[i];
      auto e = line.find(q, i + 1);
      if (e == std::string_view::npos) e = line.size();
      out.emplace_back(line.substr(i + 1, e - i - 1));
      i = e + 1;
    } else {
      auto e = line.find_first_of(" \t", i);
      if (e == std::string_view::npos) e = line.size();
      out.emplace_back(line.substr(i, e - i));
      i = e;
    }
  }
  return out;
}

} // namespace

Result<GoMod> GoMod::parse(std::string_view text, const std::string& where) {
  GoMod mod;
  std::istringstream in{std::string(text)};
  std::string raw, block;
  int lineno = 0;
  auto bad = [&](std::string_view why) {
    return fail(ErrorCode::invalid_argument, fmt::format("{}:{}: {}", where, lineno, why));
  };
  while (std::getline(in, raw)) {
    ++lineno;
    std::string line = raw;
    bool indirect = false;
    if (auto c = line.find("//"); c != std::string::npos) {
      indirect = trim(std::string_view(line).substr(c + 2)).rfind("indirect", 0) == 0;
      line.resize(c);
    }
    line = trim(line);
    if (line.empty()) continue;
    auto tok = tokens(line);
    std::string verb;
    std::vector<std::string> args;
    if (!block.empty()) {
      if (line == ")") {
        block.clear();
        continue;
      }
      verb = block;
      args = tok;
    } else {
      verb = tok[0];
      args.assign(tok.begin() + 1, tok.end());
      if (args.size() == 1 && args[0] == "(") {
        if (verb != "require" && verb != "replace" && verb != "exclude" && verb != "retract" && verb != "godebug" &&
            verb != "tool" && verb != "ignore")
          return bad(fmt::format("'{}' takes no block", verb));
        block = verb;
        continue;
      }
    }
    if (verb == "module") {
      if (args.size() != 1) return bad("usage: module PATH");
      mod.module = args[0];
    } else if (verb == "go") {
      if (args.size() != 1) return bad("usage: go VERSION");
      mod.go_version = args[0];
    } else if (verb == "toolchain") {
      if (args.size() != 1) return bad("usage: toolchain NAME");
      mod.toolchain = args[0];
    } else if (verb == "require") {
      if (args.size() != 2) return bad("usage: require PATH VERSION");
      mod.requirements.push_back({args[0], args[1], indirect});
    } else if (verb == "replace") {
      auto arrow = std::find(args.begin(), args.end(), "=>");
      if (arrow == args.end() || arrow == args.begin() || arrow + 1 == args.end()) return bad("usage: replace PATH [VERSION] => TARGET [VERSION]");
      mod.replaced.push_back(args[0]);
    } else if (verb == "exclude" || verb == "retract" || verb == "godebug" || verb == "tool" || verb == "ignore") {
      // Not needed to plan a build.
    } else {
      return bad(fmt::format("unknown directive '{}'", verb));
    }
  }
  if (!block.empty()) return bad(fmt::format("unterminated '{} (' block", block));
  if (mod.module.empty()) return fail(ErrorCode::invalid_argument, fmt::format("{}: no module directive", where));
  return mod;
}

Result<GoMod> GoMod::load(const std::filesystem::path& path, const std::string& shown) {
  auto text = read_file(path);
  if (!text) {
    if (text.error().code == ErrorCode::not_found)
      return fail(ErrorCode::invalid_argument, fmt::format("{}: no such file (run `go mod init`)", shown));
    return fail(text.error());
  }
  return parse(*text, shown);
}

Result<GoSum> GoSum::parse(std::string_view text, const std::string& where) {
  GoSum sum;
  std::istringstream in{std::string(text)};
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    auto tok = tokens(trim(line));
    if (tok.empty()) continue;
    if (tok.size() != 3 || tok[2].rfind("h1:", 0) != 0)
      return fail(ErrorCode::invalid_argument, fmt::format("{}:{}: expected 'MODULE VERSION h1:HASH'", where, lineno));
    const std::string suffix = "/go.mod";
    if (tok[1].size() > suffix.size() && tok[1].compare(tok[1].size() - suffix.size(), suffix.size(), suffix) == 0)
      sum.go_mods.emplace(tok[0], tok[1].substr(0, tok[1].size() - suffix.size()));
    else
      sum.modules.emplace(tok[0], tok[1]);
  }
  return sum;
}

Result<> check_sum(const GoMod& mod, const std::filesystem::path& sum_path, const std::string& shown) {
  if (mod.requirements.empty()) return ok();
  auto text = read_file(sum_path);
  if (!text) {
    if (text.error().code == ErrorCode::not_found)
      return fail(ErrorCode::failed_precondition, fmt::format("{}: no such file, but go.mod requires {} modules (run `go mod tidy`)",
                                                              shown, mod.requirements.size()));
    return fail(text.error());
  }
  auto sum = AK_TRY(GoSum::parse(*text, shown));
  std::vector<std::string> missing;
  for (const auto& r : mod.requirements) {
    if (std::find(mod.replaced.begin(), mod.replaced.end(), r.path) != mod.replaced.end()) continue;
    if (!sum.go_mods.count({r.path, r.version})) missing.push_back(r.path + " " + r.version);
  }
  if (!missing.empty())
    return fail(ErrorCode::failed_precondition,
                fmt::format("{} is out of sync with go.mod: no hash for {}{} (run `go mod tidy`)", shown, missing.front(),
                            missing.size() > 1 ? fmt::format(" and {} more", missing.size() - 1) : std::string()));
  return ok();
}

} // namespace akbuild::steps::go
