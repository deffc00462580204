// ${{ }} expressions (runner/workflow/expr/expression.hh): parsed, then evaluated against a small
// context, alone and interpolated in text.
#include "fuzz/fuzz_support.hh"
#include "runner/workflow/expr/expression.hh"

using namespace akbuild;
using namespace akbuild::workflow;

namespace {

const EvalContext& context() {
  static const EvalContext ctx = [] {
    EvalContext c;
    c.contexts = Value::parse(R"({"github": {"ref": "refs/heads/main", "event": {"n": [1, 2, {"a": null}]}},
      "env": {"A": "1", "J": "{\"k\": [true, 1.5e3]}"}, "matrix": {"os": ["linux", "mac"]},
      "steps": {"s": {"outputs": {"o": "x"}}}})");
    c.workspace = fuzz::scratch_dir();  // hashFiles() finds nothing here
    return c;
  }();
  return ctx;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = fuzz::text(data, size);
  if (auto v = evaluate(text, context())) (void)to_json_text(*v, 2);
  (void)interpolate_string(text, context());
  (void)evaluate_condition(text, context());
  return 0;
}
