#pragma once
// BlobStore: content-addressed blobs by SHA-256. Backends are chosen by URL scheme from one
// table in blob_store.cc (file:// now; a remote store later), each private to its .cc.
//
// Contract for every backend:
// - put is atomic (temp + rename): a reader sees a whole blob or none; concurrent puts of the
//   same blob from several processes are safe. Blobs are durable once sync() returns: a caller
//   syncs once before it writes a record naming them, not once per blob.
// - every read is verified against its digest; a corrupt blob is removed, and the read returns
//   ErrorCode::corrupt naming the digest, so callers treat it as a miss.
// - a blob may be hard-linked out (link_out) only while it carries the intact mark: read-only,
//   an mtime of 1 s (as Nix's store) and its size. A write through any link moves the mtime, so
//   a blob edited in place is re-hashed by check() before it is trusted again.

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "runner/cas/digest.hh"
#include "runner/core/sink.hh"
#include "runner/core/walk.hh"

namespace akbuild::cas {

class BlobStore {
public:
  virtual ~BlobStore() = default;

  virtual Result<bool> contains(const Digest& digest) = 0;
  // The blob's bytes, verified.
  virtual Result<std::string> get(const Digest& digest) = 0;
  // Streams the blob into `sink`, verifying as it goes; on a mismatch the sink has received
  // bytes, so callers write into temp files they discard on error.
  virtual Result<> read_to(const Digest& digest, Sink& sink) = 0;
  // Stores bytes; returns their digest.
  virtual Result<Digest> put(std::string_view bytes) = 0;
  // Stores a file's content (streamed, constant memory); returns its digest.
  virtual Result<Digest> put_file(const std::filesystem::path& path) = 0;
  // Stores a file whose digest the caller already knows (skips the copy if present).
  virtual Result<> put_file_known(const std::filesystem::path& path, const Digest& digest) = 0;
  // Stores a complete, synced file whose digest the caller computed while writing it, by a hard
  // link when it is on the store's filesystem (made read-only), else by a copy. For large files
  // (image layers) that should not be copied; reads verify the digest as always.
  virtual Result<> adopt_file(const std::filesystem::path& path, const Digest& digest) = 0;
  // Stores the regular file `name` under `dirfd` by moving it into the store (hashed as it is
  // read; made read-only) when it is on the store's file system and has no other link, else by a
  // copy; a file whose content is stored already is removed. The file is gone or unchanged
  // afterwards. Returns its digest.
  virtual Result<Digest> move_file(int dirfd, const std::string& name) = 0;
  // Whether the blob is present and intact: trusted by its intact mark and `size`, else re-hashed
  // (and marked when it is whole). A corrupt or wrongly sized blob is removed (ErrorCode::corrupt).
  virtual Result<> check(const Digest& digest, std::uint64_t size) = 0;
  // Hard-links the blob to `name` under `dirfd` when it carries its intact mark with `size` and
  // the link can be made (same file system, link count); false when the caller must copy instead.
  virtual bool link_out(const Digest& digest, std::uint64_t size, int dirfd, const std::string& name) = 0;
  // Whether the file `info` describes is a hard link to the blob, and the blob still intact.
  virtual bool is_linked_blob(const Digest& digest, std::uint64_t size, const FileInfo& info) const = 0;
  // Makes every blob stored so far durable (one syncfs of the store's file system).
  virtual Result<> sync() = 0;
  // The local path of a present blob when the backend is on this filesystem (for hardlinking
  // or copying out), else nullopt-like empty path.
  virtual std::filesystem::path local_path(const Digest& digest) const = 0;
  virtual Result<> remove(const Digest& digest) = 0;
};

// Opens a store by URL: "file:///abs/dir" or a plain directory path. `read_only`: an existing
// store is opened as it is (gets serve hits; puts fail naming the dir).
Result<std::unique_ptr<BlobStore>> open_blob_store(std::string_view url, bool read_only = false);

} // namespace akbuild::cas
