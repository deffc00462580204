#include "runner/forgejo/runner_client.hh"

#include <cstdlib>

namespace akbuild::forgejo {

namespace {

constexpr const char* k_runner_service = "runner.v1.RunnerService/";

} // namespace

RunnerClient::RunnerClient(const std::string& instance, bool insecure, std::chrono::seconds timeout)
    : m_connect(ConnectOptions{.base_url = [&] {
                                 std::string base = instance;
                                 while (!base.empty() && base.back() == '/') base.pop_back();
                                 return base + "/api/actions";
                               }(),
                               .insecure = insecure,
                               .timeout = timeout}) {}

Headers RunnerClient::identity_headers() const {
  return {{"x-runner-uuid", m_identity.uuid}, {"x-runner-token", m_identity.token}};
}

Result<ping::v1::PingResponse> RunnerClient::ping(const ping::v1::PingRequest& request) const {
  return m_connect.call<ping::v1::PingResponse>("ping.v1.PingService/Ping", request, {});
}

Result<runner::v1::RegisterResponse> RunnerClient::register_runner(const runner::v1::RegisterRequest& request) const {
  return m_connect.call<runner::v1::RegisterResponse>(std::string(k_runner_service) + "Register", request, {});
}

Result<runner::v1::DeclareResponse> RunnerClient::declare(const runner::v1::DeclareRequest& request) const {
  return m_connect.call<runner::v1::DeclareResponse>(std::string(k_runner_service) + "Declare", request,
                                                     identity_headers());
}

Result<runner::v1::FetchTaskResponse> RunnerClient::fetch_task(const runner::v1::FetchTaskRequest& request,
                                                               const std::string& request_key) const {
  auto headers = identity_headers();
  if (!request_key.empty()) headers.emplace_back("x-runner-request-key", request_key);
  return m_connect.call<runner::v1::FetchTaskResponse>(std::string(k_runner_service) + "FetchTask", request, headers);
}

Result<runner::v1::UpdateTaskResponse> RunnerClient::update_task(const runner::v1::UpdateTaskRequest& request) const {
  return m_connect.call<runner::v1::UpdateTaskResponse>(std::string(k_runner_service) + "UpdateTask", request,
                                                        identity_headers());
}

Result<runner::v1::UpdateLogResponse> RunnerClient::update_log(const runner::v1::UpdateLogRequest& request) const {
  return m_connect.call<runner::v1::UpdateLogResponse>(std::string(k_runner_service) + "UpdateLog", request,
                                                       identity_headers());
}

std::chrono::seconds client_timeout() {
  const char* text = std::getenv("FORGEJO_CLIENT_TIMEOUT");
  if (!text || !*text) return std::chrono::seconds(60);
  char* end = nullptr;
  double value = std::strtod(text, &end);
  std::string_view unit(end);
  double scale = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : -1;
  if (!(value > 0) || scale < 0 || value * scale > 86400) return std::chrono::seconds(60);
  return std::chrono::seconds(std::max<long long>(1, static_cast<long long>(value * scale)));
}

} // namespace akbuild::forgejo
