#include <doctest/doctest.h>

#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nixdrv/nar.hh"
#include "nixdrv/nar_hash.hh"
#include "runner/core/encoding.hh"
#include "tests/nixdrv/nix_oracle.hh"

using namespace akbuild;
using namespace akbuild::nixdrv;
using namespace akbuild::test;
namespace fs = std::filesystem;

namespace {

std::string dump(const fs::path& p) {
  StringSink sink;
  auto r = dump_nar(p, sink);
  INFO(p.string() << ": " << (r ? "" : r.error().message));
  REQUIRE(r);
  return sink.data();
}

class StringSource final : public Source {
public:
  explicit StringSource(std::string data) : m_data(std::move(data)) {}
  Result<std::size_t> read(std::span<std::byte> buffer) override {
    std::size_t n = std::min(buffer.size(), m_data.size() - m_pos);
    std::memcpy(buffer.data(), m_data.data() + m_pos, n);
    m_pos += n;
    return n;
  }

private:
  std::string m_data;
  std::size_t m_pos = 0;
};

// NAR building blocks for hand-made (and broken) archives.
std::string u64(std::uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}
std::string str(std::string_view s) { return u64(s.size()) + std::string(s) + std::string((8 - s.size() % 8) % 8, '\0'); }
std::string file_node(std::string_view contents) {
  return str("(") + str("type") + str("regular") + str("contents") + str(contents) + str(")");
}
std::string entry(std::string_view name, const std::string& node) {
  return str("entry") + str("(") + str("name") + str(name) + str("node") + node + str(")");
}
std::string dir_node(const std::vector<std::string>& entries) {
  std::string s = str("(") + str("type") + str("directory");
  for (const auto& e : entries) s += e;
  return s + str(")");
}
std::string nar(const std::string& node) { return str("nix-archive-1") + node; }

std::string rejected(const std::string& bytes) {
  StringSource src(bytes);
  auto r = check_nar(src);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::corrupt);
  return r.error().message;
}

} // namespace

TEST_CASE("dump_nar reproduces nix.md's golden fixture t1") {
  TestDir dir;
  auto t1 = make_t1(dir.path());
  auto bytes = dump(t1);
  CHECK(bytes.size() == 872);
  CHECK(to_hex(sha256(bytes)) == "5dbf0585af131a7a2126e257e89325ea6c2d2b627325d07220795355bd9a1cae");
  auto h = nar_hash(t1);
  REQUIRE(h);
  CHECK(h->to_sri() == "sha256-Xb8Fha8TGnohJuJX6JMl6mwtK2JzJdByIHlTVb2aHK4=");
}

TEST_CASE("dump_nar is byte-identical to nix-store --dump on an edge-case tree") {
  TestDir dir;
  auto tree = make_edge_tree(dir.path());
  auto ours = dump(tree);
  sh_ok("nix-store --dump " + shq(tree.string()) + " > " + shq((dir / "nix.nar").string()));
  auto theirs = read(dir / "nix.nar");
  CHECK(ours.size() == theirs.size());
  CHECK(ours == theirs);
  CHECK(nar_hash(tree)->to_string(HashFormat::base16) == sh_ok("nix-hash --type sha256 " + shq(tree.string())));
  SUBCASE("a top-level file, executable file and symlink") {
    for (auto rel : {"eight", "modes/0744", "links/dangling", "links/absolute", "empty-dir", "empty-file"}) {
      sh_ok("nix-store --dump " + shq((tree / rel).string()) + " > " + shq((dir / "one.nar").string()));
      CHECK(dump(tree / rel) == read(dir / "one.nar"));
    }
  }
}

TEST_CASE("dump_nar and nar_hash stream a multi-GiB sparse file in constant memory") {
  TestDir dir;
  auto big = dir / "sparse";
  {
    int fd = ::open(big.c_str(), O_CREAT | O_WRONLY, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, (std::int64_t{2} << 30) + 5) == 0);
    REQUIRE(::pwrite(fd, "tail", 4, (std::int64_t{2} << 30)) == 4);
    ::close(fd);
  }
  auto ours = nar_hash(big);
  REQUIRE(ours);
  CHECK(ours->to_string(HashFormat::base16) == sh_ok("nix-hash --type sha256 " + shq(big.string())));
  // The NAR is the file plus 128 bytes of framing and 3 bytes of padding; no byte goes to disk.
  auto digest = nar_digest(big);
  REQUIRE(digest);
  CHECK(digest->size == (std::uint64_t{2} << 30) + 5 + 3 + 112);
}

TEST_CASE("dump_nar names a FIFO or socket in the tree and refuses it") {
  TestDir dir;
  write(dir / "t" / "ok", "x");
  SUBCASE("FIFO") {
    REQUIRE(::mkfifo((dir / "t" / "pipe").c_str(), 0644) == 0);
    StringSink sink;
    auto r = dump_nar(dir / "t", sink);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::invalid_argument);
    CHECK(r.error().message.find("pipe") != std::string::npos);
    CHECK(r.error().message.find("FIFO") != std::string::npos);
  }
  SUBCASE("socket") {
    int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string p = (dir / "t" / "sock").string();
    std::strncpy(addr.sun_path, p.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    ::close(s);
    auto r = nar_hash(dir / "t");
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("sock") != std::string::npos);
    CHECK(r.error().message.find("socket") != std::string::npos);
  }
}

TEST_CASE("parse_nar accepts what Nix writes and restore_nar rebuilds the tree") {
  TestDir dir;
  auto tree = make_edge_tree(dir.path());
  sh_ok("nix-store --dump " + shq(tree.string()) + " > " + shq((dir / "nix.nar").string()));
  auto bytes = read(dir / "nix.nar");
  StringSource check_src(bytes);
  CHECK(check_nar(check_src).value_or(0) == bytes.size());
  StringSource src(bytes);
  auto restored = restore_nar(src, dir / "restored");
  INFO((restored ? "" : restored.error().message));
  REQUIRE(restored);
  CHECK(dump(dir / "restored") == bytes);
  CHECK(fs::read_symlink(dir / "restored" / "links" / "absolute") == "/etc/hostname");
  SUBCASE("the destination must not exist") {
    StringSource again(bytes);
    auto r = restore_nar(again, dir / "restored");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::already_exists);
  }
}

TEST_CASE("restore_nar leaves nothing behind when the archive is bad") {
  TestDir dir;
  std::string bad = nar(dir_node({entry("b", file_node("1")), entry("a", file_node("2"))}));
  StringSource src(bad);
  auto r = restore_nar(src, dir / "out");
  REQUIRE_FALSE(r);
  CHECK_FALSE(fs::exists(dir / "out"));
  CHECK(fs::is_empty(dir.path()));
}

TEST_CASE("restore_nar never writes through a symlink") {
  TestDir dir;
  // A symlink named like a later directory entry is refused by the sort/duplicate check; a
  // symlink to outside followed by an entry inside it cannot be expressed, since entries are
  // created below directory fds opened with O_NOFOLLOW. A NAR whose root is a symlink restores
  // the link itself.
  std::string link = nar(str("(") + str("type") + str("symlink") + str("target") + str(dir.path().string()) + str(")"));
  StringSource src(link);
  REQUIRE(restore_nar(src, dir / "l"));
  CHECK(fs::is_symlink(dir / "l"));
  std::string dup = nar(dir_node({entry("x", str("(") + str("type") + str("symlink") + str("target") + str("/tmp") + str(")")),
                                  entry("x", dir_node({entry("f", file_node("evil"))}))}));
  StringSource src2(dup);
  auto r = restore_nar(src2, dir / "d");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("duplicate entry 'x'") != std::string::npos);
}

TEST_CASE("parse_nar rejects malformed archives with a clear message") {
  auto good_dir = dir_node({entry("a", file_node("1")), entry("b", file_node("2"))});
  {
    StringSource ok_src(nar(good_dir));
    CHECK(check_nar(ok_src));
  }
  CHECK(rejected(nar(dir_node({entry("b", file_node("1")), entry("a", file_node("2"))})))
            .find("'a' is not sorted after 'b'") != std::string::npos);
  CHECK(rejected(nar(dir_node({entry("a", file_node("1")), entry("a", file_node("2"))})))
            .find("duplicate entry 'a'") != std::string::npos);
  CHECK(rejected(nar(dir_node({entry("..", file_node("1"))}))).find("invalid entry name '..'") != std::string::npos);
  CHECK(rejected(nar(dir_node({entry(".", file_node("1"))}))).find("invalid entry name '.'") != std::string::npos);
  CHECK(rejected(nar(dir_node({entry("", file_node("1"))}))).find("invalid entry name ''") != std::string::npos);
  CHECK(rejected(nar(dir_node({entry("x/y", file_node("1"))}))).find("invalid entry name 'x/y'") != std::string::npos);
  CHECK(rejected(nar(dir_node({entry(std::string("a\0b", 3), file_node("1"))}))).find("invalid entry name") !=
        std::string::npos);
  CHECK(rejected(nar(dir_node({entry(std::string(256, 'n'), file_node("1"))}))).find("longer than 255") !=
        std::string::npos);
  CHECK(rejected(nar(good_dir) + "x").find("trailing bytes") != std::string::npos);
  CHECK(rejected(nar(good_dir).substr(0, 100)).find("unexpected end") != std::string::npos);
  CHECK(rejected(str("nix-archive-2") + good_dir).find("bad magic") != std::string::npos);
  {
    std::string bad = nar(file_node("abc"));
    // Contents "abc" sit at a known place: padding follows them.
    auto pos = bad.find("abc");
    bad[pos + 3] = '\x01';
    CHECK(rejected(bad).find("non-zero padding") != std::string::npos);
  }
  CHECK(rejected(nar(str("(") + str("type") + str("regular") + str("contents") + str("x") + str("executable") + str("") + str(")")))
            .find("'executable' after 'contents'") != std::string::npos);
  CHECK(rejected(nar(str("(") + str("type") + str("regular") + str("executable") + str("yes") + str("contents") + str("x") + str(")")))
            .find("executable flag must be empty") != std::string::npos);
  CHECK(rejected(nar(str("(") + str("type") + str("symlink") + str("target") + str("") + str(")")))
            .find("empty symlink target") != std::string::npos);
  CHECK(rejected(nar(str("(") + str("type") + str("fifo") + str(")"))).find("unknown node type 'fifo'") !=
        std::string::npos);
  std::string deep = file_node("x");
  for (int i = 0; i < 70; ++i) deep = dir_node({entry("d", deep)});
  CHECK(rejected(nar(deep)).find("deeper than 64") != std::string::npos);
}

TEST_CASE("restore_nar allocates no more disk than the data that arrived, whatever the header claims") {
  // A header claiming 1 GiB, then a few bytes and the end of the stream: when the source is asked
  // for the data, the file being restored must hold no more than what was written.
  class ClaimSource final : public Source {
  public:
    ClaimSource(std::string header, fs::path dir) : m_header(std::move(header)), m_dir(std::move(dir)) {}
    Result<std::size_t> read(std::span<std::byte> buffer) override {
      if (m_pos < m_header.size()) {
        std::size_t n = std::min(buffer.size(), m_header.size() - m_pos);
        std::memcpy(buffer.data(), m_header.data() + m_pos, n);
        m_pos += n;
        return n;
      }
      for (const auto& e : fs::recursive_directory_iterator(m_dir)) {
        struct stat st {};
        if (::lstat(e.path().c_str(), &st) == 0 && S_ISREG(st.st_mode))
          allocated = std::max<std::uint64_t>(allocated, static_cast<std::uint64_t>(st.st_blocks) * 512);
      }
      return std::size_t{0};
    }
    std::uint64_t allocated = 0;

  private:
    std::string m_header;
    fs::path m_dir;
    std::size_t m_pos = 0;
  };
  TestDir dir;
  std::string header = str("nix-archive-1") + str("(") + str("type") + str("regular") + str("contents") +
                       u64(std::uint64_t{1} << 30);
  ClaimSource src(header, dir.path());
  auto r = restore_nar(src, dir / "out");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::corrupt);
  CHECK(src.allocated < (std::uint64_t{1} << 20));
  CHECK_FALSE(fs::exists(dir / "out"));
}
