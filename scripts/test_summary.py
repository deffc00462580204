"""Sums test cases over a meson test log: doctest executables report their own case counts;
any other test (e.g. the Python gRPC client) counts as one case by its meson result.
Prints one line: "N passed, N failed"."""
import json
import re
import sys

DOCTEST = re.compile(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")
PYTEST = re.compile(r"Ran (\d+) tests?")

passed = failed = 0
try:
    lines = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
except OSError:
    lines = []
for line in lines:
    if not line.strip():
        continue
    entry = json.loads(line)
    out = (entry.get("stdout") or "") + (entry.get("stderr") or "")
    m = DOCTEST.findall(out)
    if m:
        total, ok, bad = (int(x) for x in m[-1])
        passed += ok
        failed += bad
        # A crash after the summary, or a timeout, still fails the executable.
        if entry.get("result") not in ("OK", "EXPECTEDFAIL") and bad == 0:
            failed += 1
    elif entry.get("result") == "SKIP":
        continue
    elif entry.get("result") in ("OK", "EXPECTEDFAIL"):
        py = PYTEST.findall(out)
        passed += int(py[-1]) if py else 1
    else:
        failed += 1
print(f"{passed} passed, {failed} failed")
