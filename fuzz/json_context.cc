// JSON contexts and event payloads (`akbuild expr --context`, `act -e`): parsed with the depth
// bound, then walked by the evaluator and printed.
#include "fuzz/fuzz_support.hh"
#include "runner/workflow/expr/expression.hh"

using namespace akbuild;
using namespace akbuild::workflow;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = fuzz::text(data, size);
  auto value = parse_json_value(text, "ctx.json");
  if (!value) return 0;
  (void)to_json_text(*value, 2);
  EvalContext ctx;
  ctx.workspace = fuzz::scratch_dir();
  if (value->is_object()) ctx.contexts = *value;
  ctx.contexts["env"] = Value::object();
  ctx.contexts["env"]["T"] = std::string(text);
  for (const char* e : {"toJSON(github)", "github.event.*.a", "fromJSON(env.T)", "join(matrix.*, ',')",
                        "contains(toJSON(inputs), 'x')", "format('{0}{1}', github, fromJSON(env.T))"})
    if (auto v = evaluate(e, ctx)) (void)to_json_text(*v);
  (void)interpolate_value(*value, ctx);
  return 0;
}
