#include "runner/cas/remote_stats.hh"

#include <charconv>
#include <string>

#include "runner/core/fs.hh"

namespace akbuild::cas {

namespace {

std::filesystem::path stats_path(const CacheLayout& layout) { return layout.root / "remote-stats"; }

} // namespace

Result<RemoteStats> read_remote_stats(const CacheLayout& layout) {
  auto path = stats_path(layout);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return RemoteStats{};
  auto text = AK_TRY(read_file(path));
  RemoteStats s;
  std::uint64_t* fields[] = {&s.hits, &s.misses, &s.bytes_down, &s.bytes_up};
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (auto* f : fields) {
    auto [next, err] = std::from_chars(p, end, *f);
    if (err != std::errc() || next == end || *next != '\n')
      return fail(ErrorCode::corrupt, path.string() + ": not four counters, one a line");
    p = next + 1;
  }
  return s;
}

Result<> add_remote_stats(const CacheLayout& layout, const RemoteStats& delta) {
  auto lock = AK_TRY(FileLock::acquire(layout.locks() / "remote-stats.lock"));
  // A malformed file starts the counts again rather than stopping them for good.
  auto s = read_remote_stats(layout).value_or(RemoteStats{});
  s.hits += delta.hits;
  s.misses += delta.misses;
  s.bytes_down += delta.bytes_down;
  s.bytes_up += delta.bytes_up;
  return write_file_atomic(stats_path(layout), std::to_string(s.hits) + "\n" + std::to_string(s.misses) + "\n" +
                                                   std::to_string(s.bytes_down) + "\n" + std::to_string(s.bytes_up) +
                                                   "\n");
}

} // namespace akbuild::cas
