#pragma once
// OCI image layouts (OCI image-spec v1.0: image-layout.md, manifest.md, config.md), written
// reproducibly: every JSON document is canonical (keys sorted, no spaces), `created` comes from
// the layer mtime, so the same inputs give the same manifest digest on any machine.
// The layout is assembled in a temp sibling of its destination and renamed into place at the
// end: an error (a bad input, a full disk) leaves no layout behind.
//
//   <layout>/oci-layout          {"imageLayoutVersion":"1.0.0"}
//   <layout>/index.json          one manifest, annotated org.opencontainers.image.ref.name
//   <layout>/blobs/sha256/<hex>  config, manifest, layers (base layers first)

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "oci/layer.hh"
#include "runner/core/result.hh"

namespace akbuild::oci {

struct ImageConfig {
  std::optional<std::vector<std::string>> entrypoint, cmd;  // unset: inherited from the base
  std::vector<std::string> env;                            // "K=V"; replaces a base value of K
  std::string workdir, user, stop_signal;
  std::vector<std::string> ports;                          // "8080" (tcp) or "53/udp"
  std::vector<std::string> volumes;
  std::map<std::string, std::string> labels;
  std::string os = "linux";
  std::string architecture;                                // empty: the host's (amd64, arm64, ...)
};

struct ImageSpec {
  std::vector<LayerSpec> layers;                // one layer each, in order
  std::vector<std::string> layer_comments;      // history "created_by" per layer (optional)
  ImageConfig config;
  std::string tag;                              // org.opencontainers.image.ref.name; required
  std::filesystem::path base;                   // an OCI layout dir, or empty
  std::string base_ref;                         // its ref.name; empty: its only manifest
  std::int64_t created = 1;                     // seconds since the epoch
};

struct ImageResult {
  std::string manifest_digest, config_digest;
  std::uint64_t manifest_size = 0;
  std::vector<LayerBlob> layers;                // base layers first
  std::size_t cached_layers = 0;                // own layers taken from the layer cache
};

struct BuildOptions {
  LayerCache* layer_cache = nullptr;            // none: every layer is built
  unsigned threads = 0;
};

// Checks an ImageSpec before anything is written: destinations ('..', duplicates), tag, ports.
Result<> validate_image_spec(const ImageSpec& spec);

// The image path a layer occupies: "/" + its destination, plus the source's file name when the
// source is not a directory. Two layers of one image may not occupy the same path.
Result<std::string> layer_target(std::string_view destination, const std::filesystem::path& source,
                                 bool source_is_directory);

// Writes the image as an OCI layout at `layout` (replacing one that is there).
Result<ImageResult> write_image_layout(const ImageSpec& spec, const std::filesystem::path& layout,
                                       const BuildOptions& options = {});

// Writes a `docker load` archive (manifest.json with RepoTags, the config, the layer blobs) of
// the image `ref_name` in an OCI layout, atomically.
Result<> write_docker_archive(const std::filesystem::path& layout, std::string_view ref_name,
                              const std::filesystem::path& archive);

// The host architecture by the OCI/Go name ("amd64", "arm64", ...).
std::string host_architecture();
// RFC 3339 UTC ("1970-01-01T00:00:01Z").
std::string rfc3339(std::int64_t seconds);

} // namespace akbuild::oci
