"""summary.json: per task and overall, accuracy with its uncertainty, what it cost in tokens, and how the model
chose to think; computed from one streaming pass over the run store."""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from kateval.mathgrade import answer_key
from kateval.report import metrics
from kateval.report.aggregate import MODES, ProblemTotals, TaskAggregate, collect, merge
from kateval.report.runfacts import run_facts
from kateval.types import KatevalError

# maj@n needs comparable final answers: tasks graded by answer (AIME), not by running code.
ANSWER_STATUSES = frozenset({"correct", "wrong_answer", "no_answer", "truncated"})


def summarize(run_dir: Path, show_progress: bool = False) -> dict[str, Any]:
    facts = run_facts(run_dir)
    aggregates = collect(run_dir, show_progress)
    max_tokens = (facts.sampling or {}).get("max_tokens")
    if not aggregates:
        raise KatevalError(f"{run_dir}: no samples stored yet; nothing to report")
    tasks = {name: task_summary(agg, max_tokens) for name, agg in aggregates.items()}
    overall = task_summary(merge(aggregates), max_tokens, majority=False)
    overall["macro_accuracy"] = float(np.mean([t["accuracy"] for t in tasks.values()]))
    fingerprint = facts.fingerprint(overall["samples_per_problem"])
    return {"run_dir": str(run_dir), "run": {**facts.as_dict(), "fingerprint": fingerprint},
            "notes": facts.notes(), "tasks": tasks, "overall": overall}


def task_summary(agg: TaskAggregate, max_tokens: int | None = None, majority: bool = True) -> dict[str, Any]:
    a = agg.arrays()
    problems = list(agg.problems.values())
    samples = np.array([p.samples for p in problems])
    solved = np.array([p.correct for p in problems])
    weighted, weight, weight_sq = (np.array([getattr(p, key) for p in problems])
                                   for key in ("weighted", "weight", "weight_sq"))
    known = a["completion_tokens"] >= 0
    n = int(samples.min())
    accuracy = metrics.accuracy_estimate(weighted, weight)   # the plain mean of means unless rounds were weighted
    return {
        "problems": len(problems),
        "samples": agg.samples,
        "samples_per_problem": n if samples.max() == n else sorted(set(samples.tolist())),
        "accuracy": accuracy.value,
        "accuracy_ci95": accuracy.interval,
        "sampling_ci95": metrics.weighted_sampling_interval(solved, samples, weighted, weight, weight_sq).interval,
        "pass_at_k": _pass_at_k(samples, solved, accuracy.value, np.allclose(weight ** 2, weight_sq * samples)),
        "maj_at_n": _majority(agg) if majority and set(agg.statuses) <= ANSWER_STATUSES else None,
        "think_rate": float((a["mode"] == 0).mean()),
        "accuracy_think_on": _mean_where(a["correct"], a["mode"] == 0),
        "accuracy_think_off": _mean_where(a["correct"], a["mode"] == 1),
        "mean_completion_tokens": _mean_known(a["completion_tokens"]),
        "mean_judge_tokens": _mean_known(a["judge_tokens"]),
        "mean_think_tokens": _mean_known(a["think_tokens"]),
        "mean_answer_tokens": _mean_known(a["answer_tokens"]),
        "completion_tokens": metrics.token_stats(a["completion_tokens"][known]),
        "tokens_per_correct": _tokens_per_correct(a, known),
        "truncation_rate": float(a["truncated"].mean()),
        "accuracy_lost_to_truncation": metrics.problem_weighted_mean(a["truncated"] & ~a["correct"],
                                                                     a["problem_index"], a["weight"]),
        "well_formed_rate": agg.well_formed / agg.samples,
        "think_budget_hit_rate": agg.budget_hits / agg.samples,
        "status_counts": dict(agg.statuses.most_common()),
        "by_mode": _by_mode(a, known),
        "by_difficulty": _by_difficulty(agg),
        "accuracy_under_budget": _budget(a, known, max_tokens),
        "token_histogram": _histogram(a, known),
    }


def _pass_at_k(samples: np.ndarray, solved: np.ndarray, accuracy: float, alike: bool) -> dict[str, float]:
    """pass@1 is the accuracy; pass@k for k > 1 (unbiased per problem given its n) only when every sample of a
    problem weighs alike: an adaptive run's sample counts depend on the outcomes, which biases it."""
    ks = metrics.pass_ks(int(samples.min())) if alike else [1]
    return {str(k): accuracy if k == 1 else metrics.mean_pass_at_k(samples, solved, k) for k in ks}


def _mean_where(values: np.ndarray, mask: np.ndarray) -> float | None:
    return float(values[mask].mean()) if mask.any() else None


def _mean_known(tokens: np.ndarray) -> float | None:
    return _mean_where(tokens, tokens >= 0)


def _tokens_per_correct(a: dict[str, np.ndarray], known: np.ndarray) -> float | None:
    """Completion tokens spent over the run per correct sample (only samples with a known count)."""
    return metrics.safe_ratio(float(a["completion_tokens"][known].sum()), float(a["correct"][known].sum()))


def _majority(agg: TaskAggregate) -> float:
    """Votes on the grader's canonical answers (`322` and `322.` are one answer), each text normalized once."""
    keys: dict[str, str] = {}

    def normalize(answer: str) -> str:
        if answer not in keys:
            keys[answer] = answer_key(answer)
        return keys[answer]

    return float(np.mean([metrics.majority_correct(p.vote_table(normalize)) for p in agg.problems.values()]))


def _by_mode(a: dict[str, np.ndarray], known: np.ndarray) -> dict[str, dict[str, Any]]:
    out = {}
    for index, mode in enumerate(MODES):
        mask = a["mode"] == index
        if mask.any():
            out[mode] = {"samples": int(mask.sum()), "share": float(mask.mean()),
                         "accuracy": float(a["correct"][mask].mean()),
                         "completion_tokens": metrics.token_stats(a["completion_tokens"][mask & known])}
    return out


def _by_difficulty(agg: TaskAggregate) -> dict[str, dict[str, Any]]:
    """Accuracy per level is the same estimator as the task's (mean over its problems); think rate and tokens
    are over its samples."""
    groups: dict[str, list[ProblemTotals]] = defaultdict(list)
    for problem in agg.problems.values():
        if problem.difficulty is not None:
            groups[str(problem.difficulty)].append(problem)
    out = {}
    for level in sorted(groups, key=metrics.difficulty_order):
        group = groups[level]
        samples = sum(p.samples for p in group)
        accuracy = metrics.accuracy_estimate([p.weighted for p in group], [p.weight for p in group])
        out[level] = {"problems": len(group), "samples": samples, "accuracy": accuracy.value,
                      "accuracy_ci95": accuracy.interval,
                      "think_rate": sum(p.think_on for p in group) / samples,
                      "mean_completion_tokens": metrics.safe_ratio(sum(p.tokens for p in group),
                                                                   sum(p.tokens_known for p in group))}
    return out


def _budget(a: dict[str, np.ndarray], known: np.ndarray, max_tokens: int | None) -> dict[str, float]:
    """Over the samples with a known length (all of them unless the source gave text only)."""
    tokens, correct = a["completion_tokens"][known], a["correct"][known]
    return metrics.budget_curve(tokens, correct, metrics.budget_grid(tokens, correct, max_tokens),
                                a["problem_index"][known], a["weight"][known])


def _histogram(a: dict[str, np.ndarray], known: np.ndarray) -> dict[str, list] | None:
    if not known.any():
        return None
    edges = metrics.histogram_edges(a["completion_tokens"][known])
    counts = {mode: metrics.histogram(a["completion_tokens"][known & (a["mode"] == i)], edges)
              for i, mode in enumerate(MODES) if (a["mode"] == i).any()}
    return {"edges": edges.tolist(), **counts}


def write_summary(run_dir: Path, summary: dict[str, Any] | None = None) -> Path:
    path = Path(run_dir) / "summary.json"
    summary = summarize(run_dir) if summary is None else summary
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return path
