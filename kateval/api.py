"""kateval from Python: runs as pandas DataFrames, evaluations, comparisons and leaderboards.

    import kateval
    run = kateval.load_run("runs/qwen3-8b")
    run.samples.groupby(["task", "mode"], observed=True)["correct"].mean()

Every function here is the library call behind a `kateval` command (run, report, compare, leaderboard), so a
notebook and the command line give the same numbers.
"""
from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from kateval.store import read_run_meta
from kateval.table import sample_frame


@dataclass
class Run:
    """One run directory. `samples`: one row per sample (see kateval.table.sample_frame for the columns);
    `config`: run.json (model, backend, every sampling parameter, task versions and data hashes...);
    `summary`: the numbers of summary.json, computed as `kateval report` computes them."""
    path: Path
    config: dict[str, Any]
    samples: pd.DataFrame = field(repr=False)

    @cached_property
    def summary(self) -> dict[str, Any]:
        from kateval.report.summary import summarize

        return summarize(self.path)

    def __repr__(self) -> str:
        tasks = ", ".join(map(str, self.samples["task"].cat.categories)) if len(self.samples) else "-"
        identity = self.config.get("identity") or {}
        model = identity.get("model") or identity.get("backend") or "-"
        return f"Run({str(self.path)!r}, model={model!r}, samples={len(self.samples)}, tasks=[{tasks}])"


def _path(run: Run | str | Path) -> Path:
    return run.path if isinstance(run, Run) else Path(run)


def load_run(path: str | Path, completions: bool = False) -> Run:
    """A run directory (from `kateval run`, `score` or `evaluate`) as a Run. The completion texts, prefixes,
    grade details, segments and stop reasons are read only with completions=True (they are most of the file's
    size). The first load leaves samples.parquet beside samples.jsonl, which later loads read instead."""
    path = Path(path)
    return Run(path=path, config=read_run_meta(path), samples=sample_frame(path, completions))


def _run_arguments(tasks: str | Iterable[str], model: str | None, n: int, options: dict[str, Any]
                   ) -> argparse.Namespace:
    """The Namespace `kateval run` would parse, from keyword arguments named like its flags (--max-tokens ->
    max_tokens). Unknown names are a TypeError, as for any Python call."""
    from kateval.commands import run

    parser = argparse.ArgumentParser(add_help=False)
    run.add_arguments(parser)
    names = tasks if isinstance(tasks, str) else ",".join(tasks)
    args = parser.parse_args(["--tasks", names])
    unknown = sorted(set(options) - set(vars(args)))
    if unknown:
        known = ", ".join(sorted(k for k in vars(args) if k != "tasks"))
        raise TypeError(f"evaluate() got unknown option(s) {', '.join(unknown)}; options: {known}")
    for key, value in {"model": model, "n": n, **options}.items():
        if key in ("stop", "backend_option") and isinstance(value, str):
            value = [value]
        setattr(args, key, list(value) if key in ("stop", "backend_option") else value)
    return args


def evaluate(model: str | None = None, tasks: str | Iterable[str] = (), n: int = 1, verbose: bool = False,
             **options: Any) -> Run:
    """Generate, grade and store exactly as `kateval run` does, then load the run. `options` are that command's
    flags with underscores: backend, out, limit, temperature, top_p, max_tokens, seed, mode, profile, data_dir,
    tensor_parallel_size, max_model_len, ... (`kateval run --help` lists them). Like `kateval run`, it resumes a
    run directory that holds the same settings, and hides vLLM/transformers/torch chatter unless verbose=True
    (a process-wide setting, see kateval.quiet)."""
    from kateval.commands import run
    from kateval.quiet import configure_library_output

    if not tasks:
        raise TypeError("evaluate() needs tasks, e.g. tasks='aime24' or tasks=['aime24', 'humaneval']")
    args = _run_arguments(tasks, model, n, options)
    configure_library_output(verbose)
    out = run.execute(args)
    return load_run(out)


def compare(a: Run | str | Path, b: Run | str | Path, force: bool = False) -> pd.DataFrame:
    """`kateval compare A B`: one row per shared task and one 'overall', B minus A, with paired bootstrap CIs and
    the exact test. attrs hold the rest: 'flipped' and 'mode_switch' (DataFrames), 'differences', 'result'."""
    from kateval.report.compare import compare_runs

    result = compare_runs(_path(a), _path(b), force=force)
    rows = []
    for task, stats in [*result["tasks"].items(), ("overall", result["overall"])]:
        row: dict[str, Any] = {"task": task}
        for key, value in stats.items():
            if key.endswith("_ci95"):
                low, high = value if value is not None else (None, None)
                row.update({f"{key}_low": low, f"{key}_high": high})
            else:
                row[key] = value
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("task")
    frame.attrs.update(flipped=pd.DataFrame(result["flipped"]), mode_switch=pd.DataFrame(result["mode_switch"]),
                       differences=result["differences"], result=result)
    return frame


def leaderboard(runs: Iterable[Run | str | Path], sort: str | None = None,
                ascending: bool | None = None) -> pd.DataFrame:
    """`kateval leaderboard`: one row per run (model, per task accuracy, think rate and mean tokens, the
    configuration fingerprint, and a 'config' flag on rows unlike the rest), sorted like the command."""
    from kateval.report.leaderboard import leaderboard as build

    return build([_path(r) for r in runs], sort=sort, ascending=ascending)
