#!/usr/bin/env bash
# An image layer of the shared tree: akbuild's gzip layer (1 MiB gzip members compressed on
# every core) against `tar --sort=name ... | gzip -n -6`, with the compressed sizes of both and
# of `gzip -1` (akbuild's must be no larger); its zstd layer against `tar ... | zstd -3`; and an
# unchanged layer answered by the layer cache.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

tree=$(bench_tree)
work=$(mktemp -d "${TMPDIR:-/tmp}/akbuild-bench-oci.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar_cmd="tar --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner -C $tree -cf - ."

# Sizes (one run each), and a check that the layer is a valid gzip of a tar with every file.
"$AKBUILD" --cache-dir "$work/cache" oci layer --no-cache "$tree" --out "$work/layer.tar.gz" >/dev/null
gzip -t "$work/layer.tar.gz"
ours_gz=$(stat -c %s "$work/layer.tar.gz")
peer6=$($tar_cmd | gzip -n -6 | wc -c)
peer1=$($tar_cmd | gzip -n -1 | wc -c)
bench_line "oci layer gzip size (vs gzip -1)" "<= 1.0x (gzip -6: $peer6)" "$ours_gz" "$peer1" ""

bench_compare "oci layer gzip (vs tar | gzip -6)" "<= 0.25x" \
  "$AKBUILD --cache-dir $work/cache oci layer --no-cache $tree --out $work/g.tar.gz" \
  "bash -c '$tar_cmd | gzip -n -6 > $work/peer.tar.gz'"

"$AKBUILD" --cache-dir "$work/cache" oci layer --no-cache --compression zstd "$tree" --out "$work/layer.tar.zst" >/dev/null
ours_zst=$(stat -c %s "$work/layer.tar.zst")
peer_zst=$($tar_cmd | zstd -q -3 | wc -c)
bench_line "oci layer zstd size (vs zstd -3)" "-" "$ours_zst" "$peer_zst" ""
bench_compare "oci layer zstd (vs tar | zstd -3)" "<= 1.0x" \
  "$AKBUILD --cache-dir $work/cache oci layer --no-cache --compression zstd $tree --out $work/z.tar.zst" \
  "bash -c '$tar_cmd | zstd -q -3 > $work/peer.tar.zst'"

# An unchanged layer: in a build its source is a step output whose tree digest the engine knows,
# and the layer cache is keyed by it (here the tree's NAR hash stands in for that digest). Fill
# the cache once; every timed run then only looks the key up and links the blob.
id=$("$AKBUILD" --cache-dir "$work/cache" nix hash-path "$tree")
"$AKBUILD" --cache-dir "$work/cache" oci layer "$tree" --content-id "$id" --out "$work/c0.tar.gz" >/dev/null
cached=$(bench_median "$AKBUILD --cache-dir $work/cache oci layer $tree --content-id $id --out $work/c.tar.gz")
bench_single "oci layer, unchanged (layer cache hit)" "< 50 ms" "$(bench_ms "$cached")" "ms"
# `akbuild oci layer` without --content-id: a stat fingerprint of all 25,000 entries decides
# (about the cost of one stat scan; see the nix hash-path stat-cache figure). Not a build's path:
# there a layer has a step output's digest, or hashes the content of its workspace sources.
"$AKBUILD" --cache-dir "$work/cache" oci layer "$tree" --out "$work/s0.tar.gz" >/dev/null
scanned=$(bench_median "$AKBUILD --cache-dir $work/cache oci layer $tree --out $work/s.tar.gz")
bench_single "oci layer, unchanged, no --content-id" "-" "$(bench_ms "$scanned")" "ms"
