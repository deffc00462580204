#!/usr/bin/env bash
# The example stack's workflow re-run with nothing changed, `akbuild act` through an
# `akbuild serve` daemon and in-process, beside Nix's no-op: `nix-build` of a chain of 7
# derivations that are all built already (a private chroot store, no substituters). Target: the
# daemon figure at most 3x Nix's. The first (building) runs of both happen once, untimed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
command -v nix-build >/dev/null || { echo "stack_rerun_daemon: nix-build is not installed" >&2; exit 1; }
stack="$BENCH_DIR/stack"
cache="$BENCH_DIR/stack-cache"
export PATH="$root/.tools/node_modules/.bin:$PATH"
if [ ! -f "$stack/image/index.json" ]; then
  rm -rf "$stack" "$cache"
  cp -r "$root/examples/stack" "$stack"
  (cd "$stack" && AKBUILD_EXECUTOR=none "$AKBUILD" --cache-dir "$cache" act -W .forgejo/workflows/build.yaml >/dev/null)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/akbuild-bench-rerun.XXXXXX")
daemon=""
cleanup() {
  if [ -n "$daemon" ]; then kill -TERM "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Seven derivations, each naming the output of the one before (so each is an input of the next).
cat > "$work/chain.nix" <<'NIX'
let
  link = n: prev: derivation {
    name = "chain-${toString n}";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "echo ${toString n} ${prev} > $out" ];
  };
  chain = n: if n == 0 then "" else link n (chain (n - 1));
in chain 7
NIX
# A chroot store builds in the sandbox, which must see /bin/sh; with no build users the builds
# run as the caller. Settings in NIX_CONFIG keep the timed command free of quoting, so hyperfine
# starts it directly.
export NIX_CONFIG=$'substituters =\nbuild-users-group =\nextra-sandbox-paths = /bin /lib /lib64 /usr'
nix_build="nix-build --store $work/nix --no-out-link $work/chain.nix"
$nix_build >/dev/null 2>&1
[ "$(nix-store --store "$work/nix" -qR "$($nix_build 2>/dev/null)" | wc -l)" = 7 ]

sock="$work/run/executor.sock"
"$AKBUILD" --cache-dir "$cache" serve --listen "unix:$sock" > "$work/serve.out" 2> "$work/serve.err" &
daemon=$!
for _ in $(seq 100); do grep -q "listening on" "$work/serve.out" 2>/dev/null && break; sleep 0.05; done

act="cd $stack && $AKBUILD --cache-dir $cache act -W .forgejo/workflows/build.yaml"
# Through the daemon: one warning line on stderr would mean it ran in-process after all.
AKBUILD_EXECUTOR="unix:$sock" bash -c "$act" > /dev/null 2> "$work/act.err"
[ ! -s "$work/act.err" ] || { echo "stack_rerun_daemon: $(cat "$work/act.err")" >&2; exit 1; }
nix=$(bench_median "$nix_build")
through=$(bench_median "AKBUILD_EXECUTOR=unix:$sock $act")
local_run=$(bench_median "AKBUILD_EXECUTOR=none $act")
# Keying alone: act -n plans every step and materializes nothing.
dry=$(bench_median "AKBUILD_EXECUTOR=unix:$sock $act -n")
bench_line "stack re-run, nothing changed, through the daemon" "<= 3x nix-build no-op (7 drvs)" "$through" "$nix"
bench_line "stack re-run, nothing changed, in-process" "- (same nix-build no-op)" "$local_run" "$nix"
bench_line "stack dry run (act -n), through the daemon" "- (same nix-build no-op)" "$dry" "$nix"
