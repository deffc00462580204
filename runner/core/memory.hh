#pragma once
// Heap tuning for bursts of small allocations (25,000 paths, digests and manifest lines per step).
// On virtual machines fresh anonymous memory is dear: a first write to a 4 KiB page cost ~14 us
// on a 2-core KVM guest, and still ~8 us when the range was populated in one madvise call first
// (the host backs a page at its first write). Populated as transparent huge pages, the same
// memory cost ~0.5 us per 4 KiB. `bench/run page_faults` measures the three on the machine at
// hand; a fresh process's first scan of the bench tree went from ~60 to ~40 ms with huge pages.

#include <cstddef>

namespace akbuild {

// Keeps freed memory in the heap for reuse instead of returning it to the kernel (and faulting
// it in again): large blocks come from the heap too, and all threads share it. Call once, first
// thing in main.
void tune_heap();

// Makes the next `bytes` of allocations come from pages already populated, as transparent huge
// pages where the kernel allows them (madvise mode or always), in one call instead of a fault
// per page. Best effort: does nothing where the kernel lacks MADV_POPULATE_WRITE (before
// Linux 5.14).
void prefault_heap(std::size_t bytes);

} // namespace akbuild
