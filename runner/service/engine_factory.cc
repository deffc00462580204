#include "runner/service/engine_factory.hh"

#include <cstdlib>

#include "runner/core/log.hh"
#include "runner/service/client.hh"
#include "runner/service/remote_engine.hh"

namespace akbuild::service {

Result<std::unique_ptr<engine::Engine>> open_engine(engine::EngineOptions options) {
  if (!options.kinds.empty() || options.update_pins) return engine::Engine::open(std::move(options));
  auto target = AK_TRY(executor_target_from_env());
  if (!target) return engine::Engine::open(std::move(options));
  auto channel = reachable_channel(*target, std::chrono::milliseconds(500));
  if (channel) return make_remote_engine(v1::Executor::NewStub(*channel), std::move(options));
  // Nothing at the default socket is the usual case; a daemon asked for by name, or one found
  // but not trusted, is worth a line: the steps still run, here.
  const char* named = std::getenv("AKBUILD_EXECUTOR");
  if (channel.error().code == ErrorCode::permission_denied || (named && *named))
    log_warning("{}; running steps in-process", channel.error().message);
  return engine::Engine::open(std::move(options));
}

} // namespace akbuild::service
