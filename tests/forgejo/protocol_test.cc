// The wire format of the runner protocol: the reference's test vectors (protoc --encode of the
// runner.v1 and ping.v1 definitions), byte for byte; Connect errors decoded into one line.

#include <doctest/doctest.h>

#include "runner/core/encoding.hh"
#include "runner/forgejo/connect_error.hh"
#include "runner/forgejo/runner_client.hh"

namespace akbuild::forgejo {

namespace {

std::string hex_of(const google::protobuf::MessageLite& m) {
  std::string bytes = m.SerializeAsString();
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

} // namespace

TEST_CASE("runner.v1 messages encode as the reference's test vectors") {
  SUBCASE("FetchTaskRequest{tasks_version:5} is 0805") {
    runner::v1::FetchTaskRequest r;
    r.set_tasks_version(5);
    CHECK(hex_of(r) == "0805");
  }
  SUBCASE("FetchTaskRequest{tasks_version:0} is an empty body") {
    runner::v1::FetchTaskRequest r;
    CHECK(hex_of(r).empty());
  }
  SUBCASE("PingRequest{data:\"r1\"} is 0a027231") {
    ping::v1::PingRequest r;
    r.set_data("r1");
    CHECK(hex_of(r) == "0a027231");
  }
  SUBCASE("UpdateLogRequest with one row and no_more") {
    runner::v1::UpdateLogRequest r;
    r.set_task_id(42);
    r.set_index(0);
    auto* row = r.add_rows();
    row->mutable_time()->set_seconds(1);
    row->set_content("hi");
    r.set_no_more(true);
    CHECK(hex_of(r) == "082a1a080a020801120268692001");
  }
}

TEST_CASE("runner.v1 field numbers are those of the reference") {
  const auto* task = runner::v1::Task::descriptor();
  CHECK(task->FindFieldByName("workflow_payload")->number() == 2);
  CHECK(task->FindFieldByName("workflow_payload")->has_presence());
  CHECK(task->FindFieldByName("context")->number() == 3);
  CHECK(task->FindFieldByName("needs")->number() == 6);
  CHECK(task->FindFieldByName("vars")->number() == 7);
  const auto* step = runner::v1::StepState::descriptor();
  CHECK(step->FindFieldByName("log_index")->number() == 5);
  CHECK(step->FindFieldByName("log_length")->number() == 6);
  CHECK(runner::v1::RegisterRequest::descriptor()->FindFieldByName("labels")->number() == 6);
  CHECK(runner::v1::Runner::descriptor()->FindFieldByName("labels")->number() == 9);
  CHECK(runner::v1::UpdateTaskResponse::descriptor()->FindFieldByName("sent_outputs")->number() == 2);
  CHECK(runner::v1::RESULT_SKIPPED == 4);
}

TEST_CASE("A Connect error body becomes one line with its code") {
  SUBCASE("the JSON error of an unknown runner") {
    auto e = connect_error("FetchTask", 401, R"({"code":"unauthenticated","message":"unregistered runner"})");
    CHECK(e.code == ErrorCode::unauthenticated);
    CHECK(e.message == "FetchTask: unauthenticated: unregistered runner");
  }
  SUBCASE("the code wins over the HTTP status, and a server's invalid_argument is not a usage error") {
    auto e = connect_error("Register", 200, R"({"code":"invalid_argument","message":"token not found\nmore"})");
    CHECK(e.code == ErrorCode::failed_precondition);
    CHECK(e.message == "Register: invalid_argument: token not found");
  }
  SUBCASE("a proxy's 503 page without JSON is unavailable, its first line kept") {
    auto e = connect_error("UpdateLog", 503, "<html>Service Unavailable</html>\n<body>");
    CHECK(e.code == ErrorCode::unavailable);
    CHECK(e.message == "UpdateLog: unavailable: HTTP 503: <html>Service Unavailable</html>");
    CHECK(retryable(e));
  }
  SUBCASE("an unknown code is internal, and retried") {
    auto e = connect_error("UpdateTask", 500, R"({"code":"weird"})");
    CHECK(e.code == ErrorCode::internal);
    CHECK(retryable(e));
    CHECK_FALSE(retryable(connect_error("Declare", 404, R"({"code":"unimplemented"})")));
  }
}

TEST_CASE("with_retries stops at success, at an error not worth retrying, or after max_retries") {
  RetryPolicy fast{.max_retries = 3, .initial_delay = std::chrono::milliseconds(1), .max_delay = std::chrono::milliseconds(2)};
  int calls = 0;
  auto flaky = [&]() -> Result<int> {
    if (++calls < 3) return fail(ErrorCode::unavailable, "down");
    return calls;
  };
  CHECK(with_retries<int>(fast, flaky).value() == 3);
  calls = 0;
  auto refused = [&]() -> Result<int> {
    ++calls;
    return fail(ErrorCode::unauthenticated, "no");
  };
  CHECK_FALSE(with_retries<int>(fast, refused));
  CHECK(calls == 1);
  calls = 0;
  auto down = [&]() -> Result<int> {
    ++calls;
    return fail(ErrorCode::unavailable, "down");
  };
  CHECK_FALSE(with_retries<int>(fast, down));
  CHECK(calls == 4);
}

} // namespace akbuild::forgejo
