# Shared by the benchmarks: a reproducible test tree and side-by-side timing with hyperfine.
# Each benchmark script sources this file and calls bench_compare / bench_single.

BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/akbuild-bench}
AKBUILD=${AKBUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/runner/cli/akbuild}
BENCH_RUNS=${BENCH_RUNS:-5}
# The probes built beside akbuild (bench/probes).
PROBES=${PROBES:-$(dirname "$AKBUILD")/../../bench}

bench_header() {
  printf '%-44s %12s %12s %8s  %s\n' "benchmark" "akbuild" "peer" "ratio" "target"
}

# The ~25,000-file, ~400 MB tree (deterministic; made once): prints its path.
bench_tree() {
  local dir="$BENCH_DIR/tree"
  if [ ! -f "$dir/.complete" ]; then
    rm -rf "$dir"
    /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/make_tree.py" "$dir" >&2
    touch "$dir/.complete"
  fi
  echo "$dir"
}

# Median wall time in seconds of a command, measured by hyperfine (warm-up run first). A command
# with no pipe or redirection is started directly (-N), not through a shell whose start-up
# hyperfine would have to estimate and subtract: that matters for commands of a few ms.
bench_median() {
  local json direct=()
  json=$(mktemp)
  case "${*: -1}" in
    *'|'* | *'>'* | *'<'* | *';'* | *'&'* | *'$('* | *'`'*) ;;
    *) direct=(-N) ;;
  esac
  # A failure prints nan, and hyperfine's complaint goes to stderr rather than nowhere.
  hyperfine --style none "${direct[@]}" --warmup "${BENCH_WARMUP:-1}" --runs "$BENCH_RUNS" --export-json "$json" "$@" >/dev/null || {
    rm -f "$json"; echo "nan"; return; }
  /usr/bin/python3 -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["results"][0]["median"])' "$json"
  rm -f "$json"
}

# bench_line NAME TARGET AKBUILD PEER [UNIT]: one line with both values and their ratio (UNIT
# after each value; seconds by default, "" for a plain number such as a size in bytes).
bench_line() {
  local ratio unit=${5-s}
  ratio=$(/usr/bin/python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print('%.3f' % (a/b) if b>0 else 'nan')" "$3" "$4")
  printf '%-44s %12s %12s %7sx  %s\n' "$1" "$3$unit" "$4$unit" "$ratio" "$2"
}

# bench_ms SECONDS: the same in milliseconds, one decimal ("nan" stays "nan").
bench_ms() {
  /usr/bin/python3 -c "import sys; print('%.1f' % (float(sys.argv[1]) * 1000))" "$1"
}

# bench_compare NAME TARGET AKBUILD_CMD PEER_CMD [PREPARE_CMD]: times both commands (PREPARE_CMD
# runs before every timed run of either) and prints their bench_line.
bench_compare() {
  local name=$1 target=$2 ours=$3 peer=$4 prepare=${5:-}
  local a b
  if [ -n "$prepare" ]; then
    a=$(bench_median --prepare "$prepare" "$ours"); b=$(bench_median --prepare "$prepare" "$peer")
  else
    a=$(bench_median "$ours"); b=$(bench_median "$peer")
  fi
  bench_line "$name" "$target" "$a" "$b"
}

# bench_single NAME TARGET VALUE UNIT: a figure with no peer (e.g. RSS, a cached layer's time).
bench_single() {
  printf '%-44s %12s %12s %8s  %s\n' "$1" "$3$4" "-" "-" "$2"
}
