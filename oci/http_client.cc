// The only translation unit of the oci layer that includes Boost (Asio, Beast): it is slow to
// compile, so the rest of the layer sees plain types from http_client.hh.
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange under C++20

#include "oci/http_client.hh"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/ssl.h>

namespace akbuild::oci {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

Result<Url> Url::parse(std::string_view text) {
  Url url;
  auto sep = text.find("://");
  if (sep == std::string_view::npos) return fail(ErrorCode::invalid_argument, "URL '" + std::string(text) + "': no scheme");
  url.scheme = std::string(text.substr(0, sep));
  for (char& c : url.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (url.scheme != "http" && url.scheme != "https")
    return fail(ErrorCode::invalid_argument, "URL '" + std::string(text) + "': scheme must be http or https");
  std::string_view rest = text.substr(sep + 3);
  auto slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  url.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (!url.target.empty() && url.target.front() == '?') url.target = "/" + url.target;
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority = authority.substr(at + 1);
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return fail(ErrorCode::invalid_argument, "URL '" + std::string(text) + "': bad host");
    url.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':') url.port = std::string(authority.substr(close + 2));
  } else {
    auto colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) url.port = std::string(authority.substr(colon + 1));
  }
  if (url.host.empty()) return fail(ErrorCode::invalid_argument, "URL '" + std::string(text) + "': no host");
  if (url.port.empty()) url.port = url.scheme == "https" ? "443" : "80";
  bool digits = url.port.size() <= 5 && url.port.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || std::stoul(url.port) == 0 || std::stoul(url.port) > 65535)
    return fail(ErrorCode::invalid_argument, "URL '" + std::string(text) + "': port " + url.port +
                                                 " is not between 1 and 65535");
  return url;
}

std::string Url::origin() const {
  bool v6 = host.find(':') != std::string::npos;
  return scheme + "://" + (v6 ? "[" + host + "]" : host) + ":" + port;
}

std::string HttpResponse::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

namespace {

template <class Stream>
net::awaitable<void> exchange(Stream& stream, beast::tcp_stream& lowest, http::request<http::string_body>& req,
                              std::chrono::seconds timeout, HttpResponse& out) {
  lowest.expires_after(timeout);
  co_await http::async_write(stream, req, net::use_awaitable);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::uint64_t{256} << 20);
  if (req.method() == http::verb::head) parser.skip(true);
  lowest.expires_after(timeout);
  co_await http::async_read(stream, buffer, parser, net::use_awaitable);
  auto& res = parser.get();
  out.status = static_cast<int>(res.result_int());
  out.reason = std::string(res.reason());
  for (const auto& field : res) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto& slot = out.headers[name];
    slot += (slot.empty() ? "" : ", ") + std::string(field.value());
  }
  out.body = std::move(res.body());
}

net::awaitable<void> perform(const Url& url, http::request<http::string_body>& req, std::chrono::seconds timeout,
                             std::chrono::seconds connect_timeout, bool verify_peer, bool& connected,
                             HttpResponse& out) {
  auto ex = co_await net::this_coro::executor;
  tcp::resolver resolver(ex);
  beast::tcp_stream tcp_stream(ex);
  auto endpoints = co_await resolver.async_resolve(url.host, url.port, net::use_awaitable);
  tcp_stream.expires_after(connect_timeout);
  co_await tcp_stream.async_connect(endpoints, net::use_awaitable);
  connected = true;
  tcp_stream.expires_after(timeout);
  if (url.scheme == "http") {
    co_await exchange(tcp_stream, tcp_stream, req, timeout, out);
    co_return;
  }
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_default_verify_paths();
  ctx.set_verify_mode(verify_peer ? ssl::verify_peer : ssl::verify_none);
  ssl::stream<beast::tcp_stream> stream(std::move(tcp_stream), ctx);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str()))
    throw boost::system::system_error(beast::error_code(static_cast<int>(::ERR_get_error()), net::error::get_ssl_category()));
  if (verify_peer) stream.set_verify_callback(ssl::host_name_verification(url.host));
  beast::get_lowest_layer(stream).expires_after(timeout);
  co_await stream.async_handshake(ssl::stream_base::client, net::use_awaitable);
  co_await exchange(stream, beast::get_lowest_layer(stream), req, timeout, out);
}

} // namespace

Result<HttpResponse> HttpClient::send(const HttpRequest& request) const {
  auto url = AK_TRY(Url::parse(request.url));
  auto verb = http::string_to_verb(request.method);
  if (verb == http::verb::unknown) return fail(ErrorCode::invalid_argument, "HTTP method '" + request.method + "'");
  http::request<http::string_body> req{verb, url.target, 11};
  bool default_port = (url.scheme == "http" && url.port == "80") || (url.scheme == "https" && url.port == "443");
  std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  req.set(http::field::host, default_port ? host : host + ":" + url.port);
  req.set(http::field::user_agent, "akbuild");
  for (const auto& [k, v] : request.headers) req.set(k, v);
  req.body() = request.body;
  if (!request.body.empty() || verb == http::verb::put || verb == http::verb::post || verb == http::verb::patch)
    req.prepare_payload();

  net::io_context ioc;
  HttpResponse response;
  std::exception_ptr failure;
  bool connected = false;
  net::co_spawn(ioc, perform(url, req, m_timeout, m_connect_timeout, m_verify_peer, connected, response),
                [&](std::exception_ptr e) { failure = e; });
  ioc.run();
  if (!failure) return response;
  std::string where = request.method + " " + url.origin() + url.target.substr(0, url.target.find('?'));
  try {
    std::rethrow_exception(failure);
  } catch (const boost::system::system_error& e) {
    if (e.code() == beast::error::timeout && !connected)
      return fail(ErrorCode::deadline_exceeded,
                  where + ": no connection within " + std::to_string(m_connect_timeout.count()) + " s");
    if (e.code() == beast::error::timeout)
      return fail(ErrorCode::deadline_exceeded, where + ": no answer within " + std::to_string(m_timeout.count()) + " s");
    return fail(ErrorCode::unavailable, where + ": " + e.code().message());
  } catch (const std::exception& e) {
    return fail(ErrorCode::unavailable, where + ": " + e.what());
  }
}

} // namespace akbuild::oci
