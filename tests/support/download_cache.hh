#pragma once
// Large test fixtures from the network (a toolchain's tarball), downloaded once per machine into
// $AKBUILD_TEST_CACHE (default /var/tmp/akbuild-test-cache) under a name made of their URL, so
// neither a rerun nor another test fetches them again.

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "tests/support/test_support.hh"

namespace akbuild::test {

// The local copy of `url`, downloaded with curl when missing (at most `max_seconds`); nullopt when
// the download fails (no network), leaving nothing behind.
inline std::optional<std::filesystem::path> cached_download(const std::string& url, int max_seconds = 120) {
  const char* env = std::getenv("AKBUILD_TEST_CACHE");
  std::filesystem::path root = env && *env ? env : "/var/tmp/akbuild-test-cache";
  std::string name;
  for (char c : url) name += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ? c : '_';
  auto file = root / name;
  std::error_code ec;
  if (std::filesystem::is_regular_file(file, ec)) return file;
  std::filesystem::create_directories(root, ec);
  auto part = file.string() + ".part." + std::to_string(::getpid());
  auto r = run({"curl", "-fsSL", "--max-time", std::to_string(max_seconds), "-o", part, url});
  if (r.exit_code != 0 || !std::filesystem::exists(part)) {
    std::filesystem::remove(part, ec);
    return std::nullopt;
  }
  std::filesystem::rename(part, file, ec);
  if (ec) return std::nullopt;
  return file;
}

} // namespace akbuild::test
