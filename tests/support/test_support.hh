#pragma once
// Helpers shared by akbuild's tests: a fresh temp dir per test (kept and printed when the test
// fails), running a command and capturing its output, and locating the built binary.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace akbuild::test {

// A fresh directory for one test. Removed when the test case passes; kept, and its path printed,
// when it fails (or when AKBUILD_TEST_KEEP=1).
class TestDir {
public:
  TestDir();
  ~TestDir();
  TestDir(const TestDir&) = delete;
  TestDir& operator=(const TestDir&) = delete;
  const std::filesystem::path& path() const { return m_path; }
  std::filesystem::path operator/(const std::filesystem::path& rel) const { return m_path / rel; }

private:
  std::filesystem::path m_path;
};

// Writes a file, creating parent directories.
void write(const std::filesystem::path& path, std::string_view content, bool executable = false);
std::string read(const std::filesystem::path& path);

struct CommandResult {
  int exit_code = -1;       // exit status, or 128+signal
  std::string out, err;
};

struct CommandOptions {
  std::filesystem::path cwd;
  std::map<std::string, std::string> env;  // added to (or replacing in) the inherited environment
  std::optional<std::string> stdin_data{};
  bool clear_env = false;
};

// Runs argv[0] (searched on PATH) and waits; never throws on a non-zero exit.
CommandResult run(const std::vector<std::string>& argv, const CommandOptions& options = {});
// Runs `bash -c script`.
CommandResult sh(const std::string& script, const CommandOptions& options = {});

// The akbuild binary under test (AKBUILD_BIN, set by meson test).
std::filesystem::path akbuild_bin();
// The source root (AKBUILD_SOURCE_ROOT, set by meson test).
std::filesystem::path source_root();
// The real-world fixtures (authentik lockfiles, schema; a nix2container closure graph).
std::optional<std::filesystem::path> fixtures_dir();

// Runs `akbuild args...` with a cache dir and HOME inside `dir`.
CommandResult akbuild(const TestDir& dir, const std::vector<std::string>& args, CommandOptions options = {});

// Whether a program is on PATH.
bool have_program(const std::string& name);

// Marks the running test case skipped, saying why; the caller returns right after
// (`if (!have_program("skopeo")) return test::skip("skopeo is not installed");`). Each binary
// ends with a "skipped test cases: N" line that scripts/test_summary.py subtracts from the
// passes. Under CI=true a skip is a failure: scripts/setup installs everything the suite needs.
void skip(const std::string& why);

} // namespace akbuild::test
