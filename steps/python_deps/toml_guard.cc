#include "steps/python_deps/toml_guard.hh"

#include <fmt/format.h>

namespace akbuild::steps {

Result<> check_toml_text(std::string_view text, const std::string& where) {
  std::size_t line = 1, column = 1;
  // A byte-order mark may open the file (toml++ skips it).
  std::size_t start = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;
  for (std::size_t i = start; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++line;
      column = 1;
    } else if (c >= 0x80) {
      return fail(ErrorCode::invalid_argument,
                  fmt::format("{}:{}:{}: non-ASCII character (write it as a \\uXXXX escape in a \"string\"; "
                              "the TOML parser cannot read it safely)",
                              where, line, column));
    } else {
      ++column;
    }
  }
  return ok();
}

} // namespace akbuild::steps
