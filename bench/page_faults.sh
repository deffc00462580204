#!/usr/bin/env bash
# The cost runner/core/memory.hh is about: making fresh anonymous memory usable, per 4 KiB page —
# a first write to each page, populating the range in one madvise call and then writing, and
# the same on transparent huge pages (median of BENCH_RUNS runs of bench/probes/page_touch over
# 64 MiB).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
read -r touch populated huge < <(for _ in $(seq "$BENCH_RUNS"); do "$PROBES/page_touch" 64; done |
  /usr/bin/python3 -c 'import sys, statistics as s; r=[l.split() for l in sys.stdin]; print(*("%.2f" % s.median(float(x[i]) for x in r) for i in range(3)))')
bench_single "anonymous page, first write" "-" "$touch" " us"
bench_single "anonymous page, populated, then written" "-" "$populated" " us"
bench_single "huge page populated, then written (per 4K)" "-" "$huge" " us"
