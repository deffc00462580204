"""Sums test cases over meson test logs (the main build's, then the sanitizer build's): doctest
executables report their own case counts, and each prints how many of its cases skipped
(tests/support: "skipped test cases: N"), which are counted as skipped, not passed; a Python
unittest counts its "Ran N tests" less its skips; any other test (a fuzz run) counts as one case
by its meson result (SKIP as skipped); a log that is missing counts as one failure.
Prints one line: "N passed, N failed, N skipped"."""
import json
import re
import sys

DOCTEST = re.compile(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")
SKIPPED = re.compile(r"^skipped test cases: (\d+)$", re.M)
PYTEST = re.compile(r"Ran (\d+) tests?")
PYSKIP = re.compile(r"skipped=(\d+)")

passed = failed = skipped = 0
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
        skips = SKIPPED.findall(out)
        # A skipped case returned early without a failed check: doctest counts it as passed.
        skip = min(int(skips[-1]), ok) if skips else 0
        passed += ok - skip
        skipped += skip
        failed += bad
        # A crash after the summary, or a timeout, still fails the executable.
        if entry.get("result") not in ("OK", "EXPECTEDFAIL") and bad == 0:
            failed += 1
    elif entry.get("result") == "SKIP":
        skipped += 1
    elif entry.get("result") in ("OK", "EXPECTEDFAIL"):
        py = PYTEST.findall(out)
        skip = PYSKIP.findall(out)
        n, s = (int(py[-1]) if py else 1), (int(skip[-1]) if skip else 0)
        passed += n - s
        skipped += s
    else:
        failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
