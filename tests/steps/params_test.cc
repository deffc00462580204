#include <doctest/doctest.h>

#include "akbuild/v1/steps.pb.h"
#include "steps/params.hh"

using namespace akbuild;
using namespace akbuild::steps;

namespace {
v1::ExecParams parse_ok(const WithMap& with) {
  auto r = parse_params(v1::ExecParams::default_instance(), with, "exec");
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  return static_cast<v1::ExecParams&>(**r);
}
} // namespace

TEST_CASE("parse_params maps scalars, lists and maps by field type") {
  auto p = parse_ok({{"run", "echo hi\n  two"},
                     {"inputs", "src/**\n\n  lib/*.h  \n"},
                     {"outputs", "[\"out/\", \"b.txt\"]"},
                     {"env", "A=1\nB=x=y"},
                     {"timeout-seconds", " 30 "},
                     {"fetch", "yes"}});
  CHECK(p.run() == "echo hi\n  two");
  CHECK(std::vector<std::string>(p.inputs().begin(), p.inputs().end()) == std::vector<std::string>{"src/**", "lib/*.h"});
  CHECK(std::vector<std::string>(p.outputs().begin(), p.outputs().end()) == std::vector<std::string>{"out/", "b.txt"});
  CHECK(p.env().at("A") == "1");
  CHECK(p.env().at("B") == "x=y");
  CHECK(p.timeout_seconds() == 30);
  CHECK(p.fetch());
}

TEST_CASE("parse_params takes maps as YAML or JSON objects") {
  SUBCASE("json") { CHECK(parse_ok({{"env", R"({"K": "v w", "N": 3})"}}).env().at("N") == "3"); }
  SUBCASE("yaml block") { CHECK(parse_ok({{"env", "K: v w\nN: 3\n"}}).env().at("K") == "v w"); }
}

TEST_CASE("parse_params names an unknown key and lists the valid ones") {
  auto r = parse_params(v1::ExecParams::default_instance(), {{"foo", "1"}}, "exec");
  REQUIRE(!r);
  CHECK(r.error().code == ErrorCode::invalid_argument);
  CHECK(r.error().message.find("exec: unknown with: key 'foo' (valid: command, deps, env, exclude, fetch, hash, "
                               "inputs, outputs, run, timeout_seconds, tools, working_directory)") == 0);
}

TEST_CASE("parse_params rejects values of the wrong type, naming key and value") {
  auto r = parse_params(v1::ExecParams::default_instance(), {{"timeout_seconds", "soon"}}, "exec");
  REQUIRE(!r);
  CHECK(r.error().message == "exec: with: timeout_seconds: 'soon' is not an integer in range");
  auto b = parse_params(v1::ExecParams::default_instance(), {{"fetch", "maybe"}}, "exec");
  REQUIRE(!b);
  CHECK(b.error().message.find("fetch: 'maybe' is not a boolean") != std::string::npos);
  auto l = parse_params(v1::ExecParams::default_instance(), {{"inputs", "[a, [b]]"}}, "exec");
  REQUIRE(!l);
  CHECK(l.error().code == ErrorCode::invalid_argument);
}

TEST_CASE("params_manifest_lines lists every field sorted, defaults included, values as JSON") {
  auto p = parse_ok({{"run", "a\nb"}, {"env", "Z=1\nA=2"}});
  auto lines = params_manifest_lines(p);
  REQUIRE(lines.size() == 12);
  CHECK(lines[0] == "command: []");
  CHECK(lines[2] == R"(env: {"A":"2","Z":"1"})");
  CHECK(lines[4] == "fetch: false");
  CHECK(lines[8] == R"(run: "a\nb")");
  CHECK(lines[9] == "timeout_seconds: 0");
  // The same values given in another order give the same lines.
  auto q = parse_ok({{"env", "{A: '2', Z: '1'}"}, {"run", "a\nb"}});
  CHECK(params_manifest_lines(q) == lines);
}

TEST_CASE("param_names gives every field with its shape and its comment in steps.proto") {
  auto names = param_names(v1::ExecParams::default_instance());
  CHECK(names.front() == "command (list): an argv");
  CHECK(std::find(names.begin(), names.end(), "env (map): declared environment, part of the key") != names.end());
}

TEST_CASE("parse_params reads a line that starts with a glob class as a line, not a YAML list") {
  auto p = parse_ok({{"inputs", "[ab]*.txt"}, {"outputs", "[xy]/out/\nz/"}});
  CHECK(std::vector<std::string>(p.inputs().begin(), p.inputs().end()) == std::vector<std::string>{"[ab]*.txt"});
  CHECK(std::vector<std::string>(p.outputs().begin(), p.outputs().end()) == std::vector<std::string>{"[xy]/out/", "z/"});
  CHECK(parse_ok({{"inputs", " [a, b] "}}).inputs().size() == 2);
}
