// `docker load` archives (Docker image spec v1.2 "combined image JSON + filesystem changeset"
// format as `docker save` writes it since Docker 25): manifest.json
// [{"Config": path, "RepoTags": [...], "Layers": [paths]}], with the config and (compressed)
// layer blobs stored at their OCI layout paths, plus index.json and oci-layout, so the same
// tar is also an OCI archive. docker and podman detect layer compression when loading.

#include <algorithm>

#include <fcntl.h>
#include <unistd.h>

#include "oci/image.hh"
#include "oci/layout.hh"
#include "oci/tar_writer.hh"
#include "runner/core/atomic_file.hh"
#include "runner/core/fs.hh"
#include "runner/core/walk.hh"

namespace akbuild::oci {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

Result<> add_bytes(Sink& out, const std::string& name, std::string_view content, std::int64_t mtime) {
  TarEntry e;
  e.name = name;
  e.size = content.size();
  e.mtime = mtime;
  AK_TRY_VOID(write_tar_header(e, out));
  AK_TRY_VOID(out.write(content));
  return write_tar_padding(content.size(), out);
}

Result<> add_file(Sink& out, const std::string& name, const fs::path& path, std::int64_t mtime) {
  auto fd = AK_TRY(open_fd(path, O_RDONLY | O_CLOEXEC));
  auto info = AK_TRY(stat_path(path));
  TarEntry e;
  e.name = name;
  e.size = info.size;
  e.mtime = mtime;
  AK_TRY_VOID(write_tar_header(e, out));
  auto n = AK_TRY(stream_fd(fd.get(), out));
  if (n != info.size) return fail(ErrorCode::failed_precondition, path.string() + ": changed while being read");
  return write_tar_padding(info.size, out);
}

} // namespace

Result<> write_docker_archive(const fs::path& layout, std::string_view ref_name, const fs::path& archive) {
  auto image = AK_TRY(read_layout_image(layout, ref_name));
  std::string tag(ref_name);
  // RepoTags need NAME:TAG; a bare tag names an image "<tag>:latest" as docker would.
  auto last_slash = tag.rfind('/');
  if (tag.find(':', last_slash == std::string::npos ? 0 : last_slash) == std::string::npos) tag += ":latest";
  auto path_of = [](const std::string& digest) { return "blobs/sha256/" + digest.substr(7); };
  json layers = json::array();
  for (const auto& l : image.layers) layers.push_back(path_of(l.digest));
  json manifest = json::array({json{{"Config", path_of(image.config.digest)}, {"RepoTags", {tag}}, {"Layers", layers}}});
  std::int64_t mtime = default_mtime();

  fs::path dir = archive.parent_path().empty() ? fs::path(".") : archive.parent_path();
  AK_TRY_VOID(make_dirs(dir));
  auto file = AK_TRY(AtomicFile::create(archive, 0644));
  FdSink out(file.fd());
  std::vector<std::pair<std::string, fs::path>> files;
  files.emplace_back(path_of(image.config.digest), blob_path(layout / "blobs", image.config.digest));
  files.emplace_back(path_of(image.manifest.digest), blob_path(layout / "blobs", image.manifest.digest));
  for (const auto& l : image.layers) files.emplace_back(path_of(l.digest), blob_path(layout / "blobs", l.digest));
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  for (const auto& [name, path] : files) AK_TRY_VOID(add_file(out, name, path, mtime));
  json index{{"schemaVersion", 2},
             {"manifests", json::array({json{{"mediaType", image.manifest.media_type},
                                             {"digest", image.manifest.digest},
                                             {"size", image.manifest.size},
                                             {"annotations", {{"io.containerd.image.name", tag},
                                                              {"org.opencontainers.image.ref.name", std::string(ref_name)}}}}})}};
  AK_TRY_VOID(add_bytes(out, "index.json", index.dump(), mtime));
  AK_TRY_VOID(add_bytes(out, "manifest.json", manifest.dump(), mtime));
  AK_TRY_VOID(add_bytes(out, "oci-layout", R"({"imageLayoutVersion":"1.0.0"})", mtime));
  AK_TRY_VOID(write_tar_end(out));
  AK_TRY_VOID(out.flush());
  return file.commit();
}

} // namespace akbuild::oci
