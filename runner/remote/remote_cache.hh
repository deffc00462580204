#pragma once
// RemoteCache: a cache server other builder hosts share, spoken to in one of two protocols,
// chosen by URL scheme from one table in remote_cache.cc, each private to its .cc:
// - grpc:// and grpcs://: REAPI v2 (ActionCache, ContentAddressableStorage, ByteStream,
//   Capabilities), as bazel-remote, Buildbarn, BuildGrid and NativeLink serve it;
// - http:// and https://: Bazel's HTTP cache protocol (GET/PUT /ac/<hex>, /cas/<hex>), as nginx
//   WebDAV or bazel-remote's HTTP side serve it.
// Both store the action cache's values as serialized REAPI ActionResult messages; what they mean
// is remote_sync.hh's business. Every blob read is verified against its digest before a byte of
// it reaches the local store; every call has a deadline.
//
// Usage:
//   auto remote = AK_TRY(open_remote_cache({.url = "grpc://cache:9092/main"}));
//   auto missing = AK_TRY(remote->find_missing(blobs));

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runner/cas/blob_store.hh"
#include "runner/cas/digest.hh"

namespace akbuild::remote {

// A blob as REAPI names it: its SHA-256 and its size.
struct BlobRef {
  cas::Digest digest;
  std::uint64_t size = 0;
  auto operator<=>(const BlobRef&) const = default;
  static BlobRef of(std::string_view bytes) { return {cas::Digest::of(bytes), bytes.size()}; }
};

// A blob to upload: its bytes in memory, or a file holding them.
struct UploadBlob {
  BlobRef ref;
  std::string bytes;
  std::filesystem::path file;  // when set, read from here instead of `bytes`
};

struct RemoteOptions {
  std::string url;                 // grpc[s]://host:port[/instance], http[s]://host:port[/prefix]
  std::string token;               // sent as `authorization: Bearer <token>` when set
  bool read_only = false;          // never write (fork pull requests, untrusted builds)
  std::string tls_ca_pem, tls_cert_pem, tls_key_pem;  // grpcs/https: roots, client cert (mTLS)
  std::chrono::milliseconds timeout{60'000};          // per call (a batch, one blob's transfer)
  std::chrono::milliseconds connect_timeout{5'000};
  unsigned parallel = 8;           // transfers in flight
};

class RemoteCache {
public:
  virtual ~RemoteCache() = default;
  // The serialized ActionResult stored under `action` (the digest of an Action message);
  // nullopt when the server has none.
  virtual Result<std::optional<std::string>> get_action_result(const BlobRef& action) = 0;
  // Stores `result` (a serialized ActionResult) under `action`.
  virtual Result<> put_action_result(const BlobRef& action, const std::string& result) = 0;
  // Those of `blobs` the server does not hold.
  virtual Result<std::vector<BlobRef>> find_missing(const std::vector<BlobRef>& blobs) = 0;
  // One blob's bytes, verified (for small blobs: Tree messages).
  virtual Result<std::string> read_blob(const BlobRef& blob) = 0;
  // Downloads `blobs` into `store` (through temp files in `tmp_dir`, on the store's file
  // system), each verified before it is stored; corrupt when one does not match its digest,
  // not_found when the server lacks one.
  virtual Result<> fetch(const std::vector<BlobRef>& blobs, cas::BlobStore& store,
                         const std::filesystem::path& tmp_dir) = 0;
  // Uploads `blobs` (in batches, or one stream each for large ones; several at once).
  virtual Result<> upload(const std::vector<UploadBlob>& blobs) = 0;
  // Whether find_missing is one cheap call for many blobs (REAPI), rather than a request per
  // blob (HTTP), where fetching them and taking a 404 as a miss costs less.
  virtual bool batched_find_missing() const { return true; }
  // Bytes moved so far, for stats.
  virtual std::uint64_t bytes_down() const = 0;
  virtual std::uint64_t bytes_up() const = 0;
  const RemoteOptions& options() const { return m_options; }

protected:
  explicit RemoteCache(RemoteOptions options) : m_options(std::move(options)) {}
  RemoteOptions m_options;
};

// Opens a client for `options.url`; invalid_argument naming the URL when its scheme is not one of
// grpc, grpcs, http, https or it is malformed. TLS files the options lack are read from
// AKBUILD_REMOTE_TLS_CA (roots), AKBUILD_REMOTE_TLS_CERT and AKBUILD_REMOTE_TLS_KEY (a client
// certificate, for mTLS). Connects lazily: a server that is down fails the first call, not this
// one.
Result<std::unique_ptr<RemoteCache>> open_remote_cache(RemoteOptions options);

// Options from the environment (AKBUILD_REMOTE_CACHE, AKBUILD_REMOTE_TOKEN_FILE,
// AKBUILD_REMOTE_READ_ONLY=1) under the flags given (flags win; empty = unset); nullopt when no
// URL is named. invalid_argument naming a token file that cannot be read or is empty.
Result<std::optional<RemoteOptions>> remote_options(std::string url, std::string token_file, bool read_only);

} // namespace akbuild::remote
