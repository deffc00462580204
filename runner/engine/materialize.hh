#pragma once
// Putting stored output trees at their workspace paths, atomically: the tree is written into a
// temp sibling and swapped in with one rename (RENAME_EXCHANGE when something is there), so a
// reader sees the old output or the new one, never a part; an error leaves the old one.

#include <filesystem>
#include <string>

#include "runner/cas/cache_dir.hh"

namespace akbuild::engine {

// Makes `root/rel` hold tree `digest`. `is_file`: the tree wraps a single file or symlink named
// like rel (cas::store_tree of a non-directory). Skips the write when it already holds exactly
// that content (checked through the stat cache). Returns whether it wrote. Nothing is written
// through a symlink: rel's parent directories are opened beneath root with no symlink followed
// (a step's output `d/link -> /elsewhere` makes a later `d/link/x` fail, naming d/link).
// Regular files are hard links to their blobs (read-only; keys and image layers read them as the
// 0644 files their tree records: core/blob_mark.hh), executables 0755 copies.
Result<bool> materialize_output(cas::CacheDir& cache, const cas::Digest& digest, bool is_file,
                                const std::filesystem::path& root, const std::string& rel);

// Whether `root/rel` (reached beneath root, as materialize_output reaches it) already holds
// exactly tree `digest`; false, not an error, when it cannot be reached.
Result<bool> output_present(cas::CacheDir& cache, const cas::Digest& digest, bool is_file,
                            const std::filesystem::path& root, const std::string& rel);

// Whether `dest` holds exactly tree `digest` (types, executable bits, contents, symlink targets).
// `known_as`: the path the stat cache knows it by, when dest is reached another way (an fd path).
Result<bool> output_matches(cas::CacheDir& cache, const cas::Digest& digest, bool is_file,
                            const std::filesystem::path& dest, const std::filesystem::path& known_as = {});

} // namespace akbuild::engine
