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
#include "runner/core/memory.hh"
#include "runner/core/scan.hh"
#include "runner/core/sink.hh"

namespace akbuild::engine {

namespace fs = std::filesystem;

namespace {

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
  std::vector<InputFile> files;
  std::vector<FileInfo> infos;
  if (!globs.empty()) {
    ScanOptions options;
    options.threads = threads;
    options.descend = [&globs](std::string_view rel) {
      return rel.empty() || (rel != ".git" && globs.could_match_below(rel));
    };
    auto tree = AK_TRY(scan_tree(workspace, options));
    // What follows (inputs, digests, manifest lines and text) takes ~400 bytes per file.
    prefault_heap(tree.size() * 400);
    files.reserve(tree.size());
    infos.reserve(tree.size());
    AK_TRY_VOID(tree.visit([&](ScanEntry& e) -> Result<> {
      if (e.rel.empty() || e.info.type == FileType::directory || !globs.matches(e.rel)) return ok();
      if (e.info.type == FileType::other) return fail(unsupported_type_error(e.rel, e.info));
      bool regular = e.info.type == FileType::regular;
      files.push_back(InputFile{e.rel, e.info.type, regular && e.info.executable, {}, e.target,
                                regular ? e.info.size : 0});
      infos.push_back(e.info);
      return ok();
    }));
  }
  std::vector<std::size_t> misses;
  std::vector<fs::path> miss_paths;
  std::uint64_t miss_bytes = 0;
  std::string abs = workspace.string();
  if (!abs.ends_with('/')) abs.push_back('/');
  const std::size_t prefix = abs.size();
  for (std::size_t i = 0; i < files.size(); ++i) {
    auto& f = files[i];
    if (f.type != FileType::regular) continue;
    abs.resize(prefix);
    abs.append(f.path);
    if (stat_cache) {
      if (auto d = stat_cache->lookup(abs, infos[i])) {
        f.digest = d->hex();
        continue;
      }
    }
    misses.push_back(i);
    miss_paths.emplace_back(abs);
    miss_bytes += f.size;
  }
  auto digests = AK_TRY(hash_files_parallel(miss_paths, threads));
  for (std::size_t k = 0; k < misses.size(); ++k) {
    auto& f = files[misses[k]];
    f.digest = digests[k].hex();
    if (stat_cache) stat_cache->record(miss_paths[k].string(), infos[misses[k]], digests[k]);
  }
  if (stat_cache && !misses.empty()) AK_TRY_VOID(stat_cache->flush());
  if (stats) *stats = InputStats{files.size(), misses.size(), miss_bytes};
  return files;
}

} // namespace akbuild::engine
