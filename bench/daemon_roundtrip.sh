#!/usr/bin/env bash
# Round trip of a cached step through `akbuild serve` over a unix socket: p50 and p99 of an
# Execute call from a Python grpcio client (target p50 < 5 ms on loopback), next to the same
# step run by `akbuild step` through the daemon and in-process (AKBUILD_EXECUTOR=none).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CALLS=${BENCH_CALLS:-300}

work=$(mktemp -d "${TMPDIR:-/tmp}/akbuild-bench-daemon.XXXXXX")
daemon=""
cleanup() { [ -n "$daemon" ] && kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/ws" "$work/gen"
export AKBUILD_CACHE_DIR="$work/cache"
sock="$work/run/executor.sock"
"$AKBUILD" serve --listen "unix:$sock" > "$work/serve.out" 2> "$work/serve.err" &
daemon=$!
for _ in $(seq 100); do grep -q "listening on" "$work/serve.out" 2>/dev/null && break; sleep 0.05; done

protoc --proto_path="$ROOT/proto" --python_out="$work/gen" akbuild/v1/executor.proto
# Warm the cache, then time CALLS Execute round trips of the now cached step.
stats=$(/usr/bin/python3 - "$work/gen" "$sock" "$work/ws" "$CALLS" <<'PY'
import sys, time
sys.path.insert(0, sys.argv[1])
import grpc
from akbuild.v1 import executor_pb2 as ex
channel = grpc.insecure_channel("unix:" + sys.argv[2])
execute = channel.unary_stream("/akbuild.v1.Executor/Execute", request_serializer=ex.ExecuteRequest.SerializeToString,
                               response_deserializer=ex.ExecuteEvent.FromString)
req = ex.ExecuteRequest(workspace=sys.argv[3])
req.options.sandbox = ex.SANDBOX_MODE_OFF
step = req.steps.add(id="bench", kind="exec")
getattr(step, "with")["run"] = "echo bench > bench.txt"
getattr(step, "with")["outputs"] = "bench.txt"
assert list(execute(req))[-1].result.success
times = []
for _ in range(int(sys.argv[4])):
    t = time.perf_counter()
    events = list(execute(req))
    times.append((time.perf_counter() - t) * 1000)
    assert events[-1].result.steps[0].cache_hit
times.sort()
print("%.2f %.2f" % (times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))]))
PY
)
read -r p50 p99 <<< "$stats"

bench_single "daemon Execute round trip, cached step, p50" "< 5ms" "$p50" "ms"
bench_single "daemon Execute round trip, cached step, p99" "-" "$p99" "ms"
step_cmd="cd $work/ws && $AKBUILD step exec --id bench --with run='echo bench > bench.txt' --with outputs=bench.txt"
bench_compare "akbuild step (cached) via daemon vs in-process" "-" \
  "AKBUILD_EXECUTOR=unix:$sock $step_cmd" "AKBUILD_EXECUTOR=none $step_cmd"
