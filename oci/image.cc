#include "oci/image.hh"

#include <ctime>
#include <set>

#include <nlohmann/json.hpp>
#include <sys/utsname.h>

#include "oci/layout.hh"
#include "runner/core/encoding.hh"
#include "runner/core/fs.hh"
#include "runner/core/hash.hh"

namespace akbuild::oci {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::string_view k_manifest_type = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view k_config_type = "application/vnd.oci.image.config.v1+json";

bool alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

Result<> check_ref_name(std::string_view tag) {
  bool good = !tag.empty() && alnum(tag.front()) && alnum(tag.back());
  for (char c : tag)
    if (!alnum(c) && std::string_view("-._:@/+").find(c) == std::string_view::npos) good = false;
  if (!good)
    return fail(ErrorCode::invalid_argument, "tag '" + std::string(tag) +
                                                 "': must be letters, digits and -._:@/+ , starting and "
                                                 "ending with a letter or digit");
  return ok();
}

Result<std::string> normalize_port(std::string_view port) {
  auto slash = port.find('/');
  std::string_view number = port.substr(0, slash);
  std::string proto = slash == std::string_view::npos ? "tcp" : std::string(port.substr(slash + 1));
  unsigned value = 0;
  bool good = !number.empty() && number.size() <= 5;
  for (char c : number) {
    if (c < '0' || c > '9') good = false;
    else value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (!good || value == 0 || value > 65535 || (proto != "tcp" && proto != "udp" && proto != "sctp"))
    return fail(ErrorCode::invalid_argument,
                "ports: '" + std::string(port) + "' is not PORT or PORT/tcp|udp|sctp (1-65535)");
  return std::to_string(value) + "/" + proto;
}

// A blob from a string, named by its digest.
Result<std::string> put_blob(const fs::path& blobs, std::string_view content) {
  std::string digest = "sha256:" + to_hex(sha256(content));
  AK_TRY_VOID(write_file_atomic(blob_path(blobs, digest), content, 0444));
  return digest;
}

// A base layer's media type in the OCI manifest written: Docker's (a base from a Docker v2
// manifest) by the OCI name of the same bytes, as image-spec's media-types.md maps them.
std::string oci_layer_type(const std::string& media_type) {
  if (media_type == "application/vnd.docker.image.rootfs.diff.tar.gzip") return "application/vnd.oci.image.layer.v1.tar+gzip";
  if (media_type == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip")
    return "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
  return media_type;
}

json string_set(const std::vector<std::string>& items) {
  json out = json::object();
  for (const auto& i : items) out[i] = json::object();
  return out;
}

} // namespace

std::string host_architecture() {
  utsname u{};
  ::uname(&u);
  std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  if (m == "i686" || m == "i386") return "386";
  if (m.rfind("armv7", 0) == 0) return "arm";
  return m;
}

std::string rfc3339(std::int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<std::string> layer_target(std::string_view destination, const fs::path& source, bool source_is_directory) {
  std::string dest = AK_TRY(normalize_destination(destination));
  if (source_is_directory) return "/" + dest;
  return "/" + (dest.empty() ? "" : dest + "/") + source.filename().string();
}

Result<> validate_image_spec(const ImageSpec& spec) {
  AK_TRY_VOID(check_ref_name(spec.tag));
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    std::error_code ec;
    auto status = fs::symlink_status(spec.layers[i].source, ec);
    auto target = layer_target(spec.layers[i].tar.destination, spec.layers[i].source, fs::is_directory(status));
    if (!target) return fail(target.error().context("layers[" + std::to_string(i) + "]"));
    auto [it, inserted] = seen.emplace(*target, i);
    if (!inserted)
      return fail(ErrorCode::invalid_argument, "layers[" + std::to_string(i) + "]: destination '" + *target +
                                                   "' is already used by layers[" + std::to_string(it->second) + "]");
    if (!fs::exists(status))
      return fail(ErrorCode::not_found,
                  "layers[" + std::to_string(i) + "]: " + spec.layers[i].source.string() + " does not exist");
  }
  for (const auto& p : spec.config.ports) AK_TRY_VOID(normalize_port(p));
  for (const auto& e : spec.config.env)
    if (e.find('=') == std::string::npos || e.front() == '=')
      return fail(ErrorCode::invalid_argument, "env: '" + e + "' is not NAME=VALUE");
  for (const auto& v : spec.config.volumes)
    if (v.empty() || v.front() != '/')
      return fail(ErrorCode::invalid_argument, "volumes: '" + v + "' is not an absolute path");
  return ok();
}

Result<ImageResult> write_image_layout(const ImageSpec& spec, const fs::path& layout, const BuildOptions& options) {
  AK_TRY_VOID(validate_image_spec(spec));
  fs::path target = fs::absolute(layout).lexically_normal();
  if (target.filename().empty()) target = target.parent_path();
  AK_TRY_VOID(make_dirs(target.parent_path()));
  auto tmp = AK_TRY(TempDir::create("." + target.filename().string() + ".tmp-", target.parent_path()));
  fs::path blobs = tmp.path() / "blobs";
  AK_TRY_VOID(make_dirs(blobs / "sha256"));

  ImageResult result;
  json config = json::object();
  json history = json::array();
  json diff_ids = json::array();
  if (!spec.base.empty()) {
    auto base = read_layout_image(spec.base, spec.base_ref);
    if (!base) return fail(base.error().context("base"));
    config = base->config_json;
    if (config.contains("history") && config["history"].is_array()) history = config["history"];
    auto& rootfs = config["rootfs"];
    if (rootfs.is_object() && rootfs.contains("diff_ids")) diff_ids = rootfs["diff_ids"];
    if (diff_ids.size() != base->layers.size())
      return fail(ErrorCode::corrupt, "base: config has " + std::to_string(diff_ids.size()) + " diff_ids for " +
                                          std::to_string(base->layers.size()) + " layers");
    for (std::size_t i = 0; i < base->layers.size(); ++i) {
      const auto& d = base->layers[i];
      fs::path from = blob_path(spec.base / "blobs", d.digest);
      AK_TRY_VOID(verify_blob(from, d).map_error([](Error e) { return std::move(e).context("base"); }));
      AK_TRY_VOID(check_layer_entries(from, "base layer " + d.digest));
      AK_TRY_VOID(link_or_copy(from, blob_path(blobs, d.digest)));
      result.layers.push_back(LayerBlob{d.digest, diff_ids[i].get<std::string>(), d.size, oci_layer_type(d.media_type), false});
    }
  }

  std::string created = rfc3339(spec.created);
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    auto blob = make_layer(spec.layers[i], blobs, options.layer_cache, options.threads);
    if (!blob) return fail(blob.error().context("layers[" + std::to_string(i) + "]"));
    if (blob->cached) ++result.cached_layers;
    diff_ids.push_back(blob->diff_id);
    std::string comment = i < spec.layer_comments.size() ? spec.layer_comments[i]
                                                         : "akbuild oci-image: layer " + std::to_string(i);
    history.push_back(json{{"created", created}, {"created_by", comment}});
    result.layers.push_back(std::move(*blob));
  }

  const ImageConfig& c = spec.config;
  json& cfg = config["config"];
  if (!cfg.is_object()) cfg = json::object();
  if (c.entrypoint) cfg["Entrypoint"] = *c.entrypoint;
  if (c.cmd) cfg["Cmd"] = *c.cmd;
  else if (c.entrypoint) cfg.erase("Cmd");  // a new entrypoint does not inherit the base's arguments
  if (!c.env.empty()) {
    std::vector<std::string> env = cfg.value("Env", std::vector<std::string>{});
    for (const auto& e : c.env) {
      std::string key = e.substr(0, e.find('=') + 1);
      std::erase_if(env, [&](const std::string& old) { return old.rfind(key, 0) == 0; });
      env.push_back(e);
    }
    cfg["Env"] = env;
  }
  if (!c.workdir.empty()) cfg["WorkingDir"] = c.workdir;
  if (!c.user.empty()) cfg["User"] = c.user;
  if (!c.stop_signal.empty()) cfg["StopSignal"] = c.stop_signal;
  if (!c.ports.empty()) {
    std::vector<std::string> ports;
    for (const auto& p : c.ports) ports.push_back(AK_TRY(normalize_port(p)));
    json merged = cfg.value("ExposedPorts", json::object());
    merged.update(string_set(ports));
    cfg["ExposedPorts"] = merged;
  }
  if (!c.volumes.empty()) {
    json merged = cfg.value("Volumes", json::object());
    merged.update(string_set(c.volumes));
    cfg["Volumes"] = merged;
  }
  json labels = cfg.value("Labels", json::object());
  if (!labels.is_object()) labels = json::object();
  labels["org.opencontainers.image.created"] = created;
  for (const auto& [k, v] : c.labels) labels[k] = v;
  cfg["Labels"] = labels;
  config["created"] = created;
  config["os"] = c.os.empty() ? "linux" : c.os;
  config["architecture"] = c.architecture.empty() ? host_architecture() : c.architecture;
  config["rootfs"] = json{{"type", "layers"}, {"diff_ids", diff_ids}};
  config["history"] = history;

  std::string config_bytes = config.dump();
  result.config_digest = AK_TRY(put_blob(blobs, config_bytes));
  json layers = json::array();
  for (const auto& l : result.layers)
    layers.push_back(json{{"mediaType", l.media_type}, {"digest", l.digest}, {"size", l.size}});
  json manifest{{"schemaVersion", 2},
                {"mediaType", k_manifest_type},
                {"config", {{"mediaType", k_config_type}, {"digest", result.config_digest}, {"size", config_bytes.size()}}},
                {"layers", layers}};
  std::string manifest_bytes = manifest.dump();
  result.manifest_digest = AK_TRY(put_blob(blobs, manifest_bytes));
  result.manifest_size = manifest_bytes.size();
  json index{{"schemaVersion", 2},
             {"manifests", json::array({json{{"mediaType", k_manifest_type},
                                             {"digest", result.manifest_digest},
                                             {"size", result.manifest_size},
                                             {"annotations", {{"org.opencontainers.image.ref.name", spec.tag}}}}})}};
  AK_TRY_VOID(write_file_atomic(tmp.path() / "index.json", index.dump()));
  AK_TRY_VOID(write_file_atomic(tmp.path() / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));

  // Swap the finished layout in: an old one is moved aside first and removed after.
  std::error_code ec;
  fs::path old = tmp.path().string() + ".old";
  bool had_old = fs::exists(fs::symlink_status(target, ec));
  if (had_old && ::rename(target.c_str(), old.c_str()) != 0)
    return fail(errno_error(target.string() + ": move the old layout aside"));
  if (::rename(tmp.path().c_str(), target.c_str()) != 0) {
    auto err = errno_error(target.string() + ": rename");
    if (had_old) ::rename(old.c_str(), target.c_str());
    return fail(err);
  }
  tmp.keep();
  if (had_old) AK_TRY_VOID(remove_tree(old));
  AK_TRY_VOID(fsync_dir(target.parent_path()));
  return result;
}

} // namespace akbuild::oci
