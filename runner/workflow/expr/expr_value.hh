#pragma once
// Values of the ${{ }} expression language and their coercions, as GitHub Actions documents them
// (docs.github.com "Evaluate expressions in workflows and actions", operators and functions) and
// as the reference evaluator `@actions/expressions` implements them: null, boolean, number
// (IEEE double), string, array, object. Objects keep their key order and are looked up
// case-insensitively.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "runner/core/result.hh"

namespace akbuild::workflow {

// Every expression value; numbers are held as doubles (integers from JSON are read as doubles).
using Value = nlohmann::ordered_json;

// Whether the value is one of null, boolean, number, string.
bool is_primitive(const Value& v);
// The number a value coerces to: null → 0, booleans → 0/1, strings as JavaScript's Number()
// reads them (trimmed, "" → 0, 0x/0o/0b prefixes, exponents, Infinity; anything else NaN),
// arrays and objects → NaN.
double to_number(const Value& v);
// JavaScript's Number(string).
double parse_js_number(std::string_view text);
// The string a value coerces to: null → "", "true"/"false", numbers with at most 15 fractional
// digits ("1.5", "100", "1e+21"), strings as they are, "Array" / "Object".
std::string to_display_string(const Value& v);
// A double in JavaScript's Number.prototype.toString form ("0.1", "1e+21", "NaN").
std::string js_number_string(double d);
bool truthy(const Value& v);

// Loose equality and ordering (coercion of booleans/null/strings to numbers when kinds differ,
// strings compared case-insensitively, NaN never equal or ordered). Arrays and objects compare
// by identity, which the evaluator decides; here they are never equal.
bool loose_equals(const Value& a, const Value& b);
bool loose_less(const Value& a, const Value& b);
bool loose_greater(const Value& a, const Value& b);
// Upper-case of ASCII letters (other bytes unchanged): the case folding of string comparisons.
std::string upper_ascii(std::string_view s);
std::string lower_ascii(std::string_view s);

// JSON text as JSON.stringify writes it: compact when indent is 0, else pretty with that many
// spaces; NaN and infinities as null; keys in insertion order.
std::string to_json_text(const Value& v, int indent = 0);

// JSON text (a --context file, an event payload) as a Value; invalid_argument "<what>: ..." when
// it does not parse or nests deeper than k_max_json_depth.
Result<Value> parse_json_value(std::string_view text, std::string_view what);

// The member of an object whose key equals `key` ignoring ASCII case, or nullptr.
const Value* find_member(const Value& object, std::string_view key);

} // namespace akbuild::workflow
