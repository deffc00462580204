#pragma once
// A small synchronous HTTP/1.1 client for the registry protocol (Boost.Beast over Asio, TLS by
// OpenSSL with peer and host-name verification). One connection per request; every network
// step has a timeout. Boost stays inside http_client.cc.
// Usage: HttpClient c; auto r = AK_TRY(c.send({"GET", "http://127.0.0.1:5000/v2/", {}, ""}));

#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "runner/core/result.hh"

namespace akbuild::oci {

struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // without brackets for IPv6
  std::string port;    // always set (80/443 by default)
  std::string target;  // path and query, "/" at least

  // invalid_argument if not an absolute http(s) URL with a port (if any) in 1..65535.
  static Result<Url> parse(std::string_view text);
  std::string origin() const;  // "scheme://host:port"
};

struct HttpRequest {
  std::string method;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;
  std::string reason;
  std::map<std::string, std::string> headers;  // names lower-cased; repeated ones joined by ", "
  std::string body;
  // The header's value or "".
  std::string header(const std::string& lower_name) const;
};

class HttpClient {
public:
  // `timeout` bounds each read and write; `connect_timeout` the TCP connect (a host that drops
  // SYNs should fail fast, while a slow registry may take its time to answer). `verify_peer`
  // false accepts any TLS certificate: only where a user asked for it (--insecure).
  explicit HttpClient(std::chrono::seconds timeout = std::chrono::seconds(60),
                      std::chrono::seconds connect_timeout = std::chrono::seconds(10), bool verify_peer = true)
      : m_timeout(timeout), m_connect_timeout(connect_timeout), m_verify_peer(verify_peer) {}
  // Sends the request and reads the whole response (no body for HEAD). unavailable when the host
  // cannot be resolved or reached or TLS fails, deadline_exceeded on a timeout; HTTP error
  // statuses are responses, not errors.
  Result<HttpResponse> send(const HttpRequest& request) const;

private:
  std::chrono::seconds m_timeout, m_connect_timeout;
  bool m_verify_peer;
};

} // namespace akbuild::oci
