#pragma once
// plugin.v1alpha.BackendPlugin: forgejo-runner's backend plugin protocol, served beside the
// Executor. Thin adapters from the protos onto runner/plugin's job environments; every call
// that may wait (for an environment's lock, a command, a tar stream) runs on its own thread, so
// gRPC's callback threads never block. Cancelling a Start or Exec stream kills what it runs.

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

#include "plugin/v1alpha/plugin.grpc.pb.h"
#include "runner/plugin/environments.hh"

namespace akbuild::service {

class PluginService final : public ::plugin::v1alpha::BackendPlugin::CallbackService {
public:
  explicit PluginService(std::unique_ptr<akbuild::plugin::Environments> environments);
  ~PluginService() override;

  // Refuses new calls from now on (UNAVAILABLE).
  void stop_accepting();
  // Waits until no call's thread runs.
  void wait_idle();

  grpc::ServerUnaryReactor* Capabilities(grpc::CallbackServerContext* ctx,
                                         const ::plugin::v1alpha::CapabilitiesRequest* request,
                                         ::plugin::v1alpha::CapabilitiesResponse* response) override;
  grpc::ServerUnaryReactor* Create(grpc::CallbackServerContext* ctx, const ::plugin::v1alpha::CreateRequest* request,
                                   ::plugin::v1alpha::CreateResponse* response) override;
  grpc::ServerWriteReactor<::plugin::v1alpha::StartOutput>* Start(
      grpc::CallbackServerContext* ctx, const ::plugin::v1alpha::StartRequest* request) override;
  grpc::ServerWriteReactor<::plugin::v1alpha::ExecOutput>* Exec(grpc::CallbackServerContext* ctx,
                                                                 const ::plugin::v1alpha::ExecRequest* request) override;
  grpc::ServerReadReactor<::plugin::v1alpha::CopyInChunk>* CopyIn(
      grpc::CallbackServerContext* ctx, ::plugin::v1alpha::CopyInResponse* response) override;
  grpc::ServerWriteReactor<::plugin::v1alpha::CopyOutChunk>* CopyOut(
      grpc::CallbackServerContext* ctx, const ::plugin::v1alpha::CopyOutRequest* request) override;
  grpc::ServerUnaryReactor* Remove(grpc::CallbackServerContext* ctx, const ::plugin::v1alpha::RemoveRequest* request,
                                   ::plugin::v1alpha::RemoveResponse* response) override;

private:
  // Runs `work` on a thread counted by wait_idle(); false (and nothing run) when not accepting.
  // Should `work` throw, `finish` ends its call with the status given.
  bool spawn(std::function<void()> work, std::function<void(grpc::Status)> finish);

  std::unique_ptr<akbuild::plugin::Environments> m_environments;
  std::mutex m_mutex;
  std::condition_variable m_idle;
  unsigned m_active = 0;
  bool m_accepting = true;
};

} // namespace akbuild::service
