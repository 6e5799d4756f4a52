"""Read the three runs of an audit (auto, forced on, forced off) from the store and pair their problems."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kateval.audit.metrics import MODES, ProblemAudit, audit_problem
from kateval.store import iter_records, read_run_meta
from kateval.types import KatevalError

# Only what the audit needs: runs can be large and completions long.
_KEPT = ("correct", "mode", "completion_tokens", "think_tokens", "difficulty")
ProblemKey = tuple[str, str]


@dataclass(frozen=True)
class AuditInput:
    problems: list[ProblemAudit]
    runs: dict[str, dict[str, Any]]        # mode -> facts about its run directory
    unmatched: dict[str, list[str]]        # mode -> problems only some runs have, skipped


def read_run(mode: str, run_dir: Path) -> tuple[dict[str, Any], dict[ProblemKey, list[dict[str, Any]]]]:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise KatevalError(f"--{mode} {run_dir}: no such directory")
    meta = read_run_meta(run_dir)
    recorded = (meta.get("backend_config") or {}).get("mode")
    if recorded not in (None, mode):
        raise KatevalError(f"--{mode} {run_dir} was run with --mode {recorded}, not --mode {mode}")
    samples: dict[ProblemKey, list[dict[str, Any]]] = defaultdict(list)
    for record in iter_records(run_dir):
        samples[(record["task"], record["problem_id"])].append({k: record.get(k) for k in _KEPT})
    if not samples:
        raise KatevalError(f"--{mode} {run_dir} holds no samples")
    backend = meta.get("backend") or {}
    facts = {"run_dir": str(run_dir), "recorded_mode": recorded, "model": backend.get("model"),
             "backend": backend.get("backend"), "sampling": meta.get("sampling"),
             "samples": sum(map(len, samples.values())), "problems": len(samples)}
    return facts, samples


def load_audit_input(run_dirs: dict[str, Path], threshold: float = 0.5) -> AuditInput:
    facts, samples = {}, {}
    for mode in MODES:
        facts[mode], samples[mode] = read_run(mode, run_dirs[mode])
    tasks = {mode: sorted({task for task, _ in samples[mode]}) for mode in MODES}
    if len({tuple(names) for names in tasks.values()}) > 1:
        raise KatevalError("the runs cover different tasks (" +
                           "; ".join(f"{mode}: {', '.join(names)}" for mode, names in tasks.items()) + ")")
    shared = set.intersection(*(set(samples[mode]) for mode in MODES))
    if not shared:
        raise KatevalError("the auto, on and off runs share no problem (same tasks, other problem ids)")
    problems = [_problem(key, {mode: samples[mode][key] for mode in MODES}, threshold) for key in sorted(shared)]
    unmatched = {mode: sorted(f"{t}/{p}" for t, p in set(samples[mode]) - shared) for mode in MODES}
    return AuditInput(problems, facts, {mode: names for mode, names in unmatched.items() if names})


def _problem(key: ProblemKey, samples: dict[str, list[dict[str, Any]]], threshold: float) -> ProblemAudit:
    difficulty = next((s["difficulty"] for mode in MODES for s in samples[mode] if s["difficulty"] is not None), None)
    return audit_problem(*key, None if difficulty is None else str(difficulty), samples, threshold)
