#pragma once
// Terminal colour in what akbuild prints: tools (openapi-ts, npm) may colour their output even
// into a pipe; the codes are kept only where a person reads them on a terminal.
// The conventions: NO_COLOR (no-color.org) set and non-empty turns colour off; FORCE_COLOR set
// and neither empty, "0" nor "false" turns it on (as Node's tools read it).

#include <string>
#include <string_view>

namespace akbuild {

// Whether escape codes may reach `fd`: NO_COLOR, else FORCE_COLOR, else whether it is a terminal.
bool colour_wanted(int fd);

// `text` without ANSI escape sequences (ECMA-48 CSI "ESC [ ... final byte", OSC "ESC ] ...
// BEL or ESC \", and two-byte "ESC x").
std::string strip_ansi(std::string_view text);

} // namespace akbuild
