#include "runner/engine/inputs.hh"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

#include "runner/cas/stat_cache.hh"
#include "runner/core/encoding.hh"
#include "runner/core/fs.hh"
#include "runner/core/sink.hh"

namespace akbuild::engine {

namespace fs = std::filesystem;

namespace {

struct Collector : TreeVisitor {
  const GlobSet& globs;
  std::vector<InputFile> files;
  std::vector<FileInfo> infos;

  explicit Collector(const GlobSet& g) : globs(g) {}

  Result<> directory_begin(std::string_view rel, const FileInfo&) override {
    if (rel.empty()) return ok();
    if (rel == ".git" || !globs.could_match_below(rel)) return fail(skip_directory());
    return ok();
  }
  Result<> regular(std::string_view rel, const FileInfo& info, int, std::string_view) override {
    if (!globs.matches(rel)) return ok();
    files.push_back(InputFile{std::string(rel), FileType::regular, info.executable, {}, {}, info.size});
    infos.push_back(info);
    return ok();
  }
  Result<> symlink(std::string_view rel, const FileInfo& info, std::string_view target) override {
    if (!globs.matches(rel)) return ok();
    files.push_back(InputFile{std::string(rel), FileType::symlink, false, {}, std::string(target), 0});
    infos.push_back(info);
    return ok();
  }
  Result<> other(std::string_view rel, const FileInfo& info) override {
    if (!globs.matches(rel)) return ok();
    return TreeVisitor::other(rel, info);
  }
};

unsigned pick_threads(unsigned threads, std::size_t work) {
  if (threads == 0) threads = std::max(2u, std::min(8u, std::thread::hardware_concurrency()));
  return static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>(threads, work)));
}

} // namespace

Result<std::vector<cas::Digest>> hash_files_parallel(const std::vector<fs::path>& paths, unsigned threads) {
  std::vector<cas::Digest> out(paths.size());
  std::atomic<std::size_t> next{0};
  std::mutex error_mutex;
  std::optional<Error> error;
  auto worker = [&] {
    for (;;) {
      std::size_t i = next.fetch_add(1);
      if (i >= paths.size()) return;
      {
        std::lock_guard lock(error_mutex);
        if (error) return;
      }
      // No stat cache here: collect_inputs consulted it already and records the results itself.
      auto d = cas::hash_file_cached(nullptr, paths[i], FileInfo{});
      if (!d) {
        std::lock_guard lock(error_mutex);
        if (!error) error = d.error();
        return;
      }
      out[i] = *d;
    }
  };
  unsigned n = pick_threads(threads, paths.size());
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < n; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (error) return fail(*error);
  return out;
}

Result<std::vector<InputFile>> collect_inputs(const fs::path& workspace, const GlobSet& globs,
                                              cas::StatCache* stat_cache, unsigned threads, InputStats* stats) {
  Collector c(globs);
  if (!globs.empty()) AK_TRY_VOID(walk_tree(workspace, c));
  std::vector<std::size_t> misses;
  std::vector<fs::path> miss_paths;
  std::uint64_t miss_bytes = 0;
  for (std::size_t i = 0; i < c.files.size(); ++i) {
    auto& f = c.files[i];
    if (f.type != FileType::regular) continue;
    auto abs = workspace / f.path;
    if (stat_cache) {
      if (auto d = stat_cache->lookup(abs.string(), c.infos[i])) {
        f.digest = d->hex();
        continue;
      }
    }
    misses.push_back(i);
    miss_paths.push_back(std::move(abs));
    miss_bytes += f.size;
  }
  auto digests = AK_TRY(hash_files_parallel(miss_paths, threads));
  for (std::size_t k = 0; k < misses.size(); ++k) {
    auto& f = c.files[misses[k]];
    f.digest = digests[k].hex();
    if (stat_cache) stat_cache->record(miss_paths[k].string(), c.infos[misses[k]], digests[k]);
  }
  if (stat_cache && !misses.empty()) AK_TRY_VOID(stat_cache->flush());
  if (stats) *stats = InputStats{c.files.size(), misses.size(), miss_bytes};
  return std::move(c.files);
}

} // namespace akbuild::engine
