"""`--shard I/K`: the I-th of K disjoint shards of a run's problems, for schedulers without Ray (Slurm job arrays).

Each task's problem list (its selection, cut at --limit) is dealt out in turn, starting at a shard fixed by the
task's name: problem i of task t goes to shard (i + offset(t)) mod K + 1. The split depends only on the task data
and the run's settings, so every shard computes the same one; the shards cover the run exactly once; per task their
sizes differ by at most one problem (and the offsets keep one shard from taking every task's extra problem). All
samples of a problem stay in one shard (one prompt, one seed). Every driver of the pipeline gets the filter through
pipeline.selected_problems.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from kateval.types import KatevalError, Problem

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    index: int   # 1-based: 1..count
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    match = _SHARD.match(text or "")
    if not match:
        raise KatevalError(f"--shard wants I/K (e.g. 2/8), got '{text}'")
    index, count = int(match.group(1)), int(match.group(2))
    if not 1 <= index <= count:
        raise KatevalError(f"--shard {text}: I must be between 1 and K (shards are numbered from 1)")
    return Shard(index, count)


def in_shard(task: str, problems: Sequence[Problem], shard: Shard) -> tuple[Problem, ...]:
    """The problems of `task` (in run order) that belong to `shard`."""
    offset = int.from_bytes(hashlib.sha256(task.encode()).digest()[:4], "big") % shard.count
    return tuple(problem for position, problem in enumerate(problems)
                 if (position + offset) % shard.count == shard.index - 1)
