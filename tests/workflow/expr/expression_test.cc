#include <cstdlib>
#include <regex>

#include <doctest/doctest.h>

#include "runner/core/encoding.hh"
#include "runner/core/hash.hh"
#include "runner/workflow/expr/expression.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
using namespace akbuild::workflow;
namespace fs = std::filesystem;

namespace {

Value load_cases() {
  return Value::parse(test::read(test::source_root() / "tests/data/expressions/cases.json"));
}

EvalContext context_for(const Value& table, const std::string& status) {
  EvalContext ctx;
  ctx.contexts = table.at("context");
  ctx.status.failed = status == "failure";
  ctx.status.cancelled = status == "cancelled";
  return ctx;
}

Value eval(const std::string& text, const Value& contexts = Value::object()) {
  EvalContext ctx;
  ctx.contexts = contexts;
  auto r = evaluate(text, ctx);
  REQUIRE_MESSAGE(r.has_value(), r.error().message);
  return *r;
}

} // namespace

// The table comes from tests/data/expressions/generate.mjs: each expected value is what GitHub's
// reference evaluator (@actions/expressions) gives for the same expression and contexts.
TEST_CASE("The evaluator agrees with @actions/expressions on every case of the table") {
  Value table = load_cases();
  const Value& cases = table.at("cases");
  REQUIRE(cases.size() >= 200);
  std::size_t syntax = 0, errors = 0, values = 0;
  for (const auto& c : cases) {
    std::string text = c.at("expr").get<std::string>();
    const Value& expect = c.at("expect");
    EvalContext ctx = context_for(table, c.at("status").get<std::string>());
    INFO("expression: " << text);
    auto parsed = Expression::parse(text);
    if (expect.contains("error") && expect.at("error") == "syntax") {
      ++syntax;
      REQUIRE_FALSE(parsed.has_value());
      CHECK(parsed.error().code == ErrorCode::invalid_argument);
      std::string column = "at column " + std::to_string(expect.at("column").get<int>());
      CHECK_MESSAGE(parsed.error().message.find(column) != std::string::npos, parsed.error().message);
      continue;
    }
    REQUIRE_MESSAGE(parsed.has_value(), parsed.error().message);
    auto value = parsed->evaluate(ctx);
    if (expect.contains("error")) {
      ++errors;
      CHECK_FALSE(value.has_value());
      continue;
    }
    ++values;
    REQUIRE_MESSAGE(value.has_value(), value.error().message);
    CHECK(to_json_text(*value) == expect.at("json").get<std::string>());
    CHECK(to_display_string(*value) == expect.at("string").get<std::string>());
  }
  CHECK(syntax >= 30);
  CHECK(errors >= 8);
  CHECK(values >= 250);
}

TEST_CASE("The checked-in table is what the reference evaluator gives today") {
  const char* tools = std::getenv("AKBUILD_TOOLS");
  fs::path modules = tools ? fs::path(tools).parent_path() : fs::path();
  if (!test::have_program("node") || modules.empty() || !fs::exists(modules / "@actions/expressions")) {
    return test::skip("node or @actions/expressions missing (scripts/setup installs it): table not re-generated");
  }
  auto r = test::run({"node", (test::source_root() / "tests/data/expressions/generate.mjs").string()},
                     {.cwd = test::source_root(), .env = {{"NODE_PATH", modules.string()}}});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  Value fresh = Value::parse(r.out);
  Value stored = load_cases();
  CHECK(fresh.at("cases") == stored.at("cases"));
  CHECK(fresh.at("context") == stored.at("context"));
}

TEST_CASE("Syntax errors name the fault and the column") {
  auto r = Expression::parse("github.ref == 'a' && = 3");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.find("at column 22") != std::string::npos);
  CHECK(r.error().message.find("Unexpected symbol") != std::string::npos);
  auto u = Expression::parse("contains(github.ref, 'x') || nothing.here");
  REQUIRE_FALSE(u.has_value());
  CHECK(u.error().message.find("Unrecognized named-value: 'nothing' at column 30") != std::string::npos);
}

TEST_CASE("String literals unescape every doubled quote") {
  // The reference package unescapes only the first '' (a String.replace); GitHub's runner and
  // akbuild unescape all of them.
  CHECK(eval("'a''b''c'") == "a'b'c");
}

TEST_CASE("Forgejo aliases reach the github context unless given themselves") {
  Value ctx = {{"github", {{"sha", "abc"}}}};
  CHECK(eval("forgejo.sha", ctx) == "abc");
  CHECK(eval("gitea.sha", ctx) == "abc");
  CHECK(eval("forge.sha", ctx) == "abc");
  ctx["forgejo"] = {{"sha", "own"}};
  CHECK(eval("forgejo.sha", ctx) == "own");
}

TEST_CASE("hashFiles hashes the sha256 of each matching file, as GitHub does") {
  test::TestDir dir;
  test::write(dir / "a.txt", "alpha\n");
  test::write(dir / "sub/b.txt", "beta\n");
  test::write(dir / "sub/c.log", "gamma\n");
  EvalContext ctx;
  ctx.workspace = dir.path();
  // Oracle: sha256sum over the concatenated binary digests of the files, in path order.
  auto expect = test::sh("cd '" + dir.path().string() +
                         "' && for f in a.txt sub/b.txt; do sha256sum \"$f\" | cut -c1-64 | xxd -r -p; done | sha256sum | cut -c1-64");
  REQUIRE(expect.exit_code == 0);
  std::string want = expect.out.substr(0, 64);
  auto v = evaluate("hashFiles('**/*.txt')", ctx);
  REQUIRE(v.has_value());
  CHECK(*v == want);
  CHECK(*evaluate("hashFiles('**/*.txt', '!**/*.log')", ctx) == want);
  CHECK(*evaluate("hashFiles('a.txt', 'sub/b.txt')", ctx) == want);
  CHECK(*evaluate("hashFiles('**/*.nothing')", ctx) == "");
  CHECK(*evaluate("hashFiles('**')", ctx) != want);
}

TEST_CASE("Interpolation keeps a lone expression's value and coerces mixed text") {
  EvalContext ctx;
  ctx.contexts = {{"matrix", {{"v", 3}, {"list", {1, 2}}}}, {"env", {{"N", "x"}}}};
  CHECK(*interpolate("${{ matrix.list }}", ctx) == Value({1, 2}));
  CHECK(*interpolate("v${{ matrix.v }}-${{ env.N }}", ctx) == "v3-x");
  CHECK(*interpolate("no expressions", ctx) == "no expressions");
  CHECK(*interpolate("${{ '}}' }}", ctx) == "}}");
  auto bad = interpolate("a ${{ matrix.v", ctx);
  CHECK_FALSE(bad.has_value());
  auto syntax = interpolate("${{ 1 = }}", ctx);
  REQUIRE_FALSE(syntax.has_value());
  CHECK(syntax.error().code == ErrorCode::invalid_argument);
}

TEST_CASE("Conditions without a status function mean success() and (...)") {
  EvalContext ctx;
  ctx.contexts = {{"env", {{"GO", "yes"}}}};
  CHECK(*evaluate_condition("", ctx));
  CHECK(*evaluate_condition("env.GO == 'yes'", ctx));
  CHECK(*evaluate_condition("${{ env.GO == 'yes' }}", ctx));
  CHECK_FALSE(*evaluate_condition("env.GO == 'no'", ctx));
  ctx.status.failed = true;
  CHECK_FALSE(*evaluate_condition("env.GO == 'yes'", ctx));
  CHECK_FALSE(*evaluate_condition("", ctx));
  CHECK(*evaluate_condition("failure()", ctx));
  CHECK(*evaluate_condition("always() && env.GO == 'yes'", ctx));
  CHECK_FALSE(*evaluate_condition("success()", ctx));
}

TEST_CASE("akbuild expr prints the value as JSON and exits 2 on a syntax error") {
  test::TestDir dir;
  test::write(dir / "ctx.json", R"({"github": {"ref": "refs/heads/main"}, "matrix": {"n": [1, 2]}})");
  auto ok = test::akbuild(dir, {"expr", "startsWith(github.ref, 'refs/') && matrix.n", "--context", (dir / "ctx.json").string()});
  CHECK(ok.exit_code == 0);
  CHECK(ok.out == "[1,2]\n");
  auto fmt = test::akbuild(dir, {"expr", "format('{0}/{1}', 1.5, forgejo.ref)", "--context", (dir / "ctx.json").string()});
  CHECK(fmt.out == "\"1.5/refs/heads/main\"\n");
  auto bad = test::akbuild(dir, {"expr", "1 == == 2"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("column 6") != std::string::npos);
  auto eval_error = test::akbuild(dir, {"expr", "fromJSON('{')"});
  CHECK(eval_error.exit_code == 1);
}

TEST_CASE("akbuild expr answers success(), failure() and cancelled() from the context's job.status") {
  test::TestDir dir;
  auto status = [&](const std::string& job_status, const std::string& expr) {
    test::write(dir / "ctx.json", "{\"job\": {\"status\": \"" + job_status + "\"}}");
    auto r = test::akbuild(dir, {"expr", expr, "--context", (dir / "ctx.json").string()});
    return std::to_string(r.exit_code) + " " + r.out + r.err;
  };
  const std::string all = "format('{0} {1} {2} {3}', success(), failure(), cancelled(), always())";
  CHECK(status("success", all) == "0 \"true false false true\"\n");
  CHECK(status("failure", all) == "0 \"false true false true\"\n");
  CHECK(status("cancelled", all) == "0 \"false false true true\"\n");
  auto bad = status("done", "success()");
  CHECK_MESSAGE(bad.find("2 akbuild: error: ") == 0, bad);
  CHECK_MESSAGE(bad.find("ctx.json: job.status must be \"success\", \"failure\" or \"cancelled\", not \"done\"") !=
                    std::string::npos, bad);
}

TEST_CASE("Numbers show 15 fractional digits; equality and contains() ignore the case of every letter") {
  // Expected values from @actions/expressions 0.3.61, the reference evaluator the table is made with.
  test::TestDir dir;
  auto show = [&](const std::string& expr) { return test::akbuild(dir, {"expr", expr}).out; };
  CHECK(show("format('{0}', 1.000000000000001)") == "\"1.000000000000001\"\n");
  CHECK(show("'ZEBRA' == 'zebra'") == "true\n");
  CHECK(show("'Zz' == 'zZ'") == "true\n");
  CHECK(show("contains('ZEBRA', 'z')") == "true\n");
}

TEST_CASE("JSON nested 50,000 deep is refused by --context and fromJSON, not overflowing the stack") {
  std::string deep = std::string(50000, '[') + std::string(50000, ']');
  test::TestDir dir;
  test::write(dir / "ctx.json", R"({"github": )" + deep + "}");
  auto r = test::akbuild(dir, {"expr", "github", "--context", (dir / "ctx.json").string()});
  CHECK(r.exit_code == 2);
  CHECK(r.err == "akbuild: error: " + (dir / "ctx.json").string() + ": JSON nested deeper than 256 levels\n");
  EvalContext ctx;
  ctx.contexts = Value::object();
  ctx.contexts["env"] = Value::object();
  ctx.contexts["env"]["DEEP"] = deep;
  auto e = evaluate("toJSON(fromJSON(env.DEEP))", ctx);
  REQUIRE_FALSE(e);
  CHECK(e.error().message.find("fromJSON: JSON nested deeper than 256 levels") != std::string::npos);
  // 256 levels are fine.
  ctx.contexts["env"]["DEEP"] = std::string(256, '[') + std::string(256, ']');
  CHECK(evaluate("toJSON(fromJSON(env.DEEP))", ctx));
}

TEST_CASE("interpolate_value evaluates map keys and adds the items of an array an item gives, as act does") {
  EvalContext ctx;
  ctx.contexts = Value::parse(R"({"needs": {"prep": {"outputs": {"key": "flavour", "list": "[\"a\", \"b\"]"}}}})");
  auto v = interpolate_value(Value::parse(R"({
    "${{ needs.prep.outputs.key }}": "${{ fromJSON(needs.prep.outputs.list) }}",
    "items": ["x", "${{ fromJSON(needs.prep.outputs.list) }}", ["nested"], "${{ 1 }}"],
    "${{ insert }}": {"merged": true}
  })"), ctx);
  REQUIRE_MESSAGE(v.has_value(), v.error().message);
  CHECK(*v == Value::parse(R"({"flavour": ["a", "b"], "items": ["x", "a", "b", ["nested"], 1], "merged": true})"));
}
