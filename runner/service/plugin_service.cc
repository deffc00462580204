#include "runner/service/plugin_service.hh"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <cctype>
#include <exception>
#include <thread>

#include <fmt/core.h>

#include "runner/core/beneath.hh"
#include "runner/core/log.hh"
#include "runner/plugin/tar_copy.hh"
#include "runner/service/plugin_streams.hh"
#include "runner/service/status.hh"

namespace akbuild::service {

namespace pb = ::plugin::v1alpha;
namespace fs = std::filesystem;
using akbuild::plugin::Environments;
using akbuild::plugin::OutputStream;

namespace {

constexpr std::string_view k_name = "akbuild";
constexpr std::size_t k_chunk = 256 * 1024;  // CopyOut pieces, as the runner sends CopyIn's
const grpc::Status k_draining(grpc::StatusCode::UNAVAILABLE, "akbuild serve is shutting down");

// RUNNER_ARCH of this machine, as GitHub names it.
std::string runner_arch() {
  utsname u{};
  ::uname(&u);
  std::string m = u.machine;
  if (m == "x86_64") return "X64";
  if (m == "aarch64" || m == "arm64") return "ARM64";
  if (m.size() == 4 && m[0] == 'i' && m.substr(2) == "86") return "X86";
  if (m.rfind("arm", 0) == 0) return "ARM";
  for (auto& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return m;
}

Result<akbuild::plugin::CreateSpec> create_spec(const pb::CreateRequest& request) {
  if (!request.services().empty())
    return fail(ErrorCode::invalid_argument,
                fmt::format("services: akbuild job environments run no service containers ({} asked, {} first)",
                            request.services_size(), request.services(0).name()));
  if (!request.cap_add().empty())
    return fail(ErrorCode::invalid_argument,
                fmt::format("cap_add {}: akbuild job environments run without capabilities", request.cap_add(0)));
  std::map<std::string, std::string> options(request.backend_options().begin(), request.backend_options().end());
  akbuild::plugin::CreateSpec spec;
  spec.profile = AK_TRY(akbuild::plugin::parse_profile(request.label_arg(), options));
  if (request.has_environment_timeout()) {
    const auto& d = request.environment_timeout();
    if (d.seconds() < 0 || d.nanos() < 0)
      return fail(ErrorCode::invalid_argument, "environment_timeout: negative");
    auto ms = std::chrono::seconds(d.seconds()) + std::chrono::duration_cast<std::chrono::milliseconds>(
                                                       std::chrono::nanoseconds(d.nanos()));
    if (ms.count() > 0) spec.timeout = ms;
  }
  return spec;
}

pb::DataChunk::Stream to_proto(OutputStream stream) {
  return stream == OutputStream::err ? pb::DataChunk::STDERR : pb::DataChunk::STDOUT;
}

// The first CopyIn chunk: the environment and the destination; later ones: data only.
Result<> check_later_chunk(const pb::CopyInChunk& chunk) {
  if (chunk.has_environment_id() || chunk.has_dest_path())
    return fail(ErrorCode::invalid_argument,
                fmt::format("CopyIn: a later chunk sets {}; only the first chunk names the environment and "
                            "destination", chunk.has_environment_id() ? "environment_id" : "dest_path"));
  return ok();
}

} // namespace

PluginService::PluginService(std::unique_ptr<Environments> environments)
    : m_environments(std::move(environments)) {}

PluginService::~PluginService() {
  stop_accepting();
  wait_idle();
}

void PluginService::stop_accepting() {
  std::lock_guard lock(m_mutex);
  m_accepting = false;
}

void PluginService::wait_idle() {
  std::unique_lock lock(m_mutex);
  m_idle.wait(lock, [&] { return m_active == 0; });
}

bool PluginService::spawn(std::function<void()> work, std::function<void(grpc::Status)> finish) {
  {
    std::lock_guard lock(m_mutex);
    if (!m_accepting) return false;
    ++m_active;
  }
  std::thread([this, work = std::move(work), finish = std::move(finish)] {
    try {
      work();
    } catch (const std::exception& e) {
      log_warning("plugin: unexpected exception: {}", e.what());
      finish(grpc::Status(grpc::StatusCode::INTERNAL, std::string("akbuild plugin: unexpected error: ") + e.what()));
    }
    std::lock_guard lock(m_mutex);
    if (--m_active == 0) m_idle.notify_all();
  }).detach();
  return true;
}

grpc::ServerUnaryReactor* PluginService::Capabilities(grpc::CallbackServerContext* ctx,
                                                      const pb::CapabilitiesRequest*,
                                                      pb::CapabilitiesResponse* response) {
  response->set_name(std::string(k_name));
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* PluginService::Create(grpc::CallbackServerContext* ctx, const pb::CreateRequest* request,
                                                pb::CreateResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  bool spawned = spawn([this, reactor, request, response] {
    auto created = [&]() -> Result<std::shared_ptr<akbuild::plugin::JobEnvironment>> {
      auto spec = AK_TRY(create_spec(*request));
      return m_environments->create(spec);
    }();
    if (!created) {
      reactor->Finish(to_grpc_status(created.error().context("Create")));
      return;
    }
    const auto& env = **created;
    log_info("plugin: job environment {} created for {} (profile {})", env.id(), request->name(),
             env.profile().name());
    response->set_environment_id(env.id());
    response->set_root_path(env.root().string());
    response->set_act_path(env.act().string());
    response->set_tool_cache_path(env.tool_cache().string());
    response->set_temp_path(env.temp().string());
    response->set_os("Linux");
    response->set_arch(runner_arch());
    reactor->Finish(grpc::Status::OK);
  }, [reactor](grpc::Status status) { reactor->Finish(status); });
  if (!spawned) reactor->Finish(k_draining);
  return reactor;
}

grpc::ServerWriteReactor<pb::StartOutput>* PluginService::Start(grpc::CallbackServerContext*,
                                                                const pb::StartRequest* request) {
  auto* writer = new QueuedWriter<pb::StartOutput>();
  bool spawned = spawn([this, writer, id = request->environment_id()] {
    auto call = m_environments->acquire(id);
    if (!call) {
      writer->finish(to_grpc_status(call.error().context("Start")));
      return;
    }
    auto& env = **call;
    pb::StartOutput progress;
    progress.mutable_data()->set_stream(pb::DataChunk::STDERR);
    progress.mutable_data()->set_data(
        fmt::format("akbuild: job environment {} ready (profile {})\n", env.id(), env.profile().name()));
    writer->write(std::move(progress));
    pb::StartOutput done;
    for (const auto& [k, v] : env.image_env()) (*done.mutable_start_complete()->mutable_image_env())[k] = v;
    if (!writer->write(std::move(done))) {
      writer->finish(grpc::Status(grpc::StatusCode::CANCELLED, "Start cancelled"));
      return;
    }
    writer->finish(grpc::Status::OK);
  }, [writer](grpc::Status status) { writer->finish(status); });
  if (!spawned) writer->finish(k_draining);
  return writer;
}

grpc::ServerWriteReactor<pb::ExecOutput>* PluginService::Exec(grpc::CallbackServerContext*,
                                                              const pb::ExecRequest* request) {
  auto* writer = new QueuedWriter<pb::ExecOutput>();
  auto cancel = std::make_shared<exec::CancelToken>();
  writer->on_cancel([cancel] { cancel->request(); });
  akbuild::plugin::ExecSpec spec{.argv = {request->command().begin(), request->command().end()},
                                 .env = {request->env().begin(), request->env().end()},
                                 .workdir = request->workdir()};
  bool spawned = spawn([this, writer, cancel, spec = std::move(spec), id = request->environment_id()] {
    auto call = m_environments->acquire(id);
    if (!call) {
      writer->finish(to_grpc_status(call.error().context("Exec")));
      return;
    }
    if (auto deadline = m_environments->deadline(id)) cancel->request_at(*deadline);
    auto result = (*call)->exec(spec, [&](OutputStream stream, std::string_view bytes) {
      pb::ExecOutput out;
      out.mutable_data()->set_stream(to_proto(stream));
      out.mutable_data()->set_data(std::string(bytes));
      writer->write(std::move(out));
    }, *cancel);
    if (cancel->deadline_passed()) {
      writer->finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                  fmt::format("job environment {}: environment_timeout reached; the command was killed", id)));
      return;
    }
    if (cancel->requested()) {
      writer->finish(grpc::Status(grpc::StatusCode::CANCELLED, "Exec cancelled; the command was killed"));
      return;
    }
    if (!result) {
      writer->finish(to_grpc_status(result.error().context("Exec")));
      return;
    }
    pb::ExecOutput last;
    if (result->exit_code) last.mutable_exec_complete()->set_exit_code(*result->exit_code);
    else last.mutable_exec_failed()->set_error_message(result->failure);
    writer->write(std::move(last));
    writer->finish(grpc::Status::OK);
  }, [writer](grpc::Status status) { writer->finish(status); });
  if (!spawned) writer->finish(k_draining);
  return writer;
}

grpc::ServerReadReactor<pb::CopyInChunk>* PluginService::CopyIn(grpc::CallbackServerContext*, pb::CopyInResponse*) {
  auto* reader = new ChunkReader<pb::CopyInChunk>();
  bool spawned = spawn([this, reader] {
    auto copied = [&]() -> Result<> {
      auto first = AK_TRY(reader->next());
      if (!first || !first->has_environment_id() || !first->has_dest_path())
        return fail(ErrorCode::invalid_argument,
                    "CopyIn: the first chunk must name environment_id and dest_path");
      auto call = AK_TRY(m_environments->acquire(first->environment_id()));
      std::string rel = AK_TRY(call->relative_path(first->dest_path()).map_error([](Error e) {
        return e.context("dest_path");
      }));
      auto dest = AK_TRY(open_dir_beneath(call->dir(), rel, true).map_error([&](Error e) {
        return Error{ErrorCode::invalid_argument, "dest_path " + first->dest_path() + ": " + e.message};
      }));
      std::string pending = std::move(*first->mutable_data());
      bool ended = false;
      return akbuild::plugin::extract_tar(fd_path(dest.get()), [&]() -> Result<std::string> {
        while (pending.empty() && !ended) {
          auto chunk = AK_TRY(reader->next());
          if (!chunk) {
            ended = true;
            break;
          }
          AK_TRY_VOID(check_later_chunk(*chunk));
          pending = std::move(*chunk->mutable_data());
        }
        return std::exchange(pending, std::string());
      });
    }();
    reader->finish(copied ? grpc::Status::OK : to_grpc_status(copied.error().context("CopyIn")));
  }, [reader](grpc::Status status) { reader->finish(status); });
  if (!spawned) reader->finish(k_draining);
  return reader;
}

grpc::ServerWriteReactor<pb::CopyOutChunk>* PluginService::CopyOut(grpc::CallbackServerContext*,
                                                                   const pb::CopyOutRequest* request) {
  auto* writer = new QueuedWriter<pb::CopyOutChunk>();
  bool spawned = spawn([this, writer, id = request->environment_id(), src = request->src_path()] {
    auto copied = [&]() -> Result<> {
      auto call = AK_TRY(m_environments->acquire(id));
      std::string rel = AK_TRY(call->relative_path(src).map_error([](Error e) { return e.context("src_path"); }));
      if (rel.empty()) return fail(ErrorCode::invalid_argument, "src_path " + src + ": the whole environment");
      fs::path relpath(rel);
      auto parent = open_dir_beneath(call->dir(), relpath.parent_path().string(), false);
      struct stat st{};
      if (!parent || ::fstatat(parent->get(), relpath.filename().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return fail(ErrorCode::not_found, "src_path " + src + ": no such file in the job environment");
      std::string buffer;
      auto send = [&] {
        pb::CopyOutChunk chunk;
        chunk.set_data(std::exchange(buffer, std::string()));
        return writer->write(std::move(chunk));
      };
      AK_TRY_VOID(akbuild::plugin::write_tar(fd_path(parent->get()) / relpath.filename(), relpath.filename().string(),
                                             [&](std::string_view bytes) {
                                               buffer.append(bytes);
                                               return buffer.size() < k_chunk || send();
                                             }));
      if (!buffer.empty() && !send()) return fail(ErrorCode::cancelled, "CopyOut: the reader went away");
      return ok();
    }();
    writer->finish(copied ? grpc::Status::OK : to_grpc_status(copied.error().context("CopyOut")));
  }, [writer](grpc::Status status) { writer->finish(status); });
  if (!spawned) writer->finish(k_draining);
  return writer;
}

grpc::ServerUnaryReactor* PluginService::Remove(grpc::CallbackServerContext* ctx, const pb::RemoveRequest* request,
                                                pb::RemoveResponse*) {
  auto* reactor = ctx->DefaultReactor();
  bool spawned = spawn([this, reactor, id = request->environment_id()] {
    auto removed = m_environments->remove(id);
    if (removed) log_info("plugin: job environment {} removed", id);
    reactor->Finish(removed ? grpc::Status::OK : to_grpc_status(removed.error().context("Remove")));
  }, [reactor](grpc::Status status) { reactor->Finish(status); });
  if (!spawned) reactor->Finish(k_draining);
  return reactor;
}

} // namespace akbuild::service
