#pragma once
// The wall clock in nanoseconds since the epoch, the unit file times are compared in (stat
// records, the stat cache's racy-clean rule, the age of cache entries).

#include <cstdint>

#include <time.h>

namespace akbuild {

inline std::int64_t wall_clock_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

} // namespace akbuild
