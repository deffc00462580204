#pragma once
// A real executor daemon for tests: a Server on `dir`/run/executor.sock in the test process,
// with its cache in `dir`/cache.

#include <doctest/doctest.h>

#include "runner/service/client.hh"
#include "runner/service/server.hh"
#include "tests/support/test_support.hh"

namespace akbuild::test {

// Options for a daemon on `dir`/run/executor.sock with its cache in `dir`/cache.
inline service::ServerOptions socket_options(const TestDir& dir) {
  service::ServerOptions options;
  options.listen.path = dir / "run" / "executor.sock";
  options.service.cache_dir = dir / "cache";
  return options;
}

struct Daemon {
  explicit Daemon(const TestDir& dir, uint64_t max_bytes = 1u << 20) {
    auto options = socket_options(dir);
    options.service = {.cache_dir = dir / "cache", .jobs = 4, .version = "test", .max_message_bytes = max_bytes,
                       .path_env = "/usr/bin:/bin"};
    auto started = service::Server::start(options);
    REQUIRE_MESSAGE(started.has_value(), (started ? "" : started.error().message));
    server = std::move(*started);
    target.address = server->address();
  }
  std::unique_ptr<akbuild::v1::Executor::Stub> stub() const {
    return akbuild::v1::Executor::NewStub(service::connect(target));
  }
  // AKBUILD_EXECUTOR's value naming this daemon.
  std::string env_value() const { return "unix:" + target.address.path.string(); }

  std::unique_ptr<service::Server> server;
  service::ExecutorTarget target;
};

} // namespace akbuild::test
