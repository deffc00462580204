#include "runner/core/ansi.hh"

#include <cstdlib>

#include <unistd.h>

namespace akbuild {

bool colour_wanted(int fd) {
  if (const char* no = std::getenv("NO_COLOR"); no && *no) return false;
  if (const char* force = std::getenv("FORCE_COLOR")) {
    std::string_view f(force);
    if (!f.empty()) return f != "0" && f != "false";
  }
  return ::isatty(fd) == 1;
}

std::string strip_ansi(std::string_view text) {
  if (text.find('\x1b') == std::string_view::npos) return std::string(text);
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] != '\x1b') {
      out += text[i++];
      continue;
    }
    if (i + 1 >= text.size()) break;  // a lone ESC at the end
    char kind = text[i + 1];
    i += 2;
    if (kind == '[') {
      // Parameter and intermediate bytes (0x20-0x3f), up to the final byte (0x40-0x7e).
      while (i < text.size() && static_cast<unsigned char>(text[i]) >= 0x20 && static_cast<unsigned char>(text[i]) < 0x40) ++i;
      if (i < text.size()) ++i;
    } else if (kind == ']') {
      while (i < text.size() && text[i] != '\x07' && !(text[i] == '\x1b' && i + 1 < text.size() && text[i + 1] == '\\')) ++i;
      if (i < text.size()) i += text[i] == '\x07' ? 1 : 2;
    }
  }
  return out;
}

} // namespace akbuild
