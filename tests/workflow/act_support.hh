#pragma once
// What the `akbuild act` tests share: running act on the workspace `ws/` of a test dir.

#include <string>
#include <vector>

#include "tests/support/test_support.hh"

namespace akbuild::test {

// Whether `text` holds `part`.
inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Runs `akbuild act -C <dir>/ws args...` with the test dir's cache and HOME.
inline CommandResult act(const TestDir& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {"act", "-C", (dir / "ws").string()});
  return akbuild(dir, args);
}

} // namespace akbuild::test
