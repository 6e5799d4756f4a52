"""Adaptive sampling: the same confidence for fewer tokens.

Round 1 draws `initial_n` samples of every problem. Each later round adds samples where they shrink the uncertainty
of their task's accuracy most per expected token: a problem's estimated Bernoulli variance v_i (shrunk toward 1/2,
metrics.problem_variances) against its observed mean token cost c_i. Adding one sample to a problem with n_i samples
lowers the task's variance by v_i (1/n_i - 1/(n_i+1)) / P^2, so the greedy plan keeps taking the best such ratio
until the task's predicted half-width meets the target. A round lets a problem at most double its samples, so a plan
made from a few samples is re-estimated before much is spent on it. The run stops when every task's 95% sampling
half-width (metrics.sampling_interval: the problems held fixed) is at most the target, when the token budget is
spent, or when every problem that could help has `max_n` samples.

The accuracy stays the mean over problems of each problem's mean (metrics.accuracy_estimate), whatever the samples
per problem. Planning is a pure function of the stored records (`plan_round`), so the driver needs no state of its
own: a killed run, started again, re-derives every round from the records of the rounds before it and ends with the
same records as an uninterrupted one (same seed, same rounds).
"""
from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kateval.pipeline import RunConfig, Stages, build_requests, finish_run, load_tasks, open_run, selected_problems
from kateval.report.metrics import normal_quantile, problem_variances, sampling_interval
from kateval.store import SampleKey, iter_records
from kateval.types import KatevalError

ProblemKey = tuple[str, str]   # (task, problem_id)
PLAN_MARGIN = 0.9              # plan to a variance 10% under the target's, so the next estimate lands under it


@dataclass(frozen=True)
class AdaptiveSettings:
    target_ci: float | None        # most 95% half-width of each task's accuracy (0.02 = +-2 points)
    max_n: int = 64                # most samples per problem
    token_budget: int | None = None   # most completion tokens over all rounds
    initial_n: int = 4             # samples per problem in round 1 (the run's --n)
    growth: float = 2.0            # a round lets a problem's samples grow at most this many times
    level: float = 0.95

    def __post_init__(self) -> None:
        if self.target_ci is None and self.token_budget is None:
            raise KatevalError("adaptive sampling needs --target-ci or --token-budget (or both)")
        if self.target_ci is not None and not 0 < self.target_ci < 1:
            raise KatevalError(f"--target-ci is a half-width on the 0-1 accuracy scale, e.g. 0.02; got {self.target_ci}")
        if self.token_budget is not None and self.token_budget < 1:
            raise KatevalError("--token-budget must be at least 1")
        if not 1 <= self.initial_n <= self.max_n:
            raise KatevalError(f"--max-n ({self.max_n}) must be at least --n ({self.initial_n}), and --n at least 1")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Tally:
    """What the stored records say about one problem."""
    task: str
    problem_id: str
    samples: int
    correct: int
    tokens: float | None     # mean completion tokens per sample (None: the source gave no counts)


@dataclass(frozen=True)
class RoundPlan:
    targets: dict[ProblemKey, int]     # samples each problem should hold after the next round
    half_widths: dict[str, float]      # each task's sampling half-width now
    accuracy: dict[str, float]         # each task's accuracy now
    stop: str | None                   # why there is no next round: target | token_budget | max_n


def task_half_widths(tallies: Sequence[Tally], level: float = 0.95) -> tuple[dict[str, float], dict[str, float]]:
    widths, accuracy = {}, {}
    for task, items in sorted(_by_task(tallies).items()):
        estimate = sampling_interval([t.correct for t in items], [t.samples for t in items], level)
        accuracy[task], widths[task] = estimate.value, estimate.interval[1] - estimate.value
    return widths, accuracy


def _by_task(tallies: Sequence[Tally]) -> dict[str, list[Tally]]:
    by_task: dict[str, list[Tally]] = defaultdict(list)
    for tally in tallies:
        by_task[tally.task].append(tally)
    return by_task


def plan_round(tallies: Sequence[Tally], settings: AdaptiveSettings, spent_tokens: float) -> RoundPlan:
    """The next round's sample targets, or why there is none. Deterministic: ties go to the problem listed first."""
    widths, accuracy = task_half_widths(tallies, settings.level)
    current = {(t.task, t.problem_id): t.samples for t in tallies}
    target = settings.target_ci
    open_tasks = {task for task, width in widths.items() if target is None or width > target}
    if not open_tasks:
        return RoundPlan(current, widths, accuracy, "target")
    if settings.token_budget is not None and spent_tokens >= settings.token_budget:
        return RoundPlan(current, widths, accuracy, "token_budget")
    room = math.inf if settings.token_budget is None else settings.token_budget - spent_tokens
    planned = _full_plan(tallies, settings, open_tasks, room)
    planned = {key: min(n, math.ceil(settings.growth * current[key])) for key, n in planned.items()}
    if planned == current:
        limited = settings.token_budget is not None and any(
            t.samples < settings.max_n for t in tallies if t.task in open_tasks)
        return RoundPlan(current, widths, accuracy, "token_budget" if limited else "max_n")
    return RoundPlan(planned, widths, accuracy, None)


@dataclass
class _TaskState:
    size: int          # problems
    variance: float    # predicted variance of the task's accuracy under the plan so far
    goal: float        # the variance that meets the target (0: no target, only the budget stops)


def _full_plan(tallies: Sequence[Tally], settings: AdaptiveSettings, open_tasks: set[str],
               room: float) -> dict[ProblemKey, int]:
    """Samples per problem that bring every open task to its goal on today's estimates, best variance reduction per
    expected token first across all open tasks (one heap, so a token budget is shared, not spent by the first task),
    within max_n and the budget's `room`. plan_round keeps only this round's step of it (at most `growth` times each
    problem's samples), so the estimates are renewed before most of it is spent."""
    variances = problem_variances([t.correct for t in tallies], [t.samples for t in tallies])
    costs = _costs(tallies)
    z = normal_quantile(settings.level)
    goal = PLAN_MARGIN * (settings.target_ci / z) ** 2 if settings.target_ci is not None else 0.0
    sizes = {task: len(items) for task, items in _by_task(tallies).items()}
    tasks = {task: _TaskState(sizes[task], 0.0, goal) for task in open_tasks}
    for tally, variance in zip(tallies, variances):
        if tally.task in tasks:
            tasks[tally.task].variance += variance / tally.samples / sizes[tally.task] ** 2
    planned = {(t.task, t.problem_id): t.samples for t in tallies}

    def reduction(i: int, n: int) -> float:   # the task's variance removed by sample n + 1 of problem i
        return variances[i] * (1 / n - 1 / (n + 1)) / sizes[tallies[i].task] ** 2

    heap = [(-reduction(i, t.samples) / costs[i], i) for i, t in enumerate(tallies) if t.task in tasks]
    heapq.heapify(heap)
    while heap:
        _, i = heapq.heappop(heap)
        state, key = tasks[tallies[i].task], (tallies[i].task, tallies[i].problem_id)
        n = planned[key]
        if state.variance <= state.goal or n >= settings.max_n or costs[i] > room:
            continue
        planned[key] = n + 1
        room -= costs[i]
        state.variance -= reduction(i, n)
        heapq.heappush(heap, (-reduction(i, n + 1) / costs[i], i))
    return planned


def _costs(tallies: Sequence[Tally]) -> list[float]:
    """Expected tokens of one more sample of each problem: its observed mean, else its task's, else 1."""
    known: dict[str, list[float]] = defaultdict(list)
    for tally in tallies:
        if tally.tokens is not None:
            known[tally.task].append(tally.tokens)
    task_mean = {task: sum(values) / len(values) for task, values in known.items()}
    return [max(tally.tokens if tally.tokens is not None else task_mean.get(tally.task, 1.0), 1.0)
            for tally in tallies]


# ---------------------------------------------------------------- the driver
def read_tallies(run_dir: Path, targets: dict[ProblemKey, int]) -> tuple[list[Tally], float, set[SampleKey]]:
    """Tallies of the samples inside `targets` (a later round's samples, stored before a kill, are left out so the
    plan is the one an uninterrupted run made), the tokens they cost, and every stored sample's key."""
    counts: dict[ProblemKey, list[float]] = {key: [0, 0, 0.0, 0] for key in targets}   # samples, correct, tokens, known
    done: set[SampleKey] = set()
    for record in iter_records(run_dir):
        key = (record["task"], record["problem_id"])
        done.add((*key, int(record["sample_index"])))
        if key not in targets or record["sample_index"] >= targets[key]:
            continue
        tally = counts[key]
        tally[0] += 1
        tally[1] += bool(record["correct"])
        if record.get("completion_tokens") is not None:
            tally[2] += record["completion_tokens"]
            tally[3] += 1
    tallies = [Tally(task, pid, int(s), int(c), t / k if k else None) for (task, pid), (s, c, t, k) in counts.items()]
    return tallies, sum(counts[key][2] for key in counts), done


def _up_to(targets: dict[ProblemKey, int]):
    return lambda task, problem: range(targets[(task.name, problem.problem_id)])


def run_adaptive(config: RunConfig, settings: AdaptiveSettings) -> Path:
    tasks = load_tasks(config)
    store, done = open_run(config, tasks, identity={**config.identity(), "adaptive": settings.as_dict()})
    targets = {(task.name, problem.problem_id): settings.initial_n
               for task in tasks for problem in selected_problems(task, config)}
    rounds: list[dict[str, Any]] = []
    with Stages.for_run(tasks, config) as stages:
        loaded = False
        while True:
            requests = build_requests(tasks, config, done, wanted=_up_to(targets))
            if requests:
                if not loaded:
                    store.update_meta(**stages.load().facts())
                    loaded = True
                stages.run(requests, config.sampling, lambda _completion: store,
                           unit=f"samples (round {len(rounds) + 1})")
            tallies, spent, done = read_tallies(store.run_dir, targets)
            if any(t.samples < targets[(t.task, t.problem_id)] for t in tallies):
                raise KatevalError(f"{store.run_dir}: the backend returned fewer samples than asked for")
            plan = plan_round(tallies, settings, spent)
            rounds.append({"round": len(rounds) + 1, "samples": sum(targets.values()), "tokens": round(spent),
                           "accuracy": plan.accuracy, "half_width": plan.half_widths})
            store.update_meta(adaptive={**settings.as_dict(), "rounds": rounds, "stopped": plan.stop},
                              **(stages.facts() if loaded else {}))
            if plan.stop:
                break
            targets = plan.targets
    finish_run(store, samples_expected=sum(targets.values()))
    return config.out
