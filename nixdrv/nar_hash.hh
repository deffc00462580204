#pragma once
// NAR and flat hashes of paths on disk, as `nix-hash --type ALGO [--flat] PATH` prints them.
// Hashing runs on a second thread while the first reads files, so a warm tree hashes at about
// the speed of SHA-256 alone; memory stays a few MiB whatever the file sizes.
// Usage: auto h = AK_TRY(nar_hash("src")); std::cout << h.to_sri();

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "nixdrv/hash.hh"
#include "runner/core/result.hh"
#include "runner/core/sink.hh"

namespace akbuild::nixdrv {

struct NarDigest {
  Hash hash;
  std::uint64_t size = 0;  // bytes of NAR (or of the file, for a flat hash)
};

// sha256 of the NAR of `path`: the hash pins and fixed-output derivations are checked against.
Result<Hash> nar_hash(const std::filesystem::path& path);
// The NAR hash with any algorithm, and the NAR's size.
Result<NarDigest> nar_digest(const std::filesystem::path& path, HashAlgo algo = HashAlgo::sha256);
// The hash of a regular file's bytes (`nix-hash --flat`); symlinks are followed like Nix does.
Result<NarDigest> flat_digest(const std::filesystem::path& path, HashAlgo algo = HashAlgo::sha256);

// A Sink that hashes on a background thread: writes are gathered into 1 MiB chunks, and at most
// four chunks wait to be hashed (bounded memory). finish() joins the thread.
class ParallelHashSink final : public Sink {
public:
  explicit ParallelHashSink(HashAlgo algo);
  ~ParallelHashSink() override;
  ParallelHashSink(const ParallelHashSink&) = delete;
  ParallelHashSink& operator=(const ParallelHashSink&) = delete;

  using Sink::write;
  Result<> write(std::span<const std::byte> bytes) override;
  // The digest of everything written; the sink cannot be written to afterwards.
  NarDigest finish();

private:
  void run();
  void submit();

  HashAlgo m_algo;
  std::uint64_t m_size = 0;
  std::vector<std::byte> m_current;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::deque<std::vector<std::byte>> m_full, m_free;
  bool m_done = false;
  std::vector<std::byte> m_digest;
  std::thread m_thread;
};

} // namespace akbuild::nixdrv
