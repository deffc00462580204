"""The wheels `python-deps --dry-run` should pick, by the reference implementation of PEP 425
tag ranking (Debian's python3-packaging), for CPython X.Y on manylinux glibc G, x86_64.
Usage: wheel_oracle.py UV_LOCK WHEELS_TXT PYTHON_VERSION GLIBC_VERSION
Reads each "name version file hash" or "name version - (reason)" line of WHEELS_TXT, and checks
it against the best-ranked wheel that packaging.tags allows among the package's wheels in
UV_LOCK (none allowed: the line must name no wheel). Prints one line per mismatch; exit 1 if any."""
import sys
import tomllib

from packaging import _manylinux, tags
from packaging.utils import parse_wheel_filename

lock_path, listing_path, py, glibc = sys.argv[1:5]
major, minor = (int(x) for x in py.split(".")[:2])
glibc_version = tuple(int(x) for x in glibc.split("."))
# The target's glibc, not the host's: packaging asks the running libc otherwise.
_manylinux._get_glibc_version = lambda: glibc_version
platforms = list(_manylinux.platform_tags("linux_x86_64", "x86_64")) + ["linux_x86_64"]
interpreter = f"cp{major}{minor}"
supported = list(tags.cpython_tags((major, minor), [interpreter], platforms))
supported += list(tags.compatible_tags((major, minor), interpreter, platforms))
rank = {t: i for i, t in enumerate(supported)}

with open(lock_path, "rb") as f:
    lock = tomllib.load(f)
packages = {(p["name"], p["version"]): p for p in lock["package"]}


def best_wheel(package):
    best = None
    for wheel in package.get("wheels", []):
        file = wheel["url"].rsplit("/", 1)[-1]
        ranks = [rank[t] for t in parse_wheel_filename(file)[3] if t in rank]
        if ranks and (best is None or min(ranks) < best[0]):
            best = (min(ranks), file, wheel["hash"])
    return best


bad = 0
lines = [l for l in open(listing_path, encoding="utf-8").read().splitlines() if l]
for line in lines:
    name, version, file, rest = line.split(" ", 3)
    package = packages.get((name, version))
    if package is None:
        print(f"{name} {version}: not in {lock_path}")
        bad += 1
        continue
    best = best_wheel(package)
    want = f"{best[1]} {best[2]}" if best else "-"
    got = file if file == "-" else f"{file} {rest}"
    if want != got:
        print(f"{name} {version}: packaging.tags picks {want}, the listing has {got}")
        bad += 1
print(f"{len(lines)} packages checked, {bad} mismatched")
sys.exit(1 if bad or not lines else 0)
