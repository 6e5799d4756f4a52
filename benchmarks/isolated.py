"""Measurements in a fresh process each, so that a peak RSS is the measured work's own: the parent runs
`python SCRIPT --child ARGS...`, the child does the work and ends with `print_measurement`."""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from typing import Any


def measure_in_child(script: str, *args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, script, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def print_measurement(started: float, **extra: Any) -> None:
    """The child's last line: seconds since `started` (time.perf_counter) and its peak RSS in MiB."""
    print(json.dumps({"seconds": time.perf_counter() - started,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **extra}))
