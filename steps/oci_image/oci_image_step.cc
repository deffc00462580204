#include "steps/oci_image/oci_image_step.hh"

#include <map>

#include "akbuild/v1/steps.pb.h"
#include "oci/image.hh"
#include "oci/pull.hh"
#include "oci/reference.hh"
#include "oci/registry.hh"
#include "runner/cas/cache_dir.hh"
#include "runner/core/fs.hh"
#include "steps/oci_image/cas_blob_cache.hh"
#include "steps/oci_image/cas_layer_cache.hh"
#include "steps/validate.hh"

namespace akbuild::steps {

namespace {

namespace fs = std::filesystem;

const v1::OciImageParams& cast(const google::protobuf::Message& m) {
  return static_cast<const v1::OciImageParams&>(m);
}

Error bad(const std::string& key, const std::string& why) {
  return Error{ErrorCode::invalid_argument, "oci-image: with: " + key + ": " + why};
}

Result<std::optional<std::uint32_t>> parse_mode(const std::string& key, const std::string& text) {
  if (text.empty()) return std::optional<std::uint32_t>{};
  std::uint32_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '7' || v > 07777) return fail(bad(key, "'" + text + "' is not an octal mode like 0644"));
    v = v * 8 + static_cast<std::uint32_t>(c - '0');
  }
  if (v > 07777) return fail(bad(key, "'" + text + "' is larger than 07777"));
  return std::optional<std::uint32_t>(v);
}

Result<std::optional<std::uint32_t>> parse_id(const std::string& key, const std::string& text) {
  if (text.empty()) return std::optional<std::uint32_t>{};
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9' || v > 0xffffffffu) return fail(bad(key, "'" + text + "' is not a numeric id"));
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > 0xffffffffu) return fail(bad(key, "'" + text + "' is too large"));
  return std::optional<std::uint32_t>(static_cast<std::uint32_t>(v));
}

// The layer options of one `layers` entry (everything but the source path).
Result<oci::TarOptions> tar_options(const v1::OciLayer& l, const std::string& key) {
  oci::TarOptions t;
  t.destination = l.to().empty() ? "/" : l.to();
  auto norm = oci::normalize_destination(t.destination);
  if (!norm) return fail(bad(key + ".to", norm.error().message));
  if (!l.owner().empty()) {
    auto colon = l.owner().find(':');
    t.uid = AK_TRY(parse_id(key + ".owner", l.owner().substr(0, colon)));
    t.gid = colon == std::string::npos ? t.uid : AK_TRY(parse_id(key + ".owner", l.owner().substr(colon + 1)));
  }
  t.mode = AK_TRY(parse_mode(key + ".mode", l.mode()));
  for (int i = 0; i < l.perms_size(); ++i) {
    const auto& p = l.perms(i);
    std::string pk = key + ".perms[" + std::to_string(i) + "]";
    auto glob = Glob::parse(p.glob());
    if (!glob) return fail(bad(pk + ".glob", glob.error().message));
    t.perms.push_back(oci::PermRule{std::move(*glob), AK_TRY(parse_mode(pk + ".mode", p.mode())),
                                    AK_TRY(parse_id(pk + ".uid", p.uid())), AK_TRY(parse_id(pk + ".gid", p.gid()))});
  }
  t.mtime = oci::default_mtime();
  return t;
}

Result<> check_workspace_path(const std::string& key, const std::string& path) {
  if (!is_contained_relative_path(strip_trailing_slashes(path)))
    return fail(bad(key, "'" + path + "' must be a relative path inside the workspace (no '..')"));
  return ok();
}

constexpr std::string_view k_docker = "docker://";

// A base in a registry, "docker://HOST[:PORT]/REPO[:TAG][@sha256:...]"; nullopt for a layout.
Result<std::optional<oci::Reference>> registry_base(const std::string& base) {
  if (!base.starts_with(k_docker)) return std::optional<oci::Reference>{};
  auto ref = oci::Reference::parse(std::string_view(base).substr(k_docker.size()));
  if (!ref) return fail(bad("base", ref.error().message));
  return std::optional<oci::Reference>(std::move(*ref));
}

// How akbuild.lock names a base given by tag.
std::string lock_name(const oci::Reference& ref) { return std::string(k_docker) + ref.to_string(); }

// The platform whose manifest is taken from a base's index: the image's own.
oci::Platform base_platform(const v1::OciImageParams& p) {
  return {p.os().empty() ? "linux" : p.os(), p.architecture().empty() ? oci::host_architecture() : p.architecture()};
}

// Pulls `ref` (through the cache dir's CAS) into a temp layout under the cache's tmp dir.
// `host_credentials`: with the daemon's registry logins (not for a confined step's pull).
Result<std::pair<TempDir, oci::PulledImage>> pull_base(const v1::OciImageParams& p, const oci::Reference& ref,
                                                       cas::CacheDir& cache, bool host_credentials) {
  auto dir = AK_TRY(TempDir::create("base-", cache.tmp_dir()));
  CasBlobCache blobs(cache);
  oci::PushOptions options;
  options.insecure = p.insecure();
  options.host_credentials = host_credentials;
  auto pulled = oci::pull_image(ref, base_platform(p), dir.path() / "layout", blobs, options);
  if (!pulled) return fail(pulled.error().context("oci-image: base " + std::string(k_docker) + ref.to_string()));
  return std::pair<TempDir, oci::PulledImage>{std::move(dir), std::move(*pulled)};
}

// "dir/layout:ref" -> ("dir/layout", "ref").
std::pair<std::string, std::string> split_base(const std::string& base) {
  auto colon = base.find(':');
  if (colon == std::string::npos) return {base, ""};
  return {base.substr(0, colon), base.substr(colon + 1)};
}

} // namespace

const google::protobuf::Message& OciImageStep::params_prototype() const {
  return v1::OciImageParams::default_instance();
}

Result<StepPlan> OciImageStep::plan(const google::protobuf::Message& params, const PlanContext& ctx) const {
  const auto& p = cast(params);
  StepPlan plan;
  plan.sandboxed = false;
  if (p.tag().empty()) return fail(bad("tag", "is required (the image's name in the layout, e.g. demo:1)"));
  if (p.layers().empty() && p.base().empty()) return fail(bad("layers", "give at least one layer, or a base"));
  AK_TRY_VOID(oci::parse_compression(p.compression()).map_error([](Error e) { return bad("compression", e.message); }));
  std::map<std::string, int> seen;  // image path → the layer that occupies it
  for (int i = 0; i < p.layers_size(); ++i) {
    const auto& l = p.layers(i);
    std::string key = "layers[" + std::to_string(i) + "]";
    if (l.from().empty()) return fail(bad(key + ".from", "is required"));
    AK_TRY_VOID(check_workspace_path(key + ".from", l.from()));
    auto t = AK_TRY(tar_options(l, key));
    std::string from = strip_trailing_slashes(l.from());
    // Without following a symlink, as the image writer decides it.
    std::error_code ec;
    bool dir = l.from().back() == '/' || fs::is_directory(fs::symlink_status(ctx.workspace / from, ec));
    // The image writer's own rule, checked before anything runs.
    auto target = oci::layer_target(t.destination, from, dir);
    if (!target) return fail(bad(key + ".to", target.error().message));
    if (auto [it, inserted] = seen.emplace(*target, i); !inserted)
      return fail(bad(key + ".to", "'" + *target + "' is already used by layers[" + std::to_string(it->second) + "]"));
    plan.inputs.push_back(dir ? from + "/" : from);
    if (dir) plan.read_in_place.push_back(from);
  }
  if (auto registry = AK_TRY(registry_base(p.base()))) {
    // By digest: the digest is in the parameters already. By tag: akbuild.lock pins it.
    if (registry->digest.empty()) plan.locked_refs.push_back(lock_name(*registry));
    plan.extra_key_lines.push_back("base platform: " + base_platform(p).to_string());
  } else if (!p.base().empty()) {
    auto [dir, ref] = split_base(p.base());
    AK_TRY_VOID(check_workspace_path("base", dir));
    plan.inputs.push_back(strip_trailing_slashes(dir) + "/");
  }
  std::string layout = p.layout().empty() ? "image/" : p.layout();
  AK_TRY_VOID(validate_output_path(kind(), "layout", layout, ctx.workspace));
  plan.outputs.push_back(strip_trailing_slashes(layout) + "/");
  if (!p.docker_archive().empty()) {
    AK_TRY_VOID(validate_output_path(kind(), "docker_archive", p.docker_archive(), ctx.workspace));
    plan.outputs.push_back(p.docker_archive());
  }
  if (!p.push().empty()) {
    auto ref = oci::Reference::parse(p.push());
    if (!ref) return fail(bad("push", ref.error().message));
  }
  plan.deps.assign(p.deps().begin(), p.deps().end());
  plan.extra_key_lines.push_back("mtime: " + std::to_string(oci::default_mtime()));
  return plan;
}

Result<StepOutcome> OciImageStep::run(const google::protobuf::Message& params, RunContext& ctx) const {
  const auto& p = cast(params);
  oci::ImageSpec spec;
  spec.tag = p.tag();
  spec.created = oci::default_mtime();
  auto compression = AK_TRY(oci::parse_compression(p.compression()));
  for (int i = 0; i < p.layers_size(); ++i) {
    const auto& l = p.layers(i);
    std::string key = "layers[" + std::to_string(i) + "]";
    oci::LayerSpec layer;
    layer.source = ctx.input_root() / strip_trailing_slashes(l.from());
    // A whole input directory is read where it is, not staged first.
    layer.source_dir = ctx.input_dir(l.from());
    layer.tar = AK_TRY(tar_options(l, key));
    // A step's inputs and outputs record no directory mode: staged, read in place or restored,
    // a directory gives the same layer.
    layer.tar.directory_mode = 0755;
    layer.compression = compression;
    // Staged inputs are fresh files on every run: key the layer cache by the digests the engine
    // has for them (an unchanged step output is then never read again), else by content; and
    // keep a layer only if its inputs were still those digests once read.
    if (auto digest = ctx.content_digest(l.from())) {
      layer.fingerprint = *digest;
      layer.source_unchanged = [&ctx, from = l.from()] { return !ctx.input_changed(from); };
    } else {
      layer.content_fingerprint = true;
    }
    spec.layers.push_back(std::move(layer));
    // Only what shapes the layer: the step's id is a name in one workflow, and the same input
    // must give the same image however it is run.
    spec.layer_comments.push_back("akbuild oci-image: " + l.from() + " -> " + (l.to().empty() ? "/" : l.to()));
  }
  std::optional<TempDir> pulled_base;  // removed when the image is written
  if (auto registry = AK_TRY(registry_base(p.base()))) {
    bool locked_digest = registry->digest.empty();
    if (locked_digest) {
      auto locked = ctx.locked_ref(lock_name(*registry));
      if (!locked) return fail(bad("base", lock_name(*registry) + " is not pinned in akbuild.lock"));
      registry->digest = *locked;
    }
    auto base = pull_base(p, *registry, ctx.cache(), !ctx.confined());
    if (!base && locked_digest && base.error().code == ErrorCode::not_found)
      base.error().message += " (the digest akbuild.lock pins for the tag; `akbuild pin update` resolves the tag again)";
    if (!base) return fail(base.error());
    auto& [dir, pulled] = *base;
    ctx.log("base " + lock_name(*registry) + ": manifest " + pulled.manifest_digest + " for " +
            base_platform(p).to_string() + " (" + std::to_string(pulled.fetched) + " from the registry, " +
            std::to_string(pulled.cached) + " from the cache)");
    spec.base = dir.path() / "layout";
    pulled_base.emplace(std::move(dir));
  } else if (!p.base().empty()) {
    auto [dir, ref] = split_base(p.base());
    spec.base = ctx.input_root() / strip_trailing_slashes(dir);
    spec.base_ref = ref;
  }
  auto& c = spec.config;
  if (!p.entrypoint().empty()) c.entrypoint = std::vector<std::string>(p.entrypoint().begin(), p.entrypoint().end());
  if (!p.cmd().empty()) c.cmd = std::vector<std::string>(p.cmd().begin(), p.cmd().end());
  for (const auto& [k, v] : p.env()) c.env.push_back(k + "=" + v);
  c.workdir = p.workdir();
  c.user = p.user();
  c.ports.assign(p.ports().begin(), p.ports().end());
  c.volumes.assign(p.volumes().begin(), p.volumes().end());
  for (const auto& [k, v] : p.labels()) c.labels[k] = v;
  c.stop_signal = p.stop_signal();
  if (!p.os().empty()) c.os = p.os();
  c.architecture = p.architecture();

  std::string layout_rel = strip_trailing_slashes(p.layout().empty() ? "image/" : p.layout());
  fs::path layout = ctx.output_root() / layout_rel;
  CasLayerCache layers(ctx.cache());
  auto image = oci::write_image_layout(spec, layout, oci::BuildOptions{&layers, 0});
  if (!image) return fail(image.error().context("oci-image"));
  ctx.log("image " + p.tag() + ": " + image->manifest_digest + " (" + std::to_string(image->layers.size()) +
          " layers, " + std::to_string(image->cached_layers) + " from the layer cache)");
  if (!p.docker_archive().empty())
    AK_TRY_VOID(oci::write_docker_archive(layout, p.tag(), ctx.output_root() / p.docker_archive()));

  StepOutcome outcome;
  outcome.values["digest"] = image->manifest_digest;
  outcome.values["ref"] = p.tag();
  if (!p.push().empty()) {
    auto ref = AK_TRY(oci::Reference::parse(p.push()));
    oci::PushOptions options;
    options.insecure = p.insecure();
    options.host_credentials = !ctx.confined();
    if (!ctx.cache().read_only()) options.pushed_dir = ctx.cache().layout().pushed();
    auto report = oci::push_layout(layout, p.tag(), ref, options);
    if (!report) return fail(report.error().context("oci-image: push " + ref.to_string()));
    ctx.log("pushed " + ref.to_string() + "@" + report->manifest_digest + ": " + std::to_string(report->uploaded) +
            " blobs uploaded, " + std::to_string(report->skipped) + " present, " + std::to_string(report->mounted) +
            " mounted");
    outcome.values["ref"] = ref.to_string();
  }
  return outcome;
}

Result<std::string> OciImageStep::resolve_ref(const google::protobuf::Message& params, const std::string& ref,
                                              cas::CacheDir& cache) const {
  auto registry = AK_TRY(registry_base(ref));
  if (!registry || !registry->digest.empty())
    return fail(ErrorCode::internal, "oci-image: " + ref + " is not a registry tag");
  auto pulled = AK_TRY(pull_base(cast(params), *registry, cache, true));
  return pulled.second.digest;
}

} // namespace akbuild::steps
