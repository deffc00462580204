#include <doctest/doctest.h>

#include <set>

#include <sys/stat.h>
#include <unistd.h>

#include "runner/core/scan.hh"
#include "runner/core/walk.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

// What walk_tree reports, as "<type>:<rel>[->target]" lines: scan_tree must agree line for line.
struct Lister : TreeVisitor {
  std::vector<std::string> lines;
  Result<> directory_begin(std::string_view rel, const FileInfo&) override {
    lines.push_back("d:" + std::string(rel));
    return ok();
  }
  Result<> regular(std::string_view rel, const FileInfo& info, int, std::string_view) override {
    lines.push_back("f:" + std::string(rel) + ":" + std::to_string(info.size));
    return ok();
  }
  Result<> symlink(std::string_view rel, const FileInfo&, std::string_view target) override {
    lines.push_back("l:" + std::string(rel) + "->" + std::string(target));
    return ok();
  }
};

std::vector<ScanEntry> entries_of(Result<ScannedTree> tree) {
  REQUIRE(tree);
  std::size_t size = tree->size();
  std::vector<ScanEntry> out;
  REQUIRE(tree->visit([&](ScanEntry& e) -> Result<> {
    out.push_back(e);
    return ok();
  }));
  CHECK(out.size() == size);
  return out;
}

std::vector<std::string> lines_of(const std::vector<ScanEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) {
    switch (e.info.type) {
    case FileType::directory: out.push_back("d:" + e.rel); break;
    case FileType::regular: out.push_back("f:" + e.rel + ":" + std::to_string(e.info.size)); break;
    case FileType::symlink: out.push_back("l:" + e.rel + "->" + e.target); break;
    case FileType::other: out.push_back("o:" + e.rel); break;
    }
  }
  return out;
}

} // namespace

TEST_CASE("scan_tree lists what walk_tree visits, in the same order, on any thread count") {
  test::TestDir dir;
  auto root = dir / "t";
  // Wide (a directory big enough to have its stat calls split) and deep, with byte-order traps.
  for (int i = 0; i < 1300; ++i) test::write(root / "wide" / ("f" + std::to_string(i)), std::string(i % 7, 'x'));
  std::string deep = "deep";
  for (int i = 0; i < 20; ++i) deep += "/d" + std::to_string(i);
  test::write(root / deep / "leaf", "leaf");
  test::write(root / "B", "upper");
  test::write(root / "a b", "space");
  test::write(root / "\xc3\xa9", "e");
  fs::create_directories(root / "empty");
  fs::create_symlink("../outside", root / "link");
  fs::create_symlink("dangling/target", root / "wide" / "zlink");

  Lister walked;
  REQUIRE(walk_tree(root, walked));
  for (unsigned threads : {1u, 2u, 7u}) {
    CAPTURE(threads);
    ScanOptions options;
    options.threads = threads;
    auto scanned = entries_of(scan_tree(root, options));
    CHECK(lines_of(scanned) == walked.lines);
    CHECK(scanned[0].rel.empty());
  }
}

TEST_CASE("scan_tree does not descend where told not to, but lists the directory itself") {
  test::TestDir dir;
  auto root = dir / "t";
  test::write(root / ".git" / "HEAD", "ref");
  test::write(root / "src" / "a.c", "a");
  test::write(root / "src" / "skip" / "b.c", "b");
  ScanOptions options;
  options.descend = [](std::string_view rel) { return rel != ".git" && rel != "src/skip"; };
  CHECK(lines_of(entries_of(scan_tree(root, options))) ==
        std::vector<std::string>{"d:", "d:.git", "d:src", "f:src/a.c:1", "d:src/skip"});
}

TEST_CASE("scan_tree of a file or a symlink lists just it") {
  test::TestDir dir;
  test::write(dir / "f", "FF");
  fs::create_symlink("f", dir / "l");
  CHECK(lines_of(entries_of(scan_tree(dir / "f"))) == std::vector<std::string>{"f::2"});
  CHECK(lines_of(entries_of(scan_tree(dir / "l"))) == std::vector<std::string>{"l:->f"});
}

TEST_CASE("scan_tree reports FIFOs as other, enforces a depth limit and names what it cannot read") {
  test::TestDir dir;
  auto root = dir / "t";
  fs::create_directories(root / "a" / "b" / "c");
  REQUIRE(::mkfifo((root / "a" / "pipe").c_str(), 0644) == 0);
  CHECK(lines_of(entries_of(scan_tree(root))) ==
        std::vector<std::string>{"d:", "d:a", "d:a/b", "d:a/b/c", "o:a/pipe"});

  ScanOptions shallow;
  shallow.max_depth = 2;
  auto deep = scan_tree(root, shallow);
  REQUIRE_FALSE(deep);
  CHECK(deep.error().message.find("a/b/c") != std::string::npos);
  CHECK(deep.error().message.find("deeper than 2 levels") != std::string::npos);

  auto missing = scan_tree(dir / "nope");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("nope") != std::string::npos);

  if (::geteuid() != 0) {  // root reads any directory
    fs::permissions(root / "a" / "b", fs::perms::none);
    auto denied = scan_tree(root);
    fs::permissions(root / "a" / "b", fs::perms::owner_all);
    REQUIRE_FALSE(denied);
    CHECK(denied.error().message.find("a/b") != std::string::npos);
  }
}

TEST_CASE("scan_tree reports the stat fields input hashing keys on") {
  test::TestDir dir;
  test::write(dir / "t" / "x", "abc", true);
  auto scanned = entries_of(scan_tree(dir / "t"));
  REQUIRE(scanned.size() == 2);
  const auto& e = scanned[1];
  auto direct = stat_path(dir / "t" / "x");
  REQUIRE(direct);
  CHECK(e.rel == "x");
  CHECK(e.info.executable);
  CHECK(e.info.ino == direct->ino);
  CHECK(e.info.dev == direct->dev);
  CHECK(e.info.mtime_ns == direct->mtime_ns);
  CHECK(e.info.ctime_ns == direct->ctime_ns);
  CHECK(e.info.size == 3);
}

TEST_CASE("scan_tree can skip the stat of directories and still list them and their content") {
  test::TestDir dir;
  test::write(dir / "t" / "a" / "b" / "f", "F");
  fs::create_symlink("a", dir / "t" / "link");
  ScanOptions options;
  options.stat_directories = false;
  auto scanned = entries_of(scan_tree(dir / "t", options));
  CHECK(lines_of(scanned) == std::vector<std::string>{"d:", "d:a", "d:a/b", "f:a/b/f:1", "l:link->a"});
  CHECK(scanned[1].info.ino == 0);  // not stat'ed
  CHECK(scanned[3].info.ino != 0);  // files always are
}

TEST_CASE("scan_tree closes every directory it opened, also when the scan fails half-way") {
  auto open_fds = [] {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
    return n;
  };
  test::TestDir dir;
  auto root = dir / "t";
  // A directory large enough to be stat'ed in several chunks (on several threads), with
  // subdirectories in each chunk, and a deep branch to fail on.
  for (int i = 0; i < 1500; ++i) {
    auto name = root / "wide" / ("e" + std::to_string(10000 + i));
    if (i % 100 == 0) fs::create_directories(name / "sub");
    else {
      fs::create_directories(name.parent_path());
      test::write(name, "x");
    }
  }
  fs::create_directories(root / "wide" / "e10700" / "sub" / "deeper" / "deepest");
  std::size_t before = open_fds();

  ScanOptions options;
  options.threads = 4;
  auto listed = entries_of(scan_tree(root, options));
  CHECK(listed.size() == 1 + 1 + 1500 + 15 + 2);
  CHECK(open_fds() == before);

  options.max_depth = 4;
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto deep = scan_tree(root, options);
    REQUIRE_FALSE(deep);
    CHECK(deep.error().message.find("deeper than 4 levels") != std::string::npos);
    CHECK(open_fds() == before);
  }
}

TEST_CASE("stat digests do not depend on the threads, and change with any entry's name or stat data") {
  test::TestDir dir;
  auto root = dir / "t";
  for (int i = 0; i < 1200; ++i) test::write(root / "big" / ("f" + std::to_string(i)), "x");
  test::write(root / "a" / "b" / "file", "content");
  fs::create_symlink("file", root / "a" / "b" / "link");
  fs::create_directories(root / "empty");
  auto digest = [&](unsigned threads) {
    ScanOptions options;
    options.threads = threads;
    options.stat_digests = true;
    auto tree = scan_tree(root, options);
    REQUIRE(tree);
    return tree->stat_digest();
  };
  auto first = digest(1);
  CHECK(digest(2).bytes == first.bytes);
  CHECK(digest(7).bytes == first.bytes);
  struct stat st {};
  REQUIRE(::lstat((root / "a" / "b" / "file").c_str(), &st) == 0);
  CHECK(first.newest_ns >= static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec);

  // A name changed in the middle of a large directory (its second stat chunk).
  fs::rename(root / "big" / "f700", root / "big" / "f700x");
  auto renamed = digest(2);
  CHECK(renamed.bytes != first.bytes);
  // A symlink retargeted (same length), deep down.
  fs::remove(root / "a" / "b" / "link");
  fs::create_symlink("fil2", root / "a" / "b" / "link");
  CHECK(digest(2).bytes != renamed.bytes);

  REQUIRE(::mkfifo((root / "a" / "pipe").c_str(), 0644) == 0);
  ScanOptions options;
  options.stat_digests = true;
  auto refused = scan_tree(root, options);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("a/pipe") != std::string::npos);
  CHECK(refused.error().message.find("FIFO") != std::string::npos);
  auto fifo_root = scan_tree(root / "a" / "pipe", options);
  REQUIRE_FALSE(fifo_root);
  CHECK(fifo_root.error().message.find("FIFO") != std::string::npos);
}
