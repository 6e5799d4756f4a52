"""Running untrusted, model-written code: `make_executor()` returns the sandboxed Executor (kateval.types).

The boundary: a program runs in a runner sandbox that holds no test code, no expected value and no secret; what
decides a test runs on the trusted side, either here in the parent (comparing plain data the program returned) or
in a judge sandbox of its own (the data's test code, calling the program through handles). See pool.py.
"""
from __future__ import annotations

import os

from kateval.sandbox.isolation import Isolation, detect
from kateval.sandbox.pool import SandboxExecutor, WorkerDied
from kateval.types import ExecLimits, Executor, KatevalError

__all__ = ["Isolation", "SandboxExecutor", "make_executor"]

DEFAULT_LIMITS = ExecLimits()


def make_executor(workers: int | None = None, limits: ExecLimits = DEFAULT_LIMITS) -> Executor:
    """One runner/judge pair per worker (default: one per core), with the strongest isolation available."""
    count = workers or os.cpu_count() or 1
    try:
        return SandboxExecutor(detect(), count, limits)
    except (WorkerDied, OSError) as exc:
        raise KatevalError(f"code sandbox: {exc}") from exc
