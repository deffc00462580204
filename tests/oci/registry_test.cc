// Pushing to a real registry: Debian's docker-registry on 127.0.0.1, started per test with a
// temporary config and a free port; skopeo reads back what was pushed.

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <sstream>
#include <thread>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "oci/compress.hh"
#include "oci/http_client.hh"
#include "oci/image.hh"
#include "oci/registry.hh"
#include "runner/core/sink.hh"
#include "tests/oci/registry_support.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
using namespace akbuild::oci;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

LayerSpec layer_at(const fs::path& source, const std::string& destination) {
  LayerSpec l;
  l.source = source;
  l.tar.destination = destination;
  return l;
}


using test::Registry;
using test::Server;
using test::free_port;

ImageResult build_image(const test::TestDir& dir, const fs::path& layout) {
  ImageSpec spec;
  spec.tag = "v1";
  spec.layers.push_back(layer_at(dir / "app", "/app"));
  spec.layers.push_back(layer_at(dir / "lib", "/lib/x"));
  spec.config.entrypoint = std::vector<std::string>{"/app/run"};
  auto r = write_image_layout(spec, layout, {nullptr, 0});
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  return *r;
}

// A two-layer image of one-byte files in the layout dir/image.
void small_image(const test::TestDir& dir) {
  test::write(dir / "app" / "run", "run");
  test::write(dir / "lib" / "l", "l");
  build_image(dir, dir / "image");
}

PushReport push(const test::TestDir& dir, const fs::path& layout, const std::string& ref, PushOptions options = {}) {
  if (options.pushed_dir.empty()) options.pushed_dir = dir / "cache" / "pushed";
  auto r = push_layout(layout, "v1", *Reference::parse(ref), options);
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  return *r;
}

} // namespace

TEST_CASE("push uploads every blob once, and skopeo reads back the same manifest digest") {
  if (!test::have_program("docker-registry") || !test::have_program("skopeo")) {
    return test::skip("docker-registry or skopeo is not installed");
  }
  test::TestDir dir;
  test::write(dir / "app" / "run", "#!/bin/sh\n", true);
  test::write(dir / "lib" / "libx.so", "lib");
  auto image = build_image(dir, dir / "image");
  Registry reg(dir);
  std::string ref = reg.host() + "/ns/demo:v1";

  auto first = push(dir, dir / "image", ref);
  CHECK(first.uploaded == 3);  // two layers and the config
  CHECK(first.skipped == 0);
  CHECK(first.manifest_digest == image.manifest_digest);

  auto inspect = test::run({"skopeo", "inspect", "--tls-verify=false", "docker://" + ref});
  REQUIRE_MESSAGE(inspect.exit_code == 0, inspect.err);
  CHECK(json::parse(inspect.out)["Digest"] == image.manifest_digest);
  auto back = test::run({"skopeo", "copy", "--src-tls-verify=false", "docker://" + ref,
                         "oci:" + (dir / "back").string() + ":v1"});
  REQUIRE_MESSAGE(back.exit_code == 0, back.err);
  auto index = json::parse(test::read(dir / "back" / "index.json"));
  CHECK(index["manifests"][0]["digest"] == image.manifest_digest);

  // One registry for every step below (doctest subcases would restart it for each).
  auto again = push(dir, dir / "image", ref);
  CHECK(again.uploaded == 0);  // pushing again uploads nothing
  CHECK(again.skipped == 3);
  CHECK(again.manifest_digest == image.manifest_digest);

  // Changing one layer's content uploads that layer and the new config only.
  test::write(dir / "lib" / "libx.so", "lib v2");
  auto changed = build_image(dir, dir / "image2");
  auto second = push(dir, dir / "image2", ref);
  CHECK(second.uploaded_layers == 1);
  CHECK(second.uploaded == 2);
  CHECK(second.skipped == 1);
  CHECK(second.manifest_digest == changed.manifest_digest);

  // Another repository of the same registry mounts the blobs instead of uploading them.
  auto other = push(dir, dir / "image", reg.host() + "/other/demo:v1");
  CHECK(other.mounted == 3);
  CHECK(other.uploaded == 0);
  auto check = test::run({"skopeo", "inspect", "--tls-verify=false", "docker://" + reg.host() + "/other/demo:v1"});
  CHECK(json::parse(check.out)["Digest"] == image.manifest_digest);

  // Blobs larger than the chunk size go up in PATCH chunks.
  test::sh("head -c 300000 /dev/urandom > '" + (dir / "app" / "big").string() + "'");
  auto big = build_image(dir, dir / "image3");
  PushOptions chunked;
  chunked.chunk_size = 64 * 1024;
  auto r = push(dir, dir / "image3", reg.host() + "/ns/big:v1", chunked);
  CHECK(r.uploaded_layers == 1);
  CHECK(r.manifest_digest == big.manifest_digest);
  auto copy = test::run({"skopeo", "copy", "--src-tls-verify=false", "docker://" + reg.host() + "/ns/big:v1",
                         "dir:" + (dir / "bigcopy").string()});
  CHECK_MESSAGE(copy.exit_code == 0, copy.err);
}

TEST_CASE("a registry with htpasswd auth refuses anonymous pushes with 401 and takes basic credentials") {
  if (!test::have_program("docker-registry")) {
    return test::skip("docker-registry is not installed");
  }
  test::TestDir dir;
  small_image(dir);
  // bcrypt from libxcrypt through Python's crypt module (htpasswd is not installed); the lowest cost
  // (2^4 rounds) keeps the registry quick, since it checks the password on every request.
  auto hash = test::run({"/usr/bin/python3", "-W", "ignore", "-c",
                         "import crypt; print(crypt.crypt('s3cret-pw', crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))"});
  REQUIRE(hash.exit_code == 0);
  test::write(dir / "htpasswd", "alice:" + hash.out);
  Registry reg(dir, "auth:\n  htpasswd:\n    realm: test\n    path: " + (dir / "htpasswd").string() + "\n");
  auto ref = *Reference::parse(reg.host() + "/ns/demo:v1");

  PushOptions anonymous;
  anonymous.credentials = Credentials{"", ""};
  anonymous.credentials.reset();
  ::setenv("HOME", dir.path().c_str(), 1);  // no ~/.docker/config.json
  auto denied = push_layout(dir / "image", "v1", ref, anonymous);
  REQUIRE_FALSE(denied);
  CHECK(denied.error().code == ErrorCode::unauthenticated);
  CHECK_MESSAGE(denied.error().message.find("401") != std::string::npos, denied.error().message);

  PushOptions wrong;
  wrong.credentials = Credentials{"alice", "wrong"};
  auto rejected = push_layout(dir / "image", "v1", ref, wrong);
  REQUIRE_FALSE(rejected);
  CHECK(rejected.error().code == ErrorCode::unauthenticated);

  // From ~/.docker/config.json "auths".
  test::write(dir / ".docker" / "config.json",
              R"({"auths":{")" + reg.host() + R"(":{"auth":")" + std::string("YWxpY2U6czNjcmV0LXB3") + R"("}}})");
  auto pushed = push_layout(dir / "image", "v1", ref, {});
  REQUIRE_MESSAGE(pushed, (pushed ? "" : pushed.error().message));
  CHECK(pushed->uploaded == 3);
}

TEST_CASE("push errors name the registry and the fault") {
  test::TestDir dir;
  small_image(dir);
  PushOptions quick;
  quick.max_attempts = 2;
  quick.backoff = std::chrono::milliseconds(10);

  // An unreachable registry (a port nobody listens on).
  auto unreachable =
      push_layout(dir / "image", "v1", *Reference::parse("127.0.0.1:" + std::to_string(free_port()) + "/x:v1"), quick);
  REQUIRE_FALSE(unreachable);
  CHECK(unreachable.error().code == ErrorCode::unavailable);
  CHECK_MESSAGE(unreachable.error().message.find("unreachable") != std::string::npos, unreachable.error().message);
  // A missing image name in the layout.
  auto missing = push_layout(dir / "image", "nope", *Reference::parse("127.0.0.1:1/x:v1"), quick);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == ErrorCode::not_found);
  // 403, 404 and 503 cannot be had from docker-registry on demand: a test double (a Python
  // http.server answering every request with one status) stands in for it.
  if (!fs::exists("/usr/bin/python3")) {
    return test::skip("/usr/bin/python3 is missing");
  }
  for (int status : {403, 404, 503}) {
    CAPTURE(status);
    int port = free_port();
    test::write(dir / "responder.py",
                "import http.server, sys\n"
                "class H(http.server.BaseHTTPRequestHandler):\n"
                "    def answer(self):\n"
                "        self.send_response(int(sys.argv[2]))\n"
                "        body = b'{\"errors\":[{\"code\":\"DENIED\",\"message\":\"no\"}]}'\n"
                "        self.send_header('Content-Length', str(len(body)))\n"
                "        self.end_headers()\n"
                "        if self.command != 'HEAD': self.wfile.write(body)\n"
                "    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = answer\n"
                "    def log_message(self, *a): pass\n"
                "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n");
    Server responder(dir, "exec /usr/bin/python3 '" + (dir / "responder.py").string() + "' " + std::to_string(port) +
                              " " + std::to_string(status), "responder");
    Server::wait_for("http://127.0.0.1:" + std::to_string(port) + "/");
    auto r = push_layout(dir / "image", "v1", *Reference::parse("127.0.0.1:" + std::to_string(port) + "/x:v1"), quick);
    REQUIRE_FALSE(r);
    CHECK_MESSAGE(r.error().message.find(std::to_string(status)) != std::string::npos, r.error().message);
    CHECK(r.error().code == (status == 403 ? ErrorCode::permission_denied
                             : status == 404 ? ErrorCode::not_found : ErrorCode::unavailable));
  }
}

TEST_CASE("credentials come from the environment before ~/.docker/config.json") {
  test::TestDir dir;
  test::write(dir / "config.json", R"({"auths":{"https://index.docker.io/v1/":{"auth":"Ym9iOnB3"},"r.io":{"username":"u","password":"p"}}})");
  ::unsetenv("AKBUILD_REGISTRY_USER");
  auto hub = find_credentials("docker.io", dir / "config.json");
  REQUIRE(hub);
  CHECK(hub->username == "bob");
  CHECK(hub->password == "pw");
  CHECK(find_credentials("r.io", dir / "config.json")->username == "u");
  CHECK_FALSE(find_credentials("other.io", dir / "config.json"));
  ::setenv("AKBUILD_REGISTRY_USER", "env-user", 1);
  ::setenv("AKBUILD_REGISTRY_PASSWORD", "env-pass", 1);
  CHECK(find_credentials("r.io", dir / "config.json")->username == "env-user");
  ::unsetenv("AKBUILD_REGISTRY_USER");
  ::unsetenv("AKBUILD_REGISTRY_PASSWORD");
}

TEST_CASE("a bearer challenge is answered with a token from the realm, fetched with basic credentials") {
  if (!fs::exists("/usr/bin/python3")) {
    return test::skip("/usr/bin/python3 is missing");
  }
  test::TestDir dir;
  small_image(dir);
  // docker-registry's token auth needs a separate token server with certificates; this test
  // double plays both: /token checks basic credentials and the scope, /v2/ wants the token.
  int port = free_port();
  test::write(dir / "token_registry.py",
              "import http.server, sys, base64, json\n"
              "port = int(sys.argv[1])\n"
              "class H(http.server.BaseHTTPRequestHandler):\n"
              "    def reply(self, status, body=b'', headers={}):\n"
              "        self.send_response(status)\n"
              "        for k, v in headers.items(): self.send_header(k, v)\n"
              "        self.send_header('Content-Length', str(len(body)))\n"
              "        self.end_headers()\n"
              "        if self.command != 'HEAD': self.wfile.write(body)\n"
              "    def handle_any(self):\n"
              "        n = int(self.headers.get('Content-Length') or 0)\n"
              "        if n: self.rfile.read(n)\n"
              "        if self.path.startswith('/token'):\n"
              "            ok = self.headers.get('Authorization') == 'Basic ' + base64.b64encode(b'bob:pw').decode()\n"
              "            good = 'scope=repository%3Ans%2Fdemo%3Apull%2Cpush' in self.path and 'service=reg' in self.path\n"
              "            return self.reply(200, json.dumps({'token': 'tok-123'}).encode()) if ok and good else self.reply(401)\n"
              "        if self.headers.get('Authorization') != 'Bearer tok-123':\n"
              "            return self.reply(401, b'', {'WWW-Authenticate': 'Bearer realm=\"http://127.0.0.1:%d/token\",service=\"reg\",scope=\"repository:ns/demo:pull,push\"' % port})\n"
              "        if self.command == 'HEAD': return self.reply(200)\n"
              "        if self.command == 'PUT': return self.reply(201)\n"
              "        self.reply(404)\n"
              "    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = handle_any\n"
              "    def log_message(self, *a): pass\n"
              "http.server.HTTPServer(('127.0.0.1', port), H).serve_forever()\n");
  Server server(dir, "exec /usr/bin/python3 '" + (dir / "token_registry.py").string() + "' " + std::to_string(port),
                "token-registry");
  Server::wait_for("http://127.0.0.1:" + std::to_string(port) + "/v2/");
  auto ref = *Reference::parse("127.0.0.1:" + std::to_string(port) + "/ns/demo:v1");
  PushOptions options;
  options.credentials = Credentials{"bob", "pw"};
  auto pushed = push_layout(dir / "image", "v1", ref, options);
  REQUIRE_MESSAGE(pushed, (pushed ? "" : pushed.error().message));
  CHECK(pushed->skipped == 3);

  options.credentials = Credentials{"bob", "wrong"};
  auto denied = push_layout(dir / "image", "v1", ref, options);
  REQUIRE_FALSE(denied);
  CHECK(denied.error().code == ErrorCode::unauthenticated);
  CHECK_MESSAGE(denied.error().message.find("token") != std::string::npos, denied.error().message);

  // The daemon's own login (here from the environment) is used by default, but not for a job
  // environment's push (host_credentials off): a job must not push as the daemon.
  ::setenv("AKBUILD_REGISTRY_USER", "bob", 1);
  ::setenv("AKBUILD_REGISTRY_PASSWORD", "pw", 1);
  CHECK(push_layout(dir / "image", "v1", ref, PushOptions{}));
  PushOptions job;
  job.host_credentials = false;
  auto anonymous = push_layout(dir / "image", "v1", ref, job);
  ::unsetenv("AKBUILD_REGISTRY_USER");
  ::unsetenv("AKBUILD_REGISTRY_PASSWORD");
  REQUIRE_FALSE(anonymous);
  CHECK(anonymous.error().code == ErrorCode::unauthenticated);
}

TEST_CASE("credentials go only to the origin that challenged, not to an upload Location elsewhere") {
  if (!fs::exists("/usr/bin/python3")) {
    return test::skip("/usr/bin/python3 is missing");
  }
  test::TestDir dir;
  small_image(dir);
  // docker-registry cannot be made to name another origin in its upload Location: this test
  // double is a registry that wants basic credentials and sends uploads to a second port, which
  // records the Authorization header of every request it gets.
  int port = free_port(), other = free_port();
  fs::path seen = dir / "seen.txt";
  test::write(dir / "two_origins.py",
              "import http.server, sys, base64, threading\n"
              "port, other, seen = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]\n"
              "good = 'Basic ' + base64.b64encode(b'bob:pw').decode()\n"
              "class H(http.server.BaseHTTPRequestHandler):\n"
              "    def reply(self, status, headers={}):\n"
              "        self.send_response(status)\n"
              "        for k, v in headers.items(): self.send_header(k, v)\n"
              "        self.send_header('Content-Length', '0')\n"
              "        self.end_headers()\n"
              "    def handle_any(self):\n"
              "        n = int(self.headers.get('Content-Length') or 0)\n"
              "        if n: self.rfile.read(n)\n"
              "        if self.server.server_port == other:\n"
              "            with open(seen, 'a') as f: f.write(self.command + ' ' + str(self.headers.get('Authorization')) + '\\n')\n"
              "            return self.reply(201)\n"
              "        if self.headers.get('Authorization') != good:\n"
              "            return self.reply(401, {'WWW-Authenticate': 'Basic realm=\"r\"'})\n"
              "        if self.command == 'HEAD': return self.reply(404)\n"
              "        if self.command == 'POST': return self.reply(202, {'Location': 'http://127.0.0.1:%d/upload/1' % other})\n"
              "        if self.command == 'PUT': return self.reply(201)\n"
              "        self.reply(404)\n"
              "    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = handle_any\n"
              "    def log_message(self, *a): pass\n"
              "for p in (other, port):\n"
              "    s = http.server.ThreadingHTTPServer(('127.0.0.1', p), H)\n"
              "    threading.Thread(target=s.serve_forever).start()\n");
  Server server(dir, "exec /usr/bin/python3 '" + (dir / "two_origins.py").string() + "' " + std::to_string(port) + " " +
                         std::to_string(other) + " '" + seen.string() + "'",
                "two-origins");
  Server::wait_for("http://127.0.0.1:" + std::to_string(port) + "/v2/");
  Server::wait_for("http://127.0.0.1:" + std::to_string(other) + "/");
  fs::remove(seen);
  PushOptions options;
  options.credentials = Credentials{"bob", "pw"};
  auto pushed = push_layout(dir / "image", "v1", *Reference::parse("127.0.0.1:" + std::to_string(port) + "/x:v1"), options);
  REQUIRE_MESSAGE(pushed, (pushed ? "" : pushed.error().message));
  CHECK(pushed->uploaded == 3);
  auto log = test::read(seen);
  CHECK(log == "PUT None\nPUT None\nPUT None\n");
}

TEST_CASE("a registry port out of range is a clear usage error; a connect that gets no answer times out") {
  test::TestDir dir;
  auto bad = Reference::parse("h:99999/r");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == "image reference 'h:99999/r': port 99999 is not between 1 and 65535");
  CHECK_FALSE(Reference::parse("h:0/r"));
  auto cli = test::akbuild(dir, {"oci", "push", (dir / "image").string(), "--to", "h:99999/r"});
  CHECK(cli.exit_code == 2);
  CHECK(cli.err == "akbuild: error: image reference 'h:99999/r': port 99999 is not between 1 and 65535\n");
  CHECK_FALSE(Url::parse("http://127.0.0.1:70000/v2/"));

  // A listener whose accept queue is full drops further SYNs, so a connect gets no answer.
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(s, 0) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len);
  std::vector<int> fillers;
  for (int i = 0; i < 3; ++i) {
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    (void)::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    fillers.push_back(c);
  }
  HttpClient http(std::chrono::seconds(60), std::chrono::seconds(1));
  auto r = http.send({"GET", "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/v2/", {}, ""});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::deadline_exceeded);
  CHECK_MESSAGE(r.error().message.find("no connection within 1 s") != std::string::npos, r.error().message);
  for (int c : fillers) ::close(c);
  ::close(s);
}

TEST_CASE("oci layer --threads beyond the limit is a clear usage error, not an abort") {
  test::TestDir dir;
  test::write(dir / "src" / "a", "a");
  auto r = test::akbuild(dir, {"oci", "layer", (dir / "src").string(), "--out", (dir / "l.tar.gz").string(),
                               "--threads", "100000"});
  CHECK(r.exit_code == 2);
  CHECK_MESSAGE(r.err.find("--threads") != std::string::npos, r.err);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK_FALSE(fs::exists(dir / "l.tar.gz"));
  StringSink out;
  auto compressor = make_compressor(Compression::gzip, out, 100000);
  REQUIRE_FALSE(compressor);
  CHECK(compressor.error().code == ErrorCode::invalid_argument);
}

TEST_CASE("a chunked push sends one PATCH per chunk with contiguous Content-Ranges, as a registry that demands chunks wants") {
  // docker-registry takes any upload and cannot count requests: a test double
  // (tests/oci/counting_registry.py) logs each request and refuses bodies over 64 KiB.
  test::TestDir dir;
  test::sh("mkdir -p '" + (dir / "app").string() + "' && head -c 300000 /dev/urandom > '" + (dir / "app" / "big").string() + "'");
  test::write(dir / "lib" / "l", "l");
  auto image = build_image(dir, dir / "image");
  int port = free_port();
  fs::path log = dir / "requests.jsonl";
  Server server(dir, "exec /usr/bin/python3 '" + (test::source_root() / "tests/oci/counting_registry.py").string() +
                         "' " + std::to_string(port) + " '" + log.string() + "' 65536", "counting-registry");
  Server::wait_for("http://127.0.0.1:" + std::to_string(port) + "/v2/");
  auto ref = *Reference::parse("127.0.0.1:" + std::to_string(port) + "/ns/big:v1");

  // The whole blob in one PUT is refused (413); the push fails and says so.
  PushOptions whole;
  whole.pushed_dir = dir / "cache" / "pushed";
  whole.max_attempts = 1;
  auto refused = push_layout(dir / "image", "v1", ref, whole);
  REQUIRE_FALSE(refused);
  CHECK_MESSAGE(refused.error().message.find("413") != std::string::npos, refused.error().message);

  fs::remove(log);
  PushOptions chunked = whole;
  chunked.chunk_size = 64 * 1024;
  auto pushed = push_layout(dir / "image", "v1", ref, chunked);
  REQUIRE_MESSAGE(pushed, (pushed ? "" : pushed.error().message));
  CHECK(pushed->manifest_digest == image.manifest_digest);
  CHECK(pushed->uploaded == 3);

  std::uint64_t big = 0;  // the size of the one layer over the chunk size
  auto index = json::parse(test::read(dir / "image" / "index.json"));
  std::string hex = std::string(index["manifests"][0]["digest"]).substr(7);
  auto manifest = json::parse(test::read(dir / "image" / "blobs" / "sha256" / hex));
  for (const auto& l : manifest["layers"])
    if (l["size"].get<std::uint64_t>() > chunked.chunk_size) big = l["size"];
  REQUIRE(big > 4 * chunked.chunk_size);
  std::vector<std::string> ranges, expected;
  std::size_t patches = 0, put_bodies = 0;
  std::uint64_t patched = 0;
  std::istringstream lines(test::read(log));
  for (std::string line; std::getline(lines, line);) {
    auto r = json::parse(line);
    if (r["method"] == "PATCH") {
      ++patches;
      ranges.push_back(r["range"]);
      patched += r["length"].get<std::uint64_t>();
    }
    if (r["method"] == "PUT" && r["path"].get<std::string>().find("/uploads/") != std::string::npos &&
        r["length"].get<std::uint64_t>() > 0)
      ++put_bodies;
  }
  for (std::uint64_t at = 0; at < big; at += chunked.chunk_size)
    expected.push_back(std::to_string(at) + "-" + std::to_string(std::min(at + chunked.chunk_size, big) - 1));
  CHECK(patches == (big + chunked.chunk_size - 1) / chunked.chunk_size);
  CHECK(ranges == expected);
  CHECK(patched == big);
  CHECK(put_bodies == 2);  // the config and the small layer go up whole; the big one's PUT is empty
}

TEST_CASE("a registry that reports another manifest digest than the one pushed fails the push, naming both") {
  // A test double (tests/oci/counting_registry.py): docker-registry always reports the truth.
  test::TestDir dir;
  test::write(dir / "app" / "run", "run");
  test::write(dir / "lib" / "l", "l");
  auto image = build_image(dir, dir / "image");
  int port = free_port();
  Server server(dir, "exec /usr/bin/python3 '" + (test::source_root() / "tests/oci/counting_registry.py").string() +
                         "' " + std::to_string(port) + " '" + (dir / "requests.jsonl").string() + "' 1000000 LIE",
                "lying-registry");
  Server::wait_for("http://127.0.0.1:" + std::to_string(port) + "/v2/");
  PushOptions options;
  options.pushed_dir = dir / "cache" / "pushed";
  options.max_attempts = 1;
  auto r = push_layout(dir / "image", "v1", *Reference::parse("127.0.0.1:" + std::to_string(port) + "/ns/x:v1"), options);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::corrupt);
  CHECK_MESSAGE(r.error().message.find("expected " + image.manifest_digest) != std::string::npos, r.error().message);
}
