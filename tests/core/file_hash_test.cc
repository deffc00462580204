// hash_files_at against sha256sum on files around its batching and size limits, and its errors.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/core/encoding.hh"
#include "runner/core/file_hash.hh"
#include "runner/core/fs.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

std::string sha256sum(const fs::path& path) {
  auto r = test::run({"sha256sum", path.string()});
  REQUIRE(r.exit_code == 0);
  return r.out.substr(0, 64);
}

std::string content(std::size_t size, unsigned seed) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>((i * 131 + seed * 7) % 251);
  return out;
}

} // namespace

TEST_CASE("hash_files_at agrees with sha256sum across batches and the small-file limit") {
  test::TestDir dir;
  // Sizes at and around the io_uring read limit (64 KiB), empty and large files, and more files
  // than one submission holds.
  std::vector<std::size_t> sizes = {0, 1, 4095, 4096, 65535, 65536, 65537, 3 << 20};
  for (unsigned i = 0; i < 100; ++i) sizes.push_back(100 + i * 37);
  std::vector<std::string> names;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    names.push_back("f" + std::to_string(i));
    test::write(dir / names.back(), content(sizes[i], static_cast<unsigned>(i)));
  }
  std::vector<FileToHash> files;
  for (std::size_t i = 0; i < sizes.size(); ++i) files.push_back({.name = names[i].c_str(), .size = sizes[i]});
  UniqueFd dirfd(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(dirfd);
  if (!file_hash_uses_io_uring()) MESSAGE("io_uring is not available here: only plain reads are tested");
  // Twice: the second time through the thread's ring and slots again.
  for (int round = 0; round < 2; ++round) {
    hash_files_at(dirfd.get(), files);
    for (std::size_t i = 0; i < files.size(); ++i) {
      CAPTURE(names[i]);
      REQUIRE_FALSE(files[i].error);
      CHECK(to_hex(files[i].digest) == sha256sum(dir / names[i]));
    }
  }
}

TEST_CASE("hash_files_at reports each file's own failure and hashes the rest") {
  test::TestDir dir;
  test::write(dir / "good", "good");
  test::write(dir / "shrunk", "ten bytes!");
  fs::create_symlink("good", dir / "link");
  UniqueFd dirfd(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(dirfd);
  std::vector<FileToHash> files = {{.name = "missing", .size = 3},
                                   {.name = "good", .size = 4},
                                   {.name = "link", .size = 4},
                                   // Its stat said 100 bytes: what is there now is hashed.
                                   {.name = "shrunk", .size = 100}};
  hash_files_at(dirfd.get(), files);
  REQUIRE(files[0].error);
  CHECK(files[0].error->message == "open: No such file or directory");
  REQUIRE_FALSE(files[1].error);
  CHECK(to_hex(files[1].digest) == sha256sum(dir / "good"));
  // Never through a symlink.
  REQUIRE(files[2].error);
  CHECK(files[2].error->message.starts_with("open: "));
  REQUIRE_FALSE(files[3].error);
  CHECK(to_hex(files[3].digest) == sha256sum(dir / "shrunk"));

  // A FIFO where a file was (as if swapped since its stat): an error, not the empty content.
  REQUIRE(::mkfifo((dir / "fifo").c_str(), 0644) == 0);
  std::vector<FileToHash> swapped = {{.name = "fifo", .size = 100000}, {.name = "fifo", .size = 10}};
  hash_files_at(dirfd.get(), swapped);
  for (const auto& f : swapped) {
    REQUIRE(f.error);
    CHECK(f.error->message == "open: not a regular file (any more)");
  }

  auto plain = hash_file_at(dirfd.get(), "missing");
  REQUIRE_FALSE(plain);
  CHECK(plain.error().message == "open: No such file or directory");
}
