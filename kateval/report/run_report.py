"""`kateval report`: summary.json, report.md (figures as PNG files beside it) and a self-contained report.html."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from kateval.report import plots
from kateval.report.render import Document, Table, interval, num, pct, to_html, to_markdown
from kateval.report.summary import summarize, write_summary

FIGURE_DIR = "report_files"


def _rows(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    rows = list(summary["tasks"].items())
    return rows + [("overall", summary["overall"])] if len(rows) > 1 else rows


def _accuracy_table(summary: dict[str, Any]) -> Table:
    ks = sorted({k for task in summary["tasks"].values() for k in task["pass_at_k"]}, key=int)
    rows = [[name, t["problems"], t["samples_per_problem"], pct(t["accuracy"]), interval(t["accuracy_ci95"]),
             *(pct(t["pass_at_k"].get(k)) for k in ks), pct(t.get("maj_at_n")), pct(t["think_rate"]),
             pct(t["accuracy_think_on"]), pct(t["accuracy_think_off"])]
            for name, t in _rows(summary)]
    return Table("Accuracy", ["task", "problems", "n", "accuracy (avg@n)", "95% CI", *(f"pass@{k}" for k in ks),
                              "maj@n", "think rate", "acc. think on", "acc. think off"], rows,
                 "accuracy: the mean over problems of each problem's share of correct samples (every problem weighs "
                 "the same, whatever its number of samples; pass@1 is the same number). CI: bootstrap over problems "
                 "(1000 resamples, seed 0). pass@k: unbiased estimator. maj@n: majority vote over the normalized "
                 "final answers (322, 322. and 0322 are one answer), for tasks graded by final answer; a tie scores "
                 "the share of correct answers among the tied ones, samples without an answer do not vote. "
                 "acc. think on/off: share of the samples in that mode that are correct.")


def _token_table(summary: dict[str, Any]) -> Table:
    def mode_mean(t: dict[str, Any], mode: str) -> str:
        return num(t["by_mode"].get(mode, {}).get("completion_tokens", {}).get("mean"))

    rows = [[name, num(t["completion_tokens"]["mean"]), num(t["completion_tokens"]["median"]),
             num(t["completion_tokens"]["p90"]), num(t["completion_tokens"]["max"]), num(t["mean_judge_tokens"]),
             num(t["mean_think_tokens"]), num(t["mean_answer_tokens"]), mode_mean(t, "on"), mode_mean(t, "off"),
             num(t["tokens_per_correct"])]
            for name, t in _rows(summary)]
    return Table("Completion tokens", ["task", "mean", "median", "p90", "max", "judge", "think", "answer",
                                       "mean if think on", "mean if think off", "tokens per correct"], rows)


def _truncation_table(summary: dict[str, Any]) -> Table:
    rows = [[name, pct(t["truncation_rate"]), pct(t["accuracy_lost_to_truncation"]), pct(t["well_formed_rate"]),
             ", ".join(f"{status} {count}" for status, count in t["status_counts"].items())]
            for name, t in _rows(summary)]
    return Table("Truncation and status", ["task", "truncated", "accuracy lost to truncation", "well formed",
                                           "status counts"], rows,
                 "Accuracy lost to truncation: the samples that hit the length limit and were graded wrong, weighted "
                 "like accuracy (mean over problems). Truncated and well formed: shares of samples.")


def _budget_table(summary: dict[str, Any]) -> Table | None:
    budgets = sorted({int(b) for t in summary["tasks"].values() for b in t["accuracy_under_budget"]})
    if not budgets:
        return None
    rows = [[name, *(pct(t["accuracy_under_budget"].get(str(b))) for b in budgets)]
            for name, t in summary["tasks"].items()]
    return Table("Accuracy under a token budget", ["task", *map(str, budgets)], rows,
                 "Each sample longer than the budget counts as wrong (from the stored samples; nothing regenerated); "
                 "weighted like accuracy, so the last budget meets it.")


def _difficulty_tables(summary: dict[str, Any]) -> list[Table]:
    return [Table(f"{name} by difficulty", ["difficulty", "problems", "think rate", "accuracy", "mean tokens"],
                  [[level, d["problems"], pct(d["think_rate"]), pct(d["accuracy"]), num(d["mean_completion_tokens"])]
                   for level, d in t["by_difficulty"].items()])
            for name, t in summary["tasks"].items() if t["by_difficulty"]]


def report_document(summary: dict[str, Any], figures: dict[str, bytes]) -> Document:
    run, fingerprint = summary["run"], summary["run"]["fingerprint"]
    lines = [f"run: {summary['run_dir']}",
             f"model: {run['model']} ({run['checkpoint']}), backend {run['backend']}, mode {run['mode']}",
             "configuration: " + ", ".join(f"{key} {'-' if value is None else value}"
                                           for key, value in fingerprint.items())]
    tables = [_accuracy_table(summary), _token_table(summary), _truncation_table(summary),
              _budget_table(summary), *_difficulty_tables(summary)]
    return Document(f"kateval report: {run['model']}", lines, list(summary["notes"]),
                    [t for t in tables if t is not None], figures)


def write_report(run_dir: Path, out_dir: Path | None = None, show_progress: bool = False) -> dict[str, Path]:
    """Writes into out_dir (default: the run directory) and returns the paths written."""
    run_dir = Path(run_dir)
    out_dir = Path(out_dir or run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(run_dir, show_progress)
    figures = plots.figures(summary)
    (out_dir / FIGURE_DIR).mkdir(exist_ok=True)
    figure_paths = {}
    for name, png in figures.items():
        (out_dir / FIGURE_DIR / f"{name}.png").write_bytes(png)
        figure_paths[name] = f"{FIGURE_DIR}/{name}.png"
    doc = report_document(summary, figures)
    paths = {"summary": write_summary(out_dir, summary), "markdown": out_dir / "report.md",
             "html": out_dir / "report.html"}
    paths["markdown"].write_text(to_markdown(doc, figure_paths), encoding="utf-8")
    paths["html"].write_text(to_html(doc), encoding="utf-8")
    return paths
