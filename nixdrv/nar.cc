#include "nixdrv/nar.hh"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "runner/core/fs.hh"
#include "runner/core/walk.hh"

namespace akbuild::nixdrv {

namespace {

constexpr std::size_t k_read_size = 256 * 1024;
constexpr std::size_t k_max_name = 255;
constexpr std::size_t k_max_target = 4095;
constexpr std::size_t k_max_tag = 32;

// ---------------------------------------------------------------------------------------------
// Writer

class NarDumper final : public TreeVisitor {
public:
  explicit NarDumper(Sink& sink) : m_sink(sink), m_buffer(k_read_size) {}

  Result<> begin() { return str("nix-archive-1"); }

  Result<> directory_begin(std::string_view rel, const FileInfo&) override {
    AK_TRY_VOID(entry_open(rel));
    AK_TRY_VOID(str("("));
    AK_TRY_VOID(str("type"));
    return str("directory");
  }
  Result<> directory_end(std::string_view rel) override {
    AK_TRY_VOID(str(")"));
    return entry_close(rel);
  }
  Result<> regular(std::string_view rel, const FileInfo& info, int dirfd, std::string_view name) override {
    AK_TRY_VOID(entry_open(rel));
    AK_TRY_VOID(str("("));
    AK_TRY_VOID(str("type"));
    AK_TRY_VOID(str("regular"));
    if (info.executable) {
      AK_TRY_VOID(str("executable"));
      AK_TRY_VOID(str(""));
    }
    AK_TRY_VOID(str("contents"));
    AK_TRY_VOID(integer(info.size));
    AK_TRY_VOID(contents(rel, info.size, dirfd, name));
    AK_TRY_VOID(padding(info.size));
    AK_TRY_VOID(str(")"));
    return entry_close(rel);
  }
  Result<> symlink(std::string_view rel, const FileInfo&, std::string_view target) override {
    AK_TRY_VOID(entry_open(rel));
    AK_TRY_VOID(str("("));
    AK_TRY_VOID(str("type"));
    AK_TRY_VOID(str("symlink"));
    AK_TRY_VOID(str("target"));
    AK_TRY_VOID(str(target));
    AK_TRY_VOID(str(")"));
    return entry_close(rel);
  }

private:
  static std::string_view base_name(std::string_view rel) {
    auto slash = rel.rfind('/');
    return slash == std::string_view::npos ? rel : rel.substr(slash + 1);
  }
  Result<> entry_open(std::string_view rel) {
    if (rel.empty()) return ok();
    AK_TRY_VOID(str("entry"));
    AK_TRY_VOID(str("("));
    AK_TRY_VOID(str("name"));
    AK_TRY_VOID(str(base_name(rel)));
    return str("node");
  }
  Result<> entry_close(std::string_view rel) { return rel.empty() ? ok() : str(")"); }

  Result<> integer(std::uint64_t n) {
    std::array<std::byte, 8> b{};
    for (int i = 0; i < 8; ++i) b[static_cast<std::size_t>(i)] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
    return m_sink.write(b);
  }
  Result<> padding(std::uint64_t len) {
    static constexpr std::array<std::byte, 8> zeros{};
    if (len % 8 == 0) return ok();
    return m_sink.write(std::span(zeros.data(), 8 - len % 8));
  }
  Result<> str(std::string_view s) {
    AK_TRY_VOID(integer(s.size()));
    AK_TRY_VOID(m_sink.write(s));
    return padding(s.size());
  }
  // Exactly `size` bytes of the file: the size is already in the stream, so a file that shrank or
  // grew since it was stat'ed is an error rather than a corrupt archive.
  Result<> contents(std::string_view rel, std::uint64_t size, int dirfd, std::string_view name) {
    int fd = ::openat(dirfd, std::string(name).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return fail(errno_error(std::string(rel.empty() ? name : rel)));
    UniqueFd owned(fd);
    if (size > k_read_size) ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    std::uint64_t left = size;
    while (left > 0) {
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, m_buffer.size()));
      ssize_t n = ::read(fd, m_buffer.data(), want);
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail(errno_error(std::string(rel.empty() ? name : rel) + ": read"));
      }
      if (n == 0)
        return fail(ErrorCode::io, std::string(rel.empty() ? name : rel) + ": file shrank while being archived");
      AK_TRY_VOID(m_sink.write(std::span(m_buffer.data(), static_cast<std::size_t>(n))));
      left -= static_cast<std::uint64_t>(n);
    }
    return ok();
  }

  Sink& m_sink;
  std::vector<std::byte> m_buffer;
};

// ---------------------------------------------------------------------------------------------
// Parser

Error corrupt(std::string message) { return Error{ErrorCode::corrupt, "NAR: " + std::move(message)}; }

std::string show(std::string_view s) {
  std::string out = "'";
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "'";
}

class NarParser {
public:
  NarParser(Source& source, NarVisitor& visitor) : m_source(source), m_visitor(visitor), m_buffer(k_read_size) {}

  Result<std::uint64_t> run() {
    auto magic = AK_TRY(string(k_max_tag, "magic"));
    if (magic != "nix-archive-1") return fail(corrupt("not a Nix archive (bad magic " + show(magic) + ")"));
    AK_TRY_VOID(node("", "", 0));
    std::byte extra{};
    if (AK_TRY(fill(&extra, 1)) != 0) return fail(corrupt("trailing bytes after the archive"));
    return m_offset;
  }

private:
  // Up to n bytes into out (fewer only at the end of the source).
  Result<std::size_t> fill(std::byte* out, std::size_t n) {
    std::size_t got = 0;
    while (got < n) {
      if (m_pos == m_end) {
        m_pos = 0;
        m_end = AK_TRY(m_source.read(m_buffer));
        if (m_end == 0) break;
      }
      std::size_t take = std::min(n - got, m_end - m_pos);
      std::memcpy(out + got, m_buffer.data() + m_pos, take);
      m_pos += take;
      got += take;
    }
    m_offset += got;
    return got;
  }
  Result<> exact(std::byte* out, std::size_t n) {
    if (AK_TRY(fill(out, n)) != n) return fail(corrupt("unexpected end of archive at byte " + std::to_string(m_offset)));
    return ok();
  }
  Result<std::uint64_t> integer() {
    std::array<std::byte, 8> b{};
    AK_TRY_VOID(exact(b.data(), 8));
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<std::uint64_t>(b[static_cast<std::size_t>(i)]);
    return n;
  }
  Result<> padding(std::uint64_t len) {
    if (len % 8 == 0) return ok();
    std::array<std::byte, 8> b{};
    std::size_t n = 8 - len % 8;
    AK_TRY_VOID(exact(b.data(), n));
    for (std::size_t i = 0; i < n; ++i)
      if (b[i] != std::byte{0}) return fail(corrupt("non-zero padding at byte " + std::to_string(m_offset - n + i)));
    return ok();
  }
  Result<std::string> string(std::size_t max, std::string_view what) {
    auto len = AK_TRY(integer());
    if (len > max)
      return fail(corrupt(std::string(what) + " of " + std::to_string(len) + " bytes is longer than " +
                          std::to_string(max) + " at byte " + std::to_string(m_offset)));
    std::string s(static_cast<std::size_t>(len), '\0');
    AK_TRY_VOID(exact(reinterpret_cast<std::byte*>(s.data()), s.size()));
    AK_TRY_VOID(padding(len));
    return s;
  }
  Result<> expect(std::string_view tag, std::string_view rel) {
    auto got = AK_TRY(string(k_max_tag, "tag"));
    if (got != tag)
      return fail(corrupt("expected " + show(tag) + ", got " + show(got) + " at " + where(rel)));
    return ok();
  }
  std::string where(std::string_view rel) const {
    return (rel.empty() ? std::string("the root") : "entry " + show(rel)) + " (byte " + std::to_string(m_offset) + ")";
  }

  Result<> node(std::string_view rel, std::string_view name, unsigned depth) {
    if (depth > k_nar_max_depth)
      return fail(corrupt("directories nested deeper than " + std::to_string(k_nar_max_depth) + " at " + where(rel)));
    AK_TRY_VOID(expect("(", rel));
    AK_TRY_VOID(expect("type", rel));
    auto type = AK_TRY(string(k_max_tag, "type"));
    if (type == "regular") {
      AK_TRY_VOID(regular(rel, name));
    } else if (type == "symlink") {
      AK_TRY_VOID(expect("target", rel));
      auto target = AK_TRY(string(k_max_target, "symlink target"));
      if (target.empty()) return fail(corrupt("empty symlink target at " + where(rel)));
      if (target.find('\0') != std::string::npos) return fail(corrupt("NUL in symlink target at " + where(rel)));
      AK_TRY_VOID(m_visitor.symlink(rel, name, target));
      AK_TRY_VOID(expect(")", rel));
    } else if (type == "directory") {
      AK_TRY_VOID(directory(rel, name, depth));
    } else {
      return fail(corrupt("unknown node type " + show(type) + " at " + where(rel)));
    }
    return ok();
  }

  Result<> regular(std::string_view rel, std::string_view name) {
    auto first = AK_TRY(string(k_max_tag, "tag"));
    bool executable = first == "executable";
    if (executable) {
      auto value = AK_TRY(string(k_max_tag, "executable flag"));
      if (!value.empty()) return fail(corrupt("executable flag must be empty at " + where(rel)));
    }
    std::string tag = executable ? AK_TRY(string(k_max_tag, "tag")) : std::move(first);
    if (tag != "contents") return fail(corrupt("expected 'contents', got " + show(tag) + " at " + where(rel)));
    auto size = AK_TRY(integer());
    AK_TRY_VOID(m_visitor.file_begin(rel, name, executable, size));
    std::uint64_t left = size;
    while (left > 0) {
      if (m_pos == m_end) {
        m_pos = 0;
        m_end = AK_TRY(m_source.read(m_buffer));
        if (m_end == 0) return fail(corrupt("unexpected end of archive in the contents of " + where(rel)));
      }
      std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(left, m_end - m_pos));
      AK_TRY_VOID(m_visitor.file_data(std::span(m_buffer.data() + m_pos, take)));
      m_pos += take;
      m_offset += take;
      left -= take;
    }
    AK_TRY_VOID(padding(size));
    AK_TRY_VOID(m_visitor.file_end());
    auto close = AK_TRY(string(k_max_tag, "tag"));
    if (close == "executable")
      return fail(corrupt("'executable' after 'contents' at " + where(rel)));
    if (close != ")") return fail(corrupt("expected ')', got " + show(close) + " at " + where(rel)));
    return ok();
  }

  Result<> directory(std::string_view rel, std::string_view name, unsigned depth) {
    AK_TRY_VOID(m_visitor.directory_begin(rel, name));
    std::string prev;
    bool first = true;
    for (;;) {
      // Not AK_TRY: GCC 12 then warns (wrongly) that `tag` may be used uninitialised.
      auto next = string(k_max_tag, "tag");
      if (!next) return fail(next.error());
      const std::string& tag = *next;
      if (tag == ")") break;
      if (tag != "entry") return fail(corrupt("expected 'entry' or ')', got " + show(tag) + " at " + where(rel)));
      AK_TRY_VOID(expect("(", rel));
      AK_TRY_VOID(expect("name", rel));
      auto entry = AK_TRY(string(k_max_name, "name"));
      if (entry.empty() || entry == "." || entry == ".." || entry.find('/') != std::string::npos ||
          entry.find('\0') != std::string::npos)
        return fail(corrupt("invalid entry name " + show(entry) + " in " + where(rel)));
      if (!first && !(prev < entry))
        return fail(corrupt(entry == prev ? "duplicate entry " + show(entry) + " in " + where(rel)
                                          : "entry " + show(entry) + " is not sorted after " + show(prev) +
                                                " in " + where(rel)));
      AK_TRY_VOID(expect("node", rel));
      std::string child = rel.empty() ? entry : std::string(rel) + "/" + entry;
      AK_TRY_VOID(node(child, entry, depth + 1));
      AK_TRY_VOID(expect(")", child));
      prev = std::move(entry);
      first = false;
    }
    return m_visitor.directory_end(rel);
  }

  Source& m_source;
  NarVisitor& m_visitor;
  std::vector<std::byte> m_buffer;
  std::size_t m_pos = 0, m_end = 0;
  std::uint64_t m_offset = 0;
};

class CheckVisitor final : public NarVisitor {
public:
  Result<> directory_begin(std::string_view, std::string_view) override { return ok(); }
  Result<> file_begin(std::string_view, std::string_view, bool, std::uint64_t) override { return ok(); }
  Result<> file_data(std::span<const std::byte>) override { return ok(); }
  Result<> symlink(std::string_view, std::string_view, std::string_view) override { return ok(); }
};

} // namespace

Result<> dump_nar(const std::filesystem::path& path, Sink& sink) {
  NarDumper dumper(sink);
  AK_TRY_VOID(dumper.begin());
  WalkOptions options;
  options.max_depth = k_nar_max_depth;
  return walk_tree(path, dumper, options);
}

Result<> parse_nar(Source& source, NarVisitor& visitor) {
  NarParser parser(source, visitor);
  AK_TRY_VOID(parser.run());
  return ok();
}

Result<std::uint64_t> check_nar(Source& source) {
  CheckVisitor visitor;
  NarParser parser(source, visitor);
  return parser.run();
}

} // namespace akbuild::nixdrv
