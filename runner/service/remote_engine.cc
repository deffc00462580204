#include "runner/service/remote_engine.hh"

#include "runner/service/client.hh"

namespace akbuild::service {

namespace {

class RemoteEngine final : public engine::Engine {
public:
  RemoteEngine(std::unique_ptr<v1::Executor::StubInterface> stub, engine::EngineOptions options)
      : m_stub(std::move(stub)), m_options(std::move(options)) {
    m_options.workspace = std::filesystem::absolute(m_options.workspace).lexically_normal();
  }

  const engine::EngineOptions& options() const override { return m_options; }

  Result<std::vector<engine::PlannedStep>> plan(const std::vector<engine::StepRequest>& steps) override {
    return plan_via_daemon(*m_stub, request(steps));
  }

  Result<std::vector<engine::StepResult>> run(const std::vector<engine::StepRequest>& steps,
                                              engine::EventSink& events, const exec::CancelToken* cancel) override {
    return execute_via_daemon(*m_stub, request(steps), events, cancel);
  }

private:
  DaemonRequest request(const std::vector<engine::StepRequest>& steps) const {
    return {.workspace = m_options.workspace, .steps = steps, .jobs = m_options.jobs, .sandbox = m_options.sandbox,
            .explain = m_options.explain};
  }

  std::unique_ptr<v1::Executor::StubInterface> m_stub;
  engine::EngineOptions m_options;
};

} // namespace

std::unique_ptr<engine::Engine> make_remote_engine(std::unique_ptr<v1::Executor::StubInterface> stub,
                                                   engine::EngineOptions options) {
  return std::make_unique<RemoteEngine>(std::move(stub), std::move(options));
}

} // namespace akbuild::service
