#include "runner/core/sink.hh"

#include <cerrno>
#include <cstring>

#include <unistd.h>

namespace akbuild {

FdSink::~FdSink() { (void)flush(); }

Result<> FdSink::write(std::span<const std::byte> bytes) {
  if (m_buffer.size() + bytes.size() > m_buffer.capacity()) {
    AK_TRY_VOID(flush());
    if (bytes.size() >= m_buffer.capacity()) return write_all(m_fd, bytes);
  }
  m_buffer.insert(m_buffer.end(), bytes.begin(), bytes.end());
  return ok();
}

Result<> FdSink::flush() {
  if (m_buffer.empty()) return ok();
  auto r = write_all(m_fd, m_buffer);
  m_buffer.clear();
  return r;
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
