#!/usr/bin/env bash
# What `akbuild runner daemon` adds around a task's steps, against the Forgejo stand-in of the
# tests on loopback: from the FetchTask answer to the first step's start, plus from the last
# step's end to the final state reaching the server (logs closed first). p50 and p90 over
# BENCH_TASKS tasks of three one-line `run:` steps, run one after another; target p50 < 50 ms.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TASKS=${BENCH_TASKS:-30}

work=$(mktemp -d "${TMPDIR:-/tmp}/akbuild-bench-runner.XXXXXX")
trap 'rm -rf "$work"' EXIT
stats=$(cd "$work" && AKBUILD_SOURCE_ROOT="$ROOT" HOME="$work" TMPDIR="$work" AKBUILD_CACHE_DIR="$work/cache" \
  AKBUILD_EXECUTOR=none PYTHONPATH="$ROOT/tests/forgejo" /usr/bin/python3 - "$AKBUILD" "$TASKS" <<'PY'
import signal, subprocess, sys
from forgejo_standin import Server
akbuild, tasks = sys.argv[1], int(sys.argv[2])
server = Server()
f = server.forgejo
subprocess.run([akbuild, "runner", "register", "--instance", server.url, "--token", "reg-token-0123456789",
                "--name", "bench"], check=True, capture_output=True)
with open("config.yml", "w") as c:
    c.write("runner:\n  fetch_interval: 20ms\n")
daemon = subprocess.Popen([akbuild, "runner", "-c", "config.yml", "daemon"], stderr=subprocess.DEVNULL)
payload = "on: push\njobs:\n  b:\n    runs-on: x\n    steps:\n" + "".join(
    "      - run: echo step %d\n" % i for i in range(3))
start, end = [], []
for _ in range(tasks):
    t = f.add_task(payload)
    assert f.wait_finished(t, 60), "task %d did not finish" % t
    task = f.tasks[t]
    steps = task.state.steps
    first = steps[0].started_at.seconds + steps[0].started_at.nanos / 1e9
    last = steps[-1].stopped_at.seconds + steps[-1].stopped_at.nanos / 1e9
    start.append((first - task.fetched_at) * 1000)
    end.append((task.finished_at - last) * 1000)
daemon.send_signal(signal.SIGTERM)
daemon.wait(30)
total = sorted(a + b for a, b in zip(start, end))
p = lambda xs, q: sorted(xs)[min(len(xs) - 1, int(len(xs) * q))]
print("%.1f %.1f %.1f %.1f" % (p(total, 0.5), p(total, 0.9), p(start, 0.5), p(end, 0.5)))
PY
)
read -r p50 p90 start50 end50 <<< "$stats"
bench_single "runner task overhead around its steps, p50" "< 50ms" "$p50" "ms"
bench_single "runner task overhead around its steps, p90" "-" "$p90" "ms"
bench_single "runner fetch to first step started, p50" "-" "$start50" "ms"
bench_single "runner last step to final report, p50" "-" "$end50" "ms"
