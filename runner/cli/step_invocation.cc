#include "runner/cli/commands.hh"

#include <algorithm>
#include <cctype>

#include "runner/core/secrets.hh"
#include "runner/remote/remote_cache.hh"
#include "runner/service/engine_factory.hh"

namespace akbuild::cli {

void add_step_invocation_options(CLI::App* cmd, StepInvocation& o) {
  cmd->add_option("-w,--with", o.with, "a with: value as KEY=VALUE (repeatable)");
  cmd->add_option("--id", o.id, "the step id (default: the kind); keys explain history and pins");
  cmd->add_flag("--json", o.json, "one JSON event object per line");
  cmd->add_option("-j,--jobs", o.jobs, "steps run at once (default: cores)");
  cmd->add_option("--sandbox", o.sandbox, "auto (bubblewrap when it works), require, or off")
      ->check(CLI::IsMember({"auto", "require", "off"}));
  cmd->add_option("-C,--workspace", o.workspace, "the workspace (default: the current directory)");
}

std::string shell_word(std::string_view word) {
  bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("_./:=@%+,-").find(c) != std::string_view::npos;
  });
  if (plain) return std::string(word);
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

void add_remote_options(CLI::App* cmd, RemoteFlags& flags) {
  cmd->add_option("--remote-cache", flags.url,
                  "a cache shared across hosts: grpc[s]://HOST:PORT[/INSTANCE] (REAPI v2) or "
                  "http[s]://HOST:PORT[/PREFIX] (HTTP cache); default $AKBUILD_REMOTE_CACHE");
  cmd->add_option("--remote-token-file", flags.token_file,
                  "a file holding the bearer token for the remote cache; default $AKBUILD_REMOTE_TOKEN_FILE");
  cmd->add_flag("--remote-read-only", flags.read_only,
                "use the remote cache's hits, upload nothing (also AKBUILD_REMOTE_READ_ONLY=1)");
}

Result<> apply_remote_flags(const RemoteFlags& flags, engine::EngineOptions& options) {
  auto remote = AK_TRY(remote::remote_options(flags.url, flags.token_file, flags.read_only));
  if (!remote) return ok();
  if (!remote->token.empty()) add_secret(remote->token);
  options.remote_cache = remote->url;
  options.remote_token = remote->token;
  options.remote_read_only = remote->read_only;
  return ok();
}

Result<EngineOpener> engine_opener(const RemoteFlags& flags) {
  engine::EngineOptions remote;
  AK_TRY_VOID(apply_remote_flags(flags, remote));
  return EngineOpener([remote](engine::EngineOptions eo) {
    eo.remote_cache = remote.remote_cache;
    eo.remote_token = remote.remote_token;
    eo.remote_read_only = remote.remote_read_only;
    return service::open_engine(std::move(eo));
  });
}

Result<std::map<std::string, std::string>> parse_pairs(const std::vector<std::string>& items, char sep,
                                                       std::string_view flag) {
  std::map<std::string, std::string> out;
  for (const auto& item : items) {
    auto at = item.find(sep);
    if (at == std::string::npos || at == 0)
      return fail(ErrorCode::invalid_argument, std::string(flag) + " '" + item + "': expected KEY" + sep + "VALUE");
    out[item.substr(0, at)] = item.substr(at + 1);
  }
  return out;
}

Result<engine::StepRequest> step_request(const StepInvocation& o) {
  auto with = AK_TRY(parse_pairs(o.with, '=', "--with"));
  return engine::StepRequest{o.id.empty() ? o.kind : o.id, o.kind, std::move(with)};
}

engine::EngineOptions engine_options(const StepInvocation& o, const GlobalOptions& global) {
  engine::EngineOptions options;
  options.workspace = o.workspace.empty() ? std::filesystem::current_path() : std::filesystem::path(o.workspace);
  options.cache_dir = resolve_cache_dir(global);
  options.jobs = o.jobs;
  options.sandbox = o.sandbox == "require" ? exec::SandboxMode::require
                    : o.sandbox == "off"   ? exec::SandboxMode::off
                                           : exec::SandboxMode::automatic;
  return options;
}

} // namespace akbuild::cli
