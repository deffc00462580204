// Secrets in `akbuild step` manifests (runner/engine/secret_lines.hh): values named by
// AKBUILD_MASK never reach the cache dir or the output, and are keyed by the cache's HMAC key.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include "runner/core/encoding.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

// The files under `dir` whose bytes hold `needle` as it is or base64-encoded.
std::vector<std::string> files_holding(const fs::path& dir, const std::string& needle) {
  std::vector<std::string> out;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    if (!it->is_regular_file()) continue;
    auto bytes = test::read(it->path());
    if (contains(bytes, needle) || contains(bytes, to_base64(as_bytes(needle))))
      out.push_back(it->path().string());
  }
  return out;
}

struct SecretStep {
  test::TestDir dir;
  fs::path ws = dir / "ws";
  SecretStep() { fs::create_directories(ws); }

  test::CommandResult step(const std::string& token, const std::string& mask, std::vector<std::string> extra = {},
                           const std::string& cache = "cache") {
    std::vector<std::string> argv{"step", "exec", "--id", "s", "--sandbox", "off", "-C", ws.string(),
                                  "--with", "outputs=out/", "--with", "env=TOKEN=" + token, "--with",
                                  "run=mkdir -p out; echo \"token is $TOKEN\"; printf %s \"$TOKEN\" | wc -c > out/n"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    test::CommandOptions o;
    o.env["AKBUILD_CACHE_DIR"] = (dir / cache).string();
    if (!mask.empty()) o.env["AKBUILD_MASK"] = mask;
    return test::akbuild(dir, argv, o);
  }
  // The action key `akbuild step -n --json` reports for a step with this env.
  std::string key(const std::string& env, const std::string& mask, const std::string& cache) {
    test::CommandOptions o;
    o.env["AKBUILD_CACHE_DIR"] = (dir / cache).string();
    if (!mask.empty()) o.env["AKBUILD_MASK"] = mask;
    auto r = test::akbuild(dir, {"step", "exec", "--id", "k", "-n", "--json", "-C", ws.string(), "--with",
                                 "outputs=out/", "--with", "env=" + env, "--with", "run=mkdir out"},
                           o);
    INFO(r.out, r.err);
    REQUIRE(r.exit_code == 0);
    return nlohmann::json::parse(r.out).value("key", "");
  }
};

} // namespace

TEST_CASE("a secret in a step's env is in neither the cache dir nor --explain, before or after a rotation") {
  SecretStep s;
  const std::string old_secret = "old-Secret-4711", new_secret = "new-Secret-0815";
  auto first = s.step(old_secret, old_secret);
  INFO(first.out, first.err);
  REQUIRE(first.exit_code == 0);
  CHECK(contains(first.out, "token is ***"));
  CHECK(test::read(s.ws / "out" / "n").find("15") != std::string::npos);

  auto rotated = s.step(new_secret, new_secret, {"--explain"});
  INFO(rotated.out, rotated.err);
  REQUIRE(rotated.exit_code == 0);
  CHECK(contains(rotated.out, "[s] miss: param env: (secret) "));
  CHECK(contains(rotated.out, "[s] miss: env TOKEN: (secret) "));
  for (const auto& secret : {old_secret, new_secret}) {
    CAPTURE(secret);
    CHECK_FALSE(contains(rotated.out + rotated.err + first.out + first.err, secret));
    CHECK(files_holding(s.dir / "cache", secret).empty());
  }
  // The same secret again is a hit: equal secrets key equally on this cache.
  auto again = s.step(new_secret, new_secret);
  CHECK(contains(again.out, "[s] hit"));

  struct stat st {};
  REQUIRE(::stat((s.dir / "cache" / "hmac-key").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(st.st_size == 32);
}

TEST_CASE("the action key depends on the cache's HMAC key only when a secret is in the manifest") {
  SecretStep s;
  // No secret: the same key in two caches (and so on any machine).
  CHECK(s.key("A=plain-value", "", "cache-1") == s.key("A=plain-value", "", "cache-2"));
  CHECK_FALSE(fs::exists(s.dir / "cache-1" / "hmac-key"));
  // A secret: each cache keys it with its own random key, the same each time.
  auto one = s.key("A=secret-value", "secret-value", "cache-1");
  auto two = s.key("A=secret-value", "secret-value", "cache-2");
  CHECK(one != two);
  CHECK(one == s.key("A=secret-value", "secret-value", "cache-1"));
  // A key file copied (mode 0600) shares secret-keyed results between caches.
  fs::create_directories(s.dir / "cache-3");
  fs::copy_file(s.dir / "cache-1" / "hmac-key", s.dir / "cache-3" / "hmac-key");
  CHECK(s.key("A=secret-value", "secret-value", "cache-3") == one);
}

TEST_CASE("a cache HMAC key file that others may read is refused, naming the file and its mode") {
  SecretStep s;
  REQUIRE(s.step("value-one-1", "value-one-1").exit_code == 0);
  fs::permissions(s.dir / "cache" / "hmac-key", fs::perms(0644));
  auto r = s.step("value-two-2", "value-two-2");
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(contains(r.out + r.err, "hmac-key: mode 0644 lets others read or write it (need 0600)"), (r.out + r.err));
}

TEST_CASE("a step's ::add-mask:: masks the value in its log, as printed and as stored") {
  SecretStep s;
  auto r = test::akbuild(s.dir, {"step", "exec", "--id", "m", "--sandbox", "off", "-C", s.ws.string(), "--with",
                                 "outputs=o/", "--with",
                                 "run=v=runtime-$((70+7))-val; echo \"::add-mask::$v\"; echo \"got $v\"; "
                                 "mkdir -p o; touch o/x"});
  INFO(r.out, r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(contains(r.out, "[m] got ***"));
  CHECK_FALSE(contains(r.out + r.err, "runtime-77-val"));
  CHECK(files_holding(s.dir / "cache", "runtime-77-val").empty());
}
