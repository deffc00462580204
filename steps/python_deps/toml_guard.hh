#pragma once
// A check of TOML text before toml++ sees it. Debian's toml++ 3.3 reaches
// `__builtin_unreachable()` (undefined behaviour: with a jump table, a jump to anywhere) when a
// non-ASCII character stands where its lexer looks for whitespace (`x = 1 é`), because its
// generated Unicode-whitespace table misses most code points. Where that happens depends on how
// the parser reads malformed text, which a scan of ours cannot follow exactly (fuzzing found
// quotes inside malformed tokens), so every non-ASCII byte is refused: uv writes none, and a
// string can hold any character as a \uXXXX escape.

#include <string>
#include <string_view>

#include "runner/core/result.hh"

namespace akbuild::steps {

// ok() when `text` is ASCII (after an optional byte-order mark); else
// "WHERE:LINE:COLUMN: non-ASCII character (...)".
Result<> check_toml_text(std::string_view text, const std::string& where);

} // namespace akbuild::steps
