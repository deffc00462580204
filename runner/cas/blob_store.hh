#pragma once
// BlobStore: content-addressed blobs by SHA-256. Backends are chosen by URL scheme from one
// table in blob_store.cc (file:// now; a remote store later), each private to its .cc.
//
// Contract for every backend:
// - put is atomic (temp + fsync + rename): a reader sees a whole blob or none; concurrent puts
//   of the same blob from several processes are safe.
// - every read is verified against its digest; a corrupt blob is removed, and the read returns
//   ErrorCode::corrupt naming the digest, so callers treat it as a miss.

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "runner/cas/digest.hh"
#include "runner/core/sink.hh"

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
  // The local path of a present blob when the backend is on this filesystem (for hardlinking
  // or copying out), else nullopt-like empty path.
  virtual std::filesystem::path local_path(const Digest& digest) const = 0;
  virtual Result<> remove(const Digest& digest) = 0;
};

// Opens a store by URL: "file:///abs/dir" or a plain directory path. `read_only`: an existing
// store is opened as it is (gets serve hits; puts fail naming the dir).
Result<std::unique_ptr<BlobStore>> open_blob_store(std::string_view url, bool read_only = false);

} // namespace akbuild::cas
