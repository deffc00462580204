#include "runner/forgejo/connect_client.hh"

#include <thread>

#include <libdeflate.h>

#include "oci/http_client.hh"
#include "runner/forgejo/connect_error.hh"

namespace akbuild::forgejo {

namespace {

// A gzip body, whole. Connect compresses each message as one gzip stream; its trailer's ISIZE
// (the size mod 2^32) sizes the output. Responses above 64 MiB are refused.
Result<std::string> gunzip(std::string_view what, std::string_view body) {
  constexpr std::size_t k_limit = std::size_t{64} << 20;
  if (body.size() < 18) return fail(ErrorCode::corrupt, std::string(what) + ": gzip body is truncated");
  const auto* tail = reinterpret_cast<const unsigned char*>(body.data() + body.size() - 4);
  std::size_t size = tail[0] | (tail[1] << 8) | (tail[2] << 16) | (std::size_t{tail[3]} << 24);
  if (size > k_limit) return fail(ErrorCode::resource_exhausted, std::string(what) + ": answer above 64 MiB");
  std::unique_ptr<libdeflate_decompressor, decltype(&libdeflate_free_decompressor)> d(libdeflate_alloc_decompressor(),
                                                                                      libdeflate_free_decompressor);
  std::string out(size, '\0');
  std::size_t actual = 0;
  auto r = libdeflate_gzip_decompress(d.get(), body.data(), body.size(), out.data(), out.size(), &actual);
  if (r != LIBDEFLATE_SUCCESS || actual != size)
    return fail(ErrorCode::corrupt, std::string(what) + ": gzip body does not decompress");
  return out;
}

} // namespace

ConnectClient::ConnectClient(ConnectOptions options) : m_options(std::move(options)) {
  while (!m_options.base_url.empty() && m_options.base_url.back() == '/') m_options.base_url.pop_back();
}

Result<std::string> ConnectClient::call_raw(std::string_view procedure, std::string_view body,
                                            const Headers& headers) const {
  std::string method(procedure.substr(procedure.rfind('/') + 1));
  oci::HttpRequest request{"POST", m_options.base_url + "/" + std::string(procedure), {}, std::string(body)};
  request.headers = {{"Content-Type", "application/proto"},
                     {"Connect-Protocol-Version", "1"},
                     {"Accept-Encoding", "gzip"},
                     {"Connect-Timeout-Ms", std::to_string(m_options.timeout.count() * 1000)}};
  request.headers.insert(request.headers.end(), headers.begin(), headers.end());
  oci::HttpClient http(m_options.timeout, std::min(m_options.timeout, std::chrono::seconds(10)), !m_options.insecure);
  auto response = http.send(request);
  if (!response) return fail(response.error().code, method + ": " + response.error().message);
  std::string encoding = response->header("content-encoding");
  std::string payload = std::move(response->body);
  if (encoding == "gzip") payload = AK_TRY(gunzip(method, payload));
  else if (!encoding.empty() && encoding != "identity")
    return fail(ErrorCode::corrupt, method + ": unsupported Content-Encoding '" + encoding + "'");
  if (response->status != 200) return tl::unexpected(connect_error(method, response->status, payload));
  return payload;
}

bool retryable(const Error& error) {
  switch (error.code) {
  case ErrorCode::unavailable:
  case ErrorCode::deadline_exceeded:
  case ErrorCode::resource_exhausted:
  case ErrorCode::internal: return true;
  default: return false;
  }
}

bool sleep_unless(std::chrono::milliseconds delay, const std::function<bool()>& stop) {
  auto until = std::chrono::steady_clock::now() + delay;
  while (std::chrono::steady_clock::now() < until) {
    if (stop && stop()) return false;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(std::chrono::milliseconds(50),
                                                                              until - std::chrono::steady_clock::now()));
  }
  return !(stop && stop());
}

} // namespace akbuild::forgejo
