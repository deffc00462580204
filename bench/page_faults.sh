#!/usr/bin/env bash
# The cost runner/core/memory.hh is about: a first touch of an anonymous page, one page at a
# time, against populating pages in one madvise call (microseconds per 4 KiB page, median of
# BENCH_RUNS runs of bench/probes/page_touch over 64 MiB).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
read -r touch populate < <(for _ in $(seq "$BENCH_RUNS"); do "$PROBES/page_touch" 64; done |
  /usr/bin/python3 -c 'import sys, statistics as s; r=[l.split() for l in sys.stdin]; print(s.median(float(a) for a,_ in r), s.median(float(b) for _,b in r))')
bench_single "anonymous page, first touch" "-" "$(printf '%.2f' "$touch")" " us"
bench_single "anonymous page, populated in one call" "-" "$(printf '%.2f' "$populate")" " us"
