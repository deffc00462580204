#pragma once
// Heap tuning for bursts of small allocations (25,000 paths, digests and manifest lines per step).
// On virtual machines a first touch of an anonymous page can cost ~12 us (a trap to the
// hypervisor); populating the same pages with one madvise call costs ~1.6 us each. Measured
// with /tmp-free code in bench/: see the closing figures of bench/step_noop.sh.

#include <cstddef>

namespace akbuild {

// Keeps freed memory in the heap for reuse instead of returning it to the kernel (and faulting
// it in again): large blocks come from the heap too. Call once, first thing in main.
void tune_heap();

// Makes the next `bytes` of allocations on this thread come from pages already populated, in
// one call instead of a fault per page. Best effort: does nothing where the kernel lacks
// MADV_POPULATE_WRITE (before Linux 5.14).
void prefault_heap(std::size_t bytes);

} // namespace akbuild
