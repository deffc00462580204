// What runner/core/memory.hh rests on: the cost of a first touch of an anonymous page, one page
// at a time, against populating the same number of pages in one madvise(MADV_POPULATE_WRITE).
// Prints both in microseconds per 4 KiB page.   Usage: page_touch [MIB]
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

int main(int argc, char** argv) {
  const std::size_t bytes = static_cast<std::size_t>(argc > 1 ? std::atoi(argv[1]) : 64) << 20;
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  using Clock = std::chrono::steady_clock;
  auto map = [&] {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::exit(1);
    return static_cast<volatile char*>(p);
  };
  volatile char* a = map();
  auto t0 = Clock::now();
  for (std::size_t i = 0; i < bytes; i += page) a[i] = 1;
  auto t1 = Clock::now();
  volatile char* b = map();
  auto t2 = Clock::now();
  if (::madvise(const_cast<char*>(b), bytes, MADV_POPULATE_WRITE) != 0) {
    std::perror("madvise(MADV_POPULATE_WRITE)");
    return 1;
  }
  auto t3 = Clock::now();
  double pages = static_cast<double>(bytes / page);
  std::printf("%.2f %.2f\n", std::chrono::duration<double, std::micro>(t1 - t0).count() / pages,
              std::chrono::duration<double, std::micro>(t3 - t2).count() / pages);
  return 0;
}
