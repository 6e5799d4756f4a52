"""`kateval merge DIR... --out DIR`: shard run directories (`--shard I/K`) joined into one run.

Shards join only when they are shards of one run: the same identity once the shard is set aside (model, sampling,
tasks, backend options), the same task data (hashes, not paths: nodes may keep the data in different places) and
the same chat template. Records are copied byte for byte; a sample found twice is kept once and reported (and
counted as conflicting when the two records differ); samples of the shards given that are not there, and shards
not given at all, are reported as missing. The merged run.json holds the unsharded identity, so `kateval run`
with the run's own arguments resumes the merged directory and generates exactly what is missing.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kateval.progress import progress_bar
from kateval.store import RUN_META, SAMPLES, RunStore, SampleKey, iter_record_lines, read_run_meta, record_key
from kateval.types import KatevalError

SAME_BACKEND_FACTS = ("profile", "chat_template_sha256")


@dataclass
class MergeReport:
    out: Path
    shards: list[str]                     # "I/K" of each input, "whole" for an unsharded run
    samples: int = 0
    expected: int = 0
    missing_shards: list[int] = field(default_factory=list)
    repeated_shards: list[int] = field(default_factory=list)
    missing: list[SampleKey] = field(default_factory=list)     # samples of the given shards that are not there
    duplicated: int = 0
    conflicting: int = 0                  # duplicates whose records differ

    @property
    def complete(self) -> bool:
        return self.samples == self.expected and not self.conflicting


def merge_runs(run_dirs: list[Path], out: Path, show_progress: bool = False) -> MergeReport:
    run_dirs = [Path(d) for d in run_dirs]
    if not run_dirs:
        raise KatevalError("kateval merge needs at least one run directory")
    out = Path(out)
    if any(out.resolve() == d.resolve() for d in run_dirs):
        raise KatevalError(f"--out {out} is one of the run directories being merged")
    if (out / RUN_META).exists() or (out / SAMPLES).exists():
        raise KatevalError(f"{out} already holds a run; merge into a new directory")
    metas = [read_run_meta(d) for d in run_dirs]
    identity = _same_configuration(run_dirs, metas)
    shards = [meta.get("shard") for meta in metas]
    report = MergeReport(out, [f"{s['index']}/{s['count']}" if s else "whole" for s in shards])
    _check_shard_split(shards, report)

    n = int(identity["sampling"]["n"])
    expected = {(task, problem_id, index) for shard in shards if shard
                for task, ids in shard["problems"].items() for problem_id in ids for index in range(n)}
    report.expected = sum(int(facts["selected"]) for facts in metas[0]["tasks"].values()) * n
    out.mkdir(parents=True, exist_ok=True)
    with progress_bar(report.expected, "records", enabled=show_progress) as bar:
        present = _copy_records(run_dirs, out / SAMPLES, report, bar.update)
    report.samples = len(present)
    report.missing = sorted(expected - present)
    RunStore(out).write_meta(_merged_meta(run_dirs, metas, identity, report))
    return report


def _same_configuration(run_dirs: list[Path], metas: list[dict[str, Any]]) -> dict[str, Any]:
    """The identity all inputs share (shard set aside); a KatevalError naming what differs otherwise."""
    views = [_configuration(run_dir, meta) for run_dir, meta in zip(run_dirs, metas)]
    for run_dir, view in zip(run_dirs[1:], views[1:]):
        differing = sorted(key for key in set(view) | set(views[0]) if view.get(key) != views[0].get(key))
        if differing:
            raise KatevalError(f"{run_dirs[0]} and {run_dir} are not shards of one run: they differ in "
                               f"{', '.join(differing)}")
    return {k: v for k, v in metas[0]["identity"].items() if k != "shard"}


def _configuration(run_dir: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """What must be equal, flat, so that a difference can be named: identity keys, each task's data, template."""
    if "identity" not in meta or "tasks" not in meta:
        raise KatevalError(f"{run_dir}: run.json has no identity or tasks (not made by `kateval run`)")
    backend = meta.get("backend") or {}
    return {**{k: v for k, v in meta["identity"].items() if k != "shard"},
            **{f"{name} data": {**facts, "source": {k: v for k, v in (facts.get("source") or {}).items()
                                                     if k != "location"}}
               for name, facts in meta["tasks"].items()},
            **{f"backend {key}": backend.get(key) for key in SAME_BACKEND_FACTS}}


def _check_shard_split(shards: list[dict[str, Any] | None], report: MergeReport) -> None:
    counts = sorted({shard["count"] for shard in shards if shard})
    if len(counts) > 1:
        raise KatevalError(f"shards of different splits ({' and '.join(f'K={k}' for k in counts)}) cannot be merged")
    if counts:
        given = [shard["index"] for shard in shards if shard]
        report.missing_shards = sorted(set(range(1, counts[0] + 1)) - set(given))
        report.repeated_shards = sorted({index for index in given if given.count(index) > 1})


def _copy_records(run_dirs: list[Path], target: Path, report: MergeReport,
                  advance: Callable[[int], None]) -> set[SampleKey]:
    """Every record once, in input order, written to a temporary file that replaces `target` when complete;
    returns the keys written."""
    seen: dict[SampleKey, bytes] = {}
    temporary = target.with_suffix(".jsonl.tmp")
    with temporary.open("wb") as handle:
        for run_dir in run_dirs:
            if not (run_dir / SAMPLES).exists():
                continue   # a shard stopped before its first sample (run.json was read): all of it is missing
            for line, record in iter_record_lines(run_dir):
                key = record_key(record)
                digest = hashlib.blake2b(line, digest_size=16).digest()
                if key in seen:
                    report.duplicated += 1
                    report.conflicting += seen[key] != digest
                    continue
                seen[key] = digest
                handle.write(line)
                advance(1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    return set(seen)


def _merged_meta(run_dirs: list[Path], metas: list[dict[str, Any]], identity: dict[str, Any],
                 report: MergeReport) -> dict[str, Any]:
    first = {k: v for k, v in metas[0].items() if k not in ("shard", "resumed", "generate_and_grade_s")}
    starts = [m["started"] for m in metas if m.get("started")]
    ends = [m["ended"] for m in metas if m.get("ended")]
    return {**first, "identity": identity, "samples_expected": report.expected,
            "started": min(starts, default=None), "ended": max(ends, default=None),
            "merged_from": [{"run_dir": str(run_dir), "shard": shard, "machine": meta.get("machine"),
                             "git_commit": meta.get("git_commit"), "started": meta.get("started"),
                             "ended": meta.get("ended"), "generate_and_grade_s": meta.get("generate_and_grade_s"),
                             "backend": meta.get("backend")}
                            for run_dir, shard, meta in zip(run_dirs, report.shards, metas)],
            "merge": {"samples": report.samples, "missing_shards": report.missing_shards,
                      "repeated_shards": report.repeated_shards, "missing_samples": len(report.missing),
                      "duplicated": report.duplicated, "conflicting": report.conflicting}}
