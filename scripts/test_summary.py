"""Sums test cases over meson test logs (the main build's, then the sanitizer build's): doctest
executables report their own case counts; any other test (a fuzz run, the Python gRPC client)
counts as one case by its meson result; a log that is missing counts as one failure.
Prints one line: "N passed, N failed"."""
import json
import re
import sys

DOCTEST = re.compile(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")
PYTEST = re.compile(r"Ran (\d+) tests?")

passed = failed = 0
lines = []
for path in sys.argv[1:]:
    try:
        lines += open(path, encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        failed += 1  # a run that wrote no log (its build failed) fails as one case
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
