#!/usr/bin/env bash
# A job environment of forgejo-runner's backend plugin from the runner's side (a Python grpcio
# client on the unix socket): its whole life (Create, Start, Exec `true`, Remove) p50 and p99,
# target p50 <= 20 ms, beside a bubblewrap with the same binds started by hand (and `docker run
# --rm IMAGE true` when a Docker daemon answers and already holds an image; nothing is pulled);
# and an Exec round trip of `true` in a live environment beside a bare fork/exec of it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CALLS=${BENCH_CALLS:-200}

work=$(mktemp -d "${TMPDIR:-/tmp}/akbuild-bench-plugin.XXXXXX")
daemon=""
cleanup() { [ -n "$daemon" ] && kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/gen"
export AKBUILD_CACHE_DIR="$work/cache"
sock="$work/run/akbuild.sock"
"$AKBUILD" serve --listen "unix:$sock" --state-dir "$work/state" > "$work/serve.out" 2> "$work/serve.err" &
daemon=$!
for _ in $(seq 100); do grep -q "listening on" "$work/serve.out" 2>/dev/null && break; sleep 0.05; done
protoc --proto_path="$ROOT/proto" --python_out="$work/gen" plugin/v1alpha/plugin.proto

docker_image=""
if command -v docker >/dev/null && timeout 5 docker info >/dev/null 2>&1; then
  docker_image=$(docker images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep -v '<none>' | head -1 || true)
fi

/usr/bin/python3 - "$work" "$sock" "$CALLS" "$AKBUILD" "$docker_image" <<'PY'
import os, shutil, subprocess, sys, time
work, sock, calls, akbuild, docker_image = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
sys.path.insert(0, os.path.join(work, "gen"))
import grpc
from plugin.v1alpha import plugin_pb2 as pb

ch = grpc.insecure_channel("unix:" + sock)
S = "/plugin.v1alpha.BackendPlugin/"
def unary(name, req, resp):
    return ch.unary_unary(S + name, request_serializer=req.SerializeToString, response_deserializer=resp.FromString)
def stream(name, req, resp):
    return ch.unary_stream(S + name, request_serializer=req.SerializeToString, response_deserializer=resp.FromString)
create = unary("Create", pb.CreateRequest, pb.CreateResponse)
remove = unary("Remove", pb.RemoveRequest, pb.RemoveResponse)
start = stream("Start", pb.StartRequest, pb.StartOutput)
execute = stream("Exec", pb.ExecRequest, pb.ExecOutput)

def life():
    env = create(pb.CreateRequest(name="bench"))
    image_env = dict(list(start(pb.StartRequest(environment_id=env.environment_id)))[-1].start_complete.image_env)
    last = list(execute(pb.ExecRequest(environment_id=env.environment_id, command=["true"], env=image_env)))[-1]
    assert last.exec_complete.exit_code == 0, last
    remove(pb.RemoveRequest(environment_id=env.environment_id))

def timed(fn, n):
    fn()  # warm-up
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))]

def line(name, target, ours, peer):
    ratio = "%.3f" % (ours / peer) if peer else "nan"
    print("%-44s %12s %12s %7sx  %s" % (name, "%.1fms" % ours, "%.1fms" % peer if peer else "-", ratio, target))

# The same binds by hand: what the environment's sandbox is, without the daemon around it.
bwrap = shutil.which("bwrap")
env_dir = os.path.join(work, "hand")
for sub in ("root", "tmp", "home"):
    os.makedirs(os.path.join(env_dir, sub), exist_ok=True)
args = [bwrap, "--unshare-all"]
if os.geteuid() == 0:
    args += ["--unshare-user", "--uid", "65534", "--gid", "65534"]
args += ["--cap-drop", "ALL", "--share-net", "--die-with-parent", "--proc", "/proc", "--dev", "/dev"]
for d in ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
    if os.path.islink(d):
        args += ["--symlink", os.readlink(d), d]
    elif os.path.isdir(d):
        args += ["--ro-bind", d, d]
for e in ("/etc/passwd", "/etc/group", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ld.so.cache", "/etc/ld.so.conf",
          "/etc/ld.so.conf.d", "/etc/ssl/certs", "/etc/ca-certificates", "/etc/alternatives", "/etc/localtime",
          "/etc/resolv.conf"):
    args += ["--ro-bind-try", e, e]
args += ["--ro-bind-try", "/nix", "/nix", "--bind", os.path.join(env_dir, "tmp"), "/tmp", "--bind", env_dir, env_dir,
         "--ro-bind", akbuild, "/run/akbuild/bin/akbuild", "--chdir", os.path.join(env_dir, "root"), "--", "true"]
def by_hand():
    subprocess.run(args, check=True)

p50, p99 = timed(life, calls)
hand50, _ = timed(by_hand, calls)
line("plugin env life (Create..Remove), p50", "<= 20ms", p50, hand50)
print("%-44s %12s %12s %8s  %s" % ("plugin env life (Create..Remove), p99", "%.1fms" % p99, "-", "-", "-"))
if docker_image:
    d50, _ = timed(lambda: subprocess.run(["docker", "run", "--rm", docker_image, "true"], check=True,
                                          stdout=subprocess.DEVNULL), max(5, calls // 20))
    line("plugin env life vs docker run --rm " + docker_image[:10], "-", p50, d50)

env = create(pb.CreateRequest(name="bench"))
image_env = dict(list(start(pb.StartRequest(environment_id=env.environment_id)))[-1].start_complete.image_env)
e50, _ = timed(lambda: list(execute(pb.ExecRequest(environment_id=env.environment_id, command=["true"],
                                                   env=image_env))), calls)
f50, _ = timed(lambda: subprocess.run(["true"], check=True), calls)
line("plugin Exec true round trip vs fork/exec, p50", "-", e50, f50)
remove(pb.RemoveRequest(environment_id=env.environment_id))
PY
