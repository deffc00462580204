#pragma once
// Nix store paths (nix.md §3; Nix doc/manual/source/protocols/store-path.md):
//   <storeDir>/<nix32(compressHash(sha256(fingerprint), 20))>-<name>
//   fingerprint = <type>:sha256:<inner hex>:<storeDir>:<name>
//   type  = source[:<ref>...][:self] | text[:<ref>...] | output:<outName>
// with references as full paths in sorted order. Names are 1..211 characters of
// [A-Za-z0-9+-._?=], not "." or "..", and not starting with ".-" or "..-".

#include <compare>
#include <functional>
#include <set>
#include <string>
#include <string_view>

#include "nixdrv/hash.hh"
#include "runner/core/result.hh"

namespace akbuild::nixdrv {

inline constexpr std::string_view k_store_dir = "/nix/store";
inline constexpr std::size_t k_store_hash_length = 32;

// Ok if `name` is a valid store path name; else invalid_argument naming the name and the fault.
Result<> check_store_name(std::string_view name);

// A store path without its store dir: `<hash32>-<name>`.
class StorePath {
public:
  StorePath() = default;
  // `<hash32>-<name>`, validated.
  static Result<StorePath> from_base_name(std::string_view base);
  // A full path `<storeDir>/<hash32>-<name>` (nothing after the name).
  static Result<StorePath> parse(std::string_view full, std::string_view store_dir = k_store_dir);

  std::string_view base_name() const { return m_base; }
  std::string_view hash_part() const { return std::string_view(m_base).substr(0, k_store_hash_length); }
  std::string_view name() const { return std::string_view(m_base).substr(k_store_hash_length + 1); }
  std::string to_string(std::string_view store_dir = k_store_dir) const {
    return std::string(store_dir) + "/" + m_base;
  }
  bool is_derivation() const { return name().ends_with(".drv"); }

  auto operator<=>(const StorePath&) const = default;

private:
  std::string m_base;
};

using StorePathSet = std::set<StorePath>;

// The path for a fingerprint type ("source", "text:/nix/store/…", "output:out"), an inner
// sha256 and a name. Fails only on an invalid name.
Result<StorePath> make_store_path(std::string_view type, const Hash& inner, std::string_view name,
                                  std::string_view store_dir = k_store_dir);

// `nix-store --add` / builtins.path: sha256 of the NAR, with references and optionally itself.
Result<StorePath> make_source_path(const Hash& nar_sha256, std::string_view name, const StorePathSet& references,
                                   bool self_reference = false, std::string_view store_dir = k_store_dir);
// builtins.toFile and .drv files: sha256 of the contents, with references.
Result<StorePath> make_text_path(const Hash& content_sha256, std::string_view name,
                                 const StorePathSet& references, std::string_view store_dir = k_store_dir);

enum class FileIngestion { flat, recursive };

// A fixed output: recursive sha256 is a source path; anything else is `output:out` over
// "fixed:out:<r:?><algo>:<hex>:". References are only allowed with recursive sha256.
Result<StorePath> make_fixed_output_path(FileIngestion method, const Hash& hash, std::string_view name,
                                         const StorePathSet& references = {},
                                         std::string_view store_dir = k_store_dir);

// An input-addressed derivation output: `output:<out>` over the derivation's modulo hash, named
// `<drv name>` for "out" and `<drv name>-<out>` otherwise.
Result<StorePath> make_output_path(std::string_view output_name, const Hash& modulo_hash,
                                   std::string_view drv_name, std::string_view store_dir = k_store_dir);

} // namespace akbuild::nixdrv

template <>
struct std::hash<akbuild::nixdrv::StorePath> {
  std::size_t operator()(const akbuild::nixdrv::StorePath& p) const noexcept {
    return std::hash<std::string_view>()(p.base_name());
  }
};
