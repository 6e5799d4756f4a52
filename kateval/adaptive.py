"""Adaptive sampling: the same confidence for fewer tokens, a driver of the pipeline's stages in rounds.

Round 1 draws `initial_n` samples (the run's --n) of every problem. Each later round adds samples where they shrink
the uncertainty of their task's accuracy most per expected token (kateval.adaptive_plan: Neyman allocation on each
problem's Bernoulli variance against its observed mean tokens), a problem growing at most `growth` times per round,
until every task's 95% sampling half-width (the problems held fixed) is at most the target, the token budget is
spent, or every problem that could help has `max_n` samples.

Accuracy stays the mean over problems of a per-problem mean, but for an adaptive run a WEIGHTED one: each round's
samples carry a weight fixed before their outcomes were seen (adaptive_plan's opening comment says why the plain mean
is biased here and this is not). The weights go to run.json as `adaptive.schedule` ({task: {problem: [[end, weight],
...]}}: round r holds the sample indices from the previous end up to `end`, each of its samples weighing
weight / its size), which the report reads; a fixed-n run has no schedule and every sample weighs the same.

Planning is a pure function of the stored records, so the driver keeps no state of its own: a killed run, started
again, re-derives every round from the records of the rounds before it and ends with the same records (same seed).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from kateval.adaptive_plan import (
    Problems,
    RoundPlan,
    after_round,
    decide,
    interim_variance,
    pilot_weight,
    task_sum,
    variance_goal,
)
from kateval.pipeline import RunConfig, Stages, build_requests, finish_run, load_tasks, open_run, selected_problems
from kateval.report.metrics import normal_quantile
from kateval.store import SampleKey, iter_records
from kateval.types import KatevalError

ProblemKey = tuple[str, str]   # (task, problem_id)
MAX_REOPENS = 3                # times a task that closed just over its target may get weight back
STOP_ORDER = ("token_budget", "max_n", "reopen_limit", "target")   # the run's reason: the first any task gave


@dataclass(frozen=True)
class AdaptiveSettings:
    target_ci: float | None        # most 95% half-width of each task's accuracy (0.02 = +-2 points)
    max_n: int = 64                # most samples per problem
    token_budget: int | None = None   # most completion tokens over all rounds
    initial_n: int = 2             # samples per problem in round 1 (the run's --n)
    growth: float = 1.5            # a round lets a problem's samples grow at most this many times
    level: float = 0.95
    plan_margin: float = 0.98      # plan to this share of the target's variance, so the renewed estimate lands under

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
    """What the stored records of one round's sample range say about each problem (aligned with the run's keys)."""
    samples: np.ndarray     # samples in the range
    correct: np.ndarray     # correct ones among them
    tokens: np.ndarray      # their known completion tokens, summed
    known: np.ndarray       # how many of them had a token count


def read_tally(run_dir: Path, keys: list[ProblemKey], start: dict[ProblemKey, int],
               end: dict[ProblemKey, int]) -> tuple[Tally, Tally, set[SampleKey]]:
    """Tallies of each problem's samples in [start, end) (this round) and in [0, end) (so far), and every stored
    sample's key. Samples past `end` (a later round's, stored before a kill) are left out, so the plan made from
    them is the one an uninterrupted run made."""
    index = {key: i for i, key in enumerate(keys)}
    sums = np.zeros((2, 4, len(keys)))   # [round, so far] x [samples, correct, tokens, known]
    done: set[SampleKey] = set()
    for record in iter_records(run_dir):
        key = (record["task"], record["problem_id"])
        sample = int(record["sample_index"])
        done.add((*key, sample))
        i = index.get(key)
        if i is None or sample >= end[key]:
            continue
        tokens = record.get("completion_tokens")
        row = (1, bool(record["correct"]), tokens or 0, tokens is not None)
        sums[1, :, i] += row
        if sample >= start[key]:
            sums[0, :, i] += row
    this_round, so_far = (Tally(*part) for part in sums)
    return this_round, so_far, done


def mean_costs(so_far: Tally, task: np.ndarray) -> np.ndarray:
    """Expected tokens of one more sample of each problem: its observed mean, else its task's, else 1."""
    tasks = int(task.max()) + 1
    task_mean = task_sum(so_far.tokens, task, tasks) / np.maximum(task_sum(so_far.known, task, tasks), 1)
    own = so_far.tokens / np.maximum(so_far.known, 1)
    return np.maximum(np.where(so_far.known > 0, own, task_mean[task]), 1.0)


class Schedule:
    """Each problem's rounds and their weights (`adaptive.schedule` in run.json), and its weighted estimate."""

    def __init__(self, keys: list[ProblemKey]) -> None:
        self.keys = keys
        self.rounds: list[list[list[float]]] = [[] for _ in keys]   # per problem: [end, weight] per round
        self.estimate = np.zeros(len(keys))                          # sum over rounds of weight x round mean

    def add(self, ends: np.ndarray, weights: np.ndarray, this_round: Tally) -> None:
        for i in np.flatnonzero(this_round.samples > 0):
            self.rounds[i].append([int(ends[i]), float(weights[i])])
        self.estimate += np.where(this_round.samples > 0, weights * this_round.correct
                                  / np.maximum(this_round.samples, 1), 0.0)

    def scale(self, task: np.ndarray, factors: np.ndarray) -> None:
        for i in np.flatnonzero(factors[task] != 1.0):
            for entry in self.rounds[i]:
                entry[1] *= float(factors[task[i]])
        self.estimate *= factors[task]

    def as_dict(self) -> dict[str, dict[str, list[list[float]]]]:
        out: dict[str, dict[str, list[list[float]]]] = {}
        for (task, problem), rounds in zip(self.keys, self.rounds):
            out.setdefault(task, {})[problem] = rounds
        return out


class Rounds:
    """The driver's state between rounds, every part of it derived from the records (replayed the same on resume):
    the planner's per-problem state, the weights given, and the sample ranges of the round being filled."""

    def __init__(self, tasks: list[str], keys: list[ProblemKey], settings: AdaptiveSettings) -> None:
        self.names, self.keys, self.settings = tasks, keys, settings
        self.task = np.array([tasks.index(name) for name, _ in keys])
        sizes = np.bincount(self.task, minlength=len(tasks))
        self.alpha = np.array([pilot_weight(settings.initial_n, settings.max_n, settings.target_ci, int(size),
                                            settings.level) for size in sizes])[self.task]
        target = settings.target_ci
        self.goals = np.full(len(tasks), variance_goal(target, settings.level) if target else 0.0)
        self.schedule, self.reopens = Schedule(keys), np.zeros(len(tasks))
        self.start = dict.fromkeys(keys, 0)
        self.end = dict.fromkeys(keys, settings.initial_n)
        self.weights, self.plan, self.problems = self.alpha, None, None
        self.log: list[dict[str, Any]] = []
        self.stopped: list[str | None] = [None] * len(tasks)

    def advance(self, this_round: Tally, so_far: Tally) -> bool:
        """Take in the round just sampled and plan the next; False when none follows."""
        settings = self.settings
        ends = np.array([self.end[key] for key in self.keys])
        self.schedule.add(ends, self.weights, this_round)
        self.problems = _next_state(self.problems, self.plan, this_round, so_far, self.task, self.alpha, settings)
        spent = float(so_far.tokens.sum())
        room = settings.token_budget - spent if settings.token_budget is not None else np.inf
        decision = decide(self.problems, self.goals, max_n=settings.max_n, growth=settings.growth,
                          margin=settings.plan_margin, room=room, after_pilot=self.plan is None,
                          reopen=self.reopens < MAX_REOPENS)
        self.reopens += decision.scale < 1.0
        self.schedule.scale(self.task, decision.scale)
        self.problems, self.plan, self.stopped = decision.problems, decision.plan, decision.stopped
        accuracy, half_widths = self._interim()
        self.log.append({"round": len(self.log) + 1, "samples": int(ends.sum()), "tokens": round(spent),
                         "accuracy": accuracy, "half_width": half_widths})
        if self.plan is None:
            return False
        self.start = self.end
        self.end = {key: self.end[key] + int(step) for key, step in zip(self.keys, self.plan.step)}
        self.weights = self.plan.weight
        return True

    def meta(self) -> dict[str, Any]:
        """run.json's `adaptive`: the settings, each round's numbers, why it stopped, and the round weights."""
        return {**self.settings.as_dict(), "rounds": self.log,
                "stopped": None if self.plan is not None else _stopped(self.stopped),
                "stopped_by_task": dict(zip(self.names, self.stopped)), "schedule": self.schedule.as_dict()}

    def _interim(self) -> tuple[dict[str, float], dict[str, float]]:
        """Each task's accuracy and sampling half-width now (open problems as if they stopped here)."""
        problems = self.problems
        given = np.maximum(1.0 - problems.remaining, 1e-12)
        tasks = len(self.names)
        accuracy = task_sum(self.schedule.estimate / given, problems.task, tasks) / np.bincount(problems.task)
        half = normal_quantile(self.settings.level) * np.sqrt(interim_variance(problems))
        return ({name: float(accuracy[t]) for t, name in enumerate(self.names)},
                {name: float(half[t]) for t, name in enumerate(self.names)})


def _stopped(reasons: list[str | None]) -> str:
    return next(reason for reason in STOP_ORDER if reason in reasons)


def run_adaptive(config: RunConfig, settings: AdaptiveSettings) -> Path:
    tasks = load_tasks(config)
    keys = [(task.name, problem.problem_id) for task in tasks for problem in selected_problems(task, config)]
    if not keys:
        raise KatevalError("adaptive sampling: this run selects no problems (see --limit and --shard)")
    # A task none of whose problems this run holds (a shard may hold none of a small task) has nothing to plan.
    planned = list(dict.fromkeys(name for name, _ in keys))
    store, done = open_run(config, tasks, identity={**config.identity(), "adaptive": settings.as_dict()})
    rounds = Rounds(planned, keys, settings)
    with Stages.for_run(tasks, config) as stages:
        loaded, more = False, True
        while more:
            requests = build_requests(tasks, config, done, wanted=_up_to(rounds.end))
            if requests:
                if not loaded:
                    stages.load().record_facts([store])
                    loaded = True
                stages.run(requests, config.sampling, lambda _completion: store,
                           unit=f"samples (round {len(rounds.log) + 1})")
            this_round, so_far, done = read_tally(store.run_dir, keys, rounds.start, rounds.end)
            if (so_far.samples < np.array([rounds.end[key] for key in keys])).any():
                raise KatevalError(f"{store.run_dir}: the backend returned fewer samples than asked for")
            more = rounds.advance(this_round, so_far)
            if loaded:
                stages.record_facts([store], adaptive=rounds.meta())
            else:
                store.update_meta(adaptive=rounds.meta())
    finish_run(store, samples_expected=sum(rounds.end.values()))
    return config.out


def _up_to(end: dict[ProblemKey, int]):
    return lambda task, problem: range(end[(task.name, problem.problem_id)])


def _next_state(problems: Problems | None, plan: RoundPlan | None, this_round: Tally, so_far: Tally,
                task: np.ndarray, alpha: np.ndarray, settings: AdaptiveSettings) -> Problems:
    """The planner's state after a round: the pilot's (weight alpha, still to give 1 - alpha) or the last state
    moved on by the round, with costs renewed from the tokens seen."""
    costs = mean_costs(so_far, task)
    if problems is None or plan is None:
        return Problems(task, so_far.samples.copy(), so_far.correct.copy(), costs,
                        alpha ** 2 / settings.initial_n, 1.0 - alpha)
    return replace(after_round(problems, plan, this_round.correct), cost=costs)
