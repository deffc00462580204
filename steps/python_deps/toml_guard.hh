#pragma once
// A check of TOML text before toml++ sees it. Debian's toml++ 3.3 reaches
// `__builtin_unreachable()` (undefined behaviour: with a jump table, a jump to anywhere) when a
// non-ASCII character stands where whitespace may (`x = 1 é`), because its generated
// Unicode-whitespace table misses most code points. TOML allows non-ASCII only inside strings
// and comments, so anything else is refused here with its position, as the parser would.

#include <string>
#include <string_view>

#include "runner/core/result.hh"

namespace akbuild::steps {

// ok() when every non-ASCII byte of `text` is inside a string or a comment; else
// "WHERE:LINE:COLUMN: non-ASCII character outside a string or comment".
Result<> check_toml_text(std::string_view text, const std::string& where);

} // namespace akbuild::steps
