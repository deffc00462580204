#include "runner/service/reapi_service.hh"

#include <fcntl.h>

#include "build/bazel/remote/execution/v2/remote_execution.grpc.pb.h"
#include "google/bytestream/bytestream.grpc.pb.h"
#include "runner/core/fs.hh"
#include "runner/remote/reapi_store.hh"
#include "runner/service/status.hh"

namespace akbuild::service {

namespace re = build::bazel::remote::execution::v2;
namespace bs = google::bytestream;
using remote::BlobRef;

namespace {

constexpr std::size_t k_read_chunk = 1u << 20;

std::optional<BlobRef> from_digest(const re::Digest& d) {
  auto digest = cas::Digest::parse(d.hash());
  if (!digest || d.hash().size() != 64 || d.size_bytes() < 0) return std::nullopt;
  return BlobRef{*digest, static_cast<std::uint64_t>(d.size_bytes())};
}

void set_digest(re::Digest* d, const BlobRef& b) {
  d->set_hash(b.digest.hex());
  d->set_size_bytes(static_cast<std::int64_t>(b.size));
}

grpc::Status bad_digest(const re::Digest& d) {
  return {grpc::StatusCode::INVALID_ARGUMENT, "malformed digest '" + d.hash() + "'"};
}

// The instance name is not checked: one cache dir serves every instance.
// "[{instance}/]blobs/{hash}/{size}" or "[{instance}/]uploads/{uuid}/blobs/{hash}/{size}[/...]".
std::optional<BlobRef> parse_resource(std::string_view name, bool upload) {
  std::vector<std::string_view> parts;
  for (std::size_t at = 0; at <= name.size();) {
    auto slash = name.find('/', at);
    if (slash == std::string_view::npos) slash = name.size();
    parts.push_back(name.substr(at, slash - at));
    at = slash + 1;
  }
  for (std::size_t i = 0; i + 2 < parts.size(); ++i) {
    if (parts[i] != "blobs" || (upload && (i < 2 || parts[i - 2] != "uploads"))) continue;
    auto digest = cas::Digest::parse(parts[i + 1]);
    std::uint64_t size = 0;
    auto sz = parts[i + 2];
    if (!digest || sz.empty() || sz.size() > 19 || sz.find_first_not_of("0123456789") != std::string_view::npos)
      return std::nullopt;
    for (char c : sz) size = size * 10 + static_cast<std::uint64_t>(c - '0');
    return BlobRef{*digest, size};
  }
  return std::nullopt;
}

class CapabilitiesService final : public re::Capabilities::Service {
public:
  grpc::Status GetCapabilities(grpc::ServerContext*, const re::GetCapabilitiesRequest*,
                               re::ServerCapabilities* caps) override {
    auto* c = caps->mutable_cache_capabilities();
    c->add_digest_function(re::DigestFunction::SHA256);
    c->mutable_action_cache_update_capabilities()->set_update_enabled(true);
    c->set_max_batch_total_size_bytes(static_cast<std::int64_t>(remote::ReapiStore::k_max_batch_bytes));
    c->set_symlink_absolute_path_strategy(re::SymlinkAbsolutePathStrategy::ALLOWED);
    for (auto* v : {caps->mutable_low_api_version(), caps->mutable_high_api_version()}) v->set_major(2);
    caps->mutable_high_api_version()->set_minor(0);
    return grpc::Status::OK;
  }
};

class ActionCacheService final : public re::ActionCache::Service {
public:
  explicit ActionCacheService(remote::ReapiStore& store) : m_store(store) {}
  grpc::Status GetActionResult(grpc::ServerContext*, const re::GetActionResultRequest* req,
                               re::ActionResult* res) override {
    auto action = from_digest(req->action_digest());
    if (!action) return bad_digest(req->action_digest());
    auto got = m_store.get_action_result(*action);
    if (!got) return to_grpc_status(got.error());
    if (!*got) return {grpc::StatusCode::NOT_FOUND, "no action result for " + action->digest.hex()};
    if (!res->ParseFromString(**got)) return {grpc::StatusCode::INTERNAL, "stored action result does not parse"};
    return grpc::Status::OK;
  }
  grpc::Status UpdateActionResult(grpc::ServerContext*, const re::UpdateActionResultRequest* req,
                                  re::ActionResult* res) override {
    auto action = from_digest(req->action_digest());
    if (!action) return bad_digest(req->action_digest());
    if (auto r = m_store.put_action_result(*action, req->action_result().SerializeAsString()); !r)
      return to_grpc_status(r.error());
    *res = req->action_result();
    return grpc::Status::OK;
  }

private:
  remote::ReapiStore& m_store;
};

class CasService final : public re::ContentAddressableStorage::Service {
public:
  explicit CasService(remote::ReapiStore& store) : m_store(store) {}
  grpc::Status FindMissingBlobs(grpc::ServerContext*, const re::FindMissingBlobsRequest* req,
                                re::FindMissingBlobsResponse* res) override {
    std::vector<BlobRef> blobs;
    for (const auto& d : req->blob_digests()) {
      auto b = from_digest(d);
      if (!b) return bad_digest(d);
      blobs.push_back(*b);
    }
    auto missing = m_store.find_missing(blobs);
    if (!missing) return to_grpc_status(missing.error());
    for (const auto& b : *missing) set_digest(res->add_missing_blob_digests(), b);
    return grpc::Status::OK;
  }
  grpc::Status BatchUpdateBlobs(grpc::ServerContext*, const re::BatchUpdateBlobsRequest* req,
                                re::BatchUpdateBlobsResponse* res) override {
    for (const auto& r : req->requests()) {
      auto* out = res->add_responses();
      *out->mutable_digest() = r.digest();
      auto b = from_digest(r.digest());
      auto stored = b ? m_store.write(*b, r.data()) : Result<>(fail(ErrorCode::invalid_argument, "malformed digest"));
      if (!stored) {
        auto s = to_grpc_status(stored.error());
        out->mutable_status()->set_code(static_cast<int>(s.error_code()));
        out->mutable_status()->set_message(s.error_message());
      }
    }
    return grpc::Status::OK;
  }
  grpc::Status BatchReadBlobs(grpc::ServerContext*, const re::BatchReadBlobsRequest* req,
                              re::BatchReadBlobsResponse* res) override {
    std::uint64_t total = 0;
    for (const auto& d : req->digests()) total += static_cast<std::uint64_t>(std::max<std::int64_t>(0, d.size_bytes()));
    if (total > remote::ReapiStore::k_max_batch_bytes)
      return {grpc::StatusCode::INVALID_ARGUMENT, "the batch is larger than max_batch_total_size_bytes"};
    for (const auto& d : req->digests()) {
      auto* out = res->add_responses();
      *out->mutable_digest() = d;
      auto b = from_digest(d);
      auto bytes = b ? m_store.read(*b) : Result<std::string>(fail(ErrorCode::invalid_argument, "malformed digest"));
      if (!bytes) {
        auto s = to_grpc_status(bytes.error());
        out->mutable_status()->set_code(static_cast<int>(s.error_code()));
        out->mutable_status()->set_message(s.error_message());
        continue;
      }
      out->set_data(std::move(*bytes));
    }
    return grpc::Status::OK;
  }
  grpc::Status GetTree(grpc::ServerContext*, const re::GetTreeRequest*,
                       grpc::ServerWriter<re::GetTreeResponse>*) override {
    return {grpc::StatusCode::UNIMPLEMENTED, "GetTree: read the Tree blobs of output directories instead"};
  }

private:
  remote::ReapiStore& m_store;
};

class ByteStreamService final : public bs::ByteStream::Service {
public:
  explicit ByteStreamService(remote::ReapiStore& store) : m_store(store) {}
  grpc::Status Read(grpc::ServerContext*, const bs::ReadRequest* req, grpc::ServerWriter<bs::ReadResponse>* writer) override {
    auto blob = parse_resource(req->resource_name(), false);
    if (!blob) return {grpc::StatusCode::INVALID_ARGUMENT, "resource name '" + req->resource_name() + "'"};
    if (req->read_offset() < 0 || static_cast<std::uint64_t>(req->read_offset()) > blob->size)
      return {grpc::StatusCode::OUT_OF_RANGE, "read_offset beyond the blob"};
    auto bytes = m_store.read(*blob);
    if (!bytes) return to_grpc_status(bytes.error());
    std::size_t end = req->read_limit() > 0
                          ? std::min<std::size_t>(bytes->size(), static_cast<std::size_t>(req->read_offset() + req->read_limit()))
                          : bytes->size();
    for (std::size_t at = static_cast<std::size_t>(req->read_offset()); at < end; at += k_read_chunk) {
      bs::ReadResponse chunk;
      chunk.set_data(bytes->substr(at, std::min(k_read_chunk, end - at)));
      if (!writer->Write(chunk)) return {grpc::StatusCode::CANCELLED, "the client went away"};
    }
    return grpc::Status::OK;
  }
  grpc::Status Write(grpc::ServerContext*, grpc::ServerReader<bs::WriteRequest>* reader, bs::WriteResponse* res) override {
    bs::WriteRequest req;
    std::optional<BlobRef> blob;
    auto tmp_dir = m_store.cache().tmp_dir();
    if (auto made = make_dirs(tmp_dir); !made) return to_grpc_status(made.error());
    auto tmp = TempDir::create("upload-", tmp_dir);
    if (!tmp) return to_grpc_status(tmp.error());
    auto fd = open_fd(tmp->path() / "blob", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (!fd) return to_grpc_status(fd.error());
    std::uint64_t written = 0;
    bool finished = false;
    while (!finished && reader->Read(&req)) {
      if (!blob) {
        blob = parse_resource(req.resource_name(), true);
        if (!blob) return {grpc::StatusCode::INVALID_ARGUMENT, "resource name '" + req.resource_name() + "'"};
      }
      if (req.write_offset() != static_cast<std::int64_t>(written))
        return {grpc::StatusCode::INVALID_ARGUMENT, "write_offset " + std::to_string(req.write_offset()) + " is not " +
                                                        std::to_string(written)};
      if (written + req.data().size() > blob->size)
        return {grpc::StatusCode::INVALID_ARGUMENT, "more data than the blob's size"};
      if (auto w = write_all(fd->get(), std::as_bytes(std::span(req.data()))); !w) return to_grpc_status(w.error());
      written += req.data().size();
      finished = req.finish_write();
    }
    if (!blob) return {grpc::StatusCode::INVALID_ARGUMENT, "an empty write"};
    if (!finished || written != blob->size)
      return {grpc::StatusCode::INVALID_ARGUMENT, "the write ended at " + std::to_string(written) + " of " +
                                                      std::to_string(blob->size) + " bytes"};
    fd->reset();
    auto dirfd = open_fd(tmp->path(), O_RDONLY | O_DIRECTORY);
    if (!dirfd) return to_grpc_status(dirfd.error());
    if (auto stored = m_store.write_file(*blob, dirfd->get(), "blob"); !stored) return to_grpc_status(stored.error());
    res->set_committed_size(static_cast<std::int64_t>(written));
    return grpc::Status::OK;
  }
  grpc::Status QueryWriteStatus(grpc::ServerContext*, const bs::QueryWriteStatusRequest* req,
                                bs::QueryWriteStatusResponse* res) override {
    // Uploads are not resumable: a blob is either whole in the CAS or not there.
    auto blob = parse_resource(req->resource_name(), true);
    if (!blob) return {grpc::StatusCode::INVALID_ARGUMENT, "resource name '" + req->resource_name() + "'"};
    auto missing = m_store.find_missing({*blob});
    if (!missing) return to_grpc_status(missing.error());
    if (!missing->empty()) return {grpc::StatusCode::NOT_FOUND, "no such upload"};
    res->set_committed_size(static_cast<std::int64_t>(blob->size));
    res->set_complete(true);
    return grpc::Status::OK;
  }

private:
  remote::ReapiStore& m_store;
};

} // namespace

struct ReapiServices::Impl {
  std::unique_ptr<cas::CacheDir> cache;
  std::unique_ptr<remote::ReapiStore> store;
  CapabilitiesService capabilities;
  std::unique_ptr<ActionCacheService> action_cache;
  std::unique_ptr<CasService> cas;
  std::unique_ptr<ByteStreamService> bytestream;
};

Result<std::unique_ptr<ReapiServices>> ReapiServices::open(const std::filesystem::path& cache_dir) {
  std::unique_ptr<ReapiServices> s(new ReapiServices());
  s->m_impl = std::make_unique<Impl>();
  auto& i = *s->m_impl;
  i.cache = AK_TRY(cas::CacheDir::open(cache_dir));
  i.store = std::make_unique<remote::ReapiStore>(*i.cache);
  i.action_cache = std::make_unique<ActionCacheService>(*i.store);
  i.cas = std::make_unique<CasService>(*i.store);
  i.bytestream = std::make_unique<ByteStreamService>(*i.store);
  return s;
}

ReapiServices::~ReapiServices() = default;

std::vector<grpc::Service*> ReapiServices::services() {
  return {&m_impl->capabilities, m_impl->action_cache.get(), m_impl->cas.get(), m_impl->bytestream.get()};
}

} // namespace akbuild::service
