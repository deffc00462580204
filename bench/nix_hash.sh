#!/usr/bin/env bash
# akbuild nix hash-path against nix-hash --type sha256 on the shared tree (warm page cache), the
# same with akbuild's stat cache answering, the same answered by an `akbuild serve` that watches
# the tree, and the peak RSS of hashing a 4 GiB sparse file.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

tree=$(bench_tree)
cache=$(mktemp -d "${TMPDIR:-/tmp}/akbuild-bench-cache.XXXXXX")
daemon=""
cleanup() { [ -n "$daemon" ] && kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null; rm -rf "$cache"; }
trap cleanup EXIT
# In-process unless a line says otherwise, whatever daemon the environment names.
export AKBUILD_EXECUTOR=none
# Warm the page cache and check both agree before timing anything.
ours=$("$AKBUILD" --cache-dir "$cache" nix hash-path --no-cache --base16 "$tree")
peer=$(nix-hash --type sha256 "$tree")
if [ "$ours" != "$peer" ]; then
  echo "nix_hash: akbuild says $ours, nix-hash says $peer" >&2
  exit 1
fi

bench_compare "nix hash-path, warm (vs nix-hash)" "<= 0.7x" \
  "$AKBUILD --cache-dir $cache nix hash-path --no-cache $tree" "nix-hash --type sha256 $tree"

# Record the tree once (it is older than the racy margin), then every run is a stat-only hit.
"$AKBUILD" --cache-dir "$cache" nix hash-path "$tree" >/dev/null
bench_compare "nix hash-path, stat cache hit (vs nix-hash)" "<= 0.1x" \
  "$AKBUILD --cache-dir $cache nix hash-path $tree" "nix-hash --type sha256 $tree"

# The same question put to a daemon that hashed the tree once and has watched it since (inotify):
# no stat walk while nothing changed.
sock="$cache/run/executor.sock"
"$AKBUILD" --cache-dir "$cache/daemon" serve --listen "unix:$sock" > "$cache/serve.out" 2> "$cache/serve.err" &
daemon=$!
for _ in $(seq 100); do grep -q "listening on" "$cache/serve.out" 2>/dev/null && break; sleep 0.05; done
AKBUILD_EXECUTOR="unix:$sock" "$AKBUILD" nix hash-path "$tree" >/dev/null
if ! AKBUILD_EXECUTOR="unix:$sock" "$AKBUILD" -v nix hash-path "$tree" 2>&1 >/dev/null | grep -q "(watch)"; then
  echo "nix_hash: akbuild serve did not answer from its watch" >&2
  exit 1
fi
(
  export AKBUILD_EXECUTOR="unix:$sock"
  bench_compare "hash-path via akbuild serve (vs nix-hash)" "<= 0.1x" \
    "$AKBUILD nix hash-path $tree" "nix-hash --type sha256 $tree"
)

# The floor under the stat cache hit: lstat every entry of the tree on as many threads as akbuild's
# scan uses (the cores, at least 2 and at most 8), nothing else.
threads=$(nproc); threads=$(( threads < 2 ? 2 : threads > 8 ? 8 : threads ))
floor=$(bench_median "$PROBES/stat_walk $tree $threads")
bench_single "bare lstat walk of the tree, $threads threads (floor)" "-" "$(bench_ms "$floor")" "ms"
# And what every akbuild command pays before and after its work: start-up and exit.
bench_compare "start and exit: akbuild --version vs true" "-" "$AKBUILD --version" "/bin/true"

sparse="$cache/sparse-4g"
truncate -s 4G "$sparse"
rss=$( { /usr/bin/time -v "$AKBUILD" --cache-dir "$cache" nix hash-path --no-cache "$sparse" >/dev/null; } 2>&1 |
  awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }')
bench_single "nix hash-path, 4 GiB sparse file, peak RSS" "< 64 MiB" "$((rss / 1024))" "MiB"
