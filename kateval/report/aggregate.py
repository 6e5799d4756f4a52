"""One streaming pass over samples.jsonl into compact aggregates: a few numbers per sample (in typed arrays)
and per problem, never whole records, so a million samples fit in tens of megabytes."""
from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from kateval.progress import progress_bar
from kateval.store import RUN_META, iter_records, read_run_meta

MODES = ("on", "off", "none")
MODE_INDEX = {mode: index for index, mode in enumerate(MODES)}
SEGMENT_FIELDS = (("judge", "judge_tokens"), ("think", "think_tokens"), ("answer", "answer_tokens"))
UNKNOWN = -1  # a token count the source did not give
PROGRESS_EVERY = 10_000
VOTE_TEXT_CHARS = 200       # wrong answers up to this long are kept as text, to be normalized before voting
_CORRECT_ANSWER = object()  # every answer graded correct votes for the same (gold) answer


@dataclass(slots=True)
class ProblemTotals:
    samples: int = 0
    correct: int = 0
    think_on: int = 0
    tokens: int = 0          # sum of the known completion token counts
    tokens_known: int = 0
    difficulty: str | None = None
    index: int = 0           # position among its aggregate's problems (the value in TaskAggregate.problem_index)
    votes: dict[Any, int] = field(default_factory=dict)   # answer -> count; correct ones under one key
    weighted: float = 0.0    # sum over samples of weight x correct: the estimate is weighted / weight
    weight: float = 0.0      # sum of the samples' weights (= samples when all weigh 1, as in a fixed-n run)
    weight_sq: float = 0.0   # sum of their squares (effective samples: weight^2 / weight_sq)

    @property
    def rate(self) -> float:
        """The problem's accuracy: its (weighted) mean; the plain mean unless an adaptive run weighted its rounds."""
        return self.weighted / self.weight if self.weight else 0.0

    def vote_table(self, normalize: Callable[[str], Hashable]) -> dict[Any, tuple[int, bool]]:
        """Votes with equal answers merged: `normalize` maps an answer's text to its canonical key (a long
        answer, kept only as its hash, stays as it is)."""
        table: dict[Any, tuple[int, bool]] = {}
        for answer, count in self.votes.items():
            key = normalize(answer) if isinstance(answer, str) else answer
            table[key] = (table.get(key, (0, False))[0] + count, answer is _CORRECT_ANSWER)
        return table


def sample_weight(rounds: list[list[float]] | None, index: int) -> float:
    """A sample's weight in its problem's estimate: 1 when the problem has no adaptive schedule (every sample alike),
    else its round's weight shared by the round's samples (`adaptive.schedule` in run.json: [end, weight] per round,
    see kateval.adaptive); 0 past the schedule (a round whose weights were not yet written when the run stopped)."""
    if not rounds:
        return 1.0
    start = 0
    for end, weight in rounds:
        if index < end:
            return weight / (end - start)
        start = int(end)
    return 0.0


class TaskAggregate:
    """Everything the report needs about one task (or all tasks together, see `merge`). `schedule`: the task's
    adaptive round weights per problem id (None for a fixed-n run)."""

    def __init__(self, schedule: dict[str, list[list[float]]] | None = None) -> None:
        self.schedule = schedule or {}
        self.weight = array("d")   # each sample's weight within its problem (all 1 in a fixed-n run)
        self.completion_tokens = array("i")
        self.segment_tokens = {kind: array("i") for kind, _ in SEGMENT_FIELDS}
        self.correct = array("b")
        self.truncated = array("b")
        self.mode = array("b")   # index into MODES
        self.problem_index = array("i")   # the sample's problem, 0..len(problems)-1 in first-seen order
        self.well_formed = 0
        self.budget_hits = 0     # samples whose thought a thinking budget ended
        self.statuses: Counter[str] = Counter()
        self.problems: dict[Any, ProblemTotals] = {}

    def add(self, record: dict[str, Any]) -> None:
        tokens = record.get("completion_tokens")
        correct = bool(record["correct"])
        self.completion_tokens.append(UNKNOWN if tokens is None else tokens)
        for kind, key in SEGMENT_FIELDS:
            value = record.get(key)
            self.segment_tokens[kind].append(UNKNOWN if value is None else value)
        self.correct.append(correct)
        self.truncated.append(bool(record.get("truncated")))
        mode = record.get("mode")
        self.mode.append(MODE_INDEX.get(mode, MODE_INDEX["none"]))
        self.well_formed += bool(record.get("well_formed"))
        self.budget_hits += bool(record.get("think_budget_hit"))
        self.statuses[record.get("status") or "unknown"] += 1
        problem = self.problems.get(record["problem_id"])
        if problem is None:
            problem = self.problems[record["problem_id"]] = ProblemTotals(difficulty=record.get("difficulty"),
                                                                          index=len(self.problems))
        self.problem_index.append(problem.index)
        weight = sample_weight(self.schedule.get(record["problem_id"]), int(record.get("sample_index", 0)))
        self.weight.append(weight)
        problem.samples += 1
        problem.correct += correct
        problem.weighted += weight * correct
        problem.weight += weight
        problem.weight_sq += weight * weight
        problem.think_on += mode == "on"
        if tokens is not None:
            problem.tokens += tokens
            problem.tokens_known += 1
        answer = _CORRECT_ANSWER if correct else record.get("extracted_answer")
        if answer is not None:
            # a long wrong answer (code) is kept as its hash, not its text: only equality matters for it
            key = answer if correct or len(answer) <= VOTE_TEXT_CHARS else hash(answer)
            problem.votes[key] = problem.votes.get(key, 0) + 1

    def arrays(self) -> dict[str, np.ndarray]:
        return {"completion_tokens": np.frombuffer(self.completion_tokens, dtype=np.intc),
                "correct": np.frombuffer(self.correct, dtype=np.int8).astype(bool),
                "truncated": np.frombuffer(self.truncated, dtype=np.int8).astype(bool),
                "mode": np.frombuffer(self.mode, dtype=np.int8),
                "problem_index": np.frombuffer(self.problem_index, dtype=np.intc),
                "weight": np.frombuffer(self.weight, dtype=np.float64),
                **{f"{kind}_tokens": np.frombuffer(values, dtype=np.intc)
                   for kind, values in self.segment_tokens.items()}}

    @property
    def samples(self) -> int:
        return len(self.correct)


def merge(aggregates: dict[str, TaskAggregate]) -> TaskAggregate:
    """All tasks as one; problems keyed by (task, problem_id)."""
    total = TaskAggregate()
    for name, part in aggregates.items():
        total.completion_tokens.extend(part.completion_tokens)
        for kind, values in total.segment_tokens.items():
            values.extend(part.segment_tokens[kind])
        total.correct.extend(part.correct)
        total.truncated.extend(part.truncated)
        total.mode.extend(part.mode)
        total.weight.extend(part.weight)
        offset = len(total.problems)
        total.problem_index.frombytes((np.frombuffer(part.problem_index, dtype=np.intc) + offset).tobytes())
        total.well_formed += part.well_formed
        total.budget_hits += part.budget_hits
        total.statuses.update(part.statuses)
        total.problems.update({(name, pid): replace(problem, index=problem.index + offset)
                               for pid, problem in part.problems.items()})
    return total


def adaptive_schedules(run_dir: Path) -> dict[str, dict[str, list[list[float]]]]:
    """{task: {problem_id: [[end, weight], ...]}} of an adaptive run; {} for any other run (or no run.json)."""
    if not (Path(run_dir) / RUN_META).exists():
        return {}
    return (read_run_meta(run_dir).get("adaptive") or {}).get("schedule") or {}


def collect(run_dir: Path, show_progress: bool = False) -> dict[str, TaskAggregate]:
    tasks: dict[str, TaskAggregate] = {}
    schedules = adaptive_schedules(run_dir)
    count = 0
    with progress_bar(None, "records", enabled=show_progress) as bar:
        for count, record in enumerate(iter_records(run_dir), start=1):
            aggregate = tasks.get(record["task"])
            if aggregate is None:
                aggregate = tasks[record["task"]] = TaskAggregate(schedules.get(record["task"]))
            aggregate.add(record)
            if count % PROGRESS_EVERY == 0:
                bar.update(PROGRESS_EVERY)
        bar.update(count % PROGRESS_EVERY)
    return dict(sorted(tasks.items()))
