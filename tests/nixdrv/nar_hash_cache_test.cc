#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>

#include "nixdrv/nar_hash.hh"
#include "nixdrv/nar_hash_cache.hh"
#include "tests/nixdrv/nix_oracle.hh"

using namespace akbuild;
using namespace akbuild::nixdrv;
using namespace akbuild::test;
namespace fs = std::filesystem;

namespace {
// Tests use a short racy margin (the kernel's file timestamps are at most a few ms coarse) and
// sleep past it, instead of the 2 s default.
constexpr std::chrono::milliseconds k_margin{50};
void settle() { ::usleep(120 * 1000); }
} // namespace

TEST_CASE("NarHashCache never records a racily clean tree") {
  TestDir dir;
  auto t1 = make_t1(dir.path());
  NarHashCache cache(dir / "cache");
  auto first = cache.nar_hash(t1);
  REQUIRE(first);
  CHECK_FALSE(cache.last_was_hit());
  // Just written: its ctimes are within the racy margin, so the second call hashes again.
  auto second = cache.nar_hash(t1);
  CHECK_FALSE(cache.last_was_hit());
  CHECK(*second == *first);
  CHECK(first->to_sri() == "sha256-Xb8Fha8TGnohJuJX6JMl6mwtK2JzJdByIHlTVb2aHK4=");
}

TEST_CASE("NarHashCache answers an unchanged tree from the cache and notices every change") {
  TestDir dir;
  auto tree = make_edge_tree(dir.path());
  NarHashCache cache(dir / "cache", k_margin);
  auto expect_hit_then_miss = [&](const char* what, const std::function<void()>& change) {
    CAPTURE(what);
    settle();
    auto h = cache.nar_hash(tree);
    REQUIRE(h);
    CHECK(cache.nar_hash(tree).value() == *h);
    CHECK(cache.last_was_hit());
    CHECK(cache.nar_hash(tree.string() + "/").value() == *h);
    CHECK(cache.last_was_hit());
    change();
    auto again = cache.nar_hash(tree);
    REQUIRE(again);
    CHECK_FALSE(cache.last_was_hit());
    CHECK(*again != *h);
    CHECK(again->to_string(HashFormat::base16) == sh_ok("nix-hash --type sha256 " + shq(tree.string())));
  };
  expect_hit_then_miss("same-size content change with the mtime put back", [&] {
    struct stat st {};
    ::stat((tree / "eight").c_str(), &st);
    write(tree / "eight", "87654321");
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    ::utimensat(AT_FDCWD, (tree / "eight").c_str(), times, 0);
  });
  expect_hit_then_miss("executable bit", [&] {
    fs::permissions(tree / "nine", fs::perms::owner_exec, fs::perm_options::add);
  });
  expect_hit_then_miss("a new empty directory deep inside", [&] { fs::create_directory(tree / "deep" / "d0" / "new"); });
  expect_hit_then_miss("a symlink retargeted", [&] {
    fs::remove(tree / "links" / "dangling");
    fs::create_symlink("elsewhere", tree / "links" / "dangling");
  });
  expect_hit_then_miss("the root replaced by a copy", [&] {
    fs::rename(tree, dir / "old");
    fs::copy(dir / "old", tree, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    write(tree / "nine", "987654321");
  });
}
