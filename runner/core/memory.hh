#pragma once
// Heap tuning for bursts of small allocations (25,000 paths, digests and manifest lines per step).
// On virtual machines a first touch of an anonymous page can cost ~12 us (a trap to the
// hypervisor); populating the same pages with one madvise call costs ~1.6 us each (measured on
// a 2-core KVM guest; bench/step_noop.sh and bench/nix_hash.sh show the effect).

#include <cstddef>

namespace akbuild {

// Keeps freed memory in the heap for reuse instead of returning it to the kernel (and faulting
// it in again): large blocks come from the heap too, and all threads share it. Call once, first
// thing in main.
void tune_heap();

// Makes the next `bytes` of allocations come from pages already populated, in one call instead
// of a fault per page. Best effort: does nothing where the kernel lacks
// MADV_POPULATE_WRITE (before Linux 5.14).
void prefault_heap(std::size_t bytes);

} // namespace akbuild
