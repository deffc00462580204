#include "runner/core/sink.hh"

#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include <unistd.h>

namespace akbuild {

FdSink::~FdSink() { (void)flush(); }

Result<> FdSink::write(std::span<const std::byte> bytes) {
  if (m_buffer.size() + bytes.size() > m_buffer.capacity()) {
    AK_TRY_VOID(flush());
    if (bytes.size() >= m_buffer.capacity()) return write_through(bytes);
  }
  m_buffer.insert(m_buffer.end(), bytes.begin(), bytes.end());
  return ok();
}

Result<> FdSink::flush() {
  if (m_buffer.empty()) return ok();
  auto r = write_through(m_buffer);
  m_buffer.clear();
  return r;
}

Result<> FdSink::write_through(std::span<const std::byte> bytes) {
  AK_TRY_VOID(write_all(m_fd, bytes));
  m_written += bytes.size();
  constexpr std::uint64_t k_write_back_step = 8u << 20;
  if (m_write_back && m_written - m_written_back >= k_write_back_step) {
    // Asynchronous: queues the range for writeback and returns. Not an error where unsupported.
    (void)::sync_file_range(m_fd, static_cast<off64_t>(m_written_back),
                            static_cast<off64_t>(m_written - m_written_back), SYNC_FILE_RANGE_WRITE);
    m_written_back = m_written;
  }
  return ok();
}

Result<std::size_t> FdSource::read(std::span<std::byte> buffer) {
  for (;;) {
    ssize_t n = ::read(m_fd, buffer.data(), buffer.size());
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return fail(errno_error("read"));
  }
}

Result<std::uint64_t> copy(Source& from, Sink& to) {
  std::vector<std::byte> buffer(256 * 1024);
  std::uint64_t total = 0;
  for (;;) {
    auto n = AK_TRY(from.read(buffer));
    if (n == 0) return total;
    AK_TRY_VOID(to.write(std::span(buffer.data(), n)));
    total += n;
  }
}

} // namespace akbuild
