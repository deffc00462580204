#include <doctest/doctest.h>

#include <sys/stat.h>

#include "runner/core/atomic_file.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

std::size_t entries(const fs::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

Result<> write_text(const AtomicFile& file, std::string_view text) {
  return write_all(file.fd(), std::as_bytes(std::span(text.data(), text.size())));
}

} // namespace

TEST_CASE("AtomicFile shows nothing at its path until commit, then the whole content") {
  test::TestDir dir;
  test::write(dir / "f", "old");
  auto file = AtomicFile::create(dir / "f");
  REQUIRE(file);
  REQUIRE(write_text(*file, "new content"));
  CHECK(test::read(dir / "f") == "old");
  CHECK(file->temp_path().parent_path() == dir.path());
  CHECK(file->temp_path().filename().string().starts_with(".tmp-f-"));  // the name cache gc knows
  REQUIRE(file->commit());
  CHECK(test::read(dir / "f") == "new content");
  CHECK(entries(dir.path()) == 1);
  CHECK_FALSE(file->commit());
}

TEST_CASE("AtomicFile dropped without commit leaves the old content and no temp file") {
  test::TestDir dir;
  test::write(dir / "f", "old");
  {
    auto file = AtomicFile::create(dir / "f");
    REQUIRE(file);
    REQUIRE(write_text(*file, "half"));
  }
  CHECK(test::read(dir / "f") == "old");
  CHECK(entries(dir.path()) == 1);
}

TEST_CASE("AtomicFile commits under a name known only after writing, with the mode asked for") {
  test::TestDir dir;
  for (auto durability : {AtomicFile::Durability::synced, AtomicFile::Durability::unsynced}) {
    auto file = AtomicFile::create(dir / "blob", 0444, durability);
    REQUIRE(file);
    REQUIRE(write_text(*file, "abc"));
    auto name = durability == AtomicFile::Durability::synced ? "ba7816bf" : "ba7816bf-unsynced";
    REQUIRE(file->commit_as(dir / name));
    CHECK(test::read(dir / name) == "abc");
    struct stat st {};
    REQUIRE(::stat((dir / name).c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0444);
  }
  CHECK_FALSE(fs::exists(dir / "blob"));
  CHECK(entries(dir.path()) == 2);
}
