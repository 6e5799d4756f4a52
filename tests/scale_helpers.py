"""Helpers of the scale tests (replicas, Ray): process liveness, waiting for a run to store samples, and records
compared as a single engine would have stored them."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from kateval.store import iter_records


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for_samples(run_dir: Path, count: int, process: subprocess.Popen, timeout_s: float) -> None:
    """Until `run_dir` holds `count` stored samples; fails if `process` (the run) ends first."""
    samples = Path(run_dir) / "samples.jsonl"
    deadline = time.monotonic() + timeout_s
    while not (samples.exists() and samples.read_bytes().count(b"\n") >= count):
        ended = process.poll() is not None
        assert not ended and time.monotonic() < deadline, (
            f"the run {'ended' if ended else 'stored too little'} before it could be interrupted: "
            f"{process.stderr.read().decode()[-3000:] if ended and process.stderr else ''}")
        time.sleep(0.05)


def comparable_records(run_dir: Path) -> dict:
    """Records by sample key, without the prefix-cache count (it depends on what shared an engine; nothing else
    may differ between one engine and many)."""
    return {(r["task"], r["problem_id"], r["sample_index"]): json.dumps(
        {k: v for k, v in r.items() if k != "cached_prompt_tokens"}, sort_keys=True) for r in iter_records(run_dir)}
