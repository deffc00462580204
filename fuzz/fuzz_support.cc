#include "fuzz/fuzz_support.hh"

#include <cstdio>
#include <cstdlib>

#include "runner/core/fs.hh"

namespace akbuild::fuzz {

const std::filesystem::path& scratch_dir() {
  // Kept for the whole process and removed at exit (TempDir's destructor).
  static TempDir dir = [] {
    auto d = TempDir::create("akbuild-fuzz-");
    if (!d) {
      std::fprintf(stderr, "fuzz: %s\n", d.error().message.c_str());
      std::abort();
    }
    return std::move(*d);
  }();
  return dir.path();
}

std::filesystem::path write_scratch(const std::string& name, std::string_view content) {
  auto path = scratch_dir() / name;
  if (auto r = write_file(path, content); !r) {
    std::fprintf(stderr, "fuzz: %s\n", r.error().message.c_str());
    std::abort();
  }
  return path;
}

} // namespace akbuild::fuzz
