#include <doctest/doctest.h>

#include "runner/engine/explain.hh"
#include "runner/engine/manifest.hh"

using namespace akbuild::engine;

TEST_CASE("Manifest sorts its lines and keys the text by sha256") {
  Manifest a, b;
  a.add("kind: exec");
  a.add("input b.txt: 22");
  a.add("input a.txt: 11");
  b.add("input a.txt: 11");
  b.add("kind: exec");
  b.add("input b.txt: 22");
  CHECK(a.text() == "input a.txt: 11\ninput b.txt: 22\nkind: exec\n");
  CHECK(a.key() == b.key());
  CHECK(a.key().hex().size() == 64);
  b.add("env A: 1");
  CHECK(a.key() != b.key());
}

TEST_CASE("manifest_path quotes only paths that would be ambiguous") {
  CHECK(manifest_path("src/a.txt") == "src/a.txt");
  CHECK(manifest_path("a: b") == "\"a: b\"");
  CHECK(manifest_path("new\nline") == "\"new\\nline\"");
  auto [name, value] = split_manifest_line("input \"a: b\": 1234");
  CHECK(name == "input \"a: b\"");
  CHECK(value == "1234");
}

TEST_CASE("explain_diff names changed, added and removed lines with old and new values") {
  std::string d1(64, 'a'), d2(64, 'b');
  std::string before = "input gone.txt: " + d1 + "\ninput src/a.txt: " + d1 + "\nkind: exec\nparam run: \"x\"\n";
  std::string after = "input new.txt: " + d2 + "\ninput src/a.txt: " + d2 + "\nkind: exec\nparam run: \"y\"\n";
  auto lines = explain_diff(before, after);
  CHECK(lines == std::vector<std::string>{"+ input new.txt: bbbbbbbbbbbb",
                                          "input src/a.txt: aaaaaaaaaaaa -> bbbbbbbbbbbb",
                                          "param run: \"x\" -> \"y\"", "- input gone.txt"});
}

TEST_CASE("explain_diff without an earlier run says so") {
  CHECK(explain_diff(std::nullopt, "kind: exec\n") == std::vector<std::string>{"no earlier run of this step id"});
}
