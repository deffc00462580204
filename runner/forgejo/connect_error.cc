#include "runner/forgejo/connect_error.hh"

#include <nlohmann/json.hpp>

namespace akbuild::forgejo {

ErrorCode connect_code(std::string_view name) {
  struct Entry {
    std::string_view name;
    ErrorCode code;
  };
  static constexpr Entry k_table[] = {
      {"canceled", ErrorCode::cancelled},
      {"unknown", ErrorCode::internal},
      {"invalid_argument", ErrorCode::failed_precondition},
      {"deadline_exceeded", ErrorCode::deadline_exceeded},
      {"not_found", ErrorCode::not_found},
      {"already_exists", ErrorCode::already_exists},
      {"permission_denied", ErrorCode::permission_denied},
      {"resource_exhausted", ErrorCode::resource_exhausted},
      {"failed_precondition", ErrorCode::failed_precondition},
      {"aborted", ErrorCode::failed_precondition},
      {"out_of_range", ErrorCode::failed_precondition},
      {"unimplemented", ErrorCode::unimplemented},
      {"internal", ErrorCode::internal},
      {"unavailable", ErrorCode::unavailable},
      {"data_loss", ErrorCode::corrupt},
      {"unauthenticated", ErrorCode::unauthenticated},
  };
  for (const auto& e : k_table)
    if (e.name == name) return e.code;
  return ErrorCode::internal;
}

namespace {

std::string_view code_for_status(int status) {
  switch (status) {
  case 400: return "internal";
  case 401: return "unauthenticated";
  case 403: return "permission_denied";
  case 404: return "unimplemented";
  case 429:
  case 502:
  case 503:
  case 504: return "unavailable";
  default: return "unknown";
  }
}

// The first line of `text`, at most 200 bytes: an HTML error page must not flood the log.
std::string first_line(std::string_view text) {
  auto line = text.substr(0, text.find_first_of("\r\n"));
  return std::string(line.substr(0, 200));
}

} // namespace

Error connect_error(std::string_view what, int http_status, std::string_view body) {
  std::string code(code_for_status(http_status)), message;
  auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_object() && json.contains("code") && json["code"].is_string()) {
    code = json["code"].get<std::string>();
    if (json.contains("message") && json["message"].is_string()) message = first_line(json["message"].get<std::string>());
  } else {
    message = "HTTP " + std::to_string(http_status) + (body.empty() ? "" : ": " + first_line(body));
  }
  return Error{connect_code(code), std::string(what) + ": " + code + (message.empty() ? "" : ": " + message)};
}

} // namespace akbuild::forgejo
