"""Measurements in a fresh process each, so that a peak RSS is the measured work's own: the parent runs
`python SCRIPT --child ARGS...`, the child does the work and ends with `print_measurement`."""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def measure_in_child(script: str, *args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, script, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def print_measurement(started: float, **extra: Any) -> None:
    """The child's last line: seconds since `started` (time.perf_counter) and its peak RSS in MiB."""
    print(json.dumps({"seconds": time.perf_counter() - started,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **extra}))


def sized_benchmark(description: str, child: Callable[[str, Path], None],
                    bench: Callable[[int, int, Path, list[int]], None]) -> None:
    """The command line of a benchmark over run sizes: `--sizes`, `--completion-chars`, and `--child MODE RUN_DIR`
    for the fresh process of one measurement. bench(size, completion_chars, workdir, sizes) runs one size."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--completion-chars", type=int, default=1000)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "RUN_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="kateval-bench-") as workdir:
        for size in sizes:
            bench(size, args.completion_chars, Path(workdir), sizes)
