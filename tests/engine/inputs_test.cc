#include <doctest/doctest.h>

#include <map>

#include "runner/cas/stat_cache.hh"
#include "runner/core/encoding.hh"
#include "runner/core/hash.hh"
#include "runner/engine/inputs.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
using namespace akbuild::engine;
namespace fs = std::filesystem;

namespace {
std::vector<std::string> paths(const std::vector<InputFile>& files) {
  std::vector<std::string> out;
  for (const auto& f : files) out.push_back(f.path);
  return out;
}
} // namespace

TEST_CASE("collect_inputs matches globs minus excludes, never .git, and hashes contents") {
  test::TestDir dir;
  auto ws = dir / "ws";
  test::write(ws / "src" / "a.txt", "A");
  test::write(ws / "src" / "gen" / "g.txt", "G");
  test::write(ws / "src" / "run.sh", "#!/bin/sh\n", true);
  test::write(ws / "other.txt", "O");
  test::write(ws / ".git" / "HEAD", "ref");
  fs::create_symlink("a.txt", ws / "src" / "link");
  auto globs = *GlobSet::parse({"src/**", ".git/**"}, {"src/gen/"});
  auto files = collect_inputs(ws, globs, nullptr, 2);
  REQUIRE(files);
  CHECK(paths(*files) == std::vector<std::string>{"src/a.txt", "src/link", "src/run.sh"});
  CHECK((*files)[0].digest == to_hex(sha256(std::string_view("A"))));
  CHECK((*files)[1].type == FileType::symlink);
  CHECK((*files)[1].target == "a.txt");
  CHECK((*files)[2].executable);
}

TEST_CASE("collect_inputs keeps matched directories that hold no input, and only those") {
  test::TestDir dir;
  auto ws = dir / "ws";
  fs::create_directories(ws / "venv" / "include" / "python3.11");
  fs::create_directories(ws / "venv" / "lib" / "empty");
  test::write(ws / "venv" / "lib" / "site.py", "S");
  test::write(ws / "venv" / "cache" / "x.pyc", "C");  // excluded: its directory holds no input
  fs::create_directories(ws / "elsewhere" / "empty");
  auto globs = *GlobSet::parse({"venv/"}, {"**/*.pyc"});
  auto files = collect_inputs(ws, globs, nullptr, 2);
  REQUIRE(files);
  CHECK(paths(*files) ==
        std::vector<std::string>{"venv/cache", "venv/include/python3.11", "venv/lib/empty", "venv/lib/site.py"});
  CHECK((*files)[1].type == FileType::directory);
  CHECK_FALSE(changed_input(ws, *files));
  // Entries that are not inputs may come and go in it; replacing it is a change.
  test::write(ws / "venv" / "cache" / "y.pyc", "Y");
  CHECK_FALSE(changed_input(ws, *files));
  fs::remove(ws / "venv" / "lib" / "empty");
  test::write(ws / "venv" / "lib" / "empty", "now a file");
  CHECK(changed_input(ws, *files) == "venv/lib/empty: no longer a directory");
}

TEST_CASE("collect_inputs reads unchanged files from the stat cache and rehashes changed ones") {
  test::TestDir dir;
  auto ws = dir / "ws";
  for (int i = 0; i < 20; ++i) test::write(ws / ("f" + std::to_string(i)), std::string(1000 + i, 'x'));
  auto cache = cas::StatCache::open(dir / "stat-cache");
  REQUIRE(cache);
  auto globs = *GlobSet::parse({"**"}, {});
  InputStats first, second;
  REQUIRE(collect_inputs(ws, globs, cache->get(), 2, &first));
  CHECK(first.files == 20);
  CHECK(first.hashed_files == 20);
  // Back-date the files so the entries are not racily clean, then record again.
  for (int i = 0; i < 20; ++i)
    fs::last_write_time(ws / ("f" + std::to_string(i)), fs::file_time_type::clock::now() - std::chrono::hours(1));
  REQUIRE(collect_inputs(ws, globs, cache->get(), 2));
  test::write(ws / "f3", "changed");
  fs::last_write_time(ws / "f3", fs::file_time_type::clock::now() - std::chrono::hours(1));
  auto files = collect_inputs(ws, globs, cache->get(), 2, &second);
  REQUIRE(files);
  CHECK(second.hashed_files == 1);
  for (const auto& f : *files)
    if (f.path == "f3") CHECK(f.digest == to_hex(sha256(std::string_view("changed"))));
}

TEST_CASE("collect_inputs hashes files of many directories, large and small, on several threads") {
  test::TestDir dir;
  auto ws = dir / "ws";
  std::map<std::string, std::string> want;
  for (int d = 0; d < 12; ++d)
    for (int f = 0; f < 7; ++f) {
      std::string rel = "d" + std::to_string(d) + "/f" + std::to_string(f);
      want[rel] = std::string(static_cast<std::size_t>(d * 7 + f), static_cast<char>('a' + f));
    }
  want["d3/big"] = std::string(600 * 1024, 'q');  // more than one read buffer
  for (const auto& [rel, content] : want) test::write(ws / rel, content);
  auto cache = cas::StatCache::open(dir / "stat-cache");
  REQUIRE(cache);
  for (unsigned threads : {1u, 3u}) {
    CAPTURE(threads);
    InputStats stats;
    auto files = collect_inputs(ws, *GlobSet::parse({"**"}, {}), threads == 1 ? nullptr : cache->get(), threads, &stats);
    REQUIRE(files);
    REQUIRE(files->size() == want.size());
    CHECK(stats.hashed_files == want.size());
    for (const auto& f : *files) CHECK(f.digest == to_hex(sha256(want.at(f.path))));
  }
}

TEST_CASE("changed_input names an input written, touched, replaced or removed since it was collected") {
  test::TestDir dir;
  auto ws = dir / "ws";
  test::write(ws / "a.txt", "A");
  test::write(ws / "b.txt", "B");
  fs::create_symlink("a.txt", ws / "link");
  auto globs = *GlobSet::parse({"**"}, {});
  auto collect = [&] {
    auto files = collect_inputs(ws, globs, nullptr, 2);
    REQUIRE(files);
    return *files;
  };
  auto files = collect();
  CHECK_FALSE(changed_input(ws, files));
  // A hard link (what staging makes) moves the ctime only: not a change.
  fs::create_hard_link(ws / "a.txt", dir / "staged-a.txt");
  CHECK_FALSE(changed_input(ws, files));

  test::write(ws / "b.txt", "b2");
  CHECK(changed_input(ws, files) == "b.txt: size or type changed");
  files = collect();
  REQUIRE(test::sh("touch -d '2001-01-01' '" + (ws / "a.txt").string() + "'").exit_code == 0);
  CHECK(changed_input(ws, files) == "a.txt: modified");
  files = collect();
  // Same size and mtime, another file: an editor's save by rename.
  test::write(dir / "new-a.txt", "Z");
  REQUIRE(test::sh("touch -r '" + (ws / "a.txt").string() + "' '" + (dir / "new-a.txt").string() + "'").exit_code == 0);
  fs::rename(dir / "new-a.txt", ws / "a.txt");
  CHECK(changed_input(ws, files) == "a.txt: replaced");
  files = collect();
  fs::permissions(ws / "b.txt", fs::perms::owner_exec, fs::perm_options::add);
  CHECK(changed_input(ws, files) == "b.txt: permissions changed");
  files = collect();
  fs::remove(ws / "link");
  CHECK(changed_input(ws, files) == "link: gone");
}

TEST_CASE("collect_inputs names the topmost directories every entry of which is an input") {
  test::TestDir dir;
  auto ws = dir / "ws";
  test::write(ws / "src" / "a.txt", "A");
  test::write(ws / "src" / "sub" / "b.txt", "B");
  fs::create_directories(ws / "src" / "empty");
  fs::create_symlink("a.txt", ws / "src" / "link");
  test::write(ws / "lib" / "x.txt", "X");
  test::write(ws / "lib" / "y.md", "Y");
  test::write(ws / "lib" / "inner" / "z.txt", "Z");
  auto whole = [&](std::vector<std::string> include, std::vector<std::string> exclude) {
    WholeDirs dirs;
    REQUIRE(collect_inputs(ws, *GlobSet::parse(include, exclude), nullptr, 2, nullptr, &dirs));
    return dirs.tops;
  };
  CHECK(whole({"src/**"}, {}) == std::vector<std::string>{"src"});
  CHECK(whole({"src/"}, {}) == std::vector<std::string>{"src"});
  // lib/y.md is not matched: lib is not whole, but lib/inner is.
  CHECK(whole({"src/**", "lib/**/*.txt"}, {}) == std::vector<std::string>{"lib/inner", "src"});
  // An exclude takes the directory it reaches into out, and its parents.
  CHECK(whole({"src/**"}, {"src/sub/b.txt"}) == std::vector<std::string>{"src/empty"});
  CHECK(whole({"**"}, {}) == std::vector<std::string>{"lib", "src"});
  CHECK(whole({"src/*.txt"}, {}).empty());
}

TEST_CASE("a whole input directory's own directories are kept with their stat, and an entry added to one is a change") {
  test::TestDir dir;
  auto ws = dir / "ws";
  test::write(ws / "a-b" / "x.txt", "X");
  test::write(ws / "a" / "sub" / "b.txt", "B");
  fs::create_directories(ws / "a" / "empty");
  test::write(ws / "lib" / "y.md", "Y");
  test::write(ws / "lib" / "inner" / "z.txt", "Z");
  // A directory's mtime has the kernel's coarse clock: one set an hour back cannot be equal to
  // the time an entry is added below.
  auto hour_ago = fs::file_time_type::clock::now() - std::chrono::hours(1);
  for (const auto& d : {"a", "a/sub", "a/empty", "a-b", "lib", "lib/inner"}) fs::last_write_time(ws / d, hour_ago);
  WholeDirs whole;
  auto files = collect_inputs(ws, *GlobSet::parse({"a/**", "a-b/**", "lib/**/*.txt"}, {}), nullptr, 2, nullptr, &whole);
  REQUIRE(files);
  // Walk order puts a/ before a-b/ although "a-b" < "a/sub" as strings.
  CHECK(whole.tops == std::vector<std::string>{"a", "a-b", "lib/inner"});
  std::vector<std::string> paths;
  for (const auto& d : whole.dirs) paths.push_back(d.path);
  CHECK(paths == std::vector<std::string>{"a", "a/empty", "a/sub", "a-b", "lib/inner"});
  CHECK_FALSE(changed_input(ws, *files, whole.dirs));
  // lib/ is not whole: an entry added there is no change of these inputs.
  test::write(ws / "lib" / "new.md", "N");
  CHECK_FALSE(changed_input(ws, *files, whole.dirs));
  // Nothing under a/ changed as a file, but a/sub holds one more entry.
  test::write(ws / "a" / "sub" / "added.txt", "A");
  auto change = changed_input(ws, *files, whole.dirs);
  REQUIRE(change);
  CHECK(*change == "a/sub: an entry added or removed");
  CHECK_FALSE(changed_input(ws, *files));
}
