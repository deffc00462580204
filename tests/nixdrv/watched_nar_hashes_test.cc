// WatchedNarHashes on real trees with real inotify: a kept hash is the tree's hash, and any
// change sends the next call back to reading the tree.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include "nixdrv/nar_hash.hh"
#include "nixdrv/watched_nar_hashes.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
using namespace akbuild::nixdrv;
namespace fs = std::filesystem;
using Answered = WatchedNarHashes::Source;

namespace {

WatchedNarHashes::Answer ask(WatchedNarHashes& hashes, const fs::path& path) {
  auto answer = hashes.nar_hash(path);
  REQUIRE_MESSAGE(answer.has_value(), (answer ? "" : answer.error().message));
  // Whatever answered, it is what a full read of the tree gives now.
  auto fresh = nixdrv::nar_hash(path);
  REQUIRE(fresh);
  CHECK(answer->hash == *fresh);
  return *answer;
}

} // namespace

TEST_CASE("WatchedNarHashes keeps a just-written tree's hash until the tree changes") {
  test::TestDir dir;
  fs::path tree = dir / "tree";
  test::write(tree / "bin/run", "#!/bin/sh\n", true);
  test::write(tree / "src/a.c", "int a;\n");
  WatchedNarHashes hashes(dir / "cache");

  // Written a moment ago, so the stat cache would not record it; the watch does not need to.
  CHECK(ask(hashes, tree).source == Answered::hashed);
  CHECK(ask(hashes, tree).source == Answered::watch);
  CHECK(ask(hashes, dir.path() / "tree/").source == Answered::watch);
  CHECK(hashes.trees() == 1);

  auto before = ask(hashes, tree).hash;
  test::write(tree / "src/a.c", "int b;\n");
  auto after = ask(hashes, tree);
  CHECK(after.source != Answered::watch);
  CHECK(after.hash != before);
  CHECK(ask(hashes, tree).source == Answered::watch);

  fs::permissions(tree / "src/a.c", fs::perms::owner_exec, fs::perm_options::add);
  CHECK(ask(hashes, tree).source != Answered::watch);
  CHECK(ask(hashes, tree).source == Answered::watch);
}

TEST_CASE("WatchedNarHashes does not watch files and keeps at most its number of trees") {
  test::TestDir dir;
  test::write(dir / "file.txt", "f");
  test::write(dir / "one/a", "1");
  test::write(dir / "two/a", "2");
  WatchedNarHashes hashes(dir / "cache", 1);

  CHECK(ask(hashes, dir / "file.txt").source != Answered::watch);
  CHECK(ask(hashes, dir / "file.txt").source != Answered::watch);
  CHECK(hashes.trees() == 0);

  CHECK(ask(hashes, dir / "one").source == Answered::hashed);
  CHECK(ask(hashes, dir / "one").source == Answered::watch);
  CHECK(ask(hashes, dir / "two").source == Answered::hashed);
  CHECK(hashes.trees() == 1);
  // "one" was let go to make room.
  CHECK(ask(hashes, dir / "one").source != Answered::watch);

  auto missing = hashes.nar_hash(dir / "missing");
  CHECK_FALSE(missing);
}

TEST_CASE("A tree WatchedNarHashes cannot hash keeps no watches") {
  test::TestDir dir;
  test::write(dir / "tree/a", "a");
  WatchedNarHashes hashes(dir / "cache");
  CHECK(ask(hashes, dir / "tree").source == Answered::hashed);
  CHECK(hashes.watches() == 1);
  REQUIRE(::mkfifo((dir / "tree/pipe").c_str(), 0644) == 0);
  auto refused = hashes.nar_hash(dir / "tree");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("pipe") != std::string::npos);
  CHECK(hashes.trees() == 0);
  CHECK(hashes.watches() == 0);
}

TEST_CASE("A watched tree replaced by a file is let go") {
  test::TestDir dir;
  test::write(dir / "tree/a", "a");
  WatchedNarHashes hashes(dir / "cache");
  ask(hashes, dir / "tree");
  CHECK(ask(hashes, dir / "tree").source == Answered::watch);
  fs::rename(dir / "tree", dir / "tree.old");
  test::write(dir / "tree", "now a file");
  CHECK(ask(hashes, dir / "tree").source != Answered::watch);
  CHECK(hashes.trees() == 0);
  CHECK(hashes.watches() == 0);
}
