#pragma once
// Connect protocol unary calls (connectrpc.com/docs/protocol) over HTTP/1.1, as Forgejo's
// runner API speaks them: `POST <base>/<package.Service>/<Method>` with the bare serialised
// message (`Content-Type: application/proto`, `Connect-Protocol-Version: 1`, no gRPC frame), the
// bare response message on 200, else a JSON error `{"code": "...", "message": "..."}`. Responses
// may come gzip-compressed (the client offers gzip). TLS by OpenSSL with the system's CA store.
//
// Usage:
//   ConnectClient c({.base_url = "https://forgejo.example/api/actions"});
//   auto r = AK_TRY(c.call<ping::v1::PingResponse>("ping.v1.PingService/Ping", request, {}));

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <google/protobuf/message_lite.h>

#include "runner/core/result.hh"

namespace akbuild::forgejo {

using Headers = std::vector<std::pair<std::string, std::string>>;

// How failed calls are retried: up to max_retries more attempts, the delay doubling from
// initial_delay up to max_delay (forgejo-runner's report_retry defaults).
struct RetryPolicy {
  int max_retries = 10;
  std::chrono::milliseconds initial_delay{100};
  std::chrono::milliseconds max_delay{10000};
};

struct ConnectOptions {
  std::string base_url;                    // "<instance>/api/actions"
  bool insecure = false;                   // accept any TLS certificate (only when asked)
  std::chrono::seconds timeout{60};        // per call (FORGEJO_CLIENT_TIMEOUT overrides it)
};

class ConnectClient {
public:
  explicit ConnectClient(ConnectOptions options);

  // One call of `procedure` ("runner.v1.RunnerService/FetchTask") with the body; the response
  // body, gunzipped. A Connect error becomes its code (see connect_error.hh) with
  // "<Method>: <code>: <message>"; a peer that cannot be reached is unavailable.
  Result<std::string> call_raw(std::string_view procedure, std::string_view body, const Headers& headers) const;

  // The typed call: serialises `request`, parses `Response`; corrupt when the answer does not parse.
  template <class Response>
  Result<Response> call(std::string_view procedure, const google::protobuf::MessageLite& request,
                        const Headers& headers) const {
    auto body = AK_TRY(call_raw(procedure, request.SerializeAsString(), headers));
    Response response;
    if (!response.ParseFromString(body))
      return fail(ErrorCode::corrupt, std::string(procedure) + ": the answer is not a valid message");
    return response;
  }

  const ConnectOptions& options() const { return m_options; }

private:
  ConnectOptions m_options;
};

// Whether a failed call may succeed when made again: the peer was unreachable or overloaded, or
// answered with a server-side fault (unavailable, deadline_exceeded, resource_exhausted, internal).
bool retryable(const Error& error);

// Calls `attempt` until it succeeds, fails with an error that is not retryable, or `policy`
// runs out; sleeping with backoff between attempts. `stop` (if set) ends the waiting early.
template <class T>
Result<T> with_retries(const RetryPolicy& policy, const std::function<Result<T>()>& attempt,
                       const std::function<bool()>& stop = {});

// Sleeps for `delay` unless `stop` turns true first (polled every 50 ms); whether it slept it all.
bool sleep_unless(std::chrono::milliseconds delay, const std::function<bool()>& stop);

template <class T>
Result<T> with_retries(const RetryPolicy& policy, const std::function<Result<T>()>& attempt,
                       const std::function<bool()>& stop) {
  auto delay = policy.initial_delay;
  for (int tries = 0;; ++tries) {
    auto r = attempt();
    if (r || !retryable(r.error()) || tries >= policy.max_retries) return r;
    if (!sleep_unless(delay, stop)) return r;
    delay = std::min(delay * 2, policy.max_delay);
  }
}

} // namespace akbuild::forgejo
