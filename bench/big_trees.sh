#!/usr/bin/env bash
# Big trees through steps, beside what the file system must do anyway, in the same run:
#  (a) a hit restoring the ~25,000-file bench tree as an output (`out/` made by `tar x`) into
#      the workspace, against `cp -a`, `cp -al` and `tar x` of the same tree — target <= 0.5x cp -a;
#  (b) the same hit with the output already present and unchanged — target <= 0.1 s (in-process
#      and through a daemon);
#  (c) a miss of that step, whose tool is `tar x`: the miss minus `tar x` alone — target <= 1x cp -a;
#      and a miss whose tool is `cp -a src/. out/` over the tree as inputs, minus `cp -a`;
#  (d) staging the tree as a step's input directory (`inputs: src/**`, `run: true`): the miss
#      minus the hit of the same step (keying is in both) — target <= 0.2 s, beside `cp -al`;
#  (e) a whole `oci-image` step of the tree from a cold cache against `tar | gzip -6` — <= 0.3x.
# BENCH_RUNS runs each (3 by default here: every run moves 400 MB).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
export AKBUILD_EXECUTOR=none
BENCH_RUNS=${BENCH_BIG_RUNS:-3}

tree=$(bench_tree)
work=$(mktemp -d "${TMPDIR:-/tmp}/akbuild-bench-big.XXXXXX")
# `|| true` throughout: under set -e a failing command in the trap would make the exit status 1.
trap 'chmod -R u+w "$work" 2>/dev/null || true; rm -rf "$work"' EXIT
ws="$work/ws" cache="$work/cache" peer="$work/peer"
mkdir -p "$ws"
tar -C "$tree" -cf "$ws/src.tar" .
cp -a "$tree" "$ws/src"

restore=("$AKBUILD" --cache-dir "$cache" step exec -C "$ws" --id restore --with inputs=src.tar
         --with 'run=tar xf src.tar -C out' --with outputs=out/)
printf -v restore_cmd '%q ' "${restore[@]}"
"${restore[@]}" >/dev/null
# Every prepare ends with sync: the file system's work for a removed tree (this disk is mounted
# with discard) is then not charged to whichever command comes next. Through bash -c, since
# hyperfine runs a prepare without a shell when the command has none (-N).
clear_peer="bash -c 'rm -rf $peer; sync'"

hit=$(bench_median --prepare "bash -c 'rm -rf $ws/out; sync'" "$restore_cmd")
cp_a=$(bench_median --prepare "$clear_peer" "cp -a $tree $peer")
cp_al=$(bench_median --prepare "$clear_peer" "cp -al $tree $peer")
tar_x=$(bench_median --prepare "$clear_peer" "tar xf $ws/src.tar --one-top-level=$peer")
bench_line "hit restoring 25k files (vs cp -a)" "<= 0.5x" "$hit" "$cp_a"
bench_line "hit restoring 25k files (vs cp -al)" "-" "$hit" "$cp_al"
bench_line "hit restoring 25k files (vs tar x)" "-" "$hit" "$tar_x"

"${restore[@]}" >/dev/null
present=$(bench_median "$restore_cmd")
bench_single "hit, output present and unchanged" "<= 0.1 s" "$present" "s"
# The same through a daemon, whose engine remembers outputs found in place while inotify sees no
# change under them: after its first look, no walk of the tree.
sock="$work/serve.sock"
"$AKBUILD" --cache-dir "$cache" serve --listen "unix:$sock" > "$work/serve.out" 2>&1 &
daemon=$!
trap 'kill $daemon 2>/dev/null || true; wait $daemon 2>/dev/null || true; chmod -R u+w "$work" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$work/serve.out" 2>/dev/null && break; sleep 0.05; done
env AKBUILD_EXECUTOR="unix:$sock" "${restore[@]}" >/dev/null
present_daemon=$(bench_median "env AKBUILD_EXECUTOR=unix:$sock $restore_cmd")
bench_single "hit, output present and unchanged, via daemon" "<= 0.1 s" "$present_daemon" "s"
kill "$daemon"; wait "$daemon" 2>/dev/null || true

# A miss: the action record and blobs go, the stat cache stays (src.tar is not hashed again).
miss=$(bench_median --prepare "bash -c 'rm -rf $ws/out $cache/ac $cache/cas; sync'" "$restore_cmd")
over=$(/usr/bin/python3 -c "import sys; print('%.4f' % (float(sys.argv[1]) - float(sys.argv[2])))" "$miss" "$tar_x")
bench_line "miss (tool tar x) minus tar x (vs cp -a)" "<= 1.0x" "$over" "$cp_a"

copy=("$AKBUILD" --cache-dir "$cache" step exec -C "$ws" --id copy --with 'inputs=src/**'
      --with 'run=cp -a src/. out2/' --with outputs=out2/)
printf -v copy_cmd '%q ' "${copy[@]}"
"${copy[@]}" >/dev/null
miss_cp=$(bench_median --prepare "bash -c 'rm -rf $ws/out2 $cache/ac $cache/cas; sync'" "$copy_cmd")
# The tool by hand on the same files (whose pages the step just read), not on the bench tree.
cp_src=$(bench_median --prepare "$clear_peer" "cp -a $ws/src/. $peer")
over_cp=$(/usr/bin/python3 -c "import sys; print('%.4f' % (float(sys.argv[1]) - float(sys.argv[2])))" "$miss_cp" "$cp_src")
bench_line "miss (tool cp -a, 25k inputs) minus cp -a" "<= 1.0x" "$over_cp" "$cp_src"

stage=("$AKBUILD" --cache-dir "$cache" step exec -C "$ws" --id stage --with 'inputs=src/**' --with run=true)
printf -v stage_cmd '%q ' "${stage[@]}"
"${stage[@]}" >/dev/null
stage_hit=$(bench_median "$stage_cmd")
stage_miss=$(bench_median --prepare "rm -rf $cache/ac" "$stage_cmd")
staging=$(/usr/bin/python3 -c "import sys; print('%.4f' % (float(sys.argv[1]) - float(sys.argv[2])))" "$stage_miss" "$stage_hit")
bench_line "staging a 25k-file input dir (vs cp -al)" "<= 0.2 s" "$staging" "$cp_al"

image=("$AKBUILD" --cache-dir "$work/cold" step oci-image -C "$ws" --id image
       --with 'layers=[{"from": "src/"}]' --with tag=t --with layout=image/)
printf -v image_cmd '%q ' "${image[@]}"
gz="tar --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner -C $tree -cf - . | gzip -6 > $work/peer.tar.gz"
ours=$(bench_median --prepare "bash -c 'rm -rf $work/cold $ws/image; sync'" "$image_cmd")
theirs=$(bench_median "bash -c '$gz'")
bench_line "oci-image step, cold cache (vs tar | gzip -6)" "<= 0.3x" "$ours" "$theirs"
