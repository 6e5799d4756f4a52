"""`kateval report`: summary.json, report.md (figures as PNG files beside it) and a self-contained report.html."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from kateval.report import plots
from kateval.report.browser import browser_section
from kateval.report.render import Document, Figure, Table, interval, num, pct, to_html, to_markdown, write_figures
from kateval.report.summary import summarize, write_summary
from kateval.store import SAMPLES

FIGURE_DIR = "report_files"
REPORT_PAGE = "report.html"
BROWSER_LIMIT = 200_000   # samples; past this the page would pass ~100 MiB (measured: ~0.5 KiB a sample)


def _rows(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    rows = list(summary["tasks"].items())
    return rows + [("overall", summary["overall"])] if len(rows) > 1 else rows


def _headline_table(summary: dict[str, Any]) -> Table:
    rows = [[name, pct(t["accuracy"]), interval(t["accuracy_ci95"]), num(t["mean_completion_tokens"]),
             pct(t["think_rate"]), f"{t['problems']} x {t['samples_per_problem']}"]
            for name, t in _rows(summary)]
    return Table("Headline", ["task", "accuracy", "95% CI", "mean tokens", "think rate", "problems x samples"], rows,
                 "accuracy: the mean over problems of each problem's share of correct samples, with its 95% CI "
                 "(bootstrap over problems); mean tokens: completion tokens per sample; think rate: share of samples "
                 "in think mode. The details follow below.")


def _accuracy_table(summary: dict[str, Any]) -> Table:
    ks = sorted({k for task in summary["tasks"].values() for k in task["pass_at_k"]}, key=int)
    rows = [[name, t["problems"], t["samples_per_problem"], pct(t["accuracy"]), interval(t["accuracy_ci95"]),
             *(pct(t["pass_at_k"].get(k)) for k in ks), pct(t.get("maj_at_n")), pct(t["think_rate"]),
             pct(t["accuracy_think_on"]), pct(t["accuracy_think_off"])]
            for name, t in _rows(summary)]
    return Table("Accuracy", ["task", "problems", "n", "accuracy (avg@n)", "95% CI", *(f"pass@{k}" for k in ks),
                              "maj@n", "think rate", "acc. think on", "acc. think off"], rows,
                 "accuracy: the mean over problems of each problem's share of correct samples (every problem weighs "
                 "the same, whatever its number of samples; pass@1 is the same number; in an adaptive run the share "
                 "is weighted by round, see the note). CI: bootstrap over problems "
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


HEADLINE_FIGURE = "accuracy_vs_tokens"


def report_document(summary: dict[str, Any], figures: dict[str, bytes], browser: tuple[str, str] = ("", "")
                    ) -> Document:
    """The headline (per task accuracy with its CI, mean tokens, think rate, and the accuracy-vs-tokens figure)
    first, then the detailed tables and the other figures; `browser`: the sample browser's html and the line
    markdown shows in its place."""
    run, fingerprint = summary["run"], summary["run"]["fingerprint"]
    lines = [f"run: {summary['run_dir']}",
             f"model: {run['model']} ({run['checkpoint']}), backend {run['backend']}, mode {run['mode']}",
             "configuration: " + ", ".join(f"{key} {'-' if value is None else value}"
                                           for key, value in fingerprint.items())]
    headline: list[Table | Figure] = [_headline_table(summary)]
    if HEADLINE_FIGURE in figures:
        headline.append(Figure(HEADLINE_FIGURE, figures[HEADLINE_FIGURE]))
    tables = [_accuracy_table(summary), _token_table(summary), _truncation_table(summary),
              _budget_table(summary), *_difficulty_tables(summary)]
    return Document(f"kateval report: {run['model']}", lines, list(summary["notes"]),
                    [t for t in tables if t is not None],
                    {name: png for name, png in figures.items() if name != HEADLINE_FIGURE},
                    headline=headline, appendix_html=browser[0], appendix_markdown=browser[1])


def write_report(run_dir: Path, out_dir: Path | None = None, show_progress: bool = False,
                 browser_limit: int | None = BROWSER_LIMIT) -> dict[str, Path]:
    """Writes into out_dir (default: the run directory) and returns the paths written. The sample browser is
    left out (with a note saying so) of a run with more than `browser_limit` samples (None: no limit)."""
    run_dir = Path(run_dir)
    out_dir = Path(out_dir or run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(run_dir, show_progress)
    figures = plots.figures(summary)
    figure_paths = write_figures(out_dir, FIGURE_DIR, figures)
    samples = summary["overall"]["samples"]
    if browser_limit is None or samples <= browser_limit:
        browser = browser_section(run_dir, REPORT_PAGE)
    else:
        note = (f"The sample browser is left out: this run has {samples:,} samples and a page holding them all would "
                f"be too large for a web browser to open (about 0.5 KiB a sample). `kateval report "
                f"--browser-limit 0` puts them all in; kateval.load_run(path, completions=True) reads them in Python.")
        browser = (f"<section id='samples'><h1>Samples</h1><p class='note'>{note}</p></section>", f"## Samples\n\n{note}")
    doc = report_document(summary, figures, browser)
    paths = {"summary": write_summary(out_dir, summary), "markdown": out_dir / "report.md",
             "html": out_dir / REPORT_PAGE}
    paths["markdown"].write_text(to_markdown(doc, figure_paths), encoding="utf-8")
    paths["html"].write_text(to_html(doc), encoding="utf-8")
    return paths


def ensure_report(run_dir: Path, show_progress: bool = False) -> Path:
    """The run's report.html, written first when it is missing or older than the run's samples."""
    run_dir = Path(run_dir)
    page = run_dir / REPORT_PAGE
    if not page.exists() or page.stat().st_mtime < (run_dir / SAMPLES).stat().st_mtime:
        write_report(run_dir, show_progress=show_progress)
    return page


def report_links(run_dirs: dict[str, Path], document_dir: Path) -> dict[str, str]:
    """For a document written in `document_dir` that links to the samples of runs (compare, audit): each run's
    report.html (written first where missing or stale) as a path relative to the document. A run whose report
    cannot be written (a read-only directory) is linked all the same, with a warning."""
    links = {}
    for key, run_dir in run_dirs.items():
        try:
            page = ensure_report(run_dir)
        except OSError as exc:
            print(f"kateval: warning: could not write {run_dir / REPORT_PAGE} ({exc}); its sample links will not "
                  "open until `kateval report` has written it", file=sys.stderr)
            page = Path(run_dir) / REPORT_PAGE
        links[key] = Path(os.path.relpath(Path(page).resolve(), Path(document_dir).resolve())).as_posix()
    return links
