// TreeWatcher against real inotify on a temp dir: every kind of change it promises to see, the
// reads it must not count, and the shape of its watches.
#include <doctest/doctest.h>

#include <fstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "runner/core/fs.hh"
#include "runner/core/tree_watcher.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<TreeWatcher> open_watcher() {
  auto watcher = TreeWatcher::open();
  REQUIRE_MESSAGE(watcher.has_value(), (watcher ? "" : watcher.error().message));
  return std::move(*watcher);
}

std::uint64_t arm(TreeWatcher& watcher, const fs::path& root) {
  auto mark = watcher.arm(root);
  REQUIRE_MESSAGE(mark.has_value(), (mark ? "" : mark.error().message));
  return *mark;
}

void append(const fs::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::app);
  out << text;
}

} // namespace

TEST_CASE("An armed tree stays unchanged until something under it changes, and reads do not count") {
  test::TestDir dir;
  fs::path root = dir / "tree";
  test::write(root / "a.txt", "a");
  test::write(root / "sub/deep/b.txt", "b");
  auto watcher = open_watcher();

  // Each change below happens after a fresh arm, and must be seen through its own kind of event.
  struct Change {
    const char* what;
    std::function<void()> make;
  };
  std::vector<Change> changes = {
      {"write to a nested file", [&] { append(root / "sub/deep/b.txt", "more"); }},
      {"truncate", [&] { fs::resize_file(root / "a.txt", 0); }},
      {"chmod", [&] { fs::permissions(root / "sub/deep/b.txt", fs::perms::owner_exec, fs::perm_options::add); }},
      {"timestamps only", [&] { REQUIRE(::utimes((root / "a.txt").c_str(), nullptr) == 0); }},
      {"a new file in a nested directory", [&] { test::write(root / "sub/c.txt", "c"); }},
      {"a new directory", [&] { fs::create_directory(root / "sub/new"); }},
      // Armed again after the directory appeared, so this write is inside a watched directory.
      {"a write in the directory made before the last arm", [&] { test::write(root / "sub/new/d.txt", "d"); }},
      {"a rename inside the tree", [&] { fs::rename(root / "sub/c.txt", root / "c-renamed.txt"); }},
      {"a symlink", [&] { fs::create_symlink("a.txt", root / "sub/link"); }},
      {"a removed directory", [&] { fs::remove_all(root / "sub/deep"); }},
  };
  for (const auto& change : changes) {
    CAPTURE(change.what);
    auto mark = arm(*watcher, root);
    CHECK(watcher->unchanged_since(root, mark));
    (void)test::read(root / "a.txt");
    (void)test::sh("ls -lR '" + root.string() + "' > /dev/null");
    CHECK(watcher->unchanged_since(root, mark));
    change.make();
    CHECK_FALSE(watcher->unchanged_since(root, mark));
    // It stays changed for that mark; a new arm starts clean.
    CHECK_FALSE(watcher->unchanged_since(root, mark));
  }
  CHECK(watcher->unchanged_since(root, arm(*watcher, root)));
}

TEST_CASE("A change after an arm moves only marks taken before it") {
  test::TestDir dir;
  test::write(dir / "tree/a.txt", "a");
  auto watcher = open_watcher();
  auto first = arm(*watcher, dir / "tree");
  test::write(dir / "tree/a.txt", "changed");
  auto second = arm(*watcher, dir / "tree");
  CHECK_FALSE(watcher->unchanged_since(dir / "tree", first));
  CHECK(watcher->unchanged_since(dir / "tree", second));
}

TEST_CASE("A file with two links is seen when written through a directory outside the tree") {
  test::TestDir dir;
  test::write(dir / "tree/shared.txt", "one");
  fs::create_directories(dir / "outside");
  fs::create_hard_link(dir / "tree/shared.txt", dir / "outside/alias.txt");
  auto watcher = open_watcher();
  auto mark = arm(*watcher, dir / "tree");
  CHECK(watcher->unchanged_since(dir / "tree", mark));
  append(dir / "outside/alias.txt", "two");
  CHECK_FALSE(watcher->unchanged_since(dir / "tree", mark));
}

TEST_CASE("Another directory put in the tree's place is not the armed tree") {
  test::TestDir dir;
  test::write(dir / "tree/a.txt", "a");
  auto watcher = open_watcher();
  auto mark = arm(*watcher, dir / "tree");
  // A rename of the root's parent sends no event to any watch of the tree.
  fs::create_directories(dir / "p");
  fs::rename(dir / "tree", dir / "p/tree");
  auto moved = arm(*watcher, dir / "p/tree");
  (void)moved;
  fs::rename(dir / "p", dir / "q");
  fs::create_directories(dir / "p/tree");
  test::write(dir / "p/tree/a.txt", "a");
  CHECK_FALSE(watcher->unchanged_since(dir / "p/tree", moved));
  CHECK_FALSE(watcher->unchanged_since(dir / "tree", mark));
}

TEST_CASE("Bad roots are errors, a root never armed is never unchanged, and disarm keeps shared watches") {
  test::TestDir dir;
  test::write(dir / "tree/sub/a.txt", "a");
  test::write(dir / "file.txt", "f");
  auto watcher = open_watcher();

  auto file = watcher->arm(dir / "file.txt");
  REQUIRE_FALSE(file);
  CHECK(file.error().message.find("not a directory") != std::string::npos);
  CHECK_FALSE(watcher->arm(dir / "missing"));
  CHECK(watcher->watch_count() == 0);
  CHECK_FALSE(watcher->unchanged_since(dir / "tree", 0));

  auto outer = arm(*watcher, dir / "tree");
  CHECK(watcher->watch_count() == 2);  // tree, tree/sub
  auto inner = arm(*watcher, dir / "tree/sub");
  CHECK(watcher->watch_count() == 2);  // tree/sub is shared
  watcher->disarm(dir / "tree");
  CHECK(watcher->watch_count() == 1);
  CHECK_FALSE(watcher->unchanged_since(dir / "tree", outer));
  CHECK(watcher->unchanged_since(dir / "tree/sub", inner));
  test::write(dir / "tree/sub/b.txt", "b");
  CHECK_FALSE(watcher->unchanged_since(dir / "tree/sub", inner));
  watcher->disarm(dir / "tree/sub");
  CHECK(watcher->watch_count() == 0);

  // Re-arming a tree whose directory went away drops that directory's watch.
  arm(*watcher, dir / "tree");
  CHECK(watcher->watch_count() == 2);
  fs::remove_all(dir / "tree/sub");
  auto mark = arm(*watcher, dir / "tree");
  CHECK(watcher->watch_count() == 1);
  CHECK(watcher->unchanged_since(dir / "tree", mark));
}

TEST_CASE("A full event queue counts as a change to every armed tree") {
  long limit = 0;
  std::ifstream("/proc/sys/fs/inotify/max_queued_events") >> limit;
  if (limit <= 0 || limit > 100000) {
    return test::skip("fs.inotify.max_queued_events is " + std::to_string(limit));
  }
  test::TestDir dir;
  test::write(dir / "quiet/a.txt", "a");
  fs::create_directories(dir / "busy");
  auto watcher = open_watcher();
  auto quiet = arm(*watcher, dir / "quiet");
  arm(*watcher, dir / "busy");
  // One distinct event per file, more than the queue holds, none read meanwhile.
  for (long i = 0; i <= limit; ++i) {
    int fd = ::open((dir / "busy" / std::to_string(i)).c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) FAIL("cannot create file " << i);
    ::close(fd);
  }
  CHECK_FALSE(watcher->unchanged_since(dir / "quiet", quiet));
}

TEST_CASE("A mark taken before a disarm means nothing once the tree is armed again") {
  test::TestDir dir;
  test::write(dir / "tree/a.txt", "a");
  auto watcher = open_watcher();
  auto before = arm(*watcher, dir / "tree");
  watcher->disarm(dir / "tree");
  // Unwatched: no event can record this.
  test::write(dir / "tree/a.txt", "changed while nothing watched");
  auto again = arm(*watcher, dir / "tree");
  CHECK_FALSE(watcher->unchanged_since(dir / "tree", before));
  CHECK(watcher->unchanged_since(dir / "tree", again));
}

TEST_CASE("A tree deeper than any stack and one past the watch budget") {
  test::TestDir dir;
  fs::path deep = dir / "deep";
  fs::path at = deep;
  for (int i = 0; i < 600; ++i) at /= "d";
  fs::create_directories(at);
  test::write(at / "leaf.txt", "x");
  auto watcher = open_watcher();
  auto mark = arm(*watcher, deep);
  CHECK(watcher->watch_count() == 601);
  test::write(at / "leaf.txt", "y");
  CHECK_FALSE(watcher->unchanged_since(deep, mark));

  auto small = TreeWatcher::open(100);
  REQUIRE(small);
  auto refused = (*small)->arm(deep);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("more inotify watches than the 100 akbuild allows itself") != std::string::npos);
  CHECK((*small)->watch_count() == 0);

  // Watches a tree shares with one already armed count once.
  fs::path shallow = dir / "shallow";
  at = shallow;
  for (int i = 0; i < 60; ++i) at /= "d";
  fs::create_directories(at);
  arm(**small, shallow);
  CHECK((*small)->watch_count() == 61);
  arm(**small, shallow / "d");
  CHECK((*small)->watch_count() == 61);
}

TEST_CASE("Another directory armed at a tree's path does not vouch for marks of the old one") {
  test::TestDir dir;
  test::write(dir / "a/b/f.txt", "old");
  auto watcher = open_watcher();
  auto old_mark = arm(*watcher, dir / "a/b");
  // The parent moves away (no event reaches the tree's watches) and a new tree takes the path.
  fs::rename(dir / "a", dir / "a.old");
  test::write(dir / "a/b/f.txt", "new");
  CHECK_FALSE(watcher->unchanged_since(dir / "a/b", old_mark));
  auto new_mark = arm(*watcher, dir / "a/b");
  CHECK_FALSE(watcher->unchanged_since(dir / "a/b", old_mark));
  CHECK(watcher->unchanged_since(dir / "a/b", new_mark));
}
