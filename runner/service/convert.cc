#include "runner/service/convert.hh"

#include <google/protobuf/util/time_util.h>

#include "runner/service/status.hh"

namespace akbuild::service {

namespace {

using google::protobuf::util::TimeUtil;
using Clock = std::chrono::system_clock;

struct StatePair {
  engine::StepState state;
  v1::StepState proto;
};
constexpr StatePair k_states[] = {
    {engine::StepState::planned, v1::STEP_STATE_PLANNED},
    {engine::StepState::started, v1::STEP_STATE_STARTED},
    {engine::StepState::cached, v1::STEP_STATE_CACHED},
    {engine::StepState::finished, v1::STEP_STATE_FINISHED},
    {engine::StepState::failed, v1::STEP_STATE_FAILED},
    {engine::StepState::skipped, v1::STEP_STATE_SKIPPED},
};

struct StreamPair {
  engine::LogStream stream;
  v1::LogStream proto;
};
constexpr StreamPair k_streams[] = {
    {engine::LogStream::out, v1::LOG_STREAM_STDOUT},
    {engine::LogStream::err, v1::LOG_STREAM_STDERR},
    {engine::LogStream::akbuild, v1::LOG_STREAM_AKBUILD},
};

template <class... F>
struct Overload : F... {
  using F::operator()...;
};

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
                   .timeout = std::chrono::milliseconds(step.timeout_ms()), .pin_command = step.pin_command()});
  return out;
}

void to_proto(const engine::StepRequest& step, v1::Step* out) {
  out->set_id(step.id);
  out->set_kind(step.kind);
  out->mutable_with()->insert(step.with.begin(), step.with.end());
  out->set_timeout_ms(static_cast<uint64_t>(step.timeout.count()));
  out->set_pin_command(step.pin_command);
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
  std::visit(Overload{[&](const engine::StateChange& s) {
                        auto* state = out.mutable_state();
                        state->set_step_id(s.step_id);
                        for (const auto& pair : k_states)
                          if (pair.state == s.state) state->set_state(pair.proto);
                        state->set_message(s.text);
                        state->mutable_values()->insert(s.values.begin(), s.values.end());
                      },
                      [&](const engine::LogLine& l) {
                        auto* log = out.mutable_log();
                        log->set_step_id(l.step_id);
                        for (const auto& pair : k_streams)
                          if (pair.stream == l.stream) log->set_stream(pair.proto);
                        log->set_text(l.text);
                      },
                      [&](const engine::Progress& p) {
                        auto* progress = out.mutable_progress();
                        progress->set_done(p.done);
                        progress->set_total(p.total);
                        progress->set_running(p.running);
                        progress->set_cached(p.cached);
                      }},
             event.body);
  return out;
}

std::optional<engine::Event> from_proto(const v1::ExecuteEvent& message) {
  auto time = from_timestamp(message.time());
  switch (message.event_case()) {
  case v1::ExecuteEvent::kLog: {
    // A stream this client does not know (a newer daemon's) is shown as akbuild's own line.
    engine::LogLine log{message.log().step_id(), engine::LogStream::akbuild, message.log().text()};
    for (const auto& pair : k_streams)
      if (pair.proto == message.log().stream()) log.stream = pair.stream;
    return engine::Event{std::move(log), time};
  }
  case v1::ExecuteEvent::kProgress: {
    const auto& p = message.progress();
    return engine::Event{engine::Progress{p.done(), p.total(), p.running(), p.cached()}, time};
  }
  case v1::ExecuteEvent::kState:
    for (const auto& pair : k_states)
      if (pair.proto == message.state().state())
        return engine::Event{engine::StateChange{message.state().step_id(), pair.state, message.state().message(),
                                                 {message.state().values().begin(), message.state().values().end()}},
                             time};
    return std::nullopt;
  default:
    return std::nullopt;
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
