#!/usr/bin/env bash
# A job environment of forgejo-runner's backend plugin from the runner's side (a C++ gRPC client
# on the unix socket, bench/probes/plugin_life): its whole life (Create, Start, Exec `true`,
# Remove) p50 and p99, target p50 <= 20 ms, beside a bubblewrap with the same binds started by
# hand (and `docker run --rm IMAGE true` when a Docker daemon answers and already holds an image;
# nothing is pulled); and an Exec round trip of `true` in a live environment beside a bare
# posix_spawn of it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CALLS=${BENCH_CALLS:-200}

work=$(mktemp -d "${TMPDIR:-/tmp}/akbuild-bench-plugin.XXXXXX")
daemon=""
cleanup() { [ -n "$daemon" ] && kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export AKBUILD_CACHE_DIR="$work/cache"
sock="$work/run/akbuild.sock"
"$AKBUILD" serve --listen "unix:$sock" --state-dir "$work/state" > "$work/serve.out" 2> "$work/serve.err" &
daemon=$!
for _ in $(seq 100); do grep -q "listening on" "$work/serve.out" 2>/dev/null && break; sleep 0.05; done

docker_image=""
if command -v docker >/dev/null && timeout 5 docker info >/dev/null 2>&1; then
  docker_image=$(docker images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep -v '<none>' | head -1 || true)
fi

# The same binds by hand: what the environment's sandbox is, without the daemon around it.
hand="$work/hand"
mkdir -p "$hand/root" "$hand/tmp" "$hand/home"
args=("$(command -v bwrap)" --unshare-all)
[ "$(id -u)" = 0 ] && args+=(--unshare-user --uid 65534 --gid 65534)
args+=(--cap-drop ALL --share-net --die-with-parent --proc /proc --dev /dev)
for d in /usr /bin /sbin /lib /lib64 /lib32 /libx32; do
  if [ -L "$d" ]; then args+=(--symlink "$(readlink "$d")" "$d")
  elif [ -d "$d" ]; then args+=(--ro-bind "$d" "$d"); fi
done
for e in /etc/passwd /etc/group /etc/hosts /etc/nsswitch.conf /etc/ld.so.cache /etc/ld.so.conf /etc/ld.so.conf.d \
         /etc/ssl/certs /etc/ca-certificates /etc/alternatives /etc/localtime /etc/resolv.conf; do
  args+=(--ro-bind-try "$e" "$e")
done
args+=(--ro-bind-try /nix /nix --bind "$hand/tmp" /tmp --bind "$hand" "$hand" --ro-bind "$AKBUILD" /run/akbuild/bin/akbuild
       --chdir "$hand/root" -- true)

# A C++ gRPC client, as the runner's Go client costs little per call (a Python one adds about
# half a millisecond to each of the four).
read -r life50 life99 exec50 hand50 fork50 < <("$PROBES/plugin_life" "$sock" "$CALLS" -- "${args[@]}")
bench_line "plugin env life (Create..Remove), p50" "<= 20ms" "$life50" "$hand50" ms
printf '%-44s %12s %12s %8s  %s\n' "plugin env life (Create..Remove), p99" "${life99}ms" "-" "-" "-"
if [ -n "$docker_image" ]; then
  docker_runs=$(( CALLS / 20 > 5 ? CALLS / 20 : 5 ))
  t0=$(date +%s%N)
  for _ in $(seq "$docker_runs"); do docker run --rm "$docker_image" true >/dev/null; done
  docker50=$(/usr/bin/python3 -c "import sys; print('%.2f' % ((int(sys.argv[2]) - int(sys.argv[1])) / 1e6 / int(sys.argv[3])))" \
    "$t0" "$(date +%s%N)" "$docker_runs")
  bench_line "plugin env life vs docker run --rm (mean)" "-" "$life50" "$docker50" ms
fi
bench_line "plugin Exec true round trip vs fork/exec, p50" "-" "$exec50" "$fork50" ms
