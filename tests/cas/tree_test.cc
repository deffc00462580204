#include <doctest/doctest.h>

#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

#include "akbuild/v1/cache.pb.h"
#include "runner/cas/blob_store.hh"
#include "runner/cas/proto_io.hh"
#include "runner/cas/tree.hh"
#include "runner/core/fs.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
using namespace akbuild::cas;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<BlobStore> open_store(const test::TestDir& dir) {
  auto store = open_blob_store((dir / "cache").string());
  REQUIRE(store);
  return std::move(*store);
}

// A tree with every kind of entry: regular, executable, symlink, empty dir, nesting.
void make_sample(const fs::path& root) {
  test::write(root / "a.txt", "alpha\n");
  test::write(root / "bin" / "run.sh", "#!/bin/sh\necho hi\n", true);
  test::write(root / "sub" / "deep" / "b.txt", "beta\n");
  fs::create_directories(root / "empty");
  fs::create_symlink("../a.txt", root / "sub" / "link");
  fs::create_symlink("/nonexistent/target", root / "dangling");
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

} // namespace

TEST_CASE("store_tree and materialize_tree round-trip every entry type") {
  test::TestDir dir;
  auto store = open_store(dir);
  make_sample(dir / "src");
  TreeStats stats;
  auto root = store_tree(*store, dir / "src", &stats);
  REQUIRE(root);
  CHECK(stats.files == 3);
  CHECK(stats.symlinks == 2);
  CHECK(stats.directories == 5);  // the root, bin, empty, sub, sub/deep

  REQUIRE(materialize_tree(*store, *root, dir / "out"));
  CHECK(test::read(dir / "out" / "a.txt") == "alpha\n");
  CHECK(test::read(dir / "out" / "sub" / "deep" / "b.txt") == "beta\n");
  CHECK(mode_of(dir / "out" / "bin" / "run.sh") == 0755);
  // A regular file is its blob, linked: read-only, one inode.
  CHECK(mode_of(dir / "out" / "a.txt") == 0444);
  CHECK(fs::equivalent(dir / "out" / "a.txt", store->local_path(Digest::of(std::string_view("alpha\n")))));
  CHECK_FALSE(fs::equivalent(dir / "out" / "bin" / "run.sh", store->local_path(Digest::of(std::string_view("#!/bin/sh\necho hi\n")))));
  CHECK(mode_of(dir / "out" / "sub") == 0755);
  CHECK(fs::is_directory(dir / "out" / "empty"));
  CHECK(fs::is_empty(dir / "out" / "empty"));
  CHECK(fs::read_symlink(dir / "out" / "sub" / "link") == "../a.txt");
  CHECK(fs::read_symlink(dir / "out" / "dangling") == "/nonexistent/target");
  // Re-storing what was materialized gives the same root: the encoding is deterministic.
  CHECK(*store_tree(*store, dir / "out") == *root);
}

TEST_CASE("store_tree gives the same digest for the same content and a new one for one changed byte") {
  test::TestDir dir;
  auto store = open_store(dir);
  make_sample(dir / "one");
  make_sample(dir / "two");
  auto a = *store_tree(*store, dir / "one");
  CHECK(*store_tree(*store, dir / "two") == a);
  test::write(dir / "two" / "sub" / "deep" / "b.txt", "bets\n");
  CHECK(*store_tree(*store, dir / "two") != a);
  ::chmod((dir / "one" / "a.txt").c_str(), 0755);
  CHECK(*store_tree(*store, dir / "one") != a);
}

TEST_CASE("list_tree flattens a tree with types, digests and sizes") {
  test::TestDir dir;
  auto store = open_store(dir);
  make_sample(dir / "src");
  auto listing = list_tree(*store, *store_tree(*store, dir / "src"));
  REQUIRE(listing);
  CHECK(listing->size() == 9);
  CHECK(listing->at("a.txt").type == 'f');
  CHECK(listing->at("a.txt").size == 6);
  CHECK(listing->at("a.txt").digest == Digest::of(std::string_view("alpha\n")).hex());
  CHECK(listing->at("bin/run.sh").type == 'x');
  CHECK(listing->at("empty").type == 'd');
  CHECK(listing->at("sub/link").type == 'l');
  CHECK(listing->at("sub/link").target == "../a.txt");
}

TEST_CASE("store_tree of a single file wraps it in a one-entry tree") {
  test::TestDir dir;
  auto store = open_store(dir);
  test::write(dir / "report.txt", "r", true);
  auto listing = list_tree(*store, *store_tree(*store, dir / "report.txt"));
  REQUIRE(listing);
  REQUIRE(listing->size() == 1);
  CHECK(listing->at("report.txt").type == 'x');
}

TEST_CASE("store_tree refuses a FIFO, naming it") {
  test::TestDir dir;
  auto store = open_store(dir);
  fs::create_directories(dir / "src");
  REQUIRE(::mkfifo((dir / "src" / "pipe").c_str(), 0644) == 0);
  auto r = store_tree(*store, dir / "src");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("pipe") != std::string::npos);
}

TEST_CASE("materialize of a tree with a corrupt blob fails and leaves nothing at dest") {
  test::TestDir dir;
  auto store = open_store(dir);
  make_sample(dir / "src");
  auto root = *store_tree(*store, dir / "src");
  auto beta = Digest::of(std::string_view("beta\n"));
  fs::path blob = store->local_path(beta);
  REQUIRE_FALSE(blob.empty());
  ::chmod(blob.c_str(), 0644);
  test::write(blob, "BETA\n");

  auto r = materialize_tree(*store, root, dir / "out");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::corrupt);
  CHECK(r.error().message.find(beta.hex()) != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "out"));
  for (auto& e : fs::directory_iterator(dir.path())) CHECK(e.path().filename().string().find("out") == std::string::npos);
  // Evicted, so verify_tree now names it as missing.
  auto v = verify_tree(*store, root);
  REQUIRE_FALSE(v);
  CHECK(v.error().code == ErrorCode::not_found);
  CHECK(v.error().message.find(beta.hex()) != std::string::npos);
}

TEST_CASE("verify_tree finds a corrupt file blob and evicts it") {
  test::TestDir dir;
  auto store = open_store(dir);
  make_sample(dir / "src");
  auto root = *store_tree(*store, dir / "src");
  auto ok_stats = verify_tree(*store, root);
  REQUIRE(ok_stats);
  CHECK(ok_stats->files == 3);
  fs::path blob = store->local_path(Digest::of(std::string_view("alpha\n")));
  ::chmod(blob.c_str(), 0644);
  test::write(blob, "ALPHA\n");
  auto r = verify_tree(*store, root);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::corrupt);
  CHECK_FALSE(fs::exists(blob));
}

TEST_CASE("materialize_tree refuses entry names that would escape dest") {
  test::TestDir dir;
  auto store = open_store(dir);
  auto file = *store->put("x");
  for (const std::string& bad : std::vector<std::string>{"..", ".", "a/b", std::string("a\0b", 3), ""}) {
    CAPTURE(bad);
    v1::Tree tree;
    auto* e = tree.add_entries();
    e->set_name(bad);
    e->set_type(v1::TreeEntry::REGULAR);
    e->set_digest(file.hex());
    auto root = *store->put(serialize_deterministic(tree));
    auto r = materialize_tree(*store, root, dir / "out");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::corrupt);
    CHECK_FALSE(fs::exists(dir / "out"));
  }
}

TEST_CASE("materialize_tree does not replace an existing dest") {
  test::TestDir dir;
  auto store = open_store(dir);
  make_sample(dir / "src");
  test::write(dir / "out" / "keep", "mine");
  auto r = materialize_tree(*store, *store_tree(*store, dir / "src"), dir / "out");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::already_exists);
  CHECK(test::read(dir / "out" / "keep") == "mine");
}

TEST_CASE("a write through a materialized link, even as root, unmarks the blob: check_tree re-hashes and evicts it") {
  test::TestDir dir;
  auto store = open_store(dir);
  make_sample(dir / "src");
  auto root = *store_tree(*store, dir / "src");
  REQUIRE(check_tree(*store, root));
  REQUIRE(materialize_tree(*store, root, dir / "out"));
  fs::path blob = store->local_path(Digest::of(std::string_view("alpha\n")));
  // Root ignores the read-only mode; a user would have to chmod first. Same size, so only the
  // mtime tells.
  { std::ofstream edit(dir / "out" / "a.txt", std::ios::binary | std::ios::trunc); edit << "ALPHA\n"; }
  REQUIRE(test::read(blob) == "ALPHA\n");
  auto r = check_tree(*store, root);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::corrupt);
  CHECK_FALSE(fs::exists(blob));
  // The edited file is the user's now, and nothing links to it again.
  REQUIRE_FALSE(materialize_tree(*store, root, dir / "again"));
  CHECK(test::read(dir / "out" / "a.txt") == "ALPHA\n");
}

TEST_CASE("a blob without the intact mark is copied out, not linked, until check_tree has re-hashed it") {
  test::TestDir dir;
  auto store = open_store(dir);
  make_sample(dir / "src");
  auto root = *store_tree(*store, dir / "src");
  fs::path blob = store->local_path(Digest::of(std::string_view("alpha\n")));
  fs::last_write_time(blob, fs::file_time_type::clock::now());  // as stored before the mark
  REQUIRE(materialize_tree(*store, root, dir / "copied"));
  CHECK_FALSE(fs::equivalent(dir / "copied" / "a.txt", blob));
  CHECK(mode_of(dir / "copied" / "a.txt") == 0644);
  REQUIRE(check_tree(*store, root));
  REQUIRE(materialize_tree(*store, root, dir / "linked"));
  CHECK(fs::equivalent(dir / "linked" / "a.txt", blob));
}

TEST_CASE("store_tree in move mode moves files into the store, but copies a file with another link") {
  test::TestDir dir;
  auto store = open_store(dir);
  make_sample(dir / "src");
  test::write(dir / "source.txt", "a workspace source\n");
  fs::create_hard_link(dir / "source.txt", dir / "src" / "linked.txt");
  ::chmod((dir / "source.txt").c_str(), 0640);
  auto before = fs::last_write_time(dir / "source.txt");
  auto copied = *store_tree(*open_blob_store((dir / "copies").string()).value(), dir / "src");
  auto moved = store_tree(*store, dir / "src", nullptr, StoreMode::move);
  REQUIRE(moved);
  CHECK(*moved == copied);
  CHECK_FALSE(fs::exists(dir / "src" / "a.txt"));
  CHECK_FALSE(fs::exists(dir / "src" / "sub" / "deep" / "b.txt"));
  CHECK(fs::is_symlink(dir / "src" / "sub" / "link"));
  // The other link keeps its mode and mtime: it is not the store's to mark.
  CHECK(test::read(dir / "source.txt") == "a workspace source\n");
  CHECK(mode_of(dir / "source.txt") == 0640);
  CHECK(fs::last_write_time(dir / "source.txt") == before);
  REQUIRE(materialize_tree(*store, *moved, dir / "out"));
  CHECK(test::read(dir / "out" / "a.txt") == "alpha\n");
  CHECK(test::read(dir / "out" / "linked.txt") == "a workspace source\n");
}
