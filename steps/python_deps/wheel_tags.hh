#pragma once
// The interpreter and platform a venv is built for, and which wheels it can install: wheel
// file names (PEP 427: NAME-VERSION[-BUILD]-PY-ABI-PLATFORM.whl, each tag part a '.'-joined
// set), and the ordered list of supported tags a target accepts, best first, as
// `packaging.tags.sys_tags()` orders them for CPython (PEP 425, PEP 600 manylinux_X_Y,
// PEP 656 musllinux, abi3, pure-python fallbacks).

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runner/core/result.hh"
#include "steps/python_deps/pep508.hh"

namespace akbuild::steps::python {

struct Target {
  std::string python_version = "3.11";    // "3.14" or "3.14.2"
  std::string implementation = "cpython"; // cpython | pypy
  std::string platform = "linux";         // linux | darwin | windows
  std::string arch = "x86_64";
  std::string libc = "glibc";             // glibc | musl (linux only)
  std::string libc_version;               // newest glibc/musl accepted ("2.36", "1.2"); default per libc

  // Checks the fields; invalid_argument naming the `with:` key at fault.
  Result<> validate() const;
  // The PEP 508 environment of this target.
  MarkerEnv marker_env() const;
  // Supported (python, abi, platform) tags, best first, as "py-abi-plat" strings.
  std::vector<std::string> supported_tags() const;
  // "cp314-manylinux_2_36_x86_64", for messages.
  std::string describe() const;
};

struct WheelName {
  std::string name, version;
  std::vector<std::string> tags;          // expanded "py-abi-plat" triples
  static Result<WheelName> parse(std::string_view filename);
};

// Ranks wheel files for one target: lower is better; nullopt when not installable.
class TagRanker {
public:
  explicit TagRanker(const Target& target);
  std::optional<std::size_t> rank(const WheelName& wheel) const;

private:
  std::map<std::string, std::size_t, std::less<>> m_rank;
};

} // namespace akbuild::steps::python
