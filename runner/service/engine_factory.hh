#pragma once
// The one place that picks where steps run: the executor daemon when one answers
// (AKBUILD_EXECUTOR, else the default socket; client.hh), else this process. `akbuild step`,
// `akbuild act` and the runner loop take their engine from here, so the layers under the
// service (runner/workflow) never see gRPC.
//
// Usage:
//   auto engine = AK_TRY(service::open_engine(options));
//   auto results = AK_TRY(engine->run(steps, sink));

#include <memory>

#include "runner/engine/engine.hh"

namespace akbuild::service {

// The daemon's engine when it answers; else Engine::open(options). In-process without asking
// when AKBUILD_EXECUTOR=none, or when the options hold what a daemon cannot take (own step kinds,
// pin updates). A daemon that AKBUILD_EXECUTOR names but that does not answer, or a socket not to
// be trusted, is one warning line, then in-process. A malformed AKBUILD_EXECUTOR is
// invalid_argument.
Result<std::unique_ptr<engine::Engine>> open_engine(engine::EngineOptions options);

} // namespace akbuild::service
