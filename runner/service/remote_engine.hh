#pragma once
// An engine::Engine whose steps run in the executor daemon (`akbuild serve`): plan() is the
// Plan call, run() the Execute stream, its events delivered to the sink as the in-process
// engine's would be. The daemon uses its own cache dir; options.cache_dir is not sent.

#include <memory>

#include "akbuild/v1/executor.grpc.pb.h"
#include "runner/engine/engine.hh"

namespace akbuild::service {

// Takes the generated StubInterface, so tests can hand it a fake. options.workspace must be a
// path the daemon sees the same way (made absolute here).
std::unique_ptr<engine::Engine> make_remote_engine(std::unique_ptr<akbuild::v1::Executor::StubInterface> stub,
                                                   engine::EngineOptions options);

} // namespace akbuild::service
