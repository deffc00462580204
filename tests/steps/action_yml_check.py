#!/usr/bin/python3
"""Fails when the checked-in action/action.yml differs from what `akbuild action-yml` generates
from the step kinds' parameter messages."""
import difflib
import os
import subprocess
import sys

root = os.environ["AKBUILD_SOURCE_ROOT"]
generated = subprocess.run([os.environ["AKBUILD_BIN"], "action-yml"], check=True, capture_output=True,
                           text=True).stdout
path = os.path.join(root, "action", "action.yml")
checked_in = open(path).read() if os.path.exists(path) else ""
if generated != checked_in:
    sys.stdout.writelines(difflib.unified_diff(checked_in.splitlines(True), generated.splitlines(True),
                                               "action/action.yml (checked in)", "akbuild action-yml"))
    print("action/action.yml is stale; regenerate it with:\n  %s action-yml > %s"
          % (os.environ["AKBUILD_BIN"], path))
    sys.exit(1)
print("action/action.yml matches the step kinds")
