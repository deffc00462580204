#include "runner/service/convert.hh"

#include <google/protobuf/util/time_util.h>

#include "runner/service/status.hh"

namespace akbuild::service {

namespace {

using google::protobuf::util::TimeUtil;
using Clock = std::chrono::system_clock;

struct StatePair {
  engine::Event::Type type;
  v1::StepState state;
};
constexpr StatePair k_states[] = {
    {engine::Event::Type::planned, v1::STEP_STATE_PLANNED},
    {engine::Event::Type::started, v1::STEP_STATE_STARTED},
    {engine::Event::Type::cached, v1::STEP_STATE_CACHED},
    {engine::Event::Type::finished, v1::STEP_STATE_FINISHED},
    {engine::Event::Type::failed, v1::STEP_STATE_FAILED},
    {engine::Event::Type::skipped, v1::STEP_STATE_SKIPPED},
};

v1::LogStream to_log_stream(const std::string& stream) {
  if (stream == "stdout") return v1::LOG_STREAM_STDOUT;
  if (stream == "stderr") return v1::LOG_STREAM_STDERR;
  if (stream == "akbuild") return v1::LOG_STREAM_AKBUILD;
  return v1::LOG_STREAM_UNSPECIFIED;
}

std::string from_log_stream(v1::LogStream stream) {
  switch (stream) {
  case v1::LOG_STREAM_STDOUT: return "stdout";
  case v1::LOG_STREAM_STDERR: return "stderr";
  case v1::LOG_STREAM_AKBUILD: return "akbuild";
  default: return "";
  }
}

google::protobuf::Timestamp to_timestamp(Clock::time_point time) {
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count();
  return TimeUtil::MicrosecondsToTimestamp(micros);
}

Clock::time_point from_timestamp(const google::protobuf::Timestamp& ts) {
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(
      std::chrono::microseconds(TimeUtil::TimestampToMicroseconds(ts))));
}

} // namespace

std::vector<engine::StepRequest> to_requests(const google::protobuf::RepeatedPtrField<v1::Step>& steps) {
  std::vector<engine::StepRequest> out;
  out.reserve(steps.size());
  for (const auto& step : steps)
    out.push_back({.id = step.id(), .kind = step.kind(), .with = {step.with().begin(), step.with().end()},
                   .timeout = std::chrono::milliseconds(step.timeout_ms())});
  return out;
}

void to_proto(const engine::StepRequest& step, v1::Step* out) {
  out->set_id(step.id);
  out->set_kind(step.kind);
  out->mutable_with()->insert(step.with.begin(), step.with.end());
  out->set_timeout_ms(static_cast<uint64_t>(step.timeout.count()));
}

exec::SandboxMode to_sandbox_mode(v1::SandboxMode mode) {
  switch (mode) {
  case v1::SANDBOX_MODE_REQUIRE: return exec::SandboxMode::require;
  case v1::SANDBOX_MODE_OFF: return exec::SandboxMode::off;
  default: return exec::SandboxMode::automatic;
  }
}

v1::SandboxMode to_proto(exec::SandboxMode mode) {
  switch (mode) {
  case exec::SandboxMode::require: return v1::SANDBOX_MODE_REQUIRE;
  case exec::SandboxMode::off: return v1::SANDBOX_MODE_OFF;
  default: return v1::SANDBOX_MODE_AUTOMATIC;
  }
}

void to_proto(const engine::PlannedStep& step, v1::PlannedStep* out) {
  out->set_id(step.id);
  out->set_kind(step.kind);
  out->set_key(step.key);
  out->set_hit(step.hit);
  out->set_manifest(step.manifest);
  for (const auto& line : step.explain) out->add_explain(line);
}

engine::PlannedStep from_proto(const v1::PlannedStep& step) {
  return {.id = step.id(), .kind = step.kind(), .key = step.key(), .hit = step.hit(),
          .manifest = step.manifest(), .explain = {step.explain().begin(), step.explain().end()}};
}

void to_proto(const engine::StepResult& result, v1::StepResult* out) {
  out->set_id(result.id);
  out->set_kind(result.kind);
  out->set_key(result.key);
  out->set_success(result.success);
  out->set_cache_hit(result.cache_hit);
  out->set_skipped(result.skipped);
  out->mutable_outputs()->insert(result.outputs.begin(), result.outputs.end());
  for (const auto& line : result.explain) out->add_explain(line);
  if (result.error) {
    out->mutable_error()->set_code(std::string(to_string(result.error->code)));
    out->mutable_error()->set_message(result.error->message);
  }
  out->set_duration_ms(static_cast<uint64_t>(result.duration.count()));
}

engine::StepResult from_proto(const v1::StepResult& result) {
  engine::StepResult out{.id = result.id(), .kind = result.kind(), .key = result.key(),
                         .success = result.success(), .cache_hit = result.cache_hit(),
                         .skipped = result.skipped(),
                         .outputs = {result.outputs().begin(), result.outputs().end()},
                         .explain = {result.explain().begin(), result.explain().end()},
                         .error = std::nullopt,
                         .duration = std::chrono::milliseconds(result.duration_ms())};
  if (result.has_error())
    out.error = Error{error_code_from_name(result.error().code()).value_or(ErrorCode::internal),
                      result.error().message()};
  return out;
}

v1::ExecuteEvent to_proto(const engine::Event& event) {
  v1::ExecuteEvent out;
  *out.mutable_time() = to_timestamp(event.time);
  if (event.type == engine::Event::Type::log) {
    auto* log = out.mutable_log();
    log->set_step_id(event.step_id);
    log->set_stream(to_log_stream(event.stream));
    log->set_text(event.text);
    return out;
  }
  if (event.type == engine::Event::Type::progress) {
    auto count = [&](const char* name) -> uint32_t {
      auto it = event.values.find(name);
      return it == event.values.end() ? 0 : static_cast<uint32_t>(std::strtoul(it->second.c_str(), nullptr, 10));
    };
    out.mutable_progress()->set_done(count("done"));
    out.mutable_progress()->set_total(count("total"));
    return out;
  }
  auto* state = out.mutable_state();
  state->set_step_id(event.step_id);
  for (const auto& pair : k_states)
    if (pair.type == event.type) state->set_state(pair.state);
  state->set_message(event.text);
  state->mutable_values()->insert(event.values.begin(), event.values.end());
  return out;
}

bool from_proto(const v1::ExecuteEvent& message, engine::Event* out) {
  out->time = from_timestamp(message.time());
  switch (message.event_case()) {
  case v1::ExecuteEvent::kLog:
    out->type = engine::Event::Type::log;
    out->step_id = message.log().step_id();
    out->stream = from_log_stream(message.log().stream());
    out->text = message.log().text();
    return true;
  case v1::ExecuteEvent::kProgress:
    out->type = engine::Event::Type::progress;
    out->values = {{"done", std::to_string(message.progress().done())},
                   {"total", std::to_string(message.progress().total())}};
    return true;
  case v1::ExecuteEvent::kState:
    for (const auto& pair : k_states)
      if (pair.state == message.state().state()) {
        out->type = pair.type;
        out->step_id = message.state().step_id();
        out->text = message.state().message();
        out->values = {message.state().values().begin(), message.state().values().end()};
        return true;
      }
    return false;
  default:
    return false;
  }
}

void to_proto(const nixdrv::WatchedNarHashes::Answer& answer, v1::HashPathResponse* out) {
  auto bytes = answer.hash.bytes();
  out->set_nar_sha256(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  using Source = nixdrv::WatchedNarHashes::Source;
  out->set_source(answer.source == Source::watch        ? v1::HashPathResponse::SOURCE_WATCH
                  : answer.source == Source::stat_cache ? v1::HashPathResponse::SOURCE_STAT_CACHE
                                                        : v1::HashPathResponse::SOURCE_HASHED);
}

Result<nixdrv::WatchedNarHashes::Answer> from_proto(const v1::HashPathResponse& response) {
  const auto& raw = response.nar_sha256();
  auto hash = AK_TRY(nixdrv::Hash::from_bytes(HashAlgo::sha256, std::as_bytes(std::span(raw.data(), raw.size()))));
  using Source = nixdrv::WatchedNarHashes::Source;
  Source source = response.source() == v1::HashPathResponse::SOURCE_WATCH        ? Source::watch
                  : response.source() == v1::HashPathResponse::SOURCE_STAT_CACHE ? Source::stat_cache
                                                                                  : Source::hashed;
  return nixdrv::WatchedNarHashes::Answer{std::move(hash), source};
}

} // namespace akbuild::service
