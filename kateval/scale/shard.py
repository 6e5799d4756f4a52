"""`--shard I/K`: the I-th of K disjoint shards of a run's problems, for schedulers without Ray (Slurm job arrays).

A problem goes to a shard by its position in the run's problem list (every task's selected problems, tasks in
run order): position p is in shard p mod K + 1. The list comes from the task data and the run's settings alone,
so every shard computes the same split, the shards cover the run exactly once, and their sizes differ by at most
one problem. All samples of a problem stay in one shard (one prompt, one seed).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from kateval.tasks import LoadedTask
from kateval.types import KatevalError

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


def shard_problems(tasks: list[LoadedTask], limit: int | None, shard: Shard) -> dict[str, list[str]]:
    """The problem ids of each task that belong to `shard`, in run order."""
    chosen: dict[str, list[str]] = {}
    position = 0
    for task in tasks:
        chosen[task.name] = []
        for problem in task.selected[:limit]:
            if position % shard.count == shard.index - 1:
                chosen[task.name].append(problem.problem_id)
            position += 1
    return chosen
