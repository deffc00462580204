#include "nixdrv/store_path.hh"

#include "runner/core/encoding.hh"

namespace akbuild::nixdrv {

namespace {

bool valid_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
         c == '.' || c == '_' || c == '?' || c == '=';
}

Error bad_name(std::string_view name, std::string_view why) {
  return Error{ErrorCode::invalid_argument, "invalid store path name '" + std::string(name) + "': " + std::string(why)};
}

std::string with_references(std::string type, const StorePathSet& references, std::string_view store_dir) {
  for (const auto& r : references) type += ":" + r.to_string(store_dir);
  return type;
}

} // namespace

Result<> check_store_name(std::string_view name) {
  if (name.empty()) return fail(bad_name(name, "empty"));
  if (name.size() > 211) return fail(bad_name(name, "longer than 211 characters"));
  if (name == "." || name == "..") return fail(bad_name(name, "'.' and '..' are not allowed"));
  if (name.starts_with(".-") || name.starts_with("..-"))
    return fail(bad_name(name, "must not start with '.-' or '..-'"));
  for (char c : name)
    if (!valid_name_char(c))
      return fail(bad_name(name, std::string("character '") + c +
                                     "' is not allowed (only A-Z a-z 0-9 and + - . _ ? =)"));
  return ok();
}

Result<StorePath> StorePath::from_base_name(std::string_view base) {
  if (base.size() < k_store_hash_length + 2 || base[k_store_hash_length] != '-')
    return fail(ErrorCode::invalid_argument, "'" + std::string(base) + "' is not a store path (<hash>-<name>)");
  std::string_view hash = base.substr(0, k_store_hash_length);
  if (!nix32_decode(hash, 20))
    return fail(ErrorCode::invalid_argument, "'" + std::string(base) + "' has an invalid hash part '" +
                                                 std::string(hash) + "'");
  AK_TRY_VOID(check_store_name(base.substr(k_store_hash_length + 1)));
  StorePath p;
  p.m_base = base;
  return p;
}

Result<StorePath> StorePath::parse(std::string_view full, std::string_view store_dir) {
  if (!full.starts_with(store_dir) || full.size() <= store_dir.size() + 1 || full[store_dir.size()] != '/')
    return fail(ErrorCode::invalid_argument, "'" + std::string(full) + "' is not in the store " + std::string(store_dir));
  std::string_view base = full.substr(store_dir.size() + 1);
  if (base.find('/') != std::string_view::npos)
    return fail(ErrorCode::invalid_argument, "'" + std::string(full) + "' is below a store path, not one");
  return from_base_name(base);
}

Result<StorePath> make_store_path(std::string_view type, const Hash& inner, std::string_view name,
                                  std::string_view store_dir) {
  AK_TRY_VOID(check_store_name(name));
  std::string fingerprint = std::string(type) + ":sha256:" + inner.to_string(HashFormat::base16) + ":" +
                            std::string(store_dir) + ":" + std::string(name);
  auto digest = sha256(fingerprint);
  std::string base = nix32_encode(compress_hash(digest, 20)) + "-" + std::string(name);
  return StorePath::from_base_name(base);
}

Result<StorePath> make_source_path(const Hash& nar_sha256, std::string_view name, const StorePathSet& references,
                                   bool self_reference, std::string_view store_dir) {
  std::string type = with_references("source", references, store_dir);
  if (self_reference) type += ":self";
  return make_store_path(type, nar_sha256, name, store_dir);
}

Result<StorePath> make_text_path(const Hash& content_sha256, std::string_view name,
                                 const StorePathSet& references, std::string_view store_dir) {
  return make_store_path(with_references("text", references, store_dir), content_sha256, name, store_dir);
}

Result<StorePath> make_fixed_output_path(FileIngestion method, const Hash& hash, std::string_view name,
                                         const StorePathSet& references, std::string_view store_dir) {
  if (method == FileIngestion::recursive && hash.algo() == HashAlgo::sha256)
    return make_source_path(hash, name, references, false, store_dir);
  if (!references.empty())
    return fail(ErrorCode::invalid_argument, "fixed output '" + std::string(name) +
                                                 "' can only have references when it is recursive sha256");
  std::string inner = "fixed:out:" + std::string(method == FileIngestion::recursive ? "r:" : "") +
                      std::string(to_string(hash.algo())) + ":" + hash.to_string(HashFormat::base16) + ":";
  return make_store_path("output:out", Hash::of(HashAlgo::sha256, inner), name, store_dir);
}

Result<StorePath> make_output_path(std::string_view output_name, const Hash& modulo_hash,
                                   std::string_view drv_name, std::string_view store_dir) {
  std::string name(drv_name);
  if (output_name != "out") name += "-" + std::string(output_name);
  return make_store_path("output:" + std::string(output_name), modulo_hash, name, store_dir);
}

} // namespace akbuild::nixdrv
