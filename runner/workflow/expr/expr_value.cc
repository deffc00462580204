#include "runner/workflow/expr/expr_value.hh"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "runner/core/encoding.hh"
#include "runner/core/json_depth.hh"

namespace akbuild::workflow {

namespace {

constexpr double k_nan = std::numeric_limits<double>::quiet_NaN();

enum class Kind { null, boolean, number, string, array, object };

Kind kind_of(const Value& v) {
  if (v.is_null()) return Kind::null;
  if (v.is_boolean()) return Kind::boolean;
  if (v.is_number()) return Kind::number;
  if (v.is_string()) return Kind::string;
  if (v.is_array()) return Kind::array;
  return Kind::object;
}

bool is_js_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// Digits of an unsigned integer literal in base 2, 8 or 16 (no sign, no fraction).
double parse_radix(std::string_view digits, int base) {
  if (digits.empty()) return k_nan;
  double r = 0;
  for (char c : digits) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return k_nan;
    if (d >= base) return k_nan;
    r = r * base + d;
  }
  return r;
}

// Decimal literal per ECMAScript StrDecimalLiteral: [+-] (Infinity | digits [. digits] [e[+-]digits]
// | . digits [e...]).
double parse_decimal(std::string_view s) {
  std::size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  std::string_view rest = s.substr(i);
  if (rest == "Infinity") return neg ? -INFINITY : INFINITY;
  std::size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') { ++i; ++int_digits; }
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') { ++i; ++frac_digits; }
  }
  if (int_digits + frac_digits == 0) return k_nan;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    std::size_t exp_digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') { ++i; ++exp_digits; }
    if (exp_digits == 0) return k_nan;
  }
  if (i != s.size()) return k_nan;
  std::string text(s);
  return std::strtod(text.c_str(), nullptr);
}

void append_json_string(std::string& out, const std::string& s) {
  out += '"';
  out += json_escaped(s);
  out += '"';
}

void append_json(std::string& out, const Value& v, int indent, int depth) {
  auto newline = [&](int d) {
    if (indent == 0) return;
    out += '\n';
    out.append(static_cast<std::size_t>(indent * d), ' ');
  };
  switch (kind_of(v)) {
  case Kind::null: out += "null"; return;
  case Kind::boolean: out += v.get<bool>() ? "true" : "false"; return;
  case Kind::number: {
    double d = v.get<double>();
    out += std::isfinite(d) ? js_number_string(d) : "null";
    return;
  }
  case Kind::string: append_json_string(out, v.get_ref<const std::string&>()); return;
  case Kind::array: {
    if (v.empty()) { out += "[]"; return; }
    out += '[';
    bool first = true;
    for (const auto& item : v) {
      if (!first) out += ',';
      first = false;
      newline(depth + 1);
      append_json(out, item, indent, depth + 1);
    }
    newline(depth);
    out += ']';
    return;
  }
  case Kind::object: {
    if (v.empty()) { out += "{}"; return; }
    out += '{';
    bool first = true;
    for (const auto& [key, item] : v.items()) {
      if (!first) out += ',';
      first = false;
      newline(depth + 1);
      append_json_string(out, key);
      out += indent ? ": " : ":";
      append_json(out, item, indent, depth + 1);
    }
    newline(depth);
    out += '}';
    return;
  }
  }
}

} // namespace

bool is_primitive(const Value& v) { return !v.is_array() && !v.is_object(); }

double parse_js_number(std::string_view text) {
  std::size_t b = 0, e = text.size();
  while (b < e && is_js_space(static_cast<unsigned char>(text[b]))) ++b;
  while (e > b && is_js_space(static_cast<unsigned char>(text[e - 1]))) --e;
  std::string_view s = text.substr(b, e - b);
  if (s.empty()) return 0;
  if (s.size() > 2 && s[0] == '0') {
    char p = s[1];
    if (p == 'x' || p == 'X') return parse_radix(s.substr(2), 16);
    if (p == 'o' || p == 'O') return parse_radix(s.substr(2), 8);
    if (p == 'b' || p == 'B') return parse_radix(s.substr(2), 2);
  }
  return parse_decimal(s);
}

double to_number(const Value& v) {
  switch (kind_of(v)) {
  case Kind::null: return 0;
  case Kind::boolean: return v.get<bool>() ? 1 : 0;
  case Kind::number: return v.get<double>();
  case Kind::string: return parse_js_number(v.get_ref<const std::string&>());
  default: return k_nan;
  }
}

std::string js_number_string(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  if (d == 0) return "0";
  std::string sign = d < 0 ? "-" : "";
  double a = std::fabs(d);
  // Shortest round-tripping digits, as ECMAScript's Number::toString picks them.
  char buf[40];
  int precision = 1;
  for (; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*e", precision - 1, a);
    if (std::strtod(buf, nullptr) == a) break;
  }
  std::string text(buf);
  auto e_pos = text.find('e');
  std::string digits;
  for (std::size_t i = 0; i < e_pos; ++i)
    if (text[i] != '.') digits += text[i];
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  int n = std::atoi(text.c_str() + e_pos + 1) + 1;  // value = 0.digits × 10^n
  int k = static_cast<int>(digits.size());
  if (k <= n && n <= 21) return sign + digits + std::string(static_cast<std::size_t>(n - k), '0');
  if (0 < n && n <= 21) return sign + digits.substr(0, static_cast<std::size_t>(n)) + "." + digits.substr(static_cast<std::size_t>(n));
  if (-6 < n && n <= 0) return sign + "0." + std::string(static_cast<std::size_t>(-n), '0') + digits;
  std::string exp = (n - 1 >= 0 ? "+" : "-") + std::to_string(std::abs(n - 1));
  if (k == 1) return sign + digits + "e" + exp;
  return sign + digits.substr(0, 1) + "." + digits.substr(1) + "e" + exp;
}

std::string to_display_string(const Value& v) {
  switch (kind_of(v)) {
  case Kind::null: return "";
  case Kind::boolean: return v.get<bool>() ? "true" : "false";
  case Kind::number: {
    double d = v.get<double>();
    if (d == 0) return "0";
    // The reference evaluator limits output to 15 fractional digits: (+d.toFixed(15)).toString().
    if (std::isfinite(d) && std::fabs(d) < 1e21) {
      char buf[400];
      std::snprintf(buf, sizeof buf, "%.15f", d);
      d = std::strtod(buf, nullptr);
    }
    return js_number_string(d);
  }
  case Kind::string: return v.get<std::string>();
  case Kind::array: return "Array";
  case Kind::object: return "Object";
  }
  return "";
}

bool truthy(const Value& v) {
  switch (kind_of(v)) {
  case Kind::null: return false;
  case Kind::boolean: return v.get<bool>();
  case Kind::number: {
    double d = v.get<double>();
    return !(d == 0 || std::isnan(d));
  }
  case Kind::string: return !v.get_ref<const std::string&>().empty();
  default: return true;
  }
}

std::string upper_ascii(std::string_view s) {
  std::string r(s);
  for (char& c : r)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return r;
}

std::string lower_ascii(std::string_view s) {
  std::string r(s);
  for (char& c : r)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return r;
}

namespace {

// Brings two values to a common kind as the documented rules say: when kinds differ, null and
// booleans become numbers, and a string facing a number becomes a number.
std::pair<Value, Value> coerce(const Value& a, const Value& b) {
  Kind ka = kind_of(a), kb = kind_of(b);
  if (ka == kb) return {a, b};
  if (ka == Kind::number && kb == Kind::string) return {a, Value(to_number(b))};
  if (ka == Kind::string && kb == Kind::number) return {Value(to_number(a)), b};
  if (ka == Kind::null || ka == Kind::boolean) return coerce(Value(to_number(a)), b);
  if (kb == Kind::null || kb == Kind::boolean) return coerce(a, Value(to_number(b)));
  return {a, b};
}

// -1, 0, 1 for ordered pairs, or 2 when not comparable (kinds differ, NaN, containers).
int compare(const Value& a, const Value& b) {
  auto [l, r] = coerce(a, b);
  Kind k = kind_of(l);
  if (k != kind_of(r)) return 2;
  switch (k) {
  case Kind::null: return 0;
  case Kind::number: {
    double x = l.get<double>(), y = r.get<double>();
    if (std::isnan(x) || std::isnan(y)) return 2;
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  case Kind::string: {
    int c = upper_ascii(l.get_ref<const std::string&>()).compare(upper_ascii(r.get_ref<const std::string&>()));
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  case Kind::boolean: {
    bool x = l.get<bool>(), y = r.get<bool>();
    return x == y ? 0 : (x ? 1 : -1);
  }
  default: return 2;
  }
}

} // namespace

bool loose_equals(const Value& a, const Value& b) { return compare(a, b) == 0; }
bool loose_less(const Value& a, const Value& b) { return compare(a, b) == -1; }
bool loose_greater(const Value& a, const Value& b) { return compare(a, b) == 1; }

Result<Value> parse_json_value(std::string_view text, std::string_view what) {
  AK_TRY_VOID(check_json_depth(text, what));
  try {
    return Value::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCode::invalid_argument, std::string(what) + ": invalid JSON: " + e.what());
  }
}

std::string to_json_text(const Value& v, int indent) {
  std::string out;
  append_json(out, v, indent, 0);
  return out;
}

const Value* find_member(const Value& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  // The first key equal ignoring case wins, as in the reference evaluator's dictionaries.
  std::string lower = lower_ascii(key);
  for (const auto& [k, v] : object.items())
    if (lower_ascii(k) == lower) return &v;
  return nullptr;
}

} // namespace akbuild::workflow
