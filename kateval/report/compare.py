"""Two runs, paired on the problems both hold: accuracy and token differences with paired bootstrap CIs, an exact
paired test, how the think decision moved, and the problems that flipped. Direction: B minus A."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kateval.report import metrics
from kateval.report.aggregate import ProblemTotals, TaskAggregate, collect
from kateval.report.browser import sample_href
from kateval.report.render import Document, Link, Table, interval, num, pct
from kateval.report.runfacts import RunFacts, run_facts
from kateval.types import KatevalError

IGNORED_SAMPLING = {"seed"}   # runs that differ only by seed are replicates, the thing a comparison is for


@dataclass(frozen=True)
class Pair:
    task: str
    problem_id: str
    a: ProblemTotals
    b: ProblemTotals


def _n(aggregates: dict[str, TaskAggregate]) -> set[int]:
    return {p.samples for agg in aggregates.values() for p in agg.problems.values()}


def differences(facts_a: RunFacts, facts_b: RunFacts, n_a: set[int], n_b: set[int]) -> list[str]:
    """What makes the two runs' numbers not like for like (model and seed excepted), one line each."""
    out = []
    if set(facts_a.tasks) != set(facts_b.tasks):
        out.append(f"tasks: {','.join(facts_a.tasks)} vs {','.join(facts_b.tasks)}")
    for name in sorted(set(facts_a.tasks) & set(facts_b.tasks)):
        if facts_a.tasks[name] != facts_b.tasks[name]:
            out.append(f"task {name}: {facts_a.tasks[name]} vs {facts_b.tasks[name]}")
    unknown = _unknown_sampling(facts_a, facts_b)
    if len(unknown) == 1:
        known = facts_b.sampling if unknown == ["A"] else facts_a.sampling
        out.append(f"sampling (unknown for {unknown[0]}, a kateval score run): the other run used "
                   + ", ".join(f"{key}={value}" for key, value in sorted((known or {}).items())))
    if not unknown:
        for key in sorted((set(facts_a.sampling) | set(facts_b.sampling)) - IGNORED_SAMPLING):
            if facts_a.sampling.get(key) != facts_b.sampling.get(key):
                out.append(f"sampling {key}: {facts_a.sampling.get(key)} vs {facts_b.sampling.get(key)}")
    if n_a != n_b and (facts_a.sampling is None or facts_b.sampling is None):
        out.append(f"samples per problem: {sorted(n_a)} vs {sorted(n_b)}")
    return out


def _unknown_sampling(facts_a: RunFacts, facts_b: RunFacts) -> list[str]:
    """The sides whose sampling was not recorded: a `kateval score` run graded completions made elsewhere."""
    return [side for side, facts in (("A", facts_a), ("B", facts_b)) if facts.sampling is None]


def _sampling_notes(facts_a: RunFacts, facts_b: RunFacts) -> list[str]:
    if len(_unknown_sampling(facts_a, facts_b)) == 2:
        return ["the sampling of both runs is unknown (kateval score runs): nothing shows they were sampled alike"]
    return []


def _mode_class(p: ProblemTotals) -> str:
    return "on" if p.think_on == p.samples else "off" if p.think_on == 0 else "mixed"


def paired_stats(pairs: list[Pair]) -> dict[str, Any]:
    """Accuracy difference (paired bootstrap over problems), exact McNemar when every problem has one sample
    per run, else the sign test on per-problem accuracy differences; token difference where both are known."""
    a = np.array([p.a.rate for p in pairs])
    b = np.array([p.b.rate for p in pairs])
    diff = metrics.mean_over_problems(b - a)
    single = all(p.a.samples == 1 and p.b.samples == 1 for p in pairs)
    better, worse = int((b > a).sum()), int((b < a).sum())
    known = [p for p in pairs if p.a.tokens_known and p.b.tokens_known]
    tokens_a = np.array([p.a.tokens / p.a.tokens_known for p in known])
    tokens_b = np.array([p.b.tokens / p.b.tokens_known for p in known])
    token_diff = metrics.mean_over_problems(tokens_b - tokens_a)
    return {
        "problems": len(pairs), "accuracy_a": metrics.problem_mean(a), "accuracy_b": metrics.problem_mean(b),
        "accuracy_diff": diff.value, "accuracy_diff_ci95": diff.interval,
        "test": "mcnemar_exact" if single else "sign_test", "b_better": better, "a_better": worse,
        "p_value": metrics.binomial_two_sided(better, worse),
        "token_problems": len(known),
        "mean_tokens_a": metrics.problem_mean(tokens_a), "mean_tokens_b": metrics.problem_mean(tokens_b),
        "token_diff": token_diff.value, "token_diff_ci95": token_diff.interval,
    }


def mode_switch(pairs: list[Pair]) -> list[dict[str, Any]]:
    """Per-problem think decision in A against B ('mixed': some samples thought), with how each run fared."""
    cells: dict[tuple[str, str], list[Pair]] = {}
    for pair in pairs:
        cells.setdefault((_mode_class(pair.a), _mode_class(pair.b)), []).append(pair)
    return [{"mode_a": mode_a, "mode_b": mode_b, "problems": len(group),
             "accuracy_a": float(np.mean([p.a.rate for p in group])),
             "accuracy_b": float(np.mean([p.b.rate for p in group]))}
            for (mode_a, mode_b), group in sorted(cells.items())]


def flipped(pairs: list[Pair]) -> list[dict[str, Any]]:
    """Problems solved (by most samples) in one run and not in the other, largest change first."""
    rows = [{"task": p.task, "problem_id": p.problem_id, "direction": "gained" if p.b.rate > 0.5 else "lost",
             "accuracy_a": p.a.rate, "accuracy_b": p.b.rate, "mode_a": _mode_class(p.a),
             "mode_b": _mode_class(p.b)}
            for p in pairs if (p.a.rate > 0.5) != (p.b.rate > 0.5)]
    return sorted(rows, key=lambda r: (-abs(r["accuracy_b"] - r["accuracy_a"]), r["task"], r["problem_id"]))


def _pairs(agg_a: dict[str, TaskAggregate], agg_b: dict[str, TaskAggregate]) -> dict[str, list[Pair]]:
    out = {}
    for task in sorted(set(agg_a) & set(agg_b)):
        a, b = agg_a[task].problems, agg_b[task].problems
        shared = [Pair(task, pid, a[pid], b[pid]) for pid in sorted(set(a) & set(b))]
        if shared:
            out[task] = shared
    return out


def compare_runs(run_a: Path, run_b: Path, force: bool = False, show_progress: bool = False) -> dict[str, Any]:
    facts_a, facts_b = run_facts(run_a), run_facts(run_b)
    agg_a, agg_b = collect(run_a, show_progress), collect(run_b, show_progress)
    diffs = differences(facts_a, facts_b, _n(agg_a), _n(agg_b))
    if diffs and not force:
        raise KatevalError(f"the runs differ in {', '.join(d.split(':')[0] for d in diffs)}; "
                           "--force compares them anyway and lists the differences")
    pairs = _pairs(agg_a, agg_b)
    if not pairs:
        raise KatevalError(f"{run_a} and {run_b} share no problems; nothing to compare")
    everything = [pair for group in pairs.values() for pair in group]
    problems_a = sum(len(agg.problems) for agg in agg_a.values())
    problems_b = sum(len(agg.problems) for agg in agg_b.values())
    return {"only_a": problems_a - len(everything), "only_b": problems_b - len(everything),
            "run_a": {"run_dir": str(run_a), **facts_a.as_dict()},
            "run_b": {"run_dir": str(run_b), **facts_b.as_dict()},
            "differences": diffs, "notes": _sampling_notes(facts_a, facts_b) + facts_a.notes() + facts_b.notes(),
            "tasks": {task: paired_stats(group) for task, group in pairs.items()},
            "overall": paired_stats(everything), "mode_switch": mode_switch(everything),
            "flipped": flipped(everything)}


def _flipped_table(result: dict[str, Any], rows: int, reports: dict[str, str] | None) -> Table:
    """`reports`: {"a": href, "b": href} of the two runs' report.html, to link each problem to its samples."""
    header = ["task", "problem", "B", "acc. A", "acc. B", "mode A", "mode B"]
    body = []
    for f in result["flipped"][:rows]:
        row = [f["task"], f["problem_id"], f["direction"], pct(f["accuracy_a"]), pct(f["accuracy_b"]), f["mode_a"],
               f["mode_b"]]
        if reports:
            row += [Link(f"run {side.upper()}", sample_href(reports[side], f["task"], f["problem_id"]))
                    for side in ("a", "b")]
        body.append(row)
    return Table(f"Flipped problems ({len(result['flipped'])})",
                 header + (["samples A", "samples B"] if reports else []), body,
                 "Solved by most samples in one run and not in the other" +
                 (f"; the first {rows} shown" if len(result["flipped"]) > rows else "") +
                 ("; the links open the problem's samples in each run's report" if reports else ""))


def compare_document(result: dict[str, Any], flipped_rows: int = 50, reports: dict[str, str] | None = None
                     ) -> Document:
    a, b = result["run_a"], result["run_b"]
    shared = result["overall"]["problems"]
    lines = [f"A: {a['model']} ({a['run_dir']})", f"B: {b['model']} ({b['run_dir']})",
             f"paired on {shared} shared problems ({result['only_a']} only in A, {result['only_b']} only in B)",
             "differences are B minus A; CIs are paired bootstraps over shared problems (1000 resamples, seed 0)"]
    rows = [[task, s["problems"], pct(s["accuracy_a"]), pct(s["accuracy_b"]), pct(s["accuracy_diff"]),
             interval(s["accuracy_diff_ci95"]), f"{s['test']} ({s['b_better']}+/{s['a_better']}-)",
             f"{s['p_value']:.3g}", num(s["mean_tokens_a"]), num(s["mean_tokens_b"]), num(s["token_diff"]),
             "-" if s["token_diff_ci95"] is None else f"[{num(s['token_diff_ci95'][0])}, {num(s['token_diff_ci95'][1])}]"]
            for task, s in [*result["tasks"].items(), ("overall", result["overall"])]]
    tables = [Table("Paired comparison", ["task", "shared problems", "acc. A", "acc. B", "diff", "95% CI", "test",
                                          "p", "tokens A", "tokens B", "token diff", "token diff 95% CI"], rows),
              Table("Think decision, A against B", ["mode A", "mode B", "problems", "acc. A", "acc. B"],
                    [[m["mode_a"], m["mode_b"], m["problems"], pct(m["accuracy_a"]), pct(m["accuracy_b"])]
                     for m in result["mode_switch"]],
                    "Per problem: on = every sample thought, off = none did, mixed = some did."),
              _flipped_table(result, flipped_rows, reports)]
    notes = [f"configurations differ: {d}" for d in result["differences"]] + result["notes"]
    return Document(f"kateval compare: {a['model']} vs {b['model']}", lines, notes, tables)
