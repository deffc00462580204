#!/usr/bin/env bash
# akbuild step over the ~25,000-file / 400 MB bench tree:
#  (a) a no-op `akbuild step exec` (inputs '**', warm stat cache, result cached) side by side
#      with `git status` on a git repository of the same tree — target <= 1.5x;
#  (b) first hashing of the tree (fresh cache dir every run, so a cold stat cache; warm page
#      cache), timed with `akbuild step -n` (keys the step, runs nothing) against
#      `tar -cf - tree | openssl dgst -sha256`, and the throughput — target >= 1 GB/s; and the
#      same with AKBUILD_IO_URING=0 (plain reads), to show what io_uring gives.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
# In-process: a daemon on the default socket would run the step with its own cache dir.
export AKBUILD_EXECUTOR=none

tree=$(bench_tree)
ws="$BENCH_DIR/step-ws"
if [ ! -f "$ws/.git/akbuild-bench-complete" ]; then
  rm -rf "$ws"
  cp -a "$tree" "$ws"
  rm -f "$ws/.complete"
  git -C "$ws" init -q
  git -C "$ws" add -A
  git -C "$ws" -c user.name=bench -c user.email=bench@localhost commit -q -m tree
  touch "$ws/.git/akbuild-bench-complete"
fi

# A cache of this run's own (one left by an older akbuild could hold records of another shape).
warm=$(mktemp -d "${TMPDIR:-/tmp}/akbuild-bench-warm.XXXXXX")
trap 'rm -rf "$warm"' EXIT
step=("$AKBUILD" --cache-dir "$warm" step exec -C "$ws" --sandbox off --with 'inputs=**' --with run=true)
"${step[@]}" >/dev/null
git -C "$ws" status --porcelain >/dev/null
printf -v ours '%q ' "${step[@]}"
bench_compare "step exec no-op (25k files, warm stat cache)" "<= 1.5x" \
  "$ours" "git -C $ws status --porcelain"

cold="$BENCH_DIR/step-cache-cold"
bytes=$(find "$ws" -path "$ws/.git" -prune -o -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
dry=("$AKBUILD" --cache-dir "$cold" step exec -n -C "$ws" --with 'inputs=**' --with run=true)
printf -v ours '%q ' "${dry[@]}"
# Warm the page cache.
tar -cf - --exclude=.git -C "$ws" . | openssl dgst -sha256 >/dev/null
ours_median=$(bench_median --prepare "rm -rf $cold" "$ours")
peer_median=$(bench_median --prepare "rm -rf $cold" "tar -cf - --exclude=.git -C $ws . | openssl dgst -sha256")
bench_line "first hashing (cold stat cache) vs tar|sha256" "-" "$ours_median" "$peer_median"
gbps=$(/usr/bin/python3 -c "import sys; print('%.2f' % (int(sys.argv[1]) / float(sys.argv[2]) / 1e9))" "$bytes" "$ours_median")
bench_single "first hashing throughput (cold stat cache)" ">= 1 GB/s" "$gbps" " GB/s"
# What batching the small files through io_uring gives: the same with plain reads.
plain_median=$(AKBUILD_IO_URING=0 bench_median --prepare "rm -rf $cold" "$ours")
bench_line "first hashing: io_uring vs plain reads" "-" "$ours_median" "$plain_median"
