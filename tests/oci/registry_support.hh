#pragma once
// Registries for tests: Debian's docker-registry on a free loopback port with a temporary config
// (data kept in the test dir, so a restart on the same port serves what was pushed before), and
// background test doubles started by a shell line.

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "oci/http_client.hh"
#include "tests/support/background.hh"
#include "tests/support/test_support.hh"

namespace akbuild::test {

// A background test server (BackgroundProcess) that can also wait for an HTTP URL to answer.
class Server : public BackgroundProcess {
public:
  using BackgroundProcess::BackgroundProcess;
  // Waits until `url` answers at all (any status).
  static void wait_for(const std::string& url) {
    oci::HttpClient http(std::chrono::seconds(2));
    for (int i = 0; i < 200; ++i) {
      if (http.send({"GET", url, {}, ""})) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL("server at " << url << " did not start");
  }
};

// docker-registry with filesystem storage in dir/registry-data on `port` (default: a free one);
// `extra` is more YAML.
struct Registry {
  int port;
  std::unique_ptr<Server> server;
  explicit Registry(const TestDir& dir, const std::string& extra = "", int use_port = 0)
      : port(use_port ? use_port : free_port()) {
    std::filesystem::path cfg = dir / "registry.yml";
    write(cfg, "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: " +
                   (dir / "registry-data").string() + "\nhttp:\n  addr: 127.0.0.1:" + std::to_string(port) + "\n" +
                   extra);
    server = std::make_unique<Server>(dir, "exec docker-registry serve '" + cfg.string() + "'", "registry");
    Server::wait_for("http://127.0.0.1:" + std::to_string(port) + "/v2/");
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(port); }
};

} // namespace akbuild::test
