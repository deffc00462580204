#pragma once
// What the libFuzzer targets in this folder share: the input as a string, and a scratch dir for
// parsers that read files (lockfiles, OCI layouts, layer tars), made once per process.
//
// Usage: extern "C" int LLVMFuzzerTestOneInput(const uint8_t* d, size_t n) {
//          auto text = akbuild::fuzz::text(d, n); ...; return 0; }

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace akbuild::fuzz {

inline std::string_view text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A directory of this process's own, removed at exit; targets overwrite their files in it.
const std::filesystem::path& scratch_dir();

// Writes `content` to scratch_dir()/name and returns the path; aborts when it cannot (a broken
// machine, not a finding).
std::filesystem::path write_scratch(const std::string& name, std::string_view content);

} // namespace akbuild::fuzz
