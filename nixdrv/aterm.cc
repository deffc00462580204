// The ATerm form of derivations (see derivation.hh for the grammar).
#include <string>

#include "nixdrv/derivation.hh"

namespace akbuild::nixdrv {

namespace {

void put_raw(std::string& out, std::string_view s) {
  out += '"';
  out += s;
  out += '"';
}

void put_escaped(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    default: out += c;
    }
  }
  out += '"';
}

template <class Range, class Fn>
void put_list(std::string& out, const Range& range, Fn fn) {
  out += '[';
  bool first = true;
  for (const auto& item : range) {
    if (!first) out += ',';
    first = false;
    fn(item);
  }
  out += ']';
}

class AtermParser {
public:
  explicit AtermParser(std::string_view text) : m_text(text) {}

  Result<Derivation> run() {
    Derivation drv;
    AK_TRY_VOID(literal("Derive("));
    AK_TRY_VOID(list([&]() -> Result<> {
      AK_TRY_VOID(literal("("));
      auto name = AK_TRY(string());
      DerivationOutput o;
      AK_TRY_VOID(literal(","));
      o.path = AK_TRY(string());
      if (!o.path.empty()) AK_TRY_VOID(store_path(o.path, "output path"));
      AK_TRY_VOID(literal(","));
      o.hash_algo = AK_TRY(string());
      AK_TRY_VOID(literal(","));
      o.hash = AK_TRY(string());
      AK_TRY_VOID(literal(")"));
      if (!drv.outputs.emplace(std::move(name), std::move(o)).second) return fail(error("duplicate output"));
      return ok();
    }));
    AK_TRY_VOID(literal(","));
    AK_TRY_VOID(list([&]() -> Result<> {
      AK_TRY_VOID(literal("("));
      auto path = AK_TRY(string());
      if (!AK_TRY(store_path(path, "input derivation")).is_derivation())
        return fail(error("input derivation '" + path + "' does not end in .drv"));
      AK_TRY_VOID(literal(","));
      std::set<std::string> outs;
      AK_TRY_VOID(list([&]() -> Result<> {
        outs.insert(AK_TRY(string()));
        return ok();
      }));
      AK_TRY_VOID(literal(")"));
      drv.input_drvs[std::move(path)] = std::move(outs);
      return ok();
    }));
    AK_TRY_VOID(literal(","));
    AK_TRY_VOID(list([&]() -> Result<> {
      auto path = AK_TRY(string());
      AK_TRY_VOID(store_path(path, "input source"));
      drv.input_srcs.insert(std::move(path));
      return ok();
    }));
    AK_TRY_VOID(literal(","));
    drv.platform = AK_TRY(string());
    AK_TRY_VOID(literal(","));
    drv.builder = AK_TRY(string());
    AK_TRY_VOID(literal(","));
    AK_TRY_VOID(list([&]() -> Result<> {
      drv.args.push_back(AK_TRY(string()));
      return ok();
    }));
    AK_TRY_VOID(literal(","));
    AK_TRY_VOID(list([&]() -> Result<> {
      AK_TRY_VOID(literal("("));
      auto key = AK_TRY(string());
      AK_TRY_VOID(literal(","));
      auto value = AK_TRY(string());
      AK_TRY_VOID(literal(")"));
      drv.env[std::move(key)] = std::move(value);
      return ok();
    }));
    AK_TRY_VOID(literal(")"));
    if (m_pos != m_text.size()) return fail(error("trailing text after the derivation"));
    return drv;
  }

private:
  Error error(std::string_view what) const {
    return Error{ErrorCode::invalid_argument, "derivation ATerm: " + std::string(what) + " at byte " + std::to_string(m_pos)};
  }
  // Paths must be store paths, as Nix's parser demands: a .drv read from a store directory is
  // outside input, and its paths end up in output paths and file names.
  Result<StorePath> store_path(const std::string& path, std::string_view what) const {
    auto sp = StorePath::parse(path);
    if (!sp) return fail(error(std::string(what) + " '" + path + "' is not a store path"));
    return sp;
  }
  Result<> literal(std::string_view s) {
    if (m_text.substr(m_pos, s.size()) != s) return fail(error("expected '" + std::string(s) + "'"));
    m_pos += s.size();
    return ok();
  }
  bool peek(char c) const { return m_pos < m_text.size() && m_text[m_pos] == c; }
  template <class Fn>
  Result<> list(Fn item) {
    AK_TRY_VOID(literal("["));
    if (peek(']')) {
      ++m_pos;
      return ok();
    }
    for (;;) {
      AK_TRY_VOID(item());
      if (peek(',')) {
        ++m_pos;
        continue;
      }
      return literal("]");
    }
  }
  Result<std::string> string() {
    AK_TRY_VOID(literal("\""));
    std::string out;
    for (;;) {
      if (m_pos >= m_text.size()) return fail(error("unterminated string"));
      char c = m_text[m_pos++];
      if (c == '"') return out;
      if (c == '\\') {
        if (m_pos >= m_text.size()) return fail(error("unterminated string"));
        char e = m_text[m_pos++];
        out += e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
      } else {
        out += c;
      }
    }
  }

  std::string_view m_text;
  std::size_t m_pos = 0;
};

} // namespace

std::string unparse_derivation(const Derivation& drv, bool mask_outputs) {
  std::string out;
  out.reserve(1024);
  out += "Derive(";
  put_list(out, drv.outputs, [&](const auto& kv) {
    out += '(';
    put_raw(out, kv.first);
    out += ',';
    put_raw(out, mask_outputs ? "" : kv.second.path);
    out += ',';
    put_raw(out, mask_outputs ? "" : kv.second.hash_algo);
    out += ',';
    put_raw(out, mask_outputs ? "" : kv.second.hash);
    out += ')';
  });
  out += ',';
  put_list(out, drv.input_drvs, [&](const auto& kv) {
    out += '(';
    put_raw(out, kv.first);
    out += ',';
    put_list(out, kv.second, [&](const std::string& o) { put_raw(out, o); });
    out += ')';
  });
  out += ',';
  put_list(out, drv.input_srcs, [&](const std::string& p) { put_raw(out, p); });
  out += ',';
  put_raw(out, drv.platform);
  out += ',';
  put_escaped(out, drv.builder);
  out += ',';
  put_list(out, drv.args, [&](const std::string& a) { put_escaped(out, a); });
  out += ',';
  put_list(out, drv.env, [&](const auto& kv) {
    out += '(';
    put_escaped(out, kv.first);
    out += ',';
    put_escaped(out, mask_outputs && drv.outputs.count(kv.first) ? std::string_view() : std::string_view(kv.second));
    out += ')';
  });
  out += ')';
  return out;
}

Result<Derivation> parse_derivation(std::string_view aterm) { return AtermParser(aterm).run(); }

} // namespace akbuild::nixdrv
