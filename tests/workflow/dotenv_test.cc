#include <doctest/doctest.h>

#include "runner/workflow/dotenv.hh"
#include "tests/support/test_support.hh"

using namespace akbuild::workflow;

TEST_CASE("parse_dotenv reads act's dotenv forms: plain, export, double and single quotes, comments") {
  auto r = parse_dotenv("# comment\n\n"
                        "A=plain value  # trailing comment\n"
                        "export B = spaced\n"
                        "C=\"a\\nb \\\"q\\\" \\\\ \\$x #not a comment\"\n"
                        "D='lit $x \\n'\n"
                        "E=\"two\nlines\"\n"
                        "F=a#b\n"
                        "G=\n"
                        "A=later wins\r\n",
                        "s.env");
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  CHECK(r->at("A") == "later wins");
  CHECK(r->at("B") == "spaced");
  CHECK(r->at("C") == "a\nb \"q\" \\ $x #not a comment");
  CHECK(r->at("D") == "lit $x \\n");
  CHECK(r->at("E") == "two\nlines");
  CHECK(r->at("F") == "a#b");
  CHECK(r->at("G") == "");
}

TEST_CASE("parse_dotenv names the file and line of a fault") {
  CHECK(parse_dotenv("A=1\n=x\n", "s.env").error().message == "s.env:2: expected KEY=VALUE");
  CHECK(parse_dotenv("A 1\n", "s.env").error().message == "s.env:1: expected '=' after 'A'");
  CHECK(parse_dotenv("A=1\nB='x\n\n", "s.env").error().message == "s.env:2: the value of 'B' has no closing '");
  CHECK(parse_dotenv("A=\"x\" y\n", "s.env").error().message == "s.env:1: text after the closing quote of 'A'");
}

TEST_CASE("read_values_file reads dotenv, and a YAML map of scalars from *.yml and *.yaml, as act does") {
  akbuild::test::TestDir dir;
  akbuild::test::write(dir / "vars.env", "COLOR=blue\n");
  akbuild::test::write(dir / "vars.yml", "COLOR: green\nSIZE: 3\nEMPTY:\nQUOTED: 'a: b'\n");
  akbuild::test::write(dir / "nested.yaml", "A: 1\nB: [x]\n");
  akbuild::test::write(dir / "list.yml", "- a\n");
  CHECK(read_values_file(dir / "vars.env")->at("COLOR") == "blue");
  auto yaml = read_values_file(dir / "vars.yml");
  REQUIRE_MESSAGE(yaml, (yaml ? "" : yaml.error().message));
  CHECK(*yaml == std::map<std::string, std::string>{{"COLOR", "green"}, {"EMPTY", ""}, {"QUOTED", "a: b"}, {"SIZE", "3"}});
  CHECK(read_values_file(dir / "nested.yaml").error().message == (dir / "nested.yaml").string() + ":2: 'B' must be a scalar");
  CHECK(read_values_file(dir / "list.yml").error().message == (dir / "list.yml").string() + ": expected a map of NAME: value");
  CHECK(read_values_file(dir / "none.env").error().code == akbuild::ErrorCode::not_found);
}
