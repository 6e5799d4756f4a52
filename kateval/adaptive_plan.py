"""Adaptive sampling's arithmetic: where the next round's samples go and what each round weighs. Pure numpy, no
I/O; every array holds one entry per problem, and `task` says whose goal each problem serves, so one call plans all
the tasks of a run, or (benchmarks/bench_adaptive.py) thousands of simulated tasks at once.

Why weights. A problem that looks solved after a few samples gets fewer more; its plain mean then stops on a lucky
streak more often than on an unlucky one, and the mean of per-problem means leans toward 0 and 1 (100 problems at
0.8-1.0, target +-1 point: +0.004 against a standard error of 0.005, coverage 0.87). No allocation that reacts to a
problem's own outcomes keeps the plain mean unbiased. What does, whatever the allocation:
a weighted mean of the problem's rounds in which each round's weight is fixed BEFORE its outcomes are seen and the
weights sum to one on every path. Each round's mean is unbiased given the past, so E[sum_r w_r mean_r] = p. So every
problem holds `remaining` weight (1 - the pilot's): a round that takes m of the M samples still planned gives them
w = remaining * m / M, and the round that completes a problem's plan gives it all that is left (the problem is then
closed). The pilot's weight is a constant (`pilot_weight`), since nothing is known before it. The variance of a
problem's estimate is p(1-p) * spread, spread = sum over its samples of their weight squared (1/n for a plain mean),
estimated with `metrics.problem_variances`. Weights that differ from a plain mean's cost variance; plans made from
few samples change, so they do (about 10% on the AIME-like benchmark task).

Where samples go. Given a price per unit of variance, each open problem plans M = remaining * sqrt(v / (price * c))
/ P more samples (Neyman allocation with cost c = expected tokens per sample; variance in accuracy units, P the
task's problems), clipped to [1, max_n - n]; the price is solved per task so the task's planned variance meets its
goal, and a token budget sets a floor under every task's price. A round takes at most `growth` times each problem's
samples of its plan, so plans made from a few samples are re-made before most of them are spent; under a binding
budget a round completes the plans instead.

Two decisions (`decide`) look at a whole task's outcomes instead of one problem's; they move a problem's estimate
far less, and the benchmark measures no bias from them: ending right after the pilot when its plain mean (all
problems then have the same samples) already meets the target, and giving a task that closed just over its goal (its
variance estimates renewed since its plans) a share of weight back for new samples.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from kateval.report.metrics import normal_quantile, problem_variances

REFERENCE_VARIANCE = 0.1   # a problem's Bernoulli variance assumed when setting the pilot's weight (a typical task)
PRICE_STEPS = 80           # bisection steps on log(price)
LOG_PRICE_RANGE = (-80.0, 80.0)


@dataclass(frozen=True)
class Problems:
    """Per problem: what its samples say and what weight it has given. Arrays of equal length."""
    task: np.ndarray        # index of the problem's task (0..tasks-1)
    samples: np.ndarray     # samples so far
    correct: np.ndarray     # correct samples so far
    cost: np.ndarray        # expected completion tokens of one more sample
    spread: np.ndarray      # sum over the samples given weight of that weight squared
    remaining: np.ndarray   # weight not yet given to any sample (0: closed)

    @property
    def tasks(self) -> int:
        return int(self.task.max()) + 1 if self.task.size else 0

    def sizes(self) -> np.ndarray:
        """Each problem's task size P."""
        return np.bincount(self.task, minlength=self.tasks)[self.task].astype(float)


@dataclass(frozen=True)
class RoundPlan:
    step: np.ndarray        # samples each problem gets in the round
    weight: np.ndarray      # weight of the round's samples (together) in each problem's estimate
    future: np.ndarray      # samples still planned per problem, the round's included
    budget_bound: np.ndarray   # per task: the token budget, not the target, set its price


def pilot_weight(initial_n: int, max_n: int, target: float | None, problems: int, level: float = 0.95) -> float:
    """The first round's weight in every problem's estimate: its share of the samples a problem of typical variance
    (REFERENCE_VARIANCE) would need for the target, fixed before any outcome. 1 when nothing can follow it."""
    if max_n <= initial_n:
        return 1.0
    typical = (normal_quantile(level) / target) ** 2 * REFERENCE_VARIANCE / problems if target else max_n / 2
    return min(0.5, initial_n / max(typical, initial_n + 1.0))


def task_sum(values: np.ndarray, task: np.ndarray, tasks: int) -> np.ndarray:
    return np.bincount(task, weights=values, minlength=tasks)


def interim_variance(problems: Problems) -> np.ndarray:
    """Per task: the variance of its accuracy estimated from the weight given so far (open problems' estimates
    rescaled by 1 / (1 - remaining), as if they stopped now)."""
    given = 1.0 - problems.remaining
    spread = np.where(given > 0, problems.spread / np.maximum(given, 1e-12) ** 2, np.inf)
    variance = problem_variances(problems.correct, problems.samples) * spread / problems.sizes() ** 2
    return task_sum(variance, problems.task, problems.tasks)


def planned_samples(problems: Problems, price: np.ndarray, max_n: int) -> np.ndarray:
    """Samples each open problem would still take at its task's price (float, >= 1; 0 for a closed problem)."""
    open_ = problems.remaining > 0
    variance = problem_variances(problems.correct, problems.samples) / problems.sizes() ** 2
    room = np.maximum(max_n - problems.samples, 1.0)
    ideal = problems.remaining * np.sqrt(variance / (price[problems.task] * problems.cost))
    return np.where(open_, np.clip(ideal, 1.0, room), 0.0)


def planned_variance(problems: Problems, future: np.ndarray) -> np.ndarray:
    """Per task: its accuracy's variance once every open problem has taken `future` more samples, the remaining
    weight spread evenly over them."""
    variance = problem_variances(problems.correct, problems.samples) / problems.sizes() ** 2
    to_come = np.where(future > 0, problems.remaining ** 2 / np.maximum(future, 1e-12), 0.0)
    return task_sum(variance * (problems.spread + to_come), problems.task, problems.tasks)


def solve_prices(problems: Problems, goals: np.ndarray, max_n: int) -> np.ndarray:
    """Per task: the highest price (fewest samples) whose plan meets the task's variance goal; the lowest price
    (every open problem at max_n) when none does, and the highest when the goal is met already."""
    low = np.full(problems.tasks, LOG_PRICE_RANGE[0])
    high = np.full(problems.tasks, LOG_PRICE_RANGE[1])
    for _ in range(PRICE_STEPS):
        middle = (low + high) / 2
        meets = planned_variance(problems, planned_samples(problems, np.exp(middle), max_n)) <= goals
        low, high = np.where(meets, middle, low), np.where(meets, high, middle)
    return np.exp(low)


def budget_price(problems: Problems, prices: np.ndarray, max_n: int, room: float) -> float:
    """The price floor under which the planned samples' expected tokens fit in `room` (0 when they fit already)."""
    def cost(floor: float) -> float:
        future = planned_samples(problems, np.maximum(prices, floor), max_n)
        return float((future * problems.cost).sum())

    if cost(0.0) <= room:
        return 0.0
    low, high = LOG_PRICE_RANGE
    for _ in range(PRICE_STEPS):
        middle = (low + high) / 2
        low, high = (low, middle) if cost(np.exp(middle)) <= room else (middle, high)
    return float(np.exp(high))


def plan_round(problems: Problems, goals: np.ndarray, max_n: int, growth: float,
               room: float = np.inf) -> RoundPlan:
    """The next round: how many samples each open problem takes and the weight they carry. Deterministic."""
    prices = solve_prices(problems, goals, max_n)
    floor = budget_price(problems, prices, max_n, room) if np.isfinite(room) else 0.0
    future = np.ceil(planned_samples(problems, np.maximum(prices, floor), max_n) - 1e-9)
    cap = np.maximum(np.ceil((growth - 1.0) * problems.samples), 1.0)
    bound = floor > prices
    # Under a binding budget the round completes every plan: a plan re-made after a round whose samples ran longer
    # than expected could find no tokens left for a problem still holding weight.
    step = np.where(bound[problems.task], future, np.minimum(future, cap))
    weight = np.where(step >= future, problems.remaining,
                      problems.remaining * step / np.maximum(future, 1.0))
    weight = np.where(future > 0, weight, 0.0)
    return RoundPlan(step.astype(int), weight, future, bound)


def after_round(problems: Problems, plan: RoundPlan, correct: np.ndarray) -> Problems:
    """The state once the round's samples are in (`correct`: the round's correct samples per problem). The caller
    renews `cost` from the tokens it saw."""
    taken = plan.step > 0
    return replace(
        problems, samples=problems.samples + plan.step, correct=problems.correct + correct,
        spread=problems.spread + np.where(taken, plan.weight ** 2 / np.maximum(plan.step, 1), 0.0),
        remaining=np.where(taken, np.where(plan.step >= plan.future, 0.0, problems.remaining - plan.weight),
                           problems.remaining))


def rescale(problems: Problems, scale: np.ndarray, remaining: np.ndarray) -> Problems:
    """Every weight given so far multiplied by its task's `scale` (spread by the square), and `remaining` (per task;
    NaN: unchanged) as the weight still to give. Scale 1 / (1 - remaining) turns the pilot into the whole estimate;
    scale 1 - g with remaining g gives a closed task weight back for new samples."""
    factor = scale[problems.task]
    left = remaining[problems.task]
    return replace(problems, spread=problems.spread * factor ** 2,
                   remaining=np.where(np.isnan(left), problems.remaining, left))


@dataclass(frozen=True)
class Decision:
    problems: Problems       # the state to go on from (weights possibly rescaled, see `scale`)
    scale: np.ndarray        # per task: the factor applied to every weight already given (1: none)
    plan: RoundPlan | None   # the next round; None: nothing more to sample
    stopped: list[str | None]   # per task, once it needs nothing more: target | max_n | token_budget |
                                # reopen_limit (missed by a hair after its last allowed reopening); None: open


def decide(problems: Problems, goals: np.ndarray, *, max_n: int, growth: float, margin: float, room: float,
           after_pilot: bool, reopen: np.ndarray) -> Decision:
    """What follows a round, from the state it left. `goals`: per task variance goal (0: no target, only the budget
    stops it); `room`: tokens left to spend; `after_pilot`: the round was the first; `reopen`: per task, whether a
    closed task over its goal may get weight back (the whole-task decisions of the opening comment)."""
    tasks = problems.tasks
    scale, left = np.ones(tasks), np.full(tasks, np.nan)
    open_ = task_sum((problems.remaining > 0).astype(float), problems.task, tasks) > 0
    one_more = task_sum(problems.cost, problems.task, tasks)      # tokens of one more sample of every problem
    broke = room < (one_more * open_).sum()                        # every open problem needs one more sample
    if after_pilot:
        # The pilot's plain mean is the estimate where it meets the target, or everywhere if the budget is spent.
        done = ((goals > 0) & (interim_variance(problems) <= goals)) | broke
        given = 1.0 - task_sum(problems.remaining, problems.task, tasks) / np.maximum(
            np.bincount(problems.task, minlength=tasks), 1)
        scale, left = np.where(done, 1.0 / np.maximum(given, 1e-12), 1.0), np.where(done, 0.0, np.nan)
        open_ &= ~done
    variance = interim_variance(rescale(problems, scale, left))
    at_max = task_sum((problems.samples < max_n).astype(float), problems.task, tasks) == 0
    missed = ~open_ & (goals > 0) & (variance > goals) & ~at_max & reopen & (room >= one_more)
    gamma = np.clip(1.0 - margin * goals / np.maximum(variance, 1e-300), 0.05, 0.5)
    scale = np.where(missed, scale * (1.0 - gamma), scale)
    left = np.where(missed, gamma, left)
    problems = rescale(problems, scale, left)
    open_ |= missed
    stopped: list[str | None] = [None if open_[t] else _why(goals[t], variance[t], at_max[t], room, one_more[t])
                                 for t in range(tasks)]
    if not open_.any() or room <= 0:
        stopped = [reason or "token_budget" for reason in stopped]
        return Decision(problems, scale, None, stopped)
    plan = plan_round(problems, np.where(open_, margin * goals, np.inf), max_n, growth, room)
    return Decision(problems, scale, plan, stopped)


def _why(goal: float, variance: float, at_max: bool, room: float, one_more: float) -> str:
    if goal > 0 and variance <= goal:
        return "target"
    if at_max:
        return "max_n"
    return "token_budget" if room < one_more or goal == 0 else "reopen_limit"


def variance_goal(target: float, level: float = 0.95) -> float:
    """The variance of a task's accuracy whose normal half-width is `target`."""
    return (target / normal_quantile(level)) ** 2
