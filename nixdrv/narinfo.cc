#include "nixdrv/narinfo.hh"

namespace akbuild::nixdrv {

namespace {
Error bad(std::string_view what) { return Error{ErrorCode::invalid_argument, "narinfo: " + std::string(what)}; }

Result<std::uint64_t> parse_size(std::string_view key, std::string_view value) {
  if (value.empty() || value.size() > 19 || value.find_first_not_of("0123456789") != std::string_view::npos)
    return fail(bad(std::string(key) + " '" + std::string(value) + "' is not a number"));
  return std::stoull(std::string(value));
}
} // namespace

std::string NarInfo::to_string(std::string_view store_dir) const {
  std::string out;
  out += "StorePath: " + path.to_string(store_dir) + "\n";
  out += "URL: " + url + "\n";
  out += "Compression: " + compression + "\n";
  if (file_hash) out += "FileHash: " + file_hash->to_prefixed(HashFormat::nix32) + "\n";
  if (file_size) out += "FileSize: " + std::to_string(file_size) + "\n";
  out += "NarHash: " + nar_hash.to_prefixed(HashFormat::nix32) + "\n";
  out += "NarSize: " + std::to_string(nar_size) + "\n";
  out += "References:";
  if (references.empty()) out += " ";
  for (const auto& r : references) out += " " + std::string(r.base_name());
  out += "\n";
  if (deriver) out += "Deriver: " + std::string(deriver->base_name()) + "\n";
  for (const auto& s : sigs) out += "Sig: " + s + "\n";
  if (!ca.empty()) out += "CA: " + ca + "\n";
  return out;
}

std::string NarInfo::fingerprint(std::string_view store_dir) const {
  std::string refs;
  for (const auto& r : references) refs += (refs.empty() ? "" : ",") + r.to_string(store_dir);
  return "1;" + path.to_string(store_dir) + ";" + nar_hash.to_prefixed(HashFormat::nix32) + ";" +
         std::to_string(nar_size) + ";" + refs;
}

Result<NarInfo> NarInfo::parse(std::string_view text, std::string_view store_dir) {
  NarInfo info;
  bool have_path = false, have_hash = false;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty()) continue;
    auto colon = line.find(": ");
    if (colon == std::string_view::npos) {
      if (line.ends_with(":")) colon = line.size() - 1;
      else return fail(bad("line " + std::to_string(line_no) + " is not 'Key: value'"));
    }
    std::string_view key = line.substr(0, colon);
    std::string_view value = colon + 2 <= line.size() ? line.substr(colon + 2) : std::string_view();
    auto ctx = [&](Error e) { return std::move(e).context("narinfo line " + std::to_string(line_no)); };
    if (key == "StorePath") {
      auto p = StorePath::parse(value, store_dir);
      if (!p) return fail(ctx(p.error()));
      info.path = *p;
      have_path = true;
    } else if (key == "URL") {
      info.url = value;
    } else if (key == "Compression") {
      info.compression = value.empty() ? "bzip2" : std::string(value);
    } else if (key == "FileHash" || key == "NarHash") {
      auto h = Hash::parse(value);
      if (!h) return fail(ctx(h.error()));
      if (key == "NarHash") {
        info.nar_hash = *h;
        have_hash = true;
      } else {
        info.file_hash = *h;
      }
    } else if (key == "FileSize") {
      info.file_size = AK_TRY(parse_size(key, value));
    } else if (key == "NarSize") {
      info.nar_size = AK_TRY(parse_size(key, value));
    } else if (key == "References") {
      while (!value.empty()) {
        auto sp = value.find(' ');
        std::string_view ref = value.substr(0, sp);
        value = sp == std::string_view::npos ? std::string_view() : value.substr(sp + 1);
        if (ref.empty()) continue;
        auto p = StorePath::from_base_name(ref);
        if (!p) return fail(ctx(p.error()));
        info.references.insert(*p);
      }
    } else if (key == "Deriver") {
      if (value != "unknown-deriver") {
        auto p = StorePath::from_base_name(value);
        if (!p) return fail(ctx(p.error()));
        info.deriver = *p;
      }
    } else if (key == "Sig") {
      info.sigs.emplace_back(value);
    } else if (key == "CA") {
      info.ca = value;
    }
  }
  if (!have_path) return fail(bad("missing StorePath"));
  if (info.url.empty()) return fail(bad("missing URL"));
  if (!have_hash) return fail(bad("missing NarHash"));
  if (info.nar_size == 0) return fail(bad("missing or zero NarSize"));
  return info;
}

} // namespace akbuild::nixdrv
