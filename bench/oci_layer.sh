#!/usr/bin/env bash
# An image layer of the shared tree against what a user would run instead, on the same number of
# threads: akbuild's gzip layer (1 MiB gzip members compressed on every core) against
# `tar --sort=name ... | pigz -6` and `| pigz -1` (pigz -p = the core count), its size against
# pigz -1's (akbuild's must be no larger); its zstd layer against `tar ... | zstd -T0 -3`; and an
# unchanged layer, keying included, answered by the layer cache.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

tree=$(bench_tree)
work=$(mktemp -d "${TMPDIR:-/tmp}/akbuild-bench-oci.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar_cmd="tar --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner -C $tree -cf - ."
threads=$(nproc)

# Sizes (one run each), and a check that the layer is a valid gzip of a tar with every file.
"$AKBUILD" --cache-dir "$work/cache" oci layer --no-cache "$tree" --out "$work/layer.tar.gz" >/dev/null
gzip -t "$work/layer.tar.gz"
ours_gz=$(stat -c %s "$work/layer.tar.gz")
pigz6=$($tar_cmd | pigz -n -6 -p "$threads" | wc -c)
pigz1=$($tar_cmd | pigz -n -1 -p "$threads" | wc -c)
bench_line "oci layer gzip size (vs pigz -1)" "<= 1.0x (pigz -6: $pigz6)" "$ours_gz" "$pigz1" ""

bench_compare "oci layer gzip (vs tar | pigz -6 -p $threads)" "<= 0.5x" \
  "$AKBUILD --cache-dir $work/cache oci layer --no-cache $tree --out $work/g.tar.gz" \
  "bash -c '$tar_cmd | pigz -n -6 -p $threads > $work/peer.tar.gz'"
bench_compare "oci layer gzip (vs tar | pigz -1 -p $threads)" "-" \
  "$AKBUILD --cache-dir $work/cache oci layer --no-cache $tree --out $work/g.tar.gz" \
  "bash -c '$tar_cmd | pigz -n -1 -p $threads > $work/peer.tar.gz'"

"$AKBUILD" --cache-dir "$work/cache" oci layer --no-cache --compression zstd "$tree" --out "$work/layer.tar.zst" >/dev/null
ours_zst=$(stat -c %s "$work/layer.tar.zst")
peer_zst=$($tar_cmd | zstd -q -T0 -3 | wc -c)
bench_line "oci layer zstd size (vs zstd -T0 -3)" "-" "$ours_zst" "$peer_zst" ""
bench_compare "oci layer zstd (vs tar | zstd -T0 -3)" "<= 1.0x" \
  "$AKBUILD --cache-dir $work/cache oci layer --no-cache --compression zstd $tree --out $work/z.tar.zst" \
  "bash -c '$tar_cmd | zstd -q -T0 -3 > $work/peer.tar.zst'"

# An unchanged layer, keying included: the tree's NAR hash (what a step output's digest is; the
# stat cache answers it for unchanged files) keys the layer cache, which then links the blob.
# Both are timed, as a rebuild pays both. Fill the caches once first.
key_and_layer="id=\$($AKBUILD --cache-dir $work/cache nix hash-path $tree) && $AKBUILD --cache-dir $work/cache oci layer $tree --content-id \$id --out $work/c.tar.gz"
bash -c "$key_and_layer" >/dev/null
cached=$(bench_median "bash -c '$key_and_layer'")
bench_single "oci layer, unchanged (keying + layer cache hit)" "< 50 ms" "$(bench_ms "$cached")" "ms"
# `akbuild oci layer` without --content-id: a stat fingerprint of all 25,000 entries decides
# (about the cost of one stat scan; see the nix hash-path stat-cache figure). Not a build's path:
# there a layer has a step output's digest, or hashes the content of its workspace sources.
"$AKBUILD" --cache-dir "$work/cache" oci layer "$tree" --out "$work/s0.tar.gz" >/dev/null
scanned=$(bench_median "$AKBUILD --cache-dir $work/cache oci layer $tree --out $work/s.tar.gz")
bench_single "oci layer, unchanged, no --content-id" "-" "$(bench_ms "$scanned")" "ms"
