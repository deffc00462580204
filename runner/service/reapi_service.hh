#pragma once
// REAPI v2 cache services of `akbuild serve` over its cache dir (runner/remote/reapi_store.hh):
// Capabilities, ActionCache, ContentAddressableStorage and google.bytestream.ByteStream, on the
// executor's listener and behind its auth (peer uid on the unix socket, token on TCP), so a small
// team shares one host's cache, and Bazel can use it (--remote_cache=grpc://...).
// Thin adapters: proto -> ReapiStore call -> Status. They use gRPC's synchronous API: each call
// is a few blocking disk operations, and ByteStream's streams read simplest as loops.

#include <memory>

#include "runner/cas/cache_dir.hh"

namespace grpc {
class Service;
}

namespace akbuild::service {

class ReapiServices {
public:
  // Over the cache dir at `cache_dir` (opened here; invalid_argument when it cannot be).
  static Result<std::unique_ptr<ReapiServices>> open(const std::filesystem::path& cache_dir);
  ~ReapiServices();
  // The four services, to register with a server builder.
  std::vector<grpc::Service*> services();

private:
  ReapiServices() = default;
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

} // namespace akbuild::service
