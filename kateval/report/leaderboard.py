"""Many runs in one table: a row per run with per-task accuracy, think rate and mean tokens, and the configuration
fingerprint; rows whose configuration differs from the most common one are flagged."""
from __future__ import annotations

import csv
import io
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from kateval.report.render import Document, Table, num, pct, to_html, to_markdown
from kateval.report.summary import summarize
from kateval.store import RUN_META
from kateval.types import KatevalError

IDENTITY = ("run", "model", "checkpoint", "mode")
FINGERPRINT = ("max_tokens", "temperature", "top_p", "n", "window")
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


def _flag(rows: list[dict[str, Any]]) -> None:
    """Mark the keys on which a row's configuration departs from the most common one; when no configuration
    is more common than every other, every row is marked with the keys that vary."""
    prints = [tuple(str(row[key]) for key in FINGERPRINT) for row in rows]
    ranked = Counter(prints).most_common(2)
    reference = ranked[0][0] if len(ranked) == 1 or ranked[0][1] > ranked[1][1] else None
    varying = [key for i, key in enumerate(FINGERPRINT) if len({p[i] for p in prints}) > 1]
    for row, fingerprint in zip(rows, prints):
        differing = varying if reference is None else [
            key for key, mine, usual in zip(FINGERPRINT, fingerprint, reference) if mine != usual]
        row["config"] = "differs: " + ", ".join(differing) if differing else "ok"


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _sorted(rows: list[dict[str, Any]], column: str, ascending: bool | None) -> list[dict[str, Any]]:
    """Numbers highest first and text A to Z unless `ascending` says otherwise; missing values always last."""
    present = [row for row in rows if row[column] is not None]
    numeric = bool(present) and all(_numeric(row[column]) for row in present)
    descending = numeric if ascending is None else not ascending
    present.sort(key=lambda row: row[column] if numeric else str(row[column]), reverse=descending)
    return present + [row for row in rows if row[column] is None]


def leaderboard(run_dirs: list[Path], sort: str | None = None, ascending: bool | None = None,
                show_progress: bool = False) -> list[dict[str, Any]]:
    """Rows, one per run, sorted by `sort` (any column; default overall accuracy). A folder that is not a run
    directory is skipped with a warning."""
    runs = [Path(d) for d in run_dirs if (Path(d) / RUN_META).exists()]
    for skipped in sorted(set(map(Path, run_dirs)) - set(runs)):
        print(f"kateval: warning: {skipped} is not a run directory; skipped", file=sys.stderr)
    if not runs:
        raise KatevalError("no run directories given (make one with kateval run or kateval score)")
    summaries = [summarize(d, show_progress) for d in runs]
    tasks = sorted({task for s in summaries for task in s["tasks"]})
    rows = [_row(s, tasks) for s in summaries]
    _flag(rows)
    column = sort or "overall acc"
    matches = [c for c in rows[0] if c.lower() == column.lower()]
    if not matches:
        raise KatevalError(f"no column '{column}' to sort by; columns: {', '.join(rows[0])}")
    return _sorted(rows, matches[0], ascending)


def _display(column: str, value: Any) -> str:
    if column.endswith((" acc", " think")):
        return pct(value)
    if column.endswith(" tokens"):
        return num(value)
    return "-" if value is None or value == "" else str(value)


def leaderboard_document(rows: list[dict[str, Any]]) -> Document:
    columns = list(rows[0])
    flagged = sum(row["config"] != "ok" for row in rows)
    notes = [f"{flagged} run(s) use a configuration unlike the most common one (column 'config'): "
             + "their numbers are not like for like"] if flagged else []
    table = Table("Runs", columns, [[_display(c, row[c]) for c in columns] for row in rows],
                  "acc: accuracy, the mean over problems of each problem's share of correct samples; think: share "
                  "of samples in think mode; tokens: mean completion tokens; overall acc weighs every problem of "
                  "every task alike, macro acc averages the tasks.")
    return Document("kateval leaderboard", [f"{len(rows)} run(s)"], notes, [table])


def to_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


_LATEX_SPECIAL = {c: "\\" + c for c in "&%$#_{}"} | {"~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                                                       "\\": r"\textbackslash{}"}


def _latex(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text)


def to_latex(rows: list[dict[str, Any]]) -> str:
    columns = list(rows[0])
    lines = [r"\begin{tabular}{" + "l" * len(IDENTITY) + "r" * (len(columns) - len(IDENTITY)) + "}", r"\hline",
             " & ".join(_latex(c) for c in columns) + r" \\", r"\hline"]
    lines += [" & ".join(_latex(_display(c, row[c])) for c in columns) + r" \\" for row in rows]
    return "\n".join(lines + [r"\hline", r"\end{tabular}", ""])


def render(rows: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "csv":
        return to_csv(rows)
    if fmt == "latex":
        return to_latex(rows)
    doc = leaderboard_document(rows)
    return to_html(doc) if fmt == "html" else to_markdown(doc)
