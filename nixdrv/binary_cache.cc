#include "nixdrv/binary_cache.hh"

#include <memory>
#include <vector>

#include <fcntl.h>
#include <lzma.h>
#include <unistd.h>
#include <zstd.h>

#include "nixdrv/nar.hh"
#include "runner/core/atomic_file.hh"
#include "runner/core/fs.hh"

namespace akbuild::nixdrv {

namespace {

constexpr std::size_t k_out_chunk = 256 * 1024;

class PlainSink final : public CompressSink {
public:
  explicit PlainSink(Sink& out) : m_out(out) {}
  using Sink::write;
  Result<> write(std::span<const std::byte> bytes) override { return m_out.write(bytes); }
  Result<> finish() override { return ok(); }

private:
  Sink& m_out;
};

// xz with preset 6 and CRC64, as `xz` and Nix's own compressor default to.
class XzSink final : public CompressSink {
public:
  explicit XzSink(Sink& out) : m_out(out), m_buf(k_out_chunk) {
    m_ok = lzma_easy_encoder(&m_strm, 6, LZMA_CHECK_CRC64) == LZMA_OK;
  }
  ~XzSink() override { lzma_end(&m_strm); }
  using Sink::write;
  Result<> write(std::span<const std::byte> bytes) override { return pump(bytes, LZMA_RUN); }
  Result<> finish() override { return pump({}, LZMA_FINISH); }

private:
  Result<> pump(std::span<const std::byte> in, lzma_action action) {
    if (!m_ok) return fail(ErrorCode::internal, "xz: cannot initialise the encoder");
    m_strm.next_in = reinterpret_cast<const uint8_t*>(in.data());
    m_strm.avail_in = in.size();
    for (;;) {
      m_strm.next_out = reinterpret_cast<uint8_t*>(m_buf.data());
      m_strm.avail_out = m_buf.size();
      lzma_ret r = lzma_code(&m_strm, action);
      if (r != LZMA_OK && r != LZMA_STREAM_END) return fail(ErrorCode::internal, "xz: compression failed (" + std::to_string(r) + ")");
      std::size_t n = m_buf.size() - m_strm.avail_out;
      if (n) AK_TRY_VOID(m_out.write(std::span(m_buf.data(), n)));
      if (action == LZMA_FINISH ? r == LZMA_STREAM_END : (m_strm.avail_in == 0 && m_strm.avail_out != 0)) return ok();
    }
  }
  Sink& m_out;
  lzma_stream m_strm = LZMA_STREAM_INIT;
  std::vector<std::byte> m_buf;
  bool m_ok = false;
};

class ZstdSink final : public CompressSink {
public:
  explicit ZstdSink(Sink& out) : m_out(out), m_ctx(ZSTD_createCCtx()), m_buf(ZSTD_CStreamOutSize()) {}
  ~ZstdSink() override { ZSTD_freeCCtx(m_ctx); }
  using Sink::write;
  Result<> write(std::span<const std::byte> bytes) override { return pump(bytes, ZSTD_e_continue); }
  Result<> finish() override { return pump({}, ZSTD_e_end); }

private:
  Result<> pump(std::span<const std::byte> bytes, ZSTD_EndDirective mode) {
    if (!m_ctx) return fail(ErrorCode::internal, "zstd: cannot create a context");
    ZSTD_inBuffer in{bytes.data(), bytes.size(), 0};
    for (;;) {
      ZSTD_outBuffer out{m_buf.data(), m_buf.size(), 0};
      std::size_t left = ZSTD_compressStream2(m_ctx, &out, &in, mode);
      if (ZSTD_isError(left)) return fail(ErrorCode::internal, std::string("zstd: ") + ZSTD_getErrorName(left));
      if (out.pos) AK_TRY_VOID(m_out.write(std::span(m_buf.data(), out.pos)));
      if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) return ok();
    }
  }
  Sink& m_out;
  ZSTD_CCtx* m_ctx;
  std::vector<std::byte> m_buf;
};

std::string_view extension(Compression c) {
  switch (c) {
  case Compression::none: return "";
  case Compression::xz: return ".xz";
  case Compression::zstd: return ".zst";
  }
  return "";
}

} // namespace

std::string_view to_string(Compression c) {
  switch (c) {
  case Compression::none: return "none";
  case Compression::xz: return "xz";
  case Compression::zstd: return "zstd";
  }
  return "none";
}

std::optional<Compression> parse_compression(std::string_view name) {
  if (name == "none") return Compression::none;
  if (name == "xz") return Compression::xz;
  if (name == "zstd") return Compression::zstd;
  return std::nullopt;
}

std::unique_ptr<CompressSink> CompressSink::create(Compression c, Sink& out) {
  switch (c) {
  case Compression::xz: return std::make_unique<XzSink>(out);
  case Compression::zstd: return std::make_unique<ZstdSink>(out);
  case Compression::none: break;
  }
  return std::make_unique<PlainSink>(out);
}

Result<FileBinaryCache> FileBinaryCache::open(std::string_view url) {
  std::string_view dir = url;
  if (url.starts_with("file://")) dir = url.substr(7);
  else if (url.find("://") != std::string_view::npos)
    return fail(ErrorCode::invalid_argument, "binary cache '" + std::string(url) + "': only file:// caches are supported");
  if (dir.empty() || dir.front() != '/')
    return fail(ErrorCode::invalid_argument, "binary cache '" + std::string(url) + "': needs an absolute path (file:///dir)");
  std::filesystem::path root(dir);
  AK_TRY_VOID(make_dirs(root / "nar"));
  auto info = root / "nix-cache-info";
  if (!std::filesystem::exists(info)) AK_TRY_VOID(write_file_atomic(info, "StoreDir: /nix/store\n"));
  return FileBinaryCache(root);
}

Result<NarInfo> FileBinaryCache::add_path(const std::filesystem::path& path, std::string_view name,
                                          const CacheAddOptions& options) {
  AK_TRY_VOID(check_store_name(name));
  // Named by the compressed file's hash, known once it is written.
  auto nar_file = AK_TRY(AtomicFile::create(m_dir / "nar" / "add"));
  FdSink file(nar_file.fd());
  HashSink file_hash(HashAlgo::sha256);
  TeeSink file_side(file, file_hash);
  auto compressor = CompressSink::create(options.compression, file_side);
  HashSink nar_hash(HashAlgo::sha256);
  TeeSink nar_side(*compressor, nar_hash);
  AK_TRY_VOID(dump_nar(path, nar_side));
  AK_TRY_VOID(compressor->finish());
  AK_TRY_VOID(file.flush());

  NarInfo info;
  info.nar_hash = *Hash::from_bytes(HashAlgo::sha256, nar_hash.finish());
  info.nar_size = nar_hash.size();
  info.file_hash = *Hash::from_bytes(HashAlgo::sha256, file_hash.finish());
  info.file_size = file_hash.size();
  info.compression = to_string(options.compression);
  info.path = AK_TRY(make_source_path(info.nar_hash, name, {}));
  info.ca = "fixed:r:sha256:" + info.nar_hash.to_string(HashFormat::nix32);
  info.url = "nar/" + info.file_hash->to_string(HashFormat::nix32) + ".nar" + std::string(extension(options.compression));
  AK_TRY_VOID(nar_file.commit_as(m_dir / info.url));
  if (options.key) info.sigs.push_back(options.key->sign(info.fingerprint()));
  AK_TRY_VOID(write_file_atomic(m_dir / (std::string(info.path.hash_part()) + ".narinfo"), info.to_string()));
  return info;
}

} // namespace akbuild::nixdrv
