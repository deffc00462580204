#pragma once
// Merkle directory trees over the BlobStore. A directory is an akbuild.v1.Tree message
// (entries sorted by name bytes; regular, executable, symlink, directory), serialized
// deterministically and stored as a blob; its digest names the directory.

#include <filesystem>
#include <map>
#include <string>
#include <unordered_set>
#include <vector>

#include "runner/cas/blob_store.hh"
#include "runner/cas/digest.hh"

namespace akbuild::cas {

struct TreeStats {
  std::uint64_t files = 0, directories = 0, symlinks = 0, bytes = 0;
};

// copy: the files stay where they are. move: each file is moved into the store where it can be
// (BlobStore::move_file), leaving directories, symlinks and the files it copied.
enum class StoreMode { copy, move };

// Imports `path` (a directory, a file or a symlink) into the store and returns the digest of
// its root node. Symlinks are stored verbatim; FIFOs, sockets and devices are errors naming them.
// A single file's root is a Tree with one entry named by the file name. The blobs are durable
// after the store's sync().
Result<Digest> store_tree(BlobStore& store, const std::filesystem::path& path, TreeStats* stats = nullptr,
                          StoreMode mode = StoreMode::copy);

// Writes the tree `root` to `dest` (which must not exist): regular files hard-linked to their
// intact blobs (read-only, mtime 1 s: core/blob_mark.hh) where the store can, else copied out
// (verified) as 0644; executables copied as 0755; symlinks as stored (targets are not followed).
// Names are checked (no '/', '.', '..', NUL). Writes into a temp sibling and renames it to
// `dest` at the end, so an error leaves nothing at `dest`.
Result<> materialize_tree(BlobStore& store, const Digest& root, const std::filesystem::path& dest);

// Checks that every blob reachable from `root` is present and intact. A corrupt blob is
// evicted; the error names it.
Result<TreeStats> verify_tree(BlobStore& store, const Digest& root);

// Checks that every blob reachable from `root` is present and intact, re-hashing only blobs
// whose intact mark is gone (BlobStore::check); the directory records are read (verified).
Result<TreeStats> check_tree(BlobStore& store, const Digest& root);

// The flat listing of a tree: relative path -> (digest hex, type char 'f' 'x' 'l' 'd', target).
struct TreeFile {
  char type = 'f';
  std::string digest;  // file content digest; empty for dirs and symlinks
  std::string target;  // symlink target
  std::uint64_t size = 0;
};
Result<std::map<std::string, TreeFile>> list_tree(BlobStore& store, const Digest& root);

// Adds to `blobs` every blob reachable from `root` (its directory records and file contents),
// reading only the directory records. Subtrees already in `blobs` are not read again.
Result<> collect_tree_blobs(BlobStore& store, const Digest& root, std::unordered_set<Digest>& blobs);

} // namespace akbuild::cas
