// What runner/core/memory.hh rests on: the cost of making fresh anonymous memory usable, per
// 4 KiB page, three ways: (1) a first write to each page, (2) madvise(MADV_POPULATE_WRITE) on
// the range and then the first writes, (3) the same on transparent huge pages (MADV_HUGEPAGE
// first). On a virtual machine the host may back a page only at its first write from user space,
// so (2) can cost nearly as much as (1). (1) and (2) opt out of huge pages; (3) prints nan where
// the kernel gives none.   Usage: page_touch [MIB]   Prints three numbers (us).
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace {

constexpr std::size_t k_huge_page = 2u << 20;
using Clock = std::chrono::steady_clock;

// A fresh mapping of `bytes`, aligned to a huge page.
volatile char* map(std::size_t bytes) {
  void* p = ::mmap(nullptr, bytes + k_huge_page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) std::exit(1);
  auto aligned = (reinterpret_cast<std::uintptr_t>(p) + k_huge_page - 1) & ~(k_huge_page - 1);
  return reinterpret_cast<volatile char*>(aligned);
}

// The AnonHugePages line of /proc/self/smaps_rollup, in KiB (0 if absent).
long anon_huge_kib() {
  long kib = 0;
  if (std::FILE* f = std::fopen("/proc/self/smaps_rollup", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "AnonHugePages: %ld kB", &kib) == 1) break;
    std::fclose(f);
  }
  return kib;
}

// Microseconds per page to prepare (huge: as huge pages, else explicitly not, whatever the
// system's default; populate: in one call) and write once. NaN when huge pages were asked for
// and the kernel gave none (transparent huge pages off).
double first_writes(std::size_t bytes, std::size_t page, bool populate, bool huge) {
  volatile char* p = map(bytes);
  auto* range = const_cast<char*>(p);
  long huge_before = anon_huge_kib();
  auto t0 = Clock::now();
  if (::madvise(range, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0) std::perror("madvise(MADV_[NO]HUGEPAGE)");
  if (populate && ::madvise(range, bytes, MADV_POPULATE_WRITE) != 0) {
    std::perror("madvise(MADV_POPULATE_WRITE)");
    std::exit(1);
  }
  for (std::size_t i = 0; i < bytes; i += page) p[i] = 1;
  auto t1 = Clock::now();
  if (huge && anon_huge_kib() == huge_before) return std::nan("");
  return std::chrono::duration<double, std::micro>(t1 - t0).count() / static_cast<double>(bytes / page);
}

} // namespace

int main(int argc, char** argv) {
  const std::size_t bytes = static_cast<std::size_t>(argc > 1 ? std::atoi(argv[1]) : 64) << 20;
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  double touch = first_writes(bytes, page, false, false);
  double populated = first_writes(bytes, page, true, false);
  double huge = first_writes(bytes, page, true, true);
  std::printf("%.2f %.2f %.2f\n", touch, populated, huge);
  return 0;
}
