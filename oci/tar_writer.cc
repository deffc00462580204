#include "oci/tar_writer.hh"

#include <array>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "runner/core/blob_mark.hh"
#include "runner/core/fs.hh"
#include "runner/core/walk.hh"

namespace akbuild::oci {

namespace {

constexpr std::size_t k_block = 512;

bool is_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80 || c == 0) return false;
  return true;
}

// Writes `value` as zero-padded octal in a field of `width` bytes ending in NUL; false if it
// does not fit.
bool put_octal(char* field, std::size_t width, std::uint64_t value) {
  std::size_t digits = width - 1;
  if (digits < 22 && value >= (std::uint64_t{1} << (3 * digits))) return false;
  for (std::size_t i = digits; i-- > 0;) {
    field[i] = static_cast<char>('0' + (value & 7));
    value >>= 3;
  }
  field[digits] = '\0';
  return true;
}

void put_string(char* field, std::size_t width, std::string_view value) {
  std::memcpy(field, value.data(), std::min(width, value.size()));
}

// The ustar-safe stand-in for a name that goes into a pax record: ASCII, at most 100 bytes.
std::string ustar_fallback(std::string_view name) {
  std::string out(name.substr(0, 100));
  for (char& c : out)
    if (static_cast<unsigned char>(c) >= 0x80) c = '_';
  return out;
}

std::string pax_record(std::string_view key, std::string_view value) {
  // "<len> <key>=<value>\n" where len counts its own digits.
  std::size_t body = 1 + key.size() + 1 + value.size() + 1;
  std::size_t len = body + 1;
  while (std::to_string(len).size() + body != len) ++len;
  return std::to_string(len) + " " + std::string(key) + "=" + std::string(value) + "\n";
}

Result<> write_block(const TarEntry& e, std::string_view name, std::string_view linkname, std::uint64_t size,
                     std::uint32_t uid, std::uint32_t gid, Sink& out) {
  std::array<char, k_block> h{};
  put_string(&h[0], 100, name);
  put_octal(&h[100], 8, e.mode & 07777);
  put_octal(&h[108], 8, uid);
  put_octal(&h[116], 8, gid);
  put_octal(&h[124], 12, size);
  put_octal(&h[136], 12, static_cast<std::uint64_t>(e.mtime));
  std::memset(&h[148], ' ', 8);
  h[156] = e.type;
  put_string(&h[157], 100, linkname);
  std::memcpy(&h[257], "ustar\0" "00", 8);
  put_octal(&h[329], 8, 0);
  put_octal(&h[337], 8, 0);
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  put_octal(&h[148], 7, sum);  // six digits, NUL, then the space already there
  return out.write(std::as_bytes(std::span(h)));
}

} // namespace

std::int64_t default_mtime() {
  const char* epoch = std::getenv("SOURCE_DATE_EPOCH");
  if (epoch && *epoch) {
    char* end = nullptr;
    long long v = std::strtoll(epoch, &end, 10);
    if (end && *end == '\0' && v >= 0) return v;
  }
  return 1;
}

Result<std::string> normalize_destination(std::string_view destination) {
  std::string out;
  std::string_view rest = destination;
  while (!rest.empty()) {
    auto slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (part.empty()) continue;
    if (part == "." || part == ".." || part.find('\0') != std::string_view::npos)
      return fail(ErrorCode::invalid_argument,
                  "destination '" + std::string(destination) + "': must not contain '.' or '..' components");
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

Result<> write_tar_header(const TarEntry& e, Sink& out) {
  std::string records;
  bool name_fits = e.name.size() <= 100 && is_ascii(e.name);
  bool link_fits = e.linkname.size() <= 100 && is_ascii(e.linkname);
  bool size_fits = e.size < (std::uint64_t{1} << 33);
  bool uid_fits = e.uid < (1u << 21), gid_fits = e.gid < (1u << 21);
  if (!name_fits) records += pax_record("path", e.name);
  if (!link_fits) records += pax_record("linkpath", e.linkname);
  if (!size_fits) records += pax_record("size", std::to_string(e.size));
  if (!uid_fits) records += pax_record("uid", std::to_string(e.uid));
  if (!gid_fits) records += pax_record("gid", std::to_string(e.gid));
  if (!records.empty()) {
    TarEntry pax;
    pax.name = "././@PaxHeader";
    pax.type = 'x';
    pax.mode = 0644;
    pax.mtime = e.mtime;
    AK_TRY_VOID(write_block(pax, pax.name, "", records.size(), 0, 0, out));
    AK_TRY_VOID(out.write(records));
    AK_TRY_VOID(write_tar_padding(records.size(), out));
  }
  return write_block(e, name_fits ? std::string_view(e.name) : ustar_fallback(e.name),
                     link_fits ? std::string_view(e.linkname) : ustar_fallback(e.linkname),
                     size_fits ? e.size : 0, uid_fits ? e.uid : 0, gid_fits ? e.gid : 0, out);
}

Result<> write_tar_padding(std::uint64_t size, Sink& out) {
  static constexpr std::array<std::byte, k_block> zeros{};
  std::size_t rem = size % k_block;
  if (rem == 0) return ok();
  return out.write(std::span(zeros).first(k_block - rem));
}

Result<> write_tar_end(Sink& out) {
  static constexpr std::array<std::byte, 2 * k_block> zeros{};
  return out.write(std::span(zeros));
}

namespace {

class LayerVisitor final : public TreeVisitor {
public:
  LayerVisitor(const TarOptions& options, std::string prefix, Sink& out)
      : m_options(options), m_prefix(std::move(prefix)), m_out(out) {}

  // The image path of a source-relative path ("" is the source root itself).
  std::string image_path(std::string_view rel) const {
    if (m_single) return join_rel(m_prefix, m_single_name);
    if (rel.empty()) return m_prefix;
    return join_rel(m_prefix, rel);
  }

  void set_single(std::string name) {
    m_single = true;
    m_single_name = std::move(name);
  }

  TarEntry base_entry(const std::string& path, std::uint32_t fs_mode) const {
    TarEntry e;
    e.name = path;
    e.mtime = m_options.mtime;
    e.uid = m_options.uid.value_or(0);
    e.gid = m_options.gid.value_or(0);
    e.mode = m_options.mode.value_or(fs_mode & 07777);
    for (const auto& rule : m_options.perms) {
      if (!rule.glob.matches(path)) continue;
      if (rule.mode) e.mode = *rule.mode;
      if (rule.uid) e.uid = *rule.uid;
      if (rule.gid) e.gid = *rule.gid;
    }
    return e;
  }

  Result<> synthesized_dir(const std::string& path) {
    TarEntry e = base_entry(path, 0755);
    if (!m_options.mode) e.mode = 0755;
    e.name += '/';
    e.type = '5';
    return write_tar_header(e, m_out);
  }

  Result<> directory_begin(std::string_view rel, const FileInfo& info) override {
    std::string path = image_path(rel);
    if (path.empty()) return ok();  // the image root has no entry
    TarEntry e = base_entry(path, m_options.directory_mode.value_or(info.mode));
    e.name += '/';
    e.type = '5';
    return write_tar_header(e, m_out);
  }

  Result<> regular(std::string_view rel, const FileInfo& info, int dirfd, std::string_view name) override {
    std::string path = image_path(rel);
    // A file linked from a cache is the plain file its tree records (core/blob_mark.hh): its
    // mode is 0644, and files that share its blob are not hard links of each other.
    TarEntry e = base_entry(path, recorded_permissions(info));
    if (info.nlink > 1 && !carries_blob_mark(info)) {
      auto [it, inserted] = m_links.try_emplace({info.dev, info.ino}, path);
      if (!inserted) {
        e.type = '1';
        e.linkname = it->second;
        return write_tar_header(e, m_out);
      }
    }
    e.type = '0';
    e.size = info.size;
    AK_TRY_VOID(write_tar_header(e, m_out));
    auto written = AK_TRY(stream_file_at(dirfd, name, m_out));
    if (written != info.size)
      return fail(ErrorCode::failed_precondition,
                  std::string(rel) + ": changed size while being archived");
    return write_tar_padding(info.size, m_out);
  }

  Result<> symlink(std::string_view rel, const FileInfo& info, std::string_view target) override {
    TarEntry e = base_entry(image_path(rel), info.mode);
    e.type = '2';
    e.mode = 0777;
    for (const auto& rule : m_options.perms)
      if (rule.glob.matches(e.name) && rule.mode) e.mode = *rule.mode;
    e.linkname = std::string(target);
    return write_tar_header(e, m_out);
  }

private:
  const TarOptions& m_options;
  std::string m_prefix;
  Sink& m_out;
  bool m_single = false;
  std::string m_single_name;
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::string> m_links;
};

} // namespace

Result<> write_layer_tar(const std::filesystem::path& source, const TarOptions& options, Sink& out,
                         int source_dir) {
  std::string prefix = AK_TRY(normalize_destination(options.destination));
  FileInfo info;
  if (source_dir >= 0) info.type = FileType::directory;
  else info = AK_TRY(stat_path(source));
  LayerVisitor visitor(options, prefix, out);
  // Parents of the destination (and the destination itself for a single file).
  std::string parents = info.type == FileType::directory ? std::string(prefix) : prefix + "/";
  for (std::size_t pos = parents.find('/'); pos != std::string::npos; pos = parents.find('/', pos + 1))
    if (pos > 0) AK_TRY_VOID(visitor.synthesized_dir(parents.substr(0, pos)));
  if (info.type != FileType::directory) {
    std::string name = source.filename().string();
    if (name.empty()) name = source.parent_path().filename().string();
    visitor.set_single(name);
  }
  if (source_dir >= 0) AK_TRY_VOID(walk_open_dir(source_dir, source.string(), visitor));
  else AK_TRY_VOID(walk_tree(source, visitor));
  return write_tar_end(out);
}

} // namespace akbuild::oci
