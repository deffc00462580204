#pragma once
// Reading OCI image layouts (a base image, or one just written for a push): index.json, the
// manifest a ref.name names, its config and layers, each verified against its digest.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runner/core/result.hh"

namespace akbuild::oci {

struct Descriptor {
  std::string media_type, digest;
  std::uint64_t size = 0;
};

struct LayoutImage {
  std::filesystem::path dir;
  Descriptor manifest;
  std::string manifest_bytes;
  nlohmann::json manifest_json, config_json;
  Descriptor config;
  std::vector<Descriptor> layers;
};

// The image named `ref_name` in the layout at `dir` (empty: the only one). The manifest and config
// are read and verified; layers are listed, not read. not_found / corrupt / invalid_argument
// name the layout and the fault.
Result<LayoutImage> read_layout_image(const std::filesystem::path& dir, std::string_view ref_name);

// Verifies a blob's size and sha256 digest; corrupt naming the blob otherwise.
Result<> verify_blob(const std::filesystem::path& path, const Descriptor& d);

// Reads every entry header of a (gzip, zstd or plain) layer tar and fails with invalid_argument
// when one would land outside the image root ('..' in a name or a hardlink target).
Result<> check_layer_entries(const std::filesystem::path& blob, std::string_view what);

// "sha256:<64 hex>" check.
bool is_sha256_digest(std::string_view digest);

} // namespace akbuild::oci
