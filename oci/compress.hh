#pragma once
// Layer compressors as Sinks: bytes in, compressed bytes out to a downstream Sink.
//
// gzip (RFC 1952): the input is cut into fixed 1 MiB chunks, each compressed on a worker thread
// by libdeflate as its own gzip member, and the members are written in order. A concatenation
// of members is one valid gzip stream (RFC 1952 §2.2); since the chunking does not depend on
// the thread count, the output is the same on any machine with the same libdeflate.
// zstd (RFC 8878): libzstd's streaming API, multithreaded with a fixed job size, so the frame
// does not depend on the number of workers either.
//
// Usage: auto z = AK_TRY(make_compressor(Compression::gzip, file_sink)); z->write(...);
//        AK_TRY_VOID(z->finish());

#include <memory>
#include <string_view>

#include "runner/core/result.hh"
#include "runner/core/sink.hh"

namespace akbuild::oci {

enum class Compression { gzip, zstd };

// "gzip" / "zstd"; invalid_argument otherwise ("" is gzip).
Result<Compression> parse_compression(std::string_view name);
std::string_view to_string(Compression c);
// The OCI layer media type for the compression.
std::string_view layer_media_type(Compression c);

class Compressor : public Sink {
public:
  // Compresses what is buffered and writes the end of the stream; no write() after it.
  virtual Result<> finish() = 0;
};

// The most compression threads a caller may ask for (zstd's own limit on 64-bit).
inline constexpr unsigned k_max_compression_threads = 256;

// A compressor writing into `out` (which must outlive it). `threads` 0 = hardware threads;
// invalid_argument above k_max_compression_threads.
Result<std::unique_ptr<Compressor>> make_compressor(Compression c, Sink& out, unsigned threads = 0);

} // namespace akbuild::oci
