#include "runner/remote/grpc_cache.hh"

#include <atomic>
#include <future>
#include <mutex>
#include <random>

#include <fcntl.h>
#include <grpcpp/grpcpp.h>

#include "build/bazel/remote/execution/v2/remote_execution.grpc.pb.h"
#include "google/bytestream/bytestream.grpc.pb.h"
#include "runner/core/fs.hh"
#include "runner/core/sink.hh"

namespace akbuild::remote {

namespace re = build::bazel::remote::execution::v2;
namespace bs = google::bytestream;
namespace fs = std::filesystem;

namespace {

// gRPC's default largest message, which a batch must stay under when the server names no limit.
constexpr std::uint64_t k_default_batch_limit = 4u << 20;
// Room a batch request needs beside the blobs' bytes (digests, framing).
constexpr std::uint64_t k_batch_overhead = 64u << 10;
constexpr std::size_t k_chunk = 1u << 20;
constexpr int k_find_missing_chunk = 10'000;

ErrorCode error_code(grpc::StatusCode code) {
  switch (code) {
  case grpc::StatusCode::NOT_FOUND: return ErrorCode::not_found;
  case grpc::StatusCode::DEADLINE_EXCEEDED: return ErrorCode::deadline_exceeded;
  case grpc::StatusCode::UNAUTHENTICATED: return ErrorCode::unauthenticated;
  case grpc::StatusCode::PERMISSION_DENIED: return ErrorCode::permission_denied;
  case grpc::StatusCode::RESOURCE_EXHAUSTED: return ErrorCode::resource_exhausted;
  case grpc::StatusCode::UNIMPLEMENTED: return ErrorCode::unimplemented;
  case grpc::StatusCode::INVALID_ARGUMENT: return ErrorCode::invalid_argument;
  case grpc::StatusCode::DATA_LOSS: return ErrorCode::corrupt;
  default: return ErrorCode::unavailable;
  }
}

void set_digest(re::Digest* d, const BlobRef& b) {
  d->set_hash(b.digest.hex());
  d->set_size_bytes(static_cast<std::int64_t>(b.size));
}

std::optional<BlobRef> from_digest(const re::Digest& d) {
  auto digest = cas::Digest::parse(d.hash());
  if (!digest || d.size_bytes() < 0) return std::nullopt;
  return BlobRef{*digest, static_cast<std::uint64_t>(d.size_bytes())};
}

std::string uuid() {
  static std::mutex m;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard lock(m);
  auto a = rng(), b = rng();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-8%03x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>(a >> 16 & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(b >> 48 & 0xfff), static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

// Runs `work(i)` for i in [0, n) on up to `parallel` threads; the first error wins.
Result<> parallel_for(std::size_t n, unsigned parallel, const std::function<Result<>(std::size_t)>& work) {
  std::atomic<std::size_t> next{0};
  std::mutex m;
  std::optional<Error> first;
  auto loop = [&] {
    for (std::size_t i; (i = next++) < n;) {
      {
        std::lock_guard lock(m);
        if (first) return;
      }
      if (auto r = work(i); !r) {
        std::lock_guard lock(m);
        if (!first) first = r.error();
      }
    }
  };
  std::vector<std::future<void>> threads;
  for (unsigned t = 1; t < std::min<std::size_t>(std::max(1u, parallel), n); ++t)
    threads.push_back(std::async(std::launch::async, loop));
  loop();
  for (auto& t : threads) t.get();
  if (first) return fail(*first);
  return ok();
}

class GrpcCache final : public RemoteCache {
public:
  GrpcCache(RemoteOptions options, std::string target, bool tls, std::string instance)
      : RemoteCache(std::move(options)), m_instance(std::move(instance)), m_target(std::move(target)) {
    std::shared_ptr<grpc::ChannelCredentials> creds;
    if (tls) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = m_options.tls_ca_pem;
      ssl.pem_cert_chain = m_options.tls_cert_pem;
      ssl.pem_private_key = m_options.tls_key_pem;
      creds = grpc::SslCredentials(ssl);
    } else {
      creds = grpc::InsecureChannelCredentials();
    }
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    m_channel = grpc::CreateCustomChannel(m_target, creds, args);
    m_ac = re::ActionCache::NewStub(m_channel);
    m_cas = re::ContentAddressableStorage::NewStub(m_channel);
    m_caps = re::Capabilities::NewStub(m_channel);
    m_bytestream = bs::ByteStream::NewStub(m_channel);
  }

  Result<std::optional<std::string>> get_action_result(const BlobRef& action) override {
    re::GetActionResultRequest req;
    req.set_instance_name(m_instance);
    set_digest(req.mutable_action_digest(), action);
    req.set_inline_stdout(false);
    re::ActionResult res;
    auto ctx = context();
    auto status = m_ac->GetActionResult(ctx.get(), req, &res);
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) return std::optional<std::string>{};
    AK_TRY_VOID(check(status, "GetActionResult"));
    std::string bytes = res.SerializeAsString();
    m_down += bytes.size();
    return std::optional<std::string>(std::move(bytes));
  }

  Result<> put_action_result(const BlobRef& action, const std::string& result) override {
    re::UpdateActionResultRequest req;
    req.set_instance_name(m_instance);
    set_digest(req.mutable_action_digest(), action);
    if (!req.mutable_action_result()->ParseFromString(result))
      return fail(ErrorCode::internal, "UpdateActionResult: not an ActionResult");
    re::ActionResult res;
    auto ctx = context();
    AK_TRY_VOID(check(m_ac->UpdateActionResult(ctx.get(), req, &res), "UpdateActionResult"));
    m_up += result.size();
    return ok();
  }

  Result<std::vector<BlobRef>> find_missing(const std::vector<BlobRef>& blobs) override {
    std::vector<BlobRef> missing;
    for (std::size_t at = 0; at < blobs.size(); at += k_find_missing_chunk) {
      re::FindMissingBlobsRequest req;
      req.set_instance_name(m_instance);
      for (std::size_t i = at; i < std::min(blobs.size(), at + k_find_missing_chunk); ++i)
        set_digest(req.add_blob_digests(), blobs[i]);
      re::FindMissingBlobsResponse res;
      auto ctx = context();
      AK_TRY_VOID(check(m_cas->FindMissingBlobs(ctx.get(), req, &res), "FindMissingBlobs"));
      for (const auto& d : res.missing_blob_digests())
        if (auto b = from_digest(d)) missing.push_back(*b);
    }
    return missing;
  }

  Result<std::string> read_blob(const BlobRef& blob) override {
    StringSink sink;
    AK_TRY_VOID(read_stream(blob, sink));
    if (BlobRef::of(sink.data()) != blob)
      return fail(ErrorCode::corrupt, where() + ": blob " + blob.digest.hex() + " does not match its digest");
    return std::string(sink.data());
  }

  Result<> fetch(const std::vector<BlobRef>& blobs, cas::BlobStore& store, const fs::path& tmp_dir) override {
    if (blobs.empty()) return ok();
    auto limit = AK_TRY(batch_limit());
    std::vector<std::vector<BlobRef>> batches;
    std::vector<BlobRef> large;
    batch(blobs, limit, batches, large);
    AK_TRY_VOID(make_dirs(tmp_dir));
    auto tmp = AK_TRY(TempDir::create("fetch-", tmp_dir));
    auto dirfd = AK_TRY(open_fd(tmp.path(), O_RDONLY | O_DIRECTORY));
    return parallel_for(batches.size() + large.size(), m_options.parallel, [&](std::size_t i) -> Result<> {
      if (i < batches.size()) return read_batch(batches[i], store);
      const auto& b = large[i - batches.size()];
      std::string name = b.digest.hex();
      {
        auto fd = AK_TRY(open_fd(tmp.path() / name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        FdSink sink(fd.get());
        AK_TRY_VOID(read_stream(b, sink));
        AK_TRY_VOID(sink.flush());
      }
      auto got = AK_TRY(store.move_file(dirfd.get(), name));
      if (got != b.digest)
        return fail(ErrorCode::corrupt, where() + ": blob " + b.digest.hex() + " does not match its digest");
      return ok();
    });
  }

  Result<> upload(const std::vector<UploadBlob>& blobs) override {
    if (m_options.read_only) return fail(ErrorCode::failed_precondition, m_options.url + ": read-only");
    if (blobs.empty()) return ok();
    auto limit = AK_TRY(batch_limit());
    std::vector<BlobRef> refs;
    std::map<BlobRef, const UploadBlob*> by_ref;
    for (const auto& b : blobs) {
      refs.push_back(b.ref);
      by_ref[b.ref] = &b;
    }
    std::vector<std::vector<BlobRef>> batches;
    std::vector<BlobRef> large;
    batch(refs, limit, batches, large);
    return parallel_for(batches.size() + large.size(), m_options.parallel, [&](std::size_t i) -> Result<> {
      if (i < batches.size()) return write_batch(batches[i], by_ref);
      return write_stream(*by_ref.at(large[i - batches.size()]));
    });
  }

  std::uint64_t bytes_down() const override { return m_down; }
  std::uint64_t bytes_up() const override { return m_up; }

private:
  std::string where() const { return m_options.url; }

  std::unique_ptr<grpc::ClientContext> context() const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + m_options.timeout);
    if (!m_options.token.empty()) ctx->AddMetadata("authorization", "Bearer " + m_options.token);
    return ctx;
  }

  Result<> check(const grpc::Status& status, std::string_view call) const {
    if (status.ok()) return ok();
    return fail(error_code(status.error_code()), where() + ": " + std::string(call) + ": " + status.error_message());
  }

  // The largest batch request the server takes (Capabilities, asked once).
  Result<std::uint64_t> batch_limit() {
    std::lock_guard lock(m_caps_mutex);
    if (m_batch_limit) return m_batch_limit;
    re::GetCapabilitiesRequest req;
    req.set_instance_name(m_instance);
    re::ServerCapabilities caps;
    auto ctx = context();
    auto status = m_caps->GetCapabilities(ctx.get(), req, &caps);
    std::uint64_t limit = k_default_batch_limit;
    if (status.ok()) {
      auto advertised = caps.cache_capabilities().max_batch_total_size_bytes();
      if (advertised > 0) limit = static_cast<std::uint64_t>(advertised);
    } else if (status.error_code() != grpc::StatusCode::UNIMPLEMENTED) {
      return fail(check(status, "GetCapabilities").error());
    }
    m_batch_limit = std::min(limit, k_default_batch_limit);
    return m_batch_limit;
  }

  // Splits blobs into batches whose total stays under `limit`, and those that go alone.
  static void batch(const std::vector<BlobRef>& blobs, std::uint64_t limit, std::vector<std::vector<BlobRef>>& batches,
                    std::vector<BlobRef>& large) {
    std::uint64_t room = limit > 2 * k_batch_overhead ? limit - k_batch_overhead : limit / 2;
    std::uint64_t used = 0;
    for (const auto& b : blobs) {
      if (b.size + 128 > room) {
        large.push_back(b);
        continue;
      }
      if (batches.empty() || used + b.size + 128 > room || batches.back().size() >= 1000) {
        batches.emplace_back();
        used = 0;
      }
      batches.back().push_back(b);
      used += b.size + 128;
    }
  }

  Result<> read_batch(const std::vector<BlobRef>& blobs, cas::BlobStore& store) {
    re::BatchReadBlobsRequest req;
    req.set_instance_name(m_instance);
    for (const auto& b : blobs) set_digest(req.add_digests(), b);
    re::BatchReadBlobsResponse res;
    auto ctx = context();
    AK_TRY_VOID(check(m_cas->BatchReadBlobs(ctx.get(), req, &res), "BatchReadBlobs"));
    std::size_t got = 0;
    for (const auto& r : res.responses()) {
      auto want = from_digest(r.digest());
      if (!want) continue;
      if (r.status().code() != 0)
        return fail(error_code(static_cast<grpc::StatusCode>(r.status().code())),
                    where() + ": BatchReadBlobs: blob " + want->digest.hex() + ": " + r.status().message());
      if (BlobRef::of(r.data()) != *want)
        return fail(ErrorCode::corrupt, where() + ": blob " + want->digest.hex() + " does not match its digest");
      AK_TRY_VOID(store.put(r.data()));
      m_down += r.data().size();
      ++got;
    }
    if (got != blobs.size()) return fail(ErrorCode::unavailable, where() + ": BatchReadBlobs answered only part");
    return ok();
  }

  Result<> write_batch(const std::vector<BlobRef>& blobs, const std::map<BlobRef, const UploadBlob*>& by_ref) {
    re::BatchUpdateBlobsRequest req;
    req.set_instance_name(m_instance);
    for (const auto& b : blobs) {
      auto* r = req.add_requests();
      set_digest(r->mutable_digest(), b);
      const auto& blob = *by_ref.at(b);
      r->set_data(blob.file.empty() ? blob.bytes : AK_TRY(read_file(blob.file)));
    }
    re::BatchUpdateBlobsResponse res;
    auto ctx = context();
    AK_TRY_VOID(check(m_cas->BatchUpdateBlobs(ctx.get(), req, &res), "BatchUpdateBlobs"));
    for (const auto& r : res.responses())
      if (r.status().code() != 0)
        return fail(error_code(static_cast<grpc::StatusCode>(r.status().code())),
                    where() + ": BatchUpdateBlobs: blob " + r.digest().hash() + ": " + r.status().message());
    for (const auto& b : blobs) m_up += b.size;
    return ok();
  }

  std::string resource_prefix() const { return m_instance.empty() ? "" : m_instance + "/"; }

  Result<> read_stream(const BlobRef& blob, Sink& sink) {
    bs::ReadRequest req;
    req.set_resource_name(resource_prefix() + "blobs/" + blob.digest.hex() + "/" + std::to_string(blob.size));
    auto ctx = context();
    auto reader = m_bytestream->Read(ctx.get(), req);
    bs::ReadResponse chunk;
    std::uint64_t n = 0;
    while (reader->Read(&chunk)) {
      n += chunk.data().size();
      if (n > blob.size) break;
      AK_TRY_VOID(sink.write(chunk.data()));
    }
    if (n > blob.size) {
      ctx->TryCancel();
      (void)reader->Finish();
      return fail(ErrorCode::corrupt, where() + ": blob " + blob.digest.hex() + " is longer than its size");
    }
    AK_TRY_VOID(check(reader->Finish(), "ByteStream.Read"));
    m_down += n;
    return ok();
  }

  Result<> write_stream(const UploadBlob& blob) {
    std::string resource = resource_prefix() + "uploads/" + uuid() + "/blobs/" + blob.ref.digest.hex() + "/" +
                           std::to_string(blob.ref.size);
    auto ctx = context();
    bs::WriteResponse res;
    auto writer = m_bytestream->Write(ctx.get(), &res);
    std::optional<UniqueFd> fd;
    if (!blob.file.empty()) fd = AK_TRY(open_fd(blob.file, O_RDONLY | O_CLOEXEC));
    std::string buffer(k_chunk, '\0');
    std::uint64_t offset = 0;
    bool sent = true;
    do {
      std::size_t len = 0;
      if (fd) {
        FdSource source(fd->get());
        len = AK_TRY(source.read(std::as_writable_bytes(std::span(buffer))));
      } else {
        len = std::min<std::size_t>(k_chunk, blob.bytes.size() - offset);
        std::memcpy(buffer.data(), blob.bytes.data() + offset, len);
      }
      bs::WriteRequest req;
      if (offset == 0) req.set_resource_name(resource);
      req.set_write_offset(static_cast<std::int64_t>(offset));
      req.set_data(buffer.data(), len);
      offset += len;
      bool last = offset >= blob.ref.size || len == 0;
      req.set_finish_write(last);
      sent = writer->Write(req);
      if (last) break;
    } while (sent);
    writer->WritesDone();
    AK_TRY_VOID(check(writer->Finish(), "ByteStream.Write"));
    m_up += offset;
    return ok();
  }

  std::string m_instance, m_target;
  std::shared_ptr<grpc::Channel> m_channel;
  std::unique_ptr<re::ActionCache::Stub> m_ac;
  std::unique_ptr<re::ContentAddressableStorage::Stub> m_cas;
  std::unique_ptr<re::Capabilities::Stub> m_caps;
  std::unique_ptr<bs::ByteStream::Stub> m_bytestream;
  std::mutex m_caps_mutex;
  std::uint64_t m_batch_limit = 0;
  std::atomic<std::uint64_t> m_down{0}, m_up{0};
};

} // namespace

Result<std::unique_ptr<RemoteCache>> make_grpc_cache(RemoteOptions options) {
  std::string_view url = options.url;
  bool tls = url.starts_with("grpcs://");
  url.remove_prefix(tls ? 8 : 7);
  auto slash = url.find('/');
  std::string authority(url.substr(0, slash));
  std::string instance = slash == std::string_view::npos ? "" : std::string(url.substr(slash + 1));
  while (!instance.empty() && instance.back() == '/') instance.pop_back();
  if (authority.empty() || authority.find_first_of("?#@ ") != std::string::npos)
    return fail(ErrorCode::invalid_argument, "--remote-cache '" + options.url + "': expected grpc[s]://HOST:PORT[/INSTANCE]");
  if (authority.rfind(':') == std::string::npos || authority.back() == ']') authority += tls ? ":443" : ":80";
  return std::unique_ptr<RemoteCache>(new GrpcCache(std::move(options), authority, tls, instance));
}

} // namespace akbuild::remote
