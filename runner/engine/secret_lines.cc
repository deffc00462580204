#include "runner/engine/secret_lines.hh"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include <fcntl.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/core/encoding.hh"
#include "runner/core/fs.hh"
#include "runner/core/secrets.hh"
#include "runner/engine/manifest.hh"

namespace akbuild::engine {

namespace fs = std::filesystem;

namespace {

constexpr const char* k_key_file = "hmac-key";

Result<> random_bytes(std::span<unsigned char> out) {
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1)
    return fail(ErrorCode::internal, "cannot get random bytes for the cache's HMAC key");
  return ok();
}

// Reads the key file, refusing one that others could read or replace.
Result<std::array<unsigned char, 32>> read_key(const fs::path& path) {
  auto fd = AK_TRY(open_fd(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(errno_error(path.string()));
  auto bad = [&](const std::string& why) {
    return fail(ErrorCode::failed_precondition, path.string() + ": " + why + " (remove it to make a new key)");
  };
  if (!S_ISREG(st.st_mode)) return bad("not a regular file");
  if (st.st_uid != ::geteuid()) return bad("owned by uid " + std::to_string(st.st_uid) + ", not by this user");
  if (st.st_mode & 077) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return bad(std::string("mode ") + mode + " lets others read or write it (need 0600)");
  }
  std::array<unsigned char, 32> key{};
  ssize_t n = ::pread(fd.get(), key.data(), key.size(), 0);
  if (n < 0) return fail(errno_error(path.string()));
  if (static_cast<std::size_t>(n) != key.size() || st.st_size != static_cast<off_t>(key.size()))
    return bad("holds " + std::to_string(st.st_size) + " bytes, not 32");
  return key;
}

// Writes a new key beside the cache's temp files and links it into place; EEXIST means another
// process won the race, whose key is then read.
Result<bool> create_key(const fs::path& cache_root, const fs::path& path) {
  std::string tmpl = (cache_root / "tmp" / "hmac-key.XXXXXX").string();
  int raw = ::mkostemp(tmpl.data(), O_CLOEXEC);  // mode 0600
  if (raw < 0) {
    if (errno == EROFS || errno == EACCES || errno == EPERM || errno == ENOENT) return false;
    return fail(errno_error(tmpl));
  }
  UniqueFd fd(raw);
  std::array<unsigned char, 32> key{};
  auto cleanup = [&] { ::unlink(tmpl.c_str()); };
  if (auto r = random_bytes(key); !r) { cleanup(); return fail(r.error()); }
  if (auto w = write_all(fd.get(), std::as_bytes(std::span(key))); !w) { cleanup(); return fail(w.error()); }
  if (::fsync(fd.get()) != 0) { cleanup(); return fail(errno_error(tmpl)); }
  int linked = ::link(tmpl.c_str(), path.c_str());
  int err = errno;
  cleanup();
  if (linked != 0 && err != EEXIST) return fail(errno_error(path.string(), err));
  if (linked == 0) (void)fsync_dir(cache_root);
  return true;
}

} // namespace

Result<HmacKey> HmacKey::open(const fs::path& cache_root) {
  HmacKey k;
  auto path = cache_root / k_key_file;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return fail(errno_error(path.string()));
    if (!AK_TRY(create_key(cache_root, path))) {
      AK_TRY_VOID(random_bytes(k.m_key));
      return k;
    }
  }
  k.m_key = AK_TRY(read_key(path));
  return k;
}

std::string HmacKey::hmac_hex(std::string_view text) const {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), m_key.data(), static_cast<int>(m_key.size()), reinterpret_cast<const unsigned char*>(text.data()),
       text.size(), out, &size);
  return to_hex(std::as_bytes(std::span(out, size)));
}

Result<std::string> key_secret_lines(const std::string& manifest, const fs::path& cache_root) {
  if (!contains_secret(manifest)) return manifest;
  auto key = AK_TRY(HmacKey::open(cache_root));
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < manifest.size()) {
    auto end = manifest.find('\n', start);
    if (end == std::string::npos) end = manifest.size();
    std::string line = manifest.substr(start, end - start);
    start = end + 1;
    if (contains_secret(line)) {
      // The name stays readable unless it holds the secret itself (a path, say).
      auto [name, value] = split_manifest_line(line);
      line = (contains_secret(name) ? std::string("secret") : name) + ": (secret) " + key.hmac_hex(line);
    }
    lines.push_back(std::move(line));
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out.append(l).append("\n");
  return out;
}

} // namespace akbuild::engine
