#pragma once
// Connect's error codes (connectrpc.com/docs/protocol#error-codes) and the JSON error body of a
// unary call, decoded into akbuild's ErrorCode and one line of text.

#include <string>
#include <string_view>

#include "runner/core/result.hh"

namespace akbuild::forgejo {

// The ErrorCode of a Connect code name ("unauthenticated"). invalid_argument and out_of_range
// from a server become failed_precondition: the server refused what it was sent, which is not a
// malformed command line here (exit 2 is kept for those). Unknown names are internal.
ErrorCode connect_code(std::string_view name);

// The error an HTTP answer other than 200 stands for: the JSON body's code and message when it
// has them, else the code Connect gives the HTTP status (502, 503, 504 and 429 unavailable, 401
// unauthenticated, 403 permission_denied, 404 unimplemented, others unknown → internal).
// `what` names the call ("FetchTask").
Error connect_error(std::string_view what, int http_status, std::string_view body);

} // namespace akbuild::forgejo
