#!/usr/bin/env bash
# `akbuild pin update` of the example stack's whole workflow with nothing changed (every fetch
# reused, nothing fetched, akbuild.lock left as it is) beside running the same fetch steps
# (web-deps, venv) through `akbuild act`, all cache hits. The first (building) runs happen once,
# untimed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
stack="$BENCH_DIR/pin-stack"
cache="$BENCH_DIR/pin-stack-cache"
export PATH="$root/.tools/node_modules/.bin:$PATH" AKBUILD_EXECUTOR=none
if [ ! -f "$stack/.fetch-steps.yaml" ]; then
  rm -rf "$stack" "$cache"
  cp -r "$root/examples/stack" "$stack"
  # The fetch steps of build.yaml alone, as `akbuild act` runs them.
  cat > "$stack/.fetch-steps.yaml" <<'YAML'
name: fetch
on: push
jobs:
  image:
    runs-on: nix-container-builder
    steps:
      - id: web-deps
        uses: akbuild/step@v1
        with: { kind: node-deps, directory: web }
      - id: venv
        uses: akbuild/step@v1
        with: { kind: python-deps, directory: py, backend: pip, python: /usr/bin/python3, find-links: py/wheels }
YAML
  (cd "$stack" && "$AKBUILD" --cache-dir "$cache" act -W .forgejo/workflows/build.yaml >/dev/null)
  # Once, so that the pins are known by the inputs they were fetched from.
  (cd "$stack" && "$AKBUILD" --cache-dir "$cache" pin update -W .forgejo/workflows/build.yaml >/dev/null)
fi
bench_compare "pin update, nothing changed (vs act of them)" "<= 1.5x" \
  "$AKBUILD --cache-dir $cache pin update -C $stack -W .forgejo/workflows/build.yaml --check" \
  "$AKBUILD --cache-dir $cache act -C $stack -W .fetch-steps.yaml"
