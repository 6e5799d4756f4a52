"""The mode audit's numbers, as pure functions over per-problem statistics.

Definitions (documented in the report too):
- A problem is *right* in a forced mode when its mean sample accuracy there is >= `threshold` (default 0.5).
- Auto *chose on* for a problem when strictly more than half of its auto samples were in mode "on"
  (a sample whose mode could not be parsed counts as not thinking).
- *Needless thinking*: auto chose on where forced-off was right.
  *Missed thinking*: auto chose off where forced-on was right and forced-off was wrong.
- The *oracle router* takes, per problem, the mode that is right; if both or neither are, the cheaper one
  (fewer mean completion tokens; "off" when a count is missing or tied, since not thinking is the cheap mode).
- Policy accuracy and tokens average per-problem means, so every problem weighs the same whatever its sample
  count (the report's estimator, `report.metrics.mean_over_problems`, with its bootstrap over problems for the
  accuracy CI); tokens average only problems whose counts are known.
- AES (O1-Pruner, Luo et al. 2025, arXiv 2501.12570): with dL = (L_base - L) / L_base and
  dA = (A - A_base) / A_base, AES = alpha * dL + beta * dA when dA >= 0, else alpha * dL - gamma * |dA|.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from kateval.report.metrics import Estimate, difficulty_order, mean_over_problems, safe_ratio

MODES = ("auto", "on", "off")
POLICIES = ("always_on", "always_off", "auto", "oracle")
BASELINE_POLICY = {"on": "always_on", "off": "always_off", "auto": "auto"}
DIFFICULTY_BINS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class AesWeights:
    alpha: float = 1.0   # length reduction
    beta: float = 3.0    # accuracy gain
    gamma: float = 5.0   # accuracy drop: punished harder than a gain is rewarded


O1_PRUNER_WEIGHTS = AesWeights()


@dataclass(frozen=True)
class ModeStats:
    samples: int
    accuracy: float
    mean_tokens: float | None
    think_rate: float


@dataclass(frozen=True)
class ProblemAudit:
    task: str
    problem_id: str
    difficulty: str | None
    auto: ModeStats
    on: ModeStats
    off: ModeStats
    chose_on: bool
    on_right: bool
    off_right: bool
    oracle: str   # "on" | "off"

    @property
    def needless(self) -> bool:
        return self.chose_on and self.off_right

    @property
    def missed(self) -> bool:
        return not self.chose_on and self.on_right and not self.off_right

    @property
    def name(self) -> str:
        return f"{self.task}/{self.problem_id}"

    def stats(self, policy: str) -> ModeStats:
        mode = {"always_on": "on", "always_off": "off", "auto": "auto", "oracle": self.oracle}[policy]
        return getattr(self, mode)

    def to_json_dict(self) -> dict[str, Any]:
        return {**asdict(self), "needless": self.needless, "missed": self.missed}


def mean(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def mode_stats(samples: Sequence[dict[str, Any]]) -> ModeStats:
    """Samples are store records (or any dicts with correct, mode, completion_tokens)."""
    return ModeStats(samples=len(samples), accuracy=sum(bool(s["correct"]) for s in samples) / len(samples),
                     mean_tokens=mean(s.get("completion_tokens") for s in samples),
                     think_rate=sum(s.get("mode") == "on" for s in samples) / len(samples))


def cheaper_mode(on: ModeStats, off: ModeStats) -> str:
    if on.mean_tokens is not None and off.mean_tokens is not None and on.mean_tokens < off.mean_tokens:
        return "on"
    return "off"


def audit_problem(task: str, problem_id: str, difficulty: str | None, samples: dict[str, Sequence[dict[str, Any]]],
                  threshold: float = 0.5) -> ProblemAudit:
    auto, on, off = (mode_stats(samples[mode]) for mode in MODES)
    on_right, off_right = on.accuracy >= threshold, off.accuracy >= threshold
    oracle = ("on" if on_right else "off") if on_right != off_right else cheaper_mode(on, off)
    return ProblemAudit(task, problem_id, difficulty, auto, on, off, chose_on=auto.think_rate > 0.5,
                        on_right=on_right, off_right=off_right, oracle=oracle)


def decision_matrix(problems: Sequence[ProblemAudit]) -> dict[str, dict[str, int]]:
    """Counts by auto's choice, then by the forced-on and forced-off verdicts."""
    matrix = {f"auto_{choice}": {f"on_{a}_off_{b}": 0 for a in ("right", "wrong") for b in ("right", "wrong")}
              for choice in ("on", "off")}
    for p in problems:
        cell = f"on_{'right' if p.on_right else 'wrong'}_off_{'right' if p.off_right else 'wrong'}"
        matrix[f"auto_{'on' if p.chose_on else 'off'}"][cell] += 1
    return matrix


def thinking_errors(problems: Sequence[ProblemAudit]) -> dict[str, dict[str, Any]]:
    """`rate` is over all problems; `conditional_rate` over the problems where the error was possible
    (forced-off right for needless; forced-on right and forced-off wrong for missed)."""
    needless = [p.name for p in problems if p.needless]
    missed = [p.name for p in problems if p.missed]
    could_skip = sum(p.off_right for p in problems)
    had_to_think = sum(p.on_right and not p.off_right for p in problems)
    return {
        "needless": {"count": len(needless), "rate": safe_ratio(len(needless), len(problems)),
                     "conditional_rate": safe_ratio(len(needless), could_skip), "problems": needless},
        "missed": {"count": len(missed), "rate": safe_ratio(len(missed), len(problems)),
                   "conditional_rate": safe_ratio(len(missed), had_to_think), "problems": missed},
    }


def policy_accuracy(problems: Sequence[ProblemAudit]) -> dict[str, Estimate]:
    return {policy: mean_over_problems([p.stats(policy).accuracy for p in problems]) for policy in POLICIES}


def policy_points(problems: Sequence[ProblemAudit],
                  accuracy: dict[str, Estimate] | None = None) -> dict[str, dict[str, float | None]]:
    accuracy = accuracy or policy_accuracy(problems)
    return {policy: {"accuracy": accuracy[policy].value,
                     "mean_tokens": mean(p.stats(policy).mean_tokens for p in problems)}
            for policy in POLICIES}


def regret(points: dict[str, dict[str, float | None]]) -> dict[str, float | None]:
    """What auto gives up against the oracle: accuracy lost and tokens spent beyond it (positive = worse)."""
    auto, oracle = points["auto"], points["oracle"]
    known = None not in (auto["mean_tokens"], oracle["mean_tokens"])
    return {"accuracy": oracle["accuracy"] - auto["accuracy"],
            "tokens": auto["mean_tokens"] - oracle["mean_tokens"] if known else None}


def aes(accuracy: float, tokens: float | None, base_accuracy: float, base_tokens: float | None,
        weights: AesWeights = O1_PRUNER_WEIGHTS) -> float | None:
    """None when the baseline has no accuracy or no token count to be relative to."""
    if not base_accuracy or not base_tokens or tokens is None:
        return None
    length_gain = (base_tokens - tokens) / base_tokens
    accuracy_change = (accuracy - base_accuracy) / base_accuracy
    if accuracy_change >= 0:
        return weights.alpha * length_gain + weights.beta * accuracy_change
    return weights.alpha * length_gain - weights.gamma * abs(accuracy_change)


def aes_scores(points: dict[str, dict[str, float | None]], baseline: str,
               weights: AesWeights) -> dict[str, float | None]:
    base = points[BASELINE_POLICY[baseline]]
    return {policy: aes(point["accuracy"], point["mean_tokens"], base["accuracy"], base["mean_tokens"], weights)
            for policy, point in points.items()}


def think_rate_by_difficulty(problems: Sequence[ProblemAudit],
                             edges: Sequence[float] = DIFFICULTY_BINS) -> list[dict[str, Any]]:
    """Auto's mean think rate in bins of empirical difficulty (forced-on accuracy; the last bin is closed)."""
    rows = []
    for index, (low, high) in enumerate(itertools.pairwise(edges)):
        last = index == len(edges) - 2
        inside = [p for p in problems if low <= p.on.accuracy < high or (last and p.on.accuracy == high)]
        rows.append({"on_accuracy_from": low, "on_accuracy_to": high, "problems": len(inside),
                     "think_rate": mean(p.auto.think_rate for p in inside)})
    return rows


def summarize(problems: Sequence[ProblemAudit], baseline: str, weights: AesWeights) -> dict[str, Any]:
    accuracy = policy_accuracy(problems)
    points = policy_points(problems, accuracy)
    return {
        "problems": len(problems),
        "think_rate": mean(p.auto.think_rate for p in problems),
        "chose_on_rate": safe_ratio(sum(p.chose_on for p in problems), len(problems)),
        "decision_matrix": decision_matrix(problems),
        **thinking_errors(problems),
        "policies": points,
        "policy_accuracy_ci95": {policy: estimate.interval for policy, estimate in accuracy.items()},
        "regret": regret(points),
        "aes": aes_scores(points, baseline, weights),
        "think_rate_by_difficulty": think_rate_by_difficulty(problems),
    }


def build_audit(problems: Sequence[ProblemAudit], baseline: str = "on",
                weights: AesWeights = O1_PRUNER_WEIGHTS) -> dict[str, Any]:
    """Overall, per task, and per difficulty within each task."""
    tasks = {}
    for task in sorted({p.task for p in problems}):
        mine = [p for p in problems if p.task == task]
        labels = sorted({p.difficulty or "unrated" for p in mine}, key=difficulty_order)
        by_difficulty = {label: summarize([p for p in mine if (p.difficulty or "unrated") == label], baseline, weights)
                         for label in labels if any(p.difficulty for p in mine)}
        tasks[task] = {**summarize(mine, baseline, weights), "difficulties": by_difficulty}
    return {"overall": summarize(problems, baseline, weights), "tasks": tasks}
