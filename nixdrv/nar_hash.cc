#include "nixdrv/nar_hash.hh"

#include <cstring>

#include <fcntl.h>

#include "nixdrv/nar.hh"
#include "runner/core/fs.hh"
#include "runner/core/walk.hh"

namespace akbuild::nixdrv {

namespace {
constexpr std::size_t k_chunk = 1024 * 1024;
constexpr std::size_t k_max_chunks = 4;
} // namespace

ParallelHashSink::ParallelHashSink(HashAlgo algo) : m_algo(algo) {
  m_current.reserve(k_chunk);
  m_thread = std::thread([this] { run(); });
}

ParallelHashSink::~ParallelHashSink() {
  if (m_thread.joinable()) (void)finish();
}

void ParallelHashSink::run() {
  Hasher hasher(m_algo);
  for (;;) {
    std::vector<std::byte> chunk;
    {
      std::unique_lock lock(m_mutex);
      m_cv.wait(lock, [this] { return !m_full.empty() || m_done; });
      if (m_full.empty()) break;
      chunk = std::move(m_full.front());
      m_full.pop_front();
    }
    hasher.update(chunk);
    chunk.clear();
    {
      std::lock_guard lock(m_mutex);
      m_free.push_back(std::move(chunk));
    }
    m_cv.notify_all();
  }
  m_digest = hasher.finish();
}

void ParallelHashSink::submit() {
  std::unique_lock lock(m_mutex);
  m_full.push_back(std::move(m_current));
  m_cv.notify_all();
  m_cv.wait(lock, [this] { return !m_free.empty() || m_full.size() < k_max_chunks; });
  if (!m_free.empty()) {
    m_current = std::move(m_free.front());
    m_free.pop_front();
  } else {
    m_current = {};
    m_current.reserve(k_chunk);
  }
}

Result<> ParallelHashSink::write(std::span<const std::byte> bytes) {
  m_size += bytes.size();
  while (!bytes.empty()) {
    std::size_t take = std::min(bytes.size(), k_chunk - m_current.size());
    m_current.insert(m_current.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(take));
    bytes = bytes.subspan(take);
    if (m_current.size() == k_chunk) submit();
  }
  return ok();
}

NarDigest ParallelHashSink::finish() {
  {
    std::lock_guard lock(m_mutex);
    if (!m_current.empty()) m_full.push_back(std::move(m_current));
    m_current = {};
    m_done = true;
  }
  m_cv.notify_all();
  if (m_thread.joinable()) m_thread.join();
  NarDigest d;
  d.hash = *Hash::from_bytes(m_algo, m_digest);
  d.size = m_size;
  return d;
}

Result<Hash> nar_hash(const std::filesystem::path& path) {
  auto d = AK_TRY(nar_digest(path));
  return std::move(d.hash);
}

Result<NarDigest> nar_digest(const std::filesystem::path& path, HashAlgo algo) {
  ParallelHashSink sink(algo);
  auto dumped = dump_nar(path, sink);
  auto digest = sink.finish();
  if (!dumped) return fail(dumped.error());
  return digest;
}

Result<NarDigest> flat_digest(const std::filesystem::path& path, HashAlgo algo) {
  auto fd = AK_TRY(open_fd(path, O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(errno_error(path.string()));
  if (!S_ISREG(st.st_mode)) return fail(ErrorCode::invalid_argument, path.string() + ": not a regular file");
  ParallelHashSink sink(algo);
  auto streamed = stream_fd(fd.get(), sink);
  auto digest = sink.finish();
  if (!streamed) return fail(streamed.error().context(path.string()));
  return digest;
}

} // namespace akbuild::nixdrv
