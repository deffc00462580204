#include "runner/service/listen_address.hh"

#include <charconv>
#include <cstdlib>

#include <unistd.h>

namespace akbuild::service {

Result<ListenAddress> ListenAddress::parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return fail(ErrorCode::invalid_argument,
                "--listen " + std::string(text) + ": " + std::string(why) + " (want unix:PATH or tcp:HOST:PORT)");
  };
  ListenAddress out;
  if (text.rfind("unix:", 0) == 0) {
    std::string_view path = text.substr(5);
    if (path.empty()) return bad("empty socket path");
    out.kind = Kind::unix_socket;
    out.path = std::filesystem::absolute(std::filesystem::path(path)).lexically_normal();
    return out;
  }
  if (text.rfind("tcp:", 0) == 0) {
    std::string_view rest = text.substr(4);
    auto colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return bad("missing host or port");
    std::string_view host = rest.substr(0, colon), port = rest.substr(colon + 1);
    int value = -1;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || ptr != port.data() + port.size() || value < 0 || value > 65535)
      return bad("port is not a number in 0..65535");
    out.kind = Kind::tcp;
    out.host = std::string(host);
    out.port = value;
    return out;
  }
  return bad("unknown scheme");
}

std::string ListenAddress::grpc_target() const {
  if (kind == Kind::unix_socket) return "unix:" + path.string();
  return host + ":" + std::to_string(port);
}

std::string ListenAddress::to_string() const {
  if (kind == Kind::unix_socket) return "unix:" + path.string();
  return "tcp:" + host + ":" + std::to_string(port);
}

std::filesystem::path default_socket_path() {
  if (const char* runtime = std::getenv("XDG_RUNTIME_DIR"); runtime && *runtime)
    return std::filesystem::path(runtime) / "akbuild" / "executor.sock";
  return std::filesystem::path("/tmp") / ("akbuild-" + std::to_string(::getuid())) / "executor.sock";
}

} // namespace akbuild::service
