"""Many runs in one table: a row per run with per-task accuracy, think rate and mean tokens, and the configuration
fingerprint; rows whose configuration differs from the most common one are flagged."""
from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from kateval.report.render import Document, Table, num, pct, to_html, to_markdown
from kateval.report.summary import summarize
from kateval.store import RUN_META
from kateval.types import KatevalError

IDENTITY = ("run", "model", "checkpoint", "mode")
FINGERPRINT = ("max_tokens", "temperature", "top_p", "n", "thinking_budget", "window")
TASK_METRICS = (("acc", "accuracy"), ("think", "think_rate"), ("tokens", "mean_completion_tokens"))
FORMATS = {"md": "md", "html": "html", "csv": "csv", "latex": "tex"}


def _row(summary: dict[str, Any], tasks: list[str]) -> dict[str, Any]:
    run = summary["run"]
    row: dict[str, Any] = {"run": Path(summary["run_dir"]).name, "model": run["model"],
                           "checkpoint": run["checkpoint"], "mode": run["mode"]}
    for task in tasks:
        facts = summary["tasks"].get(task, {})
        row.update({f"{task} {short}": facts.get(key) for short, key in TASK_METRICS})
    row.update({"overall acc": summary["overall"]["accuracy"], "macro acc": summary["overall"]["macro_accuracy"]})
    row.update({key: run["fingerprint"][key] for key in FINGERPRINT})
    row["notes"] = "; ".join(summary["notes"])
    return row


def _flag(frame: pd.DataFrame) -> None:
    """Mark the keys on which a row's configuration departs from the most common one; when no configuration
    is more common than every other, every row is marked with the keys that vary."""
    prints = [tuple(str(value) for value in row) for row in frame[list(FINGERPRINT)].itertuples(index=False)]
    ranked = Counter(prints).most_common(2)
    reference = ranked[0][0] if len(ranked) == 1 or ranked[0][1] > ranked[1][1] else None
    varying = [key for i, key in enumerate(FINGERPRINT) if len({p[i] for p in prints}) > 1]
    frame["config"] = [
        "differs: " + ", ".join(differing) if differing else "ok"
        for differing in ([varying if reference is None else
                           [key for key, mine, usual in zip(FINGERPRINT, fingerprint, reference) if mine != usual]
                           for fingerprint in prints])]


def _sorted(frame: pd.DataFrame, column: str, ascending: bool | None) -> pd.DataFrame:
    """Numbers highest first and text A to Z unless `ascending` says otherwise; missing values always last."""
    values = frame[column]
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    descending = numeric if ascending is None else not ascending
    return frame.sort_values(column, ascending=not descending, na_position="last", kind="stable",
                             key=None if numeric else lambda v: v.where(v.isna(), v.astype(str))
                             ).reset_index(drop=True)


def leaderboard(run_dirs: list[Path], sort: str | None = None, ascending: bool | None = None,
                show_progress: bool = False) -> pd.DataFrame:
    """One row per run, sorted by `sort` (any column; default overall accuracy). A folder that is not a run
    directory is skipped with a warning."""
    runs = [Path(d) for d in run_dirs if (Path(d) / RUN_META).exists()]
    for skipped in sorted(set(map(Path, run_dirs)) - set(runs)):
        print(f"kateval: warning: {skipped} is not a run directory; skipped", file=sys.stderr)
    if not runs:
        raise KatevalError("no run directories given (make one with kateval run or kateval score)")
    summaries = [summarize(d, show_progress) for d in runs]
    tasks = sorted({task for s in summaries for task in s["tasks"]})
    frame = _frame([_row(s, tasks) for s in summaries])
    _flag(frame)
    column = sort or "overall acc"
    matches = [c for c in frame.columns if c.lower() == column.lower()]
    if not matches:
        raise KatevalError(f"no column '{column}' to sort by; columns: {', '.join(frame.columns)}")
    return _sorted(frame, matches[0], ascending)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as a DataFrame in which a column of whole numbers with gaps (n, max_tokens, a thinking budget
    some runs lack) stays whole (nullable Int64), rather than turning into floats."""
    frame = pd.DataFrame(rows)
    for column in frame.columns:
        values = [row[column] for row in rows]
        known = [v for v in values if v is not None]
        if known and all(isinstance(v, int) and not isinstance(v, bool) for v in known):
            frame[column] = pd.array(values, dtype="Int64")
    return frame


def _display(column: str, value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) or value == "":
        return "-"
    if column.endswith((" acc", " think")):
        return pct(value)
    if column.endswith(" tokens"):
        return num(value)
    return str(value)


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard as it is printed: percentages, rounded token counts, '-' for missing."""
    return pd.DataFrame({column: [_display(column, v) for v in frame[column]] for column in frame.columns})


def leaderboard_document(frame: pd.DataFrame) -> Document:
    flagged = int((frame["config"] != "ok").sum())
    notes = [f"{flagged} run(s) use a configuration unlike the most common one (column 'config'): "
             + "their numbers are not like for like"] if flagged else []
    shown = display_frame(frame)
    table = Table("Runs", list(shown.columns), shown.values.tolist(),
                  "acc: accuracy, the mean over problems of each problem's share of correct samples; think: share "
                  "of samples in think mode; tokens: mean completion tokens; overall acc weighs every problem of "
                  "every task alike, macro acc averages the tasks.")
    return Document("kateval leaderboard", [f"{len(frame)} run(s)"], notes, [table])


def render(frame: pd.DataFrame, fmt: str) -> str:
    if fmt == "csv":
        return frame.to_csv(index=False, lineterminator="\n")
    if fmt == "latex":
        return display_frame(frame).to_latex(
            index=False, escape=True, column_format="l" * len(IDENTITY) + "r" * (len(frame.columns) - len(IDENTITY)))
    doc = leaderboard_document(frame)
    return to_html(doc) if fmt == "html" else to_markdown(doc)
