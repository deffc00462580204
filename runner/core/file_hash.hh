#pragma once
// SHA-256 of files' content, read under an open directory. For many small files, the system calls
// are the cost: three per file (open, read, close), each ~1 us on a virtual machine, for a few KiB
// that SHA-NI hashes in about as long. hash_files_at sends a batch of them through io_uring, each
// file one linked chain (open into a registered slot, read, close) and the whole batch one
// submission, completed inline from the page cache. Large files, and every file where io_uring is
// not available (kernels before 5.19, container profiles that block it), take plain read(2), as
// does every file when the environment says AKBUILD_IO_URING=0.
//
// Usage:
//   std::vector<FileToHash> files = {{.name = "a.txt", .size = 1200}, {.name = "b.txt", .size = 90}};
//   hash_files_at(dirfd, files);   // then files[i].digest, or files[i].error

#include <cstdint>
#include <optional>
#include <span>

#include "runner/core/hash.hh"
#include "runner/core/result.hh"

namespace akbuild {

struct FileToHash {
  const char* name = nullptr;  // under the directory
  std::uint64_t size = 0;      // from its stat: the read stops there (a file that changes
                               // meanwhile changes its stat, so the caller's next look sees it)
  // Out: the digest, or what failed ("open: Permission denied").
  Sha256Bytes digest{};
  std::optional<Error> error{};
};

// Hashes every file of `files`, in batches. A file that cannot be read gets its error, the others
// their digests.
void hash_files_at(int dirfd, std::span<FileToHash> files);

// Whether hash_files_at goes through io_uring on this thread (false: plain reads throughout).
bool file_hash_uses_io_uring();

// One file, with plain reads, never following a symlink (dirfd AT_FDCWD: `name` is a path).
// `size_hint` (its lstat size; 0 = unknown) saves the end-of-file read. Errors name the call
// ("open: Permission denied").
Result<Sha256Bytes> hash_file_at(int dirfd, const char* name, std::uint64_t size_hint = 0);

} // namespace akbuild
