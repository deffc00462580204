// The REAPI client against real servers: BuildStream's CAS server (CAS, ByteStream and
// Capabilities of another implementation; it has no ActionCache), and `akbuild serve` as the
// whole cache for two builder hosts, through the akbuild binary.

#include <doctest/doctest.h>

#include <filesystem>

#include "runner/cas/cache_dir.hh"
#include "runner/remote/remote_cache.hh"
#include "tests/remote/peers.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
using remote::BlobRef;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

std::unique_ptr<remote::RemoteCache> client(const std::string& url, const std::string& token = "") {
  remote::RemoteOptions o;
  o.url = url;
  o.token = token;
  auto r = remote::open_remote_cache(o);
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  return std::move(*r);
}

std::unique_ptr<cas::CacheDir> local_cache(const fs::path& dir) {
  auto c = cas::CacheDir::open(dir);
  REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  return std::move(*c);
}

// Blobs of every path through the client: small ones that go in batches, and one larger than
// any batch (BuildStream takes at most 1 MiB, akbuild serve 4 MiB), which goes through ByteStream.
std::vector<remote::UploadBlob> sample_blobs(const fs::path& dir) {
  std::vector<remote::UploadBlob> blobs;
  for (int i = 0; i < 50; ++i) {
    std::string bytes = "small blob " + std::to_string(i) + "\n";
    blobs.push_back({BlobRef::of(bytes), bytes, {}});
  }
  std::string big(6u << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7919) >> 8);
  test::write(dir / "big.bin", big);
  blobs.push_back({BlobRef::of(big), {}, dir / "big.bin"});
  return blobs;
}

void round_trip(remote::RemoteCache& remote, const test::TestDir& dir) {
  auto blobs = sample_blobs(dir.path());
  std::vector<BlobRef> refs;
  for (const auto& b : blobs) refs.push_back(b.ref);
  auto before = remote.find_missing(refs);
  REQUIRE_MESSAGE(before, (before ? "" : before.error().message));
  CHECK(before->size() == refs.size());
  auto up = remote.upload(blobs);
  REQUIRE_MESSAGE(up, (up ? "" : up.error().message));
  auto after = remote.find_missing(refs);
  REQUIRE(after);
  CHECK(after->empty());

  auto cache = local_cache(dir / "local");
  auto down = remote.fetch(refs, cache->blobs(), cache->tmp_dir());
  REQUIRE_MESSAGE(down, (down ? "" : down.error().message));
  for (const auto& b : blobs) {
    auto got = cache->blobs().get(b.ref.digest);
    REQUIRE(got);
    CHECK(BlobRef::of(*got) == b.ref);
  }
  auto small = remote.read_blob(refs.front());
  REQUIRE(small);
  CHECK(*small == blobs.front().bytes);
  // A blob nobody stored.
  auto absent = BlobRef::of("never uploaded");
  auto missing = remote.find_missing({absent});
  REQUIRE(missing);
  CHECK(missing->size() == 1);
  CHECK(!remote.fetch({absent}, cache->blobs(), cache->tmp_dir()));
}

// A tree with a file over any batch limit (so ByteStream carries it), a symlink and a subdir.
const char* const k_script = "mkdir -p out/sub && cp src/in.txt out/a.txt && ln -s a.txt out/link && "
                             "head -c 5000000 /dev/zero | tr '\\0' y > out/sub/big && echo one > single.txt";

struct Host : test::Host {
  Host(const test::TestDir& d, const std::string& name) : test::Host(d, name, k_script) {}
};

} // namespace

TEST_CASE("REAPI client against BuildStream's CAS server: batches, ByteStream, FindMissingBlobs") {
  if (!test::BuildStreamCas::available()) return test::skip("BuildStream is not installed (python3-buildstream)");
  test::TestDir dir;
  test::BuildStreamCas bst(dir);
  auto remote = client(bst.url());
  round_trip(*remote, dir);
  // It has no action cache: a lookup is an error the engine turns into a warning, never a hit.
  auto ac = remote->get_action_result(BlobRef::of("action"));
  REQUIRE(!ac);
  CHECK(ac.error().code == ErrorCode::unimplemented);
}

TEST_CASE("REAPI client against BuildStream: a server without an action cache costs a warning, not the build") {
  if (!test::BuildStreamCas::available()) return test::skip("BuildStream is not installed (python3-buildstream)");
  test::TestDir dir;
  test::BuildStreamCas bst(dir);
  Host a(dir, "a");
  auto r = a.build({"--remote-cache", bst.url()});
  REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
  CHECK(contains(r.out, "[gen] ran"));
  CHECK_MESSAGE(contains(r.out + r.err, "warning: remote cache " + bst.url()), (r.out + r.err));
}

TEST_CASE("akbuild serve answers REAPI: the client's round trip of blobs") {
  test::TestDir dir;
  test::AkbuildServe serve(dir);
  auto remote = client(serve.url(), "s3cret-token-for-tests");
  round_trip(*remote, dir);
}

TEST_CASE("akbuild serve as the remote cache of two hosts: remote hit with an empty cache elsewhere") {
  test::TestDir dir;
  test::AkbuildServe serve(dir);
  Host a(dir, "a"), b(dir, "b");
  std::vector<std::string> remote{"--remote-cache", serve.url(), "--remote-token-file", serve.token_file.string()};
  auto first = a.build(remote);
  REQUIRE_MESSAGE(first.exit_code == 0, (first.out + first.err));
  CHECK_MESSAGE(contains(first.out, "[gen] ran"), (first.out + first.err));
  CHECK_MESSAGE(!contains(first.out + first.err, "warning"), (first.out + first.err));
  auto second = b.build(remote);
  REQUIRE_MESSAGE(second.exit_code == 0, (second.out + second.err));
  CHECK_MESSAGE(contains(second.out, "[gen] remote hit"), (second.out + second.err));
  CHECK(test::read(b.ws / "out" / "sub" / "big").size() == 5000000);
  CHECK(fs::read_symlink(b.ws / "out" / "link") == "a.txt");
}

TEST_CASE("akbuild serve refuses a client without its token; the client runs the step here") {
  test::TestDir dir;
  test::AkbuildServe serve(dir);
  Host a(dir, "a");
  test::write(dir / "wrong-token", "not-the-token\n");
  auto r = a.build({"--remote-cache", serve.url(), "--remote-token-file", (dir / "wrong-token").string()});
  REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
  CHECK(contains(r.out, "[gen] ran"));
  CHECK_MESSAGE(contains(r.out + r.err, "warning: remote cache"), (r.out + r.err));
  CHECK(!fs::exists(serve.cache / "reapi-ac"));
}

TEST_CASE("akbuild serve does not serve an action result whose blobs are gone") {
  test::TestDir dir;
  test::AkbuildServe serve(dir);
  Host a(dir, "a"), b(dir, "b");
  std::vector<std::string> remote{"--remote-cache", serve.url(), "--remote-token-file", serve.token_file.string()};
  REQUIRE(a.build(remote).exit_code == 0);
  // The server's copy of "input\n" is evicted (as gc would).
  auto input = cas::Digest::of(std::string_view("input\n")).hex();
  auto blob = serve.cache / "cas" / "sha256" / input.substr(0, 2) / input.substr(2);
  REQUIRE(fs::exists(blob));
  fs::remove(blob);
  auto r = b.build(remote);
  REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
  CHECK_MESSAGE(contains(r.out, "[gen] ran"), (r.out + r.err));
  CHECK(test::read(b.ws / "out" / "a.txt") == "input\n");
}

TEST_CASE("akbuild serve over TLS: a client that trusts its certificate (AKBUILD_REMOTE_TLS_CA) gets a remote hit") {
  if (!test::have_program("openssl")) return test::skip("openssl is not installed");
  test::TestDir dir;
  auto made = test::sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost "
                       "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout '" + (dir / "key.pem").string() +
                       "' -out '" + (dir / "cert.pem").string() + "' 2>&1");
  REQUIRE_MESSAGE(made.exit_code == 0, made.out);
  test::AkbuildServe serve(dir, "--tls-cert " + (dir / "cert.pem").string() + " --tls-key " + (dir / "key.pem").string());
  std::string url = "grpcs://127.0.0.1:" + std::to_string(serve.port);
  Host a(dir, "a"), b(dir, "b");
  test::CommandOptions trusting;
  trusting.env["AKBUILD_REMOTE_TLS_CA"] = (dir / "cert.pem").string();
  auto build = [&](Host& h, const test::CommandOptions& o) {
    return test::akbuild(dir, {"--cache-dir", h.cache.string(), "step", "exec", "--id", "gen", "-C", h.ws.string(),
                               "--sandbox", "off", "--with", "run=echo over tls > o.txt", "--with", "outputs=[\"o.txt\"]",
                               "--remote-cache", url, "--remote-token-file", serve.token_file.string()},
                         o);
  };
  // Without the root, the server's certificate is not trusted: a warning and a local run.
  auto untrusted = build(a, {});
  REQUIRE_MESSAGE(untrusted.exit_code == 0, (untrusted.out + untrusted.err));
  CHECK_MESSAGE(contains(untrusted.out + untrusted.err, "warning: remote cache " + url), (untrusted.out + untrusted.err));
  fs::remove_all(a.cache);
  auto first = build(a, trusting);
  REQUIRE_MESSAGE(first.exit_code == 0, (first.out + first.err));
  CHECK_MESSAGE(!contains(first.out + first.err, "warning"), (first.out + first.err));
  auto second = build(b, trusting);
  REQUIRE_MESSAGE(second.exit_code == 0, (second.out + second.err));
  CHECK_MESSAGE(contains(second.out, "[gen] remote hit"), (second.out + second.err));
}
