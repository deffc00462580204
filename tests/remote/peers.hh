#pragma once
// The real remote caches the tests run: nginx's WebDAV module as an HTTP cache (Debian
// nginx-light) and BuildStream's CAS server as a REAPI CAS (Debian python3-buildstream), each on
// a free loopback port with its data in the test dir.

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/background.hh"

namespace akbuild::test {

// nginx serving dir/nginx/root read-write: GET, HEAD and PUT (create_full_put_path), as
// Bazel's HTTP cache protocol needs.
struct Nginx {
  int port = free_port();
  std::filesystem::path root;
  std::unique_ptr<BackgroundProcess> process;
  explicit Nginx(const TestDir& dir) {
    auto base = dir / "nginx";
    root = base / "root";
    std::filesystem::create_directories(root);
    std::filesystem::create_directories(base / "tmp");
    std::string b = base.string();
    write(base / "nginx.conf",
          "daemon off;\nmaster_process off;\nuser root;\npid " + b + "/nginx.pid;\nerror_log " + b +
              "/error.log;\nevents {}\nhttp {\n  access_log off;\n  client_body_temp_path " + b +
              "/tmp;\n  proxy_temp_path " + b + "/tmp;\n  fastcgi_temp_path " + b + "/tmp;\n  uwsgi_temp_path " + b +
              "/tmp;\n  scgi_temp_path " + b + "/tmp;\n  server {\n    listen 127.0.0.1:" + std::to_string(port) +
              ";\n    root " + root.string() +
              ";\n    location / { dav_methods PUT; create_full_put_path on; client_max_body_size 0; }\n  }\n}\n");
    process = std::make_unique<BackgroundProcess>(dir, "exec nginx -e " + b + "/error.log -c " + b + "/nginx.conf", "nginx");
    BackgroundProcess::wait_for_port(port);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

} // namespace akbuild::test

namespace akbuild::test {

// BuildStream 1.6's CAS server (CAS, ByteStream, Capabilities; no ActionCache) on a free port,
// its store in dir/bst, pushes allowed.
struct BuildStreamCas {
  int port = free_port();
  std::unique_ptr<BackgroundProcess> process;
  explicit BuildStreamCas(const TestDir& dir) {
    std::filesystem::create_directories(dir / "bst");
    process = std::make_unique<BackgroundProcess>(
        dir,
        "exec /usr/bin/python3 -c 'import sys;from buildstream._artifactcache.casserver import server_main;"
        "sys.argv[0]=\"bst-artifact-server\";server_main()' --port " +
            std::to_string(port) + " --enable-push " + (dir / "bst").string(),
        "bst");
    BackgroundProcess::wait_for_port(port);
  }
  std::string url() const { return "grpc://127.0.0.1:" + std::to_string(port); }
  static bool available() {
    return sh("/usr/bin/python3 -c 'import buildstream._artifactcache.casserver' 2>/dev/null").exit_code == 0;
  }
};

// `akbuild serve` on a free TCP port with a token, its cache in dir/serve-cache.
struct AkbuildServe {
  int port = free_port();
  std::filesystem::path token_file, cache;
  std::unique_ptr<BackgroundProcess> process;
  // `extra`: more options of `akbuild serve` (e.g. --tls-cert F --tls-key F).
  explicit AkbuildServe(const TestDir& dir, const std::string& extra = "")
      : token_file(dir / "token"), cache(dir / "serve-cache") {
    write(token_file, "s3cret-token-for-tests\n");
    std::filesystem::permissions(token_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    process = std::make_unique<BackgroundProcess>(
        dir,
        "AKBUILD_EXECUTOR=none XDG_RUNTIME_DIR=" + (dir / "serve-run").string() + " exec " + akbuild_bin().string() +
            " --cache-dir " + cache.string() + " serve --listen tcp:127.0.0.1:" + std::to_string(port) +
            " --token-file " + token_file.string() + " " + extra,
        "serve");
    BackgroundProcess::wait_for_port(port);
  }
  std::string url() const { return "grpc://127.0.0.1:" + std::to_string(port); }
};

// One builder host: a checkout at dir/<name>/ws (holding src/in.txt) with its own cache dir,
// building one exec step `gen` that runs `script` and declares a tree output out/ and a file
// output single.txt.
struct Host {
  const TestDir& dir;
  std::filesystem::path ws, cache;
  std::string script;
  Host(const TestDir& d, const std::string& name, std::string run)
      : dir(d), ws(d / name / "ws"), cache(d / name / "cache"), script(std::move(run)) {
    write(ws / "src" / "in.txt", "input\n");
  }
  CommandResult build(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv{"--cache-dir", cache.string(), "step", "exec", "--id", "gen", "-C", ws.string(),
                                  "--sandbox", "off", "--with", "inputs=[\"src/**\"]", "--with", "run=" + script,
                                  "--with", "outputs=[\"out/\", \"single.txt\"]"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return akbuild(dir, argv);
  }
};

} // namespace akbuild::test
