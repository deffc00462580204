#include "runner/core/memory.hh"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace akbuild {

namespace {
// glibc's ceiling for the mmap threshold on 64-bit.
constexpr std::size_t k_mmap_threshold = 32u << 20;
// x86-64's transparent huge page.
constexpr std::uintptr_t k_huge_page = 2u << 20;
} // namespace

void tune_heap() {
  // One arena for every thread, so that memory populated by prefault_heap serves them all (the
  // parallel scans take their blocks from it and carve them up without a lock, runner/core/scan).
  ::mallopt(M_ARENA_MAX, 1);
  ::mallopt(M_MMAP_THRESHOLD, static_cast<int>(k_mmap_threshold));
  ::mallopt(M_TRIM_THRESHOLD, static_cast<int>(4 * k_mmap_threshold));
  ::mallopt(M_TOP_PAD, 1 << 20);
}

void prefault_heap(std::size_t bytes) {
  bytes = std::min(bytes, k_mmap_threshold - k_huge_page);
  if (bytes < (1u << 20)) return;
  // Taken from this thread's arena and given back at once: the range stays in the arena (see
  // tune_heap) and the next allocations are carved from it. One huge page more, to align.
  void* volatile block = std::malloc(bytes + k_huge_page);
  if (!block) return;
  auto begin = reinterpret_cast<std::uintptr_t>(block);
  auto end = begin + bytes + k_huge_page;
  auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  auto huge_begin = (begin + k_huge_page - 1) & ~(k_huge_page - 1);
  auto huge_end = end & ~(k_huge_page - 1);
  if (huge_end > huge_begin)
    (void)::madvise(reinterpret_cast<void*>(huge_begin), huge_end - huge_begin, MADV_HUGEPAGE);
  auto start = (begin + page - 1) & ~(page - 1);
  end &= ~(page - 1);
  if (end > start) (void)::madvise(reinterpret_cast<void*>(start), end - start, MADV_POPULATE_WRITE);
  std::free(block);
}

} // namespace akbuild
