#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/tar_writer.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
using namespace akbuild::oci;
namespace fs = std::filesystem;

namespace {

TarOptions at(const std::string& destination) {
  TarOptions o;
  o.destination = destination;
  return o;
}


std::string tar_of(const fs::path& source, const TarOptions& options) {
  StringSink out;
  auto r = write_layer_tar(source, options, out);
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  return out.data();
}

// `tar -tv` of an archive written to `dir/name`: "mode owner size name[ -> target]" lines.
std::string listing(const test::TestDir& dir, const std::string& bytes) {
  test::write(dir / "layer.tar", bytes);
  auto r = test::run({"tar", "--numeric-owner", "--full-time", "-tvf", (dir / "layer.tar").string()});
  REQUIRE(r.exit_code == 0);
  return r.out;
}

} // namespace

TEST_CASE("write_layer_tar puts a tree under its destination in byte order with fixed metadata") {
  test::TestDir dir;
  auto src = dir / "src";
  test::write(src / "b.txt", "bee");
  test::write(src / "a" / "run.sh", "#!/bin/sh\n", true);
  test::write(src / "B", "upper");
  fs::create_symlink("../b.txt", src / "a" / "link");
  ::chmod((src / "a").c_str(), 0750);
  TarOptions options;
  options.destination = "/opt/app/";
  options.mtime = 1;
  std::string t = tar_of(src, options);
  CHECK(t.size() % 512 == 0);
  CHECK(listing(dir, t) ==
        "drwxr-xr-x 0/0               0 1970-01-01 00:00:01 opt/\n"
        "drwxr-xr-x 0/0               0 1970-01-01 00:00:01 opt/app/\n"
        "-rw-r--r-- 0/0               5 1970-01-01 00:00:01 opt/app/B\n"
        "drwxr-x--- 0/0               0 1970-01-01 00:00:01 opt/app/a/\n"
        "lrwxrwxrwx 0/0               0 1970-01-01 00:00:01 opt/app/a/link -> ../b.txt\n"
        "-rwxr-xr-x 0/0              10 1970-01-01 00:00:01 opt/app/a/run.sh\n"
        "-rw-r--r-- 0/0               3 1970-01-01 00:00:01 opt/app/b.txt\n");
  // No pax records for short ASCII names; uname/gname empty; ends with two zero blocks.
  CHECK(t.find("PaxHeader") == std::string::npos);
  CHECK(t.substr(t.size() - 1024) == std::string(1024, '\0'));
  CHECK(t.substr(257, 8) == std::string("ustar\0" "00", 8));
  CHECK(t.substr(265, 32) == std::string(32, '\0'));
}

TEST_CASE("write_layer_tar gives the same bytes for the same tree whatever the file times") {
  test::TestDir dir;
  test::write(dir / "s" / "f", "x");
  TarOptions options;
  std::string first = tar_of(dir / "s", options);
  // Far from the write time, so a writer that copied file times would differ even in whole seconds.
  timespec times[2] = {{1000000000, 0}, {1000000000, 0}};
  REQUIRE(::utimensat(AT_FDCWD, (dir / "s" / "f").c_str(), times, 0) == 0);
  CHECK(tar_of(dir / "s", options) == first);
  options.mtime = 1700000000;
  CHECK(tar_of(dir / "s", options) != first);
}

TEST_CASE("write_layer_tar uses pax records only for long and non-ASCII names") {
  test::TestDir dir;
  std::string long_name(150, 'n');
  test::write(dir / "s" / long_name, "long");
  test::write(dir / "s" / "caf\xc3\xa9", "utf8");
  test::write(dir / "s" / std::string(100, 'k'), "exactly 100");
  std::string t = tar_of(dir / "s", {});
  auto list = listing(dir, t);
  CHECK(list.find(long_name) != std::string::npos);
  CHECK(list.find("caf\xc3\xa9") != std::string::npos);
  CHECK(list.find(std::string(100, 'k')) != std::string::npos);
  // Two pax headers (long, non-ASCII), not three: 100 bytes fit the ustar name field.
  std::size_t count = 0;
  for (auto p = t.find("././@PaxHeader"); p != std::string::npos; p = t.find("././@PaxHeader", p + 1)) ++count;
  CHECK(count == 2);
  CHECK(t.find("path=" + long_name + "\n") != std::string::npos);
}

TEST_CASE("write_layer_tar keeps hardlinks inside a layer as tar hardlinks") {
  test::TestDir dir;
  test::write(dir / "s" / "a", "shared");
  fs::create_hard_link(dir / "s" / "a", dir / "s" / "b");
  auto list = listing(dir, tar_of(dir / "s", at("/x")));
  CHECK(list.find("-rw-r--r-- 0/0               6 1970-01-01 00:00:01 x/a\n") != std::string::npos);
  CHECK(list.find("hrw-r--r-- 0/0               0 1970-01-01 00:00:01 x/b link to x/a\n") != std::string::npos);
}

TEST_CASE("write_layer_tar applies owner and mode overrides, later rules winning") {
  test::TestDir dir;
  test::write(dir / "s" / "bin" / "tool", "t");
  test::write(dir / "s" / "data" / "db", "d");
  TarOptions options;
  options.destination = "/app";
  options.uid = 10;
  options.gid = 20;
  options.perms.push_back({*Glob::parse("app/data/**"), 0600, 1000, 1000});
  options.perms.push_back({*Glob::parse("app/data/db"), std::nullopt, 2000, std::nullopt});
  auto list = listing(dir, tar_of(dir / "s", options));
  CHECK(list.find("drwxr-xr-x 10/20             0 1970-01-01 00:00:01 app/\n") != std::string::npos);
  CHECK(list.find("-rw-r--r-- 10/20             1 1970-01-01 00:00:01 app/bin/tool\n") != std::string::npos);
  CHECK(list.find("-rw------- 2000/1000         1 1970-01-01 00:00:01 app/data/db\n") != std::string::npos);
}

TEST_CASE("write_layer_tar puts a single file into its destination directory") {
  test::TestDir dir;
  test::write(dir / "server", "ELF", true);
  auto list = listing(dir, tar_of(dir / "server", at("/usr/bin")));
  CHECK(list ==
        "drwxr-xr-x 0/0               0 1970-01-01 00:00:01 usr/\n"
        "drwxr-xr-x 0/0               0 1970-01-01 00:00:01 usr/bin/\n"
        "-rwxr-xr-x 0/0               3 1970-01-01 00:00:01 usr/bin/server\n");
}

TEST_CASE("normalize_destination rejects '..' and '.' components") {
  CHECK(*normalize_destination("/app/") == "app");
  CHECK(*normalize_destination("/") == "");
  CHECK(*normalize_destination("a//b") == "a/b");
  for (const char* bad : {"/app/../etc", "..", "./x"}) {
    auto r = normalize_destination(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::invalid_argument);
    CHECK(r.error().message.find(bad) != std::string::npos);
  }
}
