#pragma once
// A step's workspace inputs: the files its globs match (minus excludes and every declared output
// of the run's steps; `.git/` is never an input), each with its content digest, and the matched
// directories that hold no input (empty ones), so that staging keeps them as an output tree would. Digests come from
// the stat cache when a file's stat fields are unchanged; the rest are hashed on several threads.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "runner/cas/digest.hh"
#include "runner/core/glob.hh"
#include "runner/core/result.hh"
#include "runner/core/walk.hh"

namespace akbuild::cas {
class StatCache;
}

namespace akbuild::engine {

struct InputFile {
  std::string path;      // workspace-relative, '/'
  FileType type = FileType::regular;  // regular, symlink, or a directory holding no input
  bool executable = false;
  std::string digest;    // sha256 hex of a regular file's content
  std::string target;    // a symlink's target, verbatim
  std::uint64_t size = 0;
  std::uint32_t permissions = 0;  // st_mode & 07777 (what a layer's tar records)
  // Its stat when keyed, to notice a change while the step runs. Not the ctime: staging links
  // the file, which moves it.
  std::int64_t mtime_ns = 0;
  std::uint64_t ino = 0;
};

// How `input` changed since it was keyed: its size, mtime, inode or permissions differ, or it is
// gone; as "path: what changed", nullopt when it did not.
std::optional<std::string> input_change(const std::filesystem::path& workspace, const InputFile& input);
// How directory `dir` (one of WholeDirs::dirs) changed since it was keyed: its mtime or inode
// differs (an entry added or removed), or it is gone; nullopt when it did not.
std::optional<std::string> dir_entries_change(const std::filesystem::path& workspace, const InputFile& dir);
// The first of `inputs` that changed (input_change), then of `dirs` (directories left in place,
// WholeDirs::dirs) one whose entries changed: its mtime or inode differs, or it is gone.
std::optional<std::string> changed_input(const std::filesystem::path& workspace, const std::vector<InputFile>& inputs,
                                         const std::vector<InputFile>& dirs = {});

// The topmost input directories of which every entry is an input (none excluded, none
// unmatched), which a sandbox may bind, or an in-process kind read in place, instead of staging
// them file by file; and every directory inside them, themselves included, with its stat when
// keyed (an entry added or removed while a step reads them changes its directory's mtime).
struct WholeDirs {
  std::vector<std::string> tops;
  std::vector<InputFile> dirs;
};

struct InputStats {
  std::uint64_t files = 0, hashed_files = 0;
};

// The matching files under `workspace`, in walk order (each directory sorted by name). `threads` = 0 picks the core count
// (at least 2). `stat_cache` may be null (hash everything); digests computed now are recorded in
// it, and the caller flushes it. Errors name the file. `whole` (optional) receives the
// directories that are inputs whole.
Result<std::vector<InputFile>> collect_inputs(const std::filesystem::path& workspace, const GlobSet& globs,
                                              cas::StatCache* stat_cache, unsigned threads = 0,
                                              InputStats* stats = nullptr, WholeDirs* whole = nullptr);

} // namespace akbuild::engine
