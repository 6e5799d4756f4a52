"""The sweep report (frontier.json, frontier.md, a self-contained frontier.html) of one `kateval sweep` folder, and
the overlay of several (`kateval frontier DIR...`): accuracy with its 95% CI against mean completion tokens per cell,
the Pareto frontier, where the model's own `auto` choice sits against the frontier of forced modes, and per task
the cheapest cell within one CI of the best. Reads the cells' run stores only (through summarize)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from matplotlib.ticker import FuncFormatter, NullFormatter

from kateval.report import plots
from kateval.report.frontier import Point, against_frontier, always_ahead, cheapest_within_ci, leaders, pareto_frontier
from kateval.report.render import Document, Table, interval, num, pct, to_html, to_markdown, write_figures, write_text
from kateval.report.summary import summarize
from kateval.store import SAMPLES
from kateval.sweep import read_sweep
from kateval.types import KatevalError

OVERALL = "overall"
FIGURE_DIR = "frontier_files"
MODE_MARKERS = {"auto": "*", "on": "o", "off": "s"}
LOG_SCALE_SPAN = 8   # token costs spanning more than this factor are drawn on a log axis


@dataclass
class Sweep:
    root: Path
    model: str
    cells: list[dict[str, Any]]              # sweep.json's cells that hold samples, in grid order
    summaries: dict[str, dict[str, Any]]     # cell name -> summary (kateval.report.summary)
    missing: list[str]                       # cells listed but without samples yet

    @property
    def tasks(self) -> list[str]:
        return sorted({task for summary in self.summaries.values() for task in summary["tasks"]})

    def points(self, scope: str = OVERALL) -> list[Point]:
        """One point per cell for a task, or for all tasks together."""
        out = []
        for cell in self.cells:
            summary = self.summaries[cell["name"]]
            facts = summary["overall"] if scope == OVERALL else summary["tasks"].get(scope)
            if facts is None or facts["mean_completion_tokens"] is None:
                continue
            ci = facts["accuracy_ci95"]
            out.append(Point(cell["name"], facts["mean_completion_tokens"], facts["accuracy"],
                             tuple(ci) if ci else None, cell["mode"], cell["thinking_budget"]))
        return out


def load_sweep(root: Path, show_progress: bool = False) -> Sweep:
    root = Path(root)
    manifest = read_sweep(root)
    cells, summaries, missing = [], {}, []
    for cell in manifest.get("cells", []):
        run_dir = root / cell["name"]
        if not (run_dir / SAMPLES).exists() or (run_dir / SAMPLES).stat().st_size == 0:
            missing.append(cell["name"])
            continue
        summaries[cell["name"]] = summarize(run_dir, show_progress)
        cells.append(cell)
    if not cells:
        raise KatevalError(f"{root}: no cell of the sweep holds samples yet")
    model = summaries[cells[0]["name"]]["run"]["model"]
    return Sweep(root, model, cells, summaries, missing)


# ---------------------------------------------------------------- numbers
def sweep_result(sweep: Sweep) -> dict[str, Any]:
    """Everything the report shows, as plain data (frontier.json)."""
    points = sweep.points()
    frontier = pareto_frontier(points)
    forced = pareto_frontier([p for p in points if p.mode != "auto"])
    per_task = {}
    for task in sweep.tasks:
        chosen = cheapest_within_ci(sweep.points(task))
        if chosen:
            per_task[task] = {"best": asdict(chosen[0]), "cheapest_within_ci": asdict(chosen[1])}
    return {
        "sweep": str(sweep.root), "model": sweep.model, "tasks": sweep.tasks, "missing_cells": sweep.missing,
        "points": [asdict(p) for p in points],
        "frontier": [p.name for p in frontier],
        "forced_frontier": [p.name for p in forced],
        "auto_vs_forced_frontier": [against_frontier(p, forced) for p in points if p.mode == "auto"] if forced else [],
        "per_task": per_task,
    }


# ---------------------------------------------------------------- the document
def _budget(value: int | None) -> str:
    return "none" if value is None else str(value)


def _cell_table(sweep: Sweep, frontier: set[str]) -> Table:
    rows = []
    for cell in sweep.cells:
        t = sweep.summaries[cell["name"]]["overall"]
        rows.append([cell["name"], cell["mode"], _budget(cell["thinking_budget"]), pct(t["accuracy"]),
                     interval(t["accuracy_ci95"]), num(t["mean_completion_tokens"]), num(t["mean_think_tokens"]),
                     pct(t["think_rate"]), pct(t.get("think_budget_hit_rate")), pct(t["truncation_rate"]),
                     "yes" if cell["name"] in frontier else ""])
    return Table("Cells (all tasks)", ["cell", "mode", "thinking budget", "accuracy", "95% CI", "mean tokens",
                                       "mean think tokens", "think rate", "budget hit", "truncated", "on frontier"],
                 rows, "Budget hit: share of samples whose thought the thinking budget ended (a forced end tag, "
                       "counted as think). Mean tokens: completion tokens per sample, thought included.")


def _task_table(sweep: Sweep) -> Table:
    rows = [[cell["name"], *(f"{pct(t['accuracy'])} / {num(t['mean_completion_tokens'])}"
                             if (t := sweep.summaries[cell["name"]]["tasks"].get(task)) else "-"
                             for task in sweep.tasks)] for cell in sweep.cells]
    return Table("Accuracy / mean tokens by task", ["cell", *sweep.tasks], rows)


def _auto_table(result: dict[str, Any]) -> Table | None:
    if not result["auto_vs_forced_frontier"]:
        return None
    rows = [[r["name"], pct(r["accuracy"]), num(r["tokens"]), r["frontier_at_cost"] or "none this cheap",
             "-" if r["accuracy_gain"] is None else f"{100 * r['accuracy_gain']:+.1f} pts",
             r["frontier_at_accuracy"] or "none this accurate",
             "-" if r["tokens_saved"] is None else f"{r['tokens_saved']:+,.0f}"]
            for r in result["auto_vs_forced_frontier"]]
    return Table("Auto against the frontier of forced modes",
                 ["auto cell", "accuracy", "mean tokens", "forced cell at the same cost", "accuracy gained",
                  "cheapest forced cell as accurate", "tokens saved"], rows,
                 "The frontier of forced modes is built from the on and off cells. At the same cost: the most "
                 "accurate forced frontier cell costing no more than auto. Tokens saved: what that cheapest equally "
                 "accurate forced cell spends per sample minus what auto spends (negative: auto spends more).")


def _per_task_table(result: dict[str, Any]) -> Table:
    rows = []
    for task, chosen in result["per_task"].items():
        best, cheap = chosen["best"], chosen["cheapest_within_ci"]
        rows.append([task, best["name"], pct(best["accuracy"]), interval(best["ci"]), num(best["tokens"]),
                     cheap["name"], pct(cheap["accuracy"]), num(cheap["tokens"]),
                     pct(1 - cheap["tokens"] / best["tokens"]) if best["tokens"] else "-"])
    return Table("Cheapest cell within one CI of the best, per task",
                 ["task", "best cell", "accuracy", "95% CI", "mean tokens", "cheapest within CI", "accuracy",
                  "mean tokens", "tokens saved"], rows,
                 "Within one CI: accuracy at least the lower end of the best cell's 95% interval.")


def _frontier_table(points: list[Point], frontier: list[Point]) -> Table:
    rows = [[p.name, pct(p.accuracy), interval(list(p.ci) if p.ci else None), num(p.tokens)] for p in frontier]
    dominated = len(points) - len(frontier)
    return Table("Pareto frontier (all tasks)", ["cell", "accuracy", "95% CI", "mean tokens"], rows,
                 f"Cells no other cell beats on both accuracy and tokens, cheapest first; {dominated} of "
                 f"{len(points)} cells are dominated.")


def sweep_document(sweep: Sweep, result: dict[str, Any], figures: dict[str, bytes]) -> Document:
    first = sweep.summaries[sweep.cells[0]["name"]]
    run, sampling = first["run"], first["run"]["sampling"] or {}
    budgets = [_budget(b) for b in dict.fromkeys(c["thinking_budget"] for c in sweep.cells if c["mode"] != "off")]
    lines = [f"sweep: {sweep.root}", f"model: {run['model']} ({run['checkpoint']}), backend {run['backend']}",
             f"tasks: {', '.join(sweep.tasks)}; n {sampling.get('n')}, temperature {sampling.get('temperature')}, "
             + f"max_tokens {sampling.get('max_tokens')}, seed {sampling.get('seed')} (the same per-problem seeds "
             + "in every cell)",
             f"grid: modes {', '.join(dict.fromkeys(c['mode'] for c in sweep.cells))} x thinking budgets "
             + f"{', '.join(budgets) or '-'} (off: no thought to budget); {len(sweep.cells)} cells, each a run "
             + "directory of the sweep folder, all generated in one engine queue"]
    notes = list(first["notes"])
    if sweep.missing:
        notes.append(f"cells without samples yet (run the sweep again to finish them): {', '.join(sweep.missing)}")
    points = sweep.points()
    frontier = pareto_frontier(points)
    tables = [_frontier_table(points, frontier), _auto_table(result), _per_task_table(result),
              _cell_table(sweep, {p.name for p in frontier}), _task_table(sweep) if len(sweep.tasks) > 1 else None]
    return Document(f"kateval sweep: {sweep.model}", lines, notes, [t for t in tables if t is not None], figures)


# ---------------------------------------------------------------- figures
def frontier_figure(series: dict[str, list[Point]], title: str, by_mode: bool) -> bytes | None:
    """Every point with its 95% CI and each series' frontier as a step line (the best accuracy at most that cost).
    `by_mode`: one sweep, colored by mode; else one color per series (overlaid checkpoints)."""
    if not any(series.values()):
        return None
    figure = plots.new_figure(7.2, 4.6)
    ax = figure.add_subplot()
    colors = plots.MODE_COLORS | {"auto": "#7570b3"}
    for index, (label, points) in enumerate(series.items()):
        color = f"C{index}"
        for point in points:
            low, high = point.ci or (point.accuracy, point.accuracy)
            ax.errorbar(point.tokens, point.accuracy, yerr=[[point.accuracy - low], [high - point.accuracy]],
                        fmt=MODE_MARKERS.get(point.mode or "", "o"), capsize=2, markersize=6 if by_mode else 4,
                        color=colors.get(point.mode or "", color) if by_mode else color, alpha=0.85)
            if by_mode:
                ax.annotate(point.name, (point.tokens, point.accuracy), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
        frontier = pareto_frontier(points)
        if not frontier:
            continue
        right = max(p.tokens for p in points)   # the frontier holds its best accuracy to the costliest cell
        ax.step([p.tokens for p in frontier] + [right], [p.accuracy for p in frontier] + [frontier[-1].accuracy],
                where="post",
                color="#444" if by_mode else color, linewidth=1.2, label="frontier" if by_mode else label)
    if by_mode:
        for mode, marker in MODE_MARKERS.items():
            ax.scatter([], [], marker=marker, color=colors[mode], label=mode)
    costs = [p.tokens for points in series.values() for p in points if p.tokens > 0]
    if costs and max(costs) / min(costs) > LOG_SCALE_SPAN:
        ax.set_xscale("log", base=2)   # budgets are powers of two: one tick each
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _position: f"{value:,.0f}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set(xlabel="mean completion tokens per sample", ylabel="accuracy (95% CI)", ylim=(-0.02, 1.02), title=title)
    plots.legend(ax, fontsize=8)
    return plots.png_bytes(figure)


def sweep_figures(sweep: Sweep) -> dict[str, bytes]:
    scopes = [OVERALL] + (sweep.tasks if len(sweep.tasks) > 1 else [])
    drawn = {f"frontier_{scope}": frontier_figure({sweep.model: sweep.points(scope)},
                                                  f"{sweep.model}: accuracy vs tokens ({scope if scope != OVERALL else ', '.join(sweep.tasks)})",
                                                  by_mode=True)
             for scope in scopes}
    return {name: png for name, png in drawn.items() if png is not None}


# ---------------------------------------------------------------- writing
def write_document(doc: Document, result: dict[str, Any], out_dir: Path, stem: str) -> dict[str, Path]:
    figure_paths = write_figures(out_dir, FIGURE_DIR, doc.figures)
    return {"json": write_text(out_dir / f"{stem}.json", json.dumps(result, indent=2) + "\n"),
            "markdown": write_text(out_dir / f"{stem}.md", to_markdown(doc, figure_paths)),
            "html": write_text(out_dir / f"{stem}.html", to_html(doc))}


def write_sweep_report(root: Path, out_dir: Path | None = None, show_progress: bool = False) -> dict[str, Path]:
    sweep = load_sweep(root, show_progress)
    result = sweep_result(sweep)
    return write_document(sweep_document(sweep, result, sweep_figures(sweep)), result, Path(out_dir or root),
                          "frontier")


# ---------------------------------------------------------------- several checkpoints
def _labels(sweeps: list[Sweep]) -> list[str]:
    """The model's name, with the folder's where two sweeps share a model, and a number where even that repeats."""
    models = [sweep.model for sweep in sweeps]
    labels = [model if models.count(model) == 1 else f"{model} ({sweep.root.name})"
              for model, sweep in zip(models, sweeps)]
    return [label if labels.count(label) == 1 else f"{label} #{labels[:i].count(label) + 1}"
            for i, label in enumerate(labels)]


def overlay_result(sweeps: list[Sweep]) -> dict[str, Any]:
    labels = _labels(sweeps)
    frontiers = {label: pareto_frontier(sweep.points()) for label, sweep in zip(labels, sweeps)}
    rows = leaders(frontiers)
    return {"sweeps": {label: str(sweep.root) for label, sweep in zip(labels, sweeps)},
            "tasks": {label: sweep.tasks for label, sweep in zip(labels, sweeps)},
            "frontiers": {label: [asdict(p) for p in frontier] for label, frontier in frontiers.items()},
            "by_cost": rows, "ahead_at_every_cost": always_ahead(rows)}


def _sampling_key(sweep: Sweep) -> tuple:
    sampling = sweep.summaries[sweep.cells[0]["name"]]["run"]["sampling"] or {}
    return tuple(sampling.get(k) for k in ("n", "temperature", "top_p", "max_tokens"))


def overlay_document(sweeps: list[Sweep], result: dict[str, Any], figures: dict[str, bytes]) -> Document:
    labels = list(result["sweeps"])
    lines = [f"{label}: {root} ({len(sweep.cells)} cells; tasks {', '.join(sweep.tasks)})"
             for (label, root), sweep in zip(result["sweeps"].items(), sweeps)]
    ahead = result["ahead_at_every_cost"]
    lines.append("ahead (or tied) at every cost all of them reach: " + (", ".join(ahead) if ahead else
                 "none; the frontiers cross"))
    notes = []
    if len({tuple(sweep.tasks) for sweep in sweeps}) > 1:
        notes.append("the sweeps cover different tasks, so their overall frontiers measure different things")
    if len({_sampling_key(sweep) for sweep in sweeps}) > 1:
        notes.append("the sweeps differ in n, temperature, top_p or max_tokens")
    rows = [[num(row["tokens"]), *(f"{pct(row['accuracy'][label])} ({row['cells'][label]})"
                                    if row["accuracy"][label] is not None else "-" for label in labels),
             ", ".join(row["leaders"])] for row in result["by_cost"]]
    table = Table("Frontier accuracy at each cost", ["mean tokens at most", *labels, "leads"], rows,
                  "Each checkpoint's best cell costing at most that many tokens per sample (all tasks); - where it "
                  "has none that cheap. The costs are those of the frontiers' own cells.")
    return Document("kateval frontier: " + " vs ".join(labels), lines, notes, [table], figures)


def write_overlay(roots: list[Path], out_dir: Path, show_progress: bool = False) -> dict[str, Path]:
    sweeps = [load_sweep(root, show_progress) for root in roots]
    result = overlay_result(sweeps)
    figure = frontier_figure({label: sweep.points() for label, sweep in zip(result["sweeps"], sweeps)},
                             "Accuracy vs tokens: each checkpoint's frontier", by_mode=False)
    doc = overlay_document(sweeps, result, {"frontiers": figure} if figure else {})
    return write_document(doc, result, Path(out_dir), "frontier")
