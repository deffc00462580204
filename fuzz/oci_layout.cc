// OCI image layouts (oci/layout.hh). The input is index.json, the manifest and the config,
// separated by lines "----". The harness stores the manifest and config as blobs under their
// digests and writes them where the text says @MD/@MS (manifest digest/size, in index.json) and
// @CD/@CS (config digest/size, in the manifest): the fuzzer could never guess a sha256.
#include <vector>

#include "fuzz/fuzz_support.hh"
#include "oci/layer.hh"
#include "oci/layout.hh"
#include "runner/core/encoding.hh"
#include "runner/core/fs.hh"
#include "runner/core/hash.hh"

using namespace akbuild;

namespace {

std::vector<std::string> split(std::string_view text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    auto at = text.find("\n----\n", start);
    parts.emplace_back(text.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos || parts.size() == 3) break;
    start = at + 6;
  }
  parts.resize(3);
  return parts;
}

void replace_all(std::string& s, std::string_view from, const std::string& to) {
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

// Stores `blob` in the layout and fills its digest and size in `referrer`.
void store(const std::filesystem::path& layout, const std::string& blob, std::string& referrer,
           std::string_view digest_mark, std::string_view size_mark) {
  std::string digest = "sha256:" + to_hex(sha256(blob));
  auto path = oci::blob_path(layout / "blobs", digest);
  (void)make_dirs(path.parent_path());
  (void)write_file(path, blob);
  replace_all(referrer, digest_mark, digest);
  replace_all(referrer, size_mark, std::to_string(blob.size()));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parts = split(fuzz::text(data, size));
  auto layout = fuzz::scratch_dir() / "layout";
  (void)remove_tree(layout);
  store(layout, parts[2], parts[1], "@CD", "@CS");
  store(layout, parts[1], parts[0], "@MD", "@MS");
  (void)write_file(layout / "index.json", parts[0]);
  if (auto image = oci::read_layout_image(layout, ""))
    for (const auto& l : image->layers) (void)oci::verify_blob(oci::blob_path(layout / "blobs", l.digest), l);
  (void)oci::read_layout_image(layout, "v1");
  return 0;
}
