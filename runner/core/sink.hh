#pragma once
// A Sink takes a byte stream. NAR dumping, hashing, tarring and file writing all push through
// one, so a producer never buffers a whole file.
// Usage: HashSink h(HashAlgo::sha256); AK_TRY_VOID(dump_nar(path, h)); auto d = h.finish();

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runner/core/fs.hh"
#include "runner/core/hash.hh"
#include "runner/core/result.hh"

namespace akbuild {

class Sink {
public:
  virtual ~Sink() = default;
  virtual Result<> write(std::span<const std::byte> bytes) = 0;
  Result<> write(std::string_view text) {
    return write(std::as_bytes(std::span(text.data(), text.size())));
  }
};

// Hashes what it is given and counts the bytes.
class HashSink final : public Sink {
public:
  explicit HashSink(HashAlgo algo = HashAlgo::sha256) : m_hasher(algo) {}
  using Sink::write;
  Result<> write(std::span<const std::byte> bytes) override {
    m_hasher.update(bytes);
    m_size += bytes.size();
    return ok();
  }
  std::vector<std::byte> finish() { return m_hasher.finish(); }
  std::uint64_t size() const { return m_size; }

private:
  Hasher m_hasher;
  std::uint64_t m_size = 0;
};

// Appends to a string (tests, small documents).
class StringSink final : public Sink {
public:
  using Sink::write;
  Result<> write(std::span<const std::byte> bytes) override {
    m_data.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return ok();
  }
  std::string& data() { return m_data; }

private:
  std::string m_data;
};

// Writes to a file descriptor it does not own, buffered; flush() before the fd is closed.
class FdSink final : public Sink {
public:
  explicit FdSink(int fd, std::size_t buffer_size = 256 * 1024) : m_fd(fd) { m_buffer.reserve(buffer_size); }
  ~FdSink() override;
  using Sink::write;
  Result<> write(std::span<const std::byte> bytes) override;
  Result<> flush();
  // For a large file that will be fsync'ed: starts writing each 8 MiB back to disk as soon as it
  // is written (sync_file_range), so the final fsync waits for the last few MiB, not all of them.
  void write_back_early() { m_write_back = true; }

private:
  Result<> write_through(std::span<const std::byte> bytes);
  int m_fd;
  bool m_write_back = false;
  std::uint64_t m_written = 0, m_written_back = 0;
  std::vector<std::byte> m_buffer;
};

// Sends every write to two sinks (e.g. a file and a hash).
class TeeSink final : public Sink {
public:
  TeeSink(Sink& a, Sink& b) : m_a(a), m_b(b) {}
  using Sink::write;
  Result<> write(std::span<const std::byte> bytes) override {
    AK_TRY_VOID(m_a.write(bytes));
    return m_b.write(bytes);
  }

private:
  Sink& m_a;
  Sink& m_b;
};

// A pull-side byte stream: read() returns 0 at the end.
class Source {
public:
  virtual ~Source() = default;
  virtual Result<std::size_t> read(std::span<std::byte> buffer) = 0;
};

// Reads from a file descriptor it does not own.
class FdSource final : public Source {
public:
  explicit FdSource(int fd) : m_fd(fd) {}
  Result<std::size_t> read(std::span<std::byte> buffer) override;

private:
  int m_fd;
};

// Copies a source to a sink until the source ends.
Result<std::uint64_t> copy(Source& from, Sink& to);

} // namespace akbuild
