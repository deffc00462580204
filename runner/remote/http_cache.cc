// The only translation unit of runner/remote that includes Boost (Asio, Beast).
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange under C++20

#include "runner/remote/http_cache.hh"

#include <atomic>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <fcntl.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include "oci/http_client.hh"
#include "runner/core/fs.hh"

namespace akbuild::remote {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
namespace fs = std::filesystem;
using tcp = net::ip::tcp;

namespace {

// One request of a batch and, once done, its answer.
struct Job {
  http::verb verb = http::verb::get;
  std::string target;
  std::string body;   // PUT from memory; GET into memory
  fs::path file;      // PUT from / GET into this file when set
  int status = 0;
  std::optional<Error> error;
};

std::chrono::steady_clock::duration to_duration(std::chrono::milliseconds ms) { return ms; }

class HttpCache final : public RemoteCache {
public:
  HttpCache(RemoteOptions options, oci::Url url) : RemoteCache(std::move(options)), m_url(std::move(url)) {
    while (!m_url.target.empty() && m_url.target.back() == '/') m_url.target.pop_back();
    bool default_port = (m_url.scheme == "http" && m_url.port == "80") || (m_url.scheme == "https" && m_url.port == "443");
    std::string host = m_url.host.find(':') != std::string::npos ? "[" + m_url.host + "]" : m_url.host;
    m_host = default_port ? host : host + ":" + m_url.port;
  }

  Result<std::optional<std::string>> get_action_result(const BlobRef& action) override {
    std::vector<Job> jobs(1);
    jobs[0].target = m_url.target + "/ac/" + action.digest.hex();
    AK_TRY_VOID(run(jobs));
    if (jobs[0].status == 404) return std::optional<std::string>{};
    AK_TRY_VOID(check(jobs[0], "GET"));
    m_down += jobs[0].body.size();
    return std::optional<std::string>(std::move(jobs[0].body));
  }

  Result<> put_action_result(const BlobRef& action, const std::string& result) override {
    std::vector<Job> jobs(1);
    jobs[0].verb = http::verb::put;
    jobs[0].target = m_url.target + "/ac/" + action.digest.hex();
    jobs[0].body = result;
    AK_TRY_VOID(run(jobs));
    m_up += result.size();
    return check(jobs[0], "PUT");
  }

  Result<std::vector<BlobRef>> find_missing(const std::vector<BlobRef>& blobs) override {
    std::vector<Job> jobs(blobs.size());
    for (std::size_t i = 0; i < blobs.size(); ++i) {
      jobs[i].verb = http::verb::head;
      jobs[i].target = cas_target(blobs[i]);
    }
    AK_TRY_VOID(run(jobs));
    std::vector<BlobRef> missing;
    for (std::size_t i = 0; i < blobs.size(); ++i) {
      if (jobs[i].status == 404) missing.push_back(blobs[i]);
      else AK_TRY_VOID(check(jobs[i], "HEAD"));
    }
    return missing;
  }

  Result<std::string> read_blob(const BlobRef& blob) override {
    std::vector<Job> jobs(1);
    jobs[0].target = cas_target(blob);
    AK_TRY_VOID(run(jobs));
    AK_TRY_VOID(check(jobs[0], "GET"));
    m_down += jobs[0].body.size();
    if (BlobRef::of(jobs[0].body) != blob)
      return fail(ErrorCode::corrupt, describe(jobs[0]) + ": the blob does not match its digest");
    return std::move(jobs[0].body);
  }

  Result<> fetch(const std::vector<BlobRef>& blobs, cas::BlobStore& store, const fs::path& tmp_dir) override {
    AK_TRY_VOID(make_dirs(tmp_dir));
    auto tmp = AK_TRY(TempDir::create("fetch-", tmp_dir));
    auto dirfd = AK_TRY(open_fd(tmp.path(), O_RDONLY | O_DIRECTORY));
    std::vector<Job> jobs(blobs.size());
    for (std::size_t i = 0; i < blobs.size(); ++i) {
      jobs[i].target = cas_target(blobs[i]);
      jobs[i].file = tmp.path() / std::to_string(i);
    }
    AK_TRY_VOID(run(jobs));
    for (const auto& job : jobs) AK_TRY_VOID(check(job, "GET"));
    // Hashed as each moves into the store, on every core; a blob that is not what its name says
    // is refused (stored, if at all, under the digest it does have, where it harms nothing).
    std::atomic<std::size_t> next{0};
    std::vector<std::optional<Error>> errors(blobs.size());
    auto verify = [&] {
      for (std::size_t i; (i = next++) < blobs.size();) {
        auto got = store.move_file(dirfd.get(), std::to_string(i));
        if (!got) errors[i] = got.error();
        else if (*got != blobs[i].digest)
          errors[i] = Error{ErrorCode::corrupt, describe(jobs[i]) + ": the blob does not match its digest (got sha256 " +
                                                    got->hex() + ")"};
        else m_down += blobs[i].size;
      }
    };
    std::vector<std::thread> threads;
    for (unsigned t = 1; t < std::min<std::size_t>(std::max(1u, std::thread::hardware_concurrency()), blobs.size()); ++t)
      threads.emplace_back(verify);
    verify();
    for (auto& t : threads) t.join();
    for (auto& e : errors)
      if (e) return fail(*e);
    return ok();
  }

  Result<> upload(const std::vector<UploadBlob>& blobs) override {
    if (m_options.read_only) return fail(ErrorCode::failed_precondition, m_options.url + ": read-only");
    std::vector<Job> jobs(blobs.size());
    for (std::size_t i = 0; i < blobs.size(); ++i) {
      jobs[i].verb = http::verb::put;
      jobs[i].target = cas_target(blobs[i].ref);
      jobs[i].body = blobs[i].bytes;
      jobs[i].file = blobs[i].file;
    }
    AK_TRY_VOID(run(jobs));
    for (std::size_t i = 0; i < blobs.size(); ++i) {
      AK_TRY_VOID(check(jobs[i], "PUT"));
      m_up += blobs[i].ref.size;
    }
    return ok();
  }

  bool batched_find_missing() const override { return false; }
  std::uint64_t bytes_down() const override { return m_down; }
  std::uint64_t bytes_up() const override { return m_up; }

private:
  std::string cas_target(const BlobRef& b) const { return m_url.target + "/cas/" + b.digest.hex(); }
  std::string describe(const Job& j) const {
    return std::string(http::to_string(j.verb)) + " " + m_url.origin() + j.target;
  }

  // A transport failure, or a status that is not success, as one error naming the request.
  Result<> check(const Job& j, std::string_view) const {
    if (j.error) return fail(*j.error);
    if (j.status >= 200 && j.status < 300) return ok();
    ErrorCode code = j.status == 404                      ? ErrorCode::not_found
                     : j.status == 401                    ? ErrorCode::unauthenticated
                     : j.status == 403                    ? ErrorCode::permission_denied
                     : j.status == 413 || j.status == 507 ? ErrorCode::resource_exhausted
                                                          : ErrorCode::unavailable;
    return fail(code, describe(j) + ": HTTP " + std::to_string(j.status));
  }

  template <class Stream>
  net::awaitable<void> exchange(Stream& stream, beast::flat_buffer& buffer, Job& job) {
    auto& lowest = beast::get_lowest_layer(stream);
    auto prepare = [&](auto& req) {
      req.set(http::field::host, m_host);
      req.set(http::field::user_agent, "akbuild");
      if (!m_options.token.empty()) req.set(http::field::authorization, "Bearer " + m_options.token);
    };
    if (job.verb == http::verb::put && !job.file.empty()) {
      http::request<http::file_body> req{job.verb, job.target, 11};
      prepare(req);
      beast::error_code ec;
      req.body().open(job.file.c_str(), beast::file_mode::scan, ec);
      if (ec) throw boost::system::system_error(ec, job.file.string());
      req.prepare_payload();
      lowest.expires_after(to_duration(m_options.timeout));
      co_await http::async_write(stream, req, net::use_awaitable);
    } else {
      http::request<http::string_body> req{job.verb, job.target, 11};
      prepare(req);
      if (job.verb == http::verb::put) {
        req.body() = job.body;
        req.prepare_payload();
      }
      lowest.expires_after(to_duration(m_options.timeout));
      co_await http::async_write(stream, req, net::use_awaitable);
    }
    lowest.expires_after(to_duration(m_options.timeout));
    if (job.verb == http::verb::get && !job.file.empty()) {
      http::response_parser<http::file_body> parser;
      parser.body_limit(boost::none);
      beast::error_code ec;
      parser.get().body().open(job.file.c_str(), beast::file_mode::write, ec);
      if (ec) throw boost::system::system_error(ec, job.file.string());
      co_await http::async_read(stream, buffer, parser, net::use_awaitable);
      job.status = static_cast<int>(parser.get().result_int());
      parser.get().body().close();
    } else {
      http::response_parser<http::string_body> parser;
      parser.body_limit(std::uint64_t{1} << 30);
      if (job.verb == http::verb::head) parser.skip(true);
      co_await http::async_read(stream, buffer, parser, net::use_awaitable);
      job.status = static_cast<int>(parser.get().result_int());
      job.body = std::move(parser.get().body());
    }
  }

  // One connection taking jobs until none are left; a connection the server closed (keep-alive
  // ends) is opened again and the job retried once.
  template <class Stream, class Open>
  net::awaitable<void> worker(std::vector<Job>& jobs, std::atomic<std::size_t>& next, Open open) {
    std::optional<Stream> stream;
    beast::flat_buffer buffer;
    for (std::size_t i; (i = next++) < jobs.size();) {
      auto& job = jobs[i];
      for (int attempt = 0;; ++attempt) {
        bool fresh = !stream;
        try {
          if (!stream) {
            buffer.clear();
            co_await open(stream);
          }
          co_await exchange(*stream, buffer, job);
          break;
        } catch (const boost::system::system_error& e) {
          stream.reset();
          if (!fresh && attempt == 0) continue;  // a kept-alive connection gone stale
          job.error = transport_error(job, e.code());
          break;
        } catch (const std::exception& e) {
          stream.reset();
          job.error = Error{ErrorCode::unavailable, describe(job) + ": " + e.what()};
          break;
        }
      }
    }
  }

  Error transport_error(const Job& job, const beast::error_code& ec) const {
    if (ec == beast::error::timeout)
      return {ErrorCode::deadline_exceeded,
              describe(job) + ": no answer within " + std::to_string(m_options.timeout.count()) + " ms"};
    return {ErrorCode::unavailable, describe(job) + ": " + ec.message()};
  }

  net::awaitable<tcp::resolver::results_type> resolve() {
    auto ex = co_await net::this_coro::executor;
    tcp::resolver resolver(ex);
    co_return co_await resolver.async_resolve(m_url.host, m_url.port, net::use_awaitable);
  }

  // Runs the jobs on up to options.parallel connections at once. Only a failure to start is an
  // error here; each job's own failure is in its `error`.
  Result<> run(std::vector<Job>& jobs) {
    if (jobs.empty()) return ok();
    net::io_context ioc;
    std::atomic<std::size_t> next{0};
    std::size_t n = std::min<std::size_t>(std::max(1u, m_options.parallel), jobs.size());
    std::optional<ssl::context> tls;
    if (m_url.scheme == "https") {
      tls.emplace(ssl::context::tls_client);
      beast::error_code ec;
      if (m_options.tls_ca_pem.empty()) tls->set_default_verify_paths();
      else tls->add_certificate_authority(net::buffer(m_options.tls_ca_pem), ec);
      if (!m_options.tls_cert_pem.empty()) tls->use_certificate_chain(net::buffer(m_options.tls_cert_pem), ec);
      if (!m_options.tls_key_pem.empty())
        tls->use_private_key(net::buffer(m_options.tls_key_pem), ssl::context::pem, ec);
      if (ec) return fail(ErrorCode::invalid_argument, m_options.url + ": TLS files: " + ec.message());
      tls->set_verify_mode(ssl::verify_peer);
    }
    auto connect = [this](beast::tcp_stream& s) -> net::awaitable<void> {
      auto endpoints = co_await resolve();
      s.expires_after(to_duration(m_options.connect_timeout));
      co_await s.async_connect(endpoints, net::use_awaitable);
      s.socket().set_option(tcp::no_delay(true));
    };
    for (std::size_t w = 0; w < n; ++w) {
      if (!tls) {
        auto open = [&](std::optional<beast::tcp_stream>& s) -> net::awaitable<void> {
          s.emplace(co_await net::this_coro::executor);
          co_await connect(*s);
        };
        net::co_spawn(ioc, worker<beast::tcp_stream>(jobs, next, open), net::detached);
      } else {
        using Tls = ssl::stream<beast::tcp_stream>;
        auto open = [&](std::optional<Tls>& s) -> net::awaitable<void> {
          s.emplace(co_await net::this_coro::executor, *tls);
          co_await connect(beast::get_lowest_layer(*s));
          if (!SSL_set_tlsext_host_name(s->native_handle(), m_url.host.c_str()))
            throw std::runtime_error("TLS: cannot set the server name");
          s->set_verify_callback(ssl::host_name_verification(m_url.host));
          beast::get_lowest_layer(*s).expires_after(to_duration(m_options.timeout));
          co_await s->async_handshake(ssl::stream_base::client, net::use_awaitable);
        };
        net::co_spawn(ioc, worker<Tls>(jobs, next, open), net::detached);
      }
    }
    // Handlers on every core: parsing, and hashing a small upload's file, are not free.
    std::vector<std::thread> threads;
    for (unsigned t = 1; t < std::min<std::size_t>(std::max(1u, std::thread::hardware_concurrency()), n); ++t)
      threads.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : threads) t.join();
    return ok();
  }

  oci::Url m_url;
  std::string m_host;
  std::atomic<std::uint64_t> m_down{0}, m_up{0};
};

} // namespace

Result<std::unique_ptr<RemoteCache>> make_http_cache(RemoteOptions options) {
  auto url = oci::Url::parse(options.url);
  if (!url) return fail(ErrorCode::invalid_argument, "--remote-cache: " + url.error().message);
  if (url->target.find('?') != std::string::npos)
    return fail(ErrorCode::invalid_argument, "--remote-cache '" + options.url + "': a query is not allowed");
  return std::unique_ptr<RemoteCache>(new HttpCache(std::move(options), std::move(*url)));
}

} // namespace akbuild::remote
