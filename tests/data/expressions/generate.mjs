// Writes cases.json: every expression of CASES below with the value the reference evaluator
// `@actions/expressions` (GitHub's TypeScript implementation) gives it, so akbuild's evaluator
// is checked against an independent one. Run from the repository root:
//   NODE_PATH=.tools/node_modules node tests/data/expressions/generate.mjs > tests/data/expressions/cases.json
// The workflow tests re-run it and compare with the checked-in file when node and the package
// are present.
//
// Intentional differences, kept out of the table (and tested on their own in C++):
// - forgejo, gitea, forge are aliases of github (Forgejo's runner); here they are given the same
//   object so both sides agree.
// - success(), failure(), always(), cancelled(), hashFiles() are not in the package; the first
//   four are supplied below from each case's "status"; hashFiles is tested against sha256sum.
// - the package unescapes only the first '' in a string literal (String.replace); akbuild
//   unescapes all, as GitHub's runner does. Cases use at most one ''.
// - string case folding is ASCII-only in akbuild; cases stay in ASCII.
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

const require = createRequire(import.meta.url);
const base = path.resolve(process.env.NODE_PATH || ".tools/node_modules");
const pkg = await import(pathToFileURL(path.join(base, "@actions/expressions/dist/index.js")).href);
const { Lexer, Parser, Evaluator, data } = pkg;

const CONTEXT = {
  github: {
    event_name: "push", ref: "refs/heads/main", sha: "abc123", repository: "owner/repo",
    event: {
      number: 42,
      commits: [{ message: "one", author: { name: "a" } }, { message: "two", author: { name: "b" } }],
      labels: [{ name: "bug" }, { name: "docs" }],
    },
  },
  env: { CI: "true", EMPTY: "", NUM: "42", HEX: "0x10", ZERO: "0", Mixed: "Value", SPACED: " 7 " },
  vars: { greeting: "hello", list: "[1,2,3]" },
  secrets: { token: "s3cr3t" },
  inputs: { flag: true, off: false, count: 3, name: "x", none: null },
  matrix: { os: "linux", version: "1.21", list: [1, 2, 3], obj: { a: 1 } },
  needs: {
    build: { result: "success", outputs: { tag: "v1", json: "{\"a\":[1,2],\"b\":{\"c\":true}}" } },
    test: { result: "failure", outputs: {} },
  },
  steps: { s1: { outputs: { key: "k1", "cache-hit": "true" }, outcome: "success", conclusion: "success" } },
  job: { status: "success" },
  jobs: {},
  runner: { os: "Linux", arch: "X64" },
  strategy: { "fail-fast": true, "job-index": 0, "job-total": 2 },
};

// [expression, status] — status is "success" (default), "failure" or "cancelled".
const CASES = [
  // literals
  ["null"], ["true"], ["false"], ["0"], ["1"], ["-1"], ["+5"], ["1.5"], ["-2.25"], [".5"], ["5."],
  ["0x10"], ["0xff"], ["0XFF"], ["0o17"], ["0b101"], ["1e3"], ["1E3"], ["2.5e-3"], ["1e21"], ["1e-7"],
  ["123456789012345678"], ["0.1"], ["1.0000000000000002"], ["NaN"], ["Infinity"], ["-Infinity"],
  ["'hello'"], ["''"], ["'it''s'"], ["'a b  c'"], ["'{0}'"],
  // grouping and not
  ["(1)"], ["((true))"], ["!true"], ["!false"], ["!0"], ["!1"], ["!''"], ["!'a'"], ["!null"], ["!!'x'"],
  ["!NaN"], ["!matrix.list"], ["!matrix.obj"], ["!github.nope"],
  // equality, same kinds
  ["1 == 1"], ["1 == 2"], ["1 != 2"], ["'abc' == 'ABC'"], ["'abc' != 'abd'"], ["true == true"],
  ["true == false"], ["null == null"], ["NaN == NaN"], ["NaN != NaN"], ["Infinity == Infinity"],
  // equality with coercion
  ["1 == '1'"], ["'1' == 1"], ["1 == ' 1 '"], ["0 == ''"], ["'' == 0"], ["0 == 'abc'"], ["16 == '0x10'"],
  ["1 == true"], ["0 == false"], ["2 == true"], ["true == 'true'"], ["true == '1'"], ["false == ''"],
  ["null == 0"], ["null == ''"], ["null == false"], ["null == 'null'"], ["'1e3' == 1000"],
  ["matrix.obj == matrix.obj"], ["matrix.list == matrix.list"], ["matrix.obj == 'Object'"],
  ["matrix.list == matrix.list.*"], ["fromJSON('[]') == fromJSON('[]')"], ["matrix.obj == null"],
  ["github == forgejo"], ["env.NUM == 42"], ["env.HEX == 16"], ["env.SPACED == 7"], ["inputs.flag == 'true'"],
  ["inputs.flag == 1"], ["inputs.none == null"], ["inputs.none == 0"], ["inputs.count == '3'"],
  // ordering
  ["1 < 2"], ["2 < 1"], ["1 <= 1"], ["2 >= 3"], ["3 > 2"], ["'a' < 'b'"], ["'B' > 'a'"], ["'a' <= 'A'"],
  ["'abc' < 'abd'"], ["'10' < '9'"], ["10 < '9'"], ["'10' > 9"], ["true > false"], ["false < true"],
  ["true >= true"], ["null < 1"], ["null <= 0"], ["NaN < 1"], ["NaN >= NaN"], ["1 < 'x'"],
  ["'x' > 1"], ["matrix.obj < 1"], ["matrix.list > matrix.list"], ["-Infinity < Infinity"],
  ["true > 0"], ["'2' >= true"], ["null >= null"], ["'' < 'a'"],
  // logical operators return operand values
  ["true && true"], ["true && false"], ["1 && 'x'"], ["0 && 'x'"], ["'' && 'x'"], ["null && 1"],
  ["'a' || 'b'"], ["'' || 'b'"], ["0 || null"], ["null || false"], ["false || 0 || 'last'"],
  ["1 && 2 && 3"], ["1 && 0 && 3"], ["true || false && false"], ["(true || false) && false"],
  ["!true || true"], ["1 == 1 && 2 == 2"], ["1 < 2 == true"], ["matrix.obj && 'yes'"],
  ["env.EMPTY || 'default'"], ["env.CI == 'true' && 'ci' || 'local'"], ["github.nope || matrix.os"],
  ["NaN || 'fallback'"],
  // property access
  ["github.ref"], ["github['ref']"], ["github['REF']"], ["GITHUB.SHA"], ["github.event.number"],
  ["github.event.commits[0].message"], ["github.event.commits[1]['author'].name"], ["github.event.commits[2]"],
  ["github.event.commits[-1]"], ["github.event.commits[1.7].message"], ["github.event.commits['1'].message"],
  ["github.event.commits[true].message"], ["github.event.commits.*.message"], ["github.event.commits.*.author.name"],
  ["github.event.commits[*].message"], ["github.event.labels.*.name"], ["github.event.*"], ["matrix.*"],
  ["matrix.list.*"], ["matrix.list[*]"], ["matrix.obj.*"], ["github.event.commits.*.nope"],
  ["github.event.commits.*.author.*"], ["github.event.commits.*[0]"], ["env.*"],
  ["github.nope"], ["github.nope.deeper"], ["github.ref.nope"], ["github.ref[0]"], ["matrix.list[5]"],
  ["matrix['list'][1]"], ["steps.s1.outputs.cache-hit"], ["steps.s1.outputs['cache-hit']"],
  ["needs.build.outputs.tag"], ["needs.*.result"], ["needs.test.outputs.missing"], ["strategy.fail-fast"],
  ["strategy['job-total']"], ["runner.os"], ["vars.greeting"], ["secrets.token"], ["inputs.count"],
  ["inputs.none"], ["job.status"], ["jobs"], ["env.mixed"], ["env.MIXED"], ["(github).sha"],
  ["fromJSON(needs.build.outputs.json).a[1]"], ["fromJSON(needs.build.outputs.json).b.c"],
  ["forgejo.ref"], ["gitea.sha"], ["forge.repository"], ["matrix.obj[matrix.list[0]]"],
  // contains
  ["contains('Hello World', 'world')"], ["contains('abc', 'd')"], ["contains('abc', '')"],
  ["contains(matrix.list, 2)"], ["contains(matrix.list, '2')"], ["contains(matrix.list, 4)"],
  ["contains(github.event.labels.*.name, 'BUG')"], ["contains(github.event.labels.*.name, 'feature')"],
  ["contains(123, 2)"], ["contains(true, 'ru')"], ["contains(null, '')"], ["contains('abc', matrix.list)"],
  ["contains(matrix.obj, 'a')"], ["contains(fromJSON('[]'), 1)"], ["contains(fromJSON('[true]'), 1)"],
  ["contains(fromJSON('[null]'), '')"], ["CONTAINS('ABC', 'b')"], ["contains(github.ref, 'refs/heads/')"],
  // startsWith / endsWith
  ["startsWith('Hello', 'he')"], ["startsWith('Hello', 'lo')"], ["startsWith('x', '')"],
  ["startsWith(123, 12)"], ["startsWith(matrix.list, '1')"], ["startsWith('a', matrix.obj)"],
  ["startswith(github.ref, 'refs/heads')"], ["endsWith('Hello', 'LO')"], ["endsWith('Hello', 'he')"],
  ["endsWith(1.5, '.5')"], ["endsWith(true, 'e')"], ["endsWith(null, '')"], ["ENDSWITH('file.TXT', '.txt')"],
  ["endsWith(matrix.obj, 't')"],
  // format
  ["format('{0}', 'a')"], ["format('Hello {0} {1}', 'a', 'b')"], ["format('{1}{0}', 'x', 'y')"],
  ["format('{0}{0}', 'r')"], ["format('{{0}}', 'a')"], ["format('{{{0}}}', 'a')"], ["format('}}')"],
  ["format('plain')"], ["format('{0}', 1.5)"], ["format('{0}', true)"], ["format('{0}', null)"],
  ["format('{0}', matrix.list)"], ["format('{0}', matrix.obj)"], ["format('{0}', 0.1)"],
  ["format('{0}', 1e21)"], ["format('{0}', 123456789.123456789)"], ["format('{0}', NaN)"],
  ["format('{0}', Infinity)"], ["format('{0:x}', 'a')"], ["format('{1}', 'a')"], ["format('{', 1)"],
  ["format('}', 1)"], ["format('{}', 1)"], ["format('{a}', 1)"], ["FORMAT('{0}-{1}', github.sha, matrix.os)"],
  ["format('{0}', 1/2)"],
  // join
  ["join(matrix.list)"], ["join(matrix.list, '-')"], ["join(matrix.list, '')"], ["join('abc')"],
  ["join('abc', '-')"], ["join(5)"], ["join(null)"], ["join(matrix.obj)"], ["join(github.event.labels.*.name, ', ')"],
  ["join(fromJSON('[1, true, null, \"s\", [2]]'))"], ["join(matrix.list, matrix.obj)"], ["join(matrix.list, 0)"],
  // toJSON / fromJSON
  ["toJSON(matrix.list)"], ["toJSON(matrix.obj)"], ["toJSON('s')"], ["toJSON(1.5)"], ["toJSON(null)"],
  ["toJSON(true)"], ["toJSON(fromJSON('{}'))"], ["toJSON(fromJSON('[]'))"], ["toJSON(github.event.labels)"],
  ["toJSON(NaN)"], ["toJSON('a\"b')"], ["toJSON(matrix)"], ["toJson(steps.s1.outputs)"],
  ["fromJSON('1')"], ["fromJSON('\"s\"')"], ["fromJSON('true')"], ["fromJSON('null')"], ["fromJSON('[1,2]')"],
  ["fromJSON('{\"a\":{\"b\":[1]}}').a.b[0]"], ["fromJSON(' 3 ')"], ["fromJSON(vars.list)[2]"],
  ["fromJSON('{\"Z\":1,\"a\":2}')"], ["fromJSON('1.50')"], ["fromJSON('')"], ["fromJSON('nope')"],
  ["fromJSON('{')"], ["fromJSON(toJSON(matrix.obj)).a"], ["fromjson('2') == 2"], ["fromJSON(5)"],
  ["fromJSON('1e2')"],
  // case
  ["case(true, 'a', 'b')"], ["case(false, 'a', 'b')"], ["case(1 == 2, 'a', 2 == 2, 'c', 'd')"],
  ["case(1, 'a', 'b')"],
  // status functions
  ["success()"], ["failure()"], ["always()"], ["cancelled()"], ["success()", "failure"], ["failure()", "failure"],
  ["always()", "failure"], ["cancelled()", "cancelled"], ["success()", "cancelled"], ["failure() || 'x'", "success"],
  ["SUCCESS() && 'go'"], ["always() && github.sha"],
  // syntax errors (the position is checked)
  ["1 ="], ["a"], ["github."], ["github.0"], ["'unterminated"], ["1 2"], ["(1"], ["1)"], ["!"], ["&&"],
  ["1 & 2"], ["1 | 2"], ["foo()"], ["contains('a')"], ["contains('a', 'b', 'c')"], ["toJSON()"],
  ["format()"], ["join()"], ["case(true, 1)"], ["github[0"], ["github[]"], ["'a'[0]"], ["1.2.3"],
  ["0x"], ["1e"], ["--1"], ["github.event..x"], ["github.*.*"], ["nope.x"], ["@"], ["true false"],
  ["github..ref"], ["[1]"], [","], ["matrix.list[0"], ["success(1)"],
];

const contextNames = Object.keys(CONTEXT).concat(["forgejo", "gitea", "forge"]);

function statusFunctions(status) {
  const mk = (name, fn) => ({ name, description: "", minArgs: 0, maxArgs: 0, call: () => new data.BooleanData(fn()) });
  return [
    mk("success", () => status === "success"),
    mk("failure", () => status === "failure"),
    mk("always", () => true),
    mk("cancelled", () => status === "cancelled"),
  ];
}

function contextData() {
  const dict = JSON.parse(JSON.stringify(CONTEXT), data.reviver);
  const gh = dict.get("github");
  for (const alias of ["forgejo", "gitea", "forge"]) dict.add(alias, gh);
  return dict;
}

function evaluate(expr, status) {
  let ast;
  try {
    const lr = new Lexer(expr).lex();
    const funcs = statusFunctions(status);
    ast = new Parser(lr.tokens, contextNames, funcs).parse();
    const fmap = new Map(funcs.map(f => [f.name, f]));
    if (ast === undefined) return { error: "syntax", column: 1 };
    try {
      const r = new Evaluator(ast, contextData(), fmap).evaluate();
      return { json: JSON.stringify(r, data.replacer), string: r.coerceString() };
    } catch (e) {
      return { error: "eval" };
    }
  } catch (e) {
    if (e.pos) return { error: "syntax", column: e.pos.column + 1 };
    const m = /position (\d+)/.exec(e.message);
    return { error: "syntax", column: m ? Number(m[1]) : 0 };
  }
}

const out = {
  generated_by: "tests/data/expressions/generate.mjs with @actions/expressions " +
    require(path.join(base, "@actions/expressions/package.json")).version,
  context: CONTEXT,
  cases: CASES.map(([expr, status]) => ({ expr, status: status || "success", expect: evaluate(expr, status || "success") })),
};
process.stdout.write(JSON.stringify(out, null, 1) + "\n");
