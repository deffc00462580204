#include <doctest/doctest.h>

#include <ctime>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner/cas/stat_cache.hh"
#include "runner/core/walk.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
using namespace akbuild::cas;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<StatCache> open_db(const test::TestDir& dir) {
  auto db = StatCache::open(dir / "stat-cache");
  REQUIRE(db);
  return std::move(*db);
}

// Sets a file's mtime an hour back, so its cache entry is not racily clean.
void age(const fs::path& p) {
  timespec times[2];
  ::clock_gettime(CLOCK_REALTIME, &times[0]);
  times[0].tv_sec -= 3600;
  times[1] = times[0];
  REQUIRE(::utimensat(AT_FDCWD, p.c_str(), times, 0) == 0);
}

FileInfo info_of(const fs::path& p) {
  auto info = stat_path(p);
  REQUIRE(info);
  return *info;
}

// Writes `content` to `p`, aged (see age), and returns its stat.
FileInfo write_aged(const fs::path& p, std::string_view content) {
  test::write(p, content);
  age(p);
  return info_of(p);
}

} // namespace

TEST_CASE("An unchanged file is served from the stat cache without being opened") {
  test::TestDir dir;
  fs::path f = dir / "src" / "a.txt";
  FileInfo info = write_aged(f, "content one");
  Digest expected = Digest::of(std::string_view("content one"));
  {
    auto db = open_db(dir);
    CHECK(*hash_file_cached(db.get(), f, info) == expected);
    REQUIRE(db->flush());
  }
  auto db = open_db(dir);  // as the next akbuild process would
  CHECK(db->lookup(f.string(), info) == expected);
  // With the file gone, a digest can only come from the cache: the hit did not read it.
  fs::rename(f, dir / "moved");
  auto hit = hash_file_cached(db.get(), f, info);
  REQUIRE(hit);
  CHECK(*hit == expected);
  CHECK_FALSE(hash_file_cached(nullptr, f, info));
}

TEST_CASE("A touched file misses the stat cache and re-hashes to the same digest") {
  test::TestDir dir;
  fs::path f = dir / "a.txt";
  test::write(f, "same bytes");
  age(f);
  auto db = open_db(dir);
  FileInfo before = info_of(f);
  Digest d = *hash_file_cached(db.get(), f, before);
  REQUIRE(db->flush());
  REQUIRE(::utimensat(AT_FDCWD, f.c_str(), nullptr, 0) == 0);  // touch
  FileInfo after = info_of(f);
  CHECK_FALSE(db->lookup(f.string(), after));
  CHECK(*hash_file_cached(db.get(), f, after) == d);
}

TEST_CASE("A changed file misses the stat cache on any stat field") {
  test::TestDir dir;
  fs::path f = dir / "a.txt";
  test::write(f, "v1");
  age(f);
  auto db = open_db(dir);
  FileInfo info = info_of(f);
  db->record(f.string(), info, Digest::of(std::string_view("v1")));
  CHECK(db->lookup(f.string(), info));
  for (int field = 0; field < 5; ++field) {
    CAPTURE(field);
    FileInfo other = info;
    if (field == 0) ++other.dev;
    if (field == 1) ++other.ino;
    if (field == 2) ++other.size;
    if (field == 3) ++other.mtime_ns;
    if (field == 4) ++other.ctime_ns;
    CHECK_FALSE(db->lookup(f.string(), other));
  }
  CHECK_FALSE(db->lookup((dir / "other").string(), info));
}

TEST_CASE("A racily clean entry is not trusted and the file is re-hashed") {
  test::TestDir dir;
  fs::path f = dir / "a.txt";
  test::write(f, "just written");  // mtime is now: within the granularity of the recording
  FileInfo info = info_of(f);
  {
    auto db = open_db(dir);
    REQUIRE(hash_file_cached(db.get(), f, info));
  }  // flushed on destruction
  auto db = open_db(dir);
  // Every stat field matches, yet the entry is not served...
  CHECK_FALSE(db->lookup(f.string(), info));
  // ...so hashing reads the file again (a missing file now fails instead of hitting).
  fs::rename(f, dir / "moved");
  CHECK_FALSE(hash_file_cached(db.get(), f, info));
}

TEST_CASE("Two processes recording into one stat cache at once lose nothing") {
  test::TestDir dir;
  { auto db = open_db(dir); }
  std::vector<pid_t> children;
  for (int p = 0; p < 2; ++p) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      auto db = StatCache::open(dir / "stat-cache");
      if (!db) ::_exit(3);
      for (int round = 0; round < 5; ++round) {
        for (int i = 0; i < 500; ++i) {
          FileInfo info;
          info.ino = static_cast<std::uint64_t>(i);
          info.size = static_cast<std::uint64_t>(p);
          std::string path = "/p" + std::to_string(p) + "/f" + std::to_string(i);
          (*db)->record(path, info, Digest::of(std::string_view(path)));
        }
        if (!(*db)->flush()) ::_exit(4);
      }
      ::_exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  auto db = open_db(dir);
  int found = 0;
  for (int p = 0; p < 2; ++p)
    for (int i = 0; i < 500; ++i) {
      FileInfo info;
      info.ino = static_cast<std::uint64_t>(i);
      info.size = static_cast<std::uint64_t>(p);
      std::string path = "/p" + std::to_string(p) + "/f" + std::to_string(i);
      // mtime 0 is decades before the recording: a hit when the row is there.
      if (db->lookup(path, info) == Digest::of(std::string_view(path))) ++found;
    }
  CHECK(found == 1000);
}

TEST_CASE("StatCache::open fails naming a cache file it cannot create") {
  test::TestDir dir;
  auto r = StatCache::open(dir / "missing" / "stat-cache");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("missing/stat-cache") != std::string::npos);
}

TEST_CASE("A stat cache file that fails its checksum is ignored, and rewritten whole") {
  test::TestDir dir;
  fs::path f = dir / "a.txt";
  FileInfo info = write_aged(f, "content");
  Digest right = Digest::of(std::string_view("content"));
  {
    auto db = open_db(dir);
    db->record(f.string(), info, right);
    REQUIRE(db->flush());
  }
  REQUIRE(open_db(dir)->lookup(f.string(), info) == right);
  // Flip one byte of the recorded digest (the last bytes of the file): a bit rot or a torn write.
  {
    auto bytes = test::read(dir / "stat-cache");
    bytes.back() = static_cast<char>(bytes.back() ^ 1);
    test::write(dir / "stat-cache", bytes);
  }
  auto db = open_db(dir);
  CHECK_FALSE(db->lookup(f.string(), info));  // never the flipped digest
  CHECK(*hash_file_cached(db.get(), f, info) == right);
  REQUIRE(db->flush());
  CHECK(open_db(dir)->lookup(f.string(), info) == right);
  for (const auto& e : fs::directory_iterator(dir.path()))  // no temp file left behind
    CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
}

TEST_CASE("A flush keeps what another process wrote after this one read the file") {
  test::TestDir dir;
  FileInfo a, b;
  a.ino = 1;
  b.ino = 2;
  auto first = open_db(dir);
  CHECK_FALSE(first->lookup("/a", a));  // maps the (missing) file now
  {
    auto second = open_db(dir);
    second->record("/b", b, Digest::of(std::string_view("b")));
    REQUIRE(second->flush());
  }
  first->record("/a", a, Digest::of(std::string_view("a")));
  REQUIRE(first->flush());
  auto db = open_db(dir);
  CHECK(db->lookup("/a", a) == Digest::of(std::string_view("a")));
  CHECK(db->lookup("/b", b) == Digest::of(std::string_view("b")));
}

TEST_CASE("A path recorded twice keeps its newest digest, before and after a flush") {
  test::TestDir dir;
  fs::path f = dir / "src" / "a.txt";
  FileInfo info = write_aged(f, "x");
  Digest first = Digest::of(std::string_view("first")), second = Digest::of(std::string_view("second"));
  {
    auto db = open_db(dir);
    db->record(f.string(), info, first);
    CHECK(db->lookup(f.string(), info) == first);
    db->record(f.string(), info, second);
    CHECK(db->lookup(f.string(), info) == second);
    REQUIRE(db->flush());
    CHECK(db->lookup(f.string(), info) == second);
  }
  CHECK(open_db(dir)->lookup(f.string(), info) == second);
}
