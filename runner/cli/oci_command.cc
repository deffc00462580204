// `akbuild oci`: the image library without the engine, for scripts and benchmarks.
//   akbuild oci layer DIR --out FILE [--to /app] [--compression gzip|zstd] [--no-cache]
//                   [--content-id ID]
//       one layer blob; prints {"digest", "diff_id", "size", "media_type", "cached"}
//   akbuild oci push LAYOUT --ref-name TAG --to HOST/REPO:TAG [--insecure]
//       pushes an OCI layout; prints the push report

#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "oci/compress.hh"
#include "oci/layer.hh"
#include "oci/registry.hh"
#include "runner/cas/cache_dir.hh"
#include "runner/cli/commands.hh"
#include "runner/core/fs.hh"
#include "steps/oci_image/cas_layer_cache.hh"

namespace akbuild::cli {

namespace {

namespace fs = std::filesystem;

struct LayerOptions {
  std::string source, out, destination = "/", compression = "gzip", content_id;
  bool no_cache = false;
  unsigned threads = 0;
};

struct PushCliOptions {
  std::string layout, ref_name, to;
  bool insecure = false;
};

Result<int> make_layer_file(const LayerOptions& o, const GlobalOptions& global) {
  oci::LayerSpec spec;
  spec.source = o.source;
  spec.fingerprint = o.content_id;
  spec.tar.destination = o.destination;
  spec.tar.mtime = oci::default_mtime();
  spec.compression = AK_TRY(oci::parse_compression(o.compression));
  fs::path out = fs::absolute(o.out);
  AK_TRY_VOID(make_dirs(out.parent_path()));
  auto tmp = AK_TRY(TempDir::create(".akbuild-layer-", out.parent_path()));
  std::unique_ptr<cas::CacheDir> cache;
  std::optional<steps::CasLayerCache> layers;
  if (!o.no_cache) {
    cache = AK_TRY(cas::CacheDir::open(resolve_cache_dir(global)));
    layers.emplace(*cache);
  }
  auto blob = AK_TRY(oci::make_layer(spec, tmp.path(), layers ? &*layers : nullptr, o.threads));
  fs::path made = oci::blob_path(tmp.path(), blob.digest);
  if (::rename(made.c_str(), out.c_str()) != 0) return fail(errno_error(out.string() + ": rename"));
  nlohmann::json j{{"digest", blob.digest}, {"diff_id", blob.diff_id}, {"size", blob.size},
                   {"media_type", blob.media_type}, {"cached", blob.cached}};
  std::cout << j.dump() << "\n";
  return 0;
}

Result<int> push(const PushCliOptions& o, const GlobalOptions& global) {
  auto ref = AK_TRY(oci::Reference::parse(o.to));
  oci::PushOptions options;
  options.insecure = o.insecure;
  options.pushed_dir = cas::CacheLayout{resolve_cache_dir(global)}.pushed();
  auto report = AK_TRY(oci::push_layout(o.layout, o.ref_name, ref, options));
  nlohmann::json j{{"digest", report.manifest_digest}, {"ref", ref.to_string()}, {"uploaded", report.uploaded},
                   {"uploaded_layers", report.uploaded_layers}, {"skipped", report.skipped},
                   {"mounted", report.mounted}, {"uploaded_bytes", report.uploaded_bytes}};
  std::cout << j.dump() << "\n";
  return 0;
}

} // namespace

void add_oci_command(CLI::App& app, GlobalOptions& options) {
  auto* oci = app.add_subcommand("oci", "image layers and pushes without the engine");
  oci->require_subcommand(1);

  auto layer_options = std::make_shared<LayerOptions>();
  auto* layer = oci->add_subcommand("layer", "write one reproducible layer blob of a directory");
  layer->add_option("source", layer_options->source, "directory or file")->required();
  layer->add_option("--out", layer_options->out, "blob file to write")->required();
  layer->add_option("--to", layer_options->destination, "destination in the image (default /)");
  layer->add_option("--compression", layer_options->compression, "gzip (default) or zstd");
  layer->add_option("--threads", layer_options->threads, "compression threads (default: all cores)")
      ->check(CLI::Range(0u, oci::k_max_compression_threads));
  layer->add_flag("--no-cache", layer_options->no_cache, "always tar and compress");
  layer->add_option("--content-id", layer_options->content_id,
                    "identifies the source's content (e.g. the tree digest of the step output it is), "
                    "so the layer cache is consulted without reading or stat'ing the source; "
                    "default: a stat fingerprint of every entry");
  layer->callback([layer_options, &options] {
    auto r = make_layer_file(*layer_options, options);
    options.exit_status = r ? *r : report_error(r.error());
  });

  auto push_options = std::make_shared<PushCliOptions>();
  auto* push_cmd = oci->add_subcommand("push", "push an image of an OCI layout to a registry");
  push_cmd->add_option("layout", push_options->layout, "OCI layout directory")->required();
  push_cmd->add_option("--ref-name", push_options->ref_name, "the image's ref.name in the layout (default: the only one)");
  push_cmd->add_option("--to", push_options->to, "HOST[:PORT]/REPO[:TAG]")->required();
  push_cmd->add_flag("--insecure", push_options->insecure, "allow plain HTTP to a non-loopback registry");
  push_cmd->callback([push_options, &options] {
    auto r = push(*push_options, options);
    options.exit_status = r ? *r : report_error(r.error());
  });
}

} // namespace akbuild::cli
