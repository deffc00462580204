#pragma once
// Helpers for the nixdrv tests: real Nix (Debian nix-bin) is the oracle, run offline against a
// private chroot store inside the test's own directory.

#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/test_support.hh"

namespace akbuild::test {

inline constexpr const char* k_xp = "--extra-experimental-features nix-command";

// The trimmed stdout of a shell command that must succeed.
inline std::string sh_ok(const std::string& script) {
  auto r = sh(script);
  INFO("command: " << script << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  std::string out = r.out;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// Single-quotes a string for bash.
inline std::string shq(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// nix.md's fixture t1: a.txt = "hello\n"; link -> a.txt; sub/b = "x" (executable).
inline std::filesystem::path make_t1(const std::filesystem::path& dir) {
  auto t1 = dir / "t1";
  write(t1 / "a.txt", "hello\n");
  write(t1 / "sub" / "b", "x", true);
  std::filesystem::create_symlink("a.txt", t1 / "link");
  return t1;
}

// A tree with the edge cases the NAR format has: byte-order names, spaces, UTF-8, a 220-byte
// name, empty files and dirs, 8/9-byte files (padding), modes 0654/0744/0444, relative,
// absolute, dangling, long and `..` symlinks, and deep nesting.
inline std::filesystem::path make_edge_tree(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  auto t = dir / "edge";
  for (const char* n : {"-", ".a", "0", "B", "Z", "_", "a", "a-b", "a.b", "aa", "ab", "sp ace", "z", "\x7f", "\xc3\xa9"})
    write(t / "order" / n, n);
  write(t / "names" / (std::string(220, 'n') + ".txt"), "long name");
  write(t / "names" / "caf\xc3\xa9 \xe2\x98\x83 file", "utf8");
  write(t / "empty-file", "");
  fs::create_directories(t / "empty-dir");
  write(t / "eight", "12345678");
  write(t / "nine", "123456789");
  write(t / "modes" / "0654", "a");
  fs::permissions(t / "modes" / "0654", static_cast<fs::perms>(0654));
  write(t / "modes" / "0744", "b");
  fs::permissions(t / "modes" / "0744", static_cast<fs::perms>(0744));
  write(t / "modes" / "0444", "c");
  fs::permissions(t / "modes" / "0444", static_cast<fs::perms>(0444));
  fs::create_directories(t / "links");
  fs::create_symlink("../eight", t / "links" / "up");
  fs::create_symlink("/etc/hostname", t / "links" / "absolute");
  fs::create_symlink("does-not-exist", t / "links" / "dangling");
  fs::create_symlink(std::string(300, 'x'), t / "links" / "long");
  fs::path deep = t / "deep";
  for (int i = 0; i < 30; ++i) deep /= "d" + std::to_string(i);
  write(deep / "leaf", "deep");
  std::string big(1000003, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7919) >> 3);
  write(t / "big", big);
  return t;
}

} // namespace akbuild::test
