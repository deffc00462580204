// The floor under any stat-based check of a tree: lstat every entry and nothing else (no names
// kept, no sorting), the top-level entries shared among N threads. bench/nix_hash.sh prints its
// time next to akbuild's stat-cache hit.   Usage: stat_walk DIR THREADS
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

long walk(int dirfd) {
  long n = 0;
  alignas(dirent64) char buffer[64 * 1024];
  for (;;) {
    ssize_t got = ::getdents64(dirfd, buffer, sizeof buffer);
    if (got <= 0) break;
    for (ssize_t off = 0; off < got;) {
      auto* e = reinterpret_cast<dirent64*>(buffer + off);
      off += e->d_reclen;
      std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat st {};
      if (::fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      ++n;
      if (S_ISDIR(st.st_mode)) {
        int child = ::openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (child >= 0) {
          n += walk(child);
          ::close(child);
        }
      }
    }
  }
  return n;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: stat_walk DIR THREADS\n");
    return 2;
  }
  int root = ::open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) {
    std::perror(argv[1]);
    return 1;
  }
  std::vector<std::string> top;
  if (DIR* d = ::fdopendir(::dup(root))) {
    while (dirent* e = ::readdir(d))
      if (std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..") top.emplace_back(e->d_name);
    ::closedir(d);
  }
  std::atomic<std::size_t> next{0};
  std::atomic<long> entries{0};
  auto work = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < top.size();) {
      struct stat st {};
      if (::fstatat(root, top[i].c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      entries += 1;
      if (!S_ISDIR(st.st_mode)) continue;
      int child = ::openat(root, top[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (child < 0) continue;
      entries += walk(child);
      ::close(child);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < std::atoi(argv[2]); ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  std::printf("%ld\n", entries.load());
  return 0;
}
