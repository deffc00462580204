#pragma once
// One entry of a stat fingerprint: what identifies a tree's entry without reading it. Used by the
// NAR hash cache and the layer cache to tell an unchanged tree from its stat data alone.

#include <string_view>

#include "runner/core/hash.hh"
#include "runner/core/walk.hh"

namespace akbuild {

// Adds fixed-width fields (size, dev, inode, mtime, ctime, mode and a type letter) and then the
// path and an extra string (a symlink target, a hardlink group...), both length-prefixed since
// they may hold any byte but NUL.
void add_stat_record(Hasher& hasher, std::string_view rel, char type, const FileInfo& info,
                     std::string_view extra = {});

} // namespace akbuild
