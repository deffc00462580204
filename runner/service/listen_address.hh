#pragma once
// Where the executor listens or is reached: `unix:PATH` or `tcp:HOST:PORT` (HOST may be
// `[v6addr]`). The default is a unix socket in the user's runtime dir.

#include <filesystem>
#include <string>
#include <string_view>

#include "runner/core/result.hh"

namespace akbuild::service {

struct ListenAddress {
  enum class Kind { unix_socket, tcp };
  Kind kind = Kind::unix_socket;
  std::filesystem::path path;   // unix: absolute socket path
  std::string host;             // tcp
  int port = 0;                 // tcp; 0 = pick one (servers only)

  // "unix:PATH" / "tcp:HOST:PORT" as the user wrote it.
  static Result<ListenAddress> parse(std::string_view text);
  // The target string gRPC understands ("unix:/abs/path", "host:port").
  std::string grpc_target() const;
  std::string to_string() const;
};

// $XDG_RUNTIME_DIR/akbuild/executor.sock, else /tmp/akbuild-$UID/executor.sock.
std::filesystem::path default_socket_path();

} // namespace akbuild::service
