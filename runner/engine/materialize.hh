#pragma once
// Putting stored output trees at their workspace paths, atomically: the tree is written into a
// temp sibling and swapped in with one rename (RENAME_EXCHANGE when something is there), so a
// reader sees the old output or the new one, never a part; an error leaves the old one.

#include <filesystem>
#include <string>

#include "runner/cas/cache_dir.hh"

namespace akbuild::engine {

// Makes `dest` hold tree `digest`. `is_file`: the tree wraps a single file or symlink named like
// dest (cas::store_tree of a non-directory). Skips the write when dest already holds exactly
// that content (checked through the stat cache). Returns whether it wrote.
Result<bool> materialize_output(cas::CacheDir& cache, const cas::Digest& digest, bool is_file,
                                const std::filesystem::path& dest);

// Whether `dest` holds exactly tree `digest` (types, executable bits, contents, symlink targets).
Result<bool> output_matches(cas::CacheDir& cache, const cas::Digest& digest, bool is_file,
                            const std::filesystem::path& dest);

} // namespace akbuild::engine
