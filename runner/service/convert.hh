#pragma once
// Conversions between the executor protos and the engine's domain types. No logic of their own:
// every field maps onto one field.

#include <optional>
#include <vector>

#include "akbuild/v1/executor.pb.h"
#include "nixdrv/watched_nar_hashes.hh"
#include "runner/engine/engine.hh"

namespace akbuild::service {

namespace v1 = ::akbuild::v1;

std::vector<engine::StepRequest> to_requests(const google::protobuf::RepeatedPtrField<v1::Step>& steps);
void to_proto(const engine::StepRequest& step, v1::Step* out);

exec::SandboxMode to_sandbox_mode(v1::SandboxMode mode);
v1::SandboxMode to_proto(exec::SandboxMode mode);

void to_proto(const engine::PlannedStep& step, v1::PlannedStep* out);
engine::PlannedStep from_proto(const v1::PlannedStep& step);

void to_proto(const engine::StepResult& result, v1::StepResult* out);
engine::StepResult from_proto(const v1::StepResult& result);

void to_proto(const nixdrv::WatchedNarHashes::Answer& answer, v1::HashPathResponse* out);
// invalid_argument when the digest is not 32 bytes.
Result<nixdrv::WatchedNarHashes::Answer> from_proto(const v1::HashPathResponse& response);

// An engine event as an ExecuteEvent (state, log or progress).
v1::ExecuteEvent to_proto(const engine::Event& event);
// The engine event an ExecuteEvent stands for; nullopt for accepted/result messages and states
// this client does not know.
std::optional<engine::Event> from_proto(const v1::ExecuteEvent& message);

} // namespace akbuild::service
