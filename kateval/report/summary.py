"""summary.json: per-task accuracy, think rate, tokens and truncation, streamed from samples.jsonl."""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from kateval.store import iter_records


class _TaskTotals:
    def __init__(self) -> None:
        self.samples = 0
        self.correct = 0
        self.think_on = 0
        self.truncated = 0
        self.completion_tokens = 0
        self.think_tokens = 0
        self.problems: dict[str, int] = defaultdict(int)

    def add(self, record: dict[str, Any]) -> None:
        self.samples += 1
        self.correct += bool(record["correct"])
        self.think_on += record["mode"] == "on"
        self.truncated += bool(record["truncated"])
        self.completion_tokens += record.get("completion_tokens") or 0
        self.think_tokens += record.get("think_tokens") or 0
        self.problems[record["problem_id"]] += 1

    def summary(self) -> dict[str, Any]:
        per_problem = set(self.problems.values())
        return {
            "problems": len(self.problems),
            "samples": self.samples,
            "samples_per_problem": per_problem.pop() if len(per_problem) == 1 else sorted(per_problem),
            "accuracy": self.correct / self.samples,
            "think_rate": self.think_on / self.samples,
            "mean_completion_tokens": self.completion_tokens / self.samples,
            "mean_think_tokens": self.think_tokens / self.samples,
            "truncation_rate": self.truncated / self.samples,
        }


def summarize(run_dir: Path) -> dict[str, Any]:
    totals: dict[str, _TaskTotals] = defaultdict(_TaskTotals)
    for record in iter_records(run_dir):
        totals[record["task"]].add(record)
    return {"run_dir": str(run_dir), "tasks": {name: t.summary() for name, t in sorted(totals.items())}}


def write_summary(run_dir: Path) -> Path:
    path = Path(run_dir) / "summary.json"
    path.write_text(json.dumps(summarize(run_dir), indent=2) + "\n", encoding="utf-8")
    return path
